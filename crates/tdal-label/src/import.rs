//! Importing labels from a CSV file: every row validated, all applied or none.
//!
//! The file needs a header row naming a `path` column and a `label` (or `class`)
//! column; other columns are ignored, so the CSV `tdal label next` writes (`path`,
//! `score`, `suggestion`, `label`) can be filled in and read back. Every row is checked
//! before anything is returned, and every bad row is reported with its line number, so a
//! person fixes the whole file in one pass instead of one error per run.
//!
//! A row's path is matched forgivingly but never by a guess: as written, else trimmed,
//! else with `/` for `\` and no leading `./`, else relative to the images folder (an
//! absolute path under it); the first form that names a file decides, and a form that
//! names two files refuses the row (see [`parse`]).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::log::{LabelEntry, LabelLog};
use crate::manifest::Manifest;
use crate::{Error, Result};

/// What an import found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Labels that are new (returned, to be appended to the log).
    pub added: usize,
    /// Rows whose image already has the same label in the log (nothing to do).
    pub already: usize,
    /// Rows with an empty label cell (skipped: not labelled yet).
    pub blank: usize,
}

/// The header's columns of interest.
struct Columns {
    path: usize,
    label: usize,
    count: usize,
}

/// Reads and checks the labels of a CSV file against a manifest and the log.
///
/// Each row's path names a file of the images folder `root` that `manifest` lists: one of
/// its images, or one of the files `init` skipped (so that a row naming an unreadable
/// file is reported as such, never matched to a neighbour). The path is tried in these
/// forms, and the first form that names any file decides:
///
/// 1. as written;
/// 2. trimmed of surrounding whitespace;
/// 3. with every `\` turned into `/`, then trimmed and stripped of leading `./`;
/// 4. relative to `root` (an absolute path under the images folder, say): when form 3
///    starts with `root` as the project holds it (`/` or `\` separated; on Windows with
///    or without the `\\?\` prefix), form 3 of what follows.
///
/// Forms 2 to 4 are compared with the same form of every file's path (form 3 for
/// form 4), so a form that makes the paths of two files equal (`a.png` and ` a.png`;
/// `sub/c.png` and a file named `sub\c.png`) names both, and the row is refused as
/// ambiguous rather than given to one of them. A UTF-8 BOM at the start of the file is
/// dropped by the CSV reader.
///
/// Labels must be one of `names` exactly, after trimming whitespace. A row is bad when
/// its path names no file or several, names a file `init` skipped, its class is
/// unknown, its image is also on an earlier row (however each row writes the path), its
/// image is already labelled in `log` with another class (`heldout` chooses which labels
/// of the log), or it has not as many fields as the header. Rows with an empty label are
/// counted as blank and skipped whatever their path; rows whose label is already in the
/// log are counted and skipped.
///
/// The returned labels have `index` from `manifest`, `path` as in the manifest and
/// `heldout` as given; they are in file order.
///
/// # Errors
/// [`Error::BadRows`] with one line per bad row ("row N: ...", N the line of the file,
/// the header being line 1) when any row is bad; a path is quoted as written, with the
/// forms tried when none names a file, or with the form and the files when it names
/// several; [`Error::Invalid`] when the header has no `path` or no `label`/`class`
/// column (or both of the latter); [`Error::Io`] or [`Error::Invalid`] when the file
/// cannot be read as CSV.
pub fn parse(
    path: &Path,
    manifest: &Manifest,
    root: &Path,
    names: &[String],
    log: &LabelLog,
    heldout: bool,
) -> Result<(Vec<LabelEntry>, ImportReport)> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    // csv-core drops a UTF-8 BOM at the start of the file (it precedes the header).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let matcher = Matcher::new(manifest, root);
    let mut record = csv::ByteRecord::new();

    if !reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        return Err(header_error(path, "the file is empty"));
    }
    let columns = columns(path, &record)?;

    let mut labels = Vec::new();
    let mut report = ImportReport::default();
    let mut bad_rows = Vec::new();
    // Row of each image's first label in the file.
    let mut first_row: HashMap<usize, u64> = HashMap::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        let row = record.position().map_or(0, csv::Position::line);
        if record.len() != columns.count {
            bad_rows.push(format!(
                "row {row}: {} field(s), but the header has {}",
                record.len(),
                columns.count
            ));
            continue;
        }
        let (Ok(path_cell), Ok(label_cell)) = (
            std::str::from_utf8(&record[columns.path]),
            std::str::from_utf8(&record[columns.label]),
        ) else {
            bad_rows.push(format!(
                "row {row}: the path or the label is not valid UTF-8"
            ));
            continue;
        };
        let class = label_cell.trim();
        if class.is_empty() {
            report.blank += 1;
            continue;
        }

        let mut problems = Vec::new();
        let index = match matcher.lookup(path_cell) {
            Lookup::Found(Target::Entry(index)) => Some(index),
            Lookup::Found(Target::Skipped(skipped)) => {
                let skipped = &manifest.skipped[skipped];
                problems.push(format!(
                    "path \"{path_cell}\" is not in the pool: init skipped \"{}\" ({})",
                    skipped.path, skipped.reason
                ));
                None
            }
            Lookup::Ambiguous { form, key, targets } => {
                problems.push(format!(
                    "ambiguous path \"{path_cell}\" ({form} \"{key}\" names {} files: {})",
                    targets.len(),
                    matcher.describe(&targets)
                ));
                None
            }
            Lookup::Unknown { tried } => {
                problems.push(format!("unknown path \"{path_cell}\" (tried: {tried})"));
                None
            }
        };
        let known_class = names.iter().any(|name| name == class);
        if !known_class {
            problems.push(format!(
                "unknown class \"{class}\" (classes: {})",
                names.join(", ")
            ));
        }
        let mut already = false;
        if let Some(index) = index {
            let image = &manifest.entries[index].path;
            if let Some(&first) = first_row.get(&index) {
                problems.push(format!("\"{image}\" is also on row {first}"));
            } else {
                first_row.insert(index, row);
            }
            let existing = if heldout {
                log.get_heldout(index)
            } else {
                log.get(index)
            };
            if let Some(existing) = existing.filter(|_| known_class) {
                if existing.class == class {
                    already = true;
                } else {
                    problems.push(format!(
                        "\"{image}\" is already labelled \"{}\" (this row says \"{class}\")",
                        existing.class
                    ));
                }
            }
        }

        match index {
            Some(index) if problems.is_empty() => {
                if already {
                    report.already += 1;
                } else {
                    labels.push(LabelEntry {
                        index,
                        path: manifest.entries[index].path.clone(),
                        class: class.to_string(),
                        heldout,
                    });
                }
            }
            _ => bad_rows.push(format!("row {row}: {}", problems.join("; "))),
        }
    }

    if !bad_rows.is_empty() {
        return Err(Error::BadRows {
            path: path.to_path_buf(),
            rows: bad_rows,
        });
    }
    report.added = labels.len();
    Ok((labels, report))
}

