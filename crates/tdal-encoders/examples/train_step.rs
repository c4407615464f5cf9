//! Images per second of a full training step at batch 200 (forward, backward, Adam) for the
//! US VAE and a TD-SPLIT labelled step, and of `embed` on 61,200 images, with wall time and
//! the CPU time of all threads (`/proc/self/task/*/schedstat`), so that runs on a busy
//! machine can be read: with two threads busy, `CPU s / 2` estimates the idle wall time.
//!
//! `cargo run --release -p tdal-encoders --example train_step [-- --steps N] [--builtin] [--only vae|split|graph|embed]`
//!
//! Sections: `vae` and `split` time the training loops themselves (`train_vae`,
//! `train_split`: the CPU path); `graph` times a step through candle's autograd with the
//! fused ops and candle-nn's `AdamW` (what other devices use), and with `--builtin` also
//! through candle's built-in layers (the code before the fused ops), in the same process
//! for a side-by-side under the same load; `embed` embeds 61,200 images.
#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use candle_core::{D, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use mimalloc::MiMalloc;
use ndarray::{Array4, Axis, s};
use tdal_encoders::{
    DeviceChoice, Embedder, SplitConfig, SplitModel, SplitTrainConfig, Vae, VaeConfig, VaeModel,
    VaeTrainConfig, bce_with_logits, prepare_images, train_split, train_vae,
};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const BATCH: usize = 200;

/// CPU time of all threads of this process, in seconds.
fn cpu_seconds() -> f64 {
    let mut ns = 0_u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                ns += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 * 1e-9
}

/// Runs `step` `n` times after two warm-up calls; returns (wall s, CPU s) per call.
fn time(n: usize, mut step: impl FnMut()) -> (f64, f64) {
    step();
    step();
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..n {
        step();
    }
    (
        wall.elapsed().as_secs_f64() / n as f64,
        (cpu_seconds() - cpu) / n as f64,
    )
}

fn report(name: &str, images: usize, (wall, cpu): (f64, f64)) {
    println!(
        "{name:<34} wall {:>8.1} ms  {:>7.0} img/s | CPU {:>8.1} ms  {:>7.0} img/s per CPU-s (×2 threads: {:>7.0})",
        wall * 1e3,
        images as f64 / wall,
        cpu * 1e3,
        images as f64 / cpu,
        2.0 * images as f64 / cpu,
    );
}

fn adam(varmap: &candle_nn::VarMap, lr: f64) -> AdamW {
    AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
    .unwrap()
}

/// The negative ELBO through candle's built-in layers (the pre-fused implementation).
fn builtin_loss(vae: &Vae, x: &Tensor, eps: &Tensor) -> Tensor {
    let latent = vae.config().latent_dim;
    let both = vae.encoder.forward_builtin(x).unwrap();
    let mean = both.narrow(1, 0, latent).unwrap();
    let log_var = both.narrow(1, latent, latent).unwrap();
    let z = (&mean + (eps * (&log_var * 0.5).unwrap().exp().unwrap()).unwrap()).unwrap();
    let logits = vae.decoder.forward_builtin(&z).unwrap();
    let rec = bce_with_logits(&logits, x)
        .unwrap()
        .flatten_from(1)
        .unwrap()
        .sum(1)
        .unwrap()
        .mean(0)
        .unwrap();
    let kl = (((mean.sqr().unwrap() + log_var.exp().unwrap()).unwrap() - 1.0).unwrap() - &log_var)
        .unwrap()
        .sum(D::Minus1)
        .unwrap()
        .mean(0)
        .unwrap();
    (rec + (kl * 0.5).unwrap()).unwrap()
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
    let builtin = args.iter().any(|a| a == "--builtin");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    println!(
        "rayon threads: {}; {steps} timed steps each; kernels: {}",
        rayon::current_num_threads(),
        tdal_encoders::kernels::in_use()
    );

    let fixture = common::fashion_train().images;
    let cfg = VaeConfig::default();
    let model = VaeModel::new(&cfg, 0, DeviceChoice::Cpu).unwrap();
    let batch = fixture.slice(s![..BATCH, .., .., ..]).to_owned();
    let padded = prepare_images(batch.view(), &cfg).unwrap().into_owned();
    let x = Tensor::from_vec(
        padded.iter().copied().collect::<Vec<f32>>(),
        (BATCH, 1, 32, 32),
        model.device(),
    )
    .unwrap();
    let noise: Vec<f32> = (0..BATCH * cfg.latent_dim)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let eps = Tensor::from_vec(noise, (BATCH, cfg.latent_dim), model.device()).unwrap();

    // The training loops themselves (batch assembly, noise, step, Adam): one epoch over
    // `steps` batches of fixture images.
    let train_images = Array4::from_shape_fn((steps * BATCH, 1, 28, 28), |(i, c, h, w)| {
        fixture[[i % fixture.len_of(Axis(0)), c, h, w]]
    });
    if wanted("vae") {
        let mut trained = VaeModel::new(&cfg, 0, DeviceChoice::Cpu).unwrap();
        let run = VaeTrainConfig {
            epochs: 1,
            ..VaeTrainConfig::default()
        };
        let (wall, cpu) = time(1, || {
            train_vae(&mut trained, train_images.view(), &run).unwrap();
        });
        report(
            "train_vae step (CPU path)",
            BATCH,
            (wall / steps as f64, cpu / steps as f64),
        );
    }
    if wanted("split") {
        let mut trained = SplitModel::new(&SplitConfig::default(), 0, DeviceChoice::Cpu).unwrap();
        let labelled = train_images.slice(s![..BATCH, .., .., ..]);
        let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 3).collect();
        let run = SplitTrainConfig::default();
        let (wall, cpu) = time(1, || {
            train_split(&mut trained, train_images.view(), labelled, &labels, &run).unwrap();
        });
        // `steps` unlabelled and `steps` labelled steps (AfterEvery(1)).
        let per = (2 * steps) as f64;
        report(
            "train_split step (CPU path)",
            BATCH,
            (wall / per, cpu / per),
        );
    }

    if wanted("graph") {
        let mut opt = adam(model.varmap(), 5e-4);
        report(
            "VAE step (autograd, fused ops)",
            BATCH,
            time(steps, || {
                let loss = model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap();
                opt.backward_step(&loss).unwrap();
            }),
        );
        report(
            "VAE forward (fused ops)",
            BATCH,
            time(steps, || {
                std::hint::black_box(model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap());
            }),
        );
        report(
            "VAE fwd+bwd (autograd, fused ops)",
            BATCH,
            time(steps, || {
                let loss = model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap();
                std::hint::black_box(loss.backward().unwrap());
            }),
        );
        if builtin {
            report(
                "VAE step (candle built-in layers)",
                BATCH,
                time(steps.div_ceil(4), || {
                    let loss = builtin_loss(model.vae(), &x, &eps);
                    opt.backward_step(&loss).unwrap();
                }),
            );
        }
    }

    if wanted("embed") {
        let pool_size = 61_200;
        let n = fixture.len_of(Axis(0));
        let pool = Array4::from_shape_fn((pool_size, 1, 28, 28), |(i, c, h, w)| {
            fixture[[i % n, c, h, w]]
        });
        report(
            "embed 61,200 images (batch 500)",
            pool_size,
            time(1, || {
                std::hint::black_box(model.embed(pool.view()).unwrap());
            }),
        );
    }
}
