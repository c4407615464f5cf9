//! The report as files: `table1.md` from the minijinja template `table1.md.j2` (fed the
//! report's serialised form, the same data as `table1.json`) and `table1.json`.
//!
//! Number formatting lives here as template filters; the template only lays the numbers
//! out. `curves.svg` is drawn by [`crate::table1::curves`].

use anyhow::{Context as _, Result};
use indicatif::HumanBytes;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use serde::Deserialize;

use super::{Report, RowReport};
use crate::table1::stats;
use crate::table1::{Row, Setting};

/// The template of `table1.md`.
const TEMPLATE: &str = include_str!("../table1.md.j2");
/// The template of `table4.md`.
const TABLE4: &str = include_str!("../table4.md.j2");
/// The template of `table5.md`.
const TABLE5: &str = include_str!("../table5.md.j2");

/// The environment with the report's filters.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .context("the template syntax")?,
    );
    // A misspelt field fails instead of printing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("pm", mean_se);
    env.add_filter("duration", duration_filter);
    env.add_filter("bytes", |n: u64| HumanBytes(n).to_string());
    env.add_filter("fixed", |x: f64, decimals: usize| format!("{x:.decimals$}"));
    env.add_template("table1.md", TEMPLATE)
        .context("cannot parse the template of table1.md")?;
    env.add_template("table4.md", TABLE4)
        .context("cannot parse the template of table4.md")?;
    env.add_template("table5.md", TABLE5)
        .context("cannot parse the template of table5.md")?;
    Ok(env)
}

/// `table1.md`.
///
/// # Errors
/// The template does not fit the report (a bug that the tests catch).
pub(crate) fn markdown(report: &Report) -> Result<String> {
    let env = environment()?;
    let ctx = context! {
        r => Serde(report),
        pool => pool(&report.setting),
        galaxy => galaxy_init(&report.setting),
        finished_seeds => finished_seeds(report),
        stages => tdal_loop::Stage::ALL.map(tdal_loop::Stage::as_str),
    };
    env.get_template("table1.md")
        .and_then(|t| t.render(ctx))
        .context("cannot render table1.md")
}

/// The report's rows (Table 1's and the task-driven baselines) by our row.
fn by_row<'a>(report: &'a Report) -> impl Fn(Row) -> Option<&'a RowReport> + 'a {
    move |row| {
        report
            .rows
            .iter()
            .chain(&report.task_driven)
            .find(|r| r.row == Some(row))
    }
}

/// `table4.md`: the fourteen rows of the paper's Table 4 in its order, and whether each
/// task-driven baseline beats its plain one.
///
/// # Errors
/// The template does not fit the report (a bug that the tests catch).
pub(crate) fn table4(report: &Report) -> Result<String> {
    let find = by_row(report);
    let rows: Vec<(usize, &RowReport)> = TABLE4_ORDER
        .iter()
        .enumerate()
        .filter_map(|(i, &row)| Some((i + 1, find(row)?)))
        .collect();
    let accuracy = |row| find(row).and_then(|r| r.ours.as_ref()?.accuracy);
    let pairs: Vec<Pair> = [
        (Row::Similar, Row::TdSimilar),
        (Row::Galaxy, Row::TdGalaxy),
        (Row::ClusterMargin, Row::TdClusterMargin),
    ]
    .into_iter()
    .map(|(base, td)| {
        let paper = |row| find(row).map(|r| r.paper.accuracy.mean);
        Pair {
            baseline: base.short(),
            td: td.short(),
            paper: compare(paper(base), paper(td)),
            ours: compare(accuracy(base).map(|e| e.mean), accuracy(td).map(|e| e.mean)),
        }
    })
    .collect();
    let env = environment()?;
    let ctx = context! {
        r => Serde(report),
        pool => pool(&report.setting),
        galaxy => galaxy_init(&report.setting),
        finished_seeds => finished_seeds(report),
        rows => Serde(rows),
        pairs => Serde(pairs),
    };
    env.get_template("table4.md")
        .and_then(|t| t.render(ctx))
        .context("cannot render table4.md")
}

