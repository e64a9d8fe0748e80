//! The CPU reference of the frame pipeline: the same maths as the shaders,
//! in plain Rust, one pixel at a time. It is the specification the GPU path
//! is tested against (within ±2 levels), and a fallback for tiny pictures.

use super::finish::FinishWork;
use super::smoothing::{low_res_size, BLOCK, DETAIL, EPS};
use super::uniforms::{crop_bounds, TapGrid};
use super::{FrameParams, PipelineError};
use crate::color::{to_u8, ColorMatrix};
use crate::effects::{redden, ruddy_depth, whiten, FaceField};
use crate::frame::{I420Frame, Plane};
use crate::geometry::{GeometryPlan, OutputSize};

/// One plane of the input, with the bounds samples are clamped to.
struct PlaneSampler<'a> {
    bytes: &'a [u8],
    stride: usize,
    lo: [u32; 2],
    hi: [u32; 2],
}

fn mix(a: f32, b: f32, t: f32) -> f32 {
    a * (1.0 - t) + b * t
}

impl PlaneSampler<'_> {
    fn load(&self, x: u32, y: u32) -> f32 {
        self.bytes[y as usize * self.stride + x as usize] as f32 / 255.0
    }

    /// Bilinear sample at a pixel-centre position (see `bilinear` in the shader).
    fn bilinear(&self, pos: [f32; 2]) -> f32 {
        let px = pos[0].clamp(self.lo[0] as f32, self.hi[0] as f32);
        let py = pos[1].clamp(self.lo[1] as f32, self.hi[1] as f32);
        let (cx, cy) = (px.floor(), py.floor());
        let (tx, ty) = (px - cx, py - cy);
        let (x0, y0) = (cx as u32, cy as u32);
        let (x1, y1) = ((x0 + 1).min(self.hi[0]), (y0 + 1).min(self.hi[1]));
        let a = self.load(x0, y0);
        let b = self.load(x1, y0);
        let c = self.load(x0, y1);
        let d = self.load(x1, y1);
        mix(mix(a, b, tx), mix(c, d, tx), ty)
    }
}

