//! The report of `cargo xtask table1`: reads every run folder under `<out>/runs`, keeps the
//! finished runs of one [`Setting`], and writes `table1.md` (every row of the paper's
//! Table 1 beside ours, a Table 5-style count of target-class acquisitions, a Table 6-style
//! time split), `table1.json` (the same numbers) and `curves.svg`.
//!
//! A run counts once its `summary.json` exists; a folder with rounds but no summary is
//! listed as partial and left out of every mean. A folder whose run id is not the one its
//! row and seed get from the setting today (another profile, another target share, an
//! older preset) is listed as ignored, so stale results never mix into a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use tdal_loop::record::{self, files};
use tdal_loop::{Profile, RoundRecord, RunConfig, RunSummary};

use super::paper::{self, Published};
use super::stats::{self, Estimate};
use super::{Row, Setting, clock, curves, profile_name};

/// Where the report came from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command line that made it.
    pub command: String,
    /// `--seeds` of a runner invocation (`None` for `--report-only`).
    pub seeds_requested: Option<u64>,
}

/// Which runs the report covers.
#[derive(Debug, Clone, Copy)]
pub enum Selection {
    /// Exactly this setting (the runner's).
    Exact(Setting),
    /// The one setting the run folders hold, optionally narrowed by the flags.
    Infer(Wanted),
}

/// One run folder as read from disk.
#[derive(Debug, Clone)]
struct RunFolder {
    id: String,
    config: RunConfig,
    rounds: Vec<RoundRecord>,
    summary: Option<RunSummary>,
}

/// The run folders of `<out>/runs` and the ones that could not be read.
fn scan(out: &Path) -> Result<(Vec<RunFolder>, Vec<String>)> {
    let runs_dir = out.join("runs");
    if !runs_dir.is_dir() {
        bail!(
            "no runs in {}: run `cargo xtask table1 --data-dir DIR --out {}` first",
            runs_dir.display(),
            out.display()
        );
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs_dir)
        .with_context(|| format!("cannot list {}", runs_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut runs = Vec::new();
    let mut unreadable = Vec::new();
    for dir in dirs {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = || -> Result<RunFolder> {
            let config = RunConfig::from_toml_file(&dir.join(files::CONFIG))?;
            let rounds = record::read_rounds(&dir)?;
            let summary = record::read_summary(&dir)?;
            Ok(RunFolder {
                id: id.clone(),
                config,
                rounds,
                summary,
            })
        };
        match read() {
            Ok(run) => runs.push(run),
            Err(e) => unreadable.push(format!("{id}: {e:#}")),
        }
    }
    Ok((runs, unreadable))
}

/// A published value as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct PaperValues {
    /// Table 1, %.
    pub accuracy: Published,
    /// Table 5 (of 500 labels).
    pub target_acquired: Option<Published>,
    /// The Table 5 row it comes from when not this method's own.
    pub target_acquired_from: Option<&'static str>,
    /// Table 6, minutes on one H100.
    pub minutes: Option<Published>,
}

/// One finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    /// Folder name.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// Final accuracies, %.
    pub primary: f64,
    /// Targets-only argmax, %.
    pub targets_only: f64,
    /// Balanced test set, %.
    pub balanced: f64,
    /// Target-class points acquired (initial labels excluded).
    pub target_acquired: usize,
    /// Labels at the end.
    pub n_labelled: usize,
    /// `loop_seconds + initialise_seconds`.
    pub wall_seconds: f64,
    /// Whether the US encoder came from the cache.
    pub encoder_cached: bool,
    /// Peak resident memory, bytes.
    pub peak_rss_bytes: u64,
}

/// A run without `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PartialRun {
    /// Folder name.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// Rounds recorded.
    pub rounds_done: usize,
    /// Rounds of the whole run (known once round 0 is recorded).
    pub total_rounds: Option<usize>,
}

/// Mean seconds per run spent in each stage (summed over a run's rounds), Table 6 style.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageSplit {
    /// Obtaining the initial representation (0 when cached).
    pub initialise: f64,
    /// Representation updates.
    pub retrain: f64,
    /// Embedding pool, targets and test set.
    pub embed: f64,
    /// Forest fits.
    pub fit: f64,
    /// Test predictions and accuracies.
    pub evaluate: f64,
    /// Posterior samples for the acquisition function.
    pub predict: f64,
    /// Acquisition scores.
    pub score: f64,
    /// Batch selection and oracle.
    pub select: f64,
    /// The rest of the run's wall time (records, checkpoints, resume).
    pub other: f64,
    /// The whole run: `loop_seconds + initialise_seconds`.
    pub total: f64,
}

