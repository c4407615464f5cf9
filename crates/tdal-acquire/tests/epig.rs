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
    for kernel in [
        Kernel::Auto,
        Kernel::Avx2,
        Kernel::FullJoint,
        Kernel::Portable,
    ] {
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
        for kernel in [Kernel::Auto, Kernel::Avx2, Kernel::FullJoint, Kernel::Portable] {
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

/// Rows concentrated near one class: `1 − (C−1)·eps` on a random class, `eps` elsewhere,
/// jittered per sample by up to `jitter` before renormalising — the case where the
/// marginal identity's subtractions would lose a near-zero joint entry without centring.
fn near_one_hot(n: usize, k: usize, c: usize, eps: f32, jitter: f32, seed: u64) -> Array3<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array3::<f32>::zeros((n, k, c));
    for i in 0..n {
        let hot = rng.random_range(0..c);
        for s in 0..k {
            for y in 0..c {
                let base = if y == hot {
                    1.0 - (c - 1) as f32 * eps
                } else {
                    eps
                };
                p[[i, s, y]] = base + jitter * rng.random::<f32>();
            }
        }
    }
    common::normalise(p)
}

/// Scales each row of input `i` by `1 + δ` with δ varying over the samples (|δ| ≤ 5e-4,
/// inside the validation tolerance): the marginal identity does not hold for it.
fn perturb_row_sums(p: &mut Array3<f32>, inputs: &[usize], seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for &i in inputs {
        for mut row in p.slice_mut(s![i, .., ..]).rows_mut() {
            let scale = 1.0 + rng.random_range(-5e-4f32..5e-4);
            row.mapv_inplace(|v| v * scale);
        }
    }
}

/// Whether every input's row sums spread by at most 4 f32 ulps of 1 over the samples, the
/// condition under which the marginal-identity kernel scores it.
fn all_rows_exact(p: &Array3<f32>) -> bool {
    p.outer_iter().all(|input| {
        let sums: Vec<f64> = input
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).sum())
            .collect();
        let (lo, hi) = sums
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
                (lo.min(s), hi.max(s))
            });
        hi - lo <= 4.0 * f64::from(f32::EPSILON)
    })
}

fn with_kernel(pool: &Array3<f32>, targets: &Array3<f32>, kernel: Kernel) -> ndarray::Array1<f32> {
    Epig::new(targets.clone())
        .unwrap()
        .with_kernel(kernel)
        .score(pool.view())
        .unwrap()
}

