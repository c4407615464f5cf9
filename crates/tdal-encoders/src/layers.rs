//! Building blocks for models trained through candle's autograd ([`crate::trainable`]).
//!
//! Layers that behave differently in training and evaluation implement candle's
//! [`ModuleT`] (`forward_t(xs, train)`): [`BatchNorm`] normalises with the batch's
//! statistics and updates its running statistics in train mode, and uses the running
//! statistics in eval mode. A model's [`crate::Trainable::loss`] runs its layers with
//! `train = true`; embedding runs them with `train = false`.
//!
//! [`BatchNorm`] is candle-nn's (0.11), which tracks the running statistics as PyTorch's
//! `BatchNorm` does: in train mode it normalises each channel with the batch's mean and
//! biased variance (over the batch and spatial positions), and moves the running mean and
//! the running *unbiased* variance towards them with momentum `m`
//! (`running ← (1 − m) · running + m · batch`). The running statistics are variables of
//! the model's `VarMap` (`<p>.running_mean`, `<p>.running_var`, saved in checkpoints)
//! but buffers, not parameters: [`crate::init::is_buffer`] keeps them away from the
//! optimiser, and [`crate::init::InitPolicy`] starts them at 0 and 1 (and the scale at
//! 1, the shift at 0).

use candle_core::{ModuleT, Tensor};
use candle_nn::{BatchNormConfig, Conv2d, Conv2dConfig, VarBuilder};

use crate::Result;

pub use candle_nn::BatchNorm;

/// PyTorch's `BatchNorm` defaults: ε = 1e-5, momentum 0.1, learnable scale and shift.
#[must_use]
pub fn batch_norm_config() -> BatchNormConfig {
    BatchNormConfig {
        eps: 1e-5,
        remove_mean: true,
        affine: true,
        momentum: 0.1,
    }
}

/// A batch normalisation over the `num_features` channels (dimension 1) of its input,
/// with [`batch_norm_config`], its variables `weight`, `bias`, `running_mean` and
/// `running_var` under `vb`.
///
/// # Shapes
/// Input `[B, C, …]` (`[B, C]` or `[B, C, H, W]`) with `C = num_features`; output alike.
///
/// # Errors
/// Candle errors creating the variables.
pub fn batch_norm(num_features: usize, vb: VarBuilder<'_>) -> Result<BatchNorm> {
    Ok(candle_nn::batch_norm(
        num_features,
        batch_norm_config(),
        vb,
    )?)
}

/// A 3 × 3 convolution (stride 1, padding 1, no bias: the normalisation's shift takes
/// its place), a [`BatchNorm`] and a ReLU: the block of small CNN encoders.
#[derive(Debug, Clone)]
pub struct ConvBnRelu {
    /// The convolution (`conv.weight`).
    pub conv: Conv2d,
    /// The normalisation (`bn.*`).
    pub bn: BatchNorm,
}

impl ConvBnRelu {
    /// Creates the block's variables under `vb` (`conv.weight`, `bn.weight`, `bn.bias`,
    /// `bn.running_mean`, `bn.running_var`).
    ///
    /// # Errors
    /// Candle errors creating the variables.
    pub fn new(in_channels: usize, out_channels: usize, vb: VarBuilder<'_>) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Conv2dConfig::default()
        };
        Ok(Self {
            conv: candle_nn::conv2d_no_bias(in_channels, out_channels, 3, cfg, vb.pp("conv"))?,
            bn: batch_norm(out_channels, vb.pp("bn"))?,
        })
    }
}

impl ModuleT for ConvBnRelu {
    /// # Shapes
    /// `[B, C_in, H, W]` → `[B, C_out, H, W]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.bn.forward_t(&xs.apply(&self.conv)?, train)?.relu()
    }
}
