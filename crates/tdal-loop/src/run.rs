//! Running an experiment: the run folder, the task the loop may see, and the loop that
//! drives a [`Session`] with an oracle.
//!
//! [`run`] builds the pool named by the configuration, hides its labels behind a
//! [`SimulatedOracle`], builds the round's parts ([`Parts::from_config`]) and calls
//! [`run_task`], which only ever sees images: pool labels reach it through the oracle,
//! one query per acquired point, and never twice.
//!
//! A round (see [`Session::next_batch`]): update the representation (before round 0 and
//! every k rounds; a fixed one ignores it), embed pool / target inputs / test set when the
//! representation changed, fit the head on the labelled embeddings, record the test
//! accuracies, let the selector pick a batch, ask the oracle. The last round (budget
//! reached) only fits and evaluates. Each round draws its randomness from streams
//! `(seed, purpose, r)` ([`crate::seeds`]) and every part that changed is checkpointed
//! before the round's record is written, so `--resume` continues bit for bit (on the
//! matrix-product kernels the run's rounds ran on, which every record names; a resume on
//! other kernels is refused).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use ndarray::{Array4, Axis};
use tdal_data::chexpert::ChexpertOptions;
use tdal_data::{Imbalance, LabelledSplit, PoolOptions, TestRule};
use tdal_encoders::DeviceChoice;

use crate::config::{AcquisitionKind, RunConfig};
use crate::oracle::{Oracle, SimulatedOracle};
use crate::parts::Parts;
use crate::record::{self, RoundRecord, RunSummary, files};
use crate::session::{Session, budget_and_rounds, check_budget, same_kernels};
use crate::stage::Stage;
use crate::{Acquired, Error, Result};

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
        /// The round (`None`: before round 0, where the representation is initialised).
        round: Option<usize>,
        /// Which stage.
        stage: Stage,
    },
    /// Training inside a stage advanced.
    Progress {
        /// The stage training ([`Stage::Initialise`] or [`Stage::Retrain`]).
        stage: Stage,
        /// The representation's name (`us-vae`, `td-split`).
        what: &'a str,
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
    /// Pool indices also labelled before round 0 but outside the budget (a warm-start
    /// validation set, `data.warm_start_share`; usually empty).
    pub warm_start: Vec<usize>,
    /// Label-map classes (other + targets).
    pub num_classes: usize,
    /// EPIG's target inputs are the labelled target-class pool points, refreshed every
    /// round (the whole pool while there are none), and `target_inputs` is unused: a
    /// person's labelling project without example images.
    pub targets_from_labelled: bool,
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
    let parts = Parts::from_config(cfg, &task, opts)?;
    run_task(cfg, opts, &task, parts, &mut oracle, observer)
}

/// Runs (or resumes) the loop with the given parts on a task whose pool labels only the
/// oracle knows, in the run folder `opts.out/<run-id>`: creates it (writing
/// `config.toml`) or checks that an existing one belongs to this configuration and pool,
/// then drives a [`Session`] with `oracle` until the budget is spent. Answers recorded by
/// an earlier session are read back, never asked again.
///
/// # Errors
/// As [`run`]; [`Error::Resume`] when recorded answers disagree with the oracle, or when
/// the run has rounds left and its last round ran on other matrix-product kernels than
/// this process uses (`tdal_encoders::kernels`); [`Error::Config`] when the budget is not
/// above the initial labels, or when EPIG has no target inputs.
pub fn run_task(
    cfg: &RunConfig,
    opts: &RunOptions,
    task: &Task,
    parts: Parts,
    oracle: &mut dyn Oracle,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    check_budget(cfg, task)?;
    check_target_inputs(cfg, task)?;
    let dir = opts.out.join(cfg.run_id());
    let finished = prepare_dir(cfg, &dir, opts.resume)?;
    check_data(&dir, task)?;
    if let Some(summary) = finished {
        return Ok(summary);
    }
    let (_, total) = budget_and_rounds(cfg, task);
    same_kernels(&dir, &record::read_rounds(&dir)?, total)?;
    let mut session = Session::open(cfg, &dir, task, parts, oracle, observer)?;
    // Labels a selector asks for inside its batch (GALAXY) are asked once and kept for
    // the batch's answers.
    let oracle = RefCell::new(oracle);
    let revealed: RefCell<Vec<Acquired>> = RefCell::new(Vec::new());
    let reveal = |index: usize| -> Result<u32> {
        let answer = oracle.borrow_mut().label(&[index])?;
        let label = answer
            .first()
            .map(|a| a.label)
            .ok_or_else(|| Error::Oracle(format!("no answer for pool index {index}")))?;
        revealed.borrow_mut().extend(answer);
        Ok(label)
    };
    while let Some(batch) = session.next_batch_revealing(observer, &reveal)? {
        let known = std::mem::take(&mut *revealed.borrow_mut());
        if let Some(stray) = known.iter().find(|a| !batch.contains(&a.index)) {
            return Err(Error::Selector(format!(
                "pool index {} was labelled inside the round but is not in the batch",
                stray.index
            )));
        }
        let missing: Vec<usize> = batch
            .iter()
            .copied()
            .filter(|i| !known.iter().any(|a| a.index == *i))
            .collect();
        let mut asked = oracle.borrow_mut().label(&missing)?.into_iter();
        let answers: Vec<Acquired> = batch
            .iter()
            .map(|i| match known.iter().find(|a| a.index == *i) {
                Some(a) => Ok(a.clone()),
                None => asked
                    .next()
                    .ok_or_else(|| Error::Oracle(format!("no answer for pool index {i}"))),
            })
            .collect::<Result<_>>()?;
        session.submit(&answers, observer)?;
    }
    session.finish()
}

