//! The connection state machine: one thread per connection owns its
//! socket, its handshake and its `rml_rtmp` [`ServerSession`] (which is not
//! `Sync`); a small reader thread per connection forwards what the socket
//! delivers over a channel, so the connection thread sleeps until there is
//! input, media to deliver or a silence to act on. Input is checked by the
//! chunk reader ([`crate::rtmp::chunk`]) before the session parses it; a
//! connection is a publisher or a player (or neither) and leaves the
//! registry clean however it ends, a panic included.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{debug, info, warn};
use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};
use rml_rtmp::time::RtmpTimestamp;
use thiserror::Error;

use super::outbound;
use super::player_queue::{Delivery, PlayerQueue, Waker, QUEUE_MESSAGES};
use super::registry::{pure_audio_variant, Protocol, Refusal, Role};
use super::{lock, Media, Shared, Track};
use crate::rtmp::chunk::{ChunkError, ChunkReader};

/// How many reads may wait for a busy connection thread before the reader
/// stops reading (and TCP flow control slows the peer down).
const INPUT_QUEUE: usize = 32;
/// Size of one socket read.
const READ_BUFFER: usize = 64 * 1024;
/// Written output is flushed to the socket once it grows past this.
const FLUSH_AT: usize = 256 * 1024;
/// After refusing a request the connection waits this long for the peer to
/// read the refusal and hang up.
const LINGER: Duration = Duration::from_secs(2);

/// What connection threads wait on.
#[derive(Debug)]
pub(super) enum ConnEvent {
    /// Bytes from the peer.
    Input(Vec<u8>),
    /// Nothing arrived for half of the idle timeout.
    Silent,
    /// The peer closed the connection.
    Closed,
    /// Reading failed.
    Failed(io::Error),
    /// The player queue has something.
    Wake,
}

/// Why a connection was dropped.
#[derive(Debug, Error)]
enum ConnError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("RTMP error: {0}")]
    Session(#[from] ServerSessionError),
    #[error("rml_rtmp panicked on the peer's input")]
    ParserPanic,
    #[error("no data from the peer for {0:?}")]
    Idle(Duration),
    #[error("the player fell too far behind")]
    Overflow,
    #[error("an RTMP request arrived before the handshake finished")]
    NoSession,
    #[error("over the inbound limits: {0}")]
    Limit(#[from] ChunkError),
}

/// A player's side of a connection.
struct Playback {
    name: String,
    stream_id: u32,
    queue: Arc<PlayerQueue>,
    complete_sent: bool,
}

/// One connection, owned by its thread.
struct Connection {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared>,
    socket: TcpStream,
    waker: SyncSender<ConnEvent>,
    handshake: Handshake,
    session: Option<ServerSession>,
    guard: ChunkReader,
    out: Vec<u8>,
    app: Option<String>,
    publishing: Option<String>,
    playing: Option<Playback>,
    pinged: bool,
    refused: bool,
}

/// A connection's place in the server's books: released when dropped, so
/// that even a panic on the connection's thread frees its slot.
struct ConnectionSlot {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(socket) = lock(&self.shared.sockets).remove(&self.id) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn run_connection(shared: Arc<Shared>, id: u64, socket: TcpStream, peer: SocketAddr) {
    let _slot = ConnectionSlot {
        shared: Arc::clone(&shared),
        id,
    };
    let idle = shared.config.idle_timeout;
    let (sender, receiver) = mpsc::sync_channel(INPUT_QUEUE);
    let reader = socket
        .set_nodelay(true)
        .and_then(|()| socket.set_write_timeout(Some(idle.max(Duration::from_secs(1)))))
        .and_then(|()| socket.try_clone())
        .and_then(|reading| {
            reading.set_read_timeout(Some(idle / 2))?;
            let sender = sender.clone();
            thread::Builder::new()
                .name(format!("rtmp-read-{id}"))
                .spawn(move || read_loop(reading, &sender))
        });
    let mut connection = Connection {
        id,
        peer,
        shared: Arc::clone(&shared),
        socket,
        waker: sender,
        handshake: Handshake::new(PeerType::Server),
        session: None,
        guard: ChunkReader::new(shared.config.inbound),
        out: Vec::new(),
        app: None,
        publishing: None,
        playing: None,
        pinged: false,
        refused: false,
    };
    let (reader, outcome) = match reader {
        // rml_rtmp can panic outside the parser too (answering a request,
        // serialising): that ends this connection, nothing more.
        Ok(reader) => (
            Some(reader),
            panic::catch_unwind(AssertUnwindSafe(|| connection.serve(&receiver)))
                .unwrap_or(Err(ConnError::ParserPanic)),
        ),
        Err(error) => (None, Err(ConnError::Io(error))),
    };
    match outcome {
        Ok(()) => debug!("RTMP connection {id} from {peer} closed"),
        Err(error) => warn!("RTMP connection {id} from {peer} dropped: {error}"),
    }
    connection.leave();
    let _ = connection.socket.shutdown(Shutdown::Both);
    drop(connection);
    // A reader blocked on a full channel gets an error and ends.
    drop(receiver);
    if let Some(reader) = reader {
        let _ = reader.join();
    }
}

fn read_loop(mut socket: TcpStream, sender: &SyncSender<ConnEvent>) {
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        let event = match socket.read(&mut buffer) {
            Ok(0) => ConnEvent::Closed,
            Ok(read) => ConnEvent::Input(buffer[..read].to_vec()),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                ConnEvent::Silent
            }
            Err(error) => ConnEvent::Failed(error),
        };
        let last = matches!(event, ConnEvent::Closed | ConnEvent::Failed(_));
        if sender.send(event).is_err() || last {
            break;
        }
    }
}

