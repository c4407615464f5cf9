//! `cargo xtask table1`: runs the rows of the paper's Table 1 that tdal implements over
//! seeds with [`tdal_loop::run`], then writes `table1.md`, `table1.json` and `curves.svg`
//! beside the paper's numbers.
//!
//! Every row is implemented ([`Row`]): on the US VAE, US+EPIG (VAE), US Random (VAE),
//! TD-SPLIT (Ours) and TD-SPLIT Random; on the SimCLR encoder, US+EPIG (SimCLR), US Random
//! (SimCLR), TD-FT (Ours) and TD-FT Random; the messy-pool baselines SIMILAR, GALAXY and
//! Cluster-Margin (their own network, trained from scratch every round); and for
//! `cargo xtask table4` the baselines' selectors on TD-FT. The rows of one seed that rest
//! on the same encoder share its cached pretraining.
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
use tdal_loop::{
    AcquisitionKind, EncoderConfig, HeadConfig, InitWeights, LaplaceSettings, Profile,
    RepresentationKind, RunConfig,
};

pub(crate) mod clock;
mod curves;
pub mod paper;
mod progress;
pub mod report;
mod stats;

/// Options of `cargo xtask table1`.
#[derive(Debug, Args)]
#[command(after_help = "\
Rows (run in this order for each seed): td-split = TD-SPLIT (Ours), us-epig = US+EPIG (VAE),
us-random = US Random (VAE), td-split-random = TD-SPLIT Random, td-ft = TD-FT (Ours),
us-simclr-epig = US+EPIG (SimCLR), us-simclr-random = US Random (SimCLR),
td-ft-random = TD-FT Random, similar = SIMILAR, galaxy = GALAXY, cluster-margin =
Cluster-Margin (the messy-pool baselines: their own network trained from scratch every
round); table4 adds td-similar = TD-SIMILAR, td-galaxy = TD-GALAXY, td-cluster-margin =
TD-Cluster-Margin (the baselines' selectors on TD-FT). The VAE rows of a seed share one
pretrained US VAE and the SimCLR rows one pretrained SimCLR encoder. Runs go to OUT/runs/<run-id>/ (finished runs
are skipped, interrupted ones continue), encoders are cached in OUT/cache/, and the report
is OUT/table1.md, OUT/table1.json and OUT/curves.svg.")]
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
    /// Safetensors file GALAXY's network starts its backbone from in every round, as the
    /// paper starts it from ImageNet weights (the GALAXY row only; the file's names and
    /// adaptations as `tdal run --init-weights`). With --report-only: report the GALAXY
    /// runs made with this file (without it, those made from scratch).
    #[arg(long, value_name = "FILE")]
    init_weights: Option<PathBuf>,
}

/// Options of `cargo xtask table5` (a report from the runs already made).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only runs of this profile (default: the one profile the runs have).
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Only runs with this target share.
    #[arg(long, value_parser = parse_share)]
    target_share: Option<f64>,
    /// Only runs with this pool cap.
    #[arg(long, value_name = "N")]
    max_pool: Option<NonZeroUsize>,
    /// Only TD-SPLIT runs with this many least steps per update.
    #[arg(long, value_name = "N")]
    min_update_steps: Option<NonZeroUsize>,
    /// The folder `table1`/`table4` wrote (its runs/ folder is read).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Count the GALAXY runs made with `--init-weights FILE` (default: those made from
    /// scratch).
    #[arg(long, value_name = "FILE")]
    init_weights: Option<PathBuf>,
}

