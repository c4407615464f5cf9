//! Finite-difference checks of the autograd gradients of the VAE and TD-SPLIT losses on a
//! tiny network in f64.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_encoders::model::seeded_init;
use tdal_encoders::{SplitConfig, SplitVae, VaeConfig};

fn tiny() -> SplitConfig {
    SplitConfig {
        vae: VaeConfig {
            channels: 1,
            image_size: 8,
            conv_channels: 2,
            hidden_dim: 5,
            latent_dim: 3,
        },
        content_dim: 2,
        classifier_hidden: 4,
        num_classes: 3,
    }
}

/// Central differences for a few entries of every variable against `backward()`.
fn check_gradients(loss_of: &dyn Fn() -> Tensor, varmap: &VarMap) {
    let loss = loss_of();
    let grads = loss.backward().unwrap();
    let vars = varmap.data().lock().unwrap().clone();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut checked = 0;
    for name in names {
        let var: &Var = &vars[name];
        let grad: Vec<f64> = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let original: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        for _ in 0..3 {
            let i = rng.random_range(0..original.len());
            let h = 1e-5;
            let eval = |delta: f64| {
                let mut values = original.clone();
                values[i] += delta;
                let t = Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap();
                var.set(&t).unwrap();
                loss_of().to_scalar::<f64>().unwrap()
            };
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            let t = Tensor::from_vec(original.clone(), var.shape(), &Device::Cpu).unwrap();
            var.set(&t).unwrap();
            let tolerance = 1e-6 + 1e-4 * numeric.abs().max(grad[i].abs());
            assert!(
                (numeric - grad[i]).abs() <= tolerance,
                "{name}[{i}]: autograd {} vs finite difference {numeric}",
                grad[i]
            );
            checked += 1;
        }
    }
    assert!(checked >= 3 * 20, "checked only {checked} entries");
}

fn inputs(cfg: &SplitConfig) -> (Tensor, Tensor, Tensor) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let batch = 4;
    let side = cfg.vae.image_size;
    let pixels: Vec<f64> = (0..batch * side * side).map(|_| rng.random()).collect();
    let images = Tensor::from_vec(pixels, (batch, 1, side, side), &Device::Cpu).unwrap();
    let noise: Vec<f64> = (0..batch * cfg.vae.latent_dim)
        .map(|_| rng.random_range(-1.5..1.5))
        .collect();
    let noise = Tensor::from_vec(noise, (batch, cfg.vae.latent_dim), &Device::Cpu).unwrap();
    let labels = Tensor::from_vec(vec![0_u32, 2, 1, 2], batch, &Device::Cpu).unwrap();
    (images, noise, labels)
}

#[test]
fn vae_loss_gradients_match_finite_differences() {
    let cfg = tiny();
    let varmap = VarMap::new();
    let model = SplitVae::new(
        &cfg,
        VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu),
    )
    .unwrap();
    seeded_init(&varmap, 5).unwrap();
    let (images, noise, _) = inputs(&cfg);
    // Only the VAE's variables enter the unlabelled loss; check them through a VarMap
    // holding just those.
    let vae_vars = VarMap::new();
    {
        let all = varmap.data().lock().unwrap();
        let mut mine = vae_vars.data().lock().unwrap();
        for (name, var) in all.iter().filter(|(n, _)| !n.starts_with("classifier")) {
            mine.insert(name.clone(), var.clone());
        }
    }
    let loss_of = || model.vae.loss(&images, &noise).unwrap().loss(0.7).unwrap();
    check_gradients(&loss_of, &vae_vars);
}

#[test]
fn split_labelled_loss_gradients_match_finite_differences() {
    let cfg = tiny();
    let varmap = VarMap::new();
    let model = SplitVae::new(
        &cfg,
        VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu),
    )
    .unwrap();
    seeded_init(&varmap, 6).unwrap();
    let (images, noise, labels) = inputs(&cfg);
    let loss_of = || {
        model
            .labelled_loss(&images, &noise, &labels)
            .unwrap()
            .loss(1.0, 20.0)
            .unwrap()
    };
    check_gradients(&loss_of, &varmap);
}
