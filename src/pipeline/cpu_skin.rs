//! The skin effects on the CPU: whitening and ruddiness (the geometry
//! shader's, on the frame as it stands) and smoothing (the smoothing passes of
//! `shaders/smoothing.wgsl`: a frequency separation whose base goes through a
//! fast guided filter at a quarter of the resolution, blended by the skin
//! mask and the strength), in `f32` as
//! in the shaders, one output row at a time, on two threads.
//!
//! On a software Vulkan driver (lavapipe) every invocation of a dispatched
//! region pays for every pixel of the mask's bounds and every branch it
//! could have skipped; here the face field's region weight is interpolated
//! down once per row and a pixel outside the skin region costs a compare.
//! [`super::FramePipeline`] does the skin effects here when the adapter is
//! a CPU, after laying the GPU's warped blocks over the CPU's plain frame;
//! a real GPU keeps the shaders. Whitening a frame's bytes instead of the
//! shader's unrounded samples moves a pixel by at most one more level.
//! Both agree with the reference within its tolerance
//! (`tests/effects_quality.rs`).

use super::rows::in_two_halves;
use super::smoothing::{largest_radius, low_res_size, BLOCK, DETAIL, EPS, MAX_RADIUS};
use crate::effects::{
    is_empty_rect, ruddy_depth, skin_chroma_weight, skin_luma_weight, whiten_lift, EffectPlan,
    FaceField, FACE_FIELD_SPACING, RUDDY_SHIFT,
};
use crate::frame::{I420Frame, Plane};

/// What the CPU does to a frame's skin: from an [`EffectPlan`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SkinWork {
    /// Whitening strength, if it whitens.
    whitening: Option<f32>,
    /// Ruddiness strength, if it reddens.
    ruddiness: Option<f32>,
    /// Smoothing strength and the largest box radius ([`largest_radius`]:
    /// the margin the box means read), if it smooths.
    smoothing: Option<(f32, u32)>,
    /// The rectangles outside which the face field reads as zero: the
    /// warps' and the skin mask's (`face_in` in the shaders).
    warp_bounds: [f32; 4],
    mask_bounds: [f32; 4],
}

impl SkinWork {
    /// The skin effects of `plan`; `None` when it has none.
    pub(crate) fn for_plan(plan: &EffectPlan) -> Option<Self> {
        let work = Self {
            whitening: plan.has_whitening().then_some(plan.whiteness),
            ruddiness: plan.has_ruddiness().then_some(plan.ruddiness),
            smoothing: plan
                .has_smoothing()
                .then(|| (plan.smoothness, largest_radius(plan))),
            warp_bounds: plan.warp_bounds(),
            mask_bounds: plan.mask_bounds(),
        };
        (work.whitening.is_some() || work.ruddiness.is_some() || work.smoothing.is_some())
            .then_some(work)
    }
}

/// The smoothing's low-res fields, kept from frame to frame.
#[derive(Debug, Default)]
pub(crate) struct CpuSkin {
    /// Block means of I and I² (I = luma / 255).
    stats: Vec<[f32; 2]>,
    /// The guided filter's coefficients (a, b).
    coefficients: Vec<[f32; 2]>,
    /// The detail gain and offset (g, c) from their box means.
    means: Vec<[f32; 2]>,
    /// Row sums of the box means (see [`box_means`]).
    row_sums: Vec<[f32; 2]>,
}

impl CpuSkin {
    /// Whitens and reddens, then smooths, the skin of `frame` as `work`
    /// says, with the frame's face field `field`.
    pub(crate) fn apply(&mut self, frame: &mut I420Frame, field: &FaceField, work: &SkinWork) {
        if work.whitening.is_some() || work.ruddiness.is_some() {
            tone(frame, field, work);
        }
        if let Some((strength, radius)) = work.smoothing {
            self.smooth(frame, field, work.mask_bounds, strength, radius);
        }
    }

