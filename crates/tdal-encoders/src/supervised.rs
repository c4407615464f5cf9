//! The messy-pool baselines' own network (SIMILAR, GALAXY, Cluster-Margin): a
//! [`Backbone`], a fully connected layer of `hidden_dim` units with ReLU (the paper's
//! "plus 128-unit FC") and a linear output layer, trained **from scratch** on the labels
//! acquired so far in every round, or with its backbone started from weights in a
//! safetensors file ([`SupervisedModel::load_backbone`], [`crate::pretrained`]; the paper
//! starts GALAXY's from ImageNet).
//!
//! [`SupervisedModel`] splits at the last layer: [`Embedder::embed`] gives the hidden
//! layer's activations `h` (`[N, hidden_dim]`, eval mode), and
//! [`SupervisedModel::last_layer`] the output layer's weights, so that the network's
//! prediction is `softmax(h · Wᵀ + b)` exactly. The baselines' selectors need both: `h`
//! for SIMILAR's gradient embeddings and Cluster-Margin's clusters, the probabilities for
//! every selector's uncertainty.
//!
//! [`train_supervised`] trains with Adam (batch 200, learning rate 1e-3 by default; the
//! paper uses 1e-4 for GALAXY) on the class-weighted cross-entropy (weight 1/n_c for a
//! class with n_c labels, PyTorch's weighted mean over the batch, as the GALAXY authors'
//! trainer does) until the training accuracy, measured in eval mode after each epoch,
//! reaches `target_accuracy` (0.99) or `max_epochs` passes have run. The images are not
//! augmented (the reference trains on the raw images too).
//!
//! ```
//! use ndarray::Array4;
//! use tdal_encoders::supervised::{SupervisedConfig, SupervisedModel, SupervisedTrainConfig, train_supervised};
//! use tdal_encoders::{Backbone, DeviceChoice, Embedder};
//!
//! let cfg = SupervisedConfig { backbone: Backbone::SmallCnn, channels: 1, image_size: 8, hidden_dim: 4, classes: 2 };
//! let mut model = SupervisedModel::new(&cfg, 0, DeviceChoice::Cpu)?;
//! let images = Array4::from_shape_fn((6, 1, 8, 8), |(n, _, h, _)| if h < 4 { (n % 2) as f32 } else { 0.0 });
//! let labels = [0, 1, 0, 1, 0, 1];
//! let train = SupervisedTrainConfig { max_epochs: 3, ..SupervisedTrainConfig::default() };
//! let report = train_supervised(&mut model, images.view(), &labels, &train, None)?;
//! assert!(report.epochs >= 1 && report.epochs <= 3);
//! assert_eq!(model.embed(images.view())?.dim(), (6, 4));
//! # Ok::<(), tdal_encoders::Error>(())
//! ```

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::{Array1, Array2, ArrayView2, ArrayView4, Axis};
use serde::{Deserialize, Serialize};

use crate::backbone::{Backbone, Network};
use crate::init::seeded_init;
use crate::model::{load_weights, read_config, save_checkpoint};
use crate::pretrained::{BackboneWeights, LoadReport};
use crate::simclr::{Dense, check_labelled, embed_batches, epoch_means, images_tensor, padded};
use crate::trainable::{Batches, FitConfig, Loss, Position, Trainable, fit_until};
use crate::{DeviceChoice, Embedder, Error, Result};

/// The baselines' network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisedConfig {
    /// The feature network.
    pub backbone: Backbone,
    /// Image channels (1 grayscale, 3 colour).
    pub channels: usize,
    /// Side of the square input; smaller images are zero-padded centrally.
    pub image_size: usize,
    /// Units of the fully connected layer after the backbone (the paper: 128).
    pub hidden_dim: usize,
    /// Classes of the labels.
    pub classes: usize,
}

