//! EPIG against a brute-force oracle, closed forms and its invariants.

mod common;

use approx::assert_abs_diff_eq;
use common::{oracle_entropy, oracle_epig, pool_and_targets};
use ndarray::{Array3, Axis, array, s};
use proptest::prelude::*;
use tdal_acquire::{Acquisition, Epig, Error, Kernel};

const TOL: f64 = 1e-5;

fn epig(pool: &Array3<f32>, targets: &Array3<f32>) -> ndarray::Array1<f32> {
    Epig::new(targets.clone())
        .unwrap()
        .score(pool.view())
        .unwrap()
}

fn epig_portable(pool: &Array3<f32>, targets: &Array3<f32>) -> ndarray::Array1<f32> {
    Epig::new(targets.clone())
        .unwrap()
        .with_kernel(Kernel::Portable)
        .score(pool.view())
        .unwrap()
}

#[test]
fn matches_brute_force_oracle_on_a_larger_random_case() {
    // Crosses several pool blocks and column blocks.

    let pool = common::random_probs(300, 20, 4, 1);
    let targets = common::random_probs(37, 20, 4, 2);
    let want = oracle_epig(pool.view(), targets.view());
    for (kernel, blocks, columns) in [
        (Kernel::Auto, None, None),
        (Kernel::Auto, Some(7), Some(10)),
        (Kernel::Auto, Some(5), Some(1)),
        (Kernel::Portable, None, None),
        (Kernel::Portable, Some(7), Some(10)),
        (Kernel::Portable, Some(1000), Some(3)),
    ] {
        let mut e = Epig::new(targets.clone()).unwrap().with_kernel(kernel);
        if let (Some(b), Some(w)) = (blocks, columns) {
            e = e.with_blocks(b, w).unwrap();
        }
        let got = e.score(pool.view()).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_abs_diff_eq!(f64::from(*g), w.max(0.0), epsilon = TOL);
        }
    }
}

#[test]
fn thread_count_does_not_change_the_result() {
    let pool = common::random_probs(500, 30, 3, 5);
    let targets = common::random_probs(60, 30, 3, 6);
    for kernel in [Kernel::Auto, Kernel::Portable] {
        let e = Epig::new(targets.clone()).unwrap().with_kernel(kernel);
        let run = |threads: usize| {
            let pool_ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool_.install(|| e.score(pool.view()).unwrap())
        };
        assert_eq!(run(1), run(2), "{kernel:?}");
        assert_eq!(run(1), run(3), "{kernel:?}");
    }
}

#[test]
fn single_posterior_sample_gives_zero() {
    let pool = array![[[0.2f32, 0.8]], [[0.5, 0.5]], [[1.0, 0.0]]];
    let targets = array![[[0.3f32, 0.7]], [[0.9, 0.1]]];
    assert!(epig(&pool, &targets).iter().all(|&v| v.abs() < 1e-6));
}

