//! Cluster-Margin batch selection: Citovsky et al. (2021), "Batch Active Learning at
//! Scale" (NeurIPS), Algorithm 1.
//!
//! Margin sampling alone fills a large batch with near-duplicates: the inputs the model is
//! least sure about tend to sit together. Cluster-Margin clusters the pool **once**, before
//! round 0, and then each round takes a few more low-margin inputs than it needs and spreads
//! the batch over the clusters they fall in, smallest cluster first.
//!
//! **Clustering** ([`Clusters::fit`]), in embedding space, Euclidean distance:
//! 1. draw a seeded subsample of the pool (`subsample` rows, all of them if the pool is
//!    smaller; the GALAXY authors' code uses 1,000);
//! 2. average-linkage (UPGMA) agglomerative clustering of the subsample ([`kodama`]'s
//!    nearest-neighbour chain), the dendrogram cut into exactly `n_clusters` clusters
//!    ([`average_linkage`]);
//! 3. a centroid per cluster, the mean of its subsample members;
//! 4. every pool input assigned to its nearest centroid ([`Clusters::assign`]).
//!
//! Memory is O(subsample²) for the distances of the subsample plus O(N·d) for the
//! embeddings (borrowed) and O(N) for the assignment: never N × N. Cluster ids are
//! deterministic: cluster 0 holds the subsample member with the smallest pool index,
//! cluster 1 the smallest member not in cluster 0, and so on. A [`Clusters`] is plain
//! data (centroids and assignment) and can be saved and rebuilt with
//! [`Clusters::from_parts`], so a resumed run selects from the same clusters.
//!
//! **Selection** ([`cluster_margin`]), each round, with k_t = `batch`:
//! 1. margin of each candidate = top-1 − top-2 class probability (1 when C = 1: a single
//!    class leaves no doubt);
//! 2. the k_m = ⌊`margin_factor` · k_t⌋ lowest-margin candidates, ties by lower index
//!    (1.25 in the authors' code, [`DEFAULT_MARGIN_FACTOR`]);
//! 3. those k_m grouped by cluster; the clusters ordered by how many of the k_m they hold,
//!    fewest first (ties: lower cluster id); within a cluster, lowest margin first;
//! 4. round robin: one input from each cluster in that order, pass after pass (a cluster
//!    drops out once empty), until k_t inputs are picked.
//!
//! So every cluster gets `min(its share of the k_m, level)` picks for a common level, the
//! small clusters being filled first: a water-filling of the batch over the clusters.
//! k_m is never below k_t: with `margin_factor < 1` it is raised to k_t (the batch is then
//! the k_t lowest margins, plain margin sampling), and with fewer than k_m candidates all
//! candidates take part. The batch always holds exactly `min(batch, candidates)` distinct
//! candidates, in round-robin order.
//!
//! Every tie is broken deterministically (margins by lower index, clusters of equal count
//! by lower id, equal centroid distances by lower id), so a seed fixes the clusters and the
//! clusters and probabilities fix the batch. Where this differs from the paper and the
//! authors' code is listed in docs/REPRODUCING.md, section "Cluster-Margin".
//!
//! ```
//! use ndarray::{Array2, array};
//! use tdal_acquire::{Clusters, cluster_margin};
//!
//! // Nine inputs in three well-separated groups on a line.
//! let embeddings = array![
//!     [0.0f32, 0.0], [0.1, 0.0], [0.2, 0.0],
//!     [10.0, 0.0], [10.1, 0.0], [10.2, 0.0],
//!     [20.0, 0.0], [20.1, 0.0], [20.2, 0.0],
//! ];
//! let clusters = Clusters::fit(embeddings.view(), 3, 1_000, 0)?;
//! assert_eq!(clusters.assignment(), &[0, 0, 0, 1, 1, 1, 2, 2, 2]);
//!
//! // The model is unsure about the first group, less so about the second, sure about the third.
//! let p = |top: f32| [top, 1.0 - top];
//! let rows = [p(0.50), p(0.51), p(0.52), p(0.6), p(0.7), p(0.8), p(1.0), p(1.0), p(1.0)];
//! let probs = Array2::from_shape_fn((9, 2), |(n, c)| rows[n][c]);
//! let candidates: Vec<usize> = (0..9).collect();
//!
//! // Plain margin would take inputs 0 and 1, both from the first group. With k_m = 4
//! // (inputs 0, 1, 2 and 3), the second group holds one of them and goes first.
//! let batch = cluster_margin(&clusters, probs.view(), &candidates, 2, 2.0)?;
//! assert_eq!(batch, vec![3, 0]);
//! # Ok::<(), tdal_acquire::Error>(())
//! ```

