//! A safe, bounds-checked front to the `gemm` crate (the matrix product candle's CPU backend
//! uses), for strided views into slices.

use std::mem::MaybeUninit;

use super::Real;
use super::uninit::{assume_init, write_all};

/// A read-only strided matrix view into a slice: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A dense row-major `rows × cols` matrix at the start of `data`.
    pub const fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed view (no copy).
    pub const fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// One past the largest offset the view touches (0 when empty).
    const fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
        }
    }
}

/// `dst ← lhs · rhs` (or `dst ← dst + lhs · rhs` with `accumulate`), `dst` dense row-major
/// `lhs.rows × rhs.cols` at the start of the slice. `parallel` lets `gemm` split the
/// output over rayon threads; it never splits the inner dimension, so the result is the
/// same for any thread count (tested in `ops::tests`).
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice.
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    accumulate: bool,
    parallel: bool,
) {
    let (m, n, k) = checked_dims(lhs, rhs);
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    let parallelism = if parallel && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let dst = &mut dst[..m * n];
    raw_gemm(
        dst.as_mut_ptr(),
        dst.len(),
        n,
        lhs,
        rhs,
        accumulate,
        parallelism,
    );
}

/// `dst ← lhs · rhs` into uninitialised memory (never read, every element written):
/// [`matmul`] without `accumulate`, single-threaded. Returns `dst`, which must hold exactly
/// `lhs.rows × rhs.cols` elements, initialised.
///
/// # Panics
/// When the shapes disagree, a view reaches past its slice or `dst` has another length.
pub(crate) fn matmul_uninit<'d, T: Real>(
    dst: &'d mut [MaybeUninit<T>],
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
) -> &'d mut [T] {
    let (m, n, k) = checked_dims(lhs, rhs);
    assert_eq!(dst.len(), m * n, "matmul: destination of another size");
    if m == 0 || n == 0 || k == 0 {
        return write_all(dst, std::iter::repeat_n(T::zero(), m * n));
    }
    raw_gemm(
        dst.as_mut_ptr().cast::<T>(),
        dst.len(),
        n,
        lhs,
        rhs,
        false,
        gemm::Parallelism::None,
    );
    // SAFETY: `gemm` without `read_dst` writes every element of the row-major `m × n`
    // destination (it computes each (i, j) for i < m, j < n, k ≥ 1) and reads none, and
    // the destination is exactly `dst` (asserted above).
    #[allow(unsafe_code)]
    unsafe {
        assume_init(dst)
    }
}

/// `(m, n, k)` of `lhs · rhs`.
///
/// # Panics
/// When the inner dimensions differ or a view reaches past its slice.
fn checked_dims<T>(lhs: Mat<'_, T>, rhs: Mat<'_, T>) -> (usize, usize, usize) {
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    assert_eq!(rhs.rows, k, "matmul: inner dimensions differ");
    assert!(
        lhs.span() <= lhs.data.len(),
        "matmul: lhs view out of bounds"
    );
    assert!(
        rhs.span() <= rhs.data.len(),
        "matmul: rhs view out of bounds"
    );
    (m, n, k)
}

/// The single call into `gemm`: `dst_len` elements from `dst`, which `gemm` reads only
/// with `accumulate`.
#[allow(unsafe_code, clippy::cast_possible_wrap)]
fn raw_gemm<T: Real>(
    dst: *mut T,
    dst_len: usize,
    n: usize,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = (lhs.rows, lhs.cols);
    // TDAL_KERNELS, unless the kernels were chosen explicitly (`kernels::set`).
    crate::kernels::env_default();
    debug_assert!(dst_len == m * n && lhs.span() <= lhs.data.len());
    debug_assert!(rhs.rows == k && rhs.cols == n && rhs.span() <= rhs.data.len());
    // SAFETY: the callers (`matmul`, `matmul_uninit`) checked that every offset gemm
    // reads, `i·rs + p·cs` for i < rows and p < cols, lies below the length of the borrowed
    // `lhs` and `rhs` slices (`span`), and that the row-major destination of `m · n`
    // elements (row stride n, column stride 1, so distinct (i, j) are distinct elements)
    // is exactly the `dst_len` elements at `dst`, which come from a unique borrow, so they
    // cannot alias the shared `lhs`/`rhs` borrows; without `accumulate` (the only mode of
    // `matmul_uninit`) gemm never reads them. `T` is f32 or f64
    // (`Real` is implemented for those only), which gemm supports natively. Strides are
    // slice lengths, far below `isize::MAX`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}
