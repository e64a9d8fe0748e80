//! The finishing pass on the GPU (`shaders/finish.wgsl`): sharpness and the
//! colour filter over the packed I420 the geometry and smoothing passes
//! wrote, in one dispatch. The look-up table lives in a storage buffer,
//! uploaded when the table changes, not per frame.

use std::sync::Arc;

use super::finish::FinishWork;
use super::uniforms::{BlockRegion, OutputLayout};
use crate::color::ColorMatrix;
use crate::effects::{Lut, LUT_SIDE, SHARPEN_GAIN};
use crate::gpu::{
    buffer_entry, buffer_layout_entry, checked, compute_pipeline, one_group_pipeline_layout,
    uniform_buffer, wgsl_module, GpuError,
};

/// The WGSL of the finishing pass (after the shared effect maths).
pub const FINISH_SHADER: &str = concat!(
    include_str!("../../shaders/effects.wgsl"),
    include_str!("../../shaders/finish.wgsl")
);

/// The `Finish` uniform block of the shader.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FinishUniforms {
    layout: [u32; 4],
    offsets: [u32; 4],
    region: [u32; 4],
    sharpen_bounds: [f32; 4],
    amounts: [f32; 4],
}

/// Pipelines (one per need of sharpening and filtering) and buffers of the
/// finishing pass for one output size.
pub(super) struct Finisher {
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    /// Compiled on first use: (sharpen, filter) → pipeline.
    compiled: Vec<((bool, bool), wgpu::ComputePipeline)>,
    uniforms: wgpu::Buffer,
    /// The frame as the earlier passes left it (the pass reads
    /// neighbours while it writes).
    copy: wgpu::Buffer,
    lut: wgpu::Buffer,
    /// The table now in `lut`.
    uploaded: Option<Arc<Lut>>,
    bind_group: wgpu::BindGroup,
    output: OutputLayout,
}

impl Finisher {
    /// Compiles the shader and allocates the buffers; `output` is the
    /// packed I420 storage buffer, `effects` the effect-plan uniform
    /// buffer, `face_field` the frame's face field.
    pub(super) fn new(
        device: &wgpu::Device,
        layout: OutputLayout,
        output: &wgpu::Buffer,
        effects: &wgpu::Buffer,
        face_field: &wgpu::Buffer,
    ) -> Result<Self, GpuError> {
        checked(device, || {
            let module = wgsl_module(device, "finish.wgsl", FINISH_SHADER);
            let read = wgpu::BufferBindingType::Storage { read_only: true };
            let bind_group_layout =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("finish bindings"),
                    entries: &[
                        buffer_layout_entry(0, wgpu::BufferBindingType::Uniform),
                        buffer_layout_entry(
                            4,
                            wgpu::BufferBindingType::Storage { read_only: false },
                        ),
                        buffer_layout_entry(5, wgpu::BufferBindingType::Uniform),
                        buffer_layout_entry(6, read),
                        buffer_layout_entry(7, read),
                        super::face_field_layout_entry(),
                    ],
                });
            let pipeline_layout =
                one_group_pipeline_layout(device, "finish layout", &bind_group_layout);
            let buffer = |label, size: u64, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            };
            let uniforms = uniform_buffer(
                device,
                "finish uniforms",
                std::mem::size_of::<FinishUniforms>() as u64,
            );
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
            let copy = buffer("finish copy", u64::from(layout.len), storage);
            let lut = buffer(
                "filter table",
                u64::from(LUT_SIDE * LUT_SIDE * LUT_SIDE) * 4,
                storage,
            );

            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("finish bind group"),
                layout: &bind_group_layout,
                entries: &[
                    buffer_entry(0, &uniforms),
                    buffer_entry(4, output),
                    buffer_entry(5, effects),
                    buffer_entry(6, &copy),
                    buffer_entry(7, &lut),
                    buffer_entry(9, face_field),
                ],
            });
            Self {
                module,
                layout: pipeline_layout,
                compiled: Vec::new(),
                uniforms,
                copy,
                lut,
                uploaded: None,
                bind_group,
                output: layout,
            }
        })
    }

    /// The pipeline for `key` (sharpen, filter), compiled if new.
    fn prepare(&mut self, device: &wgpu::Device, key: (bool, bool)) -> Result<usize, GpuError> {
        if let Some(index) = self.compiled.iter().position(|(k, _)| *k == key) {
            return Ok(index);
        }
        let colors = ColorMatrix::bt601_video_range().shader_constants();
        let mut constants: Vec<(&str, f64)> = colors
            .iter()
            .map(|(name, value)| (name.as_str(), *value))
            .collect();
        constants.push(("SHARPEN", f64::from(u8::from(key.0))));
        constants.push(("FILTER", f64::from(u8::from(key.1))));
        let pipeline = checked(device, || {
            compute_pipeline(device, &self.layout, &self.module, "finish", &constants)
        })?;
        self.compiled.push((key, pipeline));
        Ok(self.compiled.len() - 1)
    }

    /// Writes the uniforms (and the table, if it changed) and records the
    /// pass: over the whole frame where it filters, else over the blocks
    /// around the sharpened rectangle. `output` is the packed frame.
    pub(super) fn encode(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        output: &wgpu::Buffer,
        work: &FinishWork,
    ) -> Result<(), GpuError> {
        let l = self.output;
        let region = match (&work.filter, work.sharpen) {
            (Some(_), _) => BlockRegion::all(&l),
            (None, Some((_, bounds))) => match BlockRegion::covering(bounds, &l) {
                Some(region) => region,
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        let key = (work.sharpen.is_some(), work.filter.is_some());
        let index = self.prepare(device, key)?;
        if let Some((lut, _)) = &work.filter {
            let current = self.uploaded.as_ref().is_some_and(|u| Arc::ptr_eq(u, lut));
            if !current {
                queue.write_buffer(&self.lut, 0, bytemuck::cast_slice(&lut.packed()));
                self.uploaded = Some(Arc::clone(lut));
            }
        }
        let (sharpness, bounds) = work.sharpen.unwrap_or((0.0, [0.0; 4]));
        let uniforms = FinishUniforms {
            layout: [l.width, l.height, l.luma_stride / 4, l.chroma_stride / 4],
            offsets: [l.u_offset / 4, l.v_offset / 4, 0, 0],
            region: [region.x0, region.y0, region.x1, region.y1],
            sharpen_bounds: bounds,
            amounts: [
                sharpness * SHARPEN_GAIN,
                work.filter.as_ref().map_or(0.0, |(_, s)| *s),
                0.0,
                0.0,
            ],
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        encoder.copy_buffer_to_buffer(output, 0, &self.copy, 0, u64::from(l.len));
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("finish"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.compiled[index].1);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let (x, y) = region.workgroups(super::WORKGROUP_SIDE);
        pass.dispatch_workgroups(x, y, 1);
        Ok(())
    }
}
