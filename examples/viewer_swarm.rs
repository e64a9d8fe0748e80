//! A swarm of light viewers for load tests: N RTMP plays (the library's
//! `PlayClient`) and M HTTP-FLV GETs (the library's `HttpFlvClient`, which
//! `LivePlayer` uses) of one stream, none of them decoding. Each
//! viewer counts the video frames (AVC access units) and audio frames (raw
//! AAC) it receives, with their timestamps, until the stream ends; the
//! swarm then reports, per viewer, whether it got every frame: the counts
//! against `--expect-video`/`--expect-audio` (what the publisher sent),
//! the first video frame a key frame, timestamps never going back, and no
//! gap between consecutive video timestamps wider than 1.5 frame
//! intervals.
//!
//! It prints `ready` on standard error once every viewer is playing (the
//! RTMP play was answered, the HTTP response headers came), so a script
//! starts the publisher after that and every viewer sees the stream from
//! its first frame. At the end: one JSON line per viewer (`--json FILE`),
//! and one JSON summary line on standard output.
//!
//! ```text
//! cargo run --release --example viewer_swarm -- \
//!     --rtmp rtmp://127.0.0.1:1935/live/x --rtmp-viewers 50 \
//!     --http http://127.0.0.1:8080/live/x.flv --http-viewers 50 \
//!     --expect-video 1800 --expect-audio 2814 --max-seconds 120
//! ```
//!
//! (`scripts/bench_viewer_load.sh` runs it against our server and
//! nginx-rtmp.)

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use liveroom::flv::{parse_audio_body, parse_video_body, AudioBody, VideoBody};
use liveroom::player::{HttpFlvClient, HttpFlvUrl};
use liveroom::rtmp::play::{PlayClient, PlayConfig, PlayMessage};
use liveroom::rtmp::RtmpUrl;
use serde::Serialize;

type BoxError = Box<dyn Error + Send + Sync>;

/// The command line.
struct Options {
    rtmp: Option<String>,
    rtmp_viewers: usize,
    http: Option<String>,
    http_viewers: usize,
    expect_video: Option<u64>,
    expect_audio: Option<u64>,
    max_seconds: f64,
    json: Option<String>,
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        rtmp: None,
        rtmp_viewers: 0,
        http: None,
        http_viewers: 0,
        expect_video: None,
        expect_audio: None,
        max_seconds: 300.0,
        json: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rtmp" => options.rtmp = Some(value()?),
            "--rtmp-viewers" => options.rtmp_viewers = value()?.parse()?,
            "--http" => options.http = Some(value()?),
            "--http-viewers" => options.http_viewers = value()?.parse()?,
            "--expect-video" => options.expect_video = Some(value()?.parse()?),
            "--expect-audio" => options.expect_audio = Some(value()?.parse()?),
            "--max-seconds" => options.max_seconds = value()?.parse()?,
            "--json" => options.json = Some(value()?),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if options.rtmp_viewers > 0 && options.rtmp.is_none() {
        return Err("--rtmp-viewers needs --rtmp URL".into());
    }
    if options.http_viewers > 0 && options.http.is_none() {
        return Err("--http-viewers needs --http URL".into());
    }
    Ok(options)
}

/// What one viewer received.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Tally {
    protocol: &'static str,
    viewer: usize,
    video_frames: u64,
    key_frames: u64,
    audio_frames: u64,
    video_headers: u64,
    audio_headers: u64,
    first_video_key: Option<bool>,
    first_video_ms: Option<u32>,
    last_video_ms: Option<u32>,
    first_audio_ms: Option<u32>,
    last_audio_ms: Option<u32>,
    /// Widest step between consecutive video timestamps.
    max_video_step_ms: u32,
    /// Widest step between consecutive audio timestamps.
    max_audio_step_ms: u32,
    /// Timestamps that went back (video or audio).
    backwards: u64,
    /// Tag bodies that could not be parsed.
    unreadable: u64,
    bytes: u64,
    /// The stream ended as it should (publisher left), not by an error or
    /// the time limit.
    ended: bool,
    error: Option<String>,
    /// Complete: every expected frame, in order, no gap.
    complete: bool,
}

impl Tally {
    fn new(protocol: &'static str, viewer: usize) -> Self {
        Self {
            protocol,
            viewer,
            ..Self::default()
        }
    }

    fn video(&mut self, timestamp_ms: u32, body: &[u8]) {
        self.bytes += body.len() as u64;
        match parse_video_body(body) {
            Ok(VideoBody::SequenceHeader(_)) => self.video_headers += 1,
            Ok(VideoBody::Nalu { key_frame, .. }) => {
                self.video_frames += 1;
                self.key_frames += u64::from(key_frame);
                self.first_video_key.get_or_insert(key_frame);
                self.first_video_ms.get_or_insert(timestamp_ms);
                if let Some(last) = self.last_video_ms {
                    match timestamp_ms.checked_sub(last) {
                        Some(step) => self.max_video_step_ms = self.max_video_step_ms.max(step),
                        None => self.backwards += 1,
                    }
                }
                self.last_video_ms = Some(timestamp_ms);
            }
            Ok(VideoBody::EndOfSequence) => {}
            Err(_) => self.unreadable += 1,
        }
    }