/// EPIG scores against target inputs: when they are the task's own (not the labelled
/// target-class points, [`Task::targets_from_labelled`]) there must be some, or the run
/// would stop in round 0, after the representation's training and the initial labels.
///
/// # Errors
/// [`Error::Config`] naming the settings that leave none.
fn check_target_inputs(cfg: &RunConfig, task: &Task) -> Result<()> {
    if cfg.acquisition_kind() != AcquisitionKind::Epig
        || task.targets_from_labelled
        || task.target_inputs.len_of(Axis(0)) > 0
    {
        return Ok(());
    }
    let d = &cfg.data;
    if d.target_inputs_per_class == Some(0) {
        return Err(Error::Config(
            "data.target_inputs_per_class = 0 leaves EPIG no target inputs: raise it or leave \
             it out"
                .into(),
        ));
    }
    let imbalance = match (d.ir, d.target_share) {
        (Some(ir), _) => format!("--ir {ir} (data.ir)"),
        (None, Some(share)) => format!("--target-share {share} (data.target_share)"),
        (None, None) => format!(
            "{}'s default IR {}",
            d.dataset.as_str(),
            d.dataset.default_ir()
        ),
    };
    Err(Error::Config(format!(
        "{imbalance} leaves no target-class training images outside the pool for EPIG's \
         target inputs: raise --ir, lower --target-share or cap the pool with --max-pool"
    )))
}

/// Records the hash of the pool's pixels in a new run folder, or checks it in an existing
/// one: the run id leaves the data directory out, so the same configuration on other data
/// (a fixture, another copy) must not resume or reuse a run made from different images.
fn check_data(dir: &Path, task: &Task) -> Result<()> {
    let hash = crate::cache::images_hash(task.pool.view());
    if stored_hash_matches(dir, &hash)? {
        Ok(())
    } else {
        record::write_atomic(&dir.join(files::DATA_HASH), hash.as_bytes())
    }
}

/// Checks, without writing, that `task`'s pool is the one a run folder was made from (its
/// `data.blake3`): `Ok(true)` when it is, `Ok(false)` when the folder records no hash yet.
///
/// # Errors
/// [`Error::Resume`] when the folder was made from a different pool; [`Error::Io`] when
/// its hash file cannot be read.
pub fn verify_pool(dir: &Path, task: &Task) -> Result<bool> {
    stored_hash_matches(dir, &crate::cache::images_hash(task.pool.view()))
}

fn stored_hash_matches(dir: &Path, hash: &str) -> Result<bool> {
    let path = dir.join(files::DATA_HASH);
    match std::fs::read_to_string(&path) {
        Ok(stored) if stored.trim() == hash => Ok(true),
        Ok(_) => Err(Error::Resume {
            path: dir.to_path_buf(),
            message: "it was made from a different pool (other data directory or files); \
                      choose another --out"
                .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("cannot read", &path, e)),
    }
}

/// Creates the run folder (writing `config.toml`) or checks an existing one; returns the
/// summary of a finished run.
fn prepare_dir(cfg: &RunConfig, dir: &Path, resume: bool) -> Result<Option<RunSummary>> {
    let config_path = dir.join(files::CONFIG);
    let started = config_path.exists()
        && (dir.join(files::SUMMARY).exists()
            || dir.join(files::INITIAL).exists()
            || !record::read_rounds(dir)?.is_empty());
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
    let options = pool_options(cfg);
    let mut messy = tdal_data::build_named(cfg.data.dataset, &data_dir, &options)?;
    let num_classes = messy.num_classes();
    let warm_start = match cfg.data.warm_start_share {
        Some(share) if share > 0.0 => warm_start(
            &messy.pool.labels,
            &messy.initial_labelled,
            num_classes,
            share,
            cfg.seed,
        )?,
        _ => Vec::new(),
    };
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
        warm_start,
        num_classes,
        targets_from_labelled: false,
    };
    Ok((task, oracle))
}

/// The side of the images the encoders take.
const ENCODER_SIDE: u32 = 32;

/// How [`build_task`] asks for the named pool.
fn pool_options(cfg: &RunConfig) -> PoolOptions {
    PoolOptions {
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
        // The encoders take images of at most 32 × 32 pixels (F+MNIST's 28 × 28 are
        // zero-padded to it); CheXpert's radiographs are resized to that side.
        chexpert: ChexpertOptions {
            image_size: ENCODER_SIDE,
            ..ChexpertOptions::default()
        },
        seed: cfg.seed,
    }
}

