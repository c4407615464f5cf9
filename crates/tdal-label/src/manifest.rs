//! The pool's manifest: every image file under a folder, in a fixed order, decoded once.
//!
//! [`scan`] walks the folder, sorts the files by relative path (so the same folder always
//! gives the same pool indices, whatever the file system's listing order), and decodes
//! every file whose content is an image into a square `u8` array. A file that is not a
//! readable image is listed in [`Manifest::skipped`] with the reason: one stray text
//! file or truncated download must not stop a person from labelling the rest.

use std::collections::HashMap;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Component, Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageReader, Pixel};
use ndarray::{Array4, ArrayView4};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use crate::{Error, Result};

/// Files decoded in parallel between two progress reports.
const CHUNK: usize = 512;

/// Skipped files named in the "no readable images" error.
const REASONS_SHOWN: usize = 3;

/// One image of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the images folder, `/`-separated.
    pub path: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Hex blake3 of the file's bytes.
    pub hash: String,
}

/// A file under the folder that is not a readable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the images folder.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Every image of a folder (sorted by relative path) and the files skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The images; an image's index here is its pool index.
    pub entries: Vec<Entry>,
    /// Files that could not be read as images.
    pub skipped: Vec<Skipped>,
}

impl Manifest {
    /// Each image's pool index by its relative path.
    #[must_use]
    pub fn index_map(&self) -> HashMap<&str, usize> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.path.as_str(), index))
            .collect()
    }
}

/// The size and colour of the images the encoders see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Side of the square every image is cropped and resized to, in pixels.
    pub side: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: u8,
}

impl Geometry {
    /// Checks the geometry and returns the side as a `usize`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `side` is 0, `channels` is neither 1 nor 3, or one image
    /// would not fit in memory.
    fn checked_side(self) -> Result<usize> {
        if self.side == 0 {
            return Err(Error::Invalid(
                "the image side must be at least 1 pixel, got 0".into(),
            ));
        }
        if !matches!(self.channels, 1 | 3) {
            return Err(Error::Invalid(format!(
                "channels must be 1 (grayscale) or 3 (RGB), got {}",
                self.channels
            )));
        }
        usize::try_from(self.side)
            .ok()
            .filter(|&side| {
                side.checked_mul(side)
                    .and_then(|area| area.checked_mul(usize::from(self.channels)))
                    .is_some()
            })
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "an image side of {} pixels is too large",
                    self.side
                ))
            })
    }
}

/// A regular file found by the walk, to be decoded.
struct Candidate {
    /// Path relative to the root, `/`-separated.
    relative: String,
    /// Path to open.
    absolute: PathBuf,
}

/// A decoded image.
struct Decoded {
    bytes: u64,
    hash: String,
    /// `[C, side, side]`, planar.
    pixels: Vec<u8>,
}

