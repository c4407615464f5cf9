//! Cluster-Margin: the clustering against a naive O(n³) average linkage and a brute-force
//! nearest centroid, the selection against a water-filling count and a sort of all
//! candidates by margin.

use ndarray::{Array2, ArrayView2, array};
use proptest::prelude::*;
use tdal_acquire::{Clusters, Error, average_linkage, cluster_margin};

// ---------------------------------------------------------------------------------------
// Oracles: slow and obviously correct.
// ---------------------------------------------------------------------------------------

/// Euclidean distance in f64.
fn distance(a: ArrayView2<'_, f32>, i: usize, b: ArrayView2<'_, f32>, j: usize) -> f64 {
    a.row(i)
        .iter()
        .zip(b.row(j))
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Average linkage by definition: merge the two clusters with the smallest mean pairwise
/// distance, recomputed from scratch, until `k` clusters remain. Labels by smallest member.
/// `None` when two candidate merges are within rounding of each other (the order of an
/// exact tie is the implementation's choice, not a property).
fn naive_average_linkage(points: ArrayView2<'_, f32>, k: usize) -> Option<Vec<u32>> {
    let n = points.nrows();
    let d: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| distance(points, i, points, j)).collect())
        .collect();
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    while clusters.len() > k {
        let mut best = (f64::INFINITY, 0, 0);
        let mut second = f64::INFINITY;
        for a in 0..clusters.len() {
            for b in a + 1..clusters.len() {
                let sum: f64 = clusters[a]
                    .iter()
                    .flat_map(|&i| clusters[b].iter().map(move |&j| (i, j)))
                    .map(|(i, j)| d[i][j])
                    .sum();
                let mean = sum / (clusters[a].len() * clusters[b].len()) as f64;
                if mean < best.0 {
                    second = best.0;
                    best = (mean, a, b);
                } else if mean < second {
                    second = mean;
                }
            }
        }
        if second - best.0 <= 1e-9 * best.0.max(1.0) {
            return None;
        }
        let merged = clusters.remove(best.2);
        clusters[best.1].extend(merged);
    }
    let mut labels = vec![0u32; n];
    for c in &mut clusters {
        c.sort_unstable();
    }
    clusters.sort_unstable_by_key(|c| c[0]);
    for (id, c) in clusters.iter().enumerate() {
        for &i in c {
            labels[i] = id as u32;
        }
    }
    Some(labels)
}

/// Distances in f64 from each row to each centroid.
fn centroid_distances(
    points: ArrayView2<'_, f32>,
    centroids: ArrayView2<'_, f32>,
) -> Vec<Vec<f64>> {
    (0..points.nrows())
        .map(|i| {
            (0..centroids.nrows())
                .map(|c| distance(points, i, centroids, c))
                .collect()
        })
        .collect()
}

/// The assignment is the nearest centroid up to f32 rounding, and exactly the nearest when
/// it is nearer than the runner-up by more than rounding.
fn assert_nearest(points: ArrayView2<'_, f32>, centroids: ArrayView2<'_, f32>, assignment: &[u32]) {
    for (i, row) in centroid_distances(points, centroids).iter().enumerate() {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
        let best = row[order[0]];
        let tolerance = 1e-4 * (1.0 + best);
        let got = assignment[i] as usize;
        assert!(
            row[got] <= best + tolerance,
            "row {i}: assigned {got} at {} but {} is at {best}",
            row[got],
            order[0]
        );
        if order.len() > 1 && row[order[1]] - best > tolerance {
            assert_eq!(got, order[0], "row {i}");
        }
    }
}

/// Top-1 − top-2, 1 with a single class: the definition, by sorting.
fn margin(probs: ArrayView2<'_, f32>, n: usize) -> f32 {
    let mut row = probs.row(n).to_vec();
    row.sort_by(|a, b| b.total_cmp(a));
    if row.len() < 2 { 1.0 } else { row[0] - row[1] }
}

/// The k_m lowest-margin candidates, lowest first (ties: lower index).
fn lowest_margins(
    probs: ArrayView2<'_, f32>,
    candidates: &[usize],
    batch: usize,
    factor: f32,
) -> Vec<usize> {
    let mut ranked = candidates.to_vec();
    ranked.sort_by(|&a, &b| {
        margin(probs, a)
            .total_cmp(&margin(probs, b))
            .then(a.cmp(&b))
    });
    let wanted = (f64::from(factor) * batch as f64).floor() as usize;
    ranked.truncate(wanted.max(batch).min(candidates.len()));
    ranked
}