/// The name of form 1 in messages (forms 2 to 4: [`TRIMMED`], [`SLASHED`],
/// [`UNDER_ROOT`]; see [`parse`]).
const AS_WRITTEN: &str = "as written";
/// The name of form 2 in messages.
const TRIMMED: &str = "trimmed";
/// The name of form 3 in messages.
const SLASHED: &str = "with / for \\ and no leading ./";
/// The name of form 4 in messages.
const UNDER_ROOT: &str = "relative to the images root";

/// A file of the images folder that the manifest lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The image of this index in [`Manifest::entries`].
    Entry(usize),
    /// The file of this index in [`Manifest::skipped`].
    Skipped(usize),
}

/// The files one form of a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    /// A single file.
    One(Target),
    /// Several files (in manifest order, images before skipped files).
    Many(Vec<Target>),
}

impl Named {
    /// Adds a file that has the same form.
    fn add(&mut self, target: Target) {
        match self {
            Self::One(first) => {
                let first = *first;
                *self = Self::Many(vec![first, target]);
            }
            Self::Many(targets) => targets.push(target),
        }
    }
}

/// What a row's path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    /// One file, named by the first form that names any.
    Found(Target),
    /// The first form that names any file names several.
    Ambiguous {
        /// The form's name.
        form: &'static str,
        /// The path in that form.
        key: String,
        /// The files.
        targets: Vec<Target>,
    },
    /// No form names a file.
    Unknown {
        /// The forms tried, for the message.
        tried: String,
    },
}

/// Finds the file a row's path names, form by form (see [`parse`]).
struct Matcher<'a> {
    manifest: &'a Manifest,
    /// Every file by its path as written (form 1).
    exact: HashMap<&'a str, Target>,
    /// Forms 2 and 3 of every file, built when a path is not found as written.
    loose: OnceCell<Loose<'a>>,
    /// The images root as prefixes of form 3 (`/`-separated, ending with `/`).
    roots: Vec<String>,
    /// The images root for messages.
    root_shown: String,
}

/// Every file by form 2 and by form 3 of its path.
struct Loose<'a> {
    trimmed: HashMap<&'a str, Named>,
    slashed: HashMap<String, Named>,
}

