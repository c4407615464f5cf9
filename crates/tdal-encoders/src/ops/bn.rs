//! Batch normalisation of channels-last activations with the activation fused after it, as
//! one custom op with its own backward pass (Ioffe & Szegedy 2015, Algorithm 1 and its
//! gradient).
//!
//! In **train** mode each channel is normalised with the batch's mean and biased variance
//! over every row (`B·H·W` pixels), and the op hands those statistics to the caller (for
//! the running averages) through a shared [`BnStats`] cell; its backward pass is the full
//! gradient through the statistics:
//! `dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂))`. In **frozen** (eval) mode the statistics
//! are given and the op is affine per channel. Sums run over fixed row blocks of 1,024 rows
//! (in the tensor's float type within a block, shifted by the first row), and the blocks'
//! sums are added in f64 in block order, so the result does not depend on the thread count.

use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

use candle_core::{Shape, Tensor};
use rayon::prelude::*;

use super::uninit::{init_rows, par_init, write_all};
use super::{Activation, FusedLayer, Grads, Real, apply, float_dtype, simd};

/// Rows (pixels) per block of the reductions and element-wise passes.
const BLOCK_ROWS: usize = 1024;

/// Per-channel statistics a normalisation used: the mean and the biased variance.
#[derive(Debug, Clone, PartialEq)]
pub struct BnStats {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Biased variance per channel (divided by the number of rows).
    pub var: Vec<f64>,
}

/// The cell a train-mode [`batch_norm_nhwc`] writes its batch statistics into.
pub type StatsCell = Arc<OnceLock<BnStats>>;

/// `activation(γ · (x − μ) / √(σ² + ε) + β)` per channel of channels-last activations.
///
/// With `frozen = None` (train mode) μ and σ² are the batch's, written into the returned
/// cell once the forward pass has run; with `frozen = Some(stats)` (eval mode) they are
/// `stats`.
///
/// # Shapes
/// `x` `[…, C]` (any leading dimensions, e.g. `[B, H, W, C]`), `gamma` and `beta` `[C]`;
/// returns the shape of `x`.
///
/// # Errors
/// Candle errors for shape mismatches, non-CPU tensors or dtypes other than f32/f64.
pub fn batch_norm_nhwc(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    activation: Activation,
    frozen: Option<BnStats>,
) -> candle_core::Result<(Tensor, StatsCell)> {
    const OP: &str = "batch_norm_nhwc";
    float_dtype(OP, &[x, gamma, beta])?;
    let channels = *x.dims().last().unwrap_or(&0);
    if gamma.dims() != [channels] || beta.dims() != [channels] || channels == 0 {
        candle_core::bail!(
            "{OP}: expected gamma and beta [{channels}] for input {:?}, got {:?} and {:?}",
            x.dims(),
            gamma.dims(),
            beta.dims()
        );
    }
    let rows = x.elem_count() / channels;
    if rows == 0 {
        candle_core::bail!("{OP}: empty input {:?}", x.dims());
    }
    let stats: StatsCell = Arc::new(OnceLock::new());
    let is_frozen = frozen.is_some();
    if let Some(given) = frozen {
        if given.mean.len() != channels || given.var.len() != channels {
            candle_core::bail!("{OP}: frozen statistics of the wrong length");
        }
        let _ = stats.set(given);
    }
    let op = BnOp {
        core: BnCore {
            rows,
            channels,
            eps,
            activation,
        },
        frozen: is_frozen,
        shape: x.shape().clone(),
        stats: Arc::clone(&stats),
    };
    Ok((apply(op, x, gamma, beta)?, stats))
}

pub(crate) struct BnOp {
    core: BnCore,
    frozen: bool,
    shape: Shape,
    stats: StatsCell,
}

