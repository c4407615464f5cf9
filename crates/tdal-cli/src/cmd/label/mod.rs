//! `tdal label`: a labelling project with a person as the oracle (README, "Label your own
//! pool").
//!
//! `init` makes the project folder from a folder of images; `next` writes the proposed
//! batch as a CSV and a contact sheet; `import` takes a filled-in CSV; `status` shows
//! counts, yields and the held-out learning curve; `export` writes the labelled set and
//! the trained encoder; `serve` does all of it in the browser.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use tdal_encoders::DeviceChoice;
use tdal_label::{InitOptions, Project, Proposal, Status};
use tdal_loop::{AcquisitionKind, Profile, RepresentationKind};

use super::run::{Progress, method_config, parse_device};

pub mod serve;

/// Arguments of `tdal label`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a project from a folder of images (read recursively; unreadable files are
    /// listed and skipped).
    Init(InitArgs),
    /// Compute (or show again) the batch to label: a CSV to fill in and a contact sheet.
    Next(NextArgs),
    /// Import labels from a CSV (columns path,label): every row is checked, all or nothing.
    /// Labels of images outside the proposed batch are kept and used when the loop
    /// proposes those images.
    Import(ImportArgs),
    /// Counts per class, target-class yield per batch, the held-out learning curve.
    Status(StatusArgs),
    /// Write the labelled set (CSV, .npy) and the trained model (encoder as safetensors,
    /// the forest head), fitted on every imported label. The folder must be new, empty or
    /// an earlier export of the project.
    Export(ExportArgs),
    /// Label in the browser: a local page with the proposed batch, one key per class.
    Serve(serve::Args),
}

/// Colour handling of the pool's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    /// One grey channel.
    Gray,
    /// Three RGB channels.
    Rgb,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    tdal label init --images fixtures/label-mini/images --classes five,six --color gray \\\n    \
    --examples fixtures/label-mini/examples --budget 100 --project my-project\n  \
    tdal label init --images photos/ --classes \"cat,dog\" --project pets")]
struct InitArgs {
    /// The folder of unlabelled images (png, jpeg, gif, webp, bmp, tiff; read recursively).
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// The classes you care about, comma-separated (at most 9: on the page keys 1-9 and 0
    /// label the other class and yours, one key each).
    #[arg(long, value_delimiter = ',', required = true)]
    classes: Vec<String>,
    /// Name of everything else in the pool.
    #[arg(long, default_value = "other")]
    other_name: String,
    /// Example images of your classes (EPIG's targets); without them, the labelled images
    /// of your classes are the targets once there are some.
    #[arg(long, value_name = "DIR")]
    examples: Option<PathBuf>,
    /// Held-out images, a folder apart from --images (neither inside the other): label
    /// them with `import --heldout` and `status` shows the learning curve on them (they
    /// are never proposed).
    #[arg(long, value_name = "DIR")]
    heldout: Option<PathBuf>,
    /// The project folder to make (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// Side of the square images the encoders see, 8 to 32 (each image is centre-cropped
    /// and resized to it).
    #[arg(long, default_value_t = 32)]
    side: u32,
    /// Grey or colour images.
    #[arg(long, value_enum, default_value = "rgb")]
    color: Color,
    /// Images of the first batch, drawn at random (there is no model yet).
    #[arg(long, default_value_t = 20)]
    first_batch: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// TOML configuration of the loop laid over the profile's preset (see `tdal run
    /// --print-config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Preset: smoke (seconds), quick (CPU-sized training, default), paper.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Representation (default td-split: retrained with your labels every few batches).
    #[arg(long, value_enum)]
    representation: Option<RepresentationKind>,
    /// Acquisition (default epig; galaxy is not available: it asks one label at a time).
    #[arg(long, value_enum)]
    acquisition: Option<AcquisitionKind>,
    /// Images per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Labels in all (the first batch included).
    #[arg(long)]
    budget: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct NextArgs {
    /// The project folder.
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// Where to write the batch as CSV (path,score,suggestion,label) [default:
    /// PROJECT/next.csv]; refused while that file holds labels not imported yet.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Where to write the contact sheet [default: PROJECT/next.png].
    #[arg(long, value_name = "FILE")]
    sheet: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Device for the encoders: cpu or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The project folder.
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// The CSV file: a header row with `path` and `label` (or `class`); other columns are
    /// ignored and rows with an empty label are skipped. A path is matched as written,
    /// else trimmed, else with / for \ and no leading ./, else relative to the images
    /// folder when absolute; one that matches no image, or several, is refused with its
    /// row.
    file: PathBuf,
    /// The rows label held-out images (`init --heldout`).
    #[arg(long)]
    heldout: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The project folder.
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The project folder.
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// The folder to write into: new, empty, or an earlier export of this project (its
    /// files are replaced); a folder of other files is refused.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Device for the encoders: cpu or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
}

/// Runs the sub-command.
///
/// # Errors
/// The sub-command's errors.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Command::Init(a) => init(a),
        Command::Next(a) => next(a),
        Command::Import(a) => import(a),
        Command::Status(a) => status(a),
        Command::Export(a) => export(a),
        Command::Serve(a) => serve::run(a),
    }
}

