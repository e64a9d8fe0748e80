//! Per-viewer back-pressure: each player's bounded queue, filled by the
//! publisher's connection thread and drained by the player's own. A player
//! that falls behind past the bound loses frames until the next resume point
//! (a key frame; on an audio-only stream, an audio frame); sequence
//! headers, metadata and the end-of-stream notice are never dropped, and a
//! player with too much of those undelivered is disconnected.

use std::collections::VecDeque;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use log::{info, warn};
use rml_rtmp::sessions::StreamMetadata;
use tokio::sync::Notify;

use super::connection::ConnEvent;
use super::{lock, Media, Track};
use crate::rtmp::MediaKind;

/// A player's queue never holds fewer bytes than this before frames drop.
pub(super) const MIN_QUEUE_BYTES: usize = 1 << 20;
/// A player's queue holds at most this many messages before frames drop.
pub(super) const QUEUE_MESSAGES: usize = 8192;

/// What a player's thread is asked to send.
#[derive(Debug, Clone)]
pub(super) enum Delivery {
    Metadata(Arc<StreamMetadata>),
    Media(Media),
    /// A publisher started (players that wait get `StreamBegin`).
    Begin,
    /// The publisher left.
    End,
}

impl Delivery {
    /// Media that may be dropped for a slow player (not sequence headers).
    pub(super) fn droppable(&self) -> bool {
        matches!(self, Delivery::Media(media) if media.kind != MediaKind::SequenceHeader)
    }

    pub(super) fn size(&self) -> usize {
        match self {
            Delivery::Media(media) => media.data.len(),
            Delivery::Metadata(_) | Delivery::Begin | Delivery::End => 256,
        }
    }
}

/// How a player's drainer learns that its queue has something: an RTMP
/// connection thread through its event channel, an HTTP-FLV viewer task
/// through a [`Notify`] (which keeps the wake-up if the task is busy).
pub(super) enum Waker {
    /// An RTMP connection's thread.
    Connection(SyncSender<ConnEvent>),
    /// An HTTP-FLV viewer's task.
    Task(Arc<Notify>),
}

impl Waker {
    fn wake(&self) {
        match self {
            // Full: the thread has events waiting and drains after each.
            // Disconnected: the player is leaving.
            Waker::Connection(sender) => {
                let _ = sender.try_send(ConnEvent::Wake);
            }
            Waker::Task(notify) => notify.notify_one(),
        }
    }
}

/// A player's bounded queue, filled by the publisher's thread and drained by
/// the player's own thread (or task).
pub(super) struct PlayerQueue {
    label: String,
    state: Mutex<QueueState>,
    wake_pending: AtomicBool,
    waker: Waker,
    max_bytes: usize,
    max_messages: usize,
    /// A `_pureAudio` player: video is left out.
    audio_only: bool,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Delivery>,
    bytes: usize,
    /// Dropping frames until the next resume point.
    lagging: bool,
    /// Past the hard limit: the player is to be disconnected.
    overflowed: bool,
}

impl PlayerQueue {
    pub(super) fn new(
        label: String,
        waker: Waker,
        max_bytes: usize,
        max_messages: usize,
        audio_only: bool,
    ) -> Self {
        Self {
            label,
            state: Mutex::new(QueueState::default()),
            wake_pending: AtomicBool::new(false),
            waker,
            max_bytes,
            max_messages,
            audio_only,
        }
    }

    /// Queues a delivery; `resume` marks a point where a lagging player may
    /// pick up again. Returns how many messages were lost: this one if it was
    /// dropped, plus the stale frames discarded to jump to live.
    pub(super) fn push(&self, delivery: Delivery, resume: bool) -> u64 {
        let (delivery, resume) = if self.audio_only {
            match delivery {
                Delivery::Media(media) if media.track == Track::Video => return 0,
                // Every audio frame is a place to pick up again.
                Delivery::Media(media) => {
                    let resume = media.kind == MediaKind::AudioFrame;
                    (Delivery::Media(media), resume)
                }
                Delivery::Metadata(metadata) => (
                    Delivery::Metadata(Arc::new(without_video(&metadata))),
                    resume,
                ),
                notice @ (Delivery::Begin | Delivery::End) => (notice, resume),
            }
        } else {
            (delivery, resume)
        };
        let (wake, dropped) = self.enqueue(delivery, resume);
        if wake && !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.waker.wake();
        }
        dropped
    }

    /// Returns whether the player's thread has something new to see, and
    /// how many messages were lost.
    fn enqueue(&self, delivery: Delivery, resume: bool) -> (bool, u64) {
        let mut state = lock(&self.state);
        if state.overflowed {
            return (false, u64::from(delivery.droppable()));
        }
        let size = delivery.size();
        let full = state.bytes + size > self.max_bytes || state.items.len() >= self.max_messages;
        let mut dropped = 0;
        if delivery.droppable() {
            if state.lagging || full {
                if !resume {
                    if !state.lagging {
                        warn!(
                            "{} is falling behind: dropping frames until the next key frame",
                            self.label
                        );
                        state.lagging = true;
                    }
                    return (false, 1);
                }
                // Jump to live: stale frames go, headers and notices stay.
                let before = state.items.len();
                state.items.retain(|item| !item.droppable());
                dropped = (before - state.items.len()) as u64;
                state.bytes = state.items.iter().map(Delivery::size).sum();
                if state.lagging {
                    info!("{} picks up again at a key frame", self.label);
                }
                state.lagging = false;
            }
        } else if state.bytes + size > self.max_bytes.saturating_mul(2)
            || state.items.len() >= self.max_messages.saturating_mul(2)
        {
            warn!("{} has too much undelivered; disconnecting it", self.label);
            state.overflowed = true;
            state.items.clear();
            state.bytes = 0;
            return (true, 0);
        }
        state.bytes += size;
        state.items.push_back(delivery);
        (true, dropped)
    }

    /// Everything queued, and whether the queue overflowed.
    pub(super) fn take(&self) -> (VecDeque<Delivery>, bool) {
        self.wake_pending.store(false, Ordering::SeqCst);
        let mut state = lock(&self.state);
        state.bytes = 0;
        (mem::take(&mut state.items), state.overflowed)
    }
}

