//! A labelling project: its files, and the loop driven from its label log.
//!
//! See the crate documentation for the files. The loop's state is derived, never
//! primary: the label log is the truth. [`Project::proposal`] replays it into the
//! session: while every label of the proposed batch is in the log the batch is
//! submitted and the next one proposed, so whatever was killed when, the same proposal
//! comes back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array4, Axis};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};
use tdal_data::{LabelledSplit, Origin, SplitKind};
use tdal_loop::config::AcquisitionConfig;
use tdal_loop::parts::Parts;
use tdal_loop::{Acquired, DeviceChoice, Observer, Oracle, RunConfig, RunOptions, Session, Task};

use crate::import::ImportReport;
use crate::log::{LabelEntry, LabelLog};
use crate::manifest::{self, Entry, Geometry, Manifest, to_f32};
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
    /// Optional folder of held-out images: labelled by the user (`import --heldout`),
    /// never acquired, the test set of the learning curve.
    pub heldout: Option<PathBuf>,
    /// Image side the encoders see, 8 to [`MAX_SIDE`].
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

/// What [`Project::export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    /// Labelled pool images written (`labels.csv`, `images.npy`, `labels.npy`).
    pub labelled: usize,
    /// Labelled held-out images written (`heldout-labels.csv`, `heldout-images.npy`,
    /// `heldout-labels.npy`); never part of the model's labels.
    pub heldout: usize,
    /// Labels the exported model is fitted on; `None` when no model was written (the first
    /// batch is not labelled yet).
    pub model_labels: Option<usize>,
    /// Whether the head was written as `head.bin` (only heads with a file format are).
    pub head: bool,
    /// Whether a `head.bin` of an earlier export was removed because this head cannot be
    /// written (it would not match the exported encoder).
    pub removed_stale_head: bool,
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
    /// indices reach the file system: nothing of a request is ever a path. The file must
    /// still be the one `init` read (a regular file of the same size and content hash):
    /// the label goes with the pixels the encoders saw.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an index outside the pool; [`Error::Changed`] for a file
    /// replaced since `init`; I/O errors.
    pub fn read(&self, index: usize) -> Result<(Vec<u8>, &'static str)> {
        let entry = self.entries.get(index).ok_or_else(|| {
            Error::Invalid(format!("no image {index} in a pool of {}", self.len()))
        })?;
        let path = self.root.join(&entry.path);
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let changed = || Error::Changed(entry.path.clone());
        if !meta.is_file() || meta.len() != entry.bytes {
            return Err(changed());
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        if blake3::hash(&bytes).to_hex().as_str() != entry.hash {
            return Err(changed());
        }
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

/// The project's files.
mod files {
    pub const PROJECT: &str = "project.json";
    pub const CONFIG: &str = "config.toml";
    pub const POOL: &str = "pool.npy";
    pub const EXAMPLES: &str = "examples.npy";
    pub const HELDOUT: &str = "heldout.npy";
    pub const LABELS: &str = "labels.jsonl";
    pub const SESSION: &str = "session";
    pub const CACHE: &str = "cache";
}

/// Version of `project.json`'s layout.
const FORMAT: u32 = 1;

/// The largest image side the encoders take (their input is 32 × 32; smaller images are
/// zero-padded to it).
pub const MAX_SIDE: u32 = 32;

/// `project.json`: the settings and the manifests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    format: u32,
    /// The images folder (absolute).
    images: PathBuf,
    settings: Settings,
    /// The first batch: random pool indices drawn at `init` (stream
    /// `(seed, "label-initial", 0)`), kept so it never changes.
    initial: Vec<usize>,
    manifest: Manifest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heldout: Option<HeldOut>,
}

/// Held-out images: labelled by the user, never acquired, only evaluated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldOut {
    root: PathBuf,
    manifest: Manifest,
}

