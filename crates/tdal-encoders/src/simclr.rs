//! SimCLR contrastive pretraining (Chen et al. 2020) and TD-FT supervised fine-tuning
//! (SimCLRv2's fine-tuning from the first projection layer, Chen et al. 2020b; the paper's
//! §4.2).
//!
//! [`SimclrModel`] is a [`Backbone`] and a one-layer projection head (`Linear(d, p)`). It
//! is pretrained by [`pretrain`] on two augmented views of every pool image
//! ([`tdal_data::contrastive`]: random resized crop, colour distortion, flip) with the
//! NT-Xent loss ([`crate::contrastive_loss`]), LARS and a linear warm-up followed by a
//! cosine decay ([`crate::lars`]). Both views of a batch go through the network as one
//! batch of `2B`, so batch normalisation sees both (SimCLR's global batch normalisation on
//! one device). Its representation ([`Embedder::embed`], US SimCLR) is the backbone's
//! pooled features `[N, d]` in eval mode.
//!
//! [`FineTuneModel`] is TD-FT's network: the pretrained backbone and projection layer,
//! copied, and a fresh guidance classifier with one hidden layer (`Linear(p, h)`, ReLU,
//! `Linear(h, C)`) on the projection's output. [`fine_tune`] trains all of it with the
//! cross-entropy on the labels collected so far, class-balanced and augmented as the
//! paper's labelled sets are ([`tdal_data::augment`]), with LARS. Its representation is the
//! projection layer's output `[N, p]` in eval mode. Every fine-tune starts from the
//! pretrained weights ([`FineTuneModel::from_pretrained`]), so two updates on the same
//! labels give the same weights.
//!
//! On the CPU with f32 variables every layer runs as a fused custom op (see
//! [`crate::backbone`]) and the step is candle autograd over those nodes.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::{Array2, Array4, ArrayView4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tdal_data::contrastive::{ContrastiveAugment, contrastive_views};
use tdal_data::{AugmentParams, augment_batch, balanced_indices};

use crate::backbone::{Backbone, Network, fused_path};
use crate::contrastive_loss::nt_xent;
use crate::init::{poisoned, seeded_init};
use crate::lars::{LarsConfig, WarmupCosine};
use crate::model::{EMBED_BATCH, gather_padded, load_weights, read_config, save_checkpoint};
use crate::trainable::{Batches, FitConfig, Loss, Optimiser, Position, Trainable, fit};
use crate::{DeviceChoice, Embedder, Error, Result};

/// The network of [`SimclrModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimclrConfig {
    /// The feature network.
    pub backbone: Backbone,
    /// Image channels (1 grayscale, 3 colour).
    pub channels: usize,
    /// Side of the square input; smaller images are zero-padded centrally.
    pub image_size: usize,
    /// Output size `p` of the one-layer projection head (TD-FT's |z|).
    pub projection_dim: usize,
}

impl Default for SimclrConfig {
    /// The small CNN on 32 × 32 grayscale images with `p = d = 256`.
    fn default() -> Self {
        Self {
            backbone: Backbone::SmallCnn,
            channels: 1,
            image_size: 32,
            projection_dim: Backbone::SmallCnn.feature_dim(),
        }
    }
}

impl SimclrConfig {
    /// `(channels, image side)` of the images the network takes.
    #[must_use]
    pub const fn geometry(&self) -> (usize, usize) {
        (self.channels, self.image_size)
    }

    /// Validates the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero size or an image side below 8 (three stride-2 layers).
    pub fn check(&self) -> Result<()> {
        if self.channels == 0 || self.projection_dim == 0 {
            return Err(Error::Config(format!(
                "expected channels ≥ 1 and projection_dim ≥ 1, got {} and {}",
                self.channels, self.projection_dim
            )));
        }
        if self.image_size < 8 {
            return Err(Error::Config(format!(
                "expected image_size ≥ 8, got {}",
                self.image_size
            )));
        }
        Ok(())
    }
}

