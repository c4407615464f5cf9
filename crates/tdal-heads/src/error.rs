//! The crate's one error type: every bad input to a head is one of these, never a panic.

/// Everything that can go wrong when fitting a head or asking it for predictions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A feature value is NaN or infinite.
    #[error(
        "{what} holds a non-finite value ({value}) at row {row}, feature {feature}: remove or impute NaN/inf before fitting or predicting"
    )]
    NonFinite {
        /// Which input (`training features`, `test features`).
        what: &'static str,
        /// Row of the offending value.
        row: usize,
        /// Column of the offending value.
        feature: usize,
        /// The value itself.
        value: f32,
    },
    /// A label is not in `0..n_classes`.
    #[error("label {label} at row {row} is out of range: expected classes 0..{n_classes}")]
    LabelOutOfRange {
        /// The offending label.
        label: u32,
        /// Its row.
        row: usize,
        /// The number of classes the head was configured with.
        n_classes: usize,
    },
    /// A label would make more classes than a head fits ([`crate::MAX_CLASSES`]).
    #[error(
        "label {label} at row {row} is too large: classes must be 0..C-1 with C at most {max} (predictions hold C probabilities per sample and row)"
    )]
    TooManyClasses {
        /// The offending label.
        label: u32,
        /// Its row.
        row: usize,
        /// The limit on C.
        max: usize,
    },
    /// Too few training rows.
    #[error("need at least {needed} training samples, got {found}")]
    TooFewSamples {
        /// Rows given.
        found: usize,
        /// Rows needed.
        needed: usize,
    },
    /// Too many training rows for the forest's 31-bit sample indices.
    #[error("at most {max} training samples are supported, got {found}")]
    TooManySamples {
        /// Rows given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// The features have no columns.
    #[error("features must have at least one column, got shape [{rows}, 0]")]
    NoFeatures {
        /// Rows given.
        rows: usize,
    },
    /// Features and labels disagree on the number of rows.
    #[error("features have {features} rows but labels have {labels} entries: they must match")]
    LengthMismatch {
        /// Rows of the feature matrix.
        features: usize,
        /// Length of the label vector.
        labels: usize,
    },
    /// Prediction inputs have a different width from the training inputs.
    #[error(
        "expected test features of shape [N, {expected}] (as in training), got [{rows}, {found}]"
    )]
    FeatureMismatch {
        /// Width seen at fit time.
        expected: usize,
        /// Width given now.
        found: usize,
        /// Rows given now.
        rows: usize,
    },
    /// A hyper-parameter is out of its valid range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What would be valid.
        expected: String,
    },
    /// Bytes given to `RandomForest::from_bytes` are not a forest it can restore.
    #[error(
        "cannot restore a random forest from these bytes: {reason}; pass bytes written by RandomForest::to_bytes"
    )]
    InvalidBytes {
        /// What is wrong with them.
        reason: String,
    },
    /// `predict_*` was called before `fit`.
    #[error("the head has not been fitted yet: call fit before predicting")]
    NotFitted,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
