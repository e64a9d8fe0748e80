//! The pusher's sound: the microphone and the BGM mixed on the push
//! thread, rendered in step with the video's stream clock so that both
//! tracks share one timeline.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::audio::{
    AudioFormat, AudioMixer, AudioSource, BgmEvent, FileSource, SilenceSource, ToneSource,
};

use super::{AudioInput, PushError, PusherConfig};

/// What the application asked the music to do.
pub(super) enum BgmCommand {
    Play(PathBuf, Sender<Result<(), PushError>>),
    Stop,
    Pause,
    Resume,
    Volume(f32),
}

/// The mixer and how much of the timeline it has rendered.
pub(super) struct AudioFeed {
    mixer: AudioMixer,
    format: AudioFormat,
    /// Sample frames rendered since stream time 0.
    rendered: u64,
    background_mute: bool,
    /// The microphone is a file, whose end can end an audio-only push.
    file_microphone: bool,
}

impl AudioFeed {
    /// The feed for `config`; `None` when the stream has no audio track.
    pub(super) fn open(config: &PusherConfig) -> Result<Option<Self>, PushError> {
        let Some(format) = config.audio_format()? else {
            return Ok(None);
        };
        let microphone: Box<dyn AudioSource> = match &config.audio {
            AudioInput::Off => return Ok(None),
            AudioInput::Silence => Box::new(SilenceSource::new(format)),
            AudioInput::Tone => Box::new(ToneSource::sync_beeps(format)),
            AudioInput::File(path) => {
                Box::new(FileSource::open(path, format).map_err(PushError::Microphone)?)
            }
        };
        let mut mixer = AudioMixer::new(microphone);
        mixer.set_muted(config.muted);
        Ok(Some(Self {
            mixer,
            format,
            rendered: 0,
            background_mute: config.background_mute,
            file_microphone: matches!(config.audio, AudioInput::File(_)),
        }))
    }

    /// The stream's audio format.
    pub(super) fn format(&self) -> AudioFormat {
        self.format
    }

    /// The mix from where the last call stopped up to stream time `until`.
    /// In the background with `backgroundMute` it is silence.
    pub(super) fn render_until(
        &mut self,
        until: Duration,
        background: bool,
    ) -> Result<Vec<f32>, PushError> {
        let target = self.format.frames_until(until.as_secs_f64());
        let frames = target.saturating_sub(self.rendered) as usize;
        let mut samples = Vec::with_capacity(self.format.samples(frames));
        if frames > 0 {
            self.mixer
                .render(frames, background && self.background_mute, &mut samples)
                .map_err(PushError::Microphone)?;
            self.rendered = target;
        }
        Ok(samples)
    }

    /// Applies a BGM command.
    pub(super) fn bgm(&mut self, command: BgmCommand) {
        match command {
            BgmCommand::Play(path, reply) => {
                let result = self.mixer.play_bgm(&path).map_err(PushError::Bgm);
                let _ = reply.send(result);
            }
            BgmCommand::Stop => self.mixer.stop_bgm(),
            BgmCommand::Pause => self.mixer.pause_bgm(),
            BgmCommand::Resume => self.mixer.resume_bgm(),
            // Checked by the caller.
            BgmCommand::Volume(volume) => {
                let _ = self.mixer.set_bgm_volume(volume);
            }
        }
    }

    /// `muted`.
    pub(super) fn set_muted(&mut self, muted: bool) {
        self.mixer.set_muted(muted);
    }

    /// Seconds of sound rendered so far.
    pub(super) fn seconds(&self) -> f64 {
        self.rendered as f64 / f64::from(self.format.sample_rate)
    }

    /// BGM events since the last call.
    pub(super) fn take_events(&mut self) -> Vec<BgmEvent> {
        self.mixer.take_events()
    }

    /// A file microphone has run out.
    pub(super) fn microphone_ended(&self) -> bool {
        self.file_microphone && self.mixer.microphone_ended()
    }
}