/// `x · Wᵀ + b` through the fused op on the CPU, candle's product elsewhere.
pub(crate) fn affine(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if fused_path(x.device(), x.dtype()) {
        Ok(crate::ops::linear(
            x,
            weight,
            bias,
            crate::ops::Activation::Identity,
        )?)
    } else {
        Ok(x.matmul(&weight.t()?)?.broadcast_add(bias)?)
    }
}

/// A linear layer's variables (`weight` `[out, in]`, `bias` `[out]`).
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
}

impl Dense {
    pub(crate) fn new(inputs: usize, outputs: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            weight: vb.get((outputs, inputs), "weight")?,
            bias: vb.get(outputs, "bias")?,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.weight, &self.bias)
    }

    /// The layer without an autograd graph (for embedding).
    pub(crate) fn forward_detached(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.weight.detach(), &self.bias.detach())
    }
}

pub(crate) fn check_input(
    images: &ArrayView4<'_, f32>,
    channels: usize,
    side: usize,
) -> Result<()> {
    let (n, c, h, w) = images.dim();
    if c != channels || h > side || w > side {
        return Err(Error::Shape(format!(
            "expected images [N, {channels}, H ≤ {side}, W ≤ {side}], got [{n}, {c}, {h}, {w}]"
        )));
    }
    if let Some(bad) = images.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::Shape(format!(
            "expected pixel values in [0, 1], found {bad}"
        )));
    }
    Ok(())
}

/// [`check_input`] for labelled images, and one label below `classes` per image (at least
/// one image).
pub(crate) fn check_labelled(
    images: &ArrayView4<'_, f32>,
    labels: &[u32],
    channels: usize,
    side: usize,
    classes: usize,
) -> Result<()> {
    check_input(images, channels, side)?;
    if labels.len() != images.len_of(Axis(0)) || labels.is_empty() {
        return Err(Error::Shape(format!(
            "expected one label per image (at least one), got {} labels for {} images",
            labels.len(),
            images.len_of(Axis(0))
        )));
    }
    if let Some(bad) = labels.iter().find(|&&y| y as usize >= classes) {
        return Err(Error::Shape(format!(
            "expected labels below {classes}, found {bad}"
        )));
    }
    Ok(())
}

/// The listed images, padded to `side`, as an owned `[B, C, S, S]` array.
pub(crate) fn padded(
    images: &ArrayView4<'_, f32>,
    indices: &[usize],
    side: usize,
) -> Result<Array4<f32>> {
    let c = images.dim().1;
    let data = gather_padded(images, indices.iter().copied(), side);
    Array4::from_shape_vec((indices.len(), c, side, side), data)
        .map_err(|e| Error::Shape(e.to_string()))
}

pub(crate) fn images_tensor(images: &Array4<f32>, device: &Device) -> Result<Tensor> {
    let (b, c, h, w) = images.dim();
    let data = images
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    Ok(Tensor::from_vec(data, (b, c, h, w), device)?)
}

/// Rows of `f(batch)` for every image, in batches of [`EMBED_BATCH`], in eval mode.
pub(crate) fn embed_batches(
    images: ArrayView4<'_, f32>,
    (channels, side): (usize, usize),
    device: &Device,
    dim: usize,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Array2<f32>> {
    check_input(&images, channels, side)?;
    let n = images.len_of(Axis(0));
    let mut out = Array2::zeros((n, dim));
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(EMBED_BATCH) {
        let x = images_tensor(&padded(&images, chunk, side)?, device)?;
        let rows = f(&x)?.detach().to_dtype(DType::F32)?.to_vec2::<f32>()?;
        for (i, row) in chunk.iter().zip(rows) {
            out.row_mut(*i)
                .iter_mut()
                .zip(row)
                .for_each(|(dst, v)| *dst = v);
        }
    }
    Ok(out)
}

/// A backbone with a one-layer projection head, and its variables.
pub struct SimclrModel {
    varmap: VarMap,
    network: Network,
    projection: Dense,
    cfg: SimclrConfig,
    device: Device,
    lars: LarsSchedule,
}

/// LARS and its schedule, set by the training function before [`fit`] builds the
/// optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LarsSchedule {
    lars: LarsConfig,
    warmup_fraction: f64,
    /// Examples per step (the peak rate is quoted at 512 and scaled by the square root).
    batch_size: usize,
    /// Variables whose name starts with this are excluded from weight decay and
    /// trust-ratio scaling (SimCLR's `head_supervised`).
    plain_prefix: Option<&'static str>,
}

