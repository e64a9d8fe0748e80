//! The main job's check: a stream pushed to the embedded server is played
//! back from it at the same time, and what arrived is compared with what
//! left: every frame counted by its stamp, its luma PSNR against the frame
//! that was pushed, the push-to-display latency, and the sound (decoded,
//! and with the test tone its beeps within [`Thresholds::max_av_offset_ms`]
//! of the picture stamped for the same instant).
//!
//! [`SelfPlayback`] starts the player with a [`PlaybackCheck`] as its frame
//! sink; the pusher's frame tap hands every processed frame to the same
//! check. [`PushReport`] gathers the push's and the playback's figures into
//! the JSON summary, the verdict and a summary in words.
//!
//! ```no_run
//! use std::time::Duration;
//! use liveroom::player::PlayMode;
//! use liveroom::verify::SelfPlayback;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let playback = SelfPlayback::start("rtmp://127.0.0.1:1935/live/room", PlayMode::Live,
//!     Duration::from_secs(60))?;
//! let check = playback.check();
//! // In the pusher's frame tap: check.pushed(index, frame);
//! let played = playback.finish(true)?;
//! println!("{} frames shown", played.summary.frames_displayed);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

use crate::frame::I420Frame;
use crate::player::verify::{luma_psnr, Spread};
use crate::player::{
    AudioSummary, Displayed, FrameSink, LivePlayer, PlayMode, PlaySummary, PlayerConfig,
    PlayerError, StampCounts,
};
use crate::pusher::PushSummary;

/// What a push and its playback must reach to pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Lowest luma PSNR of any frame shown against the frame pushed, dB.
    pub min_psnr_db: f64,
    /// Furthest a beep of the test tone may land from the frame stamped
    /// for the same instant, ms, either way.
    pub max_av_offset_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_psnr_db: 30.0,
            max_av_offset_ms: 40.0,
        }
    }
}

/// Frames the pusher processed and the player has not shown yet are kept
/// for comparison up to this many (the player is about a second behind;
/// older ones are dropped from the comparison).
const KEPT_FOR_PLAYBACK: usize = 240;

/// PSNR of identical frames is infinite; it counts as this.
const IDENTICAL_PSNR_DB: f64 = 100.0;

#[derive(Default)]
struct CheckState {
    /// Frames pushed and not yet shown, by stamp: when each was processed.
    pushed: BTreeMap<u32, (Instant, I420Frame)>,
    latencies: Vec<Duration>,
    psnr: Vec<f64>,
}

/// Pairs each frame the player shows with the frame the pusher processed
/// under the same stamp: latency and PSNR.
#[derive(Default)]
pub struct PlaybackCheck {
    state: Mutex<CheckState>,
}

impl PlaybackCheck {
    fn state(&self) -> MutexGuard<'_, CheckState> {
        // A panic elsewhere while holding the lock leaves plain numbers
        // behind: keep using them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pusher processed frame `index` (its stamp) at this instant.
    pub fn pushed(&self, index: u64, frame: &I420Frame) {
        let Ok(stamp) = u32::try_from(index) else {
            return;
        };
        let mut state = self.state();
        state.pushed.insert(stamp, (Instant::now(), frame.clone()));
        while state.pushed.len() > KEPT_FOR_PLAYBACK {
            state.pushed.pop_first();
        }
    }

    /// The player showed `frame`; with a stamp it is paired with the
    /// frame pushed under it.
    pub fn shown(&self, frame: &I420Frame, shown: &Displayed) {
        let Some(stamp) = shown.stamp else {
            return;
        };
        let mut state = self.state();
        if let Some((at, original)) = state.pushed.remove(&stamp) {
            state.latencies.push(shown.at.saturating_duration_since(at));
            if let Some(psnr) = luma_psnr(&original, frame) {
                state.psnr.push(psnr.min(IDENTICAL_PSNR_DB));
            }
        }
    }

    /// A frame sink for [`LivePlayer`] that feeds this check.
    pub fn frame_sink(self: &Arc<Self>) -> FrameSink {
        let check = Arc::clone(self);
        Box::new(move |frame, shown| {
            check.shown(frame, &shown);
            Ok(())
        })
    }