/// Reads every image under `root` (recursively) into a manifest and a `u8` array.
///
/// Files are sorted by their `/`-separated relative path in byte order; that order is
/// the pool index. Hidden files and folders (names starting with `.`) are ignored;
/// symbolic links are not followed (they are listed as skipped). Each file's format is
/// guessed from its content, not its name. Every image is converted to grayscale (Rec. 709
/// luma `0.2126 R + 0.7152 G + 0.0722 B`, as the `image` crate computes it) or RGB (alpha
/// dropped), center-cropped to a square and
/// resized to `side × side` with a triangle (bilinear) filter. Files that cannot be
/// read or decoded go to [`Manifest::skipped`] with a reason.
///
/// Files are decoded in parallel (rayon) in chunks of 512; `progress(done, total)` is
/// called after each chunk with the number of files read so far and in all.
///
/// # Shapes
/// The array is `[N, C, side, side]` with `N = manifest.entries.len()` and
/// `C = geometry.channels`; image `i` is `manifest.entries[i]`.
///
/// # Errors
/// [`Error::Invalid`] when `root` is missing or not a folder, when the geometry is
/// invalid (`side` 0, `channels` not 1 or 3), or when no file under `root` is a
/// readable image.
pub fn scan(
    root: &Path,
    geometry: Geometry,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Manifest, Array4<u8>)> {
    let side = geometry.checked_side()?;
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "{} is not a folder: give the folder that holds the images",
                root.display()
            )));
        }
        Err(e) => {
            return Err(Error::Invalid(format!(
                "cannot open the image folder {}: {e}",
                root.display()
            )));
        }
    }

    let (candidates, mut skipped) = walk(root);
    let total = candidates.len();
    let mut entries = Vec::new();
    let mut pixels = Vec::new();
    let mut done = 0;
    for chunk in candidates.chunks(CHUNK) {
        let decoded: Vec<_> = chunk
            .par_iter()
            .map(|candidate| read_image(&candidate.absolute, geometry))
            .collect();
        for (candidate, result) in chunk.iter().zip(decoded) {
            match result {
                Ok(image) => {
                    entries.push(Entry {
                        path: candidate.relative.clone(),
                        bytes: image.bytes,
                        hash: image.hash,
                    });
                    pixels.extend_from_slice(&image.pixels);
                }
                Err(reason) => skipped.push(Skipped {
                    path: candidate.relative.clone(),
                    reason,
                }),
            }
        }
        done += chunk.len();
        progress(done, total);
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));

    if entries.is_empty() {
        let reasons: Vec<String> = skipped
            .iter()
            .take(REASONS_SHOWN)
            .map(|s| format!("{}: {}", s.path, s.reason))
            .collect();
        let more = if skipped.len() > REASONS_SHOWN {
            "; ..."
        } else {
            ""
        };
        let detail = if skipped.is_empty() {
            "the folder holds no files".to_string()
        } else {
            format!(
                "{} files skipped: {}{more}",
                skipped.len(),
                reasons.join("; ")
            )
        };
        return Err(Error::Invalid(format!(
            "no readable images under {} ({detail})",
            root.display()
        )));
    }

    let images = Array4::from_shape_vec(
        (entries.len(), usize::from(geometry.channels), side, side),
        pixels,
    )
    .map_err(|e| Error::Invalid(format!("cannot shape the decoded images: {e}")))?;
    Ok((Manifest { entries, skipped }, images))
}

/// The images as `f32` in `[0, 1]` (`value / 255`).
///
/// # Shapes
/// `[N, C, H, W]` in, the same shape out.
#[must_use]
pub fn to_f32(images: ArrayView4<'_, u8>) -> Array4<f32> {
    images.mapv(|value| f32::from(value) / 255.0)
}

/// Every regular file under `root` not hidden, sorted by relative path, and the entries
/// that cannot be candidates (links, non-UTF-8 names, unreadable folders).
fn walk(root: &Path) -> (Vec<Candidate>, Vec<Skipped>) {
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
    for item in walker {
        let entry = match item {
            Ok(entry) => entry,
            Err(e) => {
                let path = e
                    .path()
                    .map(|p| relative_lossy(root, p))
                    .unwrap_or_default();
                let cause = e
                    .io_error()
                    .map_or_else(|| e.to_string(), std::string::ToString::to_string);
                skipped.push(Skipped {
                    path,
                    reason: format!("cannot read: {cause}"),
                });
                continue;
            }
        };
        let kind = entry.file_type();
        if entry.depth() == 0 || kind.is_dir() {
            continue;
        }
        let Some(relative) = relative_utf8(root, entry.path()) else {
            skipped.push(Skipped {
                path: relative_lossy(root, entry.path()),
                reason: "the name is not valid UTF-8 (rename the file to read it)".into(),
            });
            continue;
        };
        if kind.is_symlink() {
            skipped.push(Skipped {
                path: relative,
                reason: "a symbolic link (links are not followed)".into(),
            });
        } else if kind.is_file() {
            candidates.push(Candidate {
                relative,
                absolute: entry.into_path(),
            });
        } else {
            skipped.push(Skipped {
                path: relative,
                reason: "not a regular file".into(),
            });
        }
    }
    candidates.sort_by(|a, b| a.relative.cmp(&b.relative));
    (candidates, skipped)
}

