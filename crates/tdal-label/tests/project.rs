//! A labelling project driven by a scripted person on the `label-mini` fixture (smoke
//! profile): the labels and records equal those of the loop driven by a simulated oracle
//! on the same task, restarts re-propose the same batch, bad submissions change nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tdal_label::{Error, InitOptions, Project};
use tdal_loop::{
    Acquired, DeviceChoice, Oracle, Profile, RunConfig, RunOptions, Silent, parts::Parts,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/label-mini")
}

/// `path → class` of a truth CSV.
fn truth(file: &str) -> HashMap<String, String> {
    truth_rows(file).into_iter().collect()
}

fn options(heldout: bool) -> InitOptions {
    let mut config = RunConfig::preset(Profile::Smoke);
    config.active.budget = 40;
    config.active.batch_size = 10;
    InitOptions {
        images: fixture().join("images"),
        classes: vec!["five".into(), "six".into()],
        other_name: "other".into(),
        examples: Some(fixture().join("examples")),
        heldout: heldout.then(|| fixture().join("heldout")),
        side: 28,
        channels: 1,
        seed: 3,
        initial: 10,
        config,
    }
}

fn init(dir: &Path, opts: &InitOptions) -> Project {
    Project::init(dir, opts, &mut |_, _, _| {}).unwrap();
    Project::open(dir, DeviceChoice::Cpu).unwrap()
}

/// Labels every proposed batch from the truth until the budget is spent; returns the
/// project and the batches as proposed. With `restart`, the project is closed and
/// reopened while every other batch waits for its labels (a person stopping the server
/// mid-batch: the reopened project must go on exactly as if nothing happened).
fn label_all(
    mut project: Project,
    dir: &Path,
    truth: &HashMap<String, String>,
    restart: bool,
) -> (Project, Vec<Vec<usize>>) {
    let mut batches = Vec::new();
    while let Some(proposal) = project.proposal(&mut Silent).unwrap() {
        if restart && batches.len() % 2 == 1 {
            drop(project);
            project = Project::open(dir, DeviceChoice::Cpu).unwrap();
        }
        let labels: Vec<(usize, String)> = proposal
            .items
            .iter()
            .map(|item| (item.index, truth[&item.path].clone()))
            .collect();
        assert_eq!(
            project.submit(proposal.batch, &labels).unwrap(),
            labels.len()
        );
        batches.push(proposal.items.iter().map(|i| i.index).collect());
    }
    (project, batches)
}

/// Labels the first (random) batch from the truth; returns its labels.
fn label_first_batch(
    project: &mut Project,
    truth: &HashMap<String, String>,
) -> Vec<(usize, String)> {
    let first = project.proposal(&mut Silent).unwrap().unwrap();
    assert_eq!(first.batch, 0);
    let labels: Vec<(usize, String)> = first
        .items
        .iter()
        .map(|i| (i.index, truth[&i.path].clone()))
        .collect();
    project.submit(0, &labels).unwrap();
    labels
}

/// An oracle answering from the truth by pool index.
struct Truth {
    labels: Vec<(u32, String)>,
}

impl Oracle for Truth {
    fn label(&mut self, indices: &[usize]) -> tdal_loop::Result<Vec<Acquired>> {
        Ok(indices
            .iter()
            .map(|&index| Acquired {
                index,
                label: self.labels[index].0,
                source: "project".into(),
                class: self.labels[index].1.clone(),
            })
            .collect())
    }
}

