//! Tier 4: the player against real peers and real streams. FFmpeg publishes
//! an x264 stream that is not ours into nginx-rtmp and into our embedded
//! server, and our player's frames are compared with FFmpeg's own decode;
//! the pusher plays its own stream back (RTC and live latency, no frame
//! lost); a corrupt FLV file is survived.
//!
//! Needs `ffmpeg` and nginx with the RTMP module (scripts/setup.sh); the
//! nginx part skips without them unless `REQUIRE_NGINX=1` (CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::{
    ffmpeg, ffmpeg_decode, liveroom, publish_flv, push_ok, scratch_dir, summary_of,
    wait_with_timeout, Nginx,
};
use liveroom::rtmp::{RtmpServer, ServerConfig};

/// Tests in this file run side by side; the RTC latency test measures
/// push-to-play latency, which two CPU cores shared with a 30-second push
/// and FFmpeg streams would measure instead. It holds this for writing, the
/// others for reading: it runs alone, they run together.
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Holds [`ALONE`] for reading for the rest of a test (a test that failed
/// holding it does not stop the others).
fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An x264 FLV made by FFmpeg (B-frames, 2 s GOP at 25 fps) and FFmpeg's
/// own decode of it, made once per run.
fn foreign_stream() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch_dir("player-foreign");
        let flv = dir.join("foreign.flv");
        let decoded = dir.join("foreign.y4m");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-frames:v",
            "100",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-bf",
            "3",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "flv",
            flv.to_str().expect("utf-8"),
        ]);
        ffmpeg_decode(&flv, &decoded);
        (flv, decoded)
    })
}

