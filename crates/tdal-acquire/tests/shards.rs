//! Pools in shards: per-shard keys merged by `TopB` give exactly the whole-pool batch of
//! `select_seeded`, and per-shard random scores concatenate to the whole pool's, for any
//! shard boundaries.

mod common;

use common::{scores_and_cuts, shards};
use ndarray::{Array1, s};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdal_acquire::{
    Error, Strategy, TopB, perturbed_keys, random_scores, random_scores_at, select_seeded,
};

fn local_strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::TopK),
        (0.0f32..10.0).prop_map(|beta| Strategy::Power { beta }),
        (0.0f32..10.0).prop_map(|beta| Strategy::Softmax { beta }),
    ]
}

/// The obviously-correct whole-pool batch: one `random::<f64>()` per input in index order
/// from a fresh generator, keys as the module doc defines them, then a full sort by
/// (key desc, index asc).
fn oracle_batch(scores: &[f32], batch: usize, strategy: Strategy, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gumbel = || {
        let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
        -(-u.ln()).ln()
    };
    let keys: Vec<f64> = scores
        .iter()
        .map(|&s| match strategy {
            Strategy::TopK => f64::from(s),
            Strategy::Power { beta } => {
                f64::from(beta) * f64::from(s).max(f64::from(f32::MIN_POSITIVE)).ln() + gumbel()
            }
            Strategy::Softmax { beta } => f64::from(beta) * f64::from(s) + gumbel(),
            _ => unreachable!("the oracle covers the local strategies"),
        })
        .collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
    order.truncate(batch);
    order
}

proptest! {
    #[test]
    fn sharded_selection_equals_whole_pool_selection(
        (scores, cuts) in scores_and_cuts(300),
        batch_fraction in 0.0f64..1.0,
        strategy in local_strategy(),
        seed in any::<u64>(),
        reverse in any::<bool>(),
    ) {
        let n = scores.len();
        let batch = 1 + (batch_fraction * (n - 1) as f64) as usize;
        let scores = Array1::from(scores);
        let whole = select_seeded(scores.view(), batch, strategy, seed).unwrap();

        let mut parts = shards(n, &cuts);
        if reverse {
            parts.reverse(); // shards may arrive in any order
        }
        let mut best = TopB::new(batch).unwrap();
        for (offset, len) in parts {
            let shard = scores.slice(s![offset..offset + len]);
            let keys = perturbed_keys(shard, strategy, seed, offset).unwrap();
            best.push_keys(offset, keys.view());
        }
        prop_assert_eq!(best.seen(), n);
        prop_assert_eq!(best.finish().unwrap(), whole);
    }

    #[test]
    fn merged_per_shard_accumulators_equal_whole_pool_selection(
        (scores, cuts) in scores_and_cuts(200),
        batch_fraction in 0.0f64..1.0,
        strategy in local_strategy(),
        seed in any::<u64>(),
    ) {
        let n = scores.len();
        let batch = 1 + (batch_fraction * (n - 1) as f64) as usize;
        let scores = Array1::from(scores);
        let whole = select_seeded(scores.view(), batch, strategy, seed).unwrap();

        // Each worker keeps its own TopB; the driver merges them, or the pairs they send.
        let workers: Vec<TopB> = shards(n, &cuts)
            .into_iter()
            .map(|(offset, len)| {
                let keys = perturbed_keys(scores.slice(s![offset..offset + len]), strategy, seed, offset).unwrap();
                let mut best = TopB::new(batch).unwrap();
                best.push_keys(offset, keys.view());
                best
            })
            .collect();
        let mut merged = TopB::new(batch).unwrap();
        let mut from_pairs = TopB::new(batch).unwrap();
        for worker in workers.into_iter().rev() {
            for (index, key) in worker.clone().into_best() {
                from_pairs.push(index, key);
            }
            merged.merge(worker);
        }
        prop_assert_eq!(merged.finish().unwrap(), whole.clone());
        prop_assert_eq!(from_pairs.finish().unwrap(), whole);
    }

    #[test]
    fn select_seeded_draws_one_u64_per_input_in_index_order(
        (scores, _cuts) in scores_and_cuts(200),
        batch_fraction in 0.0f64..1.0,
        strategy in local_strategy(),
        seed in any::<u64>(),
    ) {
        let n = scores.len();
        let batch = 1 + (batch_fraction * (n - 1) as f64) as usize;
        let got = select_seeded(Array1::from(scores.clone()).view(), batch, strategy, seed).unwrap();
        prop_assert_eq!(got, oracle_batch(&scores, batch, strategy, seed));
    }

    #[test]
    fn sharded_random_scores_equal_whole_pool_random_scores(
        n in 1usize..400,
        cuts in proptest::collection::vec(0usize..400, 0..6),
        seed in any::<u64>(),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(n)).collect();
        cuts.sort_unstable();
        let whole = random_scores(n, seed);
        let mut joined = Vec::with_capacity(n);
        for (offset, len) in shards(n, &cuts) {
            joined.extend(random_scores_at(offset, len, seed));
        }
        prop_assert_eq!(Array1::from(joined), whole);
    }
}

