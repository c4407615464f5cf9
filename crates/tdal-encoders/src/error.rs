//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong building, training, saving or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter is out of range.
    #[error("invalid encoder configuration: {0}")]
    Config(String),
    /// An input has the wrong shape or content.
    #[error("invalid input: {0}")]
    Shape(String),
    /// The requested device cannot be used by this build or machine.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A checkpoint file could not be read or written.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file involved.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// A tensor operation failed inside candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// Image handling in `tdal-data` (padding, augmentation) failed.
    #[error(transparent)]
    Data(#[from] tdal_data::Error),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
