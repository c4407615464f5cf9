//! A convolution, a batch normalisation and an activation as **one** custom op: the
//! backbones' layer. Fusing them keeps the convolution's output inside the op (it is
//! needed again only by the backward pass), so autograd holds one activation tensor and
//! one gradient per layer instead of two, and the normalisation's output gradient goes
//! straight into the convolution's backward pass. The arithmetic is exactly that of
//! [`super::conv2d_nhwc`] followed by [`super::batch_norm_nhwc`] (tested).

use std::any::Any;
use std::sync::{Arc, OnceLock};

use candle_core::{Shape, Tensor};

use super::bn::{BnCore, BnStats, StatsCell};
use super::conv::{ConvOp, conv2d_op};
use super::{Activation, FusedLayer, Grads, Real, apply, float_dtype};

/// `activation(batch_norm(conv2d(x, weight)))` of channels-last images: a bias-free
/// convolution (stride, padding), then the normalisation of [`super::batch_norm_nhwc`]
/// with scale `gamma`, shift `beta` and batch statistics (`frozen = None`, returned in the
/// cell) or the given ones.
///
/// # Shapes
/// `x` `[B, H, W, C_in]`, `weight` `[C_out, C_in, k, k]`, `gamma` and `beta` `[C_out]`;
/// returns `[B, H_out, W_out, C_out]` as [`super::conv2d_nhwc`].
///
/// # Errors
/// Candle errors for shape mismatches, non-CPU tensors or dtypes other than f32/f64.
#[allow(clippy::too_many_arguments)]
pub fn conv_bn_nhwc(
    x: &Tensor,
    weight: &Tensor,
    (gamma, beta): (&Tensor, &Tensor),
    stride: usize,
    padding: usize,
    eps: f64,
    activation: Activation,
    frozen: Option<BnStats>,
) -> candle_core::Result<(Tensor, StatsCell)> {
    const OP: &str = "conv_bn_nhwc";
    float_dtype(OP, &[x, weight, gamma, beta])?;
    let channels = weight.dim(0)?;
    if channels == 0 || x.dim(0)? == 0 {
        candle_core::bail!(
            "{OP}: expected a non-empty batch and ≥ 1 output channel, got input {:?}, weight {:?}",
            x.dims(),
            weight.dims()
        );
    }
    if gamma.dims() != [channels] || beta.dims() != [channels] {
        candle_core::bail!(
            "{OP}: expected gamma and beta [{channels}] for weight {:?}, got {:?} and {:?}",
            weight.dims(),
            gamma.dims(),
            beta.dims()
        );
    }
    let zero_bias = Tensor::zeros(channels, x.dtype(), x.device())?;
    let conv = conv2d_op(x, weight, &zero_bias, stride, padding, Activation::Identity)?;
    let shape = conv.output_shape();
    let stats: StatsCell = Arc::new(OnceLock::new());
    let is_frozen = frozen.is_some();
    if let Some(given) = frozen {
        if given.mean.len() != channels || given.var.len() != channels {
            candle_core::bail!("{OP}: frozen statistics of the wrong length");
        }
        let _ = stats.set(given);
    }
    let op = ConvBnOp {
        conv,
        core: BnCore {
            rows: shape.elem_count() / channels,
            channels,
            eps,
            activation,
        },
        frozen: is_frozen,
        stats: Arc::clone(&stats),
        conv_out: OnceLock::new(),
    };
    // γ and β travel as one `[2·C_out]` input (a custom op has at most three).
    let scale_shift = Tensor::cat(&[gamma, beta], 0)?;
    Ok((apply(op, x, weight, &scale_shift)?, stats))
}

struct ConvBnOp {
    conv: ConvOp,
    core: BnCore,
    frozen: bool,
    stats: StatsCell,
    /// The convolution's output (`Vec<T>`), kept for the backward pass.
    conv_out: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl FusedLayer for ConvBnOp {
    fn name(&self) -> &'static str {
        "conv_bn_nhwc"
    }

    fn forward<T: Real>(&self, x: &[T], weight: &[T], scale_shift: &[T]) -> Vec<T> {
        let c = self.core.channels;
        let zero_bias = vec![T::zero(); c];
        let z = self.conv.forward(x, weight, &zero_bias);
        let stats = self.stats.get_or_init(|| self.core.batch_stats(&z));
        let y = self
            .core
            .forward(&z, &scale_shift[..c], &scale_shift[c..], stats);
        let _ = self.conv_out.set(Box::new(z));
        y
    }

    fn backward<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        scale_shift: &[T],
        out: &[T],
        grad: &[T],
        input_grad: bool,
    ) -> Grads<T> {
        let c = self.core.channels;
        let recomputed;
        let z: &Vec<T> = match self.conv_out.get().and_then(|b| b.downcast_ref::<Vec<T>>()) {
            Some(z) => z,
            None => {
                recomputed = self.conv.forward(x, weight, &vec![T::zero(); c]);
                &recomputed
            }
        };
        let stats = self
            .stats
            .get()
            .cloned()
            .unwrap_or_else(|| self.core.batch_stats(z));
        let terms = self
            .core
            .grad_terms(z, &scale_shift[..c], &stats, self.frozen, (out, grad));
        // The convolution's output gradient is made block by block inside its backward
        // pass, never as a whole tensor.
        let (dx, weight_grad, _) = self.conv.backward_with(x, weight, input_grad, &|span, dz| {
            dz.clear();
            dz.resize(span.len(), T::zero());
            self.core
                .input_grad_into(&terms, z, (out, grad), span, dz.as_mut_slice());
        });
        let mut scale_shift_grad = terms.gamma_grad;
        scale_shift_grad.extend(terms.beta_grad);
        (dx, weight_grad, scale_shift_grad)
    }

    fn output_shape(&self) -> Shape {
        self.conv.output_shape()
    }
}
