//! Random forest whose individual trees are posterior samples.
//!
//! EPIG and BALD need `[N, K, C]` predictive samples; a random forest gives them for free
//! if each tree's class probabilities are kept apart instead of averaged (the paper's
//! head). No crates.io forest exposes per-tree probabilities with a per-tree seed at the
//! speed we need (comparison in `docs/PERFORMANCE.md`), so this one is written here:
//! scikit-learn's `RandomForestClassifier` defaults (CART, Gini, bootstrap, √d features
//! per split, fully grown), exact split search over ranks computed once per forest, and
//! branch-free multi-row routing for prediction.
//!
//! Tree `t` draws all its randomness from a ChaCha8 stream `t` of the forest seed, and
//! trees are fitted and applied in parallel with rayon, so a seed gives the same forest
//! and the same probabilities for any number of threads.

mod bytes;
mod ranks;
mod tree;

use ndarray::{Array2, Array3, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::validate::{check_n_classes, check_test, check_training};
use crate::{Error, PredictionHead, Result};
use ranks::RankTable;
use tree::{GrowSpec, Tree};

/// How many candidate features each split draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxFeatures {
    /// `max(1, ⌊√d⌋)`, scikit-learn's default for classification.
    Sqrt,
    /// `max(1, ⌊log₂ d⌋)`.
    Log2,
    /// All `d` features (bagged trees without feature sampling).
    All,
    /// A fixed count in `1..=d`.
    Count(usize),
}

impl MaxFeatures {
    fn resolve(self, n_features: usize) -> Result<usize> {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let count = match self {
            Self::Sqrt => (n_features as f64).sqrt().floor() as usize,
            Self::Log2 => (n_features as f64).log2().floor() as usize,
            Self::All => n_features,
            Self::Count(count) => {
                if count == 0 || count > n_features {
                    return Err(Error::InvalidParam {
                        name: "max_features",
                        value: count.to_string(),
                        expected: format!("a count in 1..={n_features} (the number of features)"),
                    });
                }
                count
            }
        };
        Ok(count.max(1))
    }
}

/// Hyper-parameters of [`RandomForest`]; the defaults are scikit-learn's
/// `RandomForestClassifier` defaults with 250 trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForestParams {
    /// Trees in the forest (all used by [`RandomForest::predict_mean`]).
    pub n_trees: usize,
    /// K, the trees returned as posterior samples by
    /// [`PredictionHead::predict_samples`] (the first K trees); at most `n_trees`.
    pub posterior_samples: usize,
    /// Candidate features per split.
    pub max_features: MaxFeatures,
    /// Depth limit; `None` grows every tree to purity.
    pub max_depth: Option<usize>,
    /// Fit each tree on a bootstrap sample (the default) or on all rows.
    pub bootstrap: bool,
    /// Number of classes C; `None` takes `max(label) + 1` at fit time. Set it when the
    /// labelled set may miss a class, so every fit gives the same C.
    pub n_classes: Option<usize>,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 250,
            posterior_samples: 100,
            max_features: MaxFeatures::Sqrt,
            max_depth: None,
            bootstrap: true,
            n_classes: None,
        }
    }
}

impl ForestParams {
    /// Validates the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for zero trees, `posterior_samples` outside
    /// `1..=n_trees`, `max_depth = Some(0)`, `n_classes` = `Some(0)` or more than
    /// [`MAX_CLASSES`](crate::MAX_CLASSES), or
    /// `max_features = Count(0)`.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, value: usize, expected: String| {
            Err(Error::InvalidParam {
                name,
                value: value.to_string(),
                expected,
            })
        };
        if self.n_trees == 0 {
            return invalid("n_trees", 0, "at least 1".into());
        }
        if self.posterior_samples == 0 || self.posterior_samples > self.n_trees {
            return invalid(
                "posterior_samples",
                self.posterior_samples,
                format!("1..={} (the number of trees)", self.n_trees),
            );
        }
        if self.max_depth == Some(0) {
            return invalid(
                "max_depth",
                0,
                "at least 1, or None to grow to purity".into(),
            );
        }
        if self.n_classes == Some(0) {
            return invalid("n_classes", 0, "at least 1".into());
        }
        if let Some(n_classes) = self.n_classes {
            check_n_classes(n_classes)?;
        }
        if self.max_features == MaxFeatures::Count(0) {
            return invalid("max_features", 0, "at least 1".into());
        }
        Ok(())
    }
}

