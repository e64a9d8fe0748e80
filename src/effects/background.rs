//! Background blur and replace, weighed by the person mask: the maths
//! (the specification the shader `shaders/background.wgsl` repeats) and its
//! CPU reference, [`apply_background`].
//!
//! Each I420 plane is done alone (blur and blending are linear, so doing
//! them in YUV equals doing them in RGB):
//!
//! 1. **Down**: the plane is averaged over square cells ([`BlurLevel::cell`]
//!    luma pixels), each cell weighed by how much it is background,
//!    `b = 1 − mask` at its centre; each cell keeps `b·mean(v)` and `b`.
//!    Weighing keeps the person's colours out of the blurred background,
//!    so no halo of them rings hair and shoulders.
//! 2. **Blur**: both sums get a separable Gaussian over the cells
//!    ([`BlurLevel::sigma`], clamped at the border).
//! 3. **Up**: each pixel reads both sums bilinearly between cell centres;
//!    the background is their ratio (`ε` keeps it finite, and where no
//!    background is near, it is the pixel itself), and the output is
//!    `mask·v + (1 − mask)·background`, rounded.
//!
//! The blur's σ is `strength ×` [`BLUR_SIGMA`] `×` the frame's shorter side;
//! the cell grows with it (2, 4 or 8 luma pixels), so the work stays small.
//! Replace uses a picture scaled to cover the frame ([`cover`]) as the
//! background instead (blurred by the strength as well, if any). At
//! strength 0 without a picture nothing runs: the frame stays byte for
//! byte as it was.

use thiserror::Error;

use crate::face::PersonMask;
use crate::frame::{FrameError, I420Frame, Plane};

/// Why the background could not be done.
#[derive(Debug, Error)]
pub enum BackgroundError {
    /// The replacement picture does not have the frame's size.
    #[error("background picture is {found:?}, the frame {expected:?}")]
    ImageSize {
        /// The frame's width and height.
        expected: (u32, u32),
        /// The picture's.
        found: (u32, u32),
    },
    /// A frame could not be built.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// σ of the blur at strength 1, as a fraction of the frame's shorter side
/// (8.6 px at 720p, 13 px at 1080p).
pub const BLUR_SIGMA: f32 = 0.012;
/// Taps each side of the blur kernel at most.
pub const MAX_TAPS: u32 = 12;
/// Keeps the weighed background finite where no background pixel is near.
pub const BACKGROUND_EPSILON: f32 = 1e-3;

/// How the blur runs for one strength and frame size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlurLevel {
    /// Cell side in luma pixels (chroma cells are half as wide): 2, 4 or 8.
    pub cell: u32,
    /// σ of the Gaussian over cells (the same for every plane).
    pub sigma: f32,
    /// Taps each side of the kernel.
    pub taps: u32,
}

impl BlurLevel {
    /// The level for `strength` (0..=1) on a `width × height` frame.
    pub fn new(strength: f32, width: u32, height: u32) -> Self {
        let sigma_luma = strength.clamp(0.0, 1.0) * BLUR_SIGMA * width.min(height) as f32;
        let cell = if sigma_luma >= 8.0 {
            8
        } else if sigma_luma >= 4.0 {
            4
        } else {
            2
        };
        let sigma = (sigma_luma / cell as f32).max(0.25);
        let taps = ((3.0 * sigma).ceil() as u32).clamp(1, MAX_TAPS);
        Self { cell, sigma, taps }
    }

    /// The kernel's weights from the centre out (`taps + 1` of them),
    /// normalised so the whole symmetric kernel sums to 1.
    pub fn weights(&self) -> Vec<f32> {
        let raw: Vec<f32> = (0..=self.taps)
            .map(|i| (-(i as f32).powi(2) / (2.0 * self.sigma * self.sigma)).exp())
            .collect();
        let total: f32 = raw[0] + 2.0 * raw[1..].iter().sum::<f32>();
        raw.into_iter().map(|w| w / total).collect()
    }
}

/// What replaces or blurs the background of a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Background<'a> {
    /// Blur strength, 0..=1.
    pub blur: f32,
    /// A picture of the frame's size to show behind the person (see
    /// [`cover`]), or `None` to blur the frame's own background.
    pub image: Option<&'a I420Frame>,
}

impl Background<'_> {
    /// Whether the frame changes at all.
    pub fn is_active(&self) -> bool {
        self.blur > 0.0 || self.image.is_some()
    }
}

/// One plane's cells: `Σ b·v` and `Σ b` per cell, row-major.
struct Cells {
    width: usize,
    height: usize,
    sums: Vec<[f32; 2]>,
}

