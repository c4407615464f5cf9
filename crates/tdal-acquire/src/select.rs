//! Batch selection from acquisition scores: deterministic top-k and the stochastic
//! strategies of Kirsch et al. (2023), "Stochastic Batch Acquisition: A Simple Baseline for
//! Deep Active Learning" (TMLR).
//!
//! The stochastic strategies draw a batch *without replacement* with probabilities
//! proportional to a transform of the scores, by the Gumbel-top-k trick (Kool et al. 2019,
//! "Stochastic Beams and Where to Find Them"): adding i.i.d. Gumbel(0, 1) noise to the
//! log-weights and taking the top B indices samples B items sequentially without
//! replacement with probability ∝ weight.
//! - power: weight `s^β` (log-weight `β ln s`; scores ≤ 0 are clamped to the smallest
//!   positive normal `f32`, as EPIG/BALD can round to tiny negatives);
//! - softmax: weight `exp(β s)`;
//! - soft-rank: weight `rank^(−β)`, rank 1 for the best score.
//!
//! Noise is drawn sequentially from the caller's RNG, so a seed gives the same batch on any
//! number of threads. The returned indices are in selection order (best perturbed score
//! first); ties are broken by the lower index.

use std::cmp::Ordering;

use ndarray::ArrayView1;
use rand::Rng;

use crate::{Error, Result};

/// How to turn scores into a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// The B highest scores.
    TopK,
    /// Sample ∝ `score^beta` without replacement (Kirsch et al.'s power acquisition).
    Power {
        /// Coldness β ≥ 0 (β = 0 is uniform; large β approaches top-k).
        beta: f32,
    },
    /// Sample ∝ `exp(beta · score)` without replacement.
    Softmax {
        /// Coldness β ≥ 0.
        beta: f32,
    },
    /// Sample ∝ `rank^(−beta)` without replacement.
    SoftRank {
        /// Coldness β ≥ 0.
        beta: f32,
    },
}

impl Strategy {
    /// Checks β.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when β is negative or not finite.
    pub fn check(self) -> Result<Self> {
        match self {
            Self::Power { beta } | Self::Softmax { beta } | Self::SoftRank { beta }
                if !(beta.is_finite() && beta >= 0.0) =>
            {
                Err(Error::InvalidParameter {
                    name: "beta",
                    value: beta.to_string(),
                    expected: "a finite number ≥ 0",
                })
            }
            _ => Ok(self),
        }
    }
}

/// Chooses `batch` distinct indices of `scores` with `strategy`.
///
/// # Shapes
/// `scores`: `[N]`; returns `batch` indices in `0..N`, in selection order.
///
/// # Errors
/// [`Error::NoScores`] for an empty pool, [`Error::InvalidBatch`] unless
/// `1 ≤ batch ≤ N`, [`Error::InvalidScore`] for a NaN/infinite score,
/// [`Error::InvalidParameter`] for an invalid β.
///
/// # Example
/// ```
/// use ndarray::array;
/// use rand::SeedableRng;
/// use tdal_acquire::{Strategy, select};
///
/// let scores = array![0.1f32, 0.9, 0.5];
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// assert_eq!(select(scores.view(), 2, Strategy::TopK, &mut rng)?, vec![1, 2]);
/// let batch = select(scores.view(), 2, Strategy::Power { beta: 4.0 }, &mut rng)?;
/// assert_eq!(batch.len(), 2);
/// # Ok::<(), tdal_acquire::Error>(())
/// ```
pub fn select<R: Rng + ?Sized>(
    scores: ArrayView1<'_, f32>,
    batch: usize,
    strategy: Strategy,
    rng: &mut R,
) -> Result<Vec<usize>> {
    let n = scores.len();
    if n == 0 {
        return Err(Error::NoScores);
    }
    if batch == 0 || batch > n {
        return Err(Error::InvalidBatch {
            batch,
            available: n,
        });
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(Error::InvalidScore { index, value });
    }
    let strategy = strategy.check()?;
    let keys: Vec<f64> = match strategy {
        Strategy::TopK => scores.iter().map(|&s| f64::from(s)).collect(),
        Strategy::Power { beta } => {
            let floor = f64::from(f32::MIN_POSITIVE);
            scores
                .iter()
                .map(|&s| f64::from(beta) * f64::from(s).max(floor).ln() + gumbel(rng))
                .collect()
        }
        Strategy::Softmax { beta } => scores
            .iter()
            .map(|&s| f64::from(beta) * f64::from(s) + gumbel(rng))
            .collect(),
        Strategy::SoftRank { beta } => {
            let ranks = ranks(scores);
            #[allow(clippy::cast_precision_loss)]
            ranks
                .iter()
                .map(|&r| -f64::from(beta) * (r as f64).ln() + gumbel(rng))
                .collect()
        }
    };
    Ok(top_k(&keys, batch))
}

