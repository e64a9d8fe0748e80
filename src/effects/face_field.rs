//! [`FaceField`]: the effect plan sampled on a coarse grid (the warp's
//! offset and the skin region weight at half precision, which the GPU
//! passes and the CPU reference interpolate instead of evaluating the plan
//! per pixel; and the skin smoothing's box radius of each low-res pixel,
//! read as is).

use super::skin::skin_colour_weight;
use super::smoothing_window as smoothing;
use super::{dot, falloff, is_empty_rect, EffectPlan};

/// `value` rounded to half precision, as the face field holds it.
fn half_precision(value: f32) -> f32 {
    half::f16::from_f32(value).to_f32()
}

/// Output pixels between the points of a [`FaceField`].
pub const FACE_FIELD_SPACING: u32 = 4;

/// What the passes need of the faces, sampled on a coarse grid: at grid
/// point `(i, j)` (output position `(i, j) × spacing`) the warp's offset
/// `warp(p) − p` and the skin region weight, held at half precision (a
/// storage buffer on the GPU, whose passes load a grid cell's four points
/// once per 2×2 block or luma word). The passes interpolate it
/// bilinearly instead of evaluating every shift, magnification, ellipse and
/// disc per pixel: both are smooth over many pixels, so the grid loses
/// nothing visible, and the per-pixel cost no longer depends on the number
/// of faces or contour points. Its fourth lane is the skin smoothing's:
/// see [`FaceField::smoothing_radius`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaceField {
    /// Grid points across (`width / spacing + 2`).
    pub columns: u32,
    /// Grid points down.
    pub rows: u32,
    /// `[offset x, offset y, region weight, smoothing radius]` per point,
    /// row by row.
    pub points: Vec<[f32; 4]>,
}

