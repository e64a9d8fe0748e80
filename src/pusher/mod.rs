//! `LivePusher`: the pusher component. Frames from a source go through the
//! GPU pipeline and x264 to an RTMP server and/or an FLV file, on a thread
//! of their own, with the plugin's events.
//!
//! The plugin's attributes map onto [`PusherConfig`] (`pushUrl` → `push_url`,
//! `minBitrate` → `min_bitrate_kbps`, …) and its methods onto
//! [`LivePusher`]: `start`, `stop`, `pause`/`resume` (the background: the
//! waiting image is pushed at 5 frames/s and event 5000 is raised),
//! `snapshot` and `switch_camera` ([`LivePusher::switch_source`]). The
//! phone-only ones have no meaning here: `devicePosition` is whichever
//! source is given, `toggleTorch`, `picture-in-picture-mode`, `debug`
//! (use `RUST_LOG`-style logging), and `autopush` (`start` is explicit).
//! Audio (`muted`, `audioQuality`, `backgroundMute`, the BGM methods) comes
//! with the audio stage.
//!
//! When pushing, frames are paced at the source's rate, as a camera would
//! deliver them; writing only a file runs as fast as it can.

mod bitrate;
mod faces;
mod uplink;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rml_rtmp::sessions::StreamMetadata;
use serde::Serialize;
use thiserror::Error;

pub use faces::FaceInput;
pub use uplink::ReconnectPolicy;

use crate::color::{i420_to_rgb_image, rgb_image_to_i420};
use crate::effects::EffectParams;
use crate::encoder::{BitrateRange, Encoder, EncoderConfig};
use crate::events::{NetStatus, PushCode, PushEvent};
use crate::flv::TagKind;
use crate::frame::I420Frame;
use crate::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
use crate::landmarks::FaceLandmarks;
use crate::pipeline::{FrameParams, FramePipeline};
use crate::rtmp::{PublisherConfig, RtmpUrl};
use crate::source::FrameSource;
use crate::GpuContext;
use bitrate::AdaptiveBitrate;
use faces::{FaceFeed, FrameBudget};
use uplink::{AvcPackager, FlvFile, Uplink};

/// Frame rate of the waiting image while paused.
const WAITING_FPS: f64 = 5.0;

/// Why a push could not start or ended early.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PushError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// The frame source failed (-1301).
    #[error("frame source failed: {0}")]
    Source(String),
    /// The landmarker could not start or failed.
    #[error("{0}")]
    Faces(String),
    /// The GPU pipeline failed.
    #[error("GPU pipeline: {0}")]
    Pipeline(String),
    /// The video encoder failed (-1303).
    #[error("video encoder: {0}")]
    Encoder(String),
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server refused the stream (3004, not retried).
    #[error("{0}")]
    Rejected(String),
    /// The reconnect attempts ran out (-1307).
    #[error("{0}")]
    Disconnected(String),
    /// The push thread is gone.
    #[error("the push thread stopped unexpectedly")]
    Stopped,
}