    fn audio(&mut self, timestamp_ms: u32, body: &[u8]) {
        self.bytes += body.len() as u64;
        match parse_audio_body(body) {
            Ok(AudioBody::AacSequenceHeader(_)) => self.audio_headers += 1,
            Ok(AudioBody::AacRaw(_)) | Ok(AudioBody::Other { .. }) => {
                self.audio_frames += 1;
                self.first_audio_ms.get_or_insert(timestamp_ms);
                if let Some(last) = self.last_audio_ms {
                    match timestamp_ms.checked_sub(last) {
                        Some(step) => self.max_audio_step_ms = self.max_audio_step_ms.max(step),
                        None => self.backwards += 1,
                    }
                }
                self.last_audio_ms = Some(timestamp_ms);
            }
            Err(_) => self.unreadable += 1,
        }
    }

    /// Whether this viewer got the whole stream: `frame_ms` is the video
    /// frame interval (from the timestamps' span).
    fn judge(&mut self, expect_video: Option<u64>, expect_audio: Option<u64>, frame_ms: f64) {
        let counts = expect_video.is_none_or(|n| n == self.video_frames)
            && expect_audio.is_none_or(|n| n == self.audio_frames);
        let gaps = f64::from(self.max_video_step_ms) <= 1.5 * frame_ms;
        self.complete = self.ended
            && self.error.is_none()
            && self.video_frames > 0
            && self.first_video_key == Some(true)
            && self.backwards == 0
            && self.unreadable == 0
            && counts
            && gaps;
    }
}

fn main() -> Result<(), BoxError> {
    let options = options()?;
    let deadline = Instant::now() + Duration::from_secs_f64(options.max_seconds);
    let ready = Arc::new(AtomicUsize::new(0));
    let (results, collected) = mpsc::channel::<Tally>();
    let total = options.rtmp_viewers + options.http_viewers;
    let mut threads = Vec::with_capacity(total);
    if let Some(url) = &options.rtmp {
        let url = RtmpUrl::parse(url)?;
        for viewer in 0..options.rtmp_viewers {
            let (url, ready, results) = (url.clone(), Arc::clone(&ready), results.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("rtmp-{viewer}"))
                    .stack_size(256 << 10)
                    .spawn(move || {
                        let mut tally = Tally::new("rtmp", viewer);
                        if let Err(error) = play_rtmp(&url, &ready, deadline, &mut tally) {
                            tally.error = Some(error.to_string());
                        }
                        let _ = results.send(tally);
                    })?,
            );
        }
    }
    if let Some(url) = &options.http {
        for viewer in 0..options.http_viewers {
            let (url, ready, results) = (url.clone(), Arc::clone(&ready), results.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("http-{viewer}"))
                    .stack_size(256 << 10)
                    .spawn(move || {
                        let mut tally = Tally::new("http-flv", viewer);
                        if let Err(error) = play_http(&url, &ready, deadline, &mut tally) {
                            tally.error = Some(error.to_string());
                        }
                        let _ = results.send(tally);
                    })?,
            );
        }
    }
    drop(results);
    // Every viewer playing (or failed: the results say which).
    let started = Instant::now();
    while ready.load(Ordering::Acquire) < total && Instant::now() < deadline {
        if threads.iter().all(|thread| thread.is_finished()) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "ready: {} of {total} viewers playing after {:.2} s",
        ready.load(Ordering::Acquire),
        started.elapsed().as_secs_f64()
    );
    let mut tallies: Vec<Tally> = collected.iter().collect();
    for thread in threads {
        let _ = thread.join();
    }
    tallies.sort_by_key(|tally| (tally.protocol, tally.viewer));
    // The video frame interval from the most complete viewer's timestamps.
    let frame_ms = tallies
        .iter()
        .filter(|tally| tally.video_frames > 1)
        .max_by_key(|tally| tally.video_frames)
        .and_then(|tally| {
            let span = tally.last_video_ms? - tally.first_video_ms?;
            Some(f64::from(span) / (tally.video_frames - 1) as f64)
        })
        .unwrap_or(0.0);
    for tally in &mut tallies {
        tally.judge(options.expect_video, options.expect_audio, frame_ms);
    }
    if let Some(path) = &options.json {
        let mut lines = String::new();
        for tally in &tallies {
            lines.push_str(&serde_json::to_string(tally)?);
            lines.push('\n');
        }
        std::fs::write(path, lines)?;
    }
    let summary = summarise(&tallies, &options, frame_ms);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// The swarm's totals per protocol.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProtocolSummary {
    viewers: usize,
    /// Viewers whose thread reported (a panicking one does not).
    reported: usize,
    complete: usize,
    errors: usize,
    min_video_frames: u64,
    max_video_frames: u64,
    min_audio_frames: u64,
    max_audio_frames: u64,
    max_video_step_ms: u32,
    first_error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    expect_video: Option<u64>,
    expect_audio: Option<u64>,
    frame_interval_ms: f64,
    rtmp: ProtocolSummary,
    http_flv: ProtocolSummary,
    all_complete: bool,
}

