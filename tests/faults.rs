//! Faults with real processes: the RTMP server (ours as its own process,
//! and nginx-rtmp) killed in the middle of a push and play, then started
//! again on the same port, or never again.
//!
//! The pusher must report 1102, find the server again within 3 s of its
//! return, publish again (1002), restart at a key frame and end with exit
//! status 0; frames it could not send meanwhile are dropped and counted.
//! The player must report 2103 and play on. A server that stays away ends
//! both with -1307 / -2301 and a non-zero exit in bounded time.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, liveroom, scratch_dir, Nginx, Watched};
use liveroom::flv::{parse_video_body, FlvReader, TagKind, VideoBody};

/// Our RTMP server as its own process (`liveroom serve`).
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn start(port: u16) -> Self {
        let mut child = liveroom("serve")
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("server output");
        assert!(first.starts_with("rtmp listening on"), "server: {first:?}");
        Self { child, port }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The JSON summary line of an example's stdout.
fn summary(stdout: &str) -> serde_json::Value {
    common::summary_of(stdout)
}

/// Pushes (15 s of stamped test video with the tone) and plays `url`
/// while `kill` and `restart` take the server away for 2 s; checks both
/// sides came through.
fn push_and_play_through_a_restart(
    name: &str,
    url: &str,
    kill: &mut dyn FnMut(),
    restart: &mut dyn FnMut(),
) {
    let dir = scratch_dir(&format!("faults-{name}"));
    let mut pusher = Watched::spawn(
        "pusher",
        "push",
        &[
            "--url", url, "--frames", "450", "--mode", "sd", "--events", "json",
        ],
        &dir,
    );
    // The player joins a stream that is live.
    pusher.wait_for(1002, Duration::from_secs(15));
    let mut player = Watched::spawn(
        "player",
        "play",
        &[
            "--url",
            url,
            "--events",
            "json",
            "--stamps",
            "--timeout",
            "25",
        ],
        &dir,
    );
    std::thread::sleep(Duration::from_secs(4));
    kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    restart();
    let back = Instant::now();

    let (status, stdout, stderr) = pusher.finish(Duration::from_secs(40));
    let reconnecting = pusher.times_of(1102);
    let publishing = pusher.times_of(1002);
    assert!(status.success(), "pusher failed: {stderr}\n{stdout}");
    assert!(
        reconnecting.iter().any(|&at| at >= killed),
        "no 1102 after the kill:\n{stdout}"
    );
    assert_eq!(publishing.len(), 2, "published twice:\n{stdout}");
    let found_again = publishing[1].saturating_duration_since(back);
    eprintln!("{name}: the pusher published again {found_again:?} after the server's return");
    assert!(
        found_again <= Duration::from_secs(3),
        "published again {found_again:?} after the server came back"
    );
    let pushed = summary(&stdout);
    assert_eq!(pushed["reconnects"], 1, "{pushed}");
    let captured = pushed["framesCaptured"].as_u64().unwrap_or(0);
    let sent = pushed["framesSent"].as_u64().unwrap_or(0);
    let dropped = pushed["framesDropped"].as_u64().unwrap_or(0);
    assert_eq!(captured, 450, "{pushed}");
    // Two seconds away at 30 frames/s: at least that many dropped on
    // purpose and counted, none held back to pile up.
    assert!(dropped >= 45, "{pushed}");
    assert!(sent + dropped >= captured - 5 && sent >= 300, "{pushed}");
    assert!(
        pushed["audioDropped"].as_u64().unwrap_or(0) > 0,
        "the sound of the outage is dropped and counted too: {pushed}"
    );

    let (status, stdout, stderr) = player.finish(Duration::from_secs(40));
    assert!(status.success(), "player failed: {stderr}\n{stdout}");
    assert!(
        player.times_of(2103).iter().any(|&at| at >= killed),
        "no 2103 after the kill:\n{stdout}"
    );
    let played = summary(&stdout);
    assert!(played["reconnects"].as_u64().unwrap_or(0) >= 1, "{played}");
    let shown = played["framesDisplayed"].as_u64().unwrap_or(0);
    let highest = played["stamps"]["highest"].as_u64().unwrap_or(0);
    eprintln!("{name}: the player showed {shown} frames, the last stamped {highest}");
    // It played on after the outage, to (nearly) the end of the stream.
    // (nginx keeps no GOP for late players: after the join and after the
    // reconnect it waits up to a GOP, 2 s, for a key frame.)
    assert!(shown >= 200 && highest >= 430, "{played}");
}

#[test]
fn push_and_play_survive_a_restart_of_our_server() {
    if common::gpu().is_none() {
        return;
    }
    let server = Arc::new(Mutex::new(ServerProcess::start(free_port())));
    let url = format!(
        "rtmp://127.0.0.1:{}/live/fault",
        server.lock().expect("server").port
    );
    let (a, b) = (Arc::clone(&server), Arc::clone(&server));
    push_and_play_through_a_restart(
        "ours",
        &url,
        &mut || a.lock().expect("server").kill(),
        &mut || b.lock().expect("server").restart(),
    );
}

#[test]
fn push_and_play_survive_a_restart_of_nginx() {
    if common::gpu().is_none() {
        return;
    }
    let records = scratch_dir("faults-nginx-records");
    let directives = format!(
        "record all; record_path {}; record_unique on;",
        records.display()
    );
    let Some(nginx) = Nginx::start_with("faults", &directives) else {
        return;
    };
    let url = nginx.url("fault");
    let nginx = Arc::new(Mutex::new(nginx));
    let (a, b) = (Arc::clone(&nginx), Arc::clone(&nginx));
    push_and_play_through_a_restart(
        "nginx",
        &url,
        &mut || a.lock().expect("nginx").kill(),
        &mut || b.lock().expect("nginx").restart(),
    );
    drop(nginx);
    // nginx recorded each publication in its own file: the second one, the
    // push after the reconnect, starts with its headers and a key frame.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&records)
        .expect("records")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "flv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(starts_with_a_key_frame(&files[1]));
}

/// The first two video bodies of an FLV file.
/// Whether an FLV file's first two video tags are the AVC sequence header
/// and a key frame.
fn starts_with_a_key_frame(path: &Path) -> bool {
    let file = File::open(path).expect("recording");
    let mut reader = FlvReader::new(BufReader::new(file)).expect("FLV header");
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let tag = reader
            .next_tag()
            .expect("readable recording")
            .expect("two video tags");
        if tag.kind == TagKind::Video {
            kinds.push(match parse_video_body(&tag.body).expect("video body") {
                VideoBody::SequenceHeader(_) => "header",
                VideoBody::Nalu {
                    key_frame: true, ..
                } => "key",
                _ => "other",
            });
        }
    }
    eprintln!("{}: video starts {kinds:?}", path.display());
    kinds == ["header", "key"]
}

