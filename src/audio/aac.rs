//! AAC-LC: encoding with fdk-aac (built from its vendored source) and
//! decoding with symphonia, plus the AudioSpecificConfig that FLV carries
//! in its AAC sequence header.

use std::panic::{catch_unwind, AssertUnwindSafe};

use fdk_aac::enc::{
    AudioObjectType, BitRate, ChannelMode, Encoder as FdkEncoder, EncoderParams, Transport,
};
use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration as SymDuration, Timestamp};

use super::{AudioError, AudioFormat};

/// Sample frames in one AAC-LC access unit.
pub const AAC_FRAME_LEN: usize = 1024;

/// MPEG-4 audio object type of AAC-LC.
const AOT_AAC_LC: u8 = 2;

/// The sampling-frequency table of ISO/IEC 14496-3, by index.
pub(super) const FREQUENCY_TABLE: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The MPEG-4 AudioSpecificConfig of an AAC-LC stream (the payload of
/// FLV's AAC sequence header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// The audio object type (2 for AAC-LC).
    pub object_type: u8,
    /// The stream's format.
    pub format: AudioFormat,
}

impl AudioSpecificConfig {
    /// The config of an AAC-LC stream in `format`.
    pub fn lc(format: AudioFormat) -> Self {
        Self {
            object_type: AOT_AAC_LC,
            format,
        }
    }

    /// Reads a config; only AAC-LC, mono or stereo, at a rate AAC
    /// supports, is accepted.
    pub fn parse(bytes: &[u8]) -> Result<Self, AudioError> {
        let bad = |why: &str| AudioError::BadConfig(why.to_string());
        let mut bits = BitReader { bytes, position: 0 };
        let mut object_type = bits.read(5).ok_or_else(|| bad("too short"))? as u8;
        if object_type == 31 {
            object_type = 32 + bits.read(6).ok_or_else(|| bad("too short"))? as u8;
        }
        let index = bits.read(4).ok_or_else(|| bad("too short"))? as usize;
        let sample_rate = if index == 15 {
            bits.read(24).ok_or_else(|| bad("too short"))?
        } else {
            *FREQUENCY_TABLE
                .get(index)
                .ok_or_else(|| bad("reserved sampling-frequency index"))?
        };
        let channel_config = bits.read(4).ok_or_else(|| bad("too short"))? as u16;
        if object_type != AOT_AAC_LC {
            return Err(AudioError::BadConfig(format!(
                "audio object type {object_type} is not AAC-LC (2)"
            )));
        }
        if !(1..=2).contains(&channel_config) {
            return Err(AudioError::UnsupportedChannels(channel_config));
        }
        let format = AudioFormat::new(sample_rate, channel_config)?;
        Ok(Self {
            object_type,
            format,
        })
    }

    /// The two-byte form (GASpecificConfig with 1024-sample frames, no
    /// core coder, no extension).
    pub fn to_bytes(&self) -> Vec<u8> {
        let index = FREQUENCY_TABLE
            .iter()
            .position(|&rate| rate == self.format.sample_rate)
            .unwrap_or(15) as u16;
        let channels = self.format.channels & 0xf;
        let value = (u16::from(self.object_type & 0x1f) << 11) | (index << 7) | (channels << 3);
        value.to_be_bytes().to_vec()
    }
}

/// MSB-first bit reader over a byte slice.
struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl BitReader<'_> {
    fn read(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = *self.bytes.get(self.position / 8)?;
            let bit = (byte >> (7 - self.position % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.position += 1;
        }
        Some(value)
    }
}

/// One encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacPacket {
    /// The raw AAC frame (no ADTS header), as FLV carries it.
    pub data: Vec<u8>,
    /// The input sample frame that the first decoded sample of this packet
    /// reproduces: `k · 1024 − delay` for the k-th packet. Negative for the
    /// packets that carry the encoder's priming.
    pub first_frame: i64,
}

/// An AAC-LC encoder at a constant bitrate.
pub struct AacEncoder {
    inner: FdkEncoder,
    format: AudioFormat,
    bitrate_kbps: u32,
    /// Codec delay in sample frames (encoder and decoder together).
    delay: usize,
    config: Vec<u8>,
    /// Input not yet handed to fdk, as 16-bit samples.
    pending: Vec<i16>,
    output: Vec<u8>,
    packets_out: u64,
    frames_in: u64,
}

