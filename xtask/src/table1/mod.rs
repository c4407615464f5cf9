//! `cargo xtask table1`: runs the rows of the paper's Table 1 that tdal implements over
//! seeds with [`tdal_loop::run`], then writes `table1.md`, `table1.json` and `curves.svg`
//! beside the paper's numbers.
//!
//! Runs are resumed, never redone: every (row, seed) is a [`RunConfig`] whose run id
//! (a hash of everything that defines the result) names its folder under `<out>/runs`, so
//! a finished run is skipped, an interrupted one continues, and a changed setting starts a
//! new folder instead of mixing results. The report ([`report`]) only reads run folders,
//! so `--report-only` can rewrite it at any time, also while runs are in progress.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tdal_loop::{AcquisitionKind, EncoderConfig, Profile, RepresentationKind, RunConfig};

pub(crate) mod clock;
mod curves;
pub mod paper;
mod progress;
pub mod report;
mod stats;

/// Options of `cargo xtask table1`.
#[derive(Debug, Args)]
#[command(after_help = "\
Rows: us-epig = US+EPIG (VAE), us-random = US Random (VAE), td-split = TD-SPLIT (Ours),
td-split-random = TD-SPLIT Random. Runs go to OUT/runs/<run-id>/ (finished runs are skipped,
interrupted ones continue), encoders are cached in OUT/cache/, and the report is
OUT/table1.md, OUT/table1.json and OUT/curves.svg.")]
pub struct Table1Args {
    /// Experiment size: smoke (a minute, CI), quick (the paper's protocol with CPU-sized
    /// encoder training), paper (the paper's 500 epochs). Default quick; with --report-only,
    /// the profile of the runs found.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Run seeds 0 to N−1 of every row.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Rows to run (comma-separated or repeated; default all).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 1..)]
    rows: Vec<Row>,
    /// Share of target-class images in the pool, in (0, 1), instead of the paper's
    /// imbalance ratio 10 (0.06 is what the paper's Table 5 Random row implies).
    #[arg(long, value_parser = parse_share)]
    target_share: Option<f64>,
    /// Cap on the pool size: redundant and target counts shrink proportionally (default:
    /// the profile's; none for quick and paper). On the full data of docs/REPRODUCING.md,
    /// `--target-share 0.06 --max-pool 20000` keeps the 600 images per digit of the
    /// paper's pool among 18,800 Fashion-MNIST images instead of 60,000 (its MNIST sample
    /// has too few digits for a 6 % share of the full pool).
    #[arg(long, value_name = "N")]
    max_pool: Option<NonZeroUsize>,
    /// Least unlabelled steps per TD-SPLIT update (`encoder.min_update_steps`): an update
    /// makes as many whole passes over the pool as reach N. The quick profile's one pass
    /// is 306 steps on the full pool; with --max-pool 20000 it is 100, and
    /// `--min-update-steps 300` gives the smaller pool three passes, as much training per
    /// update as the full pool gets.
    #[arg(long, value_name = "N")]
    min_update_steps: Option<NonZeroUsize>,
    /// Folder with mnist/ and fashion-mnist/ (else TDAL_DATA_DIR); not needed with
    /// --report-only.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where runs, cache and report go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only rewrite the report from the runs already in OUT/runs.
    #[arg(long)]
    report_only: bool,
    /// No progress bars or per-run lines (errors are still printed).
    #[arg(long)]
    quiet: bool,
}

fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .parse()
        .map_err(|_| format!("expected a fraction such as 0.06, got {text:?}"))?;
    if share > 0.0 && share < 1.0 {
        Ok(share)
    } else {
        Err(format!("the target share must be in (0, 1), got {share}"))
    }
}

/// The rows of Table 1 that tdal implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Row {
    /// US+EPIG (VAE): a fixed unsupervised VAE, EPIG.
    UsEpig,
    /// US Random (VAE): a fixed unsupervised VAE, random acquisition.
    UsRandom,
    /// TD-SPLIT (Ours): the split VAE retrained with the labels, EPIG.
    TdSplit,
    /// TD-SPLIT Random: the split VAE retrained with the labels, random acquisition.
    TdSplitRandom,
}

impl Row {
    /// Every implemented row, in the order they are run.
    pub const ALL: [Self; 4] = [
        Self::TdSplit,
        Self::UsEpig,
        Self::UsRandom,
        Self::TdSplitRandom,
    ];

