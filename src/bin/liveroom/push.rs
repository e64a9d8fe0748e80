//! `liveroom push`: a source through the GPU effect chain and x264, pushed
//! over RTMP and/or written to a file. Without `--url` and `--output` it is
//! the main job: the stream goes to the embedded server on loopback, is
//! played back from it at the same time and checked frame by frame
//! ([`liveroom::verify`]).
//!
//! Everything the flags name is checked, and every input opened, before
//! anything runs (status 2 on a problem); failures while running are
//! status 1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use liveroom::audio::AudioQuality;
use liveroom::effects::{EffectParams, Lut};
use liveroom::encoder::BitrateRange;
use liveroom::events::{EventPrinter, PushCode};
use liveroom::face::{BuiltinLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::geometry::{Aspect, GeometryParams, GeometryPlan, Mode, Orientation};
use liveroom::landmarks::LandmarkTrack;
use liveroom::player::PlayMode;
use liveroom::pusher::{AudioInput, FaceInput, FrameTap, LivePusher, PusherConfig, PusherEvent};
use liveroom::rtmp::LocalServer;
use liveroom::sinks::{has_extension, LandmarkDump, SnapshotSink, Y4mSink};
use liveroom::source::{open_source, stamp, FrameSource, VideoFile};
use liveroom::urls::sign_if_keyed;
use liveroom::verify::{
    Expectations, PlaybackCheck, PushReport, SelfPlayback, SoundCheck, Thresholds,
};
use liveroom::window::WindowOptions;
use liveroom::GpuContext;

use crate::args;
use crate::progress::{print_summary, Progress};
use crate::{optional_sink, Failure};

/// Frames pushed from an endless source when `--frames` is not given.
const DEFAULT_FRAMES: u64 = 300;

/// The application and stream name the main job pushes to on the
/// embedded server.
const MAIN_JOB_STREAM: (&str, &str) = ("live", "liveroom");

/// `liveroom push` flags: the plugin's pusher settings.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct PushArgs {
    /// Publish to rtmp://HOST[:PORT]/APP/STREAM (a ?txSecret=…&txTime=…
    /// query stays on the stream name). Without it (and without --output),
    /// push to the built-in server and play the stream back to verify it.
    #[arg(long, value_name = "URL", help_heading = "Destination", value_parser = args::rtmp_url)]
    url: Option<String>,
    /// Write the processed frames (.y4m) or the encoded stream (.flv),
    /// instead of or besides pushing; alone, run as fast as possible.
    #[arg(long, value_name = "FILE", help_heading = "Destination", value_parser = |t: &str| args::path_with(t, &["y4m", "flv"]))]
    output: Option<PathBuf>,
    /// Save the last processed frame as a PNG.
    #[arg(long, value_name = "FILE.png", help_heading = "Destination", value_parser = args::png)]
    snapshot: Option<PathBuf>,
    /// Print every event as one JSON line on stdout, and the summary as JSON.
    #[arg(long, value_name = "FORMAT", help_heading = "Destination", value_parser = ["json"])]
    events: Option<String>,
    /// Show the processed picture (what is encoded) in a desktop window
    /// while pushing (the plugin's startPreview); closing the window (or q
    /// in it) does not stop the push. Needs a display (on a server: Xvfb).
    #[arg(long, help_heading = "Destination")]
    preview: bool,
    /// Sign the push URL with this anti-leech key (txSecret/txTime); without
    /// --url the built-in server then requires the signature too.
    #[arg(long, value_name = "KEY", help_heading = "Destination", value_parser = args::key)]
    key: Option<String>,
    /// How long the signature stays valid, in seconds.
    #[arg(long, value_name = "S", default_value = "3600", help_heading = "Destination", value_parser = args::expire)]
    expire: Duration,
    /// Reconnect attempts after the connection drops (0 to 100; default 10).
    #[arg(long, value_name = "N", help_heading = "Destination", value_parser = args::attempts)]
    reconnect_attempts: Option<u32>,
    /// First reconnect back-off in milliseconds (1 to 60000; default 500).
    #[arg(long, value_name = "MS", help_heading = "Destination", value_parser = args::backoff_ms)]
    reconnect_delay_ms: Option<Duration>,

    /// The picture source: testsrc (1280×720 with a frame-index stamp), a
    /// .y4m clip, an .mp4/.m4v/.mov/.flv file with H.264 video (its frame
    /// rate, length and sound kept), - for Y4M on stdin (e.g. `ffmpeg … -f
    /// yuv4mpegpipe -`), or a .png/.jpg still image.
    #[arg(
        long,
        value_name = "SOURCE",
        default_value = "testsrc",
        help_heading = "Source"
    )]
    input: String,
    /// Frames to push (default: all of a clip, 300 of an endless source).
    #[arg(long, value_name = "N", help_heading = "Source", value_parser = args::count_above_zero)]
    frames: Option<u64>,
    /// Frame rate of testsrc and still images (1 to 240); a clip keeps its own.
    #[arg(long, value_name = "N", default_value = "30", help_heading = "Source", value_parser = args::fps)]
    fps: f64,
    /// Stop after this many seconds of stream (the length of an audio-only push; default 10 s).
    #[arg(long, value_name = "S", help_heading = "Source", value_parser = args::duration)]
    duration: Option<Duration>,

    /// Preset: sd, hd, fhd or rtc (short side 360, 540, 720, 360).
    #[arg(long, value_name = "MODE", default_value = "sd", help_heading = "Picture", value_parser = args::from_str::<Mode>)]
    mode: Mode,
    /// Portrait or landscape output: vertical or horizontal (shape only).
    #[arg(long, value_name = "O", default_value = "vertical", help_heading = "Picture", value_parser = args::from_str::<Orientation>)]
    orientation: Orientation,
    /// Output aspect: 9:16 or 3:4.
    #[arg(long, value_name = "RATIO", default_value = "9:16", help_heading = "Picture", value_parser = args::from_str::<Aspect>)]
    aspect: Aspect,
    /// Flip the picture left to right.
    #[arg(long, help_heading = "Picture")]
    mirror: bool,
    /// Digital zoom about the centre, 1.0 (none) to 8.0.
    #[arg(long, value_name = "F", default_value = "1.0", help_heading = "Picture", value_parser = args::zoom)]
    zoom: f32,

    /// Skin whitening, 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    skin_whiteness: Option<f32>,
    /// Skin smoothing, 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    skin_smoothness: Option<f32>,
    /// Face thinning, 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    face_thinness: Option<f32>,
    /// Eye enlarging, 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    eye_bigness: Option<f32>,
    /// Rosy skin tone (ruddiness), 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    ruddiness: Option<f32>,
    /// Blur the background behind the person, 0 (off) to 1 (runs the person segmenter).
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    background_blur: Option<f32>,
    /// Show this picture behind the person instead of the background, scaled to cover.
    #[arg(long, value_name = "FILE", help_heading = "Beauty")]
    background_image: Option<PathBuf>,
    /// Sharpening of eyes, brows, lips and hair (skin left alone), 0 (off) to 1.
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    sharpness: Option<f32>,
    /// Colour filter: a 512x512 PNG look-up table (e.g. assets/luts/sepia.png).
    #[arg(long, value_name = "FILE.png", help_heading = "Beauty")]
    filter: Option<PathBuf>,
    /// How much of --filter to blend in, 0 (off) to 1 [default: 1].
    #[arg(long, value_name = "X", help_heading = "Beauty", value_parser = args::unit)]
    filter_strength: Option<f32>,
    /// Legacy smoothing level 0 to 9 (smoothness = level / 9); not with the custom flags.
    #[arg(long, value_name = "LEVEL", help_heading = "Beauty", value_parser = args::level)]
    beauty: Option<i64>,
    /// Legacy whitening level 0 to 9 (whiteness = level / 9); not with the custom flags.
    #[arg(long, value_name = "LEVEL", help_heading = "Beauty", value_parser = args::level)]
    whiteness: Option<i64>,
    /// The faces of each frame as JSON lines, instead of the built-in landmarker.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Beauty")]
    landmarks: Option<PathBuf>,
    /// Most faces the built-in landmarker follows and beautifies, 1 to 8.
    #[arg(long, value_name = "N", default_value = "4", help_heading = "Beauty", value_parser = args::max_faces)]
    max_faces: usize,
    /// Write the faces used for every frame (input pixels, same format).
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Beauty")]
    dump_landmarks: Option<PathBuf>,

    /// Lowest bitrate the encoder may use, kbps (default: the mode's).
    #[arg(long, value_name = "KBPS", help_heading = "Encoding", value_parser = args::kbps)]
    min_bitrate: Option<u32>,
    /// Highest bitrate, kbps: the VBV cap (default: the mode's).
    #[arg(long, value_name = "KBPS", help_heading = "Encoding", value_parser = args::kbps)]
    max_bitrate: Option<u32>,
    /// x264's zerolatency tune in any mode (no lookahead, no B-frames); rtc always has it.
    #[arg(long, help_heading = "Encoding")]
    zerolatency: bool,

    /// The microphone: off (no audio track), none (silence), tone (a 1 kHz
    /// beep every second) or a WAV, MP3, AAC/M4A, FLAC or Ogg Vorbis file
    /// [default: the --input video file's own sound if it has any, else tone].
    #[arg(long, value_name = "INPUT", help_heading = "Sound", value_parser = args::from_str::<AudioInput>)]
    audio: Option<AudioInput>,
    /// Send silence instead of the microphone (the music still plays).
    #[arg(long, help_heading = "Sound")]
    muted: bool,
    /// high (48 kHz stereo, 128 kbps) or low (16 kHz mono, 32 kbps) AAC-LC.
    #[arg(long, value_name = "Q", default_value = "high", help_heading = "Sound", value_parser = args::from_str::<AudioQuality>)]
    audio_quality: AudioQuality,
    /// Another AAC sample rate, 8000 to 48000 Hz (anything else is -1306).
    #[arg(long, value_name = "HZ", help_heading = "Sound")]
    audio_rate: Option<u32>,
    /// Background music mixed over the microphone.
    #[arg(long, value_name = "FILE", help_heading = "Sound")]
    bgm: Option<PathBuf>,
    /// Background music volume, 0 to 1.
    #[arg(long, value_name = "X", default_value = "1.0", help_heading = "Sound", value_parser = args::unit)]
    bgm_volume: f32,
    /// Sound only, no video track (the plugin's enableCamera false).
    #[arg(long, help_heading = "Sound")]
    audio_only: bool,
}