impl<'a> Matcher<'a> {
    fn new(manifest: &'a Manifest, root: &Path) -> Self {
        let mut exact = HashMap::new();
        for (target, path) in files(manifest) {
            exact.entry(path).or_insert(target);
        }
        Self {
            manifest,
            exact,
            loose: OnceCell::new(),
            roots: root_prefixes(root),
            root_shown: root.display().to_string(),
        }
    }

    /// The file `written` names: forms 1 to 4 in turn, the first that names any file
    /// deciding.
    fn lookup(&self, written: &str) -> Lookup {
        if let Some(&target) = self.exact.get(written) {
            return Lookup::Found(target);
        }
        let loose = self.loose.get_or_init(|| Loose::new(self.manifest));
        let trimmed = written.trim();
        if let Some(lookup) = named(loose.trimmed.get(trimmed), TRIMMED, trimmed) {
            return lookup;
        }
        let slashed = with_slashes(written);
        if let Some(lookup) = named(loose.slashed.get(slashed.as_str()), SLASHED, &slashed) {
            return lookup;
        }
        let mut tried = vec![
            AS_WRITTEN.to_owned(),
            form_tried(TRIMMED, trimmed, written),
            form_tried(SLASHED, &slashed, trimmed),
        ];
        match self.under_root(&slashed) {
            Some(relative) => {
                if let Some(lookup) =
                    named(loose.slashed.get(relative.as_str()), UNDER_ROOT, &relative)
                {
                    return lookup;
                }
                tried.push(format!("{UNDER_ROOT} \"{relative}\""));
            }
            None if looks_absolute(&slashed) => {
                tried.push(format!("not under the images root \"{}\"", self.root_shown));
            }
            None => {}
        }
        Lookup::Unknown {
            tried: tried.join(", "),
        }
    }

    /// Form 4 of a path in form 3: what follows the images root, in form 3; `None` when
    /// the path does not start with the root.
    fn under_root(&self, slashed_path: &str) -> Option<String> {
        self.roots
            .iter()
            .find_map(|prefix| slashed_path.strip_prefix(prefix.as_str()))
            .map(with_slashes)
    }

