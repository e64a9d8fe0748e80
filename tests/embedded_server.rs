//! The embedded RTMP server against real peers: the system `ffmpeg` publishes
//! and plays, `ffprobe` checks what players wrote, a small `rml_rtmp` client
//! watches what a waiting player is sent, and raw sockets send garbage.
//!
//! Each test runs its own server on a free loopback port, so they run in
//! parallel. Every child process is bounded by a timeout and killed past it:
//! a broken server fails the test instead of hanging it. `ffmpeg` and
//! `ffprobe` are required (`scripts/setup.sh` installs them).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use liveroom::rtmp::server::ServerStats;
use liveroom::rtmp::{sign_url, MediaKind, RtmpServer, ServerConfig};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

// ---------------------------------------------------------------- helpers

fn require_tools() {
    for tool in ["ffmpeg", "ffprobe"] {
        let found = Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false);
        assert!(
            found,
            "`{tool}` is not installed: run scripts/setup.sh (it installs ffmpeg)"
        );
    }
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("embedded_server-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A child process that is killed if the test lets go of it.
struct Proc {
    name: String,
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(name: &str, program: &str, args: &[String], dir: &Path) -> Proc {
        let stderr = dir.join(format!("{name}.stderr"));
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("create a stderr file"))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
        Proc {
            name: name.to_string(),
            child,
            stderr,
        }
    }

    /// Waits up to `limit`; `None` if it is still running.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(25)),
                Ok(None) => return None,
                Err(error) => panic!("waiting for {}: {error}", self.name),
            }
        }
    }

    /// Waits up to `limit`, failing the test (after killing it) if it is
    /// still running; returns the status and what it wrote on stderr.
    fn finish(mut self, limit: Duration) -> (ExitStatus, String) {
        match self.wait_for(limit) {
            Some(status) => (status, self.stderr_text()),
            None => {
                self.kill();
                panic!(
                    "{} still running after {limit:?}; stderr:\n{}",
                    self.name,
                    self.stderr_text()
                );
            }
        }
    }

    /// Like `finish`, and the process must have succeeded.
    fn succeed(self, limit: Duration) {
        let name = self.name.clone();
        let (status, stderr) = self.finish(limit);
        assert!(status.success(), "{name} failed ({status}):\n{stderr}");
    }

    fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

/// `ffmpeg` publishing a 320x240 25 fps H.264 test pattern with AAC audio in
/// real time for `seconds`.
fn publisher(name: &str, url: &str, seconds: u32, dir: &Path) -> Proc {
    let mut args = strings(&[
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
    ]);
    args.push(seconds.to_string());
    args.extend(strings(&[
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "flv",
        url,
    ]));
    Proc::spawn(name, "ffmpeg", &args, dir)
}

