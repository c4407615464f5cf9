//! Training loops, kept outside the models (candle style): Adam (candle-nn's `AdamW` with
//! weight decay 0) over the model's `VarMap`, minibatches shuffled and reparameterisation
//! noise drawn from one `ChaCha8Rng` seeded by the configuration, so a run is a
//! deterministic function of (data, configuration, initial weights).
//!
//! KL annealing: β rises linearly from 0 to its final value over `kl_warmup_epochs`
//! (Bowman et al. 2016), counted in steps.
//!
//! On the CPU a step is the hand-differentiated loss (`step.rs`: fused layers, no
//! autograd graph) followed by the one-pass [`crate::Adam`]; elsewhere it is candle's
//! autograd and candle-nn's `AdamW`. Both compute the same update.

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use ndarray::{ArrayView4, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use tdal_data::{AugmentParams, augment_batch, balanced_indices};

use crate::model::{SplitModel, VaeModel, batch_tensor, check_images, prepare_images};
use crate::optim::Adam;
use crate::split::SplitVae;
use crate::step::{Guidance, loss_and_grads};
use crate::vae::Vae;
use crate::{Error, Result};

/// Hyper-parameters of unsupervised VAE training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeTrainConfig {
    /// Passes over the images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Final KL weight β.
    pub beta: f64,
    /// Length of the linear KL warm-up in epochs (0: none).
    pub kl_warmup_epochs: f64,
    /// Seed of the shuffling and the noise.
    pub seed: u64,
}

impl Default for VaeTrainConfig {
    /// SPEC §4 quick profile: 30 epochs, batch 200, Adam 5e-4, β = 1, 2 warm-up epochs.
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 200,
            learning_rate: 5e-4,
            beta: 1.0,
            kl_warmup_epochs: 2.0,
            seed: 0,
        }
    }
}

impl VaeTrainConfig {
    /// Validates the values.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero batch size, a non-positive or non-finite learning rate,
    /// or a negative or non-finite β or warm-up.
    pub fn check(&self) -> Result<()> {
        check_common(
            self.batch_size,
            self.learning_rate,
            self.beta,
            self.kl_warmup_epochs,
        )
    }
}

fn check_common(batch_size: usize, learning_rate: f64, beta: f64, warmup: f64) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::Config("expected batch_size ≥ 1, got 0".to_owned()));
    }
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(Error::Config(format!(
            "expected a positive learning rate, got {learning_rate}"
        )));
    }
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(Error::Config(format!("expected β ≥ 0, got {beta}")));
    }
    if !(warmup.is_finite() && warmup >= 0.0) {
        return Err(Error::Config(format!(
            "expected kl_warmup_epochs ≥ 0, got {warmup}"
        )));
    }
    Ok(())
}

/// What a training run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Optimiser steps taken (unlabelled + labelled).
    pub steps: usize,
    /// Labelled steps among them (TD-SPLIT only).
    pub labelled_steps: usize,
    /// Mean negative ELBO (nats per image, with the final β) of each epoch's unlabelled steps.
    pub epoch_neg_elbo: Vec<f64>,
    /// Mean guidance cross-entropy (nats) of each epoch's labelled steps (TD-SPLIT only).
    pub epoch_cross_entropy: Vec<f64>,
}

/// The optimiser and with it the way gradients are computed (see the module docs).
enum Trainer {
    /// CPU, f32: hand-differentiated fused step and one-pass Adam.
    Fused(Adam),
    /// Any other device or dtype: candle's autograd and candle-nn's `AdamW`.
    Graph(AdamW),
}

