//! Readers on real files: the fmnist-mini fixture, and tiny files in the exact CIFAR,
//! CheXpert, image-folder and `.npy` formats written by the tests themselves. Each bad
//! input must give the typed error whose message says what to do.

mod common;

use std::path::Path;

use common::{fixture_dir, gzip, idx_bytes, write_mnist_split};
use tdal_data::chexpert::{ChexpertOptions, ChexpertSplit, UncertainPolicy, read_chexpert};
use tdal_data::cifar::{CifarKind, CifarSplit, read_cifar};
use tdal_data::datadir::{KnownDataset, locate};
use tdal_data::folder::{Channels, FolderOptions, read_image_folder};
use tdal_data::idx::{Split, read_idx_file, read_mnist_split};
use tdal_data::npy::read_npy_dataset;
use tdal_data::{Error, index_names};

#[test]
fn fixture_mnist_split_has_expected_counts_and_range() {
    let set =
        read_mnist_split(&fixture_dir().join("mnist"), Split::Train, index_names(10)).unwrap();
    assert_eq!(set.images.shape(), &[400, 1, 28, 28]);
    assert_eq!(set.class_counts(), vec![40; 10]);
    assert!(set.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(
        set.images.iter().any(|&v| v == 1.0),
        "some pixel should be saturated"
    );
    let test = read_mnist_split(
        &fixture_dir().join("fashion-mnist"),
        Split::Test,
        index_names(10),
    )
    .unwrap();
    assert_eq!(test.class_counts(), vec![20; 10]);
}

#[test]
fn gzipped_and_raw_idx_decode_identically() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<u8> = (0..30).map(|i| i % 3).collect();
    write_mnist_split(&dir.path().join("gz"), "train", &labels, 5, true);
    write_mnist_split(&dir.path().join("raw"), "train", &labels, 5, false);
    let a = read_mnist_split(&dir.path().join("gz"), Split::Train, vec![]).unwrap();
    let b = read_mnist_split(&dir.path().join("raw"), Split::Train, vec![]).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.class_names, index_names(3));
    assert_eq!(a.images[[1, 0, 0, 0]], 25.0 / 255.0); // pixel 25 of the payload
}

#[test]
fn missing_folder_names_expected_files_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_mnist_split(&dir.path().join("nope"), Split::Train, vec![]).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }));
    assert!(err.to_string().contains("--data-dir"), "{err}");

    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let err = read_mnist_split(&dir.path().join("empty"), Split::Train, vec![]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte.gz") && msg.contains("--data-dir"),
        "{msg}"
    );
}

#[test]
fn missing_label_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_split(dir.path(), "train", &[0, 1], 4, true);
    std::fs::remove_file(dir.path().join("train-labels-idx1-ubyte.gz")).unwrap();
    let msg = read_mnist_split(dir.path(), Split::Train, vec![])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");
}

#[test]
fn wrong_magic_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::write(&path, b"PK\x03\x04 this is a zip").unwrap();
    let err = read_idx_file(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");
    // A float IDX (type 0x0D) is refused with the type named.
    std::fs::write(&path, [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    assert!(
        read_idx_file(&path)
            .unwrap_err()
            .to_string()
            .contains("0x0d")
    );
}

#[test]
fn truncated_payload_reports_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.gz");
    let mut bytes = idx_bytes(&[10, 4, 4], &[7; 160]);
    bytes.truncate(bytes.len() - 20);
    std::fs::write(&path, gzip(&bytes)).unwrap();
    match read_idx_file(&path).unwrap_err() {
        Error::Truncated {
            expected, found, ..
        } => assert_eq!((expected, found), (160, 140)),
        other => panic!("expected Truncated, got {other}"),
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let mut bytes = idx_bytes(&[2], &[1, 2]);
    bytes.push(9);
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        read_idx_file(&path).unwrap_err(),
        Error::Format { .. }
    ));
}

#[test]
fn corrupt_gzip_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.gz");
    let mut bytes = gzip(&idx_bytes(&[100], &[1; 100]));
    let mid = bytes.len() / 2;
    for b in &mut bytes[12..mid] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let err = read_idx_file(&path).unwrap_err();
    assert!(
        matches!(err, Error::Format { .. } | Error::Truncated { .. }),
        "{err}"
    );
}

#[test]
fn image_and_label_count_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_split(dir.path(), "train", &[0, 1, 2], 4, false);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_bytes(&[2], &[0, 1]),
    )
    .unwrap();
    let err = read_mnist_split(dir.path(), Split::Train, vec![]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CountMismatch {
                n_images: 3,
                n_labels: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn swapped_image_and_label_files_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_split(dir.path(), "train", &[0, 1], 4, false);
    let images = std::fs::read(dir.path().join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), images).unwrap();
    let msg = read_mnist_split(dir.path(), Split::Train, vec![])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("expected 1 axis"), "{msg}");
}

