//! Helpers shared by the integration tests: the fixture path, writers for small files in
//! the exact on-disk formats, and synthetic sources whose pixels encode where they came
//! from (so a test can check the builder copied the right image).
#![allow(dead_code, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array4;
use proptest::prelude::*;
use tdal_data::{ImageSet, Source, index_names};

/// `fixtures/fmnist-mini` at the repository root.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// Bytes of an unsigned-byte IDX file.
pub fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes an MNIST-style split (`{prefix}-images-idx3-ubyte[.gz]` + labels).
pub fn write_mnist_split(dir: &Path, prefix: &str, labels: &[u8], side: u32, gz: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let n = labels.len() as u32;
    let pixels: Vec<u8> = (0..n * side * side).map(|i| (i % 251) as u8).collect();
    let images = idx_bytes(&[n, side, side], &pixels);
    let label_file = idx_bytes(&[n], labels);
    let (images, label_file, ext) = if gz {
        (gzip(&images), gzip(&label_file), ".gz")
    } else {
        (images, label_file, "")
    };
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), images).unwrap();
    std::fs::write(
        dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
        label_file,
    )
    .unwrap();
}

/// An image set whose pixels encode (source, split, index): `[source, split, index / 1000,
/// index % 1000]` in a 1×2×2 image.
pub fn encoded_set(source: u16, split: u8, labels: Vec<u32>, classes: usize) -> ImageSet {
    let n = labels.len();
    let mut images = Array4::zeros((n, 1, 2, 2));
    for i in 0..n {
        images[[i, 0, 0, 0]] = f32::from(source);
        images[[i, 0, 0, 1]] = f32::from(split);
        images[[i, 0, 1, 0]] = (i / 1000) as f32;
        images[[i, 0, 1, 1]] = (i % 1000) as f32;
    }
    ImageSet::new(images, labels, index_names(classes)).unwrap()
}

/// A source with `train[c]` / `test[c]` images of class c, in a scrambled class order.
pub fn encoded_source(source: u16, train: &[usize], test: &[usize]) -> Source {
    let labels = |counts: &[usize]| -> Vec<u32> {
        let mut l: Vec<u32> = counts
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| std::iter::repeat_n(c as u32, n))
            .collect();
        // Interleave deterministically so classes are not contiguous.
        l.sort_by_key(|&c| (c.wrapping_mul(2_654_435_761)) % 7);
        l
    };
    Source {
        name: format!("source{source}"),
        train: encoded_set(source, 0, labels(train), train.len()),
        test: encoded_set(source, 1, labels(test), test.len()),
    }
}

/// Arbitrary bytes, biased towards plausible headers.
pub fn arbitrary_idx_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            0u8..6,
            proptest::collection::vec(any::<u32>(), 0..5),
            proptest::collection::vec(any::<u8>(), 0..128)
        )
            .prop_map(|(nd, dims, payload)| {
                let mut out = vec![0, 0, 0x08, nd];
                for d in dims {
                    out.extend_from_slice(&(d % 40).to_be_bytes());
                }
                out.extend_from_slice(&payload);
                out
            }),
    ]
}
