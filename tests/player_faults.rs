//! The player's faults of issue 18 (items 3–6), against `liveroom serve`
//! and inputs made with our own tools and FFmpeg:
//!
//! * a stream name nobody publishes ends with -2301 and exit 1 within the
//!   reconnect policy's budget (RTMP and HTTP-FLV), while a publisher that
//!   comes late but within the budget is played;
//! * `videoGOP` measures the key-frame interval (2 s for our push);
//! * an unsupported H.264 profile (4:4:4 10-bit) or video codec (id 12,
//!   HEVC-in-FLV) is said once, with the reason, and ends the player with
//!   one error line and exit 1;
//! * `--audio-output` on a stream without AAC is a valid WAV file, and
//!   the player says why there is no sound.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ffmpeg, push_ok, run_liveroom, scratch_dir, summary_of, Serve, Watched};
use liveroom::events::PlayCode;
use liveroom::flv::{FlvHeader, FlvWriter, TagKind};
use liveroom::player::{LivePlayer, PlayerConfig, PlayerError, PlayerEvent};
use liveroom::rtmp::{RtmpServer, ServerConfig};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Event lines (`--events json`) with `code`.
fn count_code(stdout: &str, code: i32) -> usize {
    let needle = format!(r#""code":{code},"#);
    stdout.lines().filter(|line| line.contains(&needle)).count()
}

/// Checks that `path` is a WAV file with a complete RIFF header; returns
/// its data size.
fn wav_data_size(path: &Path) -> u32 {
    let bytes = std::fs::read(path).expect("the WAV file");
    assert!(
        bytes.len() >= 44,
        "{} holds {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    assert_eq!(&bytes[36..40], b"data");
    let riff = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let data = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes"));
    assert_eq!(riff as usize, bytes.len() - 8);
    assert_eq!(data as usize, bytes.len() - 44);
    data
}

/// Item 3: a name nobody publishes, over RTMP and HTTP-FLV at once. The
/// default policy gives 25 s without media (10 s no-media timeout per
/// connection, so three connections); the player must give up within
/// about 30 s, with -2301 and exit 1, and leave a valid WAV file.
#[test]
fn a_never_published_name_gives_up_within_the_budget() {
    let server = Serve::start(&[]);
    let dir = scratch_dir("faults-never");
    let urls = [
        ("rtmp", server.rtmp_url("nobody")),
        ("http", server.flv_url("nobody")),
    ];
    let runs: Vec<_> = urls
        .into_iter()
        .map(|(name, url)| {
            let wav = dir.join(format!("{name}.wav"));
            std::thread::spawn(move || {
                let started = Instant::now();
                let output = run_liveroom(
                    "play",
                    &[
                        "--url",
                        &url,
                        "--events",
                        "json",
                        "--audio-output",
                        path_str(&wav),
                    ],
                    Duration::from_secs(60),
                );
                (name, started.elapsed(), output, wav)
            })
        })
        .collect();
    for run in runs {
        let (name, elapsed, output, wav) = run.join().expect("the player thread");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("{name}: gave up after {elapsed:.1?}\n{stderr}");
        assert_eq!(output.status.code(), Some(1), "{name}: {stdout}\n{stderr}");
        assert_eq!(count_code(&stdout, -2301), 1, "{name}: {stdout}");
        assert!(
            elapsed >= Duration::from_secs(20) && elapsed <= Duration::from_secs(32),
            "{name}: gave up after {elapsed:?}"
        );
        let reconnects = count_code(&stdout, 2103);
        assert!((2..=6).contains(&reconnects), "{name}: {stdout}");
        assert!(stderr.contains("gave up after"), "{name}: {stderr}");
        assert_eq!(wav_data_size(&wav), 0, "{name}");
    }
}

/// Item 3 through the library, with a short policy: no media for 0.7 s
/// fails a connection, 2 s without media ends the player.
#[test]
fn a_short_budget_ends_a_never_published_stream_in_time() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let mut config = PlayerConfig {
        play_url: server.url("live", "nobody"),
        ..Default::default()
    };
    config.connection.idle_timeout = Duration::from_millis(700);
    config.reconnect.give_up_after = Duration::from_secs(2);
    let started = Instant::now();
    let mut player = LivePlayer::start(config, None, None).expect("player starts");
    let events = player.events().expect("events");
    let result = player.wait();
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(PlayerError::Disconnected(_))),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    let codes: Vec<PlayCode> = events
        .try_iter()
        .filter_map(|event| match event {
            PlayerEvent::Play(play) => Some(play.code),
            _ => None,
        })
        .collect();
    let count = |code| codes.iter().filter(|c| **c == code).count();
    assert_eq!(count(PlayCode::Disconnected), 1, "{codes:?}");
    // 0.7 s: the first connection fails; 1.2 s: the second; 1.9 s: it
    // fails too, and a third (after 1 s) would start past the budget.
    assert!(count(PlayCode::Reconnecting) >= 1, "{codes:?}");
    assert!(count(PlayCode::StreamBegins) >= 2, "{codes:?}");
}

