//! The pusher: read a source, run it through the GPU pipeline (crop to the
//! preset's aspect, zoom, mirror, scale, beauty effects), encode it with x264
//! and push it over RTMP, and/or write it to a file. Without `--url` (and
//! without `--output`) it starts the embedded RTMP server on 127.0.0.1 and
//! pushes to it. With `testsrc` as input it also reads every frame's stamp
//! back from the processed picture and reports how many survived.
//!
//! ```text
//! cargo run --release --example pusher -- --input testsrc --frames 90 \
//!     --mode fhd --mirror --url rtmp://127.0.0.1/live/room1 --events json
//! ```
//!
//! Flags: `--url URL` `--input testsrc|FILE.y4m|FILE.png|FILE.jpg`
//! `--frames N` `--fps N` `--mode sd|hd|fhd|rtc`
//! `--orientation vertical|horizontal` `--aspect 9:16|3:4` `--mirror`
//! `--zoom F` `--min-bitrate KBPS` `--max-bitrate KBPS`
//! `--output FILE.y4m|FILE.flv` (processed frames, or the encoded stream;
//! alone, it runs as fast as it can instead of at the source's rate)
//! `--snapshot FILE.png` (the last processed frame) `--events json` (every
//! event as a JSON line on stdout) `--reconnect-attempts N`
//! `--reconnect-delay-ms N` (first back-off, doubled per attempt)
//! `--key KEY` `--expire S` (sign the push URL with the anti-leech key,
//! valid for S seconds, default 3600; without `--url` the embedded server
//! then requires that signature too);
//! effects: `--skin-whiteness X --skin-smoothness X --face-thinness X
//! --eye-bigness X` (0..1, the custom effect) or `--beauty 0-9 --whiteness 0-9`
//! (legacy levels), `--landmarks FILE.jsonl` (faces per frame, in input
//! pixels; without it the built-in landmarker finds them, on its own thread,
//! when an effect needs them) and `--dump-landmarks FILE.jsonl` (the faces
//! used for every frame, in the same format).
//! Sound: `--audio off|none|tone|FILE` (the microphone: no audio track,
//! silence, the test tone — a 1 kHz beep at the start of every second, the
//! default — or a WAV/MP3/AAC/FLAC/Ogg file), `--muted`, `--audio-quality
//! high|low` (48 kHz stereo 128 kbps, or 16 kHz mono 32 kbps),
//! `--audio-rate HZ` (another AAC sample rate), `--bgm FILE` and
//! `--bgm-volume X` (background music, 0..1), `--audio-only` (the plugin's
//! `enableCamera` false) with `--duration S` (stream seconds; also caps a
//! video push). `--zerolatency` tunes x264 for latency in any mode (no
//! lookahead, no B-frames; RTC always is).
//! A bad value prints one line on stderr and exits with status 2; a failure
//! while running (the server unreachable after the reconnect attempts, say)
//! exits with status 1. The last line on stdout is a JSON summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use liveroom::audio::AudioQuality;
use liveroom::color::i420_to_rgb_image;
use liveroom::effects::EffectParams;
use liveroom::encoder::BitrateRange;
use liveroom::events::EventLine;
use liveroom::face::{BuiltinLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame::I420Frame;
use liveroom::geometry::{Aspect, GeometryParams, GeometryPlan, Mode, Orientation};
use liveroom::landmarks::{self, LandmarkTrack};
use liveroom::player::{FrameSink, LivePlayer, PlayMode, PlayerConfig, Spread};
use liveroom::pusher::{AudioInput, FaceInput, FrameTap, LivePusher, PusherConfig, PusherEvent};
use liveroom::rtmp::{sign_url, RtmpServer, RtmpUrl, ServerConfig};
use liveroom::source::{open_source, stamp, FrameRate, Y4mWriter};
use liveroom::GpuContext;

/// Frames pushed from an endless source when `--frames` is not given.
const DEFAULT_FRAMES: u64 = 300;

struct Options {
    input: String,
    frames: Option<u64>,
    fps: f64,
    mode: Mode,
    orientation: Orientation,
    aspect: Aspect,
    mirror: bool,
    zoom: f32,
    output: Option<PathBuf>,
    effects: EffectParams,
    landmarks: Option<PathBuf>,
    dump_landmarks: Option<PathBuf>,
    url: Option<String>,
    min_bitrate: Option<u32>,
    max_bitrate: Option<u32>,
    snapshot: Option<PathBuf>,
    events_json: bool,
    reconnect_attempts: Option<u32>,
    reconnect_delay: Option<Duration>,
    key: Option<String>,
    expire: Duration,
    audio: AudioInput,
    muted: bool,
    audio_quality: AudioQuality,
    audio_rate: Option<u32>,
    bgm: Option<PathBuf>,
    bgm_volume: f32,
    audio_only: bool,
    duration: Option<Duration>,
    zero_latency: bool,
}

fn parse_number<T: std::str::FromStr>(flag: &str, text: &str, expected: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} {text:?}: expected {expected}"))
}

