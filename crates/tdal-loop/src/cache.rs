//! On-disk cache of trained US encoders and their embeddings, keyed by content hashes.
//!
//! Key of an encoder: blake3 over the pool's pixels, the architecture, the training
//! configuration (seeds included), and the matrix-product kernels unless they are the
//! AVX2 ones ([`encoder_key`]: other kernels' weights differ in the last bits, so they
//! never share an entry). Key of an embedding: blake3 over the encoder key and
//! the embedded images' pixels. Entries are written to a temporary name and renamed into
//! place, so a killed process never leaves a half-written entry that a later run trusts.
//! A second run with identical data, configuration and seed never retrains the encoder.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView4};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

use crate::{Error, Result};

/// Hex blake3 of images' pixel values (little-endian f32, row-major) and their shape.
#[must_use]
pub fn images_hash(images: ArrayView4<'_, f32>) -> String {
    let mut hasher = blake3::Hasher::new();
    for d in images.shape() {
        hasher.update(&(*d as u64).to_le_bytes());
    }
    let mut buffer = Vec::with_capacity(1 << 18);
    for &v in &images {
        buffer.extend_from_slice(&v.to_le_bytes());
        if buffer.len() >= 1 << 18 {
            hasher.update(&buffer);
            buffer.clear();
        }
    }
    hasher.update(&buffer);
    hasher.finalize().to_hex().to_string()
}

/// Hex blake3 of several strings, each length-prefixed.
#[must_use]
pub fn hash_parts(parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for p in parts {
        hasher.update(&(p.len() as u64).to_le_bytes());
        hasher.update(p.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// [`hash_parts`] of an encoder's description, with `"kernels/<name>"` appended unless the
/// encoders' matrix products run on the AVX2 + FMA kernels (`tdal_encoders::kernels`):
/// keys made on those are the keys of caches written before the choice existed.
#[must_use]
pub fn encoder_key(parts: &[&str]) -> String {
    let kernels = tdal_encoders::kernels::in_use();
    if kernels == "avx2+fma" {
        hash_parts(parts)
    } else {
        let suffix = format!("kernels/{kernels}");
        let mut parts = parts.to_vec();
        parts.push(&suffix);
        hash_parts(&parts)
    }
}

/// The cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Folder of an encoder entry, whether or not it exists.
    #[must_use]
    pub fn encoder_dir(&self, kind: &str, key: &str) -> PathBuf {
        self.root.join(kind).join(key)
    }

    /// Whether an encoder entry is complete.
    #[must_use]
    pub fn has_encoder(&self, kind: &str, key: &str) -> bool {
        self.encoder_dir(kind, key).join("done").exists()
    }

    /// Stores an encoder: `write` fills a temporary folder which is then renamed into place.
    ///
    /// # Errors
    /// [`Error::Io`]; whatever `write` returns.
    pub fn store_encoder(
        &self,
        kind: &str,
        key: &str,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let dir = self.encoder_dir(kind, key);
        let tmp = self
            .root
            .join(kind)
            .join(format!("{key}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("cannot clear", &tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
        write(&tmp)?;
        std::fs::write(tmp.join("done"), b"").map_err(|e| Error::io("cannot write", &tmp, e))?;
        if dir.exists() {
            // Another process finished the same entry first; both are identical.
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("cannot clear", &tmp, e))?;
        } else {
            std::fs::rename(&tmp, &dir).map_err(|e| Error::io("cannot rename", &dir, e))?;
        }
        Ok(dir)
    }

    fn embedding_path(&self, key: &str) -> PathBuf {
        self.root.join("embeddings").join(format!("{key}.npy"))
    }

    /// A cached embedding, if present and readable.
    #[must_use]
    pub fn load_embedding(&self, key: &str) -> Option<Array2<f32>> {
        let file = std::fs::File::open(self.embedding_path(key)).ok()?;
        Array2::<f32>::read_npy(std::io::BufReader::new(file)).ok()
    }

    /// Stores an embedding atomically.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Cache`].
    pub fn store_embedding(&self, key: &str, embedding: &Array2<f32>) -> Result<()> {
        let path = self.embedding_path(key);
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        crate::record::write_atomic_with(&path, &mut |file| {
            embedding.write_npy(file).map_err(std::io::Error::other)
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array4;

    use super::*;

    #[test]
    fn hashes_see_values_and_shapes() {
        let a = Array4::<f32>::zeros((2, 1, 2, 2));
        let mut b = a.clone();
        b[[1, 0, 1, 1]] = 1e-7;
        let c = Array4::<f32>::zeros((1, 2, 2, 2));
        assert_ne!(images_hash(a.view()), images_hash(b.view()));
        assert_ne!(images_hash(a.view()), images_hash(c.view()));
        assert_eq!(images_hash(a.view()), images_hash(a.clone().view()));
        assert_ne!(hash_parts(&["ab", "c"]), hash_parts(&["a", "bc"]));
    }

    #[test]
    fn encoder_keys_name_every_kernels_but_avx2() {
        let parts = ["us-vae/1", "pool", "{}"];
        let kernels = tdal_encoders::kernels::in_use();
        let expected = if kernels == "avx2+fma" {
            hash_parts(&parts)
        } else {
            hash_parts(&["us-vae/1", "pool", "{}", &format!("kernels/{kernels}")])
        };
        assert_eq!(encoder_key(&parts), expected);
    }

    #[test]
    fn entries_round_trip_and_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert!(!cache.has_encoder("vae", "k"));
        let failed = cache.store_encoder("vae", "k", |_| Err(Error::Config("boom".into())));
        assert!(failed.is_err());
        assert!(!cache.has_encoder("vae", "k"));
        cache
            .store_encoder("vae", "k", |d| {
                std::fs::write(d.join("w"), b"1").map_err(|e| Error::io("w", d, e))
            })
            .unwrap();
        assert!(cache.has_encoder("vae", "k"));
        let e = Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32);
        cache.store_embedding("e", &e).unwrap();
        assert_eq!(cache.load_embedding("e").unwrap(), e);
        assert!(cache.load_embedding("missing").is_none());
    }
}