impl Default for LarsSchedule {
    fn default() -> Self {
        Self {
            lars: LarsConfig::default(),
            warmup_fraction: 0.05,
            batch_size: 512,
            plain_prefix: None,
        }
    }
}

/// LARS over `varmap`'s parameters with a warm-up + cosine schedule of `total` steps
/// whose peak is `cfg.learning_rate` (quoted at a batch of 512) scaled by
/// `√(schedule.batch_size / 512)` ([`crate::lars::REFERENCE_BATCH`]).
fn lars_optimiser(
    varmap: &VarMap,
    schedule: &LarsSchedule,
    cfg: &FitConfig,
    total: usize,
) -> Result<Optimiser> {
    let vars = varmap.data().lock().map_err(|_| poisoned())?;
    // Buffers go in too: LARS skips them but recognises normalisation layers by them.
    let mut named: Vec<(String, candle_core::Var)> =
        vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    drop(vars);
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let plan = WarmupCosine::new(
        cfg.learning_rate,
        schedule.batch_size,
        total.max(1),
        schedule.warmup_fraction,
    )?;
    Optimiser::lars(named, schedule.lars, plan, schedule.plain_prefix)
}

impl SimclrModel {
    /// A freshly initialised model (PyTorch's default initialisation from `seed`).
    ///
    /// # Errors
    /// As [`SimclrConfig::check`] and [`DeviceChoice::open`]; candle errors.
    pub fn new(cfg: &SimclrConfig, seed: u64, device: DeviceChoice) -> Result<Self> {
        cfg.check()?;
        let device = device.open()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let network = Network::new(cfg.backbone, cfg.channels, vb.pp("encoder"))?;
        let projection = Dense::new(
            cfg.backbone.feature_dim(),
            cfg.projection_dim,
            vb.pp("projection"),
        )?;
        seeded_init(&varmap, seed)?;
        Ok(Self {
            varmap,
            network,
            projection,
            cfg: *cfg,
            device,
            lars: LarsSchedule::default(),
        })
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &SimclrConfig {
        &self.cfg
    }

    /// The variables.
    #[must_use]
    pub const fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The projection head's output `z` for a batch (both views stacked).
    ///
    /// # Shapes
    /// `[B, C, S, S]` → `[B, p]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn project(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        self.projection
            .forward(&self.network.forward_t(images, train)?)
    }

    /// Writes `model.safetensors` and `config.json` into `dir`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder or a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, &self.varmap, &self.cfg)
    }

    /// Loads a checkpoint written by [`SimclrModel::save`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a missing or mismatched checkpoint; as
    /// [`SimclrModel::new`].
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let cfg: SimclrConfig = read_config(dir)?;
        let model = Self::new(&cfg, 0, device)?;
        load_weights(dir, &model.varmap)?;
        Ok(model)
    }
}

impl Embedder for SimclrModel {
    fn embedding_dim(&self) -> usize {
        self.cfg.backbone.feature_dim()
    }

    /// The backbone's pooled features in eval mode.
    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        embed_batches(
            images,
            self.cfg.geometry(),
            &self.device,
            self.embedding_dim(),
            |x| self.network.forward_t(x, false),
        )
    }
}

/// Both views of a batch, stacked: `[2B, C, S, S]` (view 1 then view 2).
#[derive(Debug, Clone)]
pub struct ViewPair(pub Tensor);

/// What a contrastive step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContrastiveStats {
    /// The NT-Xent loss (nats).
    pub loss: f64,
}

impl Trainable for SimclrModel {
    type Batch = (ViewPair, f64);
    type Stats = ContrastiveStats;

    fn trainable_vars(&self) -> Result<Vec<candle_core::Var>> {
        crate::trainable::trainable_vars(&self.varmap)
    }

