//! SIMILAR with the FLQMI measure: a batch of pool inputs that resemble, and between them
//! cover, a set of *queries* (labelled examples of the target classes, e.g. the rare ones).
//!
//! Kothawade et al. (2021), "SIMILAR: Submodular Information Measures Based Active Learning
//! in Realistic Scenarios" (NeurIPS), Table 1: the facility-location *query* mutual
//! information between a batch `A` of pool inputs and the queries `Q`. Here, with the
//! choices below made explicit:
//!
//! ```text
//! s_jq    = cos(pool_j, query_q)                     0 if either row is all zeros
//! r_j     = max(0, max_{q∈Q} s_jq)                   pool input j's relevance to the queries
//! f(A; Q) = Σ_{q∈Q} max(0, max_{j∈A} s_jq) + η Σ_{j∈A} r_j        f(∅; Q) = 0
//! ```
//!
//! The first sum rewards *covering* every query by some chosen input, the second rewards
//! each chosen input's own similarity to the queries; η ≥ 0 trades coverage for relevance.
//! `f` is monotone and submodular, so the greedy batch is within `1 − 1/e` of the best
//! batch of the same size (Nemhauser et al. 1978). Rows are embedded as SIMILAR does, by
//! [`gradient_embeddings`]: the last layer's cross-entropy gradient, at the predicted label
//! for pool inputs and at the true label for queries.
//!
//! Choices where the paper is silent:
//! - **clamp at 0**: the paper's `max_{j∈A} s_jq` has no value for `A = ∅`, and an input
//!   with `max_q s_jq < 0` would lower `f` when added; clamping both maxima at 0 gives
//!   `f(∅) = 0`, monotonicity and the `1 − 1/e` guarantee (submodlib's memoised gains start
//!   the coverage at 0 too, so they clamp the same way);
//! - **zero rows**: a row of zeros (e.g. a confident input whose gradient underflowed) has
//!   similarity 0 to everything, as scikit-learn's `cosine_similarity` gives;
//! - **ties**: among equal gains the lowest pool index wins, and when every gain is 0 the
//!   selection goes on by that rule, so the batch always has `min(B, N)` inputs;
//! - **precision**: similarities are `f32` (unit rows, one GEMM), clamped to `[−1, 1]`;
//!   gains are `f64`, `Σ_q max(0, s_jq − m_q) + η r_j` with `m_q` the current coverage of
//!   query `q`, summed over the queries in a fixed order (eight interleaved partial sums).
//!   Every similarity depends only on its own two rows and every gain only on its row and
//!   the coverage, so batches do not depend on the thread count.
//!
//! Memory is O(N·|Q|) for the `[N, |Q|]` similarities; the `N × N` pool kernel is never
//! formed (FLQMI does not need it). Maximisation is *lazy* greedy (Minoux 1978): stale
//! gains are upper bounds by submodularity, so only bounds that reach the head of a
//! priority queue are refreshed (in parallel groups when many are), and the batch is
//! exactly the naive greedy one.
//!
//! ```
//! use ndarray::array;
//! use tdal_acquire::{Flqmi, flqmi_value};
//!
//! // Two queries (target-class examples) and four pool rows in a 2-D embedding.
//! let queries = array![[1.0f32, 0.0], [0.0, 1.0]];
//! let pool = array![
//!     [1.0f32, 0.1], // near query 0
//!     [1.0, 0.0],    // exactly like query 0
//!     [-1.0, 0.0],   // unlike both
//!     [0.1, 1.0],    // near query 1
//! ];
//! // η = 1: one input per query, coverage beats redundancy.
//! let batch = Flqmi::default().select(pool.view(), queries.view(), 2)?;
//! assert_eq!(batch, vec![0, 3]);
//! let value = flqmi_value(pool.view(), queries.view(), 1.0, &batch)?;
//! assert!(value > flqmi_value(pool.view(), queries.view(), 1.0, &[0, 1])?);
//! // Large η: the inputs most like some query first.
//! let batch = Flqmi { eta: 100.0 }.select(pool.view(), queries.view(), 2)?;
//! assert_eq!(batch, vec![1, 3]);
//! # Ok::<(), tdal_acquire::Error>(())
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::validate::{DEFAULT_TOLERANCE, check_probs};
use crate::{Error, Result};

