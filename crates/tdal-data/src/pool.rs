//! The messy-pool builder. A pool mixes *target* classes (what the user cares about) with
//! *redundant* classes (everything else, merged into one "other" label) at a chosen class
//! imbalance, and comes with three disjoint companions: target inputs for EPIG (leftover
//! target-class training images), a test set, and the initial labelled indices. Datasets
//! (F+MNIST, CIFAR-10+100, CheXpert) are configurations of this one builder
//! ([`crate::named`]).
//!
//! Label map: 0 = other (all redundant classes), 1..=T the target classes in the
//! order given. Every image also keeps its origin (source, split, class, index) so
//! diagnostics can break results down by original class.
//!
//! Randomness: one seed; each step (shuffling each class, ordering the pool, the test
//! sample, the initial labels) draws from its own ChaCha stream, so changing e.g. the
//! number of initial labels does not change which images enter the pool.

use ndarray::{Array4, Axis};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::images::ImageSet;
use crate::{Error, Result};

/// One dataset with its train and test splits.
#[derive(Debug, Clone)]
pub struct Source {
    /// Name shown in summaries, e.g. "MNIST".
    pub name: String,
    /// Images the pool and the target inputs are drawn from.
    pub train: ImageSet,
    /// Images the test set is drawn from.
    pub test: ImageSet,
}

/// Classes of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSelection {
    /// Index into the `sources` slice given to [`build_pool`].
    pub source: usize,
    /// Class labels of that source.
    pub classes: Vec<u32>,
}

/// How many target-class images enter the pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Imbalance {
    /// Imbalance ratio IR ≥ 1: each target class gets `⌊largest redundant class / IR⌋`
    /// images (6000 / 10 = 600 for F+MNIST).
    Ratio(f64),
    /// Fraction of the pool that is target-class images, in (0, 1), split evenly over the
    /// target classes.
    TargetShare(f64),
}

/// Which test images to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestRule {
    /// Only the target-class test images (the primary metric; docs/REPRODUCING.md).
    TargetsOnly,
    /// Target-class test images plus as many redundant ones as the mean target-class
    /// count, spread evenly over the redundant classes (label "other").
    #[default]
    BalancedOther,
    /// Every test image of the target and redundant classes.
    All,
}

/// Everything that defines a messy pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// Target classes, in label-map order (label 1, 2, ...).
    pub targets: ClassSelection,
    /// Redundant classes; all become label 0.
    pub redundant: Vec<ClassSelection>,
    /// Class imbalance with the targets as the minority.
    pub imbalance: Imbalance,
    /// Optional cap on the pool size; redundant and target counts shrink proportionally.
    pub max_pool: Option<usize>,
    /// Target inputs per target class; `None` takes as many as every target class can give
    /// (balanced: the smallest leftover).
    pub target_inputs_per_class: Option<usize>,
    /// Which test images to keep.
    pub test_rule: TestRule,
    /// Initial labelled pool images per label-map class (other, each target).
    pub initial_per_class: usize,
    /// Seed for every random choice.
    pub seed: u64,
}

/// Which split of its source an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SplitKind {
    /// The source's training split.
    Train,
    /// The source's test split.
    Test,
}

/// Where an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// Index of the source.
    pub source: u16,
    /// Split of the source.
    pub split: SplitKind,
    /// Class in the source's own labels.
    pub class: u32,
    /// Position in the source split.
    pub index: u32,
}

/// Images with label-map labels and origins.
///
/// # Shapes
/// `images` `[N, C, H, W]`; `labels` and `origins` have N entries.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSplit {
    /// Pixels in `[0, 1]`.
    pub images: Array4<f32>,
    /// Label-map labels: 0 = other, 1..=T targets.
    pub labels: Vec<u32>,
    /// Source, split, class and index of each image.
    pub origins: Vec<Origin>,
}

