//! Training of the US VAE and TD-SPLIT: both models are [`Trainable`] and go through the
//! one loop [`crate::trainable::fit`], with minibatches shuffled and reparameterisation
//! noise (and TD-SPLIT's labelled batches and their augmentation) drawn from one
//! `ChaCha8Rng` seeded by the configuration, so a run is a deterministic function of
//! (data, configuration, initial weights). The optimiser is Adam without weight decay.
//!
//! KL annealing: β rises linearly from 0 to its final value over `kl_warmup_epochs`
//! (Bowman et al. 2016), counted in (unlabelled) steps.
//!
//! On the CPU the models override [`Trainable::step`] with the hand-differentiated loss
//! (`step.rs`: fused layers, no autograd graph) followed by the one-pass [`crate::Adam`];
//! elsewhere they take the default step, candle's autograd and candle-nn's `AdamW`. Both
//! compute the same update.

use candle_core::{Device, Tensor, Var};
use ndarray::{ArrayView4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use tdal_data::{AugmentParams, augment_batch, balanced_indices};

use crate::model::{SplitModel, VaeModel, batch_tensor, check_images, prepare_images};
use crate::optim::Adam;
use crate::step::{Guidance, loss_and_grads};
use crate::trainable::{
    Batches, FitConfig, Loss, Optimiser, Position, Trainable, autograd_step, fit, trainable_vars,
};
use crate::vae::{Vae, VaeConfig};
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
    /// The quick profile (README.md): 30 epochs, batch 200, Adam 5e-4, β = 1, 2 warm-up
    /// epochs.
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

/// One batch of VAE training.
///
/// # Shapes
/// `images` `[B, C, S, S]` (padded to the model's side), `noise` `[B, |z|]`.
#[derive(Debug, Clone)]
pub struct VaeBatch {
    /// The images, values in `[0, 1]`.
    pub images: Tensor,
    /// The reparameterisation noise ε ~ N(0, I).
    pub noise: Tensor,
    /// KL weight β of the loss minimised (annealed).
    pub beta: f64,
    /// KL weight of the reported negative ELBO (the final β).
    pub report_beta: f64,
}

/// The labelled part of a TD-SPLIT batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Guided {
    /// One class per image, below the model's class count.
    pub labels: Vec<u32>,
    /// Weight α of the guidance cross-entropy.
    pub alpha: f64,
}

/// One batch of TD-SPLIT training: an unlabelled batch (`guidance: None`) or a labelled
/// one.
#[derive(Debug, Clone)]
pub struct SplitBatch {
    /// Images, noise and KL weights.
    pub elbo: VaeBatch,
    /// Labels and guidance weight of a labelled batch.
    pub guidance: Option<Guided>,
}

/// What one VAE or TD-SPLIT step reports, at the weights before the update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Negative ELBO (nats per image) with KL weight [`VaeBatch::report_beta`].
    pub neg_elbo: f64,
    /// Guidance cross-entropy (nats) of a labelled batch.
    pub cross_entropy: Option<f64>,
}

/// The fused CPU step (`step.rs`): the loss differentiated by hand through the fused
/// layers, without an autograd graph, and one update of the one-pass [`Adam`].
fn fused_step(
    adam: &mut Adam,
    vae: &Vae,
    batch: &VaeBatch,
    guidance: Option<&Guidance<'_>>,
) -> Result<StepStats> {
    let images = batch.images.flatten_all()?.to_vec1::<f32>()?;
    let noise = batch.noise.flatten_all()?.to_vec1::<f32>()?;
    let (terms, grads) = loss_and_grads(vae, &images, &noise, batch.beta, guidance)?;
    adam.step_with(&grads)?;
    Ok(StepStats {
        neg_elbo: terms.reconstruction + batch.report_beta * terms.kl,
        cross_entropy: terms.cross_entropy,
    })
}

fn elbo_loss(vae: &Vae, batch: &VaeBatch) -> Result<Loss<StepStats>> {
    let terms = vae.loss(&batch.images, &batch.noise)?;
    Ok(Loss {
        value: terms.loss(batch.beta)?,
        stats: StepStats {
            neg_elbo: f64::from(terms.loss(batch.report_beta)?.to_scalar::<f32>()?),
            cross_entropy: None,
        },
    })
}

/// The negative ELBO (Burgess et al.'s VAE, [`Vae::loss`]). On the CPU the step is the
/// fused, hand-differentiated one with the one-pass [`Adam`]; elsewhere candle's
/// autograd and `AdamW` (the default [`Trainable::step`]).
impl Trainable for VaeModel {
    type Batch = VaeBatch;
    type Stats = StepStats;

