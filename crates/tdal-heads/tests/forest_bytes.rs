//! Random forest as bytes: a round trip restores the same parameters and identical
//! predictions, and bytes that are not a forest are a typed error, never a panic or a
//! routing loop.

mod common;

use common::{mixture_means, sample_mixture};
use ndarray::Array2;
use proptest::prelude::*;
use tdal_heads::{Error, ForestParams, MaxFeatures, RandomForest};

fn fitted(params: ForestParams) -> (RandomForest, Array2<f32>) {
    let data = sample_mixture(&mixture_means(5, 3, 2.0, 1), 200, 2);
    let mut forest = RandomForest::new(params).unwrap();
    forest.fit_seeded(data.x.view(), &data.y, 3).unwrap();
    (forest, data.x)
}

fn small() -> ForestParams {
    ForestParams {
        n_trees: 12,
        posterior_samples: 4,
        ..ForestParams::default()
    }
}

#[test]
fn a_round_trip_gives_identical_predictions() {
    for params in [
        small(),
        ForestParams {
            max_features: MaxFeatures::Count(3),
            max_depth: Some(4),
            bootstrap: false,
            n_classes: Some(4),
            ..small()
        },
        ForestParams {
            max_features: MaxFeatures::Log2,
            ..small()
        },
        ForestParams {
            max_features: MaxFeatures::All,
            ..small()
        },
    ] {
        let (forest, x) = fitted(params.clone());
        let bytes = forest.to_bytes();
        let restored = RandomForest::from_bytes(&bytes).unwrap();
        assert_eq!(restored.params(), &params);
        assert_eq!(restored.n_classes(), forest.n_classes());
        assert_eq!(restored.tree_sizes(), forest.tree_sizes());
        assert_eq!(
            restored.predict_per_tree(x.view()).unwrap(),
            forest.predict_per_tree(x.view()).unwrap()
        );
        assert_eq!(
            restored.predict_mean(x.view()).unwrap(),
            forest.predict_mean(x.view()).unwrap()
        );
        assert_eq!(restored.to_bytes(), bytes, "writing is deterministic");
    }
}

#[test]
fn an_unfitted_forest_round_trips_unfitted() {
    let forest = RandomForest::new(small()).unwrap();
    let restored = RandomForest::from_bytes(&forest.to_bytes()).unwrap();
    assert_eq!(restored.params(), forest.params());
    assert_eq!(
        restored.predict_mean(Array2::zeros((1, 2)).view()),
        Err(Error::NotFitted)
    );
}

#[test]
fn every_truncation_and_trailing_byte_is_an_error() {
    let (forest, _) = fitted(ForestParams {
        n_trees: 2,
        posterior_samples: 1,
        max_depth: Some(2),
        ..ForestParams::default()
    });
    let bytes = forest.to_bytes();
    for end in 0..bytes.len() {
        assert!(
            matches!(
                RandomForest::from_bytes(&bytes[..end]),
                Err(Error::InvalidBytes { .. })
            ),
            "truncated at {end} of {}",
            bytes.len()
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = RandomForest::from_bytes(&longer).unwrap_err();
    assert!(err.to_string().contains("1 unexpected bytes"), "{err}");
}

#[test]
fn wrong_marker_version_and_parameters_are_named() {
    let bytes = RandomForest::new(small()).unwrap().to_bytes();
    let err = RandomForest::from_bytes(b"PK\x03\x04 not a forest").unwrap_err();
    assert!(err.to_string().contains("tdal-rf"), "{err}");

    let mut version = bytes.clone();
    version[8] = 2;
    let err = RandomForest::from_bytes(&version).unwrap_err();
    assert!(err.to_string().contains("format version 2"), "{err}");

    // n_trees (bytes 12..20) = 0 is rejected by ForestParams::check.
    let mut no_trees = bytes;
    no_trees[12..20].fill(0);
    assert!(matches!(
        RandomForest::from_bytes(&no_trees),
        Err(Error::InvalidParam {
            name: "n_trees",
            ..
        })
    ));
}

#[test]
fn a_node_pointing_backwards_is_rejected() {
    let (forest, _) = fitted(ForestParams {
        n_trees: 1,
        posterior_samples: 1,
        ..ForestParams::default()
    });
    let mut bytes = forest.to_bytes();
    // Header: marker 8 + version 4 + parameters 44 + fitted flag 1 + features, classes,
    // trees 3 × 8 = 81; then the first tree's node count (8), then node 0: feature,
    // threshold, left, right. A root whose left child is itself would loop for ever.
    let left = 81 + 8 + 8;
    bytes[left..left + 4].copy_from_slice(&0_u32.to_le_bytes());
    let err = RandomForest::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBytes { reason } if reason.contains("node 0")),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn corrupted_bytes_never_panic_and_restored_forests_still_predict(
        position in 0_usize..10_000,
        value in any::<u8>(),
    ) {
        let (forest, x) = fitted(ForestParams {
            n_trees: 3,
            posterior_samples: 3,
            max_depth: Some(6),
            ..ForestParams::default()
        });
        let mut bytes = forest.to_bytes();
        let position = position % bytes.len();
        bytes[position] = value;
        // A flipped threshold or probability can still be a valid forest; whatever is
        // restored must predict (or refuse x with a typed error) and terminate.
        if let Ok(restored) = RandomForest::from_bytes(&bytes)
            && let Ok(probs) = restored.predict_per_tree(x.view())
        {
            prop_assert_eq!(probs.dim().0, x.nrows());
        }
    }
}