impl SupervisedConfig {
    /// Validates the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] for zero channels or hidden units, fewer than 2 classes, or an
    /// image side below 8.
    pub fn check(&self) -> Result<()> {
        if self.channels == 0 || self.hidden_dim == 0 || self.classes < 2 {
            return Err(Error::Config(format!(
                "expected channels ≥ 1, hidden_dim ≥ 1 and classes ≥ 2, got {}, {} and {}",
                self.channels, self.hidden_dim, self.classes
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

/// The network and its variables.
pub struct SupervisedModel {
    varmap: VarMap,
    network: Network,
    hidden: Dense,
    output: Dense,
    cfg: SupervisedConfig,
    device: Device,
}

impl SupervisedModel {
    /// A freshly initialised network (PyTorch's default initialisation from `seed`).
    ///
    /// # Errors
    /// As [`SupervisedConfig::check`] and [`DeviceChoice::open`]; candle errors.
    pub fn new(cfg: &SupervisedConfig, seed: u64, device: DeviceChoice) -> Result<Self> {
        cfg.check()?;
        let device = device.open()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let network = Network::new(cfg.backbone, cfg.channels, vb.pp("encoder"))?;
        let hidden = Dense::new(cfg.backbone.feature_dim(), cfg.hidden_dim, vb.pp("hidden"))?;
        let output = Dense::new(cfg.hidden_dim, cfg.classes, vb.pp("output"))?;
        seeded_init(&varmap, seed)?;
        Ok(Self {
            varmap,
            network,
            hidden,
            output,
            cfg: *cfg,
            device,
        })
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &SupervisedConfig {
        &self.cfg
    }

    /// The variables.
    #[must_use]
    pub const fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The hidden layer's activations (after ReLU).
    fn hidden_t(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        let features = self.network.forward_t(images, train)?;
        let h = if train {
            self.hidden.forward(&features)?
        } else {
            self.hidden.forward_detached(&features)?
        };
        Ok(h.relu()?)
    }

    /// The logits.
    ///
    /// # Shapes
    /// `[B, C, S, S]` → `[B, classes]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn logits(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.hidden_t(images, train)?;
        if train {
            self.output.forward(&h)
        } else {
            self.output.forward_detached(&h)
        }
    }

    /// The output layer: weights `W` `[classes, hidden_dim]` and bias `b` `[classes]`, so
    /// that the network predicts `softmax(h · Wᵀ + b)` from [`Embedder::embed`]'s `h`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn last_layer(&self) -> Result<(Array2<f32>, Array1<f32>)> {
        let w = self.output.weight.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let b = self.output.bias.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let w = Array2::from_shape_vec(
            (self.cfg.classes, self.cfg.hidden_dim),
            w.into_iter().flatten().collect(),
        )
        .map_err(|e| Error::Shape(e.to_string()))?;
        Ok((w, Array1::from(b)))
    }

    /// Class probabilities in eval mode.
    ///
    /// # Shapes
    /// `[N, C, H, W]` → `[N, classes]`.
    ///
    /// # Errors
    /// As [`Embedder::embed`].
    pub fn predict_proba(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let (w, b) = self.last_layer()?;
        Ok(softmax_affine(self.embed(images)?.view(), w.view(), &b))
    }

    /// The accuracy on labelled images, in eval mode.
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
        let probs = self.predict_proba(images)?;
        let correct = probs
            .outer_iter()
            .zip(labels)
            .filter(|&(row, &y)| argmax(row.iter().copied()) == y as usize)
            .count();
        #[allow(clippy::cast_precision_loss)]
        Ok(correct as f64 / labels.len().max(1) as f64)
    }

    /// Copies a safetensors file's weights into the backbone (tdal's or torchvision's
    /// names; the input convolution adapted or kept as [`crate::pretrained`] says); the
    /// fully connected and output layers keep their values.
    ///
    /// # Errors
    /// As [`BackboneWeights::read`]; candle errors.
    pub fn load_backbone(&mut self, path: &Path) -> Result<LoadReport> {
        let weights = BackboneWeights::read(path, self)?;
        self.set_backbone(&weights)?;
        Ok(weights.report().clone())
    }

    /// Copies weights resolved for this network (by [`BackboneWeights::read`] on a network
    /// of the same configuration) into the backbone.
    ///
    /// # Errors
    /// [`Error::Shape`] when they were resolved for another architecture; candle errors.
    pub fn set_backbone(&mut self, weights: &BackboneWeights) -> Result<()> {
        crate::pretrained::copy_into(&self.varmap, weights)
    }

    /// Writes `model.safetensors` and `config.json` into `dir`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder or a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, &self.varmap, &self.cfg)
    }

    /// Loads a checkpoint written by [`SupervisedModel::save`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a missing or mismatched checkpoint; device errors.
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let cfg: SupervisedConfig = read_config(dir)?;
        let model = Self::new(&cfg, 0, device)?;
        load_weights(dir, &model.varmap)?;
        Ok(model)
    }
}

/// `softmax(x · Wᵀ + b)` row by row, in f32 with the maximum subtracted.
///
/// # Shapes
/// `x` `[N, H]`, `w` `[C, H]`, `b` `[C]` → `[N, C]`.
#[must_use]
pub fn softmax_affine(
    x: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    b: &Array1<f32>,
) -> Array2<f32> {
    let mut logits = x.dot(&w.t());
    for mut row in logits.outer_iter_mut() {
        row += b;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f32 = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    logits
}

/// The index of the largest value (the first of equal ones).
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |acc, (i, v)| if v > acc.1 { (i, v) } else { acc },
        )
        .0
}

impl Embedder for SupervisedModel {
    fn embedding_dim(&self) -> usize {
        self.cfg.hidden_dim
    }

