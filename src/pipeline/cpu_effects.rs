//! The beauty effects on the CPU, over the frame [`super::plain`] scaled:
//! the maths of the geometry shader's effects variant (warps, whitening;
//! one tap per pixel) and of the smoothing passes, in `f32` as in the
//! shaders, one output row at a time.
//!
//! On a software Vulkan driver (lavapipe) every invocation of a dispatched
//! region pays for texture sampling and for every branch it could have
//! skipped. Here the face field is interpolated down once per row (the
//! grid's columns), across per pixel, and a 4×4 cell whose face-field
//! points are all zero is skipped: nothing in it is warped, whitened or
//! smoothed. [`super::FramePipeline`] uses this path when the adapter is a
//! CPU; a real GPU keeps the shaders. Its results stay within the
//! reference's tolerance (`tests/gpu_pipeline.rs` checks it on the test
//! portrait, as it checks the shaders).

use super::smoothing::{low_res_size, BLOCK, EPS, RADIUS};
use super::uniforms::crop_bounds;
use crate::effects::{
    is_empty_rect, skin_chroma_weight, skin_luma_weight, union_of, whiten, EffectPlan, FaceField,
    FACE_FIELD_SPACING,
};
use crate::frame::{I420Frame, Plane};
use crate::geometry::GeometryPlan;

/// Output pixels between face-field points.
const SPACING: f32 = FACE_FIELD_SPACING as f32;

/// Scratch rows and the smoothing's low-res fields, kept from frame to
/// frame.
#[derive(Debug, Default)]
pub(crate) struct CpuEffects {
    /// The face field interpolated down to three output rows (the two
    /// pixel rows of a block row and its centre), per grid column.
    field_rows: [Vec<[f32; 3]>; 3],
    /// Per grid column: whether both points above and below are zero.
    zero_columns: Vec<bool>,
    /// Block means of I and I².
    stats: Vec<[f32; 2]>,
    /// The guided filter's coefficients (a, b).
    coefficients: Vec<[f32; 2]>,
    /// Their box means.
    means: Vec<[f32; 2]>,
    /// The box means interpolated down to one output row, per low-res
    /// column.
    means_row: Vec<[f32; 2]>,
}

impl CpuEffects {
    /// Applies `effects` to `out`, which holds `input` scaled by `plan`'s
    /// plain geometry (one tap per pixel, as [`super::plain::PlainScaler`]
    /// makes it): the warps and the whitening resample the input where the
    /// face field moves or whitens anything, then the smoothing filters the
    /// skin.
    pub(crate) fn apply(
        &mut self,
        input: &I420Frame,
        plan: &GeometryPlan,
        effects: &EffectPlan,
        field: &FaceField,
        out: &mut I420Frame,
    ) {
        let bounds = Bounds {
            warp: effects.warp_bounds(),
            mask: effects.mask_bounds(),
        };
        let whitening = effects.has_whitening().then_some(effects.whiteness);
        let rect = union_of(
            [
                effects.has_warp().then_some(bounds.warp),
                whitening.map(|_| bounds.mask),
            ]
            .into_iter()
            .flatten(),
        );
        self.warp_and_whiten(input, plan, field, &bounds, rect, whitening, out);
        if effects.has_smoothing() {
            self.smooth(out, field, bounds.mask, effects.smoothness);
        }
    }

