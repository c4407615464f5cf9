//! The CPU training step without candle's autograd: the VAE's (and TD-SPLIT's labelled)
//! loss and the gradients of every parameter, computed layer by layer on slices with the
//! fused layers of [`crate::ops`] and returned by tensor id for [`crate::optim::Adam`].
//!
//! It is the same function as [`crate::vae::Vae::loss`] (and
//! [`crate::split::SplitVae::labelled_loss`]) differentiated by hand — tested against
//! candle's autograd of those — but skips what a generic graph costs on the CPU: a
//! zero-filled tensor and an addition per gradient, candle's element-wise thread pool
//! waking for each of them, and the intermediate tensors of the unfused arithmetic.

use std::collections::HashMap;

use candle_core::{Tensor, TensorId};
use candle_nn::Linear;

use crate::Result;
use crate::ops::{Activation, ConvOp, DenseOp, FusedLayer, Real, bce_backward, bce_forward};
use crate::split::GuidanceClassifier;
use crate::vae::{KERNEL, PADDING, STRIDE, Vae};

/// The scalar terms of one step (batch means, nats per image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StepTerms {
    /// `−E_q log p(x|z)` (one sample).
    pub reconstruction: f64,
    /// `KL(q(z|x) ‖ N(0, I))`.
    pub kl: f64,
    /// `−log c(z_c)_y` of a labelled step.
    pub cross_entropy: Option<f64>,
}

/// A labelled step's extra term: the guidance classifier on the first `content_dim`
/// coordinates of `z`, its labels and weight α.
pub(crate) struct Guidance<'a> {
    pub classifier: &'a GuidanceClassifier,
    pub labels: &'a [u32],
    pub content_dim: usize,
    pub alpha: f64,
}

/// Gradients by tensor id of the parameter.
pub(crate) type ParamGrads<T> = HashMap<TensorId, Vec<T>>;

fn values<T: Real>(t: &Tensor) -> Result<Vec<T>> {
    Ok(t.flatten_all()?.to_vec1::<T>()?)
}

/// A layer's parameters as slices, with the ids to report their gradients under.
struct Params<T> {
    weight: Vec<T>,
    bias: Vec<T>,
    ids: (TensorId, TensorId),
}

impl<T: Real> Params<T> {
    fn of(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let bias = bias.ok_or_else(|| {
            crate::Error::Config("expected every VAE layer to have a bias".to_owned())
        })?;
        Ok(Self {
            weight: values(weight)?,
            bias: values(bias)?,
            ids: (weight.id(), bias.id()),
        })
    }

    fn linear(layer: &Linear) -> Result<Self> {
        Self::of(layer.weight(), layer.bias())
    }

    fn store(self, grads: &mut ParamGrads<T>, (weight, bias): (Vec<T>, Vec<T>)) {
        grads.insert(self.ids.0, weight);
        grads.insert(self.ids.1, bias);
    }
}

/// One layer's op, parameters, input and output, kept for the backward pass.
struct Applied<L, T> {
    op: L,
    params: Params<T>,
    input: Vec<T>,
    output: Vec<T>,
}

impl<L: FusedLayer, T: Real> Applied<L, T> {
    fn run(op: L, params: Params<T>, input: Vec<T>) -> Self {
        let output = op.forward(&input, &params.weight, &params.bias);
        Self {
            op,
            params,
            input,
            output,
        }
    }

    /// Stores the parameter gradients; returns the input gradient when asked for.
    fn back(self, grad: &[T], input_grad: bool, grads: &mut ParamGrads<T>) -> Option<Vec<T>> {
        let (dx, dw, db) = self.op.backward(
            &self.input,
            &self.params.weight,
            &self.output,
            grad,
            input_grad,
        );
        self.params.store(grads, (dw, db));
        dx
    }
}

/// `[B, C, P]` ↔ `[B, P, C]` per image (channels-first ↔ channels-last, P pixels).
fn swap_inner<T: Real>(x: &[T], batch: usize, rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for image in x.chunks_exact(rows * cols).take(batch) {
        for c in 0..cols {
            out.extend((0..rows).map(|r| image[r * cols + c]));
        }
    }
    out
}

