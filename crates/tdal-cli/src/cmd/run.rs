//! `tdal run`: one active-learning experiment (README, "tdal run").
//!
//! The configuration is a profile's preset (`--profile`, default `quick`), then the keys of
//! `--config run.toml`, then the flags given on the command line. The run lives in
//! `--out/<run-id>/` (records, resolved config, checkpoints); encoders and embeddings are
//! cached in `--cache-dir` (default `--out/cache`). Every flag can be given in the TOML
//! file too: the run's settings in their sections (`tdal run --print-config` shows them),
//! and `out`, `cache_dir`, `resume`, `device` and `quiet` as top-level keys, which say
//! where and how the run goes and are not part of its configuration or run id. Progress
//! goes to stderr; the final accuracy and the run folder go to stdout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ndarray::Axis;

use super::pool::PoolFlags;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tdal_encoders::DeviceChoice;
use tdal_loop::{
    AcquisitionKind, EncoderConfig, Event, InitWeights, Observer, Parts, Profile, Representation,
    RepresentationKind, RunConfig, RunOptions, RunSummary, Stage, StrategyKind, SupervisedNet,
};

/// Arguments of `tdal run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    tdal run --profile smoke --data-dir fixtures/fmnist-mini\n  \
    tdal run --dataset fmnist --representation td-split --acquisition epig --data-dir DIR --seed 0\n  \
    tdal run --representation supervised --acquisition galaxy --data-dir DIR\n  \
    tdal run --representation supervised --acquisition galaxy --init-weights resnet18.safetensors --data-dir DIR\n  \
    tdal run --config run.toml --resume")]
pub struct Args {
    /// TOML configuration laid over the profile's preset (flags override it in turn);
    /// `tdal run --print-config` shows every key.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Preset: smoke (tiny pool, seconds), quick (paper protocol, CPU-sized encoder
    /// training), paper (500 epochs per encoder training).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Representation the head sees; `supervised` is the messy-pool baselines' network,
    /// retrained from scratch every round and predicting with its own output layer.
    #[arg(long, value_enum)]
    pub representation: Option<RepresentationKind>,
    /// Acquisition function or batch selector (`similar`, `galaxy`, `cluster-margin`:
    /// the messy-pool baselines; `similar` needs `--representation supervised`).
    #[arg(long, value_enum)]
    pub acquisition: Option<AcquisitionKind>,
    /// Seed of every random choice: 0 to 9223372036854775807 (2^63 − 1, the largest
    /// integer the run's config.toml can hold).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub pool: PoolFlags,
    /// Total labels at the end, initial labels included.
    #[arg(long)]
    pub budget: Option<usize>,
    /// Labels per round.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Batch selection strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyKind>,
    /// β of the stochastic strategies (power: ∝ score^β).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Parent folder of run folders [default: runs; TOML: out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Encoder/embedding cache [default: OUT/cache; TOML: cache_dir].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Continue the run folder of this configuration from its last completed round
    /// (a finished run just prints its result) [TOML: resume = true].
    #[arg(long)]
    pub resume: bool,
    /// No progress bars (for scripts and logs) [TOML: quiet = true].
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Device for the encoders: cpu or cuda:N (needs a build with `--features cuda`)
    /// [default: cpu; TOML: device].
    #[arg(long, value_parser = parse_device)]
    pub device: Option<DeviceChoice>,
    /// Safetensors file every round's network starts its backbone from, instead of its
    /// seeded initialisation (the paper starts GALAXY from ImageNet weights); only for
    /// `--representation supervised` (SIMILAR, GALAXY, Cluster-Margin). Names: tdal's own
    /// (a tdal model's `model.safetensors`) or torchvision's ResNet state dict
    /// (`resnet18().state_dict()` saved with `safetensors.torch.save_file`; `fc.*`
    /// ignored, an ImageNet 7×7 stem keeps its seeded 3×3 one and its normalisation, a 3×3
    /// RGB stem is summed for grey images; backbone tensors this network does not have,
    /// e.g. a ResNet-34's extra blocks, are an error). The file's blake3 is part of the run id: a changed file is
    /// another run, and resuming from a run's `config.toml` refuses it. What was loaded
    /// is printed on stderr.
    #[arg(long, value_name = "FILE")]
    pub init_weights: Option<PathBuf>,
}

pub(crate) fn parse_device(text: &str) -> Result<DeviceChoice, String> {
    text.parse()
        .map_err(|e: tdal_encoders::Error| e.to_string())
}

/// The top-level keys of a `tdal run` TOML file that are not the run's configuration but
/// say where and how it runs (the flags of the same names override them).
const RUN_KEYS: [&str; 5] = ["out", "cache_dir", "resume", "device", "quiet"];

/// What a TOML file's [`RUN_KEYS`] set.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRunOptions {
    out: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    resume: Option<bool>,
    device: Option<String>,
    quiet: Option<bool>,
    /// `device`, parsed (and so checked) by [`split_run_options`].
    #[serde(skip)]
    device_choice: Option<DeviceChoice>,
}

