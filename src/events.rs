//! Events, with the plugin's numeric codes, and their JSON-lines form.
//!
//! A [`PushEvent`] is a state change or warning with a [`PushCode`] (the
//! number users of the plugin already handle) and a message. [`NetStatus`]
//! is the periodic statistics record. [`EventLine`] is what the `liveroom`
//! command prints with `--events json`, one object per line
//! ([`EventPrinter`] decides what goes where):
//!
//! ```
//! use liveroom::events::{EventLine, PushCode, PushEvent};
//! let line = EventLine::from(PushEvent::new(PushCode::Publishing, "publishing live/room1"));
//! assert_eq!(
//!     line.to_json(),
//!     r#"{"tag":"pushEvent","code":1002,"message":"publishing live/room1"}"#
//! );
//! ```

use serde::Serialize;

use crate::audio::BgmEvent;

mod printer;
pub use printer::{EventPrinter, Printed};

/// The pusher's event codes (`pushEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushCode {
    /// 1001: connected to the server.
    Connected,
    /// 1002: handshake done, publishing.
    Publishing,
    /// 1003: the frame source opened.
    SourceOpened,
    /// 1005: the output resolution changed.
    ResolutionChanged,
    /// 1006: the bitrate changed (RTC adaptation).
    BitrateChanged,
    /// 1007: the first frame was captured.
    FirstFrame,
    /// 1008: the encoder started.
    EncoderStarted,
    /// 5000: went to the background (paused).
    Background,
    /// 1101: the uplink is too slow for the bitrate.
    UplinkSlow,
    /// 1102: the connection dropped; reconnecting.
    Reconnecting,
    /// 1110 (liveroom's own): a paced push fell more than half a second
    /// behind real time (the source, effects or encoder are too slow for
    /// the frame rate); repeated at most every 5 s while it stays behind.
    FallingBehind,
    /// 3001: the host name did not resolve.
    DnsFailure,
    /// 3002: the TCP connection failed.
    ConnectFailure,
    /// 3003: the RTMP handshake failed.
    HandshakeFailure,
    /// 3004: the server closed the connection or refused the stream.
    ServerClosed,
    /// 3005: reading or writing the socket failed.
    ReadWriteFailure,
    /// -1301: the frame source failed.
    SourceFailed,
    /// -1302: the audio source failed.
    MicrophoneFailed,
    /// -1303: video encoding failed.
    VideoEncodeFailed,
    /// -1304: audio encoding failed.
    AudioEncodeFailed,
    /// -1305: unsupported resolution.
    UnsupportedResolution,
    /// -1306: unsupported sample rate.
    UnsupportedSampleRate,
    /// -1307: disconnected after the reconnect attempts ran out.
    Disconnected,
}

impl PushCode {
    /// The plugin's number for this event.
    pub fn code(self) -> i32 {
        match self {
            PushCode::Connected => 1001,
            PushCode::Publishing => 1002,
            PushCode::SourceOpened => 1003,
            PushCode::ResolutionChanged => 1005,
            PushCode::BitrateChanged => 1006,
            PushCode::FirstFrame => 1007,
            PushCode::EncoderStarted => 1008,
            PushCode::Background => 5000,
            PushCode::UplinkSlow => 1101,
            PushCode::Reconnecting => 1102,
            PushCode::FallingBehind => 1110,
            PushCode::DnsFailure => 3001,
            PushCode::ConnectFailure => 3002,
            PushCode::HandshakeFailure => 3003,
            PushCode::ServerClosed => 3004,
            PushCode::ReadWriteFailure => 3005,
            PushCode::SourceFailed => -1301,
            PushCode::MicrophoneFailed => -1302,
            PushCode::VideoEncodeFailed => -1303,
            PushCode::AudioEncodeFailed => -1304,
            PushCode::UnsupportedResolution => -1305,
            PushCode::UnsupportedSampleRate => -1306,
            PushCode::Disconnected => -1307,
        }
    }

    /// Errors end the push; warnings and states do not.
    pub fn is_error(self) -> bool {
        self.code() < 0
    }

