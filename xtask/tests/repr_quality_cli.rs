//! `cargo xtask repr-quality` from the outside: argument errors, `--require-cached` on an
//! empty cache, and the whole figure on the bundled `fixtures/fmnist-mini` (smoke profile,
//! seconds), twice: the second time the US VAE comes from the cache.

mod common;

use assert_cmd::Command;
use common::{fails, fixture, xtask};

/// `xtask repr-quality …` with `TDAL_DATA_DIR` cleared.
fn repr_quality() -> Command {
    xtask("repr-quality")
}

#[test]
fn bad_arguments_are_rejected() {
    fails(
        repr_quality().args(["--labels", "0", "--data-dir", "."]),
        "--labels",
    );
    fails(
        repr_quality().args(["--profile", "paper", "--data-dir", "."]),
        "quick",
    );
    fails(
        repr_quality().args(["--draw", "stratified", "--data-dir", "."]),
        "balanced",
    );
    fails(&mut repr_quality(), "--data-dir");
    fails(
        repr_quality().args(["--data-dir", "no-such-folder"]),
        "is not a folder",
    );
    fails(
        repr_quality()
            .args(["--profile", "smoke", "--labels", "5000", "--quiet"])
            .arg("--data-dir")
            .arg(fixture()),
        "more than the pool",
    );
}

#[test]
fn require_cached_refuses_to_train_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("rq.md");
    let stderr = fails(
        repr_quality()
            .args([
                "--profile",
                "smoke",
                "--labels",
                "20",
                "--quiet",
                "--require-cached",
            ])
            .arg("--data-dir")
            .arg(fixture())
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--out")
            .arg(&out),
        "holds no US VAE",
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!cache.join("us-vae").exists(), "no encoder entry");
    assert!(!out.exists());
}

/// Table rows of one draw, in order.
fn rows<'a>(md: &'a str, draw: &str) -> Vec<&'a str> {
    md.lines()
        .filter(|l| l.starts_with("| ") && l.contains(&format!(" | {draw} | ")))
        .collect()
}

#[test]
fn smoke_figure_on_the_bundled_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("results/repr-quality.md");
    let args = |cmd: &mut Command| {
        cmd.args(["--profile", "smoke", "--labels", "20", "--quiet"])
            .arg("--data-dir")
            .arg(fixture())
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--out")
            .arg(&out);
    };
    let mut first = repr_quality();
    args(&mut first);
    let output = first.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let md = std::fs::read_to_string(&out).unwrap();
    assert_eq!(stdout, md, "the table is printed and written");
    let balanced = rows(&md, "balanced");
    assert_eq!(balanced.len(), 3, "{md}");
    assert!(
        balanced[0].starts_with("| US VAE z | balanced | 10 |"),
        "{md}"
    );
    assert!(
        balanced[1].starts_with("| US VAE z[..3] | balanced | 3 |"),
        "{md}"
    );
    assert!(
        balanced[2].starts_with("| TD-SPLIT z_c | balanced | 3 |"),
        "{md}"
    );
    assert!(balanced[0].ends_with("| trained US VAE |"), "{md}");
    assert_eq!(rows(&md, "uniform").len(), 3, "{md}");
    // 20 labels over 3 classes: 7 / 7 / 6.
    assert!(
        md.contains("`balanced` draw: 20 points (0 = other: 7, 1 = MNIST 5: 7, 2 = MNIST 6: 6)"),
        "{md}"
    );
    for row in &balanced {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        for pct in &cells[4..7] {
            let v: f64 = pct.parse().unwrap();
            assert!((0.0..=100.0).contains(&v), "{row}");
        }
    }

    // Again with --require-cached: the US VAE is loaded, and the numbers are the same.
    let mut again = repr_quality();
    args(&mut again);
    again.args(["--require-cached", "--draw", "balanced"]);
    let output = again.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let md_again = String::from_utf8(output.stdout).unwrap();
    let balanced_again = rows(&md_again, "balanced");
    assert_eq!(balanced_again.len(), 3, "{md_again}");
    assert!(rows(&md_again, "uniform").is_empty());
    assert!(
        balanced_again[0].ends_with("| cached US VAE |"),
        "{md_again}"
    );
    let accuracies = |row: &str| -> Vec<String> {
        row.split('|')
            .skip(4)
            .take(3)
            .map(|c| c.trim().to_owned())
            .collect()
    };
    for (a, b) in balanced.iter().zip(&balanced_again) {
        assert_eq!(accuracies(a), accuracies(b), "{md}\n{md_again}");
    }
}
