//! The stream registry: which stream names (`app/stream`) exist, who
//! publishes each (one publisher per name) and who plays it, and the one
//! place that admits or refuses a publish or play request (valid name,
//! anti-leech signature, name not in use). Each name keeps its
//! [`GopCache`] for late players; media from the publisher passes through
//! here to every player's queue.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rml_rtmp::sessions::StreamMetadata;
use serde::Serialize;

use super::gop_cache::GopCache;
use super::hls::{HlsStream, Init, Missing, Segment, ENDED_LINGER};
use super::lock;
use super::player_queue::{Delivery, PlayerQueue};
use super::{Media, Track};
use crate::flv::{parse_audio_body, parse_video_body, AudioBody, VideoBody};
use crate::fmp4::{AudioTrack, VideoTrack};
use crate::rtmp::sign::check_signature;
use crate::rtmp::MediaKind;

/// The span over which `/api/streams` measures bitrate and frame rate.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// An HLS viewer is a client address that fetched a playlist, init or
/// segment of the stream within this span.
const HLS_VIEWER_WINDOW: Duration = Duration::from_secs(10);
/// Most HLS client addresses remembered per stream.
const MAX_HLS_VIEWERS: usize = 4096;

/// How a player receives its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// An RTMP `play`.
    Rtmp,
    /// An HTTP-FLV `GET /APP/STREAM.flv`.
    Flv,
    /// A live fragmented MP4 `GET /APP/STREAM.mp4` (the watch page).
    Mp4,
}

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
    /// What `/api/streams` tells about the current publication.
    publication: Option<Publication>,
    cache: GopCache,
    players: Vec<PlayerSlot>,
    /// The HLS packager of the current (or just ended) publication.
    hls: Option<HlsStream>,
    /// Client addresses that fetched HLS files, and when they last did.
    hls_viewers: HashMap<IpAddr, Instant>,
}

/// A player attached to a stream.
struct PlayerSlot {
    conn: u64,
    queue: Arc<PlayerQueue>,
    protocol: Protocol,
}

/// The current publication of a stream, as the operator API shows it.
struct Publication {
    peer: Option<SocketAddr>,
    since: Instant,
    video_codec: Option<u8>,
    audio_codec: Option<u8>,
    /// RFC 6381 codec strings from the sequence headers (`avc1.64001f`,
    /// `mp4a.40.2`), as MSE and HLS `CODECS` name them.
    video_codecs: Option<String>,
    audio_codecs: Option<String>,
    /// Media messages of the last [`RATE_WINDOW`]: arrival, bytes, and
    /// whether it is a video frame.
    recent: VecDeque<(Instant, usize, bool)>,
}

impl Publication {
    fn new() -> Self {
        Self {
            peer: None,
            since: Instant::now(),
            video_codec: None,
            audio_codec: None,
            video_codecs: None,
            audio_codecs: None,
            recent: VecDeque::new(),
        }
    }

    fn count(&mut self, media: &Media) {
        let now = Instant::now();
        let codec = media.data.first().copied();
        match media.track {
            Track::Video => self.video_codec = codec.map(|byte| byte & 0x0f),
            Track::Audio => self.audio_codec = codec.map(|byte| byte >> 4),
        }
        if media.kind == MediaKind::SequenceHeader {
            match media.track {
                Track::Video => {
                    if let Ok(VideoBody::SequenceHeader(record)) = parse_video_body(&media.data) {
                        self.video_codecs = VideoTrack::from_flv_config(record)
                            .ok()
                            .map(|track| track.codec_string());
                    }
                }
                Track::Audio => {
                    if let Ok(AudioBody::AacSequenceHeader(config)) = parse_audio_body(&media.data)
                    {
                        self.audio_codecs = AudioTrack::from_flv_config(config)
                            .ok()
                            .map(|track| track.codec_string());
                    }
                }
            }
        }
        let frame = media.track == Track::Video
            && matches!(media.kind, MediaKind::KeyFrame | MediaKind::InterFrame);
        self.recent.push_back((now, media.data.len(), frame));
        while self
            .recent
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// Recent bitrate (kbps) and video frame rate.
    fn rates(&self, now: Instant) -> (f64, f64) {
        let span = now
            .duration_since(self.since)
            .min(RATE_WINDOW)
            .as_secs_f64();
        if span < 0.5 {
            return (0.0, 0.0);
        }
        let recent = self
            .recent
            .iter()
            .filter(|(at, _, _)| now.duration_since(*at) <= RATE_WINDOW);
        let (bytes, frames) = recent.fold((0usize, 0usize), |(bytes, frames), item| {
            (bytes + item.1, frames + usize::from(item.2))
        });
        (
            (bytes as f64 * 8.0 / 1000.0 / span * 10.0).round() / 10.0,
            (frames as f64 / span * 10.0).round() / 10.0,
        )
    }
}

/// A stream being published, as `/api/streams` and
/// [`RtmpServer::live_streams`](super::RtmpServer::live_streams) show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveStream {
    /// The application name.
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// The publisher's address (`ip:port`).
    pub publisher: Option<String>,
    /// The video track, once the publisher has sent video.
    pub video: Option<VideoInfo>,
    /// The audio track, once the publisher has sent audio.
    pub audio: Option<AudioInfo>,
    /// Bits per second over the last five seconds, in kbps.
    pub bitrate_kbps: f64,
    /// Seconds since publishing started.
    pub uptime_s: f64,
    /// Players per protocol.
    pub viewers: Viewers,
}

