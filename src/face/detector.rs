//! BlazeFace: finds faces and six key points (eyes, nose, mouth, ears).
//!
//! The picture is letterboxed into the model's square input (values −1..1);
//! the model scores a fixed grid of anchors and regresses a box and key
//! points for each; boxes scoring at least 0.5 are merged by weighted
//! non-maximum suppression (overlap 0.3), as MediaPipe does.

use std::path::Path;

use super::{crop_tensor, load_model, run_model, sigmoid, FaceError, Model};
use crate::frame::I420Frame;

/// Scores below this are not faces.
const MIN_SCORE: f32 = 0.5;
/// Boxes overlapping more than this (intersection over union) are one face.
const MIN_SUPPRESSION_IOU: f32 = 0.3;
/// Raw scores are clipped to ±this before the sigmoid.
const RAW_SCORE_LIMIT: f32 = 80.0;

/// Which BlazeFace model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorRange {
    /// Faces filling a good part of the picture (selfies, desks): 128×128.
    Short,
    /// Small or distant faces: 192×192.
    Full,
}

impl DetectorRange {
    fn input_size(self) -> usize {
        match self {
            DetectorRange::Short => 128,
            DetectorRange::Full => 192,
        }
    }

    /// Anchor centres (0..1) in the order of the model's outputs.
    fn anchors(self) -> Vec<[f32; 2]> {
        // (stride, anchors per cell) of each feature map.
        let layers: &[(usize, usize)] = match self {
            DetectorRange::Short => &[(8, 2), (16, 6)],
            DetectorRange::Full => &[(4, 1)],
        };
        let size = self.input_size();
        let mut anchors = Vec::new();
        for &(stride, per_cell) in layers {
            let cells = size / stride;
            for y in 0..cells {
                for x in 0..cells {
                    let centre = [
                        (x as f32 + 0.5) / cells as f32,
                        (y as f32 + 0.5) / cells as f32,
                    ];
                    anchors.extend(std::iter::repeat_n(centre, per_cell));
                }
            }
        }
        anchors
    }
}

/// One face found by the detector, in image pixels (continuous coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Confidence, 0.5..1.
    pub score: f32,
    /// `[x_min, y_min, x_max, y_max]`.
    pub bbox: [f32; 4],
    /// The subject's right eye, left eye, nose tip, mouth centre, right ear,
    /// left ear (a frontal, unmirrored face has its right eye on the image's
    /// left).
    pub keypoints: [[f32; 2]; 6],
}

/// A loaded BlazeFace model.
pub struct FaceDetector {
    model: Model,
    range: DetectorRange,
    anchors: Vec<[f32; 2]>,
}

impl FaceDetector {
    /// Loads the model of the given range.
    pub fn new(path: &Path, range: DetectorRange) -> Result<Self, FaceError> {
        Ok(Self {
            model: load_model(path)?,
            range,
            anchors: range.anchors(),
        })
    }

    /// The faces in a frame, best first.
    pub fn detect(&self, frame: &I420Frame) -> Result<Vec<Detection>, FaceError> {
        let whole = [0.0, 0.0, frame.width() as f32, frame.height() as f32];
        self.detect_in(frame, whole)
    }

    /// The faces in the region `[x, y, w, h]` of a frame (its pixels; a
    /// tile, seen larger than in the whole frame, so smaller faces are
    /// found), best first, in the frame's pixels.
    pub fn detect_in(
        &self,
        frame: &I420Frame,
        region: [f32; 4],
    ) -> Result<Vec<Detection>, FaceError> {
        let size = self.range.input_size();
        let [x0, y0, w, h] = region;
        let scale = size as f32 / w.max(h).max(1.0);
        let pad = [
            (size as f32 - w * scale) / 2.0,
            (size as f32 - h * scale) / 2.0,
        ];
        let input = crop_tensor(frame, size, (-1.0, 1.0), |u, v| {
            (x0 + (u - pad[0]) / scale, y0 + (v - pad[1]) / scale)
        })?;
        let outputs = run_model(&self.model, input)?;
        let (boxes, scores) = match outputs.as_slice() {
            [boxes, scores, ..] => (boxes, scores),
            _ => return Err(FaceError::Inference("detector gave too few outputs".into())),
        };
        let n = self.anchors.len();
        if boxes.len() < n * 16 || scores.len() < n {
            return Err(FaceError::Inference(format!(
                "detector outputs have {} and {} values, expected {} and {n}",
                boxes.len(),
                scores.len(),
                n * 16
            )));
        }
        // Tensor pixels (normalised by `size`) back to image pixels.
        let to_image = |x: f32, y: f32| {
            [
                x0 + (x * size as f32 - pad[0]) / scale,
                y0 + (y * size as f32 - pad[1]) / scale,
            ]
        };
        let mut candidates = Vec::new();
        for (i, anchor) in self.anchors.iter().enumerate() {
            let score = sigmoid(scores[i].clamp(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT));
            if score < MIN_SCORE {
                continue;
            }
            let r = &boxes[i * 16..(i + 1) * 16];
            let s = size as f32;
            let (cx, cy) = (r[0] / s + anchor[0], r[1] / s + anchor[1]);
            let (bw, bh) = (r[2] / s, r[3] / s);
            let min = to_image(cx - bw / 2.0, cy - bh / 2.0);
            let max = to_image(cx + bw / 2.0, cy + bh / 2.0);
            let mut keypoints = [[0.0; 2]; 6];
            for (k, point) in keypoints.iter_mut().enumerate() {
                *point = to_image(r[4 + 2 * k] / s + anchor[0], r[5 + 2 * k] / s + anchor[1]);
            }
            candidates.push(Detection {
                score,
                bbox: [min[0], min[1], max[0], max[1]],
                keypoints,
            });
        }
        Ok(weighted_suppression(candidates))
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Merges overlapping candidates: each face becomes the score-weighted mean
/// of the boxes and key points that overlap its best candidate.
fn weighted_suppression(mut candidates: Vec<Detection>) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut faces = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (group, rest): (Vec<Detection>, Vec<Detection>) = candidates
            .into_iter()
            .partition(|c| iou(&c.bbox, &best.bbox) > MIN_SUPPRESSION_IOU);
        candidates = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = Detection {
            score: best.score,
            bbox: [0.0; 4],
            keypoints: [[0.0; 2]; 6],
        };
        for d in &group {
            let w = d.score / total;
            for (m, v) in merged.bbox.iter_mut().zip(d.bbox) {
                *m += w * v;
            }
            for (m, v) in merged.keypoints.iter_mut().zip(d.keypoints) {
                m[0] += w * v[0];
                m[1] += w * v[1];
            }
        }
        faces.push(merged);
    }
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_grids_match_the_models_outputs() {
        assert_eq!(DetectorRange::Short.anchors().len(), 896);
        assert_eq!(DetectorRange::Full.anchors().len(), 2304);
    }

    #[test]
    fn suppression_merges_overlaps_and_keeps_separate_faces() {
        let det = |score, x: f32| Detection {
            score,
            bbox: [x, 0.0, x + 10.0, 10.0],
            keypoints: [[x, 0.0]; 6],
        };
        let faces = weighted_suppression(vec![det(0.9, 0.0), det(0.6, 1.0), det(0.8, 50.0)]);
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].score, 0.9);
        assert!(faces[0].bbox[0] > 0.0 && faces[0].bbox[0] < 1.0);
        assert_eq!(faces[1].bbox[0], 50.0);
    }
}
