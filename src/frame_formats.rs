//! CPU frames in the formats cameras, hardware decoders and screen grabbers
//! hand out, beside [`I420Frame`]: NV12 (Y plane, then U and V interleaved
//! at half size) and packed 8-bit RGBA or BGRA. [`InputFrame`] holds any of
//! them; [`crate::FramePipeline::submit_frame`] takes it and converts it
//! once, on the GPU where the frame's route runs in the shaders, else here
//! on the CPU ([`InputFrame::to_i420`]).
//!
//! NV12 and I420 carry the same samples, so converting between them is
//! exact. RGB converts with the one matrix and range of [`crate::color`]
//! (BT.601, video range): luma per pixel, chroma the mean of each 2×2
//! block's, as [`crate::color::rgb_image_to_i420`] does. The alpha channel
//! is ignored (frames are opaque). The new formats need even sides.

use std::borrow::Cow;
use std::time::Duration;

use crate::color::rgb_to_i420_with;
use crate::frame::{check_size, chroma_size, FrameError, I420Frame, Plane};

/// The pixel formats a [`crate::FramePipeline`] takes from the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Three planes, U and V at half size ([`I420Frame`]).
    I420,
    /// A Y plane and one plane of U, V pairs at half size ([`Nv12Frame`]).
    Nv12,
    /// Packed R, G, B, A bytes ([`RgbaFrame`] with [`ChannelOrder::Rgba`]).
    Rgba8,
    /// Packed B, G, R, A bytes ([`RgbaFrame`] with [`ChannelOrder::Bgra`]).
    Bgra8,
}

impl PixelFormat {
    /// Short name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::I420 => "I420",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Rgba8 => "RGBA8",
            PixelFormat::Bgra8 => "BGRA8",
        }
    }
}

fn check_even(format: PixelFormat, width: u32, height: u32) -> Result<(), FrameError> {
    check_size(width, height)?;
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(FrameError::OddSize {
            format: format.name(),
            width,
            height,
        });
    }
    Ok(())
}

/// Checks that a plane of `rows` rows of `row_bytes` bytes fits `bytes`
/// with `stride`.
fn check_plane(
    plane: &'static str,
    bytes: &[u8],
    stride: usize,
    row_bytes: u32,
    rows: u32,
) -> Result<(), FrameError> {
    if stride < row_bytes as usize {
        return Err(FrameError::StrideTooSmall {
            plane,
            stride,
            width: row_bytes,
        });
    }
    let needed = stride * (rows as usize - 1) + row_bytes as usize;
    if bytes.len() < needed {
        return Err(FrameError::PlaneTooSmall {
            plane,
            needed,
            got: bytes.len(),
            width: row_bytes,
            height: rows,
            stride,
        });
    }
    Ok(())
}

/// An 8-bit 4:2:0 frame with U and V interleaved (NV12): what most
/// cameras and hardware decoders produce.
#[derive(Clone, PartialEq, Eq)]
pub struct Nv12Frame {
    width: u32,
    height: u32,
    luma: Vec<u8>,
    luma_stride: usize,
    chroma: Vec<u8>,
    chroma_stride: usize,
    /// Presentation time of this frame, counted from the start of the stream.
    pub timestamp: Duration,
}

impl std::fmt::Debug for Nv12Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nv12Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("strides", &(self.luma_stride, self.chroma_stride))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Nv12Frame {
    /// Builds a frame from its Y plane and its plane of U, V pairs, each
    /// with its stride in bytes. Both sides must be even; the chroma plane
    /// has `height / 2` rows of `width` bytes (`width / 2` pairs).
    pub fn new(
        width: u32,
        height: u32,
        luma: Vec<u8>,
        luma_stride: usize,
        chroma: Vec<u8>,
        chroma_stride: usize,
        timestamp: Duration,
    ) -> Result<Self, FrameError> {
        check_even(PixelFormat::Nv12, width, height)?;
        check_plane("Y", &luma, luma_stride, width, height)?;
        check_plane("UV", &chroma, chroma_stride, width, height / 2)?;
        Ok(Self {
            width,
            height,
            luma,
            luma_stride,
            chroma,
            chroma_stride,
            timestamp,
        })
    }