impl FaceField {
    /// Samples `plan` over an output of `width × height` pixels: the warp
    /// inside [`EffectPlan::warp_bounds`] when `warps`, the region weight
    /// inside [`EffectPlan::mask_bounds`] when `mask`; zero elsewhere. With
    /// `mask` and smoothing, every point's smoothing radius too.
    pub fn new(plan: &EffectPlan, width: u32, height: u32, warps: bool, mask: bool) -> Self {
        let (columns, rows) = Self::grid(width, height);
        let mut points = vec![[0.0f32; 4]; (columns * rows) as usize];
        let spacing = FACE_FIELD_SPACING as f32;
        // Grid indices within a spacing of a rectangle, per axis.
        let span = |lo: f32, hi: f32, count: u32| {
            let first = ((lo - spacing) / spacing).ceil().max(0.0);
            let last = ((hi + spacing) / spacing).floor().min(count as f32 - 1.0);
            (first <= last).then(|| first as u32..last as u32 + 1)
        };
        let near = |rect: [f32; 4]| {
            if is_empty_rect(rect) {
                return None;
            }
            Some((
                span(rect[0], rect[2], columns)?,
                span(rect[1], rect[3], rows)?,
            ))
        };
        if let (true, Some((across, down))) = (warps, near(plan.warp_bounds())) {
            // EffectPlan::warp, with each shift added only where its
            // falloff is not zero (it is exactly zero outside its disc, so
            // the sums are the same), the outlines weighed only where some
            // shift reaches, and every point rounded as stored.
            let width = across.len();
            let mut sums = vec![[0.0f32; 3]; width * down.len()];
            for shift in &plan.shifts {
                let r = shift.radius;
                let reach = [
                    shift.centre[0] - r,
                    shift.centre[1] - r,
                    shift.centre[0] + r,
                    shift.centre[1] + r,
                ];
                let Some((xs, ys)) = near(reach) else {
                    continue;
                };
                for j in ys.start.max(down.start)..ys.end.min(down.end) {
                    for i in xs.start.max(across.start)..xs.end.min(across.end) {
                        let (x, y) = (
                            (i * FACE_FIELD_SPACING) as f32,
                            (j * FACE_FIELD_SPACING) as f32,
                        );
                        let d = [x - shift.centre[0], y - shift.centre[1]];
                        let w = falloff(dot(d, d) / (r * r));
                        let sum = &mut sums
                            [(j - down.start) as usize * width + (i - across.start) as usize];
                        sum[0] += w * shift.offset[0];
                        sum[1] += w * shift.offset[1];
                        sum[2] += w;
                    }
                }
            }
            for j in down.clone() {
                for i in across.clone() {
                    let (x, y) = (
                        (i * FACE_FIELD_SPACING) as f32,
                        (j * FACE_FIELD_SPACING) as f32,
                    );
                    let sum = sums[(j - down.start) as usize * width + (i - across.start) as usize];
                    let mut q = plan.thinned([x, y], sum);
                    for m in &plan.magnifies {
                        let v = [q[0] - m.centre[0], q[1] - m.centre[1]];
                        let scale = 1.0 - m.amount * falloff(dot(v, v) / (m.radius * m.radius));
                        q = [m.centre[0] + v[0] * scale, m.centre[1] + v[1] * scale];
                    }
                    let point = &mut points[(j * columns + i) as usize];
                    point[0] = half_precision(q[0] - x);
                    point[1] = half_precision(q[1] - y);
                }
            }
        }
        if let (true, Some((across, down))) = (mask, near(plan.mask_bounds())) {
            for j in down {
                for i in across.clone() {
                    let (x, y) = (
                        (i * FACE_FIELD_SPACING) as f32,
                        (j * FACE_FIELD_SPACING) as f32,
                    );
                    points[(j * columns + i) as usize][2] =
                        half_precision(plan.region_weight([x, y]));
                }
            }
        }
        if mask && plan.has_smoothing() {
            // Every point the largest radius; then, where faces differ in
            // theirs, the low-res pixels whose radius the smoothing can
            // use (those it reads around skin: each face's ellipse's
            // bounds grown by the passes' reach and a block) their own.
            let largest = smoothing::largest_radius(plan);
            for point in &mut points {
                point[3] = largest as f32;
            }
            if plan
                .faces
                .iter()
                .any(|face| smoothing::face_radius(face) != largest)
            {
                let by = smoothing::reach(largest) + smoothing::BLOCK as f32;
                for face in &plan.faces {
                    let b = face.bounds();
                    let grown = [b[0] - by, b[1] - by, b[2] + by, b[3] + by];
                    let Some((across, down)) = near(grown) else {
                        continue;
                    };
                    for j in down {
                        for i in across.clone() {
                            let p = smoothing::low_res_centre(i, j);
                            points[(j * columns + i) as usize][3] =
                                smoothing::radius_at(plan, p) as f32;
                        }
                    }
                }
            }
        }
        Self {
            columns,
            rows,
            points,
        }
    }

    /// Grid points across and down for an output of `width × height`.
    pub fn grid(width: u32, height: u32) -> (u32, u32) {
        (
            width / FACE_FIELD_SPACING + 2,
            height / FACE_FIELD_SPACING + 2,
        )
    }

    /// The interpolated `[offset x, offset y, region weight]` at output point
    /// `p` (`face_cell` and `face_in` in the shader).
    pub fn at(&self, p: [f32; 2]) -> [f32; 3] {
        let spacing = FACE_FIELD_SPACING as f32;
        let gx = (p[0] / spacing).clamp(0.0, (self.columns - 1) as f32);
        let gy = (p[1] / spacing).clamp(0.0, (self.rows - 1) as f32);
        let (cx, cy) = (gx.floor(), gy.floor());
        let (tx, ty) = (gx - cx, gy - cy);
        let (i0, j0) = (cx as u32, cy as u32);
        let (i1, j1) = ((i0 + 1).min(self.columns - 1), (j0 + 1).min(self.rows - 1));
        let at = |i: u32, j: u32| self.points[(j * self.columns + i) as usize];
        let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
        let lerp = |a: [f32; 4], b: [f32; 4], t: f32| {
            [mix(a[0], b[0], t), mix(a[1], b[1], t), mix(a[2], b[2], t)]
        };
        let top = lerp(at(i0, j0), at(i1, j0), tx);
        let bottom = lerp(at(i0, j1), at(i1, j1), tx);
        [
            mix(top[0], bottom[0], ty),
            mix(top[1], bottom[1], ty),
            mix(top[2], bottom[2], ty),
        ]
    }

