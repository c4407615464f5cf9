//! Convolution (`conv2d_nhwc`) and transposed convolution (`conv_transpose2d_nhwc`) on
//! channels-last activations, built from one pair of kernels: `im2col` (gather the
//! `kernel × kernel × C` patch of every output pixel into a row) and `col2im` (its adjoint:
//! scatter-add rows back into an image). With `W` the weight as a `[k·k·C_big, C_small]`
//! matrix:
//!
//! | | forward | input gradient | weight gradient |
//! | --- | --- | --- | --- |
//! | conv (big → small) | `im2col(x)·W` | `col2im(g·Wᵀ)` | `im2col(x)ᵀ·g` |
//! | transposed (small → big) | `col2im(x·Wᵀ)` | `im2col(g)·W` | `im2col(g)ᵀ·x` |
//!
//! A transposed convolution is the adjoint of the convolution with the same weight tensor
//! read as `[C_small, C_big, k, k]` (PyTorch's `[in, out, k, k]` for the transposed layer,
//! `[out, in, k, k]` for the convolution), so both share one geometry and no kernel flip.
//! Work is split into blocks of whole images of ≈ [`BLOCK_ROWS`] small-side pixels: a
//! block's patch matrix stays in L2 and its slice of the big-side image is contiguous.

use candle_core::{Shape, Tensor};
use rayon::prelude::*;

use super::gemm::{Mat, matmul, matmul_uninit};
use super::uninit::{par_init, write_all};
use super::{
    Activation, FusedLayer, Grads, Real, Scratch, activation_grad, add_column_sums, apply,
    bias_activation, float_dtype, sum_partials,
};

/// Target number of patch rows (small-side pixels) per block: a 256 × 512 f32 patch matrix
/// is 512 KiB, within a Zen 4 core's 1 MiB L2.
const BLOCK_ROWS: usize = 256;

