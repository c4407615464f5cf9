//! Pools of posterior samples `[N, K, C]` larger than memory, read from `.npy` shards.
//!
//! A pool may be one `.npy` file, several, or a folder of them (every `*.npy` in it, sorted
//! by file name); the shards are concatenated along N in that order, and must agree on K
//! and C. Each file is memory-mapped read-only and handed out in blocks of at most a
//! chosen number of inputs ([`ShardedPool::blocks`]), each with its global offset in the
//! pool, so that a scorer holds one block at a time whatever N is:
//!
//! - little-endian float32 in C order (what `numpy.save` writes on x86-64 and ARM) is
//!   viewed in place, without a copy (ndarray-npy's `ViewNpyExt` over the map);
//! - float64, big-endian or Fortran-ordered shards are converted block by block into one
//!   reused float32 buffer, never the whole shard.
//!
//! Resident memory stays bounded and the disk works while the caller computes: before a
//! block is returned its pages are read in (so a scorer's timing does not include the
//! disk), a helper thread reads the next block into the page cache while the caller works
//! on this one, and once the caller asks for the next block the previous block's pages are
//! released from the process (`madvise(MADV_DONTNEED)`; they stay in the page cache, not in
//! the process's resident set). [`NpyVectorWriter`] writes the float32 `[N]` output in
//! the same streaming way: header first, then block after block.
//!
//! Every problem is a typed [`Error`] naming the file: an empty folder, a file that is not
//! `.npy`, a rank other than 3, a dtype other than float32/float64, K or C differing
//! between shards, data shorter (or longer) than the header announces. A shard must not be
//! modified or truncated while it is being read (it is memory-mapped).
//!
//! ```
//! use ndarray::Array3;
//! use tdal_data::shards::ShardedPool;
//!
//! let dir = tempfile::tempdir()?;
//! for (name, n) in [("a.npy", 3), ("b.npy", 2)] {
//!     let samples = Array3::<f32>::from_elem((n, 4, 2), 0.5);
//!     ndarray_npy::write_npy(dir.path().join(name), &samples)?;
//! }
//! let pool = ShardedPool::open(&[dir.path()])?;
//! assert_eq!(pool.dim(), (5, 4, 2));
//! let mut blocks = pool.blocks(2)?;
//! let mut offsets = Vec::new();
//! while let Some(block) = blocks.next_block() {
//!     let block = block?;
//!     offsets.push((block.offset(), block.samples().dim().0));
//! }
//! // Blocks never straddle two shards.
//! assert_eq!(offsets, vec![(0, 2), (2, 1), (3, 2)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use memmap2::Mmap;
use ndarray::{ArrayView3, s};
use ndarray_npy::ViewNpyExt;
use ndarray_npy::npy::header::{Header, Layout};

use crate::{Error, Result};

/// The format name in error messages.
const NPY: &str = ".npy";

/// Granularity at which a block's pages are read in.
const PAGE: usize = 4096;

/// How a shard's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    /// float32, little-endian (`<f4`).
    F32Le,
    /// float32, big-endian (`>f4`).
    F32Be,
    /// float64, little-endian (`<f8`).
    F64Le,
    /// float64, big-endian (`>f8`).
    F64Be,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        let native_le = cfg!(target_endian = "little");
        match descr {
            "<f4" => Some(Self::F32Le),
            ">f4" => Some(Self::F32Be),
            "=f4" if native_le => Some(Self::F32Le),
            "=f4" => Some(Self::F32Be),
            "<f8" => Some(Self::F64Le),
            ">f8" => Some(Self::F64Be),
            "=f8" if native_le => Some(Self::F64Le),
            "=f8" => Some(Self::F64Be),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Self::F32Le | Self::F32Be => 4,
            Self::F64Le | Self::F64Be => 8,
        }
    }

    /// The numpy name, for messages.
    fn name(self) -> &'static str {
        match self {
            Self::F32Le | Self::F32Be => "float32",
            Self::F64Le | Self::F64Be => "float64",
        }
    }

    /// Decodes `bytes` (whole values) into `out`, one f32 per value.
    #[allow(clippy::cast_possible_truncation)]
    fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Self::F32Le => decode_into(bytes, out, |b: [u8; 4]| f32::from_le_bytes(b)),
            Self::F32Be => decode_into(bytes, out, |b: [u8; 4]| f32::from_be_bytes(b)),
            Self::F64Le => decode_into(bytes, out, |b: [u8; 8]| f64::from_le_bytes(b) as f32),
            Self::F64Be => decode_into(bytes, out, |b: [u8; 8]| f64::from_be_bytes(b) as f32),
        }
    }
}

