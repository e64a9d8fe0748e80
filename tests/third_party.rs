//! The embedded server (`liveroom serve`) against third-party RTMP clients
//! the rest of the suite does not use: GStreamer (`rtmp2sink` publishes,
//! `rtmp2src` plays), rtmpdump (records) and FFmpeg (`-map 0 -c copy` to
//! Matroska, which fails on any stream that is neither audio nor video).
//!
//! What they check (issue 18, server items): a player learns that the
//! publisher left (`StreamEOF`, as nginx-rtmp sends it) and ends by itself;
//! the metadata reaches players at timestamp 0, first, with a fixed key
//! order, and no other data message turns into a phantom stream, over RTMP
//! and HTTP-FLV alike, even from a publisher that resends its metadata
//! (GStreamer's `flvmux`).
//!
//! These peers are required in CI like nginx: a missing one fails the test
//! with `REQUIRE_NGINX=1`, and otherwise skips it (`SKIPPED …` on stderr).
//! Every child is waited for with a bound and killed past it.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{declare_skip, push_ok, scratch_dir, wait_with_timeout, Serve};
use liveroom::flv::{FlvReader, FlvTag, TagKind};

/// The GStreamer elements the tests use.
const GST_ELEMENTS: [&str; 7] = [
    "videotestsrc",
    "x264enc",
    "flvmux",
    "rtmp2sink",
    "rtmp2src",
    "flvdemux",
    "fakesink",
];

/// Whether the peers are there; without them the test fails under
/// `REQUIRE_NGINX=1` and is skipped otherwise.
fn peers_present(gstreamer: bool, rtmpdump: bool) -> bool {
    let mut missing = Vec::new();
    if gstreamer {
        if Command::new("gst-launch-1.0")
            .arg("--version")
            .output()
            .is_err()
        {
            missing.push("gst-launch-1.0".to_string());
        }
        for element in GST_ELEMENTS {
            let found = Command::new("gst-inspect-1.0")
                .arg(element)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !found {
                missing.push(format!("GStreamer element {element}"));
            }
        }
    }
    if rtmpdump
        && Command::new("rtmpdump")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
    {
        missing.push("rtmpdump".to_string());
    }
    for tool in ["ffmpeg", "ffprobe"] {
        if Command::new(tool).arg("-version").output().is_err() {
            missing.push(tool.to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "missing {} (scripts/setup.sh installs them)",
        missing.join(", ")
    );
    if std::env::var("REQUIRE_NGINX").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_NGINX=1 but {why}");
    }
    declare_skip(&format!("{why}; REQUIRE_NGINX=1 makes this a failure"));
    false
}

/// Starts a program with its output captured.
fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

/// Waits for `child` up to `limit`; fails the test if it had to be killed
/// or did not succeed.
fn expect_success(what: &str, child: Child, limit: Duration) {
    let (output, killed) = wait_with_timeout(child, limit);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !killed,
        "{what} did not end within {limit:?} (killed):\n{stderr}"
    );
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stderr}",
        output.status
    );
}

/// `ffmpeg -i URL -map 0 -c copy OUT.mkv`, started now.
fn ffmpeg_copy(url: &str, out: &Path) -> Child {
    spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            url,
            "-map",
            "0",
            "-c",
            "copy",
            out.to_str().expect("utf-8 path"),
        ],
    )
}

/// `rtmpdump --live -r URL -o OUT`, started now.
fn record(url: &str, out: &Path) -> Child {
    spawn(
        "rtmpdump",
        &[
            "-q",
            "--live",
            "-r",
            url,
            "-o",
            out.to_str().expect("utf-8 path"),
        ],
    )
}

/// The tags of an FLV file, up to the first unreadable one.
fn tags_of(path: &Path) -> Vec<FlvTag> {
    let bytes = std::fs::read(path).expect("the recording");
    FlvReader::new(&bytes[..])
        .expect("an FLV file")
        .map_while(Result::ok)
        .collect()
}

/// The codec types of a file's streams, as ffprobe lists them.
fn stream_types(path: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect()
}

