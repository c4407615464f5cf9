//! Shared support for the CLI tests: running `tdal` and checking the failure contract
//! (non-zero exit, exactly one `error:` line on stderr, nothing on stdout, no partial
//! output files).

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The `tdal` binary, with `TDAL_DATA_DIR` and `TDAL_KERNELS` cleared so tests never depend
/// on the caller's environment.
pub fn tdal() -> Command {
    let mut cmd = Command::cargo_bin("tdal").unwrap();
    cmd.env_remove("TDAL_DATA_DIR").env_remove("TDAL_KERNELS");
    cmd
}

/// A path as `&str` for command-line arguments.
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `cmd` expecting failure: exit code ≠ 0, exactly one stderr line starting with
/// `error: ` and containing `needle`, nothing on stdout. Returns the line.
pub fn error_line(cmd: &mut Command, needle: &str) -> String {
    let output = cmd.output().unwrap();
    assert!(!output.status.success(), "expected failure for {cmd:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line expected, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(output.stdout.is_empty(), "nothing on stdout on failure");
    lines[0].to_owned()
}

/// Asserts that no temporary `.part` file of an atomic write is left in `dir`.
pub fn assert_no_partial_files(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains(".part"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}
