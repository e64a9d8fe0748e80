//! The stream registry: which stream names (`app/stream`) exist, who
//! publishes each (one publisher per name) and who plays it, and the one
//! place that admits or refuses a publish or play request (valid name,
//! anti-leech signature, name not in use). Each name keeps its
//! [`GopCache`] for late players; media from the publisher passes through
//! here to every player's queue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rml_rtmp::sessions::StreamMetadata;

use super::gop_cache::GopCache;
use super::lock;
use super::player_queue::{Delivery, PlayerQueue};
use super::Media;
use crate::rtmp::sign::check_signature;

/// Whether a request publishes or plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// `publish`.
    Publish,
    /// `play`.
    Play,
}

impl Role {
    /// The `onStatus` code a refusal of this request carries.
    pub(super) fn refusal_code(self) -> &'static str {
        match self {
            Role::Publish => "NetStream.Publish.BadName",
            Role::Play => "NetStream.Play.Failed",
        }
    }
}

/// Why a publish or play request is refused, as sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The `onStatus` code.
    pub(super) code: &'static str,
    /// Why, for the peer and the log.
    pub(super) description: String,
}

/// The suffix that asks for a stream's sound alone (the plugin's
/// `<stream>_pureAudio`, for background listening).
pub const PURE_AUDIO_SUFFIX: &str = "_pureAudio";

/// A play request for `<stream>_pureAudio` (query kept) is a request for
/// `<stream>` without its video.
pub(super) fn pure_audio_variant(requested: &str) -> (String, bool) {
    let (stream, query) = match requested.split_once('?') {
        Some((stream, query)) => (stream, Some(query)),
        None => (requested, None),
    };
    match stream.strip_suffix(PURE_AUDIO_SUFFIX) {
        Some(base) if !base.is_empty() => {
            let base = match query {
                Some(query) => format!("{base}?{query}"),
                None => base.to_string(),
            };
            (base, true)
        }
        _ => (requested.to_string(), false),
    }
}

/// `app/stream` for a requested stream name: the query string is cut off;
/// `None` when nothing is left.
fn stream_name(app: &str, requested: &str) -> Option<String> {
    let stream = requested.split('?').next().unwrap_or_default().trim();
    let app = app.trim().trim_matches('/');
    if stream.is_empty() || app.is_empty() {
        return None;
    }
    Some(format!("{app}/{stream}"))
}

/// One stream name: its publisher, what it keeps for late players, and its
/// players.
#[derive(Default)]
struct Stream {
    publisher: Option<u64>,
    cache: GopCache,
    players: Vec<PlayerSlot>,
}

/// A player attached to a stream.
struct PlayerSlot {
    conn: u64,
    queue: Arc<PlayerQueue>,
}

/// Every stream name in use, behind one lock.
#[derive(Default)]
pub(super) struct Registry {
    streams: Mutex<HashMap<String, Stream>>,
}

impl Registry {
    /// Decides whether a publish or play request of connection `conn` is
    /// admitted, and under which stream name: the name must be valid and,
    /// with an anti-leech key, signed. An admitted publisher owns the name
    /// when this returns.
    pub(super) fn decide(
        &self,
        conn: u64,
        role: Role,
        app: &str,
        requested: &str,
        anti_leech_key: Option<&str>,
    ) -> Result<String, Refusal> {
        let name = stream_name(app, requested).ok_or_else(|| Refusal {
            code: role.refusal_code(),
            description: format!("invalid stream name {requested:?}"),
        })?;
        if let Some(key) = anti_leech_key {
            let (stream, query) = match requested.split_once('?') {
                Some((stream, query)) => (stream, Some(query)),
                None => (requested, None),
            };
            // A `_pureAudio` play request arrives here as its base stream:
            // it carries the base stream's signature.
            check_signature(key, stream.trim(), query, SystemTime::now()).map_err(|error| {
                Refusal {
                    code: role.refusal_code(),
                    description: error.to_string(),
                }
            })?;
        }
        if role == Role::Publish {
            let mut streams = lock(&self.streams);
            let stream = streams.entry(name.clone()).or_default();
            if stream.publisher.is_some() {
                return Err(Refusal {
                    code: role.refusal_code(),
                    description: format!("stream name in use: {name}"),
                });
            }
            stream.cache.clear();
            stream.publisher = Some(conn);
        }
        Ok(name)
    }

