//! [`LazySegmenter`]: a person segmenter that is loaded only when a frame
//! first asks for a mask, so that background effects turned on mid-push
//! work and cost nothing until then.

use super::{PersonMask, PersonSegmenter, SegmentError, SegmentationPaths};
use crate::frame::I420Frame;

/// Where the segmenter stands.
enum State {
    /// Not loaded yet (or let go after a failure): loads on the next
    /// frame that wants a mask.
    Idle,
    /// Loaded.
    Ready(Box<PersonSegmenter>),
    /// Loading failed; no new try until a frame no longer wants a mask.
    Failed,
}

/// A [`PersonSegmenter`] loaded on first use (see the module notes).
pub struct LazySegmenter {
    /// Where to load from; `None` for one handed over loaded.
    paths: Option<SegmentationPaths>,
    interval: u32,
    state: State,
}

impl LazySegmenter {
    /// A segmenter to be loaded from `paths` when first wanted, running
    /// the model on every `interval`-th frame
    /// ([`PersonSegmenter::with_interval`]).
    pub fn new(paths: SegmentationPaths, interval: u32) -> Self {
        Self {
            paths: Some(paths),
            interval,
            state: State::Idle,
        }
    }

    /// One already loaded (a loaded segmenter stays loaded).
    pub fn loaded(segmenter: PersonSegmenter) -> Self {
        Self {
            paths: None,
            interval: 1,
            state: State::Ready(Box::new(segmenter)),
        }
    }

    /// Whether the models are loaded.
    pub fn is_loaded(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// The frame's mask when `wanted`: `None` when not wanted, or after a
    /// failed load until a frame no longer wants one (the next wanted
    /// frame then tries again). A failed load is returned once, as
    /// [`SegmentError::ModelMissing`] or [`SegmentError::ModelLoad`].
    pub fn mask(
        &mut self,
        frame: &I420Frame,
        wanted: bool,
    ) -> Option<Result<PersonMask, SegmentError>> {
        if !wanted {
            if matches!(self.state, State::Failed) {
                self.state = State::Idle;
            }
            return None;
        }
        if let (State::Idle, Some(paths)) = (&self.state, &self.paths) {
            match PersonSegmenter::new(paths) {
                Ok(segmenter) => {
                    self.state = State::Ready(Box::new(segmenter.with_interval(self.interval)))
                }
                Err(error) => {
                    self.state = State::Failed;
                    return Some(Err(error));
                }
            }
        }
        match &mut self.state {
            State::Ready(segmenter) => Some(segmenter.mask(frame)),
            State::Idle | State::Failed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_fails_once_then_retries_after_a_pause() {
        let paths = SegmentationPaths::in_dir(std::path::Path::new("/no/such/models"));
        let mut lazy = LazySegmenter::new(paths, 1);
        let frame = I420Frame::black(64, 48).expect("frame");
        assert!(lazy.mask(&frame, false).is_none(), "not wanted: not loaded");
        assert!(matches!(
            lazy.mask(&frame, true),
            Some(Err(SegmentError::ModelMissing { .. }))
        ));
        assert!(lazy.mask(&frame, true).is_none(), "failed: quiet");
        assert!(lazy.mask(&frame, false).is_none());
        assert!(
            matches!(lazy.mask(&frame, true), Some(Err(_))),
            "wanted again: tries again"
        );
        assert!(!lazy.is_loaded());
    }
}
