//! The embedded server's HTTP listener: HTTP-FLV live streams and the
//! operator's pages, on a port of its own ([`ServerConfig::http_bind`]).
//!
//! Built on `hyper` (HTTP/1.1, no hand-written parsing) on a small tokio
//! runtime (two worker threads) that the server owns; the rest of the
//! server stays on std threads. Routes, all `GET` or `HEAD` (other methods
//! get 405):
//!
//! * `/APP/STREAM.flv`: the live stream as FLV (see [`super::http_flv`]);
//!   `/APP/STREAM_pureAudio.flv`: its sound alone. With an anti-leech key
//!   the query must carry a valid `txSecret`/`txTime` (403 otherwise, the
//!   reason in the body).
//! * `/APP/STREAM.m3u8`, `/APP/STREAM_pureAudio.m3u8` and their init and
//!   media segments: HLS in fMP4 (see [`super::http_hls`]), under the same
//!   anti-leech check.
//! * `/api/streams`: JSON, one object per live stream
//!   ([`LiveStream`](super::LiveStream)).
//! * `/`: a small HTML page listing live streams and their play URLs.
//!
//! Anything else is 404; nothing is served from the file system. Limits:
//! connections past [`ServerConfig::max_connections`] (counted apart from
//! RTMP's) are closed once accepted; a request head must fit in
//! [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] headers and arrive within the
//! idle timeout; a viewer that takes nothing for the idle timeout is
//! dropped.
//!
//! [`ServerConfig::http_bind`]: super::ServerConfig::http_bind
//! [`ServerConfig::max_connections`]: super::ServerConfig::max_connections

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use log::{debug, info, warn};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

use super::http_flv::FlvFormat;
use super::http_fmp4::Fmp4Format;
use super::http_hls::{self, HlsPart};
use super::http_live;
use super::pages::{index_page, watch_page, PlayHosts};
use super::registry::{Role, PURE_AUDIO_SUFFIX};
use super::{reachable, ServerError, Shared};

/// Largest request head (request line and headers) hyper buffers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// Worker threads of the HTTP runtime.
const WORKERS: usize = 2;

/// A response body: a whole page or a live FLV stream.
pub(super) type Body = BoxBody<Bytes, Infallible>;

/// The running HTTP listener; dropping it stops it.
pub(super) struct HttpServer {
    local_addr: SocketAddr,
    state: Arc<HttpState>,
    runtime: Option<Runtime>,
}

/// What every HTTP connection shares.
pub(super) struct HttpState {
    pub(super) shared: Arc<Shared>,
    rtmp_addr: SocketAddr,
    http_addr: SocketAddr,
    open: AtomicUsize,
    refused: AtomicU64,
}

impl HttpServer {
    /// Binds `bind` and starts serving; returns at once.
    pub(super) fn start(
        shared: Arc<Shared>,
        bind: SocketAddr,
        rtmp_addr: SocketAddr,
    ) -> Result<Self, ServerError> {
        let listener =
            StdListener::bind(bind).map_err(|source| ServerError::Bind { addr: bind, source })?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name(format!("http-{}", local_addr.port()))
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let state = Arc::new(HttpState {
            shared,
            rtmp_addr,
            http_addr: local_addr,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        });
        runtime.spawn(accept_loop(listener, Arc::clone(&state)));
        info!("embedded HTTP server listening on {local_addr}");
        Ok(Self {
            local_addr,
            state,
            runtime: Some(runtime),
        })
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// HTTP connections open now.
    pub(super) fn connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// HTTP connections refused past the cap.
    pub(super) fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }

