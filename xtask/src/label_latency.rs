//! `cargo xtask label-latency`: how long a person waits between "submit batch" and the
//! next batch in a labelling project (README, "Label your own pool"; docs/PERFORMANCE.md).
//!
//! Writes the F+MNIST messy pool of a seed (60,000-odd images) as PNG files into
//! `OUT/images/`, makes a labelling project of it for each representation asked for,
//! and labels batch after batch with the pool's hidden labels as the "person", timing
//! [`Project::submit`] plus the next [`Project::proposal`] (what the page waits for). Each
//! row says whether the representation was retrained that round, and the loop's own stage
//! split of the round.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use tdal_data::{Dataset, PoolOptions};
use tdal_label::{InitOptions, Project};
use tdal_loop::{DeviceChoice, Profile, RepresentationKind, RunConfig, Silent, Stage};

/// Options of `cargo xtask label-latency`.
#[derive(Debug, Args)]
pub struct LabelLatencyArgs {
    /// Data directory (MNIST and Fashion-MNIST); else `TDAL_DATA_DIR`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Representations to measure, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "us-vae,td-split"
    )]
    representations: Vec<RepresentationKind>,
    /// Profile of the loop.
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    profile: Profile,
    /// Batches to label after the first (random) one.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Cap on the pool (default: the whole F+MNIST pool).
    #[arg(long)]
    max_pool: Option<usize>,
    /// Seed of the pool and the loop.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Working folder (images, projects) and where `label-latency.md` is written.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Encoder cache shared by the projects (each project's `cache/` links to it), e.g.
    /// the cache of a `cargo xtask table1` run of the same profile and seed, whose
    /// encoders were trained on the same pool [default: OUT/cache].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs the measurement and writes `OUT/label-latency.md`.
///
/// # Errors
/// Data, project and loop errors; I/O errors.
#[allow(clippy::print_stdout)]
pub fn main(args: &LabelLatencyArgs) -> Result<()> {
    let data_dir = tdal_data::datadir::resolve(args.data_dir.as_deref())?;
    let options = PoolOptions {
        max_pool: args.max_pool,
        seed: args.seed,
        ..PoolOptions::default()
    };
    let messy = tdal_data::build_named(Dataset::Fmnist, &data_dir, &options)?;
    let names = ["other", "five", "six"];
    let images_dir = args.out.join("images");
    let n = messy.pool.len();
    // Names sort in pool order, so manifest index = pool index.
    let name = |i: usize| format!("img-{i:06}.png");
    if !images_dir.join(name(n - 1)).exists() {
        std::fs::create_dir_all(&images_dir)?;
        println!("writing {n} PNG files to {}", images_dir.display());
        for i in 0..n {
            let view = messy.pool.images.index_axis(ndarray::Axis(0), i);
            let (h, w) = (view.shape()[1], view.shape()[2]);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bytes: Vec<u8> = view.iter().map(|&v| (v * 255.0).round() as u8).collect();
            #[allow(clippy::cast_possible_truncation)]
            let img = image::GrayImage::from_raw(w as u32, h as u32, bytes)
                .context("an image of the wrong size")?;
            img.save(images_dir.join(name(i)))?;
        }
    }
    let cache = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => args.out.join("cache"),
    };
    std::fs::create_dir_all(&cache)?;
    let cache = cache.canonicalize()?;
    let truth: Vec<&str> = messy
        .pool
        .labels
        .iter()
        .map(|&l| names[l as usize])
        .collect();
    let mut report = String::from(
        "| representation | batch | retrained | submit + next proposal (s) | the loop's stages (s) |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for &kind in &args.representations {
        let dir = args.out.join(format!("project-{}", kind.as_str()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let mut config = RunConfig::preset(args.profile).with_method(Some(kind), None);
        config.seed = args.seed;
        let opts = InitOptions {
            images: images_dir.clone(),
            classes: vec!["five".into(), "six".into()],
            other_name: "other".into(),
            examples: None,
            heldout: None,
            side: 28,
            channels: 1,
            seed: args.seed,
            initial: 20,
            config,
        };
        let started = Instant::now();
        Project::init(&dir, &opts, &mut |_, _, _| {})?;
        println!(
            "{}: init {:.1} s",
            kind.as_str(),
            started.elapsed().as_secs_f64()
        );
        link_cache(&dir, &cache)?;
        let mut project = Project::open(&dir, DeviceChoice::Cpu)?;
        let started = Instant::now();
        let mut proposal = project.proposal(&mut Silent)?;
        println!(
            "{}: first proposal {:.1} s",
            kind.as_str(),
            started.elapsed().as_secs_f64()
        );
        for _ in 0..=args.rounds {
            let Some(p) = proposal else { break };
            let labels: Vec<(usize, String)> = p
                .items
                .iter()
                .map(|item| (item.index, truth[item.index].to_owned()))
                .collect();
            let started = Instant::now();
            project.submit(p.batch, &labels)?;
            proposal = project.proposal(&mut Silent)?;
            let seconds = started.elapsed().as_secs_f64();
            let rounds = tdal_loop::record::read_rounds(&dir.join("session"))?;
            // The round that proposed the new batch is the one after the last recorded.
            let pending: Option<tdal_loop::session::Pending> =
                tdal_loop::record::read_json(&dir.join("session").join("pending.json"))?;
            let (retrained, stages) = pending.map_or((false, String::new()), |p| {
                let s = &p.record.seconds;
                let stages = [
                    Stage::Retrain,
                    Stage::Embed,
                    Stage::Fit,
                    Stage::Predict,
                    Stage::Score,
                    Stage::Select,
                ];
                let split: Vec<String> = stages
                    .iter()
                    .map(|&stage| format!("{} {:.1}", stage.as_str(), s.get(stage)))
                    .collect();
                (p.record.retrained, split.join(", "))
            });
            let line = format!(
                "| {} | {} | {} | {seconds:.1} | {stages} |\n",
                kind.as_str(),
                rounds.len(),
                if retrained { "yes" } else { "no" },
            );
            print!("{line}");
            report.push_str(&line);
        }
    }
    let path = args.out.join("label-latency.md");
    std::fs::write(&path, &report)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Points the project's encoder cache at the shared one.
fn link_cache(project: &std::path::Path, cache: &std::path::Path) -> Result<()> {
    let link = project.join("cache");
    #[cfg(unix)]
    std::os::unix::fs::symlink(cache, &link)
        .with_context(|| format!("cannot link {} to {}", link.display(), cache.display()))?;
    #[cfg(not(unix))]
    let _ = (link, cache);
    Ok(())
}
