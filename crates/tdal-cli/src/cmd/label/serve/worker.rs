//! The worker thread: it owns the project (opened inside it, since the project's models
//! are not `Send`), runs the commands the request handlers send over a channel, and
//! publishes what the page shows in a shared [`Live`] state.
//!
//! The worker computes the first proposal as soon as the project is open and the next one
//! right after each submission that completes the batch (part of a batch may be saved:
//! the batch stays proposed with those labels shown). A submission is answered only once the
//! project's `submit` returned, i.e. once its labels are fsync'ed in the label log.
//! Submissions of a batch already submitted (a second tab) are answered at once, without
//! the project, so they never wait for the next proposal's retraining.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use anyhow::{Context, Result};
use tdal_label::{Proposal, Status};
use tdal_loop::{Event, Observer, Stage};
use tokio::sync::oneshot;

use super::backend::{Backend, ImageSource};

/// What a request handler asks of the worker.
#[derive(Debug)]
pub enum Command {
    /// Save the labels of batch `batch`; the answer goes to `reply`.
    Submit {
        /// The batch the labels belong to.
        batch: usize,
        /// (manifest index, class name).
        labels: Vec<(usize, String)>,
        /// Number of labels saved, or the project's error.
        reply: oneshot::Sender<tdal_label::Result<usize>>,
    },
    /// Compute the proposal again after it failed (nothing happens while one is shown,
    /// being computed, or the budget is spent).
    Retry,
}

/// The state the page polls.
#[derive(Debug, Default)]
pub struct Live {
    /// The batch waiting for labels.
    pub proposal: Option<Proposal>,
    /// Set while the next proposal is being computed.
    pub computing: Option<Computing>,
    /// Where the project stands (`None` until first read).
    pub status: Option<Status>,
    /// The budget is spent: no more proposals.
    pub finished: bool,
    /// The last error of the worker (computing a proposal, reading the status).
    pub error: Option<String>,
    /// The last batch submitted by this server: later submissions of it (or of an older
    /// one) are stale at once.
    pub last_submitted: Option<usize>,
    /// The worker thread is gone (it panicked): nothing will change any more.
    pub stopped: bool,
}

/// Progress of the proposal being computed, from the loop's events.
#[derive(Debug, Clone)]
pub struct Computing {
    /// When the computation started.
    pub started: Instant,
    /// The loop's round (`None` before round 0 or before the first stage).
    pub round: Option<usize>,
    /// The current stage (`None` before the first).
    pub stage: Option<Stage>,
    /// The model being trained in this stage, when it reports steps.
    pub what: Option<String>,
    /// Steps done of `total` in this stage (0 of 0: no step counts).
    pub done: usize,
    /// Steps in this stage.
    pub total: usize,
    /// When the current stage (or the current model's training in it) started.
    pub stage_started: Instant,
}

impl Computing {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            round: None,
            stage: None,
            what: None,
            done: 0,
            total: 0,
            stage_started: Instant::now(),
        }
    }

    /// A fresh progress record, for tests.
    #[cfg(test)]
    pub fn default_for_test() -> Self {
        Self::new()
    }

    /// Seconds left in this stage at its pace so far (`None` before its first step).
    pub fn eta_seconds(&self) -> Option<f64> {
        if self.done == 0 || self.total < self.done {
            return None;
        }
        let per_step = self.stage_started.elapsed().as_secs_f64() / self.done as f64;
        #[allow(clippy::cast_precision_loss)]
        Some(per_step * (self.total - self.done) as f64)
    }
}

/// The live state, shared by the worker and the handlers.
pub type Shared = Arc<Mutex<Live>>;

/// Locks the live state; a panic elsewhere never makes a request panic.
pub fn lock(live: &Shared) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running worker: what the handlers need to talk to it.
pub struct Worker {
    /// The pool's images.
    pub images: Arc<dyn ImageSource>,
    /// Class names, "other" first.
    pub classes: Vec<String>,
    /// The live state.
    pub live: Shared,
    /// Commands to the worker.
    pub commands: Sender<Command>,
}