impl LabelledSplit {
    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Count of each label-map class (`classes` entries).
    #[must_use]
    pub fn label_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// A messy pool and its companions; see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct MessyPool {
    /// The unlabelled pool with hidden labels.
    pub pool: LabelledSplit,
    /// Target-class inputs for EPIG, disjoint from the pool and the test set.
    pub target_inputs: LabelledSplit,
    /// The test set.
    pub test: LabelledSplit,
    /// Sorted pool indices labelled at the start.
    pub initial_labelled: Vec<usize>,
    /// Label-map class names: `"other"` then the target class names.
    pub class_names: Vec<String>,
    /// Source names, indexed by [`Origin::source`].
    pub source_names: Vec<String>,
    /// Each source's own class names, indexed by [`Origin::source`] then class.
    pub source_class_names: Vec<Vec<String>>,
    /// The spec the pool was built from.
    pub spec: PoolSpec,
}

impl MessyPool {
    /// Number of label-map classes (1 + number of targets).
    #[must_use]
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// `[C, H, W]` of every image.
    #[must_use]
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.pool.images.shape();
        [s[1], s[2], s[3]]
    }

    /// Indices of `m` target inputs for one EPIG round (the paper uses M = 500 per round):
    /// without replacement when there are at least `m`, otherwise with replacement.
    /// Empty when there is no target input.
    pub fn sample_target_inputs<R: rand::Rng + ?Sized>(&self, m: usize, rng: &mut R) -> Vec<usize> {
        let n = self.target_inputs.len();
        if n == 0 {
            return Vec::new();
        }
        if m <= n {
            rand::seq::index::sample(rng, n, m).into_vec()
        } else {
            (0..m).map(|_| rng.random_range(0..n)).collect()
        }
    }
}

fn check_selection(sel: &ClassSelection, sources: &[Source], role: &str) -> Result<()> {
    let source = sources.get(sel.source).ok_or_else(|| {
        Error::Config(format!(
            "{role} refer to source {}, but only {} sources were given",
            sel.source,
            sources.len()
        ))
    })?;
    if sel.classes.is_empty() {
        return Err(Error::Config(format!(
            "expected at least one {role} class of {}",
            source.name
        )));
    }
    let n = source.train.class_names.len();
    for (i, &c) in sel.classes.iter().enumerate() {
        if c as usize >= n {
            return Err(Error::Config(format!(
                "{role} class {c} does not exist in {}: expected classes 0..{} ({})",
                source.name,
                n.saturating_sub(1),
                source.train.class_names.join(", ")
            )));
        }
        if sel.classes[..i].contains(&c) {
            return Err(Error::Config(format!(
                "{role} class {c} of {} is listed twice",
                source.name
            )));
        }
    }
    Ok(())
}

impl PoolSpec {
    /// Validates the spec against the sources.
    ///
    /// # Errors
    /// [`Error::Config`] for unknown or duplicate classes, a class that is both target and
    /// redundant, IR < 1, a share outside (0, 1), a zero cap; [`Error::Shape`] when the
    /// sources' image shapes differ.
    pub fn check(&self, sources: &[Source]) -> Result<()> {
        check_selection(&self.targets, sources, "target")?;
        if self.redundant.is_empty() {
            return Err(Error::Config(
                "expected at least one redundant class selection".into(),
            ));
        }
        for sel in &self.redundant {
            check_selection(sel, sources, "redundant")?;
            if sel.source == self.targets.source
                && let Some(c) = sel
                    .classes
                    .iter()
                    .find(|c| self.targets.classes.contains(c))
            {
                return Err(Error::Config(format!(
                    "class {c} of {} is both a target and a redundant class",
                    sources[sel.source].name
                )));
            }
        }
        for (i, a) in self.redundant.iter().enumerate() {
            if self.redundant[..i].iter().any(|b| b.source == a.source) {
                return Err(Error::Config(format!(
                    "source {} appears in two redundant selections; merge them",
                    sources[a.source].name
                )));
            }
        }
        match self.imbalance {
            Imbalance::Ratio(ir) if !(ir.is_finite() && ir >= 1.0) => {
                return Err(Error::Config(format!(
                    "expected an imbalance ratio IR ≥ 1 (targets are the minority), got {ir}"
                )));
            }
            Imbalance::TargetShare(s) if !(s > 0.0 && s < 1.0) => {
                return Err(Error::Config(format!(
                    "expected a target share strictly between 0 and 1, got {s}"
                )));
            }
            _ => {}
        }
        if self.max_pool == Some(0) {
            return Err(Error::Config("the pool-size cap must be positive".into()));
        }
        let shape = sources[self.targets.source].train.image_shape();
        for sel in &self.redundant {
            for split in [&sources[sel.source].train, &sources[sel.source].test] {
                if split.image_shape() != shape {
                    return Err(Error::Shape(format!(
                        "{} images are {:?} but {} images are {:?}; resize the sources to one size",
                        sources[self.targets.source].name,
                        shape,
                        sources[sel.source].name,
                        split.image_shape()
                    )));
                }
            }
        }
        let test_shape = sources[self.targets.source].test.image_shape();
        if !sources[self.targets.source].test.is_empty() && test_shape != shape {
            return Err(Error::Shape(format!(
                "{} test images are {test_shape:?} but its training images are {shape:?}",
                sources[self.targets.source].name
            )));
        }
        Ok(())
    }
}

