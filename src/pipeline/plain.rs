//! The plain geometry on the CPU: crop, zoom, mirror and bilinear scale of
//! an I420 frame with no effect, the same sampling as the geometry shader's
//! plain variant (one tap per pixel), in fixed point.
//!
//! On a software Vulkan driver (lavapipe) the shader's texture sampling
//! costs about 7 ms of CPU per 720×1280 frame; this costs about 1.7 ms on
//! one core. When the adapter is a CPU, [`super::FramePipeline`] uses it for
//! a frame that needs nothing but geometry, and as the base under the
//! blocks the GPU computes for the effects; a real GPU keeps the shader.
//! The weights are in 1/1024ths, so results stay within one level of the
//! shader and of the reference.
//!
//! The map from output to input is separable (no rotation), so each output
//! column and row has one pair of input taps and a weight, computed once
//! per frame; each input row needed is interpolated across once, and each
//! output row blends two of those.

use crate::frame::{FrameError, I420Frame, Plane};
use crate::geometry::GeometryPlan;

use super::simd::Simd;
use super::uniforms::{crop_bounds, OutputLayout};

/// Fixed-point weight of 1.0.
const ONE: u32 = 1024;
/// Half of 1 << 20: rounding of a row blend of two column blends, each
/// weighted in 1/1024ths.
const HALF: u32 = 1 << 19;

/// Two neighbouring input samples and the weight of the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tap {
    first: u32,
    second: u32,
    weight: u32,
}

impl Tap {
    /// The taps of a bilinear sample at pixel-centre position `pos`,
    /// clamped to `lo..=hi` (as the shader clamps to the crop).
    fn at(pos: f32, lo: u32, hi: u32) -> Self {
        let p = pos.clamp(lo as f32, hi as f32);
        let base = p.floor();
        // `p` lies within lo..=hi, so `base` converts exactly.
        let first = base as u32;
        Self {
            first,
            second: (first + 1).min(hi),
            weight: ((p - base) * ONE as f32).round() as u32,
        }
    }
}

/// The taps of one plane: per output column and per output row.
#[derive(Debug, Clone)]
struct PlaneTaps {
    columns: Vec<Tap>,
    rows: Vec<Tap>,
}

/// The plain geometry of one frame size and plan, ready to render.
#[derive(Debug, Clone)]
pub(crate) struct PlainScaler {
    layout: OutputLayout,
    luma: PlaneTaps,
    chroma: PlaneTaps,
}

impl PlainScaler {
    /// Whether this path can do `plan`: one tap per pixel (no scaling down
    /// by more than 1×) and a separable map (no rotation).
    pub(crate) fn fits(plan: &GeometryPlan) -> bool {
        let separable = plan.map_x[1] == 0.0 && plan.map_y[0] == 0.0;
        plan.taps_x == 1 && plan.taps_y == 1 && separable
    }

    /// The scaler for `plan` into `layout`; `None` when the plan needs
    /// what this path does not do (several taps when scaling down by more
    /// than 1×, or a map that is not separable).
    pub(crate) fn new(plan: &GeometryPlan, layout: &OutputLayout) -> Option<Self> {
        if !Self::fits(plan) {
            return None;
        }
        let (luma_bounds, chroma_bounds) = crop_bounds(plan);
        let map_x = |x: f32| plan.map_x[0] * x + plan.map_x[2];
        let map_y = |y: f32| plan.map_y[1] * y + plan.map_y[2];
        let last_column = layout.width - 1;
        // Luma: each pixel's centre; padding columns repeat the last one.
        let luma = PlaneTaps {
            columns: (0..layout.luma_stride)
                .map(|x| {
                    let centre = x.min(last_column) as f32 + 0.5;
                    Tap::at(map_x(centre), luma_bounds[0], luma_bounds[2])
                })
                .collect(),
            rows: (0..layout.height)
                .map(|y| Tap::at(map_y(y as f32 + 0.5), luma_bounds[1], luma_bounds[3]))
                .collect(),
        };
        // Chroma: the centre of each 2×2 output block, mapped into the
        // input, then into the centre-sited chroma plane.
        let to_chroma = |p: f32| (p + 0.5) * 0.5 - 0.5;
        let chroma = PlaneTaps {
            columns: (0..layout.chroma_stride)
                .map(|x| {
                    let centre = (2 * x + 1) as f32;
                    Tap::at(to_chroma(map_x(centre)), chroma_bounds[0], chroma_bounds[2])
                })
                .collect(),
            rows: (0..layout.height / 2)
                .map(|y| {
                    let centre = (2 * y + 1) as f32;
                    Tap::at(to_chroma(map_y(centre)), chroma_bounds[1], chroma_bounds[3])
                })
                .collect(),
        };
        Some(Self {
            layout: *layout,
            luma,
            chroma,
        })
    }

