//! Anti-leech signatures on push and play URLs: the plugin's
//! `txSecret`/`txTime` query.
//!
//! `txTime` is the moment the URL stops being valid, in Unix seconds written
//! as upper-case hex; `txSecret` is the lower-case hex MD5 of the key, the
//! stream name (the URL's last path segment, without the query) and the
//! `txTime` text, concatenated. A server holding the key recomputes it and
//! refuses a missing, malformed, wrong or expired signature:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use liveroom::rtmp::sign::{check_signature, sign_url};
//!
//! let expires = SystemTime::now() + Duration::from_secs(3600);
//! let url = sign_url("rtmp://127.0.0.1/live/room1", "KEY", expires).unwrap();
//! let query = url.split_once('?').map(|(_, q)| q);
//! assert!(check_signature("KEY", "room1", query, SystemTime::now()).is_ok());
//! assert!(check_signature("other", "room1", query, SystemTime::now()).is_err());
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use thiserror::Error;

use super::server::PURE_AUDIO_SUFFIX;
use super::{RtmpUrl, UrlError};

/// The query parameter carrying the signature.
pub const SECRET_PARAM: &str = "txSecret";
/// The query parameter carrying the expiry time.
pub const TIME_PARAM: &str = "txTime";

/// Why a signature is refused. The texts are what a refused client is told.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// `txSecret` or `txTime` is not in the query.
    #[error("anti-leech signature missing: the URL needs txSecret and txTime")]
    Missing,
    /// `txTime` is not hex Unix seconds, or `txSecret` is not 32 hex digits.
    #[error("anti-leech signature malformed: {0}")]
    Malformed(&'static str),
    /// `txTime` is in the past.
    #[error("anti-leech signature expired {seconds_ago} s ago")]
    Expired {
        /// How long ago it expired.
        seconds_ago: u64,
    },
    /// `txSecret` does not match the key, stream name and `txTime`.
    #[error("anti-leech signature does not match the stream name and key")]
    Mismatch,
}

/// Why a URL could not be signed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The URL is not a usable RTMP URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The key is empty.
    #[error("the anti-leech key is empty")]
    EmptyKey,
    /// The expiry is before 1970 or past the year 2106 (32-bit hex seconds).
    #[error("the expiry time is out of range")]
    ExpiryOutOfRange,
}

/// A `txSecret`/`txTime` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Lower-case hex MD5 of key + stream + `tx_time`.
    pub tx_secret: String,
    /// Expiry, Unix seconds in upper-case hex.
    pub tx_time: String,
}

impl Signature {
    /// Signs `stream` (the name without app or query) with `key`, valid
    /// until `expires_at`.
    pub fn new(key: &str, stream: &str, expires_at: SystemTime) -> Result<Self, SignError> {
        if key.is_empty() {
            return Err(SignError::EmptyKey);
        }
        let seconds = expires_at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SignError::ExpiryOutOfRange)?
            .as_secs();
        let seconds = u32::try_from(seconds).map_err(|_| SignError::ExpiryOutOfRange)?;
        let tx_time = format!("{seconds:X}");
        Ok(Self {
            tx_secret: secret(key, stream, &tx_time),
            tx_time,
        })
    }

    /// `txSecret=…&txTime=…`.
    pub fn query(&self) -> String {
        format!(
            "{SECRET_PARAM}={}&{TIME_PARAM}={}",
            self.tx_secret, self.tx_time
        )
    }
}

/// The URL with a signature for its stream name, valid until `expires_at`;
/// any `txSecret`/`txTime` already in its query are replaced, other query
/// parameters kept. Takes RTMP URLs and the embedded server's HTTP URLs
/// (`http(s)://HOST:PORT/APP/STREAM.flv`, `.m3u8`, `.html`); a
/// `STREAM_pureAudio` URL carries its base stream's signature, as the
/// server checks it.
pub fn sign_url(url: &str, key: &str, expires_at: SystemTime) -> Result<String, SignError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return sign_http_url(url, key, expires_at);
    }
    let mut parsed = RtmpUrl::parse(url)?;
    let signature = Signature::new(key, signed_stream(&parsed.stream), expires_at)?;
    parsed.query = Some(with_signature(parsed.query.as_deref(), &signature));
    Ok(parsed.to_string())
}

/// [`sign_url`] for an HTTP URL: the stream is the last path segment
/// without its extension.
fn sign_http_url(url: &str, key: &str, expires_at: SystemTime) -> Result<String, SignError> {
    let malformed = |reason| UrlError::Malformed {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|_| malformed("not a valid HTTP URL"))?;
    let file = uri.path().rsplit('/').next().unwrap_or_default();
    let stream = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    if stream.is_empty() {
        return Err(malformed("no stream name at the end of the path").into());
    }
    let signature = Signature::new(key, signed_stream(stream), expires_at)?;
    let without_query = url.split_once('?').map_or(url, |(before, _)| before);
    Ok(format!(
        "{without_query}?{}",
        with_signature(uri.query(), &signature)
    ))
}

/// The stream name a signature covers: `STREAM_pureAudio` asks for
/// `STREAM`'s sound and carries `STREAM`'s signature.
fn signed_stream(stream: &str) -> &str {
    match stream.strip_suffix(PURE_AUDIO_SUFFIX) {
        Some(base) if !base.is_empty() => base,
        _ => stream,
    }
}

/// `query` without any old signature, with `signature` at the end.
fn with_signature(query: Option<&str>, signature: &Signature) -> String {
    let mut pairs: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_signature_param(pair))
        .collect();
    let signed = signature.query();
    pairs.push(&signed);
    pairs.join("&")
}

