//! Drawing decoded frames into a view of a given size, on the GPU, the way
//! the player component's `objectFit` and `orientation` say.
//!
//! `fillCrop` fills the view and crops the picture's overflow at the centre;
//! `contain` fits the whole picture inside and letterboxes the rest in
//! black. The scaling runs through the same GPU pipeline as the pusher's
//! geometry (with no effects); the letterbox bars are written around it.

use std::str::FromStr;

use crate::frame::{I420Frame, Plane};
use crate::geometry::{GeometryParams, Orientation, OutputSize};
use crate::pipeline::{FrameParams, FramePipeline, PipelineError};
use crate::GpuContext;

use super::PlayerError;

/// `objectFit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectFit {
    /// The whole picture, letterboxed.
    #[default]
    Contain,
    /// The view filled, the overflow cropped.
    FillCrop,
}

impl FromStr for ObjectFit {
    type Err = PlayerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "contain" => Ok(ObjectFit::Contain),
            "fillcrop" => Ok(ObjectFit::FillCrop),
            _ => Err(PlayerError::Config(format!(
                "unknown object fit {s:?}: expected contain or fillCrop"
            ))),
        }
    }
}

/// The view frames are drawn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewConfig {
    /// View width in pixels (even).
    pub width: u32,
    /// View height in pixels (even).
    pub height: u32,
    /// How the picture fills it.
    pub object_fit: ObjectFit,
    /// `vertical` makes the view taller than wide, `horizontal` wider than
    /// tall (the sides are swapped if needed).
    pub orientation: Orientation,
}

impl ViewConfig {
    /// The view's size after the orientation.
    pub fn size(&self) -> (u32, u32) {
        let (long, short) = (self.width.max(self.height), self.width.min(self.height));
        match self.orientation {
            Orientation::Vertical => (short, long),
            Orientation::Horizontal => (long, short),
        }
    }

    /// The picture area for an input of this size: the view itself for
    /// `fillCrop`, the largest even-sided rectangle of the input's aspect
    /// inside it for `contain`.
    pub fn picture_area(&self, input_width: u32, input_height: u32) -> (u32, u32) {
        let (view_width, view_height) = self.size();
        if self.object_fit == ObjectFit::FillCrop || input_width == 0 || input_height == 0 {
            return (view_width, view_height);
        }
        let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
        let input_aspect = f64::from(input_width) / f64::from(input_height);
        let view_aspect = f64::from(view_width) / f64::from(view_height);
        if input_aspect >= view_aspect {
            (
                view_width,
                even(f64::from(view_width) / input_aspect).min(view_height),
            )
        } else {
            (
                even(f64::from(view_height) * input_aspect).min(view_width),
                view_height,
            )
        }
    }

    /// Checks the size.
    pub fn validate(&self) -> Result<(), PlayerError> {
        OutputSize::new(self.width, self.height)
            .map(|_| ())
            .map_err(PlayerError::View)
    }
}

/// Renders frames into the view.
pub struct ViewRenderer {
    gpu: GpuContext,
    config: ViewConfig,
    /// The pipeline and the size of the picture area it renders.
    pipeline: Option<(OutputSize, FramePipeline)>,
}

impl std::fmt::Debug for ViewRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewRenderer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ViewRenderer {
    /// A renderer for the view.
    pub fn new(gpu: GpuContext, config: ViewConfig) -> Result<Self, PlayerError> {
        config.validate()?;
        Ok(Self {
            gpu,
            config,
            pipeline: None,
        })
    }

    /// Draws a frame into a new view-sized frame.
    pub fn render(&mut self, frame: &I420Frame) -> Result<I420Frame, PipelineError> {
        let (area_width, area_height) = self.config.picture_area(frame.width(), frame.height());
        let area = OutputSize::new(area_width, area_height)?;
        let params = FrameParams {
            geometry: GeometryParams::new(1.0, false)?,
            ..Default::default()
        };
        let mut slot = match self.pipeline.take() {
            Some((size, pipeline)) if size == area => (size, pipeline),
            _ => (area, FramePipeline::new(&self.gpu, area)?),
        };
        let result = slot.1.process(frame, &params);
        self.pipeline = Some(slot);
        let picture = result?;
        let (view_width, view_height) = self.config.size();
        if (view_width, view_height) == (area_width, area_height) {
            return Ok(picture);
        }
        // Letterbox: black bars around the picture, which sits at the
        // centre on even coordinates (so chroma lines up).
        let mut view = I420Frame::black(view_width, view_height)?;
        view.timestamp = picture.timestamp;
        let left = ((view_width - area_width) / 2) & !1;
        let top = ((view_height - area_height) / 2) & !1;
        for plane in Plane::ALL {
            let (shift_x, shift_y) = match plane {
                Plane::Y => (0, 0),
                _ => (1, 1),
            };
            let (width, height) = picture.plane_size(plane);
            for y in 0..height {
                let source = picture.row(plane, y);
                let row = view.row_mut(plane, y + (top >> shift_y));
                let start = (left >> shift_x) as usize;
                if let Some(target) = row.get_mut(start..start + width as usize) {
                    target.copy_from_slice(&source[..width as usize]);
                }
            }
        }
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_and_areas() {
        let view = ViewConfig {
            width: 1280,
            height: 720,
            object_fit: ObjectFit::Contain,
            orientation: Orientation::Vertical,
        };
        assert_eq!(view.size(), (720, 1280));
        // A landscape picture in a portrait view: full width, bars above and below.
        assert_eq!(view.picture_area(1280, 720), (720, 406));
        // A portrait picture of the view's aspect fills it.
        assert_eq!(view.picture_area(360, 640), (720, 1280));
        let fill = ViewConfig {
            object_fit: ObjectFit::FillCrop,
            ..view
        };
        assert_eq!(fill.picture_area(1280, 720), (720, 1280));
    }
}
