//! Laplace MLP head: a one-hidden-layer network `d → 128 → C` (ReLU, softmax) with a
//! diagonal Laplace approximation to its posterior (MacKay 1992; the paper's appendix
//! C.3).
//!
//! The MAP is found with Adam under a N(0, I) prior. The posterior is
//! N(θ_MAP, diag(λ·G + 1)⁻¹), with G the diagonal of the generalised Gauss-Newton matrix
//! of the summed negative log-likelihood (exact for the softmax likelihood, which makes
//! it equal to the Fisher) and λ the likelihood's tempering power: the paper raises the
//! likelihood to dim(θ) (Aitchison 2020), which is the default here. The diagonal GGN is
//! computed in closed form for this architecture with two matrix products, not by
//! per-example Jacobians. Inputs are standardised with the training mean and standard
//! deviation, so the prior acts on weights of unit-scale features. Plain ndarray: the
//! network is too small for candle to pay off.

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::validate::{check_n_classes, check_test, check_training};
use crate::{Error, LastLayerOutput, PredictionHead, Result};

/// Hyper-parameters of [`LaplaceHead`].
#[derive(Clone, Debug, PartialEq)]
pub struct LaplaceParams {
    /// Hidden units (the paper: 128).
    pub hidden: usize,
    /// K, posterior samples of θ returned by [`PredictionHead::predict_samples`].
    pub posterior_samples: usize,
    /// Adam steps for the MAP fit.
    pub steps: usize,
    /// Mini-batch size (the whole set when it is smaller).
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// λ, the power the likelihood is raised to; `None` = dim(θ), the paper's choice.
    pub likelihood_power: Option<f64>,
    /// Number of classes C; `None` takes `max(label) + 1` at fit time.
    pub n_classes: Option<usize>,
}

impl Default for LaplaceParams {
    fn default() -> Self {
        Self {
            hidden: 128,
            posterior_samples: 100,
            steps: 1000,
            batch_size: 256,
            learning_rate: 3e-3,
            likelihood_power: None,
            n_classes: None,
        }
    }
}

impl LaplaceParams {
    /// Validates the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a zero size, a non-positive or non-finite learning
    /// rate or likelihood power, or `n_classes` = `Some(0)` or more than
    /// [`MAX_CLASSES`](crate::MAX_CLASSES).
    pub fn check(&self) -> Result<()> {
        let invalid = |name, value: String, expected: &str| {
            Err(Error::InvalidParam {
                name,
                value,
                expected: expected.to_string(),
            })
        };
        for (name, value) in [
            ("hidden", self.hidden),
            ("posterior_samples", self.posterior_samples),
            ("steps", self.steps),
            ("batch_size", self.batch_size),
        ] {
            if value == 0 {
                return invalid(name, "0".into(), "at least 1");
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return invalid(
                "learning_rate",
                self.learning_rate.to_string(),
                "a positive finite number",
            );
        }
        if let Some(power) = self.likelihood_power
            && !(power.is_finite() && power > 0.0)
        {
            return invalid(
                "likelihood_power",
                power.to_string(),
                "a positive finite number, or None for dim(θ)",
            );
        }
        if self.n_classes == Some(0) {
            return invalid("n_classes", "0".into(), "at least 1");
        }
        if let Some(n_classes) = self.n_classes {
            check_n_classes(n_classes)?;
        }
        Ok(())
    }
}

/// The network's parameters θ = (W1 [d, H], b1 [H], W2 [H, C], b2 [C]).
#[derive(Clone, Debug)]
struct Mlp {
    w1: Array2<f32>,
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

impl Mlp {
    fn zeros_like(other: &Self) -> Self {
        Self {
            w1: Array2::zeros(other.w1.raw_dim()),
            b1: Array1::zeros(other.b1.raw_dim()),
            w2: Array2::zeros(other.w2.raw_dim()),
            b2: Array1::zeros(other.b2.raw_dim()),
        }
    }

    fn n_params(&self) -> usize {
        self.w1.len() + self.b1.len() + self.w2.len() + self.b2.len()
    }

