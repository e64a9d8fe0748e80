//! I420 frames: the CPU-side picture format that sources produce, the GPU
//! pipeline consumes and returns, and the encoder takes.
//!
//! A frame holds three 8-bit planes (Y at full size, U and V at half size in
//! both directions, rounded up), each with its own stride, plus a timestamp
//! counted from the start of the stream.

use std::time::Duration;

use thiserror::Error;

/// Why a frame could not be built from the given planes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Width or height is zero, or so large that the planes cannot be addressed.
    #[error("invalid frame size {width}x{height}: both sides must be between 1 and {max}")]
    InvalidSize {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
        /// Largest side accepted.
        max: u32,
    },
    /// A plane is too small for its size and stride.
    #[error("{plane} plane holds {got} bytes but {needed} are needed for {width}x{height} with stride {stride}")]
    PlaneTooSmall {
        /// Which plane ("Y", "U", "V", NV12's "UV", or "RGBA"/"BGRA").
        plane: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
        /// Row width in bytes (one byte per sample).
        width: u32,
        /// Plane height in rows.
        height: u32,
        /// Plane stride in bytes.
        stride: usize,
    },
    /// A 4:2:0 or packed input format that needs even sides got an odd one.
    #[error("{format} frames need even sides (4:2:0 chroma), got {width}x{height}")]
    OddSize {
        /// The pixel format ("NV12", "RGBA8", "BGRA8").
        format: &'static str,
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// A stride is shorter than the plane's row.
    #[error("{plane} stride {stride} is shorter than the row width {width}")]
    StrideTooSmall {
        /// Which plane ("Y", "U", "V", NV12's "UV", or "RGBA"/"BGRA").
        plane: &'static str,
        /// Given stride in bytes.
        stride: usize,
        /// Row width in bytes (one byte per sample).
        width: u32,
    },
}

/// Largest width or height a frame may have (16K; far beyond any preset).
pub const MAX_FRAME_SIDE: u32 = 16384;

/// One of the three planes of an I420 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Luma, full resolution.
    Y,
    /// Blue-difference chroma, half resolution.
    U,
    /// Red-difference chroma, half resolution.
    V,
}

impl Plane {
    /// All three planes in storage order.
    pub const ALL: [Plane; 3] = [Plane::Y, Plane::U, Plane::V];

    /// Short name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Plane::Y => "Y",
            Plane::U => "U",
            Plane::V => "V",
        }
    }
}

/// An 8-bit 4:2:0 planar frame (I420 / YUV420P).
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    planes: [Vec<u8>; 3],
    strides: [usize; 3],
    /// Presentation time of this frame, counted from the start of the stream.
    pub timestamp: Duration,
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I420Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("strides", &self.strides)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Chroma plane size for a luma size: half, rounded up.
pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(2), height.div_ceil(2))
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 || width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE {
        return Err(FrameError::InvalidSize {
            width,
            height,
            max: MAX_FRAME_SIDE,
        });
    }
    Ok(())
}

