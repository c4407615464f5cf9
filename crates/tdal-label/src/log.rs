//! The append-only label log (`labels.jsonl`).
//!
//! One JSON object ([`LabelEntry`]) per line. A batch of labels is written with one
//! `write` and fsync'ed before [`LabelLog::append`] returns, so a label a caller was told
//! is saved survives a crash. A process killed mid-write leaves at most a last line
//! without its `\n`; that line was never acknowledged, so reading drops it (and
//! [`LabelLog::open`] cuts it off the file). Anything else that does not parse is damage
//! a person must look at, never silently skipped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One label, one line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelEntry {
    /// Index in the pool manifest (or in the held-out manifest when `heldout`).
    pub index: usize,
    /// The image's relative path (kept for people reading the log).
    pub path: String,
    /// The class name.
    pub class: String,
    /// Whether the image is one of the held-out images (never acquired, only evaluated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heldout: bool,
}

/// The label log, open for appending and locked against other processes.
///
/// The lock is an advisory exclusive lock on the file (`flock` on Unix), released when
/// the log is dropped; [`LabelLog::read`] does not take it.
#[derive(Debug)]
pub struct LabelLog {
    path: PathBuf,
    file: File,
    entries: Vec<LabelEntry>,
    positions: Positions,
    /// Bytes of the file that hold complete, acknowledged lines.
    len: u64,
}

/// Position in the entries of each labelled index, pool and held-out apart.
#[derive(Debug, Default)]
struct Positions {
    pool: HashMap<usize, usize>,
    heldout: HashMap<usize, usize>,
}

impl Positions {
    fn of(&self, heldout: bool) -> &HashMap<usize, usize> {
        if heldout { &self.heldout } else { &self.pool }
    }

    fn of_mut(&mut self, heldout: bool) -> &mut HashMap<usize, usize> {
        if heldout {
            &mut self.heldout
        } else {
            &mut self.pool
        }
    }
}

/// The complete lines of a log file.
struct Parsed {
    entries: Vec<LabelEntry>,
    positions: Positions,
    /// Bytes up to the end of the last complete line.
    complete: usize,
}

