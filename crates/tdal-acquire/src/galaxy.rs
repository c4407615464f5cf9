//! GALAXY batch selection: Zhang, Katz-Samuels and Nowak (ICML 2022), "GALAXY:
//! Graph-based Active Learning at the eXtrEme", after the authors' code
//! (`jifanz/GALAXY`, `src/multiclass/multi_linear_graph.py`, `src/graph.py`,
//! `src/s2algorithm.py`, `src/multiclass/multi_linear_deeps2.py`).
//!
//! GALAXY turns a network's predictions into C one-vs-rest *linear graphs* and runs the
//! S² graph bisection (Dasarathy, Nowak and Zhu 2015) on them: in the graph of class c
//! the pool is sorted by how strongly the network believes in c, a labelled input is +1
//! if its label is c and −1 otherwise, and querying the middle of the shortest path
//! between a +1 and a −1 input halves the region where the network's ranking switches
//! from "not c" to "c". Labels are revealed one by one *inside* the batch, so every query
//! sees the labels of the queries before it.
//!
//! # The algorithm, as implemented
//!
//! 1. **Rank.** For every class c, sort the pool (labelled and unlabelled) by
//!    `s_ic = (p_ic − m_i) + 10⁻⁸ · m_i`, `m_i = max_k p_ik`, ascending, equal scores by
//!    pool index. Rank N − 1 is the input the network finds most likely to be c. This is
//!    the authors' score (`create_linear_graphs`): `p_ic − m_i` is 0 for every input whose
//!    argmax is c, and the `10⁻⁸ · m_i` term orders those by confidence. It differs from
//!    the margin `p_ic − max_{k≠c} p_ik` only among the inputs whose argmax is c, which
//!    the margin would order by `p_ic` minus the runner-up instead of by `p_ic`. Computed
//!    in f64 (the authors' is f32 numpy), so the tie breaker is never rounded away.
//! 2. **Graphs.** The graph of class c at *order* o joins ranks r and r' when
//!    `1 ≤ |r − r'| ≤ o`, except that an edge between two labelled inputs with different
//!    ±1 labels is cut. Edges are never stored: they follow from the ranks, the labels and
//!    o, which is exactly the edge set the authors' code maintains by adding neighbours
//!    and removing them on every new label (`Graph.label`, `check_add_neighbor`).
//! 3. **Query.** The j-th query of a round uses the graph of class `(start + j) mod C`
//!    (round-robin, advanced after every query whatever happens, as `s2_iteration`). Two
//!    multi-source BFS (from every +1 input, from every −1 input) give the length L of
//!    the shortest +1/−1 path and, for every input, its distances d₊ and d₋; the inputs
//!    with `d₊ = ⌊L/2⌋` and `d₋ = ⌈L/2⌉` are exactly the points ⌊L/2⌋ hops from the +1
//!    end of some shortest path. The query is the one with the **lowest pool index**
//!    (the authors take the first path their priority queue meets, in Python set order,
//!    i.e. arbitrarily). ⌊L/2⌋ from the +1 end is the authors' midpoint
//!    (`path[len(path) // 2]` of a path listed from its −1 end); L ≥ 2 because +1/−1
//!    edges are cut, so the query is never labelled.
//! 4. **Reveal.** The oracle gives the query's label, which changes every class graph
//!    (new ±1 node, new cuts).
//! 5. **Raise the order.** When the round-robin graph has +1 and −1 inputs but no path
//!    joins them (every +1 region is walled in by cut edges), the order is raised for
//!    every graph to the smallest o' > o with a path (galloping, then bisecting, over o')
//!    and stays there for the rest of the round. Such an o' always exists while an
//!    unlabelled input does: at o' ≥ (labelled inputs) + 1 every labelled input has an
//!    unlabelled neighbour and the unlabelled inputs form one chain. The authors raise
//!    the order by one, retry the same graph once, and otherwise fall back to step 6's
//!    random query.
//! 6. **A side is empty.** When the graph of class c has no +1 input (no label c yet),
//!    the query is the unlabelled input of highest rank, the one most likely to be c;
//!    when it has no −1 input, the unlabelled input of lowest rank. No order is raised, as
//!    no order can give such a graph a path. The authors raise the order by one here too
//!    (it cannot help this graph, but densifies every graph for the rest of the round)
//!    and query an unlabelled input uniformly at random (`bisection_query`).
//!
//! The classes are the C columns of `probs`; the authors take `max(label) + 1` over the
//! ground truth of the whole pool, which they simulate.
//!
//! # State across rounds
//!
//! The authors rebuild the graphs from the retrained network every round
//! (`run_online_deep_s2`), with the order reset to its initial value (1) and the
//! round-robin pointer reset to class 0; only the labels persist. [`Galaxy`] does the same
//! by default, so its [`GalaxyState`] carries only the parameters and a round count. With
//! `B mod C ≠ 0` that favours the first classes (B = 10, C = 3: 4, 3, 3 queries per
//! round) and with B < C the last classes never lead a query;
//! [`GalaxyParams::carry_class_pointer`] makes the next round start at the class after
//! the last one used instead, and the state then carries that class.
//!
//! # Cost
//!
//! One call sorts the pool C times (O(C · N log N)) and each query runs two BFS over one
//! graph, O(N · o); nothing is N × N. Determinism: no randomness anywhere, so the same
//! inputs, state and oracle give the same batch.
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use tdal_acquire::{Galaxy, GalaxyParams};
//!
//! // Six pool inputs, two classes; P(class 1) grows down the pool.
//! let probs = array![
//!     [0.9f32, 0.1], [0.8, 0.2], [0.6, 0.4], [0.45, 0.55], [0.3, 0.7], [0.1, 0.9],
//! ];
//! let truth = [0u32, 0, 0, 1, 1, 1];
//! let labels = [Some(0), None, None, None, None, Some(1)];
//!
//! let mut galaxy = Galaxy::new(GalaxyParams::default())?;
//! let batch = galaxy.select(probs.view(), &labels, 2, &mut |i| Ok(truth[i]))?;
//! // Class 0's graph: the path 0 … 5 (5 hops), query 2 hops from input 0. Then class 1's
//! // graph: the path 5 … 2 (3 hops, as input 2 is now a known 0), query 1 hop from 5.
//! assert_eq!(batch, vec![2, 4]);
//! # Ok::<(), tdal_acquire::Error>(())
//! ```

