//! Pools in `.npy` shards: blocks cover the concatenated pool exactly, in order and with
//! the right offsets, for every dtype, byte order and memory order; bad shards are clear
//! errors; a block's pages leave the process once the next block is asked for; the
//! streaming vector writer writes a valid `.npy`.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array3, Axis, concatenate};
use ndarray_npy::{read_npy, write_npy};
use proptest::prelude::*;
use tdal_data::Error;
use tdal_data::shards::{NpyVectorWriter, ShardedPool};
use tempfile::TempDir;

/// A pool `[n, k, c]` whose value at (i, j, l) encodes its position.
fn samples(offset: usize, n: usize, k: usize, c: usize) -> Array3<f32> {
    Array3::from_shape_fn((n, k, c), |(i, j, l)| {
        ((offset + i) * 1000 + j * 10 + l) as f32
    })
}

/// `.npy` bytes with any descriptor and memory order; `data` is already encoded.
fn npy_bytes(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    npy_bytes_aligned(descr, fortran, shape, data, 64)
}

/// As [`npy_bytes`], with the data starting at a multiple of `align` plus 1 when `align`
/// is 1 (a valid header that numpy would not write).
fn npy_bytes_aligned(
    descr: &str,
    fortran: bool,
    shape: &[usize],
    data: &[u8],
    align: usize,
) -> Vec<u8> {
    let shape: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if shape.len() == 1 {
        format!("({},)", shape[0])
    } else {
        format!("({})", shape.join(", "))
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    let target = if align == 1 { 1 } else { 0 };
    while (10 + dict.len() + 1) % 64 != target {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `array` as a shard in the given encoding.
fn write_shard(path: &Path, array: &Array3<f32>, encoding: &str) {
    let shape = array.shape().to_vec();
    match encoding {
        "f32" => write_npy(path, array).unwrap(),
        "f64" => write_npy(path, &array.mapv(f64::from)).unwrap(),
        "f32be" => {
            let data: Vec<u8> = array.iter().flat_map(|v| v.to_be_bytes()).collect();
            std::fs::write(path, npy_bytes(">f4", false, &shape, &data)).unwrap();
        }
        "f64be" => {
            let data: Vec<u8> = array
                .iter()
                .flat_map(|&v| f64::from(v).to_be_bytes())
                .collect();
            std::fs::write(path, npy_bytes(">f8", false, &shape, &data)).unwrap();
        }
        "f32fortran" => {
            // Fortran order (first axis fastest) is the standard order of the reversed axes.
            let data: Vec<u8> = array
                .view()
                .reversed_axes()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            std::fs::write(path, npy_bytes("<f4", true, &shape, &data)).unwrap();
        }
        other => panic!("unknown encoding {other}"),
    }
}

/// Every block, copied, with its offset and shard path.
fn read_blocks(pool: &ShardedPool, max_inputs: usize) -> Vec<(usize, PathBuf, Array3<f32>)> {
    let mut blocks = pool.blocks(max_inputs).unwrap();
    let mut out = Vec::new();
    while let Some(block) = blocks.next_block() {
        let block = block.unwrap();
        assert!(block.samples().dim().0 <= max_inputs);
        assert!(block.samples().is_standard_layout());
        out.push((
            block.offset(),
            block.shard().path().to_path_buf(),
            block.samples().to_owned(),
        ));
    }
    assert!(blocks.next_block().is_none(), "blocks stay exhausted");
    out
}

const ENCODINGS: [&str; 5] = ["f32", "f64", "f32be", "f64be", "f32fortran"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn blocks_cover_the_concatenated_shards_in_order(
        sizes in proptest::collection::vec(0usize..9, 1..5),
        encodings in proptest::collection::vec(0usize..ENCODINGS.len(), 5),
        k in 1usize..4,
        c in 1usize..4,
        max_inputs in 1usize..7,
    ) {
        let dir = TempDir::new().unwrap();
        let mut offset = 0;
        let mut parts = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let part = samples(offset, n, k, c);
            // Names sort in pool order: shard-00.npy, shard-01.npy, ...
            write_shard(&dir.path().join(format!("shard-{i:02}.npy")), &part, ENCODINGS[encodings[i]]);
            parts.push(part);
            offset += n;
        }
        let whole = concatenate(Axis(0), &parts.iter().map(|p| p.view()).collect::<Vec<_>>()).unwrap();

        let pool = ShardedPool::open(&[dir.path()]).unwrap();
        prop_assert_eq!(pool.dim(), (offset, k, c));
        prop_assert_eq!(pool.shards().len(), sizes.len());
        let mut expected_offset = 0;
        for (block_offset, path, block) in read_blocks(&pool, max_inputs) {
            prop_assert_eq!(block_offset, expected_offset);
            let shard = pool.shard_of(block_offset).unwrap();
            prop_assert_eq!(shard.path(), path.as_path());
            // Never straddles two shards.
            prop_assert!(block_offset + block.dim().0 <= shard.offset() + shard.len());
            let n = block.dim().0;
            prop_assert!(n >= 1);
            prop_assert_eq!(&block, &whole.slice(ndarray::s![block_offset..block_offset + n, .., ..]));
            expected_offset += n;
        }
        prop_assert_eq!(expected_offset, offset);
    }
}

#[test]
fn files_folders_and_their_order() {
    let dir = TempDir::new().unwrap();
    let d = |name: &str| dir.path().join(name);
    std::fs::create_dir(d("folder")).unwrap();
    // Sorted by file name, not by creation order; other files are ignored.
    write_shard(&d("folder/b.npy"), &samples(2, 3, 2, 2), "f32");
    write_shard(&d("folder/a.npy"), &samples(0, 2, 2, 2), "f64");
    std::fs::write(d("folder/notes.txt"), "not a shard").unwrap();
    write_shard(&d("last.npy"), &samples(5, 1, 2, 2), "f32");

    let pool = ShardedPool::open(&[d("folder"), d("last.npy")]).unwrap();
    let names: Vec<&str> = pool
        .shards()
        .iter()
        .map(|s| s.path().file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["a.npy", "b.npy", "last.npy"]);
    let offsets: Vec<usize> = pool
        .shards()
        .iter()
        .map(tdal_data::shards::Shard::offset)
        .collect();
    assert_eq!(offsets, [0, 2, 5]);
    assert_eq!(pool.dim(), (6, 2, 2));
    assert_eq!(pool.shards()[0].dtype(), "float64");
    assert!(!pool.shards()[0].is_viewed_in_place());
    assert!(pool.shards()[1].is_viewed_in_place() == cfg!(target_endian = "little"));
    assert_eq!(pool.shard_of(4).unwrap().offset(), 2);
    assert!(pool.shard_of(6).is_none());
    let blocks = read_blocks(&pool, 100);
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[2].2, samples(5, 1, 2, 2));
}

/// The error `ShardedPool::open` returns for `paths`.
fn open_error<P: AsRef<Path>>(paths: &[P]) -> Error {
    ShardedPool::open(paths).expect_err("the pool should be rejected")
}

#[test]
fn bad_shards_are_clear_errors() {
    let dir = TempDir::new().unwrap();
    let d = |name: &str| dir.path().join(name);

    std::fs::create_dir(d("empty")).unwrap();
    let e = open_error(&[d("empty")]);
    assert!(matches!(e, Error::Missing { .. }), "{e}");
    assert!(e.to_string().contains("no .npy file"), "{e}");

    let e = open_error(&[d("missing.npy")]);
    assert!(
        matches!(e, Error::Missing { .. }) && e.to_string().contains("missing.npy"),
        "{e}"
    );
    assert!(matches!(open_error::<PathBuf>(&[]), Error::Missing { .. }));

    write_shard(&d("k2.npy"), &samples(0, 2, 2, 3), "f32");
    write_shard(&d("k3.npy"), &samples(0, 2, 3, 3), "f32");
    let e = open_error(&[d("k2.npy"), d("k3.npy")]);
    assert!(matches!(e, Error::Shape(_)), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("K=3") && message.contains("K=2") && message.contains("k3.npy"),
        "{message}"
    );

    write_npy(d("rank2.npy"), &ndarray::Array2::<f32>::zeros((4, 3))).unwrap();
    let e = open_error(&[d("rank2.npy")]);
    assert!(
        matches!(e, Error::Format { .. }) && e.to_string().contains("[N, K, C]"),
        "{e}"
    );

    write_npy(d("ints.npy"), &Array3::<i32>::zeros((2, 2, 2))).unwrap();
    let e = open_error(&[d("ints.npy")]);
    assert!(e.to_string().contains("float32 or float64"), "{e}");

    write_npy(d("no_classes.npy"), &Array3::<f32>::zeros((2, 2, 0))).unwrap();
    let e = open_error(&[d("no_classes.npy")]);
    assert!(e.to_string().contains("C ≥ 1"), "{e}");

    std::fs::write(d("garbage.npy"), b"this is not an npy file").unwrap();
    let e = open_error(&[d("garbage.npy")]);
    assert!(e.to_string().contains("not a valid .npy"), "{e}");

    let full = npy_bytes("<f4", false, &[4, 2, 2], &[0u8; 4 * 2 * 2 * 4]);
    std::fs::write(d("truncated.npy"), &full[..full.len() - 5]).unwrap();
    let e = open_error(&[d("truncated.npy")]);
    assert!(
        matches!(
            e,
            Error::Truncated {
                expected: 64,
                found: 59,
                ..
            }
        ),
        "{e}"
    );
    let mut long = full.clone();
    long.extend_from_slice(&[0; 8]);
    std::fs::write(d("long.npy"), long).unwrap();
    let e = open_error(&[d("long.npy")]);
    assert!(e.to_string().contains("8 bytes follow"), "{e}");

    let pool = ShardedPool::open(&[d("k2.npy")]).unwrap();
    assert!(matches!(pool.blocks(0), Err(Error::Config(_))));
}

#[test]
fn unaligned_float32_data_is_converted_instead_of_viewed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("odd.npy");
    let array = samples(0, 5, 3, 2);
    let data: Vec<u8> = array.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, npy_bytes_aligned("<f4", false, &[5, 3, 2], &data, 1)).unwrap();
    let pool = ShardedPool::open(&[&path]).unwrap();
    assert!(!pool.shards()[0].is_viewed_in_place());
    let blocks = read_blocks(&pool, 2);
    let joined: Vec<f32> = blocks
        .iter()
        .flat_map(|(_, _, b)| b.iter().copied())
        .collect();
    assert_eq!(joined, array.iter().copied().collect::<Vec<_>>());
}

