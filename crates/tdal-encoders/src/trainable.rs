//! Encoder training as pluggable parts: a model that is [`Trainable`] is trained by the
//! one loop [`fit`] on batches built by a [`Batches`].
//!
//! A model implements [`Trainable`] by naming its trainable variables and a
//! differentiable loss of one batch in train mode; it then gets, for free, a correct step
//! through candle's autograd ([`autograd_step`]: `backward()` and an Adam update). A
//! model may override [`Trainable::step`] with something faster computing the same
//! update: the VAE and TD-SPLIT do, on the CPU, with their fused, hand-differentiated
//! step (`step.rs`), and fall back on the autograd step elsewhere. New models use the
//! autograd step; the hand-written backward pass is not extended to them.
//!
//! The default optimiser is Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, no weight decay) in one of two
//! implementations of the same update, chosen by [`Optimiser::adam`]: on the CPU with f32
//! variables the crate's one-pass [`Adam`] (each parameter read and written once, its
//! moments plain vectors: several times fewer passes over memory than a generic tensor
//! implementation, and the update the fused steps need); anywhere else candle-nn's
//! `AdamW` with weight decay 0, whose moments stay on the variables' device. Models
//! trained like SimCLR override [`Trainable::optimiser_for`] with [`Optimiser::lars`]:
//! LARS whose learning rate follows a warm-up and cosine schedule over the run's steps.
//!
//! [`fit`] runs epochs over `N` examples: each epoch shuffles `0..N` with the run's
//! seeded `ChaCha8Rng`, cuts it into batches of the configured size, asks the
//! [`Batches`] for each batch (it may draw noise or augmentations from the same
//! generator) and for any batches to interleave after it (TD-SPLIT's labelled steps), and
//! takes one optimiser step on each. A run is a deterministic function of (data,
//! configuration, initial weights).

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::init::{is_buffer, poisoned};
use crate::lars::{Lars, LarsConfig, WarmupCosine};
use crate::optim::Adam;
use crate::{Error, Result};

/// Adam over a model's trainable variables (see the module documentation).
#[derive(Debug)]
pub struct Optimiser(Kind);

#[derive(Debug)]
enum Kind {
    /// CPU, f32: the crate's one-pass Adam (also the fused steps' optimiser).
    OnePass(Adam),
    /// Any other device or dtype: candle-nn's `AdamW` with weight decay 0.
    Graph(Box<AdamW>),
    /// LARS with a learning rate that follows a schedule of steps.
    Lars {
        lars: Lars,
        schedule: WarmupCosine,
        step: usize,
    },
}

impl Optimiser {
    /// Adam with learning rate `learning_rate` over `vars`: the one-pass [`Adam`] when
    /// every variable is an f32 variable on the CPU, else candle-nn's `AdamW` with weight
    /// decay 0.
    ///
    /// # Errors
    /// Candle errors creating the moment estimates.
    pub fn adam(vars: Vec<Var>, learning_rate: f64) -> Result<Self> {
        if vars
            .iter()
            .all(|v| v.device().is_cpu() && v.dtype() == DType::F32)
        {
            return Ok(Self(Kind::OnePass(Adam::new(vars, learning_rate)?)));
        }
        let params = ParamsAdamW {
            lr: learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        };
        Ok(Self(Kind::Graph(Box::new(AdamW::new(vars, params)?))))
    }

    /// LARS over the named parameters `vars` with the learning rate of `schedule` at
    /// each step (the first step is step 0). Variables whose name starts with
    /// `plain_prefix` are, like biases and normalisation parameters, excluded from weight
    /// decay and trust-ratio scaling (SimCLR's `head_supervised`: a freshly initialised
    /// classifier trained by plain momentum).
    ///
    /// # Errors
    /// As [`Lars::new`] and [`WarmupCosine::check`].
    pub fn lars(
        vars: Vec<(String, Var)>,
        cfg: LarsConfig,
        schedule: WarmupCosine,
        plain_prefix: Option<&str>,
    ) -> Result<Self> {
        schedule.check()?;
        let lars = Lars::with_exclusions(vars, cfg, |name| {
            plain_prefix.is_some_and(|prefix| name.starts_with(prefix))
        })?;
        Ok(Self(Kind::Lars {
            lars,
            schedule,
            step: 0,
        }))
    }

