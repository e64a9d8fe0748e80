//! The HLS packager of one publication: cuts the publisher's media into
//! fMP4 segments and writes the live playlist.
//!
//! Fed from the registry as media fans out ([`HlsStream::push`]), it only
//! files the FLV bodies' payloads (cheap `Bytes` slices) into the open
//! segment; the `moof`/`mdat` bytes of a segment and the init segment are
//! rendered on the first request for them and kept (once per rendition:
//! with video, or the sound alone).
//!
//! * A stream with video cuts at a video key frame once at least
//!   [`MIN_VIDEO_SEGMENT_MS`] have passed since the segment began (a 2 s
//!   GOP gives 2 s segments); frames before the first key frame are
//!   dropped. A segment that reaches [`MAX_SEGMENT_MS`] without a key frame
//!   is closed and the frames up to the next key frame are dropped. An
//!   audio-only stream cuts at the last frame that keeps a segment within
//!   [`AUDIO_SEGMENT_MS`].
//! * The playlist lists the last [`PLAYLIST_WINDOW`] complete segments;
//!   [`KEPT_PAST_WINDOW`] more stay fetchable for clients a little behind.
//!   It is served once [`MIN_LIVE_SEGMENTS`] are complete (one, once the
//!   publication has ended).
//! * Segment and init URIs carry the publication's epoch (milliseconds
//!   since 1970 at publish time, unique per server process), so a cache in
//!   front never confuses two publications of the same name.
//! * A new AVC or AAC configuration (a changed sequence header) closes the
//!   open segment and starts a new init segment version; the playlist marks
//!   the change with `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`.
//! * When the publisher leaves, the open segment is closed and the playlist
//!   ends with `EXT-X-ENDLIST`; the registry forgets the stream's HLS state
//!   [`ENDED_LINGER`] later, or at once when a new publication begins.
//!
//! Timing: video decode times are the FLV milliseconds on a 90 kHz clock
//! (composition offsets from the FLV CTS); audio decode times run on the
//! sample rate, 1024 ticks per AAC frame, following the FLV timestamps
//! whenever they stray more than [`AUDIO_RESYNC_MS`] from that count. Each
//! segment's `EXT-X-PROGRAM-DATE-TIME` is the wall clock at the
//! publication's first frame plus the segment's media time since then.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use log::warn;

use super::{Media, Track};
use crate::flv::{parse_audio_body, parse_video_body, AudioBody, VideoBody};
use crate::fmp4::{
    self, AudioTrack, Sample, TrackRun, VideoTrack, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
};
use crate::rtmp::MediaKind;

/// Complete segments the playlist lists.
pub(super) const PLAYLIST_WINDOW: usize = 6;
/// Complete segments a live playlist needs before it is served: players
/// start three target durations from the live edge, and Chromium 156's
/// native HLS fails on a live playlist of one or two segments
/// (`DEMUXER_ERROR_COULD_NOT_PARSE`) where it plays three.
pub(super) const MIN_LIVE_SEGMENTS: usize = 3;
/// Complete segments kept past the window for clients a little behind.
pub(super) const KEPT_PAST_WINDOW: usize = 3;
/// A stream with video cuts at the first key frame after this much.
pub(super) const MIN_VIDEO_SEGMENT_MS: i64 = 1000;
/// An audio-only stream's segments last up to this much.
pub(super) const AUDIO_SEGMENT_MS: i64 = 2000;
/// A segment this long without a key frame is closed.
pub(super) const MAX_SEGMENT_MS: i64 = 10_000;
/// How long an ended publication's playlist (with `EXT-X-ENDLIST`) and
/// segments stay fetchable.
pub(super) const ENDED_LINGER: Duration = Duration::from_secs(10);
/// Audio decode times follow the FLV timestamps when the frame count
/// strays further than this from them.
const AUDIO_RESYNC_MS: u64 = 40;
/// Samples per AAC frame.
const AAC_FRAME_SAMPLES: u64 = 1024;

/// A new epoch for a publication: milliseconds since 1970, made unique in
/// this process.
fn next_epoch() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => last = actual,
        }
    }
}

/// A rendering: bytes, or why they cannot be made.
type Rendered = Result<Bytes, String>;

/// One version of the init segment: the tracks a run of segments carries.
pub(super) struct Init {
    /// Counts init versions within the publication, from 0.
    pub(super) version: u32,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    full: OnceLock<Rendered>,
    audio_only: OnceLock<Rendered>,
}