    /// Smooths the skin of `frame` inside the mask's bounds `mask` (output
    /// pixels) with `strength`, each low-res pixel with the box radius
    /// `field` gives it (its face's, at most `radius`, which sizes the
    /// margins): block statistics, coefficients and the gains and offsets
    /// on the low-res grid around the bounds, then the blend where the
    /// skin weight (`field`'s region weight × the skin colour) is not zero.
    fn smooth(
        &mut self,
        frame: &mut I420Frame,
        field: &FaceField,
        mask: [f32; 4],
        strength: f32,
        radius: u32,
    ) {
        let (w, h) = (frame.width(), frame.height());
        let Some(span) = pixel_span(mask, w, h) else {
            return;
        };
        let (lw, lh) = low_res_size(w, h);
        // The low-res position of an output pixel's centre, clamped to the
        // grid (`coefficients_at` in the reference).
        let low_res =
            |v: u32, last: u32| ((v as f32 + 0.5) / BLOCK as f32 - 0.5).clamp(0.0, last as f32);
        // The cells the blend's bilinear reads, then those the two box
        // means read around them.
        let blend_cells = [
            low_res(span[0], lw - 1) as u32,
            low_res(span[1], lh - 1) as u32,
            (low_res(span[2] - 1, lw - 1) as u32 + 2).min(lw),
            (low_res(span[3] - 1, lh - 1) as u32 + 2).min(lh),
        ];
        let grown = |by: u32| {
            [
                blend_cells[0].saturating_sub(by),
                blend_cells[1].saturating_sub(by),
                (blend_cells[2] + by).min(lw),
                (blend_cells[3] + by).min(lh),
            ]
        };
        let cells = (lw * lh) as usize;
        for field in [&mut self.stats, &mut self.coefficients, &mut self.means] {
            field.resize(cells, [0.0; 2]);
        }
        block_statistics(
            frame.plane(Plane::Y),
            frame.stride(Plane::Y),
            (w, h),
            lw,
            grown(2 * radius),
            &mut self.stats,
        );
        let grid_size = (lw, lh);
        let radius_of = |lx: u32, ly: u32| field.smoothing_radius(lx, ly).min(radius);
        let coefficients = &mut self.coefficients;
        box_means(
            &self.stats,
            grid_size,
            radius_of,
            grown(radius),
            &mut self.row_sums,
            |at, m| {
                let variance = (m[1] - m[0] * m[0]).max(0.0);
                let a = variance / (variance + EPS);
                coefficients[at] = [a, m[0] * (1.0 - a)];
            },
        );
        let (stats, means) = (&self.stats, &mut self.means);
        box_means(
            &self.coefficients,
            grid_size,
            radius_of,
            blend_cells,
            &mut self.row_sums,
            |at, [a, b]| {
                let g = a + (1.0 - a) * DETAIL;
                means[at] = [g, b + (a - g) * stats[at][0]];
            },
        );
        let grid = Grid::new(field);
        let columns = grid.cell_column(span[0])..grid.cell_column(span[2] - 1) + 2;
        // What depends on the column only, once: the face-field cell and
        // where the pixel lies across it; the low-res column and weight of
        // the coefficients' bilinear.
        let across: Vec<Across> = (0..span[2])
            .map(|x| {
                let cell = grid.cell_column(x);
                let px = low_res(x, lw - 1);
                let low = px as u32;
                Across {
                    cell: cell - columns.start.min(cell),
                    t: grid.across_in(x as f32 + 0.5, cell),
                    low: low as usize,
                    next: (low + 1).min(lw - 1) as usize,
                    low_t: px - low as f32,
                }
            })
            .collect();
        // The skin colour's luma term of each byte value.
        let luma_weights: [f32; 256] =
            std::array::from_fn(|v| skin_luma_weight(v as f32 / 255.0) * strength);
        let means = &self.means;
        let rows = (span[1] & !1)..((span[3] + 1).min(h) & !1);
        in_two_halves(frame, rows, |rows, range| {
            let mut weights = Vec::with_capacity(columns.len());
            let mut means_row = Vec::with_capacity(lw as usize);
            for y in range {
                let v = y as f32 + 0.5;
                // Pixels whose centres lie in the mask's bounds on this row.
                if v < mask[1] || v > mask[3] {
                    continue;
                }
                let first = (mask[0] - 0.5).ceil().max(span[0] as f32) as u32;
                let end = ((mask[2] - 0.5).floor() + 1.0).min(span[2] as f32);
                if end <= first as f32 {
                    continue;
                }
                let end = end as u32;
                // The region weight and the coefficients, interpolated down.
                grid.region_row(grid.cell_row(y), v, columns.clone(), &mut weights);
                let py = low_res(y, lh - 1);
                let ly0 = py as u32;
                let (ly1, ty) = ((ly0 + 1).min(lh - 1), py - ly0 as f32);
                means_row.clear();
                means_row.extend((0..lw).map(|lx| {
                    let (a, b) = (
                        means[(ly0 * lw + lx) as usize],
                        means[(ly1 * lw + lx) as usize],
                    );
                    [a[0] + (b[0] - a[0]) * ty, a[1] + (b[1] - a[1]) * ty]
                }));
                // The chroma term of the last chroma sample computed.
                let mut chroma = (usize::MAX, 0.0);
                for x in first..end {
                    let column = &across[x as usize];
                    let (a, b) = (weights[column.cell], weights[column.cell + 1]);
                    let weight = a + (b - a) * column.t;
                    if weight <= 0.0 {
                        continue;
                    }
                    let chroma_at = rows.chroma_at(x, y);
                    if chroma.0 != chroma_at {
                        chroma = (
                            chroma_at,
                            skin_chroma_weight(
                                f32::from(rows.u[chroma_at]) / 255.0,
                                f32::from(rows.v[chroma_at]) / 255.0,
                            ),
                        );
                    }
                    let at = rows.luma_at(x, y);
                    let byte = rows.luma[at];
                    let amount = weight * chroma.1 * luma_weights[usize::from(byte)];
                    if amount > 0.0 {
                        let value = f32::from(byte) / 255.0;
                        let (left, right) = (means_row[column.low], means_row[column.next]);
                        let t = column.low_t;
                        let q = (left[0] + (right[0] - left[0]) * t) * value
                            + (left[1] + (right[1] - left[1]) * t);
                        rows.luma[at] = to_byte(value + (q - value) * amount);
                    }
                }
            }
        });
    }
}

