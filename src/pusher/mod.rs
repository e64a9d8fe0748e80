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
//! (use `RUST_LOG`-style logging), `startPreview`/`stopPreview` (use a
//! [`FrameTap`]), and `autopush` (`start` is explicit).
//!
//! Sound: [`PusherConfig::audio`] is the microphone (off, silence, the test
//! tone or a file), `muted`, `audioQuality`, `backgroundMute` and
//! `enableCamera` (false: an audio-only stream) are fields, and the BGM
//! methods (`playBGM`, `stopBGM`, `pauseBGM`, `resumeBGM`, `setBGMVolume`)
//! are [`LivePusher::play_bgm`] and its siblings, with the `bgmStart`,
//! `bgmProgress` and `bgmComplete` callbacks as [`PusherEvent::Bgm`]. The
//! audio is rendered in step with the video's stream clock, so both tracks
//! share one timeline.
//!
//! When pushing, frames are paced at the source's rate, as a camera would
//! deliver them; writing only a file runs as fast as it can.

mod audio_feed;
mod bitrate;
mod faces;
mod output;
mod uplink;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

/// The reconnect policy, which lives in [`crate::rtmp`] (the player follows
/// it too); re-exported here where it used to be.
pub use crate::rtmp::ReconnectPolicy;
pub use faces::FaceInput;

pub use crate::CallbackError;

use crate::audio::{AudioError, AudioFormat, AudioQuality, BgmEvent};
use crate::avc::AvcError;
use crate::color::rgb_image_to_i420;
use crate::effects::EffectParams;
use crate::encoder::{BitrateRange, EncoderError};
use crate::events::{NetStatus, PushCode, PushEvent};
use crate::face::FaceError;
use crate::flv::FlvError;
use crate::frame::{FrameError, I420Frame};
use crate::geometry::{Aspect, GeometryError, GeometryParams, Mode, Orientation, OutputSize};
use crate::landmarks::FaceLandmarks;
use crate::pipeline::{FrameParams, FramePipeline, PipelineError};
use crate::rtmp::{PublishError, PublisherConfig, RtmpUrl, UrlError};
use crate::source::{FrameSource, SourceError};
use crate::GpuContext;
use audio_feed::{AudioFeed, BgmCommand};
use faces::{FaceFeed, FrameBudget};
use output::{OutputStage, OutputThread};

/// Frame rate of the waiting image while paused.
const WAITING_FPS: f64 = 5.0;

/// How much sound an audio-only push renders at a time.
const AUDIO_ONLY_TICK: Duration = Duration::from_millis(20);