impl PushError {
    fn output(path: &Path, reason: impl std::fmt::Display) -> Self {
        PushError::Output {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// The plugin's event code for this error, where it has one.
    pub fn code(&self) -> Option<PushCode> {
        match self {
            PushError::Source(_) => Some(PushCode::SourceFailed),
            PushError::Encoder(_) => Some(PushCode::VideoEncodeFailed),
            PushError::Rejected(_) => Some(PushCode::ServerClosed),
            PushError::Disconnected(_) => Some(PushCode::Disconnected),
            _ => None,
        }
    }
}

/// The pusher's settings: the plugin's attributes that make sense off a
/// phone.
#[derive(Debug, Clone, PartialEq)]
pub struct PusherConfig {
    /// `pushUrl`: `rtmp://host[:port]/app/stream`; `None` pushes nowhere
    /// (the FLV file and the frame tap still get the stream).
    pub push_url: Option<String>,
    /// `mode`: SD, HD, FHD or RTC.
    pub mode: Mode,
    /// `orientation`.
    pub orientation: Orientation,
    /// `aspect`: 9:16 or 3:4.
    pub aspect: Aspect,
    /// `mirror`.
    pub mirror: bool,
    /// `zoom`: a digital zoom factor, 1 = none.
    pub zoom: f32,
    /// `beauty`/`whiteness` or the custom effect, already resolved.
    pub effects: EffectParams,
    /// `minBitrate` in kbps (`None`: the mode's).
    pub min_bitrate_kbps: Option<u32>,
    /// `maxBitrate` in kbps (`None`: the mode's).
    pub max_bitrate_kbps: Option<u32>,
    /// `waitingImage`: pushed while paused; `None` pushes black.
    pub waiting_image: Option<PathBuf>,
    /// Stop after this many source frames (`None`: at the source's end).
    pub max_frames: Option<u64>,
    /// Write the encoded stream to this FLV file too.
    pub flv_output: Option<PathBuf>,
    /// Pace frames at the source's rate. `None`: pace when pushing to a
    /// URL, run flat out when only writing a file.
    pub pace: Option<bool>,
    /// Reconnect attempts and back-off.
    pub reconnect: ReconnectPolicy,
    /// Connection timeouts and the send backlog limit.
    pub publisher: PublisherConfig,
    /// How often `netStatus` is reported.
    pub net_status_interval: Duration,
}

impl Default for PusherConfig {
    fn default() -> Self {
        Self {
            push_url: None,
            mode: Mode::default(),
            orientation: Orientation::default(),
            aspect: Aspect::default(),
            mirror: false,
            zoom: 1.0,
            effects: EffectParams::default(),
            min_bitrate_kbps: None,
            max_bitrate_kbps: None,
            waiting_image: None,
            max_frames: None,
            flv_output: None,
            pace: None,
            reconnect: ReconnectPolicy::default(),
            publisher: PublisherConfig::default(),
            net_status_interval: Duration::from_secs(1),
        }
    }
}

impl PusherConfig {
    /// The output picture size of the preset.
    pub fn output_size(&self) -> OutputSize {
        OutputSize::for_preset(self.mode, self.orientation, self.aspect)
    }

    /// The bitrate range after the user's bounds.
    pub fn bitrate_range(&self) -> Result<BitrateRange, PushError> {
        BitrateRange::resolve(self.mode, self.min_bitrate_kbps, self.max_bitrate_kbps)
            .map_err(|e| PushError::Config(e.to_string()))
    }

    /// Checks every setting; `LivePusher::start` calls it first.
    pub fn validate(&self) -> Result<(), PushError> {
        self.bitrate_range()?;
        GeometryParams::new(self.zoom, self.mirror)
            .map_err(|e| PushError::Config(e.to_string()))?;
        if let Some(url) = &self.push_url {
            RtmpUrl::parse(url).map_err(|e| PushError::Config(e.to_string()))?;
        }
        if self.net_status_interval < Duration::from_millis(100) {
            return Err(PushError::Config(
                "netStatus interval must be at least 100 ms".into(),
            ));
        }
        Ok(())
    }
}

/// Called with every processed frame (its index, the picture as pushed,
/// and the faces used, in input coordinates): for previews, recording or
/// verification. An error ends the push.
pub type FrameTap = Box<dyn FnMut(u64, &I420Frame, &[FaceLandmarks]) -> Result<(), String> + Send>;

/// What the pusher reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PusherEvent {
    /// A state change or warning with its code.
    Push(PushEvent),
    /// Periodic statistics.
    NetStatus(NetStatus),
}

/// Totals of a finished push.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSummary {
    /// Frames read from the source(s).
    pub frames_captured: u64,
    /// Frames through the GPU pipeline (the waiting image included).
    pub frames_processed: u64,
    /// Frames out of the encoder.
    pub frames_encoded: u64,
    /// Video frames that left through the socket.
    pub frames_sent: u64,
    /// Video frames dropped on purpose: backlog full, connection down, or
    /// waiting for a key frame after a reconnect.
    pub frames_dropped: u64,
    /// Encoded video bytes.
    pub video_bytes: u64,
    /// Bytes written to the socket.
    pub bytes_sent: u64,
    /// Successful reconnections.
    pub reconnects: u32,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Seconds from start to end.
    pub seconds: f64,
    /// Frames processed per second of wall time.
    pub fps: f64,
    /// Average encoded video bitrate over the stream's own duration, kbps.
    pub video_kbps: f64,
}