impl std::fmt::Debug for AacEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacEncoder")
            .field("format", &self.format)
            .field("bitrate_kbps", &self.bitrate_kbps)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl AacEncoder {
    /// Opens an encoder. A rate AAC cannot carry is
    /// [`AudioError::UnsupportedSampleRate`] (-1306); anything else fdk
    /// refuses is [`AudioError::Encoder`] (-1304).
    pub fn new(format: AudioFormat, bitrate_kbps: u32) -> Result<Self, AudioError> {
        let format = AudioFormat::new(format.sample_rate, format.channels)?;
        if !(8..=320).contains(&bitrate_kbps) {
            return Err(AudioError::BadBitrate(bitrate_kbps));
        }
        let params = EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_kbps * 1000),
            sample_rate: format.sample_rate,
            transport: Transport::Raw,
            channels: if format.channels == 1 {
                ChannelMode::Mono
            } else {
                ChannelMode::Stereo
            },
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        };
        let inner = FdkEncoder::new(params).map_err(|e| AudioError::Encoder(e.to_string()))?;
        let info = inner
            .info()
            .map_err(|e| AudioError::Encoder(e.to_string()))?;
        if info.frameLength as usize != AAC_FRAME_LEN {
            return Err(AudioError::Encoder(format!(
                "unexpected frame length {}",
                info.frameLength
            )));
        }
        let size = (info.confSize as usize).min(info.confBuf.len());
        let config = info.confBuf[..size].to_vec();
        AudioSpecificConfig::parse(&config)?;
        Ok(Self {
            inner,
            format,
            bitrate_kbps,
            delay: info.nDelay as usize,
            config,
            pending: Vec::new(),
            output: vec![0; (info.maxOutBufBytes as usize).max(8192)],
            packets_out: 0,
            frames_in: 0,
        })
    }

    /// The format it encodes.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// The bitrate, kbps.
    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }

    /// The AudioSpecificConfig for the FLV sequence header.
    pub fn audio_specific_config(&self) -> &[u8] {
        &self.config
    }

    /// Codec delay in sample frames: decoded output lags the input by this.
    pub fn delay_frames(&self) -> usize {
        self.delay
    }

    /// Encodes interleaved samples; returns the access units completed.
    pub fn encode(&mut self, samples: &[f32]) -> Result<Vec<AacPacket>, AudioError> {
        let channels = usize::from(self.format.channels);
        self.frames_in += (samples.len() / channels) as u64;
        self.pending.extend(
            samples
                .iter()
                .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16),
        );
        self.drain(false)
    }

    /// Encodes what is left, padded with silence so that the codec delay
    /// comes out too; packets wholly past the input's end are dropped.
    pub fn flush(&mut self) -> Result<Vec<AacPacket>, AudioError> {
        let channels = usize::from(self.format.channels);
        let frame = AAC_FRAME_LEN * channels;
        let wanted = self.pending.len() + self.delay * channels;
        let padded = wanted.div_ceil(frame) * frame;
        self.pending.resize(padded.max(frame), 0);
        let mut packets = self.drain(true)?;
        let end = self.frames_in as i64;
        packets.retain(|packet| packet.first_frame < end);
        Ok(packets)
    }

    fn drain(&mut self, _flushing: bool) -> Result<Vec<AacPacket>, AudioError> {
        let frame = AAC_FRAME_LEN * usize::from(self.format.channels);
        let mut packets = Vec::new();
        while self.pending.len() >= frame {
            let info = self
                .inner
                .encode(&self.pending[..frame], &mut self.output)
                .map_err(|e| AudioError::Encoder(e.to_string()))?;
            let consumed = info.input_consumed.min(self.pending.len());
            if consumed == 0 && info.output_size == 0 {
                return Err(AudioError::Encoder("the encoder took no input".into()));
            }
            self.pending.drain(..consumed);
            if info.output_size > 0 {
                let size = info.output_size.min(self.output.len());
                packets.push(AacPacket {
                    data: self.output[..size].to_vec(),
                    first_frame: (self.packets_out * AAC_FRAME_LEN as u64) as i64
                        - self.delay as i64,
                });
                self.packets_out += 1;
            }
        }
        Ok(packets)
    }
}

/// An AAC-LC decoder for raw access units (as FLV carries them).
pub struct AacDecoder {
    decoder: Box<dyn AudioDecoder>,
    config: AudioSpecificConfig,
    samples: Vec<f32>,
    packets: i64,
}

