//! CheXpert: `train.csv` / `valid.csv` (one row per image: a `Path` column and one column
//! per finding holding 1 positive, 0 negative, −1 uncertain or blank = not mentioned) plus
//! the images they point to, decoded grey and resized to a configured square size.
//!
//! Paths in the CSV start with the archive's folder name (`CheXpert-v1.0-small/train/...`);
//! they are resolved against the CheXpert folder, its parent, and the folder with the first
//! component stripped, so the folder can be renamed.

use std::path::{Path, PathBuf};

use crate::files::{find_file, require_dir};
use crate::folder::{Channels, load_images};
use crate::images::ImageSet;
use crate::{Error, Result};

/// What to do with uncertain (−1) labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UncertainPolicy {
    /// Drop the image (the paper's choice).
    #[default]
    Drop,
    /// Count as positive ("U-Ones").
    Positive,
    /// Count as negative ("U-Zeros").
    Negative,
}

/// Options for [`read_chexpert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChexpertOptions {
    /// The finding column used as the binary label.
    pub finding: String,
    /// Images are resized to `image_size × image_size`.
    pub image_size: u32,
    /// Uncertain labels.
    pub uncertain: UncertainPolicy,
    /// Keep only frontal views (needs a `Frontal/Lateral` column).
    pub frontal_only: bool,
}

impl Default for ChexpertOptions {
    fn default() -> Self {
        Self {
            finding: "Pleural Effusion".into(),
            image_size: 64,
            uncertain: UncertainPolicy::Drop,
            frontal_only: false,
        }
    }
}

/// Which CSV to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChexpertSplit {
    /// `train.csv`.
    Train,
    /// `valid.csv` (the public validation set, used as the test set).
    Valid,
}

/// One labelled row: image path as written in the CSV and its 0/1 label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChexpertRow {
    /// The `Path` column.
    pub path: String,
    /// 1 = finding present, 0 = absent.
    pub label: u32,
}

/// Parses a CheXpert CSV, keeping rows whose finding value is usable under `options`.
/// `origin` only names the source in error messages.
///
/// # Errors
/// [`Error::Csv`] for malformed CSV, a missing `Path` or finding column (the message lists
/// the columns found) or a value other than 1, 0, −1 or blank.
pub fn parse_chexpert_csv<R: std::io::Read>(
    reader: R,
    options: &ChexpertOptions,
    origin: &Path,
) -> Result<Vec<ChexpertRow>> {
    let csv_err = |detail: String| Error::Csv {
        path: origin.to_path_buf(),
        detail,
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| csv_err(format!("cannot read the header row: {e}")))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            csv_err(format!(
                "expected a column named {name:?}, found columns {:?}; is this CheXpert's train.csv / valid.csv?",
                headers.iter().collect::<Vec<_>>()
            ))
        })
    };
    let path_col = column("Path")?;
    let finding_col = column(&options.finding)?;
    let view_col = if options.frontal_only {
        Some(column("Frontal/Lateral")?)
    } else {
        None
    };
    let mut rows = Vec::new();
    for (i, record) in csv.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| csv_err(format!("line {line}: {e}")))?;
        if let Some(v) = view_col
            && record.get(v).map(str::trim) != Some("Frontal")
        {
            continue;
        }
        let value = record.get(finding_col).unwrap_or("").trim();
        let label = match value {
            "" => None,
            "1" | "1.0" => Some(1),
            "0" | "0.0" => Some(0),
            "-1" | "-1.0" => match options.uncertain {
                UncertainPolicy::Drop => None,
                UncertainPolicy::Positive => Some(1),
                UncertainPolicy::Negative => Some(0),
            },
            other => {
                return Err(csv_err(format!(
                    "line {line}: expected {:?} to be 1, 0, -1 or blank, found {other:?}",
                    options.finding
                )));
            }
        };
        if let Some(label) = label {
            let path = record.get(path_col).unwrap_or("").trim();
            if path.is_empty() {
                return Err(csv_err(format!("line {line}: the Path column is empty")));
            }
            rows.push(ChexpertRow {
                path: path.to_string(),
                label,
            });
        }
    }
    Ok(rows)
}

/// Resolves a CSV path against the CheXpert folder (see the module doc).
fn resolve(root: &Path, csv_path: &str) -> PathBuf {
    let relative = Path::new(csv_path);
    let mut candidates = vec![root.join(relative)];
    if let Some(parent) = root.parent() {
        candidates.push(parent.join(relative));
    }
    let mut components = relative.components();
    components.next();
    candidates.push(root.join(components.as_path()));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| candidates.swap_remove(0))
}

/// Reads one CheXpert split as grey `[N, 1, S, S]` images with classes
/// `["no <finding>", "<finding>"]`.
///
/// # Errors
/// [`Error::Missing`] for a missing folder, CSV or image; [`Error::Image`] for an
/// unreadable image; as [`parse_chexpert_csv`].
pub fn read_chexpert(
    root: &Path,
    split: ChexpertSplit,
    options: &ChexpertOptions,
) -> Result<ImageSet> {
    let hint = "pass --data-dir (or set TDAL_DATA_DIR) to the folder holding CheXpert-v1.0-small/ (with train.csv, valid.csv and the image folders)";
    require_dir(root, "CheXpert folder", hint)?;
    if options.image_size == 0 {
        return Err(Error::Config(
            "CheXpert image size must be at least 1 pixel".into(),
        ));
    }
    let name = match split {
        ChexpertSplit::Train => "train.csv",
        ChexpertSplit::Valid => "valid.csv",
    };
    let csv_path = find_file(root, &[name], "CheXpert label file", hint)?;
    let file = std::fs::File::open(&csv_path).map_err(|e| Error::io(&csv_path, e))?;
    let rows = parse_chexpert_csv(std::io::BufReader::new(file), options, &csv_path)?;
    let paths: Vec<PathBuf> = rows.iter().map(|r| resolve(root, &r.path)).collect();
    let size = (options.image_size, options.image_size);
    let (bytes, _) = load_images(&paths, Channels::Gray, Some(size))?;
    let s = options.image_size as usize;
    ImageSet::from_u8(
        &bytes,
        [rows.len(), 1, s, s],
        rows.iter().map(|r| r.label).collect(),
        vec![format!("no {}", options.finding), options.finding.clone()],
    )
}
