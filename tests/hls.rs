//! HLS (fMP4 segments) from `liveroom serve --http-port` against real
//! peers: `liveroom push` publishes testsrc with the tone over RTMP;
//! FFmpeg plays the playlists (video and audio decode, the sound alone has
//! no video stream); plain TCP clients check the playlist text (window,
//! program date-times), the MIME types and caching headers, and the
//! anti-leech refusals and signed segment URIs.
//!
//! Each test runs its own `liveroom serve` on free loopback ports.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{play_url, push_testsrc, scratch_dir, wait_with_timeout, Answer, Serve};

/// Polls `path` until `check` holds for a 200 answer; returns it.
fn poll(serve: &Serve, path: &str, limit: Duration, check: impl Fn(&str) -> bool) -> Answer {
    let deadline = Instant::now() + limit;
    loop {
        let answer = serve.fetch("GET", path);
        if answer.status == 200 && check(&answer.text()) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {} {}",
            answer.status,
            answer.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The values of the playlist lines starting with `tag`.
fn tagged<'a>(playlist: &'a str, tag: &str) -> Vec<&'a str> {
    playlist
        .lines()
        .filter_map(|line| line.strip_prefix(tag))
        .collect()
}

/// The segment URIs of a playlist, as absolute paths (they are relative
/// to `/live/`), the init segment's first.
fn uris(playlist: &str) -> Vec<String> {
    let map = tagged(playlist, "#EXT-X-MAP:URI=")
        .into_iter()
        .map(|uri| uri.trim_matches('"'));
    let segments = playlist.lines().filter(|line| !line.starts_with('#'));
    map.chain(segments)
        .map(|uri| format!("/live/{uri}"))
        .collect()
}

/// FFmpeg decoding `url` (the streams `maps`) to `framecrc` lines in the
/// file `out` (not a pipe: nobody reads it until FFmpeg ends).
fn ffmpeg_decode(url: &str, maps: &[&str], out: &Path) -> Child {
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-i", url]);
    for map in maps {
        command.args(["-map", map]);
    }
    command
        .args(["-y", "-f", "framecrc"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)")
}

/// The decoded frames per stream index, and the size of each stream's
/// first frame, from FFmpeg's `framecrc` output in `out`.
fn decoded(child: Child, out: &Path) -> (HashMap<u32, usize>, HashMap<u32, usize>) {
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed, "ffmpeg did not end: {stderr}");
    assert!(output.status.success(), "ffmpeg failed: {stderr}");
    let mut frames = HashMap::new();
    let mut sizes = HashMap::new();
    let text = std::fs::read_to_string(out).expect("framecrc written");
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(index), Some(size)) = (
            fields.first().and_then(|f| f.parse().ok()),
            fields.get(4).and_then(|f| f.parse().ok()),
        ) else {
            continue;
        };
        *frames.entry(index).or_insert(0) += 1;
        sizes.entry(index).or_insert(size);
    }
    (frames, sizes)
}

