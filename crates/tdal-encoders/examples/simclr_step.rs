//! Training-step throughput of the SimCLR and supervised networks on the shapes of the
//! PyTorch reference (`step_bench.py`, see docs/PERFORMANCE.md): inputs 1 × 32 × 32.
//!
//! - `simclr-cnn`: the small CNN + `Linear(256, 128)` projection, NT-Xent (τ = 0.2) over 2
//!   views of 128 images, one LARS step: views/s (256 views per step).
//! - `resnet18`: the CIFAR-style ResNet-18, the same SimCLR step: views/s.
//! - `sup-cnn`: TD-FT's network on the small CNN (projection 256 → 256, guidance
//!   classifier 256 → 128 → 3), cross-entropy, one LARS step, batch 200: images/s.
//! - `embed`: eval-mode features of the small CNN for 61,200 images (one TD-FT re-embedding
//!   of the F+MNIST pool).
//!
//! `cargo run --release -p tdal-encoders --example simclr_step [-- --steps N] [--only NAME] [--device cpu|cuda:N]`
//! (`cuda:N` needs `--features cuda`; the inputs are made on that device).
//! `TDAL_KERNELS=portable` keeps the AVX2 kernels on an AVX-512 CPU (`tdal_encoders::kernels`).
#![allow(clippy::print_stdout, missing_docs)]

use std::time::Instant;

use candle_core::Tensor;
use mimalloc::MiMalloc;
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_encoders::simclr::{LabelledImages, ViewPair};
use tdal_encoders::{
    Backbone, DeviceChoice, Embedder, FineTuneConfig, FineTuneModel, FitConfig, SimclrConfig,
    SimclrModel, Trainable,
};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn random_images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * 32 * 32)
        .map(|_| rng.random_range(0.0..1.0))
        .collect()
}

/// Runs `step` `n` times after `warm` warm-up calls; returns seconds per call.
fn time(n: usize, warm: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..warm {
        step();
    }
    let start = Instant::now();
    for _ in 0..n {
        step();
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn report(name: &str, batch: usize, unit: &str, seconds: f64) {
    println!(
        "{{\"model\": \"{name}\", \"batch\": {batch}, \"ms_per_step\": {:.1}, \"items_per_s\": {:.1}, \"unit\": \"{unit}\", \"threads\": {}, \"kernels\": \"{}\"}}",
        seconds * 1e3,
        batch as f64 / seconds,
        rayon::current_num_threads(),
        tdal_encoders::kernels::in_use()
    );
}

fn simclr_step(backbone: Backbone, steps: usize, device: DeviceChoice) -> f64 {
    let cfg = SimclrConfig {
        backbone,
        projection_dim: 128,
        ..SimclrConfig::default()
    };
    let mut model = SimclrModel::new(&cfg, 0, device).unwrap();
    let views = Tensor::from_vec(
        random_images(256, 1),
        (256, 1, 32, 32),
        &device.open().unwrap(),
    )
    .unwrap();
    let batch = (ViewPair(views), 0.2);
    let fit = FitConfig {
        epochs: 1,
        batch_size: 128,
        learning_rate: 2.26,
        seed: 0,
    };
    let mut optimiser = model.optimiser_for(&fit, 1000).unwrap();
    time(steps, 3, || {
        model.step(&mut optimiser, &batch).unwrap();
    })
}

fn supervised_step(steps: usize, device: DeviceChoice) -> f64 {
    let cfg = FineTuneConfig {
        simclr: SimclrConfig::default(),
        hidden_dim: 128,
        classes: 3,
    };
    let mut model = FineTuneModel::new(&cfg, 0, device).unwrap();
    let on = device.open().unwrap();
    let images = Tensor::from_vec(random_images(200, 2), (200, 1, 32, 32), &on).unwrap();
    let labels: Vec<u32> = (0..200).map(|i| i % 3).collect();
    let batch = LabelledImages {
        images,
        labels: Tensor::from_vec(labels, 200, &on).unwrap(),
    };
    let fit = FitConfig {
        epochs: 1,
        batch_size: 200,
        learning_rate: 0.11,
        seed: 0,
    };
    let mut optimiser = model.optimiser_for(&fit, 1000).unwrap();
    time(steps, 3, || {
        model.step(&mut optimiser, &batch).unwrap();
    })
}

fn main() {
    // Freed training buffers are reused, not returned to the OS and faulted back in.
    tdal_encoders::allocator::keep_freed_memory();
    tdal_encoders::kernels::from_env().expect("TDAL_KERNELS");
    let args: Vec<String> = std::env::args().collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let device: DeviceChoice = args
        .iter()
        .position(|a| a == "--device")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(DeviceChoice::Cpu), |d| d.parse())
        .expect("--device cpu or cuda:N");
    if wanted("simclr-cnn") {
        report(
            "simclr-cnn",
            256,
            "views",
            simclr_step(Backbone::SmallCnn, steps, device),
        );
    }
    if wanted("resnet18") {
        report(
            "resnet18",
            256,
            "views",
            simclr_step(Backbone::ResNet18, (steps / 4).max(3), device),
        );
    }
    if wanted("sup-cnn") {
        report("sup-cnn", 200, "images", supervised_step(steps, device));
    }
    if wanted("embed") {
        let model = SimclrModel::new(&SimclrConfig::default(), 0, device).unwrap();
        let n = 61_200;
        let pool = Array4::from_shape_vec((n, 1, 32, 32), random_images(n, 3)).unwrap();
        let seconds = time(1, 0, || {
            model.embed(pool.view()).unwrap();
        });
        report("embed-small-cnn", n, "images", seconds);
    }
}
