//! The messy-pool baselines' selectors as [`BatchSelector`]s: SIMILAR, GALAXY and
//! Cluster-Margin from `tdal-acquire`, fed with what the round knows.
//!
//! - [`Similar`]: SIMILAR's FLQMI between the unlabelled points and the labelled
//!   target-class points (every label ≠ 0, rebuilt each round), on the head's last-layer
//!   gradient embeddings (the head must expose its last layer's features:
//!   [`tdal_heads::PredictionHead::last_layer`]).
//! - [`Galaxy`]: GALAXY's graph search on the head's mean prediction over the whole
//!   pool, asking the oracle for each query's label inside the batch
//!   ([`RoundInputs::reveal`]). Its class round robin restarts at class 0 every round
//!   (the authors' rule) unless `acquisition.carry_class_pointer` carries it over; the
//!   pointer is state kept for `--resume`.
//! - [`ClusterMargin`]: clusters the round-0 embeddings once (the initial network's
//!   features for the baseline) and spreads the lowest margins over them. The clustering
//!   is state kept for `--resume`.
//!
//! Each calls `clock.begin` as it enters [`Stage::Predict`], [`Stage::Score`] (SIMILAR's
//! embeddings, the clustering) and [`Stage::Select`].

use std::path::Path;

use ndarray::{Array1, Array2, Axis};
use tdal_acquire::{
    Clusters, Flqmi, GalaxyParams, GalaxyState, cluster_margin, gradient_embeddings,
};
use tdal_heads::LastLayerOutput;

use super::selector::{BatchSelector, RoundInputs};
use crate::config::{ClusterMarginSettings, GalaxySettings, SimilarSettings};
use crate::stage::{Stage, StageClock};
use crate::{Error, Result};

/// SIMILAR (FLQMI) against the labelled target-class points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similar {
    eta: f32,
}

impl Similar {
    /// The selector with the configured η.
    #[must_use]
    pub fn new(cfg: SimilarSettings) -> Self {
        #[allow(clippy::cast_possible_truncation)]
        Self {
            eta: cfg.eta as f32,
        }
    }
}

impl BatchSelector for Similar {
    fn name(&self) -> &'static str {
        "similar"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        clock.begin(Stage::Predict);
        let (queries, query_labels): (Vec<usize>, Vec<u32>) = round
            .labelled
            .indices
            .iter()
            .zip(&round.labelled.labels)
            .filter(|&(_, &label)| label != 0)
            .map(|(&i, &label)| (i, label))
            .unzip();
        if queries.is_empty() {
            return Err(Error::Selector(
                "similar needs at least one labelled target-class point as its query set; \
                 label some (data.initial_per_class ≥ 1) before the first round"
                    .into(),
            ));
        }
        let pool = round.embeddings.pool.select(Axis(0), round.unlabelled);
        let query = round.embeddings.pool.select(Axis(0), &queries);
        let last_layer = |x: &Array2<f32>| -> Result<LastLayerOutput> {
            round
                .head
                .last_layer(x.view())
                .ok_or_else(|| {
                    Error::Selector(
                        "similar needs a head with a last layer (head.kind = \"network\" or \
                         \"laplace\")"
                            .into(),
                    )
                })?
                .map_err(Error::from)
        };
        let pool_out = last_layer(&pool)?;
        let query_out = last_layer(&query)?;
        clock.begin(Stage::Score);
        let g_pool = gradient_embeddings(pool_out.probs.view(), pool_out.features.view(), None)?;
        let g_query = gradient_embeddings(
            query_out.probs.view(),
            query_out.features.view(),
            Some(&query_labels),
        )?;
        clock.begin(Stage::Select);
        let picked =
            Flqmi { eta: self.eta }.select(g_pool.view(), g_query.view(), round.batch_size)?;
        Ok(picked.into_iter().map(|i| round.unlabelled[i]).collect())
    }
}

/// GALAXY, with labels revealed inside the batch.
#[derive(Debug, Clone)]
pub struct Galaxy {
    inner: tdal_acquire::Galaxy,
}

/// File of [`Galaxy`]'s state in a selector checkpoint.
const GALAXY_STATE: &str = "galaxy.json";

impl Galaxy {
    /// A fresh selector: graph order 1 at the start of every round (the reference's), the
    /// class round robin restarting at class 0 every round (the reference's) or, with
    /// `carry_class_pointer`, going on from where the previous round stopped.
    ///
    /// # Errors
    /// None for these settings.
    pub fn new(settings: GalaxySettings) -> Result<Self> {
        Ok(Self {
            inner: tdal_acquire::Galaxy::new(GalaxyParams {
                carry_class_pointer: settings.carry_class_pointer,
                ..GalaxyParams::default()
            })?,
        })
    }
}

/// [`GalaxyState`] as JSON.
fn galaxy_json(state: &GalaxyState) -> serde_json::Value {
    serde_json::json!({
        "initial_order": state.initial_order,
        "carry_class_pointer": state.carry_class_pointer,
        "next_class": state.next_class,
        "rounds": state.rounds,
    })
}