#[test]
fn targets_independent_of_theta_give_zero() {
    // Every posterior sample predicts the same distribution for x*: nothing to learn.
    let pool = array![
        [[0.9f32, 0.1], [0.1, 0.9], [0.5, 0.5]],
        [[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]
    ];
    let targets = array![[[0.3f32, 0.7], [0.3, 0.7], [0.3, 0.7]]];
    assert!(epig(&pool, &targets).iter().all(|&v| v.abs() < 1e-6));
}

#[test]
fn perfectly_coupled_deterministic_inputs_give_ln_2() {
    // Two equally likely samples that disagree deterministically on x and on x*, in the same
    // way: y determines y*, so I(y; y*) = H[y*] = ln 2.
    let pool = array![[[1.0f32, 0.0], [0.0, 1.0]]];
    let targets = array![[[0.0f32, 1.0], [1.0, 0.0]]];
    assert_abs_diff_eq!(
        f64::from(epig(&pool, &targets)[0]),
        std::f64::consts::LN_2,
        epsilon = 1e-6
    );
}

#[test]
fn mismatched_samples_or_classes_are_errors() {
    let e = Epig::new(Array3::from_elem((2, 3, 2), 0.5)).unwrap();
    let err = e
        .score(Array3::from_elem((4, 2, 2), 0.5).view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                pool_k: 2,
                targets_k: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = e
        .score(Array3::from_elem((4, 3, 4), 0.25).view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                pool_c: 4,
                targets_c: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        Epig::new(Array3::zeros((0, 3, 2))),
        Err(Error::EmptyAxis {
            name: "targets",
            ..
        })
    ));
}

#[test]
fn memory_budget_bounds_the_plan_whatever_n() {
    let targets = Array3::from_elem((500, 100, 3), 1.0 / 3.0);
    let e = Epig::new(targets).unwrap().with_memory_budget(8 << 20);
    for n in [1, 1000, 60_000, 10_000_000] {
        let plan = e.plan(n).unwrap();
        assert!(plan.peak_bytes <= 8 << 20, "{plan:?}");
        assert!(plan.block_inputs >= 1 && plan.block_inputs <= n);
    }
    let tiny = Epig::new(Array3::from_elem((500, 100, 3), 1.0 / 3.0))
        .unwrap()
        .with_memory_budget(1000);
    assert!(matches!(tiny.plan(10), Err(Error::MemoryBudget { .. })));
}

#[test]
fn non_contiguous_views_score_like_their_copies() {
    let pool = common::random_probs(40, 6, 3, 3);
    let targets = common::random_probs(9, 6, 3, 4);
    let e = Epig::new(targets).unwrap();
    let strided = pool.slice(s![..;3, .., ..]);
    let got = e.score(strided).unwrap();
    let want = e.score(strided.to_owned().view()).unwrap();
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn epig_matches_the_brute_force_oracle((pool, targets) in pool_and_targets(12, 6, 8, 5)) {
        let want = oracle_epig(pool.view(), targets.view());
        for got in [epig(&pool, &targets), epig_portable(&pool, &targets)] {
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((f64::from(*g) - w.max(0.0)).abs() <= TOL, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn epig_is_bounded_by_marginal_entropies((pool, targets) in pool_and_targets(12, 6, 8, 5)) {
        let got = epig(&pool, &targets);
        let h_pool = oracle_entropy(pool.view());
        let h_targets = oracle_entropy(targets.view()).mean().unwrap();
        for (g, h) in got.iter().zip(&h_pool) {
            let g = f64::from(*g);
            prop_assert!(g >= 0.0);
            prop_assert!(g <= h.min(h_targets) + TOL, "{g} > min({h}, {h_targets})");
        }
    }

    #[test]
    fn epig_is_invariant_to_permuting_samples_and_targets(
        (pool, targets) in pool_and_targets(10, 6, 6, 4),
        seed in any::<u64>(),
    ) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut sample_order: Vec<usize> = (0..pool.dim().1).collect();
        sample_order.shuffle(&mut rng);
        let mut target_order: Vec<usize> = (0..targets.dim().0).collect();
        target_order.shuffle(&mut rng);
        let pool_p = pool.select(Axis(1), &sample_order);
        let targets_p = targets.select(Axis(1), &sample_order).select(Axis(0), &target_order);
        let a = epig(&pool, &targets);
        let b = epig(&pool_p, &targets_p);
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() <= 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn block_sizes_do_not_change_the_result(
        (pool, targets) in pool_and_targets(40, 10, 6, 4),
        block_inputs in 1usize..50,
        block_columns in 1usize..50,
    ) {
        let reference = epig(&pool, &targets);
        for kernel in [Kernel::Auto, Kernel::Portable] {
            let blocked = Epig::new(targets.clone()).unwrap().with_kernel(kernel).with_blocks(block_inputs, block_columns).unwrap();
            let got = blocked.score(pool.view()).unwrap();
            for (x, y) in reference.iter().zip(&got) {
                prop_assert!((x - y).abs() <= 1e-5, "{kernel:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn agreeing_samples_give_zero(pool in common::probs(6, 1, 3), targets in common::probs(4, 1, 3), k in 1usize..6) {
        // Repeat a single sample K times: all θ_k agree.
        let pool_k = ndarray::concatenate(Axis(1), &vec![pool.view(); k]).unwrap();
        let targets_k = ndarray::concatenate(Axis(1), &vec![targets.view(); k]).unwrap();
        prop_assert!(epig(&pool_k, &targets_k).iter().all(|&v| v.abs() <= 1e-5));
    }
}
