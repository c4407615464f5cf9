//! The VAE of Burgess et al. (2018), "Understanding disentangling in β-VAE", §A.1, for
//! square `C × S × S` inputs (S = 32 for 28 × 28 images zero-padded): three
//! [conv 4×4, stride 2, padding 1, ReLU] layers, FC 256 → FC 256 → FC 2|z| (mean and
//! log-variance of a diagonal Gaussian posterior), and a decoder that mirrors it with
//! transposed convolutions and returns Bernoulli logits. The prior is N(0, I).
//!
//! The negative ELBO per image, in nats (Kingma & Welling 2014, Eq. 10), is
//! `BCE(x, logits(z)) + β · KL(q(z|x) ‖ N(0, I))` with `z = μ + σ ⊙ ε`; the noise `ε` is
//! an input of [`Vae::loss`] so that the loss is a deterministic function of the weights
//! (which makes seeded training reproducible and gradients checkable).
//!
//! On the CPU the layers run as the fused custom ops of [`crate::ops`] on channels-last
//! activations (same weights, same results up to float rounding, several times faster);
//! on other devices they are candle's built-in layers.

use candle_core::{D, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::ops::{self, Activation};
use crate::{Error, Result};

/// Number of stride-2 convolutions in the encoder (and transposed ones in the decoder).
const CONV_LAYERS: usize = 3;
/// Kernel size of every (transposed) convolution.
pub(crate) const KERNEL: usize = 4;
/// Stride of every (transposed) convolution.
pub(crate) const STRIDE: usize = 2;
/// Padding of every (transposed) convolution.
pub(crate) const PADDING: usize = 1;

/// Architecture of the VAE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Image channels (1 for grey).
    pub channels: usize,
    /// Side of the square input image, a multiple of 8 (32 for padded 28 × 28 images).
    pub image_size: usize,
    /// Channels of every convolution (32 in Burgess et al.).
    pub conv_channels: usize,
    /// Width of the two hidden fully connected layers (256 in Burgess et al.).
    pub hidden_dim: usize,
    /// Latent dimension |z|.
    pub latent_dim: usize,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self {
            channels: 1,
            image_size: 32,
            conv_channels: 32,
            hidden_dim: 256,
            latent_dim: 10,
        }
    }
}

impl VaeConfig {
    /// Validates the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero size or an image side that is not a positive multiple
    /// of 8.
    pub fn check(&self) -> Result<()> {
        let side_ok = self.image_size >= 8 && self.image_size.is_multiple_of(1 << CONV_LAYERS);
        if !side_ok {
            return Err(Error::Config(format!(
                "expected an image side that is a positive multiple of 8 (32 for padded 28×28 \
                 images), got {}",
                self.image_size
            )));
        }
        for (name, value) in [
            ("channels", self.channels),
            ("conv_channels", self.conv_channels),
            ("hidden_dim", self.hidden_dim),
            ("latent_dim", self.latent_dim),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("expected {name} ≥ 1, got 0")));
            }
        }
        Ok(())
    }

    /// Side of the feature map after the last encoder convolution.
    #[must_use]
    pub const fn feature_side(&self) -> usize {
        self.image_size >> CONV_LAYERS
    }

    /// Length of the flattened feature map.
    #[must_use]
    pub const fn feature_len(&self) -> usize {
        self.conv_channels * self.feature_side() * self.feature_side()
    }
}

fn conv_config() -> Conv2dConfig {
    Conv2dConfig {
        padding: PADDING,
        stride: STRIDE,
        ..Conv2dConfig::default()
    }
}

fn conv_transpose_config() -> ConvTranspose2dConfig {
    ConvTranspose2dConfig {
        padding: PADDING,
        stride: STRIDE,
        ..ConvTranspose2dConfig::default()
    }
}

fn bias_of(bias: Option<&Tensor>) -> candle_core::Result<&Tensor> {
    bias.ok_or_else(|| candle_core::Error::Msg("expected a layer with a bias".to_owned()))
}