    /// One update from autograd's gradients; variables without a gradient are left
    /// alone.
    ///
    /// # Errors
    /// Candle errors.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        match &mut self.0 {
            Kind::OnePass(adam) => Optimizer::step(adam, grads)?,
            Kind::Graph(adamw) => adamw.step(grads)?,
            Kind::Lars {
                lars,
                schedule,
                step,
            } => {
                lars.step(grads, schedule.lr(*step))?;
                *step += 1;
            }
        }
        Ok(())
    }

    /// `loss.backward()` and one update.
    ///
    /// # Errors
    /// Candle errors.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.step(&loss.backward()?)
    }

    /// The one-pass [`Adam`], for steps that compute their gradients by hand.
    pub(crate) const fn one_pass(&mut self) -> Option<&mut Adam> {
        match &mut self.0 {
            Kind::OnePass(adam) => Some(adam),
            Kind::Graph(_) | Kind::Lars { .. } => None,
        }
    }
}

/// A batch's loss: the scalar to minimise and what to report about it.
#[derive(Debug, Clone)]
pub struct Loss<S> {
    /// The differentiable scalar loss (a rank-0 tensor).
    pub value: Tensor,
    /// Figures to report, at the weights before the update (e.g. the loss as a number).
    pub stats: S,
}

/// A model the training loop [`fit`] can train.
///
/// Implement [`Trainable::trainable_vars`] and [`Trainable::loss`]; the default
/// [`Trainable::step`] then differentiates the loss with candle's autograd and updates the
/// variables with Adam ([`autograd_step`]). Override [`Trainable::step`] only with a
/// faster computation of the same update (the VAE's and TD-SPLIT's fused CPU step).
pub trait Trainable {
    /// One batch as [`Trainable::loss`] takes it (images, noise, labels, loss weights…).
    type Batch;
    /// What a step reports.
    type Stats;

    /// The variables the optimiser updates: the parameters, without buffers such as a
    /// normalisation layer's running statistics ([`trainable_vars`] lists a `VarMap`'s).
    ///
    /// # Errors
    /// [`Error::Config`] when the variables cannot be read (a poisoned lock).
    fn trainable_vars(&self) -> Result<Vec<Var>>;

    /// The loss of `batch` in train mode: layers with a train/eval switch run
    /// `forward_t(xs, true)` (batch statistics, running statistics updated).
    ///
    /// # Shapes
    /// [`Loss::value`] is a scalar; the batch's shapes are the model's to document.
    ///
    /// # Errors
    /// Shape errors for a batch the model cannot take; candle errors.
    fn loss(&self, batch: &Self::Batch) -> Result<Loss<Self::Stats>>;

    /// Adam with `learning_rate` over [`Trainable::trainable_vars`]
    /// ([`Optimiser::adam`]).
    ///
    /// # Errors
    /// As [`Trainable::trainable_vars`] and [`Optimiser::adam`].
    fn optimiser(&self, learning_rate: f64) -> Result<Optimiser> {
        Optimiser::adam(self.trainable_vars()?, learning_rate)
    }

    /// The optimiser [`fit`] uses for a run of `total_steps` steps with `cfg`; defaults to
    /// [`Trainable::optimiser`] with `cfg.learning_rate`. Models trained with a schedule
    /// (LARS with warm-up and cosine decay) override it.
    ///
    /// # Errors
    /// As [`Trainable::optimiser`].
    fn optimiser_for(&self, cfg: &FitConfig, total_steps: usize) -> Result<Optimiser> {
        let _ = total_steps;
        self.optimiser(cfg.learning_rate)
    }

    /// One optimiser step on `batch`; returns the loss's stats at the weights before the
    /// update. Defaults to [`autograd_step`].
    ///
    /// # Errors
    /// As [`Trainable::loss`]; candle errors.
    fn step(&mut self, optimiser: &mut Optimiser, batch: &Self::Batch) -> Result<Self::Stats> {
        autograd_step(self, optimiser, batch)
    }
}

/// The default [`Trainable::step`]: [`Trainable::loss`], candle's `backward()` and one
/// optimiser update.
///
/// # Errors
/// As [`Trainable::loss`]; candle errors.
pub fn autograd_step<M: Trainable + ?Sized>(
    model: &M,
    optimiser: &mut Optimiser,
    batch: &M::Batch,
) -> Result<M::Stats> {
    let loss = model.loss(batch)?;
    optimiser.backward_step(&loss.value)?;
    Ok(loss.stats)
}

/// A `VarMap`'s parameters in name order: every variable but the buffers
/// ([`crate::init::is_buffer`]).
///
/// # Errors
/// [`Error::Config`] when the map's lock is poisoned.
pub fn trainable_vars(varmap: &VarMap) -> Result<Vec<Var>> {
    let vars = varmap.data().lock().map_err(|_| poisoned())?;
    let mut named: Vec<(&String, &Var)> = vars.iter().filter(|(n, _)| !is_buffer(n)).collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    Ok(named.into_iter().map(|(_, v)| v.clone()).collect())
}

