//! `tdal run` on the fmnist-mini fixture with the smoke profile: the printed result and
//! the run folder, `kill -9` mid-run then `--resume` ending exactly as an uninterrupted
//! run, and the failure contract for bad input.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{error_line, path_str, tdal};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// Arguments of a smoke run writing under `out`.
fn smoke_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--profile",
        "smoke",
        "--representation",
        "td-split",
        "--acquisition",
        "epig",
        "--quiet",
        "--data-dir",
        path_str(&fixture()),
        "--out",
        path_str(out),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// The run folder under `out` (the one with a `config.toml`), if there is one yet.
fn find_run_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("config.toml").exists())
}

/// The only run folder under `out`.
fn run_dir(out: &Path) -> PathBuf {
    find_run_dir(out).expect("a run folder")
}

/// Rounds without timings and memory, as JSON values.
fn outcome(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("rounds.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let obj = v.as_object_mut().unwrap();
            obj.remove("seconds");
            obj.remove("peak_rss_bytes");
            v
        })
        .collect()
}

#[test]
fn a_smoke_run_prints_its_result_and_writes_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tdal().args(smoke_args(tmp.path(), &[])).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("final test accuracy"), "{stdout}");
    assert!(stdout.contains("run folder"), "{stdout}");
    let dir = run_dir(tmp.path());
    assert_eq!(outcome(&dir).len(), 4);
    assert!(dir.join("summary.json").exists());
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("profile = \"smoke\""), "{config}");

    // Again without --resume: refused, the folder untouched.
    let line = error_line(tdal().args(smoke_args(tmp.path(), &[])), "--resume");
    assert!(line.contains("already holds a run"), "{line}");
    // With --resume: the finished result again, no work.
    let again = tdal()
        .args(smoke_args(tmp.path(), &["--resume"]))
        .assert()
        .success();
    assert_eq!(again.get_output().stdout, out.get_output().stdout);

    // Two target classes give a targets-only number; a run with a single target class
    // records none (null), and the result line says n/a.
    assert!(stdout.contains("targets-only argmax "), "{stdout}");
    assert!(!stdout.contains("n/a"), "{stdout}");
    let path = dir.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary["final_accuracy"]["targets_only"] = serde_json::Value::Null;
    std::fs::write(&path, summary.to_string()).unwrap();
    let single = tdal()
        .args(smoke_args(tmp.path(), &["--resume"]))
        .assert()
        .success();
    let stdout = String::from_utf8(single.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("targets-only argmax n/a, balanced test set"),
        "{stdout}"
    );
}

#[test]
fn kill_9_then_resume_ends_exactly_as_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let extra = ["--budget", "66", "--cache-dir", path_str(&cache)];
    let whole = tmp.path().join("whole");
    tdal().args(smoke_args(&whole, &extra)).assert().success();

    let killed = tmp.path().join("killed");
    let bin = assert_cmd::cargo::cargo_bin("tdal");
    let mut child = std::process::Command::new(&bin)
        .args(smoke_args(&killed, &extra))
        .env_remove("TDAL_DATA_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for two completed rounds, then SIGKILL (std's kill is SIGKILL on Unix).
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let lines = find_run_dir(&killed)
            .and_then(|dir| std::fs::read_to_string(dir.join("rounds.jsonl")).ok())
            .map_or(0, |t| t.lines().count());
        if lines >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never got to round 2");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = run_dir(&killed);
    assert!(
        !dir.join("summary.json").exists(),
        "killed too late to test anything"
    );

    tdal()
        .args(smoke_args(&killed, &[&extra[..], &["--resume"]].concat()))
        .assert()
        .success();
    assert_eq!(outcome(&dir), outcome(&run_dir(&whole)));
    assert_eq!(outcome(&dir).len(), 7);
}

#[test]
fn bad_input_gives_one_clear_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = path_str(tmp.path());
    // No data directory.
    error_line(
        tdal().args(["run", "--profile", "smoke", "--quiet", "--out", out]),
        "TDAL_DATA_DIR",
    );
    // A data directory without the files.
    error_line(
        tdal().args([
            "run",
            "--profile",
            "smoke",
            "--quiet",
            "--out",
            out,
            "--data-dir",
            out,
        ]),
        "mnist",
    );
    // Invalid values.
    error_line(tdal().args(smoke_args(tmp.path(), &["--ir", "0.5"])), "ir");
    error_line(
        tdal().args(smoke_args(tmp.path(), &["--budget", "3"])),
        "budget",
    );
    // A config file with an unknown key or bad syntax.
    let config = tmp.path().join("run.toml");
    std::fs::write(&config, "[loop]\nbudgett = 5\n").unwrap();
    error_line(
        tdal().args(smoke_args(tmp.path(), &["--config", path_str(&config)])),
        "budgett",
    );
    std::fs::write(&config, "seed = [\n").unwrap();
    error_line(
        tdal().args(smoke_args(tmp.path(), &["--config", path_str(&config)])),
        "run.toml",
    );
    // CUDA from a CPU build.
    if !cfg!(feature = "cuda") {
        error_line(
            tdal().args(smoke_args(tmp.path(), &["--device", "cuda:0"])),
            "CUDA",
        );
    }
}

