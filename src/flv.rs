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
//! [`FlvReader`] is meant for untrusted input: every malformed stream yields
//! an [`FlvError`], never a panic, and a tag's memory is bounded by
//! [`FlvReader::set_max_tag_size`] and only grows as body bytes actually
//! arrive. A wrong `PreviousTagSize` is tolerated (logged with `log::warn!`
//! and counted), as players do.

use std::io::{self, Read, Write};

use bytes::Bytes;
use thiserror::Error;

use crate::avc::{AvcDecoderConfig, AvcError};

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

/// Largest header size [`FlvReader`] accepts (real files use 9).
const MAX_HEADER_SIZE: u32 = 4096;
/// How deep AMF0 objects may nest before the reader gives up.
const MAX_AMF_DEPTH: usize = 32;
/// First byte of every AAC audio tag: AAC, 44 kHz, 16-bit, stereo (FLV
/// requires these flags for AAC; the real format is in the config).
const AAC_FLAGS: u8 = 0xAF;

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

// ---------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------

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

/// Writes an FLV stream: header on creation, then tags.
#[derive(Debug)]
pub struct FlvWriter<W: Write> {
    inner: W,
    bytes_written: u64,
}

impl<W: Write> FlvWriter<W> {
    /// Writes the 9-byte header and `PreviousTagSize0`.
    pub fn new(mut writer: W, header: FlvHeader) -> Result<Self, FlvError> {
        let flags = (u8::from(header.has_audio) << 2) | u8::from(header.has_video);
        let mut bytes = [0u8; FLV_HEADER_SIZE + 4];
        bytes[..4].copy_from_slice(&[b'F', b'L', b'V', 1]);
        bytes[4] = flags;
        bytes[5..9].copy_from_slice(&(FLV_HEADER_SIZE as u32).to_be_bytes());
        writer.write_all(&bytes)?;
        Ok(Self {
            inner: writer,
            bytes_written: bytes.len() as u64,
        })
    }

    /// Writes one tag.
    pub fn write_tag(&mut self, tag: &FlvTag) -> Result<(), FlvError> {
        self.write(tag.kind, tag.timestamp_ms, &tag.body)
    }

    /// Writes one tag from its parts: 11-byte header (the timestamp's top
    /// 8 bits in the extension byte, stream id 0), body, previous tag size.
    pub fn write(&mut self, kind: TagKind, timestamp_ms: u32, body: &[u8]) -> Result<(), FlvError> {
        if body.len() > MAX_TAG_BODY_SIZE {
            return Err(FlvError::BodyTooLarge(body.len()));
        }
        let size = body.len() as u32;
        let ts = timestamp_ms.to_be_bytes();
        let sz = size.to_be_bytes();
        let header = [
            kind.as_u8(),
            sz[1],
            sz[2],
            sz[3],
            ts[1],
            ts[2],
            ts[3],
            ts[0],
            0,
            0,
            0,
        ];
        self.inner.write_all(&header)?;
        self.inner.write_all(body)?;
        self.inner
            .write_all(&(TAG_HEADER_SIZE as u32 + size).to_be_bytes())?;
        self.bytes_written += (TAG_HEADER_SIZE + body.len() + 4) as u64;
        Ok(())
    }

