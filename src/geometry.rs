//! Output geometry: the quality presets' picture sizes, and the mapping from
//! an output pixel back to the input picture (centre crop to the output
//! aspect after zoom, mirror, bilinear scale).
//!
//! The plan computed here is shared by the GPU pass and the CPU reference,
//! so both sample the input at exactly the same positions.
//!
//! Size rule (design notes): the preset's short side is 360 (SD, RTC), 540
//! (HD) or 720 (FHD); the long side is `short * 16 / 9` for 9:16 and
//! `short * 4 / 3` for 3:4. Vertical pictures are `short × long`, horizontal
//! ones `long × short`. Orientation picks the output's shape; it does not
//! rotate the picture.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::frame::MAX_FRAME_SIDE;

/// Largest digital zoom factor accepted.
pub const MAX_ZOOM: f32 = 8.0;

/// Most input samples averaged along one axis when scaling down.
pub const MAX_TAPS: u32 = 4;

/// Invalid geometry settings.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GeometryError {
    /// `--mode` / [`Mode`] not one of sd, hd, fhd, rtc.
    #[error("unknown mode {0:?}: expected sd, hd, fhd or rtc")]
    UnknownMode(String),
    /// `--orientation` not vertical or horizontal.
    #[error("unknown orientation {0:?}: expected vertical or horizontal")]
    UnknownOrientation(String),
    /// `--aspect` not 9:16 or 3:4.
    #[error("unknown aspect {0:?}: expected 9:16 or 3:4")]
    UnknownAspect(String),
    /// Zoom factor NaN, infinite, below 1 or above [`MAX_ZOOM`].
    #[error("zoom {0} out of range: expected a number from 1.0 (no zoom) to {MAX_ZOOM}")]
    InvalidZoom(f32),
    /// Output width or height odd, zero or too large.
    #[error("output size {width}x{height} unsupported: both sides must be even, from 2 to {MAX_FRAME_SIDE}")]
    InvalidOutputSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// Input picture with a zero side.
    #[error("input size {width}x{height} is empty")]
    EmptyInput {
        /// Input width.
        width: u32,
        /// Input height.
        height: u32,
    },
}

/// Quality preset of the pusher (`mode` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Standard definition, short side 360.
    #[default]
    Sd,
    /// High definition, short side 540.
    Hd,
    /// Full HD preset, short side 720.
    Fhd,
    /// Real-time communication: SD size, low latency, adaptive bitrate.
    Rtc,
}

impl Mode {
    /// The short side of the preset's picture, in pixels.
    pub fn short_side(self) -> u32 {
        match self {
            Mode::Sd | Mode::Rtc => 360,
            Mode::Hd => 540,
            Mode::Fhd => 720,
        }
    }
}

impl FromStr for Mode {
    type Err = GeometryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sd" => Ok(Mode::Sd),
            "hd" => Ok(Mode::Hd),
            "fhd" => Ok(Mode::Fhd),
            "rtc" => Ok(Mode::Rtc),
            _ => Err(GeometryError::UnknownMode(s.to_string())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Sd => "sd",
            Mode::Hd => "hd",
            Mode::Fhd => "fhd",
            Mode::Rtc => "rtc",
        })
    }
}

/// Output picture orientation (`orientation` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    /// Portrait: taller than wide.
    #[default]
    Vertical,
    /// Landscape: wider than tall.
    Horizontal,
}

impl FromStr for Orientation {
    type Err = GeometryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "vertical" => Ok(Orientation::Vertical),
            "horizontal" => Ok(Orientation::Horizontal),
            _ => Err(GeometryError::UnknownOrientation(s.to_string())),
        }
    }
}

/// Output aspect ratio (`aspect` attribute), short side : long side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aspect {
    /// 9:16 (16:9 when horizontal).
    #[default]
    NineBySixteen,
    /// 3:4 (4:3 when horizontal).
    ThreeByFour,
}

