//! Tier 3: the GPU pipeline against its CPU reference, on small pictures,
//! within ±2 levels; plus the reuse rules (new input size, new parameters,
//! new output size) that keep it from rebuilding per frame.

mod common;

use common::{gpu, max_difference, textured_frame};
use liveroom::frame::Plane;
use liveroom::geometry::{GeometryParams, GeometryPlan, OutputSize};
use liveroom::pipeline::{reference, Placement, Route};
use liveroom::{FrameParams, FramePipeline};

const TOLERANCE: u8 = 2;

fn params(zoom: f32, mirror: bool) -> FrameParams {
    FrameParams {
        geometry: GeometryParams::new(zoom, mirror).expect("valid geometry"),
        ..Default::default()
    }
}

/// The shader with the RGB stage where `always_convert`, the plain
/// geometry on the CPU where `plain_on_cpu`.
fn placement(always_convert: bool, plain_on_cpu: bool) -> Placement {
    Placement {
        always_convert,
        plain_on_cpu,
        ..Placement::SHADERS
    }
}

fn assert_matches_reference(
    pipeline: &mut FramePipeline,
    input: (u32, u32),
    params: FrameParams,
    seed: u32,
    always_convert: bool,
) {
    let frame = textured_frame(input.0, input.1, seed);
    // The shader, then the CPU's plain path where it applies (the default
    // on a software adapter): one tap per pixel, and no RGB stage.
    pipeline.set_placement(placement(always_convert, false));
    let gpu_out = pipeline.process(&frame, &params).expect("GPU processing");
    assert_eq!(pipeline.last_route(), Some(Route::Shader));
    pipeline.set_placement(placement(always_convert, true));
    let fast_out = pipeline.process(&frame, &params).expect("CPU plain path");
    let plan =
        GeometryPlan::new(input.0, input.1, pipeline.output_size(), params.geometry).expect("plan");
    let cpu_applies = !always_convert && (plan.taps_x, plan.taps_y) == (1, 1);
    let expected = if cpu_applies {
        Route::CpuPlain
    } else {
        Route::Shader
    };
    assert_eq!(
        pipeline.last_route(),
        Some(expected),
        "input {input:?} {params:?}"
    );
    let cpu_out =
        reference::process(&frame, pipeline.output_size(), &params).expect("CPU reference");
    let (worst, plane, x, y) = max_difference(&gpu_out, &cpu_out);
    assert!(
        worst <= TOLERANCE,
        "input {input:?} {params:?}: GPU differs from reference by {worst} at {plane:?} ({x}, {y})"
    );
    let (worst, plane, x, y) = max_difference(&fast_out, &gpu_out);
    assert!(
        worst <= 1,
        "input {input:?} {params:?}: the plain path differs from the shader by {worst} at {plane:?} ({x}, {y})"
    );
}

#[test]
fn geometry_pass_matches_reference_across_geometries() {
    let Some(gpu) = gpu() else { return };
    /// Input size, output size, zoom, mirror.
    type Case = ((u32, u32), (u32, u32), f32, bool);
    let cases: &[Case] = &[
        // Landscape to portrait crop, upscale, mirrored.
        ((64, 36), (36, 64), 1.0, true),
        // Odd input size, zoomed.
        ((37, 23), (24, 16), 1.5, false),
        // Strong downscale: several taps per axis.
        ((160, 90), (24, 16), 1.0, true),
        // Portrait input to landscape output, zoom and mirror.
        ((48, 80), (40, 30), 2.0, true),
    ];
    for &(input, (w, h), zoom, mirror) in cases {
        let size = OutputSize::new(w, h).expect("valid output");
        let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
        assert_matches_reference(&mut pipeline, input, params(zoom, mirror), w + h, false);
        // The same through the RGB stage.
        assert_matches_reference(&mut pipeline, input, params(zoom, mirror), w + h, true);
    }
}

#[test]
fn identity_geometry_returns_the_input() {
    let Some(gpu) = gpu() else { return };
    let size = OutputSize::new(48, 32).expect("valid output");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let frame = textured_frame(48, 32, 7);
    for (on_cpu, route) in [(false, Route::Shader), (true, Route::CpuPlain)] {
        pipeline.set_placement(placement(false, on_cpu));
        let out = pipeline
            .process(&frame, &params(1.0, false))
            .expect("GPU processing");
        assert_eq!(pipeline.last_route(), Some(route));
        for y in 0..32 {
            assert_eq!(out.row(Plane::Y, y), frame.row(Plane::Y, y), "luma row {y}");
        }
        let (worst, ..) = max_difference(&out, &frame);
        assert!(
            worst <= 1,
            "chroma moved by {worst} (plain on the CPU: {on_cpu})"
        );
    }
}