#[inline]
fn decode_into<const W: usize>(bytes: &[u8], out: &mut [f32], value: impl Fn([u8; W]) -> f32) {
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(W)) {
        let mut word = [0u8; W];
        word.copy_from_slice(chunk);
        *o = value(word);
    }
}

/// One `.npy` file of a [`ShardedPool`]: inputs `offset..offset + len` of the pool.
#[derive(Debug)]
pub struct Shard {
    path: PathBuf,
    /// The map, shared with the read-ahead thread.
    map: Arc<Mmap>,
    offset: usize,
    len: usize,
    /// Byte position of the first value in the file.
    data_start: usize,
    dtype: Dtype,
    fortran: bool,
}

impl Shard {
    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Global index of the shard's first input in the pool.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of inputs (its N).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the shard holds no input.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `"float32"` or `"float64"`.
    #[must_use]
    pub fn dtype(&self) -> &'static str {
        self.dtype.name()
    }

    /// Whether blocks are views of the file itself (little-endian float32 in C order on a
    /// little-endian machine, with the data 4-byte aligned as numpy writes it) rather than
    /// converted copies.
    #[must_use]
    pub fn is_viewed_in_place(&self) -> bool {
        self.dtype == Dtype::F32Le
            && !self.fortran
            && cfg!(target_endian = "little")
            && self.data_start.is_multiple_of(std::mem::align_of::<f32>())
    }
}

/// A pool of posterior samples `[N, K, C]` split over `.npy` files, memory-mapped.
///
/// # Shapes
/// Every shard is `[N_i, K, C]` with the same K ≥ 1 and C ≥ 1; the pool is `[Σ N_i, K, C]`.
#[derive(Debug)]
pub struct ShardedPool {
    shards: Vec<Shard>,
    len: usize,
    samples: usize,
    classes: usize,
}

impl ShardedPool {
    /// Opens a pool from `paths`, each a `.npy` file or a folder whose `*.npy` files
    /// (sorted by file name, not recursive) are its shards, in the order given.
    ///
    /// Only the headers are read here; data is read block by block ([`Self::blocks`]).
    ///
    /// # Errors
    /// [`Error::Missing`] for a path that does not exist, an empty list or a folder with no
    /// `.npy` file; [`Error::Io`] when a file cannot be opened or mapped; [`Error::Format`]
    /// for a malformed header, a rank other than 3, a dtype other than float32/float64, an
    /// empty K or C axis, or bytes beyond the announced data; [`Error::Truncated`] when
    /// the data ends early; [`Error::Shape`] when K or C differs between shards.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let files = npy_files(paths)?;
        let mut shards: Vec<Shard> = Vec::with_capacity(files.len());
        let mut dims: Option<(usize, usize, PathBuf)> = None;
        let mut offset = 0usize;
        for path in files {
            let (shard, samples, classes) = open_shard(path, offset)?;
            match &dims {
                None => dims = Some((samples, classes, shard.path.clone())),
                Some((k, c, first)) if (*k, *c) != (samples, classes) => {
                    return Err(Error::Shape(format!(
                        "{} holds posterior samples [N, K={samples}, C={classes}] but {} holds \
                         [N, K={k}, C={c}]; every shard of a pool must hold the same K \
                         posterior samples over the same C classes",
                        shard.path.display(),
                        first.display()
                    )));
                }
                Some(_) => {}
            }
            offset = offset.checked_add(shard.len).ok_or_else(|| {
                Error::Shape("the shards hold more inputs than this machine can index".into())
            })?;
            shards.push(shard);
        }
        let (samples, classes, _) = dims.ok_or_else(no_files)?;
        Ok(Self {
            shards,
            len: offset,
            samples,
            classes,
        })
    }

    /// Total number of inputs N.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool holds no input (every shard has N = 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(N, K, C)`.
    #[must_use]
    pub fn dim(&self) -> (usize, usize, usize) {
        (self.len, self.samples, self.classes)
    }

    /// The shards, in pool order.
    #[must_use]
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The pool's files for messages: the path of a single file, else "the N pool shards".
    #[must_use]
    pub fn describe(&self) -> String {
        match self.shards.as_slice() {
            [one] => one.path().display().to_string(),
            shards => format!("the {} pool shards", shards.len()),
        }
    }

    /// Where a block of `shard` is, for messages: "in FILE", plus its input range in the
    /// whole pool when there are several files or the pool starts at `offset` > 0 of a
    /// larger one.
    #[must_use]
    pub fn locate(&self, shard: &Shard, offset: usize) -> String {
        if self.shards.len() == 1 && offset == 0 {
            format!("in {}", shard.path().display())
        } else {
            let first = offset + shard.offset();
            format!(
                "in {} (pool inputs {first}..{})",
                shard.path().display(),
                first + shard.len()
            )
        }
    }

    /// The shard holding global input `index`, if any.
    #[must_use]
    pub fn shard_of(&self, index: usize) -> Option<&Shard> {
        let after = self.shards.partition_point(|s| s.offset + s.len <= index);
        self.shards.get(after).filter(|s| index >= s.offset)
    }

    /// Blocks of at most `max_inputs` inputs, in pool order; a block never straddles two
    /// shards.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_inputs` is 0.
    pub fn blocks(&self, max_inputs: usize) -> Result<Blocks<'_>> {
        if max_inputs == 0 {
            return Err(Error::Config(
                "a block must hold at least one input (got a block size of 0)".into(),
            ));
        }
        Ok(Blocks {
            pool: self,
            max_inputs,
            shard: 0,
            next: 0,
            buffer: Vec::new(),
            release: Vec::new(),
            release_shard: 0,
            read_ahead: ReadAheadThread::spawn(),
        })
    }
}

