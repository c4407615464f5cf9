//! The fused EPIG kernel for x86-64 with AVX2 and FMA: GEMM tile → `x ln x` → row sums,
//! without ever writing the joint to memory.
//!
//! A BLIS-style micro-kernel (Van Zee & van de Geijn 2015, "BLIS: A Framework for Rapidly
//! Instantiating BLAS Functionality") computes a 6 × 16 tile of `A · B` in twelve 8-lane
//! registers over the whole K (K is small: posterior samples), then applies `x ln x` to the
//! tile in registers and adds it to six per-row accumulators. `B` (the targets) is packed
//! once into 16-column panels and stays in L2; `A` (a block of pool rows) is packed per block
//! into 6-row panels and stays in L1. Padding rows and columns are zeros and `0 ln 0 = 0`,
//! so they add nothing.
//!
//! No crate does this fusion: a GEMM library must write its output tile to memory, and the
//! reduction must then read it back (that unfused path is [`crate::Epig`]'s portable
//! kernel, built on `matrixmultiply`). The intrinsics need `unsafe`; every pointer offset is
//! within slices whose lengths are checked on entry.

#![allow(unsafe_code)]

/// Column panels summed in f32 lanes before flushing to f64 (≤ 2048 columns).
const FLUSH_PANELS: usize = 64;

/// `P` of `ln(1 + x) ≈ x − x²/2 + x³ P(x)` on `x ∈ [√½ − 1, √2 − 1)`, highest degree
/// first: a degree-5 least-maximum-error fit (Lawson's iteratively reweighted least
/// squares), max error 9.6e-8 in f32 arithmetic against Cephes' degree-8 `P` at 3.6e-8.
/// The error of `x ln x` summed over a joint is at most that error times `Σ J = 1`, far
/// below the 1e-5 EPIG is tested to; three FMAs fewer per logarithm matter here because
/// the marginal-identity kernel spends a third of its time in `x ln x`. The scalar
/// [`crate::xlogx::xlogx`] keeps Cephes' polynomial.
pub(crate) const LN_TAIL: [f32; 6] = [
    -0.102_240_55,
    0.161_409_68,
    -0.171_668_74,
    0.199_102_6,
    -0.249_805_76,
    0.333_346_9,
];

/// Rows per micro-tile.
pub(crate) const MR: usize = 6;
/// Columns per micro-tile (two 8-lane registers).
pub(crate) const NR: usize = 16;

/// Whether this CPU can run the fused kernel (AVX2 and FMA).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Packs `B = [K × cols]` (row-major, `b[k * cols + j]`) into `nr`-column panels
/// `[panel][k][nr]`, zero-padded to a multiple of `nr` columns.
pub(crate) fn pack_b(b: &[f32], k: usize, cols: usize, nr: usize) -> Vec<f32> {
    let panels = cols.div_ceil(nr);
    let mut packed = vec![0.0f32; panels * k * nr];
    for p in 0..panels {
        for kk in 0..k {
            for l in 0..nr {
                let j = p * nr + l;
                if j < cols {
                    packed[(p * k + kk) * nr + l] = b[kk * cols + j];
                }
            }
        }
    }
    packed
}

/// Packs rows of `A` into `mr`-row panels `[panel][k][mr]`, zero-padded, from a
/// standard-layout pool block `[inputs, K, C]`: row `i·C + y` of `A` is `p(y | x_i, θ_·)`.
/// `out` must hold at least `ceil(inputs·C / mr) · K · mr` values.
pub(crate) fn pack_a(block: &[f32], inputs: usize, k: usize, c: usize, mr: usize, out: &mut [f32]) {
    let rows = inputs * c;
    let panels = rows.div_ceil(mr);
    let out = &mut out[..panels * k * mr];
    out.fill(0.0);
    for i in 0..inputs {
        let slab = &block[i * k * c..(i + 1) * k * c];
        for y in 0..c {
            let row = i * c + y;
            let (p, r) = (row / mr, row % mr);
            for kk in 0..k {
                out[(p * k + kk) * mr + r] = slab[kk * c + y];
            }
        }
    }
}

/// Adds `Σ_j xlogx(scale · (A·B)[row, j])` over all columns into `row_sums[row]` for every
/// real row of the packed `A` (padding rows are skipped).
///
/// # Shapes
/// `a_packed`: `≥ ceil(rows / mr) · k · mr` ([`pack_a`]); `b_packed`: `col_panels · k · nr`
/// ([`pack_b`]); `row_sums`: `≥ rows`.
pub(crate) fn joint_xlogx_rows(
    a_packed: &[f32],
    b_packed: &[f32],
    k: usize,
    scale: f32,
    rows: usize,
    row_sums: &mut [f64],
) {
    let (mr, nr) = (MR, NR);
    let row_panels = rows.div_ceil(mr);
    if k == 0 || rows == 0 {
        return;
    }
    let col_panels = b_packed.len() / (k * nr);
    let (a_packed, b_packed, row_sums) = (
        &a_packed[..row_panels * k * mr],
        &b_packed[..col_panels * k * nr],
        &mut row_sums[..rows],
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above) and the slices were
        // cut to exactly the lengths the kernel indexes.
        unsafe {
            avx2::rows(
                a_packed, b_packed, k, scale, rows, row_panels, col_panels, row_sums,
            );
        }
        return;
    }
    scalar_rows(a_packed, b_packed, (mr, nr), k, scale, rows, row_sums);
}

