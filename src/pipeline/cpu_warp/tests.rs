//! The unit tests of the CPU warps: against the reference pipeline, and the
//! AVX2 code against its scalar twin (the same bytes, bit for bit), as
//! rav1e's `check_asm` does.

use super::*;
use crate::effects::EffectParams;
use crate::geometry::{GeometryParams, OutputSize};
use crate::landmarks::FaceLandmarks;
use crate::pipeline::gpu_blocks::effect_tiles;
use crate::pipeline::plain::PlainScaler;
use crate::pipeline::{reference, FrameParams};

/// A 1280×720 frame with detail at every scale: gradients and a
/// pattern that changes from pixel to pixel, in all three planes.
fn textured(width: u32, height: u32) -> I420Frame {
    let mut frame = I420Frame::black(width, height).expect("frame");
    for y in 0..height {
        for (x, v) in frame.row_mut(Plane::Y, y).iter_mut().enumerate() {
            let x = x as u32;
            *v = (40 + x * 150 / width + (x * 37 + y * 91) % 41) as u8;
        }
    }
    for (plane, base) in [(Plane::U, 90), (Plane::V, 140)] {
        for y in 0..height / 2 {
            for (x, v) in frame.row_mut(plane, y).iter_mut().enumerate() {
                *v = (base + (x as u32 * 13 + y * 7) % 29) as u8;
            }
        }
    }
    frame
}

/// The warps of `faces` through a mirrored vertical crop of a 1280×720
/// input into `output`, on the CPU (with `simd`, or scalar code) over
/// the plain frame, against the reference pipeline: (worst difference,
/// share of samples off by more than one level). Checks first that the
/// warps move something the plain frame does not show.
fn against_reference(
    output: OutputSize,
    faces: Vec<FaceLandmarks>,
    zoom: f32,
    simd: Simd,
) -> (u8, f64) {
    let input = textured(1280, 720);
    let params = FrameParams {
        geometry: GeometryParams::new(zoom, true).expect("geometry"),
        effects: EffectParams::new(0.0, 0.0, 1.0, 1.0).expect("strengths"),
        faces,
        ..Default::default()
    };
    let plan = GeometryPlan::new(1280, 720, output, params.geometry).expect("plan");
    let layout = OutputLayout::new(output);
    let effects = params.effect_plan(&plan);
    let field = effects
        .face_field(output.width(), output.height())
        .expect("a face field");
    let region = BlockRegion::covering(effects.warp_bounds(), &layout).expect("a region");
    let tiles = effect_tiles(&field, region, false);
    assert!(!tiles.is_empty(), "the warps move something");
    let plain = PlainScaler::new(&plan, &layout)
        .expect("a plain scaler")
        .render(&input)
        .expect("plain frame");
    let mut ours = plain.clone();
    let mut warp = CpuWarp::new(&plan, &effects, &layout).expect("one tap");
    // Only ever from the detected instructions down to scalar code.
    if simd == Simd::Scalar {
        warp.simd = simd;
    }
    warp.render(&input, &field, &tiles, &mut ours);
    let expected = reference::process(&input, output, &params).expect("reference");
    let moved = (0..output.height())
        .flat_map(|y| plain.row(Plane::Y, y).iter().zip(expected.row(Plane::Y, y)))
        .filter(|(a, b)| a.abs_diff(**b) > 8)
        .count();
    assert!(moved > 1000, "the warps moved only {moved} pixels");
    let (mut worst, mut off, mut total) = (0u8, 0usize, 0usize);
    for plane in [Plane::Y, Plane::U, Plane::V] {
        let rows = if plane == Plane::Y {
            output.height()
        } else {
            output.height() / 2
        };
        for y in 0..rows {
            let a = ours.row(plane, y);
            let b = expected.row(plane, y);
            for (a, b) in a.iter().zip(b) {
                let d = a.abs_diff(*b);
                worst = worst.max(d);
                off += usize::from(d > 1);
                total += 1;
            }
        }
    }
    (worst, off as f64 / total as f64)
}

