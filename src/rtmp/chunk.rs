//! The RTMP chunk layer as liveroom reads it from a peer: one incremental
//! chunk-header reader, [`ChunkReader`], used by the embedded server (to
//! hold its peers to [`InboundLimits`]) and by the playing client (to hold
//! the server to the same limits and to spot what `rml_rtmp` hides).
//!
//! `rml_rtmp` 0.8 parses the same bytes after this reader has seen them. It
//! believes a peer's `Set Chunk Size` (up to 2³¹) and reserves a message's
//! whole declared length (up to 16 MiB) as soon as its first chunk header
//! arrives, so without a check one peer could make us hold 16 MiB it never
//! sends. The reader follows the chunk headers the way `rml_rtmp` does (a
//! type 3 chunk carries an extended timestamp when its stream's last
//! timestamp field was 0xFFFFFF; one message is assembled at a time) and
//! refuses, with a [`ChunkError`], a chunk size or a message length past
//! the limits before those bytes reach the parser, as well as chunks that
//! interleave two messages, which `rml_rtmp` 0.8 cannot reassemble (it
//! keeps one partial message for all chunk streams). It keeps a few bytes
//! of state per chunk stream and never buffers payload: of each message it
//! keeps only the first [`MESSAGE_HEAD`] bytes, enough to read protocol and
//! user control messages.

use std::collections::HashMap;

use thiserror::Error;

/// Chunk size every RTMP connection starts with.
pub const INITIAL_CHUNK_SIZE: u32 = 128;
/// A timestamp field with this value means "see the extended timestamp".
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Message type of `Set Chunk Size`.
const SET_CHUNK_SIZE: u8 = 1;
/// Most distinct chunk streams a peer may use (the protocol allows 65 599).
pub const MAX_CHUNK_STREAMS: usize = 1024;
/// The longest chunk header: 3 bytes of basic header, 11 of message header,
/// 4 of extended timestamp.
const MAX_HEADER: usize = 18;
/// Bytes of each message's payload the reader keeps for its caller.
pub const MESSAGE_HEAD: usize = 8;

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

/// What a peer sent past the limits, or could not have sent legally (or
/// in a way `rml_rtmp` 0.8 could follow).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChunkError {
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
    /// A chunk of another message while one is half received (legal RTMP,
    /// but `rml_rtmp` 0.8 would corrupt the messages or panic).
    #[error(
        "a chunk on stream {csid} interleaves with the message half received on stream \
         {partial}, which the RTMP parser (rml_rtmp 0.8) cannot reassemble"
    )]
    Interleaved {
        /// The chunk stream of the message half received.
        partial: u32,
        /// The chunk stream of the chunk that interrupts it.
        csid: u32,
    },
    /// Too many distinct chunk streams.
    #[error("more than {MAX_CHUNK_STREAMS} chunk streams")]
    TooManyChunkStreams,
}

/// The format of a chunk's message header (the top two bits of its first
/// byte): how much of the previous header on its chunk stream it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// Type 0: timestamp, length, type and message stream id (11 bytes).
    Full,
    /// Type 1: timestamp delta, length and type (7 bytes).
    SameStream,
    /// Type 2: timestamp delta only (3 bytes).
    TimestampDelta,
    /// Type 3: nothing; everything as the previous chunk of the stream.
    Continuation,
}

impl HeaderFormat {
    fn of(first_byte: u8) -> Self {
        match first_byte >> 6 {
            0 => Self::Full,
            1 => Self::SameStream,
            2 => Self::TimestampDelta,
            _ => Self::Continuation,
        }
    }

    /// Bytes of the message header after the basic header (extended
    /// timestamp not counted).
    fn fields_len(self) -> usize {
        match self {
            Self::Full => 11,
            Self::SameStream => 7,
            Self::TimestampDelta => 3,
            Self::Continuation => 0,
        }
    }
}

