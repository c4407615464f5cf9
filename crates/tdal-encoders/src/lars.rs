//! LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017), as SimCLR trains
//! with it (Chen et al. 2020; the `LARSOptimizer` of google-research/simclr,
//! `lars_optimizer.py`, with classic momentum and without Nesterov), and SimCLR's
//! learning-rate schedule, a linear warm-up followed by a cosine decay ([`WarmupCosine`]).
//!
//! Per parameter tensor `w` with gradient `g`, at learning rate `lr`:
//!
//! ```text
//! if decayed(w):  g ← g + weight_decay · w
//! if adapted(w):  trust = eeta · ‖w‖ / ‖g‖   if ‖w‖ > 0 and ‖g‖ > 0, else 1
//! else:           trust = 1
//! v ← momentum · v + lr · trust · g
//! w ← w − v
//! ```
//!
//! with Euclidean norms over the whole tensor (`‖g‖` is the norm of the decayed gradient)
//! and the velocity `v` starting at 0. As in SimCLR (`exclude_from_weight_decay =
//! ['batch_normalization', 'bias']`, and the same list for the adaptation), biases and
//! normalisation-layer parameters are neither decayed nor adapted; every other parameter
//! is both. Which variables those are is decided by name ([`is_excluded`]). Buffers
//! ([`crate::init::is_buffer`]: running statistics) are never touched.
//!
//! Norms are accumulated in f64. On the CPU with f32 variables the velocity is a plain
//! vector and each parameter is read and written once per step, as in the crate's
//! one-pass [`crate::Adam`] (the update itself is computed in f64 and rounded to f32);
//! variables of any other device or float dtype are updated with tensor operations on
//! their device, the velocity a tensor of the variable's dtype.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::init::{RUNNING_MEAN, is_buffer, poisoned};
use crate::{Error, Result};

/// The batch size at which [`WarmupCosine::new`]'s base learning rate is given: the rate
/// is scaled with the square root of the batch (`base · √(batch / 512)`), SimCLR's
/// `learning_rate_scaling = sqrt`. The paper's rates are exactly that rule's at 512:
/// pretraining 2.26 = 0.1 · √512 and fine-tuning 0.11 ≈ 0.005 · √512 (SimCLRv2's
/// fine-tuning rule), so a smaller CPU batch keeps the paper's per-example schedule.
pub const REFERENCE_BATCH: usize = 512;

/// LARS hyper-parameters (the learning rate is given to every [`Lars::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LarsConfig {
    /// Classic (heavy-ball) momentum, in `[0, 1)`.
    pub momentum: f64,
    /// L2 weight decay added to the gradient of the decayed parameters, ≥ 0.
    pub weight_decay: f64,
    /// Trust coefficient η of the layer-wise rate `η · ‖w‖ / ‖g‖`, > 0.
    pub eeta: f64,
}

impl Default for LarsConfig {
    /// Momentum 0.9 and η = 1e-3 (`lars_optimizer.py`'s defaults), weight decay 1e-4
    /// (the SimCLR paper pre-trains with 1e-6 at batch 4096: set it per run).
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 1e-4,
            eeta: 1e-3,
        }
    }
}

impl LarsConfig {
    /// Validates the values.
    ///
    /// # Errors
    /// [`Error::Config`] for a momentum outside `[0, 1)`, a negative weight decay, a
    /// non-positive η, or any non-finite value.
    pub fn check(&self) -> Result<()> {
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::Config(format!(
                "LARS: expected 0 ≤ momentum < 1, got {}",
                self.momentum
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::Config(format!(
                "LARS: expected weight_decay ≥ 0, got {}",
                self.weight_decay
            )));
        }
        if !(self.eeta.is_finite() && self.eeta > 0.0) {
            return Err(Error::Config(format!(
                "LARS: expected eeta > 0, got {}",
                self.eeta
            )));
        }
        Ok(())
    }
}