use ndarray::{ArrayView2, Axis};

use crate::{DEFAULT_TOLERANCE, Error, Result, check_probs};

/// The hyper-parameters of [`Galaxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GalaxyParams {
    /// Graph order each round starts from: ranks r and r ± 1, …, r ± order are joined.
    /// The authors use 1 (`order = 1` in `multi_linear_deeps2.py`).
    pub initial_order: usize,
    /// Start each round at the class after the last one the previous round used, instead
    /// of at class 0 as the authors do.
    pub carry_class_pointer: bool,
}

impl Default for GalaxyParams {
    /// The authors' settings: order 1, round-robin restarting at class 0 every round.
    fn default() -> Self {
        Self {
            initial_order: 1,
            carry_class_pointer: false,
        }
    }
}

impl GalaxyParams {
    /// Checks the order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `initial_order` is 0.
    pub fn check(self) -> Result<Self> {
        if self.initial_order == 0 {
            return Err(Error::InvalidParameter {
                name: "GALAXY initial order",
                value: "0".into(),
                expected: "at least 1 (1 is a path graph)",
            });
        }
        Ok(self)
    }
}

/// Everything [`Galaxy`] carries from one round to the next, as plain values: save it
/// with a run's checkpoint and rebuild the selector with [`Galaxy::from_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GalaxyState {
    /// [`GalaxyParams::initial_order`].
    pub initial_order: usize,
    /// [`GalaxyParams::carry_class_pointer`].
    pub carry_class_pointer: bool,
    /// The class whose graph leads the next round (taken mod C); always 0 unless
    /// `carry_class_pointer`.
    pub next_class: usize,
    /// Rounds selected so far.
    pub rounds: usize,
}

