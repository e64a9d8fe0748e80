//! `liveroom effects`: a picture in, the beauty effects applied on the GPU,
//! a PNG out. With `--contact-sheet` it writes a before/after sheet
//! instead (`contact_sheet.rs`): original, each effect alone at full
//! strength, all together; the whole picture above a close-up of the face.
//!
//! Faces come from `--landmarks` (frame 0 of a JSON-lines file) or, without
//! it, from the built-in landmarker. `--background-blur` and
//! `--background-image` run the person segmenter (`backdrop.rs`).

use std::path::{Path, PathBuf};

use clap::Args;
use liveroom::color::i420_to_rgb_image;
use liveroom::effects::{EffectParams, Lut};
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame::I420Frame;
use liveroom::geometry::OutputSize;
use liveroom::landmarks::{FaceLandmarks, LandmarkTrack};
use liveroom::source::{FrameRate, FrameSource, StillImage};
use liveroom::{FrameParams, FramePipeline, GpuContext};

use crate::args;
use crate::backdrop::Backdrop;
use crate::contact_sheet;
use crate::Failure;

/// `liveroom effects` flags.
#[derive(Args, Debug)]
pub struct EffectsArgs {
    /// The picture: a PNG or JPEG file.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Where to write the picture with the effects (PNG).
    #[arg(long, value_name = "FILE.png", value_parser = args::png)]
    output: Option<PathBuf>,
    /// Write a before/after sheet: original, each effect alone at full
    /// strength, all together; the picture above a close-up of the face.
    #[arg(long, value_name = "FILE.png", value_parser = args::png)]
    contact_sheet: Option<PathBuf>,
    /// The faces (frame 0 of a JSON-lines file) instead of the built-in
    /// landmarker.
    #[arg(long, value_name = "FILE.jsonl")]
    landmarks: Option<PathBuf>,
    /// Most faces the built-in landmarker finds and beautifies, 1 to 8.
    #[arg(long, value_name = "N", default_value = "4", value_parser = args::max_faces)]
    max_faces: usize,
    /// Skin whitening, 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    skin_whiteness: f32,
    /// Skin smoothing, 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    skin_smoothness: f32,
    /// Face thinning, 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    face_thinness: f32,
    /// Eye enlarging, 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    eye_bigness: f32,
    /// Rosy skin tone (ruddiness), 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    ruddiness: f32,
    /// Sharpening of eyes, brows, lips and hair (skin left alone), 0 (off) to 1.
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    sharpness: f32,
    /// Colour filter: a 512x512 PNG look-up table (e.g. assets/luts/sepia.png).
    #[arg(long, value_name = "FILE.png")]
    filter: Option<PathBuf>,
    /// How much of --filter to blend in, 0 (off) to 1 [default: 1].
    #[arg(long, value_name = "X", value_parser = args::unit)]
    filter_strength: Option<f32>,
    /// Blur the background behind the person, 0 (off) to 1 (runs the
    /// person segmenter, as `liveroom push` does).
    #[arg(long, value_name = "X", default_value = "0", value_parser = args::unit)]
    background_blur: f32,
    /// Show this picture behind the person instead of the background,
    /// scaled to cover (blurred by --background-blur, if given).
    #[arg(long, value_name = "FILE")]
    background_image: Option<PathBuf>,
}

