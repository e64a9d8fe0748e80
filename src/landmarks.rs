//! Face landmarks as data: what the warps and the skin mask need of a face,
//! given per frame through the API or read from a JSON-lines file.
//!
//! One line per frame, coordinates in input pixels (continuous: the centre of
//! pixel (0, 0) is (0.5, 0.5)):
//!
//! ```text
//! {"frame":0,"faces":[{"box":[x,y,w,h],"left_eye":[x,y],"right_eye":[x,y],"contour":[[x,y],...]}]}
//! ```
//!
//! `left_eye` is the eye nearer the image's left edge. `contour` (the jaw and
//! cheek line, from one ear to the other through the chin) is optional; when
//! absent it is synthesised from the box and the eyes
//! ([`FaceLandmarks::contour_or_synthesised`]). Frames missing from a file
//! have no face.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most faces per frame the effects and the built-in landmarker handle;
/// further faces are ignored.
pub const MAX_FACES: usize = 8;

/// Faces the built-in landmarker follows unless told otherwise.
pub const DEFAULT_MAX_FACES: usize = 4;

/// Longest line accepted in a landmarks file.
const MAX_LINE: usize = 1 << 20;

/// Why landmarks could not be read or are unusable.
#[derive(Debug, Error)]
pub enum LandmarksError {
    /// The file could not be read.
    #[error("cannot read landmarks {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not the JSON we expect.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One face: box, eye centres and (optionally) the jaw/cheek contour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceLandmarks {
    /// Bounding box `[x, y, width, height]`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Centre of the eye nearer the image's left edge.
    pub left_eye: [f32; 2],
    /// Centre of the other eye.
    pub right_eye: [f32; 2],
    /// Jaw and cheek line, ear to ear through the chin; may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contour: Vec<[f32; 2]>,
}

/// The landmarks of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLandmarks {
    /// Zero-based frame index.
    pub frame: u64,
    /// The faces in it.
    pub faces: Vec<FaceLandmarks>,
}

impl FaceLandmarks {
    /// Checks that every number is finite, the box is not empty, the eyes
    /// are apart and the contour (if any) has at least three points.
    pub fn validate(&self) -> Result<(), String> {
        let numbers = self
            .bbox
            .iter()
            .chain(&self.left_eye)
            .chain(&self.right_eye)
            .chain(self.contour.iter().flatten());
        if numbers.clone().any(|v| !v.is_finite()) {
            return Err("a coordinate is not a finite number".into());
        }
        if numbers.clone().any(|v| v.abs() > 1.0e6) {
            return Err("a coordinate is beyond a million pixels".into());
        }
        if self.bbox[2] <= 0.0 || self.bbox[3] <= 0.0 {
            return Err("the box has no area".into());
        }
        if self.inter_ocular() < 1.0 {
            return Err("the eyes are less than a pixel apart".into());
        }
        if !self.contour.is_empty() && self.contour.len() < 3 {
            return Err("a contour needs at least three points".into());
        }
        Ok(())
    }

    /// Distance between the eye centres.
    pub fn inter_ocular(&self) -> f32 {
        let [dx, dy] = sub(self.right_eye, self.left_eye);
        dx.hypot(dy)
    }

    /// Unit vector from the left to the right eye, and the unit vector
    /// perpendicular to it that points down the face (towards the chin).
    pub fn axes(&self) -> ([f32; 2], [f32; 2]) {
        let [dx, dy] = sub(self.right_eye, self.left_eye);
        let length = dx.hypot(dy).max(1e-6);
        let across = [dx / length, dy / length];
        (across, [-across[1], across[0]])
    }

