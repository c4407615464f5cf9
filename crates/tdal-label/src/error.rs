//! The error type of `tdal-label`.

use std::path::PathBuf;

/// Everything that can go wrong in a labelling project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a project's files failed.
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
    /// A project file is damaged or belongs to another project.
    #[error("{path} is damaged: {message}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The arguments of `init` (or a project setting) are invalid.
    #[error("{0}")]
    Invalid(String),
    /// Rows of a labels file that cannot be applied (nothing of the file was applied).
    #[error("{} bad row(s) in {path}, nothing imported: {}", .rows.len(), .rows.join("; "))]
    BadRows {
        /// The labels file.
        path: PathBuf,
        /// One line per bad row: "row N: what is wrong".
        rows: Vec<String>,
    },
    /// Labels submitted for a batch that is no longer the proposed one (another tab or
    /// process submitted it first).
    #[error("{0}")]
    Stale(String),
    /// An image file differs from the one `init` read (replaced, edited, now a link).
    #[error(
        "the image {0} changed since `tdal label init` read it; labels go with the pixels the \
         model saw, so put the original back or make a new project"
    )]
    Changed(String),
    /// Another process holds the project (a running `tdal label serve`, say).
    #[error("the project {0} is open in another tdal process (a running `tdal label serve`?)")]
    Locked(PathBuf),
    /// The loop failed (training, selection, records).
    #[error(transparent)]
    Loop(#[from] tdal_loop::Error),
    /// Reading images or building arrays failed.
    #[error(transparent)]
    Data(#[from] tdal_data::Error),
}

impl Error {
    /// An [`Error::Io`].
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

/// The result type of `tdal-label`.
pub type Result<T> = std::result::Result<T, Error>;
