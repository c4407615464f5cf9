//! Run records: `rounds.jsonl` (one [`RoundRecord`] per completed round), `config.toml`
//! (the resolved [`crate::RunConfig`]) and `summary.json` (a [`RunSummary`], written last:
//! its presence marks a finished run).
//!
//! Lines are appended with one `write` and flushed to disk before the round counts as
//! done, so a killed run leaves at most one partial last line; [`read_rounds`] drops such a
//! line, which is how `--resume` continues from the last *completed* round.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::stage::StageSeconds;

use crate::{Error, Result};

/// File names inside a run folder.
pub mod files {
    /// One JSON line per completed round.
    pub const ROUNDS: &str = "rounds.jsonl";
    /// The resolved configuration.
    pub const CONFIG: &str = "config.toml";
    /// Written when the run has finished.
    pub const SUMMARY: &str = "summary.json";
    /// blake3 of the pool's pixels the run was made from.
    pub const DATA_HASH: &str = "data.blake3";
    /// Checkpoints of the parts that changed in a round, one folder per round
    /// (`state/round-NNNN/representation`, `…/selector`).
    pub const STATE: &str = "state";
    /// The oracle's answers for the initial labels.
    pub const INITIAL: &str = "initial.json";
    /// A proposed batch waiting for its labels.
    pub const PENDING: &str = "pending.json";
}

/// One acquired pool point and what the oracle said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquired {
    /// Index in the pool.
    pub index: usize,
    /// Label-map label (0 = other, 1..=T targets).
    pub label: u32,
    /// Source dataset name (e.g. `fashion-mnist`).
    pub source: String,
    /// Class name in the source.
    pub class: String,
}

/// Test accuracies (fractions in [0, 1]) of one round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracies {
    /// Primary: target-class test images, argmax over all classes (other counts as wrong).
    pub primary: f64,
    /// Target-class test images, argmax restricted to the target classes; `None` (JSON
    /// `null`, "n/a" in tables) with a single target class, where the restricted argmax
    /// can only name that class and the accuracy would be 100 % whatever the head learnt.
    #[serde(default)]
    pub targets_only: Option<f64>,
    /// The whole class-balanced test set, "other" images included.
    pub balanced: f64,
}

impl Accuracies {
    /// The targets-only accuracy in percent with two decimals followed by `suffix` (for
    /// example `" %"`), or `"n/a"` with a single target class, where the restricted
    /// argmax can only name that class.
    #[must_use]
    pub fn targets_only_text(&self, suffix: &str) -> String {
        self.targets_only
            .map_or_else(|| "n/a".to_owned(), |a| format!("{:.2}{suffix}", 100.0 * a))
    }
}

/// One completed round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Round number from 0.
    pub round: usize,
    /// Labels the head was fitted on this round (initial labels included).
    pub n_labelled: usize,
    /// Test accuracies of the head fitted this round.
    pub accuracy: Accuracies,
    /// Whether the representation was retrained at the start of this round.
    pub retrained: bool,
    /// The batch acquired at the end of this round (empty in the last round).
    pub acquired: Vec<Acquired>,
    /// Acquired target-class points so far, this round's batch included (initial labels
    /// not counted; Table 5).
    pub target_acquired: usize,
    /// Seconds per stage.
    pub seconds: StageSeconds,
    /// Peak resident memory of the process so far, bytes (Linux; 0 where unknown).
    pub peak_rss_bytes: u64,
    /// The encoders' matrix-product kernels this round ran on
    /// (`tdal_encoders::kernels::in_use`); empty in records written before it was
    /// recorded. A run is resumed only on the kernels of its last round.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernels: String,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run folder's name.
    pub run_id: String,
    /// Accuracies at the final round (budget reached).
    pub final_accuracy: Accuracies,
    /// Labels at the end.
    pub n_labelled: usize,
    /// Acquired target-class points (initial labels not counted).
    pub target_acquired: usize,
    /// Rounds run.
    pub rounds: usize,
    /// Seconds of the rounds (retraining included), summed over all sessions of the run.
    pub loop_seconds: f64,
    /// Seconds to obtain the initial representation (0 when it came from the cache).
    pub initialise_seconds: f64,
    /// Whether the US encoder came from the cache.
    pub encoder_cached: bool,
    /// Largest peak resident memory seen in the rounds, bytes.
    pub peak_rss_bytes: u64,
    /// The encoders' matrix-product kernels in the session that finished the run
    /// (`tdal_encoders::kernels::in_use`: `"avx512f"`, `"avx2+fma"`, `"generic"`); empty in
    /// records written before it was recorded (the default build then used `"avx2+fma"`
    /// on x86-64; a build with the former `avx512` feature, `"avx512f"` where present).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernels: String,
}

/// Appends one record as a line and flushes it to disk.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or written.
pub fn append_round(dir: &Path, record: &RoundRecord) -> Result<()> {
    let path = dir.join(files::ROUNDS);
    let mut line = serde_json::to_string(record).map_err(|e| Error::Config(e.to_string()))?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("cannot open", &path, e))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("cannot write", &path, e))
}

/// Reads the completed rounds of a run folder (none when the file does not exist). A
/// partial last line (a run killed mid-write) is ignored; a damaged line elsewhere or
/// rounds out of order are errors.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Resume`] for damaged records.
pub fn read_rounds(dir: &Path) -> Result<Vec<RoundRecord>> {
    let path = dir.join(files::ROUNDS);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot read", &path, e)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io("cannot read", &path, e))?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<RoundRecord>(line) {
            Ok(r) if r.round == out.len() => out.push(r),
            Ok(r) => {
                return Err(Error::Resume {
                    path: dir.to_path_buf(),
                    message: format!(
                        "line {} holds round {}, expected {}",
                        i + 1,
                        r.round,
                        out.len()
                    ),
                });
            }
            Err(_) if i + 1 == lines.len() => break, // killed mid-write
            Err(e) => {
                return Err(Error::Resume {
                    path: dir.to_path_buf(),
                    message: format!("line {} of {} is damaged: {e}", i + 1, files::ROUNDS),
                });
            }
        }
    }
    Ok(out)
}

