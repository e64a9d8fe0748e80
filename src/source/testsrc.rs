//! `testsrc`: a moving, detailed synthetic picture with a frame stamp.
//!
//! A textured background (fine checks, stripes and a colour wheel that
//! scroll sideways), a bouncing bright disc, and the frame index drawn at the
//! centre with [`super::stamp`]. The background is rendered once, one period
//! wider than the picture, and scrolled by copying rows, so a frame costs
//! little more than a copy.

use std::f32::consts::TAU;

use super::{stamp, FrameRate, FrameSource, SourceError, SourceInfo};
use crate::frame::{chroma_size, I420Frame, Plane};

/// Horizontal period of the background, in luma pixels (even).
const PERIOD: u32 = 256;
/// Scroll per frame, in luma pixels (even, so chroma stays aligned).
const SCROLL: u32 = 4;

/// The synthetic source; endless.
pub struct TestSource {
    width: u32,
    height: u32,
    rate: FrameRate,
    index: u64,
    /// Background planes, `PERIOD` (luma) wider than the picture.
    background: [Vec<u8>; 3],
    background_strides: [usize; 3],
}

impl TestSource {
    /// A source of the given size and rate.
    pub fn new(width: u32, height: u32, rate: FrameRate) -> Result<Self, SourceError> {
        // Validates the size.
        I420Frame::black(width, height)?;
        let wide = width + PERIOD;
        let (cw, ch) = chroma_size(wide, height);
        let mut luma = vec![0u8; (wide * height) as usize];
        for y in 0..height {
            for x in 0..wide {
                let stripes = (TAU * x as f32 / 64.0).sin() * (TAU * y as f32 / 48.0).cos();
                let checks = if (x / 8 + y / 8) % 2 == 0 { 1.0 } else { -1.0 };
                let ramp = y as f32 / height as f32;
                let value = 120.0 + 55.0 * stripes + 25.0 * checks + 40.0 * (ramp - 0.5);
                luma[(y * wide + x) as usize] = value.clamp(16.0, 235.0) as u8;
            }
        }
        let mut u = vec![0u8; (cw * ch) as usize];
        let mut v = vec![0u8; (cw * ch) as usize];
        for y in 0..ch {
            for x in 0..cw {
                let angle = TAU * x as f32 / (PERIOD / 2) as f32;
                let tilt = y as f32 / ch as f32 * std::f32::consts::PI;
                u[(y * cw + x) as usize] = (128.0 + 80.0 * angle.sin()) as u8;
                v[(y * cw + x) as usize] = (128.0 + 80.0 * (angle + tilt).cos()) as u8;
            }
        }
        Ok(Self {
            width,
            height,
            rate,
            index: 0,
            background: [luma, u, v],
            background_strides: [wide as usize, cw as usize, cw as usize],
        })
    }

    fn draw_disc(&self, frame: &mut I420Frame) {
        let t = self.index as f32;
        let (w, h) = (self.width as f32, self.height as f32);
        let radius = (h / 10.0).max(2.0);
        let cx = w * (0.5 + 0.38 * (t * 0.07).sin());
        let cy = h * (0.5 + 0.3 * (t * 0.11).cos());
        let y_range = ((cy - radius).max(0.0) as u32)..((cy + radius).min(h - 1.0) as u32 + 1);
        for y in y_range {
            let dy = y as f32 + 0.5 - cy;
            let half = (radius * radius - dy * dy).max(0.0).sqrt();
            let x0 = (cx - half).max(0.0) as u32;
            let x1 = ((cx + half) as u32).min(self.width);
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - cx;
                // A shaded ball: brighter towards the upper left.
                let shade = 1.0 - ((dx + radius * 0.4).hypot(dy + radius * 0.4) / (2.0 * radius));
                frame.row_mut(Plane::Y, y)[x as usize] = (120.0 + 115.0 * shade) as u8;
                if x % 2 == 0 && y % 2 == 0 {
                    frame.row_mut(Plane::U, y / 2)[x as usize / 2] = 90;
                    frame.row_mut(Plane::V, y / 2)[x as usize / 2] = 200;
                }
            }
        }
    }
}

impl FrameSource for TestSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            width: self.width,
            height: self.height,
            frame_rate: self.rate,
        }
    }

    fn next_frame(&mut self) -> Result<Option<I420Frame>, SourceError> {
        let mut frame = I420Frame::black(self.width, self.height)?;
        let offset = (self.index as u32 * SCROLL) % PERIOD;
        for (plane_index, plane) in Plane::ALL.into_iter().enumerate() {
            let shift = if plane == Plane::Y {
                offset
            } else {
                offset / 2
            } as usize;
            let stride = self.background_strides[plane_index];
            let (_, rows) = frame.plane_size(plane);
            for y in 0..rows {
                let row = frame.row_mut(plane, y);
                let start = y as usize * stride + shift;
                row.copy_from_slice(&self.background[plane_index][start..start + row.len()]);
            }
        }
        self.draw_disc(&mut frame);
        stamp::draw(&mut frame, self.index as u32);
        frame.timestamp = self.rate.timestamp(self.index);
        self.index += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_and_carry_their_index() {
        let mut source = TestSource::new(640, 360, FrameRate { num: 30, den: 1 }).unwrap();
        let first = source.next_frame().unwrap().unwrap();
        let second = source.next_frame().unwrap().unwrap();
        assert_ne!(first.plane(Plane::Y), second.plane(Plane::Y));
        let cell = stamp::cell_size_for_height(360);
        assert_eq!(stamp::read(&first, cell), Some(0));
        assert_eq!(stamp::read(&second, cell), Some(1));
    }

    #[test]
    fn odd_sizes_work() {
        let mut source = TestSource::new(33, 17, FrameRate { num: 30, den: 1 }).unwrap();
        let frame = source.next_frame().unwrap().unwrap();
        assert_eq!((frame.width(), frame.height()), (33, 17));
    }
}
