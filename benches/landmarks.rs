//! The built-in landmarker on one core's worth of work: the test portrait
//! (one face, 512×512), and close-ups of it in 1280×720 and 1920×1080
//! frames (the face about half the frame's height, as in the chain bench),
//! tracked frame after frame (mesh only), and found from scratch (the
//! detector, then the mesh). Needs `assets/models/` and
//! `assets/photos/astronaut.png` (scripts/setup.sh); skipped without them.
//!
//! `cargo bench --bench landmarks`

mod common;

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use liveroom::color::rgb_image_to_i420;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::source::FrameRate;

fn landmarks(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(photo) = image::open(root.join("assets/photos/astronaut.png")) else {
        eprintln!("landmarks bench skipped: run scripts/setup.sh for the portrait");
        return;
    };
    let models = ModelPaths::in_dir(&root.join("assets/models"));
    let mut landmarker = match BuiltinLandmarker::new(&models, LandmarkerConfig::default()) {
        Ok(landmarker) => landmarker,
        Err(error) => {
            eprintln!("landmarks bench skipped: {error}");
            return;
        }
    };
    let photo = photo.to_rgb8();
    let pictures = [
        ("512", photo.clone()),
        (
            "1280x720",
            common::close_up(&photo, 1440, (1280, 720), (0, 150)),
        ),
        (
            "1920x1080",
            common::close_up(&photo, 2160, (1920, 1080), (0, 225)),
        ),
    ];
    let rate = FrameRate { num: 30, den: 1 };
    let mut index = 0u64;
    let mut group = c.benchmark_group("landmarks");
    for (name, picture) in pictures {
        let mut frame = rgb_image_to_i420(&picture).expect("frame");
        landmarker.reset();
        group.bench_function(format!("track_one_face_{name}"), |b| {
            b.iter(|| {
                index += 1;
                frame.timestamp = rate.timestamp(index);
                landmarker.landmarks(&frame).expect("inference")
            })
        });
        group.bench_function(format!("detect_from_scratch_{name}"), |b| {
            b.iter(|| {
                landmarker.reset();
                index += 1;
                frame.timestamp = rate.timestamp(index);
                landmarker.landmarks(&frame).expect("inference")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, landmarks);
criterion_main!(benches);
