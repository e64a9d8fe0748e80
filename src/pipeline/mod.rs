//! The frame pipeline: I420 in, processed I420 out.
//!
//! ```text
//! upload I420 ─► geometry pass ─► packed I420 ─► smoothing passes ─► readback
//!                (warps, crop, zoom, mirror,      (guided filter at ¼ size,
//!                 scale, whitening)               only when asked for)
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

mod cpu_skin;
mod cpu_warp;
mod plain;
pub mod reference;
pub mod route;
mod rows;
pub mod smoothing;
pub mod uniforms;

use std::collections::VecDeque;

use thiserror::Error;

use crate::color::ColorMatrix;
use crate::effects::{union_of, EffectParams, EffectPlan, FaceField};
use crate::frame::{chroma_size, FrameError, I420Frame, Plane};
use crate::geometry::{GeometryError, GeometryParams, GeometryPlan, OutputSize};
use crate::gpu::{
    buffer_layout_entry, checked, sampler_layout_entry, texture_layout_entry, GpuContext, GpuError,
};
use crate::landmarks::FaceLandmarks;
use cpu_skin::{CpuSkin, SkinWork};
use cpu_warp::CpuWarp;
use plain::PlainScaler;
use route::{Blocks, FrameFacts};
pub use route::{Placement, Route};
use smoothing::Smoother;
use uniforms::{BlockRegion, EffectUniforms, GeometryUniforms, OutputLayout};

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
pub const SHADERS: [(&str, &str); 2] = [
    ("effects.wgsl + geometry.wgsl", GEOMETRY_SHADER),
    ("effects.wgsl + smoothing.wgsl", smoothing::SMOOTHING_SHADER),
];

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
    /// Too many frames in flight, or a call that needs none in flight.
    #[error("frames are in flight on the GPU: collect them first")]
    InFlight,
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
}

impl FrameParams {
    /// The frame's effect plan: the faces mapped through the geometry into
    /// output pixels, turned into warps and mask regions.
    pub fn effect_plan(&self, geometry: &GeometryPlan) -> EffectPlan {
        let faces: Vec<FaceLandmarks> = self
            .faces
            .iter()
            .map(|face| face.mapped(|point| geometry.to_output(point)))
            .collect();
        EffectPlan::new(&self.effects, &faces)
    }
}

/// Which compiled variant of the geometry pass a frame needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VariantKey {
    /// Taps across and down (`TAPS_X`, `TAPS_Y`).
    taps: (u32, u32),
    /// Whether pixels go through RGB (`COLOR_STAGE`).
    color_stage: bool,
    /// Whether the frame has face warps (`WARPS`).
    warps: bool,
    /// Whether the frame whitens skin (`WHITENING`).
    whitening: bool,
    /// Whether the dispatch covers a list of tiles (`TILED`).
    tiled: bool,
}

/// Compiled variants of the geometry pass (see [`VariantKey`]), made on
/// first use and kept.
struct GeometryVariants {
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    /// The colour matrices as override constants.
    color_constants: Vec<(String, f64)>,
    compiled: Vec<(VariantKey, wgpu::ComputePipeline)>,
}

impl GeometryVariants {
    /// Compiles the variant for `key` if it is new; returns its index.
    fn prepare(&mut self, device: &wgpu::Device, key: VariantKey) -> Result<usize, GpuError> {
        let index = match self.compiled.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                let mut constants: Vec<(&str, f64)> = self
                    .color_constants
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value))
                    .collect();
                constants.push(("TAPS_X", key.taps.0 as f64));
                constants.push(("TAPS_Y", key.taps.1 as f64));
                constants.push(("COLOR_STAGE", key.color_stage as u8 as f64));
                constants.push(("WARPS", key.warps as u8 as f64));
                constants.push(("WHITENING", key.whitening as u8 as f64));
                constants.push(("TILED", key.tiled as u8 as f64));
                let pipeline = checked(device, || {
                    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some("geometry_to_i420"),
                        layout: Some(&self.layout),
                        module: &self.module,
                        entry_point: Some("geometry_to_i420"),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants: &constants,
                            ..Default::default()
                        },
                        cache: None,
                    })
                })?;
                self.compiled.push((key, pipeline));
                self.compiled.len() - 1
            }
        };
        Ok(index)
    }

    /// A variant [`GeometryVariants::prepare`] compiled.
    fn pipeline(&self, index: usize) -> &wgpu::ComputePipeline {
        &self.compiled[index].1
    }
}