/// Whether a file or folder name is hidden (starts with `.`).
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// `path` relative to `root`, `/`-separated, when every component is UTF-8.
fn relative_utf8(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|part| match part {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect();
    parts.map(|parts| parts.join("/"))
}

/// `path` relative to `root`, `/`-separated, with non-UTF-8 bytes replaced (for reports);
/// `.` for the root itself.
fn relative_lossy(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let joined = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Reads, hashes and decodes one file; `Err` is the reason to skip it.
fn read_image(path: &Path, geometry: Geometry) -> std::result::Result<Decoded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    // The decoders are meant never to panic on bad input; if one does, this file is
    // skipped rather than the whole folder lost.
    let pixels = catch_unwind(AssertUnwindSafe(|| decode(&bytes, geometry)))
        .unwrap_or_else(|_| Err("the image decoder failed on this file".into()))?;
    Ok(Decoded {
        bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        hash: blake3::hash(&bytes).to_hex().to_string(),
        pixels,
    })
}

/// Decodes an image from its bytes (format guessed from the content) into planar
/// `[C, side, side]` bytes.
fn decode(bytes: &[u8], geometry: Geometry) -> std::result::Result<Vec<u8>, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not an image (the content is in no known image format)".into());
    };
    let name = format!("{format:?}").to_uppercase();
    let image = reader
        .decode()
        .map_err(|e| format!("not a readable {name} image: {e}"))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(format!("the {name} image has no pixels"));
    }
    Ok(if geometry.channels == 1 {
        square(&DynamicImage::into_luma8(image), geometry.side).into_raw()
    } else {
        let rgb = square(&DynamicImage::into_rgb8(image), geometry.side);
        tdal_data::folder::planar_rgb(rgb.as_raw())
    })
}

