//! What a program shows of the events of a push or a play: with
//! `--events json` every event as one JSON line on stdout; otherwise only
//! the warnings, in words on stderr, as they happen (an error ends the run
//! with its own last line, so it is not printed twice).
//!
//! The printer only decides; it writes nothing, so that a caller with a
//! live progress line can print above it.
//!
//! ```
//! use liveroom::events::{EventPrinter, PushCode, PushEvent};
//! use liveroom::pusher::PusherEvent;
//!
//! let words = EventPrinter::new("pusher", false);
//! let warning = PusherEvent::Push(PushEvent::new(PushCode::Reconnecting, "reconnecting"));
//! let printed = words.pusher_event(&warning);
//! assert_eq!(printed.stderr.as_deref(), Some("pusher: event 1102: reconnecting"));
//! assert_eq!(printed.stdout, None);
//! ```

use super::{EventLine, PushEvent};
use crate::player::PlayerEvent;
use crate::pusher::{PushError, PusherEvent};

/// Where an event's text goes: at most one line for each stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    /// A line for stdout (the JSON form).
    pub stdout: Option<String>,
    /// A line for stderr (a warning in words).
    pub stderr: Option<String>,
}

/// Turns events into the lines a program prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPrinter {
    /// Names the program in stderr lines (`pusher`, `player`).
    component: &'static str,
    /// Every event as JSON on stdout, instead of warnings on stderr.
    json: bool,
}

impl EventPrinter {
    /// A printer whose stderr lines start with `component`; with `json`,
    /// every event goes to stdout as a JSON line and nothing to stderr.
    pub fn new(component: &'static str, json: bool) -> Self {
        Self { component, json }
    }

    /// Whether events are printed as JSON lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The lines for one of the pusher's events.
    pub fn pusher_event(&self, event: &PusherEvent) -> Printed {
        let warning = match event {
            PusherEvent::Push(push) if push.code.is_warning() => {
                Some((push.code.code(), push.message.as_str()))
            }
            _ => None,
        };
        self.lines(EventLine::from(event.clone()), warning)
    }

    /// The lines for one of the player's events.
    pub fn player_event(&self, event: &PlayerEvent) -> Printed {
        let warning = match event {
            PlayerEvent::Play(play) if play.code.is_warning() => {
                Some((play.code.code(), play.message.as_str()))
            }
            _ => None,
        };
        self.lines(EventLine::from(event.clone()), warning)
    }

    /// The event line for a push that could not start with an error that
    /// has a plugin code (a microphone file that cannot be read is -1302):
    /// in JSON mode, the event a running push would have raised.
    pub fn push_start_error(&self, error: &PushError) -> Printed {
        match (self.json, error.code()) {
            (true, Some(code)) => Printed {
                stdout: Some(EventLine::from(PushEvent::new(code, error.to_string())).to_json()),
                stderr: None,
            },
            _ => Printed::default(),
        }
    }

    fn lines(&self, line: EventLine, warning: Option<(i32, &str)>) -> Printed {
        if self.json {
            return Printed {
                stdout: Some(line.to_json()),
                stderr: None,
            };
        }
        Printed {
            stdout: None,
            stderr: warning
                .map(|(code, message)| format!("{}: event {code}: {message}", self.component)),
        }
    }
}

impl From<PusherEvent> for EventLine {
    fn from(event: PusherEvent) -> Self {
        match event {
            PusherEvent::Push(event) => EventLine::from(event),
            PusherEvent::NetStatus(status) => EventLine::from(status),
            PusherEvent::Bgm(event) => EventLine::from(event),
            PusherEvent::Error(detail) => EventLine::refused(detail),
        }
    }
}

impl From<PlayerEvent> for EventLine {
    fn from(event: PlayerEvent) -> Self {
        match event {
            PlayerEvent::Play(event) => EventLine::from(event),
            PlayerEvent::NetStatus(status) => EventLine::from(status),
            PlayerEvent::Error(detail) => EventLine::refused(detail),
            PlayerEvent::FullscreenChange(fullscreen) => EventLine::FullscreenChange { fullscreen },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{NetStatus, PlayCode, PlayEvent, PushCode};

    #[test]
    fn warnings_and_errors_are_told_apart_on_both_enums() {
        for code in [
            PushCode::Reconnecting,
            PushCode::UplinkSlow,
            PushCode::ReadWriteFailure,
        ] {
            assert!(code.is_warning() && !code.is_error(), "{code:?}");
        }
        for code in [
            PushCode::Publishing,
            PushCode::BitrateChanged,
            PushCode::Background,
        ] {
            assert!(!code.is_warning() && !code.is_error(), "{code:?}");
        }
        assert!(PushCode::Disconnected.is_error() && !PushCode::Disconnected.is_warning());
        for code in [
            PlayCode::VideoDecodeFailed,
            PlayCode::Reconnecting,
            PlayCode::Discontinuity,
        ] {
            assert!(code.is_warning() && !code.is_error(), "{code:?}");
        }
        for code in [
            PlayCode::PlaybackBegins,
            PlayCode::StreamEnded,
            PlayCode::Progress,
        ] {
            assert!(!code.is_warning() && !code.is_error(), "{code:?}");
        }
        assert!(PlayCode::Disconnected.is_error() && !PlayCode::Disconnected.is_warning());
    }

    #[test]
    fn words_show_only_warnings_on_stderr() {
        let printer = EventPrinter::new("player", false);
        let state = PlayerEvent::Play(PlayEvent::new(PlayCode::PlaybackBegins, "playing"));
        assert_eq!(printer.player_event(&state), Printed::default());
        let stats = PlayerEvent::NetStatus(NetStatus::default());
        assert_eq!(printer.player_event(&stats), Printed::default());
        let warning = PlayerEvent::Play(PlayEvent::new(PlayCode::Stutter, "stalled 0.4 s"));
        assert_eq!(
            printer.player_event(&warning).stderr.as_deref(),
            Some("player: event 2105: stalled 0.4 s")
        );
    }

    #[test]
    fn json_prints_every_event_on_stdout_and_nothing_on_stderr() {
        let printer = EventPrinter::new("pusher", true);
        let warning = PusherEvent::Push(PushEvent::new(PushCode::Reconnecting, "again"));
        assert_eq!(
            printer.pusher_event(&warning),
            Printed {
                stdout: Some(r#"{"tag":"pushEvent","code":1102,"message":"again"}"#.into()),
                stderr: None,
            }
        );
        let refused = PusherEvent::Error("bad signature".into());
        assert_eq!(
            printer.pusher_event(&refused).stdout.as_deref(),
            Some(r#"{"tag":"error","code":-1,"detail":"bad signature"}"#)
        );
    }

    #[test]
    fn a_start_error_with_a_code_is_an_event_in_json_only() {
        let error = PushError::Microphone(crate::audio::AudioError::File {
            path: "song.mp3".into(),
            reason: "no such file".into(),
        });
        let json = EventPrinter::new("pusher", true).push_start_error(&error);
        let line = json.stdout.expect("a JSON line");
        assert!(line.contains(r#""code":-1302"#), "{line}");
        assert_eq!(
            EventPrinter::new("pusher", false).push_start_error(&error),
            Printed::default()
        );
    }
}
