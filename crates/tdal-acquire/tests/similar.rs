//! SIMILAR (FLQMI): lazy greedy against a naive greedy and against exhaustive search,
//! the gradient embedding against finite differences of the cross-entropy, and errors.

use ndarray::{Array1, Array2, Axis, array};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{Error, Flqmi, cosine_similarities, flqmi_value, gradient_embeddings};

/// 1 − 1/e, Nemhauser et al.'s bound for greedy on a monotone submodular function.
const GREEDY_BOUND: f64 = 1.0 - 1.0 / std::f64::consts::E;

// ---------------------------------------------------------------------------------------
// Strategies

/// One embedding value: continuous, exact zeros, or a few repeated values (ties, duplicate
/// and zero rows).
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1.0f32..1.0,
        1 => Just(0.0f32),
        1 => prop::sample::select(vec![-0.5f32, 0.5, 1.0]),
    ]
}

fn matrix(rows: usize, cols: usize) -> impl Strategy<Value = Array2<f32>> {
    proptest::collection::vec(value(), rows * cols)
        .prop_map(move |v| Array2::from_shape_vec((rows, cols), v).unwrap())
}

/// A pool `[n, d]` and queries `[m, d]` within the given bounds.
fn pool_and_queries(
    max_n: usize,
    max_m: usize,
    max_d: usize,
) -> impl Strategy<Value = (Array2<f32>, Array2<f32>)> {
    (1..=max_n, 1..=max_m, 1..=max_d).prop_flat_map(|(n, m, d)| (matrix(n, d), matrix(m, d)))
}

fn eta() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), Just(1.0f32), 0.0f32..4.0]
}

// ---------------------------------------------------------------------------------------
// Oracles

/// `max(0, max_i v_i)`.
fn max0(values: impl IntoIterator<Item = f32>) -> f32 {
    values
        .into_iter()
        .fold(0.0, |m, v| if v > m { v } else { m })
}

/// Naive greedy on similarities `[N, M]`: every round, every gain from scratch, by the
/// documented formula and order (`Σ_q max(0, s_jq − m_q)` as eight partial sums over
/// `q mod 8` combined pairwise, then `+ η r_j`, in f64), the highest gain and the lowest
/// index among equal ones.
fn naive_greedy(sims: &Array2<f32>, eta: f32, batch: usize) -> Vec<usize> {
    let (n, m) = sims.dim();
    let relevance: Vec<f64> = sims
        .rows()
        .into_iter()
        .map(|row| f64::from(max0(row.iter().copied())))
        .collect();
    let mut coverage = vec![0.0f32; m];
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < batch.min(n) {
        let mut best: Option<(usize, f64)> = None;
        for j in (0..n).filter(|j| !picked.contains(j)) {
            let mut sums = [0.0f64; 8];
            for q in 0..m {
                let d = f64::from(sims[[j, q]]) - f64::from(coverage[q]);
                sums[q % 8] += if d > 0.0 { d } else { 0.0 };
            }
            let covered = ((sums[0] + sums[1]) + (sums[2] + sums[3]))
                + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
            let gain = covered + f64::from(eta) * relevance[j];
            if best.is_none_or(|(_, g)| gain > g) {
                best = Some((j, gain));
            }
        }
        let (j, _) = best.unwrap();
        picked.push(j);
        for q in 0..m {
            coverage[q] = coverage[q].max(sims[[j, q]]);
        }
    }
    picked
}

/// All subsets of `0..n` of size `k`.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn extend(
        start: usize,
        n: usize,
        k: usize,
        current: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if current.len() == k {
            out.push(current.clone());
            return;
        }
        for i in start..n {
            current.push(i);
            extend(i + 1, n, k, current, out);
            current.pop();
        }
    }
    let mut out = Vec::new();
    extend(0, n, k, &mut Vec::new(), &mut out);
    out
}

/// Cosine similarity in f64 by definition, 0 for a zero row.
fn cosine_f64(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0f32..1.0))
}

