//! The error type of `tdal-loop`.

use std::path::PathBuf;

/// Everything that can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is invalid or two values disagree.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A TOML configuration file could not be parsed.
    #[error("cannot read the configuration {path}: {message}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// Reading or writing a run's files failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot write", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A run folder holds records that do not belong to this configuration or are damaged.
    #[error("cannot resume {path}: {message}")]
    Resume {
        /// The run folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A run folder already holds a run and neither resume nor overwrite was asked for.
    #[error("{0} already holds a run; pass --resume to continue it or choose another --out")]
    RunExists(PathBuf),
    /// A batch selector returned something other than distinct unlabelled pool indices
    /// of the batch size.
    #[error("batch selector: {0}")]
    Selector(String),
    /// The oracle was asked about an index it cannot answer.
    #[error("oracle: {0}")]
    Oracle(String),
    /// The data crate failed (reading files, building the pool).
    #[error(transparent)]
    Data(#[from] tdal_data::Error),
    /// The encoders crate failed (training, checkpoints).
    #[error(transparent)]
    Encoders(#[from] tdal_encoders::Error),
    /// The heads crate failed (forest fit or prediction).
    #[error(transparent)]
    Heads(#[from] tdal_heads::Error),
    /// The acquisition crate failed (scores or selection).
    #[error(transparent)]
    Acquire(#[from] tdal_acquire::Error),
    /// A `.npy` cache file could not be read or written.
    #[error("cache file {path}: {message}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] with its path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
