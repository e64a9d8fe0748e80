//! The player: pull a stream (RTMP, or an FLV file), buffer and decode it,
//! and report what arrived. With `--stamps` it reads the frame stamps that
//! the pusher's `testsrc` carries and counts lost, repeated and out-of-order
//! frames; with `--reference FILE.y4m` it measures PSNR against that clip.
//!
//! ```text
//! cargo run --release --example player -- --url rtmp://127.0.0.1/live/room1 \
//!     --frames 300 --mode rtc --stamps --events json
//! ```
//!
//! Flags: `--url URL|FILE.flv` `--frames N` `--timeout S` `--mode live|rtc`
//! `--min-cache S` `--max-cache S` `--output FILE.y4m` (the frames shown)
//! `--reference FILE.y4m` `--stamps` `--events json`
//! `--reconnect-attempts N` `--key KEY` `--expire S` (sign the play URL
//! with the anti-leech key, valid for S seconds, default 3600); `--view
//! WxH` draws the frames into a view of that size on the GPU, with
//! `--object-fit contain|fillCrop` and
//! `--orientation vertical|horizontal`; `--snapshot FILE.png` saves the last
//! frame shown; `--audio-output FILE.wav` writes the sound received (16-bit
//! PCM) and `--muted` plays (and writes) silence instead. The summary's
//! `audio` says how much sound arrived and, with `--stamps` and the
//! pusher's test tone, how far sound and picture are apart. A bad value
//! prints one line on stderr and exits
//! with status 2; a failure while playing exits with 1. The last line on
//! stdout is a JSON summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use liveroom::color::i420_to_rgb_image;
use liveroom::events::EventLine;
use liveroom::frame::I420Frame;
use liveroom::geometry::Orientation;
use liveroom::player::{
    FrameSink, LivePlayer, ObjectFit, PlayMode, PlayerConfig, PlayerEvent, ViewConfig,
};
use liveroom::rtmp::sign_url;
use liveroom::source::{FrameRate, Y4mWriter};
use liveroom::GpuContext;

struct Options {
    config: PlayerConfig,
    output: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    events_json: bool,
}

fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{flag} {text:?}: expected seconds such as 0.5"))?;
    if !value.is_finite() || !(0.0..=3600.0).contains(&value) {
        return Err(format!("{flag} {text:?}: expected seconds from 0 to 3600"));
    }
    Ok(Duration::from_secs_f64(value))
}

fn parse_options(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        config: PlayerConfig::default(),
        output: None,
        snapshot: None,
        events_json: false,
    };
    let mut view: Option<(u32, u32)> = None;
    let mut object_fit = ObjectFit::default();
    let mut orientation = Orientation::default();
    let mut key: Option<String> = None;
    let mut expire = Duration::from_secs(3600);
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.config.play_url = value()?,
            "--frames" => {
                let text = value()?;
                let frames: u64 = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--frames {text:?}: expected a whole number above 0"))?;
                options.config.max_frames = Some(frames);
            }
            "--timeout" => options.config.timeout = Some(seconds("--timeout", &value()?)?),
            "--mode" => {
                options.config.mode = value()?
                    .parse::<PlayMode>()
                    .map_err(|e| format!("--mode: {e}"))?
            }
            "--min-cache" => options.config.min_cache = Some(seconds("--min-cache", &value()?)?),
            "--max-cache" => options.config.max_cache = Some(seconds("--max-cache", &value()?)?),
            "--output" => {
                let path = PathBuf::from(value()?);
                if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("y4m")) {
                    return Err(format!("--output {}: expected a .y4m file", path.display()));
                }
                options.output = Some(path);
            }
            "--reference" => options.config.reference = Some(PathBuf::from(value()?)),
            "--view" => {
                let text = value()?;
                let size = text
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .ok_or_else(|| format!("--view {text:?}: expected WIDTHxHEIGHT such as 720x1280"))?;
                view = Some(size);
            }
            "--object-fit" => object_fit = value()?.parse().map_err(|e| format!("--object-fit: {e}"))?,
            "--orientation" => {
                orientation = value()?
                    .parse()
                    .map_err(|e| format!("--orientation: {e}"))?
            }
            "--snapshot" => {
                let path = PathBuf::from(value()?);
                if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
                    return Err(format!("--snapshot {}: expected a .png file", path.display()));
                }
                options.snapshot = Some(path);
            }
            "--stamps" => options.config.verify_stamps = true,
            "--muted" => options.config.muted = true,
            "--audio-output" => {
                let path = PathBuf::from(value()?);
                if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                    return Err(format!("--audio-output {}: expected a .wav file", path.display()));
                }
                options.config.audio_output = Some(path);
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
                options.config.reconnect.attempts = text
                    .parse()
                    .ok()
                    .filter(|&n: &u32| n <= 100)
                    .ok_or_else(|| {
                        format!("--reconnect-attempts {text:?}: expected a whole number from 0 to 100")
                    })?;
            }
            "--key" => {
                let text = value()?;
                if text.is_empty() {
                    return Err("--key: the anti-leech key is empty".into());
                }
                key = Some(text);
            }
            "--expire" => {
                let text = value()?;
                let seconds: u64 = text
                    .parse()
                    .ok()
                    .filter(|s| (1..=31_536_000).contains(s))
                    .ok_or_else(|| format!("--expire {text:?}: expected seconds from 1 to 31536000"))?;
                expire = Duration::from_secs(seconds);
            }
            "--help" | "-h" => {
                return Err("usage: player --url rtmp://HOST[:PORT]/APP/STREAM|FILE.flv [--frames N] [--timeout S] [--mode live|rtc] [--min-cache S] [--max-cache S] [--output FILE.y4m] [--reference FILE.y4m] [--stamps] [--events json] [--reconnect-attempts N] [--key KEY] [--expire S] [--view WxH] [--object-fit contain|fillCrop] [--orientation vertical|horizontal] [--snapshot FILE.png] [--audio-output FILE.wav] [--muted]".into())
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    options.config.view = view.map(|(width, height)| ViewConfig {
        width,
        height,
        object_fit,
        orientation,
    });
    if options.config.play_url.is_empty() {
        return Err("--url is required (rtmp://HOST[:PORT]/APP/STREAM or FILE.flv)".into());
    }
    if let Some(key) = &key {
        let expires = SystemTime::now() + expire;
        options.config.play_url =
            sign_url(&options.config.play_url, key, expires).map_err(|e| format!("--key: {e}"))?;
    }
    options.config.validate().map_err(|e| e.to_string())?;
    Ok(options)
}

