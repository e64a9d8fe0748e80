//! `LivePlayer`: the player component. It pulls a stream (RTMP, or an FLV
//! file for offline checks), holds it in a jitter buffer, decodes it with
//! openh264 and hands every displayed frame to the application, with the
//! plugin's events; and it can verify what arrived (frame stamps, PSNR
//! against a reference clip). AAC sound is decoded with symphonia in step
//! with the picture, handed out (silence while `muted`) and optionally
//! written to a WAV file; the summary says how far sound and picture are
//! apart.
//!
//! The plugin's attributes map onto [`PlayerConfig`] (`playUrl` →
//! `play_url`, `minCache`/`maxCache`, `mode`, `muted`); its methods onto
//! [`LivePlayer`]: `start`, `stop`, `pause`, `resume`, `mute`. Phone-only
//! ones (`soundMode`, `pictureInPictureMode`, `requestFullScreen`) have no
//! meaning here.

mod buffer;
mod sound;
pub mod verify;
mod view;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

pub use crate::CallbackError;
pub use buffer::{BufferState, EncodedVideo, JitterBuffer, ReleaseReport};
pub use sound::{AudioSink, AudioSummary};
pub use verify::{ReferenceClip, Spread, StampTally};
pub use view::{ObjectFit, ViewConfig, ViewRenderer};

use crate::audio::AudioError;
use crate::avc::{parse_sps, AvcDecoderConfig};
use crate::color::i420_to_rgb_image;
use crate::decoder::VideoDecoder;
use crate::events::{NetStatus, PlayCode, PlayEvent};
use crate::flv::{self, AudioBody, FlvError, FlvReader, TagKind, VideoBody};
use crate::frame::I420Frame;
use crate::geometry::GeometryError;
use crate::pipeline::PipelineError;
use crate::rtmp::play::{PlayClient, PlayConfig, PlayError, PlayMessage};
use crate::rtmp::{ReconnectPolicy, RtmpUrl, UrlError};
use crate::source::SourceError;
use crate::GpuContext;

/// Why playing could not start or ended early. Where another module's
/// error is the cause, the variant keeps it as its
/// [`source`](std::error::Error::source).
#[derive(Debug, Error)]
pub enum PlayerError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// `playUrl` is neither an FLV file nor a usable RTMP URL.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// The view's size is not one the GPU pipeline can draw.
    #[error("view: {0}")]
    View(#[source] GeometryError),
    /// A thread of the player could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file could not be opened.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file's header could not be read.
    #[error("cannot read {path}: {source}")]
    Flv {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: FlvError,
    },
    /// The reference clip (`--reference`) could not be read.
    #[error("reference clip: {0}")]
    Reference(#[source] SourceError),
    /// The server refused the stream (3004, not retried).
    #[error("{0}")]
    Rejected(#[source] PlayError),
    /// The reconnect attempts ran out (-2301).
    #[error("{0}")]
    Disconnected(String),
    /// Drawing a frame into the view failed.
    #[error("sink: drawing into the view: {0}")]
    Render(#[source] PipelineError),
    /// The application's [`FrameSink`] or [`AudioSink`] failed; its error
    /// is the source.
    #[error("sink: {0}")]
    Sink(#[source] CallbackError),
    /// An output file (the WAV) could not be created.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The WAV file could not be written.
    #[error("cannot write {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: AudioError,
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
    /// The player thread is gone.
    #[error("the player thread stopped unexpectedly")]
    Stopped,
}

/// `mode`: live (larger cache) or RTC (low latency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlayMode {
    /// Cache 1–3 s by default.
    #[default]
    Live,
    /// Cache 0.2–0.8 s by default.
    Rtc,
}

impl std::str::FromStr for PlayMode {
    type Err = PlayerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "live" => Ok(PlayMode::Live),
            "rtc" => Ok(PlayMode::Rtc),
            _ => Err(PlayerError::Config(format!(
                "unknown mode {s:?}: expected live or rtc"
            ))),
        }
    }
}

/// The player's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerConfig {
    /// `playUrl`: `rtmp://…`, or a path to an `.flv` file.
    pub play_url: String,
    /// `mode`.
    pub mode: PlayMode,
    /// `minCache` (`None`: the mode's, 1 s live, 0.2 s RTC).
    pub min_cache: Option<Duration>,
    /// `maxCache` (`None`: the mode's, 3 s live, 0.8 s RTC).
    pub max_cache: Option<Duration>,
    /// `muted`: silence instead of the sound (it is still decoded and
    /// measured).
    pub muted: bool,
    /// Write the sound received to this WAV file (16-bit PCM).
    pub audio_output: Option<PathBuf>,
    /// Stop after this many displayed frames.
    pub max_frames: Option<u64>,
    /// Stop after this long in all.
    pub timeout: Option<Duration>,
    /// Read stamps from every frame and count lost, repeated and late ones.
    pub verify_stamps: bool,
    /// Compare every frame with this Y4M clip (by stamp index when stamps
    /// are verified, else in order) and report PSNR.
    pub reference: Option<PathBuf>,
    /// Draw frames into a view of this size (`objectFit`, `orientation`)
    /// on the GPU; `None` hands out the decoded frames as they are.
    pub view: Option<ViewConfig>,
    /// Reconnect attempts and back-off.
    pub reconnect: ReconnectPolicy,
    /// Connection settings.
    pub connection: PlayConfig,
    /// How often `netStatus` is reported.
    pub net_status_interval: Duration,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self {
            play_url: String::new(),
            mode: PlayMode::Live,
            min_cache: None,
            max_cache: None,
            muted: false,
            audio_output: None,
            max_frames: None,
            timeout: None,
            verify_stamps: false,
            reference: None,
            view: None,
            reconnect: ReconnectPolicy::default(),
            connection: PlayConfig::default(),
            net_status_interval: Duration::from_secs(1),
        }
    }
}

