//! EPIG's joint from (C − 1)² products per (pool input, target input) pair instead of C².
//!
//! The joint of one pool input x and one target input x* is
//! `J(y, y*) = (1/K) Σ_k a_{y,k} b_{k,y*}` with `a_{y,k} = p(y | x, θ_k)` and
//! `b_{k,y*} = p(y* | x*, θ_k)`. Centre both over the samples, `a = ā + α` and `b = b̄ + β`
//! (ā, b̄ the predictive means); the cross terms vanish because `Σ_k α = Σ_k β = 0`:
//!
//! ```text
//! J(y, y*) = ā_y b̄_{y*} + Cov(y, y*),   Cov(y, y*) = (1/K) Σ_k α_{y,k} β_{k,y*}
//! ```
//!
//! When every row of an input sums to the same value (1, up to rounding), `Σ_y α_{y,k} = 0`
//! for every k, and likewise for the target: Cov's rows and columns sum to zero. Its last
//! row and column then follow from the (C − 1) × (C − 1) block by subtraction,
//!
//! ```text
//! Cov(y, C−1) = −Σ_{d<C−1} Cov(y, d)      Cov(C−1, d) = −Σ_{y<C−1} Cov(y, d)
//! Cov(C−1, C−1) = Σ_{y,d<C−1} Cov(y, d)
//! ```
//!
//! so the GEMM computes only `(C−1)²` of the `C²` products: 4/9 of the work for C = 3.
//! Centring keeps the subtractions between covariances, which are small when the samples
//! agree, instead of between products near 1 whose f32 rounding would swamp a near-zero
//! entry's `x ln x`. The rank-one part `ā_y b̄_{y*}` is one f32 product, accurate to a
//! relative 1e-7 however small it is.
//!
//! **The limit.** When the samples disagree confidently *and in the same way* for the pool
//! input and a target (sample k near one-hot on a class z_k shared by both), a joint
//! entry near 0 is the cancellation of `ā_y b̄_{y*}` and a covariance of the same size, and
//! the f32 sum of the covariance over K samples leaves an absolute error growing as
//! `√K · 6e-8`. Measured against the f64 oracle on that construction: at most 7.2e-6 for
//! K = 100 (C ≤ 4), but 1.5e-5 for K = 128, C = 4. The kernel is therefore used only for
//! K ≤ [`MAX_SAMPLES`] (the paper's K = 100 and the forest's default); more samples use
//! the all-products kernel, whose near-zero entries are sums of non-negative terms.
//!
//! The identity needs rows whose sums do not vary over the samples. Inputs whose row sums
//! spread by more than [`ROW_SUM_SPREAD`] (accepted rows may sum to 1 only within the
//! validation tolerance) are scored by the full C² kernel instead, input by input, so each
//! score depends only on its own input, never on its neighbours or the thread count.
//!
//! The micro-kernel holds `U` pool inputs × `W` panels of target inputs × `(C−1)²` entries
//! in registers over the whole K, then forms all C² joint entries of each pair in registers
//! and adds their `x ln x` to per-input lane accumulators: nothing of the joint is written
//! to memory. Target inputs are packed once into panels of one register's lanes (8 for
//! AVX2 + FMA, 16 for AVX-512F; [`Isa::tile_shape`] gives U and W); pool inputs per block
//! into `U`-input panels. Padding inputs and lanes have zero means and zero deviations, so all
//! their joint entries are exactly 0 and add `0 ln 0 = 0`.

#![allow(unsafe_code)]

use crate::kernel;

/// The instruction set a kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX2 + FMA: 8-lane registers, 16 of them.
    Avx2,
    /// AVX-512F: 16-lane registers, 32 of them.
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU offers for the kernel, up to `max`.
    pub(crate) fn detect(max: Self) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if max == Self::Avx512
                && kernel::available()
                && std::arch::is_x86_feature_detected!("avx512f")
            {
                return Some(Self::Avx512);
            }
            kernel::available().then_some(Self::Avx2)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = max;
            None
        }
    }

    /// Target inputs per panel: the lanes of one register.
    pub(crate) fn lanes(self) -> usize {
        match self {
            Self::Avx2 => 8,
            Self::Avx512 => 16,
        }
    }

    /// Pool inputs per register tile and target panels per tile, for `d = C − 1`: the
    /// tile's `U · W · d²` accumulators fit in the registers with room for the loads.
    pub(crate) fn tile_shape(self, d: usize) -> (usize, usize) {
        match (self, d) {
            (Self::Avx2, 1) => (6, 2),
            (Self::Avx2, 2) => (3, 1),
            (Self::Avx2, _) => (1, 1),
            (Self::Avx512, 1) => (6, 4),
            (Self::Avx512, 2) => (6, 1),
            (Self::Avx512, _) => (2, 1),
        }
    }
}

