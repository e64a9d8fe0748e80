//! The beauty effects: the pusher's four custom-effect strengths and the
//! legacy 0–9 levels ([`EffectParams`]), and the per-frame plan that turns
//! them and the faces' landmarks into warps and a skin mask
//! ([`EffectPlan`]). The plan's maths is the specification: the shader
//! (`shaders/geometry.wgsl`) repeats it, the CPU reference calls it.
//!
//! * **Face-thinness** pulls the jaw/cheek contour toward the face's centre
//!   line: each contour point `c` becomes a smooth shift of radius
//!   `0.3 × face width`, by `0.12 × strength × (foot − c)` where `foot` is
//!   `c` projected on the centre line. Overlapping shifts are averaged, not
//!   summed, so nothing folds. The result is confined to the face by its
//!   [`FaceOutline`]: whole inside the jaw contour (closed at the eye line),
//!   fading to nothing within `0.12 × face width` beside the jaw,
//!   `0.05 ×` below the chin and `0.2 ×` above the eye line; the neck,
//!   the collar and the hair further off stay where they are.
//! * **Eye-bigness** magnifies a disc of radius `0.5 × inter-ocular distance`
//!   around each eye centre, `1 / (1 − 0.3 × strength)` at the centre,
//!   falling smoothly to none at the edge.
//! * **Skin mask** = a soft ellipse around each face × a soft skin-colour
//!   model in (Cb, Cr), minus soft discs over the eyes (with brows) and the
//!   mouth. Whitening, ruddiness and smoothing are weighed by it, so hair,
//!   eyes, brows, lips, clothes and a skin-coloured background stay as they
//!   were.
//! * **Whitening** is a monotone tone curve on luma,
//!   `1.95x / (1 + 0.95x)` over video-range luma `x` in 0..1 (0 and 1 stay
//!   put, so nothing clips), blended by mask × strength; the chroma offsets
//!   from grey grow with it by [`WHITEN_CHROMA`] of luma's relative lift,
//!   so the skin lightens without turning hue or going grey (see
//!   [`whiten`]).
//! * **Ruddiness** adds a rosy tone to the skin: chroma moves by
//!   `(Cb, Cr) += RUDDY_SHIFT × amount × depth` levels, amount = mask ×
//!   strength, depth the pixel's brightness up to [`RUDDY_FULL_AT`] (so
//!   darker skin is toned in proportion, not by a fixed shift), and luma
//!   stays exactly as it was (see [`redden`]).
//! * **Sharpness** is an unsharp mask on luma around the faces (eyes,
//!   brows, lips, hair), weighed by one minus the skin mask so that skin
//!   is left to the smoothing (see [`sharpen_weight`]).
//! * **Filter strength** blends a colour look-up table ([`Lut`], the
//!   512×512 PNG layout) over the whole frame's RGB.

//!
//! Shape effects (thinning, eyes) are scaled per face by a weight that
//! [`FaceFade`] ramps over [`FADE_TIME`] as faces appear and are lost.
//!
//! This file holds the parameters and the plan; the plan sampled on a
//! coarse grid for the passes ([`FaceField`]) is in `face_field`, the
//! skin-colour model and the whitening curve in `skin`, the shape effects'
//! fade in `face_fade`, the thinning's confinement to the face in
//! `face_outline`.

mod background;
mod face_fade;
mod face_field;
mod face_outline;
mod lut;
mod lut_yuv;
mod sharpen;
mod skin;
pub(crate) mod smoothing_window;

use thiserror::Error;

pub use background::{
    apply_background, cover, Background, BackgroundError, BlurLevel, BACKGROUND_EPSILON,
    BLUR_SIGMA, MAX_TAPS,
};
pub use face_fade::{box_overlap, FaceFade, FaceWeights, FADE_TIME};
pub use face_field::{FaceField, FACE_FIELD_SPACING};
pub use face_outline::{FaceOutline, THIN_BAND_ACROSS, THIN_BAND_DOWN, THIN_BAND_UP};
pub use lut::{Lut, LutError, LUT_IMAGE_SIDE, LUT_SIDE};
pub(crate) use lut_yuv::FixedStrength;
pub use sharpen::{sharpen_weight, vicinity_weight, SHARPEN_GAIN};
pub use skin::{
    redden, ruddy_depth, skin_chroma_weight, skin_colour_weight, skin_luma_weight, whiten,
    whiten_lift, RUDDY_FULL_AT, RUDDY_SHIFT, WHITEN_CHROMA, WHITEN_LIFT,
};

