//! The loop of SPEC §7 and its run folder.
//!
//! [`run`] builds the pool named by the configuration, hides its labels behind a
//! [`SimulatedOracle`] and calls [`run_task`], which only ever sees images: pool labels
//! reach it through the oracle, one query per acquired point.
//!
//! Round r: retrain (task-driven representations, when r % k == 0), embed pool / target
//! inputs / test set (only when the representation changed), fit the forest on the
//! labelled embeddings, record the test accuracies, score the unlabelled pool, draw a batch
//! and ask the oracle. The last round (budget reached) only fits and evaluates. Each round
//! draws its randomness from streams `(seed, purpose, r)` ([`crate::seeds`]) and each
//! update is checkpointed before the round's record is written, so `--resume` replays the
//! records, reloads the last checkpoint and continues bit for bit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Array3, Array4, ArrayView4, Axis};
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Margin, Strategy, select};
use tdal_data::{Imbalance, LabelledSplit, PoolOptions, TestRule};
use tdal_encoders::DeviceChoice;
use tdal_heads::{ForestParams, RandomForest};

use crate::cache::Cache;
use crate::config::{AcquisitionKind, RepresentationKind, RunConfig, StrategyKind};
use crate::metrics::accuracies;
use crate::oracle::{Oracle, SimulatedOracle};
use crate::record::{
    self, Accuracies, Acquired, RoundRecord, RunSummary, StageSeconds, files, peak_rss_bytes,
};
use crate::representation::{Fixed, Representation, SplitVae};
use crate::seeds;
use crate::{Error, Result};

/// Where a run writes and what it may reuse.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent folder: the run lives in `out/<run-id>/`.
    pub out: PathBuf,
    /// Encoder and embedding cache.
    pub cache_dir: PathBuf,
    /// Continue a run folder that already exists (a finished run returns its summary).
    pub resume: bool,
    /// Device for the encoders.
    pub device: DeviceChoice,
}

/// What the loop reports while it works (the CLI draws progress bars from it; the library
/// never prints).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The run starts; `resumed_rounds` rounds were replayed from the records.
    Start {
        /// The run folder's name.
        run_id: &'a str,
        /// Rounds of the whole run.
        total_rounds: usize,
        /// Rounds already completed.
        resumed_rounds: usize,
    },
    /// A stage begins.
    Stage {
        /// The round (`usize::MAX` before round 0).
        round: usize,
        /// `initialise`, `retrain`, `embed`, `fit`, `evaluate`, `predict`, `score`, `select`.
        stage: &'static str,
    },
    /// Encoder training advanced (`what`: `us-vae` or `td-split`).
    Progress {
        /// Which training.
        what: &'static str,
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
    },
    /// A round finished and was recorded.
    Round(&'a RoundRecord),
}

/// Receives [`Event`]s.
pub trait Observer {
    /// Called for every event.
    fn event(&mut self, event: Event<'_>);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&mut self, _event: Event<'_>) {}
}

/// What the loop may see of a pool: images, never the pool's labels.
#[derive(Debug, Clone)]
pub struct Task {
    /// Pool images `[N, C, H, W]`.
    pub pool: Array4<f32>,
    /// Unlabelled target-class inputs for EPIG `[M₀, C, H, W]`.
    pub target_inputs: Array4<f32>,
    /// The labelled test set (label-map labels, 0 = other).
    pub test: LabelledSplit,
    /// Pool indices labelled before round 0 (their labels come from the oracle).
    pub initial: Vec<usize>,
    /// Label-map classes (other + targets).
    pub num_classes: usize,
}

/// Runs (or resumes) the experiment a configuration describes.
///
/// # Errors
/// [`Error::RunExists`] when the run folder exists and `resume` is off; [`Error::Resume`]
/// when its records belong to another configuration; data, encoder, head and acquisition
/// errors ([`tdal_data::Error::NoDataDir`] when no data directory is given).
pub fn run(cfg: &RunConfig, opts: &RunOptions, observer: &mut dyn Observer) -> Result<RunSummary> {
    cfg.check()?;
    opts.device.open()?; // fail before any work when the device is unavailable
    let (task, mut oracle) = build_task(cfg)?;
    check_budget(cfg, &task)?;
    let dir = opts.out.join(cfg.run_id());
    let finished = prepare_dir(cfg, &dir, opts.resume)?;
    check_data(&dir, &task)?;
    if let Some(summary) = finished {
        return Ok(summary);
    }
    run_task(cfg, opts, &task, &mut oracle, observer)
}