/// Largest class count this kernel handles; more classes use the full kernel.
pub(crate) const MAX_CLASSES: usize = 4;

/// Largest spread `max_k Σ_y p(y|x,θ_k) − min_k Σ_y p(y|x,θ_k)` of an input's row sums for
/// which the marginal identity is used: four f32 rounding steps of 1, the spread of rows
/// normalised in f32 (a softmax, a forest's leaf frequencies). Over it, the neglected
/// term `(1/K) Σ_k (s_k − s̄) β_k` could move a near-zero joint entry by more than rounding.
pub(crate) const ROW_SUM_SPREAD: f64 = 4.0 * f32::EPSILON as f64;

/// Most posterior samples K for which the kernel is used (see the module docs: the f32
/// rounding of the covariance sums grows as √K).
pub(crate) const MAX_SAMPLES: usize = 100;

/// Column panels summed in f32 lanes before flushing to f64.
const FLUSH_PANELS: usize = 32;

/// The instruction set the kernel would run with for `samples` and `classes` on this CPU
/// (`None`: the shape or the CPU does not allow it).
pub(crate) fn supported(samples: usize, classes: usize, max: Isa) -> Option<Isa> {
    if (2..=MAX_CLASSES).contains(&classes) && samples <= MAX_SAMPLES {
        Isa::detect(max)
    } else {
        None
    }
}

/// The spread of one input's row sums, `max_k s_k − min_k s_k` (f64).
///
/// # Shapes
/// `input`: `[K · C]`, sample-major.
pub(crate) fn row_sum_spread(input: &[f32], classes: usize) -> f64 {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for row in input.chunks_exact(classes) {
        let s: f64 = row.iter().map(|&p| f64::from(p)).sum();
        lo = lo.min(s);
        hi = hi.max(s);
    }
    if lo.is_finite() { hi - lo } else { 0.0 }
}

