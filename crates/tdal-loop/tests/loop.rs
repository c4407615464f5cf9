//! The loop end to end on `fixtures/fmnist-mini` with the smoke profile: determinism, the
//! encoder cache, resume after a crash (never asking the oracle twice), that pool labels
//! only reach the loop through the oracle, and parts of a test's own through the seams.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use common::{crash_after, fixture, options, outcome, run_error, run_into, smoke};
use tdal_data::{LabelledSplit, PoolOptions};
use tdal_loop::record::{self, files};
use tdal_loop::{
    Acquired, AcquisitionKind, BatchSelector, Error, Oracle, Parts, RepresentationKind,
    RoundInputs, RunConfig, RunOptions, Session, Silent, SimulatedOracle, Stage, StageClock, Task,
};

#[test]
fn a_run_is_reproducible_and_a_second_run_reuses_the_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(RepresentationKind::TdSplit, AcquisitionKind::Epig);
    let (first, a) = run_into(&cfg, &tmp.path().join("a"), &cache);
    let (second, b) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert!(!first.encoder_cached);
    assert!(
        second.encoder_cached,
        "the second run retrained an identical US VAE"
    );
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
    let (whole, whole_rounds) = run_into(&cfg, &tmp.path().join("whole"), &cache);

    // A "crashed" copy: two completed rounds, half a third line, no summary, and the
    // checkpoint of the unfinished round 2 already written.
    let dir = tmp.path().join("crashed").join(&whole.run_id);
    run_into(&cfg, &tmp.path().join("crashed"), &cache);
    crash_after(&dir, 2);
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(files::ROUNDS))
        .unwrap()
        .write_all(b"{\"round\":2,\"n_labelled\":2")
        .unwrap();
    std::fs::remove_dir_all(dir.join(files::STATE).join("round-0003")).unwrap();

    let (resumed, resumed_rounds) = run_into(&cfg, &tmp.path().join("crashed"), &cache);
    assert_eq!(outcome(&resumed_rounds), outcome(&whole_rounds));
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);

    // A run folder whose config was changed by hand is not resumed.
    let config = dir.join(files::CONFIG);
    let edited = std::fs::read_to_string(&config)
        .unwrap()
        .replace("beta = 4.0", "beta = 2.0");
    std::fs::write(&config, edited).unwrap();
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
    let err = run_error(&cfg, &tmp.path().join("crashed"), &cache);
    assert!(matches!(err, Error::Resume { .. }), "{err:?}");
}

#[test]
fn td_ft_resumes_exactly_and_shares_the_pretrained_encoder_with_us_simclr() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut cfg = smoke(RepresentationKind::TdFt, AcquisitionKind::Epig);
    cfg.active.retrain_every = 1;
    let (whole, whole_rounds) = run_into(&cfg, &tmp.path().join("whole"), &cache);
    assert!(!whole.encoder_cached);
    let retrained: Vec<usize> = whole_rounds
        .iter()
        .filter(|r| r.retrained)
        .map(|r| r.round)
        .collect();
    assert_eq!(retrained, [0, 1, 2, 3]);

    // Crash after two rounds, with the checkpoint of round 3 gone: the fine-tune of round
    // 2 is restored and the next ones start again from the pretrained weights.
    let dir = tmp.path().join("crashed").join(&whole.run_id);
    run_into(&cfg, &tmp.path().join("crashed"), &cache);
    crash_after(&dir, 2);
    std::fs::remove_dir_all(dir.join(files::STATE).join("round-0003")).unwrap();
    let (resumed, resumed_rounds) = run_into(&cfg, &tmp.path().join("crashed"), &cache);
    assert_eq!(outcome(&resumed_rounds), outcome(&whole_rounds));
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);

    // The US SimCLR rows of the seed reuse TD-FT's pretrained encoder.
    let us = smoke(RepresentationKind::UsSimclr, AcquisitionKind::Random);
    let (summary, _) = run_into(&us, &tmp.path().join("us"), &cache);
    assert!(
        summary.encoder_cached,
        "US SimCLR pretrained its encoder again"
    );
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

    fn confirm(&mut self, answered: &[Acquired]) -> tdal_loop::Result<()> {
        self.inner.confirm(answered)
    }
}

