//! Run configuration: one TOML-serialisable [`RunConfig`] per run, built from a profile's
//! preset ([`RunConfig::preset`]) with a user's TOML file and command-line flags laid over
//! it ([`RunConfig::overlay_toml`]).
//!
//! The parts of a round each have a section that is a serde enum tagged by `kind`:
//! `[encoder]` ([`EncoderConfig`]: `us-vae`, `td-split`, `us-simclr`, `td-ft`,
//! `supervised`), `[head]` ([`HeadConfig`]: `forest`, `network`) and `[acquisition]`
//! ([`AcquisitionConfig`]: `epig`, `bald`, `entropy`, `confidence`, `margin`, `random`,
//! and the messy-pool baselines' selectors `similar`, `galaxy`, `cluster-margin`). A method's settings live in its own variant, so
//! adding a method adds a variant and changes neither another method's keys nor any
//! existing run id (the run id hashes the serialised configuration).
//!
//! Profiles (docs/REPRODUCING.md):
//! - `smoke`: the whole code path on a pool capped at 2,000 images, three rounds, two
//!   encoder epochs: under a minute on 2 cores (CI runs it).
//! - `quick`: the paper's F+MNIST protocol (budget 500, batch 10, power β = 4, EPIG with
//!   M = 500, 250 trees, retrain every 5 rounds) with the encoders sized for a 2-core CPU:
//!   a short US VAE pretraining and one pass of TD-SPLIT per update, warm-started; a
//!   small CNN for SimCLR with a short pretraining and a few hundred TD-FT steps per
//!   update.
//! - `paper`: the paper's 500 epochs for every encoder training and its ResNet-18 for
//!   SimCLR and TD-FT (GPU-scale; CIFAR-10+100 takes `backbone = "resnet50"` with
//!   `projection_dim = 2048`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
pub use tdal_data::Dataset;
pub use tdal_encoders::Backbone;

use crate::{Error, Result};

/// Named experiment sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A pool capped at 2,000 images, three rounds, two encoder epochs: seconds.
    Smoke,
    /// The paper's protocol with CPU-sized encoder training.
    Quick,
    /// The paper's settings (500 epochs per encoder training; GPU-scale).
    Paper,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Self; 3] = [Self::Smoke, Self::Quick, Self::Paper];

    /// The name used in files, run ids and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Quick => "quick",
            Self::Paper => "paper",
        }
    }
}

/// Which representation the head sees: the `kind` of [`EncoderConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum RepresentationKind {
    /// A fixed unsupervised VAE trained once on the pool (US).
    UsVae,
    /// The split-latent VAE retrained with the labels (TD-SPLIT); the head sees z_c.
    TdSplit,
    /// A fixed SimCLR encoder contrastively pretrained once on the pool (US SimCLR); the
    /// head sees the backbone's pooled features.
    UsSimclr,
    /// The SimCLR encoder fine-tuned with the labels from its pretrained weights (TD-FT);
    /// the head sees the projection layer's output.
    TdFt,
    /// The messy-pool baselines' network (backbone + a fully connected layer), trained
    /// from scratch on the labels every round; the head sees the fully connected layer.
    Supervised,
}

impl RepresentationKind {
    /// The name used in files, run ids and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UsVae => "us-vae",
            Self::TdSplit => "td-split",
            Self::UsSimclr => "us-simclr",
            Self::TdFt => "td-ft",
            Self::Supervised => "supervised",
        }
    }
}

/// Which acquisition picks the batch: the `kind` of [`AcquisitionConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AcquisitionKind {
    /// Expected predictive information gain against sampled target inputs.
    Epig,
    /// Mutual information between the label and the head's parameters.
    Bald,
    /// Predictive entropy.
    Entropy,
    /// One minus the largest mean probability.
    Confidence,
    /// One minus the gap between the two largest mean probabilities.
    Margin,
    /// Uniform random acquisition.
    Random,
    /// SIMILAR's submodular mutual information (FLQMI) with the labelled target-class
    /// points, on last-layer gradient embeddings.
    Similar,
    /// GALAXY's graph search for the boundary, labels revealed inside the batch.
    Galaxy,
    /// Cluster-Margin: the lowest margins, spread round robin over clusters.
    ClusterMargin,
}

impl AcquisitionKind {
    /// The name used in files, run ids and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Epig => "epig",
            Self::Bald => "bald",
            Self::Entropy => "entropy",
            Self::Confidence => "confidence",
            Self::Margin => "margin",
            Self::Random => "random",
            Self::Similar => "similar",
            Self::Galaxy => "galaxy",
            Self::ClusterMargin => "cluster-margin",
        }
    }
}

/// How a batch is drawn from the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// The B highest scores.
    #[serde(rename = "topk", alias = "top-k")]
    #[cfg_attr(feature = "clap", value(name = "topk"))]
    TopK,
    /// Without replacement, ∝ score^β.
    Power,
    /// Without replacement, ∝ exp(β · score).
    Softmax,
    /// Without replacement, ∝ rank^-β.
    #[serde(rename = "softrank", alias = "soft-rank")]
    #[cfg_attr(feature = "clap", value(name = "softrank"))]
    SoftRank,
}

/// Labelling schedule of TD-SPLIT updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// One labelled step after every unlabelled step (quick profile).
    AfterEvery,
    /// The paper's: one pass over the labelled set per epoch, evenly spaced.
    EvenlySpaced,
}

/// Which pool to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Named configuration.
    pub dataset: Dataset,
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
    /// A class-balanced labelled set of this share of the pool (at least one point per
    /// class), labelled before round 0 on top of the initial labels and **outside** the
    /// budget: Cluster-Margin's warm start on a validation set (the paper: 0.005). Absent
    /// or 0: none (`warm_start_share = 0` switches Cluster-Margin's warm start off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start_share: Option<f64>,
}

/// The acquisition loop's sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Total labels at the end, initial labels included; the last batch is cut to fit.
    pub budget: usize,
    /// Labels acquired per round.
    pub batch_size: usize,
    /// Update the representation before round 0 and every k rounds (a fixed
    /// representation ignores the update).
    pub retrain_every: usize,
}

/// `[encoder]`: the representation the head sees, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EncoderConfig {
    /// `us-vae`: the unsupervised VAE, trained once on the pool (cached) and fixed.
    UsVae(VaeSettings),
    /// `td-split`: the split-latent VAE, started from the US VAE of `[encoder.pretrain]`
    /// and retrained with the labels.
    TdSplit(SplitSettings),
    /// `us-simclr`: a SimCLR encoder pretrained once on the pool (cached) and fixed.
    UsSimclr(SimclrSettings),
    /// `td-ft`: the SimCLR encoder of `[encoder.pretrain]` fine-tuned with the labels,
    /// each update from the pretrained weights.
    TdFt(FineTuneSettings),
    /// `supervised`: the baselines' network, trained from scratch at every update.
    Supervised(SupervisedSettings),
}

/// The messy-pool baselines' network (a backbone and a fully connected layer of
/// `hidden_dim` units) and its training from scratch: Adam on the class-weighted
/// cross-entropy until the training accuracy reaches `target_accuracy` or `max_epochs`
/// passes have run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisedSettings {
    /// The network: `small-cnn`, `resnet18` or `resnet50`.
    pub backbone: Backbone,
    /// Units of the fully connected layer (the head's features).
    pub hidden_dim: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's learning rate (the paper: 1e-3; 1e-4 for GALAXY).
    pub learning_rate: f64,
    /// Most passes over the labelled set per round.
    pub max_epochs: usize,
    /// Training stops once the training accuracy reaches this.
    pub target_accuracy: f64,
    /// A safetensors file every round's backbone starts from instead of its seeded
    /// initialisation (the paper: ImageNet weights for GALAXY); the fully connected and
    /// output layers keep theirs. Absent: the seeded initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_weights: Option<InitWeights>,
}

/// `[encoder.init_weights]`: the file of the supervised network's initial backbone
/// weights (tdal's or torchvision's names; `tdal_encoders::pretrained`) and the hash that
/// pins its content.
///
/// The hash, not the path, is part of the run's identity: the same file elsewhere is the
/// same run, a changed file another one, and a run refuses to go on from a file whose
/// content changed since it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitWeights {
    /// The safetensors file (relative to the working directory).
    pub file: PathBuf,
    /// Hex blake3 of the file's bytes; empty in a hand-written configuration until
    /// [`RunConfig::pin_init_weights`] (which `tdal run` calls) records it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blake3: String,
}

impl InitWeights {
    /// The file with the hash of its current content.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read.
    pub fn pin(file: impl Into<PathBuf>) -> Result<Self> {
        let file = file.into();
        let blake3 = hash_file(&file)?;
        Ok(Self { file, blake3 })
    }

    /// The file's bytes, checked against the recorded hash.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Config`] when no hash is
    /// recorded or the content changed since it was.
    pub fn read_pinned(&self) -> Result<Vec<u8>> {
        if self.blake3.is_empty() {
            return Err(Error::Config(format!(
                "encoder.init_weights.blake3 of {} is not recorded: pin the file first \
                 (RunConfig::pin_init_weights; `tdal run` and `cargo xtask table1` do it)",
                self.file.display()
            )));
        }
        let bytes =
            std::fs::read(&self.file).map_err(|e| Error::io("cannot read", &self.file, e))?;
        let found = blake3::hash(&bytes).to_hex().to_string();
        if found != self.blake3 {
            return Err(changed(&self.file, &found, &self.blake3));
        }
        Ok(bytes)
    }
}

fn hash_file(file: &Path) -> Result<String> {
    let bytes = std::fs::read(file).map_err(|e| Error::io("cannot read", file, e))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

fn changed(file: &Path, found: &str, recorded: &str) -> Error {
    Error::Config(format!(
        "the initial weights {} changed since the run recorded them (blake3 {}…, recorded \
         {}…): restore the file, or start a new run with --init-weights",
        file.display(),
        &found[..found.len().min(12)],
        &recorded[..recorded.len().min(12)]
    ))
}

/// The SimCLR encoder and its contrastive pretraining (LARS, warm-up + cosine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimclrSettings {
    /// The network: `small-cnn`, `resnet18` or `resnet50`.
    pub backbone: Backbone,
    /// Output size of the one-layer projection head (TD-FT's |z|).
    pub projection_dim: usize,
    /// Images per step (two views each).
    pub batch_size: usize,
    /// Passes over the pool.
    pub epochs: usize,
    /// Peak LARS learning rate at a batch of 512, scaled with the square root of the
    /// batch (SimCLR's rule; the paper's 2.26 is 0.1 · √512).
    pub learning_rate: f64,
    /// Share of the steps spent in the linear warm-up.
    pub warmup_fraction: f64,
    /// NT-Xent temperature τ.
    pub temperature: f64,
}

/// TD-FT's fine-tuning; the SimCLR encoder it starts from is `pretrain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineTuneSettings {
    /// Hidden units of the guidance classifier.
    pub hidden_dim: usize,
    /// Images per step (class-balanced, augmented labelled images).
    pub batch_size: usize,
    /// Passes over the class-balanced labelled set per update (at least).
    pub epochs: usize,
    /// Least steps per update (more passes when the labelled set is small).
    pub min_steps: usize,
    /// Peak LARS learning rate at a batch of 512, scaled with the square root of the
    /// batch (the paper's 0.11 ≈ 0.005 · √512).
    pub learning_rate: f64,
    /// Share of the steps spent in the linear warm-up.
    pub warmup_fraction: f64,
    /// The SimCLR encoder the fine-tuning starts from (and its architecture).
    pub pretrain: SimclrSettings,
}