/// The fitted part of a forest.
#[derive(Clone, Debug)]
struct Fitted {
    trees: Vec<Tree>,
    n_features: usize,
    n_classes: usize,
}

/// A random forest classifier whose trees are kept apart as posterior samples.
///
/// ```
/// use ndarray::array;
/// use tdal_heads::{ForestParams, RandomForest};
///
/// let x = array![[0.0_f32, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]];
/// let y = [0, 0, 1, 1];
/// let mut forest = RandomForest::new(ForestParams { n_trees: 10, posterior_samples: 5, ..Default::default() })?;
/// forest.fit_seeded(x.view(), &y, 0)?;
/// let per_tree = forest.predict_per_tree(x.view())?; // [4, 10, 2]
/// assert_eq!(per_tree.dim(), (4, 10, 2));
/// let mean = forest.predict_mean(x.view())?; // [4, 2]
/// assert!(mean[[0, 0]] > 0.5 && mean[[2, 1]] > 0.5);
/// # Ok::<(), tdal_heads::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomForest {
    params: ForestParams,
    fitted: Option<Fitted>,
}

impl RandomForest {
    /// An unfitted forest.
    ///
    /// # Errors
    /// Invalid parameters (see [`ForestParams::check`]).
    pub fn new(params: ForestParams) -> Result<Self> {
        params.check()?;
        Ok(Self {
            params,
            fitted: None,
        })
    }

    /// The forest's parameters.
    #[must_use]
    pub fn params(&self) -> &ForestParams {
        &self.params
    }

    /// Number of classes C once fitted.
    #[must_use]
    pub fn n_classes(&self) -> Option<usize> {
        self.fitted.as_ref().map(|fitted| fitted.n_classes)
    }

    /// Total node count per tree once fitted (a size diagnostic).
    #[must_use]
    pub fn tree_sizes(&self) -> Vec<usize> {
        self.fitted
            .as_ref()
            .map(|fitted| fitted.trees.iter().map(Tree::n_nodes).collect())
            .unwrap_or_default()
    }

