//! EPIG, the expected predictive information gain, streamed in pool blocks.
//!
//! Bickford Smith et al. (2023), "Prediction-Oriented Bayesian Active Learning", Eq. 3 with
//! the sample estimator of their Sec. 4: for a pool input `x` and target inputs `x*_m`,
//!
//! ```text
//! p(y, y* | x, x*) = (1/K) Σ_k p(y | x, θ_k) p(y* | x*, θ_k)
//! EPIG(x) = (1/M) Σ_m I(y; y* | x, x*_m)
//!         = H[p̄(y|x)] + (1/M) Σ_m H[p̄(y*|x*_m)] − (1/M) Σ_m H[p(y, y* | x, x*_m)]   (nats)
//! ```
//!
//! Only the sum of the joint entropies over targets is needed, so the joint for a block of
//! pool inputs is one GEMM `A · B / K` with `A = [block·C × K]` (pool samples, transposed per
//! input) and `B = [K × M·C]` (target samples, transposed once), and every row of the product
//! is reduced at once to `Σ p ln p` (f32 lanes flushed into f64). The `N × C × M × C` joint is
//! never held: one `[block·C × columns]` tile per worker thread is, sized to stay in cache and
//! within the memory budget whatever N is. Blocks run in parallel with rayon; every input's
//! score depends only on its own block, so results do not depend on the thread count.
//!
//! The GEMM is `matrixmultiply`'s sgemm (through `ndarray::linalg`), which picks AVX2/FMA
//! kernels at run time; the `x ln x` reduction is [`crate::xlogx`].

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, s};
use rayon::prelude::*;

use crate::scores::mean_probs;
use crate::validate::{DEFAULT_TOLERANCE, check_probs, check_same_samples};
use crate::xlogx::{entropy_f64, sum_xlogx_groups};
use crate::{Acquisition, Error, Result};

/// Default cap on EPIG's extra working memory: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 512 << 20;

/// Preferred size of one worker's joint tile: small enough to stay in L2/L3 between the
/// GEMM that writes it and the reduction that reads it.
const PREFERRED_TILE_BYTES: usize = 1 << 20;
/// Widest column block (target input × class) of one tile.
const MAX_COLUMNS: usize = 4096;
/// Most pool inputs in one block.
const MAX_BLOCK_INPUTS: usize = 1024;

const F32: usize = std::mem::size_of::<f32>();
const F64: usize = std::mem::size_of::<f64>();

/// EPIG against a fixed set of target-input samples.
///
/// # Shapes
/// `targets`: `[M, K, C]`; the pool passed to [`Acquisition::score`]: `[N, K, C]` with the
/// same K (posterior samples, in the same order) and C.
///
/// # Example
/// ```
/// use ndarray::array;
/// use tdal_acquire::{Acquisition, Epig};
///
/// // Two posterior samples that disagree about the pool input and, in the same way,
/// // about the target input: labelling x tells us about y*.
/// let pool = array![[[0.9f32, 0.1], [0.1, 0.9]], [[0.5, 0.5], [0.5, 0.5]]];
/// let targets = array![[[1.0f32, 0.0], [0.0, 1.0]]];
/// let scores = Epig::new(targets)?.score(pool.view())?;
/// assert!(scores[0] > 0.3 && scores[1] == 0.0);
/// # Ok::<(), tdal_acquire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Epig {
    /// Target samples transposed to `[K, M·C]`: column `m·C + c` is `p(y* = c | x*_m, θ_k)`.
    targets_t: Array2<f32>,
    /// `(1/M) Σ_m H[p̄(y*|x*_m)]` in nats.
    mean_target_entropy: f64,
    n_targets: usize,
    classes: usize,
    samples: usize,
    memory_budget: usize,
    blocks: Option<(usize, usize)>,
}

/// How EPIG will be computed for a pool: block sizes and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpigPlan {
    /// Pool inputs per block (one GEMM's rows are `block_inputs · C`).
    pub block_inputs: usize,
    /// Columns (target input × class) per tile.
    pub block_columns: usize,
    /// Worker threads that may hold a tile at once.
    pub threads: usize,
    /// Upper bound on the extra bytes EPIG allocates (transposed targets and per-worker
    /// scratch), excluding the inputs and the returned scores; independent of N.
    pub peak_bytes: usize,
}

