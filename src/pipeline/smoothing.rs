//! The skin-smoothing passes (`shaders/smoothing.wgsl`): a frequency
//! separation of the packed output's luma, blended by the skin mask and
//! the strength.
//!
//! The picture splits into a base (the means of 4×4 blocks, bilinear up)
//! and fine detail (the picture less its base: pores and grain, 1–2 px,
//! up to about 4 px). The base goes through a fast guided filter at a
//! quarter of the resolution, with a window scaled to each face (every
//! low-res pixel takes that of the face it belongs to, [`radius_at`]), so
//! a close face and a far one each lose their own blotches and uneven
//! tone, and edges (eyes, brows, lips, the outline) stay; the detail comes
//! back at [`DETAIL`] of itself on flat skin and whole at edges. In the guided filter's terms,
//! with `A`, `B` its box-averaged coefficients and `m` the block mean:
//! `q = B + A m + g (I − m)`, `g = A + (1 − A) DETAIL`, which the passes
//! keep as one gain and offset per low-res pixel, `q = g I + (B + (A − g) m)`.

use super::uniforms::OutputLayout;
pub use crate::effects::smoothing_window::{
    face_radius, largest_radius, low_res_centre, radius_at, radius_for_width, reach, BLOCK,
    FACE_WINDOWS, MAX_RADIUS, MIN_RADIUS,
};
use crate::gpu::{
    buffer_entry, buffer_layout_entry, checked, compute_pipelines, one_group_pipeline_layout,
    uniform_buffer, wgsl_module, GpuError,
};

/// Regulariser of the guided filter, in normalised luma squared: local
/// variations well under `sqrt(EPS)` ≈ 32 levels are smoothed away, edges
/// well over it are kept. Chosen on the test portrait at a 720p face size
/// (`tests/effects_quality.rs`): at 0.008 the cheeks' uneven tone counted
/// as edges and kept over 40 % of its 4–16 px energy; at 0.016 about a
/// third. The eye and brow discs and the mouth are out of the skin mask.
pub const EPS: f32 = 0.016;
/// The share of the fine detail (the picture less its block means) kept
/// on flat skin at strength 1 (edges keep all of it). Chosen on the same
/// picture: the cheeks keep about 70 % of their 1–2 px energy, so skin
/// keeps its grain instead of turning plastic.
pub const DETAIL: f32 = 0.7;

/// The WGSL of the smoothing passes (after the shared effect maths).
pub const SMOOTHING_SHADER: &str = concat!(
    include_str!("../../shaders/effects.wgsl"),
    include_str!("../../shaders/smoothing.wgsl")
);

/// The `Smoothing` uniform block of the shader.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SmoothingUniforms {
    sizes: [u32; 4],
    words: [u32; 4],
    params: [f32; 4],
    region: [u32; 4],
    cells: [u32; 4],
}

/// Size of the low-res grid for an output size.
pub fn low_res_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(BLOCK), height.div_ceil(BLOCK))
}

/// Pipelines and buffers of the smoothing passes for one output size.
pub struct Smoother {
    passes: [wgpu::ComputePipeline; 4],
    uniforms: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    low_res: (u32, u32),
    layout: OutputLayout,
}

const ENTRY_POINTS: [&str; 4] = [
    "smooth_stats",
    "smooth_coefficients",
    "smooth_mean_coefficients",
    "smooth_apply",
];

