//! HTTP-FLV, live fMP4 and the operator API of `liveroom serve --http-port` against
//! real peers: `liveroom push` publishes testsrc over RTMP; FFmpeg
//! (`ffprobe`, `ffmpeg`) and our own player read the stream over HTTP;
//! plain TCP clients check the routes, the anti-leech refusals and that a
//! viewer who reads nothing stalls nobody.
//!
//! Each test runs its own `liveroom serve` on free loopback ports.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    ffprobe, play_url, push_testsrc, run_liveroom, scratch_dir, summary_of, Serve, Watched,
};

impl Serve {
    /// One request: status and body.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let answer = self.fetch(method, path);
        (answer.status, answer.text())
    }

    fn streams(&self) -> serde_json::Value {
        let (status, body) = self.request("GET", "/api/streams");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

/// Polls `/api/streams` until `check` holds.
fn wait_for_streams(serve: &Serve, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let streams = serve.streams();
        if check(&streams) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {streams}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// FFmpeg decodes `seconds` of `url`'s video and audio, dropping and
/// repeating nothing (`-fps_mode passthrough`): video frames, audio
/// frames, and its framecrc lines.
fn decode(url: &str, seconds: u32) -> (usize, usize, String) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i", url])
        .args(["-map", "0:v", "-map", "0:a", "-fps_mode", "passthrough"])
        .args(["-t", &seconds.to_string(), "-f", "framecrc", "-"])
        .output()
        .expect("ffmpeg runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let video = text.lines().filter(|l| l.starts_with("0,")).count();
    let audio = text.lines().filter(|l| l.starts_with("1,")).count();
    (video, audio, text)
}

#[test]
fn ffmpeg_reads_http_flv_video_and_audio_and_pure_audio_has_no_video() {
    let dir = scratch_dir("http-flv-ffmpeg");
    let serve = Serve::start(&[]);
    let mut pusher = push_testsrc(&serve.rtmp_url("x"), 300, &dir);

    // ffprobe decodes every video frame it reads until the publisher
    // leaves (the response then ends).
    let probe = ffprobe(Path::new(&serve.http_url("/live/x.flv")));
    assert_eq!(probe.codec, "h264");
    assert_eq!((probe.width, probe.height), (360, 640));
    assert!(probe.frames >= 60, "{probe:?}");
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");

    // Video and audio both decode.
    let mut pusher = push_testsrc(&serve.rtmp_url("y"), 150, &dir);
    let (video, audio, _) = decode(&serve.http_url("/live/y.flv"), 2);
    assert!(video >= 40, "{video} video frames decoded");
    assert!(audio >= 60, "{audio} audio frames decoded");

    // The sound alone: no video stream at all.
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type"])
        .args(["-of", "csv=p=0"])
        .arg(serve.http_url("/live/y_pureAudio.flv"))
        .output()
        .expect("ffprobe runs");
    let kinds = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{kinds}");
    assert_eq!(kinds.trim(), "audio", "{kinds}");
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
}

/// The live fMP4 stream (the watch page's low-latency path) is plain
/// fragmented MP4 to FFmpeg: video and audio decode, and the sound alone
/// has no video track.
#[test]
fn ffmpeg_reads_the_live_fmp4_stream_and_its_sound_alone() {
    let dir = scratch_dir("live-fmp4-ffmpeg");
    let serve = Serve::start(&[]);
    let mut pusher = push_testsrc(&serve.rtmp_url("m"), 240, &dir);
    let (video, audio, text) = decode(&serve.http_url("/live/m.mp4"), 3);
    assert!(video >= 60, "{video} video frames decoded");
    assert!(audio >= 90, "{audio} audio frames decoded");
    // Frames follow each other: with FFmpeg neither dropping nor
    // duplicating (`-fps_mode passthrough`), each frame's time is the
    // previous one's plus one frame interval (framecrc counts in frames).
    let times: Vec<i64> = text
        .lines()
        .filter(|l| l.starts_with("0,"))
        .filter_map(|l| l.split(',').nth(2)?.trim().parse().ok())
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[1] - pair[0] == 1),
        "a frame is missing or repeated: {times:?}"
    );

    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type"])
        .args(["-of", "csv=p=0", "-read_intervals", "%+2"])
        .arg(serve.http_url("/live/m_pureAudio.mp4"))
        .output()
        .expect("ffprobe runs");
    let kinds = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{kinds}");
    assert_eq!(kinds.trim(), "audio", "{kinds}");
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
}

