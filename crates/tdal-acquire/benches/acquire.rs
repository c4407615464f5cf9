//! Criterion benches for the acquisition scores at the paper's F+MNIST sizes:
//! K = 100 posterior samples, C = 3 classes, M = 500 target inputs.
//!
//! `cargo bench -p tdal-acquire --bench acquire`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Kernel, Margin};

const K: usize = 100;
const C: usize = 3;
const M: usize = 500;

/// Random normalised probabilities `[n, K, C]`.
fn probs(n: usize, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array3::from_shape_simple_fn((n, K, C), || rng.random::<f32>() + 1e-3);
    for mut row in p.rows_mut() {
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

fn epig(c: &mut Criterion) {
    let mut group = c.benchmark_group("epig");
    group.sample_size(10);
    let targets = probs(M, 1);
    let epig = Epig::new(targets.clone()).unwrap();
    for n in [1_000, 10_000, 60_000] {
        let pool = probs(n, 2);
        group.bench_with_input(BenchmarkId::new("epig", n), &pool, |b, pool| {
            b.iter(|| epig.score(pool.view()).unwrap());
        });
    }
    // Every kernel at N = 60,000: the best this CPU has (`Auto`), the marginal-identity
    // kernel without AVX-512, all C² products (`FullJoint`), and the portable one.
    let pool = probs(60_000, 2);
    for (name, kernel) in [
        ("avx2", Kernel::Avx2),
        ("full-joint", Kernel::FullJoint),
        ("portable", Kernel::Portable),
    ] {
        let e = Epig::new(targets.clone()).unwrap().with_kernel(kernel);
        group.bench_with_input(BenchmarkId::new(name, 60_000), &pool, |b, pool| {
            b.iter(|| e.score(pool.view()).unwrap());
        });
    }
    group.finish();
}

fn pool_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_only");
    group.sample_size(20);
    let n = 60_000;
    let pool = probs(n, 3);
    let scorers: [(&str, &dyn Acquisition); 4] = [
        ("bald", &Bald),
        ("entropy", &Entropy),
        ("confidence", &Confidence),
        ("margin", &Margin),
    ];
    for (name, scorer) in scorers {
        group.bench_with_input(BenchmarkId::new(name, n), &pool, |b, pool| {
            b.iter(|| scorer.score(pool.view()).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, epig, pool_only);
criterion_main!(benches);