fn parse_options(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        input: "testsrc".into(),
        frames: None,
        fps: 30.0,
        mode: Mode::default(),
        orientation: Orientation::default(),
        aspect: Aspect::default(),
        mirror: false,
        zoom: 1.0,
        output: None,
        effects: EffectParams::default(),
        landmarks: None,
        dump_landmarks: None,
        url: None,
        min_bitrate: None,
        max_bitrate: None,
        snapshot: None,
        events_json: false,
        reconnect_attempts: None,
        reconnect_delay: None,
        key: None,
        expire: Duration::from_secs(3600),
        audio: AudioInput::Tone,
        muted: false,
        audio_quality: AudioQuality::High,
        audio_rate: None,
        bgm: None,
        bgm_volume: 1.0,
        audio_only: false,
        duration: None,
        zero_latency: false,
    };
    // Custom-effect strengths (0..1) and legacy levels (0..9), checked at the end.
    let mut custom: [Option<f32>; 4] = [None; 4];
    let mut levels: [Option<i64>; 2] = [None; 2];
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--input" => options.input = value()?,
            "--frames" => {
                let text = value()?;
                let frames: u64 = text
                    .parse()
                    .map_err(|_| format!("--frames {text:?}: expected a whole number above 0"))?;
                if frames == 0 {
                    return Err("--frames 0: expected a whole number above 0".into());
                }
                options.frames = Some(frames);
            }
            "--fps" => {
                let text = value()?;
                options.fps = text
                    .parse()
                    .map_err(|_| format!("--fps {text:?}: expected a number from 1 to 240"))?;
                FrameRate::from_fps(options.fps).map_err(|e| format!("--fps: {e}"))?;
            }
            "--mode" => options.mode = value()?.parse().map_err(|e| format!("--mode: {e}"))?,
            "--orientation" => {
                options.orientation = value()?
                    .parse()
                    .map_err(|e| format!("--orientation: {e}"))?
            }
            "--aspect" => {
                options.aspect = value()?.parse().map_err(|e| format!("--aspect: {e}"))?
            }
            "--mirror" => options.mirror = true,
            "--zoom" => {
                let text = value()?;
                options.zoom = text
                    .parse()
                    .map_err(|_| format!("--zoom {text:?}: expected a number such as 1.5"))?;
                GeometryParams::new(options.zoom, false).map_err(|e| format!("--zoom: {e}"))?;
            }
            "--output" => {
                let path = PathBuf::from(value()?);
                let extension = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if !matches!(extension.as_deref(), Some("y4m" | "flv")) {
                    return Err(format!(
                        "--output {}: expected a .y4m or .flv file",
                        path.display()
                    ));
                }
                options.output = Some(path);
            }
            "--url" => {
                let url = value()?;
                RtmpUrl::parse(&url).map_err(|e| format!("--url: {e}"))?;
                options.url = Some(url);
            }
            flag @ ("--min-bitrate" | "--max-bitrate") => {
                let text = value()?;
                let kbps: u32 = parse_number(flag, &text, "a bitrate in kbps such as 1000")?;
                if flag == "--min-bitrate" {
                    options.min_bitrate = Some(kbps);
                } else {
                    options.max_bitrate = Some(kbps);
                }
            }
            "--snapshot" => {
                let path = PathBuf::from(value()?);
                if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
                    return Err(format!("--snapshot {}: expected a .png file", path.display()));
                }
                options.snapshot = Some(path);
            }
            "--events" => {
                let kind = value()?;
                if kind != "json" {
                    return Err(format!("--events {kind:?}: the only format is json"));
                }
                options.events_json = true;
            }
            "--reconnect-attempts" => {
                let text = value()?;
                let attempts: u32 = parse_number("--reconnect-attempts", &text, "a whole number from 0 to 100")?;
                if attempts > 100 {
                    return Err(format!("--reconnect-attempts {attempts}: expected a whole number from 0 to 100"));
                }
                options.reconnect_attempts = Some(attempts);
            }
            "--reconnect-delay-ms" => {
                let text = value()?;
                let millis: u64 = parse_number("--reconnect-delay-ms", &text, "milliseconds from 1 to 60000")?;
                if !(1..=60_000).contains(&millis) {
                    return Err(format!("--reconnect-delay-ms {millis}: expected milliseconds from 1 to 60000"));
                }
                options.reconnect_delay = Some(Duration::from_millis(millis));
            }
            "--key" => {
                let key = value()?;
                if key.is_empty() {
                    return Err("--key: the anti-leech key is empty".into());
                }
                options.key = Some(key);
            }
            "--expire" => {
                let text = value()?;
                let seconds: u64 = parse_number("--expire", &text, "seconds from 1 to 31536000")?;
                if !(1..=31_536_000).contains(&seconds) {
                    return Err(format!("--expire {seconds}: expected seconds from 1 to 31536000"));
                }
                options.expire = Duration::from_secs(seconds);
            }
            flag @ ("--skin-whiteness" | "--skin-smoothness" | "--face-thinness"
            | "--eye-bigness") => {
                let text = value()?;
                let strength: f32 = text
                    .parse()
                    .map_err(|_| format!("{flag} {text:?}: expected a number from 0 to 1"))?;
                let slot = match flag {
                    "--skin-whiteness" => 0,
                    "--skin-smoothness" => 1,
                    "--face-thinness" => 2,
                    _ => 3,
                };
                custom[slot] = Some(strength);
            }
            flag @ ("--beauty" | "--whiteness") => {
                let text = value()?;
                let level: i64 = text
                    .parse()
                    .map_err(|_| format!("{flag} {text:?}: expected a whole number from 0 to 9"))?;
                levels[(flag == "--whiteness") as usize] = Some(level);
            }
            "--audio" => options.audio = value()?.parse().map_err(|e| format!("--audio: {e}"))?,
            "--muted" => options.muted = true,
            "--audio-quality" => {
                options.audio_quality = value()?
                    .parse()
                    .map_err(|e| format!("--audio-quality: {e}"))?
            }
            "--audio-rate" => {
                let text = value()?;
                options.audio_rate =
                    Some(parse_number("--audio-rate", &text, "a sample rate in Hz such as 44100")?);
            }
            "--bgm" => options.bgm = Some(PathBuf::from(value()?)),
            "--bgm-volume" => {
                let text = value()?;
                let volume: f32 = parse_number("--bgm-volume", &text, "a number from 0 to 1")?;
                if !(0.0..=1.0).contains(&volume) {
                    return Err(format!("--bgm-volume {text}: expected a number from 0 to 1"));
                }
                options.bgm_volume = volume;
            }
            "--audio-only" => options.audio_only = true,
            "--zerolatency" => options.zero_latency = true,
            "--duration" => {
                let text = value()?;
                let seconds: f64 = parse_number("--duration", &text, "seconds such as 60")?;
                if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) || seconds == 0.0 {
                    return Err(format!("--duration {text}: expected seconds above 0, at most a day"));
                }
                options.duration = Some(Duration::from_secs_f64(seconds));
            }
            "--landmarks" => options.landmarks = Some(PathBuf::from(value()?)),
            "--dump-landmarks" => options.dump_landmarks = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                return Err("usage: pusher [--url rtmp://HOST[:PORT]/APP/STREAM] [--input testsrc|FILE.y4m|FILE.png|FILE.jpg] [--frames N] [--fps N] [--mode sd|hd|fhd|rtc] [--orientation vertical|horizontal] [--aspect 9:16|3:4] [--mirror] [--zoom F] [--min-bitrate KBPS] [--max-bitrate KBPS] [--output FILE.y4m|FILE.flv] [--snapshot FILE.png] [--events json] [--reconnect-attempts N] [--reconnect-delay-ms N] [--key KEY] [--expire S] [--skin-whiteness X] [--skin-smoothness X] [--face-thinness X] [--eye-bigness X] [--beauty 0-9] [--whiteness 0-9] [--landmarks FILE.jsonl] [--dump-landmarks FILE.jsonl] [--audio off|none|tone|FILE] [--muted] [--audio-quality high|low] [--audio-rate HZ] [--bgm FILE] [--bgm-volume X] [--audio-only] [--duration S] [--zerolatency]".into())
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    let has_custom = custom.iter().any(Option::is_some);
    let has_levels = levels.iter().any(Option::is_some);
    options.effects = match (has_custom, has_levels) {
        (true, true) => {
            return Err(
                "use either the custom effect (--skin-whiteness, --skin-smoothness, --face-thinness, --eye-bigness) or the levels (--beauty, --whiteness), not both"
                    .into(),
            )
        }
        (true, false) => {
            let [w, s, t, e] = custom.map(|v| v.unwrap_or(0.0));
            EffectParams::new(w, s, t, e).map_err(|e| format!("--{}", e.to_string().replacen('_', "-", 1)))?
        }
        (false, true) => {
            let [b, w] = levels.map(|v| v.unwrap_or(0));
            EffectParams::from_levels(b, w).map_err(|e| format!("--{e}"))?
        }
        (false, false) => EffectParams::default(),
    };
    BitrateRange::resolve(options.mode, options.min_bitrate, options.max_bitrate)
        .map_err(|e| format!("--min-bitrate/--max-bitrate: {e}"))?;
    if options.audio == AudioInput::Off {
        if options.bgm.is_some() {
            return Err("--bgm needs an audio track: use --audio none (no microphone) instead of --audio off".into());
        }
        if options.audio_only {
            return Err("--audio-only needs sound: --audio off leaves nothing to push".into());
        }
    }
    if let Some(path) = &options.bgm {
        if !path.is_file() {
            return Err(format!("--bgm {}: no such file", path.display()));
        }
    }
    if let AudioInput::File(path) = &options.audio {
        if !path.is_file() {
            return Err(format!(
                "--audio {}: no such file (or off, none, tone)",
                path.display()
            ));
        }
    }
    Ok(options)
}

