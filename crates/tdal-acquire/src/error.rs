//! The one error type of `tdal-acquire`.

/// Everything that can go wrong when scoring a pool or selecting a batch.
///
/// Messages say what was expected, what was found and, where there is one, what to do.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An axis of a probability array is empty.
    #[error("{name}: expected probabilities of shape [N, K, C] with every axis ≥ 1, got {shape:?}")]
    EmptyAxis {
        /// Which input (`pool`, `targets`).
        name: &'static str,
        /// The shape found.
        shape: Vec<usize>,
    },
    /// Pool and target samples do not come from the same posterior samples / classes.
    #[error(
        "pool and targets disagree: pool is [N, K={pool_k}, C={pool_c}] but targets are \
         [M, K={targets_k}, C={targets_c}]; both must hold the same K posterior samples over \
         the same C classes"
    )]
    ShapeMismatch {
        /// K of the pool.
        pool_k: usize,
        /// C of the pool.
        pool_c: usize,
        /// K of the targets.
        targets_k: usize,
        /// C of the targets.
        targets_c: usize,
    },
    /// A probability is NaN or infinite.
    #[error("{name}[{}, {}, {}] is {value}: probabilities must be finite", index[0], index[1], index[2])]
    NonFinite {
        /// Which input.
        name: &'static str,
        /// `[n, k, c]` of the first offending value.
        index: [usize; 3],
        /// The value.
        value: f32,
    },
    /// A probability is negative.
    #[error("{name}[{}, {}, {}] is {value}: probabilities must be ≥ 0", index[0], index[1], index[2])]
    Negative {
        /// Which input.
        name: &'static str,
        /// `[n, k, c]` of the first offending value.
        index: [usize; 3],
        /// The value.
        value: f32,
    },
    /// A row of class probabilities does not sum to 1.
    #[error(
        "{name}[{n}, {k}, :] sums to {sum}, not 1 (tolerance {tolerance}); rescale rows \
         explicitly with `renormalise` (CLI: --renormalise) if that is what you want"
    )]
    NotNormalised {
        /// Which input.
        name: &'static str,
        /// Input index.
        n: usize,
        /// Posterior-sample index.
        k: usize,
        /// The row sum found.
        sum: f32,
        /// The tolerance applied.
        tolerance: f32,
    },
    /// A row cannot be renormalised because it sums to zero.
    #[error("{name}[{n}, {k}, :] sums to 0 and cannot be renormalised")]
    ZeroRow {
        /// Which input.
        name: &'static str,
        /// Input index.
        n: usize,
        /// Posterior-sample index.
        k: usize,
    },
    /// An acquisition score is NaN or infinite.
    #[error("score {index} is {value}: scores must be finite")]
    InvalidScore {
        /// Position of the score.
        index: usize,
        /// The value.
        value: f32,
    },
    /// There are no scores to select from.
    #[error("no scores to select from: the pool is empty")]
    NoScores,
    /// The batch size is zero or larger than the pool.
    #[error(
        "batch size {batch} is invalid for a pool of {available}: it must be between 1 and {available}"
    )]
    InvalidBatch {
        /// The batch size asked for.
        batch: usize,
        /// How many candidates there are.
        available: usize,
    },
    /// A parameter is outside its valid range.
    #[error("{name} = {value} is invalid: {expected}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A strategy whose keys depend on the whole pool was asked for one slice of it.
    #[error(
        "{strategy} selection weighs each score by its rank in the whole pool, so its keys \
         cannot be computed shard by shard; gather every score and call `select` (the CLI's \
         `tdal select` does this for softrank), or use topk, power or softmax"
    )]
    NeedsWholePool {
        /// The strategy.
        strategy: &'static str,
    },
    /// The memory budget is too small for even the smallest EPIG work tile.
    #[error(
        "EPIG needs at least {needed} bytes of working memory for these targets but the budget \
         is {budget} bytes; raise the memory budget or use fewer target inputs"
    )]
    MemoryBudget {
        /// Bytes needed at minimum.
        needed: usize,
        /// The budget.
        budget: usize,
    },
    /// A matrix (embeddings, centroids, `[N, C]` probabilities) has an empty axis.
    #[error("{name}: expected a matrix of shape [rows, columns] with both ≥ 1, got {shape:?}")]
    EmptyMatrix {
        /// Which input (`embeddings`, `centroids`, `probs`, `assignment`).
        name: &'static str,
        /// The shape found.
        shape: [usize; 2],
    },
    /// A value of a matrix is NaN or infinite.
    #[error("{name}[{}, {}] is {value}: values must be finite", index[0], index[1])]
    NonFiniteValue {
        /// Which input.
        name: &'static str,
        /// `[row, column]` of the first offending value.
        index: [usize; 2],
        /// The value.
        value: f32,
    },
    /// The number of clusters is zero or more than the rows being clustered.
    #[error(
        "n_clusters = {n_clusters} is invalid for {rows} clustered rows: it must be between 1 \
         and {rows}; lower n_clusters or raise the subsample"
    )]
    InvalidClusterCount {
        /// The number of clusters asked for.
        n_clusters: usize,
        /// How many rows were clustered (the subsample).
        rows: usize,
    },
    /// Embeddings do not have the dimension of the centroids.
    #[error(
        "{name} have {found} columns but the centroids have {expected}: embed the pool with \
         the encoder the clusters were fitted on"
    )]
    DimensionMismatch {
        /// Which input.
        name: &'static str,
        /// The centroids' dimension.
        expected: usize,
        /// The dimension found.
        found: usize,
    },
    /// An input does not cover the pool the clusters were fitted on.
    #[error(
        "{name} has {found} rows but the clusters cover a pool of {expected}: pass one row per \
         pool input, in the order the clusters were fitted on"
    )]
    PoolSizeMismatch {
        /// Which input.
        name: &'static str,
        /// The pool size of the clusters.
        expected: usize,
        /// The rows found.
        found: usize,
    },
    /// A saved assignment names a cluster that has no centroid.
    #[error(
        "assignment[{index}] is cluster {cluster} but there are only {n_clusters} centroids; \
         the saved assignment and centroids do not belong together"
    )]
    ClusterOutOfRange {
        /// Pool index of the offending entry.
        index: usize,
        /// The cluster id found.
        cluster: u32,
        /// How many centroids there are.
        n_clusters: usize,
    },
    /// A candidate index is not in the pool.
    #[error("candidate {candidate} is out of range for a pool of {pool}")]
    CandidateOutOfRange {
        /// The candidate index.
        candidate: usize,
        /// The pool size.
        pool: usize,
    },
    /// A candidate index is listed twice.
    #[error("candidate {candidate} is listed more than once: candidates must be distinct")]
    DuplicateCandidate {
        /// The repeated index.
        candidate: usize,
    },
    /// GALAXY's class probabilities are not a usable `[N, C]` array.
    #[error(
        "probs: expected class probabilities of shape [N, C] with 1 ≤ N < 2^32 inputs and \
         C ≥ 2 classes, got {shape:?}"
    )]
    ClassProbsShape {
        /// The shape found.
        shape: Vec<usize>,
    },
    /// The labels do not cover the pool one to one.
    #[error(
        "labels has {found} entries but probs has N = {expected} rows; pass one entry per \
         pool input, None for the unlabelled ones"
    )]
    LabelsLength {
        /// N, the rows of the probabilities.
        expected: usize,
        /// The number of labels given.
        found: usize,
    },
    /// A class label is not one of the C classes.
    #[error(
        "{origin} gave label {label} for pool input {index}, but probs has {classes} \
         classes: labels must be in 0..{classes}"
    )]
    LabelOutOfRange {
        /// Where the label came from (`labels`, `the oracle`).
        origin: &'static str,
        /// Pool index of the input.
        index: usize,
        /// The label.
        label: u32,
        /// C.
        classes: usize,
    },
    /// The labelling oracle could not reveal a label.
    #[error("the oracle failed to reveal the label of pool input {index}: {message}")]
    Oracle {
        /// Pool index asked for.
        index: usize,
        /// The oracle's own message.
        message: String,
    },
    /// A 2-D input (embeddings, features, similarities) or the labels do not have the shape
    /// their partner requires.
    #[error("{name}: expected shape {expected}, got {found:?}")]
    WrongShape {
        /// Which input (`features`, `labels`, `queries`, ...).
        name: &'static str,
        /// The shape expected, and why.
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// SIMILAR was given no query points.
    #[error(
        "SIMILAR needs at least one query: embed at least one labelled example of the target \
         classes (`gradient_embeddings` with its true label); until one is labelled, select \
         with an untargeted strategy (random, entropy, BALD)"
    )]
    NoQueries,
}

impl Error {
    /// The same error with the input positions it names moved by `offset`: for a block
    /// that starts at input `offset` of a larger pool (a shard), so that messages name the
    /// pool's index rather than the block's.
    #[must_use]
    pub fn at_offset(mut self, offset: usize) -> Self {
        match &mut self {
            Self::NonFinite { index, .. } | Self::Negative { index, .. } => index[0] += offset,
            Self::NotNormalised { n, .. } | Self::ZeroRow { n, .. } => *n += offset,
            _ => {}
        }
        self
    }
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn at_offset_moves_the_input_positions_only() {
        let err = Error::NonFinite {
            name: "pool",
            index: [3, 1, 2],
            value: f32::NAN,
        };
        assert!(matches!(
            err.at_offset(10),
            Error::NonFinite {
                index: [13, 1, 2],
                ..
            }
        ));
        let err = Error::InvalidBatch {
            batch: 4,
            available: 2,
        };
        assert_eq!(err.clone().at_offset(10), err);
    }
}