impl FileRunOptions {
    /// Whether the file set any of them.
    pub(crate) fn any(&self) -> bool {
        self.out.is_some()
            || self.cache_dir.is_some()
            || self.resume.is_some()
            || self.device.is_some()
            || self.quiet.is_some()
    }
}

/// Takes the [`RUN_KEYS`] out of a TOML file's text: returns the rest (the run's
/// configuration) and what they set. Text that is not valid TOML is returned as it is, for
/// [`RunConfig::from_toml`] to report with its position.
///
/// # Errors
/// A run key of the wrong type (e.g. `resume = "yes"`), or a device that is not `cpu` or
/// `cuda:N`.
fn split_run_options(text: &str, path: &std::path::Path) -> Result<(String, FileRunOptions)> {
    let Ok(mut table) = toml::from_str::<toml::Table>(text) else {
        return Ok((text.to_owned(), FileRunOptions::default()));
    };
    let mut run = toml::Table::new();
    for key in RUN_KEYS {
        if let Some(value) = table.remove(key) {
            run.insert(key.to_owned(), value);
        }
    }
    if run.is_empty() {
        return Ok((text.to_owned(), FileRunOptions::default()));
    }
    let mut options: FileRunOptions = toml::Value::Table(run)
        .try_into()
        .with_context(|| format!("in the configuration {}", path.display()))?;
    if let Some(device) = &options.device {
        options.device_choice = Some(parse_device(device).map_err(|e| {
            anyhow::anyhow!(
                "in the configuration {}: device = {device:?}: {e}",
                path.display()
            )
        })?);
    }
    let rest = toml::to_string(&table)
        .with_context(|| format!("cannot re-read the configuration {}", path.display()))?;
    Ok((rest, options))
}

impl Args {
    /// The resolved configuration: preset, then the TOML file, then the flags; and the
    /// file's run keys.
    fn config(&self) -> Result<(RunConfig, FileRunOptions)> {
        let (mut cfg, file) = method_config(
            self.config.as_deref(),
            self.profile,
            self.representation,
            self.acquisition,
        )?;
        // Another dataset brings its own β, trees and paper backbones (the flags below,
        // e.g. --beta, still win).
        if let Some(dataset) = self.pool.dataset
            && dataset != cfg.data.dataset
        {
            cfg = cfg.with_dataset(dataset);
        }
        if self.strategy.is_some() || self.beta.is_some() {
            cfg.acquisition.try_set_sampling(self.strategy, self.beta)?;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        self.pool.apply(&mut cfg.data);
        if let Some(v) = self.budget {
            cfg.active.budget = v;
        }
        if let Some(v) = self.batch_size {
            cfg.active.batch_size = v;
        }
        if let Some(file) = &self.init_weights {
            let EncoderConfig::Supervised(net) = &mut cfg.encoder else {
                bail!(
                    "--init-weights starts the baselines' supervised network from a file: it \
                     needs --representation supervised (with --acquisition similar, galaxy or \
                     cluster-margin), and this run's representation is {}",
                    cfg.representation().as_str()
                );
            };
            net.init_weights = Some(InitWeights {
                file: file.clone(),
                blake3: String::new(),
            });
        }
        // Records the file's hash (a --config file's too), or checks a recorded one.
        cfg.pin_init_weights()?;
        cfg.check()?;
        Ok((cfg, file))
    }

    /// Where and how the run goes: the flags, then the TOML file's run keys, then the
    /// defaults (`runs`, `OUT/cache`, cpu).
    fn options(&self, file: FileRunOptions) -> RunOptions {
        let out = self
            .out
            .clone()
            .or(file.out)
            .unwrap_or_else(|| PathBuf::from("runs"));
        let device = self
            .device
            .or(file.device_choice)
            .unwrap_or(DeviceChoice::Cpu);
        RunOptions {
            cache_dir: self
                .cache_dir
                .clone()
                .or(file.cache_dir)
                .unwrap_or_else(|| out.join("cache")),
            out,
            resume: self.resume || file.resume.unwrap_or(false),
            device,
        }
    }
}

/// A profile's preset (default `quick`), then the keys of a TOML file, then the method
/// flags (with the settings that go with the method, [`RunConfig::with_method`]); and
/// the file's top-level run keys ([`RUN_KEYS`]). The hash of initial weights the file
/// names is not checked here: the caller applies its own flags first, then calls
/// [`RunConfig::pin_init_weights`] (a flag may name the same file elsewhere).
///
/// # Errors
/// An unreadable or invalid TOML file.
pub(crate) fn method_config(
    file: Option<&std::path::Path>,
    profile: Option<Profile>,
    representation: Option<RepresentationKind>,
    acquisition: Option<AcquisitionKind>,
) -> Result<(RunConfig, FileRunOptions)> {
    let (mut cfg, options) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the configuration {}", path.display()))?;
            let (text, options) = split_run_options(&text, path)?;
            (RunConfig::from_toml(&text, path, profile)?, options)
        }
        None => (
            RunConfig::preset(profile.unwrap_or(Profile::Quick)),
            FileRunOptions::default(),
        ),
    };
    if representation.is_some() || acquisition.is_some() {
        cfg = cfg.with_method(representation, acquisition);
    }
    Ok((cfg, options))
}

