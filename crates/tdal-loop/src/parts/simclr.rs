//! The SimCLR representations.
//!
//! - [`FixedSimclr`] (US SimCLR): a SimCLR encoder contrastively pretrained once on the
//!   pool (or loaded from the [`Cache`]) and never updated ([`FixedEncoder`] with the
//!   [`SimclrRecipe`]); the head sees the backbone's pooled features.
//! - [`FineTune`] (TD-FT): before round 0 and every `loop.retrain_every` rounds, the cached
//!   pretrained encoder and projection layer with a fresh guidance classifier, fine-tuned
//!   on the labels so far; the head sees the projection layer's output. Every update
//!   starts from the **pretrained** weights (not the previous fine-tune), so an update is
//!   a function of the labels and the round alone.

use std::path::Path;

use ndarray::{Array2, ArrayView4};
use tdal_encoders::simclr::RunReport;
use tdal_encoders::{
    DeviceChoice, Embedder, FineTuneConfig, FineTuneModel, FineTuneTrainConfig, PretrainConfig,
    SimclrConfig, SimclrModel, fine_tune, pretrain,
};

use super::fixed::{FixedEncoder, Pretraining, load_or_train};
use super::representation::{Initialised, Representation, check_architecture, not_initialised};
use crate::cache::{Cache, encoder_key};
use crate::config::{FineTuneSettings, SimclrSettings};
use crate::seeds::stream_seed;
use crate::{Error, Result};

/// The SimCLR encoder's architecture and pretraining, derived from the run's settings.
#[derive(Debug, Clone)]
pub struct SimclrRecipe {
    network: SimclrConfig,
    train: PretrainConfig,
    init_seed: u64,
}

impl SimclrRecipe {
    fn new(cfg: &SimclrSettings, channels: usize, seed: u64) -> Self {
        Self {
            network: SimclrConfig {
                backbone: cfg.backbone,
                channels,
                image_size: 32,
                projection_dim: cfg.projection_dim,
            },
            train: PretrainConfig {
                epochs: cfg.epochs,
                batch_size: cfg.batch_size,
                learning_rate: cfg.learning_rate,
                warmup_fraction: cfg.warmup_fraction,
                temperature: cfg.temperature,
                seed: stream_seed(seed, "us-simclr-train", 0),
                ..PretrainConfig::default()
            },
            init_seed: stream_seed(seed, "us-simclr-init", 0),
        }
    }
}

impl Pretraining for SimclrRecipe {
    type Model = SimclrModel;

    const KIND: &'static str = "us-simclr";

    fn key(&self, pool_hash: &str) -> String {
        let network = serde_json::to_string(&self.network).unwrap_or_default();
        let train = serde_json::to_string(&self.train).unwrap_or_default();
        let init = self.init_seed.to_string();
        encoder_key(&["us-simclr/2", pool_hash, &network, &train, &init])
    }

    fn train(
        &self,
        device: DeviceChoice,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(SimclrModel, serde_json::Value)> {
        let mut model = SimclrModel::new(&self.network, self.init_seed, device)?;
        let report: RunReport = pretrain(&mut model, pool, &self.train, Some(progress))?;
        let info = serde_json::json!({
            "steps": report.steps,
            "epoch_losses": report.epoch_losses,
        });
        Ok((model, info))
    }

    fn save(model: &SimclrModel, dir: &Path) -> Result<()> {
        Ok(model.save(dir)?)
    }

    fn load(dir: &Path, device: DeviceChoice) -> Result<SimclrModel> {
        Ok(SimclrModel::load(dir, device)?)
    }
}

/// The fixed contrastively pretrained encoder (US SimCLR).
pub type FixedSimclr = FixedEncoder<SimclrRecipe>;

impl FixedSimclr {
    /// A US SimCLR encoder for images with `channels` channels, pretrained with the run's
    /// `seed`.
    #[must_use]
    pub fn new(
        cfg: &SimclrSettings,
        channels: usize,
        seed: u64,
        cache: Cache,
        device: DeviceChoice,
    ) -> Self {
        Self::with_recipe(SimclrRecipe::new(cfg, channels, seed), cache, device)
    }
}

/// TD-FT: the pretrained SimCLR encoder fine-tuned with the labels, from the pretrained
/// weights at every update.
#[derive(Debug)]
pub struct FineTune {
    recipe: SimclrRecipe,
    network: FineTuneConfig,
    train: FineTuneTrainConfig,
    seed: u64,
    cache: Cache,
    device: DeviceChoice,
    pretrained: Option<SimclrModel>,
    model: Option<FineTuneModel>,
}

impl FineTune {
    /// TD-FT for images with `channels` channels and `num_classes` label-map classes.
    #[must_use]
    pub fn new(
        cfg: &FineTuneSettings,
        channels: usize,
        num_classes: usize,
        seed: u64,
        cache: Cache,
        device: DeviceChoice,
    ) -> Self {
        let recipe = SimclrRecipe::new(&cfg.pretrain, channels, seed);
        let network = FineTuneConfig {
            simclr: recipe.network,
            hidden_dim: cfg.hidden_dim,
            classes: num_classes,
        };
        let train = FineTuneTrainConfig {
            epochs: cfg.epochs,
            min_steps: cfg.min_steps,
            batch_size: cfg.batch_size,
            learning_rate: cfg.learning_rate,
            warmup_fraction: cfg.warmup_fraction,
            ..FineTuneTrainConfig::default()
        };
        Self {
            recipe,
            network,
            train,
            seed,
            cache,
            device,
            pretrained: None,
            model: None,
        }
    }
}

impl Representation for FineTune {
    fn name(&self) -> &'static str {
        "td-ft"
    }