    fn loss(&self, (views, temperature): &Self::Batch) -> Result<Loss<ContrastiveStats>> {
        let z = self.project(&views.0, true)?;
        let b = z.dim(0)? / 2;
        let value = nt_xent(&z.narrow(0, 0, b)?, &z.narrow(0, b, b)?, *temperature)?;
        let loss = value.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        Ok(Loss {
            value,
            stats: ContrastiveStats { loss },
        })
    }

    fn optimiser_for(&self, cfg: &FitConfig, total_steps: usize) -> Result<Optimiser> {
        lars_optimiser(&self.varmap, &self.lars, cfg, total_steps)
    }
}

/// How [`pretrain`] trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Passes over the images.
    pub epochs: usize,
    /// Images per step (each gives two views).
    pub batch_size: usize,
    /// Peak learning rate at a batch of 512 images, scaled with the square root of the
    /// batch (the paper: 2.26 = 0.1 · √512).
    pub learning_rate: f64,
    /// Share of the steps spent warming up linearly (the paper: 5 %).
    pub warmup_fraction: f64,
    /// NT-Xent temperature τ (the paper: 0.2).
    pub temperature: f64,
    /// LARS momentum, weight decay and trust coefficient.
    pub lars: LarsConfig,
    /// The views' augmentations.
    pub augment: ContrastiveAugment,
    /// Seed of the shuffling and the augmentations.
    pub seed: u64,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            learning_rate: 2.26,
            warmup_fraction: 0.05,
            temperature: 0.2,
            lars: LarsConfig::default(),
            augment: ContrastiveAugment::default(),
            seed: 0,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Mean loss of each epoch (nats).
    pub epoch_losses: Vec<f64>,
}

struct ContrastiveBatches<'a> {
    images: ArrayView4<'a, f32>,
    side: usize,
    augment: ContrastiveAugment,
    temperature: f64,
    device: Device,
}

impl Batches<SimclrModel> for ContrastiveBatches<'_> {
    fn examples(&self) -> usize {
        self.images.len_of(Axis(0))
    }

    fn batch(
        &mut self,
        indices: &[usize],
        _at: Position,
        rng: &mut ChaCha8Rng,
    ) -> Result<(ViewPair, f64)> {
        let raw = padded(&self.images, indices, self.side)?;
        let (v1, v2) = contrastive_views(raw.view(), &self.augment, rng)?;
        let both = ndarray::concatenate(Axis(0), &[v1.view(), v2.view()])
            .map_err(|e| Error::Shape(e.to_string()))?;
        Ok((
            ViewPair(images_tensor(&both, &self.device)?),
            self.temperature,
        ))
    }
}

pub(crate) fn epoch_means<S>(log: &[crate::EpochLog<S>], value: impl Fn(&S) -> f64) -> Vec<f64> {
    log.iter()
        .map(|epoch| {
            let n = epoch.steps.len().max(1);
            #[allow(clippy::cast_precision_loss)]
            let mean = epoch.steps.iter().map(&value).sum::<f64>() / n as f64;
            mean
        })
        .collect()
}

/// Contrastive pretraining of `model` on `images` (see the module documentation); calls
/// `progress(steps done, total steps)` after every step.
///
/// # Shapes
/// `images` `[N, C, H, W]` with `C` the model's channels, `H, W ≤` its side, values in
/// `[0, 1]`. A last batch of a single image has no negatives: its loss is 0.
///
/// # Errors
/// [`Error::Shape`] for images the model cannot take; [`Error::Config`] for zero epochs or
/// batch size, a temperature ≤ 0 or invalid augmentations; candle errors.
pub fn pretrain(
    model: &mut SimclrModel,
    images: ArrayView4<'_, f32>,
    cfg: &PretrainConfig,
    progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<RunReport> {
    check_input(&images, model.cfg.channels, model.cfg.image_size)?;
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.temperature.is_nan() || cfg.temperature <= 0.0
    {
        return Err(Error::Config(format!(
            "expected epochs ≥ 1, batch_size ≥ 1 and temperature > 0, got {}, {} and {}",
            cfg.epochs, cfg.batch_size, cfg.temperature
        )));
    }
    cfg.augment.check()?;
    model.lars = LarsSchedule {
        lars: cfg.lars,
        warmup_fraction: cfg.warmup_fraction,
        batch_size: cfg.batch_size,
        ..LarsSchedule::default()
    };
    let mut batches = ContrastiveBatches {
        images,
        side: model.cfg.image_size,
        augment: cfg.augment,
        temperature: cfg.temperature,
        device: model.device.clone(),
    };
    let fit_cfg = FitConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: cfg.seed,
    };
    let log = fit(model, &mut batches, &fit_cfg, progress)?;
    Ok(RunReport {
        steps: log.iter().map(|e| e.steps.len()).sum(),
        epoch_losses: epoch_means(&log, |s| s.loss),
    })
}

