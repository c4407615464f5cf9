//! The pool's manifest: every image file under a folder, in a fixed order, decoded once.

use serde::{Deserialize, Serialize};

/// One image of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the images folder, `/`-separated.
    pub path: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Hex blake3 of the file's bytes.
    pub hash: String,
}

/// A file under the folder that is not a readable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the images folder.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Every image of a folder (sorted by relative path) and the files skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The images; an image's index here is its pool index.
    pub entries: Vec<Entry>,
    /// Files that could not be read as images.
    pub skipped: Vec<Skipped>,
}