use crate::landmarks::{FaceLandmarks, MAX_FACES};

/// An effect parameter out of its range.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EffectError {
    /// A strength NaN, infinite, or outside 0..=1.
    #[error("{name} {value} out of range: expected a number from 0 to 1")]
    StrengthOutOfRange {
        /// The parameter (`skin_whiteness`, `skin_smoothness`, `face_thinness`,
        /// `eye_bigness`, `ruddiness`, `background_blur`).
        name: &'static str,
        /// The value given.
        value: f32,
    },
    /// A legacy level outside 0..=9.
    #[error("{name} level {value} out of range: expected a whole number from 0 to 9")]
    LevelOutOfRange {
        /// The parameter (`beauty` or `whiteness`).
        name: &'static str,
        /// The value given.
        value: i64,
    },
}

/// Strengths of the effects, each in 0..=1 (0 = off): the four of
/// [`EffectParams::new`], and ruddiness ([`EffectParams::with_ruddiness`]).
///
/// The legacy levels map linearly: `beauty` level *b* gives
/// `skin_smoothness = b / 9`, `whiteness` level *w* gives
/// `skin_whiteness = w / 9`; the legacy levels never slim the face or
/// enlarge the eyes (see [`EffectParams::from_levels`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EffectParams {
    skin_whiteness: f32,
    skin_smoothness: f32,
    face_thinness: f32,
    eye_bigness: f32,
    ruddiness: f32,
    background_blur: f32,
    sharpness: f32,
    filter_strength: f32,
}

fn strength(name: &'static str, value: f32) -> Result<f32, EffectError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(EffectError::StrengthOutOfRange { name, value })
    }
}

fn level(name: &'static str, value: i64) -> Result<f32, EffectError> {
    if (0..=9).contains(&value) {
        Ok(value as f32 / 9.0)
    } else {
        Err(EffectError::LevelOutOfRange { name, value })
    }
}

impl EffectParams {
    /// The custom effect: four strengths in 0..=1.
    pub fn new(
        skin_whiteness: f32,
        skin_smoothness: f32,
        face_thinness: f32,
        eye_bigness: f32,
    ) -> Result<Self, EffectError> {
        Ok(Self {
            skin_whiteness: strength("skin_whiteness", skin_whiteness)?,
            skin_smoothness: strength("skin_smoothness", skin_smoothness)?,
            face_thinness: strength("face_thinness", face_thinness)?,
            eye_bigness: strength("eye_bigness", eye_bigness)?,
            ..Self::default()
        })
    }

    /// The same strengths with sharpness (an unsharp mask on luma around
    /// the faces, skin left alone) at `sharpness`, in 0..=1 (0 = off).
    pub fn with_sharpness(self, sharpness: f32) -> Result<Self, EffectError> {
        Ok(Self {
            sharpness: strength("sharpness", sharpness)?,
            ..self
        })
    }

    /// The same strengths with the colour filter (the frame's look-up
    /// table, [`crate::FrameParams::filter`]) blended at `filter_strength`,
    /// in 0..=1 (0 = off).
    pub fn with_filter_strength(self, filter_strength: f32) -> Result<Self, EffectError> {
        Ok(Self {
            filter_strength: strength("filter_strength", filter_strength)?,
            ..self
        })
    }

    /// The same strengths with ruddiness (a rosy tone on the skin, luma
    /// kept) at `ruddiness`, in 0..=1 (0 = off).
    pub fn with_ruddiness(self, ruddiness: f32) -> Result<Self, EffectError> {
        Ok(Self {
            ruddiness: strength("ruddiness", ruddiness)?,
            ..self
        })
    }