/// An open project: its settings, its label log (locked until dropped) and the loop.
pub struct Project {
    dir: PathBuf,
    file: ProjectFile,
    cfg: RunConfig,
    log: LabelLog,
    device: DeviceChoice,
    /// The first batch (from `project.json`).
    initial: Vec<usize>,
    session: Option<Session<'static>>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("dir", &self.dir)
            .field("images", &self.file.manifest.entries.len())
            .field("labels", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl Project {
    /// Makes a project folder `dir` (which must not exist or be empty) from a folder of
    /// images: scans and decodes them (and the examples and held-out images), writes the
    /// settings, the manifests, the decoded arrays, the configuration and an empty label
    /// log. `progress(what, done, total)` reports decoding.
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad options (no class, a repeated class, a class named like
    /// the "other" class, a budget outside the pool, GALAXY, which asks labels one at a
    /// time inside a batch, a held-out folder inside the images folder or around it) or a
    /// folder without readable images; I/O errors.
    pub fn init(
        dir: &Path,
        opts: &InitOptions,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<InitReport> {
        let settings = check_options(opts)?;
        if dir.exists() {
            let mut contents =
                std::fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))?;
            if contents.next().is_some() {
                return Err(Error::Invalid(format!(
                    "{} already exists and is not empty; choose another --project",
                    dir.display()
                )));
            }
        }
        let geometry = Geometry {
            side: settings.side,
            channels: settings.channels,
        };
        let root = canonical_folder(&opts.images, "--images")?;
        let heldout_root = match &opts.heldout {
            Some(path) => {
                let heldout_root = canonical_folder(path, "--heldout")?;
                if heldout_root.starts_with(&root) || root.starts_with(&heldout_root) {
                    return Err(Error::Invalid(format!(
                        "--heldout {} and --images {} overlap (one folder holds the other): \
                         held-out images must never be proposed, so give two separate folders",
                        path.display(),
                        opts.images.display()
                    )));
                }
                Some(heldout_root)
            }
            None => None,
        };
        let (manifest, pool) =
            manifest::scan(&root, geometry, &mut |d, t| progress("images", d, t))?;
        let n = manifest.entries.len();
        let budget = opts.config.active.budget;
        if budget > n || budget <= settings.initial {
            return Err(Error::Invalid(format!(
                "the budget ({budget} labels) must be above the first batch ({} images) and at \
                 most the {n} readable images; set --budget",
                settings.initial
            )));
        }
        let examples = match &opts.examples {
            Some(path) => {
                let root = canonical_folder(path, "--examples")?;
                Some(manifest::scan(&root, geometry, &mut |d, t| progress("examples", d, t))?.1)
            }
            None => None,
        };
        let heldout = match heldout_root {
            Some(root) => {
                let (manifest, images) =
                    manifest::scan(&root, geometry, &mut |d, t| progress("held-out", d, t))?;
                Some((HeldOut { root, manifest }, images))
            }
            None => None,
        };
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        write_npy(&dir.join(files::POOL), &pool)?;
        let mut settings = settings;
        if let Some(images) = &examples {
            settings.examples = images.len_of(Axis(0));
            write_npy(&dir.join(files::EXAMPLES), images)?;
        }
        if let Some((_, images)) = &heldout {
            write_npy(&dir.join(files::HELDOUT), images)?;
        }
        let toml = opts.config.to_toml()?;
        tdal_loop::record::write_atomic(&dir.join(files::CONFIG), toml.as_bytes())?;
        drop(LabelLog::open(&dir.join(files::LABELS))?);
        let report = InitReport {
            images: n,
            skipped: manifest
                .skipped
                .iter()
                .map(|s| (s.path.clone(), s.reason.clone()))
                .collect(),
            examples: settings.examples,
        };
        // project.json last: its presence marks a complete project.
        let file = ProjectFile {
            format: FORMAT,
            images: root,
            initial: initial_batch(n, settings.initial, settings.seed),
            settings,
            manifest,
            heldout: heldout.map(|(h, _)| h),
        };
        tdal_loop::record::write_json(&dir.join(files::PROJECT), &file)?;
        Ok(report)
    }

    /// Opens project `dir` and takes its lock (released when the project is dropped).
    ///
    /// # Errors
    /// [`Error::Locked`] when another process has the project open; [`Error::Damaged`]
    /// for unreadable project files and for a label log whose line names an image that is
    /// not in the manifest (index or path) or an unknown class; I/O errors.
    pub fn open(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let file = read_project_file(dir)?;
        let cfg = RunConfig::from_toml_file(&dir.join(files::CONFIG))?;
        let log = match LabelLog::open(&dir.join(files::LABELS)) {
            Err(Error::Locked(_)) => return Err(Error::Locked(dir.to_path_buf())),
            other => other?,
        };
        let n = file.manifest.entries.len();
        if file.initial.is_empty() || file.initial.iter().any(|&i| i >= n) {
            return Err(Error::Damaged {
                path: dir.join(files::PROJECT),
                message: format!("the first batch must be pool indices below {n}"),
            });
        }
        check_log(&dir.join(files::LABELS), &file, log.entries())?;
        let initial = file.initial.clone();
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            cfg,
            log,
            device,
            initial,
            session: None,
        })
    }

    /// The project's settings.
    #[must_use]
    pub const fn settings(&self) -> &Settings {
        &self.file.settings
    }

    /// The loop's configuration.
    #[must_use]
    pub const fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// The pool's manifest.
    #[must_use]
    pub const fn manifest(&self) -> &Manifest {
        &self.file.manifest
    }

    /// The label log.
    #[must_use]
    pub const fn labels(&self) -> &LabelLog {
        &self.log
    }

    /// The pool's images by manifest index, for any thread.
    #[must_use]
    pub fn images(&self) -> ImageStore {
        ImageStore {
            root: self.file.images.clone(),
            entries: self.file.manifest.entries.clone().into(),
        }
    }