/// The smoke task and its hidden labels, built as `tdal_loop::build_task` does.
fn smoke_task(cfg: &RunConfig) -> (Task, SimulatedOracle) {
    tdal_loop::build_task(cfg).unwrap()
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
        warm_start: Vec::new(),
        num_classes: messy.num_classes(),
        targets_from_labelled: false,
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
    let parts = Parts::from_config(&cfg, &task, &opts_a).unwrap();
    tdal_loop::run_task(&cfg, &opts_a, &task, parts, &mut honest, &mut Silent).unwrap();
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
    let parts = Parts::from_config(&cfg, &task, &opts_b).unwrap();
    tdal_loop::run_task(&cfg, &opts_b, &task, parts, &mut other, &mut Silent).unwrap();
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
    let err = run_error(&cfg, tmp.path(), &tmp.path().join("c"));
    assert!(err.to_string().contains("budget"), "{err}");
    // The largest budget a flag takes, with a warm-start set on top: reported, no overflow.
    let mut cfg = smoke(
        RepresentationKind::Supervised,
        AcquisitionKind::ClusterMargin,
    );
    assert!(cfg.data.warm_start_share.is_some());
    cfg.active.budget = usize::MAX;
    let err = run_error(&cfg, tmp.path(), &tmp.path().join("c"));
    assert!(
        matches!(&err, Error::Config(m) if m.contains("budget") && m.contains("warm-start")),
        "{err}"
    );
    // IR 2.5 puts all 40 training images of each target digit in the pool: EPIG has no
    // target inputs, refused before the run folder is made (not in round 0).
    let mut cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Epig);
    cfg.data.ir = Some(2.5);
    let out = tmp.path().join("no-targets");
    let err = run_error(&cfg, &out, &tmp.path().join("c"));
    assert!(
        matches!(&err, Error::Config(m) if m.contains("--ir 2.5") && m.contains("target inputs")),
        "{err}"
    );
    assert!(
        !out.join(cfg.run_id()).exists(),
        "a refused run left a folder"
    );
    let mut cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Random);
    cfg.data.dir = Some(tmp.path().join("nowhere"));
    let err = run_error(&cfg, tmp.path(), &tmp.path().join("c"));
    assert!(matches!(err, Error::Data(_)), "{err}");
}

#[test]
fn resume_never_asks_the_oracle_again_and_checks_what_it_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Epig);
    let opts = options(&tmp.path().join("runs"), &cache);
    let (_, whole_rounds) = run_into(&cfg, &tmp.path().join("whole"), &cache);

    // First session: stop after two answered batches and a third proposed, unanswered.
    let (task, oracle) = smoke_task(&cfg);
    let dir = opts.out.join(cfg.run_id());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(files::CONFIG), cfg.to_toml().unwrap()).unwrap();
    let mut first = Recording {
        inner: oracle,
        asked: Vec::new(),
    };
    let parts = Parts::from_config(&cfg, &task, &opts).unwrap();
    let mut session = Session::open(&cfg, &dir, &task, parts, &mut first, &mut Silent).unwrap();
    for _ in 0..2 {
        let batch = session.next_batch(&mut Silent).unwrap().unwrap();
        let answers = first.label(&batch).unwrap();
        session.submit(&answers, &mut Silent).unwrap();
    }
    let proposed = session.next_batch(&mut Silent).unwrap().unwrap();
    assert!(dir.join(files::PENDING).exists());
    // A wrong answer is refused and changes nothing.
    let wrong: Vec<Acquired> = first.inner.label(&[proposed[0]]).unwrap();
    assert!(matches!(
        session.submit(&wrong, &mut Silent),
        Err(Error::Oracle(_))
    ));
    drop(session);
    let asked_before = first.asked.len();
    assert_eq!(asked_before, 6 + 20);

    // Second session (a fresh oracle, as after a restart): the same pending batch comes
    // back, and the oracle is asked only for it and what follows.
    let (_, oracle) = smoke_task(&cfg);
    let mut second = Recording {
        inner: oracle,
        asked: Vec::new(),
    };
    let parts = Parts::from_config(&cfg, &task, &opts).unwrap();
    let mut session = Session::open(&cfg, &dir, &task, parts, &mut second, &mut Silent).unwrap();
    assert_eq!(session.history().len(), 2);
    assert!(
        second.asked.is_empty(),
        "reopening asked the oracle {:?}",
        second.asked
    );
    let again = session.next_batch(&mut Silent).unwrap().unwrap();
    assert_eq!(again, proposed);
    while let Some(batch) = session.next_batch(&mut Silent).unwrap() {
        let answers = second.label(&batch).unwrap();
        session.submit(&answers, &mut Silent).unwrap();
    }
    session.finish().unwrap();
    assert_eq!(second.asked, proposed);
    assert_eq!(
        outcome(&record::read_rounds(&dir).unwrap()),
        outcome(&whole_rounds)
    );

    // Recorded answers that disagree with the pool's labels stop a resume.
    let rounds = std::fs::read_to_string(dir.join(files::ROUNDS)).unwrap();
    let first_label = whole_rounds[0].acquired[0].label;
    let forged = rounds.replacen(
        &format!("\"label\":{first_label}"),
        &format!("\"label\":{}", (first_label + 1) % 3),
        1,
    );
    std::fs::write(dir.join(files::ROUNDS), forged).unwrap();
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
    let err = tdal_loop::run(&cfg, &opts, &mut Silent).unwrap_err();
    assert!(matches!(err, Error::Resume { .. }), "{err}");
}