#[test]
fn empty_shards_are_skipped() {
    let dir = TempDir::new().unwrap();
    write_shard(&dir.path().join("a.npy"), &samples(0, 0, 2, 2), "f32");
    write_shard(&dir.path().join("b.npy"), &samples(0, 2, 2, 2), "f32");
    write_shard(&dir.path().join("c.npy"), &samples(2, 0, 2, 2), "f64");
    let pool = ShardedPool::open(&[dir.path()]).unwrap();
    assert_eq!(pool.len(), 2);
    let blocks = read_blocks(&pool, 5);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, 0);

    let dir = TempDir::new().unwrap();
    write_shard(&dir.path().join("a.npy"), &samples(0, 0, 2, 2), "f32");
    let pool = ShardedPool::open(&[dir.path()]).unwrap();
    assert!(pool.is_empty());
    assert!(read_blocks(&pool, 5).is_empty());
}

#[test]
fn vector_writer_streams_a_valid_npy() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("scores.npy");
    let values: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 3.0).collect();
    let mut writer = NpyVectorWriter::new(std::fs::File::create(&path).unwrap(), 1000).unwrap();
    for chunk in values.chunks(333) {
        writer.write(chunk).unwrap();
    }
    writer.finish().unwrap();
    let back: Array1<f32> = read_npy(&path).unwrap();
    assert_eq!(back.to_vec(), values);

    let mut short = NpyVectorWriter::new(Vec::new(), 3).unwrap();
    short.write(&[1.0, 2.0]).unwrap();
    assert!(
        short.write(&[3.0, 4.0]).is_err(),
        "more values than announced"
    );
    assert!(short.finish().is_err(), "fewer values than announced");
}

