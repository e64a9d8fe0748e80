//! The second half of the push: x264, FLV tags, the file and the RTMP
//! uplink, on a thread of its own so that encoding frame N overlaps the GPU
//! work on frame N + 1.
//!
//! [`OutputStage::open`] builds everything (opening the encoder, creating
//! the file, connecting: the push fails early if any of it fails), and
//! [`OutputStage::spawn`] moves it onto its thread. The push loop hands it
//! processed frames through a short queue, so a slow encoder slows the loop
//! rather than piling frames up.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use super::bitrate::AdaptiveBitrate;
use super::uplink::{AvcPackager, FlvFile, Uplink};
use super::{PushError, PusherConfig, PusherEvent};
use crate::color::i420_to_rgb_image;
use crate::encoder::{BitrateRange, EncodedFrame, Encoder, EncoderConfig, EncoderError};
use crate::events::{NetStatus, PushCode, PushEvent};
use crate::flv::{self, TagKind};
use crate::frame::I420Frame;
use crate::geometry::Mode;
use crate::rtmp::RtmpUrl;
use crate::source::FrameRate;

/// Processed frames that may wait for the encoder.
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
    /// Decode time of the last frame, ms.
    pub(super) last_decode_ms: u32,
}

/// Sliding counters for `netStatus`.
#[derive(Default)]
struct Meter {
    since: Option<Instant>,
    frames: u64,
    video_bytes: u64,
    bytes_sent_at_start: u64,
}

/// Encoder, packager and the ways out.
pub(super) struct OutputStage {
    encoder: Encoder,
    packager: AvcPackager,
    file: Option<FlvFile>,
    uplink: Option<Uplink>,
    events: Sender<PusherEvent>,
    mode: Mode,
    width: u32,
    height: u32,
    fps: f64,
    range: BitrateRange,
    net_status_interval: Duration,
    /// Waiting for a key frame before sending to the uplink.
    awaiting_key: bool,
    force_key: bool,
    meter: Meter,
    adaptive: AdaptiveBitrate,
    totals: OutputTotals,
    last_frame: Option<I420Frame>,
}

enum StageMessage {
    Frame(I420Frame),
    Snapshot(PathBuf, Sender<Result<(), PushError>>),
}

/// The stage running on its thread.
pub(super) struct OutputThread {
    sender: Option<SyncSender<StageMessage>>,
    thread: Option<JoinHandle<Result<OutputTotals, PushError>>>,
}