/// Runs `tdal run`.
///
/// # Errors
/// Bad flags or configuration, missing data, an existing run folder without `--resume`,
/// and every error of the loop.
pub fn run(args: &Args) -> Result<()> {
    let (cfg, file) = args.config()?;
    if args.print_config {
        #[allow(clippy::print_stdout)]
        {
            print!("{}", cfg.to_toml()?);
        }
        return Ok(());
    }
    let quiet = args.quiet || file.quiet.unwrap_or(false);
    let opts = args.options(file);
    let mut progress = Progress::new(quiet);
    let summary = run_reporting_init(&cfg, &opts, &mut progress)
        .with_context(|| format!("run {} failed", cfg.run_id()))?;
    progress.finish();
    let targets_only = summary.final_accuracy.targets_only_text(" %");
    #[allow(clippy::print_stdout)]
    {
        println!(
            "final test accuracy {:.2} % ({} labels, {} target-class acquisitions; targets-only \
             argmax {targets_only}, balanced test set {:.2} %)",
            100.0 * summary.final_accuracy.primary,
            summary.n_labelled,
            summary.target_acquired,
            100.0 * summary.final_accuracy.balanced,
        );
        println!("run folder {}", opts.out.join(&summary.run_id).display());
    }
    Ok(())
}

/// [`tdal_loop::run`], first saying on stderr what the initial weights (if any) load
/// into the backbone: copied, adapted and kept tensors (each at `TDAL_LOG=debug`).
fn run_reporting_init(
    cfg: &RunConfig,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    cfg.check()?;
    opts.device.open()?;
    let (task, mut oracle) = tdal_loop::build_task(cfg)?;
    if let EncoderConfig::Supervised(net) = &cfg.encoder
        && net.init_weights.is_some()
    {
        let channels = task.pool.len_of(Axis(1));
        let mut probe = SupervisedNet::new(net, channels, task.num_classes, cfg.seed, opts.device);
        probe.initialise(task.pool.view(), &mut |_, _| {})?;
        if let Some(report) = probe.init_report() {
            for c in &report.copied {
                tracing::debug!(variable = %c.variable, tensor = %c.tensor, "initial weight copied");
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("initial weights {report}");
            }
        }
    }
    let parts = Parts::from_config(cfg, &task, opts)?;
    Ok(tdal_loop::run_task(
        cfg,
        opts,
        &task,
        parts,
        &mut oracle,
        observer,
    )?)
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Progress bars: one over rounds (with ETA), one spinner for the current stage.
pub(crate) struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            return Self { bars: None };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let rounds = multi.add(ProgressBar::new(0));
        rounds.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] round {pos}/{len} {msg} (ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let stage = multi.add(ProgressBar::new_spinner());
        stage.set_style(spinner_style());
        stage.enable_steady_tick(Duration::from_millis(200));
        Self {
            bars: Some((multi, rounds, stage)),
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some((_, rounds, stage)) = self.bars.take() {
            stage.finish_and_clear();
            rounds.finish();
        }
    }
}

impl Observer for Progress {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start {
                run_id,
                total_rounds,
                resumed_rounds,
            } => {
                tracing::info!(run_id, total_rounds, resumed_rounds, "run starts");
                if let Some((_, rounds, _)) = &self.bars {
                    rounds.set_prefix(run_id.to_owned());
                    rounds.set_length(total_rounds as u64);
                    rounds.set_position(resumed_rounds as u64);
                    rounds.reset_eta();
                }
            }
            Event::Stage { round, stage } => {
                tracing::debug!(round, stage = stage.as_str(), "stage");
                if let Some((_, _, bar)) = &self.bars {
                    bar.set_style(spinner_style());
                    bar.unset_length();
                    let what = match (round, stage) {
                        (None, _) => {
                            "obtaining the representation (training, or loading it from the cache)"
                                .to_owned()
                        }
                        (Some(round), Stage::Retrain) => {
                            format!("round {round}: updating the representation")
                        }
                        (Some(round), other) => format!("round {round}: {other}"),
                    };
                    bar.set_message(what);
                    bar.reset_elapsed();
                }
            }
            Event::Progress {
                what, done, total, ..
            } => {
                if let Some((_, _, bar)) = &self.bars {
                    if bar.length() != Some(total as u64) {
                        bar.set_length(total as u64);
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  training {prefix} [{bar:30}] step {pos}/{len} (ETA {eta})",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        bar.set_prefix(what.to_owned());
                        bar.reset_eta();
                    }
                    bar.set_position(done as u64);
                }
            }
            Event::Round(record) => {
                tracing::info!(
                    round = record.round,
                    n_labelled = record.n_labelled,
                    accuracy = record.accuracy.primary,
                    target_acquired = record.target_acquired,
                    seconds = record.seconds.total,
                    "round done"
                );
                if let Some((_, rounds, _)) = &self.bars {
                    rounds.set_message(format!(
                        "{} labels, acc {:.1} %, {} targets",
                        record.n_labelled,
                        100.0 * record.accuracy.primary,
                        record.target_acquired
                    ));
                    rounds.inc(1);
                }
            }
        }
    }
}
