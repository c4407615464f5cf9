//! SimCLR-style contrastive augmentation: two independently distorted views of every image,
//! for self-supervised pre-training of the encoders.
//!
//! A view is the composition SimCLR found to matter most (Chen et al. 2020, *A Simple
//! Framework for Contrastive Learning of Visual Representations*, Appendix A; the SimCLR v2
//! repository's `tf2/data_util.py`, `preprocess_for_train`):
//!
//! 1. **Random resized crop**: a crop of random area fraction (default 8–100 %) and aspect
//!    ratio (default 3/4–4/3) resized back to the input's `H × W` with bilinear
//!    interpolation. The crop is drawn as torchvision's `RandomResizedCrop` draws it (the
//!    paper's Appendix A pseudo-code): up to 10 attempts, each drawing the area fraction
//!    uniformly and the log aspect uniformly, `w = round(√(area·ratio))`,
//!    `h = round(√(area/ratio))` (round half to even, as Python's `round`), accepted if it
//!    fits, at a uniform offset; if all fail, a central crop with the aspect clamped into
//!    the range. The resize uses the `align_corners = false` convention (pixel centres at
//!    `+0.5`, sample positions clamped to the crop); a crop is never larger than the output,
//!    so there is no down-sampling and no anti-aliasing question.
//! 2. **Horizontal flip** with probability `flip_probability`.
//! 3. **Colour distortion** of strength `s`, SimCLR's `random_color_jitter`: with
//!    probability `jitter_probability` a colour jitter whose four operations run in a
//!    random order (a uniform permutation), each followed by a clip to `[0, 1]`:
//!    brightness (multiply by a factor in `[max(0, 1 − 0.8s), 1 + 0.8s]`, SimCLR v2's
//!    multiplicative version), contrast (blend with the mean grey value of the image,
//!    factor from the same range), saturation (blend with the per-pixel grey value, same
//!    range) and hue (rotate the HSV hue by a shift in `[−0.2s, 0.2s]` turns); then, with
//!    probability `grayscale_probability`, every channel replaced by the luma
//!    `0.299 R + 0.587 G + 0.114 B`. Contrast and saturation blend with luma as
//!    torchvision's `ColorJitter` (the paper's pseudo-code) does, rather than with the
//!    per-channel mean and HSV saturation of `tf.image`.
//! 4. A final clip of the view to `[0, 1]`, as `preprocess_for_train` ends with one (done
//!    as part of the resize; every later step clips its own output).
//!
//! # Grey images
//! Images are `[C, H, W]` with `C = 1` (grey) or `C = 3` (RGB). The random draws do not
//! depend on `C`: a grey image draws the same crop, flip, jitter permutation, all four
//! factors and the grayscale coin as an RGB image would, and applies only the operations
//! that can change a grey image (brightness and contrast, in the drawn order). Saturation,
//! hue and grayscale leave grey pixels unchanged, so a one-channel image gets the same view
//! as the same image stored as three equal channels (up to float rounding), and the random
//! stream is the same for both.
//!
//! # Determinism
//! [`contrastive_views`] draws one `u64` seed per image from the caller's generator, in
//! order, before any work; each image then seeds its own `ChaCha8Rng` for both its views
//! and the images are augmented in parallel (rayon). The result depends only on the
//! caller's generator, never on the number of threads.
//!
//! Like [`augment`](crate::augment), the arithmetic is written here rather than taken from
//! an image crate: it works directly on the `f32` planes the encoders consume, one output
//! buffer per batch and no per-pixel allocation.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Luma weights (ITU-R BT.601) of the red, green and blue channels, as torchvision's and
/// `tf.image`'s `rgb_to_grayscale`.
pub const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// Attempts at an in-range crop before the central fallback (torchvision's value).
pub const CROP_ATTEMPTS: usize = 10;