fn summarise(tallies: &[Tally], options: &Options, frame_ms: f64) -> Summary {
    let of = |protocol: &str, viewers: usize| {
        let mine: Vec<&Tally> = tallies.iter().filter(|t| t.protocol == protocol).collect();
        ProtocolSummary {
            viewers,
            reported: mine.len(),
            complete: mine.iter().filter(|t| t.complete).count(),
            errors: mine.iter().filter(|t| t.error.is_some()).count(),
            min_video_frames: mine.iter().map(|t| t.video_frames).min().unwrap_or(0),
            max_video_frames: mine.iter().map(|t| t.video_frames).max().unwrap_or(0),
            min_audio_frames: mine.iter().map(|t| t.audio_frames).min().unwrap_or(0),
            max_audio_frames: mine.iter().map(|t| t.audio_frames).max().unwrap_or(0),
            max_video_step_ms: mine.iter().map(|t| t.max_video_step_ms).max().unwrap_or(0),
            first_error: mine.iter().find_map(|t| t.error.clone()),
        }
    };
    let rtmp = of("rtmp", options.rtmp_viewers);
    let http_flv = of("http-flv", options.http_viewers);
    let all_complete =
        rtmp.complete == options.rtmp_viewers && http_flv.complete == options.http_viewers;
    Summary {
        expect_video: options.expect_video,
        expect_audio: options.expect_audio,
        frame_interval_ms: frame_ms,
        rtmp,
        http_flv,
        all_complete,
    }
}

/// What a viewer waits for: the publisher, with no idle limit but the
/// deadline.
fn viewer_config() -> PlayConfig {
    PlayConfig {
        idle_timeout: Duration::ZERO,
        connect_timeout: Duration::from_secs(20),
        response_timeout: Duration::from_secs(20),
        ..PlayConfig::default()
    }
}

/// Counts what `next` gives until the stream ends (after media came) or
/// the deadline.
fn tally_messages<E: Into<BoxError>>(
    mut next: impl FnMut(Duration) -> Result<Option<PlayMessage>, E>,
    deadline: Instant,
    tally: &mut Tally,
) -> Result<(), BoxError> {
    while Instant::now() < deadline {
        match next(Duration::from_millis(500)).map_err(Into::into)? {
            Some(PlayMessage::Video { timestamp_ms, body }) => tally.video(timestamp_ms, &body),
            Some(PlayMessage::Audio { timestamp_ms, body }) => tally.audio(timestamp_ms, &body),
            Some(PlayMessage::StreamEnd) if tally.video_frames + tally.audio_frames > 0 => {
                tally.ended = true;
                break;
            }
            Some(_) | None => {}
        }
    }
    Ok(())
}

/// One RTMP viewer: plays until the stream ends (after media came), an
/// error, or the deadline.
fn play_rtmp(
    url: &RtmpUrl,
    ready: &AtomicUsize,
    deadline: Instant,
    tally: &mut Tally,
) -> Result<(), BoxError> {
    let client = PlayClient::connect(url, &viewer_config(), &mut |_| {})?;
    ready.fetch_add(1, Ordering::AcqRel);
    tally_messages(|wait| client.recv_timeout(wait), deadline, tally)?;
    let stats = client.close();
    if stats.video_dropped + stats.audio_dropped > 0 {
        return Err(format!(
            "the client's own queue dropped {} video and {} audio messages",
            stats.video_dropped, stats.audio_dropped
        )
        .into());
    }
    Ok(())
}

/// One HTTP-FLV viewer (the library's own client, as `LivePlayer` uses
/// it): FLV tags until the body ends, an error, or the deadline.
fn play_http(
    url: &str,
    ready: &AtomicUsize,
    deadline: Instant,
    tally: &mut Tally,
) -> Result<(), BoxError> {
    let url = HttpFlvUrl::parse(url)?;
    let mut client = HttpFlvClient::connect(&url, &viewer_config(), &mut |_| {})?;
    ready.fetch_add(1, Ordering::AcqRel);
    tally_messages(|wait| client.recv_timeout(wait), deadline, tally)
}
