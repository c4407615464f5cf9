//! `tdal forest`: fit a random forest on `.npy` training data and write every tree's class
//! probabilities for the test rows, `[T, trees, C]`: posterior samples ready for
//! `tdal score`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ndarray::{Ix1, Ix2};
use tdal_heads::{ForestParams, MAX_CLASSES, RandomForest};

use crate::io::{expect_rank, into_dim, read_float_array, read_int_array, write_npy_atomic};

/// Arguments of `tdal forest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training features, f32 or f64 `.npy` of shape [rows, features].
    #[arg(long, value_name = "X.npy")]
    pub train_x: PathBuf,
    /// Training labels, `.npy` of shape [rows] of any integer dtype or bool (false = 0,
    /// true = 1), classes 0..C-1 (C at most 65,536).
    #[arg(long, value_name = "Y.npy")]
    pub train_y: PathBuf,
    /// Test features, f32 or f64 `.npy` of shape [T, features].
    #[arg(long, value_name = "T.npy")]
    pub test_x: PathBuf,
    /// Number of trees (each one posterior sample).
    #[arg(long, default_value_t = 250)]
    pub trees: usize,
    /// Seed of the forest (tree t uses stream t of it; results do not depend on threads).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output: per-tree class probabilities, f32 `.npy` of shape [T, trees, C].
    #[arg(long, value_name = "PROBS.npy")]
    pub out: PathBuf,
    /// Print `{"fit_seconds": .., "predict_seconds": ..}` as one JSON line on stderr.
    #[arg(long)]
    pub timings: bool,
}

/// Runs `tdal forest`.
///
/// # Errors
/// Unreadable or malformed inputs, wrong ranks, negative labels, rows that disagree,
/// NaN/inf features, or an unwritable output path. Nothing is written on error.
pub fn run(args: &Args) -> Result<()> {
    if args.trees == 0 {
        bail!("--trees must be at least 1 (each tree is one posterior sample)");
    }
    let train_x = read_float_array(&args.train_x, "--train-x")?;
    expect_rank(&train_x, &["rows", "features"], "--train-x")?;
    let train_x = into_dim::<_, Ix2>(train_x)?;
    let train_y = read_int_array(&args.train_y, "--train-y")?;
    expect_rank(&train_y, &["rows"], "--train-y")?;
    let train_y = into_dim::<_, Ix1>(train_y)?;
    let test_x = read_float_array(&args.test_x, "--test-x")?;
    expect_rank(&test_x, &["T", "features"], "--test-x")?;
    let test_x = into_dim::<_, Ix2>(test_x)?;

    // C = largest label + 1 and the output is [T, trees, C]: tdal-heads' limit on C is
    // checked here too, to name --train-y in the message.
    let labels = train_y
        .iter()
        .enumerate()
        .map(|(row, &label)| match u32::try_from(label) {
            Ok(label) if (label as usize) < MAX_CLASSES => Ok(label),
            Ok(_) => bail!(
                "--train-y holds label {label} at row {row}: classes must be 0..C-1 with C at \
                 most {MAX_CLASSES} (the output holds C probabilities per tree and test row)"
            ),
            Err(_) => bail!("--train-y holds label {label} at row {row}: classes must be 0..C-1"),
        })
        .collect::<Result<Vec<u32>>>()?;

    let trees = args.trees;
    let mut forest = RandomForest::new(ForestParams {
        n_trees: trees,
        posterior_samples: trees,
        ..ForestParams::default()
    })?;
    let fit_start = Instant::now();
    forest
        .fit_seeded(train_x.view(), &labels, args.seed)
        .context("cannot fit the forest on --train-x/--train-y")?;
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    let predict_start = Instant::now();
    let probs = forest
        .predict_per_tree(test_x.view())
        .context("cannot predict --test-x")?;
    let predict_seconds = predict_start.elapsed().as_secs_f64();

    write_npy_atomic(&args.out, &probs)?;
    if args.timings {
        let line = serde_json::json!({
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
        });
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{line}");
        }
    }
    Ok(())
}
