//! Mean ± standard error over seeds, as the paper reports them, and their printing.

use serde::Serialize;

/// The mean of a few seeds' values and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// How many values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator) / √n; `None` for fewer than 2 values.
    pub se: Option<f64>,
}

impl Estimate {
    /// Mean and standard error of `values`; `None` when there are none.
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // a handful of seeds
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let se = (values.len() > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (var / n).sqrt()
        });
        Some(Self {
            n: values.len(),
            mean,
            se,
        })
    }

    /// The same estimate with mean and s.e. multiplied by `factor` (fractions to %).
    #[must_use]
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            n: self.n,
            mean: self.mean * factor,
            se: self.se.map(|se| se * factor),
        }
    }
}

/// `mean ± se` with `decimals` decimals, or `mean (n=1)` without a standard error (one
/// value).
#[must_use]
pub fn mean_se(mean: f64, se: Option<f64>, decimals: usize) -> String {
    match se {
        Some(se) => format!("{mean:.decimals$} ± {se:.decimals$}"),
        None => format!("{mean:.decimals$} (n=1)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error_match_a_hand_computation() {
        // 90, 94, 98: mean 94, deviations −4, 0, 4, sample variance 32 / 2 = 16, sd 4,
        // s.e. 4 / √3 = 2.3094.
        let e = Estimate::of(&[0.90, 0.94, 0.98]).unwrap().scaled(100.0);
        assert_eq!(e.n, 3);
        assert!((e.mean - 94.0).abs() < 1e-9);
        assert!((e.se.unwrap() - 4.0 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(mean_se(e.mean, e.se, 2), "94.00 ± 2.31");
    }

    #[test]
    fn one_value_has_no_standard_error() {
        let e = Estimate::of(&[0.5]).unwrap();
        assert_eq!(e.se, None);
        let e = e.scaled(100.0);
        assert_eq!(mean_se(e.mean, e.se, 1), "50.0 (n=1)");
        assert!(Estimate::of(&[]).is_none());
    }
}