/// Table 4's rows in its order.
const TABLE4_ORDER: [Row; 14] = [
    Row::Similar,
    Row::Galaxy,
    Row::ClusterMargin,
    Row::UsSimclrEpig,
    Row::UsEpig,
    Row::UsSimclrRandom,
    Row::UsRandom,
    Row::TdSimilar,
    Row::TdGalaxy,
    Row::TdClusterMargin,
    Row::TdFtRandom,
    Row::TdSplitRandom,
    Row::TdSplit,
    Row::TdFt,
];

/// One TD-versus-baseline line of `table4.md`.
#[derive(Debug, serde::Serialize)]
struct Pair {
    baseline: &'static str,
    td: &'static str,
    paper: String,
    ours: String,
}

/// `TD above (+1.23)`, `TD below (−0.40)` or `—` when either is missing.
fn compare(base: Option<f64>, td: Option<f64>) -> String {
    match (base, td) {
        (Some(b), Some(t)) if t > b => format!("TD above (+{:.2})", t - b),
        (Some(b), Some(t)) => format!("TD not above ({:+.2})", t - b),
        _ => "—".to_owned(),
    }
}

/// `table5.md`: target-class acquisitions in the order of the paper's Table 5, and the
/// plain baselines' ordering.
///
/// # Errors
/// The template does not fit the report (a bug that the tests catch).
pub(crate) fn table5(report: &Report) -> Result<String> {
    let find = by_row(report);
    let order: [(&str, Row); 14] = [
        ("1", Row::Similar),
        ("2", Row::Galaxy),
        ("3", Row::ClusterMargin),
        ("4", Row::UsSimclrEpig),
        ("5", Row::UsEpig),
        ("6", Row::TdSimilar),
        ("7", Row::TdGalaxy),
        ("8", Row::TdClusterMargin),
        ("9", Row::UsRandom),
        ("9", Row::UsSimclrRandom),
        ("9", Row::TdSplitRandom),
        ("9", Row::TdFtRandom),
        ("10", Row::TdSplit),
        ("11", Row::TdFt),
    ];
    let rows: Vec<(&str, &RowReport)> = order
        .iter()
        .filter_map(|&(label, row)| Some((label, find(row)?)))
        .collect();
    let count = |row| {
        find(row)
            .and_then(|r| r.ours.as_ref()?.target_acquired)
            .map(|e| e.mean)
    };
    let random: Vec<f64> = [
        Row::UsRandom,
        Row::UsSimclrRandom,
        Row::TdSplitRandom,
        Row::TdFtRandom,
    ]
    .into_iter()
    .filter_map(count)
    .collect();
    #[allow(clippy::cast_precision_loss)]
    let random = (!random.is_empty()).then(|| random.iter().sum::<f64>() / random.len() as f64);
    let ordering = match (
        count(Row::Similar),
        count(Row::Galaxy),
        count(Row::ClusterMargin),
        random,
    ) {
        (Some(s), Some(g), Some(c), Some(r)) => format!(
            "SIMILAR {s:.1}, GALAXY {g:.1}, Cluster-Margin {c:.1}, Random {r:.1} (mean of the random rows): SIMILAR > GALAXY {}, GALAXY > Cluster-Margin {}",
            if s > g { "holds" } else { "does not hold" },
            if g > c { "holds" } else { "does not hold" },
        ),
        _ => "not every one of these rows has a finished run yet".to_owned(),
    };
    let env = environment()?;
    let ctx = context! {
        r => Serde(report),
        pool => pool(&report.setting),
        finished_seeds => finished_seeds(report),
        rows => Serde(rows),
        ordering => ordering,
    };
    env.get_template("table5.md")
        .and_then(|t| t.render(ctx))
        .context("cannot render table5.md")
}

/// `table1.json`.
///
/// # Errors
/// Serialisation fails (it does not for finite numbers).
pub(crate) fn json(report: &Report) -> Result<String> {
    Ok(serde_json::to_string_pretty(report).context("cannot serialise table1.json")? + "\n")
}