impl Connection {
    fn serve(&mut self, events: &Receiver<ConnEvent>) -> Result<(), ConnError> {
        while let Ok(event) = events.recv() {
            match event {
                ConnEvent::Input(bytes) => {
                    self.pinged = false;
                    self.on_input(&bytes)?;
                }
                ConnEvent::Silent => self.on_silence()?,
                ConnEvent::Closed => return Ok(()),
                ConnEvent::Failed(error) => return Err(error.into()),
                ConnEvent::Wake => {}
            }
            self.deliver()?;
            self.flush()?;
            if self.refused {
                self.linger(events);
                return Ok(());
            }
        }
        Ok(())
    }

    /// After a refusal: let the peer read it and hang up first, so that the
    /// close does not reset the connection under the refusal.
    fn linger(&mut self, events: &Receiver<ConnEvent>) {
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match events.recv_timeout(left) {
                Ok(ConnEvent::Closed | ConnEvent::Failed(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn on_silence(&mut self) -> Result<(), ConnError> {
        let idle = self.shared.config.idle_timeout;
        let Some(session) = self.session.as_mut() else {
            return Err(ConnError::Idle(idle / 2));
        };
        if self.pinged {
            return Err(ConnError::Idle(idle));
        }
        let (packet, _) = session.send_ping_request()?;
        self.out.extend_from_slice(&packet.bytes);
        self.pinged = true;
        Ok(())
    }

    fn on_input(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        if self.session.is_some() {
            return self.feed(bytes);
        }
        let handshake = &mut self.handshake;
        let progress = panic::catch_unwind(AssertUnwindSafe(|| handshake.process_bytes(bytes)))
            .map_err(|_| ConnError::ParserPanic)??;
        match progress {
            HandshakeProcessResult::InProgress { response_bytes } => {
                self.out.extend_from_slice(&response_bytes);
                Ok(())
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                self.out.extend_from_slice(&response_bytes);
                let mut config = ServerSessionConfig::new();
                config.chunk_size = self.shared.config.chunk_size;
                let (session, results) = ServerSession::new(config)?;
                self.session = Some(session);
                debug!(
                    "RTMP connection {} from {}: handshake done",
                    self.id, self.peer
                );
                self.handle_results(results)?;
                if remaining_bytes.is_empty() {
                    Ok(())
                } else {
                    self.feed(&remaining_bytes)
                }
            }
        }
    }

    fn session(&mut self) -> Result<&mut ServerSession, ConnError> {
        self.session.as_mut().ok_or(ConnError::NoSession)
    }

    /// Passes bytes after the handshake to the session.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.guard.check(bytes)?;
        let session = self.session()?;
        // rml_rtmp 0.8 can panic on malformed or interleaved chunks
        // (arithmetic overflow): that drops this peer, nothing more.
        let results = panic::catch_unwind(AssertUnwindSafe(|| session.handle_input(bytes)))
            .map_err(|_| ConnError::ParserPanic)??;
        self.handle_results(results)
    }

    /// Writes the session's packets in the order they were made, then acts
    /// on its events (which may make more packets).
    fn handle_results(&mut self, results: Vec<ServerSessionResult>) -> Result<(), ConnError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    self.out.extend_from_slice(&packet.bytes);
                }
                ServerSessionResult::RaisedEvent(event) => events.push(event),
                ServerSessionResult::UnhandleableMessageReceived(payload) => debug!(
                    "RTMP connection {}: ignoring message of type {}",
                    self.id, payload.type_id
                ),
            }
        }
        for event in events {
            if self.refused {
                break;
            }
            self.on_event(event)?;
        }
        Ok(())
    }

    fn on_event(&mut self, event: ServerSessionEvent) -> Result<(), ConnError> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                debug!("RTMP connection {}: connect to {app_name:?}", self.id);
                self.app = Some(app_name);
                let results = self.session()?.accept_request(request_id)?;
                self.handle_results(results)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => self.on_publish_request(request_id, &app_name, &stream_key),
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                app_name,
                stream_key,
                stream_id,
                ..
            } => self.on_play_request(request_id, &app_name, &stream_key, stream_id),
            ServerSessionEvent::PublishStreamFinished { .. } => {
                self.stop_publishing();
                Ok(())
            }
            ServerSessionEvent::PlayStreamFinished { .. } => {
                self.stop_playing();
                Ok(())
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                if let Some(name) = &self.publishing {
                    self.shared.registry.relay_metadata(self.id, name, metadata);
                }
                Ok(())
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.relay(Track::Video, timestamp, data);
                Ok(())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.relay(Track::Audio, timestamp, data);
                Ok(())
            }
            other => {
                debug!("RTMP connection {}: {other:?}", self.id);
                Ok(())
            }
        }
    }

    fn relay(&self, track: Track, timestamp: RtmpTimestamp, data: Bytes) {
        if let Some(name) = &self.publishing {
            self.shared
                .relay_media(self.id, name, Media::new(track, timestamp, data));
        }
    }

    /// Accepts or refuses a request; `Ok(Some(name))` when accepted.
    fn decide(
        &mut self,
        request_id: u32,
        role: Role,
        app: &str,
        requested: &str,
    ) -> Result<Option<String>, ConnError> {
        let decision = if self.publishing.is_some() || self.playing.is_some() {
            Err(Refusal {
                code: role.refusal_code(),
                description: "this connection already publishes or plays a stream".into(),
            })
        } else {
            self.shared.registry.decide(
                self.id,
                role,
                app,
                requested,
                self.shared.config.anti_leech_key.as_deref(),
            )
        };
        match decision {
            Ok(name) => Ok(Some(name)),
            Err(refusal) => {
                warn!(
                    "RTMP connection {} from {}: refusing to {} {app}/{requested}: {}",
                    self.id,
                    self.peer,
                    match role {
                        Role::Publish => "publish",
                        Role::Play => "play",
                    },
                    refusal.description
                );
                let results = self.session()?.reject_request(
                    request_id,
                    refusal.code,
                    &refusal.description,
                )?;
                self.handle_results(results)?;
                self.refused = true;
                Ok(None)
            }
        }
    }

    fn on_publish_request(
        &mut self,
        request_id: u32,
        app: &str,
        requested: &str,
    ) -> Result<(), ConnError> {
        let Some(name) = self.decide(request_id, Role::Publish, app, requested)? else {
            return Ok(());
        };
        info!(
            "RTMP connection {} from {} publishes {name}",
            self.id, self.peer
        );
        self.shared
            .registry
            .describe_publisher(self.id, &name, self.peer);
        // Set first: if accepting fails, leaving releases the name.
        self.publishing = Some(name);
        let results = self.session()?.accept_request(request_id)?;
        self.handle_results(results)
    }

    fn on_play_request(
        &mut self,
        request_id: u32,
        app: &str,
        requested: &str,
        stream_id: u32,
    ) -> Result<(), ConnError> {
        let (requested, audio_only) = pure_audio_variant(requested);
        let Some(name) = self.decide(request_id, Role::Play, app, &requested)? else {
            return Ok(());
        };
        info!(
            "RTMP connection {} from {} plays {name}{}",
            self.id,
            self.peer,
            if audio_only { " (audio only)" } else { "" }
        );
        let mut results = self.session()?.accept_request(request_id)?;
        results.retain(|result| {
            !matches!(result, ServerSessionResult::OutboundResponse(packet)
                if outbound::is_session_data(&packet.bytes))
        });
        self.handle_results(results)?;
        outbound::sample_access(&mut self.out, stream_id, self.shared.config.chunk_size);
        let config = &self.shared.config;
        let queue = Arc::new(PlayerQueue::new(
            format!("player {} of {name}", self.id),
            Waker::Connection(self.waker.clone()),
            config.queue_bytes(),
            QUEUE_MESSAGES,
            audio_only,
        ));
        self.shared
            .registry
            .add_player(self.id, &name, &queue, Protocol::Rtmp);
        self.playing = Some(Playback {
            name,
            stream_id,
            queue,
            complete_sent: false,
        });
        Ok(())
    }

    fn stop_publishing(&mut self) {
        if let Some(name) = self.publishing.take() {
            info!("RTMP connection {}: {name} is no longer published", self.id);
            self.shared.registry.end_publishing(self.id, &name);
        }
    }

    fn stop_playing(&mut self) {
        if let Some(playback) = self.playing.take() {
            self.shared.registry.remove_player(self.id, &playback.name);
        }
    }

    /// Releases whatever this connection holds in the stream table.
    fn leave(&mut self) {
        self.stop_publishing();
        self.stop_playing();
    }

    /// Serialises and writes what the player's queue holds.
    fn deliver(&mut self) -> Result<(), ConnError> {
        let Some(playback) = self.playing.as_mut() else {
            return Ok(());
        };
        let (batch, overflowed) = playback.queue.take();
        if overflowed {
            return Err(ConnError::Overflow);
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let stream_id = playback.stream_id;
        let chunk_size = self.shared.config.chunk_size;
        let mut relayed = 0;
        for delivery in batch {
            match delivery {
                // At timestamp 0, keys in a fixed order, as nginx-rtmp
                // sends it: FFmpeg takes metadata stamped later than 0 for
                // a subtitle stream.
                Delivery::Metadata(metadata) => {
                    outbound::metadata(&mut self.out, stream_id, &metadata, chunk_size);
                }
                Delivery::Media(media) => {
                    relayed += 1;
                    let timestamp = RtmpTimestamp::new(media.timestamp);
                    let packet = match media.track {
                        Track::Video => {
                            session.send_video_data(stream_id, media.data, timestamp, false)?
                        }
                        Track::Audio => {
                            session.send_audio_data(stream_id, media.data, timestamp, false)?
                        }
                    };
                    self.out.extend_from_slice(&packet.bytes);
                }
                Delivery::Begin => {
                    outbound::stream_begin(&mut self.out, stream_id, chunk_size);
                }
                Delivery::End => {
                    // What nginx-rtmp tells its players (StreamEOF ends
                    // GStreamer's rtmp2src, librtmp and our player), then
                    // rml_rtmp's NetStream.Play.Complete, which it can say
                    // only once per play request.
                    outbound::stream_eof(&mut self.out, stream_id, chunk_size);
                    outbound::on_status(
                        &mut self.out,
                        stream_id,
                        "NetStream.Play.UnpublishNotify",
                        &format!("{} is no longer published", playback.name),
                        chunk_size,
                    );
                    if !playback.complete_sent {
                        playback.complete_sent = true;
                        let packet = session.finish_playing(stream_id)?;
                        self.out.extend_from_slice(&packet.bytes);
                    }
                }
            }
            if self.out.len() >= FLUSH_AT {
                self.socket.write_all(&self.out)?;
                self.out.clear();
            }
        }
        if relayed > 0 {
            self.shared.relayed.fetch_add(relayed, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnError> {
        if !self.out.is_empty() {
            self.socket.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}