/// Rows per parallel task: the pool block of one GEMM, and of one embedding chunk.
const ROWS_PER_TASK: usize = 256;

/// The "bias-linear" gradient embedding of each input: the gradient of the cross-entropy
/// loss with respect to the last (softmax) layer's bias and weights, at label `ŷ`.
///
/// For a last layer `z = W h + b`, `p = softmax(z)`, `W: [C, H]`, and
/// `CE = −ln p_ŷ`, the gradient is `∂CE/∂b_c = p_c − [c = ŷ]` and
/// `∂CE/∂W_ck = (p_c − [c = ŷ]) h_k`. Row `n` of the result is
///
/// ```text
/// g[c]             = p_c − [c = ŷ]                 c < C            (∂CE/∂b)
/// g[C + c·H + k]   = (p_c − [c = ŷ]) · h_k         c < C, k < H     (∂CE/∂W, row-major)
/// ```
///
/// so the dimension is `C·(H + 1)`. This is DISTIL's `bias_linear` embedding (the one
/// SIMILAR uses): same order, same sign, `+∂CE/∂θ`. BADGE's original code stores the
/// negative, `([c = ŷ] − p_c) h_k`, without the bias part; under cosine similarity a sign
/// shared by all rows makes no difference.
///
/// `ŷ` is `labels[n]` when labels are given (queries, whose labels are known) and the
/// predicted class `argmax_c p_c` otherwise (pool inputs), the lowest class on ties.
///
/// # Shapes
/// `probs`: `[N, C]`, one softmax output per input, `C ≥ 1`; `features`: `[N, H]`, the
/// penultimate activations `h` the last layer reads (`H = 0` gives the bias part alone);
/// `labels`: `[N]`. Returns `[N, C·(H + 1)]`.
///
/// # Errors
/// [`Error::WrongShape`] when `C = 0` or the row counts differ; `probs` is checked as the
/// crate checks every probability array, as one posterior sample (`[N, 1, C]`: finite,
/// ≥ 0, rows summing to 1 within 1e-3: [`Error::NonFinite`], [`Error::Negative`],
/// [`Error::NotNormalised`]); [`Error::NonFiniteValue`] for a NaN/infinite feature;
/// [`Error::LabelOutOfRange`] for a label ≥ C.
///
/// # Example
/// ```
/// use ndarray::array;
/// use tdal_acquire::gradient_embeddings;
///
/// let probs = array![[0.75f32, 0.25]];
/// let features = array![[2.0f32, -1.0, 0.0]];
/// let g = gradient_embeddings(probs.view(), features.view(), None)?;
/// // ŷ = 0: bias part p − e_0 = [−0.25, 0.25], then (p_c − [c = 0]) h_k for c = 0, 1.
/// assert_eq!(g.row(0).to_vec(), vec![-0.25, 0.25, -0.5, 0.25, 0.0, 0.5, -0.25, 0.0]);
/// # Ok::<(), tdal_acquire::Error>(())
/// ```
pub fn gradient_embeddings(
    probs: ArrayView2<'_, f32>,
    features: ArrayView2<'_, f32>,
    labels: Option<&[u32]>,
) -> Result<Array2<f32>> {
    let (n, classes) = probs.dim();
    let hidden = features.ncols();
    if classes == 0 {
        return Err(Error::WrongShape {
            name: "probs",
            expected: "[N, C] with C ≥ 1 classes".into(),
            found: vec![n, classes],
        });
    }
    if features.nrows() != n {
        return Err(Error::WrongShape {
            name: "features",
            expected: format!("[N = {n}, H]: one row of penultimate features per row of probs"),
            found: vec![features.nrows(), hidden],
        });
    }
    if let Some(labels) = labels
        && labels.len() != n
    {
        return Err(Error::WrongShape {
            name: "labels",
            expected: format!("[N = {n}]: one label per row of probs"),
            found: vec![labels.len()],
        });
    }
    if n > 0 {
        check_probs(probs.insert_axis(Axis(1)), "probs", DEFAULT_TOLERANCE)?;
    }
    check_finite(features, "features")?;
    if let Some(labels) = labels
        && let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &label)| label as usize >= classes)
    {
        return Err(Error::LabelOutOfRange {
            origin: "labels",
            index,
            label,
            classes,
        });
    }

    // dim ≥ 1 as C ≥ 1.
    let dim = classes * (hidden + 1);
    let mut out = vec![0.0f32; n * dim];
    out.par_chunks_mut(ROWS_PER_TASK * dim)
        .enumerate()
        .for_each(|(block, chunk)| {
            let mut h = Vec::with_capacity(hidden);
            for (i, row) in chunk.chunks_exact_mut(dim).enumerate() {
                let input = block * ROWS_PER_TASK + i;
                let p = probs.row(input);
                let label = labels.map_or_else(
                    || argmax(p.iter().copied()),
                    |labels| labels[input] as usize,
                );
                h.clear();
                h.extend(features.row(input).iter().copied());
                let (bias, weights) = row.split_at_mut(classes);
                for (c, (g, &pc)) in bias.iter_mut().zip(p.iter()).enumerate() {
                    *g = if c == label { pc - 1.0 } else { pc };
                }
                if hidden > 0 {
                    for (class_weights, &g) in weights.chunks_exact_mut(hidden).zip(bias.iter()) {
                        for (w, &hk) in class_weights.iter_mut().zip(&h) {
                            *w = g * hk;
                        }
                    }
                }
            }
        });
    Ok(Array2::from_shape_vec((n, dim), out).unwrap_or_else(|_| unreachable_shape()))
}

