//! The messy-pool baselines end to end on `fixtures/fmnist-mini` with the smoke profile:
//! SIMILAR, GALAXY and Cluster-Margin on the supervised network reach the budget with
//! distinct points, reproducibly, retraining the network every round; the stateful
//! selectors resume exactly after a crash; GALAXY asks the oracle once per point, inside
//! its batch, and only for points of that batch; the selectors also run on TD-FT; and the
//! paper profile's own network, a ResNet-18, runs SIMILAR's whole loop too (only its pool,
//! budget and epochs shrunk).

mod common;

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{crash_after, fixture, options, outcome, run_error, run_into, smoke};
use ndarray::{Array1, Array2};
use tdal_encoders::backbone::parameter_count;
use tdal_encoders::{Backbone, DeviceChoice, SupervisedConfig, SupervisedModel, Trainable};
use tdal_loop::record::{self, files};
use tdal_loop::{
    Acquired, AcquisitionKind, EncoderConfig, Error, HeadConfig, LaplaceSettings, Oracle, Parts,
    Profile, RepresentationKind, RoundRecord, RunConfig, RunSummary, Session, Silent,
};

/// What every smoke run must give: budget 36 from 6 initial labels in batches of 10,
/// so three full batches and the evaluation-only last round, 30 distinct points never
/// labelled before; the representation updated in the `retrained` rounds. A warm-start
/// set (Cluster-Margin's) is labelled before round 0 on top of all that, outside the
/// budget.
fn assert_complete(
    cfg: &RunConfig,
    summary: &RunSummary,
    rounds: &[RoundRecord],
    dir: &Path,
    retrained: &[usize],
) {
    let warm = tdal_loop::build_task(cfg).unwrap().0.warm_start.len();
    assert_eq!(summary.n_labelled, cfg.active.budget + warm);
    let sizes: Vec<(usize, usize)> = rounds
        .iter()
        .map(|r| (r.n_labelled - warm, r.acquired.len()))
        .collect();
    assert_eq!(sizes, [(6, 10), (16, 10), (26, 10), (36, 0)]);
    let initial: Vec<Acquired> = record::read_json(&dir.join(files::INITIAL))
        .unwrap()
        .unwrap();
    let mut seen: HashSet<usize> = initial.iter().map(|a| a.index).collect();
    assert_eq!(seen.len(), 6 + warm);
    for a in rounds.iter().flat_map(|r| &r.acquired) {
        assert!(
            seen.insert(a.index),
            "pool index {} labelled twice",
            a.index
        );
    }
    let targets = rounds.iter().flat_map(|r| &r.acquired);
    assert_eq!(
        summary.target_acquired,
        targets.filter(|a| a.label != 0).count()
    );
    let updated: Vec<usize> = rounds
        .iter()
        .filter(|r| r.retrained)
        .map(|r| r.round)
        .collect();
    assert_eq!(updated, retrained, "{}", summary.run_id);
}

/// The supervised network is trained from scratch in every round.
const EVERY_ROUND: [usize; 4] = [0, 1, 2, 3];

/// Makes the finished run in `dir` look killed right after its second round: two lines
/// of `rounds.jsonl`, no summary, no checkpoints of the rounds after.
fn crash_after_two_rounds(dir: &Path) {
    crash_after(dir, 2);
    for round in ["round-0002", "round-0003"] {
        let state = dir.join(files::STATE).join(round);
        if state.exists() {
            std::fs::remove_dir_all(state).unwrap();
        }
    }
}

/// The selector checkpoint of `round` in the run folder `dir`.
fn selector_state(dir: &Path, round: usize) -> PathBuf {
    dir.join(files::STATE)
        .join(format!("round-{round:04}"))
        .join("selector")
}

#[test]
fn supervised_similar_reaches_the_budget_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(RepresentationKind::Supervised, AcquisitionKind::Similar);
    let (summary, a) = run_into(&cfg, &tmp.path().join("a"), &cache);
    assert_complete(
        &cfg,
        &summary,
        &a,
        &tmp.path().join("a").join(&summary.run_id),
        &EVERY_ROUND,
    );
    let (again, b) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert_eq!(outcome(&a), outcome(&b));
    assert_eq!(again.final_accuracy, summary.final_accuracy);
}