impl LabelLog {
    /// Opens the log at `path` for appending, creating it (and fsyncing its folder) when
    /// missing, and locks it.
    ///
    /// A last line without its `\n` is a write cut short by a crash, never acknowledged:
    /// it is dropped and the file truncated to the end of the last complete line.
    ///
    /// # Errors
    /// [`Error::Locked`] (naming the log's folder) when another open log holds the file;
    /// [`Error::Damaged`] naming the line when a complete line is not a label entry or
    /// labels an image labelled on an earlier line; [`Error::Io`] when the file cannot be
    /// created, read or truncated.
    pub fn open(path: &Path) -> Result<LabelLog> {
        let (mut file, created) = match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
        {
            Ok(file) => (file, true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::io("cannot open", path, e))?;
                (file, false)
            }
            Err(e) => return Err(Error::io("cannot create", path, e)),
        };
        if created {
            sync_parent(path)?;
        }
        let locked =
            FileExt::try_lock_exclusive(&file).map_err(|e| Error::io("cannot lock", path, e))?;
        if !locked {
            let holder = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .unwrap_or(path);
            return Err(Error::Locked(holder.to_path_buf()));
        }

        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("cannot read", path, e))?;
        let parsed = parse(path, &bytes)?;
        let len = u64::try_from(parsed.complete)
            .map_err(|_| Error::Invalid(format!("{} is too large", path.display())))?;
        if parsed.complete < bytes.len() {
            file.set_len(len)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("cannot cut the unfinished last line of", path, e))?;
        }
        Ok(LabelLog {
            path: path.to_path_buf(),
            file,
            entries: parsed.entries,
            positions: parsed.positions,
            len,
        })
    }

    /// Reads the log at `path` without locking or changing it (for a status report while
    /// another process appends). A last line without its `\n` is ignored; a missing file
    /// is an empty log.
    ///
    /// # Errors
    /// [`Error::Damaged`] as for [`LabelLog::open`]; [`Error::Io`] when the file exists
    /// but cannot be read.
    pub fn read(path: &Path) -> Result<Vec<LabelEntry>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        Ok(parse(path, &bytes)?.entries)
    }

    /// The log's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every label, in the order written.
    #[must_use]
    pub fn entries(&self) -> &[LabelEntry] {
        &self.entries
    }

    /// The label of pool image `index`, if it has one.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&LabelEntry> {
        self.find(index, false)
    }

    /// The label of held-out image `index`, if it has one.
    #[must_use]
    pub fn get_heldout(&self, index: usize) -> Option<&LabelEntry> {
        self.find(index, true)
    }

    /// Labels in the log (pool and held-out).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no label.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends labels: all are checked first, then written with one write and fsync'ed.
    /// Only when this returns `Ok` are they saved (and in [`LabelLog::entries`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the image when one is already labelled or given twice
    /// (nothing is written); [`Error::Io`] when writing or syncing fails (the file is cut
    /// back to its previous length, nothing is added).
    pub fn append(&mut self, new: &[LabelEntry]) -> Result<()> {
        let mut seen = Positions::default();
        for (position, entry) in new.iter().enumerate() {
            if let Some(earlier) = self.find(entry.index, entry.heldout) {
                return Err(Error::Invalid(format!(
                    "{} {} ({}) is already labelled \"{}\"",
                    image_kind(entry.heldout),
                    entry.index,
                    earlier.path,
                    earlier.class
                )));
            }
            if seen
                .of_mut(entry.heldout)
                .insert(entry.index, position)
                .is_some()
            {
                return Err(Error::Invalid(format!(
                    "{} {} ({}) is given twice in the labels to save",
                    image_kind(entry.heldout),
                    entry.index,
                    entry.path
                )));
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for entry in new {
            serde_json::to_writer(&mut lines, entry).map_err(|e| {
                Error::Invalid(format!("cannot encode the label of {}: {e}", entry.path))
            })?;
            lines.push(b'\n');
        }
        let added = u64::try_from(lines.len())
            .map_err(|_| Error::Invalid("too many labels to save at once".into()))?;

        if let Err(e) = self.write_synced(&lines) {
            // Best effort: a failed cut is retried by the next append (write_synced
            // first cuts the file back to the acknowledged length).
            let _ = self.file.set_len(self.len);
            return Err(Error::io("cannot save labels to", &self.path, e));
        }
        self.len += added;
        for entry in new {
            self.positions
                .of_mut(entry.heldout)
                .insert(entry.index, self.entries.len());
            self.entries.push(entry.clone());
        }
        Ok(())
    }

    /// Writes `lines` after the acknowledged lines and fsyncs them.
    fn write_synced(&mut self, lines: &[u8]) -> std::io::Result<()> {
        // Bytes past `len` are a failed earlier write: never let a line follow them.
        if self.file.metadata()?.len() != self.len {
            self.file.set_len(self.len)?;
        }
        self.file.write_all(lines)?;
        self.file.sync_data()
    }

    fn find(&self, index: usize, heldout: bool) -> Option<&LabelEntry> {
        self.positions
            .of(heldout)
            .get(&index)
            .and_then(|&position| self.entries.get(position))
    }
}

/// "image" or "held-out image", for messages.
fn image_kind(heldout: bool) -> &'static str {
    if heldout { "held-out image" } else { "image" }
}