/// The US VAE and its training (Burgess et al. 2018; Adam, KL warm-up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeSettings {
    /// |z|.
    pub latent_dim: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the pool.
    pub epochs: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Linear KL warm-up, in epochs.
    pub kl_warmup_epochs: f64,
}

/// TD-SPLIT's updates; the US VAE it starts from is `pretrain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSettings {
    /// |z_c| (the head sees these first coordinates of z).
    pub content_dim: usize,
    /// Guidance weight α.
    pub alpha: f64,
    /// Images per step (unlabelled and labelled).
    pub batch_size: usize,
    /// Passes over the pool per update.
    pub epochs: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Interleaving of labelled steps.
    pub schedule: ScheduleKind,
    /// Whether the model starts from the (cached) US VAE's weights.
    pub warm_start: bool,
    /// Unlabelled pool images per update (a fresh seeded subsample each update; absent:
    /// the whole pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_images: Option<usize>,
    /// Least unlabelled steps per update: an update makes as many whole passes over its
    /// images (at least `epochs`) as it takes to reach this many steps, so a smaller pool
    /// gets as much training per update as the full one (absent: `epochs` passes whatever
    /// the pool's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_update_steps: Option<usize>,
    /// The US VAE the model starts from (and its architecture, |z| included).
    pub pretrain: VaeSettings,
}

impl EncoderConfig {
    /// The profile's settings for `kind`.
    #[must_use]
    pub fn preset(kind: RepresentationKind, profile: Profile) -> Self {
        let vae = VaeSettings {
            latent_dim: 10,
            batch_size: 200,
            epochs: match profile {
                Profile::Smoke => 2,
                Profile::Quick => 30,
                Profile::Paper => 500,
            },
            learning_rate: 5e-4,
            kl_warmup_epochs: if profile == Profile::Smoke { 0.5 } else { 2.0 },
        };
        let simclr = SimclrSettings {
            backbone: if profile == Profile::Paper {
                Backbone::ResNet18
            } else {
                Backbone::SmallCnn
            },
            projection_dim: if profile == Profile::Paper {
                Backbone::ResNet18.feature_dim()
            } else {
                Backbone::SmallCnn.feature_dim()
            },
            batch_size: match profile {
                Profile::Smoke => 64,
                Profile::Quick => 128,
                Profile::Paper => 512,
            },
            epochs: match profile {
                Profile::Smoke => 1,
                Profile::Quick => QUICK_SIMCLR_EPOCHS,
                Profile::Paper => 500,
            },
            learning_rate: 2.26,
            warmup_fraction: 0.05,
            temperature: 0.2,
        };
        match kind {
            RepresentationKind::Supervised => Self::Supervised(SupervisedSettings {
                backbone: simclr.backbone,
                hidden_dim: 128,
                batch_size: 200,
                learning_rate: 1e-3,
                max_epochs: match profile {
                    Profile::Smoke => 5,
                    Profile::Quick => QUICK_SUPERVISED_EPOCHS,
                    Profile::Paper => 500,
                },
                target_accuracy: 0.99,
                init_weights: None,
            }),
            RepresentationKind::UsVae => Self::UsVae(vae),
            RepresentationKind::UsSimclr => Self::UsSimclr(simclr),
            RepresentationKind::TdFt => Self::TdFt(FineTuneSettings {
                hidden_dim: 128,
                batch_size: if profile == Profile::Smoke { 32 } else { 512 },
                epochs: match profile {
                    Profile::Smoke => 1,
                    Profile::Quick => 30,
                    Profile::Paper => 500,
                },
                min_steps: match profile {
                    Profile::Smoke => 4,
                    Profile::Quick => 150,
                    Profile::Paper => 500,
                },
                learning_rate: 0.11,
                warmup_fraction: 0.05,
                pretrain: simclr,
            }),
            RepresentationKind::TdSplit => Self::TdSplit(SplitSettings {
                content_dim: 3,
                alpha: 20.0,
                batch_size: 200,
                epochs: if profile == Profile::Paper { 500 } else { 1 },
                learning_rate: 2e-4,
                schedule: if profile == Profile::Paper {
                    ScheduleKind::EvenlySpaced
                } else {
                    ScheduleKind::AfterEvery
                },
                warm_start: true,
                update_images: None,
                min_update_steps: None,
                pretrain: vae,
            }),
        }
    }

    /// The `kind`.
    #[must_use]
    pub const fn kind(&self) -> RepresentationKind {
        match self {
            Self::UsVae(_) => RepresentationKind::UsVae,
            Self::TdSplit(_) => RepresentationKind::TdSplit,
            Self::UsSimclr(_) => RepresentationKind::UsSimclr,
            Self::TdFt(_) => RepresentationKind::TdFt,
            Self::Supervised(_) => RepresentationKind::Supervised,
        }
    }

    /// This configuration as `kind`: unchanged when it already is; otherwise the
    /// profile's preset of `kind` sharing this one's unsupervised encoder when both rest
    /// on the same one (the US VAE for `us-vae` and `td-split`, the SimCLR encoder for
    /// `us-simclr` and `td-ft`), so the rows of a seed share one cached encoder.
    #[must_use]
    pub fn with_kind(self, kind: RepresentationKind, profile: Profile) -> Self {
        if self.kind() == kind {
            return self;
        }
        let vae = self.us_vae().cloned();
        let simclr = self.us_simclr().cloned();
        match Self::preset(kind, profile) {
            Self::UsVae(preset) => Self::UsVae(vae.unwrap_or(preset)),
            Self::TdSplit(split) => Self::TdSplit(SplitSettings {
                pretrain: vae.unwrap_or(split.pretrain),
                ..split
            }),
            Self::UsSimclr(preset) => Self::UsSimclr(simclr.unwrap_or(preset)),
            Self::TdFt(ft) => Self::TdFt(FineTuneSettings {
                pretrain: simclr.unwrap_or(ft.pretrain),
                ..ft
            }),
            supervised @ Self::Supervised(_) => supervised,
        }
    }

    /// The US VAE this representation is or starts from (`None` for the SimCLR kinds).
    #[must_use]
    pub const fn us_vae(&self) -> Option<&VaeSettings> {
        match self {
            Self::UsVae(vae) => Some(vae),
            Self::TdSplit(split) => Some(&split.pretrain),
            Self::UsSimclr(_) | Self::TdFt(_) | Self::Supervised(_) => None,
        }
    }

    /// The SimCLR encoder this representation is or starts from (`None` for the VAE
    /// kinds).
    #[must_use]
    pub const fn us_simclr(&self) -> Option<&SimclrSettings> {
        match self {
            Self::UsSimclr(simclr) => Some(simclr),
            Self::TdFt(ft) => Some(&ft.pretrain),
            Self::UsVae(_) | Self::TdSplit(_) | Self::Supervised(_) => None,
        }
    }

    fn check(&self) -> Result<()> {
        if let Some(simclr) = self.us_simclr() {
            simclr.check()?;
        }
        if let Self::Supervised(s) = self {
            let rate_ok = s.learning_rate.is_finite() && s.learning_rate > 0.0;
            let target_ok = s.target_accuracy > 0.0 && s.target_accuracy <= 1.0;
            if s.hidden_dim == 0 || s.batch_size == 0 || s.max_epochs == 0 {
                return bad(
                    "encoder.hidden_dim, encoder.batch_size and encoder.max_epochs must be ≥ 1"
                        .into(),
                );
            }
            if !(rate_ok && target_ok) {
                return bad(format!(
                    "encoder needs learning_rate > 0 and 0 < target_accuracy ≤ 1, got {} and {}",
                    s.learning_rate, s.target_accuracy
                ));
            }
            if let Some(w) = &s.init_weights {
                if w.file.as_os_str().is_empty() {
                    return bad("encoder.init_weights.file is empty".into());
                }
                let hex = w.blake3.len() == 64 && w.blake3.bytes().all(|b| b.is_ascii_hexdigit());
                if !(w.blake3.is_empty() || hex) {
                    return bad(format!(
                        "encoder.init_weights.blake3 must be 64 hex digits (or absent), got {:?}",
                        w.blake3
                    ));
                }
            }
        }
        if let Self::TdFt(ft) = self {
            if ft.hidden_dim == 0 || ft.batch_size == 0 || ft.epochs == 0 {
                return bad(
                    "encoder.hidden_dim, encoder.batch_size and encoder.epochs must be ≥ 1".into(),
                );
            }
            let rate_ok = ft.learning_rate.is_finite() && ft.learning_rate > 0.0;
            if !(rate_ok && (0.0..1.0).contains(&ft.warmup_fraction)) {
                return bad(format!(
                    "encoder needs learning_rate > 0 and 0 ≤ warmup_fraction < 1, got {} and {}",
                    ft.learning_rate, ft.warmup_fraction
                ));
            }
        }
        let Some(vae) = self.us_vae() else {
            return Ok(());
        };
        if vae.latent_dim == 0 || vae.batch_size == 0 {
            return bad("encoder: latent_dim and batch_size must be ≥ 1".into());
        }
        if let Self::TdSplit(s) = self {
            if s.content_dim == 0 || s.content_dim > vae.latent_dim {
                return bad(format!(
                    "encoder needs 1 ≤ content_dim ≤ pretrain.latent_dim, got {} and {}",
                    s.content_dim, vae.latent_dim
                ));
            }
            if s.batch_size == 0 || s.epochs == 0 {
                return bad("encoder.batch_size and encoder.epochs must be ≥ 1".into());
            }
            if s.update_images == Some(0) {
                return bad("encoder.update_images must be ≥ 1 when given".into());
            }
            if s.min_update_steps == Some(0) {
                return bad("encoder.min_update_steps must be ≥ 1 when given".into());
            }
        }
        Ok(())
    }
}

impl SimclrSettings {
    fn check(&self) -> Result<()> {
        if self.projection_dim == 0 || self.batch_size == 0 || self.epochs == 0 {
            return bad(
                "encoder projection_dim, batch_size and epochs must be ≥ 1 (SimCLR)".into(),
            );
        }
        let rate_ok = self.learning_rate.is_finite() && self.learning_rate > 0.0;
        let temperature_ok = self.temperature.is_finite() && self.temperature > 0.0;
        if !(rate_ok && temperature_ok && (0.0..1.0).contains(&self.warmup_fraction)) {
            return bad(format!(
                "SimCLR needs learning_rate > 0, 0 ≤ warmup_fraction < 1 and temperature > 0, \
                 got {}, {} and {}",
                self.learning_rate, self.warmup_fraction, self.temperature
            ));
        }
        Ok(())
    }
}

/// `[head]`: the stochastic prediction head on the representation, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HeadConfig {
    /// `forest`: a random forest whose trees are the posterior samples.
    Forest(ForestSettings),
    /// `network`: the `supervised` encoder's own output layer (one deterministic sample:
    /// the network's prediction, as the baselines use it).
    Network(NoSettings),
    /// `laplace`: an MLP `d → hidden → C` with a diagonal Laplace posterior (TD-SIMILAR's
    /// neural-network head, which has the last layer SIMILAR's gradient embeddings need).
    Laplace(LaplaceSettings),
}