/// The paper profile's network runs end to end: SIMILAR on the baselines' own ResNet-18
/// and 128-unit fully connected layer, as `Profile::Paper` sets them for F+MNIST, reaches
/// the budget with distinct points, the network trained from scratch every round. Only
/// what makes the paper's run slow on a CPU is shrunk: the pool (capped, IR 10 kept), the
/// target inputs (EPIG's, unused here), the budget (the smoke profile's 36, so
/// `assert_complete` applies) and the most epochs per round (2 of 500).
#[test]
fn paper_profile_resnet18_similar_reaches_the_budget() {
    let mut cfg = RunConfig::method(
        Profile::Paper,
        RepresentationKind::Supervised,
        AcquisitionKind::Similar,
    );
    let EncoderConfig::Supervised(net) = &mut cfg.encoder else {
        panic!("not supervised: {:?}", cfg.encoder)
    };
    assert_eq!(net.backbone, Backbone::ResNet18);
    assert_eq!((net.hidden_dim, net.max_epochs), (128, 500));
    net.max_epochs = 2;
    assert!(matches!(cfg.head, HeadConfig::Network(_)));
    assert_eq!(cfg.active.budget, 500);
    cfg.active.budget = 36;
    cfg.data.dir = Some(fixture());
    // 20 images of each Fashion-MNIST class and, at IR 10, 2 of each target digit: the
    // fewest that still hold the two initial labels per class.
    cfg.data.max_pool = Some(210);
    cfg.data.target_inputs_per_class = Some(1);
    let (task, _) = tdal_loop::build_task(&cfg).unwrap();
    assert_eq!(task.pool.dim().0, 204);

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (summary, rounds) = run_into(&cfg, &out, &tmp.path().join("cache"));
    assert!(summary.run_id.contains("-paper-"), "{}", summary.run_id);
    let dir = out.join(&summary.run_id);
    assert_complete(&cfg, &summary, &rounds, &dir, &EVERY_ROUND);

    // The last round's network: ResNet-18's 512 features into the 128 units the head
    // sees (the images zero-padded to 32 × 32), then the classes; nothing else trained.
    let state = dir
        .join(files::STATE)
        .join("round-0003")
        .join("representation");
    let model = SupervisedModel::load(&state, DeviceChoice::Cpu).unwrap();
    let channels = task.pool.dim().1;
    let classes = task.num_classes;
    assert_eq!(
        model.config(),
        &SupervisedConfig {
            backbone: Backbone::ResNet18,
            channels,
            image_size: 32,
            hidden_dim: 128,
            classes,
        }
    );
    let parameters: usize = model
        .trainable_vars()
        .unwrap()
        .iter()
        .map(|v| v.as_tensor().elem_count())
        .sum();
    let fully_connected = Backbone::ResNet18.feature_dim() * 128 + 128;
    let output = 128 * classes + classes;
    assert_eq!(
        parameters,
        parameter_count(Backbone::ResNet18, channels) + fully_connected + output
    );
}

