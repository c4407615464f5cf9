//! Batch selectors: the part of a round that picks the next batch from what the round
//! knows ([`RoundInputs`]).
//!
//! - [`ScoreThenSample`]: an acquisition function from `tdal-acquire` scores every
//!   unlabelled point from the head's posterior samples (EPIG against M target inputs
//!   drawn this round, BALD, entropy, confidence, margin), then a strategy draws the batch
//!   (top-k, or power / softmax / soft-rank sampling without replacement).
//! - [`UniformRandom`]: a uniformly random batch.
//!
//! A selector that returns a whole set at once (a submodular greedy, a graph search, a
//! clustering round robin) implements [`BatchSelector`] the same way; one that keeps
//! state across rounds saves it with [`BatchSelector::save_state`] so `--resume` can
//! restore it.

use std::path::Path;

use ndarray::{Array1, Array2, Array3, Axis};
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Margin, Strategy, select};
use tdal_heads::PredictionHead;

use crate::config::{AcquisitionConfig, Sampling, StrategyKind};
use crate::seeds;
use crate::stage::{Stage, StageClock};
use crate::{Error, Result};

/// Embeddings of the pool, the target inputs and the test set.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// Pool `[N, d]`.
    pub pool: Array2<f32>,
    /// Unlabelled target-class inputs `[M₀, d]` (empty `[0, 0]` when there are none).
    pub targets: Array2<f32>,
    /// Test set `[T, d]`.
    pub test: Array2<f32>,
}

/// The labelled part of the pool.
#[derive(Debug, Clone)]
pub struct LabelledSet {
    /// Pool indices in the order they were labelled (initial labels first).
    pub indices: Vec<usize>,
    /// Their label-map labels (0 = other).
    pub labels: Vec<u32>,
    /// `mask[i]`: pool point `i` is labelled.
    pub mask: Vec<bool>,
}

/// Independent random streams of one round, derived from the run's seed
/// ([`crate::seeds`]): the same `(seed, purpose, round)` gives the same stream whether the
/// run got there in one go or after a restart.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    /// The run's seed.
    pub seed: u64,
    /// The round.
    pub round: usize,
}

impl Streams {
    /// A generator for `purpose` in this round.
    #[must_use]
    pub fn rng(&self, purpose: &str) -> rand_chacha::ChaCha8Rng {
        seeds::rng(self.seed, purpose, self.round)
    }

    /// A 64-bit seed for `purpose` in this round.
    #[must_use]
    pub fn seed(&self, purpose: &str) -> u64 {
        seeds::stream_seed(self.seed, purpose, self.round)
    }
}

/// What a round knows when it picks a batch.
pub struct RoundInputs<'a> {
    /// Embeddings of this round's representation.
    pub embeddings: &'a Embeddings,
    /// The head, fitted this round on the labelled embeddings.
    pub head: &'a dyn PredictionHead,
    /// The labelled set.
    pub labelled: &'a LabelledSet,
    /// Unlabelled pool indices, ascending.
    pub unlabelled: &'a [usize],
    /// Points to pick (≤ `unlabelled.len()`).
    pub batch_size: usize,
    /// This round's random streams.
    pub streams: Streams,
    /// Asks the oracle for one unlabelled pool point's label now, inside the round, for
    /// selectors that query point by point (GALAXY); the point then belongs to the batch
    /// and must be returned in it. `None` where the labeller answers whole batches only.
    pub reveal: Option<&'a dyn Fn(usize) -> Result<u32>>,
}

/// Picks the next batch.
pub trait BatchSelector {
    /// A short name for messages (`epig`, `random`).
    fn name(&self) -> &'static str;

    /// The batch: `batch_size` distinct unlabelled pool indices, in the order they were
    /// picked. Calls `clock.begin(stage)` as it enters [`Stage::Predict`],
    /// [`Stage::Score`] and [`Stage::Select`] (or whichever of them it has).
    ///
    /// # Errors
    /// Head and acquisition errors; the loop rejects a batch of the wrong size or with an
    /// index that is labelled, repeated or outside the pool.
    fn select(&mut self, round: &RoundInputs<'_>, clock: &mut StageClock<'_>)
    -> Result<Vec<usize>>;

    /// Whether the selector keeps state across rounds (then the loop saves it after every
    /// batch and restores it on `--resume`).
    fn is_stateful(&self) -> bool {
        false
    }