/// The Laplace MLP head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaplaceSettings {
    /// Hidden units (the paper's TD-SIMILAR head: 128).
    pub hidden: usize,
    /// K posterior samples.
    pub posterior_samples: usize,
    /// Adam steps of the MAP fit.
    pub steps: usize,
}

impl LaplaceSettings {
    /// The profile's Laplace head.
    #[must_use]
    pub const fn preset(profile: Profile) -> Self {
        Self {
            hidden: 128,
            posterior_samples: if matches!(profile, Profile::Smoke) {
                20
            } else {
                100
            },
            steps: if matches!(profile, Profile::Smoke) {
                200
            } else {
                1_000
            },
        }
    }
}

/// The random-forest head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestSettings {
    /// Trees (all of them make the mean prediction used for accuracy).
    pub trees: usize,
    /// K: the first K trees are the posterior samples for the acquisition function.
    pub posterior_samples: usize,
}

impl HeadConfig {
    /// The profile's head.
    #[must_use]
    pub const fn preset(profile: Profile) -> Self {
        let smoke = matches!(profile, Profile::Smoke);
        Self::Forest(ForestSettings {
            trees: if smoke { 50 } else { 250 },
            posterior_samples: if smoke { 50 } else { 100 },
        })
    }

    /// K, the posterior samples this head gives an acquisition function: the forest's
    /// `posterior_samples` (its first K trees), the Laplace head's `posterior_samples`
    /// (sampled networks), and 1 for the network head (the network's own, deterministic,
    /// prediction). BALD and EPIG measure how the K samples disagree, so they need K ≥ 2
    /// ([`RunConfig::check`]).
    #[must_use]
    pub const fn posterior_samples(&self) -> usize {
        match self {
            Self::Forest(f) => f.posterior_samples,
            Self::Laplace(l) => l.posterior_samples,
            Self::Network(_) => 1,
        }
    }

    fn check(&self) -> Result<()> {
        if let Self::Laplace(l) = self
            && (l.hidden == 0 || l.posterior_samples == 0 || l.steps == 0)
        {
            return bad("head.hidden, head.posterior_samples and head.steps must be ≥ 1".into());
        }
        let Self::Forest(h) = self else {
            return Ok(());
        };
        if h.trees == 0 || h.posterior_samples == 0 || h.posterior_samples > h.trees {
            return bad(format!(
                "head needs 1 ≤ posterior_samples ≤ trees, got {} samples of {} trees",
                h.posterior_samples, h.trees
            ));
        }
        Ok(())
    }
}

/// `[acquisition]`: how the next batch is picked, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AcquisitionConfig {
    /// `epig`: EPIG against M target inputs drawn each round, then a sampling strategy.
    Epig(EpigSettings),
    /// `bald`: BALD scores, then a sampling strategy.
    Bald(Sampling),
    /// `entropy`: predictive entropy, then a sampling strategy.
    Entropy(Sampling),
    /// `confidence`: least confidence, then a sampling strategy.
    Confidence(Sampling),
    /// `margin`: smallest margin, then a sampling strategy.
    Margin(Sampling),
    /// `random`: a uniformly random batch.
    Random(NoSettings),
    /// `similar`: SIMILAR (FLQMI) against the labelled target-class points.
    Similar(SimilarSettings),
    /// `galaxy`: GALAXY's shortest-path search, one label revealed per query.
    Galaxy(GalaxySettings),
    /// `cluster-margin`: Cluster-Margin over clusters of the round-0 network's features.
    ClusterMargin(ClusterMarginSettings),
}

/// SIMILAR's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarSettings {
    /// η, the weight of the query-coverage term of FLQMI (the paper: 1).
    pub eta: f64,
}

/// GALAXY's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalaxySettings {
    /// `acquisition.carry_class_pointer`: carry the class round robin over from one round
    /// to the next, so that a round's first query uses the graph of the class after the
    /// last one the previous round used. `false` (the default) is the authors' rule: every
    /// round starts at class 0, so with a batch smaller than the number of classes the
    /// last classes never lead a query (docs/REPRODUCING.md, "GALAXY"). Written to
    /// `config.toml` (and so into the run id) only when `true`; the pointer is part of the
    /// selector's state saved for `--resume`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carry_class_pointer: bool,
}

/// Cluster-Margin's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterMarginSettings {
    /// Clusters of the average-linkage clustering (the paper: 50).
    pub clusters: usize,
    /// Pool points the linkage runs on (the rest join their nearest centroid).
    pub subsample: usize,
    /// k_m / k_t: lowest-margin candidates per batch point (the paper: 1.25).
    pub margin_factor: f64,
}

/// How a batch is drawn from scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Batch selection.
    pub strategy: StrategyKind,
    /// Exponent / temperature of the stochastic strategies.
    pub beta: f64,
}

/// EPIG's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpigSettings {
    /// Batch selection.
    pub strategy: StrategyKind,
    /// Exponent / temperature of the stochastic strategies.
    pub beta: f64,
    /// M: target inputs sampled (with replacement when fewer exist) each round.
    pub target_samples: usize,
}

/// A method without settings (its section holds only `kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl AcquisitionConfig {
    /// The profile's settings for `kind` (power sampling with β = 4; EPIG with M = 500
    /// target inputs, 100 in the smoke profile).
    #[must_use]
    pub const fn preset(kind: AcquisitionKind, profile: Profile) -> Self {
        let sampling = Sampling {
            strategy: StrategyKind::Power,
            beta: 4.0,
        };
        match kind {
            AcquisitionKind::Epig => Self::Epig(EpigSettings {
                strategy: sampling.strategy,
                beta: sampling.beta,
                target_samples: if matches!(profile, Profile::Smoke) {
                    100
                } else {
                    500
                },
            }),
            AcquisitionKind::Bald => Self::Bald(sampling),
            AcquisitionKind::Entropy => Self::Entropy(sampling),
            AcquisitionKind::Confidence => Self::Confidence(sampling),
            AcquisitionKind::Margin => Self::Margin(sampling),
            AcquisitionKind::Random => Self::Random(NoSettings {}),
            AcquisitionKind::Similar => Self::Similar(SimilarSettings { eta: 1.0 }),
            AcquisitionKind::Galaxy => Self::Galaxy(GalaxySettings {
                carry_class_pointer: false,
            }),
            AcquisitionKind::ClusterMargin => Self::ClusterMargin(ClusterMarginSettings {
                clusters: 50,
                subsample: 1_000,
                margin_factor: 1.25,
            }),
        }
    }

    /// The `kind`.
    #[must_use]
    pub const fn kind(&self) -> AcquisitionKind {
        match self {
            Self::Epig(_) => AcquisitionKind::Epig,
            Self::Bald(_) => AcquisitionKind::Bald,
            Self::Entropy(_) => AcquisitionKind::Entropy,
            Self::Confidence(_) => AcquisitionKind::Confidence,
            Self::Margin(_) => AcquisitionKind::Margin,
            Self::Random(_) => AcquisitionKind::Random,
            Self::Similar(_) => AcquisitionKind::Similar,
            Self::Galaxy(_) => AcquisitionKind::Galaxy,
            Self::ClusterMargin(_) => AcquisitionKind::ClusterMargin,
        }
    }

    /// The sampling strategy of a score-then-sample method (`None` for `random`).
    #[must_use]
    pub const fn sampling(&self) -> Option<Sampling> {
        match self {
            Self::Epig(e) => Some(Sampling {
                strategy: e.strategy,
                beta: e.beta,
            }),
            Self::Bald(s) | Self::Entropy(s) | Self::Confidence(s) | Self::Margin(s) => Some(*s),
            Self::Random(_) | Self::Similar(_) | Self::Galaxy(_) | Self::ClusterMargin(_) => None,
        }
    }

    /// This configuration as `kind`: unchanged when it already is; otherwise the
    /// profile's preset of `kind` with this one's sampling strategy kept.
    #[must_use]
    pub fn with_kind(self, kind: AcquisitionKind, profile: Profile) -> Self {
        if self.kind() == kind {
            return self;
        }
        let mut out = Self::preset(kind, profile);
        if let Some(sampling) = self.sampling() {
            out.set_sampling(sampling);
        }
        out
    }

    /// Replaces the strategy and β of a score-then-sample method.
    ///
    /// # Errors
    /// [`Error::Config`] for `random`, which draws uniformly and has no strategy.
    pub fn try_set_sampling(
        &mut self,
        strategy: Option<StrategyKind>,
        beta: Option<f64>,
    ) -> Result<()> {
        let Some(mut sampling) = self.sampling() else {
            let how = if self.kind() == AcquisitionKind::Random {
                "draws a uniform batch"
            } else {
                "picks its batch itself"
            };
            return bad(format!(
                "{} acquisition {how}: --strategy and --beta do not apply",
                self.kind().as_str()
            ));
        };
        if let Some(s) = strategy {
            sampling.strategy = s;
        }
        if let Some(b) = beta {
            sampling.beta = b;
        }
        self.set_sampling(sampling);
        Ok(())
    }

    const fn set_sampling(&mut self, sampling: Sampling) {
        match self {
            Self::Epig(e) => {
                e.strategy = sampling.strategy;
                e.beta = sampling.beta;
            }
            Self::Bald(s) | Self::Entropy(s) | Self::Confidence(s) | Self::Margin(s) => {
                *s = sampling;
            }
            Self::Random(_) | Self::Similar(_) | Self::Galaxy(_) | Self::ClusterMargin(_) => {}
        }
    }

    fn check(&self) -> Result<()> {
        if let Some(s) = self.sampling()
            && !(s.beta.is_finite() && s.beta >= 0.0)
        {
            return bad(format!(
                "acquisition.beta must be finite and ≥ 0, got {}",
                s.beta
            ));
        }
        if let Self::Epig(e) = self
            && e.target_samples == 0
        {
            return bad("acquisition.target_samples must be ≥ 1".into());
        }
        if let Self::Similar(s) = self
            && !(s.eta.is_finite() && s.eta >= 0.0)
        {
            return bad(format!(
                "acquisition.eta must be finite and ≥ 0, got {}",
                s.eta
            ));
        }
        if let Self::ClusterMargin(c) = self {
            if c.clusters == 0 || c.subsample < c.clusters {
                return bad(format!(
                    "acquisition needs clusters ≥ 1 and subsample ≥ clusters, got {} and {}",
                    c.clusters, c.subsample
                ));
            }
            if !(c.margin_factor.is_finite() && c.margin_factor >= 1.0) {
                return bad(format!(
                    "acquisition.margin_factor must be ≥ 1, got {}",
                    c.margin_factor
                ));
            }
        }
        Ok(())
    }
}

fn bad(message: String) -> Result<()> {
    Err(Error::Config(message))
}

