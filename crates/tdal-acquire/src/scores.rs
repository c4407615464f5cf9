//! Acquisition scores that need only the pool: entropy, BALD, confidence, margin, random.
//!
//! With `p̄(y|x) = (1/K) Σ_k p(y|x, θ_k)` and `H` the Shannon entropy in nats:
//! - predictive entropy `H[p̄]` (Shannon 1948);
//! - BALD `H[p̄] − (1/K) Σ_k H[p(y|x, θ_k)]`, the mutual information between `y` and `θ`
//!   (Houlsby et al. 2011, "Bayesian Active Learning for Classification and Preference
//!   Learning");
//! - least confidence `1 − max_y p̄(y)` and margin `1 − (p̄₍₁₎ − p̄₍₂₎)` (Settles 2009,
//!   "Active Learning Literature Survey"), so that for every score higher means "acquire";
//! - random: i.i.d. uniform scores in `[0, 1)` from a seeded ChaCha8 stream; input `i`'s
//!   score is word `i` of the stream, so a slice of a pool gets its scores alone
//!   ([`random_scores_at`]).
//!
//! Each input is scored independently, in parallel over blocks of inputs, so results do
//! not depend on the number of threads.

use ndarray::{Array1, ArrayView3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::validate::{DEFAULT_TOLERANCE, check_probs};
use crate::xlogx::{entropy_f64, sum_xlogx_groups};
use crate::{Acquisition, Result};

/// Inputs per parallel task.
const INPUTS_PER_TASK: usize = 512;

/// Predictive entropy `H[p̄(y|x)]` in nats.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entropy;

/// BALD: mutual information `I(y; θ | x)` in nats.
///
/// BALD measures how the K posterior samples disagree, so with K = 1 (a deterministic
/// model, a one-tree forest) every score is 0, up to floating-point rounding. That is the
/// estimator's correct value, and such a pool is scored, not refused; but a batch drawn
/// from those scores is not the model's choice: rounding and the strategy's tie rule
/// decide it. Give K ≥ 2 samples, or use [`Entropy`], [`Confidence`] or [`Margin`], which
/// need only the mean prediction.
///
/// # Errors
/// [`Acquisition::score`] fails on invalid probabilities ([`crate::check_probs`]); K = 1 is
/// not an error (every score is 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bald;

/// Least confidence `1 − max_y p̄(y|x)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Confidence;

/// Margin `1 − (p̄₍₁₎ − p̄₍₂₎)` between the two most probable classes (`0` when C = 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Margin;

/// Uniform random scores in `[0, 1)`, reproducible from `seed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Random {
    /// Seed of the ChaCha8 stream.
    pub seed: u64,
}

/// Classes up to which [`mean_probs`] sums 16 rows at a time in f32 lanes.
const LANE_SUM_MAX_CLASSES: usize = 16;

