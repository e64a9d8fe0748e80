//! Anti-leech signatures end to end with our own programs: the pusher and
//! the player sign their URLs with `--key`, a server holding the key lets
//! them in, and a missing, wrong or expired signature is refused with 3004
//! and the `error` event (code -1, with the reason), at once and without
//! retrying.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{liveroom, push_ok, run_pusher, scratch_dir, summary_of, Watched};
use liveroom::rtmp::{sign_url, RtmpServer, ServerConfig};

const KEY: &str = "anti-leech-test-key";

fn keyed_server() -> RtmpServer {
    RtmpServer::start(ServerConfig {
        anti_leech_key: Some(KEY.into()),
        ..ServerConfig::default()
    })
    .expect("server starts")
}

/// The `error` line's detail, asserting there is exactly one refusal,
/// reported as 3004 and -1, and no reconnect attempt.
fn refusal_detail(stdout: &str) -> String {
    assert!(stdout.contains(r#""code":3004"#), "no 3004 in:\n{stdout}");
    assert!(
        !stdout.contains(r#""code":1102"#) && !stdout.contains(r#""code":2103"#),
        "a refusal is not retried:\n{stdout}"
    );
    let errors: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|line| line.contains(r#""tag":"error""#))
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    assert_eq!(errors[0]["code"], -1);
    errors[0]["detail"].as_str().unwrap_or_default().to_string()
}

#[test]
fn signed_push_and_play_get_through_a_keyed_server() {
    if common::gpu().is_none() {
        return;
    }
    let server = keyed_server();
    let url = server.url("live", "signed");
    let dir = scratch_dir("anti-leech-signed");
    let mut player = Watched::spawn(
        "player",
        "play",
        &[
            "--url",
            &url,
            "--key",
            KEY,
            "--frames",
            "45",
            "--timeout",
            "30",
            "--events",
            "json",
        ],
        &dir,
    );
    // Its play request is accepted (2002) before the publisher comes.
    player.wait_for(2002, Duration::from_secs(15));
    push_ok(
        &[
            "--url", &url, "--key", KEY, "--expire", "60", "--frames", "90", "--mode", "sd",
        ],
        Duration::from_secs(60),
    );
    let (status, stdout, _) = player.finish(Duration::from_secs(30));
    assert!(status.success(), "{stdout}");
    assert_eq!(summary_of(&stdout)["framesDisplayed"], 45, "{stdout}");
}

#[test]
fn missing_wrong_and_expired_signatures_are_refused_at_once() {
    if common::gpu().is_none() {
        return;
    }
    let server = keyed_server();
    let url = server.url("live", "guarded");
    let expired = sign_url(&url, KEY, SystemTime::now() - Duration::from_secs(30)).expect("sign");
    for (args, reason) in [
        (vec!["--url", &url], "missing"),
        (vec!["--url", &url, "--key", "wrong"], "does not match"),
        (vec!["--url", &expired], "expired"),
    ] {
        let started = Instant::now();
        let mut args = args.clone();
        args.extend(["--frames", "300", "--mode", "sd", "--events", "json"]);
        let output = run_pusher(&args, Duration::from_secs(20));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} accepted:\n{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let detail = refusal_detail(&stdout);
        assert!(detail.contains(reason), "{args:?}: {detail}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
    }

    // A player with the wrong key.
    let output = liveroom("play")
        .args([
            "--url",
            &url,
            "--key",
            "wrong",
            "--events",
            "json",
            "--timeout",
            "20",
        ])
        .output()
        .expect("player runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(refusal_detail(&stdout).contains("does not match"));
    assert_eq!(server.stats().publishers(), 0);
}

#[test]
fn the_main_job_signs_its_own_loopback_stream_with_a_key() {
    if common::gpu().is_none() {
        return;
    }
    // No URL: the embedded server requires the key, and the pusher and its
    // own playback both sign with it.
    let stdout = push_ok(
        &[
            "--key", KEY, "--frames", "60", "--mode", "sd", "--events", "json",
        ],
        Duration::from_secs(60),
    );
    let summary = summary_of(&stdout);
    assert_eq!(summary["framesReceived"], 60, "{summary}");
    assert!(
        summary["url"]
            .as_str()
            .is_some_and(|u| u.contains("txSecret=")),
        "{summary}"
    );
}