impl StageSplit {
    fn of(run: &RunFolder, summary: &RunSummary) -> Self {
        let mut s = Self {
            initialise: summary.initialise_seconds,
            total: summary.loop_seconds + summary.initialise_seconds,
            ..Self::default()
        };
        for r in &run.rounds {
            s.retrain += r.seconds.retrain;
            s.embed += r.seconds.embed;
            s.fit += r.seconds.fit;
            s.evaluate += r.seconds.evaluate;
            s.predict += r.seconds.predict;
            s.score += r.seconds.score;
            s.select += r.seconds.select;
        }
        let staged = s.initialise
            + s.retrain
            + s.embed
            + s.fit
            + s.evaluate
            + s.predict
            + s.score
            + s.select;
        s.other = (s.total - staged).max(0.0);
        s
    }

    fn fields(&self) -> [f64; 10] {
        [
            self.initialise,
            self.retrain,
            self.embed,
            self.fit,
            self.evaluate,
            self.predict,
            self.score,
            self.select,
            self.other,
            self.total,
        ]
    }

    fn mean(splits: &[Self]) -> Option<Self> {
        if splits.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // a handful of seeds
        let n = splits.len() as f64;
        let mut m = [0.0; 10];
        for s in splits {
            for (acc, v) in m.iter_mut().zip(s.fields()) {
                *acc += v / n;
            }
        }
        let [
            initialise,
            retrain,
            embed,
            fit,
            evaluate,
            predict,
            score,
            select,
            other,
            total,
        ] = m;
        Some(Self {
            initialise,
            retrain,
            embed,
            fit,
            evaluate,
            predict,
            score,
            select,
            other,
            total,
        })
    }
}

/// Mean ± s.e. of primary accuracy (%) at one label count.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// Labels the head was fitted on.
    pub n_labelled: usize,
    /// Accuracy over the finished runs that reached it, %.
    #[serde(flatten)]
    pub accuracy: Estimate,
}

/// Our numbers for one implemented row.
#[derive(Debug, Clone, Serialize)]
pub struct Ours {
    /// Seeds of the finished runs.
    pub seeds: Vec<u64>,
    /// Final primary accuracy, %.
    pub accuracy: Option<Estimate>,
    /// Final accuracy with the argmax restricted to the target classes, %.
    pub targets_only: Option<Estimate>,
    /// Final accuracy on the class-balanced test set, %.
    pub balanced: Option<Estimate>,
    /// Target-class points among the acquired labels.
    pub target_acquired: Option<Estimate>,
    /// Wall time per run, seconds (`loop_seconds + initialise_seconds`).
    pub wall_seconds: Option<Estimate>,
    /// Finished runs whose US encoder came from the cache.
    pub encoders_cached: usize,
    /// Largest peak resident memory of the runs, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Mean time split per run.
    pub stages: Option<StageSplit>,
    /// Learning curve.
    pub curve: Vec<CurvePoint>,
    /// The finished runs.
    pub runs: Vec<RunLine>,
    /// Runs without a summary (left out of every number above).
    pub partial: Vec<PartialRun>,
}

/// One row of the paper's Table 1 with ours beside it.
#[derive(Debug, Clone, Serialize)]
pub struct RowReport {
    /// Row number in the paper.
    pub number: usize,
    /// The paper's name.
    pub method: &'static str,
    /// Our row (`None`: not implemented yet).
    pub row: Option<Row>,
    /// The paper's F+MNIST numbers.
    pub paper: PaperValues,
    /// Ours (`None`: not implemented yet).
    pub ours: Option<Ours>,
}

/// Everything `table1.md`, `table1.json` and `curves.svg` show.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command that made it.
    pub command: String,
    /// When, UTC.
    pub date: String,
    /// Profile and target share.
    pub setting: Setting,
    /// Labels at the end of a run.
    pub budget: usize,
    /// `--seeds` of the runner (`None`: report only).
    pub seeds_requested: Option<u64>,
    /// Data directories named in the runs' configurations.
    pub data_dirs: Vec<String>,
    /// The eleven rows of Table 1.
    pub rows: Vec<RowReport>,
    /// Folders left out, with the reason.
    pub ignored: Vec<String>,
}

/// Reads the runs under `out` and builds the report of the selected setting.
///
/// # Errors
/// No `runs` folder; with [`Selection::Infer`], no run of a table row or runs of several
/// settings (the message lists them and the flags that choose one).
pub fn build(out: &Path, selection: Selection, ctx: &Context) -> Result<(Setting, Report)> {
    let (runs, unreadable) = scan(out)?;
    let setting = match selection {
        Selection::Exact(setting) => setting,
        Selection::Infer(wanted) => infer_setting(out, &runs, wanted)?,
    };
    let mut ignored: Vec<String> = unreadable;
    let mut by_row: BTreeMap<Row, Vec<&RunFolder>> = BTreeMap::new();
    let mut data_dirs: Vec<String> = Vec::new();
    for run in &runs {
        match Row::of(&run.config) {
            Some(row) if setting.owns(&run.id, &run.config) => {
                by_row.entry(row).or_default().push(run);
                if let Some(dir) = &run.config.data.dir {
                    let dir = dir.display().to_string();
                    if !data_dirs.contains(&dir) {
                        data_dirs.push(dir);
                    }
                }
            }
            Some(_) => ignored.push(format!(
                "{}: not a run of this setting ({}) as configured today",
                run.id,
                setting.describe()
            )),
            None => ignored.push(format!("{}: not one of the table's rows", run.id)),
        }
    }
    let rows = paper::TABLE1
        .iter()
        .map(|p| RowReport {
            number: p.number,
            method: p.method,
            row: p.ours,
            paper: PaperValues {
                accuracy: p.accuracy,
                target_acquired: p.target_acquired,
                target_acquired_from: p.target_acquired_from,
                minutes: p.minutes,
            },
            ours: p
                .ours
                .map(|row| ours(by_row.get(&row).map_or(&[][..], Vec::as_slice))),
        })
        .collect();
    let report = Report {
        command: ctx.command.clone(),
        date: clock::now(),
        setting,
        budget: setting.config(Row::TdSplit, 0, None).active.budget,
        seeds_requested: ctx.seeds_requested,
        data_dirs,
        rows,
        ignored,
    };
    Ok((setting, report))
}