    /// Fits all trees in parallel; tree `t` uses ChaCha8 stream `t` of `seed`, so the
    /// forest is identical for any thread count. Replaces any earlier fit.
    ///
    /// # Shapes
    /// `x`: `[N, d]`, `y`: `[N]` with classes `0..C`.
    ///
    /// # Errors
    /// Fewer than 2 rows, `x` and `y` of different lengths, no columns, a NaN/inf
    /// feature, a label `>= n_classes` (or, without `n_classes`, a label of
    /// [`MAX_CLASSES`](crate::MAX_CLASSES) or more: [`Error::TooManyClasses`]), more than
    /// 2³¹ rows, or `max_features` larger than `d`.
    pub fn fit_seeded(&mut self, x: ArrayView2<'_, f32>, y: &[u32], seed: u64) -> Result<()> {
        let n_classes = check_training(x, y, self.params.n_classes, 2)?;
        let (rows, n_features) = x.dim();
        let max_rows = 1_usize << 31;
        if rows > max_rows {
            return Err(Error::TooManySamples {
                found: rows,
                max: max_rows,
            });
        }
        let max_features = self.params.max_features.resolve(n_features)?;
        let ranks = RankTable::new(x);
        let spec = GrowSpec {
            ranks: &ranks,
            labels: y,
            n_features,
            n_classes,
            max_features,
            max_depth: self.params.max_depth.unwrap_or(usize::MAX),
            bootstrap: self.params.bootstrap,
        };
        let trees = (0..self.params.n_trees)
            .into_par_iter()
            .map(|index| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(index as u64);
                Tree::grow(&spec, &mut rng)
            })
            .collect();
        self.fitted = Some(Fitted {
            trees,
            n_features,
            n_classes,
        });
        Ok(())
    }

    fn fitted(&self) -> Result<&Fitted> {
        self.fitted.as_ref().ok_or(Error::NotFitted)
    }

    /// Class probabilities of every tree.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, n_trees, C]`, each `[i, t, :]` summing to 1.
    ///
    /// # Errors
    /// Not fitted, a different `d` from training, or a NaN/inf feature.
    pub fn predict_per_tree(&self, x: ArrayView2<'_, f32>) -> Result<Array3<f32>> {
        self.predict_first_trees(x, self.params.n_trees)
    }

    /// Class probabilities of the first `k` trees (posterior samples θ₁..θ_k).
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, k, C]`.
    ///
    /// # Errors
    /// Not fitted, `k` outside `1..=n_trees`, a different `d` from training, or a
    /// NaN/inf feature.
    pub fn predict_first_trees(&self, x: ArrayView2<'_, f32>, k: usize) -> Result<Array3<f32>> {
        let fitted = self.fitted()?;
        check_test(x, fitted.n_features)?;
        if k == 0 || k > fitted.trees.len() {
            return Err(Error::InvalidParam {
                name: "k (trees to predict with)",
                value: k.to_string(),
                expected: format!("1..={} (the number of trees)", fitted.trees.len()),
            });
        }
        let rows = x.nrows();
        let classes = fitted.n_classes;
        let mut out = Array3::<f32>::zeros((rows, k, classes));
        let Some(out_slice) = out.as_slice_mut() else {
            unreachable!("a freshly allocated array is contiguous")
        };
        if rows == 0 {
            return Ok(out);
        }
        let x = x.as_standard_layout();
        let x_slice = x.as_slice().unwrap_or_default();
        let d = fitted.n_features;
        let block = block_rows(d);
        let trees = &fitted.trees[..k];
        out_slice
            .par_chunks_mut(block * k * classes)
            .zip(x_slice.par_chunks(block * d))
            .for_each(|(out_block, x_block)| {
                // Trees go in groups: each group's nodes are reused by every row of the
                // block, and each row's `[group, C]` output segment is written in one go.
                let block_rows = x_block.len() / d;
                let mut slots = vec![0_u32; TREE_GROUP * block_rows];
                for first in (0..k).step_by(TREE_GROUP) {
                    let group = &trees[first..(first + TREE_GROUP).min(k)];
                    for (tree, tree_slots) in group.iter().zip(slots.chunks_exact_mut(block_rows)) {
                        tree.route(x_block, d, tree_slots);
                    }
                    let target = GroupOutput {
                        out: out_block,
                        k,
                        first,
                        rows: block_rows,
                    };
                    // Fixed widths for the common class counts: a run-time length would
                    // cost a `memcpy` call per (row, tree).
                    match classes {
                        2 => target.write::<2>(group, &slots),
                        3 => target.write::<3>(group, &slots),
                        4 => target.write::<4>(group, &slots),
                        _ => target.write_any(group, &slots, classes),
                    }
                }
            });
        Ok(out)
    }

    /// The forest's predictive distribution: the mean of all trees' probabilities.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, C]`.
    ///
    /// # Errors
    /// Not fitted, a different `d` from training, or a NaN/inf feature.
    pub fn predict_mean(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let fitted = self.fitted()?;
        check_test(x, fitted.n_features)?;
        let rows = x.nrows();
        let classes = fitted.n_classes;
        let mut out = Array2::<f32>::zeros((rows, classes));
        if rows == 0 {
            return Ok(out);
        }
        let Some(out_slice) = out.as_slice_mut() else {
            unreachable!("a freshly allocated array is contiguous")
        };
        let x = x.as_standard_layout();
        let x_slice = x.as_slice().unwrap_or_default();
        let d = fitted.n_features;
        let block = block_rows(d);
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / fitted.trees.len() as f64;
        out_slice
            .par_chunks_mut(block * classes)
            .zip(x_slice.par_chunks(block * d))
            .for_each(|(out_block, x_block)| {
                let mut slots = vec![0_u32; x_block.len() / d];
                let mut sums = vec![0.0_f64; out_block.len()];
                for tree in &fitted.trees {
                    tree.route(x_block, d, &mut slots);
                    for (row, &slot) in slots.iter().enumerate() {
                        for (sum, &p) in sums[row * classes..(row + 1) * classes]
                            .iter_mut()
                            .zip(tree.leaf_probs(slot))
                        {
                            *sum += f64::from(p);
                        }
                    }
                }
                #[allow(clippy::cast_possible_truncation)]
                for (dst, sum) in out_block.iter_mut().zip(sums) {
                    *dst = (sum * scale) as f32;
                }
            });
        Ok(out)
    }
}