    fn trainable_vars(&self) -> Result<Vec<Var>> {
        trainable_vars(self.varmap())
    }

    fn loss(&self, batch: &VaeBatch) -> Result<Loss<StepStats>> {
        elbo_loss(self.vae(), batch)
    }

    fn step(&mut self, optimiser: &mut Optimiser, batch: &VaeBatch) -> Result<StepStats> {
        match optimiser.one_pass() {
            Some(adam) => fused_step(adam, self.vae(), batch, None),
            None => autograd_step(self, optimiser, batch),
        }
    }
}

/// The negative ELBO of an unlabelled batch, or the negative ELBO plus α times the
/// guidance cross-entropy of a labelled one ([`crate::split::SplitVae::labelled_loss`]).
/// Steps as the VAE's: fused on the CPU, autograd elsewhere.
impl Trainable for SplitModel {
    type Batch = SplitBatch;
    type Stats = StepStats;

    fn trainable_vars(&self) -> Result<Vec<Var>> {
        trainable_vars(self.varmap())
    }

    fn loss(&self, batch: &SplitBatch) -> Result<Loss<StepStats>> {
        let Some(guided) = &batch.guidance else {
            return elbo_loss(&self.model().vae, &batch.elbo);
        };
        let x = &batch.elbo.images;
        let y = Tensor::from_vec(guided.labels.clone(), guided.labels.len(), x.device())?;
        let terms = self.model().labelled_loss(x, &batch.elbo.noise, &y)?;
        Ok(Loss {
            value: terms.loss(batch.elbo.beta, guided.alpha)?,
            stats: StepStats {
                neg_elbo: f64::from(
                    terms
                        .elbo
                        .loss(batch.elbo.report_beta)?
                        .to_scalar::<f32>()?,
                ),
                cross_entropy: Some(f64::from(terms.cross_entropy.to_scalar::<f32>()?)),
            },
        })
    }

    fn step(&mut self, optimiser: &mut Optimiser, batch: &SplitBatch) -> Result<StepStats> {
        let Some(adam) = optimiser.one_pass() else {
            return autograd_step(self, optimiser, batch);
        };
        let model = self.model();
        let guidance = batch.guidance.as_ref().map(|g| Guidance {
            classifier: &model.classifier,
            labels: &g.labels,
            content_dim: model.config().content_dim,
            alpha: g.alpha,
        });
        fused_step(adam, &model.vae, &batch.elbo, guidance.as_ref())
    }
}

/// Unlabelled batches of padded images with fresh noise and the annealed β.
struct ImageBatches<'a> {
    images: ArrayView4<'a, f32>,
    side: usize,
    latent: usize,
    device: &'a Device,
    beta: f64,
    warmup_steps: f64,
}

impl<'a> ImageBatches<'a> {
    fn new(
        images: ArrayView4<'a, f32>,
        cfg: &VaeConfig,
        device: &'a Device,
        (beta, warmup_epochs, batch_size): (f64, f64, usize),
    ) -> Self {
        let steps_per_epoch = images.len_of(Axis(0)).div_ceil(batch_size);
        #[allow(clippy::cast_precision_loss)]
        let warmup_steps = warmup_epochs * steps_per_epoch as f64;
        Self {
            images,
            side: cfg.image_size,
            latent: cfg.latent_dim,
            device,
            beta,
            warmup_steps,
        }
    }

    fn beta_at(&self, step: usize) -> f64 {
        annealed_beta(self.beta, step, self.warmup_steps)
    }

    fn make(&self, indices: &[usize], step: usize, rng: &mut ChaCha8Rng) -> Result<VaeBatch> {
        let beta = self.beta_at(step);
        let images = batch_tensor(&self.images, indices, self.side, self.device)?;
        let noise = noise(rng, indices.len(), self.latent, self.device)?;
        Ok(VaeBatch {
            images,
            noise,
            beta,
            report_beta: self.beta,
        })
    }
}

impl Batches<VaeModel> for ImageBatches<'_> {
    fn examples(&self) -> usize {
        self.images.len_of(Axis(0))
    }

    fn batch(&mut self, indices: &[usize], at: Position, rng: &mut ChaCha8Rng) -> Result<VaeBatch> {
        self.make(indices, at.step, rng)
    }
}