impl Aspect {
    /// Long side for a given short side.
    pub fn long_side(self, short: u32) -> u32 {
        match self {
            Aspect::NineBySixteen => short * 16 / 9,
            Aspect::ThreeByFour => short * 4 / 3,
        }
    }
}

impl FromStr for Aspect {
    type Err = GeometryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "9:16" | "16:9" => Ok(Aspect::NineBySixteen),
            "3:4" | "4:3" => Ok(Aspect::ThreeByFour),
            _ => Err(GeometryError::UnknownAspect(s.to_string())),
        }
    }
}

/// Size of the processed picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSize {
    width: u32,
    height: u32,
}

impl OutputSize {
    /// An explicit size; both sides must be even (4:2:0 chroma) and non-zero.
    pub fn new(width: u32, height: u32) -> Result<Self, GeometryError> {
        let ok = |side: u32| side >= 2 && side.is_multiple_of(2) && side <= MAX_FRAME_SIDE;
        if !ok(width) || !ok(height) {
            return Err(GeometryError::InvalidOutputSize { width, height });
        }
        Ok(Self { width, height })
    }

    /// The size a preset gives (see the module docs for the rule).
    pub fn for_preset(mode: Mode, orientation: Orientation, aspect: Aspect) -> Self {
        let short = mode.short_side();
        let long = aspect.long_side(short);
        match orientation {
            Orientation::Vertical => Self {
                width: short,
                height: long,
            },
            Orientation::Horizontal => Self {
                width: long,
                height: short,
            },
        }
    }

    /// Width in pixels.
    pub fn width(self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(self) -> u32 {
        self.height
    }
}

/// Per-frame geometry settings: digital zoom and mirror.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeometryParams {
    zoom: f32,
    mirror: bool,
}

impl Default for GeometryParams {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            mirror: false,
        }
    }
}

impl GeometryParams {
    /// Validated settings: `zoom` from 1.0 (none) to [`MAX_ZOOM`]; `mirror`
    /// flips the picture left to right.
    pub fn new(zoom: f32, mirror: bool) -> Result<Self, GeometryError> {
        if !zoom.is_finite() || !(1.0..=MAX_ZOOM).contains(&zoom) {
            return Err(GeometryError::InvalidZoom(zoom));
        }
        Ok(Self { zoom, mirror })
    }

    /// Zoom factor (1.0 = none).
    pub fn zoom(self) -> f32 {
        self.zoom
    }

    /// Whether the picture is mirrored.
    pub fn mirror(self) -> bool {
        self.mirror
    }
}

/// A rectangle of whole input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    /// Left edge (always even, so chroma stays aligned).
    pub x: u32,
    /// Top edge (always even).
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Where each output pixel samples the input.
///
/// For an output pixel centre `(px, py)` (pixel index + 0.5), the input
/// position in pixel-centre coordinates (pixel index, no +0.5) is
/// `x = map_x[0] * px + map_x[1] * py + map_x[2]`, likewise `y` with `map_y`.
/// Samples are clamped to the crop rectangle; when scaling down by more than
/// 1×, `taps_x × taps_y` bilinear samples spread over the pixel's footprint
/// are averaged (a box prefilter), so downscaling does not alias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeometryPlan {
    /// Input picture width.
    pub input_width: u32,
    /// Input picture height.
    pub input_height: u32,
    /// The output size.
    pub output: OutputSize,
    /// The part of the input that is shown.
    pub crop: CropRect,
    /// Affine map of the output x coordinate.
    pub map_x: [f32; 3],
    /// Affine map of the output y coordinate.
    pub map_y: [f32; 3],
    /// Input pixels per output pixel, horizontally.
    pub scale_x: f32,
    /// Input pixels per output pixel, vertically.
    pub scale_y: f32,
    /// Bilinear samples averaged horizontally (1 when not scaling down).
    pub taps_x: u32,
    /// Bilinear samples averaged vertically.
    pub taps_y: u32,
}

