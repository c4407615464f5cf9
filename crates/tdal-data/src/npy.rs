//! `.npy` datasets: an image (or embedding) array `[N, H, W]` or `[N, C, H, W]` of `u8`
//! (scaled to `[0, 1]`) or `f32` / `f64` (kept as is), plus integer labels `[N]`.
//!
//! The header's shape is checked against the file size before `ndarray-npy` allocates, so
//! a corrupt header is a typed error instead of a huge allocation.

use std::path::Path;

use ndarray::{Array4, ArrayD, Axis, Ix4};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};

use crate::files::read_all;
use crate::images::{ImageSet, index_names};
use crate::{Error, Result};

/// The number of elements the header of an `.npy` file announces, and the bytes after it.
fn check_header<'a>(bytes: &'a [u8], origin: &Path) -> Result<&'a [u8]> {
    let bad = |detail: &str| Error::format(origin, "npy", detail.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(
            "expected the magic \\x93NUMPY at the start (save the array with numpy.save)",
        ));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("the file ends inside its header"))?;
    let header = String::from_utf8_lossy(&bytes[start..end]);
    let shape_at = header
        .find("'shape'")
        .ok_or_else(|| bad("the header has no 'shape' entry"))?;
    let rest = &header[shape_at..];
    let open = rest
        .find('(')
        .ok_or_else(|| bad("the header's shape is not a tuple"))?;
    let close = rest[open..]
        .find(')')
        .ok_or_else(|| bad("the header's shape is not a tuple"))?;
    let mut elements: u64 = 1;
    for part in rest[open + 1..open + close].split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let d: u64 = part.trim_end_matches('L').parse().map_err(|_| {
            bad(&format!(
                "the header's shape has a non-integer axis {part:?}"
            ))
        })?;
        elements = elements
            .checked_mul(d)
            .ok_or_else(|| bad("the header's shape overflows"))?;
    }
    let payload = &bytes[end..];
    if elements > payload.len() as u64 {
        return Err(Error::Truncated {
            path: origin.to_path_buf(),
            expected: elements,
            found: payload.len() as u64,
        });
    }
    Ok(payload)
}

fn try_read<A: ReadableElement>(bytes: &[u8], origin: &Path) -> Result<Option<ArrayD<A>>> {
    match ArrayD::<A>::read_npy(bytes) {
        Ok(a) => Ok(Some(a)),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(ReadNpyError::MissingData) => Err(Error::Truncated {
            path: origin.to_path_buf(),
            expected: bytes.len() as u64 + 1,
            found: bytes.len() as u64,
        }),
        Err(e) => Err(Error::format(origin, "npy", e.to_string())),
    }
}

/// Parses `.npy` bytes holding images or embeddings, returning `[N, C, H, W]` `f32`.
/// `[N, D]` embeddings become `[N, 1, 1, D]`.
///
/// # Errors
/// [`Error::Format`] for a malformed file, a dtype other than u8/f32/f64, or a rank other
/// than 2, 3 or 4; [`Error::Truncated`] when data is missing.
pub fn parse_npy_images(bytes: &[u8], origin: &Path) -> Result<Array4<f32>> {
    check_header(bytes, origin)?;
    let array: ArrayD<f32> = if let Some(a) = try_read::<u8>(bytes, origin)? {
        a.mapv(|v| f32::from(v) / 255.0)
    } else if let Some(a) = try_read::<f32>(bytes, origin)? {
        a
    } else if let Some(a) = try_read::<f64>(bytes, origin)? {
        #[allow(clippy::cast_possible_truncation)]
        a.mapv(|v| v as f32)
    } else {
        return Err(Error::format(
            origin,
            "npy",
            "expected uint8, float32 or float64 values",
        ));
    };
    let array = match array.ndim() {
        2 => array.insert_axis(Axis(1)).insert_axis(Axis(1)),
        3 => array.insert_axis(Axis(1)),
        4 => array,
        n => {
            return Err(Error::format(
                origin,
                "npy",
                format!(
                    "expected images [N, H, W] or [N, C, H, W] (or embeddings [N, D]), found {n} axes {:?}",
                    array.shape()
                ),
            ));
        }
    };
    array
        .into_dimensionality::<Ix4>()
        .map_err(|e| Error::format(origin, "npy", e.to_string()))
}

/// Parses `.npy` bytes holding integer labels `[N]` (any integer dtype, non-negative).
///
/// # Errors
/// [`Error::Format`] for a malformed file, a non-integer dtype, a rank other than 1, or a
/// negative or too large label.
pub fn parse_npy_labels(bytes: &[u8], origin: &Path) -> Result<Vec<u32>> {
    check_header(bytes, origin)?;
    macro_rules! attempt {
        ($($t:ty),*) => {{
            let mut found: Option<ArrayD<i64>> = None;
            $(
                if found.is_none() {
                    if let Some(a) = try_read::<$t>(bytes, origin)? {
                        found = Some(a.mapv(|v| i64::try_from(v).unwrap_or(-1)));
                    }
                }
            )*
            found
        }};
    }
    let labels = attempt!(i64, i32, u8, u32, u16, i16, i8, u64).ok_or_else(|| {
        Error::format(
            origin,
            "npy",
            "expected integer labels (int8..int64, uint8..uint64)",
        )
    })?;
    if labels.ndim() != 1 {
        return Err(Error::format(
            origin,
            "npy",
            format!("expected labels of shape [N], found {:?}", labels.shape()),
        ));
    }
    labels
        .iter()
        .map(|&v| {
            u32::try_from(v).map_err(|_| {
                Error::format(
                    origin,
                    "npy",
                    format!("expected class labels 0, 1, 2, ..., found {v}"),
                )
            })
        })
        .collect()
}

/// Reads an images `.npy` and a labels `.npy` of the same length; classes are named by
/// their index.
///
/// # Errors
/// [`Error::Missing`] for absent files, [`Error::CountMismatch`] when the lengths differ,
/// as [`parse_npy_images`] and [`parse_npy_labels`].
pub fn read_npy_dataset(images_path: &Path, labels_path: &Path) -> Result<ImageSet> {
    let images = parse_npy_images(&read_all(images_path)?, images_path)?;
    let labels = parse_npy_labels(&read_all(labels_path)?, labels_path)?;
    if images.len_of(Axis(0)) != labels.len() {
        return Err(Error::CountMismatch {
            images: images_path.to_path_buf(),
            n_images: images.len_of(Axis(0)),
            labels: labels_path.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    ImageSet::new(images, labels, index_names(classes))
}