/// A linear layer followed by `activation`: the fused op on the CPU, candle-nn elsewhere.
pub(crate) fn dense(
    layer: &Linear,
    x: &Tensor,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        ops::linear(x, layer.weight(), bias_of(layer.bias())?, activation)
    } else {
        let y = layer.forward(x)?;
        match activation {
            Activation::Relu => y.relu(),
            Activation::Identity => Ok(y),
        }
    }
}

/// `[B, C, H, W]` → contiguous `[B, H, W, C]` (a free reshape when C = 1).
fn to_channels_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    if c == 1 {
        x.reshape((b, h, w, 1))
    } else {
        x.permute((0, 2, 3, 1))?.contiguous()
    }
}

/// `[B, H, W, C]` → contiguous `[B, C, H, W]` (a free reshape when C = 1).
fn to_channels_first(x: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    if c == 1 {
        x.reshape((b, 1, h, w))
    } else {
        x.permute((0, 3, 1, 2))?.contiguous()
    }
}

/// The inference network q(z | x).
#[derive(Debug, Clone)]
pub struct Encoder {
    pub(crate) convs: Vec<Conv2d>,
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
    pub(crate) head: Linear,
    latent_dim: usize,
}

impl Encoder {
    /// Builds the encoder's layers under `vb` (`conv0..2`, `fc1`, `fc2`, `head`).
    ///
    /// # Errors
    /// [`Error::Config`] as [`VaeConfig::check`]; candle errors creating variables.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder<'_>) -> Result<Self> {
        cfg.check()?;
        let mut convs = Vec::with_capacity(CONV_LAYERS);
        for i in 0..CONV_LAYERS {
            let input = if i == 0 {
                cfg.channels
            } else {
                cfg.conv_channels
            };
            convs.push(candle_nn::conv2d(
                input,
                cfg.conv_channels,
                KERNEL,
                conv_config(),
                vb.pp(format!("conv{i}")),
            )?);
        }
        Ok(Self {
            convs,
            fc1: candle_nn::linear(cfg.feature_len(), cfg.hidden_dim, vb.pp("fc1"))?,
            fc2: candle_nn::linear(cfg.hidden_dim, cfg.hidden_dim, vb.pp("fc2"))?,
            head: candle_nn::linear(cfg.hidden_dim, 2 * cfg.latent_dim, vb.pp("head"))?,
            latent_dim: cfg.latent_dim,
        })
    }

    /// Posterior mean and log-variance.
    ///
    /// # Shapes
    /// `[B, C, S, S]` in; `([B, |z|], [B, |z|])` out.
    ///
    /// # Errors
    /// Candle errors (shape mismatches are checked by the callers in this crate).
    pub fn posterior(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let both = self.forward(images)?;
        let mean = both.narrow(1, 0, self.latent_dim)?;
        let log_var = both.narrow(1, self.latent_dim, self.latent_dim)?;
        Ok((mean, log_var))
    }
}

impl Encoder {
    /// The CPU path: fused channels-last convolutions, then fused linear layers (the last
    /// feature map is put back in channel-first order, which the checkpoints' `fc1` expects).
    fn forward_fused(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = to_channels_last(images)?;
        for conv in &self.convs {
            h = ops::conv2d_nhwc(
                &h,
                conv.weight(),
                bias_of(conv.bias())?,
                STRIDE,
                PADDING,
                Activation::Relu,
            )?;
        }
        let h = to_channels_first(&h)?.flatten_from(1)?;
        let h = dense(&self.fc1, &h, Activation::Relu)?;
        let h = dense(&self.fc2, &h, Activation::Relu)?;
        dense(&self.head, &h, Activation::Identity)
    }

    /// candle's built-in layers (any device); the reference the fused path is tested against.
    ///
    /// # Errors
    /// Candle errors.
    pub fn forward_builtin(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = images.clone();
        for conv in &self.convs {
            h = conv.forward(&h)?.relu()?;
        }
        let h = h.flatten_from(1)?;
        let h = self.fc1.forward(&h)?.relu()?;
        let h = self.fc2.forward(&h)?.relu()?;
        self.head.forward(&h)
    }
}

