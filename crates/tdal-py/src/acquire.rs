//! `tdal.score`, `tdal.select`, `tdal.perturbed_keys` and `tdal.top_b`: tdal-acquire with
//! the semantics of `tdal score` and `tdal select` (same method and strategy names, same
//! validation and messages, same seeded ChaCha8 stream, so the same seed gives the same
//! batch as the command line, from one array or from a pool in shards).

use std::path::PathBuf;

use ndarray::{Array1, Array3, ArrayView1, ArrayView3, Ix3};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{
    Acquisition, Bald, Confidence, Entropy, Epig, Error, Margin, Strategy, TopB, random_scores_at,
    renormalise,
};
use tdal_data::shards::ShardedPool;

use crate::arrays::{Scores, float32_array, index_array, key_array, scores_array, value_error};
use crate::shards;

/// The acquisition functions, named as `tdal score --method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Epig,
    Bald,
    Entropy,
    Confidence,
    Margin,
    Random,
}

impl Method {
    const NAMES: &'static str = "epig, bald, entropy, confidence, margin, random";

    fn parse(name: &str) -> PyResult<Self> {
        Ok(match name {
            "epig" => Self::Epig,
            "bald" => Self::Bald,
            "entropy" => Self::Entropy,
            "confidence" => Self::Confidence,
            "margin" => Self::Margin,
            "random" => Self::Random,
            other => {
                return Err(PyValueError::new_err(format!(
                    "method {other:?} is unknown: expected one of {}",
                    Self::NAMES
                )));
            }
        })
    }
}

/// What `tdal.score` was handed as its pool.
enum PoolSource<'py> {
    /// An array: numpy, or anything numpy turns into one.
    Array(Bound<'py, PyAny>),
    /// A path (`str` or `os.PathLike`) or a list / tuple of paths.
    Files(Vec<PathBuf>),
}

impl<'py> PoolSource<'py> {
    fn of(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if is_path(obj)? {
            return Ok(Self::Files(vec![obj.extract()?]));
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            let items: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
            if !items.is_empty() && items.iter().all(|item| is_path(item).unwrap_or(false)) {
                let paths = items
                    .iter()
                    .map(PyAnyMethods::extract)
                    .collect::<PyResult<_>>()?;
                return Ok(Self::Files(paths));
            }
        }
        Ok(Self::Array(obj.clone()))
    }
}

/// `str` or `os.PathLike`.
fn is_path(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyString>() {
        return Ok(true);
    }
    let path_like = PyModule::import(obj.py(), "os")?.getattr("PathLike")?;
    obj.is_instance(&path_like)
}

