//! `TDAL_KERNELS` decides the kernels at the first product when nothing chose them
//! explicitly, and an explicit choice wins afterwards. One test: the choice is
//! process-wide.
#![cfg(target_arch = "x86_64")]

use ndarray::Array4;
use tdal_encoders::kernels::{self, Kernels};
use tdal_encoders::{DeviceChoice, Embedder, VaeConfig, VaeModel};

#[test]
fn the_environment_decides_until_a_choice_is_made() {
    // SAFETY: this test binary has this one test and sets the variable before any other
    // thread of it could read the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(kernels::ENV, "portable");
    }
    // The first product (embedding with a tiny VAE) applies the variable.
    let cfg = VaeConfig {
        conv_channels: 4,
        hidden_dim: 8,
        latent_dim: 2,
        ..VaeConfig::default()
    };
    let model = VaeModel::new(&cfg, 1, DeviceChoice::Cpu).unwrap();
    let images = Array4::<f32>::zeros((2, 1, 28, 28));
    assert_eq!(model.embed(images.view()).unwrap().dim(), (2, 2));
    assert_eq!(kernels::get(), Kernels::Portable);
    assert_eq!(kernels::in_use(), "avx2+fma");
    // An explicit choice wins over the variable, and is not undone by later products.
    kernels::set(Kernels::Native);
    assert_eq!(model.embed(images.view()).unwrap().dim(), (2, 2));
    assert_eq!(kernels::get(), Kernels::Native);
    let expected = if kernels::cpu_has_avx512() {
        "avx512f"
    } else {
        "avx2+fma"
    };
    assert_eq!(kernels::in_use(), expected);
    // `from_env` applies the variable again, and reports a bad value without changing
    // anything.
    assert_eq!(kernels::from_env().unwrap(), Kernels::Portable);
    #[allow(unsafe_code)]
    // SAFETY: as above.
    unsafe {
        std::env::set_var(kernels::ENV, "avx9");
    }
    let err = kernels::from_env().unwrap_err().to_string();
    assert!(
        err.contains("TDAL_KERNELS") && err.contains("portable"),
        "{err}"
    );
    assert_eq!(kernels::get(), Kernels::Portable);
}