fn no_files() -> Error {
    Error::Missing {
        what: ".npy files".into(),
        looked_for: "no path given".into(),
        hint: "name at least one .npy file or a folder holding .npy files".into(),
    }
}

/// The `.npy` files `paths` name, in order: a file as it is, a folder as its `*.npy`
/// files sorted by file name (not recursive). This is how a pool's shards, or the score
/// files of a pool in shards, are listed.
///
/// # Errors
/// [`Error::Missing`] for an empty list, a path that does not exist or a folder with no
/// `.npy` file; [`Error::Io`] when a folder cannot be listed.
pub fn npy_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return Err(no_files());
    }
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|e| missing_or_io(path, e))?;
        if !metadata.is_dir() {
            files.push(path.to_path_buf());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(path, e)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "npy") && p.is_file())
            .collect();
        if found.is_empty() {
            return Err(Error::Missing {
                what: ".npy files".into(),
                looked_for: format!("*.npy in {}", path.display()),
                hint: "the folder holds no .npy file; write the shards there with numpy.save"
                    .into(),
            });
        }
        found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files.extend(found);
    }
    Ok(files)
}

fn missing_or_io(path: &Path, err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::Missing {
            what: "file".into(),
            looked_for: path.display().to_string(),
            hint: "check the path".into(),
        }
    } else {
        Error::io(path, err)
    }
}

/// Maps `path` and checks its header: returns the shard and its (K, C).
fn open_shard(path: PathBuf, offset: usize) -> Result<(Shard, usize, usize)> {
    let file = File::open(&path).map_err(|e| missing_or_io(&path, e))?;
    let map = map_read_only(&file).map_err(|e| Error::io(&path, e))?;
    let bad = |detail: String| Error::format(&path, NPY, detail);

    let mut reader: &[u8] = &map;
    let header = Header::from_reader(&mut reader)
        .map_err(|e| bad(format!("{e} (write it with numpy.save)")))?;
    let data_start = map.len() - reader.len();
    let descr = header
        .type_descriptor
        .as_string()
        .map_or_else(|| header.type_descriptor.to_string(), Clone::clone);
    let dtype = Dtype::parse(&descr).ok_or_else(|| {
        bad(format!(
            "expected float32 or float64 values, found dtype {descr:?}; save the pool with \
             .astype('float32')"
        ))
    })?;
    let &[len, samples, classes] = header.shape.as_slice() else {
        return Err(bad(format!(
            "expected posterior samples of shape [N, K, C], found {} axes {:?}",
            header.shape.len(),
            header.shape
        )));
    };
    if samples == 0 || classes == 0 {
        return Err(bad(format!(
            "expected posterior samples [N, K, C] with K ≥ 1 and C ≥ 1, found {:?}",
            header.shape
        )));
    }
    let expected = len
        .checked_mul(samples)
        .and_then(|v| v.checked_mul(classes))
        .and_then(|v| v.checked_mul(dtype.size()))
        .ok_or_else(|| bad(format!("the shape {:?} overflows", header.shape)))?;
    let found = map.len() - data_start;
    if found < expected {
        return Err(Error::Truncated {
            path,
            expected: expected as u64,
            found: found as u64,
        });
    }
    if found > expected {
        return Err(bad(format!(
            "{} bytes follow the {expected} bytes of data its header announces; the file is \
             not one array",
            found - expected
        )));
    }
    advise_sequential(&map);
    let shard = Shard {
        path,
        map: Arc::new(map),
        offset,
        len,
        data_start,
        dtype,
        fortran: header.layout == Layout::Fortran,
    };
    Ok((shard, samples, classes))
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the map is read-only and only ever read through `&[u8]`. Memory-mapping is
    // sound as long as no other process modifies or truncates the file while it is mapped;
    // the module documentation states that requirement for shards.
    unsafe { Mmap::map(file) }
}