/// Rewrites `rounds.jsonl` to hold exactly `records` (drops a partial last line before a
/// resumed run appends), via a temporary file and a rename.
///
/// # Errors
/// [`Error::Io`].
pub fn rewrite_rounds(dir: &Path, records: &[RoundRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).map_err(|e| Error::Config(e.to_string()))?);
        text.push('\n');
    }
    write_atomic(&dir.join(files::ROUNDS), text.as_bytes())
}

/// Reads `summary.json` if the run has finished.
///
/// # Errors
/// [`Error::Io`] for an unreadable file, [`Error::Resume`] for a damaged one.
pub fn read_summary(dir: &Path) -> Result<Option<RunSummary>> {
    read_json(&dir.join(files::SUMMARY))
}

/// Writes a file via a uniquely named temporary sibling ([`tempfile::NamedTempFile`]),
/// flushed to disk and renamed into place, so readers never see half of it and two
/// processes writing the same file never share a temporary file.
///
/// # Errors
/// [`Error::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, &mut |file| file.write_all(bytes))
}

/// Writes a file as [`write_atomic`] does, streaming: `write` fills the temporary file
/// (through a buffer), which is flushed to disk and renamed into place only if `write`
/// succeeded; on failure no file appears and an existing `path` is left as it was.
///
/// # Errors
/// [`Error::Io`], with what `write` returned.
pub fn write_atomic_with(
    path: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    // tempfile's errors repeat the temporary path; the OS error alone reads better.
    let plain = |e: std::io::Error| {
        e.raw_os_error()
            .map_or(e, std::io::Error::from_raw_os_error)
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".tdal-")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(|e| Error::io("cannot create a file in", parent, plain(e)))?;
    let mut attempt = || -> std::io::Result<()> {
        {
            let mut buffered = std::io::BufWriter::new(temp.as_file_mut());
            write(&mut buffered)?;
            buffered.flush()?;
        }
        temp.as_file().sync_data()
    };
    attempt().map_err(|e| Error::io("cannot write", path, e))?;
    temp.persist(path)
        .map_err(|e| Error::io("cannot move the output into place at", path, plain(e.error)))?;
    Ok(())
}

/// Writes `value` as pretty JSON, atomically ([`write_atomic`]).
///
/// # Errors
/// [`Error::Io`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Config(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// Reads a JSON file written by [`write_json`]; `None` when it does not exist.
///
/// # Errors
/// [`Error::Io`] for an unreadable file, [`Error::Resume`] for a damaged one.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Resume {
                path: path.to_path_buf(),
                message: format!("the file is damaged: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Peak resident set size of this process in bytes (`VmHWM`), 0 where unknown.
#[must_use]
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(round: usize) -> RoundRecord {
        RoundRecord {
            round,
            n_labelled: 6 + 10 * round,
            accuracy: Accuracies::default(),
            retrained: round == 0,
            acquired: vec![Acquired {
                index: round,
                label: 1,
                source: "mnist".into(),
                class: "5".into(),
            }],
            target_acquired: round,
            seconds: StageSeconds::default(),
            peak_rss_bytes: 0,
            kernels: "avx2+fma".into(),
        }
    }

    #[test]
    fn targets_only_text_is_percent_or_n_a() {
        let mut a = Accuracies {
            primary: 0.5,
            targets_only: Some(0.98765),
            balanced: 0.25,
        };
        assert_eq!(a.targets_only_text(" %"), "98.77 %");
        assert_eq!(a.targets_only_text(""), "98.77");
        a.targets_only = None;
        assert_eq!(a.targets_only_text(" %"), "n/a");
    }

    #[test]
    fn a_partial_last_line_is_dropped_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        for r in 0..3 {
            append_round(dir.path(), &record(r)).unwrap();
        }
        let path = dir.path().join(files::ROUNDS);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"round\":3,\"n_lab");
        std::fs::write(&path, text).unwrap();
        let rounds = read_rounds(dir.path()).unwrap();
        assert_eq!(rounds, (0..3).map(record).collect::<Vec<_>>());
        rewrite_rounds(dir.path(), &rounds).unwrap();
        append_round(dir.path(), &record(3)).unwrap();
        assert_eq!(read_rounds(dir.path()).unwrap().len(), 4);
    }

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_json(&path, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        let err = write_atomic_with(&path, &mut |file| {
            file.write_all(b"[4, 5")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
        assert_eq!(
            read_json::<Vec<i32>>(&dir.path().join("none.json")).unwrap(),
            None
        );
    }

    #[test]
    fn damaged_or_out_of_order_records_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(files::ROUNDS);
        std::fs::write(&path, "garbage\n{}\n").unwrap();
        assert!(matches!(read_rounds(dir.path()), Err(Error::Resume { .. })));
        append_round(dir.path(), &record(0)).unwrap();
        std::fs::remove_file(&path).unwrap();
        append_round(dir.path(), &record(1)).unwrap();
        assert!(matches!(read_rounds(dir.path()), Err(Error::Resume { .. })));
        assert!(read_rounds(&dir.path().join("none")).unwrap().is_empty());
    }
}