/// Where the loop is when it asks for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Batch within the epoch, from 0.
    pub batch: usize,
    /// Batches per epoch, `⌈N / batch_size⌉`.
    pub batches: usize,
    /// Main steps before this batch's, over all epochs (interleaved steps not counted).
    pub step: usize,
}

/// Builds a training run's batches for model `M`.
pub trait Batches<M: Trainable + ?Sized> {
    /// The number `N ≥ 1` of examples one epoch goes over.
    fn examples(&self) -> usize;

    /// The batch of the listed examples (indices into `0..N`) at `at`; may draw from
    /// `rng` (noise, augmentation).
    ///
    /// # Errors
    /// The builder's own (shapes); candle errors.
    fn batch(&mut self, indices: &[usize], at: Position, rng: &mut ChaCha8Rng) -> Result<M::Batch>;

    /// Batches to train on right after the main batch at `at` (TD-SPLIT's labelled
    /// batches); none by default.
    ///
    /// # Errors
    /// As [`Batches::batch`].
    fn interleaved(&mut self, at: Position, rng: &mut ChaCha8Rng) -> Result<Vec<M::Batch>> {
        let _ = (at, rng);
        Ok(Vec::new())
    }
}

/// The loop's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitConfig {
    /// Passes over the examples.
    pub epochs: usize,
    /// Examples per main batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The learning rate (Adam's; a scheduled optimiser's peak, see
    /// [`Trainable::optimiser_for`]).
    pub learning_rate: f64,
    /// Seed of the shuffling and of everything the [`Batches`] draws.
    pub seed: u64,
}

/// One epoch's step stats.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochLog<S> {
    /// The main steps', in order.
    pub steps: Vec<S>,
    /// The interleaved steps', in order.
    pub interleaved: Vec<S>,
}

/// Trains `model` in place: `cfg.epochs` epochs over the examples of `batches`, one
/// optimiser step ([`Trainable::step`]) per main batch and per interleaved batch, calling
/// `progress(main steps done, total main steps)` after every main step (for progress bars;
/// the library itself never prints). Returns every step's stats by epoch.
///
/// # Errors
/// [`Error::Config`] for a zero batch size; [`Error::Shape`] for no examples; as
/// [`Trainable::optimiser`], [`Trainable::step`] and the [`Batches`].
pub fn fit<M, B>(
    model: &mut M,
    batches: &mut B,
    cfg: &FitConfig,
    progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<Vec<EpochLog<M::Stats>>>
where
    M: Trainable + ?Sized,
    B: Batches<M> + ?Sized,
{
    fit_until(model, batches, cfg, progress, &mut |_, _| Ok(false))
}

/// [`fit`] with an early stop: after every epoch `done(model, epochs finished)` decides
/// whether training ends there (at most `cfg.epochs` epochs run). The progress total is
/// the steps of all `cfg.epochs` epochs, so a run that stops early never reaches it.
///
/// # Errors
/// As [`fit`], and `done`'s errors.
pub fn fit_until<M, B>(
    model: &mut M,
    batches: &mut B,
    cfg: &FitConfig,
    mut progress: Option<&mut dyn FnMut(usize, usize)>,
    done: &mut dyn FnMut(&mut M, usize) -> Result<bool>,
) -> Result<Vec<EpochLog<M::Stats>>>
where
    M: Trainable + ?Sized,
    B: Batches<M> + ?Sized,
{
    if cfg.batch_size == 0 {
        return Err(Error::Config("expected batch_size ≥ 1, got 0".to_owned()));
    }
    let n = batches.examples();
    if n == 0 {
        return Err(Error::Shape(
            "expected at least one training example, got none".to_owned(),
        ));
    }
    let per_epoch = n.div_ceil(cfg.batch_size);
    let total = cfg.epochs * per_epoch;
    let mut optimiser = model.optimiser_for(cfg, total)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut log = Vec::with_capacity(cfg.epochs);
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut epoch_log = EpochLog {
            steps: Vec::with_capacity(per_epoch),
            interleaved: Vec::new(),
        };
        for (batch, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let at = Position {
                epoch,
                batch,
                batches: per_epoch,
                step,
            };
            let main = batches.batch(chunk, at, &mut rng)?;
            epoch_log.steps.push(model.step(&mut optimiser, &main)?);
            step += 1;
            if let Some(progress) = progress.as_mut() {
                progress(step, total);
            }
            for extra in batches.interleaved(at, &mut rng)? {
                epoch_log
                    .interleaved
                    .push(model.step(&mut optimiser, &extra)?);
            }
        }
        log.push(epoch_log);
        if done(model, epoch + 1)? {
            break;
        }
    }
    Ok(log)
}
