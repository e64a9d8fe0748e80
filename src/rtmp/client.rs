//! What the two RTMP clients share: the publishing client
//! ([`super::publisher`]) and the playing client ([`super::play`]).
//!
//! One error type, [`ClientError`], with the plugin's codes for either side
//! ([`ClientError::push_code`], [`ClientError::play_code`]); opening the
//! socket (DNS, TCP connect with a timeout, socket options); the client side
//! of the handshake; feeding server bytes to rml_rtmp's session without
//! letting its panics through; and telling when an event is the server
//! refusing us.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};
use thiserror::Error;

use super::chunk::ChunkError;
use super::RtmpUrl;
use crate::events::{PlayCode, PushCode};

/// Why an RTMP client (publishing or playing) could not start or stopped.
///
/// The causes are kept ([`std::error::Error::source`]), shared behind an
/// `Arc` so that the error stays `Clone` (the connection thread keeps its
/// failure and hands out copies): downcast a source to `Arc<io::Error>`,
/// or take the I/O error with [`ClientError::io_error`]. The message of
/// each variant repeats its cause's, since events and logs show the message
/// alone.
#[derive(Debug, Error, Clone)]
pub enum ClientError {
    /// The host name did not resolve (3001).
    #[error("cannot resolve {host}: {source}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The TCP connection failed (3002).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The last address's socket error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The RTMP handshake failed (3003).
    #[error("RTMP handshake with {address} failed: {cause}")]
    Handshake {
        /// `host:port`.
        address: String,
        /// What went wrong.
        #[source]
        cause: HandshakeFailure,
    },
    /// The server refused the application, the stream name or its
    /// signature (3004); trying again would be refused again.
    #[error("the server refused the stream: {0}")]
    Rejected(String),
    /// The server closed the connection (3004).
    #[error("the server closed the connection {0}")]
    Closed(&'static str),
    /// Reading or writing the socket failed mid-stream (3005).
    #[error("connection lost: {0}")]
    Io(#[source] Arc<io::Error>),
    /// The connection's thread could not be started (3005).
    #[error("cannot start the connection thread: {0}")]
    Spawn(#[source] Arc<io::Error>),
    /// The connection's thread is gone (3005).
    #[error("the connection stopped: {0}")]
    Stopped(&'static str),
    /// The server did not answer in time (3003 during set-up).
    #[error("the server did not answer within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    /// Playing only: no media arrived for
    /// [`PlayConfig::idle_timeout`](super::play::PlayConfig::idle_timeout)
    /// (3005): the connection may be stale; reconnecting may help.
    #[error("no media for {0:?}")]
    Idle(Duration),
    /// The RTMP session library refused the server's input or an operation
    /// (3005).
    #[error("RTMP protocol error: {0}")]
    Protocol(#[source] Arc<ClientSessionError>),
    /// The RTMP session library panicked on the server's input (3005).
    #[error("the server sent data the RTMP parser cannot read")]
    ParserPanic,
    /// The server's chunk stream broke the inbound limits
    /// ([`InboundLimits`](super::InboundLimits)) or interleaved messages
    /// (3005): refused before the RTMP session library saw it.
    #[error("the server's RTMP chunk stream is refused: {0}")]
    Chunk(#[from] ChunkError),
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(Arc::new(error))
    }
}

impl From<ClientSessionError> for ClientError {
    fn from(error: ClientSessionError) -> Self {
        ClientError::Protocol(Arc::new(error))
    }
}

/// Why the RTMP handshake failed.
#[derive(Debug, Error, Clone)]
pub enum HandshakeFailure {
    /// Reading or writing the socket failed.
    #[error(transparent)]
    Io(Arc<io::Error>),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server did not answer in time.
    #[error("no answer from the server")]
    NoAnswer,
    /// The handshake library panicked on the server's bytes.
    #[error("the server's handshake bytes are malformed")]
    Malformed,
    /// The handshake library refused the server's bytes.
    #[error(transparent)]
    Refused(Arc<HandshakeError>),
}

impl ClientError {
    /// The pusher's warning code for this failure.
    pub fn push_code(&self) -> PushCode {
        match self {
            ClientError::Dns { .. } => PushCode::DnsFailure,
            ClientError::Connect { .. } => PushCode::ConnectFailure,
            ClientError::Handshake { .. } | ClientError::Timeout(..) => PushCode::HandshakeFailure,
            ClientError::Rejected(_) | ClientError::Closed(_) => PushCode::ServerClosed,
            ClientError::Io(_)
            | ClientError::Spawn(_)
            | ClientError::Stopped(_)
            | ClientError::Idle(_)
            | ClientError::Protocol(_)
            | ClientError::ParserPanic
            | ClientError::Chunk(_) => PushCode::ReadWriteFailure,
        }
    }

    /// The player's warning code for this failure.
    pub fn play_code(&self) -> PlayCode {
        match self {
            ClientError::Dns { .. } => PlayCode::DnsFailure,
            ClientError::Connect { .. } => PlayCode::ConnectFailure,
            ClientError::Handshake { .. } | ClientError::Timeout(..) => PlayCode::HandshakeFailure,
            ClientError::Rejected(_) | ClientError::Closed(_) => PlayCode::ServerClosed,
            ClientError::Io(_)
            | ClientError::Spawn(_)
            | ClientError::Stopped(_)
            | ClientError::Idle(_)
            | ClientError::Protocol(_)
            | ClientError::ParserPanic
            | ClientError::Chunk(_) => PlayCode::ReadWriteFailure,
        }
    }

    /// The socket or resolver error behind this failure, if it is one
    /// (the [`source`](std::error::Error::source) is that error in its
    /// `Arc`).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            ClientError::Dns { source, .. }
            | ClientError::Connect { source, .. }
            | ClientError::Io(source)
            | ClientError::Spawn(source)
            | ClientError::Handshake {
                cause: HandshakeFailure::Io(source),
                ..
            } => Some(source),
            _ => None,
        }
    }

    /// Whether trying again may help: not for a refused stream name or
    /// signature, which a retry would only repeat.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ClientError::Rejected(_))
    }
}

/// Resolves `url`'s host, connects to the first address that answers within
/// `connect_timeout`, and sets the socket up for the blocking set-up phase:
/// no Nagle delay, `io_timeout` on reads and writes. Returns the socket and
/// the `host:port` it was opened for.
/// Bytes written to `socket` that the peer has not acknowledged yet: what
/// waits in the kernel's send buffer (Linux's `SIOCOUTQ`; 0 elsewhere). On
/// a slow link this is where a backlog hides first, up to megabytes, before
/// the application's own queue grows.
pub(crate) fn unacknowledged_bytes(socket: &TcpStream) -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) on a valid socket descriptor writes
        // one c_int through the pointer, which outlives the call.
        let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut value) };
        if result == 0 {
            return usize::try_from(value).unwrap_or(0);
        }
    }
    let _ = socket;
    0
}