#[test]
fn ffmpeg_plays_hls_and_the_playlist_keeps_a_window_of_six() {
    let dir = scratch_dir("hls-ffmpeg");
    let serve = Serve::start(&[]);
    assert_eq!(serve.fetch("GET", "/live/h.m3u8").status, 404);
    // 16 s at 30 fps: eight 2 s GOPs.
    let mut pusher = push_testsrc(&serve.rtmp_url("h"), 480, &dir);

    // Not before three segments are complete; the reason says why.
    let first = serve.fetch("GET", "/live/h.m3u8");
    if first.status == 404 {
        let why = first.text();
        assert!(
            why.contains("segments complete") || why.contains("no H.264 or AAC media yet"),
            "{why}"
        );
    }
    let playlist = poll(&serve, "/live/h.m3u8", Duration::from_secs(20), |_| true);
    let listed = tagged(&playlist.text(), "#EXTINF:").len();
    assert!(
        listed >= 3,
        "a live playlist starts with 3 segments: {listed}"
    );
    assert_eq!(
        playlist.header("content-type"),
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(playlist.header("cache-control"), "public, max-age=1");
    assert_eq!(playlist.header("access-control-allow-origin"), "*");

    // FFmpeg joins at once, for video and audio, and for the sound alone.
    let (both_out, sound_out) = (dir.join("both.crc"), dir.join("sound.crc"));
    let both = ffmpeg_decode(&serve.http_url("/live/h.m3u8"), &["0:v", "0:a"], &both_out);
    let sound = ffmpeg_decode(
        &serve.http_url("/live/h_pureAudio.m3u8"),
        &["0"],
        &sound_out,
    );
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
        ])
        .args(["-of", "csv=p=0"])
        .arg(serve.http_url("/live/h_pureAudio.m3u8"))
        .output()
        .expect("ffprobe runs");
    let kinds = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success(), "{kinds}");
    // (The HLS demuxer lists its streams once more under its program.)
    let kinds: Vec<&str> = kinds.lines().filter(|line| !line.is_empty()).collect();
    assert!(!kinds.is_empty());
    assert!(
        kinds.iter().all(|kind| *kind == "aac,audio"),
        "no video stream at all: {kinds:?}"
    );

    // Six segments listed once 12 s have been pushed.
    let answer = poll(&serve, "/live/h.m3u8", Duration::from_secs(30), |text| {
        tagged(text, "#EXTINF:").len() >= 6
    });
    let text = answer.text();
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert_eq!(tagged(&text, "#EXT-X-VERSION:"), vec!["7"], "{text}");
    assert_eq!(tagged(&text, "#EXT-X-TARGETDURATION:"), vec!["2"], "{text}");
    let sequence: u64 = tagged(&text, "#EXT-X-MEDIA-SEQUENCE:")[0]
        .parse()
        .expect("a number");
    let durations: Vec<f64> = tagged(&text, "#EXTINF:")
        .iter()
        .map(|d| d.trim_end_matches(',').parse().expect("seconds"))
        .collect();
    assert_eq!(durations.len(), 6, "{text}");
    for duration in &durations {
        assert!((1.9..=2.1).contains(duration), "2 s GOPs: {text}");
        let decimals = format!("{duration:.3}");
        assert!(text.contains(&format!("#EXTINF:{decimals},")), "{text}");
    }
    // One program date-time per segment, ISO-8601 with ms, ~2 s apart.
    let dates = tagged(&text, "#EXT-X-PROGRAM-DATE-TIME:");
    assert_eq!(dates.len(), 6, "{text}");
    for date in &dates {
        assert_eq!(date.len(), 24, "{date}");
        assert!(date.ends_with('Z') && &date[10..11] == "T" && &date[19..20] == ".");
    }
    let seconds = |date: &str| -> f64 {
        let clock: Vec<f64> = date[11..23]
            .split(':')
            .map(|part| part.parse().expect("number"))
            .collect();
        clock[0] * 3600.0 + clock[1] * 60.0 + clock[2]
    };
    let gap = (seconds(dates[1]) - seconds(dates[0])).rem_euclid(86_400.0);
    assert!((durations[0] - gap).abs() < 0.01, "{dates:?} {durations:?}");

    // The init and every segment load, with their types and caching.
    let paths = uris(&text);
    assert_eq!(paths.len(), 7, "{text}");
    assert!(paths[0].ends_with("/init-0.mp4"), "{paths:?}");
    assert!(paths[1].ends_with(&format!("/{sequence}.m4s")), "{paths:?}");
    for path in &paths {
        let answer = serve.fetch("GET", path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        assert_eq!(answer.header("content-type"), "video/mp4", "{path}");
        assert_eq!(
            answer.header("cache-control"),
            "public, max-age=86400, immutable"
        );
        assert_eq!(answer.header("access-control-allow-origin"), "*");
        let kind = if path.ends_with(".mp4") {
            "ftyp"
        } else {
            "moof"
        };
        assert_eq!(&answer.body[4..8], kind.as_bytes(), "{path}");
        let head = serve.fetch("HEAD", path);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), answer.body.len().to_string());
    }
    // The sound alone: `audio/mp4`, its own URIs.
    let audio = serve.fetch("GET", "/live/h_pureAudio.m3u8");
    assert_eq!(audio.status, 200);
    let audio_paths = uris(&audio.text());
    assert!(audio_paths[0].contains("/h_pureAudio/"), "{audio_paths:?}");
    let init = serve.fetch("GET", &audio_paths[0]);
    assert_eq!(init.header("content-type"), "audio/mp4");

    // HLS viewers are counted (all of us come from 127.0.0.1: one).
    let streams = serve.fetch("GET", "/api/streams").text();
    let streams: serde_json::Value = serde_json::from_str(&streams).expect("JSON");
    assert_eq!(streams["streams"][0]["viewers"]["hls"], 1, "{streams}");

    let (status, _, stderr) = pusher.finish(Duration::from_secs(40));
    assert!(status.success(), "{stderr}");
    // The playlist ends; FFmpeg reads to its end.
    let ended = poll(&serve, "/live/h.m3u8", Duration::from_secs(5), |text| {
        text.ends_with("#EXT-X-ENDLIST\n")
    });
    assert!(ended.text().contains("#EXTINF:"));
    let (frames, sizes) = decoded(both, &both_out);
    // FFmpeg joined at the first segment: nearly every frame of the push.
    assert!(frames.get(&0).copied().unwrap_or(0) >= 420, "{frames:?}");
    assert_eq!(sizes.get(&0), Some(&(360 * 640 * 3 / 2)), "360×640 I420");
    assert!(frames.get(&1).copied().unwrap_or(0) >= 550, "{frames:?}");
    let (frames, _) = decoded(sound, &sound_out);
    assert_eq!(frames.len(), 1, "the sound alone: {frames:?}");
    assert!(frames.get(&0).copied().unwrap_or(0) >= 550, "{frames:?}");
    // Segments of a publication that is over are gone with it, once the
    // ended playlist has lingered; a new publication's URIs differ.
    let mut again = push_testsrc(&serve.rtmp_url("h"), 240, &dir);
    let next = poll(&serve, "/live/h.m3u8", Duration::from_secs(20), |text| {
        !text.contains("#EXT-X-ENDLIST")
    });
    assert_ne!(uris(&next.text())[0], paths[0], "a new epoch");
    let (status, _, stderr) = again.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
}