/// Starts the worker thread: `open` runs on it (a project is opened where it is used)
/// and its error is returned here, before anything is served.
///
/// # Errors
/// `open`'s error; the thread could not be started.
pub fn spawn<B, F>(open: F) -> Result<Worker>
where
    B: Backend + 'static,
    F: FnOnce() -> tdal_label::Result<B> + Send + 'static,
{
    let (opened_tx, opened_rx) = mpsc::sync_channel(1);
    let (commands, receiver) = mpsc::channel();
    let live: Shared = Arc::default();
    let worker_live = Arc::clone(&live);
    std::thread::Builder::new()
        .name("tdal-label-project".into())
        .spawn(move || {
            let opened = std::panic::catch_unwind(AssertUnwindSafe(open)).unwrap_or_else(|panic| {
                Err(tdal_label::Error::Invalid(format!(
                    "opening the project panicked: {}",
                    panic_message(&*panic)
                )))
            });
            let backend = match opened {
                Ok(backend) => backend,
                Err(err) => {
                    let _ = opened_tx.send(Err(err));
                    return;
                }
            };
            let _ = opened_tx.send(Ok((backend.images(), backend.class_names())));
            drive(backend, &worker_live, &receiver);
        })
        .context("cannot start the project's thread")?;
    let (images, classes) = opened_rx
        .recv()
        .context("the project's thread stopped while opening the project")??;
    Ok(Worker {
        images,
        classes,
        live,
        commands,
    })
}

/// Runs the worker until every command sender is gone; a panic of the project is caught
/// and shown on the page instead of leaving it waiting forever.
fn drive<B: Backend>(backend: B, live: &Shared, commands: &Receiver<Command>) {
    let mut state = State { backend, live };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| state.run(commands)));
    if let Err(panic) = outcome {
        mark_stopped(live, &*panic);
    }
}

/// Shows on the page that the worker stopped because of `panic`.
fn mark_stopped(live: &Shared, panic: &(dyn std::any::Any + Send)) {
    let mut live = lock(live);
    live.computing = None;
    live.stopped = true;
    live.error = Some(format!(
        "the project's worker stopped ({}); restart `tdal label serve`",
        panic_message(panic)
    ));
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// The error of a submission of a batch this server already saved.
pub fn already_submitted(batch: usize) -> tdal_label::Error {
    tdal_label::Error::Stale(format!(
        "batch {batch} was already submitted (from another tab or window?); reload to see \
         the next batch"
    ))
}

struct State<'a, B> {
    backend: B,
    live: &'a Shared,
}