/// Acquisition scores of posterior predictive samples, as `tdal score`.
///
/// Args:
///     pool: posterior predictive samples p(y | x_n, θ_k) [N, K, C] (N inputs, K posterior
///         samples, C classes), every row [n, k, :] summing to 1 (within 1e-3). Either an
///         array (float32 is read in place whatever its strides; float64 and other real
///         dtypes are converted once to float32), or the pool in `.npy` files as
///         `tdal score --pool` reads it: a path (str or os.PathLike) to a `.npy` file or
///         to a folder whose `*.npy` files, sorted by file name, are the pool's shards,
///         or a list of such paths concatenated in the order given. Files are
///         memory-mapped and scored block by block, so memory stays bounded (apart from
///         the [N] scores) whatever N is; the scores are those of the concatenated array.
///     method: "epig", "bald", "entropy", "confidence", "margin" or "random".
///     targets: EPIG only (ignored by the other methods): samples of the target inputs
///         [M, K, C] from the same K posterior samples, in the same order: an array, or
///         `.npy` files given as the pool's are (a path, a folder of shards or a list of
///         them, as `tdal score --targets` reads its file), read whole into memory.
///     memory_budget_mib: cap on EPIG's working memory in MiB (independent of N).
///     seed: seed of method "random", 0 ≤ seed < 2**64.
///     renormalise: rescale every row to sum to 1 instead of rejecting rows that do not
///         (works on a copy; the arrays and files passed in are never changed).
///     offset: global index of the pool's first input when it is one part of a larger
///         pool (`tdal score --offset`): random scores are then that larger pool's
///         (tdal_acquire::random_scores_at(offset, N, seed)) and error messages count
///         from it. The other methods score each input alone and do not depend on it.
///     block_inputs: pool inputs per block when reading files (default: as many as fit
///         in 64 MiB of float32 samples, as `tdal score`); ignored for arrays.
///
/// Returns:
///     float32 array [N]; higher means more worth labelling. Information measures are
///     in nats.
///
/// Raises:
///     ValueError: invalid probabilities (wrong rank, an empty axis, NaN/inf, negative
///         values, rows not summing to 1), K or C differing between pool and targets or
///         between shards, a memory budget too small, an unknown method, EPIG without
///         targets, a missing file, a folder without `.npy` files, a file that is not a
///         float32/float64 `.npy` array [N, K, C] (pool) or [M, K, C] (targets),
///         block_inputs of 0; with tdal's message (naming the file for a pool or targets
///         read from files).
///     TypeError: a dtype that is not real numbers.
///     OverflowError: a negative seed, offset, block size or memory budget.
#[pyfunction]
#[pyo3(signature = (
    pool,
    method = "epig",
    targets = None,
    memory_budget_mib = 512,
    seed = 0,
    renormalise = false,
    offset = 0,
    block_inputs = None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn score<'py>(
    py: Python<'py>,
    pool: &Bound<'py, PyAny>,
    method: &str,
    targets: Option<&Bound<'py, PyAny>>,
    memory_budget_mib: usize,
    seed: u64,
    renormalise: bool,
    offset: usize,
    block_inputs: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let method = Method::parse(method)?;
    let settings = Settings {
        method,
        memory_budget: memory_budget_mib.saturating_mul(1 << 20),
        seed,
        offset,
    };
    let scores = match PoolSource::of(pool)? {
        PoolSource::Array(array) => {
            let pool = float32_array::<Ix3>(&array, "pool", &["N", "K", "C"])?;
            let targets = epig_targets(py, method, targets)?;
            let pool = pool.as_array();
            let targets = targets.as_ref().map(Targets::view);
            py.detach(|| {
                if renormalise {
                    compute_renormalised(settings, pool, targets)
                } else {
                    compute(settings, pool, targets)
                }
            })
            .map_err(|err| value_error(err.at_offset(offset)))?
        }
        PoolSource::Files(paths) => {
            // The pool is opened (headers only) before the targets are looked at, as
            // `tdal score` does, so that a missing file is reported first.
            let pool = ShardedPool::open(&paths).map_err(shards::data_error)?;
            let targets = epig_targets(py, method, targets)?;
            let targets = targets.as_ref().map(Targets::view);
            py.detach(|| shards::score(&pool, settings, targets, renormalise, block_inputs))
                .map_err(PyValueError::new_err)?
        }
    };
    Ok(scores.into_pyarray(py))
}

/// EPIG's target samples `[M, K, C]`, given as an array or as `.npy` files.
enum Targets<'py> {
    /// An array, as [`float32_array`] reads it.
    Array(PyReadonlyArray3<'py, f32>),
    /// A path, a folder of shards or a list of them (as a pool is given), read whole.
    Files(Array3<f32>),
}

impl Targets<'_> {
    fn view(&self) -> ArrayView3<'_, f32> {
        match self {
            Self::Array(array) => array.as_array(),
            Self::Files(array) => array.view(),
        }
    }
}

