//! Encoders pretrained once on the pool and cached: what US VAE and US SimCLR share.
//!
//! A [`Pretraining`] recipe says how such an encoder is made (its architecture, training
//! and seeds, and so its cache key); `load_or_train` takes it from the [`Cache`] or trains
//! and stores it; [`FixedEncoder`] is the representation that never changes afterwards.
//! TD-SPLIT and TD-FT start from the same cached encoders through `load_or_train`.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, ArrayView4, Axis};
use tdal_encoders::{DeviceChoice, Embedder};

use super::representation::{Initialised, Representation, not_initialised};
use crate::cache::{Cache, hash_parts, images_hash};
use crate::{Error, Result};

/// How an encoder pretrained on the pool alone is made and stored.
pub trait Pretraining {
    /// The trained encoder.
    type Model: Embedder;

    /// The cache folder of these encoders (`us-vae`), also the representation's name.
    const KIND: &'static str;

    /// Cache key: the pool's pixels (`pool_hash`), the architecture, the training and the
    /// seeds.
    fn key(&self, pool_hash: &str) -> String;

    /// A fresh encoder trained on `pool`, calling `progress(done, total)` as training
    /// advances, and what its cache entry's `train.json` records of the training (a JSON
    /// object; `load_or_train` adds `train_seconds`).
    ///
    /// # Shapes
    /// `pool` `[N, C, H, W]` in `[0, 1]`.
    ///
    /// # Errors
    /// Encoder training errors.
    fn train(
        &self,
        device: DeviceChoice,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(Self::Model, serde_json::Value)>;

    /// Writes `model` into `dir`.
    ///
    /// # Errors
    /// Checkpoint errors.
    fn save(model: &Self::Model, dir: &Path) -> Result<()>;

    /// Reads a model written by [`Pretraining::save`].
    ///
    /// # Errors
    /// Checkpoint errors.
    fn load(dir: &Path, device: DeviceChoice) -> Result<Self::Model>;
}

/// Loads the encoder `recipe` makes for `pool` from `cache`, or trains and stores it;
/// returns it with its cache key.
///
/// # Errors
/// Encoder training or cache errors.
pub(crate) fn load_or_train<R: Pretraining>(
    recipe: &R,
    cache: &Cache,
    device: DeviceChoice,
    pool: ArrayView4<'_, f32>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(R::Model, String, Initialised)> {
    let start = Instant::now();
    let key = recipe.key(&images_hash(pool));
    if cache.has_encoder(R::KIND, &key) {
        let model = R::load(&cache.encoder_dir(R::KIND, &key), device)?;
        let seconds = start.elapsed().as_secs_f64();
        return Ok((
            model,
            key,
            Initialised {
                seconds,
                cached: true,
            },
        ));
    }
    let (model, mut info) = recipe.train(device, pool, progress)?;
    let seconds = start.elapsed().as_secs_f64();
    info["train_seconds"] = serde_json::json!(seconds);
    cache.store_encoder(R::KIND, &key, |dir| {
        R::save(&model, dir)?;
        std::fs::write(dir.join("train.json"), info.to_string())
            .map_err(|e| Error::io("cannot write", dir, e))
    })?;
    Ok((
        model,
        key,
        Initialised {
            seconds,
            cached: false,
        },
    ))
}

/// A fixed encoder's embedding of `images`, from the cache when an entry for this encoder
/// (`encoder_key`) and these pixels exists, else computed and stored.
///
/// # Errors
/// Encoder and cache errors.
fn embed_through_cache(
    cache: &Cache,
    encoder_key: &str,
    images: ArrayView4<'_, f32>,
    model: &dyn Embedder,
) -> Result<Array2<f32>> {
    let embed_key = hash_parts(&["embedding/1", encoder_key, &images_hash(images)]);
    if let Some(cached) = cache.load_embedding(&embed_key)
        && cached.dim() == (images.len_of(Axis(0)), model.embedding_dim())
    {
        return Ok(cached);
    }
    let z = model.embed(images)?;
    cache.store_embedding(&embed_key, &z)?;
    Ok(z)
}

/// An encoder pretrained once on the pool by `R` (or loaded from the [`Cache`]) and never
/// updated: the head sees its embedding, itself cached. [`super::Fixed`] (US VAE) and
/// [`super::FixedSimclr`] (US SimCLR) are the two the configuration names.
#[derive(Debug)]
pub struct FixedEncoder<R: Pretraining> {
    recipe: R,
    cache: Cache,
    device: DeviceChoice,
    model: Option<(R::Model, String)>,
}

impl<R: Pretraining> FixedEncoder<R> {
    /// The encoder `recipe` makes, through `cache`, on `device`.
    pub(crate) const fn with_recipe(recipe: R, cache: Cache, device: DeviceChoice) -> Self {
        Self {
            recipe,
            cache,
            device,
            model: None,
        }
    }
}

impl<R: Pretraining> Representation for FixedEncoder<R> {
    fn name(&self) -> &'static str {
        R::KIND
    }

    fn initialise(
        &mut self,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised> {
        let (model, key, info) =
            load_or_train(&self.recipe, &self.cache, self.device, pool, progress)?;
        self.model = Some((model, key));
        Ok(info)
    }

    fn update(
        &mut self,
        _pool: ArrayView4<'_, f32>,
        _labelled: ArrayView4<'_, f32>,
        _labels: &[u32],
        _round: usize,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<bool> {
        Ok(false)
    }

    fn embed(&mut self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let (model, key) = self.model.as_ref().ok_or_else(not_initialised)?;
        embed_through_cache(&self.cache, key, images, model)
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let (model, _) = self.model.as_ref().ok_or_else(not_initialised)?;
        R::save(model, dir)
    }

    fn load_state(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}
