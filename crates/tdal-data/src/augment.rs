//! Augmentation of labelled batches (as in the paper): random rotation (±20°), horizontal flip
//! (p = 0.5) and affine scale (0.65–1.0) about the image centre, bilinear, zero fill;
//! and a class-balancing sampler that upsamples minority classes.
//!
//! The warp is written here rather than taken from `imageproc`: it works directly on the
//! `f32` `[C, H, W]` planes the encoders consume (no round trip through `u8` image
//! buffers, which would quantise), and the crate would add `nalgebra` and a second `rand`
//! version to the build for thirty lines of arithmetic. Its properties (identity, exact
//! mirror, value range, agreement with a 90° rotation) are tested.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Axis};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// Augmentation ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Rotation drawn uniformly from `[-max, max]` degrees.
    pub max_rotation_degrees: f32,
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// Scale drawn uniformly from `[min, max]` (below 1 shrinks the content).
    pub scale_range: (f32, f32),
}

impl Default for AugmentParams {
    fn default() -> Self {
        Self {
            max_rotation_degrees: 20.0,
            flip_probability: 0.5,
            scale_range: (0.65, 1.0),
        }
    }
}

impl AugmentParams {
    /// Validates the ranges.
    ///
    /// # Errors
    /// [`Error::Config`] for a negative or non-finite angle, a probability outside
    /// `[0, 1]`, or a scale range that is empty or not positive.
    pub fn check(&self) -> Result<()> {
        if !(self.max_rotation_degrees.is_finite() && self.max_rotation_degrees >= 0.0) {
            return Err(Error::Config(format!(
                "expected a rotation range ≥ 0 degrees, got {}",
                self.max_rotation_degrees
            )));
        }
        if !(0.0..=1.0).contains(&self.flip_probability) {
            return Err(Error::Config(format!(
                "expected a flip probability in [0, 1], got {}",
                self.flip_probability
            )));
        }
        let (lo, hi) = self.scale_range;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(Error::Config(format!(
                "expected a scale range 0 < min ≤ max, got ({lo}, {hi})"
            )));
        }
        Ok(())
    }
}

/// One concrete transform: flip first, then rotate and scale about the centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Rotation in radians, clockwise as displayed (image y axis pointing down).
    pub angle: f32,
    /// Horizontal flip.
    pub flip: bool,
    /// Scale factor.
    pub scale: f32,
}

impl Transform {
    /// The identity.
    pub const IDENTITY: Self = Self {
        angle: 0.0,
        flip: false,
        scale: 1.0,
    };

    /// Draws a transform from `params` (assumed checked).
    pub fn sample<R: Rng + ?Sized>(params: &AugmentParams, rng: &mut R) -> Self {
        let max = params.max_rotation_degrees.to_radians();
        let angle = if max > 0.0 {
            rng.random_range(-max..=max)
        } else {
            0.0
        };
        let flip = rng.random_bool(params.flip_probability);
        let (lo, hi) = params.scale_range;
        let scale = if hi > lo {
            rng.random_range(lo..=hi)
        } else {
            lo
        };
        Self { angle, flip, scale }
    }

    /// Applies the transform to one image by inverse mapping with bilinear interpolation;
    /// pixels that map outside the source are 0.
    ///
    /// # Shapes
    /// `[C, H, W]` in, `[C, H, W]` out.
    #[must_use]
    pub fn apply(&self, image: ArrayView3<'_, f32>) -> Array3<f32> {
        let (c, h, w) = image.dim();
        let mut out = Array3::zeros((c, h, w));
        #[allow(clippy::cast_precision_loss)]
        let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (sin, cos) = self.angle.sin_cos();
        let inv = 1.0 / self.scale;
        for y in 0..h {
            for x in 0..w {
                #[allow(clippy::cast_precision_loss)]
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                // Inverse of rotate-and-scale, then inverse of the flip.
                let mut sx = (cos * dx + sin * dy) * inv + cx;
                let sy = (-sin * dx + cos * dy) * inv + cy;
                if self.flip {
                    #[allow(clippy::cast_precision_loss)]
                    let right = w as f32 - 1.0;
                    sx = right - sx;
                }
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                #[allow(clippy::cast_possible_truncation)]
                let (x0, y0) = (x0 as isize, y0 as isize);
                for ch in 0..c {
                    let at = |yy: isize, xx: isize| -> f32 {
                        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                            image[[ch, yy as usize, xx as usize]]
                        } else {
                            0.0
                        }
                    };
                    let top =
                        at(y0, x0) * (1.0 - fx) + if fx > 0.0 { at(y0, x0 + 1) * fx } else { 0.0 };
                    let bottom = if fy > 0.0 {
                        (at(y0 + 1, x0) * (1.0 - fx)
                            + if fx > 0.0 {
                                at(y0 + 1, x0 + 1) * fx
                            } else {
                                0.0
                            })
                            * fy
                    } else {
                        0.0
                    };
                    out[[ch, y, x]] = top * (1.0 - fy) + bottom;
                }
            }
        }
        out
    }
}

/// Augments every image of a batch with its own random transform.
///
/// # Shapes
/// `[N, C, H, W]` in and out.
///
/// # Errors
/// As [`AugmentParams::check`].
pub fn augment_batch<R: Rng + ?Sized>(
    images: ArrayView4<'_, f32>,
    params: &AugmentParams,
    rng: &mut R,
) -> Result<Array4<f32>> {
    params.check()?;
    let mut out = Array4::zeros(images.raw_dim());
    for (src, mut dst) in images.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        dst.assign(&Transform::sample(params, rng).apply(src));
    }
    Ok(out)
}

/// Class-balanced index order for one epoch over a labelled set: every class is
/// upsampled to the size of the largest class (each member once, then extra members drawn
/// with replacement), and the result is shuffled.
///
/// Returns `max_count × number_of_present_classes` indices into `labels`.
pub fn balanced_indices<R: Rng + ?Sized>(labels: &[u32], rng: &mut R) -> Vec<usize> {
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> =
        std::collections::BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let target = by_class.values().map(Vec::len).max().unwrap_or(0);
    let mut order = Vec::with_capacity(target * by_class.len());
    for members in by_class.values() {
        order.extend_from_slice(members);
        for _ in members.len()..target {
            order.push(members[rng.random_range(0..members.len())]);
        }
    }
    order.shuffle(rng);
    order
}
