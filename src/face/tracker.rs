//! The built-in landmarker: detect when no face is followed, then follow
//! each face with the mesh from its previous position, letting it go when
//! the mesh no longer sees a face; every output coordinate is smoothed with a
//! One-Euro filter. With several faces they may take turns for the mesh
//! ([`LandmarkerConfig::meshes_per_frame`]), the others carrying their
//! landmarks forward.

use super::detector::{DetectorRange, FaceDetector};
use super::mesh::{FaceMesh, Roi};
use super::one_euro::OneEuroFilter;
use super::{FaceError, FaceLandmarker, ModelPaths};
use crate::frame::I420Frame;
use crate::landmarks::{FaceLandmarks, DEFAULT_MAX_FACES, MAX_FACES};

/// Settings of [`BuiltinLandmarker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LandmarkerConfig {
    /// Most faces followed at once, 1..=[`MAX_FACES`] (default
    /// [`DEFAULT_MAX_FACES`]); anything else is
    /// [`FaceError::MaxFaces`] from [`LandmarkerConfig::validate`].
    pub max_faces: usize,
    /// A followed face whose mesh scores below this is let go.
    pub min_mesh_score: f32,
    /// One-Euro rest cut-off, Hz.
    pub min_cutoff: f32,
    /// One-Euro speed coefficient.
    pub beta: f32,
    /// Frames between searches for new faces while fewer than `max_faces`
    /// are followed (a search runs at once when none is). With the mesh
    /// on every other frame or less, searches run on frames without a
    /// mesh, so that no frame pays for both.
    pub search_interval: u32,
    /// Frames between searches while no face is followed (1: every frame).
    /// A search costs several detector runs; with no face in view, every
    /// frame searching was what held a live push below real time on a
    /// small CPU.
    pub empty_search_interval: u32,
    /// Run the mesh on every `mesh_interval`-th frame while following
    /// faces (1: every frame); in between, each face's landmarks move on
    /// at the speed of their last two results. 2 halves the landmarker's
    /// cost at 30 frames/s for a small lag on sudden moves.
    pub mesh_interval: u32,
    /// Most faces meshed in one frame (0: every face that is due). The
    /// others carry their landmarks forward at the speed of their last two
    /// results and take their turn on a later frame, the longest-waiting
    /// first; faces just found are always meshed. 1 keeps the
    /// landmarker's cost per frame near one face's however many faces it
    /// follows.
    pub meshes_per_frame: usize,
}

impl Default for LandmarkerConfig {
    fn default() -> Self {
        Self {
            max_faces: DEFAULT_MAX_FACES,
            min_mesh_score: 0.5,
            min_cutoff: 1.0,
            beta: 0.1,
            search_interval: 15,
            empty_search_interval: 1,
            mesh_interval: 1,
            meshes_per_frame: 0,
        }
    }
}

impl LandmarkerConfig {
    /// The pusher's settings: the defaults with the mesh on every other
    /// frame, which halves the landmarker's share of the CPU on a live
    /// 30 frames/s push (see [`LandmarkerConfig::mesh_interval`]), one
    /// face meshed per frame, so that several faces take turns instead of
    /// adding a mesh each (see [`LandmarkerConfig::meshes_per_frame`]), and
    /// with no face in view a search every third frame (a face that comes
    /// in is found within 0.1 s at 30 frames/s; the shape effects fade in
    /// over 0.3 s anyway).
    pub fn for_live() -> Self {
        Self {
            mesh_interval: 2,
            meshes_per_frame: 1,
            empty_search_interval: 3,
            ..Self::default()
        }
    }

    /// Checks the settings: `max_faces` must be 1..=[`MAX_FACES`].
    pub fn validate(&self) -> Result<(), FaceError> {
        if (1..=MAX_FACES).contains(&self.max_faces) {
            Ok(())
        } else {
            Err(FaceError::MaxFaces(self.max_faces))
        }
    }
}

/// A followed face.
struct Track {
    roi: Roi,
    filters: Vec<OneEuroFilter>,
    /// The last two smoothed results and their times, newest last.
    history: Vec<(f32, FaceLandmarks)>,
    /// Frames since its mesh last ran.
    waiting: u32,
}

impl Track {
    /// Keeps a result for extrapolation.
    fn remember(&mut self, t: f32, face: &FaceLandmarks) {
        if self.history.len() == 2 {
            self.history.remove(0);
        }
        self.history.push((t, face.clone()));
    }