/// Cosine similarities between every pool row and every query row: `s[j, q] =
/// ⟨x_j, y_q⟩ / (‖x_j‖ ‖y_q‖)`, 0 when either row is all zeros.
///
/// Rows are scaled to unit length (norms in `f64`), multiplied by one `f32` GEMM per block
/// of pool rows (in parallel), and clamped to `[−1, 1]`. A similarity depends only on its
/// own two rows, not on the other rows or the thread count, so the rows of a subset of the
/// pool get bitwise the same values as in the whole pool. These are the similarities
/// [`Flqmi::select`] and [`flqmi_value`] use.
///
/// Blocks run on rayon's threads; `matrixmultiply` (built with its `threading` feature in
/// this workspace) also threads each block's GEMM, which oversubscribes the cores:
/// `MATMUL_NUM_THREADS=1` in the environment takes N = 61,200, |Q| = 500, d = 387 from
/// about 177 to 136 ms on two cores, with the same values.
///
/// # Shapes
/// `pool`: `[N, d]`, `queries`: `[M, d]`, `d ≥ 1`; returns `[N, M]`.
///
/// # Errors
/// [`Error::WrongShape`] when `d = 0` or the dimensions differ, [`Error::NonFiniteValue`]
/// for a NaN/infinite value.
pub fn cosine_similarities(
    pool: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    check_embeddings(pool, queries)?;
    Ok(similarities(pool, queries))
}

/// SIMILAR's batch selection with the FLQMI measure (module docs): lazy greedy
/// maximisation of `f(A; Q)` over batches of pool inputs.
///
/// Validate once with [`check`](Self::check); the selecting methods check too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flqmi {
    /// η ≥ 0, the weight of each chosen input's own relevance `max(0, max_q s_jq)` against
    /// the coverage of the queries. 1 by default (DISTIL's default); large η selects the
    /// inputs most similar to some query, η = 0 covers the queries and nothing else.
    pub eta: f32,
}

impl Default for Flqmi {
    fn default() -> Self {
        Self { eta: 1.0 }
    }
}

