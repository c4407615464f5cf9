//! `cargo xtask …`: repository chores and, later, the paper's tables.
//!
//! - `cargo xtask tidy`: the checks of [`tidy`] (also run as `#[test]`s by `cargo test`).
//!
//! The paper's tables (`cargo xtask table1 …`) arrive with the loop (SPEC §8).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod tidy;

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
    /// every crate root starts with a `//!` doc, no absolute paths of a developer machine.
    Tidy,
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Tidy => {
            let root = tidy::workspace_root();
            let problems = tidy::check(&root);
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
    }
}
