//! The effect chain: a 1280×720 frame holding the test portrait (scaled to
//! 720×720 and centred, and a close-up where the face fills half the
//! output), and the close-up from a 1920×1080 frame → FHD vertical 9:16
//! (720×1280), mirrored, with the effects at full strength on the
//! portrait's face; upload, geometry with warps and whitening, the
//! smoothing passes and readback included. On a software adapter the CPU
//! does most of it: each warp case runs again with the warps on the GPU
//! (`_gpu_warps`), and each case with whitening or smoothing with every
//! pass in the shaders (`_shaders`, as on a real GPU).
//! Needs `assets/photos/astronaut.png` (scripts/setup.sh); skipped without it.
//! Prints the adapter it ran on.
//!
//! `cargo bench --bench effects`

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
use liveroom::landmarks::FaceLandmarks;
use liveroom::pipeline::Placement;
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
    // Two framings of the portrait in a 1280×720 frame: a small face (the
    // portrait at 720×720, centred: the face about 200 output pixels
    // wide), and a close-up as in scripts/bench_chain.sh (the portrait at
    // 1440×1440, a 1280×720 window: the face fills half the output).
    let photo = photo.to_rgb8();
    let small = {
        let face = image::imageops::resize(&photo, 720, 720, image::imageops::FilterType::Triangle);
        let mut canvas = image::RgbImage::from_pixel(1280, 720, image::Rgb([200, 200, 205]));
        image::imageops::replace(&mut canvas, &face, 280, 0);
        (canvas, 720.0 / 512.0, [280.0, 0.0])
    };
    let close_up = (
        common::close_up(&photo, 1440, (1280, 720), (0, 150)),
        1440.0 / 512.0,
        [0.0, -150.0],
    );
    // The close-up from a 1920×1080 input: the portrait at 2160×2160.
    let close_up_1080p = (
        common::close_up(&photo, 2160, (1920, 1080), (0, 225)),
        2160.0 / 512.0,
        [0.0, -225.0],
    );
    let size = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let mut group = c.benchmark_group("effects");
    group.throughput(Throughput::Elements(1));
    let framings = [
        ("small_face", small),
        ("close_up", close_up),
        ("close_up_1080p", close_up_1080p),
    ];
    for (framing, (canvas, k, [dx, dy])) in framings {
        let frame = rgb_image_to_i420(&canvas).expect("frame");
        // The portrait's landmarks (tests/effects_quality.rs), scaled and moved.
        let at = |x: f32, y: f32| [dx + x * k, dy + y * k];
        let landmarks = FaceLandmarks {
            bbox: [dx + 183.0 * k, dy + 85.0 * k, 81.0 * k, 93.0 * k],
            left_eye: at(204.0, 101.0),
            right_eye: at(246.0, 102.5),
            contour: Vec::new(),
        };
        for (name, effects) in [
            ("all_four", EffectParams::new(1.0, 1.0, 1.0, 1.0)),
            ("whiten_smooth", EffectParams::new(1.0, 1.0, 0.0, 0.0)),
            ("warps", EffectParams::new(0.0, 0.0, 1.0, 1.0)),
            ("thin", EffectParams::new(0.0, 0.0, 1.0, 0.0)),
            ("eyes", EffectParams::new(0.0, 0.0, 0.0, 1.0)),
            ("white", EffectParams::new(1.0, 0.0, 0.0, 0.0)),
            ("smooth", EffectParams::new(0.0, 1.0, 0.0, 0.0)),
        ] {
            if framing == "close_up_1080p" && name != "all_four" {
                continue;
            }
            let params = FrameParams {
                geometry: GeometryParams::new(1.0, true).expect("geometry"),
                effects: effects.expect("strengths"),
                faces: vec![landmarks.clone()],
                ..Default::default()
            };
            let id = match framing {
                "small_face" => format!("1280x720_to_720x1280_{name}"),
                "close_up_1080p" => format!("1920x1080_to_720x1280_close_up_{name}"),
                _ => format!("1280x720_to_720x1280_{framing}_{name}"),
            };
            group.bench_function(id.clone(), |b| {
                b.iter(|| pipeline.process(&frame, &params).expect("process"))
            });
            if gpu.is_software() && params.effects.has_warp() {
                // The warps in the geometry shader's tiles instead of on the
                // CPU, for comparison.
                let default = pipeline.placement();
                pipeline.set_placement(Placement {
                    warps_on_cpu: false,
                    ..default
                });
                group.bench_function(format!("{id}_gpu_warps"), |b| {
                    b.iter(|| pipeline.process(&frame, &params).expect("process"))
                });
                pipeline.set_placement(default);
            }
            if gpu.is_software() && params.effects.has_color_effect() {
                // Every pass in the shaders, as on a real GPU.
                let default = pipeline.placement();
                pipeline.set_placement(Placement::SHADERS);
                group.bench_function(format!("{id}_shaders"), |b| {
                    b.iter(|| pipeline.process(&frame, &params).expect("process"))
                });
                pipeline.set_placement(default);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, effects_720p_to_vertical_fhd);
criterion_main!(benches);
