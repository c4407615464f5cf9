//! `tdal label init / next / import / status / export` on the `label-mini` fixture (smoke
//! profile): the files each writes, a CSV filled in and imported back, and the failure
//! contract for bad input (one `error:` line, nothing applied).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;

use common::{error_line, path_str, tdal};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/label-mini")
}

fn init(project: &Path) -> String {
    init_with_budget(project, "30")
}

fn init_with_budget(project: &Path, budget: &str) -> String {
    let images = fixture().join("images");
    let examples = fixture().join("examples");
    let output = tdal()
        .args([
            "label",
            "init",
            "--images",
            path_str(&images),
            "--classes",
            "five,six",
            "--color",
            "gray",
            "--side",
            "28",
            "--examples",
            path_str(&examples),
            "--profile",
            "smoke",
            "--budget",
            budget,
            "--batch-size",
            "10",
            "--first-batch",
            "10",
            "--project",
            path_str(project),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn truth() -> HashMap<String, String> {
    let text = std::fs::read_to_string(fixture().join("truth.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let (p, c) = l.split_once(',').unwrap();
            (p.to_owned(), c.to_owned())
        })
        .collect()
}

/// `next`, then the CSV it wrote with the label column filled in from the truth.
fn next_filled(project: &Path) -> (String, Vec<String>) {
    let output = tdal()
        .args(["label", "next", "--quiet", "--project", path_str(project)])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let csv = std::fs::read_to_string(project.join("next.csv")).unwrap();
    let truth = truth();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("path,score,suggestion,label"));
    let rows: Vec<String> = lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            assert_eq!(fields.len(), 4, "{l}");
            format!(
                "{},{},{},{}",
                fields[0], fields[1], fields[2], truth[fields[0]]
            )
        })
        .collect();
    (stdout, rows)
}