impl Cells {
    /// Step 1 over a plane of `size` whose cells are `cell` pixels wide;
    /// `weight(u, v)` is how much the point (fractions of the plane) is
    /// background.
    fn down(
        plane: &[u8],
        stride: usize,
        size: (usize, usize),
        cell: usize,
        weight: impl Fn(f32, f32) -> f32,
    ) -> Self {
        let (width, height) = (size.0.div_ceil(cell), size.1.div_ceil(cell));
        let mut sums = vec![[0.0f32; 2]; width * height];
        for (cy, row) in sums.chunks_mut(width).enumerate() {
            for (cx, sum) in row.iter_mut().enumerate() {
                let mut total = 0u32;
                let mut count = 0u32;
                for y in cy * cell..((cy + 1) * cell).min(size.1) {
                    for x in cx * cell..((cx + 1) * cell).min(size.0) {
                        total += u32::from(plane[y * stride + x]);
                        count += 1;
                    }
                }
                let b = weight(
                    (cx as f32 + 0.5) * cell as f32 / size.0 as f32,
                    (cy as f32 + 0.5) * cell as f32 / size.1 as f32,
                );
                *sum = [b * (total as f32 / count as f32), b];
            }
        }
        Self {
            width,
            height,
            sums,
        }
    }

    /// Step 2: the separable Gaussian, clamped at the border.
    fn blur(&mut self, weights: &[f32]) {
        let taps = weights.len() as isize - 1;
        let (w, h) = (self.width as isize, self.height as isize);
        let mut across = vec![[0.0f32; 2]; self.sums.len()];
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0.0f32; 2];
                for i in -taps..=taps {
                    let k = weights[i.unsigned_abs()];
                    let s = self.sums[(y * w + (x + i).clamp(0, w - 1)) as usize];
                    sum[0] += k * s[0];
                    sum[1] += k * s[1];
                }
                across[(y * w + x) as usize] = sum;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0.0f32; 2];
                for i in -taps..=taps {
                    let k = weights[i.unsigned_abs()];
                    let s = across[((y + i).clamp(0, h - 1) * w + x) as usize];
                    sum[0] += k * s[0];
                    sum[1] += k * s[1];
                }
                self.sums[(y * w + x) as usize] = sum;
            }
        }
    }

    /// Step 3's read: both sums bilinearly, given each axis's taps.
    fn at_taps(&self, (x0, x1, tx): Tap, (y0, y1, ty): Tap) -> [f32; 2] {
        let get = |x: usize, y: usize| self.sums[y * self.width + x];
        let mut out = [0.0f32; 2];
        for (c, value) in out.iter_mut().enumerate() {
            let top = get(x0, y0)[c] + (get(x1, y0)[c] - get(x0, y0)[c]) * tx;
            let bottom = get(x0, y1)[c] + (get(x1, y1)[c] - get(x0, y1)[c]) * tx;
            *value = top + (bottom - top) * ty;
        }
        out
    }
}

/// One bilinear tap along an axis: the two grid indices and the weight of
/// the second.
type Tap = (usize, usize, f32);

/// The taps of `n` plane pixels on a grid of `grid` entries, pixel `x`
/// sitting at grid position `position(x)` (clamped to the grid).
fn taps(n: usize, grid: usize, position: impl Fn(usize) -> f32) -> Vec<Tap> {
    let last = grid.saturating_sub(1);
    (0..n)
        .map(|x| {
            let f = position(x).clamp(0.0, last as f32);
            // Non-negative: the cast floors.
            let i0 = f as usize;
            (i0, (i0 + 1).min(last), f - i0 as f32)
        })
        .collect()
}