    /// The contour as given, or, when none was given, 11 points on the lower
    /// half of the ellipse inscribed in the box, turned with the eye line.
    pub fn contour_or_synthesised(&self) -> Vec<[f32; 2]> {
        if !self.contour.is_empty() {
            return self.contour.clone();
        }
        let [x, y, w, h] = self.bbox;
        let centre = [x + w / 2.0, y + h / 2.0];
        let (across, down) = self.axes();
        (0..11)
            .map(|i| {
                let t = std::f32::consts::PI * i as f32 / 10.0;
                let (a, b) = (w / 2.0 * t.cos(), h / 2.0 * t.sin());
                [
                    centre[0] + a * across[0] + b * down[0],
                    centre[1] + a * across[1] + b * down[1],
                ]
            })
            .collect()
    }

    /// A square face `size` pixels across at `(x, y)`, eyes at 35 % of its
    /// height and 30 % / 70 % of its width, no contour: the unit tests'
    /// stand-in face.
    #[cfg(test)]
    pub(crate) fn square(x: f32, y: f32, size: f32) -> Self {
        Self {
            bbox: [x, y, size, size],
            left_eye: [x + 0.3 * size, y + 0.35 * size],
            right_eye: [x + 0.7 * size, y + 0.35 * size],
            contour: Vec::new(),
        }
    }

    /// The same face with every point passed through `map`.
    pub fn mapped(&self, map: impl Fn([f32; 2]) -> [f32; 2]) -> Self {
        let corner = map([self.bbox[0], self.bbox[1]]);
        let far = map([self.bbox[0] + self.bbox[2], self.bbox[1] + self.bbox[3]]);
        let (left_eye, right_eye) = (map(self.left_eye), map(self.right_eye));
        // A mirror swaps which eye is nearer the left edge.
        let (left_eye, right_eye) = if left_eye[0] <= right_eye[0] {
            (left_eye, right_eye)
        } else {
            (right_eye, left_eye)
        };
        Self {
            bbox: [
                corner[0].min(far[0]),
                corner[1].min(far[1]),
                (far[0] - corner[0]).abs(),
                (far[1] - corner[1]).abs(),
            ],
            left_eye,
            right_eye,
            contour: self.contour.iter().map(|&p| map(p)).collect(),
        }
    }
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

/// Landmarks for many frames, looked up by frame index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LandmarkTrack {
    frames: BTreeMap<u64, Vec<FaceLandmarks>>,
}