/// The narrowing flags of `--report-only` (`None`: any).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    /// Only runs of this profile.
    pub profile: Option<Profile>,
    /// Only runs with this target share.
    pub target_share: Option<f64>,
    /// Only runs with this pool cap.
    pub max_pool: Option<usize>,
    /// Only runs with this least number of steps per TD-SPLIT update.
    pub min_update_steps: Option<usize>,
}

impl Wanted {
    fn admits(&self, setting: &Setting) -> bool {
        self.profile.is_none_or(|p| p == setting.profile)
            && self
                .target_share
                .is_none_or(|s| Some(s) == setting.target_share)
            && self.max_pool.is_none_or(|c| Some(c) == setting.max_pool)
            && self
                .min_update_steps
                .is_none_or(|m| Some(m) == setting.min_update_steps)
    }

    /// ` with profile quick target share 0.06`, or nothing when no flag narrows.
    fn describe(&self) -> String {
        let parts: Vec<String> = [
            self.profile.map(|p| format!("profile {}", profile_name(p))),
            self.target_share.map(|s| format!("target share {s}")),
            self.max_pool.map(|c| format!("pool cap {c}")),
            self.min_update_steps
                .map(|m| format!("≥ {m} steps per TD-SPLIT update")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" with {}", parts.join(" "))
        }
    }
}

