//! The embedded RTMP server: the zero-setup default the pusher publishes to
//! and the player plays from.
//!
//! [`RtmpServer::start`] binds a TCP listener (loopback, any free port by
//! default) and returns at once; an accept thread hands every connection to
//! its own connection thread, which owns that connection's `rml_rtmp`
//! [`ServerSession`](rml_rtmp::sessions::ServerSession) (it is not `Sync`). A second, small thread per
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
//! players get what nginx-rtmp sends its players (the `StreamEOF` user
//! control event and `NetStream.Play.UnpublishNotify`), then
//! `NetStream.Play.Complete`, and stay connected; a new publisher of the
//! same name sends them `StreamBegin` and feeds them again, starting with its
//! own sequence headers.
//! Media timestamps are relayed as received; the metadata (`onMetaData`
//! from the publisher's `@setDataFrame`) is kept, goes to each player
//! before the media at timestamp 0 with its keys in a fixed order, and a
//! resent copy is relayed only when it changed. Other data messages of
//! the publisher are not relayed. Playing `<stream>_pureAudio` gets
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
//!
//! With [`ServerConfig::http_bind`] set, the server also listens for HTTP
//! on a port of its own: HTTP-FLV (`/APP/STREAM.flv`, `_pureAudio.flv`)
//! from the same registry, GOP cache and player queues as RTMP players,
//! HLS in fMP4 segments (`/APP/STREAM.m3u8`, `_pureAudio.m3u8`) cut from
//! the same media as it fans out, and the operator's `/api/streams` and
//! `/` (see `http.rs`).
//!
//! The rooms, one concern each: this file holds the configuration, the
//! handle, the accept loop and the state every thread shares;
//! `registry.rs` the stream names, their publishers and players, and the
//! admission of requests; `gop_cache.rs` what a stream keeps for late
//! players; `player_queue.rs` each player's bounded queue (back-pressure);
//! `connection.rs` a connection's thread and state machine (handshake,
//! session, publishing or playing); `http.rs` the HTTP listener, its
//! limits and routes; `http_flv.rs` an HTTP-FLV viewer's task; `hls.rs`
//! a publication's HLS packager (segments, playlist); `http_hls.rs` the
//! HLS routes and responses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, ErrorKind};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use log::{info, warn};
use rml_rtmp::time::RtmpTimestamp;
use thiserror::Error;

use super::chunk::InboundLimits;
use super::MediaKind;

mod connection;
mod gop_cache;
mod hls;
mod http;
mod http_flv;
mod http_fmp4;
mod http_hls;
mod http_live;
mod outbound;
mod pages;
mod player_queue;
mod registry;

pub use http::{MAX_HEADERS, MAX_HEAD_BYTES};
pub use registry::{AudioInfo, LiveStream, VideoInfo, Viewers, PURE_AUDIO_SUFFIX};