/// Tells the kernel the shard will be read front to back (larger read-ahead).
fn advise_sequential(map: &Mmap) {
    #[cfg(unix)]
    {
        // Advice only: ignoring a refusal costs speed, never correctness.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    #[cfg(not(unix))]
    let _ = map;
}

/// A range of a shard to read in ahead of its use.
struct ReadAhead {
    map: Arc<Mmap>,
    start: usize,
    len: usize,
}

/// How many read-ahead requests the thread has completed.
#[derive(Debug, Default)]
struct Completed {
    count: Mutex<usize>,
    changed: Condvar,
}

/// A thread that reads the next block in (faults its pages into the map, as the caller
/// would) while the current one is scored, so that the disk works during the computation.
/// `madvise(MADV_WILLNEED)` did not give that overlap here (the kernel read the range while
/// the caller waited), and copying the data out with `pread` cost more CPU than the
/// faults.
#[derive(Debug)]
struct ReadAheadThread {
    requests: Option<Sender<ReadAhead>>,
    worker: Option<JoinHandle<()>>,
    sent: usize,
    completed: Arc<Completed>,
}

impl ReadAheadThread {
    /// Starts the thread; `None` if it cannot be started (blocks are then read when they
    /// are asked for).
    fn spawn() -> Option<Self> {
        let (requests, queue) = channel::<ReadAhead>();
        let completed = Arc::new(Completed::default());
        let progress = Arc::clone(&completed);
        let worker = std::thread::Builder::new()
            .name("tdal-read-ahead".into())
            .spawn(move || {
                for range in queue {
                    read_in(&range.map[range.start..range.start + range.len]);
                    let mut count = progress
                        .count
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    *count += 1;
                    progress.changed.notify_all();
                }
            })
            .ok()?;
        Some(Self {
            requests: Some(requests),
            worker: Some(worker),
            sent: 0,
            completed,
        })
    }

    fn request(&mut self, map: &Arc<Mmap>, start: usize, len: usize) {
        if let Some(requests) = &self.requests
            && len > 0
            && requests
                .send(ReadAhead {
                    map: Arc::clone(map),
                    start,
                    len,
                })
                .is_ok()
        {
            self.sent += 1;
        }
    }

    /// Waits until at most `pending` requests are still being served, so that a range is
    /// never read in again after it was released.
    fn wait_until_pending(&self, pending: usize) {
        let target = self.sent.saturating_sub(pending);
        let mut count = self
            .completed
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *count < target {
            count = self
                .completed
                .changed
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for ReadAheadThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current request.
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Drops `len` bytes at `start` of `map` from the process's resident set.
#[allow(unsafe_code)]
fn release(map: &Mmap, start: usize, len: usize) {
    #[cfg(unix)]
    {
        if len > 0 {
            // SAFETY: `map` is a shared, read-only mapping of a file that is not modified
            // while mapped (see `map_read_only`), so MADV_DONTNEED only drops page-table
            // entries: a later read of the range faults the same file contents back in.
            // No borrow of the range is alive: the block that viewed it borrowed the
            // `Blocks` mutably, and that borrow ended before this call.
            // Advice only: a refusal leaves the pages resident, which is merely slower.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len)
            };
        }
    }
    #[cfg(not(unix))]
    let _ = (map, start, len);
}

/// Reads one byte per page of `bytes` so that the block is resident before it is used.
fn read_in(bytes: &[u8]) {
    let mut acc = 0u8;
    for i in (0..bytes.len()).step_by(PAGE) {
        acc ^= bytes[i];
    }
    if let Some(&last) = bytes.last() {
        acc ^= last;
    }
    std::hint::black_box(acc);
}

/// The blocks of a [`ShardedPool`], one at a time ([`Blocks::next_block`]).
///
/// Not a `std::iter::Iterator`: a block may live in a buffer that the next block reuses,
/// so each block borrows the `Blocks` until the next call.
#[derive(Debug)]
pub struct Blocks<'a> {
    pool: &'a ShardedPool,
    max_inputs: usize,
    /// Current shard.
    shard: usize,
    /// Next input of the current shard.
    next: usize,
    /// The converted block (for shards that are not viewed in place).
    buffer: Vec<f32>,
    /// Byte ranges `(start, len)` of the previous block, released on the next call.
    release: Vec<(usize, usize)>,
    /// The shard those ranges belong to.
    release_shard: usize,
    /// Reads the next block ahead, if it could be started.
    read_ahead: Option<ReadAheadThread>,
}

/// One block of a [`ShardedPool`]: the inputs `offset..offset + n` of the pool.
#[derive(Debug)]
pub struct Block<'b> {
    offset: usize,
    shard: &'b Shard,
    samples: ArrayView3<'b, f32>,
}

impl<'b> Block<'b> {
    /// Global index of the block's first input.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The shard the block comes from.
    #[must_use]
    pub fn shard(&self) -> &'b Shard {
        self.shard
    }

    /// The posterior samples, `[n, K, C]`, in standard (C) layout.
    #[must_use]
    pub fn samples(&self) -> ArrayView3<'b, f32> {
        self.samples
    }
}