    /// Renders `frame` (the plan's input size) into a new output frame
    /// with the layout's padded strides, keeping its timestamp.
    pub(crate) fn render(&self, frame: &I420Frame) -> Result<I420Frame, FrameError> {
        let layout = &self.layout;
        let luma_stride = layout.luma_stride as usize;
        let chroma_stride = layout.chroma_stride as usize;
        let chroma_rows = layout.height as usize / 2;
        let mut planes = [
            vec![0u8; luma_stride * layout.height as usize],
            vec![0u8; chroma_stride * chroma_rows],
            vec![0u8; chroma_stride * chroma_rows],
        ];
        let [y_out, u_out, v_out] = &mut planes;
        scale_plane(frame, Plane::Y, &self.luma, y_out, luma_stride);
        scale_plane(frame, Plane::U, &self.chroma, u_out, chroma_stride);
        scale_plane(frame, Plane::V, &self.chroma, v_out, chroma_stride);
        I420Frame::from_planes(
            layout.width,
            layout.height,
            planes,
            [luma_stride, chroma_stride, chroma_stride],
            frame.timestamp,
        )
    }
}

/// Scales one plane: each input row the output needs is interpolated
/// across once (kept for the next output row, which usually needs it too),
/// and each output row blends two of them. With AVX2 the same integer
/// maths runs eight columns at a time (the baseline build has no 32-bit
/// vector multiply); the bytes are the same (checked by a test).
fn scale_plane(frame: &I420Frame, plane: Plane, taps: &PlaneTaps, out: &mut [u8], stride: usize) {
    match Simd::detect() {
        // SAFETY: `Simd::Avx2` means the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { scale_plane_avx2(frame, plane, taps, out, stride) },
        Simd::Scalar => scale_plane_with(frame, plane, taps, out, stride),
    }
}

/// [`scale_plane_with`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scale_plane_avx2(
    frame: &I420Frame,
    plane: Plane,
    taps: &PlaneTaps,
    out: &mut [u8],
    stride: usize,
) {
    scale_plane_with(frame, plane, taps, out, stride);
}

/// The scaler's loops, inlined into each instruction set's build.
#[inline(always)]
fn scale_plane_with(
    frame: &I420Frame,
    plane: Plane,
    taps: &PlaneTaps,
    out: &mut [u8],
    stride: usize,
) {
    let mut cache = RowCache::new(taps.columns.len());
    for (row_out, row) in out.chunks_exact_mut(stride).zip(&taps.rows) {
        let (first, second) = cache.pair(row, |r| frame.row(plane, r), &taps.columns);
        let (top, bottom) = (&cache.rows[first], &cache.rows[second]);
        let (keep, take) = (ONE - row.weight, row.weight);
        for ((pixel, &a), &b) in row_out.iter_mut().zip(top).zip(bottom) {
            // a, b ≤ 255·1024: the sum fits in u32 and shifts down to ≤ 255.
            *pixel = ((a * keep + b * take + HALF) >> 20) as u8;
        }
    }
}

/// Two input rows interpolated across, by input row index.
struct RowCache {
    index: [Option<u32>; 2],
    rows: [Vec<u32>; 2],
}

impl RowCache {
    fn new(width: usize) -> Self {
        Self {
            index: [None, None],
            rows: [vec![0; width], vec![0; width]],
        }
    }

