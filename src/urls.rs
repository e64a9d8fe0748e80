//! The plugin's "assemble your live URLs" step: from a host, an application
//! and a stream name, the push URL and every play URL the embedded server
//! offers, each signed with the anti-leech key when there is one.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use liveroom::urls::{LiveUrls, PlayKind, StreamAddress};
//!
//! let address = StreamAddress::new("example.com", 1935, "live", "room1")?;
//! let expires = SystemTime::now() + Duration::from_secs(3600);
//! let urls = LiveUrls::new(&address, Some(("KEY", expires)))?;
//! assert!(urls.push.starts_with("rtmp://example.com:1935/live/room1?txSecret="));
//! assert_eq!(urls.play[0].kind, PlayKind::Rtmp);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, SystemTime};

use serde::Serialize;
use thiserror::Error;

use crate::rtmp::server::PURE_AUDIO_SUFFIX;
use crate::rtmp::sign::{sign_url, SignError, Signature};
use crate::rtmp::{RtmpUrl, UrlError};

/// Why the URLs cannot be assembled.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UrlsError {
    /// The host, application or stream name do not make a usable URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A name holds a character that would change the URL's meaning.
    #[error("{what} {value:?}: use letters, digits, '-', '_' and '.' only")]
    Name {
        /// Which name.
        what: &'static str,
        /// As given.
        value: String,
    },
    /// The HTTP port is 0.
    #[error("the HTTP port must be 1 to 65535")]
    HttpPort,
    /// Signing failed (an empty key, an expiry out of range).
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Where a stream lives: host, RTMP port (and HTTP port, when the server
/// serves HTTP-FLV), application and stream name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAddress {
    url: RtmpUrl,
    /// `host` as it goes in a URL (IPv6 in brackets).
    host: String,
    http_port: Option<u16>,
}

impl StreamAddress {
    /// Checks the parts: names of letters, digits, `-`, `_` and `.`; a host
    /// name or IP address; a port from 1 to 65535.
    pub fn new(host: &str, port: u16, app: &str, stream: &str) -> Result<Self, UrlsError> {
        for (what, value) in [("application", app), ("stream name", stream)] {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if value.is_empty() || !value.chars().all(plain) {
                return Err(UrlsError::Name {
                    what,
                    value: value.to_string(),
                });
            }
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let url = RtmpUrl::parse(&format!("rtmp://{host}:{port}/{app}/{stream}"))?;
        Ok(Self {
            url,
            host,
            http_port: None,
        })
    }

    /// The same stream, also played over HTTP-FLV on `port` (1 to 65535).
    pub fn with_http_port(mut self, port: u16) -> Result<Self, UrlsError> {
        if port == 0 {
            return Err(UrlsError::HttpPort);
        }
        self.http_port = Some(port);
        Ok(self)
    }

    /// The unsigned HTTP-FLV URL (`http://HOST:PORT/APP/STREAM.flv`), when
    /// an HTTP port was given.
    pub fn flv_url(&self) -> Option<String> {
        self.http_port.map(|port| {
            format!(
                "http://{}:{port}/{}/{}.flv",
                self.host, self.url.app, self.url.stream
            )
        })
    }

    /// The unsigned RTMP URL of the stream.
    pub fn rtmp_url(&self) -> String {
        self.url.to_string()
    }
}

/// What a play URL delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PlayKind {
    /// The stream over RTMP.
    Rtmp,
    /// The stream's sound alone over RTMP (`…_pureAudio`, the plugin's
    /// background listening).
    RtmpPureAudio,
    /// The stream over HTTP-FLV (`http://HOST:PORT/APP/STREAM.flv`).
    HttpFlv,
    /// The stream's sound alone over HTTP-FLV (`…_pureAudio.flv`).
    HttpFlvPureAudio,
    /// The stream over HLS (`http://HOST:PORT/APP/STREAM.m3u8`).
    Hls,
    /// The stream's sound alone over HLS (`…_pureAudio.m3u8`, the
    /// plugin's background-audio URL).
    HlsPureAudio,
    /// The embedded server's watch page (`…/APP/STREAM.html`).
    WatchPage,
}