#[test]
fn our_player_plays_http_flv_with_every_stamp() {
    let dir = scratch_dir("http-flv-player");
    let serve = Serve::start(&[]);
    let flv = serve.http_url("/live/stamps.flv");
    // The player comes first and waits for the publisher.
    let mut player = Watched::spawn(
        "player",
        "play",
        &[
            "--url",
            &flv,
            "--stamps",
            "--events",
            "json",
            "--timeout",
            "40",
        ],
        &dir,
    );
    player.wait_for(2002, Duration::from_secs(10));
    let mut pusher = push_testsrc(&serve.rtmp_url("stamps"), 150, &dir);
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let (status, stdout, stderr) = player.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}\n{stdout}");
    let summary = summary_of(&stdout);
    let stamps = &summary["stamps"];
    assert_eq!(stamps["distinct"], 150, "{summary}");
    assert_eq!(stamps["lost"], 0, "{summary}");
    assert_eq!(stamps["highest"], 149, "{summary}");
    assert!(summary["audio"]["packetsDecoded"].as_u64().unwrap_or(0) > 100);
}

#[test]
fn with_a_key_unsigned_is_403_with_the_reason_and_signed_plays() {
    let dir = scratch_dir("http-flv-key");
    let serve = Serve::start(&["--key", "SECRET"]);
    let (status, body) = serve.request("GET", "/live/k.flv");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("txSecret"), "the reason: {body}");
    let (status, body) = serve.request(
        "GET",
        "/live/k.flv?txSecret=00000000000000000000000000000000&txTime=7FFFFFFF",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.len() > "403 forbidden: \n".len(), "{body}");
    // `/` and `/api/streams` show no media: open without a signature.
    assert_eq!(serve.request("GET", "/api/streams").0, 200);
    assert_eq!(serve.request("GET", "/").0, 200);

    let urls = serve.signed_urls("k", "SECRET");
    let flv = play_url(&urls, "httpFlv");
    let pure_audio = play_url(&urls, "httpFlvPureAudio");
    assert!(
        flv.starts_with(&serve.http_url("/live/k.flv?txSecret=")),
        "{flv}"
    );

    let mut pusher = push_testsrc(urls["push"].as_str().expect("push URL"), 240, &dir);
    let path = |url: &str| {
        url.split_once(&serve.http.to_string())
            .expect("ours")
            .1
            .to_string()
    };
    assert_eq!(serve.request("HEAD", &path(&pure_audio)).0, 200);
    let output = run_liveroom(
        "play",
        &[
            "--url",
            &flv,
            "--frames",
            "30",
            "--events",
            "json",
            "--timeout",
            "20",
        ],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(summary_of(&stdout)["framesDisplayed"], 30, "{stdout}");
    // `play --key` signs an HTTP URL as it signs an RTMP one.
    let output = run_liveroom(
        "play",
        &[
            "--url",
            &serve.http_url("/live/k.flv"),
            "--key",
            "SECRET",
            "--frames",
            "30",
            "--events",
            "json",
            "--timeout",
            "20",
        ],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(summary_of(&stdout)["framesDisplayed"], 30, "{stdout}");
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");

    // Our player gives up at once on a refusal, with the reason.
    let unsigned = serve.http_url("/live/k.flv");
    let output = run_liveroom(
        "play",
        &["--url", &unsigned, "--timeout", "10"],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
}

#[test]
fn https_is_refused_with_one_line() {
    let output = run_liveroom(
        "play",
        &["--url", "https://127.0.0.1:1/live/x.flv"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("https:// is not supported"), "{stderr}");
}

#[test]
fn the_api_counts_viewers_per_protocol_and_routes_are_limited() {
    let dir = scratch_dir("http-flv-api");
    let serve = Serve::start(&[]);
    assert_eq!(serve.request("GET", "/nope").0, 404);
    // Not live: HLS has nothing either.
    assert_eq!(serve.request("GET", "/live/x.m3u8").0, 404);
    assert_eq!(serve.request("GET", "/../../etc/passwd").0, 404);
    assert_eq!(serve.request("POST", "/").0, 405);
    assert_eq!(serve.request("DELETE", "/live/x.flv").0, 405);
    assert_eq!(serve.streams()["streams"], serde_json::json!([]));

    let mut pusher = push_testsrc(&serve.rtmp_url("api"), 300, &dir);
    let mut rtmp_player = Watched::spawn(
        "rtmp-player",
        "play",
        &[
            "--url",
            &serve.rtmp_url("api"),
            "--events",
            "json",
            "--timeout",
            "30",
        ],
        &dir,
    );
    rtmp_player.wait_for(2002, Duration::from_secs(10));
    let mut viewer = TcpStream::connect(serve.http).expect("connects");
    write!(
        viewer,
        "GET /live/api.flv HTTP/1.1\r\nHost: {}\r\n\r\n",
        serve.http
    )
    .expect("request sent");
    let mut head = [0u8; 12];
    viewer.read_exact(&mut head).expect("status line");
    assert_eq!(&head, b"HTTP/1.1 200");

    wait_for_streams(&serve, "one viewer per protocol", |streams| {
        let live = &streams["streams"][0];
        live["viewers"] == serde_json::json!({"rtmp": 1, "flv": 1, "hls": 0, "mp4": 0})
            && live["bitrate_kbps"].as_f64().unwrap_or(0.0) > 0.0
    });
    let streams = serve.streams();
    let live = &streams["streams"][0];
    assert_eq!(live["app"], "live");
    assert_eq!(live["stream"], "api");
    assert!(live["publisher"]
        .as_str()
        .is_some_and(|peer| peer.starts_with("127.0.0.1:")));
    assert_eq!(live["video"]["codec"], "h264", "{live}");
    assert_eq!(live["video"]["width"], 360, "{live}");
    assert_eq!(live["video"]["height"], 640, "{live}");
    assert_eq!(live["audio"]["codec"], "aac", "{live}");
    assert!(
        live["audio"]["sample_rate"].as_u64().unwrap_or(0) > 0,
        "{live}"
    );
    assert!(live["uptime_s"].as_f64().unwrap_or(0.0) > 0.0, "{live}");

    let (status, page) = serve.request("GET", "/");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("rtmp://{}/live/api", serve.rtmp)),
        "{page}"
    );
    assert!(
        page.contains(&format!("http://{}/live/api.flv", serve.http)),
        "{page}"
    );

    drop(viewer);
    drop(rtmp_player);
    let (status, _, stderr) = pusher.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    wait_for_streams(&serve, "nothing live", |streams| {
        streams["streams"] == serde_json::json!([])
    });
}

#[test]
fn a_viewer_that_reads_nothing_does_not_stall_an_rtmp_player() {
    let dir = scratch_dir("http-flv-slow");
    let serve = Serve::start(&[]);
    // Three viewers that send their request and never read.
    let stalled: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut socket = TcpStream::connect(serve.http).expect("connects");
            write!(
                socket,
                "GET /live/slow.flv HTTP/1.1\r\nHost: {}\r\n\r\n",
                serve.http
            )
            .expect("request sent");
            socket
        })
        .collect();
    let mut player = Watched::spawn(
        "player",
        "play",
        &[
            "--url",
            &serve.rtmp_url("slow"),
            "--stamps",
            "--events",
            "json",
            "--timeout",
            "40",
        ],
        &dir,
    );
    player.wait_for(2002, Duration::from_secs(10));
    wait_for_streams(&serve, "nothing yet", |streams| {
        streams["streams"] == serde_json::json!([])
    });
    let mut pusher = push_testsrc(&serve.rtmp_url("slow"), 300, &dir);
    wait_for_streams(&serve, "the stalled viewers are counted", |streams| {
        streams["streams"][0]["viewers"]
            == serde_json::json!({"rtmp": 1, "flv": 3, "hls": 0, "mp4": 0})
    });
    let (status, stdout, stderr) = pusher.finish(Duration::from_secs(40));
    assert!(status.success(), "{stderr}");
    let pushed = summary_of(&stdout);
    assert_eq!(pushed["framesSent"], 300, "{pushed}");
    let (status, stdout, stderr) = player.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}\n{stdout}");
    let summary = summary_of(&stdout);
    assert_eq!(summary["stamps"]["distinct"], 300, "{summary}");
    assert_eq!(summary["stamps"]["lost"], 0, "{summary}");
    drop(stalled);
}
