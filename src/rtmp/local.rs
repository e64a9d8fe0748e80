//! The embedded server on loopback together with its anti-leech key: what
//! the main job (and a test, or an app that previews its own stream) needs
//! to push to itself and play the stream back.
//!
//! ```no_run
//! use std::time::Duration;
//! use liveroom::rtmp::LocalServer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let local = LocalServer::start(Some("SECRET".into()))?;
//! let url = local.url("live", "room1", Duration::from_secs(3600))?;
//! assert!(url.contains("txSecret="));
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::server::{RtmpServer, ServerConfig, ServerError};
use super::sign::{SignError, Signature};
use crate::urls::sign_if_keyed;

/// The embedded RTMP server on a free loopback port, and the key it
/// requires (if any) to sign the URLs it hands out.
pub struct LocalServer {
    server: RtmpServer,
    key: Option<String>,
}

impl LocalServer {
    /// Starts the server on `127.0.0.1` and a free port, with HTTP
    /// (HTTP-FLV, HLS, the watch page, `/api/streams`) on another; with a key, every publish and
    /// play must be signed with it.
    pub fn start(key: Option<String>) -> Result<Self, ServerError> {
        let config = ServerConfig {
            anti_leech_key: key.clone(),
            http_bind: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
            ..ServerConfig::default()
        };
        let server = RtmpServer::start(config)?;
        Ok(Self { server, key })
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://…/APP/STREAM.EXTENSION` on this server (`flv`: HTTP-FLV,
    /// `m3u8`: HLS, `html`: the watch page), signed like
    /// [`LocalServer::url`]; `None` when HTTP is off.
    pub fn http_url(
        &self,
        app: &str,
        stream: &str,
        extension: &str,
        valid_for: Duration,
    ) -> Option<Result<String, SignError>> {
        let url = self.server.http_url(app, stream, extension)?;
        Some(match &self.key {
            Some(key) => {
                let expires = std::time::SystemTime::now() + valid_for;
                Signature::new(key, stream, expires).map(|s| format!("{url}?{}", s.query()))
            }
            None => Ok(url),
        })
    }

    /// The server itself (statistics, shutdown).
    pub fn server(&self) -> &RtmpServer {
        &self.server
    }

    /// The URL of `app/stream` on this server, signed for `valid_for` when
    /// the server has a key; it serves for publishing and playing alike.
    pub fn url(&self, app: &str, stream: &str, valid_for: Duration) -> Result<String, SignError> {
        sign_if_keyed(
            &self.server.url(app, stream),
            self.key.as_deref(),
            valid_for,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::sign::check_signature;
    use crate::rtmp::RtmpUrl;

    #[test]
    fn urls_are_signed_only_when_the_server_has_a_key() {
        let open = LocalServer::start(None).expect("server");
        let url = open
            .url("live", "room", Duration::from_secs(60))
            .expect("url");
        assert_eq!(url, format!("rtmp://{}/live/room", open.local_addr()));

        let guarded = LocalServer::start(Some("KEY".into())).expect("server");
        let url = guarded
            .url("live", "room", Duration::from_secs(60))
            .expect("url");
        let parsed = RtmpUrl::parse(&url).expect("parses");
        let now = std::time::SystemTime::now();
        assert_eq!(
            check_signature("KEY", "room", parsed.query.as_deref(), now),
            Ok(())
        );
    }
}
