//! `tdal.RandomForest`: tdal-heads' random forest (scikit-learn's `RandomForestClassifier`
//! defaults, every tree one posterior sample) with a scikit-learn-like interface and
//! pickling through `RandomForest::to_bytes` / `from_bytes`.

use ndarray::{ArrayView2, Ix2};
use numpy::{IntoPyArray, PyArray, PyArray2, PyArray3, PyArrayDescrMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use tdal_heads::{ForestParams, MaxFeatures, RandomForest};

use crate::arrays::{as_numpy, float32_array, value_error};

/// `max_features` as Python spells it: a name or a count.
#[derive(FromPyObject)]
enum MaxFeaturesArg {
    Count(usize),
    Name(String),
}

fn parse_max_features(arg: Option<MaxFeaturesArg>) -> PyResult<MaxFeatures> {
    Ok(match arg {
        None => MaxFeatures::All,
        Some(MaxFeaturesArg::Count(count)) => MaxFeatures::Count(count),
        Some(MaxFeaturesArg::Name(name)) => match name.as_str() {
            "sqrt" => MaxFeatures::Sqrt,
            "log2" => MaxFeatures::Log2,
            "all" => MaxFeatures::All,
            other => {
                return Err(PyValueError::new_err(format!(
                    "max_features {other:?} is unknown: expected \"sqrt\", \"log2\", \"all\", \
                     None (all features) or a count of features"
                )));
            }
        },
    })
}

/// A random forest classifier whose trees are kept apart as posterior samples.
///
/// CART trees with scikit-learn's RandomForestClassifier defaults (Gini, bootstrap,
/// √d candidate features per split, grown to purity), fitted and applied on all cores
/// with the GIL released. Tree t draws its randomness from stream t of `seed`, so the
/// same data and seed give the same forest on any thread count. Pickle it, or store
/// `to_bytes()`.
///
/// Args:
///     n_trees: trees in the forest (all of them are averaged by predict_proba).
///     seed: seed of the forest, 0 ≤ seed < 2**64.
///     posterior_samples: K, the trees returned by predict_samples (the first K);
///         None takes min(100, n_trees), tdal's default K.
///     max_features: candidate features per split: "sqrt" (default), "log2", "all" or
///         None (every feature), or a count.
///     max_depth: depth limit; None grows every tree to purity.
///     bootstrap: fit each tree on a bootstrap sample (default) or on all rows.
///     n_classes: number of classes C, at most 65,536 (tdal_heads::MAX_CLASSES, as
///         `tdal forest`); None takes max(y) + 1 at fit time.
///
/// Raises:
///     ValueError: invalid parameters, with tdal's message.
#[pyclass(module = "tdal", name = "RandomForest")]
pub(crate) struct PyRandomForest {
    forest: RandomForest,
    seed: u64,
}

impl PyRandomForest {
    fn params(&self) -> &ForestParams {
        self.forest.params()
    }

    /// `predict(forest, X)` with the GIL released, for features `X` `[N, features]` read
    /// as in fit, as a NumPy array.
    fn predict_with<'py, A: IntoPyArray + Send>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        predict: impl FnOnce(&RandomForest, ArrayView2<'_, f32>) -> tdal_heads::Result<A> + Send,
    ) -> PyResult<Bound<'py, PyArray<A::Item, A::Dim>>> {
        let x = float32_array::<Ix2>(x, "X", &["N", "features"])?;
        let x = x.as_array();
        let forest = &self.forest;
        let probs = py.detach(|| predict(forest, x)).map_err(value_error)?;
        Ok(probs.into_pyarray(py))
    }
}

/// What pickle stores: the forest's bytes (`RandomForest::to_bytes`) and the seed.
type PickleState<'py> = (Bound<'py, PyBytes>, u64);