impl Blocks<'_> {
    /// The next block, or `None` after the last one.
    ///
    /// The previous block's pages are released first (see the module documentation).
    ///
    /// # Errors
    /// [`Error::Format`] if a shard's data cannot be viewed (never expected once
    /// [`ShardedPool::open`] accepted it).
    pub fn next_block(&mut self) -> Option<Result<Block<'_>>> {
        self.release_previous();
        let pool = self.pool;
        while self.shard < pool.shards.len() && self.next >= pool.shards[self.shard].len {
            self.shard += 1;
            self.next = 0;
        }
        let shard = pool.shards.get(self.shard)?;
        let start = self.next;
        let end = shard.len.min(start + self.max_inputs);
        self.next = end;
        self.release_shard = self.shard;
        Some(self.load(shard, start, end))
    }

    fn load<'s>(&'s mut self, shard: &'s Shard, start: usize, end: usize) -> Result<Block<'s>> {
        let (k, c) = (self.pool.samples, self.pool.classes);
        let slab = k * c;
        let size = shard.dtype.size();
        let n = end - start;
        self.prefetch(shard, end);
        let samples = if shard.fortran {
            // Element (i, k, c) is at i + N·(k + K·c): one contiguous run of n values per
            // (k, c) column.
            self.buffer.resize(n * slab, 0.0);
            for column in 0..slab {
                let (kk, cc) = (column / c, column % c);
                let first = start + shard.len * (kk + k * cc);
                let range = (shard.data_start + first * size, n * size);
                let bytes = &shard.map[range.0..range.0 + range.1];
                self.release.push(range);
                for (i, value) in bytes.chunks_exact(size).enumerate() {
                    let out = &mut self.buffer[i * slab + kk * c + cc];
                    shard.dtype.decode(value, std::slice::from_mut(out));
                }
            }
            ArrayView3::from_shape((n, k, c), &self.buffer[..])
                .map_err(|e| Error::format(&shard.path, NPY, e.to_string()))?
        } else {
            let range = (shard.data_start + start * slab * size, n * slab * size);
            self.release.push(range);
            let bytes = &shard.map[range.0..range.0 + range.1];
            if shard.is_viewed_in_place() {
                read_in(bytes);
                let whole = ArrayView3::<f32>::view_npy(&shard.map[..])
                    .map_err(|e| Error::format(&shard.path, NPY, e.to_string()))?;
                whole.slice_move(s![start..end, .., ..])
            } else {
                self.buffer.resize(n * slab, 0.0);
                shard.dtype.decode(bytes, &mut self.buffer);
                ArrayView3::from_shape((n, k, c), &self.buffer[..])
                    .map_err(|e| Error::format(&shard.path, NPY, e.to_string()))?
            }
        };
        Ok(Block {
            offset: shard.offset + start,
            shard,
            samples,
        })
    }

    /// Asks for the block after `end` of `shard` (or the next shard's first) to be read
    /// ahead.
    fn prefetch(&mut self, shard: &Shard, end: usize) {
        let Some(read_ahead) = &mut self.read_ahead else {
            return;
        };
        let slab = self.pool.samples * self.pool.classes;
        let (target, start) = if end < shard.len {
            (shard, end)
        } else if let Some(next) = self.pool.shards[self.shard + 1..]
            .iter()
            .find(|s| s.len > 0)
        {
            (next, 0)
        } else {
            return;
        };
        if target.fortran {
            return;
        }
        let n = (target.len - start).min(self.max_inputs);
        let size = target.dtype.size();
        read_ahead.request(
            &target.map,
            target.data_start + start * slab * size,
            n * slab * size,
        );
    }

    fn release_previous(&mut self) {
        if self.release.is_empty() {
            return;
        }
        // The request for the block about to be loaded may still run; earlier ones, which
        // could touch the ranges released here, must be done.
        if let Some(read_ahead) = &self.read_ahead {
            read_ahead.wait_until_pending(1);
        }
        if let Some(shard) = self.pool.shards.get(self.release_shard) {
            for &(start, len) in &self.release {
                release(&shard.map, start, len);
            }
        }
        self.release.clear();
    }
}

