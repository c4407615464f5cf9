//! Random forest: fit quality against the Bayes rate, split choice against brute force,
//! probability invariants, seeding and thread-count invariance, and typed errors.

mod common;

use common::{
    accuracy, argmax_rows, bayes_predictions, mixture_means, sample_mixture, small_dataset,
};
use ndarray::{Array2, array, s};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_heads::{Error, ForestParams, MAX_CLASSES, MaxFeatures, PredictionHead, RandomForest};

fn forest(n_trees: usize) -> RandomForest {
    RandomForest::new(ForestParams {
        n_trees,
        posterior_samples: n_trees.min(100),
        ..ForestParams::default()
    })
    .expect("valid parameters")
}

#[test]
fn fits_separable_training_data_perfectly() {
    // Three well-separated blobs with distinct coordinates: fully grown trees reach
    // purity, so the forest's mean prediction reproduces every training label.
    let means = mixture_means(4, 3, 12.0, 1);
    let data = sample_mixture(&means, 300, 2);
    let mut model = forest(50);
    model.fit_seeded(data.x.view(), &data.y, 7).unwrap();
    let predicted = argmax_rows(&model.predict_mean(data.x.view()).unwrap());
    assert_eq!(predicted, data.y);

    // Noisy labels too: without bootstrap a fully grown tree memorises every row.
    let noisy = sample_mixture(&mixture_means(3, 2, 0.5, 3), 200, 4);
    let mut memoriser = RandomForest::new(ForestParams {
        n_trees: 3,
        posterior_samples: 3,
        bootstrap: false,
        ..ForestParams::default()
    })
    .unwrap();
    memoriser.fit_seeded(noisy.x.view(), &noisy.y, 0).unwrap();
    let per_tree = memoriser.predict_per_tree(noisy.x.view()).unwrap();
    for tree in 0..3 {
        let probs = per_tree.slice(s![.., tree, ..]).to_owned();
        assert_eq!(argmax_rows(&probs), noisy.y, "tree {tree}");
        assert!(
            probs.iter().all(|&p| p == 0.0 || p == 1.0),
            "leaves are pure"
        );
    }
}

#[test]
fn accuracy_is_close_to_the_bayes_rate() {
    let means = mixture_means(6, 3, 2.5, 11);
    let train = sample_mixture(&means, 2000, 12);
    let test = sample_mixture(&means, 3000, 13);
    let bayes = accuracy(&bayes_predictions(&means, &test.x), &test.y);
    let mut model = forest(100);
    model.fit_seeded(train.x.view(), &train.y, 0).unwrap();
    let ours = accuracy(
        &argmax_rows(&model.predict_mean(test.x.view()).unwrap()),
        &test.y,
    );
    assert!(
        bayes > 0.75 && bayes < 0.99,
        "the task is neither trivial nor hopeless: {bayes}"
    );
    assert!(
        ours <= bayes + 0.02,
        "no classifier beats Bayes by much: {ours} vs {bayes}"
    );
    assert!(
        ours >= bayes - 0.05,
        "forest {ours} too far below the Bayes rate {bayes}"
    );
}

#[test]
fn trees_differ_but_their_mean_is_stable_across_seeds() {
    let means = mixture_means(5, 3, 2.0, 21);
    let train = sample_mixture(&means, 500, 22);
    let test = sample_mixture(&means, 400, 23);
    let mut first = forest(250);
    let mut second = forest(250);
    first.fit_seeded(train.x.view(), &train.y, 1).unwrap();
    second.fit_seeded(train.x.view(), &train.y, 2).unwrap();

    let per_tree = first.predict_per_tree(test.x.view()).unwrap();
    let tree0 = per_tree.slice(s![.., 0, ..]);
    let tree1 = per_tree.slice(s![.., 1, ..]);
    let differing = tree0
        .rows()
        .into_iter()
        .zip(tree1.rows())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > 20,
        "two trees should disagree on many inputs, got {differing}"
    );

    // The mean over trees equals predict_mean and hardly moves with the seed.
    let mean_first = first.predict_mean(test.x.view()).unwrap();
    let averaged = per_tree.mean_axis(ndarray::Axis(1)).unwrap();
    let max_gap = (&averaged - &mean_first)
        .mapv(f32::abs)
        .fold(0.0_f32, |a, &b| a.max(b));
    assert!(
        max_gap < 1e-5,
        "predict_mean differs from the per-tree mean by {max_gap}"
    );
    let mean_second = second.predict_mean(test.x.view()).unwrap();
    let seed_gap = (&mean_first - &mean_second).mapv(f32::abs).mean().unwrap();
    assert!(
        seed_gap < 0.05,
        "mean prediction moved by {seed_gap} between seeds"
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let means = mixture_means(8, 3, 2.0, 31);
    let train = sample_mixture(&means, 600, 32);
    let test = sample_mixture(&means, 1500, 33);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut model = forest(40);
            model.fit_seeded(train.x.view(), &train.y, 99).unwrap();
            (
                model.predict_per_tree(test.x.view()).unwrap(),
                model.tree_sizes(),
            )
        })
    };
    let (one, sizes_one) = run(1);
    let (two, sizes_two) = run(2);
    assert_eq!(sizes_one, sizes_two);
    assert_eq!(one, two);
}

