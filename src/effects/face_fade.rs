//! [`FaceFade`]: the shape effects (face-thinness, eye-bigness) fade in over
//! [`FADE_TIME`] when a face appears and out over the same time when it is
//! lost, so that nothing snaps (FaceUnity's `change_frames`).
//!
//! Faces carry no identity, so each frame's faces are matched to the faces
//! followed so far by the overlap of their boxes (intersection over union,
//! best pairs first). A matched face's weight rises, a new one starts at 0,
//! and a face no longer found keeps its last landmarks while its weight
//! falls, then is dropped at 0. A face found again before that resumes from
//! the weight it had reached. Time is the frames' stream time, not a frame
//! count: the fade lasts the same whatever the frame rate, and frames the
//! source drops do not stretch it.

use std::time::Duration;

use crate::landmarks::{FaceLandmarks, MAX_FACES};

/// How long a face's shape effects take to fade fully in or out.
pub const FADE_TIME: Duration = Duration::from_millis(300);

/// Boxes overlapping less than this (intersection over union) are taken to
/// be different faces.
const MIN_OVERLAP: f32 = 0.3;

/// Weights this close to 0 or 1 are taken as 0 or 1 (so that steps that do
/// not add up exactly still end the fade on the frame they should).
const SNAP: f32 = 1e-3;

/// The shape effects' weights for one frame's faces, from [`FaceFade`].
/// The default weighs every face fully and has no face fading out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceWeights {
    /// The weight (0..=1) of each of the frame's faces, in order; a face
    /// without an entry weighs 1.
    pub present: Vec<f32>,
    /// Faces lost less than [`FADE_TIME`] ago, at their last landmarks and
    /// with their falling weight (above 0): they get shape effects only,
    /// no skin region.
    pub fading: Vec<(FaceLandmarks, f32)>,
}

impl FaceWeights {
    /// The weight of the frame's face `index` (1 without an entry).
    pub fn of(&self, index: usize) -> f32 {
        self.present.get(index).copied().unwrap_or(1.0)
    }
}

/// A face followed across frames.
#[derive(Debug, Clone)]
struct Followed {
    /// Its landmarks when last found.
    face: FaceLandmarks,
    /// How far its shape effects are faded in, 0..=1.
    weight: f32,
}

/// Follows faces across frames and fades their shape effects in and out.
/// Call [`FaceFade::update`] once per frame, in stream order.
#[derive(Debug, Clone)]
pub struct FaceFade {
    duration: Duration,
    followed: Vec<Followed>,
    last_time: Option<Duration>,
}

impl Default for FaceFade {
    fn default() -> Self {
        Self::new(FADE_TIME)
    }
}