use kodama::{Method, linkage};
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{DEFAULT_TOLERANCE, Error, Result, check_probs};

/// k_m / k_t in the GALAXY authors' code (`src/cluster_margin/cluster_margin.py`).
pub const DEFAULT_MARGIN_FACTOR: f32 = 1.25;

/// Rows clustered by the GALAXY authors' code (`src/cluster_margin/preprocess.py`).
pub const DEFAULT_SUBSAMPLE: usize = 1_000;

/// Pool inputs per parallel task of the nearest-centroid assignment.
const ROWS_PER_TASK: usize = 512;

/// Lanes of the squared-distance accumulator (one AVX register of f32).
const LANES: usize = 8;

/// The clusters of a pool: one centroid per cluster and the cluster of every pool input.
///
/// Built once, before the first round, by [`Clusters::fit`], or rebuilt from saved parts by
/// [`Clusters::from_parts`]; read by [`cluster_margin`] every round.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    /// `[n_clusters, d]`.
    centroids: Array2<f32>,
    /// `[N]`, each in `0..n_clusters`.
    assignment: Vec<u32>,
}

impl Clusters {
    /// Clusters a pool: average-linkage clustering of a seeded subsample cut into
    /// `n_clusters` clusters, their means as centroids, every input assigned to the nearest
    /// centroid (module docs).
    ///
    /// The subsample is `rand::seq::index::sample` of `min(subsample, N)` rows from a
    /// `ChaCha8Rng::seed_from_u64(seed)` (all rows, no draw, when `subsample ≥ N`). Time is
    /// O(subsample² · d) for the clustering and O(N · n_clusters · d) for the assignment
    /// (in parallel with rayon; the result does not depend on the number of threads).
    ///
    /// # Shapes
    /// `embeddings`: `[N, d]`, one row per pool input; the assignment is `[N]` and the
    /// centroids `[n_clusters, d]`.
    ///
    /// # Errors
    /// [`Error::EmptyMatrix`] when N or d is 0, [`Error::NonFiniteValue`] for a NaN or
    /// infinite embedding, [`Error::InvalidParameter`] when `subsample` is 0,
    /// [`Error::InvalidClusterCount`] unless `1 ≤ n_clusters ≤ min(subsample, N)`.
    pub fn fit(
        embeddings: ArrayView2<'_, f32>,
        n_clusters: usize,
        subsample: usize,
        seed: u64,
    ) -> Result<Self> {
        check_matrix(embeddings, "embeddings")?;
        if subsample == 0 {
            return Err(Error::InvalidParameter {
                name: "subsample",
                value: "0".into(),
                expected: "at least 1 row to cluster (the authors' code uses 1000)",
            });
        }
        let n = embeddings.nrows();
        let m = subsample.min(n);
        check_cluster_count(n_clusters, m)?;
        let rows: Vec<usize> = if m == n {
            (0..n).collect()
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut rows = rand::seq::index::sample(&mut rng, n, m).into_vec();
            // Pool order, so that cluster ids follow the smallest pool index.
            rows.sort_unstable();
            rows
        };
        let points = embeddings.select(Axis(0), &rows);
        let labels = cut_average_linkage(points.view(), n_clusters);
        let centroids = cluster_means(points.view(), &labels, n_clusters);
        let assignment = nearest_centroids(embeddings, centroids.view());
        Ok(Self {
            centroids,
            assignment,
        })
    }

