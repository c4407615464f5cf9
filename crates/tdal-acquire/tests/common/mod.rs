//! Shared test support: proptest strategies for probability arrays and a brute-force,
//! obviously-correct f64 oracle for every score.

#![allow(dead_code)]

use ndarray::{Array1, Array3, ArrayView3};
use proptest::prelude::*;

/// A strategy for valid `[n, k, c]` probabilities: each row a normalised vector of
/// positive weights, with some exact zeros and near-one-hot rows mixed in.
pub fn probs(n: usize, k: usize, c: usize) -> impl Strategy<Value = Array3<f32>> {
    proptest::collection::vec(
        prop_oneof![4 => 0.0f32..1.0, 1 => Just(0.0f32), 1 => 50.0f32..100.0],
        n * k * c,
    )
    .prop_map(move |raw| normalise(Array3::from_shape_vec((n, k, c), raw).unwrap()))
}

/// Probabilities with random dimensions within the given bounds.
pub fn probs_any(max_n: usize, max_k: usize, max_c: usize) -> impl Strategy<Value = Array3<f32>> {
    (1..=max_n, 1..=max_k, 2..=max_c).prop_flat_map(|(n, k, c)| probs(n, k, c))
}

/// A pool and targets sharing K and C.
pub fn pool_and_targets(
    max_n: usize,
    max_m: usize,
    max_k: usize,
    max_c: usize,
) -> impl Strategy<Value = (Array3<f32>, Array3<f32>)> {
    (1..=max_n, 1..=max_m, 1..=max_k, 2..=max_c)
        .prop_flat_map(|(n, m, k, c)| (probs(n, k, c), probs(m, k, c)))
}

/// Rescales rows to sum to 1; an all-zero row becomes uniform.
pub fn normalise(mut p: Array3<f32>) -> Array3<f32> {
    for mut row in p.rows_mut() {
        let sum: f32 = row.sum();
        if sum > 0.0 {
            row.mapv_inplace(|v| v / sum);
        } else {
            let c = row.len() as f32;
            row.fill(1.0 / c);
        }
    }
    p
}

fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .map(|&v| if v > 0.0 { v * v.ln() } else { 0.0 })
        .sum::<f64>()
}

fn mean_over_samples(p: ArrayView3<'_, f32>, n: usize) -> Vec<f64> {
    let (_, k, c) = p.dim();
    (0..c)
        .map(|y| (0..k).map(|s| f64::from(p[[n, s, y]])).sum::<f64>() / k as f64)
        .collect()
}

/// H[p̄(y|x_n)] in f64.
pub fn oracle_entropy(p: ArrayView3<'_, f32>) -> Array1<f64> {
    (0..p.dim().0)
        .map(|n| entropy(&mean_over_samples(p, n)))
        .collect()
}

/// BALD by definition: H[p̄] − mean_k H[p_k], f64.
pub fn oracle_bald(p: ArrayView3<'_, f32>) -> Array1<f64> {
    let (n, k, c) = p.dim();
    (0..n)
        .map(|i| {
            let conditional: f64 = (0..k)
                .map(|s| entropy(&(0..c).map(|y| f64::from(p[[i, s, y]])).collect::<Vec<_>>()))
                .sum::<f64>()
                / k as f64;
            entropy(&mean_over_samples(p, i)) - conditional
        })
        .collect()
}

/// EPIG by definition, with explicit loops over every (x, x*) pair and every (y, y*),
/// all in f64.
pub fn oracle_epig(pool: ArrayView3<'_, f32>, targets: ArrayView3<'_, f32>) -> Array1<f64> {
    let (n, k, c) = pool.dim();
    let m = targets.dim().0;
    (0..n)
        .map(|i| {
            let mut total = 0.0;
            for t in 0..m {
                let mut joint = vec![0.0f64; c * c];
                for s in 0..k {
                    for y in 0..c {
                        for ys in 0..c {
                            joint[y * c + ys] += f64::from(pool[[i, s, y]])
                                * f64::from(targets[[t, s, ys]])
                                / k as f64;
                        }
                    }
                }
                let h_y = entropy(&mean_over_samples(pool, i));
                let h_ys = entropy(&mean_over_samples(targets, t));
                total += h_y + h_ys - entropy(&joint);
            }
            total / m as f64
        })
        .collect()
}

/// Deterministic random probabilities `[n, k, c]` (normalised uniform weights with some
/// sharpened rows), for fixed cases larger than proptest explores.
pub fn random_probs(n: usize, k: usize, c: usize, seed: u64) -> Array3<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let raw: Vec<f32> = (0..n * k * c)
        .map(|_| {
            let u: f32 = rng.random();
            u.powi(rng.random_range(1..6))
        })
        .collect();
    normalise(Array3::from_shape_vec((n, k, c), raw).unwrap())
}

/// Scores of a pool with ties, zeros and negatives mixed in (power clamps the last two),
/// and the boundaries of an arbitrary split of it into shards: sorted cut points in
/// `0..=n`, repeats allowed (empty shards).
pub fn scores_and_cuts(max_n: usize) -> impl Strategy<Value = (Vec<f32>, Vec<usize>)> {
    (1..=max_n).prop_flat_map(|n| {
        let scores = proptest::collection::vec(
            prop_oneof![
                6 => 0.0f32..1.0,
                1 => Just(0.0f32),
                1 => Just(0.5f32),
                1 => -1.0f32..0.0,
            ],
            n,
        );
        let cuts = proptest::collection::vec(0..=n, 0..6).prop_map(|mut cuts| {
            cuts.sort_unstable();
            cuts
        });
        (scores, cuts)
    })
}

/// The shards `(offset, len)` that `cuts` split `0..n` into, in pool order.
pub fn shards(n: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(n);
    bounds.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}
