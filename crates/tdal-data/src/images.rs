//! The in-memory image collection every reader returns: pixels `[N, C, H, W]` as `f32` in
//! `[0, 1]`, one class label per image and the class names. Keeping a single type lets the
//! pool builder combine any readers (MNIST targets with Fashion-MNIST redundancy, CIFAR-10
//! with CIFAR-100, ...) as long as the image shapes agree.

use ndarray::{Array4, ArrayView3, Axis, s};

use crate::{Error, Result};

/// Labelled images from one split of one dataset.
///
/// # Shapes
/// `images` is `[N, C, H, W]` (C = 1 grey or 3 RGB), `labels` has N entries, each below
/// `class_names.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Pixels `[N, C, H, W]`, scaled to `[0, 1]` for image data.
    pub images: Array4<f32>,
    /// Class index of each image.
    pub labels: Vec<u32>,
    /// Name of each class, indexed by label.
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Builds a set after checking that labels and images agree.
    ///
    /// # Errors
    /// [`Error::Shape`] when the number of labels differs from the number of images or a
    /// label has no class name.
    pub fn new(images: Array4<f32>, labels: Vec<u32>, class_names: Vec<String>) -> Result<Self> {
        if images.len_of(Axis(0)) != labels.len() {
            return Err(Error::Shape(format!(
                "expected one label per image, got {} images and {} labels",
                images.len_of(Axis(0)),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(Error::Shape(format!(
                "label {bad} has no class name: expected labels below {}",
                class_names.len()
            )));
        }
        Ok(Self {
            images,
            labels,
            class_names,
        })
    }

    /// Builds a set from raw `u8` pixels laid out `[N, C, H, W]`, scaling them to `[0, 1]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `pixels` does not hold `n·c·h·w` bytes, or as [`ImageSet::new`].
    pub fn from_u8(
        pixels: &[u8],
        shape: [usize; 4],
        labels: Vec<u32>,
        class_names: Vec<String>,
    ) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if pixels.len() != expected {
            return Err(Error::Shape(format!(
                "expected {expected} pixel bytes for images of shape {shape:?}, got {}",
                pixels.len()
            )));
        }
        let scaled: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let images = Array4::from_shape_vec(shape, scaled)
            .map_err(|e| Error::Shape(format!("cannot shape pixels as {shape:?}: {e}")))?;
        Self::new(images, labels, class_names)
    }

    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[C, H, W]` of every image.
    #[must_use]
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.images.shape();
        [s[1], s[2], s[3]]
    }

    /// Number of images of each class, indexed by label.
    #[must_use]
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// One image, `[C, H, W]`.
    #[must_use]
    pub fn image(&self, index: usize) -> ArrayView3<'_, f32> {
        self.images.slice(s![index, .., .., ..])
    }
}

/// Zero-pads images `[N, C, H, W]` to `[N, C, height, width]`, centred (the conv encoders
/// expect 32×32; MNIST-style images are 28×28).
///
/// # Errors
/// [`Error::Shape`] when the images are already larger than the requested size.
pub fn pad_to(images: &Array4<f32>, height: usize, width: usize) -> Result<Array4<f32>> {
    let (n, c, h, w) = images.dim();
    if h > height || w > width {
        return Err(Error::Shape(format!(
            "cannot pad {h}×{w} images to {height}×{width}: the target size must be at least the image size"
        )));
    }
    let top = (height - h) / 2;
    let left = (width - w) / 2;
    let mut out = Array4::zeros((n, c, height, width));
    out.slice_mut(s![.., .., top..top + h, left..left + w])
        .assign(images);
    Ok(out)
}

/// Names `"0"`, `"1"`, ... for datasets whose classes are plain indices.
#[must_use]
pub fn index_names(count: usize) -> Vec<String> {
    (0..count).map(|i| i.to_string()).collect()
}
