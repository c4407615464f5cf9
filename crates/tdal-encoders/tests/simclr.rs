//! SimCLR and TD-FT networks: the fused batch normalisation against candle's and finite
//! differences, the fused backbone against candle's own layers, parameter counts against
//! the architectures' closed forms and published totals, and the training functions
//! (contrastive loss goes down, fine-tuning teaches the guidance classifier, every
//! fine-tune starts from the pretrained weights).

mod common;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{BatchNorm, VarBuilder, VarMap};
use common::{mnist_train, random, values};
use ndarray::{Array4, Axis};
use tdal_encoders::backbone::{Network, parameter_count};
use tdal_encoders::ops::{Activation, BnStats, batch_norm_nhwc, conv_bn_nhwc, conv2d_nhwc};
use tdal_encoders::simclr::RunReport;
use tdal_encoders::{
    Backbone, DeviceChoice, Embedder, FineTuneConfig, FineTuneModel, FineTuneTrainConfig,
    PretrainConfig, SimclrConfig, SimclrModel, fine_tune, init::is_buffer, pretrain, seeded_init,
};

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------------------
// The fused batch normalisation

#[test]
fn fused_batch_norm_matches_candle_in_train_and_eval_mode() {
    let x = random(&[4, 5, 6, 3], 1, DType::F64); // [B, H, W, C]
    let gamma = (random(&[3], 2, DType::F64) + 1.5).unwrap();
    let beta = random(&[3], 3, DType::F64);
    let bn = BatchNorm::new(
        3,
        Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap(),
        Tensor::ones(3, DType::F64, &Device::Cpu).unwrap(),
        gamma.clone(),
        beta.clone(),
        1e-5,
    )
    .unwrap();
    let nchw = x.permute((0, 3, 1, 2)).unwrap();
    for relu in [false, true] {
        let activation = if relu {
            Activation::Relu
        } else {
            Activation::Identity
        };
        let expected = bn.forward_t(&nchw, true).unwrap();
        let expected = if relu {
            expected.relu().unwrap()
        } else {
            expected
        };
        let (ours, stats) = batch_norm_nhwc(&x, &gamma, &beta, 1e-5, activation, None).unwrap();
        let ours = ours.permute((0, 3, 1, 2)).unwrap();
        assert!(max_abs_diff(&values(&ours), &values(&expected)) < 1e-10);
        // The statistics it reports are the batch's mean and biased variance.
        let stats = stats.get().unwrap();
        let flat = x.reshape((120, 3)).unwrap();
        let mean = values(&flat.mean(0).unwrap());
        let var = values(
            &flat
                .broadcast_sub(&flat.mean_keepdim(0).unwrap())
                .unwrap()
                .sqr()
                .unwrap()
                .mean(0)
                .unwrap(),
        );
        assert!(max_abs_diff(&stats.mean, &mean) < 1e-12);
        assert!(max_abs_diff(&stats.var, &var) < 1e-12);
    }
    // Eval mode: the given statistics.
    let running = BnStats {
        mean: vec![0.1, -0.2, 0.3],
        var: vec![0.5, 2.0, 1.0],
    };
    let bn_eval = BatchNorm::new(
        3,
        Tensor::new(&[0.1, -0.2, 0.3], &Device::Cpu).unwrap(),
        Tensor::new(&[0.5, 2.0, 1.0], &Device::Cpu).unwrap(),
        gamma.clone(),
        beta.clone(),
        1e-5,
    )
    .unwrap();
    let expected = bn_eval.forward_t(&nchw, false).unwrap();
    let (ours, _) =
        batch_norm_nhwc(&x, &gamma, &beta, 1e-5, Activation::Identity, Some(running)).unwrap();
    let ours = ours.permute((0, 3, 1, 2)).unwrap();
    assert!(max_abs_diff(&values(&ours), &values(&expected)) < 1e-10);
}

