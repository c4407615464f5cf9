//! Run-time device choice. CPU is the default and always available; CUDA needs the crate's
//! `cuda` cargo feature (forwarded from `tdal-cli`), and asking for it from a build without
//! the feature is a typed [`Error::Device`] rather than a panic deep inside candle.

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where tensors live and models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// The CPU (default).
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal.
    Cuda(usize),
}

impl DeviceChoice {
    /// Whether this build can use CUDA at all (the `cuda` feature).
    #[must_use]
    pub const fn cuda_compiled() -> bool {
        cfg!(feature = "cuda")
    }

    /// Opens the device.
    ///
    /// # Errors
    /// [`Error::Device`] when CUDA is requested from a build without the `cuda` feature or
    /// the GPU cannot be opened.
    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(ordinal) => {
                if !Self::cuda_compiled() {
                    return Err(Error::Device(format!(
                        "CUDA device {ordinal} requested, but this build has no CUDA support: \
                         rebuild with `--features cuda` (needs the CUDA toolkit) or use the CPU"
                    )));
                }
                Device::new_cuda(ordinal)
                    .map_err(|e| Error::Device(format!("cannot open CUDA device {ordinal}: {e}")))
            }
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    /// Parses `cpu`, `cuda` (ordinal 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "expected a device `cpu`, `cuda` or `cuda:N`, got `{s}`"
                    ))
                }),
        }
    }
}
