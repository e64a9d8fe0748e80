//! Frames on the GPU: the astronaut portrait (`assets/photos/`, placed by
//! `scripts/setup.sh`) uploaded into textures (RGBA8, BGRA8 sRGB, NV12 as
//! R8 + RG8), processed with all four effects at full strength on its face
//! and drawn into textures (RGBA8, BGRA8 sRGB, I420 as three R8, NV12 as
//! R8 + RG8) with no readback inside the pipeline; the test reads the
//! output textures back and compares them with the CPU-frame path (the
//! same pixels as a CPU frame, every pass in the shaders as texture frames
//! take) within one level, and the RGB outputs with that path's I420
//! converted by `src/color.rs`. Also: wrong formats, sizes and usages are
//! refused with the reason.

mod common;

use std::time::Duration;

use common::{portrait_face, portrait_rgb};
use liveroom::color::{i420_to_rgb_image, rgb_image_to_i420};
use liveroom::effects::EffectParams;
use liveroom::frame::{I420Frame, Plane};
use liveroom::frame_formats::{ChannelOrder, InputFrame, Nv12Frame, RgbaFrame};
use liveroom::geometry::{GeometryParams, OutputSize};
use liveroom::pipeline::texture_transfer::{blank_texture, read_texture, texture_with_pixels};
use liveroom::pipeline::{Placement, Route, TextureError, TextureFrame, TextureTarget};
use liveroom::{FrameParams, FramePipeline, GpuContext, PipelineError};
use wgpu::{TextureFormat as F, TextureUsages as U};

fn params() -> FrameParams {
    FrameParams {
        geometry: GeometryParams::new(1.0, true).expect("geometry"),
        effects: EffectParams::new(1.0, 1.0, 1.0, 1.0).expect("strengths"),
        faces: vec![portrait_face()],
        ..Default::default()
    }
}

/// Largest difference between two byte planes of one size.
fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len(), "planes of one size");
    a.iter()
        .zip(b)
        .map(|(p, q)| p.abs_diff(*q))
        .max()
        .unwrap_or(0)
}

/// A plane of `frame`, rows packed tightly.
fn packed_plane(frame: &I420Frame, plane: Plane) -> Vec<u8> {
    let (_, rows) = frame.plane_size(plane);
    (0..rows)
        .flat_map(|y| frame.row(plane, y).to_vec())
        .collect()
}

/// RGB bytes of `frame` as `src/color.rs` converts it, in `order`, with alpha 255.
fn reference_rgba(frame: &I420Frame, order: ChannelOrder) -> Vec<u8> {
    RgbaFrame::from_rgb_image(&i420_to_rgb_image(frame), order, Duration::ZERO)
        .expect("RGBA frame")
        .data()
        .to_vec()
}

fn rgb_texture(gpu: &GpuContext, photo: &image::RgbImage, format: F) -> wgpu::Texture {
    let order = match format {
        F::Bgra8Unorm | F::Bgra8UnormSrgb => ChannelOrder::Bgra,
        _ => ChannelOrder::Rgba,
    };
    let frame = RgbaFrame::from_rgb_image(photo, order, Duration::ZERO).expect("frame");
    texture_with_pixels(
        gpu,
        format,
        photo.dimensions(),
        U::TEXTURE_BINDING,
        frame.data(),
        frame.stride(),
    )
    .expect("input texture")
}

fn target(gpu: &GpuContext, format: F, size: (u32, u32)) -> wgpu::Texture {
    blank_texture(gpu, format, size, U::RENDER_ATTACHMENT | U::COPY_SRC).expect("target texture")
}