/// GPU textures that depend on the input size: Y as R8, U and V
/// interleaved as RG8.
struct InputTextures {
    size: (u32, u32),
    luma: wgpu::Texture,
    chroma: wgpu::Texture,
    /// Binding 0 takes a dynamic offset: the uniforms slot of a dispatch.
    bind_group: wgpu::BindGroup,
}

/// GPU buffers that depend on the output size.
struct OutputBuffers {
    layout: OutputLayout,
    storage: wgpu::Buffer,
    /// One readback buffer per frame that may be in flight.
    readbacks: [wgpu::Buffer; MAX_IN_FLIGHT],
    /// The face field ([`FaceField`]): four floats per grid point, row by
    /// row, in a storage buffer.
    face_field: wgpu::Buffer,
    /// The first blocks of a tiled dispatch's tiles (two `u32` each).
    tiles: wgpu::Buffer,
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
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some("geometry.wgsl"),
                    source: wgpu::ShaderSource::Wgsl(GEOMETRY_SHADER.into()),
                });
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
                let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("geometry layout"),
                    bind_group_layouts: &[Some(&bind_group_layout)],
                    immediate_size: 0,
                });
                let uniform_buffer = |label, size: usize| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(label),
                        size: size as u64,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                };
                let uniforms =
                    uniform_buffer("geometry uniforms", UNIFORM_SLOT as usize * MAX_DISPATCHES);
                let effect_uniforms =
                    uniform_buffer("effect uniforms", std::mem::size_of::<EffectUniforms>());
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

    /// The route the last frame [`FramePipeline::submit`] (or
    /// [`FramePipeline::process`]) started took: which parts of it the
    /// shaders did and which the CPU (see [`Route`]); `None` before the
    /// first frame. A frame whose submission failed leaves it as it was.
    pub fn last_route(&self) -> Option<Route> {
        self.last_route
    }

    fn output_buffers(gpu: &GpuContext, size: OutputSize) -> Result<OutputBuffers, GpuError> {
        let layout = OutputLayout::new(size);
        let device = gpu.device();
        let (columns, rows) = FaceField::grid(size.width(), size.height());
        checked(device, || {
            let face_field = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("face field"),
                size: u64::from(columns) * u64::from(rows) * 16,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            OutputBuffers {
                layout,
                storage: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("packed I420 output"),
                    size: layout.len as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readbacks: std::array::from_fn(|_| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("I420 readback"),
                        size: layout.len as u64,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                }),
                face_field,
                tiles: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("effect tiles"),
                    size: effect_tile_capacity(&layout) as u64 * 8,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            }
        })
    }

    /// Makes sure the input textures fit a frame of this size.
    fn prepare_input(&mut self, width: u32, height: u32) -> Result<(), GpuError> {
        if self
            .input
            .as_ref()
            .is_some_and(|i| i.size == (width, height))
        {
            return Ok(());
        }
        let device = self.gpu.device();
        let input = checked(device, || {
            let texture = |label, (w, h), format| {
                device.create_texture(&wgpu::TextureDescriptor {
                    label: Some(label),
                    size: wgpu::Extent3d {
                        width: w,
                        height: h,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            };
            let luma = texture("Y", (width, height), wgpu::TextureFormat::R8Unorm);
            let chroma = texture(
                "UV",
                chroma_size(width, height),
                wgpu::TextureFormat::Rg8Unorm,
            );
            let luma_view = luma.create_view(&Default::default());
            let chroma_view = chroma.create_view(&Default::default());
            let bind_group = |uniforms: &wgpu::Buffer| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("geometry bind group"),
                    layout: &self.bind_group_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: uniforms,
                                offset: 0,
                                size: wgpu::BufferSize::new(
                                    std::mem::size_of::<GeometryUniforms>() as u64,
                                ),
                            }),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::TextureView(&luma_view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: wgpu::BindingResource::TextureView(&chroma_view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: wgpu::BindingResource::Sampler(&self.sampler),
                        },
                        wgpu::BindGroupEntry {
                            binding: 4,
                            resource: self.output.storage.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 5,
                            resource: self.effect_uniforms.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 9,
                            resource: self.output.face_field.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 10,
                            resource: self.output.tiles.as_entire_binding(),
                        },
                    ],
                })
            };
            InputTextures {
                size: (width, height),
                luma,
                chroma,
                bind_group: bind_group(&self.uniforms),
            }
        })?;
        self.input = Some(input);
        Ok(())
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
        let mut frame = read_back(&self.gpu, readback, &self.output.layout, flight)?;
        if let Some((work, field)) = skin {
            self.cpu_skin.apply(&mut frame, &field, &work);
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
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return Err(PipelineError::InFlight);
        }
        let slot = self.next_slot;
        let plan = GeometryPlan::new(
            frame.width(),
            frame.height(),
            self.output_size,
            params.geometry,
        )?;
        self.prepare_input(frame.width(), frame.height())?;
        let device = self.gpu.device();
        let effects = params.effect_plan(&plan);
        let field = effects.face_field(self.output_size.width(), self.output_size.height());
        let layout = self.output.layout;
        let placement = self.placement;
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
            whitening: effects.has_whitening(),
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
            whitening: effects.has_whitening() && !skin_on_cpu,
            tiled: false,
        };
        let smoothing = effects.has_smoothing() && !skin_on_cpu;
        let skin = match skin_on_cpu {
            true => SkinWork::for_plan(&effects),
            false => None,
        };
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
                let mut plain_frame = scaler.render(frame)?;
                if let (Route::Cpu { warps: true, .. }, Some(field)) = (route, &field) {
                    if let Some(warp) = CpuWarp::new(&plan, &effects, &layout) {
                        warp.render(frame, field, &blocks.warps, &mut plain_frame);
                    }
                }
                if let (Some(work), Some(field)) = (&skin, &field) {
                    self.cpu_skin.apply(&mut plain_frame, field, work);
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
                base = Some((scaler.render(frame)?, tiles));
            }
            (Route::CpuPlainGpuRegion, Some(scaler)) => {
                // The smoothing passes read every block around the skin:
                // one region with every effect.
                let region = blocks.around_skin.unwrap_or(whole);
                let variant = self.geometry.prepare(device, key)?;
                dispatches.push(Dispatch::region(variant, region));
                base = Some((scaler.render(frame)?, vec![region]));
            }
        }
        let route = match base {
            Some(_) => route,
            None => Route::Shader,
        };
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
        let mut flight = checked(device, || {
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
            upload(queue, input, frame, &mut self.interleaved);
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
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
                    effects.mask_bounds(),
                );
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
            GpuFrame {
                slot,
                submission,
                mapped,
                timestamp: frame.timestamp,
                base,
                skin: None,
            }
        })?;
        if let (Some(work), Some(field)) = (skin, field) {
            flight.skin = Some((work, field));
        }
        self.in_flight.push_back(InFlight::Gpu(flight));
        self.next_slot = (slot + 1) % MAX_IN_FLIGHT;
        self.last_route = Some(route);
        Ok(())
    }
}