#[test]
fn a_server_that_never_returns_ends_push_and_play() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("faults-gone");
    let mut server = ServerProcess::start(free_port());
    let url = format!("rtmp://127.0.0.1:{}/live/gone", server.port);
    let mut pusher = Watched::spawn(
        "pusher",
        "push",
        &[
            "--url",
            &url,
            "--frames",
            "900",
            "--mode",
            "sd",
            "--events",
            "json",
            "--reconnect-attempts",
            "3",
            "--reconnect-delay-ms",
            "200",
        ],
        &dir,
    );
    // The player joins a stream that is live.
    pusher.wait_for(1002, Duration::from_secs(15));
    let mut player = Watched::spawn(
        "player",
        "play",
        &[
            "--url",
            &url,
            "--events",
            "json",
            "--reconnect-attempts",
            "3",
            "--timeout",
            "60",
        ],
        &dir,
    );
    std::thread::sleep(Duration::from_secs(3));
    server.kill();
    let killed = Instant::now();

    let (status, stdout, stderr) = pusher.finish(Duration::from_secs(30));
    let pusher_gave_up = killed.elapsed();
    assert!(!status.success(), "{stdout}");
    assert!(stdout.contains(r#""code":1102"#), "{stdout}");
    assert!(stdout.contains(r#""code":-1307"#), "{stdout}");
    assert!(stderr.contains("gave up"), "{stderr}");
    let (status, stdout, stderr) = player.finish(Duration::from_secs(30));
    assert!(!status.success(), "{stdout}");
    assert!(stdout.contains(r#""code":2103"#), "{stdout}");
    assert!(stdout.contains(r#""code":-2301"#), "{stdout}");
    assert!(stderr.contains("gave up"), "{stderr}");
    eprintln!(
        "gave up {pusher_gave_up:?} (pusher) and {:?} (player) after the server died",
        killed.elapsed()
    );
    assert!(pusher_gave_up < Duration::from_secs(15));
}