#[test]
fn with_a_key_unsigned_hls_is_403_and_a_signed_playlist_loads_its_segments() {
    let dir = scratch_dir("hls-key");
    let serve = Serve::start(&["--key", "SECRET"]);
    for path in [
        "/live/k.m3u8",
        "/live/k_pureAudio.m3u8",
        "/live/k/1/init-0.mp4",
        "/live/k/1/0.m4s",
    ] {
        let answer = serve.fetch("GET", path);
        assert_eq!(answer.status, 403, "{path}");
        assert!(
            answer.text().contains("txSecret"),
            "the reason: {}",
            answer.text()
        );
    }
    let wrong = serve.fetch(
        "GET",
        "/live/k.m3u8?txSecret=00000000000000000000000000000000&txTime=7FFFFFFF",
    );
    assert_eq!(wrong.status, 403);

    let urls = serve.signed_urls("k", "SECRET");
    let signed = play_url(&urls, "hls");
    assert!(signed.contains("/live/k.m3u8?"), "{signed}");
    let query = signed.split_once('?').expect("a query").1.to_string();
    let path = format!("/live/k.m3u8?{query}");

    let mut pusher = push_testsrc(urls["push"].as_str().expect("push URL"), 240, &dir);
    let answer = poll(&serve, &path, Duration::from_secs(20), |_| true);
    let text = answer.text();
    let paths = uris(&text);
    assert!(paths.len() >= 2, "{text}");
    for uri in &paths {
        assert!(
            uri.ends_with(&format!("?{query}")),
            "{uri} carries the signature"
        );
        let answer = serve.fetch("GET", uri);
        assert_eq!(answer.status, 200, "{uri}: {}", answer.text());
        // The same file without the signature is refused.
        let bare = uri.split('?').next().expect("path");
        assert_eq!(serve.fetch("GET", bare).status, 403, "{bare}");
    }
    let audio = serve.fetch("GET", &format!("/live/k_pureAudio.m3u8?{query}"));
    assert_eq!(audio.status, 200, "{}", audio.text());

    // FFmpeg plays the signed URL to the end.
    let out = dir.join("signed.crc");
    let both = ffmpeg_decode(&signed, &["0:v"], &out);
    let (status, _, stderr) = pusher.finish(Duration::from_secs(40));
    assert!(status.success(), "{stderr}");
    let (frames, _) = decoded(both, &out);
    assert!(frames.get(&0).copied().unwrap_or(0) >= 120, "{frames:?}");
}
