//! Convolutional backbones for contrastive (SimCLR) and supervised training: a small CNN
//! for CPUs and the CIFAR-style ResNet-18 and ResNet-50 of SimCLR (He et al. 2016; Chen et
//! al. 2020, Appendix B.9: a 3 × 3 stem of stride 1 and no max-pool for 32 × 32 inputs),
//! each ending in a global average pool.
//!
//! Every layer is a [`ConvBn`]: a bias-free convolution, a batch normalisation and an
//! optional ReLU. On the CPU with f32 variables a backbone runs **channels-last** and each
//! layer is one fused custom op of [`crate::ops`] (im2col convolution, normalisation and
//! ReLU with one backward pass, [`crate::ops::conv_bn_nhwc`]), so a training step is
//! candle autograd over a handful of fused nodes; elsewhere it runs candle's own channels-first layers. Both
//! compute the same function of the same variables (tested), so a checkpoint moves between
//! them.
//!
//! Batch normalisation uses the batch statistics and updates the running statistics in
//! train mode (PyTorch's momentum 0.1, unbiased running variance), and the running
//! statistics in eval mode ([`crate::layers`]).

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{BatchNorm, Conv2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::layers::batch_norm;
use crate::ops::{Activation, BnStats, conv_bn_nhwc};
use crate::{Error, Result};

/// Which network maps an image to its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backbone {
    /// 4 × [conv 3 × 3 + BatchNorm + ReLU] with 32/64/128/256 channels and strides
    /// 1/2/2/2, global average pool → 256 (the CPU `quick` profile's network).
    SmallCnn,
    /// CIFAR-style ResNet-18: 3 × 3 stem (64), four stages of two basic blocks
    /// (64/128/256/512, strides 1/2/2/2), global average pool → 512.
    #[serde(rename = "resnet18")]
    ResNet18,
    /// CIFAR-style ResNet-50: 3 × 3 stem (64), four stages of 3/4/6/3 bottleneck blocks
    /// (widths 64/128/256/512, expansion 4), global average pool → 2048.
    #[serde(rename = "resnet50")]
    ResNet50,
}

impl Backbone {
    /// The feature dimension after the global average pool.
    #[must_use]
    pub const fn feature_dim(self) -> usize {
        match self {
            Self::SmallCnn => 256,
            Self::ResNet18 => 512,
            Self::ResNet50 => 2048,
        }
    }

    /// The name used in configuration files.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SmallCnn => "small-cnn",
            Self::ResNet18 => "resnet18",
            Self::ResNet50 => "resnet50",
        }
    }
}

/// Whether a network runs the fused channels-last CPU path: CPU tensors of dtype f32.
#[must_use]
pub fn fused_path(device: &Device, dtype: DType) -> bool {
    device.is_cpu() && dtype == DType::F32
}

/// Activations in the layout of the path that produced them.
#[derive(Debug, Clone)]
pub struct Activations {
    /// `[B, H, W, C]` on the fused path, `[B, C, H, W]` otherwise.
    pub tensor: Tensor,
    /// Whether `tensor` is channels-last (the fused path).
    pub channels_last: bool,
}

impl Activations {
    /// Channels-first images `[B, C, H, W]` in the layout of the path chosen for `device`
    /// and the tensor's dtype.
    ///
    /// # Errors
    /// Candle errors (a tensor that is not rank 4).
    pub fn from_images(images: &Tensor) -> Result<Self> {
        let channels_last = fused_path(images.device(), images.dtype());
        let tensor = if channels_last {
            images.permute((0, 2, 3, 1))?.contiguous()?
        } else {
            images.clone()
        };
        Ok(Self {
            tensor,
            channels_last,
        })
    }

    fn with(&self, tensor: Tensor) -> Self {
        Self {
            tensor,
            channels_last: self.channels_last,
        }
    }

    /// The mean over the spatial positions: `[B, C]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn global_average_pool(&self) -> Result<Tensor> {
        Ok(if self.channels_last {
            let (b, h, w, c) = self.tensor.dims4()?;
            self.tensor.reshape((b, h * w, c))?.mean(1)?
        } else {
            self.tensor.mean((2, 3))?
        })
    }
}

/// A bias-free `k × k` convolution, a batch normalisation and an optional ReLU.
#[derive(Debug, Clone)]
pub struct ConvBn {
    weight: Tensor,
    bn: BatchNorm,
    stride: usize,
    padding: usize,
    relu: bool,
}