#[test]
fn supervised_cluster_margin_is_reproducible_and_resumes_its_clustering() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(
        RepresentationKind::Supervised,
        AcquisitionKind::ClusterMargin,
    );
    // The paper's warm start: ⌈0.005 · 1,020 / 3⌉ = 2 labels per class outside the
    // budget, class-balanced, none of them initial.
    assert_eq!(cfg.data.warm_start_share, Some(0.005));
    let (task, oracle) = tdal_loop::build_task(&cfg).unwrap();
    assert_eq!(task.warm_start.len(), 6);
    let mut answers = oracle.clone();
    let warm = answers.label(&task.warm_start).unwrap();
    for class in 0..3 {
        assert_eq!(warm.iter().filter(|a| a.label == class).count(), 2);
    }
    assert!(task.warm_start.iter().all(|i| !task.initial.contains(i)));
    // A share of 0 switches the warm start off: the same pool and initial labels, no set.
    let mut cold = cfg.clone();
    cold.data.warm_start_share = Some(0.0);
    cold.check().unwrap();
    let (cold_task, _) = tdal_loop::build_task(&cold).unwrap();
    assert!(cold_task.warm_start.is_empty());
    assert_eq!(cold_task.initial, task.initial);
    let (whole, a) = run_into(&cfg, &tmp.path().join("a"), &cache);
    assert_complete(
        &cfg,
        &whole,
        &a,
        &tmp.path().join("a").join(&whole.run_id),
        &EVERY_ROUND,
    );
    let (_, b) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert_eq!(outcome(&a), outcome(&b));

    // The clustering is made once, at the first batch, and checkpointed after every one.
    let dir = tmp.path().join("b").join(&whole.run_id);
    let read = |round: usize| -> (Array2<f32>, Array1<u32>) {
        let state = selector_state(&dir, round);
        (
            ndarray_npy::read_npy(state.join("centroids.npy")).unwrap(),
            ndarray_npy::read_npy(state.join("assignment.npy")).unwrap(),
        )
    };
    let (centroids, assignment) = read(1);
    assert_eq!(centroids.dim(), (50, 128));
    let (task, _) = tdal_loop::build_task(&cfg).unwrap();
    assert_eq!(assignment.len(), task.pool.dim().0);
    assert!(assignment.iter().all(|&c| c < 50));
    assert_eq!(read(0), (centroids, assignment));

    // Killed after two rounds, the resumed run clusters nothing again: it ends as the
    // uninterrupted one (re-clustering round 2's features would pick other points).
    crash_after_two_rounds(&dir);
    let (resumed, rounds) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert_eq!(outcome(&rounds), outcome(&a));
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);
}

/// An oracle that remembers every call (GALAXY's one-point asks and the batches').
struct Counting<O> {
    inner: O,
    calls: Vec<Vec<usize>>,
}

impl<O: Oracle> Oracle for Counting<O> {
    fn label(&mut self, indices: &[usize]) -> tdal_loop::Result<Vec<Acquired>> {
        self.calls.push(indices.to_vec());
        self.inner.label(indices)
    }

    fn confirm(&mut self, answered: &[Acquired]) -> tdal_loop::Result<()> {
        self.inner.confirm(answered)
    }
}

#[test]
fn supervised_galaxy_asks_each_label_once_inside_its_batch_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = smoke(RepresentationKind::Supervised, AcquisitionKind::Galaxy);
    let opts = options(&tmp.path().join("a"), &cache);
    let (task, oracle) = tdal_loop::build_task(&cfg).unwrap();
    let mut counting = Counting {
        inner: oracle,
        calls: Vec::new(),
    };
    let parts = Parts::from_config(&cfg, &task, &opts).unwrap();
    let whole = tdal_loop::run_task(&cfg, &opts, &task, parts, &mut counting, &mut Silent).unwrap();
    let a = record::read_rounds(&opts.out.join(&whole.run_id)).unwrap();
    assert_complete(
        &cfg,
        &whole,
        &a,
        &opts.out.join(&whole.run_id),
        &EVERY_ROUND,
    );

    // The initial labels, then GALAXY's points one at a time (the batch's own ask then
    // finds nothing missing): never an index twice, as many asks as labels at the end.
    assert_eq!(counting.calls[0], task.initial);
    let later = &counting.calls[1..];
    assert!(later.iter().all(|c| c.len() <= 1), "{later:?}");
    let asked: Vec<usize> = later.iter().flatten().copied().collect();
    let distinct: HashSet<usize> = asked.iter().copied().collect();
    assert_eq!(distinct.len(), asked.len(), "an index was asked twice");
    assert_eq!(task.initial.len() + asked.len(), whole.n_labelled);
    // Round by round, the points asked are exactly the round's batch.
    let mut rest = asked.as_slice();
    for r in &a {
        let (now, after) = rest.split_at(r.acquired.len());
        let batch: HashSet<usize> = r.acquired.iter().map(|x| x.index).collect();
        assert_eq!(now.iter().copied().collect::<HashSet<_>>(), batch);
        rest = after;
    }
    assert!(rest.is_empty());

    // Reproducible through `run`, which builds the same task and oracle.
    let (_, b) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert_eq!(outcome(&a), outcome(&b));

    // GALAXY's state is checkpointed after every batch and restored on resume.
    let dir = tmp.path().join("b").join(&whole.run_id);
    let rounds_selected = |round: usize| -> u64 {
        let text =
            std::fs::read_to_string(selector_state(&dir, round).join("galaxy.json")).unwrap();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        state["rounds"].as_u64().unwrap()
    };
    assert_eq!(rounds_selected(1), 2);
    crash_after_two_rounds(&dir);
    let (resumed, rounds) = run_into(&cfg, &tmp.path().join("b"), &cache);
    assert_eq!(outcome(&rounds), outcome(&a));
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);
    assert_eq!(rounds_selected(2), 3, "the resumed GALAXY started afresh");
}

