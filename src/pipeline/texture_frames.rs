//! Frames that live on the GPU: a caller's textures as the pipeline's
//! input ([`TextureFrame`]) and as its output ([`TextureTarget`]), and the
//! checks that they fit ([`TextureError`]).
//!
//! The textures must come from the device the pipeline runs on (the one an
//! app shares through [`crate::GpuContext::from_wgpu`]); a texture of
//! another device fails wgpu's validation, reported as
//! [`crate::GpuError::Operation`].
//!
//! **RGB and sRGB.** The pipeline works on the gamma-encoded R'G'B' bytes
//! video carries (BT.601, [`crate::color`]). `Rgba8Unorm`/`Bgra8Unorm`
//! textures hold those bytes as they are. The `…Srgb` variants are taken
//! too, and hold the same bytes: an sRGB input's reads (linear light) are
//! encoded back to its stored bytes before conversion, and an sRGB
//! target's writes are decoded first, so that what it stores (and a
//! surface shows) is the same R'G'B' as a `…Unorm` target's.

use std::time::Duration;

use thiserror::Error;

use crate::frame::MAX_FRAME_SIDE;

/// A frame on the GPU, for [`crate::FramePipeline::render_texture`] and
/// [`crate::FramePipeline::submit_texture`].
#[derive(Debug, Clone, Copy)]
pub enum TextureFrame<'a> {
    /// An RGB texture: `Rgba8Unorm`, `Bgra8Unorm` or their `…Srgb`
    /// variants, with [`wgpu::TextureUsages::TEXTURE_BINDING`]; converted to
    /// 4:2:0 by a compute pass before the effects. Both sides even.
    Rgb {
        /// The picture.
        texture: &'a wgpu::Texture,
        /// Presentation time, counted from the start of the stream.
        timestamp: Duration,
    },
    /// NV12 as two textures: luma `R8Unorm` and the U, V pairs `Rg8Unorm`
    /// at half size, both with [`wgpu::TextureUsages::COPY_SRC`] (they are
    /// copied, exactly, into the pipeline's input).
    Nv12 {
        /// The Y plane.
        luma: &'a wgpu::Texture,
        /// The U, V pairs, half as wide and high.
        chroma: &'a wgpu::Texture,
        /// Presentation time, counted from the start of the stream.
        timestamp: Duration,
    },
}

/// Where [`crate::FramePipeline::render_texture`] draws the processed
/// frame: textures of the pipeline's output size (chroma planes half of it)
/// with [`wgpu::TextureUsages::RENDER_ATTACHMENT`].
#[derive(Debug, Clone, Copy)]
pub enum TextureTarget<'a> {
    /// RGB for display: `Rgba8Unorm`, `Bgra8Unorm` or their `…Srgb`
    /// variants; alpha is 1.
    Rgb(&'a wgpu::Texture),
    /// The three I420 planes, each `R8Unorm`.
    I420 {
        /// The Y plane, the output size.
        y: &'a wgpu::Texture,
        /// The U plane, half the output size.
        u: &'a wgpu::Texture,
        /// The V plane, half the output size.
        v: &'a wgpu::Texture,
    },
    /// NV12: luma `R8Unorm` and the U, V pairs `Rg8Unorm` at half size.
    Nv12 {
        /// The Y plane, the output size.
        luma: &'a wgpu::Texture,
        /// The U, V pairs, half the output size.
        chroma: &'a wgpu::Texture,
    },
}

/// Why a texture cannot be the pipeline's input or output.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TextureError {
    /// The texture's format is not one this role takes.
    #[error("the {role} texture is {got:?}; expected {expected}")]
    Format {
        /// Which texture ("input", "output", "luma", …).
        role: &'static str,
        /// Its format.
        got: wgpu::TextureFormat,
        /// The formats taken.
        expected: &'static str,
    },
    /// The texture's size does not fit.
    #[error("the {role} texture is {}x{}; expected {}x{}", got.0, got.1, expected.0, expected.1)]
    Size {
        /// Which texture.
        role: &'static str,
        /// Its width and height.
        got: (u32, u32),
        /// The width and height needed.
        expected: (u32, u32),
    },
    /// An input texture's sides are odd, zero or too large.
    #[error("the {role} texture is {}x{}; sides must be even and between 2 and {max}", got.0, got.1)]
    InputSize {
        /// Which texture.
        role: &'static str,
        /// Its width and height.
        got: (u32, u32),
        /// Largest side accepted.
        max: u32,
    },
    /// The texture was created without a usage this role needs.
    #[error(
        "the {role} texture lacks the usage {missing:?} (add it where the texture is created)"
    )]
    Usage {
        /// Which texture.
        role: &'static str,
        /// The usage flags missing.
        missing: wgpu::TextureUsages,
    },
    /// The texture is not a plain 2D texture (one layer, one sample).
    #[error("the {role} texture must be 2D with one layer and one sample")]
    Shape {
        /// Which texture.
        role: &'static str,
    },
}

