//! Frames paired with their faces, from the source, for the push loop.

use super::PushError;
use crate::face::{
    BuiltinLandmarker, FaceLandmarker, LandmarkWorker, LandmarkerConfig, LazySegmenter, ModelPaths,
    PersonMask, SegmentError,
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
/// faces are being found while the current one is on the GPU. Frames are
/// segmented (their person mask found) while [`FaceFeed::set_segmenting`]
/// is on; the segmenter loads when first needed.
pub(super) struct FaceFeed {
    kind: FeedKind,
    /// Whether frames read from now on want a person mask.
    segmenting: bool,
}

/// Where the frames' faces and masks come from.
enum FeedKind {
    /// A landmarker and the segmenter on their thread, with this many
    /// frames handed to it ahead of the one the push loop works on.
    Worker(LandmarkWorker, usize),
    /// Faces from a track; the segmenter runs on the push loop.
    Track(LandmarkTrack, LazySegmenter),
    /// No faces; the first time a mask is wanted, the segmenter moves onto
    /// a worker thread with this lookahead.
    Plain(Option<LazySegmenter>, usize),
}

/// A frame, its faces, and its person mask when it wanted one (`Err`: the
/// segmenter could not load, see [`LazySegmenter::mask`]).
pub(super) type FedFrame = (
    I420Frame,
    Vec<FaceLandmarks>,
    Option<Result<PersonMask, SegmentError>>,
);

impl FaceFeed {
    /// Faces come from a track (coordinates in the source's own pixels).
    pub(super) fn is_track(&self) -> bool {
        matches!(self.kind, FeedKind::Track(..))
    }

    /// Resolves [`FaceInput::Auto`]: the built-in landmarker is loaded only
    /// when a face effect needs it (missing models are an error then).
    ///
    /// `lookahead` frames (at least one) are handed to the landmarker ahead
    /// of the push loop; the built-in landmarker follows up to `max_faces`
    /// faces. Two let a frame that runs the mesh overlap the
    /// next one that only extrapolates, for throughput; each one more
    /// holds a real-time source's frames a frame interval longer. The
    /// `segmenter` (for the background effects) runs on the landmarker's
    /// thread, which then runs even without a landmarker; `segmenting`
    /// says whether the first frames want masks.
    pub(super) fn new(
        input: FaceInput,
        needs_faces: bool,
        lookahead: usize,
        max_faces: usize,
        segmenter: LazySegmenter,
        segmenting: bool,
    ) -> Result<Self, PushError> {
        let lookahead = lookahead.max(1);
        let wanted = match input {
            FaceInput::Auto if needs_faces => FaceInput::Builtin,
            FaceInput::Auto => FaceInput::None,
            other => other,
        };
        let kind = match wanted {
            FaceInput::Builtin => {
                let config = LandmarkerConfig {
                    max_faces,
                    ..LandmarkerConfig::for_live()
                };
                let landmarker = BuiltinLandmarker::new(&ModelPaths::from_env(), config)?;
                let landmarker: Box<dyn FaceLandmarker> = Box::new(landmarker);
                FeedKind::Worker(
                    LandmarkWorker::spawn_lazy(Some(landmarker), Some(segmenter)),
                    lookahead,
                )
            }
            FaceInput::Auto | FaceInput::None if segmenting => {
                FeedKind::Worker(LandmarkWorker::spawn_lazy(None, Some(segmenter)), lookahead)
            }
            FaceInput::Auto | FaceInput::None => FeedKind::Plain(Some(segmenter), lookahead),
            FaceInput::Track(track) => FeedKind::Track(track, segmenter),
            FaceInput::Landmarker(landmarker) => FeedKind::Worker(
                LandmarkWorker::spawn_lazy(Some(landmarker), Some(segmenter)),
                lookahead,
            ),
        };
        Ok(Self { kind, segmenting })
    }

    /// Whether frames read from now on want a person mask (the frames
    /// already handed to the landmarker ahead keep what they had).
    pub(super) fn set_segmenting(&mut self, on: bool) {
        self.segmenting = on;
    }

    /// Primes the worker with the first `lookahead` frames.
    pub(super) fn prime(
        &mut self,
        source: &mut dyn FrameSource,
        limit: &mut FrameBudget,
    ) -> Result<(), PushError> {
        if let FeedKind::Worker(worker, lookahead) = &mut self.kind {
            for _ in 0..*lookahead {
                let Some(frame) = limit.next(source)? else {
                    break;
                };
                worker.submit_wanting_mask(frame, self.segmenting)?;
            }
        }
        Ok(())
    }

    /// The next frame with its faces and, when it wanted one, its person
    /// mask; `None` at the end of the source.
    pub(super) fn next(
        &mut self,
        source: &mut dyn FrameSource,
        limit: &mut FrameBudget,
    ) -> Result<Option<FedFrame>, PushError> {
        if let FeedKind::Plain(segmenter, lookahead) = &mut self.kind {
            if self.segmenting {
                // Background effects turned on mid-push: segment on a
                // worker from now on.
                let worker = LandmarkWorker::spawn_lazy(None, segmenter.take());
                self.kind = FeedKind::Worker(worker, *lookahead);
                self.prime(source, limit)?;
            }
        }
        match &mut self.kind {
            FeedKind::Worker(worker, _) => {
                if let Some(ahead) = limit.next(source)? {
                    worker.submit_wanting_mask(ahead, self.segmenting)?;
                }
                let Some(result) = worker.receive_analysed() else {
                    return Ok(None);
                };
                let analysed = result?;
                let faces = analysed.faces?;
                Ok(Some((analysed.frame, faces, analysed.mask)))
            }
            FeedKind::Track(track, segmenter) => {
                let index = limit.read;
                let Some(frame) = limit.next(source)? else {
                    return Ok(None);
                };
                let mask = segmenter.mask(&frame, self.segmenting);
                let faces = track.faces(index).to_vec();
                Ok(Some((frame, faces, mask)))
            }
            FeedKind::Plain(..) => Ok(limit.next(source)?.map(|frame| (frame, Vec::new(), None))),
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