fn assert_distinct_in_range(batch: &[usize], n: usize) {
    let mut sorted = batch.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), batch.len(), "repeated index in {batch:?}");
    assert!(
        batch.iter().all(|&j| j < n),
        "index out of range in {batch:?}"
    );
}

// ---------------------------------------------------------------------------------------
// FLQMI

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn greedy_is_within_one_minus_one_over_e_of_the_best_batch(
        (pool, queries) in pool_and_queries(8, 4, 4),
        batch in 1usize..=3,
        eta in eta(),
    ) {
        let n = pool.nrows();
        let chosen = Flqmi { eta }.select(pool.view(), queries.view(), batch).unwrap();
        prop_assert_eq!(chosen.len(), batch.min(n));
        assert_distinct_in_range(&chosen, n);
        let greedy = flqmi_value(pool.view(), queries.view(), eta, &chosen).unwrap();
        let best = subsets(n, batch.min(n))
            .iter()
            .map(|subset| flqmi_value(pool.view(), queries.view(), eta, subset).unwrap())
            .fold(0.0f64, f64::max);
        prop_assert!(greedy >= GREEDY_BOUND * best - 1e-9, "greedy {} best {}", greedy, best);
        prop_assert!(greedy <= best + 1e-9);
    }

    #[test]
    fn lazy_greedy_picks_what_naive_greedy_picks_from_similarities(
        sims in (1usize..=30, 1usize..=20).prop_flat_map(|(n, m)| matrix(n, m)),
        batch in 0usize..=35,
        eta in eta(),
    ) {
        let lazy = Flqmi { eta }.select_from_similarities(sims.view(), batch).unwrap();
        prop_assert_eq!(lazy, naive_greedy(&sims, eta, batch));
    }

    #[test]
    fn lazy_greedy_picks_what_naive_greedy_picks_from_embeddings(
        (pool, queries) in pool_and_queries(40, 12, 6),
        batch in 0usize..=45,
        eta in eta(),
    ) {
        let lazy = Flqmi { eta }.select(pool.view(), queries.view(), batch).unwrap();
        let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
        prop_assert_eq!(lazy, naive_greedy(&sims, eta, batch));
    }

    #[test]
    fn large_eta_selects_the_top_b_by_query_relevance(
        (pool, queries) in (1usize..=20, 1usize..=5, 2usize..=5).prop_flat_map(|(n, m, d)| {
            let continuous = |rows| proptest::collection::vec(-1.0f32..1.0, rows * d)
                .prop_map(move |v| Array2::from_shape_vec((rows, d), v).unwrap());
            (continuous(n), continuous(m))
        }),
        batch in 1usize..=20,
    ) {
        let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
        let relevance: Vec<f32> = sims.rows().into_iter().map(|r| max0(r.iter().copied())).collect();
        // The reduction is exact when η · (gap between distinct relevances) exceeds the
        // largest coverage gain (≤ M); equal positive relevances are decided by coverage.
        let mut positive: Vec<f32> = relevance.iter().copied().filter(|&r| r > 0.0).collect();
        positive.sort_by(f32::total_cmp);
        let distinct = positive.windows(2).all(|w| w[0] < w[1]);
        prop_assume!(distinct);
        let gap = std::iter::once(positive.first().copied().unwrap_or(1.0))
            .chain(positive.windows(2).map(|w| w[1] - w[0]))
            .fold(f32::INFINITY, f32::min);
        let eta = 4.0 * queries.nrows() as f32 / gap;
        prop_assume!(eta.is_finite() && eta < 1e30);
        let mut order: Vec<usize> = (0..pool.nrows()).collect();
        order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]).then(a.cmp(&b)));
        order.truncate(batch);
        prop_assert_eq!(Flqmi { eta }.select(pool.view(), queries.view(), batch).unwrap(), order);
    }

    #[test]
    fn flqmi_is_monotone_and_submodular(
        (pool, queries) in pool_and_queries(8, 4, 4),
        eta in eta(),
        membership in proptest::collection::vec(0u8..3, 8),
        extra in 0usize..8,
    ) {
        // membership 0: in A (and B), 1: in B only, 2: in neither.
        let n = pool.nrows();
        let a: Vec<usize> = (0..n).filter(|&i| membership[i] == 0).collect();
        let b: Vec<usize> = (0..n).filter(|&i| membership[i] <= 1).collect();
        let j = extra % n;
        prop_assume!(!b.contains(&j));
        let f = |s: &[usize]| flqmi_value(pool.view(), queries.view(), eta, s).unwrap();
        let with = |s: &[usize]| { let mut s = s.to_vec(); s.push(j); s };
        let gain_a = f(&with(&a)) - f(&a);
        let gain_b = f(&with(&b)) - f(&b);
        prop_assert!(f(&a) >= 0.0 && f(&[]) == 0.0);
        prop_assert!(gain_b >= -1e-9, "not monotone: {}", gain_b);
        prop_assert!(gain_a >= gain_b - 1e-9, "not submodular: {} < {}", gain_a, gain_b);
    }
}

