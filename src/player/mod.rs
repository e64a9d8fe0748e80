//! `LivePlayer`: the player component. It pulls a stream (RTMP, or an FLV
//! file for offline checks), holds it in a jitter buffer, decodes it with
//! openh264 and hands every displayed frame to the application, with the
//! plugin's events; and it can verify what arrived (frame stamps, PSNR
//! against a reference clip). AAC sound is decoded with symphonia in step
//! with the picture, handed out (silence while `muted`) and optionally
//! written to a WAV file and played on the default output device
//! ([`Speaker`]); the summary says how far sound and picture are apart.
//!
//! The plugin's attributes map onto [`PlayerConfig`] (`playUrl` →
//! `play_url`, `minCache`/`maxCache`, `mode`, `muted`); its methods onto
//! [`LivePlayer`]: `start`, `stop`, `pause`, `resume`, `mute`. Phone-only
//! ones (`soundMode`, `pictureInPictureMode`) have no meaning here;
//! `requestFullScreen` belongs to the player window ([`crate::window`]).
//!
//! This file holds `LivePlayer`, its settings and the public types; the
//! player thread is in `play_loop` (its stream source in `input`), and
//! [`PlayerError`] in `error`.

#[cfg(target_os = "linux")]
mod alsa_quiet;
mod buffer;
mod error;
mod http_flv;
mod input;
mod play_loop;
mod sound;
mod speaker;
pub mod verify;
mod view;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use crate::CallbackError;
pub use buffer::{BufferState, EncodedVideo, JitterBuffer, ReleaseReport};
pub use error::PlayerError;
pub use http_flv::{HttpFlvClient, HttpFlvUrl};
pub use sound::{AudioSink, AudioSummary};
pub use speaker::{Speaker, SpeakerError, MAX_QUEUED};
pub use verify::{ReferenceClip, Spread, StampTally};
pub use view::{ObjectFit, ViewConfig, ViewRenderer};

use crate::events::{NetStatus, PlayEvent};
use crate::frame::I420Frame;
use crate::rtmp::play::PlayConfig;
use crate::rtmp::{ReconnectPolicy, RtmpUrl};
use crate::GpuContext;
use play_loop::PlayLoop;

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
    /// `playUrl`: `rtmp://…`, `http://HOST[:PORT]/APP/STREAM.flv`
    /// (HTTP-FLV; `https://` is refused), or a path to an `.flv` file.
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
    /// Write the sound received to this WAV file (16-bit PCM). It is a
    /// valid WAV file from the start: when no sound comes (no audio, or
    /// audio that is not AAC) it holds a header and no samples (44.1 kHz
    /// stereo), and a 2102 at the end says why.
    pub audio_output: Option<PathBuf>,
    /// Play the sound on the system's default output device as the play
    /// clock reaches it (silence while `muted`). The device is opened as
    /// the player starts: without one, [`LivePlayer::start`] fails with
    /// [`PlayerError::Speaker`]. Playing ends once the device has played
    /// what it was given.
    pub speaker: bool,
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
    /// Reconnect attempts and back-off. A connection that brings no media
    /// (a name nobody publishes: it fails after
    /// [`PlayConfig::idle_timeout`]) counts as a failed attempt, and the
    /// time budget ([`ReconnectPolicy::give_up_after`]) counts from the
    /// last media (or the start) even while connected: with the defaults
    /// (10 s no-media timeout, 25 s budget) a stream that never comes is
    /// given up (-2301) 25 s after the start, and a publisher that comes
    /// within those 25 s is played.
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
            speaker: false,
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
        if self.is_http() {
            http_flv::HttpFlvUrl::parse(&self.play_url).map_err(PlayerError::Config)?;
        } else if self.is_file() {
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

    /// An `http://` or `https://` URL (the latter refused by
    /// validation).
    fn is_http(&self) -> bool {
        let scheme = |prefix: &str| {
            self.play_url
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        scheme("http://") || scheme("https://")
    }

    fn is_file(&self) -> bool {
        !self.play_url.starts_with("rtmp://")
            && !self.is_http()
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
    /// The plugin's `fullscreenChange`: the player window (`liveroom play
    /// --window`, [`crate::window::VideoWindow`]) went full screen (`true`)
    /// or back. The player thread never sends it; the window's owner does.
    FullscreenChange(bool),
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
        let speaker = if config.speaker {
            Some(Speaker::open_default().map_err(PlayerError::Speaker)?)
        } else {
            None
        };
        let (commands, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("liveroom-play".into())
            .spawn(move || {
                PlayLoop::new(config, renderer, sink, audio, speaker, inbox, outbox).run()
            })
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

    /// Whether the player has ended (stream end, frame limit, timeout or
    /// an error); [`LivePlayer::wait`] then returns at once.
    pub fn is_finished(&self) -> bool {
        self.thread
            .as_ref()
            .is_none_or(|thread| thread.is_finished())
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