/// How a query was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GalaxyQueryKind {
    /// The midpoint of a shortest path of `path_length` edges between a +1 and a −1 input.
    Bisection {
        /// Edges on the path (≥ 2).
        path_length: usize,
    },
    /// The graph had no input labelled with its class: the unlabelled input of highest
    /// rank (most likely the class).
    SeekClass,
    /// The graph had no input labelled with another class: the unlabelled input of
    /// lowest rank.
    SeekRest,
}

/// One query of a round: what was asked, why, and what the oracle answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GalaxyQuery {
    /// Pool index queried.
    pub index: usize,
    /// The label the oracle revealed.
    pub label: u32,
    /// The class whose one-vs-rest graph chose it.
    pub class: usize,
    /// Graph order in force when it was chosen.
    pub order: usize,
    /// How it was chosen.
    pub kind: GalaxyQueryKind,
}

/// The GALAXY selector (Zhang, Katz-Samuels and Nowak, ICML 2022).
///
/// For each class c the pool is ranked by the authors' score `(p_ic − m_i) + 10⁻⁸ m_i`
/// (`m_i = max_k p_ik`; ascending, ties by pool index) and consecutive ranks (up to the
/// graph *order* apart) are joined, except labelled inputs of class c and of another
/// class. Query j of a round takes the graph of class `(start + j) mod C`, finds by BFS
/// the shortest path between an input labelled c and one labelled otherwise, and queries
/// the input ⌊L/2⌋ hops from the c end (lowest pool index among equals); the oracle's
/// answer updates every graph before the next query. A graph with no path raises the
/// order to the smallest that has one; a graph with no input labelled c (or none labelled
/// otherwise) queries the unlabelled input ranked most (least) likely c. No randomness.
///
/// Between rounds only [`GalaxyState`] persists: by default the order and the class
/// pointer restart every round, as in the authors' code. The module documentation of
/// `src/galaxy.rs` gives every step with its source and each difference from the
/// authors' code.
///
/// # Example
/// ```
/// use ndarray::array;
/// use tdal_acquire::{Galaxy, GalaxyParams, GalaxyQueryKind};
///
/// let probs = array![[0.9f32, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]];
/// let labels = [Some(0), None, None, None];
/// let mut galaxy = Galaxy::new(GalaxyParams::default())?;
/// let queries = galaxy.select_queries(probs.view(), &labels, 2, &mut |i| Ok(u32::from(i >= 2)))?;
/// // No input is labelled 1 yet: class 0's graph looks for "not 0" where the network is
/// // surest of it, input 3; then class 1's graph bisects the path 3 … 0.
/// assert_eq!(queries[0].index, 3);
/// assert_eq!(queries[0].kind, GalaxyQueryKind::SeekRest);
/// assert_eq!(queries[1].index, 2);
/// assert_eq!(queries[1].kind, GalaxyQueryKind::Bisection { path_length: 3 });
/// # Ok::<(), tdal_acquire::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Galaxy {
    params: GalaxyParams,
    next_class: usize,
    rounds: usize,
}

impl Galaxy {
    /// A selector that has not selected anything yet.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid parameters ([`GalaxyParams::check`]).
    pub fn new(params: GalaxyParams) -> Result<Self> {
        Ok(Self {
            params: params.check()?,
            next_class: 0,
            rounds: 0,
        })
    }

    /// The selector a saved [`GalaxyState`] describes.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid parameters ([`GalaxyParams::check`]).
    pub fn from_state(state: GalaxyState) -> Result<Self> {
        let params = GalaxyParams {
            initial_order: state.initial_order,
            carry_class_pointer: state.carry_class_pointer,
        }
        .check()?;
        Ok(Self {
            params,
            next_class: state.next_class,
            rounds: state.rounds,
        })
    }

    /// The hyper-parameters.
    #[must_use]
    pub fn params(&self) -> GalaxyParams {
        self.params
    }