/// What the tap does with every processed frame.
struct Tap {
    y4m: Option<Y4mSink>,
    dump: Option<LandmarkDump>,
    snapshot: Option<SnapshotSink>,
    /// With a stamped source, the stamp's cell size in the output.
    stamp_cell: Option<f32>,
    stamps_read: u64,
    frames: u64,
    check: Option<Arc<PlaybackCheck>>,
}

/// Everything checked and opened, ready to run.
struct Prepared {
    args: PushArgs,
    config: PusherConfig,
    source: Box<dyn FrameSource>,
    faces: FaceInput,
    tap: Tap,
}

/// Runs `liveroom push`.
pub fn run(args: PushArgs) -> Result<(), Failure> {
    prepare(args)?.execute()
}

fn effect_params(args: &PushArgs) -> Result<EffectParams, Failure> {
    let custom = [
        args.skin_whiteness,
        args.skin_smoothness,
        args.face_thinness,
        args.eye_bigness,
    ];
    let has_custom = custom.iter().any(Option::is_some);
    let has_levels = args.beauty.is_some() || args.whiteness.is_some();
    let effects = match (has_custom, has_levels) {
        (true, true) => Err(Failure::Usage(
            "use either the custom effect (--skin-whiteness, --skin-smoothness, --face-thinness, --eye-bigness) or the levels (--beauty, --whiteness), not both".into(),
        )),
        (true, false) => {
            let [w, s, t, e] = custom.map(|v| v.unwrap_or(0.0));
            EffectParams::new(w, s, t, e).map_err(Failure::usage)
        }
        (false, true) => EffectParams::from_levels(args.beauty.unwrap_or(0), args.whiteness.unwrap_or(0))
            .map_err(Failure::usage),
        (false, false) => Ok(EffectParams::default()),
    }?;
    let filter_strength = args::filter_strength(args.filter.as_deref(), args.filter_strength)?;
    effects
        .with_ruddiness(args.ruddiness.unwrap_or(0.0))
        .and_then(|effects| effects.with_background_blur(args.background_blur.unwrap_or(0.0)))
        .and_then(|e| e.with_sharpness(args.sharpness.unwrap_or(0.0)))
        .and_then(|e| e.with_filter_strength(filter_strength))
        .map_err(Failure::usage)
}