impl PlayerConfig {
    /// The cache bounds after the mode's defaults.
    pub fn cache_bounds(&self) -> (Duration, Duration) {
        let (min, max) = match self.mode {
            PlayMode::Live => (Duration::from_secs(1), Duration::from_secs(3)),
            PlayMode::Rtc => (Duration::from_millis(200), Duration::from_millis(800)),
        };
        (self.min_cache.unwrap_or(min), self.max_cache.unwrap_or(max))
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), PlayerError> {
        let (min, max) = self.cache_bounds();
        if min > Duration::from_secs(30) || max > Duration::from_secs(60) {
            return Err(PlayerError::Config(
                "cache bounds must be at most 30 s (min) and 60 s (max)".into(),
            ));
        }
        if min > max {
            return Err(PlayerError::Config(format!(
                "min cache {:.2} s is above max cache {:.2} s",
                min.as_secs_f64(),
                max.as_secs_f64()
            )));
        }
        if self.is_file() {
            if !Path::new(&self.play_url).is_file() {
                return Err(PlayerError::Input {
                    path: PathBuf::from(&self.play_url),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
        } else {
            RtmpUrl::parse(&self.play_url)?;
        }
        if let Some(view) = &self.view {
            view.validate()?;
        }
        if let Some(path) = &self.reference {
            ReferenceClip::open(path).map_err(PlayerError::Reference)?;
        }
        Ok(())
    }

    fn is_file(&self) -> bool {
        !self.play_url.starts_with("rtmp://")
            && Path::new(&self.play_url)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("flv"))
    }
}

/// What the player reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// A state change or warning with its code.
    Play(PlayEvent),
    /// Periodic statistics.
    NetStatus(NetStatus),
    /// The plugin's `error` callback (code -1): the server refused the URL
    /// or its authorization; the text says why.
    Error(String),
}

/// Facts about a displayed frame, for the application's sink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Displayed {
    /// Count of frames displayed before this one.
    pub index: u64,
    /// When it was handed over.
    pub at: Instant,
    /// Its stamp, when stamps are verified and it had one.
    pub stamp: Option<u32>,
}

/// Called with every displayed frame. An error ends the playback with
/// [`PlayerError::Sink`], which keeps it as its source; a `String` message
/// converts with `?` or `.into()`.
pub type FrameSink = Box<dyn FnMut(&I420Frame, Displayed) -> Result<(), CallbackError> + Send>;

/// Totals of a finished playback.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaySummary {
    /// Video messages received (sequence headers excluded).
    pub frames_received: u64,
    /// Frames out of the decoder and handed to the sink.
    pub frames_displayed: u64,
    /// Frames dropped: waiting for a key frame, or skipped to catch up.
    pub frames_skipped: u64,
    /// Access units the decoder refused.
    pub decode_errors: u64,
    /// Successful reconnections.
    pub reconnects: u32,
    /// Picture width (last seen).
    pub width: u32,
    /// Picture height (last seen).
    pub height: u32,
    /// Seconds from start to end.
    pub seconds: f64,
    /// Stamp counts, when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamps: Option<StampCounts>,
    /// Luma PSNR against the reference, dB (identical frames count as 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psnr: Option<Spread>,
    /// The sound, when the stream had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioSummary>,
}

/// The stamp tally in the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StampCounts {
    /// Frames whose stamp was read.
    pub stamped: u64,
    /// Distinct indices.
    pub distinct: u64,
    /// Frames with no readable stamp.
    pub unreadable: u64,
    /// Indices never seen (below the highest seen).
    pub lost: u64,
    /// Indices seen twice.
    pub repeated: u64,
    /// Frames that came after a later one.
    pub out_of_order: u64,
    /// Highest index seen.
    pub highest: Option<u32>,
}

