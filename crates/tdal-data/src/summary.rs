//! Per-split, per-class counts of a [`MessyPool`] and the imbalance actually achieved:
//! what `tdal data describe` shows. The summary is plain data with a `Display` table, so
//! the CLI prints it and tests assert on it.

use std::collections::BTreeMap;
use std::fmt;

use crate::pool::{LabelledSplit, MessyPool};

/// Counts of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSummary {
    /// Split name ("pool", "target inputs", "test", "initial labels").
    pub name: String,
    /// Number of images.
    pub total: usize,
    /// Count per label-map class.
    pub per_label: Vec<usize>,
}

/// What `describe` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSummary {
    /// Label-map class names.
    pub class_names: Vec<String>,
    /// `[C, H, W]`.
    pub image_shape: [usize; 3],
    /// The seed.
    pub seed: u64,
    /// Pool, target inputs, test, initial labels.
    pub splits: Vec<SplitSummary>,
    /// Pool count of each original (source, class), as `"source/class"`.
    pub pool_by_origin: Vec<(String, usize)>,
    /// Largest redundant original class in the pool / smallest target class.
    pub achieved_ir: f64,
    /// Fraction of the pool that is target-class images.
    pub target_share: f64,
}

fn split_summary(name: &str, split: &LabelledSplit, classes: usize) -> SplitSummary {
    SplitSummary {
        name: name.to_string(),
        total: split.len(),
        per_label: split.label_counts(classes),
    }
}

impl MessyPool {
    /// Counts per split and class, and the achieved imbalance.
    #[must_use]
    pub fn summary(&self) -> PoolSummary {
        let k = self.num_classes();
        let mut initial = vec![0; k];
        for &i in &self.initial_labelled {
            initial[self.pool.labels[i] as usize] += 1;
        }
        let mut by_origin: BTreeMap<(u16, u32), (usize, u32)> = BTreeMap::new();
        for (o, &l) in self.pool.origins.iter().zip(&self.pool.labels) {
            by_origin.entry((o.source, o.class)).or_insert((0, l)).0 += 1;
        }
        let largest_redundant = by_origin
            .values()
            .filter(|(_, l)| *l == 0)
            .map(|(n, _)| *n)
            .max()
            .unwrap_or(0);
        let pool_counts = self.pool.label_counts(k);
        let smallest_target = pool_counts[1..].iter().copied().min().unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let achieved_ir = if smallest_target == 0 {
            f64::INFINITY
        } else {
            largest_redundant as f64 / smallest_target as f64
        };
        #[allow(clippy::cast_precision_loss)]
        let target_share = if self.pool.is_empty() {
            0.0
        } else {
            (self.pool.len() - pool_counts[0]) as f64 / self.pool.len() as f64
        };
        PoolSummary {
            class_names: self.class_names.clone(),
            image_shape: self.image_shape(),
            seed: self.spec.seed,
            splits: vec![
                split_summary("pool", &self.pool, k),
                split_summary("target inputs", &self.target_inputs, k),
                split_summary("test", &self.test, k),
                SplitSummary {
                    name: "initial labels".into(),
                    total: self.initial_labelled.len(),
                    per_label: initial,
                },
            ],
            pool_by_origin: by_origin
                .iter()
                .map(|(&(s, c), &(n, _))| {
                    (
                        format!(
                            "{}/{}",
                            self.source_names[s as usize],
                            self.source_class_names[s as usize][c as usize]
                        ),
                        n,
                    )
                })
                .collect(),
            achieved_ir,
            target_share,
        }
    }
}

impl fmt::Display for PoolSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.image_shape;
        writeln!(f, "images: {c}×{h}×{w}, seed {}", self.seed)?;
        let map: Vec<String> = self
            .class_names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i} = {n}"))
            .collect();
        writeln!(f, "label map: {}", map.join(", "))?;
        writeln!(f)?;
        let width = self
            .class_names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        write!(f, "{:<15} {:>width$}", "split", "total")?;
        for name in &self.class_names {
            write!(f, " {name:>width$}")?;
        }
        writeln!(f)?;
        for s in &self.splits {
            write!(f, "{:<15} {:>width$}", s.name, s.total)?;
            for n in &s.per_label {
                write!(f, " {n:>width$}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "achieved imbalance ratio (largest redundant class / smallest target class in the pool): {:.2}",
            self.achieved_ir
        )?;
        writeln!(
            f,
            "target share of the pool: {:.2} %",
            100.0 * self.target_share
        )?;
        writeln!(f)?;
        writeln!(f, "pool by original class:")?;
        let name_width = self
            .pool_by_origin
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, n) in &self.pool_by_origin {
            writeln!(f, "  {name:<name_width$} {n:>7}")?;
        }
        Ok(())
    }
}
