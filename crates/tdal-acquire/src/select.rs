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
//!
//! **Pools in shards.** With a generator freshly seeded by `ChaCha8Rng::seed_from_u64(seed)`
//! ([`select_seeded`]), the Gumbel draw of input `i` is the `i`-th `random::<f64>()` of the
//! stream, i.e. one `next_u64`: the 32-bit words `2i` and `2i + 1` (rand 0.9,
//! rand_chacha 0.9). So the key of an input depends only on `(seed, i, score)`, and a
//! shard holding inputs `offset..offset + n` computes its keys alone by jumping the stream
//! to word `2 · offset` ([`perturbed_keys`]). Pushing every shard's keys with their global
//! indices into a [`TopB`] (or merging per-shard `TopB`s) gives exactly the batch
//! [`select_seeded`] draws from the whole pool, for top-k, power and softmax. Soft-rank is
//! the exception: its weight is a score's rank *in the whole pool*, so its keys need every
//! score at once ([`Error::NeedsWholePool`]); gather the scores and call [`select`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{Array1, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
    check_finite(scores, 0)?;
    let strategy = strategy.check()?;
    let keys: Vec<f64> = match KeyRule::of(strategy) {
        KeyRule::Local(weight) => scores.iter().map(|&s| weight.key(s, rng)).collect(),
        KeyRule::Ranked { beta } =>
        {
            #[allow(clippy::cast_precision_loss)]
            ranks(scores)
                .iter()
                .map(|&r| -beta * (r as f64).ln() + gumbel(rng))
                .collect()
        }
    };
    Ok(top_k(&keys, batch))
}

/// [`select`] with a fresh `ChaCha8Rng::seed_from_u64(seed)`: the whole-pool batch that a
/// pool in shards reproduces with [`perturbed_keys`] and [`TopB`].
///
/// # Shapes
/// `scores`: `[N]`; returns `batch` indices in `0..N`, in selection order.
///
/// # Errors
/// As [`select`].
///
/// # Example
/// ```
/// use ndarray::array;
/// use tdal_acquire::{Strategy, TopB, perturbed_keys, select_seeded};
///
/// let scores = array![0.1f32, 0.9, 0.5, 0.7, 0.3];
/// let strategy = Strategy::Power { beta: 4.0 };
/// let whole = select_seeded(scores.view(), 2, strategy, 7)?;
///
/// // The same pool in two shards, inputs 0..3 and 3..5, scored separately.
/// let mut best = TopB::new(2)?;
/// for (offset, shard) in [(0, scores.slice(ndarray::s![..3])), (3, scores.slice(ndarray::s![3..]))] {
///     best.push_keys(offset, perturbed_keys(shard, strategy, 7, offset)?.view());
/// }
/// assert_eq!(best.finish()?, whole);
/// # Ok::<(), tdal_acquire::Error>(())
/// ```
pub fn select_seeded(
    scores: ArrayView1<'_, f32>,
    batch: usize,
    strategy: Strategy,
    seed: u64,
) -> Result<Vec<usize>> {
    select(
        scores,
        batch,
        strategy,
        &mut ChaCha8Rng::seed_from_u64(seed),
    )
}

/// 32-bit words of the ChaCha stream one Gumbel draw takes: `random::<f64>()` is one
/// `next_u64` (rand 0.9).
const WORDS_PER_DRAW: u128 = 2;

/// The selection keys of a slice of a larger pool: the scores of inputs
/// `offset..offset + n` of the pool, perturbed exactly as [`select_seeded`] perturbs them
/// when it is given the whole pool and `seed`.
///
/// Push them into a [`TopB`] with their global indices (`TopB::push_keys(offset, keys)`);
/// the top B over all slices is the whole-pool batch. Keys depend only on
/// `(seed, offset + i, scores[i])`, so slices can be scored on different machines, in any
/// order, and with arbitrary boundaries.
///
/// # Shapes
/// `scores`: `[n]`, the inputs `offset..offset + n` of the pool; returns `[n]` keys.
///
/// # Errors
/// [`Error::NeedsWholePool`] for [`Strategy::SoftRank`] (its weights are ranks in the
/// whole pool), [`Error::InvalidScore`] for a NaN/infinite score (its index counted from
/// the start of the pool), [`Error::InvalidParameter`] for an invalid β.
pub fn perturbed_keys(
    scores: ArrayView1<'_, f32>,
    strategy: Strategy,
    seed: u64,
    offset: usize,
) -> Result<Array1<f64>> {
    let strategy = strategy.check()?;
    let KeyRule::Local(weight) = KeyRule::of(strategy) else {
        return Err(Error::NeedsWholePool {
            strategy: "soft-rank",
        });
    };
    check_finite(scores, offset)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_word_pos(WORDS_PER_DRAW * offset as u128);
    Ok(scores.iter().map(|&s| weight.key(s, &mut rng)).collect())
}

