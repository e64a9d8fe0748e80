//! A still picture (PNG or JPEG) shown as an endless stream of frames.

use std::path::Path;

use super::{FrameRate, FrameSource, SourceError, SourceInfo};
use crate::color::rgb_image_to_i420;
use crate::frame::{I420Frame, MAX_FRAME_SIDE};

/// Repeats one image, converted to I420 once, at a fixed frame rate.
pub struct StillImage {
    frame: I420Frame,
    rate: FrameRate,
    index: u64,
}

impl StillImage {
    /// Decodes a PNG or JPEG file.
    pub fn open(path: &Path, rate: FrameRate) -> Result<Self, SourceError> {
        let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let image_error = |reason: String| SourceError::Image {
            path: path.to_path_buf(),
            reason,
        };
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| image_error(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_FRAME_SIDE);
        limits.max_image_height = Some(MAX_FRAME_SIDE);
        reader.limits(limits);
        let image = reader.decode().map_err(|e| image_error(e.to_string()))?;
        Self::from_rgb(&image.to_rgb8(), rate)
    }

    /// Uses an image already in memory.
    pub fn from_rgb(image: &image::RgbImage, rate: FrameRate) -> Result<Self, SourceError> {
        Ok(Self {
            frame: rgb_image_to_i420(image)?,
            rate,
            index: 0,
        })
    }
}

impl FrameSource for StillImage {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            width: self.frame.width(),
            height: self.frame.height(),
            frame_rate: self.rate,
        }
    }

    fn next_frame(&mut self) -> Result<Option<I420Frame>, SourceError> {
        let mut frame = self.frame.clone();
        frame.timestamp = self.rate.timestamp(self.index);
        self.index += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_image_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("liveroom-still-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot really a png").unwrap();
        let rate = FrameRate { num: 30, den: 1 };
        let err = StillImage::open(&path, rate).err().unwrap();
        assert!(matches!(err, SourceError::Image { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repeats_the_picture_with_advancing_timestamps() {
        let image = image::RgbImage::from_pixel(4, 2, image::Rgb([10, 200, 30]));
        let mut still = StillImage::from_rgb(&image, FrameRate { num: 10, den: 1 }).unwrap();
        let a = still.next_frame().unwrap().unwrap();
        let b = still.next_frame().unwrap().unwrap();
        assert_eq!(a.to_packed_bytes(), b.to_packed_bytes());
        assert_eq!(b.timestamp, std::time::Duration::from_millis(100));
    }
}
