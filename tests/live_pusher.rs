//! `LivePusher`, the library's pusher component, driven through its methods
//! against the embedded RTMP server: events in order, pause with the waiting
//! image (5000), snapshot, switching sources, stop; the BGM controls,
//! `mute` and `backgroundMute` heard in the stream; and settings refused
//! before anything starts.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use liveroom::audio::{
    beep_onsets, decode_file, dominant_frequency, peak_level, rms_dbfs, to_mono, AudioFormat,
    AudioSource, BgmEvent, ToneSource, WavWriter,
};
use liveroom::events::PushCode;
use liveroom::pusher::{AudioInput, FaceInput, LivePusher, PushError, PusherConfig, PusherEvent};
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
            PusherEvent::NetStatus(_) | PusherEvent::Bgm(_) | PusherEvent::Error(_) => None,
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
            Err(
                error @ (PushError::Config(_)
                | PushError::Bitrate(_)
                | PushError::Url(_)
                | PushError::Geometry(_)
                | PushError::WaitingImage { .. }),
            ) => assert!(!error.to_string().is_empty()),
            other => panic!("{config:?} gave {other:?}"),
        }
    }
}

#[test]
fn bgm_controls_mute_and_background_mute_shape_the_sound() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let dir = common::scratch_dir("live-pusher-bgm");
    // Ten seconds of a 440 Hz tone at amplitude 0.25, as background music.
    let music = dir.join("music.wav");
    let format = AudioFormat::new(44_100, 1).expect("format");
    let mut writer = WavWriter::create(&music, format).expect("wav");
    let mut tone = ToneSource::continuous(format, 440.0, 0.25);
    let mut samples = vec![0.0; 441_000];
    tone.read(&mut samples).expect("tone");
    writer.write(&samples).expect("wav");
    writer.finish().expect("wav");

    let flv = dir.join("bgm.flv");
    let rate = FrameRate::from_fps(30.0).expect("rate");
    let config = PusherConfig {
        mode: liveroom::geometry::Mode::Sd,
        flv_output: Some(flv.clone()),
        pace: Some(true),
        max_frames: Some(180),
        audio: AudioInput::Tone,
        background_mute: true,
        ..Default::default()
    };
    let source = TestSource::new(640, 360, rate).expect("testsrc");
    let mut pusher = LivePusher::start(config, gpu, Box::new(source), FaceInput::None, None)
        .expect("pusher starts");
    let events = pusher.events().expect("events");
    let mut seen = Vec::new();
    wait_for(&events, PushCode::FirstFrame, &mut seen);
    let start = Instant::now();
    let at = |seconds: f64| {
        let due = start + Duration::from_secs_f64(seconds);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    };
    assert!(pusher.set_bgm_volume(1.5).is_err());
    pusher.play_bgm(&music).expect("music plays");
    at(1.0);
    pusher.mute(true).expect("mute");
    at(2.0);
    pusher.pause_bgm().expect("pause music");
    at(2.5);
    pusher.set_bgm_volume(0.5).expect("volume");
    pusher.resume_bgm().expect("resume music");
    at(3.0);
    pusher.pause().expect("background");
    at(3.5);
    pusher.resume().expect("foreground");
    at(4.0);
    pusher.stop_bgm().expect("stop music");
    pusher.mute(false).expect("unmute");
    let summary = pusher.wait().expect("push ends");
    assert!(summary.audio_packets > 250, "{summary:?}");
    let rest: Vec<_> = events.iter().collect();
    let bgm: Vec<_> = seen
        .iter()
        .chain(&rest)
        .filter_map(|event| match event {
            PusherEvent::Bgm(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(bgm.first(), Some(BgmEvent::Start { duration: Some(d), .. }) if d.as_secs() == 10),
        "{bgm:?}"
    );
    assert!(
        bgm.iter()
            .filter(|e| matches!(e, BgmEvent::Progress { .. }))
            .count()
            >= 2,
        "{bgm:?}"
    );

    let wav = dir.join("bgm.wav");
    common::ffmpeg(&[
        "-i",
        flv.to_str().expect("utf-8"),
        "-vn",
        wav.to_str().expect("utf-8"),
    ]);
    let sound = decode_file(&wav).expect("decoded");
    let mono = to_mono(&sound.samples, sound.channels);
    let rate = f64::from(sound.sample_rate);
    let window = |from: f64, to: f64| &mono[(from * rate) as usize..(to * rate) as usize];
    // Muted microphone, music alone: 440 Hz at amplitude 0.25.
    let music_alone = window(1.35, 1.85);
    let pitch = dominant_frequency(music_alone, sound.sample_rate).expect("pitch");
    assert!((pitch - 440.0).abs() < 1.0, "{pitch} Hz");
    let full = rms_dbfs(music_alone);
    assert!(
        (full - (20.0 * 0.25f64.log10() - 3.01)).abs() < 0.5,
        "{full} dBFS"
    );
    // Music paused, microphone muted: silence.
    assert!(
        peak_level(window(2.15, 2.35)) < 0.01,
        "paused music still sounds"
    );
    // Resumed at half volume: 6 dB down.
    let half = rms_dbfs(window(2.65, 2.9));
    assert!((full - half - 6.02).abs() < 0.5, "{full} vs {half} dBFS");
    // In the background with backgroundMute: silence.
    assert!(
        peak_level(window(3.15, 3.35)) < 0.01,
        "background not muted"
    );
    // Music stopped, microphone back: the beep at second 5 and nothing else.
    let tail = window(4.3, 5.9);
    let onsets = beep_onsets(tail, sound.sample_rate, 0.3);
    assert_eq!(onsets.len(), 1, "{onsets:?}");
    assert!(
        (onsets[0] + 4.3 - 5.0).abs() < 0.15,
        "beep at {}",
        onsets[0] + 4.3
    );
}