fn face(x: f32, y: f32, size: f32) -> FaceLandmarks {
    FaceLandmarks {
        bbox: [x, y, size, size],
        left_eye: [x + 0.3 * size, y + 0.38 * size],
        right_eye: [x + 0.7 * size, y + 0.38 * size],
        contour: Vec::new(),
    }
}

#[test]
fn warps_match_the_reference_within_a_level() {
    let output = OutputSize::new(720, 1280).expect("size");
    // A close-up, a small face, and one over the crop's edge.
    for faces in [
        vec![face(520.0, 150.0, 260.0)],
        vec![face(600.0, 300.0, 80.0)],
        vec![face(400.0, 200.0, 200.0)],
    ] {
        for simd in [Simd::best(), Simd::Scalar] {
            let (worst, off) = against_reference(output, faces.clone(), 1.0, simd);
            assert!(
                worst <= 2 && off < 0.001,
                "{faces:?} ({simd:?}): worst {worst}, {off} off by >1"
            );
        }
    }
}

#[test]
fn odd_sizes_and_zoom_stay_in_bounds_and_match() {
    // A width that is not a multiple of 8 (padding columns), zoomed in.
    let output = OutputSize::new(362, 642).expect("size");
    for simd in [Simd::best(), Simd::Scalar] {
        let faces = vec![face(560.0, 200.0, 200.0)];
        let (worst, off) = against_reference(output, faces, 1.5, simd);
        assert!(
            worst <= 2 && off < 0.001,
            "{simd:?}: worst {worst}, {off} off by >1"
        );
    }
}

#[test]
fn a_span_off_the_cells_traces_as_one_on_them() {
    let output = OutputSize::new(720, 1280).expect("size");
    let params = FrameParams {
        geometry: GeometryParams::new(1.0, true).expect("geometry"),
        effects: EffectParams::new(0.0, 0.0, 1.0, 1.0).expect("strengths"),
        faces: vec![face(520.0, 150.0, 260.0)],
        ..Default::default()
    };
    let plan = GeometryPlan::new(1280, 720, output, params.geometry).expect("plan");
    let layout = OutputLayout::new(output);
    let effects = params.effect_plan(&plan);
    let field = effects.face_field(720, 1280).expect("a face field");
    let warp = CpuWarp::new(&plan, &effects, &layout).expect("one tap");
    // A row through the face, where the offsets are not zero.
    let y = 500;
    let mut line = FieldLine::default();
    line.load(&field, y + 1, y as f32 + 0.5, [0, 720]);
    let (mut aligned, mut off) = (Trace::default(), Trace::default());
    warp.trace_pixels(&line, y, 200..400, &mut aligned);
    warp.trace_pixels(&line, y, 203..400, &mut off);
    assert!(
        aligned.dx.iter().any(|&dx| dx.abs() > 0.5),
        "the row is warped"
    );
    for (k, (x, y)) in off.xs.iter().zip(&off.ys).enumerate() {
        let (ax, ay) = (aligned.xs[k + 3], aligned.ys[k + 3]);
        assert!(
            x.abs_diff(ax) <= 1 && y.abs_diff(ay) <= 1,
            "pixel {}: ({x}, {y}) against ({ax}, {ay})",
            203 + k
        );
    }
}

/// The instructions the tests compare with scalar code: the best this
/// CPU has (whatever `LIVEROOM_CPU_SIMD` says); a CPU without any
/// compares scalar code with itself.
fn vector() -> Simd {
    let best = Simd::best();
    if best == Simd::Scalar {
        eprintln!("no vector instructions on this CPU: scalar code against itself");
    }
    best
}

