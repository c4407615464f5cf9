//! The paper's numbers for F+MNIST, copied from Tables 1, 5 and 6 of Ashouritaklimi &
//! Rainforth (mean ± 1 s.e. over 4 seeds; docs/REPRODUCING.md sets them beside ours).
//! Nothing here is computed.
//!
//! Every row of Table 1 is implemented ([`PaperRow::ours`]); [`TASK_DRIVEN_BASELINES`]
//! holds the three rows Table 4 adds (the baselines' selectors on TD-FT), with their
//! Table 5 counts. Table 5 gives its own target-class count for rows 1-5, 10 and 11, and one
//! model-independent Random row that stands for every random-acquisition row (6-9);
//! Table 6 gives minutes for TD-SPLIT (Ours) and TD-FT (Ours) only.

use serde::Serialize;

use super::Row;

/// A published mean ± standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Published {
    /// Mean over the paper's 4 seeds.
    pub mean: f64,
    /// One standard error.
    pub se: f64,
}

const fn published(mean: f64, se: f64) -> Option<Published> {
    Some(Published { mean, se })
}

/// One row of the paper's Table 1 with its F+MNIST numbers.
#[derive(Debug, Clone, Copy)]
pub struct PaperRow {
    /// Row number in Table 1.
    pub number: usize,
    /// The method as the paper names it.
    pub method: &'static str,
    /// Our row that reproduces it, if implemented.
    pub ours: Option<Row>,
    /// Table 1: final test accuracy, %, 500 labels.
    pub accuracy: Published,
    /// Table 5: target-class points among the 500 acquired labels, when the paper gives them.
    pub target_acquired: Option<Published>,
    /// Which Table 5 row `target_acquired` comes from, when it is not this method's own
    /// (random acquisition has a single, model-independent row).
    pub target_acquired_from: Option<&'static str>,
    /// Table 6: wall time of a whole run in minutes on one H100, when the paper gives it.
    pub minutes: Option<Published>,
}

