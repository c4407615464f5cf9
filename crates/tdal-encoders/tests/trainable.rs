//! The pluggable training parts: the per-variable initialisation policy, the BatchNorm
//! building block (train/eval switch, running statistics, gradients), and the default
//! autograd step and generic loop on a small CNN that implements only the required
//! methods of `Trainable`.

mod common;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap};
use common::{fashion_train, random, values};
use ndarray::{Array4, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_encoders::trainable::trainable_vars;
use tdal_encoders::{
    Batches, ConvBnRelu, FitConfig, Init, InitPolicy, Loss, Position, Result, Trainable,
    batch_norm, fit, seeded_init, seeded_init_with,
};

fn named(varmap: &VarMap, name: &str) -> Vec<f64> {
    values(varmap.data().lock().unwrap()[name].as_tensor())
}

// ---------------------------------------------------------------------------------------
// Initialisation policy

#[test]
fn init_policy_gives_batch_norm_its_constants_and_leaves_other_draws_unchanged() {
    let with_bn = VarMap::new();
    let vb = VarBuilder::from_varmap(&with_bn, DType::F32, &Device::Cpu);
    ConvBnRelu::new(3, 4, vb.pp("block")).unwrap();
    candle_nn::linear(5, 6, vb.pp("fc")).unwrap();
    seeded_init(&with_bn, 7).unwrap();

    // The same layers without the normalisation.
    let alone = VarMap::new();
    let vb = VarBuilder::from_varmap(&alone, DType::F32, &Device::Cpu);
    let conv = candle_nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    candle_nn::conv2d_no_bias(3, 4, 3, conv, vb.pp("block.conv")).unwrap();
    candle_nn::linear(5, 6, vb.pp("fc")).unwrap();
    seeded_init(&alone, 7).unwrap();

    // BatchNorm: scale 1, shift 0, running mean 0, running variance 1 (PyTorch's).
    assert_eq!(named(&with_bn, "block.bn.weight"), vec![1.0; 4]);
    assert_eq!(named(&with_bn, "block.bn.bias"), vec![0.0; 4]);
    assert_eq!(named(&with_bn, "block.bn.running_mean"), vec![0.0; 4]);
    assert_eq!(named(&with_bn, "block.bn.running_var"), vec![1.0; 4]);
    // The convolution keeps U(±1/√fan_in), fan_in = 3 · 3 · 3.
    let conv = named(&with_bn, "block.conv.weight");
    let bound = 1.0 / 27.0_f64.sqrt();
    assert_eq!(conv.len(), 4 * 27);
    assert!(conv.iter().all(|v| v.abs() <= bound));
    assert!(conv.iter().any(|v| v.abs() > 0.5 * bound));
    // Constants draw nothing, so the other layers get the numbers they get without it.
    for name in ["block.conv.weight", "fc.weight", "fc.bias"] {
        assert_eq!(named(&with_bn, name), named(&alone, name), "{name}");
    }

    // Explicit overrides win over the role.
    let policy = InitPolicy::new()
        .with("fc.bias", Init::Const(0.5))
        .with("block.bn.weight", Init::Const(2.0));
    seeded_init_with(&with_bn, 7, &policy).unwrap();
    assert_eq!(named(&with_bn, "fc.bias"), vec![0.5; 6]);
    assert_eq!(named(&with_bn, "block.bn.weight"), vec![2.0; 4]);
    assert_eq!(named(&with_bn, "block.bn.bias"), vec![0.0; 4]);
    let exists = |_: &str| false;
    assert_eq!(policy.init_of("head.weight", &exists), Init::UniformFanIn);

    // Running statistics are buffers: not trained.
    let trained: Vec<usize> = trainable_vars(&with_bn)
        .unwrap()
        .iter()
        .map(|v| v.as_tensor().elem_count())
        .collect();
    // block.bn.bias, block.bn.weight, block.conv.weight, fc.bias, fc.weight (name order).
    assert_eq!(trained, vec![4, 4, 4 * 27, 6, 30]);
}

// ---------------------------------------------------------------------------------------
// BatchNorm

/// A BatchNorm over 2 channels in f64 with scale [2, 0.5] and shift [0.1, −0.3].
fn bn_fixture() -> (VarMap, tdal_encoders::BatchNorm) {
    let varmap = VarMap::new();
    let bn = batch_norm(
        2,
        VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu).pp("bn"),
    )
    .unwrap();
    seeded_init(&varmap, 1).unwrap();
    let vars = varmap.data().lock().unwrap();
    vars["bn.weight"]
        .set(&Tensor::new(&[2.0_f64, 0.5], &Device::Cpu).unwrap())
        .unwrap();
    vars["bn.bias"]
        .set(&Tensor::new(&[0.1_f64, -0.3], &Device::Cpu).unwrap())
        .unwrap();
    drop(vars);
    (varmap, bn)
}

