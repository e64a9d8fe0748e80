//! The player's HTTP-FLV input: `GET http://HOST[:PORT]/APP/STREAM.flv`
//! with `hyper`'s HTTP/1.1 client on a small single-thread tokio runtime,
//! the body read as FLV with the crate's [`FlvReader`] on a reader thread
//! that hands stream messages over a bounded channel (so a slow player
//! slows the TCP connection down, and nothing piles up).
//!
//! Failures map onto the RTMP client's [`PlayError`] so the play loop
//! treats both alike: a refused request (4xx, e.g. 403 with the
//! anti-leech reason) is [`PlayError::Rejected`] (not retried); a lost
//! connection, a server error or a silence longer than
//! [`PlayConfig::idle_timeout`] is retried per the reconnect policy. The
//! end of the body is the end of the stream (the publisher left).

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

use crate::events::{PlayCode, PlayEvent};
use crate::flv::{self, FlvError, FlvReader};
use crate::rtmp::play::{PlayConfig, PlayError, PlayMessage};

/// Messages that may wait for the player before the reader stops reading.
const MESSAGES_IN_FLIGHT: usize = 256;
/// Most bytes of an error response's body kept for the message.
const MAX_REASON_BYTES: usize = 1024;

/// A checked `http://HOST[:PORT]/PATH[?QUERY]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFlvUrl {
    uri: Uri,
    host: String,
    port: u16,
}

impl HttpFlvUrl {
    /// Parses and checks `text`: `http://` only (`https://` is refused),
    /// a host, a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            return Err(format!(
                "{text}: https:// is not supported; play http://HOST:PORT/APP/STREAM.flv or rtmp://…"
            ));
        }
        let uri: Uri = text
            .parse()
            .map_err(|error| format!("malformed HTTP URL {text:?}: {error}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "{text}: expected http://HOST[:PORT]/APP/STREAM.flv"
            ));
        }
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| format!("{text}: the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        if uri.path().len() <= 1 {
            return Err(format!("{text}: the URL has no stream path"));
        }
        Ok(Self { uri, host, port })
    }

    /// `host:port` as a socket address string.
    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for HttpFlvUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.uri.fmt(f)
    }
}

/// A playing HTTP-FLV connection.
/// An HTTP-FLV stream being read: the messages a [`PlayClient`] gives for
/// RTMP, from `GET http://HOST:PORT/APP/STREAM.flv`.
///
/// [`PlayClient`]: crate::rtmp::play::PlayClient
pub struct HttpFlvClient {
    messages: Receiver<Result<PlayMessage, PlayError>>,
}

impl HttpFlvClient {
    /// Connects, sends the request and checks the answer; then reads the
    /// stream on a thread of its own. Emits 2001 (connected) and 2002
    /// (stream begins) as it goes.
    pub fn connect(
        url: &HttpFlvUrl,
        config: &PlayConfig,
        on_event: &mut dyn FnMut(PlayEvent),
    ) -> Result<Self, PlayError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| PlayError::Spawn(Arc::new(error)))?;
        let address = url.address();
        let socket = runtime.block_on(async {
            let addresses: Vec<_> = tokio::net::lookup_host(&address)
                .await
                .map_err(|source| PlayError::Dns {
                    host: url.host.clone(),
                    source: Arc::new(source),
                })?
                .collect();
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for candidate in addresses {
                match tokio::time::timeout(
                    config.connect_timeout,
                    tokio::net::TcpStream::connect(candidate),
                )
                .await
                {
                    Ok(Ok(socket)) => return Ok(socket),
                    Ok(Err(error)) => last = error,
                    Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                }
            }
            Err(PlayError::Connect {
                address: address.clone(),
                source: Arc::new(last),
            })
        })?;
        let _ = socket.set_nodelay(true);
        on_event(PlayEvent::new(
            PlayCode::Connected,
            format!("connected to {address}"),
        ));
        let response = runtime.block_on(async {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(socket))
                    .await
                    .map_err(http_error)?;
            tokio::spawn(connection);
            let target = url
                .uri
                .path_and_query()
                .map_or("/", |path| path.as_str())
                .to_string();
            let mut request = Request::get(target)
                .body(Empty::<Bytes>::new())
                .map_err(|error| PlayError::Rejected(format!("cannot request {url}: {error}")))?;
            let host = HeaderValue::from_str(&address)
                .map_err(|error| PlayError::Rejected(format!("cannot request {url}: {error}")))?;
            request.headers_mut().insert(HOST, host);
            request
                .headers_mut()
                .insert(USER_AGENT, HeaderValue::from_static("liveroom"));
            tokio::time::timeout(config.response_timeout, sender.send_request(request))
                .await
                .map_err(|_| PlayError::Timeout(config.response_timeout, "waiting for the answer"))?
                .map_err(http_error)
        })?;
        let status = response.status();
        if status != StatusCode::OK {
            let reason = runtime.block_on(async {
                let body = tokio::time::timeout(
                    config.response_timeout,
                    http_body_util::Limited::new(response.into_body(), MAX_REASON_BYTES).collect(),
                )
                .await;
                match body {
                    Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
                        .trim()
                        .to_string(),
                    _ => String::new(),
                }
            });
            let message = format!("{url} answered {status}: {reason}");
            return Err(if status.is_client_error() {
                PlayError::Rejected(message)
            } else {
                PlayError::Io(Arc::new(io::Error::other(message)))
            });
        }
        on_event(PlayEvent::new(
            PlayCode::StreamBegins,
            format!("playing {}", url.uri.path()),
        ));
        let (sender, messages) = mpsc::sync_channel(MESSAGES_IN_FLIGHT);
        let body = BodyReader {
            runtime,
            body: response.into_body(),
            pending: Bytes::new(),
            idle: (!config.idle_timeout.is_zero()).then_some(config.idle_timeout),
        };
        let idle = config.idle_timeout;
        let max_tag = config
            .inbound
            .max_message_bytes
            .max(flv::DEFAULT_MAX_TAG_SIZE);
        thread::Builder::new()
            .name("http-flv-read".into())
            .spawn(move || read_stream(body, idle, max_tag, &sender))
            .map_err(|error| PlayError::Spawn(Arc::new(error)))?;
        Ok(Self { messages })
    }

    /// The next message, waiting up to `wait`; `Ok(None)` if none came.
    pub fn recv_timeout(&mut self, wait: Duration) -> Result<Option<PlayMessage>, PlayError> {
        match self.messages.recv_timeout(wait) {
            Ok(Ok(message)) => Ok(Some(message)),
            Ok(Err(error)) => Err(error),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                // After the end of the stream, nothing more comes.
                thread::sleep(wait);
                Ok(None)
            }
        }
    }
}