impl Init {
    /// Whether the rendition (`audio_only` or not) has any track.
    fn serves(&self, audio_only: bool) -> bool {
        self.audio.is_some() || (!audio_only && self.video.is_some())
    }

    /// The init segment of a rendition, rendered once.
    pub(super) fn render(&self, audio_only: bool) -> Rendered {
        let cell = if audio_only {
            &self.audio_only
        } else {
            &self.full
        };
        cell.get_or_init(|| {
            let video = if audio_only {
                None
            } else {
                self.video.as_ref()
            };
            fmp4::init_segment(video, self.audio.as_ref())
                .map(Bytes::from)
                .map_err(|error| error.to_string())
        })
        .clone()
    }
}

/// A video sample waiting for its segment to close (its duration is known
/// once the next one arrives).
struct VideoEntry {
    dts: u64,
    composition_offset: i32,
    sync: bool,
    data: Bytes,
}

/// An audio frame of the open segment.
struct AudioEntry {
    dts: u64,
    data: Bytes,
}

/// The segment being filled.
struct OpenSegment {
    /// Media time of its first sample, in ms since the publication's first
    /// frame.
    start_ms: i64,
    video: Vec<VideoEntry>,
    audio: Vec<AudioEntry>,
}

/// A complete segment.
pub(super) struct Segment {
    /// Counts segments within the publication, from 0.
    pub(super) sequence: u64,
    /// The init segment it goes with.
    pub(super) init: Arc<Init>,
    /// The first segment after a configuration change.
    discontinuity: bool,
    /// Discontinuities at or before this segment.
    discontinuity_sequence: u64,
    /// Length in milliseconds.
    duration_ms: i64,
    /// Wall clock of its first sample.
    program_date_time: SystemTime,
    video_base: u64,
    video: Vec<Sample>,
    audio_base: u64,
    audio: Vec<Sample>,
    full: OnceLock<Rendered>,
    audio_only: OnceLock<Rendered>,
}

impl Segment {
    /// The segment's fragment for a rendition, rendered once.
    pub(super) fn render(&self, audio_only: bool) -> Rendered {
        let cell = if audio_only {
            &self.audio_only
        } else {
            &self.full
        };
        cell.get_or_init(|| {
            let mut runs = Vec::with_capacity(2);
            if !audio_only && self.init.video.is_some() {
                runs.push(TrackRun {
                    track_id: VIDEO_TRACK_ID,
                    base_decode_time: self.video_base,
                    samples: &self.video,
                });
            }
            if self.init.audio.is_some() {
                runs.push(TrackRun {
                    track_id: AUDIO_TRACK_ID,
                    base_decode_time: self.audio_base,
                    samples: &self.audio,
                });
            }
            // mfhd counts from 1; a u32 of 2 s segments lasts 270 years.
            let sequence = u32::try_from(self.sequence + 1).unwrap_or(u32::MAX);
            fmp4::fragment(sequence, &runs)
                .map(Bytes::from)
                .map_err(|error| error.to_string())
        })
        .clone()
    }
}

/// The publication's clock: 32-bit FLV milliseconds extended past their
/// wrap, counted from the first frame.
struct Clock {
    last_raw: u32,
    /// `last_raw` as extended milliseconds since `first_raw`.
    last: i64,
    /// Wall clock at the first frame.
    wall: SystemTime,
}

impl Clock {
    fn new(raw: u32) -> Self {
        Self {
            last_raw: raw,
            last: 0,
            wall: SystemTime::now(),
        }
    }

    /// Milliseconds since the first frame (negative for a frame stamped
    /// before it).
    fn since_first(&mut self, raw: u32) -> i64 {
        let step = i64::from(raw.wrapping_sub(self.last_raw) as i32);
        self.last += step;
        self.last_raw = raw;
        self.last
    }
}

/// Why a playlist or file is not there, for the 404's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Missing(pub(super) String);

/// The HLS state of one publication.
pub(super) struct HlsStream {
    epoch: u64,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    init: Option<Arc<Init>>,
    init_versions: u32,
    discontinuity_pending: bool,
    discontinuities: u64,
    clock: Option<Clock>,
    open: Option<OpenSegment>,
    segments: VecDeque<Arc<Segment>>,
    next_sequence: u64,
    longest_ms: i64,
    last_video_dts: u64,
    audio_next: Option<u64>,
    ended: Option<Instant>,
}

