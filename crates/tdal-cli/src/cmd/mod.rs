//! One module per `tdal` sub-command: its clap `Args` and its `run`.

pub mod data;
pub mod forest;
pub mod label;
pub mod pool;
pub mod run;
pub mod score;
pub mod select;