/// Per-channel (mean, biased variance) of `[B, C, H, W]` values.
fn channel_stats(x: &[f64], (b, c, hw): (usize, usize, usize)) -> Vec<(f64, f64)> {
    (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..b)
                .flat_map(|n| x[(n * c + ch) * hw..(n * c + ch + 1) * hw].iter().copied())
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
            (mean, var)
        })
        .collect()
}

#[test]
fn batch_norm_uses_batch_statistics_in_train_mode_and_running_ones_in_eval_mode() {
    let (varmap, bn) = bn_fixture();
    let (b, c, hw) = (4, 2, 9);
    let x = random(&[b, c, 3, 3], 5, DType::F64)
        .affine(3.0, 1.0)
        .unwrap();
    let xv = values(&x);
    let stats = channel_stats(&xv, (b, c, hw));
    let (w, shift, eps) = ([2.0, 0.5], [0.1, -0.3], 1e-5);
    let m = (b * hw) as f64;

    let y = values(&bn.forward_t(&x, true).unwrap());
    for (i, (&yi, &xi)) in y.iter().zip(&xv).enumerate() {
        let ch = (i / hw) % c;
        let (mean, var) = stats[ch];
        let expected = (xi - mean) / (var + eps).sqrt() * w[ch] + shift[ch];
        assert!((yi - expected).abs() < 1e-10, "{i}: {yi} vs {expected}");
    }
    // Running statistics move by momentum 0.1 towards the batch mean and the unbiased
    // variance.
    let running_mean = named(&varmap, "bn.running_mean");
    let running_var = named(&varmap, "bn.running_var");
    for ch in 0..c {
        let (mean, var) = stats[ch];
        assert!((running_mean[ch] - 0.1 * mean).abs() < 1e-12);
        assert!((running_var[ch] - (0.9 + 0.1 * var * m / (m - 1.0))).abs() < 1e-12);
    }
    // Twice: momentum compounds.
    bn.forward_t(&x, true).unwrap();
    let twice = named(&varmap, "bn.running_mean");
    for ch in 0..c {
        assert!((twice[ch] - (0.9 * 0.1 + 0.1) * stats[ch].0).abs() < 1e-12);
    }

    // Eval mode: the running statistics, which it leaves alone.
    let running_var = named(&varmap, "bn.running_var");
    let y = values(&bn.forward_t(&x, false).unwrap());
    for (i, (&yi, &xi)) in y.iter().zip(&xv).enumerate() {
        let ch = (i / hw) % c;
        let expected = (xi - twice[ch]) / (running_var[ch] + eps).sqrt() * w[ch] + shift[ch];
        assert!((yi - expected).abs() < 1e-10, "{i}: {yi} vs {expected}");
    }
    assert_eq!(named(&varmap, "bn.running_mean"), twice);
    assert_eq!(named(&varmap, "bn.running_var"), running_var);
}

