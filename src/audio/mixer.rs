//! The pusher's mixer: the microphone (or silence when muted) plus the
//! background music at its volume, through a limiter so the sum never
//! clips, with the plugin's BGM controls and events.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::source::{AudioSource, FileSource};
use super::{AudioError, AudioFormat};

/// The limiter's ceiling: peaks are held just under full scale.
const CEILING: f32 = 0.98;

/// How fast the limiter's gain comes back after a peak (time constant).
const RELEASE: Duration = Duration::from_millis(80);

/// What the background music is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BgmState {
    /// No music.
    Idle,
    /// Playing into the mix.
    Playing,
    /// Held at its position.
    Paused,
}

/// The plugin's BGM callbacks.
#[derive(Debug, Clone, PartialEq)]
pub enum BgmEvent {
    /// `bgmStart`: the music started.
    Start {
        /// The file.
        path: PathBuf,
        /// Its length, when the file states it.
        duration: Option<Duration>,
    },
    /// `bgmProgress`: about once a second of music played.
    Progress {
        /// Played so far.
        progress: Duration,
        /// Its length, when known.
        duration: Option<Duration>,
    },
    /// `bgmComplete`: the music reached its end.
    Complete {
        /// The file.
        path: PathBuf,
    },
}

struct Bgm {
    path: PathBuf,
    source: FileSource,
    duration: Option<Duration>,
    played_frames: u64,
    reported_seconds: u64,
    paused: bool,
}

/// Microphone plus background music, rendered a block at a time in the
/// stream's format.
pub struct AudioMixer {
    format: AudioFormat,
    microphone: Box<dyn AudioSource>,
    microphone_ended: bool,
    muted: bool,
    bgm: Option<Bgm>,
    bgm_volume: f32,
    gain: f32,
    release_per_frame: f32,
    events: Vec<BgmEvent>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for AudioMixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioMixer")
            .field("format", &self.format)
            .field("microphone", &self.microphone.describe())
            .field("muted", &self.muted)
            .field("bgm_state", &self.bgm_state())
            .finish_non_exhaustive()
    }
}