/// One Gumbel(0, 1) draw: `−ln(−ln u)`, `u` uniform in (0, 1).
fn gumbel<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // random::<f64>() is in [0, 1); map 0 to the smallest positive double.
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    -(-u.ln()).ln()
}

/// Orders `(key desc, index asc)`: a total order even with equal keys.
fn by_key_then_index(keys: &[f64]) -> impl Fn(&usize, &usize) -> Ordering + '_ {
    move |&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b))
}

/// Indices of the `k` largest keys, best first.
fn top_k(keys: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let cmp = by_key_then_index(keys);
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, &cmp);
        order.truncate(k);
    }
    order.sort_unstable_by(&cmp);
    order
}

/// 1-based ranks of the scores, 1 for the highest; equal scores get consecutive ranks by
/// index.
fn ranks(scores: ArrayView1<'_, f32>) -> Vec<usize> {
    let keys: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(by_key_then_index(&keys));
    let mut ranks = vec![0; keys.len()];
    for (rank, &i) in order.iter().enumerate() {
        ranks[i] = rank + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn topk_breaks_ties_by_index() {
        let scores = array![1.0f32, 3.0, 3.0, 2.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(
            select(scores.view(), 3, Strategy::TopK, &mut rng).unwrap(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn ranks_are_one_based_best_first() {
        assert_eq!(ranks(array![0.5f32, 0.9, 0.1].view()), vec![2, 1, 3]);
    }

    #[test]
    fn whole_pool_is_a_permutation() {
        let scores = array![0.0f32, -1.0, 0.5, 0.25, 0.0];
        for strategy in [
            Strategy::Power { beta: 4.0 },
            Strategy::Softmax { beta: 1.0 },
            Strategy::SoftRank { beta: 1.0 },
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut batch = select(scores.view(), 5, strategy, &mut rng).unwrap();
            batch.sort_unstable();
            assert_eq!(batch, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let scores = array![0.1f32, 0.2];
        assert!(matches!(
            select(scores.view(), 3, Strategy::TopK, &mut rng),
            Err(Error::InvalidBatch {
                batch: 3,
                available: 2
            })
        ));
        assert!(matches!(
            select(scores.view(), 0, Strategy::TopK, &mut rng),
            Err(Error::InvalidBatch { .. })
        ));
        assert!(matches!(
            select(array![0.1f32, f32::NAN].view(), 1, Strategy::TopK, &mut rng),
            Err(Error::InvalidScore { index: 1, .. })
        ));
        assert!(matches!(
            select(scores.view(), 1, Strategy::Power { beta: -1.0 }, &mut rng),
            Err(Error::InvalidParameter { name: "beta", .. })
        ));
        assert!(matches!(
            select(
                ndarray::Array1::<f32>::zeros(0).view(),
                1,
                Strategy::TopK,
                &mut rng
            ),
            Err(Error::NoScores)
        ));
    }
}