impl Flqmi {
    /// Checks η.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when η is negative or not finite.
    pub fn check(self) -> Result<Self> {
        if self.eta.is_finite() && self.eta >= 0.0 {
            Ok(self)
        } else {
            Err(Error::InvalidParameter {
                name: "eta",
                value: self.eta.to_string(),
                expected: "a finite number ≥ 0",
            })
        }
    }

    /// The batch: `min(batch, N)` distinct row indices of `pool`, in the order greedy
    /// picked them (largest gain first, the lowest index among equal gains; inputs of zero
    /// gain are still picked, by index).
    ///
    /// # Shapes
    /// `pool`: `[N, d]` embeddings of the pool inputs; `queries`: `[M, d]` embeddings of
    /// the labelled target-class examples, `M ≥ 1`, `d ≥ 1` (e.g. both from
    /// [`gradient_embeddings`], `d = C·(H + 1)`). Returns `min(batch, N)` indices in
    /// `0..N`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid η, [`Error::NoQueries`] when `M = 0`,
    /// [`Error::WrongShape`] when `d = 0` or the dimensions differ,
    /// [`Error::NonFiniteValue`] for a NaN/infinite value.
    pub fn select(
        &self,
        pool: ArrayView2<'_, f32>,
        queries: ArrayView2<'_, f32>,
        batch: usize,
    ) -> Result<Vec<usize>> {
        let eta = self.check()?.eta;
        if queries.nrows() == 0 {
            return Err(Error::NoQueries);
        }
        check_embeddings(pool, queries)?;
        let sims = similarities(pool, queries);
        Ok(lazy_greedy(sims.view(), eta, batch))
    }

    /// [`select`](Self::select) from precomputed similarities `s[j, q]` (any finite values:
    /// cosines from [`cosine_similarities`], or another kernel).
    ///
    /// # Shapes
    /// `similarities`: `[N, M]`, `M ≥ 1`; returns `min(batch, N)` indices in `0..N`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid η, [`Error::NoQueries`] when `M = 0`,
    /// [`Error::NonFiniteValue`] for a NaN/infinite similarity.
    pub fn select_from_similarities(
        &self,
        similarities: ArrayView2<'_, f32>,
        batch: usize,
    ) -> Result<Vec<usize>> {
        let eta = self.check()?.eta;
        if similarities.ncols() == 0 {
            return Err(Error::NoQueries);
        }
        check_finite(similarities, "similarities")?;
        let sims = similarities.as_standard_layout();
        Ok(lazy_greedy(sims.view(), eta, batch))
    }
}

/// `f(A; Q)` of the module docs for the batch `A = subset` of pool rows, in `f64`.
///
/// # Shapes
/// `pool`: `[N, d]`, `queries`: `[M, d]`, `M ≥ 1`, `d ≥ 1`; `subset`: distinct indices in
/// `0..N` (the empty subset has value 0).
///
/// # Errors
/// As [`Flqmi::select`], and [`Error::CandidateOutOfRange`] for an index ≥ N,
/// [`Error::DuplicateCandidate`] for a repeated one.
pub fn flqmi_value(
    pool: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    eta: f32,
    subset: &[usize],
) -> Result<f64> {
    let eta = Flqmi { eta }.check()?.eta;
    if queries.nrows() == 0 {
        return Err(Error::NoQueries);
    }
    check_embeddings(pool, queries)?;
    let n = pool.nrows();
    let mut seen = vec![false; n];
    for &candidate in subset {
        if candidate >= n {
            return Err(Error::CandidateOutOfRange { candidate, pool: n });
        }
        if std::mem::replace(&mut seen[candidate], true) {
            return Err(Error::DuplicateCandidate { candidate });
        }
    }
    let sims = similarities(pool.select(Axis(0), subset).view(), queries);
    let coverage: f64 = sims.columns().into_iter().map(max0).sum();
    let relevance: f64 = sims.rows().into_iter().map(max0).sum();
    Ok(coverage + f64::from(eta) * relevance)
}