/// Per-channel f64 sums of `K` quantities over fixed row blocks: `block(b, accumulators)`
/// adds block `b`'s rows into `K` zeroed `T` vectors (contiguous per quantity, so the
/// loops over channels vectorise); the blocks' sums are added in block order in f64.
fn channel_sums<T: Real, const K: usize>(
    channels: usize,
    blocks: usize,
    block: impl Fn(usize, &mut [Vec<T>; K]) + Sync,
) -> [Vec<f64>; K] {
    let partials: Vec<[Vec<T>; K]> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut acc: [Vec<T>; K] = std::array::from_fn(|_| vec![T::zero(); channels]);
            block(b, &mut acc);
            acc
        })
        .collect();
    let mut total: [Vec<f64>; K] = std::array::from_fn(|_| vec![0.0; channels]);
    for part in partials {
        for (t, p) in total.iter_mut().zip(part) {
            for (a, v) in t.iter_mut().zip(p) {
                *a += v.to_f64();
            }
        }
    }
    total
}

/// The normalisation's arithmetic on `rows × channels` channels-last slices, shared by
/// [`BnOp`] and the fused convolution + normalisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BnCore {
    pub rows: usize,
    pub channels: usize,
    pub eps: f64,
    pub activation: Activation,
}

/// What [`BnCore::backward`] returns: the input gradient (if asked), `dγ` and `dβ`.
pub(crate) type BnGrads<T> = (Option<Vec<T>>, Vec<T>, Vec<T>);

impl BnCore {
    fn block_len(&self) -> usize {
        BLOCK_ROWS * self.channels
    }

    fn blocks(&self) -> usize {
        self.rows.div_ceil(BLOCK_ROWS)
    }