impl PlayKind {
    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            PlayKind::Rtmp => "RTMP",
            PlayKind::RtmpPureAudio => "RTMP, sound only",
            PlayKind::HttpFlv => "HTTP-FLV",
            PlayKind::HttpFlvPureAudio => "HTTP-FLV, sound only",
            PlayKind::Hls => "HLS",
            PlayKind::HlsPureAudio => "HLS, sound only",
            PlayKind::WatchPage => "watch page (browser)",
        }
    }
}

/// One way to play the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayUrl {
    /// What it delivers.
    pub kind: PlayKind,
    /// The URL, signed when a key was given.
    pub url: String,
}

/// The push URL and the play URLs of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveUrls {
    /// Where to publish.
    pub push: String,
    /// Where to watch or listen.
    pub play: Vec<PlayUrl>,
}

impl LiveUrls {
    /// The URLs of the stream at `address`, signed with the key until the
    /// expiry when `signing` is given.
    pub fn new(
        address: &StreamAddress,
        signing: Option<(&str, SystemTime)>,
    ) -> Result<Self, UrlsError> {
        let base = address.rtmp_url();
        // The signature covers the stream name; the `_pureAudio` variant
        // carries its base stream's.
        let query = signing
            .map(|(key, expires)| Signature::new(key, &address.url.stream, expires))
            .transpose()?
            .map(|signature| format!("?{}", signature.query()))
            .unwrap_or_default();
        let mut play = vec![
            PlayUrl {
                kind: PlayKind::Rtmp,
                url: format!("{base}{query}"),
            },
            PlayUrl {
                kind: PlayKind::RtmpPureAudio,
                url: format!("{base}{PURE_AUDIO_SUFFIX}{query}"),
            },
        ];
        if let Some(port) = address.http_port {
            let http = format!(
                "http://{}:{port}/{}/{}",
                address.host, address.url.app, address.url.stream
            );
            play.push(PlayUrl {
                kind: PlayKind::HttpFlv,
                url: format!("{http}.flv{query}"),
            });
            play.push(PlayUrl {
                kind: PlayKind::HttpFlvPureAudio,
                url: format!("{http}{PURE_AUDIO_SUFFIX}.flv{query}"),
            });
            play.push(PlayUrl {
                kind: PlayKind::Hls,
                url: format!("{http}.m3u8{query}"),
            });
            play.push(PlayUrl {
                kind: PlayKind::HlsPureAudio,
                url: format!("{http}{PURE_AUDIO_SUFFIX}.m3u8{query}"),
            });
            play.push(PlayUrl {
                kind: PlayKind::WatchPage,
                url: format!("{http}.html{query}"),
            });
        }
        Ok(Self {
            push: format!("{base}{query}"),
            play,
        })
    }
}

