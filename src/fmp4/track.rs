//! The two tracks an fMP4 rendition carries, read from FLV sequence
//! headers: H.264 video from its `AVCDecoderConfigurationRecord`, AAC
//! audio from its `AudioSpecificConfig`.

use super::Fmp4Error;
use crate::avc::{parse_sps, AvcDecoderConfig, AvcError};

/// Track id of the video track.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track (also in an audio-only rendition).
pub const AUDIO_TRACK_ID: u32 = 2;
/// Ticks per second of the video track's clock (the MPEG 90 kHz clock, so
/// FLV's milliseconds convert exactly).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// The sampling frequencies of ISO/IEC 14496-3, by index.
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An H.264 video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// The decoder configuration (SPS, PPS, NAL length size).
    pub config: AvcDecoderConfig,
    /// Picture width in pixels (from the SPS, cropping applied).
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// Chroma format and bit depths for the `avcC` extension of High
    /// profiles: `(chroma_format_idc, luma bits, chroma bits)`.
    pub(super) high_profile: Option<(u8, u8, u8)>,
}

impl VideoTrack {
    /// Reads the `AVCDecoderConfigurationRecord` of an FLV AVC sequence
    /// header (the bytes after `17 00 00 00 00`).
    pub fn from_flv_config(record: &[u8]) -> Result<Self, Fmp4Error> {
        let config = AvcDecoderConfig::parse(record)?;
        let sps = config
            .sps
            .first()
            .ok_or(AvcError::MissingParameterSet("SPS"))?;
        let info = parse_sps(sps)?;
        let width = u16::try_from(info.width).map_err(|_| AvcError::InvalidSps("width"))?;
        let height = u16::try_from(info.height).map_err(|_| AvcError::InvalidSps("height"))?;
        let high_profile = matches!(config.profile, 100 | 110 | 122 | 144).then_some((
            info.chroma_format_idc,
            info.bit_depth_luma,
            info.bit_depth_chroma,
        ));
        Ok(Self {
            config,
            width,
            height,
            high_profile,
        })
    }

    /// The RFC 6381 codec string (`avc1.64001f`), as an HLS `CODECS`
    /// attribute names it.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.config.profile, self.config.compatibility, self.config.level
        )
    }
}

/// An AAC audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    /// The `AudioSpecificConfig`, as the `esds` carries it.
    pub config: Vec<u8>,
    /// The audio object type (2 = AAC-LC, 5 = HE-AAC, ...).
    pub object_type: u8,
    /// The sampling-frequency index (15: explicit rate).
    pub(super) frequency_index: u8,
    /// The (core) sample rate: the track's clock, 1024 ticks per frame.
    pub sample_rate: u32,
    /// Channels (the channel configuration; 0, "defined elsewhere", is
    /// taken as 2).
    pub channels: u16,
}

/// MSB-first reader of the few bit fields of an `AudioSpecificConfig`.
struct Bits<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Bits<'_> {
    fn read(&mut self, count: usize) -> Result<u32, Fmp4Error> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = self
                .bytes
                .get(self.position / 8)
                .ok_or_else(|| Fmp4Error::AudioConfig("too short".into()))?;
            value = (value << 1) | u32::from((byte >> (7 - self.position % 8)) & 1);
            self.position += 1;
        }
        Ok(value)
    }
}

impl AudioTrack {
    /// Reads the `AudioSpecificConfig` of an FLV AAC sequence header (the
    /// bytes after `AF 00`): object type, sample rate and channels; the
    /// bytes are kept whole for the `esds`.
    pub fn from_flv_config(config: &[u8]) -> Result<Self, Fmp4Error> {
        let mut bits = Bits {
            bytes: config,
            position: 0,
        };
        let mut object_type = bits.read(5)?;
        if object_type == 31 {
            object_type = 32 + bits.read(6)?;
        }
        if object_type == 0 {
            return Err(Fmp4Error::AudioConfig("audio object type 0".into()));
        }
        let frequency_index = bits.read(4)? as u8;
        let sample_rate = match frequency_index {
            15 => bits.read(24)?,
            index => *SAMPLING_FREQUENCIES
                .get(usize::from(index))
                .ok_or_else(|| {
                    Fmp4Error::AudioConfig(format!("reserved sampling-frequency index {index}"))
                })?,
        };
        if sample_rate == 0 {
            return Err(Fmp4Error::AudioConfig("sample rate 0".into()));
        }
        let channels = match bits.read(4)? {
            0 => 2,
            7 => 8,
            configuration @ 1..=6 => configuration as u16,
            other => {
                return Err(Fmp4Error::AudioConfig(format!(
                    "channel configuration {other}"
                )))
            }
        };
        Ok(Self {
            config: config.to_vec(),
            object_type: object_type as u8,
            frequency_index,
            sample_rate,
            channels,
        })
    }

    /// The RFC 6381 codec string (`mp4a.40.2`).
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// x264's High-profile SPS of a 720×1280 picture, and a PPS.
    pub(crate) const SPS: &str = "6764001facd940b40a1b0110000003001000000303c0f1831960";
    pub(crate) const PPS: &str = "68ef8fcb";

    pub(crate) fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    pub(crate) fn record() -> Vec<u8> {
        AvcDecoderConfig::from_parameter_sets(&hex(SPS), &hex(PPS))
            .expect("config")
            .to_bytes()
            .expect("record")
    }

    #[test]
    fn video_tracks_read_the_picture_size_from_the_sps() {
        let track = VideoTrack::from_flv_config(&record()).expect("track");
        assert_eq!((track.width, track.height), (720, 1280));
        assert_eq!(track.codec_string(), "avc1.64001f");
        assert_eq!(track.high_profile, Some((1, 8, 8)));
        assert!(VideoTrack::from_flv_config(&[1, 0x64]).is_err());
        assert!(VideoTrack::from_flv_config(&[]).is_err());
    }

    #[test]
    fn audio_tracks_read_rate_and_channels() {
        // AAC-LC, 44.1 kHz, stereo.
        let track = AudioTrack::from_flv_config(&[0x12, 0x10]).expect("track");
        assert_eq!(
            (track.object_type, track.sample_rate, track.channels),
            (2, 44100, 2)
        );
        assert_eq!(track.codec_string(), "mp4a.40.2");
        // AAC-LC, 48 kHz, mono.
        let track = AudioTrack::from_flv_config(&[0x11, 0x88]).expect("track");
        assert_eq!((track.sample_rate, track.channels), (48000, 1));
        // Explicit rate (index 15): 22 050 Hz.
        let track = AudioTrack::from_flv_config(&[0x17, 0x80, 0x2b, 0x11, 0x10]).expect("track");
        assert_eq!(track.sample_rate, 22050);
        for bad in [&[][..], &[0x12], &[0x00, 0x10], &[0x16, 0x90]] {
            assert!(AudioTrack::from_flv_config(bad).is_err(), "{bad:?}");
        }
    }
}
