//! The frame pipeline: I420 in, processed I420 out.
//!
//! ```text
//! upload I420 ─► geometry pass ─► packed I420 ─► smoothing passes ─► finishing pass ─► readback
//!                (warps, crop, zoom, mirror,      (guided filter at ¼ size,  (sharpness, colour
//!                 scale, whitening)               only when asked for)        filter; when asked for)
//! ```
//!
//! Only I420 crosses the bus (1.5 bytes per pixel each way). Buffers, the
//! shader and its pipelines are created once and reused; a new input size
//! re-creates the input textures only; per-frame parameters are a uniform
//! write. The one exception: the geometry pass is compiled once per tap
//! count (1–4 per axis, for downscaling) and per need of the RGB stage, on
//! first use, and kept. Without a colour effect, pixels skip the YUV → RGB →
//! YUV round trip, which is the identity.
//!
//! On a software adapter (lavapipe) the CPU does what it does cheaper than
//! the emulated GPU: the plain geometry (`plain`), the face warps over the
//! tiles they move (`cpu_warp`), then skin whitening and smoothing
//! (`cpu_skin`); the frame then needs no GPU pass at all. With the warps
//! kept on the GPU ([`Placement::warps_on_cpu`]), lavapipe computes their
//! tiles and they are laid over the CPU's frame. Which of those a frame
//! takes is its [`Route`], decided in one place ([`route`](mod@route)) and
//! reported by [`FramePipeline::last_route`]. The CPU's warps use AVX2
//! where the CPU has it, bit for bit the same as their scalar code, which
//! `LIVEROOM_CPU_SIMD=scalar` in the environment forces.
//!
//! [`reference`](mod@reference) is the same maths on the CPU, the yardstick of the tests.
//!
//! This file holds [`FramePipeline`] itself (creation, settings, and each
//! frame's submission and collection); the geometry pass's compiled
//! variants and dispatches are in `geometry_pass`, the size-dependent GPU
//! textures and buffers and the upload in `resources`, the blocks the
//! shader redoes over the CPU's plain frame in `gpu_blocks`, the frames in
//! flight and the readback in `readback`.
//!
//! Frames other than CPU I420 come in through `frame_inputs`: CPU NV12 and
//! RGBA/BGRA frames ([`crate::frame_formats`]) and frames in textures
//! ([`TextureFrame`]), put into the input textures by `input_convert` (the
//! RGB conversion pass, NV12 copies); a frame may also be drawn into a
//! caller's textures ([`TextureTarget`], `output_render`) instead of read
//! back. The textures' types and checks are in [`texture_frames`], and
//! [`texture_transfer`] moves pixels in and out of textures for callers.

pub mod background;
mod cpu_skin;
mod cpu_warp;
mod finish;
mod finish_pass;
mod frame_inputs;
mod input_convert;
mod output_render;
mod plain;
pub mod reference;
pub mod route;
mod rows;
mod simd;
pub mod smoothing;
pub mod texture_frames;
pub mod texture_transfer;
pub mod uniforms;

mod geometry_pass;
mod gpu_blocks;
mod readback;
mod resources;

use std::collections::VecDeque;
use std::sync::Arc;

use thiserror::Error;

use crate::color::ColorMatrix;
use crate::effects::{union_of, EffectParams, EffectPlan, FaceWeights, Lut};
use crate::frame::{FrameError, I420Frame};
use crate::geometry::{GeometryError, GeometryParams, GeometryPlan, OutputSize};
use crate::gpu::{
    buffer_layout_entry, checked, one_group_pipeline_layout, sampler_layout_entry,
    texture_layout_entry, uniform_buffer, wgsl_module, GpuContext, GpuError,
};
use crate::landmarks::FaceLandmarks;
pub use background::BackgroundPass;
use cpu_skin::{CpuSkin, SkinWork};
use cpu_warp::CpuWarp;
use finish::FinishWork;
use finish_pass::Finisher;
use frame_inputs::{Sink, Source};
use geometry_pass::{Dispatch, GeometryVariants, VariantKey};
use gpu_blocks::GpuBlocks;
use input_convert::InputConverter;
use output_render::TargetRenderer;
use plain::PlainScaler;
use readback::{read_back, GpuFrame, InFlight};
use resources::{InputTextures, OutputBuffers};
use route::FrameFacts;
pub use route::{Placement, Route};
use smoothing::Smoother;
pub use texture_frames::{TextureError, TextureFrame, TextureTarget};
use uniforms::{BlockRegion, EffectUniforms, GeometryUniforms};

