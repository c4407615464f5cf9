//! Labelling projects: the task-driven loop with a person as the oracle.
//!
//! A project is a folder that holds everything a labelling session needs to stop and go
//! on at any moment:
//!
//! - `project.json`: the settings ([`Settings`]: classes, image geometry, seed) and the
//!   manifest of the pool ([`manifest::Manifest`]: relative path, size and content hash
//!   of every image, in a fixed order; unreadable files are listed as skipped);
//! - `config.toml`: the loop's configuration (representation, head, acquisition, batch
//!   size, budget), a [`tdal_loop::RunConfig`];
//! - `pool.npy` (and `examples.npy`): the decoded images, `u8` `[N, C, S, S]`;
//! - `labels.jsonl`: the append-only label log ([`log::LabelLog`]); every line is
//!   written and fsync'ed before a caller is told it was saved;
//! - `session/`: the loop's run folder (rounds, the pending batch, checkpoints).
//!
//! [`Project`] drives a [`tdal_loop::Session`] from the label log: a batch whose labels
//! are all in the log is submitted, then the next one is proposed. Labels reach the loop
//! only through the log, so a process killed at any moment restarts with every
//! acknowledged label and the same proposed batch.

mod error;
pub mod import;
pub mod log;
pub mod manifest;
mod project;

pub use error::{Error, Result};
pub use project::{
    BatchYield, ClassCount, ExportReport, ImageStore, InitOptions, InitReport, Project, Proposal,
    ProposedItem, Settings, Status,
};