/// A live stream's video track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoInfo {
    /// `h264`, `hevc`, or `flv-codec-N`.
    pub codec: String,
    /// The RFC 6381 codec string (`avc1.64001f`) once the AVC sequence
    /// header has come: what the watch page asks Media Source Extensions
    /// for.
    pub codecs: Option<String>,
    /// Width in pixels, from the metadata (0 if not given).
    pub width: u32,
    /// Height in pixels, from the metadata (0 if not given).
    pub height: u32,
    /// Frames per second over the last five seconds (the metadata's figure
    /// until then).
    pub fps: f64,
}

/// A live stream's audio track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioInfo {
    /// `aac`, `mp3`, or `flv-sound-N`.
    pub codec: String,
    /// The RFC 6381 codec string (`mp4a.40.2`) once the AAC sequence
    /// header has come.
    pub codecs: Option<String>,
    /// Samples per second, from the metadata (0 if not given).
    pub sample_rate: u32,
    /// Channels, from the metadata (0 if not given).
    pub channels: u32,
}

/// Players of a live stream per protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Viewers {
    /// RTMP players (`_pureAudio` included).
    pub rtmp: usize,
    /// HTTP-FLV viewers (`_pureAudio.flv` included).
    pub flv: usize,
    /// HLS viewers (`_pureAudio.m3u8` included): distinct client addresses
    /// that fetched a playlist, init or segment in the last 10 s. HLS is
    /// stateless, so clients behind one address (a proxy, a CDN) count once.
    pub hls: usize,
    /// Live fragmented-MP4 viewers (`/APP/STREAM.mp4`: the watch page's
    /// low-latency path).
    pub mp4: usize,
}

fn video_codec_name(id: u8) -> String {
    match id {
        7 => "h264".into(),
        12 => "hevc".into(),
        other => format!("flv-codec-{other}"),
    }
}

fn audio_codec_name(id: u8) -> String {
    match id {
        10 => "aac".into(),
        2 => "mp3".into(),
        other => format!("flv-sound-{other}"),
    }
}

impl Stream {
    /// Nothing left to keep: no publisher, no player, no HLS state.
    fn is_idle(&self) -> bool {
        self.publisher.is_none() && self.players.is_empty() && self.hls.is_none()
    }

    /// Remembers an HLS fetch by `viewer`.
    fn saw_hls_viewer(&mut self, viewer: IpAddr) {
        let now = Instant::now();
        if self.hls_viewers.len() >= MAX_HLS_VIEWERS {
            self.hls_viewers
                .retain(|_, at| now.duration_since(*at) <= HLS_VIEWER_WINDOW);
        }
        if self.hls_viewers.len() < MAX_HLS_VIEWERS || self.hls_viewers.contains_key(&viewer) {
            self.hls_viewers.insert(viewer, now);
        }
    }

