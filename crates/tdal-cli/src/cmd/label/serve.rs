//! `tdal label serve`: the labelling page on a local web server.
//!
//! One thread owns the project ([`worker`]: the loop's models are not `Send`) and runs
//! what the request handlers ask of it; axum on tokio serves the page, the images and a
//! small JSON API ([`router`]). The page is one HTML file with inline CSS and JavaScript,
//! compiled into the binary: no build step, nothing fetched from elsewhere.
//!
//! By default the server listens on loopback only; another address needs `--token`, and
//! then every request must carry it. The URL printed on stdout carries the token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tdal_encoders::DeviceChoice;

mod backend;
mod router;
mod worker;

#[cfg(test)]
mod tests;

use router::{Access, AppState};

/// Arguments of `tdal label serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    tdal label serve --project birds\n  \
    tdal label serve --project birds --addr 0.0.0.0:8917 --token \"$(openssl rand -hex 16)\"")]
pub struct Args {
    /// The project folder (made by `tdal label init`).
    #[arg(long, value_name = "DIR")]
    pub project: PathBuf,
    /// Address to listen on (port 0: any free port, the URL printed names it). Anything
    /// but loopback needs --token.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8917")]
    pub addr: SocketAddr,
    /// Secret every request must carry (`?token=` or `Authorization: Bearer`); letters,
    /// digits and `-._~` only, at least 8 of them.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Device for the encoders: cpu or cuda:N (needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = crate::cmd::run::parse_device)]
    pub device: DeviceChoice,
}

/// Runs the server until interrupted (Ctrl-C or SIGTERM).
///
/// # Errors
/// A non-loopback address without a token, a bad token, project errors (before anything
/// is served), the address unavailable.
pub fn run(args: &Args) -> Result<()> {
    let access = access(args.addr, args.token.as_deref())?;
    let (dir, device) = (args.project.clone(), args.device);
    let worker = worker::spawn(move || open(&dir, device))
        .with_context(|| format!("cannot open the project {}", args.project.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tdal-label-http")
        .enable_all()
        .build()
        .context("cannot start the web server's runtime")?;
    runtime.block_on(serve(args.addr, access, worker))
}

/// Opens the project (on the worker thread: it is not `Send`).
fn open(dir: &Path, device: DeviceChoice) -> tdal_label::Result<tdal_label::Project> {
    tdal_label::Project::open(dir, device)
}

/// Who may connect: loopback without a token, anywhere with one.
fn access(addr: SocketAddr, token: Option<&str>) -> Result<Access> {
    match token {
        None if addr.ip().is_loopback() => Ok(Access::Loopback),
        None => bail!(
            "--addr {addr} is reachable from other machines: give --token SECRET too (every \
             request must then carry it), or listen on 127.0.0.1"
        ),
        Some(token) => {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
            if token.len() < 8 || !token.chars().all(allowed) {
                bail!(
                    "--token must be at least 8 characters of letters, digits and -._~ (it \
                     goes into the URL as it is), e.g. --token \"$(openssl rand -hex 16)\""
                );
            }
            Ok(Access::Token(token.to_owned()))
        }
    }
}

async fn serve(addr: SocketAddr, access: Access, worker: worker::Worker) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (another server on that port? try --addr 127.0.0.1:0)")
    })?;
    let local = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    let url = match &access {
        Access::Loopback => format!("http://{local}/"),
        Access::Token(token) => format!("http://{local}/?token={token}"),
    };
    let app = router::router(AppState {
        live: worker.live,
        commands: worker.commands,
        images: worker.images,
        classes: Arc::from(worker.classes),
        access: Arc::new(access),
    });
    #[allow(clippy::print_stdout)]
    {
        println!("labelling page on {url} (Ctrl-C stops)");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
        .context("the web server failed")?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!("stopped; every label acknowledged is in the project's label log");
    }
    Ok(())
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