#[test]
fn a_seed_gives_identical_forests_and_another_seed_a_different_one() {
    let means = mixture_means(4, 2, 1.5, 41);
    let train = sample_mixture(&means, 300, 42);
    let fit = |seed| {
        let mut model = forest(20);
        model.fit_seeded(train.x.view(), &train.y, seed).unwrap();
        model.predict_per_tree(train.x.view()).unwrap()
    };
    assert_eq!(fit(5), fit(5));
    assert_ne!(fit(5), fit(6));

    // Through the trait, the seed comes from the caller's generator.
    let mut head = forest(20);
    head.fit(train.x.view(), &train.y, &mut ChaCha8Rng::seed_from_u64(3))
        .unwrap();
    let a = head.predict_samples(train.x.view()).unwrap();
    head.fit(train.x.view(), &train.y, &mut ChaCha8Rng::seed_from_u64(3))
        .unwrap();
    assert_eq!(a, head.predict_samples(train.x.view()).unwrap());
    assert_eq!(a.dim(), (300, 20, 2));
}

#[test]
fn predict_samples_returns_the_first_k_trees() {
    let means = mixture_means(3, 4, 2.0, 51);
    let train = sample_mixture(&means, 200, 52);
    let mut model = RandomForest::new(ForestParams {
        n_trees: 30,
        posterior_samples: 7,
        ..ForestParams::default()
    })
    .unwrap();
    model.fit_seeded(train.x.view(), &train.y, 0).unwrap();
    let samples = model.predict_samples(train.x.view()).unwrap();
    let all = model.predict_per_tree(train.x.view()).unwrap();
    assert_eq!(samples.dim(), (200, 7, 4));
    assert_eq!(samples, all.slice(s![.., ..7, ..]));
}

/// Impurity of the partition a depth-1 tree makes, recovered from its predictions: each
/// training row contributes the Gini impurity `1 − Σ p²` of its leaf.
fn partition_impurity(leaf_probs: &Array2<f32>) -> f64 {
    leaf_probs
        .rows()
        .into_iter()
        .map(|row| {
            1.0 - row
                .iter()
                .map(|&p| f64::from(p) * f64::from(p))
                .sum::<f64>()
        })
        .sum::<f64>()
        / leaf_probs.nrows() as f64
}

/// Brute force: the smallest weighted Gini impurity over every feature and every cut
/// between two distinct values, or `None` when every feature is constant.
fn best_stump_impurity(x: &Array2<f32>, y: &[u32], classes: usize) -> Option<f64> {
    let gini = |rows: &[usize]| {
        let mut counts = vec![0.0_f64; classes];
        for &row in rows {
            counts[y[row] as usize] += 1.0;
        }
        let n = rows.len() as f64;
        n - counts.iter().map(|c| c * c).sum::<f64>() / n
    };
    let mut best: Option<f64> = None;
    for feature in 0..x.ncols() {
        let column = x.column(feature);
        for &cut in column {
            let (left, right): (Vec<usize>, Vec<usize>) =
                (0..x.nrows()).partition(|&row| column[row] <= cut);
            if right.is_empty() {
                continue;
            }
            let impurity = (gini(&left) + gini(&right)) / x.nrows() as f64;
            best = Some(best.map_or(impurity, |b: f64| b.min(impurity)));
        }
    }
    best
}

