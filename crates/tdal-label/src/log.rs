//! The append-only label log (`labels.jsonl`).

use serde::{Deserialize, Serialize};

/// One label, one line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelEntry {
    /// Index in the pool manifest (or in the held-out manifest when `heldout`).
    pub index: usize,
    /// The image's relative path (kept for people reading the log).
    pub path: String,
    /// The class name.
    pub class: String,
    /// Whether the image is one of the held-out images (never acquired, only evaluated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heldout: bool,
}