/// What the frame tap keeps: the Y4M and landmark files being written, the
/// stamp check's count, and the last frame for `--snapshot`.
#[derive(Default)]
struct TapState {
    y4m: Option<Y4mWriter>,
    dump: Option<BufWriter<File>>,
    stamps_read: u64,
    frames: u64,
    last_frame: Option<I420Frame>,
    /// With self-playback: when each frame was processed, and the frame
    /// itself, until the player has shown it.
    pushed: Option<Arc<Mutex<PushedFrames>>>,
}

/// Frames the pusher processed that the player has not shown yet.
#[derive(Default)]
struct PushedFrames {
    frames: BTreeMap<u32, (Instant, I420Frame)>,
}

/// Frames kept for comparison at most (the player is about a second
/// behind; older ones are dropped from the comparison).
const KEPT_FOR_PLAYBACK: usize = 240;

/// What the self-playback measured.
#[derive(Default)]
struct PlaybackCheck {
    latencies: Vec<Duration>,
    psnr: Vec<f64>,
}

/// Plays the stream back from the embedded server while it is pushed:
/// stamps counted, each frame compared with the frame the pusher sent and
/// the push-to-display latency measured.
fn start_playback(
    url: &str,
    mode: Mode,
    pushed: Arc<Mutex<PushedFrames>>,
    check: Arc<Mutex<PlaybackCheck>>,
    limit: Duration,
) -> Result<LivePlayer, String> {
    let config = PlayerConfig {
        play_url: url.to_string(),
        mode: if mode == Mode::Rtc {
            PlayMode::Rtc
        } else {
            PlayMode::Live
        },
        verify_stamps: true,
        // A safety net: the player ends with the stream, long before this.
        timeout: Some(limit),
        ..Default::default()
    };
    let sink: FrameSink = Box::new(move |frame, shown| {
        let Some(index) = shown.stamp else {
            return Ok(());
        };
        let sent = pushed
            .lock()
            .map_err(|_| "playback check poisoned".to_string())?
            .frames
            .remove(&index);
        if let Some((at, original)) = sent {
            let mut check = check
                .lock()
                .map_err(|_| "playback check poisoned".to_string())?;
            check.latencies.push(shown.at.saturating_duration_since(at));
            if let Some(psnr) = liveroom::player::verify::luma_psnr(&original, frame) {
                check.psnr.push(psnr.min(100.0));
            }
        }
        Ok(())
    });
    LivePlayer::start(config, None, Some(sink)).map_err(|e| format!("playback: {e}"))
}

