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

/// One layer's op and parameters, kept for the backward pass (its input and output live
/// in the caller's list of activations).
struct Applied<L, T> {
    op: L,
    params: Params<T>,
}

impl<L: FusedLayer, T: Real> Applied<L, T> {
    fn new(op: L, params: Params<T>) -> Self {
        Self { op, params }
    }

    fn run(&self, input: &[T]) -> Vec<T> {
        self.op
            .forward(input, &self.params.weight, &self.params.bias)
    }

    /// Stores the parameter gradients; returns the input gradient when asked for.
    fn back(
        self,
        (input, output): (&[T], &[T]),
        grad: &[T],
        input_grad: bool,
        grads: &mut ParamGrads<T>,
    ) -> Option<Vec<T>> {
        let (dx, dw, db) = self.op.backward(
            input,
            &self.params.weight,
            &self.params.bias,
            output,
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
) -> Result<Applied<DenseOp, T>> {
    let (outputs, inputs) = layer.weight().dims2()?;
    let op = DenseOp {
        batch,
        inputs,
        outputs,
        activation,
    };
    Ok(Applied::new(op, Params::linear(layer)?))
}

/// Runs a chain of layers on `input`; returns the layers and the activations
/// `[input, out_1, …, out_n]`.
fn chain<L: FusedLayer, T: Real>(
    layers: Vec<Applied<L, T>>,
    input: Vec<T>,
) -> (Vec<Applied<L, T>>, Vec<Vec<T>>) {
    let mut acts = Vec::with_capacity(layers.len() + 1);
    acts.push(input);
    for layer in &layers {
        let out = layer.run(acts.last().expect("the input"));
        acts.push(out);
    }
    (layers, acts)
}

/// Back through a chain run by [`chain`]; the gradient of its input unless `first_input`
/// is false (then `None`).
fn chain_back<L: FusedLayer, T: Real>(
    layers: Vec<Applied<L, T>>,
    acts: &[Vec<T>],
    grad: Vec<T>,
    input_grad: bool,
    grads: &mut ParamGrads<T>,
) -> Option<Vec<T>> {
    let mut grad = grad;
    for (i, layer) in layers.into_iter().enumerate().rev() {
        let wanted = i > 0 || input_grad;
        match layer.back((&acts[i], &acts[i + 1]), &grad, wanted, grads) {
            Some(g) => grad = g,
            None => return None,
        }
    }
    Some(grad)
}

/// The encoder's convolutions and fully connected layers.
type EncoderLayers<T> = (Vec<Applied<ConvOp, T>>, Vec<Applied<DenseOp, T>>);

/// The encoder's layers for a batch.
fn encoder_layers<T: Real>(vae: &Vae, batch: usize) -> Result<EncoderLayers<T>> {
    let cfg = vae.config();
    let mut convs = Vec::with_capacity(vae.encoder.convs.len());
    let mut side = cfg.image_size;
    for (i, conv) in vae.encoder.convs.iter().enumerate() {
        let c_in = if i == 0 {
            cfg.channels
        } else {
            cfg.conv_channels
        };
        let op = ConvOp::square(
            batch,
            side,
            (c_in, cfg.conv_channels),
            (KERNEL, STRIDE, PADDING),
            Activation::Relu,
            false,
        );
        convs.push(Applied::new(op, Params::of(conv.weight(), conv.bias())?));
        side = (side + 2 * PADDING - KERNEL) / STRIDE + 1;
    }
    let fcs = vec![
        dense(&vae.encoder.fc1, batch, Activation::Relu)?,
        dense(&vae.encoder.fc2, batch, Activation::Relu)?,
        dense(&vae.encoder.head, batch, Activation::Identity)?,
    ];
    Ok((convs, fcs))
}

/// Channels-first images to the first convolution's channels-last input.
fn images_in<T: Real>(vae: &Vae, images: &[T], batch: usize) -> Vec<T> {
    let cfg = vae.config();
    if cfg.channels == 1 {
        images.to_vec()
    } else {
        swap_inner(images, batch, cfg.channels, cfg.image_size * cfg.image_size)
    }
}

/// The encoder's output `[B, 2|z|]` (means, then log-variances) without gradients.
pub(crate) fn encode<T: Real>(vae: &Vae, images: &[T], batch: usize) -> Result<Vec<T>> {
    let cfg = vae.config();
    let (convs, fcs) = encoder_layers::<T>(vae, batch)?;
    let pixels = cfg.feature_side() * cfg.feature_side();
    let mut h = images_in(vae, images, batch);
    for conv in &convs {
        h = conv.run(&h);
    }
    let mut h = swap_inner(&h, batch, pixels, cfg.conv_channels);
    for fc in &fcs {
        h = fc.run(&h);
    }
    Ok(h)
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
    let (convs, fcs) = encoder_layers::<T>(vae, batch)?;
    let (convs, conv_acts) = chain(convs, images_in(vae, images, batch));
    let pixels = feature_side * feature_side;
    let features = swap_inner(conv_acts.last().expect("conv output"), batch, pixels, cc);
    let (fcs, fc_acts) = chain(fcs, features);
    let head = fc_acts.last().expect("head output");

    // Reparameterisation and KL (Kingma & Welling 2014, App. B).
    let mut z = vec![T::zero(); batch * latent];
    let mut std = vec![T::zero(); batch * latent];
    let mut kl = 0.0;
    let half = T::from_f64(0.5);
    for b in 0..batch {
        for j in 0..latent {
            let (mean, log_var) = (head[b * 2 * latent + j], head[b * 2 * latent + latent + j]);
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
    let dfcs = vec![
        dense(&vae.decoder.fc1, batch, Activation::Relu)?,
        dense(&vae.decoder.fc2, batch, Activation::Relu)?,
        dense(&vae.decoder.fc3, batch, Activation::Relu)?,
    ];
    let (dfcs, dfc_acts) = chain(dfcs, z.clone());
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
        deconvs.push(Applied::new(
            op,
            Params::of(deconv.weight(), deconv.bias())?,
        ));
        deconv_side = (deconv_side - 1) * STRIDE + KERNEL - 2 * PADDING;
    }
    let decoder_input = swap_inner(dfc_acts.last().expect("fc3 output"), batch, cc, pixels);
    let (deconvs, deconv_acts) = chain(deconvs, decoder_input);
    let logits_nhwc = deconv_acts.last().expect("logits");
    let swapped;
    let logits: &[T] = if channels == 1 {
        logits_nhwc
    } else {
        swapped = swap_inner(logits_nhwc, batch, side * side, channels);
        &swapped
    };
    let reconstruction = bce_forward(batch, logits, images)
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
        let layers = vec![
            dense(&g.classifier.hidden, batch, Activation::Relu)?,
            dense(&g.classifier.out, batch, Activation::Identity)?,
        ];
        let classes = layers[1].op.outputs;
        let (layers, acts) = chain(layers, zc);
        let out = acts.last().expect("class logits");
        let mut dlogits = vec![T::zero(); batch * classes];
        let mut ce = 0.0;
        let scale = g.alpha * inv_batch;
        for (b, (row, drow)) in out
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
        let dzc = chain_back(layers, &acts, dlogits, true, &mut grads).expect("input gradient");
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
    let dlogits = bce_backward(batch, logits, images, &per_image);
    let dlogits = if channels == 1 {
        dlogits
    } else {
        swap_inner(&dlogits, batch, channels, side * side)
    };
    let grad =
        chain_back(deconvs, &deconv_acts, dlogits, true, &mut grads).expect("input gradient");
    let dd3 = swap_inner(&grad, batch, pixels, cc);
    let dz_decoder = chain_back(dfcs, &dfc_acts, dd3, true, &mut grads).expect("input gradient");
    for (d, v) in dz.iter_mut().zip(dz_decoder) {
        *d += v;
    }

    // Through the reparameterisation and the KL term to the head's output.
    let beta_scale = T::from_f64(beta * inv_batch);
    let mut dhead = vec![T::zero(); batch * 2 * latent];
    for b in 0..batch {
        for j in 0..latent {
            let mean = head[b * 2 * latent + j];
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
    let dfeatures = chain_back(fcs, &fc_acts, dhead, true, &mut grads).expect("input gradient");
    let grad = swap_inner(&dfeatures, batch, cc, pixels);
    let _ = chain_back(convs, &conv_acts, grad, false, &mut grads);
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
    fn graph_free_encoder_matches_candle_builtin_layers() {
        let cfg = VaeConfig::default();
        let varmap = VarMap::new();
        let vae = crate::vae::Vae::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        seeded_init(&varmap, 4).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let pixels: Vec<f32> = (0..7 * 32 * 32).map(|_| rng.random()).collect();
        let x = Tensor::from_vec(pixels.clone(), (7, 1, 32, 32), &Device::Cpu).unwrap();
        let expected: Vec<f32> = vae
            .encoder
            .forward_builtin(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let got = super::encode::<f32>(&vae, &pixels, 7).unwrap();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{g} vs {e}");
        }
    }

    #[test]
    fn hand_differentiated_step_matches_autograd_at_full_size_in_f32() {
        check::<f32>(&SplitConfig::default(), DType::F32, 16, 1e-3);
    }
}