    fn initialise(
        &mut self,
        pool: ArrayView4<'_, f32>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised> {
        let (model, _, info) =
            load_or_train(&self.recipe, &self.cache, self.device, pool, progress)?;
        self.pretrained = Some(model);
        Ok(info)
    }

    fn update(
        &mut self,
        _pool: ArrayView4<'_, f32>,
        labelled: ArrayView4<'_, f32>,
        labels: &[u32],
        round: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<bool> {
        let pretrained = self.pretrained.as_ref().ok_or_else(not_initialised)?;
        let classifier_seed = stream_seed(self.seed, "td-ft-init", round);
        let mut model = FineTuneModel::from_pretrained(pretrained, &self.network, classifier_seed)?;
        let train = FineTuneTrainConfig {
            seed: stream_seed(self.seed, "td-ft-update", round),
            ..self.train.clone()
        };
        fine_tune(&mut model, labelled, labels, &train, Some(progress))?;
        self.model = Some(model);
        Ok(true)
    }

    fn embed(&mut self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let model = self.model.as_ref().ok_or_else(|| {
            Error::Config("TD-FT embeds after its first update (before round 0)".to_owned())
        })?;
        Ok(model.embed(images)?)
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let model = self.model.as_ref().ok_or_else(|| {
            Error::Config("TD-FT saves its state after its first update".to_owned())
        })?;
        Ok(model.save(dir)?)
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let model = FineTuneModel::load(dir, self.device)?;
        check_architecture(model.config(), &self.network, dir)?;
        self.model = Some(model);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tdal_encoders::Backbone;

    use super::*;

    fn settings() -> SimclrSettings {
        SimclrSettings {
            backbone: Backbone::SmallCnn,
            projection_dim: 32,
            batch_size: 16,
            epochs: 2,
            learning_rate: 2.26,
            warmup_fraction: 0.05,
            temperature: 0.2,
        }
    }

    #[test]
    fn the_cache_key_follows_every_training_setting_and_nothing_else() {
        let key = |cfg: &SimclrSettings, seed: u64| SimclrRecipe::new(cfg, 1, seed).key("pool");
        let base = key(&settings(), 3);
        assert_eq!(
            base,
            key(&settings(), 3),
            "the key is a function of its inputs"
        );
        assert_ne!(base, SimclrRecipe::new(&settings(), 1, 3).key("other pool"));
        assert_ne!(base, SimclrRecipe::new(&settings(), 3, 3).key("pool"));
        assert_ne!(base, key(&settings(), 4));
        let changed = [
            SimclrSettings {
                temperature: 0.5,
                ..settings()
            },
            SimclrSettings {
                epochs: 3,
                ..settings()
            },
            SimclrSettings {
                batch_size: 32,
                ..settings()
            },
            SimclrSettings {
                learning_rate: 1.0,
                ..settings()
            },
            SimclrSettings {
                warmup_fraction: 0.1,
                ..settings()
            },
            SimclrSettings {
                projection_dim: 64,
                ..settings()
            },
        ];
        for cfg in &changed {
            assert_ne!(base, key(cfg, 3), "{cfg:?}");
        }
    }
}