#[test]
fn flqmi_value_matches_its_definition() {
    let pool = random_matrix(6, 5, 1);
    let queries = random_matrix(3, 5, 2);
    let subset = [4, 1, 2];
    let eta = 0.7f32;
    let s = |j: usize, q: usize| {
        cosine_f64(
            pool.row(j).as_slice().unwrap(),
            queries.row(q).as_slice().unwrap(),
        )
    };
    let coverage: f64 = (0..3)
        .map(|q| subset.iter().map(|&j| s(j, q)).fold(0.0, f64::max))
        .sum();
    let relevance: f64 = subset
        .iter()
        .map(|&j| (0..3).map(|q| s(j, q)).fold(0.0, f64::max))
        .sum();
    let want = coverage + f64::from(eta) * relevance;
    let got = flqmi_value(pool.view(), queries.view(), eta, &subset).unwrap();
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    assert_eq!(
        flqmi_value(pool.view(), queries.view(), eta, &[]).unwrap(),
        0.0
    );
}

#[test]
fn batch_is_min_of_batch_and_pool_size() {
    let pool = random_matrix(5, 3, 3);
    let queries = random_matrix(2, 3, 4);
    let flqmi = Flqmi::default();
    assert_eq!(
        flqmi.select(pool.view(), queries.view(), 0).unwrap(),
        Vec::<usize>::new()
    );
    let all = flqmi.select(pool.view(), queries.view(), 9).unwrap();
    assert_eq!(all.len(), 5);
    assert_distinct_in_range(&all, 5);
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(
        flqmi
            .select(empty.view(), queries.view(), 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn zero_gains_keep_picking_by_lowest_index() {
    // Every pool row points away from the query or is zero: every gain is 0.
    let queries = array![[1.0f32, 0.0]];
    let pool = array![[-1.0f32, 0.0], [0.0, 0.0], [-0.5, -0.5], [-2.0, 0.1]];
    let batch = Flqmi { eta: 5.0 }
        .select(pool.view(), queries.view(), 3)
        .unwrap();
    assert_eq!(batch, vec![0, 1, 2]);
    // After the only useful row, the rest by index.
    let pool = array![[-1.0f32, 0.0], [0.0, 0.0], [1.0, 0.0], [-2.0, 0.1]];
    let batch = Flqmi::default()
        .select(pool.view(), queries.view(), 4)
        .unwrap();
    assert_eq!(batch, vec![2, 0, 1, 3]);
}

#[test]
fn equal_gains_go_to_the_lowest_index() {
    let queries = array![[1.0f32, 0.0], [0.0, 1.0]];
    // Rows 1 and 3 are identical and the best; rows 0 and 2 identical, second best.
    let pool = array![[1.0f32, 0.2], [1.0, 1.0], [1.0, 0.2], [1.0, 1.0]];
    let batch = Flqmi { eta: 0.0 }
        .select(pool.view(), queries.view(), 4)
        .unwrap();
    assert_eq!(batch[0], 1);
    let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
    assert_eq!(batch, naive_greedy(&sims, 0.0, 4));
}

#[test]
fn similarities_match_the_definition_and_do_not_depend_on_the_other_rows() {
    // 700 rows cross several pool blocks; d = 387 is the paper's 3 · 129.
    let mut pool = random_matrix(700, 387, 5);
    pool.row_mut(13).fill(0.0);
    let queries = random_matrix(37, 387, 6);
    let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
    for j in [0, 13, 255, 256, 511, 699] {
        for q in 0..37 {
            let want = cosine_f64(
                pool.row(j).as_slice().unwrap(),
                queries.row(q).as_slice().unwrap(),
            );
            assert!((f64::from(sims[[j, q]]) - want).abs() < 1e-5);
        }
    }
    assert!(sims.row(13).iter().all(|&s| s == 0.0));
    let rows = [699, 3, 256, 300, 0];
    let part = cosine_similarities(pool.select(Axis(0), &rows).view(), queries.view()).unwrap();
    for (i, &j) in rows.iter().enumerate() {
        assert_eq!(part.row(i), sims.row(j), "row {j} differs bitwise");
    }
}

#[test]
fn lazy_greedy_matches_naive_greedy_on_look_alike_embeddings() {
    // Gradient embeddings of one model are alike: the first pick lowers nearly every gain,
    // so lazy greedy refreshes most bounds, in large parallel groups.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (n, m, classes, hidden) = (3000, 40, 3, 16);
    let mut embed = |rows: usize, labels: Option<&[u32]>| {
        let mut probs =
            Array2::from_shape_simple_fn((rows, classes), || rng.random::<f32>() + 1e-3);
        for mut row in probs.rows_mut() {
            let sum = row.sum();
            row.mapv_inplace(|v| v / sum);
        }
        let features = Array2::from_shape_simple_fn((rows, hidden), || rng.random::<f32>());
        gradient_embeddings(probs.view(), features.view(), labels).unwrap()
    };
    let pool = embed(n, None);
    let labels: Vec<u32> = (0..m).map(|i| u32::try_from(i % 2).unwrap()).collect();
    let queries = embed(m, Some(&labels));
    let sims = cosine_similarities(pool.view(), queries.view()).unwrap();
    for eta in [0.0f32, 1.0] {
        let lazy = Flqmi { eta }
            .select(pool.view(), queries.view(), 8)
            .unwrap();
        assert_eq!(lazy, naive_greedy(&sims, eta, 8), "eta = {eta}");
    }
}

#[test]
fn selection_does_not_depend_on_the_thread_count() {
    let pool = random_matrix(3000, 24, 7);
    let queries = random_matrix(20, 24, 8);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                (
                    cosine_similarities(pool.view(), queries.view()).unwrap(),
                    Flqmi::default()
                        .select(pool.view(), queries.view(), 25)
                        .unwrap(),
                )
            })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

// ---------------------------------------------------------------------------------------
// Gradient embeddings

/// Cross-entropy `−ln softmax(W h + b)_y` in f64, `w` row-major `[C, H]`.
fn cross_entropy(w: &[f64], b: &[f64], h: &[f64], y: usize) -> f64 {
    let logits: Vec<f64> = b
        .iter()
        .enumerate()
        .map(|(c, &bc)| {
            bc + h
                .iter()
                .enumerate()
                .map(|(k, &hk)| w[c * h.len() + k] * hk)
                .sum::<f64>()
        })
        .collect();
    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = top + logits.iter().map(|&z| (z - top).exp()).sum::<f64>().ln();
    log_sum - logits[y]
}

fn softmax(w: &[f64], b: &[f64], h: &[f64]) -> Vec<f64> {
    let ce: Vec<f64> = (0..b.len()).map(|y| cross_entropy(w, b, h, y)).collect();
    ce.iter().map(|&l| (-l).exp()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gradient_embedding_is_the_cross_entropy_gradient_wrt_bias_then_weights(
        (classes, hidden) in (1usize..=4, 0usize..=4),
        seed in any::<u64>(),
        given_label in any::<bool>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w: Vec<f64> = (0..classes * hidden).map(|_| rng.random_range(-2.0..2.0)).collect();
        let b: Vec<f64> = (0..classes).map(|_| rng.random_range(-2.0..2.0)).collect();
        let h: Vec<f64> = (0..hidden).map(|_| rng.random_range(-3.0..3.0)).collect();
        let p = softmax(&w, &b, &h);
        #[allow(clippy::cast_possible_truncation)]
        let probs = Array2::from_shape_vec((1, classes), p.iter().map(|&v| v as f32).collect()).unwrap();
        #[allow(clippy::cast_possible_truncation)]
        let features = Array2::from_shape_vec((1, hidden), h.iter().map(|&v| v as f32).collect()).unwrap();
        // Without labels ŷ is the argmax of the probabilities passed in, lowest on ties.
        let label = if given_label {
            rng.random_range(0..classes)
        } else {
            let row = probs.row(0);
            (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best })
        };
        let labels = [u32::try_from(label).unwrap()];
        let g = gradient_embeddings(
            probs.view(),
            features.view(),
            given_label.then_some(&labels[..]),
        )
        .unwrap();
        prop_assert_eq!(g.dim(), (1, classes * (hidden + 1)));
        // Central differences: the error is O(step²) and the rounding O(ε / step).
        let step = 1e-5;
        let h32: Vec<f64> = features.row(0).iter().map(|&v| f64::from(v)).collect();
        let ce = |w: &[f64], b: &[f64]| cross_entropy(w, b, &h32, label);
        for c in 0..classes {
            let (mut up, mut down) = (b.clone(), b.clone());
            up[c] += step;
            down[c] -= step;
            let numeric = (ce(&w, &up) - ce(&w, &down)) / (2.0 * step);
            prop_assert!((f64::from(g[[0, c]]) - numeric).abs() < 1e-5, "b[{}]: {} vs {}", c, g[[0, c]], numeric);
            for k in 0..hidden {
                let (mut up, mut down) = (w.clone(), w.clone());
                up[c * hidden + k] += step;
                down[c * hidden + k] -= step;
                let numeric = (ce(&up, &b) - ce(&down, &b)) / (2.0 * step);
                let analytic = f64::from(g[[0, classes + c * hidden + k]]);
                prop_assert!((analytic - numeric).abs() < 2e-5, "W[{}, {}]: {} vs {}", c, k, analytic, numeric);
            }
        }
    }
}

#[test]
fn gradient_embedding_uses_the_lowest_class_on_ties_and_the_given_labels() {
    let probs = array![[0.4f32, 0.4, 0.2], [0.1, 0.2, 0.7]];
    let features = array![[1.0f32, 2.0], [-1.0, 0.5]];
    let predicted = gradient_embeddings(probs.view(), features.view(), None).unwrap();
    assert_eq!(
        predicted.row(0).to_vec(),
        vec![-0.6, 0.4, 0.2, -0.6, -1.2, 0.4, 0.8, 0.2, 0.4]
    );
    let labelled = gradient_embeddings(probs.view(), features.view(), Some(&[2, 0])).unwrap();
    assert_eq!(
        labelled.row(0).slice(ndarray::s![..3]).to_vec(),
        vec![0.4, 0.4, -0.8]
    );
    let bias: Array1<f32> = labelled.row(1).slice(ndarray::s![..3]).to_owned();
    assert!((bias[0] + 0.9).abs() < 1e-6 && (bias[2] - 0.7).abs() < 1e-6);
    // No inputs: an empty `[0, C·(H + 1)]`.
    let none = gradient_embeddings(
        Array2::<f32>::zeros((0, 3)).view(),
        Array2::<f32>::zeros((0, 2)).view(),
        None,
    )
    .unwrap();
    assert_eq!(none.dim(), (0, 9));
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn gradient_embedding_errors_name_the_bad_input() {
    let probs = array![[0.5f32, 0.5], [0.9, 0.1]];
    let features = array![[1.0f32], [2.0]];
    let embed = |p: &Array2<f32>, f: &Array2<f32>, l: Option<&[u32]>| {
        gradient_embeddings(p.view(), f.view(), l).unwrap_err()
    };
    assert!(matches!(
        embed(&Array2::zeros((2, 0)), &features, None),
        Error::WrongShape { name: "probs", .. }
    ));
    assert!(matches!(
        embed(&probs, &array![[1.0f32]], None),
        Error::WrongShape {
            name: "features",
            ..
        }
    ));
    assert!(matches!(
        embed(&probs, &features, Some(&[0])),
        Error::WrongShape { name: "labels", .. }
    ));
    assert_eq!(
        embed(&probs, &features, Some(&[1, 2])),
        Error::LabelOutOfRange {
            origin: "labels",
            index: 1,
            label: 2,
            classes: 2
        }
    );
    assert!(matches!(
        embed(&probs, &array![[1.0f32], [f32::INFINITY]], None),
        Error::NonFiniteValue {
            name: "features",
            index: [1, 0],
            ..
        }
    ));
    assert!(matches!(
        embed(&array![[0.5f32, 0.5], [f32::NAN, 0.1]], &features, None),
        Error::NonFinite {
            name: "probs",
            index: [1, 0, 0],
            ..
        }
    ));
    assert!(matches!(
        embed(&array![[0.5f32, 0.6], [0.9, 0.1]], &features, None),
        Error::NotNormalised { name: "probs", .. }
    ));
    let message = embed(&probs, &features, Some(&[1, 7])).to_string();
    assert!(message.contains("label 7 for pool input 1"), "{message}");
}

#[test]
fn selection_errors_name_the_bad_input() {
    let pool = array![[1.0f32, 0.0], [0.0, 1.0]];
    let queries = array![[1.0f32, 1.0]];
    let flqmi = Flqmi::default();
    let no_queries = flqmi
        .select(pool.view(), Array2::zeros((0, 2)).view(), 1)
        .unwrap_err();
    assert_eq!(no_queries, Error::NoQueries);
    assert!(no_queries.to_string().contains("at least one query"));
    assert!(matches!(
        flqmi.select(pool.view(), array![[1.0f32, 0.0, 0.0]].view(), 1),
        Err(Error::WrongShape {
            name: "queries",
            ..
        })
    ));
    assert!(matches!(
        flqmi.select(
            Array2::zeros((2, 0)).view(),
            Array2::zeros((1, 0)).view(),
            1
        ),
        Err(Error::WrongShape { name: "pool", .. })
    ));
    assert!(matches!(
        flqmi.select(
            array![[1.0f32, 0.0], [0.0, f32::NAN]].view(),
            queries.view(),
            1
        ),
        Err(Error::NonFiniteValue {
            name: "pool",
            index: [1, 1],
            ..
        })
    ));
    assert!(matches!(
        flqmi.select(pool.view(), array![[f32::NEG_INFINITY, 0.0]].view(), 1),
        Err(Error::NonFiniteValue {
            name: "queries",
            index: [0, 0],
            ..
        })
    ));
    for eta in [-0.1f32, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            Flqmi { eta }.select(pool.view(), queries.view(), 1),
            Err(Error::InvalidParameter { name: "eta", .. })
        ));
        assert!(matches!(
            flqmi_value(pool.view(), queries.view(), eta, &[0]),
            Err(Error::InvalidParameter { name: "eta", .. })
        ));
    }
    assert!(matches!(
        flqmi.select_from_similarities(array![[0.5f32], [f32::NAN]].view(), 1),
        Err(Error::NonFiniteValue {
            name: "similarities",
            index: [1, 0],
            ..
        })
    ));
    assert_eq!(
        flqmi.select_from_similarities(Array2::zeros((3, 0)).view(), 1),
        Err(Error::NoQueries)
    );
    assert_eq!(
        flqmi_value(pool.view(), queries.view(), 1.0, &[0, 2]),
        Err(Error::CandidateOutOfRange {
            candidate: 2,
            pool: 2
        })
    );
    assert_eq!(
        flqmi_value(pool.view(), queries.view(), 1.0, &[1, 1]),
        Err(Error::DuplicateCandidate { candidate: 1 })
    );
    assert_eq!(
        flqmi_value(pool.view(), Array2::zeros((0, 2)).view(), 1.0, &[0]),
        Err(Error::NoQueries)
    );
}