/// The same computation in plain Rust, for a CPU without AVX2/FMA (never chosen by
/// [`crate::Epig`], which then uses its portable kernel; kept so the function is total).
fn scalar_rows(
    a: &[f32],
    b: &[f32],
    (mr, nr): (usize, usize),
    k: usize,
    scale: f32,
    rows: usize,
    row_sums: &mut [f64],
) {
    for (row, sum) in row_sums.iter_mut().enumerate().take(rows) {
        let (rp, r) = (row / mr, row % mr);
        for panel in b.chunks_exact(k * nr) {
            for l in 0..nr {
                let dot: f32 = (0..k)
                    .map(|kk| a[(rp * k + kk) * mr + r] * panel[kk * nr + l])
                    .sum();
                *sum += f64::from(crate::xlogx::xlogx(dot * scale));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::{hsum, xlogx8};

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _CMP_GE_OQ, _CMP_LT_OQ, _mm256_add_epi32, _mm256_add_ps, _mm256_and_ps,
        _mm256_and_si256, _mm256_broadcast_ss, _mm256_castps_si256, _mm256_castsi256_ps,
        _mm256_cmp_ps, _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm256_srli_epi32,
        _mm256_storeu_ps, _mm256_sub_epi32, _mm256_sub_ps,
    };

    use super::{FLUSH_PANELS, LN_TAIL, MR, NR};

    /// `x ln x` on 8 lanes: the range reduction of Cephes' `logf` ([`crate::xlogx::xlogx`])
    /// with the shorter polynomial [`LN_TAIL`], with FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn xlogx8(x: __m256) -> __m256 {
        let bits = _mm256_castps_si256(x);
        let exponent = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(126));
        let mantissa = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f00_0000),
        ));
        let small =
            _mm256_cmp_ps::<_CMP_LT_OQ>(mantissa, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        // small is all-ones (−1 as an integer) where the mantissa is below √½.
        let exponent = _mm256_cvtepi32_ps(_mm256_add_epi32(exponent, _mm256_castps_si256(small)));
        let m = _mm256_add_ps(
            _mm256_sub_ps(mantissa, _mm256_set1_ps(1.0)),
            _mm256_and_ps(small, mantissa),
        );
        let z = _mm256_mul_ps(m, m);
        let mut y = _mm256_set1_ps(LN_TAIL[0]);
        for &c in &LN_TAIL[1..] {
            y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(c));
        }
        y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
        y = _mm256_fmadd_ps(exponent, _mm256_set1_ps(-2.121_944_4e-4), y);
        y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5), y);
        let ln = _mm256_fmadd_ps(exponent, _mm256_set1_ps(0.693_359_4), _mm256_add_ps(m, y));
        let normal = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(f32::MIN_POSITIVE));
        _mm256_and_ps(_mm256_mul_ps(x, ln), normal)
    }

    /// The sum of the 8 lanes, in f64.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn hsum(v: __m256) -> f64 {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().map(|&l| f64::from(l)).sum()
    }

    /// # Safety
    /// AVX2 and FMA must be available; `a.len() ≥ row_panels·k·6`, `b.len() ≥
    /// col_panels·k·16`, `row_sums.len() ≥ rows`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn rows(
        a: &[f32],
        b: &[f32],
        k: usize,
        scale: f32,
        rows: usize,
        row_panels: usize,
        col_panels: usize,
        row_sums: &mut [f64],
    ) {
        let scale = _mm256_set1_ps(scale);
        // Column panels outermost: one B panel (K·16 floats) stays in L1 while every row
        // panel of the block (A, in L2) streams past it; per-row sums live in `acc_rows`.
        let mut acc_rows = vec![_mm256_setzero_ps(); row_panels * MR];
        for cp in 0..col_panels {
            let b_panel = b[cp * k * NR..(cp + 1) * k * NR].as_ptr();
            for rp in 0..row_panels {
                let a_panel = a[rp * k * MR..(rp + 1) * k * MR].as_ptr();
                let mut c = [[_mm256_setzero_ps(); 2]; MR];
                for kk in 0..k {
                    // SAFETY: kk < k, so the 16 floats at b_panel + kk·16 and the 6 at
                    // a_panel + kk·6 lie inside the panels sliced above.
                    unsafe {
                        let b0 = _mm256_loadu_ps(b_panel.add(kk * NR));
                        let b1 = _mm256_loadu_ps(b_panel.add(kk * NR + 8));
                        let ak = a_panel.add(kk * MR);
                        for (r, cr) in c.iter_mut().enumerate() {
                            let ar = _mm256_broadcast_ss(&*ak.add(r));
                            cr[0] = _mm256_fmadd_ps(ar, b0, cr[0]);
                            cr[1] = _mm256_fmadd_ps(ar, b1, cr[1]);
                        }
                    }
                }
                let accs = &mut acc_rows[rp * MR..(rp + 1) * MR];
                for (acc, cr) in accs.iter_mut().zip(&c) {
                    let x0 = xlogx8(_mm256_mul_ps(cr[0], scale));
                    let x1 = xlogx8(_mm256_mul_ps(cr[1], scale));
                    *acc = _mm256_add_ps(*acc, _mm256_add_ps(x0, x1));
                }
            }
            if (cp + 1) % FLUSH_PANELS == 0 || cp + 1 == col_panels {
                for (row, acc) in acc_rows.iter_mut().enumerate() {
                    if row < rows {
                        row_sums[row] += hsum(*acc);
                    }
                    *acc = _mm256_setzero_ps();
                }
            }
        }
    }
}
