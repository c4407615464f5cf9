//! Training, reproducibility and checkpoints of the US VAE and TD-SPLIT on the
//! `fixtures/fmnist-mini` images.

mod common;

use common::{fashion_train, mnist_train, small_split, small_vae};
use ndarray::{Array4, Axis, s};
use tdal_encoders::{
    DeviceChoice, Embedder, Error, LabelledSchedule, SplitModel, SplitTrainConfig, VaeConfig,
    VaeModel, VaeTrainConfig, negative_elbo, train_split, train_vae,
};

fn weights(varmap: &candle_nn::VarMap) -> Vec<(String, Vec<f32>)> {
    let vars = varmap.data().lock().unwrap();
    let mut out: Vec<(String, Vec<f32>)> = vars
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn elbo_improves_over_a_few_hundred_steps_on_fmnist_mini() {
    let images = fashion_train().images.slice_move(s![..160, .., .., ..]);
    let mut model = VaeModel::new(&VaeConfig::default(), 1, DeviceChoice::Cpu).unwrap();
    let before = negative_elbo(model.vae(), model.device(), images.view(), 1.0, 9).unwrap();
    let run = VaeTrainConfig {
        epochs: 30,
        batch_size: 20,
        kl_warmup_epochs: 2.0,
        seed: 2,
        ..VaeTrainConfig::default()
    };
    let report = train_vae(&mut model, images.view(), &run).unwrap();
    assert_eq!(report.steps, 240);
    let after = negative_elbo(model.vae(), model.device(), images.view(), 1.0, 9).unwrap();
    assert!(after.is_finite());
    // Untrained: ≈ 1024 · ln 2 ≈ 710 nats per image. A few hundred Adam steps get well
    // past the mean image (≈ 0.5 · before) and keep improving after the KL warm-up.
    assert!(
        after < 0.5 * before,
        "negative ELBO {before:.1} → {after:.1} nats"
    );
    let epochs = &report.epoch_neg_elbo;
    let late: f64 = epochs[25..].iter().sum::<f64>() / 5.0;
    let early: f64 = epochs[3..8].iter().sum::<f64>() / 5.0;
    assert!(late < early, "epochs 3-7 {early:.1} nats, 25-29 {late:.1}");
}

#[test]
fn same_seed_gives_same_weights_and_different_seed_does_not() {
    let images = fashion_train().images.slice_move(s![..60, .., .., ..]);
    let run = VaeTrainConfig {
        epochs: 1,
        batch_size: 20,
        seed: 4,
        ..VaeTrainConfig::default()
    };
    let trained = |init_seed: u64| {
        let mut model = VaeModel::new(&small_vae(), init_seed, DeviceChoice::Cpu).unwrap();
        train_vae(&mut model, images.view(), &run).unwrap();
        weights(model.varmap())
    };
    let a = trained(8);
    assert_eq!(a, trained(8));
    assert_ne!(a, trained(9));
}

#[test]
fn save_load_round_trip_gives_identical_embeddings() {
    let images = fashion_train().images.slice_move(s![..40, .., .., ..]);
    let dir = tempfile::tempdir().unwrap();
    let mut model = VaeModel::new(&small_vae(), 3, DeviceChoice::Cpu).unwrap();
    let run = VaeTrainConfig {
        epochs: 1,
        batch_size: 20,
        ..VaeTrainConfig::default()
    };
    train_vae(&mut model, images.view(), &run).unwrap();
    model.save(&dir.path().join("vae")).unwrap();
    let loaded = VaeModel::load(&dir.path().join("vae"), DeviceChoice::Cpu).unwrap();
    let embedding = model.embed(images.view()).unwrap();
    assert_eq!(embedding.dim(), (40, 4));
    assert_eq!(embedding, loaded.embed(images.view()).unwrap());

    let split = SplitModel::from_vae(&model, &small_split(3), 5).unwrap();
    split.save(&dir.path().join("split")).unwrap();
    let loaded = SplitModel::load(&dir.path().join("split"), DeviceChoice::Cpu).unwrap();
    assert_eq!(
        split.embed(images.view()).unwrap(),
        loaded.embed(images.view()).unwrap()
    );
    // A VAE checkpoint is not a TD-SPLIT one.
    assert!(matches!(
        SplitModel::load(&dir.path().join("vae"), DeviceChoice::Cpu),
        Err(Error::Checkpoint { .. })
    ));
}

#[test]
fn split_warm_start_copies_the_vae_and_interleaves_labelled_steps() {
    let pool = fashion_train().images.slice_move(s![..100, .., .., ..]);
    let digits = mnist_train();
    let labelled = digits.images.slice(s![..12, .., .., ..]).to_owned();
    let labels: Vec<u32> = digits.labels[..12].iter().map(|&l| l % 3).collect();
    let vae = VaeModel::new(&small_vae(), 3, DeviceChoice::Cpu).unwrap();
    let mut split = SplitModel::from_vae(&vae, &small_split(3), 5).unwrap();
    assert_eq!(
        split.embed_full(pool.view()).unwrap(),
        vae.embed(pool.view()).unwrap()
    );
    let run = SplitTrainConfig {
        batch_size: 25,
        labelled_batch_size: 8,
        seed: 1,
        ..SplitTrainConfig::default()
    };
    let report = train_split(&mut split, pool.view(), labelled.view(), &labels, &run).unwrap();
    assert_eq!((report.steps, report.labelled_steps), (8, 4));
    assert_eq!(report.epoch_cross_entropy.len(), 1);
    let even = SplitTrainConfig {
        schedule: LabelledSchedule::EvenlySpaced,
        ..run
    };
    // 12 labels spread over 3 classes → balanced set of 3 · max count, ⌈·/8⌉ batches.
    let report = train_split(&mut split, pool.view(), labelled.view(), &labels, &even).unwrap();
    assert!(report.labelled_steps >= 2 && report.labelled_steps <= 4);
    assert_eq!(split.embed(pool.view()).unwrap().dim(), (100, 2));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = VaeModel::new(&small_vae(), 0, DeviceChoice::Cpu).unwrap();
    let rgb = Array4::<f32>::zeros((2, 3, 32, 32));
    assert!(matches!(model.embed(rgb.view()), Err(Error::Shape(_))));
    let big = Array4::<f32>::zeros((2, 1, 40, 40));
    assert!(matches!(model.embed(big.view()), Err(Error::Shape(_))));
    let bright = Array4::<f32>::from_elem((2, 1, 28, 28), 2.0);
    assert!(matches!(model.embed(bright.view()), Err(Error::Shape(_))));
    let mut empty_model = VaeModel::new(&small_vae(), 0, DeviceChoice::Cpu).unwrap();
    let empty = Array4::<f32>::zeros((0, 1, 28, 28));
    assert!(matches!(
        train_vae(&mut empty_model, empty.view(), &VaeTrainConfig::default()),
        Err(Error::Shape(_))
    ));
    let odd = VaeConfig {
        image_size: 30,
        ..VaeConfig::default()
    };
    assert!(matches!(
        VaeModel::new(&odd, 0, DeviceChoice::Cpu),
        Err(Error::Config(_))
    ));
    let bad_run = VaeTrainConfig {
        learning_rate: -1.0,
        ..VaeTrainConfig::default()
    };
    assert!(matches!(bad_run.check(), Err(Error::Config(_))));

    let mut split = SplitModel::new(&small_split(3), 0, DeviceChoice::Cpu).unwrap();
    let pool = Array4::<f32>::zeros((4, 1, 28, 28));
    let out_of_range = train_split(
        &mut split,
        pool.view(),
        pool.view(),
        &[0, 1, 2, 3],
        &SplitTrainConfig::default(),
    );
    assert!(matches!(out_of_range, Err(Error::Shape(_))));
    let miscounted = train_split(
        &mut split,
        pool.view(),
        pool.view(),
        &[0, 1],
        &SplitTrainConfig::default(),
    );
    assert!(matches!(miscounted, Err(Error::Shape(_))));
    assert_eq!(pool.len_of(Axis(0)), 4);
}

#[test]
fn cuda_request_without_the_feature_is_a_typed_error() {
    let parsed: DeviceChoice = "cuda:1".parse().unwrap();
    assert_eq!(parsed, DeviceChoice::Cuda(1));
    assert!("gpu".parse::<DeviceChoice>().is_err());
    if !DeviceChoice::cuda_compiled() {
        let err = VaeModel::new(&small_vae(), 0, parsed).unwrap_err();
        assert!(matches!(err, Error::Device(_)));
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
