//! [`FaceOutline`]: where face-thinness may move pixels. The thinning
//! displacement is multiplied by the outline's weight: 1 inside the face
//! (the jaw contour, closed across the face at the eye line), falling
//! smoothly to 0 within a short band outside it, 0 beyond. So the jaw
//! moves while the neck, the collar and the hair a little way off the face
//! stay where they are.

use super::{dot, smoothstep, union_of};

/// Width of the band outside the outline over which the thinning fades,
/// across the face, as a fraction of the face width. The jaw's own shift
/// (at most about 6 % of the face width) falls to zero over it, so the
/// stretch there stays well short of a fold.
pub const THIN_BAND_ACROSS: f32 = 0.12;

/// The same band's height below the chin, as a fraction of the face
/// width: short, since the thinning moves pixels across the face, so
/// fading it along the face only shears, never folds.
pub const THIN_BAND_DOWN: f32 = 0.05;

/// The band's height above the eye line (where the outline closes across
/// the face), as a fraction of the face width: longer, so the temples
/// bend gently rather than shear.
pub const THIN_BAND_UP: f32 = 0.2;

/// A face's outline for thinning, held in the face's frame scaled by the
/// bands (one unit = one band), where the weight is a plain distance.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceOutline {
    /// Origin of the face's frame (the eyes' midpoint), output pixels.
    origin: [f32; 2],
    /// Unit vector across the face (left to right eye).
    across: [f32; 2],
    /// The bands, output pixels: across, below the eye line, above it.
    band: [f32; 3],
    /// The closed polygon, in scaled face coordinates.
    polygon: Vec<[f32; 2]>,
    /// Output rectangle `[x0, y0, x1, y1]` outside which the weight is 0.
    bounds: [f32; 4],
}

impl FaceOutline {
    /// The outline of a face whose jaw `contour` (ear to ear through the
    /// chin, output pixels) hangs below the eyes' midpoint `origin`, with
    /// unit vector `across` and face `width`; `None` for a contour of fewer
    /// than two points or a face of no width.
    pub fn new(
        contour: &[[f32; 2]],
        origin: [f32; 2],
        across: [f32; 2],
        width: f32,
    ) -> Option<Self> {
        let band = [THIN_BAND_ACROSS, THIN_BAND_DOWN, THIN_BAND_UP].map(|b| b * width);
        if contour.len() < 2 || !(band[0] > 0.0 && band[1] > 0.0) {
            return None;
        }
        let down = [-across[1], across[0]];
        let to_face = |p: [f32; 2]| {
            let rel = [p[0] - origin[0], p[1] - origin[1]];
            [dot(rel, across), dot(rel, down)]
        };
        let mut face: Vec<[f32; 2]> = contour.iter().map(|&p| to_face(p)).collect();
        // Close across the face at the eye line (or at the ends, if higher).
        let (first, last) = (face[0], face[face.len() - 1]);
        face.push([last[0], last[1].min(0.0)]);
        face.push([first[0], first[1].min(0.0)]);
        let polygon = face.iter().map(|&f| scaled(f, band)).collect();
        // The face-frame box grown by a band, its corners back in output
        // pixels.
        let lo = face
            .iter()
            .fold([f32::MAX; 2], |a, f| [a[0].min(f[0]), a[1].min(f[1])]);
        let hi = face
            .iter()
            .fold([f32::MIN; 2], |a, f| [a[0].max(f[0]), a[1].max(f[1])]);
        let (lo, hi) = (
            [lo[0] - band[0], lo[1] - band[2]],
            [
                hi[0] + band[0],
                hi[1] + if hi[1] >= 0.0 { band[1] } else { band[2] },
            ],
        );
        let corner = |u: f32, v: f32| {
            let p = [
                origin[0] + u * across[0] + v * down[0],
                origin[1] + u * across[1] + v * down[1],
            ];
            [p[0], p[1], p[0], p[1]]
        };
        let bounds = union_of(
            [
                corner(lo[0], lo[1]),
                corner(hi[0], lo[1]),
                corner(lo[0], hi[1]),
                corner(hi[0], hi[1]),
            ]
            .into_iter(),
        );
        Some(Self {
            origin,
            across,
            band,
            polygon,
            bounds,
        })
    }

