//! The named stages of a round, and the seconds spent in each.
//!
//! [`Stage`] is the one spelling of a stage's name: the records (`rounds.jsonl`'s
//! `seconds`), the events the loop reports, the CLI's progress messages and xtask's
//! reports all go through [`Stage::as_str`] and [`Stage::ALL`].

use std::time::Instant;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::run::{Event, Observer};

/// A stage of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Obtaining the first representation (training, or loading it from the cache);
    /// once per run, before round 0.
    Initialise,
    /// Updating the representation with the labels so far.
    Retrain,
    /// Embedding the pool, the target inputs and the test set.
    Embed,
    /// Fitting the head on the labelled embeddings.
    Fit,
    /// Test-set prediction and the accuracies.
    Evaluate,
    /// Posterior samples on the unlabelled pool (and on sampled target inputs).
    Predict,
    /// Acquisition scores.
    Score,
    /// Picking the batch.
    Select,
}

impl Stage {
    /// Every stage, in the order a round runs them.
    pub const ALL: [Self; 8] = [
        Self::Initialise,
        Self::Retrain,
        Self::Embed,
        Self::Fit,
        Self::Evaluate,
        Self::Predict,
        Self::Score,
        Self::Select,
    ];

    /// The stages inside a round (all but [`Stage::Initialise`], which comes first): the
    /// keys of a record's `seconds`.
    pub const ROUND: &'static [Self] = Self::ALL.split_at(1).1;

    /// The name in records, events and reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Initialise => "initialise",
            Self::Retrain => "retrain",
            Self::Embed => "embed",
            Self::Fit => "fit",
            Self::Evaluate => "evaluate",
            Self::Predict => "predict",
            Self::Score => "score",
            Self::Select => "select",
        }
    }

    /// The stage of a name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The position in [`Stage::ALL`] (for arrays indexed by stage).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds spent per stage of one round, and the round's wall time.
///
/// Serialised as a JSON object keyed by [`Stage::as_str`] of the [`Stage::ROUND`] stages,
/// plus `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSeconds {
    seconds: [f64; Stage::ALL.len()],
    /// Wall time of the whole round.
    pub total: f64,
}

impl StageSeconds {
    /// Seconds of `stage`.
    #[must_use]
    pub const fn get(&self, stage: Stage) -> f64 {
        self.seconds[stage.index()]
    }

    /// Adds `seconds` to `stage`.
    pub const fn add(&mut self, stage: Stage, seconds: f64) {
        self.seconds[stage.index()] += seconds;
    }
}

impl Serialize for StageSeconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Stage::ROUND.len() + 1))?;
        for &stage in Stage::ROUND {
            map.serialize_entry(stage.as_str(), &self.get(stage))?;
        }
        map.serialize_entry("total", &self.total)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for StageSeconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seconds;
        impl<'de> Visitor<'de> for Seconds {
            type Value = StageSeconds;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("seconds per stage")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StageSeconds, A::Error> {
                let mut out = StageSeconds::default();
                while let Some((key, value)) = map.next_entry::<String, f64>()? {
                    match Stage::from_name(&key) {
                        Some(stage) => out.add(stage, value),
                        None if key == "total" => out.total = value,
                        None => {
                            let known: Vec<&str> =
                                Stage::ROUND.iter().map(|s| s.as_str()).collect();
                            return Err(serde::de::Error::custom(format!(
                                "unknown stage `{key}`, expected one of {}, total",
                                known.join(", ")
                            )));
                        }
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Seconds)
    }
}

/// Times the stages of one round and reports each start to the observer: a part calls
/// [`StageClock::begin`] when it enters a stage, and the time until the next `begin` (or
/// the end of the round) counts for that stage.
pub struct StageClock<'o> {
    round: Option<usize>,
    observer: &'o mut dyn Observer,
    current: Option<(Stage, Instant)>,
    seconds: StageSeconds,
    started: Instant,
}

impl<'o> StageClock<'o> {
    /// A clock for `round` (`None`: before round 0).
    pub fn new(round: Option<usize>, observer: &'o mut dyn Observer) -> Self {
        Self {
            round,
            observer,
            current: None,
            seconds: StageSeconds::default(),
            started: Instant::now(),
        }
    }

    /// Ends the current stage and starts `stage`.
    pub fn begin(&mut self, stage: Stage) {
        self.end();
        self.observer.event(Event::Stage {
            round: self.round,
            stage,
        });
        self.current = Some((stage, Instant::now()));
    }

    /// Ends the current stage (its time is counted; nothing runs until the next `begin`).
    pub fn end(&mut self) {
        if let Some((stage, start)) = self.current.take() {
            self.seconds.add(stage, start.elapsed().as_secs_f64());
        }
    }

    /// Reports training progress (`done` of `total` steps) of the current stage; `what`
    /// names the model.
    pub fn progress(&mut self, what: &str, done: usize, total: usize) {
        let stage = self.current.map_or(Stage::Initialise, |(s, _)| s);
        self.observer.event(Event::Progress {
            stage,
            what,
            done,
            total,
        });
    }

    /// The observer, for events other than stages.
    pub fn observer(&mut self) -> &mut dyn Observer {
        self.observer
    }

    /// Ends the current stage and returns the seconds so far, `total` the wall time since
    /// the clock was made.
    pub fn finish(mut self) -> StageSeconds {
        self.end();
        self.seconds.total = self.started.elapsed().as_secs_f64();
        self.seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all_and_round_is_all_but_initialise() {
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(stage.index(), i);
        }
        assert_eq!(Stage::ALL[0], Stage::Initialise);
        assert_eq!(Stage::ROUND, &Stage::ALL[1..]);
    }

    #[test]
    fn names_round_trip_and_are_distinct() {
        for stage in Stage::ALL {
            assert_eq!(Stage::from_name(stage.as_str()), Some(stage));
        }
        let names: std::collections::HashSet<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.len(), Stage::ALL.len());
        assert_eq!(Stage::from_name("total"), None);
    }

    #[test]
    fn seconds_serialise_as_the_records_object() {
        let mut s = StageSeconds::default();
        s.add(Stage::Retrain, 1.5);
        s.add(Stage::Select, 0.25);
        s.total = 2.0;
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"retrain":1.5,"embed":0.0,"fit":0.0,"evaluate":0.0,"predict":0.0,"score":0.0,"select":0.25,"total":2.0}"#
        );
        assert_eq!(serde_json::from_str::<StageSeconds>(&json).unwrap(), s);
        assert!(serde_json::from_str::<StageSeconds>(r#"{"retrian":1.0}"#).is_err());
    }
}
