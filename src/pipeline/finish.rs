//! The finishing effects, after everything else a frame gets: sharpness
//! (an unsharp mask on luma around the faces, skin left alone; see
//! `crate::effects::sharpen_weight`) and then the colour filter (a
//! look-up table on the RGB of every pixel, blended by its strength).
//!
//! This CPU code is the specification: the reference calls it, the CPU
//! routes call it (on two threads), and `shaders/finish.wgsl` repeats it;
//! the CPU routes read the colour filter from its table's YUV form
//! (`effects::lut_yuv`, within a level of the exact maths), the reference
//! and the shader compute it exactly.

use std::sync::Arc;

use super::cpu_skin::Grid;
use super::rows::in_two_halves;
use crate::color::{to_u8, ColorMatrix};
use crate::effects::{
    is_empty_rect, sharpen_weight, EffectPlan, FaceField, FixedStrength, Lut, SHARPEN_GAIN,
};
use crate::frame::{I420Frame, Plane};

/// What a frame's finishing step does.
#[derive(Debug, Clone)]
pub(crate) struct FinishWork {
    /// Sharpness strength and the rectangle sharpened, if it sharpens.
    pub(crate) sharpen: Option<(f32, [f32; 4])>,
    /// The look-up table and its strength, if it filters.
    pub(crate) filter: Option<(Arc<Lut>, f32)>,
}

impl FinishWork {
    /// The finishing step of a frame with the effect plan `plan` and the
    /// look-up table `filter` (if any); `None` when it does nothing.
    pub(crate) fn for_frame(plan: &EffectPlan, filter: Option<&Arc<Lut>>) -> Option<Self> {
        let work = Self {
            sharpen: (plan.has_sharpening() && !is_empty_rect(plan.sharpen_bounds()))
                .then(|| (plan.sharpness, plan.sharpen_bounds())),
            filter: filter
                .filter(|_| plan.filter_strength > 0.0)
                .map(|lut| (Arc::clone(lut), plan.filter_strength)),
        };
        (work.sharpen.is_some() || work.filter.is_some()).then_some(work)
    }

    /// Sharpens, then filters, `frame` (the frame's face field `field`
    /// gives the skin region weight; without one nothing is skin). The
    /// filter reads the table's YUV form ([`filter`]); the CPU routes use
    /// this.
    pub(crate) fn apply(&self, frame: &mut I420Frame, field: Option<&FaceField>) {
        if let Some((strength, bounds)) = self.sharpen {
            sharpen(frame, field, strength, bounds);
        }
        if let Some((lut, strength)) = &self.filter {
            filter(frame, lut, *strength);
        }
    }

    /// As [`FinishWork::apply`] with the filter's exact maths
    /// ([`filter_exact`]): the reference's.
    pub(crate) fn apply_exact(&self, frame: &mut I420Frame, field: Option<&FaceField>) {
        if let Some((strength, bounds)) = self.sharpen {
            sharpen(frame, field, strength, bounds);
        }
        if let Some((lut, strength)) = &self.filter {
            filter_exact(frame, lut, *strength);
        }
    }
}

/// The pixels `[x0, y0, x1, y1)` (ends exclusive, rows even) that touch
/// `rect` in a `width × height` frame.
fn pixel_span(rect: [f32; 4], width: u32, height: u32) -> Option<[u32; 4]> {
    if is_empty_rect(rect) {
        return None;
    }
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let span = [
        clamp(rect[0].floor(), width),
        clamp(rect[1].floor(), height) & !1,
        clamp(rect[2].ceil() + 1.0, width),
        (clamp(rect[3].ceil() + 1.0, height) + 1).min(height) & !1,
    ];
    (span[2] > span[0] && span[3] > span[1]).then_some(span)
}

