//! The CIFAR-10+100 and CheXpert named configurations on tiny folders in the exact
//! on-disk formats, written by the test (the real datasets are not shipped).

use std::path::Path;

use tdal_data::chexpert::ChexpertOptions;
use tdal_data::{Dataset, Error, Imbalance, PoolOptions, build_named};

fn cifar_records(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.extend_from_slice(l);
        out.extend(std::iter::repeat_n(l[l.len() - 1], 3072));
    }
    out
}

#[test]
fn cifar_configuration_builds_from_binary_folders() {
    let dir = tempfile::tempdir().unwrap();
    let c10 = dir.path().join("cifar-10-batches-bin");
    let c100 = dir.path().join("cifar-100-binary");
    std::fs::create_dir_all(&c10).unwrap();
    std::fs::create_dir_all(&c100).unwrap();
    let ten: Vec<Vec<u8>> = (0..10).map(|c| vec![c]).collect();
    for b in 1..=5 {
        std::fs::write(c10.join(format!("data_batch_{b}.bin")), cifar_records(&ten)).unwrap();
    }
    std::fs::write(c10.join("test_batch.bin"), cifar_records(&ten)).unwrap();
    let hundred: Vec<Vec<u8>> = (0..200)
        .map(|i| vec![(i % 20) as u8, (i % 100) as u8])
        .collect();
    std::fs::write(c100.join("train.bin"), cifar_records(&hundred)).unwrap();
    std::fs::write(c100.join("test.bin"), cifar_records(&hundred[..100])).unwrap();

    // 2 images per CIFAR-100 class; IR 1 → 2 per CIFAR-10 target, 3 left as target inputs.
    let options = PoolOptions {
        imbalance: Some(Imbalance::Ratio(1.0)),
        ..PoolOptions::default()
    };
    let pool = build_named(Dataset::Cifar, dir.path(), &options).unwrap();
    assert_eq!(pool.image_shape(), [3, 32, 32]);
    assert_eq!(pool.pool.label_counts(6), vec![200, 2, 2, 2, 2, 2]);
    assert_eq!(pool.target_inputs.label_counts(6), vec![0, 3, 3, 3, 3, 3]);
    assert_eq!(pool.test.label_counts(6), vec![1, 1, 1, 1, 1, 1]);
    // The default IR 10 asks for more target images than these files hold.
    let msg = build_named(Dataset::Cifar, dir.path(), &PoolOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no target image"), "{msg}");
}

fn png(path: &Path, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(20, 20, image::Luma([value]))
        .save(path)
        .unwrap();
}

#[test]
fn chexpert_configuration_builds_from_csv_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("CheXpert-v1.0-small");
    let mut train = String::from("Path,Frontal/Lateral,Pleural Effusion\n");
    let mut valid = train.clone();
    // 12 negatives, 5 positives, 3 uncertain, 2 blank.
    let values = ["0.0"; 12]
        .iter()
        .chain(&["1.0"; 5])
        .chain(&["-1.0"; 3])
        .chain(&[""; 2])
        .copied()
        .collect::<Vec<_>>();
    for (i, v) in values.iter().enumerate() {
        let rel = format!("train/patient{i}/study1/view1_frontal.png");
        png(&root.join(&rel), (i * 10) as u8);
        train.push_str(&format!("CheXpert-v1.0-small/{rel},Frontal,{v}\n"));
    }
    for (i, v) in ["1.0", "0.0", "0.0"].iter().enumerate() {
        let rel = format!("valid/patient{i}/study1/view1_frontal.png");
        png(&root.join(&rel), 99);
        valid.push_str(&format!("CheXpert-v1.0-small/{rel},Frontal,{v}\n"));
    }
    std::fs::write(root.join("train.csv"), train).unwrap();
    std::fs::write(root.join("valid.csv"), valid).unwrap();

    let options = PoolOptions {
        chexpert: ChexpertOptions {
            image_size: 16,
            ..ChexpertOptions::default()
        },
        ..PoolOptions::default()
    };
    // IR 2.5: ⌊12 / 2.5⌋ = 4 positives in the pool, 1 left as a target input.
    let pool = build_named(Dataset::Chexpert, dir.path(), &options).unwrap();
    assert_eq!(pool.class_names, vec!["other", "Pleural Effusion"]);
    assert_eq!(pool.pool.label_counts(2), vec![12, 4]);
    assert_eq!(pool.target_inputs.label_counts(2), vec![0, 1]);
    assert_eq!(pool.test.label_counts(2), vec![1, 1]);
    assert_eq!(pool.initial_labelled.len(), 8); // 4 per class
    assert_eq!(pool.image_shape(), [1, 16, 16]);
    // The CheXpert folder itself may be given as the data directory.
    assert_eq!(
        build_named(Dataset::Chexpert, &root, &options).unwrap(),
        pool
    );
    // A missing valid.csv is named.
    std::fs::remove_file(root.join("valid.csv")).unwrap();
    let err = build_named(Dataset::Chexpert, dir.path(), &options).unwrap_err();
    assert!(
        matches!(err, Error::Missing { .. }) && err.to_string().contains("valid.csv"),
        "{err}"
    );
}