/// FFmpeg publishes the foreign FLV to `url` (at its own pace) while our
/// player, started first, plays it against FFmpeg's decode.
fn play_foreign_stream(url: &str) {
    let (flv, decoded) = foreign_stream();
    let player = liveroom("play")
        .args(["--url", url, "--frames", "100", "--timeout", "30"])
        .args([
            "--mode",
            "rtc",
            "--reference",
            decoded.to_str().expect("utf-8"),
        ])
        .args(["--events", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("player runs");
    std::thread::sleep(Duration::from_millis(800));
    let publisher = publish_flv(flv, url);
    let (output, killed) = wait_with_timeout(player, Duration::from_secs(40));
    let _ = wait_with_timeout(publisher, Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stdout}\n{stderr}");
    for code in ["2001", "2002", "2003", "2004", "2008"] {
        assert!(
            stdout.contains(&format!(r#""code":{code}"#)),
            "{code} missing:\n{stdout}"
        );
    }
    let summary = summary_of(&stdout);
    assert_eq!(summary["framesDisplayed"], 100, "{summary}");
    assert_eq!(
        (summary["width"].as_u64(), summary["height"].as_u64()),
        (Some(640), Some(360))
    );
    let worst = summary["psnr"]["min"].as_f64().expect("PSNR measured");
    eprintln!("{url}: worst PSNR against FFmpeg's decode {worst:.1} dB");
    assert!(worst >= 50.0, "{summary}");
}

#[test]
fn ffmpeg_stream_through_the_embedded_server_decodes_like_ffmpeg() {
    let _shared = beside_others();
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    play_foreign_stream(&server.url("live", "foreign"));
}

#[test]
fn ffmpeg_stream_through_nginx_decodes_like_ffmpeg() {
    let _shared = beside_others();
    let Some(nginx) = Nginx::start("player") else {
        return;
    };
    play_foreign_stream(&nginx.url("foreign"));
}

#[test]
fn an_flv_file_plays_offline_and_a_corrupt_one_is_survived() {
    let _shared = beside_others();
    let (flv, decoded) = foreign_stream();
    let run = |path: &Path| {
        let output = liveroom("play")
            .args(["--url", path.to_str().expect("utf-8"), "--events", "json"])
            .args(["--reference", decoded.to_str().expect("utf-8")])
            .output()
            .expect("player runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (output.status.success(), stdout)
    };
    let (ok, stdout) = run(flv);
    assert!(ok, "{stdout}");
    let summary = summary_of(&stdout);
    assert_eq!(summary["framesDisplayed"], 100, "{summary}");
    assert!(summary["psnr"]["min"].as_f64().expect("psnr") >= 50.0);

    // Damage the middle of the file: garbage over a stretch of frames.
    let mut bytes = std::fs::read(flv).expect("flv");
    let middle = bytes.len() / 2;
    for (i, byte) in bytes[middle..middle + 3000].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    let damaged = scratch_dir("player-damaged").join("damaged.flv");
    std::fs::write(&damaged, &bytes).expect("write");
    let (_, stdout) = run(&damaged);
    let summary = summary_of(&stdout);
    let shown = summary["framesDisplayed"].as_u64().expect("count");
    assert!(shown >= 20, "the frames before the damage play: {summary}");

    // Cut the file short: what is there plays.
    let cut = scratch_dir("player-cut").join("cut.flv");
    std::fs::write(&cut, &std::fs::read(flv).expect("flv")[..bytes.len() / 3]).expect("write");
    let (ok, stdout) = run(&cut);
    assert!(ok, "{stdout}");
    assert!(
        summary_of(&stdout)["framesDisplayed"]
            .as_u64()
            .expect("count")
            > 10
    );
}

/// The pusher with no URL pushes to the embedded server and plays its own
/// stream back; returns the summary.
fn push_and_play_back(args: &[&str]) -> serde_json::Value {
    summary_of(&push_ok(args, Duration::from_secs(120)))
}

#[test]
fn self_playback_in_rtc_mode_is_low_latency_and_loses_nothing() {
    let _alone = ALONE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if common::gpu().is_none() {
        return;
    }
    let summary = push_and_play_back(&["--mode", "rtc", "--frames", "150"]);
    eprintln!("rtc: {summary}");
    assert_eq!(summary["framesReceived"], 150, "{summary}");
    assert_eq!(summary["playback"]["lost"], 0, "{summary}");
    let median = summary["latencyMs"]["median"].as_f64().expect("latency");
    assert!(
        median <= 300.0,
        "RTC push-to-play latency {median} ms: {summary}"
    );
}

#[test]
fn self_playback_in_live_mode_for_30_seconds_loses_nothing() {
    let _shared = beside_others();
    if common::gpu().is_none() {
        return;
    }
    let summary = push_and_play_back(&["--frames", "900"]);
    eprintln!("live: {summary}");
    assert_eq!(summary["framesSent"], 900, "{summary}");
    assert_eq!(summary["framesReceived"], 900, "{summary}");
    for field in ["lost", "repeated", "outOfOrder", "unreadable"] {
        assert_eq!(summary["playback"][field], 0, "{field}: {summary}");
    }
    let median = summary["latencyMs"]["median"].as_f64().expect("latency");
    assert!(median <= 3500.0, "live latency {median} ms: {summary}");
    assert!(
        summary["psnr"]["min"].as_f64().expect("psnr") >= 30.0,
        "{summary}"
    );
}

#[test]
fn frames_are_drawn_into_the_view_letterboxed_or_cropped() {
    let _shared = beside_others();
    if common::gpu().is_none() {
        return;
    }
    let (flv, _) = foreign_stream();
    let dir = scratch_dir("player-view");
    let snapshot = |fit: &str| {
        let path = dir.join(format!("{fit}.png"));
        let output = liveroom("play")
            .args(["--url", flv.to_str().expect("utf-8"), "--view", "1280x720"])
            .args(["--orientation", "vertical", "--object-fit", fit])
            .args(["--snapshot", path.to_str().expect("utf-8")])
            .output()
            .expect("player runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        image::open(&path).expect("a PNG").to_rgb8()
    };
    // A 640×360 picture in a 720×1280 (vertical) view.
    let contain = snapshot("contain");
    assert_eq!(contain.dimensions(), (720, 1280));
    let dark = |p: &image::Rgb<u8>| p.0.iter().all(|&c| c < 24);
    assert!(dark(contain.get_pixel(360, 100)), "a bar above the picture");
    assert!(
        dark(contain.get_pixel(360, 1180)),
        "a bar below the picture"
    );
    assert!(
        !dark(contain.get_pixel(100, 640)),
        "the picture in the middle"
    );
    let fill = snapshot("fillCrop");
    assert_eq!(fill.dimensions(), (720, 1280));
    assert!(!dark(fill.get_pixel(360, 100)) && !dark(fill.get_pixel(360, 1180)));
}
