//! `cargo xtask table1` from the outside: argument errors, `--report-only` on run folders
//! written here with the loop's record types, and a real smoke run on the bundled
//! `fixtures/fmnist-mini`.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{fails, fixture, xtask};
use tdal_loop::record::{self, files};
use tdal_loop::{
    Accuracies, AcquisitionKind, Profile, RepresentationKind, RoundRecord, RunConfig, RunSummary,
    StageSeconds,
};

/// `xtask table1 …` with `TDAL_DATA_DIR` cleared.
fn table1() -> Command {
    xtask("table1")
}

/// Every row's key, as `--rows` takes it.
const ROWS: [&str; 14] = [
    "td-split",
    "us-epig",
    "us-random",
    "td-split-random",
    "td-ft",
    "us-simclr-epig",
    "us-simclr-random",
    "td-ft-random",
    "similar",
    "galaxy",
    "cluster-margin",
    "td-similar",
    "td-galaxy",
    "td-cluster-margin",
];

#[test]
fn unknown_rows_are_rejected_with_the_list_of_rows() {
    let out = tempfile::tempdir().unwrap();
    let err = fails(
        table1()
            .args(["--rows", "us-epig,badge", "--data-dir", "."])
            .arg("--out")
            .arg(out.path()),
        "badge",
    );
    for key in ROWS {
        assert!(err.contains(key), "{key} is not listed: {err}");
    }
    assert!(!out.path().join("runs").exists());
}

#[test]
fn every_row_key_is_accepted_and_listed_in_the_help() {
    let out = tempfile::tempdir().unwrap();
    // The keys parse; with --report-only nothing runs, and an empty folder has no runs.
    fails(
        table1()
            .args(["--report-only", "--rows", &ROWS.join(",")])
            .arg("--out")
            .arg(out.path()),
        "no runs in",
    );
    let help = table1().arg("--help").assert().success();
    let help = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    for (key, name) in [
        ("td-split", "TD-SPLIT (Ours)"),
        ("us-epig", "US+EPIG (VAE)"),
        ("us-random", "US Random (VAE)"),
        ("td-split-random", "TD-SPLIT Random"),
        ("td-ft", "TD-FT (Ours)"),
        ("us-simclr-epig", "US+EPIG (SimCLR)"),
        ("us-simclr-random", "US Random (SimCLR)"),
        ("td-ft-random", "TD-FT Random"),
        ("similar", "SIMILAR"),
        ("galaxy", "GALAXY"),
        ("cluster-margin", "Cluster-Margin"),
        ("td-similar", "TD-SIMILAR"),
        ("td-galaxy", "TD-GALAXY"),
        ("td-cluster-margin", "TD-Cluster-Margin"),
    ] {
        let entry = format!("{key} = {name}");
        assert!(
            help.replace('\n', " ").contains(&entry),
            "{entry:?} missing: {help}"
        );
    }
}

#[test]
fn bad_numbers_are_rejected() {
    let out = tempfile::tempdir().unwrap();
    fails(
        table1()
            .args(["--seeds", "0", "--data-dir", "."])
            .arg("--out")
            .arg(out.path()),
        "--seeds",
    );
    fails(
        table1()
            .args(["--target-share", "1.5", "--data-dir", "."])
            .arg("--out")
            .arg(out.path()),
        "(0, 1)",
    );
    fails(
        table1()
            .args(["--target-share", "six", "--data-dir", "."])
            .arg("--out")
            .arg(out.path()),
        "fraction",
    );
    fails(
        table1()
            .args(["--profile", "huge", "--data-dir", "."])
            .arg("--out")
            .arg(out.path()),
        "quick",
    );
    for flag in ["--max-pool", "--min-update-steps"] {
        fails(
            table1()
                .args([flag, "0", "--data-dir", "."])
                .arg("--out")
                .arg(out.path()),
            flag,
        );
    }
    fails(table1().args(["--data-dir", "."]), "--out");
}

#[test]
fn a_run_needs_a_data_folder() {
    let out = tempfile::tempdir().unwrap();
    let err = fails(table1().arg("--out").arg(out.path()), "--data-dir");
    assert!(err.starts_with("error: "), "{err}");
    let missing = out.path().join("no-such-data");
    fails(
        table1()
            .arg("--data-dir")
            .arg(&missing)
            .arg("--out")
            .arg(out.path()),
        "is not a folder",
    );
    assert!(!out.path().join("runs").exists());
}

#[test]
fn report_only_without_runs_says_what_to_do() {
    let out = tempfile::tempdir().unwrap();
    fails(
        table1().arg("--report-only").arg("--out").arg(out.path()),
        "no runs in",
    );
}

/// A finished smoke run of US Random (VAE) with final primary accuracy `primary`.
fn finished_run(runs: &Path, seed: u64, primary: f64) {
    let mut cfg = RunConfig::method(
        Profile::Smoke,
        RepresentationKind::UsVae,
        AcquisitionKind::Random,
    );
    cfg.seed = seed;
    let dir = runs.join(cfg.run_id());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(files::CONFIG), cfg.to_toml().unwrap()).unwrap();
    let accuracy = Accuracies {
        primary,
        targets_only: Some(primary),
        balanced: primary,
    };
    for round in 0..4 {
        record::append_round(
            &dir,
            &RoundRecord {
                round,
                n_labelled: 6 + 10 * round,
                accuracy,
                retrained: false,
                acquired: Vec::new(),
                target_acquired: round,
                seconds: StageSeconds::default(),
                peak_rss_bytes: 1 << 20,
                kernels: "avx2+fma".into(),
            },
        )
        .unwrap();
    }
    let summary = RunSummary {
        run_id: cfg.run_id(),
        final_accuracy: accuracy,
        n_labelled: 36,
        target_acquired: 3,
        rounds: 4,
        loop_seconds: 30.0,
        initialise_seconds: 30.0,
        encoder_cached: false,
        peak_rss_bytes: 1 << 30,
        kernels: "avx2+fma".into(),
    };
    std::fs::write(
        dir.join(files::SUMMARY),
        serde_json::to_string(&summary).unwrap(),
    )
    .unwrap();
}