/// Metadata with the video fields cleared, for `_pureAudio` players.
fn without_video(metadata: &StreamMetadata) -> StreamMetadata {
    let mut audio = metadata.clone();
    audio.video_width = None;
    audio.video_height = None;
    audio.video_codec_id = None;
    audio.video_frame_rate = None;
    audio.video_bitrate_kbps = None;
    audio
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audio, audio_header, inter, key, queue, timestamps, video_header};
    use super::*;

    #[test]
    fn a_slow_player_skips_to_the_next_key_frame() {
        let (player, wake) = queue(1000);
        assert_eq!(player.push(Delivery::Media(video_header()), false), 0);
        assert_eq!(player.push(Delivery::Media(key(0, 400)), true), 0);
        assert_eq!(player.push(Delivery::Media(inter(40, 400)), false), 0);
        // Over the cap: dropped, and so is everything until a key frame...
        assert_eq!(player.push(Delivery::Media(inter(80, 400)), false), 1);
        assert_eq!(player.push(Delivery::Media(inter(120, 10)), false), 1);
        assert_eq!(player.push(Delivery::Media(audio(130)), false), 1);
        // ...but never a sequence header or the end notice.
        assert_eq!(player.push(Delivery::Media(video_header()), false), 0);
        assert_eq!(player.push(Delivery::End, false), 0);
        // The key frame replaces the two stale frames.
        assert_eq!(player.push(Delivery::Media(key(160, 400)), true), 2);
        assert_eq!(player.push(Delivery::Media(inter(200, 10)), false), 0);
        let (items, overflowed) = player.take();
        assert!(!overflowed);
        assert_eq!(
            timestamps(&items),
            vec![
                (MediaKind::SequenceHeader, 0),
                (MediaKind::SequenceHeader, 0),
                (MediaKind::KeyFrame, 160),
                (MediaKind::InterFrame, 200)
            ]
        );
        assert!(matches!(items[2], Delivery::End));
        // One wake-up was sent for the whole burst.
        assert!(matches!(wake.try_recv(), Ok(ConnEvent::Wake)));
        assert!(wake.try_recv().is_err());
    }

    #[test]
    fn pure_audio_players_get_the_sound_alone() {
        let (sender, _receiver) = std::sync::mpsc::sync_channel(4);
        let player = PlayerQueue::new(
            "audio player".into(),
            Waker::Connection(sender),
            1 << 20,
            64,
            true,
        );
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(720);
        metadata.audio_sample_rate = Some(48_000);
        player.push(Delivery::Metadata(Arc::new(metadata)), false);
        player.push(Delivery::Media(video_header()), false);
        player.push(Delivery::Media(audio_header()), false);
        player.push(Delivery::Media(key(0, 100)), true);
        player.push(Delivery::Media(audio(10)), false);
        let (items, _) = player.take();
        assert_eq!(items.len(), 3);
        match &items[0] {
            Delivery::Metadata(metadata) => {
                assert_eq!(metadata.video_width, None);
                assert_eq!(metadata.audio_sample_rate, Some(48_000));
            }
            _ => panic!("metadata first"),
        }
        assert!(items
            .iter()
            .all(|item| !matches!(item, Delivery::Media(m) if m.track == Track::Video)));
    }

    #[test]
    fn an_overflowing_player_is_flagged() {
        let (player, wake) = queue(100);
        for _ in 0..200 {
            player.push(Delivery::Media(video_header()), false);
        }
        assert!(matches!(wake.try_recv(), Ok(ConnEvent::Wake)));
        assert!(player.take().1);
        assert_eq!(player.push(Delivery::Media(inter(0, 10)), false), 1);
    }
}