/// A test-only representation: 4×4 block means of the image (64 features for 32×32, 49
/// for 28×28); nothing to train.
struct BlockMeans;

impl tdal_loop::Representation for BlockMeans {
    fn name(&self) -> &'static str {
        "block-means"
    }

    fn initialise(
        &mut self,
        _pool: ndarray::ArrayView4<'_, f32>,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> tdal_loop::Result<tdal_loop::Initialised> {
        Ok(tdal_loop::Initialised {
            seconds: 0.0,
            cached: false,
        })
    }

    fn update(
        &mut self,
        _pool: ndarray::ArrayView4<'_, f32>,
        _labelled: ndarray::ArrayView4<'_, f32>,
        _labels: &[u32],
        _round: usize,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> tdal_loop::Result<bool> {
        Ok(false)
    }

    fn embed(
        &mut self,
        images: ndarray::ArrayView4<'_, f32>,
    ) -> tdal_loop::Result<ndarray::Array2<f32>> {
        let (n, _, h, w) = images.dim();
        let (bh, bw) = (h / 4, w / 4);
        Ok(ndarray::Array2::from_shape_fn((n, bh * bw), |(i, b)| {
            let (by, bx) = (b / bw, b % bw);
            let block = images.slice(ndarray::s![i, .., by * 4..by * 4 + 4, bx * 4..bx * 4 + 4]);
            block.mean().unwrap_or(0.0)
        }))
    }

    fn save_state(&self, _dir: &Path) -> tdal_loop::Result<()> {
        Ok(())
    }

    fn load_state(&mut self, _dir: &Path) -> tdal_loop::Result<()> {
        Ok(())
    }
}

/// A test-only selector: the unlabelled points the head is least sure of (smallest
/// largest mean probability), lowest index first among ties; `broken` returns a labelled
/// index instead.
struct LeastSure {
    broken: bool,
}

impl BatchSelector for LeastSure {
    fn name(&self) -> &'static str {
        "least-sure"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> tdal_loop::Result<Vec<usize>> {
        if self.broken {
            return Ok(vec![round.labelled.indices[0]; round.batch_size]);
        }
        clock.begin(Stage::Predict);
        let x = round
            .embeddings
            .pool
            .select(ndarray::Axis(0), round.unlabelled);
        let mean = round.head.predict_mean(x.view())?;
        clock.begin(Stage::Select);
        let mut order: Vec<(f32, usize)> = mean
            .outer_iter()
            .zip(round.unlabelled)
            .map(|(p, &i)| (p.iter().copied().fold(0.0, f32::max), i))
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(order
            .into_iter()
            .take(round.batch_size)
            .map(|(_, i)| i)
            .collect())
    }
}