/// The unsharp mask: per pixel of `bounds`, luma `I` gains
/// `SHARPEN_GAIN × strength × weight × (I − blur)`, `blur` the 3×3
/// binomial of the frame as it was (clamped at its edges), `weight`
/// [`sharpen_weight`] of the pixel's vicinity, the face field's region
/// weight and the pixel's colour.
pub(crate) fn sharpen(
    frame: &mut I420Frame,
    field: Option<&FaceField>,
    strength: f32,
    bounds: [f32; 4],
) {
    let (w, h) = (frame.width(), frame.height());
    let Some([x0, y0, x1, y1]) = pixel_span(bounds, w, h) else {
        return;
    };
    // The luma rows the mask reads, one beyond each side, as they were.
    let first = y0.saturating_sub(1);
    let last = (y1 + 1).min(h);
    let stride = frame.stride(Plane::Y);
    let original: Vec<u8> =
        frame.plane(Plane::Y)[first as usize * stride..last as usize * stride].to_vec();
    let row_of = |y: u32| {
        let y = y.clamp(first, last - 1);
        let start = (y - first) as usize * stride;
        &original[start..start + w as usize]
    };
    // The vicinity's fade across columns, worked out once; down the rows
    // it is one value per row (see `vicinity_weight`).
    let fade = 0.1 * (bounds[2] - bounds[0]).min(bounds[3] - bounds[1]);
    let ramp = |d: f32| crate::effects::smoothstep(0.0, fade, d);
    // The face field's region weight is read as the skin effects read it:
    // down the grid once per row, then across it per column.
    let grid = field.map(Grid::new);
    let columns = grid.as_ref().map_or(0..0, |grid| {
        grid.cell_column(x0)..grid.cell_column(x1.max(x0 + 1) - 1) + 2
    });
    let across: Vec<(f32, usize, f32)> = (x0..x1)
        .map(|x| {
            let px = x as f32 + 0.5;
            let (cell, t) = grid.as_ref().map_or((0, 0.0), |grid| {
                let cell = grid.cell_column(x);
                (cell - columns.start, grid.across_in(px, cell))
            });
            (ramp(px - bounds[0]) * ramp(bounds[2] - px), cell, t)
        })
        .collect();
    let gain = SHARPEN_GAIN * strength;
    let min_detail = smallest_detail_moved(gain);
    in_two_halves(frame, y0..y1, |mut rows, range| {
        let mut region_row = Vec::new();
        let mut details = Vec::new();
        for y in range {
            let py = y as f32 + 0.5;
            let down_ramp = ramp(py - bounds[1]) * ramp(bounds[3] - py);
            if down_ramp <= 0.0 {
                continue;
            }
            let rows_around = [row_of(y.saturating_sub(1)), row_of(y), row_of(y + 1)];
            details_of_row(rows_around, x0 as usize..x1 as usize, &mut details);
            if let Some(grid) = &grid {
                grid.region_row(grid.cell_row(y), py, columns.clone(), &mut region_row);
            }
            let mid = rows_around[1];
            let (luma, u, v) = rows.luma_row(y, w);
            for ((x, &(across, cell, t)), &detail) in (x0..x1).zip(&across).zip(&details) {
                // The weight is at most 1: a detail the gain cannot move by
                // half a level leaves the byte as it is.
                if i32::from(detail).abs() < min_detail {
                    continue;
                }
                let vicinity = across * down_ramp;
                if vicinity <= 0.0 {
                    continue;
                }
                let xi = x as usize;
                let centre = f32::from(mid[xi]);
                let yuv = [
                    centre / 255.0,
                    f32::from(u[xi / 2]) / 255.0,
                    f32::from(v[xi / 2]) / 255.0,
                ];
                let region = match (field, region_row.get(cell..=cell + 1)) {
                    (Some(_), Some([a, b])) => a + (b - a) * t,
                    // A field one point wide: read it directly.
                    (Some(field), _) => field.at([x as f32 + 0.5, py])[2],
                    (None, _) => 0.0,
                };
                let amount = sharpen_weight(vicinity, region, yuv) * gain;
                if amount <= 0.0 {
                    continue;
                }
                let blurred = 16.0 * centre - f32::from(detail);
                let blur = blurred / (16.0 * 255.0);
                let i = yuv[0];
                luma[xi] = to_u8(i + (i - blur) * amount);
            }
        }
    });
}

