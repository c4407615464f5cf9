//! Fused CPU layers as candle custom ops, each with its own backward pass: convolution and
//! transposed convolution (im2col / col2im around one matrix product per block of images,
//! bias and ReLU fused), batch normalisation with ReLU fused (alone, or fused after a
//! convolution: the backbones' layer), a fully connected layer with fused bias and ReLU,
//! and the summed Bernoulli cross-entropy with logits. They replace chains of candle's
//! generic CPU ops (per-image convolutions, a direct-loop transposed convolution, separate
//! element-wise passes and their autograd nodes) in the VAE's and the SimCLR networks'
//! training steps; see docs/PERFORMANCE.md.
//!
//! Convolutions work on **channels-last** (`[B, H, W, C]`) activations: a patch of a
//! channels-last image is a few contiguous runs, and a block of whole images is a
//! contiguous chunk of both the input and the output, so blocks run on rayon threads
//! without sharing memory. Weights keep candle's (PyTorch's) layouts, so checkpoints are
//! unchanged. Every result is **independent of the thread count**: work is split into
//! blocks fixed by the shapes alone, each block's products run on one thread, and the
//! per-block partial weight gradients are summed in block order.
//!
//! The ops run on CPU tensors of dtype f32 or f64 (anything else is a candle error); the
//! models fall back to candle's built-in layers on other devices.

mod bce;
mod bn;
mod conv;
mod conv_bn;
mod dense;
mod gemm;
mod uninit;

pub(crate) use bce::{bce_backward, bce_forward};
pub(crate) use conv::ConvOp;
pub(crate) use dense::DenseOp;

use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor, WithDType};

pub use bce::bce_with_logits_sum;
pub use bn::{BnStats, StatsCell, batch_norm_nhwc};
pub use conv::{conv_transpose2d_nhwc, conv2d_nhwc};
pub use conv_bn::conv_bn_nhwc;
pub use dense::linear;

/// The activation fused after a layer's bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None: the layer is affine.
    Identity,
    /// `max(x, 0)`; its derivative is taken as 0 at 0.
    Relu,
}

/// The float types the ops support (f32 and f64).
pub(crate) trait Real:
    WithDType + std::ops::Neg<Output = Self> + Copy + Send + Sync + 'static
{
    fn scratch_pool() -> &'static std::thread::LocalKey<std::cell::RefCell<Vec<Vec<Self>>>>;
    fn exp(self) -> Self;
    fn ln_1p(self) -> Self;
    fn abs(self) -> Self;
}

thread_local! {
    static SCRATCH_F32: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
    static SCRATCH_F64: std::cell::RefCell<Vec<Vec<f64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A per-thread scratch vector that goes back to its thread's pool when dropped, so the
/// patch buffers of the convolution blocks are allocated (and first touched) once per
/// thread rather than once per block and step. Its length only grows; callers take
/// [`Scratch::slice`] of the length they need.
pub(crate) struct Scratch<T: Real>(Vec<T>);

impl<T: Real> Scratch<T> {
    pub(crate) fn take() -> Self {
        Self(
            T::scratch_pool()
                .try_with(|pool| pool.borrow_mut().pop())
                .ok()
                .flatten()
                .unwrap_or_default(),
        )
    }

    /// The first `len` elements (contents unspecified: callers overwrite them).
    pub(crate) fn slice(&mut self, len: usize) -> &mut [T] {
        if self.0.len() < len {
            self.0.resize(len, T::zero());
        }
        &mut self.0[..len]
    }

    /// The underlying vector (for `clear` + `extend` users).
    pub(crate) const fn vec(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Real> Drop for Scratch<T> {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        // During thread teardown the pool may be gone; the buffer is then just freed.
        let _ = T::scratch_pool().try_with(|pool| pool.borrow_mut().push(buffer));
    }
}

impl Real for f32 {
    fn scratch_pool() -> &'static std::thread::LocalKey<std::cell::RefCell<Vec<Vec<Self>>>> {
        &SCRATCH_F32
    }
    fn exp(self) -> Self {
        Self::exp(self)
    }
    fn ln_1p(self) -> Self {
        Self::ln_1p(self)
    }
    fn abs(self) -> Self {
        Self::abs(self)
    }
}

impl Real for f64 {
    fn scratch_pool() -> &'static std::thread::LocalKey<std::cell::RefCell<Vec<Vec<Self>>>> {
        &SCRATCH_F64
    }
    fn exp(self) -> Self {
        Self::exp(self)
    }
    fn ln_1p(self) -> Self {
        Self::ln_1p(self)
    }
    fn abs(self) -> Self {
        Self::abs(self)
    }
}

/// Gradients of a layer's `(input, weight, bias)`; the input's only when it is needed.
pub(crate) type Grads<T> = (Option<Vec<T>>, Vec<T>, Vec<T>);

