//! `tdal label serve`: the labelling page on a local web server.

use std::path::PathBuf;

use anyhow::Result;

/// Arguments of `tdal label serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project folder (made by `tdal label init`).
    #[arg(long, value_name = "DIR")]
    pub project: PathBuf,
}

/// Runs the server until interrupted.
///
/// # Errors
/// Project and network errors.
pub fn run(args: &Args) -> Result<()> {
    anyhow::bail!(
        "tdal label serve is not built yet ({})",
        args.project.display()
    )
}