/// Parses the complete lines of a log (a last line without `\n` is ignored).
fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let complete = bytes
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |last| last + 1);
    let damaged = |message: String| Error::Damaged {
        path: path.to_path_buf(),
        message,
    };
    let mut entries: Vec<LabelEntry> = Vec::new();
    let mut positions = Positions::default();
    for (position, line) in bytes[..complete]
        .split_inclusive(|&byte| byte == b'\n')
        .enumerate()
    {
        let number = position + 1;
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let entry: LabelEntry = serde_json::from_slice(text)
            .map_err(|e| damaged(format!("line {number}: not a label entry ({e})")))?;
        if let Some(&first) = positions.of(entry.heldout).get(&entry.index) {
            return Err(damaged(format!(
                "line {number}: {} {} ({}) is labelled again (first on line {})",
                image_kind(entry.heldout),
                entry.index,
                entry.path,
                first + 1
            )));
        }
        positions
            .of_mut(entry.heldout)
            .insert(entry.index, position);
        entries.push(entry);
    }
    Ok(Parsed {
        entries,
        positions,
        complete,
    })
}

/// Makes a new file's directory entry durable.
fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| Error::io("cannot sync the folder", parent, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use proptest::prelude::*;

    use super::*;

    fn entry(index: usize, class: &str, heldout: bool) -> LabelEntry {
        LabelEntry {
            index,
            path: format!("img-{index}.png"),
            class: class.into(),
            heldout,
        }
    }

    fn open_ok(path: &Path) -> LabelLog {
        match LabelLog::open(path) {
            Ok(log) => log,
            Err(e) => panic!("cannot open the log: {e}"),
        }
    }

    /// The lines of a log written by hand (an independent encoding of the format).
    fn lines(entries: &[&str]) -> String {
        entries.iter().map(|line| format!("{line}\n")).collect()
    }

    #[test]
    fn appended_labels_come_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let written = vec![
            entry(3, "five", false),
            entry(0, "other", false),
            entry(3, "six", true),
        ];
        {
            let mut log = open_ok(&path);
            assert!(log.is_empty());
            assert!(path.exists());
            log.append(&written[..2]).unwrap();
            log.append(&[]).unwrap();
            log.append(&written[2..]).unwrap();
            assert_eq!(log.entries(), written.as_slice());
        }
        let log = open_ok(&path);
        assert_eq!(log.entries(), written.as_slice());
        assert_eq!(log.len(), 3);
        assert_eq!(log.path(), path.as_path());
        assert_eq!(log.get(3), Some(&written[0]));
        assert_eq!(log.get(0), Some(&written[1]));
        assert_eq!(log.get_heldout(3), Some(&written[2]));
        assert_eq!(log.get(1), None);
        assert_eq!(log.get_heldout(0), None);
        // The file format: one JSON object per line, `heldout` only when true.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            lines(&[
                r#"{"index":3,"path":"img-3.png","class":"five"}"#,
                r#"{"index":0,"path":"img-0.png","class":"other"}"#,
                r#"{"index":3,"path":"img-3.png","class":"six","heldout":true}"#,
            ])
        );
        assert_eq!(LabelLog::read(&path).unwrap(), written);
    }

    #[test]
    fn a_label_already_in_the_log_or_given_twice_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let mut log = open_ok(&path);
        log.append(&[entry(1, "five", false)]).unwrap();
        let before = fs::read(&path).unwrap();

        let again = log.append(&[entry(2, "six", false), entry(1, "six", false)]);
        match again {
            Err(Error::Invalid(message)) => {
                assert!(
                    message.contains("image 1 (img-1.png) is already labelled \"five\""),
                    "{message}"
                );
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let twice = log.append(&[entry(4, "six", true), entry(4, "five", true)]);
        match twice {
            Err(Error::Invalid(message)) => {
                assert!(message.contains("held-out image 4"), "{message}");
                assert!(message.contains("twice"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(log.len(), 1);
        assert_eq!(log.get(2), None);
        // The same index in the pool and among the held-out images is two images.
        log.append(&[entry(1, "six", true)]).unwrap();
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn a_damaged_middle_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let good = r#"{"index":0,"path":"a.png","class":"five"}"#;
        let cases = [
            (
                lines(&[good, "{not json", r#"{"index":1,"path":"b","class":"six"}"#]),
                "line 2: ",
            ),
            (lines(&[good, r#"{"index":1,"path":"b"}"#]), "line 2: "),
            (lines(&[good, ""]), "line 2: "),
            (
                lines(&[good, good, good]),
                "line 2: image 0 (a.png) is labelled again (first on line 1)",
            ),
            (
                lines(&[
                    good,
                    r#"{"index":1,"path":"b","class":"six","extra":1}"#,
                    good,
                ]),
                "line 2: ",
            ),
            // A torn last line does not hide a damaged one before it.
            (lines(&[good, "]"]) + r#"{"index":5"#, "line 2: "),
        ];
        for (content, wanted) in cases {
            fs::write(&path, &content).unwrap();
            for result in [
                LabelLog::open(&path).map(|log| log.entries().to_vec()),
                LabelLog::read(&path),
            ] {
                match result {
                    Err(Error::Damaged {
                        path: damaged,
                        message,
                    }) => {
                        assert_eq!(damaged, path);
                        assert!(message.starts_with(wanted), "{message:?} for {content:?}");
                    }
                    other => panic!("expected Damaged for {content:?}, got {other:?}"),
                }
            }
            // Nothing was cut off a damaged file.
            assert_eq!(fs::read_to_string(&path).unwrap(), content);
        }
    }

    #[test]
    fn a_second_open_is_locked_out_but_read_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let mut first = open_ok(&path);
        first.append(&[entry(7, "six", false)]).unwrap();
        match LabelLog::open(&path) {
            Err(Error::Locked(holder)) => assert_eq!(holder, dir.path()),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(LabelLog::read(&path).unwrap(), vec![entry(7, "six", false)]);
        drop(first);
        assert_eq!(open_ok(&path).len(), 1);
    }

    #[test]
    fn read_of_a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            LabelLog::read(&dir.path().join("labels.jsonl")).unwrap(),
            vec![]
        );
    }

    /// Distinct (index, heldout) labels with varied classes and paths (quotes,
    /// backslashes, newlines and non-ASCII must survive the JSON encoding).
    fn entries_strategy() -> impl Strategy<Value = Vec<LabelEntry>> {
        prop::collection::btree_map(
            (0usize..500, any::<bool>()),
            ("[a-z]{1,6}", "[a-zé0-9/\\\\\" \n.-]{0,12}"),
            1..24,
        )
        .prop_map(|labels| {
            labels
                .into_iter()
                .map(|((index, heldout), (class, path))| LabelEntry {
                    index,
                    path,
                    class,
                    heldout,
                })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_log_cut_anywhere_recovers_exactly_its_complete_lines(
            entries in entries_strategy(),
            group_sizes in prop::collection::vec(1usize..6, 1..12),
            cut in any::<prop::sample::Index>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("labels.jsonl");
            {
                let mut log = open_ok(&path);
                let mut rest = entries.as_slice();
                for &size in &group_sizes {
                    let (group, tail) = rest.split_at(size.min(rest.len()));
                    log.append(group).unwrap();
                    rest = tail;
                }
                log.append(rest).unwrap();
                prop_assert_eq!(log.entries(), entries.as_slice());
            }

            // A kill mid-write leaves any prefix of the bytes.
            let bytes = fs::read(&path).unwrap();
            let cut = cut.index(bytes.len() + 1);
            fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut as u64).unwrap();
            let kept_lines = bytes[..cut].iter().filter(|&&b| b == b'\n').count();
            let kept_bytes = bytes[..cut].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);

            prop_assert_eq!(LabelLog::read(&path).unwrap(), entries[..kept_lines].to_vec());
            prop_assert_eq!(fs::metadata(&path).unwrap().len(), cut as u64);
            let mut log = open_ok(&path);
            prop_assert_eq!(log.entries(), &entries[..kept_lines]);
            prop_assert_eq!(fs::read(&path).unwrap(), bytes[..kept_bytes].to_vec());

            // The lost labels can be written again, and the log reads whole.
            log.append(&entries[kept_lines..]).unwrap();
            drop(log);
            prop_assert_eq!(fs::read(&path).unwrap(), bytes);
            prop_assert_eq!(open_ok(&path).entries().to_vec(), entries);
        }
    }
}