impl GeometryPlan {
    /// Plans the mapping of an input of the given size onto `output`.
    ///
    /// The crop is the largest centred rectangle of the output's aspect,
    /// shrunk by the zoom factor and rounded to whole pixels, `W×H` at
    /// `((in_w - W) / 2, (in_h - H) / 2)`; then, to stay aligned with the 4:2:0
    /// chroma, origin and size are rounded down to even numbers, exactly as
    /// FFmpeg's `crop` filter does (`crop=405:720:437:0` crops 404×720 at 436).
    pub fn new(
        input_width: u32,
        input_height: u32,
        output: OutputSize,
        params: GeometryParams,
    ) -> Result<Self, GeometryError> {
        if input_width == 0 || input_height == 0 {
            return Err(GeometryError::EmptyInput {
                width: input_width,
                height: input_height,
            });
        }
        let (iw, ih) = (input_width as u64, input_height as u64);
        let (ow, oh) = (output.width as u64, output.height as u64);
        // Largest rectangle of aspect ow:oh inside the input, in exact integers.
        let (base_w, base_h) = if iw * oh > ih * ow {
            (((ih * ow) as f64 / oh as f64).round(), ih as f64)
        } else {
            (iw as f64, ((iw * oh) as f64 / ow as f64).round())
        };
        let zoom = params.zoom as f64;
        let crop_w = ((base_w / zoom).round() as u32).clamp(1, input_width);
        let crop_h = ((base_h / zoom).round() as u32).clamp(1, input_height);
        let crop = CropRect {
            x: ((input_width - crop_w) / 2) & !1,
            y: ((input_height - crop_h) / 2) & !1,
            width: even_side(crop_w),
            height: even_side(crop_h),
        };
        let (crop_w, crop_h) = (crop.width, crop.height);
        let scale_x = crop_w as f32 / output.width as f32;
        let scale_y = crop_h as f32 / output.height as f32;
        let map_x = if params.mirror {
            [
                -scale_x,
                0.0,
                crop.x as f32 + output.width as f32 * scale_x - 0.5,
            ]
        } else {
            [scale_x, 0.0, crop.x as f32 - 0.5]
        };
        let map_y = [0.0, scale_y, crop.y as f32 - 0.5];
        Ok(Self {
            input_width,
            input_height,
            output,
            crop,
            map_x,
            map_y,
            scale_x,
            scale_y,
            taps_x: taps_for(scale_x),
            taps_y: taps_for(scale_y),
        })
    }

    /// Where a point of the input picture lands in the output, both in
    /// continuous coordinates (pixel (0, 0) spans 0..1, its centre is 0.5).
    /// The inverse of [`GeometryPlan::map`] (which works in pixel-centre input
    /// coordinates, hence the half pixel).
    pub fn to_output(&self, point: [f32; 2]) -> [f32; 2] {
        let [a, b, c] = self.map_x;
        let [d, e, f] = self.map_y;
        let (x, y) = (point[0] - 0.5 - c, point[1] - 0.5 - f);
        let det = a * e - b * d;
        [(e * x - b * y) / det, (a * y - d * x) / det]
    }

    /// Input position (pixel-centre coordinates) of the output point `(px, py)`.
    pub fn map(&self, px: f32, py: f32) -> (f32, f32) {
        (
            self.map_x[0] * px + self.map_x[1] * py + self.map_x[2],
            self.map_y[0] * px + self.map_y[1] * py + self.map_y[2],
        )
    }
}

/// A crop side rounded down to even; a side of 1 stays 1.
fn even_side(side: u32) -> u32 {
    if side < 2 {
        side
    } else {
        side & !1
    }
}

