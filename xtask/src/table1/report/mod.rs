//! The report of `cargo xtask table1`: reads every run folder under `<out>/runs`, keeps the
//! finished runs of one [`Setting`], and writes `table1.md` (every row of the paper's
//! Table 1 beside ours, a Table 5-style count of target-class acquisitions, a Table 6-style
//! time split), `table1.json` (the same numbers) and `curves.svg`.
//!
//! A run counts once its `summary.json` exists; a folder with rounds but no summary is
//! listed as partial and left out of every mean. A folder whose run id is not the one its
//! row and seed get from the setting today (another profile, another target share, an
//! older preset) is listed as ignored, so stale results never mix into a table.
//!
//! The implemented rows are those of [`Row`]: the US VAE and TD-SPLIT rows and the US
//! SimCLR and TD-FT rows; the paper's other rows are listed with its numbers only.
//!
//! Three steps, one module each: [`scan`] reads the run folders, [`aggregate`] infers the
//! setting and computes the numbers (the types below, serialised as `table1.json`), and
//! [`render`] writes them out (`table1.md` through the template `table1.md.j2`).

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use tdal_loop::record;
use tdal_loop::{InitWeights, Profile, Stage};

use super::paper::Published;
use super::stats::Estimate;
use super::{Row, Setting, curves};

mod aggregate;
#[cfg(test)]
mod fixtures;
mod render;
mod scan;

/// Where the report came from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command line that made it.
    pub command: String,
    /// `--seeds` of a runner invocation (`None` for `--report-only`).
    pub seeds_requested: Option<u64>,
}

/// Which runs the report covers.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Exactly this setting (the runner's).
    Exact(Setting),
    /// The one setting the run folders hold, optionally narrowed by the flags.
    Infer(Wanted),
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
    /// Targets-only argmax, % (`None` with a single target class: "n/a").
    pub targets_only: Option<f64>,
    /// Balanced test set, %.
    pub balanced: f64,
    /// Target-class points acquired (initial labels excluded).
    pub target_acquired: usize,
    /// Labels at the end.
    pub n_labelled: usize,
    /// `loop_seconds + initialise_seconds`.
    pub wall_seconds: f64,
    /// Whether the pretrained encoder (US VAE or SimCLR) came from the cache.
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
///
/// Serialised with one key per [`Stage::as_str`] (in [`Stage::ALL`] order), then `other`
/// and `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSplit {
    /// Seconds per stage, indexed like [`Stage::ALL`]; `initialise` is obtaining the
    /// initial representation (0 when cached).
    pub seconds: [f64; Stage::ALL.len()],
    /// The rest of the run's wall time (records, checkpoints, resume).
    pub other: f64,
    /// The whole run: `loop_seconds + initialise_seconds`.
    pub total: f64,
}

impl StageSplit {
    /// Seconds of `stage`.
    #[must_use]
    #[cfg(test)]
    pub fn get(&self, stage: Stage) -> f64 {
        self.seconds[stage.index()]
    }
}

impl Serialize for StageSplit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Stage::ALL.len() + 2))?;
        for (stage, seconds) in Stage::ALL.iter().zip(self.seconds) {
            map.serialize_entry(stage.as_str(), &seconds)?;
        }
        map.serialize_entry("other", &self.other)?;
        map.serialize_entry("total", &self.total)?;
        map.end()
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
    /// Final accuracy with the argmax restricted to the target classes, %, over the runs
    /// that have it (`None` as well with a single target class: "n/a").
    pub targets_only: Option<Estimate>,
    /// Final accuracy on the class-balanced test set, %.
    pub balanced: Option<Estimate>,
    /// Target-class points among the acquired labels.
    pub target_acquired: Option<Estimate>,
    /// Wall time per run, seconds (`loop_seconds + initialise_seconds`).
    pub wall_seconds: Option<Estimate>,
    /// Finished runs whose pretrained encoder (US VAE or SimCLR) came from the cache.
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
    /// The three rows Table 4 adds (the baselines' selectors on TD-FT).
    pub task_driven: Vec<RowReport>,
    /// Folders left out, with the reason.
    pub ignored: Vec<String>,
}