fn infer_setting(out: &Path, runs: &[RunFolder], wanted: Wanted) -> Result<Setting> {
    let mut found: Vec<Setting> = Vec::new();
    for run in runs {
        let setting = Setting::of(&run.config);
        if setting.owns(&run.id, &run.config)
            && wanted.admits(&setting)
            && !found.contains(&setting)
        {
            found.push(setting);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "no runs of the table's rows{} in {}",
            wanted.describe(),
            out.join("runs").display()
        ),
        many => bail!(
            "{} holds runs of several settings ({}); choose one with --profile, --target-share, --max-pool and --min-update-steps",
            out.join("runs").display(),
            many.iter()
                .map(Setting::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// Our numbers from a row's run folders (finished and partial).
fn ours(runs: &[&RunFolder]) -> Ours {
    let mut finished: Vec<(&RunFolder, &RunSummary)> = runs
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| (*r, s)))
        .collect();
    finished.sort_by_key(|(r, _)| r.config.seed);
    let values = |f: &dyn Fn(&RunSummary) -> f64| -> Vec<f64> {
        finished.iter().map(|(_, s)| f(s)).collect()
    };
    let percent =
        |f: &dyn Fn(&RunSummary) -> f64| Estimate::of(&values(f)).map(|e| e.scaled(100.0));
    #[allow(clippy::cast_precision_loss)] // counts of a few hundred
    let target_acquired = Estimate::of(&values(&|s| s.target_acquired as f64));
    let splits: Vec<StageSplit> = finished.iter().map(|(r, s)| StageSplit::of(r, s)).collect();

    let mut points: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (run, _) in &finished {
        for round in &run.rounds {
            points
                .entry(round.n_labelled)
                .or_default()
                .push(100.0 * round.accuracy.primary);
        }
    }
    let curve = points
        .into_iter()
        .filter_map(|(n_labelled, v)| {
            Estimate::of(&v).map(|accuracy| CurvePoint {
                n_labelled,
                accuracy,
            })
        })
        .collect();

    let mut partial: Vec<PartialRun> = runs
        .iter()
        .filter(|r| r.summary.is_none())
        .map(|r| PartialRun {
            run_id: r.id.clone(),
            seed: r.config.seed,
            rounds_done: r.rounds.len(),
            total_rounds: r.rounds.first().map(|first| {
                tdal_loop::total_rounds(
                    first.n_labelled,
                    r.config.active.budget,
                    r.config.active.batch_size,
                )
            }),
        })
        .collect();
    partial.sort_by_key(|p| p.seed);

    Ours {
        seeds: finished.iter().map(|(r, _)| r.config.seed).collect(),
        accuracy: percent(&|s| s.final_accuracy.primary),
        targets_only: percent(&|s| s.final_accuracy.targets_only),
        balanced: percent(&|s| s.final_accuracy.balanced),
        target_acquired,
        wall_seconds: Estimate::of(&values(&|s| s.loop_seconds + s.initialise_seconds)),
        encoders_cached: finished.iter().filter(|(_, s)| s.encoder_cached).count(),
        peak_rss_bytes: finished.iter().map(|(_, s)| s.peak_rss_bytes).max(),
        stages: StageSplit::mean(&splits),
        curve,
        runs: finished
            .iter()
            .map(|(r, s)| RunLine {
                run_id: r.id.clone(),
                seed: r.config.seed,
                primary: 100.0 * s.final_accuracy.primary,
                targets_only: 100.0 * s.final_accuracy.targets_only,
                balanced: 100.0 * s.final_accuracy.balanced,
                target_acquired: s.target_acquired,
                n_labelled: s.n_labelled,
                wall_seconds: s.loop_seconds + s.initialise_seconds,
                encoder_cached: s.encoder_cached,
                peak_rss_bytes: s.peak_rss_bytes,
            })
            .collect(),
        partial,
    }
}

/// Writes `table1.md`, `table1.json` and `curves.svg` into `out` (each atomically) and
/// returns their paths.
///
/// # Errors
/// A file cannot be written or the plot cannot be drawn.
pub fn write(out: &Path, report: &Report) -> Result<Vec<String>> {
    let md = markdown(report);
    let json = serde_json::to_string_pretty(report).context("cannot serialise table1.json")? + "\n";
    let svg = curves::svg(report)?;
    let mut written = Vec::new();
    for (name, bytes) in [
        ("table1.md", md.as_bytes()),
        ("table1.json", json.as_bytes()),
        ("curves.svg", svg.as_bytes()),
    ] {
        let path = out.join(name);
        record::write_atomic(&path, bytes)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

fn seeds_text(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn minutes(e: &Estimate) -> Estimate {
    e.scaled(1.0 / 60.0)
}

/// Wall time of seconds as `12.3 ± 0.4 min`, or in seconds below two minutes (smoke runs).
fn duration(seconds: &Estimate) -> String {
    let (value, unit) = if seconds.mean < 120.0 {
        (*seconds, "s")
    } else {
        (minutes(seconds), "min")
    };
    match value.se {
        Some(se) => format!("{:.1} ± {se:.1} {unit}", value.mean),
        None => format!("{:.1} {unit} (n=1)", value.mean),
    }
}

/// `table1.md`.
#[must_use]
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_markdown(&mut s, r);
    s
}

fn write_markdown(s: &mut String, r: &Report) -> std::fmt::Result {
    let mut share = r.setting.target_share.map_or_else(
        || "imbalance ratio 10 (the paper's; ≈ 2 % targets)".to_owned(),
        |t| format!("target share {t} (instead of imbalance ratio 10)"),
    );
    if let Some(cap) = r.setting.max_pool {
        share.push_str(&format!(", at most {cap} images"));
    }
    if let Some(steps) = r.setting.min_update_steps {
        share.push_str(&format!(
            ", TD-SPLIT updates of at least {steps} unlabelled steps (whole passes over the pool)"
        ));
    }
    writeln!(
        s,
        "# Table 1 on F+MNIST — profile `{}`\n",
        profile_name(r.setting.profile)
    )?;
    writeln!(s, "- command: `{}`", r.command)?;
    writeln!(s, "- date: {}", r.date)?;
    writeln!(
        s,
        "- profile: `{}`; pool: {share}",
        profile_name(r.setting.profile)
    )?;
    let finished: Vec<u64> = {
        let mut all: Vec<u64> = r
            .rows
            .iter()
            .filter_map(|row| row.ours.as_ref())
            .flat_map(|o| o.seeds.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    match r.seeds_requested {
        Some(n) => writeln!(
            s,
            "- seeds: {n} requested (0 to {}); the finished runs have seeds {}",
            n - 1,
            or_none(&seeds_text(&finished))
        )?,
        None => writeln!(
            s,
            "- seeds of the finished runs: {}",
            or_none(&seeds_text(&finished))
        )?,
    }
    if !r.data_dirs.is_empty() {
        writeln!(
            s,
            "- data: {}",
            r.data_dirs
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(
        s,
        "\nFinal test accuracy (%) at {} labels. Ours: mean ± s.e. over the finished seeds \
         (s.e. = sample standard deviation / √n; one seed shows `(n=1)`); the paper: 4 seeds, \
         mean ± 1 s.e. *Primary* is the paper's metric as we read it (target-class test images, \
         argmax over all classes, \"other\" counts as wrong); *targets-only* restricts the argmax \
         to the target classes; *balanced* scores a test set with as many \"other\" images as the \
         mean target-class count. Wall time is per run (initialisation included); peak memory \
         is the largest peak resident set of the runs.\n",
        r.budget
    )?;
    writeln!(
        s,
        "| # | Method | Paper F+MNIST | Ours (primary) | Seeds | Ours, targets-only argmax | Ours, balanced test set | Wall time / run | Peak memory |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|")?;
    for row in &r.rows {
        let paper = format!(
            "{:.2} ± {:.2}",
            row.paper.accuracy.mean, row.paper.accuracy.se
        );
        let Some(o) = &row.ours else {
            writeln!(
                s,
                "| {} | {} | {paper} | not implemented yet | | | | | |",
                row.number, row.method
            )?;
            continue;
        };
        let partial = if o.partial.is_empty() {
            String::new()
        } else {
            format!(" (+{} partial)", o.partial.len())
        };
        if o.seeds.is_empty() {
            writeln!(
                s,
                "| {} | {} | {paper} | no finished run yet | 0{partial} | | | | |",
                row.number, row.method
            )?;
            continue;
        }
        let wall = o.wall_seconds.map_or_else(String::new, |w| {
            format!(
                "{} (encoder from cache in {} of {})",
                duration(&w),
                o.encoders_cached,
                o.seeds.len()
            )
        });
        writeln!(
            s,
            "| {} | **{}** | {paper} | **{}** | {}{partial} | {} | {} | {wall} | {} |",
            row.number,
            row.method,
            stats::show(o.accuracy.as_ref(), 2),
            o.seeds.len(),
            stats::show(o.targets_only.as_ref(), 2),
            stats::show(o.balanced.as_ref(), 2),
            o.peak_rss_bytes.map_or_else(String::new, stats::bytes),
        )?;
    }

    writeln!(s, "\n## Target-class acquisitions (Table 5 style)\n")?;
    writeln!(
        s,
        "Target-class points among the acquired labels at the end of a run (our count excludes \
         the initial labels). The paper's Table 5 has one model-independent *Random* row, shown \
         for every random-acquisition method.\n"
    )?;
    writeln!(s, "| # | Method | Paper F+MNIST (of 500) | Ours | Seeds |")?;
    writeln!(s, "|---|---|---|---|---|")?;
    for row in &r.rows {
        let paper = row.paper.target_acquired.map_or_else(
            || "not reported".to_owned(),
            |p| {
                let from = row
                    .paper
                    .target_acquired_from
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default();
                format!("{:.0} ± {:.0}{from}", p.mean, p.se)
            },
        );
        let (ours, seeds) = match &row.ours {
            None => ("not implemented yet".to_owned(), String::new()),
            Some(o) if o.seeds.is_empty() => ("no finished run yet".to_owned(), "0".to_owned()),
            Some(o) => (
                stats::show(o.target_acquired.as_ref(), 1),
                o.seeds.len().to_string(),
            ),
        };
        writeln!(
            s,
            "| {} | {} | {paper} | {ours} | {seeds} |",
            row.number, row.method
        )?;
    }

    writeln!(s, "\n## Where the time goes (Table 6 style)\n")?;
    writeln!(
        s,
        "Mean seconds per run in each stage, summed over the run's rounds; *initialise* is \
         obtaining the first representation (US VAE pretraining; 0 s when it came from the \
         cache), *other* the rest of the wall time (records, checkpoints). The paper's Table 6 \
         gives whole runs on one H100 GPU; ours run on this machine's CPU.\n"
    )?;
    writeln!(
        s,
        "| Method | Runs | initialise | retrain | embed | fit | evaluate | predict | score | select | other | total | Paper (min) |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")?;
    let mut any_time = false;
    for row in &r.rows {
        let (Some(o), Some(st)) = (&row.ours, row.ours.as_ref().and_then(|o| o.stages)) else {
            continue;
        };
        any_time = true;
        let paper = row.paper.minutes.map_or_else(
            || "—".to_owned(),
            |m| format!("{:.0} ± {:.0}", m.mean, m.se),
        );
        let f = st.fields();
        write!(s, "| {} | {} |", row.method, o.seeds.len())?;
        for v in &f[..9] {
            write!(s, " {v:.1} |")?;
        }
        let total = o
            .wall_seconds
            .map_or_else(|| format!("{:.1} s", f[9]), |w| duration(&w));
        writeln!(s, " {total} | {paper} |")?;
    }
    if !any_time {
        writeln!(s, "| no finished run yet | | | | | | | | | | | | |")?;
    }

    writeln!(s, "\n## Learning curves\n")?;
    writeln!(
        s,
        "Primary test accuracy (%) against labels, mean ± s.e. band over the finished seeds: \
         [curves.svg](curves.svg)\n\n![learning curves](curves.svg)"
    )?;

    writeln!(s, "\n## Runs\n")?;
    writeln!(
        s,
        "| Row | Seed | Run | Status | Primary % | Targets-only % | Balanced % | Target-class | Minutes | Peak memory |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|")?;
    for row in &r.rows {
        let (Some(key), Some(o)) = (row.row, &row.ours) else {
            continue;
        };
        for run in &o.runs {
            writeln!(
                s,
                "| {} | {} | `{}` | finished{} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {} |",
                key.key(),
                run.seed,
                run.run_id,
                if run.encoder_cached {
                    ", encoder cached"
                } else {
                    ""
                },
                run.primary,
                run.targets_only,
                run.balanced,
                run.target_acquired,
                run.wall_seconds / 60.0,
                stats::bytes(run.peak_rss_bytes)
            )?;
        }
        for p in &o.partial {
            let of = p
                .total_rounds
                .map(|t| format!(" of {t}"))
                .unwrap_or_default();
            writeln!(
                s,
                "| {} | {} | `{}` | partial: {} rounds{of} recorded, not counted | | | | | | |",
                key.key(),
                p.seed,
                p.run_id,
                p.rounds_done
            )?;
        }
    }
    if !r.ignored.is_empty() {
        writeln!(s, "\nIgnored folders under `runs/`:\n")?;
        for line in &r.ignored {
            writeln!(s, "- {line}")?;
        }
    }
    Ok(())
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "none yet" } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdal_loop::{Accuracies, Acquired, StageSeconds};

    /// Writes a run folder as the loop would: `config.toml`, one record per round with
    /// accuracy rising linearly to `final_primary`, and `summary.json` when `finished`.
    pub(crate) fn synthetic_run(
        runs: &Path,
        cfg: &RunConfig,
        final_primary: f64,
        rounds: usize,
        finished: bool,
    ) -> String {
        let id = cfg.run_id();
        let dir = runs.join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(files::CONFIG), cfg.to_toml().unwrap()).unwrap();
        let mut targets = 0;
        for round in 0..rounds {
            #[allow(clippy::cast_precision_loss)]
            let progress = (round + 1) as f64 / rounds as f64;
            targets += round % 3;
            let rec = RoundRecord {
                round,
                n_labelled: 6 + 10 * round,
                accuracy: Accuracies {
                    primary: final_primary * progress,
                    targets_only: (final_primary + 0.01) * progress,
                    balanced: (final_primary - 0.01) * progress,
                },
                retrained: round % 5 == 0,
                acquired: vec![Acquired {
                    index: round,
                    label: 1,
                    source: "mnist".into(),
                    class: "5".into(),
                }],
                target_acquired: targets,
                seconds: StageSeconds {
                    retrain: 1.0,
                    embed: 0.5,
                    fit: 2.0,
                    evaluate: 0.25,
                    predict: 0.5,
                    score: 0.75,
                    select: 0.125,
                    total: 5.5,
                },
                peak_rss_bytes: 100 << 20,
            };
            record::append_round(&dir, &rec).unwrap();
        }
        if finished {
            let summary = RunSummary {
                run_id: id.clone(),
                final_accuracy: Accuracies {
                    primary: final_primary,
                    targets_only: final_primary + 0.01,
                    balanced: final_primary - 0.01,
                },
                n_labelled: 6 + 10 * (rounds - 1),
                target_acquired: targets,
                rounds,
                #[allow(clippy::cast_precision_loss)]
                loop_seconds: 5.5 * rounds as f64 + 1.0,
                initialise_seconds: 60.0,
                encoder_cached: cfg.seed > 0,
                peak_rss_bytes: (200 + cfg.seed) << 20,
            };
            std::fs::write(
                dir.join(files::SUMMARY),
                serde_json::to_string(&summary).unwrap(),
            )
            .unwrap();
        }
        id
    }

    fn smoke() -> Setting {
        Setting {
            profile: Profile::Smoke,
            target_share: None,
            max_pool: None,
            min_update_steps: None,
        }
    }

    fn ctx() -> Context {
        Context {
            command: "cargo xtask table1 --test".into(),
            seeds_requested: Some(3),
        }
    }

    fn row_of(report: &Report, row: Row) -> &Ours {
        report
            .rows
            .iter()
            .find(|r| r.row == Some(row))
            .unwrap()
            .ours
            .as_ref()
            .unwrap()
    }

    #[test]
    fn mean_and_se_over_finished_seeds_match_a_hand_computation() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        for (seed, acc) in [(0, 0.90), (1, 0.94), (2, 0.98)] {
            synthetic_run(&runs, &s.config(Row::UsEpig, seed, None), acc, 4, true);
        }
        synthetic_run(&runs, &s.config(Row::TdSplit, 0, None), 0.5, 4, true);
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let us = row_of(&report, Row::UsEpig);
        assert_eq!(us.seeds, [0, 1, 2]);
        let acc = us.accuracy.unwrap();
        // 90, 94, 98 %: mean 94, sample sd 4, s.e. 4/√3.
        assert!((acc.mean - 94.0).abs() < 1e-9, "{acc:?}");
        assert!(
            (acc.se.unwrap() - 4.0 / 3f64.sqrt()).abs() < 1e-9,
            "{acc:?}"
        );
        assert!((us.targets_only.unwrap().mean - 95.0).abs() < 1e-9);
        assert!((us.balanced.unwrap().mean - 93.0).abs() < 1e-9);
        // wall = 5.5 · 4 + 1 + 60 = 83 s for every seed; encoders cached for seeds 1, 2.
        let wall = us.wall_seconds.unwrap();
        assert!((wall.mean - 83.0).abs() < 1e-9 && wall.se.unwrap().abs() < 1e-9);
        assert_eq!(us.encoders_cached, 2);
        assert_eq!(us.peak_rss_bytes, Some(202 << 20));
        // Stage sums over 4 rounds; other = 83 − 60 − 4 · 5.125.
        let st = us.stages.unwrap();
        assert!((st.fit - 8.0).abs() < 1e-9 && (st.initialise - 60.0).abs() < 1e-9);
        assert!(
            (st.other - (83.0 - 60.0 - 4.0 * 5.125)).abs() < 1e-9,
            "{st:?}"
        );
        // Curve: 4 points, the last one the final accuracy.
        assert_eq!(us.curve.len(), 4);
        assert_eq!(us.curve[3].n_labelled, 36);
        assert!((us.curve[3].accuracy.mean - 94.0).abs() < 1e-9);

        let md = markdown(&report);
        assert!(md.contains("| 5 | **US+EPIG (VAE, Bickford Smith et al. (2024))** | 94.50 ± 0.34 | **94.00 ± 2.31** | 3 |"), "{md}");
        assert!(
            md.contains("| 10 | **TD-SPLIT (Ours)** | 98.46 ± 0.17 | **50.00 (n=1)** | 1 |"),
            "{md}"
        );
        assert!(md.contains("cargo xtask table1 --test"));
        assert!(
            md.contains("| 83.0 ± 0.0 s (encoder from cache in 2 of 3) | 202 MiB |"),
            "{md}"
        );
        let long = Estimate::of(&[600.0, 660.0]).unwrap();
        assert_eq!(duration(&long), "10.5 ± 0.5 min");
        assert_eq!(duration(&Estimate::of(&[30.0]).unwrap()), "30.0 s (n=1)");
        // Table 5: targets 0+1+2+0 = 3 for every seed.
        assert!(
            md.contains(
                "| 5 | US+EPIG (VAE, Bickford Smith et al. (2024)) | 118 ± 4 | 3.0 ± 0.0 | 3 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 7 | US Random (VAE) | 31 ± 2 (Random) | no finished run yet | 0 |"),
            "{md}"
        );
    }

    #[test]
    fn every_paper_row_is_shown_and_unimplemented_rows_say_so() {
        let out = tempfile::tempdir().unwrap();
        let s = smoke();
        synthetic_run(
            &out.path().join("runs"),
            &s.config(Row::UsRandom, 0, None),
            0.8,
            3,
            true,
        );
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        assert_eq!(report.rows.len(), 11);
        let md = markdown(&report);
        for p in &paper::TABLE1 {
            assert!(
                md.contains(&format!("| {} | ", p.number)),
                "row {} missing",
                p.number
            );
            let line = md
                .lines()
                .find(|l| {
                    l.contains(p.method)
                        && l.contains(&format!("{:.2} ± {:.2}", p.accuracy.mean, p.accuracy.se))
                })
                .unwrap();
            assert_eq!(
                line.contains("not implemented yet"),
                p.ours.is_none(),
                "{line}"
            );
        }
        assert_eq!(md.matches("not implemented yet").count(), 2 * 7);
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert!(json["rows"][0]["ours"].is_null());
        assert_eq!(json["rows"][6]["row"], "us-random");
        assert!(
            (json["rows"][6]["ours"]["accuracy"]["mean"]
                .as_f64()
                .unwrap()
                - 80.0)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn partial_stale_and_damaged_runs_are_left_out_and_listed() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        synthetic_run(&runs, &s.config(Row::TdSplit, 0, None), 0.9, 4, true);
        let partial = synthetic_run(&runs, &s.config(Row::TdSplit, 1, None), 0.1, 2, false);
        // Same row and seed under an older preset: another hash, so another folder.
        let mut stale = s.config(Row::TdSplit, 2, None);
        stale.head.trees = 7;
        stale.head.posterior_samples = 7;
        let stale_id = synthetic_run(&runs, &stale, 0.1, 4, true);
        // Another profile's run and a folder without a configuration.
        let quick = Setting {
            profile: Profile::Quick,
            target_share: None,
            max_pool: None,
            min_update_steps: None,
        };
        synthetic_run(&runs, &quick.config(Row::TdSplit, 0, None), 0.1, 4, true);
        std::fs::create_dir_all(runs.join("junk")).unwrap();

        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let td = row_of(&report, Row::TdSplit);
        assert_eq!(td.seeds, [0]);
        assert!((td.accuracy.unwrap().mean - 90.0).abs() < 1e-9);
        assert_eq!(td.partial.len(), 1);
        assert_eq!(td.partial[0].run_id, partial);
        assert_eq!(td.partial[0].rounds_done, 2);
        // smoke: budget 36, batch 10, 6 initial labels → 4 rounds.
        assert_eq!(td.partial[0].total_rounds, Some(4));
        assert_eq!(report.ignored.len(), 3, "{:?}", report.ignored);
        assert!(report.ignored.iter().any(|l| l.starts_with(&stale_id)));
        assert!(report.ignored.iter().any(|l| l.starts_with("junk")));
        let md = markdown(&report);
        assert!(md.contains("| 1 (+1 partial) |"), "{md}");
        assert!(
            md.contains("partial: 2 rounds of 4 recorded, not counted"),
            "{md}"
        );
    }

    #[test]
    fn report_only_infers_the_one_setting_or_asks_for_flags() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let infer = |profile, target_share| {
            Selection::Infer(Wanted {
                profile,
                target_share,
                ..Wanted::default()
            })
        };
        assert!(
            build(out.path(), infer(None, None), &ctx())
                .unwrap_err()
                .to_string()
                .contains("no runs in")
        );
        let shared = Setting {
            profile: Profile::Smoke,
            target_share: Some(0.06),
            max_pool: None,
            min_update_steps: None,
        };
        synthetic_run(&runs, &shared.config(Row::UsRandom, 0, None), 0.7, 3, true);
        let (setting, _) = build(out.path(), infer(None, None), &ctx()).unwrap();
        assert_eq!(setting, shared);
        synthetic_run(&runs, &smoke().config(Row::UsRandom, 0, None), 0.7, 3, true);
        let err = build(out.path(), infer(None, None), &ctx())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("several settings") && err.contains("--target-share"),
            "{err}"
        );
        let (setting, _) = build(out.path(), infer(None, Some(0.06)), &ctx()).unwrap();
        assert_eq!(setting, shared);
        let err = build(out.path(), infer(Some(Profile::Paper), None), &ctx())
            .unwrap_err()
            .to_string();
        assert!(err.contains("profile paper"), "{err}");

        // A pool cap is part of the setting: the smoke preset's own cap is no override,
        // another cap is, and --max-pool picks it out.
        assert_eq!(
            Setting::of(&smoke().config(Row::UsRandom, 0, None)),
            smoke()
        );
        let capped = Setting {
            max_pool: Some(1_500),
            ..shared
        };
        let cfg = capped.config(Row::UsRandom, 0, None);
        assert_eq!(cfg.data.max_pool, Some(1_500));
        assert_eq!(Setting::of(&cfg), capped);
        synthetic_run(&runs, &cfg, 0.6, 3, true);
        let err = build(out.path(), infer(None, Some(0.06)), &ctx())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pool cap 1500") && err.contains("--max-pool"),
            "{err}"
        );
        let pick = |min_update_steps| {
            Selection::Infer(Wanted {
                profile: None,
                target_share: Some(0.06),
                max_pool: Some(1_500),
                min_update_steps,
            })
        };
        let (setting, report) = build(out.path(), pick(None), &ctx()).unwrap();
        assert_eq!(setting, capped);
        assert!(markdown(&report).contains("at most 1500 images"));

        // So are the steps per TD-SPLIT update: they reach every row's configuration,
        // and --min-update-steps picks them out.
        let longer = Setting {
            min_update_steps: Some(300),
            ..capped
        };
        let cfg = longer.config(Row::TdSplit, 0, None);
        assert_eq!(cfg.encoder.min_update_steps, Some(300));
        assert_eq!(Setting::of(&cfg), longer);
        synthetic_run(&runs, &cfg, 0.8, 3, true);
        let err = build(out.path(), pick(None), &ctx())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("≥ 300 steps per TD-SPLIT update") && err.contains("--min-update-steps"),
            "{err}"
        );
        let (setting, report) = build(out.path(), pick(Some(300)), &ctx()).unwrap();
        assert_eq!(setting, longer);
        assert!(
            markdown(&report).contains("TD-SPLIT updates of at least 300 unlabelled steps"),
            "{}",
            markdown(&report)
        );
    }

    #[test]
    fn written_files_parse() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        for seed in 0..2 {
            for (row, acc) in [
                (Row::TdSplit, 0.9),
                (Row::UsEpig, 0.8),
                (Row::UsRandom, 0.4),
            ] {
                #[allow(clippy::cast_precision_loss)]
                synthetic_run(
                    &runs,
                    &s.config(row, seed, None),
                    acc + 0.02 * seed as f64,
                    5,
                    true,
                );
            }
        }
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let written = write(out.path(), &report).unwrap();
        assert_eq!(written.len(), 3);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("table1.json")).unwrap())
                .unwrap();
        assert_eq!(json["setting"]["profile"], "smoke");
        assert_eq!(json["rows"].as_array().unwrap().len(), 11);
        let svg = std::fs::read_to_string(out.path().join("curves.svg")).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("curves.svg is well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(str::to_owned))
            .collect();
        for row in [Row::TdSplit, Row::UsEpig, Row::UsRandom] {
            assert!(
                texts.iter().any(|t| t.contains(row.short())),
                "legend lacks {row:?}: {texts:?}"
            );
        }
        // One band (polygon) and one line (polyline) per row with runs.
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polygon"))
                .count()
                >= 3
        );
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .count()
                >= 3
        );
    }
}
