//! The chunk follower of the playing connection: [`ChunkWatcher`] reads
//! the server's chunk headers alongside rml_rtmp, to hold the server to the
//! inbound limits, refuse interleaved messages and spot `StreamEOF`.

use super::PlayError;
use crate::rtmp::chunk::{ChunkReader, InboundLimits};

/// Message type of user control messages.
const USER_CONTROL: u8 = 4;

/// What the [`ChunkWatcher`] found in some input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Watched {
    /// `StreamEOF` user control events.
    pub(super) stream_eofs: usize,
}

/// Follows the server's chunk stream alongside rml_rtmp with the shared
/// chunk-header reader ([`ChunkReader`]), for what rml_rtmp 0.8 hides or
/// gets wrong:
///
/// * a chunk size or message length past
///   [`PlayConfig::inbound`](super::PlayConfig::inbound) (rml would reserve
///   a message's declared length, up to 16 MiB, at its first header) fails
///   the connection before rml sees it;
/// * `StreamEOF` user control events, which rml drops: nginx-rtmp's only
///   end-of-stream signal in its default configuration (without
///   `publish_notify` or `play_restart` it sends no `onStatus`);
/// * chunks of different messages interleaved (legal RTMP), which rml
///   cannot reassemble: it keeps one partial message for all chunk streams
///   and either corrupts the message or panics. Seeing it coming, the
///   connection fails cleanly instead.
#[derive(Debug)]
pub(super) struct ChunkWatcher {
    reader: ChunkReader,
}

impl ChunkWatcher {
    pub(super) fn new(limits: InboundLimits) -> Self {
        Self {
            reader: ChunkReader::new(limits),
        }
    }

    /// Follows `bytes`; fails when they break the limits or interleave
    /// messages.
    pub(super) fn watch(&mut self, bytes: &[u8]) -> Result<Watched, PlayError> {
        let mut watched = Watched::default();
        self.reader.read(bytes, |message| {
            // User control, event type 1: StreamEOF.
            if message.type_id == USER_CONTROL && message.head().starts_with(&[0, 1]) {
                watched.stream_eofs += 1;
            }
        })?;
        Ok(watched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::ChunkError;

    /// A type 0 chunk header.
    fn full_header(csid: u8, timestamp: u32, length: usize, type_id: u8) -> Vec<u8> {
        let mut bytes = vec![csid];
        let field = timestamp.min(0xff_ffff);
        bytes.extend_from_slice(&field.to_be_bytes()[1..]);
        bytes.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
        bytes.push(type_id);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        if field == 0xff_ffff {
            bytes.extend_from_slice(&timestamp.to_be_bytes());
        }
        bytes
    }

    fn stream_eof() -> Vec<u8> {
        let mut bytes = full_header(2, 0, 6, 4);
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 1]);
        bytes
    }

    /// A message split into chunks of `chunk_size`, type 3 continuations.
    fn message(csid: u8, timestamp: u32, type_id: u8, body: &[u8], chunk_size: usize) -> Vec<u8> {
        let mut bytes = full_header(csid, timestamp, body.len(), type_id);
        for (index, piece) in body.chunks(chunk_size).enumerate() {
            if index > 0 {
                bytes.push(0xc0 | csid);
                if timestamp >= 0xff_ffff {
                    bytes.extend_from_slice(&timestamp.to_be_bytes());
                }
            }
            bytes.extend_from_slice(piece);
        }
        bytes
    }

    #[test]
    fn the_watcher_finds_stream_eof_across_chunks_and_reads() {
        let mut input = message(6, 40, 9, &[0x27; 300], 128);
        input.extend(message(2, 0, 1, &4096u32.to_be_bytes(), 128));
        input.extend(message(6, 80, 9, &[0x17; 5000], 4096));
        input.extend(message(4, 0x0100_0000, 8, &[0xaf; 9000], 4096));
        input.extend(stream_eof());
        input.extend(message(6, 120, 9, &[0x27; 100], 4096));

        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        assert_eq!(watcher.watch(&input).ok(), Some(Watched { stream_eofs: 1 }));
        assert_eq!(watcher.reader.chunk_size(), 4096);

        // The same bytes one at a time.
        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        let mut eofs = 0;
        for byte in &input {
            eofs += watcher
                .watch(std::slice::from_ref(byte))
                .unwrap()
                .stream_eofs;
        }
        assert_eq!(eofs, 1);
        assert!(watcher.reader.between_chunks());
    }

    #[test]
    fn the_watcher_refuses_interleaved_messages() {
        let video = message(6, 0, 9, &[0x27; 300], 128);
        let mut input = video[..12 + 128].to_vec();
        input.extend(message(4, 0, 8, &[0xaf; 20], 128));
        input.extend_from_slice(&video[12 + 128..]);
        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        assert!(matches!(
            watcher.watch(&input),
            Err(PlayError::Chunk(ChunkError::Interleaved {
                partial: 6,
                csid: 4
            }))
        ));
    }

    #[test]
    fn the_watcher_holds_the_server_to_the_inbound_limits() {
        // A server declaring a 16 MiB message: refused at its header.
        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        let error = watcher.watch(&full_header(6, 0, 0xff_ffff, 9)).unwrap_err();
        assert!(
            matches!(
                error,
                PlayError::Chunk(ChunkError::MessageSize {
                    length: 0xff_ffff,
                    max: 0x40_0000
                })
            ),
            "{error}"
        );
        // A chunk size past the limit.
        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        let error = watcher
            .watch(&message(2, 0, 1, &0x7fff_ffffu32.to_be_bytes(), 128))
            .unwrap_err();
        assert!(
            matches!(error, PlayError::Chunk(ChunkError::ChunkSize { .. })),
            "{error}"
        );
        assert_eq!(error.play_code().code(), 3005);
        // A continuation of a chunk stream never seen.
        let mut watcher = ChunkWatcher::new(InboundLimits::default());
        assert!(matches!(
            watcher.watch(&[0xc5, 1, 2, 3]),
            Err(PlayError::Chunk(ChunkError::NoPreviousChunk(5)))
        ));
    }
}
