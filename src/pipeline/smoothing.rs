//! The skin-smoothing passes (`shaders/smoothing.wgsl`): a frequency
//! separation of the packed output's luma, blended by the skin mask and
//! the strength.
//!
//! The picture splits into a base (the means of 4×4 blocks, bilinear up)
//! and fine detail (the picture less its base: pores and grain, 1–2 px,
//! up to about 4 px). The base goes through a fast guided filter at a
//! quarter of the resolution, with a window scaled to the face
//! ([`radius_for`]), so blotches and uneven tone go and edges (eyes,
//! brows, lips, the outline) stay; the detail comes back at [`DETAIL`] of
//! itself on flat skin and whole at edges. In the guided filter's terms,
//! with `A`, `B` its box-averaged coefficients and `m` the block mean:
//! `q = B + A m + g (I − m)`, `g = A + (1 − A) DETAIL`, which the passes
//! keep as one gain and offset per low-res pixel, `q = g I + (B + (A − g) m)`.

use super::uniforms::OutputLayout;
use crate::effects::EffectPlan;
use crate::gpu::{
    buffer_entry, buffer_layout_entry, checked, compute_pipelines, one_group_pipeline_layout,
    uniform_buffer, wgsl_module, GpuError,
};

/// Output pixels per low-res pixel, each way (`BLOCK` in the shader).
pub const BLOCK: u32 = 4;
/// Skin-ellipse widths (1.2 face widths) per smoothing window: the window
/// is a twelfth of the ellipse, a tenth of the face. At 720p a face some
/// 200 px wide gets a 20 px window, which takes blotches of 4–16 px.
pub const FACE_WINDOWS: f32 = 12.0;
/// The smallest and largest box radius, in low-res pixels (3 to 13 of
/// them across: 12 to 52 output pixels).
pub const MIN_RADIUS: u32 = 1;
/// See [`MIN_RADIUS`].
pub const MAX_RADIUS: u32 = 6;
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

/// Box radius of the guided filter, in low-res pixels, for a face whose
/// skin ellipse is `ellipse_width` output pixels across: the window
/// (`2 radius + 1` blocks) nearest `ellipse_width / FACE_WINDOWS`, within
/// [`MIN_RADIUS`]..=[`MAX_RADIUS`].
pub fn radius_for_width(ellipse_width: f32) -> u32 {
    let blocks = ellipse_width / FACE_WINDOWS / BLOCK as f32;
    let radius = ((blocks - 1.0) / 2.0).round();
    if radius.is_nan() {
        return MIN_RADIUS;
    }
    (radius.max(0.0) as u32).clamp(MIN_RADIUS, MAX_RADIUS)
}

/// Box radius of the guided filter for a frame's plan: that of its widest
/// face (one window for the frame; faces in a shot are of a size).
pub fn radius_for(plan: &EffectPlan) -> u32 {
    let widest = plan
        .faces
        .iter()
        .map(|face| 2.0 * face.half_axes[0])
        .fold(0.0f32, f32::max);
    radius_for_width(widest)
}

/// Output pixels around the skin mask's bounds that the passes read with
/// box radius `radius`: the bilinear's cell, the two box means, a margin.
pub fn reach(radius: u32) -> f32 {
    ((1 + 2 * radius + 1) * BLOCK) as f32
}

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
    /// mask's bounds `mask` (output pixels) with box radius `radius`
    /// ([`radius_for`]); nothing when the bounds are empty.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_with_the_face_within_its_bounds() {
        // The test portrait's face (81 px, ellipse 97 px): the old 3×3 box.
        assert_eq!(radius_for_width(97.2), 1);
        // A 720p face of 200 px (ellipse 240 px): 5 blocks, 20 px.
        assert_eq!(radius_for_width(240.0), 2);
        assert_eq!(radius_for_width(0.0), MIN_RADIUS);
        assert_eq!(radius_for_width(f32::NAN), MIN_RADIUS);
        assert_eq!(radius_for_width(1e6), MAX_RADIUS);
        let widths = [50.0, 100.0, 200.0, 400.0, 800.0];
        let radii = widths.map(radius_for_width);
        assert!(radii.windows(2).all(|r| r[0] <= r[1]), "{radii:?}");
    }

    #[test]
    fn an_empty_plan_gets_the_smallest_window() {
        assert_eq!(radius_for(&EffectPlan::default()), MIN_RADIUS);
    }
}
