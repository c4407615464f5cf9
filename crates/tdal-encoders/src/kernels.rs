//! Which matrix-product kernels the CPU encoders use: the fastest this CPU has (the
//! default), or the portable ones that give the same bits on every x86-64 CPU.
//!
//! Every convolution, linear layer and candle matrix product on the CPU goes through the
//! `gemm` crate, which has AVX2 + FMA kernels and AVX-512F kernels. The AVX-512 kernels
//! make the quick profile's training step ≈ 1.3× faster where the CPU has AVX-512F
//! (docs/PERFORMANCE.md), but they add the inner products up in another order, so their
//! results differ from the AVX2 kernels' in the last bits and training runs drift apart
//! from there. Both are deterministic: the same kernels, seed and inputs give the same
//! bits.
//!
//! - [`Kernels::Native`] (the default): AVX-512F kernels where the CPU has them, AVX2 + FMA
//!   elsewhere.
//! - [`Kernels::Portable`]: AVX2 + FMA kernels on every x86-64 CPU with FMA, so a run
//!   reproduces bit for bit on any machine of that kind (docs/results were made this
//!   way).
//!
//! The choice is process-wide and applies to every product started after [`set`]. Until
//! [`set`] or [`from_env`] is called, the environment variable `TDAL_KERNELS` (`native` or
//! `portable`) decides, read once at the crate's first matrix product (as `RAYON_NUM_THREADS`
//! is by rayon; an invalid value is ignored there); the `tdal` and `xtask` binaries call
//! [`from_env`] at start-up, which reports an invalid value as an error. [`in_use`] names
//! the kernels a product would use now (written into run records).
//!
//! On other architectures both choices use the same kernels.

use std::fmt;
use std::str::FromStr;
use std::sync::Once;

use crate::{Error, Result};

/// The environment variable [`from_env`] reads: `native` or `portable`.
pub const ENV: &str = "TDAL_KERNELS";

/// What a bad name is told.
const CHOICES: &str = "expected `native` (the fastest kernels this CPU has, the default) or \
                       `portable` (the same bits on every x86-64 CPU)";

/// Which matrix-product kernels to allow (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The fastest kernels this CPU has (AVX-512F where present).
    #[default]
    Native,
    /// AVX2 + FMA kernels everywhere: the same bits on every x86-64 CPU.
    Portable,
}

impl Kernels {
    /// The name [`FromStr`] reads back.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Portable => "portable",
        }
    }
}

impl fmt::Display for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kernels {
    type Err = Error;

    /// # Errors
    /// [`Error::Config`] for anything but `native` or `portable` (any case, trimmed).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(Self::Native),
            "portable" => Ok(Self::Portable),
            other => Err(Error::Config(format!(
                "unknown matrix-product kernels {other:?}: {CHOICES}"
            ))),
        }
    }
}

/// Decided once: by the first [`set`] / [`from_env`], or else from the environment at the
/// first product ([`env_default`]).
static DECIDED: Once = Once::new();

/// Allows or forbids the AVX-512 kernels for every matrix product started afterwards, in
/// the whole process.
pub fn set(kernels: Kernels) {
    DECIDED.call_once(|| ());
    gemm_common::set_x86_v4(kernels == Kernels::Native);
}

/// Applies `TDAL_KERNELS` once, unless [`set`] or [`from_env`] came first; an invalid
/// value is ignored (the binaries report it through [`from_env`]). Called before the
/// crate's matrix products and by [`get`].
pub(crate) fn env_default() {
    DECIDED.call_once(|| {
        if let Some(kernels) = std::env::var(ENV)
            .ok()
            .and_then(|v| v.parse::<Kernels>().ok())
        {
            gemm_common::set_x86_v4(kernels == Kernels::Native);
        }
    });
}

/// The current choice.
#[must_use]
pub fn get() -> Kernels {
    env_default();
    if gemm_common::get_x86_v4() {
        Kernels::Native
    } else {
        Kernels::Portable
    }
}

/// Applies `TDAL_KERNELS` when it is set (see [`ENV`]) and returns the choice in force.
///
/// # Errors
/// [`Error::Config`] when the variable holds anything but `native` or `portable` (nothing
/// is changed then).
pub fn from_env() -> Result<Kernels> {
    match std::env::var(ENV) {
        Ok(value) => {
            let kernels = value
                .parse::<Kernels>()
                .map_err(|_| Error::Config(format!("{ENV}={value:?}: {CHOICES}")))?;
            set(kernels);
            Ok(kernels)
        }
        Err(std::env::VarError::NotPresent) => Ok(get()),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config(format!(
            "{ENV} is not valid UTF-8: {CHOICES}"
        ))),
    }
}

/// Whether this CPU has AVX-512F (the only case where the two choices differ).
#[must_use]
pub fn cpu_has_avx512() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        false
    }
}

/// The instruction set of the kernels a product started now would use: `"avx512f"`,
/// `"avx2+fma"`, or `"generic"` (no FMA, or not x86).
#[must_use]
pub fn in_use() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if get() == Kernels::Native && cpu_has_avx512() {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("fma") {
            "avx2+fma"
        } else {
            "generic"
        }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        "generic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_explained() {
        for k in [Kernels::Native, Kernels::Portable] {
            assert_eq!(k.as_str().parse::<Kernels>().unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(" Portable ".parse::<Kernels>().unwrap(), Kernels::Portable);
        let err = "avx512".parse::<Kernels>().unwrap_err().to_string();
        assert!(err.contains("native") && err.contains("portable"), "{err}");
        assert_eq!(Kernels::default(), Kernels::Native);
    }
}
