//! Trained models with their variables: [`VaeModel`] (the unsupervised VAE) and
//! [`SplitModel`] (TD-SPLIT). Each owns a candle `VarMap`, initialises it from a seed,
//! embeds images in batches, and saves/loads a checkpoint folder holding
//! `model.safetensors` and `config.json`.
//!
//! After candle creates the variables, every one is overwritten from a seeded
//! `ChaCha8Rng` in name order by [`seeded_init`] with PyTorch's default initialisation
//! (`U(−1/√fan_in, 1/√fan_in)` for the weights and biases of these models; see
//! [`crate::init`]). Same seed ⇒ same weights on any machine.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::{Array2, ArrayView4, Axis, CowArray, Ix4};
use serde::{Serialize, de::DeserializeOwned};

use crate::init::poisoned;
pub use crate::init::seeded_init;
use crate::split::{SplitConfig, SplitVae};
use crate::vae::{Vae, VaeConfig};
use crate::{DeviceChoice, Error, Result};

/// File name of the weights inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the configuration inside a checkpoint folder.
pub const CONFIG_FILE: &str = "config.json";
/// Images per forward pass when embedding.
pub const EMBED_BATCH: usize = 500;

/// Something that maps images to embeddings.
pub trait Embedder {
    /// Embedding dimension d.
    fn embedding_dim(&self) -> usize;

    /// Embeds images (posterior means), in batches of [`EMBED_BATCH`].
    ///
    /// # Shapes
    /// `[N, C, H, W]` with `H, W ≤` the model's side (smaller images are zero-padded
    /// centrally with [`tdal_data::pad_to`]), values in `[0, 1]`; returns `[N, d]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong channel count, images larger than the model's side or
    /// values outside `[0, 1]`; candle errors.
    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>>;
}

/// The unsupervised VAE and its variables.
pub struct VaeModel {
    varmap: VarMap,
    vae: Vae,
    device: Device,
}

impl VaeModel {
    /// A freshly initialised model.
    ///
    /// # Errors
    /// As [`VaeConfig::check`] and [`DeviceChoice::open`]; candle errors.
    pub fn new(cfg: &VaeConfig, seed: u64, device: DeviceChoice) -> Result<Self> {
        let device = device.open()?;
        let varmap = VarMap::new();
        let vae = Vae::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
        seeded_init(&varmap, seed)?;
        Ok(Self {
            varmap,
            vae,
            device,
        })
    }

    /// The network.
    #[must_use]
    pub const fn vae(&self) -> &Vae {
        &self.vae
    }

    /// The variables (trained in place by [`crate::train`]).
    #[must_use]
    pub const fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device the variables live on.
    #[must_use]
    pub const fn device(&self) -> &Device {
        &self.device
    }

    /// Writes `model.safetensors` and `config.json` into `dir` (created if missing).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder or a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, &self.varmap, self.vae.config())
    }

    /// Loads a checkpoint written by [`VaeModel::save`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when a file is missing, unreadable or does not match the
    /// configuration; as [`DeviceChoice::open`].
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let cfg: VaeConfig = read_config(dir)?;
        let model = Self::new(&cfg, 0, device)?;
        load_weights(dir, &model.varmap)?;
        Ok(model)
    }
}

impl Embedder for VaeModel {
    fn embedding_dim(&self) -> usize {
        self.vae.config().latent_dim
    }

    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        embed_means(
            &self.vae,
            &self.device,
            images,
            self.vae.config().latent_dim,
        )
    }
}

/// TD-SPLIT and its variables. Its [`Embedder::embed`] returns the means of `z_c` only
/// (the head sees `z_c`); [`SplitModel::embed_full`] returns all of `z`.
pub struct SplitModel {
    varmap: VarMap,
    model: SplitVae,
    device: Device,
}

impl SplitModel {
    /// A freshly initialised model.
    ///
    /// # Errors
    /// As [`SplitConfig::check`] and [`DeviceChoice::open`]; candle errors.
    pub fn new(cfg: &SplitConfig, seed: u64, device: DeviceChoice) -> Result<Self> {
        let device = device.open()?;
        Self::on_device(cfg, seed, device)
    }

    fn on_device(cfg: &SplitConfig, seed: u64, device: Device) -> Result<Self> {
        let varmap = VarMap::new();
        let model = SplitVae::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
        seeded_init(&varmap, seed)?;
        Ok(Self {
            varmap,
            model,
            device,
        })
    }