/// Water-filling of `batch` over cluster sizes: every cluster gets `min(size, level)` for
/// the highest level that fits, and what is left goes one each to the clusters above the
/// level, smallest first (ties: lower id).
fn water_filling(sizes: &[usize], batch: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let batch = batch.min(total);
    let mut level = 0;
    while sizes.iter().map(|&s| s.min(level + 1)).sum::<usize>() <= batch
        && level < sizes.iter().copied().max().unwrap_or(0)
    {
        level += 1;
    }
    let mut counts: Vec<usize> = sizes.iter().map(|&s| s.min(level)).collect();
    let mut left = batch - counts.iter().sum::<usize>();
    let mut above: Vec<usize> = (0..sizes.len()).filter(|&c| sizes[c] > level).collect();
    above.sort_by_key(|&c| (sizes[c], c));
    for c in above {
        if left == 0 {
            break;
        }
        counts[c] += 1;
        left -= 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

/// `[n, d]` points with continuous coordinates (exact distance ties have probability 0).
fn points(max_n: usize, max_d: usize) -> impl Strategy<Value = Array2<f32>> {
    (1..=max_n, 1..=max_d).prop_flat_map(|(n, d)| {
        proptest::collection::vec(-10.0f32..10.0, n * d)
            .prop_map(move |v| Array2::from_shape_vec((n, d), v).unwrap())
    })
}

/// Probabilities `[n, c]` with exact ties mixed in: uniform rows, one-hot rows, repeats.
fn probs(n: usize, c: usize) -> impl Strategy<Value = Array2<f32>> {
    proptest::collection::vec(
        prop_oneof![4 => 0.0f32..1.0, 1 => Just(0.0f32), 1 => Just(1.0f32)],
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

/// A selection problem: clusters (random assignment), probabilities, distinct candidates
/// in random order, a batch size and a margin factor.
#[derive(Debug, Clone)]
struct Problem {
    clusters: Clusters,
    probs: Array2<f32>,
    candidates: Vec<usize>,
    batch: usize,
    factor: f32,
}

fn problem() -> impl Strategy<Value = Problem> {
    (1usize..120, 1usize..12, 1usize..5)
        .prop_flat_map(|(n, k, c)| {
            (
                proptest::collection::vec(0..k as u32, n),
                Just(k),
                probs(n, c),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                1..=n,
                1..=n + 5,
                prop_oneof![Just(1.25f32), 0.0f32..4.0],
            )
        })
        .prop_map(
            |(assignment, k, probs, order, n_candidates, batch, factor)| Problem {
                clusters: Clusters::from_parts(Array2::zeros((k, 1)), assignment).unwrap(),
                probs,
                candidates: order[..n_candidates].to_vec(),
                batch,
                factor,
            },
        )
}

impl Problem {
    fn select(&self) -> Vec<usize> {
        cluster_margin(
            &self.clusters,
            self.probs.view(),
            &self.candidates,
            self.batch,
            self.factor,
        )
        .unwrap()
    }

    /// The k_m lowest-margin candidates of each cluster, lowest margin first.
    fn lowest_by_cluster(&self) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.clusters.n_clusters()];
        for n in lowest_margins(self.probs.view(), &self.candidates, self.batch, self.factor) {
            members[self.clusters.assignment()[n] as usize].push(n);
        }
        members
    }
}

// ---------------------------------------------------------------------------------------
// Clustering.
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn average_linkage_matches_naive_greedy_merging(
        (points, k) in points(30, 4).prop_flat_map(|p| { let n = p.nrows(); (Just(p), 1..=n) })
    ) {
        let naive = naive_average_linkage(points.view(), k);
        prop_assume!(naive.is_some());
        prop_assert_eq!(average_linkage(points.view(), k).unwrap(), naive.unwrap());
    }

    #[test]
    fn average_linkage_gives_exactly_n_clusters_ordered_by_smallest_member(
        (points, k) in points(40, 3).prop_flat_map(|p| { let n = p.nrows(); (Just(p), 1..=n) })
    ) {
        let labels = average_linkage(points.view(), k).unwrap();
        let mut next = 0;
        for &label in &labels {
            prop_assert!(label <= next, "label {} before {} was seen", label, next);
            if label == next {
                next += 1;
            }
        }
        prop_assert_eq!(next as usize, k);
    }

    #[test]
    fn assign_picks_the_nearest_centroid(
        points in points(40, 20),
        seed in 0u64..1000,
        k in 1usize..8,
    ) {
        let d = points.ncols();
        let centroids = Array2::from_shape_fn((k, d), |(c, j)| {
            ((seed as usize + 7 * c + 3 * j) % 17) as f32 - 8.0
        });
        let clusters = Clusters::from_parts(centroids.clone(), vec![0]).unwrap();
        let assignment = clusters.assign(points.view()).unwrap();
        assert_nearest(points.view(), centroids.view(), &assignment);
    }

    #[test]
    fn fit_assigns_every_row_to_its_nearest_centroid(
        points in points(60, 10),
        subsample in 1usize..40,
        seed in 0u64..1000,
        k in 1usize..6,
    ) {
        let k = k.min(subsample.min(points.nrows()));
        let clusters = Clusters::fit(points.view(), k, subsample, seed).unwrap();
        prop_assert_eq!(clusters.n_clusters(), k);
        prop_assert_eq!(clusters.pool_size(), points.nrows());
        assert_nearest(points.view(), clusters.centroids(), clusters.assignment());
        prop_assert_eq!(clusters.assign(points.view()).unwrap(), clusters.assignment());
    }
}

#[test]
fn assign_ties_go_to_the_lowest_cluster_id() {
    let clusters = Clusters::from_parts(array![[3.0f32], [-1.0], [1.0], [-1.0]], vec![0]).unwrap();
    let points = array![[0.0f32], [-1.0], [1.0], [2.0]];
    // 0 is 1 from clusters 1, 2 and 3; -1 is on 1 and 3; 2 is 1 from clusters 0 and 2.
    assert_eq!(clusters.assign(points.view()).unwrap(), vec![1, 1, 2, 0]);
}

#[test]
fn fit_centroids_are_the_means_of_the_linkage_clusters() {
    let points = array![
        [0.0f32, 0.0],
        [0.0, 1.0],
        [5.0, 5.0],
        [6.0, 5.0],
        [5.0, 6.5],
        [20.0, 0.0]
    ];
    let labels = average_linkage(points.view(), 3).unwrap();
    assert_eq!(labels, vec![0, 0, 1, 1, 1, 2]);
    // Subsample ≥ N: every row is clustered.
    let clusters = Clusters::fit(points.view(), 3, 100, 9).unwrap();
    let want = array![[0.0f32, 0.5], [16.0 / 3.0, 16.5 / 3.0], [20.0, 0.0]];
    for (got, want) in clusters.centroids().iter().zip(&want) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
    assert_eq!(clusters.assignment(), &[0, 0, 1, 1, 1, 2]);
}

#[test]
fn fit_is_deterministic_for_a_seed() {
    let points = Array2::from_shape_fn((500, 6), |(i, j)| ((i * 37 + j * 11) % 101) as f32 / 7.0);
    let a = Clusters::fit(points.view(), 8, 60, 42).unwrap();
    let b = Clusters::fit(points.view(), 8, 60, 42).unwrap();
    assert_eq!(a, b);
}

#[test]
fn fit_on_a_large_pool_clusters_only_the_subsample() {
    // 50,000² distances would be 20 GB: this only runs if memory is O(subsample² + N·d).
    let points = Array2::from_shape_fn((50_000, 4), |(i, j)| ((i * 31 + j * 17) % 997) as f32);
    let clusters = Clusters::fit(points.view(), 10, 200, 1).unwrap();
    assert_eq!(clusters.pool_size(), 50_000);
    assert_eq!(clusters.n_clusters(), 10);
    assert!(clusters.assignment().iter().all(|&c| c < 10));
}

#[test]
fn from_parts_round_trips() {
    let points = Array2::from_shape_fn((300, 5), |(i, j)| ((i * 13 + j * 7) % 29) as f32);
    let clusters = Clusters::fit(points.view(), 6, 100, 3).unwrap();
    let (centroids, assignment) = clusters.clone().into_parts();
    let rebuilt = Clusters::from_parts(centroids, assignment).unwrap();
    assert_eq!(rebuilt, clusters);
    let probs = Array2::from_shape_fn((300, 2), |(i, c)| {
        let top = 0.5 + (i % 50) as f32 / 100.0;
        if c == 0 { top } else { 1.0 - top }
    });
    let candidates: Vec<usize> = (0..300).step_by(2).collect();
    assert_eq!(
        cluster_margin(&rebuilt, probs.view(), &candidates, 10, 1.25).unwrap(),
        cluster_margin(&clusters, probs.view(), &candidates, 10, 1.25).unwrap()
    );
}

// ---------------------------------------------------------------------------------------
// Selection.
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn round_robin_counts_are_the_water_filling_of_the_batch(problem in problem()) {
        let picked = problem.select();
        let lowest = problem.lowest_by_cluster();
        let sizes: Vec<usize> = lowest.iter().map(Vec::len).collect();
        let mut counts = vec![0; sizes.len()];
        for &n in &picked {
            counts[problem.clusters.assignment()[n] as usize] += 1;
        }
        prop_assert_eq!(counts, water_filling(&sizes, problem.batch));
    }

    #[test]
    fn each_cluster_gives_its_lowest_margins(problem in problem()) {
        let picked = problem.select();
        for (cluster, lowest) in problem.lowest_by_cluster().iter().enumerate() {
            let mine: Vec<usize> = picked
                .iter()
                .copied()
                .filter(|&n| problem.clusters.assignment()[n] as usize == cluster)
                .collect();
            // Picked in round-robin order, so within a cluster lowest margin first.
            prop_assert_eq!(&mine[..], &lowest[..mine.len()]);
        }
    }

    #[test]
    fn batch_is_exactly_min_batch_candidates_distinct_candidates(problem in problem()) {
        let picked = problem.select();
        prop_assert_eq!(picked.len(), problem.batch.min(problem.candidates.len()));
        let mut sorted = picked.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), picked.len());
        prop_assert!(picked.iter().all(|n| problem.candidates.contains(n)));
    }
}

