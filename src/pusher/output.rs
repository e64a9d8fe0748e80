//! The second half of the push: x264 and AAC, FLV tags, the file and the
//! RTMP uplink, on a thread of their own so that encoding frame N overlaps
//! the GPU work on frame N + 1.
//!
//! [`OutputStage::open`] builds everything (opening the encoders, creating
//! the file, connecting: the push fails early if any of it fails), and
//! [`OutputStage::spawn`] moves it onto its thread. The push loop hands it
//! processed frames and blocks of sound through a short queue, so a slow
//! encoder slows the loop rather than piling frames up.
//!
//! One timeline: video and audio timestamps are stream time plus one
//! shift, large enough that neither x264's B-frame reordering nor the
//! AAC pre-roll needs a negative time. Audio tags wait until the video
//! has caught up with them (x264 holds frames in its lookahead), so the
//! FLV is interleaved in time order.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use super::bitrate::AdaptiveBitrate;
use super::uplink::{AvcPackager, FlvFile, Uplink};
use super::{PushError, PusherConfig, PusherEvent};
use crate::audio::{AacEncoder, AudioError, AudioFormat, AAC_FRAME_LEN};
use crate::color::i420_to_rgb_image;
use crate::encoder::{BitrateRange, EncodedFrame, Encoder, EncoderConfig, EncoderError};
use crate::events::{NetStatus, PushCode, PushEvent, PushNetStatus};
use crate::flv::{self, FlvHeader, TagKind};
use crate::frame::I420Frame;
use crate::geometry::Mode;
use crate::rtmp::RtmpUrl;
use crate::source::FrameRate;

/// Processed frames (or sound blocks) that may wait for the encoders.
const QUEUE_DEPTH: usize = 2;

/// Totals of the output side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct OutputTotals {
    pub(super) frames_encoded: u64,
    pub(super) frames_sent: u64,
    pub(super) frames_dropped: u64,
    pub(super) video_bytes: u64,
    pub(super) bytes_sent: u64,
    pub(super) reconnects: u32,
    /// Decode time of the last video frame, ms.
    pub(super) last_decode_ms: u32,
    pub(super) audio_packets: u64,
    pub(super) audio_bytes: u64,
    pub(super) audio_dropped: u64,
    /// Largest send backlog seen at a `netStatus` interval, bytes.
    pub(super) peak_backlog_bytes: usize,
}

/// Sliding counters for `netStatus`.
#[derive(Default)]
struct Meter {
    since: Option<Instant>,
    frames: u64,
    video_bytes: u64,
    audio_bytes: u64,
    bytes_sent_at_start: u64,
}

/// x264 and its packaging.
struct VideoTrack {
    encoder: Encoder,
    packager: AvcPackager,
    /// Added to x264's timestamps to reach the common shift.
    extra_ms: u64,
    /// Waiting for a key frame before sending to the uplink.
    awaiting_key: bool,
    force_key: bool,
}

/// The AAC encoder and the tags waiting for the video to catch up.
struct AudioTrack {
    encoder: AacEncoder,
    format: AudioFormat,
    /// The FLV body of the AAC sequence header.
    header: Bytes,
    /// Stream time of the first sample, as a timestamp: the common shift.
    shift_ms: u64,
    pending: VecDeque<(u32, Bytes)>,
}

impl AudioTrack {
    /// The tag timestamp of a packet, or `None` for pure encoder priming
    /// (everything before the one pre-roll packet the decoder needs).
    fn timestamp(&self, first_frame: i64) -> Option<u32> {
        if first_frame < -(AAC_FRAME_LEN as i64) {
            return None;
        }
        let rate = i64::from(self.format.sample_rate);
        let offset_ms = (first_frame * 1000).div_euclid(rate);
        let ms = self.shift_ms as i64 + offset_ms;
        u32::try_from(ms.max(0) & 0xffff_ffff).ok()
    }
}

