//! The skin smoothing's window: how wide a box the guided filter
//! averages over at each low-res pixel (`pipeline::smoothing`'s passes,
//! its CPU route and the reference all read it), scaled to the face the
//! pixel belongs to. The face field carries each low-res pixel's radius
//! ([`super::FaceField::smoothing_radius`]).

use super::{EffectPlan, FaceRegion, FACE_FIELD_SPACING};

/// Output pixels per low-res pixel, each way (`BLOCK` in the shader).
pub const BLOCK: u32 = 4;
// The face field's grid point (i, j) carries the radius of low-res pixel
// (i, j): the two grids must be one.
const _: () = assert!(FACE_FIELD_SPACING == BLOCK);
/// Skin-ellipse widths (1.2 face widths) per smoothing window: the window
/// is a twelfth of the ellipse, a tenth of the face. At 720p a face some
/// 200 px wide gets a 20 px window, which takes blotches of 4–16 px.
pub const FACE_WINDOWS: f32 = 12.0;
/// The smallest and largest box radius, in low-res pixels (3 to 13 of
/// them across: 12 to 52 output pixels).
pub const MIN_RADIUS: u32 = 1;
/// See [`MIN_RADIUS`].
pub const MAX_RADIUS: u32 = 6;
/// Box radius of the guided filter, in low-res pixels, for a face whose
/// skin ellipse is `ellipse_width` output pixels across: the window
/// (`2 radius + 1` blocks) nearest `ellipse_width / FACE_WINDOWS`, within
/// [`MIN_RADIUS`]..=[`MAX_RADIUS`].
pub fn radius_for_width(ellipse_width: f32) -> u32 {
    let blocks = ellipse_width / FACE_WINDOWS / BLOCK as f32;
    let radius = ((blocks - 1.0) / 2.0).round();
    if radius.is_nan() {
        return MIN_RADIUS;
    }
    (radius.max(0.0) as u32).clamp(MIN_RADIUS, MAX_RADIUS)
}

/// Box radius of the guided filter for `face`: from the width of its skin
/// ellipse ([`radius_for_width`]).
pub fn face_radius(face: &FaceRegion) -> u32 {
    radius_for_width(2.0 * face.half_axes[0])
}

/// The largest of the plan's faces' radii (that of its widest face;
/// [`MIN_RADIUS`] without faces): the margin the passes read around the
/// skin ([`reach`]), and the bound of every low-res pixel's own radius.
pub fn largest_radius(plan: &EffectPlan) -> u32 {
    plan.faces
        .iter()
        .map(face_radius)
        .fold(MIN_RADIUS, u32::max)
}

/// Box radius of the guided filter at output point `p`: that of the face
/// whose skin ellipse is nearest in normalised distance (`p` in the
/// ellipse's own axes, each divided by its half axis: under 1 inside it),
/// the first of those at a tie. Inside a face's ellipse that face wins
/// unless another's overlaps it more tightly, so each face is smoothed
/// with its own window, and the two windows part halfway between faces
/// relative to their sizes. [`largest_radius`] without faces, or where no
/// distance is a number (a face of no width).
pub fn radius_at(plan: &EffectPlan, p: [f32; 2]) -> u32 {
    let mut nearest = (f32::INFINITY, None);
    for face in &plan.faces {
        let rel = [p[0] - face.centre[0], p[1] - face.centre[1]];
        let down = [-face.across[1], face.across[0]];
        let u = (rel[0] * face.across[0] + rel[1] * face.across[1]) / face.half_axes[0];
        let v = (rel[0] * down[0] + rel[1] * down[1]) / face.half_axes[1];
        let distance = u * u + v * v;
        if distance < nearest.0 {
            nearest = (distance, Some(face));
        }
    }
    nearest.1.map_or_else(|| largest_radius(plan), face_radius)
}

/// The output point whose face low-res pixel `(x, y)` takes: its centre.
pub fn low_res_centre(x: u32, y: u32) -> [f32; 2] {
    let half = BLOCK as f32 / 2.0;
    [(x * BLOCK) as f32 + half, (y * BLOCK) as f32 + half]
}