/// A layer `y = f(x, weight, bias)` computed on slices, generic over the float type;
/// [`apply`] runs it as a candle op (through [`AsCustomOp`]).
pub(crate) trait FusedLayer {
    /// The op's name, for candle and for error messages.
    fn name(&self) -> &'static str;
    fn forward<T: Real>(&self, x: &[T], weight: &[T], bias: &[T]) -> Vec<T>;
    /// Gradients of `(x, weight, bias)` given the forward pass's `out` and the output
    /// gradient `grad`; the input's only if `input_grad`.
    fn backward<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        bias: &[T],
        out: &[T],
        grad: &[T],
        input_grad: bool,
    ) -> Grads<T>;
    fn output_shape(&self) -> Shape;
}

/// `layer(x, weight, bias)` as a candle op (on contiguous copies of strided inputs), with
/// [`FusedLayer::backward`] as its backward pass.
fn apply<L: FusedLayer + Send + Sync + 'static>(
    layer: L,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3_arc(
        &weight.contiguous()?,
        &bias.contiguous()?,
        Arc::new(Box::new(AsCustomOp(layer))),
    )
}

/// A [`FusedLayer`] as candle's `CustomOp3` (a foreign trait, so it cannot be implemented
/// for every `FusedLayer` directly).
struct AsCustomOp<L>(L);

type TensorGrads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

impl<L: FusedLayer> CustomOp3 for AsCustomOp<L> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let layer = &self.0;
        let storage = match s1.dtype() {
            DType::F32 => CpuStorage::F32(layer.forward::<f32>(
                input_slice(s1, l1)?,
                input_slice(s2, l2)?,
                input_slice(s3, l3)?,
            )),
            DType::F64 => CpuStorage::F64(layer.forward::<f64>(
                input_slice(s1, l1)?,
                input_slice(s2, l2)?,
                input_slice(s3, l3)?,
            )),
            other => candle_core::bail!("{}: unsupported dtype {other:?}", layer.name()),
        };
        Ok((storage, layer.output_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<TensorGrads> {
        fn run<L: FusedLayer, T: Real>(
            layer: &L,
            [x, weight, bias, out, grad]: [&Tensor; 5],
        ) -> candle_core::Result<TensorGrads> {
            // The input gradient is skipped for the images (no variable upstream).
            let input_grad = x.track_op();
            let (dx, dw, db) = with_slice::<T, _>(x, |xs| {
                with_slice::<T, _>(weight, |ws| {
                    with_slice::<T, _>(bias, |bs| {
                        with_slice::<T, _>(out, |os| {
                            with_slice::<T, _>(grad, |gs| {
                                Ok(layer.backward(xs, ws, bs, os, gs, input_grad))
                            })
                        })
                    })
                })
            })?;
            let device = x.device();
            Ok((
                dx.map(|v| Tensor::from_vec(v, x.shape(), device))
                    .transpose()?,
                Some(Tensor::from_vec(dw, weight.shape(), device)?),
                Some(Tensor::from_vec(db, bias.shape(), device)?),
            ))
        }
        let layer = &self.0;
        match x.dtype() {
            DType::F32 => run::<L, f32>(layer, [x, weight, bias, out, grad]),
            DType::F64 => run::<L, f64>(layer, [x, weight, bias, out, grad]),
            other => candle_core::bail!("{}: unsupported dtype {other:?}", layer.name()),
        }
    }
}

/// The contiguous elements of a custom op's input.
fn input_slice<'a, T: Real>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [T]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!(
            "fused op: expected a contiguous input, got strides {:?}",
            layout.stride()
        );
    };
    Ok(&storage.as_slice::<T>()?[start..end])
}

/// Runs `f` on the contiguous elements of a CPU tensor (copying only if it is strided).
fn with_slice<T: Real, R>(
    tensor: &Tensor,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("fused op: expected a CPU tensor, got {:?}", tensor.device());
    };
    f(input_slice(cpu, layout)?)
}

/// Checks that an op's inputs are CPU tensors of one float dtype and returns it.
fn float_dtype(op: &str, tensors: &[&Tensor]) -> candle_core::Result<DType> {
    let dtype = tensors[0].dtype();
    for t in tensors {
        if !t.device().is_cpu() {
            candle_core::bail!("{op}: expected CPU tensors, got one on {:?}", t.device());
        }
        if t.dtype() != dtype {
            candle_core::bail!(
                "{op}: expected one dtype, got {dtype:?} and {:?}",
                t.dtype()
            );
        }
    }
    if !matches!(dtype, DType::F32 | DType::F64) {
        candle_core::bail!("{op}: expected f32 or f64 tensors, got {dtype:?}");
    }
    Ok(dtype)
}