    /// The live (or just ended) publication's HLS state.
    fn live_hls(&self) -> Result<&HlsStream, Missing> {
        self.hls
            .as_ref()
            .ok_or_else(|| Missing("the stream is not live".into()))
    }

    fn describe(&self, name: &str, now: Instant) -> Option<LiveStream> {
        let publication = self.publication.as_ref()?;
        self.publisher?;
        let (app, stream) = name.split_once('/').unwrap_or(("", name));
        let metadata = self.cache.metadata();
        let (bitrate_kbps, measured_fps) = publication.rates(now);
        let video = publication.video_codec.map(|codec| VideoInfo {
            codec: video_codec_name(codec),
            codecs: publication.video_codecs.clone(),
            width: metadata.and_then(|m| m.video_width).unwrap_or(0),
            height: metadata.and_then(|m| m.video_height).unwrap_or(0),
            fps: if measured_fps > 0.0 {
                measured_fps
            } else {
                metadata
                    .and_then(|m| m.video_frame_rate)
                    .map(f64::from)
                    .unwrap_or(0.0)
            },
        });
        let audio = publication.audio_codec.map(|codec| AudioInfo {
            codec: audio_codec_name(codec),
            codecs: publication.audio_codecs.clone(),
            sample_rate: metadata.and_then(|m| m.audio_sample_rate).unwrap_or(0),
            channels: metadata
                .and_then(|m| {
                    m.audio_channels
                        .or(m.audio_is_stereo.map(|stereo| if stereo { 2 } else { 1 }))
                })
                .unwrap_or(0),
        });
        let mut viewers = Viewers::default();
        for player in &self.players {
            match player.protocol {
                Protocol::Rtmp => viewers.rtmp += 1,
                Protocol::Flv => viewers.flv += 1,
                Protocol::Mp4 => viewers.mp4 += 1,
            }
        }
        viewers.hls = self
            .hls_viewers
            .values()
            .filter(|at| now.duration_since(**at) <= HLS_VIEWER_WINDOW)
            .count();
        Some(LiveStream {
            app: app.to_string(),
            stream: stream.to_string(),
            publisher: publication.peer.map(|peer| peer.to_string()),
            video,
            audio,
            bitrate_kbps,
            uptime_s: (now.duration_since(publication.since).as_secs_f64() * 10.0).round() / 10.0,
            viewers,
        })
    }
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
            stream.publication = Some(Publication::new());
            stream.hls = Some(HlsStream::new());
            // As nginx-rtmp does: players that wait learn that the stream
            // begins (again).
            for player in &stream.players {
                player.queue.push(Delivery::Begin, false);
            }
        }
        Ok(name)
    }

    /// Records the address of the publisher `conn` of `name`.
    pub(super) fn describe_publisher(&self, conn: u64, name: &str, peer: SocketAddr) {
        let mut streams = lock(&self.streams);
        if let Some(stream) = streams.get_mut(name) {
            if stream.publisher == Some(conn) {
                if let Some(publication) = stream.publication.as_mut() {
                    publication.peer = Some(peer);
                }
            }
        }
    }

    /// The streams being published now, by name.
    pub(super) fn live_streams(&self) -> Vec<LiveStream> {
        let now = Instant::now();
        let mut streams = lock(&self.streams);
        Self::forget_ended_hls(&mut streams);
        let mut live: Vec<LiveStream> = streams
            .iter()
            .filter_map(|(name, stream)| stream.describe(name, now))
            .collect();
        live.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
        live
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
        stream.publication = None;
        if let Some(hls) = stream.hls.as_mut() {
            hls.end();
        }
        for player in &stream.players {
            player.queue.push(Delivery::End, false);
        }
        if stream.is_idle() {
            streams.remove(name);
        }
    }

    /// Adds a player of `name`, primed with what the stream has kept.
    pub(super) fn add_player(
        &self,
        conn: u64,
        name: &str,
        queue: &Arc<PlayerQueue>,
        protocol: Protocol,
    ) {
        let mut streams = lock(&self.streams);
        let stream = streams.entry(name.to_string()).or_default();
        if stream.publisher.is_some() {
            stream.cache.prime(queue);
        }
        stream.players.push(PlayerSlot {
            conn,
            queue: Arc::clone(queue),
            protocol,
        });
    }

    /// Removes the player `conn` of `name`.
    pub(super) fn remove_player(&self, conn: u64, name: &str) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        stream.players.retain(|player| player.conn != conn);
        if stream.is_idle() {
            streams.remove(name);
        }
    }

    /// Records metadata from the publisher `conn` and passes it on unless
    /// it is the same as the kept one.
    pub(super) fn relay_metadata(&self, conn: u64, name: &str, metadata: StreamMetadata) {
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(name) else {
            return;
        };
        if stream.publisher != Some(conn) {
            return;
        }
        // Publishers that send the same metadata again and again (GStreamer's
        // flvmux does) are relayed once; changed metadata replaces the kept
        // one and goes to the players at once.
        if stream.cache.metadata() == Some(&metadata) {
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
        if let Some(publication) = stream.publication.as_mut() {
            publication.count(&media);
        }
        stream.cache.remember(&media, max_gop_bytes);
        if let Some(hls) = stream.hls.as_mut() {
            hls.push(&media);
        }
        let resume = stream.cache.is_resume_point(&media);
        stream
            .players
            .iter()
            .map(|player| player.queue.push(Delivery::Media(media.clone()), resume))
            .sum()
    }

    /// Forgets the HLS state of publications that ended more than
    /// [`ENDED_LINGER`] ago, and the streams left with nothing.
    fn forget_ended_hls(streams: &mut HashMap<String, Stream>) {
        let now = Instant::now();
        streams.retain(|_, stream| {
            if stream
                .hls
                .as_ref()
                .and_then(HlsStream::ended)
                .is_some_and(|ended| now.duration_since(ended) > ENDED_LINGER)
            {
                stream.hls = None;
            }
            !stream.is_idle()
        });
    }

    /// Runs `look` on the HLS state of `name` and counts `viewer` when it
    /// finds what it looks for.
    fn with_hls<T>(
        &self,
        name: &str,
        viewer: IpAddr,
        look: impl FnOnce(&HlsStream) -> Result<T, Missing>,
    ) -> Result<T, Missing> {
        let mut streams = lock(&self.streams);
        Self::forget_ended_hls(&mut streams);
        let stream = streams
            .get_mut(name)
            .ok_or_else(|| Missing("the stream is not live".into()))?;
        let found = look(stream.live_hls()?)?;
        stream.saw_hls_viewer(viewer);
        Ok(found)
    }

    /// The HLS playlist of `name` (see [`HlsStream::playlist`]).
    pub(super) fn hls_playlist(
        &self,
        name: &str,
        rendition: &str,
        audio_only: bool,
        query: &str,
        viewer: IpAddr,
    ) -> Result<String, Missing> {
        self.with_hls(name, viewer, |hls| {
            hls.playlist(rendition, audio_only, query)
        })
    }

    /// Init segment `version` of publication `epoch` of `name`.
    pub(super) fn hls_init(
        &self,
        name: &str,
        epoch: u64,
        version: u32,
        viewer: IpAddr,
    ) -> Result<Arc<Init>, Missing> {
        self.with_hls(name, viewer, |hls| {
            if hls.epoch() != epoch {
                return Err(Missing(format!("publication {epoch} is over")));
            }
            hls.init(version)
                .ok_or_else(|| Missing(format!("no init segment {version}")))
        })
    }

    /// Segment `sequence` of publication `epoch` of `name`, while kept.
    pub(super) fn hls_segment(
        &self,
        name: &str,
        epoch: u64,
        sequence: u64,
        viewer: IpAddr,
    ) -> Result<Arc<Segment>, Missing> {
        self.with_hls(name, viewer, |hls| {
            if hls.epoch() != epoch {
                return Err(Missing(format!("publication {epoch} is over")));
            }
            hls.segment(sequence)
                .ok_or_else(|| Missing(format!("segment {sequence} is not kept")))
        })
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

    #[test]
    fn resent_metadata_is_relayed_only_when_it_changed() {
        use super::super::testing::queue;
        let registry = Registry::default();
        registry
            .decide(1, Role::Publish, "live", "m", None)
            .expect("publish");
        let (player, _wake) = queue(1 << 20);
        let player = Arc::new(player);
        registry.add_player(2, "live/m", &player, Protocol::Rtmp);
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(320);
        for _ in 0..5 {
            registry.relay_metadata(1, "live/m", metadata.clone());
        }
        metadata.video_width = Some(640);
        registry.relay_metadata(1, "live/m", metadata.clone());
        let (items, _) = player.take();
        let widths: Vec<_> = items
            .iter()
            .filter_map(|item| match item {
                Delivery::Metadata(metadata) => metadata.video_width,
                _ => None,
            })
            .collect();
        assert_eq!(widths, vec![320, 640]);
        // A late player gets the latest.
        let (late, _wake) = queue(1 << 20);
        let late = Arc::new(late);
        registry.add_player(3, "live/m", &late, Protocol::Rtmp);
        assert!(matches!(
            late.take().0.front(),
            Some(Delivery::Metadata(metadata)) if metadata.video_width == Some(640)
        ));
    }

    #[test]
    fn hls_is_served_while_live_counts_its_viewers_and_ends_with_the_publisher() {
        use bytes::Bytes;
        use rml_rtmp::time::RtmpTimestamp;
        let registry = Registry::default();
        let viewer: IpAddr = "10.0.0.1".parse().expect("address");
        let missing = registry.hls_playlist("live/h", "h", false, "", viewer);
        assert_eq!(missing, Err(Missing("the stream is not live".into())));
        registry
            .decide(1, Role::Publish, "live", "h", None)
            .expect("publish");
        let audio = |timestamp: u32, body: &[u8]| {
            Media::new(
                Track::Audio,
                RtmpTimestamp::new(timestamp),
                Bytes::copy_from_slice(body),
            )
        };
        registry.relay_media(1, "live/h", audio(0, &[0xaf, 0, 0x12, 0x10]), 1 << 20);
        // Three segments of about 2 s make a live playlist.
        for i in 0..330u32 {
            registry.relay_media(
                1,
                "live/h",
                audio(i * 1024 * 1000 / 44100, &[0xaf, 1, 0x21]),
                1 << 20,
            );
        }
        let playlist = registry
            .hls_playlist("live/h", "h", false, "", viewer)
            .expect("a segment is complete");
        assert!(playlist.contains("#EXTINF:"), "{playlist}");
        let other: IpAddr = "10.0.0.2".parse().expect("address");
        let segment = registry.hls_segment("live/h", 0, 0, other);
        assert!(segment.is_err(), "another publication's epoch");
        let epoch = playlist
            .lines()
            .find_map(|line| line.strip_prefix("h/"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|epoch| epoch.parse().ok())
            .expect("an epoch in the URIs");
        assert!(registry.hls_segment("live/h", epoch, 0, other).is_ok());
        assert!(registry.hls_init("live/h", epoch, 0, other).is_ok());
        assert!(registry.hls_segment("live/h", epoch, 99, other).is_err());
        assert_eq!(registry.live_streams()[0].viewers.hls, 2);

        registry.end_publishing(1, "live/h");
        assert!(registry.live_streams().is_empty());
        let ended = registry
            .hls_playlist("live/h", "h", false, "", viewer)
            .expect("the ended playlist lingers");
        assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
        // A new publication replaces it at once.
        registry
            .decide(2, Role::Publish, "live", "h", None)
            .expect("publish again");
        assert_eq!(
            registry.hls_playlist("live/h", "h", false, "", viewer),
            Err(Missing("no H.264 or AAC media yet".into()))
        );
    }

    #[test]
    fn waiting_players_hear_when_a_publisher_begins_and_ends() {
        use super::super::testing::queue;
        let registry = Registry::default();
        let (player, _wake) = queue(1 << 20);
        let player = Arc::new(player);
        registry.add_player(2, "live/w", &player, Protocol::Rtmp);
        for _ in 0..2 {
            registry
                .decide(1, Role::Publish, "live", "w", None)
                .expect("publish");
            registry.end_publishing(1, "live/w");
        }
        let (items, _) = player.take();
        let notices: Vec<&str> = items
            .iter()
            .map(|item| match item {
                Delivery::Begin => "begin",
                Delivery::End => "end",
                _ => "other",
            })
            .collect();
        assert_eq!(notices, vec!["begin", "end", "begin", "end"]);
    }
}
