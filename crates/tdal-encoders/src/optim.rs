//! Adam (Kingma & Ba 2015) in one pass per parameter: the same update as candle-nn's
//! `AdamW` with weight decay 0 (`m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//! `θ ← θ − lr · m̂ / (√v̂ + ε)` with bias-corrected `m̂`, `v̂`), but with the moments kept
//! as plain vectors and each parameter read and written once, instead of a dozen tensor
//! operations (each waking candle's element-wise thread pool) per parameter.

use std::collections::HashMap;

use candle_core::{DType, TensorId, Var};
use candle_nn::Optimizer;

use crate::{Error, Result};

/// One parameter and its moment estimates.
struct Slot {
    var: Var,
    first: Vec<f32>,
    second: Vec<f32>,
}

/// Adam over f32 variables.
pub struct Adam {
    slots: Vec<Slot>,
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: i32,
}

impl std::fmt::Debug for Adam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adam")
            .field("parameters", &self.slots.len())
            .field("learning_rate", &self.learning_rate)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Adam {
    /// Adam with β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch's and candle-nn's defaults).
    ///
    /// # Errors
    /// [`Error::Config`] for a variable that is not f32.
    pub fn new(vars: Vec<Var>, learning_rate: f64) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|var| {
                if var.dtype() != DType::F32 {
                    return Err(Error::Config(format!(
                        "Adam: expected f32 variables, got {:?}",
                        var.dtype()
                    )));
                }
                let n = var.elem_count();
                Ok(Slot {
                    var,
                    first: vec![0.0; n],
                    second: vec![0.0; n],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
        })
    }

    /// One update from gradients keyed by the variables' tensor ids; variables without a
    /// gradient are left alone.
    ///
    /// # Errors
    /// Candle errors reading or writing a variable; [`Error::Shape`] for a gradient whose
    /// length differs from its variable's.
    pub(crate) fn step_with(&mut self, grads: &HashMap<TensorId, Vec<f32>>) -> Result<()> {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        #[allow(clippy::cast_possible_truncation)]
        let (scale_m, scale_v, lr, eps, b1, b2) = (
            (1.0 / (1.0 - b1.powi(self.step))) as f32,
            (1.0 / (1.0 - b2.powi(self.step))) as f32,
            self.learning_rate as f32,
            self.eps as f32,
            b1 as f32,
            b2 as f32,
        );
        for slot in &mut self.slots {
            let Some(grad) = grads.get(&slot.var.as_tensor().id()) else {
                continue;
            };
            if grad.len() != slot.first.len() {
                return Err(Error::Shape(format!(
                    "Adam: gradient of {} values for a variable of {}",
                    grad.len(),
                    slot.first.len()
                )));
            }
            let mut theta = slot.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            for (((t, m), v), &g) in theta
                .iter_mut()
                .zip(&mut slot.first)
                .zip(&mut slot.second)
                .zip(grad)
            {
                *m = *m * b1 + g * (1.0 - b1);
                *v = *v * b2 + g * g * (1.0 - b2);
                *t -= lr * (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
            }
            let theta = candle_core::Tensor::from_vec(theta, slot.var.shape(), slot.var.device())?;
            slot.var.set(&theta)?;
        }
        Ok(())
    }
}

impl Optimizer for Adam {
    type Config = f64;

    /// `config` is the learning rate.
    fn new(vars: Vec<Var>, config: f64) -> candle_core::Result<Self> {
        Self::new(vars, config).map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> candle_core::Result<()> {
        let mut by_id = HashMap::new();
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                by_id.insert(
                    slot.var.as_tensor().id(),
                    g.flatten_all()?.to_vec1::<f32>()?,
                );
            }
        }
        self.step_with(&by_id)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = lr;
    }
}
