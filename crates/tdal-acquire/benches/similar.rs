//! Criterion benches for SIMILAR (FLQMI) at the paper's F+MNIST sizes: a pool of
//! N = 61,200 inputs, C = 3 classes and H = 128 penultimate units (embedding dimension
//! d = C·(H + 1) = 387), |Q| = 100 and 500 queries, a batch of B = 10.
//!
//! `cargo bench -p tdal-acquire --bench similar`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Flqmi, cosine_similarities, gradient_embeddings};

const N: usize = 61_200;
const C: usize = 3;
const H: usize = 128;
const B: usize = 10;

/// Random softmax outputs `[n, C]` and non-negative (ReLU-like) features `[n, H]`.
fn model_outputs(n: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut probs = Array2::from_shape_simple_fn((n, C), || rng.random::<f32>() + 1e-3);
    for mut row in probs.rows_mut() {
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    let features = Array2::from_shape_simple_fn((n, H), || rng.random::<f32>().max(0.2) - 0.2);
    (probs, features)
}

fn embedding(c: &mut Criterion) {
    let mut group = c.benchmark_group("similar");
    group.sample_size(10);
    let (probs, features) = model_outputs(N, 1);
    group.bench_function(BenchmarkId::new("gradient_embeddings", N), |b| {
        b.iter(|| gradient_embeddings(probs.view(), features.view(), None).unwrap());
    });
    group.finish();
}

fn selection(c: &mut Criterion) {
    let mut group = c.benchmark_group("similar");
    group.sample_size(10);
    let (probs, features) = model_outputs(N, 2);
    let pool = gradient_embeddings(probs.view(), features.view(), None).unwrap();
    for m in [100, 500] {
        let (probs, features) = model_outputs(m, 3);
        let labels: Vec<u32> = (0..m).map(|i| u32::try_from(i % 2).unwrap()).collect();
        let queries = gradient_embeddings(probs.view(), features.view(), Some(&labels)).unwrap();
        // End to end (similarities + lazy greedy), then the two parts alone.
        group.bench_function(BenchmarkId::new(format!("flqmi_select_q{m}"), N), |b| {
            b.iter(|| {
                Flqmi::default()
                    .select(pool.view(), queries.view(), B)
                    .unwrap()
            });
        });
        group.bench_function(
            BenchmarkId::new(format!("cosine_similarities_q{m}"), N),
            |b| {
                b.iter(|| cosine_similarities(pool.view(), queries.view()).unwrap());
            },
        );
        let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
        group.bench_function(BenchmarkId::new(format!("lazy_greedy_q{m}"), N), |b| {
            b.iter(|| {
                Flqmi::default()
                    .select_from_similarities(sims.view(), B)
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, embedding, selection);
criterion_main!(benches);