#[test]
fn one_class_margins_are_all_one_so_ties_go_by_index() {
    let clusters = Clusters::from_parts(Array2::zeros((2, 1)), vec![0, 1, 0, 1, 0, 0]).unwrap();
    let probs = Array2::ones((6, 1));
    // k_m = 5: inputs 0..5; cluster 1 holds 1 and 3, cluster 0 holds 0, 2, 4.
    let picked = cluster_margin(&clusters, probs.view(), &[5, 4, 3, 2, 1, 0], 4, 1.25).unwrap();
    assert_eq!(picked, vec![1, 0, 3, 2]);
}

#[test]
fn fewer_candidates_than_the_batch_are_all_returned() {
    let clusters = Clusters::from_parts(Array2::zeros((3, 1)), vec![0, 1, 2, 0, 1, 2]).unwrap();
    let probs = Array2::from_elem((6, 2), 0.5f32);
    let mut picked = cluster_margin(&clusters, probs.view(), &[4, 0, 2], 10, 1.25).unwrap();
    picked.sort_unstable();
    assert_eq!(picked, vec![0, 2, 4]);
}

#[test]
fn bad_inputs_are_errors() {
    let points = array![[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]];
    assert!(matches!(
        Clusters::fit(points.view(), 0, 10, 0),
        Err(Error::InvalidClusterCount {
            n_clusters: 0,
            rows: 3
        })
    ));
    assert!(matches!(
        Clusters::fit(points.view(), 4, 10, 0),
        Err(Error::InvalidClusterCount {
            n_clusters: 4,
            rows: 3
        })
    ));
    assert!(matches!(
        Clusters::fit(points.view(), 3, 2, 0),
        Err(Error::InvalidClusterCount {
            n_clusters: 3,
            rows: 2
        })
    ));
    assert!(matches!(
        Clusters::fit(points.view(), 1, 0, 0),
        Err(Error::InvalidParameter {
            name: "subsample",
            ..
        })
    ));
    assert!(matches!(
        Clusters::fit(Array2::<f32>::zeros((0, 2)).view(), 1, 10, 0),
        Err(Error::EmptyMatrix {
            name: "embeddings",
            shape: [0, 2]
        })
    ));
    let mut bad = points.clone();
    bad[[1, 0]] = f32::NAN;
    assert!(matches!(
        Clusters::fit(bad.view(), 1, 10, 0),
        Err(Error::NonFiniteValue {
            name: "embeddings",
            index: [1, 0],
            ..
        })
    ));
    assert!(matches!(
        average_linkage(points.view(), 5),
        Err(Error::InvalidClusterCount {
            n_clusters: 5,
            rows: 3
        })
    ));

    let clusters = Clusters::fit(points.view(), 2, 10, 0).unwrap();
    assert!(matches!(
        clusters.assign(array![[1.0f32, 2.0, 3.0]].view()),
        Err(Error::DimensionMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        clusters.assign(array![[1.0f32, f32::INFINITY]].view()),
        Err(Error::NonFiniteValue { index: [0, 1], .. })
    ));

    assert!(matches!(
        Clusters::from_parts(array![[0.0f32], [1.0]], vec![0, 2, 1]),
        Err(Error::ClusterOutOfRange {
            index: 1,
            cluster: 2,
            n_clusters: 2
        })
    ));
    assert!(matches!(
        Clusters::from_parts(array![[f32::NAN]], vec![0]),
        Err(Error::NonFiniteValue {
            name: "centroids",
            ..
        })
    ));
    assert!(matches!(
        Clusters::from_parts(Array2::zeros((0, 1)), vec![0]),
        Err(Error::EmptyMatrix {
            name: "centroids",
            ..
        })
    ));
    assert!(matches!(
        Clusters::from_parts(array![[0.0f32]], vec![]),
        Err(Error::InvalidParameter {
            name: "assignment",
            ..
        })
    ));

    let probs = Array2::from_elem((3, 2), 0.5f32);
    let select = |probs: ArrayView2<'_, f32>, candidates: &[usize], batch, factor| {
        cluster_margin(&clusters, probs, candidates, batch, factor)
    };
    assert!(matches!(
        select(Array2::from_elem((4, 2), 0.5).view(), &[0], 1, 1.25),
        Err(Error::PoolSizeMismatch {
            name: "probs",
            expected: 3,
            found: 4
        })
    ));
    assert!(matches!(
        select(Array2::zeros((3, 0)).view(), &[0], 1, 1.25),
        Err(Error::EmptyMatrix { name: "probs", .. })
    ));
    assert!(matches!(
        select(Array2::from_elem((3, 2), 0.4).view(), &[0], 1, 1.25),
        Err(Error::NotNormalised {
            name: "probs",
            n: 0,
            ..
        })
    ));
    let mut nan = probs.clone();
    nan[[2, 1]] = f32::NAN;
    assert!(matches!(
        select(nan.view(), &[0], 1, 1.25),
        Err(Error::NonFinite {
            name: "probs",
            index: [2, 0, 1],
            ..
        })
    ));
    assert!(matches!(
        select(probs.view(), &[0, 3], 1, 1.25),
        Err(Error::CandidateOutOfRange {
            candidate: 3,
            pool: 3
        })
    ));
    assert!(matches!(
        select(probs.view(), &[1, 0, 1], 1, 1.25),
        Err(Error::DuplicateCandidate { candidate: 1 })
    ));
    assert!(matches!(
        select(probs.view(), &[], 1, 1.25),
        Err(Error::NoScores)
    ));
    assert!(matches!(
        select(probs.view(), &[0], 0, 1.25),
        Err(Error::InvalidParameter {
            name: "batch size",
            ..
        })
    ));
    for factor in [f32::NAN, -1.0, f32::INFINITY] {
        assert!(matches!(
            select(probs.view(), &[0], 1, factor),
            Err(Error::InvalidParameter {
                name: "margin_factor",
                ..
            })
        ));
    }
}

#[test]
fn error_messages_say_what_to_do() {
    let err = Error::InvalidClusterCount {
        n_clusters: 50,
        rows: 20,
    };
    assert!(err.to_string().contains("raise the subsample"), "{err}");
    let err = Error::PoolSizeMismatch {
        name: "probs",
        expected: 10,
        found: 9,
    };
    assert!(err.to_string().contains("one row per pool input"), "{err}");
}
