//! `cargo xtask migrate-runs DIR…`: brings run folders written before the configuration's
//! `[encoder]`, `[head]` and `[acquisition]` sections were tagged by `kind` up to date.
//!
//! A run's records (`rounds.jsonl`, `summary.json`) keep their format; only `config.toml`
//! changed shape, and with it the run id (a hash of the configuration). For every
//! `DIR/runs/<id>/` whose `config.toml` has the old top-level `representation` key, this
//! rewrites `config.toml` in the new shape, moves a checkpoint `state/round-NNNN/` into
//! `state/round-NNNN/representation/`, and renames the folder to the new run id, so
//! `cargo xtask table1 --report-only` and `--resume` find it again. The conversion is
//! exact: every old key has one new place, and the new configuration is read back and
//! validated before anything is renamed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tdal_loop::RunConfig;
use tdal_loop::record::files;

/// What happened to one run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Renamed from the old id to the new one.
    Migrated {
        /// The old folder name.
        from: String,
        /// The new folder name.
        to: String,
    },
    /// Already in the new shape.
    Current(String),
}

/// Migrates every run folder under each `dir/runs/`.
///
/// # Errors
/// A `config.toml` that is neither shape, a converted configuration that does not
/// validate, or a target folder that already exists with other content.
pub fn migrate(dirs: &[PathBuf]) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for dir in dirs {
        let runs = dir.join("runs");
        let entries =
            std::fs::read_dir(&runs).with_context(|| format!("cannot read {}", runs.display()))?;
        let mut folders: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(files::CONFIG).is_file())
            .collect();
        folders.sort();
        for folder in folders {
            out.push(migrate_run(&folder)?);
        }
    }
    Ok(out)
}

