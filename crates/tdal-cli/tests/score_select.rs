//! `tdal score` and `tdal select` on real `.npy` files: results against the independent
//! numpy reference in `fixtures/epig-example`, and every bad input → non-zero exit, one
//! clear `error:` line on stderr, no output file left behind.

use std::path::{Path, PathBuf};

mod common;

use common::{assert_no_partial_files, error_line, path_str, tdal};
use ndarray::{Array1, Array2, Array3, ArrayD};
use ndarray_npy::{read_npy, write_npy};
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/epig-example")
        .join(name)
}

/// Runs `tdal` expecting failure (see [`common::error_line`]).
fn fails(args: &[&str], needle: &str) -> String {
    error_line(tdal().args(args), needle)
}

fn score(dir: &TempDir, method: &str, extra: &[&str]) -> Array1<f32> {
    let out = dir.path().join(format!("{method}.npy"));
    let pool = fixture("pool.npy");
    let targets = fixture("targets.npy");
    let mut args = vec![
        "score",
        "--method",
        method,
        "--pool",
        path_str(&pool),
        "--out",
        path_str(&out),
    ];
    if method == "epig" {
        args.extend(["--targets", path_str(&targets)]);
    }
    args.extend(extra);
    tdal().args(&args).assert().success();
    read_npy(&out).unwrap()
}

#[test]
fn every_method_matches_the_numpy_reference() {
    let dir = TempDir::new().unwrap();
    for method in ["epig", "bald", "entropy", "confidence", "margin"] {
        let got = score(&dir, method, &[]);
        let want: Array1<f64> = read_npy(fixture(&format!("expected_{method}.npy"))).unwrap();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "{method}: worst difference {worst}");
    }
}

#[test]
fn float64_inputs_give_the_same_scores() {
    let dir = TempDir::new().unwrap();
    let pool: Array3<f32> = read_npy(fixture("pool.npy")).unwrap();
    let targets: Array3<f32> = read_npy(fixture("targets.npy")).unwrap();
    let pool64 = dir.path().join("pool64.npy");
    let targets64 = dir.path().join("targets64.npy");
    write_npy(&pool64, &pool.mapv(f64::from)).unwrap();
    write_npy(&targets64, &targets.mapv(f64::from)).unwrap();
    let out = dir.path().join("s.npy");
    tdal()
        .args([
            "score",
            "--method",
            "epig",
            "--pool",
            path_str(&pool64),
            "--targets",
            path_str(&targets64),
        ])
        .args(["--out", path_str(&out)])
        .assert()
        .success();
    let from64: Array1<f32> = read_npy(&out).unwrap();
    assert_eq!(from64, score(&dir, "epig", &[]));
}