    /// The decoded pool images `[N, C, S, S]` (from `pool.npy`).
    ///
    /// # Errors
    /// I/O errors; [`Error::Damaged`] for a file that is not an array of one image of the
    /// project's geometry per manifest entry.
    pub fn pool_images(&self) -> Result<Array4<u8>> {
        self.images_of(files::POOL, self.file.manifest.entries.len())
    }

    /// The decoded images of the project file `name`, which must hold `rows` images of the
    /// project's geometry (one per manifest entry).
    fn images_of(&self, name: &str, rows: usize) -> Result<Array4<u8>> {
        let path = self.dir.join(name);
        let images = read_npy::<u8>(&path)?;
        let side = usize::try_from(self.file.settings.side).unwrap_or(usize::MAX);
        let channels = usize::from(self.file.settings.channels);
        if images.shape() != [rows, channels, side, side].as_slice() {
            return Err(Error::Damaged {
                message: format!(
                    "it holds images of shape {:?} where project.json lists {rows} images \
                     of {channels} × {side} × {side}",
                    images.shape()
                ),
                path,
            });
        }
        Ok(images)
    }

    /// The batch waiting for labels, computing it when needed (retraining, embedding,
    /// scoring: seconds to minutes, reported to `observer`). Batches whose labels are all
    /// in the log are handed to the loop first. `None` once the budget is spent.
    ///
    /// # Errors
    /// Loop errors; I/O errors.
    pub fn proposal(&mut self, observer: &mut dyn Observer) -> Result<Option<Proposal>> {
        let outcome = self.propose(observer);
        if outcome.is_err() {
            // What the session holds in memory may be ahead of its folder: the next call
            // reopens it from the records.
            self.session = None;
        }
        outcome
    }

    fn propose(&mut self, observer: &mut dyn Observer) -> Result<Option<Proposal>> {
        loop {
            if self.session.is_none() {
                if !self.first_batch_done() {
                    return Ok(Some(self.proposal_of(0, &self.initial, None, None)));
                }
                self.open_session(observer)?;
            }
            let Some(session) = self.session.as_mut() else {
                continue;
            };
            let Some(batch) = session.next_batch(observer)? else {
                if session.is_finished() {
                    session.finish()?;
                }
                return Ok(None);
            };
            if let Some(answers) = answers(&self.log, &self.file.settings, &batch) {
                session.submit(&answers, observer)?;
                continue;
            }
            let number = session.history().len() + 1;
            let (suggestions, scores) = session
                .pending()
                .map(|p| (p.suggestions.clone(), p.scores.clone()))
                .unwrap_or_default();
            return Ok(Some(self.proposal_of(
                number,
                &batch,
                suggestions.as_deref(),
                scores.as_deref(),
            )));
        }
    }

    /// Whether the loop has the first batch's answers, or the log has them all.
    fn first_batch_done(&self) -> bool {
        self.dir.join(files::SESSION).join("initial.json").exists()
            || self.initial.iter().all(|&i| self.log.get(i).is_some())
    }

