//! Helpers shared by the xtask CLI tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// `xtask <subcommand> …` with `TDAL_DATA_DIR` cleared, so only `--data-dir` counts.
pub fn xtask(subcommand: &str) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.env_remove("TDAL_DATA_DIR").arg(subcommand);
    cmd
}

/// The bundled `fixtures/fmnist-mini` data folder.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("fixtures/fmnist-mini")
}

/// Runs `cmd` expecting failure; returns stderr, which must mention `needle`.
pub fn fails(cmd: &mut Command, needle: &str) -> String {
    let output = cmd.output().unwrap();
    assert!(!output.status.success(), "expected failure for {cmd:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(needle),
        "stderr should mention {needle:?}: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout on failure");
    stderr
}
