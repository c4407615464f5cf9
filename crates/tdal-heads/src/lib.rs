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

use ndarray::{Array3, ArrayView2};
use rand::RngCore;

pub use error::{Error, Result};
pub use forest::{ForestParams, MaxFeatures, RandomForest};
pub use laplace::{LaplaceHead, LaplaceParams};

/// A head that can be fitted on labelled embeddings and sampled from.
///
/// Object-safe (the randomness comes in as `&mut dyn RngCore`) so the active-learning
/// loop can hold any head as `Box<dyn PredictionHead>`.
pub trait PredictionHead {
    /// Fits the head, replacing any earlier fit.
    ///
    /// # Shapes
    /// `x`: `[N, d]` embeddings; `y`: `[N]` class labels in `0..C`.
    ///
    /// # Errors
    /// Mismatched lengths, too few rows, NaN/inf features, labels out of range.
    fn fit(&mut self, x: ArrayView2<'_, f32>, y: &[u32], rng: &mut dyn RngCore) -> Result<()>;

    /// Posterior predictive samples.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, K, C]`, each `[i, k, :]` a probability vector.
    ///
    /// # Errors
    /// Not fitted, a different `d` from training, NaN/inf features.
    fn predict_samples(&self, x: ArrayView2<'_, f32>) -> Result<Array3<f32>>;
}
