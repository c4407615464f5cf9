//! `tdal label`: a labelling project with a person as the oracle (README, "Label your own
//! pool").

use anyhow::Result;
use clap::Subcommand;

pub mod serve;

/// Arguments of `tdal label`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Label in the browser: a local page with the proposed batch, one key per class.
    Serve(serve::Args),
}

/// Runs the sub-command.
///
/// # Errors
/// The sub-command's errors.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Command::Serve(a) => serve::run(a),
    }
}
