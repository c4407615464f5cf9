//! What accuracy does a method reach when it is trained from scratch on a *given*
//! labelled set?
//!
//! Takes a run's labelled set (its initial labels, any warm-start set, and
//! every round's acquisitions in acquisition order), optionally keeps only the first N
//! target-class acquisitions (all initial labels and all "other"-class acquisitions stay),
//! retrains the run's method on that set and prints its test accuracies as one JSON line.
//! It separates what the labels are worth from how the run chose them: e.g. why the
//! GALAXY baseline (supervised network, `acquisition.kind = "galaxy"`) scores above the
//! paper.
//!
//! ```sh
//! cargo run --release -p tdal-loop --example labelled_set -- \
//!     --run docs/results/quick/runs/fmnist-supervised-galaxy-quick-s0-1a3936b5 \
//!     --keep-targets 118 --data-dir DATA [--out DIR] [--cache-dir DIR] [--seed S] \
//!     [--device cpu|cuda:N]
//! ```
//!
//! - `--run DIR`: a run folder (`config.toml`, `initial.json`, `rounds.jsonl`; a run that
//!   has not finished gives the rounds it recorded).
//! - `--keep-targets N`: keep the first N target-class acquisitions (default: all; an N
//!   above the run's count keeps all).
//! - `--data-dir DIR`: the data directory (else the run's `data.dir`, else
//!   `TDAL_DATA_DIR`). The pool is rebuilt from the run's configuration and seed and
//!   checked against the run's `data.blake3` and recorded labels.
//! - `--out DIR`: where the scratch run goes (`DIR/<scratch-run-id>/`, which must not
//!   exist); default a temporary folder, removed at the end.
//! - `--cache-dir DIR`: the encoder cache (default `<out>/cache`); pass the run's for a
//!   fixed US VAE or SimCLR encoder, or it is trained again (the supervised network of
//!   the baselines uses none).
//! - `--seed S`: the seed of the retraining (default the run's); the pool is always
//!   built with the run's seed.
//!
//! How: the pool is built as the run built it ([`build_task`]), the chosen set becomes the
//! task's initial labels (in the run's order: initial labels, warm-start set,
//! acquisitions), and a [`Session`] runs round 0 in a scratch run folder: the
//! representation's update (the baselines' network trained from scratch on the set),
//! embedding, the head's fit and the test accuracies, exactly as in a run. Its budget is
//! the set plus one point, so round 0 also proposes that one point (by a uniformly random
//! selector, standing in for the run's, whose batch is not needed) and records the round
//! in the scratch folder's `rounds.jsonl`; no second round is run. The retraining draws
//! its randomness from round 0's streams of the seed, so even the whole set (no
//! `--keep-targets`) need not give the run's final accuracy to the last digit: `--seed`
//! shows how much it moves.
//!
//! Prints one JSON line: `run_id`, `seed`, `keep_targets` (as asked, or null),
//! `targets_kept` and `targets_acquired` (the run's target-class acquisitions),
//! `others_acquired`, `initial_labels` (warm start included), `n_labelled`,
//! `class_counts` (the set per label-map class, 0 = other), `accuracy` (round 0's
//! `primary`, `targets_only` (null with one target class) and `balanced`),
//! `run_final_accuracy` and `run_n_labelled` (the run's last recorded round),
//! `scratch_dir` (null for a temporary one), `round_seconds` (round 0's stages) and
//! `seconds` (all of it). Progress goes to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::error::Error;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mimalloc::MiMalloc;
use tdal_loop::record::{self, files};
use tdal_loop::{
    Acquired, DeviceChoice, Event, Observer, Oracle, Parts, RoundRecord, RunConfig, RunOptions,
    Session, UniformRandom, build_task,
};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const USAGE: &str = "usage: labelled_set --run RUN_DIR [--keep-targets N] [--data-dir DIR] \
                     [--out DIR] [--cache-dir DIR] [--seed S] [--device cpu|cuda:N]";

type BoxResult<T> = Result<T, Box<dyn Error>>;

#[derive(Debug)]
struct Args {
    run: PathBuf,
    keep_targets: Option<usize>,
    data_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    seed: Option<u64>,
    device: DeviceChoice,
}