    /// Saves labels of the proposed batch number `batch` (all of it or part of it): every
    /// label is appended to the log and fsync'ed before this returns. The next
    /// [`Project::proposal`] hands a completely labelled batch to the loop.
    ///
    /// Returns how many labels were new (a label already in the log with the same class
    /// is accepted and not written again).
    ///
    /// # Errors
    /// [`Error::Stale`] when `batch` is not the proposed batch (another tab or process
    /// submitted it); [`Error::Invalid`] for an image outside the batch, an unknown class,
    /// an image labelled twice or differently from the log (nothing is saved then); I/O
    /// errors.
    pub fn submit(&mut self, batch: usize, labels: &[(usize, String)]) -> Result<usize> {
        let current = self.current_batch();
        if current.is_err() {
            self.session = None;
        }
        let Some((number, proposed)) = current? else {
            let finished = self.session.as_ref().is_some_and(Session::is_finished);
            return Err(Error::Stale(if finished {
                format!("batch {batch} cannot be labelled: the budget is spent")
            } else {
                format!("batch {batch} is not proposed: the next batch is not computed yet")
            }));
        };
        if number != batch {
            return Err(Error::Stale(format!(
                "batch {batch} is no longer the proposed batch (batch {number} is); it was \
                 submitted elsewhere"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let mut new = Vec::new();
        for (index, class) in labels {
            let path = self
                .file
                .manifest
                .entries
                .get(*index)
                .map(|e| e.path.clone());
            let path = match path {
                Some(path) if proposed.contains(index) => path,
                _ => {
                    return Err(Error::Invalid(format!(
                        "image {index} is not in the proposed batch {batch}"
                    )));
                }
            };
            if self.file.settings.label_of(class).is_none() {
                return Err(Error::Invalid(format!(
                    "unknown class \"{class}\" (classes: {})",
                    self.file.settings.label_names().join(", ")
                )));
            }
            if !seen.insert(*index) {
                return Err(Error::Invalid(format!(
                    "image {index} ({path}) is labelled twice"
                )));
            }
            match self.log.get(*index) {
                Some(old) if old.class == *class => {}
                Some(old) => {
                    return Err(Error::Invalid(format!(
                        "image {index} ({path}) is already labelled \"{}\"",
                        old.class
                    )));
                }
                None => new.push(LabelEntry {
                    index: *index,
                    path,
                    class: class.clone(),
                    heldout: false,
                }),
            }
        }
        self.log.append(&new)?;
        Ok(new.len())
    }

    /// Imports labels from a CSV file (columns `path` and `label`; see
    /// [`crate::import`]): every row is checked and either all are saved or none.
    /// `heldout` labels the held-out images instead of the pool's.
    ///
    /// A row's path is matched as written, else trimmed, else with `/` for `\` and no
    /// leading `./`, else relative to the images folder (`--images`, or `--heldout` with
    /// `heldout`) when it starts with that folder's absolute path; a path that matches no
    /// image or, in its first form that matches, several files is a bad row (see
    /// [`crate::import::parse`]).
    ///
    /// # Errors
    /// [`Error::BadRows`] naming every bad row (an unknown path with the forms tried, an
    /// ambiguous one with the files it matches); [`Error::Invalid`] for held-out labels in
    /// a project without held-out images; I/O errors.
    pub fn import(&mut self, path: &Path, heldout: bool) -> Result<ImportReport> {
        let names = self.file.settings.label_names();
        let (manifest, root) = if heldout {
            let held = self.file.heldout.as_ref().ok_or_else(|| {
                Error::Invalid(
                    "this project has no held-out images (tdal label init --heldout DIR)".into(),
                )
            })?;
            (&held.manifest, held.root.as_path())
        } else {
            (&self.file.manifest, self.file.images.as_path())
        };
        let (entries, report) =
            crate::import::parse(path, manifest, root, &names, &self.log, heldout)?;
        self.log.append(&entries)?;
        if heldout && !entries.is_empty() {
            // The test set changed: the next proposal reopens the session with it.
            self.session = None;
        }
        Ok(report)
    }

    /// How many labels of the CSV file `path` (pool images) are not in the log yet, each
    /// row checked as [`Project::import`] checks it; nothing is saved. `tdal label next`
    /// asks before it rewrites its CSV, so a half-filled file is never lost.
    ///
    /// # Errors
    /// As [`Project::import`]: [`Error::BadRows`] naming every bad row, [`Error::Invalid`]
    /// for a file without a `path` and `label` header, I/O errors.
    pub fn unimported(&self, path: &Path) -> Result<usize> {
        let names = self.file.settings.label_names();
        let (entries, _) = crate::import::parse(
            path,
            &self.file.manifest,
            &self.file.images,
            &names,
            &self.log,
            false,
        )?;
        Ok(entries.len())
    }

    /// Where the project stands (counts, yields, the held-out learning curve).
    ///
    /// # Errors
    /// I/O errors, damaged records.
    pub fn status(&self) -> Result<Status> {
        status_of(
            &self.dir,
            &self.file,
            &self.cfg,
            self.log.entries(),
            &self.initial,
        )
    }

    /// Where the project in `dir` stands, without taking its lock (a server may have it
    /// open).
    ///
    /// # Errors
    /// As [`Project::status`].
    pub fn status_unlocked(dir: &Path) -> Result<Status> {
        let file = read_project_file(dir)?;
        let cfg = RunConfig::from_toml_file(&dir.join(files::CONFIG))?;
        let labels = dir.join(files::LABELS);
        let entries = LabelLog::read(&labels)?;
        check_log(&labels, &file, &entries)?;
        status_of(dir, &file, &cfg, &entries, &file.initial)
    }

    /// Writes the labelled set into folder `out`: `labels.csv` (path, class),
    /// `images.npy` (`u8` `[N, C, S, S]`, the images as the encoders saw them),
    /// `labels.npy` (label-map labels, `u32`), `classes.txt` (label-map order); the
    /// labelled held-out images likewise as `heldout-labels.csv`, `heldout-images.npy` and
    /// `heldout-labels.npy` (when there are some); and, once the first batch is labelled,
    /// the trained model: the representation under `encoder/` (`model.safetensors`,
    /// `config.json`) and the head fitted on every label as `head.bin` (the random
    /// forest's own format, `RandomForest::from_bytes`; a head that cannot be written is
    /// left out, and a `head.bin` of an earlier export is removed). A proposed batch whose
    /// labels are all in the log (imported from a CSV) is handed to the loop first, so the
    /// model is fitted on it too. Obtaining the model may load or train the representation
    /// (progress to `observer`).
    ///
    /// `out` must be missing, empty or an earlier export of this project (a folder whose
    /// `classes.txt` names the project's classes): nothing else is overwritten.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `out` holds other files; loop errors; I/O errors.
    pub fn export(&mut self, out: &Path, observer: &mut dyn Observer) -> Result<ExportReport> {
        let mut names = self.file.settings.label_names().join("\n");
        names.push('\n');
        check_export_folder(out, &names)?;
        std::fs::create_dir_all(out).map_err(|e| Error::io("cannot create", out, e))?;
        // First: an export cut short is still recognised as one, and can be redone.
        tdal_loop::record::write_atomic(&out.join(EXPORT_CLASSES), names.as_bytes())?;
        let pool_labels: Vec<&LabelEntry> =
            self.log.entries().iter().filter(|e| !e.heldout).collect();
        let pool = self.pool_images()?;
        write_labelled(out, "", &pool_labels, &self.file.settings, &pool)?;
        drop(pool);
        let labelled = pool_labels.len();
        let heldout_labels: Vec<&LabelEntry> =
            self.log.entries().iter().filter(|e| e.heldout).collect();
        if let Some(heldout) = &self.file.heldout
            && !heldout_labels.is_empty()
        {
            let images = self.images_of(files::HELDOUT, heldout.manifest.entries.len())?;
            write_labelled(
                out,
                "heldout-",
                &heldout_labels,
                &self.file.settings,
                &images,
            )?;
        }
        let heldout = heldout_labels.len();
        let mut report = ExportReport {
            labelled,
            heldout,
            model_labels: None,
            head: false,
            removed_stale_head: false,
        };
        if !self.first_batch_done() {
            return Ok(report);
        }
        if self.session.is_none() {
            self.open_session(observer)?;
        }
        // The last imported batch is in the model too, not only in the files above.
        if let Err(e) = self.submit_answered(observer) {
            self.session = None;
            return Err(e);
        }
        if let Some(session) = self.session.as_mut() {
            match session.export_model(out, observer) {
                Ok(written) => {
                    report.head = written;
                    report.model_labels = Some(session.labelled().indices.len());
                }
                Err(e) => {
                    self.session = None;
                    return Err(e.into());
                }
            }
        }
        let stale = out.join("head.bin");
        if !report.head && stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| Error::io("cannot remove", &stale, e))?;
            report.removed_stale_head = true;
        }
        Ok(report)
    }

    /// Hands the session's pending batch to the loop when the log has every one of its
    /// labels (imported from a CSV, say), as [`Project::proposal`] would before computing
    /// the next batch. [`Session::submit`] only records the round: nothing is trained.
    fn submit_answered(&mut self, observer: &mut dyn Observer) -> Result<()> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let Some(proposed) = session.pending().map(|p| p.proposed.clone()) else {
            return Ok(());
        };
        if let Some(answers) = answers(&self.log, &self.file.settings, &proposed) {
            session.submit(&answers, observer)?;
            if session.is_finished() {
                session.finish()?;
            }
        }
        Ok(())
    }

    /// The proposed batch's number and images without computing anything: the first
    /// batch, or the session's pending one. `None` once the budget is spent.
    fn current_batch(&mut self) -> Result<Option<(usize, Vec<usize>)>> {
        if self.session.is_none() {
            if !self.first_batch_done() {
                return Ok(Some((0, self.initial.clone())));
            }
            self.open_session(&mut tdal_loop::Silent)?;
        }
        let Some(session) = &self.session else {
            return Ok(None);
        };
        Ok(session
            .pending()
            .map(|p| (session.history().len() + 1, p.proposed.clone())))
    }

    /// Opens the loop's session on the pool, the examples and the labelled held-out
    /// images.
    fn open_session(&mut self, observer: &mut dyn Observer) -> Result<()> {
        let task = self.task()?;
        let session_dir = self.dir.join(files::SESSION);
        std::fs::create_dir_all(&session_dir)
            .map_err(|e| Error::io("cannot create", &session_dir, e))?;
        let opts = RunOptions {
            out: self.dir.clone(),
            cache_dir: self.dir.join(files::CACHE),
            resume: true,
            device: self.device,
        };
        let parts = Parts::from_config(&self.cfg, &task, &opts)?;
        let mut oracle = LogOracle {
            log: &self.log,
            settings: &self.file.settings,
        };
        let session =
            Session::open_owned(&self.cfg, &session_dir, task, parts, &mut oracle, observer)?;
        self.session = Some(session);
        Ok(())
    }

    /// What the loop sees: the pool's images, the example images (EPIG's targets; else
    /// targets from the labels) and the labelled held-out images as the test set.
    ///
    /// # Errors
    /// I/O errors, damaged arrays.
    pub fn task(&self) -> Result<Task> {
        let pool = to_f32(self.pool_images()?.view());
        let (c, s) = (pool.len_of(Axis(1)), pool.len_of(Axis(2)));
        let examples = self.file.settings.examples > 0;
        let target_inputs = if examples {
            to_f32(
                self.images_of(files::EXAMPLES, self.file.settings.examples)?
                    .view(),
            )
        } else {
            Array4::zeros((0, c, s, s))
        };
        let mut test = LabelledSplit {
            images: Array4::zeros((0, c, s, s)),
            labels: Vec::new(),
            origins: Vec::new(),
        };
        if self.file.heldout.is_some() {
            let labelled: Vec<&LabelEntry> =
                self.log.entries().iter().filter(|e| e.heldout).collect();
            if !labelled.is_empty() {
                let count = self
                    .file
                    .heldout
                    .as_ref()
                    .map_or(0, |h| h.manifest.entries.len());
                let all = self.images_of(files::HELDOUT, count)?;
                let rows: Vec<usize> = labelled.iter().map(|e| e.index).collect();
                test.images = to_f32(all.select(Axis(0), &rows).view());
                test.labels = labelled
                    .iter()
                    .map(|e| self.file.settings.label_of(&e.class).unwrap_or(0))
                    .collect();
                test.origins = rows
                    .iter()
                    .map(|&i| Origin {
                        source: 0,
                        split: SplitKind::Test,
                        class: 0,
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                    })
                    .collect();
            }
        }
        Ok(Task {
            pool,
            target_inputs,
            test,
            initial: self.initial.clone(),
            warm_start: Vec::new(),
            num_classes: self.file.settings.classes.len() + 1,
            targets_from_labelled: !examples,
        })
    }

    fn proposal_of(
        &self,
        number: usize,
        batch: &[usize],
        suggestions: Option<&[u32]>,
        scores: Option<&[f32]>,
    ) -> Proposal {
        let names = self.file.settings.label_names();
        let items = batch
            .iter()
            .enumerate()
            .map(|(k, &index)| ProposedItem {
                index,
                path: self.file.manifest.entries[index].path.clone(),
                score: scores.and_then(|s| s.get(k).copied()),
                suggestion: suggestions
                    .and_then(|s| s.get(k))
                    .and_then(|&c| names.get(c as usize).cloned()),
                label: self.log.get(index).map(|e| e.class.clone()),
            })
            .collect();
        Proposal {
            batch: number,
            items,
        }
    }
}

/// Answers the loop from the label log.
struct LogOracle<'a> {
    log: &'a LabelLog,
    settings: &'a Settings,
}

