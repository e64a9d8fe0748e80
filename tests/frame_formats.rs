//! NV12, RGBA8 and BGRA8 CPU frames through the frame pipeline against the
//! I420 path: the public-domain astronaut portrait (`assets/photos/`,
//! placed by `scripts/setup.sh`) converted to I420 with `src/color.rs`,
//! the same samples as NV12 (exact), and the photo's own pixels as RGBA
//! and BGRA (which `src/color.rs` turns into that I420 frame). Each goes
//! through the pipeline with the effects off and with all four at full
//! strength on the portrait's face, with every pass in the shaders (the
//! conversion on the GPU) and with the adapter's default placement (on a
//! software adapter the CPU routes, the conversion on the CPU); the result
//! must equal the I420 path's within one level on every plane.

mod common;

use std::time::Duration;

use common::{portrait_face, portrait_rgb};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::frame::{FrameError, I420Frame, Plane};
use liveroom::frame_formats::{ChannelOrder, InputFrame, Nv12Frame, RgbaFrame};
use liveroom::geometry::{GeometryParams, OutputSize};
use liveroom::pipeline::Placement;
use liveroom::{FrameParams, FramePipeline};

/// The largest difference on each plane (Y, U, V).
fn plane_differences(a: &I420Frame, b: &I420Frame) -> [u8; 3] {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    Plane::ALL.map(|plane| {
        let (w, h) = a.plane_size(plane);
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| a.sample(plane, x, y).abs_diff(b.sample(plane, x, y)))
            .max()
            .unwrap_or(0)
    })
}

#[test]
fn nv12_rgba_and_bgra_frames_equal_the_i420_path_within_one_level() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let photo = portrait_rgb();
    let timestamp = Duration::from_millis(40);
    let mut i420 = rgb_image_to_i420(&photo).expect("photo converts");
    i420.timestamp = timestamp;
    let inputs = [
        (
            "NV12",
            InputFrame::Nv12(Nv12Frame::from_i420(&i420).expect("nv12")),
        ),
        (
            "RGBA8",
            InputFrame::Rgba(
                RgbaFrame::from_rgb_image(&photo, ChannelOrder::Rgba, timestamp).expect("rgba"),
            ),
        ),
        (
            "BGRA8",
            InputFrame::Rgba(
                RgbaFrame::from_rgb_image(&photo, ChannelOrder::Bgra, timestamp).expect("bgra"),
            ),
        ),
    ];
    let (width, height) = photo.dimensions();
    // The output at the photo's size (the CPU routes take it), and a
    // smaller, mirrored one (scaling down: the shaders' route everywhere).
    let sizes = [
        (OutputSize::new(width, height).expect("size"), false),
        (OutputSize::new(288, 384).expect("size"), true),
    ];
    let mut worst = 0;
    for (size, mirror) in sizes {
        let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
        let default = pipeline.placement();
        for (placement_name, placement) in [("shaders", Placement::SHADERS), ("default", default)] {
            pipeline.set_placement(placement);
            for (effects_name, effects) in [
                ("off", EffectParams::default()),
                (
                    "all four at 1",
                    EffectParams::new(1.0, 1.0, 1.0, 1.0).expect("strengths"),
                ),
            ] {
                let params = FrameParams {
                    geometry: GeometryParams::new(1.0, mirror).expect("geometry"),
                    effects,
                    faces: vec![portrait_face()],
                    ..Default::default()
                };
                let reference = pipeline.process(&i420, &params).expect("I420 path");
                let reference_route = pipeline.last_route();
                for (name, input) in &inputs {
                    let out = pipeline.process_frame(input, &params).expect(name);
                    assert_eq!(out.timestamp, timestamp, "{name} keeps its timestamp");
                    assert_eq!(
                        pipeline.last_route(),
                        reference_route,
                        "{name} takes the I420 frame's route"
                    );
                    let [y, u, v] = plane_differences(&out, &reference);
                    println!(
                        "{}x{} placement {placement_name}, effects {effects_name}, {name} vs I420 \
                         ({:?}): max |diff| Y {y} U {u} V {v}",
                        size.width(),
                        size.height(),
                        reference_route,
                    );
                    assert!(
                        y <= 1 && u <= 1 && v <= 1,
                        "{name} differs from the I420 path by more than one level: Y {y} U {u} V {v}"
                    );
                    worst = worst.max(y.max(u).max(v));
                }
            }
        }
    }
    println!("largest difference over every case: {worst}");
}

#[test]
fn bad_frames_are_refused_with_the_reason() {
    let odd = RgbaFrame::new(5, 4, ChannelOrder::Rgba, vec![0; 80], 20, Duration::ZERO);
    assert_eq!(
        odd.unwrap_err(),
        FrameError::OddSize {
            format: "RGBA8",
            width: 5,
            height: 4
        }
    );
    let short = Nv12Frame::new(4, 4, vec![0; 15], 4, vec![0; 8], 4, Duration::ZERO);
    assert_eq!(
        short.unwrap_err(),
        FrameError::PlaneTooSmall {
            plane: "Y",
            needed: 16,
            got: 15,
            width: 4,
            height: 4,
            stride: 4
        }
    );
    let narrow = RgbaFrame::new(4, 2, ChannelOrder::Bgra, vec![0; 64], 12, Duration::ZERO);
    let message = narrow.unwrap_err().to_string();
    assert!(
        message.contains("BGRA8 stride 12 is shorter than the row width 16"),
        "{message}"
    );
}