fn dense<T: Real>(
    layer: &Linear,
    batch: usize,
    activation: Activation,
    input: Vec<T>,
) -> Result<Applied<DenseOp, T>> {
    let (outputs, inputs) = layer.weight().dims2()?;
    let op = DenseOp {
        batch,
        inputs,
        outputs,
        activation,
    };
    Ok(Applied::run(op, Params::linear(layer)?, input))
}

/// Loss terms and parameter gradients of `reconstruction + β·kl (+ α·cross_entropy)`.
///
/// `images` `[B, C, S, S]` (channels-first, values in [0, 1]), `noise` `[B, |z|]`; the
/// shapes are checked by the callers.
pub(crate) fn loss_and_grads<T: Real>(
    vae: &Vae,
    images: &[T],
    noise: &[T],
    beta: f64,
    guidance: Option<&Guidance<'_>>,
) -> Result<(StepTerms, ParamGrads<T>)> {
    let cfg = vae.config();
    let latent = cfg.latent_dim;
    let batch = noise.len() / latent;
    let (channels, side, cc) = (cfg.channels, cfg.image_size, cfg.conv_channels);
    let feature_side = cfg.feature_side();
    let geometry = (KERNEL, STRIDE, PADDING);
    let mut grads = ParamGrads::new();

    // Encoder.
    let mut h = if channels == 1 {
        images.to_vec()
    } else {
        swap_inner(images, batch, channels, side * side)
    };
    let mut convs = Vec::with_capacity(vae.encoder.convs.len());
    let mut conv_side = side;
    for (i, conv) in vae.encoder.convs.iter().enumerate() {
        let c_in = if i == 0 { channels } else { cc };
        let op = ConvOp::square(
            batch,
            conv_side,
            (c_in, cc),
            geometry,
            Activation::Relu,
            false,
        );
        let applied = Applied::run(op, Params::of(conv.weight(), conv.bias())?, h);
        h = applied.output.clone();
        conv_side = (conv_side + 2 * PADDING - KERNEL) / STRIDE + 1;
        convs.push(applied);
    }
    let pixels = feature_side * feature_side;
    let features = swap_inner(&h, batch, pixels, cc);
    let fc1 = dense(&vae.encoder.fc1, batch, Activation::Relu, features)?;
    let fc2 = dense(
        &vae.encoder.fc2,
        batch,
        Activation::Relu,
        fc1.output.clone(),
    )?;
    let head = dense(
        &vae.encoder.head,
        batch,
        Activation::Identity,
        fc2.output.clone(),
    )?;

    // Reparameterisation and KL (Kingma & Welling 2014, App. B).
    let mut z = vec![T::zero(); batch * latent];
    let mut std = vec![T::zero(); batch * latent];
    let mut kl = 0.0;
    let half = T::from_f64(0.5);
    for b in 0..batch {
        for j in 0..latent {
            let (mean, log_var) = (
                head.output[b * 2 * latent + j],
                head.output[b * 2 * latent + latent + j],
            );
            let s = (log_var * half).exp();
            std[b * latent + j] = s;
            z[b * latent + j] = mean + noise[b * latent + j] * s;
            kl += (mean * mean + s * s - T::one() - log_var).to_f64();
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let inv_batch = 1.0 / batch as f64;
    kl *= 0.5 * inv_batch;

    // Decoder.
    let d1 = dense(&vae.decoder.fc1, batch, Activation::Relu, z.clone())?;
    let d2 = dense(&vae.decoder.fc2, batch, Activation::Relu, d1.output.clone())?;
    let d3 = dense(&vae.decoder.fc3, batch, Activation::Relu, d2.output.clone())?;
    let mut h = swap_inner(&d3.output, batch, cc, pixels);
    let mut deconvs = Vec::with_capacity(vae.decoder.deconvs.len());
    let mut deconv_side = feature_side;
    let layers = vae.decoder.deconvs.len();
    for (i, deconv) in vae.decoder.deconvs.iter().enumerate() {
        let last = i + 1 == layers;
        let c_out = if last { channels } else { cc };
        let activation = if last {
            Activation::Identity
        } else {
            Activation::Relu
        };
        let op = ConvOp::square(batch, deconv_side, (cc, c_out), geometry, activation, true);
        let applied = Applied::run(op, Params::of(deconv.weight(), deconv.bias())?, h);
        h = applied.output.clone();
        deconv_side = (deconv_side - 1) * STRIDE + KERNEL - 2 * PADDING;
        deconvs.push(applied);
    }
    let logits = if channels == 1 {
        h
    } else {
        swap_inner(&h, batch, side * side, channels)
    };
    let reconstruction = bce_forward(batch, &logits, images)
        .iter()
        .map(|v| v.to_f64())
        .sum::<f64>()
        * inv_batch;

    // Guidance classifier on z_c (labelled steps).
    let mut dz = vec![T::zero(); batch * latent];
    let mut cross_entropy = None;
    if let Some(g) = guidance {
        let zc: Vec<T> = z
            .chunks_exact(latent)
            .flat_map(|row| row[..g.content_dim].iter().copied())
            .collect();
        let hidden = dense(&g.classifier.hidden, batch, Activation::Relu, zc)?;
        let out = dense(
            &g.classifier.out,
            batch,
            Activation::Identity,
            hidden.output.clone(),
        )?;
        let classes = out.op.outputs;
        let mut dlogits = vec![T::zero(); batch * classes];
        let mut ce = 0.0;
        let scale = g.alpha * inv_batch;
        for (b, (row, drow)) in out
            .output
            .chunks_exact(classes)
            .zip(dlogits.chunks_exact_mut(classes))
            .enumerate()
        {
            let max = row
                .iter()
                .map(|v| v.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|v| (v.to_f64() - max).exp()).sum();
            let label = g.labels[b] as usize;
            ce += max + sum.ln() - row[label].to_f64();
            for (k, (d, v)) in drow.iter_mut().zip(row).enumerate() {
                let p = (v.to_f64() - max).exp() / sum;
                *d = T::from_f64(scale * (p - if k == label { 1.0 } else { 0.0 }));
            }
        }
        cross_entropy = Some(ce * inv_batch);
        let dhidden = out
            .back(&dlogits, true, &mut grads)
            .expect("input gradient");
        let dzc = hidden
            .back(&dhidden, true, &mut grads)
            .expect("input gradient");
        for (row, drow) in dz
            .chunks_exact_mut(latent)
            .zip(dzc.chunks_exact(g.content_dim))
        {
            for (d, &v) in row.iter_mut().zip(drow) {
                *d += v;
            }
        }
    }

    // Backward through the decoder.
    let per_image = vec![T::from_f64(inv_batch); batch];
    let dlogits = bce_backward(batch, &logits, images, &per_image);
    let mut grad = if channels == 1 {
        dlogits
    } else {
        swap_inner(&dlogits, batch, channels, side * side)
    };
    for applied in deconvs.into_iter().rev() {
        grad = applied
            .back(&grad, true, &mut grads)
            .expect("input gradient");
    }
    let dd3 = swap_inner(&grad, batch, pixels, cc);
    let dd2 = d3.back(&dd3, true, &mut grads).expect("input gradient");
    let dd1 = d2.back(&dd2, true, &mut grads).expect("input gradient");
    let dz_decoder = d1.back(&dd1, true, &mut grads).expect("input gradient");
    for (d, v) in dz.iter_mut().zip(dz_decoder) {
        *d += v;
    }

    // Through the reparameterisation and the KL term to the head's output.
    let beta_scale = T::from_f64(beta * inv_batch);
    let mut dhead = vec![T::zero(); batch * 2 * latent];
    for b in 0..batch {
        for j in 0..latent {
            let (mean, log_var) = (
                head.output[b * 2 * latent + j],
                head.output[b * 2 * latent + latent + j],
            );
            let _ = log_var;
            let (s, e, g) = (
                std[b * latent + j],
                noise[b * latent + j],
                dz[b * latent + j],
            );
            dhead[b * 2 * latent + j] = g + beta_scale * mean;
            dhead[b * 2 * latent + latent + j] =
                g * e * s * half + beta_scale * half * (s * s - T::one());
        }
    }

    // Backward through the encoder (no gradient for the images).
    let dfc2 = head.back(&dhead, true, &mut grads).expect("input gradient");
    let dfc1 = fc2.back(&dfc2, true, &mut grads).expect("input gradient");
    let dfeatures = fc1.back(&dfc1, true, &mut grads).expect("input gradient");
    let mut grad = swap_inner(&dfeatures, batch, cc, pixels);
    let first = convs.len();
    for (i, applied) in convs.into_iter().enumerate().rev() {
        let _ = first;
        match applied.back(&grad, i > 0, &mut grads) {
            Some(g) => grad = g,
            None => break,
        }
    }
    Ok((
        StepTerms {
            reconstruction,
            kl,
            cross_entropy,
        },
        grads,
    ))
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{Guidance, loss_and_grads};
    use crate::model::seeded_init;
    use crate::ops::Real;
    use crate::split::{SplitConfig, SplitVae};
    use crate::vae::VaeConfig;

    /// The hand-differentiated step against candle's autograd of `Vae::loss` /
    /// `SplitVae::labelled_loss`: loss terms and every parameter's gradient.
    fn check<T: Real>(cfg: &SplitConfig, dtype: DType, batch: usize, tolerance: f64) {
        let varmap = VarMap::new();
        let model =
            SplitVae::new(cfg, VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu)).unwrap();
        seeded_init(&varmap, 3).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let side = cfg.vae.image_size;
        let n = batch * cfg.vae.channels * side * side;
        let pixels: Vec<f64> = (0..n).map(|_| rng.random()).collect();
        let noise: Vec<f64> = (0..batch * cfg.vae.latent_dim)
            .map(|_| rng.random_range(-1.5..1.5))
            .collect();
        let labels: Vec<u32> = (0..batch).map(|i| (i % cfg.num_classes) as u32).collect();
        let x = Tensor::from_vec(pixels, (batch, cfg.vae.channels, side, side), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let eps = Tensor::from_vec(noise, (batch, cfg.vae.latent_dim), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let y = Tensor::from_vec(labels.clone(), batch, &Device::Cpu).unwrap();
        let (beta, alpha) = (0.7, 20.0);
        for labelled in [false, true] {
            let (loss, terms_ref) = if labelled {
                let t = model.labelled_loss(&x, &eps, &y).unwrap();
                (t.loss(beta, alpha).unwrap(), t.elbo)
            } else {
                let t = model.vae.loss(&x, &eps).unwrap();
                (t.loss(beta).unwrap(), t)
            };
            let reference = loss.backward().unwrap();
            let guidance = Guidance {
                classifier: &model.classifier,
                labels: &labels,
                content_dim: cfg.content_dim,
                alpha,
            };
            let (terms, grads) = loss_and_grads::<T>(
                &model.vae,
                &x.flatten_all().unwrap().to_vec1::<T>().unwrap(),
                &eps.flatten_all().unwrap().to_vec1::<T>().unwrap(),
                beta,
                labelled.then_some(&guidance),
            )
            .unwrap();
            let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()));
            assert!(close(
                terms.reconstruction,
                scalar(&terms_ref.reconstruction)
            ));
            assert!(close(terms.kl, scalar(&terms_ref.kl)));
            let vars = varmap.data().lock().unwrap();
            let mut checked = 0;
            for (name, var) in vars.iter() {
                let Some(expected) = reference.get(var.as_tensor()) else {
                    continue;
                };
                let expected: Vec<f64> = expected
                    .to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let got = grads
                    .get(&var.as_tensor().id())
                    .unwrap_or_else(|| panic!("no gradient for {name}"));
                let scale = expected.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                for (g, e) in got.iter().zip(&expected) {
                    assert!(
                        (g.to_f64() - e).abs() <= tolerance * (1.0 + scale),
                        "{name} (labelled {labelled}): {} vs {e}",
                        g.to_f64()
                    );
                }
                checked += 1;
            }
            assert_eq!(checked, grads.len(), "labelled {labelled}");
            assert_eq!(checked, if labelled { 28 } else { 24 });
        }
    }

    #[test]
    fn hand_differentiated_step_matches_autograd_in_f64() {
        let cfg = SplitConfig {
            vae: VaeConfig {
                channels: 1,
                image_size: 8,
                conv_channels: 3,
                hidden_dim: 5,
                latent_dim: 3,
            },
            content_dim: 2,
            classifier_hidden: 4,
            num_classes: 3,
        };
        check::<f64>(&cfg, DType::F64, 5, 1e-10);
        let rgb = SplitConfig {
            vae: VaeConfig {
                channels: 3,
                ..cfg.vae.clone()
            },
            ..cfg
        };
        check::<f64>(&rgb, DType::F64, 2, 1e-10);
    }

    #[test]
    fn hand_differentiated_step_matches_autograd_at_full_size_in_f32() {
        check::<f32>(&SplitConfig::default(), DType::F32, 16, 1e-3);
    }
}
