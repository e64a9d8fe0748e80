//! Colour conversion between 8-bit YCbCr and RGB: one matrix, one range,
//! used both ways, on the CPU and (through [`ColorMatrix::shader_constants`])
//! in the shaders.
//!
//! liveroom uses **BT.601 coefficients (Kr = 0.299, Kb = 0.114) at video
//! ("limited", "TV") range**: Y in 16..=235, Cb/Cr in 16..=240, RGB in
//! 0.0..=1.0. That is what FFmpeg's swscale assumes by default for
//! `yuv420p`, so frames compare cleanly with FFmpeg's output, and what our
//! H.264 stream signals. Chroma samples are centre-sited (between the four
//! luma samples they cover), as in `C420jpeg` Y4M files.
//!
//! The two directions are exact inverses in real arithmetic, so YUV → RGB →
//! YUV with no effect in between returns the input (up to rounding).

use crate::frame::{chroma_size, FrameError, I420Frame, Plane};

/// Luma weight of red.
pub const KR: f32 = 0.299;
/// Luma weight of blue.
pub const KB: f32 = 0.114;

/// The conversion matrices, in the form the shaders take them.
///
/// YUV and RGB values here are normalised: an 8-bit sample `s` is `s / 255`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorMatrix {
    /// Rows of the YUV → RGB matrix, applied to `yuv - yuv_offset`.
    pub yuv_to_rgb: [[f32; 3]; 3],
    /// Subtracted from normalised (Y, U, V) before `yuv_to_rgb`.
    pub yuv_offset: [f32; 3],
    /// Rows of the RGB → YUV matrix; `yuv_offset` is added afterwards.
    pub rgb_to_yuv: [[f32; 3]; 3],
}

impl ColorMatrix {
    /// BT.601, video range: the one matrix liveroom uses.
    pub fn bt601_video_range() -> Self {
        let kg = 1.0 - KR - KB;
        // Video range: luma spans 219 of 255 codes, chroma 224.
        let ys = 219.0 / 255.0;
        let cs = 224.0 / 255.0;
        // E'Y = KR R + kg G + KB B; Cb = (B - Y) / (2 (1 - KB)); Cr = (R - Y) / (2 (1 - KR)).
        let rgb_to_yuv = [
            [KR * ys, kg * ys, KB * ys],
            [
                -KR / (2.0 * (1.0 - KB)) * cs,
                -kg / (2.0 * (1.0 - KB)) * cs,
                0.5 * cs,
            ],
            [
                0.5 * cs,
                -kg / (2.0 * (1.0 - KR)) * cs,
                -KB / (2.0 * (1.0 - KR)) * cs,
            ],
        ];
        let yuv_to_rgb = [
            [1.0 / ys, 0.0, 2.0 * (1.0 - KR) / cs],
            [
                1.0 / ys,
                -2.0 * (1.0 - KB) * KB / kg / cs,
                -2.0 * (1.0 - KR) * KR / kg / cs,
            ],
            [1.0 / ys, 2.0 * (1.0 - KB) / cs, 0.0],
        ];
        Self {
            yuv_to_rgb,
            yuv_offset: [16.0 / 255.0, 128.0 / 255.0, 128.0 / 255.0],
            rgb_to_yuv,
        }
    }

    /// Normalised (Y, U, V) → normalised (R, G, B); no clamping.
    pub fn yuv_to_rgb(&self, yuv: [f32; 3]) -> [f32; 3] {
        let d = [
            yuv[0] - self.yuv_offset[0],
            yuv[1] - self.yuv_offset[1],
            yuv[2] - self.yuv_offset[2],
        ];
        self.yuv_to_rgb.map(|row| dot3(row, d))
    }

    /// Normalised (R, G, B) → normalised (Y, U, V); no clamping.
    pub fn rgb_to_yuv(&self, rgb: [f32; 3]) -> [f32; 3] {
        let m = self.rgb_to_yuv;
        [
            dot3(m[0], rgb) + self.yuv_offset[0],
            dot3(m[1], rgb) + self.yuv_offset[1],
            dot3(m[2], rgb) + self.yuv_offset[2],
        ]
    }

    /// The matrices as the shaders' override constants: `YUV_TO_RGB_rc`,
    /// `RGB_TO_YUV_rc` (row r, column c) and `YUV_OFFSET_k`.
    pub fn shader_constants(&self) -> Vec<(String, f64)> {
        let mut constants = Vec::with_capacity(21);
        for (name, matrix) in [
            ("YUV_TO_RGB", self.yuv_to_rgb),
            ("RGB_TO_YUV", self.rgb_to_yuv),
        ] {
            for (r, row) in matrix.iter().enumerate() {
                for (c, value) in row.iter().enumerate() {
                    constants.push((format!("{name}_{r}{c}"), *value as f64));
                }
            }
        }
        for (k, value) in self.yuv_offset.iter().enumerate() {
            constants.push((format!("YUV_OFFSET_{k}"), *value as f64));
        }
        constants
    }
}