pub(crate) fn open_socket(
    url: &RtmpUrl,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<(TcpStream, String), ClientError> {
    let address = url.socket_address();
    let addresses: Vec<_> = address
        .to_socket_addrs()
        .map_err(|source| ClientError::Dns {
            host: url.host.clone(),
            source: Arc::new(source),
        })?
        .collect();
    let mut last_error = None;
    let mut socket = None;
    for candidate in &addresses {
        match TcpStream::connect_timeout(candidate, connect_timeout) {
            Ok(stream) => {
                socket = Some(stream);
                break;
            }
            Err(error) => last_error = Some(error),
        }
    }
    let Some(socket) = socket else {
        let source = last_error.unwrap_or_else(|| {
            io::Error::new(ErrorKind::AddrNotAvailable, "the host has no address")
        });
        return Err(ClientError::Connect {
            address,
            source: Arc::new(source),
        });
    };
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(io_timeout))?;
    socket.set_write_timeout(Some(io_timeout))?;
    Ok((socket, address))
}

/// Runs the client side of the handshake with `address` on `socket`;
/// returns bytes that followed it.
pub(crate) fn handshake(socket: &mut TcpStream, address: &str) -> Result<Vec<u8>, ClientError> {
    let failed = |cause: HandshakeFailure| ClientError::Handshake {
        address: address.to_string(),
        cause,
    };
    let io = |error: io::Error| failed(HandshakeFailure::Io(Arc::new(error)));
    let mut handshake = Handshake::new(PeerType::Client);
    let c0_c1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| failed(HandshakeFailure::Refused(Arc::new(e))))?;
    socket.write_all(&c0_c1).map_err(io)?;
    let mut buffer = [0u8; 4096];
    loop {
        let read = match socket.read(&mut buffer) {
            Ok(0) => return Err(failed(HandshakeFailure::Closed)),
            Ok(read) => read,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(failed(HandshakeFailure::NoAnswer))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        let received = buffer.get(..read).unwrap_or_default();
        let progress = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handshake.process_bytes(received)
        }))
        .map_err(|_| failed(HandshakeFailure::Malformed))?;
        match progress {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                socket.write_all(&response_bytes).map_err(io)?;
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                socket.write_all(&response_bytes).map_err(io)?;
                return Ok(remaining_bytes);
            }
            Err(e) => return Err(failed(HandshakeFailure::Refused(Arc::new(e)))),
        }
    }
}