impl Oracle for LogOracle<'_> {
    fn label(&mut self, indices: &[usize]) -> tdal_loop::Result<Vec<Acquired>> {
        answers(self.log, self.settings, indices).ok_or_else(|| {
            tdal_loop::Error::Oracle("some images of the batch have no label yet".into())
        })
    }

    fn confirm(&mut self, answered: &[Acquired]) -> tdal_loop::Result<()> {
        for a in answered {
            let logged = self.log.get(a.index).map(|e| e.class.as_str());
            if logged != Some(a.class.as_str()) {
                return Err(tdal_loop::Error::Oracle(format!(
                    "the loop recorded image {} as \"{}\", the label log says {logged:?}",
                    a.index, a.class
                )));
            }
        }
        Ok(())
    }
}

/// The loop's answers for `indices` when the log has a label for every one.
fn answers(log: &LabelLog, settings: &Settings, indices: &[usize]) -> Option<Vec<Acquired>> {
    indices
        .iter()
        .map(|&index| {
            let entry = log.get(index)?;
            Some(Acquired {
                index,
                label: settings.label_of(&entry.class)?,
                source: "project".into(),
                class: entry.class.clone(),
            })
        })
        .collect()
}

/// Every label of the log must name an image of its manifest (the pool's, or the
/// held-out images' for a held-out label) by index and path, with a class of the project.
/// A log edited by hand or copied from another project is refused naming its line,
/// instead of panicking on an index or exporting an unknown class as the "other" class.
fn check_log(path: &Path, file: &ProjectFile, entries: &[LabelEntry]) -> Result<()> {
    let settings = &file.settings;
    for (position, entry) in entries.iter().enumerate() {
        let line = position + 1;
        let damaged = |message: String| Error::Damaged {
            path: path.to_path_buf(),
            message: format!(
                "line {line}: {message} (was labels.jsonl edited, or copied from another \
                 project?)"
            ),
        };
        let manifest = if entry.heldout {
            match &file.heldout {
                Some(heldout) => &heldout.manifest,
                None => {
                    return Err(damaged(
                        "a held-out label, but the project has no held-out images".into(),
                    ));
                }
            }
        } else {
            &file.manifest
        };
        let kind = if entry.heldout {
            "held-out image"
        } else {
            "image"
        };
        let Some(listed) = manifest.entries.get(entry.index) else {
            return Err(damaged(format!(
                "{kind} {} is outside the {} {kind}s of project.json",
                entry.index,
                manifest.entries.len()
            )));
        };
        if listed.path != entry.path {
            return Err(damaged(format!(
                "{kind} {} is \"{}\" in project.json, not \"{}\"",
                entry.index, listed.path, entry.path
            )));
        }
        if settings.label_of(&entry.class).is_none() {
            return Err(damaged(format!(
                "unknown class \"{}\" (classes: {})",
                entry.class,
                settings.label_names().join(", ")
            )));
        }
    }
    Ok(())
}