impl std::fmt::Debug for AacDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacDecoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AacDecoder {
    /// A decoder for the stream that `config` (an AudioSpecificConfig)
    /// describes.
    pub fn new(config: &[u8]) -> Result<Self, AudioError> {
        let parsed = AudioSpecificConfig::parse(config)?;
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(CODEC_ID_AAC)
            .with_sample_rate(parsed.format.sample_rate)
            .with_channels(Channels::Discrete(parsed.format.channels))
            .with_extra_data(config.to_vec().into_boxed_slice());
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| AudioError::Decoder(e.to_string()))?;
        Ok(Self {
            decoder,
            config: parsed,
            samples: Vec::new(),
            packets: 0,
        })
    }

    /// The stream's format.
    pub fn format(&self) -> AudioFormat {
        self.config.format
    }

    /// Decodes one access unit into interleaved samples (1024 frames). A
    /// corrupt unit is an error and the decoder is reset, ready for the
    /// next one.
    pub fn decode(&mut self, unit: &[u8]) -> Result<&[f32], AudioError> {
        let pts = Timestamp::new(self.packets * AAC_FRAME_LEN as i64);
        self.packets += 1;
        let packet = PacketRef::new(0, pts, SymDuration::new(AAC_FRAME_LEN as u64), unit);
        let decoder = &mut self.decoder;
        let samples = &mut self.samples;
        let outcome = catch_unwind(AssertUnwindSafe(|| match decoder.decode_ref(&packet) {
            Ok(buffer) => {
                buffer.copy_to_vec_interleaved::<f32>(samples);
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        }));
        match outcome {
            Ok(Ok(())) => Ok(&self.samples),
            Ok(Err(reason)) => {
                self.decoder.reset();
                Err(AudioError::Decoder(reason))
            }
            Err(_) => {
                self.decoder.reset();
                Err(AudioError::Decoder("malformed access unit".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(format: AudioFormat, frequency: f64, amplitude: f32, frames: usize) -> Vec<f32> {
        let mut samples = Vec::with_capacity(format.samples(frames));
        for i in 0..frames {
            let t = i as f64 / f64::from(format.sample_rate);
            let value = amplitude * (2.0 * std::f64::consts::PI * frequency * t).sin() as f32;
            for _ in 0..format.channels {
                samples.push(value);
            }
        }
        samples
    }

    #[test]
    fn config_round_trips_and_rejects_other_profiles() {
        let format = AudioFormat::new(48_000, 2).unwrap();
        let config = AudioSpecificConfig::lc(format);
        assert_eq!(config.to_bytes(), vec![0x11, 0x90]);
        assert_eq!(
            AudioSpecificConfig::parse(&config.to_bytes()).unwrap(),
            config
        );
        // HE-AAC (object type 5) and a reserved rate index are refused.
        assert!(AudioSpecificConfig::parse(&[0x2b, 0x92]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x17, 0x90]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x11]).is_err());
    }

    #[test]
    fn encoder_refuses_rates_aac_cannot_carry() {
        let format = AudioFormat {
            sample_rate: 44_000,
            channels: 2,
        };
        assert!(matches!(
            AacEncoder::new(format, 128),
            Err(AudioError::UnsupportedSampleRate(44_000))
        ));
        let format = AudioFormat::new(48_000, 2).unwrap();
        assert!(matches!(
            AacEncoder::new(format, 0),
            Err(AudioError::BadBitrate(0))
        ));
    }

    #[test]
    fn encode_decode_keeps_a_tone_in_place() {
        for (rate, channels, kbps) in [(48_000, 2, 128), (16_000, 1, 32), (44_100, 2, 96)] {
            let format = AudioFormat::new(rate, channels).unwrap();
            let mut encoder = AacEncoder::new(format, kbps).unwrap();
            assert_eq!(
                AudioSpecificConfig::parse(encoder.audio_specific_config())
                    .unwrap()
                    .format,
                format
            );
            // Silence, then a tone starting at a known frame.
            let start = rate as usize / 2;
            let mut input = vec![0.0; format.samples(start)];
            input.extend(sine(format, 1000.0, 0.5, rate as usize));
            let mut packets = encoder.encode(&input).unwrap();
            packets.extend(encoder.flush().unwrap());
            let mut decoder = AacDecoder::new(encoder.audio_specific_config()).unwrap();
            let mut decoded = Vec::new();
            for packet in &packets {
                decoded.extend_from_slice(decoder.decode(&packet.data).unwrap());
            }
            let mono = crate::audio::to_mono(&decoded, channels);
            // Where the tone starts in the decoded stream, in input frames.
            let threshold = 0.1;
            let onset = mono.iter().position(|s| s.abs() > threshold).unwrap() as i64
                + packets[0].first_frame;
            let error = (onset - start as i64).abs();
            assert!(
                error <= rate as i64 / 1000,
                "{rate} Hz: tone at {onset}, expected {start} (delay {})",
                encoder.delay_frames()
            );
        }
    }

    #[test]
    fn decoder_survives_garbage() {
        let format = AudioFormat::new(48_000, 2).unwrap();
        let config = AudioSpecificConfig::lc(format).to_bytes();
        let mut decoder = AacDecoder::new(&config).unwrap();
        for seed in 0..64u32 {
            let unit: Vec<u8> = (0..(seed * 7 % 300))
                .map(|i| (i.wrapping_mul(2_654_435_761u32.wrapping_add(seed)) >> 13) as u8)
                .collect();
            let _ = decoder.decode(&unit);
        }
    }
}
