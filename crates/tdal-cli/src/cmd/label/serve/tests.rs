//! The router and the worker against a fake project (no models): every route, the
//! requests that must be refused, and what reaches the project.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use tdal_label::{BatchYield, ClassCount, Proposal, ProposedItem, Status};
use tdal_loop::{Event, Observer, Stage};
use tower::ServiceExt;

use super::backend::{Backend, ImageSource};
use super::router::{self, Access, AppState, BODY_LIMIT};
use super::worker::{self, Shared};

const CLASSES: [&str; 3] = ["other", "five", "six"];
const POOL: usize = 12;
const PER_BATCH: usize = 3;
const HOST: &str = "127.0.0.1:8917";
const TOKEN: &str = "s3cret-token";

/// What reached the fake project.
#[derive(Default)]
struct Calls {
    proposals: AtomicUsize,
    submits: AtomicUsize,
    reads: AtomicUsize,
}

impl Calls {
    fn submits(&self) -> usize {
        self.submits.load(Ordering::SeqCst)
    }
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

struct FakeImages {
    calls: Arc<Calls>,
}

fn image_bytes(index: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\nfake image ".to_vec();
    bytes.extend(index.to_string().bytes());
    bytes
}

impl ImageSource for FakeImages {
    fn len(&self) -> usize {
        POOL
    }

    fn read(&self, index: usize) -> tdal_label::Result<(Vec<u8>, &'static str)> {
        self.calls.reads.fetch_add(1, Ordering::SeqCst);
        if index >= POOL {
            return Err(tdal_label::Error::Invalid(format!("no image {index}")));
        }
        Ok((image_bytes(index), "image/png"))
    }
}

/// A project of 12 images proposed 3 at a time (batch b: images 3b..3b+3) until
/// `batches` batches are labelled.
struct Fake {
    calls: Arc<Calls>,
    batch: usize,
    batches: usize,
    labelled: Vec<(usize, String)>,
    /// Proposals wait for a message here (to watch the progress while computing).
    gate: Option<Receiver<()>>,
    /// The first proposal fails.
    fail_first: bool,
    /// Each submission takes this long (to race two of them).
    submit_delay: Duration,
}

impl Fake {
    fn new() -> (Self, Arc<Calls>) {
        let calls = Arc::new(Calls::default());
        let fake = Self {
            calls: Arc::clone(&calls),
            batch: 0,
            batches: POOL / PER_BATCH,
            labelled: Vec::new(),
            gate: None,
            fail_first: false,
            submit_delay: Duration::ZERO,
        };
        (fake, calls)
    }

    fn items(&self) -> std::ops::Range<usize> {
        self.batch * PER_BATCH..(self.batch + 1) * PER_BATCH
    }
}

impl Backend for Fake {
    fn class_names(&self) -> Vec<String> {
        CLASSES.iter().map(|&c| c.to_owned()).collect()
    }

    fn images(&self) -> Arc<dyn ImageSource> {
        Arc::new(FakeImages {
            calls: Arc::clone(&self.calls),
        })
    }

    fn proposal(&mut self, observer: &mut dyn Observer) -> tdal_label::Result<Option<Proposal>> {
        let calls = self.calls.proposals.fetch_add(1, Ordering::SeqCst);
        if self.batch >= self.batches {
            return Ok(None);
        }
        observer.event(Event::Stage {
            round: Some(self.batch),
            stage: Stage::Retrain,
        });
        observer.event(Event::Progress {
            stage: Stage::Retrain,
            what: "fake-encoder",
            done: 2,
            total: 5,
        });
        if let Some(gate) = &self.gate {
            let _ = gate.recv_timeout(Duration::from_secs(10));
        }
        if self.fail_first && calls == 0 {
            return Err(tdal_label::Error::Invalid(
                "the fake failed on purpose".into(),
            ));
        }
        let items = self
            .items()
            .map(|index| ProposedItem {
                index,
                path: format!("img/{index:03}.png"),
                score: (self.batch > 0).then_some(0.5),
                suggestion: (self.batch > 0).then(|| "five".to_owned()),
                label: None,
            })
            .collect();
        Ok(Some(Proposal {
            batch: self.batch,
            items,
        }))
    }

