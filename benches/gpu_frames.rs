//! Frames on the GPU (issue 20): the texture-in/texture-out effect chain
//! at 1080p. A 1920×1080 RGBA texture holding a close-up of the test
//! portrait (the face about half the frame high), all four original
//! effects at full strength on its face, drawn into a 1920×1080 RGBA
//! texture: `texture_chain` waits for the GPU after each frame, transfers
//! excluded; `with_upload_readback` also writes the frame's pixels into the
//! input texture from the CPU and reads the output texture back. Texture
//! frames take the shader route on any adapter (lavapipe too).
//! Needs `assets/photos/astronaut.png` (scripts/setup.sh); skipped without it.
//! Prints the adapter it ran on.
//!
//! `cargo bench --bench gpu_frames`

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::effects::EffectParams;
use liveroom::frame_formats::{ChannelOrder, RgbaFrame};
use liveroom::geometry::OutputSize;
use liveroom::landmarks::FaceLandmarks;
use liveroom::pipeline::texture_transfer::{blank_texture, read_texture, texture_with_pixels};
use liveroom::pipeline::{TextureFrame, TextureTarget};
use liveroom::{FrameParams, FramePipeline, GpuContext};

fn texture_chain_1080p(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    let Ok(photo) = image::open(&path) else {
        eprintln!(
            "gpu_frames bench skipped: {} missing (run scripts/setup.sh)",
            path.display()
        );
        return;
    };
    let gpu = match GpuContext::from_env() {
        Ok(gpu) => gpu,
        Err(error) => {
            eprintln!("gpu_frames bench skipped: {error}");
            return;
        }
    };
    eprintln!("adapter: {}", gpu.adapter_summary());
    let (width, height) = (1920, 1080);
    // The portrait at 2160×2160, a 1920×1080 window 225 pixels down.
    let canvas = common::close_up(&photo.to_rgb8(), 2160, (width, height), (0, 225));
    let (k, dy) = (2160.0 / 512.0, -225.0);
    let face = FaceLandmarks {
        bbox: [183.0 * k, dy + 85.0 * k, 81.0 * k, 93.0 * k],
        left_eye: [204.0 * k, dy + 101.0 * k],
        right_eye: [246.0 * k, dy + 102.5 * k],
        contour: Vec::new(),
    };
    let params = FrameParams {
        effects: EffectParams::new(1.0, 1.0, 1.0, 1.0).expect("strengths"),
        faces: vec![face],
        ..Default::default()
    };
    let pixels =
        RgbaFrame::from_rgb_image(&canvas, ChannelOrder::Rgba, Duration::ZERO).expect("frame");
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let input = texture_with_pixels(
        &gpu,
        format,
        (width, height),
        wgpu::TextureUsages::TEXTURE_BINDING,
        pixels.data(),
        pixels.stride(),
    )
    .expect("input texture");
    let output = blank_texture(
        &gpu,
        format,
        (width, height),
        wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
    )
    .expect("output texture");
    let size = OutputSize::new(width, height).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let frame = TextureFrame::Rgb {
        texture: &input,
        timestamp: Duration::ZERO,
    };
    let target = TextureTarget::Rgb(&output);
    let wait = || {
        gpu.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("GPU finishes");
    };

    let mut group = c.benchmark_group("gpu_frames");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function("1920x1080_rgba_texture_chain_all_four", |b| {
        b.iter(|| {
            pipeline
                .render_texture(&frame, &params, &target)
                .expect("render");
            wait();
        })
    });
    group.bench_function("1920x1080_rgba_with_upload_readback_all_four", |b| {
        b.iter(|| {
            gpu.queue().write_texture(
                input.as_image_copy(),
                pixels.data(),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(pixels.stride() as u32),
                    rows_per_image: None,
                },
                input.size(),
            );
            pipeline
                .render_texture(&frame, &params, &target)
                .expect("render");
            read_texture(&gpu, &output).expect("readback")
        })
    });
    group.finish();
}

criterion_group!(benches, texture_chain_1080p);
criterion_main!(benches);