impl PushArgs {
    /// The microphone: `--audio`, else the input video file's own sound
    /// when it has some, else the test tone. It probes the input file, so
    /// [`prepare`] resolves it once and the rest of the run reads
    /// [`PusherConfig::audio`].
    fn audio_input(&self) -> AudioInput {
        if let Some(audio) = &self.audio {
            return audio.clone();
        }
        let input = Path::new(&self.input);
        if VideoFile::handles(input) && liveroom::audio::has_decodable_sound(input) {
            AudioInput::File(input.to_path_buf())
        } else {
            AudioInput::Tone
        }
    }
}

/// Checks the sound flags against `audio`, the microphone
/// [`PushArgs::audio_input`] resolved.
fn check_sound_flags(args: &PushArgs, audio: &AudioInput) -> Result<(), Failure> {
    if *audio == AudioInput::Off {
        if args.bgm.is_some() {
            return Err(Failure::Usage(
                "--bgm needs an audio track: use --audio none (no microphone) instead of --audio off".into(),
            ));
        }
        if args.audio_only {
            return Err(Failure::Usage(
                "--audio-only needs sound: --audio off leaves nothing to push".into(),
            ));
        }
    }
    if let Some(path) = args.bgm.as_ref().filter(|path| !path.is_file()) {
        return Err(Failure::Usage(format!(
            "--bgm {}: no such file",
            path.display()
        )));
    }
    if let AudioInput::File(path) = audio {
        if !path.is_file() {
            return Err(Failure::Usage(format!(
                "--audio {}: no such file (or off, none, tone)",
                path.display()
            )));
        }
    }
    Ok(())
}

