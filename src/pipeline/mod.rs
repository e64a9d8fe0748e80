//! The frame pipeline: I420 in, processed I420 out.
//!
//! ```text
//! upload I420 ─► geometry pass (crop, zoom, mirror, scale; YUV→RGB→YUV) ─► packed I420 ─► readback
//! ```
//!
//! Only I420 crosses the bus (1.5 bytes per pixel each way). Buffers, the
//! shader and its pipelines are created once and reused; a new input size
//! re-creates the input buffer only; per-frame parameters are a uniform
//! write. The one exception: the geometry pass is compiled once per tap
//! count (1–4 per axis, for downscaling), on first use, and kept.
//!
//! [`reference`] is the same maths on the CPU, the yardstick of the tests.

pub mod reference;
pub mod uniforms;

use thiserror::Error;

use crate::color::ColorMatrix;
use crate::frame::{FrameError, I420Frame, Plane};
use crate::geometry::{GeometryError, GeometryParams, GeometryPlan, OutputSize};
use crate::gpu::{checked, GpuContext, GpuError};
use uniforms::{GeometryUniforms, InputLayout, OutputLayout};

/// The WGSL source of the geometry pass.
pub const GEOMETRY_SHADER: &str = include_str!("../../shaders/geometry.wgsl");

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
}

/// Everything that may change from one frame to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameParams {
    /// Zoom and mirror.
    pub geometry: GeometryParams,
}

/// Compiled variants of the geometry pass, one per tap count (see
/// `TAPS_X`/`TAPS_Y` in the shader), made on first use and kept.
struct GeometryVariants {
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    compiled: Vec<((u32, u32), wgpu::ComputePipeline)>,
}

impl GeometryVariants {
    fn get(
        &mut self,
        device: &wgpu::Device,
        taps: (u32, u32),
    ) -> Result<&wgpu::ComputePipeline, GpuError> {
        let index = match self.compiled.iter().position(|(t, _)| *t == taps) {
            Some(index) => index,
            None => {
                let pipeline = checked(device, || {
                    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some("geometry_to_i420"),
                        layout: Some(&self.layout),
                        module: &self.module,
                        entry_point: Some("geometry_to_i420"),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants: &[("TAPS_X", taps.0 as f64), ("TAPS_Y", taps.1 as f64)],
                            ..Default::default()
                        },
                        cache: None,
                    })
                })?;
                self.compiled.push((taps, pipeline));
                self.compiled.len() - 1
            }
        };
        Ok(&self.compiled[index].1)
    }
}