/// `faces` warped through a mirrored crop of a `width × height` input
/// into `output` at `zoom`, over the CPU's plain frame, with `simd`.
fn warped(
    (width, height): (u32, u32),
    output: OutputSize,
    faces: &[FaceLandmarks],
    zoom: f32,
    simd: Simd,
) -> I420Frame {
    let input = textured(width, height);
    let params = FrameParams {
        geometry: GeometryParams::new(zoom, true).expect("geometry"),
        effects: EffectParams::new(0.0, 0.0, 1.0, 1.0).expect("strengths"),
        faces: faces.to_vec(),
        ..Default::default()
    };
    let plan = GeometryPlan::new(width, height, output, params.geometry).expect("plan");
    let layout = OutputLayout::new(output);
    let effects = params.effect_plan(&plan);
    let field = effects
        .face_field(output.width(), output.height())
        .expect("a face field");
    let region = BlockRegion::covering(effects.warp_bounds(), &layout).expect("a region");
    let tiles = effect_tiles(&field, region, false);
    assert!(!tiles.is_empty(), "the warps move something");
    let mut out = PlainScaler::new(&plan, &layout)
        .expect("a plain scaler")
        .render(&input)
        .expect("plain frame");
    let mut warp = CpuWarp::new(&plan, &effects, &layout).expect("one tap");
    warp.simd = simd;
    warp.render(&input, &field, &tiles, &mut out);
    out
}

/// Checks that two traces hold the same positions, naming the first
/// that differs.
fn assert_same(a: &Trace, b: &Trace, case: &str) {
    assert_eq!(a.xs.len(), b.xs.len(), "{case}");
    let pairs = a.xs.iter().zip(&a.ys).zip(b.xs.iter().zip(&b.ys));
    if let Some((k, (p, q))) = pairs.enumerate().find(|(_, (p, q))| p != q) {
        panic!("{case}: pixel {k} at {p:?} in one, {q:?} in the other");
    }
}

#[test]
fn vector_and_scalar_code_warp_frames_to_the_same_bytes() {
    let simd = vector();
    // Input size, output size, zoom, faces: widths that are not
    // multiples of 8 (padding columns, a tail under eight pixels),
    // odd input sizes, faces over the crop's edges.
    type Case = ((u32, u32), (u32, u32), f32, Vec<FaceLandmarks>);
    let cases: Vec<Case> = vec![
        (
            (1280, 720),
            (720, 1280),
            1.0,
            vec![face(520.0, 150.0, 260.0)],
        ),
        (
            (1280, 720),
            (362, 642),
            1.5,
            vec![face(560.0, 200.0, 200.0)],
        ),
        (
            (1279, 719),
            (366, 650),
            1.2,
            vec![face(400.0, 200.0, 200.0), face(700.0, 400.0, 90.0)],
        ),
        ((641, 359), (202, 358), 1.0, vec![face(250.0, 60.0, 150.0)]),
        ((641, 359), (202, 126), 3.0, vec![face(280.0, 130.0, 120.0)]),
        (
            (1280, 720),
            (720, 1280),
            1.0,
            vec![face(380.0, 300.0, 200.0)],
        ),
    ];
    for (input, (w, h), zoom, faces) in cases {
        let output = OutputSize::new(w, h).expect("size");
        let fast = warped(input, output, &faces, zoom, simd);
        let scalar = warped(input, output, &faces, zoom, Simd::Scalar);
        for plane in [Plane::Y, Plane::U, Plane::V] {
            assert!(
                fast.plane(plane) == scalar.plane(plane),
                "{input:?} → {w}×{h}, zoom {zoom}: {plane:?} differs ({simd:?} against scalar)"
            );
        }
    }
}

