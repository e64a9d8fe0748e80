//! What the two RTMP clients share: the publishing client
//! ([`super::publisher`]) and the playing client ([`super::play`]).
//!
//! One error type, [`ClientError`], with the plugin's codes for either side
//! ([`ClientError::push_code`], [`ClientError::play_code`]); opening the
//! socket (DNS, TCP connect with a timeout, socket options); the client side
//! of the handshake; feeding server bytes to rml_rtmp's session without
//! letting its panics through; and telling when an event is the server
//! refusing us.

use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rml_amf0::Amf0Value;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};
use thiserror::Error;

use super::chunk::ChunkError;
use super::RtmpUrl;
use crate::events::{PlayCode, PushCode};

/// Why an RTMP client (publishing or playing) could not start or stopped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The host name did not resolve (3001).
    #[error("cannot resolve {host}: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// Resolver message.
        reason: String,
    },
    /// The TCP connection failed (3002).
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Socket error.
        reason: String,
    },
    /// The RTMP handshake failed (3003).
    #[error("RTMP handshake with {address} failed: {reason}")]
    Handshake {
        /// `host:port`.
        address: String,
        /// What went wrong.
        reason: String,
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
    Io(String),
    /// The server did not answer in time (3003 during set-up).
    #[error("the server did not answer within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    /// Playing only: no media arrived for
    /// [`PlayConfig::idle_timeout`](super::play::PlayConfig::idle_timeout)
    /// (3005): the connection may be stale; reconnecting may help.
    #[error("no media for {0:?}")]
    Idle(Duration),
    /// The server sent something the RTMP session library cannot read, or
    /// the library refused an operation (3005).
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    /// The server's chunk stream broke the inbound limits
    /// ([`InboundLimits`](super::InboundLimits)) or interleaved messages
    /// (3005): refused before the RTMP session library saw it.
    #[error("the server's RTMP chunk stream is refused: {0}")]
    Chunk(#[from] ChunkError),
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
            | ClientError::Idle(_)
            | ClientError::Protocol(_)
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
            | ClientError::Idle(_)
            | ClientError::Protocol(_)
            | ClientError::Chunk(_) => PlayCode::ReadWriteFailure,
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
        .map_err(|e| ClientError::Dns {
            host: url.host.clone(),
            reason: e.to_string(),
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
            Err(error) => last_error = Some(error.to_string()),
        }
    }
    let socket = socket.ok_or_else(|| ClientError::Connect {
        address: address.clone(),
        reason: last_error.unwrap_or_else(|| "no address".into()),
    })?;
    let io = |e: std::io::Error| ClientError::Io(e.to_string());
    socket.set_nodelay(true).map_err(io)?;
    socket.set_read_timeout(Some(io_timeout)).map_err(io)?;
    socket.set_write_timeout(Some(io_timeout)).map_err(io)?;
    Ok((socket, address))
}

/// Runs the client side of the handshake with `address` on `socket`;
/// returns bytes that followed it.
pub(crate) fn handshake(socket: &mut TcpStream, address: &str) -> Result<Vec<u8>, ClientError> {
    let failed = |reason: String| ClientError::Handshake {
        address: address.to_string(),
        reason,
    };
    let mut handshake = Handshake::new(PeerType::Client);
    let c0_c1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| failed(format!("{e:?}")))?;
    socket
        .write_all(&c0_c1)
        .map_err(|e| failed(e.to_string()))?;
    let mut buffer = [0u8; 4096];
    loop {
        let read = match socket.read(&mut buffer) {
            Ok(0) => return Err(failed("the server closed the connection".into())),
            Ok(read) => read,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(failed("no answer from the server".into()))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e.to_string())),
        };
        let received = buffer.get(..read).unwrap_or_default();
        let progress = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handshake.process_bytes(received)
        }))
        .map_err(|_| failed("the server's handshake bytes are malformed".into()))?;
        match progress {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                socket
                    .write_all(&response_bytes)
                    .map_err(|e| failed(e.to_string()))?;
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                socket
                    .write_all(&response_bytes)
                    .map_err(|e| failed(e.to_string()))?;
                return Ok(remaining_bytes);
            }
            Err(e) => return Err(failed(format!("{e:?}"))),
        }
    }
}

/// An error of the RTMP session library as a [`ClientError::Protocol`].
pub(crate) fn protocol_error(error: impl Display) -> ClientError {
    ClientError::Protocol(error.to_string())
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
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(bytes))).map_err(
        |_| ClientError::Protocol("the server sent data the RTMP parser cannot read".into()),
    )
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
        let cases = [
            (
                ClientError::Dns {
                    host: "h".into(),
                    reason: "r".into(),
                },
                3001,
            ),
            (
                ClientError::Connect {
                    address: "a".into(),
                    reason: "r".into(),
                },
                3002,
            ),
            (
                ClientError::Handshake {
                    address: "a".into(),
                    reason: "r".into(),
                },
                3003,
            ),
            (ClientError::Timeout(Duration::from_secs(1), "x"), 3003),
            (ClientError::Rejected("no".into()), 3004),
            (ClientError::Closed("x"), 3004),
            (ClientError::Io("x".into()), 3005),
            (ClientError::Idle(Duration::from_secs(1)), 3005),
            (ClientError::Protocol("x".into()), 3005),
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
