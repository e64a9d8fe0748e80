//! The geometry pass's uniform block and the output layout it describes,
//! computed once on the CPU and shared by the GPU pass and the reference.

use crate::effects::{EffectPlan, FaceField, FACE_FIELD_SPACING};
use crate::frame::chroma_size;
use crate::geometry::{GeometryPlan, OutputSize};

/// How the packed I420 output is laid out: luma rows padded to a multiple of
/// 8 pixels (one shader block), chroma rows to half that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLayout {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Bytes per luma row.
    pub luma_stride: u32,
    /// Bytes per chroma row.
    pub chroma_stride: u32,
    /// Byte offset of the U plane.
    pub u_offset: u32,
    /// Byte offset of the V plane.
    pub v_offset: u32,
    /// Total bytes.
    pub len: u32,
}

impl OutputLayout {
    /// The layout for an output size.
    pub fn new(size: OutputSize) -> Self {
        let (width, height) = (size.width(), size.height());
        let luma_stride = width.next_multiple_of(8);
        let chroma_stride = luma_stride / 2;
        let u_offset = luma_stride * height;
        let v_offset = u_offset + chroma_stride * height / 2;
        Self {
            width,
            height,
            luma_stride,
            chroma_stride,
            u_offset,
            v_offset,
            len: v_offset + chroma_stride * height / 2,
        }
    }

    /// Shader blocks (8×2 pixels) across and down.
    pub fn blocks(&self) -> (u32, u32) {
        (self.luma_stride / 8, self.height / 2)
    }
}

/// The uniform block of `shaders/geometry.wgsl`, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GeometryUniforms {
    map_x: [f32; 4],
    map_y: [f32; 4],
    taps_offset_step: [f32; 4],
    luma_bounds: [u32; 4],
    chroma_bounds: [u32; 4],
    input_texel: [f32; 4],
    output_layout: [u32; 4],
    output_offsets: [u32; 4],
    region: [u32; 4],
}

/// Where the taps of one output pixel sit relative to its mapped centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TapGrid {
    /// Offset of the first tap (x, y), input pixels.
    pub offset: [f32; 2],
    /// Step between taps (x, y), input pixels.
    pub step: [f32; 2],
    /// Taps across and down.
    pub count: [u32; 2],
}

impl TapGrid {
    /// Taps spread evenly over the pixel's footprint: `count` samples a
    /// `scale / count` apart, centred on the mapped position.
    pub fn for_plan(plan: &GeometryPlan) -> Self {
        let axis = |scale: f32, count: u32| {
            let step = scale / count as f32;
            (0.5 * step - 0.5 * scale, step)
        };
        let (ox, sx) = axis(plan.scale_x, plan.taps_x);
        let (oy, sy) = axis(plan.scale_y, plan.taps_y);
        Self {
            offset: [ox, oy],
            step: [sx, sy],
            count: [plan.taps_x, plan.taps_y],
        }
    }
}

/// Inclusive sampling bounds (x0, y0, x1, y1) of the crop in the luma and the
/// chroma planes.
pub fn crop_bounds(plan: &GeometryPlan) -> ([u32; 4], [u32; 4]) {
    let c = plan.crop;
    let luma = [c.x, c.y, c.x + c.width - 1, c.y + c.height - 1];
    let (cw, ch) = chroma_size(plan.input_width, plan.input_height);
    let chroma = [
        c.x / 2,
        c.y / 2,
        ((c.x + c.width).div_ceil(2) - 1).min(cw - 1),
        ((c.y + c.height).div_ceil(2) - 1).min(ch - 1),
    ];
    (luma, chroma)
}

impl GeometryUniforms {
    /// The uniforms for one frame.
    pub fn new(plan: &GeometryPlan, output: &OutputLayout) -> Self {
        let taps = TapGrid::for_plan(plan);
        let (luma_bounds, chroma_bounds) = crop_bounds(plan);
        let (blocks_x, blocks_y) = output.blocks();
        Self {
            map_x: [plan.map_x[0], plan.map_x[1], plan.map_x[2], 0.0],
            map_y: [plan.map_y[0], plan.map_y[1], plan.map_y[2], 0.0],
            taps_offset_step: [taps.offset[0], taps.offset[1], taps.step[0], taps.step[1]],
            luma_bounds,
            chroma_bounds,
            input_texel: {
                let (cw, ch) = chroma_size(plan.input_width, plan.input_height);
                [
                    1.0 / plan.input_width as f32,
                    1.0 / plan.input_height as f32,
                    1.0 / cw as f32,
                    1.0 / ch as f32,
                ]
            },
            output_layout: [
                output.width,
                output.height,
                output.luma_stride / 4,
                output.chroma_stride / 4,
            ],
            output_offsets: [output.u_offset / 4, output.v_offset / 4, blocks_x, 0],
            region: [0, 0, blocks_x, blocks_y],
        }
    }

