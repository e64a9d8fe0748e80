//! The RTMP playing client against real peers: FFmpeg publishes to our
//! embedded server and to nginx with the RTMP module while `PlayClient`
//! plays; broken servers (closed port, garbage, silence, a refused stream)
//! fail with the right codes instead of hanging or panicking; a server that
//! declares a message past the inbound limits fails the player (and the
//! publisher) at that message's header; closing is prompt.
//!
//! Needs `ffmpeg` and nginx with `libnginx-mod-rtmp` (installed by
//! `scripts/setup.sh`). Without nginx the nginx test is skipped, unless
//! `REQUIRE_NGINX=1` (CI), where it fails.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_with_timeout, Nginx};
use liveroom::events::{PlayCode, PlayEvent};
use liveroom::flv::StreamMetadata;
use liveroom::rtmp::play::{PlayClient, PlayConfig, PlayError, PlayMessage};
use liveroom::rtmp::{
    ChunkError, PublishError, Publisher, PublisherConfig, RtmpServer, RtmpUrl, ServerConfig,
};

/// FFmpeg publishing a 320x240 25 fps H.264 test pattern (one key frame a
/// second, video only) for `seconds`, in real time.
fn ffmpeg_publisher(url: &str, seconds: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "25"])
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)")
}

fn connect(url: &str, config: &PlayConfig) -> (Result<PlayClient, PlayError>, Vec<PlayEvent>) {
    let url = RtmpUrl::parse(url).expect("valid URL");
    let mut events = Vec::new();
    let result = PlayClient::connect(&url, config, &mut |event| events.push(event));
    (result, events)
}

/// What a player saw of one publication.
#[derive(Debug, Default)]
struct Received {
    metadata: Option<StreamMetadata>,
    /// Video messages: (timestamp, first two body bytes).
    video: Vec<(u32, [u8; 2])>,
    audio: usize,
    ended: bool,
    resets: usize,
}

/// Takes messages until the stream ends or `limit` passes.
fn play_until_end(client: &PlayClient, limit: Duration) -> Received {
    let deadline = Instant::now() + limit;
    let mut received = Received::default();
    while Instant::now() < deadline {
        match client.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(PlayMessage::Metadata(metadata))) => received.metadata = Some(metadata),
            Ok(Some(PlayMessage::Video { timestamp_ms, body })) => {
                let head = [
                    body.first().copied().unwrap_or(0),
                    body.get(1).copied().unwrap_or(0xff),
                ];
                received.video.push((timestamp_ms, head));
            }
            Ok(Some(PlayMessage::Audio { .. })) => received.audio += 1,
            Ok(Some(PlayMessage::StreamEnd)) => {
                received.ended = true;
                break;
            }
            Ok(Some(PlayMessage::StreamReset)) => received.resets += 1,
            Ok(None) => {}
            Err(error) => panic!("playing failed: {error} ({received:?})"),
        }
    }
    received
}

fn check_publication(received: &Received, server: &str) {
    let metadata = received
        .metadata
        .as_ref()
        .unwrap_or_else(|| panic!("{server}: no metadata"));
    assert_eq!((metadata.width, metadata.height), (320, 240), "{server}");
    assert_eq!(metadata.audio, None, "{server}: the stream has no audio");
    let (_, first) = received
        .video
        .first()
        .unwrap_or_else(|| panic!("{server}: no video"));
    assert_eq!(
        *first,
        [0x17, 0],
        "{server}: the AVC sequence header must come first"
    );
    let frames = received.video.iter().filter(|(_, h)| h[1] == 1).count();
    assert!(
        frames >= 80,
        "{server}: {frames} video frames, expected about 100"
    );
    assert!(
        received.video.windows(2).all(|w| w[0].0 <= w[1].0),
        "{server}: timestamps go backwards"
    );
    assert!(received.ended, "{server}: no end of stream notice");
}

