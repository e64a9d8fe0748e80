//! RTMP: URLs, the publishing and playing clients (sharing one error type,
//! [`ClientError`], and their socket set-up and handshake), the embedded
//! server, the chunk-header reader ([`chunk`]) that holds every peer,
//! server or client, to [`InboundLimits`], and the [`ReconnectPolicy`] both
//! clients' owners (pusher and player) follow.
//!
//! The protocol state machines (handshake, chunking, AMF0 commands) come from
//! `rml_rtmp`, which is sans-IO; this module owns the sockets, the threads
//! and the media rules: which messages are key frames or sequence headers,
//! which can be dropped under back-pressure.

pub mod chunk;
mod client;
mod local;
pub mod play;
pub mod publisher;
mod reconnect;
pub mod server;
pub mod sign;

use std::fmt;

use thiserror::Error;

pub use chunk::{ChunkError, ChunkReader, InboundLimits};
/// Why an RTMP client could not start or stopped; the publishing client
/// calls it [`PublishError`], the playing client [`play::PlayError`].
pub use client::{ClientError, HandshakeFailure};
pub use local::LocalServer;
pub use publisher::{PublishError, Publisher, PublisherConfig, PublisherStats};
pub use reconnect::ReconnectPolicy;
pub use server::{LiveStream, RtmpServer, ServerConfig, ServerError, ServerStats};
pub use sign::{sign_url, SignError, Signature, SignatureError};

/// The default RTMP port.
pub const DEFAULT_PORT: u16 = 1935;

/// Why a URL is not a usable RTMP URL.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not `rtmp://…`.
    #[error("unsupported URL {0:?}: expected rtmp://host[:port]/app/stream")]
    Scheme(String),
    /// Host, application or stream name missing or malformed.
    #[error("malformed RTMP URL {url:?}: {reason}")]
    Malformed {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A parsed `rtmp://host[:port]/app[/…]/stream[?query]` URL.
///
/// The stream name is the last path segment; everything between the host and
/// it is the application (nginx-rtmp's rule). A query string (the anti-leech
/// `txSecret`/`txTime`) stays attached to the stream name, where servers
/// expect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Application name, e.g. `live`.
    pub app: String,
    /// Stream name, e.g. `room1`.
    pub stream: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
}

impl RtmpUrl {
    /// Parses and checks a URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let malformed = |reason| UrlError::Malformed {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or_else(|| UrlError::Scheme(url.to_string()))?;
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(malformed("it contains spaces or control characters"));
        }
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| malformed("no application and stream name"))?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| malformed("the port is not a number from 1 to 65535"))?;
                if port == 0 {
                    return Err(malformed("the port is not a number from 1 to 65535"));
                }
                (host, port)
            }
            _ => (authority, DEFAULT_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(malformed("no host"));
        }
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (path, None),
        };
        let (app, stream) = path
            .rsplit_once('/')
            .ok_or_else(|| malformed("no stream name after the application"))?;
        if app.is_empty() || app.split('/').any(str::is_empty) {
            return Err(malformed("empty application name"));
        }
        if stream.is_empty() {
            return Err(malformed("empty stream name"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            query,
        })
    }

    /// The stream name as sent in `publish`/`play`: with its query string.
    pub fn stream_with_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{}", self.stream, query),
            None => self.stream.clone(),
        }
    }

    /// `rtmp://host:port/app`, the `tcUrl` of the connect command.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", self.host_for_url(), self.port, self.app)
    }

    /// `host:port` for connecting.
    pub fn socket_address(&self) -> String {
        format!("{}:{}", self.host_for_url(), self.port)
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tc_url(), self.stream_with_query())
    }
}

/// What an RTMP audio or video message carries, read from its first bytes
/// (the FLV tag body layout RTMP uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// AVC or AAC decoder configuration: every player needs it first.
    SequenceHeader,
    /// A video key frame (a player may start here).
    KeyFrame,
    /// A video inter frame.
    InterFrame,
    /// Audio samples.
    AudioFrame,
    /// Anything else (end of sequence, other codecs, empty messages).
    Other,
}

impl MediaKind {
    /// Classifies a video message body.
    pub fn of_video(body: &[u8]) -> Self {
        let Some(&first) = body.first() else {
            return Self::Other;
        };
        let frame_type = first >> 4;
        let codec = first & 0x0f;
        if codec == 7 {
            match body.get(1) {
                Some(0) => return Self::SequenceHeader,
                Some(1) => {}
                _ => return Self::Other,
            }
        }
        match frame_type {
            1 => Self::KeyFrame,
            2 | 3 => Self::InterFrame,
            _ => Self::Other,
        }
    }

    /// Classifies an audio message body.
    pub fn of_audio(body: &[u8]) -> Self {
        match body {
            [] => Self::Other,
            [first, 0, ..] if first >> 4 == 10 => Self::SequenceHeader,
            _ => Self::AudioFrame,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_host_app_and_stream() {
        let url =
            RtmpUrl::parse("rtmp://127.0.0.1:19350/live/room1?txSecret=ab&txTime=5F").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 19350);
        assert_eq!(url.app, "live");
        assert_eq!(url.stream, "room1");
        assert_eq!(url.stream_with_query(), "room1?txSecret=ab&txTime=5F");
        assert_eq!(url.tc_url(), "rtmp://127.0.0.1:19350/live");

        let url = RtmpUrl::parse("rtmp://example.com/app/inst/key").unwrap();
        assert_eq!(
            (url.port, url.app.as_str(), url.stream.as_str()),
            (1935, "app/inst", "key")
        );
        assert_eq!(RtmpUrl::parse("rtmp://[::1]:1936/a/b").unwrap().host, "::1");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "http://host/live/x",
            "rtmp://host",
            "rtmp://host/live",
            "rtmp://host/live/",
            "rtmp:///live/x",
            "rtmp://host:0/live/x",
            "rtmp://host:99999/live/x",
            "rtmp://host:port/live/x",
            "rtmp://host//x",
            "rtmp://ho st/live/x",
        ] {
            assert!(RtmpUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn media_messages_are_classified() {
        assert_eq!(
            MediaKind::of_video(&[0x17, 0, 0, 0, 0]),
            MediaKind::SequenceHeader
        );
        assert_eq!(
            MediaKind::of_video(&[0x17, 1, 0, 0, 0]),
            MediaKind::KeyFrame
        );
        assert_eq!(
            MediaKind::of_video(&[0x27, 1, 0, 0, 0]),
            MediaKind::InterFrame
        );
        assert_eq!(MediaKind::of_video(&[0x17, 2]), MediaKind::Other);
        assert_eq!(MediaKind::of_video(&[]), MediaKind::Other);
        assert_eq!(
            MediaKind::of_audio(&[0xaf, 0, 0x12, 0x10]),
            MediaKind::SequenceHeader
        );
        assert_eq!(MediaKind::of_audio(&[0xaf, 1, 0x21]), MediaKind::AudioFrame);
    }
}