    /// Starts from a trained VAE's weights (copied) and a fresh guidance classifier
    /// initialised from `seed`.
    ///
    /// # Errors
    /// [`Error::Config`] when `cfg.vae` differs from the VAE's configuration; as
    /// [`SplitConfig::check`]; candle errors.
    pub fn from_vae(vae: &VaeModel, cfg: &SplitConfig, seed: u64) -> Result<Self> {
        if &cfg.vae != vae.vae().config() {
            return Err(Error::Config(format!(
                "the TD-SPLIT VAE configuration {:?} differs from the trained VAE's {:?}",
                cfg.vae,
                vae.vae().config()
            )));
        }
        let model = Self::on_device(cfg, seed, vae.device().clone())?;
        let source = vae.varmap.data().lock().map_err(|_| poisoned())?;
        let target = model.varmap.data().lock().map_err(|_| poisoned())?;
        for (name, var) in source.iter() {
            let dst = target.get(name).ok_or_else(|| {
                Error::Config(format!("TD-SPLIT has no variable `{name}` of the VAE"))
            })?;
            dst.set(&var.as_tensor().copy()?)?;
        }
        drop(target);
        Ok(model)
    }

    /// The network.
    #[must_use]
    pub const fn model(&self) -> &SplitVae {
        &self.model
    }

    /// The variables (trained in place by [`crate::train`]; warm starts keep training them).
    #[must_use]
    pub const fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device the variables live on.
    #[must_use]
    pub const fn device(&self) -> &Device {
        &self.device
    }

    /// Posterior means of the whole latent `z`.
    ///
    /// # Shapes
    /// As [`Embedder::embed`], returning `[N, |z|]`.
    ///
    /// # Errors
    /// As [`Embedder::embed`].
    pub fn embed_full(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let cfg = &self.model.config().vae;
        embed_means(&self.model.vae, &self.device, images, cfg.latent_dim)
    }

    /// Writes `model.safetensors` and `config.json` into `dir` (created if missing).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder or a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, &self.varmap, self.model.config())
    }

    /// Loads a checkpoint written by [`SplitModel::save`].
    ///
    /// # Errors
    /// As [`VaeModel::load`].
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let cfg: SplitConfig = read_config(dir)?;
        let model = Self::new(&cfg, 0, device)?;
        load_weights(dir, &model.varmap)?;
        Ok(model)
    }
}

impl Embedder for SplitModel {
    fn embedding_dim(&self) -> usize {
        self.model.config().content_dim
    }

    fn embed(&self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let content_dim = self.model.config().content_dim;
        embed_means(&self.model.vae, &self.device, images, content_dim)
    }
}

impl std::fmt::Debug for VaeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaeModel")
            .field("config", self.vae.config())
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SplitModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitModel")
            .field("config", self.model.config())
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn checkpoint_error(path: PathBuf, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path,
        message: message.to_string(),
    }
}

pub(crate) fn save_checkpoint<C: Serialize>(dir: &Path, varmap: &VarMap, cfg: &C) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| checkpoint_error(dir.to_path_buf(), e))?;
    let config_path = dir.join(CONFIG_FILE);
    let json =
        serde_json::to_string_pretty(cfg).map_err(|e| checkpoint_error(config_path.clone(), e))?;
    std::fs::write(&config_path, json).map_err(|e| checkpoint_error(config_path, e))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    varmap
        .save(&weights_path)
        .map_err(|e| checkpoint_error(weights_path, e))
}

pub(crate) fn read_config<C: DeserializeOwned>(dir: &Path) -> Result<C> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        checkpoint_error(
            path.clone(),
            format!("{e}: expected a checkpoint folder written by `save`"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        checkpoint_error(
            path,
            format!("{e}: the configuration does not match this model type"),
        )
    })
}

pub(crate) fn load_weights(dir: &Path, varmap: &VarMap) -> Result<()> {
    let path = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        return Err(checkpoint_error(
            path,
            "missing: expected the weights beside config.json",
        ));
    }
    // `VarMap::load` takes `&mut self` but only sets the existing variables' values.
    let mut handle = varmap.clone();
    handle
        .load(&path)
        .map_err(|e| checkpoint_error(path, format!("{e}: weights do not match config.json")))
}

/// Checks images against a model's input and pads them to its side.
///
/// # Errors
/// As [`Embedder::embed`].
pub fn prepare_images<'a>(
    images: ArrayView4<'a, f32>,
    cfg: &VaeConfig,
) -> Result<CowArray<'a, f32, Ix4>> {
    check_images(&images, cfg)?;
    let (_, _, h, w) = images.dim();
    let s = cfg.image_size;
    if h == s && w == s {
        Ok(CowArray::from(images))
    } else {
        Ok(CowArray::from(tdal_data::pad_to(&images.to_owned(), s, s)?))
    }
}