    fn block<'a, T>(&self, values: &'a [T], b: usize) -> &'a [T] {
        let start = b * self.block_len();
        &values[start..(start + self.block_len()).min(values.len())]
    }

    /// The mean and biased variance of every channel, accumulated about the first row
    /// (a shift that keeps `E[x²] − E[x]²` from cancelling).
    pub(crate) fn batch_stats<T: Real>(&self, x: &[T]) -> BnStats {
        let c = self.channels;
        let shift: Vec<T> = x[..c].to_vec();
        let [s1, s2] = channel_sums::<T, 2>(c, self.blocks(), |b, [sum, squares]| {
            simd(|| {
                for row in self.block(x, b).chunks_exact(c) {
                    for (((s, q), &v), &k) in
                        sum.iter_mut().zip(squares.iter_mut()).zip(row).zip(&shift)
                    {
                        let d = v - k;
                        *s += d;
                        *q += d * d;
                    }
                }
            });
        });
        #[allow(clippy::cast_precision_loss)]
        let n = self.rows as f64;
        let mean_shift: Vec<f64> = s1.iter().map(|s| s / n).collect();
        let var = s2
            .iter()
            .zip(&mean_shift)
            .map(|(q, m)| (q / n - m * m).max(0.0))
            .collect();
        let mean = mean_shift
            .iter()
            .zip(&shift)
            .map(|(m, k)| m + k.to_f64())
            .collect();
        BnStats { mean, var }
    }

    fn inv_std(&self, stats: &BnStats) -> Vec<f64> {
        stats
            .var
            .iter()
            .map(|v| 1.0 / (v + self.eps).sqrt())
            .collect()
    }

    /// `activation(γ · (x − μ) · σ⁻¹ + β)`.
    pub(crate) fn forward<T: Real>(
        &self,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        stats: &BnStats,
    ) -> Vec<T> {
        let inv_std = self.inv_std(stats);
        // y = x · scale + shift per channel.
        let scale: Vec<T> = gamma
            .iter()
            .zip(&inv_std)
            .map(|(g, s)| T::from_f64(g.to_f64() * s))
            .collect();
        let shift: Vec<T> = beta
            .iter()
            .zip(&scale)
            .zip(&stats.mean)
            .map(|((b, s), m)| T::from_f64(b.to_f64() - m * s.to_f64()))
            .collect();
        let relu = self.activation == Activation::Relu;
        let c = self.channels;
        // Every element is written once, so the output is never zero-filled first.
        let (y, _) = par_init(
            x.len(),
            self.block_len(),
            || (),
            |_, b, y_block| {
                let x_block = self.block(x, b);
                let y_block = simd(|| {
                    init_rows(y_block, c, |r, y_row| {
                        let x_row = &x_block[r * c..(r + 1) * c];
                        if relu {
                            normalise_row::<T, true>(x_row, (&scale, &shift), y_row)
                        } else {
                            normalise_row::<T, false>(x_row, (&scale, &shift), y_row)
                        }
                    })
                });
                (y_block, ())
            },
        );
        y
    }

    /// The per-channel terms of the gradients from the output's (one pass over the
    /// rows): `dγ`, `dβ` and the coefficients of the input gradient (see
    /// [`BnCore::input_grad_into`]); with `frozen` statistics the input gradient does not
    /// flow through them.
    pub(crate) fn grad_terms<T: Real>(
        &self,
        x: &[T],
        gamma: &[T],
        stats: &BnStats,
        frozen: bool,
        (out, grad): (&[T], &[T]),
    ) -> BnGradTerms<T> {
        let c = self.channels;
        let inv_std = self.inv_std(stats);
        let relu = self.activation == Activation::Relu;
        let mean: Vec<T> = stats.mean.iter().map(|&m| T::from_f64(m)).collect();
        // Σ dy' and Σ dy'·(x − μ) per channel, dy' the gradient before the activation.
        let [sum_dy, sum_dy_xc] = channel_sums::<T, 2>(c, self.blocks(), |b, sums| {
            let blocks = (self.block(x, b), self.block(grad, b), self.block(out, b));
            simd(|| {
                if relu {
                    grad_sums::<T, true>(c, blocks, &mean, sums);
                } else {
                    grad_sums::<T, false>(c, blocks, &mean, sums);
                }
            });
        });
        // dβ = Σ dy', dγ = Σ dy'·x̂ = σ⁻¹ · Σ dy'·(x − μ).
        let gamma_grad: Vec<f64> = sum_dy_xc
            .iter()
            .zip(&inv_std)
            .map(|(s, is)| s * is)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let n = self.rows as f64;
        // dx = a·dy' + b·x + c per channel.
        let mut terms = BnGradTerms {
            a: Vec::with_capacity(c),
            b: Vec::with_capacity(c),
            c: Vec::with_capacity(c),
            gamma_grad: gamma_grad.iter().map(|&v| T::from_f64(v)).collect(),
            beta_grad: sum_dy.iter().map(|&v| T::from_f64(v)).collect(),
        };
        for ch in 0..c {
            let k = gamma[ch].to_f64() * inv_std[ch];
            terms.a.push(T::from_f64(k));
            if frozen {
                terms.b.push(T::zero());
                terms.c.push(T::zero());
            } else {
                let m1 = sum_dy[ch] / n;
                let m2 = gamma_grad[ch] / n;
                terms.b.push(T::from_f64(-k * inv_std[ch] * m2));
                terms
                    .c
                    .push(T::from_f64(k * (stats.mean[ch] * inv_std[ch] * m2 - m1)));
            }
        }
        terms
    }

    /// Elements `span` (whole rows) of the input gradient `a·dy' + b·x + c` into `dst`.
    pub(crate) fn input_grad_into<T: Real>(
        &self,
        terms: &BnGradTerms<T>,
        x: &[T],
        (out, grad): (&[T], &[T]),
        span: std::ops::Range<usize>,
        dst: &mut [T],
    ) {
        let c = self.channels;
        let relu = self.activation == Activation::Relu;
        let rows = (&x[span.clone()], &grad[span.clone()], &out[span]);
        simd(|| {
            if relu {
                input_grad_rows::<T, true>(c, terms, rows, dst);
            } else {
                input_grad_rows::<T, false>(c, terms, rows, dst);
            }
        });
    }

    /// Gradients of the input (if `input_grad`), the scale and the shift, from the
    /// output's.
    pub(crate) fn backward<T: Real>(
        &self,
        x: &[T],
        gamma: &[T],
        stats: &BnStats,
        frozen: bool,
        (out, grad): (&[T], &[T]),
        input_grad: bool,
    ) -> BnGrads<T> {
        let terms = self.grad_terms(x, gamma, stats, frozen, (out, grad));
        let input_grad = input_grad.then(|| {
            let mut dx = vec![T::zero(); x.len()];
            dx.par_chunks_mut(self.block_len())
                .enumerate()
                .for_each(|(b, dx_block)| {
                    let start = b * self.block_len();
                    let span = start..start + dx_block.len();
                    self.input_grad_into(&terms, x, (out, grad), span, dx_block);
                });
            dx
        });
        (input_grad, terms.gamma_grad, terms.beta_grad)
    }
}

