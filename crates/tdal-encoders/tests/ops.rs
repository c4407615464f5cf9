//! The fused CPU ops of `tdal_encoders::ops` against candle's built-in layers: forward
//! values, and the gradients of every input against candle's autograd of the built-in
//! layers, over small random shapes (proptest); plus finite differences of the fused ops
//! themselves and the thread-count independence of the training step.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_encoders::bce_with_logits;
use tdal_encoders::ops::{
    Activation, bce_with_logits_sum, conv_transpose2d_nhwc, conv2d_nhwc, linear,
};

fn random(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn nhwc(x: &Tensor) -> Tensor {
    x.permute((0, 2, 3, 1)).unwrap().contiguous().unwrap()
}

fn nchw(x: &Tensor) -> Tensor {
    x.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

fn activate(y: Tensor, act: Activation) -> Tensor {
    match act {
        Activation::Relu => y.relu().unwrap(),
        Activation::Identity => y,
    }
}

/// Forward (f32, within 1e-4) and, with `grads`, all gradients (f64, within 1e-9) of a
/// fused 3-input op against a reference built from candle's layers; `fused` and `reference`
/// take channels-first inputs and return channels-first outputs.
fn check_op(
    shapes: [&[usize]; 3],
    seed: u64,
    grads: bool,
    fused: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    reference: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
) -> Result<(), TestCaseError> {
    let [a, b, c] = [0, 1, 2].map(|i| random(shapes[i], seed + i as u64, DType::F32));
    let diff = max_abs_diff(&fused(&a, &b, &c), &reference(&a, &b, &c));
    prop_assert!(diff <= 1e-4, "forward differs by {diff}");
    if !grads {
        return Ok(());
    }

    let vars = [0, 1, 2]
        .map(|i| Var::from_tensor(&random(shapes[i], seed + i as u64, DType::F64)).unwrap());
    let out_f = fused(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
    );
    let out_r = reference(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
    );
    let weights = random(out_f.dims(), seed + 9, DType::F64);
    let grads_f = (out_f * &weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grads_r = (out_r * &weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, var) in vars.iter().enumerate() {
        let gf = grads_f.get(var.as_tensor()).expect("fused gradient");
        let gr = grads_r.get(var.as_tensor()).expect("reference gradient");
        let diff = max_abs_diff(gf, gr);
        prop_assert!(diff <= 1e-9, "gradient of input {i} differs by {diff}");
    }
    Ok(())
}

fn act_strategy() -> impl Strategy<Value = Activation> {
    prop_oneof![Just(Activation::Identity), Just(Activation::Relu)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_nhwc_matches_candle_conv2d_and_its_autograd(
        batch in 1_usize..4, c_in in 1_usize..4, c_out in 1_usize..5, kernel in 1_usize..5,
        stride in 1_usize..4, pad in 0_usize..3, extra_h in 0_usize..6, extra_w in 0_usize..6,
        act in act_strategy(), seed in 0_u64..1000,
    ) {
        let padding = pad.min(kernel - 1);
        let (h, w) = (kernel + extra_h, kernel + extra_w);
        // candle's own conv2d backward fails when the last stride does not fit exactly
        // (no output padding in its input gradient), so gradients are compared on the
        // exact geometries (the finite-difference test covers a ragged one).
        let exact = (h + 2 * padding - kernel) % stride == 0 && (w + 2 * padding - kernel) % stride == 0;
        check_op(
            [&[batch, c_in, h, w], &[c_out, c_in, kernel, kernel], &[c_out]],
            seed,
            exact,
            &|x, k, b| nchw(&conv2d_nhwc(&nhwc(x), k, b, stride, padding, act).unwrap()),
            &|x, k, b| {
                let y = x.conv2d(k, padding, stride, 1, 1).unwrap();
                activate(y.broadcast_add(&b.reshape((1, c_out, 1, 1)).unwrap()).unwrap(), act)
            },
        )?;
    }

    #[test]
    fn conv_transpose2d_nhwc_matches_candle_conv_transpose2d_and_its_autograd(
        batch in 1_usize..4, c_in in 1_usize..4, c_out in 1_usize..5, kernel in 1_usize..5,
        stride in 1_usize..4, pad in 0_usize..3, h in 1_usize..6, w in 1_usize..6,
        act in act_strategy(), seed in 0_u64..1000,
    ) {
        let padding = pad.min(kernel - 1);
        let out = |side: usize| ((side - 1) * stride + kernel).checked_sub(2 * padding).filter(|&v| v > 0);
        prop_assume!(out(h).is_some() && out(w).is_some());
        check_op(
            [&[batch, c_in, h, w], &[c_in, c_out, kernel, kernel], &[c_out]],
            seed,
            true,
            &|x, k, b| nchw(&conv_transpose2d_nhwc(&nhwc(x), k, b, stride, padding, act).unwrap()),
            &|x, k, b| {
                let y = x.conv_transpose2d(k, padding, 0, stride, 1).unwrap();
                activate(y.broadcast_add(&b.reshape((1, c_out, 1, 1)).unwrap()).unwrap(), act)
            },
        )?;
    }

    #[test]
    fn linear_matches_candle_matmul_and_its_autograd(
        batch in 1_usize..9, inputs in 1_usize..20, outputs in 1_usize..20,
        act in act_strategy(), seed in 0_u64..1000,
    ) {
        check_op(
            [&[batch, inputs], &[outputs, inputs], &[outputs]],
            seed,
            true,
            &|x, w, b| linear(x, w, b, act).unwrap(),
            &|x, w, b| activate(x.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap(), act),
        )?;
    }

    #[test]
    fn bce_sum_matches_the_elementwise_bce_and_its_autograd(
        batch in 1_usize..5, pixels in 1_usize..40, scale in 0.1_f64..30.0, seed in 0_u64..1000,
    ) {
        let logits = (random(&[batch, 1, pixels], seed, DType::F64) * scale).unwrap();
        let targets = ((random(&[batch, 1, pixels], seed + 1, DType::F64) + 1.0).unwrap() * 0.5).unwrap();
        let var = Var::from_tensor(&logits).unwrap();
        let fused = bce_with_logits_sum(var.as_tensor(), &targets).unwrap();
        let reference = bce_with_logits(var.as_tensor(), &targets).unwrap().flatten_from(1).unwrap().sum(1).unwrap();
        prop_assert!(max_abs_diff(&fused, &reference) <= 1e-9 * scale * pixels as f64);
        let weights = random(&[batch], seed + 2, DType::F64);
        let gf = (fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (reference * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let diff = max_abs_diff(gf.get(var.as_tensor()).unwrap(), gr.get(var.as_tensor()).unwrap());
        prop_assert!(diff <= 1e-12, "gradient differs by {diff}");
        let f32_fused = bce_with_logits_sum(&logits.to_dtype(DType::F32).unwrap(), &targets.to_dtype(DType::F32).unwrap()).unwrap();
        prop_assert!(max_abs_diff(&f32_fused, &bce_with_logits(&logits, &targets).unwrap().flatten_from(1).unwrap().sum(1).unwrap()) <= 1e-4 * scale * pixels as f64);
    }
}

/// Central differences of `Σ r ⊙ op(inputs)` for every entry of every input, in f64.
fn finite_differences(shapes: [&[usize]; 3], op: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor) {
    let vars =
        [0, 1, 2].map(|i| Var::from_tensor(&random(shapes[i], 40 + i as u64, DType::F64)).unwrap());
    let out = op(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
    );
    let weights = random(out.dims(), 77, DType::F64);
    let loss = |t: [&Tensor; 3]| {
        (op(t[0], t[1], t[2]) * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let grads = (out * &weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, var) in vars.iter().enumerate() {
        let grad: Vec<f64> = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let values: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        for j in 0..values.len() {
            let shifted = |delta: f64| {
                let mut v = values.clone();
                v[j] += delta;
                let t = Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap();
                let mut args = vars.each_ref().map(|v| v.as_tensor().clone());
                args[i] = t;
                loss([&args[0], &args[1], &args[2]])
            };
            let h = 1e-6;
            let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
            assert!(
                (numeric - grad[j]).abs() <= 1e-6 * (1.0 + numeric.abs()),
                "input {i}[{j}]: {numeric} vs {}",
                grad[j]
            );
        }
    }
}

#[test]
fn fused_convolutions_and_linear_gradients_match_finite_differences() {
    // Identity activations keep the loss smooth (ReLU kinks are covered against autograd).
    finite_differences([&[2, 6, 6, 2], &[3, 2, 4, 4], &[3]], &|x, k, b| {
        conv2d_nhwc(x, k, b, 2, 1, Activation::Identity).unwrap()
    });
    // A ragged geometry: the last input row and column are outside every window.
    finite_differences([&[1, 7, 7, 2], &[2, 2, 4, 4], &[2]], &|x, k, b| {
        conv2d_nhwc(x, k, b, 2, 1, Activation::Identity).unwrap()
    });
    finite_differences([&[2, 3, 3, 3], &[3, 2, 4, 4], &[2]], &|x, k, b| {
        conv_transpose2d_nhwc(x, k, b, 2, 1, Activation::Identity).unwrap()
    });
    finite_differences([&[3, 5], &[4, 5], &[4]], &|x, w, b| {
        linear(x, w, b, Activation::Identity).unwrap()
    });
}

#[test]
fn fused_ops_reject_wrong_shapes_and_dtypes() {
    let x = random(&[2, 8, 8, 3], 1, DType::F32);
    let w = random(&[4, 2, 4, 4], 2, DType::F32);
    let b = random(&[4], 3, DType::F32);
    assert!(conv2d_nhwc(&x, &w, &b, 2, 1, Activation::Relu).is_err());
    let w = random(&[4, 3, 4, 4], 2, DType::F32);
    assert!(conv2d_nhwc(&x, &w, &b, 2, 1, Activation::Relu).is_ok());
    assert!(
        conv2d_nhwc(
            &x,
            &w.to_dtype(DType::F64).unwrap(),
            &b,
            2,
            1,
            Activation::Relu
        )
        .is_err()
    );
    assert!(
        conv2d_nhwc(
            &x.to_dtype(DType::U32).unwrap(),
            &w,
            &b,
            2,
            1,
            Activation::Relu
        )
        .is_err()
    );
    assert!(
        linear(
            &random(&[2, 3], 1, DType::F32),
            &random(&[4, 5], 1, DType::F32),
            &b,
            Activation::Relu
        )
        .is_err()
    );
    assert!(
        bce_with_logits_sum(
            &random(&[2, 3], 1, DType::F32),
            &random(&[2, 4], 1, DType::F32)
        )
        .is_err()
    );
}

#[test]
fn vae_step_is_bitwise_identical_on_one_and_two_threads() {
    use tdal_encoders::{DeviceChoice, VaeConfig, VaeModel};
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let cfg = VaeConfig::default();
            let model = VaeModel::new(&cfg, 5, DeviceChoice::Cpu).unwrap();
            let x = ((random(&[40, 1, 32, 32], 3, DType::F32) + 1.0).unwrap() * 0.5).unwrap();
            let eps = random(&[40, 10], 4, DType::F32);
            let loss = model.vae().loss(&x, &eps).unwrap().loss(1.0).unwrap();
            let grads = loss.backward().unwrap();
            let vars = model.varmap().data().lock().unwrap().clone();
            let mut grads: Vec<(String, Vec<f32>)> = vars
                .iter()
                .map(|(name, v)| {
                    (
                        name.clone(),
                        grads
                            .get(v.as_tensor())
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f32>()
                            .unwrap(),
                    )
                })
                .collect();
            grads.sort_by(|a, b| a.0.cmp(&b.0));
            grads
        })
    };
    for ((name, one), (_, two)) in run(1).iter().zip(&run(2)) {
        let differing = one.iter().zip(two).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing,
            0,
            "{name}: {differing} of {} gradient entries differ",
            one.len()
        );
    }
}

#[test]
fn train_vae_weights_are_bitwise_identical_on_one_and_two_threads() {
    use ndarray::Array4;
    use tdal_encoders::{DeviceChoice, VaeConfig, VaeModel, VaeTrainConfig, train_vae};
    let images = Array4::from_shape_fn((48, 1, 28, 28), |(n, _, h, w)| {
        ((n * 7 + h * 3 + w) % 11) as f32 / 10.0
    });
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut model = VaeModel::new(&VaeConfig::default(), 6, DeviceChoice::Cpu).unwrap();
            let cfg = VaeTrainConfig {
                epochs: 1,
                batch_size: 24,
                seed: 1,
                ..VaeTrainConfig::default()
            };
            train_vae(&mut model, images.view(), &cfg).unwrap();
            let vars = model.varmap().data().lock().unwrap().clone();
            let mut weights: Vec<(String, Vec<f32>)> = vars
                .iter()
                .map(|(name, v)| {
                    (
                        name.clone(),
                        v.as_tensor()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f32>()
                            .unwrap(),
                    )
                })
                .collect();
            weights.sort_by(|a, b| a.0.cmp(&b.0));
            weights
        })
    };
    for ((name, one), (_, two)) in run(1).iter().zip(&run(2)) {
        assert!(one == two, "{name} differs between 1 and 2 threads");
    }
}