#[test]
fn texture_frames_in_and_out_equal_the_cpu_frame_path() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let photo = portrait_rgb();
    let (width, height) = photo.dimensions();
    let size = OutputSize::new(width, height).expect("size");
    let (half_w, half_h) = (width / 2, height / 2);
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let params = params();

    // The CPU-frame path, every pass in the shaders (as texture frames).
    pipeline.set_placement(Placement::SHADERS);
    let rgba_frame =
        RgbaFrame::from_rgb_image(&photo, ChannelOrder::Rgba, Duration::ZERO).expect("rgba frame");
    let expected = pipeline
        .process_frame(&InputFrame::Rgba(rgba_frame), &params)
        .expect("CPU frame path");
    let i420 = rgb_image_to_i420(&photo).expect("photo converts");
    let expected_nv12_input = pipeline.process(&i420, &params).expect("I420 path");
    // The effects changed the picture (else the comparison says little).
    let untouched = pipeline
        .process(&i420, &FrameParams::default())
        .expect("no effects");
    let [changed, ..] = [packed_plane(&expected, Plane::Y)];
    assert!(
        max_diff(&changed, &packed_plane(&untouched, Plane::Y)) > 10,
        "the effects should change the portrait"
    );
    // The adapter's default placement, for the record (other routes may
    // round differently).
    pipeline.set_placement(Placement::for_adapter(&gpu));
    let default_route = pipeline.process(&i420, &params).expect("default placement");
    let default_diff = Plane::ALL.map(|plane| {
        max_diff(
            &packed_plane(&default_route, plane),
            &packed_plane(&expected_nv12_input, plane),
        )
    });
    println!(
        "I420 path with the default placement ({:?}) vs the shaders: max |diff| Y {} U {} V {}",
        pipeline.last_route(),
        default_diff[0],
        default_diff[1],
        default_diff[2]
    );

    let rgba_in = rgb_texture(&gpu, &photo, F::Rgba8Unorm);
    let input = TextureFrame::Rgb {
        texture: &rgba_in,
        timestamp: Duration::from_millis(33),
    };

    // RGBA texture in, I420 planes out.
    let (y, u, v) = (
        target(&gpu, F::R8Unorm, (width, height)),
        target(&gpu, F::R8Unorm, (half_w, half_h)),
        target(&gpu, F::R8Unorm, (half_w, half_h)),
    );
    pipeline
        .render_texture(
            &input,
            &params,
            &TextureTarget::I420 {
                y: &y,
                u: &u,
                v: &v,
            },
        )
        .expect("render to I420 planes");
    assert_eq!(pipeline.last_route(), Some(Route::Shader));
    let diffs = [(Plane::Y, &y), (Plane::U, &u), (Plane::V, &v)].map(|(plane, texture)| {
        let back = read_texture(&gpu, texture).expect("read back");
        max_diff(&back, &packed_plane(&expected, plane))
    });
    println!(
        "RGBA8 texture -> I420 textures vs CPU RGBA frame: max |diff| Y {} U {} V {}",
        diffs[0], diffs[1], diffs[2]
    );
    assert!(diffs.iter().all(|d| *d <= 1), "I420 planes: {diffs:?}");

    // RGBA texture in, NV12 out.
    let (luma, chroma) = (
        target(&gpu, F::R8Unorm, (width, height)),
        target(&gpu, F::Rg8Unorm, (half_w, half_h)),
    );
    pipeline
        .render_texture(
            &input,
            &params,
            &TextureTarget::Nv12 {
                luma: &luma,
                chroma: &chroma,
            },
        )
        .expect("render to NV12");
    let expected_nv12 = Nv12Frame::from_i420(&expected).expect("nv12");
    let luma_diff = max_diff(
        &read_texture(&gpu, &luma).expect("luma"),
        expected_nv12.luma(),
    );
    let chroma_diff = max_diff(
        &read_texture(&gpu, &chroma).expect("chroma"),
        expected_nv12.chroma(),
    );
    println!("RGBA8 texture -> NV12 textures: max |diff| Y {luma_diff} UV {chroma_diff}");
    assert!(luma_diff <= 1 && chroma_diff <= 1);

    // RGBA texture in, RGBA out, against the CPU path's I420 through src/color.rs.
    let rgba_out = target(&gpu, F::Rgba8Unorm, (width, height));
    pipeline
        .render_texture(&input, &params, &TextureTarget::Rgb(&rgba_out))
        .expect("render to RGBA");
    let rgb_diff = max_diff(
        &read_texture(&gpu, &rgba_out).expect("rgba"),
        &reference_rgba(&expected, ChannelOrder::Rgba),
    );
    println!(
        "RGBA8 texture -> RGBA8 texture vs CPU I420 -> src/color.rs RGB: max |diff| {rgb_diff}"
    );
    assert!(rgb_diff <= 1, "RGBA output: {rgb_diff}");

    // The texture in, the I420 frame read back by the pipeline.
    let read_back = pipeline
        .process_texture(&input, &params)
        .expect("texture to I420");
    assert_eq!(read_back.timestamp, Duration::from_millis(33));
    let (d, plane, at_x, at_y) = common::max_difference(&read_back, &expected);
    println!("RGBA8 texture -> I420 frame: max |diff| {d} ({plane:?} at {at_x},{at_y})");
    assert!(d <= 1);

    // BGRA sRGB texture in and out: the same bytes as the Unorm formats.
    let bgra_in = rgb_texture(&gpu, &photo, F::Bgra8UnormSrgb);
    let bgra_out = target(&gpu, F::Bgra8UnormSrgb, (width, height));
    pipeline
        .render_texture(
            &TextureFrame::Rgb {
                texture: &bgra_in,
                timestamp: Duration::ZERO,
            },
            &params,
            &TextureTarget::Rgb(&bgra_out),
        )
        .expect("render sRGB");
    let srgb_diff = max_diff(
        &read_texture(&gpu, &bgra_out).expect("bgra"),
        &reference_rgba(&expected, ChannelOrder::Bgra),
    );
    println!("BGRA8 sRGB texture -> BGRA8 sRGB texture: max |diff| {srgb_diff}");
    assert!(srgb_diff <= 1, "sRGB round trip: {srgb_diff}");

    // NV12 textures in (the photo's I420 samples), RGBA out.
    let nv12 = Nv12Frame::from_i420(&i420).expect("nv12");
    let nv12_luma = texture_with_pixels(
        &gpu,
        F::R8Unorm,
        (width, height),
        U::COPY_SRC,
        nv12.luma(),
        nv12.luma_stride(),
    )
    .expect("luma texture");
    let nv12_chroma = texture_with_pixels(
        &gpu,
        F::Rg8Unorm,
        (half_w, half_h),
        U::COPY_SRC,
        nv12.chroma(),
        nv12.chroma_stride(),
    )
    .expect("chroma texture");
    pipeline
        .render_texture(
            &TextureFrame::Nv12 {
                luma: &nv12_luma,
                chroma: &nv12_chroma,
                timestamp: Duration::ZERO,
            },
            &params,
            &TextureTarget::Rgb(&rgba_out),
        )
        .expect("NV12 textures to RGBA");
    let nv12_diff = max_diff(
        &read_texture(&gpu, &rgba_out).expect("rgba"),
        &reference_rgba(&expected_nv12_input, ChannelOrder::Rgba),
    );
    println!(
        "NV12 textures -> RGBA8 texture vs I420 path -> src/color.rs RGB: max |diff| {nv12_diff}"
    );
    assert!(nv12_diff <= 1, "NV12 in: {nv12_diff}");

    // A CPU NV12 frame drawn into I420 textures (a preview of pushed frames).
    pipeline
        .render_frame(
            &InputFrame::Nv12(nv12),
            &params,
            &TextureTarget::I420 {
                y: &y,
                u: &u,
                v: &v,
            },
        )
        .expect("CPU NV12 frame to I420 textures");
    let cpu_diffs = [(Plane::Y, &y), (Plane::U, &u), (Plane::V, &v)].map(|(plane, texture)| {
        let back = read_texture(&gpu, texture).expect("read back");
        max_diff(&back, &packed_plane(&expected_nv12_input, plane))
    });
    println!(
        "CPU NV12 frame -> I420 textures vs I420 path: max |diff| Y {} U {} V {}",
        cpu_diffs[0], cpu_diffs[1], cpu_diffs[2]
    );
    assert!(
        cpu_diffs.iter().all(|d| *d <= 1),
        "NV12 frame: {cpu_diffs:?}"
    );
}