#[test]
fn mirror_flips_left_and_right() {
    let Some(gpu) = gpu() else { return };
    let size = OutputSize::new(32, 16).expect("valid output");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let frame = textured_frame(32, 16, 3);
    for (on_cpu, route) in [(false, Route::Shader), (true, Route::CpuPlain)] {
        pipeline.set_placement(placement(false, on_cpu));
        let plain = pipeline
            .process(&frame, &params(1.0, false))
            .expect("plain");
        let mirrored = pipeline
            .process(&frame, &params(1.0, true))
            .expect("mirrored");
        assert_eq!(pipeline.last_route(), Some(route));
        for y in 0..16 {
            let reversed: Vec<u8> = plain.row(Plane::Y, y).iter().rev().copied().collect();
            assert_eq!(
                mirrored.row(Plane::Y, y),
                &reversed[..],
                "row {y} (CPU: {on_cpu})"
            );
        }
    }
}

#[test]
fn one_pipeline_follows_new_sizes_and_parameters() {
    let Some(gpu) = gpu() else { return };
    let mut pipeline =
        FramePipeline::new(&gpu, OutputSize::new(36, 64).expect("size")).expect("pipeline");
    // Input size changes, parameters change, back again.
    assert_matches_reference(&mut pipeline, (64, 36), params(1.0, false), 1, false);
    assert_matches_reference(&mut pipeline, (33, 61), params(1.25, true), 2, false);
    assert_matches_reference(&mut pipeline, (64, 36), params(1.0, true), 3, false);
    // Output size changes.
    pipeline
        .set_output_size(OutputSize::new(20, 12).expect("size"))
        .expect("resize");
    assert_matches_reference(&mut pipeline, (64, 36), params(3.0, false), 4, false);
}

#[test]
fn timestamps_pass_through() {
    let Some(gpu) = gpu() else { return };
    let mut pipeline =
        FramePipeline::new(&gpu, OutputSize::new(16, 16).expect("size")).expect("pipeline");
    let mut frame = textured_frame(16, 16, 9);
    frame.timestamp = std::time::Duration::from_millis(1234);
    let out = pipeline.process(&frame, &params(1.0, false)).expect("GPU");
    assert_eq!(out.timestamp, frame.timestamp);
}

#[test]
fn two_frames_in_flight_come_back_in_order_and_equal_to_one_at_a_time() {
    let Some(gpu) = gpu() else { return };
    let size = OutputSize::new(24, 40).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    // The shader's readbacks are what overlap.
    pipeline.set_placement(Placement::SHADERS);
    assert_eq!(pipeline.last_route(), None, "no frame yet");
    let frames: Vec<_> = (0..3u32)
        .map(|seed| {
            let mut frame = textured_frame(64, 36, 20 + seed);
            frame.timestamp = std::time::Duration::from_millis(u64::from(seed) * 40);
            frame
        })
        .collect();
    let one_at_a_time: Vec<_> = frames
        .iter()
        .map(|frame| pipeline.process(frame, &params(1.0, true)).expect("GPU"))
        .collect();
    pipeline
        .submit(&frames[0], &params(1.0, true))
        .expect("first");
    pipeline
        .submit(&frames[1], &params(1.0, true))
        .expect("second");
    assert_eq!(pipeline.in_flight(), 2);
    // A third waits for a collect; a plain process waits for both.
    assert!(pipeline.submit(&frames[2], &params(1.0, true)).is_err());
    assert!(pipeline.process(&frames[2], &params(1.0, true)).is_err());
    assert!(pipeline.set_output_size(size).is_err());
    let first = pipeline.collect().expect("collect").expect("a frame");
    pipeline
        .submit(&frames[2], &params(1.0, true))
        .expect("third");
    let second = pipeline.collect().expect("collect").expect("a frame");
    let third = pipeline.collect().expect("collect").expect("a frame");
    assert!(pipeline.collect().expect("collect").is_none());
    assert_eq!(pipeline.last_route(), Some(Route::Shader));
    for (got, want) in [first, second, third].iter().zip(&one_at_a_time) {
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(max_difference(got, want).0, 0);
    }
}
