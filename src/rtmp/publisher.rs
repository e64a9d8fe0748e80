//! The RTMP publishing client: one connection that publishes one stream.
//!
//! [`Publisher::connect`] does the blocking part on the caller's thread — TCP
//! connect, handshake, `connect` to the application, `publish` — reporting
//! 1001 and 1002 as it goes, or failing with a [`PublishError`] that carries
//! the plugin's code (3001–3005). Then a connection thread owns the socket:
//! the caller hands it metadata and media messages without blocking, it
//! writes them out and answers the server (acknowledgements, pings). The
//! socket set-up, the handshake, the refusal rules and the error type are
//! shared with the playing client (`rtmp/client.rs`).
//!
//! What the server sends is held to [`PublisherConfig::inbound`] by the
//! chunk-header reader the playing client and the embedded server use
//! ([`super::chunk`]): a chunk size or message length past the limits ends
//! the connection with [`PublishError::Chunk`] before rml_rtmp, which would
//! reserve a message's declared length at once, sees the bytes.
//!
//! The send backlog (bytes handed over but not yet written to the socket) is
//! bounded: past [`PublisherConfig::max_backlog_bytes`] video frames are
//! dropped on purpose, and counted, until a key frame can be sent again;
//! sequence headers, metadata and audio are never dropped. RTC mode reads
//! the backlog to adapt its bitrate; for that, [`PublisherStats`] counts
//! the bytes still in the kernel's send buffer too, where a slow link's
//! backlog shows first.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

use super::chunk::{ChunkReader, InboundLimits};
use super::client::{
    handshake, open_socket, protocol_error, refusal, session_input, unacknowledged_bytes,
    ClientError,
};
use super::{MediaKind, RtmpUrl};
use crate::events::{PushCode, PushEvent};

/// Why publishing could not start or stopped: the error both RTMP clients
/// share, whose [`push_code`](ClientError::push_code) is the pusher's
/// warning code (3001–3005).
pub type PublishError = ClientError;

/// Settings of a publishing connection.
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherConfig {
    /// Longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for each answer during set-up (handshake, connect,
    /// publish).
    pub response_timeout: Duration,
    /// Bytes that may wait to be sent before video frames are dropped.
    pub max_backlog_bytes: usize,
    /// Outgoing RTMP chunk size.
    pub chunk_size: u32,
    /// Largest chunk size and message the server may send; past them the
    /// connection fails with [`PublishError::Chunk`] before the bytes are
    /// parsed, as in the playing client.
    pub inbound: InboundLimits,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            max_backlog_bytes: 2 << 20,
            chunk_size: 4096,
            inbound: InboundLimits::default(),
        }
    }
}

/// Counters of a publishing connection.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PublisherStats {
    /// Bytes written to the socket.
    pub bytes_sent: u64,
    /// Bytes handed over but not yet delivered: queued, not yet written,
    /// or written but not yet acknowledged by the server.
    pub backlog_bytes: usize,
    /// Video frames dropped because the backlog was full.
    pub frames_dropped: u64,
    /// Video frames handed to the socket.
    pub frames_sent: u64,
    /// Jitter of the time frames wait before they are written, in ms
    /// (RFC 3550's running estimate).
    pub jitter_ms: f64,
}

enum Outgoing {
    Metadata(Box<StreamMetadata>),
    Video {
        body: Bytes,
        timestamp_ms: u32,
        queued_at: Instant,
    },
    Audio {
        body: Bytes,
        timestamp_ms: u32,
    },
    Close,
}

#[derive(Default)]
struct Shared {
    bytes_sent: AtomicU64,
    queued_bytes: AtomicUsize,
    unsent_bytes: AtomicUsize,
    /// Written to the socket, not yet acknowledged by the peer.
    in_kernel_bytes: AtomicUsize,
    frames_dropped: AtomicU64,
    frames_sent: AtomicU64,
    jitter_micros: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<PublishError>>,
}