#[test]
fn label_out_of_class_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_split(dir.path(), "train", &[0, 12], 4, false);
    let err = read_mnist_split(dir.path(), Split::Train, index_names(10)).unwrap_err();
    assert!(err.to_string().contains("found 12"), "{err}");
}

#[test]
fn a_complete_dataset_folder_wins_over_an_earlier_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    // A partial DIR/fashion-mnist/ (training images only) before a complete
    // DIR/FashionMNIST/raw/ in the accepted names; locate looks at names only.
    let partial = dir.path().join("fashion-mnist");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("train-images-idx3-ubyte.gz"), b"").unwrap();
    let raw = dir.path().join("FashionMNIST/raw");
    std::fs::create_dir_all(&raw).unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels.idx1-ubyte",
    ] {
        std::fs::write(raw.join(name), b"").unwrap();
    }
    assert_eq!(
        locate(dir.path(), KnownDataset::FashionMnist, false).unwrap(),
        raw
    );
    // Without it the partial folder is found, and reading it says what it holds and what
    // --data-dir is.
    std::fs::remove_dir_all(dir.path().join("FashionMNIST")).unwrap();
    assert_eq!(
        locate(dir.path(), KnownDataset::FashionMnist, false).unwrap(),
        partial
    );
    let msg = read_mnist_split(&partial, Split::Train, vec![])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("train-labels-idx1-ubyte.gz")
            && msg.contains("holds train-images-idx3-ubyte.gz;")
            && msg.contains("--data-dir (or TDAL_DATA_DIR) is the folder above"),
        "{msg}"
    );
}

#[test]
fn data_dir_layouts_are_found_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    // torchvision layout
    write_mnist_split(&dir.path().join("MNIST/raw"), "train", &[0], 2, true);
    assert_eq!(
        locate(dir.path(), KnownDataset::Mnist, false).unwrap(),
        dir.path().join("MNIST/raw")
    );
    // files directly in the data dir: accepted only when allowed
    let direct = dir.path().join("direct");
    write_mnist_split(&direct, "train", &[0], 2, true);
    assert_eq!(
        locate(&direct, KnownDataset::FashionMnist, true).unwrap(),
        direct
    );
    let msg = locate(&direct, KnownDataset::FashionMnist, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("fashion-mnist/") && msg.contains("sub-folder"),
        "{msg}"
    );
    let msg = locate(&dir.path().join("absent"), KnownDataset::Mnist, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("--data-dir") && msg.contains("TDAL_DATA_DIR"),
        "{msg}"
    );
}

fn cifar_records(labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        out.extend_from_slice(l);
        out.extend((0..3072).map(|p| ((p / 1024) * 100 + i) as u8));
    }
    out
}

#[test]
fn cifar10_and_cifar100_binary_files_decode() {
    let dir = tempfile::tempdir().unwrap();
    let c10 = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&c10).unwrap();
    for b in 1..=5u8 {
        std::fs::write(
            c10.join(format!("data_batch_{b}.bin")),
            cifar_records(&[&[b], &[9]]),
        )
        .unwrap();
    }
    std::fs::write(c10.join("test_batch.bin"), cifar_records(&[&[3]])).unwrap();
    let names: String = (0..10).map(|i| format!("class{i}\n")).collect();
    std::fs::write(c10.join("batches.meta.txt"), names).unwrap();
    let train = read_cifar(&c10, CifarKind::Cifar10, CifarSplit::Train).unwrap();
    assert_eq!(train.images.shape(), &[10, 3, 32, 32]);
    assert_eq!(train.labels, vec![1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    assert_eq!(train.class_names[9], "class9");
    // planar RGB: channel value = 100·channel + record index
    assert_eq!(train.images[[1, 2, 5, 5]], 201.0 / 255.0);
    assert_eq!(
        read_cifar(&c10, CifarKind::Cifar10, CifarSplit::Test)
            .unwrap()
            .labels,
        vec![3]
    );

    let c100 = dir.path().join("cifar-100-binary");
    std::fs::create_dir_all(&c100).unwrap();
    std::fs::write(
        c100.join("train.bin"),
        cifar_records(&[&[19, 99], &[0, 42]]),
    )
    .unwrap();
    std::fs::write(c100.join("test.bin"), cifar_records(&[&[1, 2]])).unwrap();
    let fine = read_cifar(&c100, CifarKind::Cifar100Fine, CifarSplit::Train).unwrap();
    let coarse = read_cifar(&c100, CifarKind::Cifar100Coarse, CifarSplit::Train).unwrap();
    assert_eq!((fine.labels, coarse.labels), (vec![99, 42], vec![19, 0]));
    assert_eq!(fine.class_names.len(), 100);
}

#[test]
fn cifar_bad_inputs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c100 = dir.path();
    // truncated: one record minus a byte
    let mut bytes = cifar_records(&[&[1, 2]]);
    bytes.pop();
    std::fs::write(c100.join("train.bin"), &bytes).unwrap();
    assert!(matches!(
        read_cifar(c100, CifarKind::Cifar100Fine, CifarSplit::Train).unwrap_err(),
        Error::Truncated { .. }
    ));
    // CIFAR-10 labels read as CIFAR-10 but holding 200: out of range
    std::fs::write(c100.join("test_batch.bin"), cifar_records(&[&[200]])).unwrap();
    let msg = read_cifar(c100, CifarKind::Cifar10, CifarSplit::Test)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("label 200"), "{msg}");
    // missing batch names the file
    let msg = read_cifar(c100, CifarKind::Cifar10, CifarSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("--data-dir"),
        "{msg}"
    );
}