    /// The publisher `conn` of `name` is gone: tell its players, forget the
    /// stream's headers and GOP.
    pub(super) fn end_publishing(&self, conn: u64, name: &str) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        stream.cache.clear();
        stream.publisher = None;
        for player in &stream.players {
            player.queue.push(Delivery::End, false);
        }
        if stream.players.is_empty() {
            streams.remove(name);
        }
    }

    /// Adds a player of `name`, primed with what the stream has kept.
    pub(super) fn add_player(&self, conn: u64, name: &str, queue: &Arc<PlayerQueue>) {
        let mut streams = lock(&self.streams);
        let stream = streams.entry(name.to_string()).or_default();
        if stream.publisher.is_some() {
            stream.cache.prime(queue);
        }
        stream.players.push(PlayerSlot {
            conn,
            queue: Arc::clone(queue),
        });
    }

    /// Removes the player `conn` of `name`.
    pub(super) fn remove_player(&self, conn: u64, name: &str) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        stream.players.retain(|player| player.conn != conn);
        if stream.players.is_empty() && stream.publisher.is_none() {
            streams.remove(name);
        }
    }

    /// Records metadata from the publisher `conn` and passes it on.
    pub(super) fn relay_metadata(&self, conn: u64, name: &str, metadata: StreamMetadata) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        let metadata = Arc::new(metadata);
        for player in &stream.players {
            player
                .queue
                .push(Delivery::Metadata(Arc::clone(&metadata)), false);
        }
        stream.cache.set_metadata(metadata);
    }

    /// Records a media message from the publisher `conn` and passes it on;
    /// returns how many messages players lost to back-pressure.
    pub(super) fn relay_media(
        &self,
        conn: u64,
        name: &str,
        media: Media,
        max_gop_bytes: usize,
    ) -> u64 {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return 0;
        };
        if stream.publisher != Some(conn) {
            return 0;
        }
        stream.cache.remember(&media, max_gop_bytes);
        let resume = stream.cache.is_resume_point(&media);
        stream
            .players
            .iter()
            .map(|player| player.queue.push(Delivery::Media(media.clone()), resume))
            .sum()
    }

    /// The names being published, and the players of each name that has
    /// any.
    pub(super) fn census(&self) -> (BTreeSet<String>, BTreeMap<String, usize>) {
        let streams = lock(&self.streams);
        let publishing = streams
            .iter()
            .filter(|(_, stream)| stream.publisher.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        let players = streams
            .iter()
            .filter(|(_, stream)| !stream.players.is_empty())
            .map(|(name, stream)| (name.clone(), stream.players.len()))
            .collect();
        (publishing, players)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_drop_the_query() {
        assert_eq!(
            stream_name("live", "room1?txSecret=ab&txTime=5F").as_deref(),
            Some("live/room1")
        );
        assert_eq!(stream_name("live/", "test").as_deref(), Some("live/test"));
        assert_eq!(stream_name("live", "?x=1"), None);
        assert_eq!(stream_name("live", ""), None);
        assert_eq!(stream_name("", "test"), None);
    }

    #[test]
    fn pure_audio_requests_name_their_base_stream() {
        assert_eq!(
            pure_audio_variant("room_pureAudio?txTime=1"),
            ("room?txTime=1".to_string(), true)
        );
        assert_eq!(pure_audio_variant("room"), ("room".to_string(), false));
        assert_eq!(
            pure_audio_variant("_pureAudio"),
            ("_pureAudio".to_string(), false)
        );
    }

    #[test]
    fn a_second_publisher_of_a_name_is_refused() {
        let registry = Registry::default();
        assert_eq!(
            registry.decide(1, Role::Publish, "live", "a?k=1", None),
            Ok("live/a".to_string())
        );
        let refusal = registry
            .decide(2, Role::Publish, "live", "a", None)
            .unwrap_err();
        assert_eq!(refusal.code, "NetStream.Publish.BadName");
        assert!(refusal.description.contains("in use"));
        assert!(registry.decide(3, Role::Play, "live", "a", None).is_ok());
        registry.end_publishing(1, "live/a");
        assert!(registry.decide(2, Role::Publish, "live", "a", None).is_ok());
    }
}
