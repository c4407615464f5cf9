//! `tdal.score` on a pool in `.npy` files: `tdal score --pool` from Python.
//!
//! The files are opened with tdal-data's [`ShardedPool`] (memory-mapped, headers checked
//! up front) and scored block by block, each block with its global offset, exactly as the
//! command line scores them: the same default block size, the same checks in the same
//! order, the same messages naming the file. Only the `[N]` scores are held in memory.

use std::fmt::Write as _;

use ndarray::{Array1, Array3, ArrayView3, ArrayViewMut3};
use pyo3::PyErr;
use tdal_acquire::Error;
use tdal_data::shards::ShardedPool;

use crate::acquire::{Method, Scorer, Settings, renormalised_targets};
use crate::arrays::value_error;

/// Bytes of posterior samples in one block when no block size is given (as `tdal score`).
const BLOCK_BYTES: usize = 64 << 20;

/// Scores every input of `pool`, block by block; the message of the first error.
///
/// `settings.offset` is the global index of the pool's first input.
pub(crate) fn score(
    pool: &ShardedPool,
    settings: Settings,
    targets: Option<ArrayView3<'_, f32>>,
    renormalise: bool,
    block_inputs: Option<usize>,
) -> Result<Array1<f32>, String> {
    let (n, k, c) = pool.dim();
    if n == 0 && settings.method != Method::Random {
        let err = Error::EmptyAxis {
            name: "pool",
            shape: vec![0, k, c],
        };
        return Err(format!("{} holds no input: {err}", pool.describe()));
    }
    if let Some(targets) = targets {
        let (_, targets_k, targets_c) = targets.dim();
        if (targets_k, targets_c) != (k, c) {
            return Err(Error::ShapeMismatch {
                pool_k: k,
                pool_c: c,
                targets_k,
                targets_c,
            }
            .to_string());
        }
    }
    let block_inputs = match block_inputs {
        Some(0) => return Err("block_inputs must be at least 1".into()),
        Some(inputs) => inputs,
        None => (BLOCK_BYTES / (k * c * std::mem::size_of::<f32>()).max(1)).max(1),
    };
    let renormalised = match targets {
        Some(targets) if renormalise => {
            Some(renormalised_targets(targets).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let targets = renormalised.as_ref().map(|t| t.view()).or(targets);
    let scorer = Scorer::new(settings, targets).map_err(|e| e.to_string())?;

    let mut scores = Vec::with_capacity(n);
    let mut blocks = pool.blocks(block_inputs).map_err(|e| chain(&e))?;
    // Renormalised copies of the blocks (the mapped files are read-only).
    let mut copy: Vec<f32> = Vec::new();
    while let Some(block) = blocks.next_block() {
        let block = block.map_err(|e| chain(&e))?;
        let global = settings.offset + block.offset();
        let located = |err: Error| {
            format!(
                "{}: {}",
                pool.locate(block.shard(), settings.offset),
                err.at_offset(global)
            )
        };
        let samples = if renormalise {
            copy.clear();
            copy.extend(block.samples().iter());
            let owned = ArrayViewMut3::from_shape(block.samples().raw_dim(), &mut copy[..])
                .map_err(|e| e.to_string())?;
            tdal_acquire::renormalise(owned, "pool").map_err(located)?;
            ArrayView3::from_shape(block.samples().raw_dim(), &copy[..])
                .map_err(|e| e.to_string())?
        } else {
            block.samples()
        };
        let block_scores = scorer.score(samples, global).map_err(located)?;
        scores.extend(block_scores.iter());
    }
    Ok(Array1::from(scores))
}

/// Every input of `files` in memory, `[N, K, C]` float32 (float64 files converted as
/// blocks convert them): EPIG's target samples given as files; the message of the first
/// error.
pub(crate) fn read_whole(files: &ShardedPool) -> Result<Array3<f32>, String> {
    let (n, k, c) = files.dim();
    let mut values: Vec<f32> = Vec::with_capacity(n.saturating_mul(k).saturating_mul(c));
    let mut blocks = files.blocks(n.max(1)).map_err(|e| chain(&e))?;
    while let Some(block) = blocks.next_block() {
        let block = block.map_err(|e| chain(&e))?;
        values.extend(block.samples().iter());
    }
    Array3::from_shape_vec((n, k, c), values).map_err(|e| e.to_string())
}

/// `ValueError` for an error of tdal-data, with its causes (an I/O error's reason).
pub(crate) fn data_error(err: tdal_data::Error) -> PyErr {
    value_error(chain(&err))
}

/// `err`'s message followed by those of its sources, as the command line prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}