    /// The same strengths with the background behind the person blurred
    /// by `blur`, in 0..=1 (0 = off; 1 blurs with σ = 1.2 % of the
    /// picture's shorter side; see [`apply_background`]).
    pub fn with_background_blur(self, blur: f32) -> Result<Self, EffectError> {
        Ok(Self {
            background_blur: strength("background_blur", blur)?,
            ..self
        })
    }

    /// The legacy levels: `beauty` (skin smoothing) and `whiteness`, 0..=9.
    pub fn from_levels(beauty: i64, whiteness: i64) -> Result<Self, EffectError> {
        Ok(Self {
            skin_smoothness: level("beauty", beauty)?,
            skin_whiteness: level("whiteness", whiteness)?,
            ..Self::default()
        })
    }

    /// Whitening strength.
    pub fn skin_whiteness(&self) -> f32 {
        self.skin_whiteness
    }

    /// Smoothing strength.
    pub fn skin_smoothness(&self) -> f32 {
        self.skin_smoothness
    }

    /// Face slimming strength.
    pub fn face_thinness(&self) -> f32 {
        self.face_thinness
    }

    /// Eye enlarging strength.
    pub fn eye_bigness(&self) -> f32 {
        self.eye_bigness
    }

    /// Ruddiness (rosy tone) strength.
    pub fn ruddiness(&self) -> f32 {
        self.ruddiness
    }

    /// Background blur strength.
    pub fn background_blur(&self) -> f32 {
        self.background_blur
    }

    /// Sharpness strength.
    pub fn sharpness(&self) -> f32 {
        self.sharpness
    }

    /// Colour filter (look-up table) strength.
    pub fn filter_strength(&self) -> f32 {
        self.filter_strength
    }

    /// Whether any effect changes the faces' colours (whitening, smoothing,
    /// ruddiness or sharpness): those need the faces' landmarks.
    pub fn has_color_effect(&self) -> bool {
        self.skin_whiteness > 0.0
            || self.skin_smoothness > 0.0
            || self.ruddiness > 0.0
            || self.sharpness > 0.0
    }

    /// Whether any effect moves pixels (face or eye warps).
    pub fn has_warp(&self) -> bool {
        self.face_thinness > 0.0 || self.eye_bigness > 0.0
    }
}

/// Contour points per face used for thinning (longer contours are resampled).
pub const MAX_CONTOUR_POINTS: usize = 16;

/// A smooth shift: the content around `centre` moves by `offset`, fading to
/// nothing at `radius` (output points there sample `offset` back; see
/// [`EffectPlan::warp`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Centre, output pixels.
    pub centre: [f32; 2],
    /// Radius of influence.
    pub radius: f32,
    /// How far the content at `centre` moves, output pixels.
    pub offset: [f32; 2],
}

/// A smooth magnification around an eye.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Magnify {
    /// Centre, output pixels.
    pub centre: [f32; 2],
    /// Radius of influence.
    pub radius: f32,
    /// 0..0.3: the centre is magnified `1 / (1 − amount)` times.
    pub amount: f32,
}

/// Where a face's skin may be, in output pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceRegion {
    /// Centre of the face ellipse.
    pub centre: [f32; 2],
    /// Unit vector from the left to the right eye.
    pub across: [f32; 2],
    /// Half the ellipse's extent across and down the face.
    pub half_axes: [f32; 2],
    /// The eyes' centres (the disc kept out of the mask sits a little above,
    /// to take the brow too).
    pub eyes: [[f32; 2]; 2],
    /// Radius of each eye-and-brow disc.
    pub eye_radius: f32,
    /// Centre of the mouth.
    pub mouth: [f32; 2],
    /// Half extents of the mouth ellipse (across, down).
    pub mouth_half_axes: [f32; 2],
}

impl FaceRegion {
    /// The bounding box `[x0, y0, x1, y1]` of the face's ellipse, outside
    /// which its skin weight is zero.
    pub fn bounds(&self) -> [f32; 4] {
        // Half extents of a rotated ellipse's bounding box.
        let (a, b) = (self.half_axes[0], self.half_axes[1]);
        let (c, s) = (self.across[0], self.across[1]);
        let hx = ((a * c).powi(2) + (b * s).powi(2)).sqrt();
        let hy = ((a * s).powi(2) + (b * c).powi(2)).sqrt();
        [
            self.centre[0] - hx,
            self.centre[1] - hy,
            self.centre[0] + hx,
            self.centre[1] + hy,
        ]
    }
}