/// EPIG's target samples as float32 `[M, K, C]`; `None` for the other methods.
///
/// Targets are given as the pool is: an array, or `.npy` files (a path, a folder whose
/// `*.npy` files are shards, or a list of those) read with the pool's checks and
/// messages naming the file, then held in memory (EPIG packs them once anyway).
fn epig_targets<'py>(
    py: Python<'py>,
    method: Method,
    targets: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Targets<'py>>> {
    match (method, targets) {
        (Method::Epig, Some(targets)) => Ok(Some(match PoolSource::of(targets)? {
            PoolSource::Array(array) => {
                Targets::Array(float32_array::<Ix3>(&array, "targets", &["M", "K", "C"])?)
            }
            PoolSource::Files(paths) => {
                let files = ShardedPool::open(&paths).map_err(shards::data_error)?;
                Targets::Files(
                    py.detach(|| shards::read_whole(&files))
                        .map_err(PyValueError::new_err)?,
                )
            }
        })),
        (Method::Epig, None) => Err(PyValueError::new_err(
            "method \"epig\" needs the target-input samples: pass targets=... ([M, K, C])",
        )),
        _ => Ok(None),
    }
}

/// Everything of a `score` call but the arrays.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) method: Method,
    pub(crate) memory_budget: usize,
    pub(crate) seed: u64,
    /// Global index of the pool's first input.
    pub(crate) offset: usize,
}

/// The acquisition function of one call, applied to the whole pool or block by block.
pub(crate) enum Scorer {
    /// A function of each input's samples alone (the target samples are EPIG's own).
    Samples(Box<dyn Acquisition + Send + Sync>),
    /// Seeded random scores, addressed by the inputs' global indices.
    Random(u64),
}

impl Scorer {
    /// The scorer of `settings.method`; EPIG packs `targets` once here.
    pub(crate) fn new(
        settings: Settings,
        targets: Option<ArrayView3<'_, f32>>,
    ) -> tdal_acquire::Result<Self> {
        Ok(match (settings.method, targets) {
            (Method::Epig, Some(targets)) => Self::Samples(Box::new(
                Epig::from_view(targets)?.with_memory_budget(settings.memory_budget),
            )),
            (Method::Epig, None) => {
                return Err(Error::InvalidParameter {
                    name: "targets",
                    value: "None".into(),
                    expected: "EPIG's target-input samples [M, K, C]",
                });
            }
            (Method::Bald, _) => Self::Samples(Box::new(Bald)),
            (Method::Entropy, _) => Self::Samples(Box::new(Entropy)),
            (Method::Confidence, _) => Self::Samples(Box::new(Confidence)),
            (Method::Margin, _) => Self::Samples(Box::new(Margin)),
            (Method::Random, _) => Self::Random(settings.seed),
        })
    }

    /// Scores `pool`, the inputs `offset..offset + n` of the whole pool (positions in
    /// errors are `pool`'s own; `Error::at_offset` moves them).
    pub(crate) fn score(
        &self,
        pool: ArrayView3<'_, f32>,
        offset: usize,
    ) -> tdal_acquire::Result<Array1<f32>> {
        match self {
            Self::Samples(function) => function.score(pool),
            Self::Random(seed) => Ok(random_scores_at(offset, pool.dim().0, *seed)),
        }
    }
}

/// The scores, as `tdal score` computes them.
fn compute(
    settings: Settings,
    pool: ArrayView3<'_, f32>,
    targets: Option<ArrayView3<'_, f32>>,
) -> tdal_acquire::Result<Array1<f32>> {
    Scorer::new(settings, targets)?.score(pool, settings.offset)
}

/// [`compute`] on copies of the arrays whose rows were rescaled to sum to 1 (`tdal score
/// --renormalise`).
fn compute_renormalised(
    settings: Settings,
    pool: ArrayView3<'_, f32>,
    targets: Option<ArrayView3<'_, f32>>,
) -> tdal_acquire::Result<Array1<f32>> {
    let mut pool = pool.to_owned();
    renormalise(pool.view_mut(), "pool")?;
    let targets = targets.map(renormalised_targets).transpose()?;
    compute(
        settings,
        pool.view(),
        targets.as_ref().map(|targets| targets.view()),
    )
}

/// A copy of `targets` whose rows were rescaled to sum to 1.
pub(crate) fn renormalised_targets(
    targets: ArrayView3<'_, f32>,
) -> tdal_acquire::Result<Array3<f32>> {
    let mut targets = targets.to_owned();
    renormalise(targets.view_mut(), "targets")?;
    Ok(targets)
}

