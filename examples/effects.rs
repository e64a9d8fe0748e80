//! The first thing to run: a picture in, the beauty effects applied on the
//! GPU, a PNG out. With `--contact-sheet` it writes a before/after sheet
//! instead: original, then each effect alone at full strength, then all four
//! together (left to right, top to bottom).
//!
//! ```text
//! cargo run --release --example effects -- --input face.png --landmarks face.jsonl \
//!     --skin-whiteness 0.6 --skin-smoothness 0.8 --face-thinness 0.5 --eye-bigness 0.5 \
//!     --output out.png
//! cargo run --release --example effects -- --input face.png --landmarks face.jsonl \
//!     --contact-sheet sheet.png
//! ```
//!
//! `--landmarks` is a JSON-lines file whose frame 0 describes the faces (see
//! `liveroom::landmarks`); without it the face effects have nothing to act on.

use std::path::PathBuf;
use std::process::ExitCode;

use liveroom::color::{i420_to_rgb_image, rgb_image_to_i420};
use liveroom::effects::EffectParams;
use liveroom::frame::I420Frame;
use liveroom::geometry::OutputSize;
use liveroom::landmarks::LandmarkTrack;
use liveroom::{FrameParams, FramePipeline, GpuContext};

struct Options {
    input: PathBuf,
    landmarks: Option<PathBuf>,
    strengths: [f32; 4],
    output: Option<PathBuf>,
    contact_sheet: Option<PathBuf>,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        input: PathBuf::new(),
        landmarks: None,
        strengths: [0.0; 4],
        output: None,
        contact_sheet: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let slot = match flag.as_str() {
            "--skin-whiteness" => Some(0),
            "--skin-smoothness" => Some(1),
            "--face-thinness" => Some(2),
            "--eye-bigness" => Some(3),
            _ => None,
        };
        if let Some(slot) = slot {
            let text = value()?;
            options.strengths[slot] = text
                .parse()
                .map_err(|_| format!("{flag} {text:?}: expected a number from 0 to 1"))?;
            continue;
        }
        match flag.as_str() {
            "--input" => options.input = PathBuf::from(value()?),
            "--landmarks" => options.landmarks = Some(PathBuf::from(value()?)),
            "--output" => options.output = Some(PathBuf::from(value()?)),
            "--contact-sheet" => options.contact_sheet = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if options.input.as_os_str().is_empty() {
        return Err("--input FILE.png|FILE.jpg is required".into());
    }
    if options.output.is_none() && options.contact_sheet.is_none() {
        return Err("give --output FILE.png or --contact-sheet FILE.png".into());
    }
    Ok(options)
}

fn run(options: Options) -> Result<(), String> {
    let [w, s, t, e] = options.strengths;
    let chosen = EffectParams::new(w, s, t, e).map_err(|e| e.to_string())?;
    let image = image::open(&options.input)
        .map_err(|e| format!("cannot read {}: {e}", options.input.display()))?
        .to_rgb8();
    // 4:2:0 needs even sides: drop a last odd row or column.
    let (width, height) = (image.width() & !1, image.height() & !1);
    let image = image::imageops::crop_imm(&image, 0, 0, width, height).to_image();
    let frame = rgb_image_to_i420(&image).map_err(|e| e.to_string())?;
    let faces = match &options.landmarks {
        Some(path) => LandmarkTrack::open(path)
            .map_err(|e| e.to_string())?
            .faces(0)
            .to_vec(),
        None => Vec::new(),
    };
    let size = OutputSize::new(width, height).map_err(|e| e.to_string())?;
    let gpu = GpuContext::from_env().map_err(|e| e.to_string())?;
    eprintln!("GPU adapter: {}", gpu.adapter_summary());
    let mut pipeline = FramePipeline::new(&gpu, size).map_err(|e| e.to_string())?;
    let mut apply = |effects: EffectParams| -> Result<I420Frame, String> {
        let params = FrameParams {
            effects,
            faces: faces.clone(),
            ..Default::default()
        };
        pipeline.process(&frame, &params).map_err(|e| e.to_string())
    };
    if let Some(path) = &options.output {
        let out = i420_to_rgb_image(&apply(chosen)?);
        out.save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &options.contact_sheet {
        let one = |w, s, t, e| EffectParams::new(w, s, t, e).map_err(|e| e.to_string());
        let tiles = [
            one(0.0, 0.0, 0.0, 0.0)?,
            one(1.0, 0.0, 0.0, 0.0)?,
            one(0.0, 1.0, 0.0, 0.0)?,
            one(0.0, 0.0, 1.0, 0.0)?,
            one(0.0, 0.0, 0.0, 1.0)?,
            one(1.0, 1.0, 1.0, 1.0)?,
        ];
        let mut sheet = image::RgbImage::new(width * 3, height * 2);
        for (index, effects) in tiles.into_iter().enumerate() {
            let tile = i420_to_rgb_image(&apply(effects)?);
            let (x, y) = ((index as u32 % 3) * width, (index as u32 / 3) * height);
            image::imageops::replace(&mut sheet, &tile, x as i64, y as i64);
        }
        sheet
            .save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "wrote {}: original, whiteness, smoothness, thinness, eyes, all four",
            path.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_options(std::env::args().skip(1)).and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("effects: {message}");
            ExitCode::FAILURE
        }
    }
}
