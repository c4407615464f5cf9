//! Criterion bench for GALAXY at the paper's F+MNIST pool size: N = 61,200 inputs,
//! B = 10 queries, ~100 labelled inputs; C = 3 (the F+MNIST classes) and C = 11.
//!
//! `cargo bench -p tdal-acquire --bench galaxy`

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Galaxy, GalaxyParams};

const N: usize = 61_200;
const B: usize = 10;
const LABELLED: usize = 100;

/// A pool of `classes` classes: true labels, ~imbalanced (the last class is the "other"
/// majority), probabilities peaked on the true class with noise, and `LABELLED` random
/// inputs labelled.
fn pool(classes: usize, seed: u64) -> (Array2<f32>, Vec<u32>, Vec<Option<u32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let truth: Vec<u32> = (0..N)
        .map(|_| {
            if rng.random::<f32>() < 0.8 {
                (classes - 1) as u32
            } else {
                rng.random_range(0..classes as u32)
            }
        })
        .collect();
    let mut probs = Array2::from_shape_fn((N, classes), |_| rng.random::<f32>());
    for (mut row, &t) in probs.rows_mut().into_iter().zip(&truth) {
        row[t as usize] += 1.5 * rng.random::<f32>();
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    let mut labels = vec![None; N];
    while labels.iter().filter(|l| l.is_some()).count() < LABELLED {
        let i = rng.random_range(0..N);
        labels[i] = Some(truth[i]);
    }
    (probs, truth, labels)
}

fn galaxy(c: &mut Criterion) {
    let mut group = c.benchmark_group("galaxy");
    group.sample_size(20);
    for classes in [3, 11] {
        let (probs, truth, labels) = pool(classes, 1);
        group.bench_with_input(
            BenchmarkId::new(format!("select_b{B}_c{classes}"), N),
            &(probs, truth, labels),
            |b, (probs, truth, labels)| {
                b.iter_batched(
                    || Galaxy::new(GalaxyParams::default()).unwrap(),
                    |mut galaxy| {
                        galaxy
                            .select(probs.view(), labels, B, &mut |i| Ok(truth[i]))
                            .unwrap()
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, galaxy);
criterion_main!(benches);