    /// The files' paths for a message: `"a.png", "b.png" (skipped by init)`.
    fn describe(&self, targets: &[Target]) -> String {
        targets
            .iter()
            .map(|&target| match target {
                Target::Entry(index) => format!("\"{}\"", self.manifest.entries[index].path),
                Target::Skipped(index) => format!(
                    "\"{}\" (skipped by init)",
                    self.manifest.skipped[index].path
                ),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<'a> Loose<'a> {
    fn new(manifest: &'a Manifest) -> Self {
        let mut trimmed: HashMap<&'a str, Named> = HashMap::new();
        let mut slashed: HashMap<String, Named> = HashMap::new();
        for (target, path) in files(manifest) {
            trimmed
                .entry(path.trim())
                .and_modify(|named| named.add(target))
                .or_insert(Named::One(target));
            slashed
                .entry(with_slashes(path))
                .and_modify(|named| named.add(target))
                .or_insert(Named::One(target));
        }
        Self { trimmed, slashed }
    }
}

/// Every file the manifest lists with its path: the images, then the skipped files.
fn files(manifest: &Manifest) -> impl Iterator<Item = (Target, &str)> {
    let images = manifest
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (Target::Entry(index), entry.path.as_str()));
    let skipped = manifest
        .skipped
        .iter()
        .enumerate()
        .map(|(index, skipped)| (Target::Skipped(index), skipped.path.as_str()));
    images.chain(skipped)
}

/// What one form names, as the lookup's answer; `None` when it names no file.
fn named(found: Option<&Named>, form: &'static str, key: &str) -> Option<Lookup> {
    match found? {
        Named::One(target) => Some(Lookup::Found(*target)),
        Named::Many(targets) => Some(Lookup::Ambiguous {
            form,
            key: key.to_owned(),
            targets: targets.clone(),
        }),
    }
}

/// Form 3 of a path: every `\` turned into `/`, then surrounding whitespace and a leading
/// `./` removed until neither is left (so form 3 of form 3 is itself).
fn with_slashes(path: &str) -> String {
    let turned = path.replace('\\', "/");
    let mut rest = turned.as_str();
    loop {
        let trimmed = rest.trim();
        match trimmed.strip_prefix("./") {
            Some(inner) => rest = inner,
            None => return trimmed.to_owned(),
        }
    }
}

/// A form tried, for the message: its name, and the path in that form when the form
/// changed it (`before` is the path in the form before).
fn form_tried(form: &str, key: &str, before: &str) -> String {
    if key == before {
        form.to_owned()
    } else {
        format!("{form} \"{key}\"")
    }
}

/// The images root as prefixes of paths in form 3: the root `/`-separated with a `/` at
/// the end, and for a Windows verbatim root (`\\?\C:\...`, as `canonicalize` gives) the
/// same without the `\\?\` that people never write. None for a root that is not UTF-8.
fn root_prefixes(root: &Path) -> Vec<String> {
    let Some(root) = root.to_str().filter(|root| !root.is_empty()) else {
        return Vec::new();
    };
    let turned = root.replace('\\', "/");
    let root = turned.trim_end_matches('/');
    let mut prefixes = vec![format!("{root}/")];
    if let Some(share) = root.strip_prefix("//?/UNC/") {
        prefixes.push(format!("//{share}/"));
    } else if let Some(plain) = root.strip_prefix("//?/") {
        prefixes.push(format!("{plain}/"));
    }
    prefixes
}

/// Whether a path in form 3 is absolute (`/...` or `C:/...`), for the message.
fn looks_absolute(path: &str) -> bool {
    matches!(path.as_bytes(), [b'/', ..])
        || matches!(path.as_bytes(), [drive, b':', b'/', ..] if drive.is_ascii_alphabetic())
}

/// Finds the `path` and `label` (or `class`) columns of the header.
fn columns(path: &Path, header: &csv::ByteRecord) -> Result<Columns> {
    let names: Vec<String> = header
        .iter()
        .map(|field| String::from_utf8_lossy(field).trim().to_lowercase())
        .collect();
    let find = |wanted: &str| names.iter().position(|name| name == wanted);
    let found = || format!("its columns are: {}", names.join(", "));
    let Some(path_column) = find("path") else {
        return Err(header_error(path, &found()));
    };
    let label_column = match (find("label"), find("class")) {
        (Some(label), None) => label,
        (None, Some(class)) => class,
        (None, None) => return Err(header_error(path, &found())),
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(format!(
                "{} has both a \"label\" and a \"class\" column: keep one; nothing imported",
                path.display()
            )));
        }
    };
    Ok(Columns {
        path: path_column,
        label: label_column,
        count: names.len(),
    })
}

/// The error for a missing or incomplete header.
fn header_error(path: &Path, found: &str) -> Error {
    Error::Invalid(format!(
        "{}: the first row must be a header naming a \"path\" column and a \"label\" (or \
         \"class\") column, but {found}; nothing imported",
        path.display()
    ))
}

/// A CSV reading error as the crate's error.
fn csv_error(path: &Path, error: csv::Error) -> Error {
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(source) => Error::io("cannot read", path, source),
        _ => Error::Invalid(format!("cannot read {} as CSV: {message}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::manifest::Entry;

    fn manifest(paths: &[&str]) -> Manifest {
        Manifest {
            entries: paths
                .iter()
                .map(|path| Entry {
                    path: (*path).to_string(),
                    bytes: 1,
                    hash: String::new(),
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    fn names() -> Vec<String> {
        ["five", "six", "other"].map(String::from).to_vec()
    }

    fn label(index: usize, path: &str, class: &str, heldout: bool) -> LabelEntry {
        LabelEntry {
            index,
            path: path.into(),
            class: class.into(),
            heldout,
        }
    }

    /// A temporary folder with a label log holding `labels` and a CSV file.
    struct Setup {
        _dir: tempfile::TempDir,
        csv: PathBuf,
        log: LabelLog,
    }

    fn setup(csv: &str, labels: &[LabelEntry]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LabelLog::open(&dir.path().join("labels.jsonl")).unwrap();
        log.append(labels).unwrap();
        let csv_path = dir.path().join("labels.csv");
        fs::write(&csv_path, csv).unwrap();
        Setup {
            _dir: dir,
            csv: csv_path,
            log,
        }
    }

    const POOL: [&str; 5] = ["a.png", "b.png", "sub/c.png", "d.png", "e.png"];

    /// The images root the tests' CSV files write absolute paths under.
    const ROOT: &str = "/data/pool";

    fn root() -> &'static Path {
        Path::new(ROOT)
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_number() {
        let csv = "path,label\n\
                   e.png,five\n\
                   b.png,six\n\
                   nope.png,five\n\
                   sub\\c.png,seven\n\
                   b.png,other\n\
                   a.png,six\n\
                   d.png\n\
                   sub/c.png,  \n\
                   \"multi\nline.png\",five\n\
                   d.png, five ,extra\n\
                   nope2.png,seven\n";
        let logged = [
            label(0, "a.png", "five", false),
            label(4, "e.png", "five", false),
        ];
        let s = setup(csv, &logged);
        match parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false) {
            Err(Error::BadRows { path, rows }) => {
                assert_eq!(path, s.csv);
                assert_eq!(
                    rows,
                    vec![
                        "row 4: unknown path \"nope.png\" (tried: as written, trimmed, with / for \\ \
                         and no leading ./)",
                        "row 5: unknown class \"seven\" (classes: five, six, other)",
                        "row 6: \"b.png\" is also on row 3",
                        "row 7: \"a.png\" is already labelled \"five\" (this row says \"six\")",
                        "row 8: 1 field(s), but the header has 2",
                        "row 10: unknown path \"multi\nline.png\" (tried: as written, trimmed, with / \
                         for \\ and no leading ./)",
                        "row 12: 3 field(s), but the header has 2",
                        "row 13: unknown path \"nope2.png\" (tried: as written, trimmed, with / for \
                         \\ and no leading ./); unknown class \"seven\" (classes: five, six, other)",
                    ]
                );
            }
            other => panic!("expected BadRows, got {other:?}"),
        }
    }

    #[test]
    fn a_good_file_gives_its_labels_in_file_order() {
        // A spreadsheet's export: BOM, CRLF, capitalised header, spaces, backslashes.
        let csv = "\u{feff}Class , note, PATH\r\n six,x, sub\\c.png \r\n\
                   other,,a.png\r\n five ,\"a, b\",d.png\r\n";
        let s = setup(csv, &[label(1, "b.png", "five", false)]);
        let (labels, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false).unwrap();
        assert_eq!(
            labels,
            vec![
                label(2, "sub/c.png", "six", false),
                label(0, "a.png", "other", false),
                label(3, "d.png", "five", false),
            ]
        );
        assert_eq!(
            report,
            ImportReport {
                added: 3,
                already: 0,
                blank: 0
            }
        );
    }

    #[test]
    fn importing_the_same_file_again_adds_nothing() {
        let csv = "path,label\na.png,five\nb.png,six\nd.png,\n";
        let mut s = setup(csv, &[]);
        let (labels, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false).unwrap();
        assert_eq!(
            report,
            ImportReport {
                added: 2,
                already: 0,
                blank: 1
            }
        );
        s.log.append(&labels).unwrap();
        let (again, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false).unwrap();
        assert!(again.is_empty());
        assert_eq!(
            report,
            ImportReport {
                added: 0,
                already: 2,
                blank: 1
            }
        );
    }

    #[test]
    fn blank_labels_are_counted_and_skipped_whatever_the_path() {
        let csv = "path,label\na.png,\nunknown.png,   \n,\nb.png,six\n";
        let s = setup(csv, &[]);
        let (labels, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false).unwrap();
        assert_eq!(labels, vec![label(1, "b.png", "six", false)]);
        assert_eq!(
            report,
            ImportReport {
                added: 1,
                already: 0,
                blank: 3
            }
        );
    }

    #[test]
    fn the_next_csv_layout_imports_once_filled_in() {
        let csv = "path,score,suggestion,label\n\
                   d.png,0.91,five,five\n\
                   a.png,0.5,six,\n\
                   sub/c.png,,,other\n";
        let s = setup(csv, &[]);
        let (labels, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false).unwrap();
        assert_eq!(
            labels,
            vec![
                label(3, "d.png", "five", false),
                label(2, "sub/c.png", "other", false)
            ]
        );
        assert_eq!(
            report,
            ImportReport {
                added: 2,
                already: 0,
                blank: 1
            }
        );
    }

    #[test]
    fn held_out_labels_are_checked_against_the_held_out_log() {
        let logged = [
            label(0, "a.png", "five", false),
            label(0, "a.png", "six", true),
        ];
        let s = setup("path,label\na.png,six\n", &logged);
        let (labels, report) =
            parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, true).unwrap();
        assert!(labels.is_empty());
        assert_eq!(report.already, 1);
        let s = setup("path,label\na.png,six\nb.png,five\n", &logged[..1]);
        let (labels, _) = parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, true).unwrap();
        assert_eq!(
            labels,
            vec![
                label(0, "a.png", "six", true),
                label(1, "b.png", "five", true)
            ]
        );
    }

    #[test]
    fn a_header_without_the_needed_columns_is_one_error() {
        for (csv, wanted) in [
            ("file,label\na.png,five\n", "its columns are: file, label"),
            ("path,score\na.png,0.5\n", "its columns are: path, score"),
            ("", "the file is empty"),
            (
                "path,label,class\na.png,five,six\n",
                "both a \"label\" and a \"class\" column",
            ),
        ] {
            let s = setup(csv, &[]);
            match parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false) {
                Err(Error::Invalid(message)) => {
                    assert!(message.contains(wanted), "{message}");
                    assert!(message.contains("nothing imported"), "{message}");
                }
                other => panic!("expected Invalid for {csv:?}, got {other:?}"),
            }
        }
        let s = setup("path,label\n", &[]);
        let missing = s.csv.with_file_name("missing.csv");
        assert!(matches!(
            parse(&missing, &manifest(&POOL), root(), &names(), &s.log, false),
            Err(Error::Io { .. })
        ));
    }

    /// The exact CSV's rows as a spreadsheet or another tool may write them.
    #[test]
    fn loosely_written_paths_import_the_same_labels_as_exact_ones() {
        let rows = [("a.png", "five"), ("sub/c.png", "six"), ("e.png", "other")];
        let csv_of = |path_of: &dyn Fn(&str) -> String| {
            let mut text = String::from("path,label\n");
            for (path, class) in rows {
                text += &format!("{},{class}\n", path_of(path));
            }
            text
        };
        let exact = setup(&csv_of(&|path: &str| path.to_owned()), &[]);
        let wanted = parse(
            &exact.csv,
            &manifest(&POOL),
            root(),
            &names(),
            &exact.log,
            false,
        )
        .unwrap();
        assert_eq!(wanted.0.len(), 3);
        assert_eq!(wanted.0[1], label(2, "sub/c.png", "six", false));
        for (what, text) in [
            (
                "trailing spaces",
                csv_of(&|path: &str| format!("{path}  \t")),
            ),
            (
                "./ and backslashes",
                csv_of(&|path: &str| format!(".\\{}", path.replace('/', "\\"))),
            ),
            ("./", csv_of(&|path: &str| format!("././{path}"))),
            ("absolute", csv_of(&|path: &str| format!("{ROOT}/{path}"))),
            (
                "absolute with backslashes",
                csv_of(&|path: &str| format!("{ROOT}/{path}").replace('/', "\\")),
            ),
            (
                "absolute, padded, with ./",
                csv_of(&|path: &str| format!(" {ROOT}/./{path} ")),
            ),
        ] {
            let s = setup(&text, &[]);
            let got = parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false);
            assert_eq!(got.as_ref().ok(), Some(&wanted), "{what}: {got:?}");
        }

        // Two ways of writing one image are still one image twice.
        let s = setup("path,label\nb.png,six\n.\\b.png,six\n", &[]);
        match parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false) {
            Err(Error::BadRows { rows, .. }) => {
                assert_eq!(rows, vec!["row 3: \"b.png\" is also on row 2"]);
            }
            other => panic!("expected BadRows, got {other:?}"),
        }
    }

    #[test]
    fn windows_roots_are_stripped_with_or_without_the_verbatim_prefix() {
        for (root, written) in [
            (r"C:\data\pool", r"C:\data\pool\sub\c.png"),
            (r"\\?\C:\data\pool\", r"C:\data\pool\sub\c.png"),
            (r"\\?\C:\data\pool", "C:/data/pool/sub/c.png"),
            (
                r"\\?\UNC\server\share\pool",
                r"\\server\share\pool\sub\c.png",
            ),
            ("/", "/sub/c.png"),
        ] {
            let s = setup(&format!("path,label\n{written},six\n"), &[]);
            let got = parse(
                &s.csv,
                &manifest(&POOL),
                Path::new(root),
                &names(),
                &s.log,
                false,
            );
            let labels = got.map(|(labels, _)| labels);
            assert_eq!(
                labels.as_ref().ok(),
                Some(&vec![label(2, "sub/c.png", "six", false)]),
                "{root}: {labels:?}"
            );
        }
    }

    #[test]
    fn an_unknown_path_is_named_as_written_with_its_row_and_the_forms_tried() {
        let csv = concat!(
            "path,label\n",
            "a.png,five\n",
            " .\\sub\\nope.png ,six\n",
            "/data/pool/zz.png,six\n",
            "/elsewhere/a.png,six\n",
            "D:\\pool\\a.png,six\n",
        );
        let s = setup(csv, &[]);
        match parse(&s.csv, &manifest(&POOL), root(), &names(), &s.log, false) {
            Err(Error::BadRows { path, rows }) => {
                assert_eq!(path, s.csv);
                assert_eq!(
                    rows,
                    vec![
                        "row 3: unknown path \" .\\sub\\nope.png \" (tried: as written, trimmed \
                         \".\\sub\\nope.png\", with / for \\ and no leading ./ \"sub/nope.png\")",
                        "row 4: unknown path \"/data/pool/zz.png\" (tried: as written, trimmed, \
                         with / for \\ and no leading ./, relative to the images root \"zz.png\")",
                        "row 5: unknown path \"/elsewhere/a.png\" (tried: as written, trimmed, \
                         with / for \\ and no leading ./, not under the images root \
                         \"/data/pool\")",
                        "row 6: unknown path \"D:\\pool\\a.png\" (tried: as written, trimmed, \
                         with / for \\ and no leading ./ \"D:/pool/a.png\", not under the images \
                         root \"/data/pool\")",
                    ]
                );
            }
            other => panic!("expected BadRows, got {other:?}"),
        }
    }

    #[test]
    fn a_form_that_names_several_files_is_an_error_not_a_guess() {
        use crate::manifest::Skipped;

        // File names a person cannot tell apart once trimmed or slashed; a file init
        // skipped counts as a file.
        let mut pool = manifest(&["a.png", " a.png", "sub/c.png", "sub\\c.png", "x.png"]);
        pool.skipped.push(Skipped {
            path: "x.png ".into(),
            reason: "cannot decode".into(),
        });
        let csv = concat!(
            "path,label\n",
            "sub\\c.png,six\n",
            "a.png  ,five\n",
            "./sub/c.png,six\n",
            "/data/pool/sub\\c.png,six\n",
            "x.png ,other\n",
            " x.png,other\n",
            "x.png,other\n",
        );
        let s = setup(csv, &[]);
        match parse(&s.csv, &pool, root(), &names(), &s.log, false) {
            Err(Error::BadRows { rows, .. }) => assert_eq!(
                rows,
                vec![
                    "row 3: ambiguous path \"a.png  \" (trimmed \"a.png\" names 2 files: \
                     \"a.png\", \" a.png\")",
                    "row 4: ambiguous path \"./sub/c.png\" (with / for \\ and no leading ./ \
                     \"sub/c.png\" names 2 files: \"sub/c.png\", \"sub\\c.png\")",
                    "row 5: ambiguous path \"/data/pool/sub\\c.png\" (relative to the images \
                     root \"sub/c.png\" names 2 files: \"sub/c.png\", \"sub\\c.png\")",
                    "row 6: path \"x.png \" is not in the pool: init skipped \"x.png \" (cannot \
                     decode)",
                    "row 7: ambiguous path \" x.png\" (trimmed \"x.png\" names 2 files: \
                     \"x.png\", \"x.png \" (skipped by init))",
                ]
            ),
            other => panic!("expected BadRows, got {other:?}"),
        }

        // Paths as written are never ambiguous.
        let s = setup(
            "path,label\nsub\\c.png,six\nx.png,other\n a.png,five\n",
            &[],
        );
        let (labels, _) = parse(&s.csv, &pool, root(), &names(), &s.log, false).unwrap();
        assert_eq!(
            labels,
            vec![
                label(3, "sub\\c.png", "six", false),
                label(4, "x.png", "other", false),
                label(1, " a.png", "five", false),
            ]
        );
    }

    /// The committed fixture: its images scan, and its truth files import whole.
    #[test]
    fn the_label_mini_fixture_scans_and_its_truth_imports() {
        use crate::manifest::{Geometry, scan};

        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/label-mini");
        let gray = Geometry {
            side: 28,
            channels: 1,
        };
        let (pool, images) = scan(&fixture.join("images"), gray, &mut |_, _| {}).unwrap();
        assert_eq!(images.shape(), &[400, 1, 28, 28]);
        assert_eq!(pool.entries[0].path, "img-000.png");
        assert_eq!(pool.entries[399].path, "img-399.png");
        let skipped: Vec<&str> = pool.skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(skipped, vec!["broken.png", "notes.txt"]);
        // 28×28 images are not resized: the array holds the PNG's pixels.
        let first = image::open(fixture.join("images/img-000.png"))
            .unwrap()
            .into_luma8();
        assert_eq!(
            images
                .slice(ndarray::s![0, 0, .., ..])
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            first.into_raw()
        );

        let dir = tempfile::tempdir().unwrap();
        let log = LabelLog::open(&dir.path().join("labels.jsonl")).unwrap();
        let (labels, report) = parse(
            &fixture.join("truth.csv"),
            &pool,
            &fixture.join("images"),
            &names(),
            &log,
            false,
        )
        .unwrap();
        assert_eq!(report.added, 400);
        let count = |class: &str| labels.iter().filter(|l| l.class == class).count();
        assert_eq!((count("five"), count("six"), count("other")), (20, 20, 360));
        assert!(labels.iter().enumerate().all(|(i, l)| l.index == i));

        let (heldout, _) = scan(&fixture.join("heldout"), gray, &mut |_, _| {}).unwrap();
        assert_eq!(heldout.entries.len(), 40);
        let (labels, _) = parse(
            &fixture.join("heldout-truth.csv"),
            &heldout,
            &fixture.join("heldout"),
            &names(),
            &log,
            true,
        )
        .unwrap();
        assert_eq!(
            (count_of(&labels, "five"), count_of(&labels, "six")),
            (10, 10)
        );
        assert!(labels.iter().all(|l| l.heldout));

        let (examples, _) = scan(&fixture.join("examples"), gray, &mut |_, _| {}).unwrap();
        let paths: Vec<&str> = examples.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths[..2], ["five-0.png", "five-1.png"]);
        assert_eq!(paths.len(), 10);
    }

    /// Generated CSV rows: (kind, pool image, class, whether padded with spaces and
    /// `\`), kind 0-1 a good label, 2 blank, 3 an unknown path, 4 an unknown class,
    /// 5 a missing field.
    fn row_specs() -> impl proptest::strategy::Strategy<Value = Vec<(u8, usize, usize, bool)>> {
        proptest::collection::vec((0u8..6, 0usize..5, 0usize..3, proptest::bool::ANY), 0..14)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Against a row-by-row oracle: exactly the bad rows are reported (by line), and
        /// a file without bad rows gives exactly the new labels and the right counts.
        #[test]
        fn exactly_the_bad_rows_are_reported(
            specs in row_specs(),
        ) {
            let pool = manifest(&POOL);
            let classes = names();
            let logged = [label(0, "a.png", "five", false), label(2, "sub/c.png", "other", false)];
            let mut csv = String::from("path,label\n");
            for &(kind, image, class, padded) in &specs {
                let path = match kind {
                    3 => format!("zz{image}.png"),
                    _ => POOL[image].to_string(),
                };
                let path = if padded { format!(" {} ", path.replace('/', "\\")) } else { path };
                let class = match kind {
                    2 => "  ".to_string(),
                    4 => "seven".to_string(),
                    _ => classes[class].clone(),
                };
                let class = if padded { format!("\t{class} ") } else { class };
                if kind == 5 {
                    csv += &format!("{path}\n");
                } else {
                    csv += &format!("{path},{class}\n");
                }
            }

            // The oracle: each row on its own line (line = position + 2).
            let mut bad = Vec::new();
            let mut expected = Vec::new();
            let mut report = ImportReport::default();
            let mut seen = std::collections::HashSet::new();
            for (position, &(kind, image, class, _)) in specs.iter().enumerate() {
                let line = position + 2;
                match kind {
                    5 => bad.push(line),
                    2 => report.blank += 1,
                    3 => bad.push(line),
                    _ => {
                        let first = seen.insert(image);
                        let known_class = kind != 4;
                        let logged = logged.iter().find(|l| l.index == image);
                        let conflict =
                            known_class && logged.is_some_and(|l| l.class != classes[class]);
                        if !first || !known_class || conflict {
                            bad.push(line);
                        } else if logged.is_some() {
                            report.already += 1;
                        } else {
                            expected.push(label(image, POOL[image], &classes[class], false));
                        }
                    }
                }
            }
            report.added = expected.len();

            let s = setup(&csv, &logged);
            match parse(&s.csv, &pool, root(), &classes, &s.log, false) {
                Ok((labels, got)) => {
                    proptest::prop_assert!(bad.is_empty(), "bad rows {bad:?} not reported");
                    proptest::prop_assert_eq!(labels, expected);
                    proptest::prop_assert_eq!(got, report);
                }
                Err(Error::BadRows { rows, .. }) => {
                    let numbers: Vec<usize> = rows
                        .iter()
                        .map(|row| row["row ".len()..].split(':').next().unwrap().parse().unwrap())
                        .collect();
                    proptest::prop_assert_eq!(numbers, bad);
                }
                Err(other) => proptest::prop_assert!(false, "unexpected error {other}"),
            }
        }
    }

    fn count_of(labels: &[LabelEntry], class: &str) -> usize {
        labels.iter().filter(|l| l.class == class).count()
    }
}