#[test]
fn random_is_seeded_and_timings_are_one_json_line() {
    let dir = TempDir::new().unwrap();
    let a = score(&dir, "random", &["--seed", "5"]);
    let b = score(&dir, "random", &["--seed", "5"]);
    let c = score(&dir, "random", &["--seed", "6"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let out = dir.path().join("t.npy");
    let pool = fixture("pool.npy");
    let targets = fixture("targets.npy");
    let output = tdal()
        .args([
            "score",
            "--method",
            "epig",
            "--pool",
            path_str(&pool),
            "--targets",
            path_str(&targets),
        ])
        .args(["--out", path_str(&out), "--timings"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let line: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert!(line["score_seconds"].as_f64().unwrap() > 0.0);
    // The joint is never materialised: N·C·M·C·4 bytes would be 3.6 MB here.
    let peak = line["peak_bytes"].as_u64().unwrap();
    assert!(peak > 0 && peak < 3_600_000, "{peak}");
}

#[test]
fn renormalise_accepts_unnormalised_rows() {
    let dir = TempDir::new().unwrap();
    let pool: Array3<f32> = read_npy(fixture("pool.npy")).unwrap();
    let scaled = dir.path().join("scaled.npy");
    write_npy(&scaled, &pool.mapv(|p| p * 3.0)).unwrap();
    let out = dir.path().join("s.npy");
    let args = [
        "score",
        "--method",
        "bald",
        "--pool",
        path_str(&scaled),
        "--out",
        path_str(&out),
    ];
    fails(&args, "--renormalise");
    assert!(!out.exists());
    tdal().args(args).arg("--renormalise").assert().success();
    let got: Array1<f32> = read_npy(&out).unwrap();
    let want = score(&dir, "bald", &[]);
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn bad_score_inputs_fail_cleanly_and_leave_no_output() {
    let dir = TempDir::new().unwrap();
    let d = |name: &str| dir.path().join(name);
    let out = d("out.npy");
    let pool = fixture("pool.npy");
    let targets = fixture("targets.npy");

    let mut nan: Array3<f32> = read_npy(&pool).unwrap();
    nan[[3, 1, 2]] = f32::NAN;
    write_npy(d("nan.npy"), &nan).unwrap();
    let mut negative: Array3<f32> = read_npy(&pool).unwrap();
    negative[[7, 0, 0]] = -0.25;
    write_npy(d("negative.npy"), &negative).unwrap();
    write_npy(d("rank2.npy"), &Array2::<f32>::from_elem((4, 3), 0.25)).unwrap();
    write_npy(
        d("k_mismatch.npy"),
        &Array3::<f32>::from_elem((5, 7, 3), 1.0 / 3.0),
    )
    .unwrap();
    write_npy(d("empty.npy"), &Array3::<f32>::zeros((0, 50, 3))).unwrap();
    write_npy(d("ints.npy"), &ArrayD::<i32>::zeros(vec![2, 2, 2])).unwrap();
    std::fs::write(d("garbage.npy"), b"this is not an npy file").unwrap();

    let o = path_str(&out);
    let t = path_str(&targets);
    let p = path_str(&pool);
    let dstr = |name: &str| d(name).to_str().unwrap().to_owned();
    let case = |args: &[&str]| {
        args.iter()
            .map(|a| (*a).to_owned())
            .collect::<Vec<String>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            case(&[
                "--method",
                "bald",
                "--pool",
                &dstr("missing.npy"),
                "--out",
                o,
            ]),
            "missing.npy",
        ),
        (
            case(&[
                "--method",
                "bald",
                "--pool",
                &dstr("garbage.npy"),
                "--out",
                o,
            ]),
            "not a valid .npy",
        ),
        (
            case(&["--method", "bald", "--pool", &dstr("ints.npy"), "--out", o]),
            "float32 or float64",
        ),
        (
            case(&["--method", "bald", "--pool", &dstr("rank2.npy"), "--out", o]),
            "[N, K, C]",
        ),
        (
            case(&["--method", "bald", "--pool", &dstr("nan.npy"), "--out", o]),
            "pool[3, 1, 2] is NaN",
        ),
        (
            case(&[
                "--method",
                "entropy",
                "--pool",
                &dstr("negative.npy"),
                "--out",
                o,
            ]),
            "≥ 0",
        ),
        (
            case(&[
                "--method",
                "epig",
                "--pool",
                &dstr("empty.npy"),
                "--targets",
                t,
                "--out",
                o,
            ]),
            "every axis ≥ 1",
        ),
        (
            case(&[
                "--method",
                "epig",
                "--pool",
                &dstr("k_mismatch.npy"),
                "--targets",
                t,
                "--out",
                o,
            ]),
            "K=7",
        ),
        (
            case(&[
                "--method",
                "epig",
                "--pool",
                p,
                "--targets",
                &dstr("nan.npy"),
                "--out",
                o,
            ]),
            "targets[3, 1, 2]",
        ),
        (
            case(&["--method", "epig", "--pool", p, "--out", o]),
            "--targets",
        ),
        (
            case(&[
                "--method",
                "bald",
                "--pool",
                p,
                "--out",
                &dstr("no/such/dir/out.npy"),
            ]),
            "cannot create",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["score"];
        full.extend(args.iter().map(String::as_str));
        fails(&full, needle);
        assert!(!out.exists(), "{full:?} left an output behind");
    }
    assert_no_partial_files(dir.path());
}

#[test]
fn failed_score_keeps_an_existing_output_intact() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("keep.npy");
    std::fs::write(&out, b"precious").unwrap();
    let bad = dir.path().join("bad.npy");
    write_npy(&bad, &Array3::<f32>::from_elem((2, 2, 2), 0.9)).unwrap();
    fails(
        &[
            "score",
            "--method",
            "bald",
            "--pool",
            path_str(&bad),
            "--out",
            path_str(&out),
        ],
        "sums to",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

fn select(scores: &Path, extra: &[&str]) -> Vec<usize> {
    let out = tdal()
        .args(["select", "--scores", path_str(scores)])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn select_topk_and_stochastic_batches() {
    let dir = TempDir::new().unwrap();
    let scores_path = dir.path().join("scores.npy");
    let scores: Array1<f32> = (0..200).map(|i| ((i * 37) % 200) as f32 / 200.0).collect();
    write_npy(&scores_path, &scores).unwrap();

    let top = select(&scores_path, &["--batch-size", "5", "--strategy", "topk"]);
    let mut order: Vec<usize> = (0..200).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    assert_eq!(top, order[..5]);

    for strategy in ["power", "softmax", "softrank"] {
        let args = [
            "--batch-size",
            "20",
            "--strategy",
            strategy,
            "--beta",
            "4",
            "--seed",
            "3",
        ];
        let a = select(&scores_path, &args);
        assert_eq!(a, select(&scores_path, &args), "{strategy} is seeded");
        let mut unique = a.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        assert!(a.iter().all(|&i| i < 200));
    }
    // f64 scores are accepted.
    let scores64 = dir.path().join("scores64.npy");
    write_npy(&scores64, &scores.mapv(f64::from)).unwrap();
    assert_eq!(
        select(&scores64, &["--batch-size", "5", "--strategy", "topk"]),
        top
    );
}

#[test]
fn topk_on_float64_scores_keeps_differences_float32_cannot_hold() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("close.npy");
    // 1 + k·1e-9 are all the same float32 (1.0): numpy's order is by the float64 values.
    let scores: Array1<f64> = Array1::from(vec![1.0, 1.0 + 3e-9, 0.5, 1.0 + 1e-9, 1.0 + 2e-9]);
    write_npy(&path, &scores).unwrap();
    assert_eq!(
        select(&path, &["--batch-size", "4", "--strategy", "topk"]),
        vec![1, 4, 3, 0]
    );
    // Equal scores go to the lower index; the batch spans several files as one pool.
    let second = dir.path().join("second.npy");
    write_npy(&second, &Array1::from(vec![1.0 + 3e-9, 2.0])).unwrap();
    let out = tdal()
        .args([
            "select",
            "--scores",
            path_str(&path),
            "--scores",
            path_str(&second),
        ])
        .args(["--batch-size", "3", "--strategy", "topk"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "6\n1\n5\n");
    // A finite float64 score beyond float32's range is named, not turned into infinity.
    let huge = dir.path().join("huge.npy");
    write_npy(&huge, &Array1::from(vec![1.0, 1e300])).unwrap();
    fails(
        &[
            "select",
            "--scores",
            path_str(&huge),
            "--batch-size",
            "1",
            "--strategy",
            "power",
        ],
        "beyond float32",
    );
    assert_eq!(
        select(&huge, &["--batch-size", "1", "--strategy", "topk"]),
        vec![1]
    );
    // A negative β written with a space is the β error, not a usage error.
    fails(
        &[
            "select",
            "--scores",
            path_str(&path),
            "--batch-size",
            "1",
            "--strategy",
            "power",
            "--beta",
            "-1",
        ],
        "beta",
    );
}

#[test]
fn bad_select_inputs_fail_cleanly() {
    let dir = TempDir::new().unwrap();
    let scores = dir.path().join("scores.npy");
    write_npy(&scores, &Array1::from(vec![0.1f32, 0.5, 0.2])).unwrap();
    let nan = dir.path().join("nan.npy");
    write_npy(&nan, &Array1::from(vec![0.1f32, f32::NAN])).unwrap();
    let rank2 = dir.path().join("rank2.npy");
    write_npy(&rank2, &Array2::<f32>::zeros((2, 2))).unwrap();
    let s = path_str(&scores);
    fails(
        &[
            "select",
            "--scores",
            s,
            "--batch-size",
            "4",
            "--strategy",
            "topk",
        ],
        "between 1 and 3",
    );
    fails(
        &[
            "select",
            "--scores",
            s,
            "--batch-size",
            "0",
            "--strategy",
            "power",
        ],
        "between 1 and 3",
    );
    fails(
        &[
            "select",
            "--scores",
            s,
            "--batch-size",
            "1",
            "--strategy",
            "power",
            "--beta=-1",
        ],
        "beta",
    );
    fails(
        &[
            "select",
            "--scores",
            path_str(&nan),
            "--batch-size",
            "1",
            "--strategy",
            "topk",
        ],
        "score 1 is NaN",
    );
    fails(
        &[
            "select",
            "--scores",
            path_str(&rank2),
            "--batch-size",
            "1",
            "--strategy",
            "topk",
        ],
        "[N]",
    );
    fails(
        &[
            "select",
            "--scores",
            path_str(&dir.path().join("none.npy")),
            "--batch-size",
            "1",
            "--strategy",
            "topk",
        ],
        "none.npy",
    );
}
