//! The messy-pool builder: invariants on synthetic sources (property tests) and the F+MNIST
//! configuration on the fmnist-mini fixture.

mod common;

use std::collections::HashSet;

use common::{encoded_source, fixture_dir};
use proptest::prelude::*;
use tdal_data::{
    ClassSelection, Dataset, Error, Imbalance, MessyPool, PoolOptions, PoolSpec, Source, SplitKind,
    TestRule, build_named, build_pool, pad_to,
};

fn spec(targets: Vec<u32>, redundant: Vec<u32>, ir: f64, seed: u64) -> PoolSpec {
    PoolSpec {
        targets: ClassSelection {
            source: 0,
            classes: targets,
        },
        redundant: vec![ClassSelection {
            source: 1,
            classes: redundant,
        }],
        imbalance: Imbalance::Ratio(ir),
        max_pool: None,
        target_inputs_per_class: None,
        test_rule: TestRule::BalancedOther,
        initial_per_class: 2,
        seed,
    }
}

fn two_sources(target_train: &[usize], redundant_train: &[usize]) -> Vec<Source> {
    let target_test: Vec<usize> = target_train.iter().map(|n| n / 3 + 1).collect();
    let redundant_test: Vec<usize> = redundant_train.iter().map(|n| n / 4 + 1).collect();
    vec![
        encoded_source(0, target_train, &target_test),
        encoded_source(1, redundant_train, &redundant_test),
    ]
}

