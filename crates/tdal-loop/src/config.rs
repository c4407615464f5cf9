//! Run configuration: one TOML-serialisable [`RunConfig`] per run, built from a profile's
//! preset ([`RunConfig::preset`]) with a user's TOML file and command-line flags laid over
//! it ([`RunConfig::overlay_toml`]).
//!
//! Profiles (SPEC §4, docs/REPRODUCING.md):
//! - `smoke`: the whole code path on a pool capped at 2,000 images, three rounds, two
//!   encoder epochs: under a minute on 2 cores (CI runs it).
//! - `quick`: the paper's F+MNIST protocol (budget 500, batch 10, power β = 4, EPIG with
//!   M = 500, 250 trees, retrain every 5 rounds) with the encoders sized for a 2-core CPU:
//!   a short US VAE pretraining and one pass of TD-SPLIT per update, warm-started.
//! - `paper`: the paper's 500 epochs for every encoder training (GPU-scale).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Named experiment sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A tiny pool and a few rounds: the code path in under a minute.
    Smoke,
    /// The paper's protocol with CPU-sized encoder training.
    Quick,
    /// The paper's settings (500 epochs per encoder training).
    Paper,
}

/// Which representation the head sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepresentationKind {
    /// A fixed unsupervised VAE trained once on the pool (US).
    UsVae,
    /// The split-latent VAE retrained with the labels (TD-SPLIT); the head sees z_c.
    TdSplit,
}

/// Which acquisition function scores the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcquisitionKind {
    /// Expected predictive information gain against sampled target inputs.
    Epig,
    /// Mutual information between label and parameters.
    Bald,
    /// Predictive entropy.
    Entropy,
    /// One minus the largest mean probability.
    Confidence,
    /// One minus the gap between the two largest mean probabilities.
    Margin,
    /// Uniform random acquisition.
    Random,
}

/// How a batch is drawn from the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// The B highest scores.
    TopK,
    /// Without replacement, ∝ score^β.
    Power,
    /// Without replacement, ∝ exp(β · score).
    Softmax,
    /// Without replacement, ∝ rank^-β.
    SoftRank,
}

/// The named messy pools of `tdal-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// MNIST digits among Fashion-MNIST.
    Fmnist,
    /// CIFAR-10 classes among CIFAR-100.
    Cifar,
    /// CheXpert pleural effusion.
    Chexpert,
}

impl DatasetName {
    /// The `tdal-data` configuration.
    #[must_use]
    pub const fn dataset(self) -> tdal_data::Dataset {
        match self {
            Self::Fmnist => tdal_data::Dataset::Fmnist,
            Self::Cifar => tdal_data::Dataset::Cifar,
            Self::Chexpert => tdal_data::Dataset::Chexpert,
        }
    }
}

/// Labelling schedule of TD-SPLIT updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// One labelled step after every unlabelled step (quick; SPEC §4).
    AfterEvery,
    /// The paper's: one pass over the labelled set per epoch, evenly spaced.
    EvenlySpaced,
}

/// Which pool to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Named configuration.
    pub dataset: DatasetName,
    /// Data directory (else `TDAL_DATA_DIR`); not part of the run's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Target classes (default: the dataset's, F+MNIST {5, 6}).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<u32>>,
    /// Imbalance ratio (default: the dataset's, 10 for F+MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir: Option<f64>,
    /// Target share of the pool in (0, 1), instead of `ir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_share: Option<f64>,
    /// Cap on the pool size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pool: Option<usize>,
    /// Target inputs kept per target class (default: all that stay balanced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_inputs_per_class: Option<usize>,
    /// Initial labels per class (default: the dataset's, 2 for F+MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_per_class: Option<usize>,
}

/// The acquisition loop's sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Total labels at the end, initial labels included; the last batch is cut to fit.
    pub budget: usize,
    /// Labels acquired per round.
    pub batch_size: usize,
    /// Batch selection.
    pub strategy: StrategyKind,
    /// Exponent / temperature of the stochastic strategies.
    pub beta: f64,
    /// M: target inputs sampled (with replacement when fewer exist) each round for EPIG.
    pub target_samples: usize,
    /// Retrain a task-driven representation every k rounds (and before round 0).
    pub retrain_every: usize,
}

/// The random-forest head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    /// Trees (all of them make the mean prediction used for accuracy).
    pub trees: usize,
    /// K: the first K trees are the posterior samples for the acquisition function.
    pub posterior_samples: usize,
}