impl Module for Encoder {
    /// `[B, C, S, S]` → `[B, 2|z|]` (mean, then log-variance).
    fn forward(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        if images.device().is_cpu() {
            self.forward_fused(images)
        } else {
            self.forward_builtin(images)
        }
    }
}

/// The generative network p(x | z), returning Bernoulli logits.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
    pub(crate) fc3: Linear,
    pub(crate) deconvs: Vec<ConvTranspose2d>,
    conv_channels: usize,
    feature_side: usize,
}

impl Decoder {
    /// Builds the decoder's layers under `vb` (`fc1..3`, `deconv0..2`).
    ///
    /// # Errors
    /// [`Error::Config`] as [`VaeConfig::check`]; candle errors creating variables.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder<'_>) -> Result<Self> {
        cfg.check()?;
        let mut deconvs = Vec::with_capacity(CONV_LAYERS);
        for i in 0..CONV_LAYERS {
            let output = if i + 1 == CONV_LAYERS {
                cfg.channels
            } else {
                cfg.conv_channels
            };
            deconvs.push(candle_nn::conv_transpose2d(
                cfg.conv_channels,
                output,
                KERNEL,
                conv_transpose_config(),
                vb.pp(format!("deconv{i}")),
            )?);
        }
        Ok(Self {
            fc1: candle_nn::linear(cfg.latent_dim, cfg.hidden_dim, vb.pp("fc1"))?,
            fc2: candle_nn::linear(cfg.hidden_dim, cfg.hidden_dim, vb.pp("fc2"))?,
            fc3: candle_nn::linear(cfg.hidden_dim, cfg.feature_len(), vb.pp("fc3"))?,
            deconvs,
            conv_channels: cfg.conv_channels,
            feature_side: cfg.feature_side(),
        })
    }
}

impl Decoder {
    /// The CPU path: fused linear layers, then fused channels-last transposed convolutions.
    fn forward_fused(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        let h = dense(&self.fc1, z, Activation::Relu)?;
        let h = dense(&self.fc2, &h, Activation::Relu)?;
        let h = dense(&self.fc3, &h, Activation::Relu)?;
        let batch = h.dim(0)?;
        let mut h = to_channels_last(&h.reshape((
            batch,
            self.conv_channels,
            self.feature_side,
            self.feature_side,
        ))?)?;
        for (i, deconv) in self.deconvs.iter().enumerate() {
            let activation = if i + 1 < self.deconvs.len() {
                Activation::Relu
            } else {
                Activation::Identity
            };
            h = ops::conv_transpose2d_nhwc(
                &h,
                deconv.weight(),
                bias_of(deconv.bias())?,
                STRIDE,
                PADDING,
                activation,
            )?;
        }
        to_channels_first(&h)
    }

