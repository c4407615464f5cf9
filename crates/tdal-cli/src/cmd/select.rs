//! `tdal select`: a batch of pool indices from acquisition scores.
//!
//! The scores are one `.npy` file or the score files of a pool in shards (several files or
//! a folder, concatenated in order). For top-k, power and softmax the files are read one at
//! a time into a bounded-memory top-B ([`TopB`]) with the offset-keyed Gumbel keys
//! ([`perturbed_keys`]): the batch is exactly the one drawn from the concatenated scores.
//! Soft-rank needs every score's rank in the whole pool, so its score files are
//! concatenated in memory first. Top-k compares the scores at their stored precision
//! (float64 files are not narrowed, so near-ties order as numpy's sort orders them); the
//! stochastic strategies compute in float32.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use ndarray::{Array1, Ix1};
use tdal_acquire::{Strategy, TopB, perturbed_keys, select_seeded};
use tdal_data::shards::npy_files;

use crate::io;

/// How to turn scores into a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// The B highest scores (deterministic; --beta and --seed are ignored).
    Topk,
    /// Sample without replacement ∝ score^beta (Kirsch et al.'s power acquisition).
    Power,
    /// Sample without replacement ∝ exp(beta · score).
    Softmax,
    /// Sample without replacement ∝ rank^(−beta), rank 1 = best score.
    Softrank,
}

/// Arguments of `tdal select`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Prints the chosen pool indices (0-based), one per line, in the order they were drawn.
The stochastic strategies use the Gumbel-top-k trick with a ChaCha8 stream seeded by
--seed: the same seed gives the same batch on any machine and thread count.

The scores of a pool in shards can be given as several files (repeat --scores) or a
folder (its *.npy files sorted by name): they are the pool's scores in that order, and
the batch is exactly the one drawn from the concatenated scores, with indices counted
from the start of the pool. Input i's Gumbel noise is word 2i of the seeded stream, so
topk, power and softmax read one file at a time and keep only the best B in memory;
softrank weighs scores by their rank in the whole pool and reads all of them at once.

Examples:
  tdal select --scores scores.npy --batch-size 10 --strategy power --beta 4 --seed 0
  tdal select --scores shard-scores/ --batch-size 10 --strategy power --beta 4 --seed 0")]
pub struct Args {
    /// Scores `.npy`: float32 or float64, shape [N]; or a folder of score files (sorted by
    /// name). Repeat to concatenate several in the order given.
    #[arg(long, value_name = "S.npy|DIR", required = true)]
    pub scores: Vec<PathBuf>,
    /// Number of indices to choose (1 ≤ B ≤ N).
    #[arg(long, value_name = "B")]
    pub batch_size: usize,
    /// Selection strategy.
    #[arg(long, value_enum)]
    pub strategy: StrategyArg,
    /// Coldness β of the stochastic strategies (≥ 0; the paper uses 4 on F+MNIST, 8 elsewhere).
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    pub beta: f32,
    /// Seed of the stochastic strategies.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `tdal select`.
///
/// # Errors
/// Unreadable or invalid scores, a batch size outside 1..=N, or an invalid β.
pub fn run(args: &Args) -> Result<()> {
    let strategy = match args.strategy {
        StrategyArg::Topk => Strategy::TopK,
        StrategyArg::Power => Strategy::Power { beta: args.beta },
        StrategyArg::Softmax => Strategy::Softmax { beta: args.beta },
        StrategyArg::Softrank => Strategy::SoftRank { beta: args.beta },
    };
    let files = npy_files(&args.scores)?;
    let batch = match files.as_slice() {
        _ if matches!(strategy, Strategy::TopK) => select_topk(&files, args.batch_size)?,
        [one] => select_seeded(
            read_scores(one)?.view(),
            args.batch_size,
            strategy,
            args.seed,
        )?,
        _ if matches!(strategy, Strategy::SoftRank { .. }) => {
            let mut all = Vec::new();
            for file in &files {
                all.extend(read_scores(file)?);
            }
            select_seeded(
                Array1::from(all).view(),
                args.batch_size,
                strategy,
                args.seed,
            )?
        }
        _ => select_streaming(&files, args.batch_size, strategy, args.seed)?,
    };
    let mut text = String::with_capacity(batch.len() * 7);
    for index in batch {
        text.push_str(&index.to_string());
        text.push('\n');
    }
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    Ok(())
}

/// Reads one score file `[N]` at its stored precision (float32 widened exactly).
fn read_scores_f64(path: &Path) -> Result<Array1<f64>> {
    let scores = io::read_float_array_f64(path, "scores")?;
    io::expect_rank(&scores, &["N"], "scores").with_context(|| format!("in {}", path.display()))?;
    io::into_dim::<f64, Ix1>(scores)
}

/// Reads one score file `[N]` as float32, the stochastic strategies' precision; a finite
/// float64 score beyond float32's range is an error, not an infinity.
fn read_scores(path: &Path) -> Result<Array1<f32>> {
    let scores = read_scores_f64(path)?;
    if let Some((index, value)) = scores
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_finite() && v.abs() > f64::from(f32::MAX))
    {
        bail!(
            "score {index} in {} is {value}, beyond float32's range (the stochastic strategies \
             compute in float32): rescale the scores",
            path.display()
        );
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(scores.mapv(|v| v as f32))
}

/// The B highest scores over the concatenated score files at their stored precision, one
/// file in memory at a time; equal scores go to the lower index.
fn select_topk(files: &[PathBuf], batch: usize) -> Result<Vec<usize>> {
    let mut best = TopB::new(batch.max(1))?;
    let mut offset = 0;
    for file in files {
        let scores = read_scores_f64(file)?;
        if let Some((index, value)) = scores.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            bail!(
                "score {} is {value}: scores must be finite (in {}, pool inputs {offset}..{})",
                offset + index,
                file.display(),
                offset + scores.len()
            );
        }
        best.push_keys(offset, scores.view());
        offset += scores.len();
    }
    if batch == 0 && offset > 0 {
        return Err(tdal_acquire::Error::InvalidBatch {
            batch,
            available: offset,
        }
        .into());
    }
    Ok(best.finish()?)
}

/// The batch over the concatenated score files, one file in memory at a time.
fn select_streaming(
    files: &[PathBuf],
    batch: usize,
    strategy: Strategy,
    seed: u64,
) -> Result<Vec<usize>> {
    let mut best = TopB::new(batch)?;
    let mut offset = 0;
    for file in files {
        let scores = read_scores(file)?;
        let keys = perturbed_keys(scores.view(), strategy, seed, offset).with_context(|| {
            format!(
                "in {} (pool inputs {offset}..{})",
                file.display(),
                offset + scores.len()
            )
        })?;
        best.push_keys(offset, keys.view());
        offset += scores.len();
    }
    Ok(best.finish()?)
}
