//! Limits on what an RTMP peer may send, checked on the raw chunk stream
//! before `rml_rtmp` parses it.
//!
//! `rml_rtmp` believes a peer's `Set Chunk Size` (up to 2³¹) and reserves a
//! message's whole declared length (up to 16 MiB) as soon as its first
//! chunk header arrives, so without a check one peer could make the server
//! hold 16 MiB it never sends, times every connection. [`ChunkGuard`] reads
//! the same chunk headers the way `rml_rtmp` does (one message being
//! assembled at a time; a type 3 chunk carries an extended timestamp when
//! its stream's last timestamp field was 0xFFFFFF) and refuses a chunk
//! size or a message length past [`InboundLimits`] before the bytes reach
//! the parser. It keeps a few bytes of state per chunk stream and never
//! buffers payload.

use std::collections::HashMap;

use thiserror::Error;

/// Chunk size every RTMP connection starts with.
const INITIAL_CHUNK_SIZE: u32 = 128;
/// A timestamp field with this value means "see the extended timestamp".
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Message type of `Set Chunk Size`.
const SET_CHUNK_SIZE: u8 = 1;
/// Most distinct chunk streams a peer may use (the protocol allows 65 599).
const MAX_CHUNK_STREAMS: usize = 1024;

/// The largest chunks and messages a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Largest chunk size a peer may announce.
    pub max_chunk_size: u32,
    /// Largest message length a peer may declare.
    pub max_message_bytes: u32,
}

impl Default for InboundLimits {
    /// Chunks up to 1 MiB, messages up to 4 MiB (a 1080p key frame at a
    /// high bitrate is well under 1 MiB; nginx-rtmp's default is 1 MiB).
    fn default() -> Self {
        Self {
            max_chunk_size: 1 << 20,
            max_message_bytes: 4 << 20,
        }
    }
}

/// What a peer sent past the limits, or could not have sent legally.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// `Set Chunk Size` to zero or past the limit.
    #[error("chunk size {size} refused (allowed 1 to {max})")]
    ChunkSize {
        /// What the peer asked for.
        size: u32,
        /// The limit.
        max: u32,
    },
    /// A message declared longer than the limit.
    #[error("message of {length} bytes refused (at most {max})")]
    MessageSize {
        /// The declared length.
        length: u32,
        /// The limit.
        max: u32,
    },
    /// A chunk header that continues a chunk stream never started.
    #[error("chunk continues stream {0}, which has no previous chunk")]
    NoPreviousChunk(u32),
    /// A chunk header that changes the length of the message being
    /// assembled.
    #[error("chunk header changes the length of a message half received")]
    LengthChanged,
    /// Too many distinct chunk streams.
    #[error("more than {MAX_CHUNK_STREAMS} chunk streams")]
    TooManyChunkStreams,
}

/// The last header seen on one chunk stream.
#[derive(Debug, Clone, Copy, Default)]
struct StreamHeader {
    message_length: u32,
    type_id: u8,
    timestamp_field: u32,
}

/// Where the guard is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Collecting a chunk's basic and message headers.
    Header,
    /// Skipping `left` payload bytes of the current chunk.
    Payload { left: u32 },
}

/// Checks a peer's chunk stream against [`InboundLimits`], incrementally:
/// feed it every byte after the handshake, in order, in any slices.
#[derive(Debug)]
pub struct ChunkGuard {
    limits: InboundLimits,
    chunk_size: u32,
    stage: Stage,
    /// Header bytes of the chunk being read.
    header: Vec<u8>,
    streams: HashMap<u32, StreamHeader>,
    /// Chunk stream and type of the message being assembled, and how much
    /// of it has arrived (`rml_rtmp` assembles one message at a time).
    current: Option<(u32, StreamHeader)>,
    received: u32,
    /// The first payload bytes of a `Set Chunk Size` message.
    control: Vec<u8>,
}

impl ChunkGuard {
    /// A guard for a new connection (chunk size 128).
    pub fn new(limits: InboundLimits) -> Self {
        Self {
            limits,
            chunk_size: INITIAL_CHUNK_SIZE,
            stage: Stage::Header,
            header: Vec::with_capacity(18),
            streams: HashMap::new(),
            current: None,
            received: 0,
            control: Vec::with_capacity(4),
        }
    }