/// Whether LARS leaves the variable `name` out of both weight decay and trust-ratio
/// scaling; `exists` says whether a variable of a given name is in the model.
///
/// The rule: a variable is excluded when its last `.`-separated segment is `bias`, or
/// when it belongs to a normalisation layer, i.e. its layer `<p>` (the name without the
/// last segment) either has a last segment starting with `bn` (the crate's naming:
/// [`crate::ConvBnRelu`]'s `<prefix>.bn.weight`, also `bn1.weight`, …) or has a running
/// mean `<p>.running_mean` (how [`crate::init`] recognises a normalisation layer, whatever
/// its name). So `conv.weight` and `head.weight` are adapted and decayed; `head.bias`,
/// `block.bn.weight`, `bn1.weight` and `norm.weight` beside `norm.running_mean` are not.
#[must_use]
pub fn is_excluded(name: &str, exists: &dyn Fn(&str) -> bool) -> bool {
    let Some((layer, leaf)) = name.rsplit_once('.') else {
        return name == "bias";
    };
    if leaf == "bias" {
        return true;
    }
    let layer_leaf = layer.rsplit_once('.').map_or(layer, |(_, l)| l);
    layer_leaf.starts_with("bn") || exists(&format!("{layer}.{RUNNING_MEAN}"))
}

/// A parameter's velocity.
enum Velocity {
    /// CPU, f32: a plain vector.
    Host(Vec<f32>),
    /// Any other device or dtype: a tensor like the variable.
    Device(Tensor),
}

/// One parameter, whether it is decayed and adapted, and its velocity.
struct Slot {
    name: String,
    var: Var,
    excluded: bool,
    velocity: Velocity,
}

/// LARS over named variables (see the module documentation).
pub struct Lars {
    slots: Vec<Slot>,
    cfg: LarsConfig,
}

