//! The loop end to end on `fixtures/fmnist-mini` with the smoke profile: determinism, the
//! encoder cache, resume after a crash, and that pool labels only reach the loop through
//! the oracle.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tdal_data::{LabelledSplit, PoolOptions};
use tdal_loop::record::{self, files};
use tdal_loop::{
    Acquired, AcquisitionKind, Error, Oracle, Profile, RepresentationKind, RoundRecord, RunConfig,
    RunOptions, Silent, SimulatedOracle, Task,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

fn smoke(representation: RepresentationKind, acquisition: AcquisitionKind) -> RunConfig {
    let mut cfg = RunConfig::preset(Profile::Smoke);
    cfg.representation = representation;
    cfg.acquisition = acquisition;
    cfg.data.dir = Some(fixture());
    cfg
}

fn options(out: &Path, cache: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        cache_dir: cache.to_path_buf(),
        resume: true,
        device: tdal_encoders::DeviceChoice::Cpu,
    }
}

/// Records without the timings and memory (which differ from run to run).
fn outcome(records: &[RoundRecord]) -> Vec<RoundRecord> {
    records
        .iter()
        .map(|r| RoundRecord {
            seconds: tdal_loop::StageSeconds::default(),
            peak_rss_bytes: 0,
            ..r.clone()
        })
        .collect()
}

#[test]
fn a_run_is_reproducible_and_a_second_run_reuses_the_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(RepresentationKind::TdSplit, AcquisitionKind::Epig);
    let first = tdal_loop::run(&cfg, &options(&tmp.path().join("a"), &cache), &mut Silent).unwrap();
    let second =
        tdal_loop::run(&cfg, &options(&tmp.path().join("b"), &cache), &mut Silent).unwrap();
    assert!(!first.encoder_cached);
    assert!(
        second.encoder_cached,
        "the second run retrained an identical US VAE"
    );
    let a = record::read_rounds(&tmp.path().join("a").join(&first.run_id)).unwrap();
    let b = record::read_rounds(&tmp.path().join("b").join(&second.run_id)).unwrap();
    assert_eq!(outcome(&a), outcome(&b));
    // Budget 36 from 6 initial labels in batches of 10: 3 acquisitions + the final round.
    assert_eq!(a.len(), 4);
    assert_eq!(a.last().unwrap().n_labelled, 36);
    assert!(a.last().unwrap().acquired.is_empty());
    let retrained: Vec<usize> = a.iter().filter(|r| r.retrained).map(|r| r.round).collect();
    assert_eq!(retrained, [0, 2]);
    let acquired: Vec<usize> = a
        .iter()
        .flat_map(|r| r.acquired.iter().map(|x| x.index))
        .collect();
    let distinct: HashSet<usize> = acquired.iter().copied().collect();
    assert_eq!(distinct.len(), 30, "a point was acquired twice");
    // A finished run resumes to its summary without work; without --resume it is refused.
    let again = tdal_loop::run(&cfg, &options(&tmp.path().join("a"), &cache), &mut Silent).unwrap();
    assert_eq!(again, first);
    let mut strict = options(&tmp.path().join("a"), &cache);
    strict.resume = false;
    assert!(matches!(
        tdal_loop::run(&cfg, &strict, &mut Silent),
        Err(Error::RunExists(_))
    ));
}