/// Ranges and probabilities of the contrastive augmentation; the defaults are SimCLR's
/// CIFAR-10 setting (colour strength 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveAugment {
    /// Area of the crop as a fraction of the image, drawn uniformly from `[min, max]`.
    pub crop_area: (f32, f32),
    /// Aspect ratio (width / height) of the crop, drawn log-uniformly from `[min, max]`.
    pub crop_aspect: (f32, f32),
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// Colour distortion strength `s`: brightness, contrast and saturation factors in
    /// `[max(0, 1 − 0.8s), 1 + 0.8s]`, hue shift in `[−0.2s, 0.2s]`.
    pub colour_strength: f32,
    /// Probability of applying the colour jitter.
    pub jitter_probability: f64,
    /// Probability of converting the view to grey (RGB only; see the module docs).
    pub grayscale_probability: f64,
}

impl Default for ContrastiveAugment {
    fn default() -> Self {
        Self {
            crop_area: (0.08, 1.0),
            crop_aspect: (3.0 / 4.0, 4.0 / 3.0),
            flip_probability: 0.5,
            colour_strength: 0.5,
            jitter_probability: 0.8,
            grayscale_probability: 0.2,
        }
    }
}

impl ContrastiveAugment {
    /// Validates the ranges.
    ///
    /// # Errors
    /// [`Error::Config`], naming the field, for a crop area range that is not
    /// `0 < min ≤ max ≤ 1`, an aspect range that is not finite `0 < min ≤ max`, a
    /// probability outside `[0, 1]` or a colour strength that is negative or not finite.
    pub fn check(&self) -> Result<()> {
        let (lo, hi) = self.crop_area;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(Error::Config(format!(
                "crop_area: expected a range of image fractions 0 < min ≤ max ≤ 1, found ({lo}, {hi})"
            )));
        }
        let (lo, hi) = self.crop_aspect;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(Error::Config(format!(
                "crop_aspect: expected a range of width/height ratios 0 < min ≤ max (finite), found ({lo}, {hi})"
            )));
        }
        for (name, p) in [
            ("flip_probability", self.flip_probability),
            ("jitter_probability", self.jitter_probability),
            ("grayscale_probability", self.grayscale_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Config(format!(
                    "{name}: expected a probability in [0, 1], found {p}"
                )));
            }
        }
        let s = self.colour_strength;
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::Config(format!(
                "colour_strength: expected a finite strength ≥ 0, found {s}"
            )));
        }
        Ok(())
    }
}

/// A rectangle of the input image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Number of rows (≥ 1).
    pub height: usize,
    /// Number of columns (≥ 1).
    pub width: usize,
}

/// How [`Crop::sample`] found its crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CropOrigin {
    /// An attempt fitted; its draws before rounding.
    Attempt {
        /// Which attempt (0-based, below [`CROP_ATTEMPTS`]).
        index: usize,
        /// The drawn area fraction, within `crop_area`.
        area_fraction: f64,
        /// The drawn aspect ratio (width / height), within `crop_aspect`.
        aspect: f64,
    },
    /// Every attempt failed; the central crop with the aspect clamped into the range.
    Fallback,
}

impl Crop {
    /// The whole `height × width` image.
    #[must_use]
    pub const fn full(height: usize, width: usize) -> Self {
        Self {
            top: 0,
            left: 0,
            height,
            width,
        }
    }

