//! Pins the exact result of VAE and TD-SPLIT training (weights and reports, bit for bit) for
//! each matrix-product path this CPU has (`tdal_encoders::kernels`):
//!
//! - the portable AVX2 + FMA kernels, as computed on commit 4393122, before training went
//!   through the `Trainable` trait: a refactor of the loop must not change a single bit,
//!   and these kernels give the same bits on every x86-64 CPU;
//! - the AVX-512F kernels (the default where the CPU has AVX-512F), which add the inner
//!   products up in another order: pinned when they were made the default.
//!
//! One test function switches the process-wide kernels, so this file holds no other test.
#![cfg(target_arch = "x86_64")]

mod common;

use common::{fashion_train, mnist_train, small_split, small_vae};
use ndarray::s;
use tdal_encoders::kernels::{self, Kernels};
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

/// The VAE's checksum and the three TD-SPLIT trainings' after it.
fn hashes() -> (u64, Vec<u64>) {
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
    (vae_hash, hashes)
}

/// The portable kernels' checksums (commit 4393122, before the `Trainable` refactor).
const PORTABLE: (u64, [u64; 3]) = (
    0x3926_7de3_17e1_75a6,
    [
        0x429c_6167_aab6_abce,
        0x6d62_87b1_0c49_0b21,
        0xf07d_c512_179f_1323,
    ],
);

/// The AVX-512F kernels' checksums.
const AVX512: (u64, [u64; 3]) = (
    0xc573_697d_faf0_8868,
    [
        0xa46e_e90f_7fb2_04b3,
        0x7c6f_324a_2945_05ab,
        0xf6f6_f634_8a5b_4553,
    ],
);

#[test]
fn vae_and_split_training_are_bit_identical_to_the_pinned_runs() {
    kernels::set(Kernels::Portable);
    assert_eq!(kernels::in_use(), "avx2+fma");
    let portable = hashes();
    assert_eq!(
        portable,
        (PORTABLE.0, PORTABLE.1.to_vec()),
        "portable kernels: pinned on the code before the Trainable refactor (commit 4393122)"
    );
    kernels::set(Kernels::Native);
    let native = hashes();
    if kernels::cpu_has_avx512() {
        assert_eq!(kernels::in_use(), "avx512f");
        assert_eq!(
            native,
            (AVX512.0, AVX512.1.to_vec()),
            "AVX-512F kernels: pinned when they became the default"
        );
    } else {
        // Without AVX-512F the default is the portable path itself.
        assert_eq!(native, portable);
    }
}
