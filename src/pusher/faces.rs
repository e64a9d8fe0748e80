//! Frames paired with their faces, from the source, for the push loop.

use super::PushError;
use crate::face::{
    BuiltinLandmarker, FaceLandmarker, LandmarkWorker, LandmarkerConfig, ModelPaths, PersonMask,
    PersonSegmenter,
};
use crate::frame::I420Frame;
use crate::landmarks::{FaceLandmarks, LandmarkTrack};
use crate::source::FrameSource;

/// Where the pusher gets each frame's faces.
pub enum FaceInput {
    /// The built-in landmarker (BlazeFace + FaceMesh, with
    /// [`LandmarkerConfig::for_live`] and the config's `max_faces`) when a face effect is on, none
    /// otherwise. The default.
    Auto,
    /// The built-in landmarker, even with no face effect on (to record
    /// the landmarks, say).
    Builtin,
    /// Faces per frame index, e.g. from `--landmarks FILE.jsonl`.
    Track(LandmarkTrack),
    /// The application's own landmarker, run on a worker thread.
    Landmarker(Box<dyn FaceLandmarker>),
    /// No faces: warps do nothing; whitening and smoothing still use the
    /// skin colour model.
    None,
}

impl std::fmt::Debug for FaceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaceInput::Auto => "Auto",
            FaceInput::Builtin => "Builtin",
            FaceInput::Track(_) => "Track",
            FaceInput::Landmarker(_) => "Landmarker",
            FaceInput::None => "None",
        })
    }
}

/// Reads frames and finds their faces; with a landmarker, the next frames'
/// faces are being found while the current one is on the GPU.
pub(super) enum FaceFeed {
    /// A landmarker on its thread, with this many frames handed to it ahead
    /// of the one the push loop works on.
    Worker(LandmarkWorker, usize),
    /// Faces from a track; the segmenter, if any, runs on the push loop.
    Track(LandmarkTrack, Option<PersonSegmenter>),
    Plain,
}

/// A frame, its faces, and its person mask when the feed segments.
pub(super) type FedFrame = (I420Frame, Vec<FaceLandmarks>, Option<PersonMask>);

impl FaceFeed {
    /// Faces come from a track (coordinates in the source's own pixels).
    pub(super) fn is_track(&self) -> bool {
        matches!(self, FaceFeed::Track(..))
    }

    /// Resolves [`FaceInput::Auto`]: the built-in landmarker is loaded only
    /// when a face effect needs it (missing models are an error then).
    ///
    /// `lookahead` frames (at least one) are handed to the landmarker ahead
    /// of the push loop; the built-in landmarker follows up to `max_faces`
    /// faces. Two let a frame that runs the mesh overlap the
    /// next one that only extrapolates, for throughput; each one more
    /// holds a real-time source's frames a frame interval longer. A
    /// `segmenter` (for the background effects) runs on the landmarker's
    /// thread, which then runs even without a landmarker.
    pub(super) fn new(
        input: FaceInput,
        needs_faces: bool,
        lookahead: usize,
        max_faces: usize,
        segmenter: Option<PersonSegmenter>,
    ) -> Result<Self, PushError> {
        let lookahead = lookahead.max(1);
        let wanted = match input {
            FaceInput::Auto if needs_faces => FaceInput::Builtin,
            FaceInput::Auto => FaceInput::None,
            other => other,
        };
        Ok(match wanted {
            FaceInput::Builtin => {
                let config = LandmarkerConfig {
                    max_faces,
                    ..LandmarkerConfig::for_live()
                };
                let landmarker = BuiltinLandmarker::new(&ModelPaths::from_env(), config)?;
                let landmarker: Box<dyn FaceLandmarker> = Box::new(landmarker);
                FaceFeed::Worker(
                    LandmarkWorker::spawn_with(Some(landmarker), segmenter),
                    lookahead,
                )
            }
            FaceInput::Auto | FaceInput::None => match segmenter {
                Some(segmenter) => {
                    FaceFeed::Worker(LandmarkWorker::spawn_with(None, Some(segmenter)), lookahead)
                }
                None => FaceFeed::Plain,
            },
            FaceInput::Track(track) => FaceFeed::Track(track, segmenter),
            FaceInput::Landmarker(landmarker) => FaceFeed::Worker(
                LandmarkWorker::spawn_with(Some(landmarker), segmenter),
                lookahead,
            ),
        })
    }

    /// Primes the worker with the first `lookahead` frames.
    pub(super) fn prime(
        &mut self,
        source: &mut dyn FrameSource,
        limit: &mut FrameBudget,
    ) -> Result<(), PushError> {
        if let FaceFeed::Worker(worker, lookahead) = self {
            for _ in 0..*lookahead {
                let Some(frame) = limit.next(source)? else {
                    break;
                };
                worker.submit(frame)?;
            }
        }
        Ok(())
    }

    /// The next frame with its faces and, when the feed segments, its
    /// person mask; `None` at the end of the source.
    pub(super) fn next(
        &mut self,
        source: &mut dyn FrameSource,
        limit: &mut FrameBudget,
    ) -> Result<Option<FedFrame>, PushError> {
        match self {
            FaceFeed::Worker(worker, _) => {
                if let Some(ahead) = limit.next(source)? {
                    worker.submit(ahead)?;
                }
                let Some(result) = worker.receive_analysed() else {
                    return Ok(None);
                };
                let analysed = result?;
                let faces = analysed.faces?;
                let mask = analysed.mask.transpose()?;
                Ok(Some((analysed.frame, faces, mask)))
            }
            FaceFeed::Track(track, segmenter) => {
                let index = limit.read;
                let Some(frame) = limit.next(source)? else {
                    return Ok(None);
                };
                let mask = segmenter.as_mut().map(|s| s.mask(&frame)).transpose()?;
                let faces = track.faces(index).to_vec();
                Ok(Some((frame, faces, mask)))
            }
            FaceFeed::Plain => Ok(limit.next(source)?.map(|frame| (frame, Vec::new(), None))),
        }
    }
}

/// Counts frames read from the source, up to an optional limit.
pub(super) struct FrameBudget {
    pub(super) read: u64,
    pub(super) limit: Option<u64>,
}

impl FrameBudget {
    fn next(&mut self, source: &mut dyn FrameSource) -> Result<Option<I420Frame>, PushError> {
        if self.limit.is_some_and(|limit| self.read >= limit) {
            return Ok(None);
        }
        let frame = source.next_frame()?;
        if frame.is_some() {
            self.read += 1;
        }
        Ok(frame)
    }
}
