//! Live fragmented MP4 (`GET /APP/STREAM.mp4`, `…_pureAudio.mp4`): the
//! watch page's low-latency path, which Media Source Extensions append as
//! it arrives. A viewer's deliveries become one init segment, then one
//! fragment (`moof` + `mdat`, built by [`crate::fmp4`]) per video frame and
//! per audio frame. The viewer task is [`super::http_live`]'s.
//!
//! * The response starts at the first video key frame after the sequence
//!   headers (the GOP cache gives one at once while the stream is live);
//!   the sound alone starts at the first AAC frame. Earlier media is left
//!   out.
//! * A video frame is written when the next one arrives: its duration is
//!   the distance between their decode times (one frame of delay, so that
//!   no sample overlaps the next). Audio frames last 1024 samples.
//! * Decode times follow the FLV timestamps: video on a 90 kHz clock,
//!   audio on its sample rate (counted in frames, resynchronised when the
//!   count strays more than [`AUDIO_RESYNC_MS`] from the timestamps).
//! * A changed sequence header, or a new publication, ends the response
//!   (the tracks of an init segment cannot change); the page reconnects.

use std::collections::VecDeque;

use bytes::Bytes;
use log::debug;

use super::http_live::LiveFormat;
use super::player_queue::Delivery;
use super::registry::Protocol;
use super::{Media, Track};
use crate::flv::{parse_audio_body, parse_video_body, AudioBody, VideoBody};
use crate::fmp4::{
    fragment, init_segment, AudioTrack, Sample, TrackRun, VideoTrack, AUDIO_TRACK_ID,
    VIDEO_TRACK_ID,
};

/// Ticks per millisecond of the video track's 90 kHz clock.
const VIDEO_TICKS_PER_MS: i64 = 90;
/// Samples per AAC frame.
const AAC_FRAME_SAMPLES: u64 = 1024;
/// Audio decode times follow the FLV timestamps when the frame count
/// strays further than this from them.
const AUDIO_RESYNC_MS: i64 = 40;

/// A video frame waiting for the next one, which gives its duration.
struct PendingVideo {
    decode_ms: i64,
    composition_ms: i32,
    key_frame: bool,
    data: Bytes,
}

/// Whether the response goes on after a sequence header `new`: any
/// before the init segment; after it only the same one again (an init
/// segment's tracks cannot change).
fn keeps_response<T: PartialEq>(started: bool, current: &Option<T>, new: &T) -> bool {
    let same = !started || current.as_ref() == Some(new);
    if !same {
        debug!("live fMP4: the stream's configuration changed; ending the response");
    }
    same
}

/// A viewer's live fMP4.
pub(super) struct Fmp4Format {
    audio_only: bool,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    /// The init segment is out: fragments follow.
    started: bool,
    /// Fragments written (the `mfhd` sequence number of the last).
    sequence: u32,
    pending_video: Option<PendingVideo>,
    /// The last video frame's duration, for the one the stream ends on.
    last_video_ticks: u32,
    /// Decode time of the next audio frame, in samples.
    next_audio_ticks: Option<u64>,
}

impl Fmp4Format {
    /// Live fMP4 for a viewer of the whole stream, or of its sound alone.
    pub(super) fn new(audio_only: bool) -> Self {
        Self {
            audio_only,
            video: None,
            audio: None,
            started: false,
            sequence: 0,
            pending_video: None,
            last_video_ticks: 3000,
            next_audio_ticks: None,
        }
    }

    /// Takes one media message; `false` ends the response.
    fn media(&mut self, media: &Media, out: &mut Vec<u8>) -> bool {
        match media.track {
            Track::Video if self.audio_only => true,
            Track::Video => match parse_video_body(&media.data) {
                Ok(VideoBody::SequenceHeader(record)) => {
                    match VideoTrack::from_flv_config(record) {
                        Ok(track) => {
                            let keep = keeps_response(self.started, &self.video, &track);
                            self.video = Some(track);
                            keep
                        }
                        Err(error) => {
                            debug!("live fMP4: unusable AVC sequence header: {error}");
                            true
                        }
                    }
                }
                Ok(VideoBody::Nalu {
                    key_frame,
                    composition_time_ms,
                    data,
                }) => {
                    if !self.started {
                        if !key_frame || self.video.is_none() {
                            return true;
                        }
                        if !self.write_init(out) {
                            return false;
                        }
                    }
                    let frame = PendingVideo {
                        decode_ms: i64::from(media.timestamp),
                        composition_ms: composition_time_ms,
                        key_frame,
                        data: media.data.slice_ref(data),
                    };
                    self.flush_video(Some(frame.decode_ms), out);
                    self.pending_video = Some(frame);
                    true
                }
                // End of sequence, or a codec we cannot put in MP4.
                Ok(VideoBody::EndOfSequence) | Err(_) => true,
            },
            Track::Audio => match parse_audio_body(&media.data) {
                Ok(AudioBody::AacSequenceHeader(config)) => {
                    match AudioTrack::from_flv_config(config) {
                        Ok(track) => {
                            let keep = keeps_response(self.started, &self.audio, &track);
                            self.audio = Some(track);
                            keep
                        }
                        Err(error) => {
                            debug!("live fMP4: unusable AAC sequence header: {error}");
                            true
                        }
                    }
                }
                Ok(AudioBody::AacRaw(frame)) => {
                    if !self.started {
                        // With video, the stream starts at a key frame.
                        if !self.audio_only || self.audio.is_none() || !self.write_init(out) {
                            return true;
                        }
                    }
                    self.write_audio(i64::from(media.timestamp), media.data.slice_ref(frame), out);
                    true
                }
                Ok(AudioBody::Other { .. }) | Err(_) => true,
            },
        }
    }