    /// Push-to-display latency (ms) and PSNR (dB) of the frames paired so
    /// far.
    pub fn measured(&self) -> (Option<Spread>, Option<Spread>) {
        let state = self.state();
        (
            Spread::of_durations(&state.latencies),
            Spread::of(&state.psnr),
        )
    }
}

/// The player on the embedded server's stream, checking what it shows.
pub struct SelfPlayback {
    check: Arc<PlaybackCheck>,
    player: LivePlayer,
}

/// What the playback saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// The player's totals (stamps and sound included).
    pub summary: PlaySummary,
    /// Push-to-display latency, ms.
    pub latency_ms: Option<Spread>,
    /// Luma PSNR of each shown frame against the frame pushed, dB.
    pub psnr: Option<Spread>,
}

impl SelfPlayback {
    /// Starts playing `url` (stamps verified), giving up after `limit` at
    /// the latest (a safety net: the player ends with the stream).
    pub fn start(url: &str, mode: PlayMode, limit: Duration) -> Result<Self, PlayerError> {
        let check = Arc::new(PlaybackCheck::default());
        let config = PlayerConfig {
            play_url: url.to_string(),
            mode,
            verify_stamps: true,
            timeout: Some(limit),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, Some(check.frame_sink()))?;
        Ok(Self { check, player })
    }

    /// The check the pusher's frame tap reports pushed frames to.
    pub fn check(&self) -> Arc<PlaybackCheck> {
        Arc::clone(&self.check)
    }

    /// After a good push the player ends with the stream: wait for it.
    /// After a failed one it would wait for a stream that never ends: stop
    /// it.
    pub fn finish(self, push_succeeded: bool) -> Result<Playback, PlayerError> {
        let summary = if push_succeeded {
            self.player.wait()
        } else {
            self.player.stop()
        }?;
        let (latency_ms, psnr) = self.check.measured();
        Ok(Playback {
            summary,
            latency_ms,
            psnr,
        })
    }
}

/// What the sound of a push must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundCheck {
    /// No audio track: nothing to check.
    None,
    /// It arrived and every packet decoded.
    Decodes,
    /// It decoded, and the test tone's beeps line up with the stamped
    /// picture.
    InSync,
}

/// What the run is expected to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectations {
    /// The source stamps every frame (`testsrc`): every stamp must read
    /// back, and none may be lost, repeated or out of order.
    pub stamped: bool,
    /// The stream has pictures (not an audio-only push).
    pub video: bool,
    /// What the sound must show.
    pub sound: SoundCheck,
}

/// The verification found a fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("verification failed: {0}")]
pub struct VerificationFailed(pub String);

/// Everything a push reports at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct PushReport {
    /// The pusher's totals.
    pub push: PushSummary,
    /// Where it pushed.
    pub url: Option<String>,
    /// With a stamped source: frames whose stamp was read back from the
    /// processed picture.
    pub stamps_read: Option<u64>,
    /// With self-playback: what the player saw.
    pub playback: Option<Playback>,
}

impl PushReport {
    /// The JSON summary line's object (`"tag":"summary"`).
    pub fn to_json(&self) -> Value {
        let mut line = json(&self.push);
        let Some(object) = line.as_object_mut() else {
            return line;
        };
        object.insert("tag".into(), "summary".into());
        if let Some(url) = &self.url {
            object.insert("url".into(), url.clone().into());
        }
        if let Some(read) = self.stamps_read {
            object.insert("stampsVerified".into(), read.into());
        }
        if let Some(playback) = &self.playback {
            let summary = &playback.summary;
            object.insert("framesReceived".into(), summary.frames_displayed.into());
            object.insert("playback".into(), json(&summary.stamps));
            object.insert("latencyMs".into(), json(&playback.latency_ms));
            object.insert("psnr".into(), json(&playback.psnr));
            if let Some(audio) = &summary.audio {
                object.insert("audioPlayback".into(), json(audio));
            }
        }
        line
    }

