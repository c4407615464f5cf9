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
//! Only the *sum* of the joint entropies over targets is needed, so for a block of pool
//! inputs the joint is one GEMM `A · B / K` with `A = [block·C × K]` (pool samples, one row
//! per (input, class)) and `B = [K × M·C]` (target samples, one column per (target, class)),
//! and every row of the product is reduced at once to `Σ p ln p` (f32 lanes flushed into
//! f64). The `N × C × M × C` joint is never held, and nothing grows with N: the working
//! memory is the packed targets plus one small scratch per worker thread ([`EpigPlan`]).
//! Blocks run in parallel with rayon; each input's score depends only on its own block, so
//! results do not depend on the thread count.
//!
//! Three kernels compute the reduction ([`Kernel`]):
//! - for 2 ≤ C ≤ 4 and K ≤ 100 on a CPU with AVX2 and FMA, the *marginal-identity* kernel
//!   ([`crate::reduced`]): the joint's marginals are the predictive means, so after centring
//!   the samples only `(C−1)²` of the `C²` products per pair need the GEMM (4/9 of the work
//!   for C = 3), the rest follow by subtraction in registers. Inputs whose rows' sums vary
//!   over the samples by more than f32 rounding (the identity then does not hold exactly)
//!   go to the next kernel, input by input;
//! - a fused AVX2/FMA micro-kernel over all `C²` products that never writes the joint to
//!   memory ([`crate::kernel`]);
//! - a portable one that writes a cache-sized tile with `matrixmultiply`'s sgemm (via
//!   `ndarray::linalg`) and reduces it.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, s};
use rayon::prelude::*;

use crate::kernel;
use crate::reduced::{self, PackedPool, PackedTargets};
use crate::scores::mean_probs;
use crate::validate::{DEFAULT_TOLERANCE, check_probs, check_same_samples};
use crate::xlogx::{entropy_f64, sum_xlogx_groups};
use crate::{Acquisition, Error, Result};

/// Default cap on EPIG's extra working memory: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 512 << 20;

/// Preferred size of one worker's joint tile (portable kernel): small enough to stay in
/// cache between the GEMM that writes it and the reduction that reads it.
const PREFERRED_TILE_BYTES: usize = 1 << 20;
/// Widest column block (target input × class) of one portable tile.
const MAX_COLUMNS: usize = 4096;
/// Pool rows (input × class) per block for the fused kernel: enough work per rayon task,
/// a packed `A` that stays in L1/L2.
const FUSED_BLOCK_ROWS: usize = 360;
/// Most pool inputs in one block.
const MAX_BLOCK_INPUTS: usize = 1024;

const F32: usize = std::mem::size_of::<f32>();
const F64: usize = std::mem::size_of::<f64>();

/// Which implementation computes the joint-entropy sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernel {
    /// The fastest kernel the CPU and inputs allow: the marginal-identity kernel
    /// (`(C−1)²` products per pair) for 2 ≤ C ≤ 4 and K ≤ 100, on AVX-512F when the CPU
    /// has it, else on AVX2 + FMA; the fused all-products kernel for other shapes or for
    /// inputs whose row sums vary over the samples; and [`Kernel::Portable`] without AVX2.
    #[default]
    Auto,
    /// Like [`Kernel::Auto`] without AVX-512: what a CPU with only AVX2 + FMA runs (its
    /// results differ from AVX-512's in the last bits, as the lanes sum in another order).
    Avx2,
    /// The fused AVX2/FMA kernel over all `C²` products per pair, for every input (when
    /// the CPU has AVX2 and FMA, else [`Kernel::Portable`]).
    FullJoint,
    /// GEMM tiles with `matrixmultiply`, then a vectorised reduction: runs everywhere and
    /// gives bit-identical results on every x86-64 machine.
    Portable,
}