/// Sixteen times each pixel's detail (luma less its 3×3 binomial blur,
/// `[1 2 1]ᵀ[1 2 1] / 16`) over `columns` of the middle of three luma
/// rows `[up, mid, down]` (clamped at the row's ends), into `details`: in
/// integers, so the compiler vectorises it.
fn details_of_row(
    [up, mid, down]: [&[u8]; 3],
    columns: std::ops::Range<usize>,
    details: &mut Vec<i16>,
) {
    let last = mid.len() - 1;
    // Column sums `up + 2 mid + down` from one left of the range to one
    // right of it, clamped at the row's ends.
    let (first, end) = (
        columns.start.saturating_sub(1),
        (columns.end + 1).min(mid.len()),
    );
    let mut sums: Vec<u16> = Vec::with_capacity(columns.len() + 2);
    if columns.start == 0 {
        sums.push(0);
    }
    sums.extend(
        up[first..end]
            .iter()
            .zip(&mid[first..end])
            .zip(&down[first..end])
            .map(|((&a, &b), &c)| u16::from(a) + 2 * u16::from(b) + u16::from(c)),
    );
    if columns.end > last {
        sums.push(0);
    }
    let column = |x: usize| u16::from(up[x]) + 2 * u16::from(mid[x]) + u16::from(down[x]);
    if columns.start == 0 {
        sums[0] = column(0);
    }
    if columns.end > last {
        let n = sums.len();
        sums[n - 1] = column(last);
    }
    details.clear();
    details.extend(
        sums.windows(3).zip(&mid[columns]).map(|(s, &centre)| {
            (16 * i32::from(centre) - i32::from(s[0] + 2 * s[1] + s[2])) as i16
        }),
    );
}

/// The smallest detail (sixteenths of a level, see [`details_of_row`])
/// that `gain` moves by half a level or more: `|detail| / 16 × gain ≥
/// 0.49` in `f32`, as the mask's test was written per pixel. (`detail /
/// 16` is exact in `f32`, and rounding keeps the product's order, so one
/// integer comparison decides it.)
fn smallest_detail_moved(gain: f32) -> i32 {
    (0..=16 * 255)
        .find(|&detail| (detail as f32 / 16.0) * gain >= 0.49)
        .unwrap_or(i32::MAX)
}

/// [`filter_exact`] through the table's YUV form
/// (`effects::lut_yuv`): the same result within a level on smooth looks,
/// at a small fraction of the cost.
pub(crate) fn filter(frame: &mut I420Frame, lut: &Lut, strength: f32) {
    let (w, h) = (frame.width(), frame.height());
    let table = lut.yuv_table();
    let strength = FixedStrength::new(strength);
    in_two_halves(frame, 0..h.next_multiple_of(2), |mut rows, range| {
        for y in range.step_by(2) {
            let row = rows.block_row(y, w, h);
            let (top, u, v) = (row.top, row.u, row.v);
            let whole = top.len() / 2;
            match row.bottom {
                Some(bottom) => {
                    let blocks = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
                    for ((top, bottom), (u, v)) in blocks.zip(u.iter_mut().zip(v.iter_mut())) {
                        let lumas = [top[0], top[1], bottom[0], bottom[1]];
                        let (out, new_u, new_v) = table.block(lumas, 4, *u, *v, strength);
                        top.copy_from_slice(&out[..2]);
                        bottom.copy_from_slice(&out[2..]);
                        (*u, *v) = (new_u, new_v);
                    }
                    // An odd width's last column: a block of two.
                    if let (Some(top), Some(bottom), Some(u), Some(v)) = (
                        top.get_mut(2 * whole),
                        bottom.get_mut(2 * whole),
                        u.get_mut(whole),
                        v.get_mut(whole),
                    ) {
                        let (out, new_u, new_v) =
                            table.block([*top, *bottom, 0, 0], 2, *u, *v, strength);
                        (*top, *bottom, *u, *v) = (out[0], out[1], new_u, new_v);
                    }
                }
                // An odd height's last row: blocks of two, then one.
                None => {
                    for (bx, (u, v)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
                        let pair = &mut top[2 * bx..(2 * bx + 2).min(2 * whole + 1)];
                        let count = pair.len();
                        let lumas = [pair[0], pair.get(1).copied().unwrap_or(0), 0, 0];
                        let (out, new_u, new_v) = table.block(lumas, count, *u, *v, strength);
                        pair.copy_from_slice(&out[..count]);
                        (*u, *v) = (new_u, new_v);
                    }
                }
            }
        }
    });
}