/// The value after `flag`.
fn value(args: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<OsString, String> {
    args.next()
        .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

/// `value` parsed as a number.
fn number<T>(value: &OsStr, flag: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = value.to_string_lossy();
    text.trim()
        .parse::<T>()
        .map_err(|e| format!("{flag} {text:?}: {e}"))
}

/// The command line; `None` when help was asked for.
fn parse_args() -> BoxResult<Option<Args>> {
    let mut args = std::env::args_os().skip(1);
    let mut run: Option<PathBuf> = None;
    let mut keep_targets: Option<usize> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut out: Option<PathBuf> = None;
    let mut cache_dir: Option<PathBuf> = None;
    let mut seed: Option<u64> = None;
    let mut device = DeviceChoice::Cpu;
    while let Some(arg) = args.next() {
        let flag = arg.to_string_lossy().into_owned();
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--run" => run = Some(PathBuf::from(value(&mut args, &flag)?)),
            "--keep-targets" => keep_targets = Some(number(&value(&mut args, &flag)?, &flag)?),
            "--data-dir" => data_dir = Some(PathBuf::from(value(&mut args, &flag)?)),
            "--out" => out = Some(PathBuf::from(value(&mut args, &flag)?)),
            "--cache-dir" => cache_dir = Some(PathBuf::from(value(&mut args, &flag)?)),
            "--seed" => seed = Some(number(&value(&mut args, &flag)?, &flag)?),
            "--device" => {
                device = value(&mut args, &flag)?
                    .to_string_lossy()
                    .parse::<DeviceChoice>()?;
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}").into()),
        }
    }
    let run = run.ok_or_else(|| format!("--run is required\n{USAGE}"))?;
    Ok(Some(Args {
        run,
        keep_targets,
        data_dir,
        out,
        cache_dir,
        seed,
        device,
    }))
}

/// The labelled set to train on and what was kept of the run's acquisitions.
#[derive(Debug)]
struct Selection {
    /// Initial labels (warm start included), then the kept acquisitions in order.
    set: Vec<Acquired>,
    targets_kept: usize,
    targets_acquired: usize,
    others_acquired: usize,
}

/// The run's initial labels and acquisitions, without the target-class acquisitions
/// after the first `keep_targets` (all kept when `None`).
fn select(initial: &[Acquired], rounds: &[RoundRecord], keep_targets: Option<usize>) -> Selection {
    let mut set = initial.to_vec();
    let mut targets_kept = 0usize;
    let mut targets_acquired = 0usize;
    let mut others_acquired = 0usize;
    for a in rounds.iter().flat_map(|r| &r.acquired) {
        if a.label == 0 {
            others_acquired += 1;
        } else {
            targets_acquired += 1;
            if keep_targets.is_some_and(|n| targets_kept >= n) {
                continue;
            }
            targets_kept += 1;
        }
        set.push(a.clone());
    }
    Selection {
        set,
        targets_kept,
        targets_acquired,
        others_acquired,
    }
}

/// Stages and coarse training progress on stderr.
struct Log {
    /// Tenths of the current training reported so far.
    decile: usize,
}

impl Observer for Log {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Stage { round, stage } => {
                self.decile = usize::MAX;
                let when =
                    round.map_or_else(|| "before round 0".to_owned(), |r| format!("round {r}"));
                let stage = stage.as_str();
                eprintln!("{when}: {stage}");
            }
            Event::Progress {
                what, done, total, ..
            } => {
                let decile = done.saturating_mul(10).checked_div(total).unwrap_or(10);
                if decile != self.decile {
                    self.decile = decile;
                    eprintln!("  {what}: {done}/{total}");
                }
            }
            Event::Start { .. } | Event::Round(_) => {}
        }
    }
}