/// The RGB formats taken in and out.
const RGB_FORMATS: &str = "Rgba8Unorm, Rgba8UnormSrgb, Bgra8Unorm or Bgra8UnormSrgb";

/// Whether `format` is one of the RGB formats taken, and whether it is sRGB.
pub(super) fn rgb_format(format: wgpu::TextureFormat) -> Option<bool> {
    use wgpu::TextureFormat as F;
    match format {
        F::Rgba8Unorm | F::Bgra8Unorm => Some(false),
        F::Rgba8UnormSrgb | F::Bgra8UnormSrgb => Some(true),
        _ => None,
    }
}

fn size_of(texture: &wgpu::Texture) -> (u32, u32) {
    (texture.width(), texture.height())
}

/// Checks shape, format and usage of one texture.
fn check(
    role: &'static str,
    texture: &wgpu::Texture,
    format_ok: bool,
    expected: &'static str,
    usage: wgpu::TextureUsages,
) -> Result<(), TextureError> {
    if texture.dimension() != wgpu::TextureDimension::D2
        || texture.depth_or_array_layers() != 1
        || texture.sample_count() != 1
    {
        return Err(TextureError::Shape { role });
    }
    if !format_ok {
        return Err(TextureError::Format {
            role,
            got: texture.format(),
            expected,
        });
    }
    let missing = usage - texture.usage();
    if !missing.is_empty() {
        return Err(TextureError::Usage { role, missing });
    }
    Ok(())
}

fn check_size(
    role: &'static str,
    texture: &wgpu::Texture,
    expected: (u32, u32),
) -> Result<(), TextureError> {
    let got = size_of(texture);
    if got != expected {
        return Err(TextureError::Size {
            role,
            got,
            expected,
        });
    }
    Ok(())
}

impl TextureFrame<'_> {
    /// Width and height of the picture.
    pub fn size(&self) -> (u32, u32) {
        match self {
            TextureFrame::Rgb { texture, .. } => size_of(texture),
            TextureFrame::Nv12 { luma, .. } => size_of(luma),
        }
    }

    /// Presentation time, counted from the start of the stream.
    pub fn timestamp(&self) -> Duration {
        match self {
            TextureFrame::Rgb { timestamp, .. } | TextureFrame::Nv12 { timestamp, .. } => {
                *timestamp
            }
        }
    }

    /// Checks formats, sizes, shapes and usages (see the variants).
    pub fn validate(&self) -> Result<(), TextureError> {
        let (width, height) = self.size();
        let side_ok = |side: u32| side >= 2 && side.is_multiple_of(2) && side <= MAX_FRAME_SIDE;
        let role = match self {
            TextureFrame::Rgb { .. } => "input",
            TextureFrame::Nv12 { .. } => "luma",
        };
        if !side_ok(width) || !side_ok(height) {
            return Err(TextureError::InputSize {
                role,
                got: (width, height),
                max: MAX_FRAME_SIDE,
            });
        }
        match self {
            TextureFrame::Rgb { texture, .. } => check(
                "input",
                texture,
                rgb_format(texture.format()).is_some(),
                RGB_FORMATS,
                wgpu::TextureUsages::TEXTURE_BINDING,
            ),
            TextureFrame::Nv12 { luma, chroma, .. } => {
                let copy = wgpu::TextureUsages::COPY_SRC;
                let r8 = wgpu::TextureFormat::R8Unorm;
                let rg8 = wgpu::TextureFormat::Rg8Unorm;
                check("luma", luma, luma.format() == r8, "R8Unorm", copy)?;
                check("chroma", chroma, chroma.format() == rg8, "Rg8Unorm", copy)?;
                check_size("chroma", chroma, (width / 2, height / 2))
            }
        }
    }
}

impl TextureTarget<'_> {
    /// Checks formats, shapes, usages and that the sizes are `output` (the
    /// pipeline's output size; chroma planes half of it).
    pub fn validate(&self, output: (u32, u32)) -> Result<(), TextureError> {
        let draw = wgpu::TextureUsages::RENDER_ATTACHMENT;
        let r8 = wgpu::TextureFormat::R8Unorm;
        let half = (output.0 / 2, output.1 / 2);
        let plane = |role, texture: &wgpu::Texture, size| {
            check(role, texture, texture.format() == r8, "R8Unorm", draw)?;
            check_size(role, texture, size)
        };
        match self {
            TextureTarget::Rgb(texture) => {
                let ok = rgb_format(texture.format()).is_some();
                check("output", texture, ok, RGB_FORMATS, draw)?;
                check_size("output", texture, output)
            }
            TextureTarget::I420 { y, u, v } => {
                plane("Y", y, output)?;
                plane("U", u, half)?;
                plane("V", v, half)
            }
            TextureTarget::Nv12 { luma, chroma } => {
                plane("luma", luma, output)?;
                let rg8 = chroma.format() == wgpu::TextureFormat::Rg8Unorm;
                check("chroma", chroma, rg8, "Rg8Unorm", draw)?;
                check_size("chroma", chroma, half)
            }
        }
    }
}
