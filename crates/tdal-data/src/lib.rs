//! Datasets and messy pools for tdal.
//!
//! Readers turn files into [`ImageSet`]s (pixels `[N, C, H, W]` in `[0, 1]` plus labels):
//! IDX ([`idx`], MNIST / Fashion-MNIST, gzipped or raw), CIFAR-10/100 binary ([`cifar`]),
//! CheXpert CSV + images ([`chexpert`]), a folder of class sub-folders ([`folder`]) and
//! `.npy` arrays ([`npy`]); [`shards`] memory-maps pools of posterior samples `[N, K, C]`
//! split over `.npy` files and hands them out block by block, so that pools larger than
//! memory can be scored. Every failure is a typed [`Error`] whose message names what was
//! expected and what to do; no reader panics on bad bytes.
//!
//! The [`pool`] builder mixes target and redundant classes at a chosen imbalance into a
//! [`MessyPool`] (label 0 = other, 1..=T targets) with disjoint EPIG target inputs, a test
//! set and initial labels, all from one seed; [`named`] holds the paper's configurations
//! (F+MNIST, CIFAR-10+100, CheXpert) and [`datadir`] finds their files in a data directory.
//! [`augment`] augments labelled batches and balances classes; [`contrastive`] makes the
//! SimCLR-style pairs of views for self-supervised pre-training; [`summary`] and [`preview`]
//! show a pool to a person.
//!
//! ```
//! use tdal_data::{ClassSelection, Imbalance, ImageSet, PoolSpec, Source, TestRule, build_pool};
//! use ndarray::Array4;
//!
//! // A toy source: 40 images of 4 classes (10 each), 2×2 grey.
//! let labels: Vec<u32> = (0..40).map(|i| i % 4).collect();
//! let set = ImageSet::new(Array4::zeros((40, 1, 2, 2)), labels, tdal_data::index_names(4))?;
//! let source = Source { name: "toy".into(), train: set.clone(), test: set };
//! let spec = PoolSpec {
//!     targets: ClassSelection { source: 0, classes: vec![3] },
//!     redundant: vec![ClassSelection { source: 0, classes: vec![0, 1, 2] }],
//!     imbalance: Imbalance::Ratio(5.0),
//!     max_pool: None,
//!     target_inputs_per_class: None,
//!     test_rule: TestRule::TargetsOnly,
//!     initial_per_class: 1,
//!     seed: 0,
//! };
//! let pool = build_pool(&[source], &spec)?;
//! assert_eq!(pool.pool.label_counts(2), vec![30, 2]); // 10 per redundant class, 10 / 5 targets
//! assert_eq!(pool.target_inputs.len(), 8);              // the leftover target images
//! # Ok::<(), tdal_data::Error>(())
//! ```

pub mod augment;
pub mod chexpert;
pub mod cifar;
pub mod contrastive;
pub mod datadir;
mod error;
pub mod files;
pub mod folder;
pub mod idx;
pub mod images;
pub mod named;
pub mod npy;
pub mod pool;
pub mod preview;
pub mod shards;
pub mod summary;

pub use augment::{AugmentParams, Transform, augment_batch, balanced_indices};
pub use contrastive::{ContrastiveAugment, ViewTransform, contrastive_view, contrastive_views};
pub use error::{Error, Result};
pub use images::{ImageSet, index_names, pad_to};
pub use named::{Dataset, PoolOptions, build_named};
pub use pool::{
    ClassSelection, Imbalance, LabelledSplit, MessyPool, Origin, PoolSpec, Source, SplitKind,
    TestRule, build_pool,
};
pub use summary::PoolSummary;