    /// Every parameter array's elements as flat mutable slices, in a fixed order.
    fn slices_mut(&mut self) -> [&mut [f32]; 4] {
        [
            self.w1.as_slice_mut().unwrap_or_default(),
            self.b1.as_slice_mut().unwrap_or_default(),
            self.w2.as_slice_mut().unwrap_or_default(),
            self.b2.as_slice_mut().unwrap_or_default(),
        ]
    }

    fn slices(&self) -> [&[f32]; 4] {
        [
            self.w1.as_slice().unwrap_or_default(),
            self.b1.as_slice().unwrap_or_default(),
            self.w2.as_slice().unwrap_or_default(),
            self.b2.as_slice().unwrap_or_default(),
        ]
    }

    /// Hidden pre-activations `[N, H]` and softmax probabilities `[N, C]`.
    fn forward(&self, x: ArrayView2<'_, f32>) -> (Array2<f32>, Array2<f32>) {
        let pre = x.dot(&self.w1) + &self.b1;
        let hidden = pre.mapv(|v| v.max(0.0));
        let mut probs = hidden.dot(&self.w2) + &self.b2;
        softmax_rows(&mut probs);
        (pre, probs)
    }
}

/// In-place, numerically stable row softmax.
fn softmax_rows(logits: &mut Array2<f32>) {
    for mut row in logits.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

/// The fitted part of the head.
#[derive(Clone, Debug)]
struct Fitted {
    mean: Array1<f32>,
    scale: Array1<f32>,
    map: Mlp,
    /// Posterior variances, same layout as θ.
    variance: Mlp,
    /// K sampled networks θ_k ~ N(θ_MAP, diag(variance)).
    samples: Vec<Mlp>,
    n_features: usize,
    n_classes: usize,
}

/// MLP head with a diagonal, tempered Laplace posterior.
///
/// ```
/// use ndarray::array;
/// use tdal_heads::{LaplaceHead, LaplaceParams};
///
/// let x = array![[0.0_f32, 0.0], [0.2, 0.1], [3.0, 3.0], [2.9, 3.2]];
/// let y = [0, 0, 1, 1];
/// let mut head = LaplaceHead::new(LaplaceParams { steps: 200, posterior_samples: 4, ..Default::default() })?;
/// head.fit_seeded(x.view(), &y, 0)?;
/// let map = head.predict_map(x.view())?; // [4, 2]
/// assert!(map[[0, 0]] > 0.5 && map[[3, 1]] > 0.5);
/// # Ok::<(), tdal_heads::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LaplaceHead {
    params: LaplaceParams,
    fitted: Option<Fitted>,
}

impl LaplaceHead {
    /// An unfitted head.
    ///
    /// # Errors
    /// Invalid parameters (see [`LaplaceParams::check`]).
    pub fn new(params: LaplaceParams) -> Result<Self> {
        params.check()?;
        Ok(Self {
            params,
            fitted: None,
        })
    }

    /// dim(θ) once fitted.
    #[must_use]
    pub fn n_params(&self) -> Option<usize> {
        self.fitted.as_ref().map(|fitted| fitted.map.n_params())
    }

    /// The posterior variances of all parameters (W1, b1, W2, b2 flattened) once fitted.
    #[must_use]
    pub fn posterior_variance(&self) -> Option<Array1<f32>> {
        self.fitted.as_ref().map(|fitted| {
            fitted
                .variance
                .slices()
                .iter()
                .flat_map(|slice| slice.iter().copied())
                .collect()
        })
    }

    /// Fits the MAP with Adam (seeded initialisation and mini-batches), the diagonal GGN
    /// at the MAP, and draws the K posterior samples, all from `seed`.
    ///
    /// # Shapes
    /// `x`: `[N, d]`, `y`: `[N]` with classes `0..C`.
    ///
    /// # Errors
    /// No rows, mismatched lengths, no columns, NaN/inf features, labels `>= n_classes`.
    pub fn fit_seeded(&mut self, x: ArrayView2<'_, f32>, y: &[u32], seed: u64) -> Result<()> {
        let n_classes = check_training(x, y, self.params.n_classes, 1)?;
        let n_features = x.ncols();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        let mean = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(n_features));
        let scale = x
            .std_axis(Axis(0), 0.0)
            .mapv(|sd| if sd > 1e-12 { 1.0 / sd } else { 1.0 });
        let z = (&x - &mean) * &scale;

