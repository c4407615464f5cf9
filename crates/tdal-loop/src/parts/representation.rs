//! Representations: what the head sees.
//!
//! - [`Fixed`]: the US VAE, trained once on the pool (or loaded from the [`Cache`]) and never
//!   updated ([`FixedEncoder`] with the [`UsVaeRecipe`]); the head sees the posterior mean
//!   of the whole z.
//! - [`SplitVae`]: TD-SPLIT, started from the cached US VAE's weights with a fresh guidance
//!   classifier and updated (warm-started) with the labels so far; the head sees z_c.
//! - The SimCLR representations (US SimCLR, TD-FT) live in [`super::simclr`].
//!
//! The loop drives both through [`Representation`] and never knows which it holds.
//! Before round 0 the loop calls [`Representation::initialise`]; at the start of round 0
//! and every `loop.retrain_every` rounds [`Representation::update`] (a fixed
//! representation returns `false` and nothing else happens); whenever an update changed
//! the representation, the loop re-embeds and checkpoints it with
//! [`Representation::save_state`], which `--resume` reads back with
//! [`Representation::load_state`].

use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, Array4, ArrayView4, Axis};
use tdal_encoders::{
    DeviceChoice, Embedder, LabelledSchedule, SplitConfig, SplitModel, SplitTrainConfig, VaeConfig,
    VaeModel, VaeTrainConfig, train_split_with_progress, train_vae_with_progress,
};

use super::fixed::{FixedEncoder, Pretraining, load_or_train};
use crate::cache::{Cache, encoder_key};
use crate::config::{ScheduleKind, SplitSettings, VaeSettings};
use crate::seeds::stream_seed;
use crate::{Error, Result};

/// How the initial representation was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Initialised {
    /// Seconds spent (training, or loading from the cache).
    pub seconds: f64,
    /// Whether a cached encoder was used.
    pub cached: bool,
}

/// A representation of images for the prediction head.
pub trait Representation {
    /// A short name for progress messages (`us-vae`, `td-split`).
    fn name(&self) -> &'static str;