/// Central differences of `f` at every entry of `x`.
fn numeric_grad(x: &[f64], f: &dyn Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut up = x.to_vec();
            let mut down = x.to_vec();
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

#[test]
fn fused_batch_norm_gradients_match_finite_differences() {
    let shape = [3, 2, 4, 3];
    let weights = random(&shape, 9, DType::F64);
    for (frozen, activation) in [
        (false, Activation::Identity),
        (false, Activation::Relu),
        (true, Activation::Relu),
    ] {
        let stats = frozen.then(|| BnStats {
            mean: vec![0.2, -0.1, 0.0],
            var: vec![0.7, 1.3, 0.4],
        });
        let loss = |x: &Tensor, g: &Tensor, b: &Tensor| -> Tensor {
            let (y, _) = batch_norm_nhwc(x, g, b, 1e-5, activation, stats.clone()).unwrap();
            (y * &weights).unwrap().sum_all().unwrap()
        };
        let x0 = values(&random(&shape, 4, DType::F64));
        let g0 = vec![0.9, 1.4, -0.6];
        let b0 = vec![0.1, -0.3, 0.2];
        let t = |v: &[f64], s: &[usize]| Tensor::from_vec(v.to_vec(), s, &Device::Cpu).unwrap();
        let (xv, gv, bv) = (
            Var::from_tensor(&t(&x0, &shape)).unwrap(),
            Var::from_tensor(&t(&g0, &[3])).unwrap(),
            Var::from_tensor(&t(&b0, &[3])).unwrap(),
        );
        let grads = loss(xv.as_tensor(), gv.as_tensor(), bv.as_tensor())
            .backward()
            .unwrap();
        let scalar = |x: &[f64], g: &[f64], b: &[f64]| {
            loss(&t(x, &shape), &t(g, &[3]), &t(b, &[3]))
                .to_scalar::<f64>()
                .unwrap()
        };
        let dx = numeric_grad(&x0, &|x| scalar(x, &g0, &b0));
        let dg = numeric_grad(&g0, &|g| scalar(&x0, g, &b0));
        let db = numeric_grad(&b0, &|b| scalar(&x0, &g0, b));
        let what = format!("frozen {frozen}, {activation:?}");
        assert!(
            max_abs_diff(&values(grads.get(&xv).unwrap()), &dx) < 1e-6,
            "dx, {what}"
        );
        assert!(
            max_abs_diff(&values(grads.get(&gv).unwrap()), &dg) < 1e-6,
            "dγ, {what}"
        );
        assert!(
            max_abs_diff(&values(grads.get(&bv).unwrap()), &db) < 1e-6,
            "dβ, {what}"
        );
    }
}

#[test]
fn fused_conv_bn_equals_a_convolution_then_a_batch_norm() {
    let x = Var::from_tensor(&random(&[2, 7, 7, 3], 21, DType::F64)).unwrap();
    let w = Var::from_tensor(&random(&[4, 3, 3, 3], 22, DType::F64)).unwrap();
    let g = Var::from_tensor(&(random(&[4], 23, DType::F64) + 1.2).unwrap()).unwrap();
    let b = Var::from_tensor(&random(&[4], 24, DType::F64)).unwrap();
    let r = random(&[2, 4, 4, 4], 25, DType::F64);
    for (stride, activation) in [(2, Activation::Relu), (1, Activation::Identity)] {
        let r = if stride == 2 {
            r.clone()
        } else {
            random(&[2, 7, 7, 4], 26, DType::F64)
        };
        let zero = Tensor::zeros(4, DType::F64, &Device::Cpu).unwrap();
        let conv = conv2d_nhwc(&x, &w, &zero, stride, 1, Activation::Identity).unwrap();
        let (two, _) = batch_norm_nhwc(&conv, &g, &b, 1e-5, activation, None).unwrap();
        let (one, stats) =
            conv_bn_nhwc(&x, &w, (&g, &b), stride, 1, 1e-5, activation, None).unwrap();
        assert!(max_abs_diff(&values(&one), &values(&two)) < 1e-12);
        assert!(stats.get().is_some());
        let grads_two = (two * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let grads_one = (one * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, var) in [("x", &x), ("weight", &w), ("gamma", &g), ("beta", &b)] {
            let diff = max_abs_diff(
                &values(grads_one.get(var).unwrap()),
                &values(grads_two.get(var).unwrap()),
            );
            assert!(diff < 1e-10, "gradient of {name}: {diff}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Backbones

#[test]
fn parameter_counts_match_the_closed_form_and_published_totals() {
    for kind in [Backbone::SmallCnn, Backbone::ResNet18, Backbone::ResNet50] {
        for channels in [1, 3] {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            Network::new(kind, channels, vb).unwrap();
            let count: usize = varmap
                .data()
                .lock()
                .unwrap()
                .iter()
                .filter(|(name, _)| !is_buffer(name))
                .map(|(_, v)| v.elem_count())
                .sum();
            assert_eq!(
                count,
                parameter_count(kind, channels),
                "{kind:?}, {channels} channels"
            );
        }
    }
    // Hand count of the small CNN; torchvision's ResNet-18 / ResNet-50 without the final
    // layer (11,176,512 / 23,508,032) with the 7 × 7 × 3 × 64 stem (9,408) replaced by
    // the CIFAR 3 × 3 × 3 × 64 one (1,728).
    assert_eq!(
        parameter_count(Backbone::SmallCnn, 1),
        (9 * 32 + 64) + (9 * 32 * 64 + 128) + (9 * 64 * 128 + 256) + (9 * 128 * 256 + 512)
    );
    assert_eq!(
        parameter_count(Backbone::ResNet18, 3),
        11_176_512 - 9_408 + 1_728
    );
    assert_eq!(
        parameter_count(Backbone::ResNet50, 3),
        23_508_032 - 9_408 + 1_728
    );
}

/// The same network in f64 (candle's channels-first layers) and in f32 (the fused
/// channels-last ops) from the same weights.
fn paired_networks(kind: Backbone, channels: usize) -> (Network, VarMap, Network, VarMap) {
    let reference_vars = VarMap::new();
    let reference = Network::new(
        kind,
        channels,
        VarBuilder::from_varmap(&reference_vars, DType::F64, &Device::Cpu),
    )
    .unwrap();
    seeded_init(&reference_vars, 5).unwrap();
    let fused_vars = VarMap::new();
    let fused = Network::new(
        kind,
        channels,
        VarBuilder::from_varmap(&fused_vars, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let source = reference_vars.data().lock().unwrap();
    for (name, var) in fused_vars.data().lock().unwrap().iter() {
        var.set(&source[name].as_tensor().to_dtype(DType::F32).unwrap())
            .unwrap();
    }
    drop(source);
    (reference, reference_vars, fused, fused_vars)
}

#[test]
fn the_fused_backbone_computes_what_candles_layers_compute() {
    for (kind, side) in [
        (Backbone::SmallCnn, 16),
        (Backbone::ResNet18, 16),
        (Backbone::ResNet50, 16),
    ] {
        let (reference, reference_vars, fused, fused_vars) = paired_networks(kind, 3);
        let images = (random(&[3, 3, side, side], 11, DType::F64).abs().unwrap()).clone();
        // Train mode: batch statistics, and the running statistics move alike.
        let expected = reference.forward_t(&images, true).unwrap();
        let ours = fused
            .forward_t(&images.to_dtype(DType::F32).unwrap(), true)
            .unwrap();
        let diff = max_abs_diff(&values(&ours), &values(&expected));
        // f32 against f64 through up to 17 normalised layers: relative to the features.
        let scale = values(&expected)
            .iter()
            .map(|v| v.abs())
            .fold(1.0, f64::max);
        assert!(diff / scale < 1e-3, "{kind:?} train: {diff}");
        let running = |vars: &VarMap| {
            let data = vars.data().lock().unwrap();
            let mut names: Vec<&String> = data.keys().filter(|n| is_buffer(n)).collect();
            names.sort();
            names
                .into_iter()
                .flat_map(|n| values(data[n].as_tensor()))
                .collect::<Vec<f64>>()
        };
        assert!(max_abs_diff(&running(&fused_vars), &running(&reference_vars)) < 1e-3);
        // Eval mode: the running statistics.
        let expected = reference.forward_t(&images, false).unwrap();
        let ours = fused
            .forward_t(&images.to_dtype(DType::F32).unwrap(), false)
            .unwrap();
        let diff = max_abs_diff(&values(&ours), &values(&expected));
        assert!(diff / scale < 1e-3, "{kind:?} eval: {diff}");
        assert_eq!(ours.dims(), [3, kind.feature_dim()]);
    }
}

#[test]
fn the_fused_backbone_gradient_matches_candles() {
    let (reference, reference_vars, fused, fused_vars) = paired_networks(Backbone::SmallCnn, 1);
    let images = random(&[4, 1, 16, 16], 12, DType::F64).abs().unwrap();
    let head = random(&[256], 13, DType::F64);
    let loss_of = |features: Tensor, head: &Tensor| {
        features
            .broadcast_mul(head)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let expected = loss_of(reference.forward_t(&images, true).unwrap(), &head)
        .backward()
        .unwrap();
    let ours = loss_of(
        fused
            .forward_t(&images.to_dtype(DType::F32).unwrap(), true)
            .unwrap(),
        &head.to_dtype(DType::F32).unwrap(),
    )
    .backward()
    .unwrap();
    let reference_data = reference_vars.data().lock().unwrap();
    for (name, var) in fused_vars.data().lock().unwrap().iter() {
        if is_buffer(name) {
            continue;
        }
        let g_ref = values(expected.get(&reference_data[name]).unwrap());
        let g_ours = values(ours.get(var).unwrap());
        let scale = g_ref.iter().map(|v| v.abs()).fold(1e-3, f64::max);
        assert!(
            max_abs_diff(&g_ours, &g_ref) / scale < 1e-3,
            "gradient of {name}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Training

fn digits(classes: u8, per_class: usize) -> (Array4<f32>, Vec<u32>) {
    let set = mnist_train();
    let mut chosen = Vec::new();
    let mut labels = Vec::new();
    for class in 0..classes {
        let members: Vec<usize> = (0..set.labels.len())
            .filter(|&i| set.labels[i] == u32::from(class))
            .take(per_class)
            .collect();
        labels.extend(std::iter::repeat_n(u32::from(class), members.len()));
        chosen.extend(members);
    }
    (set.images.select(Axis(0), &chosen), labels)
}

fn tiny_pretrain(epochs: usize) -> PretrainConfig {
    // A few steps only: a rate far above the paper's so that they move the weights.
    PretrainConfig {
        epochs,
        batch_size: 32,
        learning_rate: 20.0,
        warmup_fraction: 0.1,
        seed: 3,
        ..PretrainConfig::default()
    }
}

#[test]
fn pretraining_lowers_the_contrastive_loss_and_is_seeded() {
    let (images, _) = digits(4, 24);
    let cfg = SimclrConfig::default();
    let run = || -> (RunReport, Vec<f64>) {
        let mut model = SimclrModel::new(&cfg, 1, DeviceChoice::Cpu).unwrap();
        let report = pretrain(&mut model, images.view(), &tiny_pretrain(6), None).unwrap();
        let z = model.embed(images.view()).unwrap();
        (report, z.iter().map(|&v| f64::from(v)).collect())
    };
    let (report, z) = run();
    assert_eq!(report.steps, 6 * 3);
    let (first, last) = (report.epoch_losses[0], *report.epoch_losses.last().unwrap());
    assert!(last < first, "NT-Xent went from {first} to {last}");
    assert!(z.iter().all(|v| v.is_finite()));
    assert_eq!(run().1, z, "same seed, same encoder");
}

#[test]
fn fine_tuning_teaches_the_guidance_classifier() {
    let (images, labels) = digits(3, 30);
    let pretrained = SimclrModel::new(&SimclrConfig::default(), 1, DeviceChoice::Cpu).unwrap();
    let cfg = FineTuneConfig {
        simclr: SimclrConfig::default(),
        hidden_dim: 32,
        classes: 3,
    };
    let mut model = FineTuneModel::from_pretrained(&pretrained, &cfg, 2).unwrap();
    let before = model.accuracy(images.view(), &labels).unwrap();
    let train = FineTuneTrainConfig {
        epochs: 1,
        min_steps: 200,
        batch_size: 30,
        learning_rate: 1.0,
        seed: 4,
        ..FineTuneTrainConfig::default()
    };
    let report = fine_tune(&mut model, images.view(), &labels, &train, None).unwrap();
    let after = model.accuracy(images.view(), &labels).unwrap();
    assert!(report.steps >= 200);
    assert!(
        after > before + 0.3 && after >= 0.7,
        "accuracy {before} → {after}, losses {:?}",
        report.epoch_losses
    );
    assert_eq!(model.embed(images.view()).unwrap().dim(), (90, 256));
}

#[test]
fn every_fine_tune_starts_from_the_pretrained_weights() {
    let (images, labels) = digits(2, 10);
    let pretrained = SimclrModel::new(&SimclrConfig::default(), 1, DeviceChoice::Cpu).unwrap();
    let cfg = FineTuneConfig {
        simclr: SimclrConfig::default(),
        hidden_dim: 16,
        classes: 2,
    };
    let train = FineTuneTrainConfig {
        epochs: 1,
        min_steps: 3,
        batch_size: 8,
        ..FineTuneTrainConfig::default()
    };
    let weights = |model: &FineTuneModel| {
        let data = model.varmap().data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|n| values(data[n].as_tensor()))
            .collect::<Vec<f64>>()
    };
    let update = || {
        let mut model = FineTuneModel::from_pretrained(&pretrained, &cfg, 7).unwrap();
        fine_tune(&mut model, images.view(), &labels, &train, None).unwrap();
        model
    };
    let first = update();
    let second = update();
    assert_eq!(weights(&first), weights(&second));
    // The pretrained model itself is untouched by fine-tuning its copy.
    let fresh = SimclrModel::new(&SimclrConfig::default(), 1, DeviceChoice::Cpu).unwrap();
    assert_eq!(
        pretrained.embed(images.view()).unwrap(),
        fresh.embed(images.view()).unwrap()
    );
    // Checkpoints round-trip.
    let dir = tempfile::tempdir().unwrap();
    first.save(dir.path()).unwrap();
    let loaded = FineTuneModel::load(dir.path(), DeviceChoice::Cpu).unwrap();
    assert_eq!(
        loaded.embed(images.view()).unwrap(),
        first.embed(images.view()).unwrap()
    );
    pretrained.save(&dir.path().join("simclr")).unwrap();
    let loaded = SimclrModel::load(&dir.path().join("simclr"), DeviceChoice::Cpu).unwrap();
    assert_eq!(
        loaded.embed(images.view()).unwrap(),
        pretrained.embed(images.view()).unwrap()
    );
}

#[test]
fn bad_inputs_are_errors_naming_the_problem() {
    let pretrained = SimclrModel::new(&SimclrConfig::default(), 1, DeviceChoice::Cpu).unwrap();
    let rgb = Array4::<f32>::zeros((2, 3, 28, 28));
    let err = pretrained.embed(rgb.view()).unwrap_err().to_string();
    assert!(err.contains("expected images [N, 1"), "{err}");
    let big = Array4::<f32>::zeros((2, 1, 40, 40));
    assert!(pretrained.embed(big.view()).is_err());
    let cfg = FineTuneConfig {
        simclr: SimclrConfig::default(),
        hidden_dim: 8,
        classes: 2,
    };
    let mut model = FineTuneModel::from_pretrained(&pretrained, &cfg, 0).unwrap();
    let images = Array4::<f32>::zeros((2, 1, 28, 28));
    let train = FineTuneTrainConfig::default();
    let err = fine_tune(&mut model, images.view(), &[0, 5], &train, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels below 2"), "{err}");
    let err = fine_tune(&mut model, images.view(), &[0], &train, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one label per image"), "{err}");
    let other = FineTuneConfig {
        simclr: SimclrConfig {
            projection_dim: 64,
            ..SimclrConfig::default()
        },
        ..cfg
    };
    assert!(FineTuneModel::from_pretrained(&pretrained, &other, 0).is_err());
}