enum Command {
    Pause,
    Resume,
    Mute(bool),
    Snapshot(PathBuf, Sender<Result<(), PlayerError>>),
    Stop,
}

/// A running player.
pub struct LivePlayer {
    commands: Sender<Command>,
    events: Option<Receiver<PlayerEvent>>,
    thread: Option<JoinHandle<Result<PlaySummary, PlayerError>>>,
}

impl std::fmt::Debug for LivePlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePlayer").finish_non_exhaustive()
    }
}

impl LivePlayer {
    /// Checks the settings, then starts playing on a thread of its own.
    /// `gpu` draws the frames into the configured view (needed only with
    /// [`PlayerConfig::view`]); `sink` gets every displayed frame.
    pub fn start(
        config: PlayerConfig,
        gpu: Option<GpuContext>,
        sink: Option<FrameSink>,
    ) -> Result<Self, PlayerError> {
        Self::start_with_audio(config, gpu, sink, None)
    }

    /// [`LivePlayer::start`], with every decoded block of sound handed to
    /// `audio` as well.
    pub fn start_with_audio(
        config: PlayerConfig,
        gpu: Option<GpuContext>,
        sink: Option<FrameSink>,
        audio: Option<AudioSink>,
    ) -> Result<Self, PlayerError> {
        config.validate()?;
        let renderer = match (config.view, gpu) {
            (Some(view), Some(gpu)) => Some(ViewRenderer::new(gpu, view)?),
            (Some(_), None) => {
                return Err(PlayerError::Config(
                    "drawing into a view needs a GPU context".into(),
                ))
            }
            (None, _) => None,
        };
        let (commands, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("liveroom-play".into())
            .spawn(move || PlayLoop::new(config, renderer, sink, audio, inbox, outbox).run())
            .map_err(|source| PlayerError::Thread {
                name: "player",
                source,
            })?;
        Ok(Self {
            commands,
            events: Some(events),
            thread: Some(thread),
        })
    }

    /// The event stream (once; later calls get `None`).
    pub fn events(&mut self) -> Option<Receiver<PlayerEvent>> {
        self.events.take()
    }

    /// Stops handing out frames (the stream keeps arriving; a live stream
    /// resumes at the live edge).
    pub fn pause(&self) -> Result<(), PlayerError> {
        self.send(Command::Pause)
    }

    /// Hands out frames again, from the live edge.
    pub fn resume(&self) -> Result<(), PlayerError> {
        self.send(Command::Resume)
    }

    /// Mutes or unmutes the audio.
    pub fn mute(&self, muted: bool) -> Result<(), PlayerError> {
        self.send(Command::Mute(muted))
    }

    /// Saves the frame on display (the view, when there is one) as a PNG;
    /// waits until it is written.
    pub fn snapshot(&self, path: &Path) -> Result<(), PlayerError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Snapshot(path.to_path_buf(), reply))?;
        answer.recv().map_err(|_| PlayerError::Stopped)?
    }

    /// Stops and returns the totals.
    pub fn stop(mut self) -> Result<PlaySummary, PlayerError> {
        let _ = self.commands.send(Command::Stop);
        self.join()
    }

    /// Waits for the end (stream end, frame limit or timeout).
    pub fn wait(mut self) -> Result<PlaySummary, PlayerError> {
        self.join()
    }

    fn join(&mut self) -> Result<PlaySummary, PlayerError> {
        let thread = self.thread.take().ok_or(PlayerError::Stopped)?;
        thread.join().map_err(|_| PlayerError::Stopped)?
    }

    fn send(&self, command: Command) -> Result<(), PlayerError> {
        self.commands
            .send(command)
            .map_err(|_| PlayerError::Stopped)
    }
}

impl Drop for LivePlayer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.commands.send(Command::Stop);
            let _ = self.join();
        }
    }
}

/// Where stream messages come from.
enum Input {
    Rtmp(PlayClient),
    File {
        reader: FlvReader<BufReader<File>>,
        ended: bool,
    },
}

impl Input {
    fn next(&mut self, wait: Duration) -> Result<Option<PlayMessage>, PlayError> {
        match self {
            Input::Rtmp(client) => client.recv_timeout(wait),
            Input::File { reader, ended } => loop {
                if *ended {
                    std::thread::sleep(wait);
                    return Ok(None);
                }
                let tag = match reader.next_tag() {
                    Ok(Some(tag)) => tag,
                    Ok(None) | Err(_) => {
                        // A truncated tail ends the file like its end does.
                        *ended = true;
                        return Ok(Some(PlayMessage::StreamEnd));
                    }
                };
                return Ok(Some(match tag.kind {
                    TagKind::Video => PlayMessage::Video {
                        timestamp_ms: tag.timestamp_ms,
                        body: tag.body,
                    },
                    TagKind::Audio => PlayMessage::Audio {
                        timestamp_ms: tag.timestamp_ms,
                        body: tag.body,
                    },
                    TagKind::Script => match flv::parse_stream_metadata(&tag.body) {
                        Ok(metadata) => PlayMessage::Metadata(metadata),
                        Err(_) => continue,
                    },
                }));
            },
        }
    }
}