/// Class labels: integers (or booleans) in `0..C`, one-dimensional.
fn labels(y: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    let array = as_numpy(y)?;
    if array.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "expected y of shape [rows], got an array of shape {:?}",
            array.shape()
        )));
    }
    let dtype = array.dtype();
    let (signed, name) = match dtype.kind() {
        b'i' | b'b' => (true, "int64"),
        b'u' => (false, "uint64"),
        _ => {
            return Err(PyTypeError::new_err(format!(
                "y must hold integer class labels 0..C-1, got dtype {dtype}"
            )));
        }
    };
    let wide = array.call_method1("astype", (name,))?;
    let values: Vec<i128> = if signed {
        let values = wide.extract::<numpy::PyReadonlyArray1<'_, i64>>()?;
        values.as_array().iter().map(|&v| i128::from(v)).collect()
    } else {
        let values = wide.extract::<numpy::PyReadonlyArray1<'_, u64>>()?;
        values.as_array().iter().map(|&v| i128::from(v)).collect()
    };
    values
        .into_iter()
        .enumerate()
        .map(|(row, label)| {
            u32::try_from(label).map_err(|_| {
                PyValueError::new_err(format!(
                    "y holds label {label} at row {row}: classes must be 0..C-1"
                ))
            })
        })
        .collect()
}