impl LandmarkTrack {
    /// Reads a JSON-lines file (see the module docs). Blank lines are skipped;
    /// anything else that is not a valid frame line is an error naming the line.
    pub fn open(path: &Path) -> Result<Self, LandmarksError> {
        let file = std::fs::File::open(path).map_err(|source| LandmarksError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::read(BufReader::new(file), path)
    }

    /// Reads JSON lines from any reader; `name` is used in errors.
    pub fn read(reader: impl BufRead, name: &Path) -> Result<Self, LandmarksError> {
        let mut track = Self::default();
        let error = |line, reason: String| LandmarksError::Parse {
            path: name.to_path_buf(),
            line,
            reason,
        };
        let mut reader = reader;
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            // Read at most one byte past the limit: a file without line
            // breaks is refused without being held in memory whole.
            let read = Read::take(&mut reader, MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|source| LandmarksError::Io {
                    path: name.to_path_buf(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.len() > MAX_LINE {
                return Err(error(number, format!("line longer than {MAX_LINE} bytes")));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let frame: FrameLandmarks =
                serde_json::from_slice(&line).map_err(|e| error(number, e.to_string()))?;
            for (face_index, face) in frame.faces.iter().enumerate() {
                face.validate()
                    .map_err(|reason| error(number, format!("face {face_index}: {reason}")))?;
            }
            if track.frames.insert(frame.frame, frame.faces).is_some() {
                return Err(error(
                    number,
                    format!("frame {} appears twice", frame.frame),
                ));
            }
        }
        Ok(track)
    }

    /// Adds or replaces one frame's faces.
    pub fn insert(&mut self, frame: u64, faces: Vec<FaceLandmarks>) {
        self.frames.insert(frame, faces);
    }

    /// The faces of a frame; none when the frame is not in the track.
    pub fn faces(&self, frame: u64) -> &[FaceLandmarks] {
        self.frames.get(&frame).map_or(&[], Vec::as_slice)
    }

    /// Frames that have an entry.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame has an entry.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Writes one frame's landmarks as a JSON line.
pub fn write_line(
    writer: &mut impl Write,
    frame: u64,
    faces: &[FaceLandmarks],
) -> std::io::Result<()> {
    let line = FrameLandmarks {
        frame,
        faces: faces.to_vec(),
    };
    serde_json::to_writer(&mut *writer, &line)?;
    writer.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> FaceLandmarks {
        FaceLandmarks {
            bbox: [100.0, 50.0, 80.0, 100.0],
            left_eye: [120.0, 90.0],
            right_eye: [160.0, 90.0],
            contour: Vec::new(),
        }
    }

    #[test]
    fn reads_lines_and_reports_bad_ones_by_number() {
        let text = b"{\"frame\":0,\"faces\":[{\"box\":[1,2,30,40],\"left_eye\":[10,10],\"right_eye\":[20,10]}]}\n\n{\"frame\":3,\"faces\":[]}\n";
        let track = LandmarkTrack::read(&text[..], Path::new("t.jsonl")).unwrap();
        assert_eq!(track.faces(0).len(), 1);
        assert!(track.faces(1).is_empty());
        assert!(track.faces(3).is_empty());

        for (bad, needle) in [
            (&b"{\"frame\":0,\"faces\":[{\"box\":[1,2,30]}]}\n"[..], "t.jsonl:1"),
            (b"\n{\"frame\":0}\n", "t.jsonl:2"),
            (b"not json\n", "t.jsonl:1"),
            (
                b"{\"frame\":0,\"faces\":[{\"box\":[1,2,0,40],\"left_eye\":[10,10],\"right_eye\":[20,10]}]}\n",
                "no area",
            ),
            (
                b"{\"frame\":0,\"faces\":[{\"box\":[1,2,5,40],\"left_eye\":[10,10],\"right_eye\":[10,10]}]}\n",
                "apart",
            ),
            (b"{\"frame\":0,\"faces\":[]}\n{\"frame\":0,\"faces\":[]}\n", "twice"),
        ] {
            let err = LandmarkTrack::read(bad, Path::new("t.jsonl")).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn an_endless_line_is_refused_without_reading_it_all() {
        // 8 MiB of JSON-ish bytes and no line break; only the first MiB and
        // a byte are read.
        let endless = std::io::repeat(b' ').take(8 << 20);
        let mut counted = std::io::BufReader::new(endless);
        let result = LandmarkTrack::read(&mut counted, Path::new("endless.jsonl"));
        assert!(
            matches!(&result, Err(LandmarksError::Parse { line: 1, reason, .. }) if reason.contains("longer")),
            "{result:?}"
        );
        let left = counted.bytes().count();
        assert!(left >= (7 << 20) - 1, "{left} bytes left unread");
    }

    #[test]
    fn writes_what_it_reads() {
        let mut bytes = Vec::new();
        write_line(&mut bytes, 7, &[face()]).unwrap();
        let track = LandmarkTrack::read(&bytes[..], Path::new("x")).unwrap();
        assert_eq!(track.faces(7), &[face()]);
    }

    #[test]
    fn synthesised_contour_runs_through_the_chin() {
        let contour = face().contour_or_synthesised();
        assert_eq!(contour.len(), 11);
        // Ends at the box's sides, middle point at the bottom (the chin).
        assert!((contour[0][0] - 180.0).abs() < 1e-3);
        assert!((contour[10][0] - 100.0).abs() < 1e-3);
        assert!((contour[5][1] - 150.0).abs() < 1e-3);
    }

    #[test]
    fn mirrored_faces_keep_left_eye_on_the_left() {
        let mirrored = face().mapped(|[x, y]| [300.0 - x, y]);
        assert!(mirrored.left_eye[0] < mirrored.right_eye[0]);
        assert_eq!(mirrored.bbox, [120.0, 50.0, 80.0, 100.0]);
    }
}
