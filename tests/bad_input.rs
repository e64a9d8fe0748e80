//! Bad input to the player program, and servers that answer garbage: each
//! gives one clear line on stderr and a non-zero exit in bounded time,
//! never a panic. (The pusher's bad values are in `pusher_cli.rs`, hostile
//! peers of the embedded server in `embedded_server.rs`.)

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{run_liveroom, run_pusher, scratch_dir};

fn run_player(args: &[&str], limit: Duration) -> Output {
    run_liveroom("play", args, limit)
}

/// Stderr of a failed run, after checking it is one line without a panic.
fn one_clear_line(what: &str, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{what} succeeded");
    assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("GPU adapter"))
        .collect();
    assert_eq!(lines.len(), 1, "{what}: {stderr}");
    lines[0].to_lowercase()
}

#[test]
fn bad_player_values_give_one_clear_line_and_a_non_zero_exit() {
    let dir = scratch_dir("bad-player-values");
    let not_flv = dir.join("not.flv");
    std::fs::write(&not_flv, b"this is not a video").expect("write");
    let cut_header = dir.join("cut.flv");
    std::fs::write(&cut_header, b"FLV\x01").expect("write");
    let url = "rtmp://127.0.0.1/live/x";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--url is required"),
        (vec!["--url", "ftp://example.com/a/b"], "rtmp://"),
        (vec!["--url", "rtmp://example.com"], "malformed"),
        (vec!["--url", url, "--mode", "tv"], "mode"),
        (vec!["--url", url, "--min-cache", "-1"], "--min-cache"),
        (vec!["--url", url, "--min-cache", "NaN"], "--min-cache"),
        (
            vec!["--url", url, "--min-cache", "5", "--max-cache", "1"],
            "above",
        ),
        (vec!["--url", url, "--frames", "0"], "--frames"),
        (vec!["--url", url, "--output", "out.mp4"], ".y4m"),
        (vec!["--url", url, "--view", "0x0"], "view"),
        (vec!["--url", url, "--view", "big"], "--view"),
        (vec!["--url", url, "--object-fit", "stretch"], "object"),
        (vec!["--url", url, "--key", ""], "key"),
        (
            vec!["--url", url, "--reference", "/no/such/ref.y4m"],
            "cannot read",
        ),
        (
            vec!["--url", url, "--audio-output", "/no/such/dir/a.wav"],
            "cannot write",
        ),
        (vec!["--url", "/no/such/stream.flv"], "cannot read"),
        (
            vec!["--url", not_flv.to_str().expect("utf-8")],
            "not an flv",
        ),
        (
            vec!["--url", cut_header.to_str().expect("utf-8")],
            "cannot read",
        ),
        (vec!["--url", url, "--bogus"], "unknown flag"),
    ];
    for (args, expected) in cases {
        let line = one_clear_line(
            &format!("{args:?}"),
            &run_player(&args, Duration::from_secs(20)),
        );
        assert!(
            line.contains(expected),
            "{args:?}: {line:?} does not mention {expected:?}"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A TCP server that answers every connection with `reply` and closes.
fn garbage_server(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { continue };
            let mut hello = [0u8; 1537];
            let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = socket.read(&mut hello);
            let _ = socket.write_all(reply);
        }
    });
    port
}

#[test]
fn a_server_that_answers_garbage_ends_push_and_play_cleanly() {
    if common::gpu().is_none() {
        return;
    }
    // An HTTP server where an RTMP server should be, and one that sends a
    // valid-looking S0 followed by noise.
    let http = garbage_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let noise: &'static [u8] = Box::leak(
        std::iter::once(3u8)
            .chain((0..4000u32).map(|i| (i * 7919 % 253) as u8))
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    let noisy = garbage_server(noise);
    for port in [http, noisy] {
        let url = format!("rtmp://127.0.0.1:{port}/live/x");
        // The same flags suit both programs.
        let args = [
            "--url",
            &url,
            "--events",
            "json",
            "--reconnect-attempts",
            "1",
        ];
        let started = Instant::now();
        let output = run_pusher(&args, Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = one_clear_line("pusher", &output);
        assert!(
            stdout.contains(r#""code":3003"#) || stdout.contains(r#""code":3005"#),
            "{stdout}"
        );
        assert!(stdout.contains(r#""code":-1307"#), "{line}\n{stdout}");
        assert!(started.elapsed() < Duration::from_secs(20));

        let output = run_player(&args, Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&output.stdout);
        one_clear_line("player", &output);
        assert!(stdout.contains(r#""code":-2301"#), "{stdout}");
    }
}