/// How GALAXY's network starts: from scratch (the paper: ImageNet weights) or from the
/// `--init-weights` file.
fn galaxy_init(setting: &Setting) -> String {
    match &setting.galaxy_init {
        None => "GALAXY is trained from scratch (no ImageNet init: the paper initialises it \
                 from ImageNet weights, which tdal never downloads; `--init-weights FILE` \
                 supplies them)."
            .to_owned(),
        Some(w) => format!(
            "GALAXY's backbone starts every round from `{}` (blake3 {}, `--init-weights`), as \
             the paper's starts from ImageNet weights.",
            w.file.display(),
            crate::table1::short_hash(&w.blake3)
        ),
    }
}

/// The pool of the setting in words: `target share 0.06 (instead of imbalance ratio 10),
/// at most 20000 images`.
fn pool(setting: &Setting) -> String {
    let mut text = setting.target_share.map_or_else(
        || "imbalance ratio 10 (the paper's; ≈ 2 % targets)".to_owned(),
        |t| format!("target share {t} (instead of imbalance ratio 10)"),
    );
    if let Some(cap) = setting.max_pool {
        text.push_str(&format!(", at most {cap} images"));
    }
    if let Some(steps) = setting.min_update_steps {
        text.push_str(&format!(
            ", TD-SPLIT updates of at least {steps} unlabelled steps (whole passes over the pool)"
        ));
    }
    text
}