/// Records the hash of the pool's pixels in a new run folder, or checks it in an existing
/// one: the run id leaves the data directory out, so the same configuration on other data
/// (a fixture, another copy) must not resume or reuse a run made from different images.
fn check_data(dir: &Path, task: &Task) -> Result<()> {
    let path = dir.join(files::DATA_HASH);
    let hash = crate::cache::images_hash(task.pool.view());
    match std::fs::read_to_string(&path) {
        Ok(stored) if stored.trim() == hash => Ok(()),
        Ok(_) => Err(Error::Resume {
            path: dir.to_path_buf(),
            message: "it was made from a different pool (other data directory or files); \
                      choose another --out"
                .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            record::write_atomic(&path, hash.as_bytes())
        }
        Err(e) => Err(Error::io("cannot read", &path, e)),
    }
}

/// Creates the run folder (writing `config.toml`) or checks an existing one; returns the
/// summary of a finished run.
fn prepare_dir(cfg: &RunConfig, dir: &Path, resume: bool) -> Result<Option<RunSummary>> {
    let config_path = dir.join(files::CONFIG);
    let started = config_path.exists()
        && (dir.join(files::SUMMARY).exists() || !record::read_rounds(dir)?.is_empty());
    if started {
        if !resume {
            return Err(Error::RunExists(dir.to_path_buf()));
        }
        let stored = RunConfig::from_toml_file(&config_path)?;
        if stored.identity_hash() != cfg.identity_hash() {
            return Err(Error::Resume {
                path: dir.to_path_buf(),
                message: "its config.toml differs from this run's configuration".into(),
            });
        }
        return record::read_summary(dir);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    // A folder from an attempt that failed before its first round holds nothing to keep.
    let _ = std::fs::remove_file(dir.join(files::DATA_HASH));
    record::write_atomic(&config_path, cfg.to_toml()?.as_bytes())?;
    Ok(None)
}

/// Builds the named pool and splits it into what the loop may see and the oracle.
///
/// # Errors
/// Data errors, among them [`tdal_data::Error::NoDataDir`] without a data directory.
pub fn build_task(cfg: &RunConfig) -> Result<(Task, SimulatedOracle)> {
    let data_dir = tdal_data::datadir::resolve(cfg.data.dir.as_deref())?;
    let options = PoolOptions {
        targets: cfg.data.targets.clone(),
        imbalance: cfg
            .data
            .ir
            .map(Imbalance::Ratio)
            .or(cfg.data.target_share.map(Imbalance::TargetShare)),
        max_pool: cfg.data.max_pool,
        target_inputs_per_class: cfg.data.target_inputs_per_class,
        test_rule: TestRule::BalancedOther,
        initial_per_class: cfg.data.initial_per_class,
        seed: cfg.seed,
        ..PoolOptions::default()
    };
    let mut messy = tdal_data::build_named(cfg.data.dataset.dataset(), &data_dir, &options)?;
    let num_classes = messy.num_classes();
    let oracle = SimulatedOracle::take(
        &mut messy.pool,
        messy.source_names.clone(),
        messy.source_class_names.clone(),
    );
    let task = Task {
        pool: messy.pool.images,
        target_inputs: messy.target_inputs.images,
        test: messy.test,
        initial: messy.initial_labelled,
        num_classes,
    };
    Ok((task, oracle))
}

/// Rounds of a run: one per acquisition until the budget is reached, plus the last
/// evaluation-only round.
#[must_use]
pub fn total_rounds(initial: usize, budget: usize, batch: usize) -> usize {
    budget.saturating_sub(initial).div_ceil(batch.max(1)) + 1
}

/// Labelled state of the loop.
struct Labelled {
    indices: Vec<usize>,
    labels: Vec<u32>,
    mask: Vec<bool>,
    target_acquired: usize,
}

impl Labelled {
    fn add(&mut self, answers: &[Acquired], count_targets: bool) {
        for a in answers {
            self.indices.push(a.index);
            self.labels.push(a.label);
            self.mask[a.index] = true;
            if count_targets && a.label != 0 {
                self.target_acquired += 1;
            }
        }
    }
}

/// Runs the loop on a task whose pool labels only the oracle knows. The run folder
/// `opts.out/<run-id>` must exist with its `config.toml` (as [`run`] prepares it); records
/// already in it are replayed (their labels are asked of the oracle again and must agree).
///
/// # Errors
/// As [`run`]; [`Error::Resume`] when replayed records disagree with the oracle or the
/// budget is not above the initial labels.
pub fn run_task(
    cfg: &RunConfig,
    opts: &RunOptions,
    task: &Task,
    oracle: &mut dyn Oracle,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let run_id = cfg.run_id();
    let dir = opts.out.join(&run_id);
    let n_pool = task.pool.len_of(Axis(0));
    let budget = cfg.active.budget;
    check_budget(cfg, task)?;
    let total = total_rounds(task.initial.len(), budget, cfg.active.batch_size);
    let cache = Cache::new(&opts.cache_dir);
    let channels = task.pool.len_of(Axis(1));
    let mut rep: Box<dyn Representation> = match cfg.representation {
        RepresentationKind::UsVae => Box::new(Fixed::new(
            &cfg.encoder,
            channels,
            cfg.seed,
            cache,
            opts.device,
        )),
        RepresentationKind::TdSplit => Box::new(SplitVae::new(
            &cfg.encoder,
            channels,
            task.num_classes,
            cfg.seed,
            cache,
            opts.device,
        )),
    };

    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    // Replay what earlier sessions of this run completed.
    let mut history = record::read_rounds(&dir)?;
    history.truncate(total);
    record::rewrite_rounds(&dir, &history)?;
    let mut labelled = Labelled {
        indices: Vec::new(),
        labels: Vec::new(),
        mask: vec![false; n_pool],
        target_acquired: 0,
    };
    labelled.add(&oracle.label(&task.initial)?, false);
    for r in &history {
        let indices: Vec<usize> = r.acquired.iter().map(|a| a.index).collect();
        let answers = oracle.label(&indices)?;
        if answers != r.acquired {
            return Err(Error::Resume {
                path: dir.clone(),
                message: format!(
                    "round {}'s records disagree with the pool's labels",
                    r.round
                ),
            });
        }
        labelled.add(&answers, true);
    }
    observer.event(Event::Start {
        run_id: &run_id,
        total_rounds: total,
        resumed_rounds: history.len(),
    });
    if history.len() == total {
        return finish(&dir, &run_id, &history, 0.0, false);
    }

    observer.event(Event::Stage {
        round: usize::MAX,
        stage: "initialise",
    });
    let init = rep.initialise(task.pool.view(), &mut |done, total| {
        observer.event(Event::Progress {
            what: "us-vae",
            done,
            total,
        });
    })?;
    let start_round = history.len();
    if rep.is_adaptive()
        && let Some(last) = history.iter().rposition(|r| r.retrained)
    {
        rep.load_state(&state_dir(&dir, last))?;
    }

    let mut embeddings: Option<Embeddings> = None;
    for round in start_round..total {
        let round_start = Instant::now();
        let mut secs = StageSeconds::default();
        let stage = |name: &'static str, obs: &mut dyn Observer| {
            obs.event(Event::Stage { round, stage: name });
            Instant::now()
        };

        let retrained = rep.is_adaptive() && round % cfg.active.retrain_every == 0;
        if retrained {
            let t = stage("retrain", observer);
            let images: Array4<f32> = task.pool.select(Axis(0), &labelled.indices);
            rep.update(
                task.pool.view(),
                images.view(),
                &labelled.labels,
                round,
                &mut |done, total| {
                    observer.event(Event::Progress {
                        what: "td-split",
                        done,
                        total,
                    });
                },
            )?;
            let state = state_dir(&dir, round);
            if state.exists() {
                std::fs::remove_dir_all(&state)
                    .map_err(|e| Error::io("cannot clear", &state, e))?;
            }
            rep.save_state(&state)?;
            embeddings = None;
            secs.retrain = t.elapsed().as_secs_f64();
        }
        if embeddings.is_none() {
            let t = stage("embed", observer);
            embeddings = Some(Embeddings::new(rep.as_mut(), task)?);
            secs.embed = t.elapsed().as_secs_f64();
        }
        let z = embeddings
            .as_ref()
            .ok_or_else(|| Error::Config("no embeddings".into()))?;

        let t = stage("fit", observer);
        let mut forest = RandomForest::new(ForestParams {
            n_trees: cfg.head.trees,
            posterior_samples: cfg.head.posterior_samples,
            n_classes: Some(task.num_classes),
            ..ForestParams::default()
        })?;
        let x_labelled = z.pool.select(Axis(0), &labelled.indices);
        forest.fit_seeded(
            x_labelled.view(),
            &labelled.labels,
            seeds::stream_seed(cfg.seed, "head", round),
        )?;
        secs.fit = t.elapsed().as_secs_f64();

        let t = stage("evaluate", observer);
        let accuracy: Accuracies = accuracies(
            forest.predict_mean(z.test.view())?.view(),
            &task.test.labels,
        );
        secs.evaluate = t.elapsed().as_secs_f64();

        let mut acquired = Vec::new();
        let remaining = budget - labelled.indices.len();
        if remaining > 0 {
            let batch = remaining.min(cfg.active.batch_size);
            let unlabelled: Vec<usize> = (0..n_pool).filter(|&i| !labelled.mask[i]).collect();
            let scores = if cfg.acquisition == AcquisitionKind::Random {
                let t = stage("score", observer);
                let s = tdal_acquire::random_scores(
                    unlabelled.len(),
                    seeds::stream_seed(cfg.seed, "random", round),
                );
                secs.score = t.elapsed().as_secs_f64();
                s
            } else {
                let t = stage("predict", observer);
                let x_unlabelled = z.pool.select(Axis(0), &unlabelled);
                let pool_probs =
                    forest.predict_first_trees(x_unlabelled.view(), cfg.head.posterior_samples)?;
                let target_probs = if cfg.acquisition == AcquisitionKind::Epig {
                    Some(sample_targets(cfg, &forest, &z.targets, round)?)
                } else {
                    None
                };
                secs.predict = t.elapsed().as_secs_f64();
                let t = stage("score", observer);
                let s = score(cfg.acquisition, pool_probs, target_probs)?;
                secs.score = t.elapsed().as_secs_f64();
                s
            };
            let t = stage("select", observer);
            let mut rng = seeds::rng(cfg.seed, "select", round);
            let picked = if cfg.acquisition == AcquisitionKind::Random {
                select(scores.view(), batch, Strategy::TopK, &mut rng)?
            } else {
                select(scores.view(), batch, strategy(cfg), &mut rng)?
            };
            let indices: Vec<usize> = picked.into_iter().map(|i| unlabelled[i]).collect();
            acquired = oracle.label(&indices)?;
            labelled.add(&acquired, true);
            secs.select = t.elapsed().as_secs_f64();
        }
        secs.total = round_start.elapsed().as_secs_f64();
        let record = RoundRecord {
            round,
            n_labelled: labelled.indices.len() - acquired.len(),
            accuracy,
            retrained,
            acquired,
            target_acquired: labelled.target_acquired,
            seconds: secs,
            peak_rss_bytes: peak_rss_bytes(),
        };
        record::append_round(&dir, &record)?;
        observer.event(Event::Round(&record));
        history.push(record);
    }
    finish(&dir, &run_id, &history, init.seconds, init.cached)
}

/// The budget must exceed the initial labels and fit in the pool.
fn check_budget(cfg: &RunConfig, task: &Task) -> Result<()> {
    let n_pool = task.pool.len_of(Axis(0));
    let budget = cfg.active.budget;
    if budget <= task.initial.len() || budget > n_pool {
        return Err(Error::Config(format!(
            "loop.budget must be above the {} initial labels and at most the pool size {n_pool}, \
             got {budget}",
            task.initial.len()
        )));
    }
    Ok(())
}

/// The run's checkpoint folder for the update of `round`.
fn state_dir(dir: &Path, round: usize) -> PathBuf {
    dir.join(files::STATE).join(format!("round-{round:04}"))
}

/// Embeddings of the pool, the target inputs and the test set.
struct Embeddings {
    pool: Array2<f32>,
    targets: Array2<f32>,
    test: Array2<f32>,
}

impl Embeddings {
    fn new(rep: &mut dyn Representation, task: &Task) -> Result<Self> {
        let mut embed = |images: ArrayView4<'_, f32>| -> Result<Array2<f32>> {
            if images.is_empty() {
                Ok(Array2::zeros((0, 0)))
            } else {
                rep.embed(images)
            }
        };
        Ok(Self {
            pool: embed(task.pool.view())?,
            targets: embed(task.target_inputs.view())?,
            test: embed(task.test.images.view())?,
        })
    }
}