/// An RNG for one step of the build, independent of the other steps.
fn stream(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    rng
}

/// Indices of each selected class in one split, shuffled with a stream of its own.
fn shuffled_class_indices(
    set: &ImageSet,
    classes: &[u32],
    seed: u64,
    stream_base: u64,
) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.len()];
    let position: std::collections::HashMap<u32, usize> =
        classes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    for (i, l) in set.labels.iter().enumerate() {
        if let Some(&k) = position.get(l) {
            by_class[k].push(i);
        }
    }
    for (k, idx) in by_class.iter_mut().enumerate() {
        idx.shuffle(&mut stream(seed, stream_base + k as u64));
    }
    by_class
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn floor_count(x: f64) -> usize {
    if x <= 0.0 { 0 } else { x.floor() as usize }
}

/// Images per target class for given redundant per-class counts.
#[allow(clippy::cast_precision_loss)]
fn target_count(imbalance: Imbalance, redundant_counts: &[usize], n_targets: usize) -> usize {
    match imbalance {
        Imbalance::Ratio(ir) => {
            floor_count(redundant_counts.iter().copied().max().unwrap_or(0) as f64 / ir)
        }
        Imbalance::TargetShare(share) => {
            let red: usize = redundant_counts.iter().sum();
            floor_count(share * red as f64 / ((1.0 - share) * n_targets as f64))
        }
    }
}

/// The imbalance as the flags name it, for messages.
fn describe(imbalance: Imbalance) -> String {
    match imbalance {
        Imbalance::Ratio(ir) => format!("IR {ir}"),
        Imbalance::TargetShare(share) => format!("target share {share}"),
    }
}

struct Pick {
    source: usize,
    split: SplitKind,
    class: u32,
    index: usize,
    label: u32,
}

fn gather(picks: &[Pick], sources: &[Source], shape: [usize; 3]) -> LabelledSplit {
    let [c, h, w] = shape;
    let mut images = Array4::zeros((picks.len(), c, h, w));
    for (mut dst, p) in images.axis_iter_mut(Axis(0)).zip(picks) {
        let set = match p.split {
            SplitKind::Train => &sources[p.source].train,
            SplitKind::Test => &sources[p.source].test,
        };
        dst.assign(&set.image(p.index));
    }
    LabelledSplit {
        images,
        labels: picks.iter().map(|p| p.label).collect(),
        #[allow(clippy::cast_possible_truncation)]
        origins: picks
            .iter()
            .map(|p| Origin {
                source: p.source as u16,
                split: p.split,
                class: p.class,
                index: p.index as u32,
            })
            .collect(),
    }
}