/// Encoders, packaging and the ways out.
pub(super) struct OutputStage {
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    file: Option<FlvFile>,
    uplink: Option<Uplink>,
    events: Sender<PusherEvent>,
    mode: Mode,
    width: u32,
    height: u32,
    fps: f64,
    range: BitrateRange,
    net_status_interval: Duration,
    meter: Meter,
    adaptive: AdaptiveBitrate,
    totals: OutputTotals,
    last_frame: Option<I420Frame>,
    /// How late the last paced frame went out.
    behind: Duration,
}

enum StageMessage {
    Frame(I420Frame),
    Sound(Vec<f32>),
    /// How late the last frame went out (paced pushes).
    Behind(Duration),
    Snapshot(PathBuf, Sender<Result<(), PushError>>),
}

/// The stage running on its thread.
pub(super) struct OutputThread {
    sender: Option<SyncSender<StageMessage>>,
    thread: Option<JoinHandle<Result<OutputTotals, PushError>>>,
}

impl OutputStage {
    /// Opens the encoders (1008), the FLV file and the connection (1001,
    /// 1002, with retries). `audio` is the audio track's format, if any;
    /// `config.enable_camera` false leaves the video track out.
    pub(super) fn open(
        config: &PusherConfig,
        frame_rate: FrameRate,
        audio: Option<AudioFormat>,
        events: Sender<PusherEvent>,
    ) -> Result<Self, PushError> {
        let emit_to = events.clone();
        let emit = move |code: PushCode, message: String| {
            let _ = emit_to.send(PusherEvent::Push(PushEvent::new(code, message)));
        };
        let size = config.output_size();
        let range = config.bitrate_range()?;
        let mut video = if config.enable_camera {
            Some(open_video(config, frame_rate, range, &emit)?)
        } else {
            None
        };
        let mut audio = match audio {
            Some(format) => Some(open_audio(format, config.audio_quality, &emit)?),
            None => None,
        };
        // One shift for both tracks: x264's reorder delay, or the AAC
        // pre-roll packet, whichever is longer.
        let video_shift = video
            .as_ref()
            .map_or(0, |v| v.encoder.timestamp_shift().as_millis() as u64);
        let audio_preroll = audio.as_ref().map_or(0, |a| {
            (AAC_FRAME_LEN as u64 * 1000).div_ceil(u64::from(a.format.sample_rate))
        });
        let shift = video_shift.max(audio_preroll);
        if let Some(video) = &mut video {
            video.extra_ms = shift - video_shift;
        }
        if let Some(audio) = &mut audio {
            audio.shift_ms = shift;
        }
        let header = FlvHeader {
            has_audio: audio.is_some(),
            has_video: video.is_some(),
        };
        let file = config
            .flv_output
            .as_deref()
            .map(|path| FlvFile::create(path, header))
            .transpose()?;
        let uplink = match &config.push_url {
            Some(url) => {
                let url = RtmpUrl::parse(url)?;
                let mut forward = |event| {
                    let _ = events.send(event);
                };
                Some(Uplink::connect(
                    url,
                    config.publisher.clone(),
                    config.reconnect.clone(),
                    &mut forward,
                )?)
            }
            None => None,
        };
        let mut stage = Self {
            video,
            audio,
            file,
            uplink,
            events,
            mode: config.mode,
            width: size.width(),
            height: size.height(),
            fps: frame_rate.fps(),
            range,
            net_status_interval: config.net_status_interval,
            meter: Meter::default(),
            adaptive: AdaptiveBitrate::new(range),
            totals: OutputTotals::default(),
            last_frame: None,
            behind: Duration::ZERO,
        };
        if stage.file.is_some() {
            let script = Bytes::from(flv::metadata_body(&stage.flv_metadata()));
            let video_header = stage.video.as_ref().map(|v| v.packager.sequence_header());
            let audio_header = stage.audio.as_ref().map(|a| a.header.clone());
            if let Some(file) = &mut stage.file {
                file.write(TagKind::Script, 0, &script)?;
                if let Some(header) = video_header {
                    file.write(TagKind::Video, 0, &header)?;
                }
                if let Some(header) = audio_header {
                    file.write(TagKind::Audio, 0, &header)?;
                }
            }
        }
        Ok(stage)
    }