fn run(args: &Args) -> BoxResult<()> {
    let started = Instant::now();
    let run_dir = &args.run;
    if !run_dir.is_dir() {
        return Err(format!("--run {}: no such folder", run_dir.display()).into());
    }
    let mut cfg = RunConfig::from_toml_file(&run_dir.join(files::CONFIG))?;
    if let Some(dir) = &args.data_dir {
        cfg.data.dir = Some(dir.clone());
    }
    let run_id = cfg.run_id();
    if run_dir
        .file_name()
        .is_some_and(|name| name != run_id.as_str())
    {
        eprintln!(
            "note: {} holds run {run_id} (its config.toml), not a run of its folder's name",
            run_dir.display()
        );
    }
    let initial_path = run_dir.join(files::INITIAL);
    let initial = record::read_json::<Vec<Acquired>>(&initial_path)?.ok_or_else(|| {
        format!(
            "{} is missing: the run never started its first round",
            initial_path.display()
        )
    })?;
    let rounds = record::read_rounds(run_dir)?;
    let selection = select(&initial, &rounds, args.keep_targets);

    // The pool as the run built it (the run's seed), checked against its records.
    let (mut task, mut oracle) = build_task(&cfg)?;
    match tdal_loop::verify_pool(run_dir, &task) {
        Err(tdal_loop::Error::Resume { .. }) => {
            return Err(format!(
                "the pool built from the data directory is not the run's (its {} differs): \
                 pass the run's data with --data-dir",
                run_dir.join(files::DATA_HASH).display()
            )
            .into());
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let expected: Vec<usize> = task
        .initial
        .iter()
        .chain(&task.warm_start)
        .copied()
        .collect();
    let recorded: Vec<usize> = initial.iter().map(|a| a.index).collect();
    if recorded != expected {
        return Err(format!(
            "{} labels other pool points than the run's configuration gives as its initial \
             labels: is --data-dir the run's data?",
            initial_path.display()
        )
        .into());
    }
    oracle.clone().confirm(&selection.set).map_err(|e| {
        format!("the run's recorded labels do not fit the pool built from the data directory: {e}")
    })?;
    let mut class_counts = vec![0usize; task.num_classes];
    for a in &selection.set {
        let label = a.label as usize;
        if label >= class_counts.len() {
            class_counts.resize(label + 1, 0);
        }
        class_counts[label] += 1;
    }

    // The set as the initial labels of a one-round scratch run.
    task.initial = selection.set.iter().map(|a| a.index).collect();
    task.warm_start.clear();
    let mut scratch = cfg.clone();
    if let Some(seed) = args.seed {
        scratch.seed = seed;
    }
    scratch.active.budget = task.initial.len() + 1;
    scratch.active.batch_size = 1;
    scratch.check()?;
    args.device.open()?;

    let temp;
    let out: &Path = if let Some(out) = &args.out {
        out.as_path()
    } else {
        temp = tempfile::Builder::new()
            .prefix("tdal-labelled-set-")
            .tempdir()?;
        temp.path()
    };
    let dir = out.join(scratch.run_id());
    if dir.exists() {
        return Err(format!(
            "{} exists already: remove it or choose another --out",
            dir.display()
        )
        .into());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    record::write_atomic(&dir.join(files::CONFIG), scratch.to_toml()?.as_bytes())?;
    let opts = RunOptions {
        out: out.to_path_buf(),
        cache_dir: args.cache_dir.clone().unwrap_or_else(|| out.join("cache")),
        resume: false,
        device: args.device,
    };
    let mut parts = Parts::from_config(&scratch, &task, &opts)?;
    parts.selector = Box::new(UniformRandom);

    let mut log = Log { decile: usize::MAX };
    let mut session = Session::open(&scratch, &dir, &task, parts, &mut oracle, &mut log)?;
    let batch = session
        .next_batch(&mut log)?
        .ok_or("the scratch run proposed no batch in round 0")?;
    let answers = oracle.label(&batch)?;
    session.submit(&answers, &mut log)?;
    let (accuracy, n_labelled, round_seconds) = session
        .history()
        .first()
        .map(|r| (r.accuracy, r.n_labelled, r.seconds))
        .ok_or("the scratch run recorded no round")?;

    let line = serde_json::json!({
        "run_id": run_id,
        "seed": scratch.seed,
        "keep_targets": args.keep_targets,
        "targets_kept": selection.targets_kept,
        "targets_acquired": selection.targets_acquired,
        "others_acquired": selection.others_acquired,
        "initial_labels": initial.len(),
        "n_labelled": n_labelled,
        "class_counts": class_counts,
        "accuracy": accuracy,
        "run_final_accuracy": rounds.last().map(|r| r.accuracy),
        "run_n_labelled": rounds.last().map(|r| r.n_labelled),
        "scratch_dir": args.out.as_ref().map(|_| dir.display().to_string()),
        "round_seconds": round_seconds,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{line}");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("labelled_set: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Freed training buffers are reused, not returned to the OS (as the `tdal` binary).
    tdal_encoders::allocator::keep_freed_memory();
    if let Err(e) = tdal_encoders::kernels::from_env() {
        eprintln!("labelled_set: {e}");
        return ExitCode::FAILURE;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labelled_set: {e}");
            ExitCode::FAILURE
        }
    }
}
