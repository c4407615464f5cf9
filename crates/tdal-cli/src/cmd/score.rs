//! `tdal score`: acquisition scores for posterior predictive samples stored as `.npy`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use ndarray::{Array1, Array3, Ix3};
use tdal_acquire::{Acquisition, Bald, Confidence, Entropy, Epig, Margin, Random, renormalise};

use crate::{alloc, io};

/// Which acquisition function to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Expected predictive information gain against the target inputs (needs --targets).
    Epig,
    /// Mutual information between the label and the model parameters.
    Bald,
    /// Entropy of the mean prediction.
    Entropy,
    /// 1 − the largest mean class probability.
    Confidence,
    /// 1 − (largest − second-largest mean class probability).
    Margin,
    /// Uniform random scores in [0, 1), reproducible from --seed.
    Random,
}

/// Arguments of `tdal score`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Inputs are posterior predictive samples p(y | x, θ_k): an array [N, K, C] (N inputs, K
posterior samples such as ensemble members, forest trees or MC-dropout passes, C classes),
float32 or float64, each row [n, k, :] summing to 1. EPIG also needs the samples of target
inputs [M, K, C] from the same K posterior samples. Scores are written as float32 [N];
higher means more worth labelling.

Example:
  tdal score --method epig --pool pool.npy --targets targets.npy --out scores.npy --timings")]
pub struct Args {
    /// Acquisition function.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Pool samples `.npy`, shape [N, K, C], float32 or float64.
    #[arg(long, value_name = "P.npy")]
    pub pool: PathBuf,
    /// Target-input samples `.npy`, shape [M, K, C] (required by --method epig; ignored by
    /// the others).
    #[arg(long, value_name = "T.npy")]
    pub targets: Option<PathBuf>,
    /// Seed for --method random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output `.npy`: float32 scores [N]. Written atomically: a failed run leaves nothing.
    #[arg(long, value_name = "SCORES.npy")]
    pub out: PathBuf,
    /// Print one JSON line on stderr: {"score_seconds": compute time without file I/O,
    /// "peak_bytes": peak extra memory allocated while computing}.
    #[arg(long)]
    pub timings: bool,
    /// Rescale every row to sum to 1 instead of rejecting rows that do not (within 1e-3).
    #[arg(long)]
    pub renormalise: bool,
    /// Cap on EPIG's working memory in MiB (independent of N).
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory_budget_mib: usize,
}

fn read_probs(path: &std::path::Path, what: &str, renorm: bool) -> Result<Array3<f32>> {
    let array = io::read_float_array(path, what)?;
    io::expect_rank(&array, &["N", "K", "C"], what)?;
    let mut array = io::into_dim::<f32, Ix3>(array)?;
    if renorm {
        let name = if what == "targets" { "targets" } else { "pool" };
        let changed = renormalise(array.view_mut(), name)?;
        tracing::info!("renormalised {changed} rows of {what}");
    }
    Ok(array)
}

/// Runs `tdal score`.
///
/// # Errors
/// Unreadable or invalid inputs, a missing `--targets` for EPIG, or an unwritable output.
pub fn run(args: &Args) -> Result<()> {
    let pool = read_probs(&args.pool, "pool", args.renormalise)?;
    let targets = match (args.method, &args.targets) {
        (Method::Epig, Some(path)) => Some(read_probs(path, "targets", args.renormalise)?),
        (Method::Epig, None) => {
            bail!("--method epig needs the target-input samples: pass --targets T.npy ([M, K, C])")
        }
        (_, Some(_)) => {
            tracing::info!("--targets is only used by --method epig; ignoring it");
            None
        }
        (_, None) => None,
    };

    let baseline = alloc::reset_peak();
    let started = Instant::now();
    let scores = compute(args, &pool, targets)?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_bytes = alloc::peak_above(baseline);

    io::write_npy_atomic(&args.out, &scores)?;
    if args.timings {
        let line = serde_json::json!({ "score_seconds": seconds, "peak_bytes": peak_bytes, "n": pool.dim().0 });
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{line}");
        }
    }
    Ok(())
}

fn compute(args: &Args, pool: &Array3<f32>, targets: Option<Array3<f32>>) -> Result<Array1<f32>> {
    let scores = match args.method {
        Method::Epig => {
            let targets = targets.context("EPIG needs targets")?;
            Epig::new(targets)?
                .with_memory_budget(args.memory_budget_mib.saturating_mul(1 << 20))
                .score(pool.view())?
        }
        Method::Bald => Bald.score(pool.view())?,
        Method::Entropy => Entropy.score(pool.view())?,
        Method::Confidence => Confidence.score(pool.view())?,
        Method::Margin => Margin.score(pool.view())?,
        Method::Random => Random { seed: args.seed }.score(pool.view())?,
    };
    Ok(scores)
}