#[test]
fn resuming_after_a_crash_gives_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut cfg = smoke(RepresentationKind::TdSplit, AcquisitionKind::Epig);
    cfg.active.retrain_every = 1;
    let whole = tdal_loop::run(
        &cfg,
        &options(&tmp.path().join("whole"), &cache),
        &mut Silent,
    )
    .unwrap();
    let whole_rounds = record::read_rounds(&tmp.path().join("whole").join(&whole.run_id)).unwrap();

    // A "crashed" copy: two completed rounds, half a third line, no summary, and the
    // checkpoint of the unfinished round 2 already written.
    let dir = tmp.path().join("crashed").join(&whole.run_id);
    tdal_loop::run(
        &cfg,
        &options(&tmp.path().join("crashed"), &cache),
        &mut Silent,
    )
    .unwrap();
    let mut text: String = std::fs::read_to_string(dir.join(files::ROUNDS))
        .unwrap()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str("{\"round\":2,\"n_labelled\":2");
    std::fs::write(dir.join(files::ROUNDS), text).unwrap();
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
    std::fs::remove_dir_all(dir.join(files::STATE).join("round-0003")).unwrap();

    let resumed = tdal_loop::run(
        &cfg,
        &options(&tmp.path().join("crashed"), &cache),
        &mut Silent,
    )
    .unwrap();
    let resumed_rounds = record::read_rounds(&dir).unwrap();
    assert_eq!(outcome(&resumed_rounds), outcome(&whole_rounds));
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);

    // A run folder whose config was changed by hand is not resumed.
    let config = dir.join(files::CONFIG);
    let edited = std::fs::read_to_string(&config)
        .unwrap()
        .replace("beta = 4.0", "beta = 2.0");
    std::fs::write(&config, edited).unwrap();
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
    let err = tdal_loop::run(
        &cfg,
        &options(&tmp.path().join("crashed"), &cache),
        &mut Silent,
    );
    assert!(matches!(err, Err(Error::Resume { .. })), "{err:?}");
}

/// Wraps an oracle and remembers what it was asked.
struct Recording<O> {
    inner: O,
    asked: Vec<usize>,
}

impl<O: Oracle> Oracle for Recording<O> {
    fn label(&mut self, indices: &[usize]) -> tdal_loop::Result<Vec<Acquired>> {
        self.asked.extend_from_slice(indices);
        self.inner.label(indices)
    }
}

#[test]
fn hidden_labels_of_unqueried_points_cannot_change_the_run() {
    let cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Epig);
    let options_for_pool = PoolOptions {
        max_pool: cfg.data.max_pool,
        seed: cfg.seed,
        ..PoolOptions::default()
    };
    let messy =
        tdal_data::build_named(tdal_data::Dataset::Fmnist, &fixture(), &options_for_pool).unwrap();
    let task = Task {
        pool: messy.pool.images.clone(),
        target_inputs: messy.target_inputs.images.clone(),
        test: messy.test.clone(),
        initial: messy.initial_labelled.clone(),
        num_classes: messy.num_classes(),
    };
    let oracle_for = |pool: &LabelledSplit| {
        SimulatedOracle::take(
            &mut pool.clone(),
            messy.source_names.clone(),
            messy.source_class_names.clone(),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut honest = Recording {
        inner: oracle_for(&messy.pool),
        asked: Vec::new(),
    };
    let opts_a = options(&tmp.path().join("a"), &cache);
    tdal_loop::run_task(&cfg, &opts_a, &task, &mut honest, &mut Silent).unwrap();
    let asked: HashSet<usize> = honest.asked.iter().copied().collect();
    assert_eq!(asked.len(), honest.asked.len(), "a point was asked twice");

    // Every label the loop never asked for is changed; the run must not notice.
    let mut scrambled = messy.pool.clone();
    let classes = u32::try_from(messy.num_classes()).unwrap();
    let mut changed = 0;
    for (i, label) in scrambled.labels.iter_mut().enumerate() {
        if !asked.contains(&i) {
            *label = (*label + 1) % classes;
            changed += 1;
        }
    }
    assert!(changed > 900);
    let mut other = Recording {
        inner: oracle_for(&scrambled),
        asked: Vec::new(),
    };
    let opts_b = options(&tmp.path().join("b"), &cache);
    tdal_loop::run_task(&cfg, &opts_b, &task, &mut other, &mut Silent).unwrap();
    let id = cfg.run_id();
    let a = record::read_rounds(&tmp.path().join("a").join(&id)).unwrap();
    let b = record::read_rounds(&tmp.path().join("b").join(&id)).unwrap();
    assert_eq!(outcome(&a), outcome(&b));
    assert_eq!(honest.asked, other.asked);
}

#[test]
fn bad_budgets_and_missing_data_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Random);
    cfg.active.budget = 6; // equal to the initial labels
    let err = tdal_loop::run(
        &cfg,
        &options(tmp.path(), &tmp.path().join("c")),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
    let mut cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Random);
    cfg.data.dir = Some(tmp.path().join("nowhere"));
    let err = tdal_loop::run(
        &cfg,
        &options(tmp.path(), &tmp.path().join("c")),
        &mut Silent,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err}");
}
