//! Arbitrary bytes into every binary parser: a typed error or a value, never a panic or a
//! huge allocation.

mod common;

use std::path::Path;

use common::{arbitrary_idx_like, gzip};
use proptest::prelude::*;
use tdal_data::chexpert::{ChexpertOptions, parse_chexpert_csv};
use tdal_data::cifar::{CifarKind, parse_cifar};
use tdal_data::idx::read_idx;
use tdal_data::npy::{parse_npy_images, parse_npy_labels};

fn origin() -> &'static Path {
    Path::new("<fuzz>")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn idx_parser_never_panics_on_arbitrary_bytes(bytes in arbitrary_idx_like()) {
        if let Ok(array) = read_idx(&bytes[..], origin()) {
            prop_assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        }
    }

    #[test]
    fn idx_parser_never_panics_on_arbitrary_gzip(bytes in arbitrary_idx_like(), flip in any::<(usize, u8)>()) {
        let mut compressed = gzip(&bytes);
        let at = flip.0 % compressed.len();
        compressed[at] ^= flip.1;
        let stream = flate2::read::MultiGzDecoder::new(&compressed[..]);
        let _ = read_idx(stream, origin());
    }

    #[test]
    fn cifar_parser_never_panics_on_arbitrary_bytes(
        len in prop_oneof![0usize..10, 3070usize..3080, 6140usize..6160],
        fill in any::<u8>(),
        fine in any::<bool>(),
    ) {
        let bytes = vec![fill; len];
        let kind = if fine { CifarKind::Cifar100Fine } else { CifarKind::Cifar10 };
        if let Ok((pixels, labels)) = parse_cifar(&bytes, kind, origin()) {
            prop_assert_eq!(pixels.len(), labels.len() * 3072);
            prop_assert!(labels.iter().all(|&l| (l as usize) < kind.classes()));
        }
    }

    #[test]
    fn npy_parsers_never_panic_on_arbitrary_bytes(
        tail in proptest::collection::vec(any::<u8>(), 0..200),
        header in "\\{'descr': '(<u1|<f4|<i8|>f8|\\|b1)', 'fortran_order': (False|True), 'shape': \\(([0-9]{1,12}, ){0,3}\\), \\}",
        raw in any::<bool>(),
    ) {
        let bytes = if raw {
            tail
        } else {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(header.len() as u16).to_le_bytes());
            b.extend_from_slice(header.as_bytes());
            b.extend_from_slice(&tail);
            b
        };
        let _ = parse_npy_images(&bytes, origin());
        let _ = parse_npy_labels(&bytes, origin());
    }

    #[test]
    fn chexpert_csv_parser_never_panics(text in "[A-Za-z ,/.\\n01-]{0,200}") {
        let _ = parse_chexpert_csv(text.as_bytes(), &ChexpertOptions::default(), origin());
    }
}
