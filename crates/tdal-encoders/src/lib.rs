//! Representation models for tdal.
//!
//! This crate will hold the candle models that embed the pool: the unsupervised VAE, the
//! split-latent TD-SPLIT VAE, SimCLR encoders and TD-FT fine-tuning (issue: `tdal-encoders`).
//! It is an empty placeholder until then and deliberately does not pull in candle yet, so
//! the workspace builds quickly.