/// Reads the runs under `out` and builds the report of the selected setting.
///
/// # Errors
/// No `runs` folder; with [`Selection::Infer`], no run of a table row or runs of several
/// settings (the message lists them and the flags that choose one).
pub fn build(out: &Path, selection: Selection, ctx: &Context) -> Result<(Setting, Report)> {
    let scan::Scan { runs, unreadable } = scan::scan(out)?;
    let setting = match selection {
        Selection::Exact(setting) => setting,
        Selection::Infer(wanted) => aggregate::infer_setting(out, &runs, wanted)?,
    };
    let report = aggregate::report(setting.clone(), &runs, unreadable, ctx);
    Ok((setting, report))
}

/// Writes `table1.md`, `table1.json`, `curves.svg`, `table4.md` and `table5.md` into
/// `out` (each atomically) and returns their paths.
///
/// # Errors
/// A file cannot be written or the plot cannot be drawn.
pub fn write(out: &Path, report: &Report) -> Result<Vec<String>> {
    let md = render::markdown(report)?;
    let json = render::json(report)?;
    let svg = curves::svg(report)?;
    let mut written = Vec::new();
    let table4 = render::table4(report)?;
    let table5 = render::table5(report)?;
    for (name, bytes) in [
        ("table1.md", md.as_bytes()),
        ("table1.json", json.as_bytes()),
        ("curves.svg", svg.as_bytes()),
        ("table4.md", table4.as_bytes()),
        ("table5.md", table5.as_bytes()),
    ] {
        let path = out.join(name);
        record::write_atomic(&path, bytes)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// The narrowing flags of `--report-only` (`None`: any).
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// Only runs of this profile.
    pub profile: Option<Profile>,
    /// Only runs with this target share.
    pub target_share: Option<f64>,
    /// Only runs with this pool cap.
    pub max_pool: Option<usize>,
    /// Only runs with this least number of steps per TD-SPLIT update.
    pub min_update_steps: Option<usize>,
    /// GALAXY's runs made with these initial weights (`None`: those made from scratch;
    /// unlike the other fields, not "any").
    pub galaxy_init: Option<InitWeights>,
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
            self.profile.map(|p| format!("profile {}", p.as_str())),
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

#[cfg(test)]
mod tests {
    use super::fixtures::{ctx, smoke, synthetic_run};
    use super::*;

    #[test]
    fn written_files_parse() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        for seed in 0..2 {
            for (i, row) in Row::ALL.into_iter().enumerate() {
                #[allow(clippy::cast_precision_loss)]
                synthetic_run(
                    &runs,
                    &s.config(row, seed, None),
                    0.9 - 0.05 * i as f64 + 0.02 * seed as f64,
                    5,
                    true,
                );
            }
        }
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let written = write(out.path(), &report).unwrap();
        assert_eq!(written.len(), 5);
        let table4 = std::fs::read_to_string(out.path().join("table4.md")).unwrap();
        assert_eq!(
            table4.matches("\n| ").count(),
            (1 + 14) + (1 + 3),
            "{table4}"
        );
        let table5 = std::fs::read_to_string(out.path().join("table5.md")).unwrap();
        assert_eq!(table5.matches("\n| ").count(), 1 + 14, "{table5}");
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
        for row in Row::ALL {
            assert!(
                texts.iter().any(|t| t.contains(row.short())),
                "legend lacks {row:?}: {texts:?}"
            );
        }
        // One band (polygon) per row with runs.
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polygon"))
                .count()
                >= Row::ALL.len()
        );
        // The mean line is drawn 2 px wide in the row's colour: one polyline for the VAE
        // rows, one per dash for the SimCLR rows.
        for row in Row::ALL {
            let plotters::style::RGBColor(r, g, b) = curves::colour(row);
            let stroke = format!("#{r:02X}{g:02X}{b:02X}");
            let segments = doc
                .descendants()
                .filter(|n| {
                    n.has_tag_name("polyline")
                        && n.attribute("stroke") == Some(stroke.as_str())
                        && n.attribute("stroke-width") == Some("2")
                })
                .count();
            if row.simclr() {
                assert!(segments > 2, "{row:?} is not dashed: {segments} segments");
            } else {
                assert_eq!(segments, 1, "{row:?}");
            }
        }
    }
}
