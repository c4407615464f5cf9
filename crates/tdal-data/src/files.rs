//! File helpers shared by the readers: open a file as a byte stream that is transparently
//! gunzipped when it starts with the gzip magic (so `foo.gz` and `foo` both work whatever
//! their names say), and find the first existing file among candidate names.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::{Error, Result};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for streaming; gzip data (detected by its magic bytes) is decompressed on
/// the fly.
///
/// # Errors
/// [`Error::Missing`] when the file does not exist, [`Error::Io`] when it cannot be read.
pub fn open_stream(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                what: "file".into(),
                looked_for: path.display().to_string(),
                hint: "check the path".into(),
            }
        } else {
            Error::io(path, e)
        }
    })?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads a whole (possibly gzipped) file into memory.
///
/// # Errors
/// As [`open_stream`], plus [`Error::Format`] for corrupt gzip data.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_stream(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| stream_error(path, e))?;
    Ok(bytes)
}

/// Maps an error met while streaming a file: gzip corruption becomes a format error.
pub(crate) fn stream_error(path: &Path, err: std::io::Error) -> Error {
    match err.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::format(
            path,
            "gzip",
            format!("{err}: the compressed data ends early, the file is truncated; fetch it again"),
        ),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => Error::format(
            path,
            "gzip",
            format!("{err}; the compressed data is corrupt, fetch the file again"),
        ),
        _ => Error::io(path, err),
    }
}

/// The first of `names` that exists in `dir`.
///
/// # Errors
/// [`Error::Missing`] naming every candidate and the given hint.
pub fn find_file(dir: &Path, names: &[&str], what: &str, hint: &str) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Missing {
            what: what.to_string(),
            looked_for: format!("{} in {}", names.join(" or "), dir.display()),
            hint: hint.to_string(),
        })
}

/// Checks that `dir` is an existing folder.
///
/// # Errors
/// [`Error::Missing`] with the hint.
pub fn require_dir(dir: &Path, what: &str, hint: &str) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Missing {
            what: what.to_string(),
            looked_for: format!("the folder {}", dir.display()),
            hint: hint.to_string(),
        })
    }
}
