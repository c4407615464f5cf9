//! The crate's error type: every reader and builder failure is one of these variants, and
//! each message says what was expected, what was found and what to do about it. Wrapped
//! errors (I/O, image decoding) are exposed as `source()`, not repeated in the message, so
//! a caller that prints the chain (as `tdal` does) shows each cause once.

use std::path::PathBuf;

/// Everything that can go wrong while reading datasets or building a messy pool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `--data-dir` nor `TDAL_DATA_DIR` names a data directory.
    #[error(
        "no data directory: pass --data-dir DIR or set TDAL_DATA_DIR to a folder holding one \
         sub-folder per dataset (e.g. DIR/mnist/ and DIR/fashion-mnist/)"
    )]
    NoDataDir,
    /// A file or folder the reader needs does not exist.
    #[error("{what} not found (looked for {looked_for}); {hint}")]
    Missing {
        /// What was being looked for, e.g. "MNIST training images".
        what: String,
        /// The paths or names that were tried.
        looked_for: String,
        /// What to do about it.
        hint: String,
    },
    /// The operating system refused to read a file that exists.
    #[error("cannot read {path}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not in the expected format (wrong magic, bad header, ...).
    #[error("{path} is not a valid {format} file: {detail}")]
    Format {
        /// The offending file.
        path: PathBuf,
        /// The expected format, e.g. "IDX".
        format: &'static str,
        /// What was wrong, with the expected and found values.
        detail: String,
    },
    /// The payload ends before the header says it should.
    #[error(
        "{path} is truncated: its header announces {expected} bytes of data but only {found} are there; the download is probably incomplete, fetch the file again"
    )]
    Truncated {
        /// The offending file.
        path: PathBuf,
        /// Bytes announced by the header.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// An image file and its label file disagree on the number of items.
    #[error(
        "{images} holds {n_images} images but {labels} holds {n_labels} labels; both files must come from the same split of the same dataset"
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Number of images it holds.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels it holds.
        n_labels: usize,
    },
    /// An image file could not be opened or decoded.
    #[error("cannot decode image {path} (expected a readable PNG or JPEG file)")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An image could not be written.
    #[error("cannot write image {path} (check that the folder exists and is writable)")]
    Save {
        /// The output file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A CSV file is malformed or lacks a needed column or value.
    #[error("{path}: {detail}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong and what was expected.
        detail: String,
    },
    /// Arrays of incompatible shapes were combined.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A configuration value is out of range or inconsistent with the data.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(
        path: impl Into<PathBuf>,
        format: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self::Format {
            path: path.into(),
            format,
            detail: detail.into(),
        }
    }
}