/// Posterior samples on M target inputs drawn for this round.
fn sample_targets(
    cfg: &RunConfig,
    forest: &RandomForest,
    targets: &Array2<f32>,
    round: usize,
) -> Result<Array3<f32>> {
    let n = targets.len_of(Axis(0));
    if n == 0 {
        return Err(Error::Config(
            "EPIG needs target inputs, but the pool has none".into(),
        ));
    }
    let m = cfg.active.target_samples;
    let mut rng = seeds::rng(cfg.seed, "targets", round);
    let idx: Vec<usize> = if m <= n {
        rand::seq::index::sample(&mut rng, n, m).into_vec()
    } else {
        (0..m)
            .map(|_| rand::Rng::random_range(&mut rng, 0..n))
            .collect()
    };
    let x = targets.select(Axis(0), &idx);
    Ok(forest.predict_first_trees(x.view(), cfg.head.posterior_samples)?)
}

fn score(
    kind: AcquisitionKind,
    pool: Array3<f32>,
    targets: Option<Array3<f32>>,
) -> Result<ndarray::Array1<f32>> {
    let view = pool.view();
    Ok(match (kind, targets) {
        (AcquisitionKind::Epig, Some(t)) => Epig::new(t)?.score(view)?,
        (AcquisitionKind::Bald, _) => Bald.score(view)?,
        (AcquisitionKind::Entropy, _) => Entropy.score(view)?,
        (AcquisitionKind::Confidence, _) => Confidence.score(view)?,
        (AcquisitionKind::Margin, _) => Margin.score(view)?,
        _ => return Err(Error::Config(format!("no scores for {kind:?}"))),
    })
}

