//! `liveroom play`: pull a stream (RTMP, or an FLV file), buffer and
//! decode it, and report what arrived: with `--stamps` the frame stamps
//! the pusher's `testsrc` carries (lost, repeated, out of order), with
//! `--reference` the PSNR against a clip, and the sound. `--window` shows
//! the picture in a desktop window, with keys: `f` full screen, space
//! pause/resume, `m` mute, `q` quit.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clap::Args;
use liveroom::events::{EventPrinter, PlayCode};
use liveroom::geometry::Orientation;
use liveroom::player::{
    FrameSink, LivePlayer, ObjectFit, PlayMode, PlayerConfig, PlayerError, PlayerEvent,
    SpeakerError, ViewConfig,
};
use liveroom::rtmp::sign_url;
use liveroom::sinks::{SnapshotSink, Y4mSink};
use liveroom::source::FrameRate;
use liveroom::verify::describe_playback;
use liveroom::window::{VideoWindow, WindowEvent, WindowKey, WindowOptions};
use liveroom::GpuContext;

use crate::args;
use crate::progress::{print_summary, Progress};
use crate::{optional_sink, Failure};

/// `liveroom play` flags: the plugin's player settings.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct PlayArgs {
    /// What to play: rtmp://HOST[:PORT]/APP/STREAM or an FLV file.
    #[arg(long, value_name = "URL|FILE.flv")]
    url: Option<String>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N", value_parser = args::count_above_zero)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S", value_parser = args::seconds)]
    timeout: Option<Duration>,
    /// live (a larger cache) or rtc (low latency).
    #[arg(long, value_name = "MODE", default_value = "live", value_parser = args::from_str::<PlayMode>)]
    mode: PlayMode,
    /// Seconds buffered before playback starts (the plugin's minCache).
    #[arg(long, value_name = "S", value_parser = args::seconds)]
    min_cache: Option<Duration>,
    /// Most seconds buffered before the player skips ahead (maxCache).
    #[arg(long, value_name = "S", value_parser = args::seconds)]
    max_cache: Option<Duration>,
    /// Reconnect attempts after the connection drops (0 to 100).
    #[arg(long, value_name = "N", value_parser = args::attempts)]
    reconnect_attempts: Option<u32>,
    /// Sign the play URL with this anti-leech key (txSecret/txTime).
    #[arg(long, value_name = "KEY", value_parser = args::key)]
    key: Option<String>,
    /// How long the signature stays valid, in seconds.
    #[arg(long, value_name = "S", default_value = "3600", value_parser = args::expire)]
    expire: Duration,

    /// Read the frame stamps of liveroom's testsrc and count lost, repeated
    /// and out-of-order frames (and, with its test tone, how far sound and
    /// picture are apart).
    #[arg(long, help_heading = "Verification")]
    stamps: bool,
    /// Measure PSNR against this clip, frame by frame.
    #[arg(long, value_name = "FILE.y4m", help_heading = "Verification")]
    reference: Option<PathBuf>,

    /// Write the frames shown to a Y4M file.
    #[arg(long, value_name = "FILE.y4m", help_heading = "Output", value_parser = args::y4m)]
    output: Option<PathBuf>,
    /// Save the last frame shown as a PNG.
    #[arg(long, value_name = "FILE.png", help_heading = "Output", value_parser = args::png)]
    snapshot: Option<PathBuf>,
    /// Write the sound received as 16-bit PCM WAV.
    #[arg(long, value_name = "FILE.wav", help_heading = "Output", value_parser = |t: &str| args::path_with(t, &["wav"]))]
    audio_output: Option<PathBuf>,
    /// Play the sound on the default output device (ALSA's `default` PCM
    /// on Linux), on the picture's clock.
    #[arg(long, help_heading = "Output")]
    speaker: bool,
    /// Play (and write) silence instead of the sound.
    #[arg(long, help_heading = "Output")]
    muted: bool,
    /// Draw the frames into a view of this size on the GPU.
    #[arg(long, value_name = "WxH", help_heading = "Output", value_parser = view_size)]
    view: Option<(u32, u32)>,
    /// How the picture fills the view: contain or fillCrop.
    #[arg(long, value_name = "FIT", default_value = "contain", help_heading = "Output", value_parser = args::from_str::<ObjectFit>)]
    object_fit: ObjectFit,
    /// The view's (and the window's) orientation: vertical or horizontal
    /// [default: vertical for --view; --window-size as given].
    #[arg(long, value_name = "O", help_heading = "Output", value_parser = args::from_str::<Orientation>)]
    orientation: Option<Orientation>,
    /// Show the picture in a desktop window (--object-fit, --orientation
    /// apply; resizing keeps the fit). Keys: f full screen, space pause and
    /// resume, m mute, q quit. Needs a display (on a server: Xvfb).
    #[arg(long, help_heading = "Window")]
    window: bool,
    /// The window's size when it opens.
    #[arg(long, value_name = "WxH", default_value = "640x360", help_heading = "Window", value_parser = view_size)]
    window_size: (u32, u32),
    /// Print every event as one JSON line on stdout, and the summary as JSON.
    #[arg(long, value_name = "FORMAT", help_heading = "Output", value_parser = ["json"])]
    events: Option<String>,
}