fn http_error(error: hyper::Error) -> PlayError {
    PlayError::Io(Arc::new(io::Error::other(error)))
}

/// The response body as a byte stream for [`FlvReader`].
struct BodyReader {
    runtime: Runtime,
    body: Incoming,
    pending: Bytes,
    idle: Option<Duration>,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            let frame = self.runtime.block_on(async {
                match self.idle {
                    Some(idle) => tokio::time::timeout(idle, self.body.frame())
                        .await
                        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data")),
                    None => Ok(self.body.frame().await),
                }
            })?;
            match frame {
                None => return Ok(0),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
                Some(Err(error)) => return Err(io::Error::other(error)),
            }
        }
        let count = out.len().min(self.pending.len());
        out[..count].copy_from_slice(&self.pending[..count]);
        self.pending.advance(count);
        Ok(count)
    }
}

/// Reads FLV tags until the body ends or fails, passing them on.
fn read_stream(
    body: BodyReader,
    idle: Duration,
    max_tag: u32,
    sender: &SyncSender<Result<PlayMessage, PlayError>>,
) {
    let failure = |error: FlvError| match error {
        FlvError::Io(error) if error.kind() == io::ErrorKind::TimedOut => PlayError::Idle(idle),
        FlvError::Io(error) => PlayError::Io(Arc::new(error)),
        other => PlayError::Io(Arc::new(io::Error::new(
            io::ErrorKind::InvalidData,
            other.to_string(),
        ))),
    };
    let mut reader = match FlvReader::new(body) {
        Ok(reader) => reader.with_max_tag_size(max_tag),
        Err(error) => {
            let _ = sender.send(Err(failure(error)));
            return;
        }
    };
    loop {
        let message = match reader.next_tag() {
            Ok(Some(tag)) => match super::input::play_message(tag) {
                Some(message) => message,
                None => continue,
            },
            Ok(None) => {
                let _ = sender.send(Ok(PlayMessage::StreamEnd));
                return;
            }
            Err(error) => {
                let _ = sender.send(Err(failure(error)));
                return;
            }
        };
        if sender.send(Ok(message)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = HttpFlvUrl::parse("http://127.0.0.1:8080/live/x.flv?txTime=1").expect("url");
        assert_eq!(url.address(), "127.0.0.1:8080");
        assert_eq!(
            url.uri.path_and_query().map(|p| p.as_str()),
            Some("/live/x.flv?txTime=1")
        );
        assert_eq!(
            HttpFlvUrl::parse("http://[::1]/live/x.flv")
                .expect("url")
                .address(),
            "[::1]:80"
        );
        let https = HttpFlvUrl::parse("https://host/live/x.flv").expect_err("refused");
        assert!(https.contains("https:// is not supported"), "{https}");
        assert!(HttpFlvUrl::parse("http://host").is_err());
        assert!(HttpFlvUrl::parse("http:///x.flv").is_err());
    }
}