    /// candle's built-in layers (any device); the reference the fused path is tested against.
    ///
    /// # Errors
    /// Candle errors.
    pub fn forward_builtin(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.fc1.forward(z)?.relu()?;
        let h = self.fc2.forward(&h)?.relu()?;
        let h = self.fc3.forward(&h)?.relu()?;
        let batch = h.dim(0)?;
        let mut h = h.reshape((
            batch,
            self.conv_channels,
            self.feature_side,
            self.feature_side,
        ))?;
        for (i, deconv) in self.deconvs.iter().enumerate() {
            h = deconv.forward(&h)?;
            if i + 1 < self.deconvs.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

impl Module for Decoder {
    /// `[B, |z|]` → logits `[B, C, S, S]`.
    fn forward(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        if z.device().is_cpu() {
            self.forward_fused(z)
        } else {
            self.forward_builtin(z)
        }
    }
}

/// The terms of the negative ELBO of one batch, each a scalar averaged over the batch
/// (nats per image).
#[derive(Debug, Clone)]
pub struct ElboTerms {
    /// Bernoulli reconstruction loss `−E_q log p(x|z)` (one-sample estimate).
    pub reconstruction: Tensor,
    /// `KL(q(z|x) ‖ N(0, I))`, in closed form.
    pub kl: Tensor,
    /// Posterior means `[B, |z|]`.
    pub mean: Tensor,
    /// The reparameterised sample `z = μ + σ ⊙ ε`, `[B, |z|]`.
    pub sample: Tensor,
}

impl ElboTerms {
    /// `reconstruction + β · kl`, the loss to minimise (a scalar).
    ///
    /// # Errors
    /// Candle errors.
    pub fn loss(&self, beta: f64) -> Result<Tensor> {
        Ok((&self.reconstruction + (&self.kl * beta)?)?)
    }
}

/// The Burgess et al. VAE.
#[derive(Debug, Clone)]
pub struct Vae {
    /// q(z | x).
    pub encoder: Encoder,
    /// p(x | z).
    pub decoder: Decoder,
    cfg: VaeConfig,
}

impl Vae {
    /// Builds the encoder under `vb.pp("encoder")` and the decoder under `vb.pp("decoder")`.
    ///
    /// # Errors
    /// [`Error::Config`] as [`VaeConfig::check`]; candle errors creating variables.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder<'_>) -> Result<Self> {
        cfg.check()?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            cfg: cfg.clone(),
        })
    }

    /// The architecture.
    #[must_use]
    pub const fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    /// The negative-ELBO terms of a batch for the given reparameterisation noise.
    ///
    /// # Shapes
    /// `images` `[B, C, S, S]` with values in `[0, 1]`; `noise` `[B, |z|]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes disagree with the configuration; candle errors.
    pub fn loss(&self, images: &Tensor, noise: &Tensor) -> Result<ElboTerms> {
        let (b, c, h, w) = images.dims4()?;
        let s = self.cfg.image_size;
        if (c, h, w) != (self.cfg.channels, s, s) {
            return Err(Error::Shape(format!(
                "expected images [B, {}, {s}, {s}], got [{b}, {c}, {h}, {w}]",
                self.cfg.channels
            )));
        }
        if noise.dims() != [b, self.cfg.latent_dim] {
            return Err(Error::Shape(format!(
                "expected noise [{b}, {}], got {:?}",
                self.cfg.latent_dim,
                noise.dims()
            )));
        }
        let (mean, log_var) = self.encoder.posterior(images)?;
        let sample = (&mean + (noise * (&log_var * 0.5)?.exp()?)?)?;
        let logits = self.decoder.forward(&sample)?;
        let reconstruction = if logits.device().is_cpu() {
            ops::bce_with_logits_sum(&logits, images)?.mean(0)?
        } else {
            bce_with_logits(&logits, images)?
                .flatten_from(1)?
                .sum(1)?
                .mean(0)?
        };
        // KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (μ² + σ² − 1 − ln σ²)  (Kingma & Welling 2014, App. B).
        let kl = (((mean.sqr()? + log_var.exp()?)? - 1.0)? - &log_var)?
            .sum(D::Minus1)?
            .mean(0)?;
        Ok(ElboTerms {
            reconstruction,
            kl: (kl * 0.5)?,
            mean,
            sample,
        })
    }
}

impl Module for Vae {
    /// Reconstruction logits `[B, C, S, S]` decoded from the posterior mean.
    fn forward(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        let both = self.encoder.forward(images)?;
        let mean = both.narrow(1, 0, self.cfg.latent_dim)?;
        self.decoder.forward(&mean)
    }
}

/// Element-wise binary cross-entropy of targets `x ∈ [0, 1]` under Bernoulli logits `l`,
/// in the overflow-free form `max(l, 0) − l·x + ln(1 + e^{−|l|})`.
///
/// # Errors
/// Candle errors (shapes must agree).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok(((logits.relu()? - (logits * targets)?)? + softplus)?)
}
