//! Pins the exact result of VAE and TD-SPLIT training (weights and reports, bit for bit) as
//! computed on commit 4393122, before training went through the `Trainable` trait: a refactor
//! of the loop must not change a single bit.
//!
//! The pins hold for the default build, whose matrix products use the same AVX2 kernels on
//! every x86-64 CPU; the `avx512` feature sums in another order on AVX-512 CPUs, so it
//! skips them (its own results are still deterministic: the other tests run under it).
#![cfg(not(feature = "avx512"))]

mod common;

use common::{fashion_train, mnist_train, small_split, small_vae};
use ndarray::s;
use tdal_encoders::{
    DeviceChoice, LabelledSchedule, SplitModel, SplitTrainConfig, TrainReport, VaeModel,
    VaeTrainConfig, train_split_with_progress, train_vae_with_progress,
};

/// FNV-1a over the bytes of `bytes`.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

/// A hash of every variable's name and f32 bits (in name order) and of the report.
fn checksum(varmap: &candle_nn::VarMap, report: &TrainReport) -> u64 {
    let vars = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for name in names {
        fnv(&mut hash, name.as_bytes());
        let values: Vec<f32> = vars[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for v in values {
            fnv(&mut hash, &v.to_bits().to_le_bytes());
        }
    }
    fnv(&mut hash, &(report.steps as u64).to_le_bytes());
    fnv(&mut hash, &(report.labelled_steps as u64).to_le_bytes());
    for v in report
        .epoch_neg_elbo
        .iter()
        .chain(&report.epoch_cross_entropy)
    {
        fnv(&mut hash, &v.to_bits().to_le_bytes());
    }
    hash
}

#[test]
fn vae_and_split_training_are_bit_identical_to_the_pinned_run() {
    let images = fashion_train().images.slice_move(s![..70, .., .., ..]);
    let mut vae = VaeModel::new(&small_vae(), 11, DeviceChoice::Cpu).unwrap();
    let run = VaeTrainConfig {
        epochs: 3,
        batch_size: 16,
        kl_warmup_epochs: 1.5,
        seed: 12,
        ..VaeTrainConfig::default()
    };
    let mut calls = Vec::new();
    let report = train_vae_with_progress(&mut vae, images.view(), &run, &mut |d, t| {
        calls.push((d, t));
    })
    .unwrap();
    assert_eq!(calls.len(), 15);
    assert_eq!(calls.last(), Some(&(15, 15)));
    let vae_hash = checksum(vae.varmap(), &report);

    let digits = mnist_train();
    let labelled = digits.images.slice(s![..14, .., .., ..]).to_owned();
    let labels: Vec<u32> = digits.labels[..14].iter().map(|&l| l % 3).collect();
    let mut split = SplitModel::from_vae(&vae, &small_split(3), 13).unwrap();
    let mut hashes = Vec::new();
    for (schedule, seed) in [
        (LabelledSchedule::AfterEvery(1), 3),
        (LabelledSchedule::AfterEvery(2), 4),
        (LabelledSchedule::EvenlySpaced, 5),
    ] {
        let cfg = SplitTrainConfig {
            epochs: 2,
            batch_size: 16,
            labelled_batch_size: 6,
            kl_warmup_epochs: 0.5,
            schedule,
            seed,
            ..SplitTrainConfig::default()
        };
        let mut last = (0, 0);
        let report = train_split_with_progress(
            &mut split,
            images.view(),
            labelled.view(),
            &labels,
            &cfg,
            &mut |d, t| last = (d, t),
        )
        .unwrap();
        assert_eq!(last, (10, 10));
        hashes.push(checksum(split.varmap(), &report));
    }
    assert_eq!(
        (vae_hash, hashes),
        (
            0x3926_7de3_17e1_75a6,
            vec![
                0x429c_6167_aab6_abce,
                0x6d62_87b1_0c49_0b21,
                0xf07d_c512_179f_1323
            ]
        ),
        "pinned on the code before the Trainable refactor (commit 4393122)"
    );
}
