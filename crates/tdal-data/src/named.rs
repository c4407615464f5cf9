//! The paper's named pool configurations: each knows which sources to read from a data
//! directory and the default targets, imbalance and initial labels; every default can be
//! overridden through [`PoolOptions`].
//!
//! | name | targets | redundant | IR | initial labels / class |
//! | --- | --- | --- | --- | --- |
//! | `fmnist` | MNIST digits {5, 6} | all 10 Fashion-MNIST classes | 10 | 2 |
//! | `cifar` | CIFAR-10 classes 0–4 | all 100 CIFAR-100 (fine) classes | 10 | 2 |
//! | `chexpert` | pleural effusion positive | pleural effusion negative | 2.5 | 4 |

use std::path::Path;

use crate::Result;
use crate::chexpert::{ChexpertOptions, ChexpertSplit, read_chexpert};
use crate::cifar::{CifarKind, CifarSplit, read_cifar};
use crate::datadir::{KnownDataset, locate};
use crate::idx::{Split, read_mnist_split};
use crate::images::index_names;
use crate::pool::{ClassSelection, Imbalance, MessyPool, PoolSpec, Source, TestRule, build_pool};

/// Fashion-MNIST class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// A named dataset configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// MNIST digit targets among all ten Fashion-MNIST classes (needs DIR/mnist/ and
    /// DIR/fashion-mnist/).
    Fmnist,
    /// CIFAR-10 classes 0-4 among all CIFAR-100 classes (needs DIR/cifar-10-batches-bin/
    /// and DIR/cifar-100-binary/).
    Cifar,
    /// CheXpert pleural effusion, uncertain and blank labels dropped (needs
    /// DIR/CheXpert-v1.0-small/).
    Chexpert,
}

impl Dataset {
    /// The name used in files, run ids and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fmnist => "fmnist",
            Self::Cifar => "cifar",
            Self::Chexpert => "chexpert",
        }
    }

    /// Default target classes.
    #[must_use]
    pub fn default_targets(self) -> Vec<u32> {
        match self {
            Self::Fmnist => vec![5, 6],
            Self::Cifar => vec![0, 1, 2, 3, 4],
            Self::Chexpert => vec![1],
        }
    }

    /// Number of classes of the target dataset, the range of `targets` (MNIST's digits,
    /// CIFAR-10's classes, CheXpert's negative and positive).
    #[must_use]
    pub const fn target_classes(self) -> usize {
        match self {
            Self::Fmnist | Self::Cifar => 10,
            Self::Chexpert => 2,
        }
    }

    /// Default imbalance ratio.
    #[must_use]
    pub fn default_ir(self) -> f64 {
        match self {
            Self::Fmnist | Self::Cifar => 10.0,
            Self::Chexpert => 2.5,
        }
    }

    /// Default initial labels per label-map class.
    #[must_use]
    pub fn default_initial_per_class(self) -> usize {
        match self {
            Self::Fmnist | Self::Cifar => 2,
            Self::Chexpert => 4,
        }
    }
}

/// Overrides of a named configuration's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    /// Target classes (`None`: the dataset's default).
    pub targets: Option<Vec<u32>>,
    /// Imbalance (`None`: the dataset's default IR).
    pub imbalance: Option<Imbalance>,
    /// Cap on the pool size.
    pub max_pool: Option<usize>,
    /// Target inputs per target class (`None`: all that stay balanced).
    pub target_inputs_per_class: Option<usize>,
    /// Test rule.
    pub test_rule: TestRule,
    /// Initial labels per class (`None`: the dataset's default).
    pub initial_per_class: Option<usize>,
    /// CheXpert reading options (finding column, image size, ...).
    pub chexpert: ChexpertOptions,
    /// Seed.
    pub seed: u64,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            targets: None,
            imbalance: None,
            max_pool: None,
            target_inputs_per_class: None,
            test_rule: TestRule::BalancedOther,
            initial_per_class: None,
            chexpert: ChexpertOptions::default(),
            seed: 0,
        }
    }
}

