//! Audio: the "microphone" sources, the BGM mixer, AAC encoding and
//! decoding, WAV files, and the measurements the tests and the player's
//! verification use.
//!
//! Samples are `f32` in −1..1, interleaved, at one [`AudioFormat`] per
//! stream. The pusher pulls samples from an [`AudioMixer`] in step with the
//! video's stream clock, so audio and video share one timeline: the audio
//! up to stream time *t* is rendered when the video frame at *t* is.
//!
//! | `audioQuality` | sample rate | channels | AAC-LC bitrate |
//! |---|---|---|---|
//! | high (default) | 48 kHz | 2 | 128 kbps |
//! | low | 16 kHz | 1 | 32 kbps |

mod aac;
mod analysis;
mod flv_sound;
mod mixer;
mod resample;
mod source;
mod wav;

use std::path::PathBuf;

use thiserror::Error;

pub use aac::{AacDecoder, AacEncoder, AacPacket, AudioSpecificConfig, AAC_FRAME_LEN};
pub use analysis::{beep_onsets, dominant_frequency, peak_level, rms_dbfs, to_mono, BeepFinder};
pub use mixer::{AudioMixer, BgmEvent, BgmState};
pub use resample::{ResampleError, Resampler};
pub use source::{
    decode_file, has_decodable_sound, AudioSource, DecodedAudio, FileSource, SilenceSource,
    ToneSource, TONE_BEEP_FREQUENCY, TONE_BEEP_LENGTH,
};
pub use wav::WavWriter;

/// Sample rates AAC-LC (and this engine) can carry.
pub const SUPPORTED_SAMPLE_RATES: [u32; 9] =
    [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// Why audio could not be read, encoded, decoded or written.
#[derive(Debug, Error)]
pub enum AudioError {
    /// A sample rate AAC cannot carry (-1306).
    #[error("unsupported sample rate {0} Hz (AAC takes 8000–48000 Hz at the standard rates)")]
    UnsupportedSampleRate(u32),
    /// A channel count other than 1 or 2.
    #[error("unsupported channel count {0} (1 or 2)")]
    UnsupportedChannels(u16),
    /// A bitrate the encoder cannot use at this format.
    #[error("audio bitrate {0} kbps is out of range (8–320)")]
    BadBitrate(u32),
    /// The AAC encoder failed (-1304).
    #[error("AAC encoder: {0}")]
    Encoder(String),
    /// The AAC decoder failed on a packet (2102).
    #[error("AAC decoder: {0}")]
    Decoder(String),
    /// An AudioSpecificConfig that is not AAC-LC mono/stereo at a supported rate.
    #[error("AudioSpecificConfig: {0}")]
    BadConfig(String),
    /// An audio file could not be opened or decoded (-1302 for the microphone).
    #[error("audio file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An audio file's samples could not be converted to the stream's rate.
    #[error("audio file {path}: sample-rate conversion failed")]
    Resample {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ResampleError,
    },
    /// A setting out of range.
    #[error("{0}")]
    Config(String),
}

/// Sample rate and channel count of a stream of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo).
    pub channels: u16,
}

impl AudioFormat {
    /// A format after checking that AAC can carry it.
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, AudioError> {
        if !SUPPORTED_SAMPLE_RATES.contains(&sample_rate) {
            return Err(AudioError::UnsupportedSampleRate(sample_rate));
        }
        if !(1..=2).contains(&channels) {
            return Err(AudioError::UnsupportedChannels(channels));
        }
        Ok(Self {
            sample_rate,
            channels,
        })
    }

    /// Interleaved samples in `frames` frames.
    pub fn samples(&self, frames: usize) -> usize {
        frames * usize::from(self.channels)
    }

    /// Whole frames (samples per channel) from the start of the stream up
    /// to `seconds`.
    pub fn frames_until(&self, seconds: f64) -> u64 {
        (seconds.max(0.0) * f64::from(self.sample_rate)).round() as u64
    }
}

/// The plugin's `audioQuality`: the sample-rate and bitrate class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioQuality {
    /// 48 kHz stereo at 128 kbps.
    #[default]
    High,
    /// 16 kHz mono at 32 kbps, for speech on thin links.
    Low,
}

impl AudioQuality {
    /// The format this class encodes.
    pub fn format(self) -> AudioFormat {
        match self {
            AudioQuality::High => AudioFormat {
                sample_rate: 48_000,
                channels: 2,
            },
            AudioQuality::Low => AudioFormat {
                sample_rate: 16_000,
                channels: 1,
            },
        }
    }

    /// The AAC bitrate of this class, kbps.
    pub fn bitrate_kbps(self) -> u32 {
        match self {
            AudioQuality::High => 128,
            AudioQuality::Low => 32,
        }
    }
}

impl std::str::FromStr for AudioQuality {
    type Err = AudioError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "high" => Ok(AudioQuality::High),
            "low" => Ok(AudioQuality::Low),
            other => Err(AudioError::Config(format!(
                "unknown audio quality {other:?} (high or low)"
            ))),
        }
    }
}
