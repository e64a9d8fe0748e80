//! The RTMP playing client: one connection that plays one stream.
//!
//! [`PlayClient::connect`] does the blocking part on the caller's thread —
//! TCP connect, handshake, `connect` to the application, `play` — reporting
//! 2001 and 2002 as it goes, or failing with a [`PlayError`] that carries the
//! plugin's code (3001–3005). Then a connection thread owns the socket: it
//! answers the server (acknowledgements, pings), turns what arrives into
//! [`PlayMessage`]s (metadata, FLV audio and video tag bodies, stream end and
//! reset notices) and queues them for the caller, who takes them with
//! [`PlayClient::recv_timeout`] or [`PlayClient::try_recv`]. The socket
//! set-up, the handshake, the refusal rules and the error type are shared
//! with the publishing client (`rtmp/client.rs`).
//!
//! The queue is unbounded in messages but watched in bytes: when the caller
//! stops reading and more than [`PlayConfig::max_queued_bytes`] wait, video
//! is dropped until a key frame can be queued again (with the queue back
//! under half the limit), and audio frames are dropped while it stays over;
//! sequence headers, metadata and notices are never dropped. Drops are
//! counted in [`PlayStats`].
//!
//! How the end of a stream shows up: the embedded server says
//! `NetStream.Play.Complete` (once per play request) and keeps the player
//! connected. nginx-rtmp in its default configuration says nothing but a
//! `StreamEOF` user control event, which rml_rtmp swallows, so a small
//! header-only follower of the chunk stream spots it; with `publish_notify
//! on` nginx adds `NetStream.Play.UnpublishNotify`, with `play_restart on`
//! `NetStream.Play.Stop`. All become one
//! [`PlayMessage::StreamEnd`]. A stream that starts again after media was
//! delivered (`NetStream.Play.Reset`, `NetStream.Play.PublishNotify`, or
//! simply media arriving after an end, as from the embedded server) becomes
//! [`PlayMessage::StreamReset`].
//!
//! The server is held to [`PlayConfig::inbound`], as the embedded server
//! holds its peers: the chunk follower, the same chunk-header reader the
//! server uses ([`super::chunk`]), refuses a chunk size or message length
//! past the limits before rml_rtmp (which would reserve a message's
//! declared length at once) sees the bytes, and the connection ends with
//! [`PlayError::Chunk`]. rml_rtmp 0.8 keeps one partial-message buffer for
//! all chunk streams, so chunks of different messages interleaved (legal
//! RTMP) corrupt its messages or make it panic: the follower sees
//! interleaving coming ([`PlayError::Chunk`] too) and any panic is caught
//! ([`PlayError::Protocol`]), so the caller can reconnect.
//!
//! This file holds the caller's side: the client, its settings, messages
//! and counters. The socket and the session (the set-up's reads and
//! writes, then the connection thread's loop and the drop policy) are in
//! `connection`, the chunk follower in `watcher`, what the server's status
//! codes and metadata mean for the caller in `translate`.

mod connection;
mod translate;
mod watcher;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent};

use super::chunk::InboundLimits;
use super::client::{handshake, open_socket, protocol_error, refusal, ClientError};
use super::RtmpUrl;
use crate::events::{PlayCode, PlayEvent};
use crate::flv::StreamMetadata;
use connection::{Connection, POLL_INTERVAL};
use watcher::ChunkWatcher;

/// Why playing could not start or stopped: the error both RTMP clients
/// share, whose [`play_code`](ClientError::play_code) is the player's
/// warning code (3001–3005).
pub type PlayError = ClientError;

/// Settings of a playing connection.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayConfig {
    /// Longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for each answer during set-up (handshake, connect,
    /// play).
    pub response_timeout: Duration,
    /// The buffer length announced to the server (`SetBufferLength`), ms.
    pub buffer_length_ms: u32,
    /// Once playing, the connection fails with [`PlayError::Idle`] when no
    /// media message arrives for this long (counted from the play answer,
    /// the last media message or the last stream notice).
    /// `Duration::ZERO` waits forever.
    pub idle_timeout: Duration,
    /// Bytes of media that may wait for the caller before media is dropped.
    pub max_queued_bytes: usize,
    /// Largest chunk size and message the server may send; past them the
    /// connection fails with [`PlayError::Chunk`] before the bytes are
    /// parsed (the embedded server holds its peers to the same limits).
    pub inbound: InboundLimits,
}