fn write_png(path: &Path, value: u8, side: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(side, side, image::Luma([value]))
        .save(path)
        .unwrap();
}

fn chexpert_folder(root: &Path, csv: &str) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(root.join("train.csv"), csv).unwrap();
    for (i, v) in [(1, 10u8), (2, 20), (3, 30), (4, 40), (5, 50)] {
        write_png(
            &root.join(format!("train/patient{i}/study1/view1_frontal.jpg")),
            v,
            16,
        );
    }
}

const CHEXPERT_CSV: &str = "\
Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Pleural Effusion
CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Male,50,Frontal,AP,,1.0
CheXpert-v1.0-small/train/patient2/study1/view1_frontal.jpg,Female,60,Frontal,PA,1.0,0.0
CheXpert-v1.0-small/train/patient3/study1/view1_frontal.jpg,Male,70,Lateral,,,-1.0
CheXpert-v1.0-small/train/patient4/study1/view1_frontal.jpg,Male,70,Frontal,AP,,
CheXpert-v1.0-small/train/patient5/study1/view1_frontal.jpg,Male,70,Lateral,,,1.0
";

#[test]
fn chexpert_keeps_certain_labels_and_resizes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("CheXpert-v1.0-small");
    chexpert_folder(&root, CHEXPERT_CSV);
    let options = ChexpertOptions {
        image_size: 8,
        ..ChexpertOptions::default()
    };
    let set = read_chexpert(&root, ChexpertSplit::Train, &options).unwrap();
    assert_eq!(set.labels, vec![1, 0, 1]); // uncertain and blank dropped
    assert_eq!(set.images.shape(), &[3, 1, 8, 8]);
    assert!((set.images[[1, 0, 4, 4]] - 20.0 / 255.0).abs() < 1e-6);
    assert_eq!(
        set.class_names,
        vec!["no Pleural Effusion", "Pleural Effusion"]
    );

    let u_ones = ChexpertOptions {
        uncertain: UncertainPolicy::Positive,
        frontal_only: true,
        ..options.clone()
    };
    assert_eq!(
        read_chexpert(&root, ChexpertSplit::Train, &u_ones)
            .unwrap()
            .labels,
        vec![1, 0]
    );
    // the root may be renamed: paths with the first component stripped still resolve
    let renamed = dir.path().join("xray");
    std::fs::rename(&root, &renamed).unwrap();
    assert_eq!(
        read_chexpert(&renamed, ChexpertSplit::Train, &options)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn chexpert_bad_inputs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("CheXpert-v1.0-small");
    chexpert_folder(
        &root,
        "Path,Sex,Edema\nCheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Male,1.0\n",
    );
    let err = read_chexpert(&root, ChexpertSplit::Train, &ChexpertOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Csv { .. })
            && msg.contains("\"Pleural Effusion\"")
            && msg.contains("Edema"),
        "{msg}"
    );

    chexpert_folder(
        &root,
        "Path,Pleural Effusion\nCheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,yes\n",
    );
    let msg = read_chexpert(&root, ChexpertSplit::Train, &ChexpertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2") && msg.contains("\"yes\""), "{msg}");

    chexpert_folder(&root, CHEXPERT_CSV);
    std::fs::write(
        root.join("train/patient2/study1/view1_frontal.jpg"),
        b"not an image",
    )
    .unwrap();
    let err = read_chexpert(&root, ChexpertSplit::Train, &ChexpertOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Image { .. }), "{err}");

    std::fs::remove_file(root.join("train/patient2/study1/view1_frontal.jpg")).unwrap();
    assert!(matches!(
        read_chexpert(&root, ChexpertSplit::Train, &ChexpertOptions::default()).unwrap_err(),
        Error::Missing { .. }
    ));
    let msg = read_chexpert(&root, ChexpertSplit::Valid, &ChexpertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("valid.csv") && msg.contains("--data-dir"),
        "{msg}"
    );
}