fn strategy(cfg: &RunConfig) -> Strategy {
    #[allow(clippy::cast_possible_truncation)]
    let beta = cfg.active.beta as f32;
    match cfg.active.strategy {
        StrategyKind::TopK => Strategy::TopK,
        StrategyKind::Power => Strategy::Power { beta },
        StrategyKind::Softmax => Strategy::Softmax { beta },
        StrategyKind::SoftRank => Strategy::SoftRank { beta },
    }
}

/// Writes `summary.json` and returns it.
fn finish(
    dir: &Path,
    run_id: &str,
    history: &[RoundRecord],
    init_seconds: f64,
    cached: bool,
) -> Result<RunSummary> {
    let last = history
        .last()
        .ok_or_else(|| Error::Config("a run without rounds".into()))?;
    let summary = RunSummary {
        run_id: run_id.to_owned(),
        final_accuracy: last.accuracy,
        n_labelled: last.n_labelled,
        target_acquired: last.target_acquired,
        rounds: history.len(),
        loop_seconds: history.iter().map(|r| r.seconds.total).sum(),
        initialise_seconds: init_seconds,
        encoder_cached: cached,
        peak_rss_bytes: history.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0),
    };
    let text = serde_json::to_string_pretty(&summary).map_err(|e| Error::Config(e.to_string()))?;
    record::write_atomic(&dir.join(files::SUMMARY), text.as_bytes())?;
    Ok(summary)
}