enum Command {
    Pause,
    Resume,
    Snapshot(PathBuf, Sender<Result<(), PushError>>),
    SwitchSource(Box<dyn FrameSource>),
    SetEffects(EffectParams),
    Stop,
}

/// A running pusher.
pub struct LivePusher {
    commands: Sender<Command>,
    events: Option<Receiver<PusherEvent>>,
    thread: Option<JoinHandle<Result<PushSummary, PushError>>>,
}

impl std::fmt::Debug for LivePusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePusher").finish_non_exhaustive()
    }
}

impl LivePusher {
    /// Checks the settings, then starts pushing `source` on a thread of its
    /// own. Events arrive on [`LivePusher::events`].
    pub fn start(
        config: PusherConfig,
        gpu: GpuContext,
        source: Box<dyn FrameSource>,
        faces: FaceInput,
        tap: Option<FrameTap>,
    ) -> Result<Self, PushError> {
        config.validate()?;
        let size = config.output_size();
        let waiting = load_waiting_image(config.waiting_image.as_deref(), size)?;
        let feed = FaceFeed::new(
            faces,
            config.effects.has_warp() || config.effects.has_color_effect(),
        )?;
        let pipeline =
            FramePipeline::new(&gpu, size).map_err(|e| PushError::Pipeline(e.to_string()))?;
        let (commands, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("liveroom-push".into())
            .spawn(move || {
                let push = PushLoop {
                    config,
                    pipeline,
                    feed,
                    source,
                    tap,
                    waiting,
                    commands: inbox,
                    events: outbox,
                };
                push.run()
            })
            .map_err(|e| PushError::Config(format!("cannot start the push thread: {e}")))?;
        Ok(Self {
            commands,
            events: Some(events),
            thread: Some(thread),
        })
    }

    /// The event stream (once; later calls get `None`).
    pub fn events(&mut self) -> Option<Receiver<PusherEvent>> {
        self.events.take()
    }

    /// Goes to the background: the waiting image is pushed instead of the
    /// source, at 5 frames/s (event 5000).
    pub fn pause(&self) -> Result<(), PushError> {
        self.send(Command::Pause)
    }

    /// Back to the source.
    pub fn resume(&self) -> Result<(), PushError> {
        self.send(Command::Resume)
    }

    /// Saves the latest processed frame as a PNG; waits until it is written.
    pub fn snapshot(&self, path: &Path) -> Result<(), PushError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Snapshot(path.to_path_buf(), reply))?;
        answer.recv().map_err(|_| PushError::Stopped)?
    }

    /// Continues with another source (the plugin's `switchCamera`); the
    /// stream's timeline continues where it was.
    pub fn switch_source(&self, source: Box<dyn FrameSource>) -> Result<(), PushError> {
        self.send(Command::SwitchSource(source))
    }

    /// Changes the effect strengths from the next frame.
    pub fn set_effects(&self, effects: EffectParams) -> Result<(), PushError> {
        self.send(Command::SetEffects(effects))
    }

    /// Stops pushing, sends what is queued and returns the totals.
    pub fn stop(mut self) -> Result<PushSummary, PushError> {
        let _ = self.commands.send(Command::Stop);
        self.join()
    }

    /// Waits until the source ends (or the push fails) and returns the totals.
    pub fn wait(mut self) -> Result<PushSummary, PushError> {
        self.join()
    }

    fn join(&mut self) -> Result<PushSummary, PushError> {
        let thread = self.thread.take().ok_or(PushError::Stopped)?;
        thread.join().map_err(|_| PushError::Stopped)?
    }

    fn send(&self, command: Command) -> Result<(), PushError> {
        self.commands.send(command).map_err(|_| PushError::Stopped)
    }
}