#[test]
fn stump_split_on_a_large_node_matches_brute_force() {
    // 700 rows: the root's keys are radix-sorted, unlike the small proptest cases.
    let means = mixture_means(3, 3, 1.5, 61);
    let mut data = sample_mixture(&means, 700, 62);
    data.x.mapv_inplace(|v| (v * 20.0).round() / 20.0); // ties, as real features have
    let mut stump = RandomForest::new(ForestParams {
        n_trees: 1,
        posterior_samples: 1,
        max_features: MaxFeatures::All,
        max_depth: Some(1),
        bootstrap: false,
        n_classes: Some(3),
    })
    .unwrap();
    stump.fit_seeded(data.x.view(), &data.y, 0).unwrap();
    let probs = stump
        .predict_per_tree(data.x.view())
        .unwrap()
        .slice(s![.., 0, ..])
        .to_owned();
    let best = best_stump_impurity(&data.x, &data.y, 3).unwrap();
    assert!((partition_impurity(&probs) - best).abs() < 1e-5);
}

#[test]
fn thresholds_are_midpoints_of_the_node_s_own_values() {
    // Feature 0 splits the root (group H, pure class 2, from group G); G then splits on
    // feature 1 between its own values 1 and 9, so scikit-learn's threshold is 5. H's
    // feature-1 values 2..=8 lie in that gap: a threshold taken against the next value
    // of the whole training set would be 1.5 and send (0, 4) to class 1.
    let mut rows: Vec<[f32; 3]> = vec![
        [0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 9.0, 1.0],
        [0.0, 10.0, 1.0],
    ];
    rows.extend((2..=8).map(|v| [100.0, v as f32, 2.0]));
    let x = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
    let y: Vec<u32> = rows.iter().map(|r| r[2] as u32).collect();
    let mut tree = RandomForest::new(ForestParams {
        n_trees: 1,
        posterior_samples: 1,
        max_features: MaxFeatures::All,
        max_depth: None,
        bootstrap: false,
        n_classes: Some(3),
    })
    .unwrap();
    tree.fit_seeded(x.view(), &y, 0).unwrap();
    let test = array![[0.0, 4.9], [0.0, 5.1], [60.0, 5.0], [40.0, 5.0f32]];
    let predicted = argmax_rows(&tree.predict_mean(test.view()).unwrap());
    assert_eq!(predicted, vec![0, 1, 2, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stump_split_matches_the_brute_force_best_gini_split((x, y, classes) in small_dataset()) {
        let mut stump = RandomForest::new(ForestParams {
            n_trees: 1,
            posterior_samples: 1,
            max_features: MaxFeatures::All,
            max_depth: Some(1),
            bootstrap: false,
            n_classes: Some(classes),
        }).unwrap();
        stump.fit_seeded(x.view(), &y, 0).unwrap();
        let probs = stump.predict_per_tree(x.view()).unwrap().slice(s![.., 0, ..]).to_owned();
        let ours = partition_impurity(&probs);
        let pure = y.iter().all(|&label| label == y[0]);
        match best_stump_impurity(&x, &y, classes) {
            // A pure node or all-constant features stay one leaf: the root's impurity.
            _ if pure => prop_assert!(ours.abs() < 1e-6),
            None => {
                let mut counts = vec![0.0_f64; classes];
                for &label in &y { counts[label as usize] += 1.0; }
                let n = y.len() as f64;
                let root = 1.0 - counts.iter().map(|c| (c / n) * (c / n)).sum::<f64>();
                prop_assert!((ours - root).abs() < 1e-5);
            }
            Some(best) => prop_assert!((ours - best).abs() < 1e-5, "ours {} brute force {}", ours, best),
        }
    }

    #[test]
    fn per_tree_probabilities_are_distributions((x, y, classes) in small_dataset(), seed in 0_u64..1000) {
        let mut model = RandomForest::new(ForestParams {
            n_trees: 8,
            posterior_samples: 8,
            n_classes: Some(classes),
            ..ForestParams::default()
        }).unwrap();
        model.fit_seeded(x.view(), &y, seed).unwrap();
        let probs = model.predict_per_tree(x.view()).unwrap();
        prop_assert_eq!(probs.dim(), (x.nrows(), 8, classes));
        prop_assert!(probs.iter().all(|&p| (0.0..=1.0).contains(&p)));
        for row in probs.lanes(ndarray::Axis(2)) {
            prop_assert!((row.sum() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let x = array![[0.0_f32, 1.0], [1.0, 0.0], [0.5, 0.5]];
    let mut model = forest(5);

    assert_eq!(model.predict_mean(x.view()).unwrap_err(), Error::NotFitted);
    let mut with_nan = x.clone();
    with_nan[[1, 1]] = f32::NAN;
    assert!(matches!(
        model.fit_seeded(with_nan.view(), &[0, 1, 0], 0),
        Err(Error::NonFinite {
            row: 1,
            feature: 1,
            ..
        })
    ));
    with_nan[[1, 1]] = f32::INFINITY;
    assert!(matches!(
        model.fit_seeded(with_nan.view(), &[0, 1, 0], 0),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(
        model.fit_seeded(x.view(), &[0, 1], 0),
        Err(Error::LengthMismatch {
            features: 3,
            labels: 2
        })
    );
    assert_eq!(
        model.fit_seeded(x.slice(s![..1, ..]), &[0], 0),
        Err(Error::TooFewSamples {
            found: 1,
            needed: 2
        })
    );
    assert!(matches!(
        model.fit_seeded(Array2::<f32>::zeros((3, 0)).view(), &[0, 1, 0], 0),
        Err(Error::NoFeatures { rows: 3 })
    ));

    let mut two_classes = RandomForest::new(ForestParams {
        n_trees: 5,
        posterior_samples: 5,
        n_classes: Some(2),
        ..ForestParams::default()
    })
    .unwrap();
    assert_eq!(
        two_classes.fit_seeded(x.view(), &[0, 2, 1], 0),
        Err(Error::LabelOutOfRange {
            label: 2,
            row: 1,
            n_classes: 2
        })
    );

    model.fit_seeded(x.view(), &[0, 1, 0], 0).unwrap();
    assert!(matches!(
        model.predict_per_tree(array![[1.0_f32, 2.0, 3.0]].view()),
        Err(Error::FeatureMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        model.predict_per_tree(array![[f32::NAN, 2.0]].view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        model.predict_first_trees(x.view(), 6),
        Err(Error::InvalidParam { .. })
    ));
    assert_eq!(
        model
            .predict_per_tree(Array2::<f32>::zeros((0, 2)).view())
            .unwrap()
            .dim(),
        (0, 5, 2)
    );

    for params in [
        ForestParams {
            n_trees: 0,
            ..ForestParams::default()
        },
        ForestParams {
            n_trees: 10,
            posterior_samples: 11,
            ..ForestParams::default()
        },
        ForestParams {
            max_depth: Some(0),
            ..ForestParams::default()
        },
        ForestParams {
            n_classes: Some(0),
            ..ForestParams::default()
        },
    ] {
        assert!(matches!(
            RandomForest::new(params),
            Err(Error::InvalidParam { .. })
        ));
    }
    let mut too_many = RandomForest::new(ForestParams {
        max_features: MaxFeatures::Count(3),
        ..ForestParams::default()
    })
    .unwrap();
    assert!(matches!(
        too_many.fit_seeded(x.view(), &[0, 1, 0], 0),
        Err(Error::InvalidParam { .. })
    ));
}

#[test]
fn more_classes_than_the_limit_are_typed_errors() {
    // C = largest label + 1 sizes every leaf and the [N, K, C] output: a stray huge label
    // is an error, not an absurd allocation (`tdal forest` and Python use this limit).
    assert_eq!(MAX_CLASSES, 65_536);
    let x = array![[0.0_f32, 1.0], [1.0, 0.0], [0.5, 0.5]];
    let limit = u32::try_from(MAX_CLASSES).unwrap();
    let mut model = forest(2);
    let err = model
        .fit_seeded(x.view(), &[0, limit, 1_000_000_000], 0)
        .unwrap_err();
    assert_eq!(
        err,
        Error::TooManyClasses {
            label: limit,
            row: 1,
            max: MAX_CLASSES
        }
    );
    assert_eq!(
        err.to_string(),
        "label 65536 at row 1 is too large: classes must be 0..C-1 with C at most 65536 \
         (predictions hold C probabilities per sample and row)"
    );
    assert!(
        model.n_classes().is_none(),
        "a failed fit leaves the forest unfitted"
    );
    model.fit_seeded(x.view(), &[0, limit - 1, 1], 0).unwrap();
    assert_eq!(model.n_classes(), Some(MAX_CLASSES));

    let params = |n_classes| ForestParams {
        n_trees: 2,
        posterior_samples: 2,
        n_classes: Some(n_classes),
        ..ForestParams::default()
    };
    let err = RandomForest::new(params(MAX_CLASSES + 1)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParam {
                name: "n_classes",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("at most 65536"), "{err}");
    assert!(RandomForest::new(params(usize::MAX)).is_err());
    RandomForest::new(params(MAX_CLASSES)).unwrap();
}