    /// Warnings: something went wrong and the pusher carries on (a slow
    /// uplink, a dropped connection it is reconnecting, a network failure).
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            PushCode::UplinkSlow
                | PushCode::Reconnecting
                | PushCode::FallingBehind
                | PushCode::DnsFailure
                | PushCode::ConnectFailure
                | PushCode::HandshakeFailure
                | PushCode::ServerClosed
                | PushCode::ReadWriteFailure
        )
    }
}

/// A pusher event: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// What happened.
    pub code: PushCode,
    /// Details for people.
    pub message: String,
}

impl PushEvent {
    /// An event with a message.
    pub fn new(code: PushCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The player's event codes (`playEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayCode {
    /// 2001: connected to the server.
    Connected,
    /// 2002: the stream begins (play accepted).
    StreamBegins,
    /// 2003: the first key frame arrived.
    FirstKeyFrame,
    /// 2004: playback begins (the cache reached `minCache`).
    PlaybackBegins,
    /// 2005: playback progress.
    Progress,
    /// 2006: the stream ended.
    StreamEnded,
    /// 2007: loading (buffering).
    Loading,
    /// 2008: the decoder started.
    DecoderStarted,
    /// 2009: the resolution changed.
    ResolutionChanged,
    /// 2101: a video frame could not be decoded.
    VideoDecodeFailed,
    /// 2102: audio could not be decoded.
    AudioDecodeFailed,
    /// 2103: the connection dropped; reconnecting.
    Reconnecting,
    /// 2104: incoming data is unstable.
    DataUnstable,
    /// 2105: playback stuttered.
    Stutter,
    /// 2107: a discontinuity: frames were skipped.
    Discontinuity,
    /// 3001: the host name did not resolve.
    DnsFailure,
    /// 3002: the TCP connection failed.
    ConnectFailure,
    /// 3003: the RTMP handshake failed.
    HandshakeFailure,
    /// 3004: the server closed the connection or refused the stream.
    ServerClosed,
    /// 3005: reading or writing the socket failed.
    ReadWriteFailure,
    /// -2301: disconnected after the reconnect attempts ran out.
    Disconnected,
}

impl PlayCode {
    /// The plugin's number for this event.
    pub fn code(self) -> i32 {
        match self {
            PlayCode::Connected => 2001,
            PlayCode::StreamBegins => 2002,
            PlayCode::FirstKeyFrame => 2003,
            PlayCode::PlaybackBegins => 2004,
            PlayCode::Progress => 2005,
            PlayCode::StreamEnded => 2006,
            PlayCode::Loading => 2007,
            PlayCode::DecoderStarted => 2008,
            PlayCode::ResolutionChanged => 2009,
            PlayCode::VideoDecodeFailed => 2101,
            PlayCode::AudioDecodeFailed => 2102,
            PlayCode::Reconnecting => 2103,
            PlayCode::DataUnstable => 2104,
            PlayCode::Stutter => 2105,
            PlayCode::Discontinuity => 2107,
            PlayCode::DnsFailure => 3001,
            PlayCode::ConnectFailure => 3002,
            PlayCode::HandshakeFailure => 3003,
            PlayCode::ServerClosed => 3004,
            PlayCode::ReadWriteFailure => 3005,
            PlayCode::Disconnected => -2301,
        }
    }

    /// Errors end the playback; warnings and states do not.
    pub fn is_error(self) -> bool {
        self.code() < 0
    }

    /// Warnings: something went wrong and the player carries on (a frame
    /// it could not decode, a reconnect, a stutter, a network failure).
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            PlayCode::VideoDecodeFailed
                | PlayCode::AudioDecodeFailed
                | PlayCode::Reconnecting
                | PlayCode::DataUnstable
                | PlayCode::Stutter
                | PlayCode::Discontinuity
                | PlayCode::DnsFailure
                | PlayCode::ConnectFailure
                | PlayCode::HandshakeFailure
                | PlayCode::ServerClosed
                | PlayCode::ReadWriteFailure
        )
    }
}