impl Epig {
    /// Prepares EPIG against `targets` (validated here, once).
    ///
    /// # Errors
    /// Any error of [`crate::check_probs`] for `targets`.
    pub fn new(targets: Array3<f32>) -> Result<Self> {
        Self::from_view(targets.view())
    }

    /// Like [`Epig::new`], borrowing the targets.
    ///
    /// # Errors
    /// Any error of [`crate::check_probs`] for `targets`.
    pub fn from_view(targets: ArrayView3<'_, f32>) -> Result<Self> {
        check_probs(targets, "targets", DEFAULT_TOLERANCE)?;
        let (m, k, c) = targets.dim();
        let mut targets_t = Array2::<f32>::zeros((k, m * c));
        for (mi, input) in targets.outer_iter().enumerate() {
            for (ki, row) in input.outer_iter().enumerate() {
                for (ci, &p) in row.iter().enumerate() {
                    targets_t[[ki, mi * c + ci]] = p;
                }
            }
        }
        let mut mean = vec![0.0f64; c];
        let std_targets = targets.as_standard_layout();
        let flat = std_targets.as_slice().unwrap_or(&[]);
        let total: f64 = flat
            .chunks_exact(k * c)
            .map(|slab| {
                mean_probs(slab, c, &mut mean);
                entropy_f64(&mean)
            })
            .sum();
        #[allow(clippy::cast_precision_loss)]
        let mean_target_entropy = total / m as f64;
        Ok(Self {
            targets_t,
            mean_target_entropy,
            n_targets: m,
            classes: c,
            samples: k,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            blocks: None,
        })
    }

    /// Caps EPIG's extra working memory (default [`DEFAULT_MEMORY_BUDGET`]).
    #[must_use]
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Fixes the block sizes instead of choosing them (for tuning and tests); they are
    /// still checked against the memory budget.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if either is zero.
    pub fn with_blocks(mut self, block_inputs: usize, block_columns: usize) -> Result<Self> {
        if block_inputs == 0 || block_columns == 0 {
            return Err(Error::InvalidParameter {
                name: "EPIG block size",
                value: format!("{block_inputs} inputs × {block_columns} columns"),
                expected: "both must be ≥ 1",
            });
        }
        self.blocks = Some((block_inputs, block_columns));
        Ok(self)
    }

    /// Number of target inputs M.
    #[must_use]
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// `(1/M) Σ_m H[p̄(y*|x*_m)]`, the targets' mean predictive entropy (nats): an upper
    /// bound on every EPIG score.
    #[must_use]
    pub fn mean_target_entropy(&self) -> f64 {
        self.mean_target_entropy
    }

    /// The blocks and memory EPIG will use for a pool of `n_pool` inputs.
    ///
    /// # Errors
    /// [`Error::MemoryBudget`] when even the smallest tile does not fit in the budget.
    pub fn plan(&self, n_pool: usize) -> Result<EpigPlan> {
        let (k, c) = (self.samples, self.classes);
        let columns = self.n_targets * c;
        let threads = rayon::current_num_threads().max(1);
        // Nothing grows with N: the transposed targets plus one scratch per worker
        // (a block copy for non-contiguous pools, A, one tile, per-input sums).
        let fixed = self.targets_t.len() * F32;
        let per_worker = |r: usize, w: usize| (2 * r * c * k + r * c * w) * F32 + r * F64 + c * F64;
        let total = |r: usize, w: usize| fixed + threads * per_worker(r, w);
        let (mut r, mut w) = match self.blocks {
            Some((r, w)) => (r.min(n_pool.max(1)), w.min(columns)),
            None => {
                let w = columns.min(MAX_COLUMNS);
                let r = (PREFERRED_TILE_BYTES / (c * w * F32)).clamp(1, MAX_BLOCK_INPUTS);
                (r.min(n_pool.max(1)), w)
            }
        };
        while total(r, w) > self.memory_budget {
            if r > 1 {
                r /= 2;
            } else if w > 16 {
                w /= 2;
            } else {
                return Err(Error::MemoryBudget {
                    needed: total(1, w),
                    budget: self.memory_budget,
                });
            }
        }
        Ok(EpigPlan {
            block_inputs: r,
            block_columns: w,
            threads,
            peak_bytes: total(r, w),
        })
    }
}