/// A class-balanced set of ⌈share · N / C⌉ pool indices per label-map class (at least
/// one), none of them initial, drawn from stream `(seed, "warm-start", 0)`; ascending.
///
/// # Errors
/// [`Error::Config`] when a class has too few pool points left.
fn warm_start(
    labels: &[u32],
    initial: &[usize],
    classes: usize,
    share: f64,
    seed: u64,
) -> Result<Vec<usize>> {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let per_class = ((share * labels.len() as f64) / classes.max(1) as f64)
        .ceil()
        .max(1.0) as usize;
    let mut rng = crate::seeds::rng(seed, "warm-start", 0);
    let mut chosen = Vec::with_capacity(per_class * classes);
    for class in 0..classes {
        let members: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] as usize == class && initial.binary_search(&i).is_err())
            .collect();
        if members.len() < per_class {
            return Err(Error::Config(format!(
                "data.warm_start_share = {share} asks for {per_class} labels of label-map \
                 class {class}, but the pool has {} more of it",
                members.len()
            )));
        }
        chosen.extend(
            rand::seq::index::sample(&mut rng, members.len(), per_class)
                .iter()
                .map(|k| members[k]),
        );
    }
    chosen.sort_unstable();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chexpert_is_read_at_the_encoders_side() {
        let cfg =
            RunConfig::preset(crate::Profile::Quick).with_dataset(tdal_data::Dataset::Chexpert);
        let options = pool_options(&cfg);
        assert_eq!(options.chexpert.image_size, ENCODER_SIDE);
        // Everything else is the dataset's default reading.
        assert_eq!(options.chexpert.finding, ChexpertOptions::default().finding);
    }

    fn pool_task(fill: f32) -> Task {
        let empty = Array4::<f32>::zeros((0, 1, 2, 2));
        Task {
            pool: Array4::from_elem((3, 1, 2, 2), fill),
            target_inputs: empty.clone(),
            test: LabelledSplit {
                images: empty,
                labels: Vec::new(),
                origins: Vec::new(),
            },
            initial: Vec::new(),
            warm_start: Vec::new(),
            num_classes: 2,
            targets_from_labelled: false,
        }
    }

    #[test]
    fn a_run_folder_remembers_its_pool() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, other) = (pool_task(0.25), pool_task(0.5));
        // No hash yet: verifying writes nothing, checking records it.
        assert!(!verify_pool(dir.path(), &ours).unwrap());
        assert!(!dir.path().join(files::DATA_HASH).exists());
        check_data(dir.path(), &ours).unwrap();
        assert!(verify_pool(dir.path(), &ours).unwrap());
        check_data(dir.path(), &ours).unwrap();
        // Another pool is refused by both, and the record is left as it was.
        let stored = std::fs::read(dir.path().join(files::DATA_HASH)).unwrap();
        for err in [
            verify_pool(dir.path(), &other).unwrap_err(),
            check_data(dir.path(), &other).unwrap_err(),
        ] {
            assert!(matches!(err, Error::Resume { .. }), "{err}");
            assert!(err.to_string().contains("different pool"), "{err}");
        }
        assert_eq!(
            std::fs::read(dir.path().join(files::DATA_HASH)).unwrap(),
            stored
        );
    }

    #[test]
    fn the_warm_start_set_is_class_balanced_new_and_seeded() {
        // 3 classes of 40, 30 and 30 points; initial labels 0, 1 (class 0) and 40 (class 1).
        let labels: Vec<u32> = (0..100)
            .map(|i| u32::from(i >= 40) + u32::from(i >= 70))
            .collect();
        let initial = [0, 1, 40];
        let chosen = warm_start(&labels, &initial, 3, 0.05, 7).unwrap();
        // ⌈0.05 · 100 / 3⌉ = 2 per class.
        assert_eq!(chosen.len(), 6);
        for class in 0..3 {
            let n = chosen.iter().filter(|&&i| labels[i] == class).count();
            assert_eq!(n, 2, "class {class}");
        }
        assert!(
            chosen.windows(2).all(|w| w[0] < w[1]),
            "sorted and distinct"
        );
        assert!(chosen.iter().all(|i| !initial.contains(i)));
        assert_eq!(warm_start(&labels, &initial, 3, 0.05, 7).unwrap(), chosen);
        assert_ne!(warm_start(&labels, &initial, 3, 0.05, 8).unwrap(), chosen);
        // At least one per class, however small the share.
        assert_eq!(warm_start(&labels, &initial, 3, 1e-9, 7).unwrap().len(), 3);
        // A class without enough points left is an error naming the setting.
        let err = warm_start(&labels, &initial, 3, 0.95, 7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("warm_start_share"), "{err}");
        assert!(err.contains("label-map class 1, but"), "{err}");
        assert!(!err.contains("  "), "stray spaces in {err:?}");
    }
}