/// The kernels `summary.json` records.
fn recorded_kernels(dir: &Path) -> String {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    summary["kernels"].as_str().unwrap().to_owned()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn the_kernels_are_chosen_recorded_and_checked() {
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    // The default: the fastest kernels this CPU has.
    let tmp = tempfile::tempdir().unwrap();
    tdal().args(smoke_args(tmp.path(), &[])).assert().success();
    let native = recorded_kernels(&run_dir(tmp.path()));
    assert_eq!(native, if avx512 { "avx512f" } else { "avx2+fma" });
    // `--kernels portable` (before or after the sub-command) and TDAL_KERNELS=portable.
    for (flag, env) in [(true, None), (false, Some("portable"))] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = smoke_args(tmp.path(), &[]);
        if flag {
            args.extend(["--kernels".to_owned(), "portable".to_owned()]);
        }
        let mut cmd = tdal();
        if let Some(value) = env {
            cmd.env("TDAL_KERNELS", value);
        }
        cmd.args(args).assert().success();
        assert_eq!(recorded_kernels(&run_dir(tmp.path())), "avx2+fma");
    }
    // The flag wins over the variable.
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--kernels".to_owned(), "native".to_owned()];
    args.extend(smoke_args(tmp.path(), &[]));
    tdal()
        .env("TDAL_KERNELS", "portable")
        .args(args)
        .assert()
        .success();
    assert_eq!(recorded_kernels(&run_dir(tmp.path())), native);
    // Bad values: an error naming the choices, nothing written.
    let tmp = tempfile::tempdir().unwrap();
    let line = error_line(
        tdal()
            .env("TDAL_KERNELS", "avx9")
            .args(smoke_args(tmp.path(), &[])),
        "TDAL_KERNELS",
    );
    assert!(line.contains("portable"), "{line}");
    assert!(find_run_dir(tmp.path()).is_none());
    let output = tdal()
        .args(smoke_args(tmp.path(), &["--kernels", "avx9"]))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--kernels") && stderr.contains("portable"),
        "{stderr}"
    );
    assert!(find_run_dir(tmp.path()).is_none());
}

#[test]
fn a_run_resumes_only_on_the_kernels_of_its_last_round() {
    let tmp = tempfile::tempdir().unwrap();
    tdal().args(smoke_args(tmp.path(), &[])).assert().success();
    let dir = run_dir(tmp.path());
    let path = dir.join("rounds.jsonl");
    let full = std::fs::read_to_string(&path).unwrap();
    let rounds: Vec<serde_json::Value> = full
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kernels = rounds[0]["kernels"].as_str().unwrap().to_owned();
    assert!(rounds.iter().all(|r| r["kernels"] == kernels.as_str()));
    assert_eq!(recorded_kernels(&dir), kernels);
    // Interrupted after two rounds that ran on other kernels: refused, nothing rewritten.
    let mut cut: Vec<serde_json::Value> = rounds[..2].to_vec();
    cut[1]["kernels"] = "other-kernels".into();
    let text: String = cut.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, &text).unwrap();
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let line = error_line(
        tdal().args(smoke_args(tmp.path(), &["--resume"])),
        "other-kernels",
    );
    assert!(line.contains(&kernels), "{line}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    // A finished run prints its result whatever the kernels.
    std::fs::write(&path, full.replace(&kernels, "other-kernels")).unwrap();
    tdal()
        .args(smoke_args(tmp.path(), &["--resume"]))
        .assert()
        .success();
}

#[test]
fn negative_imbalances_get_the_config_checks_message() {
    // Not clap's "unexpected argument": the value reaches the configuration check.
    let line = error_line(
        tdal().args(["run", "--print-config", "--ir", "-1"]),
        "data.ir must be ≥ 1, got -1",
    );
    assert!(!line.contains("unexpected argument"), "{line}");
    error_line(
        tdal().args(["run", "--print-config", "--target-share", "-0.1"]),
        "data.target_share must be in (0, 1), got -0.1",
    );
}

#[test]
fn print_config_shows_the_resolved_toml_and_a_config_file_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("run.toml");
    std::fs::write(
        &config,
        "profile = \"smoke\"\nseed = 7\n[loop]\nbudget = 26\n",
    )
    .unwrap();
    let out = tdal()
        .args([
            "run",
            "--print-config",
            "--config",
            path_str(&config),
            "--beta",
            "2",
            "--target-share",
            "0.06",
            "--max-pool",
            "1500",
        ])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for needle in [
        "profile = \"smoke\"",
        "seed = 7",
        "budget = 26",
        "beta = 2.0",
        "target_share = 0.06",
        "max_pool = 1500",
        "[encoder]",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}

