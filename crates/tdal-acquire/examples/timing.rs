//! Times each score once on F+MNIST-sized inputs (N = 60,000, K = 100, C = 3, M = 500):
//! `cargo run --release -p tdal-acquire --example timing [N]`.

use std::time::Instant;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Margin, check_probs};

fn probs(n: usize, k: usize, c: usize, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array3::from_shape_simple_fn((n, k, c), || rng.random::<f32>() + 1e-3);
    for mut row in p.rows_mut() {
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[allow(clippy::print_stdout)]
fn main() {
    components();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60_000);
    let (k, c, m) = (100, 3, 500);
    let pool = probs(n, k, c, 1);
    let targets = probs(m, k, c, 2);
    let epig = Epig::new(targets).unwrap();
    println!("threads {}", rayon::current_num_threads());
    println!(
        "check_probs {:.4}s",
        best_of(5, || check_probs(pool.view(), "pool", 1e-3))
    );
    println!(
        "entropy     {:.4}s",
        best_of(5, || Entropy.score(pool.view()).unwrap())
    );
    println!(
        "confidence  {:.4}s",
        best_of(5, || Confidence.score(pool.view()).unwrap())
    );
    println!(
        "margin      {:.4}s",
        best_of(5, || Margin.score(pool.view()).unwrap())
    );
    println!(
        "bald        {:.4}s",
        best_of(5, || Bald.score(pool.view()).unwrap())
    );
    println!(
        "epig        {:.4}s  plan {:?}",
        best_of(3, || epig.score(pool.view()).unwrap()),
        epig.plan(n).unwrap()
    );
}

#[allow(dead_code, clippy::print_stdout)]
pub fn components() {
    use ndarray::Array2;
    let a = Array2::<f32>::from_elem((174, 100), 0.01);
    let b = Array2::<f32>::from_elem((100, 1500), 0.01);
    let mut c = Array2::<f32>::zeros((174, 1500));
    let t = best_of(3, || {
        for _ in 0..100 {
            ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        }
    });
    println!(
        "gemm 100 blocks single thread {t:.4}s → {:.1} GFLOP/s",
        100.0 * 174.0 * 100.0 * 1500.0 * 2.0 / t / 1e9
    );
    let v = vec![0.3f32; 174 * 1500];
    let t = best_of(3, || {
        let mut s = 0.0;
        for _ in 0..100 {
            s += tdal_acquire::xlogx::sum_xlogx(&v);
        }
        s
    });
    println!(
        "xlogx 100 blocks single thread {t:.4}s → {:.2} ns/elem",
        t / (100.0 * 174.0 * 1500.0) * 1e9
    );
}
