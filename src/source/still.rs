//! A still picture (PNG or JPEG) shown as an endless stream of frames,
//! turned upright by its EXIF orientation.

use std::path::Path;

use image::ImageDecoder;

use super::{FrameRate, FrameSource, SourceError, SourceInfo};
use crate::color::rgb_image_to_i420;
use crate::frame::{I420Frame, MAX_FRAME_SIDE};
use crate::geometry::{GeometryParams, GeometryPlan, OutputSize};
use crate::pipeline::{reference, FrameParams};

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
        // A phone's portrait is stored sideways with an EXIF orientation:
        // turn it the way the camera was held.
        let mut decoder = reader
            .into_decoder()
            .map_err(|e| image_error(e.to_string()))?;
        let orientation = decoder
            .orientation()
            .map_err(|e| image_error(e.to_string()))?;
        let mut image =
            image::DynamicImage::from_decoder(decoder).map_err(|e| image_error(e.to_string()))?;
        image.apply_orientation(orientation);
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

    /// Applies the geometry once when the pipeline would scale the picture
    /// down: the picture becomes exactly what the pipeline's geometry
    /// (crop, zoom, mirror, box-filtered scaling) makes of it, output-sized,
    /// computed by the pipeline's CPU reference. Each frame then starts
    /// small and is processed with no zoom or mirror.
    fn prepare_for_output(&mut self, output: OutputSize, params: GeometryParams) -> bool {
        let (width, height) = (self.frame.width(), self.frame.height());
        let Ok(plan) = GeometryPlan::new(width, height, output, params) else {
            return false;
        };
        if plan.taps_x == 1 && plan.taps_y == 1 {
            return false;
        }
        let geometry_only = FrameParams {
            geometry: params,
            ..FrameParams::default()
        };
        match reference::process(&self.frame, output, &geometry_only) {
            Ok(mut frame) => {
                frame.timestamp = self.frame.timestamp;
                self.frame = frame;
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG of a `width`×`height` picture, left half dark and right half
    /// light, with an EXIF block saying `orientation`.
    fn jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                image::Rgb([20, 20, 20])
            } else {
                image::Rgb([230, 230, 230])
            }
        });
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(picture)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .expect("encode");
        // APP1 "Exif": a little-endian TIFF header and one IFD entry,
        // Orientation (0x0112), SHORT, 1 value.
        let mut exif = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        exif.extend_from_slice(&orientation.to_le_bytes());
        exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        segment.extend_from_slice(&exif);
        jpeg.splice(2..2, segment);
        jpeg
    }

    #[test]
    fn a_phone_portrait_is_turned_upright_by_its_exif_orientation() {
        let dir = std::env::temp_dir().join(format!("liveroom-exif-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let rate = FrameRate { num: 30, den: 1 };
        let (upright, sideways) = (dir.join("upright.jpg"), dir.join("sideways.jpg"));
        std::fs::write(&upright, jpeg_with_orientation(64, 32, 1)).expect("write");
        std::fs::write(&sideways, jpeg_with_orientation(64, 32, 6)).expect("write");
        let info = StillImage::open(&upright, rate).expect("open").info();
        assert_eq!((info.width, info.height), (64, 32));
        // Orientation 6: stored rotated 90° anticlockwise, shown turned
        // clockwise: 32 wide, 64 high, the dark left half now on top.
        let mut turned = StillImage::open(&sideways, rate).expect("open");
        let info = turned.info();
        assert_eq!((info.width, info.height), (32, 64));
        let frame = turned.next_frame().expect("frame").expect("a frame");
        let luma = |y: u32| frame.row(crate::frame::Plane::Y, y)[16];
        assert!(
            luma(8) < 60 && luma(56) > 180,
            "top {} bottom {}",
            luma(8),
            luma(56)
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

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