    /// The rectangle `[x0, y0, x1, y1]` outside which [`FaceOutline::weight`]
    /// is 0.
    pub fn bounds(&self) -> [f32; 4] {
        self.bounds
    }

    /// How much of the thinning reaches output point `p`: 1 inside the
    /// outline, `1 − smoothstep(0, 1, d)` at `d` bands outside it.
    pub fn weight(&self, p: [f32; 2]) -> f32 {
        let [x0, y0, x1, y1] = self.bounds;
        if p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1 {
            return 0.0;
        }
        let down = [-self.across[1], self.across[0]];
        let rel = [p[0] - self.origin[0], p[1] - self.origin[1]];
        let q = scaled([dot(rel, self.across), dot(rel, down)], self.band);
        let mut inside = false;
        let mut nearest = f32::MAX;
        let n = self.polygon.len();
        for i in 0..n {
            let (a, b) = (self.polygon[i], self.polygon[(i + 1) % n]);
            if (a[1] > q[1]) != (b[1] > q[1])
                && q[0] < a[0] + (q[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
            {
                inside = !inside;
            }
            let (ab, aq) = ([b[0] - a[0], b[1] - a[1]], [q[0] - a[0], q[1] - a[1]]);
            let t = (dot(aq, ab) / dot(ab, ab).max(f32::MIN_POSITIVE)).clamp(0.0, 1.0);
            let d = [aq[0] - t * ab[0], aq[1] - t * ab[1]];
            nearest = nearest.min(dot(d, d));
        }
        if inside {
            1.0
        } else {
            1.0 - smoothstep(0.0, 1.0, nearest.sqrt())
        }
    }
}

/// Face coordinates `(across, down)` in bands: `down` in the band below
/// the eye line where it is positive, in the band above where negative.
fn scaled(f: [f32; 2], band: [f32; 3]) -> [f32; 2] {
    let down = if f[1] >= 0.0 { band[1] } else { band[2] };
    [f[0] / band[0], f[1] / down]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::tests::face;

    fn outline() -> FaceOutline {
        let f = face();
        let (across, _) = f.axes();
        let origin = [
            (f.left_eye[0] + f.right_eye[0]) / 2.0,
            (f.left_eye[1] + f.right_eye[1]) / 2.0,
        ];
        FaceOutline::new(&f.contour_or_synthesised(), origin, across, f.bbox[2])
            .expect("an outline")
    }

    #[test]
    fn whole_inside_zero_a_band_outside() {
        let o = outline();
        // The box is 100 × 130 at (100, 60): chin at y = 190, sides at
        // x = 100 and 200 on the middle line y = 125.
        assert_eq!(o.weight([150.0, 150.0]), 1.0, "cheeks");
        assert_eq!(o.weight([150.0, 189.0]), 1.0, "just above the chin");
        assert!(o.weight([150.0, 192.0]) > 0.0, "just below the chin");
        assert_eq!(o.weight([150.0, 196.0]), 0.0, "neck, a band below");
        assert!(o.weight([205.0, 125.0]) > 0.3, "just beside the jaw");
        assert_eq!(o.weight([213.0, 125.0]), 0.0, "a band beside the jaw");
        assert!(o.weight([150.0, 100.0]) > 0.0, "just above the eye line");
        assert_eq!(o.weight([150.0, 85.0]), 0.0, "a band above the eye line");
        assert_eq!(o.weight([20.0, 20.0]), 0.0);
    }

    #[test]
    fn nothing_outside_the_bounds() {
        let o = outline();
        let [x0, y0, x1, y1] = o.bounds();
        for y in 0..300 {
            for x in 0..300 {
                let p = [x as f32, y as f32];
                if p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1 {
                    assert_eq!(o.weight(p), 0.0, "{p:?}");
                }
            }
        }
    }
}