/// One chunk header as read, completed with what earlier headers on its
/// chunk stream imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Which header format the chunk used.
    pub format: HeaderFormat,
    /// The chunk stream id (2 to 65 599).
    pub csid: u32,
    /// The timestamp (type 0) or timestamp delta (types 1 and 2) as sent,
    /// the extended timestamp when the field said 0xFFFFFF; a type 3 chunk
    /// repeats its stream's field, or carries its own extended timestamp.
    pub timestamp: u32,
    /// Whether an extended timestamp followed the message header.
    pub extended_timestamp: bool,
    /// Length of the message the chunk belongs to.
    pub message_length: u32,
    /// Type of the message the chunk belongs to.
    pub type_id: u8,
    /// Message stream id of the message the chunk belongs to.
    pub message_stream_id: u32,
    /// Bytes the header took.
    pub header_len: usize,
    /// Payload bytes that follow the header in this chunk.
    pub payload_len: u32,
}

/// A message whose last chunk has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompleteMessage {
    /// The chunk stream it came on.
    pub csid: u32,
    /// Its type (1 `Set Chunk Size`, 4 user control, 8 audio, 9 video…).
    pub type_id: u8,
    /// Its message stream id.
    pub message_stream_id: u32,
    /// Its length.
    pub length: u32,
    head: [u8; MESSAGE_HEAD],
    head_len: usize,
}

impl CompleteMessage {
    /// The first bytes of its payload (up to [`MESSAGE_HEAD`]).
    pub fn head(&self) -> &[u8] {
        self.head.get(..self.head_len).unwrap_or_default()
    }
}

/// What [`ChunkReader::next_event`] found next in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkEvent<'a> {
    /// A complete chunk header.
    Header(ChunkHeader),
    /// Payload bytes of the current chunk (a chunk's payload may come in
    /// several pieces, as the input does).
    Payload(&'a [u8]),
    /// The end of a message (after its last payload bytes, or right after
    /// the header of an empty message).
    Message(CompleteMessage),
}

/// What the reader remembers of one chunk stream: its last header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StreamState {
    message_length: u32,
    type_id: u8,
    message_stream_id: u32,
    /// The last 3-byte timestamp field (0xFFFFFF: extended timestamps
    /// follow, also after type 3 headers).
    timestamp_field: u32,
}

/// Where the reader is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Collecting a chunk's header.
    Header,
    /// Reading `left` payload bytes of the current chunk.
    Payload { left: u32 },
}

/// Follows a peer's chunk stream, incrementally and headers only, holding it
/// to [`InboundLimits`]: feed it every byte after the handshake, in order,
/// in any slices. After an error the reader's view of the stream is no
/// longer reliable: it repeats the error and the connection must end.
#[derive(Debug, Clone)]
pub struct ChunkReader {
    limits: InboundLimits,
    chunk_size: u32,
    stage: Stage,
    /// Header bytes of the chunk being read.
    header: [u8; MAX_HEADER],
    header_len: usize,
    streams: HashMap<u32, StreamState>,
    /// The chunk stream and header of the message being assembled.
    message: Option<(u32, StreamState)>,
    /// Bytes of that message received so far.
    received: u32,
    /// Its first payload bytes.
    head: [u8; MESSAGE_HEAD],
    head_len: usize,
    /// A complete message not reported yet.
    pending: Option<CompleteMessage>,
    failed: Option<ChunkError>,
}

impl ChunkReader {
    /// A reader for a new connection (chunk size 128).
    pub fn new(limits: InboundLimits) -> Self {
        Self {
            limits,
            chunk_size: INITIAL_CHUNK_SIZE,
            stage: Stage::Header,
            header: [0; MAX_HEADER],
            header_len: 0,
            streams: HashMap::new(),
            message: None,
            received: 0,
            head: [0; MESSAGE_HEAD],
            head_len: 0,
            pending: None,
            failed: None,
        }
    }

    /// The limits it holds the peer to.
    pub fn limits(&self) -> InboundLimits {
        self.limits
    }

    /// The chunk size the peer is sending with now.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Whether the input so far ends between two chunks.
    pub fn between_chunks(&self) -> bool {
        self.stage == Stage::Header && self.header_len == 0 && self.pending.is_none()
    }

