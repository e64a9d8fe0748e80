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
        // Each cell row: its pixel rows summed per column, then the columns
        // summed per cell.
        let mut columns = vec![0u32; size.0];
        for (cy, row) in sums.chunks_mut(width).enumerate() {
            columns.fill(0);
            let rows = cy * cell..((cy + 1) * cell).min(size.1);
            let cell_rows = rows.len();
            for y in rows {
                let pixels = &plane[y * stride..][..size.0];
                for (total, &p) in columns.iter_mut().zip(pixels) {
                    *total += u32::from(p);
                }
            }
            for ((cx, sum), totals) in row.iter_mut().enumerate().zip(columns.chunks(cell)) {
                let total: u32 = totals.iter().sum();
                let count = (totals.len() * cell_rows) as f32;
                let b = weight(
                    (cx as f32 + 0.5) * cell as f32 / size.0 as f32,
                    (cy as f32 + 0.5) * cell as f32 / size.1 as f32,
                );
                *sum = [b * (total as f32 / count), b];
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
        let taps = weights.len() - 1;
        let (w, h) = (self.width, self.height);
        // Each pass reads a line padded with copies of its end points, so
        // that every tap is a plain read.
        let mut padded = Vec::with_capacity(w.max(h) + 2 * taps);
        let mut line =
            |get: &dyn Fn(usize) -> [f32; 2], n: usize, put: &mut dyn FnMut(usize, [f32; 2])| {
                padded.clear();
                padded.extend(std::iter::repeat_n(get(0), taps));
                padded.extend((0..n).map(get));
                padded.extend(std::iter::repeat_n(get(n - 1), taps));
                for i in 0..n {
                    let centre = i + taps;
                    let mut sum = [
                        weights[0] * padded[centre][0],
                        weights[0] * padded[centre][1],
                    ];
                    for (k, weight) in weights.iter().enumerate().skip(1) {
                        let (a, b) = (padded[centre - k], padded[centre + k]);
                        sum[0] += weight * (a[0] + b[0]);
                        sum[1] += weight * (a[1] + b[1]);
                    }
                    put(i, sum);
                }
            };
        let mut across = vec![[0.0f32; 2]; self.sums.len()];
        for y in 0..h {
            let row = &self.sums[y * w..(y + 1) * w];
            let out = &mut across[y * w..(y + 1) * w];
            line(&|x| row[x], w, &mut |x, sum| out[x] = sum);
        }
        for x in 0..w {
            let sums = &mut self.sums;
            line(&|y| across[y * w + x], h, &mut |y, sum| {
                sums[y * w + x] = sum
            });
        }
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
        let blend = Blend {
            mask,
            mask_x: &mask_x,
            mask_y: &mask_y,
            cells: behind
                .as_ref()
                .map(|cells| (cells, &cells_x[..], &cells_y[..])),
            input,
            stride,
            replacement,
            image_stride,
            width: size.0,
        };
        // Two threads, each on half the rows; the bottom half waits in a
        // slot so that it is still here to do if the thread cannot start.
        let output = out.plane_mut(plane);
        let middle = size.1 / 2;
        let (top, bottom) = output.split_at_mut((middle * stride).min(output.len()));
        let slot = std::sync::Mutex::new(Some(bottom));
        let take = || slot.lock().ok().and_then(|mut rows| rows.take());
        let blend = &blend;
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("liveroom-rows".into())
                .spawn_scoped(scope, || {
                    if let Some(rows) = take() {
                        blend.rows(middle..size.1, rows);
                    }
                });
            blend.rows(0..middle, top);
            if spawned.is_err() {
                if let Some(rows) = take() {
                    blend.rows(middle..size.1, rows);
                }
            }
        });
    }
    Ok(out)
}

/// Step 3 for one plane: what each output row needs to mix the pixel
/// with its background.
struct Blend<'a> {
    mask: &'a PersonMask,
    mask_x: &'a [Tap],
    mask_y: &'a [Tap],
    /// The blurred cells and their column and row taps, when blurring.
    cells: Option<(&'a Cells, &'a [Tap], &'a [Tap])>,
    input: &'a [u8],
    stride: usize,
    /// The replacement picture's plane (the input's when blurring).
    replacement: &'a [u8],
    image_stride: usize,
    width: usize,
}

impl Blend<'_> {
    /// Mixes rows `range` into `output` (the plane's rows from
    /// `range.start` on). Each row first interpolates the mask's and the
    /// cells' two grid rows down to one, then reads across it.
    fn rows(&self, range: std::ops::Range<usize>, output: &mut [u8]) {
        let (mw, values) = (self.mask.width(), self.mask.values());
        let mut mask_row = vec![0.0f32; mw];
        let mut cell_row = Vec::new();
        for y in range.clone() {
            let (my0, my1, mty) = self.mask_y[y];
            let (top, bottom) = (
                &values[my0 * mw..(my0 + 1) * mw],
                &values[my1 * mw..(my1 + 1) * mw],
            );
            for ((m, a), b) in mask_row.iter_mut().zip(top).zip(bottom) {
                *m = a + (b - a) * mty;
            }
            if let Some((cells, _, cells_y)) = self.cells {
                let (cy0, cy1, cty) = cells_y[y];
                let w = cells.width;
                let (upper, lower) = (
                    &cells.sums[cy0 * w..(cy0 + 1) * w],
                    &cells.sums[cy1 * w..(cy1 + 1) * w],
                );
                cell_row.clear();
                cell_row.extend(
                    upper
                        .iter()
                        .zip(lower)
                        .map(|(a, b)| [a[0] + (b[0] - a[0]) * cty, a[1] + (b[1] - a[1]) * cty]),
                );
            }
            let out_row = &mut output[(y - range.start) * self.stride..][..self.width];
            let in_row = &self.input[y * self.stride..][..self.width];
            let image_row = &self.replacement[y * self.image_stride..][..self.width];
            for (x, ((out, &v), &image)) in
                out_row.iter_mut().zip(in_row).zip(image_row).enumerate()
            {
                let (mx0, mx1, mtx) = self.mask_x[x];
                let m = mask_row[mx0] + (mask_row[mx1] - mask_row[mx0]) * mtx;
                if m >= 1.0 {
                    continue;
                }
                let v = f32::from(v);
                let back = match self.cells {
                    Some((_, cells_x, _)) => {
                        let (cx0, cx1, ctx) = cells_x[x];
                        let (a, b) = (cell_row[cx0], cell_row[cx1]);
                        let vb = a[0] + (b[0] - a[0]) * ctx;
                        let weight = a[1] + (b[1] - a[1]) * ctx;
                        (vb + BACKGROUND_EPSILON * v) / (weight + BACKGROUND_EPSILON)
                    }
                    None => f32::from(image),
                };
                let mixed = m * v + (1.0 - m) * back;
                *out = mixed.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
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