    /// Rebuilds clusters from saved [`centroids`](Self::centroids) and
    /// [`assignment`](Self::assignment), e.g. when a run is resumed.
    ///
    /// The assignment is taken as given, not recomputed: a cluster may hold no input.
    ///
    /// # Shapes
    /// `centroids`: `[n_clusters, d]`; `assignment`: `[N]`, each in `0..n_clusters`.
    ///
    /// # Errors
    /// [`Error::EmptyMatrix`] for centroids with an empty axis, [`Error::NonFiniteValue`]
    /// for a NaN or infinite centroid, [`Error::InvalidParameter`] for an empty assignment,
    /// [`Error::InvalidClusterCount`] for more centroids than a `u32` id can name,
    /// [`Error::ClusterOutOfRange`] for an id without a centroid.
    pub fn from_parts(centroids: Array2<f32>, assignment: Vec<u32>) -> Result<Self> {
        check_matrix(centroids.view(), "centroids")?;
        let n_clusters = centroids.nrows();
        check_cluster_count(n_clusters, n_clusters)?;
        if assignment.is_empty() {
            return Err(Error::InvalidParameter {
                name: "assignment",
                value: "[]".into(),
                expected: "one cluster id per pool input",
            });
        }
        if let Some((index, &cluster)) = assignment
            .iter()
            .enumerate()
            .find(|&(_, &c)| c as usize >= n_clusters)
        {
            return Err(Error::ClusterOutOfRange {
                index,
                cluster,
                n_clusters,
            });
        }
        Ok(Self {
            centroids,
            assignment,
        })
    }

    /// The parts [`from_parts`](Self::from_parts) takes: centroids and assignment.
    #[must_use]
    pub fn into_parts(self) -> (Array2<f32>, Vec<u32>) {
        (self.centroids, self.assignment)
    }

    /// The cluster of every pool input.
    ///
    /// # Shapes
    /// `[N]`, each in `0..n_clusters`.
    #[must_use]
    pub fn assignment(&self) -> &[u32] {
        &self.assignment
    }

    /// The centroid of every cluster, in embedding space.
    ///
    /// # Shapes
    /// `[n_clusters, d]`.
    #[must_use]
    pub fn centroids(&self) -> ArrayView2<'_, f32> {
        self.centroids.view()
    }

    /// How many clusters there are (some may hold no pool input).
    #[must_use]
    pub fn n_clusters(&self) -> usize {
        self.centroids.nrows()
    }

    /// How many pool inputs the clusters cover (N).
    #[must_use]
    pub fn pool_size(&self) -> usize {
        self.assignment.len()
    }

    /// The nearest centroid (Euclidean) of every row of `embeddings`, ties to the lowest
    /// cluster id: how [`fit`](Self::fit) assigns the pool, usable for new inputs.
    ///
    /// Squared distances are summed in f32 over 8 lanes; rows are processed in parallel
    /// with rayon, each independently, so the result does not depend on the thread count.
    ///
    /// # Shapes
    /// `embeddings`: `[n, d]` with the centroids' d; returns `[n]`.
    ///
    /// # Errors
    /// [`Error::EmptyMatrix`] when n or d is 0, [`Error::DimensionMismatch`] when d is not
    /// the centroids', [`Error::NonFiniteValue`] for a NaN or infinite embedding.
    pub fn assign(&self, embeddings: ArrayView2<'_, f32>) -> Result<Vec<u32>> {
        let (n, d) = embeddings.dim();
        if n == 0 || d == 0 {
            return Err(Error::EmptyMatrix {
                name: "embeddings",
                shape: [n, d],
            });
        }
        if d != self.centroids.ncols() {
            return Err(Error::DimensionMismatch {
                name: "embeddings",
                expected: self.centroids.ncols(),
                found: d,
            });
        }
        check_matrix(embeddings, "embeddings")?;
        Ok(nearest_centroids(embeddings, self.centroids.view()))
    }
}

/// Cuts the average-linkage (UPGMA) dendrogram of the rows of `points` into exactly
/// `n_clusters` clusters: the partition left after the n − `n_clusters` closest merges,
/// where the distance between two clusters is the mean Euclidean distance between their
/// members (Sokal & Michener 1958; computed by [`kodama`]'s nearest-neighbour chain, in
/// f64).
///
/// Labels are ordered by smallest member: row 0 is in cluster 0, the first row not in
/// cluster 0 in cluster 1, and so on. Merges at exactly equal distances are taken in
/// kodama's order. Memory is O(n²): this is what [`Clusters::fit`] runs on its subsample.
///
/// # Shapes
/// `points`: `[n, d]`; returns `[n]` labels in `0..n_clusters`.
///
/// # Errors
/// [`Error::EmptyMatrix`] when n or d is 0, [`Error::NonFiniteValue`] for a NaN or
/// infinite value, [`Error::InvalidClusterCount`] unless `1 ≤ n_clusters ≤ n`.
pub fn average_linkage(points: ArrayView2<'_, f32>, n_clusters: usize) -> Result<Vec<u32>> {
    check_matrix(points, "points")?;
    check_cluster_count(n_clusters, points.nrows())?;
    Ok(cut_average_linkage(points, n_clusters))
}