/// One cache line of floats.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Zero-initialised f32 storage that starts on a cache line, so that each 16-lane load of
/// a packed panel touches one line instead of straddling two.
#[derive(Debug, Clone, Default)]
pub(crate) struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    fn zeros(len: usize) -> Self {
        Self {
            lines: vec![Line::default(); len.div_ceil(16)],
            len,
        }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` (no padding), so the lines are
        // `16 · lines.len() ≥ len` contiguous, initialised floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// Target inputs packed for the kernel.
#[derive(Debug, Clone)]
pub(crate) struct PackedTargets {
    /// Deviations `β`: `[panel][k][d][lanes]`, `d < C − 1`.
    beta: Aligned,
    /// Means `b̄`: `[panel][c][lanes]`, all C classes.
    means: Aligned,
    /// Panels, a multiple of the tile's W.
    panels: usize,
    /// The kernel these are packed for.
    isa: Isa,
}

impl PackedTargets {
    /// The instruction set the targets are packed for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        (self.beta.len() + self.means.len()) * std::mem::size_of::<f32>()
    }
}

/// Packs target inputs `[M, K, C]` (standard layout, flat) for the kernel on `isa`.
pub(crate) fn pack_targets(flat: &[f32], m: usize, k: usize, c: usize, isa: Isa) -> PackedTargets {
    let d = c - 1;
    let (_, w) = isa.tile_shape(d);
    #[allow(non_snake_case)]
    let LANES = isa.lanes();
    let panels = m.div_ceil(LANES).div_ceil(w) * w;
    let mut beta = Aligned::zeros(panels * k * d * LANES);
    let mut means = Aligned::zeros(panels * c * LANES);
    let mut mean = vec![0.0f64; c];
    for (mi, input) in flat.chunks_exact(k * c).enumerate().take(m) {
        crate::scores::mean_probs(input, c, &mut mean);
        let (p, lane) = (mi / LANES, mi % LANES);
        for (y, &v) in mean.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            {
                means[(p * c + y) * LANES + lane] = v as f32;
            }
        }
        for (kk, row) in input.chunks_exact(c).enumerate() {
            for (y, (&v, &mean)) in row.iter().zip(&mean).enumerate().take(d) {
                #[allow(clippy::cast_possible_truncation)]
                let dev = (f64::from(v) - mean) as f32;
                beta[((p * k + kk) * d + y) * LANES + lane] = dev;
            }
        }
    }
    PackedTargets {
        beta,
        means,
        panels,
        isa,
    }
}

/// Pool inputs packed for the kernel, reused across blocks.
#[derive(Debug, Default)]
pub(crate) struct PackedPool {
    /// Deviations `α`: `[panel][k][u][d]`.
    alpha: Vec<f32>,
    /// Means `ā`: `[panel][u][c]`.
    means: Vec<f32>,
    /// Inputs packed (without padding).
    inputs: usize,
}

impl PackedPool {
    /// Bytes needed for `inputs` inputs.
    pub(crate) fn bytes_for(inputs: usize, k: usize, c: usize, isa: Isa) -> usize {
        let (u, _) = isa.tile_shape(c - 1);
        let padded = inputs.div_ceil(u) * u;
        (padded * k * (c - 1) + padded * c) * std::mem::size_of::<f32>()
    }

    /// Packs `inputs` (each `[K · C]`, sample-major) for the kernel on `isa`.
    #[cfg(test)]
    pub(crate) fn pack<'a>(
        &mut self,
        inputs: impl ExactSizeIterator<Item = &'a [f32]>,
        k: usize,
        c: usize,
        isa: Isa,
    ) {
        self.begin(inputs.len(), k, c, isa);
        let mut mean = vec![0.0f64; c];
        for input in inputs {
            crate::scores::mean_probs(input, c, &mut mean);
            self.push(input, &mean, k, c, isa);
        }
    }

    /// Empties the buffers and makes room for up to `capacity` inputs.
    pub(crate) fn begin(&mut self, capacity: usize, k: usize, c: usize, isa: Isa) {
        let d = c - 1;
        let (u, _) = isa.tile_shape(d);
        let panels = capacity.div_ceil(u);
        self.alpha.clear();
        self.alpha.resize(panels * k * u * d, 0.0);
        self.means.clear();
        self.means.resize(panels * u * c, 0.0);
        self.inputs = 0;
    }

    /// Packs one more input (`[K · C]`, sample-major) whose predictive mean is `mean`.
    /// At most the `capacity` of [`PackedPool::begin`] inputs fit.
    pub(crate) fn push(&mut self, input: &[f32], mean: &[f64], k: usize, c: usize, isa: Isa) {
        let d = c - 1;
        let (u, _) = isa.tile_shape(d);
        let (p, lane) = (self.inputs / u, self.inputs % u);
        let mut mean32 = [0.0f32; MAX_CLASSES];
        for ((m32, slot), &m) in mean32
            .iter_mut()
            .zip(&mut self.means[(p * u + lane) * c..(p * u + lane + 1) * c])
            .zip(mean)
        {
            #[allow(clippy::cast_possible_truncation)]
            {
                *m32 = m as f32;
            }
            *slot = *m32;
        }
        // α = p − ā in f32: the rounding of ā leaves Σ_k α ≠ 0 by at most K·ulp(ā)/2, a
        // relative 1e-7 of the rank-one term it would correct.
        let panel = &mut self.alpha[p * k * u * d..(p + 1) * k * u * d];
        for (row, dst) in input.chunks_exact(c).zip(panel.chunks_exact_mut(u * d)) {
            let dst = &mut dst[lane * d..(lane + 1) * d];
            for ((o, &v), &m) in dst.iter_mut().zip(row).zip(&mean32) {
                *o = v - m;
            }
        }
        self.inputs += 1;
    }
}

/// Writes `Σ_{m} Σ_{y,y*} x ln x` of the joint of every packed pool input with every
/// target into `sums` (f64, one per input, overwritten).
///
/// # Shapes
/// `sums`: `≥ pool.inputs`.
pub(crate) fn joint_xlogx(
    pool: &PackedPool,
    targets: &PackedTargets,
    k: usize,
    c: usize,
    sums: &mut [f64],
) {
    let sums = &mut sums[..pool.inputs];
    sums.fill(0.0);
    if pool.inputs == 0 || k == 0 {
        return;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let scale = (1.0 / k as f64) as f32;
    #[cfg(target_arch = "x86_64")]
    if Isa::detect(targets.isa) == Some(targets.isa) {
        // SAFETY: the CPU has the instruction set the targets were packed for (checked just
        // above); the buffers were packed by `pack_targets` / `PackedPool::pack` for this
        // (k, c) and that instruction set's tile shape, which is what the kernel indexes.
        unsafe {
            match (targets.isa, c) {
                (Isa::Avx2, 2) => avx2::sums::<6, 2, 1>(pool, targets, k, scale, sums),
                (Isa::Avx2, 3) => avx2::sums::<3, 1, 2>(pool, targets, k, scale, sums),
                (Isa::Avx2, 4) => avx2::sums::<1, 1, 3>(pool, targets, k, scale, sums),
                (Isa::Avx512, 2) => avx512::sums::<6, 4, 1>(pool, targets, k, scale, sums),
                (Isa::Avx512, 3) => avx512::sums::<6, 1, 2>(pool, targets, k, scale, sums),
                (Isa::Avx512, 4) => avx512::sums::<2, 1, 3>(pool, targets, k, scale, sums),
                _ => unreachable!("the reduced kernel is only chosen for 2 ≤ C ≤ 4"),
            }
        }
        return;
    }
    scalar_sums(pool, targets, k, c, scale, sums);
}

/// The same computation in plain Rust (never chosen by [`crate::Epig`] on a CPU without
/// AVX2, which then uses its portable kernel; kept so the function is total and as a
/// readable statement of what the intrinsics compute).
fn scalar_sums(
    pool: &PackedPool,
    targets: &PackedTargets,
    k: usize,
    c: usize,
    scale: f32,
    sums: &mut [f64],
) {
    use crate::xlogx::xlogx;
    let d = c - 1;
    let (u, _) = targets.isa.tile_shape(d);
    #[allow(non_snake_case)]
    let LANES = targets.isa.lanes();
    let mut cov = vec![0.0f32; c * c];
    for (i, sum) in sums.iter_mut().enumerate() {
        let (ip, iu) = (i / u, i % u);
        let am = &pool.means[(ip * u + iu) * c..(ip * u + iu + 1) * c];
        for tp in 0..targets.panels {
            for lane in 0..LANES {
                cov.fill(0.0);
                for y in 0..d {
                    for t in 0..d {
                        let dot: f32 = (0..k)
                            .map(|kk| {
                                pool.alpha[((ip * k + kk) * u + iu) * d + y]
                                    * targets.beta[((tp * k + kk) * d + t) * LANES + lane]
                            })
                            .sum();
                        cov[y * c + t] = dot * scale;
                        cov[y * c + d] -= dot * scale;
                        cov[d * c + t] -= dot * scale;
                        cov[d * c + d] += dot * scale;
                    }
                }
                for y in 0..c {
                    for t in 0..c {
                        let tm = targets.means[(tp * c + t) * LANES + lane];
                        *sum += f64::from(xlogx(am[y].mul_add(tm, cov[y * c + t]).max(0.0)));
                    }
                }
            }
        }
    }
}

/// One register of f32 lanes and the operations the micro-kernel does on it, so that one
/// body ([`tile_sums`]) serves AVX2 + FMA and AVX-512F; each instruction set's `sums` entry
/// point compiles that body for its registers.
///
/// A value of an implementing type is the proof that the CPU has the instruction set: it is
/// made (unsafely) only inside the entry point compiled for it, into which the body and
/// these operations are inlined. So the operations are safe to call.
#[cfg(target_arch = "x86_64")]
trait Lanes: Copy {
    /// A register of [`Lanes::WIDTH`] floats.
    type V: Copy;
    /// Floats per register: target inputs per panel.
    const WIDTH: usize;
    /// All lanes 0.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// The [`Lanes::WIDTH`] floats at `p`.
    ///
    /// # Safety
    /// `p` must point to [`Lanes::WIDTH`] readable floats.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`, rounded once.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a · b − c`, rounded once.
    fn mul_sub(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `x ln x` per lane, 0 below the smallest normal float.
    fn xlogx(self, x: Self::V) -> Self::V;
    /// The sum of the lanes, in f64.
    fn hsum(self, v: Self::V) -> f64;
}

/// The micro-kernel (see the module docs) on the registers of `S`: writes `Σ x ln x` of the
/// joints of every packed pool input into `sums`. `ACC` bounds the tile's `U · W · D²`
/// accumulators.
///
/// Inlined into each instruction set's entry point, which compiles it for its registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tile_sums<S: Lanes, const U: usize, const W: usize, const D: usize, const ACC: usize>(
    lanes: S,
    pool: &PackedPool,
    targets: &PackedTargets,
    k: usize,
    scale: f32,
    sums: &mut [f64],
) {
    let width = S::WIDTH;
    let c = D + 1;
    let in_panels = pool.inputs.div_ceil(U);
    let groups = targets.panels / W;
    assert!(
        U * W * D * D <= ACC
            && W * D <= 4
            && pool.alpha.len() >= in_panels * k * U * D
            && pool.means.len() >= in_panels * U * c
            && targets.beta.len() >= groups * W * k * D * width
            && targets.means.len() >= groups * W * c * width,
        "reduced EPIG kernel: buffers do not match the tile shape"
    );
    let scale = lanes.splat(scale);
    let mut acc_rows = vec![lanes.zero(); in_panels * U];
    for g in 0..groups {
        for ip in 0..in_panels {
            let a_panel = pool.alpha[ip * k * U * D..].as_ptr();
            let mut acc = [lanes.zero(); ACC];
            for kk in 0..k {
                // SAFETY: kk < k, w < W, t < D, u < U, y < D: every offset lies inside
                // the panels whose lengths were asserted above (B panels of one group
                // are consecutive: panel g·W + w starts at (g·W + w)·k·D·WIDTH).
                unsafe {
                    let mut b = [lanes.zero(); 4];
                    for w in 0..W {
                        for t in 0..D {
                            let offset = (((g * W + w) * k + kk) * D + t) * width;
                            b[w * D + t] = lanes.load(targets.beta.as_ptr().add(offset));
                        }
                    }
                    let ak = a_panel.add(kk * U * D);
                    for u in 0..U {
                        for y in 0..D {
                            let a = lanes.splat(*ak.add(u * D + y));
                            for w in 0..W {
                                for t in 0..D {
                                    let i = ((u * W + w) * D + y) * D + t;
                                    acc[i] = lanes.mul_add(a, b[w * D + t], acc[i]);
                                }
                            }
                        }
                    }
                }
            }
            for u in 0..U {
                let am = &pool.means[(ip * U + u) * c..(ip * U + u + 1) * c];
                let mut total = lanes.zero();
                for w in 0..W {
                    let tp = g * W + w;
                    let tm = |t: usize| {
                        // SAFETY: tp < panels and t < c, within `targets.means`.
                        unsafe { lanes.load(targets.means.as_ptr().add((tp * c + t) * width)) }
                    };
                    let mut col = [lanes.zero(); 3];
                    let mut corner = lanes.zero();
                    for (y, &ay) in am.iter().enumerate().take(D) {
                        let ay = lanes.splat(ay);
                        let mut row = lanes.zero();
                        for (t, col_t) in col.iter_mut().enumerate().take(D) {
                            let cov = lanes.mul(acc[((u * W + w) * D + y) * D + t], scale);
                            row = lanes.add(row, cov);
                            *col_t = lanes.add(*col_t, cov);
                            total = lanes.add(total, lanes.xlogx(lanes.mul_add(ay, tm(t), cov)));
                        }
                        // J(y, C−1) = ā_y b̄_{C−1} − Σ_t Cov(y, t)
                        total = lanes.add(total, lanes.xlogx(lanes.mul_sub(ay, tm(D), row)));
                        corner = lanes.add(corner, row);
                    }
                    let alast = lanes.splat(am[D]);
                    for (t, &col_t) in col.iter().enumerate().take(D) {
                        // J(C−1, t) = ā_{C−1} b̄_t − Σ_y Cov(y, t)
                        total = lanes.add(total, lanes.xlogx(lanes.mul_sub(alast, tm(t), col_t)));
                    }
                    // J(C−1, C−1) = ā_{C−1} b̄_{C−1} + Σ_{y,t} Cov(y, t)
                    total = lanes.add(total, lanes.xlogx(lanes.mul_add(alast, tm(D), corner)));
                }
                let r = &mut acc_rows[ip * U + u];
                *r = lanes.add(*r, total);
            }
        }
        if (g + 1) % FLUSH_PANELS == 0 || g + 1 == groups {
            for (i, r) in acc_rows.iter_mut().enumerate() {
                if i < sums.len() {
                    sums[i] += lanes.hsum(*r);
                }
                *r = lanes.zero();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_fmsub_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_set1_ps, _mm256_setzero_ps,
    };

    use super::{Lanes, PackedPool, PackedTargets, tile_sums};
    use crate::kernel::{hsum, xlogx8};

    /// Most accumulators of a tile (`U · W · D²`).
    const MAX_ACC: usize = 12;

    /// AVX2 + FMA registers; a value exists only where the CPU has both.
    #[derive(Clone, Copy)]
    struct Avx2(());

    impl Avx2 {
        /// # Safety
        /// AVX2 and FMA must be available.
        const unsafe fn new() -> Self {
            Self(())
        }
    }

    // SAFETY (every block below): an `Avx2` exists only where AVX2 and FMA are available.
    impl Lanes for Avx2 {
        type V = __m256;
        const WIDTH: usize = 8;

        #[inline(always)]
        fn zero(self) -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }

        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }

        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }

        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }

        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }

        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }

        #[inline(always)]
        fn mul_sub(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmsub_ps(a, b, c) }
        }

        #[inline(always)]
        fn xlogx(self, x: __m256) -> __m256 {
            unsafe { xlogx8(x) }
        }

        #[inline(always)]
        fn hsum(self, v: __m256) -> f64 {
            unsafe { hsum(v) }
        }
    }

    /// # Safety
    /// AVX2 and FMA must be available; `pool` and `targets` packed for this `k` and
    /// `C = D + 1` with the tile shape `(U, W)` of `Isa::Avx2.tile_shape(D)`;
    /// `sums.len() == pool.inputs`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sums<const U: usize, const W: usize, const D: usize>(
        pool: &PackedPool,
        targets: &PackedTargets,
        k: usize,
        scale: f32,
        sums: &mut [f64],
    ) {
        // SAFETY: the caller guarantees AVX2 and FMA.
        let lanes = unsafe { Avx2::new() };
        tile_sums::<_, U, W, D, MAX_ACC>(lanes, pool, targets, k, scale, sums);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _CMP_GE_OQ, _CMP_LT_OQ, _MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO, _mm512_add_ps,
        _mm512_cmp_ps_mask, _mm512_fmadd_ps, _mm512_fmsub_ps, _mm512_getexp_ps, _mm512_getmant_ps,
        _mm512_loadu_ps, _mm512_mask_add_ps, _mm512_maskz_mul_ps, _mm512_mul_ps, _mm512_set1_ps,
        _mm512_setzero_ps, _mm512_sub_ps,
    };

    use super::{Lanes, PackedPool, PackedTargets, tile_sums};

    const LANES: usize = 16;
    /// Most accumulators of a tile (`U · W · D²`).
    const MAX_ACC: usize = 24;

    /// `P` of `ln(1 + r) ≈ r − r²/2 + r³ P(r)` on `r ∈ [−¼, ½)` (the mantissa range of
    /// `vgetmantps` with the [0.75, 1.5) interval), highest degree first: a degree-5
    /// least-maximum-error fit (Lawson's iteratively reweighted least squares), max error
    /// 8.7e-8 in f32 arithmetic.
    const LN_TAIL_P75: [f32; 6] = [
        -0.064_232_54,
        0.138_949_96,
        -0.173_159_9,
        0.201_244_52,
        -0.249_844_16,
        0.333_299_28,
    ];

    /// `x ln x` on 16 lanes, 0 for `x` below the smallest normal float (and for negative
    /// `x`, which rounding can give a joint entry that is 0). AVX-512's `vgetexpps` and
    /// `vgetmantps` split `x = m · 2^e` with `m ∈ [0.75, 1.5)` in two instructions, where
    /// the AVX2 kernel needs nine integer and mask operations; then `ln x = e ln 2 +
    /// ln m` with [`LN_TAIL_P75`].
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn xlogx16(x: __m512) -> __m512 {
        let m = _mm512_getmant_ps::<_MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO>(x);
        // getexp gives e for m ∈ [1, 2); getmant halved m when it was ≥ 1.5.
        let e = _mm512_getexp_ps(x);
        let halved = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(m, _mm512_set1_ps(1.0));
        let e = _mm512_mask_add_ps(e, halved, e, _mm512_set1_ps(1.0));
        let r = _mm512_sub_ps(m, _mm512_set1_ps(1.0));
        let z = _mm512_mul_ps(r, r);
        let mut y = _mm512_set1_ps(LN_TAIL_P75[0]);
        for &c in &LN_TAIL_P75[1..] {
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(c));
        }
        y = _mm512_mul_ps(_mm512_mul_ps(y, r), z);
        y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5), y);
        let ln = _mm512_fmadd_ps(
            e,
            _mm512_set1_ps(std::f32::consts::LN_2),
            _mm512_add_ps(r, y),
        );
        let normal = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(f32::MIN_POSITIVE));
        _mm512_maskz_mul_ps(normal, x, ln)
    }

    /// [`xlogx16`] in place on 16 floats (for tests).
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[cfg(test)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn xlogx16_slice(lanes: &mut [f32; 16]) {
        // SAFETY: `lanes` holds 16 floats.
        unsafe {
            let v = xlogx16(_mm512_loadu_ps(lanes.as_ptr()));
            std::arch::x86_64::_mm512_storeu_ps(lanes.as_mut_ptr(), v);
        }
    }

    /// AVX-512F registers; a value exists only where the CPU has AVX-512F.
    #[derive(Clone, Copy)]
    struct Avx512(());

    impl Avx512 {
        /// # Safety
        /// AVX-512F must be available.
        const unsafe fn new() -> Self {
            Self(())
        }
    }

    // SAFETY (every block below): an `Avx512` exists only where AVX-512F is available.
    impl Lanes for Avx512 {
        type V = __m512;
        const WIDTH: usize = LANES;

        #[inline(always)]
        fn zero(self) -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }

        #[inline(always)]
        fn splat(self, x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }

        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }

        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }

        #[inline(always)]
        fn mul(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }

        #[inline(always)]
        fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }

        #[inline(always)]
        fn mul_sub(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmsub_ps(a, b, c) }
        }

        #[inline(always)]
        fn xlogx(self, x: __m512) -> __m512 {
            unsafe { xlogx16(x) }
        }

        #[inline(always)]
        fn hsum(self, v: __m512) -> f64 {
            unsafe { hsum(v) }
        }
    }

    /// # Safety
    /// AVX-512F must be available; `pool` and `targets` packed for this `k` and
    /// `C = D + 1` with the AVX-512 tile shape `(U, W)`; `sums.len() == pool.inputs`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sums<const U: usize, const W: usize, const D: usize>(
        pool: &PackedPool,
        targets: &PackedTargets,
        k: usize,
        scale: f32,
        sums: &mut [f64],
    ) {
        // SAFETY: the caller guarantees AVX-512F.
        let lanes = unsafe { Avx512::new() };
        tile_sums::<_, U, W, D, MAX_ACC>(lanes, pool, targets, k, scale, sums);
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(v: __m512) -> f64 {
        let mut lanes = [0.0f32; LANES];
        // SAFETY: `lanes` holds 16 floats.
        unsafe { std::arch::x86_64::_mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().map(|&l| f64::from(l)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_inputs(n: usize, k: usize, c: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut flat = Vec::with_capacity(n * k * c);
        for _ in 0..n * k {
            let raw: Vec<f32> = (0..c).map(|_| rng.random::<f32>().powi(3)).collect();
            let sum: f32 = raw.iter().sum();
            flat.extend(raw.iter().map(|v| v / sum));
        }
        flat
    }

    #[test]
    fn every_instruction_set_agrees_with_the_scalar_statement() {
        // The scalar code is never chosen on x86-64; it states what the intrinsics compute.
        for isa in [Isa::Avx2, Isa::Avx512] {
            if Isa::detect(isa) != Some(isa) {
                continue;
            }
            for c in 2..=MAX_CLASSES {
                let (n, m, k) = (23, 37, 11);
                let pool = random_inputs(n, k, c, 1);
                let targets = pack_targets(&random_inputs(m, k, c, 2), m, k, c, isa);
                let mut packed = PackedPool::default();
                packed.pack(pool.chunks_exact(k * c), k, c, isa);
                let (mut simd, mut scalar) = (vec![0.0; n], vec![0.0; n]);
                joint_xlogx(&packed, &targets, k, c, &mut simd);
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let scale = (1.0 / k as f64) as f32;
                scalar_sums(&packed, &targets, k, c, scale, &mut scalar);
                for (a, b) in simd.iter().zip(&scalar) {
                    assert!(
                        (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                        "{isa:?} C={c}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// `x ln x` in f64 and a grid over every binade of normal floats in (0, 1], the ends,
    /// subnormals, zero and negatives.
    fn xlogx_cases() -> Vec<f32> {
        let mut xs = vec![
            0.0f32,
            -0.0,
            -1e-7,
            -0.5,
            1e-40,
            f32::MIN_POSITIVE,
            1.0,
            0.999_999_9,
        ];
        let mut x = f32::MIN_POSITIVE;
        while x < 1.0 {
            for step in 0..64 {
                xs.push(x * (1.0 + step as f32 / 64.0));
            }
            x *= 2.0;
        }
        xs
    }

    fn check_xlogx(name: &str, got: f32, x: f32) {
        let want = if x >= f32::MIN_POSITIVE {
            f64::from(x) * f64::from(x).ln()
        } else {
            0.0
        };
        // ln x is accurate to ~1e-7 absolute, so x ln x to ~1e-7·x plus a few roundings.
        let tol = 2e-7 * f64::from(x.max(0.0)) + 3e-7 * want.abs();
        assert!(
            (f64::from(got) - want).abs() <= tol,
            "{name}({x:e}) = {got:e}, want {want:e}"
        );
    }

    #[test]
    #[allow(unsafe_code)]
    fn the_vector_logarithms_match_f64() {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm256_loadu_ps, _mm256_storeu_ps};
            let xs = xlogx_cases();
            if Isa::detect(Isa::Avx2).is_some() {
                for chunk in xs.chunks(8) {
                    let mut lanes = [0.0f32; 8];
                    lanes[..chunk.len()].copy_from_slice(chunk);
                    // SAFETY: AVX2 and FMA are available (checked above); `lanes` holds 8.
                    unsafe {
                        let v = kernel::xlogx8(_mm256_loadu_ps(lanes.as_ptr()));
                        _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                    }
                    for (&x, &got) in chunk.iter().zip(&lanes) {
                        check_xlogx("xlogx8", got, x);
                    }
                }
            }
            if Isa::detect(Isa::Avx512) == Some(Isa::Avx512) {
                for chunk in xs.chunks(16) {
                    let mut lanes = [0.0f32; 16];
                    lanes[..chunk.len()].copy_from_slice(chunk);
                    // SAFETY: AVX-512F is available (checked above); `lanes` holds 16.
                    unsafe { avx512::xlogx16_slice(&mut lanes) };
                    for (&x, &got) in chunk.iter().zip(&lanes) {
                        check_xlogx("xlogx16", got, x);
                    }
                }
            }
        }
    }

    #[test]
    fn row_sum_spread_is_max_minus_min() {
        let input = [0.5f32, 0.5, 0.25, 0.75, 0.5, 0.5000001];
        let spread = row_sum_spread(&input, 2);
        let want = (0.5f64 + f64::from(0.500_000_1f32)) - 1.0;
        assert!((spread - want).abs() < 1e-12);
        assert_eq!(row_sum_spread(&[], 3), 0.0);
    }
}