fn view_size(text: &str) -> Result<(u32, u32), String> {
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| "expected WIDTHxHEIGHT such as 720x1280".to_string())
}

/// Runs `liveroom play`.
pub fn run(args: PlayArgs) -> Result<(), Failure> {
    let Some(url) = args.url.clone() else {
        return Err(Failure::Usage(
            "--url is required (rtmp://HOST[:PORT]/APP/STREAM, http://HOST:PORT/APP/STREAM.flv or FILE.flv)".into(),
        ));
    };
    let play_url = match &args.key {
        Some(key) => sign_url(&url, key, SystemTime::now() + args.expire)
            .map_err(|e| Failure::Usage(format!("--key: {e}")))?,
        None => url,
    };
    let mut config = PlayerConfig {
        play_url,
        max_frames: args.frames,
        timeout: args.timeout,
        mode: args.mode,
        min_cache: args.min_cache,
        max_cache: args.max_cache,
        reference: args.reference.clone(),
        verify_stamps: args.stamps,
        muted: args.muted,
        audio_output: args.audio_output.clone(),
        speaker: args.speaker,
        view: args.view.map(|(width, height)| ViewConfig {
            width,
            height,
            object_fit: args.object_fit,
            orientation: args.orientation.unwrap_or(Orientation::Vertical),
        }),
        ..PlayerConfig::default()
    };
    if let Some(attempts) = args.reconnect_attempts {
        config.reconnect.attempts = attempts;
    }
    config.validate().map_err(Failure::usage)?;
    // The frames' rate is not known up front: the Y4M header says 30.
    let output = optional_sink(args.output.as_deref(), |path| {
        Y4mSink::create(path, FrameRate { num: 30, den: 1 })
    })?;
    let snapshot = optional_sink(args.snapshot.as_deref(), SnapshotSink::new)?;
    let printer = EventPrinter::new("player", args.events.is_some());
    let progress = Progress::new(!printer.is_json(), args.frames);
    let gpu = match config.view {
        Some(_) => {
            let gpu = GpuContext::from_env().map_err(Failure::run)?;
            progress.println(&format!("GPU adapter: {}", gpu.adapter_summary()));
            Some(gpu)
        }
        None => None,
    };
    let (window, window_events) = if args.window {
        let mut window = VideoWindow::open(WindowOptions {
            title: format!("liveroom play {}", args.url.as_deref().unwrap_or_default()),
            width: args.window_size.0,
            height: args.window_size.1,
            object_fit: args.object_fit,
            orientation: args.orientation,
        })
        .map_err(Failure::run)?;
        let events = window.events();
        (Some(window), events)
    } else {
        (None, None)
    };
    let sinks = Arc::new(Mutex::new(Shown {
        output,
        snapshot,
        window,
        count: 0,
    }));
    let sink = frame_sink(Arc::clone(&sinks), progress.clone());
    progress.state("connecting");
    let mut player = LivePlayer::start(config, gpu, Some(sink)).map_err(failure)?;
    let event_thread = progress.follow(player.events(), move |shown, event| {
        match event {
            PlayerEvent::Play(play) => {
                if let Some(state) = state_of(play.code) {
                    shown.state(state);
                }
            }
            PlayerEvent::NetStatus(status) => shown.net_status(status),
            PlayerEvent::Error(_) | PlayerEvent::FullscreenChange(_) => {}
        }
        shown.print(printer.player_event(event));
    });
    let quit = match window_events {
        Some(events) => follow_window(&player, &events, &progress, printer, args.muted),
        None => false,
    };
    let result = if quit { player.stop() } else { player.wait() };
    let _ = event_thread.join();
    progress.finish();
    let summary = result.map_err(failure)?;
    let (output, snapshot) = {
        let mut shown = sinks
            .lock()
            .map_err(|_| Failure::Run("frame sink poisoned".into()))?;
        shown.window = None;
        (shown.output.take(), shown.snapshot.take())
    };
    if let Some(output) = output {
        output.finish().map_err(Failure::run)?;
    }
    if let Some(snapshot) = snapshot {
        snapshot
            .save()
            .map_err(|e| Failure::Run(format!("--snapshot: {e}")))?;
    }
    let mut line = serde_json::to_value(&summary).map_err(Failure::run)?;
    if let Some(object) = line.as_object_mut() {
        object.insert("tag".into(), "summary".into());
    }
    print_summary(printer.is_json(), &line, &describe_playback(&summary));
    if summary.frames_displayed == 0 {
        return Err(Failure::Run("no frame was played".into()));
    }
    Ok(())
}