#[test]
fn plays_ffmpeg_through_the_embedded_server() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let url = server.url("live", "x");
    // The player comes first and waits for the publisher.
    let (client, events) = connect(&url, &PlayConfig::default());
    let client = client.expect("play accepted before the stream exists");
    let codes: Vec<_> = events.iter().map(|e| e.code).collect();
    assert_eq!(codes, [PlayCode::Connected, PlayCode::StreamBegins]);

    let publisher = ffmpeg_publisher(&url, 4);
    let received = play_until_end(&client, Duration::from_secs(15));
    let (output, killed) = wait_with_timeout(publisher, Duration::from_secs(10));
    assert!(
        !killed && output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    check_publication(&received, "embedded server");
    assert_eq!(received.resets, 0);
    let stats = client.stats();
    assert_eq!(stats.video_messages as usize, received.video.len());
    assert_eq!((stats.video_dropped, stats.queued_bytes), (0, 0));
    assert!(stats.bytes_received > 10_000, "{stats:?}");

    // The player stays connected; a new publisher starts the stream over.
    // (The embedded server says `NetStream.Play.Complete` only once per
    // play request, so this second publication's end goes unannounced.)
    let publisher = ffmpeg_publisher(&url, 1);
    let (output, killed) = wait_with_timeout(publisher, Duration::from_secs(10));
    assert!(!killed && output.status.success());
    let mut again = Vec::new();
    while let Ok(Some(message)) = client.recv_timeout(Duration::from_millis(500)) {
        again.push(message);
    }
    assert_eq!(again.first(), Some(&PlayMessage::StreamReset), "{again:?}");
    let first_video = again.iter().find_map(|message| match message {
        PlayMessage::Video { body, .. } => Some(body.get(..2).unwrap_or_default().to_vec()),
        _ => None,
    });
    assert_eq!(first_video, Some(vec![0x17, 0]));
    assert!(
        again.len() > 20,
        "{} messages from the second publication",
        again.len()
    );
    client.close();
}