    /// The hidden layer's activations `h` in eval mode.
    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let geometry = (self.cfg.channels, self.cfg.image_size);
        embed_batches(images, geometry, &self.device, self.cfg.hidden_dim, |x| {
            self.hidden_t(x, false)
        })
    }
}

/// A labelled batch with per-example loss weights.
#[derive(Debug, Clone)]
pub struct WeightedBatch {
    /// Images `[B, C, S, S]`.
    pub images: Tensor,
    /// Classes `[B]` (u32).
    pub labels: Tensor,
    /// Loss weights `[B]` (f32).
    pub weights: Tensor,
}

/// What a supervised step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedStats {
    /// The batch's weighted mean cross-entropy (nats).
    pub loss: f64,
}

impl Trainable for SupervisedModel {
    type Batch = WeightedBatch;
    type Stats = WeightedStats;

    fn trainable_vars(&self) -> Result<Vec<candle_core::Var>> {
        crate::trainable::trainable_vars(&self.varmap)
    }

    /// `Σ w_i · CE_i / Σ w_i` over the batch (PyTorch's weighted mean).
    fn loss(&self, batch: &WeightedBatch) -> Result<Loss<WeightedStats>> {
        let logits = self.logits(&batch.images, true)?;
        let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = log_p.gather(&batch.labels.unsqueeze(1)?, 1)?.squeeze(1)?;
        let total = (picked * &batch.weights)?.sum_all()?.neg()?;
        let value = total.broadcast_div(&batch.weights.sum_all()?)?;
        let loss = value.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        Ok(Loss {
            value,
            stats: WeightedStats { loss },
        })
    }

    fn optimiser(&self, learning_rate: f64) -> Result<crate::Optimiser> {
        crate::Optimiser::adam(self.trainable_vars()?, learning_rate)
    }

    fn optimiser_for(&self, cfg: &FitConfig, _total_steps: usize) -> Result<crate::Optimiser> {
        self.optimiser(cfg.learning_rate)
    }
}

/// How [`train_supervised`] trains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisedTrainConfig {
    /// Images per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Most passes over the labelled set.
    pub max_epochs: usize,
    /// Stop once the training accuracy (eval mode, after an epoch) reaches this.
    pub target_accuracy: f64,
    /// Weight each example by 1 / (its class's label count).
    pub class_weighted: bool,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl Default for SupervisedTrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            learning_rate: 1e-3,
            max_epochs: 100,
            target_accuracy: 0.99,
            class_weighted: true,
            seed: 0,
        }
    }
}

/// What [`train_supervised`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisedReport {
    /// Epochs run.
    pub epochs: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Training accuracy after the last epoch (eval mode).
    pub train_accuracy: f64,
    /// Whether `target_accuracy` was reached (else `max_epochs` ran out).
    pub converged: bool,
    /// Mean step loss per epoch.
    pub epoch_losses: Vec<f64>,
}

struct WeightedBatches<'a> {
    images: ArrayView4<'a, f32>,
    labels: &'a [u32],
    weights: Vec<f32>,
    side: usize,
    device: Device,
}

