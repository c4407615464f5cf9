//! Python objects in, ndarray views out, and errors as Python exceptions.
//!
//! A numpy array of dtype float32 (native byte order, aligned) is borrowed as it is,
//! whatever its strides: C order, Fortran order, slices such as `pool[:, ::2]`, negative
//! steps. tdal's functions read such views directly, so nothing is copied here. Anything
//! else that numpy can turn into an array of real numbers (float64, float16, integers,
//! nested lists, big-endian data) is converted once with `numpy.asarray(x).astype(float32)`,
//! as the `tdal` command line reads float64 `.npy` files. Acquisition scores are the
//! exception ([`scores_array`]): as `tdal select`, other dtypes than float32 are read at
//! float64. Other dtypes (complex, object, strings) are a `TypeError`.

use std::fmt::Display;

use ndarray::{Dimension, Ix1};
use numpy::{
    Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// `ValueError` carrying `err`'s message unchanged (tdal-acquire's and tdal-heads' errors
/// already say what was expected, what was found and what to do).
pub(crate) fn value_error(err: impl Display) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// `obj` as a float32 array with `axes.len()` axes, borrowed in place when it already is
/// one (any strides), else converted once by numpy.
///
/// `what` names the argument in errors and `axes` names its axes, as the command line
/// does: `expected pool of shape [N, K, C], got an array of shape [4, 3]`.
///
/// # Errors
/// `ValueError` for a different number of axes (or what numpy raises for input that is
/// not an array, such as a ragged list); `TypeError` for a dtype that is not real numbers.
pub(crate) fn float32_array<'py, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    axes: &[&str],
) -> PyResult<PyReadonlyArray<'py, f32, D>> {
    real_array(obj, what, axes, "float32, or float64 converted to float32")
}

/// Acquisition scores as `tdal select` reads a score file: float32 as they are, any
/// other real dtype at float64 (float64 is not narrowed: top-k compares float64 scores
/// at their precision, and the stochastic strategies check that they fit in float32).
pub(crate) enum Scores<'py> {
    /// A float32 array, borrowed in place when possible (as [`float32_array`]).
    Float32(PyReadonlyArray1<'py, f32>),
    /// Any other real dtype, as float64 (float64 itself borrowed in place).
    Float64(PyReadonlyArray1<'py, f64>),
}

/// `obj` as one-dimensional [`Scores`] (`what` and `axes` as in [`float32_array`]).
///
/// # Errors
/// As [`float32_array`].
pub(crate) fn scores_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    axes: &[&str],
) -> PyResult<Scores<'py>> {
    let array = as_numpy(obj)?;
    if array.dtype().is_equiv_to(&numpy::dtype::<f32>(obj.py())) {
        return Ok(Scores::Float32(float32_array::<Ix1>(
            array.as_any(),
            what,
            axes,
        )?));
    }
    Ok(Scores::Float64(real_array::<f64, Ix1>(
        array.as_any(),
        what,
        axes,
        "float32 or float64",
    )?))
}

/// `obj` as an array of `T` with `axes.len()` axes, borrowed in place when it already is
/// one (any strides), else converted once by numpy from any real dtype; `accepted` says
/// which dtypes in the `TypeError` of other ones.
fn real_array<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    axes: &[&str],
    accepted: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let py = obj.py();
    let array = as_numpy(obj)?;
    if array.ndim() != axes.len() {
        return Err(PyValueError::new_err(format!(
            "expected {what} of shape [{}], got an array of shape {:?}",
            axes.join(", "),
            array.shape()
        )));
    }
    let target = numpy::dtype::<T>(py);
    let dtype = array.dtype();
    let in_place = dtype.is_equiv_to(&target) && is_aligned(&array)?;
    let array = if in_place {
        array
    } else {
        if !matches!(dtype.kind(), b'f' | b'i' | b'u') {
            return Err(PyTypeError::new_err(format!(
                "{what} must hold real numbers ({accepted}), got dtype {dtype}"
            )));
        }
        array
            .call_method1("astype", (target,))?
            .cast_into::<PyUntypedArray>()?
    };
    Ok(array.cast_into::<PyArray<T, D>>()?.try_readonly()?)
}

/// `obj` itself when it is a numpy array, else `numpy.asarray(obj)`.
pub(crate) fn as_numpy<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        return Ok(array.clone());
    }
    let numpy = PyModule::import(obj.py(), "numpy")?;
    Ok(numpy
        .call_method1("asarray", (obj,))?
        .cast_into::<PyUntypedArray>()?)
}

/// Whether numpy says the array's elements are aligned for their type (ndarray views
/// need it; only arrays built on purpose from odd byte offsets are not).
fn is_aligned(array: &Bound<'_, PyUntypedArray>) -> PyResult<bool> {
    array.getattr("flags")?.getattr("aligned")?.extract()
}

/// `obj` as a one-dimensional int64 array of pool indices (`what` names it in errors):
/// integers of any width are converted, anything else is a `TypeError`.
///
/// # Errors
/// `ValueError` for a different number of axes; `TypeError` for a dtype that is not
/// integers (an empty sequence is accepted whatever numpy makes of it).
pub(crate) fn index_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, i64, Ix1>> {
    vector::<i64>(obj, what, b"iu", "integers (int64)")
}

/// `obj` as a one-dimensional float64 array of selection keys (`what` names it in errors):
/// real numbers of any width are converted, anything else is a `TypeError`.
///
/// # Errors
/// As [`index_array`], for real numbers.
pub(crate) fn key_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, f64, Ix1>> {
    vector::<f64>(obj, what, b"fiu", "real numbers (float64)")
}

/// `obj` as a one-dimensional array of `T`, converted by numpy from any dtype whose kind is
/// one of `kinds`.
fn vector<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    kinds: &[u8],
    expected: &str,
) -> PyResult<PyReadonlyArray<'py, T, Ix1>> {
    let py = obj.py();
    let array = as_numpy(obj)?;
    if array.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "expected {what} of shape [n], got an array of shape {:?}",
            array.shape()
        )));
    }
    let target = numpy::dtype::<T>(py);
    let dtype = array.dtype();
    let array = if dtype.is_equiv_to(&target) && is_aligned(&array)? {
        array
    } else {
        if !kinds.contains(&dtype.kind()) && array.len() > 0 {
            return Err(PyTypeError::new_err(format!(
                "{what} must hold {expected}, got dtype {dtype}"
            )));
        }
        array
            .call_method1("astype", (target,))?
            .cast_into::<PyUntypedArray>()?
    };
    Ok(array.cast_into::<PyArray<T, Ix1>>()?.try_readonly()?)
}