impl I420Frame {
    /// A frame of the given size with tightly packed planes, filled with
    /// black (Y = 16, U = V = 128, the video-range black of
    /// [`crate::color`]).
    pub fn black(width: u32, height: u32) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let (w, h, cw, ch) = (width as usize, height as usize, cw as usize, ch as usize);
        Ok(Self {
            width,
            height,
            planes: [vec![16; w * h], vec![128; cw * ch], vec![128; cw * ch]],
            strides: [w, cw, cw],
            timestamp: Duration::ZERO,
        })
    }

    /// Builds a frame from three planes with the given strides (bytes per
    /// row). Each plane must hold at least `stride * (rows - 1) + width` bytes.
    pub fn from_planes(
        width: u32,
        height: u32,
        planes: [Vec<u8>; 3],
        strides: [usize; 3],
        timestamp: Duration,
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        for (index, plane) in Plane::ALL.into_iter().enumerate() {
            let (pw, ph) = if plane == Plane::Y {
                (width, height)
            } else {
                (cw, ch)
            };
            let stride = strides[index];
            if stride < pw as usize {
                return Err(FrameError::StrideTooSmall {
                    plane: plane.name(),
                    stride,
                    width: pw,
                });
            }
            let needed = stride * (ph as usize - 1) + pw as usize;
            if planes[index].len() < needed {
                return Err(FrameError::PlaneTooSmall {
                    plane: plane.name(),
                    needed,
                    got: planes[index].len(),
                    width: pw,
                    height: ph,
                    stride,
                });
            }
        }
        Ok(Self {
            width,
            height,
            planes,
            strides,
            timestamp,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width and height of a plane in samples.
    pub fn plane_size(&self, plane: Plane) -> (u32, u32) {
        match plane {
            Plane::Y => (self.width, self.height),
            Plane::U | Plane::V => chroma_size(self.width, self.height),
        }
    }

    /// Bytes from one row of a plane to the next.
    pub fn stride(&self, plane: Plane) -> usize {
        self.strides[plane as usize]
    }

    /// The raw bytes of a plane, rows `stride` apart.
    pub fn plane(&self, plane: Plane) -> &[u8] {
        &self.planes[plane as usize]
    }

    /// The raw bytes of a plane, for writing.
    pub fn plane_mut(&mut self, plane: Plane) -> &mut [u8] {
        &mut self.planes[plane as usize]
    }

    /// The raw bytes of the Y, U and V planes at once, for writing.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let [y, u, v] = &mut self.planes;
        (y, u, v)
    }

    /// One row of a plane, exactly the plane's width long.
    pub fn row(&self, plane: Plane, y: u32) -> &[u8] {
        let (w, _) = self.plane_size(plane);
        let start = y as usize * self.stride(plane);
        &self.plane(plane)[start..start + w as usize]
    }

    /// One row of a plane for writing, exactly the plane's width long.
    pub fn row_mut(&mut self, plane: Plane, y: u32) -> &mut [u8] {
        let (w, _) = self.plane_size(plane);
        let start = y as usize * self.stride(plane);
        &mut self.plane_mut(plane)[start..start + w as usize]
    }

    /// The frame without a last odd row or column, so that both sides are
    /// even (as 4:2:0 output sizes are); a copy of it when they already
    /// are. The chroma of the pixels kept is unchanged.
    pub fn cropped_to_even(&self) -> Result<I420Frame, FrameError> {
        let (width, height) = (self.width() & !1, self.height() & !1);
        let mut even = I420Frame::black(width, height)?;
        for plane in Plane::ALL {
            let (columns, rows) = even.plane_size(plane);
            for y in 0..rows {
                even.row_mut(plane, y)
                    .copy_from_slice(&self.row(plane, y)[..columns as usize]);
            }
        }
        even.timestamp = self.timestamp;
        Ok(even)
    }

    /// The sample at (x, y) of a plane.
    pub fn sample(&self, plane: Plane, x: u32, y: u32) -> u8 {
        self.plane(plane)[y as usize * self.stride(plane) + x as usize]
    }

    /// The frame with its planes tightly packed (stride = width), in the
    /// Y, U, V order of a raw `.yuv` file.
    pub fn to_packed_bytes(&self) -> Vec<u8> {
        let (cw, ch) = chroma_size(self.width, self.height);
        let mut out =
            Vec::with_capacity((self.width * self.height) as usize + 2 * (cw * ch) as usize);
        for plane in Plane::ALL {
            let (_, rows) = self.plane_size(plane);
            for y in 0..rows {
                out.extend_from_slice(self.row(plane, y));
            }
        }
        out
    }

    /// Builds a frame from tightly packed Y, U, V bytes (a raw `.yuv` frame).
    pub fn from_packed_bytes(
        width: u32,
        height: u32,
        bytes: &[u8],
        timestamp: Duration,
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let luma = (width * height) as usize;
        let chroma = (cw * ch) as usize;
        if bytes.len() < luma + 2 * chroma {
            return Err(FrameError::PlaneTooSmall {
                plane: "Y",
                needed: luma + 2 * chroma,
                got: bytes.len(),
                width,
                height,
                stride: width as usize,
            });
        }
        let planes = [
            bytes[..luma].to_vec(),
            bytes[luma..luma + chroma].to_vec(),
            bytes[luma + chroma..luma + 2 * chroma].to_vec(),
        ];
        Self::from_planes(
            width,
            height,
            planes,
            [width as usize, cw as usize, cw as usize],
            timestamp,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cropping_to_even_drops_the_odd_row_and_column_only() {
        let mut odd = I420Frame::black(5, 3).expect("frame");
        for y in 0..3 {
            for (x, sample) in odd.row_mut(Plane::Y, y).iter_mut().enumerate() {
                *sample = (10 * y + x as u32) as u8;
            }
        }
        odd.row_mut(Plane::U, 0)[1] = 99;
        let even = odd.cropped_to_even().expect("cropped");
        assert_eq!((even.width(), even.height()), (4, 2));
        assert_eq!(even.row(Plane::Y, 1), &[10, 11, 12, 13]);
        assert_eq!(even.plane_size(Plane::U), (2, 1));
        assert_eq!(even.row(Plane::U, 0), &[128, 99]);
        let one = I420Frame::black(1, 1).expect("frame");
        assert!(
            one.cropped_to_even().is_err(),
            "nothing is left of a 1x1 frame"
        );
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = I420Frame::black(5, 3).unwrap();
        assert_eq!(frame.plane_size(Plane::U), (3, 2));
        assert_eq!(frame.to_packed_bytes().len(), 15 + 2 * 6);
    }

    #[test]
    fn rejects_zero_and_short_planes() {
        assert!(matches!(
            I420Frame::black(0, 4),
            Err(FrameError::InvalidSize { .. })
        ));
        let short = I420Frame::from_planes(
            4,
            4,
            [vec![0; 15], vec![0; 4], vec![0; 4]],
            [4, 2, 2],
            Duration::ZERO,
        );
        assert!(matches!(
            short,
            Err(FrameError::PlaneTooSmall { plane: "Y", .. })
        ));
        let narrow = I420Frame::from_planes(
            4,
            4,
            [vec![0; 16], vec![0; 4], vec![0; 4]],
            [3, 2, 2],
            Duration::ZERO,
        );
        assert!(matches!(narrow, Err(FrameError::StrideTooSmall { .. })));
    }

    #[test]
    fn packed_round_trip_drops_padding() {
        let planes = [vec![1u8; 8 * 2], vec![2u8; 4], vec![3u8; 4]];
        let frame =
            I420Frame::from_planes(3, 2, planes, [8, 4, 4], Duration::from_millis(5)).unwrap();
        let packed = frame.to_packed_bytes();
        assert_eq!(packed, [1, 1, 1, 1, 1, 1, 2, 2, 3, 3]);
        let back = I420Frame::from_packed_bytes(3, 2, &packed, frame.timestamp).unwrap();
        assert_eq!(back.row(Plane::Y, 1), frame.row(Plane::Y, 1));
        assert_eq!(back.timestamp, Duration::from_millis(5));
    }
}