#[test]
fn galaxy_without_a_point_by_point_labeller_is_a_clear_selector_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = smoke(RepresentationKind::Supervised, AcquisitionKind::Galaxy);
    let opts = options(&tmp.path().join("runs"), &tmp.path().join("cache"));
    let (task, oracle) = tdal_loop::build_task(&cfg).unwrap();
    let oracle = RefCell::new(oracle);
    let dir = opts.out.join(cfg.run_id());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(files::CONFIG), cfg.to_toml().unwrap()).unwrap();
    let parts = Parts::from_config(&cfg, &task, &opts).unwrap();
    let mut session = Session::open(
        &cfg,
        &dir,
        &task,
        parts,
        &mut *oracle.borrow_mut(),
        &mut Silent,
    )
    .unwrap();
    let err = session.next_batch(&mut Silent).unwrap_err();
    assert!(matches!(err, Error::Selector(_)), "{err}");
    assert!(err.to_string().contains("one at a time"), "{err}");
    assert!(!dir.join(files::PENDING).exists());
    assert!(session.history().is_empty());

    // The same session goes on once the labeller answers point by point.
    let revealed: RefCell<Vec<Acquired>> = RefCell::new(Vec::new());
    let reveal = |index: usize| -> tdal_loop::Result<u32> {
        let answer = oracle.borrow_mut().label(&[index])?;
        let label = answer[0].label;
        revealed.borrow_mut().extend(answer);
        Ok(label)
    };
    let batch = session
        .next_batch_revealing(&mut Silent, &reveal)
        .unwrap()
        .unwrap();
    let revealed = revealed.take();
    assert_eq!(batch.len(), cfg.active.batch_size);
    let answers: Vec<Acquired> = batch
        .iter()
        .map(|&i| revealed.iter().find(|a| a.index == i).unwrap().clone())
        .collect();
    assert_eq!(answers.len(), revealed.len());
    session.submit(&answers, &mut Silent).unwrap();
    assert_eq!(session.history().len(), 1);
}

#[test]
fn td_ft_runs_with_galaxy_cluster_margin_and_similar_on_a_laplace_head() {
    let tmp = tempfile::tempdir().unwrap();
    // One cache: the three runs share TD-FT's pretrained SimCLR encoder.
    let cache = tmp.path().join("cache");
    let mut similar = smoke(RepresentationKind::TdFt, AcquisitionKind::Similar);
    similar.head = HeadConfig::Laplace(LaplaceSettings::preset(Profile::Smoke));
    for cfg in [
        smoke(RepresentationKind::TdFt, AcquisitionKind::Galaxy),
        smoke(RepresentationKind::TdFt, AcquisitionKind::ClusterMargin),
        similar,
    ] {
        let out = tmp.path().join(cfg.acquisition_kind().as_str());
        let (summary, rounds) = run_into(&cfg, &out, &cache);
        // TD-FT keeps the smoke profile's schedule: fine-tuned every second round.
        assert_complete(&cfg, &summary, &rounds, &out.join(&summary.run_id), &[0, 2]);
    }
}

#[test]
fn td_ft_similar_on_the_forest_is_a_config_error_before_any_training() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = smoke(RepresentationKind::TdFt, AcquisitionKind::Similar);
    assert!(matches!(cfg.head, HeadConfig::Forest(_)));
    let (out, cache) = (tmp.path().join("runs"), tmp.path().join("cache"));
    let err = run_error(&cfg, &out, &cache);
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("head.kind"), "{err}");
    assert!(
        !out.exists() && !cache.exists(),
        "work was done before the check"
    );
}