#[test]
fn a_person_labelling_every_batch_with_restarts_gets_the_simulated_loops_records() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(true);
    let dir = tmp.path().join("p");
    let mut project = init(&dir, &opts);
    let truth_pool = truth("truth.csv");
    let truth_heldout = truth("heldout-truth.csv");
    let heldout_csv = fixture().join("heldout-truth.csv");
    let report = project.import(&heldout_csv, true).unwrap();
    assert_eq!(report.added, truth_heldout.len());
    // Rounds 0 and 2 retrain TD-SPLIT: a restart while their batches wait must go on
    // from the retrained encoder.
    let (project, batches) = label_all(project, &dir, &truth_pool, true);
    assert_eq!(
        batches.len(),
        4,
        "a first batch of 10, then 3 batches of 10"
    );
    let status = project.status().unwrap();
    assert_eq!(status.labelled, 40);
    assert!(status.finished);
    assert_eq!(status.counts.iter().map(|c| c.count).sum::<usize>(), 40);
    assert_eq!(status.curve.len(), 4, "one held-out accuracy per round");

    // The same task driven by a simulated oracle through the loop's own driver.
    let task = project.task().unwrap();
    let settings = project.settings().clone();
    let labels: Vec<(u32, String)> = project
        .manifest()
        .entries
        .iter()
        .map(|e| {
            let class = truth_pool[&e.path].clone();
            (settings.label_of(&class).unwrap(), class)
        })
        .collect();
    let out = tmp.path().join("runs");
    let run_opts = RunOptions {
        out: out.clone(),
        cache_dir: out.join("cache"),
        resume: false,
        device: DeviceChoice::Cpu,
    };
    let cfg = project.config().clone();
    let parts = Parts::from_config(&cfg, &task, &run_opts).unwrap();
    let summary = tdal_loop::run_task(
        &cfg,
        &run_opts,
        &task,
        parts,
        &mut Truth { labels },
        &mut Silent,
    )
    .unwrap();
    let simulated = tdal_loop::record::read_rounds(&out.join(summary.run_id)).unwrap();
    let labelled = tdal_loop::record::read_rounds(&tmp.path().join("p/session")).unwrap();
    assert_eq!(simulated.len(), labelled.len());
    for (a, b) in simulated.iter().zip(&labelled) {
        assert_eq!(a.acquired, b.acquired, "round {}", a.round);
        assert_eq!(a.accuracy, b.accuracy, "round {}", a.round);
        assert_eq!(a.n_labelled, b.n_labelled);
    }
    assert_eq!(
        batches[1..],
        simulated[..3]
            .iter()
            .map(|r| r.acquired.iter().map(|a| a.index).collect::<Vec<_>>())
            .collect::<Vec<_>>()[..]
    );
}

#[test]
fn a_restarted_project_proposes_the_same_batch_and_keeps_every_label() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    // Without example images: EPIG's targets are the labelled fives and sixes.
    let opts = InitOptions {
        examples: None,
        ..options(false)
    };
    let truth_pool = truth("truth.csv");
    let mut project = init(&dir, &opts);
    // Label the first batch (it carries no suggestions: no model yet), then get the
    // second proposal. Re-proposing returns the same batch.
    let first = project.proposal(&mut Silent).unwrap().unwrap();
    assert!(first.items.iter().all(|i| i.suggestion.is_none()));
    label_first_batch(&mut project, &truth_pool);
    let second = project.proposal(&mut Silent).unwrap().unwrap();
    assert_eq!(second.batch, 1);
    assert!(second.items.iter().all(|i| i.suggestion.is_some()));
    assert!(
        second.items.iter().all(|i| i.score.is_some()),
        "EPIG scores each point"
    );
    // Half of it labelled, then the process "dies".
    let half: Vec<(usize, String)> = second.items[..5]
        .iter()
        .map(|i| (i.index, truth_pool[&i.path].clone()))
        .collect();
    project.submit(1, &half).unwrap();
    drop(project);

    let mut reopened = Project::open(&dir, DeviceChoice::Cpu).unwrap();
    assert_eq!(reopened.labels().len(), 15);
    let again = reopened.proposal(&mut Silent).unwrap().unwrap();
    assert_eq!(again.batch, 1);
    let indices = |p: &tdal_label::Proposal| p.items.iter().map(|i| i.index).collect::<Vec<_>>();
    assert_eq!(indices(&again), indices(&second));
    assert_eq!(
        again.items.iter().filter(|i| i.label.is_some()).count(),
        5,
        "the saved half shows as labelled"
    );
    // Stale, foreign and unknown submissions change nothing.
    let before = reopened.labels().len();
    let rest: Vec<(usize, String)> = again.items[5..]
        .iter()
        .map(|i| (i.index, truth_pool[&i.path].clone()))
        .collect();
    assert!(matches!(reopened.submit(0, &rest), Err(Error::Stale(_))));
    let outside = (0..400).find(|i| !indices(&again).contains(i)).unwrap();
    assert!(matches!(
        reopened.submit(1, &[(outside, "five".into())]),
        Err(Error::Invalid(_))
    ));
    let unknown = vec![(again.items[6].index, "seven".to_owned())];
    assert!(matches!(
        reopened.submit(1, &unknown),
        Err(Error::Invalid(_))
    ));
    let conflicting = vec![(again.items[0].index, {
        let class = &truth_pool[&again.items[0].path];
        if class == "five" { "six" } else { "five" }.to_owned()
    })];
    assert!(matches!(
        reopened.submit(1, &conflicting),
        Err(Error::Invalid(_))
    ));
    assert_eq!(reopened.labels().len(), before);
    assert_eq!(reopened.submit(1, &rest).unwrap(), 5);
    assert_eq!(reopened.proposal(&mut Silent).unwrap().unwrap().batch, 2);
}