/// Checks the signature in `query` (the text after `?`, if any) for
/// `stream` against `key` at time `now`.
pub fn check_signature(
    key: &str,
    stream: &str,
    query: Option<&str>,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let (mut secret_text, mut time_text) = (None, None);
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some((SECRET_PARAM, value)) => secret_text = Some(value),
            Some((TIME_PARAM, value)) => time_text = Some(value),
            _ => {}
        }
    }
    let (Some(given), Some(tx_time)) = (secret_text, time_text) else {
        return Err(SignatureError::Missing);
    };
    if tx_time.is_empty() || tx_time.len() > 16 || !tx_time.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed("txTime is not hex Unix seconds"));
    }
    if given.len() != 32 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed("txSecret is not 32 hex digits"));
    }
    let expires = u64::from_str_radix(tx_time, 16)
        .map_err(|_| SignatureError::Malformed("txTime is not hex Unix seconds"))?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if expires < now {
        return Err(SignatureError::Expired {
            seconds_ago: now - expires,
        });
    }
    let expected = secret(key, stream, tx_time);
    // Compare every byte, so the time taken says nothing about where the
    // first difference is.
    let differences = expected
        .bytes()
        .zip(given.bytes().map(|b| b.to_ascii_lowercase()))
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differences != 0 {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

fn is_signature_param(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or_default();
    name == SECRET_PARAM || name == TIME_PARAM
}

/// Lower-case hex MD5 of key + stream + txTime.
fn secret(key: &str, stream: &str, tx_time: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(key.as_bytes());
    hasher.update(stream.as_bytes());
    hasher.update(tx_time.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn http_urls_are_signed_for_their_stream_and_pure_audio_for_its_base() {
        let expires = SystemTime::now() + std::time::Duration::from_secs(60);
        for (url, stream) in [
            ("http://127.0.0.1:8080/live/room1.flv", "room1"),
            ("http://h:8080/live/room1.m3u8?x=1&txSecret=old", "room1"),
            ("https://h/live/room1_pureAudio.m3u8", "room1"),
            ("http://h:8080/live/room1.html", "room1"),
            ("rtmp://h:1935/live/room1_pureAudio", "room1"),
        ] {
            let signed = sign_url(url, "KEY", expires).expect("signs");
            let (before, query) = signed.split_once('?').expect("a query");
            assert!(url.starts_with(before), "{signed}");
            assert!(!query.contains("old"), "{signed}");
            assert_eq!(
                check_signature("KEY", stream, Some(query), SystemTime::now()),
                Ok(()),
                "{signed}"
            );
        }
        assert!(sign_url("http://h:8080/", "KEY", expires).is_err());
        assert!(sign_url("http://h:8080/live/x.flv", "", expires).is_err());
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn the_secret_is_md5_of_key_stream_and_time_text() {
        // md5("abc") is a published test vector; here key "a", stream "b",
        // time text "c" concatenate to it.
        assert_eq!(secret("a", "b", "c"), "900150983cd24fb0d6963f7d28e17f72");
        let signature = Signature::new("KEY", "room1", at(0x6553_F100)).unwrap();
        assert_eq!(signature.tx_time, "6553F100");
        assert_eq!(signature.tx_secret, secret("KEY", "room1", "6553F100"));
    }

    #[test]
    fn signed_urls_pass_and_everything_else_is_refused() {
        let now = at(1_000_000);
        let url = sign_url("rtmp://h/live/room1?x=1", "KEY", at(1_000_060)).unwrap();
        let query = url.split_once('?').map(|(_, q)| q.to_string());
        assert!(query.as_deref().unwrap().starts_with("x=1&txSecret="));
        let query = query.as_deref();
        assert_eq!(check_signature("KEY", "room1", query, now), Ok(()));
        assert_eq!(
            check_signature("KEY", "room2", query, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check_signature("KEY2", "room1", query, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check_signature("KEY", "room1", query, at(1_000_070)),
            Err(SignatureError::Expired { seconds_ago: 10 })
        );
        assert_eq!(
            check_signature("KEY", "room1", None, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check_signature("KEY", "room1", Some("txTime=FFFFFFFF"), now),
            Err(SignatureError::Missing)
        );
        for bad in [
            "txSecret=00&txTime=FFFFFFFF",
            "txSecret=0123456789abcdef0123456789abcdeg&txTime=FFFFFFFF",
            "txSecret=0123456789abcdef0123456789abcdef&txTime=later",
            "txSecret=0123456789abcdef0123456789abcdef&txTime=",
            "txSecret=0123456789abcdef0123456789abcdef&txTime=FFFFFFFFFFFFFFFFF",
        ] {
            assert!(
                matches!(
                    check_signature("KEY", "room1", Some(bad), now),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn re_signing_replaces_the_old_signature() {
        let first = sign_url("rtmp://h/live/r", "K", at(100)).unwrap();
        let second = sign_url(&first, "K", at(200)).unwrap();
        assert_eq!(second.matches("txSecret").count(), 1);
        assert!(second.ends_with("&txTime=C8"));
        assert_eq!(
            sign_url("rtmp://h/live/r", "", at(1)),
            Err(SignError::EmptyKey)
        );
        assert!(matches!(
            sign_url("ftp://h/live/r", "K", at(1)),
            Err(SignError::Url(_))
        ));
        assert_eq!(
            sign_url("rtmp://h/live/r", "K", at(1 << 33)),
            Err(SignError::ExpiryOutOfRange)
        );
    }
}