/// The eleven rows of Table 1, in the paper's order.
pub const TABLE1: [PaperRow; 11] = [
    PaperRow {
        number: 1,
        method: "SIMILAR (Kothawade et al., 2021)",
        ours: Some(Row::Similar),
        accuracy: Published {
            mean: 93.82,
            se: 0.18,
        },
        target_acquired: published(486.0, 6.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 2,
        method: "GALAXY (Zhang et al., 2022)",
        ours: Some(Row::Galaxy),
        accuracy: Published {
            mean: 84.74,
            se: 0.74,
        },
        target_acquired: published(118.0, 13.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 3,
        method: "Cluster Margin (Citovsky et al., 2021)",
        ours: Some(Row::ClusterMargin),
        accuracy: Published {
            mean: 94.24,
            se: 0.17,
        },
        target_acquired: published(32.0, 1.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 4,
        method: "US+EPIG (SimCLRv2, Bickford Smith et al. (2024))",
        ours: Some(Row::UsSimclrEpig),
        accuracy: Published {
            mean: 98.53,
            se: 0.12,
        },
        target_acquired: published(119.0, 8.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 5,
        method: "US+EPIG (VAE, Bickford Smith et al. (2024))",
        ours: Some(Row::UsEpig),
        accuracy: Published {
            mean: 94.50,
            se: 0.34,
        },
        target_acquired: published(118.0, 4.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 6,
        method: "US Random (SimCLRv2)",
        ours: Some(Row::UsSimclrRandom),
        accuracy: Published {
            mean: 92.76,
            se: 2.37,
        },
        target_acquired: published(31.0, 2.0),
        target_acquired_from: Some("Random"),
        minutes: None,
    },
    PaperRow {
        number: 7,
        method: "US Random (VAE)",
        ours: Some(Row::UsRandom),
        accuracy: Published {
            mean: 86.50,
            se: 2.24,
        },
        target_acquired: published(31.0, 2.0),
        target_acquired_from: Some("Random"),
        minutes: None,
    },
    PaperRow {
        number: 8,
        method: "TD-FT Random",
        ours: Some(Row::TdFtRandom),
        accuracy: Published {
            mean: 96.23,
            se: 0.37,
        },
        target_acquired: published(31.0, 2.0),
        target_acquired_from: Some("Random"),
        minutes: None,
    },
    PaperRow {
        number: 9,
        method: "TD-SPLIT Random",
        ours: Some(Row::TdSplitRandom),
        accuracy: Published {
            mean: 88.19,
            se: 2.62,
        },
        target_acquired: published(31.0, 2.0),
        target_acquired_from: Some("Random"),
        minutes: None,
    },
    PaperRow {
        number: 10,
        method: "TD-SPLIT (Ours)",
        ours: Some(Row::TdSplit),
        accuracy: Published {
            mean: 98.46,
            se: 0.17,
        },
        target_acquired: published(141.0, 14.0),
        target_acquired_from: None,
        minutes: published(43.0, 10.0),
    },
    PaperRow {
        number: 11,
        method: "TD-FT (Ours)",
        ours: Some(Row::TdFt),
        accuracy: Published {
            mean: 99.56,
            se: 0.10,
        },
        target_acquired: published(206.0, 38.0),
        target_acquired_from: None,
        minutes: published(57.0, 5.0),
    },
];

/// The rows Table 4 adds to Table 1's (numbered as in Table 4), with their Table 5
/// counts.
pub const TASK_DRIVEN_BASELINES: [PaperRow; 3] = [
    PaperRow {
        number: 8,
        method: "TD-SIMILAR (Kothawade et al., 2021)",
        ours: Some(Row::TdSimilar),
        accuracy: Published {
            mean: 98.05,
            se: 1.19,
        },
        target_acquired: published(493.0, 1.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 9,
        method: "TD-GALAXY (Zhang et al., 2022)",
        ours: Some(Row::TdGalaxy),
        accuracy: Published {
            mean: 99.30,
            se: 0.13,
        },
        target_acquired: published(262.0, 5.0),
        target_acquired_from: None,
        minutes: None,
    },
    PaperRow {
        number: 10,
        method: "TD-Cluster Margin (Citovsky et al., 2021)",
        ours: Some(Row::TdClusterMargin),
        accuracy: Published {
            mean: 99.32,
            se: 0.18,
        },
        target_acquired: published(268.0, 9.0),
        target_acquired_from: None,
        minutes: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_row_appears_exactly_once_in_table1() {
        for row in Row::ALL {
            let hits = TABLE1.iter().filter(|p| p.ours == Some(row)).count();
            assert_eq!(hits, 1, "{row:?}");
            let paper = TABLE1.iter().find(|p| p.ours == Some(row)).unwrap();
            let expected = match row {
                Row::UsEpig => "US+EPIG (VAE, Bickford Smith et al. (2024))",
                Row::UsRandom => "US Random (VAE)",
                Row::TdSplit => "TD-SPLIT (Ours)",
                Row::TdSplitRandom => "TD-SPLIT Random",
                Row::UsSimclrEpig => "US+EPIG (SimCLRv2, Bickford Smith et al. (2024))",
                Row::UsSimclrRandom => "US Random (SimCLRv2)",
                Row::TdFt => "TD-FT (Ours)",
                Row::TdFtRandom => "TD-FT Random",
                Row::Similar => "SIMILAR (Kothawade et al., 2021)",
                Row::Galaxy => "GALAXY (Zhang et al., 2022)",
                Row::ClusterMargin => "Cluster Margin (Citovsky et al., 2021)",
                other => panic!("{other:?} is not a Table 1 row"),
            };
            assert_eq!(paper.method, expected);
        }
        let numbers: Vec<usize> = TABLE1.iter().map(|p| p.number).collect();
        assert_eq!(numbers, (1..=11).collect::<Vec<_>>());
        assert!(TABLE1.iter().all(|p| p.ours.is_some()));
        let extra: Vec<Option<Row>> = TASK_DRIVEN_BASELINES.iter().map(|p| p.ours).collect();
        let expected: Vec<Option<Row>> = Row::EVERY[Row::ALL.len()..]
            .iter()
            .copied()
            .map(Some)
            .collect();
        assert_eq!(extra, expected);
    }

    /// Every implemented row's numbers as RESULTS.md copies them from the paper's Tables
    /// 1, 5 and 6 (F+MNIST column): (row, Table 1 number, accuracy, Table 5 count and
    /// the Table 5 row it comes from, Table 6 minutes).
    #[test]
    fn implemented_rows_carry_the_papers_numbers() {
        type Expected = (
            Row,
            usize,
            (f64, f64),
            (f64, f64),
            Option<&'static str>,
            Option<(f64, f64)>,
        );
        let expected: [Expected; 11] = [
            (Row::Similar, 1, (93.82, 0.18), (486.0, 6.0), None, None),
            (Row::Galaxy, 2, (84.74, 0.74), (118.0, 13.0), None, None),
            (
                Row::ClusterMargin,
                3,
                (94.24, 0.17),
                (32.0, 1.0),
                None,
                None,
            ),
            (
                Row::UsSimclrEpig,
                4,
                (98.53, 0.12),
                (119.0, 8.0),
                None,
                None,
            ),
            (Row::UsEpig, 5, (94.50, 0.34), (118.0, 4.0), None, None),
            (
                Row::UsSimclrRandom,
                6,
                (92.76, 2.37),
                (31.0, 2.0),
                Some("Random"),
                None,
            ),
            (
                Row::UsRandom,
                7,
                (86.50, 2.24),
                (31.0, 2.0),
                Some("Random"),
                None,
            ),
            (
                Row::TdFtRandom,
                8,
                (96.23, 0.37),
                (31.0, 2.0),
                Some("Random"),
                None,
            ),
            (
                Row::TdSplitRandom,
                9,
                (88.19, 2.62),
                (31.0, 2.0),
                Some("Random"),
                None,
            ),
            (
                Row::TdSplit,
                10,
                (98.46, 0.17),
                (141.0, 14.0),
                None,
                Some((43.0, 10.0)),
            ),
            (
                Row::TdFt,
                11,
                (99.56, 0.10),
                (206.0, 38.0),
                None,
                Some((57.0, 5.0)),
            ),
        ];
        let published = |(mean, se): (f64, f64)| Published { mean, se };
        for (row, number, accuracy, targets, from, minutes) in expected {
            let p = TABLE1.iter().find(|p| p.ours == Some(row)).unwrap();
            assert_eq!(p.number, number, "{row:?}");
            assert_eq!(p.accuracy, published(accuracy), "{row:?}");
            assert_eq!(p.target_acquired, Some(published(targets)), "{row:?}");
            assert_eq!(p.target_acquired_from, from, "{row:?}");
            assert_eq!(p.minutes, minutes.map(published), "{row:?}");
        }
        assert_eq!(expected.len(), Row::ALL.len());
    }
}