/// Gives players a moment to connect before the publisher starts (they
/// would get the stream from the kept GOP anyway, but the point is to see
/// it from the start).
fn let_players_connect() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// GStreamer publishes H.264 4:2:0 (`flvmux` resends its metadata all
/// along) and plays; when the publisher leaves, `rtmp2src` reaches EOS and
/// its pipeline ends with status 0 (it hung before: the server sent no
/// `StreamEOF`). FFmpeg copies the same stream to Matroska with exactly its
/// one video stream, and rtmpdump's recording holds the metadata once, at
/// timestamp 0.
#[test]
fn gstreamer_publishes_and_plays_to_the_end() {
    if !peers_present(true, true) {
        return;
    }
    let serve = Serve::start(&[]);
    let dir = scratch_dir("gst");
    let url = serve.rtmp_url("gst");
    let location = format!("location={url}");
    let player = spawn(
        "gst-launch-1.0",
        &[
            "-q", "rtmp2src", &location, "!", "flvdemux", "!", "fakesink",
        ],
    );
    let copy_path = dir.join("gst.mkv");
    let copy = ffmpeg_copy(&url, &copy_path);
    let recording = dir.join("gst.flv");
    let rtmpdump = record(&url, &recording);
    let_players_connect();
    let publisher = spawn(
        "gst-launch-1.0",
        &[
            "-q",
            "videotestsrc",
            "is-live=true",
            "num-buffers=90",
            "!",
            "video/x-raw,format=I420,width=320,height=240,framerate=30/1",
            "!",
            "x264enc",
            "tune=zerolatency",
            "speed-preset=ultrafast",
            "key-int-max=30",
            "!",
            "flvmux",
            "streamable=true",
            "!",
            "rtmp2sink",
            &location,
        ],
    );
    expect_success(
        "the GStreamer publisher",
        publisher,
        Duration::from_secs(60),
    );
    expect_success(
        "the GStreamer player (rtmp2src) after the publisher left",
        player,
        Duration::from_secs(20),
    );
    expect_success(
        "ffmpeg -map 0 -c copy to Matroska",
        copy,
        Duration::from_secs(20),
    );
    expect_success("rtmpdump", rtmpdump, Duration::from_secs(20));
    assert_eq!(stream_types(&copy_path), vec!["video"]);
    assert_eq!(stream_types(&recording), vec!["video"]);
    let tags = tags_of(&recording);
    let first = tags.first().expect("tags");
    assert_eq!(
        (first.kind, first.timestamp_ms),
        (TagKind::Script, 0),
        "the metadata first, at 0"
    );
    let scripts = tags
        .iter()
        .filter(|tag| tag.kind == TagKind::Script)
        .count();
    assert_eq!(scripts, 1, "flvmux's resent metadata is relayed once");
}

/// While `liveroom push` publishes video and audio: rtmpdump records a file
/// with exactly one video and one audio stream whose first tag is the
/// metadata at timestamp 0 (keys in a fixed order), and no other script
/// tag; FFmpeg copies the stream, over RTMP and over HTTP-FLV, to Matroska
/// with exactly those two streams (it failed on phantom subtitle and data
/// streams before).
#[test]
fn rtmpdump_and_ffmpeg_see_one_video_and_one_audio_stream() {
    if !peers_present(false, true) {
        return;
    }
    let serve = Serve::start(&[]);
    let dir = scratch_dir("rtmpdump");
    let url = serve.rtmp_url("dump");
    let recording = dir.join("dump.flv");
    let rtmpdump = record(&url, &recording);
    let rtmp_copy_path = dir.join("rtmp.mkv");
    let rtmp_copy = ffmpeg_copy(&url, &rtmp_copy_path);
    let http_copy_path = dir.join("http.mkv");
    let http_copy = ffmpeg_copy(&serve.flv_url("dump"), &http_copy_path);
    let_players_connect();
    push_ok(
        &["--url", &url, "--frames", "90", "--mode", "sd"],
        Duration::from_secs(60),
    );
    expect_success("rtmpdump", rtmpdump, Duration::from_secs(20));
    expect_success("ffmpeg copying RTMP", rtmp_copy, Duration::from_secs(20));
    expect_success(
        "ffmpeg copying HTTP-FLV",
        http_copy,
        Duration::from_secs(20),
    );
    for path in [&recording, &rtmp_copy_path, &http_copy_path] {
        let mut types = stream_types(path);
        types.sort();
        assert_eq!(types, vec!["audio", "video"], "{}", path.display());
    }

    let tags = tags_of(&recording);
    let first = tags.first().expect("tags");
    assert_eq!(first.kind, TagKind::Script, "the metadata comes first");
    assert_eq!(first.timestamp_ms, 0, "the metadata is at timestamp 0");
    assert!(
        first.body.starts_with(b"\x02\x00\x0aonMetaData\x08"),
        "onMetaData with an ECMA array"
    );
    let order: Vec<usize> = [&b"width"[..], b"height", b"videocodecid", b"audiocodecid"]
        .iter()
        .map(|key| {
            first
                .body
                .windows(key.len())
                .position(|window| window == *key)
                .unwrap_or_else(|| panic!("{} in the metadata", String::from_utf8_lossy(key)))
        })
        .collect();
    assert!(
        order.windows(2).all(|pair| pair[0] < pair[1]),
        "keys in the fixed order"
    );
    let scripts = tags
        .iter()
        .filter(|tag| tag.kind == TagKind::Script)
        .count();
    assert_eq!(scripts, 1, "one metadata tag and no other data message");
}