/// Bytes between the geometry uniforms of successive dispatches (WebGPU's
/// largest dynamic-offset alignment).
const UNIFORM_SLOT: u64 = 256;

/// Frames that may be on the GPU at once (one readback buffer each).
const MAX_IN_FLIGHT: usize = 2;

/// Dispatches of the geometry pass per frame at most: the effects' region
/// and the four bands around it.
const MAX_DISPATCHES: usize = 5;

/// The WGSL source of the geometry pass (after the shared effect maths).
pub const GEOMETRY_SHADER: &str = concat!(
    include_str!("../../shaders/effects.wgsl"),
    include_str!("../../shaders/geometry.wgsl")
);

/// Every composed shader the pipeline compiles, by name: each file in
/// `shaders/` is part of at least one.
pub const SHADERS: [(&str, &str); 7] = [
    ("effects.wgsl + geometry.wgsl", GEOMETRY_SHADER),
    ("effects.wgsl + smoothing.wgsl", smoothing::SMOOTHING_SHADER),
    ("background.wgsl", background::BACKGROUND_SHADER),
    ("effects.wgsl + finish.wgsl", finish_pass::FINISH_SHADER),
    ("rgb_to_yuv420.wgsl", input_convert::CONVERT_SHADER),
    (
        "yuv_to_rgb.wgsl + yuv420_to_target.wgsl",
        output_render::TARGET_SHADER,
    ),
    ("yuv_to_rgb.wgsl + window.wgsl", WINDOW_SHADER),
];

/// The window presenter's shader (`src/window/presenter.rs`): I420 planes
/// to RGB in a render pass.
pub const WINDOW_SHADER: &str = concat!(
    include_str!("../../shaders/yuv_to_rgb.wgsl"),
    include_str!("../../shaders/window.wgsl")
);

/// Shader invocations per workgroup side (`@workgroup_size(8, 8)`).
const WORKGROUP_SIDE: u32 = 8;

/// Why a frame could not be processed.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// Geometry settings or sizes are invalid.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// The frame could not be built.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The GPU failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A texture cannot be the input or output.
    #[error(transparent)]
    Texture(#[from] TextureError),
    /// Too many frames in flight, or a call that needs none in flight.
    #[error("frames are in flight on the GPU: collect them first")]
    InFlight,
    /// A route that needs the frame in CPU memory was taken for pixels on
    /// the GPU (a bug in the pipeline's routing, reported rather than
    /// panicking).
    #[error("the frame's route needs it in CPU memory, but its pixels are on the GPU")]
    CpuRouteWithoutFrame,
}

/// Everything that may change from one frame to the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameParams {
    /// Zoom and mirror.
    pub geometry: GeometryParams,
    /// Effect strengths.
    pub effects: EffectParams,
    /// The faces in this frame, in input pixels (see [`crate::landmarks`]).
    /// Without faces the face effects (warps, skin mask) do nothing.
    pub faces: Vec<FaceLandmarks>,
    /// How far each face's shape effects are faded in, and the faces lost
    /// and fading out (in input pixels), from [`crate::effects::FaceFade`].
    /// The default weighs every face fully.
    pub face_weights: FaceWeights,
    /// The colour filter's look-up table, blended at
    /// [`EffectParams::filter_strength`]; `None` filters nothing. Upload
    /// to the GPU happens when the table (the `Arc`) changes.
    pub filter: Option<Arc<Lut>>,
}

impl FrameParams {
    /// The frame's effect plan: the faces mapped through the geometry into
    /// output pixels, turned into warps (scaled by the faces' weights) and
    /// mask regions.
    pub fn effect_plan(&self, geometry: &GeometryPlan) -> EffectPlan {
        let to_output = |face: &FaceLandmarks| face.mapped(|point| geometry.to_output(point));
        let faces: Vec<FaceLandmarks> = self.faces.iter().map(to_output).collect();
        let weights = FaceWeights {
            present: self.face_weights.present.clone(),
            fading: self
                .face_weights
                .fading
                .iter()
                .map(|(face, weight)| (to_output(face), *weight))
                .collect(),
        };
        EffectPlan::faded(&self.effects, &faces, &weights)
    }
}