/// Everything that defines a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The preset this configuration started from.
    pub profile: Profile,
    /// Seed of every random choice (pool, encoders, heads, acquisition); at most
    /// 2^63 − 1, the largest TOML integer.
    pub seed: u64,
    /// The pool.
    pub data: DataConfig,
    /// The loop.
    #[serde(rename = "loop")]
    pub active: LoopConfig,
    /// The representation.
    pub encoder: EncoderConfig,
    /// The head.
    pub head: HeadConfig,
    /// The acquisition.
    pub acquisition: AcquisitionConfig,
}

/// Most epochs per round of the baselines' network in the `quick` profile (it stops
/// earlier at 99 % training accuracy; docs/REPRODUCING.md).
const QUICK_SUPERVISED_EPOCHS: usize = 100;

/// SimCLR pretraining epochs of the `quick` profile (sized for ≤ 20 minutes on 2 cores;
/// docs/PERFORMANCE.md).
const QUICK_SIMCLR_EPOCHS: usize = 10;

/// The tagged sections: laying a section with another `kind` over one replaces it by
/// that kind's preset before its keys are merged.
const TAGGED: [&str; 3] = ["encoder", "head", "acquisition"];

impl RunConfig {
    /// The preset of a profile (F+MNIST, TD-SPLIT, EPIG, seed 0).
    #[must_use]
    pub fn preset(profile: Profile) -> Self {
        let smoke = profile == Profile::Smoke;
        Self {
            profile,
            seed: 0,
            data: DataConfig {
                dataset: Dataset::Fmnist,
                dir: None,
                targets: None,
                ir: None,
                target_share: None,
                max_pool: smoke.then_some(2_000),
                target_inputs_per_class: None,
                initial_per_class: None,
                warm_start_share: None,
            },
            active: LoopConfig {
                budget: if smoke { 36 } else { 500 },
                batch_size: 10,
                retrain_every: if smoke { 2 } else { 5 },
            },
            encoder: EncoderConfig::preset(RepresentationKind::TdSplit, profile),
            head: HeadConfig::preset(profile),
            acquisition: AcquisitionConfig::preset(AcquisitionKind::Epig, profile),
        }
    }

    /// The preset of a profile with the given representation and acquisition.
    #[must_use]
    pub fn method(
        profile: Profile,
        representation: RepresentationKind,
        acquisition: AcquisitionKind,
    ) -> Self {
        Self::preset(profile).with_method(Some(representation), Some(acquisition))
    }

    /// This configuration with the representation and/or acquisition changed (kept where
    /// `None`), and the settings that go with a method made to match:
    ///
    /// - the `supervised` representation (the messy-pool baselines) predicts with its own
    ///   network (`head.kind = "network"`) retrained every round (`loop.retrain_every =
    ///   1`); leaving it restores the profile's forest and schedule;
    /// - its learning rate is the paper's for the acquisition: 1e-4 with GALAXY, 1e-3
    ///   otherwise, set when the representation becomes `supervised` or the acquisition
    ///   moves to or from GALAXY (a rate given for the same method stays);
    /// - Cluster-Margin on it is warm-started on a validation set of 0.5 % of the pool
    ///   (`data.warm_start_share = 0.005`), and becoming or ceasing to be that method sets
    ///   or clears the share.
    #[must_use]
    pub fn with_method(
        mut self,
        representation: Option<RepresentationKind>,
        acquisition: Option<AcquisitionKind>,
    ) -> Self {
        let network_head = matches!(self.head, HeadConfig::Network(_));
        let warm_started = self.warm_started_method();
        let was_supervised = self.representation() == RepresentationKind::Supervised;
        let was_galaxy = self.acquisition_kind() == AcquisitionKind::Galaxy;
        let old_representation = self.representation();
        let had_sampling = self.acquisition.sampling().is_some();
        if let Some(kind) = representation {
            self.encoder = self.encoder.with_kind(kind, self.profile);
            if self.representation() != old_representation {
                self.dataset_encoder();
            }
        }
        if let Some(kind) = acquisition {
            self.acquisition = self.acquisition.with_kind(kind, self.profile);
            if !had_sampling {
                self.dataset_sampling();
            }
        }
        let galaxy = self.acquisition_kind() == AcquisitionKind::Galaxy;
        if let EncoderConfig::Supervised(net) = &mut self.encoder {
            if !network_head {
                self.head = HeadConfig::Network(NoSettings {});
                self.active.retrain_every = 1;
            }
            // The paper's learning rates (the GALAXY authors' code uses 1e-2), set when the
            // method changes to or from GALAXY; a rate the TOML gave for the same method
            // stays.
            if !was_supervised || galaxy != was_galaxy {
                net.learning_rate = if galaxy { 1e-4 } else { 1e-3 };
            }
        } else if network_head {
            let preset = Self::preset(self.profile);
            self.head = preset.head;
            self.active.retrain_every = preset.active.retrain_every;
            self.dataset_head();
        }
        if self.warm_started_method() != warm_started {
            self.data.warm_start_share = self.warm_started_method().then_some(0.005);
        }
        self
    }

    /// This configuration on `dataset`, with the settings the paper gives per dataset
    /// made to match: β = 4 on F+MNIST and 8 elsewhere (the stochastic strategies), 1,000
    /// trees on CIFAR and 250 elsewhere (the forest head; the smoke profile keeps its 50),
    /// and in the `paper` profile a ResNet-50 on CIFAR and a ResNet-18 elsewhere (the
    /// SimCLR and supervised encoders). The CLI applies it when `--dataset` changes the
    /// dataset, and a TOML file's `data.dataset` before the file's own keys, so keys a
    /// file gives explicitly win.
    #[must_use]
    pub fn with_dataset(mut self, dataset: Dataset) -> Self {
        self.data.dataset = dataset;
        self.dataset_sampling();
        self.dataset_head();
        self.dataset_encoder();
        self
    }

    /// Sets β of a score-then-sample acquisition to the dataset's.
    fn dataset_sampling(&mut self) {
        if let Some(mut sampling) = self.acquisition.sampling() {
            sampling.beta = if self.data.dataset == Dataset::Fmnist {
                4.0
            } else {
                8.0
            };
            self.acquisition.set_sampling(sampling);
        }
    }

    /// Sets the forest head's trees to the dataset's (not in the smoke profile).
    fn dataset_head(&mut self) {
        if let HeadConfig::Forest(forest) = &mut self.head
            && self.profile != Profile::Smoke
        {
            forest.trees = if self.data.dataset == Dataset::Cifar {
                1_000
            } else {
                250
            };
        }
    }

    /// Sets the paper profile's SimCLR and supervised backbones to the dataset's.
    fn dataset_encoder(&mut self) {
        if self.profile != Profile::Paper {
            return;
        }
        let backbone = if self.data.dataset == Dataset::Cifar {
            Backbone::ResNet50
        } else {
            Backbone::ResNet18
        };
        match &mut self.encoder {
            EncoderConfig::UsSimclr(simclr)
            | EncoderConfig::TdFt(FineTuneSettings {
                pretrain: simclr, ..
            }) => {
                simclr.backbone = backbone;
                simclr.projection_dim = backbone.feature_dim();
            }
            EncoderConfig::Supervised(net) => net.backbone = backbone,
            EncoderConfig::UsVae(_) | EncoderConfig::TdSplit(_) => {}
        }
    }

    /// Whether this is the Cluster-Margin baseline, which the paper warm-starts.
    fn warm_started_method(&self) -> bool {
        self.representation() == RepresentationKind::Supervised
            && self.acquisition_kind() == AcquisitionKind::ClusterMargin
    }

    /// The representation's kind.
    #[must_use]
    pub const fn representation(&self) -> RepresentationKind {
        self.encoder.kind()
    }

    /// The acquisition's kind.
    #[must_use]
    pub const fn acquisition_kind(&self) -> AcquisitionKind {
        self.acquisition.kind()
    }