// The row loops, monomorphised on the activation so that their inner loops over the
// channels have no branch and vectorise (`simd` compiles them for the CPU's widest
// vectors; lane-wise arithmetic, so the bits are those of any other build).

/// One row of [`BnCore::forward`]: `activation(x · scale + shift)` into `y_row`.
#[inline(always)]
fn normalise_row<'a, T: Real, const RELU: bool>(
    x_row: &[T],
    (scale, shift): (&[T], &[T]),
    y_row: &'a mut [MaybeUninit<T>],
) -> &'a mut [T] {
    write_all(
        y_row,
        x_row.iter().zip(scale).zip(shift).map(|((&v, &s), &t)| {
            let z = v * s + t;
            if RELU && z <= T::zero() { T::zero() } else { z }
        }),
    )
}

/// Adds a block's `Σ dy'` and `Σ dy'·(x − μ)` per channel into `s0` and `s1` (dy' the
/// gradient before the activation; `y` the output, whose sign gives ReLU's mask).
#[inline(always)]
fn grad_sums<T: Real, const RELU: bool>(
    c: usize,
    (x, grad, out): (&[T], &[T], &[T]),
    mean: &[T],
    [s0, s1]: &mut [Vec<T>; 2],
) {
    let rows = x
        .chunks_exact(c)
        .zip(grad.chunks_exact(c))
        .zip(out.chunks_exact(c));
    for ((x_row, g_row), y_row) in rows {
        for ((((a0, a1), &v), &g), (&y, &m)) in s0
            .iter_mut()
            .zip(s1.iter_mut())
            .zip(x_row)
            .zip(g_row)
            .zip(y_row.iter().zip(mean))
        {
            let d = if RELU && y <= T::zero() { T::zero() } else { g };
            *a0 += d;
            *a1 += d * (v - m);
        }
    }
}

/// Rows of the input gradient `a·dy' + b·x + c` into `dst` ([`BnCore::input_grad_into`]).
#[inline(always)]
fn input_grad_rows<T: Real, const RELU: bool>(
    c: usize,
    terms: &BnGradTerms<T>,
    (x, grad, out): (&[T], &[T], &[T]),
    dst: &mut [T],
) {
    let rows = dst
        .chunks_exact_mut(c)
        .zip(x.chunks_exact(c))
        .zip(grad.chunks_exact(c))
        .zip(out.chunks_exact(c));
    for (((dx_row, x_row), g_row), y_row) in rows {
        for (((((d, &v), (&g, &y)), &a), &b), &k) in dx_row
            .iter_mut()
            .zip(x_row)
            .zip(g_row.iter().zip(y_row))
            .zip(&terms.a)
            .zip(&terms.b)
            .zip(&terms.c)
        {
            let dy = if RELU && y <= T::zero() { T::zero() } else { g };
            *d = a * dy + b * v + k;
        }
    }
}

/// The per-channel terms of a normalisation's gradients ([`BnCore::grad_terms`]).
pub(crate) struct BnGradTerms<T> {
    /// Input gradient `a·dy' + b·x + c`.
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
    /// `dγ`.
    pub gamma_grad: Vec<T>,
    /// `dβ`.
    pub beta_grad: Vec<T>,
}

impl FusedLayer for BnOp {
    fn name(&self) -> &'static str {
        "batch_norm_nhwc"
    }

    fn forward<T: Real>(&self, x: &[T], gamma: &[T], beta: &[T]) -> Vec<T> {
        let stats = self.stats.get_or_init(|| self.core.batch_stats(x));
        self.core.forward(x, gamma, beta, stats)
    }

    fn backward<T: Real>(
        &self,
        x: &[T],
        gamma: &[T],
        _beta: &[T],
        out: &[T],
        grad: &[T],
        input_grad: bool,
    ) -> Grads<T> {
        let stats = self
            .stats
            .get()
            .cloned()
            .unwrap_or_else(|| self.core.batch_stats(x));
        self.core
            .backward(x, gamma, &stats, self.frozen, (out, grad), input_grad)
    }

    fn output_shape(&self) -> Shape {
        self.shape.clone()
    }
}