/// `max(0, max_i s_i)` as `f64`, `+0.0` when no value is positive: the relevance `r_j` of a
/// row of similarities, or the coverage of a query (a column restricted to the batch).
/// Exact, so the lanes (independent running maxima, which vectorise) change nothing.
fn max0<'a>(values: impl IntoIterator<Item = &'a f32>) -> f64 {
    let mut lanes = [0.0f32; GAIN_LANES];
    for (i, &s) in values.into_iter().enumerate() {
        let lane = &mut lanes[i % GAIN_LANES];
        if s > *lane {
            *lane = s;
        }
    }
    f64::from(
        lanes
            .into_iter()
            .fold(0.0f32, |m, s| if s > m { s } else { m }),
    )
}

/// Partial sums of a gain: query `q` goes to sum `q mod GAIN_LANES`. Independent sums
/// vectorise and do not wait on one another, the order stays fixed.
const GAIN_LANES: usize = 8;

/// The gain of adding a row with similarities `row` to a batch whose coverage of the
/// queries is `coverage`: `Σ_q max(0, s_q − m_q) + η r` in `f64`, the sum over queries taken
/// as [`GAIN_LANES`] interleaved partial sums (query `q` into sum `q mod 8`, in query
/// order) combined pairwise, `((Σ₀ + Σ₁) + (Σ₂ + Σ₃)) + ((Σ₄ + Σ₅) + (Σ₆ + Σ₇))`. Never
/// negative zero, so equal gains compare equal under `total_cmp`.
fn gain(row: &[f32], coverage: &[f32], eta: f64, relevance: f64) -> f64 {
    let term = |s: f32, m: f32| {
        let d = f64::from(s) - f64::from(m);
        if d > 0.0 { d } else { 0.0 }
    };
    let mut sums = [0.0f64; GAIN_LANES];
    let rows = row.chunks_exact(GAIN_LANES);
    let coverages = coverage.chunks_exact(GAIN_LANES);
    let (row_tail, coverage_tail) = (rows.remainder(), coverages.remainder());
    for (r, c) in rows.zip(coverages) {
        for lane in 0..GAIN_LANES {
            sums[lane] += term(r[lane], c[lane]);
        }
    }
    for (lane, (&s, &m)) in row_tail.iter().zip(coverage_tail).enumerate() {
        sums[lane] += term(s, m);
    }
    let covered =
        ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
    covered + eta * relevance
}

/// One pool input in the lazy-greedy queue: an upper bound on its gain, exact if it was
/// computed in the current round.
#[derive(Debug, Clone, Copy)]
struct Bound {
    gain: f64,
    index: usize,
    round: usize,
}

/// Greater is picked first: higher gain, then lower index. Each index is queued once.
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain
            .total_cmp(&other.gain)
            .then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bound {}

/// Most stale bounds refreshed at once (in parallel): when one pick lowers nearly every
/// gain (a pool of look-alike embeddings), lazy greedy refreshes nearly every bound.
const MAX_REFRESH: usize = 4096;
/// Fewer stale bounds than this are refreshed on the calling thread.
const PARALLEL_REFRESH: usize = 64;

