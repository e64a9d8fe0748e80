//! Landmarks on their own thread, so that finding faces in frame N + 1
//! overlaps the GPU work on frame N; the person segmenter, when given, runs
//! there too, after the landmarker, on the frames submitted as wanting a
//! mask (it is loaded when the first such frame arrives, see
//! [`LazySegmenter`]).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use super::{FaceError, FaceLandmarker, LazySegmenter, PersonMask, PersonSegmenter, SegmentError};
use crate::frame::I420Frame;
use crate::landmarks::FaceLandmarks;

/// A frame with the faces found in it.
pub type LandmarkedFrame = (I420Frame, Result<Vec<FaceLandmarks>, FaceError>);

/// A frame with its faces and, from a worker that segments, its person
/// mask.
pub struct AnalysedFrame {
    /// The frame.
    pub frame: I420Frame,
    /// Its faces (none from a worker without a landmarker).
    pub faces: Result<Vec<FaceLandmarks>, FaceError>,
    /// Its person mask; `None` from a worker without a segmenter, for a
    /// frame that wanted none, or after a failed load (see
    /// [`LazySegmenter::mask`]).
    pub mask: Option<Result<PersonMask, SegmentError>>,
}

/// Runs a [`FaceLandmarker`] and a [`PersonSegmenter`] (either optional)
/// on a worker thread; frames come back in the order they were submitted.
pub struct LandmarkWorker {
    frames: Option<Sender<(I420Frame, bool)>>,
    results: Receiver<AnalysedFrame>,
    thread: Option<JoinHandle<()>>,
    in_flight: usize,
}

impl LandmarkWorker {
    /// Starts the worker thread.
    pub fn spawn(landmarker: Box<dyn FaceLandmarker>) -> Self {
        Self::spawn_with(Some(landmarker), None)
    }

    /// Starts the worker thread with a landmarker, a segmenter, or both
    /// (with neither, frames come back with no faces and no mask).
    pub fn spawn_with(
        landmarker: Option<Box<dyn FaceLandmarker>>,
        segmenter: Option<PersonSegmenter>,
    ) -> Self {
        Self::spawn_lazy(landmarker, segmenter.map(LazySegmenter::loaded))
    }

    /// Starts the worker thread with a landmarker and a segmenter that
    /// loads when the first frame wanting a mask arrives
    /// ([`LandmarkWorker::submit_wanting_mask`]).
    pub fn spawn_lazy(
        mut landmarker: Option<Box<dyn FaceLandmarker>>,
        mut segmenter: Option<LazySegmenter>,
    ) -> Self {
        let (frames, inbox) = channel::<(I420Frame, bool)>();
        let (outbox, results) = channel();
        let thread = std::thread::Builder::new()
            .name("liveroom-landmarks".into())
            .spawn(move || {
                for (frame, wants_mask) in inbox {
                    let faces = match landmarker.as_mut() {
                        Some(landmarker) => landmarker.landmarks(&frame),
                        None => Ok(Vec::new()),
                    };
                    let mask = segmenter.as_mut().and_then(|s| s.mask(&frame, wants_mask));
                    if outbox.send(AnalysedFrame { frame, faces, mask }).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Self {
            frames: Some(frames),
            results,
            thread,
            in_flight: 0,
        }
    }

    /// Hands a frame to the worker (segmented, if the worker segments).
    pub fn submit(&mut self, frame: I420Frame) -> Result<(), FaceError> {
        self.submit_wanting_mask(frame, true)
    }

    /// Hands a frame to the worker, segmented only when `wants_mask`.
    pub fn submit_wanting_mask(
        &mut self,
        frame: I420Frame,
        wants_mask: bool,
    ) -> Result<(), FaceError> {
        let sender = self.frames.as_ref().ok_or_else(stopped)?;
        sender.send((frame, wants_mask)).map_err(|_| stopped())?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest submitted frame with its faces; `None` when none is
    /// waiting.
    pub fn receive(&mut self) -> Option<Result<LandmarkedFrame, FaceError>> {
        self.receive_analysed()
            .map(|result| result.map(|analysed| (analysed.frame, analysed.faces)))
    }

    /// The oldest submitted frame with its faces and mask; `None` when
    /// none is waiting.
    pub fn receive_analysed(&mut self) -> Option<Result<AnalysedFrame, FaceError>> {
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight -= 1;
        Some(self.results.recv().map_err(|_| stopped()))
    }
}

fn stopped() -> FaceError {
    FaceError::Inference("the landmark thread stopped".into())
}

impl Drop for LandmarkWorker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.frames = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports each frame's width as the x of one face, so the order of
    /// results can be checked.
    struct WidthAsFace;

    impl FaceLandmarker for WidthAsFace {
        fn landmarks(&mut self, frame: &I420Frame) -> Result<Vec<FaceLandmarks>, FaceError> {
            Ok(vec![FaceLandmarks {
                bbox: [frame.width() as f32, 0.0, 1.0, 1.0],
                left_eye: [0.0, 0.0],
                right_eye: [1.0, 0.0],
                contour: Vec::new(),
            }])
        }
    }

    #[test]
    fn frames_come_back_in_order_with_their_faces() {
        let mut worker = LandmarkWorker::spawn(Box::new(WidthAsFace));
        assert!(worker.receive().is_none());
        for width in [2, 4, 6] {
            worker.submit(I420Frame::black(width, 2).unwrap()).unwrap();
        }
        for width in [2, 4, 6] {
            let (frame, faces) = worker.receive().unwrap().unwrap();
            assert_eq!(frame.width(), width);
            assert_eq!(faces.unwrap()[0].bbox[0], width as f32);
        }
        assert!(worker.receive().is_none());
    }
}
