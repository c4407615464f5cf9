//! Random forest fit and per-tree predict at the sizes of the scikit-learn comparison in
//! docs/PERFORMANCE.md: 250 trees on 2,000 × 10, 20,000 × 10 and 2,000 × 512 Gaussian
//! mixtures (3 classes, informative first 10 dimensions), per-tree probabilities of
//! 60,000 test rows → [60000, 250, 3].
//!
//! `cargo bench -p tdal-heads --bench forest`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{Array2, s};
use tdal_heads::{ForestParams, RandomForest};

const SIZES: [(usize, usize); 3] = [(2_000, 10), (20_000, 10), (2_000, 512)];
const TEST_ROWS: usize = 60_000;

fn means(features: usize) -> Array2<f32> {
    let informative = common::mixture_means(10, 3, 3.0, 0);
    let mut means = Array2::zeros((3, features));
    means.slice_mut(s![.., ..10]).assign(&informative);
    means
}

fn forest() -> RandomForest {
    RandomForest::new(ForestParams {
        n_trees: 250,
        posterior_samples: 100,
        ..ForestParams::default()
    })
    .expect("valid parameters")
}

fn bench_forest(c: &mut Criterion) {
    let mut fit = c.benchmark_group("forest_fit_250_trees");
    fit.sample_size(10).warm_up_time(Duration::from_secs(1));
    for (rows, features) in SIZES {
        let train = common::sample_mixture(&means(features), rows, 1);
        fit.bench_function(
            BenchmarkId::from_parameter(format!("{rows}x{features}")),
            |b| {
                b.iter(|| {
                    let mut model = forest();
                    model.fit_seeded(train.x.view(), &train.y, 0).unwrap();
                    black_box(model)
                });
            },
        );
    }
    fit.finish();

    let mut predict = c.benchmark_group("forest_predict_per_tree_60000_rows");
    predict.sample_size(10).warm_up_time(Duration::from_secs(1));
    for (rows, features) in SIZES {
        let train = common::sample_mixture(&means(features), rows, 1);
        let test = common::sample_mixture(&means(features), TEST_ROWS, 2);
        let mut model = forest();
        model.fit_seeded(train.x.view(), &train.y, 0).unwrap();
        predict.bench_function(
            BenchmarkId::from_parameter(format!("{rows}x{features}")),
            |b| {
                b.iter(|| black_box(model.predict_per_tree(test.x.view()).unwrap()));
            },
        );
    }
    predict.finish();
}

criterion_group!(benches, bench_forest);
criterion_main!(benches);