/// The batch strategies, named as `tdal select --strategy`.
fn parse_strategy(name: &str, beta: f32) -> PyResult<Strategy> {
    Ok(match name {
        "topk" => Strategy::TopK,
        "power" => Strategy::Power { beta },
        "softmax" => Strategy::Softmax { beta },
        "softrank" => Strategy::SoftRank { beta },
        other => {
            return Err(PyValueError::new_err(format!(
                "strategy {other:?} is unknown: expected one of topk, power, softmax, softrank"
            )));
        }
    })
}

/// Scores as a strategy computes with them, as `tdal select` reads a score file: top-k
/// compares float64 scores at their precision; everything else is float32.
#[derive(Clone, Copy)]
enum ScoresView<'a> {
    Float32(ArrayView1<'a, f32>),
    Float64(ArrayView1<'a, f64>),
}

impl ScoresView<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Float32(scores) => scores.len(),
            Self::Float64(scores) => scores.len(),
        }
    }
}

/// float64 scores as float32, the precision of the stochastic strategies (as `tdal
/// select` reads a float64 file for them): a finite score beyond float32's range is an
/// error, not an infinity. `offset` is the global index of `scores[0]` in the message.
fn narrowed(scores: ArrayView1<'_, f64>, offset: usize) -> PyResult<Array1<f32>> {
    if let Some((index, value)) = scores
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_finite() && v.abs() > f64::from(f32::MAX))
    {
        return Err(PyValueError::new_err(format!(
            "score {} is {value}, beyond float32's range (the stochastic strategies compute \
             in float32): rescale the scores",
            offset + index
        )));
    }
    Ok(scores.mapv(|v| v as f32))
}

/// [`Error::InvalidScore`] for the first NaN/infinite score (its index counted from
/// `offset`), as tdal-acquire checks float32 scores.
fn check_finite_f64(scores: ArrayView1<'_, f64>, offset: usize) -> tdal_acquire::Result<()> {
    match scores.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(Error::InvalidScore {
            index: offset + index,
            // NaN or ±inf: the same value in float32.
            value: value as f32,
        }),
        None => Ok(()),
    }
}

/// Top-k of float64 scores at their precision, as `tdal select` computes it for a
/// float64 file: tdal-acquire's checks in `select`'s order, then the `batch` highest
/// scores through [`TopB`] (higher score first, lower index on equal scores, as top-k of
/// float32 scores orders them).
fn top_k_f64(scores: ArrayView1<'_, f64>, batch: usize) -> tdal_acquire::Result<Vec<usize>> {
    let available = scores.len();
    if available == 0 {
        return Err(Error::NoScores);
    }
    if batch == 0 || batch > available {
        return Err(Error::InvalidBatch { batch, available });
    }
    check_finite_f64(scores, 0)?;
    let mut best = TopB::new(batch)?;
    best.push_keys(0, scores);
    best.finish()
}