    /// Stops the listener and drops every connection (viewers leave the
    /// registry as their tasks are dropped).
    pub(super) fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
            info!("embedded HTTP server on {} stopped", self.local_addr);
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Releases a connection's place in the count however its task ends.
struct OpenSlot(Arc<HttpState>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<HttpState>) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // E.g. out of file descriptors: do not spin on it.
                warn!("HTTP accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let max = state.shared.config.max_connections;
        let open = state.open.load(Ordering::SeqCst);
        if open >= max {
            state.refused.fetch_add(1, Ordering::Relaxed);
            warn!("refusing HTTP connection from {peer}: {open} open (max_connections {max})");
            drop(socket);
            continue;
        }
        state.open.fetch_add(1, Ordering::SeqCst);
        let slot = OpenSlot(Arc::clone(&state));
        let _ = socket.set_nodelay(true);
        tokio::spawn(serve_connection(socket, peer, slot));
    }
}

async fn serve_connection(socket: tokio::net::TcpStream, peer: SocketAddr, slot: OpenSlot) {
    let state = Arc::clone(&slot.0);
    // A viewer task that gives up on a stalled client fires this: the
    // connection is dropped, whatever hyper is waiting for.
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = Arc::clone(&kill);
        service_fn(move |request: Request<Incoming>| {
            let state = Arc::clone(&state);
            let kill = Arc::clone(&kill);
            async move { Ok::<_, Infallible>(respond(&state, peer, &request, kill)) }
        })
    };
    let idle = slot.0.shared.config.idle_timeout;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(socket), service);
    tokio::select! {
        outcome = connection => {
            if let Err(error) = outcome {
                debug!("HTTP connection from {peer} ended: {error}");
            }
        }
        () = kill.notified() => debug!("HTTP connection from {peer} dropped (stalled viewer)"),
    }
    drop(slot);
}

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// `/`.
    Index,
    /// `/api/streams`.
    Streams,
    /// A live stream in one response: `/APP/STREAM.flv` (HTTP-FLV) or
    /// `/APP/STREAM.mp4` (live fragmented MP4), `STREAM_pureAudio` for the
    /// sound alone.
    Live {
        /// The application.
        app: String,
        /// The stream (without `_pureAudio`).
        stream: String,
        /// The sound alone.
        audio_only: bool,
        /// FLV or fMP4.
        format: LiveKind,
    },
    /// `/APP/STREAM.html`: the watch page.
    Watch {
        /// The application.
        app: String,
        /// The stream.
        stream: String,
    },
    /// An HLS playlist, init or media segment: `/APP/STREAM.m3u8`,
    /// `/APP/STREAM/EPOCH/init-V.mp4`, `/APP/STREAM/EPOCH/SEQ.m4s` (STREAM
    /// with `_pureAudio` for the sound alone; see [`super::http_hls`]).
    Hls {
        /// The application.
        app: String,
        /// The stream (without `_pureAudio`).
        stream: String,
        /// The sound alone.
        audio_only: bool,
        /// Which file.
        part: HlsPart,
    },
    /// Anything else.
    NotFound,
}

/// The container of a live response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LiveKind {
    /// HTTP-FLV.
    Flv,
    /// Fragmented MP4, for Media Source Extensions.
    Mp4,
}

/// A name the HTTP routes accept: letters, digits, `-`, `_`, `.`, not
/// starting with a dot.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Maps a request path (without its query) to a route.
pub(super) fn route(path: &str) -> Route {
    match path {
        "/" => return Route::Index,
        "/api/streams" => return Route::Streams,
        _ => {}
    }
    if let Some(route) = hls_route(path) {
        return route;
    }
    let Some((app, file)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/')) else {
        return Route::NotFound;
    };
    if let Some(stream) = file.strip_suffix(".html") {
        if !plain_name(app) || !plain_name(stream) {
            return Route::NotFound;
        }
        return Route::Watch {
            app: app.to_string(),
            stream: stream.to_string(),
        };
    }
    let (stream, format) = if let Some(stream) = file.strip_suffix(".flv") {
        (stream, LiveKind::Flv)
    } else if let Some(stream) = file.strip_suffix(".mp4") {
        (stream, LiveKind::Mp4)
    } else {
        return Route::NotFound;
    };
    if !plain_name(app) || !plain_name(stream) {
        return Route::NotFound;
    }
    let (stream, audio_only) = match stream.strip_suffix(PURE_AUDIO_SUFFIX) {
        Some(base) if plain_name(base) => (base, true),
        _ => (stream, false),
    };
    Route::Live {
        app: app.to_string(),
        stream: stream.to_string(),
        audio_only,
        format,
    }
}