    /// Every fault found, worst first.
    pub fn failures(&self, expect: &Expectations, thresholds: &Thresholds) -> Vec<String> {
        let mut failures = Vec::new();
        if let Some(playback) = &self.playback {
            let summary = &playback.summary;
            let stamps = summary.stamps.unwrap_or_default();
            if summary.frames_displayed != self.push.frames_sent
                || (expect.stamped && stamp_faults(&stamps) > 0)
            {
                failures.push(format!(
                    "playback: {} of {} frames shown ({} lost, {} repeated, {} out of order, {} unreadable)",
                    summary.frames_displayed,
                    self.push.frames_sent,
                    stamps.lost,
                    stamps.repeated,
                    stamps.out_of_order,
                    stamps.unreadable
                ));
            }
            failures.extend(sound_failures(summary.audio.as_ref(), expect, thresholds));
            let psnr_low = playback
                .psnr
                .is_none_or(|psnr| psnr.min < thresholds.min_psnr_db);
            if expect.video && expect.stamped && psnr_low {
                failures.push(format!(
                    "playback: PSNR against the pushed frames {:?}",
                    playback.psnr
                ));
            }
        }
        if let (true, Some(read)) = (expect.stamped, self.stamps_read) {
            if read != self.push.frames_captured {
                failures.push(format!(
                    "{read} of {} frame stamps read back",
                    self.push.frames_captured
                ));
            }
        }
        failures
    }

    /// `Ok` when nothing is wrong; otherwise the worst fault.
    pub fn verdict(
        &self,
        expect: &Expectations,
        thresholds: &Thresholds,
    ) -> Result<(), VerificationFailed> {
        match self.failures(expect, thresholds).into_iter().next() {
            Some(failure) => Err(VerificationFailed(failure)),
            None => Ok(()),
        }
    }

    /// A few lines for people: what was pushed, and what came back.
    pub fn in_words(&self) -> String {
        let push = &self.push;
        let mut lines = Vec::new();
        let target = self.url.as_deref().map(strip_query).unwrap_or("the output");
        if push.width > 0 {
            lines.push(format!(
                "Pushed {} frames ({}×{}, {:.0} kbps, processed at {:.1} fps) to {target}; {} dropped, {} reconnect{}.",
                push.frames_sent,
                push.width,
                push.height,
                push.video_kbps,
                push.fps,
                push.frames_dropped,
                push.reconnects,
                plural(push.reconnects as u64),
            ));
        } else {
            lines.push(format!(
                "Pushed {:.1} s of sound to {target}; {} reconnect{}.",
                push.audio_seconds,
                push.reconnects,
                plural(push.reconnects as u64)
            ));
        }
        if let Some(read) = self.stamps_read {
            lines.push(format!(
                "{read}/{} frame stamps read back from the processed picture.",
                push.frames_captured
            ));
        }
        if let Some(playback) = &self.playback {
            let mut parts = Vec::new();
            let summary = &playback.summary;
            if push.width > 0 {
                let arrived = format!(
                    "{}/{} frames arrived",
                    summary.frames_displayed, push.frames_sent
                );
                parts.push(match summary.stamps {
                    Some(stamps) => format!("{arrived}, {}", describe_stamps(&stamps)),
                    None => arrived,
                });
            }
            if let Some(psnr) = playback.psnr {
                parts.push(format!(
                    "PSNR median {:.1} dB (lowest {:.1})",
                    psnr.median, psnr.min
                ));
            }
            if let Some(latency) = playback.latency_ms {
                parts.push(format!("push→display {}", describe_millis(latency.median)));
            }
            parts.push(describe_sound(summary.audio.as_ref()));
            lines.push(format!("Played back: {}.", parts.join("; ")));
        }
        lines.join("\n")
    }
}

/// A few lines for people about a finished playback.
pub fn describe_playback(summary: &PlaySummary) -> String {
    let mut parts = vec![format!(
        "{} frames shown ({}×{}), {} skipped, {} decode error{}",
        summary.frames_displayed,
        summary.width,
        summary.height,
        summary.frames_skipped,
        summary.decode_errors,
        plural(summary.decode_errors)
    )];
    if let Some(stamps) = summary.stamps {
        parts.push(format!("stamps: {}", describe_stamps(&stamps)));
    }
    if let Some(psnr) = summary.psnr {
        parts.push(format!(
            "PSNR median {:.1} dB (lowest {:.1})",
            psnr.median, psnr.min
        ));
    }
    parts.push(describe_sound(summary.audio.as_ref()));
    if summary.reconnects > 0 {
        parts.push(format!(
            "{} reconnect{}",
            summary.reconnects,
            plural(summary.reconnects as u64)
        ));
    }
    format!("Played {:.1} s: {}.", summary.seconds, parts.join("; "))
}

