//! Seeded, per-variable initialisation of a model's variables.
//!
//! candle's CPU random number generator cannot be seeded (`Device::set_seed` fails on the
//! CPU in candle 0.11), so after candle has created a model's variables they are all
//! overwritten from one `ChaCha8Rng`, in name order, each as its [`Init`] says:
//!
//! - [`Init::UniformFanIn`], PyTorch's default for linear, convolution and transposed
//!   convolution layers: `U(−1/√fan_in, 1/√fan_in)` for the weight and the bias, with
//!   `fan_in = dims[1] · Π dims[2..]` of the layer's weight (`<layer>.weight`; a bias
//!   uses its layer's weight);
//! - [`Init::Const`]: every entry the same value, drawing nothing from the generator.
//!
//! [`InitPolicy`] chooses the [`Init`] of each variable: by role, then by explicit
//! per-name overrides. A *normalisation layer* is a layer `<p>` with a
//! `<p>.running_mean` (as [`crate::layers::batch_norm`] and candle-nn's `batch_norm`
//! create it): its scale `<p>.weight` starts at 1, its shift `<p>.bias` at 0, its
//! running mean at 0 and its running variance at 1, PyTorch's `BatchNorm` defaults.
//! Every other variable is [`Init::UniformFanIn`]. Since constants draw nothing, the
//! other variables get the same numbers whether or not normalisation layers sit beside
//! them, and a model without any (the VAE, TD-SPLIT) gets exactly the draws of every
//! earlier version. Same seed ⇒ same weights on any machine.

use std::collections::BTreeMap;

use candle_core::Tensor;
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// Suffix of a normalisation layer's running mean (a buffer, not a parameter).
pub const RUNNING_MEAN: &str = "running_mean";
/// Suffix of a normalisation layer's running variance (a buffer, not a parameter).
pub const RUNNING_VAR: &str = "running_var";

/// How one variable is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// `U(−1/√fan_in, 1/√fan_in)` with the fan-in of the layer's weight (see the module
    /// documentation): PyTorch's default for linear and (transposed) convolution layers.
    UniformFanIn,
    /// Every entry equal to the value; draws nothing from the generator.
    Const(f64),
}

/// Chooses the [`Init`] of every variable: explicit overrides by full name first, then
/// the role (normalisation-layer variables are constants, everything else
/// [`Init::UniformFanIn`]; see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitPolicy {
    overrides: BTreeMap<String, Init>,
}

impl InitPolicy {
    /// The policy by role alone (the same as `InitPolicy::default()`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This policy with variable `name` (its full name in the `VarMap`, e.g.
    /// `"head.bias"`) initialised as `init`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, init: Init) -> Self {
        self.overrides.insert(name.into(), init);
        self
    }

    /// The [`Init`] of variable `name`; `exists` says whether a variable of a given name
    /// is in the model (to recognise normalisation layers by their running mean).
    #[must_use]
    pub fn init_of(&self, name: &str, exists: &dyn Fn(&str) -> bool) -> Init {
        if let Some(&init) = self.overrides.get(name) {
            return init;
        }
        let Some((layer, leaf)) = name.rsplit_once('.') else {
            return Init::UniformFanIn;
        };
        let normalisation = || exists(&format!("{layer}.{RUNNING_MEAN}"));
        match leaf {
            RUNNING_MEAN => Init::Const(0.0),
            RUNNING_VAR => Init::Const(1.0),
            "weight" if normalisation() => Init::Const(1.0),
            "bias" if normalisation() => Init::Const(0.0),
            _ => Init::UniformFanIn,
        }
    }
}

/// Whether `name` is a buffer (a normalisation layer's running statistic) rather than a
/// parameter: buffers are updated by the forward pass in train mode, never by the
/// optimiser.
#[must_use]
pub fn is_buffer(name: &str) -> bool {
    let leaf = name.rsplit_once('.').map_or(name, |(_, leaf)| leaf);
    leaf == RUNNING_MEAN || leaf == RUNNING_VAR
}

pub(crate) fn poisoned() -> Error {
    Error::Config("the variable map's lock was poisoned by a panicking thread".to_owned())
}

/// Overwrites every variable from a `ChaCha8Rng` seeded with `seed`, in name order, as
/// [`InitPolicy::default`] says (PyTorch's defaults; see the module documentation).
///
/// # Errors
/// Candle errors.
pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    seeded_init_with(varmap, seed, &InitPolicy::default())
}

/// Overwrites every variable from a `ChaCha8Rng` seeded with `seed`, in name order, as
/// `policy` says; [`Init::Const`] variables draw nothing.
///
/// # Errors
/// Candle errors.
pub fn seeded_init_with(varmap: &VarMap, seed: u64, policy: &InitPolicy) -> Result<()> {
    let vars = varmap.data().lock().map_err(|_| poisoned())?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let exists = |name: &str| vars.contains_key(name);
    for name in names {
        let var = &vars[name];
        let values: Vec<f64> = match policy.init_of(name, &exists) {
            Init::Const(value) => vec![value; var.elem_count()],
            Init::UniformFanIn => {
                let weight_name = match name.strip_suffix(".bias") {
                    Some(layer) => format!("{layer}.weight"),
                    None => name.clone(),
                };
                let weight_dims = vars
                    .get(&weight_name)
                    .map_or_else(|| var.dims().to_vec(), |w| w.dims().to_vec());
                let fan_in: usize = weight_dims.iter().skip(1).product::<usize>().max(1);
                #[allow(clippy::cast_precision_loss)]
                let bound = 1.0 / (fan_in as f64).sqrt();
                (0..var.elem_count())
                    .map(|_| rng.random_range(-bound..bound))
                    .collect()
            }
        };
        let tensor = Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(var.dtype())?;
        var.set(&tensor)?;
    }
    Ok(())
}
