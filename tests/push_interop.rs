//! Tier 4: the pusher against real peers. x264 → FLV → RTMP into nginx with
//! the RTMP module and into our embedded server, read back by FFmpeg; the
//! FLV file read by FFmpeg and by our own reader; a closed port.
//!
//! Needs `ffmpeg`/`ffprobe` and nginx with `libnginx-mod-rtmp` (installed
//! by `scripts/setup.sh`). Without nginx the nginx test is skipped, unless
//! `REQUIRE_NGINX=1` (CI), where it fails.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    detailed_clip, ffmpeg_decode, ffprobe, liveroom, luma_psnr, push_ok, scratch_dir, summary_of,
    wait_with_timeout, Nginx,
};
use liveroom::avc::{parse_sps, AvcDecoderConfig};
use liveroom::flv::{
    parse_audio_body, parse_stream_metadata, parse_video_body, AudioBody, FlvReader, TagKind,
    VideoBody,
};
use liveroom::rtmp::{RtmpServer, ServerConfig};
use liveroom::source::{FrameSource, Y4mReader};

/// FFmpeg playing `url` and copying `frames` video frames into `output`,
/// started before the publisher so it sees every frame. (FFmpeg's RTMP
/// client does not end at the publisher's unpublish, so it is told how many
/// frames to expect; if fewer arrive it is killed and the count fails.)
fn ffmpeg_reader(url: &str, output: &Path, frames: u64) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-rw_timeout", "20000000", "-i", url, "-c", "copy"])
        .args(["-frames:v", &frames.to_string(), "-f", "flv"])
        .arg(output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)")
}

