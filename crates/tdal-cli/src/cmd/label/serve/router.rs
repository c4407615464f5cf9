//! The HTTP routes of the labelling page.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the page (one HTML file, inline CSS and JavaScript) |
//! | `GET /api/state` | the live state: proposal, progress, status, error, class names |
//! | `GET /api/image/{index}` | an image by manifest index (never a path) |
//! | `POST /api/submit` | `{"batch": n, "labels": [{"index": i, "class": "name"}]}` |
//! | `POST /api/retry` | compute the proposal again after it failed |
//!
//! Every request passes [`guard`]: with a token it must carry it (`?token=` or
//! `Authorization: Bearer`), else 401; without one (loopback only) its `Host` must be a
//! loopback name, else 403, so a web page elsewhere cannot reach the server through DNS
//! rebinding. `POST`s must be `application/json`, which a cross-site form cannot send
//! (and a cross-site `fetch` of it needs a CORS preflight this server never grants).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::Sender;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tdal_label::{Proposal, Status};
use tokio::sync::oneshot;

use super::backend::ImageSource;
use super::worker::{self, Command, Shared};

/// The page.
const PAGE: &str = include_str!("page.html");

/// Largest accepted request body (a submission of a few thousand labels fits easily).
pub const BODY_LIMIT: usize = 256 * 1024;

/// Only this page's own scripts, styles, images and requests; no framing, no forms.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Who may use the server.
#[derive(Debug, Clone)]
pub enum Access {
    /// Loopback only: requests must name a loopback host.
    Loopback,
    /// Every request carries this token.
    Token(String),
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The worker's live state.
    pub live: Shared,
    /// Commands to the worker.
    pub commands: Sender<Command>,
    /// The pool's images.
    pub images: Arc<dyn ImageSource>,
    /// Class names, "other" first.
    pub classes: Arc<[String]>,
    /// Who may use the server.
    pub access: Arc<Access>,
}

/// The routes, guarded and with security headers on every response.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(api_state))
        .route("/api/image/{index}", get(image))
        .route("/api/submit", post(submit))
        .route("/api/retry", post(retry))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// A JSON error: `{"error": message}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Access control before any handler runs (see the module documentation).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match &*state.access {
        Access::Token(token) => {
            if !carries_token(&request, token) {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong token: open the URL `tdal label serve` printed (it ends \
                     in ?token=...)",
                );
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
        }
        Access::Loopback => {
            if !names_loopback(request.headers()) {
                return error(
                    StatusCode::FORBIDDEN,
                    "this server answers only requests addressed to localhost or 127.0.0.1 \
                     (serve with --token to reach it under another name)",
                );
            }
        }
    }
    if request.method() == Method::POST && !is_json(request.headers()) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request body as Content-Type: application/json",
        );
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn carries_token(request: &Request, token: &str) -> bool {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim(), token));
    bearer
        || Query::<TokenQuery>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.token)
            .is_some_and(|given| same_secret(&given, token))
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether the `Host` header names a loopback host (any port).
fn names_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:port
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.eq_ignore_ascii_case("localhost.")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// What `GET /api/state` answers.
#[derive(Serialize)]
struct StateView<'a> {
    /// Class names, "other" first (key 1 is the first).
    classes: &'a [String],
    proposal: Option<&'a Proposal>,
    computing: Option<ComputingView>,
    status: Option<&'a Status>,
    finished: bool,
    error: Option<&'a str>,
    stopped: bool,
}

#[derive(Serialize)]
struct ComputingView {
    /// The stage's name (`retrain`, `embed`, `score`, ...), `null` before the first.
    stage: Option<&'static str>,
    round: Option<usize>,
    what: Option<String>,
    done: usize,
    total: usize,
    elapsed: f64,
    /// Seconds left in the stage at its pace so far (`null` without step counts).
    eta: Option<f64>,
}

async fn api_state(State(state): State<AppState>) -> Response {
    let live = worker::lock(&state.live);
    let view = StateView {
        classes: &state.classes,
        proposal: live.proposal.as_ref(),
        computing: live.computing.as_ref().map(|c| ComputingView {
            stage: c.stage.map(tdal_loop::Stage::as_str),
            round: c.round,
            what: c.what.clone(),
            done: c.done,
            total: c.total,
            elapsed: c.started.elapsed().as_secs_f64(),
            eta: c.eta_seconds(),
        }),
        status: live.status.as_ref(),
        finished: live.finished,
        error: live.error.as_deref(),
        stopped: live.stopped,
    };
    axum::Json(view).into_response()
}

async fn image(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Ok(index) = raw.parse::<usize>() else {
        let shown: String = raw.chars().take(40).collect();
        return error(
            StatusCode::BAD_REQUEST,
            format!("an image is named by its index in the pool (a whole number), not {shown:?}"),
        );
    };
    let images = Arc::clone(&state.images);
    if index >= images.len() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no image {index} in a pool of {}", images.len()),
        );
    }
    match tokio::task::spawn_blocking(move || images.read(index)).await {
        Ok(Ok((bytes, media_type))) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
            bytes,
        )
            .into_response(),
        Ok(Err(err @ tdal_label::Error::Changed(_))) => {
            error(StatusCode::CONFLICT, err.to_string())
        }
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading image {index} failed: {err}"),
        ),
    }
}

/// The body of `POST /api/submit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    batch: usize,
    labels: Vec<SubmittedLabel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmittedLabel {
    index: usize,
    class: String,
}

async fn submit(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let submission: Submission = match serde_json::from_slice(&body) {
        Ok(submission) => submission,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid submission: {err}"),
            );
        }
    };
    let mut seen = std::collections::HashSet::with_capacity(submission.labels.len());
    if let Some(twice) = submission.labels.iter().find(|l| !seen.insert(l.index)) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("image {} is labelled twice in the submission", twice.index),
        );
    }
    let batch = submission.batch;
    let labels = submission
        .labels
        .into_iter()
        .map(|l| (l.index, l.class))
        .collect();
    let (reply, answer) = oneshot::channel();
    {
        // Checked and sent under the lock: a submission either sees the batch already
        // saved, or reaches the worker before it looks for stale submissions (worker.rs).
        let live = worker::lock(&state.live);
        if live.last_submitted.is_some_and(|last| batch <= last) {
            return error(
                StatusCode::CONFLICT,
                worker::already_submitted(batch).to_string(),
            );
        }
        let command = Command::Submit {
            batch,
            labels,
            reply,
        };
        if state.commands.send(command).is_err() {
            return worker_gone();
        }
    }
    match answer.await {
        Ok(Ok(saved)) => axum::Json(json!({ "saved": saved })).into_response(),
        Ok(Err(err @ tdal_label::Error::Stale(_))) => error(StatusCode::CONFLICT, err.to_string()),
        Ok(Err(err @ tdal_label::Error::Invalid(_))) => {
            error(StatusCode::BAD_REQUEST, err.to_string())
        }
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(_) => worker_gone(),
    }
}

async fn retry(State(state): State<AppState>) -> Response {
    if state.commands.send(Command::Retry).is_err() {
        return worker_gone();
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "retrying": true })),
    )
        .into_response()
}

fn worker_gone() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the project's worker stopped; restart `tdal label serve`",
    )
}