fn run(options: Options) -> Result<(), String> {
    let source = open_source(&options.input, options.fps).map_err(|e| e.to_string())?;
    let info = source.info();
    let output_flv = options
        .output
        .clone()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("flv")));
    let output_y4m = options
        .output
        .clone()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("y4m")));
    let mut config = PusherConfig {
        push_url: options.url.clone(),
        mode: options.mode,
        orientation: options.orientation,
        aspect: options.aspect,
        mirror: options.mirror,
        zoom: options.zoom,
        effects: options.effects,
        min_bitrate_kbps: options.min_bitrate,
        max_bitrate_kbps: options.max_bitrate,
        max_frames: Some(options.frames.unwrap_or(DEFAULT_FRAMES)),
        flv_output: output_flv,
        audio: options.audio.clone(),
        muted: options.muted,
        audio_quality: options.audio_quality,
        audio_sample_rate: options.audio_rate,
        enable_camera: !options.audio_only,
        max_duration: options.duration,
        zero_latency: options.zero_latency.then_some(true),
        ..Default::default()
    };
    if options.audio_only && options.duration.is_none() {
        // An audio-only push counts its length in the source's frames too.
        config.max_duration = Some(Duration::from_secs_f64(
            options.frames.unwrap_or(DEFAULT_FRAMES) as f64 / options.fps,
        ));
    }
    if let Some(attempts) = options.reconnect_attempts {
        config.reconnect.attempts = attempts;
    }
    if let Some(delay) = options.reconnect_delay {
        config.reconnect.initial_backoff = delay;
        config.reconnect.max_backoff = config.reconnect.max_backoff.max(delay);
    }
    let size = config.output_size();
    let geometry = GeometryParams::new(options.zoom, options.mirror).map_err(|e| e.to_string())?;
    // Faces: from the file, else from the built-in landmarker when an
    // effect or the dump needs them, else none.
    // (Loaded here, before the GPU, so that missing models fail fast with
    // one line.)
    let needs_faces = options.effects.has_warp()
        || options.effects.has_color_effect()
        || options.dump_landmarks.is_some();
    let faces = match &options.landmarks {
        Some(path) => FaceInput::Track(LandmarkTrack::open(path).map_err(|e| e.to_string())?),
        None if needs_faces => FaceInput::Landmarker(Box::new(
            BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::for_live())
                .map_err(|e| e.to_string())?,
        )),
        None => FaceInput::None,
    };
    let mut state = TapState::default();
    // No URL and no file: the stream goes to our own server and is played
    // back and checked.
    let self_playback = options.url.is_none() && options.output.is_none();
    let pushed = self_playback.then(|| Arc::new(Mutex::new(PushedFrames::default())));
    state.pushed = pushed.clone();
    if let Some(path) = &options.dump_landmarks {
        let file =
            File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        state.dump = Some(BufWriter::new(file));
    }
    if let Some(path) = &output_y4m {
        state.y4m = Some(
            Y4mWriter::create(path, size.width(), size.height(), info.frame_rate)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        );
    }
    // With testsrc, every frame's stamp is read back from the output.
    let stamp_cell = (options.input == "testsrc")
        .then(|| GeometryPlan::new(info.width, info.height, size, geometry))
        .transpose()
        .map_err(|e| e.to_string())?
        .map(|plan| stamp::cell_size_after(&plan));
    let state = Arc::new(Mutex::new(state));
    let keep_last = options.snapshot.is_some();
    let tap_state = Arc::clone(&state);
    let (y4m_path, dump_path) = (output_y4m.clone(), options.dump_landmarks.clone());
    let tap: FrameTap = Box::new(move |index, frame, faces| {
        let mut state = tap_state
            .lock()
            .map_err(|_| "frame tap poisoned".to_string())?;
        state.frames += 1;
        if let Some(cell) = stamp_cell {
            if stamp::read(frame, cell) == Some(index as u32) {
                state.stamps_read += 1;
            }
        }
        if let (Some(dump), Some(path)) = (state.dump.as_mut(), &dump_path) {
            landmarks::write_line(dump, index, faces)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        if let (Some(writer), Some(path)) = (state.y4m.as_mut(), &y4m_path) {
            writer
                .write_frame(frame)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        if let Some(pushed) = &state.pushed {
            let mut pushed = pushed
                .lock()
                .map_err(|_| "playback check poisoned".to_string())?;
            pushed
                .frames
                .insert(index as u32, (Instant::now(), frame.clone()));
            while pushed.frames.len() > KEPT_FOR_PLAYBACK {
                pushed.frames.pop_first();
            }
        }
        if keep_last {
            state.last_frame = Some(frame.clone());
        }
        Ok(())
    });

    // The GPU comes last, so that bad input fails fast with one line.
    let gpu = GpuContext::from_env().map_err(|e| e.to_string())?;
    eprintln!("GPU adapter: {}", gpu.adapter_summary());
    // No URL and no file: push to our own server on loopback.
    let server = match (&config.push_url, &options.output) {
        (None, None) => {
            let server_config = ServerConfig {
                anti_leech_key: options.key.clone(),
                ..ServerConfig::default()
            };
            let server = RtmpServer::start(server_config).map_err(|e| e.to_string())?;
            config.push_url = Some(server.url("live", "liveroom"));
            eprintln!("embedded RTMP server on {}", server.local_addr());
            Some(server)
        }
        _ => None,
    };
    if let (Some(key), Some(url)) = (&options.key, &config.push_url) {
        let expires = SystemTime::now() + options.expire;
        config.push_url = Some(sign_url(url, key, expires).map_err(|e| e.to_string())?);
    }
    // Pushing to our own server: play the stream back and check it.
    let check = Arc::new(Mutex::new(PlaybackCheck::default()));
    let playback = match (&server, &config.push_url, &pushed) {
        (Some(_), Some(url), Some(pushed)) => Some(start_playback(
            url,
            options.mode,
            Arc::clone(pushed),
            Arc::clone(&check),
            // The stream's length at the source's rate, and a minute more.
            Duration::from_secs_f64(
                options.frames.unwrap_or(DEFAULT_FRAMES) as f64 / options.fps + 60.0,
            ),
        )?),
        _ => None,
    };
    let url = config.push_url.clone();
    let json = options.events_json;
    let mut pusher = LivePusher::start(config, gpu, source, faces, Some(tap)).map_err(|error| {
        // Errors with a plugin code (a microphone file that cannot be read,
        // -1302) are events too.
        if let (true, Some(code)) = (json, error.code()) {
            let event = liveroom::events::PushEvent::new(code, error.to_string());
            println!("{}", EventLine::from(event).to_json());
        }
        error.to_string()
    })?;
    let events = pusher.events();
    if let Some(path) = &options.bgm {
        pusher
            .set_bgm_volume(options.bgm_volume)
            .and_then(|()| pusher.play_bgm(path))
            .map_err(|e| e.to_string())?;
    }
    let printer = std::thread::spawn(move || {
        let Some(events) = events else { return };
        for event in events {
            let line = match event {
                PusherEvent::Push(event) => {
                    // Warnings go to stderr as they happen; an error (a
                    // negative code) ends the run with its own last line.
                    let warning = (1101..=3005).contains(&event.code.code());
                    if !json && warning {
                        eprintln!("pusher: event {}: {}", event.code.code(), event.message);
                    }
                    EventLine::from(event)
                }
                PusherEvent::NetStatus(status) => EventLine::from(status),
                PusherEvent::Bgm(event) => EventLine::from(event),
                PusherEvent::Error(detail) => EventLine::refused(detail),
            };
            if json {
                println!("{}", line.to_json());
            }
        }
    });
    let result = pusher.wait();
    // After a failed push the player would wait for a stream that never
    // ends: stop it. After a good one it ends with the stream.
    let played = playback.map(|player| {
        let outcome = if result.is_ok() {
            player.wait()
        } else {
            player.stop()
        };
        outcome.map_err(|e| format!("playback: {e}"))
    });
    let _ = printer.join();
    drop(server);
    let summary = result.map_err(|e| e.to_string())?;

    let mut state = state.lock().map_err(|_| "frame tap poisoned".to_string())?;
    if let (Some(writer), Some(path)) = (state.y4m.take(), &output_y4m) {
        writer
            .finish()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let (Some(mut dump), Some(path)) = (state.dump.take(), &options.dump_landmarks) {
        dump.flush()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &options.snapshot {
        let frame = state
            .last_frame
            .as_ref()
            .ok_or("--snapshot: no frame was processed")?;
        i420_to_rgb_image(frame)
            .save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut line = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    if let Some(object) = line.as_object_mut() {
        object.insert("tag".into(), "summary".into());
        if let Some(url) = &url {
            object.insert("url".into(), url.clone().into());
        }
        if stamp_cell.is_some() {
            object.insert("stampsVerified".into(), state.stamps_read.into());
        }
    }
    let mut failures = Vec::new();
    if let Some(played) = played {
        let played = played?;
        let check = check
            .lock()
            .map_err(|_| "playback check poisoned".to_string())?;
        let latency = Spread::of_durations(&check.latencies);
        let psnr = Spread::of(&check.psnr);
        if let Some(object) = line.as_object_mut() {
            object.insert("framesReceived".into(), played.frames_displayed.into());
            let stamps = serde_json::to_value(played.stamps).map_err(|e| e.to_string())?;
            object.insert("playback".into(), stamps);
            object.insert(
                "latencyMs".into(),
                serde_json::to_value(latency).map_err(|e| e.to_string())?,
            );
            object.insert(
                "psnr".into(),
                serde_json::to_value(psnr).map_err(|e| e.to_string())?,
            );
        }
        let stamps = played.stamps.unwrap_or_default();
        let stamp_faults = stamps.lost + stamps.repeated + stamps.out_of_order + stamps.unreadable;
        if played.frames_displayed != summary.frames_sent
            || (stamp_cell.is_some() && stamp_faults > 0)
        {
            failures.push(format!(
                "playback: {} of {} frames shown ({} lost, {} repeated, {} out of order, {} unreadable)",
                played.frames_displayed,
                summary.frames_sent,
                stamps.lost,
                stamps.repeated,
                stamps.out_of_order,
                stamps.unreadable
            ));
        }
        if let (Some(object), Some(audio)) = (line.as_object_mut(), &played.audio) {
            let audio = serde_json::to_value(audio).map_err(|e| e.to_string())?;
            object.insert("audioPlayback".into(), audio);
        }
        if options.audio != AudioInput::Off {
            failures.extend(check_sound(
                &options,
                played.audio.as_ref(),
                stamp_cell.is_some(),
            ));
        }
        if !options.audio_only && stamp_cell.is_some() && psnr.is_none_or(|p| p.min < 30.0) {
            failures.push(format!("playback: PSNR against the pushed frames {psnr:?}"));
        }
    }
    println!("{line}");
    if let Some(failure) = failures.first() {
        return Err(format!("verification failed: {failure}"));
    }
    if stamp_cell.is_some() && state.stamps_read != summary.frames_captured {
        return Err(format!(
            "verification failed: {} of {} frame stamps read back",
            state.stamps_read, summary.frames_captured
        ));
    }
    Ok(())
}

/// The sound that came back: it arrived and decoded, and with the test
/// tone and stamped video its beeps line up with the picture within 40 ms.
fn check_sound(
    options: &Options,
    audio: Option<&liveroom::player::AudioSummary>,
    stamped_video: bool,
) -> Vec<String> {
    let Some(audio) = audio else {
        return vec!["playback: no sound arrived".into()];
    };
    let mut failures = Vec::new();
    if audio.packets_decoded == 0 || audio.decode_errors > 0 {
        failures.push(format!(
            "playback: {} of {} audio packets decoded",
            audio.packets_decoded, audio.packets_received
        ));
    }
    let beeping = options.audio == AudioInput::Tone && !options.muted;
    if beeping && stamped_video && !options.audio_only {
        let in_sync = audio
            .av_offset_ms
            .is_some_and(|offset| offset.min.abs() <= 40.0 && offset.max.abs() <= 40.0);
        if !in_sync {
            failures.push(format!(
                "playback: sound and picture apart by {:?} ms",
                audio.av_offset_ms
            ));
        }
    }
    failures
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("pusher: {message}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pusher: {message}");
            ExitCode::FAILURE
        }
    }
}
