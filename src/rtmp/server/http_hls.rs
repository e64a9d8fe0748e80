//! The HLS routes of the HTTP listener: the live playlists and their init
//! and media segments, rendered from the publication's packager
//! ([`super::hls`]). Nothing is read from disk.
//!
//! * `/APP/STREAM.m3u8`, `/APP/STREAM_pureAudio.m3u8`: the playlists
//!   (`application/vnd.apple.mpegurl`, `Cache-Control: public, max-age=1`);
//!   404 with the reason until a segment is complete or when the stream is
//!   not live.
//! * `/APP/STREAM/EPOCH/init-V.mp4` and `/APP/STREAM/EPOCH/SEQ.m4s` (STREAM
//!   with `_pureAudio` for the sound alone): the init segment version `V`
//!   and media segment `SEQ` of publication `EPOCH` (`video/mp4`, or
//!   `audio/mp4` for the sound alone), immutable: `Cache-Control: public,
//!   max-age=86400, immutable`.
//!
//! Every one needs, with an anti-leech key, the `txSecret`/`txTime` of
//! STREAM (the base name) in its query, checked as for `.flv` (403 with the
//! reason); a signed playlist's URIs carry the request's two parameters.
//! Media responses allow any origin (`Access-Control-Allow-Origin: *`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
};
use hyper::{Method, Response, StatusCode};
use log::warn;

use super::hls::Missing;
use super::http::{admit, text, Body, HttpState};
use super::registry::PURE_AUDIO_SUFFIX;
use crate::rtmp::sign::{SECRET_PARAM, TIME_PARAM};

/// MIME type of the playlists.
pub(super) const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// `Cache-Control` of a playlist: a cache may hold it a second.
const PLAYLIST_CACHE: &str = "public, max-age=1";
/// `Cache-Control` of init and media segments: their URIs are never reused.
const SEGMENT_CACHE: &str = "public, max-age=86400, immutable";

/// Which HLS file a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HlsPart {
    /// The playlist.
    Playlist,
    /// Init segment version `version` of publication `epoch`.
    Init {
        /// The publication.
        epoch: u64,
        /// The init segment's version.
        version: u32,
    },
    /// Media segment `sequence` of publication `epoch`.
    Segment {
        /// The publication.
        epoch: u64,
        /// The segment's number.
        sequence: u64,
    },
}

/// Decimal digits only (no sign, no leading `+`), as the URIs write
/// numbers.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    (!text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Splits an HLS path into app, rendition stream name and part:
/// `/APP/STREAM.m3u8` or `/APP/STREAM/EPOCH/FILE`; `None` for any other
/// path. Names are checked by the caller.
pub(super) fn parse_path(path: &str) -> Option<(&str, &str, HlsPart)> {
    let rest = path.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [app, file] => {
            let stream = file.strip_suffix(".m3u8")?;
            Some((app, stream, HlsPart::Playlist))
        }
        [app, stream, epoch, file] => {
            let epoch = number(epoch)?;
            let part = if let Some(sequence) = file.strip_suffix(".m4s") {
                HlsPart::Segment {
                    epoch,
                    sequence: number(sequence)?,
                }
            } else {
                let version = file.strip_prefix("init-")?.strip_suffix(".mp4")?;
                HlsPart::Init {
                    epoch,
                    version: number(version)?,
                }
            };
            Some((app, stream, part))
        }
        _ => None,
    }
}

