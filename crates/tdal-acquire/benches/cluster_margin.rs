//! Criterion benches for Cluster-Margin at the F+MNIST pool size, N = 61,200: the one-off
//! clustering (d = 128, subsample 1,000, 50 clusters) and one round's selection (C = 3,
//! B = 10).
//!
//! `cargo bench -p tdal-acquire --bench cluster_margin`

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Clusters, DEFAULT_MARGIN_FACTOR, DEFAULT_SUBSAMPLE, cluster_margin};

const N: usize = 61_200;
const D: usize = 128;
const CLUSTERS: usize = 50;
const C: usize = 3;
const B: usize = 10;

/// Gaussian-ish embeddings around 50 random centres, so the clustering has structure.
fn embeddings(seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = Array2::from_shape_simple_fn((CLUSTERS, D), || rng.random::<f32>() * 4.0);
    let mut points = Array2::zeros((N, D));
    for (n, mut row) in points.rows_mut().into_iter().enumerate() {
        let centre = centres.row(n % CLUSTERS);
        for (v, &c) in row.iter_mut().zip(&centre) {
            *v = c + rng.random::<f32>() - 0.5;
        }
    }
    points
}

/// Random normalised probabilities `[N, C]`.
fn probs(seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array2::from_shape_simple_fn((N, C), || rng.random::<f32>() + 1e-3);
    for mut row in p.rows_mut() {
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

fn fit(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster_margin");
    group.sample_size(10);
    let points = embeddings(1);
    group.bench_with_input(BenchmarkId::new("fit", N), &points, |b, points| {
        b.iter(|| Clusters::fit(points.view(), CLUSTERS, DEFAULT_SUBSAMPLE, 0).unwrap());
    });

    let clusters = Clusters::fit(points.view(), CLUSTERS, DEFAULT_SUBSAMPLE, 0).unwrap();
    let probs = probs(2);
    // A mid-run pool: every tenth input labelled.
    let candidates: Vec<usize> = (0..N).filter(|n| n % 10 != 0).collect();
    group.bench_with_input(BenchmarkId::new("select", N), &probs, |b, probs| {
        b.iter_batched(
            || candidates.clone(),
            |candidates| {
                cluster_margin(
                    &clusters,
                    probs.view(),
                    &candidates,
                    B,
                    DEFAULT_MARGIN_FACTOR,
                )
                .unwrap()
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, fit);
criterion_main!(benches);
