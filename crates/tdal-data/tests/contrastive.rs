//! SimCLR-style contrastive views: crop, flip, colour jitter, grayscale, determinism.

use ndarray::{Array3, Array4, Axis, s};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_data::contrastive::{ColourOp, Crop, CropOrigin, Jitter, LUMA, hsv_to_rgb, rgb_to_hsv};
use tdal_data::{ContrastiveAugment, ViewTransform, contrastive_view, contrastive_views};

/// Deterministic "texture" in [0, 1].
fn texture(n: usize, c: usize, h: usize, w: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, c, h, w), |(i, k, y, x)| {
        ((i * 13 + k * 31 + y * 7 + x * 3 + y * x) % 23) as f32 / 22.0
    })
}

fn image(c: usize, h: usize, w: usize) -> Array3<f32> {
    texture(1, c, h, w).index_axis_move(Axis(0), 0)
}

fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn jitter_only(jitter: Jitter, h: usize, w: usize) -> ViewTransform {
    ViewTransform {
        jitter: Some(jitter),
        ..ViewTransform::identity(h, w)
    }
}

fn rgb(pixels: &[[f32; 3]]) -> Array3<f32> {
    Array3::from_shape_fn((3, 1, pixels.len()), |(k, _, x)| pixels[x][k])
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

// ---------------------------------------------------------------- batch API

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn views_keep_the_shape_and_stay_in_the_unit_range(
        seed in any::<u64>(),
        n in 1usize..4,
        rgb in any::<bool>(),
        h in 1usize..20,
        w in 1usize..20,
    ) {
        let c = if rgb { 3 } else { 1 };
        let batch = texture(n, c, h, w);
        let (a, b) = contrastive_views(batch.view(), &ContrastiveAugment::default(), &mut rng(seed)).unwrap();
        for view in [&a, &b] {
            prop_assert_eq!(view.shape(), batch.shape());
            prop_assert!(view.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn sampled_crops_fit_and_follow_the_drawn_area_and_aspect(
        seed in any::<u64>(),
        h in 1usize..64,
        w in 1usize..64,
        area_lo in 0.01f32..1.0,
        area_span in 0.0f32..1.0,
        aspect_lo in 0.2f32..2.0,
        aspect_span in 0.0f32..3.0,
    ) {
        let params = ContrastiveAugment {
            crop_area: (area_lo, (area_lo + area_span).min(1.0)),
            crop_aspect: (aspect_lo, aspect_lo + aspect_span),
            ..ContrastiveAugment::default()
        };
        params.check().unwrap();
        let (crop, origin) = Crop::sample(&params, h, w, &mut rng(seed));
        prop_assert!(crop.height >= 1 && crop.width >= 1);
        prop_assert!(crop.top + crop.height <= h && crop.left + crop.width <= w);
        match origin {
            CropOrigin::Attempt { index, area_fraction, aspect } => {
                prop_assert!(index < tdal_data::contrastive::CROP_ATTEMPTS);
                let (alo, ahi) = (f64::from(params.crop_area.0), f64::from(params.crop_area.1));
                prop_assert!(area_fraction >= alo && area_fraction <= ahi, "area {area_fraction}");
                let (rlo, rhi) = (f64::from(params.crop_aspect.0), f64::from(params.crop_aspect.1));
                prop_assert!(aspect >= rlo * (1.0 - 1e-12) && aspect <= rhi * (1.0 + 1e-12), "aspect {aspect}");
                let target = area_fraction * (h * w) as f64;
                prop_assert_eq!(crop.width as f64, (target * aspect).sqrt().round_ties_even());
                prop_assert_eq!(crop.height as f64, (target / aspect).sqrt().round_ties_even());
                // So the realised crop is within half a pixel of the drawn one on each side.
                prop_assert!((crop.width as f64 - (target * aspect).sqrt()).abs() <= 0.5);
                prop_assert!((crop.height as f64 - (target / aspect).sqrt()).abs() <= 0.5);
            }
            CropOrigin::Fallback => {
                // Central, full along at least one side.
                prop_assert!(crop.height == h || crop.width == w);
                prop_assert_eq!(crop.top, (h - crop.height) / 2);
                prop_assert_eq!(crop.left, (w - crop.width) / 2);
            }
        }
    }

    #[test]
    fn hsv_round_trip_is_exact_to_a_millionth(r in 0.0f32..=1.0, g in 0.0f32..=1.0, b in 0.0f32..=1.0) {
        let (h, s, v) = rgb_to_hsv(r, g, b);
        prop_assert!((0.0..=1.0).contains(&h) && (0.0..=1.0).contains(&s) && (0.0..=1.0).contains(&v));
        let (r2, g2, b2) = hsv_to_rgb(h, s, v);
        prop_assert!((r - r2).abs() <= 1e-6 && (g - g2).abs() <= 1e-6 && (b - b2).abs() <= 1e-6,
            "({r}, {g}, {b}) -> ({h}, {s}, {v}) -> ({r2}, {g2}, {b2})");
    }

    // Both sides round differently (the jitter works in sextants): allow 2e-6.
    #[test]
    fn the_hue_jitter_is_the_hsv_round_trip_with_a_shifted_hue(
        r in 0.0f32..=1.0,
        g in 0.0f32..=1.0,
        b in 0.0f32..=1.0,
        shift in -1.5f32..1.5,
    ) {
        let out = jitter_only(Jitter { hue: shift, ..Jitter::IDENTITY }, 1, 1).apply(rgb(&[[r, g, b]]).view());
        let (h, s, v) = rgb_to_hsv(r, g, b);
        let (er, eg, eb) = hsv_to_rgb((h + shift).rem_euclid(1.0), s, v);
        prop_assert!(max_diff(&out, &rgb(&[[er, eg, eb]])) <= 2e-6, "{out:?} vs ({er}, {eg}, {eb})");
        // Shifting back restores the colour.
        let back = jitter_only(Jitter { hue: -shift, ..Jitter::IDENTITY }, 1, 1).apply(out.view());
        prop_assert!(max_diff(&back, &rgb(&[[r, g, b]])) <= 2e-6, "{back:?} vs ({r}, {g}, {b})");
    }

    #[test]
    fn a_full_turn_of_hue_is_the_identity(r in 0.0f32..=1.0, g in 0.0f32..=1.0, b in 0.0f32..=1.0) {
        let img = rgb(&[[r, g, b]]);
        let out = jitter_only(Jitter { hue: 1.0, ..Jitter::IDENTITY }, 1, 1).apply(img.view());
        prop_assert!(max_diff(&out, &img) <= 1e-6);
    }
}

#[test]
fn the_same_seed_gives_the_same_views_and_other_seeds_differ() {
    let batch = texture(6, 3, 16, 16);
    let params = ContrastiveAugment::default();
    let (a1, b1) = contrastive_views(batch.view(), &params, &mut rng(7)).unwrap();
    let (a2, b2) = contrastive_views(batch.view(), &params, &mut rng(7)).unwrap();
    assert_eq!(a1, a2);
    assert_eq!(b1, b2);
    let (a3, b3) = contrastive_views(batch.view(), &params, &mut rng(8)).unwrap();
    assert_ne!(a1, a3);
    assert_ne!(b1, b3);
    // The two views of an image are different draws.
    for i in 0..6 {
        assert_ne!(a1.index_axis(Axis(0), i), b1.index_axis(Axis(0), i));
    }
}

#[test]
fn views_do_not_depend_on_the_thread_count() {
    let batch = texture(40, 3, 12, 10);
    let params = ContrastiveAugment::default();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let pair = contrastive_views(batch.view(), &params, &mut rng(3)).unwrap();
                let single = contrastive_view(batch.view(), &params, &mut rng(3)).unwrap();
                (pair, single)
            })
    };
    let (pair1, single1) = run(1);
    let (pair2, single2) = run(2);
    assert_eq!(pair1, pair2);
    assert_eq!(single1, single2);
}

