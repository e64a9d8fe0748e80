//! The pusher end to end into an FLV file: a panning clip over the test
//! portrait (1280×720 and 1920×1080 inputs, 60 frames, as
//! `scripts/bench_chain.sh` makes it) → FHD vertical 9:16 (720×1280),
//! mirrored, x264 `zerolatency` → FLV, with no effect and with all four
//! effects at full strength and the built-in landmarker (its start-up
//! included: each iteration is a whole push). Needs
//! `assets/photos/astronaut.png` and the face models (scripts/setup.sh);
//! the effects cases are skipped without the models. Prints the adapter it
//! ran on.
//!
//! `cargo bench --bench chain`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::face::ModelPaths;
use liveroom::frame::I420Frame;
use liveroom::geometry::Mode;
use liveroom::pusher::{FaceInput, LivePusher, PusherConfig};
use liveroom::source::{FrameRate, FrameSource, SourceError, SourceInfo};
use liveroom::GpuContext;

/// Frames per push.
const FRAMES: usize = 60;

/// A clip held in memory, played once; frames are stamped at 30 frames/s.
struct Clip {
    frames: std::sync::Arc<Vec<I420Frame>>,
    next: usize,
}

const RATE: FrameRate = FrameRate { num: 30, den: 1 };

impl FrameSource for Clip {
    fn info(&self) -> SourceInfo {
        let (width, height) = self
            .frames
            .first()
            .map_or((0, 0), |frame| (frame.width(), frame.height()));
        SourceInfo {
            width,
            height,
            frame_rate: RATE,
        }
    }

    fn next_frame(&mut self) -> Result<Option<I420Frame>, SourceError> {
        let Some(frame) = self.frames.get(self.next) else {
            return Ok(None);
        };
        let mut frame = frame.clone();
        frame.timestamp = RATE.timestamp(self.next as u64);
        self.next += 1;
        Ok(Some(frame))
    }
}

/// The portrait scaled to `side`², a `width × height` window moving right
/// `step` pixels a frame from row `top`, as `scripts/bench_chain.sh` makes
/// its clip.
fn panning_clip(
    photo: &image::RgbImage,
    side: u32,
    (width, height): (u32, u32),
    top: u32,
    step: u32,
) -> Vec<I420Frame> {
    let big = image::imageops::resize(photo, side, side, image::imageops::FilterType::Triangle);
    (0..FRAMES as u32)
        .map(|k| {
            let x = (k * step).min(side - width);
            let window = image::imageops::crop_imm(&big, x, top, width, height).to_image();
            rgb_image_to_i420(&window).expect("frame")
        })
        .collect()
}

fn push_to_flv(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(photo) = image::open(root.join("assets/photos/astronaut.png")) else {
        eprintln!(
            "chain bench skipped: assets/photos/astronaut.png missing (run scripts/setup.sh)"
        );
        return;
    };
    let photo = photo.to_rgb8();
    let gpu = match GpuContext::from_env() {
        Ok(gpu) => gpu,
        Err(error) => {
            eprintln!("chain bench skipped: {error}");
            return;
        }
    };
    eprintln!("adapter: {}", gpu.adapter_summary());
    let models = ModelPaths::from_env();
    let have_models = [&models.short_range, &models.full_range, &models.mesh]
        .iter()
        .all(|path| path.exists());
    if !have_models {
        eprintln!("chain bench: face models missing (run scripts/setup.sh); effects cases skipped");
    }
    let output =
        std::env::temp_dir().join(format!("liveroom-chain-bench-{}.flv", std::process::id()));
    let mut group = c.benchmark_group("chain");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(FRAMES as u64));
    let clips = [
        ("1280x720", panning_clip(&photo, 1440, (1280, 720), 150, 2)),
        (
            "1920x1080",
            panning_clip(&photo, 2160, (1920, 1080), 225, 3),
        ),
    ];
    for (input, frames) in clips {
        let frames = std::sync::Arc::new(frames);
        for (name, effects) in [
            ("plain", EffectParams::default()),
            (
                "all_four",
                EffectParams::new(1.0, 1.0, 1.0, 1.0).expect("strengths"),
            ),
        ] {
            if effects.has_warp() && !have_models {
                continue;
            }
            let config = PusherConfig {
                mode: Mode::Fhd,
                mirror: true,
                effects,
                zero_latency: Some(true),
                flv_output: Some(output.clone()),
                ..Default::default()
            };
            group.bench_function(format!("{input}_to_720x1280_flv_{name}"), |b| {
                b.iter(|| {
                    let source = Clip {
                        frames: std::sync::Arc::clone(&frames),
                        next: 0,
                    };
                    let pusher = LivePusher::start(
                        config.clone(),
                        gpu.clone(),
                        Box::new(source),
                        FaceInput::Auto,
                        None,
                    )
                    .expect("pusher starts");
                    let summary = pusher.wait().expect("push");
                    assert_eq!(summary.frames_encoded, FRAMES as u64);
                })
            });
        }
    }
    group.finish();
    let _ = std::fs::remove_file(&output);
}

criterion_group!(benches, push_to_flv);
criterion_main!(benches);