impl From<ReportArgs> for Table1Args {
    fn from(r: ReportArgs) -> Self {
        Self {
            profile: r.profile,
            seeds: 1,
            rows: Vec::new(),
            target_share: r.target_share,
            max_pool: r.max_pool,
            min_update_steps: r.min_update_steps,
            data_dir: None,
            out: r.out,
            report_only: true,
            quiet: r.quiet,
            init_weights: r.init_weights,
        }
    }
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
    /// US+EPIG (VAE): a fixed unsupervised VAE, EPIG (paper row 5).
    UsEpig,
    /// US Random (VAE): a fixed unsupervised VAE, random acquisition (paper row 7).
    UsRandom,
    /// TD-SPLIT (Ours): the split VAE retrained with the labels, EPIG (paper row 10).
    TdSplit,
    /// TD-SPLIT Random: the split VAE retrained with the labels, random acquisition
    /// (paper row 9).
    TdSplitRandom,
    /// US+EPIG (SimCLR): a fixed SimCLR encoder pretrained on the pool, EPIG (paper
    /// row 4, "US+EPIG (SimCLRv2)").
    UsSimclrEpig,
    /// US Random (SimCLR): a fixed SimCLR encoder pretrained on the pool, random
    /// acquisition (paper row 6, "US Random (SimCLRv2)").
    UsSimclrRandom,
    /// TD-FT (Ours): the pretrained SimCLR encoder fine-tuned with the labels, EPIG
    /// (paper row 11).
    TdFt,
    /// TD-FT Random: the pretrained SimCLR encoder fine-tuned with the labels, random
    /// acquisition (paper row 8).
    TdFtRandom,
    /// SIMILAR: the baselines' network trained from scratch every round, SIMILAR (FLQMI)
    /// against the labelled target-class points (paper row 1).
    Similar,
    /// GALAXY: the baselines' network, GALAXY's graph search (paper row 2; the paper's
    /// ImageNet initialisation only with `--init-weights`).
    Galaxy,
    /// Cluster-Margin: the baselines' network, Cluster-Margin (paper row 3).
    ClusterMargin,
    /// TD-SIMILAR: TD-FT with a Laplace MLP head (128 hidden units), SIMILAR (Table 4
    /// row 8).
    TdSimilar,
    /// TD-GALAXY: TD-FT with the forest head, GALAXY (Table 4 row 9).
    TdGalaxy,
    /// TD-Cluster-Margin: TD-FT with the forest head, Cluster-Margin (Table 4 row 10).
    TdClusterMargin,
}

impl Row {
    /// Every implemented row, in the order they are run for a seed: the rows on the US
    /// VAE, then those on the SimCLR encoder. The first row of each group pretrains its
    /// encoder and caches it for the others of the seed.
    pub const ALL: [Self; 11] = [
        Self::TdSplit,
        Self::UsEpig,
        Self::UsRandom,
        Self::TdSplitRandom,
        Self::TdFt,
        Self::UsSimclrEpig,
        Self::UsSimclrRandom,
        Self::TdFtRandom,
        Self::Similar,
        Self::Galaxy,
        Self::ClusterMargin,
    ];

    /// Every row of Table 4, in run order: Table 1's ([`Row::ALL`]), then the rows Table 4
    /// adds, the baselines' selectors on the TD-FT representation (they rest on the
    /// SimCLR encoder of the seed's TD-FT rows).
    pub const EVERY: [Self; 14] = [
        Self::TdSplit,
        Self::UsEpig,
        Self::UsRandom,
        Self::TdSplitRandom,
        Self::TdFt,
        Self::UsSimclrEpig,
        Self::UsSimclrRandom,
        Self::TdFtRandom,
        Self::Similar,
        Self::Galaxy,
        Self::ClusterMargin,
        Self::TdSimilar,
        Self::TdGalaxy,
        Self::TdClusterMargin,
    ];

