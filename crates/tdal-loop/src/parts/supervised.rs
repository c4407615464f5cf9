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
//!   [`Representation::embed`] gives the fully connected layer's activations `h`. With
//!   `encoder.init_weights` every round's network starts its backbone from that file
//!   instead (read and checked against its recorded hash once, by
//!   [`Representation::initialise`]; `tdal_encoders::pretrained`), its fully connected
//!   and output layers still seeded from the round;
//! - [`NetworkHead`] is the head: it holds the trained network's output layer (handed over
//!   by [`SupervisedNet`] after each update) and predicts `softmax(W h + b)`, the
//!   network's own prediction, as one posterior sample. Fitting it does nothing: the
//!   network was fitted on the same labels.
//!
//! The two share the output layer through a [`LastLayer`] handle, made by
//! [`SupervisedNet::head`].

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView4, Axis};
use tdal_encoders::supervised::softmax_affine;
use tdal_encoders::{
    BackboneWeights, DeviceChoice, Embedder, LoadReport, SupervisedConfig, SupervisedModel,
    SupervisedTrainConfig, train_supervised,
};
use tdal_heads::{LastLayerOutput, PredictionHead};

use super::representation::{Initialised, Representation, not_initialised};
use crate::config::{InitWeights, SupervisedSettings};
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

