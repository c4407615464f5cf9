//! A labelling project: its files, and the loop driven from its label log.
//!
//! See the crate documentation for the files. The loop's state is derived, never
//! primary: the label log is the truth. [`Project::proposal`] replays it into the
//! session: while every label of the proposed batch is in the log the batch is
//! submitted and the next one proposed, so whatever was killed when, the same proposal
//! comes back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::manifest::Entry;
use crate::{Error, Result};

/// A project's fixed settings (`project.json`, next to the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The classes the user cares about, label-map labels 1..=T in this order.
    pub classes: Vec<String>,
    /// The name of label-map class 0: everything else in the pool.
    pub other_name: String,
    /// Side of the square images the encoders see (every image is resized to it).
    pub side: u32,
    /// 1 (grayscale) or 3 (colour).
    pub channels: u8,
    /// Seed of every random choice (the first batch, encoders, heads, acquisition).
    pub seed: u64,
    /// Images of the first batch, drawn at random before any model exists.
    pub initial: usize,
    /// Example images of the target classes given at `init` (EPIG's target inputs);
    /// 0: the labelled target-class images are the targets once there are some.
    pub examples: usize,
}

impl Settings {
    /// Every class name in label-map order: the "other" class first, then the targets.
    #[must_use]
    pub fn label_names(&self) -> Vec<String> {
        std::iter::once(self.other_name.clone())
            .chain(self.classes.iter().cloned())
            .collect()
    }

    /// The label-map label of a class name (exact match), if it is one.
    #[must_use]
    pub fn label_of(&self, class: &str) -> Option<u32> {
        if class == self.other_name {
            return Some(0);
        }
        self.classes
            .iter()
            .position(|c| c == class)
            .and_then(|i| u32::try_from(i + 1).ok())
    }
}

/// What `tdal label init` is given.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The folder of unlabelled images (read recursively).
    pub images: PathBuf,
    /// The target classes (at least one; distinct, none named like `other_name`).
    pub classes: Vec<String>,
    /// Name of everything else (default "other").
    pub other_name: String,
    /// Optional folder of example images of the target classes.
    pub examples: Option<PathBuf>,
    /// Image side the encoders see.
    pub side: u32,
    /// 1 (grayscale) or 3 (colour).
    pub channels: u8,
    /// Seed.
    pub seed: u64,
    /// Images of the first (random) batch.
    pub initial: usize,
    /// The loop's configuration (representation, head, acquisition, batch size, budget;
    /// its `data` section is unused).
    pub config: tdal_loop::RunConfig,
}

/// What `init` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// Images in the pool.
    pub images: usize,
    /// Files that could not be read as images, with the reason (relative path, reason).
    pub skipped: Vec<(String, String)>,
    /// Example images read.
    pub examples: usize,
}

/// One image of a proposed batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedItem {
    /// Index in the manifest (the only way the web page names an image).
    pub index: usize,
    /// Path relative to the images folder.
    pub path: String,
    /// The acquisition score, when the selector scores points (EPIG, BALD, ...).
    pub score: Option<f32>,
    /// The model's most probable class, when a model exists (not for the first batch).
    pub suggestion: Option<String>,
    /// The label already in the log for this image, if any.
    pub label: Option<String>,
}

/// The batch waiting for labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The batch's number: 0 is the random first batch, then one per round. Submissions
    /// name it, so a stale page cannot label another batch.
    pub batch: usize,
    /// The images, in the order the selector picked them.
    pub items: Vec<ProposedItem>,
}

/// Labels of one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Class name.
    pub class: String,
    /// Labelled images of it.
    pub count: usize,
}

/// One labelled batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchYield {
    /// The batch's number.
    pub batch: usize,
    /// Images labelled in it.
    pub labelled: usize,
    /// Of those, images of a target class.
    pub targets: usize,
}

/// Where a project stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Images in the pool.
    pub pool: usize,
    /// Files skipped at `init`.
    pub skipped: usize,
    /// Labelled images.
    pub labelled: usize,
    /// Labels at the end (`loop.budget`).
    pub budget: usize,
    /// Labels per class, in label-map order (other first).
    pub counts: Vec<ClassCount>,
    /// Every labelled batch, in order.
    pub batches: Vec<BatchYield>,
    /// The learning curve on the held-out labels: (labelled images, accuracy on the
    /// held-out target-class images); empty without held-out labels.
    pub curve: Vec<(usize, f64)>,
    /// Whether the budget is spent.
    pub finished: bool,
}

/// Reads pool images by manifest index, from any thread (the web page's images).
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    entries: Arc<[Entry]>,
}

impl ImageStore {
    /// Images in the pool.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file of image `index` and its media type (from its extension). Only manifest
    /// indices reach the file system: nothing of a request is ever a path.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an index outside the pool; I/O errors.
    pub fn read(&self, index: usize) -> Result<(Vec<u8>, &'static str)> {
        let entry = self
            .entries
            .get(index)
            .ok_or_else(|| Error::Invalid(format!("no image {index} in a pool of {}", self.len())))?;
        let path = self.root.join(&entry.path);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        Ok((bytes, media_type(&entry.path)))
    }
}

/// The media type of an image file from its extension.
fn media_type(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// An open project (holds the project's lock until dropped).
pub struct Project {
    dir: PathBuf,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project").field("dir", &self.dir).finish_non_exhaustive()
    }
}