/// Mean over the K samples of one input's `[K, C]` slab, in f64.
///
/// For small C the slab is summed 16 rows at a time as one flat `16·C`-lane vector (an
/// element-wise add that vectorises), and the lanes of each class are folded at the end;
/// for large C each row is already a long vector.
#[inline]
pub(crate) fn mean_probs(slab: &[f32], classes: usize, out: &mut [f64]) {
    out.fill(0.0);
    if classes <= LANE_SUM_MAX_CLASSES {
        let mut lanes = [0.0f32; 16 * LANE_SUM_MAX_CLASSES];
        let lanes = &mut lanes[..16 * classes];
        let mut chunks = slab.chunks_exact(lanes.len());
        for chunk in &mut chunks {
            for (l, &p) in lanes.iter_mut().zip(chunk) {
                *l += p;
            }
        }
        // The remainder starts on a row boundary: index i holds class i mod C.
        for (l, &p) in lanes.iter_mut().zip(chunks.remainder()) {
            *l += p;
        }
        for row in lanes.chunks_exact(classes) {
            for (o, &l) in out.iter_mut().zip(row) {
                *o += f64::from(l);
            }
        }
    } else {
        for row in slab.chunks_exact(classes) {
            for (o, &p) in out.iter_mut().zip(row) {
                *o += f64::from(p);
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let inv_k = classes as f64 / slab.len() as f64;
    out.iter_mut().for_each(|o| *o *= inv_k);
}

/// Validates `pool`, then scores every input in parallel with `per_input(p̄, extra)`, where
/// `p̄` is the input's mean prediction (f64) and `extra` is `Σ x ln x` over its `[K, C]`
/// slab when `with_xlogx` is set (else 0).
fn score_inputs<F>(pool: ArrayView3<'_, f32>, with_xlogx: bool, per_input: F) -> Result<Array1<f32>>
where
    F: Fn(&[f64], f64) -> f32 + Sync,
{
    check_probs(pool, "pool", DEFAULT_TOLERANCE)?;
    let (n, k, c) = pool.dim();
    let pool = pool.as_standard_layout();
    let flat = pool.as_slice().unwrap_or(&[]);
    let slab = k * c;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(INPUTS_PER_TASK)
        .zip(flat.par_chunks(INPUTS_PER_TASK * slab))
        .for_each(|(out, block)| {
            let mut mean = vec![0.0f64; c];
            let mut sums = vec![0.0f64; out.len()];
            if with_xlogx {
                sum_xlogx_groups(block, slab, &mut sums);
            }
            for ((o, input), &s) in out.iter_mut().zip(block.chunks_exact(slab)).zip(&sums) {
                mean_probs(input, c, &mut mean);
                *o = per_input(&mean, s);
            }
        });
    Ok(Array1::from(out))
}

#[allow(clippy::cast_possible_truncation)]
impl Acquisition for Entropy {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        score_inputs(pool, false, |mean, _| entropy_f64(mean) as f32)
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
impl Acquisition for Bald {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        let inv_k = 1.0 / pool.dim().1 as f64;
        // H[p̄] − mean_k H[p_k] = H[p̄] + (1/K) Σ_k Σ_c p ln p
        score_inputs(pool, true, |mean, sum_xlogx| {
            (entropy_f64(mean) + sum_xlogx * inv_k).max(0.0) as f32
        })
    }
}

#[allow(clippy::cast_possible_truncation)]
impl Acquisition for Confidence {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        score_inputs(pool, false, |mean, _| {
            let top = mean.iter().copied().fold(0.0f64, f64::max);
            (1.0 - top).max(0.0) as f32
        })
    }
}

#[allow(clippy::cast_possible_truncation)]
impl Acquisition for Margin {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        score_inputs(pool, false, |mean, _| {
            if mean.len() < 2 {
                return 0.0;
            }
            let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for &p in mean {
                if p > first {
                    second = first;
                    first = p;
                } else if p > second {
                    second = p;
                }
            }
            (1.0 - (first - second)).clamp(0.0, 1.0) as f32
        })
    }
}

impl Acquisition for Random {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        Ok(random_scores(pool.dim().0, self.seed))
    }
}

/// `n` i.i.d. uniform scores in `[0, 1)` from a ChaCha8 stream seeded with `seed`.
#[must_use]
pub fn random_scores(n: usize, seed: u64) -> Array1<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>()).collect()
}

/// 32-bit words of the ChaCha stream one `random::<f32>()` takes (one `next_u32`, rand 0.9).
const WORDS_PER_F32: u128 = 1;

/// The random scores of inputs `offset..offset + n` of a larger pool: exactly
/// `random_scores(offset + n, seed)` from `offset` on, computed without drawing the first
/// `offset` (the ChaCha stream is jumped to word `offset`). Concatenating the slices of a
/// pool in shards gives the whole pool's [`random_scores`].
///
/// # Shapes
/// Returns `[n]`.
///
/// # Example
/// ```
/// use tdal_acquire::{random_scores, random_scores_at};
///
/// let whole = random_scores(10, 3);
/// assert_eq!(random_scores_at(4, 6, 3), whole.slice(ndarray::s![4..]));
/// ```
#[must_use]
pub fn random_scores_at(offset: usize, n: usize, seed: u64) -> Array1<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_word_pos(WORDS_PER_F32 * offset as u128);
    (0..n).map(|_| rng.random::<f32>()).collect()
}