/// An error of the RTMP session library as a [`ClientError::Protocol`].
pub(crate) fn protocol_error(error: ClientSessionError) -> ClientError {
    ClientError::from(error)
}

/// Feeds server bytes to the session. rml_rtmp 0.8 can panic on malformed
/// or interleaved chunks; that is a protocol error here, not a crash. The
/// inner result is rml's own answer, left to the caller: the publisher
/// takes any error as a protocol error, the player skips messages rml finds
/// out of place.
pub(crate) fn session_input(
    session: &mut ClientSession,
    bytes: &[u8],
) -> Result<Result<Vec<ClientSessionResult>, ClientSessionError>, ClientError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(bytes)))
        .map_err(|_| ClientError::ParserPanic)
}

/// The reason when an event is the server refusing us: an error status
/// (`NetStream.Publish.BadName`, `NetStream.Play.Failed`,
/// `….StreamNotFound`, `….Rejected`), or an `_error` answer that rml_rtmp
/// 0.8 reports as an unknown transaction result or an unhandled command.
pub(crate) fn refusal(event: &ClientSessionEvent) -> Option<String> {
    const WORDS: [&str; 5] = ["Failed", "BadName", "Rejected", "Error", "NotFound"];
    match event {
        ClientSessionEvent::UnhandleableOnStatusCode { code }
            if WORDS.iter().any(|word| code.contains(word)) =>
        {
            Some(code.clone())
        }
        ClientSessionEvent::UnknownTransactionResultReceived {
            additional_values, ..
        } => additional_values.iter().find_map(|value| match value {
            Amf0Value::Object(properties) => {
                let text = |key: &str| match properties.get(key) {
                    Some(Amf0Value::Utf8String(text)) => Some(text.clone()),
                    _ => None,
                };
                let is_error = text("level").is_some_and(|level| level.contains("error"))
                    || text("code").is_some_and(|code| WORDS.iter().any(|w| code.contains(w)));
                is_error.then(|| {
                    let code = text("code").unwrap_or_default();
                    match text("description") {
                        Some(description) => format!("{code} ({description})"),
                        None => code,
                    }
                })
            }
            _ => None,
        }),
        ClientSessionEvent::UnhandleableAmf0Command { command_name, .. }
            if command_name == "_error" =>
        {
            Some("the server answered with an error".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_plugin_codes() {
        let io = || Arc::new(io::Error::other("x"));
        let cases = [
            (
                ClientError::Dns {
                    host: "h".into(),
                    source: io(),
                },
                3001,
            ),
            (
                ClientError::Connect {
                    address: "a".into(),
                    source: io(),
                },
                3002,
            ),
            (
                ClientError::Handshake {
                    address: "a".into(),
                    cause: HandshakeFailure::NoAnswer,
                },
                3003,
            ),
            (ClientError::Timeout(Duration::from_secs(1), "x"), 3003),
            (ClientError::Rejected("no".into()), 3004),
            (ClientError::Closed("x"), 3004),
            (ClientError::Io(io()), 3005),
            (ClientError::Spawn(io()), 3005),
            (ClientError::Stopped("x"), 3005),
            (ClientError::Idle(Duration::from_secs(1)), 3005),
            (
                ClientError::from(ClientSessionError::CreateStreamFailed),
                3005,
            ),
            (ClientError::ParserPanic, 3005),
            (ClientError::Chunk(ChunkError::LengthChanged), 3005),
        ];
        for (error, code) in cases {
            assert_eq!(error.play_code().code(), code, "{error}");
            assert_eq!(error.push_code().code(), code, "{error}");
            assert_eq!(
                error.is_retryable(),
                !matches!(error, ClientError::Rejected(_))
            );
        }
    }

    #[test]
    fn causes_are_kept() {
        use std::error::Error as _;
        let error = ClientError::Connect {
            address: "127.0.0.1:1".into(),
            source: Arc::new(io::Error::from(ErrorKind::ConnectionRefused)),
        };
        let source = error.source().expect("a source");
        let io = source
            .downcast_ref::<Arc<io::Error>>()
            .expect("an I/O error");
        assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(
            error.io_error().map(io::Error::kind),
            Some(ErrorKind::ConnectionRefused)
        );
        assert!(error
            .to_string()
            .starts_with("cannot connect to 127.0.0.1:1: "));

        let error = ClientError::Handshake {
            address: "a".into(),
            cause: HandshakeFailure::Io(Arc::new(io::Error::from(ErrorKind::BrokenPipe))),
        };
        let cause = error.source().expect("a source");
        assert!(cause.downcast_ref::<HandshakeFailure>().is_some());
        assert_eq!(
            error.io_error().map(io::Error::kind),
            Some(ErrorKind::BrokenPipe)
        );
        assert!(ClientError::Closed("x").io_error().is_none());
        let error = ClientError::from(ChunkError::LengthChanged);
        assert!(error.source().is_some());
        assert!(error.clone().to_string().contains("length"));
    }

    #[test]
    fn refusals_are_recognised() {
        for code in [
            "NetStream.Play.StreamNotFound",
            "NetStream.Play.Failed",
            "NetStream.Publish.BadName",
            "NetConnection.Connect.Rejected",
        ] {
            let event = ClientSessionEvent::UnhandleableOnStatusCode { code: code.into() };
            assert_eq!(refusal(&event).as_deref(), Some(code));
        }
        for code in ["NetStream.Play.Complete", "NetStream.Play.Reset"] {
            let event = ClientSessionEvent::UnhandleableOnStatusCode { code: code.into() };
            assert_eq!(refusal(&event), None);
        }
        let mut properties = std::collections::HashMap::new();
        properties.insert("level".into(), Amf0Value::Utf8String("error".into()));
        properties.insert(
            "code".into(),
            Amf0Value::Utf8String("NetStream.Play.Forbidden".into()),
        );
        let event = ClientSessionEvent::UnknownTransactionResultReceived {
            transaction_id: 4.0,
            command_object: Amf0Value::Null,
            additional_values: vec![Amf0Value::Object(properties)],
        };
        assert_eq!(refusal(&event).as_deref(), Some("NetStream.Play.Forbidden"));
        let event = ClientSessionEvent::UnhandleableAmf0Command {
            command_name: "_error".into(),
            additional_values: Vec::new(),
            transaction_id: 5.0,
            command_object: Amf0Value::Null,
        };
        assert!(refusal(&event).is_some());
    }
}
