//! Features replaced by their dense ranks, computed once per forest and shared by all
//! trees.
//!
//! Split search sorts a node's samples by one feature many times per tree; sorting
//! integer ranks packed with the sample id into one `u64` is several times cheaper than
//! sorting floats with an index payload, and partitioning by rank is exact. The sorted
//! distinct values turn a rank boundary back into a float threshold.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// Dense per-feature ranks (`0..distinct values`) of the training features.
pub(crate) struct RankTable {
    rows: usize,
    /// Feature-major: `ranks[feature * rows + row]`.
    ranks: Vec<u32>,
    /// Per feature, its distinct values in increasing order (`-0.0` and `0.0` are one).
    values: Vec<Vec<f32>>,
}

impl RankTable {
    /// Ranks every column of `x` (finite values, checked by the caller), in parallel.
    pub(crate) fn new(x: ArrayView2<'_, f32>) -> Self {
        let (rows, cols) = x.dim();
        let columns: Vec<(Vec<u32>, Vec<f32>)> = (0..cols)
            .into_par_iter()
            .map(|feature| {
                let column = x.column(feature);
                let mut order: Vec<u32> = (0..rows as u32).collect();
                order.sort_unstable_by(|&a, &b| column[a as usize].total_cmp(&column[b as usize]));
                let mut ranks = vec![0_u32; rows];
                let mut values: Vec<f32> = Vec::new();
                for &row in &order {
                    let value = column[row as usize];
                    if values.last() != Some(&value) {
                        values.push(value);
                    }
                    ranks[row as usize] = (values.len() - 1) as u32;
                }
                (ranks, values)
            })
            .collect();
        let mut ranks = Vec::with_capacity(rows * cols);
        let mut values = Vec::with_capacity(cols);
        for (column_ranks, column_values) in columns {
            ranks.extend_from_slice(&column_ranks);
            values.push(column_values);
        }
        Self {
            rows,
            ranks,
            values,
        }
    }

    /// The ranks of one feature, indexed by training row.
    pub(crate) fn column(&self, feature: usize) -> &[u32] {
        &self.ranks[feature * self.rows..(feature + 1) * self.rows]
    }

    /// A float threshold `t` with `value(rank) <= t < value(upper)` (`rank < upper`): the
    /// midpoint, as scikit-learn uses, or the lower value when the midpoint rounds up to
    /// the upper one.
    pub(crate) fn threshold(&self, feature: usize, rank: u32, upper: u32) -> f32 {
        debug_assert!(rank < upper);
        let lower = self.values[feature][rank as usize];
        let upper = self.values[feature][upper as usize];
        #[allow(clippy::cast_possible_truncation)]
        let mid = ((f64::from(lower) + f64::from(upper)) / 2.0) as f32;
        if mid >= lower && mid < upper {
            mid
        } else {
            lower
        }
    }
}