/// A submitted frame: on the GPU, or already done on the CPU.
enum InFlight {
    Gpu(GpuFrame),
    Ready(I420Frame),
}

/// A frame on the GPU: its readback slot, submission, the mapping's
/// outcome to wait for, and the input's timestamp.
struct GpuFrame {
    slot: usize,
    submission: wgpu::SubmissionIndex,
    mapped: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    timestamp: std::time::Duration,
    /// The CPU's plain frame and the blocks the GPU computed, to be laid
    /// over it; `None` when the GPU computed the whole frame.
    base: Option<(I420Frame, Vec<BlockRegion>)>,
    /// The skin effects, when the CPU does them after the GPU's part.
    skin: Option<(SkinWork, FaceField)>,
}

/// One dispatch of the geometry pass: its compiled variant, the blocks its
/// uniforms name, and for a tiled one the number of tiles (workgroups).
struct Dispatch {
    variant: usize,
    region: BlockRegion,
    tiles: Option<usize>,
}

impl Dispatch {
    /// A dispatch over every block of `region`.
    fn region(variant: usize, region: BlockRegion) -> Self {
        Self {
            variant,
            region,
            tiles: None,
        }
    }

    /// A dispatch over `count` tiles within `region`.
    fn tiles(variant: usize, region: BlockRegion, count: usize) -> Self {
        Self {
            variant,
            region,
            tiles: Some(count),
        }
    }
}

/// Blocks per side of a tile of a tiled dispatch (one workgroup).
const TILE: u32 = WORKGROUP_SIDE;

