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

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent,
    ClientSessionResult, StreamMetadata as RmlMetadata,
};

use super::chunk::{ChunkReader, InboundLimits};
use super::client::{handshake, open_socket, protocol_error, refusal, session_input, ClientError};
use super::{MediaKind, RtmpUrl};
use crate::events::{PlayCode, PlayEvent};
use crate::flv::{AudioMetadata, StreamMetadata};

/// Message type of user control messages.
const USER_CONTROL: u8 = 4;
/// How often the connection thread wakes, when nothing arrives, to notice
/// a close request or an idle stream.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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

/// What the session raised, plus what the [`ChunkWatcher`] saw.
#[derive(Debug)]
enum Incoming {
    /// An rml_rtmp event.
    Event(ClientSessionEvent),
    /// A `StreamEOF` user control event.
    StreamEof,
}

/// What an `onStatus` code that rml_rtmp leaves to us means for a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamNotice {
    /// The publisher left.
    End,
    /// The stream starts over, or a publisher arrived.
    Reset,
}

fn stream_notice(code: &str) -> Option<StreamNotice> {
    match code {
        "NetStream.Play.Complete" | "NetStream.Play.Stop" | "NetStream.Play.UnpublishNotify" => {
            Some(StreamNotice::End)
        }
        "NetStream.Play.Reset" | "NetStream.Play.PublishNotify" => Some(StreamNotice::Reset),
        _ => None,
    }
}

/// rml_rtmp's metadata in the crate's own form.
fn convert_metadata(metadata: &RmlMetadata) -> StreamMetadata {
    // nginx-rtmp rebuilds metadata with zero audio fields for a stream
    // without audio: zeros describe nothing.
    let nonzero = |value: Option<u32>| value.is_some_and(|value| value != 0);
    let has_audio = nonzero(metadata.audio_codec_id)
        || nonzero(metadata.audio_sample_rate)
        || nonzero(metadata.audio_channels);
    let channels = metadata
        .audio_channels
        .map(|channels| channels.min(u32::from(u8::MAX)) as u8)
        .or(metadata
            .audio_is_stereo
            .map(|stereo| if stereo { 2 } else { 1 }))
        .unwrap_or(0);
    StreamMetadata {
        width: metadata.video_width.unwrap_or(0),
        height: metadata.video_height.unwrap_or(0),
        // rml keeps the frame rate as f32: round away its float noise.
        frame_rate: metadata
            .video_frame_rate
            .map(|rate| (f64::from(rate) * 1000.0).round() / 1000.0)
            .unwrap_or(0.0),
        video_bitrate_kbps: metadata.video_bitrate_kbps.map(f64::from).unwrap_or(0.0),
        audio: has_audio.then(|| AudioMetadata {
            sample_rate: metadata.audio_sample_rate.unwrap_or(0),
            channels,
            bitrate_kbps: metadata.audio_bitrate_kbps.map(f64::from).unwrap_or(0.0),
        }),
        encoder: metadata.encoder.clone().unwrap_or_default(),
        duration_s: None,
    }
}

/// What the [`ChunkWatcher`] found in some input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Watched {
    /// `StreamEOF` user control events.
    stream_eofs: usize,
}

/// Follows the server's chunk stream alongside rml_rtmp with the shared
/// chunk-header reader ([`ChunkReader`]), for what rml_rtmp 0.8 hides or
/// gets wrong:
///
/// * a chunk size or message length past [`PlayConfig::inbound`] (rml would
///   reserve a message's declared length, up to 16 MiB, at its first
///   header) fails the connection before rml sees it;
/// * `StreamEOF` user control events, which rml drops: nginx-rtmp's only
///   end-of-stream signal in its default configuration (without
///   `publish_notify` or `play_restart` it sends no `onStatus`);
/// * chunks of different messages interleaved (legal RTMP), which rml
///   cannot reassemble: it keeps one partial message for all chunk streams
///   and either corrupts the message or panics. Seeing it coming, the
///   connection fails cleanly instead.
#[derive(Debug)]
struct ChunkWatcher {
    reader: ChunkReader,
}

impl ChunkWatcher {
    fn new(limits: InboundLimits) -> Self {
        Self {
            reader: ChunkReader::new(limits),
        }
    }