#[test]
fn report_only_rewrites_the_report_from_existing_runs() {
    let out = tempfile::tempdir().unwrap();
    let runs = out.path().join("runs");
    finished_run(&runs, 0, 0.40);
    finished_run(&runs, 1, 0.50);
    table1()
        .arg("--report-only")
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let md = std::fs::read_to_string(out.path().join("table1.md")).unwrap();
    // 40 and 50 %: mean 45, sample sd 7.07, s.e. 5.
    assert!(
        md.contains("| 7 | **US Random (VAE)** | 86.50 ± 2.24 | **45.00 ± 5.00** | 2 |"),
        "{md}"
    );
    assert!(
        md.contains("--report-only"),
        "the command is recorded: {md}"
    );
    assert!(md.contains("profile: `smoke`"), "{md}");
    // Every row is implemented; the baselines without runs say so.
    assert_eq!(md.matches("not implemented yet").count(), 0);
    assert!(out.path().join("table4.md").is_file() && out.path().join("table5.md").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("table1.json")).unwrap())
            .unwrap();
    assert_eq!(json["rows"][6]["ours"]["seeds"], serde_json::json!([0, 1]));
    let svg = std::fs::read_to_string(out.path().join("curves.svg")).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
}

/// The whole path on the bundled small F+MNIST: one smoke run, then the same command again
/// skips it (the run is finished) and rewrites the same numbers.
#[test]
fn smoke_table_on_the_bundled_fixture() {
    let out = tempfile::tempdir().unwrap();
    let data = fixture();
    let args = |cmd: &mut Command| {
        cmd.args([
            "--profile",
            "smoke",
            "--seeds",
            "1",
            "--rows",
            "us-random",
            "--quiet",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(out.path());
    };
    let mut first = table1();
    args(&mut first);
    first.assert().success();
    let md = std::fs::read_to_string(out.path().join("table1.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.starts_with("| 7 | **US Random (VAE)**"))
        .unwrap_or_else(|| panic!("no finished US Random row: {md}"));
    assert!(line.contains("(n=1)"), "{line}");
    let run_dirs: Vec<PathBuf> = std::fs::read_dir(out.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(run_dirs.len(), 1);
    let rounds = run_dirs[0].join(files::ROUNDS);
    let written = std::fs::metadata(&rounds).unwrap().modified().unwrap();

    let mut again = table1();
    args(&mut again);
    again.assert().success();
    assert_eq!(
        std::fs::metadata(&rounds).unwrap().modified().unwrap(),
        written,
        "a finished run is skipped, not redone"
    );
    let md_again = std::fs::read_to_string(out.path().join("table1.md")).unwrap();
    assert!(md_again.contains(line), "{md_again}");
}

/// The SimCLR rows on the bundled small F+MNIST (about 10 s): TD-FT pretrains the SimCLR
/// encoder and caches it, and US Random (SimCLR), run after it for the same seed, loads it.
#[test]
fn smoke_simclr_rows_run_and_share_one_pretrained_encoder() {
    let out = tempfile::tempdir().unwrap();
    table1()
        .args([
            "--profile",
            "smoke",
            "--seeds",
            "1",
            "--rows",
            "td-ft,us-simclr-epig,us-simclr-random,td-ft-random",
            "--quiet",
        ])
        .arg("--data-dir")
        .arg(fixture())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let md = std::fs::read_to_string(out.path().join("table1.md")).unwrap();
    for (start, cached) in [
        ("| 11 | **TD-FT (Ours)** | 99.56 ± 0.10 | **", 0),
        (
            "| 4 | **US+EPIG (SimCLRv2, Bickford Smith et al. (2024))** | 98.53 ± 0.12 | **",
            1,
        ),
        ("| 6 | **US Random (SimCLRv2)** | 92.76 ± 2.37 | **", 1),
        ("| 8 | **TD-FT Random** | 96.23 ± 0.37 | **", 1),
    ] {
        let line = md
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no finished {start:?} row: {md}"));
        assert!(line.contains("(n=1)"), "{line}");
        assert!(
            line.contains(&format!("(encoder from cache in {cached} of 1)")),
            "{line}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("table1.json")).unwrap())
            .unwrap();
    assert_eq!(json["rows"][10]["row"], "td-ft");
    assert_eq!(json["rows"][10]["ours"]["seeds"], serde_json::json!([0]));
    assert_eq!(json["rows"][5]["ours"]["seeds"], serde_json::json!([0]));
    // The VAE rows did not run.
    assert!(
        json["rows"][4]["ours"]["seeds"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let runs = std::fs::read_dir(out.path().join("runs")).unwrap().count();
    assert_eq!(runs, 4);
}