/// Chooses `batch` inputs among `candidates` by Cluster-Margin (module docs): the k_m =
/// ⌊`margin_factor` · `batch`⌋ lowest-margin candidates, spread over their clusters by a
/// round robin from the cluster holding the fewest of them.
///
/// The margin is `probs[n, top-1] − probs[n, top-2]`, 1 when C = 1, ties broken by the
/// lower index. k_m is clamped to `batch ..= candidates.len()`, so a `margin_factor` below
/// 1 gives plain margin sampling. For posterior samples `[N, K, C]`, pass their mean over K.
///
/// # Shapes
/// `probs`: `[N, C]`, the predictive probabilities of the *whole* pool the clusters cover;
/// `candidates`: distinct indices in `0..N` (the unlabelled inputs). Returns exactly
/// `min(batch, candidates.len())` distinct candidates, in round-robin order.
///
/// # Errors
/// [`Error::PoolSizeMismatch`] when N is not the clusters' pool size,
/// [`Error::EmptyMatrix`] when C is 0, the errors of [`check_probs`] for invalid
/// probabilities (reported at `[n, 0, c]`), [`Error::InvalidParameter`] for a zero batch
/// or a negative / non-finite `margin_factor`, [`Error::NoScores`] for no candidates,
/// [`Error::CandidateOutOfRange`] and [`Error::DuplicateCandidate`] for bad candidates.
pub fn cluster_margin(
    clusters: &Clusters,
    probs: ArrayView2<'_, f32>,
    candidates: &[usize],
    batch: usize,
    margin_factor: f32,
) -> Result<Vec<usize>> {
    let pool = clusters.pool_size();
    let (rows, classes) = probs.dim();
    if rows != pool {
        return Err(Error::PoolSizeMismatch {
            name: "probs",
            expected: pool,
            found: rows,
        });
    }
    if classes == 0 {
        return Err(Error::EmptyMatrix {
            name: "probs",
            shape: [rows, classes],
        });
    }
    check_probs(probs.insert_axis(Axis(1)), "probs", DEFAULT_TOLERANCE)?;
    if batch == 0 {
        return Err(Error::InvalidParameter {
            name: "batch size",
            value: "0".into(),
            expected: "at least 1",
        });
    }
    if !(margin_factor.is_finite() && margin_factor >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "margin_factor",
            value: margin_factor.to_string(),
            expected: "a finite number ≥ 0 (the authors' code uses 1.25)",
        });
    }
    if candidates.is_empty() {
        return Err(Error::NoScores);
    }
    check_candidates(candidates, pool)?;

    let mut ranked: Vec<(f32, usize)> = candidates
        .iter()
        .map(|&n| (margin(probs.row(n)), n))
        .collect();
    let lowest = lowest_margin_count(batch, margin_factor, candidates.len());
    let by_margin = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if lowest < ranked.len() {
        ranked.select_nth_unstable_by(lowest - 1, by_margin);
        ranked.truncate(lowest);
    }
    ranked.sort_unstable_by(by_margin);
    let by_cluster = group_by_cluster(&clusters.assignment, clusters.n_clusters(), &ranked);
    Ok(round_robin(by_cluster, batch))
}

/// k_m: ⌊`margin_factor` · `batch`⌋, at least `batch`, at most `available`.
fn lowest_margin_count(batch: usize, margin_factor: f32, available: usize) -> usize {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    // f64 is exact for any batch that fits in memory; `as` saturates a huge product.
    let wanted = (f64::from(margin_factor) * batch as f64).floor() as usize;
    wanted.max(batch).min(available)
}