/// EPIG against a fixed set of target-input samples.
///
/// EPIG measures how the K posterior samples disagree about the pool input and the target
/// inputs together, so with K = 1 (a deterministic model, a one-tree forest) the joint
/// factorises and every score is 0, up to floating-point rounding. That is the
/// estimator's correct value, and such inputs are scored, not refused; but a batch drawn
/// from those scores is not the model's choice: rounding and the strategy's tie rule
/// decide it. Give K ≥ 2 samples.
///
/// # Shapes
/// `targets`: `[M, K, C]`; the pool passed to [`Acquisition::score`]: `[N, K, C]` with the
/// same K (posterior samples, in the same order) and C.
///
/// # Errors
/// [`Epig::new`] and [`Acquisition::score`] fail on invalid probabilities
/// ([`crate::check_probs`]), and [`Acquisition::score`] on a pool whose K or C differs from
/// the targets' ([`Error::ShapeMismatch`]) or when the working memory does not fit the
/// budget ([`Error::MemoryBudget`]); K = 1 is not an error (every score is 0).
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
    /// Target samples as `B = [K × M·C]`: column `m·C + c` is `p(y* = c | x*_m, θ_k)`.
    targets_t: Array2<f32>,
    /// `B` packed into the fused kernel's 16-column panels (`None`: portable kernel).
    packed: Option<Vec<f32>>,
    /// The targets centred and packed for the marginal-identity kernel (`None`: not used).
    reduced: Option<PackedTargets>,
    /// `(1/M) Σ_m H[p̄(y*|x*_m)]` in nats.
    mean_target_entropy: f64,
    n_targets: usize,
    classes: usize,
    samples: usize,
    memory_budget: usize,
    blocks: Option<(usize, usize)>,
}

/// How EPIG will be computed for a pool: kernel, block sizes and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpigPlan {
    /// Whether the fused AVX2/FMA kernel runs (else the portable one).
    pub fused: bool,
    /// Whether the marginal-identity kernel runs (for every input whose row sums do not
    /// vary over the samples; the fused kernel takes the others).
    pub marginal: bool,
    /// Whether the marginal-identity kernel runs on AVX-512F (else on AVX2).
    pub avx512: bool,
    /// Pool inputs per block.
    pub block_inputs: usize,
    /// Columns (target input × class) per tile of the portable kernel (all of them for the
    /// fused kernel, which holds no tile).
    pub block_columns: usize,
    /// Worker threads that may hold a scratch at once.
    pub threads: usize,
    /// Upper bound on the extra bytes EPIG's scoring allocates (packed targets and
    /// per-worker scratch), excluding the inputs and the returned scores; independent of N.
    pub peak_bytes: usize,
}

