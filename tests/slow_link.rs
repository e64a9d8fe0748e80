//! A slow link between the pusher and the server: a throttling TCP proxy in
//! the test, whose rate the test turns down and up again while an RTC push
//! runs through it.
//!
//! The pusher must lower its bitrate toward the minimum (1006) while the
//! link is slow and raise it again when the link recovers, with its send
//! queue bounded all along; a player on the far side reports the unsteady
//! arrival (2104/2105) and plays on to the end.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{liveroom, summary_of, wait_with_timeout};
use liveroom::rtmp::{RtmpServer, ServerConfig};

/// Bytes per second the proxy passes upstream; 0: no limit.
type Rate = Arc<AtomicU64>;

/// A TCP proxy to `upstream` that limits the client-to-server direction to
/// `rate`. Its sockets take small receive buffers, so that a slow link
/// shows as a backlog in the sender instead of megabytes hidden in kernel
/// buffers on loopback.
fn throttling_proxy(upstream: SocketAddr, rate: Rate) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
    shrink_receive_buffer(&listener, 16 * 1024);
    let address = listener.local_addr().expect("proxy address");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (client_in, server_out) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let rate = Arc::clone(&rate);
            std::thread::spawn(move || pump(client_in, server_out, Some(rate)));
            std::thread::spawn(move || pump(server, client, None));
        }
    });
    address
}

fn shrink_receive_buffer(socket: &impl AsRawFd, bytes: libc::c_int) {
    // SAFETY: setsockopt on a valid descriptor with a pointer to a c_int
    // and its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "setsockopt SO_RCVBUF");
}

/// Copies `from` to `to`, at most `rate` bytes per second when given.
fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<Rate>) {
    let mut buffer = [0u8; 2048];
    let mut next_allowed = Instant::now();
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
        let limit = rate.as_ref().map_or(0, |r| r.load(Ordering::Relaxed));
        if limit > 0 {
            let now = Instant::now();
            next_allowed =
                next_allowed.max(now) + Duration::from_secs_f64(read as f64 / limit as f64);
            std::thread::sleep(next_allowed.saturating_duration_since(now));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The `from → to kbps` pairs of the 1006 events, in order, with the
/// moment each arrived relative to `start`.
fn bitrate_changes(stdout: &str) -> Vec<(u32, u32)> {
    stdout
        .lines()
        .filter(|line| line.contains(r#""code":1006"#))
        .filter_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            let message = event["message"].as_str()?;
            let numbers: Vec<u32> = message
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            Some((*numbers.first()?, *numbers.get(1)?))
        })
        .collect()
}

#[test]
fn rtc_bitrate_follows_a_slow_link_down_and_back_up() {
    if common::gpu().is_none() {
        return;
    }
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let rate: Rate = Arc::new(AtomicU64::new(0));
    let proxy = throttling_proxy(server.local_addr(), Arc::clone(&rate));
    let push_url = format!("rtmp://{proxy}/live/slow");
    let play_url = server.url("live", "slow");

    let player = liveroom("play")
        .args([
            "--url", &play_url, "--mode", "rtc", "--stamps", "--events", "json",
        ])
        .args(["--timeout", "45"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("player runs");
    // 28 s of RTC video (200 to 1000 kbps) with the 128 kbps tone.
    let pusher = liveroom("push")
        .args(["--url", &push_url, "--mode", "rtc", "--frames", "840"])
        .args(["--events", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pusher runs");
    // Fast for 4 s, 400 kbps for 10 s (room for the minimum bitrate and
    // the sound, not for the maximum), then fast again.
    std::thread::sleep(Duration::from_secs(4));
    rate.store(400 * 1000 / 8, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(10));
    rate.store(0, Ordering::Relaxed);

    let (output, killed) = wait_with_timeout(pusher, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stderr}\n{stdout}");
    let changes = bitrate_changes(&stdout);
    eprintln!("1006: {changes:?}");
    let lowest = changes.iter().map(|&(_, to)| to).min().unwrap_or(1000);
    assert!(lowest <= 300, "the bitrate went down to {lowest} kbps only");
    let lowest_at = changes
        .iter()
        .position(|&(_, to)| to == lowest)
        .unwrap_or(0);
    assert!(
        changes[lowest_at..].iter().any(|&(from, to)| to > from),
        "the bitrate never rose again after the link recovered: {changes:?}"
    );
    let summary = summary_of(&stdout);
    eprintln!("pusher: {summary}");
    let peak = summary["peakBacklogBytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        peak <= (2 << 20) + 200_000,
        "the send queue grew to {peak} bytes"
    );
    assert!(
        summary["framesSent"].as_u64().unwrap_or(0) >= 600,
        "{summary}"
    );

    let (output, killed) = wait_with_timeout(player, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!killed && output.status.success(), "{stdout}");
    let unsteady = [r#""code":2104"#, r#""code":2105"#]
        .iter()
        .any(|code| stdout.contains(code));
    assert!(
        unsteady,
        "the player did not report the unsteady link:\n{stdout}"
    );
    let played = summary_of(&stdout);
    eprintln!("player: {played}");
    assert!(
        played["stamps"]["highest"].as_u64().unwrap_or(0) >= 800,
        "the player caught up to the end: {played}"
    );
}