/// Everything the passes need for one frame, in output coordinates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EffectPlan {
    /// Thinning shifts, all faces.
    pub shifts: Vec<Shift>,
    /// Where the thinning reaches, one outline per thinned face: the
    /// shifts' displacement is multiplied by the most any outline gives.
    pub outlines: Vec<FaceOutline>,
    /// Eye magnifications, all faces.
    pub magnifies: Vec<Magnify>,
    /// Skin regions of the faces (for the mask).
    pub faces: Vec<FaceRegion>,
    /// Whitening strength, 0..1.
    pub whiteness: f32,
    /// Smoothing strength, 0..1.
    pub smoothness: f32,
    /// Ruddiness strength, 0..1.
    pub ruddiness: f32,
    /// Sharpness strength, 0..1.
    pub sharpness: f32,
    /// Colour filter strength, 0..1 (the table is the frame's).
    pub filter_strength: f32,
}

/// Smooth falloff: 1 at the centre, 0 from `r² ≥ 1` on, `(1 − r²)²` between.
pub fn falloff(r2: f32) -> f32 {
    let t = (1.0 - r2).max(0.0);
    t * t
}

/// Hermite step from 0 at `edge0` to 1 at `edge1` (WGSL's `smoothstep`).
pub fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn dot(a: [f32; 2], b: [f32; 2]) -> f32 {
    a[0] * b[0] + a[1] * b[1]
}

fn along(origin: [f32; 2], direction: [f32; 2], distance: f32) -> [f32; 2] {
    [
        origin[0] + direction[0] * distance,
        origin[1] + direction[1] * distance,
    ]
}

/// Evenly resamples a polyline to at most `count` points (keeps short ones).
fn resample(points: &[[f32; 2]], count: usize) -> Vec<[f32; 2]> {
    if points.len() <= count {
        return points.to_vec();
    }
    (0..count)
        .map(|i| points[i * (points.len() - 1) / (count - 1)])
        .collect()
}

impl EffectPlan {
    /// The plan for one frame: `faces` must already be in output pixels.
    /// At most [`MAX_FACES`] faces are used.
    pub fn new(params: &EffectParams, faces: &[FaceLandmarks]) -> Self {
        Self::faded(params, faces, &FaceWeights::default())
    }

    /// The plan for one frame with the shape effects of each face scaled by
    /// its weight in `weights`, and the shapes of the faces fading out
    /// there added (no skin region for those). `faces` and the fading
    /// faces must be in output pixels; at most [`MAX_FACES`] faces get
    /// shape effects, the frame's own first.
    pub fn faded(params: &EffectParams, faces: &[FaceLandmarks], weights: &FaceWeights) -> Self {
        let mut plan = Self {
            whiteness: params.skin_whiteness,
            smoothness: params.skin_smoothness,
            ruddiness: params.ruddiness,
            sharpness: params.sharpness,
            filter_strength: params.filter_strength,
            ..Self::default()
        };
        let faces = &faces[..faces.len().min(MAX_FACES)];
        for (index, face) in faces.iter().enumerate() {
            plan.add_shapes(params, face, weights.of(index));
            plan.add_region(face);
        }
        let room = MAX_FACES - faces.len();
        for (face, weight) in weights.fading.iter().take(room) {
            plan.add_shapes(params, face, *weight);
        }
        plan
    }

