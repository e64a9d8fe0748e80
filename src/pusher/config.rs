//! The pusher's settings: [`PusherConfig`] (the plugin's attributes) with
//! its checks, and [`AudioInput`], where the stream's own sound comes from.

use std::path::PathBuf;
use std::time::Duration;

use super::{PushError, ReconnectPolicy};
use crate::audio::{AudioFormat, AudioQuality};
use crate::effects::EffectParams;
use crate::encoder::BitrateRange;
use crate::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
use crate::landmarks::{DEFAULT_MAX_FACES, MAX_FACES};
use crate::rtmp::{PublisherConfig, RtmpUrl};

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
    /// `beauty`/`whiteness` or the custom effect, already resolved (with
    /// the background blur strength).
    pub effects: EffectParams,
    /// A picture to show behind the person instead of the background,
    /// scaled to cover the output (blurred by the background blur
    /// strength, if any). The person segmenter loads at start when this is
    /// set or the push starts with a background blur, else when
    /// `set_effects` or `LivePusher::set_background_image` first turns a
    /// background effect on mid-push.
    pub background_image: Option<PathBuf>,
    /// The colour filter's look-up table, blended at the effects'
    /// [`EffectParams::filter_strength`]; `None` filters nothing.
    pub filter: Option<std::sync::Arc<crate::effects::Lut>>,
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
    /// Most faces the built-in landmarker follows and beautifies,
    /// 1..=[`MAX_FACES`] (default [`DEFAULT_MAX_FACES`]).
    pub max_faces: usize,
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
            background_image: None,
            filter: None,
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
            max_faces: DEFAULT_MAX_FACES,
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
        if !(1..=MAX_FACES).contains(&self.max_faces) {
            return Err(PushError::Config(format!(
                "max faces must be from 1 to {MAX_FACES}, not {}",
                self.max_faces
            )));
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

/// Whether frames are paced at the source's rate: when pushing to a URL,
/// unless the config says otherwise.
pub(super) fn pace_of(config: &PusherConfig) -> bool {
    config.pace.unwrap_or(config.push_url.is_some())
}
