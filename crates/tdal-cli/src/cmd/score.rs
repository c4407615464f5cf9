//! `tdal score`: acquisition scores for posterior predictive samples stored as `.npy`.
//!
//! The pool is one `.npy` file, several, or folders of them ([`tdal_data::shards`]): it is
//! memory-mapped and scored block by block, and the `[N]` output is written as the blocks
//! are scored, so memory stays bounded whatever N is.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use ndarray::{Array1, Array3, ArrayView3, Ix3};
use tdal_acquire::{
    Acquisition, Bald, Confidence, Entropy, Epig, Margin, random_scores_at, renormalise,
};
use tdal_data::shards::{NpyVectorWriter, ShardedPool};

use crate::{alloc, io};

/// Bytes of posterior samples in one block when `--block-inputs` is not given.
const BLOCK_BYTES: usize = 64 << 20;

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

A pool larger than memory can be split along N into shards: give a folder (its *.npy
files, sorted by file name, are the pool in that order) or repeat --pool; every shard has
the same K and C. The pool is memory-mapped and scored block by block, and the output is
written as the blocks are scored, so memory stays bounded whatever N is. The scores are
those of the concatenated pool: the same as one file holding it, --method random included.
A worker that scores one shard of a larger pool on its own passes --offset (the global
index of the shard's first input) so that its random scores are the whole pool's.

Examples:
  tdal score --method epig --pool pool.npy --targets targets.npy --out scores.npy --timings
  tdal score --method epig --pool shards/ --targets targets.npy --out scores.npy --timings
  tdal score --method bald --pool part-0.npy --pool part-1.npy --out scores.npy")]
pub struct Args {
    /// Acquisition function.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Pool samples: a `.npy` file [N, K, C] (float32 or float64), or a folder whose
    /// `*.npy` files, sorted by name, are the pool's shards. Repeat to concatenate several
    /// in the order given.
    #[arg(long, value_name = "P.npy|DIR", required = true)]
    pub pool: Vec<PathBuf>,
    /// Target-input samples `.npy`, shape [M, K, C] (required by --method epig; ignored by
    /// the others).
    #[arg(long, value_name = "T.npy")]
    pub targets: Option<PathBuf>,
    /// Seed for --method random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Global index of the pool's first input, when it is one part of a larger pool scored
    /// elsewhere: random scores are then that larger pool's, and error messages count from
    /// it.
    #[arg(long, value_name = "INDEX", default_value_t = 0)]
    pub offset: usize,
    /// Output `.npy`: float32 scores [N]. Written atomically: a failed run leaves nothing.
    #[arg(long, value_name = "SCORES.npy")]
    pub out: PathBuf,
    /// Print one JSON line on stderr: {"score_seconds": compute time without file I/O,
    /// "peak_bytes": peak extra memory allocated while computing, "max_rss_bytes": peak
    /// resident memory of the process, "wall_seconds": the whole command, "n": N}.
    #[arg(long)]
    pub timings: bool,
    /// Rescale every row to sum to 1 instead of rejecting rows that do not (within 1e-3).
    #[arg(long)]
    pub renormalise: bool,
    /// Cap on EPIG's working memory in MiB (independent of N).
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory_budget_mib: usize,
    /// Pool inputs per block (default: as many as fit in 64 MiB of float32 samples).
    #[arg(long, value_name = "INPUTS")]
    pub block_inputs: Option<usize>,
}

fn read_probs(path: &Path, what: &str, renorm: bool) -> Result<Array3<f32>> {
    let in_file = || format!("in {}", path.display());
    let array = io::read_float_array(path, what)?;
    io::expect_rank(&array, &["N", "K", "C"], what).with_context(in_file)?;
    let mut array = io::into_dim::<f32, Ix3>(array)?;
    if renorm {
        let name = if what == "targets" { "targets" } else { "pool" };
        let changed = renormalise(array.view_mut(), name).with_context(in_file)?;
        tracing::info!("renormalised {changed} rows of {what}");
    }
    Ok(array)
}

/// What one run measured, for `--timings`.
#[derive(Debug, Default)]
struct Measured {
    /// Time spent in the scoring calls (the blocks are resident by then).
    scoring: Duration,
    /// Peak bytes allocated above the baseline.
    peak_bytes: usize,
}

/// Runs `tdal score`.
///
/// # Errors
/// Unreadable or invalid inputs, a missing `--targets` for EPIG, or an unwritable output.
pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let pool = ShardedPool::open(&args.pool).context("cannot open the pool")?;
    let (n, k, c) = pool.dim();
    if n == 0 && args.method != Method::Random {
        return Err(tdal_acquire::Error::EmptyAxis {
            name: "pool",
            shape: vec![0, k, c],
        })
        .with_context(|| format!("{} holds no input", pool.describe()));
    }
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
    if let Some(targets) = &targets {
        let (_, targets_k, targets_c) = targets.dim();
        if (targets_k, targets_c) != (k, c) {
            return Err(tdal_acquire::Error::ShapeMismatch {
                pool_k: k,
                pool_c: c,
                targets_k,
                targets_c,
            }
            .into());
        }
    }
    let block_inputs = match args.block_inputs {
        Some(0) => bail!("--block-inputs must be at least 1"),
        Some(inputs) => inputs,
        None => {
            let input_bytes = k
                .saturating_mul(c)
                .saturating_mul(std::mem::size_of::<f32>());
            (BLOCK_BYTES / input_bytes.max(1)).max(1)
        }
    };

    let baseline = alloc::reset_peak();
    let scorer = Scorer::new(args, targets)?;
    let mut measured = Measured::default();
    let mut failure: Option<anyhow::Error> = None;
    let written = tdal_loop::record::write_atomic_with(&args.out, &mut |file| match stream(
        args,
        &pool,
        &scorer,
        block_inputs,
        file,
        &mut measured,
    ) {
        Ok(()) => Ok(()),
        Err(err) => {
            failure = Some(err);
            Err(std::io::Error::other("scoring failed"))
        }
    });
    if let Some(err) = failure {
        return Err(err);
    }
    written?;
    measured.peak_bytes = alloc::peak_above(baseline);

    if args.timings {
        let line = serde_json::json!({
            "score_seconds": measured.scoring.as_secs_f64(),
            "peak_bytes": measured.peak_bytes,
            "max_rss_bytes": alloc::max_rss_bytes(),
            "wall_seconds": started.elapsed().as_secs_f64(),
            "n": n,
        });
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// Scores every block of `pool` and writes the scores to `file` as a float32 `[N]` `.npy`.
fn stream(
    args: &Args,
    pool: &ShardedPool,
    scorer: &Scorer,
    block_inputs: usize,
    file: &mut dyn std::io::Write,
    measured: &mut Measured,
) -> Result<()> {
    let (n, k, c) = pool.dim();
    let mut writer = NpyVectorWriter::new(file, n)?;
    let mut blocks = pool.blocks(block_inputs)?;
    // Renormalised copies of the blocks (the mapped files are read-only).
    let mut copy: Vec<f32> = Vec::new();
    let mut renormalised = 0usize;
    while let Some(block) = blocks.next_block() {
        let block = block?;
        let offset = block.offset();
        let global = args.offset + offset;
        let in_shard = || pool.locate(block.shard(), args.offset);
        let samples = if args.renormalise {
            copy.clear();
            copy.extend(block.samples().iter());
            let owned =
                ndarray::ArrayViewMut3::from_shape(block.samples().raw_dim(), &mut copy[..])?;
            renormalised += renormalise(owned, "pool")
                .map_err(|e| e.at_offset(global))
                .with_context(in_shard)?;
            ArrayView3::from_shape((block.samples().dim().0, k, c), &copy[..])?
        } else {
            block.samples()
        };
        let started = Instant::now();
        let scores = scorer
            .score(samples, global)
            .map_err(|e| e.at_offset(global))
            .with_context(in_shard)?;
        measured.scoring += started.elapsed();
        writer.write(scores.as_slice().context("scores are contiguous")?)?;
    }
    writer.finish()?;
    if args.renormalise {
        tracing::info!("renormalised {renormalised} rows of the pool");
    }
    Ok(())
}

/// The acquisition function of one run, applied block by block.
enum Scorer {
    /// A function of each input's samples alone (the target samples are EPIG's own).
    Samples(Box<dyn Acquisition>),
    /// Seeded random scores, addressed by the inputs' global indices.
    Random(u64),
}

impl Scorer {
    fn new(args: &Args, targets: Option<Array3<f32>>) -> Result<Self> {
        Ok(match args.method {
            Method::Epig => {
                let targets = targets.context("EPIG needs targets")?;
                let epig = Epig::new(targets).with_context(|| match &args.targets {
                    Some(path) => format!("in the target samples {}", path.display()),
                    None => "in the target samples".to_owned(),
                })?;
                Self::Samples(Box::new(
                    epig.with_memory_budget(args.memory_budget_mib.saturating_mul(1 << 20)),
                ))
            }
            Method::Bald => Self::Samples(Box::new(Bald)),
            Method::Entropy => Self::Samples(Box::new(Entropy)),
            Method::Confidence => Self::Samples(Box::new(Confidence)),
            Method::Margin => Self::Samples(Box::new(Margin)),
            Method::Random => Self::Random(args.seed),
        })
    }

    /// Scores `block`, the inputs `offset..offset + n` of the pool.
    fn score(
        &self,
        block: ArrayView3<'_, f32>,
        offset: usize,
    ) -> tdal_acquire::Result<Array1<f32>> {
        match self {
            Self::Samples(function) => function.score(block),
            Self::Random(seed) => Ok(random_scores_at(offset, block.dim().0, *seed)),
        }
    }
}