/// What the blend needs of an output column: its face-field cell (from
/// the first column of the row's weights), where it lies across it, and
/// the low-res columns and weight of the coefficients' bilinear.
struct Across {
    cell: usize,
    t: f32,
    low: usize,
    next: usize,
    low_t: f32,
}

/// Whitening and ruddiness (`whiten` and `redden` in the geometry shader)
/// over the 2×2 blocks of the skin mask's bounds: per pixel, the skin
/// weight (the face field's region weight × the block's chroma term × the
/// pixel's luma term) × the whitening strength lifts luma along the
/// whitening curve; the block's chroma offsets from grey grow by its
/// pixels' mean whitening chroma gain (`whiten_lift`) × amount, then move
/// by the ruddiness shift × their mean skin weight × the ruddiness
/// strength.
fn tone(frame: &mut I420Frame, field: &FaceField, work: &SkinWork) {
    let whiteness = work.whitening.unwrap_or(0.0);
    let ruddiness = work.ruddiness.unwrap_or(0.0);
    let (w, h) = (frame.width(), frame.height());
    let Some(span) = pixel_span(work.mask_bounds, w, h) else {
        return;
    };
    let (x0, x1) = (span[0] & !1, (span[2] + 1).min(w) & !1);
    let grid = Grid::new(field);
    let columns = grid.cell_column(x0)..grid.cell_column(x1.max(x0 + 1) - 1) + 2;
    // Per luma byte: its skin term × each strength, and the whitening's
    // lift of it at full amount (normalised).
    let luma_weights: [f32; 256] =
        std::array::from_fn(|v| skin_luma_weight(v as f32 / 255.0) * whiteness);
    let rosy_weights: [f32; 256] = std::array::from_fn(|v| {
        let y = v as f32 / 255.0;
        skin_luma_weight(y) * ruddy_depth(y) * ruddiness
    });
    let shift = RUDDY_SHIFT.map(|levels| levels / 255.0);
    // And the gain of the chroma offsets less one at full amount.
    let lifts: [(f32, f32); 256] = std::array::from_fn(|v| whiten_lift(v as f32 / 255.0));
    let grey = 128.0 / 255.0;
    // Per output column: its cell (from the first column of the row's
    // weights) and where it lies across it.
    let across: Vec<(usize, f32)> = (0..x1)
        .map(|x| {
            let cell = grid.cell_column(x);
            (
                cell.saturating_sub(columns.start),
                grid.across_in(x as f32 + 0.5, cell),
            )
        })
        .collect();
    let rows = (span[1] & !1)..((span[3] + 1).min(h) & !1);
    in_two_halves(frame, rows, |rows, range| {
        let mut weights = [Vec::new(), Vec::new()];
        for y in range.step_by(2) {
            let down = [y as f32 + 0.5, y as f32 + 1.5];
            let spans = down.map(|v| {
                (
                    span_across(work.warp_bounds, v),
                    span_across(work.mask_bounds, v),
                )
            });
            if spans.iter().all(|(_, mask)| mask.0 > mask.1) {
                continue;
            }
            // The block row's cell row, the region weight down at its two
            // pixel rows.
            let j = grid.cell_row(y);
            for (row, v) in weights.iter_mut().zip(down) {
                grid.region_row(j, v, columns.clone(), row);
            }
            for x in (x0..x1).step_by(2) {
                let c0 = across[x as usize].0;
                let c1 = c0 + 1;
                if weights.iter().all(|row| row[c0] <= 0.0 && row[c1] <= 0.0) {
                    continue;
                }
                let chroma_at = rows.chroma_at(x, y);
                let uv = [rows.u[chroma_at], rows.v[chroma_at]].map(|c| f32::from(c) / 255.0);
                let chroma = skin_chroma_weight(uv[0], uv[1]);
                if chroma <= 0.0 {
                    continue;
                }
                let (mut gains, mut rosy) = (0.0, 0.0);
                for (r, row) in weights.iter().enumerate() {
                    let (warp, mask) = spans[r];
                    for k in 0..2 {
                        let u = (x + k) as f32 + 0.5;
                        let inside = (u >= warp.0 && u <= warp.1) || (u >= mask.0 && u <= mask.1);
                        if !inside {
                            continue;
                        }
                        let region = row[c0] + (row[c1] - row[c0]) * across[(x + k) as usize].1;
                        if region <= 0.0 {
                            continue;
                        }
                        let at = rows.luma_at(x + k, y + r as u32);
                        let byte = rows.luma[at];
                        let amount = region * chroma * luma_weights[usize::from(byte)];
                        if amount > 0.0 {
                            let (lift, chroma_gain) = lifts[usize::from(byte)];
                            let value = f32::from(byte) / 255.0 + lift * amount;
                            rows.luma[at] = to_byte(value);
                            gains += chroma_gain * amount;
                        }
                        // Ruddiness keeps luma: only its chroma amount.
                        rosy += region * chroma * rosy_weights[usize::from(byte)];
                    }
                }
                // The chroma offsets from grey scaled by the pixels' mean
                // whitening gain, then moved along the ruddiness shift by
                // the mean rosy amount.
                let gain = gains * 0.25;
                let rosy = rosy * 0.25;
                rows.u[chroma_at] = to_byte(uv[0] + (uv[0] - grey) * gain + shift[0] * rosy);
                rows.v[chroma_at] = to_byte(uv[1] + (uv[1] - grey) * gain + shift[1] * rosy);
            }
        }
    });
}

