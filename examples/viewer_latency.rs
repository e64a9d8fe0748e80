//! Push→display latency over RTMP and HTTP-FLV on the same push, measured
//! as the main job (`liveroom push` with no URL) measures it: each frame
//! by its `testsrc` stamp, from the moment it left the pusher's pipeline
//! (the frame tap) to the moment the player handed it out decoded
//! (`verify::PlaybackCheck`), both in this process on one clock.
//!
//! Two `LivePlayer`s in RTC mode (verifying stamps) start first and wait
//! for the stream, one on the RTMP URL and one on the HTTP-FLV URL of a
//! running server (`liveroom serve --port P --http-port H`); then a
//! `LivePusher` pushes `testsrc` in RTC mode with the test tone, paced in
//! real time, to the RTMP publish URL. At the end one JSON line per
//! player: latency spread (ms) and the stamp counts.
//!
//! ```text
//! liveroom serve --port 19350 --http-port 18080 &
//! cargo run --release --example viewer_latency -- \
//!     --push rtmp://127.0.0.1:19350/live/lat \
//!     --rtmp rtmp://127.0.0.1:19350/live/lat \
//!     --http http://127.0.0.1:18080/live/lat.flv --frames 300 --first http
//! ```
//!
//! `--first rtmp|http` says which player starts (and connects) first;
//! `scripts/bench_viewer_latency.sh` alternates it over rounds.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use liveroom::geometry::Mode;
use liveroom::player::{LivePlayer, PlayMode, PlayerConfig};
use liveroom::pusher::{AudioInput, FaceInput, FrameTap, LivePusher, PusherConfig};
use liveroom::source::open_source;
use liveroom::verify::PlaybackCheck;
use liveroom::GpuContext;
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let mut push = None;
    let mut rtmp = None;
    let mut http = None;
    let mut frames = 300u64;
    let mut http_first = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--push" => push = Some(value()?),
            "--rtmp" => rtmp = Some(value()?),
            "--http" => http = Some(value()?),
            "--frames" => frames = value()?.parse()?,
            "--first" => http_first = value()? == "http",
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let push = push.ok_or("--push URL is required")?;
    let mut viewers: Vec<(&str, String)> = Vec::new();
    if let Some(url) = rtmp {
        viewers.push(("rtmp", url));
    }
    if let Some(url) = http {
        viewers.push(("http-flv", url));
    }
    if http_first {
        viewers.reverse();
    }
    // The players wait for the stream; a safety net past its length.
    let limit = Duration::from_secs_f64(frames as f64 / 30.0 + 60.0);
    let mut players = Vec::new();
    for (protocol, url) in &viewers {
        let check = Arc::new(PlaybackCheck::default());
        let config = PlayerConfig {
            play_url: url.clone(),
            mode: PlayMode::Rtc,
            verify_stamps: true,
            timeout: Some(limit),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, Some(check.frame_sink()))?;
        players.push((*protocol, check, player));
    }
    // Let both players reach the server before the first frame leaves.
    std::thread::sleep(Duration::from_millis(500));
    let checks: Vec<Arc<PlaybackCheck>> = players
        .iter()
        .map(|(_, check, _)| Arc::clone(check))
        .collect();
    let tap: FrameTap = Box::new(move |index, frame, _faces| {
        for check in &checks {
            check.pushed(index, frame);
        }
        Ok(())
    });
    let config = PusherConfig {
        push_url: Some(push),
        mode: Mode::Rtc,
        audio: AudioInput::Tone,
        max_frames: Some(frames),
        ..Default::default()
    };
    let gpu = GpuContext::from_env()?;
    let source = open_source("testsrc", 30.0)?;
    let pusher = LivePusher::start(config, gpu, source, FaceInput::None, Some(tap))?;
    let pushed = pusher.wait()?;
    for (protocol, check, player) in players {
        let summary = player.wait()?;
        let (latency, _) = check.measured();
        let line = json!({
            "protocol": protocol,
            "framesSent": pushed.frames_sent,
            "framesDisplayed": summary.frames_displayed,
            "stamps": summary.stamps,
            "latencyMs": latency,
        });
        println!("{line}");
    }
    Ok(())
}