/// TD-FT's network: a pretrained backbone and projection layer with a guidance
/// classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineTuneConfig {
    /// The pretrained network.
    pub simclr: SimclrConfig,
    /// Hidden units of the guidance classifier.
    pub hidden_dim: usize,
    /// Classes of the labels.
    pub classes: usize,
}

/// TD-FT's network and its variables.
pub struct FineTuneModel {
    varmap: VarMap,
    network: Network,
    projection: Dense,
    hidden: Dense,
    output: Dense,
    cfg: FineTuneConfig,
    device: Device,
    lars: LarsSchedule,
}

/// The guidance classifier's variables live under `guide.`.
const GUIDE: &str = "guide";
/// The prefix of their names (with the dot, so that no other layer can match it).
const GUIDE_PREFIX: &str = "guide.";

impl FineTuneModel {
    /// A freshly initialised network (the classifier from `seed`).
    ///
    /// # Errors
    /// [`Error::Config`] for zero hidden units or fewer than 2 classes; as
    /// [`SimclrModel::new`].
    pub fn new(cfg: &FineTuneConfig, seed: u64, device: DeviceChoice) -> Result<Self> {
        Self::on_device(cfg, seed, device.open()?)
    }

    fn on_device(cfg: &FineTuneConfig, seed: u64, device: Device) -> Result<Self> {
        cfg.simclr.check()?;
        if cfg.hidden_dim == 0 || cfg.classes < 2 {
            return Err(Error::Config(format!(
                "expected hidden_dim ≥ 1 and classes ≥ 2, got {} and {}",
                cfg.hidden_dim, cfg.classes
            )));
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let s = &cfg.simclr;
        let network = Network::new(s.backbone, s.channels, vb.pp("encoder"))?;
        let projection = Dense::new(
            s.backbone.feature_dim(),
            s.projection_dim,
            vb.pp("projection"),
        )?;
        let hidden = Dense::new(s.projection_dim, cfg.hidden_dim, vb.pp(GUIDE).pp("hidden"))?;
        let output = Dense::new(cfg.hidden_dim, cfg.classes, vb.pp(GUIDE).pp("output"))?;
        seeded_init(&varmap, seed)?;
        Ok(Self {
            varmap,
            network,
            projection,
            hidden,
            output,
            cfg: *cfg,
            device,
            lars: LarsSchedule::default(),
        })
    }

    /// The pretrained model's backbone and projection (copied) with a fresh guidance
    /// classifier from `seed`.
    ///
    /// # Errors
    /// [`Error::Config`] when `cfg.simclr` is not the pretrained model's configuration; as
    /// [`FineTuneModel::new`].
    pub fn from_pretrained(
        pretrained: &SimclrModel,
        cfg: &FineTuneConfig,
        seed: u64,
    ) -> Result<Self> {
        if cfg.simclr != pretrained.cfg {
            return Err(Error::Config(format!(
                "the TD-FT network {:?} differs from the pretrained one {:?}",
                cfg.simclr, pretrained.cfg
            )));
        }
        let model = Self::on_device(cfg, seed, pretrained.device.clone())?;
        let source = pretrained.varmap.data().lock().map_err(|_| poisoned())?;
        let target = model.varmap.data().lock().map_err(|_| poisoned())?;
        for (name, var) in source.iter() {
            let dst = target.get(name).ok_or_else(|| {
                Error::Config(format!(
                    "TD-FT has no variable `{name}` of the pretrained model"
                ))
            })?;
            dst.set(&var.as_tensor().copy()?)?;
        }
        drop(target);
        drop(source);
        Ok(model)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &FineTuneConfig {
        &self.cfg
    }

    /// The variables.
    #[must_use]
    pub const fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The guidance classifier's logits.
    ///
    /// # Shapes
    /// `[B, C, S, S]` → `[B, classes]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn logits(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        let features = self.network.forward_t(images, train)?;
        if train {
            let z = self.projection.forward(&features)?;
            self.output.forward(&self.hidden.forward(&z)?.relu()?)
        } else {
            let z = self.projection.forward_detached(&features)?;
            self.output
                .forward_detached(&self.hidden.forward_detached(&z)?.relu()?)
        }
    }

    /// The guidance classifier's accuracy on labelled images, in eval mode.
    ///
    /// # Errors
    /// As [`Embedder::embed`]; [`Error::Shape`] when the counts differ.
    pub fn accuracy(&self, images: ArrayView4<'_, f32>, labels: &[u32]) -> Result<f64> {
        if labels.len() != images.len_of(Axis(0)) {
            return Err(Error::Shape(format!(
                "expected one label per image, got {} labels for {} images",
                labels.len(),
                images.len_of(Axis(0))
            )));
        }
        let logits = embed_batches(
            images,
            self.cfg.simclr.geometry(),
            &self.device,
            self.cfg.classes,
            |x| self.logits(x, false),
        )?;
        let correct = logits
            .outer_iter()
            .zip(labels)
            .filter(|&(row, &y)| {
                let best = row
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                    )
                    .0;
                best == y as usize
            })
            .count();
        #[allow(clippy::cast_precision_loss)]
        Ok(correct as f64 / labels.len().max(1) as f64)
    }