#[test]
fn plays_ffmpeg_through_nginx() {
    let Some(nginx) = Nginx::start("play") else {
        return;
    };
    let url = nginx.url("x");
    let (client, events) = connect(&url, &PlayConfig::default());
    let client = client.expect("nginx accepts play before the stream exists");
    assert_eq!(events.len(), 2);

    let publisher = ffmpeg_publisher(&url, 4);
    let received = play_until_end(&client, Duration::from_secs(15));
    let (output, killed) = wait_with_timeout(publisher, Duration::from_secs(10));
    assert!(
        !killed && output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    check_publication(&received, "nginx");
    let started = Instant::now();
    client.close();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_closed_port_fails_to_connect() {
    let port = free_port();
    let started = Instant::now();
    let (result, events) = connect(
        &format!("rtmp://127.0.0.1:{port}/live/x"),
        &PlayConfig::default(),
    );
    let error = result.expect_err("nothing listens");
    assert_eq!(error.play_code().code(), 3002, "{error}");
    assert!(error.is_retryable());
    assert!(events.is_empty());
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A server that accepts one connection and hands it to `serve`.
fn fake_server(serve: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        if let Ok((socket, _)) = listener.accept() {
            serve(socket);
        }
    });
    port
}

fn noise(length: usize, seed: u32) -> Vec<u8> {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

fn quick_config() -> PlayConfig {
    PlayConfig {
        response_timeout: Duration::from_secs(1),
        ..PlayConfig::default()
    }
}

#[test]
fn a_server_sending_garbage_fails_the_handshake() {
    let port = fake_server(|mut socket| {
        let mut garbage = noise(8192, 7);
        garbage[0] = 0x47; // not RTMP version 3
        let _ = socket.write_all(&garbage);
        let mut sink = [0u8; 4096];
        let _ = socket.set_read_timeout(Some(Duration::from_secs(3)));
        while matches!(socket.read(&mut sink), Ok(n) if n > 0) {}
    });
    let started = Instant::now();
    let (result, _) = connect(&format!("rtmp://127.0.0.1:{port}/live/x"), &quick_config());
    let error = result.expect_err("garbage is no RTMP server");
    assert_eq!(error.play_code().code(), 3003, "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The server side of the RTMP handshake on `socket`; false when the
/// client went away or sent no handshake.
fn server_handshake(socket: &mut TcpStream) -> bool {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    let _ = socket.set_read_timeout(Some(Duration::from_secs(3)));
    let mut handshake = Handshake::new(PeerType::Server);
    let mut buffer = [0u8; 4096];
    loop {
        let Ok(read) = socket.read(&mut buffer) else {
            return false;
        };
        if read == 0 {
            return false;
        }
        match handshake.process_bytes(&buffer[..read]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                let _ = socket.write_all(&response_bytes);
            }
            Ok(HandshakeProcessResult::Completed { response_bytes, .. }) => {
                let _ = socket.write_all(&response_bytes);
                return true;
            }
            Err(_) => return false,
        }
    }
}

/// A server that completes the handshake, sends `bytes` and then reads
/// until the client leaves.
fn server_sending(bytes: Vec<u8>) -> u16 {
    fake_server(move |mut socket| {
        if !server_handshake(&mut socket) {
            return;
        }
        let _ = socket.write_all(&bytes);
        let mut buffer = [0u8; 4096];
        while matches!(socket.read(&mut buffer), Ok(n) if n > 0) {}
    })
}

#[test]
fn garbage_after_a_valid_handshake_fails_without_a_panic() {
    for seed in 1..=4u32 {
        let port = server_sending(noise(64 * 1024, seed));
        let started = Instant::now();
        let (result, _) = connect(&format!("rtmp://127.0.0.1:{port}/live/x"), &quick_config());
        let error = result.expect_err("garbage is no RTMP session");
        assert!(
            [3003, 3004, 3005].contains(&error.play_code().code()),
            "seed {seed}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

/// The header of a video message on chunk stream 6 declaring 16 MiB - 1
/// bytes, and the first bytes of its payload: what would make rml_rtmp
/// reserve 16 MiB.
fn huge_message_header() -> Vec<u8> {
    vec![
        0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0, 0x17, 1, 0, 0,
    ]
}

#[test]
fn a_server_declaring_a_huge_message_fails_the_player_at_its_header() {
    let port = server_sending(huge_message_header());
    let (result, _) = connect(&format!("rtmp://127.0.0.1:{port}/live/x"), &quick_config());
    let error = result.expect_err("a 16 MiB message is past the limits");
    assert!(
        matches!(
            error,
            PlayError::Chunk(ChunkError::MessageSize {
                length: 0xff_ffff,
                ..
            })
        ),
        "{error}"
    );
    assert_eq!(error.play_code().code(), 3005);
    assert!(error.is_retryable());
}

#[test]
fn a_server_declaring_a_huge_message_fails_the_publisher_at_its_header() {
    let port = server_sending(huge_message_header());
    let url = RtmpUrl::parse(&format!("rtmp://127.0.0.1:{port}/live/x")).expect("valid URL");
    let config = PublisherConfig {
        response_timeout: Duration::from_secs(1),
        ..PublisherConfig::default()
    };
    let error = Publisher::connect(&url, &config, &mut |_| {})
        .expect_err("a 16 MiB message is past the limits");
    assert!(
        matches!(error, PublishError::Chunk(ChunkError::MessageSize { .. })),
        "{error}"
    );
    assert_eq!(error.push_code().code(), 3005);
}

#[test]
fn a_silent_server_times_out() {
    let port = fake_server(|mut socket| {
        // Read the client's bytes and answer nothing.
        let _ = socket.set_read_timeout(Some(Duration::from_secs(4)));
        let mut sink = [0u8; 4096];
        while matches!(socket.read(&mut sink), Ok(n) if n > 0) {}
    });
    let started = Instant::now();
    let (result, _) = connect(&format!("rtmp://127.0.0.1:{port}/live/x"), &quick_config());
    let error = result.expect_err("no answer");
    assert_eq!(error.play_code().code(), 3003, "{error}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
}

#[test]
fn a_refused_stream_is_not_retryable() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let mut url = RtmpUrl::parse(&server.url("live", "x")).expect("valid URL");
    // The embedded server refuses an empty stream name.
    url.stream = " ".into();
    let mut events = Vec::new();
    let error =
        PlayClient::connect(&url, &quick_config(), &mut |e| events.push(e)).expect_err("refused");
    assert!(matches!(error, PlayError::Rejected(_)), "{error}");
    assert_eq!(error.play_code().code(), 3004);
    assert!(!error.is_retryable());
    assert_eq!(
        events.iter().map(|e| e.code).collect::<Vec<_>>(),
        [PlayCode::Connected]
    );
}

#[test]
fn close_and_drop_are_prompt_while_media_flows() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let url = server.url("live", "busy");
    let publisher = ffmpeg_publisher(&url, 8);
    for use_close in [true, false] {
        let (client, _) = connect(&url, &PlayConfig::default());
        let client = client.expect("play accepted");
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut video = 0;
        while video < 10 && Instant::now() < deadline {
            if let Ok(Some(PlayMessage::Video { .. })) =
                client.recv_timeout(Duration::from_millis(200))
            {
                video += 1;
            }
        }
        assert_eq!(video, 10, "media did not flow");
        let started = Instant::now();
        if use_close {
            let stats = client.close();
            assert!(stats.video_messages >= 10);
        } else {
            drop(client);
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "closing took {took:?}");
    }
    // Enough seen: stop the publisher now.
    let _ = wait_with_timeout(publisher, Duration::ZERO);
}

#[test]
fn a_reader_that_falls_behind_loses_video_not_memory() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let url = server.url("live", "slow");
    let limit = 20_000;
    let config = PlayConfig {
        max_queued_bytes: limit,
        ..PlayConfig::default()
    };
    let (client, _) = connect(&url, &config);
    let client = client.expect("play accepted");
    let publisher = ffmpeg_publisher(&url, 4);
    // Read nothing for a while, then catch up.
    std::thread::sleep(Duration::from_millis(2000));
    let stats = client.stats();
    assert!(stats.video_dropped > 0, "{stats:?}");
    // At most one message past the limit waits (a key frame may be large).
    assert!(stats.queued_bytes < limit + 64_000, "{stats:?}");

    // (timestamp, frame type, AVC packet type) of what was delivered.
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        match client.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(PlayMessage::Video { timestamp_ms, body })) => {
                let byte = |i: usize| body.get(i).copied().unwrap_or(0xff);
                frames.push((timestamp_ms, byte(0) >> 4, byte(1)));
            }
            Ok(Some(PlayMessage::StreamEnd)) => break,
            Ok(_) => {}
            Err(error) => panic!("{error}"),
        }
    }
    let (output, killed) = wait_with_timeout(publisher, Duration::from_secs(5));
    assert!(!killed && output.status.success());
    let stats = client.stats();
    assert_eq!(stats.queued_bytes, 0);
    assert_eq!(
        frames.len() as u64 + stats.video_dropped,
        stats.video_messages,
        "every video message is delivered or counted as dropped"
    );
    assert_eq!(
        frames.first().map(|f| (f.1, f.2)),
        Some((1, 0)),
        "sequence header kept"
    );
    // After a gap (dropped frames) playback resumes at a key frame.
    let pictures: Vec<_> = frames.iter().filter(|f| f.2 == 1).collect();
    let mut gaps = 0;
    for pair in pictures.windows(2) {
        if pair[1].0 > pair[0].0 + 40 {
            gaps += 1;
            assert_eq!(pair[1].1, 1, "resumed at {:?}, not a key frame", pair[1]);
        }
    }
    assert!(gaps >= 1, "no gap although frames were dropped: {frames:?}");
}

#[test]
fn an_idle_stream_fails_after_the_idle_timeout() {
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let config = PlayConfig {
        idle_timeout: Duration::from_millis(600),
        ..PlayConfig::default()
    };
    let (client, _) = connect(&server.url("live", "nobody"), &config);
    let client = client.expect("play accepted");
    let started = Instant::now();
    let error = loop {
        match client.recv_timeout(Duration::from_millis(100)) {
            Ok(message) => assert!(message.is_none(), "{message:?}"),
            Err(error) => break error,
        }
        assert!(started.elapsed() < Duration::from_secs(3), "no idle error");
    };
    assert!(matches!(error, PlayError::Idle(_)), "{error}");
    assert_eq!(error.play_code().code(), 3005);
    // The error stays.
    assert!(client.try_recv().is_err());
}

#[test]
fn plays_audio_and_video_through_nginx() {
    let Some(nginx) = Nginx::start("play-av") else {
        return;
    };
    let url = nginx.url("av");
    let (client, _) = connect(&url, &PlayConfig::default());
    let client = client.expect("play accepted");
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", "3", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-g", "30", "-b:v", "2M", "-c:a", "aac", "-f", "flv", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(12);
    let (mut video, mut audio, mut audio_header_first, mut ended) = (0, 0, false, false);
    while Instant::now() < deadline {
        match client.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(PlayMessage::Video { .. })) => video += 1,
            Ok(Some(PlayMessage::Audio { body, .. })) => {
                if audio == 0 {
                    audio_header_first = body.get(..2) == Some(&[0xaf, 0][..]);
                }
                audio += 1;
            }
            Ok(Some(PlayMessage::StreamEnd)) => {
                ended = true;
                break;
            }
            Ok(_) => {}
            Err(error) => panic!("playing failed after {video} video, {audio} audio: {error}"),
        }
    }
    let (_, killed) = wait_with_timeout(publisher, Duration::from_secs(10));
    assert!(!killed);
    assert!(video >= 80, "{video} video messages");
    assert!(audio >= 100, "{audio} audio messages");
    assert!(
        audio_header_first,
        "the AAC sequence header must come first"
    );
    assert!(ended, "no end of stream notice");
}