/// Output pixels around the skin mask's bounds that the passes read with
/// box radius `radius`: the bilinear's cell, the two box means, a margin.
pub fn reach(radius: u32) -> f32 {
    ((1 + 2 * radius + 1) * BLOCK) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::EffectParams;
    use crate::landmarks::FaceLandmarks;

    #[test]
    fn the_window_grows_with_the_face_within_its_bounds() {
        // The test portrait's face (81 px, ellipse 97 px): the old 3×3 box.
        assert_eq!(radius_for_width(97.2), 1);
        // A 720p face of 200 px (ellipse 240 px): 5 blocks, 20 px.
        assert_eq!(radius_for_width(240.0), 2);
        assert_eq!(radius_for_width(0.0), MIN_RADIUS);
        assert_eq!(radius_for_width(f32::NAN), MIN_RADIUS);
        assert_eq!(radius_for_width(1e6), MAX_RADIUS);
        let widths = [50.0, 100.0, 200.0, 400.0, 800.0];
        let radii = widths.map(radius_for_width);
        assert!(radii.windows(2).all(|r| r[0] <= r[1]), "{radii:?}");
    }

    /// Points of `face`'s skin ellipse: its centre and 24 points on each
    /// of the rings at 0.5 and 0.95 of its half axes.
    fn ellipse_points(face: &FaceRegion) -> Vec<[f32; 2]> {
        let down = [-face.across[1], face.across[0]];
        let mut points = vec![face.centre];
        for ring in [0.5, 0.95] {
            for k in 0..24 {
                let angle = k as f32 * std::f32::consts::TAU / 24.0;
                let (u, v) = (
                    ring * face.half_axes[0] * angle.cos(),
                    ring * face.half_axes[1] * angle.sin(),
                );
                points.push([
                    face.centre[0] + u * face.across[0] + v * down[0],
                    face.centre[1] + u * face.across[1] + v * down[1],
                ]);
            }
        }
        points
    }

    #[test]
    fn each_face_gets_its_own_window_and_one_face_the_frame_wide_one() {
        let params = EffectParams::new(0.0, 1.0, 0.0, 0.0).expect("strengths");
        let (width, height) = (960, 540);
        // A close face 400 px wide and a far one 80 px wide, side by side.
        let faces = [
            FaceLandmarks::square(80.0, 60.0, 400.0),
            FaceLandmarks::square(700.0, 300.0, 80.0),
        ];
        let plan = EffectPlan::new(&params, &faces);
        let radii = [face_radius(&plan.faces[0]), face_radius(&plan.faces[1])];
        assert_eq!(radii, [5, 1], "ellipses 480 and 96 px wide");
        assert_eq!(largest_radius(&plan), 5);
        let field = plan.face_field(width, height).expect("a face field");
        for (face, radius) in plan.faces.iter().zip(radii) {
            for p in ellipse_points(face) {
                assert_eq!(radius_at(&plan, p), radius, "{p:?}");
                // The low-res pixel holding p reads the same from the field.
                let (x, y) = (p[0] as u32 / BLOCK, p[1] as u32 / BLOCK);
                let centre = low_res_centre(x, y);
                assert_eq!(
                    field.smoothing_radius(x, y),
                    radius_at(&plan, centre),
                    "low-res ({x}, {y})"
                );
            }
        }
        // Between them the window parts where the distances relative to
        // each face's size are equal: nearer the small face than halfway.
        let (big, small) = (plan.faces[0].centre, plan.faces[1].centre);
        let along = |t: f32| {
            [
                big[0] + (small[0] - big[0]) * t,
                big[1] + (small[1] - big[1]) * t,
            ]
        };
        assert_eq!(radius_at(&plan, along(0.6)), 5);
        assert_eq!(radius_at(&plan, along(0.9)), 1);
        // One face, or faces of one size: the widest face's window everywhere.
        for faces in [
            vec![faces[0].clone()],
            vec![faces[1].clone()],
            vec![
                FaceLandmarks::square(80.0, 60.0, 400.0),
                FaceLandmarks::square(540.0, 100.0, 410.0),
            ],
        ] {
            let plan = EffectPlan::new(&params, &faces);
            let widest = plan
                .faces
                .iter()
                .map(|face| 2.0 * face.half_axes[0])
                .fold(0.0f32, f32::max);
            let radius = radius_for_width(widest);
            assert_eq!(largest_radius(&plan), radius);
            let field = plan.face_field(width, height).expect("a face field");
            for y in 0..height / BLOCK {
                for x in 0..width / BLOCK {
                    assert_eq!(field.smoothing_radius(x, y), radius, "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn a_face_of_no_width_leaves_the_largest_window() {
        let params = EffectParams::new(0.0, 1.0, 0.0, 0.0).expect("strengths");
        let plan = EffectPlan::new(&params, &[FaceLandmarks::square(10.0, 10.0, 0.0)]);
        assert_eq!(radius_at(&plan, [10.0, 10.0]), largest_radius(&plan));
        assert_eq!(radius_at(&plan, [100.0, 10.0]), MIN_RADIUS);
    }

    #[test]
    fn an_empty_plan_gets_the_smallest_window() {
        let plan = EffectPlan::default();
        assert_eq!(largest_radius(&plan), MIN_RADIUS);
        assert_eq!(radius_at(&plan, [10.0, 10.0]), MIN_RADIUS);
    }
}