    /// Draws a crop of a `height × width` image (both ≥ 1) as torchvision's
    /// `RandomResizedCrop.get_params` does, from `params.crop_area` and `params.crop_aspect`
    /// (assumed checked). Each attempt draws the area fraction, then the log aspect; an
    /// accepted attempt then draws the row offset, then the column offset. The fallback
    /// draws nothing more and is never empty (torchvision's could round a side to 0 for
    /// extreme aspect ranges; here each side is at least 1).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )]
    pub fn sample<R: Rng + ?Sized>(
        params: &ContrastiveAugment,
        height: usize,
        width: usize,
        rng: &mut R,
    ) -> (Self, CropOrigin) {
        let (h_f, w_f) = (height as f64, width as f64);
        let area = h_f * w_f;
        let (area_lo, area_hi) = (f64::from(params.crop_area.0), f64::from(params.crop_area.1));
        let (aspect_lo, aspect_hi) = (
            f64::from(params.crop_aspect.0),
            f64::from(params.crop_aspect.1),
        );
        let (log_lo, log_hi) = (aspect_lo.ln(), aspect_hi.ln());
        for index in 0..CROP_ATTEMPTS {
            let area_fraction = uniform(rng, area_lo, area_hi);
            let aspect = uniform(rng, log_lo, log_hi).exp();
            let target = area * area_fraction;
            let w = (target * aspect).sqrt().round_ties_even();
            let h = (target / aspect).sqrt().round_ties_even();
            if (1.0..=w_f).contains(&w) && (1.0..=h_f).contains(&h) {
                let (h, w) = (h as usize, w as usize);
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return (
                    Self {
                        top,
                        left,
                        height: h,
                        width: w,
                    },
                    CropOrigin::Attempt {
                        index,
                        area_fraction,
                        aspect,
                    },
                );
            }
        }
        let in_ratio = w_f / h_f;
        let (h, w) = if in_ratio < aspect_lo {
            (((w_f / aspect_lo).round_ties_even() as usize).max(1), width)
        } else if in_ratio > aspect_hi {
            (
                height,
                ((h_f * aspect_hi).round_ties_even() as usize).max(1),
            )
        } else {
            (height, width)
        };
        (
            Self {
                top: (height - h) / 2,
                left: (width - w) / 2,
                height: h,
                width: w,
            },
            CropOrigin::Fallback,
        )
    }

    fn fits(&self, height: usize, width: usize) -> bool {
        (1..=height.saturating_sub(self.top)).contains(&self.height)
            && (1..=width.saturating_sub(self.left)).contains(&self.width)
    }
}

/// One of the colour jitter's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourOp {
    /// Multiply by [`Jitter::brightness`].
    Brightness,
    /// Blend with the image's mean grey value by [`Jitter::contrast`].
    Contrast,
    /// Blend with each pixel's grey value by [`Jitter::saturation`] (RGB only).
    Saturation,
    /// Rotate the HSV hue by [`Jitter::hue`] turns (RGB only).
    Hue,
}

impl ColourOp {
    /// The four operations in SimCLR's (and torchvision's) index order.
    pub const ALL: [Self; 4] = [
        Self::Brightness,
        Self::Contrast,
        Self::Saturation,
        Self::Hue,
    ];
}

/// One concrete colour jitter: the order of the operations and their factors. Every
/// operation is followed by a clip to `[0, 1]`; an operation whose factor is the identity
/// (1, or a hue shift of 0) is skipped, so a jitter of strength 0 changes nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// The order in which the operations run.
    pub order: [ColourOp; 4],
    /// Brightness factor (≥ 0): `x · f`.
    pub brightness: f32,
    /// Contrast factor (≥ 0): `m + f · (x − m)` with `m` the mean grey value of the image.
    pub contrast: f32,
    /// Saturation factor (≥ 0): `g + f · (x − g)` with `g` the pixel's grey value.
    pub saturation: f32,
    /// Hue shift in turns: `h ← (h + shift) mod 1` in HSV.
    pub hue: f32,
}

impl Jitter {
    /// Changes nothing.
    pub const IDENTITY: Self = Self {
        order: ColourOp::ALL,
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue: 0.0,
    };

    /// Draws a jitter of strength `s` (assumed finite and ≥ 0): the permutation, then the
    /// brightness, contrast, saturation and hue factors (torchvision's `get_params` order).
    pub fn sample<R: Rng + ?Sized>(strength: f32, rng: &mut R) -> Self {
        let mut order = ColourOp::ALL;
        order.shuffle(rng);
        let (lo, hi) = ((1.0 - 0.8 * strength).max(0.0), 1.0 + 0.8 * strength);
        let hue = 0.2 * strength;
        Self {
            order,
            brightness: uniform_f32(rng, lo, hi),
            contrast: uniform_f32(rng, lo, hi),
            saturation: uniform_f32(rng, lo, hi),
            hue: uniform_f32(rng, -hue, hue),
        }
    }

