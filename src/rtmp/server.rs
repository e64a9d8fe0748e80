//! The embedded RTMP server: the zero-setup default the pusher publishes to
//! and the player plays from.
//!
//! [`RtmpServer::start`] binds a TCP listener (loopback, any free port by
//! default) and returns at once; an accept thread hands every connection to
//! its own connection thread, which owns that connection's `rml_rtmp`
//! [`ServerSession`] (it is not `Sync`). A second, small thread per
//! connection blocks on reading the socket and forwards what it reads over a
//! channel, so a connection thread sleeps until there is input, media to
//! deliver, or a period of silence to act on. Nothing polls.
//!
//! Streams are keyed by `app/stream` (the stream name without any `?query`).
//! One publisher per name: a second one is refused with
//! `NetStream.Publish.BadName` and its connection closed. Players may come
//! before the publisher and wait. For each stream the server keeps the
//! metadata, the AVC and AAC sequence headers and the last GOP (from the
//! latest video key frame on, audio included, bounded by
//! [`ServerConfig::max_gop_bytes`]), so a player that joins late gets the
//! headers and starts at a key frame at once. When the publisher leaves,
//! players get `NetStream.Play.Complete` and stay connected; a new publisher
//! of the same name feeds them again, starting with its own sequence headers.
//! Timestamps are relayed as received. Playing `<stream>_pureAudio` gets
//! the same stream without its video (the plugin's background listening).
//!
//! Fan-out never blocks a publisher: it appends to each player's bounded
//! queue, and the player's own thread serialises and writes. A player that
//! falls behind past the bound loses frames until the next key frame (or, on
//! an audio-only stream, the next audio frame); sequence headers, metadata and
//! the end-of-stream notice are never dropped.
//!
//! With [`ServerConfig::anti_leech_key`] set, a publish or play request
//! must carry a valid, unexpired `txSecret`/`txTime` signature of its
//! stream name (see [`super::sign`]; a `_pureAudio` request carries its base
//! stream's); otherwise it is refused with the reason, and the connection
//! closed.
//!
//! A peer's chunk stream is checked against [`ServerConfig::inbound`]
//! before `rml_rtmp` parses it ([`super::chunk`]): a chunk size or message
//! length past the limits, or chunks interleaving two messages (which
//! `rml_rtmp` 0.8 cannot reassemble), drops the peer.
//!
//! A peer whose input `rml_rtmp` cannot parse (including input that makes
//! it panic) is dropped with a warning; it never takes the server down.
//! Connections past [`ServerConfig::max_connections`] are closed as soon as
//! they are accepted. A peer silent for half of
//! [`ServerConfig::idle_timeout`] is pinged, and dropped if still silent
//! after the other half; a peer that has not finished the handshake by the
//! first half is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use log::{debug, info, warn};
use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent,
    ServerSessionResult, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use thiserror::Error;

use super::chunk::{ChunkError, ChunkReader, InboundLimits};
use super::sign::check_signature;
use super::MediaKind;

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
/// A player's queue never holds fewer bytes than this before frames drop.
const MIN_QUEUE_BYTES: usize = 1 << 20;
/// A player's queue holds at most this many messages before frames drop.
const QUEUE_MESSAGES: usize = 8192;
/// Smallest and largest accepted outbound chunk size.
const CHUNK_SIZE_RANGE: (u32, u32) = (128, 0xFF_FFFF);

/// Settings of the embedded server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; the default `127.0.0.1:0` takes any free port on
    /// loopback (read it back with [`RtmpServer::local_addr`]).
    pub bind: SocketAddr,
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Cap on the kept GOP per stream, in bytes: a longer GOP is not kept,
    /// and late players then wait for the next key frame.
    pub max_gop_bytes: usize,
    /// Outbound RTMP chunk size announced to peers (128 to 16 777 215).
    pub chunk_size: u32,
    /// A peer that sends nothing for this long (it is pinged half-way) is
    /// dropped.
    pub idle_timeout: Duration,
    /// With a key, every publish and play request must carry a valid,
    /// unexpired `txSecret`/`txTime` signature made with it (see
    /// [`super::sign`]); without one, anyone who can connect may publish
    /// and play.
    pub anti_leech_key: Option<String>,
    /// Largest chunk size and message a peer may send; a peer past them is
    /// dropped before its bytes are parsed.
    pub inbound: InboundLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            max_connections: 64,
            max_gop_bytes: 16 << 20,
            chunk_size: 4096,
            idle_timeout: Duration::from_secs(30),
            anti_leech_key: None,
            inbound: InboundLimits::default(),
        }
    }
}

