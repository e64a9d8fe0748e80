//! A push from code, with events: `LivePusher` from the library.
//!
//! Pushes ten seconds of the stamped test source with light beauty settings
//! and the test tone to the RTMP URL given (or, without one, to an embedded
//! server started here), printing every event as it comes: state changes
//! and warnings with the plugin's codes, and the once-a-second statistics.
//! (`liveroom push` is the full tool: every flag, playback and checks.)
//!
//! ```text
//! cargo run --release --example push -- rtmp://127.0.0.1/live/room1
//! ```

use std::error::Error;
use std::time::Duration;

use liveroom::effects::EffectParams;
use liveroom::pusher::{AudioInput, FaceInput, LivePusher, PusherConfig, PusherEvent};
use liveroom::rtmp::LocalServer;
use liveroom::source::open_source;
use liveroom::GpuContext;

fn main() -> Result<(), Box<dyn Error>> {
    // Where to: the URL given, or a server of our own on loopback.
    let (url, _server) = match std::env::args().nth(1) {
        Some(url) => (url, None),
        None => {
            let local = LocalServer::start(None)?;
            (
                local.url("live", "demo", Duration::from_secs(3600))?,
                Some(local),
            )
        }
    };
    let config = PusherConfig {
        push_url: Some(url.clone()),
        // The legacy levels: beauty 5 (smoothing), whiteness 3.
        effects: EffectParams::from_levels(5, 3)?,
        audio: AudioInput::Tone,
        max_duration: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let source = open_source("testsrc", 30.0)?;
    let gpu = GpuContext::from_env()?;
    // `FaceInput::Auto`: the built-in landmarker runs when an effect needs faces.
    let mut pusher = LivePusher::start(config, gpu, source, FaceInput::Auto, None)?;
    println!("pushing to {url}");
    if let Some(events) = pusher.events() {
        for event in events {
            match event {
                PusherEvent::Push(event) if event.code.is_warning() => {
                    println!("warning {}: {}", event.code.code(), event.message)
                }
                PusherEvent::Push(event) => {
                    println!("event {}: {}", event.code.code(), event.message)
                }
                PusherEvent::NetStatus(status) => println!(
                    "{:.0} kbps video, {:.1} fps, {}x{}",
                    status.video_bitrate, status.video_fps, status.video_width, status.video_height
                ),
                PusherEvent::Bgm(_) => {}
                PusherEvent::Error(detail) => println!("refused: {detail}"),
            }
        }
    }
    // The event stream ends with the push; its totals:
    let summary = pusher.wait()?;
    println!(
        "sent {} frames ({} dropped) at {:.0} kbps",
        summary.frames_sent, summary.frames_dropped, summary.video_kbps
    );
    Ok(())
}
