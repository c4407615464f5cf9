//! `tdal forest` on real `.npy` files written here: per-tree probabilities of the right
//! shape that sum to 1 and classify a separable task, `--timings` JSON, seeding, and every
//! bad input → non-zero exit, one clear `error:` line on stderr, no output file left
//! behind.

use std::path::Path;

mod common;

use common::{assert_no_partial_files, error_line, path_str, tdal};
use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::{read_npy, write_npy};
use tempfile::TempDir;

/// Two classes on either side of x0 = 0 with a nuisance feature; `rows` rows.
fn separable(rows: usize, offset: f32) -> (Array2<f32>, Array1<i64>) {
    let x = Array2::from_shape_fn((rows, 2), |(i, j)| {
        let t = i as f32 / rows as f32;
        if j == 0 {
            if i % 2 == 0 {
                1.0 + t + offset
            } else {
                -1.0 - t - offset
            }
        } else {
            ((i * 7) % 13) as f32 * 0.1
        }
    });
    let y = Array1::from_shape_fn(rows, |i| i64::from(i % 2 == 0));
    (x, y)
}

/// Writes the standard inputs into `dir` and returns (train-x, train-y, test-x) paths.
fn write_inputs(dir: &TempDir) -> [String; 3] {
    let (train_x, train_y) = separable(60, 0.0);
    let (test_x, _) = separable(25, 0.05);
    let paths = ["train_x.npy", "train_y.npy", "test_x.npy"]
        .map(|name| dir.path().join(name).to_str().unwrap().to_owned());
    write_npy(&paths[0], &train_x).unwrap();
    write_npy(&paths[1], &train_y).unwrap();
    write_npy(&paths[2], &test_x.mapv(f64::from)).unwrap(); // f64 is accepted too
    paths
}

/// Runs `tdal` expecting failure (see [`common::error_line`]) and no `out` file, temporary
/// or final, left behind.
fn fails(args: &[&str], needle: &str, out: &Path) {
    error_line(tdal().args(args), needle);
    assert!(!out.exists(), "no output may be left behind on error");
    assert_no_partial_files(out.parent().unwrap());
}