impl std::fmt::Debug for Lars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lars")
            .field("parameters", &self.slots.len())
            .field("excluded", &self.excluded())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Lars {
    /// LARS over `vars`, named as in the model's `VarMap`: buffers
    /// ([`crate::init::is_buffer`]) are skipped (but their names are used to recognise
    /// normalisation layers), the rest is updated in the given order, biases and
    /// normalisation-layer parameters ([`is_excluded`]) without weight decay or trust
    /// ratio.
    ///
    /// # Errors
    /// [`Error::Config`] as [`LarsConfig::check`], for a name given twice or a variable
    /// whose dtype is not a float; candle errors creating a velocity.
    pub fn new(vars: Vec<(String, Var)>, cfg: LarsConfig) -> Result<Self> {
        Self::with_exclusions(vars, cfg, |_| false)
    }

    /// [`Lars::new`] with more variables excluded from weight decay and trust-ratio
    /// scaling: those for which `also_excluded(name)` holds (SimCLR excludes its
    /// supervised head, `head_supervised`, this way: a freshly initialised classifier is
    /// trained by plain momentum at the learning rate).
    ///
    /// # Errors
    /// As [`Lars::new`].
    pub fn with_exclusions(
        vars: Vec<(String, Var)>,
        cfg: LarsConfig,
        also_excluded: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        cfg.check()?;
        let names: std::collections::HashSet<&str> =
            vars.iter().map(|(name, _)| name.as_str()).collect();
        if names.len() != vars.len() {
            return Err(Error::Config(
                "LARS: expected distinct variable names, got a name twice".to_owned(),
            ));
        }
        let exists = |name: &str| names.contains(name);
        let mut slots = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            if is_buffer(name) {
                continue;
            }
            if !var.dtype().is_float() {
                return Err(Error::Config(format!(
                    "LARS: expected a float variable, got {name} of {:?}",
                    var.dtype()
                )));
            }
            let velocity = if var.device().is_cpu() && var.dtype() == DType::F32 {
                Velocity::Host(vec![0.0; var.elem_count()])
            } else {
                Velocity::Device(var.as_tensor().zeros_like()?)
            };
            slots.push(Slot {
                excluded: is_excluded(name, &exists) || also_excluded(name),
                name: name.clone(),
                var: var.clone(),
                velocity,
            });
        }
        Ok(Self { slots, cfg })
    }

    /// LARS over every variable of `varmap` but the buffers, in name order (as
    /// [`Lars::new`]).
    ///
    /// # Errors
    /// [`Error::Config`] when the map's lock is poisoned; as [`Lars::new`].
    pub fn from_varmap(varmap: &VarMap, cfg: LarsConfig) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let vars = varmap.data().lock().map_err(|_| poisoned())?;
            vars.iter()
                .map(|(name, var)| (name.clone(), var.clone()))
                .collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Self::new(named, cfg)
    }

    /// The hyper-parameters.
    #[must_use]
    pub const fn config(&self) -> &LarsConfig {
        &self.cfg
    }

    /// The names of the updated variables excluded from weight decay and trust-ratio
    /// scaling, in update order.
    #[must_use]
    pub fn excluded(&self) -> Vec<String> {
        self.names(true)
    }

    /// The names of the updated variables with weight decay and trust-ratio scaling, in
    /// update order.
    #[must_use]
    pub fn adapted(&self) -> Vec<String> {
        self.names(false)
    }

    fn names(&self, excluded: bool) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.excluded == excluded)
            .map(|s| s.name.clone())
            .collect()
    }

    /// One update at learning rate `lr` from autograd's gradients; variables without a
    /// gradient are left alone (their velocity too).
    ///
    /// # Errors
    /// [`Error::Config`] for a negative or non-finite `lr`; [`Error::Shape`] for a
    /// gradient whose shape differs from its variable's; candle errors (e.g. a gradient
    /// of another dtype or device).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config(format!(
                "LARS: expected a learning rate ≥ 0, got {lr}"
            )));
        }
        let cfg = self.cfg;
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            if grad.dims() != slot.var.dims() {
                return Err(Error::Shape(format!(
                    "LARS: gradient of shape {:?} for {} of shape {:?}",
                    grad.dims(),
                    slot.name,
                    slot.var.dims()
                )));
            }
            let weight_decay = if slot.excluded { 0.0 } else { cfg.weight_decay };
            match &mut slot.velocity {
                Velocity::Host(velocity) => host_update(
                    &slot.var,
                    grad,
                    velocity,
                    &cfg,
                    weight_decay,
                    !slot.excluded,
                    lr,
                )?,
                Velocity::Device(velocity) => {
                    let w = slot.var.as_tensor().detach();
                    let g = if weight_decay > 0.0 {
                        (grad.detach() + w.affine(weight_decay, 0.0)?)?
                    } else {
                        grad.detach()
                    };
                    let trust = if slot.excluded {
                        1.0
                    } else {
                        trust_ratio(cfg.eeta, norm(&w)?, norm(&g)?)
                    };
                    let next =
                        (velocity.affine(cfg.momentum, 0.0)? + g.affine(lr * trust, 0.0)?)?;
                    slot.var.set(&(w - &next)?)?;
                    *velocity = next;
                }
            }
        }
        Ok(())
    }

    /// `loss.backward()` and one update at learning rate `lr`.
    ///
    /// # Errors
    /// As [`Lars::step`]; candle errors.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) -> Result<()> {
        self.step(&loss.backward()?, lr)
    }
}

/// `η · ‖w‖ / ‖g‖` when both norms are positive, else 1.
fn trust_ratio(eeta: f64, w_norm: f64, g_norm: f64) -> f64 {
    if w_norm > 0.0 && g_norm > 0.0 {
        eeta * w_norm / g_norm
    } else {
        1.0
    }
}

/// The Euclidean norm of a tensor, accumulated in f64.
fn norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()?
        .sqrt())
}

/// The one-pass update of a CPU f32 variable: norms in one pass, velocity and weights in
/// a second, each entry computed in f64.
fn host_update(
    var: &Var,
    grad: &Tensor,
    velocity: &mut [f32],
    cfg: &LarsConfig,
    weight_decay: f64,
    adapted: bool,
    lr: f64,
) -> Result<()> {
    let mut w = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
    let g = grad.flatten_all()?.to_vec1::<f32>()?;
    let decayed = |w: f32, g: f32| f64::from(g) + weight_decay * f64::from(w);
    let trust = if adapted {
        let (w2, g2) = w
            .iter()
            .zip(&g)
            .fold((0.0_f64, 0.0_f64), |(w2, g2), (&w, &g)| {
                let gd = decayed(w, g);
                (f64::from(w).mul_add(f64::from(w), w2), gd.mul_add(gd, g2))
            });
        trust_ratio(cfg.eeta, w2.sqrt(), g2.sqrt())
    } else {
        1.0
    };
    let scaled = lr * trust;
    for ((w, v), &g) in w.iter_mut().zip(velocity.iter_mut()).zip(&g) {
        let next = cfg.momentum.mul_add(f64::from(*v), scaled * decayed(*w, g));
        #[allow(clippy::cast_possible_truncation)]
        {
            *v = next as f32;
            *w = (f64::from(*w) - next) as f32;
        }
    }
    var.set(&Tensor::from_vec(w, var.shape(), var.device())?)?;
    Ok(())
}