impl Drop for Blocks<'_> {
    fn drop(&mut self) {
        if let Some(read_ahead) = &self.read_ahead {
            read_ahead.wait_until_pending(0);
        }
        self.release_previous();
    }
}

/// Writes a float32 vector `[len]` as an `.npy` stream: the header first, then the values
/// as they come, little-endian, so that an output of any length is written with bounded
/// memory.
///
/// # Shapes
/// Exactly `len` values must be written before [`NpyVectorWriter::finish`].
#[derive(Debug)]
pub struct NpyVectorWriter<W: Write> {
    inner: W,
    len: usize,
    written: usize,
    bytes: Vec<u8>,
}

impl<W: Write> NpyVectorWriter<W> {
    /// Writes the header of a float32 `[len]` array to `inner`.
    ///
    /// # Errors
    /// What `inner` returns.
    pub fn new(mut inner: W, len: usize) -> std::io::Result<Self> {
        inner.write_all(&vector_header(len))?;
        Ok(Self {
            inner,
            len,
            written: 0,
            bytes: Vec::new(),
        })
    }

    /// Appends `values`.
    ///
    /// # Errors
    /// `InvalidInput` when more than `len` values would be written; what `inner` returns.
    pub fn write(&mut self, values: &[f32]) -> std::io::Result<()> {
        if self.written + values.len() > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the .npy header announces {} values but {} were written",
                    self.len,
                    self.written + values.len()
                ),
            ));
        }
        self.bytes.clear();
        self.bytes
            .extend(values.iter().flat_map(|v| v.to_le_bytes()));
        self.inner.write_all(&self.bytes)?;
        self.written += values.len();
        Ok(())
    }

    /// Checks that every announced value was written and returns the writer.
    ///
    /// # Errors
    /// `InvalidData` when fewer than `len` values were written.
    pub fn finish(self) -> std::io::Result<W> {
        if self.written != self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the .npy header announces {} values but only {} were written",
                    self.len, self.written
                ),
            ));
        }
        Ok(self.inner)
    }
}

/// The `.npy` (format 1.0) header of a little-endian float32 `[len]` array, padded so the
/// data starts at a multiple of 64 bytes as numpy does.
fn vector_header(len: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({len},), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let header_len = total - 10;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    // A shape of any usize fits: the dict stays far below 65,535 bytes.
    out.extend_from_slice(&u16::try_from(header_len).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_header_is_64_byte_aligned_and_readable() {
        for len in [0usize, 1, 7, 123_456_789_012] {
            let header = vector_header(len);
            assert_eq!(header.len() % 64, 0);
            let parsed = Header::from_reader(&mut &header[..]).unwrap();
            assert_eq!(parsed.shape, vec![len]);
            assert_eq!(parsed.layout, Layout::Standard);
        }
    }
}