impl HlsStream {
    /// The state of a publication that begins now.
    pub(super) fn new() -> Self {
        Self {
            epoch: next_epoch(),
            video: None,
            audio: None,
            init: None,
            init_versions: 0,
            discontinuity_pending: false,
            discontinuities: 0,
            clock: None,
            open: None,
            segments: VecDeque::new(),
            next_sequence: 0,
            longest_ms: 0,
            last_video_dts: 0,
            audio_next: None,
            ended: None,
        }
    }

    /// The publication's epoch, as its URIs carry it.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// When the publisher left, if it has.
    pub(super) fn ended(&self) -> Option<Instant> {
        self.ended
    }

    /// Files one media message of the publisher.
    pub(super) fn push(&mut self, media: &Media) {
        if self.ended.is_some() {
            return;
        }
        match (media.track, media.kind) {
            (Track::Video, MediaKind::SequenceHeader) => {
                if let Ok(VideoBody::SequenceHeader(record)) = parse_video_body(&media.data) {
                    let track = VideoTrack::from_flv_config(record)
                        .map_err(|error| warn!("HLS: no video track: {error}"))
                        .ok();
                    self.configure(track, self.audio.clone());
                }
            }
            (Track::Audio, MediaKind::SequenceHeader) => {
                if let Ok(AudioBody::AacSequenceHeader(config)) = parse_audio_body(&media.data) {
                    let track = AudioTrack::from_flv_config(config)
                        .map_err(|error| warn!("HLS: no audio track: {error}"))
                        .ok();
                    self.configure(self.video.clone(), track);
                }
            }
            (Track::Video, MediaKind::KeyFrame | MediaKind::InterFrame) if self.video.is_some() => {
                if let Ok(VideoBody::Nalu {
                    key_frame,
                    composition_time_ms,
                    data,
                }) = parse_video_body(&media.data)
                {
                    let data = media.data.slice_ref(data);
                    self.add_video(media.timestamp, composition_time_ms, key_frame, data);
                }
            }
            (Track::Audio, MediaKind::AudioFrame) if self.audio.is_some() => {
                if let Ok(AudioBody::AacRaw(frame)) = parse_audio_body(&media.data) {
                    let data = media.data.slice_ref(frame);
                    self.add_audio(media.timestamp, data);
                }
            }
            _ => {}
        }
    }

    /// The publisher left: the open segment is complete, the playlist ends.
    pub(super) fn end(&mut self) {
        self.close(None);
        self.ended = Some(Instant::now());
    }

    /// New track configurations: a change closes the open segment, and the
    /// next one starts a new init version after a discontinuity.
    fn configure(&mut self, video: Option<VideoTrack>, audio: Option<AudioTrack>) {
        if video == self.video && audio == self.audio {
            return;
        }
        self.close(None);
        if audio != self.audio {
            self.audio_next = None;
        }
        self.video = video;
        self.audio = audio;
        if self.init.take().is_some() {
            self.discontinuity_pending = true;
        }
    }

    fn since_first(&mut self, raw: u32) -> i64 {
        self.clock
            .get_or_insert_with(|| Clock::new(raw))
            .since_first(raw)
    }

    fn start(&mut self, start_ms: i64) {
        if self.init.is_none() {
            self.init = Some(Arc::new(Init {
                version: self.init_versions,
                video: self.video.clone(),
                audio: self.audio.clone(),
                full: OnceLock::new(),
                audio_only: OnceLock::new(),
            }));
            self.init_versions += 1;
        }
        self.open = Some(OpenSegment {
            start_ms,
            video: Vec::new(),
            audio: Vec::new(),
        });
    }

    fn add_video(&mut self, raw: u32, composition_ms: i32, key_frame: bool, data: Bytes) {
        let ms = self.since_first(raw);
        let open_for = self.open.as_ref().map(|open| ms - open.start_ms);
        match open_for {
            None if key_frame => self.start(ms),
            Some(elapsed) if key_frame && elapsed >= MIN_VIDEO_SEGMENT_MS => {
                self.close(Some(ms));
                self.start(ms);
            }
            Some(elapsed) if elapsed >= MAX_SEGMENT_MS => {
                warn!("HLS: no key frame for {elapsed} ms; dropping video up to the next one");
                self.close(Some(ms));
            }
            _ => {}
        }
        let dts = (ms.max(0) as u64 * 90).max(self.last_video_dts);
        let Some(open) = self.open.as_mut() else {
            return;
        };
        self.last_video_dts = dts;
        open.video.push(VideoEntry {
            dts,
            composition_offset: composition_ms.saturating_mul(90),
            sync: key_frame,
            data,
        });
    }