impl ServerConfig {
    /// The defaults, listening on `127.0.0.1:port` (`0`: any free port).
    pub fn loopback(port: u16) -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), ServerError> {
        let (low, high) = CHUNK_SIZE_RANGE;
        if !(low..=high).contains(&self.chunk_size) {
            return Err(ServerError::Config(format!(
                "chunk_size {} is outside {low}..={high}",
                self.chunk_size
            )));
        }
        let (max_chunk, max_message) =
            (self.inbound.max_chunk_size, self.inbound.max_message_bytes);
        if !(128..=0x7FFF_FFFF).contains(&max_chunk) || !(1024..=0xFF_FFFF).contains(&max_message) {
            return Err(ServerError::Config(format!(
                "inbound limits: chunk size {max_chunk} (128 to 2^31-1) and message size \
                 {max_message} (1024 to 16777215)"
            )));
        }
        if self.anti_leech_key.as_deref() == Some("") {
            return Err(ServerError::Config("the anti-leech key is empty".into()));
        }
        if self.idle_timeout < Duration::from_millis(20) {
            return Err(ServerError::Config(format!(
                "idle_timeout {:?} is shorter than 20 ms",
                self.idle_timeout
            )));
        }
        Ok(())
    }

    /// Bytes a player's queue may hold before its frames are dropped.
    fn queue_bytes(&self) -> usize {
        self.max_gop_bytes.saturating_mul(2).max(MIN_QUEUE_BYTES)
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// A setting is out of range.
    #[error("invalid RTMP server configuration: {0}")]
    Config(String),
    /// Another I/O failure (reading the bound address, starting a thread).
    #[error("RTMP server I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A snapshot of what the server is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections open now (any state, handshake included).
    pub connections: usize,
    /// Streams (`app/stream`) being published now.
    pub publishing: BTreeSet<String>,
    /// Players per stream (`app/stream`), those waiting for a publisher
    /// included; streams without players are left out.
    pub players: BTreeMap<String, usize>,
    /// Media messages written to players since the start.
    pub messages_relayed: u64,
    /// Media messages dropped for players that fell behind.
    pub frames_dropped: u64,
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: u64,
}

impl ServerStats {
    /// Number of streams being published.
    pub fn publishers(&self) -> usize {
        self.publishing.len()
    }

    /// Players attached to `name` (`app/stream`).
    pub fn players_of(&self, name: &str) -> usize {
        self.players.get(name).copied().unwrap_or(0)
    }
}

