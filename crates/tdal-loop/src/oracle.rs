//! The oracle: the only way the loop learns a label.
//!
//! [`SimulatedOracle`] holds the pool's hidden labels (the simulated experiment of the
//! paper) and answers one query per acquired index; the loop itself only ever sees the
//! pool's images. A human labeller would implement [`Oracle`] the same way. A resumed run
//! never asks again for what was answered: it reads the recorded answers and only asks
//! the oracle to [`Oracle::confirm`] them.

use tdal_data::{LabelledSplit, Origin};

use crate::{Acquired, Error, Result};

/// Answers label queries about pool points.
pub trait Oracle {
    /// The label-map labels (and where each point came from) of pool `indices`.
    ///
    /// # Errors
    /// [`Error::Oracle`] for an index outside the pool or one asked twice.
    fn label(&mut self, indices: &[usize]) -> Result<Vec<Acquired>>;

    /// Takes note of answers recorded in an earlier session (they count as asked) and
    /// checks them where the oracle can; a person is not asked again and accepts them.
    ///
    /// # Errors
    /// [`Error::Oracle`] for an answer the oracle disagrees with, an index outside the
    /// pool or one answered twice.
    fn confirm(&mut self, _answered: &[Acquired]) -> Result<()> {
        Ok(())
    }
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

impl SimulatedOracle {
    /// Marks `index` as asked.
    fn ask(&mut self, index: usize) -> Result<()> {
        if index >= self.labels.len() {
            return Err(Error::Oracle(format!(
                "index {index} is outside the pool of {}",
                self.labels.len()
            )));
        }
        if std::mem::replace(&mut self.asked[index], true) {
            return Err(Error::Oracle(format!("index {index} was already labelled")));
        }
        Ok(())
    }
}

impl Oracle for SimulatedOracle {
    fn label(&mut self, indices: &[usize]) -> Result<Vec<Acquired>> {
        let mut out = Vec::with_capacity(indices.len());
        for &index in indices {
            self.ask(index)?;
            out.push(self.answer(index));
        }
        Ok(out)
    }

    fn confirm(&mut self, answered: &[Acquired]) -> Result<()> {
        for a in answered {
            self.ask(a.index)?;
            if self.answer(a.index) != *a {
                return Err(Error::Oracle(format!(
                    "the recorded answer for pool index {} is not the pool's label",
                    a.index
                )));
            }
        }
        Ok(())
    }
}