/// GPU buffers that depend on the input size.
struct InputBuffers {
    layout: InputLayout,
    buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// GPU buffers that depend on the output size.
struct OutputBuffers {
    layout: OutputLayout,
    storage: wgpu::Buffer,
    readback: wgpu::Buffer,
}

/// The GPU frame pipeline. Create once, call [`FramePipeline::process`] per
/// frame.
pub struct FramePipeline {
    gpu: GpuContext,
    output_size: OutputSize,
    matrix: ColorMatrix,
    bind_group_layout: wgpu::BindGroupLayout,
    geometry: GeometryVariants,
    uniforms: wgpu::Buffer,
    input: Option<InputBuffers>,
    output: OutputBuffers,
}

impl FramePipeline {
    /// Compiles the passes and allocates the output buffers.
    pub fn new(gpu: &GpuContext, output_size: OutputSize) -> Result<Self, PipelineError> {
        let device = gpu.device();
        let (bind_group_layout, geometry, uniforms) = checked(device, || {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("geometry.wgsl"),
                source: wgpu::ShaderSource::Wgsl(GEOMETRY_SHADER.into()),
            });
            let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
            let bind_group_layout =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("geometry bindings"),
                    entries: &[
                        wgpu::BindGroupLayoutEntry {
                            binding: 0,
                            visibility: wgpu::ShaderStages::COMPUTE,
                            ty: wgpu::BindingType::Buffer {
                                ty: wgpu::BufferBindingType::Uniform,
                                has_dynamic_offset: false,
                                min_binding_size: None,
                            },
                            count: None,
                        },
                        storage(1, true),
                        storage(2, false),
                    ],
                });
            let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("geometry layout"),
                bind_group_layouts: &[Some(&bind_group_layout)],
                immediate_size: 0,
            });
            let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("geometry uniforms"),
                size: std::mem::size_of::<GeometryUniforms>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let geometry = GeometryVariants {
                module,
                layout,
                compiled: Vec::new(),
            };
            (bind_group_layout, geometry, uniforms)
        })?;
        let output = Self::output_buffers(gpu, output_size)?;
        Ok(Self {
            gpu: gpu.clone(),
            output_size,
            matrix: ColorMatrix::bt601_video_range(),
            bind_group_layout,
            geometry,
            uniforms,
            input: None,
            output,
        })
    }

    /// The size of the frames [`FramePipeline::process`] returns.
    pub fn output_size(&self) -> OutputSize {
        self.output_size
    }

    /// Changes the output size (re-allocates the output buffers).
    pub fn set_output_size(&mut self, size: OutputSize) -> Result<(), PipelineError> {
        if size != self.output_size {
            self.output = Self::output_buffers(&self.gpu, size)?;
            self.output_size = size;
            self.input = None;
        }
        Ok(())
    }

    fn output_buffers(gpu: &GpuContext, size: OutputSize) -> Result<OutputBuffers, GpuError> {
        let layout = OutputLayout::new(size);
        let device = gpu.device();
        checked(device, || OutputBuffers {
            layout,
            storage: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("packed I420 output"),
                size: layout.len as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("I420 readback"),
                size: layout.len as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        })
    }

    /// Makes sure the input buffer fits a frame of this size.
    fn prepare_input(&mut self, width: u32, height: u32) -> Result<(), GpuError> {
        if let Some(input) = &self.input {
            if (input.layout.width, input.layout.height) == (width, height) {
                return Ok(());
            }
        }
        let layout = InputLayout::new(width, height);
        let device = self.gpu.device();
        let input = checked(device, || {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("I420 input"),
                size: layout.len as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("geometry bind group"),
                layout: &self.bind_group_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: self.uniforms.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: buffer.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: self.output.storage.as_entire_binding(),
                    },
                ],
            });
            InputBuffers {
                layout,
                buffer,
                bind_group,
            }
        })?;
        self.input = Some(input);
        Ok(())
    }

    /// Processes one frame: upload, geometry pass, readback. The result has
    /// the pipeline's output size and the input's timestamp; its rows are
    /// padded to a multiple of 8 pixels (see [`I420Frame::stride`]).
    pub fn process(
        &mut self,
        frame: &I420Frame,
        params: &FrameParams,
    ) -> Result<I420Frame, PipelineError> {
        let plan = GeometryPlan::new(
            frame.width(),
            frame.height(),
            self.output_size,
            params.geometry,
        )?;
        self.prepare_input(frame.width(), frame.height())?;
        let device = self.gpu.device();
        let compute = self.geometry.get(device, (plan.taps_x, plan.taps_y))?;
        let output = &self.output;
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| GpuError::Operation("no input buffer was allocated".into()))?;
        let uniforms = GeometryUniforms::new(&plan, &input.layout, &output.layout, &self.matrix);
        let queue = self.gpu.queue();
        checked(device, || {
            queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
            upload(queue, &input.buffer, &input.layout, frame);
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("geometry"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(compute);
                pass.set_bind_group(0, &input.bind_group, &[]);
                let (blocks_x, blocks_y) = output.layout.blocks();
                pass.dispatch_workgroups(
                    blocks_x.div_ceil(WORKGROUP_SIDE),
                    blocks_y.div_ceil(WORKGROUP_SIDE),
                    1,
                );
            }
            encoder.copy_buffer_to_buffer(
                &output.storage,
                0,
                &output.readback,
                0,
                output.layout.len as u64,
            );
            queue.submit([encoder.finish()]);
        })?;
        let mut frame_out = read_back(&self.gpu, &output.readback, &output.layout)?;
        frame_out.timestamp = frame.timestamp;
        Ok(frame_out)
    }
}

/// Copies the frame's planes into the input buffer's layout, row by row.
fn upload(queue: &wgpu::Queue, buffer: &wgpu::Buffer, layout: &InputLayout, frame: &I420Frame) {
    let Some(size) = wgpu::BufferSize::new(layout.len as u64) else {
        return;
    };
    let Some(mut view) = queue.write_buffer_with(buffer, 0, size) else {
        // wgpu has recorded a validation error; `checked` reports it.
        return;
    };
    let mut bytes = view.slice(..);
    let starts = [0, layout.u_offset, layout.v_offset];
    let strides = [
        layout.luma_stride,
        layout.chroma_stride,
        layout.chroma_stride,
    ];
    for (index, plane) in Plane::ALL.into_iter().enumerate() {
        let (_, rows) = frame.plane_size(plane);
        for y in 0..rows {
            let row = frame.row(plane, y);
            let at = (starts[index] + y * strides[index]) as usize;
            bytes.slice(at..at + row.len()).copy_from_slice(row);
        }
    }
}

/// Maps the readback buffer and turns it into a frame.
fn read_back(
    gpu: &GpuContext,
    readback: &wgpu::Buffer,
    layout: &OutputLayout,
) -> Result<I420Frame, PipelineError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    readback.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver lives until `recv` below returns.
        let _ = sender.send(result);
    });
    gpu.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Operation(format!("waiting for the GPU: {e}")))?;
    receiver
        .recv()
        .map_err(|_| GpuError::Operation("readback was never mapped".into()))?
        .map_err(|e| GpuError::Operation(format!("mapping the readback buffer: {e}")))?;
    let planes = {
        let view = readback
            .get_mapped_range(..)
            .map_err(|e| GpuError::Operation(format!("reading the readback buffer: {e}")))?;
        let (u, v) = (layout.u_offset as usize, layout.v_offset as usize);
        [
            view[..u].to_vec(),
            view[u..v].to_vec(),
            view[v..layout.len as usize].to_vec(),
        ]
    };
    readback.unmap();
    let luma = layout.luma_stride as usize;
    let chroma = layout.chroma_stride as usize;
    Ok(I420Frame::from_planes(
        layout.width,
        layout.height,
        planes,
        [luma, chroma, chroma],
        std::time::Duration::ZERO,
    )?)
}
