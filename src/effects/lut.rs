//! Colour look-up tables (the colour filter's "looks"): the common
//! 512×512 PNG layout of a 64×64×64 RGB cube, as GPUImage and vendor SDKs
//! ship them. The image is 8×8 tiles of 64×64 pixels; blue selects the tile
//! (row-major from the top left), red is x and green is y inside it.
//!
//! A pixel's RGB is looked up trilinearly ([`Lut::apply`]); the CPU
//! reference and the CPU route call it, `shaders/finish.wgsl` repeats it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use thiserror::Error;

use super::lut_yuv::LutYuvTable;

/// Entries per side of the cube.
pub const LUT_SIDE: u32 = 64;
/// Width and height of the PNG layout (8 tiles of [`LUT_SIDE`] each way).
pub const LUT_IMAGE_SIDE: u32 = 512;
/// Tiles per row of the PNG layout.
const TILES_ACROSS: u32 = LUT_IMAGE_SIDE / LUT_SIDE;

/// Why a look-up table could not be loaded.
#[derive(Debug, Error)]
pub enum LutError {
    /// The file could not be read or decoded as an image.
    #[error("cannot read look-up table {path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: image::ImageError,
    },
    /// The image is not 512×512.
    #[error(
        "look-up table {path} is {width}x{height}: expected a 512x512 PNG (8x8 tiles of 64x64)"
    )]
    WrongSize {
        /// The file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
}

/// A 64×64×64 RGB look-up table.
#[derive(Clone)]
pub struct Lut {
    /// Entry `(r, g, b)` at `(b × 64 + g) × 64 + r`.
    entries: Vec<[u8; 3]>,
    /// The table in YUV for the CPU route, made on first use.
    yuv: OnceLock<Arc<LutYuvTable>>,
}

impl PartialEq for Lut {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Lut {}

impl std::fmt::Debug for Lut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lut").finish_non_exhaustive()
    }
}

fn index(r: u32, g: u32, b: u32) -> usize {
    ((b * LUT_SIDE + g) * LUT_SIDE + r) as usize
}

fn to_level(value: f32) -> u8 {
    (value * 255.0).round().clamp(0.0, 255.0) as u8
}

impl Lut {
    /// The table that maps every colour to itself (up to 8-bit rounding).
    pub fn identity() -> Self {
        Self::from_fn(|rgb| rgb)
    }

    /// The table of `look`, a map of normalised RGB (0..1) to RGB, sampled
    /// at the cube's 64³ points and rounded to 8 bits.
    pub fn from_fn(look: impl Fn([f32; 3]) -> [f32; 3]) -> Self {
        let step = 1.0 / (LUT_SIDE - 1) as f32;
        let mut entries = Vec::with_capacity((LUT_SIDE * LUT_SIDE * LUT_SIDE) as usize);
        for b in 0..LUT_SIDE {
            for g in 0..LUT_SIDE {
                for r in 0..LUT_SIDE {
                    let rgb = look([r as f32 * step, g as f32 * step, b as f32 * step]);
                    entries.push(rgb.map(to_level));
                }
            }
        }
        Self::with_entries(entries)
    }

    fn with_entries(entries: Vec<[u8; 3]>) -> Self {
        Self {
            entries,
            yuv: OnceLock::new(),
        }
    }

    /// The table precomputed in YUV (the CPU route's filter), made on the
    /// first call (about 0.1 s) and kept.
    pub(crate) fn yuv_table(&self) -> &LutYuvTable {
        self.yuv.get_or_init(|| Arc::new(LutYuvTable::new(self)))
    }