/// The GPU frame pipeline. Create once, call [`FramePipeline::process`] per
/// frame.
pub struct FramePipeline {
    gpu: GpuContext,
    output_size: OutputSize,
    bind_group_layout: wgpu::BindGroupLayout,
    geometry: GeometryVariants,
    /// One slot of geometry uniforms per dispatch of a frame (the region
    /// each covers differs), [`UNIFORM_SLOT`] bytes apart.
    uniforms: wgpu::Buffer,
    effect_uniforms: wgpu::Buffer,
    sampler: wgpu::Sampler,
    /// Where each part of a frame's work may run (see [`route`](mod@route)).
    placement: Placement,
    /// The route of the last frame submitted.
    last_route: Option<Route>,
    /// The CPU skin effects' reusable buffers.
    cpu_skin: CpuSkin,
    input: Option<InputTextures>,
    /// U and V interleaved for upload, kept to avoid an allocation per frame.
    interleaved: Vec<u8>,
    /// The smoothing passes, made when a frame first needs them.
    smoother: Option<Smoother>,
    /// The finishing pass (sharpness, colour filter), made when a frame
    /// first needs it on the GPU.
    finisher: Option<Finisher>,
    /// The conversion of RGB input into the input textures, made when a
    /// frame first needs it.
    converter: Option<InputConverter>,
    /// The drawing into callers' textures, made when a frame first needs it.
    renderer: Option<TargetRenderer>,
    /// Frames submitted and not yet collected, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The readback buffer the next submission uses.
    next_slot: usize,
    output: OutputBuffers,
}