    /// The same uniforms for a dispatch over `region` only: the first
    /// column and row of 8×2 output blocks, and the end (exclusive).
    pub fn with_region(mut self, region: BlockRegion) -> Self {
        self.region = [region.x0, region.y0, region.x1, region.y1];
        self
    }
}

/// A rectangle of the geometry pass's 8×2 output blocks: columns
/// `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRegion {
    /// First block column.
    pub x0: u32,
    /// First block row.
    pub y0: u32,
    /// End column (exclusive).
    pub x1: u32,
    /// End row (exclusive).
    pub y1: u32,
}

impl BlockRegion {
    /// The blocks that touch the pixel rectangle `[x0, y0, x1, y1]`, with
    /// one block of margin, within the output; `None` when nothing does
    /// (an empty or non-finite rectangle).
    pub fn covering(rect: [f32; 4], output: &OutputLayout) -> Option<Self> {
        if crate::effects::is_empty_rect(rect) {
            return None;
        }
        let (blocks_x, blocks_y) = output.blocks();
        let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        let x0 = clamp((rect[0] / 8.0).floor() - 1.0, blocks_x);
        let y0 = clamp((rect[1] / 2.0).floor() - 1.0, blocks_y);
        let x1 = clamp((rect[2] / 8.0).ceil() + 1.0, blocks_x);
        let y1 = clamp((rect[3] / 2.0).ceil() + 1.0, blocks_y);
        (x1 > x0 && y1 > y0).then_some(Self { x0, y0, x1, y1 })
    }

    /// The smallest region holding both.
    pub fn union(self, other: Self) -> Self {
        Self {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    /// The whole output.
    pub fn all(output: &OutputLayout) -> Self {
        let (x1, y1) = output.blocks();
        Self {
            x0: 0,
            y0: 0,
            x1,
            y1,
        }
    }

    /// The parts of `self` outside `inner` (which lies within it): the
    /// bands above and below, and left and right of it; empty ones left
    /// out.
    pub fn around(&self, inner: Self) -> Vec<Self> {
        let bands = [
            Self {
                y1: inner.y0,
                ..*self
            },
            Self {
                y0: inner.y1,
                ..*self
            },
            Self {
                x1: inner.x0,
                y0: inner.y0,
                y1: inner.y1,
                ..*self
            },
            Self {
                x0: inner.x1,
                y0: inner.y0,
                y1: inner.y1,
                ..*self
            },
        ];
        bands
            .into_iter()
            .filter(|band| band.x1 > band.x0 && band.y1 > band.y0)
            .collect()
    }

    /// Workgroups of `side × side` invocations that cover it.
    pub fn workgroups(&self, side: u32) -> (u32, u32) {
        (
            (self.x1 - self.x0).div_ceil(side),
            (self.y1 - self.y0).div_ceil(side),
        )
    }
}

/// The `Effects` uniform block of `shaders/effects.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EffectUniforms {
    strengths: [f32; 4],
    warp_bounds: [f32; 4],
    mask_bounds: [f32; 4],
    field: [u32; 4],
}

impl EffectUniforms {
    /// The uniforms for a frame's effect plan and its face field's grid.
    pub fn new(plan: &EffectPlan, field: &FaceField) -> Self {
        Self {
            strengths: [plan.whiteness, plan.smoothness, plan.ruddiness, 0.0],
            warp_bounds: plan.warp_bounds(),
            mask_bounds: plan.mask_bounds(),
            field: [field.columns, field.rows, FACE_FIELD_SPACING, 0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bands_around_a_region_cover_the_rest_once() {
        let whole = BlockRegion {
            x0: 0,
            y0: 0,
            x1: 90,
            y1: 640,
        };
        let inner = BlockRegion {
            x0: 10,
            y0: 100,
            x1: 60,
            y1: 400,
        };
        let bands = whole.around(inner);
        assert_eq!(bands.len(), 4);
        let area = |r: &BlockRegion| u64::from(r.x1 - r.x0) * u64::from(r.y1 - r.y0);
        let total: u64 = bands.iter().map(area).sum::<u64>() + area(&inner);
        assert_eq!(total, area(&whole));
        // A region touching the left and top edges leaves two bands.
        let corner = BlockRegion {
            x0: 0,
            y0: 0,
            ..inner
        };
        assert_eq!(whole.around(corner).len(), 2);
        assert!(whole.around(whole).is_empty());
    }
}
