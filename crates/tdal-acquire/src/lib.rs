//! Acquisition functions and batch selection for Bayesian active learning.
//!
//! Everything here works on *posterior predictive samples*: an array `probs` of shape
//! **`[N, K, C]`** holding `p(y = c | x_n, θ_k)` for N inputs, K posterior samples θ_k
//! (ensemble members, trees of a forest, MC-dropout passes, Laplace samples, ...) and C
//! classes. Hand it the samples of any model and get scores back:
//!
//! - [`Entropy`], [`Bald`], [`Confidence`], [`Margin`], [`Random`]: pool-only scores;
//! - [`Epig`]: expected predictive information gain against samples of *target inputs*
//!   `[M, K, C]`, streamed in pool blocks with bounded memory whatever N is;
//! - [`Galaxy`]: GALAXY (Zhang et al. 2022), a batch chosen by graph bisection on
//!   one-vs-rest rankings of class probabilities `[N, C]`, labels revealed query by query;
//! - [`select`]: a batch from the scores, by [`Strategy::TopK`] or the stochastic
//!   power / softmax / soft-rank strategies (Gumbel-top-k, seeded);
//! - pools larger than one machine's memory, in shards: [`perturbed_keys`] and a
//!   bounded-memory [`TopB`] give exactly the batch [`select_seeded`] draws from the whole
//!   pool, and [`random_scores_at`] the whole pool's random scores, slice by slice;
//! - [`cluster_margin()`]: Cluster-Margin (Citovsky et al. 2021) from `[N, C]` probabilities
//!   and [`Clusters`] of the pool's embeddings, fitted once by average linkage;
//! - [`Flqmi`]: SIMILAR's targeted batch (Kothawade et al. 2021), pool inputs like labelled
//!   examples of the target classes, by lazy greedy maximisation of the FLQMI submodular
//!   mutual information over [`gradient_embeddings`] (arrays in, indices out).
//!
//! All scores are in nats where they are information measures, higher means "acquire
//! first", and inputs are validated once at the boundary ([`check_probs`]): finite,
//! non-negative, rows summing to 1 within 1e-3 ([`renormalise`] rescales on request).
//! This crate depends only on ndarray, rayon, rand and kodama (clustering): no
//! deep-learning framework.
//!
//! ```
//! use ndarray::Array3;
//! use rand::SeedableRng;
//! use tdal_acquire::{Acquisition, Bald, Epig, Strategy, select};
//!
//! // 4 pool inputs, 2 posterior samples, 2 classes.
//! let pool = Array3::from_shape_vec((4, 2, 2), vec![
//!     0.5, 0.5,   0.5, 0.5,   // both samples unsure: no disagreement
//!     0.9, 0.1,   0.1, 0.9,   // the samples disagree
//!     1.0, 0.0,   1.0, 0.0,   // both certain
//!     0.7, 0.3,   0.3, 0.7,
//! ])?;
//! let targets = Array3::from_shape_vec((1, 2, 2), vec![1.0, 0.0, 0.0, 1.0])?;
//!
//! let bald = Bald.score(pool.view())?;
//! let epig = Epig::new(targets)?.score(pool.view())?;
//! assert!(bald[1] > bald[3] && bald[3] > bald[0]);
//! assert!(epig[1] > epig[3] && epig[0] == 0.0 && epig[2] == 0.0);
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let batch = select(epig.view(), 2, Strategy::Power { beta: 4.0 }, &mut rng)?;
//! assert_eq!(batch.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cluster_margin;
mod epig;
mod error;
mod galaxy;
mod kernel;
mod reduced;
mod scores;
mod select;
mod similar;
mod validate;
pub mod xlogx;

use ndarray::{Array1, ArrayView3};

pub use cluster_margin::{
    Clusters, DEFAULT_MARGIN_FACTOR, DEFAULT_SUBSAMPLE, average_linkage, cluster_margin,
};
pub use epig::{DEFAULT_MEMORY_BUDGET, Epig, EpigPlan, Kernel};
pub use error::{Error, Result};
pub use galaxy::{Galaxy, GalaxyParams, GalaxyQuery, GalaxyQueryKind, GalaxyState};
pub use scores::{Bald, Confidence, Entropy, Margin, Random, random_scores, random_scores_at};
pub use select::{Strategy, TopB, perturbed_keys, select, select_seeded};
pub use similar::{Flqmi, cosine_similarities, flqmi_value, gradient_embeddings};
pub use validate::{DEFAULT_TOLERANCE, check_probs, renormalise};

/// An acquisition function: one score per pool input, higher is more worth labelling.
pub trait Acquisition {
    /// Scores every input of `pool`.
    ///
    /// # Shapes
    /// `pool`: `[N, K, C]` posterior predictive samples; returns `[N]`.
    ///
    /// # Errors
    /// Invalid probabilities ([`check_probs`]) or shapes that do not match the function's
    /// own inputs (e.g. EPIG's targets).
    fn score(&self, pool: ArrayView3<'_, f32>) -> Result<Array1<f32>>;
}
