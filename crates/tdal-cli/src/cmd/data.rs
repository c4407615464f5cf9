//! `tdal data`: look at a messy pool before running on it. `describe` prints per-split,
//! per-class counts and the imbalance actually achieved; `preview` writes a labelled PNG
//! grid of sample images from the pool, the target inputs and the test set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use tdal_data::chexpert::ChexpertOptions;
use tdal_data::preview::{PreviewOptions, render_preview, save_png};
use tdal_data::{Dataset, MessyPool, PoolOptions, TestRule, build_named};

use super::pool::PoolFlags;

/// Arguments of `tdal data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `tdal data` sub-commands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print per-split, per-class counts of a messy pool and the imbalance achieved.
    Describe(DescribeArgs),
    /// Write a labelled grid of sample images (pool, target inputs, test) as PNG.
    Preview(PreviewArgs),
}

/// Which test images to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestSetArg {
    /// Target-class test images only.
    Targets,
    /// Target-class test images plus as many "other" ones as the mean target-class count.
    Balanced,
    /// Every test image of the target and redundant classes.
    All,
}

/// The options that define a pool, shared by `describe` and `preview`.
#[derive(Debug, clap::Args)]
pub struct PoolArgs {
    #[command(flatten)]
    pub pool: PoolFlags,
    /// Target inputs (for EPIG) per target class; default: all leftovers, balanced.
    #[arg(long, value_name = "N")]
    pub target_inputs: Option<usize>,
    /// Initial labels per class (default: 2, 4 for chexpert).
    #[arg(long, value_name = "N")]
    pub initial_per_class: Option<usize>,
    /// Test set rule.
    #[arg(long, value_enum, default_value = "balanced")]
    pub test_set: TestSetArg,
    /// CheXpert: images are resized to SIZE×SIZE.
    #[arg(long, default_value_t = 64, value_name = "SIZE")]
    pub image_size: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl PoolArgs {
    fn data_dir(&self) -> Result<PathBuf> {
        Ok(tdal_data::datadir::resolve(self.pool.data_dir.as_deref())?)
    }

    fn options(&self) -> PoolOptions {
        PoolOptions {
            targets: self.pool.targets.clone(),
            imbalance: self.pool.imbalance(),
            max_pool: self.pool.max_pool,
            target_inputs_per_class: self.target_inputs,
            test_rule: match self.test_set {
                TestSetArg::Targets => TestRule::TargetsOnly,
                TestSetArg::Balanced => TestRule::BalancedOther,
                TestSetArg::All => TestRule::All,
            },
            initial_per_class: self.initial_per_class,
            chexpert: ChexpertOptions {
                image_size: self.image_size,
                ..ChexpertOptions::default()
            },
            seed: self.seed,
        }
    }

    fn build(&self) -> Result<MessyPool> {
        let dataset = self.pool.dataset.unwrap_or(Dataset::Fmnist);
        let dir = self.data_dir()?;
        build_named(dataset, &dir, &self.options())
            .with_context(|| format!("cannot build the {} pool", dataset.as_str()))
    }
}

/// Arguments of `tdal data describe`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Example:
  tdal data describe --dataset fmnist --data-dir fixtures/fmnist-mini --targets 5,6 --ir 10 --seed 0")]
pub struct DescribeArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
}

/// Arguments of `tdal data preview`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Example:
  tdal data preview --dataset fmnist --data-dir fixtures/fmnist-mini --out grid.png")]
pub struct PreviewArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Output PNG.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
    /// Sample images per row.
    #[arg(long, default_value_t = 12)]
    pub per_row: usize,
    /// Integer up-scaling of each image.
    #[arg(long, default_value_t = 2)]
    pub scale: u32,
}

/// Runs `tdal data`.
///
/// # Errors
/// Missing or invalid data, an invalid pool configuration, or an unwritable output.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        DataCommand::Describe(a) => describe(a),
        DataCommand::Preview(a) => preview(a),
    }
}

fn describe(args: &DescribeArgs) -> Result<()> {
    let pool = args.pool.build()?;
    write_stdout(&pool.summary().to_string())
}

/// Writes to stdout; a closed pipe (`tdal data describe | head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn preview(args: &PreviewArgs) -> Result<()> {
    let pool = args.pool.build()?;
    let options = PreviewOptions {
        per_row: args.per_row,
        scale: args.scale,
        seed: args.pool.seed,
    };
    let grid = render_preview(&pool, &options)?;
    save_png(&grid, &args.out)?;
    write_stdout(&format!(
        "wrote {} ({}×{} px; rows: pool, target inputs, test × {})\n",
        args.out.display(),
        grid.width(),
        grid.height(),
        pool.class_names.join(", ")
    ))
}