#[test]
fn a_single_view_is_the_first_of_the_pair() {
    let batch = texture(5, 1, 9, 11);
    let params = ContrastiveAugment::default();
    let (first, _) = contrastive_views(batch.view(), &params, &mut rng(11)).unwrap();
    let single = contrastive_view(batch.view(), &params, &mut rng(11)).unwrap();
    assert_eq!(first, single);
}

#[test]
fn views_are_the_sampled_transforms_applied_per_image() {
    use rand::Rng;
    let batch = texture(3, 3, 8, 8);
    let params = ContrastiveAugment::default();
    let (a, b) = contrastive_views(batch.view(), &params, &mut rng(5)).unwrap();
    let mut outer = rng(5);
    for i in 0..3 {
        let mut inner = rng(outer.random::<u64>());
        let img = batch.index_axis(Axis(0), i);
        let first = ViewTransform::sample(&params, 8, 8, &mut inner).apply(img);
        let second = ViewTransform::sample(&params, 8, 8, &mut inner).apply(img);
        assert_eq!(a.index_axis(Axis(0), i), first);
        assert_eq!(b.index_axis(Axis(0), i), second);
    }
}

#[test]
fn a_grey_image_gets_the_view_of_its_three_channel_copy() {
    let grey = texture(8, 1, 12, 12);
    let tripled = ndarray::concatenate(Axis(1), &[grey.view(), grey.view(), grey.view()]).unwrap();
    let params = ContrastiveAugment {
        jitter_probability: 1.0,
        grayscale_probability: 0.5,
        ..ContrastiveAugment::default()
    };
    let (g1, g2) = contrastive_views(grey.view(), &params, &mut rng(21)).unwrap();
    let (c1, c2) = contrastive_views(tripled.view(), &params, &mut rng(21)).unwrap();
    for (g, c) in [(g1, c1), (g2, c2)] {
        for k in 0..3 {
            let diff = (&g.index_axis(Axis(1), 0) - &c.index_axis(Axis(1), k))
                .mapv(f32::abs)
                .fold(0.0f32, |m, &d| m.max(d));
            assert!(diff < 1e-5, "channel {k}: {diff}");
        }
    }
}

