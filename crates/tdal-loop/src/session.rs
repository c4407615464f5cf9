//! A session: the loop turned inside out, so that whoever holds the labels drives it.
//!
//! [`Session::next_batch`] runs a round up to its proposal (update the representation
//! when scheduled, embed, fit the head, record the test accuracies, pick a batch) and
//! returns the proposed pool indices; [`Session::submit`] takes the oracle's answers and
//! completes the round. The simulated oracle drives it in [`crate::run_task`]; a person
//! can drive it the same way. Every call persists what it learned before it returns:
//!
//! - `initial.json`: the answers for the initial labels and the warm-start set, if any
//!   (asked once, when the session is created);
//! - `pending.json`: the proposed batch and the round's record so far, so a restarted
//!   session proposes the *same* batch without recomputing it;
//! - `rounds.jsonl`: one line per completed round (see [`crate::record`]);
//! - `state/round-NNNN/`: checkpoints of the parts that changed in round N (the
//!   representation after an update, a stateful selector after each batch).
//!
//! Reopening a run folder never asks the oracle again for what it already answered: the
//! recorded labels are read back, and [`Oracle::confirm`] lets a simulated oracle check
//! that they agree with its hidden labels.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Array4, ArrayView4, Axis};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::metrics::accuracies;
use crate::oracle::Oracle;
use crate::parts::{Embeddings, Initialised, LabelledSet, Parts, RoundInputs, Streams};
use crate::record::{self, Acquired, RoundRecord, RunSummary, files, peak_rss_bytes};
use crate::run::{Event, Observer, Task};
use crate::stage::{Stage, StageClock};
use crate::{Error, Result};

/// A proposed batch that has not been answered yet (`pending.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The proposed pool indices, in the order they were picked.
    pub proposed: Vec<usize>,
    /// The round's record so far (its `acquired` is empty until the answers come).
    pub record: RoundRecord,
    /// The head's most probable label-map class of each proposed point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<Vec<u32>>,
    /// The selector's acquisition score of each proposed point, when it scores points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<f32>>,
}

/// Rounds of a run: one per acquisition until the budget is reached, plus the last
/// evaluation-only round.
#[must_use]
pub fn total_rounds(initial: usize, budget: usize, batch: usize) -> usize {
    budget.saturating_sub(initial).div_ceil(batch.max(1)) + 1
}

/// The labelled state and what the parts need to go on.
pub struct Session<'t> {
    cfg: RunConfig,
    dir: PathBuf,
    task: Cow<'t, Task>,
    parts: Parts,
    labelled: LabelledSet,
    target_acquired: usize,
    history: Vec<RoundRecord>,
    pending: Option<Pending>,
    total_rounds: usize,
    /// Labels at the end: the configured budget plus the warm-start set.
    budget: usize,
    /// Set once the representation is initialised and its last checkpoint loaded.
    initialised: Option<Initialised>,
    embeddings: Option<Embeddings>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("dir", &self.dir)
            .field("parts", &self.parts)
            .field("rounds", &self.history.len())
            .field("total_rounds", &self.total_rounds)
            .finish_non_exhaustive()
    }
}

impl<'t> Session<'t> {
    /// Opens the session of run folder `dir` (which must exist): reads what earlier
    /// sessions recorded, asks `oracle` for the initial labels the first time only, and
    /// has it confirm every recorded answer.
    ///
    /// # Errors
    /// [`Error::Resume`] for damaged records or answers the oracle disagrees with;
    /// [`Error::Config`] when the budget is not above the initial labels or exceeds the
    /// pool; I/O errors.
    pub fn open(
        cfg: &RunConfig,
        dir: &Path,
        task: &'t Task,
        parts: Parts,
        oracle: &mut dyn Oracle,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        Self::open_cow(cfg, dir, Cow::Borrowed(task), parts, oracle, observer)
    }