    fn submit(&mut self, batch: usize, labels: &[(usize, String)]) -> tdal_label::Result<usize> {
        self.calls.submits.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.submit_delay);
        if self.batch >= self.batches {
            return Err(tdal_label::Error::Stale("the budget is spent".into()));
        }
        if batch != self.batch {
            return Err(tdal_label::Error::Stale(format!(
                "batch {batch} is not the proposed batch ({})",
                self.batch
            )));
        }
        if labels.iter().any(|(_, class)| class == "panic") {
            panic!("the fake panicked on purpose");
        }
        if labels.iter().any(|(_, class)| class == "boom") {
            return Err(tdal_label::Error::Damaged {
                path: "labels.jsonl".into(),
                message: "the fake's disk broke".into(),
            });
        }
        let mut new = Vec::new();
        for (index, class) in labels {
            if !self.items().contains(index) {
                return Err(tdal_label::Error::Invalid(format!(
                    "image {index} is not in batch {batch}"
                )));
            }
            if !CLASSES.contains(&class.as_str()) {
                return Err(tdal_label::Error::Invalid(format!(
                    "unknown class {class:?}"
                )));
            }
            if !self.labelled.iter().any(|(i, _)| i == index) {
                new.push((*index, class.clone()));
            }
        }
        let saved = new.len();
        self.labelled.extend(new);
        // Part of a batch is saved; the batch is done once every image has a label.
        if self
            .items()
            .all(|i| self.labelled.iter().any(|(j, _)| *j == i))
        {
            self.batch += 1;
        }
        Ok(saved)
    }

    fn status(&self) -> tdal_label::Result<Status> {
        let count = |class: &str| self.labelled.iter().filter(|(_, c)| c == class).count();
        Ok(Status {
            pool: POOL,
            skipped: 0,
            labelled: self.labelled.len(),
            budget: self.batches * PER_BATCH,
            counts: CLASSES
                .iter()
                .map(|&class| ClassCount {
                    class: class.to_owned(),
                    count: count(class),
                })
                .collect(),
            batches: (0..self.batch)
                .map(|batch| BatchYield {
                    batch,
                    labelled: PER_BATCH,
                    targets: 1,
                })
                .collect(),
            curve: (0..self.batch)
                .map(|b| ((b + 1) * PER_BATCH, 0.5))
                .collect(),
            finished: self.batch >= self.batches,
        })
    }
}

/// A server on the fake; the worker's first proposal is computed unless `wait` is off.
struct Server {
    app: Router,
    live: Shared,
    calls: Arc<Calls>,
}

fn serve(fake: Fake, calls: Arc<Calls>, access: Access) -> Server {
    let worker = worker::spawn(move || Ok(fake)).unwrap();
    let app = router::router(AppState {
        live: Arc::clone(&worker.live),
        commands: worker.commands,
        images: worker.images,
        classes: Arc::from(worker.classes),
        access: Arc::new(access),
    });
    Server {
        app,
        live: worker.live,
        calls,
    }
}

fn ready(fake: Fake, calls: Arc<Calls>, access: Access) -> Server {
    let server = serve(fake, calls, access);
    server.wait_for(|l| l.proposal.is_some() || l.finished || l.error.is_some());
    server
}

impl Server {
    fn wait_for(&self, done: impl Fn(&worker::Live) -> bool) {
        let start = Instant::now();
        while !done(&worker::lock(&self.live)) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the worker never got there"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body)
    }