    /// The command-line name.
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Self::UsEpig => "us-epig",
            Self::UsRandom => "us-random",
            Self::TdSplit => "td-split",
            Self::TdSplitRandom => "td-split-random",
        }
    }

    /// A short name for plot legends.
    #[must_use]
    pub const fn short(self) -> &'static str {
        match self {
            Self::UsEpig => "US+EPIG (VAE)",
            Self::UsRandom => "US Random (VAE)",
            Self::TdSplit => "TD-SPLIT (EPIG)",
            Self::TdSplitRandom => "TD-SPLIT Random",
        }
    }

    const fn representation(self) -> RepresentationKind {
        match self {
            Self::UsEpig | Self::UsRandom => RepresentationKind::UsVae,
            Self::TdSplit | Self::TdSplitRandom => RepresentationKind::TdSplit,
        }
    }

    const fn acquisition(self) -> AcquisitionKind {
        match self {
            Self::UsEpig | Self::TdSplit => AcquisitionKind::Epig,
            Self::UsRandom | Self::TdSplitRandom => AcquisitionKind::Random,
        }
    }

    /// The row a run configuration belongs to, if any.
    #[must_use]
    pub fn of(cfg: &RunConfig) -> Option<Self> {
        Self::ALL.into_iter().find(|r| {
            r.representation() == cfg.representation() && r.acquisition() == cfg.acquisition_kind()
        })
    }
}

/// What every run of one table shares: the profile and the pool's target share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Setting {
    /// The preset.
    pub profile: Profile,
    /// `data.target_share` (`None`: the paper's imbalance ratio).
    pub target_share: Option<f64>,
    /// `data.max_pool` when it differs from the profile's (`None`: the profile's).
    pub max_pool: Option<usize>,
    /// TD-SPLIT's `encoder.min_update_steps` (`None`: the profile's passes whatever the
    /// pool size); the US rows have no such setting and are shared by every value.
    pub min_update_steps: Option<usize>,
}

impl Setting {
    /// The setting of these values; a pool cap equal to the profile's is no override.
    #[must_use]
    pub fn new(
        profile: Profile,
        target_share: Option<f64>,
        max_pool: Option<usize>,
        min_update_steps: Option<usize>,
    ) -> Self {
        let preset = RunConfig::preset(profile).data.max_pool;
        Self {
            profile,
            target_share,
            max_pool: max_pool.filter(|&cap| Some(cap) != preset),
            min_update_steps,
        }
    }

    /// The configuration of one (row, seed); `data_dir` does not change the run id.
    #[must_use]
    pub fn config(&self, row: Row, seed: u64, data_dir: Option<&Path>) -> RunConfig {
        let mut cfg = RunConfig::method(self.profile, row.representation(), row.acquisition());
        cfg.seed = seed;
        cfg.data.target_share = self.target_share;
        if let Some(cap) = self.max_pool {
            cfg.data.max_pool = Some(cap);
        }
        if let EncoderConfig::TdSplit(split) = &mut cfg.encoder {
            split.min_update_steps = self.min_update_steps;
        }
        cfg.data.dir = data_dir.map(Path::to_path_buf);
        cfg
    }

    /// Whether this setting's pool and profile are `other`'s (they may differ in
    /// `min_update_steps`, which only the TD-SPLIT rows have).
    #[must_use]
    pub fn same_pool(&self, other: &Self) -> bool {
        self.profile == other.profile
            && self.target_share == other.target_share
            && self.max_pool == other.max_pool
    }

    /// Whether a run folder named `run_id` holding `cfg` is this setting's run of its row
    /// and seed (an older preset or another setting gives another id).
    #[must_use]
    pub fn owns(&self, run_id: &str, cfg: &RunConfig) -> bool {
        Row::of(cfg).is_some_and(|row| self.config(row, cfg.seed, None).run_id() == run_id)
    }

    /// The setting of a run's configuration (a pool cap equal to the profile's is no
    /// override).
    #[must_use]
    pub fn of(cfg: &RunConfig) -> Self {
        let min_update_steps = match &cfg.encoder {
            EncoderConfig::TdSplit(split) => split.min_update_steps,
            EncoderConfig::UsVae(_) | EncoderConfig::UsSimclr(_) | EncoderConfig::TdFt(_) => None,
        };
        Self::new(
            cfg.profile,
            cfg.data.target_share,
            cfg.data.max_pool,
            min_update_steps,
        )
    }

    /// `quick`, `quick, target share 0.06, pool cap 20000`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut text = self.profile.as_str().to_owned();
        if let Some(share) = self.target_share {
            text.push_str(&format!(", target share {share}"));
        }
        if let Some(cap) = self.max_pool {
            text.push_str(&format!(", pool cap {cap}"));
        }
        if let Some(steps) = self.min_update_steps {
            text.push_str(&format!(", ≥ {steps} steps per TD-SPLIT update"));
        }
        text
    }
}

/// The command line as typed (`cargo xtask table1 …`).
pub(crate) fn command_line() -> String {
    let mut words = vec!["cargo".to_owned(), "xtask".to_owned()];
    for arg in std::env::args().skip(1) {
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
            words.push(format!("'{}'", arg.replace('\'', r"'\''")));
        } else {
            words.push(arg);
        }
    }
    words.join(" ")
}

