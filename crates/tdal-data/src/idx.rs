//! IDX files, the format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes,
//! a type code, the number of axes, then one `u32` per axis) followed by the payload.
//! Only the unsigned-byte type (0x08) occurs in these datasets and only it is supported.
//!
//! The payload is read as a stream (gzip or raw) and never pre-allocated from the header,
//! so a corrupt or hostile header cannot make the reader allocate more than the file holds.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::files::{find_file, open_stream, require_dir, stream_error};
use crate::images::{ImageSet, index_names};
use crate::{Error, Result};

/// The IDX type code for unsigned bytes.
pub const IDX_U8: u8 = 0x08;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Length of each axis, outermost first.
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Parses an IDX stream. `origin` only names the source in error messages.
///
/// # Errors
/// [`Error::Format`] for a wrong magic, an unsupported type, more than 4 axes or bytes
/// after the payload; [`Error::Truncated`] when the payload is shorter than announced;
/// [`Error::Io`] for read failures.
pub fn read_idx<R: Read>(mut reader: R, origin: &Path) -> Result<IdxArray> {
    let mut magic = [0u8; 4];
    read_header(&mut reader, &mut magic, origin)?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            origin,
            "IDX",
            format!(
                "expected the magic to start with bytes 00 00, found {:02x} {:02x} (is this an IDX file, e.g. train-images-idx3-ubyte?)",
                magic[0], magic[1]
            ),
        ));
    }
    if magic[2] != IDX_U8 {
        return Err(Error::format(
            origin,
            "IDX",
            format!(
                "expected element type 0x08 (unsigned byte), found 0x{:02x}",
                magic[2]
            ),
        ));
    }
    let ndims = usize::from(magic[3]);
    if ndims == 0 || ndims > 4 {
        return Err(Error::format(
            origin,
            "IDX",
            format!("expected 1 to 4 axes, the header announces {ndims}"),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    for _ in 0..ndims {
        let mut word = [0u8; 4];
        read_header(&mut reader, &mut word, origin)?;
        dims.push(u32::from_be_bytes(word) as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| Error::format(origin, "IDX", format!("axis lengths {dims:?} overflow")))?;
    // Grow with the data rather than trusting the header with a huge allocation.
    let mut data = Vec::with_capacity(usize::try_from(expected.min(1 << 26)).unwrap_or(0));
    let found = (&mut reader)
        .take(expected)
        .read_to_end(&mut data)
        .map_err(|e| stream_error(origin, e))? as u64;
    if found < expected {
        return Err(Error::Truncated {
            path: origin.to_path_buf(),
            expected,
            found,
        });
    }
    let mut extra = [0u8; 1];
    let more = reader
        .read(&mut extra)
        .map_err(|e| stream_error(origin, e))?;
    if more > 0 {
        return Err(Error::format(
            origin,
            "IDX",
            format!("expected the file to end after {expected} payload bytes, but it goes on"),
        ));
    }
    Ok(IdxArray { dims, data })
}

fn read_header<R: Read>(reader: &mut R, buf: &mut [u8], origin: &Path) -> Result<()> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format(
                origin,
                "IDX",
                "the file ends inside its header (expected a 4-byte magic and one 4-byte length per axis)",
            )
        } else {
            stream_error(origin, e)
        }
    })
}

/// Reads an IDX file, gzipped or raw (detected from its first bytes, not its name).
///
/// # Errors
/// As [`read_idx`], plus [`Error::Missing`] when the file does not exist.
pub fn read_idx_file(path: &Path) -> Result<IdxArray> {
    read_idx(open_stream(path)?, path)
}

/// Which split of an MNIST-style folder to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `train-*` files.
    Train,
    /// `t10k-*` files.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "t10k",
        }
    }
}

/// The file names accepted for a split, in order of preference: gzipped, raw, and the
/// dotted raw names some mirrors use (`train-images.idx3-ubyte`).
#[must_use]
pub fn idx_file_names(split: Split) -> ([String; 3], [String; 3]) {
    let p = split.prefix();
    (
        [
            format!("{p}-images-idx3-ubyte.gz"),
            format!("{p}-images-idx3-ubyte"),
            format!("{p}-images.idx3-ubyte"),
        ],
        [
            format!("{p}-labels-idx1-ubyte.gz"),
            format!("{p}-labels-idx1-ubyte"),
            format!("{p}-labels.idx1-ubyte"),
        ],
    )
}