    /// Lays a TOML document over this configuration: keys present in `text` replace the
    /// current values (tables merge key by key; a tagged section whose `kind` changes
    /// starts from that kind's preset), and the result's values are validated. Whether the
    /// head, representation and acquisition fit together is left to [`RunConfig::check`],
    /// so that command-line flags can still change the method the file names.
    ///
    /// # Errors
    /// [`Error::ConfigFile`] for TOML syntax errors, unknown keys or wrong types (the
    /// message names the key); [`Error::Config`] as [`RunConfig::check`] for a bad value.
    pub fn overlay_toml(&self, text: &str, origin: &Path) -> Result<Self> {
        let file_error = |message: String| Error::ConfigFile {
            path: origin.to_path_buf(),
            message,
        };
        let mut overlay: toml::Table =
            toml::from_str(text).map_err(|e| file_error(one_line(&e, Some(text))))?;
        let mut base = toml::Table::try_from(self).map_err(|e| file_error(e.to_string()))?;
        for section in TAGGED {
            let kind = overlay
                .get(section)
                .and_then(|s| s.get("kind"))
                .and_then(toml::Value::as_str)
                .map(str::to_owned);
            let current = base
                .get(section)
                .and_then(|s| s.get("kind"))
                .and_then(toml::Value::as_str);
            if let Some(kind) = kind
                && current != Some(kind.as_str())
            {
                let preset = self
                    .section_preset(section, &kind)
                    .ok_or_else(|| file_error(format!("unknown {section}.kind {kind:?}")))?;
                base.insert(section.to_owned(), preset);
            }
        }
        merge(&mut base, std::mem::take(&mut overlay));
        let section = failing_section(&base);
        let merged: Self = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| {
                let message = one_line(&e, None);
                file_error(section.map_or_else(|| message.clone(), |s| format!("[{s}]: {message}")))
            })?;
        merged.check_values()?;
        Ok(merged)
    }

    /// The TOML of `section`'s preset for `kind` (`None` for an unknown kind).
    fn section_preset(&self, section: &str, kind: &str) -> Option<toml::Value> {
        let value = toml::Value::String(kind.to_owned());
        let table = match section {
            "encoder" => {
                let kind: RepresentationKind = value.try_into().ok()?;
                toml::Value::try_from(self.encoder.clone().with_kind(kind, self.profile))
            }
            "acquisition" => {
                let kind: AcquisitionKind = value.try_into().ok()?;
                toml::Value::try_from(self.acquisition.clone().with_kind(kind, self.profile))
            }
            _ if kind == "network" => toml::Value::try_from(HeadConfig::Network(NoSettings {})),
            _ if kind == "laplace" => {
                toml::Value::try_from(HeadConfig::Laplace(LaplaceSettings::preset(self.profile)))
            }
            _ => toml::Value::try_from(HeadConfig::preset(self.profile)),
        };
        table.ok()
    }

    /// Parses a TOML configuration: the preset of `profile` (else the profile the text
    /// names, else `quick`) for the dataset, representation and acquisition the text
    /// names, with the settings that go with them ([`RunConfig::with_dataset`]: β, trees
    /// and paper backbones; [`RunConfig::with_method`]: a `supervised` encoder brings its
    /// network head and retraining every round), then the text's keys laid
    /// over it, so a key the text sets always wins.
    ///
    /// # Errors
    /// As [`RunConfig::overlay_toml`].
    pub fn from_toml(text: &str, origin: &Path, profile: Option<Profile>) -> Result<Self> {
        let table = toml::from_str::<toml::Table>(text).ok();
        let named = table
            .as_ref()
            .and_then(|t| t.get("profile").cloned())
            .and_then(|p| p.try_into::<Profile>().ok());
        let kind = |section: &str| {
            table
                .as_ref()
                .and_then(|t| t.get(section)?.get("kind").cloned())
        };
        let representation = kind("encoder").and_then(|k| k.try_into().ok());
        let acquisition = kind("acquisition").and_then(|k| k.try_into().ok());
        let dataset = table
            .as_ref()
            .and_then(|t| t.get("data")?.get("dataset").cloned())
            .and_then(|d| d.try_into::<Dataset>().ok())
            .unwrap_or(Dataset::Fmnist);
        let profile = profile.or(named).unwrap_or(Profile::Quick);
        let base = Self::preset(profile)
            .with_dataset(dataset)
            .with_method(representation, acquisition);
        let mut cfg = base.overlay_toml(text, origin)?;
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
        self.check_values()?;
        self.check_method()
    }

    /// The checks of [`RunConfig::check`] that hold for every method: each section's
    /// values and the data's. [`RunConfig::overlay_toml`] runs only these, so a file that
    /// names an encoder and leaves the acquisition to a command-line flag (or the other
    /// way round) is judged as a whole once the flags are applied.
    fn check_values(&self) -> Result<()> {
        if i64::try_from(self.seed).is_err() {
            // `config.toml` must read back (`--resume`, `--config`): TOML has no integers
            // above i64::MAX.
            let (seed, max) = (self.seed, i64::MAX);
            return bad(format!(
                "seed must be at most {max} (2^63 − 1): TOML integers are signed 64-bit, \
                 got {seed}"
            ));
        }
        let a = &self.active;
        if a.batch_size == 0 {
            return bad("loop.batch_size must be ≥ 1".into());
        }
        if a.retrain_every == 0 {
            return bad("loop.retrain_every must be ≥ 1".into());
        }
        self.encoder.check()?;
        if self.data.initial_per_class == Some(0) {
            // Caught here, not after a long pretraining: every method needs labels before
            // round 0 (td-ft's fine-tune is supervised by them alone).
            return bad(
                "data.initial_per_class must be ≥ 1: every method needs labels of every class \
                 before round 0 (the heads fit on them, td-ft fine-tunes on them, SIMILAR and \
                 GALAXY need a labelled target-class point)"
                    .into(),
            );
        }
        self.head.check()?;
        self.acquisition.check()?;
        let d = &self.data;
        if let Some(targets) = &d.targets {
            // As the pool builder checks, but before the data are read.
            let n = d.dataset.target_classes();
            let dataset = d.dataset.as_str();
            if targets.is_empty() {
                return bad("data.targets must name at least one target class".into());
            }
            for (i, &c) in targets.iter().enumerate() {
                if c as usize >= n {
                    return bad(format!(
                        "data.targets: class {c} does not exist in {dataset}'s target dataset \
                         (classes 0..{})",
                        n - 1
                    ));
                }
                if targets[..i].contains(&c) {
                    return bad(format!("data.targets: class {c} is listed twice"));
                }
            }
        }
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
        if let Some(share) = d.warm_start_share
            && !(0.0..1.0).contains(&share)
        {
            return bad(format!(
                "data.warm_start_share must be in [0, 1) (0: no warm start), got {share}"
            ));
        }
        Ok(())
    }

    /// The checks of [`RunConfig::check`] across sections: the head, the representation
    /// and the acquisition fit together.
    fn check_method(&self) -> Result<()> {
        let network_head = matches!(self.head, HeadConfig::Network(_));
        if network_head && self.representation() != RepresentationKind::Supervised {
            return bad(format!(
                "head.kind = \"network\" is the supervised encoder's own output layer; \
                 encoder.kind is {:?} (use head.kind = \"forest\")",
                self.representation().as_str()
            ));
        }
        let last_layer = network_head || matches!(self.head, HeadConfig::Laplace(_));
        if self.acquisition_kind() == AcquisitionKind::Similar && !last_layer {
            return bad(
                "similar needs gradient embeddings of a network's last layer: use \
                 head.kind = \"network\" (encoder.kind = \"supervised\") or \
                 head.kind = \"laplace\""
                    .into(),
            );
        }
        let kind = self.acquisition_kind();
        let samples = self.head.posterior_samples();
        if matches!(kind, AcquisitionKind::Bald | AcquisitionKind::Epig) && samples < 2 {
            let fix = match &self.head {
                HeadConfig::Network(_) => {
                    "head.kind = \"network\" is one deterministic sample: use head.kind = \
                     \"forest\" or \"laplace\", or an acquisition.kind that needs no posterior \
                     samples (entropy, confidence, margin)"
                }
                HeadConfig::Forest(_) => {
                    "raise head.posterior_samples to at least 2 (head.trees must be at least as \
                     many)"
                }
                HeadConfig::Laplace(_) => "raise head.posterior_samples to at least 2",
            };
            return bad(format!(
                "acquisition.kind = {:?} needs at least 2 posterior samples, but the head gives \
                 {samples}: with one sample every score is 0 (there is no disagreement between \
                 samples to measure) and the batch is left to rounding and ties; {fix}",
                kind.as_str()
            ));
        }
        Ok(())
    }

    /// The run's folder name: readable fields plus 8 hex digits of a hash of everything
    /// that defines the result (the data directory excluded), so a changed setting never
    /// resumes or skips an old run by mistake.
    #[must_use]
    pub fn run_id(&self) -> String {
        let hash = self.identity_hash();
        format!(
            "{}-{}-{}-{}-s{}-{}",
            self.data.dataset.as_str(),
            self.representation().as_str(),
            self.acquisition_kind().as_str(),
            self.profile.as_str(),
            self.seed,
            &hash[..8]
        )
    }

    /// The supervised network's initial weights, if it has any.
    #[must_use]
    pub const fn init_weights(&self) -> Option<&InitWeights> {
        match &self.encoder {
            EncoderConfig::Supervised(net) => net.init_weights.as_ref(),
            _ => None,
        }
    }

    /// Records the hash of the supervised network's initial-weights file when the
    /// configuration has none yet, or checks it when it has one. Nothing to do without
    /// initial weights.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Config`] when its content is
    /// not the recorded one.
    pub fn pin_init_weights(&mut self) -> Result<()> {
        let EncoderConfig::Supervised(net) = &mut self.encoder else {
            return Ok(());
        };
        let Some(weights) = &mut net.init_weights else {
            return Ok(());
        };
        let found = hash_file(&weights.file)?;
        if weights.blake3.is_empty() {
            weights.blake3 = found;
        } else if weights.blake3 != found {
            return Err(changed(&weights.file, &found, &weights.blake3));
        }
        Ok(())
    }

    /// Hex blake3 of the configuration without the data directory and the path of the
    /// initial weights (their content hash stays), with `data.targets` and `data.ir` left
    /// out when they are the dataset's defaults.
    #[must_use]
    pub fn identity_hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.data.dir = None;
        // The dataset's defaults given explicitly are the same run as left unset (and hash
        // as unset, so the ids of configurations that never set them stay).
        let dataset = canonical.data.dataset;
        if canonical.data.targets.as_ref() == Some(&dataset.default_targets()) {
            canonical.data.targets = None;
        }
        if canonical.data.target_share.is_none() && canonical.data.ir == Some(dataset.default_ir())
        {
            canonical.data.ir = None;
        }
        if let EncoderConfig::Supervised(net) = &mut canonical.encoder
            && let Some(weights) = &mut net.init_weights
        {
            weights.file = PathBuf::new();
        }
        let text = serde_json::to_string(&canonical).unwrap_or_default();
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }
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