impl ConvBn {
    /// Creates `conv.weight` `[C_out, C_in, k, k]` and the normalisation's variables
    /// (`bn.*`) under `vb`; padding `k / 2`.
    ///
    /// # Errors
    /// Candle errors creating the variables.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        relu: bool,
        vb: VarBuilder<'_>,
    ) -> Result<Self> {
        let weight = vb
            .pp("conv")
            .get((out_channels, in_channels, kernel, kernel), "weight")?;
        Ok(Self {
            weight,
            bn: batch_norm(out_channels, vb.pp("bn"))?,
            stride,
            padding: kernel / 2,
            relu,
        })
    }

    /// Forward in the layout of `x`; `train` selects batch or running statistics.
    ///
    /// # Shapes
    /// `[B, H, W, C_in]` (fused) or `[B, C_in, H, W]` → the same layout with `C_out`
    /// channels and sides `(side + 2·padding − k) / stride + 1`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn forward(&self, x: &Activations, train: bool) -> Result<Activations> {
        if !x.channels_last {
            let cfg = Conv2dConfig {
                padding: self.padding,
                stride: self.stride,
                ..Conv2dConfig::default()
            };
            let y = x
                .tensor
                .conv2d(&self.weight, cfg.padding, cfg.stride, 1, 1)?;
            let y = self.bn.forward_t(&y, train)?;
            return Ok(x.with(if self.relu { y.relu()? } else { y }));
        }
        let (gamma, beta) = self
            .bn
            .weight_and_bias()
            .ok_or_else(|| Error::Config("batch normalisation without scale and shift".into()))?;
        let activation = if self.relu {
            Activation::Relu
        } else {
            Activation::Identity
        };
        let frozen = if train {
            None
        } else {
            Some(BnStats {
                mean: to_f64(self.bn.running_mean())?,
                var: to_f64(self.bn.running_var())?,
            })
        };
        // In eval mode nothing is differentiated: detached weights keep candle from
        // recording the op (and the convolution output it holds) in a graph.
        let detach = |t: &Tensor| if train { t.clone() } else { t.detach() };
        let (out, stats) = conv_bn_nhwc(
            &x.tensor,
            &detach(&self.weight),
            (&detach(gamma), &detach(beta)),
            self.stride,
            self.padding,
            self.bn.eps(),
            activation,
            frozen,
        )?;
        if train {
            let stats = stats.get().ok_or_else(|| {
                Error::Config("batch normalisation ran without statistics".into())
            })?;
            self.update_running(stats, out.elem_count() / stats.mean.len())?;
        }
        Ok(x.with(out))
    }

    /// PyTorch's running averages: `r ← (1 − m)·r + m·batch`, the variance unbiased.
    fn update_running(&self, stats: &BnStats, rows: usize) -> Result<()> {
        let m = self.bn.momentum();
        #[allow(clippy::cast_precision_loss)]
        let unbias = if rows > 1 {
            rows as f64 / (rows - 1) as f64
        } else {
            1.0
        };
        let update = |running: &Tensor, batch: &[f64], scale: f64| -> Result<()> {
            let old = to_f64(running)?;
            let new: Vec<f64> = old
                .iter()
                .zip(batch)
                .map(|(r, b)| (1.0 - m) * r + m * b * scale)
                .collect();
            let value = Tensor::from_vec(new, running.shape(), running.device())?
                .to_dtype(running.dtype())?;
            Var::from_tensor(running)?.set(&value)?;
            Ok(())
        };
        update(self.bn.running_mean(), &stats.mean, 1.0)?;
        update(self.bn.running_var(), &stats.var, unbias)
    }
}

fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

/// A residual block: basic (two 3 × 3) or bottleneck (1 × 1, 3 × 3, 1 × 1), with a
/// projection shortcut when the shape changes.
#[derive(Debug, Clone)]
struct Block {
    layers: Vec<ConvBn>,
    shortcut: Option<ConvBn>,
}

impl Block {
    fn basic(cin: usize, cout: usize, stride: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            layers: vec![
                ConvBn::new(cin, cout, 3, stride, true, vb.pp("c1"))?,
                ConvBn::new(cout, cout, 3, 1, false, vb.pp("c2"))?,
            ],
            shortcut: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(cin, cout, 1, stride, false, vb.pp("shortcut")))
                .transpose()?,
        })
    }

    fn bottleneck(cin: usize, width: usize, stride: usize, vb: VarBuilder<'_>) -> Result<Self> {
        let cout = 4 * width;
        Ok(Self {
            layers: vec![
                ConvBn::new(cin, width, 1, 1, true, vb.pp("c1"))?,
                ConvBn::new(width, width, 3, stride, true, vb.pp("c2"))?,
                ConvBn::new(width, cout, 1, 1, false, vb.pp("c3"))?,
            ],
            shortcut: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(cin, cout, 1, stride, false, vb.pp("shortcut")))
                .transpose()?,
        })
    }

    fn forward(&self, x: &Activations, train: bool) -> Result<Activations> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y, train)?;
        }
        let skip = match &self.shortcut {
            Some(s) => s.forward(x, train)?.tensor,
            None => x.tensor.clone(),
        };
        Ok(x.with((y.tensor + skip)?.relu()?))
    }
}