    /// Bytes written so far, header included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), FlvError> {
        self.inner.flush()?;
        Ok(())
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, FlvError> {
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Returns the underlying writer without flushing.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Reads as many bytes as fit `buf` or until end of file; returns the count.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads an FLV stream tag by tag.
///
/// `next_tag` returns `Ok(None)` only at a clean end: end of file right
/// after a `PreviousTagSize` field. A stream cut anywhere else gives
/// [`FlvError::Truncated`]. After [`FlvError::UnknownTagType`] the reader
/// has skipped that tag and can go on; after any other error the position
/// in the stream is unspecified and reading should stop.
#[derive(Debug)]
pub struct FlvReader<R: Read> {
    inner: R,
    header: FlvHeader,
    offset: u64,
    max_tag_size: u32,
    prev_size_mismatches: u64,
    failed: bool,
}

impl<R: Read> FlvReader<R> {
    /// Reads and checks the file header (`FLV`, version 1, header size at
    /// least 9, extra header bytes skipped) and `PreviousTagSize0`.
    pub fn new(mut reader: R) -> Result<Self, FlvError> {
        let mut head = [0u8; FLV_HEADER_SIZE];
        let got = read_up_to(&mut reader, &mut head)?;
        let have = head.get(..got.min(3)).unwrap_or(&[]);
        if !b"FLV".starts_with(have) {
            return Err(FlvError::NotFlv {
                found: have.to_vec(),
            });
        }
        if got < FLV_HEADER_SIZE {
            return Err(FlvError::Truncated {
                what: "file header",
                offset: 0,
                needed: FLV_HEADER_SIZE as u64,
                available: got as u64,
            });
        }
        let [_, _, _, version, flags, s0, s1, s2, s3] = head;
        if version != 1 {
            return Err(FlvError::UnsupportedVersion(version));
        }
        let header_size = u32::from_be_bytes([s0, s1, s2, s3]);
        if !(FLV_HEADER_SIZE as u32..=MAX_HEADER_SIZE).contains(&header_size) {
            return Err(FlvError::InvalidHeaderSize(header_size));
        }
        let extra = u64::from(header_size) - FLV_HEADER_SIZE as u64;
        let skipped = io::copy(&mut (&mut reader).take(extra), &mut io::sink())?;
        if skipped < extra {
            return Err(FlvError::Truncated {
                what: "file header",
                offset: 0,
                needed: u64::from(header_size),
                available: FLV_HEADER_SIZE as u64 + skipped,
            });
        }
        let mut this = Self {
            inner: reader,
            header: FlvHeader {
                has_audio: flags & 0x04 != 0,
                has_video: flags & 0x01 != 0,
            },
            offset: u64::from(header_size),
            max_tag_size: DEFAULT_MAX_TAG_SIZE,
            prev_size_mismatches: 0,
            failed: false,
        };
        this.read_previous_tag_size(0)?;
        Ok(this)
    }

    /// The header's audio/video flags.
    pub fn header(&self) -> FlvHeader {
        self.header
    }

    /// Sets the largest tag body accepted (default [`DEFAULT_MAX_TAG_SIZE`]);
    /// larger claims fail with [`FlvError::TagTooLarge`] before any
    /// allocation.
    pub fn set_max_tag_size(&mut self, max: u32) {
        self.max_tag_size = max;
    }

    /// Builder form of [`set_max_tag_size`](Self::set_max_tag_size).
    pub fn with_max_tag_size(mut self, max: u32) -> Self {
        self.max_tag_size = max;
        self
    }

    /// How many `PreviousTagSize` fields did not match the tag before them.
    pub fn previous_tag_size_mismatches(&self) -> u64 {
        self.prev_size_mismatches
    }

    /// Stream offset of the next tag.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next tag; `Ok(None)` at a clean end of file.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let tag_offset = self.offset;
        let mut th = [0u8; TAG_HEADER_SIZE];
        let got = read_up_to(&mut self.inner, &mut th)?;
        if got == 0 {
            return Ok(None);
        }
        if got < TAG_HEADER_SIZE {
            return Err(FlvError::Truncated {
                what: "tag header",
                offset: tag_offset,
                needed: TAG_HEADER_SIZE as u64,
                available: got as u64,
            });
        }
        self.offset += TAG_HEADER_SIZE as u64;
        let [type_byte, s0, s1, s2, t0, t1, t2, t_ext, _, _, _] = th;
        let size = u32::from_be_bytes([0, s0, s1, s2]);
        let timestamp_ms = u32::from_be_bytes([t_ext, t0, t1, t2]);
        if size > self.max_tag_size {
            return Err(FlvError::TagTooLarge {
                offset: tag_offset,
                size,
                max: self.max_tag_size,
            });
        }
        if type_byte & 0x20 != 0 {
            return Err(FlvError::EncryptedTag { offset: tag_offset });
        }
        let tag_type = type_byte & 0x1F;
        let Some(kind) = TagKind::from_u8(tag_type) else {
            // Skip the body and trailer so that the caller may go on.
            let body_len = u64::from(size);
            let skipped = io::copy(&mut (&mut self.inner).take(body_len), &mut io::sink())?;
            if skipped < body_len {
                return Err(self.truncated_body(tag_offset, size, skipped));
            }
            self.offset += body_len;
            self.read_previous_tag_size(TAG_HEADER_SIZE as u32 + size)?;
            return Err(FlvError::UnknownTagType {
                offset: tag_offset,
                tag_type,
            });
        };
        // Grow only as bytes arrive: a lying size cannot force a large
        // allocation beyond the data actually present.
        let mut body = Vec::with_capacity((size as usize).min(64 * 1024));
        (&mut self.inner)
            .take(u64::from(size))
            .read_to_end(&mut body)?;
        if body.len() < size as usize {
            return Err(self.truncated_body(tag_offset, size, body.len() as u64));
        }
        self.offset += u64::from(size);
        self.read_previous_tag_size(TAG_HEADER_SIZE as u32 + size)?;
        Ok(Some(FlvTag {
            kind,
            timestamp_ms,
            body: Bytes::from(body),
        }))
    }

    fn truncated_body(&self, tag_offset: u64, size: u32, available: u64) -> FlvError {
        FlvError::Truncated {
            what: "tag body",
            offset: tag_offset,
            needed: u64::from(size),
            available,
        }
    }

    /// Reads a `PreviousTagSize`, tolerating (and counting) a mismatch.
    fn read_previous_tag_size(&mut self, expected: u32) -> Result<(), FlvError> {
        let mut b = [0u8; 4];
        let got = read_up_to(&mut self.inner, &mut b)?;
        if got < 4 {
            return Err(FlvError::Truncated {
                what: "previous tag size",
                offset: self.offset,
                needed: 4,
                available: got as u64,
            });
        }
        let found = u32::from_be_bytes(b);
        if found != expected {
            self.prev_size_mismatches += 1;
            log::warn!(
                "FLV previous tag size at byte {} is {found}, expected {expected}; ignored",
                self.offset
            );
        }
        self.offset += 4;
        Ok(())
    }
}

impl<R: Read> Iterator for FlvReader<R> {
    type Item = Result<FlvTag, FlvError>;

