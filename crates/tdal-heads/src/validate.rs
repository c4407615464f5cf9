//! Boundary checks shared by the heads: shapes, finiteness and labels are checked once
//! here, then trusted inside.

use ndarray::ArrayView2;

use crate::{Error, Result};

/// The most classes C a head fits (65,536). A head predicts `[N, K, C]` and keeps C
/// values per leaf (the forest) or per output unit (the Laplace head), so a stray huge
/// label, which makes C = label + 1, would otherwise ask for an absurd allocation. The
/// `tdal forest` command and the Python `tdal.RandomForest` use this same limit.
pub const MAX_CLASSES: usize = 1 << 16;

/// Checks that a number of classes asked for in a head's parameters is at most
/// [`MAX_CLASSES`] (the heads' own `check` rejects 0).
///
/// # Errors
/// [`Error::InvalidParam`] naming `n_classes`.
pub(crate) fn check_n_classes(n_classes: usize) -> Result<()> {
    if n_classes > MAX_CLASSES {
        return Err(Error::InvalidParam {
            name: "n_classes",
            value: n_classes.to_string(),
            expected: format!(
                "at most {MAX_CLASSES} (predictions hold C probabilities per sample and row)"
            ),
        });
    }
    Ok(())
}

/// Checks training inputs and returns the number of classes: `n_classes` if given, else
/// `max(y) + 1`, at most [`MAX_CLASSES`] either way.
pub(crate) fn check_training(
    x: ArrayView2<'_, f32>,
    y: &[u32],
    n_classes: Option<usize>,
    min_samples: usize,
) -> Result<usize> {
    let (rows, cols) = x.dim();
    if rows != y.len() {
        return Err(Error::LengthMismatch {
            features: rows,
            labels: y.len(),
        });
    }
    if rows < min_samples {
        return Err(Error::TooFewSamples {
            found: rows,
            needed: min_samples,
        });
    }
    if cols == 0 {
        return Err(Error::NoFeatures { rows });
    }
    check_finite(x, "training features")?;
    let n_classes = match n_classes {
        Some(n_classes) => {
            check_n_classes(n_classes)?;
            n_classes
        }
        None => {
            if let Some((row, &label)) = y
                .iter()
                .enumerate()
                .find(|&(_, &label)| label as usize >= MAX_CLASSES)
            {
                return Err(Error::TooManyClasses {
                    label,
                    row,
                    max: MAX_CLASSES,
                });
            }
            y.iter().copied().max().unwrap_or(0) as usize + 1
        }
    };
    if let Some((row, &label)) = y
        .iter()
        .enumerate()
        .find(|&(_, &label)| label as usize >= n_classes)
    {
        return Err(Error::LabelOutOfRange {
            label,
            row,
            n_classes,
        });
    }
    Ok(n_classes)
}

/// Checks prediction inputs against the width seen at fit time.
pub(crate) fn check_test(x: ArrayView2<'_, f32>, n_features: usize) -> Result<()> {
    let (rows, cols) = x.dim();
    if cols != n_features {
        return Err(Error::FeatureMismatch {
            expected: n_features,
            found: cols,
            rows,
        });
    }
    check_finite(x, "test features")
}

fn check_finite(x: ArrayView2<'_, f32>, what: &'static str) -> Result<()> {
    // Fast path first: the slow, indexed scan only runs to name the offending cell.
    if x.iter().all(|value| value.is_finite()) {
        return Ok(());
    }
    for ((row, feature), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what,
                row,
                feature,
                value,
            });
        }
    }
    Ok(())
}
