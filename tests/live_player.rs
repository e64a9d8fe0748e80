//! `LivePlayer`, the library's player component, driven through its methods
//! while `LivePusher` feeds the embedded server: events in order, frames
//! handed out, pause and resume, snapshot, stop; settings refused.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liveroom::events::PlayCode;
use liveroom::player::{LivePlayer, PlayMode, PlayerConfig, PlayerError, PlayerEvent};
use liveroom::pusher::{FaceInput, LivePusher, PusherConfig};
use liveroom::rtmp::{RtmpServer, ServerConfig};
use liveroom::source::{FrameRate, TestSource};

fn wait_for(events: &Receiver<PlayerEvent>, code: PlayCode, seen: &mut Vec<i32>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(PlayerEvent::Play(event)) = events.recv_timeout(Duration::from_millis(100)) {
            seen.push(event.code.code());
            if event.code == code {
                return;
            }
        }
    }
    panic!("no event {} within 20 s; saw {seen:?}", code.code());
}

#[test]
fn play_pause_resume_snapshot_and_stop() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let url = server.url("live", "player-methods");
    let shown = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&shown);
    let config = PlayerConfig {
        play_url: url.clone(),
        mode: PlayMode::Rtc,
        verify_stamps: true,
        ..Default::default()
    };
    let mut player = LivePlayer::start(
        config,
        None,
        Some(Box::new(move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })),
    )
    .expect("player starts");
    let events = player.events().expect("events once");

    let rate = FrameRate::from_fps(30.0).expect("rate");
    let source = TestSource::new(640, 360, rate).expect("testsrc");
    let pusher_config = PusherConfig {
        push_url: Some(url),
        ..Default::default()
    };
    let pusher = LivePusher::start(pusher_config, gpu, Box::new(source), FaceInput::None, None)
        .expect("pusher starts");

    let mut seen = Vec::new();
    wait_for(&events, PlayCode::PlaybackBegins, &mut seen);
    for code in [2001, 2002, 2007, 2008, 2003, 2004] {
        assert!(seen.contains(&code), "{code} missing from {seen:?}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(shown.load(Ordering::Relaxed) > 5, "frames are handed out");

    let snapshot = common::scratch_dir("live-player").join("shown.png");
    player.snapshot(&snapshot).expect("snapshot");
    let picture = image::open(&snapshot).expect("a PNG").to_rgb8();
    assert_eq!(picture.dimensions(), (360, 640));

    player.pause().expect("pause");
    std::thread::sleep(Duration::from_millis(200));
    let paused_at = shown.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        shown.load(Ordering::Relaxed),
        paused_at,
        "nothing is shown while paused"
    );
    player.resume().expect("resume");
    let deadline = Instant::now() + Duration::from_secs(10);
    while shown.load(Ordering::Relaxed) <= paused_at + 5 {
        assert!(Instant::now() < deadline, "frames came back after resume");
        std::thread::sleep(Duration::from_millis(50));
    }
    player.mute(true).expect("mute");

    let summary = player.stop().expect("clean stop");
    assert!(summary.frames_displayed > 10, "{summary:?}");
    assert_eq!((summary.width, summary.height), (360, 640));
    let stamps = summary.stamps.expect("stamps verified");
    assert_eq!(stamps.unreadable, 0, "{summary:?}");
    let pushed = pusher.stop().expect("pusher stops");
    assert!(pushed.frames_sent >= summary.frames_displayed);
}

#[test]
fn bad_player_settings_are_refused() {
    let cases = [
        PlayerConfig {
            play_url: "https://example.com/live/x.flv".into(),
            ..Default::default()
        },
        PlayerConfig {
            play_url: "rtmp://127.0.0.1/live/x".into(),
            min_cache: Some(Duration::from_secs(5)),
            max_cache: Some(Duration::from_secs(1)),
            ..Default::default()
        },
        PlayerConfig {
            play_url: "/nonexistent/stream.flv".into(),
            ..Default::default()
        },
        PlayerConfig {
            play_url: "rtmp://127.0.0.1/live/x".into(),
            reference: Some("/nonexistent/reference.y4m".into()),
            ..Default::default()
        },
    ];
    for config in cases {
        match LivePlayer::start(config.clone(), None, None) {
            Err(
                PlayerError::Config(_)
                | PlayerError::Url(_)
                | PlayerError::Input { .. }
                | PlayerError::Reference(_),
            ) => {}
            other => panic!("{config:?} gave {other:?}"),
        }
    }
}