impl Epig {
    /// Prepares EPIG against `targets` (validated here, once).
    ///
    /// # Errors
    /// Any error of [`crate::check_probs`] for `targets`. K = 1 is accepted: every score
    /// is then 0 ([`Epig`]).
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
        let mut total_entropy = 0.0f64;
        let mut mean = vec![0.0f64; c];
        let mut slab = Vec::with_capacity(k * c);
        for (mi, input) in targets.outer_iter().enumerate() {
            slab.clear();
            slab.extend(input.iter().copied());
            mean_probs(&slab, c, &mut mean);
            total_entropy += entropy_f64(&mean);
            for (ki, row) in input.outer_iter().enumerate() {
                for (ci, &p) in row.iter().enumerate() {
                    targets_t[[ki, mi * c + ci]] = p;
                }
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let mean_target_entropy = total_entropy / m as f64;
        let mut epig = Self {
            targets_t,
            packed: None,
            reduced: None,
            mean_target_entropy,
            n_targets: m,
            classes: c,
            samples: k,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            blocks: None,
        };
        epig = epig.with_kernel(Kernel::Auto);
        Ok(epig)
    }

    /// Chooses the kernel (default [`Kernel::Auto`]).
    #[must_use]
    pub fn with_kernel(mut self, choice: Kernel) -> Self {
        let (m, k, c) = (self.n_targets, self.samples, self.classes);
        self.packed = (choice != Kernel::Portable && kernel::available()).then(|| {
            let b = self.targets_t.as_slice().unwrap_or(&[]);
            kernel::pack_b(b, k, m * c, kernel::NR)
        });
        self.reduced = None;
        let max_isa = match choice {
            Kernel::Auto => Some(reduced::Isa::Avx512),
            Kernel::Avx2 => Some(reduced::Isa::Avx2),
            Kernel::FullJoint | Kernel::Portable => None,
        };
        if let Some(isa) = max_isa.and_then(|max| reduced::supported(k, c, max)) {
            // Back to [M, K, C] from B = [K × M·C].
            let mut flat = vec![0.0f32; m * k * c];
            for ((ki, j), &p) in self.targets_t.indexed_iter() {
                flat[((j / c) * k + ki) * c + j % c] = p;
            }
            let exact = flat
                .chunks_exact(k * c)
                .all(|input| reduced::row_sum_spread(input, c) <= reduced::ROW_SUM_SPREAD);
            self.reduced = exact.then(|| reduced::pack_targets(&flat, m, k, c, isa));
        }
        self
    }

    /// Caps EPIG's extra working memory (default [`DEFAULT_MEMORY_BUDGET`]).
    #[must_use]
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Fixes the block sizes instead of choosing them (for tuning and tests); they are
    /// still checked against the memory budget. The fused kernel uses only `block_inputs`.
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

    /// The kernel, blocks and memory EPIG will use for a pool of `n_pool` inputs.
    ///
    /// # Errors
    /// [`Error::MemoryBudget`] when even the smallest scratch does not fit in the budget.
    pub fn plan(&self, n_pool: usize) -> Result<EpigPlan> {
        let (k, c) = (self.samples, self.classes);
        let columns = self.n_targets * c;
        let threads = rayon::current_num_threads().max(1);
        let fused = self.packed.is_some();
        let marginal = self.reduced.as_ref().map(PackedTargets::isa);
        let fixed = self.targets_t.len() * F32
            + self.packed.as_ref().map_or(0, |p| p.len() * F32)
            + self.reduced.as_ref().map_or(0, PackedTargets::bytes);
        // Per worker: a block copy for non-contiguous pools, A (packed or not), and either
        // one tile (portable) or per-row sums (fused), plus per-input sums.
        let per_worker = |r: usize, w: usize| {
            let rows = r * c;
            let a = rows.div_ceil(kernel::MR) * kernel::MR * k;
            // Fused: per-row f64 sums plus the kernel's per-row vector accumulators.
            let work = if fused {
                rows * F64 + (rows + kernel::MR) * 64
            } else {
                rows * w * F32
            };
            // Marginal kernel: its packed block, per-input sums, and the gathered inputs
            // of the fused fallback with their indices.
            let extra = if let Some(isa) = marginal {
                PackedPool::bytes_for(r, k, c, isa)
                    + r * F64
                    + r * c * F64
                    + r * k * c * F32
                    + 2 * r * std::mem::size_of::<usize>()
            } else {
                0
            };
            (r * k * c + a) * F32 + work + r * F64 + c * F64 + extra
        };
        let total = |r: usize, w: usize| fixed + threads * per_worker(r, w);
        let n_pool = n_pool.max(1);
        let (mut r, mut w) = match self.blocks {
            Some((r, w)) => (r, w.min(columns)),
            None if fused => ((FUSED_BLOCK_ROWS / c).max(1), columns),
            None => {
                let w = columns.min(MAX_COLUMNS);
                (PREFERRED_TILE_BYTES / (c * w * F32), w)
            }
        };
        r = r.clamp(1, MAX_BLOCK_INPUTS).min(n_pool);
        while total(r, w) > self.memory_budget {
            if r > 1 {
                r /= 2;
            } else if !fused && w > 16 {
                w /= 2;
            } else {
                return Err(Error::MemoryBudget {
                    needed: total(1, w),
                    budget: self.memory_budget,
                });
            }
        }
        Ok(EpigPlan {
            fused,
            marginal: marginal.is_some(),
            avx512: marginal == Some(reduced::Isa::Avx512),
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
            || Scratch::new(r, k, c, &plan),
            |scratch, (b, out)| {
                let block = pool.slice(s![b * r..b * r + out.len(), .., ..]);
                self.score_block(block, scratch, &plan, out);
            },
        );
        Ok(Array1::from(scores))
    }
}

/// One worker's buffers, reused across the blocks it scores.
struct Scratch {
    /// The block's samples in standard layout, when the pool view is not.
    slab: Vec<f32>,
    /// `A` for the block: `[rows × K]` (portable) or 6-row panels (fused).
    a: Vec<f32>,
    /// One `[rows × columns]` tile of the joint (portable kernel only).
    tile: Vec<f32>,
    /// `Σ p ln p` of the joint per row (fused kernel only).
    row_sums: Vec<f64>,
    /// `Σ p ln p` of the joint per input of the block.
    joint: Vec<f64>,
    /// `p̄(y|x)` of one input.
    mean: Vec<f64>,
    /// `p̄(y|x)` of every input of the block (marginal kernel).
    means: Vec<f64>,
    /// The block's inputs packed for the marginal-identity kernel.
    marginal: PackedPool,
    /// Per-input sums of the marginal-identity kernel.
    marginal_sums: Vec<f64>,
    /// Indices (within the block) of the inputs the marginal kernel scores, and of the
    /// others.
    exact: Vec<usize>,
    inexact: Vec<usize>,
    /// The inexact inputs gathered for the fused kernel.
    gathered: Vec<f32>,
}

impl Scratch {
    fn new(inputs: usize, samples: usize, classes: usize, plan: &EpigPlan) -> Self {
        let rows = inputs * classes;
        let (tile, row_sums) = if plan.fused {
            (0, rows)
        } else {
            (rows * plan.block_columns, 0)
        };
        Self {
            slab: Vec::new(),
            a: vec![0.0; rows.div_ceil(kernel::MR) * kernel::MR * samples],
            tile: vec![0.0; tile],
            row_sums: vec![0.0; row_sums],
            joint: vec![0.0; inputs],
            mean: vec![0.0; classes],
            means: Vec::new(),
            marginal: PackedPool::default(),
            marginal_sums: Vec::new(),
            exact: Vec::new(),
            inexact: Vec::new(),
            gathered: Vec::new(),
        }
    }
}

impl Epig {
    /// Scores one block of pool inputs into `out`.
    fn score_block(
        &self,
        block: ArrayView3<'_, f32>,
        scratch: &mut Scratch,
        plan: &EpigPlan,
        out: &mut [f32],
    ) {
        let (inputs, k, c) = block.dim();
        let flat: &[f32] = match block.as_slice() {
            Some(flat) => flat,
            None => {
                scratch.slab.clear();
                scratch.slab.extend(block.iter().copied());
                &scratch.slab
            }
        };
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let inv_k = (1.0 / k as f64) as f32;
        let joint = &mut scratch.joint[..inputs];
        joint.fill(0.0);
        // Whether `scratch.means` already holds every input's p̄(y|x).
        let mut means_ready = false;
        match (&self.reduced, &self.packed) {
            (Some(targets), Some(packed)) => {
                let kc = k * c;
                let input = |i: usize| &flat[i * kc..(i + 1) * kc];
                scratch.exact.clear();
                scratch.inexact.clear();
                scratch.marginal.begin(inputs, k, c, targets.isa());
                scratch.means.resize(inputs * c, 0.0);
                for (i, mean) in scratch.means.chunks_exact_mut(c).enumerate() {
                    mean_probs(input(i), c, mean);
                    if reduced::row_sum_spread(input(i), c) <= reduced::ROW_SUM_SPREAD {
                        scratch.exact.push(i);
                        scratch.marginal.push(input(i), mean, k, c, targets.isa());
                    } else {
                        scratch.inexact.push(i);
                    }
                }
                means_ready = true;
                if !scratch.exact.is_empty() {
                    let exact = &scratch.exact;
                    scratch.marginal_sums.resize(exact.len(), 0.0);
                    reduced::joint_xlogx(
                        &scratch.marginal,
                        targets,
                        k,
                        c,
                        &mut scratch.marginal_sums,
                    );
                    for (&i, &s) in exact.iter().zip(&scratch.marginal_sums) {
                        joint[i] = s;
                    }
                }
                if !scratch.inexact.is_empty() {
                    scratch.gathered.clear();
                    scratch.gathered.reserve_exact(scratch.inexact.len() * kc);
                    for &i in &scratch.inexact {
                        scratch.gathered.extend_from_slice(input(i));
                    }
                    let n = scratch.inexact.len();
                    let rows = n * c;
                    kernel::pack_a(&scratch.gathered, n, k, c, kernel::MR, &mut scratch.a);
                    let row_sums = &mut scratch.row_sums[..rows];
                    row_sums.fill(0.0);
                    kernel::joint_xlogx_rows(&scratch.a, packed, k, inv_k, rows, row_sums);
                    for (&i, per_class) in scratch.inexact.iter().zip(row_sums.chunks_exact(c)) {
                        joint[i] = per_class.iter().sum();
                    }
                }
            }
            (None, Some(packed)) => {
                let rows = inputs * c;
                kernel::pack_a(flat, inputs, k, c, kernel::MR, &mut scratch.a);
                let row_sums = &mut scratch.row_sums[..rows];
                row_sums.fill(0.0);
                kernel::joint_xlogx_rows(&scratch.a, packed, k, inv_k, rows, row_sums);
                for (j, per_class) in joint.iter_mut().zip(row_sums.chunks_exact(c)) {
                    *j = per_class.iter().sum();
                }
            }
            (_, None) => self.portable_joint(
                flat,
                inputs,
                (&mut scratch.a, &mut scratch.tile),
                joint,
                plan.block_columns,
                inv_k,
            ),
        }
        #[allow(clippy::cast_precision_loss)]
        let inv_m = 1.0 / self.n_targets as f64;
        for (i, ((o, input), &j)) in out
            .iter_mut()
            .zip(flat.chunks_exact(k * c))
            .zip(scratch.joint.iter())
            .enumerate()
        {
            let mean = if means_ready {
                &scratch.means[i * c..(i + 1) * c]
            } else {
                mean_probs(input, c, &mut scratch.mean);
                &scratch.mean
            };
            // Each term is O(ln C) and they cancel: combine in f64; `j` is Σ p ln p = −Σ H.
            let epig = entropy_f64(mean) + self.mean_target_entropy + j * inv_m;
            #[allow(clippy::cast_possible_truncation)]
            {
                *o = epig.max(0.0) as f32;
            }
        }
    }

    /// Portable kernel: `[rows × width]` tiles of `A·B/K` by sgemm, each reduced to per-input
    /// `Σ p ln p` sums in `scratch.joint`.
    fn portable_joint(
        &self,
        flat: &[f32],
        inputs: usize,
        (a_buf, tile_buf): (&mut [f32], &mut [f32]),
        joint: &mut [f64],
        columns_per_tile: usize,
        inv_k: f32,
    ) {
        let (k, c) = (self.samples, self.classes);
        // A[(i·C + y), k] = p(y | x_i, θ_k)
        let rows = inputs * c;
        let a_buf = &mut a_buf[..rows * k];
        for (i, input) in flat.chunks_exact(k * c).enumerate() {
            for (ki, sample) in input.chunks_exact(c).enumerate() {
                for (y, &p) in sample.iter().enumerate() {
                    a_buf[(i * c + y) * k + ki] = p;
                }
            }
        }
        let a = ArrayView2::from_shape((rows, k), &*a_buf).unwrap_or_else(|_| unreachable_shape());
        let columns = self.n_targets * c;
        let mut start = 0;
        while start < columns {
            let end = (start + columns_per_tile).min(columns);
            let width = end - start;
            let tile_buf = &mut tile_buf[..rows * width];
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
    }
}

#[cold]
fn unreachable_shape() -> ! {
    // Buffers are sized from the same (rows, k, width) just above.
    unreachable!("EPIG work buffers are sized to their views")
}