/// `tdal label import`, expecting success; its stdout.
fn import(project: &Path, file: &Path) -> String {
    let output = tdal()
        .args([
            "label",
            "import",
            "--project",
            path_str(project),
            path_str(file),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn status_json(project: &Path) -> serde_json::Value {
    let output = tdal()
        .args(["label", "status", "--json", "--project", path_str(project)])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn init_next_import_status_export_label_a_whole_project() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    let stdout = init(&project);
    assert!(stdout.contains("400 images, 10 example images"), "{stdout}");
    assert!(stdout.contains("skipped 2 files"), "{stdout}");
    assert!(
        stdout.contains("broken.png") && stdout.contains("notes.txt"),
        "{stdout}"
    );

    for batch in 0..3 {
        let (stdout, rows) = next_filled(&project);
        assert!(
            stdout.starts_with(&format!("batch {batch}: 10 images")),
            "{stdout}"
        );
        let png = std::fs::read(project.join("next.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let filled = tmp.path().join(format!("batch{batch}.csv"));
        std::fs::write(
            &filled,
            format!("path,score,suggestion,label\n{}\n", rows.join("\n")),
        )
        .unwrap();
        let stdout = import(&project, &filled);
        assert!(stdout.contains("imported 10 new labels"), "{stdout}");
        // Importing the same file again adds nothing.
        let stdout = import(&project, &filled);
        assert!(
            stdout.contains("imported 0 new labels (10 were already there"),
            "{stdout}"
        );
    }
    let output = tdal()
        .args(["label", "next", "--quiet", "--project", path_str(&project)])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("the budget is spent: 30 images labelled"),
        "{stdout}"
    );
    let status = status_json(&project);
    assert_eq!(status["labelled"], 30);
    assert_eq!(status["finished"], true);
    assert_eq!(status["batches"].as_array().unwrap().len(), 3);
    let out = tmp.path().join("export");
    tdal()
        .args([
            "label",
            "export",
            "--project",
            path_str(&project),
            "--out",
            path_str(&out),
        ])
        .assert()
        .success();
    for file in ["labels.csv", "images.npy", "labels.npy", "classes.txt"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(out.join("encoder/model.safetensors").is_file());
    assert!(out.join("head.bin").is_file(), "the forest head");
}

#[test]
fn a_csv_with_bad_rows_is_refused_whole_naming_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    init(&project);
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "path,label\nimg-000.png,five\nnope.png,six\nimg-001.png,seven\nimg-000.png,five\n\
         img-002.png\n",
    )
    .unwrap();
    let line = error_line(
        tdal().args([
            "label",
            "import",
            "--project",
            path_str(&project),
            path_str(&bad),
        ]),
        "nothing imported",
    );
    for needle in ["row 3", "row 4", "row 5", "row 6", "nope.png", "seven"] {
        assert!(line.contains(needle), "{line} lacks {needle}");
    }
    assert_eq!(status_json(&project)["labelled"], 0, "nothing was applied");
    let labels = std::fs::read_to_string(project.join("labels.jsonl")).unwrap();
    assert!(labels.is_empty());
}

#[test]
fn bad_input_gives_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    error_line(
        tdal().args(["label", "next", "--project", path_str(&missing)]),
        "not a labelling project",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    error_line(
        tdal().args([
            "label",
            "init",
            "--images",
            path_str(&empty),
            "--classes",
            "a",
            "--project",
            path_str(&tmp.path().join("q")),
        ]),
        "no readable images",
    );
    let images = fixture().join("images");
    error_line(
        tdal().args([
            "label",
            "init",
            "--images",
            path_str(&images),
            "--classes",
            "five,five",
            "--project",
            path_str(&tmp.path().join("r")),
        ]),
        "given twice",
    );
    error_line(
        tdal().args([
            "label",
            "init",
            "--images",
            path_str(&images),
            "--classes",
            "five",
            "--acquisition",
            "galaxy",
            "--project",
            path_str(&tmp.path().join("s")),
        ]),
        "GALAXY",
    );
}

/// `tdal label export`, expecting success; its stdout.
fn export(project: &Path, out: &Path) -> String {
    let output = tdal()
        .args([
            "label",
            "export",
            "--quiet",
            "--project",
            path_str(project),
            "--out",
            path_str(out),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `next.csv` with the first `filled` rows labelled (the rest left blank).
fn write_next_csv(project: &Path, rows: &[String], filled: usize) {
    let lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(k, row)| {
            if k < filled {
                row.clone()
            } else {
                let (blank, _) = row.rsplit_once(',').unwrap();
                format!("{blank},")
            }
        })
        .collect();
    std::fs::write(
        project.join("next.csv"),
        format!("path,score,suggestion,label\n{}\n", lines.join("\n")),
    )
    .unwrap();
}

#[test]
fn next_keeps_a_half_filled_csv_until_it_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    init(&project);
    let (_, rows) = next_filled(&project);
    write_next_csv(&project, &rows, 7);
    let before = std::fs::read_to_string(project.join("next.csv")).unwrap();
    let line = error_line(
        tdal().args(["label", "next", "--quiet", "--project", path_str(&project)]),
        "7 labels not imported yet",
    );
    assert!(line.contains("tdal label import"), "{line}");
    assert_eq!(
        std::fs::read_to_string(project.join("next.csv")).unwrap(),
        before,
        "the half-filled file is kept"
    );
    let stdout = import(&project, &project.join("next.csv"));
    assert!(stdout.contains("imported 7 new labels"), "{stdout}");
    // Imported: `next` rewrites the file, with the 7 labels from the log.
    let (stdout, _) = next_filled(&project);
    assert!(stdout.contains("3 still without a label"), "{stdout}");
    let csv = std::fs::read_to_string(project.join("next.csv")).unwrap();
    let labelled = csv.lines().skip(1).filter(|l| !l.ends_with(',')).count();
    assert_eq!(labelled, 7, "{csv}");
}

#[test]
fn the_walk_through_exports_the_last_imported_batch_into_a_safe_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    init_with_budget(&project, "20");
    // README: next, fill in next.csv, import it; twice (the budget is 20).
    for batch in 0..2 {
        let (stdout, rows) = next_filled(&project);
        assert!(
            stdout.starts_with(&format!("batch {batch}: 10 images")),
            "{stdout}"
        );
        write_next_csv(&project, &rows, rows.len());
        let stdout = import(&project, &project.join("next.csv"));
        assert!(stdout.contains("imported 10 new labels"), "{stdout}");
    }
    // No `next` after the last import: status and export see the batch all the same.
    let status = status_json(&project);
    assert_eq!(status["labelled"], 20);
    assert_eq!(status["batches"].as_array().unwrap().len(), 2, "{status}");
    assert_eq!(status["finished"], true, "the budget is spent");
    let out = tmp.path().join("labelled");
    let stdout = export(&project, &out);
    assert!(stdout.contains("wrote 20 labelled images"), "{stdout}");
    assert!(stdout.contains("fitted on 20 labels"), "{stdout}");
    assert!(out.join("head.bin").is_file());
    // Again into the same folder: fine.
    let stdout = export(&project, &out);
    assert!(stdout.contains("fitted on 20 labels"), "{stdout}");
    // Into a folder of other files: refused, nothing touched.
    let mine = tmp.path().join("mine");
    std::fs::create_dir_all(mine.join("encoder")).unwrap();
    std::fs::write(mine.join("encoder/notes.txt"), b"keep").unwrap();
    std::fs::write(mine.join("labels.csv"), b"keep").unwrap();
    error_line(
        tdal().args([
            "label",
            "export",
            "--quiet",
            "--project",
            path_str(&project),
            "--out",
            path_str(&mine),
        ]),
        "not empty",
    );
    assert_eq!(
        std::fs::read(mine.join("encoder/notes.txt")).unwrap(),
        b"keep"
    );
    assert_eq!(std::fs::read(mine.join("labels.csv")).unwrap(), b"keep");
    assert!(!mine.join("images.npy").exists());
}
