//! A labelled grid of sample images from a [`MessyPool`] — one row per non-empty (split,
//! label-map class) with a caption drawn in an 8×8 bitmap font (`font8x8`, so no system font is
//! needed) — so a user can see what the pool, the target inputs and the test set hold.

use std::path::Path;

use image::{Rgb, RgbImage};
use ndarray::{ArrayView3, ArrayView4};
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::pool::{LabelledSplit, MessyPool};
use crate::{Error, Result};

/// Layout of the preview grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewOptions {
    /// Sample images per row.
    pub per_row: usize,
    /// Integer up-scaling of each image (nearest neighbour).
    pub scale: u32,
    /// Seed for choosing the samples.
    pub seed: u64,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            per_row: 12,
            scale: 2,
            seed: 0,
        }
    }
}

const GAP: u32 = 2;
const BACKGROUND: Rgb<u8> = Rgb([32, 32, 40]);
const TEXT: Rgb<u8> = Rgb([235, 235, 235]);

fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(ch as usize)
            .copied()
            .unwrap_or(font8x8::legacy::BASIC_LEGACY[usize::from(b'?')]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    #[allow(clippy::cast_possible_truncation)]
                    let (px, py) = (x + i as u32 * 8 + col, y + row as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, TEXT);
                    }
                }
            }
        }
    }
}

fn draw_image(img: &mut RgbImage, view: ArrayView3<'_, f32>, x: u32, y: u32, scale: u32) {
    let (c, h, w) = view.dim();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for yy in 0..h {
        for xx in 0..w {
            let px = if c >= 3 {
                Rgb([
                    byte(view[[0, yy, xx]]),
                    byte(view[[1, yy, xx]]),
                    byte(view[[2, yy, xx]]),
                ])
            } else {
                let g = byte(view[[0, yy, xx]]);
                Rgb([g, g, g])
            };
            for dy in 0..scale {
                for dx in 0..scale {
                    #[allow(clippy::cast_possible_truncation)]
                    img.put_pixel(x + xx as u32 * scale + dx, y + yy as u32 * scale + dy, px);
                }
            }
        }
    }
}