    fn add_audio(&mut self, raw: u32, data: Bytes) {
        let Some(rate) = self
            .audio
            .as_ref()
            .map(|audio| u64::from(audio.sample_rate))
        else {
            return;
        };
        let ms = self.since_first(raw);
        if self.video.is_none() {
            // Cut before the frame that would take the segment past
            // AUDIO_SEGMENT_MS, so the target duration stays at 2 s.
            let frame_ms = (AAC_FRAME_SAMPLES * 1000 / rate.max(1)) as i64;
            match self.open.as_ref().map(|open| ms - open.start_ms) {
                None => self.start(ms),
                Some(elapsed) if elapsed + frame_ms > AUDIO_SEGMENT_MS => {
                    self.close(Some(ms));
                    self.start(ms);
                }
                _ => {}
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let stamped = ms.max(0) as u64 * rate / 1000;
        let dts = match self.audio_next {
            Some(next) if stamped.abs_diff(next) <= AUDIO_RESYNC_MS * rate / 1000 => next,
            Some(next) => stamped.max(next.saturating_sub(AAC_FRAME_SAMPLES)),
            None => stamped,
        };
        self.audio_next = Some(dts + AAC_FRAME_SAMPLES);
        open.audio.push(AudioEntry { dts, data });
    }

    /// Closes the open segment; `end_ms` is where the next one starts,
    /// when known.
    fn close(&mut self, end_ms: Option<i64>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let Some(init) = self.init.clone() else {
            return;
        };
        if open.video.is_empty() && open.audio.is_empty() {
            return;
        }
        let end_dts = end_ms.map(|ms| ms.max(0) as u64 * 90);
        let video = video_samples(&open.video, end_dts);
        let audio: Vec<Sample> = open
            .audio
            .iter()
            .enumerate()
            .map(|(i, entry)| Sample {
                data: entry.data.clone(),
                duration: open
                    .audio
                    .get(i + 1)
                    .map_or(AAC_FRAME_SAMPLES as u32, |next| {
                        u32::try_from(next.dts.saturating_sub(entry.dts)).unwrap_or(u32::MAX)
                    }),
                composition_offset: 0,
                sync: true,
            })
            .collect();
        let video_base = open.video.first().map_or(0, |entry| entry.dts);
        let audio_base = open.audio.first().map_or(0, |entry| entry.dts);
        let rate = self
            .audio
            .as_ref()
            .map_or(1, |audio| u64::from(audio.sample_rate));
        let duration_ms = match end_ms {
            Some(end) => end - open.start_ms,
            None => {
                let video_end =
                    video_base + video.iter().map(|s| u64::from(s.duration)).sum::<u64>();
                let audio_end =
                    audio_base + audio.iter().map(|s| u64::from(s.duration)).sum::<u64>();
                let video_end_ms = if video.is_empty() { 0 } else { video_end / 90 };
                let audio_end_ms = if audio.is_empty() {
                    0
                } else {
                    audio_end * 1000 / rate.max(1)
                };
                video_end_ms.max(audio_end_ms) as i64 - open.start_ms.max(0)
            }
        }
        .max(1);
        let wall = self
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |clock| clock.wall);
        let program_date_time = if open.start_ms >= 0 {
            wall + Duration::from_millis(open.start_ms as u64)
        } else {
            wall
        };
        let discontinuity = std::mem::take(&mut self.discontinuity_pending);
        if discontinuity {
            self.discontinuities += 1;
        }
        self.longest_ms = self.longest_ms.max(duration_ms);
        self.segments.push_back(Arc::new(Segment {
            sequence: self.next_sequence,
            init,
            discontinuity,
            discontinuity_sequence: self.discontinuities,
            duration_ms,
            program_date_time,
            video_base,
            video,
            audio_base,
            audio,
            full: OnceLock::new(),
            audio_only: OnceLock::new(),
        }));
        self.next_sequence += 1;
        while self.segments.len() > PLAYLIST_WINDOW + KEPT_PAST_WINDOW {
            self.segments.pop_front();
        }
    }

    /// A kept segment by its sequence number.
    pub(super) fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        let first = self.segments.front()?.sequence;
        let index = usize::try_from(sequence.checked_sub(first)?).ok()?;
        self.segments.get(index).cloned()
    }

    /// An init segment version still in use by a kept segment.
    pub(super) fn init(&self, version: u32) -> Option<Arc<Init>> {
        self.segments
            .iter()
            .map(|segment| &segment.init)
            .chain(self.init.as_ref())
            .find(|init| init.version == version)
            .cloned()
    }