/// Why a push could not start or ended early. Where another module's
/// error is the cause, the variant keeps it as its
/// [`source`](std::error::Error::source).
#[derive(Debug, Error)]
pub enum PushError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// `minBitrate`/`maxBitrate` are out of range or inverted.
    #[error("{0}")]
    Bitrate(#[source] EncoderError),
    /// `zoom` (or another geometry setting) is out of range.
    #[error("{0}")]
    Geometry(#[from] GeometryError),
    /// `pushUrl` is not a usable RTMP URL.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// `waitingImage` could not be read or decoded.
    #[error("waiting image {path}: {source}")]
    WaitingImage {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// A picture (the waiting image, or black) could not be made a frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A thread of the push could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The frame source failed (-1301).
    #[error("frame source failed: {0}")]
    Source(#[from] SourceError),
    /// The landmarker could not start or failed.
    #[error("{0}")]
    Faces(#[from] FaceError),
    /// The GPU pipeline failed.
    #[error("GPU pipeline: {0}")]
    Pipeline(#[from] PipelineError),
    /// A frame submitted to the GPU pipeline did not come back.
    #[error("GPU pipeline: a submitted frame went missing")]
    FrameMissing,
    /// The video encoder failed (-1303).
    #[error("video encoder: {0}")]
    Encoder(#[from] EncoderError),
    /// x264's parameter sets could not be made an AVC configuration
    /// (-1303).
    #[error("video encoder: bad parameter sets: {0}")]
    ParameterSets(#[source] AvcError),
    /// The AVC sequence header could not be built (-1303).
    #[error("video encoder: bad parameter sets: {0}")]
    SequenceHeader(#[source] FlvError),
    /// An encoded frame could not be repackaged from Annex B to AVCC
    /// (-1303).
    #[error("video encoder: {0}")]
    Packaging(#[source] AvcError),
    /// The microphone (an audio file) could not be read (-1302).
    #[error("microphone: {0}")]
    Microphone(#[source] AudioError),
    /// The AAC encoder failed (-1304).
    #[error("audio encoder: {0}")]
    AudioEncoder(#[source] AudioError),
    /// A sample rate AAC cannot carry (-1306).
    #[error("{0}")]
    UnsupportedSampleRate(#[source] AudioError),
    /// Background music could not be played.
    #[error("background music: {0}")]
    Bgm(#[source] AudioError),
    /// Background music was asked for on a stream without an audio track.
    #[error("background music: the stream has no audio track (audio is off)")]
    NoAudioTrack,
    /// A file could not be created.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file could not be written.
    #[error("cannot write {path}: {source}")]
    FlvOutput {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: FlvError,
    },
    /// A snapshot could not be saved.
    #[error("cannot write {path}: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// The application's [`FrameTap`] failed; its error is the source.
    #[error("frame tap: {0}")]
    FrameTap(#[source] CallbackError),
    /// The server refused the stream (3004, not retried).
    #[error("{0}")]
    Rejected(#[source] PublishError),
    /// The reconnect attempts ran out (-1307).
    #[error("{0}")]
    Disconnected(String),
    /// The push thread is gone.
    #[error("the push thread stopped unexpectedly")]
    Stopped,
}

impl PushError {
    /// The plugin's event code for this error, where it has one.
    pub fn code(&self) -> Option<PushCode> {
        match self {
            PushError::Source(_) => Some(PushCode::SourceFailed),
            PushError::Encoder(_)
            | PushError::ParameterSets(_)
            | PushError::SequenceHeader(_)
            | PushError::Packaging(_) => Some(PushCode::VideoEncodeFailed),
            PushError::Microphone(_) => Some(PushCode::MicrophoneFailed),
            PushError::AudioEncoder(_) => Some(PushCode::AudioEncodeFailed),
            PushError::UnsupportedSampleRate(_) => Some(PushCode::UnsupportedSampleRate),
            PushError::Rejected(_) => Some(PushCode::ServerClosed),
            PushError::Disconnected(_) => Some(PushCode::Disconnected),
            _ => None,
        }
    }

    fn output(path: &Path, source: std::io::Error) -> Self {
        PushError::Output {
            path: path.to_path_buf(),
            source,
        }
    }

    fn flv_output(path: &Path, source: FlvError) -> Self {
        PushError::FlvOutput {
            path: path.to_path_buf(),
            source,
        }
    }

    fn thread(name: &'static str, source: std::io::Error) -> Self {
        PushError::Thread { name, source }
    }
}

/// The "microphone": where the stream's own sound comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AudioInput {
    /// No audio track at all: a video-only stream.
    #[default]
    Off,
    /// No microphone: the stream carries silence (and the BGM, if any).
    Silence,
    /// The test tone: a 1 kHz beep for the first 100 ms of every second,
    /// which the player lines up with the video's frame stamps.
    Tone,
    /// An audio file (WAV, MP3, AAC/M4A, FLAC, Ogg Vorbis); silence after
    /// its end, or the end of an audio-only push.
    File(PathBuf),
}

impl std::str::FromStr for AudioInput {
    type Err = PushError;

    /// `off`, `none`, `tone`, or a file path.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(AudioInput::Off),
            "none" => Ok(AudioInput::Silence),
            "tone" => Ok(AudioInput::Tone),
            "" => Err(PushError::Config("empty --audio value".into())),
            path => Ok(AudioInput::File(PathBuf::from(path))),
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
    /// The microphone; [`AudioInput::Off`] pushes video only.
    pub audio: AudioInput,
    /// `muted`: silence instead of the microphone (BGM still plays).
    pub muted: bool,
    /// `audioQuality`: 48 kHz stereo 128 kbps, or 16 kHz mono 32 kbps.
    pub audio_quality: AudioQuality,
    /// A sample rate other than the quality's (AAC's rates only, else
    /// -1306).
    pub audio_sample_rate: Option<u32>,
    /// `backgroundMute`: silence while paused.
    pub background_mute: bool,
    /// `enableCamera`: false pushes an audio-only stream.
    pub enable_camera: bool,
    /// Stop after this much stream time (`None`: at the source's end).
    pub max_duration: Option<Duration>,
    /// x264's `zerolatency` tune (no lookahead, no B-frames): `None` uses
    /// it in RTC mode only.
    pub zero_latency: Option<bool>,
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
            audio: AudioInput::Off,
            muted: false,
            audio_quality: AudioQuality::High,
            audio_sample_rate: None,
            background_mute: false,
            enable_camera: true,
            max_duration: None,
            zero_latency: None,
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
            .map_err(PushError::Bitrate)
    }

    /// The audio track's format; `None` for a video-only stream. A rate
    /// AAC cannot carry is [`PushError::UnsupportedSampleRate`].
    pub fn audio_format(&self) -> Result<Option<AudioFormat>, PushError> {
        if self.audio == AudioInput::Off {
            return Ok(None);
        }
        let format = self.audio_quality.format();
        let rate = self.audio_sample_rate.unwrap_or(format.sample_rate);
        AudioFormat::new(rate, format.channels)
            .map(Some)
            .map_err(PushError::UnsupportedSampleRate)
    }

    /// Checks every setting; `LivePusher::start` calls it first.
    pub fn validate(&self) -> Result<(), PushError> {
        if !self.enable_camera && self.audio == AudioInput::Off {
            return Err(PushError::Config(
                "nothing to push: the camera is disabled and there is no audio".into(),
            ));
        }
        if self.max_duration == Some(Duration::ZERO) {
            return Err(PushError::Config("the duration must be positive".into()));
        }
        self.bitrate_range()?;
        GeometryParams::new(self.zoom, self.mirror)?;
        if let Some(url) = &self.push_url {
            RtmpUrl::parse(url)?;
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
/// verification. An error ends the push with [`PushError::FrameTap`],
/// which keeps it as its source; a `String` message converts with `?` or
/// `.into()`.
pub type FrameTap =
    Box<dyn FnMut(u64, &I420Frame, &[FaceLandmarks]) -> Result<(), CallbackError> + Send>;

/// What the pusher reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PusherEvent {
    /// A state change or warning with its code.
    Push(PushEvent),
    /// Periodic statistics.
    NetStatus(NetStatus),
    /// The BGM callbacks: `bgmStart`, `bgmProgress`, `bgmComplete`.
    Bgm(BgmEvent),
    /// The plugin's `error` callback (code -1): the server refused the URL
    /// or its authorization; the text says why.
    Error(String),
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
    /// AAC packets encoded.
    pub audio_packets: u64,
    /// Encoded audio bytes.
    pub audio_bytes: u64,
    /// Seconds of sound rendered.
    pub audio_seconds: f64,
    /// Audio packets dropped while the connection was down.
    pub audio_dropped: u64,
    /// Largest send backlog seen at a `netStatus` interval: bytes handed
    /// to the connection and not yet acknowledged by the server (queued, or
    /// in the kernel's send buffer). The queued part is bounded by
    /// `PublisherConfig::max_backlog_bytes`, past which video is dropped.
    pub peak_backlog_bytes: u64,
}

enum Command {
    Pause,
    Resume,
    Snapshot(PathBuf, Sender<Result<(), PushError>>),
    SwitchSource(Box<dyn FrameSource>),
    SetEffects(EffectParams),
    Bgm(BgmCommand),
    Mute(bool),
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
        // Unpaced pushes (files, benchmarks) run as fast as they can: the
        // landmarker works two frames ahead. Paced ones keep one, so a
        // real-time source's frame waits for one more frame only.
        let lookahead = if pace_of(&config) { 1 } else { 2 };
        let feed = FaceFeed::new(
            faces,
            config.effects.has_warp() || config.effects.has_color_effect(),
            lookahead,
        )?;
        let audio = AudioFeed::open(&config)?;
        let pipeline = FramePipeline::new(&gpu, size)?;
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
                    audio,
                    commands: inbox,
                    events: outbox,
                };
                push.run()
            })
            .map_err(|e| PushError::thread("push", e))?;
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

    /// `playBGM`: mixes `path` into the stream from its start (`bgmStart`,
    /// then `bgmProgress` about once a second and `bgmComplete`). Fails if
    /// the file cannot be read or the stream has no audio track.
    pub fn play_bgm(&self, path: &Path) -> Result<(), PushError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Bgm(BgmCommand::Play(path.to_path_buf(), reply)))?;
        answer.recv().map_err(|_| PushError::Stopped)?
    }

    /// `stopBGM`.
    pub fn stop_bgm(&self) -> Result<(), PushError> {
        self.send(Command::Bgm(BgmCommand::Stop))
    }

    /// `pauseBGM`.
    pub fn pause_bgm(&self) -> Result<(), PushError> {
        self.send(Command::Bgm(BgmCommand::Pause))
    }

    /// `resumeBGM`.
    pub fn resume_bgm(&self) -> Result<(), PushError> {
        self.send(Command::Bgm(BgmCommand::Resume))
    }

    /// `setBGMVolume`: 0 (silent) to 1 (as recorded).
    pub fn set_bgm_volume(&self, volume: f32) -> Result<(), PushError> {
        if !(0.0..=1.0).contains(&volume) {
            return Err(PushError::Config(format!(
                "BGM volume {volume} is out of range (0..1)"
            )));
        }
        self.send(Command::Bgm(BgmCommand::Volume(volume)))
    }

    /// `muted`: silence instead of the microphone from now on.
    pub fn mute(&self, muted: bool) -> Result<(), PushError> {
        self.send(Command::Mute(muted))
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
        return Ok(I420Frame::black(size.width(), size.height())?);
    };
    let image = image::open(path)
        .map_err(|source| PushError::WaitingImage {
            path: path.to_path_buf(),
            source,
        })?
        .to_rgb8();
    Ok(rgb_image_to_i420(&image)?)
}

/// The stream's clock: source time plus an offset that keeps it going
/// forward across pauses and source switches.
struct Timeline {
    frame_interval: Duration,
    offset: Duration,
    /// The next source frame starts a new stretch (after resume or switch).
    rebase: bool,
    last: Duration,
}

impl Timeline {
    /// Stream time of a source frame.
    fn place(&mut self, source_time: Duration) -> Duration {
        if self.rebase {
            self.offset = (self.last + self.frame_interval).saturating_sub(source_time);
            self.rebase = false;
        }
        self.last = source_time + self.offset;
        self.last
    }

    /// Stream time of the next waiting-image frame.
    fn next_waiting(&mut self) -> Duration {
        self.last += Duration::from_secs_f64(1.0 / WAITING_FPS);
        self.last
    }
}

/// A frame on the GPU and what handing it on needs.
struct InFlightFrame {
    stream_time: Duration,
    interval: Duration,
    faces: Vec<FaceLandmarks>,
}

/// The push thread: source, faces, GPU; the output stage encodes and sends.
struct PushLoop {
    config: PusherConfig,
    pipeline: FramePipeline,
    feed: FaceFeed,
    source: Box<dyn FrameSource>,
    tap: Option<FrameTap>,
    waiting: I420Frame,
    audio: Option<AudioFeed>,
    commands: Receiver<Command>,
    events: Sender<PusherEvent>,
}

impl PushLoop {
    fn emit(&self, code: PushCode, message: impl Into<String>) {
        let _ = self
            .events
            .send(PusherEvent::Push(PushEvent::new(code, message)));
    }

    fn run(mut self) -> Result<PushSummary, PushError> {
        let result = self.push(Instant::now());
        if let Err(error) = &result {
            match error.code() {
                // The uplink reported these where they happened.
                Some(PushCode::Disconnected | PushCode::ServerClosed) => {}
                Some(code) => self.emit(code, error.to_string()),
                None => {}
            }
        }
        result
    }

    fn push(&mut self, started: Instant) -> Result<PushSummary, PushError> {
        let config = self.config.clone();
        let size = config.output_size();
        let info = self.source.info();
        let audio_format = self.audio.as_ref().map(AudioFeed::format);
        if config.enable_camera {
            self.emit(
                PushCode::SourceOpened,
                format!(
                    "source {}x{} at {:.2} fps",
                    info.width,
                    info.height,
                    info.frame_rate.fps()
                ),
            );
        }
        let mut output =
            OutputStage::open(&config, info.frame_rate, audio_format, self.events.clone())?
                .spawn()?;
        if !config.enable_camera {
            return self.push_sound_only(output, started, pace_of(&config));
        }
        let geometry = GeometryParams::new(config.zoom, config.mirror)?;
        let mut params = FrameParams {
            geometry,
            effects: config.effects,
            faces: Vec::new(),
        };
        let mut timeline = Timeline {
            frame_interval: info.frame_rate.timestamp(1),
            offset: Duration::ZERO,
            rebase: false,
            last: Duration::ZERO,
        };
        let mut summary = PushSummary {
            width: size.width(),
            height: size.height(),
            ..Default::default()
        };
        let pace = pace_of(&config);
        let mut budget = FrameBudget {
            read: 0,
            limit: config.max_frames,
        };
        self.feed.prime(self.source.as_mut(), &mut budget)?;
        let mut paused = false;
        let waiting_interval = Duration::from_secs_f64(1.0 / WAITING_FPS);
        // When pacing, stream time 0 is due now.
        let pacing = pace.then(Instant::now);
        let mut in_flight: Option<InFlightFrame> = None;
        'push: loop {
            // Commands first; while paused, wait for one up to the waiting
            // image's frame interval.
            let waited = if paused {
                self.commands.recv_timeout(waiting_interval).ok()
            } else {
                None
            };
            if self.apply_commands(waited, &mut output, &mut params, &mut timeline, &mut paused)? {
                break 'push;
            }
            if paused {
                if let Some(previous) = in_flight.take() {
                    self.deliver(previous, &mut output, &mut summary, pacing)?;
                }
                let mut waiting = self.waiting.clone();
                waiting.timestamp = timeline.next_waiting();
                let plain = FrameParams {
                    geometry,
                    effects: EffectParams::default(),
                    faces: Vec::new(),
                };
                let mut out = self.pipeline.process(&waiting, &plain)?;
                out.timestamp = waiting.timestamp;
                output.send(out)?;
                self.send_audio(&mut output, waiting.timestamp + waiting_interval, true)?;
                summary.frames_processed += 1;
                continue;
            }
            let Some((frame, faces)) = self.feed.next(self.source.as_mut(), &mut budget)? else {
                break;
            };
            // The GPU works on this frame while the previous one is handed
            // on and the next one is read.
            summary.frames_captured += 1;
            if summary.frames_captured == 1 {
                self.emit(PushCode::FirstFrame, "first frame captured");
            }
            let stream_time = timeline.place(frame.timestamp);
            if config.max_duration.is_some_and(|max| stream_time >= max) {
                break;
            }
            params.faces = faces;
            self.pipeline.submit(&frame, &params)?;
            let current = InFlightFrame {
                stream_time,
                interval: timeline.frame_interval,
                faces: params.faces.clone(),
            };
            if let Some(previous) = in_flight.replace(current) {
                self.deliver(previous, &mut output, &mut summary, pacing)?;
            }
        }
        if let Some(previous) = in_flight.take() {
            self.deliver(previous, &mut output, &mut summary, pacing)?;
        }
        let duration = timeline.last + timeline.frame_interval;
        self.finish(output, summary, started, duration)
    }

    /// Collects a processed frame from the GPU and hands it on: the frame
    /// tap, the encoder, the sound up to the frame's end; then waits for
    /// its time when pacing.
    fn deliver(
        &mut self,
        frame: InFlightFrame,
        output: &mut OutputThread,
        summary: &mut PushSummary,
        pacing: Option<Instant>,
    ) -> Result<(), PushError> {
        let mut out = self.pipeline.collect()?.ok_or(PushError::FrameMissing)?;
        out.timestamp = frame.stream_time;
        if let Some(tap) = &mut self.tap {
            tap(summary.frames_processed, &out, &frame.faces).map_err(PushError::FrameTap)?;
        }
        output.send(out)?;
        self.send_audio(output, frame.stream_time + frame.interval, false)?;
        summary.frames_processed += 1;
        if let Some(clock_start) = pacing {
            // Stream time runs with the wall clock (pauses advance it too).
            let due = clock_start + frame.stream_time;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        Ok(())
    }

    /// The end of every push: drains the output stage and totals up.
    fn finish(
        &mut self,
        output: OutputThread,
        mut summary: PushSummary,
        started: Instant,
        duration: Duration,
    ) -> Result<PushSummary, PushError> {
        let totals = output.finish()?;
        summary.frames_encoded = totals.frames_encoded;
        summary.frames_sent = totals.frames_sent;
        summary.frames_dropped = totals.frames_dropped;
        summary.video_bytes = totals.video_bytes;
        summary.bytes_sent = totals.bytes_sent;
        summary.reconnects = totals.reconnects;
        summary.audio_packets = totals.audio_packets;
        summary.audio_bytes = totals.audio_bytes;
        summary.audio_dropped = totals.audio_dropped;
        summary.peak_backlog_bytes = totals.peak_backlog_bytes as u64;
        summary.audio_seconds = self.audio.as_ref().map_or(0.0, AudioFeed::seconds);
        summary.seconds = started.elapsed().as_secs_f64();
        summary.fps = summary.frames_processed as f64 / summary.seconds.max(1e-9);
        let seconds = duration.as_secs_f64().max(1e-9);
        summary.video_kbps = summary.video_bytes as f64 * 8.0 / 1000.0 / seconds;
        Ok(summary)
    }

    /// Renders the sound up to stream time `until` and queues it for the
    /// AAC encoder; passes the BGM callbacks on.
    fn send_audio(
        &mut self,
        output: &mut OutputThread,
        until: Duration,
        background: bool,
    ) -> Result<(), PushError> {
        let Some(audio) = &mut self.audio else {
            return Ok(());
        };
        let samples = audio.render_until(until, background)?;
        for event in audio.take_events() {
            let _ = self.events.send(PusherEvent::Bgm(event));
        }
        if samples.is_empty() {
            return Ok(());
        }
        output.send_audio(samples)
    }

    /// `enableCamera` false: sound only, a block every 20 ms of stream
    /// time, until a file microphone ends, the duration is reached or
    /// `stop`.
    fn push_sound_only(
        &mut self,
        mut output: OutputThread,
        started: Instant,
        pace: bool,
    ) -> Result<PushSummary, PushError> {
        let summary = PushSummary::default();
        let clock_start = Instant::now();
        let mut stream_time = Duration::ZERO;
        let mut paused = false;
        // Video-only commands have nothing to act on; a timeline is kept
        // for their signature's sake.
        let mut timeline = Timeline {
            frame_interval: AUDIO_ONLY_TICK,
            offset: Duration::ZERO,
            rebase: false,
            last: Duration::ZERO,
        };
        let mut params = FrameParams::default();
        self.emit(PushCode::FirstFrame, "first audio captured (audio only)");
        'push: loop {
            if self.apply_commands(None, &mut output, &mut params, &mut timeline, &mut paused)? {
                break 'push;
            }
            let next = stream_time + AUDIO_ONLY_TICK;
            if self.config.max_duration.is_some_and(|max| next > max) {
                break;
            }
            self.send_audio(&mut output, next, paused)?;
            stream_time = next;
            if self.audio.as_ref().is_some_and(AudioFeed::microphone_ended) {
                break;
            }
            if pace {
                let due = clock_start + stream_time;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        self.finish(output, summary, started, stream_time)
    }

    /// Handles `first` (a command already received) and every command
    /// waiting; true to stop.
    fn apply_commands(
        &mut self,
        first: Option<Command>,
        output: &mut OutputThread,
        params: &mut FrameParams,
        timeline: &mut Timeline,
        paused: &mut bool,
    ) -> Result<bool, PushError> {
        let commands: Vec<Command> = first.into_iter().chain(self.commands.try_iter()).collect();
        for command in commands {
            if self.command(command, output, params, timeline, paused)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Handles a command; true to stop.
    fn command(
        &mut self,
        command: Command,
        output: &mut OutputThread,
        params: &mut FrameParams,
        timeline: &mut Timeline,
        paused: &mut bool,
    ) -> Result<bool, PushError> {
        match command {
            Command::Pause => {
                if !*paused {
                    *paused = true;
                    self.emit(PushCode::Background, "paused: pushing the waiting image");
                }
            }
            Command::Resume => {
                if std::mem::take(paused) {
                    timeline.rebase = true;
                }
            }
            Command::Snapshot(path, reply) => {
                let _ = reply.send(output.snapshot(&path));
            }
            Command::SwitchSource(source) => {
                let info = source.info();
                self.source = source;
                timeline.rebase = true;
                self.emit(
                    PushCode::SourceOpened,
                    format!("switched to a {}x{} source", info.width, info.height),
                );
            }
            Command::SetEffects(effects) => params.effects = effects,
            Command::Bgm(command) => match (&mut self.audio, command) {
                (Some(audio), command) => audio.bgm(command),
                (None, BgmCommand::Play(_, reply)) => {
                    let _ = reply.send(Err(PushError::NoAudioTrack));
                }
                (None, _) => {}
            },
            Command::Mute(muted) => {
                if let Some(audio) = &mut self.audio {
                    audio.set_muted(muted);
                }
            }
            Command::Stop => return Ok(true),
        }
        Ok(false)
    }
}

/// Whether frames are paced at the source's rate: when pushing to a URL,
/// unless the config says otherwise.
fn pace_of(config: &PusherConfig) -> bool {
    config.pace.unwrap_or(config.push_url.is_some())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::faces::FrameBudget;
    use super::uplink::FlvFile;
    use super::*;
    use crate::flv::FlvHeader;
    use crate::source::open_source;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "liveroom-push-errors-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// The push error is `Send + Sync + 'static`, so it can be boxed or
    /// sent across threads like any other error.
    #[test]
    fn errors_can_be_boxed_and_sent() {
        fn boxable<E: std::error::Error + Send + Sync + 'static>() {}
        boxable::<PushError>();
    }

    #[test]
    fn a_missing_y4m_file_keeps_the_source_error() {
        let missing = scratch("missing").join("no-such-clip.y4m");
        let Err(cause) = open_source(missing.to_str().expect("utf-8"), 30.0) else {
            panic!("a missing file opened");
        };
        let error = PushError::from(cause);
        assert_eq!(error.code(), Some(PushCode::SourceFailed));
        assert!(error
            .to_string()
            .starts_with("frame source failed: cannot read"));
        let source = error.source().expect("a source");
        assert!(
            matches!(
                source.downcast_ref::<SourceError>(),
                Some(SourceError::Io { .. })
            ),
            "{source:?}"
        );
        // The chain goes on down to the operating system's error.
        let io = source.source().expect("the io error");
        assert_eq!(
            io.downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_truncated_frame_read_while_pushing_keeps_the_source_error() {
        let path = scratch("truncated").join("truncated.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W64 H64 F30:1 C420jpeg\nFRAME\nabc").expect("write");
        let mut source = open_source(path.to_str().expect("utf-8"), 30.0).expect("header");
        let mut budget = FrameBudget {
            read: 0,
            limit: None,
        };
        let mut feed = FaceFeed::new(FaceInput::None, false, 1).expect("no faces");
        let Err(error) = feed.next(source.as_mut(), &mut budget) else {
            panic!("a truncated frame was read");
        };
        assert!(
            error.to_string().contains("frame 0 is truncated"),
            "{error}"
        );
        assert!(
            matches!(
                error.source().and_then(|s| s.downcast_ref::<SourceError>()),
                Some(SourceError::Y4mFrame { index: 0, .. })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn an_flv_file_that_cannot_be_created_keeps_the_io_error() {
        let path = scratch("output").join("no/such/dir/out.flv");
        let header = FlvHeader {
            has_audio: false,
            has_video: true,
        };
        let Err(error) = FlvFile::create(&path, header) else {
            panic!("a file in a missing folder was created");
        };
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot write {}", path.display())),
            "{error}"
        );
        assert!(matches!(&error, PushError::Output { path: p, .. } if *p == path));
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_microphone_file_that_cannot_be_read_keeps_the_audio_error() {
        let config = PusherConfig {
            audio: AudioInput::File(scratch("microphone").join("no-such-sound.wav")),
            ..Default::default()
        };
        let Err(error) = AudioFeed::open(&config) else {
            panic!("a missing microphone file opened");
        };
        assert_eq!(error.code(), Some(PushCode::MicrophoneFailed));
        assert!(error.to_string().starts_with("microphone: "), "{error}");
        assert!(error
            .source()
            .is_some_and(|s| s.downcast_ref::<AudioError>().is_some()));
    }

    #[test]
    fn settings_refused_by_other_modules_keep_their_errors() {
        let bitrate = PusherConfig {
            min_bitrate_kbps: Some(900),
            max_bitrate_kbps: Some(300),
            ..Default::default()
        };
        let error = bitrate.validate().expect_err("inverted bitrates");
        assert!(matches!(
            error,
            PushError::Bitrate(EncoderError::BitrateRange { .. })
        ));
        assert_eq!(error.code(), None);
        let url = PusherConfig {
            push_url: Some("http://example.com/live/x".into()),
            ..Default::default()
        };
        let error = url.validate().expect_err("not rtmp");
        assert!(error.to_string().contains("rtmp://"), "{error}");
        assert!(error
            .source()
            .is_some_and(|s| s.downcast_ref::<UrlError>().is_some()));
        let rate = PusherConfig {
            audio: AudioInput::Tone,
            audio_sample_rate: Some(12_345),
            ..Default::default()
        };
        let error = rate.audio_format().expect_err("not an AAC rate");
        assert_eq!(error.code(), Some(PushCode::UnsupportedSampleRate));
        assert!(matches!(
            error,
            PushError::UnsupportedSampleRate(AudioError::UnsupportedSampleRate(12_345))
        ));
    }

    #[test]
    fn a_failing_frame_tap_is_the_source() {
        // A tap that fails with an io::Error, and one with a plain message.
        let mut tap: FrameTap = Box::new(|_, _, _| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "disk full",
            ))?
        });
        let frame = I420Frame::black(16, 16).expect("frame");
        let error = PushError::FrameTap(tap(0, &frame, &[]).expect_err("fails"));
        assert_eq!(error.to_string(), "frame tap: disk full");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);

        let mut tap: FrameTap =
            Box::new(|index, _, _| Err(format!("frame {index} refused").into()));
        let error = PushError::FrameTap(tap(7, &frame, &[]).expect_err("fails"));
        assert_eq!(error.to_string(), "frame tap: frame 7 refused");
        assert_eq!(
            error.source().map(ToString::to_string).as_deref(),
            Some("frame 7 refused")
        );
    }
}