/// SimCLR's learning-rate schedule: a linear warm-up to `base_lr` over the first
/// `warmup_steps` steps, then a cosine decay to 0 at `total_steps`:
///
/// ```text
/// lr(s) = base_lr · (s + 1) / warmup_steps                               s < warmup_steps
/// lr(s) = base_lr · ½ · (1 + cos(π · (s − warmup_steps) / (total_steps − warmup_steps)))
///                                                             warmup_steps ≤ s < total_steps
/// lr(s) = 0                                                                s ≥ total_steps
/// ```
///
/// for the step `s` counted from 0 (the rate of the `s`-th update). The warm-up is
/// SimCLR's (`model.py`'s `WarmUpAndCosineDecay`: `base · s / warmup`) shifted by one
/// step, so that the first update is not taken at rate 0 and the warm-up ends at exactly
/// `base_lr` (its last step and the first cosine step both take `base_lr`). The decay is
/// Keras's `CosineDecay` over `total_steps − warmup_steps` steps, which SimCLR uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WarmupCosine {
    /// The peak rate, reached at the end of the warm-up.
    pub base_lr: f64,
    /// Steps of linear warm-up (0: none), at most `total_steps`.
    pub warmup_steps: usize,
    /// Steps of the whole run (warm-up included); the rate is 0 from there on.
    pub total_steps: usize,
}