/// Runs the whole pipeline on the CPU.
pub fn process(
    frame: &I420Frame,
    output: OutputSize,
    params: &FrameParams,
) -> Result<I420Frame, PipelineError> {
    let plan = GeometryPlan::new(frame.width(), frame.height(), output, params.geometry)?;
    let effects = params.effect_plan(&plan);
    // The passes see the faces through the face field (warp and mask).
    let field = effects.face_field(output.width(), output.height());
    // The input luma position an output point samples: warp (as the passes
    // see it, through the warp field), then geometry.
    let source_of = |p: [f32; 2]| {
        let q = match &field {
            Some(field) if effects.has_warp() => field.warp(p),
            _ => p,
        };
        let (x, y) = plan.map(q[0], q[1]);
        [x, y]
    };
    let taps = TapGrid::for_plan(&plan);
    let (luma_bounds, chroma_bounds) = crop_bounds(&plan);
    let sampler = |plane: Plane, b: [u32; 4]| PlaneSampler {
        bytes: frame.plane(plane),
        stride: frame.stride(plane),
        lo: [b[0], b[1]],
        hi: [b[2], b[3]],
    };
    let planes = [
        sampler(Plane::Y, luma_bounds),
        sampler(Plane::U, chroma_bounds),
        sampler(Plane::V, chroma_bounds),
    ];
    let matrix = ColorMatrix::bt601_video_range();

    let sample_y = |pos: [f32; 2]| {
        let mut sum = 0.0f32;
        for j in 0..taps.count[1] {
            for i in 0..taps.count[0] {
                let p = [
                    pos[0] + taps.offset[0] + i as f32 * taps.step[0],
                    pos[1] + taps.offset[1] + j as f32 * taps.step[1],
                ];
                sum += planes[0].bilinear(p);
            }
        }
        sum / (taps.count[0] * taps.count[1]) as f32
    };
    // Chroma of an output 2×2 block whose centre maps to `pos`: taps spread
    // over twice a pixel's footprint (see `sample_uv` in the shader).
    let sample_uv = |pos: [f32; 2]| {
        let mut sum = [0.0f32; 2];
        for j in 0..taps.count[1] {
            for i in 0..taps.count[0] {
                let p = [
                    pos[0] + 2.0 * (taps.offset[0] + i as f32 * taps.step[0]),
                    pos[1] + 2.0 * (taps.offset[1] + j as f32 * taps.step[1]),
                ];
                let c = [(p[0] + 0.5) * 0.5 - 0.5, (p[1] + 0.5) * 0.5 - 0.5];
                sum[0] += planes[1].bilinear(c);
                sum[1] += planes[2].bilinear(c);
            }
        }
        let n = (taps.count[0] * taps.count[1]) as f32;
        sum.map(|s| s / n)
    };
    // Processed (Y, U, V) of an output pixel whose block's chroma is `uv`.
    let shade = |x: u32, y: u32, uv: [f32; 2]| {
        let p = [x as f32 + 0.5, y as f32 + 0.5];
        let luma = sample_y(source_of(p));
        let yuv = matrix.rgb_to_yuv(matrix.yuv_to_rgb([luma, uv[0], uv[1]]));
        if effects.has_tone() {
            // One skin weight, taken before either changes the pixel.
            let weight = field.as_ref().map_or(0.0, |f| f.skin_weight(p, yuv));
            redden(
                whiten(yuv, weight * effects.whiteness),
                weight * effects.ruddiness * ruddy_depth(yuv[0]),
            )
        } else {
            yuv
        }
    };

    let (width, height) = (output.width(), output.height());
    let mut out = I420Frame::black(width, height)?;
    out.timestamp = frame.timestamp;
    for by in 0..height / 2 {
        for bx in 0..width / 2 {
            let uv = sample_uv(source_of([(bx * 2 + 1) as f32, (by * 2 + 1) as f32]));
            let mut delta = [0.0f32; 2];
            for row in 0..2 {
                for col in 0..2 {
                    let (x, y) = (bx * 2 + col, by * 2 + row);
                    let yuv = shade(x, y, uv);
                    out.row_mut(Plane::Y, y)[x as usize] = to_u8(yuv[0]);
                    delta[0] += yuv[1] - uv[0];
                    delta[1] += yuv[2] - uv[1];
                }
            }
            out.row_mut(Plane::U, by)[bx as usize] = to_u8(uv[0] + delta[0] * 0.25);
            out.row_mut(Plane::V, by)[bx as usize] = to_u8(uv[1] + delta[1] * 0.25);
        }
    }
    if let (true, Some(field)) = (effects.has_smoothing(), &field) {
        smooth(&mut out, field, effects.smoothness);
    }
    if let Some(work) = FinishWork::for_frame(&effects, params.filter.as_ref()) {
        work.apply_exact(&mut out, field.as_ref());
    }
    Ok(out)
}

/// Box mean over `(2 radius + 1)²` low-res pixels around (x, y), clamped
/// at the edges (`box_mean` in the shader), with (x, y)'s own radius.
fn box_mean(field: &[[f32; 2]], (lw, lh): (u32, u32), radius: u32, x: u32, y: u32) -> [f32; 2] {
    let r = radius as i32;
    let mut sum = [0.0f32; 2];
    for dy in -r..=r {
        for dx in -r..=r {
            let cx = (x as i32 + dx).clamp(0, lw as i32 - 1) as u32;
            let cy = (y as i32 + dy).clamp(0, lh as i32 - 1) as u32;
            let v = field[(cy * lw + cx) as usize];
            sum[0] += v[0];
            sum[1] += v[1];
        }
    }
    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
    [sum[0] / n, sum[1] / n]
}

