//! The flags that name a messy pool, shared by `tdal data` and `tdal run` so each is
//! declared (and documented) once.

use std::path::PathBuf;

use tdal_data::{Dataset, Imbalance};
use tdal_loop::DataConfig;

/// Which messy pool: the dataset, where its files are, the target classes and the
/// imbalance.
#[derive(Debug, Clone, clap::Args)]
pub struct PoolFlags {
    /// Named dataset configuration (default: fmnist, or the configuration's for `tdal
    /// run`).
    #[arg(long, value_enum)]
    pub dataset: Option<Dataset>,
    /// Folder holding one sub-folder per dataset (e.g. DIR/mnist/, DIR/fashion-mnist/);
    /// defaults to the TDAL_DATA_DIR environment variable.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Target classes of the target dataset, comma-separated (default: 5,6 for fmnist,
    /// 0,1,2,3,4 for cifar, 1 for chexpert).
    #[arg(long, value_delimiter = ',', value_name = "C,C,...")]
    pub targets: Option<Vec<u32>>,
    /// Imbalance ratio: each target class gets (largest redundant class / IR) images
    /// (default: 10, 2.5 for chexpert).
    #[arg(
        long,
        value_name = "IR",
        conflicts_with = "target_share",
        allow_negative_numbers = true
    )]
    pub ir: Option<f64>,
    /// Instead of --ir: the fraction of the pool that is target-class images, in (0, 1).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub target_share: Option<f64>,
    /// Cap on the pool size: redundant and target counts shrink proportionally (with
    /// --target-share 0.06, 20000 keeps the 600 images per digit that --ir 10 gives on
    /// F+MNIST).
    #[arg(long, value_name = "N")]
    pub max_pool: Option<usize>,
}

impl PoolFlags {
    /// The imbalance the flags ask for (`None`: the dataset's default).
    #[must_use]
    pub fn imbalance(&self) -> Option<Imbalance> {
        match (self.ir, self.target_share) {
            (_, Some(share)) => Some(Imbalance::TargetShare(share)),
            (Some(ir), None) => Some(Imbalance::Ratio(ir)),
            (None, None) => None,
        }
    }

    /// Lays the flags given over a run's `[data]` section.
    pub fn apply(&self, data: &mut DataConfig) {
        if let Some(v) = self.dataset {
            data.dataset = v;
        }
        if let Some(v) = &self.data_dir {
            data.dir = Some(v.clone());
        }
        if let Some(v) = &self.targets {
            data.targets = Some(v.clone());
        }
        if let Some(v) = self.ir {
            data.ir = Some(v);
            data.target_share = None;
        }
        if let Some(v) = self.target_share {
            data.target_share = Some(v);
            data.ir = None;
        }
        if let Some(v) = self.max_pool {
            data.max_pool = Some(v);
        }
    }
}
