//! The FLV container, written by hand: file header, tags, AVC video and AAC
//! audio tag bodies, and AMF0 script data (`onMetaData`).
//!
//! An FLV file is a 9-byte header (`FLV`, version 1, audio/video flags,
//! header size), then `PreviousTagSize0` (0), then tags: an 11-byte tag
//! header (type, 24-bit body size, 24-bit timestamp plus an extension byte
//! for the top 8 bits, 24-bit stream id 0), the body, and the 32-bit size of
//! the tag just written. RTMP carries the same tag bodies in its audio,
//! video and data messages, so the body builders and parsers here serve both.
//!
//! The module is split by concern, and everything is re-exported here so
//! that `liveroom::flv::X` names every public item:
//!
//! - [`FlvReader`] (`reader.rs`): the file reader, for untrusted input;
//! - [`FlvWriter`] (`writer.rs`): the file writer;
//! - `tags.rs`: audio and video tag bodies ([`parse_video_body`],
//!   [`video_nalu_body`], [`parse_audio_body`], [`aac_raw_body`], ...);
//! - `metadata.rs`: `onMetaData` ([`StreamMetadata`], [`metadata_body`],
//!   [`parse_stream_metadata`], ...);
//! - `amf0.rs`: the AMF0 codec of script data ([`AmfValue`],
//!   [`encode_amf0`], [`decode_amf0`]), the crate's one AMF0 representation.
//!
//! Every parser here is meant for untrusted input: every malformed stream
//! or body yields an [`FlvError`], never a panic.

use std::io;

use bytes::Bytes;
use thiserror::Error;

use crate::avc::AvcError;

mod amf0;
mod metadata;
mod reader;
mod tags;
mod writer;

pub use amf0::{decode_amf0, encode_amf0, AmfValue};
pub use metadata::{
    metadata_body, parse_metadata_body, parse_stream_metadata, set_data_frame_body, AudioMetadata,
    StreamMetadata,
};
pub use reader::FlvReader;
pub use tags::{
    aac_raw_body, aac_sequence_header_body, parse_audio_body, parse_video_body,
    video_end_of_sequence_body, video_nalu_body, video_sequence_header_body, AudioBody, VideoBody,
};
pub use writer::FlvWriter;

/// Size of the FLV file header.
pub const FLV_HEADER_SIZE: usize = 9;
/// Size of a tag header.
pub const TAG_HEADER_SIZE: usize = 11;
/// Largest body the 24-bit size field can describe.
pub const MAX_TAG_BODY_SIZE: usize = 0xFF_FFFF;
/// Default limit on tag bodies accepted by [`FlvReader`] (8 MiB).
pub const DEFAULT_MAX_TAG_SIZE: u32 = 8 << 20;
/// FLV video codec id of AVC (H.264).
pub const VIDEO_CODEC_AVC: u8 = 7;
/// FLV sound format of AAC.
pub const AUDIO_FORMAT_AAC: u8 = 10;

