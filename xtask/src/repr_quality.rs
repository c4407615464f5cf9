//! `cargo xtask repr-quality`: the representation-quality comparison of docs/REPRODUCING.md.
//!
//! An offline evaluation, not an active-learning run: build the messy pool of a profile,
//! draw a fixed set of labelled pool points, and compare what a random forest (250 trees)
//! trained on those points reaches on the test set with each representation:
//!
//! - the US VAE's whole posterior mean z (loaded from the encoder cache when it holds the
//!   VAE of the same pool, configuration and seed, else trained and stored there);
//! - the US VAE's first |z_c| coordinates (the dimensionality the TD-SPLIT head sees);
//! - TD-SPLIT's z_c after one update with the drawn labels, warm-started from that US VAE
//!   (the update the loop makes before round 0, with these labels instead of the initial
//!   six).
//!
//! Because the evaluation is offline it reads every pool label (from a copy of the
//! simulated oracle) to draw a class-balanced labelled set; a uniform draw is reported
//! beside it. Draw rules, stated again in the output:
//! - `balanced`: `n / C` points per label-map class (the first `n mod C` classes, "other"
//!   first, one more), each class's points uniformly without replacement, from the stream
//!   `tdal_loop::seeds::rng(seed, "repr-quality", 0)`; a class with fewer points gives all
//!   it has;
//! - `uniform`: `n` points uniformly without replacement from the whole pool, stream
//!   `(seed, "repr-quality", 1)`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::{Array2, Array4, ArrayView2, Axis, s};
use tdal_heads::{ForestParams, RandomForest};
use tdal_loop::cache::Cache;
use tdal_loop::{
    Accuracies, AcquisitionKind, DeviceChoice, EncoderConfig, Fixed, Initialised, Oracle, Profile,
    Representation, RepresentationKind, RunConfig, SplitVae, Task, seeds,
};

use crate::table1::clock;

/// Trees of every forest (the paper's head for F+MNIST).
const TREES: usize = 250;

/// Options of `cargo xtask repr-quality`.
#[derive(Debug, Args)]
#[command(after_help = "\
Rows: US VAE z (all |z| dims), US VAE z[..|z_c|] (its first |z_c| coordinates) and TD-SPLIT z_c
(one warm-started update with the drawn labels), per labelled draw. The US VAE is loaded from
--cache-dir when it holds the one for this pool, profile and seed (e.g. the cache of a
`tdal run` or `cargo xtask table1` with the same profile and seed), else trained and stored.")]
pub struct ReprQualityArgs {
    /// Experiment size: smoke (a 2,000-image pool, seconds) or quick (the full pool with
    /// the CPU-sized encoder training of `tdal run --profile quick`).
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    profile: Profile,
    /// Seed of the pool, the encoders and the draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Labelled pool points per draw.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    labels: u64,
    /// Which labelled sets to draw (comma-separated or repeated; default both).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 1..)]
    draw: Vec<Draw>,
    /// Folder with mnist/ and fashion-mnist/ (else TDAL_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Encoder cache (default: a folder in the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Also write the markdown report to this file.
    #[arg(long, value_name = "FILE.md")]
    out: Option<PathBuf>,
    /// Fail instead of training when the cache holds no US VAE for this pool, profile and
    /// seed.
    #[arg(long)]
    require_cached: bool,
    /// No progress bar (the table is still printed).
    #[arg(long)]
    quiet: bool,
}

/// How the labelled pool points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Draw {
    /// The same number of points from every label-map class.
    Balanced,
    /// Uniformly from the whole pool.
    Uniform,
}

impl Draw {
    const fn key(self) -> &'static str {
        match self {
            Self::Balanced => "balanced",
            Self::Uniform => "uniform",
        }
    }

    /// The random stream's round number.
    const fn stream(self) -> usize {
        match self {
            Self::Balanced => 0,
            Self::Uniform => 1,
        }
    }
}