/// `ffmpeg` playing `url` for `seconds` of media, copied into `out` (FLV).
fn player(name: &str, url: &str, seconds: u32, out: &Path, dir: &Path) -> Proc {
    let mut args = strings(&["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    args.extend(strings(&["-i", url, "-t"]));
    args.push(seconds.to_string());
    // -copyinkf: keep what comes before the first key frame, so that a
    // player that did not start at one shows it.
    args.extend(strings(&["-c", "copy", "-copyinkf", "-f", "flv"]));
    args.push(out.display().to_string());
    Proc::spawn(name, "ffmpeg", &args, dir)
}

/// Runs `ffprobe` with `args` and parses its `key=value` lines.
fn probe(args: &[&str], file: &Path) -> HashMap<String, String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    assert!(
        output.status.success(),
        "ffprobe {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Codec, size and decoded frame count of the first video stream.
fn video_stream(file: &Path) -> HashMap<String, String> {
    probe(
        &[
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ],
        file,
    )
}

fn decoded_frames(file: &Path) -> u32 {
    let info = video_stream(file);
    info.get("nb_read_frames")
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no frame count for {}: {info:?}", file.display()))
}

/// The first line `ffprobe` prints for `entries` of the first video stream,
/// in CSV without the section name.
fn first_video_entry(file: &Path, entries: &str) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// What `ffmpeg` reports while decoding the whole file (empty: no errors).
fn decode_errors(file: &Path) -> String {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `condition` every 25 ms for up to `limit`; fails the test on
/// timeout.
fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(25));
    }
}

fn wait_for_stats(
    server: &RtmpServer,
    what: &str,
    limit: Duration,
    condition: impl Fn(&ServerStats) -> bool,
) {
    wait_until(what, limit, || condition(&server.stats()));
}

/// Whether the peer closes `socket` within `limit` (EOF or reset), reading
/// and discarding whatever comes first.
fn closed_within(socket: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buffer = [0; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        socket
            .set_read_timeout(Some(left))
            .expect("set a read timeout");
        match socket.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// A TCP connection that has completed the RTMP handshake (client side);
/// also returns any bytes that came after it.
fn handshaken(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut handshake = Handshake::new(PeerType::Client);
    let hello = handshake.generate_outbound_p0_and_p1().expect("make C0+C1");
    socket.write_all(&hello).expect("send C0+C1");
    let mut buffer = [0; 8192];
    loop {
        let read = socket.read(&mut buffer).expect("read the handshake");
        assert!(read > 0, "server closed during the handshake");
        match handshake
            .process_bytes(&buffer[..read])
            .expect("valid handshake")
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket.write_all(&response_bytes).expect("send")
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket.write_all(&response_bytes).expect("send C2");
                return (socket, remaining_bytes);
            }
        }
    }
}

/// What the rml_rtmp test player saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    PlayAccepted,
    Video(MediaKind, u32),
    Audio(MediaKind, u32),
    Metadata,
    Status(String),
    Refused(String),
    Error(String),
    Closed,
}

