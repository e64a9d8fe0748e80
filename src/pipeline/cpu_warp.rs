//! The face warps on the CPU: the geometry shader's warps-only variant
//! (`WARPS`, no colour stage, one tap) over the tiles where the face field
//! moves something, written straight into the CPU's plain frame.
//!
//! On a software Vulkan driver (lavapipe) a warped pixel costs a filtered
//! texture fetch through the JIT, the largest share of the effects' CPU
//! time once the skin effects run on the CPU. Here:
//!
//! * the face field is interpolated down once per output row; along the
//!   row it is linear within each cell of its grid, and so is the input
//!   position a pixel samples (the geometry is affine), so a cell's first
//!   position and step are worked out once and its pixels step through the
//!   input in fixed point;
//! * a pixel blends four input bytes with 8-bit weights, as a texture unit
//!   does, eight pixels at a time with AVX2 where the CPU has it (the AVX2
//!   and the scalar code give the same bytes, bit for bit: the tests check
//!   it, as rav1e's `check_asm` does);
//! * a 2×2 block's chroma sample sits where the block's four pixels sample
//!   on average (the field is bilinear and the geometry affine, so the
//!   mean of the four is the centre's position the shader computes).
//!
//! [`super::FramePipeline`] does the warps here when the adapter is a CPU
//! and the plain geometry and the skin effects are on the CPU too; a real
//! GPU keeps the shader. The tests check this path against the reference
//! pipeline (`pipeline::reference`).
//!
//! The environment variable `LIVEROOM_CPU_SIMD=scalar`, read once per
//! process (at the first frame warped), forces the scalar code on a CPU
//! with AVX2: to compare the two, or to rule the vector code out.
//!
//! The AVX2 module stays in this file, beside the scalar code it must match
//! bit for bit; the unit tests are in `cpu_warp/tests.rs`.

use super::cpu_skin::span_across;
use super::rows::in_two_halves;
use super::simd::Simd;
use super::uniforms::{crop_bounds, BlockRegion, OutputLayout};
use crate::effects::{EffectPlan, FaceField, FACE_FIELD_SPACING};
use crate::frame::{I420Frame, Plane};
use crate::geometry::GeometryPlan;

/// Output pixels between face-field points.
const SPACING: f32 = FACE_FIELD_SPACING as f32;
/// Fraction bits of an input position in fixed point.
const FRACTION_BITS: u32 = 8;
/// 1.0 in fixed point.
const ONE: i32 = 1 << FRACTION_BITS;
/// The largest input position (fixed point, either sign) a pixel may
/// sample before the clamp to the crop: far outside any picture, and four
/// of them still fit in an `i32` (a chroma position sums four).
const POSITION_LIMIT: f32 = (1 << 28) as f32;

/// The warps of one frame's plan, ready to render over tiles.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuWarp {
    /// Output point → input luma position, in fixed point:
    /// `map_x[0] x + map_x[1] y + map_x[2]`.
    map_x: [f32; 3],
    map_y: [f32; 3],
    /// Sampling bounds (inclusive, pixel centres), as the shader clamps to
    /// the crop: luma, then chroma, `[x0, y0, x1, y1]`.
    luma_bounds: [u32; 4],
    chroma_bounds: [u32; 4],
    /// The rectangles outside which the face field reads as zero
    /// (`face_in` in the shader).
    warp_bounds: [f32; 4],
    mask_bounds: [f32; 4],
    layout: OutputLayout,
    /// The instructions the hot loops use.
    simd: Simd,
}

impl CpuWarp {
    /// Whether this path can do `plan`: one tap per pixel (no scaling down
    /// by more than 1×).
    pub(crate) fn fits(plan: &GeometryPlan) -> bool {
        plan.taps_x == 1 && plan.taps_y == 1
    }

    /// The warps of `effects` through `plan` into `layout`; `None` when
    /// the plan samples several taps per pixel (scaling down), which this
    /// path does not do.
    pub(crate) fn new(
        plan: &GeometryPlan,
        effects: &EffectPlan,
        layout: &OutputLayout,
    ) -> Option<Self> {
        if !Self::fits(plan) {
            return None;
        }
        let (luma_bounds, chroma_bounds) = crop_bounds(plan);
        let fixed = |m: [f32; 3]| m.map(|v| v * ONE as f32);
        Some(Self {
            map_x: fixed(plan.map_x),
            map_y: fixed(plan.map_y),
            luma_bounds,
            chroma_bounds,
            warp_bounds: effects.warp_bounds(),
            mask_bounds: effects.mask_bounds(),
            layout: *layout,
            simd: Simd::detect(),
        })
    }