/// [`GalaxyState`] from the JSON of [`galaxy_json`]; a state without
/// `carry_class_pointer` takes `configured`'s.
fn galaxy_state(value: &serde_json::Value, configured: bool) -> Option<GalaxyState> {
    let int = |key: &str| -> Option<usize> { usize::try_from(value.get(key)?.as_u64()?).ok() };
    let carry = value
        .get("carry_class_pointer")
        .map_or(Some(configured), serde_json::Value::as_bool)?;
    Some(GalaxyState {
        initial_order: int("initial_order")?,
        carry_class_pointer: carry,
        next_class: int("next_class")?,
        rounds: int("rounds")?,
    })
}

impl BatchSelector for Galaxy {
    fn name(&self) -> &'static str {
        "galaxy"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        let reveal = round.reveal.ok_or_else(|| {
            Error::Selector(
                "galaxy asks for labels one at a time inside its batch; this labeller answers \
                 whole batches only"
                    .into(),
            )
        })?;
        clock.begin(Stage::Predict);
        let probs = round.head.predict_mean(round.embeddings.pool.view())?;
        let mut labels: Vec<Option<u32>> = vec![None; probs.nrows()];
        for (&i, &label) in round.labelled.indices.iter().zip(&round.labelled.labels) {
            labels[i] = Some(label);
        }
        clock.begin(Stage::Select);
        let mut failure = None;
        let mut oracle = |i: usize| -> std::result::Result<u32, String> {
            reveal(i).map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                message
            })
        };
        let picked = self
            .inner
            .select(probs.view(), &labels, round.batch_size, &mut oracle);
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(picked?)
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let path = dir.join(GALAXY_STATE);
        let json = galaxy_json(&self.inner.state()).to_string();
        std::fs::write(&path, json).map_err(|e| Error::io("cannot write", &path, e))
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join(GALAXY_STATE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let damaged = |message: String| Error::Resume {
            path: path.clone(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| damaged(format!("not JSON: {e}")))?;
        let configured = self.inner.params().carry_class_pointer;
        let state =
            galaxy_state(&value, configured).ok_or_else(|| damaged("not a galaxy state".into()))?;
        if state.carry_class_pointer != configured {
            return Err(damaged(format!(
                "the galaxy state was saved with carry_class_pointer = {}, but the \
                 configuration has acquisition.carry_class_pointer = {configured}",
                state.carry_class_pointer
            )));
        }
        self.inner = tdal_acquire::Galaxy::from_state(state).map_err(|e| damaged(e.to_string()))?;
        Ok(())
    }
}

/// Cluster-Margin over clusters of the first round's embeddings.
#[derive(Debug, Clone)]
pub struct ClusterMargin {
    cfg: ClusterMarginSettings,
    clusters: Option<Clusters>,
}

/// Files of [`ClusterMargin`]'s state in a selector checkpoint.
const CENTROIDS: &str = "centroids.npy";
const ASSIGNMENT: &str = "assignment.npy";

impl ClusterMargin {
    /// The selector; it clusters at its first batch.
    #[must_use]
    pub const fn new(cfg: ClusterMarginSettings) -> Self {
        Self {
            cfg,
            clusters: None,
        }
    }
}