/// Resident bytes of the mapping of `path` in this process (Linux `/proc/self/smaps`).
#[cfg(target_os = "linux")]
fn mapped_rss(path: &Path) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut in_mapping = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            in_mapping = line.ends_with(name);
        } else if in_mapping && first == "Rss:" {
            let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            total += kib * 1024;
        }
    }
    total
}

#[cfg(target_os = "linux")]
#[test]
fn a_block_leaves_memory_once_the_next_is_asked_for() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big.npy");
    // 32 MiB of f32 samples, read in blocks of 512 inputs × 4 KiB = 2 MiB.
    let (n, k, c) = (8192, 256, 4);
    write_npy(&path, &Array3::<f32>::from_elem((n, k, c), 0.25)).unwrap();
    let block_bytes = 512 * k * c * 4;
    let pool = ShardedPool::open(&[&path]).unwrap();
    assert!(pool.shards()[0].is_viewed_in_place());
    let mut blocks = pool.blocks(512).unwrap();
    let mut seen = 0;
    let mut peak = 0;
    while let Some(block) = blocks.next_block() {
        let block = block.unwrap();
        assert_eq!(block.samples()[[0, 0, 0]], 0.25);
        seen += block.samples().dim().0;
        // The current block is resident (its pages were read in).
        let rss = mapped_rss(&path);
        assert!(rss >= block_bytes, "current block not resident: {rss}");
        peak = peak.max(rss);
    }
    drop(blocks);
    assert_eq!(seen, n);
    // The current block and the next one (read ahead while the current one is used), plus
    // what the kernel maps around a fault (fault-around maps whole page-cache folios, up to
    // 2 MiB on each side): never the 32 MiB file.
    let folio = 2 << 20;
    assert!(
        peak <= 2 * block_bytes + 2 * folio,
        "peak resident {peak} bytes"
    );
    // After the last block, at most the folios fault-around mapped on either side of the
    // last page touched (one was 2,166,784 bytes on a loaded CI machine).
    let left = mapped_rss(&path);
    assert!(
        left <= 2 * folio,
        "{left} bytes still resident after the last block"
    );
}
