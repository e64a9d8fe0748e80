//! Helpers shared by the integration tests.
#![allow(dead_code)]

use liveroom::frame::{I420Frame, Plane};
use liveroom::GpuContext;

/// The GPU context for GPU tests. Without an adapter the test is skipped,
/// unless `REQUIRE_GPU=1` (CI), where a missing driver fails the test.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::from_env() {
        Ok(gpu) => {
            eprintln!("GPU tests run on: {}", gpu.adapter_summary());
            Some(gpu)
        }
        Err(error) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 but no GPU context: {error}")
        }
        Err(error) => {
            eprintln!("skipping GPU test: {error}");
            None
        }
    }
}

/// A deterministic picture with texture, edges and colour, for comparisons.
pub fn textured_frame(width: u32, height: u32, seed: u32) -> I420Frame {
    let mut frame = I420Frame::black(width, height).expect("valid test size");
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 41) as i32 - 20
    };
    for plane in Plane::ALL {
        let (w, h) = frame.plane_size(plane);
        for y in 0..h {
            for x in 0..w {
                let base = match plane {
                    Plane::Y => {
                        60 + (x * 140 / w.max(1)) as i32
                            + if (x / 3 + y / 5) % 2 == 0 { 25 } else { -25 }
                    }
                    Plane::U => 80 + (y * 90 / h.max(1)) as i32,
                    Plane::V => 170 - (x * 70 / w.max(1)) as i32,
                };
                frame.row_mut(plane, y)[x as usize] = (base + noise()).clamp(0, 255) as u8;
            }
        }
    }
    frame
}

/// Largest absolute difference between two frames, plane by plane, and where.
pub fn max_difference(a: &I420Frame, b: &I420Frame) -> (u8, Plane, u32, u32) {
    assert_eq!(
        (a.width(), a.height()),
        (b.width(), b.height()),
        "sizes differ"
    );
    let mut worst = (0u8, Plane::Y, 0, 0);
    for plane in Plane::ALL {
        let (w, h) = a.plane_size(plane);
        for y in 0..h {
            for x in 0..w {
                let d = a.sample(plane, x, y).abs_diff(b.sample(plane, x, y));
                if d > worst.0 {
                    worst = (d, plane, x, y);
                }
            }
        }
    }
    worst
}

/// Luma PSNR in dB between two frames of the same size.
pub fn luma_psnr(a: &I420Frame, b: &I420Frame) -> f64 {
    let mut sum = 0.0f64;
    for y in 0..a.height() {
        for (p, q) in a.row(Plane::Y, y).iter().zip(b.row(Plane::Y, y)) {
            let d = *p as f64 - *q as f64;
            sum += d * d;
        }
    }
    let mse = sum / (a.width() * a.height()) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}
