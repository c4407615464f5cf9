//! The parts of a round, built once from the configuration by [`Parts::from_config`]:
//! a [`Representation`] (what the head sees), a head through
//! [`tdal_heads::PredictionHead`] (posterior samples and the mean prediction) and a
//! [`BatchSelector`] (the next batch). The loop ([`crate::Session`]) drives the parts
//! through these traits only, so a new method is a new implementation plus a config
//! variant, and a library user can hand [`crate::run_task`] parts of their own.

pub mod baselines;
pub mod fixed;
pub mod representation;
pub mod selector;
pub mod simclr;
pub mod supervised;

use tdal_heads::{ForestParams, LaplaceHead, LaplaceParams, PredictionHead, RandomForest};

pub use baselines::{ClusterMargin, Galaxy, Similar};
pub use fixed::{FixedEncoder, Pretraining};
pub use representation::{Fixed, Initialised, Representation, SplitVae};
pub use selector::{
    BatchSelector, Embeddings, LabelledSet, RoundInputs, Score, ScoreThenSample, Streams,
    UniformRandom,
};
pub use simclr::{FineTune, FixedSimclr};
pub use supervised::{LastLayer, NetworkHead, SupervisedNet};

use crate::Result;
use crate::cache::Cache;
use crate::config::{EncoderConfig, HeadConfig, RunConfig};
use crate::run::{RunOptions, Task};

/// The three parts of a round.
pub struct Parts {
    /// What the head sees.
    pub representation: Box<dyn Representation>,
    /// The head, refitted every round.
    pub head: Box<dyn PredictionHead>,
    /// Picks the batch.
    pub selector: Box<dyn BatchSelector>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("representation", &self.representation.name())
            .field("selector", &self.selector.name())
            .finish_non_exhaustive()
    }
}

impl Parts {
    /// The parts a configuration names, for `task`'s images (channels) and classes.
    ///
    /// # Errors
    /// Invalid head settings.
    pub fn from_config(cfg: &RunConfig, task: &Task, opts: &RunOptions) -> Result<Self> {
        let channels = task.pool.len_of(ndarray::Axis(1));
        let cache = Cache::new(&opts.cache_dir);
        let mut network_head = None;
        let representation: Box<dyn Representation> = match &cfg.encoder {
            EncoderConfig::UsVae(vae) => {
                Box::new(Fixed::new(vae, channels, cfg.seed, cache, opts.device))
            }
            EncoderConfig::TdSplit(split) => Box::new(SplitVae::new(
                split,
                channels,
                task.num_classes,
                cfg.seed,
                cache,
                opts.device,
            )),
            EncoderConfig::UsSimclr(simclr) => Box::new(FixedSimclr::new(
                simclr,
                channels,
                cfg.seed,
                cache,
                opts.device,
            )),
            EncoderConfig::TdFt(ft) => Box::new(FineTune::new(
                ft,
                channels,
                task.num_classes,
                cfg.seed,
                cache,
                opts.device,
            )),
            EncoderConfig::Supervised(net) => {
                let net =
                    SupervisedNet::new(net, channels, task.num_classes, cfg.seed, opts.device);
                network_head = Some(net.head());
                Box::new(net)
            }
        };
        let head: Box<dyn PredictionHead> = match &cfg.head {
            HeadConfig::Forest(forest) => Box::new(RandomForest::new(ForestParams {
                n_trees: forest.trees,
                posterior_samples: forest.posterior_samples,
                n_classes: Some(task.num_classes),
                ..ForestParams::default()
            })?),
            HeadConfig::Laplace(l) => Box::new(LaplaceHead::new(LaplaceParams {
                hidden: l.hidden,
                posterior_samples: l.posterior_samples,
                steps: l.steps,
                n_classes: Some(task.num_classes),
                ..LaplaceParams::default()
            })?),
            HeadConfig::Network(_) => Box::new(network_head.ok_or_else(|| {
                crate::Error::Config(
                    "head.kind = \"network\" needs encoder.kind = \"supervised\"".into(),
                )
            })?),
        };
        let selector = selector::from_config(&cfg.acquisition)?;
        Ok(Self {
            representation,
            head,
            selector,
        })
    }
}