    /// The chunk size the peer is sending with now.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Checks the next bytes; after an error the connection must be
    /// dropped (the guard's view of the stream is no longer reliable).
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), GuardError> {
        while !bytes.is_empty() {
            match self.stage {
                Stage::Header => {
                    let (byte, rest) = (bytes[0], &bytes[1..]);
                    bytes = rest;
                    self.header.push(byte);
                    if let Some(left) = self.header_complete()? {
                        self.header.clear();
                        self.stage = Stage::Payload { left };
                        if left == 0 {
                            self.end_chunk()?;
                        }
                    }
                }
                Stage::Payload { left } => {
                    let take = (left as usize).min(bytes.len());
                    let (payload, rest) = bytes.split_at(take);
                    bytes = rest;
                    self.note_payload(payload);
                    // `take` ≤ `left`, a u32.
                    let left = left - take as u32;
                    self.stage = Stage::Payload { left };
                    if left == 0 {
                        self.end_chunk()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// With the header bytes so far: `Some(payload length)` once the
    /// chunk's header is complete, `None` while more bytes are needed.
    fn header_complete(&mut self) -> Result<Option<u32>, GuardError> {
        let header = &self.header;
        let format = header[0] >> 6;
        let (csid, basic_len) = match header[0] & 0x3f {
            0 if header.len() < 2 => return Ok(None),
            0 => (64 + u32::from(header[1]), 2),
            1 if header.len() < 3 => return Ok(None),
            1 => (64 + u32::from(header[1]) + 256 * u32::from(header[2]), 3),
            id => (u32::from(id), 1),
        };
        let message_header_len = [11, 7, 3, 0][usize::from(format)];
        if header.len() < basic_len + message_header_len {
            return Ok(None);
        }
        let fields = &header[basic_len..];
        let u24 = |at: usize| u32::from_be_bytes([0, fields[at], fields[at + 1], fields[at + 2]]);
        let mut stream = match (format, self.streams.get(&csid)) {
            (0, _) => StreamHeader::default(),
            (_, Some(previous)) => *previous,
            (_, None) => return Err(GuardError::NoPreviousChunk(csid)),
        };
        if format <= 2 {
            stream.timestamp_field = u24(0);
        }
        if format <= 1 {
            stream.message_length = u24(3);
            stream.type_id = fields[6];
        }
        let extended = if stream.timestamp_field >= EXTENDED_TIMESTAMP {
            4
        } else {
            0
        };
        if header.len() < basic_len + message_header_len + extended {
            return Ok(None);
        }
        if stream.message_length > self.limits.max_message_bytes {
            return Err(GuardError::MessageSize {
                length: stream.message_length,
                max: self.limits.max_message_bytes,
            });
        }
        if self.received > 0 {
            // A message is half received: this chunk continues it.
            if let Some((_, current)) = self.current {
                if current.message_length != stream.message_length {
                    return Err(GuardError::LengthChanged);
                }
            }
        } else {
            self.control.clear();
        }
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(GuardError::TooManyChunkStreams);
        }
        self.streams.insert(csid, stream);
        self.current = Some((csid, stream));
        let left = stream.message_length - self.received;
        Ok(Some(left.min(self.chunk_size)))
    }

    fn note_payload(&mut self, payload: &[u8]) {
        self.received += payload.len() as u32;
        let is_control = self
            .current
            .is_some_and(|(_, stream)| stream.type_id == SET_CHUNK_SIZE);
        if is_control && self.control.len() < 4 {
            let want = (4 - self.control.len()).min(payload.len());
            self.control.extend_from_slice(&payload[..want]);
        }
    }

    /// The end of a chunk: maybe the end of its message.
    fn end_chunk(&mut self) -> Result<(), GuardError> {
        self.stage = Stage::Header;
        let Some((_, stream)) = self.current else {
            return Ok(());
        };
        if self.received < stream.message_length {
            return Ok(());
        }
        self.received = 0;
        if stream.type_id == SET_CHUNK_SIZE && self.control.len() == 4 {
            let size = u32::from_be_bytes([
                self.control[0],
                self.control[1],
                self.control[2],
                self.control[3],
            ]) & 0x7FFF_FFFF;
            if size == 0 || size > self.limits.max_chunk_size {
                return Err(GuardError::ChunkSize {
                    size,
                    max: self.limits.max_chunk_size,
                });
            }
            self.chunk_size = size;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::MessagePayload;
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    /// `payload` as chunks, the way `rml_rtmp`'s own serializer writes them
    /// at `chunk_size`.
    fn chunks(
        serializer: &mut ChunkSerializer,
        type_id: u8,
        timestamp: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let message = MessagePayload {
            timestamp: RtmpTimestamp::new(timestamp),
            message_stream_id: 1,
            type_id,
            data: Bytes::copy_from_slice(data),
        };
        serializer
            .serialize(&message, false, false)
            .expect("serializable")
            .bytes
    }

    #[test]
    fn well_formed_streams_pass_in_any_slicing() {
        let mut serializer = ChunkSerializer::new();
        let mut stream = Vec::new();
        // Media at the initial chunk size, then a chunk size change, then
        // large messages split at it, with extended timestamps.
        stream.extend(chunks(&mut serializer, 9, 0, &[7; 1000]));
        stream.extend(chunks(&mut serializer, 8, 20, &[1; 300]));
        let set = serializer
            .set_max_chunk_size(4096, RtmpTimestamp::new(0))
            .expect("set");
        stream.extend(set.bytes);
        stream.extend(chunks(&mut serializer, 9, 40, &[3; 50_000]));
        stream.extend(chunks(&mut serializer, 9, 0x0100_0000, &[4; 9000]));
        stream.extend(chunks(&mut serializer, 9, 0x0100_0021, &[5; 9000]));
        for slice in [1, 7, 100, 4096, stream.len()] {
            let mut guard = ChunkGuard::new(InboundLimits::default());
            for part in stream.chunks(slice) {
                guard.check(part).expect("accepted");
            }
            assert_eq!(guard.chunk_size(), 4096);
            assert_eq!(guard.stage, Stage::Header, "ends between chunks");
        }
    }

    #[test]
    fn oversized_chunks_and_messages_are_refused() {
        let limits = InboundLimits {
            max_chunk_size: 65_536,
            max_message_bytes: 100_000,
        };
        let mut serializer = ChunkSerializer::new();
        let set = serializer
            .set_max_chunk_size(1 << 24, RtmpTimestamp::new(0))
            .expect("set")
            .bytes;
        let mut guard = ChunkGuard::new(limits);
        assert_eq!(
            guard.check(&set),
            Err(GuardError::ChunkSize {
                size: 1 << 24,
                max: 65_536
            })
        );

        // Only the header of a 200 000-byte message: refused before any of
        // its payload arrives.
        let message = chunks(&mut ChunkSerializer::new(), 9, 0, &[0; 200_000]);
        let mut guard = ChunkGuard::new(limits);
        assert_eq!(
            guard.check(&message[..12]),
            Err(GuardError::MessageSize {
                length: 200_000,
                max: 100_000
            })
        );
    }

    #[test]
    fn impossible_headers_are_refused() {
        let mut guard = ChunkGuard::new(InboundLimits::default());
        // Type 1 header on chunk stream 5, which never had a type 0.
        assert_eq!(
            guard.check(&[0x45, 0, 0, 0, 0, 0, 10, 9]),
            Err(GuardError::NoPreviousChunk(5))
        );
        // A message of 300 bytes half received, then a header saying 10.
        let mut guard = ChunkGuard::new(InboundLimits::default());
        let mut bytes = vec![0x04, 0, 0, 0, 0, 0x01, 0x2c, 9, 1, 0, 0, 0];
        bytes.extend([0; 128]);
        bytes.extend([0x44, 0, 0, 0, 0, 0, 10, 9]);
        assert_eq!(guard.check(&bytes), Err(GuardError::LengthChanged));
        // Chunk streams without end.
        let mut guard = ChunkGuard::new(InboundLimits::default());
        let mut result = Ok(());
        for csid in 0..2000u32 {
            let id = csid + 64;
            let header = [
                0x01,
                (id - 64) as u8,
                ((id - 64) >> 8) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                9,
                1,
                0,
                0,
                0,
            ];
            result = guard.check(&header);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(GuardError::TooManyChunkStreams));
    }
}