/// A player event: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayEvent {
    /// What happened.
    pub code: PlayCode,
    /// Details for people.
    pub message: String,
}

impl PlayEvent {
    /// An event with a message.
    pub fn new(code: PlayCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<PlayEvent> for EventLine {
    fn from(event: PlayEvent) -> Self {
        EventLine::PlayEvent {
            code: event.code.code(),
            message: event.message,
        }
    }
}

/// The periodic statistics record (`netStatus`), about once a second.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetStatus {
    /// Video bitrate sent over the last interval, kbps.
    pub video_bitrate: f64,
    /// Audio bitrate sent over the last interval, kbps.
    pub audio_bitrate: f64,
    /// Frames sent per second over the last interval.
    #[serde(rename = "videoFPS")]
    pub video_fps: f64,
    /// Key-frame interval, seconds.
    #[serde(rename = "videoGOP")]
    pub video_gop: f64,
    /// Bytes that left the socket over the last interval, as kbps.
    pub net_speed: f64,
    /// Variation of the send delay (ms): how unevenly frames leave.
    pub net_jitter: f64,
    /// Picture width.
    pub video_width: u32,
    /// Picture height.
    pub video_height: u32,
    /// Player only: seconds of video buffered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_cache: Option<f64>,
    /// Player only: seconds of audio buffered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_cache: Option<f64>,
}

/// The pusher's `netStatus`: the figures both components report, and how
/// far a paced push runs behind real time. It dereferences to the
/// [`NetStatus`] it carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNetStatus {
    /// The figures shared with the player.
    #[serde(flatten)]
    pub status: NetStatus,
    /// How late the latest frame went out against its due time when the
    /// push is paced, ms (0 on time, and always 0 unpaced).
    pub behind_ms: f64,
}

impl std::ops::Deref for PushNetStatus {
    type Target = NetStatus;

    fn deref(&self) -> &NetStatus {
        &self.status
    }
}

/// One line of `--events json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "tag")]
pub enum EventLine {
    /// A pusher state change or warning.
    #[serde(rename = "pushEvent")]
    PushEvent {
        /// Numeric code.
        code: i32,
        /// Message.
        message: String,
    },
    /// A player state change or warning.
    #[serde(rename = "playEvent")]
    PlayEvent {
        /// Numeric code.
        code: i32,
        /// Message.
        message: String,
    },
    /// Periodic statistics.
    #[serde(rename = "netStatus")]
    NetStatus(NetStatus),
    /// The pusher's periodic statistics (the same `netStatus` line, with
    /// `behindMs`).
    #[serde(rename = "netStatus")]
    PushNetStatus(PushNetStatus),
    /// `bgmStart`: background music started.
    #[serde(rename = "bgmStart", rename_all = "camelCase")]
    BgmStart {
        /// The music file.
        path: String,
        /// Its length in ms, when the file states it.
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
    },
    /// `bgmProgress`: about once a second while the music plays.
    #[serde(rename = "bgmProgress", rename_all = "camelCase")]
    BgmProgress {
        /// Played so far, ms.
        progress_ms: u64,
        /// Its length in ms, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
    },
    /// `bgmComplete`: the music reached its end.
    #[serde(rename = "bgmComplete")]
    BgmComplete {
        /// The music file.
        path: String,
    },
    /// `fullscreenChange`: the player window went full screen or back.
    #[serde(rename = "fullscreenChange")]
    FullscreenChange {
        /// Whether it is full screen now.
        fullscreen: bool,
    },
    /// The URL or its authorization was rejected (code -1), or another
    /// error that has no event code.
    #[serde(rename = "error")]
    Error {
        /// Always -1 for authorization errors.
        code: i32,
        /// What went wrong.
        detail: String,
    },
}

impl EventLine {
    /// The line as compact JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail; fall back to a
        // minimal line rather than panic.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"tag":"error","code":-1}"#.into())
    }
}

