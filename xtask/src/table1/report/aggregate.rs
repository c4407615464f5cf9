//! From run folders to numbers: which setting the folders hold, which runs belong to each
//! row, and per row the mean ± s.e. over the finished seeds, the mean time split per stage
//! and the learning curve. Partial runs are listed but counted nowhere.
//!
//! Only the TD-SPLIT rows carry a setting of their own (`min_update_steps`); the US VAE,
//! US SimCLR and TD-FT rows of a pool belong to every value of it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use tdal_loop::{RepresentationKind, RunSummary, Stage};

use super::scan::RunFolder;
use super::{
    Context, CurvePoint, Ours, PaperValues, PartialRun, Report, RowReport, RunLine, StageSplit,
    Wanted,
};
use crate::table1::paper;
use crate::table1::stats::Estimate;
use crate::table1::{Row, Setting, clock};

/// The one setting of the runs that `wanted` admits.
///
/// # Errors
/// No run of a table row is admitted, or runs of several settings are (the message lists
/// them and the flags that choose one).
pub(super) fn infer_setting(out: &Path, runs: &[RunFolder], wanted: Wanted) -> Result<Setting> {
    let mut found: Vec<Setting> = Vec::new();
    // TD-SPLIT runs first: only they carry `min_update_steps`; the setting of any other
    // run (US VAE, US SimCLR, TD-FT) counts only when no TD-SPLIT run shares its pool
    // (those rows serve every value of it).
    let is_split = |run: &RunFolder| run.config.representation() == RepresentationKind::TdSplit;
    let mut ordered: Vec<&RunFolder> = runs.iter().collect();
    ordered.sort_by_key(|run| !is_split(run));
    for run in ordered {
        // GALAXY's initial weights are chosen by the flag, not inferred: a GALAXY run made
        // with other weights than asked is not this setting's run.
        let setting = Setting::of(&run.config).with_galaxy_init(wanted.galaxy_init.clone());
        let split = is_split(run);
        let known = found
            .iter()
            .any(|f| *f == setting || (!split && f.same_pool(&setting)));
        let admitted = if split {
            wanted.admits(&setting)
        } else {
            wanted.admits(&Setting {
                min_update_steps: wanted.min_update_steps,
                ..setting.clone()
            })
        };
        if setting.owns(&run.id, &run.config) && admitted && !known {
            found.push(setting);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
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

/// The report of `setting` from the run folders read (`unreadable`: the folders that
/// could not be read, listed as ignored).
pub(super) fn report(
    setting: Setting,
    runs: &[RunFolder],
    unreadable: Vec<String>,
    ctx: &Context,
) -> Report {
    let mut ignored = unreadable;
    let mut by_row: BTreeMap<Row, Vec<&RunFolder>> = BTreeMap::new();
    let mut data_dirs: Vec<String> = Vec::new();
    for run in runs {
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
            Some(Row::Galaxy)
                if init_hash(run.config.init_weights())
                    != init_hash(setting.galaxy_init.as_ref()) =>
            {
                ignored.push(match run.config.init_weights() {
                    Some(w) => format!(
                        "{}: GALAXY started from {} (blake3 {}): report it with --init-weights on that file",
                        run.id,
                        w.file.display(),
                        super::super::short_hash(&w.blake3)
                    ),
                    None => format!(
                        "{}: GALAXY trained from scratch (this report's GALAXY has --init-weights)",
                        run.id
                    ),
                });
            }
            Some(_) => ignored.push(format!(
                "{}: not a run of this setting ({}) as configured today",
                run.id,
                setting.describe()
            )),
            None => ignored.push(format!("{}: not one of the table's rows", run.id)),
        }
    }
    let row_report = |p: &paper::PaperRow| RowReport {
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
    };
    let rows = paper::TABLE1.iter().map(row_report).collect();
    let task_driven = paper::TASK_DRIVEN_BASELINES
        .iter()
        .map(row_report)
        .collect();
    Report {
        command: ctx.command.clone(),
        date: clock::now(),
        budget: setting.config(Row::TdSplit, 0, None).active.budget,
        setting,
        seeds_requested: ctx.seeds_requested,
        data_dirs,
        rows,
        task_driven,
        ignored,
    }
}

/// The content hash of initial weights.
fn init_hash(weights: Option<&tdal_loop::InitWeights>) -> Option<&str> {
    weights.map(|w| w.blake3.as_str())
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
    // Only the runs with more than one target class have a targets-only accuracy.
    let targets_only: Vec<f64> = finished
        .iter()
        .filter_map(|(_, s)| s.final_accuracy.targets_only)
        .collect();
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
        targets_only: Estimate::of(&targets_only).map(|e| e.scaled(100.0)),
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
                targets_only: s.final_accuracy.targets_only.map(|a| 100.0 * a),
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

impl StageSplit {
    /// One finished run's seconds per stage, summed over its rounds.
    fn of(run: &RunFolder, summary: &RunSummary) -> Self {
        let mut split = Self {
            total: summary.loop_seconds + summary.initialise_seconds,
            ..Self::default()
        };
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            split.seconds[i] = if stage == Stage::Initialise {
                summary.initialise_seconds
            } else {
                run.rounds.iter().map(|r| r.seconds.get(stage)).sum()
            };
        }
        split.other = (split.total - split.seconds.iter().sum::<f64>()).max(0.0);
        split
    }

    /// The field-wise mean (`None` for no runs).
    fn mean(splits: &[Self]) -> Option<Self> {
        if splits.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // a handful of seeds
        let n = splits.len() as f64;
        let mut mean = Self::default();
        for s in splits {
            for (acc, v) in mean.seconds.iter_mut().zip(s.seconds) {
                *acc += v / n;
            }
            mean.other += s.other / n;
            mean.total += s.total / n;
        }
        Some(mean)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ctx, hand_computed, row_of, smoke, synthetic_run};
    use super::super::{Selection, build};
    use super::*;
    use tdal_loop::Profile;

    #[test]
    fn mean_and_se_over_finished_seeds_match_a_hand_computation() {
        let out = tempfile::tempdir().unwrap();
        let report = hand_computed(out.path());
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
        assert!(
            (st.get(Stage::Fit) - 8.0).abs() < 1e-9
                && (st.get(Stage::Initialise) - 60.0).abs() < 1e-9
        );
        assert!(
            (st.other - (83.0 - 60.0 - 4.0 * 5.125)).abs() < 1e-9,
            "{st:?}"
        );
        // Curve: 4 points, the last one the final accuracy.
        assert_eq!(us.curve.len(), 4);
        assert_eq!(us.curve[3].n_labelled, 36);
        assert!((us.curve[3].accuracy.mean - 94.0).abs() < 1e-9);
        // Table 5: targets 0+1+2+0 = 3 for every seed.
        let targets = us.target_acquired.unwrap();
        assert!((targets.mean - 3.0).abs() < 1e-9, "{targets:?}");
        // A row with one seed has no s.e.; a row without runs has no numbers.
        let td = row_of(&report, Row::TdSplit);
        assert_eq!(td.seeds, [0]);
        assert_eq!(td.accuracy.unwrap().se, None);
        let random = row_of(&report, Row::UsRandom);
        assert!(random.seeds.is_empty() && random.accuracy.is_none() && random.stages.is_none());
    }

    #[test]
    fn galaxys_initial_weights_choose_its_runs_and_the_tables_say_which() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let scratch = smoke();
        let weights = tdal_loop::InitWeights {
            file: "imagenet.safetensors".into(),
            blake3: "c".repeat(64),
        };
        let init = scratch.clone().with_galaxy_init(Some(weights.clone()));
        synthetic_run(&runs, &scratch.config(Row::Galaxy, 0, None), 0.6, 3, true);
        synthetic_run(&runs, &init.config(Row::Galaxy, 0, None), 0.9, 3, true);
        // The other rows are shared by both tables.
        synthetic_run(&runs, &scratch.config(Row::UsRandom, 0, None), 0.5, 3, true);
        let accuracy =
            |report: &super::super::Report, row| row_of(report, row).accuracy.unwrap().mean;

        let (_, plain) = build(out.path(), Selection::Exact(scratch.clone()), &ctx()).unwrap();
        assert!((accuracy(&plain, Row::Galaxy) - 60.0).abs() < 1e-9);
        assert!((accuracy(&plain, Row::UsRandom) - 50.0).abs() < 1e-9);
        assert_eq!(plain.ignored.len(), 1, "{:?}", plain.ignored);
        assert!(
            plain.ignored[0].contains("--init-weights"),
            "{:?}",
            plain.ignored
        );
        for text in [
            super::super::render::markdown(&plain).unwrap(),
            super::super::render::table4(&plain).unwrap(),
        ] {
            assert!(text.contains("no ImageNet init"), "{text}");
        }

        let (_, started) = build(out.path(), Selection::Exact(init.clone()), &ctx()).unwrap();
        assert!((accuracy(&started, Row::Galaxy) - 90.0).abs() < 1e-9);
        assert!((accuracy(&started, Row::UsRandom) - 50.0).abs() < 1e-9);
        assert_eq!(started.ignored.len(), 1, "{:?}", started.ignored);
        assert!(
            started.ignored[0].contains("from scratch"),
            "{:?}",
            started.ignored
        );
        for text in [
            super::super::render::markdown(&started).unwrap(),
            super::super::render::table4(&started).unwrap(),
        ] {
            assert!(!text.contains("no ImageNet init"), "{text}");
            assert!(
                text.contains("starts every round from `imagenet.safetensors` (blake3 cccccccc"),
                "{text}"
            );
        }

        // --report-only takes GALAXY's weights from its flag, never from the folders.
        let infer = |galaxy_init| {
            Selection::Infer(super::super::Wanted {
                galaxy_init,
                ..super::super::Wanted::default()
            })
        };
        let (setting, _) = build(out.path(), infer(None), &ctx()).unwrap();
        assert_eq!(setting, scratch);
        let (setting, report) = build(out.path(), infer(Some(weights)), &ctx()).unwrap();
        assert_eq!(setting, init);
        assert!((accuracy(&report, Row::Galaxy) - 90.0).abs() < 1e-9);
    }

    #[test]
    fn stage_means_are_field_wise() {
        let fit = Stage::Fit.index();
        let mut a = StageSplit {
            total: 10.0,
            ..StageSplit::default()
        };
        a.seconds[fit] = 1.0;
        let mut b = StageSplit {
            total: 20.0,
            ..StageSplit::default()
        };
        b.seconds[fit] = 3.0;
        let m = StageSplit::mean(&[a, b]).unwrap();
        assert!((m.get(Stage::Fit) - 2.0).abs() < 1e-12 && (m.total - 15.0).abs() < 1e-12);
        assert!(StageSplit::mean(&[]).is_none());
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
        stale.head = tdal_loop::HeadConfig::Forest(tdal_loop::ForestSettings {
            trees: 7,
            posterior_samples: 7,
        });
        let stale_id = synthetic_run(&runs, &stale, 0.1, 4, true);
        // Another profile's run and a folder without a configuration.
        let quick = Setting {
            profile: Profile::Quick,
            target_share: None,
            max_pool: None,
            min_update_steps: None,
            galaxy_init: None,
        };
        synthetic_run(&runs, &quick.config(Row::TdSplit, 0, None), 0.1, 4, true);
        std::fs::create_dir_all(runs.join("junk")).unwrap();

        let (_, report) = build(out.path(), Selection::Exact(s.clone()), &ctx()).unwrap();
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
            galaxy_init: None,
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
            ..shared.clone()
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
                galaxy_init: None,
            })
        };
        let (setting, _) = build(out.path(), pick(None), &ctx()).unwrap();
        assert_eq!(setting, capped);
        synthetic_run(&runs, &capped.config(Row::TdSplit, 0, None), 0.7, 3, true);

        // So are the steps per TD-SPLIT update: they reach the TD-SPLIT rows'
        // configuration (the US rows have no such setting and serve every value), and
        // --min-update-steps picks them out.
        let longer = Setting {
            min_update_steps: Some(300),
            ..capped.clone()
        };
        let cfg = longer.config(Row::TdSplit, 0, None);
        let tdal_loop::EncoderConfig::TdSplit(split) = &cfg.encoder else {
            panic!("TD-SPLIT row without a TD-SPLIT encoder")
        };
        assert_eq!(split.min_update_steps, Some(300));
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
        assert_eq!(row_of(&report, Row::UsRandom).seeds, [0]);
        assert_eq!(
            longer.config(Row::UsRandom, 0, None),
            capped.config(Row::UsRandom, 0, None)
        );

        // The rows on the SimCLR encoder have no such setting either: like the US VAE
        // rows they add no setting of their own and count in the table of every value.
        for row in [
            Row::TdFt,
            Row::UsSimclrEpig,
            Row::UsSimclrRandom,
            Row::TdFtRandom,
        ] {
            let cfg = longer.config(row, 0, None);
            assert_eq!(cfg, capped.config(row, 0, None), "{row:?}");
            assert_eq!(Setting::of(&cfg), capped, "{row:?}");
            synthetic_run(&runs, &cfg, 0.9, 3, true);
        }
        let err = build(out.path(), pick(None), &ctx())
            .unwrap_err()
            .to_string();
        assert!(err.contains("several settings"), "{err}");
        // Both tables, with and without the steps, hold them.
        for (selection, expected) in [
            (pick(Some(300)), longer),
            (Selection::Exact(capped.clone()), capped),
        ] {
            let (setting, report) = build(out.path(), selection, &ctx()).unwrap();
            assert_eq!(setting, expected);
            for row in Row::ALL {
                // Runs were made above for US Random, TD-SPLIT and the SimCLR rows.
                let seeds: &[u64] = if row == Row::UsRandom || row == Row::TdSplit || row.simclr() {
                    &[0]
                } else {
                    &[]
                };
                assert_eq!(row_of(&report, row).seeds, seeds, "{row:?} in {expected:?}");
            }
        }
    }
}