impl Default for PlayConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            buffer_length_ms: 1000,
            idle_timeout: Duration::from_secs(10),
            max_queued_bytes: 64 << 20,
            inbound: InboundLimits::default(),
        }
    }
}

/// What the connection delivers, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayMessage {
    /// `onMetaData`: the stream's description.
    Metadata(StreamMetadata),
    /// A video message: an FLV video tag body (for AVC: frame type and
    /// codec byte, packet type, composition time, then the payload).
    Video {
        /// Decode time, ms, as the server stamped it.
        timestamp_ms: u32,
        /// The tag body.
        body: Bytes,
    },
    /// An audio message: an FLV audio tag body.
    Audio {
        /// Time, ms, as the server stamped it.
        timestamp_ms: u32,
        /// The tag body.
        body: Bytes,
    },
    /// The server says the stream stopped (its publisher left). The
    /// connection stays open: a new publisher may follow.
    StreamEnd,
    /// The stream started over (a new publisher): decoders should expect
    /// new sequence headers and timestamps that start again.
    StreamReset,
}

impl PlayMessage {
    /// Bytes this message holds, for the queue accounting.
    fn size(&self) -> usize {
        match self {
            PlayMessage::Video { body, .. } | PlayMessage::Audio { body, .. } => body.len(),
            _ => 0,
        }
    }
}

/// Counters of a playing connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayStats {
    /// Bytes read from the socket after the handshake.
    pub bytes_received: u64,
    /// Video messages received (queued or dropped).
    pub video_messages: u64,
    /// Audio messages received (queued or dropped).
    pub audio_messages: u64,
    /// Video messages dropped because the caller fell behind.
    pub video_dropped: u64,
    /// Audio messages dropped because the caller fell behind.
    pub audio_dropped: u64,
    /// Media bytes queued and not yet taken by the caller.
    pub queued_bytes: usize,
}

#[derive(Default)]
struct Shared {
    bytes_received: AtomicU64,
    video_messages: AtomicU64,
    audio_messages: AtomicU64,
    video_dropped: AtomicU64,
    audio_dropped: AtomicU64,
    queued_bytes: AtomicUsize,
    stop: AtomicBool,
    failure: Mutex<Option<PlayError>>,
}

impl Shared {
    fn fail(&self, error: PlayError) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(error);
        }
    }

    fn dequeued(&self, size: usize) {
        let _ = self
            .queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                Some(queued.saturating_sub(size))
            });
    }
}

