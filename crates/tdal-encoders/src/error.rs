//! The crate's error type.

use std::path::PathBuf;

use crate::backbone::Backbone;
use crate::pretrained::Naming;

/// Everything that can go wrong building, training, saving or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter is out of range.
    #[error("invalid encoder configuration: {0}")]
    Config(String),
    /// An input has the wrong shape or content.
    #[error("invalid input: {0}")]
    Shape(String),
    /// The requested device cannot be used by this build or machine.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A checkpoint file could not be read or written.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file involved.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// A file of initial weights cannot initialise the network's backbone
    /// ([`crate::pretrained`]).
    #[error("initial weights {path}: {problem}")]
    InitWeights {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (boxed: the crate's errors stay small).
        problem: Box<WeightsProblem>,
    },
    /// A tensor operation failed inside candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// Image handling in `tdal-data` (padding, augmentation) failed.
    #[error(transparent)]
    Data(#[from] tdal_data::Error),
}

/// Why a file of initial weights cannot initialise a backbone ([`Error::InitWeights`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsProblem {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    /// The bytes are not a safetensors file (or a damaged one).
    #[error(
        "not a readable safetensors file ({0}); expected one written by safetensors' \
         `save_file` (see docs/REPRODUCING.md) or by a tdal model's `save`"
    )]
    NotSafetensors(String),
    /// No tensor names a variable of the backbone under either naming.
    #[error(
        "none of its {tensors} tensors is a variable of the {} backbone under tdal's \
         names (`{}`, with or without `encoder.`){}; its tensors: {examples}",
        .backbone.as_str(),
        example_variable(*.backbone),
        other_names(*.backbone)
    )]
    NoMatch {
        /// The network's backbone.
        backbone: Backbone,
        /// Tensors in the file.
        tensors: usize,
        /// The first of them.
        examples: String,
    },
    /// Backbone variables have no tensor in the file.
    #[error(
        "{count} tensors of the {} backbone are missing (read with {naming} names): \
         {names}; the file must hold the whole backbone",
        .backbone.as_str()
    )]
    Missing {
        /// The network's backbone.
        backbone: Backbone,
        /// The naming the file was read with.
        naming: Naming,
        /// How many are missing.
        count: usize,
        /// The first of them, as the file would name them.
        names: String,
    },
    /// Tensors that look like part of a backbone name no variable of this one (a deeper
    /// network's blocks): ignoring them would load a truncated copy of the file's network.
    #[error(
        "the file has {count} backbone tensors the {} backbone does not have (read with \
         {naming} names): {names}; is it a deeper network (a ResNet-34 for a ResNet-18, a \
         ResNet-101 or -152 for a ResNet-50) or one with other layers? Loading the rest \
         would truncate it",
        .backbone.as_str()
    )]
    Unexpected {
        /// The network's backbone.
        backbone: Backbone,
        /// The naming the file was read with.
        naming: Naming,
        /// How many tensors have no variable.
        count: usize,
        /// The first of them, as the file names them.
        names: String,
    },
    /// A tensor's shape is not its variable's.
    #[error("tensor {tensor} has shape {found:?}; {variable} needs {expected:?}")]
    Shape {
        /// The file's tensor.
        tensor: String,
        /// The variable it would initialise.
        variable: String,
        /// The variable's shape.
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
    /// A tensor holds no floating-point values.
    #[error(
        "tensor {tensor} holds {dtype} values; expected floating point (f32, f16, bf16 or f64)"
    )]
    Dtype {
        /// The file's tensor.
        tensor: String,
        /// Its dtype as safetensors names it.
        dtype: String,
    },
}

/// The other naming `backbone` takes, for messages.
const fn other_names(backbone: Backbone) -> &'static str {
    match backbone {
        Backbone::SmallCnn => {
            " (torchvision's ResNet names fit a ResNet backbone only, not this small CNN)"
        }
        Backbone::ResNet18 | Backbone::ResNet50 => {
            " or torchvision's ResNet names (`conv1.weight`, `layer1.0.conv1.weight`)"
        }
    }
}

/// A variable of `backbone` under tdal's names, for messages.
const fn example_variable(backbone: Backbone) -> &'static str {
    match backbone {
        Backbone::SmallCnn => "l0.conv.weight",
        Backbone::ResNet18 | Backbone::ResNet50 => "stem.conv.weight",
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