    /// Reads a table from a 512×512 image (PNG or any format `image`
    /// reads); the alpha channel, if any, is ignored.
    pub fn open(path: &Path) -> Result<Self, LutError> {
        let image = image::open(path).map_err(|source| LutError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_image(&image.to_rgb8()).map_err(|(width, height)| LutError::WrongSize {
            path: path.to_path_buf(),
            width,
            height,
        })
    }

    /// The table in a 512×512 RGB image; `Err((width, height))` for any
    /// other size.
    pub fn from_image(image: &image::RgbImage) -> Result<Self, (u32, u32)> {
        if image.dimensions() != (LUT_IMAGE_SIDE, LUT_IMAGE_SIDE) {
            return Err(image.dimensions());
        }
        let mut entries = vec![[0u8; 3]; (LUT_SIDE * LUT_SIDE * LUT_SIDE) as usize];
        for b in 0..LUT_SIDE {
            let (tx, ty) = (b % TILES_ACROSS, b / TILES_ACROSS);
            for g in 0..LUT_SIDE {
                for r in 0..LUT_SIDE {
                    let pixel = image.get_pixel(tx * LUT_SIDE + r, ty * LUT_SIDE + g);
                    entries[index(r, g, b)] = pixel.0;
                }
            }
        }
        Ok(Self::with_entries(entries))
    }

    /// The table as a 512×512 image (the layout [`Lut::from_image`] reads).
    pub fn to_image(&self) -> image::RgbImage {
        image::RgbImage::from_fn(LUT_IMAGE_SIDE, LUT_IMAGE_SIDE, |x, y| {
            let b = (y / LUT_SIDE) * TILES_ACROSS + x / LUT_SIDE;
            image::Rgb(self.entries[index(x % LUT_SIDE, y % LUT_SIDE, b)])
        })
    }

    /// The entries packed one per `u32` (`r | g << 8 | b << 16`), in the
    /// cube's order: the GPU's copy of the table.
    pub fn packed(&self) -> Vec<u32> {
        self.entries
            .iter()
            .map(|[r, g, b]| u32::from(*r) | u32::from(*g) << 8 | u32::from(*b) << 16)
            .collect()
    }

    /// The colour the table gives normalised `rgb` (clamped to 0..1),
    /// trilinear between the cube's 8 points around it.
    pub fn apply(&self, rgb: [f32; 3]) -> [f32; 3] {
        let last = (LUT_SIDE - 1) as f32;
        let mut cell = [0usize; 3];
        let mut t = [0.0f32; 3];
        for k in 0..3 {
            let p = rgb[k].clamp(0.0, 1.0) * last;
            // p ≥ 0: truncation is the floor, without a libm call.
            let c = (p as usize).min(LUT_SIDE as usize - 2);
            cell[k] = c;
            t[k] = p - c as f32;
        }
        // The 8 corners lie within one step of each axis from `base`.
        let (dg, db) = (LUT_SIDE as usize, (LUT_SIDE * LUT_SIDE) as usize);
        let base = index(cell[0] as u32, cell[1] as u32, cell[2] as u32);
        let Some(cube) = self.entries.get(base..=base + db + dg + 1) else {
            return rgb;
        };
        let mut out = [0.0f32; 3];
        for (k, value) in out.iter_mut().enumerate() {
            let at = |offset: usize| f32::from(cube[offset][k]);
            let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
            let plane = |o: usize| {
                lerp(
                    lerp(at(o), at(o + 1), t[0]),
                    lerp(at(o + dg), at(o + dg + 1), t[0]),
                    t[1],
                )
            };
            *value = lerp(plane(0), plane(db), t[2]) / 255.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_maps_colours_to_themselves() {
        let lut = Lut::identity();
        for rgb in [
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            [0.2, 0.55, 0.9],
            [0.7, 0.1, 0.33],
        ] {
            let out = lut.apply(rgb);
            for k in 0..3 {
                assert!(
                    (out[k] - rgb[k]).abs() <= 0.5 / 255.0 + 1e-6,
                    "{rgb:?} → {out:?}"
                );
            }
        }
        // Out of range input is clamped to the cube.
        assert_eq!(lut.apply([-1.0, 2.0, 0.0]), [0.0, 1.0, 0.0]);
    }

    #[test]
    fn image_layout_round_trips_and_blue_picks_the_tile() {
        let lut = Lut::from_fn(|[r, g, b]| [g, b, r]);
        let image = lut.to_image();
        // Blue 9 is tile (1, 1); red 5 is x, green 7 is y inside it.
        let pixel = image.get_pixel(64 + 5, 64 + 7).0;
        assert_eq!(pixel, lut.entries[index(5, 7, 9)]);
        assert_eq!(
            pixel,
            [
                to_level(7.0 / 63.0),
                to_level(9.0 / 63.0),
                to_level(5.0 / 63.0)
            ]
        );
        assert!(Lut::from_image(&image).is_ok_and(|back| back == lut));
        let small = image::RgbImage::new(256, 512);
        assert_eq!(Lut::from_image(&small), Err((256, 512)));
    }

    #[test]
    fn bad_files_give_typed_errors() {
        let dir = std::env::temp_dir().join(format!("liveroom-lut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let corrupt = dir.join("corrupt.png");
        std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").expect("write");
        assert!(matches!(Lut::open(&corrupt), Err(LutError::Image { .. })));
        assert!(matches!(
            Lut::open(&dir.join("missing.png")),
            Err(LutError::Image { .. })
        ));
        let small = dir.join("small.png");
        image::RgbImage::new(64, 64).save(&small).expect("save");
        let err = Lut::open(&small).expect_err("wrong size");
        assert!(matches!(
            err,
            LutError::WrongSize {
                width: 64,
                height: 64,
                ..
            }
        ));
        assert!(err.to_string().contains("64x64"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