    /// The slots holding the two input rows of `tap`, interpolating those
    /// not cached yet (`input` gives an input row's bytes).
    #[inline(always)]
    fn pair<'a>(
        &mut self,
        tap: &Tap,
        input: impl Fn(u32) -> &'a [u8],
        columns: &[Tap],
    ) -> (usize, usize) {
        let slot_of = |cache: &Self, row| cache.index.iter().position(|&i| i == Some(row));
        let first = match slot_of(self, tap.first) {
            Some(slot) => slot,
            None => {
                // Evict the slot that does not hold the second row.
                let slot = usize::from(self.index[0] == Some(tap.second));
                self.interpolate(slot, tap.first, input(tap.first), columns);
                slot
            }
        };
        let second = match slot_of(self, tap.second) {
            Some(slot) => slot,
            None => {
                let slot = 1 - first;
                self.interpolate(slot, tap.second, input(tap.second), columns);
                slot
            }
        };
        (first, second)
    }

    #[inline(always)]
    fn interpolate(&mut self, slot: usize, row: u32, input: &[u8], columns: &[Tap]) {
        for (value, tap) in self.rows[slot].iter_mut().zip(columns) {
            let a = u32::from(input[tap.first as usize]);
            let b = u32::from(input[tap.second as usize]);
            *value = a * (ONE - tap.weight) + b * tap.weight;
        }
        self.index[slot] = Some(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
    use crate::pipeline::{reference, FrameParams};

    fn textured(width: u32, height: u32) -> I420Frame {
        let mut frame = I420Frame::black(width, height).expect("frame");
        for plane in [Plane::Y, Plane::U, Plane::V] {
            let (w, h) = frame.plane_size(plane);
            for y in 0..h {
                for (x, value) in frame
                    .row_mut(plane, y)
                    .iter_mut()
                    .enumerate()
                    .take(w as usize)
                {
                    let x = x as u32;
                    *value = ((x * 7 + y * 13 + (x * y) % 31) % 220 + 16) as u8;
                }
            }
        }
        frame
    }

    /// The AVX2 build of the scaler gives the scalar build's bytes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_scaling_matches_scalar_scaling() {
        if Simd::best() == Simd::Scalar {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let frame = textured(1280, 720);
        let size = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
        let geometry = GeometryParams::new(1.3, true).expect("geometry");
        let plan = GeometryPlan::new(1280, 720, size, geometry).expect("plan");
        let layout = OutputLayout::new(size);
        let scaler = PlainScaler::new(&plan, &layout).expect("one tap");
        for (plane, taps, stride) in [
            (Plane::Y, &scaler.luma, layout.luma_stride as usize),
            (Plane::U, &scaler.chroma, layout.chroma_stride as usize),
        ] {
            let mut scalar = vec![0u8; stride * taps.rows.len()];
            let mut vector = scalar.clone();
            scale_plane_with(&frame, plane, taps, &mut scalar, stride);
            // SAFETY: checked above that the CPU has AVX2.
            unsafe { scale_plane_avx2(&frame, plane, taps, &mut vector, stride) };
            assert!(scalar == vector, "{plane:?} differs");
            assert!(scalar.iter().any(|&b| b != 0));
        }
    }

    #[test]
    fn matches_the_reference_within_one_level() {
        let cases = [
            (
                1280,
                720,
                Mode::Fhd,
                Orientation::Vertical,
                Aspect::NineBySixteen,
                1.0,
                true,
            ),
            (
                1280,
                720,
                Mode::Hd,
                Orientation::Horizontal,
                Aspect::NineBySixteen,
                1.5,
                false,
            ),
            (
                640,
                480,
                Mode::Hd,
                Orientation::Vertical,
                Aspect::ThreeByFour,
                2.0,
                true,
            ),
            (
                322,
                250,
                Mode::Fhd,
                Orientation::Horizontal,
                Aspect::ThreeByFour,
                1.0,
                false,
            ),
        ];
        for (width, height, mode, orientation, aspect, zoom, mirror) in cases {
            let frame = textured(width, height);
            let size = OutputSize::for_preset(mode, orientation, aspect);
            let params = FrameParams {
                geometry: GeometryParams::new(zoom, mirror).expect("geometry"),
                ..Default::default()
            };
            let plan = GeometryPlan::new(width, height, size, params.geometry).expect("plan");
            let layout = OutputLayout::new(size);
            let scaler = PlainScaler::new(&plan, &layout).expect("one tap");
            let ours = scaler.render(&frame).expect("render");
            let expected = reference::process(&frame, size, &params).expect("reference");
            for plane in [Plane::Y, Plane::U, Plane::V] {
                let (w, h) = ours.plane_size(plane);
                for y in 0..h {
                    for x in 0..w {
                        let (a, b) = (ours.sample(plane, x, y), expected.sample(plane, x, y));
                        assert!(
                            a.abs_diff(b) <= 1,
                            "{width}x{height} {mode:?} zoom {zoom}: {plane:?} ({x}, {y}) {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scaling_down_by_more_than_one_is_left_to_the_gpu() {
        let size = OutputSize::for_preset(Mode::Sd, Orientation::Horizontal, Aspect::NineBySixteen);
        let plan = GeometryPlan::new(1920, 1080, size, GeometryParams::default()).expect("plan");
        assert!(plan.taps_x > 1);
        assert!(PlainScaler::new(&plan, &OutputLayout::new(size)).is_none());
    }
}
