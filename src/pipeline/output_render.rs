//! The processed frame drawn into a caller's textures, with no readback
//! (`shaders/yuv420_to_target.wgsl`): a full-screen triangle per target
//! texture, reading the packed I420 output the passes left in the storage
//! buffer. Render pipelines are made per entry point and texture format on
//! first use, and kept.

use super::texture_frames::{rgb_format, TextureTarget};
use super::uniforms::OutputLayout;
use crate::gpu::{
    bind_group_in_order, checked, clear_pass, full_screen_pipeline, one_group_pipeline_layout,
    stage_buffer_entry, uniform_buffer, wgsl_module, GpuError,
};

/// The WGSL source of the drawing into the targets.
pub const TARGET_SHADER: &str = concat!(
    include_str!("../../shaders/yuv_to_rgb.wgsl"),
    include_str!("../../shaders/yuv420_to_target.wgsl")
);

/// The uniform block of `shaders/yuv420_to_target.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TargetUniforms {
    layout: [u32; 4],
    flags: [u32; 4],
}

/// The drawing pass's shader, layouts and compiled pipelines.
pub(super) struct TargetRenderer {
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    bind_group_layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    constants: Vec<(String, f64)>,
    pipelines: Vec<((&'static str, wgpu::TextureFormat), wgpu::RenderPipeline)>,
}

/// The (entry point, texture) draws a target needs.
fn draws<'a>(target: &TextureTarget<'a>) -> Vec<(&'static str, &'a wgpu::Texture)> {
    match *target {
        TextureTarget::Rgb(texture) => vec![("to_rgba", texture)],
        TextureTarget::I420 { y, u, v } => vec![("to_y", y), ("to_u", u), ("to_v", v)],
        TextureTarget::Nv12 { luma, chroma } => vec![("to_y", luma), ("to_uv", chroma)],
    }
}

impl TargetRenderer {
    /// Compiles the shader; the pipelines come with [`TargetRenderer::prepare`].
    pub(super) fn new(
        device: &wgpu::Device,
        color_constants: &[(String, f64)],
    ) -> Result<Self, GpuError> {
        checked(device, || {
            let module = wgsl_module(device, "yuv420_to_target.wgsl", TARGET_SHADER);
            let entry = |binding, ty| stage_buffer_entry(binding, wgpu::ShaderStages::FRAGMENT, ty);
            let bind_group_layout =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("target bindings"),
                    entries: &[
                        entry(0, wgpu::BufferBindingType::Uniform),
                        entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                    ],
                });
            let layout = one_group_pipeline_layout(device, "target layout", &bind_group_layout);
            let uniforms = uniform_buffer(
                device,
                "target uniforms",
                std::mem::size_of::<TargetUniforms>() as u64,
            );
            let constants = color_constants
                .iter()
                .filter(|(name, _)| {
                    name.starts_with("YUV_TO_RGB") || name.starts_with("YUV_OFFSET")
                })
                .cloned()
                .collect();
            Self {
                module,
                layout,
                bind_group_layout,
                uniforms,
                constants,
                pipelines: Vec::new(),
            }
        })
    }

    /// Compiles the pipelines `target` needs that are new.
    pub(super) fn prepare(
        &mut self,
        device: &wgpu::Device,
        target: &TextureTarget<'_>,
    ) -> Result<(), GpuError> {
        for (entry, texture) in draws(target) {
            let key = (entry, texture.format());
            if self.pipelines.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let constants: Vec<(&str, f64)> = self
                .constants
                .iter()
                .map(|(name, value)| (name.as_str(), *value))
                .collect();
            let pipeline = checked(device, || {
                full_screen_pipeline(
                    device,
                    entry,
                    &self.layout,
                    &self.module,
                    ("full_screen", entry),
                    &constants,
                    key.1,
                )
            })?;
            self.pipelines.push((key, pipeline));
        }
        Ok(())
    }

    /// Encodes the draws of the packed output `storage` (laid out as
    /// `layout`) into `target`, whose pipelines
    /// [`TargetRenderer::prepare`] made.
    pub(super) fn encode(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        storage: &wgpu::Buffer,
        layout: &OutputLayout,
        target: &TextureTarget<'_>,
    ) {
        let srgb = match target {
            TextureTarget::Rgb(texture) => rgb_format(texture.format()).unwrap_or(false),
            _ => false,
        };
        let uniforms = TargetUniforms {
            layout: [
                layout.luma_stride,
                layout.chroma_stride,
                layout.u_offset,
                layout.v_offset,
            ],
            flags: [u32::from(srgb), 0, 0, 0],
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let bind_group = bind_group_in_order(
            device,
            "target bind group",
            &self.bind_group_layout,
            [
                self.uniforms.as_entire_binding(),
                storage.as_entire_binding(),
            ],
        );
        for (entry, texture) in draws(target) {
            let key = (entry, texture.format());
            let Some((_, pipeline)) = self.pipelines.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            let view = texture.create_view(&Default::default());
            let mut pass = clear_pass(encoder, entry, &view);
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
    }
}