        let mut map = init_mlp(n_features, self.params.hidden, n_classes, &mut rng);
        #[allow(clippy::cast_precision_loss)]
        let power = self
            .params
            .likelihood_power
            .unwrap_or(map.n_params() as f64);
        train_map(&mut map, z.view(), y, power, &self.params, &mut rng);

        let ggn = diagonal_ggn(&map, z.view());
        let mut variance = ggn;
        #[allow(clippy::cast_possible_truncation)]
        for slice in variance.slices_mut() {
            for v in slice.iter_mut() {
                *v = (1.0 / (power * f64::from(*v) + 1.0)) as f32;
            }
        }

        let sample_seed = rng.next_u64();
        let samples = (0..self.params.posterior_samples)
            .into_par_iter()
            .map(|k| {
                let mut sample_rng = ChaCha8Rng::seed_from_u64(sample_seed);
                sample_rng.set_stream(k as u64);
                let mut theta = map.clone();
                for (dst, var) in theta.slices_mut().into_iter().zip(variance.slices()) {
                    for (value, &v) in dst.iter_mut().zip(var) {
                        let noise: f32 = sample_rng.sample(StandardNormal);
                        *value += v.sqrt() * noise;
                    }
                }
                theta
            })
            .collect();
        self.fitted = Some(Fitted {
            mean,
            scale,
            map,
            variance,
            samples,
            n_features,
            n_classes,
        });
        Ok(())
    }

    fn fitted(&self) -> Result<&Fitted> {
        self.fitted.as_ref().ok_or(Error::NotFitted)
    }

    /// Class probabilities of the MAP network.
    ///
    /// # Shapes
    /// `x`: `[N, d]` → `[N, C]`.
    ///
    /// # Errors
    /// Not fitted, a different `d` from training, NaN/inf features.
    pub fn predict_map(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let fitted = self.fitted()?;
        check_test(x, fitted.n_features)?;
        let z = (&x - &fitted.mean) * &fitted.scale;
        Ok(fitted.map.forward(z.view()).1)
    }
}

impl PredictionHead for LaplaceHead {
    /// As [`LaplaceHead::fit_seeded`].
    fn fit_seeded(&mut self, x: ArrayView2<'_, f32>, y: &[u32], seed: u64) -> Result<()> {
        Self::fit_seeded(self, x, y, seed)
    }

    /// Probabilities of the K sampled networks, `[N, K, C]`, computed in parallel over
    /// row blocks.
    fn predict_samples(&self, x: ArrayView2<'_, f32>) -> Result<Array3<f32>> {
        let fitted = self.fitted()?;
        check_test(x, fitted.n_features)?;
        let z = (&x - &fitted.mean) * &fitted.scale;
        let k = fitted.samples.len();
        let mut out = Array3::<f32>::zeros((x.nrows(), k, fitted.n_classes));
        out.axis_chunks_iter_mut(Axis(0), 256)
            .into_par_iter()
            .zip(z.axis_chunks_iter(Axis(0), 256))
            .for_each(|(mut out_block, z_block)| {
                for (index, theta) in fitted.samples.iter().enumerate() {
                    let (_, probs) = theta.forward(z_block);
                    out_block.slice_mut(s![.., index, ..]).assign(&probs);
                }
            });
        Ok(out)
    }

