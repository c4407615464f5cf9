//! `encoder.init_weights` on the baselines' network, on `fixtures/fmnist-mini` with the
//! smoke profile: every round's untrained network has the file's backbone and a head
//! seeded from the round; a GALAXY run records the file's hash (another run id than
//! without it), and a resumed run refuses the file once its content changed.

use std::path::{Path, PathBuf};

use ndarray::{Axis, s};
use tdal_encoders::{DeviceChoice, Embedder, SupervisedConfig, SupervisedModel};
use tdal_loop::record::{self, files};
use tdal_loop::{
    AcquisitionKind, EncoderConfig, Error, InitWeights, Profile, Representation,
    RepresentationKind, RunConfig, RunOptions, Silent, SupervisedNet, SupervisedSettings,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fmnist-mini")
}

/// The smoke GALAXY baseline on a 600-image pool with one batch of 10: two rounds.
fn galaxy() -> RunConfig {
    let mut cfg = RunConfig::method(
        Profile::Smoke,
        RepresentationKind::Supervised,
        AcquisitionKind::Galaxy,
    );
    cfg.data.dir = Some(fixture());
    cfg.data.max_pool = Some(600);
    cfg.active.budget = 16;
    cfg
}

fn settings(cfg: &RunConfig) -> &SupervisedSettings {
    match &cfg.encoder {
        EncoderConfig::Supervised(net) => net,
        other => panic!("{other:?}"),
    }
}

/// A seeded network of the run's architecture saved by tdal: its weights file and the
/// model.
fn saved_network(dir: &Path, cfg: &RunConfig, classes: usize) -> (PathBuf, SupervisedModel) {
    let net = SupervisedConfig {
        backbone: settings(cfg).backbone,
        channels: 1,
        image_size: 32,
        hidden_dim: settings(cfg).hidden_dim,
        classes,
    };
    let model = SupervisedModel::new(&net, 1234, DeviceChoice::Cpu).unwrap();
    model.save(dir).unwrap();
    (dir.join("model.safetensors"), model)
}

fn values(model: &SupervisedModel, name: &str) -> Vec<f32> {
    let vars = model.varmap().data().lock().unwrap();
    vars[name]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn names(model: &SupervisedModel) -> Vec<String> {
    let mut names: Vec<String> = model
        .varmap()
        .data()
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn every_rounds_network_starts_from_the_file_with_its_head_seeded_from_the_round() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = galaxy();
    let (task, _) = tdal_loop::build_task(&plain).unwrap();
    let channels = task.pool.len_of(Axis(1));
    let (file, source) = saved_network(tmp.path(), &plain, task.num_classes);
    let with = SupervisedSettings {
        init_weights: Some(InitWeights::pin(&file).unwrap()),
        ..settings(&plain).clone()
    };
    let net = |s: &SupervisedSettings| {
        SupervisedNet::new(s, channels, task.num_classes, plain.seed, DeviceChoice::Cpu)
    };
    let mut started = net(&with);
    let scratch = net(settings(&plain));
    // The file is read by `initialise`, never behind its back.
    assert!(matches!(started.initial_model(0), Err(Error::Config(_))));
    assert!(started.init_report().is_none());
    started
        .initialise(task.pool.view(), &mut |_, _| {})
        .unwrap();
    let report = started.init_report().unwrap();
    assert_eq!(report.copied.len(), 20, "{report}");
    assert_eq!(report.ignored.len(), 4, "{report}");

    let images = task.pool.slice(s![..40, .., .., ..]);
    for round in [0, 1] {
        let ours = started.initial_model(round).unwrap();
        let theirs = scratch.initial_model(round).unwrap();
        for name in names(&ours) {
            let from = if name.starts_with("encoder.") {
                &source
            } else {
                &theirs
            };
            assert_eq!(
                values(&ours, &name),
                values(from, &name),
                "round {round}: {name}"
            );
        }
        // The untrained network embeds as the round's seeded one with the file's
        // backbone copied in by hand, and not as the seeded one.
        let expected = scratch.initial_model(round).unwrap();
        {
            let from = source.varmap().data().lock().unwrap();
            let to = expected.varmap().data().lock().unwrap();
            for (name, var) in to.iter().filter(|(n, _)| n.starts_with("encoder.")) {
                var.set(from[name].as_tensor()).unwrap();
            }
        }
        let embedding = ours.embed(images).unwrap();
        assert_eq!(embedding, expected.embed(images).unwrap(), "round {round}");
        assert_ne!(embedding, theirs.embed(images).unwrap(), "round {round}");
    }

    // A file whose content changed since it was pinned is refused.
    let pinned = with.init_weights.clone().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let err = net(&with)
        .initialise(task.pool.view(), &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("changed")),
        "{err}"
    );
    let mut cfg = plain.clone();
    let EncoderConfig::Supervised(s) = &mut cfg.encoder else {
        unreachable!()
    };
    s.init_weights = Some(pinned);
    assert!(
        cfg.pin_init_weights()
            .unwrap_err()
            .to_string()
            .contains("changed")
    );
}