    /// What to save to continue later with [`Galaxy::from_state`].
    #[must_use]
    pub fn state(&self) -> GalaxyState {
        GalaxyState {
            initial_order: self.params.initial_order,
            carry_class_pointer: self.params.carry_class_pointer,
            next_class: self.next_class,
            rounds: self.rounds,
        }
    }

    /// Selects a batch of `batch` unlabelled pool inputs, asking `oracle` for each one's
    /// label as soon as it is chosen; returns the pool indices in query order.
    ///
    /// Returns every unlabelled input when there are fewer than `batch`. `labels` itself
    /// is not modified: the oracle's answers are also in [`Galaxy::select_queries`]'s
    /// result, or the oracle can record them.
    ///
    /// # Shapes
    /// `probs`: `[N, C]`, the network's class probabilities for the whole pool (labelled
    /// and unlabelled), N ≥ 1, C ≥ 2, rows summing to 1; `labels`: `[N]`, `Some(class)`
    /// for labelled inputs. Returns `min(batch, unlabelled)` distinct indices in `0..N`.
    ///
    /// # Errors
    /// [`Error::ClassProbsShape`], [`Error::LabelsLength`]; [`Error::NonFinite`],
    /// [`Error::Negative`], [`Error::NotNormalised`] for invalid probabilities (positions
    /// given as `[n, 0, c]`); [`Error::LabelOutOfRange`] for a label in `labels` or from
    /// the oracle that is not below C; [`Error::Oracle`] when the oracle fails;
    /// [`Error::InvalidParameter`] when `batch` is 0. On an error the selector's state is
    /// unchanged.
    pub fn select(
        &mut self,
        probs: ArrayView2<'_, f32>,
        labels: &[Option<u32>],
        batch: usize,
        oracle: &mut dyn FnMut(usize) -> std::result::Result<u32, String>,
    ) -> Result<Vec<usize>> {
        Ok(self
            .select_queries(probs, labels, batch, oracle)?
            .into_iter()
            .map(|query| query.index)
            .collect())
    }

    /// [`Galaxy::select`], with each query's revealed label, class graph, order and
    /// reason.
    ///
    /// # Shapes
    /// As [`Galaxy::select`].
    ///
    /// # Errors
    /// As [`Galaxy::select`].
    pub fn select_queries(
        &mut self,
        probs: ArrayView2<'_, f32>,
        labels: &[Option<u32>],
        batch: usize,
        oracle: &mut dyn FnMut(usize) -> std::result::Result<u32, String>,
    ) -> Result<Vec<GalaxyQuery>> {
        let (n, classes) = probs.dim();
        if n == 0 || classes < 2 || u32::try_from(n).is_err() {
            return Err(Error::ClassProbsShape {
                shape: vec![n, classes],
            });
        }
        if labels.len() != n {
            return Err(Error::LabelsLength {
                expected: n,
                found: labels.len(),
            });
        }
        check_probs(probs.insert_axis(Axis(1)), "probs", DEFAULT_TOLERANCE)?;
        let mut labels = labels.to_vec();
        for (index, label) in labels.iter().enumerate() {
            if let &Some(label) = label {
                check_label(label, classes, index, "labels")?;
            }
        }
        if batch == 0 {
            return Err(Error::InvalidParameter {
                name: "batch size",
                value: "0".into(),
                expected: "at least 1",
            });
        }

        let rankings = Rankings::new(probs);
        let mut search = Search::new(n);
        let mut unlabelled = labels.iter().filter(|label| label.is_none()).count();
        let mut order = self.params.initial_order;
        let mut class = self.next_class % classes;
        let mut queries = Vec::with_capacity(batch.min(unlabelled));
        while queries.len() < batch && unlabelled > 0 {
            let by_rank = rankings.class(class);
            search.set_sides(by_rank, &labels, class);
            let (rank, kind) = search.choose(&mut order);
            let index = by_rank[rank] as usize;
            let label = oracle(index).map_err(|message| Error::Oracle { index, message })?;
            check_label(label, classes, index, "the oracle")?;
            labels[index] = Some(label);
            unlabelled -= 1;
            queries.push(GalaxyQuery {
                index,
                label,
                class,
                order,
                kind,
            });
            class = (class + 1) % classes;
        }

        self.next_class = if self.params.carry_class_pointer {
            class
        } else {
            0
        };
        self.rounds += 1;
        Ok(queries)
    }
}

