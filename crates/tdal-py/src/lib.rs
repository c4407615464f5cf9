//! The Python package `tdal`: tdal's acquisition scores, batch selection and random
//! forest for numpy arrays, built with maturin (`maturin build --release -m
//! crates/tdal-py/Cargo.toml`).
//!
//! Three entry points mirror the `tdal` command line: [`score`](acquire::score)
//! (`tdal score`, on an array or on a pool in `.npy` shards, [`shards`]),
//! [`select`](acquire::select) (`tdal select`) and [`RandomForest`](forest::PyRandomForest)
//! (`tdal forest`, plus pickling). Two more choose a batch from a pool in shards scored
//! apart (on Ray workers, say): [`perturbed_keys`](acquire::perturbed_keys) gives a
//! slice's selection keys from its global offset and [`top_b`](acquire::top_b) merges
//! `(index, key)` pairs, so the batch equals `select` on the whole pool. Arrays cross
//! the boundary without copies where they can: a float32 numpy array of any memory
//! layout is read in place as an ndarray view, anything else is converted once to
//! float32 by numpy ([`arrays`]; scores given to `select` and `perturbed_keys` other than
//! float32 are read at float64, as `tdal select` reads a float64 file). The GIL is
//! released while Rust computes, and every error of tdal-acquire or tdal-heads is
//! raised as `ValueError` with the same message.
//!
//! ```python
//! import numpy as np, tdal
//! scores = tdal.score(pool, method="epig", targets=targets)   # float32 [N]
//! batch = tdal.select(scores, 10, strategy="power", beta=4.0, seed=0)
//! scores = tdal.score("pool-shards/", method="epig", targets=targets)  # a folder of .npy
//! ```

mod acquire;
mod arrays;
mod forest;
mod shards;

use pyo3::prelude::*;

/// Python bindings of tdal: acquisition scores (EPIG, BALD, entropy, confidence, margin,
/// random) of arrays or of pools in `.npy` shards, batch selection (top-k, power, softmax,
/// soft-rank; perturbed_keys and top_b for a pool in shards) and a random forest whose
/// trees are posterior samples.
///
/// Arrays of posterior predictive samples are [N, K, C]: N inputs, K posterior samples,
/// C classes, every row [n, k, :] summing to 1.
#[pymodule]
fn tdal(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(acquire::score, module)?)?;
    module.add_function(wrap_pyfunction!(acquire::select, module)?)?;
    module.add_function(wrap_pyfunction!(acquire::perturbed_keys, module)?)?;
    module.add_function(wrap_pyfunction!(acquire::top_b, module)?)?;
    module.add_class::<forest::PyRandomForest>()?;
    Ok(())
}
