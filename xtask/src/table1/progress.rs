//! Progress of a table: one indicatif bar over the runs, one over the current run's rounds
//! (with the stage in its message), and a line per finished run. `--quiet` draws nothing.

use std::time::Duration;

use indicatif::{HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tdal_loop::{Event, Observer, RunSummary};

use super::Row;

/// Bars and lines for `cargo xtask table1`.
pub struct Progress {
    multi: MultiProgress,
    runs: ProgressBar,
    rounds: ProgressBar,
    quiet: bool,
}

impl Progress {
    /// Bars over `total_runs` runs (hidden when `quiet`).
    pub fn new(total_runs: usize, quiet: bool) -> Self {
        let multi = if quiet {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        let runs = multi.add(ProgressBar::new(total_runs as u64));
        runs.set_style(
            ProgressStyle::with_template(
                "runs   {bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let rounds = multi.add(ProgressBar::new(0));
        rounds.set_style(
            ProgressStyle::with_template("rounds {bar:30} {pos}/{len} [eta {eta}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        runs.enable_steady_tick(Duration::from_millis(500));
        Self {
            multi,
            runs,
            rounds,
            quiet,
        }
    }

    /// A run of `row` with `seed` starts.
    pub fn begin(&mut self, row: Row, seed: u64, run_id: &str) {
        self.runs
            .set_message(format!("{} seed {seed} ({run_id})", row.key()));
        self.rounds.reset();
        self.rounds.set_length(0);
        self.rounds.set_message("");
    }

    /// A run ended well: one line, and the runs bar moves on.
    pub fn finish(
        &mut self,
        row: Row,
        seed: u64,
        summary: &RunSummary,
        skipped: bool,
        took: Duration,
    ) {
        let how = if skipped {
            "already finished".to_owned()
        } else {
            let all =
                Duration::try_from_secs_f64(summary.loop_seconds + summary.initialise_seconds)
                    .unwrap_or_default();
            format!(
                "{} this session, {} in all",
                HumanDuration(took),
                HumanDuration(all)
            )
        };
        let targets_only = summary.final_accuracy.targets_only_text(" %");
        self.line(&format!(
            "{:<16} seed {seed}: accuracy {:.2} % (targets-only {targets_only}, balanced \
             {:.2} %), {} target-class labels of {}, {how}",
            row.key(),
            100.0 * summary.final_accuracy.primary,
            100.0 * summary.final_accuracy.balanced,
            summary.target_acquired,
            summary.n_labelled,
        ));
        self.runs.inc(1);
    }

    /// A warning line (shown even when quiet).
    #[allow(clippy::print_stderr)]
    pub fn warn(&mut self, text: &str) {
        if self.quiet {
            eprintln!("{text}");
        } else {
            self.multi.suspend(|| eprintln!("{text}"));
            self.runs.inc(0);
        }
    }

    /// The last run ended.
    pub fn done(&mut self) {
        self.rounds.finish_and_clear();
        self.runs.finish_and_clear();
    }

    #[allow(clippy::print_stdout)]
    fn line(&self, text: &str) {
        if !self.quiet {
            self.multi.suspend(|| println!("{text}"));
        }
    }
}

impl Observer for Progress {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start {
                total_rounds,
                resumed_rounds,
                ..
            } => {
                self.rounds.reset();
                self.rounds.set_length(total_rounds as u64);
                self.rounds.set_position(resumed_rounds as u64);
                if resumed_rounds > 0 {
                    self.rounds
                        .set_message(format!("resumed after round {}", resumed_rounds - 1));
                }
            }
            Event::Stage { round, stage } => match round {
                None => self.rounds.set_message(stage.as_str()),
                Some(round) => self.rounds.set_message(format!("round {round}: {stage}")),
            },
            Event::Progress {
                what, done, total, ..
            } => {
                if done == total || done % 50 == 0 {
                    self.rounds
                        .set_message(format!("training {what}: step {done}/{total}"));
                }
            }
            Event::Round(record) => {
                self.rounds.set_position(record.round as u64 + 1);
                self.rounds.set_message(format!(
                    "round {}: {} labels, accuracy {:.1} %, {} target-class",
                    record.round,
                    record.n_labelled,
                    100.0 * record.accuracy.primary,
                    record.target_acquired
                ));
            }
        }
    }
}
