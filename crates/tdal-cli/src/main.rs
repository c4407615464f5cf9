//! The `tdal` command: task-driven active learning on messy pools.
//!
//! Every sub-command lives in its own module under `cmd/`; shared file handling (reading
//! `.npy` of any float dtype, atomic writes) lives in `io`. Library crates never print:
//! only this binary talks to the terminal.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod cmd;
mod io;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Task-driven active learning on messy, uncurated pools.
#[derive(Debug, Parser)]
#[command(name = "tdal", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Matrix-product kernels of the encoders: `native` (the default: AVX-512 where the CPU
    /// has it, ≈ 1.3× faster training) or `portable` (AVX2 + FMA everywhere: bit for bit the
    /// same results on every x86-64 CPU, as the runs in docs/results). Overrides the
    /// TDAL_KERNELS environment variable.
    #[arg(long, global = true, value_name = "KIND")]
    kernels: Option<KernelsArg>,
    #[command(subcommand)]
    command: Command,
}

/// `--kernels` (tdal_encoders::kernels::Kernels).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KernelsArg {
    /// The fastest kernels this CPU has (AVX-512F where present).
    Native,
    /// AVX2 + FMA everywhere: the same bits on every x86-64 CPU.
    Portable,
}

impl From<KernelsArg> for tdal_encoders::kernels::Kernels {
    fn from(arg: KernelsArg) -> Self {
        match arg {
            KernelsArg::Native => Self::Native,
            KernelsArg::Portable => Self::Portable,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score a pool of posterior predictive samples (EPIG, BALD, entropy, ...).
    Score(cmd::score::Args),
    /// Choose a batch from acquisition scores (top-k or stochastic power/softmax/soft-rank).
    Select(cmd::select::Args),
    /// Fit a random forest and write every tree's class probabilities for the test rows.
    Forest(cmd::forest::Args),
    /// Inspect a messy pool: per-class counts (`describe`) or a grid of sample images (`preview`).
    Data(cmd::data::Args),
    /// Run an active-learning experiment (or resume one) and record every round.
    Run(cmd::run::Args),
    /// Label your own pool: a resumable project with you as the oracle (init, next, import, status, export, serve).
    Label(cmd::label::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Freed training buffers are reused, not returned to the OS and faulted back in.
    tdal_encoders::allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TDAL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .without_time()
        .init();
    // `--kernels`, else TDAL_KERNELS, else the fastest kernels this CPU has.
    let kernels = match cli.kernels {
        Some(kernels) => {
            tdal_encoders::kernels::set(kernels.into());
            Ok(())
        }
        None => tdal_encoders::kernels::from_env().map(drop),
    };
    let result = match kernels {
        Err(e) => Err(e.into()),
        Ok(_) => match cli.command {
            Command::Score(args) => cmd::score::run(&args),
            Command::Select(args) => cmd::select::run(&args),
            Command::Forest(args) => cmd::forest::run(&args),
            Command::Data(args) => cmd::data::run(&args),
            Command::Run(args) => cmd::run::run(&args),
            Command::Label(args) => cmd::label::run(&args),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One clear line: the error and its causes, outermost first.
            let mut message = err.to_string();
            for cause in err.chain().skip(1) {
                message.push_str(": ");
                message.push_str(&cause.to_string());
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