/// The span `(from, to)` of `rect` across the row at `v`; `(∞, −∞)` when
/// the row misses it.
pub(super) fn span_across(rect: [f32; 4], v: f32) -> (f32, f32) {
    if v >= rect[1] && v <= rect[3] {
        (rect[0], rect[2])
    } else {
        (f32::INFINITY, f32::NEG_INFINITY)
    }
}

/// Normalised `value` (0..1) to a byte, rounded.
fn to_byte(value: f32) -> u8 {
    // Saturating: NaN goes to 0.
    (value * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// The output pixels `[x0, y0, x1, y1]` (ends exclusive) whose centres may
/// lie in `rect`, with one pixel of margin; `None` when there are none.
fn pixel_span(rect: [f32; 4], width: u32, height: u32) -> Option<[u32; 4]> {
    if is_empty_rect(rect) {
        return None;
    }
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let span = [
        clamp(rect[0].floor() - 1.0, width),
        clamp(rect[1].floor() - 1.0, height),
        clamp(rect[2].ceil() + 1.0, width),
        clamp(rect[3].ceil() + 1.0, height),
    ];
    (span[2] > span[0] && span[3] > span[1]).then_some(span)
}

/// The face field's grid and how output pixels fall into its cells
/// (`face_grid`, `face_cell` and `face_in` in the shaders).
pub(super) struct Grid<'a> {
    field: &'a FaceField,
    /// The last grid column and row.
    last: [u32; 2],
}

impl<'a> Grid<'a> {
    pub(super) fn new(field: &'a FaceField) -> Self {
        Self {
            field,
            last: [field.columns - 1, field.rows - 1],
        }
    }

    /// The cell column of output column `x` (that of the 2×2 block's or
    /// the luma word's centre, as in the shaders: the same, since cells
    /// are 4 pixels wide and blocks and words start on even columns).
    pub(super) fn cell_column(&self, x: u32) -> usize {
        (x / FACE_FIELD_SPACING).min(self.last[0].saturating_sub(1)) as usize
    }

    /// The cell row of output row `y` (likewise).
    pub(super) fn cell_row(&self, y: u32) -> u32 {
        (y / FACE_FIELD_SPACING).min(self.last[1].saturating_sub(1))
    }

    /// Where `u` lies across cell column `i`, 0..1 (clamped as `face_in`
    /// clamps).
    pub(super) fn across_in(&self, u: f32, i: usize) -> f32 {
        ((u / SPACING).min(self.last[0] as f32) - i as f32).clamp(0.0, 1.0)
    }

    /// The region weight interpolated down cell row `j` to the row at `v`,
    /// for the grid columns `columns`.
    pub(super) fn region_row(
        &self,
        j: u32,
        v: f32,
        columns: std::ops::Range<usize>,
        out: &mut Vec<f32>,
    ) {
        let columns = columns.start..columns.end.min(self.field.columns as usize);
        let next = (j + 1).min(self.last[1]);
        let above = &self.field.points[(j * self.field.columns) as usize..][columns.clone()];
        let below = &self.field.points[(next * self.field.columns) as usize..][columns];
        let t = ((v / SPACING).min(self.last[1] as f32) - j as f32).clamp(0.0, 1.0);
        out.clear();
        out.extend(
            above
                .iter()
                .zip(below)
                .map(|(a, b)| a[2] + (b[2] - a[2]) * t),
        );
    }
}

/// Output pixels between face-field points.
const SPACING: f32 = FACE_FIELD_SPACING as f32;

/// Means of I and I² over each `BLOCK`² block of the low-res cells
/// `[x0, y0, x1, y1]`; rows and columns past the picture repeat its last
/// (`smooth_stats` in the shader).
fn block_statistics(
    luma: &[u8],
    stride: usize,
    (w, h): (u32, u32),
    lw: u32,
    [x0, y0, x1, y1]: [u32; 4],
    stats: &mut [[f32; 2]],
) {
    let n = (BLOCK * BLOCK) as f32;
    for ly in y0..y1 {
        for lx in x0..x1 {
            let (mut sum, mut squares) = (0u32, 0u32);
            for j in 0..BLOCK {
                let row = &luma[(ly * BLOCK + j).min(h - 1) as usize * stride..];
                for i in 0..BLOCK {
                    let v = u32::from(row[(lx * BLOCK + i).min(w - 1) as usize]);
                    sum += v;
                    squares += v * v;
                }
            }
            stats[(ly * lw + lx) as usize] = [
                sum as f32 / (255.0 * n),
                squares as f32 / (255.0 * 255.0 * n),
            ];
        }
    }
}

/// Box means of `field` (a grid of `lw × lh`), clamped at its edges
/// (`box_mean` in the shader), at the cells `[x0, y0, x1, y1]` (ends
/// exclusive), each over `(2 r + 1)²` low-res pixels with its own radius
/// `r = radius_of(x, y)` (at most [`MAX_RADIUS`]): `each(index, mean)` for
/// each. A box of one radius for all is separable, which a radius per
/// pixel is not; so the cells go by radius (as many groups as the faces'
/// sizes, one for a face alone), each group over the bounds of its cells
/// ([`box_means_of`]).
fn box_means(
    field: &[[f32; 2]],
    size: (u32, u32),
    radius_of: impl Fn(u32, u32) -> u32,
    [x0, y0, x1, y1]: [u32; 4],
    row_sums: &mut Vec<[f32; 2]>,
    mut each: impl FnMut(usize, [f32; 2]),
) {
    // The bounds of each radius's cells.
    let mut groups = [None::<[u32; 4]>; MAX_RADIUS as usize + 1];
    for ly in y0..y1 {
        for lx in x0..x1 {
            let group = &mut groups[radius_of(lx, ly).min(MAX_RADIUS) as usize];
            *group = Some(match *group {
                None => [lx, ly, lx + 1, ly + 1],
                Some(b) => [
                    b[0].min(lx),
                    b[1].min(ly),
                    b[2].max(lx + 1),
                    b[3].max(ly + 1),
                ],
            });
        }
    }
    let several = groups.iter().flatten().count() > 1;
    for (radius, bounds) in groups.iter().enumerate() {
        let Some(bounds) = *bounds else {
            continue;
        };
        let radius = radius as u32;
        let ours = |lx: u32, ly: u32| !several || radius_of(lx, ly).min(MAX_RADIUS) == radius;
        box_means_of(field, size, radius, bounds, row_sums, ours, &mut each);
    }
}

/// Box means over `(2 radius + 1)²` low-res pixels of `field` (a grid of
/// `lw × lh`), clamped at its edges, at the cells `[x0, y0, x1, y1]` (ends
/// exclusive) for which `ours(x, y)`: `each(index, mean)` for each.
/// Separable: sums along rows into `row_sums` first, then down columns,
/// each a running sum (the cell that comes in less the one that leaves), so
/// a cell costs four reads whatever the radius.
fn box_means_of(
    field: &[[f32; 2]],
    (lw, lh): (u32, u32),
    radius: u32,
    [x0, y0, x1, y1]: [u32; 4],
    row_sums: &mut Vec<[f32; 2]>,
    ours: impl Fn(u32, u32) -> bool,
    mut each: impl FnMut(usize, [f32; 2]),
) {
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let r = radius as i32;
    let clamp = |v: i32, size: u32| v.clamp(0, size as i32 - 1) as u32;
    // The rows the column sums read: clamped, all within these.
    let (first, end) = (y0.saturating_sub(radius), (y1 + radius).min(lh));
    let width = (x1 - x0) as usize;
    row_sums.clear();
    for ly in first..end {
        let row = &field[(ly * lw) as usize..][..lw as usize];
        // The first cell's window in full, then each next one by the cell
        // that comes in less the one that leaves (clamped windows repeat
        // the edge cell, and stay exact as multisets).
        let mut sum = [0.0f32; 2];
        for dx in -r..=r {
            let v = row[clamp(x0 as i32 + dx, lw) as usize];
            sum[0] += v[0];
            sum[1] += v[1];
        }
        row_sums.push(sum);
        for lx in x0 + 1..x1 {
            let (come, go) = (
                row[clamp(lx as i32 + r, lw) as usize],
                row[clamp(lx as i32 - r - 1, lw) as usize],
            );
            sum[0] += come[0] - go[0];
            sum[1] += come[1] - go[1];
            row_sums.push(sum);
        }
    }
    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
    // Down the columns likewise: the first row's window in full, then the
    // row sums that come in less those that leave, a whole row at a time.
    let row_at = |ly: i32| {
        let start = (clamp(ly, lh) - first) as usize * width;
        &row_sums[start..start + width]
    };
    let mut columns = vec![[0.0f32; 2]; width];
    for dy in -r..=r {
        for (sum, v) in columns.iter_mut().zip(row_at(y0 as i32 + dy)) {
            sum[0] += v[0];
            sum[1] += v[1];
        }
    }
    for ly in y0..y1 {
        if ly > y0 {
            let (come, go) = (row_at(ly as i32 + r), row_at(ly as i32 - r - 1));
            for (sum, (come, go)) in columns.iter_mut().zip(come.iter().zip(go)) {
                sum[0] += come[0] - go[0];
                sum[1] += come[1] - go[1];
            }
        }
        for (lx, sum) in (x0..x1).zip(&columns) {
            if ours(lx, ly) {
                each((ly * lw + lx) as usize, [sum[0] / n, sum[1] / n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{EffectParams, EffectPlan};
    use crate::landmarks::FaceLandmarks;

    /// A frame of skin-coloured noise: texture for the filter to remove.
    fn skin_noise(width: u32, height: u32) -> I420Frame {
        let mut frame = I420Frame::black(width, height).expect("frame");
        for y in 0..height {
            for (x, v) in frame.row_mut(Plane::Y, y).iter_mut().enumerate() {
                *v = 120 + ((x as u32 * 37 + y * 91) % 23) as u8;
            }
        }
        for (plane, value) in [(Plane::U, 110), (Plane::V, 150)] {
            frame.plane_mut(plane).fill(value);
        }
        frame
    }

    #[test]
    fn separable_box_means_are_the_clamped_box_means() {
        let (lw, lh) = (7u32, 5u32);
        let field: Vec<[f32; 2]> = (0..lw * lh)
            .map(|i| [(i * 37 % 11) as f32, (i * 13 % 7) as f32])
            .collect();
        // One radius for all; then a radius per cell: 1 on the left, 3 on
        // the right, 2 on the bottom row (three groups that overlap).
        let mixed = |x: u32, y: u32| match (x, y) {
            (_, 3) => 2,
            (0..=3, _) => 1,
            _ => 3,
        };
        let cases: [&dyn Fn(u32, u32) -> u32; 4] = [&|_, _| 1, &|_, _| 2, &|_, _| 4, &mixed];
        for radius_of in cases {
            let mut row_sums = Vec::new();
            let mut seen = 0;
            box_means(
                &field,
                (lw, lh),
                radius_of,
                [1, 0, 6, 4],
                &mut row_sums,
                |at, mean| {
                    let (x, y) = ((at as u32 % lw) as i32, (at as u32 / lw) as i32);
                    let r = radius_of(x as u32, y as u32) as i32;
                    let mut sum = [0.0f32; 2];
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let cx = (x + dx).clamp(0, lw as i32 - 1);
                            let cy = (y + dy).clamp(0, lh as i32 - 1);
                            let v = field[(cy * lw as i32 + cx) as usize];
                            sum = [sum[0] + v[0], sum[1] + v[1]];
                        }
                    }
                    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
                    for k in 0..2 {
                        assert!((mean[k] - sum[k] / n).abs() < 1e-4, "({x}, {y}) r {r}");
                    }
                    seen += 1;
                },
            );
            assert_eq!(seen, 5 * 4);
        }
    }

    #[test]
    fn faces_over_the_edges_are_smoothed_inside_the_frame_and_nothing_else_moves() {
        let (width, height) = (96, 64);
        let params = EffectParams::new(0.0, 1.0, 0.0, 0.0).expect("strengths");
        for face in [
            FaceLandmarks::square(60.0, 30.0, 60.0),
            FaceLandmarks::square(-30.0, -40.0, 70.0),
            FaceLandmarks::square(500.0, 500.0, 40.0),
        ] {
            let plan = EffectPlan::new(&params, std::slice::from_ref(&face));
            let field = plan.face_field(width, height).expect("a face field");
            let before = skin_noise(width, height);
            let mut after = before.clone();
            let radius = largest_radius(&plan);
            CpuSkin::default().smooth(&mut after, &field, plan.mask_bounds(), 1.0, radius);
            for y in 0..height {
                for x in 0..width {
                    let p = [x as f32 + 0.5, y as f32 + 0.5];
                    if plan.region_weight(p) == 0.0 && field.at(p)[2] == 0.0 {
                        assert_eq!(
                            after.sample(Plane::Y, x, y),
                            before.sample(Plane::Y, x, y),
                            "{face:?}: ({x}, {y}) is outside the skin region"
                        );
                    }
                }
            }
            assert_eq!(after.plane(Plane::U), before.plane(Plane::U));
            assert_eq!(after.plane(Plane::V), before.plane(Plane::V));
            let changed = (0..height)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .filter(|&(x, y)| after.sample(Plane::Y, x, y) != before.sample(Plane::Y, x, y))
                .count();
            let inside = face.bbox[0] < width as f32 && face.bbox[1] < height as f32;
            assert_eq!(changed > 0, inside, "{face:?}: {changed} pixels changed");
        }
    }
}