/// Errors from FLV reading, writing and tag body parsing.
#[derive(Debug, Error)]
pub enum FlvError {
    /// An I/O error from the underlying reader or writer.
    #[error("FLV I/O error: {0}")]
    Io(#[from] io::Error),
    /// The stream does not start with `FLV`.
    #[error("not an FLV stream: signature is {found:02X?}, expected \"FLV\"")]
    NotFlv {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// An FLV version other than 1.
    #[error("unsupported FLV version {0} (expected 1)")]
    UnsupportedVersion(u8),
    /// A header size below 9 or implausibly large.
    #[error("invalid FLV header size {0} (expected 9 to 4096)")]
    InvalidHeaderSize(u32),
    /// The stream ended inside a structure.
    #[error("FLV {what} at byte {offset} is truncated: needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read (`"tag header"`, `"tag body"`, ...).
        what: &'static str,
        /// Stream offset where that structure starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A tag type other than audio (8), video (9) or script data (18). The
    /// reader has skipped the tag; reading may go on.
    #[error("FLV tag at byte {offset} has unknown type {tag_type}")]
    UnknownTagType {
        /// Stream offset of the tag.
        offset: u64,
        /// The type byte's low 5 bits.
        tag_type: u8,
    },
    /// A tag with the filter (encryption) bit set.
    #[error("FLV tag at byte {offset} is encrypted (filter bit set), which is unsupported")]
    EncryptedTag {
        /// Stream offset of the tag.
        offset: u64,
    },
    /// A tag body larger than the reader's limit.
    #[error("FLV tag at byte {offset} claims {size} bytes, above the limit of {max}")]
    TagTooLarge {
        /// Stream offset of the tag.
        offset: u64,
        /// The claimed body size.
        size: u32,
        /// The reader's limit.
        max: u32,
    },
    /// A body too large for the 24-bit size field (writing).
    #[error("FLV tag body of {0} bytes exceeds the 16 MiB - 1 limit")]
    BodyTooLarge(usize),
    /// A video codec other than AVC.
    #[error("unsupported FLV video codec id {0} (only 7 = AVC is supported)")]
    UnsupportedCodec(u8),
    /// A tag body too short for its own header.
    #[error("FLV {what} body too short: {len} bytes, needs at least {needed}")]
    BodyTooShort {
        /// `"video"` or `"audio"`.
        what: &'static str,
        /// The body length.
        len: usize,
        /// The minimum length.
        needed: usize,
    },
    /// A video or audio packet type that is not defined.
    #[error("unknown FLV {what} packet type {packet_type}")]
    UnknownPacketType {
        /// `"AVC"` or `"AAC"`.
        what: &'static str,
        /// The packet type byte.
        packet_type: u8,
    },
    /// Malformed AMF0 data.
    #[error("invalid AMF0 data at byte {offset}: {reason}")]
    InvalidAmf {
        /// Offset in the script body.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An AMF0 type marker this reader does not handle.
    #[error("unsupported AMF0 type marker {marker:#04x} at byte {offset}")]
    UnsupportedAmfType {
        /// Offset in the script body.
        offset: usize,
        /// The marker byte.
        marker: u8,
    },
    /// A script tag that is not `onMetaData`.
    #[error("script data is {0:?}, not onMetaData")]
    NotMetadata(String),
    /// An error building the AVC sequence header.
    #[error(transparent)]
    Avc(#[from] AvcError),
}

/// The type of an FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TagKind {
    /// Audio data.
    Audio = 8,
    /// Video data.
    Video = 9,
    /// Script data (AMF0, e.g. `onMetaData`).
    Script = 18,
}

impl TagKind {
    /// The tag type byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The kind for a tag type byte (low 5 bits), if known.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            8 => Some(Self::Audio),
            9 => Some(Self::Video),
            18 => Some(Self::Script),
            _ => None,
        }
    }
}

/// One FLV tag: its kind, timestamp and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// Audio, video or script data.
    pub kind: TagKind,
    /// Decode timestamp in milliseconds (32 bits in the file).
    pub timestamp_ms: u32,
    /// The tag body (e.g. from [`video_nalu_body`]).
    pub body: Bytes,
}

impl FlvTag {
    /// Makes a tag from anything convertible to [`Bytes`] (e.g. a `Vec<u8>`).
    pub fn new(kind: TagKind, timestamp_ms: u32, body: impl Into<Bytes>) -> Self {
        Self {
            kind,
            timestamp_ms,
            body: body.into(),
        }
    }
}

/// The FLV file header's stream flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlvHeader {
    /// The file has audio tags.
    pub has_audio: bool,
    /// The file has video tags.
    pub has_video: bool,
}

#[cfg(test)]
mod tests {
    //! Shared samples for the submodules' tests, and a round trip through
    //! all of them.

    use super::*;
    use crate::avc::AvcDecoderConfig;

    pub(super) fn sample_meta() -> StreamMetadata {
        StreamMetadata {
            width: 720,
            height: 1280,
            frame_rate: 30.0,
            video_bitrate_kbps: 1800.0,
            audio: Some(AudioMetadata {
                sample_rate: 44100,
                channels: 2,
                bitrate_kbps: 128.0,
            }),
            encoder: "liveroom".to_string(),
            duration_s: None,
        }
    }