    /// Applies the jitter in place to `planes`, one image's `C` planes of `pixels` values
    /// each (`C = 1` grey: brightness and contrast only; `C = 3` RGB: all four).
    fn apply(&self, planes: &mut [f32], pixels: usize) {
        let grey = planes.len() == pixels;
        for op in self.order {
            match op {
                ColourOp::Brightness if self.brightness != 1.0 => {
                    let f = self.brightness;
                    for x in planes.iter_mut() {
                        *x = (*x * f).clamp(0.0, 1.0);
                    }
                }
                ColourOp::Contrast if self.contrast != 1.0 => {
                    let mean = mean_grey(planes, pixels);
                    let f = self.contrast;
                    for x in planes.iter_mut() {
                        *x = (mean + f * (*x - mean)).clamp(0.0, 1.0);
                    }
                }
                ColourOp::Saturation if !grey && self.saturation != 1.0 => {
                    let f = self.saturation;
                    let (r, g, b) = rgb_planes(planes, pixels);
                    for ((r, g), b) in r.iter_mut().zip(g).zip(b) {
                        let grey = luma(*r, *g, *b);
                        *r = (grey + f * (*r - grey)).clamp(0.0, 1.0);
                        *g = (grey + f * (*g - grey)).clamp(0.0, 1.0);
                        *b = (grey + f * (*b - grey)).clamp(0.0, 1.0);
                    }
                }
                ColourOp::Hue if !grey && self.hue != 0.0 => rotate_hue(planes, pixels, self.hue),
                _ => {}
            }
        }
    }
}

/// One concrete view: crop (resized back to the input size), then flip, then colour
/// jitter, then grayscale, then a clip to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    /// The part of the input that fills the view.
    pub crop: Crop,
    /// Mirror the view left to right.
    pub flip: bool,
    /// The colour jitter, if applied.
    pub jitter: Option<Jitter>,
    /// Replace every channel by the luma (RGB only; no effect on grey images).
    pub grayscale: bool,
}

impl ViewTransform {
    /// The identity on `height × width` images.
    #[must_use]
    pub const fn identity(height: usize, width: usize) -> Self {
        Self {
            crop: Crop::full(height, width),
            flip: false,
            jitter: None,
            grayscale: false,
        }
    }

    /// Draws a view of a `height × width` image (both ≥ 1) from `params` (assumed checked),
    /// in this order: the crop ([`Crop::sample`]), the flip coin, the jitter coin and, if
    /// it comes up, the jitter ([`Jitter::sample`]), the grayscale coin. The draws do not
    /// depend on the number of channels (see the module docs).
    pub fn sample<R: Rng + ?Sized>(
        params: &ContrastiveAugment,
        height: usize,
        width: usize,
        rng: &mut R,
    ) -> Self {
        let (crop, _) = Crop::sample(params, height, width, rng);
        let flip = rng.random_bool(params.flip_probability);
        let jitter = if rng.random_bool(params.jitter_probability) {
            Some(Jitter::sample(params.colour_strength, rng))
        } else {
            None
        };
        let grayscale = rng.random_bool(params.grayscale_probability);
        Self {
            crop,
            flip,
            jitter,
            grayscale,
        }
    }

    /// Applies the view to one image. Values are clipped to `[0, 1]`.
    ///
    /// # Shapes
    /// `[C, H, W]` in (`C` = 1 or 3), `[C, H, W]` out.
    ///
    /// # Panics
    /// If `C` is neither 1 nor 3, or the crop does not lie inside the image.
    #[must_use]
    pub fn apply(&self, image: ArrayView3<'_, f32>) -> Array3<f32> {
        let (c, h, w) = image.dim();
        let src = image.as_standard_layout();
        let mut out = Array3::zeros((c, h, w));
        self.render(
            src.as_slice().expect("standard layout is contiguous"),
            (c, h, w),
            out.as_slice_mut().expect("a new array is contiguous"),
            &mut Scratch::default(),
        );
        out
    }