fn full_joint(pool: &Array3<f32>, targets: &Array3<f32>) -> ndarray::Array1<f32> {
    with_kernel(pool, targets, Kernel::FullJoint)
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn the_marginal_kernel_is_chosen_for_two_to_four_classes() {
    for c in 2..=6 {
        let targets = common::random_probs(5, 4, c, 1);
        let plan = Epig::new(targets.clone()).unwrap().plan(10).unwrap();
        assert_eq!(plan.marginal, has_avx2_fma() && c <= 4, "C = {c}: {plan:?}");
        assert_eq!(plan.avx512, has_avx512() && c <= 4, "C = {c}: {plan:?}");
        let avx2 = Epig::new(targets.clone())
            .unwrap()
            .with_kernel(Kernel::Avx2)
            .plan(10)
            .unwrap();
        assert!(!avx2.avx512 && avx2.marginal == plan.marginal);
        let full = Epig::new(targets.clone())
            .unwrap()
            .with_kernel(Kernel::FullJoint)
            .plan(10)
            .unwrap();
        assert!(!full.marginal);
        // Targets whose row sums vary over the samples cannot use it.
        let mut inexact = targets;
        perturb_row_sums(&mut inexact, &[2], 3);
        assert!(!Epig::new(inexact).unwrap().plan(10).unwrap().marginal);
    }
}

#[test]
fn near_one_hot_and_exactly_one_hot_rows_match_the_oracle() {
    for c in 2..=4 {
        for (eps, jitter) in [
            (0.0f32, 0.0f32),
            (1e-9, 0.0),
            (1e-7, 0.0),
            (1e-5, 0.0),
            (1e-3, 0.0),
            (1e-5, 1e-4),
            (0.0, 1e-2),
            (1e-9, 1e-6),
        ] {
            let seed = u64::from(eps.to_bits() ^ jitter.to_bits());
            let pool = near_one_hot(60, 50, c, eps, jitter, seed);
            let targets = near_one_hot(20, 50, c, eps, jitter, seed + 1);
            assert!(all_rows_exact(&pool) && all_rows_exact(&targets));
            let want = oracle_epig(pool.view(), targets.view());
            for (kernel, got) in [
                ("auto", epig(&pool, &targets)),
                ("avx2", with_kernel(&pool, &targets, Kernel::Avx2)),
                ("full", full_joint(&pool, &targets)),
            ] {
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (f64::from(*g) - w.max(0.0)).abs() <= TOL,
                        "{kernel}, C = {c}, eps = {eps}, jitter = {jitter}: {g} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn rows_summing_to_one_only_within_tolerance_take_the_full_kernel_and_match_the_oracle() {
    let mut pool = common::random_probs(50, 20, 3, 7);
    perturb_row_sums(&mut pool, &[0, 3, 4, 17, 49], 8);
    let targets = common::random_probs(30, 20, 3, 9);
    let want = oracle_epig(pool.view(), targets.view());
    let full = full_joint(&pool, &targets);
    for kernel in [Kernel::Auto, Kernel::Avx2] {
        let got = with_kernel(&pool, &targets, kernel);
        for (g, w) in got.iter().zip(&want) {
            assert!((f64::from(*g) - w.max(0.0)).abs() <= TOL, "{g} vs {w}");
        }
        // The perturbed inputs get exactly the full kernel's scores.
        for i in [0, 3, 4, 17, 49] {
            assert_eq!(got[i], full[i]);
        }
    }
}

#[test]
fn each_score_depends_only_on_its_own_input() {
    // Shards, blocks and thread counts must not change a score by a single bit: score every
    // input alone and compare with the whole pool, exact and inexact inputs mixed.
    let mut pool = common::random_probs(45, 16, 3, 11);
    perturb_row_sums(&mut pool, &[1, 2, 30], 12);
    let targets = common::random_probs(21, 16, 3, 13);
    for kernel in [
        Kernel::Auto,
        Kernel::Avx2,
        Kernel::FullJoint,
        Kernel::Portable,
    ] {
        let e = Epig::new(targets.clone()).unwrap().with_kernel(kernel);
        let whole = e.score(pool.view()).unwrap();
        for i in 0..pool.dim().0 {
            let alone = e.score(pool.slice(s![i..=i, .., ..])).unwrap();
            assert_eq!(
                alone[0].to_bits(),
                whole[i].to_bits(),
                "{kernel:?}, input {i}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_marginal_kernel_matches_the_oracle_and_the_full_kernel(
        (pool, targets) in pool_and_targets(20, 20, 12, 4),
        perturbed in proptest::collection::vec(any::<bool>(), 20),
        seed in any::<u64>(),
    ) {
        let mut pool = pool;
        let chosen: Vec<usize> = (0..pool.dim().0).filter(|&i| perturbed[i]).collect();
        perturb_row_sums(&mut pool, &chosen, seed);
        let want = oracle_epig(pool.view(), targets.view());
        for kernel in [Kernel::Auto, Kernel::Avx2, Kernel::FullJoint] {
            let got = with_kernel(&pool, &targets, kernel);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((f64::from(*g) - w.max(0.0)).abs() <= TOL, "{kernel:?}: {g} vs {w}");
            }
        }
    }
}

/// Sample k near one-hot on class `z[k]`, the same `z` for every input: the samples
/// disagree confidently and in the same way for the pool and the targets, so joint entries
/// near 0 are the cancellation of the predictive means' product and the covariance — the
/// marginal-identity kernel's hardest case.
fn disagreeing(n: usize, z: &[usize], c: usize, eps: f32, seed: u64) -> Array3<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut p = Array3::<f32>::zeros((n, z.len(), c));
    for i in 0..n {
        for (s, &hot) in z.iter().enumerate() {
            for y in 0..c {
                p[[i, s, y]] = if y == hot {
                    1.0
                } else {
                    eps * rng.random::<f32>()
                };
            }
        }
    }
    common::normalise(p)
}

#[test]
fn confidently_disagreeing_samples_match_the_oracle_up_to_the_sample_limit() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    for k in [32, 100, 101, 300] {
        for c in 2..=4 {
            let z: Vec<usize> = (0..k).map(|_| rng.random_range(0..c)).collect();
            for eps in [0.0f32, 1e-6, 1e-3] {
                let seed = rng.random();
                let pool = disagreeing(4, &z, c, eps, seed);
                let targets = disagreeing(6, &z, c, eps, seed + 1);
                let plan = Epig::new(targets.clone()).unwrap().plan(4).unwrap();
                // The marginal-identity kernel stops at K = 100.
                assert_eq!(plan.marginal, has_avx2_fma() && k <= 100, "K = {k}");
                let want = oracle_epig(pool.view(), targets.view());
                for kernel in [Kernel::Auto, Kernel::Avx2, Kernel::FullJoint] {
                    let got = with_kernel(&pool, &targets, kernel);
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (f64::from(*g) - w.max(0.0)).abs() <= TOL,
                            "{kernel:?}, K = {k}, C = {c}, eps = {eps}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn inexact_targets_are_scored_by_the_full_kernel_and_match_the_oracle() {
    let pool = common::random_probs(20, 12, 3, 21);
    let mut targets = common::random_probs(9, 12, 3, 22);
    perturb_row_sums(&mut targets, &[0, 5], 23);
    let want = oracle_epig(pool.view(), targets.view());
    let got = epig(&pool, &targets);
    assert_eq!(got, full_joint(&pool, &targets));
    for (g, w) in got.iter().zip(&want) {
        assert!((f64::from(*g) - w.max(0.0)).abs() <= TOL, "{g} vs {w}");
    }
}