/// Reads one split of an MNIST-style folder (the folder holding `train-images-idx3-ubyte.gz`
/// and friends directly) as grey `[N, 1, H, W]` images.
///
/// # Errors
/// [`Error::Missing`] naming the expected files (and the `--data-dir` option) when the
/// folder or a file is absent; [`Error::Format`] when the images are not 3-axis or the
/// labels not 1-axis; [`Error::CountMismatch`] when their counts differ; as [`read_idx`].
pub fn read_mnist_split(dir: &Path, split: Split, class_names: Vec<String>) -> Result<ImageSet> {
    let hint =
        "pass --data-dir (or set TDAL_DATA_DIR) to the folder holding the dataset's IDX files";
    require_dir(dir, "MNIST-style dataset folder", hint)?;
    // A folder without one of its files: say what it does hold.
    let (present, _) = idx_files_in(dir);
    let held = if present.is_empty() {
        "no IDX file".to_owned()
    } else {
        present.join(", ")
    };
    let hint = format!(
        "{} holds {held}; a dataset folder needs its four IDX files (train and t10k images \
         and labels, gzipped or not), and --data-dir (or TDAL_DATA_DIR) is the folder above \
         the dataset folders (DIR for DIR/mnist/ and DIR/fashion-mnist/)",
        dir.display()
    );
    let (image_names, label_names) = idx_file_names(split);
    let image_refs: Vec<&str> = image_names.iter().map(String::as_str).collect();
    let label_refs: Vec<&str> = label_names.iter().map(String::as_str).collect();
    let images_path = find_file(dir, &image_refs, "IDX image file", &hint)?;
    let labels_path = find_file(dir, &label_refs, "IDX label file", &hint)?;
    read_mnist_files(&images_path, &labels_path, class_names)
}

/// The IDX files of both splits (any accepted spelling, [`idx_file_names`]) present in
/// `dir`, and whether all four (training and test images and labels) are.
pub(crate) fn idx_files_in(dir: &Path) -> (Vec<String>, bool) {
    let mut present = Vec::new();
    let mut complete = true;
    for split in [Split::Train, Split::Test] {
        let (images, labels) = idx_file_names(split);
        for names in [images, labels] {
            let found: Vec<String> = names
                .into_iter()
                .filter(|n| dir.join(n).is_file())
                .collect();
            complete &= !found.is_empty();
            present.extend(found);
        }
    }
    (present, complete)
}

/// Reads an IDX image file `[N, H, W]` and its label file `[N]`.
///
/// # Errors
/// As [`read_mnist_split`].
pub fn read_mnist_files(
    images_path: &Path,
    labels_path: &Path,
    class_names: Vec<String>,
) -> Result<ImageSet> {
    let images = read_idx_file(images_path)?;
    let labels = read_idx_file(labels_path)?;
    if images.dims.len() != 3 {
        return Err(Error::format(
            images_path,
            "IDX image",
            format!(
                "expected 3 axes [N, H, W], found {} axes {:?} (did you swap the image and label files?)",
                images.dims.len(),
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(Error::format(
            labels_path,
            "IDX label",
            format!(
                "expected 1 axis [N], found {} axes {:?} (did you swap the image and label files?)",
                labels.dims.len(),
                labels.dims
            ),
        ));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(Error::CountMismatch {
            images: images_path.to_path_buf(),
            n_images: images.dims[0],
            labels: labels_path.to_path_buf(),
            n_labels: labels.dims[0],
        });
    }
    let class_names = if class_names.is_empty() {
        let max = labels.data.iter().copied().max().map_or(0, usize::from);
        index_names(max + 1)
    } else {
        class_names
    };
    if let Some(&bad) = labels
        .data
        .iter()
        .find(|&&l| usize::from(l) >= class_names.len())
    {
        return Err(Error::format(
            labels_path,
            "IDX label",
            format!(
                "expected labels 0..{}, found {bad}",
                class_names.len().saturating_sub(1)
            ),
        ));
    }
    let shape = [images.dims[0], 1, images.dims[1], images.dims[2]];
    ImageSet::from_u8(
        &images.data,
        shape,
        labels.data.iter().map(|&l| u32::from(l)).collect(),
        class_names,
    )
}

/// Paths of an MNIST-style folder's files that exist, for diagnostics.
#[must_use]
pub fn present_idx_files(dir: &Path) -> Vec<PathBuf> {
    [Split::Train, Split::Test]
        .into_iter()
        .flat_map(|s| {
            let (a, b) = idx_file_names(s);
            a.into_iter().chain(b)
        })
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_label_file() {
        let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
        let array = read_idx(&bytes[..], Path::new("mem")).unwrap();
        assert_eq!(array.dims, vec![3]);
        assert_eq!(array.data, vec![7, 8, 9]);
    }

    #[test]
    fn a_header_announcing_terabytes_is_truncated_not_allocated() {
        let bytes = [
            0, 0, 8, 3, 0, 255, 255, 255, 0, 255, 255, 255, 0, 0, 0, 2, 1,
        ];
        match read_idx(&bytes[..], Path::new("mem")).unwrap_err() {
            Error::Truncated { found, .. } => assert_eq!(found, 1),
            other => panic!("expected Truncated, got {other}"),
        }
    }

    #[test]
    fn split_file_names_cover_gzip_raw_and_dotted_forms() {
        let (images, labels) = idx_file_names(Split::Test);
        assert_eq!(images[0], "t10k-images-idx3-ubyte.gz");
        assert_eq!(images[2], "t10k-images.idx3-ubyte");
        assert_eq!(labels[1], "t10k-labels-idx1-ubyte");
    }
}
