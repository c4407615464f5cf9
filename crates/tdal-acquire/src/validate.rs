//! Checks at the boundary: probability arrays are validated once, then trusted inside.
//!
//! A probability array is `[N, K, C]`: N inputs, K posterior samples, C classes. Every
//! value must be finite and ≥ 0 and every row `[n, k, :]` must sum to 1 within
//! [`DEFAULT_TOLERANCE`]. Nothing is fixed silently: [`renormalise`] rescales rows when the
//! caller asks for it.

use ndarray::{ArrayView3, ArrayViewMut3, Axis};
use rayon::prelude::*;

use crate::{Error, Result};

/// Largest accepted `|Σ_c p[n, k, c] − 1|`.
pub const DEFAULT_TOLERANCE: f32 = 1e-3;

/// Inputs per parallel validation task.
const INPUTS_PER_TASK: usize = 256;

/// Checks that `probs` is a valid `[N, K, C]` array of probabilities.
///
/// # Shapes
/// `probs`: `[N, K, C]`, every axis ≥ 1.
///
/// # Errors
/// [`Error::EmptyAxis`], [`Error::NonFinite`], [`Error::Negative`] or
/// [`Error::NotNormalised`] for the first offending value (lowest `n`, then `k`, then `c`).
pub fn check_probs(probs: ArrayView3<'_, f32>, name: &'static str, tolerance: f32) -> Result<()> {
    let (n, k, c) = probs.dim();
    if n == 0 || k == 0 || c == 0 {
        return Err(Error::EmptyAxis {
            name,
            shape: vec![n, k, c],
        });
    }
    // Fast pass: one boolean per task, no index bookkeeping.
    let chunks: Vec<usize> = (0..n).step_by(INPUTS_PER_TASK).collect();
    let first_bad = chunks
        .par_iter()
        .filter_map(|&start| {
            let end = (start + INPUTS_PER_TASK).min(n);
            let block = probs.slice(ndarray::s![start..end, .., ..]);
            (!block_is_valid(block, tolerance)).then_some(start)
        })
        .min();
    match first_bad {
        None => Ok(()),
        Some(start) => {
            let end = (start + INPUTS_PER_TASK).min(n);
            Err(locate_error(probs, start..end, name, tolerance))
        }
    }
}

fn block_is_valid(block: ArrayView3<'_, f32>, tolerance: f32) -> bool {
    let c = block.dim().2;
    let check = |flat: &[f32]| values_are_valid(flat) && rows_sum_to_one(flat, c, tolerance);
    match block.as_slice() {
        Some(flat) => check(flat),
        None => block
            .lanes(Axis(2))
            .into_iter()
            .all(|row| check(&row.to_vec())),
    }
}

/// No NaN, no infinity, no negative value. Counts instead of short-circuiting so the loop
/// vectorises; callers pass blocks far below `u32::MAX` values.
fn values_are_valid(values: &[f32]) -> bool {
    #[allow(clippy::manual_range_contains)]
    let bad: u32 = values
        .iter()
        .map(|&p| u32::from(!(p >= 0.0 && p <= f32::MAX)))
        .sum();
    bad == 0
}

/// Every row of `classes` consecutive values sums to 1 within `tolerance` (a NaN sum fails).
fn rows_sum_to_one(values: &[f32], classes: usize, tolerance: f32) -> bool {
    /// With C known at compile time the row sum unrolls and the loop vectorises.
    fn fixed<const C: usize>(values: &[f32], tolerance: f32) -> bool {
        let bad: u32 = values
            .chunks_exact(C)
            // `>` would let a NaN sum through; `is_le` of a NaN comparison is false.
            .map(|row| {
                let within = (row.iter().sum::<f32>() - 1.0)
                    .abs()
                    .partial_cmp(&tolerance)
                    .is_some_and(std::cmp::Ordering::is_le);
                u32::from(!within)
            })
            .sum();
        bad == 0
    }
    match classes {
        1 => fixed::<1>(values, tolerance),
        2 => fixed::<2>(values, tolerance),
        3 => fixed::<3>(values, tolerance),
        4 => fixed::<4>(values, tolerance),
        5 => fixed::<5>(values, tolerance),
        6 => fixed::<6>(values, tolerance),
        8 => fixed::<8>(values, tolerance),
        10 => fixed::<10>(values, tolerance),
        _ => values
            .chunks_exact(classes)
            .all(|row| (row.iter().sum::<f32>() - 1.0).abs() <= tolerance),
    }
}

fn locate_error(
    probs: ArrayView3<'_, f32>,
    inputs: std::ops::Range<usize>,
    name: &'static str,
    tolerance: f32,
) -> Error {
    for n in inputs {
        for (k, row) in probs.index_axis(Axis(0), n).outer_iter().enumerate() {
            let mut sum = 0.0f32;
            for (c, &p) in row.iter().enumerate() {
                if !p.is_finite() {
                    return Error::NonFinite {
                        name,
                        index: [n, k, c],
                        value: p,
                    };
                }
                if p < 0.0 {
                    return Error::Negative {
                        name,
                        index: [n, k, c],
                        value: p,
                    };
                }
                sum += p;
            }
            if (sum - 1.0).abs() > tolerance {
                return Error::NotNormalised {
                    name,
                    n,
                    k,
                    sum,
                    tolerance,
                };
            }
        }
    }
    unreachable_invalid_block()
}