/// Sorted pool indices of a draw of `n` points; `labels` are every pool point's labels.
fn draw_indices(draw: Draw, labels: &[u32], num_classes: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = seeds::rng(seed, "repr-quality", draw.stream());
    let mut picked = match draw {
        Draw::Uniform => {
            rand::seq::index::sample(&mut rng, labels.len(), n.min(labels.len())).into_vec()
        }
        Draw::Balanced => {
            let mut picked = Vec::with_capacity(n);
            for class in 0..num_classes {
                let quota = n / num_classes + usize::from(class < n % num_classes);
                let members: Vec<usize> = (0..labels.len())
                    .filter(|&i| labels[i] as usize == class)
                    .collect();
                let take = quota.min(members.len());
                picked.extend(
                    rand::seq::index::sample(&mut rng, members.len(), take)
                        .into_iter()
                        .map(|k| members[k]),
                );
            }
            picked
        }
    };
    picked.sort_unstable();
    picked
}

/// Points per class of a labelled set.
fn class_counts(labels: &[u32], num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0; num_classes];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts
}

/// One line of the table.
#[derive(Debug, Clone)]
struct Row {
    representation: String,
    draw: Draw,
    dims: usize,
    accuracy: Accuracies,
    seconds: f64,
    how: String,
}

/// A random forest of [`TREES`] trees on the labelled embeddings, evaluated on the test set.
fn evaluate(
    labelled: ArrayView2<'_, f32>,
    labels: &[u32],
    test: ArrayView2<'_, f32>,
    task: &Task,
    seed: u64,
) -> Result<Accuracies> {
    let mut forest = RandomForest::new(ForestParams {
        n_trees: TREES,
        n_classes: Some(task.num_classes),
        ..ForestParams::default()
    })?;
    forest.fit_seeded(
        labelled,
        labels,
        seeds::stream_seed(seed, "repr-quality-head", 0),
    )?;
    Ok(tdal_loop::metrics::accuracies(
        forest.predict_mean(test)?.view(),
        &task.test.labels,
    ))
}

/// A bar over training steps (hidden when quiet).
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:<28} {bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(500));
        Self { bar }
    }

    fn stage(&self, message: &str) {
        self.bar.reset();
        self.bar.set_length(0);
        self.bar.set_message(message.to_owned());
    }

    fn step(&self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
}