    /// The command-line name.
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Self::UsEpig => "us-epig",
            Self::UsRandom => "us-random",
            Self::TdSplit => "td-split",
            Self::TdSplitRandom => "td-split-random",
            Self::UsSimclrEpig => "us-simclr-epig",
            Self::UsSimclrRandom => "us-simclr-random",
            Self::TdFt => "td-ft",
            Self::TdFtRandom => "td-ft-random",
            Self::Similar => "similar",
            Self::Galaxy => "galaxy",
            Self::ClusterMargin => "cluster-margin",
            Self::TdSimilar => "td-similar",
            Self::TdGalaxy => "td-galaxy",
            Self::TdClusterMargin => "td-cluster-margin",
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
            Self::UsSimclrEpig => "US+EPIG (SimCLR)",
            Self::UsSimclrRandom => "US Random (SimCLR)",
            Self::TdFt => "TD-FT (EPIG)",
            Self::TdFtRandom => "TD-FT Random",
            Self::Similar => "SIMILAR",
            Self::Galaxy => "GALAXY",
            Self::ClusterMargin => "Cluster-Margin",
            Self::TdSimilar => "TD-SIMILAR",
            Self::TdGalaxy => "TD-GALAXY",
            Self::TdClusterMargin => "TD-Cluster-Margin",
        }
    }

    const fn representation(self) -> RepresentationKind {
        match self {
            Self::UsEpig | Self::UsRandom => RepresentationKind::UsVae,
            Self::TdSplit | Self::TdSplitRandom => RepresentationKind::TdSplit,
            Self::UsSimclrEpig | Self::UsSimclrRandom => RepresentationKind::UsSimclr,
            Self::TdFt
            | Self::TdFtRandom
            | Self::TdSimilar
            | Self::TdGalaxy
            | Self::TdClusterMargin => RepresentationKind::TdFt,
            Self::Similar | Self::Galaxy | Self::ClusterMargin => RepresentationKind::Supervised,
        }
    }

    const fn acquisition(self) -> AcquisitionKind {
        match self {
            Self::UsEpig | Self::TdSplit | Self::UsSimclrEpig | Self::TdFt => AcquisitionKind::Epig,
            Self::UsRandom | Self::TdSplitRandom | Self::UsSimclrRandom | Self::TdFtRandom => {
                AcquisitionKind::Random
            }
            Self::Similar | Self::TdSimilar => AcquisitionKind::Similar,
            Self::Galaxy | Self::TdGalaxy => AcquisitionKind::Galaxy,
            Self::ClusterMargin | Self::TdClusterMargin => AcquisitionKind::ClusterMargin,
        }
    }

    /// Whether the row's encoder rests on the SimCLR encoder (US SimCLR, TD-FT) rather
    /// than on the US VAE (US VAE, TD-SPLIT).
    #[must_use]
    pub const fn simclr(self) -> bool {
        matches!(
            self.representation(),
            RepresentationKind::UsSimclr | RepresentationKind::TdFt
        )
    }

    /// The row a run configuration belongs to, if any.
    #[must_use]
    pub fn of(cfg: &RunConfig) -> Option<Self> {
        Self::EVERY.into_iter().find(|r| {
            r.representation() == cfg.representation() && r.acquisition() == cfg.acquisition_kind()
        })
    }
}

/// What every run of one table shares: the profile and the pool's target share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// The preset.
    pub profile: Profile,
    /// `data.target_share` (`None`: the paper's imbalance ratio).
    pub target_share: Option<f64>,
    /// `data.max_pool` when it differs from the profile's (`None`: the profile's).
    pub max_pool: Option<usize>,
    /// TD-SPLIT's `encoder.min_update_steps` (`None`: the profile's passes whatever the
    /// pool size); the other rows (US VAE, US SimCLR, TD-FT) have no such setting and are
    /// shared by every value.
    pub min_update_steps: Option<usize>,
    /// The initial weights of GALAXY's network (`None`: trained from scratch); the other
    /// rows have no such setting.
    pub galaxy_init: Option<InitWeights>,
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
            galaxy_init: None,
        }
    }

    /// This setting with GALAXY's network started from `weights`.
    #[must_use]
    pub fn with_galaxy_init(self, weights: Option<InitWeights>) -> Self {
        Self {
            galaxy_init: weights,
            ..self
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
        if row == Row::TdSimilar {
            // SIMILAR needs a head with a last layer: Table 4's 128-unit network head.
            cfg.head = HeadConfig::Laplace(LaplaceSettings::preset(self.profile));
        }
        if row == Row::Galaxy
            && let EncoderConfig::Supervised(net) = &mut cfg.encoder
        {
            // Only GALAXY: the paper initialises no other row from ImageNet.
            net.init_weights.clone_from(&self.galaxy_init);
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
            EncoderConfig::UsVae(_)
            | EncoderConfig::UsSimclr(_)
            | EncoderConfig::TdFt(_)
            | EncoderConfig::Supervised(_) => None,
        };
        let galaxy_init = match Row::of(cfg) {
            Some(Row::Galaxy) => cfg.init_weights().cloned(),
            _ => None,
        };
        Self::new(
            cfg.profile,
            cfg.data.target_share,
            cfg.data.max_pool,
            min_update_steps,
        )
        .with_galaxy_init(galaxy_init)
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
        if let Some(weights) = &self.galaxy_init {
            text.push_str(&format!(
                ", GALAXY from {} (blake3 {})",
                weights.file.display(),
                short_hash(&weights.blake3)
            ));
        }
        text
    }
}

