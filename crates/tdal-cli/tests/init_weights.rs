//! `tdal run --init-weights FILE` on the fmnist-mini fixture: the supervised network
//! starts from a tdal checkpoint and the run says what it loaded; the file's hash lands
//! in the configuration; other representations, missing files and files that do not fit
//! are one clear error line before any run folder exists.

use std::path::{Path, PathBuf};

mod common;

use common::{error_line, path_str, tdal};
use tdal_encoders::{Backbone, DeviceChoice, SupervisedConfig, SupervisedModel};
use tdal_loop::InitWeights;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// A smoke run of `representation` + `acquisition` on a 600-image pool with one batch,
/// writing under `out`.
fn args(out: &Path, representation: &str, acquisition: &str, weights: &Path) -> Vec<String> {
    [
        "run",
        "--profile",
        "smoke",
        "--representation",
        representation,
        "--acquisition",
        acquisition,
        "--max-pool",
        "600",
        "--budget",
        "16",
        "--quiet",
        "--data-dir",
        path_str(&fixture()),
        "--out",
        path_str(out),
        "--init-weights",
        path_str(weights),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// The `model.safetensors` of a seeded small-CNN network saved by tdal under `dir`.
fn small_cnn_checkpoint(dir: &Path) -> PathBuf {
    let cfg = SupervisedConfig {
        backbone: Backbone::SmallCnn,
        channels: 1,
        image_size: 32,
        hidden_dim: 16,
        classes: 3,
    };
    SupervisedModel::new(&cfg, 77, DeviceChoice::Cpu)
        .unwrap()
        .save(dir)
        .unwrap();
    dir.join("model.safetensors")
}

#[test]
fn a_galaxy_run_starts_from_the_file_and_says_what_it_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = small_cnn_checkpoint(&tmp.path().join("weights"));
    let out = tmp.path().join("runs");
    let output = tdal()
        .args(args(&out, "supervised", "galaxy", &weights))
        .assert()
        .success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(output.get_output().stderr.clone()).unwrap();
    assert!(stdout.contains("final test accuracy"), "{stdout}");
    assert!(
        stderr.contains("initial weights")
            && stderr.contains("tdal names")
            && stderr.contains("20 backbone tensors copied")
            && stderr.contains("4 file tensors ignored"),
        "{stderr}"
    );
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("config.toml").exists())
        .unwrap();
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let hash = InitWeights::pin(&weights).unwrap().blake3;
    assert!(
        config.contains("[encoder.init_weights]") && config.contains(&hash),
        "{config}"
    );
}

#[test]
fn print_config_records_the_files_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("w.safetensors");
    std::fs::write(&weights, b"any bytes: only the hash is taken here").unwrap();
    let output = tdal()
        .args([
            "run",
            "--print-config",
            "--profile",
            "smoke",
            "--representation",
            "supervised",
            "--acquisition",
            "cluster-margin",
            "--init-weights",
            path_str(&weights),
        ])
        .assert()
        .success();
    let text = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let hash = InitWeights::pin(&weights).unwrap().blake3;
    for needle in [
        "[encoder.init_weights]",
        &format!("blake3 = \"{hash}\""),
        "w.safetensors",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}

#[test]
fn other_representations_missing_and_unfit_files_are_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = small_cnn_checkpoint(&tmp.path().join("weights"));
    let out = tmp.path().join("runs");
    let line = error_line(
        tdal().args(args(&out, "td-ft", "galaxy", &weights)),
        "--init-weights",
    );
    assert!(
        line.contains("supervised") && line.contains("td-ft"),
        "{line}"
    );

    let absent = tmp.path().join("absent.safetensors");
    error_line(
        tdal().args(args(&out, "supervised", "galaxy", &absent)),
        "absent.safetensors",
    );

    // Not safetensors: refused before any run folder is made.
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    let line = error_line(
        tdal().args(args(&out, "supervised", "similar", &junk)),
        "junk.safetensors",
    );
    assert!(line.contains("safetensors"), "{line}");
    assert!(
        !out.exists()
            || std::fs::read_dir(&out)
                .unwrap()
                .all(|e| { !e.unwrap().path().join("config.toml").exists() }),
        "a refused run left a run folder"
    );
}

#[test]
fn the_help_documents_the_flag() {
    let output = tdal().args(["run", "--help"]).assert().success();
    let help = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(help.contains("--init-weights <FILE>"), "{help}");
    assert!(help.contains("torchvision"), "{help}");
}
