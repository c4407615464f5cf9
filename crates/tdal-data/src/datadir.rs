//! Where each dataset lives inside a data directory.
//!
//! A data directory (`--data-dir DIR` or `TDAL_DATA_DIR`) holds one sub-folder per dataset:
//! `DIR/mnist/`, `DIR/fashion-mnist/`, `DIR/cifar-10-batches-bin/`, `DIR/cifar-100-binary/`,
//! `DIR/CheXpert-v1.0-small/`. Common alternative names are accepted too (torchvision's
//! `MNIST/raw`, `FashionMNIST/raw`, the names the archives unpack to). A data directory that
//! holds one dataset's files directly is accepted for that dataset only when no
//! sub-folder matches; F+MNIST needs both MNIST and Fashion-MNIST, whose file names are
//! identical, so they must sit in two sub-folders.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A dataset this crate knows how to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownDataset {
    /// MNIST digits (IDX).
    Mnist,
    /// Fashion-MNIST (IDX).
    FashionMnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version.
    Cifar100,
    /// CheXpert (CSV + images).
    Chexpert,
}

impl KnownDataset {
    /// Sub-folder names accepted, preferred first.
    #[must_use]
    pub fn folder_names(self) -> &'static [&'static str] {
        match self {
            Self::Mnist => &["mnist", "MNIST", "MNIST/raw"],
            Self::FashionMnist => &[
                "fashion-mnist",
                "fashion_mnist",
                "FashionMNIST",
                "FashionMNIST/raw",
            ],
            Self::Cifar10 => &["cifar-10-batches-bin", "cifar-10", "cifar10"],
            Self::Cifar100 => &["cifar-100-binary", "cifar-100", "cifar100"],
            Self::Chexpert => &["CheXpert-v1.0-small", "CheXpert-v1.0", "chexpert"],
        }
    }

    /// Files whose presence identifies the dataset's folder.
    #[must_use]
    pub fn marker_files(self) -> &'static [&'static str] {
        match self {
            Self::Mnist | Self::FashionMnist => &[
                "train-images-idx3-ubyte.gz",
                "train-images-idx3-ubyte",
                "train-images.idx3-ubyte",
            ],
            Self::Cifar10 => &["data_batch_1.bin"],
            Self::Cifar100 => &["train.bin"],
            Self::Chexpert => &["train.csv"],
        }
    }

    /// Human name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST",
            Self::FashionMnist => "Fashion-MNIST",
            Self::Cifar10 => "CIFAR-10",
            Self::Cifar100 => "CIFAR-100",
            Self::Chexpert => "CheXpert",
        }
    }
}

/// The data directory: `explicit` (`--data-dir`, a config's `data.dir`), else the
/// `TDAL_DATA_DIR` environment variable when it is set and not empty. Whether the folder
/// exists is checked by [`locate`].
///
/// # Errors
/// [`Error::NoDataDir`] when neither is given.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    match std::env::var_os("TDAL_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(Error::NoDataDir),
    }
}

/// Finds `dataset`'s folder inside `data_dir`: the first accepted sub-folder holding all
/// its files (for MNIST-style datasets the four IDX files), else the first holding its
/// marker file.
///
/// `allow_direct` accepts `data_dir` itself when it holds the dataset's files directly
/// (callers needing two datasets with the same file names pass `false`).
///
/// # Errors
/// [`Error::Missing`] naming the data directory, the sub-folders and files looked for, and
/// the `--data-dir` / `TDAL_DATA_DIR` options.
pub fn locate(data_dir: &Path, dataset: KnownDataset, allow_direct: bool) -> Result<PathBuf> {
    if !data_dir.is_dir() {
        return Err(Error::Missing {
            what: "data directory".into(),
            looked_for: format!("the folder {}", data_dir.display()),
            hint: "pass --data-dir DIR (or set TDAL_DATA_DIR) to an existing folder holding one sub-folder per dataset, e.g. DIR/mnist/ and DIR/fashion-mnist/".into(),
        });
    }
    let has_marker = |dir: &Path| dataset.marker_files().iter().any(|m| dir.join(m).is_file());
    let is_complete = |dir: &Path| match dataset {
        KnownDataset::Mnist | KnownDataset::FashionMnist => crate::idx::idx_files_in(dir).1,
        KnownDataset::Cifar10 | KnownDataset::Cifar100 | KnownDataset::Chexpert => has_marker(dir),
    };
    // A folder holding all the files wins over an earlier one holding some (a partial
    // DIR/mnist/ next to a complete DIR/MNIST/raw/); else the first holding any, whose
    // reader then names what is missing.
    let candidates: Vec<PathBuf> = dataset
        .folder_names()
        .iter()
        .map(|name| data_dir.join(name))
        .collect();
    if let Some(dir) = candidates
        .iter()
        .find(|dir| is_complete(dir))
        .or_else(|| candidates.iter().find(|dir| has_marker(dir)))
    {
        return Ok(dir.clone());
    }
    if allow_direct && has_marker(data_dir) {
        return Ok(data_dir.to_path_buf());
    }
    let holds_files_directly = !allow_direct && has_marker(data_dir);
    let direct_note = if holds_files_directly {
        " (the data directory holds these files directly, but this dataset configuration needs each dataset in its own sub-folder)"
    } else {
        ""
    };
    let hint = match data_dir.parent() {
        Some(parent) if holds_files_directly => format!(
            "pass the folder above it instead, e.g. --data-dir {} (or TDAL_DATA_DIR), with {} in {}/{}/",
            parent.display(),
            dataset.name(),
            parent.display(),
            dataset.folder_names()[0]
        ),
        _ => format!(
            "put the {} files in {}/{}/ or pass --data-dir (or TDAL_DATA_DIR) pointing at the folder that holds it",
            dataset.name(),
            data_dir.display(),
            dataset.folder_names()[0]
        ),
    };
    Err(Error::Missing {
        what: format!("{} files", dataset.name()),
        looked_for: format!(
            "{} inside {} of {}{direct_note}",
            dataset.marker_files().join(" or "),
            dataset
                .folder_names()
                .iter()
                .map(|n| format!("{n}/"))
                .collect::<Vec<_>>()
                .join(", "),
            data_dir.display()
        ),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_wins_and_none_is_a_clear_error() {
        let dir = Path::new("some/where");
        assert_eq!(resolve(Some(dir)).unwrap(), dir);
        // The environment is shared by the test threads, so only the error text is checked
        // here; the CLI tests run without TDAL_DATA_DIR and check the whole message.
        let text = Error::NoDataDir.to_string();
        assert!(
            text.contains("--data-dir") && text.contains("TDAL_DATA_DIR"),
            "{text}"
        );
    }
}