#[test]
fn keys_far_into_the_stream_match_sequential_draws() {
    // An odd offset far past the generator's 64-word buffer.
    let (offset, n, seed) = (1_000_003, 7, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..offset {
        rng.random::<f64>();
    }
    let want: Vec<f64> = (0..n)
        .map(|_| {
            let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
            -(-u.ln()).ln()
        })
        .collect();
    // Softmax with β = 0: the key is the Gumbel noise alone.
    let scores = Array1::from_elem(n, 0.25f32);
    let keys =
        perturbed_keys(scores.view(), Strategy::Softmax { beta: 0.0 }, seed, offset).unwrap();
    assert_eq!(keys.to_vec(), want);

    let whole = random_scores(offset + n, seed);
    assert_eq!(random_scores_at(offset, n, seed), whole.slice(s![offset..]));
}

#[test]
fn softrank_and_bad_inputs_are_clear_errors() {
    let scores = Array1::from(vec![0.1f32, 0.2, f32::NAN]);
    assert_eq!(
        perturbed_keys(
            scores.slice(s![..2]),
            Strategy::SoftRank { beta: 1.0 },
            0,
            0
        ),
        Err(Error::NeedsWholePool {
            strategy: "soft-rank"
        })
    );
    let message = Error::NeedsWholePool {
        strategy: "soft-rank",
    }
    .to_string();
    assert!(
        message.contains("whole pool") && message.contains("power"),
        "{message}"
    );
    // The index of a bad score counts from the start of the pool.
    assert!(matches!(
        perturbed_keys(scores.view(), Strategy::TopK, 0, 40),
        Err(Error::InvalidScore { index: 42, .. })
    ));
    assert!(matches!(
        perturbed_keys(scores.slice(s![..2]), Strategy::Power { beta: -1.0 }, 0, 0),
        Err(Error::InvalidParameter { name: "beta", .. })
    ));
    assert!(matches!(TopB::new(0), Err(Error::InvalidParameter { .. })));
    assert_eq!(TopB::new(3).unwrap().finish(), Err(Error::NoScores));
    let mut best = TopB::new(3).unwrap();
    best.push(0, 1.0);
    best.push(5, 2.0);
    assert_eq!(
        best.finish(),
        Err(Error::InvalidBatch {
            batch: 3,
            available: 2
        })
    );
}

#[test]
fn topb_keeps_the_best_keys_and_breaks_ties_by_lower_index() {
    let mut best = TopB::new(3).unwrap();
    for (index, key) in [
        (9, 1.0),
        (4, 3.0),
        (7, 3.0),
        (2, 0.5),
        (1, 3.0),
        (8, f64::NEG_INFINITY),
    ] {
        best.push(index, key);
    }
    assert_eq!(best.seen(), 6);
    assert_eq!(best.into_best(), vec![(1, 3.0), (4, 3.0), (7, 3.0)]);
}