    /// Renders the warped pixels of `tiles` (8×2-pixel blocks) from `input`
    /// into `out`, a frame of the layout's size and strides; the rest of
    /// `out` is left as it is. The rows are shared between two threads.
    pub(crate) fn render(
        &self,
        input: &I420Frame,
        field: &FaceField,
        tiles: &[BlockRegion],
        out: &mut I420Frame,
    ) {
        let width = self.layout.width;
        let bands = Band::of(tiles, width);
        let (Some(first), Some(last)) = (bands.first(), bands.last()) else {
            return;
        };
        let luma = Source::new(input, Plane::Y, self.luma_bounds, self.simd);
        let chroma = [Plane::U, Plane::V]
            .map(|plane| Source::new(input, plane, self.chroma_bounds, self.simd));
        in_two_halves(out, first.rows.start..last.rows.end, |rows, range| {
            let mut lines = [FieldLine::default(), FieldLine::default()];
            let mut traces = [Trace::default(), Trace::default(), Trace::default()];
            let mut bands = bands.iter().peekable();
            // Bands and halves start on even rows: a pair of rows at a
            // time, the rows of one line of 2×2 blocks.
            for y in range.step_by(2) {
                while bands.next_if(|band| band.rows.end <= y).is_some() {}
                let Some(band) = bands.peek().filter(|band| band.rows.contains(&y)) else {
                    continue;
                };
                // Pixels sample the field in the cells of their blocks'
                // centres (row y + 1): both rows share a cell row.
                for (line, row) in lines.iter_mut().zip([y, y + 1]) {
                    line.load(field, y + 1, row as f32 + 0.5, band.extent());
                }
                for span in &band.spans {
                    let [top, bottom, centres] = &mut traces;
                    for (trace, (line, row)) in [&mut *top, &mut *bottom]
                        .into_iter()
                        .zip(lines.iter().zip([y, y + 1]))
                    {
                        self.trace_pixels(line, row, span.clone(), trace);
                        let start = rows.luma_at(span.start, row);
                        // (The spans lie within the layout's strides; a
                        // frame of other strides is left as it is.)
                        let Some(luma_out) = rows.luma.get_mut(start..start + span.len()) else {
                            continue;
                        };
                        luma.sample(trace, luma_out);
                        // Padding columns past the width repeat the last
                        // pixel.
                        let padding = (width.saturating_sub(span.start) as usize).max(1);
                        if let Some(&last) = luma_out.get(padding - 1) {
                            luma_out[padding..].fill(last);
                        }
                    }
                    centres.block_centres(top, bottom);
                    let start = rows.chroma_at(span.start, y);
                    let count = centres.xs.len();
                    for (source, plane) in chroma.iter().zip([&mut *rows.u, &mut *rows.v]) {
                        if let Some(out) = plane.get_mut(start..start + count) {
                            source.sample(centres, out);
                        }
                    }
                }
            }
        });
    }