impl Acquisition for Epig {
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>> {
        check_probs(pool, "pool", DEFAULT_TOLERANCE)?;
        let (n, k, c) = pool.dim();
        check_same_samples(pool.dim(), (self.n_targets, self.samples, self.classes))?;
        let plan = self.plan(n)?;
        let r = plan.block_inputs;
        let mut scores = vec![0.0f32; n];
        scores.par_chunks_mut(r).enumerate().for_each_init(
            || Scratch::new(r, k, c, plan.block_columns),
            |scratch, (b, out)| {
                let block = pool.slice(s![b * r..b * r + out.len(), .., ..]);
                self.score_block(block, scratch, plan.block_columns, out);
            },
        );
        Ok(Array1::from(scores))
    }
}

/// One worker's buffers, reused across the blocks it scores.
struct Scratch {
    /// The block's samples in standard layout, when the pool view is not.
    slab: Vec<f32>,
    /// `A = [rows × K]`, `rows = inputs · C`.
    a: Vec<f32>,
    /// One `[rows × columns]` tile of the joint.
    tile: Vec<f32>,
    /// `Σ p ln p` of the joint per input of the block.
    joint: Vec<f64>,
    /// `p̄(y|x)` of one input.
    mean: Vec<f64>,
}

impl Scratch {
    fn new(inputs: usize, samples: usize, classes: usize, columns: usize) -> Self {
        Self {
            slab: Vec::new(),
            a: vec![0.0; inputs * classes * samples],
            tile: vec![0.0; inputs * classes * columns],
            joint: vec![0.0; inputs],
            mean: vec![0.0; classes],
        }
    }
}

impl Epig {
    /// Scores one block of pool inputs into `out`.
    fn score_block(
        &self,
        block: ArrayView3<'_, f32>,
        scratch: &mut Scratch,
        columns_per_tile: usize,
        out: &mut [f32],
    ) {
        let (inputs, k, c) = block.dim();
        let slab_len = k * c;
        let flat: &[f32] = match block.as_slice() {
            Some(flat) => flat,
            None => {
                scratch.slab.clear();
                scratch.slab.extend(block.iter().copied());
                &scratch.slab
            }
        };
        // A[(i·C + y), k] = p(y | x_i, θ_k)
        let rows = inputs * c;
        let a_buf = &mut scratch.a[..rows * k];
        for (i, input) in flat.chunks_exact(slab_len).enumerate() {
            for (ki, sample) in input.chunks_exact(c).enumerate() {
                for (y, &p) in sample.iter().enumerate() {
                    a_buf[(i * c + y) * k + ki] = p;
                }
            }
        }
        let a = ArrayView2::from_shape((rows, k), &*a_buf).unwrap_or_else(|_| unreachable_shape());
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let inv_k = (1.0 / k as f64) as f32;
        let joint = &mut scratch.joint[..inputs];
        joint.fill(0.0);
        let columns = self.n_targets * c;
        let mut start = 0;
        while start < columns {
            let end = (start + columns_per_tile).min(columns);
            let width = end - start;
            let tile_buf = &mut scratch.tile[..rows * width];
            let mut tile = ArrayViewMut2::from_shape((rows, width), &mut *tile_buf)
                .unwrap_or_else(|_| unreachable_shape());
            general_mat_mul(
                inv_k,
                &a,
                &self.targets_t.slice(s![.., start..end]),
                0.0,
                &mut tile,
            );
            sum_xlogx_groups(tile_buf, c * width, joint);
            start = end;
        }
        #[allow(clippy::cast_precision_loss)]
        let inv_m = 1.0 / self.n_targets as f64;
        for ((o, input), &j) in out
            .iter_mut()
            .zip(flat.chunks_exact(slab_len))
            .zip(joint.iter())
        {
            mean_probs(input, c, &mut scratch.mean);
            // Each term is O(ln C) and they cancel: combine in f64; `j` is Σ p ln p = −Σ H.
            let epig = entropy_f64(&scratch.mean) + self.mean_target_entropy + j * inv_m;
            #[allow(clippy::cast_possible_truncation)]
            {
                *o = epig.max(0.0) as f32;
            }
        }
    }
}

#[cold]
fn unreachable_shape() -> ! {
    // Buffers are sized from the same (rows, k, width) just above.
    unreachable!("EPIG work buffers are sized to their views")
}