fn dot3(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A normalised value (0..1) to an 8-bit sample: scaled, rounded half to
/// even (as WGSL's `round` does) and clamped.
pub fn to_u8(value: f32) -> u8 {
    // Adding and taking away 2²³ rounds half to even in the default
    // rounding mode for 0 ≤ x ≤ 255, without the libm call that
    // `round_ties_even` is on a baseline x86-64 target (no SSE4.1). NaN
    // stays NaN and casts to 0, as before. Checked against
    // `round_ties_even` on every f32 of magnitude ≤ 2 (2³¹ values, none
    // differ) once; the unit test below keeps a sweep.
    const ROUNDER: f32 = 8_388_608.0;
    let scaled = (value * 255.0).clamp(0.0, 255.0);
    ((scaled + ROUNDER) - ROUNDER) as u8
}

/// 8-bit RGB → 8-bit (Y, U, V), for CPU-side conversions such as still images.
pub fn rgb8_to_yuv(matrix: &ColorMatrix, rgb: [u8; 3]) -> [f32; 3] {
    matrix.rgb_to_yuv(rgb.map(|c| c as f32 / 255.0))
}

/// Converts an 8-bit RGB image to an I420 frame with [`ColorMatrix::bt601_video_range`]:
/// luma per pixel, chroma as the mean of each 2×2 block's chroma (centre-sited).
pub fn rgb_image_to_i420(image: &image::RgbImage) -> Result<I420Frame, FrameError> {
    let (width, height) = image.dimensions();
    rgb_to_i420_with(width, height, |x, y| image.get_pixel(x, y).0)
}

/// The conversion of [`rgb_image_to_i420`] for any source of 8-bit RGB
/// pixels: `pixel(x, y)` gives the pixel at column `x`, row `y` (packed
/// RGBA/BGRA frames use it, so every RGB input converts the same way).
pub fn rgb_to_i420_with(
    width: u32,
    height: u32,
    pixel: impl Fn(u32, u32) -> [u8; 3],
) -> Result<I420Frame, FrameError> {
    let mut frame = I420Frame::black(width, height)?;
    let matrix = ColorMatrix::bt601_video_range();
    let (cw, ch) = chroma_size(width, height);
    for cy in 0..ch {
        for cx in 0..cw {
            let mut sum = [0.0f32; 2];
            let mut count = 0.0;
            for y in (2 * cy)..(2 * cy + 2).min(height) {
                for x in (2 * cx)..(2 * cx + 2).min(width) {
                    let yuv = rgb8_to_yuv(&matrix, pixel(x, y));
                    frame.row_mut(Plane::Y, y)[x as usize] = to_u8(yuv[0]);
                    sum[0] += yuv[1];
                    sum[1] += yuv[2];
                    count += 1.0;
                }
            }
            frame.row_mut(Plane::U, cy)[cx as usize] = to_u8(sum[0] / count);
            frame.row_mut(Plane::V, cy)[cx as usize] = to_u8(sum[1] / count);
        }
    }
    Ok(frame)
}

/// Converts an I420 frame to an 8-bit RGB image (chroma repeated over each
/// 2×2 block), for snapshots and contact sheets.
pub fn i420_to_rgb_image(frame: &I420Frame) -> image::RgbImage {
    let matrix = ColorMatrix::bt601_video_range();
    image::RgbImage::from_fn(frame.width(), frame.height(), |x, y| {
        let yuv = [
            frame.sample(Plane::Y, x, y),
            frame.sample(Plane::U, x / 2, y / 2),
            frame.sample(Plane::V, x / 2, y / 2),
        ]
        .map(|s| s as f32 / 255.0);
        image::Rgb(matrix.yuv_to_rgb(yuv).map(to_u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_u8_rounds_half_to_even_and_clamps() {
        let mut value = -0.1f32;
        while value < 1.1 {
            let want = (value * 255.0).round_ties_even().clamp(0.0, 255.0) as u8;
            assert_eq!(to_u8(value), want, "{value}");
            value += 1.0 / 4096.0;
        }
        for level in 0..255u8 {
            let half = (f32::from(level) + 0.5) / 255.0;
            let want = (half * 255.0).round_ties_even() as u8;
            assert_eq!(to_u8(half), want, "{level}.5");
        }
        assert_eq!(to_u8(f32::NAN), 0);
    }

    #[test]
    fn known_colours_land_on_video_range_codes() {
        let m = ColorMatrix::bt601_video_range();
        let white = rgb8_to_yuv(&m, [255, 255, 255]).map(to_u8);
        let black = rgb8_to_yuv(&m, [0, 0, 0]).map(to_u8);
        let red = rgb8_to_yuv(&m, [255, 0, 0]).map(to_u8);
        assert_eq!(white, [235, 128, 128]);
        assert_eq!(black, [16, 128, 128]);
        // BT.601 red: Y 81, Cb 90, Cr 240.
        assert_eq!(red, [81, 90, 240]);
    }

    #[test]
    fn image_conversion_round_trips_flat_colours() {
        let image = image::RgbImage::from_fn(5, 3, |x, _| {
            if x < 2 {
                image::Rgb([200, 120, 90])
            } else {
                image::Rgb([20, 60, 180])
            }
        });
        let frame = rgb_image_to_i420(&image).unwrap();
        assert_eq!(frame.plane_size(Plane::U), (3, 2));
        let back = i420_to_rgb_image(&frame);
        for (a, b) in [(0, 0), (4, 2)].map(|(x, y)| (image.get_pixel(x, y), back.get_pixel(x, y))) {
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 2, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn round_trip_is_identity() {
        let m = ColorMatrix::bt601_video_range();
        for y in (16..=235).step_by(7) {
            for u in (16..=240).step_by(11) {
                for v in (16..=240).step_by(13) {
                    let yuv = [y, u, v].map(|s| s as f32 / 255.0);
                    let back = m.rgb_to_yuv(m.yuv_to_rgb(yuv)).map(to_u8);
                    assert_eq!(back, [y as u8, u as u8, v as u8]);
                }
            }
        }
    }
}