/// The first 8 hex digits of a hash.
pub(crate) fn short_hash(hex: &str) -> &str {
    &hex[..hex.len().min(8)]
}

/// `--init-weights FILE` pinned to the file's current content (`None` without the flag).
///
/// # Errors
/// The file cannot be read.
fn pinned(file: Option<&Path>) -> Result<Option<InitWeights>> {
    file.map(|f| InitWeights::pin(f).with_context(|| format!("--init-weights {}", f.display())))
        .transpose()
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
pub fn main(args: &Table1Args, default_rows: &[Row]) -> Result<ExitCode> {
    let command = command_line();
    if args.report_only {
        let (setting, report) = report::build(
            &args.out,
            report::Selection::Infer(report::Wanted {
                profile: args.profile,
                target_share: args.target_share,
                max_pool: args.max_pool.map(NonZeroUsize::get),
                min_update_steps: args.min_update_steps.map(NonZeroUsize::get),
                galaxy_init: pinned(args.init_weights.as_deref())?,
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
    )
    .with_galaxy_init(pinned(args.init_weights.as_deref())?);
    let rows: Vec<Row> = if args.rows.is_empty() {
        default_rows.to_vec()
    } else {
        let mut rows = Vec::new();
        for &row in &args.rows {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        rows
    };
    // Seed-major: after the first seed every row has a value, and each pretrained encoder
    // (the US VAE of the VAE rows, the SimCLR encoder of the SimCLR rows), cached per
    // seed, is trained once for all the rows of its seed that rest on it.
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
                if let Err(e) = report::build(
                    &args.out,
                    report::Selection::Exact(setting.clone()),
                    &context,
                )
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

    let written = match report::build(
        &args.out,
        report::Selection::Exact(setting.clone()),
        &context,
    ) {
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

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// Initial weights as a pinned configuration holds them.
    fn weights(file: &str, digit: char) -> InitWeights {
        InitWeights {
            file: PathBuf::from(file),
            blake3: digit.to_string().repeat(64),
        }
    }

    /// The settings a table can have: the presets, a target share, a pool cap,
    /// TD-SPLIT's steps per update and GALAXY's initial weights.
    fn settings() -> Vec<Setting> {
        let mut all = Vec::new();
        for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
            all.push(Setting::new(profile, None, None, None));
            all.push(Setting::new(profile, Some(0.06), Some(20_000), None));
            all.push(Setting::new(profile, Some(0.06), Some(20_000), Some(300)));
            all.push(
                Setting::new(profile, None, None, None)
                    .with_galaxy_init(Some(weights("imagenet.safetensors", 'a'))),
            );
        }
        all
    }

    #[test]
    fn every_row_is_found_again_from_its_configuration() {
        for setting in settings() {
            for row in Row::EVERY {
                for seed in [0, 3] {
                    let cfg = setting.config(row, seed, None);
                    assert_eq!(cfg.representation(), row.representation(), "{row:?}");
                    assert_eq!(cfg.acquisition_kind(), row.acquisition(), "{row:?}");
                    assert_eq!(Row::of(&cfg), Some(row), "{row:?} {setting:?}");
                    assert!(setting.owns(&cfg.run_id(), &cfg), "{row:?} {setting:?}");
                    // Only TD-SPLIT carries `min_update_steps` and only GALAXY initial
                    // weights; the other rows' runs belong to the setting without them
                    // (and so to every value of them).
                    let split = row.representation() == RepresentationKind::TdSplit;
                    let galaxy = row == Row::Galaxy;
                    let expected = Setting {
                        min_update_steps: setting.min_update_steps.filter(|_| split),
                        galaxy_init: setting.galaxy_init.clone().filter(|_| galaxy),
                        ..setting.clone()
                    };
                    assert_eq!(Setting::of(&cfg), expected, "{row:?}");
                    assert_eq!(cfg.init_weights(), expected.galaxy_init.as_ref(), "{row:?}");
                    if !split && !galaxy {
                        let without = Setting {
                            min_update_steps: None,
                            galaxy_init: None,
                            ..setting.clone()
                        };
                        assert_eq!(cfg, without.config(row, seed, None), "{row:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rows_have_distinct_keys_that_clap_parses() {
        for row in Row::EVERY {
            assert_eq!(Row::from_str(row.key(), false), Ok(row));
            assert_eq!(
                row.to_possible_value().unwrap().get_name(),
                row.key(),
                "{row:?}"
            );
        }
        let mut keys: Vec<&str> = Row::EVERY.map(Row::key).to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Row::EVERY.len());
        // EVERY holds every variant clap knows, once: ALL and the task-driven baselines.
        assert_eq!(Row::value_variants().len(), Row::EVERY.len());
        for row in Row::value_variants() {
            assert!(Row::EVERY.contains(row), "{row:?}");
        }
        assert_eq!(&Row::EVERY[..Row::ALL.len()], &Row::ALL[..]);
        assert_eq!(
            &Row::EVERY[Row::ALL.len()..],
            &[Row::TdSimilar, Row::TdGalaxy, Row::TdClusterMargin]
        );
        let mut shorts: Vec<&str> = Row::EVERY.map(Row::short).to_vec();
        shorts.sort_unstable();
        shorts.dedup();
        assert_eq!(shorts.len(), Row::EVERY.len());
    }

    #[test]
    fn the_rows_map_to_their_representation_and_acquisition() {
        use AcquisitionKind::{ClusterMargin, Epig, Galaxy, Random, Similar};
        use RepresentationKind::{Supervised, TdFt, TdSplit, UsSimclr, UsVae};
        for (row, key, representation, acquisition) in [
            (Row::UsEpig, "us-epig", UsVae, Epig),
            (Row::UsRandom, "us-random", UsVae, Random),
            (Row::TdSplit, "td-split", TdSplit, Epig),
            (Row::TdSplitRandom, "td-split-random", TdSplit, Random),
            (Row::UsSimclrEpig, "us-simclr-epig", UsSimclr, Epig),
            (Row::UsSimclrRandom, "us-simclr-random", UsSimclr, Random),
            (Row::TdFt, "td-ft", TdFt, Epig),
            (Row::TdFtRandom, "td-ft-random", TdFt, Random),
            (Row::Similar, "similar", Supervised, Similar),
            (Row::Galaxy, "galaxy", Supervised, Galaxy),
            (
                Row::ClusterMargin,
                "cluster-margin",
                Supervised,
                ClusterMargin,
            ),
            (Row::TdSimilar, "td-similar", TdFt, Similar),
            (Row::TdGalaxy, "td-galaxy", TdFt, Galaxy),
            (
                Row::TdClusterMargin,
                "td-cluster-margin",
                TdFt,
                ClusterMargin,
            ),
        ] {
            assert_eq!(row.key(), key);
            assert_eq!(row.representation(), representation, "{row:?}");
            assert_eq!(row.acquisition(), acquisition, "{row:?}");
            assert_eq!(
                row.simclr(),
                matches!(representation, UsSimclr | TdFt),
                "{row:?}"
            );
        }
    }

    /// The VAE rows come first, in today's order, so their run order (and the US VAE
    /// pretrained by TD-SPLIT for the others) is unchanged; then the SimCLR rows.
    #[test]
    fn the_run_order_keeps_the_vae_rows_first() {
        assert_eq!(
            Row::ALL,
            [
                Row::TdSplit,
                Row::UsEpig,
                Row::UsRandom,
                Row::TdSplitRandom,
                Row::TdFt,
                Row::UsSimclrEpig,
                Row::UsSimclrRandom,
                Row::TdFtRandom,
                Row::Similar,
                Row::Galaxy,
                Row::ClusterMargin,
            ]
        );
        assert!(Row::ALL[..4].iter().all(|r| !r.simclr()));
        assert!(Row::ALL[4..8].iter().all(|r| r.simclr()));
        assert!(Row::ALL[8..].iter().all(|r| !r.simclr()));
        assert!(Row::EVERY[Row::ALL.len()..].iter().all(|r| r.simclr()));
    }

    /// The rows of one seed that rest on one encoder share its settings, so it is
    /// pretrained once and cached for the others.
    #[test]
    fn the_simclr_rows_of_a_seed_share_one_encoder() {
        for setting in settings() {
            let pretrained = |row| {
                setting
                    .config(row, 2, None)
                    .encoder
                    .us_simclr()
                    .cloned()
                    .unwrap_or_else(|| panic!("{row:?} has no SimCLR encoder"))
            };
            let first = pretrained(Row::TdFt);
            for row in [Row::UsSimclrEpig, Row::UsSimclrRandom, Row::TdFtRandom]
                .into_iter()
                .chain(Row::EVERY[Row::ALL.len()..].iter().copied())
            {
                assert_eq!(pretrained(row), first, "{row:?}");
            }
            let vae = |r: &Row| {
                matches!(
                    r.representation(),
                    RepresentationKind::UsVae | RepresentationKind::TdSplit
                )
            };
            for row in Row::ALL.into_iter().filter(vae) {
                assert!(setting.config(row, 2, None).encoder.us_simclr().is_none());
                assert!(setting.config(row, 2, None).encoder.us_vae().is_some());
            }
        }
    }

    /// The VAE rows' run ids are those of the committed runs (docs/results) and of the
    /// smoke table: adding rows must not orphan a recorded run.
    #[test]
    fn the_vae_rows_keep_their_run_ids() {
        let smoke = Setting::new(Profile::Smoke, None, None, None);
        let quick = Setting::new(Profile::Quick, None, None, None);
        for (setting, row, id) in [
            (
                &smoke,
                Row::TdSplit,
                "fmnist-td-split-epig-smoke-s0-b17801cc",
            ),
            (
                &smoke,
                Row::TdSplitRandom,
                "fmnist-td-split-random-smoke-s0-ae2b67be",
            ),
            (&smoke, Row::UsEpig, "fmnist-us-vae-epig-smoke-s0-cddeb8c7"),
            (
                &smoke,
                Row::UsRandom,
                "fmnist-us-vae-random-smoke-s0-e40d2319",
            ),
            (
                &quick,
                Row::TdSplit,
                "fmnist-td-split-epig-quick-s0-3f96e01b",
            ),
            (
                &quick,
                Row::TdSplitRandom,
                "fmnist-td-split-random-quick-s0-293f307d",
            ),
            (&quick, Row::UsEpig, "fmnist-us-vae-epig-quick-s0-83edccd4"),
            (
                &quick,
                Row::UsRandom,
                "fmnist-us-vae-random-quick-s0-877d43b4",
            ),
            // The baselines' committed runs, made before initial weights existed.
            (
                &quick,
                Row::Galaxy,
                "fmnist-supervised-galaxy-quick-s0-1a3936b5",
            ),
            (
                &quick,
                Row::Similar,
                "fmnist-supervised-similar-quick-s0-d557c2dd",
            ),
        ] {
            assert_eq!(setting.config(row, 0, None).run_id(), id, "{row:?}");
        }
        // GALAXY's initial weights give its runs other ids (by content, not path) and
        // leave every other row's run id alone.
        let with = |w| quick.clone().with_galaxy_init(Some(w));
        let a = with(weights("a.safetensors", 'a'));
        let moved = with(weights("elsewhere/a.safetensors", 'a'));
        let b = with(weights("a.safetensors", 'b'));
        let galaxy = |s: &Setting| s.config(Row::Galaxy, 0, None).run_id();
        assert_ne!(galaxy(&a), galaxy(&quick));
        assert_eq!(galaxy(&a), galaxy(&moved));
        assert_ne!(galaxy(&a), galaxy(&b));
        for row in Row::EVERY.into_iter().filter(|&r| r != Row::Galaxy) {
            assert_eq!(
                a.config(row, 0, None).run_id(),
                quick.config(row, 0, None).run_id(),
                "{row:?}"
            );
        }
        assert!(
            a.describe()
                .contains("GALAXY from a.safetensors (blake3 aaaaaaaa)")
        );
        // Every row's runs have their own ids.
        for setting in [&smoke, &quick] {
            let mut ids: Vec<String> = Row::ALL
                .map(|row| setting.config(row, 0, None).run_id())
                .to_vec();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), Row::ALL.len());
        }
    }
}