fn stamp_faults(stamps: &StampCounts) -> u64 {
    stamps.lost + stamps.repeated + stamps.out_of_order + stamps.unreadable
}

fn sound_failures(
    audio: Option<&AudioSummary>,
    expect: &Expectations,
    thresholds: &Thresholds,
) -> Vec<String> {
    if expect.sound == SoundCheck::None {
        return Vec::new();
    }
    let Some(audio) = audio else {
        return vec!["playback: no sound arrived".into()];
    };
    let mut failures = Vec::new();
    if audio.packets_decoded == 0 || audio.decode_errors > 0 {
        failures.push(format!(
            "playback: {} of {} audio packets decoded",
            audio.packets_decoded, audio.packets_received
        ));
    }
    if expect.sound == SoundCheck::InSync {
        let limit = thresholds.max_av_offset_ms;
        let in_sync = audio
            .av_offset_ms
            .is_some_and(|offset| offset.min.abs() <= limit && offset.max.abs() <= limit);
        if !in_sync {
            failures.push(format!(
                "playback: sound and picture apart by {:?} ms",
                audio.av_offset_ms
            ));
        }
    }
    failures
}

fn describe_stamps(stamps: &StampCounts) -> String {
    if stamp_faults(stamps) == 0 {
        return "none lost".into();
    }
    format!(
        "{} lost, {} repeated, {} out of order, {} unreadable",
        stamps.lost, stamps.repeated, stamps.out_of_order, stamps.unreadable
    )
}

fn describe_sound(audio: Option<&AudioSummary>) -> String {
    let Some(audio) = audio else {
        return "no sound".into();
    };
    match audio.av_offset_ms {
        Some(offset) => format!(
            "sound within {:.1} ms of picture",
            offset.min.abs().max(offset.max.abs())
        ),
        None => format!(
            "{:.1} s of sound decoded ({} of {} packets)",
            audio.seconds_decoded, audio.packets_decoded, audio.packets_received
        ),
    }
}