    /// Writes the state into `dir` (a fresh folder).
    ///
    /// # Errors
    /// I/O errors.
    fn save_state(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    /// Restores a state written by [`BatchSelector::save_state`].
    ///
    /// # Errors
    /// I/O errors, a damaged state.
    fn load_state(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    /// The acquisition scores of the last batch [`BatchSelector::select`] returned, in
    /// its order, for selectors that score points (shown to a person labelling it).
    fn batch_scores(&self) -> Option<Vec<f32>> {
        None
    }
}

/// The builder of a selector from the configuration.
///
/// # Errors
/// None today; a selector whose settings need the data may fail.
pub fn from_config(cfg: &AcquisitionConfig) -> Result<Box<dyn BatchSelector>> {
    let strategy = |s: Sampling| -> Strategy {
        #[allow(clippy::cast_possible_truncation)]
        let beta = s.beta as f32;
        match s.strategy {
            StrategyKind::TopK => Strategy::TopK,
            StrategyKind::Power => Strategy::Power { beta },
            StrategyKind::Softmax => Strategy::Softmax { beta },
            StrategyKind::SoftRank => Strategy::SoftRank { beta },
        }
    };
    let (score, sampling) = match *cfg {
        AcquisitionConfig::Epig(e) => (
            Score::Epig {
                target_samples: e.target_samples,
            },
            Sampling {
                strategy: e.strategy,
                beta: e.beta,
            },
        ),
        AcquisitionConfig::Bald(s) => (Score::Bald, s),
        AcquisitionConfig::Entropy(s) => (Score::Entropy, s),
        AcquisitionConfig::Confidence(s) => (Score::Confidence, s),
        AcquisitionConfig::Margin(s) => (Score::Margin, s),
        AcquisitionConfig::Random(_) => return Ok(Box::new(UniformRandom)),
        AcquisitionConfig::Similar(s) => return Ok(Box::new(super::baselines::Similar::new(s))),
        AcquisitionConfig::Galaxy(g) => return Ok(Box::new(super::baselines::Galaxy::new(g)?)),
        AcquisitionConfig::ClusterMargin(c) => {
            return Ok(Box::new(super::baselines::ClusterMargin::new(c)));
        }
    };
    Ok(Box::new(ScoreThenSample::new(score, strategy(sampling))))
}

/// The acquisition function of a [`ScoreThenSample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// EPIG against `target_samples` target inputs drawn (with replacement when fewer
    /// exist) each round.
    Epig {
        /// M.
        target_samples: usize,
    },
    /// BALD.
    Bald,
    /// Predictive entropy.
    Entropy,
    /// Least confidence.
    Confidence,
    /// Smallest margin.
    Margin,
}

/// Scores every unlabelled point, then draws the batch with a strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreThenSample {
    /// The acquisition function.
    pub score: Score,
    /// How the batch is drawn from the scores.
    pub strategy: Strategy,
    /// The scores of the last batch picked, in its order.
    last_scores: Vec<f32>,
}

impl ScoreThenSample {
    /// `score`, then `strategy`.
    #[must_use]
    pub const fn new(score: Score, strategy: Strategy) -> Self {
        Self {
            score,
            strategy,
            last_scores: Vec::new(),
        }
    }

    /// Posterior samples on this round's draw of target inputs (stream `targets`).
    fn target_samples(round: &RoundInputs<'_>, m: usize) -> Result<Array3<f32>> {
        let targets = &round.embeddings.targets;
        let n = targets.len_of(Axis(0));
        if n == 0 {
            return Err(Error::Config(
                "EPIG needs target inputs, but there are none: the pool took every \
                 target-class training image (raise --ir, lower --target-share or cap the \
                 pool with --max-pool)"
                    .into(),
            ));
        }
        let mut rng = round.streams.rng("targets");
        let idx: Vec<usize> = if m <= n {
            rand::seq::index::sample(&mut rng, n, m).into_vec()
        } else {
            (0..m)
                .map(|_| rand::Rng::random_range(&mut rng, 0..n))
                .collect()
        };
        let x = targets.select(Axis(0), &idx);
        Ok(round.head.predict_samples(x.view())?)
    }
}

impl BatchSelector for ScoreThenSample {
    fn name(&self) -> &'static str {
        match self.score {
            Score::Epig { .. } => "epig",
            Score::Bald => "bald",
            Score::Entropy => "entropy",
            Score::Confidence => "confidence",
            Score::Margin => "margin",
        }
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        clock.begin(Stage::Predict);
        let x = round.embeddings.pool.select(Axis(0), round.unlabelled);
        let pool = round.head.predict_samples(x.view())?;
        let targets = match self.score {
            Score::Epig { target_samples } => Some(Self::target_samples(round, target_samples)?),
            _ => None,
        };
        clock.begin(Stage::Score);
        let view = pool.view();
        let scores: Array1<f32> = match (self.score, targets) {
            (Score::Epig { .. }, Some(t)) => Epig::new(t)?.score(view)?,
            (Score::Bald, _) => Bald.score(view)?,
            (Score::Entropy, _) => Entropy.score(view)?,
            (Score::Confidence, _) => Confidence.score(view)?,
            (Score::Margin, _) => Margin.score(view)?,
            (Score::Epig { .. }, None) => {
                return Err(Error::Config("EPIG was given no target samples".into()));
            }
        };
        clock.begin(Stage::Select);
        let mut rng = round.streams.rng("select");
        let picked = select(scores.view(), round.batch_size, self.strategy, &mut rng)?;
        self.last_scores = picked.iter().map(|&i| scores[i]).collect();
        Ok(picked.into_iter().map(|i| round.unlabelled[i]).collect())
    }

    fn batch_scores(&self) -> Option<Vec<f32>> {
        Some(self.last_scores.clone())
    }
}

/// A uniformly random batch: uniform scores (stream `random`) and their top B.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UniformRandom;

impl BatchSelector for UniformRandom {
    fn name(&self) -> &'static str {
        "random"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        clock.begin(Stage::Score);
        let scores =
            tdal_acquire::random_scores(round.unlabelled.len(), round.streams.seed("random"));
        clock.begin(Stage::Select);
        let mut rng = round.streams.rng("select");
        let picked = select(scores.view(), round.batch_size, Strategy::TopK, &mut rng)?;
        Ok(picked.into_iter().map(|i| round.unlabelled[i]).collect())
    }
}