    /// [`Session::open`] for a session that owns its task (one that outlives the caller's
    /// frame, such as a labelling project's).
    ///
    /// # Errors
    /// As [`Session::open`].
    pub fn open_owned(
        cfg: &RunConfig,
        dir: &Path,
        task: Task,
        parts: Parts,
        oracle: &mut dyn Oracle,
        observer: &mut dyn Observer,
    ) -> Result<Session<'static>> {
        Session::open_cow(cfg, dir, Cow::Owned(task), parts, oracle, observer)
    }

    fn open_cow(
        cfg: &RunConfig,
        dir: &Path,
        task: Cow<'t, Task>,
        parts: Parts,
        oracle: &mut dyn Oracle,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        check_budget(cfg, &task)?;
        let n_pool = task.pool.len_of(Axis(0));
        // A warm-start set is labelled with the initial labels but outside the budget.
        let before: Vec<usize> = task
            .initial
            .iter()
            .chain(&task.warm_start)
            .copied()
            .collect();
        let (budget, total) = budget_and_rounds(cfg, &task);
        let mut history = record::read_rounds(dir)?;
        history.truncate(total);
        record::rewrite_rounds(dir, &history)?;
        let disagree =
            |what: String| resume(dir, &format!("{what} disagree with the pool's labels"));

        let initial_path = dir.join(files::INITIAL);
        let initial: Vec<Acquired> = match record::read_json::<Vec<Acquired>>(&initial_path)? {
            Some(answers) => {
                answers_match(&before, &answers).map_err(|m| resume(dir, &m))?;
                oracle
                    .confirm(&answers)
                    .map_err(|_| disagree("the recorded initial labels".into()))?;
                answers
            }
            None => {
                let answers = oracle.label(&before)?;
                answers_match(&before, &answers).map_err(|m| resume(dir, &m))?;
                record::write_json(&initial_path, &answers)?;
                answers
            }
        };
        let mut session = Self {
            cfg: cfg.clone(),
            dir: dir.to_path_buf(),
            task,
            parts,
            labelled: LabelledSet {
                indices: Vec::new(),
                labels: Vec::new(),
                mask: vec![false; n_pool],
            },
            target_acquired: 0,
            history: Vec::new(),
            pending: None,
            total_rounds: total,
            budget,
            initialised: None,
            embeddings: None,
        };
        session.add(&initial, false)?;
        for r in &history {
            oracle
                .confirm(&r.acquired)
                .map_err(|_| disagree(format!("round {}'s records", r.round)))?;
            session.add(&r.acquired, true)?;
        }
        session.history = history;
        session.pending = record::read_json::<Pending>(&dir.join(files::PENDING))?
            .filter(|p| p.record.round == session.history.len());
        observer.event(Event::Start {
            run_id: &cfg.run_id(),
            total_rounds: total,
            resumed_rounds: session.history.len(),
        });
        Ok(session)
    }

    /// The rounds completed so far.
    #[must_use]
    pub fn history(&self) -> &[RoundRecord] {
        &self.history
    }

    /// Whether every round has been recorded.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.history.len() >= self.total_rounds
    }

    /// The labelled set so far.
    #[must_use]
    pub const fn labelled(&self) -> &LabelledSet {
        &self.labelled
    }

    /// The task the session works on.
    #[must_use]
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The proposed batch waiting for its answers, if any.
    #[must_use]
    pub const fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// The next batch to label: the pending one if a batch was proposed and not answered,
    /// else a new round's proposal. In the last round (budget reached) the round is
    /// evaluated and recorded and `None` is returned; so it is once the run is finished.
    ///
    /// # Errors
    /// Errors of the parts; [`Error::Selector`] when the selector's batch is not a set of
    /// distinct unlabelled pool indices of the batch size; I/O errors.
    pub fn next_batch(&mut self, observer: &mut dyn Observer) -> Result<Option<Vec<usize>>> {
        self.propose_batch(observer, None)
    }

    /// [`Session::next_batch`] for an oracle that can also answer one point at a time
    /// while the batch is being picked: `reveal(i)` must return pool point `i`'s label
    /// (a selector such as GALAXY asks for labels inside its batch; the answers for the
    /// whole batch are still handed to [`Session::submit`] afterwards).
    ///
    /// # Errors
    /// As [`Session::next_batch`]; `reveal`'s errors.
    pub fn next_batch_revealing(
        &mut self,
        observer: &mut dyn Observer,
        reveal: &dyn Fn(usize) -> Result<u32>,
    ) -> Result<Option<Vec<usize>>> {
        self.propose_batch(observer, Some(reveal))
    }

    fn propose_batch(
        &mut self,
        observer: &mut dyn Observer,
        reveal: Option<&dyn Fn(usize) -> Result<u32>>,
    ) -> Result<Option<Vec<usize>>> {
        if self.is_finished() {
            return Ok(None);
        }
        if let Some(pending) = &self.pending {
            return Ok(Some(pending.proposed.clone()));
        }
        self.initialise(observer)?;
        let round = self.history.len();
        let mut clock = StageClock::new(Some(round), observer);
        let retrained = self.retrain(round, &mut clock)?;
        self.embed(&mut clock)?;
        let mut z = self
            .embeddings
            .take()
            .ok_or_else(|| Error::Config("no embeddings".into()))?;
        if self.task.targets_from_labelled {
            z.targets = self.labelled_targets(&z.pool);
        }
        let outcome = self
            .evaluate_and_propose(round, &z, reveal, &mut clock)
            .and_then(|(accuracy, proposed)| {
                let suggestions = self.suggest(&z, &proposed)?;
                Ok((accuracy, proposed, suggestions))
            });
        self.embeddings = Some(z);
        let (accuracy, proposed, suggestions) = outcome?;
        let scores = self.parts.selector.batch_scores();
        let record = RoundRecord {
            round,
            n_labelled: self.labelled.indices.len(),
            accuracy,
            retrained,
            acquired: Vec::new(),
            target_acquired: self.target_acquired,
            seconds: clock.finish(),
            peak_rss_bytes: peak_rss_bytes(),
            kernels: tdal_encoders::kernels::in_use().to_owned(),
        };
        if proposed.is_empty() {
            self.complete(record, observer)?;
            return Ok(None);
        }
        let pending = Pending {
            proposed,
            record,
            suggestions,
            scores: scores.filter(|s| !s.is_empty()),
        };
        record::write_json(&self.dir.join(files::PENDING), &pending)?;
        let proposed = pending.proposed.clone();
        self.pending = Some(pending);
        Ok(Some(proposed))
    }

    /// Completes the pending round with the answers for its proposed batch (same indices,
    /// same order).
    ///
    /// # Errors
    /// [`Error::Oracle`] when nothing is pending or the answers are for other indices;
    /// I/O errors.
    pub fn submit(&mut self, answers: &[Acquired], observer: &mut dyn Observer) -> Result<()> {
        let started = Instant::now();
        let Some(pending) = self.pending.take() else {
            return Err(Error::Oracle("no batch is waiting for labels".into()));
        };
        if let Err(message) = answers_match(&pending.proposed, answers) {
            self.pending = Some(pending);
            return Err(Error::Oracle(message));
        }
        self.add(answers, true)?;
        let mut record = pending.record;
        record.acquired = answers.to_vec();
        record.target_acquired = self.target_acquired;
        record.seconds.total += started.elapsed().as_secs_f64();
        self.complete(record, observer)
    }

    /// Writes the trained model as it stands: the representation's state into
    /// `dir/encoder/` (`model.safetensors` and `config.json`) and, when the head can be
    /// written ([`PredictionHead::serialized`]), the head fitted on every label so far as
    /// `dir/head.bin`. Initialises (from the cache or the last checkpoint) and embeds
    /// when this process has not yet. Returns whether the head was written.
    ///
    /// # Errors
    /// Errors of the parts; I/O errors.
    ///
    /// [`PredictionHead::serialized`]: tdal_heads::PredictionHead::serialized
    pub fn export_model(&mut self, dir: &Path, observer: &mut dyn Observer) -> Result<bool> {
        self.initialise(observer)?;
        let round = self.history.len();
        let mut clock = StageClock::new(Some(round), observer);
        self.embed(&mut clock)?;
        let z = self
            .embeddings
            .as_ref()
            .ok_or_else(|| Error::Config("no embeddings".into()))?;
        clock.begin(Stage::Fit);
        fit_head(&mut self.parts, &self.cfg, &self.labelled, round, z)?;
        clock.finish();
        let encoder = fresh_dir(&dir.join("encoder"))?;
        self.parts.representation.save_state(&encoder)?;
        match self.parts.head.serialized() {
            Some(bytes) => {
                record::write_atomic(&dir.join("head.bin"), &bytes)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Writes `summary.json` once every round is recorded and returns it.
    ///
    /// # Errors
    /// [`Error::Config`] before the last round; I/O errors.
    pub fn finish(&self) -> Result<RunSummary> {
        if !self.is_finished() {
            return Err(Error::Config(format!(
                "the run has {} of its {} rounds",
                self.history.len(),
                self.total_rounds
            )));
        }
        let Initialised {
            seconds: init_seconds,
            cached,
        } = self.initialised.unwrap_or(Initialised {
            seconds: 0.0,
            cached: false,
        });
        let last = self
            .history
            .last()
            .ok_or_else(|| Error::Config("a run without rounds".into()))?;
        let summary = RunSummary {
            run_id: self.cfg.run_id(),
            final_accuracy: last.accuracy,
            n_labelled: last.n_labelled,
            target_acquired: last.target_acquired,
            rounds: self.history.len(),
            loop_seconds: self.history.iter().map(|r| r.seconds.total).sum(),
            initialise_seconds: init_seconds,
            encoder_cached: cached,
            peak_rss_bytes: self
                .history
                .iter()
                .map(|r| r.peak_rss_bytes)
                .max()
                .unwrap_or(0),
            kernels: tdal_encoders::kernels::in_use().to_owned(),
        };
        record::write_json(&self.dir.join(files::SUMMARY), &summary)?;
        Ok(summary)
    }

    fn add(&mut self, answers: &[Acquired], count_targets: bool) -> Result<()> {
        for a in answers {
            if a.index >= self.labelled.mask.len() || self.labelled.mask[a.index] {
                return Err(resume(
                    &self.dir,
                    &format!(
                        "pool index {} is outside the pool or labelled twice",
                        a.index
                    ),
                ));
            }
            self.labelled.indices.push(a.index);
            self.labelled.labels.push(a.label);
            self.labelled.mask[a.index] = true;
            if count_targets && a.label != 0 {
                self.target_acquired += 1;
            }
        }
        Ok(())
    }

    /// EPIG's target inputs of a task that takes them from the labels: the labelled
    /// target-class points, or the whole pool while there are none.
    fn labelled_targets(&self, pool: &Array2<f32>) -> Array2<f32> {
        let rows: Vec<usize> = self
            .labelled
            .indices
            .iter()
            .zip(&self.labelled.labels)
            .filter(|&(_, &label)| label != 0)
            .map(|(&i, _)| i)
            .collect();
        if rows.is_empty() {
            pool.clone()
        } else {
            pool.select(Axis(0), &rows)
        }
    }

    /// The head's most probable class of each proposed point.
    fn suggest(&self, z: &Embeddings, proposed: &[usize]) -> Result<Option<Vec<u32>>> {
        if proposed.is_empty() {
            return Ok(None);
        }
        let x = z.pool.select(Axis(0), proposed);
        let mean = self.parts.head.predict_mean(x.view())?;
        Ok(Some(
            mean.outer_iter()
                .map(|row| {
                    u32::try_from(crate::metrics::argmax(row.iter().copied().enumerate()))
                        .unwrap_or(0)
                })
                .collect(),
        ))
    }

    /// Appends the round's record, drops `pending.json` and reports the round.
    fn complete(&mut self, record: RoundRecord, observer: &mut dyn Observer) -> Result<()> {
        record::append_round(&self.dir, &record)?;
        let pending = self.dir.join(files::PENDING);
        if pending.exists() {
            std::fs::remove_file(&pending).map_err(|e| Error::io("cannot remove", &pending, e))?;
        }
        observer.event(Event::Round(&record));
        self.history.push(record);
        Ok(())
    }

    /// Initialises the representation once per process and restores the checkpoints of
    /// the last recorded rounds.
    fn initialise(&mut self, observer: &mut dyn Observer) -> Result<()> {
        if self.initialised.is_some() {
            return Ok(());
        }
        let mut clock = StageClock::new(None, observer);
        clock.begin(Stage::Initialise);
        let rep = &mut self.parts.representation;
        let name = rep.name();
        let info = rep.initialise(self.task.pool.view(), &mut |done, total| {
            clock.progress(name, done, total);
        })?;
        clock.finish();
        // A pending round's checkpoints were written before its proposal: the parts
        // that proposed the pending batch are the ones to go on from.
        let pending = self.pending.as_ref().map(|p| &p.record);
        let last_retrained = pending
            .filter(|r| r.retrained)
            .map(|r| r.round)
            .or_else(|| self.history.iter().rposition(|r| r.retrained));
        if let Some(last) = last_retrained {
            rep.load_state(&state_dir(&self.dir, last).join(REPRESENTATION))?;
        }
        let last_selection = pending
            .map(|r| r.round)
            .or_else(|| self.history.len().checked_sub(1));
        if self.parts.selector.is_stateful()
            && let Some(last) = last_selection
        {
            self.parts
                .selector
                .load_state(&state_dir(&self.dir, last).join(SELECTOR))?;
        }
        self.initialised = Some(info);
        Ok(())
    }

    /// Updates the representation when the schedule says so; checkpoints it if it
    /// changed.
    fn retrain(&mut self, round: usize, clock: &mut StageClock<'_>) -> Result<bool> {
        if !round.is_multiple_of(self.cfg.active.retrain_every) {
            return Ok(false);
        }
        clock.begin(Stage::Retrain);
        let images: Array4<f32> = self.task.pool.select(Axis(0), &self.labelled.indices);
        let rep = &mut self.parts.representation;
        let name = rep.name();
        let changed = rep.update(
            self.task.pool.view(),
            images.view(),
            &self.labelled.labels,
            round,
            &mut |done, total| clock.progress(name, done, total),
        )?;
        if changed {
            let state = fresh_dir(&state_dir(&self.dir, round).join(REPRESENTATION))?;
            rep.save_state(&state)?;
            self.embeddings = None;
        }
        Ok(changed)
    }

    /// Embeds pool, target inputs and test set unless the embeddings are current.
    fn embed(&mut self, clock: &mut StageClock<'_>) -> Result<()> {
        if self.embeddings.is_some() {
            return Ok(());
        }
        clock.begin(Stage::Embed);
        let rep = &mut self.parts.representation;
        let pool = rep.embed(self.task.pool.view())?;
        // An empty set (no target inputs, no test set) embeds to no rows of the same width.
        let width = pool.ncols();
        let mut embed = |images: ArrayView4<'_, f32>| -> Result<Array2<f32>> {
            if images.is_empty() {
                Ok(Array2::zeros((0, width)))
            } else {
                rep.embed(images)
            }
        };
        let targets = embed(self.task.target_inputs.view())?;
        let test = embed(self.task.test.images.view())?;
        self.embeddings = Some(Embeddings {
            pool,
            targets,
            test,
        });
        Ok(())
    }

    /// Fits the head, measures the test accuracies and, while the budget allows, proposes
    /// a batch.
    fn evaluate_and_propose(
        &mut self,
        round: usize,
        z: &Embeddings,
        reveal: Option<&dyn Fn(usize) -> Result<u32>>,
        clock: &mut StageClock<'_>,
    ) -> Result<(record::Accuracies, Vec<usize>)> {
        let accuracy = self.fit_and_evaluate(round, z, clock)?;
        let remaining = self.budget.saturating_sub(self.labelled.indices.len());
        let proposed = if remaining > 0 {
            let batch = remaining.min(self.cfg.active.batch_size);
            self.propose(round, batch, z, reveal, clock)?
        } else {
            Vec::new()
        };
        Ok((accuracy, proposed))
    }

    /// Fits the head on the labelled embeddings and measures the test accuracies.
    fn fit_and_evaluate(
        &mut self,
        round: usize,
        z: &Embeddings,
        clock: &mut StageClock<'_>,
    ) -> Result<record::Accuracies> {
        clock.begin(Stage::Fit);
        fit_head(&mut self.parts, &self.cfg, &self.labelled, round, z)?;
        clock.begin(Stage::Evaluate);
        let mean = self.parts.head.predict_mean(z.test.view())?;
        Ok(accuracies(mean.view(), &self.task.test.labels))
    }

    /// Asks the selector for a batch and checks it.
    fn propose(
        &mut self,
        round: usize,
        batch_size: usize,
        z: &Embeddings,
        reveal: Option<&dyn Fn(usize) -> Result<u32>>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        let unlabelled: Vec<usize> = (0..self.labelled.mask.len())
            .filter(|&i| !self.labelled.mask[i])
            .collect();
        let inputs = RoundInputs {
            embeddings: z,
            head: self.parts.head.as_ref(),
            labelled: &self.labelled,
            unlabelled: &unlabelled,
            batch_size,
            streams: Streams {
                seed: self.cfg.seed,
                round,
            },
            reveal,
        };
        let batch = self.parts.selector.select(&inputs, clock)?;
        let mut seen = vec![false; self.labelled.mask.len()];
        let valid = batch.len() == batch_size
            && batch.iter().all(|&i| {
                i < seen.len() && !self.labelled.mask[i] && !std::mem::replace(&mut seen[i], true)
            });
        if !valid {
            return Err(Error::Selector(format!(
                "{} returned {} indices where {batch_size} distinct unlabelled pool indices \
                 were asked for",
                self.parts.selector.name(),
                batch.len()
            )));
        }
        if self.parts.selector.is_stateful() {
            let state = fresh_dir(&state_dir(&self.dir, round).join(SELECTOR))?;
            self.parts.selector.save_state(&state)?;
        }
        Ok(batch)
    }
}

/// Fits the head on the labelled points' embeddings, from the round's `head` stream.
fn fit_head(
    parts: &mut Parts,
    cfg: &RunConfig,
    labelled: &LabelledSet,
    round: usize,
    z: &Embeddings,
) -> Result<()> {
    let x = z.pool.select(Axis(0), &labelled.indices);
    let seed = crate::seeds::stream_seed(cfg.seed, "head", round);
    Ok(parts.head.fit_seeded(x.view(), &labelled.labels, seed)?)
}

const REPRESENTATION: &str = "representation";
const SELECTOR: &str = "selector";

/// The run's checkpoint folder of `round`.
fn state_dir(dir: &Path, round: usize) -> PathBuf {
    dir.join(files::STATE).join(format!("round-{round:04}"))
}

/// An empty folder at `path` (a stale one from a killed session is cleared).
fn fresh_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| Error::io("cannot clear", path, e))?;
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io("cannot create", path, e))?;
    Ok(path.to_path_buf())
}