/// A batch of pool indices from acquisition scores, as `tdal select`.
///
/// The stochastic strategies sample without replacement by the Gumbel-top-k trick from a
/// ChaCha8 stream seeded with `seed`, exactly as the command line: the same scores, batch
/// size, strategy, beta and seed give the same indices in the same order.
///
/// Scores are read as `tdal select` reads a score file: float32 as they are (in place);
/// float64 (and other real dtypes, converted to float64) compared at float64 by "topk",
/// so near-ties order as numpy orders them, and converted to float32 for the stochastic
/// strategies, which compute in float32 (a finite score beyond float32's range is then
/// an error: rescale the scores).
///
/// Args:
///     scores: acquisition scores, array [N] of real numbers (see above).
///     batch_size: how many indices to choose, 1 ≤ batch_size ≤ N.
///     strategy: "topk" (the batch_size best; beta and seed unused), "power"
///         (∝ score^beta), "softmax" (∝ exp(beta · score)) or "softrank" (∝ rank^−beta).
///     beta: coldness of the stochastic strategies, ≥ 0 (the paper: 4 on F+MNIST, 8
///         elsewhere).
///     seed: seed of the stochastic strategies, 0 ≤ seed < 2**64.
///
/// Returns:
///     int64 array [batch_size] of distinct 0-based indices, in the order drawn.
///
/// Raises:
///     ValueError: batch_size outside 1..=N, an empty or non-finite score, a float64
///         score beyond float32's range for a stochastic strategy, a negative or
///         non-finite beta, scores that are not one-dimensional, or an unknown strategy;
///         with tdal's message.
///     TypeError: a dtype that is not real numbers.
///     OverflowError: a negative seed.
#[pyfunction]
#[pyo3(signature = (scores, batch_size, strategy = "power", beta = 4.0, seed = 0))]
pub(crate) fn select<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    batch_size: i64,
    strategy: &str,
    beta: f32,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let scores = scores_array(scores, "scores", &["N"])?;
    let strategy = parse_strategy(strategy, beta)?;
    let float32;
    let scores = match &scores {
        Scores::Float32(scores) => ScoresView::Float32(scores.as_array()),
        Scores::Float64(scores) if matches!(strategy, Strategy::TopK) => {
            ScoresView::Float64(scores.as_array())
        }
        Scores::Float64(scores) => {
            float32 = narrowed(scores.as_array(), 0)?;
            ScoresView::Float32(float32.view())
        }
    };
    let available = scores.len();
    let batch = usize::try_from(batch_size).map_err(|_| {
        // tdal-acquire's checks in its order, for a count it cannot represent.
        if available == 0 {
            value_error(Error::NoScores)
        } else {
            PyValueError::new_err(format!(
                "batch size {batch_size} is invalid for a pool of {available}: it must be \
                 between 1 and {available}"
            ))
        }
    })?;
    let indices = py
        .detach(move || match scores {
            ScoresView::Float32(scores) => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                tdal_acquire::select(scores, batch, strategy, &mut rng)
            }
            ScoresView::Float64(scores) => top_k_f64(scores, batch),
        })
        .map_err(value_error)?;
    let indices: Array1<i64> = indices
        .into_iter()
        .map(|index| i64::try_from(index).unwrap_or(i64::MAX))
        .collect();
    Ok(indices.into_pyarray(py))
}

/// Selection keys of a slice of a larger pool, for choosing a batch from a pool in shards.
///
/// Input i of the pool gets the key `log w(score_i) + G_i` (top-k: the score itself), with
/// the Gumbel noise G_i that `tdal.select` draws for it from the same seed. So each shard
/// computes its inputs' keys alone, knowing only its offset, and the batch_size highest
/// keys over all shards (`tdal.top_b`, higher key first, then lower index) are exactly
/// `tdal.select(all_scores, batch_size, strategy, beta, seed)`, whatever the shard
/// boundaries.
///
/// Args:
///     scores: acquisition scores [n] of inputs offset..offset + n of the pool, read
///         as `tdal.select` reads them (float64 keys of "topk" are the float64 scores
///         themselves; the stochastic strategies convert float64 to float32).
///     strategy: "topk", "power" or "softmax" ("softrank" needs the whole pool).
///     beta: coldness of the stochastic strategies, ≥ 0.
///     seed: the seed `tdal.select` would be given, 0 ≤ seed < 2**64.
///     offset: global index of scores[0] in the pool, ≥ 0.
///
/// Returns:
///     float64 array [n] of keys.
///
/// Raises:
///     ValueError: strategy "softrank" (its weights are ranks in the whole pool: gather
///         the scores and call tdal.select), a non-finite score or, for a stochastic
///         strategy, a float64 score beyond float32's range (located in the pool), a
///         negative or non-finite beta, scores that are not one-dimensional, an unknown
///         strategy; with tdal's message.
///     TypeError: a dtype that is not real numbers.
///     OverflowError: a negative seed or offset.
#[pyfunction]
#[pyo3(signature = (scores, strategy = "power", beta = 4.0, seed = 0, offset = 0))]
pub(crate) fn perturbed_keys<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    strategy: &str,
    beta: f32,
    seed: u64,
    offset: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let scores = scores_array(scores, "scores", &["n"])?;
    let strategy = parse_strategy(strategy, beta)?;
    let keys = match &scores {
        Scores::Float32(scores) => {
            let scores = scores.as_array();
            py.detach(|| tdal_acquire::perturbed_keys(scores, strategy, seed, offset))
                .map_err(value_error)?
        }
        Scores::Float64(scores) => {
            // tdal-acquire's checks of the strategy (β, soft-rank) come first, as for
            // float32 scores: run them on no scores.
            tdal_acquire::perturbed_keys(Array1::<f32>::zeros(0).view(), strategy, seed, offset)
                .map_err(value_error)?;
            let scores = scores.as_array();
            if matches!(strategy, Strategy::TopK) {
                // Top-k's key is the score itself, at its precision (as `tdal select`).
                check_finite_f64(scores, offset).map_err(value_error)?;
                scores.to_owned()
            } else {
                let scores = narrowed(scores, offset)?;
                py.detach(|| tdal_acquire::perturbed_keys(scores.view(), strategy, seed, offset))
                    .map_err(value_error)?
            }
        }
    };
    Ok(keys.into_pyarray(py))
}