/// Runs `f` compiled for the widest vectors this CPU has (pulp's run-time dispatch:
/// AVX-512F, AVX2, or the baseline), so that the loops inlined into it auto-vectorise at
/// that width. Only for lane-wise arithmetic: the compiler never reassociates float sums
/// or fuses `a * b + c` into one rounding, so the results are the same bits at every width.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Adds `bias` to every row of the row-major `rows × bias.len()` block and applies `act`.
fn bias_activation<T: Real>(block: &mut [T], bias: &[T], act: Activation) {
    for row in block.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            let z = *v + b;
            *v = if act == Activation::Relu && z <= T::zero() {
                T::zero()
            } else {
                z
            };
        }
    }
}

/// `grad ⊙ act'(out)` written into `dz` (the output gradient before the activation).
fn activation_grad<T: Real>(dz: &mut Vec<T>, grad: &[T], out: &[T], act: Activation) {
    dz.clear();
    match act {
        Activation::Identity => dz.extend_from_slice(grad),
        Activation::Relu => dz.extend(
            grad.iter()
                .zip(out)
                .map(|(&g, &y)| if y > T::zero() { g } else { T::zero() }),
        ),
    }
}

/// Adds the column sums of the row-major block `rows × sums.len()` to `sums`.
fn add_column_sums<T: Real>(sums: &mut [T], block: &[T]) {
    for row in block.chunks_exact(sums.len()) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// Per-block partial gradients summed in block order (so the sum does not depend on how
/// rayon scheduled the blocks).
fn sum_partials<T: Real>(
    partials: Vec<(Vec<T>, Vec<T>)>,
    weight_len: usize,
    bias_len: usize,
) -> (Vec<T>, Vec<T>) {
    let mut weight = vec![T::zero(); weight_len];
    let mut bias = vec![T::zero(); bias_len];
    for (w, b) in partials {
        for (acc, v) in weight.iter_mut().zip(w) {
            *acc += v;
        }
        for (acc, v) in bias.iter_mut().zip(b) {
            *acc += v;
        }
    }
    (weight, bias)
}

#[cfg(test)]
mod tests {
    use super::gemm::{Mat, matmul, matmul_uninit};

    #[test]
    fn an_empty_inner_dimension_writes_zeros_into_uninitialised_memory() {
        let mut fresh = vec![std::mem::MaybeUninit::<f64>::uninit(); 6];
        let empty: [f64; 0] = [];
        let written = matmul_uninit(
            &mut fresh,
            Mat::row_major(&empty, 3, 0),
            Mat::row_major(&empty, 0, 2),
        );
        assert_eq!(written, [0.0; 6]);
    }

    #[test]
    fn parallel_gemm_is_bitwise_equal_to_serial_gemm() {
        // The shapes of the VAE's fully connected layers and weight gradients.
        for (m, n, k) in [
            (200, 256, 512),
            (256, 512, 200),
            (200, 512, 256),
            (512, 32, 3200),
        ] {
            let lhs: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919 % 1013) as f32 - 500.0) / 97.0)
                .collect();
            let rhs: Vec<f32> = (0..k * n)
                .map(|i| ((i * 104_729 % 997) as f32 - 480.0) / 89.0)
                .collect();
            let mut serial = vec![0.0; m * n];
            let mut parallel = vec![0.0; m * n];
            matmul(
                &mut serial,
                Mat::row_major(&lhs, m, k),
                Mat::row_major(&rhs, k, n),
                false,
                false,
            );
            matmul(
                &mut parallel,
                Mat::row_major(&lhs, m, k),
                Mat::row_major(&rhs, k, n),
                false,
                true,
            );
            assert_eq!(serial, parallel, "{m}×{k}·{k}×{n}");
            // Into uninitialised memory: the same products, every element written, for
            // both operand layouts (the transposed right side reads with other strides).
            let mut fresh = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n];
            let written = matmul_uninit(
                &mut fresh,
                Mat::row_major(&lhs, m, k),
                Mat::row_major(&rhs, k, n),
            );
            assert_eq!(written, serial.as_slice(), "{m}×{k}·{k}×{n}");
            let rhs_t: Vec<f32> = (0..n * k).map(|i| rhs[(i % k) * n + i / k]).collect();
            let mut strided = vec![f32::NAN; m * n];
            matmul(
                &mut strided,
                Mat::row_major(&lhs, m, k),
                Mat::row_major(&rhs_t, n, k).t(),
                false,
                false,
            );
            let mut fresh = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n];
            let written = matmul_uninit(
                &mut fresh,
                Mat::row_major(&lhs, m, k),
                Mat::row_major(&rhs_t, n, k).t(),
            );
            assert_eq!(
                written,
                strided.as_slice(),
                "{m}×{k}·{k}×{n}, transposed rhs"
            );
        }
    }
}
