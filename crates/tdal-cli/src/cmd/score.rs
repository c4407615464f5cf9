//! `tdal score` (being written).

/// Arguments of `tdal score`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tdal score`.
///
/// # Errors
/// Not implemented yet.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("tdal score is not implemented yet")
}