#[cold]
fn unreachable_invalid_block() -> Error {
    // The fast pass and the locating pass apply the same tests; reaching this means they
    // disagree, which would be a bug. Report it as an invalid parameter rather than panic.
    Error::InvalidParameter {
        name: "probabilities",
        value: "inconsistent validation".into(),
        expected: "finite, non-negative rows summing to 1",
    }
}

/// Rescales every row `[n, k, :]` to sum to exactly 1 (in f32), for callers that hold
/// unnormalised scores on purpose. Returns how many rows were changed by more than
/// [`DEFAULT_TOLERANCE`].
///
/// # Errors
/// [`Error::NonFinite`] or [`Error::Negative`] for invalid values, [`Error::ZeroRow`] for a
/// row summing to 0, [`Error::EmptyAxis`] for an empty axis.
pub fn renormalise(mut probs: ArrayViewMut3<'_, f32>, name: &'static str) -> Result<usize> {
    let (n_inputs, k, c) = probs.dim();
    if n_inputs == 0 || k == 0 || c == 0 {
        return Err(Error::EmptyAxis {
            name,
            shape: vec![n_inputs, k, c],
        });
    }
    let mut changed = 0;
    for (n, mut input) in probs.outer_iter_mut().enumerate() {
        for (k, mut row) in input.outer_iter_mut().enumerate() {
            let mut sum = 0.0f64;
            for (c, &p) in row.iter().enumerate() {
                if !p.is_finite() {
                    return Err(Error::NonFinite {
                        name,
                        index: [n, k, c],
                        value: p,
                    });
                }
                if p < 0.0 {
                    return Err(Error::Negative {
                        name,
                        index: [n, k, c],
                        value: p,
                    });
                }
                sum += f64::from(p);
            }
            if sum <= 0.0 {
                return Err(Error::ZeroRow { name, n, k });
            }
            if (sum - 1.0).abs() > f64::from(DEFAULT_TOLERANCE) {
                changed += 1;
            }
            #[allow(clippy::cast_possible_truncation)]
            row.mapv_inplace(|p| (f64::from(p) / sum) as f32);
        }
    }
    Ok(changed)
}

/// Checks that pool and targets agree on K and C.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub(crate) fn check_same_samples(
    pool: (usize, usize, usize),
    targets: (usize, usize, usize),
) -> Result<()> {
    if pool.1 != targets.1 || pool.2 != targets.2 {
        return Err(Error::ShapeMismatch {
            pool_k: pool.1,
            pool_c: pool.2,
            targets_k: targets.1,
            targets_c: targets.2,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn uniform(n: usize, k: usize, c: usize) -> Array3<f32> {
        #[allow(clippy::cast_precision_loss)]
        Array3::from_elem((n, k, c), 1.0 / c as f32)
    }

    #[test]
    fn valid_probabilities_pass() {
        assert_eq!(
            check_probs(uniform(700, 3, 4).view(), "pool", DEFAULT_TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn first_offending_value_is_reported() {
        let mut p = uniform(600, 2, 2);
        p[[300, 1, 0]] = f32::NAN;
        p[[599, 0, 1]] = -0.5;
        let err = check_probs(p.view(), "pool", DEFAULT_TOLERANCE).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFinite {
                    index: [300, 1, 0],
                    ..
                }
            ),
            "{err}"
        );
        p[[300, 1, 0]] = 0.6;
        let err = check_probs(p.view(), "pool", DEFAULT_TOLERANCE).unwrap_err();
        assert!(
            matches!(err, Error::NotNormalised { n: 300, k: 1, .. }),
            "{err}"
        );
        p[[300, 1, 0]] = 0.5;
        let err = check_probs(p.view(), "pool", DEFAULT_TOLERANCE).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Negative {
                    index: [599, 0, 1],
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_axes_are_rejected() {
        for shape in [(0, 1, 1), (1, 0, 1), (1, 1, 0)] {
            let p = Array3::<f32>::zeros(shape);
            assert!(matches!(
                check_probs(p.view(), "pool", 1e-3),
                Err(Error::EmptyAxis { .. })
            ));
        }
    }

    #[test]
    fn non_contiguous_views_are_checked() {
        let mut p = uniform(4, 3, 2);
        p[[2, 1, 0]] = 0.9;
        let view = p.view().permuted_axes([0, 1, 2]);
        let stepped = view.slice(ndarray::s![..;2, .., ..]);
        assert!(check_probs(stepped, "pool", 1e-3).is_err());
    }

    #[test]
    fn renormalise_rescales_and_counts() {
        let mut p = uniform(2, 2, 2);
        p[[1, 0, 0]] = 3.0;
        p[[1, 0, 1]] = 1.0;
        assert_eq!(renormalise(p.view_mut(), "pool"), Ok(1));
        assert!((p[[1, 0, 0]] - 0.75).abs() < 1e-7);
        assert_eq!(check_probs(p.view(), "pool", 1e-6), Ok(()));
        p[[0, 1, 0]] = 0.0;
        p[[0, 1, 1]] = 0.0;
        assert!(matches!(
            renormalise(p.view_mut(), "pool"),
            Err(Error::ZeroRow { n: 0, k: 1, .. })
        ));
    }
}
