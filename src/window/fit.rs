//! Where a picture lands in a window of any size: the viewport rectangle
//! and the part of the picture sampled, after `objectFit`. Recomputed on
//! every draw, so a resized window keeps the fit.

use crate::player::ObjectFit;

/// The picture's placement in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Viewport in window pixels: x, y, width, height.
    pub viewport: [f32; 4],
    /// Texture coordinates of the viewport's top-left corner.
    pub uv_offset: [f32; 2],
    /// Texture-coordinate span of the viewport.
    pub uv_scale: [f32; 2],
}

/// Places a `picture` (width, height) in a `window` (width, height):
/// `contain` centres the whole picture at the largest size that fits
/// (whole pixels; the rest stays black), `fillCrop` fills the window and
/// samples the centre of the picture that has the window's aspect.
pub fn place(fit: ObjectFit, picture: (u32, u32), window: (u32, u32)) -> Placement {
    let (pw, ph) = (f64::from(picture.0.max(1)), f64::from(picture.1.max(1)));
    let (ww, wh) = (f64::from(window.0.max(1)), f64::from(window.1.max(1)));
    match fit {
        ObjectFit::Contain => {
            let scale = (ww / pw).min(wh / ph);
            let width = (pw * scale).round().clamp(1.0, ww);
            let height = (ph * scale).round().clamp(1.0, wh);
            let x = ((ww - width) / 2.0).floor();
            let y = ((wh - height) / 2.0).floor();
            Placement {
                viewport: [x as f32, y as f32, width as f32, height as f32],
                uv_offset: [0.0, 0.0],
                uv_scale: [1.0, 1.0],
            }
        }
        ObjectFit::FillCrop => {
            let scale = (ww / pw).max(wh / ph);
            // The share of the picture that shows, on each axis.
            let span_x = (ww / (pw * scale)).min(1.0);
            let span_y = (wh / (ph * scale)).min(1.0);
            Placement {
                viewport: [0.0, 0.0, ww as f32, wh as f32],
                uv_offset: [((1.0 - span_x) / 2.0) as f32, ((1.0 - span_y) / 2.0) as f32],
                uv_scale: [span_x as f32, span_y as f32],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_letterboxes_a_wide_picture_in_a_4_3_window() {
        let placed = place(ObjectFit::Contain, (640, 360), (640, 480));
        assert_eq!(placed.viewport, [0.0, 60.0, 640.0, 360.0]);
        assert_eq!(placed.uv_scale, [1.0, 1.0]);
        // Pillarboxed when the window is wider than the picture.
        let placed = place(ObjectFit::Contain, (360, 640), (1280, 720));
        assert_eq!(placed.viewport, [437.0, 0.0, 405.0, 720.0]);
    }

    #[test]
    fn fill_crop_samples_the_centre() {
        let placed = place(ObjectFit::FillCrop, (640, 360), (480, 480));
        assert_eq!(placed.viewport, [0.0, 0.0, 480.0, 480.0]);
        assert!((placed.uv_scale[0] - 0.5625).abs() < 1e-6);
        assert_eq!(placed.uv_scale[1], 1.0);
        assert!((placed.uv_offset[0] - 0.21875).abs() < 1e-6);
    }
}