/// The largest centered square of `image`, resized to `side × side` (triangle filter).
fn square<P>(image: &ImageBuffer<P, Vec<u8>>, side: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (width, height) = image.dimensions();
    let crop = width.min(height);
    let cropped =
        imageops::crop_imm(image, (width - crop) / 2, (height - crop) / 2, crop, crop).to_image();
    imageops::resize(&cropped, side, side, FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use image::{GrayImage, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba};
    use ndarray::s;

    use super::*;

    const GRAY: Geometry = Geometry {
        side: 4,
        channels: 1,
    };
    const RGB: Geometry = Geometry {
        side: 4,
        channels: 3,
    };

    /// Rec. 709 (sRGB) luma, `0.2126 R + 0.7152 G + 0.0722 B` rounded to the nearest
    /// integer: the image crate's RGB -> gray conversion.
    fn rec709_luma([r, g, b]: [u8; 3]) -> u8 {
        (0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)).round() as u8
    }

    fn no_progress() -> impl FnMut(usize, usize) {
        |_, _| {}
    }

    fn scan_ok(root: &Path, geometry: Geometry) -> (Manifest, Array4<u8>) {
        match scan(root, geometry, &mut no_progress()) {
            Ok(scanned) => scanned,
            Err(e) => panic!("scan failed: {e}"),
        }
    }

    fn write(path: &Path, bytes: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, bytes).unwrap();
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    fn png(image: impl Into<DynamicImage>) -> Vec<u8> {
        encode(&image.into(), ImageFormat::Png)
    }

    /// A folder with every kind of file `scan` meets; returns the expected image paths
    /// (sorted) and skipped paths (sorted).
    fn mixed_folder(root: &Path) -> (Vec<&'static str>, Vec<&'static str>) {
        // Different sizes and colour types.
        write(
            &root.join("b-rgb.png"),
            &png(RgbImage::from_fn(8, 6, |x, y| {
                Rgb([x as u8 * 30, y as u8 * 40, 7])
            })),
        );
        write(
            &root.join("a-gray.png"),
            &png(GrayImage::from_fn(3, 5, |x, y| Luma([(x * 50 + y) as u8]))),
        );
        write(
            &root.join("c-rgba.png"),
            &png(image::RgbaImage::from_pixel(5, 5, Rgba([10, 20, 30, 128]))),
        );
        write(
            &root.join("d-gray-alpha.png"),
            &png(image::GrayAlphaImage::from_pixel(6, 2, LumaA([99, 255]))),
        );
        let gray16 = image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_pixel(4, 4, Luma([65535]));
        write(&root.join("e-gray16.png"), &png(gray16));
        write(
            &root.join("photo.jpg"),
            &encode(
                &RgbImage::from_pixel(16, 16, Rgb([200, 100, 50])).into(),
                ImageFormat::Jpeg,
            ),
        );
        // '-' (0x2D) sorts before '/' (0x2F): "sub-x" comes before "sub/...".
        write(
            &root.join("sub/deeper/nested.png"),
            &png(GrayImage::new(2, 2)),
        );
        write(&root.join("sub-x.png"), &png(GrayImage::new(2, 2)));
        // Not images.
        write(&root.join("notes.txt"), b"a line of text\n");
        let whole = png(GrayImage::from_pixel(20, 20, Luma([9])));
        write(&root.join("truncated.png"), &whole[..whole.len() / 2]);
        write(&root.join("empty.png"), b"");
        // Hidden: never read, never listed.
        write(&root.join(".hidden.png"), &png(GrayImage::new(2, 2)));
        write(&root.join(".cache/inside.png"), &png(GrayImage::new(2, 2)));
        write(&root.join("sub/.DS_Store"), b"\0\0\0\x01Bud1");
        (
            vec![
                "a-gray.png",
                "b-rgb.png",
                "c-rgba.png",
                "d-gray-alpha.png",
                "e-gray16.png",
                "photo.jpg",
                "sub-x.png",
                "sub/deeper/nested.png",
            ],
            vec!["empty.png", "notes.txt", "truncated.png"],
        )
    }

    #[test]
    fn scan_lists_images_in_path_order_and_skips_the_rest_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let (images, skipped) = mixed_folder(dir.path());
        let (manifest, array) = scan_ok(dir.path(), RGB);

        let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, images);
        for entry in &manifest.entries {
            let bytes = fs::read(dir.path().join(&entry.path)).unwrap();
            assert_eq!(entry.bytes, bytes.len() as u64, "{}", entry.path);
            assert_eq!(
                entry.hash,
                blake3::hash(&bytes).to_hex().as_str(),
                "{}",
                entry.path
            );
            assert_eq!(entry.hash.len(), 64);
        }
        let skipped_paths: Vec<&str> = manifest.skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(skipped_paths, skipped);
        let reason = |path: &str| {
            let found = manifest.skipped.iter().find(|s| s.path == path).unwrap();
            found.reason.clone()
        };
        assert!(
            reason("notes.txt").contains("not an image"),
            "{}",
            reason("notes.txt")
        );
        assert!(
            reason("empty.png").contains("not an image"),
            "{}",
            reason("empty.png")
        );
        assert!(
            reason("truncated.png").contains("not a readable PNG image"),
            "{}",
            reason("truncated.png")
        );
        assert_eq!(array.shape(), &[images.len(), 3, 4, 4]);

        let (gray_manifest, gray) = scan_ok(dir.path(), GRAY);
        assert_eq!(gray_manifest, manifest);
        assert_eq!(gray.shape(), &[images.len(), 1, 4, 4]);
    }

    #[test]
    fn scan_of_the_same_folder_is_identical() {
        let dir = tempfile::tempdir().unwrap();
        mixed_folder(dir.path());
        assert_eq!(scan_ok(dir.path(), RGB), scan_ok(dir.path(), RGB));
    }

    #[test]
    fn uniform_images_stay_uniform_in_every_channel() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("wide.png"),
            &png(RgbImage::from_pixel(13, 7, Rgb([200, 100, 50]))),
        );
        write(
            &dir.path().join("tall.png"),
            &png(GrayImage::from_pixel(3, 11, Luma([77]))),
        );
        let (_, rgb) = scan_ok(
            dir.path(),
            Geometry {
                side: 5,
                channels: 3,
            },
        );
        // Sorted: tall.png, wide.png.
        for (channel, value) in [77, 77, 77].into_iter().enumerate() {
            assert!(
                rgb.slice(s![0, channel, .., ..])
                    .iter()
                    .all(|&v| v == value)
            );
        }
        for (channel, value) in [200, 100, 50].into_iter().enumerate() {
            assert!(
                rgb.slice(s![1, channel, .., ..])
                    .iter()
                    .all(|&v| v == value)
            );
        }
        let (_, gray) = scan_ok(
            dir.path(),
            Geometry {
                side: 9,
                channels: 1,
            },
        );
        assert!(gray.slice(s![0, 0, .., ..]).iter().all(|&v| v == 77));
        // Rec. 709 luma of (200, 100, 50), rounded: 117.65 -> 118.
        let luma = rec709_luma([200, 100, 50]);
        assert_eq!(luma, 118);
        assert!(
            gray.slice(s![1, 0, .., ..]).iter().all(|&v| v == luma),
            "{gray:?}"
        );
    }

    #[test]
    fn non_square_images_keep_their_centered_square() {
        let dir = tempfile::tempdir().unwrap();
        // 7 wide, 4 high: the square is columns 1..5 (the odd column left over goes
        // to the right).
        write(
            &dir.path().join("wide.png"),
            &png(GrayImage::from_fn(7, 4, |x, _| Luma([x as u8 * 10]))),
        );
        // 2 wide, 6 high: rows 2..4.
        write(
            &dir.path().join("xtall.png"),
            &png(GrayImage::from_fn(2, 6, |x, y| Luma([(y * 10 + x) as u8]))),
        );
        let (_, images) = scan_ok(
            dir.path(),
            Geometry {
                side: 4,
                channels: 1,
            },
        );
        for row in 0..4 {
            assert_eq!(
                images.slice(s![0, 0, row, ..]).to_vec(),
                vec![10, 20, 30, 40]
            );
        }
        let (_, images) = scan_ok(
            dir.path(),
            Geometry {
                side: 2,
                channels: 1,
            },
        );
        assert_eq!(
            images
                .slice(s![1, 0, .., ..])
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![20, 21, 30, 31]
        );
    }

    #[test]
    fn upsampling_is_bilinear_and_keeps_the_mean() {
        let dir = tempfile::tempdir().unwrap();
        let corners = [0u8, 100, 200, 60];
        write(
            &dir.path().join("two.png"),
            &png(GrayImage::from_fn(2, 2, |x, y| {
                Luma([corners[(y * 2 + x) as usize]])
            })),
        );
        let (_, images) = scan_ok(
            dir.path(),
            Geometry {
                side: 8,
                channels: 1,
            },
        );
        let values = images.slice(s![0, 0, .., ..]);
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / 64.0;
        let expected = corners.iter().map(|&v| f64::from(v)).sum::<f64>() / 4.0;
        assert!(
            (mean - expected).abs() < 2.0,
            "mean {mean}, expected {expected}"
        );
        assert!(values.iter().all(|&v| v <= 200));
        // The corner pixels lie nearest to their source pixel.
        // Upsampling with a triangle filter is bilinear interpolation between pixel
        // centres, clamped at the borders: output pixel x sits at source coordinate
        // (x + 0.5) / 4 - 0.5.
        let source = |x: usize| ((x as f64 + 0.5) / 4.0 - 0.5).clamp(0.0, 1.0);
        for y in 0..8 {
            for x in 0..8 {
                let (tx, ty) = (source(x), source(y));
                let top = f64::from(corners[0]) * (1.0 - tx) + f64::from(corners[1]) * tx;
                let bottom = f64::from(corners[2]) * (1.0 - tx) + f64::from(corners[3]) * tx;
                let expected = top * (1.0 - ty) + bottom * ty;
                let got = f64::from(values[[y, x]]);
                assert!(
                    (got - expected).abs() <= 1.0,
                    "({y}, {x}): {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn grayscale_of_pure_red_is_its_srgb_luma_and_rgb_is_planar() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("red.png"),
            &png(RgbImage::from_pixel(1, 1, Rgb([255, 0, 0]))),
        );
        write(
            &dir.path().join("rgb.png"),
            &png(RgbImage::from_fn(2, 1, |x, _| {
                Rgb([10 + x as u8, 20 + x as u8, 30 + x as u8])
            })),
        );
        write(
            &dir.path().join("zgray.png"),
            &png(GrayImage::from_pixel(1, 1, Luma([42]))),
        );
        let (_, gray) = scan_ok(
            dir.path(),
            Geometry {
                side: 1,
                channels: 1,
            },
        );
        assert_eq!(gray[[0, 0, 0, 0]], rec709_luma([255, 0, 0]));
        assert_eq!(gray[[0, 0, 0, 0]], 54);
        let (_, rgb) = scan_ok(
            dir.path(),
            Geometry {
                side: 1,
                channels: 3,
            },
        );
        assert_eq!(rgb.slice(s![0, .., 0, 0]).to_vec(), vec![255, 0, 0]);
        // A 2×1 image keeps its left pixel (the centered 1×1 square starts at column 0).
        assert_eq!(rgb.slice(s![1, .., 0, 0]).to_vec(), vec![10, 20, 30]);
        assert_eq!(rgb.slice(s![2, .., 0, 0]).to_vec(), vec![42, 42, 42]);
    }

    #[test]
    fn jpeg_is_decoded_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let jpeg = encode(
            &RgbImage::from_pixel(16, 16, Rgb([200, 100, 50])).into(),
            ImageFormat::Jpeg,
        );
        write(&dir.path().join("photo.png"), &jpeg);
        write(&dir.path().join("noext"), &jpeg);
        let (manifest, images) = scan_ok(
            dir.path(),
            Geometry {
                side: 4,
                channels: 3,
            },
        );
        assert_eq!(manifest.entries.len(), 2);
        for (channel, value) in [200i16, 100, 50].into_iter().enumerate() {
            for &v in images.slice(s![.., channel, .., ..]) {
                assert!((i16::from(v) - value).abs() <= 3, "{v} vs {value}");
            }
        }
    }

    #[test]
    fn progress_is_reported_after_every_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let one = png(GrayImage::new(1, 1));
        for i in 0..CHUNK + 3 {
            write(&dir.path().join(format!("{i:04}.png")), &one);
        }
        write(&dir.path().join("x.txt"), b"text");
        let mut calls = Vec::new();
        let (manifest, images) = scan(dir.path(), GRAY, &mut |done, total| {
            calls.push((done, total));
        })
        .unwrap();
        let total = CHUNK + 4;
        assert_eq!(calls, vec![(CHUNK, total), (total, total)]);
        assert_eq!(manifest.entries.len(), CHUNK + 3);
        assert_eq!(manifest.entries[CHUNK].path, format!("{CHUNK:04}.png"));
        assert_eq!(images.shape(), &[CHUNK + 3, 1, 4, 4]);
    }

    #[cfg(unix)]
    #[test]
    fn links_and_non_utf8_names_are_skipped() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let dir = tempfile::tempdir().unwrap();
        let image = png(GrayImage::new(2, 2));
        write(&dir.path().join("real.png"), &image);
        write(&dir.path().join(OsStr::from_bytes(b"bad-\xff.png")), &image);
        std::os::unix::fs::symlink(dir.path().join("real.png"), dir.path().join("link.png"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
        let (manifest, _) = scan_ok(dir.path(), GRAY);
        let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["real.png"]);
        let skipped: Vec<(&str, &str)> = manifest
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert_eq!(skipped[0].0, "bad-\u{fffd}.png");
        assert!(skipped[0].1.contains("UTF-8"));
        assert_eq!(skipped[1].0, "link.png");
        assert!(skipped[1].1.contains("symbolic link"));
        assert_eq!(skipped[2].0, "loop");
    }

    #[test]
    fn bad_roots_and_geometries_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let invalid =
            |root: &Path, geometry: Geometry| match scan(root, geometry, &mut no_progress()) {
                Err(Error::Invalid(message)) => message,
                other => panic!("expected Invalid, got {other:?}"),
            };
        let missing = invalid(&dir.path().join("nope"), GRAY);
        assert!(
            missing.contains("cannot open the image folder"),
            "{missing}"
        );
        write(&dir.path().join("file.png"), &png(GrayImage::new(1, 1)));
        let file = invalid(&dir.path().join("file.png"), GRAY);
        assert!(file.contains("is not a folder"), "{file}");
        assert!(
            invalid(
                dir.path(),
                Geometry {
                    side: 0,
                    channels: 1
                }
            )
            .contains("side")
        );
        assert!(
            invalid(
                dir.path(),
                Geometry {
                    side: 4,
                    channels: 2
                }
            )
            .contains("channels")
        );

        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let none = invalid(&empty, GRAY);
        assert!(none.starts_with("no readable images under"), "{none}");
        for i in 0..5 {
            write(&empty.join(format!("note-{i}.txt")), b"text");
        }
        let texts = invalid(&empty, GRAY);
        assert!(
            texts.contains("(5 files skipped: note-0.txt: not an image"),
            "{texts}"
        );
        assert!(
            texts.contains("note-2.txt") && !texts.contains("note-3.txt"),
            "{texts}"
        );
    }

    #[test]
    fn index_map_and_to_f32() {
        let entry = |path: &str| Entry {
            path: path.into(),
            bytes: 1,
            hash: String::new(),
        };
        let manifest = Manifest {
            entries: vec![entry("a.png"), entry("b/c.png")],
            skipped: Vec::new(),
        };
        let map = manifest.index_map();
        assert_eq!(map.len(), 2);
        assert_eq!(map["a.png"], 0);
        assert_eq!(map["b/c.png"], 1);

        let images = Array4::from_shape_vec((1, 1, 2, 2), vec![0u8, 51, 128, 255]).unwrap();
        let floats = to_f32(images.view());
        assert_eq!(floats.shape(), &[1, 1, 2, 2]);
        for (&f, &u) in floats.iter().zip(&images) {
            assert!((f * 255.0 - f32::from(u)).abs() < 1e-4);
        }
        assert_eq!(floats[[0, 0, 1, 1]], 1.0);
        assert!((floats[[0, 0, 0, 1]] - 0.2).abs() < 1e-7);
    }
}