/// The smoothing passes (`shaders/smoothing.wgsl`) on a processed frame
/// (what [`process`] does after the geometry and the tone), at `strength`,
/// weighed by `field`'s skin region, each low-res pixel with the box
/// radius `field` gives it ([`FaceField::smoothing_radius`]: its face's).
pub fn smooth(frame: &mut I420Frame, field: &FaceField, strength: f32) {
    let (w, h) = (frame.width(), frame.height());
    let (lw, lh) = low_res_size(w, h);
    let original = frame.clone();
    let luma =
        |x: u32, y: u32| original.sample(Plane::Y, x.min(w - 1), y.min(h - 1)) as f32 / 255.0;
    let mut stats = vec![[0.0f32; 2]; (lw * lh) as usize];
    for ly in 0..lh {
        for lx in 0..lw {
            let mut sum = [0.0f32; 2];
            for j in 0..BLOCK {
                for i in 0..BLOCK {
                    let v = luma(lx * BLOCK + i, ly * BLOCK + j);
                    sum[0] += v;
                    sum[1] += v * v;
                }
            }
            let n = (BLOCK * BLOCK) as f32;
            stats[(ly * lw + lx) as usize] = [sum[0] / n, sum[1] / n];
        }
    }
    let mut coeffs = vec![[0.0f32; 2]; stats.len()];
    for ly in 0..lh {
        for lx in 0..lw {
            let radius = field.smoothing_radius(lx, ly);
            let m = box_mean(&stats, (lw, lh), radius, lx, ly);
            let variance = (m[1] - m[0] * m[0]).max(0.0);
            let a = variance / (variance + EPS);
            coeffs[(ly * lw + lx) as usize] = [a, m[0] * (1.0 - a)];
        }
    }
    // The detail gain g and offset c of each low-res pixel: q = g I + c.
    let mut mean_coeffs = vec![[0.0f32; 2]; stats.len()];
    for ly in 0..lh {
        for lx in 0..lw {
            let at = (ly * lw + lx) as usize;
            let radius = field.smoothing_radius(lx, ly);
            let [a, b] = box_mean(&coeffs, (lw, lh), radius, lx, ly);
            let g = a + (1.0 - a) * DETAIL;
            mean_coeffs[at] = [g, b + (a - g) * stats[at][0]];
        }
    }
    let coefficients_at = |x: u32, y: u32| {
        let block = BLOCK as f32;
        let px = ((x as f32 + 0.5) / block - 0.5).clamp(0.0, (lw - 1) as f32);
        let py = ((y as f32 + 0.5) / block - 0.5).clamp(0.0, (lh - 1) as f32);
        let (cx, cy) = (px.floor(), py.floor());
        let (tx, ty) = (px - cx, py - cy);
        let (x0, y0) = (cx as u32, cy as u32);
        let (x1, y1) = ((x0 + 1).min(lw - 1), (y0 + 1).min(lh - 1));
        let at = |x: u32, y: u32| mean_coeffs[(y * lw + x) as usize];
        let lerp = |a: [f32; 2], b: [f32; 2], t: f32| [mix(a[0], b[0], t), mix(a[1], b[1], t)];
        lerp(
            lerp(at(x0, y0), at(x1, y0), tx),
            lerp(at(x0, y1), at(x1, y1), tx),
            ty,
        )
    };
    for y in 0..h {
        for x in 0..w {
            let i = luma(x, y);
            let yuv = [
                i,
                original.sample(Plane::U, x / 2, y / 2) as f32 / 255.0,
                original.sample(Plane::V, x / 2, y / 2) as f32 / 255.0,
            ];
            let amount = field.skin_weight([x as f32 + 0.5, y as f32 + 0.5], yuv) * strength;
            if amount > 0.0 {
                let [g, c] = coefficients_at(x, y);
                let q = g * i + c;
                frame.row_mut(Plane::Y, y)[x as usize] = to_u8(i + (q - i) * amount);
            }
        }
    }
}