    /// [`apply`](Self::apply) on contiguous `[C, H, W]` buffers; `scratch` is reused
    /// between calls so a batch allocates nothing per image.
    ///
    /// The resize is separable: each crop row is interpolated horizontally into `scratch`,
    /// then pairs of those rows vertically. That is the same arithmetic, value for value, as
    /// interpolating each output pixel from its four neighbours, with a third of the gathers.
    fn render(
        &self,
        src: &[f32],
        (c, h, w): (usize, usize, usize),
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        assert!(
            c == 1 || c == 3,
            "contrastive views need 1 (grey) or 3 (RGB) channels, found {c}"
        );
        assert!(
            self.crop.fits(h, w),
            "crop {:?} does not lie inside a {h}×{w} image",
            self.crop
        );
        let pixels = h * w;
        let Crop {
            top,
            left,
            height,
            width,
        } = self.crop;
        taps(&mut scratch.rows, h, height, 0, false);
        taps(&mut scratch.cols, w, width, left, self.flip);
        scratch.rows_buf.clear();
        scratch.rows_buf.resize(height * w, 0.0);
        for (src_plane, out_plane) in src.chunks_exact(pixels).zip(out.chunks_exact_mut(pixels)) {
            let crop_rows = src_plane.chunks_exact(w).skip(top);
            for (buf_row, src_row) in scratch.rows_buf.chunks_exact_mut(w).zip(crop_rows) {
                for (o, tx) in buf_row.iter_mut().zip(&scratch.cols) {
                    *o = lerp(src_row[tx.near], src_row[tx.far], tx.t);
                }
            }
            for (out_row, ty) in out_plane.chunks_exact_mut(w).zip(&scratch.rows) {
                let upper = &scratch.rows_buf[ty.near * w..][..w];
                let lower = &scratch.rows_buf[ty.far * w..][..w];
                let t = ty.t;
                for ((o, &a), &b) in out_row.iter_mut().zip(upper).zip(lower) {
                    *o = lerp(a, b, t).clamp(0.0, 1.0);
                }
            }
        }
        if let Some(jitter) = &self.jitter {
            jitter.apply(out, pixels);
        }
        if self.grayscale && c == 3 {
            let (r, g, b) = rgb_planes(out, pixels);
            for ((r, g), b) in r.iter_mut().zip(g).zip(b) {
                let grey = luma(*r, *g, *b).clamp(0.0, 1.0);
                (*r, *g, *b) = (grey, grey, grey);
            }
        }
    }
}

/// Two independently augmented views of every image.
///
/// Draws one `u64` seed per image from `rng` (in order, before any work); image `i` then
/// draws its first and second [`ViewTransform`] from `ChaCha8Rng::seed_from_u64(seed_i)`.
/// Images are processed in parallel; the result does not depend on the thread count.
///
/// # Shapes
/// `[N, C, H, W]` in (`C` = 1 or 3, values in `[0, 1]`), two `[N, C, H, W]` out.
///
/// # Errors
/// As [`ContrastiveAugment::check`]; [`Error::Shape`] if `C` is neither 1 nor 3 or an
/// image is empty (`H` or `W` is 0).
pub fn contrastive_views<R: Rng + ?Sized>(
    images: ArrayView4<'_, f32>,
    params: &ContrastiveAugment,
    rng: &mut R,
) -> Result<(Array4<f32>, Array4<f32>)> {
    let (dims, seeds) = prepare(images, params, rng)?;
    let src = images.as_standard_layout();
    let src = src.as_slice().expect("standard layout is contiguous");
    let mut first = Array4::zeros(images.raw_dim());
    let mut second = Array4::zeros(images.raw_dim());
    let size = dims.0 * dims.1 * dims.2;
    first
        .as_slice_mut()
        .expect("a new array is contiguous")
        .par_chunks_mut(size)
        .zip(
            second
                .as_slice_mut()
                .expect("a new array is contiguous")
                .par_chunks_mut(size),
        )
        .zip(src.par_chunks(size))
        .zip(&seeds)
        .for_each_init(Scratch::default, |scratch, (((a, b), image), &seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for out in [a, b] {
                ViewTransform::sample(params, dims.1, dims.2, &mut rng)
                    .render(image, dims, out, scratch);
            }
        });
    Ok((first, second))
}

