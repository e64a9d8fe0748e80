//! The push loop's background blur / replace: each processed frame, behind
//! its person mask (found on the input frame by the segmenter on the
//! landmarker's thread, then carried through the frame's geometry into
//! output pixels). On a software adapter the CPU does it
//! ([`crate::effects::apply_background`]); on a real GPU the background
//! pass ([`crate::pipeline::BackgroundPass`]).

use std::path::Path;

use image::RgbImage;

use super::PushError;
use crate::effects::{apply_background, Background};
use crate::face::PersonMask;
use crate::frame::I420Frame;
use crate::geometry::GeometryPlan;
use crate::gpu::GpuContext;
use crate::pipeline::{BackgroundPass, PipelineError};

/// Mask pixels across the output's longer side.
const MASK_LONG_SIDE: usize = 256;

/// Blurs or replaces the background of output frames.
pub(super) struct BackgroundStage {
    gpu_pass: Option<BackgroundPass>,
    picture: Option<I420Frame>,
}

impl BackgroundStage {
    /// The stage, with `picture` (already the output's size, see
    /// [`load_picture`]) to show behind the person, if any.
    pub(super) fn new(gpu: &GpuContext, picture: Option<I420Frame>) -> Result<Self, PushError> {
        let gpu_pass = if gpu.is_software() {
            None
        } else {
            let mut pass = BackgroundPass::new(gpu).map_err(PipelineError::from)?;
            pass.set_picture(picture.as_ref());
            Some(pass)
        };
        Ok(Self { gpu_pass, picture })
    }

    /// Shows `picture` (the output's size) behind the person from the next
    /// frame; `None`: the background itself, blurred or not.
    pub(super) fn set_picture(&mut self, picture: Option<I420Frame>) {
        if let Some(pass) = &mut self.gpu_pass {
            pass.set_picture(picture.as_ref());
        }
        self.picture = picture;
    }

    /// Whether a picture replaces the background.
    pub(super) fn has_picture(&self) -> bool {
        self.picture.is_some()
    }

    /// Whether frames change at `blur`.
    pub(super) fn is_active(&self, blur: f32) -> bool {
        blur > 0.0 || self.picture.is_some()
    }

    /// `frame` (an output frame) with its background done, `mask` being the
    /// input frame's and `plan` the geometry between them.
    pub(super) fn apply(
        &mut self,
        frame: I420Frame,
        mask: &PersonMask,
        plan: &GeometryPlan,
        blur: f32,
    ) -> Result<I420Frame, PushError> {
        if !self.is_active(blur) {
            return Ok(frame);
        }
        let output_mask = to_output(mask, plan, frame.width(), frame.height());
        let timestamp = frame.timestamp;
        let mut out = match &mut self.gpu_pass {
            Some(pass) => pass
                .process(&frame, &output_mask, blur)
                .map_err(PipelineError::from)?,
            None => apply_background(
                &frame,
                &output_mask,
                &Background {
                    blur,
                    image: self.picture.as_ref(),
                },
            )?,
        };
        out.timestamp = timestamp;
        Ok(out)
    }
}

/// The picture at `path`, decoded (to be scaled with [`crate::effects::cover`]).
pub(super) fn open_picture(path: &Path) -> Result<RgbImage, PushError> {
    Ok(image::open(path)
        .map_err(|source| PushError::BackgroundImage {
            path: path.to_path_buf(),
            source,
        })?
        .to_rgb8())
}

/// The input frame's mask resampled over the output frame through the
/// geometry (crop, zoom, mirror, scale).
pub(super) fn to_output(
    mask: &PersonMask,
    plan: &GeometryPlan,
    width: u32,
    height: u32,
) -> PersonMask {
    let long = width.max(height) as f32;
    let w = ((width as f32 / long * MASK_LONG_SIDE as f32).round() as usize).max(1);
    let h = ((height as f32 / long * MASK_LONG_SIDE as f32).round() as usize).max(1);
    let (input_w, input_h) = (plan.input_width as f32, plan.input_height as f32);
    let mut values = Vec::with_capacity(w * h);
    for j in 0..h {
        for i in 0..w {
            let px = (i as f32 + 0.5) / w as f32 * width as f32 - 0.5;
            let py = (j as f32 + 0.5) / h as f32 * height as f32 - 0.5;
            let (x, y) = plan.map(px, py);
            values.push(mask.at((x + 0.5) / input_w, (y + 0.5) / input_h));
        }
    }
    PersonMask::new(w, h, values).unwrap_or_else(|| mask.clone())
}