/// Runs `liveroom effects`.
pub fn run(args: EffectsArgs) -> Result<(), Failure> {
    if args.output.is_none() && args.contact_sheet.is_none() {
        return Err(Failure::Usage(
            "give --output FILE.png or --contact-sheet FILE.png".into(),
        ));
    }
    let filter_strength = args::filter_strength(args.filter.as_deref(), args.filter_strength)?;
    let chosen = EffectParams::new(
        args.skin_whiteness,
        args.skin_smoothness,
        args.face_thinness,
        args.eye_bigness,
    )
    .and_then(|effects| effects.with_ruddiness(args.ruddiness))
    .and_then(|effects| effects.with_sharpness(args.sharpness))
    .and_then(|effects| effects.with_filter_strength(filter_strength))
    .and_then(|effects| effects.with_background_blur(args.background_blur))
    .map_err(Failure::usage)?;
    if let Some(path) = args.background_image.as_deref().filter(|p| !p.is_file()) {
        return Err(Failure::Usage(format!(
            "--background-image {}: no such file",
            path.display()
        )));
    }
    let filter = args
        .filter
        .as_deref()
        .map(|path| Lut::open(path).map(std::sync::Arc::new))
        .transpose()
        .map_err(Failure::usage)?;
    let frame = even_sided(&args.input)?;
    let faces = faces_in(&frame, args.landmarks.as_deref(), args.max_faces)?;
    let size = OutputSize::new(frame.width(), frame.height()).map_err(Failure::usage)?;
    let gpu = GpuContext::from_env().map_err(Failure::run)?;
    eprintln!("GPU adapter: {}", gpu.adapter_summary());
    let mut pipeline = FramePipeline::new(&gpu, size).map_err(Failure::run)?;
    let tiles = match &args.contact_sheet {
        Some(_) => contact_sheet::tiles(filter.is_some(), args.background_image.is_some())
            .map_err(Failure::run)?,
        None => Vec::new(),
    };
    // The person segmenter runs only when a picture shows a background
    // effect.
    let replace = args.background_image.is_some();
    let needs_mask = (args.output.is_some() && (chosen.background_blur() > 0.0 || replace))
        || tiles
            .iter()
            .any(|tile| tile.effects.background_blur() > 0.0 || tile.replace);
    let mut backdrop = if needs_mask {
        Some(Backdrop::new(
            &gpu,
            &frame,
            args.background_image.as_deref(),
        )?)
    } else {
        None
    };
    let mut apply = |effects: EffectParams, replace: bool| -> Result<image::RgbImage, Failure> {
        let params = FrameParams {
            effects,
            faces: faces.clone(),
            filter: filter.clone(),
            ..Default::default()
        };
        let mut processed = pipeline.process(&frame, &params).map_err(Failure::run)?;
        if let Some(backdrop) = &mut backdrop {
            processed = backdrop.apply(&processed, effects.background_blur(), replace)?;
        }
        Ok(i420_to_rgb_image(&processed))
    };
    if let Some(path) = &args.output {
        save(&apply(chosen, replace)?, path)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.contact_sheet {
        let pictures = tiles
            .iter()
            .map(|tile| apply(tile.effects, tile.replace))
            .collect::<Result<Vec<_>, _>>()?;
        let close_up = contact_sheet::close_up_square(frame.width(), frame.height(), &faces);
        save(&contact_sheet::assemble(&pictures, close_up), path)?;
        let names: Vec<&str> = tiles.iter().map(|tile| tile.name).collect();
        println!("wrote {}: {}", path.display(), names.join(", "));
    }
    Ok(())
}

/// The picture as an I420 frame with even sides (4:2:0 output sizes are
/// even): a last odd row or column is dropped.
fn even_sided(path: &Path) -> Result<I420Frame, Failure> {
    let mut still = StillImage::open(path, FrameRate { num: 1, den: 1 }).map_err(Failure::usage)?;
    let frame = still
        .next_frame()
        .map_err(Failure::usage)?
        .ok_or_else(|| Failure::Usage(format!("{}: no picture", path.display())))?;
    frame.cropped_to_even().map_err(Failure::usage)
}

/// The faces in `frame`: from the landmarks file, or found by the built-in
/// landmarker.
fn faces_in(
    frame: &I420Frame,
    landmarks: Option<&Path>,
    max_faces: usize,
) -> Result<Vec<FaceLandmarks>, Failure> {
    match landmarks {
        Some(path) => Ok(LandmarkTrack::open(path)
            .map_err(Failure::usage)?
            .faces(0)
            .to_vec()),
        None => {
            let config = LandmarkerConfig {
                max_faces,
                ..LandmarkerConfig::default()
            };
            let mut landmarker =
                BuiltinLandmarker::new(&ModelPaths::from_env(), config).map_err(Failure::usage)?;
            landmarker.landmarks(frame).map_err(Failure::run)
        }
    }
}

fn save(picture: &image::RgbImage, path: &Path) -> Result<(), Failure> {
    picture
        .save(path)
        .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
}
