//! Shared support for the end-to-end tests: the smoke profile on `fixtures/fmnist-mini`,
//! running it into a temporary folder, comparing records without their timings, and
//! making a finished run look killed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tdal_loop::record::{self, files};
use tdal_loop::{
    AcquisitionKind, Error, Profile, RepresentationKind, RoundRecord, RunConfig, RunOptions,
    RunSummary, Silent,
};

/// The small F+MNIST fixture.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// A method's smoke-profile configuration on the fixture.
pub fn smoke(representation: RepresentationKind, acquisition: AcquisitionKind) -> RunConfig {
    let mut cfg = RunConfig::method(Profile::Smoke, representation, acquisition);
    cfg.data.dir = Some(fixture());
    cfg
}

/// Runs under `out` with encoders cached in `cache`, on the CPU, resuming.
pub fn options(out: &Path, cache: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        cache_dir: cache.to_path_buf(),
        resume: true,
        device: tdal_encoders::DeviceChoice::Cpu,
    }
}

/// Records without the timings and memory (which differ from run to run).
pub fn outcome(records: &[RoundRecord]) -> Vec<RoundRecord> {
    records
        .iter()
        .map(|r| RoundRecord {
            seconds: tdal_loop::StageSeconds::default(),
            peak_rss_bytes: 0,
            kernels: String::new(),
            ..r.clone()
        })
        .collect()
}

/// Runs (or resumes) `cfg` under `out` and returns its summary and records.
pub fn run_into(cfg: &RunConfig, out: &Path, cache: &Path) -> (RunSummary, Vec<RoundRecord>) {
    let summary = tdal_loop::run(cfg, &options(out, cache), &mut Silent).unwrap();
    let rounds = record::read_rounds(&out.join(&summary.run_id)).unwrap();
    (summary, rounds)
}

/// The error that running `cfg` under `out` stops with.
pub fn run_error(cfg: &RunConfig, out: &Path, cache: &Path) -> Error {
    tdal_loop::run(cfg, &options(out, cache), &mut Silent).unwrap_err()
}

/// Makes the finished run in `dir` look killed after its first `rounds` rounds: only
/// their lines of `rounds.jsonl` and no summary. The checkpoints stay; a test removes
/// those it wants gone.
pub fn crash_after(dir: &Path, rounds: usize) {
    let text: String = std::fs::read_to_string(dir.join(files::ROUNDS))
        .unwrap()
        .lines()
        .take(rounds)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join(files::ROUNDS), text).unwrap();
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
}