#[test]
fn an_empty_batch_gives_empty_views() {
    let batch = Array4::<f32>::zeros((0, 3, 4, 4));
    let (a, b) =
        contrastive_views(batch.view(), &ContrastiveAugment::default(), &mut rng(0)).unwrap();
    assert_eq!(a.shape(), [0, 3, 4, 4]);
    assert_eq!(b.shape(), [0, 3, 4, 4]);
}

#[test]
fn bad_shapes_are_refused() {
    let params = ContrastiveAugment::default();
    for shape in [(2, 2, 4, 4), (2, 4, 4, 4), (2, 3, 0, 4), (2, 1, 4, 0)] {
        let batch = Array4::<f32>::zeros(shape);
        let err = contrastive_views(batch.view(), &params, &mut rng(0)).unwrap_err();
        assert!(
            matches!(err, tdal_data::Error::Shape(_)),
            "{shape:?}: {err}"
        );
        assert!(contrastive_view(batch.view(), &params, &mut rng(0)).is_err());
    }
}

#[test]
fn bad_params_are_refused_naming_the_field() {
    let d = ContrastiveAugment::default();
    let cases = [
        (
            ContrastiveAugment {
                crop_area: (0.0, 1.0),
                ..d
            },
            "crop_area",
        ),
        (
            ContrastiveAugment {
                crop_area: (0.5, 0.2),
                ..d
            },
            "crop_area",
        ),
        (
            ContrastiveAugment {
                crop_area: (0.5, 1.5),
                ..d
            },
            "crop_area",
        ),
        (
            ContrastiveAugment {
                crop_area: (f32::NAN, 1.0),
                ..d
            },
            "crop_area",
        ),
        (
            ContrastiveAugment {
                crop_aspect: (0.0, 1.0),
                ..d
            },
            "crop_aspect",
        ),
        (
            ContrastiveAugment {
                crop_aspect: (2.0, 1.0),
                ..d
            },
            "crop_aspect",
        ),
        (
            ContrastiveAugment {
                crop_aspect: (1.0, f32::INFINITY),
                ..d
            },
            "crop_aspect",
        ),
        (
            ContrastiveAugment {
                flip_probability: -0.1,
                ..d
            },
            "flip_probability",
        ),
        (
            ContrastiveAugment {
                flip_probability: f64::NAN,
                ..d
            },
            "flip_probability",
        ),
        (
            ContrastiveAugment {
                jitter_probability: 1.5,
                ..d
            },
            "jitter_probability",
        ),
        (
            ContrastiveAugment {
                grayscale_probability: 2.0,
                ..d
            },
            "grayscale_probability",
        ),
        (
            ContrastiveAugment {
                colour_strength: -1.0,
                ..d
            },
            "colour_strength",
        ),
        (
            ContrastiveAugment {
                colour_strength: f32::INFINITY,
                ..d
            },
            "colour_strength",
        ),
    ];
    let batch = Array4::<f32>::zeros((1, 1, 4, 4));
    for (params, field) in cases {
        let message = params.check().unwrap_err().to_string();
        assert!(message.contains(field), "{message}");
        assert!(
            message.contains("expected") && message.contains("found"),
            "{message}"
        );
        assert!(contrastive_views(batch.view(), &params, &mut rng(0)).is_err());
    }
    d.check().unwrap();
    // Degenerate but valid: fixed area and aspect, certain or impossible events.
    ContrastiveAugment {
        crop_area: (1.0, 1.0),
        crop_aspect: (1.0, 1.0),
        flip_probability: 1.0,
        colour_strength: 0.0,
        jitter_probability: 0.0,
        grayscale_probability: 1.0,
    }
    .check()
    .unwrap();
}