/// The baselines' network, trained from scratch (or from the initial weights) at every
/// update.
#[derive(Debug)]
pub struct SupervisedNet {
    network: SupervisedConfig,
    train: SupervisedTrainConfig,
    seed: u64,
    device: DeviceChoice,
    init_weights: Option<InitWeights>,
    /// The file's weights resolved onto the backbone, once `initialise` has read them.
    pretrained: Option<BackboneWeights>,
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
            init_weights: cfg.init_weights.clone(),
            pretrained: None,
            model: None,
            last_layer: LastLayer::default(),
        }
    }

    /// What the initial weights initialise (copied, adapted, kept and ignored tensors),
    /// once [`Representation::initialise`] has read them; `None` without initial weights.
    #[must_use]
    pub fn init_report(&self) -> Option<&LoadReport> {
        self.pretrained.as_ref().map(BackboneWeights::report)
    }

    /// The untrained network of `round`: every variable seeded from the round, then the
    /// backbone's overwritten by the initial weights when the configuration has them.
    ///
    /// # Errors
    /// [`Error::Config`] when there are initial weights and [`Representation::initialise`]
    /// has not read them; encoder errors.
    pub fn initial_model(&self, round: usize) -> Result<SupervisedModel> {
        let init = stream_seed(self.seed, "supervised-init", round);
        let mut model = SupervisedModel::new(&self.network, init, self.device)?;
        if self.init_weights.is_some() {
            let weights = self.pretrained.as_ref().ok_or_else(not_initialised)?;
            model.set_backbone(weights)?;
        }
        Ok(model)
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

    /// Reads the initial weights, if any, checks their hash and resolves them onto the
    /// backbone (so a file that does not fit fails before any training); otherwise
    /// nothing: the first network is trained by the update before round 0.
    fn initialise(
        &mut self,
        _pool: ArrayView4<'_, f32>,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Initialised> {
        // Timed only when there is a file to read: without one nothing happens, in 0 s.
        let mut seconds = 0.0;
        if let Some(weights) = &self.init_weights
            && self.pretrained.is_none()
        {
            let started = Instant::now();
            let bytes = weights.read_pinned()?;
            let probe = SupervisedModel::new(&self.network, 0, self.device)?;
            self.pretrained = Some(BackboneWeights::from_bytes(&bytes, &weights.file, &probe)?);
            seconds = started.elapsed().as_secs_f64();
        }
        Ok(Initialised {
            seconds,
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
        let mut model = self.initial_model(round)?;
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

#[cfg(test)]
mod tests {
    use ndarray::{Array4, s};

    use super::*;
    use crate::config::{EncoderConfig, Profile, RepresentationKind};

    const CLASSES: usize = 3;
    const HIDDEN: usize = 16;

    fn settings(hidden_dim: usize) -> SupervisedSettings {
        let preset = EncoderConfig::preset(RepresentationKind::Supervised, Profile::Smoke);
        let EncoderConfig::Supervised(settings) = preset else {
            panic!("{preset:?}")
        };
        SupervisedSettings {
            hidden_dim,
            max_epochs: 3,
            ..settings
        }
    }

    /// Nine 28×28 images, class `n % 3` a bright band in the `n % 3`-th third, over a
    /// faint deterministic texture.
    fn tiny_set() -> (Array4<f32>, Vec<u32>) {
        let labels = (0..9).map(|n| n % 3).collect();
        let images = Array4::from_shape_fn((9, 1, 28, 28), |(n, _, h, w)| {
            if h / 10 == n % 3 {
                0.9
            } else {
                #[allow(clippy::cast_precision_loss)]
                let texture = ((n * 7 + h * 3 + w) % 5) as f32;
                texture / 20.0
            }
        });
        (images, labels)
    }

    /// A network updated on the first `n` images, its head (made before the update, as
    /// [`crate::Parts::from_config`] does) and the nine images' features.
    fn trained(n: usize) -> (SupervisedNet, NetworkHead, Array2<f32>) {
        let (images, labels) = tiny_set();
        let mut net = SupervisedNet::new(&settings(HIDDEN), 1, CLASSES, 7, DeviceChoice::Cpu);
        let head = net.head();
        let labelled = images.slice(s![..n, .., .., ..]);
        let changed = net
            .update(images.view(), labelled, &labels[..n], 0, &mut |_, _| {})
            .unwrap();
        assert!(changed);
        let h = net.embed(images.view()).unwrap();
        (net, head, h)
    }

    /// `softmax(W h + b)` row by row in f64, term by term.
    fn softmax_by_hand(x: &Array2<f32>, w: &Array2<f32>, b: &Array1<f32>) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), w.nrows()));
        for i in 0..x.nrows() {
            let logits: Vec<f64> = (0..w.nrows())
                .map(|c| {
                    let dot: f64 = (0..w.ncols())
                        .map(|k| f64::from(w[[c, k]]) * f64::from(x[[i, k]]))
                        .sum();
                    dot + f64::from(b[c])
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            for (c, l) in logits.iter().enumerate() {
                out[[i, c]] = (l - max).exp() / total;
            }
        }
        out
    }

    fn max_gap(probs: &Array2<f32>, expected: &Array2<f64>) -> f64 {
        assert_eq!(probs.dim(), expected.dim());
        probs
            .iter()
            .zip(expected)
            .map(|(&p, &e)| (f64::from(p) - e).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_head_predicts_the_current_networks_softmax_after_every_update() {
        let (images, labels) = tiny_set();
        let (mut net, head, h) = trained(6);
        assert_eq!(h.dim(), (9, HIDDEN));
        let mut previous: Option<Array2<f32>> = None;
        for round in 0..2 {
            if round > 0 {
                net.update(images.view(), images.view(), &labels, round, &mut |_, _| {})
                    .unwrap();
            }
            let h = net.embed(images.view()).unwrap();
            let model = net.model.as_ref().unwrap();
            let (w, b) = model.last_layer().unwrap();
            assert_eq!(w.dim(), (CLASSES, HIDDEN));
            let probs = head.predict_mean(h.view()).unwrap();
            let expected = softmax_by_hand(&h, &w, &b);
            assert!(max_gap(&probs, &expected) < 1e-5, "{probs} vs {expected}");
            assert!(
                expected.iter().any(|p| (p - 1.0 / 3.0).abs() > 1e-3),
                "a trivial prediction proves nothing: {expected}"
            );
            // The network's own prediction from the images.
            assert_eq!(probs, model.predict_proba(images.view()).unwrap());
            if let Some(previous) = previous {
                assert_ne!(previous, probs, "the head kept the old network");
            }
            previous = Some(probs);
        }
    }

    #[test]
    fn samples_and_last_layer_are_the_one_network_prediction() {
        let (_, head, h) = trained(9);
        let mean = head.predict_mean(h.view()).unwrap();
        let samples = head.predict_samples(h.view()).unwrap();
        assert_eq!(samples.dim(), (9, 1, CLASSES));
        assert_eq!(samples.index_axis(Axis(1), 0), mean);
        let out = head.last_layer(h.view()).unwrap().unwrap();
        assert_eq!(out.features, h);
        assert_eq!(out.probs, mean);
        // Fitting checks its inputs and changes nothing (the network was fitted).
        let mut fitted = head.clone();
        let (_, labels) = tiny_set();
        fitted.fit_seeded(h.view(), &labels, 3).unwrap();
        assert_eq!(fitted.predict_mean(h.view()).unwrap(), mean);
    }

    #[test]
    fn bad_inputs_and_use_before_an_update_are_errors() {
        let net = SupervisedNet::new(&settings(HIDDEN), 1, CLASSES, 7, DeviceChoice::Cpu);
        let mut head = net.head();
        let x = Array2::<f32>::zeros((4, HIDDEN));
        assert!(matches!(
            head.predict_mean(x.view()),
            Err(tdal_heads::Error::InvalidParam { .. })
        ));
        assert!(head.predict_samples(x.view()).is_err());
        assert!(matches!(head.last_layer(x.view()), Some(Err(_))));
        assert!(head.fit_seeded(x.view(), &[0, 1, 2, 0], 0).is_err());
        let mut net = net;
        let (images, _) = tiny_set();
        assert!(matches!(net.embed(images.view()), Err(Error::Config(_))));
        let tmp = tempfile::tempdir().unwrap();
        assert!(net.save_state(tmp.path()).is_err());

        let (_, mut head, h) = trained(9);
        let wide = Array2::<f32>::zeros((4, HIDDEN + 1));
        for result in [
            head.predict_mean(wide.view()).map(|_| ()),
            head.predict_samples(wide.view()).map(|_| ()),
            head.fit_seeded(wide.view(), &[0, 1, 2, 0], 0),
        ] {
            assert!(
                matches!(
                    result,
                    Err(tdal_heads::Error::FeatureMismatch {
                        expected: HIDDEN,
                        found,
                        rows: 4,
                    }) if found == HIDDEN + 1
                ),
                "{result:?}"
            );
        }
        assert!(matches!(
            head.last_layer(wide.view()),
            Some(Err(tdal_heads::Error::FeatureMismatch { .. }))
        ));
        let mut nan = h.clone();
        nan[[2, 5]] = f32::NAN;
        assert!(matches!(
            head.predict_mean(nan.view()),
            Err(tdal_heads::Error::NonFinite {
                row: 2,
                feature: 5,
                ..
            })
        ));
        assert!(matches!(
            head.fit_seeded(h.view(), &[0, 1], 0),
            Err(tdal_heads::Error::LengthMismatch {
                features: 9,
                labels: 2
            })
        ));
    }

    #[test]
    fn a_saved_network_predicts_the_same_after_loading() {
        let (images, _) = tiny_set();
        let (net, head, h) = trained(9);
        let tmp = tempfile::tempdir().unwrap();
        net.save_state(tmp.path()).unwrap();
        let mut loaded = SupervisedNet::new(&settings(HIDDEN), 1, CLASSES, 99, DeviceChoice::Cpu);
        let loaded_head = loaded.head();
        loaded.load_state(tmp.path()).unwrap();
        assert_eq!(loaded.embed(images.view()).unwrap(), h);
        assert_eq!(
            loaded_head.predict_mean(h.view()).unwrap(),
            head.predict_mean(h.view()).unwrap()
        );
        let mut other = SupervisedNet::new(&settings(HIDDEN * 2), 1, CLASSES, 0, DeviceChoice::Cpu);
        assert!(matches!(
            other.load_state(tmp.path()),
            Err(Error::Resume { .. })
        ));
    }
}