    /// Yields tags; stops after the first error other than an unknown tag
    /// type.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_tag() {
            Ok(Some(tag)) => Some(Ok(tag)),
            Ok(None) => {
                self.failed = true;
                None
            }
            Err(e) => {
                self.failed = !matches!(e, FlvError::UnknownTagType { .. });
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Video tag bodies
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Audio tag bodies
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// AMF0
// ---------------------------------------------------------------------------

/// An AMF0 value, as found in FLV script data.
#[derive(Debug, Clone, PartialEq)]
pub enum AmfValue {
    /// Number (marker 0x00), an IEEE double.
    Number(f64),
    /// Boolean (0x01).
    Boolean(bool),
    /// String (0x02), or long string (0x0C) when read.
    String(String),
    /// Anonymous object (0x03): ordered properties.
    Object(Vec<(String, AmfValue)>),
    /// Null (0x05).
    Null,
    /// Undefined (0x06).
    Undefined,
    /// ECMA array (0x08): ordered properties.
    EcmaArray(Vec<(String, AmfValue)>),
    /// Strict array (0x0A).
    StrictArray(Vec<AmfValue>),
    /// Date (0x0B): milliseconds since the epoch and a time zone (unused).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time zone offset in minutes (reserved, normally 0).
        timezone: i16,
    },
}

impl AmfValue {
    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The properties, if this is an object or ECMA array.
    pub fn as_properties(&self) -> Option<&[(String, AmfValue)]> {
        match self {
            Self::Object(p) | Self::EcmaArray(p) => Some(p),
            _ => None,
        }
    }
}

/// The longest prefix of `s` that fits `max` bytes on a char boundary.
fn clip_str(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Writes a property name (16-bit length, no marker); names longer than
/// 65535 bytes are cut.
fn put_amf_key(out: &mut Vec<u8>, key: &str) {
    let key = clip_str(key, u16::MAX as usize);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

fn put_amf_properties(out: &mut Vec<u8>, props: &[(String, AmfValue)]) {
    for (key, value) in props {
        put_amf_key(out, key);
        encode_amf0(value, out);
    }
    out.extend_from_slice(&[0, 0, 9]);
}

/// Appends the AMF0 encoding of `value` to `out`. Strings over 65535 bytes
/// are written as long strings; property names that long are cut.
pub fn encode_amf0(value: &AmfValue, out: &mut Vec<u8>) {
    match value {
        AmfValue::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        AmfValue::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        AmfValue::String(s) => {
            if let Ok(len) = u16::try_from(s.len()) {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            } else {
                let s = clip_str(s, u32::MAX as usize);
                out.push(0x0C);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        AmfValue::Object(props) => {
            out.push(0x03);
            put_amf_properties(out, props);
        }
        AmfValue::Null => out.push(0x05),
        AmfValue::Undefined => out.push(0x06),
        AmfValue::EcmaArray(props) => {
            out.push(0x08);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            put_amf_properties(out, props);
        }
        AmfValue::StrictArray(items) => {
            out.push(0x0A);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items {
                encode_amf0(item, out);
            }
        }
        AmfValue::Date { millis, timezone } => {
            out.push(0x0B);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
    }
}

/// A bounds-checked AMF0 decoder over a byte slice.
struct AmfReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> AmfReader<'a> {
    fn err(&self, reason: &'static str) -> FlvError {
        FlvError::InvalidAmf {
            offset: self.pos,
            reason,
        }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FlvError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err("length overflows"))?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.err("truncated"))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FlvError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| self.err("truncated"))
    }

    fn string(&mut self, len: usize) -> Result<String, FlvError> {
        let bytes = self.take(len)?;
        // Tolerate invalid UTF-8 from odd encoders rather than fail.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_string(&mut self) -> Result<String, FlvError> {
        let len = u16::from_be_bytes(self.array()?);
        self.string(usize::from(len))
    }

    /// Properties up to the `00 00 09` end marker. An ECMA array may also
    /// end at the end of the data, as some muxers write it.
    fn properties(
        &mut self,
        depth: usize,
        allow_eof_end: bool,
    ) -> Result<Vec<(String, AmfValue)>, FlvError> {
        let mut props = Vec::new();
        loop {
            if allow_eof_end && self.remaining() == 0 {
                return Ok(props);
            }
            let key = self.short_string()?;
            if key.is_empty() && self.data.get(self.pos) == Some(&0x09) {
                self.pos += 1;
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }

    fn value(&mut self, depth: usize) -> Result<AmfValue, FlvError> {
        if depth > MAX_AMF_DEPTH {
            return Err(self.err("objects nested too deeply"));
        }
        let marker_at = self.pos;
        let [marker] = self.array()?;
        Ok(match marker {
            0x00 => AmfValue::Number(f64::from_be_bytes(self.array()?)),
            0x01 => {
                let [b] = self.array()?;
                AmfValue::Boolean(b != 0)
            }
            0x02 => AmfValue::String(self.short_string()?),
            0x03 => AmfValue::Object(self.properties(depth, false)?),
            0x05 => AmfValue::Null,
            0x06 => AmfValue::Undefined,
            0x08 => {
                let _count_hint = self.array::<4>()?;
                AmfValue::EcmaArray(self.properties(depth, true)?)
            }
            0x0A => {
                let count = u32::from_be_bytes(self.array()?) as usize;
                // Every value takes at least one byte.
                if count > self.remaining() {
                    return Err(self.err("strict array count exceeds the data"));
                }
                // Reserve for what a small array needs; a large one grows
                // as its values actually parse.
                let mut items = Vec::with_capacity(count.min(256));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AmfValue::StrictArray(items)
            }
            0x0B => {
                let millis = f64::from_be_bytes(self.array()?);
                let timezone = i16::from_be_bytes(self.array()?);
                AmfValue::Date { millis, timezone }
            }
            0x0C => {
                let len = u32::from_be_bytes(self.array()?) as usize;
                AmfValue::String(self.string(len)?)
            }
            other => {
                return Err(FlvError::UnsupportedAmfType {
                    offset: marker_at,
                    marker: other,
                })
            }
        })
    }
}

/// Decodes every AMF0 value in `data`, in order.
pub fn decode_amf0(data: &[u8]) -> Result<Vec<AmfValue>, FlvError> {
    let mut r = AmfReader { data, pos: 0 };
    let mut values = Vec::new();
    while r.remaining() > 0 {
        values.push(r.value(0)?);
    }
    Ok(values)
}

// ---------------------------------------------------------------------------
// onMetaData
// ---------------------------------------------------------------------------

/// Audio fields of [`StreamMetadata`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioMetadata {
    /// Sample rate in Hz (`audiosamplerate`).
    pub sample_rate: u32,
    /// Channel count (`stereo` is written as `channels >= 2`).
    pub channels: u8,
    /// Bit rate in kbit/s (`audiodatarate`).
    pub bitrate_kbps: f64,
}

/// The stream description carried by `onMetaData`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamMetadata {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub frame_rate: f64,
    /// Video bit rate in kbit/s (`videodatarate`).
    pub video_bitrate_kbps: f64,
    /// Audio description, when the stream has audio (codec id 10 = AAC).
    pub audio: Option<AudioMetadata>,
    /// Encoder name.
    pub encoder: String,
    /// Duration in seconds, for files (absent for live streams).
    pub duration_s: Option<f64>,
}

/// `f64` to `u32`, saturating; NaN becomes 0.
fn to_u32(v: f64) -> u32 {
    v as u32
}

impl StreamMetadata {
    /// The `onMetaData` properties, in the usual order; video codec id 7
    /// (AVC) when there is a picture size, audio codec id 10 (AAC) when
    /// there is audio.
    pub fn to_properties(&self) -> Vec<(String, AmfValue)> {
        let mut p: Vec<(String, AmfValue)> = Vec::new();
        let mut num = |k: &str, v: f64| p.push((k.to_string(), AmfValue::Number(v)));
        if let Some(d) = self.duration_s {
            num("duration", d);
        }
        // An audio-only stream (no picture size) has no video fields.
        if self.width > 0 && self.height > 0 {
            num("width", f64::from(self.width));
            num("height", f64::from(self.height));
            num("videodatarate", self.video_bitrate_kbps);
            num("framerate", self.frame_rate);
            num("videocodecid", f64::from(VIDEO_CODEC_AVC));
        }
        if let Some(a) = &self.audio {
            num("audiodatarate", a.bitrate_kbps);
            num("audiosamplerate", f64::from(a.sample_rate));
            num("audiosamplesize", 16.0);
            num("audiochannels", f64::from(a.channels));
            p.push(("stereo".to_string(), AmfValue::Boolean(a.channels >= 2)));
            p.push((
                "audiocodecid".to_string(),
                AmfValue::Number(f64::from(AUDIO_FORMAT_AAC)),
            ));
        }
        p.push((
            "encoder".to_string(),
            AmfValue::String(self.encoder.clone()),
        ));
        p
    }

    /// Extracts the known fields from `onMetaData` properties; missing or
    /// mistyped ones take their defaults. Audio is present when any audio
    /// field is.
    pub fn from_properties(props: &[(String, AmfValue)]) -> Self {
        let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let num = |k: &str| get(k).and_then(AmfValue::as_f64);
        let has_audio = ["audiocodecid", "audiosamplerate", "audiodatarate", "stereo"]
            .iter()
            .any(|k| get(k).is_some());
        let audio = has_audio.then(|| AudioMetadata {
            sample_rate: num("audiosamplerate").map_or(0, to_u32),
            channels: match num("audiochannels") {
                Some(c) => c.clamp(0.0, 255.0) as u8,
                None => match get("stereo").and_then(AmfValue::as_bool) {
                    Some(false) => 1,
                    _ => 2,
                },
            },
            bitrate_kbps: num("audiodatarate").unwrap_or(0.0),
        });
        Self {
            width: num("width").map_or(0, to_u32),
            height: num("height").map_or(0, to_u32),
            frame_rate: num("framerate").unwrap_or(0.0),
            video_bitrate_kbps: num("videodatarate").unwrap_or(0.0),
            audio,
            encoder: get("encoder")
                .and_then(AmfValue::as_str)
                .unwrap_or_default()
                .to_string(),
            duration_s: num("duration"),
        }
    }
}

/// The script tag body `"onMetaData"` + ECMA array of `meta`.
pub fn metadata_body(meta: &StreamMetadata) -> Vec<u8> {
    let mut out = Vec::new();
    encode_amf0(&AmfValue::String("onMetaData".to_string()), &mut out);
    encode_amf0(&AmfValue::EcmaArray(meta.to_properties()), &mut out);
    out
}

/// The RTMP data message form: `"@setDataFrame"`, `"onMetaData"`, ECMA array.
pub fn set_data_frame_body(meta: &StreamMetadata) -> Vec<u8> {
    let mut out = Vec::new();
    encode_amf0(&AmfValue::String("@setDataFrame".to_string()), &mut out);
    out.extend_from_slice(&metadata_body(meta));
    out
}

/// Parses an `onMetaData` script body (optionally preceded by
/// `"@setDataFrame"`, the RTMP form) into its properties, in order. Another
/// script name gives [`FlvError::NotMetadata`].
pub fn parse_metadata_body(body: &[u8]) -> Result<Vec<(String, AmfValue)>, FlvError> {
    let values = decode_amf0(body)?;
    let mut it = values.into_iter();
    let mut name = it.next();
    if matches!(&name, Some(AmfValue::String(s)) if s == "@setDataFrame") {
        name = it.next();
    }
    match name {
        Some(AmfValue::String(s)) if s == "onMetaData" => {}
        Some(AmfValue::String(s)) => return Err(FlvError::NotMetadata(s)),
        _ => {
            return Err(FlvError::InvalidAmf {
                offset: 0,
                reason: "script data does not start with a name string",
            })
        }
    }
    match it.next() {
        Some(AmfValue::EcmaArray(p) | AmfValue::Object(p)) => Ok(p),
        _ => Err(FlvError::InvalidAmf {
            offset: 0,
            reason: "onMetaData is not followed by an ECMA array or object",
        }),
    }
}

/// [`parse_metadata_body`] followed by [`StreamMetadata::from_properties`].
pub fn parse_stream_metadata(body: &[u8]) -> Result<StreamMetadata, FlvError> {
    parse_metadata_body(body).map(|p| StreamMetadata::from_properties(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_meta() -> StreamMetadata {
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

    fn sample_config() -> AvcDecoderConfig {
        AvcDecoderConfig::from_parameter_sets(
            &[0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01],
            &[0x68, 0xCB, 0x83, 0xCB, 0x20],
        )
        .unwrap()
    }

    fn sample_tags() -> Vec<FlvTag> {
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
    fn sample_file() -> (Vec<u8>, Vec<usize>) {
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

    #[test]
    fn extended_timestamps_round_trip() {
        let mut w = FlvWriter::new(Vec::new(), FlvHeader::default()).unwrap();
        let stamps = [0u32, 0xFF_FFFF, 0x100_0000, 0x1234_5678, u32::MAX];
        for &ts in &stamps {
            w.write(TagKind::Audio, ts, &[0xAF, 1]).unwrap();
        }
        let data = w.into_inner();
        // Second... fourth tag header: lower 24 bits, then the extension byte.
        let tag = 13 + 3 * (11 + 2 + 4);
        assert_eq!(&data[tag + 4..tag + 8], &[0x34, 0x56, 0x78, 0x12]);
        let read: Vec<u32> = FlvReader::new(&data[..])
            .unwrap()
            .map(|t| t.unwrap().timestamp_ms)
            .collect();
        assert_eq!(read, stamps);
    }

    #[test]
    fn every_cut_is_truncated_or_clean() {
        let (data, ends) = sample_file();
        for cut in 0..=data.len() {
            let part = &data[..cut];
            let mut r = match FlvReader::new(part) {
                Ok(r) => r,
                Err(e) => {
                    assert!(cut < 13, "cut {cut}: {e}");
                    assert!(
                        matches!(e, FlvError::Truncated { .. } | FlvError::NotFlv { .. }),
                        "cut {cut}: {e}"
                    );
                    continue;
                }
            };
            let mut count = 0;
            let result = loop {
                match r.next_tag() {
                    Ok(Some(_)) => count += 1,
                    other => break other,
                }
            };
            if ends.contains(&cut) {
                assert!(matches!(result, Ok(None)), "cut {cut}");
                assert_eq!(ends[count], cut);
            } else {
                assert!(
                    matches!(result, Err(FlvError::Truncated { .. })),
                    "cut {cut}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn truncation_message_is_clear() {
        let (data, ends) = sample_file();
        let cut = ends[1] + 11 + 17;
        let mut r = FlvReader::new(&data[..cut]).unwrap();
        r.next_tag().unwrap().unwrap();
        let err = r.next_tag().unwrap_err();
        let size = u32::from_be_bytes([0, data[ends[1] + 1], data[ends[1] + 2], data[ends[1] + 3]]);
        assert_eq!(
            err.to_string(),
            format!(
                "FLV tag body at byte {} is truncated: needs {size} bytes, 17 left",
                ends[1]
            )
        );
    }

    #[test]
    fn bad_headers_refused() {
        assert!(matches!(
            FlvReader::new(&b"GIF89a..........."[..]),
            Err(FlvError::NotFlv { .. })
        ));
        assert!(matches!(
            FlvReader::new(&b""[..]),
            Err(FlvError::Truncated { .. })
        ));
        assert!(matches!(
            FlvReader::new(&b"FL"[..]),
            Err(FlvError::Truncated { .. })
        ));
        assert!(matches!(
            FlvReader::new(&b"FX"[..]),
            Err(FlvError::NotFlv { .. })
        ));
        assert!(matches!(
            FlvReader::new(&b"FLV\x02\x05\x00\x00\x00\x09\x00\x00\x00\x00"[..]),
            Err(FlvError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            FlvReader::new(&b"FLV\x01\x05\x00\x00\x00\x05\x00\x00\x00\x00"[..]),
            Err(FlvError::InvalidHeaderSize(5))
        ));
        assert!(matches!(
            FlvReader::new(&b"FLV\x01\x05\xFF\xFF\xFF\xFF\x00\x00\x00\x00"[..]),
            Err(FlvError::InvalidHeaderSize(_))
        ));
        // A longer header is skipped.
        let r =
            FlvReader::new(&b"FLV\x01\x01\x00\x00\x00\x0B\xAA\xBB\x00\x00\x00\x00"[..]).unwrap();
        assert!(r.header().has_video && !r.header().has_audio);
    }

    /// A reader that counts how many bytes were requested at most at once.
    struct Tracking<'a> {
        data: &'a [u8],
        largest_buf: usize,
    }

    impl Read for Tracking<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest_buf = self.largest_buf.max(buf.len());
            let n = buf.len().min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn corrupt_sizes_refused_without_large_allocation() {
        let (mut data, ends) = sample_file();
        let tag = ends[0];
        data[tag + 1..tag + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        let mut r = FlvReader::new(&data[..]).unwrap();
        assert!(matches!(
            r.next_tag(),
            Err(FlvError::TagTooLarge {
                size: 0xFF_FFFF,
                ..
            })
        ));
        let mut r = FlvReader::new(&data[..]).unwrap().with_max_tag_size(100);
        assert!(matches!(
            r.next_tag(),
            Err(FlvError::TagTooLarge { max: 100, .. })
        ));

        // Allowed but lying: fails as truncated after reading what exists.
        let mut r = FlvReader::new(Tracking {
            data: &data,
            largest_buf: 0,
        })
        .unwrap()
        .with_max_tag_size(MAX_TAG_BODY_SIZE as u32);
        assert!(matches!(r.next_tag(), Err(FlvError::Truncated { .. })));
        assert!(r.into_inner().largest_buf < 1 << 20);

        assert!(matches!(
            FlvWriter::new(Vec::new(), FlvHeader::default())
                .unwrap()
                .write(TagKind::Video, 0, &vec![0; MAX_TAG_BODY_SIZE + 1]),
            Err(FlvError::BodyTooLarge(_))
        ));
    }

    #[test]
    fn unknown_tags_skipped_and_prev_size_mismatch_tolerated() {
        let mut w = FlvWriter::new(Vec::new(), FlvHeader::default()).unwrap();
        w.write(TagKind::Audio, 1, &[0xAF, 1, 5]).unwrap();
        w.write(TagKind::Video, 2, &video_end_of_sequence_body())
            .unwrap();
        w.write(TagKind::Audio, 3, &[0xAF, 1, 6]).unwrap();
        let mut data = w.into_inner();
        let second = 13 + 11 + 3 + 4;
        data[second] = 15; // unknown type
        data[second - 1] ^= 0x40; // wrong previous tag size of the first tag
        let mut r = FlvReader::new(&data[..]).unwrap();
        assert_eq!(r.next_tag().unwrap().unwrap().timestamp_ms, 1);
        assert_eq!(r.previous_tag_size_mismatches(), 1);
        assert!(matches!(
            r.next_tag(),
            Err(FlvError::UnknownTagType { tag_type: 15, .. })
        ));
        assert_eq!(r.next_tag().unwrap().unwrap().timestamp_ms, 3);
        assert!(r.next_tag().unwrap().is_none());

        let items: Vec<_> = FlvReader::new(&data[..]).unwrap().collect();
        assert_eq!(items.len(), 3);
        assert!(items[1].is_err());

        data[second] = 0x29; // filter bit
        let mut r = FlvReader::new(&data[..]).unwrap();
        r.next_tag().unwrap();
        assert!(matches!(r.next_tag(), Err(FlvError::EncryptedTag { .. })));
    }

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

    #[test]
    fn amf_metadata_round_trip_and_set_data_frame() {
        let meta = sample_meta();
        let body = metadata_body(&meta);
        assert_eq!(&body[..13], b"\x02\x00\x0AonMetaData");
        assert_eq!(body[13], 0x08);
        assert_eq!(&body[body.len() - 3..], &[0, 0, 9]);
        assert_eq!(parse_stream_metadata(&body).unwrap(), meta);

        let rtmp = set_data_frame_body(&meta);
        assert_eq!(parse_stream_metadata(&rtmp).unwrap(), meta);
        let props = parse_metadata_body(&rtmp).unwrap();
        let codec = props.iter().find(|(k, _)| k == "videocodecid").unwrap();
        assert_eq!(codec.1, AmfValue::Number(7.0));

        let file_meta = StreamMetadata {
            audio: None,
            duration_s: Some(12.5),
            ..meta
        };
        assert_eq!(
            parse_stream_metadata(&metadata_body(&file_meta)).unwrap(),
            file_meta
        );

        let mut cue = Vec::new();
        encode_amf0(&AmfValue::String("onCuePoint".into()), &mut cue);
        encode_amf0(&AmfValue::Object(vec![]), &mut cue);
        assert!(matches!(
            parse_metadata_body(&cue),
            Err(FlvError::NotMetadata(name)) if name == "onCuePoint"
        ));
    }

    #[test]
    fn amf_all_types_round_trip() {
        let value = AmfValue::Object(vec![
            ("n".into(), AmfValue::Number(-1.5)),
            ("b".into(), AmfValue::Boolean(true)),
            ("s".into(), AmfValue::String("héllo".into())),
            ("long".into(), AmfValue::String("x".repeat(70_000))),
            ("null".into(), AmfValue::Null),
            ("u".into(), AmfValue::Undefined),
            (
                "arr".into(),
                AmfValue::StrictArray(vec![AmfValue::Number(1.0), AmfValue::Null]),
            ),
            (
                "date".into(),
                AmfValue::Date {
                    millis: 1.7e12,
                    timezone: 0,
                },
            ),
            (
                "ecma".into(),
                AmfValue::EcmaArray(vec![("k".into(), AmfValue::Boolean(false))]),
            ),
        ]);
        let mut out = Vec::new();
        encode_amf0(&value, &mut out);
        assert_eq!(decode_amf0(&out).unwrap(), vec![value]);
        // Every strict prefix fails cleanly.
        for cut in 0..out.len() {
            assert!(decode_amf0(&out[..cut]).is_err() || cut == 0, "cut {cut}");
        }
    }

    #[test]
    fn amf_malformed_input_errors() {
        assert!(matches!(
            decode_amf0(&[0x07, 0, 1]),
            Err(FlvError::UnsupportedAmfType { marker: 7, .. })
        ));
        assert!(matches!(
            decode_amf0(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 5]),
            Err(FlvError::InvalidAmf { .. })
        ));
        assert!(decode_amf0(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']).is_err());
        // Deep nesting is refused instead of overflowing the stack.
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(&[0x03, 0, 1, b'a']);
        }
        assert!(matches!(
            decode_amf0(&deep),
            Err(FlvError::InvalidAmf { .. })
        ));
        // An ECMA array without its end marker is accepted.
        let mut open = vec![0x08, 0, 0, 0, 1, 0, 1, b'w'];
        open.extend_from_slice(&[0x00]);
        open.extend_from_slice(&640f64.to_be_bytes());
        assert_eq!(
            decode_amf0(&open).unwrap(),
            vec![AmfValue::EcmaArray(vec![(
                "w".into(),
                AmfValue::Number(640.0)
            )])]
        );
        // Arbitrary bytes never panic.
        let mut seed = 12345u32;
        for _ in 0..2000 {
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8 % 16
                })
                .collect();
            let _ = decode_amf0(&bytes);
            let _ = parse_metadata_body(&bytes);
            let _ = parse_video_body(&bytes);
            let _ = parse_audio_body(&bytes);
        }
    }
}
