//! Shared test data: Gaussian mixtures with a computable Bayes classifier, and proptest
//! strategies for small labelled data sets.

#![allow(dead_code)]

use ndarray::Array2;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A labelled sample from an equal-weight mixture of unit-covariance Gaussians.
pub struct Mixture {
    pub x: Array2<f32>,
    pub y: Vec<u32>,
}

/// Class means for `classes` Gaussians in `features` dimensions: random directions
/// scaled to norm `separation`.
pub fn mixture_means(features: usize, classes: usize, separation: f32, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means = Array2::<f32>::zeros((classes, features));
    for mut row in means.rows_mut() {
        row.mapv_inplace(|_| rng.sample::<f32, _>(StandardNormal));
        let norm = row.dot(&row).sqrt().max(1e-6);
        row.mapv_inplace(|v| v * separation / norm);
    }
    means
}

/// Draws `rows` labelled points from the mixture with the given means.
pub fn sample_mixture(means: &Array2<f32>, rows: usize, seed: u64) -> Mixture {
    let (classes, features) = means.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::<f32>::zeros((rows, features));
    let mut y = Vec::with_capacity(rows);
    for mut row in x.rows_mut() {
        let class = rng.random_range(0..classes);
        for (value, &mean) in row.iter_mut().zip(means.row(class)) {
            *value = mean + rng.sample::<f32, _>(StandardNormal);
        }
        y.push(class as u32);
    }
    Mixture { x, y }
}

/// The Bayes-optimal class for each row (equal priors, identity covariance: the nearest
/// mean).
pub fn bayes_predictions(means: &Array2<f32>, x: &Array2<f32>) -> Vec<u32> {
    x.rows()
        .into_iter()
        .map(|row| {
            let mut best = (f32::INFINITY, 0);
            for (class, mean) in means.rows().into_iter().enumerate() {
                let distance: f32 = row.iter().zip(mean).map(|(a, b)| (a - b) * (a - b)).sum();
                if distance < best.0 {
                    best = (distance, class as u32);
                }
            }
            best.1
        })
        .collect()
}

/// Fraction of equal entries.
pub fn accuracy(predicted: &[u32], truth: &[u32]) -> f64 {
    let hits = predicted.iter().zip(truth).filter(|(a, b)| a == b).count();
    hits as f64 / truth.len() as f64
}

/// Argmax of each row.
pub fn argmax_rows(probs: &Array2<f32>) -> Vec<u32> {
    probs
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = (f32::NEG_INFINITY, 0);
            for (class, &p) in row.iter().enumerate() {
                if p > best.0 {
                    best = (p, class as u32);
                }
            }
            best.1
        })
        .collect()
}

/// A small labelled data set: `rows` in 2..40, 1..5 features with few distinct values
/// (so ties happen), labels in `0..classes` with classes in 2..=6 (the fixed-width and the general
/// output paths).
pub fn small_dataset() -> impl Strategy<Value = (Array2<f32>, Vec<u32>, usize)> {
    (2_usize..40, 1_usize..5, 2_usize..7).prop_flat_map(|(rows, features, classes)| {
        (
            proptest::collection::vec(-4_i32..5, rows * features),
            proptest::collection::vec(0..classes as u32, rows),
        )
            .prop_map(move |(values, labels)| {
                let x = Array2::from_shape_vec(
                    (rows, features),
                    values.into_iter().map(|v| v as f32 * 0.5).collect(),
                )
                .expect("shape matches the generated length");
                (x, labels, classes)
            })
    })
}