    /// Writes the init segment for the tracks known now.
    fn write_init(&mut self, out: &mut Vec<u8>) -> bool {
        let video = if self.audio_only {
            None
        } else {
            self.video.as_ref()
        };
        match init_segment(video, self.audio.as_ref()) {
            Ok(init) => {
                out.extend_from_slice(&init);
                self.started = true;
                true
            }
            Err(error) => {
                debug!("live fMP4: no init segment: {error}");
                false
            }
        }
    }

    /// Writes the pending video frame, which lasts until `next_decode_ms`
    /// (or as long as the last one when the stream ends).
    fn flush_video(&mut self, next_decode_ms: Option<i64>, out: &mut Vec<u8>) {
        let Some(frame) = self.pending_video.take() else {
            return;
        };
        let ticks = match next_decode_ms {
            Some(next) => {
                let ticks = (next - frame.decode_ms).clamp(1, 10_000) * VIDEO_TICKS_PER_MS;
                u32::try_from(ticks).unwrap_or(self.last_video_ticks)
            }
            None => self.last_video_ticks,
        };
        self.last_video_ticks = ticks;
        let sample = Sample {
            data: frame.data,
            duration: ticks,
            composition_offset: frame
                .composition_ms
                .saturating_mul(VIDEO_TICKS_PER_MS as i32),
            sync: frame.key_frame,
        };
        let base = u64::try_from(frame.decode_ms.max(0) * VIDEO_TICKS_PER_MS).unwrap_or(0);
        self.write_fragment(VIDEO_TRACK_ID, base, sample, out);
    }

    fn write_audio(&mut self, decode_ms: i64, data: Bytes, out: &mut Vec<u8>) {
        let Some(rate) = self
            .audio
            .as_ref()
            .map(|track| u64::from(track.sample_rate))
        else {
            return;
        };
        if rate == 0 {
            return;
        }
        let from_timestamp = u64::try_from(decode_ms.max(0)).unwrap_or(0) * rate / 1000;
        let ticks = match self.next_audio_ticks {
            Some(counted)
                if (counted as i64 - from_timestamp as i64).abs() * 1000
                    <= AUDIO_RESYNC_MS * rate as i64 =>
            {
                counted
            }
            _ => from_timestamp,
        };
        self.next_audio_ticks = Some(ticks + AAC_FRAME_SAMPLES);
        let sample = Sample {
            data,
            duration: AAC_FRAME_SAMPLES as u32,
            composition_offset: 0,
            sync: true,
        };
        self.write_fragment(AUDIO_TRACK_ID, ticks, sample, out);
    }

    fn write_fragment(&mut self, track_id: u32, base: u64, sample: Sample, out: &mut Vec<u8>) {
        self.sequence = self.sequence.wrapping_add(1);
        let run = TrackRun {
            track_id,
            base_decode_time: base,
            samples: std::slice::from_ref(&sample),
        };
        match fragment(self.sequence, &[run]) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(error) => debug!("live fMP4: a frame is left out: {error}"),
        }
    }
}

impl LiveFormat for Fmp4Format {
    const NAME: &'static str = "live fMP4";
    const PROTOCOL: Protocol = Protocol::Mp4;

    fn write_batch(&mut self, batch: VecDeque<Delivery>, out: &mut Vec<u8>) -> (u64, bool) {
        let mut relayed = 0;
        for delivery in batch {
            match delivery {
                Delivery::Media(media) => {
                    relayed += 1;
                    if !self.media(&media, out) {
                        return (relayed, true);
                    }
                }
                Delivery::Metadata(_) => {}
                // A new publication may bring other tracks.
                Delivery::Begin if self.started => return (relayed, true),
                Delivery::Begin => {}
                Delivery::End => {
                    self.flush_video(None, out);
                    return (relayed, true);
                }
            }
        }
        (relayed, false)
    }
}