fn prepare(args: PushArgs) -> Result<Prepared, Failure> {
    let effects = effect_params(&args)?;
    let filter = args
        .filter
        .as_deref()
        .map(|path| Lut::open(path).map(Arc::new))
        .transpose()
        .map_err(Failure::usage)?;
    BitrateRange::resolve(args.mode, args.min_bitrate, args.max_bitrate)
        .map_err(|e| Failure::Usage(format!("--min-bitrate/--max-bitrate: {e}")))?;
    let audio = args.audio_input();
    check_sound_flags(&args, &audio)?;
    if let Some(path) = args
        .background_image
        .as_ref()
        .filter(|path| !path.is_file())
    {
        return Err(Failure::Usage(format!(
            "--background-image {}: no such file",
            path.display()
        )));
    }
    let source = open_source(&args.input, args.fps).map_err(Failure::usage)?;
    let info = source.info();
    // All of a clip, or as many as asked; an endless source stops at the
    // default count.
    let max_frames = args
        .frames
        .or((!source.is_finite()).then_some(DEFAULT_FRAMES));
    let output_flv = args.output.clone().filter(|p| has_extension(p, "flv"));
    let mut config = PusherConfig {
        push_url: args.url.clone(),
        mode: args.mode,
        orientation: args.orientation,
        aspect: args.aspect,
        mirror: args.mirror,
        zoom: args.zoom,
        effects,
        background_image: args.background_image.clone(),
        filter,
        min_bitrate_kbps: args.min_bitrate,
        max_bitrate_kbps: args.max_bitrate,
        max_frames,
        flv_output: output_flv,
        audio,
        muted: args.muted,
        audio_quality: args.audio_quality,
        audio_sample_rate: args.audio_rate,
        enable_camera: !args.audio_only,
        // An audio-only push counts its length in the source's frames too.
        max_duration: args.duration.or(args.audio_only.then(|| {
            let frames = max_frames.unwrap_or(DEFAULT_FRAMES);
            Duration::from_secs_f64(frames as f64 / args.fps)
        })),
        zero_latency: args.zerolatency.then_some(true),
        max_faces: args.max_faces,
        ..Default::default()
    };
    if let Some(attempts) = args.reconnect_attempts {
        config.reconnect.attempts = attempts;
    }
    if let Some(delay) = args.reconnect_delay_ms {
        config.reconnect.initial_backoff = delay;
        config.reconnect.max_backoff = config.reconnect.max_backoff.max(delay);
    }
    let size = config.output_size();
    // Faces: from the file, else from the built-in landmarker when an
    // effect or the dump needs them (loaded now, so that missing models
    // fail before the GPU starts), else none.
    let needs_faces =
        effects.has_warp() || effects.has_color_effect() || args.dump_landmarks.is_some();
    let faces = match &args.landmarks {
        Some(path) => FaceInput::Track(LandmarkTrack::open(path).map_err(Failure::usage)?),
        None if needs_faces => FaceInput::Landmarker(Box::new(
            BuiltinLandmarker::new(
                &ModelPaths::from_env(),
                LandmarkerConfig {
                    max_faces: args.max_faces,
                    ..LandmarkerConfig::for_live()
                },
            )
            .map_err(Failure::usage)?,
        )),
        None => FaceInput::None,
    };
    // With testsrc, every frame's stamp is read back from the output.
    let stamp_cell = if args.input == "testsrc" {
        let geometry = GeometryParams::new(args.zoom, args.mirror).map_err(Failure::usage)?;
        let plan =
            GeometryPlan::new(info.width, info.height, size, geometry).map_err(Failure::usage)?;
        Some(stamp::cell_size_after(&plan))
    } else {
        None
    };
    let y4m_path = args.output.as_deref().filter(|p| has_extension(p, "y4m"));
    let y4m = optional_sink(y4m_path, |path| Y4mSink::create(path, info.frame_rate))?;
    let dump = optional_sink(args.dump_landmarks.as_deref(), LandmarkDump::create)?;
    let snapshot = optional_sink(args.snapshot.as_deref(), SnapshotSink::new)?;
    let tap = Tap {
        y4m,
        dump,
        snapshot,
        stamp_cell,
        stamps_read: 0,
        frames: 0,
        check: None,
    };
    Ok(Prepared {
        args,
        config,
        source,
        faces,
        tap,
    })
}

