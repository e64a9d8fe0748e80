//! The colour filter precomputed in YUV, for the CPU route: what a
//! look-up table does to an 8-bit video-range YUV colour, as a change of
//! Y, U and V, sampled once per table at every luma level and on a grid of
//! chroma (every [`CHROMA_STEP`] levels of U and V), then read per pixel
//! with one bilinear step in U and V.
//!
//! Per pixel that is four table reads and a few integer multiply-adds (on
//! x86-64 one SSE2 `pmaddwd` per pair of grid points for a whole 2×2 block),
//! where the exact maths (`pipeline::finish::filtered`: YUV → RGB, a
//! trilinear look-up of eight cube points, RGB → YUV) costs some fifty
//! floating-point steps. The filter's strength only scales the change
//! (the blend and both colour conversions are linear), so one table
//! serves every strength. The grid follows the exact maths within a level
//! on smooth looks; `tests` below and `tests/effects_quality.rs` measure it.

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

/// The rows of changes (256 lumas each) of the four grid points around a
/// block's chroma.
type GridRows<'a> = [&'a [[i16; 4]; 256]; 4];

/// One 2×2 block's chroma and its place in the table, for
/// [`LutYuvTable::block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChromaCell {
    /// Index of the grid point at or below the block's (U, V).
    base: usize,
    /// Bilinear weights of the four grid points around it times the
    /// strength, summing to `CHROMA_STEP²` × the strength's fixed point:
    /// (u, v), (u, v + 1), (u + 1, v), (u + 1, v + 1). At most 2¹², so a
    /// weight fits an `i16` and a weighted change (at most 2¹⁵ × 2¹²)
    /// an `i32`.
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

    /// Where a block of chroma `(u, v)` reads the table at `strength`.
    #[inline]
    pub(crate) fn cell(u: u8, v: u8, strength: FixedStrength) -> ChromaCell {
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
            ]
            .map(|weight| weight * strength.0),
        }
    }

    /// Where a block of chroma `(u, v)` reads the table at `strength`:
    /// the weights of the four grid points around it and their rows of
    /// changes (256 lumas each), in the same order. The cell lies inside
    /// the table for every `(u, v)`, so this is never `None`; if it were,
    /// the block would stay as it is.
    #[inline]
    fn rows(&self, u: u8, v: u8, strength: FixedStrength) -> Option<([i32; 4], GridRows<'_>)> {
        let cell = Self::cell(u, v, strength);
        let row = |offset: usize| {
            let start = cell.base + offset;
            self.changes.get(start..start + 256)?.try_into().ok()
        };
        Some((
            cell.weights,
            [
                row(0)?,
                row(256)?,
                row(NODES * 256)?,
                row((NODES + 1) * 256)?,
            ],
        ))
    }

    /// Filters one 2×2 block: its lumas `lumas[..count]` (1, 2 or 4) and
    /// its chroma `u`, `v`, at `strength`. The lumas move by their own
    /// change; the chroma by the mean change of the block's pixels.
    /// Whole blocks take [`LutYuvTable::whole_block`]'s vector form on
    /// x86-64, with the same result.
    #[inline]
    pub(crate) fn block(
        &self,
        lumas: [u8; 4],
        count: usize,
        u: u8,
        v: u8,
        strength: FixedStrength,
    ) -> ([u8; 4], u8, u8) {
        #[cfg(target_arch = "x86_64")]
        if count == 4 {
            // SAFETY: SSE2 is part of every x86-64 processor (the target's
            // baseline), the one feature `whole_block` enables.
            return unsafe { self.whole_block(lumas, u, v, strength) };
        }
        self.block_scalar(lumas, count, u, v, strength)
    }

    /// [`LutYuvTable::block`] one value at a time: every platform's path,
    /// and the one the vector form is checked against.
    fn block_scalar(
        &self,
        mut lumas: [u8; 4],
        count: usize,
        u: u8,
        v: u8,
        strength: FixedStrength,
    ) -> ([u8; 4], u8, u8) {
        let Some((weights, rows)) = self.rows(u, v, strength) else {
            return (lumas, u, v);
        };
        // A block has 1, 2 or 4 pixels: the mean is a shift.
        let count_bits = count.clamp(1, 4).ilog2();
        let count = 1 << count_bits;
        let mut chroma = [0i32; 2];
        for luma in &mut lumas[..count] {
            let mut change = [0i32; 3];
            for (row, weight) in rows.iter().zip(weights) {
                let entry = row[usize::from(*luma)];
                for (sum, value) in change.iter_mut().zip(entry) {
                    *sum += i32::from(value) * weight;
                }
            }
            *luma = moved(*luma, change[0], 0);
            chroma[0] += change[1];
            chroma[1] += change[2];
        }
        (
            lumas,
            moved(u, chroma[0], count_bits),
            moved(v, chroma[1], count_bits),
        )
    }

    /// A whole 2×2 block (`lumas` top left, top right, bottom left,
    /// bottom right) with SSE2 (every x86-64 has it): per luma the four
    /// grid points' `(ΔY, ΔU, ΔV)` interleaved in pairs and multiplied by
    /// their weights with one `pmaddwd` per pair. Integer maths in the
    /// same order of sums as [`LutYuvTable::block_scalar`], so the same
    /// bytes (checked by a test).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    #[inline]
    fn whole_block(
        &self,
        lumas: [u8; 4],
        u: u8,
        v: u8,
        strength: FixedStrength,
    ) -> ([u8; 4], u8, u8) {
        use std::arch::x86_64::*;
        let Some(([w0, w1, w2, w3], rows)) = self.rows(u, v, strength) else {
            return (lumas, u, v);
        };
        // Weights as i16 pairs: (w0, w1) and (w2, w3) in every 32-bit lane.
        let pair = |low: i32, high: i32| _mm_set1_epi32((high << 16) | (low & 0xffff));
        let (w01, w23) = (pair(w0, w1), pair(w2, w3));
        let entry = |row: &[[i16; 4]; 256], luma: u8| {
            let bytes: [u8; 8] = bytemuck::cast(row[usize::from(luma)]);
            _mm_cvtsi64_si128(i64::from_le_bytes(bytes))
        };
        // [ΔY, ΔU, ΔV, 0] of one luma, weighted.
        let change = |luma: u8| {
            let e01 = _mm_unpacklo_epi16(entry(rows[0], luma), entry(rows[1], luma));
            let e23 = _mm_unpacklo_epi16(entry(rows[2], luma), entry(rows[3], luma));
            _mm_add_epi32(_mm_madd_epi16(e01, w01), _mm_madd_epi16(e23, w23))
        };
        let [c0, c1, c2, c3] = lumas.map(change);
        // The four ΔY side by side, and the sums of ΔU and ΔV.
        let luma_changes =
            _mm_unpacklo_epi64(_mm_unpacklo_epi32(c0, c1), _mm_unpacklo_epi32(c2, c3));
        let sums = _mm_add_epi32(_mm_add_epi32(c0, c1), _mm_add_epi32(c2, c3));
        let round = |changes: __m128i, extra_bits: i32| {
            _mm_add_epi32(
                changes,
                _mm_set1_epi32(1 << (SHIFT as i32 + extra_bits - 1)),
            )
        };
        let levels = _mm_set_epi32(
            i32::from(lumas[3]),
            i32::from(lumas[2]),
            i32::from(lumas[1]),
            i32::from(lumas[0]),
        );
        let new_lumas = _mm_add_epi32(
            levels,
            _mm_srai_epi32::<{ SHIFT as i32 }>(round(luma_changes, 0)),
        );
        let new_chroma = _mm_add_epi32(
            _mm_set_epi32(0, i32::from(v), i32::from(u), 0),
            _mm_srai_epi32::<{ SHIFT as i32 + 2 }>(round(sums, 2)),
        );
        // Saturating packs clamp to 0..255: lumas in bytes 0..4, the
        // chroma in bytes 5 and 6.
        let packed = _mm_packus_epi16(_mm_packs_epi32(new_lumas, new_chroma), _mm_setzero_si128());
        let bytes = _mm_cvtsi128_si64(packed).to_le_bytes();
        ([bytes[0], bytes[1], bytes[2], bytes[3]], bytes[5], bytes[6])
    }
}