/// The VAE encoders and their training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// |z|.
    pub latent_dim: usize,
    /// |z_c| of TD-SPLIT (the head sees these coordinates).
    pub content_dim: usize,
    /// Guidance weight α.
    pub alpha: f64,
    /// Images per step (unlabelled and labelled).
    pub batch_size: usize,
    /// Epochs of the US VAE pretraining.
    pub us_epochs: usize,
    /// Adam learning rate of the US VAE.
    pub us_learning_rate: f64,
    /// Linear KL warm-up of the US VAE, in epochs.
    pub kl_warmup_epochs: f64,
    /// Whether TD-SPLIT starts from the (cached) US VAE's weights.
    pub split_warm_start: bool,
    /// Passes over the pool per TD-SPLIT update.
    pub split_epochs: usize,
    /// Adam learning rate of TD-SPLIT.
    pub split_learning_rate: f64,
    /// Interleaving of labelled steps in TD-SPLIT updates.
    pub split_schedule: ScheduleKind,
    /// Unlabelled pool images per TD-SPLIT update (a fresh seeded subsample each update;
    /// absent: the whole pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_images: Option<usize>,
    /// Least unlabelled steps per TD-SPLIT update: an update makes as many whole passes
    /// over its images (at least `split_epochs`) as it takes to reach this many steps, so
    /// a smaller pool gets as much training per update as the full one (absent:
    /// `split_epochs` passes whatever the pool's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_update_steps: Option<usize>,
}

/// Everything that defines a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The preset this configuration started from.
    pub profile: Profile,
    /// Seed of every random choice (pool, encoders, heads, acquisition).
    pub seed: u64,
    /// Representation strategy.
    pub representation: RepresentationKind,
    /// Acquisition function.
    pub acquisition: AcquisitionKind,
    /// The pool.
    pub data: DataConfig,
    /// The loop.
    #[serde(rename = "loop")]
    pub active: LoopConfig,
    /// The head.
    pub head: HeadConfig,
    /// The encoders.
    pub encoder: EncoderConfig,
}

impl RunConfig {
    /// The preset of a profile (F+MNIST, TD-SPLIT, EPIG, seed 0).
    #[must_use]
    pub fn preset(profile: Profile) -> Self {
        let smoke = profile == Profile::Smoke;
        Self {
            profile,
            seed: 0,
            representation: RepresentationKind::TdSplit,
            acquisition: AcquisitionKind::Epig,
            data: DataConfig {
                dataset: DatasetName::Fmnist,
                dir: None,
                targets: None,
                ir: None,
                target_share: None,
                max_pool: smoke.then_some(2_000),
                target_inputs_per_class: None,
                initial_per_class: None,
            },
            active: LoopConfig {
                budget: if smoke { 36 } else { 500 },
                batch_size: 10,
                strategy: StrategyKind::Power,
                beta: 4.0,
                target_samples: if smoke { 100 } else { 500 },
                retrain_every: if smoke { 2 } else { 5 },
            },
            head: HeadConfig {
                trees: if smoke { 50 } else { 250 },
                posterior_samples: if smoke { 50 } else { 100 },
            },
            encoder: EncoderConfig {
                latent_dim: 10,
                content_dim: 3,
                alpha: 20.0,
                batch_size: 200,
                us_epochs: match profile {
                    Profile::Smoke => 2,
                    Profile::Quick => 30,
                    Profile::Paper => 500,
                },
                us_learning_rate: 5e-4,
                kl_warmup_epochs: if smoke { 0.5 } else { 2.0 },
                split_warm_start: true,
                split_epochs: if profile == Profile::Paper { 500 } else { 1 },
                split_learning_rate: 2e-4,
                split_schedule: if profile == Profile::Paper {
                    ScheduleKind::EvenlySpaced
                } else {
                    ScheduleKind::AfterEvery
                },
                update_images: None,
                min_update_steps: None,
            },
        }
    }

