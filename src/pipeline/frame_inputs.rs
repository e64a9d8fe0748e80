//! The pipeline's doors for frames other than CPU I420: CPU NV12 and
//! RGBA/BGRA frames ([`InputFrame`]), textures on the GPU
//! ([`TextureFrame`]) in, and callers' textures ([`TextureTarget`]) out.
//!
//! A CPU frame is converted once: where its route runs in the shaders, on
//! the GPU (NV12 is uploaded as it is, since the input textures are NV12;
//! RGB goes through the conversion pass), else on the CPU into I420 for the
//! CPU routes ([`InputFrame::to_i420`]). Texture frames, and every frame
//! drawn into textures, take [`Route::Shader`](super::Route::Shader) whatever the
//! [`Placement`](super::Placement): on a software adapter (lavapipe) too, so the same calls
//! work there, at the emulated GPU's speed.

use super::input_convert::{copy_nv12, upload_nv12, InputConverter, InputPlanes};
use super::plain::PlainScaler;
use super::resources::{upload, InputTextures};
use super::texture_frames::{rgb_format, TextureFrame, TextureTarget};
use super::{FrameParams, FramePipeline, PipelineError};
use crate::frame::I420Frame;
use crate::frame_formats::{InputFrame, Nv12Frame, RgbaFrame};
use crate::geometry::GeometryPlan;
use crate::gpu::GpuError;