    /// Moves the stage onto its own thread.
    pub(super) fn spawn(self) -> Result<OutputThread, PushError> {
        let (sender, inbox) = mpsc::sync_channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("liveroom-encode".into())
            .spawn(move || self.run(inbox))
            .map_err(|e| PushError::thread("encoder", e))?;
        Ok(OutputThread {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    fn run(mut self, inbox: Receiver<StageMessage>) -> Result<OutputTotals, PushError> {
        for message in inbox {
            match message {
                StageMessage::Frame(frame) => self.deliver(frame)?,
                StageMessage::Sound(samples) => self.deliver_sound(&samples)?,
                StageMessage::Behind(lag) => self.behind = lag,
                StageMessage::Snapshot(path, reply) => {
                    let result = match &self.last_frame {
                        Some(frame) => i420_to_rgb_image(frame).save(&path).map_err(|source| {
                            PushError::Snapshot {
                                path: path.clone(),
                                source,
                            }
                        }),
                        None => Err(PushError::Config("no frame has been processed yet".into())),
                    };
                    let _ = reply.send(result);
                }
            }
        }
        self.finish()
    }

    fn emit(&self, event: PusherEvent) {
        let _ = self.events.send(event);
    }

    /// Watches the connection; after each (re)connection sends metadata
    /// and both sequence headers, and makes the video restart at a key
    /// frame.
    fn tend_uplink(&mut self) -> Result<(), PushError> {
        let Some(uplink) = &mut self.uplink else {
            return Ok(());
        };
        let events = self.events.clone();
        uplink.poll(&mut |event| {
            let _ = events.send(event);
        })?;
        if !uplink.take_restart() {
            return Ok(());
        }
        let metadata = self.rtmp_metadata();
        let Some(uplink) = &mut self.uplink else {
            return Ok(());
        };
        uplink.send_metadata(metadata);
        if let Some(video) = &mut self.video {
            uplink.send_video(video.packager.sequence_header(), 0);
            video.awaiting_key = true;
            video.force_key = true;
        }
        if let Some(audio) = &self.audio {
            uplink.send_audio(audio.header.clone(), 0);
        }
        Ok(())
    }

    /// Encodes one processed frame (its timestamp is the stream time) and
    /// sends it.
    fn deliver(&mut self, frame: I420Frame) -> Result<(), PushError> {
        self.tend_uplink()?;
        let Some(video) = &mut self.video else {
            return Ok(());
        };
        let force = std::mem::take(&mut video.force_key);
        let encoded = video.encoder.encode(&frame, force)?;
        if let Some(encoded) = encoded {
            self.send_encoded(&encoded)?;
        }
        self.last_frame = Some(frame);
        self.report();
        Ok(())
    }

    /// Encodes a block of sound; its tags go out once the video has caught
    /// up with them (at once without video).
    fn deliver_sound(&mut self, samples: &[f32]) -> Result<(), PushError> {
        self.tend_uplink()?;
        let Some(audio) = &mut self.audio else {
            return Ok(());
        };
        let packets = audio
            .encoder
            .encode(samples)
            .map_err(PushError::AudioEncoder)?;
        self.queue_audio(packets);
        if self.video.is_none() {
            self.send_audio_until(u32::MAX)?;
            self.report();
        }
        Ok(())
    }

    fn queue_audio(&mut self, packets: Vec<crate::audio::AacPacket>) {
        let Some(audio) = &mut self.audio else {
            return;
        };
        for packet in packets {
            if let Some(timestamp) = audio.timestamp(packet.first_frame) {
                let body = Bytes::from(flv::aac_raw_body(&packet.data));
                audio.pending.push_back((timestamp, body));
            }
        }
    }

    /// Writes and sends the queued audio tags up to `until` (ms).
    fn send_audio_until(&mut self, until: u32) -> Result<(), PushError> {
        let Some(audio) = &mut self.audio else {
            return Ok(());
        };
        while let Some((timestamp, _)) = audio.pending.front() {
            if *timestamp > until {
                break;
            }
            let Some((timestamp, body)) = audio.pending.pop_front() else {
                break;
            };
            self.totals.audio_packets += 1;
            self.totals.audio_bytes += body.len() as u64;
            self.meter.audio_bytes += body.len() as u64;
            if let Some(file) = &mut self.file {
                file.write(TagKind::Audio, timestamp, &body)?;
            }
            if let Some(uplink) = &mut self.uplink {
                uplink.send_audio(body, timestamp);
            }
        }
        Ok(())
    }

    fn send_encoded(&mut self, encoded: &EncodedFrame) -> Result<(), PushError> {
        let Some(video) = &mut self.video else {
            return Ok(());
        };
        self.totals.frames_encoded += 1;
        self.totals.video_bytes += encoded.data.len() as u64;
        self.meter.frames += 1;
        self.meter.video_bytes += encoded.data.len() as u64;
        let body = video.packager.frame_body(encoded)?;
        let timestamp = ((encoded.dts_ms + video.extra_ms) & 0xffff_ffff) as u32;
        let skip = video.awaiting_key && !encoded.key_frame;
        if !skip {
            video.awaiting_key = false;
        }
        self.totals.last_decode_ms = timestamp;
        // Audio up to this frame's time goes first: one timeline.
        self.send_audio_until(timestamp)?;
        if let Some(file) = &mut self.file {
            file.write(TagKind::Video, timestamp, &body)?;
        }
        if let Some(uplink) = &mut self.uplink {
            if skip {
                uplink.count_skipped();
            } else {
                uplink.send_video(body, timestamp);
            }
        }
        Ok(())
    }

    /// Drains the encoders, ends the stream and closes the ways out.
    fn finish(mut self) -> Result<OutputTotals, PushError> {
        if let Some(video) = &mut self.video {
            let rest = video.encoder.flush()?;
            for encoded in rest {
                self.send_encoded(&encoded)?;
            }
        }
        if let Some(audio) = &mut self.audio {
            let rest = audio.encoder.flush().map_err(PushError::AudioEncoder)?;
            self.queue_audio(rest);
        }
        self.send_audio_until(u32::MAX)?;
        if self.video.is_some() {
            // End of sequence, as FFmpeg's FLV muxer ends a stream: a
            // reader that stops at the unpublish notice has every picture
            // by then.
            let end = Bytes::from(flv::video_end_of_sequence_body());
            let end_time = self.totals.last_decode_ms;
            if let Some(file) = &mut self.file {
                file.write(TagKind::Video, end_time, &end)?;
            }
            if let Some(uplink) = &mut self.uplink {
                uplink.send_video(end, end_time);
            }
        }
        if let Some(file) = self.file.take() {
            file.finish()?;
        }
        if let Some(uplink) = self.uplink.take() {
            let dropped = uplink.dropped_offline();
            self.totals.audio_dropped = uplink.audio_dropped_offline();
            self.totals.reconnects = uplink.reconnects();
            let stats = uplink.close()?;
            self.totals.frames_sent = stats.frames_sent;
            self.totals.frames_dropped = stats.frames_dropped + dropped;
            self.totals.bytes_sent = stats.bytes_sent;
        }
        Ok(self.totals)
    }

    /// `netStatus` once per interval, and RTC's bitrate adaptation.
    fn report(&mut self) {
        let now = Instant::now();
        let since = *self.meter.since.get_or_insert(now);
        let elapsed = now.duration_since(since);
        if elapsed < self.net_status_interval {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let link = self.uplink.as_ref().map(Uplink::stats).unwrap_or_default();
        self.totals.peak_backlog_bytes = self.totals.peak_backlog_bytes.max(link.backlog_bytes);
        let sent = link
            .bytes_sent
            .saturating_sub(self.meter.bytes_sent_at_start);
        let (video_width, video_height) = match self.video {
            Some(_) => (self.width, self.height),
            None => (0, 0),
        };
        self.emit(PusherEvent::NetStatus(PushNetStatus {
            behind_ms: self.behind.as_secs_f64() * 1000.0,
            status: NetStatus {
                video_bitrate: self.meter.video_bytes as f64 * 8.0 / 1000.0 / seconds,
                audio_bitrate: self.meter.audio_bytes as f64 * 8.0 / 1000.0 / seconds,
                video_fps: self.meter.frames as f64 / seconds,
                video_gop: self
                    .video
                    .as_ref()
                    .map_or(0.0, |v| v.encoder.config().keyframe_interval.as_secs_f64()),
                net_speed: sent as f64 * 8.0 / 1000.0 / seconds,
                net_jitter: link.jitter_ms,
                video_width,
                video_height,
                video_cache: None,
                audio_cache: None,
            },
        }));
        self.meter = Meter {
            since: Some(now),
            bytes_sent_at_start: link.bytes_sent,
            ..Meter::default()
        };
        if self.mode == Mode::Rtc && self.uplink.is_some() {
            self.adapt_bitrate(link.backlog_bytes);
        }
    }

    /// RTC: the bitrate follows the send backlog.
    fn adapt_bitrate(&mut self, backlog: usize) {
        let Some(video) = &mut self.video else {
            return;
        };
        let current = video.encoder.config().bitrate_kbps;
        let step = self.adaptive.update(current, backlog);
        let changed =
            step.target_kbps != current && video.encoder.set_bitrate(step.target_kbps).is_ok();
        if step.uplink_slow {
            self.emit(PusherEvent::Push(PushEvent::new(
                PushCode::UplinkSlow,
                format!("uplink too slow: {backlog} bytes waiting at the minimum bitrate"),
            )));
        }
        if changed {
            self.emit(PusherEvent::Push(PushEvent::new(
                PushCode::BitrateChanged,
                format!("bitrate {current} → {} kbps", step.target_kbps),
            )));
        }
    }

    fn rtmp_metadata(&self) -> StreamMetadata {
        let mut metadata = StreamMetadata::new();
        if self.video.is_some() {
            metadata.video_width = Some(self.width);
            metadata.video_height = Some(self.height);
            metadata.video_codec_id = Some(u32::from(flv::VIDEO_CODEC_AVC));
            metadata.video_frame_rate = Some(self.fps as f32);
            metadata.video_bitrate_kbps = Some(self.range.max_kbps);
        }
        if let Some(audio) = &self.audio {
            metadata.audio_codec_id = Some(u32::from(flv::AUDIO_FORMAT_AAC));
            metadata.audio_bitrate_kbps = Some(audio.encoder.bitrate_kbps());
            metadata.audio_sample_rate = Some(audio.format.sample_rate);
            metadata.audio_channels = Some(u32::from(audio.format.channels));
            metadata.audio_is_stereo = Some(audio.format.channels >= 2);
        }
        metadata.encoder = Some(encoder_name());
        metadata
    }

    fn flv_metadata(&self) -> flv::StreamMetadata {
        let video = self.video.is_some();
        flv::StreamMetadata {
            width: if video { self.width } else { 0 },
            height: if video { self.height } else { 0 },
            frame_rate: if video { self.fps } else { 0.0 },
            video_bitrate_kbps: if video {
                self.range.max_kbps as f64
            } else {
                0.0
            },
            audio: self.audio.as_ref().map(|audio| flv::AudioMetadata {
                sample_rate: audio.format.sample_rate,
                channels: audio.format.channels as u8,
                bitrate_kbps: f64::from(audio.encoder.bitrate_kbps()),
            }),
            encoder: encoder_name(),
            duration_s: None,
        }
    }
}

/// x264 for the preset (1008); -1303, or -1305 for a size it cannot take.
fn open_video(
    config: &PusherConfig,
    frame_rate: FrameRate,
    range: BitrateRange,
    emit: &dyn Fn(PushCode, String),
) -> Result<VideoTrack, PushError> {
    let size = config.output_size();
    let mut encoder_config =
        EncoderConfig::for_mode(config.mode, size.width(), size.height(), frame_rate, range);
    if let Some(zero_latency) = config.zero_latency {
        encoder_config.zero_latency = zero_latency;
    }
    let encoder = Encoder::new(&encoder_config).map_err(|error| {
        if matches!(error, EncoderError::UnsupportedResolution { .. }) {
            emit(PushCode::UnsupportedResolution, error.to_string());
        }
        PushError::Encoder(error)
    })?;
    emit(
        PushCode::EncoderStarted,
        format!(
            "x264 {}x{} {}-{} kbps{}",
            size.width(),
            size.height(),
            range.min_kbps,
            range.max_kbps,
            if encoder_config.zero_latency {
                ", zerolatency"
            } else {
                ""
            }
        ),
    );
    let packager = AvcPackager::new(encoder.parameter_sets())?;
    Ok(VideoTrack {
        encoder,
        packager,
        extra_ms: 0,
        awaiting_key: true,
        force_key: false,
    })
}

/// fdk-aac for the audio quality (1008); -1306 for a rate AAC cannot
/// carry, -1304 for any other failure.
fn open_audio(
    format: AudioFormat,
    quality: crate::audio::AudioQuality,
    emit: &dyn Fn(PushCode, String),
) -> Result<AudioTrack, PushError> {
    let encoder = AacEncoder::new(format, quality.bitrate_kbps()).map_err(|error| match error {
        AudioError::UnsupportedSampleRate(_) => PushError::UnsupportedSampleRate(error),
        other => PushError::AudioEncoder(other),
    })?;
    emit(
        PushCode::EncoderStarted,
        format!(
            "AAC-LC {} Hz {} {} kbps",
            format.sample_rate,
            if format.channels == 1 {
                "mono"
            } else {
                "stereo"
            },
            encoder.bitrate_kbps()
        ),
    );
    let header = Bytes::from(flv::aac_sequence_header_body(
        encoder.audio_specific_config(),
    ));
    Ok(AudioTrack {
        encoder,
        format,
        header,
        shift_ms: 0,
        pending: VecDeque::new(),
    })
}

fn encoder_name() -> String {
    format!("liveroom {}", env!("CARGO_PKG_VERSION"))
}

impl OutputThread {
    /// Queues a processed frame; waits while the queue is full. If the
    /// stage has stopped, returns the error that stopped it.
    pub(super) fn send(&mut self, frame: I420Frame) -> Result<(), PushError> {
        self.post(StageMessage::Frame(frame))
    }

    /// Tells the stage how late the last paced frame went out, for
    /// `netStatus`.
    pub(super) fn report_behind(&mut self, lag: Duration) -> Result<(), PushError> {
        self.post(StageMessage::Behind(lag))
    }

    /// Queues a block of sound (interleaved, the audio track's format).
    pub(super) fn send_audio(&mut self, samples: Vec<f32>) -> Result<(), PushError> {
        self.post(StageMessage::Sound(samples))
    }

    fn post(&mut self, message: StageMessage) -> Result<(), PushError> {
        let sent = match &self.sender {
            Some(sender) => sender.send(message).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.stopped_error())
        }
    }

    /// Saves the latest frame the stage took as a PNG.
    pub(super) fn snapshot(&mut self, path: &Path) -> Result<(), PushError> {
        let (reply, answer) = mpsc::channel();
        self.post(StageMessage::Snapshot(path.to_path_buf(), reply))?;
        answer.recv().map_err(|_| PushError::Stopped)?
    }

    /// Ends the stream and waits for the totals.
    pub(super) fn finish(mut self) -> Result<OutputTotals, PushError> {
        self.sender = None;
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| PushError::Stopped)?,
            None => Err(PushError::Stopped),
        }
    }

    fn stopped_error(&mut self) -> PushError {
        self.sender = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(error))) => error,
            _ => PushError::Stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_timestamps_share_the_video_shift_and_skip_pure_priming() {
        let format = AudioFormat::new(48_000, 2).unwrap();
        let track = AudioTrack {
            encoder: AacEncoder::new(format, 128).unwrap(),
            format,
            header: Bytes::new(),
            shift_ms: 67,
            pending: VecDeque::new(),
        };
        assert_eq!(track.timestamp(-2048), None);
        // The pre-roll packet sits 21.3 ms before stream time 0.
        assert_eq!(track.timestamp(-1024), Some(67 - 22));
        assert_eq!(track.timestamp(0), Some(67));
        assert_eq!(track.timestamp(48_000), Some(1067));
    }
}