fn check_label(label: u32, classes: usize, index: usize, origin: &'static str) -> Result<()> {
    if (label as usize) < classes {
        Ok(())
    } else {
        Err(Error::LabelOutOfRange {
            origin,
            index,
            label,
            classes,
        })
    }
}

/// For every class, the pool indices in rank order (`s_ic` ascending, then index).
struct Rankings {
    n: usize,
    /// `[C · N]`: class c's ranking is `by_rank[c·N .. (c+1)·N]`.
    by_rank: Vec<u32>,
}

impl Rankings {
    /// Sorts the pool once per class. `probs` is `[N, C]` with N < 2³².
    fn new(probs: ArrayView2<'_, f32>) -> Self {
        let (n, classes) = probs.dim();
        let most_confident: Vec<f64> = probs
            .rows()
            .into_iter()
            .map(|row| f64::from(row.fold(f32::NEG_INFINITY, |m, &p| m.max(p))))
            .collect();
        let mut by_rank = Vec::with_capacity(classes * n);
        let mut keyed: Vec<(f64, u32)> = Vec::with_capacity(n);
        for c in 0..classes {
            keyed.clear();
            keyed.extend(
                probs
                    .column(c)
                    .iter()
                    .zip(&most_confident)
                    .zip(0u32..)
                    .map(|((&p, &m), index)| (class_score(f64::from(p), m), index)),
            );
            keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_rank.extend(keyed.iter().map(|&(_, index)| index));
        }
        Self { n, by_rank }
    }

    fn class(&self, c: usize) -> &[u32] {
        &self.by_rank[c * self.n..(c + 1) * self.n]
    }
}

/// The authors' ranking score of one input for one class: `(p_c − m) + 10⁻⁸ · m` with
/// `m` the input's largest class probability (`create_linear_graphs`).
fn class_score(p: f64, most_confident: f64) -> f64 {
    (p - most_confident) + 1e-8 * most_confident
}

/// An input's side in one class's one-vs-rest graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Unlabelled,
    /// Labelled with the graph's class.
    Positive,
    /// Labelled with another class.
    Negative,
}

impl Side {
    fn opposite(self) -> Self {
        match self {
            Self::Positive => Self::Negative,
            Self::Negative => Self::Positive,
            Self::Unlabelled => Self::Unlabelled,
        }
    }
}

/// Not yet reached by a BFS.
const UNREACHED: u32 = u32::MAX;

/// The graph of one class at one time, by rank, and the buffers of its BFS.
struct Search {
    /// `side[r]`: the side of the input at rank r.
    side: Vec<Side>,
    /// Pool index at each rank (a copy of the class's ranking).
    index: Vec<u32>,
    /// BFS distances from the +1 and from the −1 inputs.
    from_positive: Vec<u32>,
    from_negative: Vec<u32>,
    frontier: Vec<u32>,
    next: Vec<u32>,
}