    /// The warps and whitening over the 2×2 blocks of `rect` (the geometry
    /// shader's effects variant): a block whose face-field cell is not all
    /// zero samples its chroma at its warped centre and each of its pixels
    /// its luma at its warped centre, whitens by the skin weight, and
    /// writes the mean chroma change, as `geometry_to_i420` does.
    #[allow(clippy::too_many_arguments)]
    fn warp_and_whiten(
        &mut self,
        input: &I420Frame,
        plan: &GeometryPlan,
        field: &FaceField,
        bounds: &Bounds,
        rect: [f32; 4],
        whitening: Option<f32>,
        out: &mut I420Frame,
    ) {
        let (width, height) = (out.width(), out.height());
        let Some(span) = pixel_span(rect, width, height) else {
            return;
        };
        // Whole blocks: even starts, even ends (the sizes are even).
        let (x0, x1) = (span[0] & !1, (span[2] + 1).min(width) & !1);
        let (y0, y1) = (span[1] & !1, (span[3] + 1).min(height) & !1);
        let grid = Grid::new(field);
        let columns = grid.cell_column(x0)..grid.cell_column(x1.max(x0 + 1) - 1) + 2;
        let (luma_bounds, chroma_bounds) = crop_bounds(plan);
        let luma_in = Source::new(input, Plane::Y, luma_bounds);
        let u_in = Source::new(input, Plane::U, chroma_bounds);
        let v_in = Source::new(input, Plane::V, chroma_bounds);
        let (luma_stride, chroma_stride) = (out.stride(Plane::Y), out.stride(Plane::U));
        let (luma_out, u_out, v_out) = out.planes_mut();
        let source_of = |u: f32, v: f32, face: [f32; 3]| {
            let (x, y) = plan.map(u + face[0], v + face[1]);
            [x, y]
        };
        for y in (y0..y1).step_by(2) {
            // The block row's cell row, and the field down at its two pixel
            // rows and its centre.
            let j = grid.cell_row(y);
            let rows = [y as f32 + 0.5, y as f32 + 1.5, y as f32 + 1.0];
            grid.rows_at(j, rows, columns.clone(), &mut self.field_rows, &mut self.zero_columns);
            let row_bounds = rows.map(|v| bounds.across(v));
            for x in (x0..x1).step_by(2) {
                let i = grid.cell_column(x);
                let (c0, c1) = (i - columns.start, i + 1 - columns.start);
                if self.zero_columns[c0] && self.zero_columns[c1] {
                    continue;
                }
                let across = [x as f32 + 0.5, x as f32 + 1.5, x as f32 + 1.0];
                let t = across.map(|u| grid.across_in(u, i));
                let face = |k: usize, r: usize| {
                    if !row_bounds[r].holds(across[k]) {
                        return [0.0; 3];
                    }
                    let (a, b) = (self.field_rows[r][c0], self.field_rows[r][c1]);
                    std::array::from_fn(|n| a[n] + (b[n] - a[n]) * t[k])
                };
                let [sx, sy] = source_of(across[2], rows[2], face(2, 2));
                // Chroma is centre-sited: chroma sample k covers luma 2k
                // and 2k + 1.
                let taps = u_in.taps((sx + 0.5) * 0.5 - 0.5, (sy + 0.5) * 0.5 - 0.5);
                let uv = [u_in.sample(&taps), v_in.sample(&taps)];
                let chroma = whitening.map(|strength| skin_chroma_weight(uv[0], uv[1]) * strength);
                let mut delta = [0.0f32; 2];
                for (r, k) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let face = face(k, r);
                    let [lx, ly] = source_of(across[k], rows[r], face);
                    let luma = luma_in.sample(&luma_in.taps(lx, ly));
                    let mut yuv = [luma, uv[0], uv[1]];
                    if let Some(chroma) = chroma {
                        if face[2] > 0.0 {
                            let amount = face[2] * chroma * skin_luma_weight(luma);
                            if amount > 0.0 {
                                yuv = whiten(yuv, amount);
                            }
                        }
                    }
                    let at = (y as usize + r) * luma_stride + x as usize + k;
                    luma_out[at] = to_byte(yuv[0]);
                    delta[0] += yuv[1] - uv[0];
                    delta[1] += yuv[2] - uv[1];
                }
                let at = (y / 2) as usize * chroma_stride + (x / 2) as usize;
                u_out[at] = to_byte(uv[0] + delta[0] * 0.25);
                v_out[at] = to_byte(uv[1] + delta[1] * 0.25);
            }
        }
    }

    /// The smoothing passes (`shaders/smoothing.wgsl`) over the skin
    /// mask's bounds `mask`: block statistics, coefficients and their means
    /// on the low-res grid around them, then the blend where the skin
    /// weight is not zero.
    fn smooth(&mut self, frame: &mut I420Frame, field: &FaceField, mask: [f32; 4], strength: f32) {
        let (w, h) = (frame.width(), frame.height());
        let Some(span) = pixel_span(mask, w, h) else {
            return;
        };
        let (lw, lh) = low_res_size(w, h);
        // The low-res position of an output pixel's centre, clamped to the
        // grid (`coefficients_at` in the reference).
        let low_res = |v: u32, last: u32| ((v as f32 + 0.5) / BLOCK as f32 - 0.5).clamp(0.0, last as f32);
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
        let stride = frame.stride(Plane::Y);
        block_statistics(
            frame.plane(Plane::Y),
            stride,
            (w, h),
            lw,
            grown(2 * RADIUS),
            &mut self.stats,
        );
        let [x0, y0, x1, y1] = grown(RADIUS);
        for ly in y0..y1 {
            for lx in x0..x1 {
                let m = box_mean(&self.stats, (lw, lh), lx, ly);
                let variance = (m[1] - m[0] * m[0]).max(0.0);
                let a = variance / (variance + EPS);
                self.coefficients[(ly * lw + lx) as usize] = [a, m[0] * (1.0 - a)];
            }
        }
        let [x0, y0, x1, y1] = blend_cells;
        for ly in y0..y1 {
            for lx in x0..x1 {
                self.means[(ly * lw + lx) as usize] =
                    box_mean(&self.coefficients, (lw, lh), lx, ly);
            }
        }
        let grid = Grid::new(field);
        let columns = grid.cell_column(span[0])..grid.cell_column(span[2] - 1) + 2;
        let chroma_stride = frame.stride(Plane::U);
        let (luma, u_plane, v_plane) = frame.planes_mut();
        for y in span[1]..span[3] {
            let v = y as f32 + 0.5;
            // Pixels whose centres lie in the mask's bounds on this row.
            let (from, to) = span_across(mask, v);
            let first = (from - 0.5).ceil().max(span[0] as f32) as u32;
            let end = ((to - 0.5).floor() + 1.0).min(span[2] as f32);
            if !(end > first as f32) {
                continue;
            }
            let end = end as u32;
            // The face field's region weight and the coefficients, down.
            let j = grid.cell_row(y);
            grid.rows_at(
                j,
                [v; 3],
                columns.clone(),
                &mut self.field_rows,
                &mut self.zero_columns,
            );
            let py = low_res(y, lh - 1);
            let (ly0, ty) = (py as u32, py.fract());
            let ly1 = (ly0 + 1).min(lh - 1);
            self.means_row.clear();
            self.means_row.extend((0..lw).map(|lx| {
                let (a, b) = (
                    self.means[(ly0 * lw + lx) as usize],
                    self.means[(ly1 * lw + lx) as usize],
                );
                [a[0] + (b[0] - a[0]) * ty, a[1] + (b[1] - a[1]) * ty]
            }));
            let row = y as usize * stride;
            let chroma_row = (y / 2) as usize * chroma_stride;
            for x in first..end {
                let i = grid.cell_column(x);
                let (c0, c1) = (i - columns.start, i + 1 - columns.start);
                let (a, b) = (self.field_rows[0][c0][2], self.field_rows[0][c1][2]);
                let u = x as f32 + 0.5;
                let weight = a + (b - a) * grid.across_in(u, i);
                if weight <= 0.0 {
                    continue;
                }
                let at = row + x as usize;
                let value = f32::from(luma[at]) / 255.0;
                let chroma_at = chroma_row + (x / 2) as usize;
                let chroma = skin_chroma_weight(
                    f32::from(u_plane[chroma_at]) / 255.0,
                    f32::from(v_plane[chroma_at]) / 255.0,
                );
                let amount = weight * chroma * skin_luma_weight(value) * strength;
                if amount > 0.0 {
                    let px = low_res(x, lw - 1);
                    let lx0 = px as u32;
                    let lx1 = (lx0 + 1).min(lw - 1);
                    let (left, right) = (
                        self.means_row[lx0 as usize],
                        self.means_row[lx1 as usize],
                    );
                    let t = px.fract();
                    let q = (left[0] + (right[0] - left[0]) * t) * value
                        + (left[1] + (right[1] - left[1]) * t);
                    luma[at] = to_byte(value + (q - value) * amount);
                }
            }
        }
    }
}