fn init(args: &InitArgs) -> Result<()> {
    let (mut config, run_keys) = method_config(
        args.config.as_deref(),
        args.profile,
        args.representation,
        args.acquisition,
    )?;
    if run_keys.any() {
        tracing::warn!(
            "the configuration's out, cache_dir, resume, device and quiet keys are for `tdal \
             run`; a labelling project keeps its run in its own folder and ignores them"
        );
    }
    config.pin_init_weights()?;
    config.seed = args.seed;
    if let Some(v) = args.batch_size {
        config.active.batch_size = v;
    }
    if let Some(v) = args.budget {
        config.active.budget = v;
    }
    let opts = InitOptions {
        images: args.images.clone(),
        classes: args.classes.clone(),
        other_name: args.other_name.clone(),
        examples: args.examples.clone(),
        heldout: args.heldout.clone(),
        side: args.side,
        channels: match args.color {
            Color::Gray => 1,
            Color::Rgb => 3,
        },
        seed: args.seed,
        initial: args.first_batch,
        config,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "  reading {prefix} [{bar:30}] {pos}/{len} (ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let report = Project::init(&args.project, &opts, &mut |what, done, total| {
        bar.set_prefix(what.to_owned());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .with_context(|| format!("cannot make the project {}", args.project.display()))?;
    bar.finish_and_clear();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "project {}: {} images, {} example images",
            args.project.display(),
            report.images,
            report.examples
        );
        if !report.skipped.is_empty() {
            println!(
                "skipped {} files that are not readable images:",
                report.skipped.len()
            );
            for (path, reason) in report.skipped.iter().take(10) {
                println!("  {path}: {reason}");
            }
            if report.skipped.len() > 10 {
                println!(
                    "  ... (all are listed in {}/project.json)",
                    args.project.display()
                );
            }
        }
        println!(
            "next: tdal label serve --project {0}   (or tdal label next --project {0})",
            args.project.display()
        );
    }
    Ok(())
}

fn next(args: &NextArgs) -> Result<()> {
    let mut project = open(&args.project, args.device)?;
    let csv_path = args
        .csv
        .clone()
        .unwrap_or_else(|| args.project.join("next.csv"));
    refuse_unimported(&project, &csv_path, &args.project)?;
    let mut progress = Progress::new(args.quiet);
    let proposal = project.proposal(&mut progress);
    progress.finish();
    let Some(proposal) = proposal.context("cannot compute the next batch")? else {
        let status = project.status()?;
        #[allow(clippy::print_stdout)]
        {
            println!(
                "the budget is spent: {} images labelled; write them out with `tdal label \
                 export --project {} --out DIR`",
                status.labelled,
                args.project.display()
            );
        }
        return Ok(());
    };
    let sheet_path = args
        .sheet
        .clone()
        .unwrap_or_else(|| args.project.join("next.png"));
    write_batch_csv(&proposal, &csv_path)?;
    write_sheet(&project, &proposal, &sheet_path)?;
    let unlabelled = proposal.items.iter().filter(|i| i.label.is_none()).count();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "batch {}: {} images to label ({} still without a label)",
            proposal.batch,
            proposal.items.len(),
            unlabelled
        );
        println!("  {}  (fill in the label column)", csv_path.display());
        println!(
            "  {}  (the images, in the same order)",
            sheet_path.display()
        );
        println!(
            "then: tdal label import --project {} {}",
            args.project.display(),
            csv_path.display()
        );
    }
    Ok(())
}

/// `next` rewrites its CSV with the labels of the log only: it refuses while the file
/// holds labels `import` has not saved (a half-filled batch), which would be lost.
fn refuse_unimported(project: &Project, csv: &Path, dir: &Path) -> Result<()> {
    if !csv.exists() {
        return Ok(());
    }
    let first = format!(
        "run `tdal label import --project {} {}` first, or pass --csv elsewhere",
        dir.display(),
        csv.display()
    );
    match project.unimported(csv) {
        Ok(0) => Ok(()),
        Ok(n) => anyhow::bail!("{} has {n} labels not imported yet: {first}", csv.display()),
        Err(tdal_label::Error::BadRows { rows, .. }) => anyhow::bail!(
            "{} has rows not imported yet that `tdal label import` refuses ({}): fix them and \
             {first}",
            csv.display(),
            rows.join("; ")
        ),
        // Not a labels file (no path/label header, unreadable): nothing of ours to keep.
        Err(_) => Ok(()),
    }
}

