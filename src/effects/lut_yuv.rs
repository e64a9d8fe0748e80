//! The colour filter precomputed in YUV, for the CPU route: what a
//! look-up table does to an 8-bit video-range YUV colour, as a change of
//! Y, U and V, sampled once per table at every luma level and on a grid of
//! chroma (every [`CHROMA_STEP`] levels of U and V), then read per pixel
//! with one bilinear step in U and V.
//!
//! Per pixel that is four table reads and a few integer multiply-adds,
//! where the exact maths (`pipeline::finish::filtered`: YUV → RGB, a
//! trilinear look-up of eight cube points, RGB → YUV) costs some fifty
//! floating-point steps. The filter's strength only scales the change
//! (the blend and both colour conversions are linear), so one table
//! serves every strength. The grid follows the exact maths within a level
//! on smooth looks; `tests` below and `tests/effects_lut.rs` measure it.

use super::Lut;
use crate::color::ColorMatrix;

/// Chroma levels between the table's grid points (a power of two).
pub(crate) const CHROMA_STEP: u32 = 4;
const STEP_SHIFT: u32 = CHROMA_STEP.trailing_zeros();
/// Grid points per chroma axis: 0, 4, …, 252 and 256 (read as 255).
const NODES: usize = (256 / CHROMA_STEP) as usize + 1;
/// The table's fixed point: a change of one level is stored as `SCALE`.
const SCALE_BITS: u32 = 6;
const SCALE: f32 = (1 << SCALE_BITS) as f32;
/// Bits of the bilinear weights' product (`CHROMA_STEP²`).
const WEIGHT_BITS: u32 = 2 * STEP_SHIFT;
/// Bits of the strength's fixed point.
const STRENGTH_BITS: u32 = 8;

/// The change a look-up table makes to each YUV colour of the grid:
/// `(ΔY, ΔU, ΔV)` in 1/[`SCALE`] levels at full strength, indexed
/// `(u node × NODES + v node) × 256 + y`.
pub(crate) struct LutYuvTable {
    changes: Vec<[i16; 4]>,
}

impl std::fmt::Debug for LutYuvTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LutYuvTable").finish_non_exhaustive()
    }
}

/// One 2×2 block's chroma and its place in the table, for
/// [`LutYuvTable::block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChromaCell {
    /// Index of the grid point at or below the block's (U, V).
    base: usize,
    /// Bilinear weights of the four grid points around it, summing to
    /// `CHROMA_STEP²`: (u, v), (u, v + 1), (u + 1, v), (u + 1, v + 1).
    weights: [i32; 4],
}

impl LutYuvTable {
    /// The table of `lut` under BT.601 video range (the pipeline's
    /// matrix): ~1.1 million exact evaluations, about 0.1 s.
    pub(crate) fn new(lut: &Lut) -> Self {
        let matrix = ColorMatrix::bt601_video_range();
        let mut changes = vec![[0i16; 4]; NODES * NODES * 256];
        let level = |node: usize| ((node as u32 * CHROMA_STEP).min(255)) as f32 / 255.0;
        let fixed = |delta: f32| (delta * 255.0 * SCALE).round().clamp(-32767.0, 32767.0) as i16;
        for un in 0..NODES {
            for vn in 0..NODES {
                let row = (un * NODES + vn) * 256;
                for (y, change) in changes[row..row + 256].iter_mut().enumerate() {
                    let yuv = [y as f32 / 255.0, level(un), level(vn)];
                    let out = filtered_full(&matrix, lut, yuv);
                    *change = [
                        fixed(out[0] - yuv[0]),
                        fixed(out[1] - yuv[1]),
                        fixed(out[2] - yuv[2]),
                        0,
                    ];
                }
            }
        }
        Self { changes }
    }

    /// Where a block of chroma `(u, v)` reads the table.
    pub(crate) fn cell(u: u8, v: u8) -> ChromaCell {
        let (u, v) = (u32::from(u), u32::from(v));
        let (fu, fv) = (
            (u & (CHROMA_STEP - 1)) as i32,
            (v & (CHROMA_STEP - 1)) as i32,
        );
        let step = CHROMA_STEP as i32;
        ChromaCell {
            base: ((u >> STEP_SHIFT) as usize * NODES + (v >> STEP_SHIFT) as usize) * 256,
            weights: [
                (step - fu) * (step - fv),
                (step - fu) * fv,
                fu * (step - fv),
                fu * fv,
            ],
        }
    }

    /// The four grid points' rows of changes around `cell` (256 lumas
    /// each), in the order of its weights.
    #[inline]
    fn rows(&self, cell: &ChromaCell) -> Option<[&[[i16; 4]; 256]; 4]> {
        let row = |offset: usize| {
            let start = cell.base + offset;
            self.changes.get(start..start + 256)?.try_into().ok()
        };
        Some([
            row(0)?,
            row(256)?,
            row(NODES * 256)?,
            row((NODES + 1) * 256)?,
        ])
    }

