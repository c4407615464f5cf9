//! Importing labels from a CSV file: every row validated, all applied or none.
//!
//! The file needs a header row naming a `path` column and a `label` (or `class`)
//! column; other columns are ignored, so the CSV `tdal label next` writes (`path`,
//! `score`, `suggestion`, `label`) can be filled in and read back. Every row is checked
//! before anything is returned, and every bad row is reported with its line number, so a
//! person fixes the whole file in one pass instead of one error per run.

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
/// Paths are matched against `manifest` after trimming whitespace and turning `\` into
/// `/`; labels must be one of `names` exactly, after trimming whitespace. A row is bad
/// when its path is unknown, its class is unknown, its image is also on an earlier row,
/// its image is already labelled in `log` with another class (`heldout` chooses which
/// labels of the log), or it has not as many fields as the header. Rows with an empty
/// label are counted as blank and skipped; rows whose label is already in the log are
/// counted and skipped.
///
/// The returned labels have `index` from `manifest`, `path` as in the manifest and
/// `heldout` as given; they are in file order.
///
/// # Errors
/// [`Error::BadRows`] with one line per bad row ("row N: ...", N the line of the file,
/// the header being line 1) when any row is bad; [`Error::Invalid`] when the header has
/// no `path` or no `label`/`class` column (or both of the latter); [`Error::Io`] or
/// [`Error::Invalid`] when the file cannot be read as CSV.
pub fn parse(
    path: &Path,
    manifest: &Manifest,
    names: &[String],
    log: &LabelLog,
    heldout: bool,
) -> Result<(Vec<LabelEntry>, ImportReport)> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let index_of = manifest.index_map();
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
        let wanted = path_cell.trim().replace('\\', "/");

        let mut problems = Vec::new();
        let index = index_of.get(wanted.as_str()).copied();
        if index.is_none() {
            problems.push(format!("unknown path \"{wanted}\""));
        }
        let known_class = names.iter().any(|name| name == class);
        if !known_class {
            problems.push(format!(
                "unknown class \"{class}\" (classes: {})",
                names.join(", ")
            ));
        }
        let mut already = false;
        if let Some(index) = index {
            if let Some(&first) = first_row.get(&index) {
                problems.push(format!("\"{wanted}\" is also on row {first}"));
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
                        "\"{wanted}\" is already labelled \"{}\" (this row says \"{class}\")",
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
                        path: wanted,
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
        match parse(&s.csv, &manifest(&POOL), &names(), &s.log, false) {
            Err(Error::BadRows { path, rows }) => {
                assert_eq!(path, s.csv);
                assert_eq!(
                    rows,
                    vec![
                        "row 4: unknown path \"nope.png\"",
                        "row 5: unknown class \"seven\" (classes: five, six, other)",
                        "row 6: \"b.png\" is also on row 3",
                        "row 7: \"a.png\" is already labelled \"five\" (this row says \"six\")",
                        "row 8: 1 field(s), but the header has 2",
                        "row 10: unknown path \"multi\nline.png\"",
                        "row 12: 3 field(s), but the header has 2",
                        "row 13: unknown path \"nope2.png\"; unknown class \"seven\" (classes: five, \
                         six, other)",
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
        let (labels, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, false).unwrap();
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
        let (labels, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, false).unwrap();
        assert_eq!(
            report,
            ImportReport {
                added: 2,
                already: 0,
                blank: 1
            }
        );
        s.log.append(&labels).unwrap();
        let (again, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, false).unwrap();
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
        let (labels, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, false).unwrap();
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
        let (labels, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, false).unwrap();
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
        let (labels, report) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, true).unwrap();
        assert!(labels.is_empty());
        assert_eq!(report.already, 1);
        let s = setup("path,label\na.png,six\nb.png,five\n", &logged[..1]);
        let (labels, _) = parse(&s.csv, &manifest(&POOL), &names(), &s.log, true).unwrap();
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
            match parse(&s.csv, &manifest(&POOL), &names(), &s.log, false) {
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
            parse(&missing, &manifest(&POOL), &names(), &s.log, false),
            Err(Error::Io { .. })
        ));
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
        let (labels, report) =
            parse(&fixture.join("truth.csv"), &pool, &names(), &log, false).unwrap();
        assert_eq!(report.added, 400);
        let count = |class: &str| labels.iter().filter(|l| l.class == class).count();
        assert_eq!((count("five"), count("six"), count("other")), (20, 20, 360));
        assert!(labels.iter().enumerate().all(|(i, l)| l.index == i));

        let (heldout, _) = scan(&fixture.join("heldout"), gray, &mut |_, _| {}).unwrap();
        assert_eq!(heldout.entries.len(), 40);
        let (labels, _) = parse(
            &fixture.join("heldout-truth.csv"),
            &heldout,
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
            match parse(&s.csv, &pool, &classes, &s.log, false) {
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