fn import(args: &ImportArgs) -> Result<()> {
    let mut project = open(&args.project, DeviceChoice::Cpu)?;
    let report = project.import(&args.file, args.heldout)?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "imported {} new labels ({} were already there, {} rows without a label skipped)",
            report.added, report.already, report.blank
        );
    }
    Ok(())
}

fn status(args: &StatusArgs) -> Result<()> {
    let status = Project::status_unlocked(&args.project)?;
    #[allow(clippy::print_stdout)]
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status_table(&status));
    }
    Ok(())
}

fn export(args: &ExportArgs) -> Result<()> {
    let mut project = open(&args.project, args.device)?;
    let mut progress = Progress::new(args.quiet);
    let report = project.export(&args.out, &mut progress);
    progress.finish();
    let report = report.with_context(|| format!("cannot export to {}", args.out.display()))?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "wrote {} labelled images to {}",
            report.labelled,
            args.out.display()
        );
        if report.heldout > 0 {
            println!(
                "wrote {} labelled held-out images as heldout-labels.csv, heldout-images.npy \
                 and heldout-labels.npy (not used to fit the model)",
                report.heldout
            );
        }
        match report.model_labels {
            Some(n) if report.head => {
                println!("the model (encoder/, head.bin) is fitted on {n} labels");
            }
            Some(n) => {
                println!(
                    "the encoder (encoder/) goes with {n} labels; this head has no file \
                     format, so there is no head.bin{}",
                    if report.removed_stale_head {
                        " (the head.bin of an earlier export was removed: it did not go with \
                         this encoder)"
                    } else {
                        ""
                    }
                );
            }
            None => println!("no model yet: label the first batch (`tdal label next`)"),
        }
    }
    Ok(())
}

fn open(dir: &Path, device: DeviceChoice) -> Result<Project> {
    Project::open(dir, device).with_context(|| format!("cannot open the project {}", dir.display()))
}

/// The status as a few lines of text.
fn status_table(status: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} of {} labels ({} images in the pool, {} files skipped){}",
        status.labelled,
        status.budget,
        status.pool,
        status.skipped,
        if status.finished { "; finished" } else { "" }
    );
    let _ = writeln!(out, "labels per class:");
    for c in &status.counts {
        let _ = writeln!(out, "  {:<20} {:>6}", c.class, c.count);
    }
    if !status.batches.is_empty() {
        let _ = writeln!(out, "target-class images per batch:");
        for b in &status.batches {
            let _ = writeln!(
                out,
                "  batch {:>3}: {:>4} of {:>4}",
                b.batch, b.targets, b.labelled
            );
        }
    }
    if !status.curve.is_empty() {
        let _ = writeln!(out, "held-out accuracy on your classes:");
        for (n, acc) in &status.curve {
            let _ = writeln!(out, "  {n:>6} labels: {:6.2} %", 100.0 * acc);
        }
    }
    out
}

/// The batch as CSV: path, score, suggestion, label (empty where not labelled yet).
fn write_batch_csv(proposal: &Proposal, path: &Path) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["path", "score", "suggestion", "label"])?;
    for item in &proposal.items {
        writer.write_record([
            item.path.as_str(),
            &item.score.map(|s| format!("{s:.6}")).unwrap_or_default(),
            item.suggestion.as_deref().unwrap_or(""),
            item.label.as_deref().unwrap_or(""),
        ])?;
    }
    let bytes = writer.into_inner().context("cannot write the CSV")?;
    tdal_loop::record::write_atomic(path, &bytes)?;
    Ok(())
}

/// The batch's images in a grid, captioned with their row number and the suggestion.
fn write_sheet(project: &Project, proposal: &Proposal, path: &Path) -> Result<()> {
    let indices: Vec<usize> = proposal.items.iter().map(|i| i.index).collect();
    let images = project.pool_images()?.select(ndarray::Axis(0), &indices);
    let images = tdal_label::manifest::to_f32(images.view());
    let captions: Vec<String> = proposal
        .items
        .iter()
        .enumerate()
        .map(|(k, item)| match &item.suggestion {
            Some(s) => format!("{} {s}", k + 1),
            None => format!("{}", k + 1),
        })
        .collect();
    let side = images.len_of(ndarray::Axis(2)).max(1);
    let scale = u32::try_from((96 / side).max(1)).unwrap_or(1);
    let sheet = tdal_data::preview::render_sheet(images.view(), &captions, 10, scale)?;
    tdal_data::preview::save_png(&sheet, path)?;
    Ok(())
}