    /// The same samples as an I420 frame, interleaved (exact). The frame
    /// must have even sides.
    pub fn from_i420(frame: &I420Frame) -> Result<Self, FrameError> {
        let (width, height) = (frame.width(), frame.height());
        check_even(PixelFormat::Nv12, width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let mut luma = Vec::with_capacity((width * height) as usize);
        for y in 0..height {
            luma.extend_from_slice(frame.row(Plane::Y, y));
        }
        let mut chroma = Vec::with_capacity(2 * (cw * ch) as usize);
        for y in 0..ch {
            let (u, v) = (frame.row(Plane::U, y), frame.row(Plane::V, y));
            chroma.extend(u.iter().zip(v).flat_map(|(&u, &v)| [u, v]));
        }
        Self::new(
            width,
            height,
            luma,
            width as usize,
            chroma,
            width as usize,
            frame.timestamp,
        )
    }

    /// The same samples as an I420 frame, the pairs split (exact).
    pub fn to_i420(&self) -> Result<I420Frame, FrameError> {
        let mut frame = I420Frame::black(self.width, self.height)?;
        for y in 0..self.height {
            frame.row_mut(Plane::Y, y).copy_from_slice(self.luma_row(y));
        }
        for y in 0..self.height / 2 {
            let pairs = self.chroma_row(y);
            let (_, u, v) = frame.planes_mut();
            let (cw, start) = (
                (self.width / 2) as usize,
                y as usize * (self.width / 2) as usize,
            );
            for (x, pair) in pairs.chunks_exact(2).enumerate().take(cw) {
                u[start + x] = pair[0];
                v[start + x] = pair[1];
            }
        }
        frame.timestamp = self.timestamp;
        Ok(frame)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The Y plane's bytes, rows [`Nv12Frame::luma_stride`] apart.
    pub fn luma(&self) -> &[u8] {
        &self.luma
    }

    /// Bytes from one Y row to the next.
    pub fn luma_stride(&self) -> usize {
        self.luma_stride
    }

    /// The U, V pairs' bytes, rows [`Nv12Frame::chroma_stride`] apart.
    pub fn chroma(&self) -> &[u8] {
        &self.chroma
    }

    /// Bytes from one row of U, V pairs to the next.
    pub fn chroma_stride(&self) -> usize {
        self.chroma_stride
    }

    /// One Y row, `width` bytes.
    pub fn luma_row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.luma_stride;
        &self.luma[start..start + self.width as usize]
    }

    /// One row of U, V pairs, `width` bytes.
    pub fn chroma_row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.chroma_stride;
        &self.chroma[start..start + self.width as usize]
    }
}

/// The order of the four bytes of a packed RGB pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// R, G, B, A (what image libraries and most GPUs' `Rgba8Unorm` hold).
    Rgba,
    /// B, G, R, A (what screen grabbers and swap chains often hold).
    Bgra,
}

/// A packed 8-bit RGB frame with an alpha byte per pixel (ignored): RGBA8 or
/// BGRA8. The bytes are gamma-encoded R'G'B' as video uses them (as in an
/// sRGB image); no transfer function is applied.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaFrame {
    width: u32,
    height: u32,
    order: ChannelOrder,
    data: Vec<u8>,
    stride: usize,
    /// Presentation time of this frame, counted from the start of the stream.
    pub timestamp: Duration,
}

impl std::fmt::Debug for RgbaFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbaFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("order", &self.order)
            .field("stride", &self.stride)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl RgbaFrame {
    /// Builds a frame from packed pixels, rows `stride` bytes apart (at
    /// least `4 * width`). Both sides must be even.
    pub fn new(
        width: u32,
        height: u32,
        order: ChannelOrder,
        data: Vec<u8>,
        stride: usize,
        timestamp: Duration,
    ) -> Result<Self, FrameError> {
        let format = match order {
            ChannelOrder::Rgba => PixelFormat::Rgba8,
            ChannelOrder::Bgra => PixelFormat::Bgra8,
        };
        check_even(format, width, height)?;
        let row_bytes = width.checked_mul(4).ok_or(FrameError::InvalidSize {
            width,
            height,
            max: crate::frame::MAX_FRAME_SIDE,
        })?;
        check_plane(format.name(), &data, stride, row_bytes, height)?;
        Ok(Self {
            width,
            height,
            order,
            data,
            stride,
            timestamp,
        })
    }

    /// An RGB image packed in `order` with opaque alpha (tightly, stride
    /// `4 * width`).
    pub fn from_rgb_image(
        image: &image::RgbImage,
        order: ChannelOrder,
        timestamp: Duration,
    ) -> Result<Self, FrameError> {
        let (width, height) = image.dimensions();
        let data = image
            .pixels()
            .flat_map(|p| {
                let [r, g, b] = p.0;
                match order {
                    ChannelOrder::Rgba => [r, g, b, 255],
                    ChannelOrder::Bgra => [b, g, r, 255],
                }
            })
            .collect();
        Self::new(width, height, order, data, 4 * width as usize, timestamp)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The byte order of a pixel.
    pub fn order(&self) -> ChannelOrder {
        self.order
    }

    /// The packed bytes, rows [`RgbaFrame::stride`] apart.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Bytes from one row to the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The R, G, B bytes of the pixel at (x, y).
    pub fn rgb(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + 4 * x as usize;
        let p = &self.data[i..i + 4];
        match self.order {
            ChannelOrder::Rgba => [p[0], p[1], p[2]],
            ChannelOrder::Bgra => [p[2], p[1], p[0]],
        }
    }

    /// The frame in I420, converted as [`crate::color::rgb_image_to_i420`]
    /// converts an image.
    pub fn to_i420(&self) -> Result<I420Frame, FrameError> {
        let mut frame = rgb_to_i420_with(self.width, self.height, |x, y| self.rgb(x, y))?;
        frame.timestamp = self.timestamp;
        Ok(frame)
    }
}

/// A CPU frame in any format [`crate::FramePipeline::submit_frame`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFrame {
    /// Planar 4:2:0.
    I420(I420Frame),
    /// 4:2:0 with U and V interleaved.
    Nv12(Nv12Frame),
    /// Packed RGBA8 or BGRA8.
    Rgba(RgbaFrame),
}