/// A player written with rml_rtmp's client session (the library our own
/// player uses), recording everything it is sent.
struct RmlPlayer {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    /// While set, the player does not read its socket (a stalled player).
    paused: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RmlPlayer {
    fn start(addr: SocketAddr, app: &str, stream: &str) -> RmlPlayer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (app, stream) = (app.to_string(), stream.to_string());
        let thread = {
            let (seen, stop, paused) = (Arc::clone(&seen), Arc::clone(&stop), Arc::clone(&paused));
            thread::spawn(move || {
                let outcome = rml_play(addr, &app, &stream, &stop, &paused, &seen);
                let mut seen = seen.lock().expect("seen list");
                if let Err(error) = outcome {
                    seen.push(Seen::Error(error));
                }
                seen.push(Seen::Closed);
            })
        };
        RmlPlayer {
            seen,
            stop,
            paused,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen list").clone()
    }

    fn has_seen(&self, what: impl Fn(&Seen) -> bool) -> bool {
        self.seen().iter().any(what)
    }
}

impl Drop for RmlPlayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn rml_play(
    addr: SocketAddr,
    app: &str,
    stream: &str,
    stop: &AtomicBool,
    paused: &AtomicBool,
    seen: &Mutex<Vec<Seen>>,
) -> Result<(), String> {
    let (mut socket, remaining) = handshaken(addr);
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|error| error.to_string())?;
    let (mut session, results) =
        ClientSession::new(ClientSessionConfig::new()).map_err(|error| error.to_string())?;
    let mut pending = results;
    pending.push(
        session
            .request_connection(app.to_string())
            .map_err(|error| error.to_string())?,
    );
    let mut input = remaining;
    let mut buffer = [0; 65536];
    loop {
        if !input.is_empty() {
            let results = session
                .handle_input(&input)
                .map_err(|error| error.to_string())?;
            input.clear();
            pending.extend(results);
        }
        while !pending.is_empty() {
            for result in std::mem::take(&mut pending) {
                match result {
                    ClientSessionResult::OutboundResponse(packet) => socket
                        .write_all(&packet.bytes)
                        .map_err(|error| error.to_string())?,
                    ClientSessionResult::RaisedEvent(event) => {
                        let record = match event {
                            ClientSessionEvent::ConnectionRequestAccepted => {
                                pending.push(
                                    session
                                        .request_playback(stream.to_string())
                                        .map_err(|error| error.to_string())?,
                                );
                                None
                            }
                            ClientSessionEvent::PlaybackRequestAccepted => Some(Seen::PlayAccepted),
                            ClientSessionEvent::VideoDataReceived { data, timestamp } => {
                                Some(Seen::Video(MediaKind::of_video(&data), timestamp.value))
                            }
                            ClientSessionEvent::AudioDataReceived { data, timestamp } => {
                                Some(Seen::Audio(MediaKind::of_audio(&data), timestamp.value))
                            }
                            ClientSessionEvent::StreamMetadataReceived { .. } => {
                                Some(Seen::Metadata)
                            }
                            ClientSessionEvent::UnhandleableOnStatusCode { code } => {
                                Some(Seen::Status(code))
                            }
                            ClientSessionEvent::UnknownTransactionResultReceived {
                                additional_values,
                                ..
                            } => Some(Seen::Refused(format!("{additional_values:?}"))),
                            _ => None,
                        };
                        if let Some(record) = record {
                            seen.lock().expect("seen list").push(record);
                        }
                    }
                    ClientSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if paused.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        match socket.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => input.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// Publishes `frames` synthetic video frames of `frame_bytes` each as fast as
/// the socket takes them (a key frame every `gop`), with rml_rtmp's client
/// session, then stops publishing; returns the socket, still open (closing
/// it with the server's acknowledgements unread would reset the connection
/// and lose what the server has not read yet).
fn rml_publish(
    addr: SocketAddr,
    app: &str,
    stream: &str,
    frames: u32,
    frame_bytes: usize,
    gop: u32,
) -> Result<TcpStream, String> {
    let (mut socket, remaining) = handshaken(addr);
    let (mut session, mut pending) =
        ClientSession::new(ClientSessionConfig::new()).map_err(|error| error.to_string())?;
    pending.push(
        session
            .request_connection(app.to_string())
            .map_err(|error| error.to_string())?,
    );
    let mut input = remaining;
    let mut buffer = [0; 8192];
    let mut publishing = false;
    while !publishing {
        if !input.is_empty() {
            pending.extend(
                session
                    .handle_input(&input)
                    .map_err(|error| error.to_string())?,
            );
            input.clear();
        }
        while !pending.is_empty() {
            for result in std::mem::take(&mut pending) {
                match result {
                    ClientSessionResult::OutboundResponse(packet) => socket
                        .write_all(&packet.bytes)
                        .map_err(|error| error.to_string())?,
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestAccepted,
                    ) => pending.push(
                        session
                            .request_publishing(stream.to_string(), PublishRequestType::Live)
                            .map_err(|error| error.to_string())?,
                    ),
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::PublishRequestAccepted,
                    ) => publishing = true,
                    _ => {}
                }
            }
        }
        if !publishing {
            let read = socket
                .read(&mut buffer)
                .map_err(|error| error.to_string())?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
            input.extend_from_slice(&buffer[..read]);
        }
    }
    let mut send = |data: Vec<u8>, timestamp: u32| -> Result<(), String> {
        let result = session
            .publish_video_data(Bytes::from(data), RtmpTimestamp::new(timestamp), false)
            .map_err(|error| error.to_string())?;
        if let ClientSessionResult::OutboundResponse(packet) = result {
            socket
                .write_all(&packet.bytes)
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    };
    send(vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f], 0)?;
    for frame in 0..frames {
        let mut data = vec![0; frame_bytes];
        data[0] = if frame % gop == 0 { 0x17 } else { 0x27 };
        data[1] = 1;
        send(data, frame * 40)?;
    }
    for result in session
        .stop_publishing()
        .map_err(|error| error.to_string())?
    {
        if let ClientSessionResult::OutboundResponse(packet) = result {
            socket
                .write_all(&packet.bytes)
                .map_err(|error| error.to_string())?;
        }
    }
    Ok(socket)
}

const PROCESS_LIMIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ tests

#[test]
fn ffmpeg_publishes_and_early_and_late_players_receive() {
    require_tools();
    let dir = scratch("relay");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let url = server.url("live", "test");
    assert!(url.starts_with("rtmp://127.0.0.1:"), "{url}");

    // A player that comes before the publisher waits for it.
    let early_file = dir.join("early.flv");
    let early = player("early player", &url, 3, &early_file, &dir);
    wait_for_stats(
        &server,
        "the early player",
        Duration::from_secs(10),
        |stats| stats.players_of("live/test") == 1,
    );

    let publishing = publisher("publisher", &url, 4, &dir);
    wait_for_stats(&server, "the publisher", Duration::from_secs(10), |stats| {
        stats.publishing.contains("live/test")
    });
    let started = Instant::now();
    thread::sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));

    // A late player must start at a key frame, from the kept GOP.
    let late_file = dir.join("late.flv");
    let late = player("late player", &url, 1, &late_file, &dir);

    publishing.succeed(PROCESS_LIMIT);
    early.succeed(PROCESS_LIMIT);
    late.succeed(PROCESS_LIMIT);

    let early_video = video_stream(&early_file);
    assert_eq!(early_video["codec_name"], "h264", "{early_video:?}");
    assert_eq!(
        (
            early_video["width"].as_str(),
            early_video["height"].as_str()
        ),
        ("320", "240")
    );
    let frames = decoded_frames(&early_file);
    assert!(frames >= 40, "the early player got {frames} frames");
    let audio = probe(
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name",
        ],
        &early_file,
    );
    assert_eq!(audio.get("codec_name").map(String::as_str), Some("aac"));
    assert_eq!(decode_errors(&early_file), "");

