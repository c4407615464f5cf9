//! `tdal data describe` / `preview` on the fmnist-mini fixture, and bad input: each failure
//! exits non-zero with one clear `error:` line on stderr.

use std::path::PathBuf;

mod common;

use common::tdal;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// Runs a failing command and returns its single stderr line (see
/// [`common::error_line`]); the tests check its content themselves.
fn error_line(cmd: &mut assert_cmd::Command) -> String {
    common::error_line(cmd, "")
}

#[test]
fn describe_prints_counts_and_achieved_ir_on_the_fixture() {
    let out = tdal()
        .args([
            "data",
            "describe",
            "--dataset",
            "fmnist",
            "--targets",
            "5,6",
            "--ir",
            "10",
            "--seed",
            "0",
        ])
        .arg("--data-dir")
        .arg(fixture())
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| -> Vec<usize> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {text}"));
        line[name.len()..]
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    assert_eq!(row("pool "), vec![1020, 1000, 10, 10]);
    assert_eq!(row("target inputs"), vec![60, 0, 30, 30]);
    assert_eq!(row("test "), vec![30, 10, 10, 10]);
    assert_eq!(row("initial labels"), vec![6, 2, 2, 2]);
    assert!(
        text.contains("achieved imbalance ratio") && text.contains(": 10.00"),
        "{text}"
    );
}

#[test]
fn describe_reads_the_data_dir_from_the_environment() {
    let out = tdal()
        .env("TDAL_DATA_DIR", fixture())
        .args(["data", "describe", "--ir", "5", "--targets", "1"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("label map: 0 = other, 1 = 1"), "{text}");
}

#[test]
fn preview_writes_a_png_grid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.png");
    tdal()
        .args(["data", "preview", "--per-row", "4", "--scale", "1"])
        .arg("--data-dir")
        .arg(fixture())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // 8 rows (3 splits × 3 classes, target inputs have no "other") of 28 + 2 px, plus the gap
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!(height, 8 * 30 + 2);
}

#[test]
fn missing_data_dir_is_one_clear_error() {
    let line =
        error_line(tdal().args(["data", "describe", "--data-dir", "/nonexistent/tdal-data"]));
    assert!(
        line.contains("--data-dir") && line.contains("TDAL_DATA_DIR"),
        "{line}"
    );
    let line = error_line(tdal().args(["data", "describe"]));
    assert!(line.contains("no data directory"), "{line}");
}

#[test]
fn missing_file_names_the_expected_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["mnist", "fashion-mnist"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        for f in std::fs::read_dir(fixture().join(name)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.path().join(name).join(f.file_name())).unwrap();
        }
    }
    std::fs::remove_file(dir.path().join("fashion-mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    let line = error_line(
        tdal()
            .args(["data", "describe", "--data-dir"])
            .arg(dir.path()),
    );
    assert!(line.contains("t10k-labels-idx1-ubyte.gz"), "{line}");
}

#[test]
fn wrong_targets_are_one_clear_error() {
    let line = error_line(
        tdal()
            .args(["data", "describe", "--targets", "5,12"])
            .arg("--data-dir")
            .arg(fixture()),
    );
    assert!(line.contains("target class 12 does not exist"), "{line}");
    let line = error_line(
        tdal()
            .args(["data", "describe", "--ir", "0.5"])
            .arg("--data-dir")
            .arg(fixture()),
    );
    assert!(line.contains("IR"), "{line}");
    let line = error_line(
        tdal()
            .args(["data", "describe", "--ir", "2"])
            .arg("--data-dir")
            .arg(fixture()),
    );
    assert!(line.contains("raise --ir"), "{line}");
}