impl BatchSelector for ClusterMargin {
    fn name(&self) -> &'static str {
        "cluster-margin"
    }

    fn select(
        &mut self,
        round: &RoundInputs<'_>,
        clock: &mut StageClock<'_>,
    ) -> Result<Vec<usize>> {
        clock.begin(Stage::Predict);
        let probs = round.head.predict_mean(round.embeddings.pool.view())?;
        clock.begin(Stage::Score);
        if self.clusters.is_none() {
            self.clusters = Some(Clusters::fit(
                round.embeddings.pool.view(),
                self.cfg.clusters,
                self.cfg.subsample,
                round.streams.seed("cluster-margin"),
            )?);
        }
        let clusters = self
            .clusters
            .as_ref()
            .ok_or_else(|| Error::Selector("no clusters".into()))?;
        clock.begin(Stage::Select);
        #[allow(clippy::cast_possible_truncation)]
        let factor = self.cfg.margin_factor as f32;
        Ok(cluster_margin(
            clusters,
            probs.view(),
            round.unlabelled,
            round.batch_size,
            factor,
        )?)
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        let Some(clusters) = &self.clusters else {
            return Ok(());
        };
        let write = |name: &str, result: std::result::Result<(), ndarray_npy::WriteNpyError>| {
            let path = dir.join(name);
            result.map_err(|e| Error::io("cannot write", &path, std::io::Error::other(e)))
        };
        write(
            CENTROIDS,
            ndarray_npy::write_npy(dir.join(CENTROIDS), &clusters.centroids()),
        )?;
        let assignment: Array1<u32> = clusters.assignment().iter().copied().collect();
        write(
            ASSIGNMENT,
            ndarray_npy::write_npy(dir.join(ASSIGNMENT), &assignment),
        )
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let centroids_path = dir.join(CENTROIDS);
        if !centroids_path.exists() {
            self.clusters = None;
            return Ok(());
        }
        let damaged = |path: &Path, e: &dyn std::fmt::Display| Error::Resume {
            path: path.to_path_buf(),
            message: format!("not a cluster-margin state: {e}"),
        };
        let centroids: Array2<f32> =
            ndarray_npy::read_npy(&centroids_path).map_err(|e| damaged(&centroids_path, &e))?;
        let assignment_path = dir.join(ASSIGNMENT);
        let assignment: Array1<u32> =
            ndarray_npy::read_npy(&assignment_path).map_err(|e| damaged(&assignment_path, &e))?;
        self.clusters = Some(
            Clusters::from_parts(centroids, assignment.to_vec()).map_err(|e| damaged(dir, &e))?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AcquisitionConfig;

    fn galaxy(carry: bool) -> Galaxy {
        Galaxy::new(GalaxySettings {
            carry_class_pointer: carry,
        })
        .unwrap()
    }

    /// The class whose graph leads each of three rounds of batch 1 on a pool of three
    /// classes. With `resume`, every round runs on a selector rebuilt from the
    /// configuration and the state the previous round saved, as `--resume` does.
    fn leading_classes(carry: bool, resume: bool) -> Vec<usize> {
        let n = 12;
        let probs = Array2::from_shape_fn((n, 3), |(i, c)| if i % 3 == c { 0.8f32 } else { 0.1 });
        let truth: Vec<u32> = (0..n).map(|i| [0, 1, 2][i % 3]).collect();
        let mut labels: Vec<Option<u32>> = (0..n).map(|i| (i < 3).then_some(truth[i])).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut selector = galaxy(carry);
        let mut leaders = Vec::new();
        for _ in 0..3 {
            if resume {
                selector.save_state(dir.path()).unwrap();
                selector = galaxy(carry);
                selector.load_state(dir.path()).unwrap();
            }
            let queries = selector
                .inner
                .select_queries(probs.view(), &labels, 1, &mut |i| Ok(truth[i]))
                .unwrap();
            assert_eq!(queries.len(), 1);
            leaders.push(queries[0].class);
            labels[queries[0].index] = Some(queries[0].label);
        }
        leaders
    }

    #[test]
    fn the_class_pointer_restarts_at_class_zero_unless_carried_and_resumes_carried() {
        // The authors' rule: with batch 1 < 3 classes, classes 1 and 2 never lead.
        assert_eq!(leading_classes(false, false), [0, 0, 0]);
        assert_eq!(leading_classes(false, true), [0, 0, 0]);
        // Carried over, the rounds take the classes in turn, across a resume too.
        assert_eq!(leading_classes(true, false), [0, 1, 2]);
        assert_eq!(leading_classes(true, true), [0, 1, 2]);
    }

    #[test]
    fn the_configured_pointer_reaches_the_saved_state() {
        let dir = tempfile::tempdir().unwrap();
        let read = |dir: &Path| -> serde_json::Value {
            let text = std::fs::read_to_string(dir.join(GALAXY_STATE)).unwrap();
            serde_json::from_str(&text).unwrap()
        };
        for carry in [false, true] {
            let cfg = AcquisitionConfig::Galaxy(GalaxySettings {
                carry_class_pointer: carry,
            });
            let selector = super::super::selector::from_config(&cfg).unwrap();
            selector.save_state(dir.path()).unwrap();
            assert_eq!(read(dir.path())["carry_class_pointer"], carry);
        }
    }

    #[test]
    fn a_state_saved_before_the_option_loads_and_a_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(GALAXY_STATE);
        let restored = |carry: bool| -> Result<GalaxyState> {
            let mut selector = galaxy(carry);
            selector.load_state(dir.path())?;
            Ok(selector.inner.state())
        };
        // What the selector wrote before the option existed (the flag always false).
        std::fs::write(
            &path,
            r#"{"initial_order":1,"carry_class_pointer":false,"next_class":0,"rounds":2}"#,
        )
        .unwrap();
        let expected = GalaxyState {
            initial_order: 1,
            carry_class_pointer: false,
            next_class: 0,
            rounds: 2,
        };
        assert_eq!(restored(false).unwrap(), expected);
        // A carrying configuration does not continue from a state that restarted.
        let err = restored(true).unwrap_err();
        assert!(matches!(err, Error::Resume { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("acquisition.carry_class_pointer = true"),
            "{err}"
        );
        // A state without the flag takes the configuration's.
        std::fs::write(&path, r#"{"initial_order":1,"next_class":2,"rounds":2}"#).unwrap();
        assert_eq!(
            restored(true).unwrap(),
            GalaxyState {
                carry_class_pointer: true,
                next_class: 2,
                ..expected
            }
        );
        assert!(!restored(false).unwrap().carry_class_pointer);
    }
}
