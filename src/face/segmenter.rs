//! Person segmentation: MediaPipe's selfie-segmentation models (square
//! 256×256 and landscape 256×144, Apache-2.0), converted to ONNX by
//! `scripts/setup.sh` (`scripts/convert_segmentation.py`), run with `tract`
//! on the landmarker's thread.
//!
//! The frame is stretched to the model's input (RGB 0..1), as MediaPipe
//! does; the model gives each input pixel the probability that it shows a
//! person, which [`MaskSmoother`] steadies over time and feathers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::person_mask::{MaskSmoother, PersonMask};
use super::{load_model, run_model, FaceError, Model, RgbSampler};
use crate::frame::I420Frame;

/// Frames at least this much wider than tall use the landscape model.
const LANDSCAPE_ASPECT: f32 = 1.3;
/// A gap this long between frames (a seek, a new source) restarts the
/// smoothing.
const CUT_GAP: Duration = Duration::from_millis(500);

/// Why the segmenter could not run.
#[derive(Debug, Error)]
pub enum SegmentError {
    /// A model file is missing.
    #[error(
        "segmentation model {path} is missing: run `bash scripts/setup.sh` (it fetches and \
         converts the models) or set LIVEROOM_MODELS to a folder holding them"
    )]
    ModelMissing {
        /// The file looked for.
        path: PathBuf,
    },
    /// A model file could not be loaded, or is not a segmentation model.
    #[error("cannot load segmentation model {path}: {reason}")]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Running the model failed.
    #[error("segmentation failed: {0}")]
    Inference(String),
}

impl SegmentError {
    fn from_face(path: &Path, error: FaceError) -> Self {
        match error {
            FaceError::ModelMissing { path } => SegmentError::ModelMissing { path },
            FaceError::ModelLoad { path, reason } => SegmentError::ModelLoad { path, reason },
            other => SegmentError::ModelLoad {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        }
    }
}

/// The two model files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentationPaths {
    /// The general model, 256×256 input.
    pub square: PathBuf,
    /// The landscape model, 256×144 input.
    pub landscape: PathBuf,
}

impl SegmentationPaths {
    /// The model files in a folder, under the names `scripts/setup.sh`
    /// gives them.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            square: dir.join("selfie_segmentation.onnx"),
            landscape: dir.join("selfie_segmentation_landscape.onnx"),
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

/// One loaded model and its input size.
struct Net {
    model: Model,
    width: usize,
    height: usize,
}

impl Net {
    fn load(path: &Path, width: usize, height: usize) -> Result<Self, SegmentError> {
        let net = Self {
            model: load_model(path).map_err(|e| SegmentError::from_face(path, e))?,
            width,
            height,
        };
        // A model of another shape fails here rather than on the first frame.
        net.run(&vec![0.0; 3 * width * height])
            .map_err(|e| SegmentError::ModelLoad {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(net)
    }

    /// Runs on a planar RGB `1 × 3 × height × width` input.
    fn run(&self, input: &[f32]) -> Result<PersonMask, SegmentError> {
        let tensor =
            tract_onnx::prelude::Tensor::from_shape(&[1, 3, self.height, self.width], input)
                .map_err(|e| SegmentError::Inference(format!("{e:#}")))?;
        let outputs =
            run_model(&self.model, tensor).map_err(|e| SegmentError::Inference(e.to_string()))?;
        let values = outputs
            .into_iter()
            .next()
            .ok_or_else(|| SegmentError::Inference("the model gave no output".into()))?;
        let found = values.len();
        let values = values.into_iter().map(|v| v.clamp(0.0, 1.0)).collect();
        PersonMask::new(self.width, self.height, values).ok_or_else(|| {
            SegmentError::Inference(format!(
                "the model gave {found} values, expected {}",
                self.width * self.height
            ))
        })
    }
}

/// Finds the person in each frame (see the module notes). Frames are
/// expected in stream order: the mask is smoothed over time.
pub struct PersonSegmenter {
    square: Net,
    landscape: Net,
    smoother: MaskSmoother,
    /// The last frame's size and timestamp, to notice cuts.
    last: Option<(u32, u32, Duration)>,
    input: Vec<f32>,
    /// Run the model on every `interval`-th frame; the others reuse the
    /// last mask.
    interval: u32,
    /// Frames since the model last ran, and its steadied mask.
    held: Option<(u32, PersonMask)>,
}

impl PersonSegmenter {
    /// Loads both models.
    pub fn new(paths: &SegmentationPaths) -> Result<Self, SegmentError> {
        Ok(Self {
            square: Net::load(&paths.square, 256, 256)?,
            landscape: Net::load(&paths.landscape, 256, 144)?,
            smoother: MaskSmoother::default(),
            last: None,
            input: Vec::new(),
            interval: 1,
            held: None,
        })
    }

    /// Runs the model on every `interval`-th frame only (at least 1, the
    /// default); the frames between reuse the last mask, which divides the
    /// segmenter's cost by `interval` at the price of an edge that moves in
    /// steps on fast motion.
    pub fn with_interval(self, interval: u32) -> Self {
        Self {
            interval: interval.max(1),
            ..self
        }
    }

    /// The model's own probabilities for one frame, without smoothing.
    pub fn raw_mask(&mut self, frame: &I420Frame) -> Result<PersonMask, SegmentError> {
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let net = if w >= h * LANDSCAPE_ASPECT {
            &self.landscape
        } else {
            &self.square
        };
        let sampler = RgbSampler::new(frame);
        let plane = net.width * net.height;
        self.input.clear();
        self.input.resize(3 * plane, 0.0);
        let (sx, sy) = (w / net.width as f32, h / net.height as f32);
        for v in 0..net.height {
            for u in 0..net.width {
                let rgb = sampler.at((u as f32 + 0.5) * sx, (v as f32 + 0.5) * sy);
                for (c, value) in rgb.into_iter().enumerate() {
                    self.input[c * plane + v * net.width + u] = value;
                }
            }
        }
        net.run(&self.input)
    }

    /// This frame's person mask, steadied over the frames before it and
    /// feathered.
    pub fn mask(&mut self, frame: &I420Frame) -> Result<PersonMask, SegmentError> {
        let now = (frame.width(), frame.height(), frame.timestamp);
        let cut = match self.last {
            Some((w, h, t)) => {
                w != now.0 || h != now.1 || now.2 < t || now.2.saturating_sub(t) > CUT_GAP
            }
            None => true,
        };
        if cut {
            self.smoother.reset();
            self.held = None;
        }
        self.last = Some(now);
        if let Some((age, mask)) = self.held.as_mut() {
            *age += 1;
            if *age < self.interval {
                return Ok(mask.clone());
            }
        }
        let raw = self.raw_mask(frame)?;
        let mask = self.smoother.update(&raw);
        self.held = Some((0, mask.clone()));
        Ok(mask)
    }
}
