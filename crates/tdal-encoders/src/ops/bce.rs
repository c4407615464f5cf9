//! The Bernoulli reconstruction loss summed per image, as one custom op: the forward pass is
//! one read of logits and targets, the backward pass one write of `g · (σ(l) − x)`, in place
//! of candle's chain of seven element-wise ops (and their autograd nodes).

use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{Real, float_dtype, input_slice, with_slice};

/// Per-image sums of the binary cross-entropy of targets `x ∈ [0, 1]` under Bernoulli
/// logits `l`, `Σ_pixels max(l, 0) − l·x + ln(1 + e^{−|l|})` (nats), as
/// [`crate::bce_with_logits`] summed over all but the first axis. The backward pass gives
/// the logits the gradient `g_b · (σ(l) − x)` and the targets none.
///
/// # Shapes
/// `logits` and `targets` of one shape `[B, …]`; returns `[B]`.
///
/// # Errors
/// Candle errors for differing shapes, non-CPU tensors or dtypes other than f32/f64.
pub fn bce_with_logits_sum(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    float_dtype("bce_with_logits_sum", &[logits, targets])?;
    if logits.dims() != targets.dims() || logits.rank() == 0 {
        candle_core::bail!(
            "bce_with_logits_sum: expected logits and targets of one shape [B, …], got {:?} and {:?}",
            logits.dims(),
            targets.dims()
        );
    }
    let batch = logits.dim(0)?;
    logits
        .contiguous()?
        .apply_op2_arc(&targets.contiguous()?, Arc::new(Box::new(BceOp { batch })))
}

struct BceOp {
    batch: usize,
}

fn bce<T: Real>(l: T, x: T) -> T {
    let relu = if l > T::zero() { l } else { T::zero() };
    relu - l * x + (-l.abs()).exp().ln_1p()
}

/// σ(l) without overflow for either sign.
fn sigmoid<T: Real>(l: T) -> T {
    let e = (-l.abs()).exp();
    if l >= T::zero() {
        T::one() / (T::one() + e)
    } else {
        e / (T::one() + e)
    }
}

/// Per-image BCE sums of `batch` images (as [`bce_with_logits_sum`]).
pub(crate) fn bce_forward<T: Real>(batch: usize, logits: &[T], targets: &[T]) -> Vec<T> {
    BceOp { batch }.forward(logits, targets)
}

/// The logits' gradient `grad_b · (σ(l) − x)` for per-image gradients `grad`.
pub(crate) fn bce_backward<T: Real>(
    batch: usize,
    logits: &[T],
    targets: &[T],
    grad: &[T],
) -> Vec<T> {
    BceOp { batch }.backward(logits, targets, grad)
}

impl BceOp {
    fn forward<T: Real>(&self, logits: &[T], targets: &[T]) -> Vec<T> {
        let per_image = logits.len() / self.batch.max(1);
        let mut out = vec![T::zero(); self.batch];
        if per_image == 0 {
            return out;
        }
        out.par_iter_mut()
            .zip(
                logits
                    .par_chunks(per_image)
                    .zip(targets.par_chunks(per_image)),
            )
            .for_each(|(sum, (l, x))| {
                let mut acc = T::zero();
                for (&l, &x) in l.iter().zip(x) {
                    acc += bce(l, x);
                }
                *sum = acc;
            });
        out
    }

    fn backward<T: Real>(&self, logits: &[T], targets: &[T], grad: &[T]) -> Vec<T> {
        let per_image = logits.len() / self.batch.max(1);
        let mut out = vec![T::zero(); logits.len()];
        if per_image == 0 {
            return out;
        }
        out.par_chunks_mut(per_image)
            .zip(
                logits
                    .par_chunks(per_image)
                    .zip(targets.par_chunks(per_image)),
            )
            .zip(grad.par_iter())
            .for_each(|((d, (l, x)), &g)| {
                for ((d, &l), &x) in d.iter_mut().zip(l).zip(x) {
                    *d = g * (sigmoid(l) - x);
                }
            });
        out
    }
}

impl CustomOp2 for BceOp {
    fn name(&self) -> &'static str {
        "bce_with_logits_sum"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let storage = match s1.dtype() {
            DType::F32 => {
                CpuStorage::F32(self.forward::<f32>(input_slice(s1, l1)?, input_slice(s2, l2)?))
            }
            DType::F64 => {
                CpuStorage::F64(self.forward::<f64>(input_slice(s1, l1)?, input_slice(s2, l2)?))
            }
            other => candle_core::bail!("bce_with_logits_sum: unsupported dtype {other:?}"),
        };
        Ok((storage, Shape::from(self.batch)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        fn run<T: Real>(
            op: &BceOp,
            logits: &Tensor,
            targets: &Tensor,
            grad: &Tensor,
        ) -> candle_core::Result<Tensor> {
            let values = with_slice::<T, _>(logits, |l| {
                with_slice::<T, _>(targets, |x| {
                    with_slice::<T, _>(grad, |g| Ok(op.backward(l, x, g)))
                })
            })?;
            Tensor::from_vec(values, logits.shape(), logits.device())
        }
        let dl = match logits.dtype() {
            DType::F32 => run::<f32>(self, logits, targets, grad)?,
            DType::F64 => run::<f64>(self, logits, targets, grad)?,
            other => candle_core::bail!("bce_with_logits_sum: unsupported dtype {other:?}"),
        };
        Ok((Some(dl), None))
    }
}