impl Drop for LivePusher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.commands.send(Command::Stop);
            let _ = self.join();
        }
    }
}

fn load_waiting_image(path: Option<&Path>, size: OutputSize) -> Result<I420Frame, PushError> {
    let Some(path) = path else {
        return I420Frame::black(size.width(), size.height())
            .map_err(|e| PushError::Config(e.to_string()));
    };
    let image = image::open(path)
        .map_err(|e| PushError::Config(format!("waiting image {}: {e}", path.display())))?
        .to_rgb8();
    rgb_image_to_i420(&image)
        .map_err(|e| PushError::Config(format!("waiting image {}: {e}", path.display())))
}

/// Sliding counters for `netStatus`.
#[derive(Default)]
struct Meter {
    since: Option<Instant>,
    frames: u64,
    video_bytes: u64,
    bytes_sent_at_start: u64,
}

/// The push thread.
struct PushLoop {
    config: PusherConfig,
    pipeline: FramePipeline,
    feed: FaceFeed,
    source: Box<dyn FrameSource>,
    tap: Option<FrameTap>,
    waiting: I420Frame,
    commands: Receiver<Command>,
    events: Sender<PusherEvent>,
}

/// State of the stream being produced.
struct StreamState {
    encoder: Encoder,
    packager: AvcPackager,
    file: Option<FlvFile>,
    uplink: Option<Uplink>,
    params: FrameParams,
    range: BitrateRange,
    frame_interval: Duration,
    /// Stream time = source time + offset (moved on pause/switch).
    offset: Duration,
    rebase: bool,
    last_stream_time: Duration,
    /// Waiting for a key frame before sending to the uplink.
    awaiting_key: bool,
    force_key: bool,
    summary: PushSummary,
    last_output: Option<I420Frame>,
    meter: Meter,
    adaptive: AdaptiveBitrate,
    /// Decode time of the last frame sent, ms.
    last_decode_time: u32,
}

impl PushLoop {
    fn emit(events: &Sender<PusherEvent>, code: PushCode, message: impl Into<String>) {
        let _ = events.send(PusherEvent::Push(PushEvent::new(code, message)));
    }

    fn run(mut self) -> Result<PushSummary, PushError> {
        let started = Instant::now();
        let events = self.events.clone();
        let mut emit = |event: PusherEvent| {
            let _ = events.send(event);
        };
        let result = self.push(&mut emit, started);
        if let Err(error) = &result {
            match error.code() {
                // -1307 and 3004 were already reported by the uplink.
                Some(PushCode::Disconnected | PushCode::ServerClosed) => {}
                Some(code) => Self::emit(&self.events, code, error.to_string()),
                None => {}
            }
        }
        result
    }

