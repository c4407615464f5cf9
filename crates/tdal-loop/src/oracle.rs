//! The oracle: the only way the loop learns a label.
//!
//! [`SimulatedOracle`] holds the pool's hidden labels (the simulated experiment of the
//! paper) and answers one query per acquired index; the loop itself only ever sees the
//! pool's images. A human labeller would implement [`Oracle`] the same way.

use tdal_data::{LabelledSplit, Origin};

use crate::{Acquired, Error, Result};

/// Answers label queries about pool points.
pub trait Oracle {
    /// The label-map labels (and where each point came from) of pool `indices`.
    ///
    /// # Errors
    /// [`Error::Oracle`] for an index outside the pool or one asked twice.
    fn label(&mut self, indices: &[usize]) -> Result<Vec<Acquired>>;
}

/// An oracle that reads the hidden labels of a simulated pool.
#[derive(Debug, Clone)]
pub struct SimulatedOracle {
    labels: Vec<u32>,
    origins: Vec<Origin>,
    source_names: Vec<String>,
    class_names: Vec<Vec<String>>,
    asked: Vec<bool>,
}

impl SimulatedOracle {
    /// Takes the labels and origins out of the pool split, leaving only its images behind.
    #[must_use]
    pub fn take(
        pool: &mut LabelledSplit,
        source_names: Vec<String>,
        class_names: Vec<Vec<String>>,
    ) -> Self {
        let labels = std::mem::take(&mut pool.labels);
        let origins = std::mem::take(&mut pool.origins);
        let asked = vec![false; labels.len()];
        Self {
            labels,
            origins,
            source_names,
            class_names,
            asked,
        }
    }

    /// Number of pool points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the pool is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn answer(&self, index: usize) -> Acquired {
        let origin = self.origins[index];
        let source = usize::from(origin.source);
        let class = self
            .class_names
            .get(source)
            .and_then(|names| names.get(origin.class as usize))
            .cloned()
            .unwrap_or_else(|| origin.class.to_string());
        Acquired {
            index,
            label: self.labels[index],
            source: self.source_names.get(source).cloned().unwrap_or_default(),
            class,
        }
    }
}

impl Oracle for SimulatedOracle {
    fn label(&mut self, indices: &[usize]) -> Result<Vec<Acquired>> {
        let mut out = Vec::with_capacity(indices.len());
        for &index in indices {
            if index >= self.labels.len() {
                return Err(Error::Oracle(format!(
                    "index {index} is outside the pool of {}",
                    self.labels.len()
                )));
            }
            if std::mem::replace(&mut self.asked[index], true) {
                return Err(Error::Oracle(format!("index {index} was already labelled")));
            }
            out.push(self.answer(index));
        }
        Ok(out)
    }
}
