//! FaceMesh: 468 points of a face from a square crop around it.
//!
//! The crop (an [`Roi`]: centre, side, rotation) is resampled to the model's
//! 192×192 input (values 0..1), turned so the eye line is level; the model's
//! points are mapped back to image pixels. A second output scores whether a
//! face is there at all, which the tracker uses to let a face go.

use std::path::Path;

use super::{crop_tensor, load_model, run_model, sigmoid, FaceError, Model};
use crate::frame::I420Frame;
use crate::landmarks::FaceLandmarks;

/// The model's input side.
const INPUT: usize = 192;
/// Points the model gives.
pub const POINTS: usize = 468;

/// The ring of points around the subject's right eye (image-left on a
/// frontal, unmirrored face) and its outer and inner corners.
const RIGHT_EYE_RING: [usize; 16] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
];
/// The ring around the subject's left eye.
const LEFT_EYE_RING: [usize; 16] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
];
/// Outer eye corners (subject's right, subject's left): they set the roll.
const OUTER_EYE_CORNERS: [usize; 2] = [33, 263];
/// The face oval, from the forehead's middle round the subject's left.
const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
/// The jaw and cheek line, ear to ear through the chin (part of the oval).
const JAW: [usize; 21] = [
    234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361,
    323, 454,
];

/// A square region of the image: centre, side and rotation (radians; the
/// crop's x axis points along `(cos, sin)` of it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    /// Centre, image pixels.
    pub centre: [f32; 2],
    /// Side, image pixels.
    pub side: f32,
    /// Rotation of the crop's x axis.
    pub rotation: f32,
}

impl Roi {
    /// Axes of the crop in image space.
    fn axes(&self) -> ([f32; 2], [f32; 2]) {
        let (s, c) = self.rotation.sin_cos();
        ([c, s], [-s, c])
    }

    /// The image point at crop coordinates (0..1, 0..1).
    fn image_point(&self, u: f32, v: f32) -> [f32; 2] {
        let (ax, ay) = self.axes();
        let (lx, ly) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        [
            self.centre[0] + lx * ax[0] + ly * ay[0],
            self.centre[1] + lx * ax[1] + ly * ay[1],
        ]
    }

    /// The square holding `points` in the crop's orientation `rotation`,
    /// scaled by `scale`.
    pub fn around(points: &[[f32; 2]], rotation: f32, scale: f32) -> Self {
        let axes = Roi {
            centre: [0.0; 2],
            side: 0.0,
            rotation,
        }
        .axes();
        let (ax, ay) = axes;
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in points {
            let (u, v) = (p[0] * ax[0] + p[1] * ax[1], p[0] * ay[0] + p[1] * ay[1]);
            lo = [lo[0].min(u), lo[1].min(v)];
            hi = [hi[0].max(u), hi[1].max(v)];
        }
        let (cu, cv) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
        Roi {
            centre: [cu * ax[0] + cv * ay[0], cu * ax[1] + cv * ay[1]],
            side: (hi[0] - lo[0]).max(hi[1] - lo[1]) * scale,
            rotation,
        }
    }
}

/// The mesh of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshResult {
    /// Whether a face is there, 0..1.
    pub score: f32,
    /// The 468 points, image pixels (x, y).
    pub points: Vec<[f32; 2]>,
}

impl MeshResult {
    /// Roll of the face: the angle of the line from the subject's right eye
    /// to their left.
    pub fn roll(&self) -> f32 {
        let [a, b] = OUTER_EYE_CORNERS.map(|i| self.points[i]);
        (b[1] - a[1]).atan2(b[0] - a[0])
    }

    /// The region to look in next frame: the face's points, turned with its
    /// roll, with a margin.
    pub fn next_roi(&self) -> Roi {
        Roi::around(&self.points, self.roll(), 1.5)
    }

    /// What the effects need: box of the face oval, eye centres (the mean of
    /// each eye's ring), and the jaw line.
    pub fn landmarks(&self) -> FaceLandmarks {
        let mean = |ring: &[usize]| {
            let (mut x, mut y) = (0.0, 0.0);
            for &i in ring {
                x += self.points[i][0];
                y += self.points[i][1];
            }
            [x / ring.len() as f32, y / ring.len() as f32]
        };
        let (a, b) = (mean(&RIGHT_EYE_RING), mean(&LEFT_EYE_RING));
        let (left_eye, right_eye) = if a[0] <= b[0] { (a, b) } else { (b, a) };
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for &i in &FACE_OVAL {
            let p = self.points[i];
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        FaceLandmarks {
            bbox: [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]],
            left_eye,
            right_eye,
            contour: JAW.iter().map(|&i| self.points[i]).collect(),
        }
    }
}

/// A loaded FaceMesh model.
pub struct FaceMesh {
    model: Model,
}

impl FaceMesh {
    /// Loads the model.
    pub fn new(path: &Path) -> Result<Self, FaceError> {
        Ok(Self {
            model: load_model(path)?,
        })
    }

    /// The mesh of the face in `roi`.
    pub fn run(&self, frame: &I420Frame, roi: &Roi) -> Result<MeshResult, FaceError> {
        let size = INPUT as f32;
        let input = crop_tensor(frame, INPUT, (0.0, 1.0), |u, v| {
            let p = roi.image_point(u / size, v / size);
            (p[0], p[1])
        })?;
        let outputs = run_model(&self.model, input)?;
        let (coords, flag) = match outputs.as_slice() {
            [coords, flag, ..] if coords.len() >= POINTS * 3 && !flag.is_empty() => (coords, flag),
            _ => {
                return Err(FaceError::Inference(
                    "mesh outputs have the wrong size".into(),
                ))
            }
        };
        let points = (0..POINTS)
            .map(|i| roi.image_point(coords[3 * i] / size, coords[3 * i + 1] / size))
            .collect();
        Ok(MeshResult {
            score: sigmoid(flag[0]),
            points,
        })
    }
}