/// A live playing connection.
pub struct PlayClient {
    url: RtmpUrl,
    receiver: Receiver<PlayMessage>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PlayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayClient")
            .field("url", &self.url.to_string())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PlayClient {
    /// Connects and starts playing `url`'s stream. `on_event` hears 2001
    /// (connected to the application) and 2002 (the server accepted `play`;
    /// servers accept a stream that is not published yet and let the player
    /// wait for it).
    pub fn connect(
        url: &RtmpUrl,
        config: &PlayConfig,
        on_event: &mut dyn FnMut(PlayEvent),
    ) -> Result<Self, PlayError> {
        let (mut socket, address) =
            open_socket(url, config.connect_timeout, config.response_timeout)?;
        let leftover = handshake(&mut socket, &address)?;
        let mut session_config = ClientSessionConfig::new();
        session_config.tc_url = Some(url.tc_url());
        session_config.playback_buffer_length_ms = config.buffer_length_ms;
        let (session, initial) = ClientSession::new(session_config).map_err(protocol_error)?;
        let shared = Arc::new(Shared::default());
        let (sender, receiver) = mpsc::channel();
        let mut connection = Connection {
            socket,
            session,
            sender,
            shared: Arc::clone(&shared),
            max_queued: config.max_queued_bytes,
            idle_timeout: config.idle_timeout,
            dropping_video: false,
            delivered_any: false,
            ended: false,
            last_media: Instant::now(),
            watcher: ChunkWatcher::new(config.inbound),
        };
        connection.send_results(initial)?;
        let mut early = connection.feed(&leftover)?;

        let request = connection
            .session
            .request_connection(url.app.clone())
            .map_err(protocol_error)?;
        connection.send_results(vec![request])?;
        early.extend(
            connection.wait_for(
                config.response_timeout,
                "during connect",
                |event| match event {
                    ClientSessionEvent::ConnectionRequestAccepted => Some(Ok(())),
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        Some(Err(PlayError::Rejected(format!(
                            "connect to {:?} refused: {description}",
                            url.app
                        ))))
                    }
                    _ => None,
                },
            )?,
        );
        on_event(PlayEvent::new(
            PlayCode::Connected,
            format!("connected to {}", url.tc_url()),
        ));

        let request = connection
            .session
            .request_playback(url.stream_with_query())
            .map_err(protocol_error)?;
        connection.send_results(vec![request])?;
        early.extend(
            connection.wait_for(
                config.response_timeout,
                "during play",
                |event| match event {
                    ClientSessionEvent::PlaybackRequestAccepted => Some(Ok(())),
                    other => refusal(other).map(|reason| {
                        Err(PlayError::Rejected(format!(
                            "play of {:?} refused: {reason}",
                            url.stream
                        )))
                    }),
                },
            )?,
        );
        on_event(PlayEvent::new(
            PlayCode::StreamBegins,
            format!("playing {}/{}", url.app, url.stream),
        ));

        // Media that came with (or before) the play answer goes first.
        connection.last_media = Instant::now();
        for incoming in early {
            connection.deliver(incoming)?;
        }
        connection.socket.set_read_timeout(Some(POLL_INTERVAL))?;
        let thread = std::thread::Builder::new()
            .name("rtmp-play".into())
            .spawn(move || connection.run())
            .map_err(|e| PlayError::Spawn(Arc::new(e)))?;
        Ok(Self {
            url: url.clone(),
            receiver,
            shared,
            thread: Some(thread),
        })
    }

    /// The URL being played.
    pub fn url(&self) -> &RtmpUrl {
        &self.url
    }

    /// The next message, waiting up to `timeout`: `Ok(None)` when none came
    /// in time; `Err` with the connection's failure once it has failed (or
    /// the server closed it) and every message before that was taken.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<PlayMessage>, PlayError> {
        match self.receiver.recv_timeout(timeout) {
            Ok(message) => Ok(Some(self.taken(message))),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.failure()),
        }
    }

    /// The next message if one is waiting; errors as
    /// [`recv_timeout`](Self::recv_timeout).
    pub fn try_recv(&self) -> Result<Option<PlayMessage>, PlayError> {
        match self.receiver.try_recv() {
            Ok(message) => Ok(Some(self.taken(message))),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.failure()),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> PlayStats {
        let shared = &self.shared;
        PlayStats {
            bytes_received: shared.bytes_received.load(Ordering::Relaxed),
            video_messages: shared.video_messages.load(Ordering::Relaxed),
            audio_messages: shared.audio_messages.load(Ordering::Relaxed),
            video_dropped: shared.video_dropped.load(Ordering::Relaxed),
            audio_dropped: shared.audio_dropped.load(Ordering::Relaxed),
            queued_bytes: shared.queued_bytes.load(Ordering::Relaxed),
        }
    }

    /// Stops playing (`deleteStream`), closes the connection gracefully and
    /// returns the final counters. Bounded: about a second and a half at
    /// most, even when the server does not cooperate.
    pub fn close(mut self) -> PlayStats {
        self.shutdown();
        self.stats()
    }

    fn taken(&self, message: PlayMessage) -> PlayMessage {
        self.shared.dequeued(message.size());
        message
    }

    fn failure(&self) -> PlayError {
        self.shared
            .failure
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .unwrap_or(PlayError::Closed("while playing"))
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_millis(1500);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
        // Otherwise the thread is left to finish on its own: its remaining
        // work is bounded by socket timeouts.
    }
}

impl Drop for PlayClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sensible() {
        let config = PlayConfig::default();
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.idle_timeout, Duration::from_secs(10));
        assert_eq!(config.max_queued_bytes, 64 << 20);
        assert_eq!(PlayMessage::StreamEnd.size(), 0);
        let video = PlayMessage::Video {
            timestamp_ms: 0,
            body: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        };
        assert_eq!(video.size(), 5);
    }
}