    /// The landmarks at time `t` moved on from the last result at the
    /// speed of the last two; `None` without a result yet.
    fn extrapolate(&self, t: f32) -> Option<FaceLandmarks> {
        let (t1, last) = self.history.last()?;
        let Some((t0, previous)) = self.history.first().filter(|_| self.history.len() == 2) else {
            return Some(last.clone());
        };
        let span = t1 - t0;
        if span <= 0.0 {
            return Some(last.clone());
        }
        let k = ((t - t1) / span).clamp(0.0, 2.0);
        let step = |a: f32, b: f32| b + (b - a) * k;
        let point = |a: [f32; 2], b: [f32; 2]| [step(a[0], b[0]), step(a[1], b[1])];
        let mut face = last.clone();
        for i in 0..2 {
            face.bbox[i] = step(previous.bbox[i], last.bbox[i]);
        }
        face.left_eye = point(previous.left_eye, last.left_eye);
        face.right_eye = point(previous.right_eye, last.right_eye);
        if previous.contour.len() == last.contour.len() {
            for (out, (a, b)) in face
                .contour
                .iter_mut()
                .zip(previous.contour.iter().zip(&last.contour))
            {
                *out = point(*a, *b);
            }
        }
        Some(face)
    }

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
    /// Frames since the last search (`u32::MAX` before the first).
    frames_since_search: u32,
    /// The tile the next search's tiled full-range pass looks at.
    next_tile: usize,
}

/// Side of the tiles (frame pixels) the full-range detector looks at, one
/// per search, on frames larger than a tile: there a face about 24 px
/// across fills as much of the model's input as a 60 px one does in a
/// 720p frame seen whole.
pub const DETECTION_TILE: u32 = 320;

/// The tiles `[x, y, w, h]` covering a `width × height` frame, overlapping
/// by a quarter of a tile so a small face lies whole in one; none when the
/// frame fits in one tile.
pub fn detection_tiles(width: u32, height: u32) -> Vec<[f32; 4]> {
    let side = DETECTION_TILE;
    if width <= side && height <= side {
        return Vec::new();
    }
    let starts = |extent: u32| {
        let step = side * 3 / 4;
        let mut starts: Vec<u32> = (0..)
            .map(|i| i * step)
            .take_while(|&s| s + side < extent)
            .collect();
        starts.push(extent.saturating_sub(side));
        starts
    };
    let (xs, ys) = (starts(width), starts(height));
    ys.iter()
        .flat_map(|&y| {
            xs.iter().map(move |&x| {
                [
                    x as f32,
                    y as f32,
                    side.min(width) as f32,
                    side.min(height) as f32,
                ]
            })
        })
        .collect()
}

impl BuiltinLandmarker {
    /// Checks `config` ([`LandmarkerConfig::validate`]), then loads the
    /// three models.
    pub fn new(paths: &ModelPaths, config: LandmarkerConfig) -> Result<Self, FaceError> {
        config.validate()?;
        // The three models load and optimise side by side (about 60 ms each
        // on one core); a failure is reported for the first model in this
        // order, whichever finished first.
        let (short_range, full_range, mesh) = std::thread::scope(|scope| {
            let short = || FaceDetector::new(&paths.short_range, DetectorRange::Short);
            let full = || FaceDetector::new(&paths.full_range, DetectorRange::Full);
            let short_range = std::thread::Builder::new()
                .name("liveroom-model".into())
                .spawn_scoped(scope, short);
            let full_range = std::thread::Builder::new()
                .name("liveroom-model".into())
                .spawn_scoped(scope, full);
            let mesh = FaceMesh::new(&paths.mesh);
            // A thread that could not start (or panicked) loads here.
            let joined =
                |handle: std::io::Result<std::thread::ScopedJoinHandle<'_, _>>,
                 load: &dyn Fn() -> Result<FaceDetector, FaceError>| {
                    handle
                        .ok()
                        .and_then(|handle| handle.join().ok())
                        .unwrap_or_else(load)
                };
            (joined(short_range, &short), joined(full_range, &full), mesh)
        });
        Ok(Self {
            short_range: short_range?,
            full_range: full_range?,
            mesh: mesh?,
            config,
            tracks: Vec::new(),
            // Never searched: the first frame searches at once.
            frames_since_search: u32::MAX,
            next_tile: 0,
        })
    }