/// The blocks the geometry shader would redo over the CPU's plain frame,
/// for each share of the effects it may get (see [`Blocks`]).
#[derive(Debug, Default)]
struct GpuBlocks {
    /// The tiles where the face field moves pixels (the warps alone).
    warps: Vec<BlockRegion>,
    /// The tiles where it moves or whitens them (the warps and the
    /// whitening in the shader); none without whitening, or where the
    /// shader may not whiten.
    warps_and_whitening: Vec<BlockRegion>,
    /// The region of every effect with the smoothing passes' reach around
    /// the skin; `None` without smoothing, or off the output.
    around_skin: Option<BlockRegion>,
}

impl GpuBlocks {
    /// The blocks for `effects` (with their face field `field`) on an
    /// output laid out as `layout`; those with the whitening only where
    /// `shader_may_whiten` (a scan of the field the route would not use).
    fn of(
        effects: &EffectPlan,
        field: Option<&FaceField>,
        layout: &OutputLayout,
        shader_may_whiten: bool,
    ) -> Self {
        let warp_rect = effects.has_warp().then(|| effects.warp_bounds());
        let mask_rect = effects.has_whitening().then(|| effects.mask_bounds());
        // Without the smoothing passes (which read every block around the
        // skin), only the tiles where the face field changes something.
        let tiles = |whitening: bool| {
            let rect = union_of(warp_rect.into_iter().chain(mask_rect.filter(|_| whitening)));
            match (BlockRegion::covering(rect, layout), field) {
                (Some(region), Some(field)) => effect_tiles(field, region, whitening),
                (Some(region), None) => vec![region],
                (None, _) => Vec::new(),
            }
        };
        let around_skin = effects.has_smoothing().then(|| {
            let reach = grow(effects.mask_bounds(), SMOOTHING_REACH);
            let rect = union_of(warp_rect.into_iter().chain(mask_rect).chain([reach]));
            BlockRegion::covering(rect, layout)
        });
        Self {
            warps: tiles(false),
            warps_and_whitening: match effects.has_whitening() && shader_may_whiten {
                true => tiles(true),
                false => Vec::new(),
            },
            around_skin: around_skin.flatten(),
        }
    }

    /// Whether each share has a block to redo.
    fn facts(&self) -> Blocks {
        Blocks {
            warps: !self.warps.is_empty(),
            warps_and_whitening: !self.warps_and_whitening.is_empty(),
            around_skin: self.around_skin.is_some(),
        }
    }
}

/// The most tiles an output can have.
fn effect_tile_capacity(layout: &OutputLayout) -> u32 {
    let (x, y) = layout.blocks();
    x.div_ceil(TILE) * y.div_ceil(TILE)
}

/// The tiles of `region` (`TILE`² blocks from its first block, clipped to
/// it) in which the face field is not all zero (its offsets; and its
/// region weight when `whitening`): the only blocks the effects change,
/// since the field is what moves and whitens pixels.
fn effect_tiles(field: &FaceField, region: BlockRegion, whitening: bool) -> Vec<BlockRegion> {
    // The warp's offsets, and the region weight where the GPU whitens.
    let components = if whitening { 3 } else { 2 };
    let spacing = crate::effects::FACE_FIELD_SPACING;
    let last = [field.columns - 1, field.rows - 1];
    // The grid points the blocks' cells use: a block's cell holds its
    // centre (see `face_cell` in the shader) and reaches one point on.
    let points = |first_pixel: u32, end_pixel: u32, last: u32| {
        let cell = |p: u32| (p / spacing).min(last.saturating_sub(1));
        cell(first_pixel + 1)..=(cell(end_pixel - 1) + 1).min(last)
    };
    let mut tiles = Vec::new();
    for y0 in (region.y0..region.y1).step_by(TILE as usize) {
        let y1 = (y0 + TILE).min(region.y1);
        let rows = points(2 * y0, 2 * y1, last[1]);
        for x0 in (region.x0..region.x1).step_by(TILE as usize) {
            let x1 = (x0 + TILE).min(region.x1);
            let columns = points(8 * x0, 8 * x1, last[0]);
            let touched = rows.clone().any(|j| {
                let row = &field.points[(j * field.columns) as usize..];
                columns
                    .clone()
                    .any(|i| row[i as usize][..components].iter().any(|&v| v != 0.0))
            });
            if touched {
                tiles.push(BlockRegion { x0, y0, x1, y1 });
            }
        }
    }
    tiles
}

/// Output pixels around the skin mask that the smoothing passes read (the
/// low-res cells of the bilinear and the two box means), with a margin.
const SMOOTHING_REACH: f32 = ((1 + 2 * smoothing::RADIUS + 1) * smoothing::BLOCK) as f32;