// ---------------------------------------------------------------- crop, resize, flip

#[test]
fn the_identity_view_reproduces_the_image_exactly() {
    for c in [1, 3] {
        let img = image(c, 9, 7);
        assert_eq!(ViewTransform::identity(9, 7).apply(img.view()), img);
    }
}

#[test]
fn the_full_crop_at_strength_zero_is_the_identity_through_the_batch_api() {
    let batch = texture(4, 3, 10, 10);
    let params = ContrastiveAugment {
        crop_area: (1.0, 1.0),
        crop_aspect: (1.0, 1.0),
        flip_probability: 0.0,
        colour_strength: 0.0,
        jitter_probability: 1.0,
        grayscale_probability: 0.0,
    };
    let (a, b) = contrastive_views(batch.view(), &params, &mut rng(1)).unwrap();
    assert_eq!(a, batch);
    assert_eq!(b, batch);
}

#[test]
fn flip_alone_is_an_exact_mirror_and_an_involution() {
    for c in [1, 3] {
        let img = image(c, 6, 8);
        let flip = ViewTransform {
            flip: true,
            ..ViewTransform::identity(6, 8)
        };
        let once = flip.apply(img.view());
        assert_eq!(once, img.slice(s![.., .., ..;-1]));
        assert_eq!(flip.apply(once.view()), img);
    }
}

#[test]
fn flip_mirrors_a_resized_crop() {
    let img = image(3, 12, 12);
    let crop = ViewTransform {
        crop: Crop {
            top: 2,
            left: 3,
            height: 5,
            width: 7,
        },
        ..ViewTransform::identity(12, 12)
    };
    let flipped = ViewTransform { flip: true, ..crop };
    let plain = crop.apply(img.view());
    assert_eq!(flipped.apply(img.view()), plain.slice(s![.., .., ..;-1]));
}

#[test]
fn any_crop_of_a_constant_image_is_constant() {
    let img = Array3::from_elem((3, 13, 11), 0.3f32);
    let params = ContrastiveAugment::default();
    let mut r = rng(4);
    for _ in 0..50 {
        let view = ViewTransform {
            jitter: None,
            grayscale: false,
            ..ViewTransform::sample(&params, 13, 11, &mut r)
        };
        assert!(view.apply(img.view()).iter().all(|&v| v == 0.3));
    }
}

