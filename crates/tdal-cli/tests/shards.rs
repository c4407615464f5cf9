//! `tdal score` and `tdal select` on pools in shards: a folder or repeated files give the
//! scores and the batch of the concatenated pool, bit for bit; bad shards fail cleanly.

use std::path::{Path, PathBuf};

mod common;

use common::{assert_no_partial_files, error_line, path_str, tdal};
use ndarray::{Array1, Array3, s};
use ndarray_npy::{read_npy, write_npy};
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/epig-example")
        .join(name)
}

/// Splits the fixture pool (1,000 inputs) into shards of uneven sizes in `dir/shards/`,
/// the second one float64; returns the folder and the shard boundaries.
fn split_pool(dir: &Path) -> (PathBuf, Vec<(usize, usize)>) {
    let pool: Array3<f32> = read_npy(fixture("pool.npy")).unwrap();
    let folder = dir.join("shards");
    std::fs::create_dir(&folder).unwrap();
    let bounds = vec![(0, 317), (317, 318), (318, 700), (700, 1000)];
    for (i, &(start, end)) in bounds.iter().enumerate() {
        let part = pool.slice(s![start..end, .., ..]).to_owned();
        let path = folder.join(format!("part-{i:02}.npy"));
        if i == 2 {
            write_npy(&path, &part.mapv(f64::from)).unwrap();
        } else {
            write_npy(&path, &part).unwrap();
        }
    }
    (folder, bounds)
}

fn score(method: &str, pools: &[&Path], out: &Path, extra: &[&str]) -> Array1<f32> {
    let mut cmd = tdal();
    cmd.args(["score", "--method", method, "--out", path_str(out)]);
    for pool in pools {
        cmd.args(["--pool", path_str(pool)]);
    }
    if method == "epig" {
        cmd.args(["--targets", path_str(&fixture("targets.npy"))]);
    }
    cmd.args(extra).assert().success();
    read_npy(out).unwrap()
}

#[test]
fn sharded_pools_score_exactly_as_one_file() {
    let dir = TempDir::new().unwrap();
    let (folder, bounds) = split_pool(dir.path());
    let parts: Vec<PathBuf> = (0..bounds.len())
        .map(|i| folder.join(format!("part-{i:02}.npy")))
        .collect();
    let out = dir.path().join("scores.npy");
    for method in ["epig", "bald", "entropy", "confidence", "margin", "random"] {
        let whole = score(method, &[&fixture("pool.npy")], &out, &["--seed", "4"]);
        assert_eq!(whole.len(), 1000);
        let from_folder = score(method, &[&folder], &out, &["--seed", "4"]);
        assert_eq!(from_folder, whole, "{method}: a folder of shards");
        let part_refs: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
        let small_blocks = score(
            method,
            &part_refs,
            &out,
            &["--seed", "4", "--block-inputs", "7"],
        );
        assert_eq!(
            small_blocks, whole,
            "{method}: repeated --pool, blocks of 7"
        );
    }
}

#[test]
fn a_worker_scoring_one_shard_with_its_offset_gets_the_whole_pools_random_scores() {
    let dir = TempDir::new().unwrap();
    let (folder, bounds) = split_pool(dir.path());
    let out = dir.path().join("scores.npy");
    let whole = score("random", &[&fixture("pool.npy")], &out, &["--seed", "9"]);
    let (start, end) = bounds[3];
    let offset = start.to_string();
    let part = score(
        "random",
        &[&folder.join("part-03.npy")],
        &out,
        &["--seed", "9", "--offset", &offset],
    );
    assert_eq!(part, whole.slice(s![start..end]));
}

