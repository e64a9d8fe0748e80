//! The pusher, first form: read a source, run it through the GPU pipeline
//! (crop to the preset's aspect, zoom, mirror, scale) and write the processed
//! frames to a Y4M file. With `testsrc` as input it also reads every frame's
//! stamp back from the processed picture and reports how many survived.
//!
//! ```text
//! cargo run --release --example pusher -- --input testsrc --frames 90 \
//!     --mode fhd --aspect 9:16 --mirror --output out.y4m
//! ```
//!
//! Flags: `--input testsrc|FILE.y4m|FILE.png|FILE.jpg` `--frames N` `--fps N`
//! `--mode sd|hd|fhd|rtc` `--orientation vertical|horizontal`
//! `--aspect 9:16|3:4` `--mirror` `--zoom F` `--output FILE.y4m`;
//! effects: `--skin-whiteness X --skin-smoothness X --face-thinness X
//! --eye-bigness X` (0..1, the custom effect) or `--beauty 0-9 --whiteness 0-9`
//! (legacy levels), `--landmarks FILE.jsonl` (faces per frame, in input
//! pixels; without it the built-in landmarker finds them, on its own thread,
//! when an effect needs them) and `--dump-landmarks FILE.jsonl` (the faces
//! used for every frame, in the same format).
//! A bad value prints one line on stderr and exits with status 2; a failure
//! while running exits with status 1. The last line on stdout is a JSON
//! summary.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use liveroom::effects::EffectParams;
use liveroom::face::{BuiltinLandmarker, LandmarkWorker, LandmarkerConfig, ModelPaths};
use liveroom::frame::I420Frame;
use liveroom::geometry::{Aspect, GeometryParams, GeometryPlan, Mode, Orientation, OutputSize};
use liveroom::landmarks::{self, LandmarkTrack};
use liveroom::source::{open_source, stamp, FrameRate, FrameSource, Y4mWriter};
use liveroom::{FrameParams, FramePipeline, GpuContext};

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
                let is_y4m = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("y4m"));
                if !is_y4m {
                    return Err(format!(
                        "--output {}: only .y4m output is supported",
                        path.display()
                    ));
                }
                options.output = Some(path);
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
            "--landmarks" => options.landmarks = Some(PathBuf::from(value()?)),
            "--dump-landmarks" => options.dump_landmarks = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                return Err("usage: pusher [--input testsrc|FILE.y4m|FILE.png|FILE.jpg] [--frames N] [--fps N] [--mode sd|hd|fhd|rtc] [--orientation vertical|horizontal] [--aspect 9:16|3:4] [--mirror] [--zoom F] [--output FILE.y4m] [--skin-whiteness X] [--skin-smoothness X] [--face-thinness X] [--eye-bigness X] [--beauty 0-9] [--whiteness 0-9] [--landmarks FILE.jsonl] [--dump-landmarks FILE.jsonl]".into())
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
    Ok(options)
}

/// Where each frame's faces come from.
enum Faces {
    /// `--landmarks FILE.jsonl`.
    File(LandmarkTrack),
    /// The built-in landmarker on its own thread.
    Worker(LandmarkWorker),
    /// No face effect asked for.
    None,
}