/// The progress line's state for a pusher event, where it changes it.
fn state_of(code: PushCode) -> Option<&'static str> {
    Some(match code {
        PushCode::Connected => "connected",
        PushCode::Publishing => "publishing",
        PushCode::Reconnecting => "reconnecting",
        PushCode::Background => "paused",
        _ => return None,
    })
}

impl Prepared {
    fn execute(self) -> Result<(), Failure> {
        let Prepared {
            args,
            mut config,
            source,
            faces,
            mut tap,
        } = self;
        let printer = EventPrinter::new("pusher", args.events.is_some());
        let progress = Progress::new(!printer.is_json(), config.max_frames);
        // The GPU comes last, so that bad input fails fast with one line.
        let gpu = GpuContext::from_env().map_err(Failure::run)?;
        progress.println(&format!("GPU adapter: {}", gpu.adapter_summary()));
        // No URL and no file: push to our own server on loopback, play the
        // stream back and check it.
        let local = match (&config.push_url, &args.output) {
            (None, None) => Some(LocalServer::start(args.key.clone()).map_err(Failure::run)?),
            _ => None,
        };
        if let Some(local) = &local {
            let (app, stream) = MAIN_JOB_STREAM;
            config.push_url = Some(local.url(app, stream, args.expire).map_err(Failure::run)?);
            progress.println(&format!("embedded RTMP server on {}", local.local_addr()));
            if let Some(Ok(page)) = local.http_url(app, stream, "html", args.expire) {
                progress.println(&format!("watch it in a browser: {page}"));
            }
            if let Some(Ok(flv)) = local.http_url(app, stream, "flv", args.expire) {
                progress.println(&format!("or over HTTP-FLV: ffplay '{flv}'"));
            }
        } else if let Some(url) = &config.push_url {
            config.push_url =
                Some(sign_if_keyed(url, args.key.as_deref(), args.expire).map_err(Failure::usage)?);
        }
        let playback = match (&local, &config.push_url) {
            (Some(_), Some(url)) => {
                let mode = if args.mode == Mode::Rtc {
                    PlayMode::Rtc
                } else {
                    PlayMode::Live
                };
                // A safety net: the player ends with the stream, long before
                // this (a clip of unknown length gets an hour).
                let seconds = config
                    .max_frames
                    .map_or(3600.0, |frames| frames as f64 / args.fps);
                let limit = Duration::from_secs_f64(seconds + 60.0);
                let playback = SelfPlayback::start(url, mode, limit)
                    .map_err(|e| Failure::Run(format!("playback: {e}")))?;
                tap.check = Some(playback.check());
                Some(playback)
            }
            _ => None,
        };
        let url = config.push_url.clone();
        let preview_size = config.output_size();
        let tap = Arc::new(Mutex::new(tap));
        let frame_tap = frame_tap(Arc::clone(&tap), progress.clone());
        progress.state(if url.is_some() {
            "connecting"
        } else {
            "encoding"
        });
        // The microphone as `prepare` resolved it, for the sound check.
        let audio = config.audio.clone();
        let mut pusher =
            LivePusher::start(config, gpu, source, faces, Some(frame_tap)).map_err(|error| {
                if let Some(line) = printer.push_start_error(&error).stdout {
                    println!("{line}");
                }
                Failure::run(error)
            })?;
        let events = pusher.events();
        if args.preview {
            pusher
                .start_preview(WindowOptions {
                    title: "liveroom push preview".into(),
                    width: preview_size.width(),
                    height: preview_size.height(),
                    ..WindowOptions::default()
                })
                .map_err(Failure::run)?;
        }
        if let Some(path) = &args.bgm {
            pusher
                .set_bgm_volume(args.bgm_volume)
                .and_then(|()| pusher.play_bgm(path))
                .map_err(Failure::run)?;
        }
        let event_thread = progress.follow(events, move |shown, event| {
            match event {
                PusherEvent::Push(push) => {
                    if let Some(state) = state_of(push.code) {
                        shown.state(state);
                    }
                }
                PusherEvent::NetStatus(status) => shown.net_status(status),
                _ => {}
            }
            shown.print(printer.pusher_event(event));
        });
        let result = pusher.wait();
        if playback.is_some() {
            progress.state("waiting for the playback to end");
        }
        let played = playback.map(|playback| playback.finish(result.is_ok()));
        let _ = event_thread.join();
        progress.finish();
        drop(local);
        let summary = result.map_err(Failure::run)?;
        let played = played
            .transpose()
            .map_err(|e| Failure::Run(format!("playback: {e}")))?;

        let mut tap = tap
            .lock()
            .map_err(|_| Failure::Run("frame tap poisoned".into()))?;
        let stamped = tap.stamp_cell.is_some();
        finish_sinks(&mut tap)?;
        let report = PushReport {
            push: summary,
            url,
            stamps_read: stamped.then_some(tap.stamps_read),
            playback: played,
        };
        print_summary(printer.is_json(), &report.to_json(), &report.in_words());
        let sound = match (&audio, args.muted) {
            (AudioInput::Off, _) => SoundCheck::None,
            (AudioInput::Tone, false) if stamped && !args.audio_only => SoundCheck::InSync,
            _ => SoundCheck::Decodes,
        };
        let expect = Expectations {
            stamped,
            video: !args.audio_only,
            sound,
        };
        report
            .verdict(&expect, &Thresholds::default())
            .map_err(Failure::run)
    }
}

