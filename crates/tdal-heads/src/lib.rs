//! Stochastic prediction heads for tdal.
//!
//! A head turns embeddings `[N, d]` into posterior predictive samples `[N, K, C]`, the
//! input of every acquisition function in `tdal-acquire`. This crate will hold the random
//! forest whose individual trees are the posterior samples (scikit-learn defaults) and the
//! Laplace MLP head (issue: `tdal-heads`). It is an empty placeholder until then.