    /// Filters one 2×2 block: its lumas `lumas[..count]` (1 to 4) and its
    /// chroma `u`, `v`, at `strength` (0..1). The lumas move by their own
    /// change; the chroma by the mean change of the block's pixels.
    #[inline]
    pub(crate) fn block(
        &self,
        mut lumas: [u8; 4],
        count: usize,
        u: u8,
        v: u8,
        strength: FixedStrength,
    ) -> ([u8; 4], u8, u8) {
        let cell = Self::cell(u, v);
        // `cell` lies inside the table for every (u, v): this is never
        // `None`; if it were, the block would stay as it is.
        let Some(rows) = self.rows(&cell) else {
            return (lumas, u, v);
        };
        let count = count.clamp(1, 4);
        let mut chroma = [0i32; 2];
        for luma in &mut lumas[..count] {
            // Four lanes (the last unused) so that each grid point is one
            // vector multiply-add.
            let mut change = [0i32; 4];
            for (row, weight) in rows.iter().zip(cell.weights) {
                let entry = row[usize::from(*luma)];
                for (sum, value) in change.iter_mut().zip(entry) {
                    *sum += i32::from(value) * weight;
                }
            }
            *luma = strength.moved(*luma, change[0]);
            chroma[0] += change[1];
            chroma[1] += change[2];
        }
        // A whole block (the common case) divides by a shift.
        let mean = |sum: i32| match count {
            4 => (sum + 2) >> 2,
            n => sum / n as i32,
        };
        (
            lumas,
            strength.moved(u, mean(chroma[0])),
            strength.moved(v, mean(chroma[1])),
        )
    }
}

/// A filter strength (0..1) in fixed point, for [`LutYuvTable::block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedStrength(i32);

impl FixedStrength {
    /// `strength` clamped to 0..1.
    pub(crate) fn new(strength: f32) -> Self {
        Self((strength.clamp(0.0, 1.0) * (1 << STRENGTH_BITS) as f32).round() as i32)
    }

    /// `level` moved by `change` (1/SCALE levels × `CHROMA_STEP²`) times
    /// the strength, rounded and clamped to 8 bits.
    #[inline]
    fn moved(self, level: u8, change: i32) -> u8 {
        const SHIFT: u32 = SCALE_BITS + WEIGHT_BITS + STRENGTH_BITS;
        // |change| < 2²¹ (a change of at most 2¹⁵ times weights summing to
        // 2⁴), times a strength of at most 2⁸: within i32.
        let moved = i32::from(level) + ((change * self.0 + (1 << (SHIFT - 1))) >> SHIFT);
        moved.clamp(0, 255) as u8
    }
}

/// The exact filter at full strength (see `pipeline::finish::filtered`).
fn filtered_full(matrix: &ColorMatrix, lut: &Lut, yuv: [f32; 3]) -> [f32; 3] {
    let rgb = matrix.yuv_to_rgb(yuv);
    let clamped = rgb.map(|c| c.clamp(0.0, 1.0));
    let looked = lut.apply(clamped);
    matrix.rgb_to_yuv([
        rgb[0] + looked[0] - clamped[0],
        rgb[1] + looked[1] - clamped[1],
        rgb[2] + looked[2] - clamped[2],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table against the exact maths over every luma and a spread of
    /// chroma, on a strongly coloured look: within a level, mostly exact.
    #[test]
    fn table_follows_the_exact_filter() {
        let lut = Lut::from_fn(|[r, g, b]| {
            let grey = 0.3 * r + 0.59 * g + 0.11 * b;
            [
                (grey * 1.1 + 0.05).min(1.0),
                grey * 0.95,
                (grey * 0.75 + b * 0.1).min(1.0),
            ]
        });
        let table = LutYuvTable::new(&lut);
        let matrix = ColorMatrix::bt601_video_range();
        let mut worst = 0i32;
        let mut worst_in = 0i32;
        let mut off = 0usize;
        let mut total = 0usize;
        for strength in [1.0f32, 0.35] {
            let fixed = FixedStrength::new(strength);
            for u in (16u8..=240).step_by(7) {
                for v in (16u8..=240).step_by(5) {
                    for y in (16u8..=235).step_by(3) {
                        let (lumas, u_out, v_out) = table.block([y; 4], 4, u, v, fixed);
                        let yuv = [y, u, v].map(|c| f32::from(c) / 255.0);
                        let rgb = matrix.yuv_to_rgb(yuv);
                        let clamped = rgb.map(|c| c.clamp(0.0, 1.0));
                        let looked = lut.apply(clamped);
                        let exact = matrix.rgb_to_yuv(
                            [0, 1, 2].map(|k| rgb[k] + (looked[k] - clamped[k]) * strength),
                        );
                        let in_gamut = rgb.iter().all(|c| (0.0..=1.0).contains(c));
                        for (got, want) in [lumas[0], u_out, v_out].iter().zip(exact) {
                            let diff =
                                (i32::from(*got) - i32::from(crate::color::to_u8(want))).abs();
                            if in_gamut {
                                worst_in = worst_in.max(diff);
                            }
                            worst = worst.max(diff);
                            off += usize::from(diff > 0);
                            total += 1;
                        }
                    }
                }
            }
        }
        eprintln!("table vs exact: worst {worst} levels ({worst_in} in gamut), {off} of {total} samples off");
        assert!(
            worst <= 1 && worst_in <= 1,
            "worst difference {worst} levels"
        );
        assert!(off * 10 < total, "{off} of {total} samples off by a level");
    }
}