impl Smoother {
    /// Compiles the passes and allocates their buffers; `output` is the
    /// packed I420 storage buffer the geometry pass writes, `effects` the
    /// effect-plan uniform buffer, `face_field` the frame's face field.
    pub fn new(
        device: &wgpu::Device,
        layout: OutputLayout,
        output: &wgpu::Buffer,
        effects: &wgpu::Buffer,
        face_field: &wgpu::Buffer,
    ) -> Result<Self, GpuError> {
        let low_res = low_res_size(layout.width, layout.height);
        checked(device, || {
            let module = wgsl_module(device, "smoothing.wgsl", SMOOTHING_SHADER);
            let storage = wgpu::BufferBindingType::Storage { read_only: false };
            let bind_group_layout =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("smoothing bindings"),
                    entries: &[
                        buffer_layout_entry(0, wgpu::BufferBindingType::Uniform),
                        buffer_layout_entry(4, storage),
                        buffer_layout_entry(5, wgpu::BufferBindingType::Uniform),
                        buffer_layout_entry(6, storage),
                        super::face_field_layout_entry(),
                    ],
                });
            let pipeline_layout =
                one_group_pipeline_layout(device, "smoothing layout", &bind_group_layout);
            let passes = compute_pipelines(device, &pipeline_layout, &module, ENTRY_POINTS);
            let uniforms = uniform_buffer(
                device,
                "smoothing uniforms",
                std::mem::size_of::<SmoothingUniforms>() as u64,
            );
            // Statistics, coefficients and their means, one after another.
            let fields = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("smoothing fields"),
                size: 3 * (low_res.0 * low_res.1) as u64 * 8,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("smoothing bind group"),
                layout: &bind_group_layout,
                entries: &[
                    buffer_entry(0, &uniforms),
                    buffer_entry(4, output),
                    buffer_entry(5, effects),
                    buffer_entry(6, &fields),
                    wgpu::BindGroupEntry {
                        binding: 9,
                        resource: face_field.as_entire_binding(),
                    },
                ],
            });
            Self {
                passes,
                uniforms,
                bind_group,
                low_res,
                layout,
            }
        })
    }

    /// Writes the uniforms and records the four passes over the skin
    /// mask's bounds `mask` (output pixels), reading `radius`
    /// ([`largest_radius`]) low-res pixels around them; each low-res pixel
    /// takes its own box radius from the face field (never over `radius`).
    /// Nothing when the bounds are empty.
    pub fn encode(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        strength: f32,
        radius: u32,
        mask: [f32; 4],
    ) {
        let l = &self.layout;
        let Some((region, cells)) = self.regions(mask, radius) else {
            return;
        };
        let uniforms = SmoothingUniforms {
            sizes: [self.low_res.0, self.low_res.1, l.width, l.height],
            words: [
                l.luma_stride / 4,
                l.chroma_stride / 4,
                l.u_offset / 4,
                l.v_offset / 4,
            ],
            params: [EPS, strength, radius as f32, DETAIL],
            region,
            cells,
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("smoothing"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &self.bind_group, &[]);
        let low = (
            (cells[2] - cells[0]).div_ceil(8),
            (cells[3] - cells[1]).div_ceil(8),
        );
        for pipeline in &self.passes[..3] {
            pass.set_pipeline(pipeline);
            pass.dispatch_workgroups(low.0, low.1, 1);
        }
        pass.set_pipeline(&self.passes[3]);
        pass.dispatch_workgroups(
            (region[2] - region[0]).div_ceil(8),
            (region[3] - region[1]).div_ceil(8),
            1,
        );
    }

    /// The apply pass's words and rows inside `mask`, and the low-res cells
    /// the apply reads through the bilinear (one cell each way) and the two
    /// box means (`radius` each): `[x0, y0, x1, y1]`, ends exclusive.
    fn regions(&self, mask: [f32; 4], radius: u32) -> Option<([u32; 4], [u32; 4])> {
        if crate::effects::is_empty_rect(mask) {
            return None;
        }
        let l = &self.layout;
        let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        let words = l.luma_stride / 4;
        let region = [
            clamp((mask[0] / 4.0).floor(), words),
            clamp(mask[1].floor(), l.height),
            clamp((mask[2] / 4.0).ceil() + 1.0, words),
            clamp(mask[3].ceil() + 1.0, l.height),
        ];
        if region[2] <= region[0] || region[3] <= region[1] {
            return None;
        }
        let reach = (1 + 2 * radius) as f32;
        let block = BLOCK as f32;
        let cells = [
            clamp(
                (region[0] as f32 * 4.0 / block).floor() - reach,
                self.low_res.0,
            ),
            clamp((region[1] as f32 / block).floor() - reach, self.low_res.1),
            clamp(
                (region[2] as f32 * 4.0 / block).ceil() + reach,
                self.low_res.0,
            ),
            clamp((region[3] as f32 / block).ceil() + reach, self.low_res.1),
        ];
        Some((region, cells))
    }
}