    /// The face's thinning shifts and eye magnifications, at `weight`
    /// (0..=1) of the strengths.
    fn add_shapes(&mut self, params: &EffectParams, face: &FaceLandmarks, weight: f32) {
        let weight = weight.clamp(0.0, 1.0);
        let thinness = params.face_thinness * weight;
        let eyes = params.eye_bigness * weight;
        let (_, down) = face.axes();
        let iod = face.inter_ocular();
        let eye_mid = [
            (face.left_eye[0] + face.right_eye[0]) / 2.0,
            (face.left_eye[1] + face.right_eye[1]) / 2.0,
        ];
        let width = face.bbox[2].max(iod);
        if thinness > 0.0 {
            let pull = 0.12 * thinness;
            let contour = resample(&face.contour_or_synthesised(), MAX_CONTOUR_POINTS);
            let (across, _) = face.axes();
            self.outlines
                .extend(FaceOutline::new(&contour, eye_mid, across, width));
            for c in contour {
                let rel = [c[0] - eye_mid[0], c[1] - eye_mid[1]];
                let foot = along(eye_mid, down, dot(rel, down));
                self.shifts.push(Shift {
                    centre: c,
                    radius: 0.3 * width,
                    offset: [(foot[0] - c[0]) * pull, (foot[1] - c[1]) * pull],
                });
            }
        }
        if eyes > 0.0 {
            for eye in [face.left_eye, face.right_eye] {
                self.magnifies.push(Magnify {
                    centre: eye,
                    radius: 0.5 * iod,
                    amount: 0.3 * eyes,
                });
            }
        }
    }

    /// The face's skin region (for the mask).
    fn add_region(&mut self, face: &FaceLandmarks) {
        let (across, down) = face.axes();
        let iod = face.inter_ocular();
        let eye_mid = [
            (face.left_eye[0] + face.right_eye[0]) / 2.0,
            (face.left_eye[1] + face.right_eye[1]) / 2.0,
        ];
        let [x, y, w, h] = face.bbox;
        self.faces.push(FaceRegion {
            centre: [x + w / 2.0, y + h / 2.0],
            across,
            half_axes: [0.6 * w, 0.65 * h],
            eyes: [
                along(face.left_eye, down, -0.12 * iod),
                along(face.right_eye, down, -0.12 * iod),
            ],
            eye_radius: 0.38 * iod,
            mouth: along(eye_mid, down, 1.05 * iod),
            mouth_half_axes: [0.55 * iod, 0.32 * iod],
        });
    }

    /// The rectangle `[x0, y0, x1, y1]` outside which no warp moves anything:
    /// the union of the shifts' discs clipped to the outlines' bounds, and
    /// the magnifications' discs.
    pub fn warp_bounds(&self) -> [f32; 4] {
        let disc = |c: [f32; 2], r: f32| [c[0] - r, c[1] - r, c[0] + r, c[1] + r];
        let shifts = union_of(self.shifts.iter().map(|s| disc(s.centre, s.radius)));
        let outlines = union_of(self.outlines.iter().map(FaceOutline::bounds));
        let thinning = [
            shifts[0].max(outlines[0]),
            shifts[1].max(outlines[1]),
            shifts[2].min(outlines[2]),
            shifts[3].min(outlines[3]),
        ];
        let magnifies = self.magnifies.iter().map(|m| disc(m.centre, m.radius));
        union_of(magnifies.chain((!is_empty_rect(thinning)).then_some(thinning)))
    }

    /// How much of the thinning reaches output point `p` (0..1): the most
    /// any face's [`FaceOutline`] gives.
    pub fn thinning_weight(&self, p: [f32; 2]) -> f32 {
        self.outlines
            .iter()
            .fold(0.0f32, |best, o| best.max(o.weight(p)))
    }

    /// The rectangle outside which the skin mask is zero: the union of the
    /// faces' ellipses' bounding boxes.
    pub fn mask_bounds(&self) -> [f32; 4] {
        union_of(self.faces.iter().map(FaceRegion::bounds))
    }

    /// Whether the plan moves pixels.
    pub fn has_warp(&self) -> bool {
        !self.shifts.is_empty() || !self.magnifies.is_empty()
    }

    /// Whether the plan changes colours.
    pub fn has_color(&self) -> bool {
        self.has_tone() || (!self.faces.is_empty() && self.smoothness > 0.0)
    }