impl<B: Backend> State<'_, B> {
    fn run(&mut self, commands: &Receiver<Command>) {
        self.refresh_status();
        self.propose();
        let mut pending = VecDeque::new();
        loop {
            let command = match pending.pop_front() {
                Some(command) => command,
                None => match commands.recv() {
                    Ok(command) => command,
                    Err(_) => return, // the server stopped
                },
            };
            match command {
                Command::Submit {
                    batch,
                    labels,
                    reply,
                } => {
                    if self.was_submitted(batch) {
                        let _ = reply.send(Err(already_submitted(batch)));
                        continue;
                    }
                    // A panic is caught here, while `reply` lives: the page must see the
                    // worker stopped before the submission is answered with an error.
                    let submitted = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        self.backend.submit(batch, &labels)
                    }));
                    let result = match submitted {
                        Ok(result) => result,
                        Err(panic) => {
                            mark_stopped(self.live, &*panic);
                            drop(reply);
                            return;
                        }
                    };
                    // A batch is done when every image has a label; part of a batch (a
                    // script may send one) leaves it proposed, its labels shown.
                    let complete = result.is_ok() && self.record_labels(batch, &labels);
                    if result.is_ok() {
                        let status = self.backend.status();
                        let mut live = lock(self.live);
                        if complete {
                            live.last_submitted = Some(batch);
                            live.proposal = None;
                            live.computing = Some(Computing::new());
                            live.error = None;
                        }
                        match status {
                            Ok(status) => live.status = Some(status),
                            Err(err) => live.error = Some(format!("cannot read the status: {err}")),
                        }
                    }
                    let _ = reply.send(result);
                    if complete {
                        // Submissions of the same batch that queued behind this one (a second
                        // tab) are told now, not after the next proposal's retraining.
                        while let Ok(command) = commands.try_recv() {
                            match command {
                                Command::Submit { batch, reply, .. }
                                    if self.was_submitted(batch) =>
                                {
                                    let _ = reply.send(Err(already_submitted(batch)));
                                }
                                other => pending.push_back(other),
                            }
                        }
                        self.propose();
                    }
                }
                Command::Retry => {
                    let idle = {
                        let live = lock(self.live);
                        live.proposal.is_none() && live.computing.is_none() && !live.finished
                    };
                    if idle {
                        self.propose();
                    }
                }
            }
        }
    }

    /// Marks `labels` in the shown proposal of batch `batch`; whether every image of it
    /// now has a label (also when the proposal shown is another: then it is recomputed).
    fn record_labels(&self, batch: usize, labels: &[(usize, String)]) -> bool {
        let mut live = lock(self.live);
        let Some(proposal) = live.proposal.as_mut().filter(|p| p.batch == batch) else {
            return true;
        };
        for item in &mut proposal.items {
            if let Some((_, class)) = labels.iter().find(|(index, _)| *index == item.index) {
                item.label = Some(class.clone());
            }
        }
        proposal.items.iter().all(|item| item.label.is_some())
    }

    fn was_submitted(&self, batch: usize) -> bool {
        lock(self.live)
            .last_submitted
            .is_some_and(|last| batch <= last)
    }

    fn refresh_status(&self) {
        let status = self.backend.status();
        let mut live = lock(self.live);
        match status {
            Ok(status) => live.status = Some(status),
            Err(err) => live.error = Some(format!("cannot read the status: {err}")),
        }
    }

    /// Computes the proposal, publishing progress while it runs.
    fn propose(&mut self) {
        {
            let mut live = lock(self.live);
            live.proposal = None;
            live.error = None;
            if live.computing.is_none() {
                live.computing = Some(Computing::new());
            }
        }
        let mut observer = LiveObserver { live: self.live };
        let result = self.backend.proposal(&mut observer);
        let status = self.backend.status();
        let mut live = lock(self.live);
        live.computing = None;
        match result {
            Ok(Some(proposal)) => {
                live.proposal = Some(proposal);
                live.finished = false;
            }
            Ok(None) => live.finished = true,
            Err(err) => {
                live.error = Some(format!("computing the next batch failed: {err}"));
            }
        }
        match status {
            Ok(status) => live.status = Some(status),
            Err(err) => {
                live.error
                    .get_or_insert_with(|| format!("cannot read the status: {err}"));
            }
        }
    }
}

/// Publishes the loop's stages and training steps to the live state.
struct LiveObserver<'a> {
    live: &'a Shared,
}

impl Observer for LiveObserver<'_> {
    fn event(&mut self, event: Event<'_>) {
        let mut live = lock(self.live);
        let computing = live.computing.get_or_insert_with(Computing::new);
        match event {
            Event::Stage { round, stage } => {
                computing.round = round;
                computing.stage = Some(stage);
                computing.what = None;
                computing.done = 0;
                computing.total = 0;
                computing.stage_started = Instant::now();
            }
            Event::Progress {
                stage,
                what,
                done,
                total,
            } => {
                computing.stage.get_or_insert(stage);
                if computing.what.as_deref() != Some(what) {
                    computing.what = Some(what.to_owned());
                    computing.stage_started = Instant::now();
                }
                computing.done = done;
                computing.total = total;
            }
            Event::Start { .. } | Event::Round(_) => {}
        }
    }
}