/// The seeds with a finished run in any row, in order.
fn finished_seeds(report: &Report) -> Vec<u64> {
    let mut all: Vec<u64> = report
        .rows
        .iter()
        .chain(&report.task_driven)
        .filter_map(|row| row.ours.as_ref())
        .flat_map(|o| o.seeds.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// A mean and its standard error as the template gets them: an
/// [`Estimate`](crate::table1::stats::Estimate) (`se` is none for one seed) or a published
/// value.
#[derive(Debug, Deserialize)]
struct MeanSe {
    mean: f64,
    se: Option<f64>,
}

/// `pm(decimals[, missing])`: `94.00 ± 2.31`, `50.00 (n=1)`, or `missing` (default `—`)
/// for none.
fn mean_se(value: Serde<Option<MeanSe>>, decimals: usize, missing: Option<&str>) -> String {
    value.0.map_or_else(
        || missing.unwrap_or("—").to_owned(),
        |v| stats::mean_se(v.mean, v.se, decimals),
    )
}

/// `duration`: an estimate of seconds as [`duration`] shows it (nothing for none).
fn duration_filter(value: Serde<Option<MeanSe>>) -> String {
    value.0.map_or_else(String::new, |v| duration(v.mean, v.se))
}

/// Wall time of seconds as `12.3 ± 0.4 min`, or in seconds below two minutes (smoke runs).
///
/// Deliberately not indicatif's `HumanDuration`: a table column of mean ± s.e. needs one
/// unit for both numbers and a decimal (`HumanDuration` rounds to whole units, "13
/// minutes", which hides the differences between rows that the table is for).
fn duration(mean: f64, se: Option<f64>) -> String {
    let (scale, unit) = if mean < 120.0 {
        (1.0, "s")
    } else {
        (1.0 / 60.0, "min")
    };
    match se {
        Some(se) => format!("{:.1} ± {:.1} {unit}", mean * scale, se * scale),
        None => format!("{:.1} {unit} (n=1)", mean * scale),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ctx, hand_computed, smoke, synthetic_run};
    use super::super::{Selection, build};
    use super::*;
    use crate::table1::Row;
    use crate::table1::paper;
    use crate::table1::stats::Estimate;

    #[test]
    fn durations_keep_one_unit_and_a_decimal() {
        let long = Estimate::of(&[600.0, 660.0]).unwrap();
        assert_eq!(duration(long.mean, long.se), "10.5 ± 0.5 min");
        assert_eq!(duration(30.0, None), "30.0 s (n=1)");
        assert_eq!(duration(119.0, Some(1.0)), "119.0 ± 1.0 s");
    }

    #[test]
    fn the_hand_computed_numbers_reach_their_cells() {
        let out = tempfile::tempdir().unwrap();
        let md = markdown(&hand_computed(out.path())).unwrap();
        assert!(md.contains("| 5 | **US+EPIG (VAE, Bickford Smith et al. (2024))** | 94.50 ± 0.34 | **94.00 ± 2.31** | 3 |"), "{md}");
        assert!(
            md.contains("| 10 | **TD-SPLIT (Ours)** | 98.46 ± 0.17 | **50.00 (n=1)** | 1 |"),
            "{md}"
        );
        assert!(md.contains("cargo xtask table1 --test"));
        assert!(
            md.contains("| 83.0 ± 0.0 s (encoder from cache in 2 of 3) | 202.00 MiB |"),
            "{md}"
        );
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
        assert!(
            md.contains("- seeds: 3 requested (0 to 2); the finished runs have seeds 0, 1, 2\n"),
            "{md}"
        );
    }

    #[test]
    fn a_run_with_a_single_target_class_shows_targets_only_as_n_a() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        let cfg = s.config(Row::TdSplit, 0, None);
        synthetic_run(&runs, &cfg, 0.5, 4, true);
        // What a run with one target class records: no targets-only accuracy (null).
        let path = runs
            .join(cfg.run_id())
            .join(tdal_loop::record::files::SUMMARY);
        let mut summary: tdal_loop::RunSummary =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        summary.final_accuracy.targets_only = None;
        std::fs::write(&path, serde_json::to_string(&summary).unwrap()).unwrap();
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let md = markdown(&report).unwrap();
        assert!(
            md.contains("| **50.00 (n=1)** | 1 | n/a | 49.00 (n=1) |"),
            "{md}"
        );
        assert!(md.contains("| 50.00 | n/a | 49.00 |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&json(&report).unwrap()).unwrap();
        let row = json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["row"] == "td-split")
            .unwrap();
        assert!(row["ours"]["targets_only"].is_null(), "{row}");
        assert!(row["ours"]["runs"][0]["targets_only"].is_null(), "{row}");
    }

    #[test]
    fn every_paper_row_is_shown_and_rows_without_runs_say_so() {
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
        let md = markdown(&report).unwrap();
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
            assert!(!line.contains("not implemented yet"), "{line}");
        }
        // Every row is implemented; those without runs say so, in Table 1 and Table 5.
        assert!(paper::TABLE1.iter().all(|p| p.ours.is_some()));
        assert_eq!(md.matches("not implemented yet").count(), 0);
        assert_eq!(md.matches("no finished run yet").count(), 2 * 10);
        let json: serde_json::Value = serde_json::from_str(&json(&report).unwrap()).unwrap();
        assert_eq!(json["rows"][0]["row"], "similar");
        assert!(json["rows"][0]["ours"]["accuracy"].is_null());
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

    /// The template on a report with every implemented row finished on two seeds, a
    /// partial run, an ignored folder and a data directory: every section and every row
    /// is there, with one line per run.
    #[test]
    fn the_template_renders_every_row_of_a_full_synthetic_report() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        let data = out.path().join("data");
        let mut ids = Vec::new();
        for seed in 0..2 {
            for row in Row::ALL {
                #[allow(clippy::cast_precision_loss)]
                let acc = 0.5 + 0.1 * seed as f64;
                ids.push(synthetic_run(
                    &runs,
                    &s.config(row, seed, Some(&data)),
                    acc,
                    4,
                    true,
                ));
            }
        }
        let partial = synthetic_run(&runs, &s.config(Row::UsEpig, 2, None), 0.3, 2, false);
        std::fs::create_dir_all(runs.join("junk")).unwrap();
        let (_, report) = build(
            out.path(),
            Selection::Exact(s),
            &super::super::Context {
                command: "cargo xtask table1 --report-only".into(),
                seeds_requested: None,
            },
        )
        .unwrap();
        let md = markdown(&report).unwrap();
        assert!(md.ends_with('\n') && !md.ends_with("\n\n"), "{md}");
        assert!(!md.contains("{{") && !md.contains("{%"), "{md}");
        for heading in [
            "# Table 1 on F+MNIST — profile `smoke`\n",
            "\n## Target-class acquisitions (Table 5 style)\n",
            "\n## Where the time goes (Table 6 style)\n",
            "\n## Learning curves\n",
            "\n## Runs\n",
            "\nIgnored folders under `runs/`:\n\n- junk: ",
        ] {
            assert!(md.contains(heading), "{heading:?} missing: {md}");
        }
        assert!(
            md.contains(&format!("- data: `{}`\n", data.display())),
            "{md}"
        );
        assert!(md.contains("- seeds of the finished runs: 0, 1\n"), "{md}");
        assert!(md.contains("imbalance ratio 10 (the paper's; ≈ 2 % targets)"));
        // Table 1 and Table 5: one line per paper row each; ours on the eight we implement.
        for p in &paper::TABLE1 {
            let lines: Vec<&str> = md
                .lines()
                .filter(|l| l.starts_with(&format!("| {} | ", p.number)))
                .collect();
            assert_eq!(lines.len(), 2, "row {}: {lines:?}", p.number);
            if p.ours.is_some() {
                assert!(
                    lines[0].contains(&format!("| **{}** |", p.method)),
                    "{lines:?}"
                );
                assert!(lines[0].contains("(encoder from cache in"), "{lines:?}");
                assert!(lines[0].contains(" MiB |"), "{lines:?}");
                assert!(!lines[1].contains("not implemented"), "{lines:?}");
            } else {
                assert!(lines.iter().all(|l| l.contains("not implemented yet")));
            }
        }
        assert!(md.contains("| 2 (+1 partial) |"), "{md}");
        // Table 6: one line per implemented row, with the paper's minutes where given.
        for row in Row::ALL {
            let method = paper::TABLE1
                .iter()
                .find(|p| p.ours == Some(row))
                .unwrap()
                .method;
            let line = md
                .lines()
                .find(|l| l.starts_with(&format!("| {method} | 2 | 60.0 |")))
                .unwrap_or_else(|| panic!("no time line for {row:?}: {md}"));
            assert_eq!(line.matches('|').count(), 14, "{line}");
            let minutes = match row {
                Row::TdSplit => "| 43 ± 10 |",
                Row::TdFt => "| 57 ± 5 |",
                _ => "| — |",
            };
            assert!(line.ends_with(minutes), "{row:?}: {line}");
        }
        assert!(!md.contains("| no finished run yet | |"), "{md}");
        // Runs: one line per finished run, and the partial one.
        for id in &ids {
            let line = md.lines().find(|l| l.contains(&format!("`{id}`"))).unwrap();
            assert!(line.contains("| finished"), "{line}");
            assert_eq!(line.matches('|').count(), 11, "{line}");
        }
        assert!(md.contains(&format!(
            "`{partial}` | partial: 2 rounds of 4 recorded, not counted |"
        )));
    }

    /// The rows on the SimCLR encoder, each with one finished seed, reach Table 1, the
    /// Table 5 counts, the time table and the runs beside the paper's numbers.
    #[test]
    fn the_simclr_rows_render_beside_the_papers_numbers() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        let mut ids = Vec::new();
        for (row, acc) in [
            (Row::UsSimclrEpig, 0.91),
            (Row::UsSimclrRandom, 0.62),
            (Row::TdFtRandom, 0.73),
            (Row::TdFt, 0.95),
        ] {
            ids.push((
                row,
                synthetic_run(&runs, &s.config(row, 0, None), acc, 4, true),
            ));
        }
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        assert!(report.ignored.is_empty(), "{:?}", report.ignored);
        let md = markdown(&report).unwrap();
        for line in [
            // Table 1.
            "| 4 | **US+EPIG (SimCLRv2, Bickford Smith et al. (2024))** | 98.53 ± 0.12 | **91.00 (n=1)** | 1 |",
            "| 6 | **US Random (SimCLRv2)** | 92.76 ± 2.37 | **62.00 (n=1)** | 1 |",
            "| 8 | **TD-FT Random** | 96.23 ± 0.37 | **73.00 (n=1)** | 1 |",
            "| 11 | **TD-FT (Ours)** | 99.56 ± 0.10 | **95.00 (n=1)** | 1 |",
            // Table 5: targets 0+1+2+0 = 3 in every synthetic run.
            "| 4 | US+EPIG (SimCLRv2, Bickford Smith et al. (2024)) | 119 ± 8 | 3.0 (n=1) | 1 |",
            "| 6 | US Random (SimCLRv2) | 31 ± 2 (Random) | 3.0 (n=1) | 1 |",
            "| 8 | TD-FT Random | 31 ± 2 (Random) | 3.0 (n=1) | 1 |",
            "| 11 | TD-FT (Ours) | 206 ± 38 | 3.0 (n=1) | 1 |",
            // The VAE rows have no runs here.
            "| 10 | TD-SPLIT (Ours) | 98.46 ± 0.17 | no finished run yet | 0 | | | | |",
        ] {
            assert!(md.contains(&format!("\n{line}")), "{line:?} missing: {md}");
        }
        // Table 6: TD-FT with the paper's minutes, the US SimCLR rows without.
        for (method, minutes) in [
            ("US+EPIG (SimCLRv2, Bickford Smith et al. (2024))", "—"),
            ("US Random (SimCLRv2)", "—"),
            ("TD-FT Random", "—"),
            ("TD-FT (Ours)", "57 ± 5"),
        ] {
            let line = md
                .lines()
                .find(|l| l.starts_with(&format!("| {method} | 1 | 60.0 |")))
                .unwrap_or_else(|| panic!("no time line for {method}: {md}"));
            assert!(line.ends_with(&format!("| {minutes} |")), "{line}");
        }
        // Runs: one line each, named by the row's key.
        for (row, id) in &ids {
            let line = md.lines().find(|l| l.contains(&format!("`{id}`"))).unwrap();
            assert!(
                line.starts_with(&format!("| {} | 0 |", row.key())),
                "{line}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&json(&report).unwrap()).unwrap();
        assert_eq!(json["rows"][10]["row"], "td-ft");
        assert_eq!(json["rows"][3]["row"], "us-simclr-epig");
        assert_eq!(json["rows"][5]["row"], "us-simclr-random");
        assert_eq!(json["rows"][7]["row"], "td-ft-random");
        assert!(
            (json["rows"][10]["paper"]["minutes"]["mean"]
                .as_f64()
                .unwrap()
                - 57.0)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn an_empty_table_says_so() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        synthetic_run(&runs, &s.config(Row::TdSplit, 1, None), 0.1, 2, false);
        let (_, report) = build(out.path(), Selection::Exact(s), &ctx()).unwrap();
        let md = markdown(&report).unwrap();
        assert!(md.contains("the finished runs have seeds none yet"), "{md}");
        assert!(
            md.contains("| no finished run yet | 0 (+1 partial) |"),
            "{md}"
        );
        assert!(
            md.contains("\n| no finished run yet | | | | | | | | | | | | |\n"),
            "{md}"
        );
        assert!(
            md.contains("partial: 2 rounds of 4 recorded, not counted"),
            "{md}"
        );
        assert!(!md.contains("Ignored folders"), "{md}");
        assert!(!md.contains("- data:"), "{md}");
    }

    #[test]
    fn the_pool_names_every_override() {
        assert_eq!(
            pool(&smoke()),
            "imbalance ratio 10 (the paper's; ≈ 2 % targets)"
        );
        let longer = Setting {
            target_share: Some(0.06),
            max_pool: Some(1_500),
            min_update_steps: Some(300),
            ..smoke()
        };
        assert_eq!(
            pool(&longer),
            "target share 0.06 (instead of imbalance ratio 10), at most 1500 images, \
             TD-SPLIT updates of at least 300 unlabelled steps (whole passes over the pool)"
        );
    }
}
