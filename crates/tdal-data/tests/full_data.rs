//! The F+MNIST pool from the real data (`TDAL_DATA_DIR`: a data directory as README.md
//! describes; CI sets it when it has one).
//! Skipped, with a message, when the variable is unset. The data is read once: every
//! check lives in this one test.

use std::path::PathBuf;

use tdal_data::{Dataset, PoolOptions, build_named};

#[test]
fn fmnist_pool_from_the_full_data_has_the_documented_counts() {
    let Some(dir) = std::env::var_os("TDAL_DATA_DIR").map(PathBuf::from) else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipped: TDAL_DATA_DIR is not set (point it at a folder holding mnist/ and fashion-mnist/)"
            );
        }
        return;
    };
    let pool = build_named(Dataset::Fmnist, &dir, &PoolOptions::default()).unwrap();
    let s = pool.summary();
    // Fashion-MNIST train: 6,000 per class; IR 10 → 600 per digit.
    assert_eq!(s.splits[0].per_label, vec![60_000, 600, 600]);
    assert_eq!(pool.pool.len(), 61_200);
    // The shared MNIST sample has 690 fives: 90 leftovers per digit, balanced.
    assert!(s.splits[1].per_label[1] == s.splits[1].per_label[2]);
    assert!(s.splits[1].per_label[1] >= 90);
    assert!((s.achieved_ir - 10.0).abs() < 1e-9);
    // Test: every 5 and 6 test image plus the mean target count of "other".
    let (fives, sixes) = (s.splits[2].per_label[1], s.splits[2].per_label[2]);
    assert_eq!(s.splits[2].per_label[0], (fives + sixes).div_ceil(2));
    assert!(pool.pool.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
}