fn options(out: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        cache_dir: out.join("cache"),
        resume: true,
        device: DeviceChoice::Cpu,
    }
}

#[test]
fn a_galaxy_run_records_the_files_hash_and_refuses_it_changed_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = galaxy();
    let (task, _) = tdal_loop::build_task(&plain).unwrap();
    let (file, _) = saved_network(&tmp.path().join("weights"), &plain, task.num_classes);
    let mut cfg = plain.clone();
    let EncoderConfig::Supervised(net) = &mut cfg.encoder else {
        unreachable!()
    };
    // A hand-written configuration names the file; pinning records its hash.
    net.init_weights = Some(InitWeights {
        file: file.clone(),
        blake3: String::new(),
    });
    cfg.pin_init_weights().unwrap();
    assert_eq!(cfg.init_weights(), Some(&InitWeights::pin(&file).unwrap()));
    assert_ne!(cfg.run_id(), plain.run_id());
    // The path is not part of the run's identity, the content is.
    let mut moved = cfg.clone();
    let EncoderConfig::Supervised(net) = &mut moved.encoder else {
        unreachable!()
    };
    net.init_weights.as_mut().unwrap().file = PathBuf::from("elsewhere.safetensors");
    assert_eq!(moved.run_id(), cfg.run_id());

    let out = tmp.path().join("runs");
    let whole = tdal_loop::run(&cfg, &options(&out), &mut Silent).unwrap();
    let dir = out.join(&whole.run_id);
    let stored = RunConfig::from_toml_file(&dir.join(files::CONFIG)).unwrap();
    assert_eq!(stored.init_weights(), cfg.init_weights());
    let rounds = record::read_rounds(&dir).unwrap();
    assert_eq!(rounds.len(), 2);

    // Killed after round 0, then the file changes: the resumed run refuses it before
    // training anything, and goes on once the file is back.
    let first_line = std::fs::read_to_string(dir.join(files::ROUNDS))
        .unwrap()
        .lines()
        .next()
        .map(|l| format!("{l}\n"))
        .unwrap();
    let crash = || {
        std::fs::write(dir.join(files::ROUNDS), &first_line).unwrap();
        let _ = std::fs::remove_file(dir.join(files::SUMMARY));
        let later = dir.join(files::STATE).join("round-0001");
        if later.exists() {
            std::fs::remove_dir_all(later).unwrap();
        }
    };
    crash();
    let original = std::fs::read(&file).unwrap();
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0x55;
    std::fs::write(&file, &changed).unwrap();
    let err = tdal_loop::run(&cfg, &options(&out), &mut Silent).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("changed")),
        "{err}"
    );
    assert_eq!(record::read_rounds(&dir).unwrap().len(), 1);

    std::fs::write(&file, &original).unwrap();
    let resumed = tdal_loop::run(&cfg, &options(&out), &mut Silent).unwrap();
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);
    assert_eq!(resumed.target_acquired, whole.target_acquired);
}
