//! One training step of the Burgess VAE (the default sizes of `VaeConfig`: 32×32×1, 32 channels, FC 256,
//! |z| = 10) at batch 200 on the CPU, plus the batched embedding. Throughput is in images
//! per second, comparable to the PyTorch figure in docs/PERFORMANCE.md.
//!
//! - `train_vae_step`: one step as `train_vae` takes it on the CPU (batch gathering,
//!   noise, the hand-differentiated fused step, Adam), by training one epoch of 200 images;
//! - `train_split_step`: one unlabelled and one labelled TD-SPLIT step (`train_split`,
//!   `AfterEvery(1)`), reported per image of both;
//! - `train_step`, `forward_loss`, `forward_backward`: the same step through candle's
//!   autograd (`Vae::loss`, with the fused ops) and candle-nn's `AdamW`, the path other
//!   devices take;
//! - `embed`: posterior means of 200 images.
//!
//! The global allocator is mimalloc, as in the `tdal` binary.
//!
//! `cargo bench -p tdal-encoders --bench vae`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use ndarray::{Axis, s};
use tdal_encoders::{
    DeviceChoice, Embedder, SplitConfig, SplitModel, SplitTrainConfig, VaeConfig, VaeModel,
    VaeTrainConfig, prepare_images, train_split, train_vae,
};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const BATCH: usize = 200;

fn inputs(model: &VaeModel) -> (ndarray::Array4<f32>, Tensor, Tensor) {
    let images = common::fashion_train()
        .images
        .slice_move(s![..BATCH, .., .., ..]);
    let padded = prepare_images(images.view(), model.vae().config())
        .unwrap()
        .into_owned();
    let x = Tensor::from_vec(
        padded.iter().copied().collect::<Vec<f32>>(),
        (BATCH, 1, 32, 32),
        model.device(),
    )
    .unwrap();
    let latent = model.vae().config().latent_dim;
    let noise: Vec<f32> = (0..BATCH * latent)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let eps = Tensor::from_vec(noise, (BATCH, latent), model.device()).unwrap();
    (images, x, eps)
}

fn vae(c: &mut Criterion) {
    let model = VaeModel::new(&VaeConfig::default(), 0, DeviceChoice::Cpu).unwrap();
    let (images, x, eps) = inputs(&model);
    let mut optimiser = AdamW::new(
        model.varmap().all_vars(),
        ParamsAdamW {
            lr: 5e-4,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
    .unwrap();
    let mut group = c.benchmark_group("vae_batch200");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(BATCH as u64));
    let mut trained = VaeModel::new(&VaeConfig::default(), 0, DeviceChoice::Cpu).unwrap();
    let one_epoch = VaeTrainConfig {
        epochs: 1,
        ..VaeTrainConfig::default()
    };
    group.bench_function("train_vae_step", |b| {
        b.iter(|| black_box(train_vae(&mut trained, images.view(), &one_epoch).unwrap()));
    });
    let mut split = SplitModel::new(&SplitConfig::default(), 0, DeviceChoice::Cpu).unwrap();
    let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 3).collect();
    group.throughput(Throughput::Elements(2 * BATCH as u64));
    group.bench_function("train_split_step", |b| {
        b.iter(|| {
            black_box(
                train_split(
                    &mut split,
                    images.view(),
                    images.view(),
                    &labels,
                    &SplitTrainConfig::default(),
                )
                .unwrap(),
            )
        });
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("train_step", |b| {
        b.iter(|| {
            let loss = model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap();
            optimiser.backward_step(&loss).unwrap();
            black_box(loss);
        });
    });
    group.bench_function("forward_loss", |b| {
        b.iter(|| black_box(model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap()));
    });
    group.bench_function("forward_backward", |b| {
        b.iter(|| {
            let loss = model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap();
            black_box(loss.backward().unwrap());
        });
    });
    group.bench_function("embed", |b| {
        b.iter(|| black_box(model.embed(images.view()).unwrap()));
    });
    group.finish();
    assert_eq!(images.len_of(Axis(0)), BATCH);
}

criterion_group!(benches, vae);
criterion_main!(benches);