    /// The MAP network's hidden activations `relu(W1ᵀ z + b1)` (`[N, hidden]`), which its
    /// output layer is affine in, and its probabilities.
    fn last_layer(&self, x: ArrayView2<'_, f32>) -> Option<Result<LastLayerOutput>> {
        Some(self.fitted().and_then(|fitted| {
            check_test(x, fitted.n_features)?;
            let z = (&x - &fitted.mean) * &fitted.scale;
            let (pre, probs) = fitted.map.forward(z.view());
            Ok(LastLayerOutput {
                features: pre.mapv(|v| v.max(0.0)),
                probs,
            })
        }))
    }
}

/// PyTorch's default `Linear` initialisation: U(−1/√fan_in, 1/√fan_in).
fn init_mlp(n_features: usize, hidden: usize, n_classes: usize, rng: &mut ChaCha8Rng) -> Mlp {
    #[allow(clippy::cast_precision_loss)]
    let mut uniform = |rows: usize, cols: usize, fan_in: usize| {
        let bound = 1.0 / (fan_in as f32).sqrt();
        Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-bound..bound))
    };
    let w1 = uniform(n_features, hidden, n_features);
    let b1 = uniform(1, hidden, n_features).remove_axis(Axis(0));
    let w2 = uniform(hidden, n_classes, hidden);
    let b2 = uniform(1, n_classes, hidden).remove_axis(Axis(0));
    Mlp { w1, b1, w2, b2 }
}

/// Adam on `mean_B NLL + ‖θ‖² / (2 λ N)`: the tempered log posterior
/// `λ Σ log p(y|x,θ) − ‖θ‖²/2` divided by `λ N`, which has the same maximiser and keeps
/// gradients of order one.
fn train_map(
    mlp: &mut Mlp,
    z: ArrayView2<'_, f32>,
    y: &[u32],
    power: f64,
    params: &LaplaceParams,
    rng: &mut ChaCha8Rng,
) {
    let rows = z.nrows();
    let batch = params.batch_size.min(rows);
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let prior_weight = (1.0 / (power * rows as f64)) as f32;
    let (beta1, beta2, eps) = (0.9_f32, 0.999_f32, 1e-8_f32);
    let mut first = Mlp::zeros_like(mlp);
    let mut second = Mlp::zeros_like(mlp);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut cursor = rows;
    for step in 1..=params.steps {
        if cursor + batch > rows {
            order.shuffle(rng);
            cursor = 0;
        }
        let indices = &order[cursor..cursor + batch];
        cursor += batch;
        let zb = z.select(Axis(0), indices);
        let (pre, mut delta) = mlp.forward(zb.view());
        // d(mean NLL)/d logits = (p − onehot(y)) / B
        #[allow(clippy::cast_precision_loss)]
        let inv_batch = 1.0 / batch as f32;
        for (mut row, &index) in delta.rows_mut().into_iter().zip(indices) {
            row[y[index] as usize] -= 1.0;
            row.mapv_inplace(|v| v * inv_batch);
        }
        let hidden = pre.mapv(|v| v.max(0.0));
        let mut grad = Mlp {
            w1: Array2::zeros(mlp.w1.raw_dim()),
            b1: Array1::zeros(mlp.b1.raw_dim()),
            w2: hidden.t().dot(&delta),
            b2: delta.sum_axis(Axis(0)),
        };
        let mut back = delta.dot(&mlp.w2.t());
        ndarray::Zip::from(&mut back)
            .and(&pre)
            .for_each(|g, &p| *g = if p > 0.0 { *g } else { 0.0 });
        grad.w1 = zb.t().dot(&back);
        grad.b1 = back.sum_axis(Axis(0));

        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = step as i32;
        let correction1 = 1.0 - beta1.powi(t);
        let correction2 = 1.0 - beta2.powi(t);
        let lr = params.learning_rate;
        let grads = grad.slices();
        for (((theta, g), m), v) in mlp
            .slices_mut()
            .into_iter()
            .zip(grads)
            .zip(first.slices_mut())
            .zip(second.slices_mut())
        {
            for i in 0..theta.len() {
                let gi = g[i] + prior_weight * theta[i];
                m[i] = beta1 * m[i] + (1.0 - beta1) * gi;
                v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
                theta[i] -= lr * (m[i] / correction1) / ((v[i] / correction2).sqrt() + eps);
            }
        }
    }
}