impl InputFrame {
    /// The frame's pixel format.
    pub fn format(&self) -> PixelFormat {
        match self {
            InputFrame::I420(_) => PixelFormat::I420,
            InputFrame::Nv12(_) => PixelFormat::Nv12,
            InputFrame::Rgba(frame) => match frame.order() {
                ChannelOrder::Rgba => PixelFormat::Rgba8,
                ChannelOrder::Bgra => PixelFormat::Bgra8,
            },
        }
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            InputFrame::I420(f) => (f.width(), f.height()),
            InputFrame::Nv12(f) => (f.width(), f.height()),
            InputFrame::Rgba(f) => (f.width(), f.height()),
        }
    }

    /// Presentation time, counted from the start of the stream.
    pub fn timestamp(&self) -> Duration {
        match self {
            InputFrame::I420(f) => f.timestamp,
            InputFrame::Nv12(f) => f.timestamp,
            InputFrame::Rgba(f) => f.timestamp,
        }
    }

    /// The frame as I420: borrowed when it is one, else converted on the CPU.
    pub fn to_i420(&self) -> Result<Cow<'_, I420Frame>, FrameError> {
        Ok(match self {
            InputFrame::I420(f) => Cow::Borrowed(f),
            InputFrame::Nv12(f) => Cow::Owned(f.to_i420()?),
            InputFrame::Rgba(f) => Cow::Owned(f.to_i420()?),
        })
    }
}

impl From<I420Frame> for InputFrame {
    fn from(frame: I420Frame) -> Self {
        InputFrame::I420(frame)
    }
}

impl From<Nv12Frame> for InputFrame {
    fn from(frame: Nv12Frame) -> Self {
        InputFrame::Nv12(frame)
    }
}

impl From<RgbaFrame> for InputFrame {
    fn from(frame: RgbaFrame) -> Self {
        InputFrame::Rgba(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_round_trips_i420_exactly() {
        let mut frame = I420Frame::black(4, 2).expect("frame");
        frame.row_mut(Plane::U, 0).copy_from_slice(&[10, 20]);
        frame.row_mut(Plane::V, 0).copy_from_slice(&[30, 40]);
        frame.row_mut(Plane::Y, 1)[3] = 99;
        let nv12 = Nv12Frame::from_i420(&frame).expect("nv12");
        assert_eq!(nv12.chroma_row(0), &[10, 30, 20, 40]);
        assert_eq!(nv12.to_i420().expect("i420"), frame);
    }

    #[test]
    fn rejects_odd_sizes_short_buffers_and_narrow_strides() {
        let odd = Nv12Frame::new(3, 2, vec![0; 6], 3, vec![0; 4], 4, Duration::ZERO);
        assert!(matches!(
            odd,
            Err(FrameError::OddSize { format: "NV12", .. })
        ));
        let short = Nv12Frame::new(4, 4, vec![0; 16], 4, vec![0; 7], 4, Duration::ZERO);
        assert!(matches!(
            short,
            Err(FrameError::PlaneTooSmall {
                plane: "UV",
                needed: 8,
                ..
            })
        ));
        let narrow = RgbaFrame::new(2, 2, ChannelOrder::Bgra, vec![0; 32], 7, Duration::ZERO);
        assert!(matches!(
            narrow,
            Err(FrameError::StrideTooSmall {
                plane: "BGRA8",
                width: 8,
                ..
            })
        ));
        let zero = RgbaFrame::new(0, 2, ChannelOrder::Rgba, vec![], 0, Duration::ZERO);
        assert!(matches!(zero, Err(FrameError::InvalidSize { .. })));
    }

    #[test]
    fn bgra_and_rgba_of_one_image_give_one_i420_frame() {
        let image = image::RgbImage::from_fn(4, 2, |x, y| {
            image::Rgb([40 * x as u8, 90, 30 + 60 * y as u8])
        });
        let expected = crate::color::rgb_image_to_i420(&image).expect("i420");
        for order in [ChannelOrder::Rgba, ChannelOrder::Bgra] {
            let frame = RgbaFrame::from_rgb_image(&image, order, Duration::ZERO).expect("frame");
            assert_eq!(frame.rgb(3, 1), [120, 90, 90]);
            assert_eq!(frame.to_i420().expect("i420"), expected);
        }
    }
}