impl Shared {
    fn fail(&self, error: PublishError) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(error);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// A live publishing connection.
pub struct Publisher {
    url: RtmpUrl,
    sender: Sender<Outgoing>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("url", &self.url.to_string())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects and starts publishing `url`'s stream. `on_event` hears
    /// 1001 (connected to the application) and 1002 (publishing).
    pub fn connect(
        url: &RtmpUrl,
        config: &PublisherConfig,
        on_event: &mut dyn FnMut(PushEvent),
    ) -> Result<Self, PublishError> {
        let (mut socket, address) =
            open_socket(url, config.connect_timeout, config.response_timeout)?;
        let leftover = handshake(&mut socket, &address)?;
        let mut session_config = ClientSessionConfig::new();
        session_config.tc_url = Some(url.tc_url());
        session_config.chunk_size = config.chunk_size;
        let (mut session, initial) = ClientSession::new(session_config).map_err(protocol_error)?;
        let mut reader = ChunkReader::new(config.inbound);
        let mut setup = SetupConnection {
            socket: &mut socket,
            session: &mut session,
            reader: &mut reader,
            deadline_step: config.response_timeout,
        };
        setup.send_results(initial)?;
        setup.feed(&leftover)?;

        let request = setup
            .session
            .request_connection(url.app.clone())
            .map_err(protocol_error)?;
        setup.send_results(vec![request])?;
        setup.wait_for("during connect", |event| match event {
            ClientSessionEvent::ConnectionRequestAccepted => Some(Ok(())),
            ClientSessionEvent::ConnectionRequestRejected { description } => Some(Err(
                PublishError::Rejected(format!("connect to {:?} refused: {description}", url.app)),
            )),
            _ => None,
        })?;
        on_event(PushEvent::new(
            PushCode::Connected,
            format!("connected to {}", url.tc_url()),
        ));

        let request = setup
            .session
            .request_publishing(url.stream_with_query(), PublishRequestType::Live)
            .map_err(protocol_error)?;
        setup.send_results(vec![request])?;
        setup.wait_for("during publish", |event| match event {
            ClientSessionEvent::PublishRequestAccepted => Some(Ok(())),
            other => refusal(&other).map(|reason| {
                Err(PublishError::Rejected(format!(
                    "publish of {:?} refused: {reason}",
                    url.stream
                )))
            }),
        })?;
        on_event(PushEvent::new(
            PushCode::Publishing,
            format!("publishing {}/{}", url.app, url.stream),
        ));

        socket.set_nonblocking(true)?;
        let shared = Arc::new(Shared::default());
        let (sender, receiver) = mpsc::channel();
        let connection = Connection {
            socket,
            session,
            reader,
            receiver,
            shared: Arc::clone(&shared),
            max_backlog: config.max_backlog_bytes,
            unsent: Vec::new(),
            written: 0,
            dropping: false,
            last_delay: None,
        };
        let thread = std::thread::Builder::new()
            .name("rtmp-publish".into())
            .spawn(move || connection.run())
            .map_err(|e| PublishError::Spawn(Arc::new(e)))?;
        Ok(Self {
            url: url.clone(),
            sender,
            shared,
            thread: Some(thread),
        })
    }

    /// The URL being published.
    pub fn url(&self) -> &RtmpUrl {
        &self.url
    }

    /// Sends `onMetaData`.
    pub fn send_metadata(&self, metadata: StreamMetadata) -> Result<(), PublishError> {
        self.check()?;
        self.enqueue(Outgoing::Metadata(Box::new(metadata)), 0)
    }

    /// Queues a video message (an FLV video tag body) at a decode time in ms.
    pub fn send_video(&self, body: Bytes, timestamp_ms: u32) -> Result<(), PublishError> {
        self.check()?;
        let size = body.len();
        self.enqueue(
            Outgoing::Video {
                body,
                timestamp_ms,
                queued_at: Instant::now(),
            },
            size,
        )
    }

    /// Queues an audio message (an FLV audio tag body).
    pub fn send_audio(&self, body: Bytes, timestamp_ms: u32) -> Result<(), PublishError> {
        self.check()?;
        let size = body.len();
        self.enqueue(Outgoing::Audio { body, timestamp_ms }, size)
    }

    /// The first error the connection met, if it has failed.
    pub fn check(&self) -> Result<(), PublishError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let failure = self
            .shared
            .failure
            .lock()
            .ok()
            .and_then(|slot| slot.clone());
        Err(failure.unwrap_or(PublishError::Stopped("its thread ended")))
    }

    /// Current counters.
    pub fn stats(&self) -> PublisherStats {
        let shared = &self.shared;
        PublisherStats {
            bytes_sent: shared.bytes_sent.load(Ordering::Relaxed),
            backlog_bytes: shared.queued_bytes.load(Ordering::Relaxed)
                + shared.unsent_bytes.load(Ordering::Relaxed)
                + shared.in_kernel_bytes.load(Ordering::Relaxed),
            frames_dropped: shared.frames_dropped.load(Ordering::Relaxed),
            frames_sent: shared.frames_sent.load(Ordering::Relaxed),
            jitter_ms: shared.jitter_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    /// Sends what is queued (waiting up to `linger` for it to leave),
    /// ends the publication and closes the connection.
    pub fn close(mut self, linger: Duration) -> Result<PublisherStats, PublishError> {
        self.shutdown(linger);
        let stats = self.stats();
        self.check().map(|()| stats)
    }

    fn enqueue(&self, message: Outgoing, size: usize) -> Result<(), PublishError> {
        self.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.sender
            .send(message)
            .map_err(|_| PublishError::Stopped("its thread ended"))
    }

    fn shutdown(&mut self, linger: Duration) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let _ = self.sender.send(Outgoing::Close);
        let deadline = Instant::now() + linger + Duration::from_millis(200);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            // The thread notices the failure flag on its next turn and exits.
            self.shared
                .fail(PublishError::Stopped("closed before the backlog was sent"));
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shutdown(Duration::from_millis(500));
    }
}

/// The blocking request/answer phase before publishing starts.
struct SetupConnection<'a> {
    socket: &'a mut TcpStream,
    session: &'a mut ClientSession,
    /// Holds the server to the inbound limits.
    reader: &'a mut ChunkReader,
    deadline_step: Duration,
}