    /// The input luma positions (fixed point) of the pixel centres
    /// `columns` of output row `y`, each moved by the face field where it
    /// reads as non-zero (`source_of` in the shader), into `trace`.
    ///
    /// The field's offsets go cell by cell of its grid: a pixel's weights
    /// within its cell are the same in every cell (spans of whole blocks
    /// start on a cell; any other start goes pixel by pixel). Zero outside
    /// the bounds, then the geometry's map to fixed point, eight pixels at
    /// a time with AVX2.
    fn trace_pixels(
        &self,
        line: &FieldLine,
        y: u32,
        columns: std::ops::Range<u32>,
        trace: &mut Trace,
    ) {
        const CELL: usize = FACE_FIELD_SPACING as usize;
        /// Each pixel's weight of its cell's second grid column: its
        /// centre's place in the cell.
        const ACROSS: [f32; CELL] = {
            let mut weights = [0.0; CELL];
            let mut k = 0;
            while k < CELL {
                weights[k] = (k as f32 + 0.5) / SPACING;
                k += 1;
            }
            weights
        };
        let py = y as f32 + 0.5;
        trace.resize(columns.len());
        let whole = if columns.start.is_multiple_of(FACE_FIELD_SPACING) {
            let first_cell = columns.start as usize / CELL;
            let cells = trace
                .dx
                .chunks_exact_mut(CELL)
                .zip(trace.dy.chunks_exact_mut(CELL));
            for (cell, (dx, dy)) in (first_cell..).zip(cells) {
                let (a, b) = line.pair(cell);
                for (k, weight) in ACROSS.iter().enumerate() {
                    dx[k] = a[0] + (b[0] - a[0]) * weight;
                    dy[k] = a[1] + (b[1] - a[1]) * weight;
                }
            }
            columns.len() / CELL * CELL
        } else {
            0
        };
        // Past the last whole cell (never, for spans of whole blocks).
        for (k, x) in (columns.start..columns.end).enumerate().skip(whole) {
            [trace.dx[k], trace.dy[k]] = line.at(x as f32 + 0.5);
        }
        let row = RowMap {
            first: columns.start as f32 + 0.5,
            y: py,
            inside: self.inside_along(py),
            map_x: self.map_x,
            map_y: self.map_y,
            simd: self.simd,
        };
        let done = row.positions_simd(trace);
        for k in done..trace.xs.len() {
            [trace.xs[k], trace.ys[k]] = row.position(k, trace.dx[k], trace.dy[k]);
        }
    }

    /// Where the face field reads as non-zero along output row `y`: the
    /// column spans of the warps' and the mask's bounds there (`face_in`),
    /// an empty span for a rectangle the row misses.
    fn inside_along(&self, y: f32) -> [(f32, f32); 2] {
        [self.warp_bounds, self.mask_bounds].map(|rect| span_across(rect, y))
    }
}

/// The map of one output row's pixels (from column `first`, a pixel
/// centre) into the input, in fixed point.
struct RowMap {
    first: f32,
    y: f32,
    /// Where the face field's offsets apply.
    inside: [(f32, f32); 2],
    map_x: [f32; 3],
    map_y: [f32; 3],
    simd: Simd,
}

impl RowMap {
    /// The input position of pixel `k` moved by the field's offset
    /// (`dx`, `dy`), which applies only inside the bounds.
    fn position(&self, k: usize, dx: f32, dy: f32) -> [i32; 2] {
        let px = self.first + k as f32;
        let inside = self.inside.iter().any(|&(lo, hi)| px >= lo && px <= hi);
        let (dx, dy) = if inside { (dx, dy) } else { (0.0, 0.0) };
        let (qx, qy) = (px + dx, self.y + dy);
        [self.map_x, self.map_y].map(|m| round(m[0] * qx + m[1] * qy + m[2]))
    }

    /// [`RowMap::position`] for as many of `trace`'s pixels as it can do
    /// eight at a time with AVX2; returns how many of the first it did.
    fn positions_simd(&self, trace: &mut Trace) -> usize {
        match self.simd {
            // SAFETY: `Simd::Avx2` means the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { avx2::positions(self, trace) },
            Simd::Scalar => 0,
        }
    }
}

/// To the nearest integer (halves away from zero), without a libm call,
/// within [`POSITION_LIMIT`] (NaN to its low end). The AVX2 code does the
/// same steps, so that both give the same positions bit for bit.
fn round(v: f32) -> i32 {
    // A NaN takes the low limit, as `_mm256_max_ps` gives it.
    let v = match v.is_nan() {
        true => -POSITION_LIMIT,
        false => v.clamp(-POSITION_LIMIT, POSITION_LIMIT),
    };
    (v + 0.5f32.copysign(v)) as i32
}

/// Fixed-point positions along a row, one per output sample.
#[derive(Debug, Default)]
struct Trace {
    xs: Vec<i32>,
    ys: Vec<i32>,
    /// The face field's offsets per sample (output pixels).
    dx: Vec<f32>,
    dy: Vec<f32>,
}

impl Trace {
    fn resize(&mut self, len: usize) {
        self.xs.resize(len, 0);
        self.ys.resize(len, 0);
        self.dx.resize(len, 0.0);
        self.dy.resize(len, 0.0);
    }