    /// Obtains the initial encoder for `pool` (trains it, or loads it from the cache),
    /// calling `progress(done, total)` as training advances.
    ///
    /// # Shapes
    /// `pool` `[N, C, H, W]` in `[0, 1]`.
    ///
    /// # Errors
    /// Encoder training or cache errors.
    fn initialise(
        &mut self,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised>;

    /// Retrains with the labels so far at the start of `round`; returns whether the
    /// representation changed (`false` for fixed representations, which ignore the call:
    /// then the loop neither re-embeds nor checkpoints); `progress(done, total)` follows
    /// the training steps. Its randomness comes from `round`, never from earlier calls, so
    /// a resumed run repeats it exactly.
    ///
    /// # Shapes
    /// `pool` `[N, C, H, W]`; `labelled` `[L, C, H, W]` with `labels` `[L]`.
    ///
    /// # Errors
    /// Encoder training errors; [`Error::Config`] if called before `initialise`.
    fn update(
        &mut self,
        pool: ArrayView4<'_, f32>,
        labelled: ArrayView4<'_, f32>,
        labels: &[u32],
        round: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<bool>;

    /// Features for the head.
    ///
    /// # Shapes
    /// `[N, C, H, W]` → `[N, d]`.
    ///
    /// # Errors
    /// Encoder errors; [`Error::Config`] if called before `initialise`.
    fn embed(&mut self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>>;

    /// Writes the current state into `dir` (the loop calls it after an update that
    /// changed the representation; a fixed one writes its encoder, for exports).
    ///
    /// # Errors
    /// Checkpoint errors; [`Error::Config`] before `initialise` where there is no state.
    fn save_state(&self, dir: &Path) -> Result<()>;

    /// Restores a state written by [`Representation::save_state`].
    ///
    /// # Errors
    /// Checkpoint errors.
    fn load_state(&mut self, dir: &Path) -> Result<()>;
}

/// The US VAE's architecture and training, derived from the run's settings.
#[derive(Debug, Clone)]
pub struct UsVaeRecipe {
    vae: VaeConfig,
    train: VaeTrainConfig,
    init_seed: u64,
}

impl UsVaeRecipe {
    fn new(cfg: &VaeSettings, channels: usize, seed: u64) -> Self {
        Self {
            vae: VaeConfig {
                channels,
                latent_dim: cfg.latent_dim,
                ..VaeConfig::default()
            },
            train: VaeTrainConfig {
                epochs: cfg.epochs,
                batch_size: cfg.batch_size,
                learning_rate: cfg.learning_rate,
                beta: 1.0,
                kl_warmup_epochs: cfg.kl_warmup_epochs,
                seed: stream_seed(seed, "us-vae-train", 0),
            },
            init_seed: stream_seed(seed, "us-vae-init", 0),
        }
    }
}

impl Pretraining for UsVaeRecipe {
    type Model = VaeModel;

    const KIND: &'static str = "us-vae";

    fn key(&self, pool_hash: &str) -> String {
        let vae = serde_json::to_string(&self.vae).unwrap_or_default();
        let train = serde_json::to_string(&self.train).unwrap_or_default();
        let init = self.init_seed.to_string();
        encoder_key(&["us-vae/1", pool_hash, &vae, &train, &init])
    }

    fn train(
        &self,
        device: DeviceChoice,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(VaeModel, serde_json::Value)> {
        let mut model = VaeModel::new(&self.vae, self.init_seed, device)?;
        let report = train_vae_with_progress(&mut model, pool, &self.train, progress)?;
        let info = serde_json::json!({ "epoch_neg_elbo": report.epoch_neg_elbo });
        Ok((model, info))
    }

    fn save(model: &VaeModel, dir: &Path) -> Result<()> {
        Ok(model.save(dir)?)
    }

    fn load(dir: &Path, device: DeviceChoice) -> Result<VaeModel> {
        Ok(VaeModel::load(dir, device)?)
    }
}

/// The fixed unsupervised VAE (US).
pub type Fixed = FixedEncoder<UsVaeRecipe>;

impl Fixed {
    /// A US VAE for images with `channels` channels, trained with the run's `seed`.
    #[must_use]
    pub fn new(
        cfg: &VaeSettings,
        channels: usize,
        seed: u64,
        cache: Cache,
        device: DeviceChoice,
    ) -> Self {
        Self::with_recipe(UsVaeRecipe::new(cfg, channels, seed), cache, device)
    }
}

pub(crate) fn not_initialised() -> Error {
    Error::Config("the representation was used before initialise".to_owned())
}

/// Refuses a checkpoint in `dir` whose architecture (`found`) is not the configured one.
///
/// # Errors
/// [`Error::Resume`] when they differ.
pub(crate) fn check_architecture<C: PartialEq>(
    found: &C,
    configured: &C,
    dir: &Path,
) -> Result<()> {
    if found == configured {
        Ok(())
    } else {
        Err(Error::Resume {
            path: dir.to_path_buf(),
            message: "the checkpoint's architecture differs from the configuration".into(),
        })
    }
}

/// TD-SPLIT: the split-latent VAE, retrained with the labels (warm starts).
#[derive(Debug)]
pub struct SplitVae {
    recipe: UsVaeRecipe,
    split: SplitConfig,
    train: SplitTrainConfig,
    warm_start: bool,
    update_images: Option<usize>,
    min_update_steps: Option<usize>,
    seed: u64,
    cache: Cache,
    device: DeviceChoice,
    model: Option<SplitModel>,
}

impl SplitVae {
    /// TD-SPLIT for images with `channels` channels and `num_classes` label-map classes.
    #[must_use]
    pub fn new(
        cfg: &SplitSettings,
        channels: usize,
        num_classes: usize,
        seed: u64,
        cache: Cache,
        device: DeviceChoice,
    ) -> Self {
        let recipe = UsVaeRecipe::new(&cfg.pretrain, channels, seed);
        let split = SplitConfig {
            vae: recipe.vae.clone(),
            content_dim: cfg.content_dim,
            classifier_hidden: 128,
            num_classes,
        };
        let train = SplitTrainConfig {
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            labelled_batch_size: cfg.batch_size,
            learning_rate: cfg.learning_rate,
            beta: 1.0,
            alpha: cfg.alpha,
            kl_warmup_epochs: if cfg.warm_start {
                0.0
            } else {
                cfg.pretrain.kl_warmup_epochs
            },
            schedule: match cfg.schedule {
                ScheduleKind::AfterEvery => LabelledSchedule::AfterEvery(1),
                ScheduleKind::EvenlySpaced => LabelledSchedule::EvenlySpaced,
            },
            ..SplitTrainConfig::default()
        };
        Self {
            recipe,
            split,
            train,
            warm_start: cfg.warm_start,
            update_images: cfg.update_images,
            min_update_steps: cfg.min_update_steps,
            seed,
            cache,
            device,
            model: None,
        }
    }
}

impl Representation for SplitVae {
    fn name(&self) -> &'static str {
        "td-split"
    }

    fn initialise(
        &mut self,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised> {
        let classifier_seed = stream_seed(self.seed, "td-split-init", 0);
        if !self.warm_start {
            let start = Instant::now();
            self.model = Some(SplitModel::new(&self.split, classifier_seed, self.device)?);
            let seconds = start.elapsed().as_secs_f64();
            return Ok(Initialised {
                seconds,
                cached: false,
            });
        }
        let (vae, _, info) = load_or_train(&self.recipe, &self.cache, self.device, pool, progress)?;
        self.model = Some(SplitModel::from_vae(&vae, &self.split, classifier_seed)?);
        Ok(info)
    }

    fn update(
        &mut self,
        pool: ArrayView4<'_, f32>,
        labelled: ArrayView4<'_, f32>,
        labels: &[u32],
        round: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<bool> {
        let model = self.model.as_mut().ok_or_else(not_initialised)?;
        let n = pool.len_of(Axis(0));
        let images = self.update_images.map_or(n, |m| m.min(n));
        let train = SplitTrainConfig {
            seed: stream_seed(self.seed, "td-split-update", round),
            epochs: update_passes(
                self.train.epochs,
                self.min_update_steps,
                images,
                self.train.batch_size,
            ),
            ..self.train.clone()
        };
        if images < n {
            let mut rng = crate::seeds::rng(self.seed, "td-split-subsample", round);
            let mut idx = rand::seq::index::sample(&mut rng, n, images).into_vec();
            idx.sort_unstable();
            let subset: Array4<f32> = pool.select(Axis(0), &idx);
            train_split_with_progress(model, subset.view(), labelled, labels, &train, progress)?;
        } else {
            train_split_with_progress(model, pool, labelled, labels, &train, progress)?;
        }
        Ok(true)
    }

    fn embed(&mut self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let model = self.model.as_ref().ok_or_else(not_initialised)?;
        Ok(model.embed(images)?)
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let model = self.model.as_ref().ok_or_else(not_initialised)?;
        Ok(model.save(dir)?)
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let model = SplitModel::load(dir, self.device)?;
        check_architecture(model.model().config(), &self.split, dir)?;
        self.model = Some(model);
        Ok(())
    }
}

/// Whole passes over `images` unlabelled images, `batch` per step, that one TD-SPLIT update
/// makes: at least `epochs`, and enough to reach `min_steps` steps when given.
fn update_passes(epochs: usize, min_steps: Option<usize>, images: usize, batch: usize) -> usize {
    let steps_per_pass = images.div_ceil(batch.max(1)).max(1);
    min_steps.map_or(epochs, |steps| epochs.max(steps.div_ceil(steps_per_pass)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::update_passes;

    #[test]
    fn a_smaller_pool_gets_as_many_steps_as_the_full_one() {
        // The F+MNIST pool: 61,200 images are 306 steps of 200, so one pass already
        // reaches 300 steps; the 20,000-image pool (100 steps a pass) needs three.
        assert_eq!(update_passes(1, Some(300), 61_200, 200), 1);
        assert_eq!(update_passes(1, Some(300), 20_000, 200), 3);
        assert_eq!(update_passes(1, None, 20_000, 200), 1);
        assert_eq!(update_passes(4, Some(300), 20_000, 200), 4);
    }

    proptest! {
        #[test]
        fn passes_are_the_fewest_that_reach_the_steps(
            epochs in 1_usize..10,
            min_steps in proptest::option::of(1_usize..5_000),
            images in 1_usize..100_000,
            batch in 1_usize..512,
        ) {
            let passes = update_passes(epochs, min_steps, images, batch);
            let per_pass = images.div_ceil(batch);
            prop_assert!(passes >= epochs);
            if let Some(steps) = min_steps {
                prop_assert!(passes * per_pass >= steps);
                if passes > epochs {
                    prop_assert!((passes - 1) * per_pass < steps);
                }
            } else {
                prop_assert_eq!(passes, epochs);
            }
        }
    }
}
