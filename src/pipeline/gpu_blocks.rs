//! Which blocks the geometry shader redoes over the CPU's plain frame when
//! the frame's route splits the work ([`GpuBlocks`]): the tiles where the
//! face field moves or whitens pixels ([`effect_tiles`]), or the region the
//! smoothing passes read around the skin. [`super::route`] decides from
//! their [`Blocks`] facts which share the shader gets.

use super::route::Blocks;
use super::smoothing;
use super::uniforms::{BlockRegion, OutputLayout};
use super::WORKGROUP_SIDE;
use crate::effects::{union_of, EffectPlan, FaceField};

/// Blocks per side of a tile of a tiled dispatch (one workgroup).
const TILE: u32 = WORKGROUP_SIDE;

/// The blocks the geometry shader would redo over the CPU's plain frame,
/// for each share of the effects it may get (see [`Blocks`]).
#[derive(Debug, Default)]
pub(super) struct GpuBlocks {
    /// The tiles where the face field moves pixels (the warps alone).
    pub(super) warps: Vec<BlockRegion>,
    /// The tiles where it moves or whitens them (the warps and the
    /// whitening in the shader); none without whitening, or where the
    /// shader may not whiten.
    pub(super) warps_and_whitening: Vec<BlockRegion>,
    /// The region of every effect with the smoothing passes' reach around
    /// the skin; `None` without smoothing, or off the output.
    pub(super) around_skin: Option<BlockRegion>,
}

impl GpuBlocks {
    /// The blocks for `effects` (with their face field `field`) on an
    /// output laid out as `layout`; those with the whitening only where
    /// `shader_may_whiten` (a scan of the field the route would not use).
    pub(super) fn of(
        effects: &EffectPlan,
        field: Option<&FaceField>,
        layout: &OutputLayout,
        shader_may_whiten: bool,
    ) -> Self {
        let warp_rect = effects.has_warp().then(|| effects.warp_bounds());
        let mask_rect = effects.has_tone().then(|| effects.mask_bounds());
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
            let reach = grow(
                effects.mask_bounds(),
                smoothing::reach(smoothing::largest_radius(effects)),
            );
            let rect = union_of(warp_rect.into_iter().chain(mask_rect).chain([reach]));
            BlockRegion::covering(rect, layout)
        });
        Self {
            warps: tiles(false),
            warps_and_whitening: match effects.has_tone() && shader_may_whiten {
                true => tiles(true),
                false => Vec::new(),
            },
            around_skin: around_skin.flatten(),
        }
    }

    /// Whether each share has a block to redo.
    pub(super) fn facts(&self) -> Blocks {
        Blocks {
            warps: !self.warps.is_empty(),
            warps_and_whitening: !self.warps_and_whitening.is_empty(),
            around_skin: self.around_skin.is_some(),
        }
    }
}

/// The most tiles an output can have.
pub(super) fn effect_tile_capacity(layout: &OutputLayout) -> u32 {
    let (x, y) = layout.blocks();
    x.div_ceil(TILE) * y.div_ceil(TILE)
}

/// The tiles of `region` (`TILE`² blocks from its first block, clipped to
/// it) in which the face field is not all zero (its offsets; and its
/// region weight when `whitening`): the only blocks the effects change,
/// since the field is what moves and whitens pixels.
pub(super) fn effect_tiles(
    field: &FaceField,
    region: BlockRegion,
    whitening: bool,
) -> Vec<BlockRegion> {
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

/// `rect` grown by `by` on every side (an empty one stays empty).
fn grow(rect: [f32; 4], by: f32) -> [f32; 4] {
    [rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by]
}