/// The running embedded RTMP server. Dropping it stops it (see
/// [`RtmpServer::stop`]).
pub struct RtmpServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RtmpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl RtmpServer {
    /// Binds the listener and starts accepting on a background thread;
    /// returns at once.
    pub fn start(config: ServerConfig) -> Result<RtmpServer, ServerError> {
        config.validate()?;
        let listener = TcpListener::bind(config.bind).map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("rtmp-accept-{}", local_addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        info!("embedded RTMP server listening on {local_addr}");
        Ok(RtmpServer {
            shared,
            local_addr,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the server listens on (with the actual port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL of stream `stream` in application `app` on this server, e.g.
    /// `rtmp://127.0.0.1:PORT/live/room1`.
    pub fn url(&self, app: &str, stream: &str) -> String {
        format!("rtmp://{}/{app}/{stream}", reachable(self.local_addr))
    }

    /// What the server is doing now.
    pub fn stats(&self) -> ServerStats {
        let shared = &self.shared;
        let streams = lock(&shared.streams);
        ServerStats {
            connections: shared.open.load(Ordering::SeqCst),
            publishing: streams
                .iter()
                .filter(|(_, stream)| stream.publisher.is_some())
                .map(|(name, _)| name.clone())
                .collect(),
            players: streams
                .iter()
                .filter(|(_, stream)| !stream.players.is_empty())
                .map(|(name, stream)| (name.clone(), stream.players.len()))
                .collect(),
            messages_relayed: shared.relayed.load(Ordering::Relaxed),
            frames_dropped: shared.dropped.load(Ordering::Relaxed),
            connections_refused: shared.refused.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every connection and joins all threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        // The accept thread blocks in accept(): a connection wakes it up.
        match TcpStream::connect_timeout(&reachable(self.local_addr), Duration::from_secs(1)) {
            Ok(_) => {
                if accept_thread.join().is_err() {
                    warn!("the RTMP accept thread panicked");
                }
            }
            Err(error) => warn!(
                "cannot wake the RTMP accept thread ({error}); it ends on its next connection"
            ),
        }
        for socket in lock(&shared.sockets).values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let workers = mem::take(&mut *lock(&shared.workers));
        for worker in workers {
            if worker.join().is_err() {
                warn!("an RTMP connection thread panicked");
            }
        }
        info!("embedded RTMP server on {} stopped", self.local_addr);
    }
}

impl Drop for RtmpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An address a local client can connect to: unspecified becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Locks a mutex, carrying on with the data if another thread panicked while
/// holding it (every update here leaves the data consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the accept thread, the connection threads and the handle.
struct Shared {
    config: ServerConfig,
    stopping: AtomicBool,
    streams: Mutex<HashMap<String, Stream>>,
    /// A clone of every open connection's socket, to shut them down on stop.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    open: AtomicUsize,
    refused: AtomicU64,
    relayed: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn new(config: ServerConfig) -> Self {
        Self {
            config,
            stopping: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Takes an accepted socket: refuses it past `max_connections`, or
    /// starts its connection thread.
    fn admit(self: &Arc<Self>, socket: TcpStream, peer: SocketAddr) {
        lock(&self.workers).retain(|worker| !worker.is_finished());
        let open = self.open.load(Ordering::SeqCst);
        if open >= self.config.max_connections {
            self.refused.fetch_add(1, Ordering::Relaxed);
            warn!(
                "refusing RTMP connection from {peer}: {open} open (max_connections {})",
                self.config.max_connections
            );
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
        let registered = match socket.try_clone() {
            Ok(clone) => clone,
            Err(error) => {
                warn!("dropping RTMP connection from {peer}: {error}");
                return;
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::SeqCst);
        lock(&self.sockets).insert(id, registered);
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("rtmp-conn-{id}"))
            .spawn(move || run_connection(shared, id, socket, peer));
        match spawned {
            Ok(worker) => lock(&self.workers).push(worker),
            Err(error) => {
                warn!("dropping RTMP connection from {peer}: cannot start its thread: {error}");
                if let Some(socket) = lock(&self.sockets).remove(&id) {
                    let _ = socket.shutdown(Shutdown::Both);
                }
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// The one place that decides whether a publish or play request is
    /// admitted, and under which stream name: the name must be valid and,
    /// with an anti-leech key, signed. An admitted publisher owns the name
    /// when this returns.
    fn decide(&self, conn: u64, role: Role, app: &str, requested: &str) -> Result<String, Refusal> {
        let name = stream_name(app, requested).ok_or_else(|| Refusal {
            code: role.refusal_code(),
            description: format!("invalid stream name {requested:?}"),
        })?;
        if let Some(key) = &self.config.anti_leech_key {
            let (stream, query) = match requested.split_once('?') {
                Some((stream, query)) => (stream, Some(query)),
                None => (requested, None),
            };
            // A `_pureAudio` play request arrives here as its base stream:
            // it carries the base stream's signature.
            check_signature(key, stream.trim(), query, SystemTime::now()).map_err(|error| {
                Refusal {
                    code: role.refusal_code(),
                    description: error.to_string(),
                }
            })?;
        }
        if role == Role::Publish {
            let mut streams = lock(&self.streams);
            let stream = streams.entry(name.clone()).or_default();
            if stream.publisher.is_some() {
                return Err(Refusal {
                    code: role.refusal_code(),
                    description: format!("stream name in use: {name}"),
                });
            }
            stream.start_publishing(conn);
        }
        Ok(name)
    }

    /// The publisher `conn` of `name` is gone: tell its players, forget the
    /// stream's headers and GOP.
    fn end_publishing(&self, conn: u64, name: &str) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        stream.stop_publishing();
        for player in &stream.players {
            player.queue.push(Delivery::End, false);
        }
        if stream.players.is_empty() {
            streams.remove(name);
        }
    }

    /// Adds a player of `name`, primed with what the stream has kept.
    fn add_player(&self, conn: u64, name: &str, queue: &Arc<PlayerQueue>) {
        let mut streams = lock(&self.streams);
        let stream = streams.entry(name.to_string()).or_default();
        stream.prime(queue);
        stream.players.push(PlayerSlot {
            conn,
            queue: Arc::clone(queue),
        });
    }

    fn remove_player(&self, conn: u64, name: &str) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        stream.players.retain(|player| player.conn != conn);
        if stream.players.is_empty() && stream.publisher.is_none() {
            streams.remove(name);
        }
    }

    /// Records metadata from the publisher `conn` and passes it on.
    fn relay_metadata(&self, conn: u64, name: &str, metadata: StreamMetadata) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        let metadata = Arc::new(metadata);
        for player in &stream.players {
            player
                .queue
                .push(Delivery::Metadata(Arc::clone(&metadata)), false);
        }
        stream.metadata = Some(metadata);
    }

    /// Records a media message from the publisher `conn` and passes it on.
    fn relay_media(&self, conn: u64, name: &str, media: Media) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        stream.remember(&media, self.config.max_gop_bytes);
        let resume = stream.is_resume_point(&media);
        let dropped: u64 = stream
            .players
            .iter()
            .map(|player| player.queue.push(Delivery::Media(media.clone()), resume))
            .sum();
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((socket, peer)) => shared.admit(socket, peer),
            Err(error) => match error.kind() {
                ErrorKind::Interrupted | ErrorKind::ConnectionAborted => {}
                _ => {
                    // E.g. out of file descriptors: do not spin on it.
                    warn!("RTMP accept failed: {error}");
                    thread::sleep(Duration::from_millis(50));
                }
            },
        }
    }
}

/// Whether a request publishes or plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publish,
    Play,
}

impl Role {
    fn refusal_code(self) -> &'static str {
        match self {
            Role::Publish => "NetStream.Publish.BadName",
            Role::Play => "NetStream.Play.Failed",
        }
    }
}

/// Why a publish or play request is refused, as sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    description: String,
}

/// The suffix that asks for a stream's sound alone (the plugin's
/// `<stream>_pureAudio`, for background listening).
pub const PURE_AUDIO_SUFFIX: &str = "_pureAudio";

/// A play request for `<stream>_pureAudio` (query kept) is a request for
/// `<stream>` without its video.
fn pure_audio_variant(requested: &str) -> (String, bool) {
    let (stream, query) = match requested.split_once('?') {
        Some((stream, query)) => (stream, Some(query)),
        None => (requested, None),
    };
    match stream.strip_suffix(PURE_AUDIO_SUFFIX) {
        Some(base) if !base.is_empty() => {
            let base = match query {
                Some(query) => format!("{base}?{query}"),
                None => base.to_string(),
            };
            (base, true)
        }
        _ => (requested.to_string(), false),
    }
}

/// `app/stream` for a requested stream name: the query string is cut off;
/// `None` when nothing is left.
fn stream_name(app: &str, requested: &str) -> Option<String> {
    let stream = requested.split('?').next().unwrap_or_default().trim();
    let app = app.trim().trim_matches('/');
    if stream.is_empty() || app.is_empty() {
        return None;
    }
    Some(format!("{app}/{stream}"))
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Video,
    Audio,
}

/// One audio or video message as the publisher sent it.
#[derive(Debug, Clone)]
struct Media {
    track: Track,
    kind: MediaKind,
    timestamp: u32,
    data: Bytes,
}

impl Media {
    fn new(track: Track, timestamp: RtmpTimestamp, data: Bytes) -> Self {
        let kind = match track {
            Track::Video => MediaKind::of_video(&data),
            Track::Audio => MediaKind::of_audio(&data),
        };
        Self {
            track,
            kind,
            timestamp: timestamp.value,
            data,
        }
    }
}

/// What a player's thread is asked to send.
#[derive(Debug, Clone)]
enum Delivery {
    Metadata(Arc<StreamMetadata>),
    Media(Media),
    /// The publisher left.
    End,
}

impl Delivery {
    /// Media that may be dropped for a slow player (not sequence headers).
    fn droppable(&self) -> bool {
        matches!(self, Delivery::Media(media) if media.kind != MediaKind::SequenceHeader)
    }

    fn size(&self) -> usize {
        match self {
            Delivery::Media(media) => media.data.len(),
            Delivery::Metadata(_) | Delivery::End => 256,
        }
    }
}

/// One stream name: its publisher, what it keeps for late players, and its
/// players.
#[derive(Default)]
struct Stream {
    publisher: Option<u64>,
    metadata: Option<Arc<StreamMetadata>>,
    video_header: Option<Media>,
    audio_header: Option<Media>,
    /// Messages since the latest video key frame, while `keeping`.
    gop: Vec<Media>,
    gop_bytes: usize,
    keeping: bool,
    /// The current publisher has sent video.
    has_video: bool,
    players: Vec<PlayerSlot>,
}

impl Stream {
    fn start_publishing(&mut self, conn: u64) {
        self.forget();
        self.publisher = Some(conn);
    }

    fn stop_publishing(&mut self) {
        self.forget();
        self.publisher = None;
    }

    fn forget(&mut self) {
        self.metadata = None;
        self.video_header = None;
        self.audio_header = None;
        self.has_video = false;
        self.clear_gop(false);
    }

    fn clear_gop(&mut self, keeping: bool) {
        self.gop.clear();
        self.gop_bytes = 0;
        self.keeping = keeping;
    }

    /// Updates the kept headers and GOP with a new message.
    fn remember(&mut self, media: &Media, max_gop_bytes: usize) {
        match (media.track, media.kind) {
            (Track::Video, MediaKind::SequenceHeader) => {
                // Frames coded with the old parameters are of no use to a
                // player that gets the new ones.
                self.video_header = Some(media.clone());
                self.has_video = true;
                self.clear_gop(false);
                return;
            }
            (Track::Audio, MediaKind::SequenceHeader) => {
                self.audio_header = Some(media.clone());
                return;
            }
            (Track::Video, MediaKind::KeyFrame) => {
                self.has_video = true;
                self.clear_gop(true);
            }
            (Track::Video, _) => self.has_video = true,
            (Track::Audio, _) => {}
        }
        if !self.keeping {
            return;
        }
        self.gop_bytes += media.data.len();
        if self.gop_bytes > max_gop_bytes {
            debug!("GOP over max_gop_bytes ({max_gop_bytes}): not kept until the next key frame");
            self.clear_gop(false);
            return;
        }
        self.gop.push(media.clone());
    }

    /// Where a player that lost frames may pick up again.
    fn is_resume_point(&self, media: &Media) -> bool {
        match media.track {
            Track::Video => media.kind == MediaKind::KeyFrame,
            Track::Audio => !self.has_video && media.kind == MediaKind::AudioFrame,
        }
    }

    /// Fills a new player's queue with what a late joiner needs first.
    fn prime(&self, queue: &PlayerQueue) {
        if self.publisher.is_none() {
            return;
        }
        if let Some(metadata) = &self.metadata {
            queue.push(Delivery::Metadata(Arc::clone(metadata)), false);
        }
        for header in [&self.video_header, &self.audio_header]
            .into_iter()
            .flatten()
        {
            queue.push(Delivery::Media(header.clone()), false);
        }
        for (index, media) in self.gop.iter().enumerate() {
            queue.push(Delivery::Media(media.clone()), index == 0);
        }
    }
}

/// A player attached to a stream.
struct PlayerSlot {
    conn: u64,
    queue: Arc<PlayerQueue>,
}

/// What connection threads wait on.
#[derive(Debug)]
enum ConnEvent {
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

/// A player's bounded queue, filled by the publisher's thread and drained by
/// the player's own thread.
struct PlayerQueue {
    label: String,
    state: Mutex<QueueState>,
    wake_pending: AtomicBool,
    waker: SyncSender<ConnEvent>,
    max_bytes: usize,
    max_messages: usize,
    /// A `_pureAudio` player: video is left out.
    audio_only: bool,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Delivery>,
    bytes: usize,
    /// Dropping frames until the next resume point.
    lagging: bool,
    /// Past the hard limit: the player is to be disconnected.
    overflowed: bool,
}

impl PlayerQueue {
    fn new(
        label: String,
        waker: SyncSender<ConnEvent>,
        max_bytes: usize,
        max_messages: usize,
        audio_only: bool,
    ) -> Self {
        Self {
            label,
            state: Mutex::new(QueueState::default()),
            wake_pending: AtomicBool::new(false),
            waker,
            max_bytes,
            max_messages,
            audio_only,
        }
    }

    /// Queues a delivery; `resume` marks a point where a lagging player may
    /// pick up again. Returns how many messages were lost: this one if it was
    /// dropped, plus the stale frames discarded to jump to live.
    fn push(&self, delivery: Delivery, resume: bool) -> u64 {
        let (delivery, resume) = if self.audio_only {
            match delivery {
                Delivery::Media(media) if media.track == Track::Video => return 0,
                // Every audio frame is a place to pick up again.
                Delivery::Media(media) => {
                    let resume = media.kind == MediaKind::AudioFrame;
                    (Delivery::Media(media), resume)
                }
                Delivery::Metadata(metadata) => (
                    Delivery::Metadata(Arc::new(without_video(&metadata))),
                    resume,
                ),
                Delivery::End => (Delivery::End, resume),
            }
        } else {
            (delivery, resume)
        };
        let (wake, dropped) = self.enqueue(delivery, resume);
        if wake && !self.wake_pending.swap(true, Ordering::SeqCst) {
            // Full: the thread has events waiting and drains after each.
            // Disconnected: the player is leaving.
            let _ = self.waker.try_send(ConnEvent::Wake);
        }
        dropped
    }

    /// Returns whether the player's thread has something new to see, and
    /// how many messages were lost.
    fn enqueue(&self, delivery: Delivery, resume: bool) -> (bool, u64) {
        let mut state = lock(&self.state);
        if state.overflowed {
            return (false, u64::from(delivery.droppable()));
        }
        let size = delivery.size();
        let full = state.bytes + size > self.max_bytes || state.items.len() >= self.max_messages;
        let mut dropped = 0;
        if delivery.droppable() {
            if state.lagging || full {
                if !resume {
                    if !state.lagging {
                        warn!(
                            "{} is falling behind: dropping frames until the next key frame",
                            self.label
                        );
                        state.lagging = true;
                    }
                    return (false, 1);
                }
                // Jump to live: stale frames go, headers and notices stay.
                let before = state.items.len();
                state.items.retain(|item| !item.droppable());
                dropped = (before - state.items.len()) as u64;
                state.bytes = state.items.iter().map(Delivery::size).sum();
                if state.lagging {
                    info!("{} picks up again at a key frame", self.label);
                }
                state.lagging = false;
            }
        } else if state.bytes + size > self.max_bytes.saturating_mul(2)
            || state.items.len() >= self.max_messages.saturating_mul(2)
        {
            warn!("{} has too much undelivered; disconnecting it", self.label);
            state.overflowed = true;
            state.items.clear();
            state.bytes = 0;
            return (true, 0);
        }
        state.bytes += size;
        state.items.push_back(delivery);
        (true, dropped)
    }

    /// Everything queued, and whether the queue overflowed.
    fn take(&self) -> (VecDeque<Delivery>, bool) {
        self.wake_pending.store(false, Ordering::SeqCst);
        let mut state = lock(&self.state);
        state.bytes = 0;
        (mem::take(&mut state.items), state.overflowed)
    }
}

/// Metadata with the video fields cleared, for `_pureAudio` players.
fn without_video(metadata: &StreamMetadata) -> StreamMetadata {
    let mut audio = metadata.clone();
    audio.video_width = None;
    audio.video_height = None;
    audio.video_codec_id = None;
    audio.video_frame_rate = None;
    audio.video_bitrate_kbps = None;
    audio
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

fn run_connection(shared: Arc<Shared>, id: u64, socket: TcpStream, peer: SocketAddr) {
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
                    self.shared.relay_metadata(self.id, name, metadata);
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
            self.shared.decide(self.id, role, app, requested)
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
        let results = self.session()?.accept_request(request_id)?;
        self.handle_results(results)?;
        let config = &self.shared.config;
        let queue = Arc::new(PlayerQueue::new(
            format!("player {} of {name}", self.id),
            self.waker.clone(),
            config.queue_bytes(),
            QUEUE_MESSAGES,
            audio_only,
        ));
        self.shared.add_player(self.id, &name, &queue);
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
            self.shared.end_publishing(self.id, &name);
        }
    }

    fn stop_playing(&mut self) {
        if let Some(playback) = self.playing.take() {
            self.shared.remove_player(self.id, &playback.name);
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
        let mut relayed = 0;
        for delivery in batch {
            let packet = match delivery {
                Delivery::Metadata(metadata) => session.send_metadata(stream_id, &metadata)?,
                Delivery::Media(media) => {
                    relayed += 1;
                    let timestamp = RtmpTimestamp::new(media.timestamp);
                    match media.track {
                        Track::Video => {
                            session.send_video_data(stream_id, media.data, timestamp, false)?
                        }
                        Track::Audio => {
                            session.send_audio_data(stream_id, media.data, timestamp, false)?
                        }
                    }
                }
                Delivery::End => {
                    // rml_rtmp marks the stream completed and can say so
                    // only once per play request.
                    if playback.complete_sent {
                        continue;
                    }
                    playback.complete_sent = true;
                    session.finish_playing(stream_id)?
                }
            };
            self.out.extend_from_slice(&packet.bytes);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn media(track: Track, first: u8, second: u8, len: usize, timestamp: u32) -> Media {
        let mut data = vec![0; len.max(2)];
        data[0] = first;
        data[1] = second;
        Media::new(track, RtmpTimestamp::new(timestamp), Bytes::from(data))
    }

    fn video_header() -> Media {
        media(Track::Video, 0x17, 0, 16, 0)
    }

    fn key(timestamp: u32, len: usize) -> Media {
        media(Track::Video, 0x17, 1, len, timestamp)
    }

    fn inter(timestamp: u32, len: usize) -> Media {
        media(Track::Video, 0x27, 1, len, timestamp)
    }

    fn audio(timestamp: u32) -> Media {
        media(Track::Audio, 0xaf, 1, 32, timestamp)
    }

    fn audio_header() -> Media {
        media(Track::Audio, 0xaf, 0, 4, 0)
    }

    fn queue(max_bytes: usize) -> (PlayerQueue, Receiver<ConnEvent>) {
        let (sender, receiver) = mpsc::sync_channel(4);
        (
            PlayerQueue::new("test player".into(), sender, max_bytes, 64, false),
            receiver,
        )
    }

    fn timestamps(items: &VecDeque<Delivery>) -> Vec<(MediaKind, u32)> {
        items
            .iter()
            .filter_map(|item| match item {
                Delivery::Media(media) => Some((media.kind, media.timestamp)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stream_names_drop_the_query() {
        assert_eq!(
            stream_name("live", "room1?txSecret=ab&txTime=5F").as_deref(),
            Some("live/room1")
        );
        assert_eq!(stream_name("live/", "test").as_deref(), Some("live/test"));
        assert_eq!(stream_name("live", "?x=1"), None);
        assert_eq!(stream_name("live", ""), None);
        assert_eq!(stream_name("", "test"), None);
    }

    #[test]
    fn config_defaults_and_validation() {
        let config = ServerConfig::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:0");
        assert_eq!(config.max_connections, 64);
        assert_eq!(config.chunk_size, 4096);
        assert_eq!(ServerConfig::loopback(1935).bind.port(), 1935);
        assert!(config.validate().is_ok());
        let bad_chunk = ServerConfig {
            chunk_size: 0,
            ..ServerConfig::default()
        };
        assert!(matches!(bad_chunk.validate(), Err(ServerError::Config(_))));
        let bad_idle = ServerConfig {
            idle_timeout: Duration::ZERO,
            ..ServerConfig::default()
        };
        assert!(matches!(bad_idle.validate(), Err(ServerError::Config(_))));
    }

    #[test]
    fn the_gop_restarts_at_each_key_frame_and_is_bounded() {
        let mut stream = Stream::default();
        stream.start_publishing(1);
        stream.remember(&video_header(), 1000);
        stream.remember(&audio_header(), 1000);
        // Frames before the first key frame are not kept.
        stream.remember(&inter(0, 10), 1000);
        assert!(stream.gop.is_empty());
        stream.remember(&key(40, 100), 1000);
        stream.remember(&audio(50), 1000);
        stream.remember(&inter(80, 10), 1000);
        assert_eq!(stream.gop.len(), 3);
        stream.remember(&key(120, 100), 1000);
        assert_eq!(stream.gop.len(), 1);
        assert_eq!(stream.gop[0].timestamp, 120);
        // Past the cap nothing is kept until the next key frame.
        stream.remember(&inter(160, 2000), 1000);
        assert!(stream.gop.is_empty());
        stream.remember(&inter(200, 10), 1000);
        assert!(stream.gop.is_empty());
        stream.remember(&key(240, 100), 1000);
        assert_eq!(stream.gop.len(), 1);

        let (player, _wake) = queue(1 << 20);
        stream.prime(&player);
        let (items, _) = player.take();
        assert_eq!(
            timestamps(&items),
            vec![
                (MediaKind::SequenceHeader, 0),
                (MediaKind::SequenceHeader, 0),
                (MediaKind::KeyFrame, 240)
            ]
        );

        // Once the publisher leaves, a new player gets nothing stale.
        stream.stop_publishing();
        let (player, _wake) = queue(1 << 20);
        stream.prime(&player);
        assert!(player.take().0.is_empty());
    }

    #[test]
    fn a_slow_player_skips_to_the_next_key_frame() {
        let (player, wake) = queue(1000);
        assert_eq!(player.push(Delivery::Media(video_header()), false), 0);
        assert_eq!(player.push(Delivery::Media(key(0, 400)), true), 0);
        assert_eq!(player.push(Delivery::Media(inter(40, 400)), false), 0);
        // Over the cap: dropped, and so is everything until a key frame...
        assert_eq!(player.push(Delivery::Media(inter(80, 400)), false), 1);
        assert_eq!(player.push(Delivery::Media(inter(120, 10)), false), 1);
        assert_eq!(player.push(Delivery::Media(audio(130)), false), 1);
        // ...but never a sequence header or the end notice.
        assert_eq!(player.push(Delivery::Media(video_header()), false), 0);
        assert_eq!(player.push(Delivery::End, false), 0);
        // The key frame replaces the two stale frames.
        assert_eq!(player.push(Delivery::Media(key(160, 400)), true), 2);
        assert_eq!(player.push(Delivery::Media(inter(200, 10)), false), 0);
        let (items, overflowed) = player.take();
        assert!(!overflowed);
        assert_eq!(
            timestamps(&items),
            vec![
                (MediaKind::SequenceHeader, 0),
                (MediaKind::SequenceHeader, 0),
                (MediaKind::KeyFrame, 160),
                (MediaKind::InterFrame, 200)
            ]
        );
        assert!(matches!(items[2], Delivery::End));
        // One wake-up was sent for the whole burst.
        assert!(matches!(wake.try_recv(), Ok(ConnEvent::Wake)));
        assert!(wake.try_recv().is_err());
    }

    #[test]
    fn pure_audio_players_get_the_sound_alone() {
        assert_eq!(
            pure_audio_variant("room_pureAudio?txTime=1"),
            ("room?txTime=1".to_string(), true)
        );
        assert_eq!(pure_audio_variant("room"), ("room".to_string(), false));
        assert_eq!(
            pure_audio_variant("_pureAudio"),
            ("_pureAudio".to_string(), false)
        );
        let (sender, _receiver) = mpsc::sync_channel(4);
        let player = PlayerQueue::new("audio player".into(), sender, 1 << 20, 64, true);
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(720);
        metadata.audio_sample_rate = Some(48_000);
        player.push(Delivery::Metadata(Arc::new(metadata)), false);
        player.push(Delivery::Media(video_header()), false);
        player.push(Delivery::Media(audio_header()), false);
        player.push(Delivery::Media(key(0, 100)), true);
        player.push(Delivery::Media(audio(10)), false);
        let (items, _) = player.take();
        assert_eq!(items.len(), 3);
        match &items[0] {
            Delivery::Metadata(metadata) => {
                assert_eq!(metadata.video_width, None);
                assert_eq!(metadata.audio_sample_rate, Some(48_000));
            }
            _ => panic!("metadata first"),
        }
        assert!(items
            .iter()
            .all(|item| !matches!(item, Delivery::Media(m) if m.track == Track::Video)));
    }

    #[test]
    fn audio_only_streams_resume_on_audio() {
        let mut stream = Stream::default();
        stream.start_publishing(1);
        stream.remember(&audio_header(), 1000);
        assert!(stream.is_resume_point(&audio(0)));
        stream.remember(&key(0, 10), 1000);
        assert!(!stream.is_resume_point(&audio(10)));
        assert!(stream.is_resume_point(&key(40, 10)));
    }

    #[test]
    fn an_overflowing_player_is_flagged() {
        let (player, wake) = queue(100);
        for _ in 0..200 {
            player.push(Delivery::Media(video_header()), false);
        }
        assert!(matches!(wake.try_recv(), Ok(ConnEvent::Wake)));
        assert!(player.take().1);
        assert_eq!(player.push(Delivery::Media(inter(0, 10)), false), 1);
    }

    #[test]
    fn a_second_publisher_of_a_name_is_refused() {
        let shared = Shared::new(ServerConfig::default());
        assert_eq!(
            shared.decide(1, Role::Publish, "live", "a?k=1"),
            Ok("live/a".to_string())
        );
        let refusal = shared.decide(2, Role::Publish, "live", "a").unwrap_err();
        assert_eq!(refusal.code, "NetStream.Publish.BadName");
        assert!(refusal.description.contains("in use"));
        assert!(shared.decide(3, Role::Play, "live", "a").is_ok());
        shared.end_publishing(1, "live/a");
        assert!(shared.decide(2, Role::Publish, "live", "a").is_ok());
    }
}
