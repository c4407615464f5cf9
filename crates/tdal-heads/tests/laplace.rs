//! Laplace MLP head: MAP fit on separable data, posterior variance shrinking with more
//! data, sample invariants and seeding, and typed errors.

mod common;

use common::{accuracy, argmax_rows, mixture_means, sample_mixture};
use ndarray::{Axis, array};
use tdal_heads::{Error, LaplaceHead, LaplaceParams, PredictionHead};

fn head(samples: usize) -> LaplaceHead {
    LaplaceHead::new(LaplaceParams {
        hidden: 32,
        posterior_samples: samples,
        steps: 300,
        ..LaplaceParams::default()
    })
    .unwrap()
}

#[test]
fn map_fits_separable_data() {
    let means = mixture_means(4, 3, 10.0, 1);
    let train = sample_mixture(&means, 300, 2);
    let test = sample_mixture(&means, 300, 3);
    let mut model = head(10);
    model.fit_seeded(train.x.view(), &train.y, 0).unwrap();
    let map = model.predict_map(test.x.view()).unwrap();
    assert!(accuracy(&argmax_rows(&map), &test.y) > 0.97);
    // The sampled networks agree with the MAP on such easy data.
    let mean = model
        .predict_samples(test.x.view())
        .unwrap()
        .mean_axis(Axis(1))
        .unwrap();
    assert!(accuracy(&argmax_rows(&mean), &test.y) > 0.97);
}

#[test]
fn posterior_variance_shrinks_as_data_grows() {
    // Overlapping classes keep p(y|x) away from 0 and 1, so every row adds curvature.
    let means = mixture_means(3, 2, 1.0, 11);
    let mean_variance = |rows: usize| {
        let data = sample_mixture(&means, rows, 12);
        let mut model = LaplaceHead::new(LaplaceParams {
            hidden: 16,
            posterior_samples: 2,
            steps: 200,
            likelihood_power: Some(1.0),
            ..LaplaceParams::default()
        })
        .unwrap();
        model.fit_seeded(data.x.view(), &data.y, 0).unwrap();
        let variance = model.posterior_variance().unwrap();
        assert!(
            variance.iter().all(|&v| v > 0.0 && v <= 1.0),
            "prior variance is 1"
        );
        variance.mean().unwrap()
    };
    let (small, medium, large) = (mean_variance(20), mean_variance(200), mean_variance(2000));
    assert!(
        small > medium && medium > large,
        "{small} > {medium} > {large} expected"
    );
}

#[test]
fn tempering_by_parameter_count_concentrates_the_posterior() {
    let means = mixture_means(3, 2, 1.0, 21);
    let data = sample_mixture(&means, 100, 22);
    let variance = |power: Option<f64>| {
        let mut model = LaplaceHead::new(LaplaceParams {
            hidden: 16,
            posterior_samples: 2,
            steps: 200,
            likelihood_power: power,
            ..LaplaceParams::default()
        })
        .unwrap();
        model.fit_seeded(data.x.view(), &data.y, 0).unwrap();
        (
            model.posterior_variance().unwrap().mean().unwrap(),
            model.n_params().unwrap(),
        )
    };
    let (untempered, n_params) = variance(Some(1.0));
    let (tempered, _) = variance(None);
    assert_eq!(n_params, 3 * 16 + 16 + 16 * 2 + 2);
    assert!(tempered < untempered, "{tempered} < {untempered} expected");
}

#[test]
fn samples_are_distributions_that_differ_and_a_seed_repeats_them() {
    let means = mixture_means(3, 3, 1.5, 31);
    let train = sample_mixture(&means, 200, 32);
    let test = sample_mixture(&means, 50, 33);
    let fit = |seed| {
        let mut model = LaplaceHead::new(LaplaceParams {
            hidden: 16,
            posterior_samples: 6,
            steps: 100,
            likelihood_power: Some(1.0),
            ..LaplaceParams::default()
        })
        .unwrap();
        model.fit_seeded(train.x.view(), &train.y, seed).unwrap();
        model.predict_samples(test.x.view()).unwrap()
    };
    let samples = fit(4);
    assert_eq!(samples.dim(), (50, 6, 3));
    for row in samples.lanes(Axis(2)) {
        assert!((row.sum() - 1.0).abs() < 1e-5);
        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
    }
    assert_ne!(
        samples.index_axis(Axis(1), 0),
        samples.index_axis(Axis(1), 1)
    );
    assert_eq!(samples, fit(4));
    assert_ne!(samples, fit(5));

    // Thread count does not matter either.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| fit(4));
    assert_eq!(samples, one);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let x = array![[0.0_f32, 1.0], [1.0, 0.0]];
    let mut model = head(3);
    assert_eq!(
        model.predict_samples(x.view()).unwrap_err(),
        Error::NotFitted
    );
    assert!(matches!(
        model.fit_seeded(array![[0.0_f32, f32::NAN]].view(), &[0], 0),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        model.fit_seeded(x.view(), &[0], 0),
        Err(Error::LengthMismatch { .. })
    ));
    let mut binary = LaplaceHead::new(LaplaceParams {
        n_classes: Some(2),
        ..LaplaceParams::default()
    })
    .unwrap();
    assert!(matches!(
        binary.fit_seeded(x.view(), &[0, 2], 0),
        Err(Error::LabelOutOfRange { .. })
    ));
    assert!(matches!(
        model.fit_seeded(x.view(), &[0, 1 << 20], 0),
        Err(Error::TooManyClasses {
            label: 1_048_576,
            row: 1,
            ..
        })
    ));
    model.fit_seeded(x.view(), &[0, 1], 0).unwrap();
    assert!(matches!(
        model.predict_samples(array![[0.0_f32, 1.0, 2.0]].view()),
        Err(Error::FeatureMismatch { .. })
    ));
    for params in [
        LaplaceParams {
            hidden: 0,
            ..LaplaceParams::default()
        },
        LaplaceParams {
            learning_rate: f32::NAN,
            ..LaplaceParams::default()
        },
        LaplaceParams {
            likelihood_power: Some(-1.0),
            ..LaplaceParams::default()
        },
        LaplaceParams {
            n_classes: Some(tdal_heads::MAX_CLASSES + 1),
            ..LaplaceParams::default()
        },
    ] {
        assert!(matches!(
            LaplaceHead::new(params),
            Err(Error::InvalidParam { .. })
        ));
    }
}
