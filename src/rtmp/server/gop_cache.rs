//! What the server keeps of a published stream for players that join late:
//! the metadata, the AVC and AAC sequence headers, and the last GOP (from
//! the latest video key frame on, audio included, bounded in bytes). A new
//! player is primed from it and starts at a key frame at once.

use std::sync::Arc;

use log::debug;
use rml_rtmp::sessions::StreamMetadata;

use super::player_queue::{Delivery, PlayerQueue};
use super::{Media, Track};
use crate::rtmp::MediaKind;

/// One publication's headers and last GOP.
#[derive(Debug, Default)]
pub(super) struct GopCache {
    metadata: Option<Arc<StreamMetadata>>,
    video_header: Option<Media>,
    audio_header: Option<Media>,
    /// Messages since the latest video key frame, while `keeping`.
    gop: Vec<Media>,
    gop_bytes: usize,
    keeping: bool,
    /// The current publisher has sent video.
    has_video: bool,
}

impl GopCache {
    /// Forgets everything (a publication ends or a new one starts).
    pub(super) fn clear(&mut self) {
        self.metadata = None;
        self.video_header = None;
        self.audio_header = None;
        self.has_video = false;
        self.clear_gop(false);
    }

    fn clear_gop(&mut self, keeping: bool) {
        self.gop.clear();
        self.gop_bytes = 0;
        self.keeping = keeping;
    }

    /// Keeps the stream's latest metadata.
    pub(super) fn set_metadata(&mut self, metadata: Arc<StreamMetadata>) {
        self.metadata = Some(metadata);
    }

    /// The stream's latest metadata, if any.
    pub(super) fn metadata(&self) -> Option<&StreamMetadata> {
        self.metadata.as_deref()
    }

    /// Updates the kept headers and GOP with a new message.
    pub(super) fn remember(&mut self, media: &Media, max_gop_bytes: usize) {
        match (media.track, media.kind) {
            (Track::Video, MediaKind::SequenceHeader) => {
                // Frames coded with the old parameters are of no use to a
                // player that gets the new ones.
                self.video_header = Some(media.clone());
                self.has_video = true;
                self.clear_gop(false);
                return;
            }
            (Track::Audio, MediaKind::SequenceHeader) => {
                self.audio_header = Some(media.clone());
                return;
            }
            (Track::Video, MediaKind::KeyFrame) => {
                self.has_video = true;
                self.clear_gop(true);
            }
            (Track::Video, _) => self.has_video = true,
            (Track::Audio, _) => {}
        }
        if !self.keeping {
            return;
        }
        self.gop_bytes += media.data.len();
        if self.gop_bytes > max_gop_bytes {
            debug!("GOP over max_gop_bytes ({max_gop_bytes}): not kept until the next key frame");
            self.clear_gop(false);
            return;
        }
        self.gop.push(media.clone());
    }

    /// Where a player that lost frames may pick up again: a key frame, or
    /// on a stream without video, any audio frame.
    pub(super) fn is_resume_point(&self, media: &Media) -> bool {
        match media.track {
            Track::Video => media.kind == MediaKind::KeyFrame,
            Track::Audio => !self.has_video && media.kind == MediaKind::AudioFrame,
        }
    }

    /// Fills a new player's queue with what a late joiner needs first.
    pub(super) fn prime(&self, queue: &PlayerQueue) {
        if let Some(metadata) = &self.metadata {
            queue.push(Delivery::Metadata(Arc::clone(metadata)), false);
        }
        for header in [&self.video_header, &self.audio_header]
            .into_iter()
            .flatten()
        {
            queue.push(Delivery::Media(header.clone()), false);
        }
        for (index, media) in self.gop.iter().enumerate() {
            queue.push(Delivery::Media(media.clone()), index == 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audio, audio_header, inter, key, queue, timestamps, video_header};
    use super::*;

    #[test]
    fn the_gop_restarts_at_each_key_frame_and_is_bounded() {
        let mut cache = GopCache::default();
        cache.remember(&video_header(), 1000);
        cache.remember(&audio_header(), 1000);
        // Frames before the first key frame are not kept.
        cache.remember(&inter(0, 10), 1000);
        assert!(cache.gop.is_empty());
        cache.remember(&key(40, 100), 1000);
        cache.remember(&audio(50), 1000);
        cache.remember(&inter(80, 10), 1000);
        assert_eq!(cache.gop.len(), 3);
        cache.remember(&key(120, 100), 1000);
        assert_eq!(cache.gop.len(), 1);
        assert_eq!(cache.gop[0].timestamp, 120);
        // Past the cap nothing is kept until the next key frame.
        cache.remember(&inter(160, 2000), 1000);
        assert!(cache.gop.is_empty());
        cache.remember(&inter(200, 10), 1000);
        assert!(cache.gop.is_empty());
        cache.remember(&key(240, 100), 1000);
        assert_eq!(cache.gop.len(), 1);

        let (player, _wake) = queue(1 << 20);
        cache.prime(&player);
        let (items, _) = player.take();
        assert_eq!(
            timestamps(&items),
            vec![
                (MediaKind::SequenceHeader, 0),
                (MediaKind::SequenceHeader, 0),
                (MediaKind::KeyFrame, 240)
            ]
        );

        // Once cleared (the publisher left), a new player gets nothing
        // stale.
        cache.clear();
        let (player, _wake) = queue(1 << 20);
        cache.prime(&player);
        assert!(player.take().0.is_empty());
    }

    #[test]
    fn audio_only_streams_resume_on_audio() {
        let mut cache = GopCache::default();
        cache.remember(&audio_header(), 1000);
        assert!(cache.is_resume_point(&audio(0)));
        cache.remember(&key(0, 10), 1000);
        assert!(!cache.is_resume_point(&audio(10)));
        assert!(cache.is_resume_point(&key(40, 10)));
    }
}