/// One augmented view of every image, by the scheme of [`contrastive_views`]: it equals the
/// first of the two views `contrastive_views` returns for the same generator state.
///
/// # Shapes
/// `[N, C, H, W]` in (`C` = 1 or 3, values in `[0, 1]`) and out.
///
/// # Errors
/// As [`contrastive_views`].
pub fn contrastive_view<R: Rng + ?Sized>(
    images: ArrayView4<'_, f32>,
    params: &ContrastiveAugment,
    rng: &mut R,
) -> Result<Array4<f32>> {
    let (dims, seeds) = prepare(images, params, rng)?;
    let src = images.as_standard_layout();
    let src = src.as_slice().expect("standard layout is contiguous");
    let mut out = Array4::zeros(images.raw_dim());
    let size = dims.0 * dims.1 * dims.2;
    out.as_slice_mut()
        .expect("a new array is contiguous")
        .par_chunks_mut(size)
        .zip(src.par_chunks(size))
        .zip(&seeds)
        .for_each_init(Scratch::default, |scratch, ((out, image), &seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            ViewTransform::sample(params, dims.1, dims.2, &mut rng)
                .render(image, dims, out, scratch);
        });
    Ok(out)
}

/// Checks the parameters and the shape, and draws the per-image seeds.
fn prepare<R: Rng + ?Sized>(
    images: ArrayView4<'_, f32>,
    params: &ContrastiveAugment,
    rng: &mut R,
) -> Result<((usize, usize, usize), Vec<u64>)> {
    params.check()?;
    let (n, c, h, w) = images.dim();
    if c != 1 && c != 3 {
        return Err(Error::Shape(format!(
            "contrastive views need images [N, C, H, W] with C = 1 (grey) or C = 3 (RGB), found C = {c}"
        )));
    }
    if h == 0 || w == 0 {
        return Err(Error::Shape(format!(
            "contrastive views need images of at least 1×1 pixels, found {h}×{w}"
        )));
    }
    let seeds = (0..n).map(|_| rng.random::<u64>()).collect();
    Ok(((c, h, w), seeds))
}

/// HSV of an RGB colour (channels in `[0, 1]`), as torchvision's `_rgb2hsv`: hue in turns
/// in `[0, 1]` (1 only by rounding, meaning 0), saturation and value in `[0, 1]`; a grey
/// colour has hue and saturation 0.
#[must_use]
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if max == min {
        return (0.0, 0.0, max);
    }
    let chroma = max - min;
    let (rc, gc, bc) = ((max - r) / chroma, (max - g) / chroma, (max - b) / chroma);
    let sextant = if max == r {
        bc - gc
    } else if max == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    ((sextant / 6.0).rem_euclid(1.0), chroma / max, max)
}