impl SetupConnection<'_> {
    fn send_results(&mut self, results: Vec<ClientSessionResult>) -> Result<(), PublishError> {
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                self.socket.write_all(&packet.bytes)?;
            }
        }
        Ok(())
    }

    /// Feeds bytes; returns the events they raised.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<ClientSessionEvent>, PublishError> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        self.reader.check(bytes)?;
        let results = session_input(self.session, bytes)?.map_err(protocol_error)?;
        let mut events = Vec::new();
        let mut outbound = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                other => outbound.push(other),
            }
        }
        self.send_results(outbound)?;
        Ok(events)
    }

    /// Reads until `decide` settles on an event.
    fn wait_for(
        &mut self,
        step: &'static str,
        mut decide: impl FnMut(ClientSessionEvent) -> Option<Result<(), PublishError>>,
    ) -> Result<(), PublishError> {
        let deadline = Instant::now() + self.deadline_step;
        let mut buffer = vec![0u8; 16 * 1024];
        while Instant::now() < deadline {
            let read = match self.socket.read(&mut buffer) {
                Ok(0) => return Err(PublishError::Closed(step)),
                Ok(read) => read,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let chunk = buffer[..read].to_vec();
            for event in self.feed(&chunk)? {
                if let Some(outcome) = decide(event) {
                    return outcome;
                }
            }
        }
        Err(PublishError::Timeout(self.deadline_step, step))
    }
}

/// The connection thread's state.
struct Connection {
    socket: TcpStream,
    session: ClientSession,
    /// Holds the server to the inbound limits.
    reader: ChunkReader,
    receiver: Receiver<Outgoing>,
    shared: Arc<Shared>,
    max_backlog: usize,
    unsent: Vec<u8>,
    written: usize,
    dropping: bool,
    last_delay: Option<Duration>,
}

impl Connection {
    fn run(mut self) {
        let mut input = vec![0u8; 16 * 1024];
        let mut closing = None;
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                break;
            }
            // Take new messages: wait a little when there is nothing to write.
            let pending = self.unsent.len() > self.written;
            let message = if pending || closing.is_some() {
                self.receiver
                    .try_recv()
                    .map_err(|e| e == TryRecvError::Disconnected)
            } else {
                match self.receiver.recv_timeout(Duration::from_millis(10)) {
                    Ok(message) => Ok(message),
                    Err(RecvTimeoutError::Timeout) => Err(false),
                    Err(RecvTimeoutError::Disconnected) => Err(true),
                }
            };
            match message {
                Ok(Outgoing::Close) | Err(true) => {
                    closing.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
                }
                Ok(message) => {
                    if let Err(error) = self.serialize(message) {
                        self.shared.fail(error);
                        break;
                    }
                }
                Err(false) => {}
            }
            let wrote = match self.write_out() {
                Ok(wrote) => wrote,
                Err(error) => {
                    self.shared.fail(error);
                    break;
                }
            };
            if let Err(error) = self.read_in(&mut input) {
                self.shared.fail(error);
                break;
            }
            if let Some(deadline) = closing {
                let drained = self.unsent.len() == self.written
                    && self.shared.queued_bytes.load(Ordering::Relaxed) == 0;
                if drained || Instant::now() > deadline {
                    self.finish();
                    break;
                }
            }
            if self.unsent.len() > self.written && !wrote {
                // The socket is full: wait for it to drain.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    fn serialize(&mut self, message: Outgoing) -> Result<(), PublishError> {
        let result = match message {
            Outgoing::Metadata(metadata) => self.session.publish_metadata(&metadata),
            Outgoing::Audio { body, timestamp_ms } => {
                self.dequeued(body.len());
                self.session
                    .publish_audio_data(body, RtmpTimestamp::new(timestamp_ms), false)
            }
            Outgoing::Video {
                body,
                timestamp_ms,
                queued_at,
            } => {
                self.dequeued(body.len());
                let kind = MediaKind::of_video(&body);
                if !self.admit_video(kind) {
                    self.shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                self.note_delay(queued_at.elapsed());
                if matches!(kind, MediaKind::KeyFrame | MediaKind::InterFrame) {
                    self.shared.frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                self.session
                    .publish_video_data(body, RtmpTimestamp::new(timestamp_ms), false)
            }
            Outgoing::Close => return Ok(()),
        };
        let packet = match result.map_err(protocol_error)? {
            ClientSessionResult::OutboundResponse(packet) => packet,
            _ => return Ok(()),
        };
        self.unsent.extend_from_slice(&packet.bytes);
        self.shared
            .unsent_bytes
            .store(self.unsent.len() - self.written, Ordering::Relaxed);
        Ok(())
    }

    fn dequeued(&self, size: usize) {
        let _ =
            self.shared
                .queued_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                    Some(queued.saturating_sub(size))
                });
    }