fn describe_millis(millis: f64) -> String {
    if millis >= 1000.0 {
        format!("{:.1} s", millis / 1000.0)
    } else {
        format!("{millis:.0} ms")
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn plural(count: u64) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// The JSON form of a plain struct of the summary; serialising them cannot
/// fail, and `null` stands in if it ever did.
fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(value: f64) -> Spread {
        Spread {
            count: 300,
            min: value,
            median: value,
            p95: value,
            max: value,
        }
    }

    fn good_report() -> PushReport {
        let push = PushSummary {
            frames_captured: 300,
            frames_processed: 300,
            frames_encoded: 300,
            frames_sent: 300,
            width: 720,
            height: 1280,
            video_kbps: 1480.0,
            fps: 30.0,
            ..Default::default()
        };
        let audio = AudioSummary {
            packets_received: 470,
            packets_decoded: 470,
            seconds_decoded: 10.0,
            av_offset_ms: Some(Spread {
                min: -0.4,
                max: 0.3,
                ..spread(0.0)
            }),
            ..Default::default()
        };
        let summary = PlaySummary {
            frames_received: 300,
            frames_displayed: 300,
            stamps: Some(StampCounts {
                stamped: 300,
                distinct: 300,
                highest: Some(299),
                ..Default::default()
            }),
            audio: Some(audio),
            ..Default::default()
        };
        PushReport {
            push,
            url: Some("rtmp://127.0.0.1:4000/live/liveroom?txSecret=x&txTime=y".into()),
            stamps_read: Some(300),
            playback: Some(Playback {
                summary,
                latency_ms: Some(spread(1600.0)),
                psnr: Some(spread(39.0)),
            }),
        }
    }

    const EXPECT_ALL: Expectations = Expectations {
        stamped: true,
        video: true,
        sound: SoundCheck::InSync,
    };

    #[test]
    fn a_clean_run_passes_and_reads_well() {
        let report = good_report();
        assert_eq!(report.verdict(&EXPECT_ALL, &Thresholds::default()), Ok(()));
        let words = report.in_words();
        assert!(
            words.contains("Pushed 300 frames (720×1280, 1480 kbps"),
            "{words}"
        );
        assert!(
            words.contains("to rtmp://127.0.0.1:4000/live/liveroom;"),
            "no query: {words}"
        );
        assert!(words.contains("300/300 frame stamps read back"), "{words}");
        assert!(
            words.contains("300/300 frames arrived, none lost; PSNR median 39.0 dB (lowest 39.0); push→display 1.6 s; sound within 0.4 ms of picture"),
            "{words}"
        );
    }

    #[test]
    fn the_json_summary_keeps_its_fields() {
        let json = good_report().to_json();
        for key in [
            "tag",
            "framesCaptured",
            "framesSent",
            "url",
            "stampsVerified",
            "framesReceived",
            "playback",
            "latencyMs",
            "psnr",
            "audioPlayback",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["tag"], "summary");
        assert_eq!(json["stampsVerified"], 300);
        assert_eq!(json["playback"]["lost"], 0);
        assert_eq!(json["psnr"]["median"], 39.0);
    }

    #[test]
    fn each_fault_fails_the_verdict() {
        let thresholds = Thresholds::default();
        let mut lost = good_report();
        if let Some(playback) = lost.playback.as_mut() {
            playback.summary.frames_displayed = 299;
        }
        let failure = lost
            .verdict(&EXPECT_ALL, &thresholds)
            .expect_err("a frame lost");
        assert!(failure.0.contains("299 of 300 frames shown"), "{failure}");

        let mut blurred = good_report();
        if let Some(playback) = blurred.playback.as_mut() {
            playback.psnr = Some(spread(29.0));
        }
        let failure = blurred
            .verdict(&EXPECT_ALL, &thresholds)
            .expect_err("low PSNR");
        assert!(failure.0.contains("PSNR"), "{failure}");

        let mut apart = good_report();
        if let Some(audio) = apart
            .playback
            .as_mut()
            .and_then(|p| p.summary.audio.as_mut())
        {
            audio.av_offset_ms = Some(spread(41.0));
        }
        let failure = apart
            .verdict(&EXPECT_ALL, &thresholds)
            .expect_err("out of sync");
        assert!(failure.0.contains("sound and picture apart"), "{failure}");
        let loose = Expectations {
            sound: SoundCheck::Decodes,
            ..EXPECT_ALL
        };
        assert_eq!(
            apart.verdict(&loose, &thresholds),
            Ok(()),
            "sync not asked for"
        );

        let mut silent = good_report();
        if let Some(playback) = silent.playback.as_mut() {
            playback.summary.audio = None;
        }
        let failure = silent
            .verdict(&EXPECT_ALL, &thresholds)
            .expect_err("no sound");
        assert!(failure.0.contains("no sound arrived"), "{failure}");
        let no_track = Expectations {
            sound: SoundCheck::None,
            ..EXPECT_ALL
        };
        assert_eq!(silent.verdict(&no_track, &thresholds), Ok(()));

        let mut unread = good_report();
        unread.playback = None;
        unread.stamps_read = Some(298);
        let failure = unread
            .verdict(&EXPECT_ALL, &thresholds)
            .expect_err("stamps");
        assert_eq!(
            failure.to_string(),
            "verification failed: 298 of 300 frame stamps read back"
        );
    }

    #[test]
    fn the_check_pairs_shown_frames_with_pushed_ones_by_stamp() {
        let check = PlaybackCheck::default();
        let frame = I420Frame::black(16, 16).expect("frame");
        for index in 0..(KEPT_FOR_PLAYBACK as u64 + 10) {
            check.pushed(index, &frame);
        }
        let shown = |stamp| Displayed {
            index: 0,
            at: Instant::now(),
            stamp,
        };
        check.shown(&frame, &shown(Some(5)));
        check.shown(&frame, &shown(Some(KEPT_FOR_PLAYBACK as u32 + 5)));
        check.shown(&frame, &shown(None));
        let (latency, psnr) = check.measured();
        assert_eq!(
            latency.map(|l| l.count),
            Some(1),
            "frame 5 was dropped from the window"
        );
        assert_eq!(psnr.map(|p| p.max), Some(IDENTICAL_PSNR_DB));
    }

    #[test]
    fn a_playback_summary_reads_well() {
        let summary = PlaySummary {
            frames_displayed: 90,
            width: 360,
            height: 640,
            seconds: 3.0,
            reconnects: 1,
            ..Default::default()
        };
        let words = describe_playback(&summary);
        assert_eq!(
            words,
            "Played 3.0 s: 90 frames shown (360×640), 0 skipped, 0 decode errors; no sound; 1 reconnect."
        );
    }
}