/// Renders the preview grid.
///
/// # Errors
/// [`Error::Config`] for a zero `per_row` or `scale`, or a grid too large to allocate
/// sensibly (over 100 megapixels).
pub fn render_preview(pool: &MessyPool, options: &PreviewOptions) -> Result<RgbImage> {
    if options.per_row == 0 || options.scale == 0 {
        return Err(Error::Config(
            "the preview needs at least one image per row and a scale of at least 1".into(),
        ));
    }
    let [_, h, w] = pool.image_shape();
    let splits = [
        ("pool", &pool.pool),
        ("target inputs", &pool.target_inputs),
        ("test", &pool.test),
    ];
    let captions: Vec<(String, &LabelledSplit, u32)> = splits
        .iter()
        .flat_map(|(name, split)| {
            pool.class_names
                .iter()
                .enumerate()
                .map(move |(label, class)| (format!("{name}: {class}"), *split, label as u32))
        })
        // Target inputs hold no "other" image: skip rows that would stay empty.
        .filter(|(_, split, label)| split.labels.contains(label))
        .collect();
    let caption_width = captions
        .iter()
        .map(|(c, _, _)| c.chars().count())
        .max()
        .unwrap_or(0) as u64
        * 8
        + 8;
    let cell_w = w as u64 * u64::from(options.scale) + u64::from(GAP);
    let cell_h = (h as u64 * u64::from(options.scale)).max(8) + u64::from(GAP);
    let width = caption_width + cell_w * options.per_row as u64 + u64::from(GAP);
    let height = cell_h * captions.len() as u64 + u64::from(GAP);
    if width * height > 100_000_000 {
        return Err(Error::Config(format!(
            "the preview would be {width}×{height} pixels; lower --per-row or --scale"
        )));
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut img = RgbImage::from_pixel(width as u32, height as u32, BACKGROUND);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    #[allow(clippy::cast_possible_truncation)]
    for (row, (caption, split, label)) in captions.iter().enumerate() {
        let y = GAP + row as u32 * cell_h as u32;
        draw_text(
            &mut img,
            4,
            y + (cell_h as u32 - GAP).saturating_sub(8) / 2,
            caption,
        );
        let members: Vec<usize> = (0..split.len())
            .filter(|&i| split.labels[i] == *label)
            .collect();
        let chosen: Vec<usize> = members
            .choose_multiple(&mut rng, options.per_row)
            .copied()
            .collect();
        for (col, &index) in chosen.iter().enumerate() {
            let x = caption_width as u32 + GAP + col as u32 * cell_w as u32;
            let view = split.images.slice(ndarray::s![index, .., .., ..]);
            draw_image(&mut img, view, x, y, options.scale);
        }
    }
    Ok(img)
}

/// A contact sheet: `images` in a grid of `per_row` columns, each scaled up `scale` times
/// (nearest neighbour) with its caption (cut to fit) underneath.
///
/// # Shapes
/// `images` `[N, C, H, W]` in `[0, 1]` (C = 1 grey, else the first three are RGB);
/// `captions` `[N]`.
///
/// # Errors
/// [`Error::Config`] for a zero `per_row` or `scale`, captions that do not match the
/// images, or a sheet over 100 megapixels.
pub fn render_sheet(
    images: ArrayView4<'_, f32>,
    captions: &[String],
    per_row: usize,
    scale: u32,
) -> Result<RgbImage> {
    let (n, _, h, w) = images.dim();
    if per_row == 0 || scale == 0 || captions.len() != n {
        return Err(Error::Config(format!(
            "a contact sheet needs at least one image per row, a scale of at least 1 and one caption per image ({} captions for {n} images)",
            captions.len()
        )));
    }
    let image_w = (w as u64 * u64::from(scale)).max(8);
    let cell_w = image_w + u64::from(GAP);
    let cell_h = h as u64 * u64::from(scale) + 8 + 2 * u64::from(GAP);
    let rows = n.div_ceil(per_row).max(1) as u64;
    let width = cell_w * per_row.min(n.max(1)) as u64 + u64::from(GAP);
    let height = cell_h * rows + u64::from(GAP);
    if width * height > 100_000_000 {
        return Err(Error::Config(format!(
            "the contact sheet would be {width}×{height} pixels; lower the scale"
        )));
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut img = RgbImage::from_pixel(width as u32, height as u32, BACKGROUND);
    #[allow(clippy::cast_possible_truncation)]
    for (k, caption) in captions.iter().enumerate() {
        let x = GAP + (k % per_row) as u32 * cell_w as u32;
        let y = GAP + (k / per_row) as u32 * cell_h as u32;
        draw_image(
            &mut img,
            images.slice(ndarray::s![k, .., .., ..]),
            x,
            y,
            scale,
        );
        let fits: String = caption.chars().take((image_w / 8) as usize).collect();
        draw_text(&mut img, x, y + h as u32 * scale + GAP, &fits);
    }
    Ok(img)
}

/// Writes an image as PNG.
///
/// # Errors
/// [`Error::Save`] when the file cannot be written.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| Error::Save {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use ndarray::Array4;

    use super::*;

    #[test]
    fn sheet_places_each_image_scaled_in_its_cell() {
        // Two 2×2 grey images: one white, one black, on one row at scale 3.
        let mut images = Array4::<f32>::zeros((2, 1, 2, 2));
        images.slice_mut(ndarray::s![0, .., .., ..]).fill(1.0);
        let captions = vec!["a".to_owned(), "b".to_owned()];
        let sheet = render_sheet(images.view(), &captions, 2, 3).unwrap();
        // Cells are max(2·3, 8) = 8 wide plus the gap; rows 2·3 + 8 + 2·gap high.
        assert_eq!(sheet.width(), 2 * (8 + GAP) + GAP);
        assert_eq!(sheet.height(), 2 * 3 + 8 + 2 * GAP + GAP);
        for (x, y) in [(GAP, GAP), (GAP + 5, GAP + 5)] {
            assert_eq!(*sheet.get_pixel(x, y), Rgb([255, 255, 255]));
        }
        let second = GAP + 8 + GAP;
        assert_eq!(*sheet.get_pixel(second, GAP), Rgb([0, 0, 0]));
        // Outside the scaled image: background.
        assert_eq!(*sheet.get_pixel(GAP + 6, GAP), BACKGROUND);
    }

    #[test]
    fn sheet_rejects_mismatched_captions_and_zero_sizes() {
        let images = Array4::<f32>::zeros((2, 1, 4, 4));
        let one = vec!["a".to_owned()];
        assert!(render_sheet(images.view(), &one, 2, 1).is_err());
        let two = vec!["a".to_owned(), "b".to_owned()];
        assert!(render_sheet(images.view(), &two, 0, 1).is_err());
        assert!(render_sheet(images.view(), &two, 2, 0).is_err());
    }
}