/// Reads the sources a named configuration needs from `data_dir` (see
/// [`crate::datadir`] for the accepted layouts).
///
/// # Errors
/// [`crate::Error::Missing`] naming the expected folders and files; any reader error.
pub fn load_sources(
    dataset: Dataset,
    data_dir: &Path,
    options: &PoolOptions,
) -> Result<Vec<Source>> {
    match dataset {
        Dataset::Fmnist => {
            let mnist_dir = locate(data_dir, KnownDataset::Mnist, false)?;
            let fashion_dir = locate(data_dir, KnownDataset::FashionMnist, false)?;
            let fashion_names: Vec<String> = FASHION_MNIST_CLASSES
                .iter()
                .map(|s| (*s).to_string())
                .collect();
            // The four files decode independently: read them on two threads.
            let ((mnist_train, mnist_test), (fashion_train, fashion_test)) = rayon::join(
                || {
                    rayon::join(
                        || read_mnist_split(&mnist_dir, Split::Train, index_names(10)),
                        || read_mnist_split(&mnist_dir, Split::Test, index_names(10)),
                    )
                },
                || {
                    rayon::join(
                        || read_mnist_split(&fashion_dir, Split::Train, fashion_names.clone()),
                        || read_mnist_split(&fashion_dir, Split::Test, fashion_names.clone()),
                    )
                },
            );
            Ok(vec![
                Source {
                    name: "MNIST".into(),
                    train: mnist_train?,
                    test: mnist_test?,
                },
                Source {
                    name: "Fashion-MNIST".into(),
                    train: fashion_train?,
                    test: fashion_test?,
                },
            ])
        }
        Dataset::Cifar => {
            let c10 = locate(data_dir, KnownDataset::Cifar10, false)?;
            let c100 = locate(data_dir, KnownDataset::Cifar100, false)?;
            Ok(vec![
                Source {
                    name: "CIFAR-10".into(),
                    train: read_cifar(&c10, CifarKind::Cifar10, CifarSplit::Train)?,
                    test: read_cifar(&c10, CifarKind::Cifar10, CifarSplit::Test)?,
                },
                Source {
                    name: "CIFAR-100".into(),
                    train: read_cifar(&c100, CifarKind::Cifar100Fine, CifarSplit::Train)?,
                    test: read_cifar(&c100, CifarKind::Cifar100Fine, CifarSplit::Test)?,
                },
            ])
        }
        Dataset::Chexpert => {
            let root = locate(data_dir, KnownDataset::Chexpert, true)?;
            Ok(vec![Source {
                name: "CheXpert".into(),
                train: read_chexpert(&root, ChexpertSplit::Train, &options.chexpert)?,
                test: read_chexpert(&root, ChexpertSplit::Valid, &options.chexpert)?,
            }])
        }
    }
}

/// The pool spec of a named configuration over the sources of [`load_sources`].
#[must_use]
pub fn spec(dataset: Dataset, sources: &[Source], options: &PoolOptions) -> PoolSpec {
    let targets = options
        .targets
        .clone()
        .unwrap_or_else(|| dataset.default_targets());
    let redundant = match dataset {
        Dataset::Fmnist | Dataset::Cifar => {
            let n = sources.get(1).map_or(0, |s| s.train.class_names.len());
            vec![ClassSelection {
                source: 1,
                classes: (0..n as u32).collect(),
            }]
        }
        Dataset::Chexpert => {
            let n = sources.first().map_or(0, |s| s.train.class_names.len());
            vec![ClassSelection {
                source: 0,
                classes: (0..n as u32).filter(|c| !targets.contains(c)).collect(),
            }]
        }
    };
    PoolSpec {
        targets: ClassSelection {
            source: 0,
            classes: targets,
        },
        redundant,
        imbalance: options
            .imbalance
            .unwrap_or(Imbalance::Ratio(dataset.default_ir())),
        max_pool: options.max_pool,
        target_inputs_per_class: options.target_inputs_per_class,
        test_rule: options.test_rule,
        initial_per_class: options
            .initial_per_class
            .unwrap_or_else(|| dataset.default_initial_per_class()),
        seed: options.seed,
    }
}

/// Reads the sources and builds the named pool.
///
/// # Errors
/// As [`load_sources`] and [`build_pool`].
pub fn build_named(dataset: Dataset, data_dir: &Path, options: &PoolOptions) -> Result<MessyPool> {
    let sources = load_sources(dataset, data_dir, options)?;
    build_pool(&sources, &spec(dataset, &sources, options))
}