    /// The face field the passes read for this plan on an output of
    /// `width × height`: the warp where the plan warps, the skin region where
    /// it whitens or smooths; `None` when it does neither.
    pub fn face_field(&self, width: u32, height: u32) -> Option<FaceField> {
        let mask = self.has_color() || self.has_sharpening();
        (self.has_warp() || mask)
            .then(|| FaceField::new(self, width, height, self.has_warp(), mask))
    }

    /// Whether the plan sharpens around the faces.
    pub fn has_sharpening(&self) -> bool {
        !self.faces.is_empty() && self.sharpness > 0.0
    }

    /// The rectangle outside which nothing is sharpened: the skin mask's
    /// bounds grown by a quarter (`sharpen::REACH`) of their size each way and twice
    /// that upward (hair), where [`vicinity_weight`] fades to zero.
    pub fn sharpen_bounds(&self) -> [f32; 4] {
        sharpen::bounds(self.mask_bounds())
    }

    /// Whether the plan smooths skin.
    pub fn has_smoothing(&self) -> bool {
        !self.faces.is_empty() && self.smoothness > 0.0
    }

    /// Whether the plan whitens skin.
    pub fn has_whitening(&self) -> bool {
        !self.faces.is_empty() && self.whiteness > 0.0
    }

    /// Whether the plan reddens skin (ruddiness).
    pub fn has_ruddiness(&self) -> bool {
        !self.faces.is_empty() && self.ruddiness > 0.0
    }

    /// Whether the plan changes the skin's tone per pixel, by whitening or
    /// ruddiness: the step that follows the geometry (in the geometry
    /// shader, the reference's `shade`, or the CPU's skin route), before
    /// any smoothing.
    pub fn has_tone(&self) -> bool {
        self.has_whitening() || self.has_ruddiness()
    }

    /// The inverse warp: the point (output pixels) whose content the output
    /// point `p` shows, before geometry. Thinning first, then the eyes.
    pub fn warp(&self, p: [f32; 2]) -> [f32; 2] {
        let mut sum = [0.0f32; 3];
        for s in &self.shifts {
            let d = [p[0] - s.centre[0], p[1] - s.centre[1]];
            let w = falloff(dot(d, d) / (s.radius * s.radius));
            sum[0] += w * s.offset[0];
            sum[1] += w * s.offset[1];
            sum[2] += w;
        }
        let mut q = self.thinned(p, sum);
        for m in &self.magnifies {
            let v = [q[0] - m.centre[0], q[1] - m.centre[1]];
            let scale = 1.0 - m.amount * falloff(dot(v, v) / (m.radius * m.radius));
            q = [m.centre[0] + v[0] * scale, m.centre[1] + v[1] * scale];
        }
        q
    }

    /// The thinning of `p` from its shifts' weighted `[Σ w·offset x,
    /// Σ w·offset y, Σ w]`: their mean offset (their sum where the weights
    /// add up to less than 1), times [`EffectPlan::thinning_weight`], taken
    /// off `p`.
    pub(crate) fn thinned(&self, p: [f32; 2], sum: [f32; 3]) -> [f32; 2] {
        if sum[2] <= 0.0 {
            return p;
        }
        let scale = self.thinning_weight(p) / sum[2].max(1.0);
        [p[0] - sum[0] * scale, p[1] - sum[1] * scale]
    }

    /// Skin weight (0..1) of the output point `p` whose colour is `yuv`
    /// (normalised 0..1, video range): where the faces' skin may be
    /// ([`EffectPlan::region_weight`]) times how skin-like the colour is
    /// ([`skin_colour_weight`]).
    pub fn skin_weight(&self, p: [f32; 2], yuv: [f32; 3]) -> f32 {
        self.region_weight(p) * skin_colour_weight(yuv)
    }

