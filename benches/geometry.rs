//! Geometry + conversion path: 1280×720 and 1920×1080 I420 in → 720×1280
//! I420 out (FHD, 9:16, mirrored), upload and readback included: as the
//! pipeline runs without effects (on a software adapter that is the CPU's
//! plain path), through the geometry shader, and with every pixel through
//! the RGB stage. Prints the adapter it ran on.
//!
//! `cargo bench --bench geometry`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
use liveroom::pipeline::Placement;
use liveroom::source::{FrameRate, FrameSource, TestSource};
use liveroom::{FrameParams, FramePipeline, GpuContext};

fn geometry_720p_to_vertical_fhd(c: &mut Criterion) {
    let gpu = match GpuContext::from_env() {
        Ok(gpu) => gpu,
        Err(error) => {
            eprintln!("geometry bench skipped: {error}");
            return;
        }
    };
    eprintln!("adapter: {}", gpu.adapter_summary());
    let size = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let params = FrameParams {
        geometry: GeometryParams::new(1.0, true).expect("geometry"),
        ..Default::default()
    };
    let mut group = c.benchmark_group("geometry");
    group.throughput(Throughput::Elements(1));
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let mut source =
            TestSource::new(width, height, FrameRate { num: 30, den: 1 }).expect("test source");
        let frame = source.next_frame().expect("frame").expect("endless source");
        let id = |variant: &str| format!("{width}x{height}_to_720x1280_mirror{variant}");
        // The default: on a software adapter, the plain geometry on the CPU.
        pipeline.set_placement(Placement::for_adapter(&gpu));
        group.bench_function(id(""), |b| {
            b.iter(|| pipeline.process(&frame, &params).expect("process"))
        });
        pipeline.set_placement(Placement::SHADERS);
        group.bench_function(id("_shader"), |b| {
            b.iter(|| pipeline.process(&frame, &params).expect("process"))
        });
        pipeline.set_placement(Placement {
            always_convert: true,
            ..Placement::SHADERS
        });
        group.bench_function(id("_rgb_stage"), |b| {
            b.iter(|| pipeline.process(&frame, &params).expect("process"))
        });
    }
    group.finish();
}

criterion_group!(benches, geometry_720p_to_vertical_fhd);
criterion_main!(benches);
