//! SimCLR's contrastive loss NT-Xent, the normalised temperature-scaled cross-entropy
//! (Chen et al. 2020, Eq. 1), built from candle operations so that autograd
//! differentiates it.
//!
//! The `2n` projections `z_1 … z_2n` of `n` examples under two augmentations (`z_i` and
//! `z_{i+n}` are the two views of example `i`) are compared by cosine similarity
//! `s_ij = z_iᵀz_j / (‖z_i‖ ‖z_j‖)`, and every view has to pick out its partner `p(i)`
//! among the other `2n − 1` views:
//!
//! ```text
//! ℓ_i = −log( exp(s_{i,p(i)} / τ) / Σ_{k ≠ i} exp(s_ik / τ) )
//! L   = 1/(2n) · Σ_i ℓ_i
//! ```
//!
//! Rows are normalised as PyTorch's `F.normalize` does, `z / max(‖z‖, 1e-12)`, so a zero
//! row has similarity 0 with everything instead of NaN.

use candle_core::{D, DType, Tensor};

use crate::{Error, Result};

/// The floor of a row's norm in the normalisation (`F.normalize`'s ε).
pub const NORM_EPS: f64 = 1e-12;

/// NT-Xent of the two views' projections `z1` (row `i`: the first view of example `i`)
/// and `z2` (row `i`: its second view) at temperature `temperature` (SimCLR uses
/// 0.1–0.5): the mean over the `2n` views of the cross-entropy of picking the partner
/// view among the other `2n − 1` (see the module documentation). With `n = 1` the
/// partner is the only candidate and the loss is 0.
///
/// Computed in the inputs' dtype (f32 or f64): the similarity matrix `ẑ ẑᵀ / τ` of the normalised rows,
/// its diagonal set to −∞, and a log-sum-exp per row shifted by the row's (detached)
/// maximum; the −∞ entries contribute `exp(−∞) = 0` to the sums and zero gradients, never
/// NaN (the partner's logit is taken from the normalised rows directly, never from the
/// masked matrix).
///
/// # Shapes
/// `z1`, `z2`: `[n, d]` with `n, d ≥ 1`; returns a scalar (rank-0) tensor.
///
/// # Errors
/// [`Error::Shape`] when `z1` or `z2` is not a non-empty matrix, their shapes or dtypes
/// differ, or the dtype is neither f32 nor f64; [`Error::Config`] for a temperature that is not
/// positive and finite; candle errors (e.g. the views on different devices).
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Result<Tensor> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::Config(format!(
            "NT-Xent: expected a temperature > 0, got {temperature}"
        )));
    }
    if z1.rank() != 2 || z1.dims() != z2.dims() {
        return Err(Error::Shape(format!(
            "NT-Xent: expected two views of the same shape [n, d], got {:?} and {:?}",
            z1.dims(),
            z2.dims()
        )));
    }
    let (n, d) = z1.dims2()?;
    if n == 0 || d == 0 {
        return Err(Error::Shape(format!(
            "NT-Xent: expected n, d ≥ 1, got [{n}, {d}]"
        )));
    }
    if z1.dtype() != z2.dtype() || !matches!(z1.dtype(), DType::F32 | DType::F64) {
        return Err(Error::Shape(format!(
            "NT-Xent: expected two f32 or two f64 views, got {:?} and {:?}",
            z1.dtype(),
            z2.dtype()
        )));
    }
    let (z1, z2) = (normalise_rows(z1)?, normalise_rows(z2)?);
    let z = Tensor::cat(&[&z1, &z2], 0)?;
    let scale = 1.0 / temperature;
    let mask: Vec<f64> = (0..2 * n)
        .flat_map(|i| (0..2 * n).map(move |j| if i == j { f64::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (2 * n, 2 * n), z.device())?.to_dtype(z.dtype())?;
    let logits = (z.matmul(&z.t()?)?.affine(scale, 0.0)? + mask)?;
    // log Σ_{k≠i} exp(logit_ik), stabilised by the row's maximum (a constant for autograd:
    // the log-sum-exp does not depend on the shift).
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let log_sum_exp = (logits
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        + max)?;
    // The partner's logit, the same for both views of a pair.
    let positive = (z1 * z2)?.sum(D::Minus1)?.affine(scale, 0.0)?;
    Ok((log_sum_exp.mean_all()? - positive.mean_all()?)?)
}

/// `z / max(‖z‖, ε)` row by row; computed as `z / √max(‖z‖², ε²)`, the same value, so
/// that a zero row's gradient is 0 rather than `0 · ∞`.
fn normalise_rows(z: &Tensor) -> Result<Tensor> {
    let norm = z
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .maximum(NORM_EPS * NORM_EPS)?
        .sqrt()?;
    Ok(z.broadcast_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::nt_xent;
    use crate::Error;

    fn random(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    fn tensor(values: &[f64], n: usize, d: usize, dtype: DType) -> Tensor {
        Tensor::from_vec(values.to_vec(), (n, d), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn scalar(t: &Tensor) -> f64 {
        assert_eq!(t.rank(), 0);
        t.to_dtype(DType::F64).unwrap().to_scalar().unwrap()
    }

    fn loss(z1: &[f64], z2: &[f64], n: usize, d: usize, tau: f64, dtype: DType) -> f64 {
        scalar(&nt_xent(&tensor(z1, n, d, dtype), &tensor(z2, n, d, dtype), tau).unwrap())
    }

    /// Eq. 1 of Chen et al. (2020) pair by pair, in f64 loops.
    fn brute_force(z1: &[f64], z2: &[f64], n: usize, d: usize, tau: f64) -> f64 {
        let rows: Vec<&[f64]> = z1.chunks(d).chain(z2.chunks(d)).collect();
        let norm = |r: &[f64]| r.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        let sim = |i: usize, j: usize| {
            let dot: f64 = rows[i].iter().zip(rows[j]).map(|(a, b)| a * b).sum();
            dot / (norm(rows[i]) * norm(rows[j])) / tau
        };
        let mut total = 0.0;
        for i in 0..2 * n {
            let partner = (i + n) % (2 * n);
            let denominator: f64 = (0..2 * n)
                .filter(|&k| k != i)
                .map(|k| sim(i, k).exp())
                .sum();
            total += -(sim(i, partner).exp() / denominator).ln();
        }
        total / (2 * n) as f64
    }

    proptest! {
        #[test]
        fn matches_a_brute_force_computation(
            n in 1_usize..6,
            d in 1_usize..5,
            tau in 0.05_f64..2.0,
            seed in any::<u64>(),
        ) {
            let z1 = random(n, d, seed);
            let z2 = random(n, d, seed.wrapping_add(1));
            let expected = brute_force(&z1, &z2, n, d, tau);
            let f64_loss = loss(&z1, &z2, n, d, tau, DType::F64);
            prop_assert!((f64_loss - expected).abs() <= 1e-10 * (1.0 + expected.abs()), "{f64_loss} vs {expected}");
            let f32_loss = loss(&z1, &z2, n, d, tau, DType::F32);
            prop_assert!((f32_loss - expected).abs() <= 1e-4 * (1.0 + expected.abs()), "{f32_loss} vs {expected}");
            if n == 1 {
                prop_assert!(f64_loss.abs() <= 1e-12);
            }
        }

        #[test]
        fn is_invariant_to_scaling_each_row(
            n in 1_usize..6,
            d in 1_usize..5,
            seed in any::<u64>(),
        ) {
            let z1 = random(n, d, seed);
            let z2 = random(n, d, seed.wrapping_add(1));
            let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(2));
            let mut scale = |z: &[f64]| -> Vec<f64> {
                z.chunks(d)
                    .flat_map(|row| {
                        let c: f64 = rng.random_range(0.01..100.0);
                        row.iter().map(move |x| c * x).collect::<Vec<_>>()
                    })
                    .collect()
            };
            let (s1, s2) = (scale(&z1), scale(&z2));
            let before = loss(&z1, &z2, n, d, 0.5, DType::F64);
            let after = loss(&s1, &s2, n, d, 0.5, DType::F64);
            prop_assert!((before - after).abs() <= 1e-12 * (1.0 + before.abs()), "{before} vs {after}");
        }
    }

    #[test]
    fn autograd_matches_finite_differences() {
        let (n, d, tau) = (4, 3, 0.3);
        let mut z1 = random(n, d, 11);
        let z2 = random(n, d, 12);
        // A zero row: normalised to 0 (similarity 0, not NaN), its gradient finite.
        z1[3 * d..].fill(0.0);
        let v1 = Var::from_tensor(&tensor(&z1, n, d, DType::F64)).unwrap();
        let v2 = Var::from_tensor(&tensor(&z2, n, d, DType::F64)).unwrap();
        let value = nt_xent(v1.as_tensor(), v2.as_tensor(), tau).unwrap();
        assert!((scalar(&value) - brute_force(&z1, &z2, n, d, tau)).abs() < 1e-12);
        let grads = value.backward().unwrap();
        let h = 1e-6;
        for (var, z, first) in [(&v1, &z1, true), (&v2, &z2, false)] {
            let grad: Vec<f64> = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
            for k in 0..z.len() {
                if first && k >= 3 * d {
                    continue; // the zero row: no derivative at 0 (‖z‖ has a kink)
                }
                let at = |delta: f64| {
                    let mut moved = z.clone();
                    moved[k] += delta;
                    if first {
                        loss(&moved, &z2, n, d, tau, DType::F64)
                    } else {
                        loss(&z1, &moved, n, d, tau, DType::F64)
                    }
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (grad[k] - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                    "z{} entry {k}: autograd {} vs finite differences {numeric}",
                    if first { 1 } else { 2 },
                    grad[k]
                );
            }
        }
        // f32 too: finite gradients.
        let v1 = Var::from_tensor(&tensor(&z1, n, d, DType::F32)).unwrap();
        let v2 = Var::from_tensor(&tensor(&z2, n, d, DType::F32)).unwrap();
        let grads = nt_xent(v1.as_tensor(), v2.as_tensor(), tau)
            .unwrap()
            .backward()
            .unwrap();
        for var in [&v1, &v2] {
            let grad: Vec<f32> = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
        }
    }

    #[test]
    fn aligned_orthogonal_pairs_beat_random_ones() {
        let (n, d, tau) = (4, 4, 0.5);
        let eye: Vec<f64> = (0..n * d)
            .map(|k| if k / d == k % d { 2.0 } else { 0.0 })
            .collect();
        let aligned = loss(&eye, &eye, n, d, tau, DType::F64);
        // The closed form: the partner at 1/τ, the 2n − 2 other views at 0.
        let minimum = -1.0 / tau + ((1.0 / tau).exp() + (2 * n - 2) as f64).ln();
        assert!((aligned - minimum).abs() < 1e-12, "{aligned} vs {minimum}");
        for seed in 0..20 {
            let random_loss = loss(
                &random(n, d, seed),
                &random(n, d, seed + 100),
                n,
                d,
                tau,
                DType::F64,
            );
            assert!(aligned < random_loss, "{aligned} vs {random_loss}");
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(nt_xent(&a, &b, 0.5), Err(Error::Shape(_))));
        let flat = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(nt_xent(&flat, &flat, 0.5), Err(Error::Shape(_))));
        let empty = Tensor::zeros((0, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(nt_xent(&empty, &empty, 0.5), Err(Error::Shape(_))));
        let other = a.to_dtype(DType::F64).unwrap();
        assert!(matches!(nt_xent(&a, &other, 0.5), Err(Error::Shape(_))));
        let ints = a.to_dtype(DType::U32).unwrap();
        assert!(matches!(nt_xent(&ints, &ints, 0.5), Err(Error::Shape(_))));
        for tau in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(nt_xent(&a, &a, tau), Err(Error::Config(_))));
        }
        // All-zero views are legal: every similarity is 0, the loss ln(2n − 1).
        let zero = scalar(&nt_xent(&a, &a, 0.5).unwrap());
        assert!((zero - 5.0_f64.ln()).abs() < 1e-6, "{zero}");
    }
}