fn run(options: Options) -> Result<(), String> {
    let mut source: Box<dyn FrameSource> =
        open_source(&options.input, options.fps).map_err(|e| e.to_string())?;
    let info = source.info();
    let size = OutputSize::for_preset(options.mode, options.orientation, options.aspect);
    let geometry = GeometryParams::new(options.zoom, options.mirror).map_err(|e| e.to_string())?;
    let mut params = FrameParams {
        geometry,
        effects: options.effects,
        faces: Vec::new(),
    };
    // Faces: from the file, else from the built-in landmarker when an
    // effect or the dump needs them, else none.
    let mut faces = match &options.landmarks {
        Some(path) => Faces::File(LandmarkTrack::open(path).map_err(|e| e.to_string())?),
        None if options.effects.has_color_effect()
            || options.effects.has_warp()
            || options.dump_landmarks.is_some() =>
        {
            let landmarker =
                BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::default())
                    .map_err(|e| e.to_string())?;
            Faces::Worker(LandmarkWorker::spawn(Box::new(landmarker)))
        }
        None => Faces::None,
    };
    let mut dump = match &options.dump_landmarks {
        Some(path) => {
            Some(BufWriter::new(File::create(path).map_err(|e| {
                format!("cannot write {}: {e}", path.display())
            })?))
        }
        None => None,
    };
    // With testsrc, every frame's stamp is read back from the output.
    let stamp_cell = (options.input == "testsrc")
        .then(|| GeometryPlan::new(info.width, info.height, size, geometry))
        .transpose()
        .map_err(|e| e.to_string())?
        .map(|plan| stamp::cell_size_after(&plan));

    let mut writer = match &options.output {
        Some(path) => Some(
            Y4mWriter::create(path, size.width(), size.height(), info.frame_rate)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        ),
        None => None,
    };
    // The GPU comes last, so that bad input fails fast with one line.
    let gpu = GpuContext::from_env().map_err(|e| e.to_string())?;
    eprintln!("GPU adapter: {}", gpu.adapter_summary());
    let mut pipeline = FramePipeline::new(&gpu, size).map_err(|e| e.to_string())?;
    let limit = options.frames.unwrap_or(DEFAULT_FRAMES);
    let (mut processed, mut stamps_read) = (0u64, 0u64);
    let started = Instant::now();
    let mut read = 0u64;
    let mut next_frame = |source: &mut Box<dyn FrameSource>| -> Result<Option<I420Frame>, String> {
        if read >= limit {
            return Ok(None);
        }
        read += 1;
        source.next_frame().map_err(|e| e.to_string())
    };
    // With the worker, one frame is in flight ahead of the GPU.
    if let Faces::Worker(worker) = &mut faces {
        if let Some(frame) = next_frame(&mut source)? {
            worker.submit(frame).map_err(|e| e.to_string())?;
        }
    }
    loop {
        let frame = match &mut faces {
            Faces::Worker(worker) => {
                if let Some(ahead) = next_frame(&mut source)? {
                    worker.submit(ahead).map_err(|e| e.to_string())?;
                }
                let Some(result) = worker.receive() else {
                    break;
                };
                let (frame, found) = result.map_err(|e| e.to_string())?;
                params.faces = found.map_err(|e| e.to_string())?;
                frame
            }
            Faces::File(track) => {
                let Some(frame) = next_frame(&mut source)? else {
                    break;
                };
                params.faces = track.faces(processed).to_vec();
                frame
            }
            Faces::None => {
                let Some(frame) = next_frame(&mut source)? else {
                    break;
                };
                frame
            }
        };
        if let (Some(dump), Some(path)) = (dump.as_mut(), &options.dump_landmarks) {
            landmarks::write_line(dump, processed, &params.faces)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let out = pipeline
            .process(&frame, &params)
            .map_err(|e| e.to_string())?;
        if let Some(cell) = stamp_cell {
            if stamp::read(&out, cell) == Some(processed as u32) {
                stamps_read += 1;
            }
        }
        if let (Some(writer), Some(path)) = (writer.as_mut(), &options.output) {
            writer
                .write_frame(&out)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        processed += 1;
    }
    if let (Some(writer), Some(path)) = (writer, &options.output) {
        writer
            .finish()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let (Some(mut dump), Some(path)) = (dump, &options.dump_landmarks) {
        dump.flush()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stamps = match stamp_cell {
        Some(_) => format!(",\"stampsVerified\":{stamps_read}"),
        None => String::new(),
    };
    println!(
        "{{\"tag\":\"summary\",\"framesProcessed\":{processed},\"width\":{},\"height\":{},\"fps\":{:.1}{stamps}}}",
        size.width(),
        size.height(),
        processed as f64 / seconds.max(1e-9),
    );
    if stamp_cell.is_some() && stamps_read != processed {
        return Err(format!(
            "verification failed: {stamps_read} of {processed} frame stamps read back"
        ));
    }
    Ok(())
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