    /// Where skin may be (0..1), the most any face gives: inside the face's
    /// soft ellipse, outside the soft discs over the eyes and brows and the
    /// ellipse over the mouth.
    pub fn region_weight(&self, p: [f32; 2]) -> f32 {
        let mut best = 0.0f32;
        for face in &self.faces {
            let down = [-face.across[1], face.across[0]];
            let rel = [p[0] - face.centre[0], p[1] - face.centre[1]];
            let (u, v) = (
                dot(rel, face.across) / face.half_axes[0],
                dot(rel, down) / face.half_axes[1],
            );
            let region = 1.0 - smoothstep(0.75, 1.0, (u * u + v * v).sqrt());
            let mut keep_out = 0.0f32;
            for eye in face.eyes {
                let d = [p[0] - eye[0], p[1] - eye[1]];
                let r = dot(d, d).sqrt() / face.eye_radius;
                keep_out = keep_out.max(1.0 - smoothstep(0.8, 1.2, r));
            }
            let m = [p[0] - face.mouth[0], p[1] - face.mouth[1]];
            let (mu, mv) = (
                dot(m, face.across) / face.mouth_half_axes[0],
                dot(m, down) / face.mouth_half_axes[1],
            );
            keep_out = keep_out.max(1.0 - smoothstep(0.8, 1.2, (mu * mu + mv * mv).sqrt()));
            best = best.max(region * (1.0 - keep_out));
        }
        best
    }
}

/// Whether a rectangle `[x0, y0, x1, y1]` holds nothing: inverted, as
/// [`union_of`] gives for no rectangles, or not finite.
pub(crate) fn is_empty_rect(rect: [f32; 4]) -> bool {
    rect.iter().any(|v| !v.is_finite()) || rect[2] < rect[0] || rect[3] < rect[1]
}