use connection::run_connection;
use http::HttpServer;
use player_queue::MIN_QUEUE_BYTES;
use registry::Registry;

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
    /// Where to listen for HTTP (HTTP-FLV, `/api/streams`, `/`), on a port
    /// of its own; `None` (the default): no HTTP. Port 0 takes any free
    /// port (read it back with [`RtmpServer::http_addr`]).
    pub http_bind: Option<SocketAddr>,
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
            http_bind: None,
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
    /// HTTP connections open now.
    pub http_connections: usize,
    /// HTTP connections closed at once because `max_connections` were open.
    pub http_connections_refused: u64,
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
    http: Option<HttpServer>,
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
        // HTTP first: if it cannot bind, nothing is left running.
        let http = shared
            .config
            .http_bind
            .map(|bind| HttpServer::start(Arc::clone(&shared), bind, local_addr))
            .transpose()?;
        let accept_thread = thread::Builder::new()
            .name(format!("rtmp-accept-{}", local_addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        info!("embedded RTMP server listening on {local_addr}");
        Ok(RtmpServer {
            shared,
            local_addr,
            accept_thread: Some(accept_thread),
            http,
        })
    }

    /// The address the HTTP listener is bound to, when
    /// [`ServerConfig::http_bind`] asked for one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::local_addr)
    }

    /// The HTTP-FLV URL of stream `stream` in application `app`, e.g.
    /// `http://127.0.0.1:PORT/live/room1.flv`, when HTTP is on.
    pub fn flv_url(&self, app: &str, stream: &str) -> Option<String> {
        self.http_url(app, stream, "flv")
    }

    /// `http://HOST:PORT/APP/STREAM.EXTENSION` on this server, when HTTP is
    /// on: `flv` (HTTP-FLV), `m3u8` (HLS) or `html` (the watch page).
    pub fn http_url(&self, app: &str, stream: &str, extension: &str) -> Option<String> {
        self.http_addr()
            .map(|addr| format!("http://{}/{app}/{stream}.{extension}", reachable(addr)))
    }

    /// The HLS playlist URL of stream `stream` in application `app`, e.g.
    /// `http://127.0.0.1:PORT/live/room1.m3u8`, when HTTP is on.
    pub fn hls_url(&self, app: &str, stream: &str) -> Option<String> {
        self.http_addr()
            .map(|addr| format!("http://{}/{app}/{stream}.m3u8", reachable(addr)))
    }

    /// The streams being published now, as `/api/streams` shows them.
    pub fn live_streams(&self) -> Vec<LiveStream> {
        self.shared.registry.live_streams()
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
        let (publishing, players) = shared.registry.census();
        ServerStats {
            connections: shared.open.load(Ordering::SeqCst),
            publishing,
            players,
            messages_relayed: shared.relayed.load(Ordering::Relaxed),
            frames_dropped: shared.dropped.load(Ordering::Relaxed),
            connections_refused: shared.refused.load(Ordering::Relaxed),
            http_connections: self.http.as_ref().map_or(0, HttpServer::connections),
            http_connections_refused: self.http.as_ref().map_or(0, HttpServer::refused),
        }
    }

    /// Stops accepting, closes every connection and joins all threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut http) = self.http.take() {
            http.stop();
        }
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
    registry: Registry,
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
            registry: Registry::default(),
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

    /// Passes a media message from the publisher `conn` of `name` on, and
    /// counts what slow players lost.
    fn relay_media(&self, conn: u64, name: &str, media: Media) {
        let dropped = self
            .registry
            .relay_media(conn, name, media, self.config.max_gop_bytes);
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

/// Media and queues for the unit tests of the server's modules.
#[cfg(test)]
mod testing {
    use std::collections::VecDeque;
    use std::sync::mpsc::{self, Receiver};

    use super::connection::ConnEvent;
    use super::player_queue::{Delivery, PlayerQueue, Waker};
    use super::*;

    pub(super) fn media(track: Track, first: u8, second: u8, len: usize, timestamp: u32) -> Media {
        let mut data = vec![0; len.max(2)];
        data[0] = first;
        data[1] = second;
        Media::new(track, RtmpTimestamp::new(timestamp), Bytes::from(data))
    }

    pub(super) fn video_header() -> Media {
        media(Track::Video, 0x17, 0, 16, 0)
    }

    pub(super) fn key(timestamp: u32, len: usize) -> Media {
        media(Track::Video, 0x17, 1, len, timestamp)
    }

    pub(super) fn inter(timestamp: u32, len: usize) -> Media {
        media(Track::Video, 0x27, 1, len, timestamp)
    }

    pub(super) fn audio(timestamp: u32) -> Media {
        media(Track::Audio, 0xaf, 1, 32, timestamp)
    }

    pub(super) fn audio_header() -> Media {
        media(Track::Audio, 0xaf, 0, 4, 0)
    }

    pub(super) fn queue(max_bytes: usize) -> (PlayerQueue, Receiver<ConnEvent>) {
        let (sender, receiver) = mpsc::sync_channel(4);
        (
            PlayerQueue::new(
                "test player".into(),
                Waker::Connection(sender),
                max_bytes,
                64,
                false,
            ),
            receiver,
        )
    }

    pub(super) fn timestamps(items: &VecDeque<Delivery>) -> Vec<(MediaKind, u32)> {
        items
            .iter()
            .filter_map(|item| match item {
                Delivery::Media(media) => Some((media.kind, media.timestamp)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
