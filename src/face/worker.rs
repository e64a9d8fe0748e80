//! Landmarks on their own thread, so that finding faces in frame N + 1
//! overlaps the GPU work on frame N.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use super::{FaceError, FaceLandmarker};
use crate::frame::I420Frame;
use crate::landmarks::FaceLandmarks;

/// A frame with the faces found in it.
pub type LandmarkedFrame = (I420Frame, Result<Vec<FaceLandmarks>, FaceError>);

/// Runs a [`FaceLandmarker`] on a worker thread; frames come back in the
/// order they were submitted.
pub struct LandmarkWorker {
    frames: Option<Sender<I420Frame>>,
    results: Receiver<LandmarkedFrame>,
    thread: Option<JoinHandle<()>>,
    in_flight: usize,
}

impl LandmarkWorker {
    /// Starts the worker thread.
    pub fn spawn(mut landmarker: Box<dyn FaceLandmarker>) -> Self {
        let (frames, inbox) = channel::<I420Frame>();
        let (outbox, results) = channel();
        let thread = std::thread::Builder::new()
            .name("liveroom-landmarks".into())
            .spawn(move || {
                for frame in inbox {
                    let faces = landmarker.landmarks(&frame);
                    if outbox.send((frame, faces)).is_err() {
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

    /// Hands a frame to the worker.
    pub fn submit(&mut self, frame: I420Frame) -> Result<(), FaceError> {
        let sender = self.frames.as_ref().ok_or_else(stopped)?;
        sender.send(frame).map_err(|_| stopped())?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest submitted frame with its faces; `None` when none is
    /// waiting.
    pub fn receive(&mut self) -> Option<Result<LandmarkedFrame, FaceError>> {
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