/// Trees routed together per row block in [`RandomForest::predict_first_trees`].
const TREE_GROUP: usize = 16;

/// Where a tree group's leaf probabilities go: rows `0..rows` of an `[rows, k, C]` block,
/// trees `first..first + group`.
struct GroupOutput<'a> {
    out: &'a mut [f32],
    k: usize,
    first: usize,
    rows: usize,
}

impl GroupOutput<'_> {
    /// `slots[g * rows + row]` is the leaf of `group[g]` for `row`.
    fn write<const C: usize>(self, group: &[Tree], slots: &[u32]) {
        for row in 0..self.rows {
            let start = (row * self.k + self.first) * C;
            let segment = &mut self.out[start..start + group.len() * C];
            for (g, (tree, dst)) in group.iter().zip(segment.chunks_exact_mut(C)).enumerate() {
                if let Ok(src) = <&[f32; C]>::try_from(tree.leaf_probs(slots[g * self.rows + row]))
                {
                    dst.copy_from_slice(src);
                }
            }
        }
    }

    fn write_any(self, group: &[Tree], slots: &[u32], classes: usize) {
        for row in 0..self.rows {
            let start = (row * self.k + self.first) * classes;
            let segment = &mut self.out[start..start + group.len() * classes];
            for (g, (tree, dst)) in group
                .iter()
                .zip(segment.chunks_exact_mut(classes))
                .enumerate()
            {
                dst.copy_from_slice(tree.leaf_probs(slots[g * self.rows + row]));
            }
        }
    }
}

/// Rows per parallel prediction block: as many as keep the block's features in L2
/// (at most 4096), so every tree's upper levels are reused by many rows.
fn block_rows(n_features: usize) -> usize {
    (262_144 / n_features.max(1)).clamp(64, 4096)
}

impl PredictionHead for RandomForest {
    /// [`RandomForest::to_bytes`].
    fn serialized(&self) -> Option<Vec<u8>> {
        Some(Self::to_bytes(self))
    }

    /// As [`RandomForest::fit_seeded`].
    fn fit_seeded(&mut self, x: ArrayView2<'_, f32>, y: &[u32], seed: u64) -> Result<()> {
        Self::fit_seeded(self, x, y, seed)
    }

    /// The mean over *all* trees, as [`RandomForest::predict_mean`].
    fn predict_mean(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        Self::predict_mean(self, x)
    }

    /// The first `posterior_samples` trees' probabilities, `[N, K, C]`.
    fn predict_samples(&self, x: ArrayView2<'_, f32>) -> Result<Array3<f32>> {
        self.predict_first_trees(x, self.params.posterior_samples)
    }
}