/// The smallest rectangle holding all of `rects`; an empty (inverted) one
/// when there are none.
pub(crate) fn union_of(rects: impl Iterator<Item = [f32; 4]>) -> [f32; 4] {
    rects.fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |u, r| {
        [
            u[0].min(r[0]),
            u[1].min(r[1]),
            u[2].max(r[2]),
            u[3].max(r[3]),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strengths_are_validated_by_name() {
        assert!(EffectParams::new(0.0, 0.5, 1.0, 0.25).is_ok());
        for (args, name) in [
            ([1.5, 0.0, 0.0, 0.0], "skin_whiteness"),
            ([0.0, f32::NAN, 0.0, 0.0], "skin_smoothness"),
            ([0.0, 0.0, -0.1, 0.0], "face_thinness"),
            ([0.0, 0.0, 0.0, f32::INFINITY], "eye_bigness"),
        ] {
            let err = EffectParams::new(args[0], args[1], args[2], args[3]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn ruddiness_is_validated_and_off_by_default() {
        let p = EffectParams::new(0.5, 0.0, 0.0, 0.0).unwrap();
        assert_eq!(p.ruddiness(), 0.0);
        let rosy = p.with_ruddiness(0.75).unwrap();
        assert_eq!(rosy.ruddiness(), 0.75);
        assert_eq!(rosy.skin_whiteness(), 0.5);
        assert!(rosy.has_color_effect());
        assert!(EffectParams::default()
            .with_ruddiness(1.0)
            .unwrap()
            .has_color_effect());
        for bad in [1.01, -0.5, f32::NAN, f32::INFINITY] {
            let err = p.with_ruddiness(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    EffectError::StrengthOutOfRange {
                        name: "ruddiness",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().starts_with("ruddiness"), "{err}");
        }
        // Without faces nothing is reddened; with one, the plan tones skin.
        let plan = EffectPlan::new(&rosy, &[]);
        assert!(!plan.has_tone() && !plan.has_color());
        let plan = EffectPlan::new(
            &EffectParams::default().with_ruddiness(1.0).unwrap(),
            &[face()],
        );
        assert!(plan.has_ruddiness() && plan.has_tone() && plan.has_color());
        assert!(!plan.has_whitening());
    }

    #[test]
    fn legacy_levels_map_linearly() {
        let p = EffectParams::from_levels(9, 3).unwrap();
        assert_eq!(p.skin_smoothness(), 1.0);
        assert!((p.skin_whiteness() - 1.0 / 3.0).abs() < 1e-6);
        assert!(!p.has_warp());
        assert!(matches!(
            EffectParams::from_levels(10, 0),
            Err(EffectError::LevelOutOfRange { name: "beauty", .. })
        ));
        assert!(EffectParams::from_levels(0, -1).is_err());
    }

    pub(super) fn face() -> FaceLandmarks {
        FaceLandmarks {
            bbox: [100.0, 60.0, 100.0, 130.0],
            left_eye: [128.0, 110.0],
            right_eye: [172.0, 110.0],
            contour: Vec::new(),
        }
    }

    #[test]
    fn zero_strengths_plan_nothing_that_moves_or_recolours() {
        let plan = EffectPlan::new(&EffectParams::default(), &[face()]);
        assert!(!plan.has_warp());
        assert!(!plan.has_color());
        assert_eq!(plan.warp([150.0, 150.0]), [150.0, 150.0]);
    }

    #[test]
    fn thinning_pulls_the_jaw_inward_and_leaves_far_points_alone() {
        let params = EffectParams::new(0.0, 0.0, 1.0, 0.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        // The right cheek at the eye line + some: output there shows content
        // from further out (the face edge moved in).
        let source = plan.warp([200.0, 140.0]);
        assert!(source[0] > 200.5, "{source:?}");
        // Far away nothing moves.
        assert_eq!(plan.warp([20.0, 20.0]), [20.0, 20.0]);
        assert_eq!(plan.warp([400.0, 300.0]), [400.0, 300.0]);
    }

    #[test]
    fn thinning_never_folds_and_stops_a_band_below_the_chin() {
        let params = EffectParams::new(0.0, 0.0, 1.0, 0.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let mut least = f32::MAX;
        for y in 40..260 {
            for x in 60..240 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                let (a, b, c) = (
                    plan.warp(p),
                    plan.warp([p[0] + 0.5, p[1]]),
                    plan.warp([p[0], p[1] + 0.5]),
                );
                let det = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
                least = least.min(det / 0.25);
            }
        }
        assert!(least > 0.1, "the warp's Jacobian falls to {least}");
        // The chin is at y = 190, the band below it 5 px.
        for y in 196..300 {
            for x in 0..300 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                assert_eq!(plan.warp(p), p);
            }
        }
    }

    #[test]
    fn eyes_magnify_smoothly_and_monotonically() {
        let params = EffectParams::new(0.0, 0.0, 0.0, 1.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let eye = face().left_eye;
        let mut last = f32::NEG_INFINITY;
        // Towards the other eye, up to this eye's radius (22 px).
        for i in 0..22 {
            let x = eye[0] + i as f32;
            let source = plan.warp([x, eye[1]])[0] - eye[0];
            assert!(source > last, "folds at {i}");
            assert!(source <= i as f32 + 1e-4);
            last = source;
        }
        assert_eq!(plan.warp([eye[0], eye[1] - 30.0]), [eye[0], eye[1] - 30.0]);
    }

    #[test]
    fn nothing_happens_outside_the_bounds() {
        let params = EffectParams::new(1.0, 1.0, 1.0, 1.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let [x0, y0, x1, y1] = plan.warp_bounds();
        let [mx0, my0, mx1, my1] = plan.mask_bounds();
        let skin = [0.6, 102.0 / 255.0, 152.0 / 255.0];
        for y in (0..300).step_by(3) {
            for x in (0..300).step_by(3) {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                if p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1 {
                    assert_eq!(plan.warp(p), p);
                }
                if p[0] < mx0 || p[0] > mx1 || p[1] < my0 || p[1] > my1 {
                    assert_eq!(plan.skin_weight(p, skin), 0.0);
                }
            }
        }
    }

    #[test]
    fn mask_covers_cheeks_not_eyes_mouth_or_background() {
        let params = EffectParams::new(1.0, 0.0, 0.0, 0.0).unwrap();
        let plan = EffectPlan::new(&params, &[face()]);
        let skin = [0.6, 102.0 / 255.0, 152.0 / 255.0];
        assert!(plan.skin_weight([130.0, 140.0], skin) > 0.9, "cheek");
        assert_eq!(plan.skin_weight([128.0, 107.0], skin), 0.0, "eye");
        assert_eq!(plan.skin_weight([150.0, 156.0], skin), 0.0, "mouth");
        assert_eq!(plan.skin_weight([20.0, 20.0], skin), 0.0, "background");
    }
}