/// Lazy greedy on standard-layout similarities `[N, M]`, `M ≥ 1`, η ≥ 0 finite.
///
/// A queued bound computed in the current round is the exact gain; if it heads the queue,
/// every other input's gain is at most its own (stale) bound, which is at most the head's
/// under the (gain, index) order, so the head is the naive greedy choice. Gains only fall
/// as the coverage rises, also in floating point: each term `max(0, s − m)` is rounded
/// monotonically in `m` and summed in a fixed order.
///
/// Which stale bounds are refreshed does not change the choice, only the work: while stale
/// bounds keep heading the queue within a round, the next 1, 2, 4, ... (up to
/// [`MAX_REFRESH`]) stale heads are refreshed together, so at most about twice the
/// necessary refreshes are made and large groups run in parallel. The groups depend only on
/// the queue, not on the thread count.
fn lazy_greedy(sims: ArrayView2<'_, f32>, eta: f32, batch: usize) -> Vec<usize> {
    let (n, m) = sims.dim();
    let batch = batch.min(n);
    if batch == 0 {
        return Vec::new();
    }
    let flat = sims.as_slice().unwrap_or_else(|| unreachable_shape());
    let row = |index: usize| &flat[index * m..(index + 1) * m];
    // `+ 0.0` turns η = −0 into +0, so zero gains stay +0.
    let eta = f64::from(eta) + 0.0;
    let mut coverage = vec![0.0f32; m];
    let (relevances, initial): (Vec<f64>, Vec<Bound>) = flat
        .par_chunks(m)
        .enumerate()
        .map(|(index, row)| {
            let r = max0(row);
            let bound = Bound {
                gain: gain(row, &coverage, eta, r),
                index,
                round: 0,
            };
            (r, bound)
        })
        .unzip();
    let mut queue = BinaryHeap::from(initial);
    let mut picked = Vec::with_capacity(batch);
    let mut stale: Vec<Bound> = Vec::new();
    let mut group = 1;
    while picked.len() < batch
        && let Some(head) = queue.pop()
    {
        let round = picked.len();
        if head.round == round {
            picked.push(head.index);
            for (c, &s) in coverage.iter_mut().zip(row(head.index)) {
                if s > *c {
                    *c = s;
                }
            }
            group = 1;
            continue;
        }
        stale.clear();
        stale.push(head);
        while stale.len() < group
            && let Some(next) = queue.peek()
            && next.round != round
        {
            stale.extend(queue.pop());
        }
        let refresh = |bound: &Bound| Bound {
            gain: gain(row(bound.index), &coverage, eta, relevances[bound.index]),
            round,
            ..*bound
        };
        if stale.len() < PARALLEL_REFRESH {
            queue.extend(stale.iter().map(refresh));
        } else {
            let refreshed: Vec<Bound> = stale.par_iter().map(refresh).collect();
            queue.extend(refreshed);
        }
        group = (group * 2).min(MAX_REFRESH);
    }
    picked
}

/// Unit-length copy of `row` into `out`; a zero row stays zero. The squared norm is summed
/// in `f64` as eight interleaved partial sums (a fixed order that vectorises).
fn unit_row<'a>(row: impl Iterator<Item = &'a f32>, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = v;
    }
    let mut sums = [0.0f64; GAIN_LANES];
    let chunks = out.chunks_exact(GAIN_LANES);
    for (lane, &v) in chunks.remainder().iter().enumerate() {
        sums[lane] += f64::from(v) * f64::from(v);
    }
    for chunk in chunks {
        for (sum, &v) in sums.iter_mut().zip(chunk) {
            *sum += f64::from(v) * f64::from(v);
        }
    }
    let norm = (((sums[0] + sums[1]) + (sums[2] + sums[3]))
        + ((sums[4] + sums[5]) + (sums[6] + sums[7])))
        .sqrt();
    #[allow(clippy::cast_possible_truncation)]
    let scale = if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 };
    for o in out.iter_mut() {
        *o *= scale;
    }
}

/// `[N, M]` cosine similarities of checked inputs.
fn similarities(pool: ArrayView2<'_, f32>, queries: ArrayView2<'_, f32>) -> Array2<f32> {
    let (n, d) = pool.dim();
    let m = queries.nrows();
    let mut unit_queries = Array2::<f32>::zeros((m, d));
    for (query, mut out) in queries.rows().into_iter().zip(unit_queries.rows_mut()) {
        let out = out.as_slice_mut().unwrap_or_else(|| unreachable_shape());
        unit_row(query.iter(), out);
    }
    let mut sims = vec![0.0f32; n * m];
    if n > 0 && m > 0 {
        let queries_t = unit_queries.t();
        sims.par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each_init(Vec::new, |unit_pool: &mut Vec<f32>, (block, out)| {
                let start = block * ROWS_PER_TASK;
                let rows = out.len() / m;
                unit_pool.clear();
                unit_pool.resize(rows * d, 0.0);
                for (i, unit) in unit_pool.chunks_exact_mut(d).enumerate() {
                    unit_row(pool.row(start + i).iter(), unit);
                }
                let a = ArrayView2::from_shape((rows, d), &unit_pool[..])
                    .unwrap_or_else(|_| unreachable_shape());
                let mut c = ArrayViewMut2::from_shape((rows, m), &mut *out)
                    .unwrap_or_else(|_| unreachable_shape());
                general_mat_mul(1.0, &a, &queries_t, 0.0, &mut c);
                for s in out.iter_mut() {
                    *s = s.clamp(-1.0, 1.0);
                }
            });
    }
    Array2::from_shape_vec((n, m), sims).unwrap_or_else(|_| unreachable_shape())
}