#[test]
fn image_folder_reads_classes_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("zebra/a.png"), 200, 6);
    write_png(&dir.path().join("ant/a.png"), 10, 6);
    write_png(&dir.path().join("ant/b.PNG"), 20, 6);
    std::fs::write(dir.path().join("ant/notes.txt"), "ignored").unwrap();
    let set = read_image_folder(dir.path(), FolderOptions::default()).unwrap();
    assert_eq!(set.class_names, vec!["ant", "zebra"]);
    assert_eq!(set.labels, vec![0, 0, 1]);
    assert_eq!(set.images[[2, 0, 3, 3]], 200.0 / 255.0);

    let rgb = read_image_folder(
        dir.path(),
        FolderOptions {
            size: Some((4, 5)),
            channels: Channels::Rgb,
        },
    )
    .unwrap();
    assert_eq!(rgb.images.shape(), &[3, 3, 4, 5]);

    write_png(&dir.path().join("zebra/big.png"), 1, 9);
    let msg = read_image_folder(dir.path(), FolderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("image size"), "{msg}");
    std::fs::write(dir.path().join("zebra/broken.jpg"), b"\xff\xd8garbage").unwrap();
    assert!(matches!(
        read_image_folder(
            dir.path(),
            FolderOptions {
                size: Some((6, 6)),
                ..FolderOptions::default()
            }
        )
        .unwrap_err(),
        Error::Image { .. }
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        read_image_folder(empty.path(), FolderOptions::default()).unwrap_err(),
        Error::Missing { .. }
    ));
}

fn write_npy<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
    path: &Path,
    a: &ndarray::Array<A, D>,
) {
    use ndarray_npy::WriteNpyExt;
    a.write_npy(std::fs::File::create(path).unwrap()).unwrap();
}

#[test]
fn npy_datasets_of_u8_and_f32_decode() {
    let dir = tempfile::tempdir().unwrap();
    let images = ndarray::Array3::<u8>::from_shape_fn((4, 3, 3), |(i, _, _)| (i * 50) as u8);
    write_npy(&dir.path().join("x.npy"), &images);
    write_npy(&dir.path().join("y.npy"), &ndarray::arr1(&[0i64, 2, 1, 2]));
    let set = read_npy_dataset(&dir.path().join("x.npy"), &dir.path().join("y.npy")).unwrap();
    assert_eq!(set.images.shape(), &[4, 1, 3, 3]);
    assert_eq!(set.images[[3, 0, 1, 1]], 150.0 / 255.0);
    assert_eq!(set.class_names.len(), 3);

    let nchw = ndarray::Array4::<f32>::from_elem((2, 3, 2, 2), 0.25);
    write_npy(&dir.path().join("x4.npy"), &nchw);
    write_npy(&dir.path().join("y2.npy"), &ndarray::arr1(&[1u8, 0]));
    let set = read_npy_dataset(&dir.path().join("x4.npy"), &dir.path().join("y2.npy")).unwrap();
    assert_eq!(set.images, nchw);

    // mismatch, negative labels, missing file
    assert!(matches!(
        read_npy_dataset(&dir.path().join("x.npy"), &dir.path().join("y2.npy")).unwrap_err(),
        Error::CountMismatch {
            n_images: 4,
            n_labels: 2,
            ..
        }
    ));
    write_npy(
        &dir.path().join("neg.npy"),
        &ndarray::arr1(&[0i32, -1, 0, 0]),
    );
    let msg = read_npy_dataset(&dir.path().join("x.npy"), &dir.path().join("neg.npy"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("found -1"), "{msg}");
    assert!(matches!(
        read_npy_dataset(&dir.path().join("absent.npy"), &dir.path().join("y.npy")).unwrap_err(),
        Error::Missing { .. }
    ));
}

#[test]
fn npy_with_lying_header_is_truncated_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (100000000000, 28, 28), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    bytes.extend_from_slice(&[0; 10]);
    std::fs::write(&path, bytes).unwrap();
    let err = read_npy_dataset(&path, &path).unwrap_err();
    assert!(
        matches!(err, Error::Truncated { .. } | Error::Format { .. }),
        "{err}"
    );
}

#[test]
fn truncated_gzip_file_says_to_fetch_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gz");
    let whole = gzip(&idx_bytes(
        &[50, 8, 8],
        &(0..3200).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>(),
    ));
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let err = read_idx_file(&path).unwrap_err();
    assert!(
        matches!(err, Error::Format { .. } | Error::Truncated { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("fetch"), "{err}");
}