/// The player thread.
struct PlayLoop {
    config: PlayerConfig,
    renderer: Option<ViewRenderer>,
    sink: Option<FrameSink>,
    /// The frame on display, for snapshots.
    shown: Option<I420Frame>,
    commands: Receiver<Command>,
    events: Sender<PlayerEvent>,
    decoder: Option<VideoDecoder>,
    buffer: JitterBuffer,
    summary: PlaySummary,
    tally: Option<StampTally>,
    reference: Option<ReferenceClip>,
    psnr: Vec<f64>,
    first_key_seen: bool,
    playing_reported: bool,
    paused: bool,
    draining: bool,
    /// A live connection (paced by the jitter buffer), not a file.
    realtime: bool,
    /// 2104 was reported and arrival has not settled since.
    unstable_reported: bool,
    meter: Meter,
    sound: sound::SoundTrack,
    /// A video message has arrived (else the sound keeps its own clock).
    video_seen: bool,
    /// Presentation time of the first frame displayed, ms.
    first_video_pts: Option<u64>,
    /// (stamp, presentation ms) of displayed frames, for the A/V offset.
    stamp_times: Vec<(u32, u64)>,
    /// Frame interval from the metadata, ms.
    frame_ms: Option<f64>,
    /// An unsupported audio codec was reported (once).
    audio_codec_reported: bool,
}

#[derive(Default)]
struct Meter {
    since: Option<Instant>,
    bytes: u64,
    audio_bytes: u64,
    frames: u64,
    last_arrival: Option<(Instant, u64)>,
    jitter_ms: f64,
}

impl PlayLoop {
    fn new(
        config: PlayerConfig,
        renderer: Option<ViewRenderer>,
        sink: Option<FrameSink>,
        audio: Option<AudioSink>,
        commands: Receiver<Command>,
        events: Sender<PlayerEvent>,
    ) -> Self {
        let (min, max) = config.cache_bounds();
        let tally = config.verify_stamps.then(StampTally::default);
        let sound = sound::SoundTrack::new(min, config.muted, config.audio_output.clone(), audio);
        Self {
            renderer,
            sink,
            shown: None,
            commands,
            events,
            decoder: None,
            buffer: JitterBuffer::new(min, max),
            summary: PlaySummary::default(),
            tally,
            reference: None,
            psnr: Vec::new(),
            first_key_seen: false,
            playing_reported: false,
            paused: false,
            draining: false,
            realtime: true,
            unstable_reported: false,
            meter: Meter::default(),
            sound,
            video_seen: false,
            first_video_pts: None,
            stamp_times: Vec::new(),
            frame_ms: None,
            audio_codec_reported: false,
            config,
        }
    }

    fn emit(&self, code: PlayCode, message: impl Into<String>) {
        let _ = self
            .events
            .send(PlayerEvent::Play(PlayEvent::new(code, message)));
    }

