//! A play with a frame callback: `LivePlayer` from the library.
//!
//! Plays the RTMP URL (or FLV file) given for up to 300 frames and hands
//! every decoded frame to a callback, which here measures its brightness;
//! the player's events print as they come. (`liveroom play` is the full
//! tool: caches, stamps, PSNR, files, a view.)
//!
//! ```text
//! cargo run --release --example play -- rtmp://127.0.0.1/live/room1
//! ```

use std::error::Error;

use liveroom::frame::Plane;
use liveroom::player::{FrameSink, LivePlayer, PlayerConfig, PlayerEvent};

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: play rtmp://HOST[:PORT]/APP/STREAM|FILE.flv")?;
    let config = PlayerConfig {
        play_url: url,
        max_frames: Some(300),
        ..Default::default()
    };
    // Called on the player's thread with each frame as it is shown.
    let callback: FrameSink = Box::new(|frame, shown| {
        let luma = frame.plane(Plane::Y);
        let mean = luma.iter().map(|&v| v as u64).sum::<u64>() / luma.len().max(1) as u64;
        if shown.index % 30 == 0 {
            println!(
                "frame {}: {}x{}, mean luma {mean}",
                shown.index,
                frame.width(),
                frame.height()
            );
        }
        Ok(())
    });
    // No GPU needed: frames are drawn into a view only when one is asked for.
    let mut player = LivePlayer::start(config, None, Some(callback))?;
    if let Some(events) = player.events() {
        for event in events {
            match event {
                PlayerEvent::Play(event) => {
                    println!("event {}: {}", event.code.code(), event.message)
                }
                PlayerEvent::NetStatus(status) => {
                    println!("cache {:.1} s", status.video_cache.unwrap_or_default())
                }
                PlayerEvent::Error(detail) => println!("refused: {detail}"),
                PlayerEvent::FullscreenChange(on) => println!("full screen: {on}"),
            }
        }
    }
    let summary = player.wait()?;
    println!(
        "{} frames shown, {} skipped",
        summary.frames_displayed, summary.frames_skipped
    );
    Ok(())
}