    /// The skin smoothing's box radius (low-res pixels) of low-res pixel
    /// `(x, y)`, the fourth lane of grid point `(x, y)` (the grids are one:
    /// [`FACE_FIELD_SPACING`] is the smoothing's block): that of the face
    /// the pixel belongs to ([`smoothing::radius_at`] at its centre),
    /// read as is, not interpolated. 0 off the grid, or where the plan
    /// does not smooth.
    pub fn smoothing_radius(&self, x: u32, y: u32) -> u32 {
        if x >= self.columns || y >= self.rows {
            return 0;
        }
        self.points
            .get((y * self.columns + x) as usize)
            .map_or(0, |point| point[3] as u32)
    }

    /// The interpolated warp: the point whose content `p` shows.
    pub fn warp(&self, p: [f32; 2]) -> [f32; 2] {
        let [dx, dy, _] = self.at(p);
        [p[0] + dx, p[1] + dy]
    }

    /// The interpolated skin weight of `p` with colour `yuv`.
    pub fn skin_weight(&self, p: [f32; 2], yuv: [f32; 3]) -> f32 {
        self.at(p)[2] * skin_colour_weight(yuv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::tests::face;
    use crate::effects::EffectParams;

    #[test]
    fn warp_field_follows_the_exact_warp() {
        let params = EffectParams::new(0.0, 0.0, 1.0, 1.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let field = FaceField::new(&plan, 320, 240, true, false);
        let mut worst = 0.0f32;
        for y in 0..240 {
            for x in 0..320 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                let (a, b) = (plan.warp(p), field.warp(p));
                worst = worst.max((a[0] - b[0]).abs().max((a[1] - b[1]).abs()));
            }
        }
        // Under half a pixel where the eye magnification bends fastest.
        assert!(worst < 0.5, "field strays {worst} px from the warp");
    }

    #[test]
    fn face_field_follows_the_exact_mask() {
        let params = EffectParams::new(1.0, 0.0, 0.0, 0.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let field = FaceField::new(&plan, 320, 240, false, true);
        let skin = [0.6, 102.0 / 255.0, 152.0 / 255.0];
        let mut worst = 0.0f32;
        for y in 0..240 {
            for x in 0..320 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                worst = worst.max((plan.skin_weight(p, skin) - field.skin_weight(p, skin)).abs());
            }
        }
        assert!(
            worst < 0.2,
            "field's mask strays {worst} from the exact one"
        );
    }

    #[test]
    fn face_field_holds_the_exact_warp_at_its_grid_points() {
        let params = EffectParams::new(0.0, 0.0, 1.0, 1.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        assert!(plan.has_warp());
        let field = FaceField::new(&plan, 320, 240, true, false);
        let mut moved = 0;
        for j in 0..field.rows {
            for i in 0..field.columns {
                let (x, y) = (
                    (i * FACE_FIELD_SPACING) as f32,
                    (j * FACE_FIELD_SPACING) as f32,
                );
                let q = plan.warp([x, y]);
                let point = field.points[(j * field.columns + i) as usize];
                assert_eq!(point[0], half_precision(q[0] - x), "({x}, {y})");
                assert_eq!(point[1], half_precision(q[1] - y), "({x}, {y})");
                moved += usize::from(point[0] != 0.0 || point[1] != 0.0);
            }
        }
        assert!(moved > 100, "{moved} points move");
    }
}