impl Search {
    fn new(n: usize) -> Self {
        Self {
            side: vec![Side::Unlabelled; n],
            index: vec![0; n],
            from_positive: vec![UNREACHED; n],
            from_negative: vec![UNREACHED; n],
            frontier: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Loads the graph of `class`, given its ranking and the current labels.
    fn set_sides(&mut self, by_rank: &[u32], labels: &[Option<u32>], class: usize) {
        self.index.copy_from_slice(by_rank);
        for (side, &index) in self.side.iter_mut().zip(by_rank) {
            *side = match labels[index as usize] {
                None => Side::Unlabelled,
                Some(label) if label as usize == class => Side::Positive,
                Some(_) => Side::Negative,
            };
        }
    }

    /// The rank to query and why; raises `order` when the graph needs it. The graph must
    /// have an unlabelled input.
    fn choose(&mut self, order: &mut usize) -> (usize, GalaxyQueryKind) {
        let has = |side| self.side.contains(&side);
        if !has(Side::Positive) {
            return (self.extreme_unlabelled(true), GalaxyQueryKind::SeekClass);
        }
        if !has(Side::Negative) {
            return (self.extreme_unlabelled(false), GalaxyQueryKind::SeekRest);
        }
        let path_length = match self.path_length(*order) {
            Some(length) => length,
            None => match self.raise_order(*order) {
                Some((raised, length)) => {
                    *order = raised;
                    length
                }
                // Unreachable while an unlabelled input exists (module docs, step 5);
                // kept total rather than panicking.
                None => return (self.extreme_unlabelled(true), GalaxyQueryKind::SeekClass),
            },
        };
        (
            self.midpoint(*order, path_length),
            GalaxyQueryKind::Bisection {
                path_length: path_length as usize,
            },
        )
    }

    /// The unlabelled input of highest (`top`) or lowest rank.
    fn extreme_unlabelled(&self, top: bool) -> usize {
        let mut ranks = self
            .side
            .iter()
            .enumerate()
            .filter(|&(_, &side)| side == Side::Unlabelled)
            .map(|(rank, _)| rank);
        let found = if top { ranks.next_back() } else { ranks.next() };
        found.expect("the caller checked that an unlabelled input exists")
    }

    /// The smallest order above `order` at which a +1/−1 path exists and that path's
    /// length, by galloping up from `order` and bisecting the last gap (`from_positive`
    /// is left at that order); `None` if not even order N − 1 has one.
    fn raise_order(&mut self, order: usize) -> Option<(usize, u32)> {
        let highest = self.side.len().saturating_sub(1);
        let (mut without, mut with) = (order, None);
        let mut step = 1;
        while without < highest {
            let probe = without.saturating_add(step).min(highest);
            if self.path_length(probe).is_some() {
                with = Some(probe);
                break;
            }
            without = probe;
            step = step.saturating_mul(2);
        }
        let mut with = with?;
        while with - without > 1 {
            let middle = without + (with - without) / 2;
            if self.path_length(middle).is_some() {
                with = middle;
            } else {
                without = middle;
            }
        }
        // The probes may have ended at another order: search again at the one chosen.
        self.path_length(with).map(|length| (with, length))
    }

    /// Length of the shortest +1/−1 path at `order`, filling `from_positive` up to one
    /// level below it.
    fn path_length(&mut self, order: usize) -> Option<u32> {
        let mut distances = std::mem::take(&mut self.from_positive);
        let length = self.bfs(order, Side::Positive, UNREACHED, &mut distances);
        self.from_positive = distances;
        length
    }

    /// The query on a shortest path of `length` at `order`: among the inputs ⌊L/2⌋ from
    /// the +1 inputs and ⌈L/2⌉ from the −1 inputs, the lowest pool index. Needs
    /// `from_positive` from [`Search::path_length`] at the same order.
    fn midpoint(&mut self, order: usize, length: u32) -> usize {
        let (to_positive, to_negative) = (length / 2, length - length / 2);
        let mut distances = std::mem::take(&mut self.from_negative);
        self.bfs(order, Side::Negative, to_negative, &mut distances);
        self.from_negative = distances;
        (0..self.side.len())
            .filter(|&rank| {
                self.from_positive[rank] == to_positive && self.from_negative[rank] == to_negative
            })
            .min_by_key(|&rank| self.index[rank])
            .expect("a shortest path has a point at every distance along it")
    }

    /// Level-by-level multi-source BFS from every input on `source`'s side, at `order`,
    /// writing distances into `distances` (levels above `max_depth` are not explored).
    /// Returns the distance of the nearest input on the opposite side, if it is reached;
    /// the search stops there, with every level below it complete.
    fn bfs(
        &mut self,
        order: usize,
        source: Side,
        max_depth: u32,
        distances: &mut [u32],
    ) -> Option<u32> {
        let target = source.opposite();
        let n = self.side.len();
        distances.fill(UNREACHED);
        self.frontier.clear();
        for (rank, &side) in self.side.iter().enumerate() {
            if side == source {
                distances[rank] = 0;
                self.frontier.push(rank as u32);
            }
        }
        let mut depth = 0;
        while !self.frontier.is_empty() && depth < max_depth {
            self.next.clear();
            for &rank in &self.frontier {
                let rank = rank as usize;
                let from = self.side[rank];
                let neighbours =
                    rank.saturating_sub(order)..=(rank.saturating_add(order)).min(n - 1);
                for other in neighbours {
                    let to = self.side[other];
                    // A cut edge: both ends labelled, on different sides.
                    if other == rank
                        || (from != Side::Unlabelled && to != Side::Unlabelled && from != to)
                    {
                        continue;
                    }
                    if to == target {
                        return Some(depth + 1);
                    }
                    if distances[other] == UNREACHED {
                        distances[other] = depth + 1;
                        self.next.push(other as u32);
                    }
                }
            }
            std::mem::swap(&mut self.frontier, &mut self.next);
            depth += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search over a graph given directly by its sides in rank order.
    fn search(sides: &str) -> Search {
        let mut search = Search::new(sides.len());
        for (rank, c) in sides.chars().enumerate() {
            search.side[rank] = match c {
                '+' => Side::Positive,
                '-' => Side::Negative,
                _ => Side::Unlabelled,
            };
            search.index[rank] = rank as u32;
        }
        search
    }

    #[test]
    fn midpoint_is_floor_half_from_the_positive_end() {
        // L = 4: the middle; L = 3: one hop from the +1 end (the authors' path[len // 2]).
        let mut order = 1;
        assert_eq!(search("+...-").choose(&mut order).0, 2);
        assert_eq!(search("-..+").choose(&mut order).0, 2);
        assert_eq!(search("+..-").choose(&mut order).0, 1);
    }

    #[test]
    fn equally_short_paths_give_the_lowest_index() {
        let mut order = 1;
        let (rank, kind) = search("-.+.-").choose(&mut order);
        assert_eq!(
            (rank, kind),
            (1, GalaxyQueryKind::Bisection { path_length: 2 })
        );
    }

    #[test]
    fn cut_edges_make_the_order_rise_to_the_smallest_that_works() {
        // +-+- at ranks 0..3: every +1 is walled in at order 1; order 2 joins rank 2 to
        // rank 4, and 4 to the −1 at rank 3.
        let mut order = 1;
        let (rank, kind) = search("+-+-....").choose(&mut order);
        assert_eq!(order, 2);
        assert_eq!(
            (rank, kind),
            (4, GalaxyQueryKind::Bisection { path_length: 2 })
        );
        // Behind a wall of 6 labelled inputs, the +1 at rank 3 first reaches an unlabelled
        // input (rank 6) at order 3.
        let mut order = 1;
        let (rank, _) = search("-+-+--..").choose(&mut order);
        assert_eq!((order, rank), (3, 6));
    }

    #[test]
    fn an_empty_side_seeks_it_at_the_far_end_of_the_ranking() {
        let mut order = 1;
        assert_eq!(
            search("..-..-.").choose(&mut order),
            (6, GalaxyQueryKind::SeekClass)
        );
        assert_eq!(
            search(".+..+..").choose(&mut order),
            (0, GalaxyQueryKind::SeekRest)
        );
        assert_eq!(
            search("+......").choose(&mut order),
            (1, GalaxyQueryKind::SeekRest)
        );
        assert_eq!(order, 1);
    }

    #[test]
    fn the_score_orders_argmax_inputs_by_confidence() {
        // Class 0 is the argmax of both; the more confident one ranks higher.
        assert!(class_score(0.9, 0.9) > class_score(0.6, 0.6));
        assert!(class_score(0.6, 0.6) > class_score(0.3, 0.4));
    }
}