/// `rect` grown by `by` on every side (an empty one stays empty).
fn grow(rect: [f32; 4], by: f32) -> [f32; 4] {
    [rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by]
}

/// Binding 9 of the passes that read the face field: a read-only storage
/// buffer (plain loads cost a software driver far less than texture
/// reads).
fn face_field_layout_entry() -> wgpu::BindGroupLayoutEntry {
    buffer_layout_entry(9, wgpu::BufferBindingType::Storage { read_only: true })
}

/// Copies the frame's planes into the input textures, interleaving U and V
/// on the way (`scratch` keeps the interleaved bytes between frames).
fn upload(queue: &wgpu::Queue, input: &InputTextures, frame: &I420Frame, scratch: &mut Vec<u8>) {
    let (cw, ch) = frame.plane_size(Plane::U);
    scratch.clear();
    scratch.reserve(2 * (cw * ch) as usize);
    for y in 0..ch {
        let (u, v) = (frame.row(Plane::U, y), frame.row(Plane::V, y));
        scratch.extend(u.iter().zip(v).flat_map(|(&u, &v)| [u, v]));
    }
    let write = |texture, bytes: &[u8], bytes_per_row: usize, (width, height)| {
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(bytes_per_row as u32),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
    };
    write(
        &input.luma,
        frame.plane(Plane::Y),
        frame.stride(Plane::Y),
        frame.plane_size(Plane::Y),
    );
    write(&input.chroma, scratch, 2 * cw as usize, (cw, ch));
}

/// Waits for a frame in flight and turns its readback buffer into a frame.
/// Copies the blocks of `region` from the packed GPU output `packed` into
/// `frame` (laid out as `layout`).
fn lay_over(frame: &mut I420Frame, packed: &[u8], layout: &OutputLayout, region: BlockRegion) {
    // A block is 8×2 luma pixels and 4×1 samples of each chroma plane.
    let luma_columns =
        region.x0 as usize * 8..(region.x1 as usize * 8).min(layout.luma_stride as usize);
    let chroma_columns =
        region.x0 as usize * 4..(region.x1 as usize * 4).min(layout.chroma_stride as usize);
    let planes = [
        (Plane::Y, 0, layout.luma_stride, 2, &luma_columns),
        (
            Plane::U,
            layout.u_offset,
            layout.chroma_stride,
            1,
            &chroma_columns,
        ),
        (
            Plane::V,
            layout.v_offset,
            layout.chroma_stride,
            1,
            &chroma_columns,
        ),
    ];
    for (plane, offset, stride, rows_per_block, columns) in planes {
        for y in region.y0 * rows_per_block..region.y1 * rows_per_block {
            let start = offset as usize + y as usize * stride as usize;
            let source = &packed[start + columns.start..start + columns.end];
            let stride = frame.stride(plane);
            let row = &mut frame.plane_mut(plane)[y as usize * stride..];
            row[columns.clone()].copy_from_slice(source);
        }
    }
}

fn read_back(
    gpu: &GpuContext,
    readback: &wgpu::Buffer,
    layout: &OutputLayout,
    flight: GpuFrame,
) -> Result<I420Frame, PipelineError> {
    gpu.device()
        .poll(wgpu::PollType::Wait {
            submission_index: Some(flight.submission),
            timeout: None,
        })
        .map_err(|e| GpuError::Operation(format!("waiting for the GPU: {e}")))?;
    flight
        .mapped
        .recv()
        .map_err(|_| GpuError::Operation("readback was never mapped".into()))?
        .map_err(|e| GpuError::Operation(format!("mapping the readback buffer: {e}")))?;
    let view = readback
        .get_mapped_range(..)
        .map_err(|e| GpuError::Operation(format!("reading the readback buffer: {e}")))?;
    let (u, v) = (layout.u_offset as usize, layout.v_offset as usize);
    if let Some((mut base, regions)) = flight.base {
        for region in regions {
            lay_over(&mut base, &view, layout, region);
        }
        drop(view);
        readback.unmap();
        return Ok(base);
    }
    let planes = [
        view[..u].to_vec(),
        view[u..v].to_vec(),
        view[v..layout.len as usize].to_vec(),
    ];
    drop(view);
    readback.unmap();
    let luma = layout.luma_stride as usize;
    let chroma = layout.chroma_stride as usize;
    Ok(I420Frame::from_planes(
        layout.width,
        layout.height,
        planes,
        [luma, chroma, chroma],
        flight.timestamp,
    )?)
}
