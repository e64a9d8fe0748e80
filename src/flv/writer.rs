//! [`FlvWriter`]: writes the FLV file header, then tags with their
//! `PreviousTagSize` trailers.

use std::io::Write;

use super::{
    FlvError, FlvHeader, FlvTag, TagKind, FLV_HEADER_SIZE, MAX_TAG_BODY_SIZE, TAG_HEADER_SIZE,
};

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

    /// The underlying writer, mutably (e.g. to take what an in-memory
    /// writer holds).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::FlvReader;

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
    fn oversized_body_refused() {
        assert!(matches!(
            FlvWriter::new(Vec::new(), FlvHeader::default())
                .unwrap()
                .write(TagKind::Video, 0, &vec![0; MAX_TAG_BODY_SIZE + 1]),
            Err(FlvError::BodyTooLarge(_))
        ));
    }
}
