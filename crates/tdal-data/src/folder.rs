//! The user's own images: a folder `root/<class_name>/*.png|jpg|jpeg` (classes sorted by
//! name), decoded with the `image` crate, converted to grey or RGB and resized to a common
//! size. Also the shared decode-and-resize helper the CheXpert reader uses.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use crate::images::ImageSet;
use crate::{Error, Result};

/// Colour handling for decoded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// One grey channel.
    #[default]
    Gray,
    /// Three RGB channels.
    Rgb,
}

impl Channels {
    /// Number of channels.
    #[must_use]
    pub fn count(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb => 3,
        }
    }
}

/// Options for [`read_image_folder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderOptions {
    /// Resize every image to `(height, width)`; `None` requires all images to share the
    /// size of the first one.
    pub size: Option<(u32, u32)>,
    /// Grey or RGB.
    pub channels: Channels,
}

/// Decodes one image file to `[C, H, W]` bytes, resized to `size` when given.
///
/// # Errors
/// [`Error::Missing`] when the file does not exist, [`Error::Image`] when it cannot be
/// decoded.
pub fn load_image(
    path: &Path,
    channels: Channels,
    size: Option<(u32, u32)>,
) -> Result<(Vec<u8>, (u32, u32))> {
    if !path.is_file() {
        return Err(Error::Missing {
            what: "image file".into(),
            looked_for: path.display().to_string(),
            hint: "check that the image folder is complete".into(),
        });
    }
    let decoded = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|source| Error::Image {
            path: path.to_path_buf(),
            source,
        })?;
    let resized = match size {
        Some((h, w)) if (decoded.height(), decoded.width()) != (h, w) => {
            decoded.resize_exact(w, h, FilterType::Triangle)
        }
        _ => decoded,
    };
    let (h, w) = (resized.height(), resized.width());
    let bytes = match channels {
        Channels::Gray => resized.into_luma8().into_raw(),
        Channels::Rgb => planar_rgb(resized.into_rgb8().as_raw()),
    };
    Ok((bytes, (h, w)))
}

/// Interleaved RGB bytes (`[H, W, 3]`, as the `image` crate stores them) as planar
/// `[3, H, W]`.
#[must_use]
pub fn planar_rgb(interleaved: &[u8]) -> Vec<u8> {
    let plane = interleaved.len() / 3;
    let mut planar = vec![0u8; interleaved.len()];
    for (i, px) in interleaved.chunks_exact(3).enumerate() {
        planar[i] = px[0];
        planar[plane + i] = px[1];
        planar[2 * plane + i] = px[2];
    }
    planar
}

/// Decodes many files in parallel (rayon) into one `[N, C, H, W]` byte buffer.
pub(crate) fn load_images(
    paths: &[PathBuf],
    channels: Channels,
    size: Option<(u32, u32)>,
) -> Result<(Vec<u8>, (u32, u32))> {
    let decoded: Vec<(Vec<u8>, (u32, u32))> = paths
        .par_iter()
        .map(|p| load_image(p, channels, size))
        .collect::<Result<_>>()?;
    let Some(&(_, first_size)) = decoded.first() else {
        return Ok((Vec::new(), size.unwrap_or((0, 0))));
    };
    let mut bytes = Vec::with_capacity(decoded.len() * decoded[0].0.len());
    for ((b, s), p) in decoded.iter().zip(paths) {
        if *s != first_size {
            return Err(Error::Shape(format!(
                "{} is {}×{} but {} is {}×{}; pass an image size (e.g. --image-size) so every image is resized to it",
                p.display(),
                s.0,
                s.1,
                paths[0].display(),
                first_size.0,
                first_size.1
            )));
        }
        bytes.extend_from_slice(b);
    }
    Ok((bytes, first_size))
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

/// Reads `root/<class_name>/*.{png,jpg,jpeg}`; classes are the sub-folder names in sorted
/// order, images within a class in sorted file-name order.
///
/// # Errors
/// [`Error::Missing`] when `root` is not a folder or holds no class folder with images;
/// [`Error::Image`] for an unreadable image; [`Error::Shape`] for differing sizes when no
/// size is given.
pub fn read_image_folder(root: &Path, options: FolderOptions) -> Result<ImageSet> {
    let expected = "a folder with one sub-folder per class, each holding .png or .jpg images (root/<class_name>/*.png)";
    if !root.is_dir() {
        return Err(Error::Missing {
            what: "image folder".into(),
            looked_for: root.display().to_string(),
            hint: format!("expected {expected}"),
        });
    }
    let mut class_names = Vec::new();
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for class_dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let files: Vec<PathBuf> = sorted_entries(&class_dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            continue;
        }
        let label = u32::try_from(class_names.len())
            .map_err(|_| Error::Config("too many classes".into()))?;
        class_names.push(
            class_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        labels.extend(std::iter::repeat_n(label, files.len()));
        paths.extend(files);
    }
    if paths.is_empty() {
        return Err(Error::Missing {
            what: "images".into(),
            looked_for: format!("*.png / *.jpg in the sub-folders of {}", root.display()),
            hint: format!("expected {expected}"),
        });
    }
    let (bytes, (h, w)) = load_images(&paths, options.channels, options.size)?;
    ImageSet::from_u8(
        &bytes,
        [
            paths.len(),
            options.channels.count(),
            h as usize,
            w as usize,
        ],
        labels,
        class_names,
    )
}
