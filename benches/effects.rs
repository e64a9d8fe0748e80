//! The effect chain: a 1280×720 frame holding the test portrait (scaled to
//! 720×720 and centred) → FHD vertical 9:16 (720×1280), mirrored, with all
//! four effects at full strength on the portrait's face; upload, geometry
//! with warps and whitening, the smoothing passes and readback included.
//! Needs `assets/photos/astronaut.png` (scripts/setup.sh); skipped without it.
//! Prints the adapter it ran on.
//!
//! `cargo bench --bench effects`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
use liveroom::landmarks::FaceLandmarks;
use liveroom::{FrameParams, FramePipeline, GpuContext};

fn effects_720p_to_vertical_fhd(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    let Ok(photo) = image::open(&path) else {
        eprintln!(
            "effects bench skipped: {} missing (run scripts/setup.sh)",
            path.display()
        );
        return;
    };
    let gpu = match GpuContext::from_env() {
        Ok(gpu) => gpu,
        Err(error) => {
            eprintln!("effects bench skipped: {error}");
            return;
        }
    };
    eprintln!("adapter: {}", gpu.adapter_summary());
    let face = image::imageops::resize(
        &photo.to_rgb8(),
        720,
        720,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = image::RgbImage::from_pixel(1280, 720, image::Rgb([200, 200, 205]));
    image::imageops::replace(&mut canvas, &face, 280, 0);
    let frame = rgb_image_to_i420(&canvas).expect("frame");
    // The portrait's landmarks (tests/effects_quality.rs), scaled and moved.
    let k = 720.0 / 512.0;
    let at = |x: f32, y: f32| [280.0 + x * k, y * k];
    let landmarks = FaceLandmarks {
        bbox: [280.0 + 183.0 * k, 85.0 * k, 81.0 * k, 93.0 * k],
        left_eye: at(204.0, 101.0),
        right_eye: at(246.0, 102.5),
        contour: Vec::new(),
    };
    let size = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let mut group = c.benchmark_group("effects");
    group.throughput(Throughput::Elements(1));
    for (name, effects) in [
        ("all_four", EffectParams::new(1.0, 1.0, 1.0, 1.0)),
        ("whiten_smooth", EffectParams::new(1.0, 1.0, 0.0, 0.0)),
        ("warps", EffectParams::new(0.0, 0.0, 1.0, 1.0)),
        ("thin", EffectParams::new(0.0, 0.0, 1.0, 0.0)),
        ("eyes", EffectParams::new(0.0, 0.0, 0.0, 1.0)),
        ("white", EffectParams::new(1.0, 0.0, 0.0, 0.0)),
        ("smooth", EffectParams::new(0.0, 1.0, 0.0, 0.0)),
    ] {
        let params = FrameParams {
            geometry: GeometryParams::new(1.0, true).expect("geometry"),
            effects: effects.expect("strengths"),
            faces: vec![landmarks.clone()],
        };
        group.bench_function(format!("1280x720_to_720x1280_{name}"), |b| {
            b.iter(|| pipeline.process(&frame, &params).expect("process"))
        });
    }
    group.finish();
}

criterion_group!(benches, effects_720p_to_vertical_fhd);
criterion_main!(benches);