/// The shapes of one strided convolution between a "big" image and a "small" one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    big_h: usize,
    big_w: usize,
    big_c: usize,
    small_h: usize,
    small_w: usize,
    small_c: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    /// Row length of the patch matrix, `k · k · C_big` (ordered kh, kw, c).
    const fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.big_c
    }
    const fn small_pixels(&self) -> usize {
        self.small_h * self.small_w
    }
    const fn big_image_len(&self) -> usize {
        self.big_h * self.big_w * self.big_c
    }
    const fn small_image_len(&self) -> usize {
        self.small_pixels() * self.small_c
    }
    fn images_per_block(&self) -> usize {
        (BLOCK_ROWS / self.small_pixels().max(1)).max(1)
    }
    fn blocks(&self) -> usize {
        self.batch.div_ceil(self.images_per_block())
    }
    /// Images in block `block`.
    fn block_images(&self, block: usize) -> std::ops::Range<usize> {
        let per = self.images_per_block();
        block * per..((block + 1) * per).min(self.batch)
    }

    /// The weight `[C_small, C_big, k, k]` as the `[k·k·C_big, C_small]` matrix `W`.
    fn patch_weights<T: Real>(&self, weight: &[T]) -> Vec<T> {
        let (k, cb, cs) = (self.kernel, self.big_c, self.small_c);
        let mut out = vec![T::zero(); k * k * cb * cs];
        for s in 0..cs {
            for b in 0..cb {
                for kh in 0..k {
                    for kw in 0..k {
                        out[((kh * k + kw) * cb + b) * cs + s] =
                            weight[((s * cb + b) * k + kh) * k + kw];
                    }
                }
            }
        }
        out
    }

    /// The inverse of [`Geometry::patch_weights`].
    fn unpatch_weights<T: Real>(&self, patch: &[T]) -> Vec<T> {
        let (k, cb, cs) = (self.kernel, self.big_c, self.small_c);
        let mut out = vec![T::zero(); k * k * cb * cs];
        for s in 0..cs {
            for b in 0..cb {
                for kh in 0..k {
                    for kw in 0..k {
                        out[((s * cb + b) * k + kh) * k + kw] =
                            patch[((kh * k + kw) * cb + b) * cs + s];
                    }
                }
            }
        }
        out
    }

    /// For output row `oh`/column `ow` and kernel row `kh`: the input row, and the range
    /// of kernel columns that fall inside the image with the first input column.
    fn window(
        &self,
        oh: usize,
        ow: usize,
        kh: usize,
    ) -> Option<(usize, std::ops::Range<usize>, usize)> {
        let ih = (oh * self.stride + kh).checked_sub(self.padding)?;
        if ih >= self.big_h {
            return None;
        }
        let left = ow * self.stride;
        let kw_lo = self.padding.saturating_sub(left);
        let kw_hi = (self.big_w + self.padding)
            .saturating_sub(left)
            .min(self.kernel);
        if kw_lo >= kw_hi {
            return None;
        }
        Some((ih, kw_lo..kw_hi, left + kw_lo - self.padding))
    }

    /// Gathers the patch rows of `images` big-side images (`big`, channels-last) into `col`
    /// (`images · small_pixels` rows of [`Geometry::patch_len`]).
    /// `col` must hold exactly `images · small_pixels · patch_len` elements; every one is
    /// written (zeros outside the image), so a reused buffer needs no clearing.
    fn im2col<T: Real>(&self, big: &[T], images: usize, col: &mut [T]) {
        let (k, c, len) = (self.kernel, self.big_c, self.patch_len());
        debug_assert_eq!(col.len(), images * self.small_pixels() * len);
        let mut rows = col.chunks_exact_mut(len);
        for image in big.chunks_exact(self.big_image_len()).take(images) {
            for oh in 0..self.small_h {
                for ow in 0..self.small_w {
                    let row = rows.next().expect("col sized for every patch row");
                    for (kh, run) in row.chunks_exact_mut(k * c).enumerate() {
                        let Some((ih, kws, iw)) = self.window(oh, ow, kh) else {
                            run.fill(T::zero());
                            continue;
                        };
                        let src = &image[(ih * self.big_w + iw) * c..][..kws.len() * c];
                        let (before, rest) = run.split_at_mut(kws.start * c);
                        let (inside, after) = rest.split_at_mut(kws.len() * c);
                        before.fill(T::zero());
                        after.fill(T::zero());
                        if inside.len() <= 16 {
                            // Single-channel runs of a few values: a loop beats memcpy calls.
                            for (d, &v) in inside.iter_mut().zip(src) {
                                *d = v;
                            }
                        } else {
                            inside.copy_from_slice(src);
                        }
                    }
                }
            }
        }
    }

    /// Scatter-adds the patch rows `col` into the big-side `images` (`big`), the adjoint of
    /// [`Geometry::im2col`]; a fixed order, so the sums are deterministic. `big` must hold
    /// zeros: both callers write them as they make the block, so it is not zeroed twice.
    fn col2im<T: Real>(&self, col: &[T], big: &mut [T]) {
        let (k, c, len) = (self.kernel, self.big_c, self.patch_len());
        let mut rows = col.chunks_exact(len);
        for image in big.chunks_exact_mut(self.big_image_len()) {
            for oh in 0..self.small_h {
                for ow in 0..self.small_w {
                    let row = rows.next().expect("one patch row per small pixel");
                    for kh in 0..k {
                        if let Some((ih, kws, iw)) = self.window(oh, ow, kh) {
                            let dst = (ih * self.big_w + iw) * c;
                            let n = kws.len() * c;
                            let src = (kh * k + kws.start) * c;
                            for (d, &s) in image[dst..dst + n].iter_mut().zip(&row[src..src + n]) {
                                *d += s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reads the geometry from a channels-last big-side input and a weight, checking shapes.
fn geometry(
    op: &str,
    big: (usize, usize, usize, usize),
    small: (usize, usize, usize, usize),
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Geometry> {
    let (cs, cb, kh, kw) = weight.dims4()?;
    if kh != kw || stride == 0 {
        candle_core::bail!(
            "{op}: expected a square kernel and stride ≥ 1, got {kh}×{kw}, stride {stride}"
        );
    }
    if bias.dims() != [if op == "conv2d_nhwc" { cs } else { cb }] {
        candle_core::bail!(
            "{op}: bias shape {:?} does not match weight {:?}",
            bias.dims(),
            weight.dims()
        );
    }
    let g = Geometry {
        batch: big.0,
        big_h: big.1,
        big_w: big.2,
        big_c: big.3,
        small_h: small.1,
        small_w: small.2,
        small_c: small.3,
        kernel: kh,
        stride,
        padding,
    };
    if g.big_c != cb || g.small_c != cs || big.0 != small.0 {
        candle_core::bail!(
            "{op}: channels-last shapes big {big:?} / small {small:?} do not match weight {:?}",
            weight.dims()
        );
    }
    Ok(g)
}

/// 2-D convolution of channels-last images with a PyTorch-layout weight, then bias and
/// activation, as one custom op with its own backward pass.
///
/// # Shapes
/// `x` `[B, H, W, C_in]`, `weight` `[C_out, C_in, k, k]`, `bias` `[C_out]`; returns
/// `[B, H_out, W_out, C_out]` with `H_out = (H + 2·padding − k) / stride + 1`.
///
/// # Errors
/// Candle errors for shape mismatches, non-CPU tensors, dtypes other than f32/f64, or an
/// image smaller than the kernel.
pub fn conv2d_nhwc(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    let op = conv2d_op(x, weight, bias, stride, padding, activation)?;
    apply(op, x, weight, bias)
}

/// The checked op of [`conv2d_nhwc`] (for ops that fuse a convolution with more).
pub(crate) fn conv2d_op(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> candle_core::Result<ConvOp> {
    const OP: &str = "conv2d_nhwc";
    float_dtype(OP, &[x, weight, bias])?;
    let (b, h, w, _) = x.dims4()?;
    let k = weight.dim(2)?;
    let out = |side: usize| {
        (side + 2 * padding)
            .checked_sub(k)
            .map(|v| v / stride.max(1) + 1)
    };
    let (Some(ho), Some(wo)) = (out(h), out(w)) else {
        candle_core::bail!("{OP}: image {h}×{w} is smaller than the {k}×{k} kernel");
    };
    let g = geometry(
        OP,
        x.dims4()?,
        (b, ho, wo, weight.dim(0)?),
        weight,
        bias,
        stride,
        padding,
    )?;
    Ok(ConvOp {
        geometry: g,
        activation,
        transposed: false,
    })
}

/// 2-D transposed convolution of channels-last images with a PyTorch-layout weight
/// (`[C_in, C_out, k, k]`, no output padding), then bias and activation, as one custom op.
///
/// # Shapes
/// `x` `[B, H, W, C_in]`, `weight` `[C_in, C_out, k, k]`, `bias` `[C_out]`; returns
/// `[B, H_out, W_out, C_out]` with `H_out = (H − 1)·stride − 2·padding + k`.
///
/// # Errors
/// As [`conv2d_nhwc`]; also when `k < 2·padding + 1 − stride·…` makes the output empty.
pub fn conv_transpose2d_nhwc(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    const OP: &str = "conv_transpose2d_nhwc";
    float_dtype(OP, &[x, weight, bias])?;
    let (b, h, w, _) = x.dims4()?;
    let k = weight.dim(2)?;
    let out = |side: usize| {
        ((side.max(1) - 1) * stride + k)
            .checked_sub(2 * padding)
            .filter(|&v| v > 0)
    };
    let (Some(ho), Some(wo)) = (out(h), out(w)) else {
        candle_core::bail!("{OP}: padding {padding} leaves no output for a {h}×{w} input");
    };
    let g = geometry(
        OP,
        (b, ho, wo, weight.dim(1)?),
        x.dims4()?,
        weight,
        bias,
        stride,
        padding,
    )?;
    // The small side must be exactly the convolution of the big side (no output padding).
    if (ho + 2 * padding - k) / stride + 1 != h || (wo + 2 * padding - k) / stride + 1 != w {
        candle_core::bail!(
            "{OP}: unsupported geometry {h}×{w} → {ho}×{wo} (stride {stride}, padding {padding})"
        );
    }
    let op = ConvOp {
        geometry: g,
        activation,
        transposed: true,
    };
    apply(op, x, weight, bias)
}

fn scratch_pair<T: Real>() -> (Scratch<T>, Scratch<T>) {
    (Scratch::take(), Scratch::take())
}

/// The custom op: a convolution (`transposed == false`, big → small) or a transposed one.
pub(crate) struct ConvOp {
    geometry: Geometry,
    activation: Activation,
    transposed: bool,
}

impl ConvOp {
    /// A square convolution `[B, side, side, c_in]` → `[B, side_out, side_out, c_out]`
    /// (`transposed == false`) or a transposed one from `[B, side, side, c_in]`; the
    /// geometries the VAE uses (`(side + 2·padding − k)` a multiple of the stride).
    pub(crate) fn square(
        batch: usize,
        side: usize,
        (c_in, c_out): (usize, usize),
        (kernel, stride, padding): (usize, usize, usize),
        activation: Activation,
        transposed: bool,
    ) -> Self {
        let (big_side, small_side, big_c, small_c) = if transposed {
            (
                (side - 1) * stride + kernel - 2 * padding,
                side,
                c_out,
                c_in,
            )
        } else {
            (
                side,
                (side + 2 * padding - kernel) / stride + 1,
                c_in,
                c_out,
            )
        };
        Self {
            geometry: Geometry {
                batch,
                big_h: big_side,
                big_w: big_side,
                big_c,
                small_h: small_side,
                small_w: small_side,
                small_c,
                kernel,
                stride,
                padding,
            },
            activation,
            transposed,
        }
    }
}

impl FusedLayer for ConvOp {
    fn name(&self) -> &'static str {
        if self.transposed {
            "conv_transpose2d_nhwc"
        } else {
            "conv2d_nhwc"
        }
    }

    fn forward<T: Real>(&self, x: &[T], weight: &[T], bias: &[T]) -> Vec<T> {
        let g = &self.geometry;
        let w = g.patch_weights(weight);
        let rows_per_image = g.small_pixels();
        if self.transposed {
            // y (big) = col2im(x · Wᵀ) + bias.
            let (y, _) = par_init(
                g.batch * g.big_image_len(),
                g.images_per_block() * g.big_image_len(),
                Scratch::take,
                |scratch, block, y_block| {
                    // col2im adds into its output: zeros first (only here).
                    let n = y_block.len();
                    let y_block = write_all(y_block, std::iter::repeat_n(T::zero(), n));
                    let images = g.block_images(block);
                    let rows = images.len() * rows_per_image;
                    // Overwritten whole by the product below.
                    let col = scratch.slice(rows * g.patch_len());
                    let x_block =
                        &x[images.start * g.small_image_len()..images.end * g.small_image_len()];
                    matmul(
                        col,
                        Mat::row_major(x_block, rows, g.small_c),
                        Mat::row_major(&w, g.patch_len(), g.small_c).t(),
                        false,
                        false,
                    );
                    g.col2im(col, y_block);
                    bias_activation(y_block, bias, self.activation);
                    (y_block, ())
                },
            );
            y
        } else {
            // y (small) = im2col(x) · W + bias, every element written by the product.
            let (y, _) = par_init(
                g.batch * g.small_image_len(),
                g.images_per_block() * g.small_image_len(),
                Scratch::take,
                |scratch, block, y_block| {
                    let images = g.block_images(block);
                    let rows = images.len() * rows_per_image;
                    let x_block =
                        &x[images.start * g.big_image_len()..images.end * g.big_image_len()];
                    let col = scratch.slice(rows * g.patch_len());
                    g.im2col(x_block, images.len(), col);
                    let y_block = matmul_uninit(
                        y_block,
                        Mat::row_major(col, rows, g.patch_len()),
                        Mat::row_major(&w, g.patch_len(), g.small_c),
                    );
                    bias_activation(y_block, bias, self.activation);
                    (y_block, ())
                },
            );
            y
        }
    }

    /// Gradients `(x, weight, bias)`; the input gradient only if `input_grad`.
    fn backward<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        _bias: &[T],
        out: &[T],
        grad: &[T],
        input_grad: bool,
    ) -> Grads<T> {
        self.backward_with(x, weight, input_grad, &|span, dz| {
            activation_grad(dz, &grad[span.clone()], &out[span], self.activation);
        })
    }

    fn output_shape(&self) -> Shape {
        let g = &self.geometry;
        if self.transposed {
            (g.batch, g.big_h, g.big_w, g.big_c).into()
        } else {
            (g.batch, g.small_h, g.small_w, g.small_c).into()
        }
    }
}

impl ConvOp {
    /// The backward pass given the gradient before the activation: `output_grad(span, dz)`
    /// writes the elements `span` of that gradient (a block of whole output images) into
    /// `dz`, so a fused op can compute it block by block while the block is in cache
    /// instead of materialising it.
    pub(crate) fn backward_with<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        input_grad: bool,
        output_grad: &(dyn Fn(std::ops::Range<usize>, &mut Vec<T>) + Sync),
    ) -> Grads<T> {
        let g = &self.geometry;
        let w = g.patch_weights(weight);
        let (len, rows_per_image) = (g.patch_len(), g.small_pixels());
        // The side the activation (and so the bias) acts on is the output side.
        let (out_len, in_len, bias_len) = if self.transposed {
            (g.big_image_len(), g.small_image_len(), g.big_c)
        } else {
            (g.small_image_len(), g.big_image_len(), g.small_c)
        };
        let block = |block: usize, dx: Option<&mut [T]>, scratch: &mut (Scratch<T>, Scratch<T>)| {
            let (col, dz) = scratch;
            let images = g.block_images(block);
            let rows = images.len() * rows_per_image;
            let col = col.slice(rows * len);
            let dz = dz.vec();
            let span = |per: usize| images.start * per..images.end * per;
            output_grad(span(out_len), dz);
            let mut bias_grad = vec![T::zero(); bias_len];
            add_column_sums(&mut bias_grad, dz);
            let mut weight_grad = vec![T::zero(); len * g.small_c];
            let x_block = &x[span(in_len)];
            if self.transposed {
                // The patches of the big-side output gradient.
                g.im2col(dz, images.len(), col);
                let patches = Mat::row_major(&*col, rows, len);
                let x_mat = Mat::row_major(x_block, rows, g.small_c);
                matmul(&mut weight_grad, patches.t(), x_mat, false, false);
                if let Some(dx) = dx {
                    matmul(
                        dx,
                        patches,
                        Mat::row_major(&w, len, g.small_c),
                        false,
                        false,
                    );
                }
            } else {
                g.im2col(x_block, images.len(), col);
                let dz_mat = Mat::row_major(dz.as_slice(), rows, g.small_c);
                matmul(
                    &mut weight_grad,
                    Mat::row_major(&*col, rows, len).t(),
                    dz_mat,
                    false,
                    false,
                );
                if let Some(dx) = dx {
                    // Reuse the patch buffer for the patch gradients.
                    matmul(
                        col,
                        dz_mat,
                        Mat::row_major(&w, len, g.small_c).t(),
                        false,
                        false,
                    );
                    g.col2im(col, dx);
                }
            }
            (weight_grad, bias_grad)
        };
        let (dx, partials) = if input_grad {
            // Each block's input gradient is zeroed on its own thread (col2im adds into it).
            let (dx, partials) = par_init(
                g.batch * in_len,
                g.images_per_block() * in_len,
                scratch_pair,
                |scratch, i, dx_block| {
                    let n = dx_block.len();
                    let dx_block = write_all(dx_block, std::iter::repeat_n(T::zero(), n));
                    let partial = block(i, Some(&mut *dx_block), scratch);
                    (dx_block, partial)
                },
            );
            (Some(dx), partials)
        } else {
            let partials = (0..g.blocks())
                .into_par_iter()
                .map_init(scratch_pair, |scratch, i| block(i, None, scratch))
                .collect();
            (None, partials)
        };
        let (weight_grad, bias_grad) = sum_partials(partials, len * g.small_c, bias_len);
        (dx, g.unpatch_weights(&weight_grad), bias_grad)
    }
}