    /// Writes `model.safetensors` and `config.json` into `dir`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder or a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, &self.varmap, &self.cfg)
    }

    /// Loads a checkpoint written by [`FineTuneModel::save`].
    ///
    /// # Errors
    /// As [`SimclrModel::load`].
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let cfg: FineTuneConfig = read_config(dir)?;
        let model = Self::new(&cfg, 0, device)?;
        load_weights(dir, &model.varmap)?;
        Ok(model)
    }
}

impl Embedder for FineTuneModel {
    fn embedding_dim(&self) -> usize {
        self.cfg.simclr.projection_dim
    }

    /// The projection layer's output in eval mode.
    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        embed_batches(
            images,
            self.cfg.simclr.geometry(),
            &self.device,
            self.embedding_dim(),
            |x| {
                self.projection
                    .forward_detached(&self.network.forward_t(x, false)?)
            },
        )
    }
}

/// A labelled batch: images `[B, C, S, S]` and labels `[B]` (u32).
#[derive(Debug, Clone)]
pub struct LabelledImages {
    /// The images.
    pub images: Tensor,
    /// Their classes.
    pub labels: Tensor,
}

/// What a supervised step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupervisedStats {
    /// Mean cross-entropy of the batch (nats).
    pub loss: f64,
}

impl Trainable for FineTuneModel {
    type Batch = LabelledImages;
    type Stats = SupervisedStats;

    fn trainable_vars(&self) -> Result<Vec<candle_core::Var>> {
        crate::trainable::trainable_vars(&self.varmap)
    }

    fn loss(&self, batch: &LabelledImages) -> Result<Loss<SupervisedStats>> {
        let logits = self.logits(&batch.images, true)?;
        let value = candle_nn::loss::cross_entropy(&logits, &batch.labels)?;
        let loss = value.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        Ok(Loss {
            value,
            stats: SupervisedStats { loss },
        })
    }

    fn optimiser_for(&self, cfg: &FitConfig, total_steps: usize) -> Result<Optimiser> {
        lars_optimiser(&self.varmap, &self.lars, cfg, total_steps)
    }
}