    /// Forgets the followed faces (after a cut, or a switch of source).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// Looks for faces not yet followed and starts following them.
    fn search(&mut self, frame: &I420Frame) -> Result<(), FaceError> {
        let mut detections = self.short_range.detect(frame)?;
        // The full-range model sees the smaller faces: it runs when the
        // short one leaves room for more faces, on the whole frame and on
        // one of its tiles in turn (for faces down to about 24 px), and
        // adds the faces that the short one did not find.
        if self.tracks.len() + detections.len() < self.config.max_faces {
            let mut far = self.full_range.detect(frame)?;
            let tiles = detection_tiles(frame.width(), frame.height());
            if let Some(&tile) = tiles.get(self.next_tile % tiles.len().max(1)) {
                self.next_tile = (self.next_tile + 1) % tiles.len();
                far.extend(self.full_range.detect_in(frame, tile)?);
            }
            for far in far {
                let [x0, y0, x1, y1] = far.bbox;
                let centre = [(x0 + x1) / 2.0, (y0 + y1) / 2.0];
                let seen = detections.iter().any(|near| {
                    let [a0, b0, a1, b1] = near.bbox;
                    (a0..=a1).contains(&centre[0]) && (b0..=b1).contains(&centre[1])
                });
                if !seen {
                    detections.push(far);
                }
            }
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
                history: Vec::new(),
                waiting: 0,
            });
        }
        Ok(())
    }

    /// Whether a search for more faces is due: fewer than `max_faces`
    /// followed and `search_interval` (+ `grace`) frames since the last.
    fn search_due(&self, grace: u32) -> bool {
        self.tracks.len() < self.config.max_faces
            && self.frames_since_search >= self.config.search_interval.saturating_add(grace)
    }

    /// Which tracks the mesh runs on this frame: those without two
    /// results yet, then those waiting at least `mesh_interval` frames,
    /// longest-waiting first, up to `meshes_per_frame` in all.
    fn due(&self) -> Vec<bool> {
        let interval = self.config.mesh_interval.max(1);
        let mut due: Vec<bool> = self.tracks.iter().map(|t| t.history.len() < 2).collect();
        let fresh = due.iter().filter(|&&d| d).count();
        let budget = match self.config.meshes_per_frame {
            0 => usize::MAX,
            most => most.saturating_sub(fresh),
        };
        let mut waiting: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| !due[i] && self.tracks[i].waiting >= interval)
            .collect();
        waiting.sort_by_key(|&i| std::cmp::Reverse(self.tracks[i].waiting));
        for i in waiting.into_iter().take(budget) {
            due[i] = true;
        }
        due
    }

    /// Runs the mesh on the tracks that are due (see
    /// [`BuiltinLandmarker::due`]) and carries the others forward to time
    /// `t`; lets go of the meshed tracks that no longer see a face. The
    /// faces, in the kept tracks' order.
    fn follow(&mut self, frame: &I420Frame, t: f32) -> Result<Vec<FaceLandmarks>, FaceError> {
        let due = self.due();
        let mut faces = Vec::with_capacity(self.tracks.len());
        let mut kept = Vec::with_capacity(self.tracks.len());
        for (mut track, due) in std::mem::take(&mut self.tracks).into_iter().zip(due) {
            if !due {
                faces.extend(track.extrapolate(t));
                kept.push(track);
                continue;
            }
            let mesh = self.mesh.run(frame, &track.roi)?;
            if mesh.score < self.config.min_mesh_score {
                continue;
            }
            track.roi = mesh.next_roi();
            let mut face = mesh.landmarks();
            track.smooth(&mut face, t, &self.config);
            track.remember(t, &face);
            track.waiting = 0;
            faces.push(face);
            kept.push(track);
        }
        self.tracks = kept;
        Ok(faces)
    }
}

impl FaceLandmarker for BuiltinLandmarker {
    fn landmarks(&mut self, frame: &I420Frame) -> Result<Vec<FaceLandmarks>, FaceError> {
        let t = frame.timestamp.as_secs_f32();
        for track in &mut self.tracks {
            track.waiting = track.waiting.saturating_add(1);
        }
        // No face due for the mesh: the followed faces move on by
        // extrapolation. A search that is due runs on such a frame, which
        // has no mesh to pay for, so that no frame pays for both; the
        // faces it finds are meshed at once.
        if !self.tracks.is_empty() && !self.due().contains(&true) {
            self.frames_since_search = self.frames_since_search.saturating_add(1);
            if self.search_due(0) {
                self.frames_since_search = 0;
                self.search(frame)?;
                return self.follow(frame, t);
            }
            return Ok(self
                .tracks
                .iter()
                .filter_map(|track| track.extrapolate(t))
                .collect());
        }
        if self.tracks.is_empty()
            && self.frames_since_search.saturating_add(1) < self.config.empty_search_interval
        {
            // No face in view and no search due yet.
            self.frames_since_search = self.frames_since_search.saturating_add(1);
            return Ok(Vec::new());
        }
        // Where the mesh skips frames, a due search waits a frame for one
        // without a mesh (above).
        let grace = u32::from(self.config.mesh_interval > 1);
        let searched = if self.tracks.is_empty() || self.search_due(grace) {
            self.frames_since_search = 0;
            self.search(frame)?;
            true
        } else {
            self.frames_since_search = self.frames_since_search.saturating_add(1);
            false
        };
        let mut faces = self.follow(frame, t)?;
        if self.tracks.is_empty() && !searched {
            // Every face was lost: look again in this same frame.
            self.search(frame)?;
            faces = self.follow(frame, t)?;
        }
        Ok(faces)
    }
}
