//! The messy-pool baselines' network as a representation and a head.
//!
//! SIMILAR, GALAXY and Cluster-Margin have no separate representation: one supervised
//! network (a backbone, a fully connected layer, a linear output layer;
//! [`tdal_encoders::SupervisedModel`]) is trained from scratch on the labels at every
//! update and predicts with its own output layer. tdal splits it at that last layer so
//! the loop drives it like every other method:
//!
//! - [`SupervisedNet`] is the [`Representation`]: [`Representation::update`] trains a
//!   fresh network (its initialisation and shuffling drawn from the round) and
//!   [`Representation::embed`] gives the fully connected layer's activations `h`;
//! - [`NetworkHead`] is the head: it holds the trained network's output layer (handed over
//!   by [`SupervisedNet`] after each update) and predicts `softmax(W h + b)`, the
//!   network's own prediction, as one posterior sample. Fitting it does nothing: the
//!   network was fitted on the same labels.
//!
//! The two share the output layer through a [`LastLayer`] handle, made by
//! [`SupervisedNet::head`].

use std::path::Path;
use std::sync::{Arc, Mutex};

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView4, Axis};
use tdal_encoders::supervised::softmax_affine;
use tdal_encoders::{
    DeviceChoice, Embedder, SupervisedConfig, SupervisedModel, SupervisedTrainConfig,
    train_supervised,
};
use tdal_heads::{LastLayerOutput, PredictionHead};

use super::representation::{Initialised, Representation, not_initialised};
use crate::config::SupervisedSettings;
use crate::seeds::stream_seed;
use crate::{Error, Result};

/// The output layer `(W [C, H], b [C])` of the current network, shared by
/// [`SupervisedNet`] (which writes it after every update) and [`NetworkHead`].
#[derive(Debug, Clone, Default)]
pub struct LastLayer(Arc<Mutex<Option<Affine>>>);

/// An output layer's weights `W` `[C, H]` and bias `b` `[C]`.
type Affine = (Array2<f32>, Array1<f32>);

impl LastLayer {
    fn set(&self, layer: Affine) -> Result<()> {
        *self.0.lock().map_err(|_| poisoned())? = Some(layer);
        Ok(())
    }

    fn get(&self) -> tdal_heads::Result<Affine> {
        let guard = self
            .0
            .lock()
            .map_err(|_| head_error("an output layer behind a poisoned lock"))?;
        guard.clone().ok_or_else(|| {
            head_error("no network: the head predicts after the supervised encoder's update")
        })
    }
}

fn poisoned() -> Error {
    Error::Config("the network's output layer is behind a poisoned lock".into())
}

fn head_error(found: &str) -> tdal_heads::Error {
    tdal_heads::Error::InvalidParam {
        name: "network head",
        value: found.to_owned(),
        expected: "a supervised encoder trained on the labels".to_owned(),
    }
}

/// The baselines' network, trained from scratch at every update.
#[derive(Debug)]
pub struct SupervisedNet {
    network: SupervisedConfig,
    train: SupervisedTrainConfig,
    seed: u64,
    device: DeviceChoice,
    model: Option<SupervisedModel>,
    last_layer: LastLayer,
}

impl SupervisedNet {
    /// The network for images with `channels` channels and `classes` classes.
    #[must_use]
    pub fn new(
        cfg: &SupervisedSettings,
        channels: usize,
        classes: usize,
        seed: u64,
        device: DeviceChoice,
    ) -> Self {
        Self {
            network: SupervisedConfig {
                backbone: cfg.backbone,
                channels,
                image_size: 32,
                hidden_dim: cfg.hidden_dim,
                classes,
            },
            train: SupervisedTrainConfig {
                batch_size: cfg.batch_size,
                learning_rate: cfg.learning_rate,
                max_epochs: cfg.max_epochs,
                target_accuracy: cfg.target_accuracy,
                class_weighted: true,
                seed: 0,
            },
            seed,
            device,
            model: None,
            last_layer: LastLayer::default(),
        }
    }