/// Central differences of `loss_of` at every entry of `var` against `analytic`.
fn check_against_finite_differences(
    var: &Var,
    analytic: &[f64],
    loss_of: &dyn Fn() -> f64,
    what: &str,
) {
    let original = values(var.as_tensor());
    assert_eq!(original.len(), analytic.len(), "{what}");
    let h = 1e-6;
    for i in 0..original.len() {
        let eval = |delta: f64| {
            let mut v = original.clone();
            v[i] += delta;
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            loss_of()
        };
        let numeric = (eval(h) - eval(-h)) / (2.0 * h);
        var.set(&Tensor::from_vec(original.clone(), var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let tolerance = 1e-7 + 1e-5 * numeric.abs().max(analytic[i].abs());
        assert!(
            (numeric - analytic[i]).abs() <= tolerance,
            "{what}[{i}]: finite difference {numeric} vs autograd {}",
            analytic[i]
        );
    }
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    let (varmap, bn) = bn_fixture();
    let x = Var::from_tensor(&random(&[3, 2, 2, 2], 8, DType::F64)).unwrap();
    let r = random(&[3, 2, 2, 2], 9, DType::F64);
    // A loss that depends on the batch statistics non-trivially.
    let loss_of = || {
        let y = bn.forward_t(x.as_tensor(), true).unwrap();
        let linear = y.mul(&r).unwrap().sum_all().unwrap();
        let quadratic = y.sqr().unwrap().mul(&r).unwrap().sum_all().unwrap();
        (linear + quadratic).unwrap()
    };
    let loss = loss_of();
    let grads = loss.backward().unwrap();
    let scalar = || loss_of().to_scalar::<f64>().unwrap();
    let dx = values(grads.get(x.as_tensor()).unwrap());
    check_against_finite_differences(&x, &dx, &scalar, "x");
    let vars = varmap.data().lock().unwrap().clone();
    for name in ["bn.weight", "bn.bias"] {
        let var = &vars[name];
        let g = values(grads.get(var.as_tensor()).unwrap());
        check_against_finite_differences(var, &g, &scalar, name);
    }
    // No gradient flows into the running statistics.
    assert!(grads.get(vars["bn.running_mean"].as_tensor()).is_none());
    assert!(grads.get(vars["bn.running_var"].as_tensor()).is_none());
}

// ---------------------------------------------------------------------------------------
// A model with only the required methods: conv 3×3 + BatchNorm + ReLU, 4×4 average
// pooling, a linear classifier, cross-entropy.

struct SmallCnn {
    varmap: VarMap,
    block: ConvBnRelu,
    head: Linear,
    pool: usize,
}

impl SmallCnn {
    fn new(side: usize, channels: usize, classes: usize, dtype: DType, seed: u64) -> Self {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
        let pool = 4;
        let features = channels * (side / pool) * (side / pool);
        let block = ConvBnRelu::new(1, channels, vb.pp("block")).unwrap();
        let head = candle_nn::linear(features, classes, vb.pp("head")).unwrap();
        seeded_init(&varmap, seed).unwrap();
        Self {
            varmap,
            block,
            head,
            pool,
        }
    }

    fn logits(&self, images: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.block
            .forward_t(images, train)?
            .avg_pool2d(self.pool)?
            .flatten_from(1)?
            .apply(&self.head)
    }

    fn weights(&self) -> Vec<(String, Vec<f64>)> {
        let vars = self.varmap.data().lock().unwrap();
        let mut out: Vec<_> = vars
            .iter()
            .map(|(n, v)| (n.clone(), values(v.as_tensor())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Images `[B, 1, S, S]` and their labels `[B]`.
struct Labelled {
    images: Tensor,
    labels: Tensor,
}

impl Trainable for SmallCnn {
    type Batch = Labelled;
    type Stats = f64;

    fn trainable_vars(&self) -> Result<Vec<Var>> {
        trainable_vars(&self.varmap)
    }

    fn loss(&self, batch: &Labelled) -> Result<Loss<f64>> {
        let logits = self.logits(&batch.images, true)?;
        let value = candle_nn::loss::cross_entropy(&logits, &batch.labels)?;
        let stats = value.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        Ok(Loss { value, stats })
    }
}

struct Fixture {
    images: Array4<f32>,
    labels: Vec<u32>,
}

impl Batches<SmallCnn> for Fixture {
    fn examples(&self) -> usize {
        self.labels.len()
    }

    fn batch(&mut self, indices: &[usize], _: Position, _: &mut ChaCha8Rng) -> Result<Labelled> {
        let (_, c, h, w) = self.images.dim();
        let pixels: Vec<f32> = indices
            .iter()
            .flat_map(|&i| {
                self.images
                    .slice(s![i, .., .., ..])
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        let labels: Vec<u32> = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(Labelled {
            images: Tensor::from_vec(pixels, (indices.len(), c, h, w), &Device::Cpu)?,
            labels: Tensor::from_vec(labels, indices.len(), &Device::Cpu)?,
        })
    }
}

fn fixture(n: usize) -> Fixture {
    let set = fashion_train();
    Fixture {
        images: set.images.slice_move(s![..n, .., .., ..]),
        labels: set.labels[..n].to_vec(),
    }
}

/// Eval-mode cross-entropy of the whole fixture.
fn eval_loss(model: &SmallCnn, data: &mut Fixture) -> f64 {
    let all: Vec<usize> = (0..data.examples()).collect();
    let at = Position {
        epoch: 0,
        batch: 0,
        batches: 1,
        step: 0,
    };
    let batch = data
        .batch(&all, at, &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    let logits = model.logits(&batch.images, false).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &batch.labels).unwrap();
    f64::from(loss.to_scalar::<f32>().unwrap())
}

#[test]
fn a_model_with_only_the_required_methods_trains_through_fit() {
    let mut data = fixture(200);
    let run = FitConfig {
        epochs: 6,
        batch_size: 25,
        learning_rate: 1e-2,
        seed: 3,
    };
    let mut model = SmallCnn::new(28, 4, 10, DType::F32, 1);
    let mut calls = Vec::new();
    // Eval mode before training uses the initial running statistics (0 and 1).
    let before = eval_loss(&model, &mut data);
    let log = fit(
        &mut model,
        &mut data,
        &run,
        Some(&mut |done, total| calls.push((done, total))),
    )
    .unwrap();
    let expected: Vec<(usize, usize)> = (1..=48).map(|d| (d, 48)).collect();
    assert_eq!(calls, expected);
    assert_eq!(log.len(), 6);
    assert!(
        log.iter()
            .all(|e| e.steps.len() == 8 && e.interleaved.is_empty())
    );
    let epoch_mean = |e: usize| log[e].steps.iter().sum::<f64>() / 8.0;
    let (first, last) = (epoch_mean(0), epoch_mean(5));
    assert!(
        last < 0.8 * first,
        "training cross-entropy {first:.3} → {last:.3}"
    );
    // The running statistics were updated, and eval mode (which uses them) improved too.
    assert!(named(&model.varmap, "block.bn.running_var") != vec![1.0; 4]);
    let after = eval_loss(&model, &mut data);
    assert!(
        after < 0.8 * before,
        "eval cross-entropy {before:.3} → {after:.3}"
    );

    // Same seeds ⇒ same weights (running statistics included); another seed differs.
    let trained = |seed: u64| {
        let mut model = SmallCnn::new(28, 4, 10, DType::F32, 1);
        let run = FitConfig {
            epochs: 1,
            seed,
            ..run
        };
        fit(&mut model, &mut fixture(100), &run, None).unwrap();
        model.weights()
    };
    let a = trained(5);
    assert_eq!(a, trained(5));
    assert_ne!(a, trained(6));
}

#[test]
fn autograd_gradient_of_the_small_cnn_matches_finite_differences() {
    let model = SmallCnn::new(4, 2, 3, DType::F64, 4);
    // Move the BatchNorm's scale and shift off their constants so they matter.
    let vars = model.varmap.data().lock().unwrap().clone();
    vars["block.bn.weight"]
        .set(&Tensor::new(&[1.5_f64, 0.7], &Device::Cpu).unwrap())
        .unwrap();
    vars["block.bn.bias"]
        .set(&Tensor::new(&[0.2_f64, -0.1], &Device::Cpu).unwrap())
        .unwrap();
    let batch = Labelled {
        images: random(&[3, 1, 4, 4], 11, DType::F64),
        labels: Tensor::new(&[0_u32, 2, 1], &Device::Cpu).unwrap(),
    };
    let loss = model.loss(&batch).unwrap();
    assert!((loss.stats - loss.value.to_scalar::<f64>().unwrap()).abs() < 1e-15);
    let grads = loss.value.backward().unwrap();
    let scalar = || model.loss(&batch).unwrap().stats;
    let trainable = model.trainable_vars().unwrap();
    assert_eq!(trainable.len(), 5);
    for (name, var) in &vars {
        let grad = grads.get(var.as_tensor());
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            assert!(grad.is_none(), "{name}");
            continue;
        }
        let g = values(grad.unwrap_or_else(|| panic!("no gradient for {name}")));
        check_against_finite_differences(var, &g, &scalar, name);
    }
}

#[test]
fn default_step_is_one_adam_update_of_the_autograd_gradient() {
    // f64 variables take candle-nn's AdamW (weight decay 0): its first update moves every
    // parameter with a non-zero gradient by −lr · sign(g) (up to ε).
    let mut model = SmallCnn::new(4, 2, 3, DType::F64, 4);
    let batch = Labelled {
        images: random(&[3, 1, 4, 4], 11, DType::F64),
        labels: Tensor::new(&[0_u32, 2, 1], &Device::Cpu).unwrap(),
    };
    let before = model.weights();
    let grads = model.loss(&batch).unwrap().value.backward().unwrap();
    let vars = model.varmap.data().lock().unwrap().clone();
    let lr = 1e-3;
    let mut optimiser = model.optimiser(lr).unwrap();
    let stats = model.step(&mut optimiser, &batch).unwrap();
    assert!(stats.is_finite());
    for ((name, old), (_, new)) in before.iter().zip(&model.weights()) {
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        let g = values(grads.get(vars[name].as_tensor()).unwrap());
        for ((o, n), g) in old.iter().zip(new).zip(&g) {
            let expected = o - lr * g.signum() * (g.abs() / (g.abs() + 1e-8));
            assert!((n - expected).abs() < 1e-12, "{name}: {o} → {n}, g = {g}");
        }
    }
}
