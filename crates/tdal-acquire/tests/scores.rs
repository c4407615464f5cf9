//! Pool-only scores (entropy, BALD, confidence, margin, random) against f64 oracles,
//! closed forms and their invariants.

mod common;

use approx::assert_abs_diff_eq;
use common::{oracle_bald, oracle_entropy};
use ndarray::{Array3, Axis, array};
use proptest::prelude::*;
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Error, Margin, Random};

#[test]
fn bald_of_two_disagreeing_deterministic_samples_is_ln_2() {
    let pool = array![[[1.0f32, 0.0], [0.0, 1.0]]];
    assert_abs_diff_eq!(
        f64::from(Bald.score(pool.view()).unwrap()[0]),
        std::f64::consts::LN_2,
        epsilon = 1e-6
    );
}

#[test]
fn bald_with_one_sample_is_zero() {
    let pool = array![[[0.3f32, 0.7]], [[0.5, 0.5]], [[0.0, 1.0]]];
    assert!(Bald.score(pool.view()).unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn uniform_prediction_has_entropy_ln_c_and_extreme_confidence_and_margin() {
    let pool = Array3::from_elem((1, 3, 4), 0.25f32);
    assert_abs_diff_eq!(
        Entropy.score(pool.view()).unwrap()[0],
        4f32.ln(),
        epsilon = 1e-6
    );
    assert_abs_diff_eq!(
        Confidence.score(pool.view()).unwrap()[0],
        0.75,
        epsilon = 1e-6
    );
    assert_abs_diff_eq!(Margin.score(pool.view()).unwrap()[0], 1.0, epsilon = 1e-6);
    let certain = array![[[0.0f32, 1.0, 0.0]]];
    assert_eq!(Confidence.score(certain.view()).unwrap()[0], 0.0);
    assert_eq!(Margin.score(certain.view()).unwrap()[0], 0.0);
}

#[test]
fn margin_uses_the_mean_over_samples() {
    // p̄ = [0.6, 0.3, 0.1] → margin 1 − 0.3
    let pool = array![[[0.7f32, 0.2, 0.1], [0.5, 0.4, 0.1]]];
    assert_abs_diff_eq!(Margin.score(pool.view()).unwrap()[0], 0.7, epsilon = 1e-6);
    assert_abs_diff_eq!(
        Confidence.score(pool.view()).unwrap()[0],
        0.4,
        epsilon = 1e-6
    );
}

#[test]
fn random_is_reproducible_and_uniform() {
    let pool = Array3::from_elem((10_000, 1, 2), 0.5f32);
    let a = Random { seed: 3 }.score(pool.view()).unwrap();
    assert_eq!(a, Random { seed: 3 }.score(pool.view()).unwrap());
    assert_ne!(a, Random { seed: 4 }.score(pool.view()).unwrap());
    assert!(a.iter().all(|&v| (0.0..1.0).contains(&v)));
    assert_abs_diff_eq!(a.mean().unwrap(), 0.5, epsilon = 0.01);
}

#[test]
fn invalid_probabilities_are_rejected_by_every_score() {
    let bad = array![[[0.7f32, 0.7]]];
    let scorers: [&dyn Acquisition; 4] = [&Entropy, &Bald, &Confidence, &Margin];
    for scorer in scorers {
        assert!(matches!(
            scorer.score(bad.view()),
            Err(Error::NotNormalised { .. })
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn entropy_and_bald_match_f64_oracles(pool in common::probs_any(40, 12, 6)) {
        let h = Entropy.score(pool.view()).unwrap();
        let b = Bald.score(pool.view()).unwrap();
        for ((h, b), (hw, bw)) in h.iter().zip(&b).zip(oracle_entropy(pool.view()).iter().zip(&oracle_bald(pool.view()))) {
            prop_assert!((f64::from(*h) - hw).abs() <= 1e-5, "{h} vs {hw}");
            prop_assert!((f64::from(*b) - bw.max(0.0)).abs() <= 1e-5, "{b} vs {bw}");
        }
    }

    #[test]
    fn bald_is_bounded_by_predictive_entropy(pool in common::probs_any(40, 12, 6)) {
        let h = Entropy.score(pool.view()).unwrap();
        let b = Bald.score(pool.view()).unwrap();
        for (h, b) in h.iter().zip(&b) {
            prop_assert!(*b >= 0.0 && *b <= h + 1e-5, "{b} vs {h}");
        }
    }

    #[test]
    fn scores_are_invariant_to_permuting_samples(pool in common::probs_any(20, 10, 5), seed in any::<u64>()) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut order: Vec<usize> = (0..pool.dim().1).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let permuted = pool.select(Axis(1), &order);
        let scorers: [&dyn Acquisition; 4] = [&Entropy, &Bald, &Confidence, &Margin];
        for scorer in scorers {
            let a = scorer.score(pool.view()).unwrap();
            let b = scorer.score(permuted.view()).unwrap();
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-5);
            }
        }
    }

    #[test]
    fn confidence_and_margin_lie_in_unit_interval(pool in common::probs_any(30, 6, 6)) {
        let c = pool.dim().2 as f32;
        for v in Confidence.score(pool.view()).unwrap() {
            prop_assert!((0.0..=1.0 - 1.0 / c + 1e-5).contains(&v));
        }
        for v in Margin.score(pool.view()).unwrap() {
            prop_assert!((0.0..=1.0).contains(&v));
        }
    }
}