#[test]
fn writes_per_tree_probabilities_that_sum_to_one_and_classify() {
    let dir = TempDir::new().unwrap();
    let [train_x, train_y, test_x] = write_inputs(&dir);
    let out = dir.path().join("probs.npy");
    let assert = tdal()
        .args([
            "forest",
            "--train-x",
            &train_x,
            "--train-y",
            &train_y,
            "--test-x",
            &test_x,
        ])
        .args([
            "--trees",
            "30",
            "--seed",
            "3",
            "--out",
            path_str(&out),
            "--timings",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let timings: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert!(timings["fit_seconds"].as_f64().unwrap() >= 0.0);
    assert!(timings["predict_seconds"].as_f64().unwrap() >= 0.0);

    let probs: Array3<f32> = read_npy(&out).unwrap();
    assert_eq!(probs.dim(), (25, 30, 2));
    for row in probs.lanes(Axis(2)) {
        assert!((row.sum() - 1.0).abs() < 1e-5);
        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
    }
    let mean = probs.mean_axis(Axis(1)).unwrap();
    for (i, row) in mean.rows().into_iter().enumerate() {
        let predicted = usize::from(row[1] > row[0]);
        assert_eq!(predicted, usize::from(i % 2 == 0), "test row {i}");
    }

    // The same seed reproduces the file; the default is 250 trees.
    let again = dir.path().join("again.npy");
    tdal()
        .args([
            "forest",
            "--train-x",
            &train_x,
            "--train-y",
            &train_y,
            "--test-x",
            &test_x,
        ])
        .args(["--trees", "30", "--seed", "3", "--out", path_str(&again)])
        .assert()
        .success()
        .stderr("");
    assert_eq!(probs, read_npy::<_, Array3<f32>>(&again).unwrap());
    let default = dir.path().join("default.npy");
    tdal()
        .args([
            "forest",
            "--train-x",
            &train_x,
            "--train-y",
            &train_y,
            "--test-x",
            &test_x,
        ])
        .args(["--out", path_str(&default)])
        .assert()
        .success();
    assert_eq!(
        read_npy::<_, Array3<f32>>(&default).unwrap().dim(),
        (25, 250, 2)
    );
}

#[test]
fn bool_labels_are_read_as_0_and_1() {
    // numpy's `y > 0` is a bool array, as Python's tdal.RandomForest accepts: `|b1` `.npy`
    // labels give the forest of the same labels as integers.
    let dir = TempDir::new().unwrap();
    let [train_x, train_y, test_x] = write_inputs(&dir);
    let (_, good_y) = separable(60, 0.0);
    let bool_y = dir.path().join("bool_y.npy");
    write_npy(&bool_y, &good_y.mapv(|v| v == 1)).unwrap();
    let fit = |y: &str, out: &Path| {
        tdal()
            .args([
                "forest",
                "--train-x",
                &train_x,
                "--train-y",
                y,
                "--test-x",
                &test_x,
            ])
            .args(["--trees", "10", "--seed", "1", "--out", path_str(out)])
            .assert()
            .success();
        read_npy::<_, Array3<f32>>(out).unwrap()
    };
    let from_ints = fit(&train_y, &dir.path().join("ints.npy"));
    let from_bools = fit(path_str(&bool_y), &dir.path().join("bools.npy"));
    assert_eq!(from_ints.dim(), (25, 10, 2));
    assert_eq!(from_bools, from_ints);
}

#[test]
fn bad_inputs_fail_with_one_error_line_and_no_output() {
    let dir = TempDir::new().unwrap();
    let [train_x, train_y, test_x] = write_inputs(&dir);
    let out = dir.path().join("probs.npy");
    let out_s = path_str(&out).to_owned();
    let write = |name: &str, write: &dyn Fn(&Path)| {
        let path = dir.path().join(name);
        write(&path);
        path.to_str().unwrap().to_owned()
    };
    let run = |x: &str, y: &str, t: &str, extra: &[&str], needle: &str| {
        let mut args = vec![
            "forest",
            "--train-x",
            x,
            "--train-y",
            y,
            "--test-x",
            t,
            "--out",
            &out_s,
        ];
        args.extend(extra);
        fails(&args, needle, &out);
    };

    let (good_x, good_y) = separable(60, 0.0);
    let mut nan_x = good_x.clone();
    nan_x[[4, 1]] = f32::NAN;
    let nan_x = write("nan_x.npy", &|p| write_npy(p, &nan_x).unwrap());
    run(&nan_x, &train_y, &test_x, &[], "non-finite");
    let mut inf_test = good_x.clone();
    inf_test[[0, 0]] = f32::INFINITY;
    let inf_test = write("inf_test.npy", &|p| write_npy(p, &inf_test).unwrap());
    run(&train_x, &train_y, &inf_test, &[], "non-finite");

    let short_y = write("short_y.npy", &|p| {
        write_npy(p, &good_y.slice(ndarray::s![..50]).to_owned()).unwrap();
    });
    run(&train_x, &short_y, &test_x, &[], "must match");
    let negative_y = write("negative_y.npy", &|p| {
        write_npy(p, &good_y.mapv(|v| v - 1)).unwrap();
    });
    run(&train_x, &negative_y, &test_x, &[], "label -1");
    // A stray huge label would mean an absurd [T, trees, C] output: refused, naming it.
    let huge_y = write("huge_y.npy", &|p| {
        write_npy(p, &good_y.mapv(|v| if v == 1 { 3_000_000_000 } else { v })).unwrap();
    });
    run(&train_x, &huge_y, &test_x, &[], "label 3000000000");
    // The limit is tdal-heads' MAX_CLASSES: C = 65,536 at most, so label 65,536 is out.
    let limit_y = write("limit_y.npy", &|p| {
        write_npy(p, &good_y.mapv(|v| if v == 1 { 65_536 } else { v })).unwrap();
    });
    run(&train_x, &limit_y, &test_x, &[], "C at most 65536");
    let one_x = write("one_x.npy", &|p| {
        write_npy(p, &good_x.slice(ndarray::s![..1, ..]).to_owned()).unwrap();
    });
    let one_y = write("one_y.npy", &|p| {
        write_npy(p, &good_y.slice(ndarray::s![..1]).to_owned()).unwrap();
    });
    run(&one_x, &one_y, &test_x, &[], "at least 2 training samples");
    let wide_test = write("wide_test.npy", &|p| {
        write_npy(p, &Array2::<f32>::zeros((5, 3))).unwrap();
    });
    run(
        &train_x,
        &train_y,
        &wide_test,
        &[],
        "expected test features of shape [N, 2]",
    );
    let rank3 = write("rank3.npy", &|p| {
        write_npy(p, &Array3::<f32>::zeros((2, 2, 2))).unwrap();
    });
    run(&rank3, &train_y, &test_x, &[], "--train-x");
    let float_y = write("float_y.npy", &|p| {
        write_npy(p, &good_y.mapv(|v| v as f32)).unwrap();
    });
    run(&train_x, &float_y, &test_x, &[], "integer");
    let garbage = write("garbage.npy", &|p| {
        std::fs::write(p, b"not an npy file").unwrap();
    });
    run(&garbage, &train_y, &test_x, &[], "--train-x");
    run("/nonexistent/x.npy", &train_y, &test_x, &[], "cannot open");
    run(&train_x, &train_y, &test_x, &["--trees", "0"], "--trees");

    // An unwritable destination fails cleanly too.
    fails(
        &[
            "forest",
            "--train-x",
            &train_x,
            "--train-y",
            &train_y,
            "--test-x",
            &test_x,
            "--out",
            "/nonexistent-folder/probs.npy",
        ],
        "/nonexistent-folder",
        &dir.path().join("unused.npy"),
    );
}