/// Pool and queries share a dimension `d ≥ 1` and hold finite values.
fn check_embeddings(pool: ArrayView2<'_, f32>, queries: ArrayView2<'_, f32>) -> Result<()> {
    let (n, d) = pool.dim();
    if d == 0 {
        return Err(Error::WrongShape {
            name: "pool",
            expected: "[N, d] with d ≥ 1".into(),
            found: vec![n, d],
        });
    }
    if queries.ncols() != d {
        return Err(Error::WrongShape {
            name: "queries",
            expected: format!(
                "[M, d = {d}]: the pool's embedding dimension (embed both with the same model)"
            ),
            found: vec![queries.nrows(), queries.ncols()],
        });
    }
    check_finite(pool, "pool")?;
    check_finite(queries, "queries")
}

/// [`Error::NonFiniteValue`] for the first (row-major) NaN/infinite value of `values`.
fn check_finite(values: ArrayView2<'_, f32>, name: &'static str) -> Result<()> {
    // A fold without early exit vectorises; rows are short.
    let bad_row = (0..values.nrows()).into_par_iter().find_first(|&row| {
        values
            .row(row)
            .iter()
            .fold(false, |bad, v| bad | !v.is_finite())
    });
    match bad_row {
        None => Ok(()),
        Some(row) => {
            let (column, &value) = values
                .row(row)
                .into_iter()
                .enumerate()
                .find(|(_, v)| !v.is_finite())
                .unwrap_or_else(|| unreachable!("row {row} holds a non-finite value"));
            Err(Error::NonFiniteValue {
                name,
                index: [row, column],
                value,
            })
        }
    }
}

/// Index of the largest value, the lowest index among equal ones.
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cold]
fn unreachable_shape() -> ! {
    // Buffers are allocated with exactly the shapes of the views made from them.
    unreachable!("SIMILAR work buffers are sized to their views")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn argmax_takes_the_lowest_index_on_ties() {
        assert_eq!(argmax([0.2f32, 0.4, 0.4].into_iter()), 1);
        assert_eq!(argmax([0.5f32, 0.5].into_iter()), 0);
    }

    #[test]
    fn queue_order_is_gain_then_lowest_index() {
        let bound = |gain, index| Bound {
            gain,
            index,
            round: 0,
        };
        assert!(bound(1.0, 5) > bound(0.5, 0));
        assert!(bound(1.0, 2) > bound(1.0, 3));
        let mut queue = BinaryHeap::from(vec![bound(0.0, 4), bound(0.0, 1), bound(0.0, 2)]);
        assert_eq!(queue.pop().map(|b| b.index), Some(1));
    }

    #[test]
    fn zero_rows_have_similarity_zero() {
        let pool = array![[0.0f32, 0.0], [3.0, 4.0]];
        let queries = array![[0.0f32, 2.0], [0.0, 0.0]];
        let s = similarities(pool.view(), queries.view());
        assert_eq!(s, array![[0.0f32, 0.0], [0.8, 0.0]]);
    }

    #[test]
    fn zero_gains_are_positive_zero() {
        let g = gain(&[-0.5, 0.0], &[0.0, 0.0], 0.0, 0.0);
        assert_eq!(g.to_bits(), 0.0f64.to_bits());
    }
}