/// Bits a weighted change is shifted down by: its fixed point, the
/// weights' and the strength's.
const SHIFT: u32 = SCALE_BITS + WEIGHT_BITS + STRENGTH_BITS;

/// `level` moved by the sum of `2^count_bits` weighted changes (see
/// [`ChromaCell::weights`]) over their count, rounded (halves up) and
/// clamped to 8 bits.
#[inline]
fn moved(level: u8, change: i32, count_bits: u32) -> u8 {
    let shift = SHIFT + count_bits;
    // |change| ≤ 4 × 2²⁷: within i32.
    let moved = i32::from(level) + ((change + (1 << (shift - 1))) >> shift);
    moved.clamp(0, 255) as u8
}

/// A filter strength (0..1) in fixed point, for [`LutYuvTable::block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedStrength(i32);

impl FixedStrength {
    /// `strength` clamped to 0..1.
    pub(crate) fn new(strength: f32) -> Self {
        Self((strength.clamp(0.0, 1.0) * (1 << STRENGTH_BITS) as f32).round() as i32)
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

    /// The SSE2 form of a whole block gives the scalar form's bytes, for
    /// every chroma pair, lumas spread over the range (edges included)
    /// and several strengths.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_blocks_match_scalar_blocks() {
        let lut = Lut::open(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/luts/film.png"),
        )
        .unwrap_or_else(|_| Lut::from_fn(|[r, g, b]| [g, b * 0.8 + 0.1, r]));
        let table = LutYuvTable::new(&lut);
        let mut state = 0x9e37_79b9_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let mut checked = 0;
        for strength in [1.0f32, 0.5, 0.13, 0.0] {
            let fixed = FixedStrength::new(strength);
            for u in 0..=255u8 {
                for v in 0..=255u8 {
                    let lumas = match (u32::from(u) + u32::from(v)) % 3 {
                        0 => [0, 255, 1, 254],
                        _ => next().to_le_bytes(),
                    };
                    // SAFETY: SSE2 is x86-64's baseline.
                    let vector = unsafe { table.whole_block(lumas, u, v, fixed) };
                    assert_eq!(
                        vector,
                        table.block_scalar(lumas, 4, u, v, fixed),
                        "lumas {lumas:?}, u {u}, v {v}, strength {strength}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 65536);
    }

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
