//! CIFAR-10 and CIFAR-100, binary versions. Each record is its label byte(s) followed by
//! 3072 pixel bytes (1024 red, 1024 green, 1024 blue; row-major 32×32): CIFAR-10 has one
//! label byte, CIFAR-100 two (coarse then fine). Files: `data_batch_1.bin` ..
//! `data_batch_5.bin` and `test_batch.bin` (CIFAR-10), `train.bin` and `test.bin`
//! (CIFAR-100), with class names in `batches.meta.txt` / `fine_label_names.txt`.

use std::path::Path;

use crate::files::{find_file, read_all, require_dir};
use crate::images::{ImageSet, index_names};
use crate::{Error, Result};

/// Pixels per CIFAR image (3 × 32 × 32).
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR variant a file holds and, for CIFAR-100, which label to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte per record, 10 classes.
    Cifar10,
    /// Two label bytes per record; keep the 20 coarse super-classes.
    Cifar100Coarse,
    /// Two label bytes per record; keep the 100 fine classes.
    Cifar100Fine,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            Self::Cifar10 => 1,
            Self::Cifar100Coarse | Self::Cifar100Fine => 2,
        }
    }
    fn label_offset(self) -> usize {
        match self {
            Self::Cifar10 | Self::Cifar100Coarse => 0,
            Self::Cifar100Fine => 1,
        }
    }
    /// Number of classes of the kept label.
    #[must_use]
    pub fn classes(self) -> usize {
        match self {
            Self::Cifar10 => 10,
            Self::Cifar100Coarse => 20,
            Self::Cifar100Fine => 100,
        }
    }
    fn record(self) -> usize {
        self.label_bytes() + CIFAR_PIXELS
    }
}

/// Parses the bytes of one CIFAR binary file into `(pixels [N·3072], labels [N])`.
/// `origin` only names the source in error messages.
///
/// # Errors
/// [`Error::Truncated`] when the length is not a whole number of records;
/// [`Error::Format`] for an empty file or a label out of range.
pub fn parse_cifar(bytes: &[u8], kind: CifarKind, origin: &Path) -> Result<(Vec<u8>, Vec<u32>)> {
    let record = kind.record();
    if bytes.is_empty() {
        return Err(Error::format(
            origin,
            "CIFAR binary",
            format!("the file is empty; expected records of {record} bytes"),
        ));
    }
    if !bytes.len().is_multiple_of(record) {
        let whole = bytes.len() / record;
        return Err(Error::Truncated {
            path: origin.to_path_buf(),
            expected: ((whole + 1) * record) as u64,
            found: bytes.len() as u64,
        });
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * CIFAR_PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[kind.label_offset()];
        if usize::from(label) >= kind.classes() {
            return Err(Error::format(
                origin,
                "CIFAR binary",
                format!(
                    "record {i} has label {label}, expected below {} (is this a {} file? CIFAR-10 records have 1 label byte, CIFAR-100 records 2)",
                    kind.classes(),
                    match kind {
                        CifarKind::Cifar10 => "CIFAR-10",
                        _ => "CIFAR-100",
                    }
                ),
            ));
        }
        labels.push(u32::from(label));
        pixels.extend_from_slice(&rec[kind.label_bytes()..]);
    }
    Ok((pixels, labels))
}

/// Which split to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarSplit {
    /// The 50,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

/// Reads a split of a CIFAR binary folder as RGB `[N, 3, 32, 32]` images.
///
/// # Errors
/// [`Error::Missing`] naming the expected files when the folder or a file is absent; as
/// [`parse_cifar`].
pub fn read_cifar(dir: &Path, kind: CifarKind, split: CifarSplit) -> Result<ImageSet> {
    let hint = "pass --data-dir (or set TDAL_DATA_DIR) to the folder holding cifar-10-batches-bin/ and cifar-100-binary/ (the binary versions)";
    require_dir(dir, "CIFAR folder", hint)?;
    let files: Vec<String> = match (kind, split) {
        (CifarKind::Cifar10, CifarSplit::Train) => {
            (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
        }
        (CifarKind::Cifar10, CifarSplit::Test) => vec!["test_batch.bin".into()],
        (_, CifarSplit::Train) => vec!["train.bin".into()],
        (_, CifarSplit::Test) => vec!["test.bin".into()],
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for name in &files {
        let path = find_file(dir, &[name.as_str()], "CIFAR binary file", hint)?;
        let (p, l) = parse_cifar(&read_all(&path)?, kind, &path)?;
        pixels.extend_from_slice(&p);
        labels.extend_from_slice(&l);
    }
    let class_names = read_class_names(dir, kind).unwrap_or_else(|| index_names(kind.classes()));
    ImageSet::from_u8(&pixels, [labels.len(), 3, 32, 32], labels, class_names)
}

/// Class names from the meta text file, when present and of the right length.
fn read_class_names(dir: &Path, kind: CifarKind) -> Option<Vec<String>> {
    let name = match kind {
        CifarKind::Cifar10 => "batches.meta.txt",
        CifarKind::Cifar100Coarse => "coarse_label_names.txt",
        CifarKind::Cifar100Fine => "fine_label_names.txt",
    };
    let text = std::fs::read_to_string(dir.join(name)).ok()?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    (names.len() == kind.classes()).then_some(names)
}
