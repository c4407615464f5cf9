//! `cargo xtask …`: repository chores and the paper's tables.
//!
//! - `cargo xtask tidy`: the checks of [`tidy`], source hygiene and the architecture
//!   invariants of docs/ARCHITECTURE.md (also run as `#[test]`s by `cargo test`).
//! - `cargo xtask table1 …`: runs the implemented rows of the paper's Table 1 over seeds
//!   and writes `table1.md`, `table1.json` and `curves.svg` ([`table1`];
//!   docs/REPRODUCING.md); `table4` runs Table 4's fourteen rows the same way, and
//!   `table5` rewrites the target-class counts from the run records (both also write
//!   `table4.md` and `table5.md`).
//! - `cargo xtask repr-quality …`: the representation-quality comparison of
//!   docs/REPRODUCING.md (a random forest on 100 labelled pool points with the US VAE's
//!   latents vs TD-SPLIT's z_c; [`repr_quality`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod label_latency;
mod migrate;
mod repr_quality;
mod table1;
mod tidy;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Repository chores for tdal.
#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the source tree: no dbg, todo or unimplemented macros (the last two allowed in tests),
    /// every crate root starts with a `//!` doc, no absolute paths of a developer machine;
    /// and the architecture invariants of docs/ARCHITECTURE.md (dependency direction, no
    /// candle below tdal-encoders, library crates never print, ...).
    Tidy,
    /// Reproduce the paper's Table 1 on F+MNIST: run the implemented rows over seeds
    /// (resuming finished and interrupted runs) and write table1.md, table1.json and
    /// curves.svg beside the paper's numbers.
    Table1(table1::Table1Args),
    /// Reproduce the paper's Table 4 on F+MNIST: Table 1's rows and the baselines'
    /// selectors on TD-FT (td-similar, td-galaxy, td-cluster-margin); the same options,
    /// runs, cache and report as table1, plus table4.md and table5.md.
    Table4(table1::Table1Args),
    /// The paper's Table 5 (target-class acquisitions per method) from the run records in
    /// OUT/runs, without running anything: rewrites table4.md and table5.md (and
    /// table1.md) as `table1 --report-only` does.
    Table5(table1::ReportArgs),
    /// Representation quality (docs/REPRODUCING.md): test accuracy of a random forest on a fixed set of
    /// labelled pool points with the US VAE's z, its first |z_c| coordinates and TD-SPLIT's
    /// z_c after one update with those labels.
    ReprQuality(repr_quality::ReprQualityArgs),
    /// Labelling-project latency: seconds from "submit batch" to the next proposed batch
    /// on the F+MNIST pool written as PNG files, per representation and round
    /// (docs/PERFORMANCE.md).
    LabelLatency(label_latency::LabelLatencyArgs),
    /// Bring run folders written before the configuration's sections were tagged by
    /// `kind` up to date: rewrite each DIR/runs/<id>/config.toml in the new shape and
    /// rename the folder to its new run id (records are unchanged).
    MigrateRuns {
        /// Folders holding a runs/ folder (as `table1 --out` writes).
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
    },
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    // Freed training buffers are reused, not returned to the OS and faulted back in.
    tdal_encoders::allocator::keep_freed_memory();
    let cli = Cli::parse();
    // TDAL_KERNELS=portable keeps the AVX2 kernels on AVX-512 CPUs (tdal_encoders::kernels).
    if let Err(e) = tdal_encoders::kernels::from_env() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match cli.command {
        Command::Tidy => {
            let root = tidy::workspace_root();
            let mut problems = tidy::check(&root);
            problems.extend(tidy::architecture(&root));
            if problems.is_empty() {
                println!("tidy: ok");
                ExitCode::SUCCESS
            } else {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                eprintln!("tidy: {} problem(s)", problems.len());
                ExitCode::FAILURE
            }
        }
        Command::Table1(args) => match table1::main(&args, &table1::Row::ALL) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Table4(args) => match table1::main(&args, &table1::Row::EVERY) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Table5(args) => match table1::main(&args.into(), &table1::Row::EVERY) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::MigrateRuns { dirs } => match migrate::migrate(&dirs) {
            Ok(outcomes) => {
                for outcome in outcomes {
                    match outcome {
                        migrate::Outcome::Migrated { from, to } => println!("{from} -> {to}"),
                        migrate::Outcome::Current(id) => println!("{id}: current"),
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::LabelLatency(args) => match label_latency::main(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::ReprQuality(args) => match repr_quality::main(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