/// Runs `cargo xtask repr-quality`.
///
/// # Errors
/// Bad arguments, no data directory, data, encoder or head errors, or the report cannot be
/// written.
#[allow(clippy::print_stdout, clippy::print_stderr)] // a binary's report to its user
pub fn main(args: &ReprQualityArgs) -> Result<()> {
    let command = crate::table1::command_line();
    let data_dir = crate::table1::data_dir(args.data_dir.as_deref())?;
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("tdal-repr-quality-cache"));
    let draws: Vec<Draw> = if args.draw.is_empty() {
        vec![Draw::Balanced, Draw::Uniform]
    } else {
        let mut draws = Vec::new();
        for &d in &args.draw {
            if !draws.contains(&d) {
                draws.push(d);
            }
        }
        draws
    };
    let profile = args.profile;
    if profile == Profile::Paper {
        bail!(
            "--profile paper (500 epochs per encoder training) is out of scope here: use smoke or quick"
        );
    }
    let mut cfg = RunConfig::method(profile, RepresentationKind::TdSplit, AcquisitionKind::Epig);
    let EncoderConfig::TdSplit(split_settings) = cfg.encoder.clone() else {
        bail!("the TD-SPLIT preset is not a TD-SPLIT encoder");
    };
    cfg.seed = args.seed;
    cfg.data.dir = Some(data_dir);
    let seed = cfg.seed;

    let bar = Bar::new(args.quiet);
    bar.stage("building the pool");
    let (task, oracle) = tdal_loop::build_task(&cfg)?;
    let n_pool = task.pool.len_of(Axis(0));
    let n = usize::try_from(args.labels).context("--labels is too large")?;
    if n > n_pool {
        bail!("--labels {n} is more than the pool's {n_pool} images");
    }
    // Offline evaluation: every pool label, read from a copy of the simulated oracle.
    let all: Vec<usize> = (0..n_pool).collect();
    let answers = oracle.clone().label(&all)?;
    let pool_labels: Vec<u32> = answers.iter().map(|a| a.label).collect();
    let mut class_names = vec!["other".to_owned(); task.num_classes];
    for (c, name) in class_names.iter_mut().enumerate().skip(1) {
        if let Some(a) = answers.iter().find(|a| a.label as usize == c) {
            *name = format!("{} {}", a.source, a.class);
        }
    }
    let sets: Vec<(Draw, Vec<usize>)> = draws
        .iter()
        .map(|&d| (d, draw_indices(d, &pool_labels, task.num_classes, n, seed)))
        .collect();

    let channels = task.pool.len_of(Axis(1));
    let content_dim = split_settings.content_dim;
    let require_cached = args.require_cached;
    let cache_shown = cache_dir.display().to_string();
    let mut guard = |done: usize, total: usize| {
        if require_cached {
            bar.bar.finish_and_clear();
            eprintln!(
                "error: --require-cached: {cache_shown} holds no US VAE for this pool, profile \
                 and seed (it would be trained now); nothing was written"
            );
            std::process::exit(2);
        }
        bar.step(done, total);
    };

    // US VAE: load (or train) once, embed pool and test (cached embeddings when present).
    bar.stage("US VAE: load or train");
    let mut us = Fixed::new(
        &split_settings.pretrain,
        channels,
        seed,
        Cache::new(&cache_dir),
        DeviceChoice::Cpu,
    );
    let us_init = us.initialise(task.pool.view(), &mut guard)?;
    bar.stage("US VAE: embed");
    let us_pool = us.embed(task.pool.view())?;
    let us_test = us.embed(task.test.images.view())?;
    let latent_dim = us_pool.ncols();
    let us_how = how(&us_init);

    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for (draw, indices) in &sets {
        let labels: Vec<u32> = indices.iter().map(|&i| pool_labels[i]).collect();
        counts.push((*draw, class_counts(&labels, task.num_classes)));
        let z = us_pool.select(Axis(0), indices);
        for (name, dims) in [
            ("US VAE z".to_owned(), latent_dim),
            (format!("US VAE z[..{content_dim}]"), content_dim),
        ] {
            bar.stage(&format!("forest: {name}, {}", draw.key()));
            let accuracy = evaluate(
                z.slice(s![.., ..dims]),
                &labels,
                us_test.slice(s![.., ..dims]),
                &task,
                seed,
            )?;
            rows.push(Row {
                representation: name,
                draw: *draw,
                dims,
                accuracy,
                seconds: us_init.seconds,
                how: us_how.clone(),
            });
        }

        bar.stage(&format!("TD-SPLIT update, {}", draw.key()));
        let start = Instant::now();
        let mut split = SplitVae::new(
            &split_settings,
            channels,
            task.num_classes,
            seed,
            Cache::new(&cache_dir),
            DeviceChoice::Cpu,
        );
        let split_init = split.initialise(task.pool.view(), &mut guard)?;
        let images: Array4<f32> = task.pool.select(Axis(0), indices);
        split.update(
            task.pool.view(),
            images.view(),
            &labels,
            0,
            &mut |done, total| bar.step(done, total),
        )?;
        let seconds = start.elapsed().as_secs_f64();
        bar.stage(&format!("TD-SPLIT embed, {}", draw.key()));
        let z_c: Array2<f32> = split.embed(images.view())?;
        let test_c = split.embed(task.test.images.view())?;
        let accuracy = evaluate(z_c.view(), &labels, test_c.view(), &task, seed)?;
        rows.push(Row {
            representation: "TD-SPLIT z_c".to_owned(),
            draw: *draw,
            dims: z_c.ncols(),
            accuracy,
            seconds,
            how: format!(
                "{} + one update ({} labels)",
                how(&split_init).replace(" US VAE", " US VAE weights"),
                labels.len()
            ),
        });
    }
    bar.bar.finish_and_clear();

    let report = markdown(&Report {
        command: &command,
        profile,
        seed,
        n_pool,
        task: &task,
        cache_dir: &cache_dir,
        class_names: &class_names,
        counts: &counts,
        rows: &rows,
    });
    print!("{report}");
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(out, &report).with_context(|| format!("cannot write {}", out.display()))?;
        if !args.quiet {
            eprintln!("repr-quality: wrote {}", out.display());
        }
    }
    Ok(())
}

/// `cached US VAE` or `trained US VAE`.
fn how(init: &Initialised) -> String {
    if init.cached {
        "cached US VAE".to_owned()
    } else {
        "trained US VAE".to_owned()
    }
}