/// Every image must be the pixels of its recorded origin.
fn assert_images_match_origins(pool: &MessyPool) {
    for split in [&pool.pool, &pool.target_inputs, &pool.test] {
        for (i, o) in split.origins.iter().enumerate() {
            let split_code = match o.split {
                SplitKind::Train => 0.0,
                SplitKind::Test => 1.0,
            };
            let px = |y: usize, x: usize| split.images[[i, 0, y, x]];
            assert_eq!(px(0, 0), f32::from(o.source));
            assert_eq!(px(0, 1), split_code);
            assert_eq!(px(1, 0) * 1000.0 + px(1, 1), o.index as f32);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pool_target_inputs_and_test_are_disjoint_and_counts_follow_ir(
        target_train in proptest::collection::vec(20usize..80, 1..4),
        redundant_train in proptest::collection::vec(30usize..120, 1..6),
        ir in 1.0f64..12.0,
        seed in any::<u64>(),
    ) {
        let sources = two_sources(&target_train, &redundant_train);
        let t = target_train.len() as u32;
        let spec = spec((0..t).collect(), (0..redundant_train.len() as u32).collect(), ir, seed);
        let per_target = (*redundant_train.iter().max().unwrap() as f64 / ir).floor() as usize;
        let result = build_pool(&sources, &spec);
        if per_target > *target_train.iter().min().unwrap() || per_target < 2 {
            prop_assert!(matches!(result, Err(Error::Config(_))));
            return Ok(());
        }
        let pool = result.unwrap();
        // counts follow IR
        let counts = pool.pool.label_counts(t as usize + 1);
        prop_assert_eq!(counts[0], redundant_train.iter().sum::<usize>());
        prop_assert!(counts[1..].iter().all(|&n| n == per_target));
        // disjoint: no (source, split, index) appears twice across pool, targets, test
        let mut seen = HashSet::new();
        for split in [&pool.pool, &pool.target_inputs, &pool.test] {
            for o in &split.origins {
                prop_assert!(seen.insert((o.source, o.split, o.index)), "{:?} twice", o);
            }
        }
        prop_assert!(pool.test.origins.iter().all(|o| o.split == SplitKind::Test));
        // target inputs: balanced, target classes only, all leftovers of the smallest class
        let input_counts = pool.target_inputs.label_counts(t as usize + 1);
        let leftover = target_train.iter().min().unwrap() - per_target;
        prop_assert_eq!(input_counts[0], 0);
        prop_assert!(input_counts[1..].iter().all(|&n| n == leftover));
        // labels agree with origins
        for split in [&pool.pool, &pool.target_inputs, &pool.test] {
            for (o, &l) in split.origins.iter().zip(&split.labels) {
                let expected = if o.source == 0 { o.class + 1 } else { 0 };
                prop_assert_eq!(l, expected);
            }
        }
        // initial labels: 2 per label-map class, sorted, unique
        let mut per_label = vec![0; t as usize + 1];
        for &i in &pool.initial_labelled {
            per_label[pool.pool.labels[i] as usize] += 1;
        }
        prop_assert!(per_label.iter().all(|&n| n == 2));
        prop_assert!(pool.initial_labelled.windows(2).all(|w| w[0] < w[1]));
        assert_images_match_origins(&pool);
        // reproducible from the seed, different with another seed
        prop_assert_eq!(&build_pool(&sources, &spec).unwrap(), &pool);
        let other = build_pool(&sources, &PoolSpec { seed: seed ^ 1, ..spec.clone() }).unwrap();
        prop_assert_ne!(other.pool.origins, pool.pool.origins);
    }

    #[test]
    fn pool_cap_keeps_the_imbalance_and_the_bound(
        cap in 20usize..400,
        seed in any::<u64>(),
    ) {
        let sources = two_sources(&[60, 60], &[100, 80, 90]);
        let spec = PoolSpec { max_pool: Some(cap), initial_per_class: 0, ..spec(vec![0, 1], vec![0, 1, 2], 5.0, seed) };
        match build_pool(&sources, &spec) {
            Ok(pool) => {
                prop_assert!(pool.pool.len() <= cap);
                // counts still follow the IR: each target = ⌊largest redundant class / IR⌋
                let mut redundant = [0usize; 3];
                for o in pool.pool.origins.iter().filter(|o| o.source == 1) {
                    redundant[o.class as usize] += 1;
                }
                let counts = pool.pool.label_counts(3);
                prop_assert_eq!(counts[1], redundant.iter().max().unwrap() / 5);
                prop_assert_eq!(counts[1], counts[2]);
                prop_assert!(pool.summary().achieved_ir >= 5.0);
            }
            Err(e) => prop_assert!(matches!(e, Error::Config(_)), "{}", e),
        }
    }
}

#[test]
fn changing_initial_labels_does_not_change_the_pool() {
    let sources = two_sources(&[50, 50], &[100, 100]);
    let a = build_pool(&sources, &spec(vec![0, 1], vec![0, 1], 10.0, 7)).unwrap();
    let b = build_pool(
        &sources,
        &PoolSpec {
            initial_per_class: 5,
            ..spec(vec![0, 1], vec![0, 1], 10.0, 7)
        },
    )
    .unwrap();
    assert_eq!(a.pool, b.pool);
    assert_eq!(a.test, b.test);
    assert_ne!(a.initial_labelled, b.initial_labelled);
}

#[test]
fn target_share_gives_the_requested_fraction() {
    let sources = two_sources(&[400, 400], &[500, 500]);
    let spec = PoolSpec {
        imbalance: Imbalance::TargetShare(0.06),
        ..spec(vec![0, 1], vec![0, 1], 10.0, 0)
    };
    let pool = build_pool(&sources, &spec).unwrap();
    let share = pool.summary().target_share;
    assert!((share - 0.06).abs() < 0.002, "share {share}");
}

#[test]
fn a_target_share_just_below_one_is_an_error_naming_it() {
    // 0.9999999999999999 asks for 6000 / (2 · 1.1e-16) ≈ 2.7e19 images per target class:
    // beyond usize, saturated, then reported (with and without a pool cap), never an
    // overflow.
    let sources = two_sources(&[40, 40], &[3000, 3000]);
    for max_pool in [None, Some(500)] {
        let spec = PoolSpec {
            imbalance: Imbalance::TargetShare(0.999_999_999_999_999_9),
            max_pool,
            ..spec(vec![0, 1], vec![0, 1], 10.0, 0)
        };
        let msg = build_pool(&sources, &spec).unwrap_err().to_string();
        assert!(
            msg.contains("target share 0.9999999999999999"),
            "{max_pool:?}: {msg}"
        );
    }
}

#[test]
fn test_rules_select_the_documented_images() {
    let sources = two_sources(&[30, 60], &[90, 90, 90]); // target test 11 + 21, redundant 23 each
    let base = spec(vec![0, 1], vec![0, 1, 2], 10.0, 3);
    let only = build_pool(
        &sources,
        &PoolSpec {
            test_rule: TestRule::TargetsOnly,
            ..base.clone()
        },
    )
    .unwrap();
    assert_eq!(only.test.label_counts(3), vec![0, 11, 21]);
    let balanced = build_pool(&sources, &base).unwrap();
    assert_eq!(balanced.test.label_counts(3), vec![16, 11, 21]);
    let mut per_class = [0; 3];
    for o in balanced.test.origins.iter().filter(|o| o.source == 1) {
        per_class[o.class as usize] += 1;
    }
    assert!(
        per_class.iter().max().unwrap() - per_class.iter().min().unwrap() <= 1,
        "{per_class:?}"
    );
    let all = build_pool(
        &sources,
        &PoolSpec {
            test_rule: TestRule::All,
            ..base
        },
    )
    .unwrap();
    assert_eq!(all.test.label_counts(3), vec![69, 11, 21]);
}

#[test]
fn bad_specs_are_config_errors_with_advice() {
    let sources = two_sources(&[30, 30], &[100, 100]);
    let cases = [
        (spec(vec![0, 7], vec![0], 10.0, 0), "does not exist"),
        (spec(vec![0, 0], vec![0], 10.0, 0), "twice"),
        (spec(vec![0], vec![0], 0.5, 0), "IR"),
        (spec(vec![0], vec![0], 2.0, 0), "raise --ir"),
        (spec(vec![0], vec![0], 1000.0, 0), "no target image"),
        (
            PoolSpec {
                targets: ClassSelection {
                    source: 1,
                    classes: vec![0],
                },
                ..spec(vec![0], vec![0], 10.0, 0)
            },
            "both a target and a redundant",
        ),
    ];
    for (spec, needle) in cases {
        let msg = build_pool(&sources, &spec).unwrap_err().to_string();
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
}

#[test]
fn fmnist_on_the_fixture_has_the_expected_counts() {
    let pool = build_named(Dataset::Fmnist, &fixture_dir(), &PoolOptions::default()).unwrap();
    assert_eq!(pool.class_names, vec!["other", "5", "6"]);
    // 100 Fashion-MNIST images per class; IR 10 → 10 per digit; 40 - 10 = 30 leftovers
    assert_eq!(pool.pool.label_counts(3), vec![1000, 10, 10]);
    assert_eq!(pool.target_inputs.label_counts(3), vec![0, 30, 30]);
    assert_eq!(pool.test.label_counts(3), vec![10, 10, 10]);
    assert_eq!(pool.initial_labelled.len(), 6);
    assert_eq!(pool.image_shape(), [1, 28, 28]);
    let padded = pad_to(&pool.pool.images, 32, 32).unwrap();
    assert_eq!(padded.shape(), &[1020, 1, 32, 32]);
    assert_eq!(
        padded.slice(ndarray::s![.., .., 2..30, 2..30]),
        pool.pool.images
    );
    assert_eq!(padded.slice(ndarray::s![.., .., 0..2, ..]).sum(), 0.0);
    let summary = pool.summary();
    assert!((summary.achieved_ir - 10.0).abs() < 1e-9);
    let text = summary.to_string();
    assert!(
        text.contains("Fashion-MNIST/Ankle boot") && text.contains("MNIST/5"),
        "{text}"
    );

    let custom = PoolOptions {
        targets: Some(vec![1, 2, 3]),
        imbalance: Some(Imbalance::Ratio(5.0)),
        seed: 9,
        ..PoolOptions::default()
    };
    let pool = build_named(Dataset::Fmnist, &fixture_dir(), &custom).unwrap();
    assert_eq!(pool.pool.label_counts(4), vec![1000, 20, 20, 20]);
    assert_eq!(pool.class_names, vec!["other", "1", "2", "3"]);
}

#[test]
fn preview_grid_has_one_row_per_split_and_class() {
    let pool = build_named(Dataset::Fmnist, &fixture_dir(), &PoolOptions::default()).unwrap();
    let options = tdal_data::preview::PreviewOptions {
        per_row: 5,
        scale: 1,
        seed: 0,
    };
    let img = tdal_data::preview::render_preview(&pool, &options).unwrap();
    // 8 rows (3 splits × 3 classes, target inputs have no "other") of 28 + 2 px, plus the gap
    assert_eq!(img.height(), 8 * 30 + 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    tdal_data::preview::save_png(&img, &path).unwrap();
    assert_eq!(image::open(&path).unwrap().to_rgb8(), img);
}

#[test]
fn target_input_samples_are_unique_when_possible_and_repeat_otherwise() {
    use rand::SeedableRng;
    let pool = build_named(Dataset::Fmnist, &fixture_dir(), &PoolOptions::default()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let few = pool.sample_target_inputs(50, &mut rng);
    assert_eq!(few.len(), 50);
    assert_eq!(few.iter().collect::<HashSet<_>>().len(), 50);
    let many = pool.sample_target_inputs(500, &mut rng);
    assert_eq!(many.len(), 500);
    assert!(many.iter().all(|&i| i < pool.target_inputs.len()));
    assert_eq!(
        many.iter().collect::<HashSet<_>>().len(),
        pool.target_inputs.len()
    );
}