/// A `200` with `body` (none for `HEAD`, its length still given).
fn media(
    method: &Method,
    content_type: &'static str,
    cache: &'static str,
    body: Bytes,
) -> Response<Body> {
    let length = body.len();
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// The signature parameters of `query`, as `?txSecret=..&txTime=..` for
/// the playlist's URIs (empty when there are none to carry).
fn signature_query(query: Option<&str>) -> String {
    let Some(query) = query else {
        return String::new();
    };
    let find = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    match (find(SECRET_PARAM), find(TIME_PARAM)) {
        (Some(secret), Some(time)) => format!("?{SECRET_PARAM}={secret}&{TIME_PARAM}={time}"),
        _ => String::new(),
    }
}

/// Answers an HLS request for `part` of `app`/`stream` (the base name;
/// `audio_only` for the `_pureAudio` rendition).
#[allow(clippy::too_many_arguments)]
pub(super) fn respond(
    state: &Arc<HttpState>,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    query: Option<&str>,
    app: &str,
    stream: &str,
    audio_only: bool,
    part: HlsPart,
) -> Response<Body> {
    let shared = &state.shared;
    // The same admission as `.flv`: a valid name and, with a key, a valid
    // signature of the base stream name.
    let name = match admit(state, peer, path, app, stream, query) {
        Ok((_, name)) => name,
        Err(refused) => return refused,
    };
    let registry = &shared.registry;
    let viewer = peer.ip();
    let mp4_type = if audio_only { "audio/mp4" } else { "video/mp4" };
    let not_found = |Missing(why): Missing| {
        text(
            StatusCode::NOT_FOUND,
            format!("404 not found: {path}: {why}\n"),
        )
    };
    let failed = |why: String| {
        warn!("HLS: cannot render {path}: {why}");
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("500 cannot render {path}: {why}\n"),
        )
    };
    match part {
        HlsPart::Playlist => {
            let rendition = if audio_only {
                format!("{stream}{PURE_AUDIO_SUFFIX}")
            } else {
                stream.to_string()
            };
            let signature = if shared.config.anti_leech_key.is_some() {
                signature_query(query)
            } else {
                String::new()
            };
            match registry.hls_playlist(&name, &rendition, audio_only, &signature, viewer) {
                Ok(playlist) => media(method, PLAYLIST_TYPE, PLAYLIST_CACHE, playlist.into()),
                Err(missing) => not_found(missing),
            }
        }
        HlsPart::Init { epoch, version } => {
            match registry.hls_init(&name, epoch, version, viewer) {
                Ok(init) => match init.render(audio_only) {
                    Ok(bytes) => media(method, mp4_type, SEGMENT_CACHE, bytes),
                    Err(why) => failed(why),
                },
                Err(missing) => not_found(missing),
            }
        }
        HlsPart::Segment { epoch, sequence } => {
            match registry.hls_segment(&name, epoch, sequence, viewer) {
                Ok(segment) => match segment.render(audio_only) {
                    Ok(bytes) => media(method, mp4_type, SEGMENT_CACHE, bytes),
                    Err(why) => failed(why),
                },
                Err(missing) => not_found(missing),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hls_paths() {
        assert_eq!(
            parse_path("/live/x.m3u8"),
            Some(("live", "x", HlsPart::Playlist))
        );
        assert_eq!(
            parse_path("/live/x_pureAudio/17/init-0.mp4"),
            Some((
                "live",
                "x_pureAudio",
                HlsPart::Init {
                    epoch: 17,
                    version: 0
                }
            ))
        );
        assert_eq!(
            parse_path("/live/x/17/42.m4s"),
            Some((
                "live",
                "x",
                HlsPart::Segment {
                    epoch: 17,
                    sequence: 42
                }
            ))
        );
        for path in [
            "/live/x.flv",
            "/live/x/17/+4.m4s",
            "/live/x/17/4.ts",
            "/live/x/y/4.m4s",
            "/live/x/17/init-.mp4",
            "/live/x/17/init-a.mp4",
            "/live/x/17/99999999999999999999999.m4s",
            "/live/x/17/4.m4s/",
            "/x.m3u8",
            "/a/b/c.m3u8",
        ] {
            assert_eq!(parse_path(path), None, "{path:?}");
        }
    }

    #[test]
    fn only_the_signature_is_carried_into_the_playlist() {
        assert_eq!(signature_query(None), "");
        assert_eq!(signature_query(Some("a=1")), "");
        assert_eq!(
            signature_query(Some("x=<script>&txTime=6A0B&txSecret=ab12")),
            "?txSecret=ab12&txTime=6A0B"
        );
        assert_eq!(signature_query(Some("txTime=6A0B&txSecret=a\"b")), "");
    }
}