/// RGB of an HSV colour, as torchvision's `_hsv2rgb` (hue in turns, taken modulo 1).
#[must_use]
#[allow(clippy::cast_possible_truncation)]
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Rotates the hue of `[3, pixels]` planes by `shift` turns: [`rgb_to_hsv`], `h ← (h + shift)
/// mod 1`, [`hsv_to_rgb`], fused into one pass without branches (this is the jitter's most
/// expensive operation). It works in sextants (hue × 6, chroma = `v · s`) rather than turns,
/// which saves the divisions by 6 and their rounding, and rebuilds each channel as
/// `v − chroma · clamp(min(k, 4 − k), 0, 1)` with `k = (n + h₆) mod 6`, `n` = 5, 3, 1 for
/// red, green, blue: the same six-case piecewise-linear map as `hsv_to_rgb`'s table.
fn rotate_hue(planes: &mut [f32], pixels: usize, shift: f32) {
    // `f32::max`, `min` and `clamp` carry NaN rules that cost a third of the loop; the
    // values here are finite, so plain comparisons do.
    #[inline]
    fn max(a: f32, b: f32) -> f32 {
        if a > b { a } else { b }
    }
    #[inline]
    fn min(a: f32, b: f32) -> f32 {
        if a < b { a } else { b }
    }
    #[inline]
    fn unit(x: f32) -> f32 {
        min(max(x, 0.0), 1.0)
    }
    #[inline]
    fn channel(n: f32, h6: f32, chroma: f32, v: f32) -> f32 {
        let k = n + h6;
        let k = if k >= 6.0 { k - 6.0 } else { k };
        unit(v - chroma * unit(min(k, 4.0 - k)))
    }
    let shift6 = shift.rem_euclid(1.0) * 6.0;
    // One plain loop over the three planes, with selects rather than branches, so that it
    // vectorises.
    let (r, g, b) = rgb_planes(planes, pixels);
    for ((r, g), b) in r.iter_mut().zip(g).zip(b) {
        let (red, green, blue) = (*r, *g, *b);
        let v = max(max(red, green), blue);
        let chroma = v - min(min(red, green), blue);
        // A grey pixel (chroma 0) has hue 0 and comes back unchanged.
        let inv = if chroma > 0.0 { 1.0 / chroma } else { 0.0 };
        let from_red = (green - blue) * inv;
        let from_green = 2.0 + (blue - red) * inv;
        let from_blue = 4.0 + (red - green) * inv;
        let h6 = if v == red {
            from_red
        } else if v == green {
            from_green
        } else {
            from_blue
        };
        // h6 in [-1, 5] and shift6 in [0, 6]: one wrap each way lands in [0, 6).
        let h = h6 + shift6;
        let h = if h < 0.0 { h + 6.0 } else { h };
        let h = if h >= 6.0 { h - 6.0 } else { h };
        *r = channel(5.0, h, chroma, v);
        *g = channel(3.0, h, chroma, v);
        *b = channel(1.0, h, chroma, v);
    }
}

/// One output coordinate's two source coordinates and the weight of the far one.
struct Tap {
    near: usize,
    far: usize,
    t: f32,
}

/// Bilinear taps (`align_corners = false`) along one axis, into `taps`: output `i` samples
/// crop position `(i + 0.5) · crop / out − 0.5`, clamped to `[0, crop − 1]`, shifted by
/// `offset`; reversed for a flip.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]
fn taps(taps: &mut Vec<Tap>, out_len: usize, crop_len: usize, offset: usize, reverse: bool) {
    let scale = crop_len as f32 / out_len as f32;
    let last = (crop_len - 1) as f32;
    taps.clear();
    taps.extend((0..out_len).map(|i| {
        let i = if reverse { out_len - 1 - i } else { i };
        let pos = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, last);
        let near = pos as usize;
        Tap {
            near: offset + near,
            far: offset + (near + 1).min(crop_len - 1),
            t: pos - near as f32,
        }
    }));
}

/// Buffers [`ViewTransform::render`] reuses: the taps of both axes and the horizontally
/// resized crop rows of one plane.
#[derive(Default)]
struct Scratch {
    rows: Vec<Tap>,
    cols: Vec<Tap>,
    rows_buf: Vec<f32>,
}

/// `a + t · (b − a)`: exactly `a` at `t = 0` and exactly `a` when `a = b`.
#[inline]
fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + t * (b - a)
}

#[inline]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
}

/// The red, green and blue planes of `[3, pixels]` values.
fn rgb_planes(planes: &mut [f32], pixels: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (r, rest) = planes.split_at_mut(pixels);
    let (g, b) = rest.split_at_mut(pixels);
    (r, g, b)
}

/// Mean grey value of one image's planes: the mean of the single plane, or the luma of
/// the three channel means.
#[allow(clippy::cast_precision_loss)]
fn mean_grey(planes: &[f32], pixels: usize) -> f32 {
    let n = pixels as f32;
    if planes.len() == pixels {
        sum(planes) / n
    } else {
        let (r, rest) = planes.split_at(pixels);
        let (g, b) = rest.split_at(pixels);
        luma(sum(r), sum(g), sum(b)) / n
    }
}

/// Sum with eight running partial sums (vectorisable, and more accurate than one).
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Uniform in `[lo, hi)` (exactly `lo` if the range is empty); always one draw.
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

#[allow(clippy::cast_possible_truncation)]
fn uniform_f32<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    uniform(rng, f64::from(lo), f64::from(hi)) as f32
}