/// The section of a merged configuration that does not deserialise (the merged value has
/// no positions, so errors would not say where they are otherwise).
fn failing_section(table: &toml::Table) -> Option<&'static str> {
    fn fails<T: serde::de::DeserializeOwned>(table: &toml::Table, key: &str) -> bool {
        table
            .get(key)
            .is_some_and(|v| v.clone().try_into::<T>().is_err())
    }
    [
        (
            "data",
            fails::<DataConfig> as fn(&toml::Table, &str) -> bool,
        ),
        ("loop", fails::<LoopConfig>),
        ("encoder", fails::<EncoderConfig>),
        ("head", fails::<HeadConfig>),
        ("acquisition", fails::<AcquisitionConfig>),
    ]
    .into_iter()
    .find(|(key, fails)| fails(table, key))
    .map(|(key, _)| key)
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

    #[test]
    fn a_toml_file_naming_the_supervised_baseline_gets_its_settings_unless_it_sets_them() {
        let text = "[encoder]\nkind = \"supervised\"\n[acquisition]\nkind = \"galaxy\"\n";
        let cfg = RunConfig::from_toml(text, Path::new("t.toml"), Some(Profile::Quick)).unwrap();
        assert!(matches!(cfg.head, HeadConfig::Network(_)));
        assert_eq!(cfg.active.retrain_every, 1);
        let EncoderConfig::Supervised(net) = &cfg.encoder else {
            panic!("{:?}", cfg.encoder)
        };
        assert!((net.learning_rate - 1e-4).abs() < 1e-12);
        assert_eq!(
            cfg,
            RunConfig::method(
                Profile::Quick,
                RepresentationKind::Supervised,
                AcquisitionKind::Galaxy
            )
        );
        // Keys the file sets win over the method's settings.
        let text = format!("{text}[loop]\nretrain_every = 3\n");
        let cfg = RunConfig::from_toml(&text, Path::new("t.toml"), Some(Profile::Quick)).unwrap();
        assert_eq!(cfg.active.retrain_every, 3);
        // Cluster-Margin's warm start comes with it, and a share of 0 in the file switches
        // it off (a valid configuration with its own run id).
        let text = "[encoder]\nkind = \"supervised\"\n[acquisition]\nkind = \"cluster-margin\"\n";
        let cfg = RunConfig::from_toml(text, Path::new("t.toml"), Some(Profile::Quick)).unwrap();
        assert_eq!(cfg.data.warm_start_share, Some(0.005));
        let off = RunConfig::from_toml(
            &format!("{text}[data]\nwarm_start_share = 0.0\n"),
            Path::new("t.toml"),
            Some(Profile::Quick),
        )
        .unwrap();
        assert_eq!(off.data.warm_start_share, Some(0.0));
        off.check().unwrap();
        assert_ne!(off.run_id(), cfg.run_id());
    }

    use super::*;

    fn x() -> &'static Path {
        Path::new("x.toml")
    }

    #[test]
    fn presets_are_valid_and_round_trip_through_toml() {
        for profile in Profile::ALL {
            for rep in [
                RepresentationKind::UsVae,
                RepresentationKind::TdSplit,
                RepresentationKind::UsSimclr,
                RepresentationKind::TdFt,
            ] {
                for acq in [
                    AcquisitionKind::Epig,
                    AcquisitionKind::Bald,
                    AcquisitionKind::Random,
                ] {
                    let cfg = RunConfig::method(profile, rep, acq);
                    cfg.check().unwrap();
                    let text = cfg.to_toml().unwrap();
                    let back = RunConfig::preset(Profile::Quick)
                        .overlay_toml(&text, x())
                        .unwrap();
                    assert_eq!(back, cfg, "{text}");
                }
            }
        }
    }

    #[test]
    fn simclr_kinds_share_their_encoder_and_switch_from_the_vae_kinds() {
        let ft = EncoderConfig::preset(RepresentationKind::TdFt, Profile::Quick);
        let us = ft
            .clone()
            .with_kind(RepresentationKind::UsSimclr, Profile::Quick);
        assert_eq!(us.us_simclr(), ft.us_simclr());
        assert!(us.us_vae().is_none());
        assert_eq!(us.with_kind(RepresentationKind::TdFt, Profile::Quick), ft);
        // From a VAE kind to a SimCLR kind (and back) starts from the presets.
        let split = EncoderConfig::preset(RepresentationKind::TdSplit, Profile::Quick);
        assert_eq!(
            split
                .clone()
                .with_kind(RepresentationKind::TdFt, Profile::Quick),
            ft
        );
        assert_eq!(
            ft.with_kind(RepresentationKind::TdSplit, Profile::Quick),
            split
        );
        // A file switching the encoder kind gets that kind's preset with its keys over it.
        let base = RunConfig::preset(Profile::Quick);
        let cfg = base
            .overlay_toml(
                "[encoder]\nkind = \"td-ft\"\nmin_steps = 40\n[encoder.pretrain]\nepochs = 3\nbackbone = \"resnet18\"\n",
                x(),
            )
            .unwrap();
        let EncoderConfig::TdFt(settings) = &cfg.encoder else {
            panic!("{:?}", cfg.encoder)
        };
        assert_eq!(settings.min_steps, 40);
        assert_eq!(settings.pretrain.epochs, 3);
        assert_eq!(settings.pretrain.backbone, Backbone::ResNet18);
        let err = base
            .overlay_toml(
                "[encoder]\nkind = \"td-ft\"\n[data]\ninitial_per_class = 0\n",
                x(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("initial_per_class"), "{err}");
        let err = base
            .overlay_toml("[encoder]\nkind = \"us-simclr\"\ntemperature = 0.0\n", x())
            .unwrap_err()
            .to_string();
        assert!(err.contains("temperature"), "{err}");
        let err = base
            .overlay_toml("[encoder]\nkind = \"us-simclr\"\nbackbone = \"vgg\"\n", x())
            .unwrap_err()
            .to_string();
        assert!(err.contains("[encoder]"), "{err}");
    }

    #[test]
    fn seeds_above_the_largest_toml_integer_are_refused_and_the_largest_round_trips() {
        let mut cfg = RunConfig::preset(Profile::Quick);
        for seed in [1_u64 << 63, u64::MAX] {
            cfg.seed = seed;
            let err = cfg.check().unwrap_err().to_string();
            assert!(
                err.contains("seed must be at most 9223372036854775807"),
                "{err}"
            );
        }
        cfg.seed = i64::MAX.unsigned_abs();
        cfg.check().unwrap();
        let text = cfg.to_toml().unwrap();
        let back = RunConfig::from_toml(&text, x(), None).unwrap();
        assert_eq!(back, cfg, "{text}");
        assert_eq!(back.run_id(), cfg.run_id());
    }

    #[test]
    fn no_initial_labels_is_refused_for_every_method() {
        use AcquisitionKind::{ClusterMargin, Epig, Galaxy, Random, Similar};
        use RepresentationKind::{Supervised, TdFt, TdSplit, UsSimclr, UsVae};
        for (rep, acq) in [
            (UsVae, Epig),
            (TdSplit, Random),
            (UsSimclr, Epig),
            (TdFt, Epig),
            (Supervised, Similar),
            (Supervised, Galaxy),
            (Supervised, ClusterMargin),
        ] {
            let mut cfg = RunConfig::method(Profile::Smoke, rep, acq);
            cfg.check().unwrap();
            cfg.data.initial_per_class = Some(0);
            let err = cfg.check().unwrap_err().to_string();
            assert!(
                err.contains("data.initial_per_class must be ≥ 1"),
                "{rep:?} {acq:?}: {err}"
            );
            cfg.data.initial_per_class = Some(1);
            cfg.check().unwrap();
        }
    }

    #[test]
    fn the_datasets_default_targets_and_ir_given_explicitly_are_the_same_run() {
        let plain = RunConfig::preset(Profile::Quick);
        let mut explicit = plain.clone();
        explicit.data.targets = Some(vec![5, 6]);
        explicit.data.ir = Some(10.0);
        explicit.check().unwrap();
        assert_eq!(explicit.run_id(), plain.run_id());
        // Through the echoed config.toml too (what --resume compares).
        let back = RunConfig::from_toml(&explicit.to_toml().unwrap(), x(), None).unwrap();
        assert_eq!(back.identity_hash(), plain.identity_hash());
        // Other values are other runs.
        let mut other = plain.clone();
        other.data.targets = Some(vec![6, 5]);
        assert_ne!(other.run_id(), plain.run_id());
        other.data.targets = None;
        other.data.ir = Some(5.0);
        assert_ne!(other.run_id(), plain.run_id());
        // CheXpert's own defaults.
        let chexpert = plain.with_dataset(tdal_data::Dataset::Chexpert);
        let mut explicit = chexpert.clone();
        explicit.data.targets = Some(vec![1]);
        explicit.data.ir = Some(2.5);
        assert_eq!(explicit.run_id(), chexpert.run_id());
    }

    #[test]
    fn bad_targets_are_refused_before_the_data_are_read() {
        let mut cfg = RunConfig::preset(Profile::Quick);
        for (targets, needle) in [
            (vec![], "at least one"),
            (vec![5, 5], "listed twice"),
            (vec![10], "class 10 does not exist"),
        ] {
            cfg.data.targets = Some(targets);
            let err = cfg.check().unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err}");
            assert!(err.contains("data.targets"), "{err}");
        }
        cfg.data.targets = Some(vec![0, 9]);
        cfg.check().unwrap();
        let mut chexpert =
            RunConfig::preset(Profile::Quick).with_dataset(tdal_data::Dataset::Chexpert);
        chexpert.data.targets = Some(vec![2]);
        assert!(chexpert.check().is_err());
    }

    #[test]
    fn overlay_replaces_only_given_keys() {
        let base = RunConfig::preset(Profile::Quick);
        let cfg = base
            .overlay_toml("seed = 3\n[loop]\nbudget = 100\n", x())
            .unwrap();
        assert_eq!(cfg.seed, 3);
        assert_eq!(cfg.active.budget, 100);
        assert_eq!(cfg.active.batch_size, base.active.batch_size);
        assert_eq!(cfg.encoder, base.encoder);
        assert_ne!(cfg.run_id(), base.run_id());
    }

    #[test]
    fn a_new_kind_starts_from_its_preset_and_keeps_what_is_shared() {
        let base = RunConfig::preset(Profile::Smoke);
        let cfg = base
            .overlay_toml("[acquisition]\nkind = \"bald\"\nbeta = 2.0\n", x())
            .unwrap();
        assert_eq!(
            cfg.acquisition,
            AcquisitionConfig::Bald(Sampling {
                strategy: StrategyKind::Power,
                beta: 2.0
            })
        );
        let cfg = base
            .overlay_toml("[encoder]\nkind = \"us-vae\"\nepochs = 7\n", x())
            .unwrap();
        let EncoderConfig::UsVae(vae) = &cfg.encoder else {
            panic!("{:?}", cfg.encoder)
        };
        assert_eq!(vae.epochs, 7);
        assert_eq!(vae.latent_dim, base.encoder.us_vae().unwrap().latent_dim);
        let random = base
            .overlay_toml("[acquisition]\nkind = \"random\"\n", x())
            .unwrap();
        assert_eq!(random.acquisition_kind(), AcquisitionKind::Random);
        // US and TD-SPLIT rows of one seed share the US VAE's settings (and its cache).
        let split = EncoderConfig::preset(RepresentationKind::TdSplit, Profile::Quick);
        let us = split
            .clone()
            .with_kind(RepresentationKind::UsVae, Profile::Quick);
        assert_eq!(us.us_vae(), split.us_vae());
        assert_eq!(
            us.with_kind(RepresentationKind::TdSplit, Profile::Quick),
            split
        );
    }

    #[test]
    fn unknown_keys_kinds_and_bad_values_are_errors() {
        let base = RunConfig::preset(Profile::Quick);
        for (text, named) in [
            ("[loop]\nbudgett = 3\n", "[loop]: unknown field `budgett`"),
            (
                "[acquisition]\nkind = \"random\"\nbeta = 3.0\n",
                "[acquisition]: unknown field `beta`",
            ),
            ("[encoder.pretrain]\nepochs = \"many\"\n", "[encoder]"),
            (
                "[acquisition]\nkind = \"bald\"\ntarget_samples = 3\n",
                "target_samples",
            ),
            (
                "[encoder]\nalphaa = 3.0\n",
                "[encoder]: unknown field `alphaa`",
            ),
            ("[encoder]\nkind = \"simclr\"\n", "simclr"),
        ] {
            let err = base.overlay_toml(text, x()).unwrap_err();
            assert!(err.to_string().contains(named), "{text}: {err}");
        }
        let err = base
            .overlay_toml("[head]\nposterior_samples = 300\n", x())
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(base.overlay_toml("seed = [", x()).is_err());
        let mut random = RunConfig::method(
            Profile::Quick,
            RepresentationKind::UsVae,
            AcquisitionKind::Random,
        );
        assert!(
            random
                .acquisition
                .try_set_sampling(Some(StrategyKind::TopK), None)
                .is_err()
        );
    }

    #[test]
    fn a_method_serialises_only_its_own_settings() {
        let us = RunConfig::method(
            Profile::Quick,
            RepresentationKind::UsVae,
            AcquisitionKind::Random,
        );
        let json = serde_json::to_value(&us).unwrap();
        assert_eq!(json["encoder"]["kind"], "us-vae");
        assert!(json["encoder"].get("alpha").is_none());
        assert_eq!(json["acquisition"], serde_json::json!({ "kind": "random" }));
    }

    /// The ids of the committed runs (docs/results) and of the smoke table: a change that
    /// alters one (a new key in an existing section, a renamed value) would orphan every
    /// recorded run of it, so it must be deliberate.
    #[test]
    fn existing_methods_keep_their_run_ids() {
        use AcquisitionKind::{Epig, Random};
        use RepresentationKind::{TdSplit, UsVae};
        for (profile, rep, acq, id) in [
            (
                Profile::Smoke,
                TdSplit,
                Epig,
                "fmnist-td-split-epig-smoke-s0-b17801cc",
            ),
            (
                Profile::Smoke,
                TdSplit,
                Random,
                "fmnist-td-split-random-smoke-s0-ae2b67be",
            ),
            (
                Profile::Smoke,
                UsVae,
                Epig,
                "fmnist-us-vae-epig-smoke-s0-cddeb8c7",
            ),
            (
                Profile::Smoke,
                UsVae,
                Random,
                "fmnist-us-vae-random-smoke-s0-e40d2319",
            ),
            (
                Profile::Quick,
                TdSplit,
                Epig,
                "fmnist-td-split-epig-quick-s0-3f96e01b",
            ),
            (
                Profile::Quick,
                TdSplit,
                Random,
                "fmnist-td-split-random-quick-s0-293f307d",
            ),
            (
                Profile::Quick,
                UsVae,
                Epig,
                "fmnist-us-vae-epig-quick-s0-83edccd4",
            ),
            (
                Profile::Quick,
                UsVae,
                Random,
                "fmnist-us-vae-random-quick-s0-877d43b4",
            ),
        ] {
            assert_eq!(RunConfig::method(profile, rep, acq).run_id(), id);
        }
    }

    #[test]
    fn initial_weights_are_optional_pinned_by_content_and_named_by_hash_in_the_run_id() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("w.safetensors");
        std::fs::write(&file, b"some weights").unwrap();
        let plain = RunConfig::method(
            Profile::Quick,
            RepresentationKind::Supervised,
            AcquisitionKind::Galaxy,
        );
        // Configurations written before the key existed still parse, to the same run.
        let old = plain.to_toml().unwrap();
        assert!(!old.contains("init_weights"), "{old}");
        let back = RunConfig::from_toml(&old, x(), None).unwrap();
        assert_eq!(back, plain);
        assert_eq!(back.run_id(), plain.run_id());
        assert!(plain.init_weights().is_none());

        // A hand-written file names the weights; pinning records their blake3.
        let text = format!(
            "[encoder]\nkind = \"supervised\"\n[encoder.init_weights]\nfile = {:?}\n[acquisition]\nkind = \"galaxy\"\n",
            file.display().to_string()
        );
        let mut cfg = RunConfig::from_toml(&text, x(), Some(Profile::Quick)).unwrap();
        assert_eq!(cfg.init_weights().unwrap().blake3, "");
        cfg.pin_init_weights().unwrap();
        let expected = blake3::hash(b"some weights").to_hex().to_string();
        assert_eq!(cfg.init_weights().unwrap().blake3, expected);
        assert_eq!(cfg.init_weights(), Some(&InitWeights::pin(&file).unwrap()));
        cfg.pin_init_weights().unwrap(); // unchanged: nothing to say
        let toml = cfg.to_toml().unwrap();
        assert!(
            toml.contains("[encoder.init_weights]") && toml.contains(&expected),
            "{toml}"
        );
        assert_eq!(RunConfig::from_toml(&toml, x(), None).unwrap(), cfg);
        assert_eq!(
            InitWeights::pin(&file).unwrap().read_pinned().unwrap(),
            b"some weights"
        );

        // The run id: another than without weights, the same for the file elsewhere,
        // another for other content.
        assert_ne!(cfg.run_id(), plain.run_id());
        let with = |file: &str, hash: &str| {
            let mut c = cfg.clone();
            let EncoderConfig::Supervised(net) = &mut c.encoder else {
                unreachable!()
            };
            net.init_weights = Some(InitWeights {
                file: file.into(),
                blake3: hash.to_owned(),
            });
            c
        };
        assert_eq!(with("moved.safetensors", &expected).run_id(), cfg.run_id());
        assert_ne!(
            with("w.safetensors", &"0".repeat(64)).run_id(),
            cfg.run_id()
        );

        // A changed file is refused, by the configuration and by the reader.
        std::fs::write(&file, b"other weights").unwrap();
        for err in [
            cfg.clone().pin_init_weights().unwrap_err(),
            cfg.init_weights().unwrap().read_pinned().unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::Config(m) if m.contains("changed")),
                "{err}"
            );
        }
        // Unpinned weights are not read; a malformed hash or an unknown key is an error.
        let unpinned = with(&file.display().to_string(), "");
        assert!(unpinned.init_weights().unwrap().read_pinned().is_err());
        assert!(
            with("w.safetensors", "xyz")
                .check()
                .unwrap_err()
                .to_string()
                .contains("blake3")
        );
        let err = RunConfig::from_toml(
            &text.replace("[acquisition]", "sha = 1\n[acquisition]"),
            x(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sha"), "{err}");
        assert!(
            RunConfig::from_toml(&text.replace("file =", "path ="), x(), None).is_err(),
            "the file is required"
        );
    }

    #[test]
    fn run_id_ignores_the_data_dir() {
        let mut a = RunConfig::preset(Profile::Smoke);
        let id = a.run_id();
        a.data.dir = Some(PathBuf::from("elsewhere"));
        assert_eq!(a.run_id(), id);
        assert!(id.starts_with("fmnist-td-split-epig-smoke-s0-"), "{id}");
    }

    fn supervised(cfg: &RunConfig) -> &SupervisedSettings {
        match &cfg.encoder {
            EncoderConfig::Supervised(net) => net,
            other => panic!("not supervised: {other:?}"),
        }
    }

    #[test]
    fn the_supervised_method_brings_its_head_schedule_and_learning_rate() {
        use AcquisitionKind::{ClusterMargin, Epig, Galaxy, Similar};
        use RepresentationKind::{Supervised, TdFt, TdSplit};
        for profile in Profile::ALL {
            for acq in [Similar, Galaxy, ClusterMargin] {
                let cfg = RunConfig::method(profile, Supervised, acq);
                assert_eq!(cfg.head, HeadConfig::Network(NoSettings {}));
                assert_eq!(cfg.active.retrain_every, 1);
                let rate = if acq == Galaxy { 1e-4 } else { 1e-3 };
                assert_eq!(supervised(&cfg).learning_rate, rate, "{acq:?}");
                cfg.check().unwrap();
            }
            // The learning rate follows the acquisition both ways; head and schedule stay.
            let galaxy = RunConfig::method(profile, TdSplit, Epig)
                .with_method(Some(Supervised), Some(Galaxy));
            assert_eq!(galaxy, RunConfig::method(profile, Supervised, Galaxy));
            let margin = galaxy.with_method(None, Some(ClusterMargin));
            assert_eq!(supervised(&margin).learning_rate, 1e-3);
            assert_eq!(margin.head, HeadConfig::Network(NoSettings {}));
            assert_eq!(margin.active.retrain_every, 1);
            let back = margin.clone().with_method(None, Some(Galaxy));
            assert_eq!(supervised(&back).learning_rate, 1e-4);

            // Leaving supervised restores the profile's forest and retraining schedule.
            let preset = RunConfig::preset(profile);
            let split = margin.clone().with_method(Some(TdSplit), Some(Epig));
            assert_eq!(split, RunConfig::method(profile, TdSplit, Epig));
            assert_eq!(split.head, preset.head);
            let every = match profile {
                Profile::Smoke => 2,
                Profile::Quick | Profile::Paper => 5,
            };
            assert_eq!(split.active.retrain_every, every);
            let ft = margin.with_method(Some(TdFt), None);
            assert_eq!(ft.head, preset.head);
            assert_eq!(ft.active.retrain_every, every);
            assert_eq!(ft.acquisition_kind(), ClusterMargin);
            ft.check().unwrap();
        }
        let split =
            RunConfig::method(Profile::Smoke, Supervised, Galaxy).with_method(Some(TdSplit), None);
        let HeadConfig::Forest(forest) = split.head else {
            panic!("{:?}", split.head)
        };
        assert_eq!((forest.trees, forest.posterior_samples), (50, 50));
    }

    #[test]
    fn another_dataset_brings_its_beta_trees_and_paper_backbone_and_the_file_still_wins() {
        let beta = |cfg: &RunConfig| cfg.acquisition.sampling().map(|s| s.beta);
        let trees = |cfg: &RunConfig| match &cfg.head {
            HeadConfig::Forest(f) => f.trees,
            other => panic!("not a forest: {other:?}"),
        };
        let origin = Path::new("run.toml");
        let cifar = RunConfig::from_toml("[data]\ndataset = \"cifar\"\n", origin, None).unwrap();
        assert_eq!(beta(&cifar), Some(8.0));
        assert_eq!(trees(&cifar), 1_000);
        let chexpert =
            RunConfig::from_toml("[data]\ndataset = \"chexpert\"\n", origin, None).unwrap();
        assert_eq!((beta(&chexpert), trees(&chexpert)), (Some(8.0), 250));
        // F+MNIST is the preset itself: run ids of F+MNIST configurations do not move.
        let fmnist = RunConfig::preset(Profile::Quick).with_dataset(Dataset::Fmnist);
        assert_eq!(fmnist, RunConfig::preset(Profile::Quick));
        // Keys the file gives win over the dataset's.
        let text = "[data]\ndataset = \"cifar\"\n[head]\nkind = \"forest\"\ntrees = 300\n\
                    posterior_samples = 100\n[acquisition]\nkind = \"epig\"\nbeta = 2.0\n";
        let given = RunConfig::from_toml(text, origin, None).unwrap();
        assert_eq!((beta(&given), trees(&given)), (Some(2.0), 300));
        // A method chosen afterwards keeps the dataset's β, also coming from random.
        let random = cifar.with_method(None, Some(AcquisitionKind::Random));
        assert_eq!(beta(&random), None);
        let bald = random.with_method(None, Some(AcquisitionKind::Bald));
        assert_eq!(beta(&bald), Some(8.0));
        // The paper profile: ResNet-50 on CIFAR, for SimCLR and the supervised baselines.
        let paper = RunConfig::preset(Profile::Paper)
            .with_method(Some(RepresentationKind::TdFt), None)
            .with_dataset(Dataset::Cifar);
        let EncoderConfig::TdFt(ft) = &paper.encoder else {
            panic!("not td-ft");
        };
        assert_eq!(ft.pretrain.backbone, Backbone::ResNet50);
        assert_eq!(ft.pretrain.projection_dim, Backbone::ResNet50.feature_dim());
        let supervised = paper.with_method(
            Some(RepresentationKind::Supervised),
            Some(AcquisitionKind::Galaxy),
        );
        let EncoderConfig::Supervised(net) = &supervised.encoder else {
            panic!("not supervised");
        };
        assert_eq!(net.backbone, Backbone::ResNet50);
        // The quick profile keeps its small CNN everywhere.
        let quick = RunConfig::preset(Profile::Quick)
            .with_method(Some(RepresentationKind::UsSimclr), None)
            .with_dataset(Dataset::Cifar);
        let EncoderConfig::UsSimclr(simclr) = &quick.encoder else {
            panic!("not us-simclr");
        };
        assert_eq!(simclr.backbone, Backbone::SmallCnn);
    }

    #[test]
    fn with_method_keeps_a_given_learning_rate_unless_the_method_changes() {
        let rate = |cfg: &RunConfig| match &cfg.encoder {
            EncoderConfig::Supervised(net) => net.learning_rate,
            other => panic!("not supervised: {other:?}"),
        };
        let galaxy = RunConfig::preset(Profile::Quick).with_method(
            Some(RepresentationKind::Supervised),
            Some(AcquisitionKind::Galaxy),
        );
        assert!((rate(&galaxy) - 1e-4).abs() < 1e-12);
        let mut tuned = galaxy.clone();
        if let EncoderConfig::Supervised(net) = &mut tuned.encoder {
            net.learning_rate = 5e-4;
        }
        // The same method again (a TOML file, then the same flags): the rate stays.
        let again = tuned.clone().with_method(
            Some(RepresentationKind::Supervised),
            Some(AcquisitionKind::Galaxy),
        );
        assert!((rate(&again) - 5e-4).abs() < 1e-12);
        // Another baseline: the paper's rate for it.
        let similar = tuned
            .clone()
            .with_method(None, Some(AcquisitionKind::Similar));
        assert!((rate(&similar) - 1e-3).abs() < 1e-12);
        let back = similar.with_method(None, Some(AcquisitionKind::Galaxy));
        assert!((rate(&back) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn with_method_leaves_the_other_methods_as_their_presets() {
        let old_kinds = [
            RepresentationKind::UsVae,
            RepresentationKind::TdSplit,
            RepresentationKind::UsSimclr,
            RepresentationKind::TdFt,
        ];
        for profile in Profile::ALL {
            for rep in old_kinds {
                for acq in [
                    AcquisitionKind::Epig,
                    AcquisitionKind::Bald,
                    AcquisitionKind::Margin,
                    AcquisitionKind::Random,
                    AcquisitionKind::Galaxy,
                    AcquisitionKind::ClusterMargin,
                ] {
                    let mut plain = RunConfig::preset(profile);
                    plain.encoder = EncoderConfig::preset(rep, profile);
                    plain.acquisition = AcquisitionConfig::preset(acq, profile);
                    let cfg = RunConfig::method(profile, rep, acq);
                    assert_eq!(cfg, plain, "{rep:?} {acq:?}");
                    assert_eq!(cfg.clone().with_method(Some(rep), Some(acq)), cfg);
                }
            }
        }
    }

    #[test]
    fn baseline_configurations_round_trip_through_toml() {
        let mut laplace = RunConfig::method(
            Profile::Smoke,
            RepresentationKind::TdFt,
            AcquisitionKind::Similar,
        );
        laplace.head = HeadConfig::Laplace(LaplaceSettings::preset(Profile::Smoke));
        let mut configs = vec![laplace];
        for profile in Profile::ALL {
            for acq in [
                AcquisitionKind::Similar,
                AcquisitionKind::Galaxy,
                AcquisitionKind::ClusterMargin,
            ] {
                configs.push(RunConfig::method(
                    profile,
                    RepresentationKind::Supervised,
                    acq,
                ));
            }
        }
        for cfg in configs {
            cfg.check().unwrap();
            let text = cfg.to_toml().unwrap();
            // What --resume reads back from config.toml must hash to the same run.
            let back = RunConfig::from_toml(&text, x(), None).unwrap();
            assert_eq!(back, cfg, "{text}");
            assert_eq!(back.run_id(), cfg.run_id());
        }
    }

    #[test]
    fn overlay_fills_the_laplace_head_and_cluster_margin_from_their_presets() {
        let base = RunConfig::preset(Profile::Smoke);
        let cfg = base
            .overlay_toml("[head]\nkind = \"laplace\"\nhidden = 64\n", x())
            .unwrap();
        assert_eq!(
            cfg.head,
            HeadConfig::Laplace(LaplaceSettings {
                hidden: 64,
                ..LaplaceSettings::preset(Profile::Smoke)
            })
        );
        let quick = RunConfig::preset(Profile::Quick)
            .overlay_toml("[head]\nkind = \"laplace\"\n", x())
            .unwrap();
        assert_eq!(
            quick.head,
            HeadConfig::Laplace(LaplaceSettings::preset(Profile::Quick))
        );
        let cfg = base
            .overlay_toml(
                "[acquisition]\nkind = \"cluster-margin\"\nclusters = 20\n",
                x(),
            )
            .unwrap();
        assert_eq!(
            cfg.acquisition,
            AcquisitionConfig::ClusterMargin(ClusterMarginSettings {
                clusters: 20,
                subsample: 1_000,
                margin_factor: 1.25,
            })
        );
        // Only the section's own keys are accepted (the forest's and EPIG's are not).
        for (text, named) in [
            (
                "[head]\nkind = \"laplace\"\ntrees = 50\n",
                "[head]: unknown field `trees`",
            ),
            (
                "[acquisition]\nkind = \"cluster-margin\"\nbeta = 4.0\n",
                "[acquisition]: unknown field `beta`",
            ),
            (
                "[acquisition]\nkind = \"cluster-margin\"\nclusterz = 5\n",
                "[acquisition]: unknown field `clusterz`",
            ),
        ] {
            let err = base.overlay_toml(text, x()).unwrap_err();
            assert!(matches!(err, Error::ConfigFile { .. }), "{text}: {err}");
            assert!(err.to_string().contains(named), "{text}: {err}");
        }
        // The --strategy and --beta flags do not apply to a selector that picks itself.
        let mut margin = cfg;
        let err = margin
            .acquisition
            .try_set_sampling(Some(StrategyKind::TopK), None)
            .unwrap_err();
        assert!(err.to_string().contains("picks its batch itself"), "{err}");
    }

    #[test]
    fn check_rejects_what_the_baselines_cannot_run() {
        let errors = |cfg: &RunConfig| match cfg.check() {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        };
        let smoke = |rep, acq| RunConfig::method(Profile::Smoke, rep, acq);
        let mut ft = smoke(RepresentationKind::TdFt, AcquisitionKind::Epig);
        ft.head = HeadConfig::Network(NoSettings {});
        assert!(errors(&ft).contains("head.kind = \"network\""));
        assert!(errors(&ft).contains("td-ft"));

        let forest = smoke(RepresentationKind::TdFt, AcquisitionKind::Similar);
        assert!(errors(&forest).contains("head.kind"));
        let mut laplace = forest;
        laplace.head = HeadConfig::Laplace(LaplaceSettings::preset(Profile::Smoke));
        laplace.check().unwrap();
        let AcquisitionConfig::Similar(settings) = &mut laplace.acquisition else {
            panic!("{:?}", laplace.acquisition)
        };
        settings.eta = -0.5;
        assert!(errors(&laplace).contains("eta"));

        let margin = smoke(
            RepresentationKind::Supervised,
            AcquisitionKind::ClusterMargin,
        );
        let with = |clusters, subsample, margin_factor| {
            let mut cfg = margin.clone();
            cfg.acquisition = AcquisitionConfig::ClusterMargin(ClusterMarginSettings {
                clusters,
                subsample,
                margin_factor,
            });
            cfg
        };
        with(50, 50, 1.0).check().unwrap();
        assert!(errors(&with(50, 49, 1.25)).contains("subsample"));
        assert!(errors(&with(0, 10, 1.25)).contains("clusters"));
        assert!(errors(&with(50, 1_000, 0.9)).contains("margin_factor"));
        assert!(errors(&with(50, 1_000, f64::NAN)).contains("margin_factor"));

        for accuracy in [0.0, 1.0 + 1e-9, -1.0, f64::NAN] {
            let mut cfg = margin.clone();
            let EncoderConfig::Supervised(net) = &mut cfg.encoder else {
                panic!("{:?}", cfg.encoder)
            };
            net.target_accuracy = accuracy;
            assert!(errors(&cfg).contains("target_accuracy"), "{accuracy}");
        }
        let mut exact = margin;
        let EncoderConfig::Supervised(net) = &mut exact.encoder else {
            panic!("{:?}", exact.encoder)
        };
        net.target_accuracy = 1.0;
        exact.check().unwrap();
    }

    #[test]
    fn galaxy_carries_its_class_pointer_only_when_asked_and_keeps_its_run_ids() {
        let galaxy = RunConfig::method(
            Profile::Quick,
            RepresentationKind::Supervised,
            AcquisitionKind::Galaxy,
        );
        let authors = AcquisitionConfig::Galaxy(GalaxySettings::default());
        assert_eq!(galaxy.acquisition, authors);
        // The default serialises as the section did before the key existed, so existing
        // config.toml files and run ids do not change.
        let text = galaxy.to_toml().unwrap();
        assert!(!text.contains("carry_class_pointer"), "{text}");
        assert_eq!(
            serde_json::to_string(&authors).unwrap(),
            r#"{"kind":"galaxy"}"#
        );

        let carried = galaxy
            .overlay_toml("[acquisition]\ncarry_class_pointer = true\n", x())
            .unwrap();
        assert_eq!(
            carried.acquisition,
            AcquisitionConfig::Galaxy(GalaxySettings {
                carry_class_pointer: true,
            })
        );
        assert_ne!(carried.run_id(), galaxy.run_id());
        let text = carried.to_toml().unwrap();
        assert!(text.contains("carry_class_pointer = true"), "{text}");
        let back = RunConfig::from_toml(&text, x(), None).unwrap();
        assert_eq!(back, carried);
        assert_eq!(back.run_id(), carried.run_id());
        // Set to false explicitly, it is the authors' rule and the same run.
        let explicit = galaxy
            .overlay_toml("[acquisition]\ncarry_class_pointer = false\n", x())
            .unwrap();
        assert_eq!(explicit.run_id(), galaxy.run_id());
        // The key is GALAXY's only.
        let err = RunConfig::preset(Profile::Quick)
            .overlay_toml("[acquisition]\ncarry_class_pointer = true\n", x())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("[acquisition]: unknown field `carry_class_pointer`"),
            "{err}"
        );
    }

    #[test]
    fn bald_and_epig_are_refused_with_fewer_than_two_posterior_samples() {
        use AcquisitionKind::{Bald, Confidence, Entropy, Epig, Margin, Random};
        let message = |cfg: &RunConfig| match cfg.check() {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        };
        let forest = |trees, posterior_samples| {
            HeadConfig::Forest(ForestSettings {
                trees,
                posterior_samples,
            })
        };
        let laplace = |posterior_samples| {
            HeadConfig::Laplace(LaplaceSettings {
                posterior_samples,
                ..LaplaceSettings::preset(Profile::Smoke)
            })
        };
        for acq in [Bald, Epig] {
            let mut cfg = RunConfig::method(Profile::Smoke, RepresentationKind::TdSplit, acq);
            cfg.check().unwrap();
            let named = format!("acquisition.kind = \"{}\"", acq.as_str());
            for one in [forest(50, 1), forest(1, 1), laplace(1)] {
                cfg.head = one;
                assert_eq!(cfg.head.posterior_samples(), 1);
                let err = message(&cfg);
                assert!(err.contains(&named), "{err}");
                assert!(err.contains("needs at least 2 posterior samples"), "{err}");
                assert!(err.contains("raise head.posterior_samples"), "{err}");
            }
            for two in [forest(2, 2), laplace(2)] {
                cfg.head = two;
                cfg.check().unwrap();
            }
            // The baselines' network head is one deterministic sample.
            let network = RunConfig::method(Profile::Smoke, RepresentationKind::Supervised, acq);
            assert_eq!(network.head, HeadConfig::Network(NoSettings {}));
            assert_eq!(network.head.posterior_samples(), 1);
            let err = message(&network);
            assert!(err.contains(&named), "{err}");
            assert!(
                err.contains("head.kind = \"network\" is one deterministic"),
                "{err}"
            );
        }
        // The other scores need no disagreement between samples: one sample is fine.
        for acq in [Entropy, Confidence, Margin, Random] {
            let mut cfg = RunConfig::method(Profile::Smoke, RepresentationKind::TdSplit, acq);
            cfg.head = forest(1, 1);
            cfg.check().unwrap();
        }
        // A file that lowers the samples is refused with the key to change, once the
        // method is complete (a flag may still change the acquisition).
        let err = RunConfig::preset(Profile::Quick)
            .overlay_toml("[head]\nposterior_samples = 1\n", x())
            .unwrap()
            .check()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("head.posterior_samples"), "{err}");
    }
}
