//! TD-SPLIT, the split-latent VAE in the style of CCVAE (Joy et al. 2021): the VAE of
//! [`crate::vae`] whose first |z_c| latent coordinates `z_c` also feed a guidance classifier
//! `c_ω = MLP(|z_c| → 128 → C)`. Training maximises
//! `Σ_pool ELBO(x) + Σ_labelled [ELBO(x) + α · E_q log c_ω(z_c)_y]` (the log as in Joy et
//! al.'s Eq. 2), so that `z_c` is pushed to carry the label information the
//! acquisition head sees; the rest `z_\c` stays free for reconstruction.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::vae::{ElboTerms, Vae, VaeConfig};
use crate::{Error, Result};

/// Architecture of TD-SPLIT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// The underlying VAE.
    pub vae: VaeConfig,
    /// |z_c|: the first `content_dim` latent coordinates are the task-driven ones.
    pub content_dim: usize,
    /// Width of the guidance classifier's hidden layer.
    pub classifier_hidden: usize,
    /// Number of classes C of the labels.
    pub num_classes: usize,
}

impl Default for SplitConfig {
    /// F+MNIST settings: |z| = 10, |z_c| = 3, 3 classes (other, 5, 6).
    fn default() -> Self {
        Self {
            vae: VaeConfig::default(),
            content_dim: 3,
            classifier_hidden: 128,
            num_classes: 3,
        }
    }
}

impl SplitConfig {
    /// Validates the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] as [`VaeConfig::check`], or when |z_c| is 0 or above |z|, the
    /// hidden width is 0, or there are fewer than two classes.
    pub fn check(&self) -> Result<()> {
        self.vae.check()?;
        if self.content_dim == 0 || self.content_dim > self.vae.latent_dim {
            return Err(Error::Config(format!(
                "expected 1 ≤ |z_c| ≤ |z| = {}, got |z_c| = {}",
                self.vae.latent_dim, self.content_dim
            )));
        }
        if self.classifier_hidden == 0 {
            return Err(Error::Config(
                "expected classifier_hidden ≥ 1, got 0".to_owned(),
            ));
        }
        if self.num_classes < 2 {
            return Err(Error::Config(format!(
                "expected at least 2 classes for the guidance classifier, got {}",
                self.num_classes
            )));
        }
        Ok(())
    }
}

/// The guidance classifier `c_ω(z_c)`: Linear → ReLU → Linear, returning logits.
#[derive(Debug, Clone)]
pub struct GuidanceClassifier {
    pub(crate) hidden: Linear,
    pub(crate) out: Linear,
}

impl GuidanceClassifier {
    /// Builds `hidden` and `out` under `vb`.
    ///
    /// # Errors
    /// As [`SplitConfig::check`]; candle errors creating variables.
    pub fn new(cfg: &SplitConfig, vb: VarBuilder<'_>) -> Result<Self> {
        cfg.check()?;
        Ok(Self {
            hidden: candle_nn::linear(cfg.content_dim, cfg.classifier_hidden, vb.pp("hidden"))?,
            out: candle_nn::linear(cfg.classifier_hidden, cfg.num_classes, vb.pp("out"))?,
        })
    }
}

impl Module for GuidanceClassifier {
    /// `[B, |z_c|]` → logits `[B, C]`.
    fn forward(&self, z_c: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = crate::vae::dense(&self.hidden, z_c, crate::ops::Activation::Relu)?;
        crate::vae::dense(&self.out, &hidden, crate::ops::Activation::Identity)
    }
}

/// The losses of one labelled batch.
#[derive(Debug, Clone)]
pub struct LabelledTerms {
    /// The negative-ELBO terms.
    pub elbo: ElboTerms,
    /// Mean cross-entropy `−log c_ω(z_c)_y` (nats), a one-sample estimate of `−E_q log c`.
    pub cross_entropy: Tensor,
}

impl LabelledTerms {
    /// `reconstruction + β · kl + α · cross_entropy`, the loss to minimise (a scalar).
    ///
    /// # Errors
    /// Candle errors.
    pub fn loss(&self, beta: f64, alpha: f64) -> Result<Tensor> {
        Ok((self.elbo.loss(beta)? + (&self.cross_entropy * alpha)?)?)
    }
}

/// The split-latent VAE: the VAE's variables at the root of its `VarBuilder` (so a US VAE
/// checkpoint loads into it as is) and the classifier under `classifier`.
#[derive(Debug, Clone)]
pub struct SplitVae {
    /// The VAE.
    pub vae: Vae,
    /// The guidance classifier on `z_c`.
    pub classifier: GuidanceClassifier,
    cfg: SplitConfig,
}

impl SplitVae {
    /// Builds the model.
    ///
    /// # Errors
    /// As [`SplitConfig::check`]; candle errors creating variables.
    pub fn new(cfg: &SplitConfig, vb: VarBuilder<'_>) -> Result<Self> {
        cfg.check()?;
        Ok(Self {
            vae: Vae::new(&cfg.vae, vb.clone())?,
            classifier: GuidanceClassifier::new(cfg, vb.pp("classifier"))?,
            cfg: cfg.clone(),
        })
    }

    /// The architecture.
    #[must_use]
    pub const fn config(&self) -> &SplitConfig {
        &self.cfg
    }

    /// The labelled-batch terms for the given reparameterisation noise.
    ///
    /// # Shapes
    /// `images` `[B, C, S, S]`, `noise` `[B, |z|]`, `labels` `[B]` (u32, each below C).
    ///
    /// # Errors
    /// As [`Vae::loss`]; [`Error::Shape`] when `labels` has the wrong length.
    pub fn labelled_loss(
        &self,
        images: &Tensor,
        noise: &Tensor,
        labels: &Tensor,
    ) -> Result<LabelledTerms> {
        let elbo = self.vae.loss(images, noise)?;
        let batch = images.dim(0)?;
        if labels.dims() != [batch] {
            return Err(Error::Shape(format!(
                "expected {batch} labels, got shape {:?}",
                labels.dims()
            )));
        }
        let z_c = elbo.sample.narrow(1, 0, self.cfg.content_dim)?;
        let logits = self.classifier.forward(&z_c)?;
        let cross_entropy = candle_nn::loss::cross_entropy(&logits, labels)?;
        Ok(LabelledTerms {
            elbo,
            cross_entropy,
        })
    }

    /// Class logits `[B, C]` from the posterior mean of `z_c`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn classify(&self, images: &Tensor) -> Result<Tensor> {
        let (mean, _) = self.vae.encoder.posterior(images)?;
        Ok(self
            .classifier
            .forward(&mean.narrow(1, 0, self.cfg.content_dim)?)?)
    }
}

impl Module for SplitVae {
    /// Reconstruction logits from the posterior mean, as [`Vae`].
    fn forward(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.vae.forward(images)
    }
}
