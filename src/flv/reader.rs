//! [`FlvReader`]: reads an FLV stream tag by tag, for untrusted input.
//!
//! Every malformed stream yields an [`FlvError`], never a panic, and a
//! tag's memory is bounded by [`FlvReader::set_max_tag_size`] and only grows
//! as body bytes actually arrive. A wrong `PreviousTagSize` is tolerated
//! (logged with `log::warn!` and counted), as players do.

use std::io::{self, Read};

use bytes::Bytes;

use super::{
    FlvError, FlvHeader, FlvTag, TagKind, DEFAULT_MAX_TAG_SIZE, FLV_HEADER_SIZE, TAG_HEADER_SIZE,
};

/// Largest header size [`FlvReader`] accepts (real files use 9).
const MAX_HEADER_SIZE: u32 = 4096;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::tests::sample_file;
    use crate::flv::{video_end_of_sequence_body, FlvWriter, MAX_TAG_BODY_SIZE};

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
}