    /// The head that predicts with this network's output layer.
    #[must_use]
    pub fn head(&self) -> NetworkHead {
        NetworkHead {
            layer: self.last_layer.clone(),
        }
    }

    fn install(&mut self, model: SupervisedModel) -> Result<()> {
        self.last_layer.set(model.last_layer()?)?;
        self.model = Some(model);
        Ok(())
    }
}

impl Representation for SupervisedNet {
    fn name(&self) -> &'static str {
        "supervised"
    }

    /// Nothing to do: the first network is trained by the update before round 0.
    fn initialise(
        &mut self,
        _pool: ArrayView4<'_, f32>,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised> {
        Ok(Initialised {
            seconds: 0.0,
            cached: false,
        })
    }

    fn update(
        &mut self,
        _pool: ArrayView4<'_, f32>,
        labelled: ArrayView4<'_, f32>,
        labels: &[u32],
        round: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<bool> {
        let init = stream_seed(self.seed, "supervised-init", round);
        let mut model = SupervisedModel::new(&self.network, init, self.device)?;
        let train = SupervisedTrainConfig {
            seed: stream_seed(self.seed, "supervised-train", round),
            ..self.train
        };
        train_supervised(&mut model, labelled, labels, &train, Some(progress))?;
        self.install(model)?;
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
        let model = SupervisedModel::load(dir, self.device)?;
        if model.config() != &self.network {
            return Err(Error::Resume {
                path: dir.to_path_buf(),
                message: "the checkpoint's architecture differs from the configuration".into(),
            });
        }
        self.install(model)
    }
}

/// The supervised network's own output layer as a head (see the module documentation).
#[derive(Debug, Clone)]
pub struct NetworkHead {
    layer: LastLayer,
}

impl NetworkHead {
    fn check(x: ArrayView2<'_, f32>, w: &Array2<f32>) -> tdal_heads::Result<()> {
        if x.ncols() != w.ncols() {
            return Err(tdal_heads::Error::FeatureMismatch {
                expected: w.ncols(),
                found: x.ncols(),
                rows: x.nrows(),
            });
        }
        if let Some((i, v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(tdal_heads::Error::NonFinite {
                what: "features",
                row: i / x.ncols().max(1),
                feature: i % x.ncols().max(1),
                value: *v,
            });
        }
        Ok(())
    }
}

impl PredictionHead for NetworkHead {
    /// Checks the inputs only: the network was trained on these labels by its update.
    fn fit_seeded(
        &mut self,
        x: ArrayView2<'_, f32>,
        y: &[u32],
        _seed: u64,
    ) -> tdal_heads::Result<()> {
        let (w, _) = self.layer.get()?;
        if x.nrows() != y.len() {
            return Err(tdal_heads::Error::LengthMismatch {
                features: x.nrows(),
                labels: y.len(),
            });
        }
        Self::check(x, &w)
    }

    /// One sample, the network's prediction: `[N, H]` → `[N, 1, C]`.
    fn predict_samples(&self, x: ArrayView2<'_, f32>) -> tdal_heads::Result<Array3<f32>> {
        let mean = self.predict_mean(x)?;
        Ok(mean.insert_axis(Axis(1)))
    }

    fn predict_mean(&self, x: ArrayView2<'_, f32>) -> tdal_heads::Result<Array2<f32>> {
        let (w, b) = self.layer.get()?;
        Self::check(x, &w)?;
        Ok(softmax_affine(x, w.view(), &b))
    }

    /// The network's fully connected layer, which its output layer is affine in (the
    /// head's input itself), and the network's prediction.
    fn last_layer(&self, x: ArrayView2<'_, f32>) -> Option<tdal_heads::Result<LastLayerOutput>> {
        Some(self.predict_mean(x).map(|probs| LastLayerOutput {
            features: x.to_owned(),
            probs,
        }))
    }
}
