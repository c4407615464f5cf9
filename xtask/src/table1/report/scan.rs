//! Reading the run folders under `<out>/runs`: each folder's `config.toml`, its round
//! records and, once the run finished, its `summary.json`. Nothing is judged here: which
//! runs belong to the table is [`super::aggregate`]'s business.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use tdal_loop::record::{self, files};
use tdal_loop::{RoundRecord, RunConfig, RunSummary};

/// One run folder as read from disk.
#[derive(Debug, Clone)]
pub(super) struct RunFolder {
    /// Folder name (the run id when the folder is the loop's).
    pub id: String,
    pub config: RunConfig,
    pub rounds: Vec<RoundRecord>,
    /// `None`: the run has not finished (or is still going).
    pub summary: Option<RunSummary>,
}

/// The readable run folders of `<out>/runs`, sorted by name, and a line for each folder
/// that could not be read.
pub(super) struct Scan {
    pub runs: Vec<RunFolder>,
    pub unreadable: Vec<String>,
}

/// Reads every folder of `<out>/runs`.
///
/// # Errors
/// `<out>/runs` is not a folder or cannot be listed (an unreadable run folder is no
/// error: it is listed in [`Scan::unreadable`]).
pub(super) fn scan(out: &Path) -> Result<Scan> {
    let runs_dir = out.join("runs");
    if !runs_dir.is_dir() {
        bail!(
            "no runs in {}: run `cargo xtask table1 --data-dir DIR --out {}` first",
            runs_dir.display(),
            out.display()
        );
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs_dir)
        .with_context(|| format!("cannot list {}", runs_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut runs = Vec::new();
    let mut unreadable = Vec::new();
    for dir in dirs {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read(&dir, &id) {
            Ok(run) => runs.push(run),
            Err(e) => unreadable.push(format!("{id}: {e:#}")),
        }
    }
    Ok(Scan { runs, unreadable })
}

fn read(dir: &Path, id: &str) -> Result<RunFolder> {
    Ok(RunFolder {
        id: id.to_owned(),
        config: RunConfig::from_toml_file(&dir.join(files::CONFIG))?,
        rounds: record::read_rounds(dir)?,
        summary: record::read_summary(dir)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{smoke, synthetic_run};
    use super::*;
    use crate::table1::Row;

    #[test]
    fn no_runs_folder_is_an_error_that_says_how_to_make_one() {
        let out = tempfile::tempdir().unwrap();
        let err = scan(out.path()).err().unwrap().to_string();
        assert!(err.contains("no runs in") && err.contains("--out"), "{err}");
    }

    #[test]
    fn finished_partial_and_damaged_folders_are_read_as_they_are() {
        let out = tempfile::tempdir().unwrap();
        let runs = out.path().join("runs");
        let s = smoke();
        let done = synthetic_run(&runs, &s.config(Row::TdSplit, 0, None), 0.9, 4, true);
        let partial = synthetic_run(&runs, &s.config(Row::TdSplit, 1, None), 0.1, 2, false);
        std::fs::create_dir_all(runs.join("junk")).unwrap();
        std::fs::write(runs.join("not-a-folder"), "").unwrap();

        let Scan { runs, unreadable } = scan(out.path()).unwrap();
        assert_eq!(runs.len(), 2);
        let by_id = |id: &str| runs.iter().find(|r| r.id == id).unwrap();
        assert_eq!(by_id(&done).rounds.len(), 4);
        assert!(by_id(&done).summary.is_some());
        assert_eq!(by_id(&partial).rounds.len(), 2);
        assert!(by_id(&partial).summary.is_none());
        assert_eq!(by_id(&partial).config.seed, 1);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(unreadable[0].starts_with("junk: "), "{unreadable:?}");
    }
}