/// The background blurred or replaced behind the person: `mask` covers
/// `frame` (see [`PersonMask::at`]); `image`, if any, must have the frame's
/// size. The CPU reference of the module's maths.
pub fn apply_background(
    frame: &I420Frame,
    mask: &PersonMask,
    background: &Background<'_>,
) -> Result<I420Frame, BackgroundError> {
    let mut out = frame.clone();
    if !background.is_active() {
        return Ok(out);
    }
    if let Some(image) = background.image {
        if (image.width(), image.height()) != (frame.width(), frame.height()) {
            return Err(BackgroundError::ImageSize {
                expected: (frame.width(), frame.height()),
                found: (image.width(), image.height()),
            });
        }
    }
    let level = BlurLevel::new(background.blur, frame.width(), frame.height());
    let weights = level.weights();
    for (index, plane) in Plane::ALL.into_iter().enumerate() {
        let (pw, ph) = frame.plane_size(plane);
        let size = (pw as usize, ph as usize);
        let cell = (level.cell as usize) >> usize::from(index > 0);
        let behind_person = |u: f32, v: f32| 1.0 - mask.at(u, v);
        let everywhere = |_: f32, _: f32| 1.0;
        let (source, weight_of): (&I420Frame, &dyn Fn(f32, f32) -> f32) = match background.image {
            Some(image) => (image, &everywhere),
            None => (frame, &behind_person),
        };
        let behind = (background.blur > 0.0).then(|| {
            let mut cells = Cells::down(
                source.plane(plane),
                source.stride(plane),
                size,
                cell,
                weight_of,
            );
            cells.blur(&weights);
            cells
        });
        let stride = frame.stride(plane);
        let image_stride = source.stride(plane);
        let input = frame.plane(plane);
        let replacement = source.plane(plane);
        let output = out.plane_mut(plane);
        // The bilinear taps of each column and row, worked out once: the
        // mask's (as `PersonMask::at`) and the cells'.
        let (mw, mh) = (mask.width(), mask.height());
        let mask_x = taps(size.0, mw, |x| {
            (x as f32 + 0.5) / size.0 as f32 * mw as f32 - 0.5
        });
        let mask_y = taps(size.1, mh, |y| {
            (y as f32 + 0.5) / size.1 as f32 * mh as f32 - 0.5
        });
        let cell_taps =
            |n: usize, grid: usize| taps(n, grid, |x| (x as f32 + 0.5) / cell as f32 - 0.5);
        let (cells_x, cells_y) = match &behind {
            Some(cells) => (
                cell_taps(size.0, cells.width),
                cell_taps(size.1, cells.height),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let values = mask.values();
        for y in 0..size.1 {
            let (my0, my1, mty) = mask_y[y];
            let (top, bottom) = (
                &values[my0 * mw..(my0 + 1) * mw],
                &values[my1 * mw..(my1 + 1) * mw],
            );
            for x in 0..size.0 {
                let (mx0, mx1, mtx) = mask_x[x];
                let upper = top[mx0] + (top[mx1] - top[mx0]) * mtx;
                let lower = bottom[mx0] + (bottom[mx1] - bottom[mx0]) * mtx;
                let m = upper + (lower - upper) * mty;
                if m >= 1.0 {
                    continue;
                }
                let v = f32::from(input[y * stride + x]);
                let back = match &behind {
                    Some(cells) => {
                        let [vb, b] = cells.at_taps(cells_x[x], cells_y[y]);
                        (vb + BACKGROUND_EPSILON * v) / (b + BACKGROUND_EPSILON)
                    }
                    None => f32::from(replacement[y * image_stride + x]),
                };
                let mixed = m * v + (1.0 - m) * back;
                output[y * stride + x] = mixed.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(out)
}

/// `image` scaled to cover `width × height` (the shorter fit, the overflow
/// cut evenly from both sides), as an I420 frame.
pub fn cover(image: &image::RgbImage, width: u32, height: u32) -> Result<I420Frame, FrameError> {
    let (iw, ih) = image.dimensions();
    if iw == 0 || ih == 0 {
        return I420Frame::black(width, height);
    }
    let scale = (width as f32 / iw as f32).max(height as f32 / ih as f32);
    let scaled_w = ((iw as f32 * scale).ceil() as u32).max(width);
    let scaled_h = ((ih as f32 * scale).ceil() as u32).max(height);
    let scaled = image::imageops::resize(
        image,
        scaled_w,
        scaled_h,
        image::imageops::FilterType::Triangle,
    );
    let cropped = image::imageops::crop_imm(
        &scaled,
        (scaled_w - width) / 2,
        (scaled_h - height) / 2,
        width,
        height,
    )
    .to_image();
    crate::color::rgb_image_to_i420(&cropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(value: f32) -> PersonMask {
        PersonMask::new(4, 4, vec![value; 16]).unwrap()
    }

    #[test]
    fn the_kernel_sums_to_one_and_the_level_grows_with_strength() {
        for strength in [0.05, 0.3, 0.7, 1.0] {
            let level = BlurLevel::new(strength, 1280, 720);
            let w = level.weights();
            let total = w[0] + 2.0 * w[1..].iter().sum::<f32>();
            assert!((total - 1.0).abs() < 1e-5, "{strength}: {total}");
        }
        let weak = BlurLevel::new(0.1, 1920, 1080);
        let strong = BlurLevel::new(1.0, 1920, 1080);
        assert!(weak.sigma * weak.cell as f32 <= strong.sigma * strong.cell as f32);
        assert!(strong.cell >= weak.cell);
    }

    #[test]
    fn a_person_everywhere_keeps_every_byte() {
        let frame = I420Frame::black(64, 48).unwrap();
        let background = Background {
            blur: 1.0,
            image: None,
        };
        let out = apply_background(&frame, &flat(1.0), &background).unwrap();
        assert_eq!(out.to_packed_bytes(), frame.to_packed_bytes());
    }

    #[test]
    fn no_person_shows_the_replacement_everywhere() {
        let frame = I420Frame::black(64, 48).unwrap();
        let mut image = I420Frame::black(64, 48).unwrap();
        image.plane_mut(Plane::Y).fill(200);
        let background = Background {
            blur: 0.0,
            image: Some(&image),
        };
        let out = apply_background(&frame, &flat(0.0), &background).unwrap();
        assert!(out.plane(Plane::Y).iter().all(|&v| v == 200));
    }

    #[test]
    fn cover_fills_the_frame() {
        let image = image::RgbImage::from_pixel(30, 10, image::Rgb([255, 0, 0]));
        let frame = cover(&image, 16, 16).unwrap();
        assert_eq!((frame.width(), frame.height()), (16, 16));
    }
}