/// The shape and value checks of [`prepare_images`].
pub(crate) fn check_images(images: &ArrayView4<'_, f32>, cfg: &VaeConfig) -> Result<()> {
    let (n, c, h, w) = images.dim();
    let s = cfg.image_size;
    if c != cfg.channels || h > s || w > s {
        return Err(Error::Shape(format!(
            "expected images [N, {}, H ≤ {s}, W ≤ {s}], got [{n}, {c}, {h}, {w}]",
            cfg.channels
        )));
    }
    if let Some(bad) = images.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::Shape(format!(
            "expected pixel values in [0, 1] (Bernoulli likelihood), found {bad}"
        )));
    }
    Ok(())
}

/// The listed images of a checked `[N, C, H, W]` array, zero-padded centrally (as
/// [`tdal_data::pad_to`]) into a channels-first `[B, C, S, S]` vector.
pub(crate) fn gather_padded(
    images: &ArrayView4<'_, f32>,
    indices: impl ExactSizeIterator<Item = usize>,
    side: usize,
) -> Vec<f32> {
    let (_, c, h, w) = images.dim();
    let (top, left) = ((side - h) / 2, (side - w) / 2);
    let mut out = vec![0.0; indices.len() * c * side * side];
    let mut planes = out.chunks_exact_mut(side * side);
    for i in indices {
        for channel in images.index_axis(Axis(0), i).outer_iter() {
            let plane = planes.next().expect("one plane per image channel");
            for (row, values) in channel.outer_iter().enumerate() {
                let start = (top + row) * side + left;
                for (dst, &v) in plane[start..start + w].iter_mut().zip(values.iter()) {
                    *dst = v;
                }
            }
        }
    }
    out
}

/// Copies the listed images, zero-padded to `side × side`, into one `[B, C, S, S]` tensor.
pub(crate) fn batch_tensor(
    images: &ArrayView4<'_, f32>,
    indices: &[usize],
    side: usize,
    device: &Device,
) -> Result<Tensor> {
    let c = images.dim().1;
    let data = gather_padded(images, indices.iter().copied(), side);
    Ok(Tensor::from_vec(
        data,
        (indices.len(), c, side, side),
        device,
    )?)
}

/// Posterior means (the first `dims` of them) in batches of [`EMBED_BATCH`]: on the CPU
/// the encoder runs on slices without a graph ([`crate::step`]) and each batch is padded
/// on its own, so the pool is never copied whole.
fn embed_means(
    vae: &Vae,
    device: &Device,
    images: ArrayView4<'_, f32>,
    dims: usize,
) -> Result<Array2<f32>> {
    let cfg = vae.config();
    check_images(&images, cfg)?;
    let n = images.len_of(Axis(0));
    let mut out = Array2::zeros((n, dims));
    let fused = device.is_cpu() && vae.encoder.fc1.weight().dtype() == DType::F32;
    let (side, channels) = (cfg.image_size, cfg.channels);
    for start in (0..n).step_by(EMBED_BATCH) {
        let end = (start + EMBED_BATCH).min(n);
        let x = gather_padded(&images, start..end, side);
        let both = if fused {
            crate::step::encode::<f32>(vae, &x, end - start)?
        } else {
            let x = Tensor::from_vec(x, (end - start, channels, side, side), device)?;
            vae.encoder
                .forward(&x)?
                .detach()
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?
        };
        for (row, values) in both.chunks_exact(2 * cfg.latent_dim).enumerate() {
            for (dst, &v) in out.row_mut(start + row).iter_mut().zip(&values[..dims]) {
                *dst = v;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array4, Axis};

    use super::gather_padded;

    #[test]
    fn gathered_batches_are_padded_like_pad_to() {
        let images = Array4::from_shape_fn((4, 2, 5, 6), |(n, c, h, w)| {
            (n * 1000 + c * 100 + h * 10 + w) as f32
        });
        let padded = tdal_data::pad_to(&images, 9, 8).unwrap();
        // Square targets only in the models; check a square one against pad_to too.
        let square = tdal_data::pad_to(&images, 9, 9).unwrap();
        let gathered = gather_padded(&images.view(), [3_usize, 1].into_iter(), 9);
        let expected: Vec<f32> = [3, 1]
            .iter()
            .flat_map(|&i| {
                square
                    .index_axis(Axis(0), i)
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(gathered, expected);
        assert_eq!(padded.dim(), (4, 2, 9, 8));
    }
}