impl FaceFade {
    /// Fades over `duration` (zero: no fade, every face at full weight).
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            followed: Vec::new(),
            last_time: None,
        }
    }

    /// The weights for the frame at stream time `time` with `faces` (at
    /// most [`MAX_FACES`] are followed, as many as the effects use). Time
    /// that goes backwards counts as none passing.
    pub fn update(&mut self, faces: &[FaceLandmarks], time: Duration) -> FaceWeights {
        let faces = &faces[..faces.len().min(MAX_FACES)];
        let elapsed = self
            .last_time
            .map_or(Duration::ZERO, |last| time.saturating_sub(last));
        self.last_time = Some(time);
        let step = if self.duration.is_zero() {
            1.0
        } else {
            (elapsed.as_secs_f64() / self.duration.as_secs_f64()).min(1.0) as f32
        };
        let pairs = self.match_faces(faces);
        let mut present = vec![0.0; faces.len()];
        let mut next = Vec::with_capacity(faces.len() + self.followed.len());
        let mut matched_followed = vec![false; self.followed.len()];
        for (index, face) in faces.iter().enumerate() {
            let weight = match pairs.iter().find(|&&(_, f)| f == index) {
                Some(&(followed, _)) => {
                    matched_followed[followed] = true;
                    let weight = self.followed[followed].weight + step;
                    if weight >= 1.0 - SNAP {
                        1.0
                    } else {
                        weight
                    }
                }
                // A new face starts from nothing.
                None if self.duration.is_zero() => 1.0,
                None => 0.0,
            };
            present[index] = weight;
            next.push(Followed {
                face: face.clone(),
                weight,
            });
        }
        let mut fading = Vec::new();
        for (followed, matched) in self.followed.drain(..).zip(matched_followed) {
            let weight = followed.weight - step;
            if matched || weight <= SNAP {
                continue;
            }
            fading.push((followed.face.clone(), weight));
            next.push(Followed { weight, ..followed });
        }
        self.followed = next;
        FaceWeights { present, fading }
    }

    /// `(followed, face)` index pairs of the same face: best overlaps first,
    /// each face and each followed face used once.
    fn match_faces(&self, faces: &[FaceLandmarks]) -> Vec<(usize, usize)> {
        let mut candidates = Vec::new();
        for (i, followed) in self.followed.iter().enumerate() {
            for (j, face) in faces.iter().enumerate() {
                let overlap = box_overlap(followed.face.bbox, face.bbox);
                if overlap >= MIN_OVERLAP {
                    candidates.push((overlap, i, j));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (_, i, j) in candidates {
            if !pairs.iter().any(|&(a, b)| a == i || b == j) {
                pairs.push((i, j));
            }
        }
        pairs
    }
}

/// Intersection over union of two `[x, y, width, height]` boxes (0 when
/// either is empty or not finite).
pub fn box_overlap(a: [f32; 4], b: [f32; 4]) -> f32 {
    if a.iter().chain(&b).any(|v| !v.is_finite()) {
        return 0.0;
    }
    let width = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let height = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if !(width > 0.0 && height > 0.0) {
        return 0.0;
    }
    let intersection = width * height;
    let union = a[2] * a[3] + b[2] * b[3] - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(x: f32, y: f32) -> FaceLandmarks {
        FaceLandmarks {
            bbox: [x, y, 100.0, 120.0],
            left_eye: [x + 30.0, y + 40.0],
            right_eye: [x + 70.0, y + 40.0],
            contour: Vec::new(),
        }
    }

    /// Stream time of frame `index` at 30 fps.
    fn at_30fps(index: u64) -> Duration {
        Duration::from_nanos(index * 1_000_000_000 / 30)
    }

    #[test]
    fn overlap_of_boxes() {
        assert_eq!(
            box_overlap([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]),
            1.0
        );
        assert_eq!(
            box_overlap([0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 10.0, 10.0]),
            0.0
        );
        let half = box_overlap([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0]);
        assert!((half - 1.0 / 3.0).abs() < 1e-6, "{half}");
        assert_eq!(
            box_overlap([0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 10.0]),
            0.0
        );
        assert_eq!(
            box_overlap([f32::NAN, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]),
            0.0
        );
    }

    #[test]
    fn a_face_that_appears_fades_in_over_about_0_3_s() {
        let mut fade = FaceFade::default();
        let mut weights = Vec::new();
        for frame in 0..20 {
            // Moving a little, as a tracked face does.
            let face = face_at(100.0 + frame as f32, 50.0);
            let w = fade.update(&[face], at_30fps(frame));
            assert!(w.fading.is_empty());
            weights.push(w.of(0));
        }
        assert_eq!(weights[0], 0.0, "a new face starts at nothing");
        for pair in weights.windows(2) {
            assert!(pair[1] >= pair[0], "{weights:?}");
        }
        // 0.3 s at 30 fps is 9 frames: below 1 before, 1 from then on.
        assert!(weights[8] < 1.0, "{weights:?}");
        assert!((weights[9] - 1.0).abs() < 1e-4, "{weights:?}");
        assert!(weights[10..].iter().all(|&w| w == 1.0), "{weights:?}");
        assert!((weights[3] - 1.0 / 3.0).abs() < 1e-3, "{weights:?}");
    }

    #[test]
    fn a_lost_face_keeps_its_last_landmarks_fades_out_and_is_dropped() {
        let mut fade = FaceFade::default();
        let face = face_at(100.0, 50.0);
        for frame in 0..12 {
            fade.update(std::slice::from_ref(&face), at_30fps(frame));
        }
        let mut weights = Vec::new();
        for frame in 12..24 {
            let w = fade.update(&[], at_30fps(frame));
            assert!(w.present.is_empty());
            assert!(w.fading.len() <= 1);
            if let Some((last, weight)) = w.fading.first() {
                assert_eq!(last, &face);
                weights.push(*weight);
            } else {
                weights.push(0.0);
            }
        }
        for pair in weights.windows(2) {
            assert!(pair[1] <= pair[0], "{weights:?}");
        }
        assert!(weights[0] > 0.85 && weights[0] < 1.0, "{weights:?}");
        assert!(weights[7] > 0.0, "{weights:?}");
        assert!(weights[9..].iter().all(|&w| w == 0.0), "{weights:?}");
        assert!(fade.followed.is_empty(), "dropped after the fade");
    }

    #[test]
    fn a_face_back_within_the_fade_resumes_from_its_weight() {
        let mut fade = FaceFade::default();
        let face = face_at(100.0, 50.0);
        for frame in 0..12 {
            fade.update(std::slice::from_ref(&face), at_30fps(frame));
        }
        let mut last = 1.0;
        for frame in 12..16 {
            let w = fade.update(&[], at_30fps(frame));
            last = w.fading[0].1;
        }
        assert!(last > 0.5 && last < 0.6, "{last}");
        // Back, a little moved: no jump, it rises from where it was.
        let w = fade.update(&[face_at(104.0, 52.0)], at_30fps(16));
        assert!(w.fading.is_empty());
        let back = w.of(0);
        assert!(back > last && back - last < 0.12, "{last} then {back}");
        let w = fade.update(&[face_at(106.0, 52.0)], at_30fps(17));
        assert!(w.of(0) > back);
        // A face appearing mid-fade elsewhere starts from nothing instead.
        let w = fade.update(&[face_at(106.0, 52.0), face_at(400.0, 50.0)], at_30fps(18));
        assert_eq!(w.of(1), 0.0);
    }

    #[test]
    fn two_faces_are_told_apart_by_their_boxes() {
        let mut fade = FaceFade::default();
        let (a, b) = (face_at(0.0, 0.0), face_at(300.0, 0.0));
        for frame in 0..10 {
            fade.update(&[a.clone(), b.clone()], at_30fps(frame));
        }
        // Order swapped, one lost: the one kept stays at 1, the other fades.
        let w = fade.update(std::slice::from_ref(&b), at_30fps(10));
        assert_eq!(w.present, vec![1.0]);
        assert_eq!(w.fading.len(), 1);
        assert_eq!(w.fading[0].0, a);
    }

    #[test]
    fn no_fade_time_gives_full_weight_at_once() {
        let mut fade = FaceFade::new(Duration::ZERO);
        let w = fade.update(&[face_at(0.0, 0.0)], at_30fps(0));
        assert_eq!(w.of(0), 1.0);
        let w = fade.update(&[], at_30fps(1));
        assert!(w.fading.is_empty());
    }

    #[test]
    fn time_going_back_counts_as_none() {
        let mut fade = FaceFade::default();
        fade.update(&[face_at(0.0, 0.0)], at_30fps(10));
        let w = fade.update(&[face_at(0.0, 0.0)], at_30fps(3));
        assert_eq!(w.of(0), 0.0);
    }
}