    /// The chroma positions of the 2×2 blocks whose rows of luma positions
    /// are `top` and `bottom`: the mean of the block's four, in the
    /// centre-sited chroma plane ((p + 0.5) / 2 - 0.5, `sample_uv` in the
    /// shader).
    fn block_centres(&mut self, top: &Trace, bottom: &Trace) {
        let blocks = |out: &mut Vec<i32>, v: &[i32], w: &[i32]| {
            out.clear();
            out.extend(v.chunks_exact(2).zip(w.chunks_exact(2)).map(|(a, b)| {
                // Four times the mean luma position; the chroma position
                // is half that mean less a quarter pixel: sum / 8 - ONE / 4
                // (rounded to the nearest by the + 4).
                let sum = a[0] + a[1] + b[0] + b[1];
                ((sum + 4) >> 3) - ONE / 4
            }));
        };
        blocks(&mut self.xs, &top.xs, &bottom.xs);
        blocks(&mut self.ys, &top.ys, &bottom.ys);
    }
}

/// One input plane to sample, with its bounds.
struct Source<'a> {
    bytes: &'a [u8],
    stride: usize,
    /// The bounds in fixed point.
    lo: [i32; 2],
    hi: [i32; 2],
    /// The last column and row, as indices.
    last: [usize; 2],
    simd: Simd,
}

impl<'a> Source<'a> {
    fn new(frame: &'a I420Frame, plane: Plane, bounds: [u32; 4], simd: Simd) -> Self {
        // Bounds are pixel indices of a frame: they fit in i32 with room
        // for the fraction.
        let fixed = |v: u32| (v as i32) << FRACTION_BITS;
        Self {
            bytes: frame.plane(plane),
            stride: frame.stride(plane),
            lo: [fixed(bounds[0]), fixed(bounds[1])],
            hi: [fixed(bounds[2]), fixed(bounds[3])],
            last: [bounds[2] as usize, bounds[3] as usize],
            simd,
        }
    }

    /// Bilinear samples at the positions of `trace` (clamped to the
    /// bounds), rounded, into `out`.
    fn sample(&self, trace: &Trace, out: &mut [u8]) {
        let count = out.len().min(trace.xs.len()).min(trace.ys.len());
        let done = self.sample_simd(&trace.xs[..count], &trace.ys[..count], &mut out[..count]);
        for (k, byte) in out.iter_mut().enumerate().take(count).skip(done) {
            *byte = self.sample_one(trace.xs[k], trace.ys[k]);
        }
    }

    /// One bilinear sample.
    fn sample_one(&self, x: i32, y: i32) -> u8 {
        let x = x.clamp(self.lo[0], self.hi[0]);
        let y = y.clamp(self.lo[1], self.hi[1]);
        // Clamped to non-negative bounds: the shifts give indices.
        let (x0, y0) = ((x >> FRACTION_BITS) as usize, (y >> FRACTION_BITS) as usize);
        let (tx, ty) = ((x & (ONE - 1)) as u32, (y & (ONE - 1)) as u32);
        let x1 = (x0 + 1).min(self.last[0]);
        let y1 = (y0 + 1).min(self.last[1]);
        let at = |x: usize, y: usize| {
            u32::from(self.bytes.get(y * self.stride + x).copied().unwrap_or(0))
        };
        let one = ONE as u32;
        let upper = at(x0, y0) * (one - tx) + at(x1, y0) * tx;
        let lower = at(x0, y1) * (one - tx) + at(x1, y1) * tx;
        let blend = upper * (one - ty) + lower * ty;
        ((blend + (1 << (2 * FRACTION_BITS - 1))) >> (2 * FRACTION_BITS)) as u8
    }

    /// Samples as many of the positions as it can eight at a time with
    /// AVX2 (all but a tail of fewer than eight, and any eight that would
    /// read past the plane's end); returns how many of the first it did.
    fn sample_simd(&self, xs: &[i32], ys: &[i32], out: &mut [u8]) -> usize {
        match self.simd {
            // SAFETY: `Simd::Avx2` means the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { avx2::sample(self, xs, ys, out) },
            Simd::Scalar => {
                let _ = (xs, ys, out);
                0
            }
        }
    }
}