/// The HLS route of `path`, if it is one.
fn hls_route(path: &str) -> Option<Route> {
    let (app, stream, part) = http_hls::parse_path(path)?;
    if !plain_name(app) || !plain_name(stream) {
        return None;
    }
    let (stream, audio_only) = match stream.strip_suffix(PURE_AUDIO_SUFFIX) {
        Some(base) if plain_name(base) => (base, true),
        _ => (stream, false),
    };
    Some(Route::Hls {
        app: app.to_string(),
        stream: stream.to_string(),
        audio_only,
        part,
    })
}

fn page(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A plain-text answer (errors and refusals), never cached.
pub(super) fn text(status: StatusCode, body: String) -> Response<Body> {
    page(status, "text/plain; charset=utf-8", body)
}

/// Admits a play request of `app/stream` over HTTP as an RTMP play is
/// admitted: a valid name and, with an anti-leech key, a valid signature
/// of the base stream name in `query`. The viewer's id and the stream's
/// registry name, or the 403 answer with the reason.
pub(super) fn admit(
    state: &HttpState,
    peer: SocketAddr,
    path: &str,
    app: &str,
    stream: &str,
    query: Option<&str>,
) -> Result<(u64, String), Response<Body>> {
    let shared = &state.shared;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let requested = match query {
        Some(query) => format!("{stream}?{query}"),
        None => stream.to_string(),
    };
    let key = shared.config.anti_leech_key.as_deref();
    match shared.registry.decide(id, Role::Play, app, &requested, key) {
        Ok(name) => Ok((id, name)),
        Err(refusal) => {
            warn!(
                "HTTP viewer {peer}: refusing {path}: {}",
                refusal.description
            );
            Err(text(
                StatusCode::FORBIDDEN,
                format!("403 forbidden: {}\n", refusal.description),
            ))
        }
    }
}

fn respond<B>(
    state: &Arc<HttpState>,
    peer: SocketAddr,
    request: &Request<B>,
    kill: Arc<Notify>,
) -> Response<Body> {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("405 method not allowed: {method} (GET and HEAD only)\n"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path();
    match route(path) {
        Route::NotFound => text(StatusCode::NOT_FOUND, format!("404 not found: {path}\n")),
        Route::Streams => {
            let streams = state.shared.registry.live_streams();
            match serde_json::to_vec(&serde_json::json!({ "streams": streams })) {
                Ok(json) => page(StatusCode::OK, "application/json", json),
                Err(error) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("500 cannot list the streams: {error}\n"),
                ),
            }
        }
        Route::Index => {
            let host = request
                .headers()
                .get(HOST)
                .and_then(|host| host.to_str().ok());
            let streams = state.shared.registry.live_streams();
            page(
                StatusCode::OK,
                "text/html; charset=utf-8",
                index_page(&streams, &state.play_hosts(host)),
            )
        }
        Route::Watch { app, stream } => {
            // The page is guarded as the stream is: a signed page plays.
            if let Err(refused) = admit(state, peer, path, &app, &stream, request.uri().query()) {
                return refused;
            }
            page(
                StatusCode::OK,
                "text/html; charset=utf-8",
                watch_page(&app, &stream),
            )
        }
        Route::Live {
            app,
            stream,
            audio_only,
            format,
        } => {
            let (id, name) = match admit(state, peer, path, &app, &stream, request.uri().query()) {
                Ok(admitted) => admitted,
                Err(refused) => return refused,
            };
            let body = if method == Method::HEAD {
                Full::new(Bytes::new()).boxed()
            } else {
                info!(
                    "HTTP viewer {peer} plays {name}{} as {format:?}",
                    if audio_only { " (audio only)" } else { "" }
                );
                let shared = Arc::clone(&state.shared);
                match format {
                    LiveKind::Flv => {
                        let flv = FlvFormat::new(audio_only);
                        http_live::start(shared, id, name, audio_only, peer, kill, flv)
                    }
                    LiveKind::Mp4 => {
                        let mp4 = Fmp4Format::new(audio_only);
                        http_live::start(shared, id, name, audio_only, peer, kill, mp4)
                    }
                }
            };
            let content_type = match (format, audio_only) {
                (LiveKind::Flv, _) => "video/x-flv",
                (LiveKind::Mp4, false) => "video/mp4",
                (LiveKind::Mp4, true) => "audio/mp4",
            };
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Route::Hls {
            app,
            stream,
            audio_only,
            part,
        } => http_hls::respond(
            state,
            peer,
            method,
            path,
            request.uri().query(),
            &app,
            &stream,
            audio_only,
            part,
        ),
    }
}

impl HttpState {
    /// The RTMP and HTTP `host:port` for play URLs: the host the client
    /// used (its `Host` header, when plain), else the bound addresses.
    fn play_hosts(&self, host: Option<&str>) -> PlayHosts {
        let named = host
            .filter(|host| {
                host.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'))
            })
            .map(|host| match host.rsplit_once(':') {
                // `[::1]:8080` or `name:8080`: drop the port.
                Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
                _ => host,
            })
            .filter(|name| !name.is_empty());
        let rtmp = reachable(self.rtmp_addr);
        let http = reachable(self.http_addr);
        match named {
            Some(name) => PlayHosts {
                rtmp: format!("{name}:{}", rtmp.port()),
                http: format!("{name}:{}", http.port()),
            },
            None => PlayHosts {
                rtmp: rtmp.to_string(),
                http: http.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/"), Route::Index);
        assert_eq!(route("/api/streams"), Route::Streams);
        assert_eq!(
            route("/live/room1.flv"),
            Route::Live {
                app: "live".into(),
                stream: "room1".into(),
                audio_only: false,
                format: LiveKind::Flv,
            }
        );
        assert_eq!(
            route("/live/room1.html"),
            Route::Watch {
                app: "live".into(),
                stream: "room1".into(),
            }
        );
        assert_eq!(
            route("/live/room1_pureAudio.flv"),
            Route::Live {
                app: "live".into(),
                stream: "room1".into(),
                audio_only: true,
                format: LiveKind::Flv,
            }
        );
        assert_eq!(
            route("/live/room1_pureAudio.mp4"),
            Route::Live {
                app: "live".into(),
                stream: "room1".into(),
                audio_only: true,
                format: LiveKind::Mp4,
            }
        );
        assert_eq!(
            route("/live/room1_pureAudio.m3u8"),
            Route::Hls {
                app: "live".into(),
                stream: "room1".into(),
                audio_only: true,
                part: HlsPart::Playlist
            }
        );
        assert_eq!(
            route("/live/room1/1733547000123/12.m4s"),
            Route::Hls {
                app: "live".into(),
                stream: "room1".into(),
                audio_only: false,
                part: HlsPart::Segment {
                    epoch: 1733547000123,
                    sequence: 12
                }
            }
        );
        for path in [
            "",
            "/live",
            "/live/",
            "/live/room1",
            "/live/.flv",
            "/live/a/b.flv",
            "/../etc/passwd",
            "/live/../x.flv",
            "/live/%2e%2e.flv",
            "/live/a b.flv",
            "/api/streams/",
            "/index.html",
            "/live/.html",
            "/live/a/b.html",
            "/live/room1.ts",
            "/live/.m3u8",
            "/live/a b.m3u8",
            "/live/room1/1/../2.m4s",
            "/live/room1/1/2/3.m4s",
        ] {
            assert_eq!(route(path), Route::NotFound, "{path:?}");
        }
    }
}