/// A backbone's layers.
#[derive(Debug, Clone)]
pub struct Network {
    kind: Backbone,
    stem: Vec<ConvBn>,
    blocks: Vec<Block>,
}

impl Network {
    /// Creates the variables of `kind` for images with `channels` channels under `vb`.
    ///
    /// # Errors
    /// [`Error::Config`] for zero channels; candle errors.
    pub fn new(kind: Backbone, channels: usize, vb: VarBuilder<'_>) -> Result<Self> {
        if channels == 0 {
            return Err(Error::Config("expected images with ≥ 1 channel".into()));
        }
        let mut stem = Vec::new();
        let mut blocks = Vec::new();
        match kind {
            Backbone::SmallCnn => {
                let mut cin = channels;
                for (i, (cout, stride)) in [(32, 1), (64, 2), (128, 2), (256, 2)]
                    .into_iter()
                    .enumerate()
                {
                    stem.push(ConvBn::new(
                        cin,
                        cout,
                        3,
                        stride,
                        true,
                        vb.pp(format!("l{i}")),
                    )?);
                    cin = cout;
                }
            }
            Backbone::ResNet18 | Backbone::ResNet50 => {
                stem.push(ConvBn::new(channels, 64, 3, 1, true, vb.pp("stem"))?);
                let bottleneck = kind == Backbone::ResNet50;
                let depths = if bottleneck {
                    [3, 4, 6, 3]
                } else {
                    [2, 2, 2, 2]
                };
                let mut cin = 64;
                for (stage, (width, depth)) in
                    [64, 128, 256, 512].into_iter().zip(depths).enumerate()
                {
                    for b in 0..depth {
                        let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                        let vb = vb.pp(format!("s{stage}b{b}"));
                        if bottleneck {
                            blocks.push(Block::bottleneck(cin, width, stride, vb)?);
                            cin = 4 * width;
                        } else {
                            blocks.push(Block::basic(cin, width, stride, vb)?);
                            cin = width;
                        }
                    }
                }
            }
        }
        Ok(Self { kind, stem, blocks })
    }

    /// Which backbone this is.
    #[must_use]
    pub const fn kind(&self) -> Backbone {
        self.kind
    }

    /// The pooled features of channels-first images.
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[B, d]` with `d =` [`Backbone::feature_dim`].
    ///
    /// # Errors
    /// Candle errors (a wrong channel count, too small an image).
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = Activations::from_images(images)?;
        for layer in &self.stem {
            x = layer.forward(&x, train)?;
        }
        for block in &self.blocks {
            x = block.forward(&x, train)?;
        }
        x.global_average_pool()
    }
}

/// The parameter count of `kind` for `channels` input channels, in closed form (without
/// the normalisations' running statistics): each convolution `k²·C_in·C_out`, each
/// normalisation `2·C_out`.
#[must_use]
pub fn parameter_count(kind: Backbone, channels: usize) -> usize {
    let conv_bn = |cin: usize, cout: usize, k: usize| k * k * cin * cout + 2 * cout;
    match kind {
        Backbone::SmallCnn => {
            conv_bn(channels, 32, 3)
                + conv_bn(32, 64, 3)
                + conv_bn(64, 128, 3)
                + conv_bn(128, 256, 3)
        }
        Backbone::ResNet18 => {
            let stem = conv_bn(channels, 64, 3);
            let basic = |cin: usize, cout: usize, project: bool| {
                conv_bn(cin, cout, 3)
                    + conv_bn(cout, cout, 3)
                    + if project { conv_bn(cin, cout, 1) } else { 0 }
            };
            stem + 2 * basic(64, 64, false)
                + basic(64, 128, true)
                + basic(128, 128, false)
                + basic(128, 256, true)
                + basic(256, 256, false)
                + basic(256, 512, true)
                + basic(512, 512, false)
        }
        Backbone::ResNet50 => {
            let stem = conv_bn(channels, 64, 3);
            let bottleneck = |cin: usize, w: usize, project: bool| {
                conv_bn(cin, w, 1)
                    + conv_bn(w, w, 3)
                    + conv_bn(w, 4 * w, 1)
                    + if project { conv_bn(cin, 4 * w, 1) } else { 0 }
            };
            let mut total = stem;
            let mut cin = 64;
            for (w, depth) in [(64, 3), (128, 4), (256, 6), (512, 3)] {
                total += bottleneck(cin, w, true);
                total += (depth - 1) * bottleneck(4 * w, w, false);
                cin = 4 * w;
            }
            total
        }
    }
}