impl Batches<SupervisedModel> for WeightedBatches<'_> {
    fn examples(&self) -> usize {
        self.labels.len()
    }

    fn batch(
        &mut self,
        indices: &[usize],
        _at: Position,
        _rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<WeightedBatch> {
        let raw = padded(&self.images, indices, self.side)?;
        let labels: Vec<u32> = indices.iter().map(|&i| self.labels[i]).collect();
        let weights: Vec<f32> = labels.iter().map(|&y| self.weights[y as usize]).collect();
        Ok(WeightedBatch {
            images: images_tensor(&raw, &self.device)?,
            labels: Tensor::from_vec(labels, indices.len(), &self.device)?,
            weights: Tensor::from_vec(weights, indices.len(), &self.device)?,
        })
    }
}

/// Trains `model` on labelled images (see the module documentation); calls
/// `progress(steps done, most steps)` after every step.
///
/// # Shapes
/// `images` `[N, C, H, W]` in `[0, 1]` with `H, W ≤ image_size`; `labels` `[N]` below the
/// model's class count.
///
/// # Errors
/// [`Error::Shape`] for images the model cannot take, a label count that differs, a label
/// out of range or no labels; [`Error::Config`] for zero epochs or batch size, or a
/// learning rate or target accuracy that is not a finite positive number (the target at
/// most 1); candle errors.
pub fn train_supervised(
    model: &mut SupervisedModel,
    images: ArrayView4<'_, f32>,
    labels: &[u32],
    cfg: &SupervisedTrainConfig,
    progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<SupervisedReport> {
    let m = model.cfg;
    check_labelled(&images, labels, m.channels, m.image_size, m.classes)?;
    let rate_ok = cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0;
    let target_ok = cfg.target_accuracy > 0.0 && cfg.target_accuracy <= 1.0;
    if cfg.max_epochs == 0 || cfg.batch_size == 0 || !rate_ok || !target_ok {
        return Err(Error::Config(format!(
            "expected max_epochs ≥ 1, batch_size ≥ 1, learning_rate > 0 and 0 < target_accuracy \
             ≤ 1, got {}, {}, {} and {}",
            cfg.max_epochs, cfg.batch_size, cfg.learning_rate, cfg.target_accuracy
        )));
    }
    let mut counts = vec![0usize; m.classes];
    for &y in labels {
        counts[y as usize] += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let weights = counts
        .iter()
        .map(|&n| {
            if cfg.class_weighted && n > 0 {
                1.0 / n as f32
            } else {
                1.0
            }
        })
        .collect();
    let mut batches = WeightedBatches {
        images,
        labels,
        weights,
        side: m.image_size,
        device: model.device.clone(),
    };
    let fit_cfg = FitConfig {
        epochs: cfg.max_epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: cfg.seed,
    };
    let mut accuracy = 0.0;
    let log = fit_until(model, &mut batches, &fit_cfg, progress, &mut |model, _| {
        accuracy = model.accuracy(images, labels)?;
        Ok(accuracy >= cfg.target_accuracy)
    })?;
    let epoch_losses = epoch_means(&log, |s| s.loss);
    Ok(SupervisedReport {
        epochs: log.len(),
        steps: log.iter().map(|e| e.steps.len()).sum(),
        train_accuracy: accuracy,
        converged: accuracy >= cfg.target_accuracy,
        epoch_losses,
    })
}

impl std::fmt::Debug for SupervisedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisedModel")
            .field("config", &self.cfg)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array4;

    use super::*;

    fn cfg(classes: usize) -> SupervisedConfig {
        SupervisedConfig {
            backbone: Backbone::SmallCnn,
            channels: 1,
            image_size: 8,
            hidden_dim: 6,
            classes,
        }
    }

    /// Images whose class is a bright quadrant.
    fn quadrants(n: usize, classes: usize) -> (Array4<f32>, Vec<u32>) {
        let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
        let images = Array4::from_shape_fn((n, 1, 8, 8), |(i, _, h, w)| {
            let q = (h / 4) * 2 + w / 4;
            let noise = ((i * 31 + h * 7 + w * 3) % 11) as f32 / 40.0;
            if q == labels[i] as usize {
                0.7 + noise
            } else {
                noise
            }
        });
        (images, labels)
    }

    #[test]
    fn prediction_is_softmax_of_the_last_layer_on_the_embedding() -> Result<()> {
        let model = SupervisedModel::new(&cfg(3), 1, DeviceChoice::Cpu)?;
        let (images, _) = quadrants(5, 3);
        let x = images_tensor(&images, &model.device)?;
        let logits = model.logits(&x, false)?.to_vec2::<f32>()?;
        let probs = model.predict_proba(images.view())?;
        for (row, p) in logits.iter().zip(probs.outer_iter()) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f32 = row.iter().map(|v| (v - max).exp()).sum();
            for (l, q) in row.iter().zip(p) {
                assert!(((l - max).exp() / z - q).abs() < 1e-5);
            }
        }
        Ok(())
    }

    #[test]
    fn weighted_loss_matches_a_hand_computation() -> Result<()> {
        let model = SupervisedModel::new(&cfg(3), 2, DeviceChoice::Cpu)?;
        let (images, labels) = quadrants(4, 3);
        let weights = [0.5f32, 2.0, 1.0, 0.5];
        let batch = WeightedBatch {
            images: images_tensor(&images, &model.device)?,
            labels: Tensor::from_vec(labels.clone(), 4, &model.device)?,
            weights: Tensor::from_vec(weights.to_vec(), 4, &model.device)?,
        };
        // Train mode: batch statistics, as the loss sees them.
        let logits = model.logits(&batch.images, true)?.to_vec2::<f32>()?;
        let mut num = 0.0f64;
        for ((row, &y), &w) in logits.iter().zip(&labels).zip(&weights) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = f64::from(max)
                + row
                    .iter()
                    .map(|v| f64::from(v - max).exp())
                    .sum::<f64>()
                    .ln();
            num += f64::from(w) * (lse - f64::from(row[y as usize]));
        }
        let expected = num / weights.iter().map(|&w| f64::from(w)).sum::<f64>();
        let got = model.loss(&batch)?.stats.loss;
        assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
        Ok(())
    }

    #[test]
    fn training_reaches_the_target_accuracy_and_is_seeded() -> Result<()> {
        let (images, labels) = quadrants(24, 3);
        let train = SupervisedTrainConfig {
            batch_size: 8,
            learning_rate: 3e-3,
            max_epochs: 60,
            seed: 5,
            ..SupervisedTrainConfig::default()
        };
        let mut a = SupervisedModel::new(&cfg(3), 3, DeviceChoice::Cpu)?;
        let report = train_supervised(&mut a, images.view(), &labels, &train, None)?;
        assert!(report.converged, "{report:?}");
        assert!(report.train_accuracy >= 0.99);
        assert!(report.epochs < 60);
        assert!((a.accuracy(images.view(), &labels)? - report.train_accuracy).abs() < 1e-12);
        let mut b = SupervisedModel::new(&cfg(3), 3, DeviceChoice::Cpu)?;
        train_supervised(&mut b, images.view(), &labels, &train, None)?;
        assert_eq!(a.last_layer()?, b.last_layer()?);
        Ok(())
    }

    #[test]
    fn checkpoints_round_trip() -> Result<()> {
        let model = SupervisedModel::new(&cfg(2), 4, DeviceChoice::Cpu)?;
        let dir = std::env::temp_dir().join(format!("tdal-sup-{}", std::process::id()));
        model.save(&dir)?;
        let back = SupervisedModel::load(&dir, DeviceChoice::Cpu)?;
        let (images, _) = quadrants(3, 2);
        assert_eq!(model.embed(images.view())?, back.embed(images.view())?);
        assert_eq!(model.last_layer()?, back.last_layer()?);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() -> Result<()> {
        let mut model = SupervisedModel::new(&cfg(2), 0, DeviceChoice::Cpu)?;
        let (images, labels) = quadrants(4, 2);
        let train = SupervisedTrainConfig::default();
        assert!(train_supervised(&mut model, images.view(), &labels[..3], &train, None).is_err());
        assert!(train_supervised(&mut model, images.view(), &[0, 1, 2, 0], &train, None).is_err());
        let zero = SupervisedTrainConfig {
            max_epochs: 0,
            ..train
        };
        assert!(train_supervised(&mut model, images.view(), &labels, &zero, None).is_err());
        assert!(SupervisedModel::new(&cfg(1), 0, DeviceChoice::Cpu).is_err());
        Ok(())
    }
}