    /// The live playlist of a rendition. `name` is the rendition's stream
    /// name (`room` or `room_pureAudio`): its URIs are `name/EPOCH/...`,
    /// relative to the playlist's own; `query` (empty, or `?...`) is
    /// appended to each.
    pub(super) fn playlist(
        &self,
        name: &str,
        audio_only: bool,
        query: &str,
    ) -> Result<String, Missing> {
        let listed: Vec<&Arc<Segment>> = self
            .segments
            .iter()
            .filter(|segment| segment.init.serves(audio_only))
            .collect();
        let listed = &listed[listed.len().saturating_sub(PLAYLIST_WINDOW)..];
        let needed = if self.ended.is_some() {
            1
        } else {
            MIN_LIVE_SEGMENTS
        };
        let first = match listed.first() {
            Some(first) if listed.len() >= needed => first,
            _ => {
                let why = if audio_only && self.audio.is_none() && !self.segments.is_empty() {
                    "the stream has no AAC audio".to_string()
                } else if self.video.is_none() && self.audio.is_none() {
                    "no H.264 or AAC media yet".to_string()
                } else {
                    format!(
                        "{} of the first {needed} segments complete (players start {needed} \
                         segments from the live edge)",
                        listed.len()
                    )
                };
                return Err(Missing(why));
            }
        };
        let target = (self.longest_ms + 999) / 1000;
        let mut text = String::with_capacity(256 + listed.len() * 128);
        let _ = write!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            target.max(1),
            first.sequence
        );
        if first.discontinuity_sequence > 0 {
            let _ = writeln!(
                text,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                first.discontinuity_sequence
            );
        }
        text.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut map: Option<u32> = None;
        for (i, segment) in listed.iter().enumerate() {
            if i > 0 && segment.discontinuity {
                text.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(segment.init.version) {
                map = Some(segment.init.version);
                let _ = writeln!(
                    text,
                    "#EXT-X-MAP:URI=\"{name}/{}/init-{}.mp4{query}\"",
                    self.epoch, segment.init.version
                );
            }
            let _ = write!(
                text,
                "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{}.{:03},\n{name}/{}/{}.m4s{query}\n",
                iso8601(segment.program_date_time),
                segment.duration_ms / 1000,
                segment.duration_ms % 1000,
                self.epoch,
                segment.sequence
            );
        }
        if self.ended.is_some() {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        Ok(text)
    }
}

/// The video samples of a segment with their durations: up to the next
/// sample, and for the last up to `end_dts` (else the one before's).
fn video_samples(entries: &[VideoEntry], end_dts: Option<u64>) -> Vec<Sample> {
    let mut samples: Vec<Sample> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let next = entries.get(i + 1).map(|next| next.dts).or(end_dts);
        let duration = match next {
            Some(next) if next > entry.dts => next - entry.dts,
            _ => samples
                .last()
                .map_or(u64::from(VIDEO_TIMESCALE / 30), |s| u64::from(s.duration)),
        };
        samples.push(Sample {
            data: entry.data.clone(),
            duration: u32::try_from(duration).unwrap_or(u32::MAX),
            composition_offset: entry.composition_offset,
            sync: entry.sync,
        });
    }
    samples
}

/// `2024-12-07T04:54:00.123Z`.
pub(super) fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since.subsec_millis()
    )
}