    /// Follows `bytes`; fails when they break the limits or interleave
    /// messages.
    fn watch(&mut self, bytes: &[u8]) -> Result<Watched, PlayError> {
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

/// The connection: used by the set-up on the caller's thread, then moved
/// to the connection thread.
struct Connection {
    socket: TcpStream,
    session: ClientSession,
    sender: Sender<PlayMessage>,
    shared: Arc<Shared>,
    max_queued: usize,
    idle_timeout: Duration,
    /// Dropping video until the next key frame.
    dropping_video: bool,
    /// Media or metadata went to the caller (so a reset means something).
    delivered_any: bool,
    /// The last notice was a stream end.
    ended: bool,
    last_media: Instant,
    watcher: ChunkWatcher,
}

impl Connection {
    /// Writes the session's outbound packets; returns the events among
    /// `results`, in order.
    fn send_results(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> Result<Vec<ClientSessionEvent>, PlayError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.socket.write_all(&packet.bytes)?
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    /// Feeds bytes, answers what needs answering; returns the events.
    ///
    /// A message rml_rtmp finds out of place for its state (a second
    /// `NetStream.Play.Start` after a new publisher, media before the play
    /// answer on some servers) is skipped: rml has consumed it and the
    /// messages after it are still buffered, so feeding nothing continues.
    /// The events of the same call before it are lost, which only happens
    /// at such a transition.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Incoming>, PlayError> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        self.shared
            .bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let watched = self.watcher.watch(bytes)?;
        let mut input = bytes;
        let mut events = Vec::new();
        loop {
            match session_input(&mut self.session, input)? {
                Ok(results) => {
                    events.extend(self.send_results(results)?);
                    let mut incoming: Vec<_> = events.into_iter().map(Incoming::Event).collect();
                    // The end-of-stream notice follows the stream's last media.
                    if watched.stream_eofs > 0 {
                        incoming.push(Incoming::StreamEof);
                    }
                    return Ok(incoming);
                }
                Err(ClientSessionError::SessionInInvalidState { current_state }) => {
                    log::debug!("skipped a message unexpected in state {current_state:?}");
                    input = &[];
                }
                Err(ClientSessionError::CreateStreamFailed) => {
                    return Err(PlayError::Rejected(
                        "the server refused to create a stream".into(),
                    ))
                }
                Err(error) => return Err(protocol_error(error)),
            }
        }
    }

    /// Reads until `decide` settles on an event; returns the other events
    /// (before and after the deciding one) in order.
    fn wait_for(
        &mut self,
        timeout: Duration,
        step: &'static str,
        mut decide: impl FnMut(&ClientSessionEvent) -> Option<Result<(), PlayError>>,
    ) -> Result<Vec<Incoming>, PlayError> {
        let deadline = Instant::now() + timeout;
        let mut buffer = vec![0u8; 16 * 1024];
        let mut others = Vec::new();
        while Instant::now() < deadline {
            let read = match self.socket.read(&mut buffer) {
                Ok(0) => return Err(PlayError::Closed(step)),
                Ok(read) => read,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            let mut outcome = None;
            for incoming in self.feed(chunk)? {
                if let (None, Incoming::Event(event)) = (&outcome, &incoming) {
                    outcome = decide(event);
                    if outcome.is_some() {
                        continue;
                    }
                }
                others.push(incoming);
            }
            match outcome {
                Some(Ok(())) => return Ok(others),
                Some(Err(error)) => return Err(error),
                None => {}
            }
        }
        Err(PlayError::Timeout(timeout, step))
    }

    /// Turns one session event into messages for the caller.
    fn deliver(&mut self, incoming: Incoming) -> Result<(), PlayError> {
        let event = match incoming {
            Incoming::Event(event) => event,
            Incoming::StreamEof => return self.notice(StreamNotice::End),
        };
        if let Some(reason) = refusal(&event) {
            return Err(PlayError::Rejected(reason));
        }
        match event {
            ClientSessionEvent::StreamMetadataReceived { metadata } => {
                self.restart_if_ended()?;
                self.push(PlayMessage::Metadata(convert_metadata(&metadata)))?;
            }
            ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                self.last_media = Instant::now();
                self.shared.video_messages.fetch_add(1, Ordering::Relaxed);
                self.restart_if_ended()?;
                if self.admit_video(MediaKind::of_video(&data)) {
                    self.push(PlayMessage::Video {
                        timestamp_ms: timestamp.value,
                        body: data,
                    })?;
                } else {
                    self.shared.video_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                self.last_media = Instant::now();
                self.shared.audio_messages.fetch_add(1, Ordering::Relaxed);
                self.restart_if_ended()?;
                let over = self.shared.queued_bytes.load(Ordering::Relaxed) > self.max_queued;
                if over && MediaKind::of_audio(&data) != MediaKind::SequenceHeader {
                    self.shared.audio_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.push(PlayMessage::Audio {
                        timestamp_ms: timestamp.value,
                        body: data,
                    })?;
                }
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => match stream_notice(&code) {
                Some(notice) => self.notice(notice)?,
                None => log::debug!("ignored status {code}"),
            },
            other => log::trace!("ignored RTMP event {other:?}"),
        }
        Ok(())
    }

    /// A stream end (said once, however many ways the server says it) or
    /// reset (said only when something was delivered that it resets).
    fn notice(&mut self, notice: StreamNotice) -> Result<(), PlayError> {
        self.last_media = Instant::now();
        match notice {
            StreamNotice::End if !self.ended => {
                self.ended = true;
                self.push(PlayMessage::StreamEnd)
            }
            StreamNotice::End => Ok(()),
            StreamNotice::Reset => {
                self.ended = false;
                if self.delivered_any {
                    self.push(PlayMessage::StreamReset)?;
                }
                Ok(())
            }
        }
    }

    /// Media after a stream end, with no reset notice: a new publisher.
    fn restart_if_ended(&mut self) -> Result<(), PlayError> {
        if self.ended {
            self.ended = false;
            self.push(PlayMessage::StreamReset)?;
        }
        Ok(())
    }

    /// The drop policy: past the limit drop video until a key frame arrives
    /// with the queue back under half the limit.
    fn admit_video(&mut self, kind: MediaKind) -> bool {
        let queued = self.shared.queued_bytes.load(Ordering::Relaxed);
        match kind {
            MediaKind::KeyFrame | MediaKind::InterFrame => {
                if queued > self.max_queued && !self.dropping_video {
                    log::warn!("{queued} bytes wait for the player: dropping video");
                    self.dropping_video = true;
                }
                if self.dropping_video
                    && kind == MediaKind::KeyFrame
                    && queued <= self.max_queued / 2
                {
                    self.dropping_video = false;
                }
                !self.dropping_video
            }
            _ => true,
        }
    }

    fn push(&mut self, message: PlayMessage) -> Result<(), PlayError> {
        if !matches!(message, PlayMessage::StreamEnd | PlayMessage::StreamReset) {
            self.delivered_any = true;
        }
        let size = message.size();
        self.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.sender.send(message).map_err(|_| {
            self.shared.dequeued(size);
            PlayError::Closed("by the player")
        })
    }

    fn run(mut self) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                self.finish();
                break;
            }
            if let Err(error) = self.turn(&mut buffer) {
                log::debug!("RTMP play connection ends: {error}");
                self.shared.fail(error);
                break;
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// One read (waiting at most [`POLL_INTERVAL`]) and its consequences.
    fn turn(&mut self, buffer: &mut [u8]) -> Result<(), PlayError> {
        match self.socket.read(buffer) {
            Ok(0) => return Err(PlayError::Closed("while playing")),
            Ok(read) => {
                let chunk = buffer.get(..read).unwrap_or_default();
                for incoming in self.feed(chunk)? {
                    self.deliver(incoming)?;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
        if !self.idle_timeout.is_zero() && self.last_media.elapsed() > self.idle_timeout {
            return Err(PlayError::Idle(self.idle_timeout));
        }
        Ok(())
    }

    /// Ends playback politely: `deleteStream`, half-close, then read until
    /// the server closes too (closing with unread input would reset the
    /// connection). Bounded to about a second.
    fn finish(&mut self) {
        let _ = self
            .socket
            .set_write_timeout(Some(Duration::from_millis(200)));
        if let Ok(results) = self.session.stop_playback() {
            let _ = self.send_results(results);
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut sink = [0u8; 16 * 1024];
        while Instant::now() < deadline {
            match self.socket.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::ChunkError;

    #[test]
    fn status_codes_are_classified() {
        for code in [
            "NetStream.Play.Complete",
            "NetStream.Play.Stop",
            "NetStream.Play.UnpublishNotify",
        ] {
            assert_eq!(stream_notice(code), Some(StreamNotice::End), "{code}");
        }
        for code in ["NetStream.Play.Reset", "NetStream.Play.PublishNotify"] {
            assert_eq!(stream_notice(code), Some(StreamNotice::Reset), "{code}");
        }
        assert_eq!(stream_notice("NetStream.Data.Start"), None);
    }

    #[test]
    fn metadata_converts_to_the_crate_form() {
        let mut metadata = RmlMetadata::new();
        metadata.video_width = Some(320);
        metadata.video_height = Some(240);
        metadata.video_frame_rate = Some(29.97);
        metadata.video_bitrate_kbps = Some(800);
        metadata.encoder = Some("Lavf".into());
        let converted = convert_metadata(&metadata);
        assert_eq!((converted.width, converted.height), (320, 240));
        assert_eq!(converted.frame_rate, 29.97);
        assert_eq!(converted.video_bitrate_kbps, 800.0);
        assert_eq!(converted.encoder, "Lavf");
        assert_eq!(converted.audio, None);
        metadata.audio_codec_id = Some(0);
        metadata.audio_sample_rate = Some(0);
        assert_eq!(convert_metadata(&metadata).audio, None);

        metadata.audio_sample_rate = Some(44_100);
        metadata.audio_is_stereo = Some(true);
        metadata.audio_bitrate_kbps = Some(128);
        let audio = convert_metadata(&metadata).audio.expect("audio described");
        assert_eq!(
            (audio.sample_rate, audio.channels, audio.bitrate_kbps),
            (44_100, 2, 128.0)
        );
        metadata.audio_channels = Some(1);
        assert_eq!(
            convert_metadata(&metadata).audio.map(|a| a.channels),
            Some(1)
        );
    }

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