#[test]
fn upsampling_a_crop_matches_a_hand_computed_bilinear_resize() {
    // A 2×2 crop [[0, .25], [.5, .75]] of a 4×4 image, resized to 4×4 with pixel centres at
    // +0.5: output i samples crop position (i + 0.5)/2 − 0.5 clamped to [0, 1], i.e.
    // 0, 0.25, 0.75, 1 (as torch.nn.functional.interpolate, align_corners=False).
    let mut img = Array3::from_elem((1, 4, 4), 1.0f32);
    img[[0, 1, 2]] = 0.0;
    img[[0, 1, 3]] = 0.25;
    img[[0, 2, 2]] = 0.5;
    img[[0, 2, 3]] = 0.75;
    let view = ViewTransform {
        crop: Crop {
            top: 1,
            left: 2,
            height: 2,
            width: 2,
        },
        ..ViewTransform::identity(4, 4)
    };
    let out = view.apply(img.view());
    let t = [0.0f32, 0.25, 0.75, 1.0];
    let expected = Array3::from_shape_fn((1, 4, 4), |(_, y, x)| 0.25 * t[x] + 0.5 * t[y]);
    assert!(max_diff(&out, &expected) < 1e-7, "{out:?}");
}

#[test]
fn crops_that_never_fit_fall_back_to_the_clamped_central_crop() {
    let tiny = ContrastiveAugment {
        crop_area: (0.001, 0.002),
        ..ContrastiveAugment::default()
    };
    // 3 × 30 is wider than 4/3: full height, width round(3 · 4/3) = 4, centred.
    let (crop, origin) = Crop::sample(&tiny, 3, 30, &mut rng(0));
    assert_eq!(origin, CropOrigin::Fallback);
    assert_eq!(
        crop,
        Crop {
            top: 0,
            left: 13,
            height: 3,
            width: 4
        }
    );
    // 30 × 3 is narrower than 3/4: full width, height round(3 / 0.75) = 4, centred.
    let (crop, origin) = Crop::sample(&tiny, 30, 3, &mut rng(0));
    assert_eq!(origin, CropOrigin::Fallback);
    assert_eq!(
        crop,
        Crop {
            top: 13,
            left: 0,
            height: 4,
            width: 3
        }
    );
    // A square image is within the aspect range: the whole image.
    let (crop, origin) = Crop::sample(&tiny, 5, 5, &mut rng(0));
    assert_eq!(origin, CropOrigin::Fallback);
    assert_eq!(crop, Crop::full(5, 5));
    // Extreme aspect ranges never give an empty fallback.
    let flat = ContrastiveAugment {
        crop_aspect: (50.0, 60.0),
        ..tiny
    };
    let (crop, origin) = Crop::sample(&flat, 40, 1, &mut rng(0));
    assert_eq!(origin, CropOrigin::Fallback);
    assert_eq!((crop.height, crop.width), (1, 1));
}

#[test]
fn the_default_crop_usually_succeeds_at_the_first_attempt() {
    let params = ContrastiveAugment::default();
    let mut r = rng(9);
    let mut fallbacks = 0;
    for _ in 0..2000 {
        if Crop::sample(&params, 32, 32, &mut r).1 == CropOrigin::Fallback {
            fallbacks += 1;
        }
    }
    // Every draw of area ≤ 1 and aspect in [3/4, 4/3] fits a square except large areas
    // at skewed aspects; ten failures in a row are rare.
    assert!(fallbacks < 5, "{fallbacks} fallbacks");
}

// ---------------------------------------------------------------- colour

#[test]
fn brightness_multiplies_and_clips() {
    let img = rgb(&[[0.2, 0.5, 0.8], [0.0, 0.6, 1.0]]);
    let out = jitter_only(
        Jitter {
            brightness: 1.5,
            ..Jitter::IDENTITY
        },
        1,
        2,
    )
    .apply(img.view());
    let expected = rgb(&[[0.3, 0.75, 1.0], [0.0, 0.9, 1.0]]);
    assert!(max_diff(&out, &expected) < 1e-6, "{out:?}");
}