fn adam(varmap: &VarMap, learning_rate: f64, device: &Device) -> Result<Trainer> {
    let vars = varmap.all_vars();
    if device.is_cpu() && vars.iter().all(|v| v.dtype() == candle_core::DType::F32) {
        return Ok(Trainer::Fused(Adam::new(vars, learning_rate)?));
    }
    Ok(Trainer::Graph(AdamW::new(
        vars,
        ParamsAdamW {
            lr: learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?))
}

/// The labelled part of a TD-SPLIT step.
struct LabelledBatch<'a> {
    model: &'a SplitVae,
    labels: &'a [u32],
    alpha: f64,
}

/// One optimiser step on the batch's loss with KL weight `beta`; returns the negative
/// ELBO with KL weight `report_beta` and the cross-entropy (labelled steps), both at the
/// weights before the update.
fn step(
    trainer: &mut Trainer,
    vae: &Vae,
    x: &Tensor,
    eps: &Tensor,
    (beta, report_beta): (f64, f64),
    labelled: Option<&LabelledBatch<'_>>,
) -> Result<(f64, Option<f64>)> {
    match trainer {
        Trainer::Fused(adam) => {
            let images = x.flatten_all()?.to_vec1::<f32>()?;
            let noise = eps.flatten_all()?.to_vec1::<f32>()?;
            let guidance = labelled.map(|l| Guidance {
                classifier: &l.model.classifier,
                labels: l.labels,
                content_dim: l.model.config().content_dim,
                alpha: l.alpha,
            });
            let (terms, grads) = loss_and_grads(vae, &images, &noise, beta, guidance.as_ref())?;
            adam.step_with(&grads)?;
            Ok((
                terms.reconstruction + report_beta * terms.kl,
                terms.cross_entropy,
            ))
        }
        Trainer::Graph(adamw) => match labelled {
            None => {
                let terms = vae.loss(x, eps)?;
                adamw.backward_step(&terms.loss(beta)?)?;
                Ok((
                    f64::from(terms.loss(report_beta)?.to_scalar::<f32>()?),
                    None,
                ))
            }
            Some(l) => {
                let y = Tensor::from_vec(l.labels.to_vec(), l.labels.len(), x.device())?;
                let terms = l.model.labelled_loss(x, eps, &y)?;
                adamw.backward_step(&terms.loss(beta, l.alpha)?)?;
                Ok((
                    f64::from(terms.elbo.loss(report_beta)?.to_scalar::<f32>()?),
                    Some(f64::from(terms.cross_entropy.to_scalar::<f32>()?)),
                ))
            }
        },
    }
}

fn noise(rng: &mut ChaCha8Rng, batch: usize, latent: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..batch * latent)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    Ok(Tensor::from_vec(values, (batch, latent), device)?)
}

fn annealed_beta(beta: f64, step: usize, warmup_steps: f64) -> f64 {
    if warmup_steps <= 0.0 {
        beta
    } else {
        #[allow(clippy::cast_precision_loss)]
        let progress = (step as f64 / warmup_steps).min(1.0);
        beta * progress
    }
}

