//! Batch selection: the stochastic strategies draw from the distributions they claim.

use ndarray::{Array1, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use tdal_acquire::{Strategy, select};

/// Significance of the goodness-of-fit tests. The seeds are fixed, so each test is a
/// deterministic check; α = 0.001 makes a false alarm for a correct sampler a 1-in-1000
/// event per (seed set, test), while a wrong exponent (e.g. β vs β/2) fails by many orders
/// of magnitude with these sample sizes.
const ALPHA: f64 = 1e-3;
const DRAWS: u64 = 20_000;

/// Pearson's chi-square test of observed counts against expected probabilities.
fn chi_square_p_value(counts: &[u64], probs: &[f64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let statistic: f64 = counts
        .iter()
        .zip(probs)
        .map(|(&o, &p)| {
            let e = p * total as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let dof = (counts.len() - 1) as f64;
    1.0 - ChiSquared::new(dof).unwrap().cdf(statistic)
}

fn frequencies(scores: &Array1<f32>, strategy: Strategy) -> Vec<u64> {
    let mut counts = vec![0u64; scores.len()];
    for seed in 0..DRAWS {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let batch = select(scores.view(), 1, strategy, &mut rng).unwrap();
        counts[batch[0]] += 1;
    }
    counts
}

fn normalised(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let w: Vec<f64> = weights.collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

#[test]
fn power_batching_selects_proportionally_to_score_power_beta() {
    let scores = array![0.05f32, 0.2, 0.3, 0.45, 0.6, 0.7];
    let beta = 4.0;
    let counts = frequencies(&scores, Strategy::Power { beta });
    let want = normalised(scores.iter().map(|&s| f64::from(s).powf(f64::from(beta))));
    let p = chi_square_p_value(&counts, &want);
    assert!(p > ALPHA, "p = {p}, counts {counts:?}, expected {want:?}");
    // The test has power: the wrong exponent is rejected.
    let wrong = normalised(scores.iter().map(|&s| f64::from(s).powf(2.0)));
    assert!(chi_square_p_value(&counts, &wrong) < 1e-12);
}

#[test]
fn softmax_selects_proportionally_to_exp_beta_score() {
    let scores = array![0.1f32, 0.5, 0.2, 0.9];
    let beta = 3.0;
    let counts = frequencies(&scores, Strategy::Softmax { beta });
    let want = normalised(
        scores
            .iter()
            .map(|&s| (f64::from(beta) * f64::from(s)).exp()),
    );
    let p = chi_square_p_value(&counts, &want);
    assert!(p > ALPHA, "p = {p}, counts {counts:?}");
}

#[test]
fn softrank_selects_proportionally_to_rank_power_minus_beta() {
    let scores = array![0.3f32, 0.9, 0.1, 0.5, 0.7];
    let beta = 1.0;
    let counts = frequencies(&scores, Strategy::SoftRank { beta });
    // ranks: 0.9→1, 0.7→2, 0.5→3, 0.3→4, 0.1→5
    let ranks = [4.0f64, 1.0, 5.0, 3.0, 2.0];
    let want = normalised(ranks.iter().map(|r| r.powf(-f64::from(beta))));
    let p = chi_square_p_value(&counts, &want);
    assert!(p > ALPHA, "p = {p}, counts {counts:?}");
}

#[test]
fn power_with_beta_zero_is_uniform_and_clamps_non_positive_scores() {
    let scores = array![0.0f32, -1.0, 0.5, 2.0];
    let counts = frequencies(&scores, Strategy::Power { beta: 0.0 });
    let p = chi_square_p_value(&counts, &[0.25; 4]);
    assert!(p > ALPHA, "p = {p}, counts {counts:?}");
}

#[test]
fn same_seed_same_batch_any_thread_count() {
    let scores: Array1<f32> = (0..5000)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let run = || {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        select(scores.view(), 50, Strategy::Power { beta: 4.0 }, &mut rng).unwrap()
    };
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let double = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(single, double);
    assert_eq!(single, run());
    let mut sorted = single.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 50, "indices are distinct");
}

#[test]
fn large_beta_power_approaches_topk() {
    let scores = array![0.1f32, 0.8, 0.3, 0.9, 0.2];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batch = select(scores.view(), 2, Strategy::Power { beta: 500.0 }, &mut rng).unwrap();
    assert_eq!(batch, vec![3, 1]);
}
