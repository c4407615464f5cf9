//! `tdal select` (being written).

/// Arguments of `tdal select`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tdal select`.
///
/// # Errors
/// Not implemented yet.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("tdal select is not implemented yet")
}