/// The Gregorian date `days` after 1970-01-01 (the days of each 400-year
/// era counted from 0000-03-01, so leap days fall at the end of a year).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = (if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    }) as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use mp4_atom::{Decode, Mdat, Moof, Moov};
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;
    use crate::avc::AvcDecoderConfig;

    const SPS: &str = "6764001facd940b40a1b0110000003001000000303c0f1831960";
    const PPS: &str = "68ef8fcb";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn media(track: Track, timestamp: u32, body: Vec<u8>) -> Media {
        Media::new(track, RtmpTimestamp::new(timestamp), Bytes::from(body))
    }

    fn video_header() -> Media {
        let record = AvcDecoderConfig::from_parameter_sets(&hex(SPS), &hex(PPS))
            .and_then(|config| config.to_bytes())
            .expect("record");
        media(Track::Video, 0, [&[0x17, 0, 0, 0, 0][..], &record].concat())
    }

    fn frame(timestamp: u32, key: bool, cts: u8) -> Media {
        let first = if key { 0x17 } else { 0x27 };
        let nal = if key { 0x65 } else { 0x41 };
        media(
            Track::Video,
            timestamp,
            vec![first, 1, 0, 0, cts, 0, 0, 0, 2, nal, timestamp as u8],
        )
    }

    fn audio_header() -> Media {
        media(Track::Audio, 0, vec![0xaf, 0, 0x12, 0x10])
    }

    fn audio(timestamp: u32) -> Media {
        media(
            Track::Audio,
            timestamp,
            vec![0xaf, 1, 0x21, timestamp as u8],
        )
    }

    /// 30 fps video with a key frame every `gop` frames and 44.1 kHz AAC,
    /// stamped from `start` ms, in arrival order.
    struct Feeder {
        start: u32,
        gop: u32,
        frames: u32,
        audio_frames: u64,
    }

    impl Feeder {
        fn new(start: u32, gop: u32) -> Self {
            Self {
                start,
                gop,
                frames: 0,
                audio_frames: 0,
            }
        }

        fn run(&mut self, hls: &mut HlsStream, seconds: u32) {
            for _ in 0..seconds * 30 {
                let i = self.frames;
                let ms = i * 1000 / 30;
                hls.push(&frame(
                    self.start.wrapping_add(ms),
                    i.is_multiple_of(self.gop),
                    0,
                ));
                // Audio up to the video frame's time.
                while self.audio_frames * 1024 * 1000 / 44100 <= u64::from(ms) {
                    let audio_ms = (self.audio_frames * 1024 * 1000 / 44100) as u32;
                    hls.push(&audio(self.start.wrapping_add(audio_ms)));
                    self.audio_frames += 1;
                }
                self.frames += 1;
            }
        }
    }

    fn lines<'a>(playlist: &'a str, prefix: &str) -> Vec<&'a str> {
        playlist
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .collect()
    }

    #[test]
    fn two_second_gops_make_two_second_segments_in_a_window_of_six() {
        let mut hls = HlsStream::new();
        assert_eq!(
            hls.playlist("x", false, ""),
            Err(Missing("no H.264 or AAC media yet".into()))
        );
        hls.push(&video_header());
        hls.push(&audio_header());
        let mut feeder = Feeder::new(0, 60);
        feeder.run(&mut hls, 1);
        assert_eq!(
            hls.playlist("x", false, ""),
            Err(Missing(
                "0 of the first 3 segments complete (players start 3 segments from the \
                 live edge)"
                    .into()
            ))
        );
        // Two segments are not enough for a live playlist; three are.
        feeder.run(&mut hls, 4);
        assert_eq!(hls.segments.len(), 2);
        assert!(hls.playlist("x", false, "").is_err());
        feeder.run(&mut hls, 2);
        assert!(hls.playlist("x", false, "").is_ok());
        feeder.run(&mut hls, 13);
        // Key frames at 0, 2, ... 18 s: nine segments complete, the tenth open.
        assert_eq!(hls.next_sequence, 9);
        assert_eq!(hls.segments.len(), PLAYLIST_WINDOW + KEPT_PAST_WINDOW);
        let playlist = hls
            .playlist("x", false, "?txSecret=ab&txTime=CD")
            .expect("playlist");
        assert!(
            playlist.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n"),
            "{playlist}"
        );
        assert_eq!(lines(&playlist, "#EXT-X-TARGETDURATION:"), vec!["2"]);
        assert_eq!(lines(&playlist, "#EXT-X-MEDIA-SEQUENCE:"), vec!["3"]);
        assert_eq!(lines(&playlist, "#EXTINF:"), vec!["2.000,"; 6]);
        let epoch = hls.epoch();
        assert_eq!(
            lines(&playlist, "#EXT-X-MAP:URI="),
            vec![format!("\"x/{epoch}/init-0.mp4?txSecret=ab&txTime=CD\"")]
        );
        let uris: Vec<&str> = playlist.lines().filter(|l| !l.starts_with('#')).collect();
        let expected: Vec<String> = (3..9)
            .map(|n| format!("x/{epoch}/{n}.m4s?txSecret=ab&txTime=CD"))
            .collect();
        assert_eq!(uris, expected);
        assert!(!playlist.contains("#EXT-X-ENDLIST"));
        assert!(!playlist.contains("DISCONTINUITY"));

        // Program date-times: 2 s apart, as ISO-8601 with ms and Z.
        let wall = hls.clock.as_ref().expect("clock").wall;
        let dates = lines(&playlist, "#EXT-X-PROGRAM-DATE-TIME:");
        let expected: Vec<String> = (3..9)
            .map(|n| iso8601(wall + Duration::from_secs(2 * n)))
            .collect();
        assert_eq!(dates, expected);
        assert!(
            dates[0].ends_with('Z') && dates[0].len() == 24,
            "{}",
            dates[0]
        );

        // Segments past the window stay fetchable; older ones are gone.
        assert!(hls.segment(0).is_some());
        assert!(hls.segment(8).is_some());
        assert!(hls.segment(9).is_none());
        hls.push(&frame(20_000, true, 0));
        assert!(hls.segment(0).is_none());
        assert!(hls.segment(9).is_some());

        // The end closes the open segment and ends the playlist.
        hls.end();
        let playlist = hls.playlist("x", false, "").expect("playlist");
        assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
        assert_eq!(hls.next_sequence, 11);
        assert!(hls.ended().is_some());
    }

    #[test]
    fn segments_render_to_fragments_with_continuous_timing() {
        let mut hls = HlsStream::new();
        hls.push(&video_header());
        hls.push(&audio_header());
        // Video before the first key frame is dropped.
        hls.push(&frame(0, false, 0));
        hls.push(&audio(0));
        Feeder::new(40, 60).run(&mut hls, 7);
        let init = hls.init(0).expect("init 0");
        let moov = {
            let bytes = init.render(false).expect("init");
            let mut cursor = std::io::Cursor::new(bytes.as_ref());
            let _ = mp4_atom::Ftyp::decode(&mut cursor).expect("ftyp");
            Moov::decode(&mut cursor).expect("moov")
        };
        assert_eq!(moov.trak.len(), 2);
        let audio_moov = {
            let bytes = init.render(true).expect("audio init");
            let mut cursor = std::io::Cursor::new(bytes.as_ref());
            let _ = mp4_atom::Ftyp::decode(&mut cursor).expect("ftyp");
            Moov::decode(&mut cursor).expect("moov")
        };
        assert_eq!(audio_moov.trak.len(), 1);
        assert_eq!(audio_moov.trak[0].tkhd.track_id, AUDIO_TRACK_ID);

        let mut next_video = None;
        let mut next_audio = None;
        for sequence in 0..3 {
            let segment = hls.segment(sequence).expect("segment");
            let bytes = segment.render(false).expect("fragment");
            let mut cursor = std::io::Cursor::new(bytes.as_ref());
            let moof = Moof::decode(&mut cursor).expect("moof");
            Mdat::decode(&mut cursor).expect("mdat");
            assert_eq!(moof.mfhd.sequence_number, sequence as u32 + 1);
            let video = &moof.traf[0];
            let audio = &moof.traf[1];
            assert_eq!(video.tfhd.track_id, VIDEO_TRACK_ID);
            let entries = &video.trun[0].entries;
            assert_eq!(entries.len(), 60);
            assert_eq!(entries[0].flags, Some(0x0200_0000));
            assert!(entries[1..].iter().all(|e| e.flags == Some(0x0101_0000)));
            let base = video.tfdt.as_ref().expect("tfdt").base_media_decode_time;
            let total: u64 = entries
                .iter()
                .filter_map(|e| e.duration)
                .map(u64::from)
                .sum();
            assert_eq!(total, 180_000, "2 s of video at 90 kHz");
            if let Some(expected) = next_video {
                assert_eq!(base, expected);
            }
            next_video = Some(base + total);
            let base = audio.tfdt.as_ref().expect("tfdt").base_media_decode_time;
            let entries = &audio.trun[0].entries;
            assert!(entries.iter().all(|e| e.duration == Some(1024)));
            assert!((85..=88).contains(&entries.len()), "{}", entries.len());
            if let Some(expected) = next_audio {
                assert_eq!(base, expected);
            }
            next_audio = Some(base + 1024 * entries.len() as u64);

            // The sound alone: one traf, the same audio.
            let bytes = segment.render(true).expect("audio fragment");
            let moof = Moof::decode(&mut std::io::Cursor::new(bytes.as_ref())).expect("moof");
            assert_eq!(moof.traf.len(), 1);
            assert_eq!(moof.traf[0].tfhd.track_id, AUDIO_TRACK_ID);
        }
        // The first segment begins at the first key frame (40 ms).
        assert_eq!(hls.segment(0).expect("first").video_base, 40 * 90);
        assert_eq!(
            hls.segment(0).expect("first").video[0].data.as_ref(),
            &[0, 0, 0, 2, 0x65, 40]
        );
    }

    #[test]
    fn short_gops_cut_after_a_second_and_composition_offsets_carry_over() {
        let mut hls = HlsStream::new();
        hls.push(&video_header());
        for i in 0..=150u32 {
            // Key frames every 0.4 s: cuts at 1.2 s, 2.4 s, 3.6 s, 4.8 s.
            hls.push(&frame(i * 1000 / 30, i.is_multiple_of(12), 66));
        }
        let durations: Vec<i64> = hls.segments.iter().map(|s| s.duration_ms).collect();
        assert_eq!(durations, vec![1200; 4]);
        let segment = hls.segment(0).expect("segment");
        assert_eq!(segment.video[0].composition_offset, 66 * 90);
        let playlist = hls.playlist("x", false, "").expect("playlist");
        assert_eq!(lines(&playlist, "#EXT-X-TARGETDURATION:"), vec!["2"]);
        assert_eq!(lines(&playlist, "#EXTINF:"), vec!["1.200,"; 4]);
        // No audio: the sound alone has nothing to list.
        assert!(hls.playlist("x_pureAudio", true, "").is_err());
    }

    #[test]
    fn audio_only_streams_cut_every_two_seconds() {
        let mut hls = HlsStream::new();
        hls.push(&audio_header());
        for i in 0..=(7 * 44100 / 1024) {
            hls.push(&audio((i * 1024 * 1000 / 44100) as u32));
        }
        assert_eq!(hls.segments.len(), 3);
        let playlist = hls.playlist("a_pureAudio", true, "").expect("playlist");
        assert_eq!(lines(&playlist, "#EXT-X-TARGETDURATION:"), vec!["2"]);
        for line in lines(&playlist, "#EXTINF:") {
            let seconds: f64 = line.trim_end_matches(',').parse().expect("seconds");
            assert!((1.97..=2.0).contains(&seconds), "{line}");
        }
        assert!(playlist.contains(&format!("a_pureAudio/{}/0.m4s\n", hls.epoch())));
        // The full rendition of an audio-only stream is the sound alone too.
        let full = hls
            .segment(0)
            .expect("segment")
            .render(false)
            .expect("fragment");
        let moof = Moof::decode(&mut std::io::Cursor::new(full.as_ref())).expect("moof");
        assert_eq!(moof.traf.len(), 1);
    }

    #[test]
    fn a_new_configuration_starts_a_new_init_after_a_discontinuity() {
        let mut hls = HlsStream::new();
        hls.push(&video_header());
        hls.push(&audio_header());
        let mut feeder = Feeder::new(0, 60);
        feeder.run(&mut hls, 4);
        // The same headers again change nothing.
        hls.push(&video_header());
        hls.push(&audio_header());
        feeder.run(&mut hls, 2);
        assert_eq!(hls.segments.len(), 2);
        // A new audio configuration (48 kHz mono).
        hls.push(&media(Track::Audio, 6000, vec![0xaf, 0, 0x11, 0x88]));
        assert_eq!(hls.segments.len(), 3, "the open segment closed");
        feeder.run(&mut hls, 4);
        let epoch = hls.epoch();
        let playlist = hls.playlist("x", false, "").expect("playlist");
        assert_eq!(
            lines(&playlist, "#EXT-X-MAP:URI="),
            vec![
                format!("\"x/{epoch}/init-0.mp4\""),
                format!("\"x/{epoch}/init-1.mp4\"")
            ]
        );
        assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert_eq!(
            hls.init(1)
                .expect("init 1")
                .audio
                .as_ref()
                .map(|a| a.sample_rate),
            Some(48000)
        );
        assert!(hls.init(2).is_none());
    }

    #[test]
    fn timestamps_wrap_around_32_bits() {
        let mut hls = HlsStream::new();
        hls.push(&video_header());
        hls.push(&audio_header());
        Feeder::new(u32::MAX - 2999, 60).run(&mut hls, 6);
        let durations: Vec<i64> = hls.segments.iter().map(|s| s.duration_ms).collect();
        assert_eq!(durations, vec![2000, 2000]);
        let second = hls.segment(1).expect("segment");
        assert_eq!(second.video_base, 180_000);
    }

    #[test]
    fn epochs_are_unique_and_rising() {
        let epochs: Vec<u64> = (0..100).map(|_| HlsStream::new().epoch()).collect();
        assert!(epochs.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn dates_are_iso_8601_utc_with_milliseconds() {
        let at = |ms: u64| iso8601(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_733_547_000_123), "2024-12-07T04:50:00.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }
}