/// The mean of one figure over an epoch's steps (summed in order from 0).
fn mean(values: impl Iterator<Item = f64>, count: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let count = count as f64;
    values.fold(0.0, |total, v| total + v) / count
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
    require_images(images.len_of(Axis(0)))?;
    let device = model.device().clone();
    let mut batches = ImageBatches::new(
        images,
        model.vae().config(),
        &device,
        (cfg.beta, cfg.kl_warmup_epochs, cfg.batch_size),
    );
    let run = FitConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: cfg.seed,
    };
    let log = fit(model, &mut batches, &run, Some(progress))?;
    let mut report = TrainReport::default();
    for epoch in &log {
        report.steps += epoch.steps.len();
        report.epoch_neg_elbo.push(mean(
            epoch.steps.iter().map(|s| s.neg_elbo),
            epoch.steps.len(),
        ));
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
    /// One labelled step after every `n` unlabelled steps (`AfterEvery(1)`, the quick
    /// profile's: one labelled step after each unlabelled step).
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
    /// The quick profile (README.md) for F+MNIST: one pass, batch 200, Adam 2e-4, β = 1, α = 20,
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

/// TD-SPLIT's batches: the pool's unlabelled batches and, after each, the labelled
/// batches due by the schedule (augmented, class-balanced, with their own noise).
struct SplitBatches<'a> {
    pool: ImageBatches<'a>,
    labelled: ArrayView4<'a, f32>,
    labels: &'a [u32],
    sampler: LabelledSampler<'a>,
    labelled_per_epoch: usize,
    augment: &'a AugmentParams,
    alpha: f64,
}

impl Batches<SplitModel> for SplitBatches<'_> {
    fn examples(&self) -> usize {
        self.pool.examples()
    }

    fn batch(
        &mut self,
        indices: &[usize],
        at: Position,
        rng: &mut ChaCha8Rng,
    ) -> Result<SplitBatch> {
        Ok(SplitBatch {
            elbo: self.pool.make(indices, at.step, rng)?,
            guidance: None,
        })
    }

    fn interleaved(&mut self, at: Position, rng: &mut ChaCha8Rng) -> Result<Vec<SplitBatch>> {
        // Labelled steps due after unlabelled step i (of U per epoch) this epoch:
        // ⌊(i+1)·L/U⌋ − ⌊i·L/U⌋ spreads L of them evenly over the U unlabelled steps.
        let (i, per_epoch, due_total) = (at.batch, at.batches, self.labelled_per_epoch);
        let due = ((i + 1) * due_total / per_epoch) - (i * due_total / per_epoch);
        let beta = self.pool.beta_at(at.step);
        let (side, latent, device) = (self.pool.side, self.pool.latent, self.pool.device);
        let mut out = Vec::with_capacity(due);
        for _ in 0..due {
            let picked = self.sampler.draw(rng);
            let raw = self.labelled.select(Axis(0), &picked);
            let augmented = augment_batch(raw.view(), self.augment, rng)?;
            let all: Vec<usize> = (0..picked.len()).collect();
            let images = batch_tensor(&augmented.view(), &all, side, device)?;
            let labels: Vec<u32> = picked.iter().map(|&p| self.labels[p]).collect();
            let noise = noise(rng, picked.len(), latent, device)?;
            out.push(SplitBatch {
                elbo: VaeBatch {
                    images,
                    noise,
                    beta,
                    report_beta: self.pool.beta,
                },
                guidance: Some(Guided {
                    labels,
                    alpha: self.alpha,
                }),
            });
        }
        Ok(out)
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
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
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
    let mut batches = SplitBatches {
        pool: ImageBatches::new(
            pool,
            &split_cfg.vae,
            &device,
            (cfg.beta, cfg.kl_warmup_epochs, cfg.batch_size),
        ),
        labelled,
        labels,
        sampler: LabelledSampler {
            labels,
            order: Vec::new(),
            next: 0,
            batch: cfg.labelled_batch_size,
        },
        labelled_per_epoch,
        augment: &cfg.augment,
        alpha: cfg.alpha,
    };
    let run = FitConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: cfg.seed,
    };
    let log = fit(model, &mut batches, &run, Some(progress))?;
    let mut report = TrainReport::default();
    for epoch in &log {
        report.steps += epoch.steps.len() + epoch.interleaved.len();
        report.labelled_steps += epoch.interleaved.len();
        report.epoch_neg_elbo.push(mean(
            epoch.steps.iter().map(|s| s.neg_elbo),
            epoch.steps.len(),
        ));
        if !epoch.interleaved.is_empty() {
            report.epoch_cross_entropy.push(mean(
                epoch
                    .interleaved
                    .iter()
                    .map(|s| s.cross_entropy.unwrap_or(0.0)),
                epoch.interleaved.len(),
            ));
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
