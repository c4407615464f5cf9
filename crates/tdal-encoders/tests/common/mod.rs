//! Helpers shared by the integration tests: the fixture images and tiny configurations.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_data::{ImageSet, idx::Split, idx::read_mnist_split, index_names};
use tdal_encoders::{SplitConfig, VaeConfig};

/// `fixtures/fmnist-mini` at the repository root.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// The fixture's Fashion-MNIST training images (1,000, 28 × 28).
pub fn fashion_train() -> ImageSet {
    read_mnist_split(
        &fixture_dir().join("fashion-mnist"),
        Split::Train,
        index_names(10),
    )
    .expect("fixture readable")
}

/// The fixture's MNIST training images (400, 28 × 28).
pub fn mnist_train() -> ImageSet {
    read_mnist_split(&fixture_dir().join("mnist"), Split::Train, index_names(10))
        .expect("fixture readable")
}

/// A small VAE that still has the full 32 × 32 layout.
pub fn small_vae() -> VaeConfig {
    VaeConfig {
        conv_channels: 8,
        hidden_dim: 32,
        latent_dim: 4,
        ..VaeConfig::default()
    }
}

pub fn small_split(num_classes: usize) -> SplitConfig {
    SplitConfig {
        vae: small_vae(),
        content_dim: 2,
        classifier_hidden: 16,
        num_classes,
    }
}

/// A tensor's values as f64, flattened.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// A CPU tensor of `shape` with entries drawn uniformly from [−1, 1) by a seeded generator.
pub fn random(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}