/// Status 2 for what was given and cannot be used (settings, an input
/// file that is not FLV, a reference clip, an output that cannot be
/// written, no sound device for `--speaker`: all found as the player
/// starts), 1 for the rest.
fn failure(error: PlayerError) -> Failure {
    match error {
        PlayerError::Config(_)
        | PlayerError::Input { .. }
        | PlayerError::Reference(_)
        | PlayerError::Output { .. }
        | PlayerError::Speaker(SpeakerError::NoDevice | SpeakerError::Unavailable { .. }) => {
            Failure::usage(error)
        }
        _ => Failure::run(error),
    }
}

/// The progress line's state for a player event, where it changes it.
fn state_of(code: PlayCode) -> Option<&'static str> {
    Some(match code {
        PlayCode::Connected => "connected",
        PlayCode::StreamBegins | PlayCode::Loading => "buffering",
        PlayCode::PlaybackBegins => "playing",
        PlayCode::Reconnecting => "reconnecting",
        PlayCode::StreamEnded => "ended",
        _ => return None,
    })
}

/// Acts on the player window's keys until the player ends or the window
/// is closed or quit (then true: the player is to be stopped). Space
/// pauses and resumes, `m` mutes and unmutes; full-screen changes (the
/// window makes them itself on `f`) are printed as `fullscreenChange`.
fn follow_window(
    player: &LivePlayer,
    events: &Receiver<WindowEvent>,
    progress: &Progress,
    printer: EventPrinter,
    mut muted: bool,
) -> bool {
    let mut paused = false;
    loop {
        let done = match events.recv_timeout(Duration::from_millis(100)) {
            Ok(WindowEvent::Key(WindowKey::Quit)) | Ok(WindowEvent::Closed) => return true,
            Ok(WindowEvent::Key(WindowKey::Pause)) => {
                paused = !paused;
                progress.state(if paused { "paused" } else { "playing" });
                if paused {
                    player.pause()
                } else {
                    player.resume()
                }
                .is_err()
            }
            Ok(WindowEvent::Key(WindowKey::Mute)) => {
                muted = !muted;
                player.mute(muted).is_err()
            }
            Ok(WindowEvent::FullscreenChange(on)) => {
                progress.print(printer.player_event(&PlayerEvent::FullscreenChange(on)));
                false
            }
            Ok(_) => false,
            Err(RecvTimeoutError::Timeout) => player.is_finished(),
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if done {
            return false;
        }
    }
}

/// What the frame sink keeps of the frames shown.
struct Shown {
    output: Option<Y4mSink>,
    snapshot: Option<SnapshotSink>,
    /// The player window (`--window`); closed when the playback ends.
    window: Option<VideoWindow>,
    count: u64,
}

/// The player's frame sink: the Y4M file, the snapshot, the progress.
fn frame_sink(shown: Arc<Mutex<Shown>>, progress: Progress) -> FrameSink {
    Box::new(move |frame, _| {
        let mut shown = shown
            .lock()
            .map_err(|_| "frame sink poisoned".to_string())?;
        shown.count += 1;
        progress.frames(shown.count);
        if let Some(output) = shown.output.as_mut() {
            output.write(frame).map_err(|e| e.to_string())?;
        }
        if let Some(snapshot) = shown.snapshot.as_mut() {
            snapshot.keep(frame);
        }
        if let Some(window) = &shown.window {
            // A closed window ends the playback from the main thread.
            let _ = window.show(frame);
        }
        Ok(())
    })
}
