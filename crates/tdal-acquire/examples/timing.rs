//! Times each score once on F+MNIST-sized inputs (N = 60,000, K = 100, C = 3, M = 500):
//! `cargo run --release -p tdal-acquire --example timing [N]`.

use std::time::Instant;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Kernel, Margin, check_probs};

fn probs(n: usize, k: usize, c: usize, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array3::from_shape_simple_fn((n, k, c), || rng.random::<f32>() + 1e-3);
    for mut row in p.rows_mut() {
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

/// CPU time of all threads of this process (Linux: /proc/self/task/*/schedstat, ns).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum();
    ns as f64 * 1e-9
}

/// Best wall time of `runs` runs, and the CPU seconds of that run (all threads): on a busy
/// machine CPU time / threads estimates the wall time on an idle one.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> String {
    let (wall, cpu) = (0..runs)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_seconds());
            std::hint::black_box(f());
            (t.elapsed().as_secs_f64(), cpu_seconds() - c)
        })
        .fold((f64::INFINITY, f64::INFINITY), |a, b| {
            (a.0.min(b.0), a.1.min(b.1))
        });
    format!("wall {wall:.4}s cpu {cpu:.4}s")
}

#[allow(clippy::print_stdout)]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60_000);
    let (k, c, m) = (100, 3, 500);
    let pool = probs(n, k, c, 1);
    let targets = probs(m, k, c, 2);
    let epig = Epig::new(targets.clone()).unwrap();
    let avx2 = Epig::new(targets.clone())
        .unwrap()
        .with_kernel(Kernel::Avx2);
    let full = Epig::new(targets.clone())
        .unwrap()
        .with_kernel(Kernel::FullJoint);
    let portable = Epig::new(targets).unwrap().with_kernel(Kernel::Portable);
    println!(
        "N={n} K={k} C={c} M={m}, {} threads",
        rayon::current_num_threads()
    );
    #[cfg(target_arch = "x86_64")]
    println!("one-core AVX2 FMA peak: {:.1} GFLOP/s", fma_peak_gflops());
    println!(
        "check_probs    {}",
        best_of(5, || check_probs(pool.view(), "pool", 1e-3))
    );
    println!(
        "entropy        {}",
        best_of(5, || Entropy.score(pool.view()).unwrap())
    );
    println!(
        "confidence     {}",
        best_of(5, || Confidence.score(pool.view()).unwrap())
    );
    println!(
        "margin         {}",
        best_of(5, || Margin.score(pool.view()).unwrap())
    );
    println!(
        "bald           {}",
        best_of(5, || Bald.score(pool.view()).unwrap())
    );
    println!(
        "epig auto      {}  {:?}",
        best_of(3, || epig.score(pool.view()).unwrap()),
        epig.plan(n).unwrap()
    );
    println!(
        "epig avx2      {}  {:?}",
        best_of(3, || avx2.score(pool.view()).unwrap()),
        avx2.plan(n).unwrap()
    );
    println!(
        "epig full C²   {}  {:?}",
        best_of(3, || full.score(pool.view()).unwrap()),
        full.plan(n).unwrap()
    );
    println!(
        "epig portable  {}  {:?}",
        best_of(3, || portable.score(pool.view()).unwrap()),
        portable.plan(n).unwrap()
    );
}

/// Peak FMA throughput of one core: 12 independent AVX2 accumulators, no memory traffic.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn fma_peak_gflops() -> f64 {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps};
    #[target_feature(enable = "avx2,fma")]
    fn run(iters: usize) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc: [__m256; 12] = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]) };
        lanes.iter().sum()
    }
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        return f64::NAN;
    }
    let iters = 50_000_000;
    let t = Instant::now();
    // SAFETY: AVX2 and FMA checked just above.
    std::hint::black_box(unsafe { run(iters) });
    (iters * 12 * 8 * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}