/// Pushes the detailed clip to `url` with FFmpeg reading it back; checks
/// H.264 at the preset's size, every frame, and the bitrate under the cap.
fn push_and_read_back(url: &str, scratch: &Path, frames: u64, max_kbps: u32) {
    let received = scratch.join("received.flv");
    let reader = ffmpeg_reader(url, &received, frames);
    // Let the reader connect and wait for the stream.
    std::thread::sleep(Duration::from_millis(800));
    let frames_text = frames.to_string();
    let kbps_text = max_kbps.to_string();
    let clip = detailed_clip().to_str().expect("utf-8 path");
    let stdout = push_ok(
        &[
            "--input",
            clip,
            "--frames",
            &frames_text,
            "--mode",
            "fhd",
            "--max-bitrate",
            &kbps_text,
            "--url",
            url,
            "--events",
            "json",
        ],
        Duration::from_secs(120),
    );
    for code in ["1001", "1002", "1007", "1008"] {
        assert!(
            stdout.contains(&format!(r#""code":{code}"#)),
            "event {code} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains(r#""tag":"netStatus""#),
        "no netStatus:\n{stdout}"
    );
    let summary = summary_of(&stdout);
    assert_eq!(summary["framesSent"], frames, "{summary}");
    assert_eq!(summary["framesDropped"], 0, "{summary}");

    let (output, killed) = wait_with_timeout(reader, Duration::from_secs(20));
    assert!(
        !killed || received.exists(),
        "the FFmpeg reader got nothing: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let probe = ffprobe(&received);
    assert_eq!(probe.codec, "h264", "{probe:?}");
    assert_eq!((probe.width, probe.height), (720, 1280), "{probe:?}");
    assert_eq!(probe.frames, frames, "{probe:?}");
    let seconds = frames as f64 / 30.0;
    let kbps = probe.video_bytes as f64 * 8.0 / 1000.0 / seconds;
    eprintln!(
        "{url}: {} frames, {kbps:.0} kbps (cap {max_kbps})",
        probe.frames
    );
    assert!(
        kbps <= max_kbps as f64 * 1.15,
        "{kbps:.0} kbps is over the {max_kbps} kbps cap"
    );
    assert!(
        kbps >= max_kbps as f64 * 0.5,
        "{kbps:.0} kbps: the encoder starved the stream"
    );
}

#[test]
fn nginx_rtmp_receives_every_frame_at_the_preset_size_under_the_cap() {
    if common::gpu().is_none() {
        return;
    }
    let Some(nginx) = Nginx::start("push") else {
        return;
    };
    push_and_read_back(&nginx.url("interop"), &nginx.dir, 240, 1000);
}

#[test]
fn embedded_server_relays_every_frame_to_ffmpeg() {
    if common::gpu().is_none() {
        return;
    }
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let scratch = scratch_dir("embedded-push");
    push_and_read_back(&server.url("live", "interop"), &scratch, 90, 1000);
}

#[test]
fn flv_file_is_read_by_ffmpeg_and_by_our_reader() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("flv-file");
    let flv = dir.join("out.flv");
    let y4m = dir.join("out.y4m");
    let clip = detailed_clip().to_str().expect("utf-8 path");
    let common_args = [
        "--input", clip, "--frames", "60", "--mode", "hd", "--mirror",
    ];
    let started = Instant::now();
    let stdout = push_ok(
        &[
            &common_args[..],
            &["--output", flv.to_str().expect("utf-8")],
        ]
        .concat(),
        Duration::from_secs(60),
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a file-only run is not paced"
    );
    assert_eq!(summary_of(&stdout)["framesEncoded"], 60);
    push_ok(
        &[
            &common_args[..],
            &["--output", y4m.to_str().expect("utf-8")],
        ]
        .concat(),
        Duration::from_secs(60),
    );

    // FFmpeg reads it: every frame, H.264 at the HD preset's size.
    let probe = ffprobe(&flv);
    assert_eq!(
        (probe.codec.as_str(), probe.width, probe.height),
        ("h264", 540, 960)
    );
    assert_eq!(probe.frames, 60);

    // Our reader: metadata, then the sequence headers, then 60 frames and
    // the test tone's AAC, interleaved in time order.
    let file = std::fs::File::open(&flv).expect("flv exists");
    let mut reader = FlvReader::new(std::io::BufReader::new(file)).expect("FLV header");
    let header = reader.header();
    assert!(header.has_video && header.has_audio);
    let first = reader.next_tag().expect("readable").expect("a tag");
    assert_eq!(first.kind, TagKind::Script);
    let metadata = parse_stream_metadata(&first.body).expect("onMetaData");
    assert_eq!((metadata.width, metadata.height), (540, 960));
    let mut frames = 0;
    let mut keys = 0;
    let mut last_time = 0;
    let mut last_media_time = 0;
    let mut audio_units = 0;
    while let Some(tag) = reader.next_tag().expect("readable") {
        if tag.kind == TagKind::Audio {
            match parse_audio_body(&tag.body).expect("audio body") {
                AudioBody::AacSequenceHeader(config) => assert_eq!(config, [0x11, 0x90]),
                AudioBody::AacRaw(_) => audio_units += 1,
                AudioBody::Other { format, .. } => panic!("audio format {format}"),
            }
            assert!(tag.timestamp_ms >= last_media_time, "tags in time order");
            last_media_time = tag.timestamp_ms;
            continue;
        }
        assert_eq!(tag.kind, TagKind::Video);
        let body = parse_video_body(&tag.body).expect("video body");
        if !matches!(body, VideoBody::EndOfSequence) {
            assert!(tag.timestamp_ms >= last_media_time, "tags in time order");
            last_media_time = tag.timestamp_ms;
        }
        match body {
            VideoBody::SequenceHeader(record) => {
                let config = AvcDecoderConfig::parse(record).expect("AVC config");
                let sps = parse_sps(&config.sps[0]).expect("SPS");
                assert_eq!((sps.width, sps.height), (540, 960));
            }
            VideoBody::Nalu { key_frame, .. } => {
                assert!(frames > 0 || key_frame, "the stream starts at a key frame");
                assert!(tag.timestamp_ms >= last_time, "decode times go forward");
                last_time = tag.timestamp_ms;
                frames += 1;
                keys += key_frame as u32;
            }
            VideoBody::EndOfSequence => {}
        }
    }
    assert_eq!(frames, 60);
    assert!(keys >= 1);
    // Two seconds at 48 kHz, in 1024-sample units, and the pre-roll unit.
    assert!((94..=96).contains(&audio_units), "{audio_units} AAC units");

    // FFmpeg's decode of our stream is close to the frames we encoded.
    let decoded = dir.join("decoded.y4m");
    ffmpeg_decode(&flv, &decoded);
    let mut original = Y4mReader::open(&y4m).expect("y4m");
    let mut decoded = Y4mReader::open(&decoded).expect("decoded y4m");
    let mut worst: f64 = f64::INFINITY;
    let mut count = 0;
    while let (Some(a), Some(b)) = (
        original.next_frame().expect("frame"),
        decoded.next_frame().expect("frame"),
    ) {
        worst = worst.min(luma_psnr(&a, &b));
        count += 1;
    }
    assert_eq!(count, 60);
    eprintln!("worst luma PSNR of the encoded stream: {worst:.1} dB");
    assert!(worst >= 28.0, "worst frame {worst:.1} dB");
}

#[test]
fn a_closed_port_ends_with_3002_and_1307_in_bounded_time() {
    if common::gpu().is_none() {
        return;
    }
    // Nothing listens on a port we just released.
    let port = common::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/nobody");
    let started = Instant::now();
    let child = liveroom("push")
        .args(["--url", &url, "--frames", "30", "--events", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pusher runs");
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(40));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!killed, "the pusher did not give up within 40 s:\n{stdout}");
    assert!(!output.status.success());
    assert!(stdout.contains(r#""code":3002"#), "{stdout}");
    assert!(stdout.contains(r#""code":1102"#), "{stdout}");
    assert!(stdout.contains(r#""code":-1307"#), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the default policy gives up within 30 s"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Our pusher against a name someone else is publishing: refused (3004),
/// not retried, a non-zero exit at once.
fn assert_name_in_use_refused(url: &str) {
    let squatter = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi"])
        .args(["-i", "testsrc2=size=320x240:rate=25", "-t", "15"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publishes");
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let child = liveroom("push")
        .args(["--url", url, "--frames", "30", "--events", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pusher runs");
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (_, _) = wait_with_timeout(squatter, Duration::ZERO);
    assert!(!killed && !output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(r#""code":3004"#), "{stdout}");
    assert!(
        !stdout.contains(r#""code":1102"#),
        "a refusal is not retried:\n{stdout}\n{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr.lines().count() >= 1 && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn a_stream_name_in_use_is_refused_without_retrying() {
    if common::gpu().is_none() {
        return;
    }
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    assert_name_in_use_refused(&server.url("live", "taken"));
    if let Some(nginx) = Nginx::start("taken") {
        assert_name_in_use_refused(&nginx.url("taken"));
    }
}
