//! The AAC sound of an FLV file as an ADTS byte stream, so that symphonia's
//! ADTS reader and AAC decoder (what every other sound file goes through)
//! decode it: each raw AAC frame of the file's audio tags gets the 7-byte
//! ADTS header its `AudioSpecificConfig` describes, read lazily, tag by
//! tag, as the decoder asks.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::io::MediaSource;

use super::aac::FREQUENCY_TABLE;
use crate::flv::{parse_audio_body, AudioBody, FlvError, FlvReader, TagKind};

/// Largest AAC frame an ADTS header can carry (13-bit length less the
/// header).
const MAX_FRAME: usize = 0x1fff - ADTS_HEADER;
const ADTS_HEADER: usize = 7;

/// An FLV file's AAC frames, read as ADTS.
pub struct FlvAdtsStream {
    reader: FlvReader<BufReader<File>>,
    /// The header fields of the current `AudioSpecificConfig`: object type,
    /// sampling-frequency index, channel configuration.
    config: Option<(u8, u8, u8)>,
    /// ADTS bytes made but not yet read.
    buffered: Vec<u8>,
    position: usize,
    ended: bool,
}

impl FlvAdtsStream {
    /// Opens `path`; fails unless it is an FLV file.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let reader = FlvReader::new(BufReader::new(file))
            .map_err(|e| format!("not a readable FLV file ({e})"))?;
        Ok(Self {
            reader,
            config: None,
            buffered: Vec::new(),
            position: 0,
            ended: false,
        })
    }

    /// Reads tags until an AAC frame is turned into ADTS bytes, or the end.
    fn fill(&mut self) -> io::Result<()> {
        while self.position >= self.buffered.len() && !self.ended {
            let tag = match self.reader.next_tag() {
                Ok(Some(tag)) => tag,
                Ok(None) => {
                    self.ended = true;
                    break;
                }
                Err(FlvError::UnknownTagType { .. }) => continue,
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            };
            if tag.kind != TagKind::Audio {
                continue;
            }
            let body = parse_audio_body(&tag.body)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            match body {
                AudioBody::AacSequenceHeader(asc) => self.config = Some(adts_fields(asc)?),
                AudioBody::AacRaw(frame) => {
                    let Some(config) = self.config else {
                        continue;
                    };
                    if frame.len() > MAX_FRAME {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("an AAC frame of {} bytes is too long", frame.len()),
                        ));
                    }
                    self.buffered.clear();
                    self.position = 0;
                    self.buffered.extend(adts_header(config, frame.len()));
                    self.buffered.extend_from_slice(frame);
                }
                AudioBody::Other { format, .. } => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("FLV sound format {format} is not AAC"),
                    ))
                }
            }
        }
        Ok(())
    }
}

impl Read for FlvAdtsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.fill()?;
        let available = self.buffered.get(self.position..).unwrap_or(&[]);
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

impl Seek for FlvAdtsStream {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the sound of an FLV file is read straight through",
        ))
    }
}

impl MediaSource for FlvAdtsStream {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

/// Object type, sampling-frequency index and channel configuration of an
/// `AudioSpecificConfig`, as ADTS carries them (AAC Main, LC, SSR or LTP,
/// a tabled rate, 1–7 channels).
fn adts_fields(asc: &[u8]) -> io::Result<(u8, u8, u8)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let [first, second, ..] = *asc else {
        return Err(bad("the AAC sequence header is too short"));
    };
    let object_type = first >> 3;
    let index = ((first & 0x07) << 1) | (second >> 7);
    let channels = (second >> 3) & 0x0f;
    if !(1..=4).contains(&object_type) {
        return Err(bad("ADTS carries AAC object types 1 to 4 only"));
    }
    if usize::from(index) >= FREQUENCY_TABLE.len() {
        return Err(bad("the AAC sample rate is not a tabled one"));
    }
    if !(1..=7).contains(&channels) {
        return Err(bad("the AAC channel configuration is not 1 to 7"));
    }
    Ok((object_type, index, channels))
}

/// The 7-byte ADTS header (no CRC) of a raw frame of `length` bytes.
fn adts_header((object_type, index, channels): (u8, u8, u8), length: usize) -> [u8; 7] {
    let total = (length + ADTS_HEADER) as u32;
    [
        0xff,
        0xf1, // MPEG-4, layer 0, no CRC
        ((object_type - 1) << 6) | (index << 2) | (channels >> 2),
        ((channels & 0x03) << 6) | ((total >> 11) as u8 & 0x03),
        (total >> 3) as u8,
        ((total & 0x07) as u8) << 5 | 0x1f,
        0xfc, // buffer fullness 0x7ff (VBR), one raw data block
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_48k_stereo_gets_the_usual_adts_header() {
        // AudioSpecificConfig 0x11 0x90: AAC-LC, 48 kHz (index 3), stereo.
        let fields = adts_fields(&[0x11, 0x90]).unwrap();
        assert_eq!(fields, (2, 3, 2));
        let header = adts_header(fields, 371);
        // FFmpeg's ADTS muxer writes FF F1 4C 80 .. for 48 kHz stereo LC.
        assert_eq!(&header[..3], &[0xff, 0xf1, 0x4c]);
        let total = (u32::from(header[3] & 0x03) << 11)
            | (u32::from(header[4]) << 3)
            | u32::from(header[5] >> 5);
        assert_eq!(total, 378);
        assert_eq!(header[3] >> 6, 2);
    }

    #[test]
    fn configs_adts_cannot_carry_are_refused() {
        assert!(adts_fields(&[0x11]).is_err());
        // Object type 5 (SBR) and a non-tabled rate index 13.
        assert!(adts_fields(&[0x29, 0x90]).is_err());
        assert!(adts_fields(&[0x16, 0x90]).is_err());
        // Channel configuration 0.
        assert!(adts_fields(&[0x11, 0x80]).is_err());
    }
}