/// The settings `init` would write, after checking the options.
fn check_options(opts: &InitOptions) -> Result<Settings> {
    let other = opts.other_name.trim().to_owned();
    let classes: Vec<String> = opts.classes.iter().map(|c| c.trim().to_owned()).collect();
    if classes.is_empty() || classes.iter().any(String::is_empty) || other.is_empty() {
        return Err(Error::Invalid(
            "give at least one class (--classes \"cat,dog\"), none of them empty, and a \
             non-empty --other-name"
                .into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for c in classes.iter().chain(std::iter::once(&other)) {
        if !seen.insert(c.as_str()) {
            return Err(Error::Invalid(format!(
                "class \"{c}\" is given twice (the classes and --other-name must differ)"
            )));
        }
    }
    if classes.len() > 9 {
        return Err(Error::Invalid(format!(
            "at most 9 target classes (with the other class, one key each on the page: 1-9 \
             and 0), got {}",
            classes.len()
        )));
    }
    if !matches!(opts.channels, 1 | 3) || !(8..=MAX_SIDE).contains(&opts.side) {
        return Err(Error::Invalid(format!(
            "images need 1 or 3 channels and a side from 8 to {MAX_SIDE} pixels (the \
             encoders' input; smaller images are zero-padded to it), got {} and {}",
            opts.channels, opts.side
        )));
    }
    if opts.initial == 0 {
        return Err(Error::Invalid(
            "the first batch needs at least one image".into(),
        ));
    }
    let cfg = &opts.config;
    if matches!(cfg.acquisition, AcquisitionConfig::Galaxy(_)) {
        return Err(Error::Invalid(
            "GALAXY asks for labels one at a time inside its batch; a labelling project \
             labels whole batches: choose another --acquisition"
                .into(),
        ));
    }
    if cfg.data.warm_start_share.is_some_and(|share| share > 0.0) {
        return Err(Error::Invalid(
            "a warm-start set needs the pool's labels to be class-balanced; a labelling \
             project has none: remove data.warm_start_share"
                .into(),
        ));
    }
    cfg.check()?;
    Ok(Settings {
        classes,
        other_name: other,
        side: opts.side,
        channels: opts.channels,
        seed: opts.seed,
        initial: opts.initial,
        examples: 0,
    })
}

/// The first batch: `k` random pool indices.
fn initial_batch(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = tdal_loop::seeds::rng(seed, "label-initial", 0);
    rand::seq::index::sample(&mut rng, n, k.min(n)).into_vec()
}

fn status_of(
    dir: &Path,
    file: &ProjectFile,
    cfg: &RunConfig,
    entries: &[LabelEntry],
    initial: &[usize],
) -> Result<Status> {
    let settings = &file.settings;
    let names = settings.label_names();
    let mut counts: Vec<ClassCount> = names
        .iter()
        .map(|c| ClassCount {
            class: c.clone(),
            count: 0,
        })
        .collect();
    let mut pool_labels = std::collections::HashMap::new();
    let mut heldout = 0;
    for e in entries {
        if e.heldout {
            heldout += 1;
            continue;
        }
        if let Some(label) = settings.label_of(&e.class) {
            counts[label as usize].count += 1;
            pool_labels.insert(e.index, label);
        }
    }
    let session = dir.join(files::SESSION);
    let rounds = if session.exists() {
        tdal_loop::record::read_rounds(&session)?
    } else {
        Vec::new()
    };
    let first: Vec<u32> = initial
        .iter()
        .filter_map(|i| pool_labels.get(i).copied())
        .collect();
    let mut batches = Vec::new();
    if !first.is_empty() {
        batches.push(BatchYield {
            batch: 0,
            labelled: first.len(),
            targets: first.iter().filter(|&&l| l != 0).count(),
        });
    }
    for r in rounds.iter().filter(|r| !r.acquired.is_empty()) {
        batches.push(BatchYield {
            batch: r.round + 1,
            labelled: r.acquired.len(),
            targets: r.acquired.iter().filter(|a| a.label != 0).count(),
        });
    }
    // The proposed batch once the log has all its labels (imported, not yet handed to the
    // loop: the next `next`, `export` or page does that): labelled, so counted.
    let pending = if session.exists() {
        tdal_loop::record::read_json::<tdal_loop::session::Pending>(
            &session.join(tdal_loop::record::files::PENDING),
        )?
    } else {
        None
    };
    let answered = pending.filter(|p| {
        p.record.round == rounds.len() && p.proposed.iter().all(|i| pool_labels.contains_key(i))
    });
    if let Some(p) = &answered {
        batches.push(BatchYield {
            batch: p.record.round + 1,
            labelled: p.proposed.len(),
            targets: p
                .proposed
                .iter()
                .filter(|i| pool_labels.get(*i).is_some_and(|&l| l != 0))
                .count(),
        });
    }
    // Labels the loop has or is handed: the budget is spent once they reach it, before the
    // last (evaluation-only) round is recorded.
    let first_done = !initial.is_empty() && first.len() == initial.len();
    let first_labels = if first_done { initial.len() } else { 0 };
    let loop_labels = first_labels
        + rounds.iter().map(|r| r.acquired.len()).sum::<usize>()
        + answered.as_ref().map_or(0, |p| p.proposed.len());
    let curve = if heldout > 0 {
        rounds
            .iter()
            .map(|r| (r.n_labelled, r.accuracy.primary))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Status {
        pool: file.manifest.entries.len(),
        skipped: file.manifest.skipped.len(),
        labelled: pool_labels.len(),
        budget: cfg.active.budget,
        counts,
        batches,
        curve,
        finished: loop_labels >= cfg.active.budget
            || tdal_loop::record::read_summary(&session)?.is_some(),
    })
}

fn read_project_file(dir: &Path) -> Result<ProjectFile> {
    let path = dir.join(files::PROJECT);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Invalid(format!(
                "{} is not a labelling project (no {}); make one with `tdal label init`",
                dir.display(),
                files::PROJECT
            )));
        }
        Err(e) => return Err(Error::io("cannot read", &path, e)),
    };
    let file: ProjectFile = serde_json::from_str(&text).map_err(|e| Error::Damaged {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if file.format != FORMAT {
        return Err(Error::Damaged {
            path,
            message: format!("layout {} where this tdal reads {FORMAT}", file.format),
        });
    }
    Ok(file)
}

fn canonical_folder(path: &Path, flag: &str) -> Result<PathBuf> {
    let canonical = path
        .canonicalize()
        .map_err(|e| Error::Invalid(format!("{flag} {}: {e}", path.display())))?;
    if !canonical.is_dir() {
        return Err(Error::Invalid(format!(
            "{flag} {} is not a folder",
            path.display()
        )));
    }
    Ok(canonical)
}

fn write_npy<A, D>(path: &Path, array: &ndarray::Array<A, D>) -> Result<()>
where
    A: ndarray_npy::WritableElement,
    D: ndarray::Dimension,
{
    tdal_loop::record::write_atomic_with(path, &mut |w| {
        array
            .write_npy(w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })?;
    Ok(())
}

fn read_npy<A: ndarray_npy::ReadableElement>(path: &Path) -> Result<Array4<A>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    Array4::<A>::read_npy(std::io::BufReader::new(file)).map_err(|e| Error::Damaged {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The file of an export that names its classes; it marks a folder as an earlier export.
const EXPORT_CLASSES: &str = "classes.txt";

/// `Ok` when `out` is missing, empty, or an earlier export of a project with these class
/// `names` (`classes.txt` as written): an export overwrites its files and clears
/// `encoder/`, so it must never land in a folder of other files.
fn check_export_folder(out: &Path, names: &str) -> Result<()> {
    let mut contents = match std::fs::read_dir(out) {
        Ok(contents) => contents,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot read", out, e)),
    };
    if contents.next().is_none() {
        return Ok(());
    }
    let earlier = std::fs::read_to_string(out.join(EXPORT_CLASSES)).is_ok_and(|text| text == names);
    if earlier {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{} is not empty and is not an earlier export of this project (no {EXPORT_CLASSES} \
         naming its classes); nothing was written: export into a new or empty folder",
        out.display()
    )))
}

/// Writes `{prefix}labels.csv` (path, class), `{prefix}images.npy` (the rows of `images`
/// the labels name) and `{prefix}labels.npy` (label-map labels).
fn write_labelled(
    out: &Path,
    prefix: &str,
    labels: &[&LabelEntry],
    settings: &Settings,
    images: &Array4<u8>,
) -> Result<()> {
    let mut csv = String::from("path,label\n");
    for e in labels {
        csv.push_str(&csv_field(&e.path));
        csv.push(',');
        csv.push_str(&csv_field(&e.class));
        csv.push('\n');
    }
    tdal_loop::record::write_atomic(&out.join(format!("{prefix}labels.csv")), csv.as_bytes())?;
    let rows: Vec<usize> = labels.iter().map(|e| e.index).collect();
    // `Project::open` checked every class of the log.
    let classes: Vec<u32> = labels
        .iter()
        .map(|e| settings.label_of(&e.class).unwrap_or(0))
        .collect();
    write_npy(
        &out.join(format!("{prefix}images.npy")),
        &images.select(Axis(0), &rows),
    )?;
    write_npy(
        &out.join(format!("{prefix}labels.npy")),
        &ndarray::Array1::from(classes),
    )?;
    Ok(())
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