#[test]
fn wrong_textures_are_refused_with_the_reason() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut pipeline =
        FramePipeline::new(&gpu, OutputSize::new(64, 32).expect("size")).expect("pipeline");
    let params = FrameParams::default();
    let good_in = blank_texture(&gpu, F::Rgba8Unorm, (32, 16), U::TEXTURE_BINDING).expect("tex");
    let good_out = target(&gpu, F::Rgba8Unorm, (64, 32));
    let input = |texture| TextureFrame::Rgb {
        texture,
        timestamp: Duration::ZERO,
    };
    let refused = |result: Result<(), PipelineError>| match result {
        Err(PipelineError::Texture(error)) => {
            println!("refused: {error}");
            error
        }
        other => panic!("expected a texture error, got {other:?}"),
    };

    let float = blank_texture(&gpu, F::Rgba16Float, (32, 16), U::TEXTURE_BINDING).expect("tex");
    assert!(matches!(
        refused(pipeline.render_texture(&input(&float), &params, &TextureTarget::Rgb(&good_out))),
        TextureError::Format {
            role: "input",
            got: F::Rgba16Float,
            ..
        }
    ));
    let no_binding = blank_texture(&gpu, F::Rgba8Unorm, (32, 16), U::COPY_DST).expect("tex");
    assert_eq!(
        refused(pipeline.render_texture(
            &input(&no_binding),
            &params,
            &TextureTarget::Rgb(&good_out)
        )),
        TextureError::Usage {
            role: "input",
            missing: U::TEXTURE_BINDING
        }
    );
    let odd = blank_texture(&gpu, F::Rgba8Unorm, (31, 16), U::TEXTURE_BINDING).expect("tex");
    assert!(matches!(
        refused(pipeline.render_texture(&input(&odd), &params, &TextureTarget::Rgb(&good_out))),
        TextureError::InputSize { got: (31, 16), .. }
    ));
    let small_out = target(&gpu, F::Rgba8Unorm, (32, 32));
    assert_eq!(
        refused(pipeline.render_texture(
            &input(&good_in),
            &params,
            &TextureTarget::Rgb(&small_out)
        )),
        TextureError::Size {
            role: "output",
            got: (32, 32),
            expected: (64, 32)
        }
    );
    let sampled_only =
        blank_texture(&gpu, F::Rgba8Unorm, (64, 32), U::TEXTURE_BINDING).expect("tex");
    assert!(matches!(
        refused(pipeline.render_texture(
            &input(&good_in),
            &params,
            &TextureTarget::Rgb(&sampled_only)
        )),
        TextureError::Usage { role: "output", .. }
    ));
    let luma = blank_texture(&gpu, F::R8Unorm, (32, 16), U::COPY_SRC).expect("tex");
    let wrong_chroma = blank_texture(&gpu, F::Rg8Unorm, (16, 16), U::COPY_SRC).expect("tex");
    let nv12 = TextureFrame::Nv12 {
        luma: &luma,
        chroma: &wrong_chroma,
        timestamp: Duration::ZERO,
    };
    assert!(matches!(
        refused(pipeline.render_texture(&nv12, &params, &TextureTarget::Rgb(&good_out))),
        TextureError::Size {
            role: "chroma",
            expected: (16, 8),
            ..
        }
    ));
    // A good pair works after the refusals.
    pipeline
        .render_texture(&input(&good_in), &params, &TextureTarget::Rgb(&good_out))
        .expect("good textures");
}
