//! Sharpness: an unsharp mask on luma around the faces, weighed so that it
//! works on what the smoothing leaves alone (eyes, brows, lips, hair) and
//! leaves the skin to the smoothing.
//!
//! Per pixel, `detail = I − blur(I)` with `blur` the 3×3 binomial
//! `[1 2 1]ᵀ[1 2 1] / 16` (clamped at the frame's edges), and
//! `I += SHARPEN_GAIN × strength × weight × detail`, where `weight` is
//! [`sharpen_weight`]: the face's vicinity ([`vicinity_weight`]) times the
//! square of one minus the skin mask (the face field's region weight × the skin-colour
//! model). The CPU reference is `sharpen` in `src/pipeline/finish.rs`; the
//! shader `shaders/finish.wgsl` repeats it.

use super::skin::skin_colour_weight;
use super::smoothstep;

/// Gain of the unsharp mask at strength 1: the detail (luma minus its 3×3
/// binomial blur) is added this many times over.
pub const SHARPEN_GAIN: f32 = 1.0;

/// How far the sharpened area reaches past the skin mask's bounds, as a
/// share of their width (sideways and down) and height (twice upward, for
/// the hair).
pub(crate) const REACH: f32 = 0.25;

/// The rectangle sharpened around the skin mask's bounds `mask` (see
/// [`super::EffectPlan::sharpen_bounds`]); empty when `mask` is.
pub(crate) fn bounds(mask: [f32; 4]) -> [f32; 4] {
    if super::is_empty_rect(mask) {
        return mask;
    }
    let (w, h) = (mask[2] - mask[0], mask[3] - mask[1]);
    [
        mask[0] - REACH * w,
        mask[1] - 2.0 * REACH * h,
        mask[2] + REACH * w,
        mask[3] + REACH * h,
    ]
}

/// The vicinity of the faces (0..1) at output point `p`: 1 well inside the
/// sharpened rectangle `bounds`, fading to 0 over a tenth of its smaller
/// side at its edges.
pub fn vicinity_weight(p: [f32; 2], bounds: [f32; 4]) -> f32 {
    if super::is_empty_rect(bounds) {
        return 0.0;
    }
    let fade = 0.1 * (bounds[2] - bounds[0]).min(bounds[3] - bounds[1]);
    let ramp = |d: f32| smoothstep(0.0, fade, d);
    ramp(p[0] - bounds[0])
        * ramp(bounds[2] - p[0])
        * ramp(p[1] - bounds[1])
        * ramp(bounds[3] - p[1])
}

/// How much of the unsharp mask a pixel gets (0..1): its `vicinity` to the
/// faces times the square of one minus its skin weight (the face field's
/// `region` weight × the skin-colour model of `yuv`, normalised video
/// range); squared so that skin the mask half-holds gets a quarter.
pub fn sharpen_weight(vicinity: f32, region: f32, yuv: [f32; 3]) -> f32 {
    if vicinity <= 0.0 {
        return 0.0;
    }
    if region == 0.0 {
        // Outside the faces' region nothing is skin.
        return vicinity;
    }
    let open = 1.0 - region * skin_colour_weight(yuv);
    vicinity * open * open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skin_gets_no_sharpening_and_the_rest_near_the_face_does() {
        let skin = [0.6, 102.0 / 255.0, 152.0 / 255.0];
        let grey = [0.3, 0.5, 0.5];
        assert!(sharpen_weight(1.0, 1.0, skin) < 0.05);
        assert_eq!(sharpen_weight(1.0, 1.0, grey), 1.0);
        assert_eq!(sharpen_weight(1.0, 0.0, skin), 1.0);
        assert_eq!(sharpen_weight(0.0, 0.0, grey), 0.0);
    }

    #[test]
    fn vicinity_fades_at_the_bounds_edges() {
        let b = bounds([100.0, 100.0, 200.0, 220.0]);
        assert_eq!(b, [75.0, 40.0, 225.0, 250.0]);
        assert_eq!(vicinity_weight([150.0, 150.0], b), 1.0);
        assert_eq!(vicinity_weight([70.0, 150.0], b), 0.0);
        let edge = vicinity_weight([80.0, 150.0], b);
        assert!(edge > 0.0 && edge < 1.0, "{edge}");
        let empty = super::super::union_of(std::iter::empty());
        assert_eq!(vicinity_weight([0.0, 0.0], bounds(empty)), 0.0);
    }
}