fn require_images(n: usize) -> Result<()> {
    if n == 0 {
        Err(Error::Shape(
            "expected at least one training image, got none".to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// Trains the VAE in place on `images`.
///
/// # Shapes
/// `images` `[N, C, H, W]` as [`crate::Embedder::embed`] accepts them (28 × 28 is padded).
///
/// # Errors
/// As [`VaeTrainConfig::check`] and [`prepare_images`]; [`Error::Shape`] for no images;
/// candle errors.
pub fn train_vae(
    model: &mut VaeModel,
    images: ArrayView4<'_, f32>,
    cfg: &VaeTrainConfig,
) -> Result<TrainReport> {
    train_vae_with_progress(model, images, cfg, &mut |_, _| {})
}

/// [`train_vae`] calling `progress(steps done, total steps)` after every step (for
/// progress bars; the library itself never prints).
///
/// # Shapes
/// As [`train_vae`].
///
/// # Errors
/// As [`train_vae`].
pub fn train_vae_with_progress(
    model: &mut VaeModel,
    images: ArrayView4<'_, f32>,
    cfg: &VaeTrainConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TrainReport> {
    cfg.check()?;
    // Batches are padded as they are gathered: the images are never copied whole.
    check_images(&images, model.vae().config())?;
    let side = model.vae().config().image_size;
    let view = images;
    let n = view.len_of(Axis(0));
    require_images(n)?;
    let mut optimiser = adam(model.varmap(), cfg.learning_rate, model.device())?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    #[allow(clippy::cast_precision_loss)]
    let warmup_steps = cfg.kl_warmup_epochs * steps_per_epoch as f64;
    let latent = model.vae().config().latent_dim;
    let mut report = TrainReport::default();
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for chunk in order.chunks(cfg.batch_size) {
            let x = batch_tensor(&view, chunk, side, model.device())?;
            let eps = noise(&mut rng, chunk.len(), latent, model.device())?;
            let beta = annealed_beta(cfg.beta, report.steps, warmup_steps);
            let (neg_elbo, _) = step(
                &mut optimiser,
                model.vae(),
                &x,
                &eps,
                (beta, cfg.beta),
                None,
            )?;
            total += neg_elbo;
            report.steps += 1;
            progress(report.steps, cfg.epochs * steps_per_epoch);
        }
        #[allow(clippy::cast_precision_loss)]
        report.epoch_neg_elbo.push(total / steps_per_epoch as f64);
    }
    Ok(report)
}

/// Mean negative ELBO (nats per image) of a model on `images` with noise from `seed`.
///
/// # Errors
/// As [`train_vae`].
pub fn negative_elbo(
    vae: &Vae,
    device: &Device,
    images: ArrayView4<'_, f32>,
    beta: f64,
    seed: u64,
) -> Result<f64> {
    check_images(&images, vae.config())?;
    let side = vae.config().image_size;
    let view = images;
    let n = view.len_of(Axis(0));
    require_images(n)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let indices: Vec<usize> = (0..n).collect();
    let mut total = 0.0;
    for chunk in indices.chunks(crate::EMBED_BATCH) {
        let x = batch_tensor(&view, chunk, side, device)?;
        let eps = noise(&mut rng, chunk.len(), vae.config().latent_dim, device)?;
        let loss = vae.loss(&x, &eps)?.loss(beta)?.to_scalar::<f32>()?;
        #[allow(clippy::cast_precision_loss)]
        let weight = chunk.len() as f64;
        total += f64::from(loss) * weight;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(total / n as f64)
}

/// How labelled steps are interleaved with unlabelled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelledSchedule {
    /// One labelled step after every `n` unlabelled steps (`AfterEvery(1)`: SPEC §4's quick
    /// profile, one labelled step after each unlabelled step).
    AfterEvery(usize),
    /// The paper's schedule: one pass over the class-balanced labelled set per epoch, its
    /// batches evenly spaced among the unlabelled steps.
    EvenlySpaced,
}

/// Hyper-parameters of a TD-SPLIT update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitTrainConfig {
    /// Passes over the pool (unlabelled steps).
    pub epochs: usize,
    /// Images per unlabelled step.
    pub batch_size: usize,
    /// Images per labelled step (drawn from the class-balanced, augmented labelled set).
    pub labelled_batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// KL weight β.
    pub beta: f64,
    /// Weight α of the guidance term.
    pub alpha: f64,
    /// Linear KL warm-up in epochs (0 when warm-starting from a trained VAE).
    pub kl_warmup_epochs: f64,
    /// Interleaving of labelled steps.
    pub schedule: LabelledSchedule,
    /// Augmentation of labelled batches.
    #[serde(skip, default)]
    pub augment: AugmentParams,
    /// Seed of the shuffling, balancing, augmentation and noise.
    pub seed: u64,
}

impl Default for SplitTrainConfig {
    /// SPEC §4 quick profile for F+MNIST: one pass, batch 200, Adam 2e-4, β = 1, α = 20,
    /// one labelled step after every unlabelled step.
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 200,
            labelled_batch_size: 200,
            learning_rate: 2e-4,
            beta: 1.0,
            alpha: 20.0,
            kl_warmup_epochs: 0.0,
            schedule: LabelledSchedule::AfterEvery(1),
            augment: AugmentParams::default(),
            seed: 0,
        }
    }
}

impl SplitTrainConfig {
    /// Validates the values.
    ///
    /// # Errors
    /// As [`VaeTrainConfig::check`]; [`Error::Config`] for a zero labelled batch size,
    /// `AfterEvery(0)`, a negative α or invalid augmentation ranges.
    pub fn check(&self) -> Result<()> {
        check_common(
            self.batch_size,
            self.learning_rate,
            self.beta,
            self.kl_warmup_epochs,
        )?;
        if self.labelled_batch_size == 0 {
            return Err(Error::Config(
                "expected labelled_batch_size ≥ 1, got 0".to_owned(),
            ));
        }
        if self.schedule == LabelledSchedule::AfterEvery(0) {
            return Err(Error::Config(
                "expected AfterEvery(n) with n ≥ 1, got 0".to_owned(),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::Config(format!("expected α ≥ 0, got {}", self.alpha)));
        }
        self.augment.check()?;
        Ok(())
    }
}

/// Draws class-balanced labelled batches, refilling the balanced order when it runs out.
struct LabelledSampler<'a> {
    labels: &'a [u32],
    order: Vec<usize>,
    next: usize,
    batch: usize,
}

impl LabelledSampler<'_> {
    fn draw(&mut self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.batch);
        while out.len() < self.batch {
            if self.next >= self.order.len() {
                self.order = balanced_indices(self.labels, rng);
                self.next = 0;
            }
            let take = (self.batch - out.len()).min(self.order.len() - self.next);
            out.extend_from_slice(&self.order[self.next..self.next + take]);
            self.next += take;
        }
        out
    }
}