/// Item 3: a publisher that comes after the first no-media timeout, but
/// within the budget, is played.
#[test]
fn a_late_publisher_within_the_budget_is_played() {
    if common::gpu().is_none() {
        return;
    }
    let server = Serve::start(&[]);
    let dir = scratch_dir("faults-late");
    let url = server.rtmp_url("late");
    let mut player = Watched::spawn(
        "player",
        "play",
        &["--url", &url, "--events", "json", "--frames", "30"],
        &dir,
    );
    // The first connection fails for want of media after 10 s.
    player.wait_for(2103, Duration::from_secs(20));
    let pusher = std::thread::spawn(move || {
        push_ok(
            &["--url", &url, "--frames", "150"],
            Duration::from_secs(120),
        )
    });
    let (status, stdout, stderr) = player.finish(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert_eq!(count_code(&stdout, -2301), 0, "{stdout}");
    let summary = summary_of(&stdout);
    assert!(
        summary["framesDisplayed"].as_u64().expect("count") >= 30,
        "{summary}"
    );
    pusher.join().expect("the pusher");
}

/// Item 4: `videoGOP` is the time between key frames (our push makes one
/// every 2 s).
#[test]
fn video_gop_measures_the_key_frame_interval() {
    if common::gpu().is_none() {
        return;
    }
    let server = Serve::start(&[]);
    let url = server.rtmp_url("gop");
    let push_url = url.clone();
    let pusher = std::thread::spawn(move || {
        push_ok(
            &["--url", &push_url, "--frames", "300"],
            Duration::from_secs(120),
        )
    });
    // Play 8 s of it: three or four key frames.
    std::thread::sleep(Duration::from_secs(1));
    let output = run_liveroom(
        "play",
        &["--url", &url, "--events", "json", "--timeout", "8"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let gops: Vec<f64> = stdout
        .lines()
        .filter(|line| line.contains(r#""tag":"netStatus""#))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|status| status["videoGOP"].as_f64())
        .collect();
    eprintln!("videoGOP: {gops:?}");
    let last = *gops.last().expect("netStatus lines");
    assert!((last - 2.0).abs() < 0.15, "videoGOP {gops:?}");
    assert!(gops
        .iter()
        .all(|gop| *gop == 0.0 || (gop - 2.0).abs() < 0.15));
    pusher.join().expect("the pusher");
}

/// Plays `input` expecting the end for unsupported video: exit 1, one 2101
/// with `reason`, one error line, no "no AVC sequence header".
fn assert_refused_once(input: &Path, reason: &str) {
    let output = run_liveroom("play", &["--url", path_str(input)], Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{}:\n{stderr}", input.display());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("no AVC sequence header"), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("2101")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(reason), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("nothing can be shown"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    // And in JSON, one 2101.
    let output = run_liveroom(
        "play",
        &["--url", path_str(input), "--events", "json"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(count_code(&stdout, 2101), 1, "{stdout}");
}

/// Item 5: 4:4:4 10-bit H.264 (what x264 picks for RGB input).
#[test]
fn an_unsupported_h264_profile_is_said_once_and_ends_the_player() {
    let flv = scratch_dir("faults-444").join("444.flv");
    ffmpeg(&[
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p10le",
        "-g",
        "25",
        "-f",
        "flv",
        path_str(&flv),
    ]);
    assert_refused_once(&flv, "unsupported H.264 stream");
}

/// Item 5, live: FFmpeg publishes the 4:4:4 stream to our server; the
/// player says so once and ends at once, not at the end of the stream.
#[test]
fn a_live_unsupported_profile_ends_the_player_at_once() {
    let server = Serve::start(&[]);
    let dir = scratch_dir("faults-444-live");
    let url = server.rtmp_url("rgb");
    let mut publisher = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-t", "20", "-c:v", "libx264", "-pix_fmt", "yuv444p10le"])
        .args(["-g", "25", "-f", "flv", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg runs");
    let mut player = Watched::spawn("player", "play", &["--url", &url], &dir);
    let (status, _, stderr) = player.finish(Duration::from_secs(15));
    let _ = publisher.kill();
    let _ = publisher.wait();
    eprintln!("{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("no AVC sequence header"), "{stderr}");
    assert_eq!(stderr.matches("2101").count(), 1, "{stderr}");
    assert!(
        stderr.contains("nothing can be shown: unsupported H.264 stream"),
        "{stderr}"
    );
}

/// Item 5: codec id 12 (HEVC-in-FLV, as CDNs send it), 152 tags.
#[test]
fn an_unsupported_video_codec_is_said_once_and_ends_the_player() {
    let flv = scratch_dir("faults-hevc").join("hevc.flv");
    let file = std::fs::File::create(&flv).expect("create");
    let mut writer = FlvWriter::new(
        std::io::BufWriter::new(file),
        FlvHeader {
            has_audio: false,
            has_video: true,
        },
    )
    .expect("header");
    // A sequence header, then key and inter frames: codec id 12.
    writer
        .write(TagKind::Video, 0, &[0x1c, 0, 0, 0, 0, 1, 2, 3])
        .expect("tag");
    for index in 0..152u32 {
        let first = if index % 50 == 0 { 0x1c } else { 0x2c };
        writer
            .write(
                TagKind::Video,
                index * 40,
                &[first, 1, 0, 0, 0, 0, 0, 0, 4, 0x26],
            )
            .expect("tag");
    }
    writer.finish().expect("finish");
    assert_refused_once(&flv, "video codec id 12");
}

/// Item 6: `--audio-output` on a stream without sound is a valid WAV file
/// (a header and no samples), and the player says why.
#[test]
fn audio_output_without_aac_is_a_valid_wav_and_says_why() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("faults-wav");
    let flv = dir.join("silent.flv");
    push_ok(
        &[
            "--frames",
            "30",
            "--audio",
            "off",
            "--output",
            path_str(&flv),
        ],
        Duration::from_secs(120),
    );
    let wav = dir.join("out.wav");
    let output = run_liveroom(
        "play",
        &["--url", path_str(&flv), "--audio-output", path_str(&wav)],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(wav_data_size(&wav), 0);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("2102")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("no sound in") && warnings[0].contains("the stream carried no audio"),
        "{stderr}"
    );
}

/// Issue 18, item 7: `--frames N` shows N frames exactly, although a
/// B-frame stream's decoder hands out pictures in batches.
#[test]
fn frames_n_stops_at_n_exactly() {
    if common::gpu().is_none() {
        return;
    }
    let dir = common::scratch_dir("player-frames-exact");
    let flv = dir.join("bframes.flv");
    let flv_arg = flv.to_str().expect("utf-8");
    // The FHD preset encodes with B-frames.
    common::push_ok(
        &[
            "--frames", "90", "--mode", "fhd", "--audio", "off", "--output", flv_arg,
        ],
        std::time::Duration::from_secs(120),
    );
    for frames in ["1", "37", "61"] {
        let output = common::run_liveroom(
            "play",
            &["--url", flv_arg, "--frames", frames, "--events", "json"],
            std::time::Duration::from_secs(60),
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        let summary = common::summary_of(&stdout);
        assert_eq!(summary["framesDisplayed"].to_string(), frames, "{summary}");
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