impl FramePipeline {
    /// Compiles the passes and allocates the output buffers.
    pub fn new(gpu: &GpuContext, output_size: OutputSize) -> Result<Self, PipelineError> {
        let device = gpu.device();
        let (bind_group_layout, geometry, uniforms, effect_uniforms, sampler) =
            checked(device, || {
                let module = wgsl_module(device, "geometry.wgsl", GEOMETRY_SHADER);
                let bind_group_layout =
                    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some("geometry bindings"),
                        entries: &[
                            wgpu::BindGroupLayoutEntry {
                                binding: 0,
                                visibility: wgpu::ShaderStages::COMPUTE,
                                ty: wgpu::BindingType::Buffer {
                                    ty: wgpu::BufferBindingType::Uniform,
                                    has_dynamic_offset: true,
                                    min_binding_size: None,
                                },
                                count: None,
                            },
                            texture_layout_entry(1),
                            texture_layout_entry(2),
                            sampler_layout_entry(3),
                            buffer_layout_entry(
                                4,
                                wgpu::BufferBindingType::Storage { read_only: false },
                            ),
                            buffer_layout_entry(5, wgpu::BufferBindingType::Uniform),
                            face_field_layout_entry(),
                            buffer_layout_entry(
                                10,
                                wgpu::BufferBindingType::Storage { read_only: true },
                            ),
                        ],
                    });
                let layout =
                    one_group_pipeline_layout(device, "geometry layout", &bind_group_layout);
                let uniforms = uniform_buffer(
                    device,
                    "geometry uniforms",
                    (UNIFORM_SLOT as usize * MAX_DISPATCHES) as u64,
                );
                let effect_uniforms = uniform_buffer(
                    device,
                    "effect uniforms",
                    std::mem::size_of::<EffectUniforms>() as u64,
                );
                let geometry = GeometryVariants {
                    module,
                    layout,
                    color_constants: ColorMatrix::bt601_video_range().shader_constants(),
                    compiled: Vec::new(),
                };
                let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
                    label: Some("bilinear"),
                    address_mode_u: wgpu::AddressMode::ClampToEdge,
                    address_mode_v: wgpu::AddressMode::ClampToEdge,
                    mag_filter: wgpu::FilterMode::Linear,
                    min_filter: wgpu::FilterMode::Linear,
                    ..Default::default()
                });
                (
                    bind_group_layout,
                    geometry,
                    uniforms,
                    effect_uniforms,
                    sampler,
                )
            })?;
        let output = Self::output_buffers(gpu, output_size)?;
        Ok(Self {
            gpu: gpu.clone(),
            output_size,
            bind_group_layout,
            geometry,
            uniforms,
            effect_uniforms,
            sampler,
            placement: Placement::for_adapter(gpu),
            last_route: None,
            cpu_skin: CpuSkin::default(),
            input: None,
            interleaved: Vec::new(),
            smoother: None,
            finisher: None,
            converter: None,
            renderer: None,
            in_flight: VecDeque::new(),
            next_slot: 0,
            output,
        })
    }

    /// The size of the frames [`FramePipeline::process`] returns.
    pub fn output_size(&self) -> OutputSize {
        self.output_size
    }

    /// Changes the output size (re-allocates the output buffers).
    pub fn set_output_size(&mut self, size: OutputSize) -> Result<(), PipelineError> {
        if !self.in_flight.is_empty() {
            return Err(PipelineError::InFlight);
        }
        if size != self.output_size {
            self.output = Self::output_buffers(&self.gpu, size)?;
            self.output_size = size;
            self.input = None;
            self.smoother = None;
            self.finisher = None;
        }
        Ok(())
    }

    /// Where each part of a frame's work may run; by default
    /// [`Placement::for_adapter`].
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Sets where each part of the following frames' work may run (see
    /// [`Placement`]); which parts a frame actually gets where is its
    /// [`Route`] ([`FramePipeline::last_route`]).
    pub fn set_placement(&mut self, placement: Placement) {
        self.placement = placement;
    }

    /// Readies the look-up table `lut` for the frames ahead: where the
    /// finishing step runs on the CPU ([`Placement::plain_on_cpu`]), its
    /// YUV form (about 0.1 s of work, made once per table) is built on a
    /// thread of its own, so that the first filtered frame does not wait
    /// for it. A thread that cannot start leaves the work to that frame.
    pub fn prepare_filter(&self, lut: &Arc<Lut>) {
        if !self.placement.plain_on_cpu {
            return;
        }
        let lut = Arc::clone(lut);
        let _ = std::thread::Builder::new()
            .name("liveroom-lut".into())
            .spawn(move || {
                lut.yuv_table();
            });
    }

    /// The route the last frame [`FramePipeline::submit`] (or
    /// [`FramePipeline::process`]) started took: which parts of it the
    /// shaders did and which the CPU (see [`Route`]); `None` before the
    /// first frame. A frame whose submission failed leaves it as it was.
    pub fn last_route(&self) -> Option<Route> {
        self.last_route
    }

    /// Processes one frame: upload, geometry pass, readback. The result has
    /// the pipeline's output size and the input's timestamp; its rows are
    /// padded to a multiple of 8 pixels (see [`I420Frame::stride`]).
    /// Frames submitted with [`FramePipeline::submit`] must be collected
    /// first.
    pub fn process(
        &mut self,
        frame: &I420Frame,
        params: &FrameParams,
    ) -> Result<I420Frame, PipelineError> {
        if !self.in_flight.is_empty() {
            return Err(PipelineError::InFlight);
        }
        self.submit(frame, params)?;
        self.collect()?.ok_or(PipelineError::InFlight)
    }

    /// Frames submitted and not collected yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Collects the oldest frame [`FramePipeline::submit`] started, waiting
    /// for the GPU to finish it; `None` when nothing is in flight.
    pub fn collect(&mut self) -> Result<Option<I420Frame>, PipelineError> {
        let mut flight = match self.in_flight.pop_front() {
            None => return Ok(None),
            Some(InFlight::Ready(frame)) => return Ok(Some(frame)),
            Some(InFlight::Gpu(flight)) => flight,
        };
        let readback = &self.output.readbacks[flight.slot];
        let skin = flight.skin.take();
        let finish = flight.finish.take();
        let mut frame = read_back(&self.gpu, readback, &self.output.layout, flight)?;
        if let Some((work, field)) = skin {
            self.cpu_skin.apply(&mut frame, &field, &work);
        }
        if let Some(finish) = finish {
            let (work, field) = *finish;
            work.apply(&mut frame, field.as_ref());
        }
        Ok(Some(frame))
    }

    /// Starts processing one frame and returns at once; the result comes
    /// from [`FramePipeline::collect`], in order. Up to two frames may be in
    /// flight, so that the GPU works on one while the caller prepares the
    /// next and hands on the previous. The frame follows the route
    /// [`route`](mod@route) works out from its plans and the
    /// [`Placement`] ([`FramePipeline::last_route`]).
    pub fn submit(&mut self, frame: &I420Frame, params: &FrameParams) -> Result<(), PipelineError> {
        self.submit_source(Source::I420(frame), params, Sink::Readback)
    }

    /// [`FramePipeline::submit`] for any source of pixels and either
    /// destination: a readback (a frame to collect) or a caller's textures
    /// (nothing to collect). Pixels already on the GPU, and frames drawn
    /// into textures, take [`Route::Shader`].
    fn submit_source(
        &mut self,
        source: Source<'_>,
        params: &FrameParams,
        sink: Sink<'_>,
    ) -> Result<(), PipelineError> {
        if matches!(sink, Sink::Readback) && self.in_flight.len() >= MAX_IN_FLIGHT {
            return Err(PipelineError::InFlight);
        }
        if let Sink::Target(target) = &sink {
            target.validate((self.output_size.width(), self.output_size.height()))?;
        }
        let slot = self.next_slot;
        let (width, height) = source.size();
        let timestamp = source.timestamp();
        let plan = GeometryPlan::new(width, height, self.output_size, params.geometry)?;
        self.prepare_input(width, height)?;
        let effects = params.effect_plan(&plan);
        let field = effects.face_field(self.output_size.width(), self.output_size.height());
        let layout = self.output.layout;
        // The CPU routes need the frame in CPU memory and give a frame in
        // CPU memory: not for pixels on the GPU or a texture target.
        let cpu_frame = match (&source, &sink) {
            (Source::I420(frame), Sink::Readback) => Some(*frame),
            _ => None,
        };
        let placement = match cpu_frame {
            Some(_) => self.placement,
            None => Placement {
                plain_on_cpu: false,
                ..self.placement
            },
        };
        if source.needs_converter() && self.converter.is_none() {
            self.converter = Some(InputConverter::new(
                self.gpu.device(),
                &self.geometry.color_constants,
            )?);
        }
        if let Sink::Target(target) = &sink {
            if self.renderer.is_none() {
                self.renderer = Some(TargetRenderer::new(
                    self.gpu.device(),
                    &self.geometry.color_constants,
                )?);
            }
            if let Some(renderer) = self.renderer.as_mut() {
                renderer.prepare(self.gpu.device(), target)?;
            }
        }
        let device = self.gpu.device();
        let plain_fits_cpu = PlainScaler::fits(&plan);
        // The blocks the shader would redo over the CPU's plain frame (only
        // where that frame may be the CPU's).
        let blocks = match placement.cpu_plain() && plain_fits_cpu {
            true => GpuBlocks::of(
                &effects,
                field.as_ref(),
                &layout,
                placement.shader_may_whiten(),
            ),
            false => GpuBlocks::default(),
        };
        let facts = FrameFacts {
            plain_fits_cpu,
            warps_fit_cpu: CpuWarp::fits(&plan),
            whitening: effects.has_tone(),
            smoothing: effects.has_smoothing(),
            blocks: blocks.facts(),
        };
        let route = route::route(&facts, placement);
        // What the shaders do of the effects: those the CPU does not.
        let skin_on_cpu = route.skin_on_cpu();
        let key = VariantKey {
            taps: (plan.taps_x, plan.taps_y),
            color_stage: placement.always_convert,
            warps: effects.has_warp(),
            whitening: effects.has_tone() && !skin_on_cpu,
            tiled: false,
        };
        let smoothing = effects.has_smoothing() && !skin_on_cpu;
        let skin = match skin_on_cpu {
            true => SkinWork::for_plan(&effects),
            false => None,
        };
        // Sharpness and the colour filter come last: in the shader where
        // the shaders do the whole frame, else on the CPU.
        let mut finish = FinishWork::for_frame(&effects, params.filter.as_ref());
        let scaler = match route {
            Route::Shader => None,
            _ => PlainScaler::new(&plan, &layout),
        };
        let whole = BlockRegion::all(&layout);
        let plain_key = VariantKey {
            warps: false,
            whitening: false,
            ..key
        };
        let mut base = None;
        let mut tile_origins = None;
        let mut dispatches = Vec::with_capacity(MAX_DISPATCHES);
        match (route, scaler) {
            // (A route other than the shader's has a plain scaler: both
            // come from `PlainScaler::fits`.)
            (Route::Shader, _) | (_, None) => {
                // Effects act only near the faces: the plain variant covers
                // the frame, then the effects' variant redoes the blocks
                // around the faces (a software driver pays for every pixel
                // a shader could branch past; a real GPU skips less work
                // this way, but some).
                let effect_rect = union_of(
                    [
                        key.warps.then(|| effects.warp_bounds()),
                        key.whitening.then(|| effects.mask_bounds()),
                    ]
                    .into_iter()
                    .flatten(),
                );
                match BlockRegion::covering(effect_rect, &layout) {
                    Some(region) => {
                        let plain = self.geometry.prepare(device, plain_key)?;
                        for band in whole.around(region) {
                            dispatches.push(Dispatch::region(plain, band));
                        }
                        dispatches.push(Dispatch::region(
                            self.geometry.prepare(device, key)?,
                            region,
                        ));
                    }
                    None => dispatches.push(Dispatch::region(
                        self.geometry.prepare(device, plain_key)?,
                        whole,
                    )),
                }
            }
            (Route::CpuPlain | Route::Cpu { .. }, Some(scaler)) => {
                // No GPU pass: the frame is done here.
                let frame = cpu_frame.ok_or(PipelineError::CpuRouteWithoutFrame)?;
                let mut plain_frame = scaler.render(frame)?;
                if let (Route::Cpu { warps: true, .. }, Some(field)) = (route, &field) {
                    if let Some(warp) = CpuWarp::new(&plan, &effects, &layout) {
                        warp.render(frame, field, &blocks.warps, &mut plain_frame);
                    }
                }
                if let (Some(work), Some(field)) = (&skin, &field) {
                    self.cpu_skin.apply(&mut plain_frame, field, work);
                }
                if let Some(work) = &finish {
                    work.apply(&mut plain_frame, field.as_ref());
                }
                self.in_flight.push_back(InFlight::Ready(plain_frame));
                self.last_route = Some(route);
                return Ok(());
            }
            (Route::CpuPlainGpuTiles { .. }, Some(scaler)) => {
                // Only the tiles where the face field changes something.
                let tiles = match key.whitening {
                    true => blocks.warps_and_whitening,
                    false => blocks.warps,
                };
                let variant = self
                    .geometry
                    .prepare(device, VariantKey { tiled: true, ..key })?;
                let region = tiles
                    .iter()
                    .copied()
                    .reduce(BlockRegion::union)
                    .unwrap_or(whole);
                dispatches.push(Dispatch::tiles(variant, region, tiles.len()));
                tile_origins = Some(tiles.iter().map(|t| [t.x0, t.y0]).collect::<Vec<_>>());
                let frame = cpu_frame.ok_or(PipelineError::CpuRouteWithoutFrame)?;
                base = Some((scaler.render(frame)?, tiles));
            }
            (Route::CpuPlainGpuRegion, Some(scaler)) => {
                // The smoothing passes read every block around the skin:
                // one region with every effect.
                let region = blocks.around_skin.unwrap_or(whole);
                let variant = self.geometry.prepare(device, key)?;
                dispatches.push(Dispatch::region(variant, region));
                let frame = cpu_frame.ok_or(PipelineError::CpuRouteWithoutFrame)?;
                base = Some((scaler.render(frame)?, vec![region]));
            }
        }
        let route = match base {
            Some(_) => route,
            None => Route::Shader,
        };
        let finish_on_gpu = match base.is_none() && skin.is_none() {
            true => finish.take(),
            false => None,
        };
        if finish_on_gpu.is_some() && self.finisher.is_none() {
            self.finisher = Some(Finisher::new(
                device,
                self.output.layout,
                &self.output.storage,
                &self.effect_uniforms,
                &self.output.face_field,
            )?);
        }
        if smoothing && self.smoother.is_none() {
            self.smoother = Some(Smoother::new(
                device,
                self.output.layout,
                &self.output.storage,
                &self.effect_uniforms,
                &self.output.face_field,
            )?);
        }
        let output = &self.output;
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| GpuError::Operation("no input textures were allocated".into()))?;
        let uniforms = GeometryUniforms::new(&plan, &output.layout);
        let queue = self.gpu.queue();
        let finisher = &mut self.finisher;
        let converter = &mut self.converter;
        let renderer = &self.renderer;
        let flight = checked(device, || {
            for (index, dispatch) in dispatches.iter().enumerate() {
                let uniforms = uniforms.with_region(dispatch.region);
                let offset = index as u64 * UNIFORM_SLOT;
                queue.write_buffer(&self.uniforms, offset, bytemuck::bytes_of(&uniforms));
            }
            if let Some(origins) = &tile_origins {
                queue.write_buffer(&output.tiles, 0, bytemuck::cast_slice(origins));
            }
            if let Some(field) = &field {
                queue.write_buffer(&output.face_field, 0, bytemuck::cast_slice(&field.points));
                let effect_uniforms = EffectUniforms::new(&effects, field);
                queue.write_buffer(
                    &self.effect_uniforms,
                    0,
                    bytemuck::bytes_of(&effect_uniforms),
                );
            }
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
            source.encode_input(
                device,
                queue,
                &mut encoder,
                input,
                converter.as_mut(),
                &mut self.interleaved,
            )?;
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("geometry"),
                    timestamp_writes: None,
                });
                for (index, dispatch) in dispatches.iter().enumerate() {
                    pass.set_pipeline(self.geometry.pipeline(dispatch.variant));
                    let offset = index as u32 * UNIFORM_SLOT as u32;
                    pass.set_bind_group(0, &input.bind_group, &[offset]);
                    let (x, y) = match dispatch.tiles {
                        Some(count) => (count as u32, 1),
                        None => dispatch.region.workgroups(WORKGROUP_SIDE),
                    };
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
            if let (true, Some(smoother)) = (smoothing, &self.smoother) {
                smoother.encode(
                    queue,
                    &mut encoder,
                    effects.smoothness,
                    smoothing::largest_radius(&effects),
                    effects.mask_bounds(),
                );
            }
            if let (Some(work), Some(finisher)) = (&finish_on_gpu, finisher.as_mut()) {
                finisher.encode(device, queue, &mut encoder, &output.storage, work)?;
            }
            if let (Sink::Target(target), Some(renderer)) = (&sink, renderer) {
                renderer.encode(
                    device,
                    queue,
                    &mut encoder,
                    &output.storage,
                    &output.layout,
                    target,
                );
                queue.submit([encoder.finish()]);
                return Ok(None);
            }
            encoder.copy_buffer_to_buffer(
                &output.storage,
                0,
                &output.readbacks[slot],
                0,
                output.layout.len as u64,
            );
            let submission = queue.submit([encoder.finish()]);
            // Mapping completes once the GPU has finished this frame.
            let (sender, mapped) = std::sync::mpsc::channel();
            output.readbacks[slot].map_async(wgpu::MapMode::Read, .., move |result| {
                // The receiver lives until the frame is collected.
                let _ = sender.send(result);
            });
            Ok::<_, GpuError>(Some(GpuFrame {
                slot,
                submission,
                mapped,
                timestamp,
                base,
                skin: None,
                finish: None,
            }))
        })??;
        self.last_route = Some(route);
        let Some(mut flight) = flight else {
            return Ok(());
        };
        if let Some(work) = finish {
            flight.finish = Some(Box::new((work, field.clone())));
        }
        if let (Some(work), Some(field)) = (skin, field) {
            flight.skin = Some((work, field));
        }
        self.in_flight.push_back(InFlight::Gpu(flight));
        self.next_slot = (slot + 1) % MAX_IN_FLIGHT;
        Ok(())
    }
}

/// Binding 9 of the passes that read the face field: a read-only storage
/// buffer (plain loads cost a software driver far less than texture
/// reads).
fn face_field_layout_entry() -> wgpu::BindGroupLayoutEntry {
    buffer_layout_entry(9, wgpu::BufferBindingType::Storage { read_only: true })
}