/// `Ok` when the answers are for exactly `indices`, in order; else what differs.
fn answers_match(indices: &[usize], answers: &[Acquired]) -> std::result::Result<(), String> {
    let answered: Vec<usize> = answers.iter().map(|a| a.index).collect();
    if answered == indices {
        Ok(())
    } else {
        Err(format!(
            "the answers label pool indices {answered:?}, but {indices:?} were asked for"
        ))
    }
}

/// The labels a run may hold at its end (the budget plus any warm-start set, which is
/// labelled outside it) and its number of rounds.
pub(crate) fn budget_and_rounds(cfg: &RunConfig, task: &Task) -> (usize, usize) {
    let budget = cfg.active.budget.saturating_add(task.warm_start.len());
    let before = task.initial.len() + task.warm_start.len();
    (budget, total_rounds(before, budget, cfg.active.batch_size))
}

/// An experiment with rounds left (of `total`) is resumed only on the matrix-product
/// kernels of its last recorded round: other kernels round differently, and the run would
/// not end as an uninterrupted one. (A labelling project is not held to this: its answers
/// come from a person, and it may move to another machine.)
pub(crate) fn same_kernels(dir: &Path, history: &[RoundRecord], total: usize) -> Result<()> {
    let Some(last) = history
        .last()
        .filter(|r| history.len() < total && !r.kernels.is_empty())
    else {
        return Ok(());
    };
    let now = tdal_encoders::kernels::in_use();
    if last.kernels == now {
        return Ok(());
    }
    let how = match last.kernels.as_str() {
        "avx2+fma" => "resume it with `--kernels portable` (or TDAL_KERNELS=portable)".to_owned(),
        "avx512f" if tdal_encoders::kernels::cpu_has_avx512() => {
            "resume it with `--kernels native` (or TDAL_KERNELS=native)".to_owned()
        }
        other => format!("resume it on a machine whose kernels are {other}"),
    };
    Err(resume(
        dir,
        &format!(
            "its rounds ran on the {} matrix-product kernels and this process uses {now}, which round differently: {how}",
            last.kernels
        ),
    ))
}

/// An [`Error::Resume`] of the run folder `dir`.
fn resume(dir: &Path, message: &str) -> Error {
    Error::Resume {
        path: dir.to_path_buf(),
        message: message.to_owned(),
    }
}

/// The budget must exceed the initial labels and fit in the pool.
///
/// # Errors
/// [`Error::Config`].
pub fn check_budget(cfg: &RunConfig, task: &Task) -> Result<()> {
    let n_pool = task.pool.len_of(Axis(0));
    let budget = cfg.active.budget;
    // Saturating: a budget near usize::MAX (from a flag) is reported, not an overflow.
    if budget <= task.initial.len() || budget.saturating_add(task.warm_start.len()) > n_pool {
        let warm = task.warm_start.len();
        let room = if warm == 0 {
            format!("the pool size {n_pool}")
        } else {
            format!(
                "the pool size {n_pool} less the {warm} warm-start labels ({})",
                n_pool.saturating_sub(warm)
            )
        };
        return Err(Error::Config(format!(
            "loop.budget must be above the {} initial labels and at most {room}, got {budget}",
            task.initial.len()
        )));
    }
    Ok(())
}
