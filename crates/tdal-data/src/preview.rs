//! A labelled grid of sample images from a [`MessyPool`] — one row per non-empty (split,
//! label-map class) with a caption drawn in an 8×8 bitmap font (`font8x8`, so no system font is
//! needed) — so a user can see what the pool, the target inputs and the test set hold.

use std::path::Path;

use image::{Rgb, RgbImage};
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

fn draw_image(img: &mut RgbImage, split: &LabelledSplit, index: usize, x: u32, y: u32, scale: u32) {
    let view = split.images.slice(ndarray::s![index, .., .., ..]);
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
            draw_image(&mut img, split, index, x, y, options.scale);
        }
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