/// The pusher's frame tap: stamps read back, files written, frames handed
/// to the playback check, progress counted.
fn frame_tap(tap: Arc<Mutex<Tap>>, progress: Progress) -> FrameTap {
    Box::new(move |index, frame, faces| {
        let mut tap = tap.lock().map_err(|_| "frame tap poisoned".to_string())?;
        tap.frames += 1;
        progress.frames(tap.frames);
        if let Some(cell) = tap.stamp_cell {
            if stamp::read(frame, cell) == Some(index as u32) {
                tap.stamps_read += 1;
            }
        }
        if let Some(dump) = tap.dump.as_mut() {
            dump.write(index, faces).map_err(|e| e.to_string())?;
        }
        if let Some(y4m) = tap.y4m.as_mut() {
            y4m.write(frame).map_err(|e| e.to_string())?;
        }
        if let Some(check) = &tap.check {
            check.pushed(index, frame);
        }
        if let Some(snapshot) = tap.snapshot.as_mut() {
            snapshot.keep(frame);
        }
        Ok(())
    })
}

fn finish_sinks(tap: &mut Tap) -> Result<(), Failure> {
    if let Some(y4m) = tap.y4m.take() {
        y4m.finish().map_err(Failure::run)?;
    }
    if let Some(dump) = tap.dump.take() {
        dump.finish().map_err(Failure::run)?;
    }
    if let Some(snapshot) = tap.snapshot.take() {
        snapshot
            .save()
            .map_err(|e| Failure::Run(format!("--snapshot: {e}")))?;
    }
    Ok(())
}
