//! Exports what a run worked on, for checking tdal against other tools (scikit-learn,
//! numpy): the hidden labels of the whole pool, the test labels, the initial labelled
//! indices and the US VAE's embeddings of the pool, the test set and the target inputs,
//! each as `.npy`. With a run's `rounds.jsonl` (the acquired indices of every round) that
//! is enough to refit the head on exactly the labelled sets the loop saw.
//!
//! ```sh
//! cargo run --release -p tdal-loop --example export_task -- \
//!     RUN_DIR/config.toml DATA_DIR CACHE_DIR OUT_DIR [--images]
//! ```
//!
//! `CACHE_DIR` is the run's encoder cache (`--cache-dir`, by default `<out>/cache`); the US
//! VAE is trained there first if it is not cached yet. Writes `pool_labels.npy` (u32
//! `[N]`, label map: 0 = other), `test_labels.npy` (u32), `initial.npy` (u64 pool
//! indices), `z_pool.npy`, `z_test.npy`, `z_targets.npy` (f32 `[·, |z|]`).
//! With `--images`, also the pixels: `x_pool.npy`, `x_test.npy` (f32 `[·, C, H, W]`, in
//! [0, 1]; ≈ 190 MB for the F+MNIST pool). `docs/results/check_forest.py` uses them.
#![allow(clippy::print_stderr, missing_docs)]

use std::error::Error;
use std::path::PathBuf;

use ndarray::{Array1, Axis};
use tdal_loop::cache::Cache;
use tdal_loop::{DeviceChoice, Fixed, Oracle, Representation, RunConfig, build_task};

fn main() -> Result<(), Box<dyn Error>> {
    // The run's kernels (TDAL_KERNELS), so the cached encoder is the run's own.
    tdal_encoders::kernels::from_env()?;
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let images = args.last().is_some_and(|a| a.as_os_str() == "--images");
    if images {
        args.pop();
    }
    let [config, data_dir, cache_dir, out] = args.as_slice() else {
        return Err(
            "usage: export_task RUN_DIR/config.toml DATA_DIR CACHE_DIR OUT_DIR [--images]".into(),
        );
    };
    let mut cfg = RunConfig::from_toml_file(config)?;
    cfg.data.dir = Some(data_dir.clone());
    std::fs::create_dir_all(out)?;

    let (task, mut oracle) = build_task(&cfg)?;
    let n = task.pool.len_of(Axis(0));
    let answers = oracle.label(&(0..n).collect::<Vec<_>>())?;
    let pool_labels: Array1<u32> = answers.iter().map(|a| a.label).collect();
    ndarray_npy::write_npy(out.join("pool_labels.npy"), &pool_labels)?;
    let test_labels = Array1::from(task.test.labels.clone());
    ndarray_npy::write_npy(out.join("test_labels.npy"), &test_labels)?;
    let initial: Array1<u64> = task.initial.iter().map(|&i| i as u64).collect();
    ndarray_npy::write_npy(out.join("initial.npy"), &initial)?;
    if images {
        ndarray_npy::write_npy(out.join("x_pool.npy"), &task.pool)?;
        ndarray_npy::write_npy(out.join("x_test.npy"), &task.test.images)?;
    }

    let mut rep = Fixed::new(
        cfg.encoder
            .us_vae()
            .ok_or("export_task needs a VAE representation (us-vae or td-split)")?,
        task.pool.len_of(Axis(1)),
        cfg.seed,
        Cache::new(cache_dir),
        DeviceChoice::Cpu,
    );
    let init = rep.initialise(task.pool.view(), &mut |_, _| {})?;
    for (name, images) in [
        ("z_pool.npy", task.pool.view()),
        ("z_test.npy", task.test.images.view()),
        ("z_targets.npy", task.target_inputs.view()),
    ] {
        ndarray_npy::write_npy(out.join(name), &rep.embed(images)?)?;
    }
    eprintln!(
        "{}: pool {n}, test {}, initial {} (US VAE {})",
        out.display(),
        test_labels.len(),
        initial.len(),
        if init.cached {
            "from the cache"
        } else {
            "trained"
        }
    );
    Ok(())
}
