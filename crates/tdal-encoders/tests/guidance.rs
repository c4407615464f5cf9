//! The guidance term works: after TD-SPLIT training with a handful of labels, the labelled
//! classes are better separated in `z_c` than in the US VAE's first |z_c| coordinates.

mod common;

use common::{fashion_train, mnist_train, small_split, small_vae};
use ndarray::{Array2, Array4, Axis, concatenate, s};
use tdal_encoders::{
    DeviceChoice, Embedder, SplitModel, SplitTrainConfig, VaeModel, VaeTrainConfig, train_split,
    train_vae,
};

/// Balanced accuracy over all pool images of the nearest class centroid, the centroids
/// computed from the labelled images' embeddings only.
fn nearest_centroid_balanced_accuracy(
    embedding: &Array2<f32>,
    labelled: &[usize],
    labels: &[u32],
    classes: usize,
) -> f64 {
    let dims = embedding.ncols();
    let mut centroids = Array2::<f64>::zeros((classes, dims));
    let mut counts = vec![0.0; classes];
    for &i in labelled {
        let c = labels[i] as usize;
        counts[c] += 1.0;
        for d in 0..dims {
            centroids[[c, d]] += f64::from(embedding[[i, d]]);
        }
    }
    for c in 0..classes {
        for d in 0..dims {
            centroids[[c, d]] /= counts[c];
        }
    }
    let mut correct = vec![0.0; classes];
    let mut total = vec![0.0; classes];
    for (i, &y) in labels.iter().enumerate() {
        let distance = |c: usize| -> f64 {
            (0..dims)
                .map(|d| (f64::from(embedding[[i, d]]) - centroids[[c, d]]).powi(2))
                .sum()
        };
        let predicted = (0..classes)
            .min_by(|&a, &b| distance(a).total_cmp(&distance(b)))
            .unwrap();
        total[y as usize] += 1.0;
        if predicted == y as usize {
            correct[y as usize] += 1.0;
        }
    }
    (0..classes).map(|c| correct[c] / total[c]).sum::<f64>() / classes as f64
}

#[test]
fn guidance_makes_z_c_separate_labelled_classes_better_than_us_vae() {
    // Pool: 300 Fashion-MNIST images ("other", label 0) and the 40 + 40 MNIST 5s and 6s
    // (labels 1, 2); 6 labels per class.
    let fashion = fashion_train();
    let digits = mnist_train();
    let fives: Vec<usize> = (0..digits.len())
        .filter(|&i| digits.labels[i] == 5)
        .collect();
    let sixes: Vec<usize> = (0..digits.len())
        .filter(|&i| digits.labels[i] == 6)
        .collect();
    let pick = |idx: &[usize]| digits.images.select(Axis(0), idx);
    let pool: Array4<f32> = concatenate![
        Axis(0),
        fashion.images.slice(s![..300, .., .., ..]),
        pick(&fives),
        pick(&sixes)
    ];
    let mut labels = vec![0_u32; 300];
    labels.extend(std::iter::repeat_n(1, fives.len()));
    labels.extend(std::iter::repeat_n(2, sixes.len()));
    let labelled: Vec<usize> = (0..6)
        .chain(300..306)
        .chain(300 + fives.len()..306 + fives.len())
        .collect();
    let labelled_images = pool.select(Axis(0), &labelled);
    let labelled_labels: Vec<u32> = labelled.iter().map(|&i| labels[i]).collect();

    let mut us = VaeModel::new(&small_vae(), 21, DeviceChoice::Cpu).unwrap();
    let us_run = VaeTrainConfig {
        epochs: 8,
        batch_size: 50,
        kl_warmup_epochs: 1.0,
        seed: 22,
        ..VaeTrainConfig::default()
    };
    train_vae(&mut us, pool.view(), &us_run).unwrap();
    let cfg = small_split(3);
    let us_first = us
        .embed(pool.view())
        .unwrap()
        .slice_move(s![.., ..cfg.content_dim]);
    let us_accuracy = nearest_centroid_balanced_accuracy(&us_first, &labelled, &labels, 3);

    let mut split = SplitModel::from_vae(&us, &cfg, 23).unwrap();
    let split_run = SplitTrainConfig {
        epochs: 4,
        batch_size: 50,
        labelled_batch_size: 18,
        learning_rate: 1e-3,
        seed: 24,
        ..SplitTrainConfig::default()
    };
    let report = train_split(
        &mut split,
        pool.view(),
        labelled_images.view(),
        &labelled_labels,
        &split_run,
    )
    .unwrap();
    let ce = &report.epoch_cross_entropy;
    assert!(ce.last() < ce.first(), "guidance cross-entropy {ce:?}");
    let split_accuracy = nearest_centroid_balanced_accuracy(
        &split.embed(pool.view()).unwrap(),
        &labelled,
        &labels,
        3,
    );
    assert!(
        split_accuracy >= us_accuracy + 0.1,
        "balanced nearest-centroid accuracy: TD-SPLIT z_c {split_accuracy:.3} vs US first dims \
         {us_accuracy:.3}"
    );
}
