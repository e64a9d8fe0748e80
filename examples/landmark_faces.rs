//! What each extra face costs the built-in landmarker.
//!
//! Lays 1, 2 and 3 copies of the test portrait's head (faces 160, 120 and
//! 95 px across) on a 1280×720 canvas, follows them for 30 frames and
//! prints the median and mean time per frame with every face meshed on every frame,
//! with the faces taking turns (one mesh a frame), and with the pusher's
//! settings (`LandmarkerConfig::for_live`: turns, mesh every other frame).
//! Needs `assets/models/` and `assets/photos/astronaut.png`
//! (`scripts/setup.sh`).
//!
//! ```text
//! cargo run --release --example landmark_faces
//! ```

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use liveroom::color::rgb_image_to_i420;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame::I420Frame;

/// Face widths of the heads laid on the canvas.
const FACE_WIDTHS: [u32; 3] = [160, 120, 95];

/// Frames timed per setting, after the first (which finds the faces).
const FRAMES: u32 = 30;

/// `faces` heads of the portrait side by side on a grey 1280×720 canvas.
fn canvas(portrait: &image::RgbImage, faces: usize) -> Result<I420Frame, Box<dyn Error>> {
    // The head with some margin; its face is about 100 px across.
    let head = image::imageops::crop_imm(portrait, 125, 10, 200, 240).to_image();
    let mut canvas = image::RgbImage::from_pixel(1280, 720, image::Rgb([128, 128, 128]));
    let mut x = 20i64;
    for (i, width) in FACE_WIDTHS.iter().take(faces).enumerate() {
        let w = width * 2;
        let h = w * 240 / 200;
        let scaled = image::imageops::resize(&head, w, h, image::imageops::FilterType::Triangle);
        let y = if i % 2 == 0 { 60 } else { 300 };
        image::imageops::overlay(&mut canvas, &scaled, x, y);
        x += i64::from(w) - 40;
    }
    Ok(rgb_image_to_i420(&canvas)?)
}

/// Faces found on the last frame, and the median and mean milliseconds per
/// frame.
fn time(
    models: &ModelPaths,
    config: LandmarkerConfig,
    frame: &mut I420Frame,
) -> Result<(usize, f64, f64), Box<dyn Error>> {
    let mut landmarker = BuiltinLandmarker::new(models, config)?;
    landmarker.landmarks(frame)?;
    let mut found = 0;
    let mut times = Vec::new();
    for i in 1..=FRAMES {
        frame.timestamp = Duration::from_millis(33 * u64::from(i));
        let started = Instant::now();
        found = landmarker.landmarks(frame)?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    Ok((found, times[times.len() / 2], mean))
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let portrait = image::open(root.join("assets/photos/astronaut.png"))?.to_rgb8();
    let models = ModelPaths::in_dir(&root.join("assets/models"));
    println!("faces | every face meshed | taking turns | pusher (for_live)   [median / mean ms per frame]");
    for faces in 1..=FACE_WIDTHS.len() {
        let mut frame = canvas(&portrait, faces)?;
        let base = LandmarkerConfig {
            max_faces: faces,
            ..LandmarkerConfig::default()
        };
        let settings = [
            base,
            LandmarkerConfig {
                meshes_per_frame: 1,
                ..base
            },
            LandmarkerConfig {
                max_faces: faces,
                ..LandmarkerConfig::for_live()
            },
        ];
        let mut row = format!("{faces:>5}");
        for config in settings {
            let (found, median, mean) = time(&models, config, &mut frame)?;
            row += &format!(" | {median:>6.1} / {mean:>6.1} ({found} found)");
        }
        println!("{row}");
    }
    Ok(())
}
