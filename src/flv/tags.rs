//! FLV audio and video tag bodies: AVC video (sequence header, access
//! unit, end of sequence) and AAC audio (sequence header, raw frame), parsed
//! from untrusted bytes and built for writing. RTMP's audio and video
//! messages carry the same bodies.

use super::{FlvError, AUDIO_FORMAT_AAC, VIDEO_CODEC_AVC};
use crate::avc::AvcDecoderConfig;

/// First byte of every AAC audio tag: AAC, 44 kHz, 16-bit, stereo (FLV
/// requires these flags for AAC; the real format is in the config).
const AAC_FLAGS: u8 = 0xAF;

/// A parsed AVC video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoBody<'a> {
    /// An `AVCDecoderConfigurationRecord` (parse it with
    /// [`AvcDecoderConfig::parse`]).
    SequenceHeader(&'a [u8]),
    /// One access unit in AVCC form.
    Nalu {
        /// Frame type 1 (key frame).
        key_frame: bool,
        /// Presentation minus decode time, in milliseconds.
        composition_time_ms: i32,
        /// Length-prefixed NAL units.
        data: &'a [u8],
    },
    /// The end of the AVC sequence.
    EndOfSequence,
}

/// Parses a video tag body: frame type and codec id (must be 7 = AVC), AVC
/// packet type, signed 24-bit composition time, payload.
pub fn parse_video_body(body: &[u8]) -> Result<VideoBody<'_>, FlvError> {
    let Some(&first) = body.first() else {
        return Err(FlvError::BodyTooShort {
            what: "video",
            len: 0,
            needed: 5,
        });
    };
    let codec = first & 0x0F;
    // Bit 7 set is the enhanced-RTMP FourCC header (HEVC, AV1, ...).
    if first & 0x80 != 0 || codec != VIDEO_CODEC_AVC {
        return Err(FlvError::UnsupportedCodec(codec));
    }
    let [_, packet_type, c0, c1, c2, ref data @ ..] = *body else {
        return Err(FlvError::BodyTooShort {
            what: "video",
            len: body.len(),
            needed: 5,
        });
    };
    match packet_type {
        0 => Ok(VideoBody::SequenceHeader(data)),
        1 => {
            let raw = i32::from_be_bytes([c0, c1, c2, 0]);
            Ok(VideoBody::Nalu {
                key_frame: first >> 4 == 1,
                // Arithmetic shift sign-extends the 24-bit value.
                composition_time_ms: raw >> 8,
                data,
            })
        }
        2 => Ok(VideoBody::EndOfSequence),
        other => Err(FlvError::UnknownPacketType {
            what: "AVC",
            packet_type: other,
        }),
    }
}

/// The video tag body of an AVC sequence header: `17 00 00 00 00` and the
/// configuration record.
pub fn video_sequence_header_body(config: &AvcDecoderConfig) -> Result<Vec<u8>, FlvError> {
    let record = config.to_bytes()?;
    let mut body = Vec::with_capacity(5 + record.len());
    body.extend_from_slice(&[0x17, 0, 0, 0, 0]);
    body.extend_from_slice(&record);
    Ok(body)
}

/// The video tag body of one AVCC access unit: `0x17` (key frame) or `0x27`,
/// packet type 1, composition time as signed 24 bits (clamped to
/// ±8 388 607 ms), then the data.
pub fn video_nalu_body(key_frame: bool, composition_time_ms: i32, avcc: &[u8]) -> Vec<u8> {
    let cts = composition_time_ms
        .clamp(-0x80_0000, 0x7F_FFFF)
        .to_be_bytes();
    let mut body = Vec::with_capacity(5 + avcc.len());
    body.push(if key_frame { 0x17 } else { 0x27 });
    body.push(1);
    body.extend_from_slice(&cts[1..]);
    body.extend_from_slice(avcc);
    body
}

/// The video tag body marking the end of the AVC sequence.
pub fn video_end_of_sequence_body() -> Vec<u8> {
    vec![0x17, 2, 0, 0, 0]
}

