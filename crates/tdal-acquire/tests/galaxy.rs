//! GALAXY: the fast path against a brute-force re-implementation (explicit adjacency
//! matrices, all-pairs distances recomputed after every label), plus the batch contract,
//! the higher-order fallback, determinism, the saved state and the errors.

use std::collections::HashSet;

use ndarray::{Array2, array};
use proptest::prelude::*;
use tdal_acquire::{Error, Galaxy, GalaxyParams, GalaxyQuery, GalaxyQueryKind, GalaxyState};

// ---------------------------------------------------------------------------------------
// The brute-force oracle
// ---------------------------------------------------------------------------------------

/// `rank[i]` of every pool index in class `c`'s graph: ascending `(p_c − m) + 1e-8 m`,
/// equal scores by index (a stable sort of the indices).
fn brute_ranks(probs: &Array2<f32>, c: usize) -> Vec<usize> {
    let n = probs.nrows();
    let score = |i: usize| {
        let m = f64::from(probs.row(i).iter().fold(0.0f32, |a, &b| a.max(b)));
        (f64::from(probs[[i, c]]) - m) + 1e-8 * m
    };
    let mut by_rank: Vec<usize> = (0..n).collect();
    by_rank.sort_by(|&a, &b| score(a).partial_cmp(&score(b)).unwrap());
    let mut rank = vec![0; n];
    for (r, &i) in by_rank.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

const FAR: usize = usize::MAX / 4;

/// All-pairs shortest path lengths (Floyd–Warshall) in class `c`'s graph at `order`.
fn all_pairs(rank: &[usize], labels: &[Option<u32>], c: u32, order: usize) -> Vec<Vec<usize>> {
    let n = rank.len();
    let mut d = vec![vec![FAR; n]; n];
    for u in 0..n {
        d[u][u] = 0;
        for v in 0..n {
            let cut = match (labels[u], labels[v]) {
                (Some(a), Some(b)) => (a == c) != (b == c),
                _ => false,
            };
            if u != v && rank[u].abs_diff(rank[v]) <= order && !cut {
                d[u][v] = 1;
            }
        }
    }
    for k in 0..n {
        for u in 0..n {
            for v in 0..n {
                d[u][v] = d[u][v].min(d[u][k] + d[k][v]);
            }
        }
    }
    d
}

/// The whole round by the spec, slowly: every query recomputes every distance.
fn brute_force_round(
    probs: &Array2<f32>,
    labels: &[Option<u32>],
    truth: &[u32],
    batch: usize,
    initial_order: usize,
    start_class: usize,
) -> Vec<GalaxyQuery> {
    let (n, classes) = probs.dim();
    let ranks: Vec<Vec<usize>> = (0..classes).map(|c| brute_ranks(probs, c)).collect();
    let mut labels = labels.to_vec();
    let mut order = initial_order;
    let mut class = start_class % classes;
    let mut queries = Vec::new();
    while queries.len() < batch && labels.iter().any(Option::is_none) {
        let rank = &ranks[class];
        let c = class as u32;
        let positives: Vec<usize> = (0..n).filter(|&i| labels[i] == Some(c)).collect();
        let negatives: Vec<usize> = (0..n)
            .filter(|&i| labels[i].is_some_and(|l| l != c))
            .collect();
        let unlabelled = (0..n).filter(|&i| labels[i].is_none());
        let (index, kind) = if positives.is_empty() {
            (
                unlabelled.max_by_key(|&i| rank[i]).unwrap(),
                GalaxyQueryKind::SeekClass,
            )
        } else if negatives.is_empty() {
            (
                unlabelled.min_by_key(|&i| rank[i]).unwrap(),
                GalaxyQueryKind::SeekRest,
            )
        } else {
            let (d, length) = loop {
                let d = all_pairs(rank, &labels, c, order);
                let length = positives
                    .iter()
                    .flat_map(|&p| negatives.iter().map(move |&q| (p, q)))
                    .map(|(p, q)| d[p][q])
                    .min()
                    .unwrap();
                if length < FAR {
                    break (d, length);
                }
                assert!(order < n, "no order joins the two sides");
                order += 1;
            };
            let (half, rest) = (length / 2, length - length / 2);
            // Points ⌊L/2⌋ hops from the +1 end of some shortest +1/−1 path.
            let on_a_path = |v: usize| {
                positives.iter().any(|&p| {
                    negatives
                        .iter()
                        .any(|&q| d[p][q] == length && d[p][v] == half && d[v][q] == rest)
                })
            };
            let index = (0..n).filter(|&v| on_a_path(v)).min().unwrap();
            (
                index,
                GalaxyQueryKind::Bisection {
                    path_length: length,
                },
            )
        };
        assert!(labels[index].is_none());
        labels[index] = Some(truth[index]);
        queries.push(GalaxyQuery {
            index,
            label: truth[index],
            class,
            order,
            kind,
        });
        class = (class + 1) % classes;
    }
    queries
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Rows normalised from weights with many exact repeats (ties in the scores) and zeros.
fn probs(n: usize, c: usize) -> impl Strategy<Value = Array2<f32>> {
    proptest::collection::vec(
        prop_oneof![2 => Just(0.0f32), 2 => Just(1.0f32), 1 => Just(2.0f32), 4 => 0.0f32..1.0],
        n * c,
    )
    .prop_map(move |raw| {
        let mut p = Array2::from_shape_vec((n, c), raw).unwrap();
        for mut row in p.rows_mut() {
            let sum: f32 = row.sum();
            if sum > 0.0 {
                row.mapv_inplace(|v| v / sum);
            } else {
                row.fill(1.0 / c as f32);
            }
        }
        p
    })
}

/// A pool: probabilities, true labels, and which of them are known.
#[derive(Debug, Clone)]
struct Pool {
    probs: Array2<f32>,
    truth: Vec<u32>,
    labels: Vec<Option<u32>>,
}

fn pool(max_n: usize, max_c: usize) -> impl Strategy<Value = Pool> {
    (1..=max_n, 2..=max_c).prop_flat_map(|(n, c)| {
        (
            probs(n, c),
            proptest::collection::vec(0..c as u32, n),
            proptest::collection::vec(proptest::bool::weighted(0.4), n),
        )
            .prop_map(|(probs, truth, known)| {
                let labels = truth
                    .iter()
                    .zip(&known)
                    .map(|(&t, &k)| k.then_some(t))
                    .collect();
                Pool {
                    probs,
                    truth,
                    labels,
                }
            })
    })
}

fn truth_oracle(truth: &[u32]) -> impl FnMut(usize) -> Result<u32, String> + '_ {
    |i| Ok(truth[i])
}

fn galaxy(initial_order: usize, carry: bool) -> Galaxy {
    Galaxy::new(GalaxyParams {
        initial_order,
        carry_class_pointer: carry,
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_query_is_the_lowest_index_midpoint_of_a_brute_force_shortest_path(
        pool in pool(10, 4),
        batch in 1usize..12,
        initial_order in 1usize..4,
        start_class in 0usize..4,
    ) {
        let mut galaxy = Galaxy::from_state(GalaxyState {
            initial_order,
            carry_class_pointer: true,
            next_class: start_class,
            rounds: 0,
        })
        .unwrap();
        let queries = galaxy
            .select_queries(pool.probs.view(), &pool.labels, batch, &mut truth_oracle(&pool.truth))
            .unwrap();
        let expected = brute_force_round(
            &pool.probs, &pool.labels, &pool.truth, batch, initial_order, start_class,
        );
        prop_assert_eq!(queries, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn batch_is_full_distinct_previously_unlabelled_and_labelled_by_the_oracle(
        pool in pool(60, 6),
        batch in 1usize..20,
    ) {
        let mut asked = Vec::new();
        let mut oracle = |i: usize| {
            asked.push(i);
            Ok(pool.truth[i])
        };
        let queries = galaxy(1, false)
            .select_queries(pool.probs.view(), &pool.labels, batch, &mut oracle)
            .unwrap();
        let unlabelled = pool.labels.iter().filter(|l| l.is_none()).count();
        prop_assert_eq!(queries.len(), batch.min(unlabelled));
        let indices: Vec<usize> = queries.iter().map(|q| q.index).collect();
        prop_assert_eq!(&indices, &asked, "the oracle is asked once per query, in order");
        prop_assert_eq!(indices.iter().collect::<HashSet<_>>().len(), indices.len());
        for query in &queries {
            prop_assert!(pool.labels[query.index].is_none());
            prop_assert_eq!(query.label, pool.truth[query.index]);
            if let GalaxyQueryKind::Bisection { path_length } = query.kind {
                prop_assert!(path_length >= 2);
            }
        }
        // The order only ever rises within a round; the classes cycle from 0.
        prop_assert!(queries.windows(2).all(|w| w[0].order <= w[1].order));
        let classes = pool.probs.ncols();
        prop_assert!(queries.iter().enumerate().all(|(j, q)| q.class == j % classes));
    }
}

// ---------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------

/// Two classes over 8 inputs, P(class 1) rising with the index, so class 1's ranking is
/// the pool order and class 0's its reverse.
fn rising(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, 2), |(i, c)| {
        let p1 = 0.05 + 0.9 * i as f32 / (n - 1) as f32;
        if c == 1 { p1 } else { 1.0 - p1 }
    })
}

#[test]
fn higher_order_is_used_when_every_opposite_pair_is_adjacent_and_cut() {
    // Inputs 0..4 labelled 0, 1, 0, 1: in class 0's graph (ranks 7, 6, 5, 4) every +1 is
    // next only to −1 inputs, so order 1 has no path; order 2 joins input 2 (rank 5) to
    // input 4 (rank 3), which is next to the −1 input 3.
    let probs = rising(8);
    let truth = [0, 1, 0, 1, 1, 1, 0, 0];
    let labels = [Some(0), Some(1), Some(0), Some(1), None, None, None, None];
    let queries = galaxy(1, false)
        .select_queries(probs.view(), &labels, 4, &mut truth_oracle(&truth))
        .unwrap();
    assert_eq!(
        queries[0],
        GalaxyQuery {
            index: 4,
            label: 1,
            class: 0,
            order: 2,
            kind: GalaxyQueryKind::Bisection { path_length: 2 },
        }
    );
    let mut indices: Vec<usize> = queries.iter().map(|q| q.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, vec![4, 5, 6, 7]);
    assert!(queries.iter().all(|q| q.order >= 2));
    let expected = brute_force_round(&probs, &labels, &truth, 4, 1, 0);
    assert_eq!(queries, expected);
}

#[test]
fn a_class_without_labels_is_sought_at_the_top_of_its_ranking() {
    // Three classes, nothing labelled 2 yet: class 2's graph queries the unlabelled input
    // the network finds most likely to be 2.
    let probs = array![
        [0.8f32, 0.1, 0.1],
        [0.1, 0.8, 0.1],
        [0.3, 0.2, 0.5],
        [0.2, 0.1, 0.7],
        [0.5, 0.4, 0.1],
    ];
    let truth = [0, 1, 2, 2, 0];
    let labels = [Some(0), Some(1), None, None, None];
    let state = GalaxyState {
        initial_order: 1,
        carry_class_pointer: true,
        next_class: 2,
        rounds: 0,
    };
    let queries = Galaxy::from_state(state)
        .unwrap()
        .select_queries(probs.view(), &labels, 1, &mut truth_oracle(&truth))
        .unwrap();
    assert_eq!(queries[0].index, 3);
    assert_eq!(queries[0].kind, GalaxyQueryKind::SeekClass);
}

#[test]
fn a_batch_larger_than_the_unlabelled_inputs_takes_them_all() {
    let probs = rising(6);
    let truth = [0, 0, 0, 1, 1, 1];
    let labels = [Some(0), None, Some(0), None, None, Some(1)];
    let mut batch = galaxy(1, false)
        .select(probs.view(), &labels, 10, &mut truth_oracle(&truth))
        .unwrap();
    batch.sort_unstable();
    assert_eq!(batch, vec![1, 3, 4]);
    let all = [Some(0), Some(0), Some(0), Some(1), Some(1), Some(1)];
    let none = galaxy(1, false)
        .select(probs.view(), &all, 3, &mut |_| Err("never asked".into()))
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_batch() {
    let probs = rising(40);
    let truth: Vec<u32> = (0..40).map(|i| u32::from(i % 7 == 0 || i > 30)).collect();
    let labels: Vec<Option<u32>> = (0..40).map(|i| (i % 9 == 0).then_some(truth[i])).collect();
    let run = || {
        galaxy(1, false)
            .select_queries(probs.view(), &labels, 10, &mut truth_oracle(&truth))
            .unwrap()
    };
    assert_eq!(run(), run());
}

/// Three rounds on a growing labelled set; `restart` rebuilds the selector from its
/// saved state before every round.
fn three_rounds(carry: bool, restart: bool) -> (Vec<Vec<usize>>, GalaxyState) {
    let n = 30;
    let probs = Array2::from_shape_fn((n, 3), |(i, c)| {
        let w = [
            1.0 + (i % 5) as f32,
            1.0 + (i % 3) as f32,
            0.5 + (i % 7) as f32,
        ];
        w[c] / w.iter().sum::<f32>()
    });
    let truth: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 1) % 3).collect();
    let mut labels: Vec<Option<u32>> = (0..n).map(|i| (i < 3).then_some(truth[i])).collect();
    let mut galaxy = galaxy(1, carry);
    let mut batches = Vec::new();
    for _ in 0..3 {
        if restart {
            galaxy = Galaxy::from_state(galaxy.state()).unwrap();
        }
        let batch = galaxy
            .select(probs.view(), &labels, 4, &mut truth_oracle(&truth))
            .unwrap();
        for &i in &batch {
            labels[i] = Some(truth[i]);
        }
        batches.push(batch);
    }
    (batches, galaxy.state())
}

#[test]
fn a_restored_state_continues_exactly_like_the_uninterrupted_run() {
    for carry in [false, true] {
        assert_eq!(three_rounds(carry, true), three_rounds(carry, false));
    }
    let (_, state) = three_rounds(true, false);
    // Carried: rounds of 4 queries over 3 classes start at classes 0, 1, 2, then 12 mod 3.
    assert_eq!(state.rounds, 3);
    assert_eq!(state.next_class, 0);
    let (_, state) = three_rounds(false, false);
    assert_eq!((state.rounds, state.next_class), (3, 0));
}

#[test]
fn the_round_robin_restarts_at_class_zero_unless_carried() {
    let probs = rising(12);
    let truth: Vec<u32> = (0..12).map(|i| u32::from(i >= 6)).collect();
    let labels: Vec<Option<u32>> = (0..12)
        .map(|i| [0, 11].contains(&i).then_some(truth[i]))
        .collect();
    for (carry, next) in [(false, 0), (true, 1)] {
        let mut galaxy = galaxy(1, carry);
        let queries = galaxy
            .select_queries(probs.view(), &labels, 3, &mut truth_oracle(&truth))
            .unwrap();
        let classes: Vec<usize> = queries.iter().map(|q| q.class).collect();
        assert_eq!(classes, vec![0, 1, 0]);
        assert_eq!(galaxy.state().next_class, next);
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn shapes_that_do_not_fit_are_errors() {
    let mut g = galaxy(1, false);
    let ok = &mut |_| Ok(0);
    let one_class = Array2::<f32>::ones((3, 1));
    assert_eq!(
        g.select(one_class.view(), &[None; 3], 1, ok),
        Err(Error::ClassProbsShape { shape: vec![3, 1] })
    );
    let empty = Array2::<f32>::zeros((0, 2));
    assert!(matches!(
        g.select(empty.view(), &[], 1, ok),
        Err(Error::ClassProbsShape { .. })
    ));
    let probs = rising(4);
    let err = g.select(probs.view(), &[None; 3], 1, ok).unwrap_err();
    assert_eq!(
        err,
        Error::LabelsLength {
            expected: 4,
            found: 3
        }
    );
    assert!(err.to_string().contains("None for the unlabelled"));
}

#[test]
fn invalid_probabilities_are_errors() {
    let mut g = galaxy(1, false);
    let mut probs = rising(4);
    probs[[2, 1]] = f32::NAN;
    assert!(matches!(
        g.select(probs.view(), &[None; 4], 1, &mut |_| Ok(0)),
        Err(Error::NonFinite {
            name: "probs",
            index: [2, 0, 1],
            ..
        })
    ));
    let unnormalised = array![[0.5f32, 0.2], [0.5, 0.5]];
    assert!(matches!(
        g.select(unnormalised.view(), &[None; 2], 1, &mut |_| Ok(0)),
        Err(Error::NotNormalised { n: 0, .. })
    ));
}

#[test]
fn labels_out_of_range_are_errors_from_either_source() {
    let mut g = galaxy(1, false);
    let probs = rising(4);
    assert_eq!(
        g.select(probs.view(), &[None, Some(2), None, None], 1, &mut |_| Ok(
            0
        )),
        Err(Error::LabelOutOfRange {
            origin: "labels",
            index: 1,
            label: 2,
            classes: 2
        })
    );
    let err = g
        .select(
            probs.view(),
            &[Some(0), None, None, Some(1)],
            2,
            &mut |_| Ok(5),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::LabelOutOfRange {
            origin: "the oracle",
            label: 5,
            ..
        }
    ));
}

#[test]
fn an_oracle_failure_names_the_input_and_leaves_the_state_alone() {
    let mut g = galaxy(1, true);
    let before = g.state();
    let probs = rising(6);
    let labels = [Some(0), None, None, None, None, Some(1)];
    let mut calls = 0;
    let err = g
        .select(probs.view(), &labels, 3, &mut |i| {
            calls += 1;
            if calls == 2 {
                Err(format!("no annotator for {i}"))
            } else {
                Ok(0)
            }
        })
        .unwrap_err();
    let Error::Oracle { index, message } = &err else {
        panic!("expected an oracle error, got {err:?}");
    };
    assert_eq!(message, &format!("no annotator for {index}"));
    assert!(err.to_string().contains(&format!("pool input {index}")));
    assert_eq!(g.state(), before);
}

#[test]
fn a_zero_batch_or_order_is_an_error() {
    let probs = rising(4);
    assert!(matches!(
        galaxy(1, false).select(probs.view(), &[None; 4], 0, &mut |_| Ok(0)),
        Err(Error::InvalidParameter {
            name: "batch size",
            ..
        })
    ));
    assert!(matches!(
        Galaxy::new(GalaxyParams {
            initial_order: 0,
            carry_class_pointer: false
        }),
        Err(Error::InvalidParameter { .. })
    ));
}