/// Where a submitted frame's pixels come from.
pub(super) enum Source<'a> {
    /// CPU I420, uploaded (or read by the CPU routes).
    I420(&'a I420Frame),
    /// CPU NV12, uploaded as it is.
    Nv12(&'a Nv12Frame),
    /// CPU RGBA/BGRA, uploaded and converted by the conversion pass.
    Rgb(&'a RgbaFrame),
    /// A caller's textures.
    Texture(TextureFrame<'a>),
}

/// Where a frame's result goes.
pub(super) enum Sink<'a> {
    /// A readback buffer: the frame is collected as I420.
    Readback,
    /// A caller's textures, drawn on the GPU; nothing to collect.
    Target(&'a TextureTarget<'a>),
}

impl Source<'_> {
    /// Width and height of the picture.
    pub(super) fn size(&self) -> (u32, u32) {
        match self {
            Source::I420(f) => (f.width(), f.height()),
            Source::Nv12(f) => (f.width(), f.height()),
            Source::Rgb(f) => (f.width(), f.height()),
            Source::Texture(t) => t.size(),
        }
    }

    /// Presentation time.
    pub(super) fn timestamp(&self) -> std::time::Duration {
        match self {
            Source::I420(f) => f.timestamp,
            Source::Nv12(f) => f.timestamp,
            Source::Rgb(f) => f.timestamp,
            Source::Texture(t) => t.timestamp(),
        }
    }

    /// Whether the RGB conversion pass is needed.
    pub(super) fn needs_converter(&self) -> bool {
        matches!(
            self,
            Source::Rgb(_) | Source::Texture(TextureFrame::Rgb { .. })
        )
    }

    /// Puts the pixels into the input textures: uploads now, or copies and
    /// the conversion pass recorded into `encoder`.
    pub(super) fn encode_input(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        input: &InputTextures,
        converter: Option<&mut InputConverter>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), GpuError> {
        let planes = InputPlanes {
            luma: &input.luma,
            chroma: &input.chroma,
        };
        let missing = || GpuError::Operation("the RGB conversion pass was not made".into());
        match self {
            Source::I420(frame) => upload(queue, input, frame, scratch),
            Source::Nv12(frame) => upload_nv12(queue, frame, &planes),
            Source::Rgb(frame) => {
                let converter = converter.ok_or_else(missing)?;
                // The upload texture is the converter's own: convert from
                // a clone of the handle so that the converter stays free.
                let texture = converter.upload(device, queue, frame)?.clone();
                converter.encode(device, queue, encoder, &texture, false, &planes);
            }
            Source::Texture(TextureFrame::Rgb { texture, .. }) => {
                let converter = converter.ok_or_else(missing)?;
                let srgb = rgb_format(texture.format()).unwrap_or(false);
                converter.encode(device, queue, encoder, texture, srgb, &planes);
            }
            Source::Texture(TextureFrame::Nv12 { luma, chroma, .. }) => {
                copy_nv12(encoder, luma, chroma, &planes)
            }
        }
        Ok(())
    }
}

impl FramePipeline {
    /// [`FramePipeline::submit`] for a CPU frame in any [`InputFrame`]
    /// format; the result comes from [`FramePipeline::collect`] as I420.
    /// The frame is converted once: on the GPU where its route is
    /// [`Route::Shader`](super::Route::Shader), else on the CPU (see the module docs).
    pub fn submit_frame(
        &mut self,
        frame: &InputFrame,
        params: &FrameParams,
    ) -> Result<(), PipelineError> {
        let source = match frame {
            InputFrame::I420(frame) => return self.submit(frame, params),
            InputFrame::Nv12(frame) => Source::Nv12(frame),
            InputFrame::Rgba(frame) => Source::Rgb(frame),
        };
        let (width, height) = source.size();
        let plan = GeometryPlan::new(width, height, self.output_size, params.geometry)?;
        let shaders_only = !self.placement.cpu_plain() || !PlainScaler::fits(&plan);
        match shaders_only {
            true => self.submit_source(source, params, Sink::Readback),
            false => self.submit(frame.to_i420()?.as_ref(), params),
        }
    }

    /// [`FramePipeline::process`] for a CPU frame in any [`InputFrame`]
    /// format: submits it and waits for the processed I420 frame.
    pub fn process_frame(
        &mut self,
        frame: &InputFrame,
        params: &FrameParams,
    ) -> Result<I420Frame, PipelineError> {
        if !self.in_flight.is_empty() {
            return Err(PipelineError::InFlight);
        }
        self.submit_frame(frame, params)?;
        self.collect()?.ok_or(PipelineError::InFlight)
    }

    /// Starts processing a frame held in textures (checked with
    /// [`TextureFrame::validate`]) on [`Route::Shader`](super::Route::Shader); the I420 result
    /// comes from [`FramePipeline::collect`] (read back from the GPU).
    pub fn submit_texture(
        &mut self,
        frame: &TextureFrame<'_>,
        params: &FrameParams,
    ) -> Result<(), PipelineError> {
        frame.validate()?;
        self.submit_source(Source::Texture(*frame), params, Sink::Readback)
    }

    /// Processes a frame held in textures and waits for the I420 result
    /// (see [`FramePipeline::submit_texture`]).
    pub fn process_texture(
        &mut self,
        frame: &TextureFrame<'_>,
        params: &FrameParams,
    ) -> Result<I420Frame, PipelineError> {
        if !self.in_flight.is_empty() {
            return Err(PipelineError::InFlight);
        }
        self.submit_texture(frame, params)?;
        self.collect()?.ok_or(PipelineError::InFlight)
    }

    /// Processes a frame held in textures and draws the result into
    /// `target`, all on the GPU (no readback) on [`Route::Shader`](super::Route::Shader). Returns
    /// once the work is submitted to the queue; later work on the same
    /// queue (a present, a copy, an encoder's read) sees the result. Checks
    /// both with [`TextureFrame::validate`] and [`TextureTarget::validate`].
    pub fn render_texture(
        &mut self,
        frame: &TextureFrame<'_>,
        params: &FrameParams,
        target: &TextureTarget<'_>,
    ) -> Result<(), PipelineError> {
        frame.validate()?;
        self.submit_source(Source::Texture(*frame), params, Sink::Target(target))
    }

    /// Processes a CPU frame in any [`InputFrame`] format and draws the
    /// result into `target` on [`Route::Shader`](super::Route::Shader) (for a preview of the
    /// frames being pushed, say); see [`FramePipeline::render_texture`].
    pub fn render_frame(
        &mut self,
        frame: &InputFrame,
        params: &FrameParams,
        target: &TextureTarget<'_>,
    ) -> Result<(), PipelineError> {
        let source = match frame {
            InputFrame::I420(frame) => Source::I420(frame),
            InputFrame::Nv12(frame) => Source::Nv12(frame),
            InputFrame::Rgba(frame) => Source::Rgb(frame),
        };
        self.submit_source(source, params, Sink::Target(target))
    }
}