/// The colour filter over every 2×2 block: each pixel's RGB (its luma and
/// the block's chroma) moves toward what `lut` gives its colour clamped to
/// 0..1, by `strength` (so out-of-range colours keep their excess and an
/// identity table changes nothing); luma is the result's, chroma the
/// block's plus the mean change of its pixels'.
pub(crate) fn filter_exact(frame: &mut I420Frame, lut: &Lut, strength: f32) {
    let (w, h) = (frame.width(), frame.height());
    let matrix = ColorMatrix::bt601_video_range();
    in_two_halves(frame, 0..h.next_multiple_of(2), |rows, range| {
        for y in range.step_by(2) {
            for bx in 0..w.div_ceil(2) {
                let chroma = rows.chroma_at(bx * 2, y);
                let uv = [
                    f32::from(rows.u[chroma]) / 255.0,
                    f32::from(rows.v[chroma]) / 255.0,
                ];
                let mut delta = [0.0f32; 2];
                let mut count = 0.0f32;
                for yy in y..(y + 2).min(h) {
                    for x in bx * 2..(bx * 2 + 2).min(w) {
                        let at = rows.luma_at(x, yy);
                        let yuv = [f32::from(rows.luma[at]) / 255.0, uv[0], uv[1]];
                        let out = filtered(&matrix, lut, strength, yuv);
                        rows.luma[at] = to_u8(out[0]);
                        delta[0] += out[1] - uv[0];
                        delta[1] += out[2] - uv[1];
                        count += 1.0;
                    }
                }
                rows.u[chroma] = to_u8(uv[0] + delta[0] / count);
                rows.v[chroma] = to_u8(uv[1] + delta[1] / count);
            }
        }
    });
}

/// One pixel through the colour filter (normalised YUV in and out).
pub(crate) fn filtered(matrix: &ColorMatrix, lut: &Lut, strength: f32, yuv: [f32; 3]) -> [f32; 3] {
    let rgb = matrix.yuv_to_rgb(yuv);
    let clamped = rgb.map(|c| c.clamp(0.0, 1.0));
    let looked = lut.apply(clamped);
    matrix.rgb_to_yuv([
        rgb[0] + (looked[0] - clamped[0]) * strength,
        rgb[1] + (looked[1] - clamped[1]) * strength,
        rgb[2] + (looked[2] - clamped[2]) * strength,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row's details against the 3×3 binomial written out per pixel
    /// with clamped taps, at both ends of the row and inside it.
    #[test]
    fn row_details_are_the_clamped_binomial_detail() {
        let width = 37usize;
        let row = |seed: usize| -> Vec<u8> {
            (0..width)
                .map(|x| ((x * 97 + seed * 31) % 256) as u8)
                .collect()
        };
        let (up, mid, down) = (row(1), row(2), row(3));
        let tap = |r: &[u8], x: isize| i32::from(r[x.clamp(0, width as isize - 1) as usize]);
        let mut details = Vec::new();
        for columns in [0..width, 0..5, 3..20, 30..width, 36..width, 0..1] {
            details_of_row([&up, &mid, &down], columns.clone(), &mut details);
            assert_eq!(details.len(), columns.len());
            for (x, &detail) in columns.zip(&details) {
                let x = x as isize;
                let three = |r: &[u8]| tap(r, x - 1) + 2 * tap(r, x) + tap(r, x + 1);
                let blurred = three(&up) + 2 * three(&mid) + three(&down);
                assert_eq!(i32::from(detail), 16 * tap(&mid, x) - blurred, "x {x}");
            }
        }
    }

    #[test]
    fn the_smallest_detail_moved_follows_the_gain() {
        // Half a level at gain 1 is 8/16 (7/16 < 0.49).
        assert_eq!(smallest_detail_moved(1.0), 8);
        assert_eq!(smallest_detail_moved(0.5), 16);
        assert_eq!(smallest_detail_moved(0.0), i32::MAX);
    }
}