#[pymethods]
impl PyRandomForest {
    #[new]
    #[pyo3(signature = (
        n_trees = 250,
        seed = 0,
        posterior_samples = None,
        max_features = Some(MaxFeaturesArg::Name(String::from("sqrt"))),
        max_depth = None,
        bootstrap = true,
        n_classes = None,
    ))]
    #[pyo3(
        text_signature = "(n_trees=250, seed=0, posterior_samples=None, max_features='sqrt', max_depth=None, bootstrap=True, n_classes=None)"
    )]
    fn new(
        n_trees: usize,
        seed: u64,
        posterior_samples: Option<usize>,
        max_features: Option<MaxFeaturesArg>,
        max_depth: Option<usize>,
        bootstrap: bool,
        n_classes: Option<usize>,
    ) -> PyResult<Self> {
        let defaults = ForestParams::default();
        let params = ForestParams {
            n_trees,
            posterior_samples: posterior_samples
                .unwrap_or_else(|| defaults.posterior_samples.min(n_trees)),
            max_features: parse_max_features(max_features)?,
            max_depth,
            bootstrap,
            n_classes,
        };
        Ok(Self {
            forest: RandomForest::new(params).map_err(value_error)?,
            seed,
        })
    }

    /// Fits every tree (replacing an earlier fit) and returns the forest.
    ///
    /// Args:
    ///     X: training features [rows, features]; float32 read in place, other real
    ///         dtypes converted once to float32.
    ///     y: class labels [rows], any integer dtype or bool, classes 0..C-1 with C at
    ///         most 65,536.
    ///
    /// Raises:
    ///     ValueError: fewer than 2 rows, rows of X and y that disagree, no features,
    ///         NaN/inf features, labels out of range or negative, a label of 65,536 or
    ///         more (without n_classes); with tdal's message.
    ///     TypeError: X not real numbers, y not integers.
    #[pyo3(signature = (X, y))]
    #[allow(non_snake_case)]
    fn fit<'py>(
        mut slf: PyRefMut<'py, Self>,
        X: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let py = slf.py();
        let x = float32_array::<Ix2>(X, "X", &["rows", "features"])?;
        let labels = labels(y)?;
        let x = x.as_array();
        let this = &mut *slf;
        let seed = this.seed;
        py.detach(|| this.forest.fit_seeded(x, &labels, seed))
            .map_err(value_error)?;
        Ok(slf)
    }

    /// The forest's predictive distribution: the mean of all trees' class probabilities.
    ///
    /// Args:
    ///     X: features [N, features], as in fit.
    ///
    /// Returns:
    ///     float32 array [N, C], rows summing to 1.
    ///
    /// Raises:
    ///     ValueError: not fitted, a feature count that differs from training, NaN/inf.
    #[pyo3(signature = (X))]
    #[allow(non_snake_case)]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        self.predict_with(py, X, RandomForest::predict_mean)
    }

    /// Every tree's class probabilities: n_trees posterior samples per input.
    ///
    /// Args:
    ///     X: features [N, features], as in fit.
    ///
    /// Returns:
    ///     float32 array [N, n_trees, C], every [n, t, :] summing to 1; ready for
    ///     tdal.score.
    ///
    /// Raises:
    ///     ValueError: not fitted, a feature count that differs from training, NaN/inf.
    #[pyo3(signature = (X))]
    #[allow(non_snake_case)]
    fn predict_per_tree<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        self.predict_with(py, X, RandomForest::predict_per_tree)
    }

    /// The first posterior_samples trees' class probabilities: the posterior samples
    /// tdal's active-learning loop scores.
    ///
    /// Args:
    ///     X: features [N, features], as in fit.
    ///
    /// Returns:
    ///     float32 array [N, posterior_samples, C].
    ///
    /// Raises:
    ///     ValueError: not fitted, a feature count that differs from training, NaN/inf.
    #[pyo3(signature = (X))]
    #[allow(non_snake_case)]
    fn predict_samples<'py>(
        &self,
        py: Python<'py>,
        X: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let k = self.params().posterior_samples;
        self.predict_with(py, X, |forest, x| forest.predict_first_trees(x, k))
    }

    /// The forest (parameters, and trees once fitted) as bytes; `from_bytes` restores it.
    /// The seed is not part of them (pickle keeps it).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.forest.to_bytes())
    }

    /// Restores a forest from `to_bytes()`, with `seed` for later fits.
    ///
    /// Raises:
    ///     ValueError: bytes that are not a forest, with tdal's message.
    #[classmethod]
    #[pyo3(signature = (data, seed = 0))]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8], seed: u64) -> PyResult<Self> {
        Ok(Self {
            forest: RandomForest::from_bytes(data).map_err(value_error)?,
            seed,
        })
    }

    /// Pickle support: the forest's bytes and the seed.
    fn __getstate__<'py>(&self, py: Python<'py>) -> PickleState<'py> {
        (self.to_bytes(py), self.seed)
    }

    /// Pickle support: restores what `__getstate__` returned.
    fn __setstate__(&mut self, state: PickleState<'_>) -> PyResult<()> {
        let (data, seed) = state;
        self.forest = RandomForest::from_bytes(data.as_bytes()).map_err(value_error)?;
        self.seed = seed;
        Ok(())
    }

    /// Pickle support: a default forest, then `__setstate__`.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (), PickleState<'py>)> {
        let state = slf.borrow().__getstate__(slf.py());
        Ok((slf.get_type(), (), state))
    }

    /// Trees in the forest.
    #[getter]
    fn n_trees(&self) -> usize {
        self.params().n_trees
    }

    /// K, the trees predict_samples returns.
    #[getter]
    fn posterior_samples(&self) -> usize {
        self.params().posterior_samples
    }

    /// Candidate features per split: "sqrt", "log2", "all" or a count.
    #[getter]
    fn max_features(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.params().max_features {
            MaxFeatures::Sqrt => "sqrt".into_pyobject(py)?.into_any().unbind(),
            MaxFeatures::Log2 => "log2".into_pyobject(py)?.into_any().unbind(),
            MaxFeatures::All => "all".into_pyobject(py)?.into_any().unbind(),
            MaxFeatures::Count(count) => count.into_pyobject(py)?.into_any().unbind(),
        })
    }

    /// Depth limit, None for trees grown to purity.
    #[getter]
    fn max_depth(&self) -> Option<usize> {
        self.params().max_depth
    }

    /// Whether each tree is fitted on a bootstrap sample.
    #[getter]
    fn bootstrap(&self) -> bool {
        self.params().bootstrap
    }

    /// The number of classes asked for (None: max(y) + 1 at fit time).
    #[getter]
    fn n_classes(&self) -> Option<usize> {
        self.params().n_classes
    }

    /// The forest's seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of classes C of the fitted forest, None before fit.
    #[getter]
    fn n_classes_(&self) -> Option<usize> {
        self.forest.n_classes()
    }

    /// The constructor call that makes a forest with these parameters.
    fn __repr__(&self) -> String {
        let params = self.params();
        let max_features = match params.max_features {
            MaxFeatures::Sqrt => "'sqrt'".to_owned(),
            MaxFeatures::Log2 => "'log2'".to_owned(),
            MaxFeatures::All => "'all'".to_owned(),
            MaxFeatures::Count(count) => count.to_string(),
        };
        let optional =
            |value: Option<usize>| value.map_or_else(|| "None".into(), |v| v.to_string());
        format!(
            "RandomForest(n_trees={}, seed={}, posterior_samples={}, max_features={max_features}, \
             max_depth={}, bootstrap={}, n_classes={})",
            params.n_trees,
            self.seed,
            params.posterior_samples,
            optional(params.max_depth),
            if params.bootstrap { "True" } else { "False" },
            optional(params.n_classes),
        )
    }
}
