//! The jitter buffer: encoded frames wait here until the cache holds
//! `min_cache` of stream time; then they leave at the pace of their decode
//! times. When the cache grows past `max_cache` (the player fell behind, or
//! a burst arrived after a stall) it skips ahead to the newest key frame
//! that keeps the rest under `min_cache`, so latency comes back down.
//!
//! Time is passed in (`now`), so the rules are tested without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// One encoded video frame (an AVCC access unit) with its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// Decode time, ms.
    pub dts_ms: u64,
    /// Presentation time, ms.
    pub pts_ms: u64,
    /// An IDR picture.
    pub key_frame: bool,
    /// AVCC NAL units.
    pub data: Bytes,
}

/// What the buffer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferState {
    /// Filling up to `min_cache` (event 2007 while so).
    Loading,
    /// Releasing frames at the stream's pace.
    Playing,
}

/// What happened while releasing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Playback (re)started: the cache reached `min_cache` (2004).
    pub started: bool,
    /// Frames thrown away to catch up (2107 when non-zero).
    pub skipped: u64,
    /// The buffer ran dry while playing and went back to loading (2105).
    pub stalled: bool,
}

/// Encoded frames between the network and the decoder.
#[derive(Debug)]
pub struct JitterBuffer {
    min_cache: Duration,
    max_cache: Duration,
    frames: VecDeque<EncodedVideo>,
    state: BufferState,
    /// Wall time at which the stream time `clock_base_ms` is due.
    clock: Option<(Instant, u64)>,
    /// Frames are dropped until a key frame arrives (start, skip, error).
    need_key: bool,
}

impl JitterBuffer {
    /// An empty buffer with the cache bounds.
    pub fn new(min_cache: Duration, max_cache: Duration) -> Self {
        Self {
            min_cache,
            max_cache: max_cache.max(min_cache),
            frames: VecDeque::new(),
            state: BufferState::Loading,
            clock: None,
            need_key: true,
        }
    }

    /// Current state.
    pub fn state(&self) -> BufferState {
        self.state
    }