#[test]
fn the_toml_file_sets_out_resume_and_quiet_too_and_the_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("from-file");
    let config = tmp.path().join("run.toml");
    let text = format!(
        "profile = \"smoke\"\nout = {out:?}\nresume = true\nquiet = true\n\
         [data]\ndir = {:?}\n",
        fixture()
    );
    std::fs::write(&config, text).unwrap();
    let first = tdal()
        .args(["run", "--config", path_str(&config)])
        .assert()
        .success();
    let dir = run_dir(&out);
    assert!(dir.join("summary.json").exists());
    assert!(
        first.get_output().stderr.is_empty(),
        "quiet = true: no progress on stderr"
    );
    // resume = true: the finished run prints its result again instead of refusing.
    let again = tdal()
        .args(["run", "--config", path_str(&config)])
        .assert()
        .success();
    assert_eq!(again.get_output().stdout, first.get_output().stdout);
    // The run keys are not the run's configuration: the echoed config.toml has none, so
    // the same run is resumed from its own folder.
    let echoed = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        !echoed.contains("resume") && !echoed.contains("quiet"),
        "{echoed}"
    );
    // --out wins over the file's out.
    let flag_out = tmp.path().join("from-flag");
    tdal()
        .args([
            "run",
            "--config",
            path_str(&config),
            "--out",
            path_str(&flag_out),
        ])
        .assert()
        .success();
    assert!(find_run_dir(&flag_out).is_some());
    // A bad value of a run key is named.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "device = \"gpu\"\n").unwrap();
    let line = error_line(tdal().args(["run", "--config", path_str(&bad)]), "gpu");
    assert!(line.contains("bad.toml"), "{line}");
}

#[test]
fn another_dataset_brings_its_beta_and_trees() {
    let out = tdal()
        .args(["run", "--print-config", "--dataset", "cifar"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for needle in ["dataset = \"cifar\"", "beta = 8.0", "trees = 1000"] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    // --beta still wins.
    let out = tdal()
        .args([
            "run",
            "--print-config",
            "--dataset",
            "chexpert",
            "--beta",
            "3",
        ])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("beta = 3.0") && text.contains("trees = 250"),
        "{text}"
    );
}

/// `--representation supervised --acquisition <kind>` and friends on the fixture.
fn baseline_args(out: &Path, representation: &str, acquisition: &str) -> Vec<String> {
    [
        "run",
        "--profile",
        "smoke",
        "--representation",
        representation,
        "--acquisition",
        acquisition,
        "--quiet",
        "--data-dir",
        path_str(&fixture()),
        "--out",
        path_str(out),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn a_supervised_galaxy_smoke_run_prints_its_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tdal()
        .args(baseline_args(tmp.path(), "supervised", "galaxy"))
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("final test accuracy"), "{stdout}");
    assert!(stdout.contains("36 labels"), "{stdout}");
    let dir = run_dir(tmp.path());
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("fmnist-supervised-galaxy-smoke-s0-"),
        "{}",
        dir.display()
    );
    let rounds = outcome(&dir);
    assert_eq!(rounds.len(), 4);
    assert!(rounds.iter().all(|r| r["retrained"] == true), "{rounds:?}");
}

#[test]
fn similar_on_the_forest_head_is_refused_naming_head_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let line = error_line(
        tdal().args(baseline_args(tmp.path(), "td-ft", "similar")),
        "head.kind",
    );
    assert!(line.contains("similar"), "{line}");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "a refused run left files behind"
    );
}

#[test]
fn a_file_naming_the_encoder_takes_the_acquisition_from_a_flag() {
    // The file alone (supervised + the default EPIG on the network's one sample) is not a
    // valid method; the flag completes it, and the whole is checked after the flags.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("run.toml");
    std::fs::write(
        &config,
        "profile = \"smoke\"\n[encoder]\nkind = \"supervised\"\n",
    )
    .unwrap();
    let out = tdal()
        .args([
            "run",
            "--print-config",
            "--config",
            path_str(&config),
            "--acquisition",
            "galaxy",
        ])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("kind = \"galaxy\""), "{text}");
    error_line(
        tdal().args(["run", "--print-config", "--config", path_str(&config)]),
        "needs at least 2 posterior samples",
    );
}

#[test]
fn print_config_of_supervised_galaxy_shows_the_methods_settings() {
    let out = tdal()
        .args([
            "run",
            "--print-config",
            "--profile",
            "smoke",
            "--representation",
            "supervised",
            "--acquisition",
            "galaxy",
        ])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for needle in [
        "kind = \"supervised\"",
        "kind = \"network\"",
        "kind = \"galaxy\"",
        "retrain_every = 1",
        "learning_rate = 0.0001",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}