/// Runs `cargo xtask table1`.
///
/// # Errors
/// Bad arguments, no data directory, nothing to report, or the report cannot be written.
/// Failed runs are reported on stderr and make the exit code non-zero, after the rest
/// have run and the report is written.
#[allow(clippy::print_stdout, clippy::print_stderr)] // a binary's report to its user
pub fn main(args: &Table1Args) -> Result<ExitCode> {
    let command = command_line();
    if args.report_only {
        let (setting, report) = report::build(
            &args.out,
            report::Selection::Infer(report::Wanted {
                profile: args.profile,
                target_share: args.target_share,
                max_pool: args.max_pool.map(NonZeroUsize::get),
                min_update_steps: args.min_update_steps.map(NonZeroUsize::get),
            }),
            &report::Context {
                command,
                seeds_requested: None,
            },
        )?;
        let written = report::write(&args.out, &report)?;
        if !args.quiet {
            println!("table1 ({}): {}", setting.describe(), written.join(", "));
        }
        return Ok(ExitCode::SUCCESS);
    }

    let data_dir = crate::table1::data_dir(args.data_dir.as_deref())?;
    let setting = Setting::new(
        args.profile.unwrap_or(Profile::Quick),
        args.target_share,
        args.max_pool.map(NonZeroUsize::get),
        args.min_update_steps.map(NonZeroUsize::get),
    );
    let rows: Vec<Row> = if args.rows.is_empty() {
        Row::ALL.to_vec()
    } else {
        let mut rows = Vec::new();
        for &row in &args.rows {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        rows
    };
    // Seed-major: after the first seed every row has a value, and a US row's encoder,
    // cached per seed, is trained once for both US rows.
    let jobs: Vec<(Row, u64)> = (0..args.seeds)
        .flat_map(|seed| rows.iter().map(move |&row| (row, seed)))
        .collect();
    let runs_dir = args.out.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .with_context(|| format!("cannot create {}", runs_dir.display()))?;
    let options = tdal_loop::RunOptions {
        out: runs_dir.clone(),
        cache_dir: args.out.join("cache"),
        resume: true,
        device: tdal_encoders::DeviceChoice::Cpu,
    };
    let context = report::Context {
        command,
        seeds_requested: Some(args.seeds),
    };

    let mut progress = progress::Progress::new(jobs.len(), args.quiet);
    let mut failures = Vec::new();
    for &(row, seed) in &jobs {
        let cfg = setting.config(row, seed, Some(&data_dir));
        let run_id = cfg.run_id();
        let finished_before = runs_dir.join(&run_id).join("summary.json").is_file();
        progress.begin(row, seed, &run_id);
        reset_peak_rss();
        let started = Instant::now();
        match tdal_loop::run(&cfg, &options, &mut progress) {
            Ok(summary) => {
                progress.finish(row, seed, &summary, finished_before, started.elapsed());
                // Keep the report current, so a long run can be read while it goes on.
                if let Err(e) =
                    report::build(&args.out, report::Selection::Exact(setting), &context)
                        .and_then(|(_, r)| report::write(&args.out, &r))
                {
                    progress.warn(&format!("cannot update the report yet: {e:#}"));
                }
            }
            Err(e) => {
                progress.warn(&format!("{} seed {seed} ({run_id}) failed: {e}", row.key()));
                failures.push(format!("{} seed {seed}: {e}", row.key()));
            }
        }
    }
    progress.done();

    let written = match report::build(&args.out, report::Selection::Exact(setting), &context) {
        Ok((_, report)) => report::write(&args.out, &report)?,
        Err(e) if failures.is_empty() => return Err(e),
        Err(e) => {
            eprintln!("no report: {e:#}");
            Vec::new()
        }
    };
    if !args.quiet && !written.is_empty() {
        println!("table1 ({}): {}", setting.describe(), written.join(", "));
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} of {} runs failed:", failures.len(), jobs.len());
        for failure in &failures {
            eprintln!("  {failure}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Resets this process's peak resident memory (`VmHWM`) so each run's
/// `peak_rss_bytes` is its own, not the largest of the runs before it in this process.
/// Linux ≥ 4.0 (`/proc/self/clear_refs`, value 5); elsewhere nothing happens and the
/// peaks are cumulative.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The data folder: `--data-dir`, else `TDAL_DATA_DIR`; it must be a folder.
///
/// # Errors
/// Neither is given, or the path is not a folder.
pub(crate) fn data_dir(arg: Option<&std::path::Path>) -> Result<PathBuf> {
    let data_dir = tdal_data::datadir::resolve(arg)?;
    if !data_dir.is_dir() {
        bail!(
            "--data-dir {} is not a folder: point it at a folder holding mnist/ and \
             fashion-mnist/ (e.g. fixtures/fmnist-mini)",
            data_dir.display()
        );
    }
    Ok(data_dir)
}