    /// Stream time held, from the oldest to the newest frame's decode time.
    pub fn cached(&self) -> Duration {
        match (self.frames.front(), self.frames.back()) {
            (Some(first), Some(last)) => {
                Duration::from_millis(last.dts_ms.saturating_sub(first.dts_ms))
            }
            _ => Duration::ZERO,
        }
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Adds a frame; returns false when it was dropped because the buffer
    /// waits for a key frame (after a start, a skip or a decode error).
    pub fn push(&mut self, frame: EncodedVideo) -> bool {
        if self.need_key && !frame.key_frame {
            return false;
        }
        self.need_key = false;
        // A timestamp going backwards is a new stream (a republish): start
        // over from this key frame or drop.
        if self
            .frames
            .back()
            .is_some_and(|last| frame.dts_ms + 1000 < last.dts_ms)
        {
            self.restart();
            if !frame.key_frame {
                self.need_key = true;
                return false;
            }
        }
        self.frames.push_back(frame);
        true
    }

    /// Drops everything and waits for a key frame (a decode error, a
    /// reconnect).
    pub fn restart(&mut self) {
        self.frames.clear();
        self.state = BufferState::Loading;
        self.clock = None;
        self.need_key = true;
    }

    /// Frames due at `now`, in decode order, with what happened. At the end
    /// of the stream (`draining`) loading does not wait for `min_cache`.
    pub fn release(&mut self, now: Instant, draining: bool) -> (Vec<EncodedVideo>, ReleaseReport) {
        let mut report = ReleaseReport::default();
        if self.state == BufferState::Loading {
            if self.frames.is_empty() || (self.cached() < self.min_cache && !draining) {
                return (Vec::new(), report);
            }
            self.state = BufferState::Playing;
            report.started = true;
            self.clock = self.frames.front().map(|first| (now, first.dts_ms));
        }
        if self.cached() > self.max_cache {
            report.skipped = self.skip_ahead(now);
        }
        let mut due = Vec::new();
        while let Some(front) = self.frames.front() {
            let Some((start, base)) = self.clock else {
                break;
            };
            let at = start + Duration::from_millis(front.dts_ms.saturating_sub(base));
            if at > now {
                break;
            }
            if let Some(frame) = self.frames.pop_front() {
                due.push(frame);
            }
        }
        if self.frames.is_empty() && !due.is_empty() && !draining {
            // Played out everything: the next frame comes late. Wait for the
            // cache to fill again before going on.
            self.state = BufferState::Loading;
            self.clock = None;
            report.stalled = true;
        }
        (due, report)
    }

    /// The stream time (ms) that the play clock has reached at `now`;
    /// `None` while loading.
    pub fn position(&self, now: Instant) -> Option<u64> {
        let (start, base) = self.clock?;
        Some(base + now.saturating_duration_since(start).as_millis() as u64)
    }

    /// When the next frame is due (for sleeping until then).
    pub fn next_due(&self) -> Option<Instant> {
        let (start, base) = self.clock?;
        let front = self.frames.front()?;
        Some(start + Duration::from_millis(front.dts_ms.saturating_sub(base)))
    }

    /// Skips to the newest key frame that leaves at most `min_cache` after
    /// it (or the newest key frame at all), and restarts the clock there.
    fn skip_ahead(&mut self, now: Instant) -> u64 {
        let Some(last) = self.frames.back().map(|f| f.dts_ms) else {
            return 0;
        };
        let min_ms = self.min_cache.as_millis() as u64;
        let target = self
            .frames
            .iter()
            .rposition(|f| f.key_frame && last.saturating_sub(f.dts_ms) >= min_ms)
            .or_else(|| self.frames.iter().rposition(|f| f.key_frame));
        let Some(index) = target.filter(|&i| i > 0) else {
            return 0;
        };
        self.frames.drain(..index);
        self.clock = self.frames.front().map(|first| (now, first.dts_ms));
        index as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64, key_every: u64) -> EncodedVideo {
        EncodedVideo {
            dts_ms: index * 40,
            pts_ms: index * 40,
            key_frame: index.is_multiple_of(key_every),
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }

    #[test]
    fn loads_to_min_cache_then_releases_at_the_stream_pace() {
        let mut buffer = JitterBuffer::new(Duration::from_millis(200), Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(!buffer.push(frame(1, 5)), "waits for a key frame");
        for i in 5..10 {
            assert!(buffer.push(frame(i, 5)));
        }
        // 160 ms held: still loading.
        let (out, report) = buffer.release(t0, false);
        assert!(out.is_empty() && !report.started);
        assert_eq!(buffer.state(), BufferState::Loading);
        buffer.push(frame(10, 5));
        let (out, report) = buffer.release(t0, false);
        assert!(report.started);
        assert_eq!(out.len(), 1, "the first frame is due at once");
        let (out, _) = buffer.release(t0 + Duration::from_millis(85), false);
        assert_eq!(
            out.iter().map(|f| f.dts_ms).collect::<Vec<_>>(),
            [240, 280],
            "then one frame per 40 ms"
        );
        assert_eq!(buffer.next_due(), Some(t0 + Duration::from_millis(120)));
    }

    #[test]
    fn past_max_cache_it_skips_to_a_key_frame() {
        let mut buffer = JitterBuffer::new(Duration::from_millis(200), Duration::from_millis(600));
        let t0 = Instant::now();
        for i in 0..10 {
            buffer.push(frame(i, 10));
        }
        let (_, report) = buffer.release(t0, false);
        assert!(report.started);
        // A burst: two seconds arrive at once.
        for i in 10..60 {
            buffer.push(frame(i, 10));
        }
        let (out, report) = buffer.release(t0 + Duration::from_millis(10), false);
        assert!(report.skipped > 0);
        let first = &out[0];
        assert!(first.key_frame, "playback goes on from a key frame");
        assert!(
            buffer.cached() <= Duration::from_millis(600),
            "{:?}",
            buffer.cached()
        );
    }

    #[test]
    fn a_dry_buffer_goes_back_to_loading_and_draining_plays_out_the_rest() {
        let mut buffer = JitterBuffer::new(Duration::from_millis(100), Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..4 {
            buffer.push(frame(i * 5, 5));
        }
        let (out, _) = buffer.release(t0 + Duration::from_secs(5), false);
        assert_eq!(out.len(), 1);
        let (out, report) = buffer.release(t0 + Duration::from_secs(10), false);
        assert_eq!(out.len(), 3);
        assert!(report.stalled);
        assert_eq!(buffer.state(), BufferState::Loading);
        buffer.push(frame(20, 5));
        let (out, report) = buffer.release(t0 + Duration::from_secs(11), true);
        assert!(report.started && out.len() == 1, "draining does not wait");
        // A republish (time goes back) starts over at its key frame.
        buffer.push(frame(50, 5));
        assert!(buffer.push(frame(0, 5)));
        assert_eq!(buffer.len(), 1);
    }
}