/// Top-1 − top-2 probability of one input; 1 with a single class.
fn margin(row: ArrayView1<'_, f32>) -> f32 {
    let (mut first, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &p in &row {
        if p > first {
            second = first;
            first = p;
        } else if p > second {
            second = p;
        }
    }
    if second == f32::NEG_INFINITY {
        1.0
    } else {
        first - second
    }
}

/// The members of each cluster among `ranked`, in `ranked`'s (lowest margin first) order.
fn group_by_cluster(
    assignment: &[u32],
    n_clusters: usize,
    ranked: &[(f32, usize)],
) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); n_clusters];
    for &(_, n) in ranked {
        members[assignment[n] as usize].push(n);
    }
    members
}

/// One member from each non-empty cluster, clusters with fewer members first (ties: lower
/// id), pass after pass, until `batch` members (or all of them) are picked.
fn round_robin(members: Vec<Vec<usize>>, batch: usize) -> Vec<usize> {
    let total: usize = members.iter().map(Vec::len).sum();
    let want = batch.min(total);
    let mut order: Vec<usize> = (0..members.len())
        .filter(|&c| !members[c].is_empty())
        .collect();
    order.sort_unstable_by_key(|&c| (members[c].len(), c));
    let mut picked = Vec::with_capacity(want);
    // Clusters sorted by size: those exhausted by pass `pass` form a prefix of `order`.
    let mut exhausted = 0;
    let mut pass = 0;
    while picked.len() < want {
        while members[order[exhausted]].len() <= pass {
            exhausted += 1;
        }
        for &c in &order[exhausted..] {
            if picked.len() == want {
                break;
            }
            picked.push(members[c][pass]);
        }
        pass += 1;
    }
    picked
}

/// [`Error::CandidateOutOfRange`] / [`Error::DuplicateCandidate`] for the first bad one.
fn check_candidates(candidates: &[usize], pool: usize) -> Result<()> {
    let mut seen = vec![false; pool];
    for &candidate in candidates {
        let Some(slot) = seen.get_mut(candidate) else {
            return Err(Error::CandidateOutOfRange { candidate, pool });
        };
        if std::mem::replace(slot, true) {
            return Err(Error::DuplicateCandidate { candidate });
        }
    }
    Ok(())
}

/// Both axes ≥ 1 and every value finite.
fn check_matrix(values: ArrayView2<'_, f32>, name: &'static str) -> Result<()> {
    let (rows, columns) = values.dim();
    if rows == 0 || columns == 0 {
        return Err(Error::EmptyMatrix {
            name,
            shape: [rows, columns],
        });
    }
    match values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, column), &value)) => Err(Error::NonFiniteValue {
            name,
            index: [row, column],
            value,
        }),
        None => Ok(()),
    }
}

/// `1 ≤ n_clusters ≤ rows`, and ids that fit in a `u32`.
fn check_cluster_count(n_clusters: usize, rows: usize) -> Result<()> {
    if n_clusters == 0 || n_clusters > rows || u32::try_from(n_clusters).is_err() {
        return Err(Error::InvalidClusterCount { n_clusters, rows });
    }
    Ok(())
}

/// [`average_linkage`] on validated input.
fn cut_average_linkage(points: ArrayView2<'_, f32>, n_clusters: usize) -> Vec<u32> {
    let n = points.nrows();
    let mut condensed = condensed_distances(points);
    // kodama sorts the steps by distance; average linkage has no inversions, so the first
    // n − n_clusters steps are the n − n_clusters closest merges.
    let dendrogram = linkage(&mut condensed, n, Method::Average);
    drop(condensed);
    let mut parent: Vec<usize> = (0..n).collect();
    // An observation of each dendrogram label: labels < n are observations, n + i is the
    // cluster made by step i.
    let mut member: Vec<usize> = (0..n).collect();
    for step in &dendrogram.steps()[..n - n_clusters] {
        let a = find(&mut parent, member[step.cluster1]);
        let b = find(&mut parent, member[step.cluster2]);
        let (low, high) = (a.min(b), a.max(b));
        parent[high] = low;
        member.push(low);
    }
    let mut id_of_root = vec![u32::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let root = find(&mut parent, i);
            if id_of_root[root] == u32::MAX {
                id_of_root[root] = next;
                next += 1;
            }
            id_of_root[root]
        })
        .collect()
}

