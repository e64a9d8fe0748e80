//! The built-in landmarker on one core's worth of work: the test portrait
//! (one face, 512×512) tracked frame after frame (mesh only), and found from
//! scratch (detector + mesh). Needs `assets/models/` and
//! `assets/photos/astronaut.png` (scripts/setup.sh); skipped without them.
//!
//! `cargo bench --bench landmarks`

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
    let mut frame = rgb_image_to_i420(&photo.to_rgb8()).expect("frame");
    let rate = FrameRate { num: 30, den: 1 };
    let mut index = 0u64;
    let mut group = c.benchmark_group("landmarks");
    group.bench_function("track_one_face_512", |b| {
        b.iter(|| {
            index += 1;
            frame.timestamp = rate.timestamp(index);
            landmarker.landmarks(&frame).expect("inference")
        })
    });
    group.bench_function("detect_from_scratch_512", |b| {
        b.iter(|| {
            landmarker.reset();
            index += 1;
            frame.timestamp = rate.timestamp(index);
            landmarker.landmarks(&frame).expect("inference")
        })
    });
    group.finish();
}

criterion_group!(benches, landmarks);
criterion_main!(benches);
