//! The three test accuracies of a round (README, "tdal run") from a head's mean class
//! probabilities.

use ndarray::ArrayView2;

use crate::Accuracies;

/// The three accuracies on a test set with label-map labels (0 = other).
///
/// - primary: target-class images (label ≥ 1), argmax over every class;
/// - targets-only: the same images, argmax over the target classes 1..C only; `None`
///   with a single target class (C ≤ 2), where that argmax can only name the one target
///   class, so every target-class image would count as right whatever the head predicts;
/// - balanced: every test image (the test set already holds as many "other" images as
///   the mean target-class count), argmax over every class.
///
/// A set with no images of the relevant kind gives 0. Ties go to the lowest class, as
/// numpy's argmax does.
///
/// # Shapes
/// `probs` `[N, C]`, `labels` `[N]`.
#[must_use]
pub fn accuracies(probs: ArrayView2<'_, f32>, labels: &[u32]) -> Accuracies {
    let (mut targets, mut primary, mut restricted, mut all) = (0usize, 0usize, 0usize, 0usize);
    for (row, &label) in probs.outer_iter().zip(labels) {
        let label = label as usize;
        let best = argmax(row.iter().copied().enumerate());
        all += usize::from(best == label);
        if label >= 1 {
            targets += 1;
            primary += usize::from(best == label);
            let best_target = argmax(row.iter().copied().enumerate().skip(1));
            restricted += usize::from(best_target == label);
        }
    }
    let frac = |k: usize, n: usize| {
        #[allow(clippy::cast_precision_loss)]
        if n == 0 { 0.0 } else { k as f64 / n as f64 }
    };
    // One target class: the restricted argmax is that class for every image.
    let several_targets = probs.ncols() > 2;
    Accuracies {
        primary: frac(primary, targets),
        targets_only: several_targets.then_some(frac(restricted, targets)),
        balanced: frac(all, labels.len()),
    }
}

/// Index of the first largest value.
pub(crate) fn argmax(values: impl Iterator<Item = (usize, f32)>) -> usize {
    let mut best = (usize::MAX, f32::NEG_INFINITY);
    for (i, v) in values {
        if best.0 == usize::MAX || v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn accuracies_by_hand() {
        // Rows: other predicted other; digit 1 predicted other (primary wrong, restricted
        // right); digit 2 right; digit 1 predicted 2.
        let probs = array![
            [0.8, 0.1, 0.1],
            [0.5, 0.4, 0.1],
            [0.1, 0.2, 0.7],
            [0.1, 0.3, 0.6f32]
        ];
        let acc = accuracies(probs.view(), &[0, 1, 2, 1]);
        assert!((acc.primary - 1.0 / 3.0).abs() < 1e-12);
        assert!((acc.targets_only.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((acc.balanced - 2.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn one_target_class_has_no_targets_only_accuracy() {
        // "Other" and one target class: restricted to the targets, the argmax could only
        // name class 1, which every target-class image is, so it would be 100 % even for a
        // head that always predicts "other".
        let probs = array![[0.9, 0.1], [0.8, 0.2], [0.7, 0.3f32]];
        let acc = accuracies(probs.view(), &[0, 1, 1]);
        assert_eq!(acc.primary, 0.0);
        assert_eq!(acc.targets_only, None);
        assert!((acc.balanced - 1.0 / 3.0).abs() < 1e-12);
        // Recorded as null; records written before (a number) still read.
        let json = serde_json::to_value(acc).unwrap();
        assert!(json["targets_only"].is_null(), "{json}");
        assert_eq!(serde_json::from_value::<Accuracies>(json).unwrap(), acc);
        let old: Accuracies =
            serde_json::from_str(r#"{"primary":0.5,"targets_only":0.75,"balanced":0.5}"#).unwrap();
        assert_eq!(old.targets_only, Some(0.75));
        // Two target classes keep the number.
        let two = array![[0.1, 0.5, 0.4f32]];
        assert_eq!(accuracies(two.view(), &[2]).targets_only, Some(0.0));
    }

    #[test]
    fn ties_go_to_the_lowest_class_and_empty_sets_give_zero() {
        let probs = array![[0.5, 0.5f32]];
        assert_eq!(accuracies(probs.view(), &[0]).balanced, 1.0);
        assert_eq!(accuracies(probs.view(), &[0]).primary, 0.0);
    }
}