impl OutputStage {
    /// Opens the encoder (1008), the FLV file and the connection (1001,
    /// 1002, with retries).
    pub(super) fn open(
        config: &PusherConfig,
        frame_rate: FrameRate,
        events: Sender<PusherEvent>,
    ) -> Result<Self, PushError> {
        let emit_to = events.clone();
        let emit = move |code: PushCode, message: String| {
            let _ = emit_to.send(PusherEvent::Push(PushEvent::new(code, message)));
        };
        let size = config.output_size();
        let range = config.bitrate_range()?;
        let encoder_config =
            EncoderConfig::for_mode(config.mode, size.width(), size.height(), frame_rate, range);
        // -1303 for any encoder failure is raised where the push ends;
        // a size x264 cannot take is also -1305.
        let encoder = Encoder::new(&encoder_config).map_err(|error| {
            if matches!(error, EncoderError::UnsupportedResolution { .. }) {
                emit(PushCode::UnsupportedResolution, error.to_string());
            }
            PushError::Encoder(error.to_string())
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
        let file = config
            .flv_output
            .as_deref()
            .map(FlvFile::create)
            .transpose()?;
        let uplink = match &config.push_url {
            Some(url) => {
                let url = RtmpUrl::parse(url).map_err(|e| PushError::Config(e.to_string()))?;
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
            encoder,
            packager,
            file,
            uplink,
            events,
            mode: config.mode,
            width: size.width(),
            height: size.height(),
            fps: frame_rate.fps(),
            range,
            net_status_interval: config.net_status_interval,
            awaiting_key: true,
            force_key: false,
            meter: Meter::default(),
            adaptive: AdaptiveBitrate::new(range),
            totals: OutputTotals::default(),
            last_frame: None,
        };
        if stage.file.is_some() {
            let script = Bytes::from(flv::metadata_body(&stage.flv_metadata()));
            let header = stage.packager.sequence_header();
            if let Some(file) = &mut stage.file {
                file.write(TagKind::Script, 0, &script)?;
                file.write(TagKind::Video, 0, &header)?;
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
            .map_err(|e| PushError::Encoder(format!("cannot start the encoder thread: {e}")))?;
        Ok(OutputThread {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    fn run(mut self, inbox: Receiver<StageMessage>) -> Result<OutputTotals, PushError> {
        for message in inbox {
            match message {
                StageMessage::Frame(frame) => self.deliver(frame)?,
                StageMessage::Snapshot(path, reply) => {
                    let result = match &self.last_frame {
                        Some(frame) => i420_to_rgb_image(frame)
                            .save(&path)
                            .map_err(|e| PushError::output(&path, e)),
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

    /// Encodes one processed frame (its timestamp is the stream time) and
    /// sends it.
    fn deliver(&mut self, frame: I420Frame) -> Result<(), PushError> {
        if let Some(uplink) = &mut self.uplink {
            let events = self.events.clone();
            uplink.poll(&mut |event| {
                let _ = events.send(event);
            })?;
        }
        if self.uplink.as_mut().is_some_and(Uplink::take_restart) {
            let metadata = self.rtmp_metadata();
            let header = self.packager.sequence_header();
            if let Some(uplink) = &mut self.uplink {
                uplink.send_metadata(metadata);
                uplink.send_video(header, 0);
            }
            self.awaiting_key = true;
            self.force_key = true;
        }
        let force = std::mem::take(&mut self.force_key);
        let encoded = self
            .encoder
            .encode(&frame, force)
            .map_err(|e| PushError::Encoder(e.to_string()))?;
        if let Some(encoded) = encoded {
            self.send_encoded(&encoded)?;
        }
        self.last_frame = Some(frame);
        self.report();
        Ok(())
    }

    fn send_encoded(&mut self, encoded: &EncodedFrame) -> Result<(), PushError> {
        self.totals.frames_encoded += 1;
        self.totals.video_bytes += encoded.data.len() as u64;
        self.meter.frames += 1;
        self.meter.video_bytes += encoded.data.len() as u64;
        let body = self.packager.frame_body(encoded)?;
        let timestamp = (encoded.dts_ms & 0xffff_ffff) as u32;
        self.totals.last_decode_ms = timestamp;
        if let Some(file) = &mut self.file {
            file.write(TagKind::Video, timestamp, &body)?;
        }
        if let Some(uplink) = &mut self.uplink {
            if self.awaiting_key && !encoded.key_frame {
                uplink.count_skipped();
            } else {
                self.awaiting_key = false;
                uplink.send_video(body, timestamp);
            }
        }
        Ok(())
    }

    /// Drains the encoder, ends the stream and closes the ways out.
    fn finish(mut self) -> Result<OutputTotals, PushError> {
        let rest = self
            .encoder
            .flush()
            .map_err(|e| PushError::Encoder(e.to_string()))?;
        for encoded in rest {
            self.send_encoded(&encoded)?;
        }
        // End of sequence, as FFmpeg's FLV muxer ends a stream: a reader
        // that stops at the unpublish notice has every picture by then.
        let end = Bytes::from(flv::video_end_of_sequence_body());
        let end_time = self.totals.last_decode_ms;
        if let Some(file) = &mut self.file {
            file.write(TagKind::Video, end_time, &end)?;
        }
        if let Some(uplink) = &mut self.uplink {
            uplink.send_video(end, end_time);
        }
        if let Some(file) = self.file.take() {
            file.finish()?;
        }
        if let Some(uplink) = self.uplink.take() {
            let dropped = uplink.dropped_offline();
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
        let sent = link
            .bytes_sent
            .saturating_sub(self.meter.bytes_sent_at_start);
        self.emit(PusherEvent::NetStatus(NetStatus {
            video_bitrate: self.meter.video_bytes as f64 * 8.0 / 1000.0 / seconds,
            audio_bitrate: 0.0,
            video_fps: self.meter.frames as f64 / seconds,
            video_gop: self.encoder.config().keyframe_interval.as_secs_f64(),
            net_speed: sent as f64 * 8.0 / 1000.0 / seconds,
            net_jitter: link.jitter_ms,
            video_width: self.width,
            video_height: self.height,
            video_cache: None,
            audio_cache: None,
        }));
        self.meter = Meter {
            since: Some(now),
            frames: 0,
            video_bytes: 0,
            bytes_sent_at_start: link.bytes_sent,
        };
        if self.mode == Mode::Rtc && self.uplink.is_some() {
            self.adapt_bitrate(link.backlog_bytes);
        }
    }

    /// RTC: the bitrate follows the send backlog.
    fn adapt_bitrate(&mut self, backlog: usize) {
        let current = self.encoder.config().bitrate_kbps;
        let step = self.adaptive.update(current, backlog);
        if step.uplink_slow {
            self.emit(PusherEvent::Push(PushEvent::new(
                PushCode::UplinkSlow,
                format!("uplink too slow: {backlog} bytes waiting at the minimum bitrate"),
            )));
        }
        if step.target_kbps != current && self.encoder.set_bitrate(step.target_kbps).is_ok() {
            self.emit(PusherEvent::Push(PushEvent::new(
                PushCode::BitrateChanged,
                format!("bitrate {current} → {} kbps", step.target_kbps),
            )));
        }
    }

    fn rtmp_metadata(&self) -> StreamMetadata {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(self.width);
        metadata.video_height = Some(self.height);
        metadata.video_codec_id = Some(u32::from(flv::VIDEO_CODEC_AVC));
        metadata.video_frame_rate = Some(self.fps as f32);
        metadata.video_bitrate_kbps = Some(self.range.max_kbps);
        metadata.encoder = Some(encoder_name());
        metadata
    }

    fn flv_metadata(&self) -> flv::StreamMetadata {
        flv::StreamMetadata {
            width: self.width,
            height: self.height,
            frame_rate: self.fps,
            video_bitrate_kbps: self.range.max_kbps as f64,
            audio: None,
            encoder: encoder_name(),
            duration_s: None,
        }
    }
}

fn encoder_name() -> String {
    format!("liveroom {}", env!("CARGO_PKG_VERSION"))
}

impl OutputThread {
    /// Queues a processed frame; waits while the queue is full. If the
    /// stage has stopped, returns the error that stopped it.
    pub(super) fn send(&mut self, frame: I420Frame) -> Result<(), PushError> {
        let sent = match &self.sender {
            Some(sender) => sender.send(StageMessage::Frame(frame)).is_ok(),
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
        let sent = match &self.sender {
            Some(sender) => sender
                .send(StageMessage::Snapshot(path.to_path_buf(), reply))
                .is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.stopped_error());
        }
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
