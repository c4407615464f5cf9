//! File handling shared by the sub-commands: `.npy` arrays of any float or integer dtype
//! (and bool labels), and atomic writes (temp file in the destination folder, then
//! rename) so a failed command never leaves a partial or stale-looking output behind.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result, bail};
use ndarray::{ArrayD, Dimension};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};

fn open(path: &Path, what: &str) -> Result<BufReader<File>> {
    let file =
        File::open(path).with_context(|| format!("cannot open {what} file {}", path.display()))?;
    Ok(BufReader::new(file))
}

fn read_as<A: ReadableElement>(path: &Path, what: &str) -> Result<Option<ArrayD<A>>> {
    match ArrayD::<A>::read_npy(open(path, what)?) {
        Ok(array) => Ok(Some(array)),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(err) => Err(anyhow::Error::new(err))
            .with_context(|| format!("{what} file {} is not a valid .npy array", path.display())),
    }
}

/// Reads a float `.npy` array (`f32` or `f64`, either byte order or memory order) as `f32`.
///
/// # Errors
/// Missing or unreadable file, a malformed `.npy`, or a dtype other than f32/f64.
pub fn read_float_array(path: &Path, what: &str) -> Result<ArrayD<f32>> {
    if let Some(array) = read_as::<f32>(path, what)? {
        return Ok(array);
    }
    if let Some(array) = read_as::<f64>(path, what)? {
        #[allow(clippy::cast_possible_truncation)]
        return Ok(array.mapv(|v| v as f32));
    }
    bail!(
        "{what} file {} must hold float32 or float64 values (save it with numpy as .astype('float32'))",
        path.display()
    )
}

/// Reads a float `.npy` array (`f32` or `f64`) at its stored precision, as `f64` (float32
/// values are widened exactly).
///
/// # Errors
/// Missing or unreadable file, a malformed `.npy`, or a dtype other than f32/f64.
pub fn read_float_array_f64(path: &Path, what: &str) -> Result<ArrayD<f64>> {
    if let Some(array) = read_as::<f64>(path, what)? {
        return Ok(array);
    }
    if let Some(array) = read_as::<f32>(path, what)? {
        return Ok(array.mapv(f64::from));
    }
    bail!(
        "{what} file {} must hold float32 or float64 values",
        path.display()
    )
}

/// Reads an integer `.npy` array of any common dtype (i8..i64, u8..u64) or a bool one
/// (false = 0, true = 1, as numpy converts it) as `i64`.
///
/// # Errors
/// Missing or unreadable file, a malformed `.npy`, a non-integer dtype, or a `u64` value
/// that does not fit in `i64`.
pub fn read_int_array(path: &Path, what: &str) -> Result<ArrayD<i64>> {
    macro_rules! try_dtype {
        ($t:ty) => {
            if let Some(array) = read_as::<$t>(path, what)? {
                return Ok(array.mapv(i64::from));
            }
        };
    }
    if let Some(array) = read_as::<i64>(path, what)? {
        return Ok(array);
    }
    try_dtype!(i32);
    try_dtype!(u8);
    try_dtype!(u16);
    try_dtype!(u32);
    try_dtype!(i8);
    try_dtype!(i16);
    try_dtype!(bool);
    if let Some(array) = read_as::<u64>(path, what)? {
        let mut out = ArrayD::<i64>::zeros(array.raw_dim());
        for (dst, &src) in out.iter_mut().zip(array.iter()) {
            *dst = i64::try_from(src).with_context(|| {
                format!("{what} value {src} does not fit in a signed 64-bit integer")
            })?;
        }
        return Ok(out);
    }
    bail!(
        "{what} file {} must hold integer values (int8..int64, uint8..uint64 or bool)",
        path.display()
    )
}

/// Checks that `array` has `expected.len()` axes and returns its shape.
///
/// `expected` names the axes, e.g. `["N", "K", "C"]`, for the error message.
///
/// # Errors
/// A different number of axes.
pub fn expect_rank<A>(array: &ArrayD<A>, expected: &[&str], what: &str) -> Result<Vec<usize>> {
    let shape = array.shape().to_vec();
    if shape.len() != expected.len() {
        bail!(
            "expected {what} of shape [{}], got an array of shape {shape:?}",
            expected.join(", ")
        );
    }
    Ok(shape)
}

/// Writes `array` to `path` atomically ([`tdal_loop::record::write_atomic_with`]): into a
/// temporary file in the same folder, renamed over `path` only once complete.
///
/// # Errors
/// The folder does not exist or is not writable.
pub fn write_npy_atomic<A, D>(path: &Path, array: &ndarray::Array<A, D>) -> Result<()>
where
    A: WritableElement,
    D: Dimension,
{
    tdal_loop::record::write_atomic_with(path, &mut |file| {
        array.write_npy(file).map_err(std::io::Error::other)
    })?;
    Ok(())
}

/// Reshapes a dynamic-rank array to a fixed rank after [`expect_rank`] checked it.
///
/// # Errors
/// Never in practice once the rank was checked; kept fallible for safety.
pub fn into_dim<A, D: Dimension>(array: ArrayD<A>) -> Result<ndarray::Array<A, D>> {
    let ndim = array.ndim();
    array
        .into_dimensionality::<D>()
        .with_context(|| format!("array has {ndim} axes, not {:?}", D::NDIM))
}
