//! `tdal.score` and `tdal.select`: tdal-acquire with the semantics of `tdal score` and
//! `tdal select` (same method and strategy names, same validation and messages, same
//! seeded ChaCha8 stream, so the same seed gives the same batch as the command line).

use std::path::PathBuf;

use ndarray::{Array1, ArrayView3, Ix1, Ix3};
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{
    Acquisition, Bald, Confidence, Entropy, Epig, Error, Margin, Random, Strategy, renormalise,
};

use crate::arrays::{float32_array, value_error};

/// The acquisition functions, named as `tdal score --method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
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
///     pool: posterior predictive samples p(y | x_n, θ_k), array [N, K, C] (N inputs,
///         K posterior samples, C classes), every row [n, k, :] summing to 1 (within
///         1e-3). float32 is read in place whatever its strides; float64 and other real
///         dtypes are converted once to float32.
///     method: "epig", "bald", "entropy", "confidence", "margin" or "random".
///     targets: EPIG only (ignored by the other methods): samples of the target inputs
///         [M, K, C] from the same K posterior samples, in the same order.
///     memory_budget_mib: cap on EPIG's working memory in MiB (independent of N).
///     seed: seed of method "random", 0 ≤ seed < 2**64 (the scores equal
///         tdal_acquire::random_scores(N, seed)).
///     renormalise: rescale every row to sum to 1 instead of rejecting rows that do not
///         (works on a copy; the arrays passed in are never changed).
///
/// Returns:
///     float32 array [N]; higher means more worth labelling. Information measures are
///     in nats.
///
/// Raises:
///     ValueError: invalid probabilities (wrong rank, an empty axis, NaN/inf, negative
///         values, rows not summing to 1), K or C differing between pool and targets,
///         a memory budget too small, an unknown method, or EPIG without targets; with
///         tdal's message.
///     TypeError: a dtype that is not real numbers, or a pool given as a path.
///     OverflowError: a negative seed or memory budget.
#[pyfunction]
#[pyo3(signature = (pool, method = "epig", targets = None, memory_budget_mib = 512, seed = 0, renormalise = false))]
pub(crate) fn score<'py>(
    py: Python<'py>,
    pool: &Bound<'py, PyAny>,
    method: &str,
    targets: Option<&Bound<'py, PyAny>>,
    memory_budget_mib: usize,
    seed: u64,
    renormalise: bool,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let method = Method::parse(method)?;
    let pool = match PoolSource::of(pool)? {
        PoolSource::Array(array) => float32_array::<Ix3>(&array, "pool", &["N", "K", "C"])?,
        // Sharded pools: when tdal-data's shard reader lands, a path, a list of paths or
        // a directory of `.npy` shards is read here (streamed shard by shard) instead.
        PoolSource::Files(paths) => return Err(files_not_supported_yet(&paths)),
    };
    let targets = match (method, targets) {
        (Method::Epig, Some(targets)) => {
            Some(float32_array::<Ix3>(targets, "targets", &["M", "K", "C"])?)
        }
        (Method::Epig, None) => {
            return Err(PyValueError::new_err(
                "method \"epig\" needs the target-input samples: pass targets=... ([M, K, C])",
            ));
        }
        _ => None,
    };
    let settings = Settings {
        method,
        memory_budget: memory_budget_mib.saturating_mul(1 << 20),
        seed,
    };
    let pool = pool.as_array();
    let targets = targets.as_ref().map(numpy::PyReadonlyArray::as_array);
    let scores = py
        .detach(|| {
            if renormalise {
                compute_renormalised(settings, pool, targets)
            } else {
                compute(settings, pool, targets)
            }
        })
        .map_err(value_error)?;
    Ok(scores.into_pyarray(py))
}

fn files_not_supported_yet(paths: &[PathBuf]) -> PyErr {
    let first = paths
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!(
        "tdal.score takes the pool as an array [N, K, C]; reading it from files ({first}{}) \
         is not supported yet: load it with numpy.load(path) and pass the array",
        if paths.len() > 1 { ", ..." } else { "" }
    ))
}

/// Everything of a `score` call but the arrays.
#[derive(Clone, Copy)]
struct Settings {
    method: Method,
    memory_budget: usize,
    seed: u64,
}

/// The scores, as `tdal score` computes them.
fn compute(
    settings: Settings,
    pool: ArrayView3<'_, f32>,
    targets: Option<ArrayView3<'_, f32>>,
) -> tdal_acquire::Result<Array1<f32>> {
    match (settings.method, targets) {
        (Method::Epig, Some(targets)) => Epig::from_view(targets)?
            .with_memory_budget(settings.memory_budget)
            .score(pool),
        (Method::Epig, None) => Err(Error::InvalidParameter {
            name: "targets",
            value: "None".into(),
            expected: "EPIG's target-input samples [M, K, C]",
        }),
        (Method::Bald, _) => Bald.score(pool),
        (Method::Entropy, _) => Entropy.score(pool),
        (Method::Confidence, _) => Confidence.score(pool),
        (Method::Margin, _) => Margin.score(pool),
        (Method::Random, _) => Random {
            seed: settings.seed,
        }
        .score(pool),
    }
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
    let targets = targets
        .map(|targets| {
            let mut targets = targets.to_owned();
            renormalise(targets.view_mut(), "targets").map(|_| targets)
        })
        .transpose()?;
    compute(
        settings,
        pool.view(),
        targets.as_ref().map(|targets| targets.view()),
    )
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

/// A batch of pool indices from acquisition scores, as `tdal select`.
///
/// The stochastic strategies sample without replacement by the Gumbel-top-k trick from a
/// ChaCha8 stream seeded with `seed`, exactly as the command line: the same scores, batch
/// size, strategy, beta and seed give the same indices in the same order.
///
/// Args:
///     scores: acquisition scores, array [N]; float32 read in place, other real dtypes
///         converted once to float32 (as `tdal select` reads a float64 file).
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
///     ValueError: batch_size outside 1..=N, an empty or non-finite score, a negative
///         or non-finite beta, scores that are not one-dimensional, or an unknown
///         strategy; with tdal's message.
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
    let scores = float32_array::<Ix1>(scores, "scores", &["N"])?;
    let strategy = parse_strategy(strategy, beta)?;
    let scores = scores.as_array();
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
        .detach(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            tdal_acquire::select(scores, batch, strategy, &mut rng)
        })
        .map_err(value_error)?;
    let indices: Array1<i64> = indices
        .into_iter()
        .map(|index| i64::try_from(index).unwrap_or(i64::MAX))
        .collect();
    Ok(indices.into_pyarray(py))
}