fn migrate_run(folder: &Path) -> Result<Outcome> {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = folder.join(files::CONFIG);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Some(converted) = convert(&text).with_context(|| format!("in {}", path.display()))? else {
        return Ok(Outcome::Current(name));
    };
    let cfg = RunConfig::from_toml(&converted, &path, None)
        .with_context(|| format!("the converted {} does not validate", path.display()))?;
    let state = folder.join(files::STATE);
    if state.is_dir() {
        for entry in std::fs::read_dir(&state)?.filter_map(Result::ok) {
            let round = entry.path();
            let inner = round.join("representation");
            if round.is_dir() && !inner.exists() {
                let moved = round.with_extension("moving");
                std::fs::rename(&round, &moved)?;
                std::fs::create_dir_all(&round)?;
                std::fs::rename(&moved, &inner)?;
            }
        }
    }
    std::fs::write(&path, cfg.to_toml()?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let id = cfg.run_id();
    let target = folder.with_file_name(&id);
    if target != folder {
        if target.exists() {
            bail!(
                "cannot rename {} to {}: the folder exists",
                folder.display(),
                target.display()
            );
        }
        std::fs::rename(folder, &target)?;
    }
    Ok(Outcome::Migrated { from: name, to: id })
}

/// The new shape of an old `config.toml` (`None` when it is already new).
///
/// # Errors
/// A key missing from the old shape.
pub fn convert(text: &str) -> Result<Option<String>> {
    let old: toml::Table = toml::from_str(text)?;
    let Some(representation) = old.get("representation").and_then(toml::Value::as_str) else {
        return Ok(None);
    };
    let table = |key: &str| -> Result<toml::Table> {
        old.get(key)
            .and_then(toml::Value::as_table)
            .cloned()
            .with_context(|| format!("no [{key}] table"))
    };
    let (lp, head, enc) = (table("loop")?, table("head")?, table("encoder")?);
    let get = |t: &toml::Table, key: &str| -> Result<toml::Value> {
        t.get(key).cloned().with_context(|| format!("no key {key}"))
    };
    let mut new = toml::Table::new();
    for key in ["profile", "seed"] {
        new.insert(key.into(), get(&old, key)?);
    }
    new.insert("data".into(), toml::Value::Table(table("data")?));
    let mut new_loop = toml::Table::new();
    for key in ["budget", "batch_size", "retrain_every"] {
        new_loop.insert(key.into(), get(&lp, key)?);
    }
    new.insert("loop".into(), toml::Value::Table(new_loop));

    let mut vae = toml::Table::new();
    for (to, from) in [
        ("latent_dim", "latent_dim"),
        ("batch_size", "batch_size"),
        ("epochs", "us_epochs"),
        ("learning_rate", "us_learning_rate"),
        ("kl_warmup_epochs", "kl_warmup_epochs"),
    ] {
        vae.insert(to.into(), get(&enc, from)?);
    }
    let mut encoder = toml::Table::new();
    encoder.insert("kind".into(), representation.into());
    if representation == "td-split" {
        for (to, from) in [
            ("content_dim", "content_dim"),
            ("alpha", "alpha"),
            ("batch_size", "batch_size"),
            ("epochs", "split_epochs"),
            ("learning_rate", "split_learning_rate"),
            ("schedule", "split_schedule"),
            ("warm_start", "split_warm_start"),
        ] {
            encoder.insert(to.into(), get(&enc, from)?);
        }
        for key in ["update_images", "min_update_steps"] {
            if let Some(v) = enc.get(key) {
                encoder.insert(key.into(), v.clone());
            }
        }
        encoder.insert("pretrain".into(), toml::Value::Table(vae));
    } else {
        encoder.extend(vae);
    }
    new.insert("encoder".into(), toml::Value::Table(encoder));

    let mut new_head = toml::Table::new();
    new_head.insert("kind".into(), "forest".into());
    for key in ["trees", "posterior_samples"] {
        new_head.insert(key.into(), get(&head, key)?);
    }
    new.insert("head".into(), toml::Value::Table(new_head));

    let acquisition = get(&old, "acquisition")?;
    let kind = acquisition.as_str().unwrap_or_default().to_owned();
    let mut acq = toml::Table::new();
    acq.insert("kind".into(), acquisition);
    if kind != "random" {
        for key in ["strategy", "beta"] {
            acq.insert(key.into(), get(&lp, key)?);
        }
        if kind == "epig" {
            acq.insert("target_samples".into(), get(&lp, "target_samples")?);
        }
    }
    new.insert("acquisition".into(), toml::Value::Table(acq));
    Ok(Some(toml::to_string(&new)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table1::{Row, Setting};
    use tdal_loop::Profile;

    const OLD_SPLIT: &str = r#"profile = "quick"
seed = 0
representation = "td-split"
acquisition = "epig"

[data]
dataset = "fmnist"
target_share = 0.06
max_pool = 20000

[loop]
budget = 500
batch_size = 10
strategy = "power"
beta = 4.0
target_samples = 500
retrain_every = 5

[head]
trees = 250
posterior_samples = 100

[encoder]
latent_dim = 10
content_dim = 3
alpha = 20.0
batch_size = 200
us_epochs = 30
us_learning_rate = 0.0005
kl_warmup_epochs = 2.0
split_warm_start = true
split_epochs = 1
split_learning_rate = 0.0002
split_schedule = "after-every"
min_update_steps = 300
"#;

    fn read(text: &str) -> RunConfig {
        RunConfig::from_toml(text, Path::new("config.toml"), None).unwrap()
    }

    #[test]
    fn an_old_config_becomes_the_table_setting_it_was_run_for() {
        let setting = Setting::new(Profile::Quick, Some(0.06), Some(20_000), Some(300));
        let new = read(&convert(OLD_SPLIT).unwrap().unwrap());
        assert_eq!(new, setting.config(Row::TdSplit, 0, None));
        assert!(setting.owns(&new.run_id(), &new));
        // A US row of the same old table: min_update_steps was never a US setting.
        let us = OLD_SPLIT
            .replace("\"td-split\"", "\"us-vae\"")
            .replace("\"epig\"", "\"random\"");
        let new = read(&convert(&us).unwrap().unwrap());
        assert_eq!(new, setting.config(Row::UsRandom, 0, None));
        // New configurations are left alone.
        assert_eq!(convert(&new.to_toml().unwrap()).unwrap(), None);
    }

    #[test]
    fn folders_are_renamed_to_their_new_ids_and_keep_their_records() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp
            .path()
            .join("runs")
            .join("fmnist-td-split-epig-quick-s0-00000000");
        std::fs::create_dir_all(old.join("state").join("round-0000")).unwrap();
        std::fs::write(
            old.join("state")
                .join("round-0000")
                .join("model.safetensors"),
            b"w",
        )
        .unwrap();
        std::fs::write(old.join(files::CONFIG), OLD_SPLIT).unwrap();
        std::fs::write(old.join(files::ROUNDS), b"{}\n").unwrap();
        let outcomes = migrate(&[tmp.path().to_path_buf()]).unwrap();
        let [Outcome::Migrated { to, .. }] = outcomes.as_slice() else {
            panic!("{outcomes:?}")
        };
        let new = tmp.path().join("runs").join(to);
        assert!(!old.exists());
        assert_eq!(std::fs::read(new.join(files::ROUNDS)).unwrap(), b"{}\n");
        assert!(
            new.join("state/round-0000/representation/model.safetensors")
                .is_file()
        );
        assert_eq!(
            read(&std::fs::read_to_string(new.join(files::CONFIG)).unwrap()).run_id(),
            *to
        );
        // A second pass finds nothing to do.
        let again = migrate(&[tmp.path().to_path_buf()]).unwrap();
        assert_eq!(again, vec![Outcome::Current(to.clone())]);
    }
}