/// Diagonal of the generalised Gauss-Newton matrix of `Σ_i −log p(y_i|x_i, θ)` at θ.
///
/// With hidden activations a = relu(u), softmax p and `H_i = diag(p_i) − p_i p_iᵀ`:
/// `G[W2_hc] = Σ_i a_ih² p_ic(1 − p_ic)`, `G[b2_c] = Σ_i p_ic(1 − p_ic)`, and with
/// `s_ih = 1[u_ih > 0] · w_hᵀ H_i w_h = 1[u_ih > 0] (Σ_c p_ic W2_hc² − (Σ_c p_ic W2_hc)²)`:
/// `G[W1_jh] = Σ_i z_ij² s_ih`, `G[b1_h] = Σ_i s_ih`.
fn diagonal_ggn(mlp: &Mlp, z: ArrayView2<'_, f32>) -> Mlp {
    let (pre, probs) = mlp.forward(z);
    let hidden = pre.mapv(|v| v.max(0.0));
    let bernoulli_var = probs.mapv(|p| p * (1.0 - p));
    let w2 = hidden.mapv(|a| a * a).t().dot(&bernoulli_var);
    let b2 = bernoulli_var.sum_axis(Axis(0));
    let second_moment = probs.dot(&mlp.w2.mapv(|w| w * w).t());
    let first_moment = probs.dot(&mlp.w2.t());
    let mut s = second_moment - first_moment.mapv(|m| m * m);
    ndarray::Zip::from(&mut s)
        .and(&pre)
        .for_each(|value, &p| *value = if p > 0.0 { value.max(0.0) } else { 0.0 });
    let w1 = z.mapv(|v| v * v).t().dot(&s);
    let b1 = s.sum_axis(Axis(0));
    Mlp { w1, b1, w2, b2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits `[N, C]` of `mlp` (no softmax), computed directly.
    fn logits(mlp: &Mlp, z: ArrayView2<'_, f32>) -> Array2<f32> {
        (z.dot(&mlp.w1) + &mlp.b1).mapv(|v| v.max(0.0)).dot(&mlp.w2) + &mlp.b2
    }

    #[test]
    fn diagonal_ggn_matches_finite_difference_jacobians() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mlp = init_mlp(3, 5, 4, &mut rng);
        let z = Array2::from_shape_simple_fn((6, 3), || rng.random_range(-2.0_f32..2.0));
        let fast = diagonal_ggn(&mlp, z.view());
        let (_, probs) = mlp.forward(z.view());
        // Small enough that no ReLU pre-activation crosses zero within ±step.
        let step = 1e-3_f32;
        for (group, fast_group) in fast.slices().iter().enumerate() {
            for element in 0..fast_group.len() {
                let shifted = |delta: f32| {
                    let mut theta = mlp.clone();
                    theta.slices_mut()[group][element] += delta;
                    logits(&theta, z.view())
                };
                // J[i, c] = ∂ logit_ic / ∂ θ_j; G_jj = Σ_i J_iᵀ (diag p_i − p_i p_iᵀ) J_i.
                let jacobian = (shifted(step) - shifted(-step)) / (2.0 * step);
                let mut slow = 0.0_f64;
                for (j_row, p_row) in jacobian.rows().into_iter().zip(probs.rows()) {
                    let mean: f64 = j_row
                        .iter()
                        .zip(p_row)
                        .map(|(&j, &p)| f64::from(j * p))
                        .sum();
                    let second: f64 = j_row
                        .iter()
                        .zip(p_row)
                        .map(|(&j, &p)| f64::from(j * j * p))
                        .sum();
                    slow += second - mean * mean;
                }
                let ours = f64::from(fast_group[element]);
                assert!(
                    (ours - slow).abs() <= 1e-3 * slow.abs() + 1e-4,
                    "parameter group {group}, element {element}: closed form {ours}, finite differences {slow}"
                );
            }
        }
    }
}