impl AudioMixer {
    /// A mixer in the microphone's format.
    pub fn new(microphone: Box<dyn AudioSource>) -> Self {
        let format = microphone.format();
        let release_frames = RELEASE.as_secs_f32() * format.sample_rate as f32;
        Self {
            format,
            microphone,
            microphone_ended: false,
            muted: false,
            bgm: None,
            bgm_volume: 1.0,
            gain: 1.0,
            release_per_frame: 1.0 - (-1.0 / release_frames).exp(),
            events: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The format it renders.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// `muted`: silence instead of the microphone (the music still plays).
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Whether the microphone is muted.
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// Whether a file microphone has run out (it is silent from then on).
    pub fn microphone_ended(&self) -> bool {
        self.microphone_ended
    }

    /// `playBGM`: starts `path` from its beginning, replacing any music.
    pub fn play_bgm(&mut self, path: &Path) -> Result<(), AudioError> {
        let source = FileSource::open(path, self.format)?;
        let duration = source.duration();
        self.bgm = Some(Bgm {
            path: path.to_path_buf(),
            source,
            duration,
            played_frames: 0,
            reported_seconds: 0,
            paused: false,
        });
        self.events.push(BgmEvent::Start {
            path: path.to_path_buf(),
            duration,
        });
        Ok(())
    }

    /// `stopBGM`.
    pub fn stop_bgm(&mut self) {
        self.bgm = None;
    }

    /// `pauseBGM`.
    pub fn pause_bgm(&mut self) {
        if let Some(bgm) = &mut self.bgm {
            bgm.paused = true;
        }
    }

    /// `resumeBGM`.
    pub fn resume_bgm(&mut self) {
        if let Some(bgm) = &mut self.bgm {
            bgm.paused = false;
        }
    }

    /// `setBGMVolume`: 0 (silent) to 1 (as recorded).
    pub fn set_bgm_volume(&mut self, volume: f32) -> Result<(), AudioError> {
        if !(0.0..=1.0).contains(&volume) {
            return Err(AudioError::Config(format!(
                "BGM volume {volume} is out of range (0..1)"
            )));
        }
        self.bgm_volume = volume;
        Ok(())
    }

    /// The music's state.
    pub fn bgm_state(&self) -> BgmState {
        match &self.bgm {
            None => BgmState::Idle,
            Some(bgm) if bgm.paused => BgmState::Paused,
            Some(_) => BgmState::Playing,
        }
    }

    /// The BGM events since the last call.
    pub fn take_events(&mut self) -> Vec<BgmEvent> {
        std::mem::take(&mut self.events)
    }

    /// Appends `frames` frames of the mix to `out`. With `silent` (the
    /// background with `backgroundMute`) everything is rendered and thrown
    /// away, so sources keep their place in time, and silence goes out.
    pub fn render(
        &mut self,
        frames: usize,
        silent: bool,
        out: &mut Vec<f32>,
    ) -> Result<(), AudioError> {
        let channels = usize::from(self.format.channels);
        let start = out.len();
        let len = frames * channels;
        out.resize(start + len, 0.0);
        let block = &mut out[start..];
        if !self.microphone_ended {
            let got = self.microphone.read(block)?;
            if got < frames {
                self.microphone_ended = true;
                block[got * channels..].fill(0.0);
            }
        }
        if self.muted {
            block.fill(0.0);
        }
        self.mix_bgm(block, frames)?;
        self.limit(block);
        if silent {
            block.fill(0.0);
        }
        Ok(())
    }

    fn mix_bgm(&mut self, block: &mut [f32], frames: usize) -> Result<(), AudioError> {
        let Some(bgm) = self.bgm.as_mut().filter(|bgm| !bgm.paused) else {
            return Ok(());
        };
        let channels = usize::from(self.format.channels);
        self.scratch.resize(frames * channels, 0.0);
        let got = bgm.source.read(&mut self.scratch)?;
        for (out, music) in block.iter_mut().zip(&self.scratch[..got * channels]) {
            *out += music * self.bgm_volume;
        }
        bgm.played_frames += got as u64;
        let seconds = bgm.played_frames / u64::from(self.format.sample_rate);
        if seconds > bgm.reported_seconds {
            bgm.reported_seconds = seconds;
            self.events.push(BgmEvent::Progress {
                progress: Duration::from_secs_f64(
                    bgm.played_frames as f64 / f64::from(self.format.sample_rate),
                ),
                duration: bgm.duration,
            });
        }
        if got < frames {
            let path = bgm.path.clone();
            self.bgm = None;
            self.events.push(BgmEvent::Complete { path });
        }
        Ok(())
    }

    /// A peak limiter with instant attack: a frame whose peak would pass
    /// the ceiling is scaled to it, and the gain recovers smoothly.
    fn limit(&mut self, block: &mut [f32]) {
        let channels = usize::from(self.format.channels);
        for frame in block.chunks_exact_mut(channels) {
            let peak = frame.iter().fold(0.0f32, |p, s| p.max(s.abs()));
            self.gain += (1.0 - self.gain) * self.release_per_frame;
            if peak * self.gain > CEILING {
                self.gain = CEILING / peak;
            }
            for sample in frame.iter_mut() {
                *sample *= self.gain;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{dominant_frequency, peak_level, rms_dbfs, ToneSource, WavWriter};

    fn bgm_file(dir: &Path, format: AudioFormat, seconds: f64) -> PathBuf {
        let path = dir.join("bgm.wav");
        let mut writer = WavWriter::create(&path, format).unwrap();
        let mut tone = ToneSource::continuous(format, 440.0, 0.9);
        let mut samples = vec![0.0; format.samples((seconds * 48_000.0) as usize)];
        tone.read(&mut samples).unwrap();
        writer.write(&samples).unwrap();
        writer.finish().unwrap();
        path
    }

    #[test]
    fn bgm_mixes_reports_and_completes_without_clipping() {
        let dir = std::env::temp_dir().join(format!("liveroom-mixer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let format = AudioFormat::new(48_000, 2).unwrap();
        let path = bgm_file(&dir, format, 2.5);
        let microphone = Box::new(ToneSource::continuous(format, 1000.0, 0.9));
        let mut mixer = AudioMixer::new(microphone);
        assert!(mixer.set_bgm_volume(1.5).is_err());
        assert!(mixer.set_bgm_volume(f32::NAN).is_err());
        mixer.set_bgm_volume(1.0).unwrap();
        mixer.play_bgm(&path).unwrap();
        let mut out = Vec::new();
        for _ in 0..30 {
            mixer.render(4800, false, &mut out).unwrap();
        }
        // Two loud tones together would reach 1.8: the limiter holds them.
        assert!(peak_level(&out) <= CEILING + 1e-6);
        let events = mixer.take_events();
        assert!(matches!(events.first(), Some(BgmEvent::Start { .. })));
        let progress = events
            .iter()
            .filter(|e| matches!(e, BgmEvent::Progress { .. }))
            .count();
        assert_eq!(progress, 2);
        assert!(matches!(events.last(), Some(BgmEvent::Complete { .. })));
        assert_eq!(mixer.bgm_state(), BgmState::Idle);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn muted_microphone_leaves_the_music_at_its_volume() {
        let dir = std::env::temp_dir().join(format!("liveroom-mixer-m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let format = AudioFormat::new(48_000, 2).unwrap();
        let path = bgm_file(&dir, format, 1.0);
        let microphone = Box::new(ToneSource::continuous(format, 1000.0, 0.5));
        let mut mixer = AudioMixer::new(microphone);
        mixer.set_muted(true);
        mixer.set_bgm_volume(0.5).unwrap();
        mixer.play_bgm(&path).unwrap();
        let mut out = Vec::new();
        mixer.render(24_000, false, &mut out).unwrap();
        let mono = crate::audio::to_mono(&out, 2);
        let frequency = dominant_frequency(&mono, 48_000).unwrap();
        assert!((frequency - 440.0).abs() < 0.5, "{frequency}");
        let expected = 20.0 * (0.9f64 * 0.5).log10() - 3.0103;
        assert!((rms_dbfs(&mono) - expected).abs() < 0.1);
        // Paused music and a muted microphone: silence.
        mixer.pause_bgm();
        out.clear();
        mixer.render(4800, false, &mut out).unwrap();
        assert_eq!(peak_level(&out), 0.0);
        mixer.resume_bgm();
        out.clear();
        mixer.render(4800, true, &mut out).unwrap();
        assert_eq!(peak_level(&out), 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
