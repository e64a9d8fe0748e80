//! Effects on an image: the library's frame pipeline on one picture.
//!
//! Opens a PNG or JPEG, finds the face with the built-in landmarker, applies
//! all four beauty effects at a medium strength on the GPU and writes a
//! PNG. (`liveroom effects` is the full tool: every strength, a landmarks
//! file, a contact sheet.)
//!
//! ```text
//! cargo run --release --example effects -- assets/photos/astronaut.png out.png
//! ```

use std::error::Error;

use liveroom::color::{i420_to_rgb_image, rgb_image_to_i420};
use liveroom::effects::EffectParams;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::geometry::OutputSize;
use liveroom::{FrameParams, FramePipeline, GpuContext};

fn main() -> Result<(), Box<dyn Error>> {
    let mut paths = std::env::args().skip(1);
    let (Some(input), Some(output)) = (paths.next(), paths.next()) else {
        return Err("usage: effects INPUT.png|INPUT.jpg OUTPUT.png".into());
    };
    // The picture, as the pipeline's I420 frame (4:2:0: even sides).
    let picture = image::open(&input)?.to_rgb8();
    let frame = rgb_image_to_i420(&picture)?.cropped_to_even()?;

    // Faces: BlazeFace + FaceMesh on the CPU (models placed by setup.sh).
    let mut landmarker =
        BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::default())?;
    let faces = landmarker.landmarks(&frame)?;
    println!("{} face(s) found", faces.len());

    // The GPU pipeline, sized to the picture: no crop, no scale.
    let gpu = GpuContext::from_env()?;
    let size = OutputSize::new(frame.width(), frame.height())?;
    let mut pipeline = FramePipeline::new(&gpu, size)?;
    let params = FrameParams {
        // Whiteness, smoothness, thinness, eye bigness, each 0..1.
        effects: EffectParams::new(0.5, 0.6, 0.4, 0.4)?,
        faces,
        ..Default::default()
    };
    let processed = pipeline.process(&frame, &params)?;
    i420_to_rgb_image(&processed).save(&output)?;
    println!("wrote {output} on {}", gpu.adapter_summary());
    Ok(())
}
