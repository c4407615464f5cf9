//! Stochastic prediction heads for tdal.
//!
//! A head is fitted on embeddings of the labelled inputs and turns embeddings `[N, d]`
//! into posterior predictive samples `[N, K, C]` (K samples θ_k of the head's parameters,
//! C classes, rows summing to 1): the input of every acquisition function in
//! `tdal-acquire`. Two heads:
//!
//! - [`RandomForest`]: the paper's head. Each tree is one posterior sample; CART with
//!   scikit-learn's `RandomForestClassifier` defaults, fitted and applied in parallel,
//!   seeded per tree so results do not depend on the thread count.
//! - [`LaplaceHead`]: an MLP `d → 128 → C` trained to its MAP under a N(0, I) prior, with
//!   a diagonal, tempered Laplace posterior (the paper's appendix C.3).
//!
//! ```
//! use ndarray::array;
//! use rand::SeedableRng;
//! use tdal_heads::{ForestParams, PredictionHead, RandomForest};
//!
//! let x = array![[0.0_f32, 0.0], [0.1, 0.2], [1.0, 1.0], [0.9, 1.1]];
//! let y = [0, 0, 1, 1];
//! let mut head = RandomForest::new(ForestParams { n_trees: 20, posterior_samples: 8, ..Default::default() })?;
//! head.fit(x.view(), &y, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
//! let samples = head.predict_samples(x.view())?;
//! assert_eq!(samples.dim(), (4, 8, 2)); // [N, K, C]
//! # Ok::<(), tdal_heads::Error>(())
//! ```
//!
//! Library code never prints; bad input is a typed [`Error`], never a panic.

mod error;
mod forest;
mod laplace;
mod validate;

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rand::RngCore;

pub use error::{Error, Result};
pub use forest::{ForestParams, MaxFeatures, RandomForest};
pub use laplace::{LaplaceHead, LaplaceParams};
pub use validate::MAX_CLASSES;

/// What [`PredictionHead::last_layer`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct LastLayerOutput {
    /// `h` `[N, H]`: the inputs of the last (affine) layer.
    pub features: Array2<f32>,
    /// `softmax(W h + b)` `[N, C]`.
    pub probs: Array2<f32>,
}

/// A head that can be fitted on labelled embeddings and sampled from.
///
/// Object-safe (the randomness comes in as `&mut dyn RngCore` or a seed) so the
/// active-learning loop can hold any head as `Box<dyn PredictionHead>`. A head is refitted
/// from the labelled set every round and keeps nothing across fits, so a resumed loop
/// needs no saved head state.
pub trait PredictionHead {
    /// Fits the head from `seed` alone, replacing any earlier fit: the same data and seed
    /// give the same head on any thread count.
    ///
    /// # Shapes
    /// `x`: `[N, d]` embeddings; `y`: `[N]` class labels in `0..C`.
    ///
    /// # Errors
    /// Mismatched lengths, too few rows, NaN/inf features, labels out of range.
    fn fit_seeded(&mut self, x: ArrayView2<'_, f32>, y: &[u32], seed: u64) -> Result<()>;

    /// Fits the head with a seed drawn from `rng`, as [`PredictionHead::fit_seeded`].
    ///
    /// # Shapes
    /// `x`: `[N, d]` embeddings; `y`: `[N]` class labels in `0..C`.
    ///
    /// # Errors
    /// As [`PredictionHead::fit_seeded`].
    fn fit(&mut self, x: ArrayView2<'_, f32>, y: &[u32], rng: &mut dyn RngCore) -> Result<()> {
        let seed = rng.next_u64();
        self.fit_seeded(x, y, seed)
    }

    /// Posterior predictive samples.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, K, C]`, each `[i, k, :]` a probability vector.
    ///
    /// # Errors
    /// Not fitted, a different `d` from training, NaN/inf features.
    fn predict_samples(&self, x: ArrayView2<'_, f32>) -> Result<Array3<f32>>;

    /// The mean prediction (what accuracy is measured on): by default the mean of the
    /// posterior samples; a head with a better estimate (the forest averages *all* its
    /// trees, not only the K sampled) overrides it.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, C]`, each row a probability vector.
    ///
    /// # Errors
    /// As [`PredictionHead::predict_samples`].
    fn predict_mean(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let samples = self.predict_samples(x)?;
        let (n, _, c) = samples.dim();
        Ok(samples
            .mean_axis(Axis(1))
            .unwrap_or_else(|| Array2::zeros((n, c))))
    }

    /// The features `h` that the head's last layer is affine in, with that network's
    /// probabilities `p = softmax(W h + b)`, for selectors built on last-layer gradient
    /// embeddings (SIMILAR, BADGE); `None` for heads without such a layer (the forest),
    /// the default. A head with a posterior over its weights answers for its point
    /// estimate (the Laplace head: the MAP network).
    ///
    /// # Shapes
    /// `x`: `[N, d]` → features `[N, H]`, probabilities `[N, C]`.
    ///
    /// # Errors
    /// As [`PredictionHead::predict_samples`].
    fn last_layer(&self, x: ArrayView2<'_, f32>) -> Option<Result<LastLayerOutput>> {
        let _ = x;
        None
    }

    /// The fitted head as bytes that its type reads back (the forest:
    /// [`RandomForest::to_bytes`], read by [`RandomForest::from_bytes`]), for exporting a
    /// trained model; `None` for heads that cannot be written (the default).
    fn serialized(&self) -> Option<Vec<u8>> {
        None
    }
}