/// A band of tiles: the output pixel rows of one row of tiles, and the
/// pixel columns they cover there, adjacent tiles merged.
#[derive(Debug, Clone, PartialEq)]
struct Band {
    rows: std::ops::Range<u32>,
    spans: Vec<std::ops::Range<u32>>,
}

impl Band {
    /// The bands of `tiles` (blocks of 8×2 pixels; tiles of one band share
    /// their rows), top to bottom; a span reaches past `width` only as far
    /// as the block holding the last column.
    fn of(tiles: &[BlockRegion], width: u32) -> Vec<Self> {
        let mut tiles = tiles.to_vec();
        tiles.sort_by_key(|t| (t.y0, t.x0));
        let mut bands: Vec<Band> = Vec::new();
        for tile in tiles {
            let rows = 2 * tile.y0..2 * tile.y1;
            let columns = 8 * tile.x0..(8 * tile.x1).min(width.next_multiple_of(8));
            if columns.is_empty() || rows.is_empty() {
                continue;
            }
            match bands.last_mut() {
                Some(band) if band.rows == rows => match band.spans.last_mut() {
                    Some(span) if span.end == columns.start => span.end = columns.end,
                    _ => band.spans.push(columns),
                },
                _ => bands.push(Band {
                    rows,
                    spans: vec![columns],
                }),
            }
        }
        bands
    }

    /// The first and the end pixel column of the band's spans.
    fn extent(&self) -> [u32; 2] {
        let start = self.spans.first().map_or(0, |s| s.start);
        let end = self.spans.last().map_or(start, |s| s.end);
        [start, end]
    }
}

/// One output row's face field: the warp offsets of each grid column,
/// interpolated down between the grid rows of a cell row (as `face_cell`
/// and `face_in` do in the shader).
#[derive(Debug, Default)]
struct FieldLine {
    /// First grid column held.
    first: usize,
    /// `[offset x, offset y]` per grid column from `first`.
    offsets: Vec<[f32; 2]>,
    /// The grid's last column.
    last_column: usize,
}

impl FieldLine {
    /// The field along output row `y`, in the cell row holding output row
    /// `cell_y` (a block centre's), over pixel columns `span`.
    fn load(&mut self, field: &FaceField, cell_y: u32, y: f32, span: [u32; 2]) {
        let last_row = field.rows.saturating_sub(1);
        let grid = |p: f32| (p / SPACING).clamp(0.0, last_row as f32);
        // The cell's first row, kept one short of the last (`face_cell`).
        let j0 = (cell_y / FACE_FIELD_SPACING).min(last_row.saturating_sub(1));
        let j1 = (j0 + 1).min(last_row);
        let ty = (grid(y) - j0 as f32).clamp(0.0, 1.0);
        self.last_column = field.columns.saturating_sub(1) as usize;
        self.first = (span[0] / FACE_FIELD_SPACING) as usize;
        let end = ((span[1] / FACE_FIELD_SPACING) as usize + 2).min(self.last_column + 1);
        let columns = field.columns as usize;
        let (above, below) = (j0 as usize * columns, j1 as usize * columns);
        self.offsets.clear();
        self.offsets
            .extend((self.first..end.max(self.first)).map(|i| {
                match (field.points.get(above + i), field.points.get(below + i)) {
                    (Some(a), Some(b)) => [a[0] + (b[0] - a[0]) * ty, a[1] + (b[1] - a[1]) * ty],
                    _ => [0.0; 2],
                }
            }));
    }

    /// The offsets at point column `x`, the grid clamped at its edges.
    fn at(&self, x: f32) -> [f32; 2] {
        let last = self.last_column as f32;
        let g = (x / SPACING).clamp(0.0, last);
        let cell = (g as usize).min(self.last_column.saturating_sub(1));
        let (a, b) = self.pair(cell);
        let t = (g - cell as f32).clamp(0.0, 1.0);
        [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
    }

    /// The offsets at grid columns `cell` and `cell + 1`; past the grid's
    /// last cell both are its last column's (the shader clamps the cell and
    /// the weight); zero where not loaded.
    fn pair(&self, cell: usize) -> ([f32; 2], [f32; 2]) {
        let at = |column: usize| {
            let slot = column.wrapping_sub(self.first);
            self.offsets.get(slot).copied().unwrap_or_default()
        };
        if cell + 1 > self.last_column {
            let last = at(self.last_column);
            return (last, last);
        }
        (at(cell), at(cell + 1))
    }
}

/// The AVX2 versions of the hot loops: eight samples at a time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{RowMap, Source, Trace, FRACTION_BITS, ONE, POSITION_LIMIT};
    use std::arch::x86_64::*;