/// How [`fine_tune`] trains.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuneTrainConfig {
    /// Passes over the class-balanced labelled set (at least).
    pub epochs: usize,
    /// Least steps: as many whole passes as reach this many steps (a handful of labels
    /// still gets a real update).
    pub min_steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate at a batch of 512, scaled with the square root of the
    /// configured batch (the paper: 0.11 ≈ 0.005 · √512, SimCLRv2's fine-tuning rule).
    /// A labelled set smaller than the batch is one batch per step at this rate, as in
    /// the paper, whose 500 labels never fill its batch of 512.
    pub learning_rate: f64,
    /// Share of the steps spent warming up linearly.
    pub warmup_fraction: f64,
    /// LARS settings.
    pub lars: LarsConfig,
    /// The labelled images' augmentation.
    pub augment: AugmentParams,
    /// Seed of the balancing, shuffling and augmentation.
    pub seed: u64,
}

impl Default for FineTuneTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            min_steps: 150,
            batch_size: 512,
            learning_rate: 0.11,
            warmup_fraction: 0.05,
            // SimCLR fine-tunes without weight decay.
            lars: LarsConfig {
                weight_decay: 0.0,
                ..LarsConfig::default()
            },
            augment: AugmentParams::default(),
            seed: 0,
        }
    }
}

struct LabelledBatches<'a> {
    images: ArrayView4<'a, f32>,
    labels: &'a [u32],
    /// The class-balanced order (indices into `images`), drawn once.
    balanced: Vec<usize>,
    side: usize,
    augment: AugmentParams,
    device: Device,
}

impl Batches<FineTuneModel> for LabelledBatches<'_> {
    fn examples(&self) -> usize {
        self.balanced.len()
    }

    fn batch(
        &mut self,
        indices: &[usize],
        _at: Position,
        rng: &mut ChaCha8Rng,
    ) -> Result<LabelledImages> {
        let members: Vec<usize> = indices.iter().map(|&i| self.balanced[i]).collect();
        let raw = padded(&self.images, &members, self.side)?;
        let augmented = augment_batch(raw.view(), &self.augment, rng)?;
        let labels: Vec<u32> = members.iter().map(|&i| self.labels[i]).collect();
        Ok(LabelledImages {
            images: images_tensor(&augmented, &self.device)?,
            labels: Tensor::from_vec(labels, members.len(), &self.device)?,
        })
    }
}

/// Supervised fine-tuning of `model` on labelled images (see the module documentation);
/// calls `progress(steps done, total steps)` after every step.
///
/// # Shapes
/// `images` `[N, C, H, W]` as for [`pretrain`], `labels` `[N]` with values below the
/// model's class count.
///
/// # Errors
/// [`Error::Shape`] for images the model cannot take, a label count that differs, a label
/// out of range or no labels; [`Error::Config`] for zero epochs or batch size; candle
/// errors.
pub fn fine_tune(
    model: &mut FineTuneModel,
    images: ArrayView4<'_, f32>,
    labels: &[u32],
    cfg: &FineTuneTrainConfig,
    progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<RunReport> {
    let s = model.cfg.simclr;
    check_labelled(&images, labels, s.channels, s.image_size, model.cfg.classes)?;
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(Error::Config(format!(
            "expected epochs ≥ 1 and batch_size ≥ 1, got {} and {}",
            cfg.epochs, cfg.batch_size
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_ba1a);
    let balanced = balanced_indices(labels, &mut rng);
    let per_epoch = balanced.len().div_ceil(cfg.batch_size);
    let epochs = cfg.epochs.max(cfg.min_steps.div_ceil(per_epoch));
    model.lars = LarsSchedule {
        lars: cfg.lars,
        warmup_fraction: cfg.warmup_fraction,
        batch_size: cfg.batch_size,
        plain_prefix: Some(GUIDE_PREFIX),
    };
    let mut batches = LabelledBatches {
        images,
        labels,
        balanced,
        side: s.image_size,
        augment: cfg.augment,
        device: model.device.clone(),
    };
    let fit_cfg = FitConfig {
        epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: cfg.seed,
    };
    let log = fit(model, &mut batches, &fit_cfg, progress)?;
    Ok(RunReport {
        steps: log.iter().map(|e| e.steps.len()).sum(),
        epoch_losses: epoch_means(&log, |s| s.loss),
    })
}

impl std::fmt::Debug for SimclrModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimclrModel")
            .field("config", &self.cfg)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FineTuneModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FineTuneModel")
            .field("config", &self.cfg)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}
