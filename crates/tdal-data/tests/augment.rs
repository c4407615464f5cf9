//! Augmentation and the class-balancing sampler.

use ndarray::{Array3, Array4, s};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_data::{AugmentParams, Transform, augment_batch, balanced_indices};

fn ramp(c: usize, h: usize, w: usize) -> Array3<f32> {
    Array3::from_shape_fn((c, h, w), |(k, y, x)| {
        ((k * 31 + y * 7 + x * 3) % 17) as f32 / 16.0
    })
}

#[test]
fn identity_transform_reproduces_the_image_exactly() {
    let img = ramp(2, 9, 7);
    assert_eq!(Transform::IDENTITY.apply(img.view()), img);
}

#[test]
fn flip_alone_is_an_exact_mirror_and_an_involution() {
    let img = ramp(1, 6, 8);
    let flip = Transform {
        flip: true,
        ..Transform::IDENTITY
    };
    let once = flip.apply(img.view());
    assert_eq!(once, img.slice(s![.., .., ..;-1]));
    assert_eq!(flip.apply(once.view()), img);
}

#[test]
fn quarter_turn_matches_a_transpose_of_rows() {
    // A positive quarter turn (clockwise on screen, y pointing down) takes output pixel
    // (y, x) from input pixel (h-1-x, y), up to float error.
    let img = ramp(1, 8, 8);
    let turned = Transform {
        angle: std::f32::consts::FRAC_PI_2,
        ..Transform::IDENTITY
    }
    .apply(img.view());
    let mut expected = Array3::zeros((1, 8, 8));
    for y in 0..8 {
        for x in 0..8 {
            expected[[0, y, x]] = img[[0, 7 - x, y]];
        }
    }
    let worst = (&turned - &expected)
        .mapv(f32::abs)
        .fold(0.0f32, |a, &b| a.max(b));
    assert!(worst < 1e-4, "worst {worst}");
}

#[test]
fn shrinking_keeps_the_centre_and_blanks_the_border() {
    let img = Array3::from_elem((1, 11, 11), 1.0f32);
    let out = Transform {
        scale: 0.65,
        ..Transform::IDENTITY
    }
    .apply(img.view());
    assert_eq!(out[[0, 5, 5]], 1.0);
    assert_eq!(out[[0, 0, 0]], 0.0);
}

#[test]
fn bad_params_are_refused() {
    let batch = Array4::<f32>::zeros((1, 1, 4, 4));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for params in [
        AugmentParams {
            flip_probability: 1.5,
            ..AugmentParams::default()
        },
        AugmentParams {
            scale_range: (1.0, 0.5),
            ..AugmentParams::default()
        },
        AugmentParams {
            max_rotation_degrees: f32::NAN,
            ..AugmentParams::default()
        },
    ] {
        assert!(augment_batch(batch.view(), &params, &mut rng).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn augmented_pixels_stay_in_the_input_range_and_are_seeded(seed in any::<u64>(), n in 1usize..5) {
        let batch = Array4::from_shape_fn((n, 1, 12, 12), |(i, _, y, x)| ((i + y * x) % 5) as f32 / 4.0);
        let params = AugmentParams::default();
        let a = augment_batch(batch.view(), &params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let b = augment_batch(batch.view(), &params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.shape(), batch.shape());
        prop_assert!(a.iter().all(|&v| (-1e-6..=1.0 + 1e-6).contains(&v)));
    }

    #[test]
    fn sampled_transforms_respect_the_ranges(seed in any::<u64>()) {
        let params = AugmentParams::default();
        let t = Transform::sample(&params, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert!(t.angle.abs() <= 20f32.to_radians() + 1e-6);
        prop_assert!((0.65..=1.0).contains(&t.scale));
    }

    #[test]
    fn balanced_indices_give_every_class_the_majority_count(
        labels in proptest::collection::vec(0u32..4, 1..60),
        seed in any::<u64>(),
    ) {
        let order = balanced_indices(&labels, &mut ChaCha8Rng::seed_from_u64(seed));
        let mut counts = std::collections::BTreeMap::new();
        for &l in &labels { *counts.entry(l).or_insert(0usize) += 1; }
        let majority = *counts.values().max().unwrap();
        let mut drawn = std::collections::BTreeMap::new();
        for &i in &order { *drawn.entry(labels[i]).or_insert(0usize) += 1; }
        prop_assert!(drawn.values().all(|&n| n == majority));
        prop_assert_eq!(drawn.len(), counts.len());
        // every labelled example is used at least once
        let used: std::collections::HashSet<usize> = order.iter().copied().collect();
        prop_assert_eq!(used.len(), labels.len());
    }
}

#[test]
fn flip_probability_is_respected_on_average() {
    let params = AugmentParams::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let flips = (0..2000)
        .filter(|_| Transform::sample(&params, &mut rng).flip)
        .count();
    assert!((900..1100).contains(&flips), "{flips} flips of 2000");
}