    fn push(
        &mut self,
        emit: &mut dyn FnMut(PusherEvent),
        started: Instant,
    ) -> Result<PushSummary, PushError> {
        let config = self.config.clone();
        let size = config.output_size();
        let info = self.source.info();
        Self::emit(
            &self.events,
            PushCode::SourceOpened,
            format!(
                "source {}x{} at {:.2} fps",
                info.width,
                info.height,
                info.frame_rate.fps()
            ),
        );
        let range = config.bitrate_range()?;
        let encoder_config = EncoderConfig::for_mode(
            config.mode,
            size.width(),
            size.height(),
            info.frame_rate,
            range,
        );
        let encoder = Encoder::new(&encoder_config).map_err(|e| match e {
            crate::encoder::EncoderError::UnsupportedResolution { .. } => {
                Self::emit(&self.events, PushCode::UnsupportedResolution, e.to_string());
                PushError::Encoder(e.to_string())
            }
            other => PushError::Encoder(other.to_string()),
        })?;
        Self::emit(
            &self.events,
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
                Some(Uplink::connect(
                    url,
                    config.publisher.clone(),
                    config.reconnect.clone(),
                    emit,
                )?)
            }
            None => None,
        };
        let geometry = GeometryParams::new(config.zoom, config.mirror)
            .map_err(|e| PushError::Config(e.to_string()))?;
        let mut stream = StreamState {
            encoder,
            packager,
            file,
            uplink,
            params: FrameParams {
                geometry,
                effects: config.effects,
                faces: Vec::new(),
            },
            range,
            frame_interval: info.frame_rate.timestamp(1),
            offset: Duration::ZERO,
            rebase: false,
            last_stream_time: Duration::ZERO,
            awaiting_key: true,
            force_key: false,
            summary: PushSummary {
                width: size.width(),
                height: size.height(),
                ..Default::default()
            },
            last_output: None,
            meter: Meter::default(),
            adaptive: AdaptiveBitrate::new(range),
            last_decode_time: 0,
        };
        let script = metadata_body(&stream, info.frame_rate.fps());
        let sequence_header = stream.packager.sequence_header();
        if let Some(file) = &mut stream.file {
            file.write(TagKind::Script, 0, &script)?;
            file.write(TagKind::Video, 0, &sequence_header)?;
        }
        let pace = config.pace.unwrap_or(config.push_url.is_some());
        let mut budget = FrameBudget {
            read: 0,
            limit: config.max_frames,
        };
        self.feed.prime(self.source.as_mut(), &mut budget)?;
        let mut paused_since: Option<Instant> = None;
        let clock_start = Instant::now();
        loop {
            // Commands first.
            let mut stop = false;
            loop {
                match self.commands.try_recv() {
                    Ok(command) => {
                        if self.command(command, &mut stream, &mut paused_since) {
                            stop = true;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    // The handle was dropped without stop: keep going to the end.
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            if stop {
                break;
            }
            if let Some(uplink) = &mut stream.uplink {
                uplink.poll(emit)?;
            }
            if paused_since.is_some() {
                let frame_time =
                    stream.last_stream_time + Duration::from_secs_f64(1.0 / WAITING_FPS);
                let mut waiting = self.waiting.clone();
                waiting.timestamp = frame_time;
                let params = FrameParams {
                    geometry: stream.params.geometry,
                    effects: EffectParams::default(),
                    faces: Vec::new(),
                };
                let out = self
                    .pipeline
                    .process(&waiting, &params)
                    .map_err(|e| PushError::Pipeline(e.to_string()))?;
                self.deliver(&mut stream, out, frame_time)?;
                self.report(&mut stream, emit);
                match self
                    .commands
                    .recv_timeout(Duration::from_secs_f64(1.0 / WAITING_FPS))
                {
                    Ok(command) => {
                        if self.command(command, &mut stream, &mut paused_since) {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
                continue;
            }
            let Some((frame, faces)) = self.feed.next(self.source.as_mut(), &mut budget)? else {
                break;
            };
            stream.summary.frames_captured += 1;
            if stream.summary.frames_captured == 1 {
                Self::emit(&self.events, PushCode::FirstFrame, "first frame captured");
            }
            if stream.rebase {
                stream.offset = (stream.last_stream_time + stream.frame_interval)
                    .saturating_sub(frame.timestamp);
                stream.rebase = false;
            }
            let stream_time = frame.timestamp + stream.offset;
            stream.params.faces = faces;
            let out = self
                .pipeline
                .process(&frame, &stream.params)
                .map_err(|e| PushError::Pipeline(e.to_string()))?;
            if let Some(tap) = &mut self.tap {
                tap(stream.summary.frames_processed, &out, &stream.params.faces).map_err(|e| {
                    PushError::Output {
                        path: PathBuf::from("(frame tap)"),
                        reason: e,
                    }
                })?;
            }
            self.deliver(&mut stream, out, stream_time)?;
            self.report(&mut stream, emit);
            if pace {
                // Stream time runs with the wall clock (pauses advance it too).
                let due = clock_start + stream_time;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        // Drain the encoder.
        let rest = stream
            .encoder
            .flush()
            .map_err(|e| PushError::Encoder(e.to_string()))?;
        for encoded in rest {
            self.send_encoded(&mut stream, &encoded)?;
        }
        // End of sequence, as FFmpeg's FLV muxer ends a stream: a reader
        // that stops at the unpublish notice has every picture by then.
        let end = bytes::Bytes::from(crate::flv::video_end_of_sequence_body());
        let end_time = stream.last_decode_time;
        if let Some(file) = &mut stream.file {
            file.write(TagKind::Video, end_time, &end)?;
        }
        if let Some(uplink) = &mut stream.uplink {
            uplink.send_video(end, end_time);
        }
        if let Some(file) = stream.file.take() {
            file.finish()?;
        }
        if let Some(uplink) = stream.uplink.take() {
            let dropped = uplink.dropped_offline();
            let reconnects = uplink.reconnects();
            let stats = uplink.close()?;
            stream.summary.frames_sent = stats.frames_sent;
            stream.summary.frames_dropped = stats.frames_dropped + dropped;
            stream.summary.bytes_sent = stats.bytes_sent;
            stream.summary.reconnects = reconnects;
        }
        let seconds = started.elapsed().as_secs_f64();
        stream.summary.seconds = seconds;
        stream.summary.fps = stream.summary.frames_processed as f64 / seconds.max(1e-9);
        let duration = (stream.last_stream_time + stream.frame_interval).as_secs_f64();
        stream.summary.video_kbps =
            stream.summary.video_bytes as f64 * 8.0 / 1000.0 / duration.max(1e-9);
        Ok(stream.summary)
    }

    /// Handles a command; true to stop.
    fn command(
        &mut self,
        command: Command,
        stream: &mut StreamState,
        paused_since: &mut Option<Instant>,
    ) -> bool {
        match command {
            Command::Pause => {
                if paused_since.is_none() {
                    *paused_since = Some(Instant::now());
                    Self::emit(
                        &self.events,
                        PushCode::Background,
                        "paused: pushing the waiting image",
                    );
                }
            }
            Command::Resume => {
                if paused_since.take().is_some() {
                    stream.rebase = true;
                }
            }
            Command::Snapshot(path, reply) => {
                let result = match &stream.last_output {
                    Some(frame) => i420_to_rgb_image(frame)
                        .save(&path)
                        .map_err(|e| PushError::output(&path, e)),
                    None => Err(PushError::Config("no frame has been processed yet".into())),
                };
                let _ = reply.send(result);
            }
            Command::SwitchSource(source) => {
                let info = source.info();
                self.source = source;
                stream.rebase = true;
                Self::emit(
                    &self.events,
                    PushCode::SourceOpened,
                    format!("switched to a {}x{} source", info.width, info.height),
                );
            }
            Command::SetEffects(effects) => stream.params.effects = effects,
            Command::Stop => return true,
        }
        false
    }

    /// Encodes a processed frame and sends it.
    fn deliver(
        &mut self,
        stream: &mut StreamState,
        mut out: I420Frame,
        stream_time: Duration,
    ) -> Result<(), PushError> {
        out.timestamp = stream_time;
        stream.last_stream_time = stream_time;
        stream.summary.frames_processed += 1;
        if let Some(uplink) = &mut stream.uplink {
            if uplink.take_restart() {
                let metadata = rtmp_metadata(stream, self.source.info().frame_rate.fps());
                if let Some(uplink) = &mut stream.uplink {
                    uplink.send_metadata(metadata);
                    uplink.send_video(stream.packager.sequence_header(), 0);
                }
                stream.awaiting_key = true;
                stream.force_key = true;
            }
        }
        let force = std::mem::take(&mut stream.force_key);
        let encoded = stream
            .encoder
            .encode(&out, force)
            .map_err(|e| PushError::Encoder(e.to_string()))?;
        if let Some(encoded) = encoded {
            self.send_encoded(stream, &encoded)?;
        }
        stream.last_output = Some(out);
        Ok(())
    }

    fn send_encoded(
        &mut self,
        stream: &mut StreamState,
        encoded: &crate::encoder::EncodedFrame,
    ) -> Result<(), PushError> {
        stream.summary.frames_encoded += 1;
        stream.summary.video_bytes += encoded.data.len() as u64;
        stream.meter.frames += 1;
        stream.meter.video_bytes += encoded.data.len() as u64;
        let body = stream.packager.frame_body(encoded)?;
        let timestamp = (encoded.dts_ms & 0xffff_ffff) as u32;
        stream.last_decode_time = timestamp;
        if let Some(file) = &mut stream.file {
            file.write(TagKind::Video, timestamp, &body)?;
        }
        if let Some(uplink) = &mut stream.uplink {
            if stream.awaiting_key && !encoded.key_frame {
                uplink.count_skipped();
            } else {
                stream.awaiting_key = false;
                uplink.send_video(body, timestamp);
            }
        }
        Ok(())
    }

    /// `netStatus` once per interval, and RTC's bitrate adaptation.
    fn report(&mut self, stream: &mut StreamState, emit: &mut dyn FnMut(PusherEvent)) {
        let now = Instant::now();
        let since = *stream.meter.since.get_or_insert(now);
        let elapsed = now.duration_since(since);
        if elapsed < self.config.net_status_interval {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let link = stream
            .uplink
            .as_ref()
            .map(Uplink::stats)
            .unwrap_or_default();
        let sent = link
            .bytes_sent
            .saturating_sub(stream.meter.bytes_sent_at_start);
        let status = NetStatus {
            video_bitrate: stream.meter.video_bytes as f64 * 8.0 / 1000.0 / seconds,
            audio_bitrate: 0.0,
            video_fps: stream.meter.frames as f64 / seconds,
            video_gop: stream.encoder.config().keyframe_interval.as_secs_f64(),
            net_speed: sent as f64 * 8.0 / 1000.0 / seconds,
            net_jitter: link.jitter_ms,
            video_width: stream.summary.width,
            video_height: stream.summary.height,
            video_cache: None,
            audio_cache: None,
        };
        emit(PusherEvent::NetStatus(status));
        stream.meter = Meter {
            since: Some(now),
            frames: 0,
            video_bytes: 0,
            bytes_sent_at_start: link.bytes_sent,
        };
        if self.config.mode == Mode::Rtc {
            self.adapt_bitrate(stream, link.backlog_bytes, emit);
        }
    }

    /// RTC: the bitrate follows the send backlog.
    fn adapt_bitrate(
        &mut self,
        stream: &mut StreamState,
        backlog: usize,
        emit: &mut dyn FnMut(PusherEvent),
    ) {
        let current = stream.encoder.config().bitrate_kbps;
        let step = stream.adaptive.update(current, backlog);
        if step.uplink_slow {
            emit(PusherEvent::Push(PushEvent::new(
                PushCode::UplinkSlow,
                format!("uplink too slow: {backlog} bytes waiting at the minimum bitrate"),
            )));
        }
        if step.target_kbps != current && stream.encoder.set_bitrate(step.target_kbps).is_ok() {
            emit(PusherEvent::Push(PushEvent::new(
                PushCode::BitrateChanged,
                format!("bitrate {current} → {} kbps", step.target_kbps),
            )));
        }
    }
}

fn rtmp_metadata(stream: &StreamState, fps: f64) -> StreamMetadata {
    let mut metadata = StreamMetadata::new();
    metadata.video_width = Some(stream.summary.width);
    metadata.video_height = Some(stream.summary.height);
    metadata.video_codec_id = Some(7);
    metadata.video_frame_rate = Some(fps as f32);
    metadata.video_bitrate_kbps = Some(stream.range.max_kbps);
    metadata.encoder = Some(format!("liveroom {}", env!("CARGO_PKG_VERSION")));
    metadata
}

fn metadata_body(stream: &StreamState, fps: f64) -> bytes::Bytes {
    let metadata = crate::flv::StreamMetadata {
        width: stream.summary.width,
        height: stream.summary.height,
        frame_rate: fps,
        video_bitrate_kbps: stream.range.max_kbps as f64,
        audio: None,
        encoder: format!("liveroom {}", env!("CARGO_PKG_VERSION")),
        duration_s: None,
    };
    bytes::Bytes::from(crate::flv::metadata_body(&metadata))
}
