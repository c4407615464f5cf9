//! `tdal select`: a batch of pool indices from acquisition scores.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;
use ndarray::Ix1;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Strategy, select};

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

Example:
  tdal select --scores scores.npy --batch-size 10 --strategy power --beta 4 --seed 0")]
pub struct Args {
    /// Scores `.npy`: float32 or float64, shape [N].
    #[arg(long, value_name = "S.npy")]
    pub scores: PathBuf,
    /// Number of indices to choose (1 ≤ B ≤ N).
    #[arg(long, value_name = "B")]
    pub batch_size: usize,
    /// Selection strategy.
    #[arg(long, value_enum)]
    pub strategy: StrategyArg,
    /// Coldness β of the stochastic strategies (≥ 0; the paper uses 4 on F+MNIST, 8 elsewhere).
    #[arg(long, default_value_t = 4.0)]
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
    let scores = io::read_float_array(&args.scores, "scores")?;
    io::expect_rank(&scores, &["N"], "scores")?;
    let scores = io::into_dim::<f32, Ix1>(scores)?;
    let strategy = match args.strategy {
        StrategyArg::Topk => Strategy::TopK,
        StrategyArg::Power => Strategy::Power { beta: args.beta },
        StrategyArg::Softmax => Strategy::Softmax { beta: args.beta },
        StrategyArg::Softrank => Strategy::SoftRank { beta: args.beta },
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let batch = select(scores.view(), args.batch_size, strategy, &mut rng)?;
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