#[test]
fn a_second_process_cannot_open_an_open_project_but_can_read_its_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let project = init(&dir, &options(false));
    assert!(matches!(
        Project::open(&dir, DeviceChoice::Cpu),
        Err(Error::Locked(_))
    ));
    let status = Project::status_unlocked(&dir).unwrap();
    assert_eq!(status.pool, 400);
    assert_eq!(status.skipped, 2, "notes.txt and broken.png");
    assert_eq!(status.labelled, 0);
    drop(project);
}

#[test]
fn init_rejects_bad_options_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |opts: InitOptions, needle: &str| {
        let dir = tmp.path().join(format!("p{}", needle.len()));
        let err = Project::init(&dir, &opts, &mut |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
        assert!(!dir.join("project.json").exists());
    };
    let mut o = options(false);
    o.classes = vec!["five".into(), "five".into()];
    check(o, "given twice");
    let mut o = options(false);
    o.classes = vec!["other".into()];
    check(o, "given twice");
    let mut o = options(false);
    o.config.active.budget = 1000;
    check(o, "budget");
    let mut o = options(false);
    o.config = o
        .config
        .with_method(None, Some(tdal_loop::AcquisitionKind::Galaxy));
    check(o, "GALAXY");
    let mut o = options(false);
    o.images = tmp.path().join("missing");
    check(o, "--images");
    // Held-out images inside the images folder, or around it, would be proposed.
    let mut o = options(true);
    o.heldout = Some(fixture().join("images/."));
    check(o, "overlap");
    let mut o = options(true);
    o.images = fixture();
    check(o, "overlap");
    // A project folder that is not empty.
    let full = tmp.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let err = Project::init(&full, &options(false), &mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn an_image_replaced_after_init_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    for entry in std::fs::read_dir(fixture().join("images")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), images.join(entry.file_name())).unwrap();
    }
    let opts = InitOptions {
        images: images.clone(),
        ..options(false)
    };
    let project = init(&tmp.path().join("p"), &opts);
    let store = project.images();
    let (first, second) = (
        &project.manifest().entries[0],
        &project.manifest().entries[1],
    );
    let (bytes, media) = store.read(0).unwrap();
    assert_eq!(media, "image/png");
    assert_eq!(bytes, std::fs::read(images.join(&first.path)).unwrap());
    // Same size, other content; then a link in place of a file.
    let mut other = bytes.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    std::fs::write(images.join(&first.path), &other).unwrap();
    assert!(matches!(store.read(0), Err(Error::Changed(_))));
    std::fs::remove_file(images.join(&second.path)).unwrap();
    std::os::unix::fs::symlink(images.join(&first.path), images.join(&second.path)).unwrap();
    assert!(matches!(store.read(1), Err(Error::Changed(_))));
    assert!(matches!(store.read(400), Err(Error::Invalid(_))));
}

#[test]
fn an_export_while_a_batch_waits_writes_the_encoder_that_proposed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let truth_pool = truth("truth.csv");
    let mut project = init(&dir, &options(false));
    label_first_batch(&mut project, &truth_pool);
    // Round 0 retrains TD-SPLIT, then proposes batch 1, which waits for its labels
    // while the server restarts.
    assert_eq!(project.proposal(&mut Silent).unwrap().unwrap().batch, 1);
    drop(project);
    let mut project = Project::open(&dir, DeviceChoice::Cpu).unwrap();
    let out = tmp.path().join("export");
    project.export(&out, &mut Silent).unwrap();
    let checkpoint = dir.join("session/state/round-0000/representation/model.safetensors");
    let exported = std::fs::read(out.join("encoder/model.safetensors")).unwrap();
    assert!(
        exported == std::fs::read(checkpoint).unwrap(),
        "the retrained encoder of the waiting round, not the pretrained one"
    );
}