fn run(options: Options) -> Result<(), String> {
    // The Y4M writer opens on the first frame, when the size is known.
    let output = options.output.clone();
    let writer: Arc<Mutex<Option<Y4mWriter>>> = Arc::new(Mutex::new(None));
    let sink_writer = Arc::clone(&writer);
    // The last frame shown, for --snapshot.
    let last_shown: Arc<Mutex<Option<I420Frame>>> = Arc::new(Mutex::new(None));
    let keep_last = options.snapshot.is_some().then(|| Arc::clone(&last_shown));
    let sink: FrameSink = Box::new(move |frame, _| {
        if let Some(slot) = &keep_last {
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(frame.clone());
            }
        }
        let Some(path) = &output else {
            return Ok(());
        };
        let mut slot = sink_writer
            .lock()
            .map_err(|_| "writer poisoned".to_string())?;
        if slot.is_none() {
            let rate = FrameRate { num: 30, den: 1 };
            *slot = Some(
                Y4mWriter::create(path, frame.width(), frame.height(), rate)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
            );
        }
        if let Some(writer) = slot.as_mut() {
            writer
                .write_frame(frame)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    });
    let gpu = match options.config.view {
        Some(_) => {
            let gpu = GpuContext::from_env().map_err(|e| e.to_string())?;
            eprintln!("GPU adapter: {}", gpu.adapter_summary());
            Some(gpu)
        }
        None => None,
    };
    let mut player =
        LivePlayer::start(options.config, gpu, Some(sink)).map_err(|e| e.to_string())?;
    let events = player.events();
    let json = options.events_json;
    let printer = std::thread::spawn(move || {
        let Some(events) = events else { return };
        for event in events {
            let line = match event {
                PlayerEvent::Play(event) => {
                    let code = event.code.code();
                    // Warnings go to stderr as they happen; an error (a
                    // negative code) ends the run with its own last line.
                    if !json && (2101..=3005).contains(&code) {
                        eprintln!("player: event {code}: {}", event.message);
                    }
                    EventLine::from(event)
                }
                PlayerEvent::NetStatus(status) => EventLine::from(status),
                PlayerEvent::Error(detail) => EventLine::refused(detail),
            };
            if json {
                println!("{}", line.to_json());
            }
        }
    });
    let result = player.wait();
    let _ = printer.join();
    let summary = result.map_err(|e| e.to_string())?;
    if let Some(writer) = writer.lock().ok().and_then(|mut slot| slot.take()) {
        writer
            .finish()
            .map_err(|e| format!("cannot write the output: {e}"))?;
    }
    if let Some(path) = &options.snapshot {
        let frame = last_shown
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .ok_or("--snapshot: no frame was shown")?;
        i420_to_rgb_image(&frame)
            .save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut line = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    if let Some(object) = line.as_object_mut() {
        object.insert("tag".into(), "summary".into());
    }
    println!("{line}");
    if summary.frames_displayed == 0 {
        return Err("no frame was played".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("player: {message}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("player: {message}");
            ExitCode::FAILURE
        }
    }
}