    // The player copies what comes before the first key frame too
    // (-copyinkf), so its first video packet is the first one it was sent.
    let first_packet = first_video_entry(&late_file, "packet=flags");
    assert!(
        first_packet.starts_with('K'),
        "the late player's first video packet is not a key frame: {first_packet}"
    );
    let first_frame = first_video_entry(&late_file, "frame=key_frame,pict_type");
    assert_eq!(first_frame, "1,I", "the late player's first frame");
    assert_eq!(decode_errors(&late_file), "");
    let late_frames = decoded_frames(&late_file);
    assert!(
        late_frames >= 10,
        "the late player got {late_frames} frames"
    );

    let stats = server.stats();
    assert!(stats.messages_relayed > 100, "{stats:?}");
    assert_eq!(stats.frames_dropped, 0, "{stats:?}");
    let stopping = Instant::now();
    server.stop();
    assert!(stopping.elapsed() < Duration::from_secs(2));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_second_publisher_of_a_live_name_is_refused() {
    require_tools();
    let dir = scratch("duplicate");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let url = server.url("live", "dup");

    let first = publisher("first publisher", &url, 5, &dir);
    wait_for_stats(
        &server,
        "the first publisher",
        Duration::from_secs(10),
        |stats| stats.publishing.contains("live/dup"),
    );

    let refused_at = Instant::now();
    let (status, stderr) =
        publisher("second publisher", &url, 3, &dir).finish(Duration::from_secs(10));
    assert!(!status.success(), "the second publisher was not refused");
    assert!(
        refused_at.elapsed() < Duration::from_secs(3),
        "refusing took {:?}",
        refused_at.elapsed()
    );
    eprintln!("second publisher, as expected, failed: {}", stderr.trim());

    // The first one keeps going: a player still gets its pictures.
    let stats = server.stats();
    assert_eq!(stats.publishers(), 1, "{stats:?}");
    let watched = dir.join("watched.flv");
    player("player", &url, 1, &watched, &dir).succeed(PROCESS_LIMIT);
    let frames = decoded_frames(&watched);
    assert!(frames >= 10, "the player got {frames} frames");
    first.succeed(PROCESS_LIMIT);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_name_can_be_published_again_and_waiting_players_resume() {
    require_tools();
    let dir = scratch("republish");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let url = server.url("live", "again");
    let watcher = RmlPlayer::start(server.local_addr(), "live", "again");
    wait_until("the rml player", Duration::from_secs(5), || {
        watcher.has_seen(|seen| *seen == Seen::PlayAccepted)
    });

    publisher("first publisher", &url, 1, &dir).succeed(PROCESS_LIMIT);
    wait_for_stats(
        &server,
        "the first publisher to go",
        Duration::from_secs(5),
        |stats| stats.publishers() == 0,
    );
    wait_until("the stream end notice", Duration::from_secs(5), || {
        watcher.has_seen(|seen| *seen == Seen::Status("NetStream.Play.Complete".into()))
    });
    assert_eq!(server.stats().players_of("live/again"), 1);

    publisher("second publisher", &url, 1, &dir).succeed(PROCESS_LIMIT);
    wait_until("media after the republish", Duration::from_secs(5), || {
        let seen = watcher.seen();
        let end = seen
            .iter()
            .position(|seen| *seen == Seen::Status("NetStream.Play.Complete".into()));
        end.is_some_and(|end| {
            seen[end..]
                .iter()
                .filter(|seen| matches!(seen, Seen::Video(MediaKind::KeyFrame, _)))
                .count()
                >= 1
        })
    });
    let seen = watcher.seen();
    assert!(
        !seen
            .iter()
            .any(|seen| matches!(seen, Seen::Error(_) | Seen::Refused(_))),
        "{seen:?}"
    );
    let end = seen
        .iter()
        .position(|seen| *seen == Seen::Status("NetStream.Play.Complete".into()))
        .expect("stream end");
    let headers = |part: &[Seen]| {
        part.iter()
            .filter(|seen| matches!(seen, Seen::Video(MediaKind::SequenceHeader, _)))
            .count()
    };
    assert_eq!(headers(&seen[..end]), 1, "{seen:?}");
    assert_eq!(headers(&seen[end..]), 1, "{seen:?}");
    // Each publish: the video header comes before any video frame.
    for part in [&seen[..end], &seen[end..]] {
        let first_video = part
            .iter()
            .find(|seen| matches!(seen, Seen::Video(..)))
            .expect("video");
        assert!(
            matches!(first_video, Seen::Video(MediaKind::SequenceHeader, _)),
            "{part:?}"
        );
        assert!(part.contains(&Seen::Metadata));
        assert!(part
            .iter()
            .any(|seen| matches!(seen, Seen::Audio(MediaKind::SequenceHeader, _))));
    }
    drop(watcher);
    wait_for_stats(
        &server,
        "the player to leave",
        Duration::from_secs(5),
        |stats| stats.connections == 0 && stats.players.is_empty(),
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn garbage_closes_only_that_connection() {
    require_tools();
    let dir = scratch("garbage");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let addr = server.local_addr();

    // Not an RTMP handshake at all.
    let mut socket = TcpStream::connect(addr).expect("connect");
    let mut noise: Vec<u8> = (0..1537u32).map(|i| (i * 7919 % 251) as u8).collect();
    noise[0] = 0x47;
    socket.write_all(&noise).expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    // A valid handshake, then a chunk that continues a chunk stream never
    // started.
    let (mut socket, _) = handshaken(addr);
    socket
        .write_all(&[0xc3, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        .expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    // A valid handshake, then a message interrupted by a chunk of another
    // chunk stream: rml_rtmp 0.8 panics on this (arithmetic overflow).
    let (mut socket, _) = handshaken(addr);
    let mut chunks = vec![0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
    chunks.extend([0x17; 128]);
    chunks.extend([0x05, 0, 0, 0, 0, 0, 10, 8, 1, 0, 0, 0]);
    chunks.extend([0xaf; 10]);
    socket.write_all(&chunks).expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    wait_for_stats(
        &server,
        "garbage peers to be gone",
        Duration::from_secs(5),
        |stats| stats.connections == 0,
    );

    // The server still works.
    let url = server.url("live", "after-garbage");
    publisher("publisher", &url, 1, &dir).succeed(PROCESS_LIMIT);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn connections_past_the_limit_are_refused() {
    let server = RtmpServer::start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .expect("start the server");
    let addr = server.local_addr();
    let mut first = TcpStream::connect(addr).expect("connect");
    let mut second = TcpStream::connect(addr).expect("connect");
    wait_for_stats(
        &server,
        "two connections",
        Duration::from_secs(5),
        |stats| stats.connections == 2,
    );
    let mut third = TcpStream::connect(addr).expect("connect");
    assert!(closed_within(&mut third, Duration::from_secs(2)));
    let stats = server.stats();
    assert_eq!(stats.connections_refused, 1, "{stats:?}");
    assert!(!closed_within(&mut first, Duration::from_millis(200)));
    assert!(!closed_within(&mut second, Duration::from_millis(200)));

    drop((first, second));
    wait_for_stats(
        &server,
        "the connections to close",
        Duration::from_secs(5),
        |stats| stats.connections == 0,
    );
    let (_socket, _) = handshaken(addr);
}

#[test]
fn silent_peers_are_dropped_and_players_that_answer_pings_stay() {
    require_tools();
    let dir = scratch("idle");
    let server = RtmpServer::start(ServerConfig {
        idle_timeout: Duration::from_millis(600),
        ..ServerConfig::default()
    })
    .expect("start the server");
    let addr = server.local_addr();

    let mut silent = TcpStream::connect(addr).expect("connect");
    let (mut mute, _) = handshaken(addr);
    // An ffmpeg player waiting for a stream that never comes answers the
    // server's pings, so it stays.
    let url = server.url("live", "nobody");
    let mut waiting = player("waiting player", &url, 1, &dir.join("none.flv"), &dir);

    assert!(closed_within(&mut silent, Duration::from_secs(2)));
    assert!(closed_within(&mut mute, Duration::from_secs(3)));
    wait_for_stats(
        &server,
        "the waiting player",
        Duration::from_secs(5),
        |stats| stats.players_of("live/nobody") == 1,
    );
    thread::sleep(Duration::from_millis(1500));
    let stats = server.stats();
    assert_eq!(stats.players_of("live/nobody"), 1, "{stats:?}");
    assert!(
        waiting.wait_for(Duration::ZERO).is_none(),
        "the player quit"
    );
    waiting.kill();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn stop_is_prompt_with_peers_connected() {
    require_tools();
    let dir = scratch("stop");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let addr = server.local_addr();
    let url = server.url("live", "stop");
    let publishing = publisher("publisher", &url, 20, &dir);
    wait_for_stats(&server, "the publisher", Duration::from_secs(10), |stats| {
        stats.publishing.contains("live/stop")
    });
    let playing = player("player", &url, 15, &dir.join("stop.flv"), &dir);
    let waiting = RmlPlayer::start(addr, "live", "elsewhere");
    let mut silent = TcpStream::connect(addr).expect("connect");
    wait_for_stats(
        &server,
        "four connections",
        Duration::from_secs(10),
        |stats| stats.connections == 4 && stats.players_of("live/stop") == 1,
    );
    wait_until("media to flow", Duration::from_secs(10), || {
        server.stats().messages_relayed > 10
    });

    let stopping = Instant::now();
    server.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");

    assert!(closed_within(&mut silent, Duration::from_secs(1)));
    wait_until(
        "the rml player to see the close",
        Duration::from_secs(2),
        || waiting.has_seen(|seen| *seen == Seen::Closed),
    );
    // The ffmpeg peers notice and end (whatever their exit status).
    let _ = publishing.finish(Duration::from_secs(10));
    let _ = playing.finish(Duration::from_secs(10));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_stalled_player_skips_to_a_key_frame_and_never_blocks_the_publisher() {
    let server = RtmpServer::start(ServerConfig {
        max_gop_bytes: 512 * 1024,
        ..ServerConfig::default()
    })
    .expect("start the server");
    let addr = server.local_addr();
    let stalled = RmlPlayer::start(addr, "live", "burst");
    wait_until("the player", Duration::from_secs(5), || {
        stalled.has_seen(|seen| *seen == Seen::PlayAccepted)
    });
    stalled.paused.store(true, Ordering::SeqCst);

    // 60 MB at once: far more than the player's queue (1 MiB here) and the
    // socket buffers hold.
    let (frames, gop) = (600, 10);
    let started = Instant::now();
    let publishing = rml_publish(addr, "live", "burst", frames, 100_000, gop).expect("publish");
    wait_for_stats(
        &server,
        "the server to read it all",
        Duration::from_secs(20),
        |stats| stats.publishers() == 0,
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "relaying took {took:?}");
    drop(publishing);
    let stats = server.stats();
    assert!(stats.frames_dropped > 0, "{stats:?}");

    stalled.paused.store(false, Ordering::SeqCst);
    wait_until("the stream end notice", Duration::from_secs(10), || {
        stalled.has_seen(|seen| *seen == Seen::Status("NetStream.Play.Complete".into()))
    });
    let video: Vec<(MediaKind, u32)> = stalled
        .seen()
        .into_iter()
        .filter_map(|seen| match seen {
            Seen::Video(kind, timestamp) => Some((kind, timestamp)),
            _ => None,
        })
        .collect();
    assert_eq!(video.first(), Some(&(MediaKind::SequenceHeader, 0)));
    let frames_seen = &video[1..];
    assert!(frames_seen.len() < frames as usize, "nothing was dropped");
    let dropped = server.stats().frames_dropped;
    assert_eq!(
        frames_seen.len() as u64 + dropped,
        u64::from(frames),
        "every frame is either delivered or counted as dropped"
    );
    assert_eq!(
        frames_seen.first().map(|frame| frame.0),
        Some(MediaKind::KeyFrame)
    );
    assert_eq!(
        frames_seen.last().map(|frame| frame.1),
        Some((frames - 1) * 40)
    );
    for pair in frames_seen.windows(2) {
        let ((_, before), (kind, after)) = (pair[0], pair[1]);
        assert!(after > before, "{pair:?}");
        if after != before + 40 {
            assert_eq!(kind, MediaKind::KeyFrame, "after a gap: {pair:?}");
        }
    }
}

/// One complete RTMP message as a single type 0 chunk on chunk stream
/// `csid` (the payload must fit the peer's chunk size, 128 at first).
fn message_chunk(csid: u8, type_id: u8, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut chunk = vec![csid, 0, 0, 0, length[1], length[2], length[3], type_id];
    chunk.extend([0, 0, 0, 0]);
    chunk.extend(payload);
    chunk
}

#[test]
fn oversized_chunks_and_messages_drop_the_peer() {
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let addr = server.local_addr();

    // Set Chunk Size to 16 MiB (the default limit is 1 MiB).
    let (mut socket, _) = handshaken(addr);
    socket
        .write_all(&message_chunk(2, 1, &(16u32 << 20).to_be_bytes()))
        .expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    // A video message declared 16 MiB long (the default limit is 4 MiB):
    // dropped at its header, before any of the 16 MiB is sent or held.
    let (mut socket, _) = handshaken(addr);
    socket
        .write_all(&[0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0])
        .expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    // Chunk size 0.
    let (mut socket, _) = handshaken(addr);
    socket
        .write_all(&message_chunk(2, 1, &0u32.to_be_bytes()))
        .expect("send");
    assert!(closed_within(&mut socket, Duration::from_secs(3)));

    // A chunk size inside the limit is fine: the peer stays.
    let (mut socket, _) = handshaken(addr);
    socket
        .write_all(&message_chunk(2, 1, &65_536u32.to_be_bytes()))
        .expect("send");
    assert!(!closed_within(&mut socket, Duration::from_millis(500)));
    drop(socket);
    wait_for_stats(
        &server,
        "the peers to be gone",
        Duration::from_secs(5),
        |stats| stats.connections == 0,
    );
}

#[test]
fn anti_leech_signatures_guard_publish_and_play() {
    require_tools();
    let dir = scratch("anti-leech");
    let key = "s3cret";
    let server = RtmpServer::start(ServerConfig {
        anti_leech_key: Some(key.into()),
        ..ServerConfig::default()
    })
    .expect("start the server");
    let plain = server.url("live", "guarded");
    let in_a_minute = SystemTime::now() + Duration::from_secs(60);
    let signed = sign_url(&plain, key, in_a_minute).expect("sign");
    let forged = sign_url(&plain, "guess", in_a_minute).expect("sign");
    let expired = sign_url(&plain, key, SystemTime::now() - Duration::from_secs(5)).expect("sign");
    let other_stream = sign_url(&server.url("live", "other"), key, in_a_minute).expect("sign");
    // The signature of another stream, pasted onto this one.
    let (_, other_query) = other_stream.split_once('?').expect("query");
    let pasted = format!("{plain}?{other_query}");

    // Publishing without a valid signature fails at once; nothing is
    // published.
    for (name, url) in [
        ("unsigned", &plain),
        ("forged", &forged),
        ("expired", &expired),
        ("pasted", &pasted),
    ] {
        let (status, stderr) = publisher(name, url, 2, &dir).finish(PROCESS_LIMIT);
        assert!(!status.success(), "{name} publish accepted:\n{stderr}");
        assert_eq!(server.stats().publishers(), 0, "{name}");
    }

    // Signed: published and played; unsigned players are refused.
    let out = dir.join("played.flv");
    let signed_player = player("signed-player", &signed, 2, &out, &dir);
    thread::sleep(Duration::from_millis(300));
    let feed = publisher("signed", &signed, 5, &dir);
    wait_for_stats(&server, "the signed publisher", PROCESS_LIMIT, |stats| {
        stats.publishers() == 1
    });
    let unsigned_out = dir.join("unsigned.flv");
    let (status, stderr) =
        player("unsigned-player", &plain, 2, &unsigned_out, &dir).finish(PROCESS_LIMIT);
    assert!(!status.success(), "unsigned play accepted:\n{stderr}");
    signed_player.succeed(PROCESS_LIMIT);
    assert!(
        decoded_frames(&out) >= 25,
        "the signed player got the stream"
    );
    feed.succeed(PROCESS_LIMIT);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn inputs_the_fuzzer_found_drop_only_their_peer() {
    // fuzz/regressions/rtmp_server: the first byte says how the rest was
    // sent (0 mod 4: raw, else after a valid handshake), as in the target.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/rtmp_server");
    let server = RtmpServer::start(ServerConfig::default()).expect("start the server");
    let addr = server.local_addr();
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).expect("regressions") {
        let input = fs::read(entry.expect("entry").path()).expect("input");
        let Some((&mode, bytes)) = input.split_first() else {
            continue;
        };
        let mut socket = if mode % 4 == 0 {
            TcpStream::connect(addr).expect("connect")
        } else {
            handshaken(addr).0
        };
        let _ = socket.write_all(bytes);
        let _ = socket.shutdown(std::net::Shutdown::Write);
        assert!(closed_within(&mut socket, Duration::from_secs(3)));
        replayed += 1;
    }
    assert!(replayed > 0, "no regression inputs in {}", dir.display());
    wait_for_stats(
        &server,
        "the fuzzed peers to be gone",
        Duration::from_secs(5),
        |stats| stats.connections == 0,
    );
    let (_socket, _) = handshaken(addr);
}