/// Builds a messy pool from `sources` as `spec` says.
///
/// # Errors
/// As [`PoolSpec::check`]; [`Error::Config`] when a target class has too few training
/// images for the requested imbalance (the message gives the numbers and suggests a larger
/// IR or a pool cap), when the imbalance leaves zero target images, or when a class has
/// fewer pool images than the initial labels asked for.
pub fn build_pool(sources: &[Source], spec: &PoolSpec) -> Result<MessyPool> {
    spec.check(sources)?;
    if sources.len() > usize::from(u16::MAX) {
        return Err(Error::Config("too many sources".into()));
    }
    let seed = spec.seed;
    let target_source = &sources[spec.targets.source];
    let n_targets = spec.targets.classes.len();

    // Shuffled train indices per class; streams 0..1000 targets, 1000·(k+1).. redundant k.
    let target_train = shuffled_class_indices(&target_source.train, &spec.targets.classes, seed, 0);
    let redundant_train: Vec<Vec<Vec<usize>>> = spec
        .redundant
        .iter()
        .enumerate()
        .map(|(k, sel)| {
            shuffled_class_indices(
                &sources[sel.source].train,
                &sel.classes,
                seed,
                1000 * (k as u64 + 1),
            )
        })
        .collect();

    // Counts: every redundant image, targets from the imbalance, then the optional cap.
    let mut redundant_counts: Vec<usize> = redundant_train.iter().flatten().map(Vec::len).collect();
    let mut per_target = target_count(spec.imbalance, &redundant_counts, n_targets);
    // Saturating: a share just below 1 asks for ~usize::MAX images per target class, which
    // the per-class check below reports.
    let total = redundant_counts
        .iter()
        .sum::<usize>()
        .saturating_add(per_target.saturating_mul(n_targets));
    if let Some(cap) = spec.max_pool
        && total > cap
    {
        #[allow(clippy::cast_precision_loss)]
        let scale = cap as f64 / total as f64;
        #[allow(clippy::cast_precision_loss)]
        for n in &mut redundant_counts {
            *n = floor_count(*n as f64 * scale);
        }
        per_target = target_count(spec.imbalance, &redundant_counts, n_targets);
    }
    let imbalance = describe(spec.imbalance);
    if per_target == 0 {
        return Err(Error::Config(format!(
            "the requested imbalance ({imbalance}) leaves no target image in the pool (largest redundant class: {} images); lower --ir or raise the target share or the pool cap",
            redundant_counts.iter().max().unwrap_or(&0)
        )));
    }
    for (k, idx) in target_train.iter().enumerate() {
        if idx.len() < per_target {
            return Err(Error::Config(format!(
                "target class {} of {} has {} training images but the imbalance ({imbalance}) needs {per_target} per target class; raise --ir (or lower the target share) or cap the pool with --max-pool",
                spec.targets.classes[k],
                target_source.name,
                idx.len()
            )));
        }
    }

    // The pool: redundant images then target images, then one shuffle of the order.
    let mut pool_picks = Vec::new();
    let mut counts = redundant_counts.iter();
    for (sel, classes) in spec.redundant.iter().zip(&redundant_train) {
        for (&class, idx) in sel.classes.iter().zip(classes) {
            let n = *counts.next().unwrap_or(&0);
            pool_picks.extend(idx[..n].iter().map(|&index| Pick {
                source: sel.source,
                split: SplitKind::Train,
                class,
                index,
                label: 0,
            }));
        }
    }
    for (k, (&class, idx)) in spec.targets.classes.iter().zip(&target_train).enumerate() {
        pool_picks.extend(idx[..per_target].iter().map(|&index| Pick {
            source: spec.targets.source,
            split: SplitKind::Train,
            class,
            index,
            label: k as u32 + 1,
        }));
    }
    pool_picks.shuffle(&mut stream(seed, 1 << 32));

    // Target inputs: the leftover target-class training images, balanced over classes.
    let leftover = target_train
        .iter()
        .map(|idx| idx.len() - per_target)
        .min()
        .unwrap_or(0);
    let per_class_inputs = spec
        .target_inputs_per_class
        .map_or(leftover, |n| n.min(leftover));
    let mut input_picks = Vec::new();
    for (k, (&class, idx)) in spec.targets.classes.iter().zip(&target_train).enumerate() {
        input_picks.extend(
            idx[per_target..per_target + per_class_inputs]
                .iter()
                .map(|&index| Pick {
                    source: spec.targets.source,
                    split: SplitKind::Train,
                    class,
                    index,
                    label: k as u32 + 1,
                }),
        );
    }

    // Test set.
    let target_test =
        shuffled_class_indices(&target_source.test, &spec.targets.classes, seed, 1 << 33);
    let mut test_picks = Vec::new();
    for (k, (&class, idx)) in spec.targets.classes.iter().zip(&target_test).enumerate() {
        test_picks.extend(idx.iter().map(|&index| Pick {
            source: spec.targets.source,
            split: SplitKind::Test,
            class,
            index,
            label: k as u32 + 1,
        }));
    }
    if spec.test_rule != TestRule::TargetsOnly {
        let redundant_test: Vec<(usize, u32, Vec<usize>)> = spec
            .redundant
            .iter()
            .enumerate()
            .flat_map(|(k, sel)| {
                let lists = shuffled_class_indices(
                    &sources[sel.source].test,
                    &sel.classes,
                    seed,
                    (1 << 34) + 1000 * k as u64,
                );
                sel.classes
                    .iter()
                    .zip(lists)
                    .map(|(&c, l)| (sel.source, c, l))
                    .collect::<Vec<_>>()
            })
            .collect();
        let quotas: Vec<usize> = if spec.test_rule == TestRule::All {
            redundant_test.iter().map(|(_, _, l)| l.len()).collect()
        } else {
            // As many "other" images as the mean target-class test count, round-robin
            // over the redundant classes so each gets an even share.
            let target_total: usize = target_test.iter().map(Vec::len).sum();
            let wanted = (target_total + n_targets / 2) / n_targets;
            let mut quotas = vec![0usize; redundant_test.len()];
            let mut remaining = wanted;
            while remaining > 0 {
                let mut progressed = false;
                for (q, (_, _, l)) in quotas.iter_mut().zip(&redundant_test) {
                    if remaining > 0 && *q < l.len() {
                        *q += 1;
                        remaining -= 1;
                        progressed = true;
                    }
                }
                if !progressed {
                    break;
                }
            }
            quotas
        };
        for ((source, class, list), q) in redundant_test.iter().zip(quotas) {
            test_picks.extend(list[..q].iter().map(|&index| Pick {
                source: *source,
                split: SplitKind::Test,
                class: *class,
                index,
                label: 0,
            }));
        }
    }

    // Initial labels: `initial_per_class` pool indices of each label-map class.
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); n_targets + 1];
    for (i, p) in pool_picks.iter().enumerate() {
        by_label[p.label as usize].push(i);
    }
    let mut initial_labelled = Vec::new();
    let mut init_rng = stream(seed, 1 << 35);
    for (label, members) in by_label.iter_mut().enumerate() {
        if members.len() < spec.initial_per_class {
            return Err(Error::Config(format!(
                "label-map class {label} has {} pool images, fewer than the {} initial labels asked for",
                members.len(),
                spec.initial_per_class
            )));
        }
        let (chosen, _) = members.partial_shuffle(&mut init_rng, spec.initial_per_class);
        initial_labelled.extend_from_slice(chosen);
    }
    initial_labelled.sort_unstable();

    let shape = target_source.train.image_shape();
    let mut class_names = vec!["other".to_string()];
    class_names.extend(
        spec.targets
            .classes
            .iter()
            .map(|&c| target_source.train.class_names[c as usize].clone()),
    );
    Ok(MessyPool {
        pool: gather(&pool_picks, sources, shape),
        target_inputs: gather(&input_picks, sources, shape),
        test: gather(&test_picks, sources, shape),
        initial_labelled,
        class_names,
        source_names: sources.iter().map(|s| s.name.clone()).collect(),
        source_class_names: sources
            .iter()
            .map(|s| s.train.class_names.clone())
            .collect(),
        spec: spec.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_count_follows_ir_and_share() {
        // F+MNIST: ten classes of 6000, IR 10 → 600 per target.
        assert_eq!(target_count(Imbalance::Ratio(10.0), &[6000; 10], 2), 600);
        // The largest redundant class sets the majority.
        assert_eq!(target_count(Imbalance::Ratio(4.0), &[10, 40, 20], 1), 10);
        // 6 % of the pool over 2 targets: 0.06 · 60000 / (0.94 · 2) = 1914.9 → 1914.
        assert_eq!(
            target_count(Imbalance::TargetShare(0.06), &[6000; 10], 2),
            1914
        );
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        use rand::RngCore;
        let a = stream(3, 1).next_u64();
        assert_eq!(a, stream(3, 1).next_u64());
        assert_ne!(a, stream(3, 2).next_u64());
        assert_ne!(a, stream(4, 1).next_u64());
    }
}