/// Union-find root of `i`, halving the path on the way.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Pairwise Euclidean distances in kodama's condensed layout (row-major upper triangle),
/// in f64, rows in parallel.
fn condensed_distances(points: ArrayView2<'_, f32>) -> Vec<f64> {
    let n = points.nrows();
    let points = points.mapv(f64::from);
    let mut condensed = vec![0.0f64; n * (n - 1) / 2];
    let mut rows = Vec::with_capacity(n);
    let mut rest = condensed.as_mut_slice();
    for i in 0..n {
        let (row, tail) = rest.split_at_mut(n - 1 - i);
        rows.push((i, row));
        rest = tail;
    }
    rows.into_par_iter().for_each(|(i, row)| {
        let a = points.row(i);
        for (out, j) in row.iter_mut().zip(i + 1..) {
            let b = points.row(j);
            *out = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
        }
    });
    condensed
}

/// The mean of each cluster's rows, accumulated in f64.
fn cluster_means(points: ArrayView2<'_, f32>, labels: &[u32], n_clusters: usize) -> Array2<f32> {
    let d = points.ncols();
    let mut sums = Array2::<f64>::zeros((n_clusters, d));
    let mut counts = vec![0usize; n_clusters];
    for (row, &label) in points.rows().into_iter().zip(labels) {
        let label = label as usize;
        counts[label] += 1;
        for (s, &v) in sums.row_mut(label).iter_mut().zip(&row) {
            *s += f64::from(v);
        }
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    Array2::from_shape_fn((n_clusters, d), |(c, j)| {
        (sums[[c, j]] / counts[c] as f64) as f32
    })
}

/// The nearest centroid of every row, ties to the lowest id; rows in parallel.
fn nearest_centroids(embeddings: ArrayView2<'_, f32>, centroids: ArrayView2<'_, f32>) -> Vec<u32> {
    let centroids = centroids.as_standard_layout();
    let centroids = centroids
        .as_slice()
        .expect("a standard-layout array is contiguous");
    let d = embeddings.ncols();
    let mut assignment = vec![0u32; embeddings.nrows()];
    assignment
        .par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, chunk)| {
            let mut buffer = Vec::with_capacity(d);
            for (out, n) in chunk.iter_mut().zip(task * ROWS_PER_TASK..) {
                let row = embeddings.row(n);
                let row = if let Some(row) = row.as_slice() {
                    row
                } else {
                    buffer.clear();
                    buffer.extend(row.iter());
                    buffer.as_slice()
                };
                let mut best = (f32::INFINITY, 0u32);
                for (id, centroid) in (0u32..).zip(centroids.chunks_exact(d)) {
                    let distance = squared_distance(row, centroid);
                    // Strict: an equal distance keeps the lower id. `id == 0` covers an
                    // infinite (overflowed) distance to every centroid.
                    if distance < best.0 || id == 0 {
                        best = (distance, id);
                    }
                }
                *out = best.1;
            }
        });
    assignment
}

/// `Σ (a − b)²` in f32, summed over [`LANES`] lanes so that it vectorises.
#[inline]
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += (x - y) * (x - y);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_of_one_class_is_one() {
        assert!((margin(ndarray::array![1.0f32].view()) - 1.0).abs() < f32::EPSILON);
        assert!(margin(ndarray::array![0.5f32, 0.5].view()).abs() < f32::EPSILON);
    }

    #[test]
    fn lowest_margin_count_is_clamped() {
        assert_eq!(lowest_margin_count(10, 1.25, 100), 12);
        assert_eq!(lowest_margin_count(10, 0.5, 100), 10);
        assert_eq!(lowest_margin_count(10, 1.25, 11), 11);
        assert_eq!(lowest_margin_count(10, 1e30, 100), 100);
    }

    #[test]
    fn round_robin_starts_with_the_smallest_cluster() {
        let members = vec![vec![1, 2, 3], vec![4], vec![], vec![5, 6]];
        assert_eq!(round_robin(members.clone(), 4), vec![4, 5, 1, 6]);
        assert_eq!(round_robin(members, 10), vec![4, 5, 1, 6, 2, 3]);
    }

    #[test]
    fn condensed_layout_is_row_major_upper_triangle() {
        let points = ndarray::array![[0.0f32], [1.0], [3.0]];
        assert_eq!(condensed_distances(points.view()), vec![1.0, 3.0, 2.0]);
    }
}
