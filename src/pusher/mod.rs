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
//! deliver them; writing only a file runs as fast as it can. A paced push
//! that falls more than half a second behind real time raises warning 1110
//! ([`PushCode::FallingBehind`](crate::events::PushCode::FallingBehind)),
//! again at most every 5 s while it stays behind, and every `netStatus`
//! says how late the last frame went out (`behindMs`). A still image the
//! pipeline would scale down gets its geometry applied once, before the
//! first frame (see [`FrameSource::prepare_for_output`]); faces found on it
//! are then in output pixels.
//!
//! This file holds `LivePusher` and its public types; the settings are in
//! `config`, [`PushError`] in `error`, and the push thread in `push_loop`.

mod audio_feed;
mod background_stage;
mod bitrate;
mod config;
mod error;
mod faces;
mod output;
mod push_loop;
mod uplink;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use serde::Serialize;

/// The reconnect policy, which lives in [`crate::rtmp`] (the player follows
/// it too); re-exported here where it used to be.
pub use crate::rtmp::ReconnectPolicy;
pub use config::{AudioInput, PusherConfig};
pub use error::PushError;
pub use faces::FaceInput;

pub use crate::CallbackError;

use crate::audio::BgmEvent;
use crate::color::rgb_image_to_i420;
use crate::effects::EffectParams;
use crate::events::{PushEvent, PushNetStatus};
use crate::face::{PersonSegmenter, SegmentationPaths};
use crate::frame::I420Frame;
use crate::geometry::OutputSize;
use crate::landmarks::FaceLandmarks;
use crate::pipeline::FramePipeline;
use crate::source::FrameSource;
use crate::window::{VideoWindow, WindowEvent, WindowOptions};
use crate::GpuContext;
use audio_feed::{AudioFeed, BgmCommand};
use background_stage::BackgroundStage;
use config::pace_of;
use faces::FaceFeed;
use push_loop::PushLoop;

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
    /// Periodic statistics (`behindMs` besides the shared figures).
    NetStatus(PushNetStatus),
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
    SetFilter(Option<std::sync::Arc<crate::effects::Lut>>),
    Bgm(BgmCommand),
    Mute(bool),
    Preview(Option<Preview>),
    Stop,
}

/// The preview window and its events, held by the push thread.
struct Preview {
    window: VideoWindow,
    events: Option<Receiver<WindowEvent>>,
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

/// The pusher runs the person segmenter on every this many frames (see
/// [`PersonSegmenter::with_interval`]): every frame, since every other one
/// lets the edge jitter by 2.45 px RMS on the panning clip (1.38 on every
/// frame; `tests/segmentation.rs`), past the 2 px aimed at.
const SEGMENT_INTERVAL: u32 = 1;

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
        // The background effects: the segmenter on the landmarker's thread,
        // loaded only when the push starts with one of them on.
        let background_on =
            config.effects.background_blur() > 0.0 || config.background_image.is_some();
        let (segmenter, background) = if background_on {
            let segmenter = PersonSegmenter::new(&SegmentationPaths::from_env())?
                .with_interval(SEGMENT_INTERVAL);
            let stage = BackgroundStage::new(
                &gpu,
                config.background_image.as_deref(),
                size.width(),
                size.height(),
            )?;
            (Some(segmenter), Some(stage))
        } else {
            (None, None)
        };
        let feed = FaceFeed::new(
            faces,
            config.effects.has_warp() || config.effects.has_color_effect(),
            lookahead,
            config.max_faces,
            segmenter,
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
                    behind: Default::default(),
                    background,
                    preview: None,
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

    /// Changes the colour filter's look-up table from the next frame
    /// (`None`: no filter); its strength is the effects'
    /// [`EffectParams::filter_strength`]. The GPU gets the new table once.
    pub fn set_filter(
        &self,
        filter: Option<std::sync::Arc<crate::effects::Lut>>,
    ) -> Result<(), PushError> {
        self.send(Command::SetFilter(filter))
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

    /// The plugin's `startPreview`: opens a desktop window showing the
    /// processed picture (what is encoded) while the push runs, replacing
    /// an open one. Closing the window (or `q` in it) closes only the
    /// preview; the push goes on. [`PushError::Preview`] where no window
    /// can be opened (no display).
    pub fn start_preview(&self, options: WindowOptions) -> Result<(), PushError> {
        let mut window = VideoWindow::open(options).map_err(PushError::Preview)?;
        let events = window.events();
        self.send(Command::Preview(Some(Preview { window, events })))
    }

    /// The plugin's `stopPreview`: closes the preview window, if open.
    pub fn stop_preview(&self) -> Result<(), PushError> {
        self.send(Command::Preview(None))
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