/// `top_b`'s result: int64 indices and their float64 keys, best first.
type IndicesAndKeys<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

/// The best batch_size (index, key) pairs, best first: the merge step of a batch chosen
/// from a pool in shards.
///
/// "Best" is `tdal.select`'s order: the higher key first, the lower index on equal keys.
/// Each shard keeps its own top_b of (global index, tdal.perturbed_keys) pairs; top_b of
/// all shards' pairs is the batch, in selection order, and equals tdal.select on the
/// whole pool. Every index must appear at most once.
///
/// Args:
///     indices: global pool indices [n], integers ≥ 0.
///     keys: their keys [n] (float64; other real dtypes converted), not NaN.
///     batch_size: how many pairs to keep, ≥ 1.
///
/// Returns:
///     (int64 array, float64 array): the min(batch_size, n) best indices and their keys,
///     best first. The batch is complete when n ≥ batch_size.
///
/// Raises:
///     ValueError: indices and keys of different lengths or not one-dimensional, a
///         negative index, a NaN key, batch_size < 1.
///     TypeError: indices that are not integers, keys that are not real numbers.
#[pyfunction]
#[pyo3(signature = (indices, keys, batch_size))]
pub(crate) fn top_b<'py>(
    py: Python<'py>,
    indices: &Bound<'py, PyAny>,
    keys: &Bound<'py, PyAny>,
    batch_size: i64,
) -> PyResult<IndicesAndKeys<'py>> {
    let indices = index_array(indices, "indices")?;
    let keys = key_array(keys, "keys")?;
    let (indices, keys) = (indices.as_array(), keys.as_array());
    if indices.len() != keys.len() {
        return Err(PyValueError::new_err(format!(
            "expected one key per index, got {} indices and {} keys",
            indices.len(),
            keys.len()
        )));
    }
    let batch = usize::try_from(batch_size).unwrap_or(0);
    let mut best = TopB::new(batch).map_err(|_| {
        PyValueError::new_err(format!(
            "batch size {batch_size} is invalid: it must be at least 1"
        ))
    })?;
    for (position, (&index, &key)) in indices.iter().zip(keys).enumerate() {
        let index = usize::try_from(index).map_err(|_| {
            PyValueError::new_err(format!(
                "indices[{position}] is {index}: pool indices must be ≥ 0"
            ))
        })?;
        if key.is_nan() {
            return Err(PyValueError::new_err(format!(
                "keys[{position}] is NaN: keys must be numbers (tdal.perturbed_keys never \
                 returns NaN)"
            )));
        }
        best.push(index, key);
    }
    let (best_indices, best_keys): (Vec<i64>, Vec<f64>) = best
        .into_best()
        .into_iter()
        .map(|(index, key)| (i64::try_from(index).unwrap_or(i64::MAX), key))
        .unzip();
    Ok((
        Array1::from(best_indices).into_pyarray(py),
        Array1::from(best_keys).into_pyarray(py),
    ))
}