#[test]
fn contrast_blends_with_the_mean_grey_value() {
    let px = [[0.2f32, 0.5, 0.8], [0.0, 0.6, 1.0]];
    let img = rgb(&px);
    let grey = |p: [f32; 3]| LUMA[0] * p[0] + LUMA[1] * p[1] + LUMA[2] * p[2];
    let mean = (grey(px[0]) + grey(px[1])) / 2.0;
    for f in [0.5f32, 1.8] {
        let out = jitter_only(
            Jitter {
                contrast: f,
                ..Jitter::IDENTITY
            },
            1,
            2,
        )
        .apply(img.view());
        let expected = img.mapv(|x| (mean + f * (x - mean)).clamp(0.0, 1.0));
        assert!(max_diff(&out, &expected) < 1e-6, "factor {f}: {out:?}");
    }
    // Grey images blend with their plain mean.
    let grey_img = Array3::from_shape_vec((1, 1, 3), vec![0.1f32, 0.4, 0.7]).unwrap();
    let out = jitter_only(
        Jitter {
            contrast: 0.5,
            ..Jitter::IDENTITY
        },
        1,
        3,
    )
    .apply(grey_img.view());
    let expected = Array3::from_shape_vec((1, 1, 3), vec![0.25f32, 0.4, 0.55]).unwrap();
    assert!(max_diff(&out, &expected) < 1e-6, "{out:?}");
}

#[test]
fn saturation_blends_with_each_pixels_grey_value() {
    let px = [[0.2f32, 0.5, 0.8], [0.9, 0.1, 0.3]];
    let img = rgb(&px);
    let saturate = |f: f32| {
        jitter_only(
            Jitter {
                saturation: f,
                ..Jitter::IDENTITY
            },
            1,
            2,
        )
        .apply(img.view())
    };
    let grey: Vec<f32> = px
        .iter()
        .map(|p| LUMA[0] * p[0] + LUMA[1] * p[1] + LUMA[2] * p[2])
        .collect();
    // Factor 0: fully desaturated, every channel the pixel's luma.
    let expected = Array3::from_shape_fn((3, 1, 2), |(_, _, x)| grey[x]);
    assert!(max_diff(&saturate(0.0), &expected) < 1e-6);
    // Factor 1.6: pushed away from grey, clipped.
    let expected = Array3::from_shape_fn((3, 1, 2), |(k, _, x)| {
        (grey[x] + 1.6 * (px[x][k] - grey[x])).clamp(0.0, 1.0)
    });
    assert!(max_diff(&saturate(1.6), &expected) < 1e-6);
    // Grey images are unchanged.
    let grey_img = image(1, 3, 3);
    let out = jitter_only(
        Jitter {
            saturation: 0.0,
            hue: 0.3,
            ..Jitter::IDENTITY
        },
        3,
        3,
    )
    .apply(grey_img.view());
    assert_eq!(out, grey_img);
}

#[test]
fn hue_rotates_in_hsv() {
    let shift = |p: [f32; 3], hue: f32| {
        jitter_only(
            Jitter {
                hue,
                ..Jitter::IDENTITY
            },
            1,
            1,
        )
        .apply(rgb(&[p]).view())
    };
    let close = |a: &Array3<f32>, b: [f32; 3]| max_diff(a, &rgb(&[b])) < 1e-6;
    assert!(close(&shift([1.0, 0.0, 0.0], 1.0 / 3.0), [0.0, 1.0, 0.0]));
    assert!(close(&shift([1.0, 0.0, 0.0], -1.0 / 3.0), [0.0, 0.0, 1.0]));
    assert!(close(&shift([1.0, 0.0, 0.0], 1.0 / 6.0), [1.0, 1.0, 0.0]));
    // (0.8, 0.4, 0.2): hue 1/18, saturation 0.75, value 0.8; half a turn gives hue 5/9,
    // sextant 3 at f = 1/3: (p, q, v) = (0.2, 0.6, 0.8).
    let (h, s, v) = rgb_to_hsv(0.8, 0.4, 0.2);
    assert!((h - 1.0 / 18.0).abs() < 1e-6 && (s - 0.75).abs() < 1e-6 && v == 0.8);
    assert!(close(&shift([0.8, 0.4, 0.2], 0.5), [0.2, 0.6, 0.8]));
    // A shift of 0 is the identity.
    let img = image(3, 5, 5);
    let out = jitter_only(
        Jitter {
            hue: 0.0,
            ..Jitter::IDENTITY
        },
        5,
        5,
    )
    .apply(img.view());
    assert!(max_diff(&out, &img) <= 1e-6);
    // Grey pixels have no hue.
    assert!(close(&shift([0.4, 0.4, 0.4], 0.37), [0.4, 0.4, 0.4]));
}