    pub(super) fn sample_config() -> AvcDecoderConfig {
        AvcDecoderConfig::from_parameter_sets(
            &[0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01],
            &[0x68, 0xCB, 0x83, 0xCB, 0x20],
        )
        .unwrap()
    }

    pub(super) fn sample_tags() -> Vec<FlvTag> {
        let mut tags = vec![
            FlvTag::new(TagKind::Script, 0, metadata_body(&sample_meta())),
            FlvTag::new(
                TagKind::Video,
                0,
                video_sequence_header_body(&sample_config()).unwrap(),
            ),
            FlvTag::new(TagKind::Audio, 0, aac_sequence_header_body(&[0x12, 0x10])),
        ];
        for i in 0..4u32 {
            let avcc = [0, 0, 0, 3, if i == 0 { 0x65 } else { 0x41 }, i as u8, 7];
            tags.push(FlvTag::new(
                TagKind::Video,
                i * 33,
                video_nalu_body(i == 0, 66, &avcc),
            ));
            tags.push(FlvTag::new(
                TagKind::Audio,
                i * 23,
                aac_raw_body(&[0x21, i as u8]),
            ));
        }
        tags.push(FlvTag::new(
            TagKind::Video,
            200,
            video_end_of_sequence_body(),
        ));
        tags
    }

    /// The file and the byte offsets at which a tag (or the header) ends.
    pub(super) fn sample_file() -> (Vec<u8>, Vec<usize>) {
        let mut w = FlvWriter::new(
            Vec::new(),
            FlvHeader {
                has_audio: true,
                has_video: true,
            },
        )
        .unwrap();
        let mut ends = vec![w.bytes_written() as usize];
        for tag in sample_tags() {
            w.write_tag(&tag).unwrap();
            ends.push(w.bytes_written() as usize);
        }
        let data = w.finish().unwrap();
        assert_eq!(data.len(), *ends.last().unwrap());
        (data, ends)
    }

    #[test]
    fn write_then_read_back() {
        let (data, _) = sample_file();
        assert_eq!(&data[..13], b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        let mut r = FlvReader::new(&data[..]).unwrap();
        assert_eq!(
            r.header(),
            FlvHeader {
                has_audio: true,
                has_video: true
            }
        );
        let mut tags = Vec::new();
        while let Some(tag) = r.next_tag().unwrap() {
            tags.push(tag);
        }
        assert_eq!(tags, sample_tags());
        assert_eq!(r.previous_tag_size_mismatches(), 0);
        assert_eq!(r.position(), data.len() as u64);

        // The bodies parse back into what was built.
        assert_eq!(parse_stream_metadata(&tags[0].body).unwrap(), sample_meta());
        match parse_video_body(&tags[1].body).unwrap() {
            VideoBody::SequenceHeader(rec) => {
                assert_eq!(AvcDecoderConfig::parse(rec).unwrap(), sample_config())
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_audio_body(&tags[2].body).unwrap(),
            AudioBody::AacSequenceHeader(&[0x12, 0x10])
        );
        assert_eq!(
            parse_video_body(&tags[3].body).unwrap(),
            VideoBody::Nalu {
                key_frame: true,
                composition_time_ms: 66,
                data: &[0, 0, 0, 3, 0x65, 0, 7]
            }
        );
        assert_eq!(
            parse_audio_body(&tags[4].body).unwrap(),
            AudioBody::AacRaw(&[0x21, 0])
        );
        assert!(matches!(
            parse_video_body(&tags[5].body).unwrap(),
            VideoBody::Nalu {
                key_frame: false,
                ..
            }
        ));
        assert_eq!(
            parse_video_body(&tags.last().unwrap().body).unwrap(),
            VideoBody::EndOfSequence
        );

        // The iterator form agrees.
        let via_iter: Vec<FlvTag> = FlvReader::new(&data[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(via_iter, sample_tags());
    }
}