/// What the report shows.
struct Report<'a> {
    command: &'a str,
    profile: Profile,
    seed: u64,
    n_pool: usize,
    task: &'a Task,
    cache_dir: &'a Path,
    class_names: &'a [String],
    counts: &'a [(Draw, Vec<usize>)],
    rows: &'a [Row],
}

/// The report in markdown: context, draw rules and one table.
fn markdown(r: &Report<'_>) -> String {
    use std::fmt::Write as _;
    let test_targets = r.task.test.labels.iter().filter(|&&l| l >= 1).count();
    let mut md = String::new();
    let _ = writeln!(md, "# Representation quality\n");
    let _ = writeln!(md, "- command: `{}`", r.command);
    let _ = writeln!(md, "- date: {}", clock::now());
    let _ = writeln!(
        md,
        "- profile: `{}`, seed {}; pool of {} images, {} label-map classes (0 = other); test \
         set {} images ({} of target classes)",
        r.profile.as_str(),
        r.seed,
        r.n_pool,
        r.task.num_classes,
        r.task.test.labels.len(),
        test_targets
    );
    let _ = writeln!(md, "- encoder cache: `{}`", r.cache_dir.display());
    let _ = writeln!(
        md,
        "- head: random forest, {TREES} trees, fit on the labelled points' embeddings \
         (seed stream `(seed, \"repr-quality-head\", 0)`); accuracies as in the loop: \
         primary = target-class test images, argmax over all classes; targets-only = argmax \
         over the target classes; balanced = the whole class-balanced test set"
    );
    let _ = writeln!(
        md,
        "- labelled draws (offline: pool labels read directly): `balanced` = n / C per \
         class, the first n mod C classes (other first) one more, uniformly within each \
         class, stream `(seed, \"repr-quality\", 0)`; `uniform` = n uniformly from the \
         pool, stream `(seed, \"repr-quality\", 1)`"
    );
    for (draw, counts) in r.counts {
        let per_class: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(c, k)| {
                let name = r.class_names.get(c).map_or("?", String::as_str);
                format!("{c} = {name}: {k}")
            })
            .collect();
        let _ = writeln!(
            md,
            "- `{}` draw: {} points ({})",
            draw.key(),
            counts.iter().sum::<usize>(),
            per_class.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "- TD-SPLIT: warm-started from the US VAE with a fresh guidance classifier, one \
         update (the profile's `split_epochs` passes over the pool) with the drawn labels; \
         the head sees z_c"
    );
    let _ = writeln!(
        md,
        "\n| representation | draw | dims | primary % | targets-only % | balanced % | encoder s | encoder |"
    );
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for row in r.rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} | {:.2} | {:.1} | {} |",
            row.representation,
            row.draw.key(),
            row.dims,
            100.0 * row.accuracy.primary,
            row.accuracy.targets_only_text(""),
            100.0 * row.accuracy.balanced,
            row.seconds,
            row.how
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_draws_fill_quotas_in_class_order_and_repeat() {
        let labels: Vec<u32> = (0..300)
            .map(|i| match i % 30 {
                0 => 1,
                1 => 2,
                _ => 0,
            })
            .collect();
        let a = draw_indices(Draw::Balanced, &labels, 3, 10, 7);
        assert_eq!(a, draw_indices(Draw::Balanced, &labels, 3, 10, 7));
        assert_ne!(a, draw_indices(Draw::Balanced, &labels, 3, 10, 8));
        let picked: Vec<u32> = a.iter().map(|&i| labels[i]).collect();
        assert_eq!(class_counts(&picked, 3), vec![4, 3, 3]);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        // A class with fewer points than its quota gives all it has.
        let scarce = draw_indices(Draw::Balanced, &labels[..30], 3, 9, 0);
        let picked: Vec<u32> = scarce.iter().map(|&i| labels[i]).collect();
        assert_eq!(class_counts(&picked, 3), vec![3, 1, 1]);
    }

    #[test]
    fn uniform_draws_are_distinct_pool_indices() {
        let labels = vec![0u32; 50];
        let u = draw_indices(Draw::Uniform, &labels, 3, 20, 1);
        assert_eq!(u.len(), 20);
        assert!(u.windows(2).all(|w| w[0] < w[1]) && u.iter().all(|&i| i < 50));
    }
}