/// Normalised `value` (0..1) to a byte, rounded.
fn to_byte(value: f32) -> u8 {
    // Saturating: NaN goes to 0.
    (value * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// The rectangles outside which the face field reads as zero (`face_in`
/// in the shader).
struct Bounds {
    warp: [f32; 4],
    mask: [f32; 4],
}

impl Bounds {
    /// Their spans across the output row whose centres are at `v`.
    fn across(&self, v: f32) -> RowBounds {
        RowBounds {
            warp: span_across(self.warp, v),
            mask: span_across(self.mask, v),
        }
    }
}

/// Spans `(from, to)` of one output row inside the warp's and the mask's
/// rectangles.
#[derive(Debug, Clone, Copy)]
struct RowBounds {
    warp: (f32, f32),
    mask: (f32, f32),
}

impl RowBounds {
    /// Whether `u` on this row lies in either rectangle.
    fn holds(&self, u: f32) -> bool {
        (u >= self.warp.0 && u <= self.warp.1) || (u >= self.mask.0 && u <= self.mask.1)
    }
}

/// The span of `rect` across the row at `v`; `(∞, −∞)` when the row
/// misses it.
fn span_across(rect: [f32; 4], v: f32) -> (f32, f32) {
    if v >= rect[1] && v <= rect[3] {
        (rect[0], rect[2])
    } else {
        (f32::INFINITY, f32::NEG_INFINITY)
    }
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

/// The face field's grid and how output points fall into its cells
/// (`face_grid`, `face_cell` and `face_in` in the shader).
struct Grid<'a> {
    field: &'a FaceField,
    /// The last grid column and row.
    last: [u32; 2],
}

impl<'a> Grid<'a> {
    fn new(field: &'a FaceField) -> Self {
        Self {
            field,
            last: [field.columns - 1, field.rows - 1],
        }
    }

    /// The cell column of output column `x`: the pixels of a 2×2 block
    /// (and a luma word) share it, the block's centre decides it.
    fn cell_column(&self, x: u32) -> usize {
        ((x | 1) / FACE_FIELD_SPACING).min(self.last[0].saturating_sub(1)) as usize
    }

    /// The cell row of output row `y` (as [`Grid::cell_column`]).
    fn cell_row(&self, y: u32) -> u32 {
        ((y | 1) / FACE_FIELD_SPACING).min(self.last[1].saturating_sub(1))
    }

    /// Where `u` lies across cell column `i`, 0..1 (clamped as `face_in`
    /// clamps).
    fn across_in(&self, u: f32, i: usize) -> f32 {
        ((u / SPACING).min(self.last[0] as f32) - i as f32).clamp(0.0, 1.0)
    }

    /// The field interpolated down cell row `j` to the rows at `rows`, for
    /// the grid columns `columns`; and per column whether its points above
    /// and below are all zero.
    fn rows_at(
        &self,
        j: u32,
        rows: [f32; 3],
        columns: std::ops::Range<usize>,
        out: &mut [Vec<[f32; 3]>; 3],
        zero: &mut Vec<bool>,
    ) {
        let columns = columns.start..columns.end.min(self.field.columns as usize);
        let next = (j + 1).min(self.last[1]);
        let above = &self.field.points[(j * self.field.columns) as usize..][columns.clone()];
        let below = &self.field.points[(next * self.field.columns) as usize..][columns];
        for (row, &v) in out.iter_mut().zip(&rows) {
            let t = ((v / SPACING).min(self.last[1] as f32) - j as f32).clamp(0.0, 1.0);
            row.clear();
            row.extend(
                above
                    .iter()
                    .zip(below)
                    .map(|(a, b)| std::array::from_fn(|n| a[n] + (b[n] - a[n]) * t)),
            );
        }
        zero.clear();
        zero.extend(
            above
                .iter()
                .zip(below)
                .map(|(a, b)| a[..3].iter().chain(&b[..3]).all(|&v| v == 0.0)),
        );
    }
}

/// Bilinear taps of one sample: the byte offsets of its four neighbours
/// and the weights across and down.
struct Taps {
    at: [usize; 4],
    t: [f32; 2],
}

/// One input plane with the bounds its samples are clamped to (the crop).
struct Source<'a> {
    bytes: &'a [u8],
    stride: usize,
    lo: [f32; 2],
    hi: [u32; 2],
}

impl<'a> Source<'a> {
    fn new(frame: &'a I420Frame, plane: Plane, bounds: [u32; 4]) -> Self {
        Self {
            bytes: frame.plane(plane),
            stride: frame.stride(plane),
            lo: [bounds[0] as f32, bounds[1] as f32],
            hi: [bounds[2], bounds[3]],
        }
    }

    /// The taps of a bilinear sample at pixel-centre position `(x, y)`,
    /// clamped to the bounds.
    fn taps(&self, x: f32, y: f32) -> Taps {
        let px = x.clamp(self.lo[0], self.hi[0] as f32);
        let py = y.clamp(self.lo[1], self.hi[1] as f32);
        // Non-negative after the clamp: truncation is the floor.
        let (x0, y0) = (px as u32, py as u32);
        let (x1, y1) = ((x0 + 1).min(self.hi[0]), (y0 + 1).min(self.hi[1]));
        let (top, bottom) = (y0 as usize * self.stride, y1 as usize * self.stride);
        Taps {
            at: [
                top + x0 as usize,
                top + x1 as usize,
                bottom + x0 as usize,
                bottom + x1 as usize,
            ],
            t: [px - x0 as f32, py - y0 as f32],
        }
    }

    /// The plane's value (0..1) at `taps` (from a plane laid out alike).
    fn sample(&self, taps: &Taps) -> f32 {
        let [a, b, c, d] = taps.at.map(|i| f32::from(self.bytes[i]));
        let top = a + (b - a) * taps.t[0];
        let bottom = c + (d - c) * taps.t[0];
        (top + (bottom - top) * taps.t[1]) / 255.0
    }
}

/// Means of I and I² (I = luma / 255) over each `BLOCK`² block of the
/// low-res cells `[x0, y0, x1, y1]`; rows and columns past the picture
/// repeat its last (`smooth_stats` in the shader).
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

/// Box mean over `(2 RADIUS + 1)²` low-res pixels around (x, y), clamped at
/// the edges (`box_mean` in the shader).
fn box_mean(field: &[[f32; 2]], (lw, lh): (u32, u32), x: u32, y: u32) -> [f32; 2] {
    let r = RADIUS as i32;
    let mut sum = [0.0f32; 2];
    for dy in -r..=r {
        let cy = (y as i32 + dy).clamp(0, lh as i32 - 1) as u32;
        for dx in -r..=r {
            let cx = (x as i32 + dx).clamp(0, lw as i32 - 1) as u32;
            let v = field[(cy * lw + cx) as usize];
            sum[0] += v[0];
            sum[1] += v[1];
        }
    }
    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
    [sum[0] / n, sum[1] / n]
}