    /// The drop policy: past the backlog limit drop video until a key frame
    /// arrives with the backlog back under half the limit.
    fn admit_video(&mut self, kind: MediaKind) -> bool {
        let backlog =
            (self.unsent.len() - self.written) + self.shared.queued_bytes.load(Ordering::Relaxed);
        match kind {
            MediaKind::SequenceHeader | MediaKind::Other | MediaKind::AudioFrame => true,
            MediaKind::KeyFrame | MediaKind::InterFrame => {
                if backlog > self.max_backlog && !self.dropping {
                    log::warn!("send backlog {backlog} bytes: dropping video until a key frame");
                    self.dropping = true;
                }
                if self.dropping && kind == MediaKind::KeyFrame && backlog <= self.max_backlog / 2 {
                    self.dropping = false;
                }
                !self.dropping
            }
        }
    }

    fn note_delay(&mut self, delay: Duration) {
        if let Some(last) = self.last_delay {
            let difference = delay.abs_diff(last).as_micros() as f64;
            let jitter = self.shared.jitter_micros.load(Ordering::Relaxed) as f64;
            let updated = jitter + (difference - jitter) / 16.0;
            self.shared
                .jitter_micros
                .store(updated.max(0.0) as u64, Ordering::Relaxed);
        }
        self.last_delay = Some(delay);
    }

    /// Writes what the socket takes; returns whether anything left.
    fn write_out(&mut self) -> Result<bool, PublishError> {
        let mut wrote = false;
        while self.written < self.unsent.len() {
            match self.socket.write(&self.unsent[self.written..]) {
                Ok(0) => return Err(std::io::Error::from(ErrorKind::WriteZero).into()),
                Ok(count) => {
                    self.written += count;
                    self.shared
                        .bytes_sent
                        .fetch_add(count as u64, Ordering::Relaxed);
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if self.written == self.unsent.len() {
            self.unsent.clear();
            self.written = 0;
        } else if self.written > (1 << 20) && self.written * 2 > self.unsent.len() {
            self.unsent.drain(..self.written);
            self.written = 0;
        }
        self.shared
            .unsent_bytes
            .store(self.unsent.len() - self.written, Ordering::Relaxed);
        self.shared
            .in_kernel_bytes
            .store(unacknowledged_bytes(&self.socket), Ordering::Relaxed);
        Ok(wrote)
    }

    fn read_in(&mut self, buffer: &mut [u8]) -> Result<(), PublishError> {
        loop {
            let read = match self.socket.read(buffer) {
                Ok(0) => return Err(PublishError::Closed("while publishing")),
                Ok(read) => read,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let received = buffer.get(..read).unwrap_or_default();
            self.reader.check(received)?;
            let results = session_input(&mut self.session, received)?.map_err(protocol_error)?;
            for result in results {
                match result {
                    ClientSessionResult::OutboundResponse(packet) => {
                        self.unsent.extend_from_slice(&packet.bytes)
                    }
                    ClientSessionResult::RaisedEvent(event) => {
                        if let Some(reason) = refusal(&event) {
                            return Err(PublishError::Rejected(reason));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Ends the publication politely.
    fn finish(&mut self) {
        if let Ok(results) = self.session.stop_publishing() {
            for result in results {
                if let ClientSessionResult::OutboundResponse(packet) = result {
                    self.unsent.extend_from_slice(&packet.bytes);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.written < self.unsent.len() && Instant::now() < deadline {
            match self.write_out() {
                Ok(true) => {}
                Ok(false) => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => break,
            }
        }
        // Half-close and read until the server closes too: closing a socket
        // with unread input makes the kernel reset the connection, throwing
        // away the tail of the stream that is still in its send buffer.
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            match self.socket.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}