#[test]
fn vector_and_scalar_code_trace_and_sample_alike_off_the_cells() {
    let simd = vector();
    let output = OutputSize::new(720, 1280).expect("size");
    let input = textured(1280, 720);
    let params = FrameParams {
        geometry: GeometryParams::new(1.3, true).expect("geometry"),
        effects: EffectParams::new(0.0, 0.0, 1.0, 1.0).expect("strengths"),
        faces: vec![face(520.0, 150.0, 260.0)],
        ..Default::default()
    };
    let plan = GeometryPlan::new(1280, 720, output, params.geometry).expect("plan");
    let layout = OutputLayout::new(output);
    let effects = params.effect_plan(&plan);
    let field = effects.face_field(720, 1280).expect("a face field");
    let mut fast = CpuWarp::new(&plan, &effects, &layout).expect("one tap");
    fast.simd = simd;
    let scalar = CpuWarp {
        simd: Simd::Scalar,
        ..fast.clone()
    };
    let mut warped = 0;
    for y in (300..900).step_by(37) {
        let mut line = FieldLine::default();
        line.load(&field, y + 1, y as f32 + 0.5, [0, 720]);
        // Spans on and off the cells, with tails of every length.
        for start in [0, 1, 2, 3, 5, 203, 398, 401, 715] {
            for len in [1, 5, 8, 13, 31, 64, 317] {
                let end = (start + len).min(720);
                let (mut a, mut b) = (Trace::default(), Trace::default());
                fast.trace_pixels(&line, y, start..end, &mut a);
                scalar.trace_pixels(&line, y, start..end, &mut b);
                assert_same(&a, &b, &format!("row {y}, {start}..{end}"));
                warped += a.dx.iter().filter(|dx| dx.abs() > 0.5).count();
                for plane in [Plane::Y, Plane::U, Plane::V] {
                    let bounds = match plane {
                        Plane::Y => fast.luma_bounds,
                        _ => fast.chroma_bounds,
                    };
                    let mut out = [vec![0; a.xs.len()], vec![0; a.xs.len()]];
                    Source::new(&input, plane, bounds, simd).sample(&a, &mut out[0]);
                    Source::new(&input, plane, bounds, Simd::Scalar).sample(&a, &mut out[1]);
                    assert_eq!(out[0], out[1], "row {y}, {start}..{end}, {plane:?}");
                }
            }
        }
    }
    assert!(warped > 1000, "only {warped} pixels moved");
}

#[test]
fn vector_and_scalar_code_round_halves_and_outliers_alike() {
    let simd = vector();
    let count = 67;
    // Positions landing on halves of either sign, offsets that are
    // NaN, infinite or huge.
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e30,
        -1e30,
        -0.0,
    ];
    let offsets: Vec<f32> = (0..count)
        .map(|k| match k % 9 {
            0..=5 => specials[k % 9],
            6 => k as f32 * 0.25,
            _ => -(k as f32) * 0.5,
        })
        .collect();
    for map in [
        [0.5, 0.0, 0.25],
        [0.5, 0.5, -40.25],
        [-0.5, 0.0, 3.0],
        [256.0, -0.75, 0.5],
    ] {
        for inside in [[(f32::MIN, f32::MAX); 2], [(10.0, 20.0), (f32::NAN, 40.0)]] {
            let row = |simd| RowMap {
                first: 0.5,
                y: 7.5,
                inside,
                map_x: map,
                map_y: [map[1], map[0], map[2]],
                simd,
            };
            let mut traces = [Trace::default(), Trace::default()];
            for (trace, simd) in traces.iter_mut().zip([simd, Simd::Scalar]) {
                trace.resize(count);
                trace.dx.copy_from_slice(&offsets);
                trace.dy.copy_from_slice(&offsets);
                trace.dy.reverse();
                let row = row(simd);
                let done = row.positions_simd(trace);
                for k in done..count {
                    [trace.xs[k], trace.ys[k]] = row.position(k, trace.dx[k], trace.dy[k]);
                }
            }
            let [a, b] = &traces;
            assert_same(a, b, &format!("map {map:?}, inside {inside:?}"));
        }
    }
    // Halves away from zero, as `round` says.
    assert_eq!(
        [round(0.5), round(-0.5), round(2.5), round(-2.5)],
        [1, -1, 3, -3]
    );
    assert_eq!(round(f32::NAN), -(1 << 28));
}

#[test]
fn the_setting_scalar_asks_for_scalar_code() {
    assert_eq!(Simd::chosen(Some("scalar")), Simd::Scalar);
    assert_eq!(Simd::chosen(Some(" Scalar ")), Simd::Scalar);
    assert_eq!(Simd::chosen(None), Simd::best());
    assert_eq!(Simd::chosen(Some("avx2")), Simd::best());
    assert_eq!(Simd::chosen(Some("")), Simd::best());
}
