//! The built-in landmarker: detect when no face is followed, then follow
//! each face with the mesh from its previous position, letting it go when
//! the mesh no longer sees a face; every output coordinate is smoothed with a
//! One-Euro filter.

use super::detector::{DetectorRange, FaceDetector};
use super::mesh::{FaceMesh, MeshResult, Roi};
use super::one_euro::OneEuroFilter;
use super::{FaceError, FaceLandmarker, ModelPaths};
use crate::frame::I420Frame;
use crate::landmarks::{FaceLandmarks, MAX_FACES};

/// Settings of [`BuiltinLandmarker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LandmarkerConfig {
    /// Most faces followed at once (1..=[`MAX_FACES`]).
    pub max_faces: usize,
    /// A followed face whose mesh scores below this is let go.
    pub min_mesh_score: f32,
    /// One-Euro rest cut-off, Hz.
    pub min_cutoff: f32,
    /// One-Euro speed coefficient.
    pub beta: f32,
    /// Frames between searches for new faces while fewer than `max_faces`
    /// are followed (a search runs at once when none is).
    pub search_interval: u32,
}

impl Default for LandmarkerConfig {
    fn default() -> Self {
        Self {
            max_faces: 1,
            min_mesh_score: 0.5,
            min_cutoff: 1.0,
            beta: 0.1,
            search_interval: 15,
        }
    }
}

/// A followed face.
struct Track {
    roi: Roi,
    filters: Vec<OneEuroFilter>,
}

impl Track {
    /// Smooths the landmarks' coordinates in place.
    fn smooth(&mut self, face: &mut FaceLandmarks, t: f32, config: &LandmarkerConfig) {
        let values = face
            .bbox
            .iter_mut()
            .chain(face.left_eye.iter_mut())
            .chain(face.right_eye.iter_mut())
            .chain(face.contour.iter_mut().flatten());
        for (i, value) in values.enumerate() {
            if self.filters.len() <= i {
                self.filters
                    .push(OneEuroFilter::new(config.min_cutoff, config.beta));
            }
            *value = self.filters[i].filter(*value, t);
        }
    }
}

/// BlazeFace + FaceMesh with tracking and smoothing.
pub struct BuiltinLandmarker {
    short_range: FaceDetector,
    full_range: FaceDetector,
    mesh: FaceMesh,
    config: LandmarkerConfig,
    tracks: Vec<Track>,
    frames_since_search: u32,
}

impl BuiltinLandmarker {
    /// Loads the three models.
    pub fn new(paths: &ModelPaths, config: LandmarkerConfig) -> Result<Self, FaceError> {
        Ok(Self {
            short_range: FaceDetector::new(&paths.short_range, DetectorRange::Short)?,
            full_range: FaceDetector::new(&paths.full_range, DetectorRange::Full)?,
            mesh: FaceMesh::new(&paths.mesh)?,
            config: LandmarkerConfig {
                max_faces: config.max_faces.clamp(1, MAX_FACES),
                ..config
            },
            tracks: Vec::new(),
            frames_since_search: 0,
        })
    }

    /// Forgets the followed faces (after a cut, or a switch of source).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// Looks for faces not yet followed and starts following them.
    fn search(&mut self, frame: &I420Frame) -> Result<(), FaceError> {
        let mut detections = self.short_range.detect(frame)?;
        if detections.is_empty() {
            detections = self.full_range.detect(frame)?;
        }
        for detection in detections {
            if self.tracks.len() >= self.config.max_faces {
                break;
            }
            let [x0, y0, x1, y1] = detection.bbox;
            let centre = [(x0 + x1) / 2.0, (y0 + y1) / 2.0];
            let known = self.tracks.iter().any(|t| {
                let d = [t.roi.centre[0] - centre[0], t.roi.centre[1] - centre[1]];
                d[0].hypot(d[1]) < t.roi.side / 3.0
            });
            if known {
                continue;
            }
            let [right, left] = [detection.keypoints[0], detection.keypoints[1]];
            let roll = (left[1] - right[1]).atan2(left[0] - right[0]);
            let side = (x1 - x0).max(y1 - y0) * 1.5;
            self.tracks.push(Track {
                roi: Roi {
                    centre,
                    side,
                    rotation: roll,
                },
                filters: Vec::new(),
            });
        }
        Ok(())
    }

    /// Runs the mesh on every track; keeps the tracks that still see a
    /// face, and their meshes in the same order.
    fn follow(&mut self, frame: &I420Frame) -> Result<Vec<MeshResult>, FaceError> {
        let mut meshes = Vec::new();
        let mut kept = Vec::new();
        for track in std::mem::take(&mut self.tracks) {
            let mesh = self.mesh.run(frame, &track.roi)?;
            if mesh.score >= self.config.min_mesh_score {
                kept.push(track);
                meshes.push(mesh);
            }
        }
        self.tracks = kept;
        Ok(meshes)
    }
}

impl FaceLandmarker for BuiltinLandmarker {
    fn landmarks(&mut self, frame: &I420Frame) -> Result<Vec<FaceLandmarks>, FaceError> {
        let searched = if self.tracks.is_empty()
            || (self.tracks.len() < self.config.max_faces
                && self.frames_since_search >= self.config.search_interval)
        {
            self.frames_since_search = 0;
            self.search(frame)?;
            true
        } else {
            self.frames_since_search += 1;
            false
        };
        let mut meshes = self.follow(frame)?;
        if meshes.is_empty() && !searched {
            // Every face was lost: look again in this same frame.
            self.search(frame)?;
            meshes = self.follow(frame)?;
        }
        let t = frame.timestamp.as_secs_f32();
        let mut faces = Vec::with_capacity(meshes.len());
        for (track, mesh) in self.tracks.iter_mut().zip(meshes) {
            track.roi = mesh.next_roi();
            let mut face = mesh.landmarks();
            track.smooth(&mut face, t, &self.config);
            faces.push(face);
        }
        Ok(faces)
    }
}
