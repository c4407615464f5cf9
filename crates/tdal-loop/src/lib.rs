//! The active-learning loop of tdal (SPEC §7).
//!
//! A run builds the messy pool, obtains a representation (a fixed US VAE, cached on disk,
//! or TD-SPLIT retrained every k rounds), and then repeats: embed, fit the random forest on
//! the labelled embeddings, record test accuracy, score the unlabelled pool with the
//! acquisition function, draw a batch, ask the oracle. Every round is appended to
//! `runs/<run-id>/rounds.jsonl`; a killed run resumes from its last completed round and
//! ends with exactly the result of an uninterrupted run.

pub mod config;
mod error;
pub mod record;

pub use config::{
    AcquisitionKind, DataConfig, DatasetName, EncoderConfig, HeadConfig, LoopConfig, Profile,
    RepresentationKind, RunConfig, ScheduleKind, StrategyKind,
};
pub use error::{Error, Result};
pub use record::{Accuracies, Acquired, RoundRecord, RunSummary, StageSeconds};
pub use tdal_encoders::DeviceChoice;
pub mod cache;
pub mod metrics;
pub mod oracle;
pub mod representation;
mod run;
pub mod seeds;

pub use oracle::{Oracle, SimulatedOracle};
pub use representation::{Fixed, Initialised, Representation, SplitVae};
pub use run::{Event, Observer, RunOptions, Silent, Task, build_task, run, run_task, total_rounds};
