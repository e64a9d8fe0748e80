//! Frames on the GPU, as an app that renders with wgpu uses them: the app
//! opens its own wgpu device, shares it with liveroom
//! (`GpuContext::from_wgpu`), holds its picture in a texture, and has the
//! beauty effects drawn from that texture into an RGBA texture it could
//! present, frame after frame, with no copy through the CPU. The last
//! output is read back once and written to a PNG; the frame rate is
//! printed.
//!
//! Faces come from the built-in landmarker (models placed by
//! `scripts/setup.sh`); without its models the effects that need no face
//! still run.
//!
//! ```text
//! cargo run --release --example gpu_frames -- [INPUT.png] [OUTPUT.png] [FRAMES]
//! ```
//! (defaults: `assets/photos/astronaut.png`, `gpu_frames.png`, 120).

use std::error::Error;
use std::time::{Duration, Instant};

use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame_formats::{ChannelOrder, RgbaFrame};
use liveroom::geometry::OutputSize;
use liveroom::pipeline::texture_transfer::{blank_texture, read_texture, texture_with_pixels};
use liveroom::pipeline::{TextureFrame, TextureTarget};
use liveroom::{FrameParams, FramePipeline, GpuContext};

/// The app's own device and queue, as a wgpu app makes them.
fn app_device() -> Result<GpuContext, Box<dyn Error>> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("app"),
        required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
        ..Default::default()
    }))?;
    // Shared, not copied: liveroom renders on the app's device and queue.
    Ok(GpuContext::from_wgpu(device, queue, adapter.get_info()))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .unwrap_or_else(|| "assets/photos/astronaut.png".into());
    let output = args.next().unwrap_or_else(|| "gpu_frames.png".into());
    let frames: u32 = match args.next() {
        Some(n) => n.parse()?,
        None => 120,
    };
    let gpu = app_device()?;

    // The app's picture in a texture (4:2:0 output: even sides).
    let picture = image::open(&input)?.to_rgb8();
    let (width, height) = (picture.width() & !1, picture.height() & !1);
    let picture = image::imageops::crop_imm(&picture, 0, 0, width, height).to_image();
    let pixels = RgbaFrame::from_rgb_image(&picture, ChannelOrder::Rgba, Duration::ZERO)?;
    let source = texture_with_pixels(
        &gpu,
        wgpu::TextureFormat::Rgba8Unorm,
        (width, height),
        wgpu::TextureUsages::TEXTURE_BINDING,
        pixels.data(),
        pixels.stride(),
    )?;
    // Where the effects go: what the app would present or sample.
    let shown = blank_texture(
        &gpu,
        wgpu::TextureFormat::Rgba8Unorm,
        (width, height),
        wgpu::TextureUsages::RENDER_ATTACHMENT
            | wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::COPY_SRC,
    )?;

    let faces = match BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::default()) {
        Ok(mut landmarker) => landmarker.landmarks(&rgb_image_to_i420(&picture)?)?,
        Err(error) => {
            eprintln!("no landmarker ({error}): no face effects");
            Vec::new()
        }
    };
    println!("{} face(s) found", faces.len());

    let mut pipeline = FramePipeline::new(&gpu, OutputSize::new(width, height)?)?;
    let params = FrameParams {
        // Whiteness, smoothness, thinness, eye bigness, each 0..1.
        effects: EffectParams::new(0.6, 0.7, 0.5, 0.5)?,
        faces,
        ..Default::default()
    };
    let target = TextureTarget::Rgb(&shown);
    let started = Instant::now();
    for index in 0..frames {
        let frame = TextureFrame::Rgb {
            texture: &source,
            timestamp: Duration::from_millis(u64::from(index) * 33),
        };
        pipeline.render_texture(&frame, &params, &target)?;
    }
    // Wait for the GPU to finish the last frame before stopping the clock.
    gpu.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| format!("waiting for the GPU: {e}"))?;
    let elapsed = started.elapsed();

    let rgba = read_texture(&gpu, &shown)?;
    let image = image::RgbaImage::from_raw(width, height, rgba).ok_or("short readback")?;
    image.save(&output)?;
    println!(
        "{frames} frames of {width}x{height} texture -> texture in {:.2} s: {:.1} frames/s on {}; \
         wrote {output}",
        elapsed.as_secs_f64(),
        f64::from(frames) / elapsed.as_secs_f64(),
        gpu.adapter_summary()
    );
    Ok(())
}
