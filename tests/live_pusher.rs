//! `LivePusher`, the library's pusher component, driven through its methods
//! against the embedded RTMP server: events in order, pause with the waiting
//! image (5000), snapshot, switching sources, stop; and settings refused
//! before anything starts.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use liveroom::events::PushCode;
use liveroom::pusher::{FaceInput, LivePusher, PushError, PusherConfig, PusherEvent};
use liveroom::rtmp::{RtmpServer, ServerConfig};
use liveroom::source::{FrameRate, StillImage, TestSource};

/// Waits for an event with `code`, collecting every event seen on the way.
fn wait_for(events: &Receiver<PusherEvent>, code: PushCode, seen: &mut Vec<PusherEvent>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(event) = events.recv_timeout(Duration::from_millis(100)) {
            let found = matches!(&event, PusherEvent::Push(e) if e.code == code);
            seen.push(event);
            if found {
                return;
            }
        }
    }
    panic!("no event {} within 20 s; saw {seen:?}", code.code());
}

fn codes(seen: &[PusherEvent]) -> Vec<i32> {
    seen.iter()
        .filter_map(|event| match event {
            PusherEvent::Push(event) => Some(event.code.code()),
            PusherEvent::NetStatus(_) | PusherEvent::Bgm(_) => None,
        })
        .collect()
}

#[test]
fn pause_snapshot_switch_and_stop_against_the_embedded_server() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let rate = FrameRate::from_fps(30.0).expect("rate");
    let dir = common::scratch_dir("live-pusher");
    let config = PusherConfig {
        push_url: Some(server.url("live", "methods")),
        mirror: true,
        ..Default::default()
    };
    let size = config.output_size();
    let source = TestSource::new(640, 360, rate).expect("testsrc");
    let mut pusher = LivePusher::start(config, gpu, Box::new(source), FaceInput::Auto, None)
        .expect("pusher starts");
    let events = pusher.events().expect("events once");
    assert!(pusher.events().is_none());

    let mut seen = Vec::new();
    wait_for(&events, PushCode::FirstFrame, &mut seen);
    let order = codes(&seen);
    let position = |code: i32| order.iter().position(|&c| c == code);
    for code in [1003, 1008, 1001, 1002, 1007] {
        assert!(position(code).is_some(), "{code} missing from {order:?}");
    }
    assert!(position(1001) < position(1002) && position(1002) < position(1007));
    // Statistics arrive about once a second while pushing.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        assert!(Instant::now() < deadline, "no netStatus in 5 s");
        if let Ok(PusherEvent::NetStatus(status)) = events.recv_timeout(Duration::from_millis(200))
        {
            break status;
        }
    };
    assert_eq!(
        (status.video_width, status.video_height),
        (size.width(), size.height())
    );
    assert!(status.video_fps > 10.0, "{status:?}");
    assert!(
        status.video_bitrate > 0.0 && status.net_speed > 0.0,
        "{status:?}"
    );

    pusher.pause().expect("pause");
    wait_for(&events, PushCode::Background, &mut seen);
    std::thread::sleep(Duration::from_millis(600));
    let snapshot = dir.join("paused.png");
    pusher.snapshot(&snapshot).expect("snapshot");
    let picture = image::open(&snapshot).expect("a PNG").to_rgb8();
    assert_eq!(picture.dimensions(), (size.width(), size.height()));
    // Paused without a waiting image: black is pushed.
    let centre = picture.get_pixel(size.width() / 2, size.height() / 2);
    assert!(centre.0.iter().all(|&c| c < 20), "{centre:?}");
    pusher.resume().expect("resume");

    // Switch to a bright still picture; the next snapshot shows it.
    let white = image::RgbImage::from_pixel(320, 240, image::Rgb([235, 235, 235]));
    let still = StillImage::from_rgb(&white, rate).expect("still");
    pusher.switch_source(Box::new(still)).expect("switch");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let snapshot = dir.join("switched.png");
        pusher.snapshot(&snapshot).expect("snapshot");
        let picture = image::open(&snapshot).expect("a PNG").to_rgb8();
        if picture.get_pixel(10, 10).0[0] > 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the new source never showed");
    }

    let summary = pusher.stop().expect("clean stop");
    assert!(summary.frames_sent > 30, "{summary:?}");
    assert_eq!(summary.frames_dropped, 0, "{summary:?}");
    assert_eq!(summary.reconnects, 0);
    assert!(
        summary.frames_processed > summary.frames_captured,
        "the waiting frames count too"
    );
    // Events end when the pusher does.
    let rest: Vec<_> = events.iter().collect();
    assert!(!codes(&rest).iter().any(|&c| c < 0), "{rest:?}");
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let rate = FrameRate::from_fps(30.0).expect("rate");
    let cases = [
        PusherConfig {
            min_bitrate_kbps: Some(900),
            max_bitrate_kbps: Some(300),
            ..Default::default()
        },
        PusherConfig {
            max_bitrate_kbps: Some(0),
            ..Default::default()
        },
        PusherConfig {
            push_url: Some("http://example.com/live/x".into()),
            ..Default::default()
        },
        PusherConfig {
            zoom: f32::NAN,
            ..Default::default()
        },
        PusherConfig {
            waiting_image: Some("/nonexistent/waiting.png".into()),
            ..Default::default()
        },
    ];
    for config in cases {
        let source = TestSource::new(64, 64, rate).expect("testsrc");
        let result = LivePusher::start(
            config.clone(),
            gpu.clone(),
            Box::new(source),
            FaceInput::None,
            None,
        );
        match result {
            Err(PushError::Config(message)) => assert!(!message.is_empty()),
            other => panic!("{config:?} gave {other:?}"),
        }
    }
}