    fn run(mut self) -> Result<PlaySummary, PlayerError> {
        let started = Instant::now();
        if let Some(path) = &self.config.reference {
            let clip = ReferenceClip::open(path).map_err(PlayerError::Reference)?;
            self.reference = Some(clip);
        }
        if let Some(path) = &self.config.audio_output {
            // Fail now, not when the first sound arrives.
            File::create(path).map_err(|source| PlayerError::Output {
                path: path.clone(),
                source,
            })?;
        }
        let mut input = self.open_input()?;
        let deadline = self.config.timeout.map(|t| started + t);
        let realtime = matches!(input, Input::Rtmp(_));
        self.realtime = realtime;
        self.emit(PlayCode::Loading, "loading");
        'play: loop {
            while let Ok(command) = self.commands.try_recv() {
                match command {
                    Command::Stop => break 'play,
                    Command::Pause => self.paused = true,
                    Command::Resume => {
                        if std::mem::take(&mut self.paused) {
                            // Back to the live edge.
                            self.buffer.restart();
                            self.sound.restart();
                            self.playing_reported = false;
                        }
                    }
                    Command::Mute(muted) => {
                        self.config.muted = muted;
                        self.sound.set_muted(muted);
                    }
                    Command::Snapshot(path, reply) => {
                        let result = match &self.shown {
                            Some(frame) => i420_to_rgb_image(frame).save(&path).map_err(|source| {
                                PlayerError::Snapshot {
                                    path: path.clone(),
                                    source,
                                }
                            }),
                            None => Err(PlayerError::Config("no frame has been shown yet".into())),
                        };
                        let _ = reply.send(result);
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if self
                .config
                .max_frames
                .is_some_and(|limit| self.summary.frames_displayed >= limit)
            {
                break;
            }
            let now = Instant::now();
            let wait = self
                .buffer
                .next_due()
                .map(|due| due.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(10))
                .min(Duration::from_millis(10));
            let wait = if realtime { wait } else { Duration::ZERO };
            match input.next(wait) {
                Ok(Some(message)) => self.take(message)?,
                Ok(None) => {}
                Err(error) => {
                    self.emit(error.play_code(), error.to_string());
                    if !error.is_retryable() {
                        let _ = self.events.send(PlayerEvent::Error(error.to_string()));
                        return Err(PlayerError::Rejected(error));
                    }
                    input = self.reconnect()?;
                    continue;
                }
            }
            let now = if realtime {
                Instant::now()
            } else {
                // A file plays as fast as it decodes.
                Instant::now() + Duration::from_secs(3600 * 24)
            };
            let (due, report) = self.buffer.release(now, self.draining || !realtime);
            if report.started && !self.playing_reported {
                self.playing_reported = true;
                self.emit(PlayCode::PlaybackBegins, "playback begins");
            }
            if report.skipped > 0 {
                self.summary.frames_skipped += report.skipped;
                self.emit(
                    PlayCode::Discontinuity,
                    format!("skipped {} frames to catch up", report.skipped),
                );
            }
            if report.stalled {
                self.emit(PlayCode::Stutter, "the cache ran dry");
                self.emit(PlayCode::Loading, "loading");
            }
            for frame in due {
                self.decode(&frame)?;
            }
            self.play_sound(now)?;
            if self.draining && self.buffer.is_empty() {
                self.play_sound(now)?;
                break;
            }
            self.report();
        }
        self.flush_decoder()?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        if let Some(tally) = &self.tally {
            self.summary.stamps = Some(StampCounts {
                stamped: tally.stamped,
                distinct: tally.distinct(),
                unreadable: tally.unreadable,
                lost: tally.lost,
                repeated: tally.repeated,
                out_of_order: tally.out_of_order,
                highest: tally.highest(),
            });
        }
        self.summary.psnr = Spread::of(&self.psnr);
        self.play_sound(Instant::now())?;
        let frame_ms = self.frame_ms.or_else(|| frame_interval(&self.stamp_times));
        let sound = std::mem::replace(
            &mut self.sound,
            sound::SoundTrack::new(Duration::ZERO, false, None, None),
        );
        self.summary.audio = sound.finish(self.first_video_pts, &self.stamp_times, frame_ms)?;
        if let Input::Rtmp(client) = input {
            client.close();
        }
        Ok(self.summary)
    }

    fn open_input(&mut self) -> Result<Input, PlayerError> {
        if self.config.is_file() {
            let path = PathBuf::from(&self.config.play_url);
            let file = File::open(&path).map_err(|source| PlayerError::Input {
                path: path.clone(),
                source,
            })?;
            let reader =
                FlvReader::new(BufReader::new(file)).map_err(|source| PlayerError::Flv {
                    path: path.clone(),
                    source,
                })?;
            self.emit(PlayCode::Connected, format!("reading {}", path.display()));
            self.emit(PlayCode::StreamBegins, "stream begins");
            return Ok(Input::File {
                reader,
                ended: false,
            });
        }
        self.connect(0)
    }

    /// Connects, retrying per the policy from attempt `first_attempt`.
    fn connect(&mut self, first_attempt: u32) -> Result<Input, PlayerError> {
        let url = RtmpUrl::parse(&self.config.play_url)?;
        let policy = self.config.reconnect.clone();
        let mut attempt = first_attempt;
        let since = Instant::now();
        loop {
            let events = self.events.clone();
            let result = PlayClient::connect(&url, &self.config.connection, &mut |event| {
                let _ = events.send(PlayerEvent::Play(event));
            });
            match result {
                Ok(client) => return Ok(Input::Rtmp(client)),
                Err(error) => {
                    self.emit(error.play_code(), error.to_string());
                    if !error.is_retryable() {
                        let _ = self.events.send(PlayerEvent::Error(error.to_string()));
                        return Err(PlayerError::Rejected(error));
                    }
                    attempt += 1;
                    if let Some(message) = policy.give_up(&url, attempt, since.elapsed()) {
                        self.emit(PlayCode::Disconnected, message.clone());
                        return Err(PlayerError::Disconnected(message));
                    }
                    self.emit(
                        PlayCode::Reconnecting,
                        format!("reconnecting (attempt {attempt} of {})", policy.attempts),
                    );
                    std::thread::sleep(policy.backoff(attempt));
                }
            }
        }
    }

    fn reconnect(&mut self) -> Result<Input, PlayerError> {
        self.buffer.restart();
        self.sound.restart();
        self.playing_reported = false;
        self.emit(PlayCode::Reconnecting, "connection lost; reconnecting");
        let input = self.connect(0)?;
        self.summary.reconnects += 1;
        Ok(input)
    }

    /// Takes one message from the stream.
    fn take(&mut self, message: PlayMessage) -> Result<(), PlayerError> {
        match message {
            PlayMessage::Metadata(metadata) => {
                if metadata.width > 0 && metadata.height > 0 {
                    self.summary.width = metadata.width;
                    self.summary.height = metadata.height;
                }
                if metadata.frame_rate.is_finite() && metadata.frame_rate > 0.0 {
                    self.frame_ms = Some(1000.0 / metadata.frame_rate);
                }
            }
            PlayMessage::Video { timestamp_ms, body } => {
                self.video_seen = true;
                self.note_arrival(timestamp_ms, body.len());
                match flv::parse_video_body(&body) {
                    Ok(VideoBody::SequenceHeader(record)) => self.configure(record),
                    Ok(VideoBody::Nalu {
                        key_frame,
                        composition_time_ms,
                        data,
                    }) => {
                        self.summary.frames_received += 1;
                        if key_frame && !self.first_key_seen {
                            self.first_key_seen = true;
                            self.emit(PlayCode::FirstKeyFrame, "first key frame received");
                        }
                        let dts = u64::from(timestamp_ms);
                        let pts = (dts as i64 + i64::from(composition_time_ms)).max(0) as u64;
                        let frame = EncodedVideo {
                            dts_ms: dts,
                            pts_ms: pts,
                            key_frame,
                            data: body.slice_ref(data),
                        };
                        if !self.realtime {
                            // A file is decoded as fast as it reads.
                            self.decode(&frame)?;
                        } else if !self.buffer.push(frame) {
                            self.summary.frames_skipped += 1;
                        }
                    }
                    Ok(VideoBody::EndOfSequence) => {}
                    Err(error) => {
                        self.summary.decode_errors += 1;
                        self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                    }
                }
            }
            PlayMessage::Audio { timestamp_ms, body } => self.take_audio(timestamp_ms, body),
            PlayMessage::StreamEnd => {
                self.emit(PlayCode::StreamEnded, "the stream ended");
                self.draining = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// An audio message: the AAC configuration, or a unit for the queue.
    fn take_audio(&mut self, timestamp_ms: u32, body: bytes::Bytes) {
        self.meter.bytes += body.len() as u64;
        self.meter.audio_bytes += body.len() as u64;
        match flv::parse_audio_body(&body) {
            Ok(AudioBody::AacSequenceHeader(config)) => {
                if let Err(reason) = self.sound.configure(config) {
                    self.emit(PlayCode::AudioDecodeFailed, reason);
                }
            }
            Ok(AudioBody::AacRaw(unit)) => {
                let unit = body.slice_ref(unit);
                self.sound.push(u64::from(timestamp_ms), unit);
            }
            Ok(AudioBody::Other { format, .. }) => {
                if !self.audio_codec_reported {
                    self.audio_codec_reported = true;
                    self.emit(
                        PlayCode::AudioDecodeFailed,
                        format!("audio format {format} is not AAC; the sound is ignored"),
                    );
                }
            }
            Err(error) => self.emit(PlayCode::AudioDecodeFailed, error.to_string()),
        }
    }

    /// Decodes the sound that is due: with the picture's clock, by its own
    /// clock on an audio-only stream, all of it from a file or at the end.
    fn play_sound(&mut self, now: Instant) -> Result<(), PlayerError> {
        if self.paused {
            self.sound.restart();
            return Ok(());
        }
        let flush = !self.realtime || self.draining;
        let position = self.buffer.position(now);
        let outcome = self.sound.release(now, position, self.video_seen, flush);
        for failure in outcome.decode_errors {
            self.emit(PlayCode::AudioDecodeFailed, failure);
        }
        match outcome.output_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn configure(&mut self, record: &[u8]) {
        let config = match AvcDecoderConfig::parse(record) {
            Ok(config) => config,
            Err(error) => {
                self.summary.decode_errors += 1;
                self.emit(
                    PlayCode::VideoDecodeFailed,
                    format!("bad AVC configuration: {error}"),
                );
                return;
            }
        };
        let size = config
            .sps
            .first()
            .and_then(|sps| parse_sps(sps).ok())
            .map(|info| (info.width, info.height));
        let first = self.decoder.is_none();
        if first {
            match VideoDecoder::new() {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(error) => {
                    self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                    return;
                }
            }
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        if let Err(error) = decoder.configure(&config) {
            self.summary.decode_errors += 1;
            self.emit(PlayCode::VideoDecodeFailed, error.to_string());
            return;
        }
        if first {
            self.emit(PlayCode::DecoderStarted, "decoder started");
        }
        if let Some((width, height)) = size {
            if (width, height) != (self.summary.width, self.summary.height) {
                if self.summary.width != 0 {
                    self.emit(
                        PlayCode::ResolutionChanged,
                        format!("resolution {width}x{height}"),
                    );
                }
                self.summary.width = width;
                self.summary.height = height;
            }
        }
    }

    fn decode(&mut self, frame: &EncodedVideo) -> Result<(), PlayerError> {
        let Some(decoder) = self.decoder.as_mut() else {
            // No sequence header yet: nothing can be decoded.
            self.summary.frames_skipped += 1;
            return Ok(());
        };
        match decoder.decode(&frame.data, frame.pts_ms) {
            Ok(pictures) => {
                for picture in pictures {
                    self.display(picture)?;
                }
            }
            Err(error) => {
                self.summary.decode_errors += 1;
                self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                // Recover at the next key frame.
                self.buffer.restart();
            }
        }
        Ok(())
    }

    fn flush_decoder(&mut self) -> Result<(), PlayerError> {
        let pictures = match self.decoder.as_mut().map(VideoDecoder::flush) {
            Some(Ok(pictures)) => pictures,
            Some(Err(error)) => {
                self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                Vec::new()
            }
            None => Vec::new(),
        };
        for picture in pictures {
            if self
                .config
                .max_frames
                .is_some_and(|limit| self.summary.frames_displayed >= limit)
            {
                break;
            }
            self.display(picture)?;
        }
        Ok(())
    }

    fn display(&mut self, picture: I420Frame) -> Result<(), PlayerError> {
        if self.paused {
            return Ok(());
        }
        let stamp = match &mut self.tally {
            Some(tally) => tally.record(&picture),
            None => None,
        };
        let pts = picture.timestamp.as_millis() as u64;
        self.first_video_pts.get_or_insert(pts);
        if let Some(stamp) = stamp {
            self.stamp_times.push((stamp, pts));
        }
        let index = self.summary.frames_displayed;
        if let Some(reference) = &mut self.reference {
            let wanted = stamp.map_or(index, u64::from);
            if let Ok(Some(original)) = reference.frame(wanted) {
                if let Some(psnr) = verify::luma_psnr(original, &picture) {
                    self.psnr.push(psnr.min(100.0));
                }
            }
        }
        let shown = match &mut self.renderer {
            Some(renderer) => match renderer.render(&picture) {
                Ok(view) => view,
                Err(error) => return Err(PlayerError::Render(error)),
            },
            None => picture,
        };
        if let Some(sink) = &mut self.sink {
            sink(
                &shown,
                Displayed {
                    index,
                    at: Instant::now(),
                    stamp,
                },
            )
            .map_err(PlayerError::Sink)?;
        }
        self.shown = Some(shown);
        self.summary.frames_displayed += 1;
        self.meter.frames += 1;
        Ok(())
    }

    fn note_arrival(&mut self, timestamp_ms: u32, bytes: usize) {
        let now = Instant::now();
        self.meter.bytes += bytes as u64;
        if let Some((last_at, last_ts)) = self.meter.last_arrival {
            // RFC 3550: how much arrival spacing differs from stream spacing.
            let arrival = now.duration_since(last_at).as_secs_f64() * 1000.0;
            let stream = u64::from(timestamp_ms).saturating_sub(last_ts) as f64;
            let difference = (arrival - stream).abs();
            self.meter.jitter_ms += (difference - self.meter.jitter_ms) / 16.0;
        }
        self.meter.last_arrival = Some((now, u64::from(timestamp_ms)));
    }

    fn report(&mut self) {
        let now = Instant::now();
        let since = *self.meter.since.get_or_insert(now);
        let elapsed = now.duration_since(since);
        if elapsed < self.config.net_status_interval {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let kbps = self.meter.bytes as f64 * 8.0 / 1000.0 / seconds;
        let audio_kbps = self.meter.audio_bytes as f64 * 8.0 / 1000.0 / seconds;
        let status = NetStatus {
            video_bitrate: kbps - audio_kbps,
            audio_bitrate: audio_kbps,
            video_fps: self.meter.frames as f64 / seconds,
            video_gop: 0.0,
            net_speed: kbps,
            net_jitter: self.meter.jitter_ms,
            video_width: self.summary.width,
            video_height: self.summary.height,
            video_cache: Some(self.buffer.cached().as_secs_f64()),
            audio_cache: Some(self.sound.cached().as_secs_f64()),
        };
        let _ = self.events.send(PlayerEvent::NetStatus(status));
        if self.playing_reported {
            self.emit(
                PlayCode::Progress,
                format!("{} frames shown", self.summary.frames_displayed),
            );
        }
        // Arrival spacing that wanders by more than a quarter of the cache
        // will soon stall playback: say so once, until it settles again.
        let (min_cache, _) = self.config.cache_bounds();
        let unstable = self.meter.jitter_ms > (min_cache.as_secs_f64() * 1000.0 / 4.0).max(20.0);
        if unstable && !self.unstable_reported {
            self.emit(
                PlayCode::DataUnstable,
                format!("arrival jitter {:.0} ms", self.meter.jitter_ms),
            );
        }
        self.unstable_reported = unstable;
        self.meter.since = Some(now);
        self.meter.bytes = 0;
        self.meter.audio_bytes = 0;
        self.meter.frames = 0;
    }
}

/// The frame interval (ms) from displayed stamps and their presentation
/// times, when the metadata did not give the frame rate.
fn frame_interval(stamps: &[(u32, u64)]) -> Option<f64> {
    let (first, last) = (stamps.first()?, stamps.last()?);
    let frames = f64::from(last.0) - f64::from(first.0);
    (frames > 0.0).then(|| (last.1 as f64 - first.1 as f64) / frames)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::audio::AudioFormat;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "liveroom-player-errors-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn not_flv(name: &str) -> PathBuf {
        let path = scratch(name).join("not.flv");
        std::fs::write(&path, b"this is not an FLV stream at all").expect("write");
        path
    }

    /// The player error is `Send + Sync + 'static`, so it can be boxed or
    /// sent across threads like any other error.
    #[test]
    fn errors_can_be_boxed_and_sent() {
        fn boxable<E: std::error::Error + Send + Sync + 'static>() {}
        boxable::<PlayerError>();
    }

    #[test]
    fn a_missing_reference_keeps_the_source_error() {
        let config = PlayerConfig {
            play_url: "rtmp://127.0.0.1/live/x".into(),
            reference: Some(scratch("reference").join("no-such-reference.y4m")),
            ..Default::default()
        };
        let error = config.validate().expect_err("a missing reference");
        assert!(error.to_string().starts_with("reference clip: cannot read"));
        assert!(matches!(
            error.source().and_then(|s| s.downcast_ref::<SourceError>()),
            Some(SourceError::Io { .. })
        ));
    }

    #[test]
    fn a_missing_flv_file_is_an_input_error_with_an_io_source() {
        let path = scratch("missing").join("no-such-stream.flv");
        let config = PlayerConfig {
            play_url: path.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let error = config.validate().expect_err("a missing file");
        assert!(error.to_string().starts_with("cannot read"), "{error}");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_file_that_is_not_flv_keeps_the_flv_error() {
        let config = PlayerConfig {
            play_url: not_flv("not-flv").to_string_lossy().into_owned(),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, None).expect("the settings are fine");
        let error = player.wait().expect_err("not an FLV file");
        assert!(error.to_string().starts_with("cannot read"), "{error}");
        assert!(
            matches!(
                error.source().and_then(|s| s.downcast_ref::<FlvError>()),
                Some(FlvError::NotFlv { .. })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_wav_file_that_cannot_be_created_keeps_the_io_error() {
        let wav = scratch("wav").join("no/such/dir/sound.wav");
        let config = PlayerConfig {
            play_url: not_flv("wav-input").to_string_lossy().into_owned(),
            audio_output: Some(wav.clone()),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, None).expect("the settings are fine");
        let error = player.wait().expect_err("the WAV cannot be created");
        assert!(matches!(&error, PlayerError::Output { path, .. } if *path == wav));
        assert!(error.to_string().starts_with("cannot write"), "{error}");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn failing_sinks_are_the_source() {
        let frame = I420Frame::black(16, 16).expect("frame");
        let shown = Displayed {
            index: 3,
            at: Instant::now(),
            stamp: None,
        };
        let mut sink: FrameSink = Box::new(|_, shown| {
            if shown.index > 2 {
                Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the preview went away",
                ))?;
            }
            Ok(())
        });
        let error = PlayerError::Sink(sink(&frame, shown).expect_err("fails"));
        assert_eq!(error.to_string(), "sink: the preview went away");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe);

        let format = AudioFormat::new(48_000, 2).expect("format");
        let mut audio: AudioSink = Box::new(|_, _, ms| Err(format!("no room at {ms} ms").into()));
        let error = PlayerError::Sink(audio(&[0.0; 4], format, 40).expect_err("fails"));
        assert_eq!(error.to_string(), "sink: no room at 40 ms");
        assert_eq!(
            error.source().map(ToString::to_string).as_deref(),
            Some("no room at 40 ms")
        );
    }
}