    /// [`RowMap::positions_simd`]: eight pixels at a time, with the scalar
    /// code's steps in the same order (so the same bits): the pixel's
    /// column, the map, then [`super::round`] (clamp, add half with the
    /// value's sign, truncate).
    #[target_feature(enable = "avx2")]
    pub(super) fn positions(row: &RowMap, trace: &mut Trace) -> usize {
        let count = trace
            .xs
            .len()
            .min(trace.ys.len())
            .min(trace.dx.len())
            .min(trace.dy.len());
        let splat = _mm256_set1_ps;
        let (y, lo0, hi0, lo1, hi1) = (
            splat(row.y),
            splat(row.inside[0].0),
            splat(row.inside[0].1),
            splat(row.inside[1].0),
            splat(row.inside[1].1),
        );
        let [mx0, mx1, mx2] = row.map_x.map(|v| splat(v));
        let [my0, my1, my2] = row.map_y.map(|v| splat(v));
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let first = splat(row.first);
        let (limit, negative_limit) = (splat(POSITION_LIMIT), splat(-POSITION_LIMIT));
        let (half, sign) = (splat(0.5), splat(-0.0));
        let mut done = 0;
        while done + 8 <= count {
            // `first + k as f32`, k = done + lane (both exact as f32).
            let Ok(index) = i32::try_from(done) else {
                break;
            };
            let k = _mm256_add_epi32(_mm256_set1_epi32(index), lanes);
            let px = _mm256_add_ps(first, _mm256_cvtepi32_ps(k));
            let within = |lo, hi| {
                _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(px, lo),
                    _mm256_cmp_ps::<_CMP_LE_OQ>(px, hi),
                )
            };
            let inside = _mm256_or_ps(within(lo0, hi0), within(lo1, hi1));
            let (dx, dy) = (&trace.dx[done..done + 8], &trace.dy[done..done + 8]);
            // SAFETY: each slice holds eight f32s, the 32 bytes read.
            let (dx, dy) = unsafe { (_mm256_loadu_ps(dx.as_ptr()), _mm256_loadu_ps(dy.as_ptr())) };
            let qx = _mm256_add_ps(px, _mm256_and_ps(dx, inside));
            let qy = _mm256_add_ps(y, _mm256_and_ps(dy, inside));
            let map = |m0, m1, m2| {
                let v = _mm256_add_ps(
                    _mm256_add_ps(_mm256_mul_ps(m0, qx), _mm256_mul_ps(m1, qy)),
                    m2,
                );
                // `round`: a NaN takes the low limit (max returns its second
                // operand then), halves go away from zero, then truncation.
                let v = _mm256_min_ps(_mm256_max_ps(v, negative_limit), limit);
                let signed_half = _mm256_or_ps(_mm256_and_ps(v, sign), half);
                _mm256_cvttps_epi32(_mm256_add_ps(v, signed_half))
            };
            let (xs, ys) = (map(mx0, mx1, mx2), map(my0, my1, my2));
            let (x_out, y_out) = (&mut trace.xs[done..done + 8], &mut trace.ys[done..done + 8]);
            // SAFETY: each slice holds eight i32s, the 32 bytes written.
            unsafe {
                _mm256_storeu_si256(x_out.as_mut_ptr().cast(), xs);
                _mm256_storeu_si256(y_out.as_mut_ptr().cast(), ys);
            }
            done += 8;
        }
        done
    }

    #[target_feature(enable = "avx2")]
    /// [`Source::sample_simd`]: bilinear samples eight at a time, two
    /// gathers of four bytes (a pixel and its right-hand neighbour, in two
    /// rows) per eight.
    pub(super) fn sample(source: &Source<'_>, xs: &[i32], ys: &[i32], out: &mut [u8]) -> usize {
        // A gather reads the four bytes from each index: the indices go up
        // to the plane's length less four, so i32 must hold that.
        let Some(max_index) = source
            .bytes
            .len()
            .checked_sub(4)
            .and_then(|m| i32::try_from(m).ok())
        else {
            return 0;
        };
        let (Ok(stride), Ok(last_y)) =
            (i32::try_from(source.stride), i32::try_from(source.last[1]))
        else {
            return 0;
        };
        let splat = _mm256_set1_epi32;
        let (lo_x, lo_y, hi_x, hi_y) = (
            splat(source.lo[0]),
            splat(source.lo[1]),
            splat(source.hi[0]),
            splat(source.hi[1]),
        );
        let (stride, last_y, max_index) = (splat(stride), splat(last_y), splat(max_index));
        let (fraction, one, byte) = (splat(ONE - 1), splat(1), splat(0xff));
        let half = splat(1 << (2 * FRACTION_BITS - 1));
        let count = out.len().min(xs.len()).min(ys.len());
        let mut done = 0;
        while done + 8 <= count {
            let (x8, y8) = (&xs[done..done + 8], &ys[done..done + 8]);
            // SAFETY: each slice holds eight i32s, the 32 bytes read.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(x8.as_ptr().cast()),
                    _mm256_loadu_si256(y8.as_ptr().cast()),
                )
            };
            let x = _mm256_min_epi32(_mm256_max_epi32(x, lo_x), hi_x);
            let y = _mm256_min_epi32(_mm256_max_epi32(y, lo_y), hi_y);
            let (x0, tx) = (
                _mm256_srai_epi32::<{ FRACTION_BITS as i32 }>(x),
                _mm256_and_si256(x, fraction),
            );
            let (y0, ty) = (
                _mm256_srai_epi32::<{ FRACTION_BITS as i32 }>(y),
                _mm256_and_si256(y, fraction),
            );
            let y1 = _mm256_min_epi32(_mm256_add_epi32(y0, one), last_y);
            let upper_at = _mm256_add_epi32(_mm256_mullo_epi32(y0, stride), x0);
            let lower_at = _mm256_add_epi32(_mm256_mullo_epi32(y1, stride), x0);
            let beyond = _mm256_or_si256(
                _mm256_cmpgt_epi32(upper_at, max_index),
                _mm256_cmpgt_epi32(lower_at, max_index),
            );
            if _mm256_movemask_epi8(beyond) != 0 {
                // Near the plane's very end: the rest one at a time.
                break;
            }
            // SAFETY: every index is at most the plane's length less four
            // (checked just above; none is negative, the positions being
            // clamped to the bounds), so each four-byte read lies within
            // `bytes`.
            let (upper, lower) = unsafe {
                let base = source.bytes.as_ptr().cast::<i32>();
                (
                    _mm256_i32gather_epi32::<1>(base, upper_at),
                    _mm256_i32gather_epi32::<1>(base, lower_at),
                )
            };
            // The first two bytes of each: the pixel and its right-hand
            // neighbour (whose weight is zero where x is at its bound).
            let blend_across = |pair: __m256i| {
                let left = _mm256_and_si256(pair, byte);
                let right = _mm256_and_si256(_mm256_srli_epi32::<8>(pair), byte);
                let difference = _mm256_sub_epi32(right, left);
                _mm256_add_epi32(
                    _mm256_slli_epi32::<{ FRACTION_BITS as i32 }>(left),
                    _mm256_mullo_epi32(difference, tx),
                )
            };
            let (upper, lower) = (blend_across(upper), blend_across(lower));
            let blend = _mm256_add_epi32(
                _mm256_slli_epi32::<{ FRACTION_BITS as i32 }>(upper),
                _mm256_mullo_epi32(_mm256_sub_epi32(lower, upper), ty),
            );
            let value =
                _mm256_srli_epi32::<{ 2 * FRACTION_BITS as i32 }>(_mm256_add_epi32(blend, half));
            // Eight values of 0..=255 to bytes: each 128-bit lane packs its
            // four into its first four bytes.
            let words = _mm256_packus_epi32(value, value);
            let bytes = _mm256_packus_epi16(words, words);
            let low = _mm256_extract_epi32::<0>(bytes) as u32;
            let high = _mm256_extract_epi32::<4>(bytes) as u32;
            out[done..done + 4].copy_from_slice(&low.to_le_bytes());
            out[done + 4..done + 8].copy_from_slice(&high.to_le_bytes());
            done += 8;
        }
        done
    }
}

#[cfg(test)]
mod tests;
