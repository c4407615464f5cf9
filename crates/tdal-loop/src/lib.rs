//! The active-learning loop of tdal.
//!
//! A run builds the messy pool and the three parts of a round from its configuration
//! ([`Parts::from_config`]): a [`Representation`] (a fixed US VAE or SimCLR encoder,
//! cached on disk; TD-SPLIT or TD-FT retrained every k rounds; or the messy-pool
//! baselines' network trained from scratch every round), a head
//! ([`tdal_heads::PredictionHead`]: the random forest, the Laplace MLP, or the baselines'
//! own output layer) and a [`BatchSelector`] (score-then-sample acquisition, a uniformly
//! random batch, or SIMILAR, GALAXY and Cluster-Margin). A [`Session`] runs the rounds: embed, fit the head on the labelled embeddings,
//! record test accuracy, propose a batch ([`Session::next_batch`]) and take its labels
//! ([`Session::submit`]); [`run_task`] drives it with an [`Oracle`]. Every round is
//! appended to `runs/<run-id>/rounds.jsonl`; a killed run resumes from its last completed
//! round, never asks the oracle again for what it answered, and ends with exactly the
//! result of an uninterrupted run.
//!
//! ```no_run
//! use tdal_loop::{Profile, RunConfig, RunOptions, Silent};
//!
//! let mut cfg = RunConfig::preset(Profile::Smoke);
//! cfg.data.dir = Some("fixtures/fmnist-mini".into());
//! let opts = RunOptions {
//!     out: "runs".into(),
//!     cache_dir: "runs/cache".into(),
//!     resume: true,
//!     device: tdal_loop::DeviceChoice::Cpu,
//! };
//! let summary = tdal_loop::run(&cfg, &opts, &mut Silent)?;
//! println!("{:.1} %", 100.0 * summary.final_accuracy.primary);
//! # Ok::<(), tdal_loop::Error>(())
//! ```

pub mod cache;
pub mod config;
mod error;
pub mod metrics;
pub mod oracle;
pub mod parts;
pub mod record;
mod run;
pub mod seeds;
pub mod session;
pub mod stage;

pub use config::{
    AcquisitionConfig, AcquisitionKind, ClusterMarginSettings, DataConfig, Dataset, EncoderConfig,
    EpigSettings, ForestSettings, GalaxySettings, HeadConfig, InitWeights, LaplaceSettings,
    LoopConfig, NoSettings, Profile, RepresentationKind, RunConfig, Sampling, ScheduleKind,
    SimilarSettings, SplitSettings, StrategyKind, SupervisedSettings, VaeSettings,
};
pub use error::{Error, Result};
pub use oracle::{Oracle, SimulatedOracle};
pub use parts::{
    BatchSelector, ClusterMargin, Embeddings, Fixed, Galaxy, Initialised, LabelledSet, NetworkHead,
    Parts, Representation, RoundInputs, ScoreThenSample, Similar, SplitVae, Streams, SupervisedNet,
    UniformRandom,
};
pub use record::{Accuracies, Acquired, RoundRecord, RunSummary};
pub use run::{Event, Observer, RunOptions, Silent, Task, build_task, run, run_task, verify_pool};
pub use session::{Session, total_rounds};
pub use stage::{Stage, StageClock, StageSeconds};
pub use tdal_encoders::DeviceChoice;