impl WarmupCosine {
    /// The schedule for a run of `total_steps` at batch size `batch_size`: the base rate
    /// `base_lr_at_512` is scaled with the square root of the batch
    /// (`base · √(batch / 512)`, [`REFERENCE_BATCH`]), and the warm-up lasts `round(warmup_fraction · total_steps)`
    /// steps, at least 1 when `warmup_fraction > 0`.
    ///
    /// # Errors
    /// [`Error::Config`] for a negative or non-finite base rate, a zero batch size or
    /// step count, or a warm-up fraction outside `[0, 1]`.
    pub fn new(
        base_lr_at_512: f64,
        batch_size: usize,
        total_steps: usize,
        warmup_fraction: f64,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::Config("expected batch_size ≥ 1, got 0".to_owned()));
        }
        if !(warmup_fraction.is_finite() && (0.0..=1.0).contains(&warmup_fraction)) {
            return Err(Error::Config(format!(
                "expected a warm-up fraction in [0, 1], got {warmup_fraction}"
            )));
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let warmup_steps = {
            let steps = (warmup_fraction * total_steps as f64).round() as usize;
            if warmup_fraction > 0.0 {
                steps.max(1)
            } else {
                steps
            }
        };
        #[allow(clippy::cast_precision_loss)]
        let schedule = Self {
            base_lr: base_lr_at_512 * (batch_size as f64 / REFERENCE_BATCH as f64).sqrt(),
            warmup_steps: warmup_steps.min(total_steps),
            total_steps,
        };
        schedule.check()?;
        Ok(schedule)
    }

    /// Validates the values.
    ///
    /// # Errors
    /// [`Error::Config`] for a negative or non-finite base rate, no steps, or a warm-up
    /// longer than the run.
    pub fn check(&self) -> Result<()> {
        if !(self.base_lr.is_finite() && self.base_lr >= 0.0) {
            return Err(Error::Config(format!(
                "expected a base learning rate ≥ 0, got {}",
                self.base_lr
            )));
        }
        if self.total_steps == 0 {
            return Err(Error::Config("expected total_steps ≥ 1, got 0".to_owned()));
        }
        if self.warmup_steps > self.total_steps {
            return Err(Error::Config(format!(
                "expected warmup_steps ≤ total_steps = {}, got {}",
                self.total_steps, self.warmup_steps
            )));
        }
        Ok(())
    }

    /// The learning rate of step `step` (from 0; see the type's documentation).
    #[must_use]
    pub fn lr(&self, step: usize) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        if step < self.warmup_steps {
            self.base_lr * ((step + 1) as f64 / self.warmup_steps as f64)
        } else if step >= self.total_steps {
            0.0
        } else {
            let progress =
                (step - self.warmup_steps) as f64 / (self.total_steps - self.warmup_steps) as f64;
            self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::backprop::GradStore;
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{Init, VarBuilder, VarMap};
    use proptest::prelude::*;

    use super::{Lars, LarsConfig, Velocity, WarmupCosine, is_excluded, trust_ratio};
    use crate::Error;
    use crate::layers::{ConvBnRelu, batch_norm};

    /// Adds variable `name` of `shape` with `values` to `varmap`.
    fn add(varmap: &VarMap, name: &str, shape: &[usize], values: &[f64], dtype: DType) {
        varmap
            .get(shape, name, Init::Const(0.0), dtype, &Device::Cpu)
            .unwrap();
        let value = Tensor::from_vec(values.to_vec(), shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        varmap.data().lock().unwrap()[name].set(&value).unwrap();
    }

    fn values(varmap: &VarMap, name: &str) -> Vec<f64> {
        varmap.data().lock().unwrap()[name]
            .as_tensor()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn grads(varmap: &VarMap, entries: &[(&str, &[f64])]) -> GradStore {
        let vars = varmap.data().lock().unwrap();
        let mut store = GradStore::default();
        for &(name, g) in entries {
            let var = &vars[name];
            let grad = Tensor::from_vec(g.to_vec(), var.shape(), &Device::Cpu)
                .unwrap()
                .to_dtype(var.dtype())
                .unwrap();
            store.insert(var.as_tensor(), grad);
        }
        store
    }

    /// The LARS update in f64 loops (the module documentation's formula), in place.
    fn reference(
        w: &mut [f64],
        v: &mut [f64],
        g: &[f64],
        lr: f64,
        cfg: &LarsConfig,
        excluded: bool,
    ) {
        let wd = if excluded { 0.0 } else { cfg.weight_decay };
        let g: Vec<f64> = g.iter().zip(w.iter()).map(|(g, w)| g + wd * w).collect();
        let w_norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        let g_norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let trust = if !excluded && w_norm > 0.0 && g_norm > 0.0 {
            cfg.eeta * w_norm / g_norm
        } else {
            1.0
        };
        for ((w, v), g) in w.iter_mut().zip(v.iter_mut()).zip(&g) {
            *v = cfg.momentum * *v + lr * trust * g;
            *w -= *v;
        }
    }

    fn velocity(lars: &Lars, name: &str) -> Vec<f64> {
        let slot = lars.slots.iter().find(|s| s.name == name).unwrap();
        match &slot.velocity {
            Velocity::Host(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Velocity::Device(t) => t
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap(),
        }
    }

    fn assert_close(got: &[f64], expected: &[f64], tolerance: f64, what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}");
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= tolerance * (1.0 + e.abs()),
                "{what}: {got:?} vs {expected:?}"
            );
        }
    }

    #[test]
    fn two_steps_match_a_hand_computation() {
        let cfg = LarsConfig {
            momentum: 0.9,
            weight_decay: 0.05,
            eeta: 0.02,
        };
        let initial: [(&str, &[usize], Vec<f64>); 6] = [
            (
                "layer.weight",
                &[2, 3],
                vec![0.5, -1.0, 0.25, 2.0, -0.75, 1.5],
            ),
            ("layer.bias", &[2], vec![0.1, -0.2]),
            ("bn.weight", &[2], vec![1.0, 0.9]),
            ("bn.bias", &[2], vec![0.0, 0.05]),
            ("bn.running_mean", &[2], vec![0.3, -0.3]),
            ("bn.running_var", &[2], vec![1.2, 0.8]),
        ];
        let steps: [(f64, [Vec<f64>; 4]); 2] = [
            (
                0.7,
                [
                    vec![0.3, 0.1, -0.2, -0.4, 0.6, 0.05],
                    vec![0.5, -0.25],
                    vec![-0.1, 0.2],
                    vec![0.3, 0.0],
                ],
            ),
            (
                1.3,
                [
                    vec![-0.2, 0.4, 0.1, 0.3, -0.1, 0.2],
                    vec![-0.3, 0.1],
                    vec![0.2, 0.1],
                    vec![-0.1, 0.4],
                ],
            ),
        ];
        let params = ["layer.weight", "layer.bias", "bn.weight", "bn.bias"];
        for (dtype, tolerance) in [(DType::F32, 1e-6), (DType::F64, 1e-13)] {
            let varmap = VarMap::new();
            for (name, shape, v) in &initial {
                add(&varmap, name, shape, v, dtype);
            }
            let mut lars = Lars::from_varmap(&varmap, cfg).unwrap();
            assert_eq!(lars.adapted(), ["layer.weight"]);
            assert_eq!(lars.excluded(), ["bn.bias", "bn.weight", "layer.bias"]);
            let mut w: Vec<Vec<f64>> = initial[..4].iter().map(|(_, _, v)| v.clone()).collect();
            let mut v: Vec<Vec<f64>> = w.iter().map(|w| vec![0.0; w.len()]).collect();
            for (lr, g) in &steps {
                let entries: Vec<(&str, &[f64])> = params
                    .iter()
                    .zip(g)
                    .map(|(n, g)| (*n, g.as_slice()))
                    .collect();
                lars.step(&grads(&varmap, &entries), *lr).unwrap();
                for (i, name) in params.iter().enumerate() {
                    reference(&mut w[i], &mut v[i], &g[i], *lr, &cfg, i > 0);
                    assert_close(&values(&varmap, name), &w[i], tolerance, name);
                    assert_close(&velocity(&lars, name), &v[i], tolerance, name);
                }
            }
            assert_close(
                &values(&varmap, "bn.running_mean"),
                &[0.3, -0.3],
                1e-7,
                "mean",
            );
            assert_close(&values(&varmap, "bn.running_var"), &[1.2, 0.8], 1e-7, "var");
        }
    }

    #[test]
    fn a_zero_weight_or_gradient_gives_trust_one() {
        assert_eq!(trust_ratio(1e-3, 0.0, 2.0), 1.0);
        assert_eq!(trust_ratio(1e-3, 2.0, 0.0), 1.0);
        assert_eq!(trust_ratio(1e-3, 0.0, 0.0), 1.0);
        assert!((trust_ratio(1e-3, 2.0, 4.0) - 5e-4).abs() < 1e-18);
        for dtype in [DType::F32, DType::F64] {
            let varmap = VarMap::new();
            add(&varmap, "a.weight", &[3], &[0.0, 0.0, 0.0], dtype);
            add(&varmap, "b.weight", &[2], &[1.0, -2.0], dtype);
            let cfg = LarsConfig {
                weight_decay: 0.0,
                ..LarsConfig::default()
            };
            let mut lars = Lars::from_varmap(&varmap, cfg).unwrap();
            let store = grads(
                &varmap,
                &[("a.weight", &[0.5, -1.0, 0.25]), ("b.weight", &[0.0, 0.0])],
            );
            lars.step(&store, 0.1).unwrap();
            // ‖w‖ = 0: trust 1, the update is lr · g.
            assert_close(
                &values(&varmap, "a.weight"),
                &[-0.05, 0.1, -0.025],
                1e-7,
                "a",
            );
            // ‖g‖ = 0: trust 1 (no NaN), nothing moves.
            assert_eq!(values(&varmap, "b.weight"), [1.0, -2.0]);
        }
    }

    #[test]
    fn buffers_and_variables_without_gradients_are_untouched() {
        let varmap = VarMap::new();
        add(&varmap, "x.weight", &[2], &[1.0, 2.0], DType::F32);
        add(&varmap, "y.weight", &[2], &[3.0, 4.0], DType::F32);
        add(&varmap, "norm.running_mean", &[2], &[0.5, 0.25], DType::F32);
        add(&varmap, "norm.running_var", &[2], &[2.0, 4.0], DType::F32);
        let mut lars = Lars::from_varmap(&varmap, LarsConfig::default()).unwrap();
        assert_eq!(lars.adapted(), ["x.weight", "y.weight"]);
        assert!(lars.excluded().is_empty());
        let store = grads(
            &varmap,
            &[
                ("x.weight", &[1.0, 1.0]),
                ("norm.running_mean", &[1.0, 1.0]),
                ("norm.running_var", &[1.0, 1.0]),
            ],
        );
        lars.step(&store, 1.0).unwrap();
        assert_ne!(values(&varmap, "x.weight"), [1.0, 2.0]);
        assert_eq!(values(&varmap, "y.weight"), [3.0, 4.0]);
        assert_eq!(velocity(&lars, "y.weight"), [0.0, 0.0]);
        assert_eq!(values(&varmap, "norm.running_mean"), [0.5, 0.25]);
        assert_eq!(values(&varmap, "norm.running_var"), [2.0, 4.0]);
    }

    #[test]
    fn biases_and_normalisation_layers_are_excluded_by_name() {
        let none = |_: &str| false;
        for name in [
            "bias",
            "head.bias",
            "block.bn.weight",
            "block.bn.bias",
            "bn1.weight",
            "a.bn_proj.weight",
        ] {
            assert!(is_excluded(name, &none), "{name}");
        }
        for name in [
            "weight",
            "head.weight",
            "conv.weight",
            "bn.conv.weight",
            "block.abn.weight",
        ] {
            assert!(!is_excluded(name, &none), "{name}");
        }
        assert!(is_excluded("norm.weight", &|n: &str| n == "norm.running_mean"));

        // A model: a conv-BN block, a linear head, a BatchNorm under another name.
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        ConvBnRelu::new(1, 2, vb.pp("block")).unwrap();
        candle_nn::linear(2, 3, vb.pp("head")).unwrap();
        batch_norm(3, vb.pp("norm")).unwrap();
        let lars = Lars::from_varmap(&varmap, LarsConfig::default()).unwrap();
        assert_eq!(lars.adapted(), ["block.conv.weight", "head.weight"]);
        assert_eq!(
            lars.excluded(),
            [
                "block.bn.bias",
                "block.bn.weight",
                "head.bias",
                "norm.bias",
                "norm.weight"
            ]
        );
    }

    #[test]
    fn bad_configurations_learning_rates_and_gradients_are_errors() {
        for cfg in [
            LarsConfig {
                momentum: 1.0,
                ..LarsConfig::default()
            },
            LarsConfig {
                momentum: -0.1,
                ..LarsConfig::default()
            },
            LarsConfig {
                weight_decay: -1e-4,
                ..LarsConfig::default()
            },
            LarsConfig {
                eeta: 0.0,
                ..LarsConfig::default()
            },
            LarsConfig {
                eeta: f64::NAN,
                ..LarsConfig::default()
            },
        ] {
            assert!(matches!(cfg.check(), Err(Error::Config(_))), "{cfg:?}");
            assert!(Lars::new(Vec::new(), cfg).is_err());
        }
        assert_eq!(
            LarsConfig::default(),
            LarsConfig {
                momentum: 0.9,
                weight_decay: 1e-4,
                eeta: 1e-3
            }
        );
        let varmap = VarMap::new();
        add(&varmap, "x.weight", &[2], &[1.0, 2.0], DType::F32);
        let mut lars = Lars::from_varmap(&varmap, LarsConfig::default()).unwrap();
        let store = grads(&varmap, &[("x.weight", &[1.0, 1.0])]);
        for lr in [-0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(lars.step(&store, lr), Err(Error::Config(_))));
        }
        let mut wrong = GradStore::default();
        let var = varmap.data().lock().unwrap()["x.weight"].clone();
        wrong.insert(
            var.as_tensor(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        assert!(matches!(lars.step(&wrong, 0.1), Err(Error::Shape(_))));
        let twice = vec![
            ("x.weight".to_owned(), var.clone()),
            ("x.weight".to_owned(), var),
        ];
        assert!(matches!(
            Lars::new(twice, LarsConfig::default()),
            Err(Error::Config(_))
        ));
    }

    fn closed_form(s: &WarmupCosine, step: usize) -> f64 {
        let (b, w, t) = (s.base_lr, s.warmup_steps as f64, s.total_steps as f64);
        let step = step as f64;
        if step < w {
            b * ((step + 1.0) / w)
        } else if step >= t {
            0.0
        } else {
            b * 0.5 * (1.0 + (std::f64::consts::PI * (step - w) / (t - w)).cos())
        }
    }

    #[test]
    fn the_schedule_follows_its_closed_form() {
        // √(128 / 512) = ½.
        let s = WarmupCosine::new(0.3, 128, 1000, 0.1).unwrap();
        assert_eq!(
            s,
            WarmupCosine {
                base_lr: 0.15,
                warmup_steps: 100,
                total_steps: 1000
            }
        );
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15;
        assert!(close(s.lr(0), 0.15 / 100.0));
        assert!(close(s.lr(99), 0.15));
        assert!(close(s.lr(100), 0.15));
        assert!(close(s.lr(550), 0.075));
        assert!(close(
            s.lr(999),
            0.15 * 0.5 * (1.0 + (std::f64::consts::PI * 899.0 / 900.0).cos())
        ));
        assert!(s.lr(999) > 0.0);
        assert_eq!(s.lr(1000), 0.0);
        assert_eq!(s.lr(5000), 0.0);
        for step in [0, 1, 50, 99, 100, 101, 300, 550, 998, 999, 1000] {
            assert!(close(s.lr(step), closed_form(&s, step)), "{step}");
        }

        // Warm-up length: rounded, at least one step for a positive fraction, none for 0.
        assert_eq!(
            WarmupCosine::new(1.0, 512, 95, 0.1).unwrap().warmup_steps,
            10
        );
        assert_eq!(
            WarmupCosine::new(1.0, 512, 100, 0.001)
                .unwrap()
                .warmup_steps,
            1
        );
        assert_eq!(WarmupCosine::new(1.0, 512, 7, 1.0).unwrap().warmup_steps, 7);
        let flat = WarmupCosine::new(4.8, 2048, 10, 0.0).unwrap();
        assert_eq!((flat.base_lr, flat.warmup_steps), (9.6, 0));
        assert_eq!(flat.lr(0), 9.6);
        let paper = WarmupCosine::new(2.26, 128, 10, 0.0).unwrap();
        assert!((paper.base_lr - 1.13).abs() < 1e-12);
        // A warm-up as long as the run: the ramp, then 0.
        let ramp = WarmupCosine {
            base_lr: 1.0,
            warmup_steps: 4,
            total_steps: 4,
        };
        assert_eq!(
            (0..6).map(|s| ramp.lr(s)).collect::<Vec<_>>(),
            [0.25, 0.5, 0.75, 1.0, 0.0, 0.0]
        );

        assert!(WarmupCosine::new(0.3, 0, 10, 0.1).is_err());
        assert!(WarmupCosine::new(0.3, 8, 0, 0.1).is_err());
        assert!(WarmupCosine::new(0.3, 8, 10, 1.5).is_err());
        assert!(WarmupCosine::new(-0.3, 8, 10, 0.1).is_err());
        assert!(
            WarmupCosine {
                base_lr: 1.0,
                warmup_steps: 5,
                total_steps: 4
            }
            .check()
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn the_schedule_is_non_negative_and_decays_after_the_warm_up(
            base in 0.0_f64..10.0,
            total in 1_usize..400,
            fraction in 0.0_f64..=1.0,
        ) {
            let s = WarmupCosine::new(base, 512, total, fraction).unwrap();
            let lrs: Vec<f64> = (0..total + 3).map(|step| s.lr(step)).collect();
            for (step, &lr) in lrs.iter().enumerate() {
                prop_assert!(lr >= 0.0 && lr <= base * (1.0 + 1e-12), "{step}: {lr}");
                prop_assert!((lr - closed_form(&s, step)).abs() <= 1e-12 * (1.0 + base));
            }
            let (warmup, decay) = lrs.split_at(s.warmup_steps);
            prop_assert!(warmup.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(decay.windows(2).all(|w| w[0] >= w[1]), "{decay:?}");
            if let (Some(&last), Some(&first)) = (warmup.last(), decay.first()) {
                prop_assert!(last >= first);
            }
        }
    }
}
