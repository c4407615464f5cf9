//! Test fixtures of the report: run folders written as the loop writes them (for any
//! row's configuration, the SimCLR rows' included), and a report built from them.

use std::path::Path;

use tdal_loop::record::{self, files};
use tdal_loop::{
    Accuracies, Acquired, Profile, RoundRecord, RunConfig, RunSummary, Stage, StageSeconds,
};

use super::{Context, Ours, Report, Selection, build};
use crate::table1::{Row, Setting};

/// Writes a run folder as the loop would: `config.toml`, one record per round with
/// accuracy rising linearly to `final_primary`, and `summary.json` when `finished`.
pub fn synthetic_run(
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
                targets_only: Some((final_primary + 0.01) * progress),
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
            seconds: {
                let mut s = StageSeconds::default();
                for (stage, seconds) in [
                    (Stage::Retrain, 1.0),
                    (Stage::Embed, 0.5),
                    (Stage::Fit, 2.0),
                    (Stage::Evaluate, 0.25),
                    (Stage::Predict, 0.5),
                    (Stage::Score, 0.75),
                    (Stage::Select, 0.125),
                ] {
                    s.add(stage, seconds);
                }
                s.total = 5.5;
                s
            },
            peak_rss_bytes: 100 << 20,
            kernels: "avx2+fma".into(),
        };
        record::append_round(&dir, &rec).unwrap();
    }
    if finished {
        let summary = RunSummary {
            run_id: id.clone(),
            final_accuracy: Accuracies {
                primary: final_primary,
                targets_only: Some(final_primary + 0.01),
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
            kernels: "avx2+fma".into(),
        };
        std::fs::write(
            dir.join(files::SUMMARY),
            serde_json::to_string(&summary).unwrap(),
        )
        .unwrap();
    }
    id
}

/// The smoke setting (the paper's imbalance ratio, the profile's pool).
pub fn smoke() -> Setting {
    Setting {
        profile: Profile::Smoke,
        target_share: None,
        max_pool: None,
        min_update_steps: None,
        galaxy_init: None,
    }
}

/// A runner's context: a recognisable command line, 3 seeds requested.
pub fn ctx() -> Context {
    Context {
        command: "cargo xtask table1 --test".into(),
        seeds_requested: Some(3),
    }
}

/// Our numbers of an implemented row.
pub fn row_of(report: &Report, row: Row) -> &Ours {
    report
        .rows
        .iter()
        .find(|r| r.row == Some(row))
        .unwrap()
        .ours
        .as_ref()
        .unwrap()
}

/// The report of three US+EPIG seeds at 90, 94 and 98 % and one TD-SPLIT seed at 50 %
/// (smoke setting), written under `out`: numbers checked by hand in the tests.
pub fn hand_computed(out: &Path) -> Report {
    let runs = out.join("runs");
    let s = smoke();
    for (seed, acc) in [(0, 0.90), (1, 0.94), (2, 0.98)] {
        synthetic_run(&runs, &s.config(Row::UsEpig, seed, None), acc, 4, true);
    }
    synthetic_run(&runs, &s.config(Row::TdSplit, 0, None), 0.5, 4, true);
    build(out, Selection::Exact(s), &ctx()).unwrap().1
}