#[test]
fn timings_report_the_resident_memory_too() {
    let dir = TempDir::new().unwrap();
    let (folder, _) = split_pool(dir.path());
    let out = dir.path().join("scores.npy");
    let output = tdal()
        .args(["score", "--method", "epig", "--pool", path_str(&folder)])
        .args(["--targets", path_str(&fixture("targets.npy"))])
        .args(["--out", path_str(&out), "--timings"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let line: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(line["n"].as_u64(), Some(1000));
    assert!(line["score_seconds"].as_f64().unwrap() > 0.0);
    assert!(line["wall_seconds"].as_f64().unwrap() >= line["score_seconds"].as_f64().unwrap());
    // The float64 shard is converted block by block (a 318 × 50 × 3 f32 block is 191 kB):
    // nothing close to the whole pool's 600 kB, let alone the joint.
    let peak = line["peak_bytes"].as_u64().unwrap();
    assert!(peak > 0 && peak < 3_600_000, "{peak}");
    assert!(line["max_rss_bytes"].as_u64().unwrap() > 0);
}

fn select(scores: &[&Path], extra: &[&str]) -> Vec<usize> {
    let mut cmd = tdal();
    cmd.arg("select");
    for file in scores {
        cmd.args(["--scores", path_str(file)]);
    }
    let out = cmd.args(extra).output().unwrap();
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
fn selection_over_score_shards_is_the_whole_pools_batch() {
    let dir = TempDir::new().unwrap();
    let scores: Array1<f32> = (0..500)
        .map(|i| ((i * 7919) % 500) as f32 / 500.0)
        .collect();
    let whole = dir.path().join("whole.npy");
    write_npy(&whole, &scores).unwrap();
    let folder = dir.path().join("scores");
    std::fs::create_dir(&folder).unwrap();
    for (i, (start, end)) in [(0, 120), (120, 121), (121, 400), (400, 500)]
        .into_iter()
        .enumerate()
    {
        write_npy(
            folder.join(format!("s-{i}.npy")),
            &scores.slice(s![start..end]).to_owned(),
        )
        .unwrap();
    }
    for strategy in ["topk", "power", "softmax", "softrank"] {
        let args = [
            "--batch-size",
            "25",
            "--strategy",
            strategy,
            "--beta",
            "6",
            "--seed",
            "13",
        ];
        let want = select(&[&whole], &args);
        assert_eq!(want.len(), 25);
        assert_eq!(select(&[&folder], &args), want, "{strategy}");
    }
}

fn fails(args: &[&str], needle: &str) -> String {
    error_line(tdal().args(args), needle)
}

#[test]
fn bad_shards_fail_cleanly_and_leave_no_output() {
    let dir = TempDir::new().unwrap();
    let d = |name: &str| dir.path().join(name);
    let out = d("out.npy");
    let o = path_str(&out);

    std::fs::create_dir(d("empty")).unwrap();
    fails(
        &[
            "score",
            "--method",
            "bald",
            "--pool",
            path_str(&d("empty")),
            "--out",
            o,
        ],
        "no .npy file",
    );

    let pool: Array3<f32> = read_npy(fixture("pool.npy")).unwrap();
    write_npy(d("a.npy"), &pool.slice(s![..10, .., ..]).to_owned()).unwrap();
    write_npy(d("k7.npy"), &Array3::<f32>::from_elem((3, 7, 3), 1.0 / 3.0)).unwrap();
    fails(
        &[
            "score",
            "--method",
            "bald",
            "--pool",
            path_str(&d("a.npy")),
            "--pool",
            path_str(&d("k7.npy")),
            "--out",
            o,
        ],
        "K=7",
    );

    let mut nan = pool.slice(s![10..20, .., ..]).to_owned();
    nan[[4, 2, 1]] = f32::NAN;
    write_npy(d("nan.npy"), &nan).unwrap();
    let line = fails(
        &[
            "score",
            "--method",
            "epig",
            "--pool",
            path_str(&d("a.npy")),
            "--pool",
            path_str(&d("nan.npy")),
            "--targets",
            path_str(&fixture("targets.npy")),
            "--out",
            o,
        ],
        "pool[14, 2, 1] is NaN",
    );
    assert!(
        line.contains("nan.npy") && line.contains("10..20"),
        "{line}"
    );

    let bytes = std::fs::read(d("a.npy")).unwrap();
    std::fs::write(d("truncated.npy"), &bytes[..bytes.len() - 100]).unwrap();
    fails(
        &[
            "score",
            "--method",
            "bald",
            "--pool",
            path_str(&d("truncated.npy")),
            "--out",
            o,
        ],
        "truncated",
    );
    assert!(!out.exists());
    assert_no_partial_files(dir.path());

    write_npy(d("s1.npy"), &Array1::from(vec![0.1f32, 0.2])).unwrap();
    write_npy(d("s2.npy"), &Array1::from(vec![0.3f32, f32::NAN])).unwrap();
    let s1 = path_str(&d("s1.npy")).to_owned();
    let s2 = path_str(&d("s2.npy")).to_owned();
    fails(
        &[
            "select",
            "--scores",
            &s1,
            "--scores",
            &s2,
            "--batch-size",
            "1",
            "--strategy",
            "power",
        ],
        "score 3 is NaN",
    );
    fails(
        &[
            "select",
            "--scores",
            &s1,
            "--scores",
            &s1,
            "--batch-size",
            "5",
            "--strategy",
            "topk",
        ],
        "between 1 and 4",
    );
}