/// The B best `(index, key)` pairs pushed so far, in bounded memory: the streaming and
/// mergeable form of the last step of [`select`].
///
/// "Best" is [`select`]'s order: the higher key first, the lower index on equal keys (keys
/// are compared with `f64::total_cmp`). Memory is O(B) whatever the number of keys pushed,
/// so a pool of any size in shards is selected by pushing each shard's
/// [`perturbed_keys`] with its global indices, or by letting each worker keep its own
/// `TopB` and [`merge`](Self::merge) them. Every index must be pushed at most once.
#[derive(Debug, Clone)]
pub struct TopB {
    batch: usize,
    /// The kept candidates, worst on top.
    kept: BinaryHeap<Candidate>,
    /// How many candidates were offered (the pool size once every shard is in).
    seen: usize,
}

/// One `(index, key)` pair, ordered so that the *worse* candidate is the greater.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: f64,
    index: usize,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl TopB {
    /// An empty accumulator for a batch of `batch` inputs.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `batch` is 0.
    pub fn new(batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::InvalidParameter {
                name: "batch size",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(Self {
            batch,
            kept: BinaryHeap::with_capacity(batch.min(1 << 16) + 1),
            seen: 0,
        })
    }

    /// Offers input `index` with selection key `key`.
    pub fn push(&mut self, index: usize, key: f64) {
        self.seen += 1;
        self.offer(Candidate { key, index });
    }

    /// Offers the keys of inputs `offset..offset + keys.len()`.
    ///
    /// # Shapes
    /// `keys`: `[n]`, as [`perturbed_keys`] returns them for the same `offset`.
    pub fn push_keys(&mut self, offset: usize, keys: ArrayView1<'_, f64>) {
        for (i, &key) in keys.iter().enumerate() {
            self.push(offset + i, key);
        }
    }

    /// Adds everything `other` saw: the result is as if every key pushed into `other` had
    /// been pushed here.
    pub fn merge(&mut self, other: Self) {
        self.seen += other.seen;
        for candidate in other.kept {
            self.offer(candidate);
        }
    }

    /// How many keys were offered, counting those of merged accumulators.
    #[must_use]
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The kept `(index, key)` pairs, best first: at most B of them. A worker can send these
    /// instead of its accumulator; pushing them into another `TopB` is a [`merge`](Self::merge).
    #[must_use]
    pub fn into_best(self) -> Vec<(usize, f64)> {
        self.kept
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.index, c.key))
            .collect()
    }

    /// The batch: B indices in selection order (best key first), as [`select`] returns them.
    ///
    /// # Errors
    /// [`Error::NoScores`] when nothing was pushed, [`Error::InvalidBatch`] when fewer than
    /// B keys were.
    pub fn finish(self) -> Result<Vec<usize>> {
        if self.seen == 0 {
            return Err(Error::NoScores);
        }
        if self.seen < self.batch {
            return Err(Error::InvalidBatch {
                batch: self.batch,
                available: self.seen,
            });
        }
        Ok(self
            .into_best()
            .into_iter()
            .map(|(index, _)| index)
            .collect())
    }

    fn offer(&mut self, candidate: Candidate) {
        if self.kept.len() < self.batch {
            self.kept.push(candidate);
        } else if let Some(mut worst) = self.kept.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }
}

/// How a strategy turns scores into selection keys.
#[derive(Debug, Clone, Copy)]
enum KeyRule {
    /// From each score alone, so keys can be computed input by input.
    Local(LocalWeight),
    /// Soft-rank: `−β ln rank` plus Gumbel noise, the rank taken in the whole pool.
    Ranked {
        /// β.
        beta: f64,
    },
}

impl KeyRule {
    fn of(strategy: Strategy) -> Self {
        match strategy {
            Strategy::TopK => Self::Local(LocalWeight::Score),
            Strategy::Power { beta } => Self::Local(LocalWeight::Power(f64::from(beta))),
            Strategy::Softmax { beta } => Self::Local(LocalWeight::Softmax(f64::from(beta))),
            Strategy::SoftRank { beta } => Self::Ranked {
                beta: f64::from(beta),
            },
        }
    }
}

/// The log-weight of a strategy whose weight depends on the score alone.
#[derive(Debug, Clone, Copy)]
enum LocalWeight {
    /// Top-k: the score itself, no noise.
    Score,
    /// Power: `β ln max(s, f32::MIN_POSITIVE)` plus Gumbel noise.
    Power(f64),
    /// Softmax: `β s` plus Gumbel noise.
    Softmax(f64),
}

impl LocalWeight {
    /// The selection key of one score; draws one Gumbel variate from `rng` unless top-k.
    #[inline]
    fn key<R: Rng + ?Sized>(self, score: f32, rng: &mut R) -> f64 {
        match self {
            Self::Score => f64::from(score),
            Self::Power(beta) => {
                beta * f64::from(score).max(f64::from(f32::MIN_POSITIVE)).ln() + gumbel(rng)
            }
            Self::Softmax(beta) => beta * f64::from(score) + gumbel(rng),
        }
    }
}

/// [`Error::InvalidScore`] for the first NaN/infinite score; indices count from `offset`.
fn check_finite(scores: ArrayView1<'_, f32>, offset: usize) -> Result<()> {
    match scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        Some((index, &value)) => Err(Error::InvalidScore {
            index: offset + index,
            value,
        }),
        None => Ok(()),
    }
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