/// Trains TD-SPLIT in place: unlabelled steps over `pool` and, interleaved as
/// `cfg.schedule` says, labelled steps on augmented, class-balanced batches of
/// `labelled`. Calling it again continues from the current weights (the warm start).
///
/// # Shapes
/// `pool` `[N, C, H, W]`, `labelled` `[L, C, H, W]`, `labels` `[L]` each below C classes.
/// With `L = 0` only unlabelled steps run.
///
/// # Errors
/// As [`SplitTrainConfig::check`] and [`prepare_images`]; [`Error::Shape`] for an empty
/// pool, a label count that differs from `L`, or a label ≥ C; candle errors.
pub fn train_split(
    model: &mut SplitModel,
    pool: ArrayView4<'_, f32>,
    labelled: ArrayView4<'_, f32>,
    labels: &[u32],
    cfg: &SplitTrainConfig,
) -> Result<TrainReport> {
    train_split_with_progress(model, pool, labelled, labels, cfg, &mut |_, _| {})
}

/// [`train_split`] calling `progress(unlabelled steps done, total unlabelled steps)` after
/// every unlabelled step.
///
/// # Shapes
/// As [`train_split`].
///
/// # Errors
/// As [`train_split`].
pub fn train_split_with_progress(
    model: &mut SplitModel,
    pool: ArrayView4<'_, f32>,
    labelled: ArrayView4<'_, f32>,
    labels: &[u32],
    cfg: &SplitTrainConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TrainReport> {
    cfg.check()?;
    let split_cfg = model.model().config().clone();
    check_images(&pool, &split_cfg.vae)?;
    let side = split_cfg.vae.image_size;
    let labelled = prepare_images(labelled, &split_cfg.vae)?;
    let labelled = labelled.view();
    let n = pool.len_of(Axis(0));
    require_images(n)?;
    if labels.len() != labelled.len_of(Axis(0)) {
        return Err(Error::Shape(format!(
            "expected one label per labelled image, got {} images and {} labels",
            labelled.len_of(Axis(0)),
            labels.len()
        )));
    }
    if let Some(&bad) = labels
        .iter()
        .find(|&&l| l as usize >= split_cfg.num_classes)
    {
        return Err(Error::Shape(format!(
            "label {bad} is out of range: expected labels below {} classes",
            split_cfg.num_classes
        )));
    }
    let device = model.device().clone();
    let latent = split_cfg.vae.latent_dim;
    let mut optimiser = adam(model.varmap(), cfg.learning_rate, &device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    #[allow(clippy::cast_precision_loss)]
    let warmup_steps = cfg.kl_warmup_epochs * steps_per_epoch as f64;
    let labelled_per_epoch = match cfg.schedule {
        _ if labels.is_empty() => 0,
        LabelledSchedule::AfterEvery(every) => steps_per_epoch / every,
        LabelledSchedule::EvenlySpaced => {
            let classes = labels
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let balanced = classes * max_class_count(labels);
            balanced.div_ceil(cfg.labelled_batch_size)
        }
    };
    let mut sampler = LabelledSampler {
        labels,
        order: Vec::new(),
        next: 0,
        batch: cfg.labelled_batch_size,
    };
    let mut report = TrainReport::default();
    let mut order: Vec<usize> = (0..n).collect();
    let mut unlabelled_step = 0_usize;
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let (mut elbo_total, mut ce_total, mut ce_count) = (0.0, 0.0, 0_usize);
        for (i, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let beta = annealed_beta(cfg.beta, unlabelled_step, warmup_steps);
            let x = batch_tensor(&pool, chunk, side, &device)?;
            let eps = noise(&mut rng, chunk.len(), latent, &device)?;
            let (neg_elbo, _) = step(
                &mut optimiser,
                &model.model().vae,
                &x,
                &eps,
                (beta, cfg.beta),
                None,
            )?;
            elbo_total += neg_elbo;
            report.steps += 1;
            unlabelled_step += 1;
            progress(unlabelled_step, cfg.epochs * steps_per_epoch);
            // Labelled steps due after unlabelled step i (of steps_per_epoch) this epoch:
            // ⌊(i+1)·L/U⌋ − ⌊i·L/U⌋ spreads L of them evenly over the U unlabelled steps.
            let due = ((i + 1) * labelled_per_epoch / steps_per_epoch)
                - (i * labelled_per_epoch / steps_per_epoch);
            for _ in 0..due {
                let picked = sampler.draw(&mut rng);
                let raw = labelled.select(Axis(0), &picked);
                let augmented = augment_batch(raw.view(), &cfg.augment, &mut rng)?;
                let all: Vec<usize> = (0..picked.len()).collect();
                let x = batch_tensor(&augmented.view(), &all, side, &device)?;
                let y: Vec<u32> = picked.iter().map(|&p| labels[p]).collect();
                let eps = noise(&mut rng, picked.len(), latent, &device)?;
                let batch = LabelledBatch {
                    model: model.model(),
                    labels: &y,
                    alpha: cfg.alpha,
                };
                let (_, ce) = step(
                    &mut optimiser,
                    &model.model().vae,
                    &x,
                    &eps,
                    (beta, cfg.beta),
                    Some(&batch),
                )?;
                ce_total += ce.unwrap_or(0.0);
                ce_count += 1;
                report.steps += 1;
                report.labelled_steps += 1;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        {
            report
                .epoch_neg_elbo
                .push(elbo_total / steps_per_epoch as f64);
            if ce_count > 0 {
                report.epoch_cross_entropy.push(ce_total / ce_count as f64);
            }
        }
    }
    Ok(report)
}

fn max_class_count(labels: &[u32]) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for &l in labels {
        *counts.entry(l).or_insert(0_usize) += 1;
    }
    counts.values().copied().max().unwrap_or(0)
}