/// Samples to average along an axis scaled down by `scale` input pixels per
/// output pixel: 1 up to 1×, then one per input pixel covered, at most
/// [`MAX_TAPS`].
fn taps_for(scale: f32) -> u32 {
    (scale - 1e-3).ceil().clamp(1.0, MAX_TAPS as f32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_sizes_follow_the_rule() {
        use Aspect::*;
        use Mode::*;
        use Orientation::*;
        let size = |m, o, a| {
            let s = OutputSize::for_preset(m, o, a);
            (s.width(), s.height())
        };
        assert_eq!(size(Sd, Vertical, NineBySixteen), (360, 640));
        assert_eq!(size(Rtc, Vertical, NineBySixteen), (360, 640));
        assert_eq!(size(Hd, Vertical, NineBySixteen), (540, 960));
        assert_eq!(size(Fhd, Vertical, NineBySixteen), (720, 1280));
        assert_eq!(size(Fhd, Horizontal, NineBySixteen), (1280, 720));
        assert_eq!(size(Sd, Vertical, ThreeByFour), (360, 480));
        assert_eq!(size(Hd, Horizontal, ThreeByFour), (720, 540));
        assert_eq!(size(Fhd, Vertical, ThreeByFour), (720, 960));
    }

    #[test]
    fn parses_and_rejects_names() {
        assert_eq!("FHD".parse::<Mode>(), Ok(Mode::Fhd));
        assert!(matches!(
            "uhd".parse::<Mode>(),
            Err(GeometryError::UnknownMode(_))
        ));
        assert_eq!("3:4".parse::<Aspect>(), Ok(Aspect::ThreeByFour));
        assert!("1:1".parse::<Aspect>().is_err());
        assert!("diagonal".parse::<Orientation>().is_err());
    }

    #[test]
    fn zoom_must_be_finite_and_at_least_one() {
        for bad in [0.0, 0.5, f32::NAN, f32::INFINITY, -2.0, 9.0] {
            assert!(GeometryParams::new(bad, false).is_err(), "{bad}");
        }
        assert!(GeometryParams::new(1.0, true).is_ok());
        assert!(OutputSize::new(541, 960).is_err());
        assert!(OutputSize::new(0, 960).is_err());
    }

    #[test]
    fn landscape_720p_to_vertical_fhd_crops_like_ffmpeg() {
        let out = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
        let plan = GeometryPlan::new(1280, 720, out, GeometryParams::default()).unwrap();
        assert_eq!(
            plan.crop,
            CropRect {
                x: 436,
                y: 0,
                width: 404,
                height: 720
            }
        );
        assert_eq!((plan.taps_x, plan.taps_y), (1, 1));
        // First output pixel centre samples near the crop's left edge.
        let (x, _) = plan.map(0.5, 0.5);
        assert!((x - (436.0 + 0.5 * 404.0 / 720.0 - 0.5)).abs() < 1e-4);
    }

    #[test]
    fn to_output_inverts_map() {
        let out = OutputSize::new(360, 640).unwrap();
        let plan =
            GeometryPlan::new(1280, 720, out, GeometryParams::new(1.3, true).unwrap()).unwrap();
        for (px, py) in [(0.5f32, 0.5f32), (100.25, 300.0), (359.5, 639.5)] {
            let (ix, iy) = plan.map(px, py);
            let back = plan.to_output([ix + 0.5, iy + 0.5]);
            assert!((back[0] - px).abs() < 1e-3 && (back[1] - py).abs() < 1e-3);
        }
    }

    #[test]
    fn mirror_reverses_the_horizontal_mapping() {
        let out = OutputSize::new(64, 64).unwrap();
        let plain = GeometryPlan::new(128, 64, out, GeometryParams::default()).unwrap();
        let mirrored =
            GeometryPlan::new(128, 64, out, GeometryParams::new(1.0, true).unwrap()).unwrap();
        for px in [0.5f32, 10.5, 63.5] {
            let (a, _) = plain.map(px, 3.5);
            let (b, _) = mirrored.map(64.0 - px, 3.5);
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn zoom_shrinks_the_centred_crop_and_downscale_adds_taps() {
        let out = OutputSize::new(320, 180).unwrap();
        let plan =
            GeometryPlan::new(1280, 720, out, GeometryParams::new(2.0, false).unwrap()).unwrap();
        assert_eq!(
            plan.crop,
            CropRect {
                x: 320,
                y: 180,
                width: 640,
                height: 360
            }
        );
        assert_eq!((plan.taps_x, plan.taps_y), (2, 2));
    }
}