impl EventLine {
    /// The `error` line (code -1) for a refused URL or authorization.
    pub fn refused(detail: impl Into<String>) -> Self {
        EventLine::Error {
            code: -1,
            detail: detail.into(),
        }
    }
}

impl From<PushEvent> for EventLine {
    fn from(event: PushEvent) -> Self {
        EventLine::PushEvent {
            code: event.code.code(),
            message: event.message,
        }
    }
}

impl From<BgmEvent> for EventLine {
    fn from(event: BgmEvent) -> Self {
        let millis = |d: std::time::Duration| d.as_millis() as u64;
        match event {
            BgmEvent::Start { path, duration } => EventLine::BgmStart {
                path: path.display().to_string(),
                duration_ms: duration.map(millis),
            },
            BgmEvent::Progress { progress, duration } => EventLine::BgmProgress {
                progress_ms: millis(progress),
                duration_ms: duration.map(millis),
            },
            BgmEvent::Complete { path } => EventLine::BgmComplete {
                path: path.display().to_string(),
            },
        }
    }
}

impl From<PushNetStatus> for EventLine {
    fn from(status: PushNetStatus) -> Self {
        EventLine::PushNetStatus(status)
    }
}

impl From<NetStatus> for EventLine {
    fn from(status: NetStatus) -> Self {
        EventLine::NetStatus(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_net_status_adds_behind_ms_to_the_same_line() {
        let status = PushNetStatus {
            status: NetStatus {
                video_fps: 18.5,
                ..Default::default()
            },
            behind_ms: 750.0,
        };
        assert_eq!(status.video_fps, 18.5);
        let json = EventLine::from(status).to_json();
        assert!(json.contains(r#""tag":"netStatus""#), "{json}");
        assert!(json.contains(r#""videoFPS":18.5"#), "{json}");
        assert!(json.contains(r#""behindMs":750.0"#), "{json}");
    }

    #[test]
    fn net_status_uses_the_plugin_field_names() {
        let status = NetStatus {
            video_bitrate: 998.5,
            video_fps: 30.0,
            video_gop: 2.0,
            video_width: 720,
            video_height: 1280,
            ..Default::default()
        };
        let json = EventLine::from(status).to_json();
        for field in [
            r#""tag":"netStatus""#,
            r#""videoBitrate":998.5"#,
            r#""audioBitrate":0.0"#,
            r#""videoFPS":30.0"#,
            r#""videoGOP":2.0"#,
            r#""netSpeed":0.0"#,
            r#""netJitter":0.0"#,
            r#""videoWidth":720"#,
            r#""videoHeight":1280"#,
        ] {
            assert!(json.contains(field), "{field} missing from {json}");
        }
        assert!(!json.contains("videoCache"));
    }

    #[test]
    fn bgm_callbacks_have_the_plugin_names() {
        let progress = BgmEvent::Progress {
            progress: std::time::Duration::from_millis(2000),
            duration: Some(std::time::Duration::from_millis(5500)),
        };
        assert_eq!(
            EventLine::from(progress).to_json(),
            r#"{"tag":"bgmProgress","progressMs":2000,"durationMs":5500}"#
        );
        let complete = BgmEvent::Complete {
            path: "music.mp3".into(),
        };
        assert_eq!(
            EventLine::from(complete).to_json(),
            r#"{"tag":"bgmComplete","path":"music.mp3"}"#
        );
    }

    #[test]
    fn codes_match_the_plugin() {
        assert_eq!(PushCode::Reconnecting.code(), 1102);
        assert_eq!(PushCode::FallingBehind.code(), 1110);
        assert!(PushCode::FallingBehind.is_warning());
        assert_eq!(PushCode::Disconnected.code(), -1307);
        assert!(PushCode::VideoEncodeFailed.is_error());
        assert!(!PushCode::ConnectFailure.is_error());
        let error = EventLine::Error {
            code: -1,
            detail: "bad signature".into(),
        };
        assert_eq!(
            error.to_json(),
            r#"{"tag":"error","code":-1,"detail":"bad signature"}"#
        );
    }
}