#[test]
fn export_writes_the_labelled_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let truth_pool = truth("truth.csv");
    let mut project = init(&dir, &options(false));
    let labels = label_first_batch(&mut project, &truth_pool);
    let out = tmp.path().join("export");
    let report = project.export(&out, &mut Silent).unwrap();
    assert_eq!(report.labelled, 10);
    assert_eq!(report.model_labels, Some(10));
    assert!(report.head && !report.removed_stale_head);
    assert_eq!(report.heldout, 0);
    // The model: the encoder's weights and the forest fitted on the 10 labels, which
    // reads back and predicts the three classes.
    assert!(out.join("encoder/model.safetensors").is_file());
    assert!(out.join("encoder/config.json").is_file());
    let forest =
        tdal_heads::RandomForest::from_bytes(&std::fs::read(out.join("head.bin")).unwrap())
            .unwrap();
    assert_eq!(forest.n_classes(), Some(3));
    assert!(forest.tree_sizes().iter().all(|&nodes| nodes >= 1));
    let images: ndarray::Array4<u8> = ndarray_npy::read_npy(out.join("images.npy")).unwrap();
    assert_eq!(images.shape(), &[10, 1, 28, 28]);
    let pool = project.pool_images().unwrap();
    assert_eq!(
        images.index_axis(ndarray::Axis(0), 0),
        pool.index_axis(ndarray::Axis(0), labels[0].0)
    );
    let exported: ndarray::Array1<u32> = ndarray_npy::read_npy(out.join("labels.npy")).unwrap();
    let expected: Vec<u32> = labels
        .iter()
        .map(|(_, c)| project.settings().label_of(c).unwrap())
        .collect();
    assert_eq!(exported.to_vec(), expected);
    let csv = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert_eq!(csv.lines().count(), 11);
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "other\nfive\nsix\n"
    );
}

/// The first batch labelled, batch 1 proposed and its labels imported from a CSV (as
/// `tdal label next` + `import` do); the project is closed.
fn import_second_batch(dir: &Path, csv: &Path, truth_pool: &HashMap<String, String>) {
    let mut project = init(dir, &options(false));
    label_first_batch(&mut project, truth_pool);
    let second = project.proposal(&mut Silent).unwrap().unwrap();
    assert_eq!(second.batch, 1);
    let mut text = String::from("path,label\n");
    for item in &second.items {
        text.push_str(&format!("{},{}\n", item.path, truth_pool[&item.path]));
    }
    std::fs::write(csv, text).unwrap();
    assert_eq!(project.import(csv, false).unwrap().added, 10);
}

#[test]
fn export_fits_the_model_on_the_last_imported_batch_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let truth_pool = truth("truth.csv");
    import_second_batch(&dir, &tmp.path().join("batch1.csv"), &truth_pool);
    // `status` counts the imported batch before the loop has it.
    let status = Project::status_unlocked(&dir).unwrap();
    assert_eq!(status.labelled, 20);
    assert_eq!(status.batches.len(), 2, "{:?}", status.batches);
    assert_eq!(status.batches[1].batch, 1);
    assert_eq!(status.batches[1].labelled, 10);
    assert!(!status.finished, "20 of 40 labels");

    // A new process exports without asking for the next batch first.
    let mut project = Project::open(&dir, DeviceChoice::Cpu).unwrap();
    let out = tmp.path().join("export");
    let report = project.export(&out, &mut Silent).unwrap();
    assert_eq!(report.labelled, 20);
    assert_eq!(
        report.model_labels,
        Some(20),
        "the head is fitted on the imported batch"
    );
    assert!(report.head);
    let rounds = tdal_loop::record::read_rounds(&dir.join("session")).unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(
        rounds[0].acquired.len(),
        10,
        "the batch was handed to the loop"
    );
    let status = project.status().unwrap();
    assert_eq!(status.labelled, 20);
    assert_eq!(status.batches.len(), 2);
    // Exporting again into the same folder overwrites the earlier export.
    let again = project.export(&out, &mut Silent).unwrap();
    assert_eq!(again.model_labels, Some(20));
    let labels: ndarray::Array1<u32> = ndarray_npy::read_npy(out.join("labels.npy")).unwrap();
    assert_eq!(labels.len(), 20);
    // The loop goes on with batch 2.
    assert_eq!(project.proposal(&mut Silent).unwrap().unwrap().batch, 2);
}