    /// Checks the next bytes, ignoring what they carry.
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), ChunkError> {
        self.read(bytes, |_| {})
    }

    /// Reads the next bytes and hands every message they complete to
    /// `on_message`, in order.
    pub fn read(
        &mut self,
        mut bytes: &[u8],
        mut on_message: impl FnMut(&CompleteMessage),
    ) -> Result<(), ChunkError> {
        while let Some(event) = self.next_event(&mut bytes)? {
            if let ChunkEvent::Message(message) = event {
                on_message(&message);
            }
        }
        Ok(())
    }

    /// The next event in `input`, which is advanced past what it took;
    /// `Ok(None)` once all of it is taken (a header cut short is kept for
    /// the next input).
    pub fn next_event<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<ChunkEvent<'a>>, ChunkError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let event = self.step(input);
        if let Err(error) = &event {
            self.failed = Some(error.clone());
        }
        event
    }

    fn step<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<ChunkEvent<'a>>, ChunkError> {
        if let Some(message) = self.pending.take() {
            return Ok(Some(ChunkEvent::Message(message)));
        }
        match self.stage {
            Stage::Header => {
                while let Some((&byte, rest)) = input.split_first() {
                    *input = rest;
                    let Some(slot) = self.header.get_mut(self.header_len) else {
                        // Unreachable: a header is complete by MAX_HEADER.
                        return Err(ChunkError::LengthChanged);
                    };
                    *slot = byte;
                    self.header_len += 1;
                    if let Some(header) = self.parse_header()? {
                        self.header_len = 0;
                        self.stage = Stage::Payload {
                            left: header.payload_len,
                        };
                        if header.payload_len == 0 {
                            self.end_chunk()?;
                        }
                        return Ok(Some(ChunkEvent::Header(header)));
                    }
                }
                Ok(None)
            }
            Stage::Payload { left } => {
                if input.is_empty() {
                    return Ok(None);
                }
                let take = input.len().min(left as usize);
                let (payload, rest) = input.split_at(take);
                *input = rest;
                self.note_payload(payload);
                // `take` ≤ `left`, a u32.
                let left = left - take as u32;
                self.stage = Stage::Payload { left };
                if left == 0 {
                    self.end_chunk()?;
                }
                Ok(Some(ChunkEvent::Payload(payload)))
            }
        }
    }

    /// With the header bytes so far: the header once complete, `None`
    /// while more bytes are needed.
    fn parse_header(&mut self) -> Result<Option<ChunkHeader>, ChunkError> {
        let header = self.header.get(..self.header_len).unwrap_or_default();
        let Some(&first) = header.first() else {
            return Ok(None);
        };
        let format = HeaderFormat::of(first);
        let (csid, basic_len) = match first & 0x3f {
            0 => match header.get(1) {
                Some(&byte) => (64 + u32::from(byte), 2),
                None => return Ok(None),
            },
            1 => match (header.get(1), header.get(2)) {
                (Some(&low), Some(&high)) => (64 + u32::from(low) + 256 * u32::from(high), 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let fields_end = basic_len + format.fields_len();
        let Some(fields) = header.get(basic_len..fields_end) else {
            return Ok(None);
        };
        let u24 = |at: usize| match fields.get(at..at + 3) {
            Some(&[a, b, c]) => u32::from_be_bytes([0, a, b, c]),
            _ => 0,
        };
        let mut stream = match (format, self.streams.get(&csid)) {
            (HeaderFormat::Full, _) => StreamState::default(),
            (_, Some(previous)) => *previous,
            (_, None) => return Err(ChunkError::NoPreviousChunk(csid)),
        };
        if format != HeaderFormat::Continuation {
            stream.timestamp_field = u24(0);
        }
        if matches!(format, HeaderFormat::Full | HeaderFormat::SameStream) {
            stream.message_length = u24(3);
            stream.type_id = fields.get(6).copied().unwrap_or_default();
        }
        if let Some(&[a, b, c, d]) = fields.get(7..11) {
            stream.message_stream_id = u32::from_le_bytes([a, b, c, d]);
        }
        let extended_timestamp = stream.timestamp_field == EXTENDED_TIMESTAMP;
        let header_len = fields_end + if extended_timestamp { 4 } else { 0 };
        let timestamp = if extended_timestamp {
            match header.get(fields_end..header_len) {
                Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
                _ => return Ok(None),
            }
        } else {
            stream.timestamp_field
        };

        if stream.message_length > self.limits.max_message_bytes {
            return Err(ChunkError::MessageSize {
                length: stream.message_length,
                max: self.limits.max_message_bytes,
            });
        }
        if self.received > 0 {
            // A message is half received: this chunk must continue it.
            if let Some((partial, current)) = self.message {
                if partial != csid {
                    return Err(ChunkError::Interleaved { partial, csid });
                }
                if current.message_length != stream.message_length {
                    return Err(ChunkError::LengthChanged);
                }
            }
        } else {
            self.head_len = 0;
        }
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(ChunkError::TooManyChunkStreams);
        }
        self.streams.insert(csid, stream);
        self.message = Some((csid, stream));
        // `received` < `message_length` here: a complete message resets it.
        let payload_len = stream
            .message_length
            .saturating_sub(self.received)
            .min(self.chunk_size);
        Ok(Some(ChunkHeader {
            format,
            csid,
            timestamp,
            extended_timestamp,
            message_length: stream.message_length,
            type_id: stream.type_id,
            message_stream_id: stream.message_stream_id,
            header_len,
            payload_len,
        }))
    }

    fn note_payload(&mut self, payload: &[u8]) {
        // A chunk's payload is at most the message length, a u32.
        self.received = self.received.saturating_add(payload.len() as u32);
        let room = MESSAGE_HEAD - self.head_len;
        let keep = payload.get(..room.min(payload.len())).unwrap_or_default();
        if let Some(slot) = self.head.get_mut(self.head_len..self.head_len + keep.len()) {
            slot.copy_from_slice(keep);
            self.head_len += keep.len();
        }
    }

    /// The end of a chunk: maybe the end of its message.
    fn end_chunk(&mut self) -> Result<(), ChunkError> {
        self.stage = Stage::Header;
        let Some((csid, stream)) = self.message else {
            return Ok(());
        };
        if self.received < stream.message_length {
            return Ok(());
        }
        self.received = 0;
        self.message = None;
        let message = CompleteMessage {
            csid,
            type_id: stream.type_id,
            message_stream_id: stream.message_stream_id,
            length: stream.message_length,
            head: self.head,
            head_len: self.head_len,
        };
        if let (SET_CHUNK_SIZE, &[a, b, c, d, ..]) = (message.type_id, message.head()) {
            let size = u32::from_be_bytes([a, b, c, d]) & 0x7FFF_FFFF;
            if size == 0 || size > self.limits.max_chunk_size {
                return Err(ChunkError::ChunkSize {
                    size,
                    max: self.limits.max_chunk_size,
                });
            }
            self.chunk_size = size;
        }
        self.pending = Some(message);
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

    /// `data` as chunks, the way `rml_rtmp`'s own serializer writes them.
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

    /// Every event of `input`, read in one go.
    fn events<'a>(reader: &mut ChunkReader, mut input: &'a [u8]) -> Vec<ChunkEvent<'a>> {
        let mut all = Vec::new();
        while let Some(event) = reader.next_event(&mut input).expect("accepted") {
            all.push(event);
        }
        all
    }

    fn headers(events: &[ChunkEvent<'_>]) -> Vec<ChunkHeader> {
        events
            .iter()
            .filter_map(|event| match event {
                ChunkEvent::Header(header) => Some(*header),
                _ => None,
            })
            .collect()
    }

    fn messages(events: &[ChunkEvent<'_>]) -> Vec<CompleteMessage> {
        events
            .iter()
            .filter_map(|event| match event {
                ChunkEvent::Message(message) => Some(*message),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn all_four_header_formats_are_read() {
        let mut input = Vec::new();
        // Type 0, chunk stream 4: timestamp 1000, 3 bytes, video, stream 1.
        input.extend([0x04, 0, 0x03, 0xe8, 0, 0, 3, 9, 1, 0, 0, 0, 1, 2, 3]);
        // Type 1: delta 40, 2 bytes, audio.
        input.extend([0x44, 0, 0, 40, 0, 0, 2, 8, 4, 5]);
        // Type 2: delta 20, same length and type.
        input.extend([0x84, 0, 0, 20, 6, 7]);
        // Type 3: everything as before.
        input.extend([0xc4, 8, 9]);
        let mut reader = ChunkReader::new(InboundLimits::default());
        let events = events(&mut reader, &input);
        let headers = headers(&events);
        let formats: Vec<_> = headers.iter().map(|h| h.format).collect();
        assert_eq!(
            formats,
            [
                HeaderFormat::Full,
                HeaderFormat::SameStream,
                HeaderFormat::TimestampDelta,
                HeaderFormat::Continuation
            ]
        );
        let fields: Vec<_> = headers
            .iter()
            .map(|h| {
                (
                    h.csid,
                    h.timestamp,
                    h.message_length,
                    h.type_id,
                    h.header_len,
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                (4, 1000, 3, 9, 12),
                (4, 40, 2, 8, 8),
                (4, 20, 2, 8, 4),
                (4, 20, 2, 8, 1)
            ]
        );
        assert!(headers.iter().all(|h| h.message_stream_id == 1));
        let heads: Vec<Vec<u8>> = messages(&events)
            .iter()
            .map(|m| m.head().to_vec())
            .collect();
        assert_eq!(heads, [vec![1, 2, 3], vec![4, 5], vec![6, 7], vec![8, 9]]);
        assert!(reader.between_chunks());
    }

    #[test]
    fn basic_headers_of_two_and_three_bytes_are_read() {
        let mut input = vec![0x00, 200 - 64, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 7];
        input.extend([0x01, 0x10, 0x02, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 7]);
        let mut reader = ChunkReader::new(InboundLimits::default());
        let ids: Vec<_> = headers(&events(&mut reader, &input))
            .iter()
            .map(|h| (h.csid, h.header_len))
            .collect();
        assert_eq!(ids, [(200, 13), (64 + 0x10 + 2 * 256, 14)]);
    }

    #[test]
    fn extended_timestamps_follow_every_header_of_their_stream() {
        let mut serializer = ChunkSerializer::new();
        let input = chunks(&mut serializer, 9, 0x0100_0000, &[4; 300]);
        let mut reader = ChunkReader::new(InboundLimits::default());
        let all = events(&mut reader, &input);
        let expected = headers(&all);
        assert_eq!(expected.len(), 3, "300 bytes in chunks of 128");
        assert!(expected.iter().all(|h| h.extended_timestamp));
        assert_eq!(expected[0].header_len, 16);
        assert!(expected[1..].iter().all(|h| h.header_len == 5));
        assert_eq!(expected[0].timestamp, 0x0100_0000);
        let lengths: Vec<_> = expected.iter().map(|h| h.payload_len).collect();
        assert_eq!(lengths, [128, 128, 44]);
        assert_eq!(messages(&all).len(), 1);

        // Cut anywhere, the same headers come out.
        for cut in 1..input.len() {
            let mut reader = ChunkReader::new(InboundLimits::default());
            let mut again = events(&mut reader, &input[..cut]);
            again.extend(events(&mut reader, &input[cut..]));
            assert_eq!(headers(&again), expected, "cut at {cut}");
        }
    }

    #[test]
    fn chunk_size_changes_apply_from_the_next_chunk() {
        let mut serializer = ChunkSerializer::new();
        let mut input = chunks(&mut serializer, 9, 0, &[7; 1000]);
        let set = serializer
            .set_max_chunk_size(4096, RtmpTimestamp::new(0))
            .expect("set");
        input.extend(set.bytes);
        input.extend(chunks(&mut serializer, 9, 40, &[3; 5000]));
        let mut reader = ChunkReader::new(InboundLimits::default());
        let events = events(&mut reader, &input);
        let lengths: Vec<_> = headers(&events).iter().map(|h| h.payload_len).collect();
        let mut expected = vec![128; 7];
        expected.extend([1000 - 7 * 128, 4, 4096, 5000 - 4096]);
        assert_eq!(lengths, expected);
        assert_eq!(reader.chunk_size(), 4096);
        let types: Vec<_> = messages(&events).iter().map(|m| m.type_id).collect();
        assert_eq!(types, [9, 1, 9]);
    }

    #[test]
    fn well_formed_streams_pass_in_any_slicing() {
        let mut serializer = ChunkSerializer::new();
        let mut stream = Vec::new();
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
            let mut reader = ChunkReader::new(InboundLimits::default());
            let mut count = 0;
            for part in stream.chunks(slice) {
                reader.read(part, |_| count += 1).expect("accepted");
            }
            assert_eq!(count, 6);
            assert_eq!(reader.chunk_size(), 4096);
            assert!(reader.between_chunks());
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
        let mut reader = ChunkReader::new(limits);
        let refused = Err(ChunkError::ChunkSize {
            size: 1 << 24,
            max: 65_536,
        });
        assert_eq!(reader.check(&set), refused);
        // The error sticks.
        assert_eq!(reader.check(&[0x04]), refused);
        let mut reader = ChunkReader::new(limits);
        assert_eq!(
            reader.check(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ChunkError::ChunkSize {
                size: 0,
                max: 65_536
            })
        );

        // Only the header of a 200 000-byte message: refused before any of
        // its payload arrives.
        let message = chunks(&mut ChunkSerializer::new(), 9, 0, &[0; 200_000]);
        let mut reader = ChunkReader::new(limits);
        assert_eq!(
            reader.check(&message[..12]),
            Err(ChunkError::MessageSize {
                length: 200_000,
                max: 100_000
            })
        );
        // Nor can a type 1 header grow a stream's messages past it.
        let mut reader = ChunkReader::new(limits);
        let mut input = vec![0x04, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0];
        input.extend([0x44, 0, 0, 0, 0x0f, 0xff, 0xff, 9]);
        assert_eq!(
            reader.check(&input),
            Err(ChunkError::MessageSize {
                length: 0x0f_ffff,
                max: 100_000
            })
        );
    }

    #[test]
    fn noise_never_panics_and_errors_stick() {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..200 {
            let input: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
            let mut reader = ChunkReader::new(InboundLimits {
                max_chunk_size: 1 << 16,
                max_message_bytes: 1 << 16,
            });
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let take = (next() as usize % 300 + 1).min(rest.len());
                let (part, after) = rest.split_at(take);
                rest = after;
                if let Err(error) = reader.check(part) {
                    assert_eq!(reader.check(&[0]), Err(error));
                    break;
                }
            }
        }
    }

    #[test]
    fn impossible_headers_are_refused() {
        let mut reader = ChunkReader::new(InboundLimits::default());
        // Type 1 header on chunk stream 5, which never had a type 0.
        assert_eq!(
            reader.check(&[0x45, 0, 0, 0, 0, 0, 10, 9]),
            Err(ChunkError::NoPreviousChunk(5))
        );
        // A message of 300 bytes half received, then a header saying 10.
        let mut reader = ChunkReader::new(InboundLimits::default());
        let mut bytes = vec![0x04, 0, 0, 0, 0, 0x01, 0x2c, 9, 1, 0, 0, 0];
        bytes.extend([0; 128]);
        bytes.extend([0x44, 0, 0, 0, 0, 0, 10, 9]);
        assert_eq!(reader.check(&bytes), Err(ChunkError::LengthChanged));
        // The same message interrupted by a chunk on another stream.
        let mut reader = ChunkReader::new(InboundLimits::default());
        let mut bytes = vec![0x04, 0, 0, 0, 0, 0x01, 0x2c, 9, 1, 0, 0, 0];
        bytes.extend([0; 128]);
        bytes.extend([0x06, 0, 0, 0, 0, 0, 10, 8, 1, 0, 0, 0]);
        assert_eq!(
            reader.check(&bytes),
            Err(ChunkError::Interleaved {
                partial: 4,
                csid: 6
            })
        );
        // Chunk streams without end.
        let mut reader = ChunkReader::new(InboundLimits::default());
        let mut result = Ok(());
        for csid in 0..2000u32 {
            let [low, high, ..] = csid.to_le_bytes();
            result = reader.check(&[0x01, low, high, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0]);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ChunkError::TooManyChunkStreams));
    }
}
