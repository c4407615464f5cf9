//! Reading the full F+MNIST sources and building the messy pool (goal: < 2 s in release).
//!
//! Needs `TDAL_DATA_DIR` (a data directory holding `mnist/` and `fashion-mnist/`, laid out
//! as README.md describes); without it the bench prints that it was skipped and exits
//! successfully.
//!
//! `TDAL_DATA_DIR=DATA cargo bench -p tdal-data --bench pool`

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, BenchmarkId, Criterion};
use tdal_data::named::{Dataset, PoolOptions, load_sources, spec};
use tdal_data::{build_named, build_pool};

fn bench_pool(c: &mut Criterion, dir: &Path) {
    let options = PoolOptions::default();
    let mut group = c.benchmark_group("fmnist");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("read_sources", "full"), |b| {
        b.iter(|| black_box(load_sources(Dataset::Fmnist, dir, &options).unwrap()));
    });
    let sources = load_sources(Dataset::Fmnist, dir, &options).unwrap();
    let pool_spec = spec(Dataset::Fmnist, &sources, &options);
    group.bench_function(BenchmarkId::new("build_pool", "61200"), |b| {
        b.iter_batched(
            || pool_spec.clone(),
            |s| black_box(build_pool(&sources, &s).unwrap()),
            BatchSize::LargeInput,
        );
    });
    group.bench_function(BenchmarkId::new("read_and_build", "61200"), |b| {
        b.iter(|| black_box(build_named(Dataset::Fmnist, dir, &options).unwrap()));
    });
    group.finish();
}

fn main() {
    let Some(dir) = std::env::var_os("TDAL_DATA_DIR").map(PathBuf::from) else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "pool bench skipped: set TDAL_DATA_DIR to a folder holding mnist/ and fashion-mnist/"
            );
        }
        return;
    };
    let mut criterion = Criterion::default().configure_from_args();
    bench_pool(&mut criterion, &dir);
    criterion.final_summary();
}