#[test]
fn jitter_operations_run_in_the_given_order() {
    // Grey 1×2 image [0.2, 0.6], brightness 2 and contrast 0.5 (mean of the image).
    let img = Array3::from_shape_vec((1, 1, 2), vec![0.2f32, 0.6]).unwrap();
    let run = |order| {
        jitter_only(
            Jitter {
                order,
                brightness: 2.0,
                contrast: 0.5,
                ..Jitter::IDENTITY
            },
            1,
            2,
        )
        .apply(img.view())
    };
    use ColourOp::{Brightness, Contrast, Hue, Saturation};
    // Brightness first: [0.4, 1.2] → clip [0.4, 1.0] → mean 0.7 → [0.55, 0.85].
    let a = run([Brightness, Contrast, Saturation, Hue]);
    // Contrast first: mean 0.4 → [0.3, 0.5] → ×2 → [0.6, 1.0].
    let b = run([Hue, Contrast, Saturation, Brightness]);
    let expect = |v: [f32; 2]| Array3::from_shape_vec((1, 1, 2), v.to_vec()).unwrap();
    assert!(max_diff(&a, &expect([0.55, 0.85])) < 1e-6, "{a:?}");
    assert!(max_diff(&b, &expect([0.6, 1.0])) < 1e-6, "{b:?}");
}

#[test]
fn jitter_factors_lie_in_simclrs_ranges_and_every_order_occurs() {
    let mut r = rng(2);
    let mut orders = std::collections::HashSet::new();
    for strength in [0.0f32, 0.5, 1.0, 2.0] {
        let (lo, hi) = ((1.0 - 0.8 * strength).max(0.0), 1.0 + 0.8 * strength);
        for _ in 0..500 {
            let j = Jitter::sample(strength, &mut r);
            for f in [j.brightness, j.contrast, j.saturation] {
                assert!((lo..=hi).contains(&f), "strength {strength}: {f}");
            }
            assert!(j.hue.abs() <= 0.2 * strength);
            let mut sorted = j.order.map(|op| op as u8);
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3]);
            orders.insert(j.order.map(|op| op as u8));
        }
    }
    assert_eq!(orders.len(), 24);
}

#[test]
fn grayscale_gives_equal_channels_holding_the_luma() {
    let img = image(3, 4, 5);
    let out = ViewTransform {
        grayscale: true,
        ..ViewTransform::identity(4, 5)
    }
    .apply(img.view());
    for y in 0..4 {
        for x in 0..5 {
            let luma =
                LUMA[0] * img[[0, y, x]] + LUMA[1] * img[[1, y, x]] + LUMA[2] * img[[2, y, x]];
            assert_eq!(out[[0, y, x]], out[[1, y, x]]);
            assert_eq!(out[[0, y, x]], out[[2, y, x]]);
            assert!((out[[0, y, x]] - luma.clamp(0.0, 1.0)).abs() < 1e-7);
        }
    }
    // No effect on a grey image.
    let grey = image(1, 4, 5);
    let out = ViewTransform {
        grayscale: true,
        ..ViewTransform::identity(4, 5)
    }
    .apply(grey.view());
    assert_eq!(out, grey);
}

#[test]
fn coins_follow_their_probabilities() {
    let params = ContrastiveAugment::default();
    let mut r = rng(6);
    let (mut flips, mut jitters, mut greys) = (0, 0, 0);
    for _ in 0..4000 {
        let v = ViewTransform::sample(&params, 32, 32, &mut r);
        flips += usize::from(v.flip);
        jitters += usize::from(v.jitter.is_some());
        greys += usize::from(v.grayscale);
    }
    assert!((1850..2150).contains(&flips), "{flips}");
    assert!((3100..3300).contains(&jitters), "{jitters}");
    assert!((700..900).contains(&greys), "{greys}");
}

#[test]
#[should_panic(expected = "does not lie inside")]
fn a_crop_outside_the_image_is_a_bug() {
    let view = ViewTransform {
        crop: Crop {
            top: 3,
            left: 0,
            height: 4,
            width: 4,
        },
        ..ViewTransform::identity(6, 6)
    };
    let _ = view.apply(image(1, 6, 6).view());
}