    async fn json(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, body) = self.send(request).await;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        (status, value)
    }

    async fn state(&self) -> Value {
        let (status, state) = self.json(get("/api/state")).await;
        assert_eq!(status, StatusCode::OK);
        state
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap()
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn labels_of(batch: usize, class: &str) -> Value {
    json!({
        "batch": batch,
        "labels": (batch * PER_BATCH..(batch + 1) * PER_BATCH)
            .map(|i| json!({ "index": i, "class": class }))
            .collect::<Vec<_>>(),
    })
}

fn submission(batch: usize, class: &str) -> Request<Body> {
    post("/api/submit", labels_of(batch, class).to_string())
}

fn fake_ready() -> Server {
    let (fake, calls) = Fake::new();
    ready(fake, calls, Access::Loopback)
}

#[tokio::test]
async fn the_page_is_served_with_security_headers() {
    let server = fake_ready();
    let (status, headers, body) = server.send(get("/")).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("Submit batch"), "{text}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    // Errors carry them too.
    let (status, headers, _) = server.send(get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn the_state_has_the_proposal_the_classes_and_the_status() {
    let server = fake_ready();
    let state = server.state().await;
    assert_eq!(state["classes"], json!(CLASSES));
    assert_eq!(state["proposal"]["batch"], 0);
    let indices: Vec<u64> = state["proposal"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(state["proposal"]["items"][0]["path"], "img/000.png");
    assert_eq!(state["computing"], Value::Null);
    assert_eq!(state["error"], Value::Null);
    assert_eq!(state["finished"], false);
    assert_eq!(state["status"]["labelled"], 0);
    assert_eq!(state["status"]["budget"], 12);
}

#[tokio::test]
async fn the_state_shows_the_stage_and_steps_while_a_batch_is_computed() {
    let (mut fake, calls) = Fake::new();
    let (open_gate, gate) = mpsc::channel();
    fake.gate = Some(gate);
    let server = serve(fake, calls, Access::Loopback);
    server.wait_for(|l| l.computing.as_ref().is_some_and(|c| c.total > 0));
    let state = server.state().await;
    assert_eq!(state["proposal"], Value::Null);
    let computing = &state["computing"];
    assert_eq!(computing["stage"], "retrain");
    assert_eq!(computing["round"], 0);
    assert_eq!(computing["what"], "fake-encoder");
    assert_eq!(computing["done"], 2);
    assert_eq!(computing["total"], 5);
    assert!(computing["elapsed"].as_f64().unwrap() >= 0.0);
    assert!(
        computing["eta"].as_f64().unwrap() >= 0.0,
        "2 of 5 steps done: an ETA"
    );
    open_gate.send(()).unwrap();
    server.wait_for(|l| l.proposal.is_some());
    let state = server.state().await;
    assert_eq!(state["computing"], Value::Null);
    assert_eq!(state["proposal"]["batch"], 0);
}

#[tokio::test]
async fn images_are_served_by_manifest_index() {
    let server = fake_ready();
    for index in [0, 7, POOL - 1] {
        let (status, headers, body) = server.send(get(&format!("/api/image/{index}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "image/png");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(body.to_vec(), image_bytes(index));
    }
    assert_eq!(server.calls.reads(), 3);
}

#[tokio::test]
async fn an_image_index_that_is_not_a_whole_number_is_400() {
    let server = fake_ready();
    for bad in [
        "abc",
        "-1",
        "1.5",
        "0x10",
        "1e3",
        "%20",
        "99999999999999999999999999",
    ] {
        let (status, body) = server.json(get(&format!("/api/image/{bad}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].as_str().unwrap().contains("index"), "{body}");
    }
    assert_eq!(server.calls.reads(), 0);
}

#[tokio::test]
async fn an_image_index_outside_the_pool_is_404() {
    let server = fake_ready();
    for index in [POOL, POOL + 1, usize::MAX] {
        let (status, body) = server.json(get(&format!("/api/image/{index}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{index}");
        assert!(
            body["error"].as_str().unwrap().contains("no image"),
            "{body}"
        );
    }
    assert_eq!(server.calls.reads(), 0);
}

#[tokio::test]
async fn paths_in_image_requests_never_reach_the_images() {
    let server = fake_ready();
    for attempt in [
        "/api/image/..%2F..%2Fetc%2Fpasswd",
        "/api/image/%2Fetc%2Fpasswd",
        "/api/image/..",
        "/api/image/%2e%2e",
        "/api/image/1%2F..%2F2",
        "/api/image/0%00",
        "/api/image/C:%5Cwindows",
    ] {
        let (status, _, _) = server.send(get(attempt)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{attempt}");
    }
    for attempt in [
        "/api/image/../../etc/passwd",
        "/api/image/1/2",
        "/api/image/",
    ] {
        let (status, _, _) = server.send(get(attempt)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{attempt}");
    }
    assert_eq!(server.calls.reads(), 0);
}

#[tokio::test]
async fn a_submission_is_saved_and_the_next_batch_proposed() {
    let server = fake_ready();
    let (status, body) = server.json(submission(0, "five")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "saved": 3 }));
    server.wait_for(|l| l.proposal.as_ref().is_some_and(|p| p.batch == 1));
    let state = server.state().await;
    assert_eq!(state["proposal"]["batch"], 1);
    assert_eq!(state["proposal"]["items"][0]["suggestion"], "five");
    assert_eq!(state["status"]["labelled"], 3);
    assert_eq!(
        state["status"]["counts"][1],
        json!({ "class": "five", "count": 3 })
    );
    assert_eq!(state["status"]["curve"], json!([[3, 0.5]]));
    assert_eq!(server.calls.submits(), 1);
    assert_eq!(server.calls.proposals.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn malformed_submissions_are_400_and_never_reach_the_project() {
    let server = fake_ready();
    let bad = [
        "".to_owned(),
        "{".to_owned(),
        "null".to_owned(),
        "[]".to_owned(),
        r#"{"batch": 0}"#.to_owned(),
        r#"{"labels": []}"#.to_owned(),
        r#"{"batch": -1, "labels": []}"#.to_owned(),
        r#"{"batch": "0", "labels": []}"#.to_owned(),
        r#"{"batch": 0, "labels": [{"index": 0}]}"#.to_owned(),
        r#"{"batch": 0, "labels": [{"index": "0", "class": "five"}]}"#.to_owned(),
        r#"{"batch": 0, "labels": [{"index": 0, "class": 5}]}"#.to_owned(),
        // unknown fields, at the top and in a label
        r#"{"batch": 0, "labels": [], "extra": 1}"#.to_owned(),
        r#"{"batch": 0, "labels": [{"index": 0, "class": "five", "path": "../x"}]}"#.to_owned(),
        // an image twice
        r#"{"batch": 0, "labels": [{"index": 0, "class": "five"}, {"index": 0, "class": "six"}]}"#
            .to_owned(),
        format!("{} trailing", labels_of(0, "five")),
    ];
    for body in bad {
        let (status, answer) = server.json(post("/api/submit", body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(server.calls.submits(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let server = fake_ready();
    let padding = " ".repeat(BODY_LIMIT + 1);
    let body = format!("{{\"batch\": 0, \"labels\": []{padding}}}");
    let (status, _, _) = server.send(post("/api/submit", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Also when the client sends no Content-Length (a streamed body).
    let chunks = (0..(2 * BODY_LIMIT).div_ceil(64 * 1024))
        .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 64 * 1024])));
    let request = Request::post("/api/submit")
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (status, _, _) = server.send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.calls.submits(), 0);
}

#[tokio::test]
async fn a_post_that_is_not_json_is_415() {
    let server = fake_ready();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = Request::post("/api/submit").header(header::HOST, HOST);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(Body::from(labels_of(0, "five").to_string()))
            .unwrap();
        let (status, _, _) = server.send(request).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    assert_eq!(server.calls.submits(), 0);
}

#[tokio::test]
async fn a_stale_batch_is_409() {
    let server = fake_ready();
    // Not the proposed batch: the project says so.
    let (status, body) = server.json(submission(5, "five")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not the proposed"),
        "{body}"
    );
    assert_eq!(server.calls.submits(), 1);
    // A batch already saved by this server: answered at once, without the project.
    let (status, _) = server.json(submission(0, "five")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.json(submission(0, "six")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already submitted"),
        "{body}"
    );
    assert_eq!(server.calls.submits(), 2);
}

#[tokio::test]
async fn two_tabs_submitting_one_batch_one_wins_the_other_is_told() {
    let (mut fake, calls) = Fake::new();
    fake.submit_delay = Duration::from_millis(150);
    let server = ready(fake, calls, Access::Loopback);
    let (a, b) = tokio::join!(
        server.json(submission(0, "five")),
        server.json(submission(0, "six"))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    server.wait_for(|l| l.proposal.as_ref().is_some_and(|p| p.batch == 1));
    assert_eq!(
        worker::lock(&server.live).status.as_ref().unwrap().labelled,
        3
    );
}

#[tokio::test]
async fn labels_that_do_not_fit_the_batch_are_400() {
    let server = fake_ready();
    let not_in_batch = json!({ "batch": 0, "labels": [
        { "index": 0, "class": "five" }, { "index": 1, "class": "five" }, { "index": 9, "class": "five" }
    ]});
    let (status, body) = server
        .json(post("/api/submit", not_in_batch.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not in batch"),
        "{body}"
    );
    let (status, body) = server.json(submission(0, "seven")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unknown class"),
        "{body}"
    );
    // Nothing was saved: the batch is still proposed and accepts good labels.
    let (status, _) = server.json(submission(0, "other")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn part_of_a_batch_is_saved_and_the_batch_stays_proposed_until_complete() {
    let server = fake_ready();
    let part = json!({ "batch": 0, "labels": [{ "index": 1, "class": "six" }] });
    let (status, body) = server.json(post("/api/submit", part.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], 1);
    let state = server.state().await;
    assert_eq!(state["proposal"]["batch"], 0, "still proposed");
    assert_eq!(state["proposal"]["items"][1]["label"], "six", "{state}");
    assert_eq!(state["proposal"]["items"][0]["label"], Value::Null);
    assert_eq!(state["computing"], Value::Null);
    assert_eq!(state["status"]["labelled"], 1);
    // The rest completes it (the label already saved is not new).
    let (status, body) = server.json(submission(0, "six")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], 2);
    server.wait_for(|l| l.proposal.as_ref().is_some_and(|p| p.batch == 1));
    assert_eq!(server.calls.proposals.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn other_project_errors_are_500_with_the_message() {
    let server = fake_ready();
    let (status, body) = server.json(submission(0, "boom")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error"].as_str().unwrap().contains("disk broke"),
        "{body}"
    );
}

#[tokio::test]
async fn a_panic_of_the_project_is_shown_not_propagated() {
    let server = fake_ready();
    let (status, body) = server.json(submission(0, "panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let state = server.state().await;
    assert_eq!(state["stopped"], true);
    assert!(
        state["error"]
            .as_str()
            .unwrap()
            .contains("panicked on purpose"),
        "{state}"
    );
    let (status, _) = server.json(submission(0, "five")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // Images are read without the worker.
    let (status, _, _) = server.send(get("/api/image/0")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn when_the_budget_is_spent_the_state_says_finished() {
    let (mut fake, calls) = Fake::new();
    fake.batches = 1;
    let server = ready(fake, calls, Access::Loopback);
    let (status, _) = server.json(submission(0, "six")).await;
    assert_eq!(status, StatusCode::OK);
    server.wait_for(|l| l.finished);
    let state = server.state().await;
    assert_eq!(state["finished"], true);
    assert_eq!(state["proposal"], Value::Null);
    assert_eq!(state["computing"], Value::Null);
    assert_eq!(state["status"]["finished"], true);
    // Nothing is proposed any more.
    let (status, _) = server.json(submission(1, "six")).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_failed_proposal_is_shown_and_retried_on_request() {
    let (mut fake, calls) = Fake::new();
    fake.fail_first = true;
    let server = ready(fake, calls, Access::Loopback);
    let state = server.state().await;
    assert!(
        state["error"]
            .as_str()
            .unwrap()
            .contains("failed on purpose"),
        "{state}"
    );
    assert_eq!(state["proposal"], Value::Null);
    let (status, _) = server.json(post("/api/retry", "{}")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.wait_for(|l| l.proposal.is_some());
    assert_eq!(server.state().await["error"], Value::Null);
    // A retry while a batch is shown changes nothing.
    let (status, _) = server.json(post("/api/retry", "{}")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.calls.proposals.load(Ordering::SeqCst), 2);
}

/// Every route, with a request that would succeed given the token.
fn every_route() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GET", "/"),
        ("GET", "/api/state"),
        ("GET", "/api/image/0"),
        ("POST", "/api/submit"),
        ("POST", "/api/retry"),
        ("GET", "/nope"),
    ]
}

fn request(
    method: &str,
    path: &str,
    token_query: Option<&str>,
    bearer: Option<&str>,
) -> Request<Body> {
    let uri = match token_query {
        Some(token) => format!("{path}?token={token}"),
        None => path.to_owned(),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "192.0.2.7:8917")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = if path == "/api/submit" {
        labels_of(0, "five").to_string()
    } else {
        "{}".to_owned()
    };
    builder.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn without_the_token_every_route_is_401_and_nothing_reaches_the_project() {
    let (fake, calls) = Fake::new();
    let server = ready(fake, calls, Access::Token(TOKEN.into()));
    let wrong = [
        (None, None),
        (Some("wrong-token!"), None),
        (Some("s3cret-toke"), None),
        (Some("s3cret-token2"), None),
        (Some(""), None),
        (None, Some("wrong-token!")),
        (None, Some("")),
    ];
    for (method, path) in every_route() {
        for (query, bearer) in wrong {
            let (status, headers, _) = server.send(request(method, path, query, bearer)).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {query:?} {bearer:?}"
            );
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
    }
    // Basic auth or a token in another parameter is no token either.
    let basic = Request::get("/api/state")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(server.send(basic).await.0, StatusCode::UNAUTHORIZED);
    let other = get(&format!("/api/state?tok={TOKEN}"));
    assert_eq!(server.send(other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(server.calls.submits(), 0);
    assert_eq!(server.calls.reads(), 0);
    assert_eq!(
        server.calls.proposals.load(Ordering::SeqCst),
        1,
        "only the worker's own"
    );
}

#[tokio::test]
async fn with_the_token_in_the_query_or_a_bearer_header_every_route_answers() {
    let (fake, calls) = Fake::new();
    let server = ready(fake, calls, Access::Token(TOKEN.into()));
    let expected = [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::ACCEPTED,
        StatusCode::NOT_FOUND,
    ];
    for ((method, path), expected) in every_route().into_iter().zip(expected) {
        let (status, _, body) = server.send(request(method, path, Some(TOKEN), None)).await;
        assert_eq!(
            status,
            expected,
            "{method} {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    server.wait_for(|l| l.proposal.as_ref().is_some_and(|p| p.batch == 1));
    for (method, path) in every_route() {
        let (status, _, _) = server.send(request(method, path, None, Some(TOKEN))).await;
        let expected = match path {
            "/api/submit" => StatusCode::CONFLICT, // batch 0 is saved already
            "/api/retry" => StatusCode::ACCEPTED,
            "/nope" => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected, "{method} {path}");
    }
    assert_eq!(server.calls.submits(), 1);
}

#[tokio::test]
async fn a_loopback_server_answers_only_loopback_host_names() {
    let server = fake_ready();
    for host in [
        "localhost:8917",
        "127.0.0.1:8917",
        "127.0.0.1",
        "[::1]:8917",
        "LOCALHOST",
    ] {
        let request = Request::get("/api/state")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(server.send(request).await.0, StatusCode::OK, "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:8917",
        "127.0.0.1.evil.example",
        "192.0.2.7:8917",
        "",
    ] {
        let request = Request::get("/api/image/0")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            server.send(request).await.0,
            StatusCode::FORBIDDEN,
            "{host}"
        );
    }
    let no_host = Request::get("/api/state").body(Body::empty()).unwrap();
    assert_eq!(server.send(no_host).await.0, StatusCode::FORBIDDEN);
    assert_eq!(server.calls.reads(), 0);
}

#[test]
fn listening_beyond_loopback_needs_a_good_token() {
    use std::net::SocketAddr;
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert!(matches!(
        super::access(addr("127.0.0.1:0"), None),
        Ok(Access::Loopback)
    ));
    assert!(matches!(
        super::access(addr("[::1]:8917"), None),
        Ok(Access::Loopback)
    ));
    for open in ["0.0.0.0:8917", "[::]:8917", "192.0.2.7:80"] {
        let err = super::access(addr(open), None).unwrap_err().to_string();
        assert!(err.contains("--token"), "{err}");
    }
    for bad in ["short", "has space in it", "ümlaut-token", "a&b=c;d/e?f"] {
        let err = super::access(addr("0.0.0.0:8917"), Some(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--token must"), "{err}");
    }
    assert!(matches!(
        super::access(addr("0.0.0.0:8917"), Some("abcd-1234_EF.~")),
        Ok(Access::Token(t)) if t == "abcd-1234_EF.~"
    ));
}

#[test]
fn an_open_error_is_returned_before_anything_is_served() {
    let err = worker::spawn(|| -> tdal_label::Result<Fake> {
        Err(tdal_label::Error::Locked("/tmp/p".into()))
    })
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("open in another tdal process"),
        "{err}"
    );
}

#[test]
fn the_eta_extrapolates_the_stages_pace() {
    let mut computing = super::worker::Computing {
        done: 2,
        total: 5,
        ..super::worker::Computing::default_for_test()
    };
    computing.stage_started = std::time::Instant::now()
        .checked_sub(std::time::Duration::from_secs(4))
        .unwrap();
    // 2 s a step, 3 steps left.
    let eta = computing.eta_seconds().unwrap();
    assert!((eta - 6.0).abs() < 0.5, "{eta}");
    computing.done = 0;
    assert_eq!(
        computing.eta_seconds(),
        None,
        "no pace before the first step"
    );
}