    /// Lays a TOML document over this configuration: keys present in `text` replace the
    /// current values (tables merge key by key), and the result is validated.
    ///
    /// # Errors
    /// [`Error::ConfigFile`] for TOML syntax errors, unknown keys or wrong types (the
    /// message names the key); [`Error::Config`] as [`RunConfig::check`].
    pub fn overlay_toml(&self, text: &str, origin: &Path) -> Result<Self> {
        let file_error = |message: String| Error::ConfigFile {
            path: origin.to_path_buf(),
            message,
        };
        let overlay: toml::Table =
            toml::from_str(text).map_err(|e| file_error(one_line(&e, Some(text))))?;
        let mut base = toml::Table::try_from(self).map_err(|e| file_error(e.to_string()))?;
        merge(&mut base, overlay);
        let merged: Self = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| file_error(one_line(&e, None)))?;
        merged.check()?;
        Ok(merged)
    }

    /// Parses a TOML configuration: the preset of `profile` (else the profile the text
    /// names, else `quick`), with the text's keys laid over it.
    ///
    /// # Errors
    /// As [`RunConfig::overlay_toml`].
    pub fn from_toml(text: &str, origin: &Path, profile: Option<Profile>) -> Result<Self> {
        let named = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("profile").cloned())
            .and_then(|p| p.try_into::<Profile>().ok());
        let profile = profile.or(named).unwrap_or(Profile::Quick);
        let mut cfg = Self::preset(profile).overlay_toml(text, origin)?;
        cfg.profile = profile;
        Ok(cfg)
    }

    /// Reads a TOML file as [`RunConfig::from_toml`] does with no profile override.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; as [`RunConfig::overlay_toml`].
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        Self::from_toml(&text, path, None)
    }

    /// The configuration as TOML (what `runs/<id>/config.toml` holds).
    ///
    /// # Errors
    /// [`Error::Config`] if serialisation fails (it does not for valid values).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// Validates the values that do not need the data.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad value.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        let a = &self.active;
        if a.batch_size == 0 {
            return bad("loop.batch_size must be ≥ 1".into());
        }
        if !(a.beta.is_finite() && a.beta >= 0.0) {
            return bad(format!("loop.beta must be finite and ≥ 0, got {}", a.beta));
        }
        if a.target_samples == 0 {
            return bad("loop.target_samples must be ≥ 1".into());
        }
        if a.retrain_every == 0 {
            return bad("loop.retrain_every must be ≥ 1".into());
        }
        let h = &self.head;
        if h.trees == 0 || h.posterior_samples == 0 || h.posterior_samples > h.trees {
            return bad(format!(
                "head needs 1 ≤ posterior_samples ≤ trees, got {} samples of {} trees",
                h.posterior_samples, h.trees
            ));
        }
        let e = &self.encoder;
        if e.content_dim == 0 || e.content_dim > e.latent_dim {
            return bad(format!(
                "encoder needs 1 ≤ content_dim ≤ latent_dim, got {} and {}",
                e.content_dim, e.latent_dim
            ));
        }
        if e.batch_size == 0 || e.split_epochs == 0 {
            return bad("encoder.batch_size and encoder.split_epochs must be ≥ 1".into());
        }
        if e.update_images == Some(0) {
            return bad("encoder.update_images must be ≥ 1 when given".into());
        }
        if e.min_update_steps == Some(0) {
            return bad("encoder.min_update_steps must be ≥ 1 when given".into());
        }
        let d = &self.data;
        if d.ir.is_some() && d.target_share.is_some() {
            return bad("give data.ir or data.target_share, not both".into());
        }
        if let Some(ir) = d.ir
            && !(ir.is_finite() && ir >= 1.0)
        {
            return bad(format!("data.ir must be ≥ 1, got {ir}"));
        }
        if let Some(share) = d.target_share
            && !(share > 0.0 && share < 1.0)
        {
            return bad(format!("data.target_share must be in (0, 1), got {share}"));
        }
        Ok(())
    }

    /// The run's folder name: readable fields plus 8 hex digits of a hash of everything
    /// that defines the result (the data directory excluded), so a changed setting never
    /// resumes or skips an old run by mistake.
    #[must_use]
    pub fn run_id(&self) -> String {
        let rep = match self.representation {
            RepresentationKind::UsVae => "us-vae",
            RepresentationKind::TdSplit => "td-split",
        };
        let hash = self.identity_hash();
        format!(
            "{}-{rep}-{}-{}-s{}-{}",
            kebab(&self.data.dataset),
            kebab(&self.acquisition),
            kebab(&self.profile),
            self.seed,
            &hash[..8]
        )
    }

    /// Hex blake3 of the configuration without the data directory.
    #[must_use]
    pub fn identity_hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.data.dir = None;
        let text = serde_json::to_string(&canonical).unwrap_or_default();
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }
}

/// The serde (kebab-case) name of a unit enum value.
fn kebab<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A TOML error as one line: "line L: message" when the position is known.
fn one_line(err: &toml::de::Error, text: Option<&str>) -> String {
    let message = err
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match (text, err.span()) {
        (Some(text), Some(span)) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        _ => message,
    }
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip_through_toml() {
        for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
            let cfg = RunConfig::preset(profile);
            cfg.check().unwrap();
            let text = cfg.to_toml().unwrap();
            let back = RunConfig::preset(Profile::Quick)
                .overlay_toml(&text, Path::new("x.toml"))
                .unwrap();
            assert_eq!(back, cfg);
        }
    }

    #[test]
    fn overlay_replaces_only_given_keys() {
        let base = RunConfig::preset(Profile::Quick);
        let cfg = base
            .overlay_toml("seed = 3\n[loop]\nbudget = 100\n", Path::new("x.toml"))
            .unwrap();
        assert_eq!(cfg.seed, 3);
        assert_eq!(cfg.active.budget, 100);
        assert_eq!(cfg.active.batch_size, base.active.batch_size);
        assert_ne!(cfg.run_id(), base.run_id());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let base = RunConfig::preset(Profile::Quick);
        let err = base
            .overlay_toml("[loop]\nbudgett = 3\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("budgett"), "{err}");
        let err = base
            .overlay_toml("[head]\nposterior_samples = 300\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(base.overlay_toml("seed = [", Path::new("x.toml")).is_err());
    }

    #[test]
    fn run_id_ignores_the_data_dir() {
        let mut a = RunConfig::preset(Profile::Smoke);
        let id = a.run_id();
        a.data.dir = Some(PathBuf::from("elsewhere"));
        assert_eq!(a.run_id(), id);
        assert!(id.starts_with("fmnist-td-split-epig-smoke-s0-"), "{id}");
    }
}