#[test]
fn export_refuses_a_folder_that_holds_other_files_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let truth_pool = truth("truth.csv");
    let mut project = init(&dir, &options(false));
    label_first_batch(&mut project, &truth_pool);
    let out = tmp.path().join("mine");
    std::fs::create_dir_all(out.join("encoder")).unwrap();
    std::fs::write(out.join("encoder/weights.bin"), b"mine").unwrap();
    std::fs::write(out.join("labels.csv"), b"mine").unwrap();
    let err = project.export(&out, &mut Silent).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    // A classes.txt of other classes is not this project's export either.
    std::fs::write(out.join("classes.txt"), b"cat\ndog\n").unwrap();
    assert!(matches!(
        project.export(&out, &mut Silent),
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        std::fs::read(out.join("encoder/weights.bin")).unwrap(),
        b"mine"
    );
    assert_eq!(std::fs::read(out.join("labels.csv")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read(out.join("classes.txt")).unwrap(),
        b"cat\ndog\n"
    );
    assert!(!out.join("images.npy").exists());
    // An empty folder is fine, and so is exporting into it again.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    assert_eq!(project.export(&fresh, &mut Silent).unwrap().labelled, 10);
    assert_eq!(project.export(&fresh, &mut Silent).unwrap().labelled, 10);
    assert!(fresh.join("head.bin").is_file());
}

#[test]
fn export_writes_the_held_out_labels_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let mut project = init(&dir, &options(true));
    let truth_heldout = truth("heldout-truth.csv");
    project
        .import(&fixture().join("heldout-truth.csv"), true)
        .unwrap();
    let out = tmp.path().join("export");
    // No pool label yet: the labelled sets only, no model.
    let report = project.export(&out, &mut Silent).unwrap();
    assert_eq!(report.labelled, 0);
    assert_eq!(report.heldout, truth_heldout.len());
    assert_eq!(report.model_labels, None);
    let labels: ndarray::Array1<u32> =
        ndarray_npy::read_npy(out.join("heldout-labels.npy")).unwrap();
    assert_eq!(labels.len(), truth_heldout.len());
    let images: ndarray::Array4<u8> =
        ndarray_npy::read_npy(out.join("heldout-images.npy")).unwrap();
    assert_eq!(images.shape(), &[truth_heldout.len(), 1, 28, 28]);
    let csv = std::fs::read_to_string(out.join("heldout-labels.csv")).unwrap();
    assert_eq!(csv.lines().count(), truth_heldout.len() + 1);
}