/// `url` signed with `key` for `valid_for` from now when there is a key;
/// as it is otherwise.
pub fn sign_if_keyed(
    url: &str,
    key: Option<&str>,
    valid_for: Duration,
) -> Result<String, SignError> {
    match key {
        Some(key) => sign_url(url, key, SystemTime::now() + valid_for),
        None => Ok(url.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::sign::check_signature;

    fn in_an_hour() -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    #[test]
    fn unsigned_urls_name_the_stream_and_its_sound_only_variant() {
        let address = StreamAddress::new("10.0.0.5", 1936, "live", "room1").expect("address");
        let urls = LiveUrls::new(&address, None).expect("urls");
        assert_eq!(urls.push, "rtmp://10.0.0.5:1936/live/room1");
        assert_eq!(
            urls.play,
            vec![
                PlayUrl {
                    kind: PlayKind::Rtmp,
                    url: "rtmp://10.0.0.5:1936/live/room1".into()
                },
                PlayUrl {
                    kind: PlayKind::RtmpPureAudio,
                    url: "rtmp://10.0.0.5:1936/live/room1_pureAudio".into()
                },
            ]
        );
    }

    #[test]
    fn every_signed_url_passes_the_servers_check() {
        let address = StreamAddress::new("::1", 1935, "live", "room1").expect("address");
        let urls = LiveUrls::new(&address, Some(("KEY", in_an_hour()))).expect("urls");
        assert!(
            urls.push
                .starts_with("rtmp://[::1]:1935/live/room1?txSecret="),
            "{}",
            urls.push
        );
        for url in std::iter::once(&urls.push).chain(urls.play.iter().map(|p| &p.url)) {
            let parsed = RtmpUrl::parse(url).expect("parses");
            let stream = parsed.stream.trim_end_matches(PURE_AUDIO_SUFFIX);
            let now = SystemTime::now();
            assert_eq!(
                check_signature("KEY", stream, parsed.query.as_deref(), now),
                Ok(())
            );
            assert!(check_signature("other", stream, parsed.query.as_deref(), now).is_err());
        }
    }

    #[test]
    fn an_http_port_adds_the_http_flv_urls_with_the_same_signature() {
        let address = StreamAddress::new("::1", 1935, "live", "room1")
            .and_then(|address| address.with_http_port(8080))
            .expect("address");
        assert_eq!(
            address.flv_url().as_deref(),
            Some("http://[::1]:8080/live/room1.flv")
        );
        let urls = LiveUrls::new(&address, Some(("KEY", in_an_hour()))).expect("urls");
        let kinds: Vec<_> = urls.play.iter().map(|play| play.kind).collect();
        assert_eq!(
            kinds,
            vec![
                PlayKind::Rtmp,
                PlayKind::RtmpPureAudio,
                PlayKind::HttpFlv,
                PlayKind::HttpFlvPureAudio,
                PlayKind::Hls,
                PlayKind::HlsPureAudio,
                PlayKind::WatchPage
            ]
        );
        for play in &urls.play[2..] {
            let query = play.url.split_once('?').map(|(_, q)| q);
            assert_eq!(
                check_signature("KEY", "room1", query, SystemTime::now()),
                Ok(()),
                "{}",
                play.url
            );
        }
        let query = urls.push.split_once('?').expect("signed").1;
        assert_eq!(
            urls.play[2].url,
            format!("http://[::1]:8080/live/room1.flv?{query}")
        );
        assert_eq!(
            urls.play[3].url,
            format!("http://[::1]:8080/live/room1_pureAudio.flv?{query}")
        );
        assert_eq!(
            urls.play[5].url,
            format!("http://[::1]:8080/live/room1_pureAudio.m3u8?{query}")
        );
        assert!(StreamAddress::new("h", 1935, "live", "room1")
            .expect("address")
            .with_http_port(0)
            .is_err());
    }

    #[test]
    fn names_that_would_break_the_url_are_refused() {
        for (app, stream) in [("live", "a/b"), ("live", "x?y"), ("", "room"), ("live", "")] {
            let error = StreamAddress::new("host", 1935, app, stream).expect_err("refused");
            assert!(
                matches!(error, UrlsError::Name { .. }),
                "{app:?} {stream:?}: {error}"
            );
        }
        assert!(StreamAddress::new("", 1935, "live", "room").is_err());
        assert!(StreamAddress::new("host", 0, "live", "room").is_err());
        let address = StreamAddress::new("host", 1935, "live", "room").expect("address");
        assert!(matches!(
            LiveUrls::new(&address, Some(("", in_an_hour()))),
            Err(UrlsError::Sign(SignError::EmptyKey))
        ));
    }

    #[test]
    fn sign_if_keyed_signs_only_with_a_key() {
        let url = "rtmp://127.0.0.1:1935/live/room1";
        assert_eq!(
            sign_if_keyed(url, None, Duration::from_secs(60)),
            Ok(url.to_string())
        );
        let signed = sign_if_keyed(url, Some("KEY"), Duration::from_secs(60)).expect("signed");
        assert!(
            signed.contains("txSecret=") && signed.contains("txTime="),
            "{signed}"
        );
    }
}