/// A parsed audio tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioBody<'a> {
    /// An AAC `AudioSpecificConfig`.
    AacSequenceHeader(&'a [u8]),
    /// One raw AAC frame (no ADTS header).
    AacRaw(&'a [u8]),
    /// A non-AAC sound format (MP3, PCM, ...), left to the caller.
    Other {
        /// The FLV sound format (top 4 bits of the first byte).
        format: u8,
        /// Everything after the first byte.
        data: &'a [u8],
    },
}

/// Parses an audio tag body.
pub fn parse_audio_body(body: &[u8]) -> Result<AudioBody<'_>, FlvError> {
    let Some((&first, rest)) = body.split_first() else {
        return Err(FlvError::BodyTooShort {
            what: "audio",
            len: 0,
            needed: 1,
        });
    };
    let format = first >> 4;
    if format != AUDIO_FORMAT_AAC {
        return Ok(AudioBody::Other { format, data: rest });
    }
    match *rest {
        [0, ref asc @ ..] => Ok(AudioBody::AacSequenceHeader(asc)),
        [1, ref frame @ ..] => Ok(AudioBody::AacRaw(frame)),
        [other, ..] => Err(FlvError::UnknownPacketType {
            what: "AAC",
            packet_type: other,
        }),
        [] => Err(FlvError::BodyTooShort {
            what: "audio",
            len: body.len(),
            needed: 2,
        }),
    }
}

/// The audio tag body of an AAC sequence header: `AF 00` and the
/// `AudioSpecificConfig`.
pub fn aac_sequence_header_body(asc: &[u8]) -> Vec<u8> {
    let mut body = vec![AAC_FLAGS, 0];
    body.extend_from_slice(asc);
    body
}

/// The audio tag body of one raw AAC frame: `AF 01` and the frame.
pub fn aac_raw_body(frame: &[u8]) -> Vec<u8> {
    let mut body = vec![AAC_FLAGS, 1];
    body.extend_from_slice(frame);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_bodies() {
        for cts in [0, 1, -1, 40, -40, 0x7F_FFFF, -0x80_0000] {
            let body = video_nalu_body(false, cts, &[1, 2]);
            assert_eq!(
                parse_video_body(&body).unwrap(),
                VideoBody::Nalu {
                    key_frame: false,
                    composition_time_ms: cts,
                    data: &[1, 2]
                }
            );
        }
        assert_eq!(
            &video_nalu_body(true, -1, &[])[..],
            &[0x17, 1, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            parse_video_body(&video_nalu_body(true, i32::MAX, &[])).unwrap(),
            VideoBody::Nalu {
                key_frame: true,
                composition_time_ms: 0x7F_FFFF,
                data: &[]
            }
        );
        assert!(matches!(
            parse_video_body(&[0x12, 0, 0, 0, 0]),
            Err(FlvError::UnsupportedCodec(2))
        ));
        assert!(matches!(
            parse_video_body(&[0x9C, 1, 0, 0, 0]),
            Err(FlvError::UnsupportedCodec(_))
        ));
        for cut in 0..5 {
            assert!(parse_video_body(&[0x17, 1, 0, 0, 0][..cut]).is_err());
        }
        assert!(matches!(
            parse_video_body(&[0x17, 3, 0, 0, 0]),
            Err(FlvError::UnknownPacketType { .. })
        ));
    }

    #[test]
    fn audio_bodies() {
        assert_eq!(
            &aac_sequence_header_body(&[0x12, 0x10])[..],
            &[0xAF, 0, 0x12, 0x10]
        );
        assert_eq!(
            parse_audio_body(&[0x2F, 9, 9]).unwrap(),
            AudioBody::Other {
                format: 2,
                data: &[9, 9]
            }
        );
        assert!(parse_audio_body(&[]).is_err());
        assert!(parse_audio_body(&[0xAF]).is_err());
        assert!(parse_audio_body(&[0xAF, 2]).is_err());
        assert_eq!(
            parse_audio_body(&[0xAF, 1]).unwrap(),
            AudioBody::AacRaw(&[])
        );
    }
}