#[test]
fn a_label_log_that_does_not_match_the_manifest_is_refused_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let project = init(&dir, &options(false));
    let first = project.manifest().entries[0].path.clone();
    let second = project.manifest().entries[1].path.clone();
    drop(project);
    let good = format!("{{\"index\":0,\"path\":\"{first}\",\"class\":\"five\"}}\n");
    let cases = [
        (
            format!("{{\"index\":400,\"path\":\"{first}\",\"class\":\"six\"}}\n"),
            "outside",
        ),
        (
            format!("{{\"index\":1,\"path\":\"{first}\",\"class\":\"six\"}}\n"),
            "in project.json",
        ),
        (
            format!("{{\"index\":1,\"path\":\"{second}\",\"class\":\"seven\"}}\n"),
            "unknown class",
        ),
        (
            format!("{{\"index\":1,\"path\":\"{second}\",\"class\":\"six\",\"heldout\":true}}\n"),
            "no held-out images",
        ),
    ];
    for (bad, needle) in &cases {
        std::fs::write(dir.join("labels.jsonl"), format!("{good}{bad}")).unwrap();
        let opened = Project::open(&dir, DeviceChoice::Cpu).unwrap_err();
        let status = Project::status_unlocked(&dir).unwrap_err();
        for err in [opened, status] {
            assert!(matches!(err, Error::Damaged { .. }), "{err}");
            let message = err.to_string();
            assert!(
                message.contains("labels.jsonl")
                    && message.contains("line 2")
                    && message.contains(needle),
                "{message} lacks {needle:?}"
            );
        }
    }
    std::fs::write(dir.join("labels.jsonl"), &good).unwrap();
    let project = Project::open(&dir, DeviceChoice::Cpu).unwrap();
    assert_eq!(project.labels().len(), 1);
    drop(project);

    // A pool.npy of another size: an error, not a panic, wherever the pool is read.
    ndarray_npy::write_npy(
        dir.join("pool.npy"),
        &ndarray::Array4::<u8>::zeros((399, 1, 28, 28)),
    )
    .unwrap();
    let mut project = Project::open(&dir, DeviceChoice::Cpu).unwrap();
    assert!(matches!(project.pool_images(), Err(Error::Damaged { .. })));
    assert!(matches!(project.task(), Err(Error::Damaged { .. })));
    let out = tmp.path().join("export");
    assert!(matches!(
        project.export(&out, &mut Silent),
        Err(Error::Damaged { .. })
    ));
}

/// The rows of a truth CSV, in file order.
fn truth_rows(file: &str) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(fixture().join(file)).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

#[test]
fn import_matches_paths_written_loosely_or_absolute_to_the_same_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = truth_rows("truth.csv");
    // `init` keeps the images folder canonical: absolute paths under it as a file
    // manager or `find` would write them.
    let root = fixture().join("images").canonicalize().unwrap();
    let write = |name: &str, path_of: &dyn Fn(usize, &str) -> String| {
        let file = tmp.path().join(name);
        let mut writer = csv::Writer::from_path(&file).unwrap();
        writer.write_record(["path", "label"]).unwrap();
        for (row, (path, class)) in rows.iter().enumerate() {
            writer
                .write_record([path_of(row, path.as_str()).as_str(), class.as_str()])
                .unwrap();
        }
        writer.flush().unwrap();
        file
    };
    let imported = |name: &str, file: &Path| {
        let mut project = init(&tmp.path().join(name), &options(false));
        let report = project.import(file, false).unwrap();
        assert_eq!(report.added, rows.len(), "{name}");
        project.labels().entries().to_vec()
    };

    let exact_csv = write("exact.csv", &|_: usize, path: &str| path.to_owned());
    let exact = imported("exact", exact_csv.as_path());
    assert_eq!(exact.len(), 400);
    assert!(exact.iter().all(|label| rows[label.index].0 == label.path));
    let variants = [
        write("spaces.csv", &|_: usize, path: &str| format!("{path}   ")),
        write("dots.csv", &|row: usize, path: &str| {
            if row.is_multiple_of(2) {
                format!("./{path}")
            } else {
                format!(".\\{path}")
            }
        }),
        write("absolute.csv", &|_: usize, path: &str| {
            root.join(path).display().to_string()
        }),
    ];
    for (name, file) in ["spaces", "dots", "absolute"].into_iter().zip(&variants) {
        assert_eq!(imported(name, file.as_path()), exact, "{}", file.display());
    }

    // Refused whole, naming the row: a file init skipped, an absolute path elsewhere.
    let mut project = init(&tmp.path().join("bad"), &options(false));
    let bad = write("bad.csv", &|row: usize, path: &str| match row {
        1 => "./broken.png".to_owned(),
        2 => format!("/elsewhere/{path}"),
        _ => path.to_owned(),
    });
    let err = project.import(&bad, false).unwrap_err();
    match &err {
        Error::BadRows { rows, .. } => {
            assert_eq!(rows.len(), 2, "{err}");
            assert!(
                rows[0]
                    .starts_with("row 3: path \"./broken.png\" is not in the pool: init skipped"),
                "{err}"
            );
            assert!(
                rows[1].starts_with("row 4: unknown path \"/elsewhere/img-002.png\"")
                    && rows[1].contains("not under the images root"),
                "{err}"
            );
        }
        other => panic!("expected BadRows, got {other}"),
    }
    assert!(project.labels().is_empty(), "nothing imported");
}