#[test]
fn a_run_takes_parts_of_its_own_through_the_seams() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Random);
    let opts = options(&tmp.path().join("runs"), &tmp.path().join("cache"));
    let (task, mut oracle) = smoke_task(&cfg);
    let built = Parts::from_config(&cfg, &task, &opts).unwrap();
    let parts = Parts {
        representation: Box::new(BlockMeans),
        head: built.head,
        selector: Box::new(LeastSure { broken: false }),
    };
    let summary = tdal_loop::run_task(&cfg, &opts, &task, parts, &mut oracle, &mut Silent).unwrap();
    assert_eq!(summary.n_labelled, cfg.active.budget);
    let rounds = record::read_rounds(&opts.out.join(&summary.run_id)).unwrap();
    assert_eq!(rounds.len(), 4);
    assert!(
        rounds.iter().all(|r| !r.retrained),
        "a fixed representation never changes"
    );
    assert!(rounds[..3].iter().all(|r| r.acquired.len() == 10));
    assert!(rounds[0].seconds.get(Stage::Predict) > 0.0);
    assert_eq!(rounds[0].seconds.get(Stage::Score), 0.0);

    // A selector that breaks the contract is stopped with a clear error.
    let (task, mut oracle) = smoke_task(&cfg);
    let built = Parts::from_config(&cfg, &task, &opts).unwrap();
    let parts = Parts {
        representation: Box::new(BlockMeans),
        head: built.head,
        selector: Box::new(LeastSure { broken: true }),
    };
    let other = options(&tmp.path().join("other"), &tmp.path().join("cache"));
    let err =
        tdal_loop::run_task(&cfg, &other, &task, parts, &mut oracle, &mut Silent).unwrap_err();
    assert!(matches!(err, Error::Selector(_)), "{err}");
    assert!(err.to_string().contains("least-sure"), "{err}");
}

/// A test-only selector with state across rounds: each batch starts `calls × 7` places
/// into the unlabelled list, `calls` counting the batches it picked in this run. Without
/// its state restored, a resumed run would pick other points.
struct Rotating {
    calls: usize,
}

impl BatchSelector for Rotating {
    fn name(&self) -> &'static str {
        "rotating"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> tdal_loop::Result<Vec<usize>> {
        clock.begin(Stage::Select);
        let start = (self.calls * 7) % round.unlabelled.len();
        self.calls += 1;
        Ok((0..round.batch_size)
            .map(|i| round.unlabelled[(start + i) % round.unlabelled.len()])
            .collect())
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self, dir: &Path) -> tdal_loop::Result<()> {
        std::fs::write(dir.join("calls"), self.calls.to_string()).unwrap();
        Ok(())
    }

    fn load_state(&mut self, dir: &Path) -> tdal_loop::Result<()> {
        self.calls = std::fs::read_to_string(dir.join("calls"))
            .unwrap()
            .parse()
            .unwrap();
        Ok(())
    }
}

#[test]
fn a_stateful_selector_is_restored_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = smoke(RepresentationKind::UsVae, AcquisitionKind::Random);
    let parts = |task: &Task, opts: &RunOptions| Parts {
        representation: Box::new(BlockMeans),
        head: Parts::from_config(&cfg, task, opts).unwrap().head,
        selector: Box::new(Rotating { calls: 0 }),
    };
    let run = |out: &str| {
        let opts = options(&tmp.path().join(out), &tmp.path().join("cache"));
        let (task, mut oracle) = smoke_task(&cfg);
        let summary = tdal_loop::run_task(
            &cfg,
            &opts,
            &task,
            parts(&task, &opts),
            &mut oracle,
            &mut Silent,
        )
        .unwrap();
        record::read_rounds(&opts.out.join(summary.run_id)).unwrap()
    };
    let whole = run("whole");
    let crashed = run("crashed");
    let dir = tmp.path().join("crashed").join(cfg.run_id());
    crash_after(&dir, 2);
    assert!(dir.join("state/round-0001/selector/calls").is_file());
    let resumed = run("crashed");
    assert_eq!(outcome(&crashed), outcome(&whole));
    assert_eq!(outcome(&resumed), outcome(&whole));
}
