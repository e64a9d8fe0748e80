//! Beauty effects on a real face: the public-domain astronaut portrait that
//! `scripts/setup.sh` places at `assets/photos/astronaut.png`, measured with
//! plain image statistics. Landmarks were measured once by eye on the
//! 512×512 picture and are kept here.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{gpu, high_frequency_energy, max_difference, portrait_face, portrait_rgb};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::{EffectParams, EffectPlan, FaceFade, Lut};
use liveroom::frame::{I420Frame, Plane};
use liveroom::geometry::{GeometryParams, GeometryPlan, OutputSize};
use liveroom::landmarks::{FaceLandmarks, LandmarkTrack};
use liveroom::pipeline::{reference, smoothing, Placement, Route};
use liveroom::{FrameParams, FramePipeline};

const FACE_WIDTH: f32 = 81.0;

/// A rectangle `(x0, y0, x1, y1)`, exclusive ends.
type Rect = (u32, u32, u32, u32);

const CHEEKS: [Rect; 2] = [(195, 117, 211, 133), (244, 117, 258, 133)];
const AWAY_FROM_FACE: [(&str, Rect); 4] = [
    ("wall", (300, 10, 360, 60)),
    ("flag", (5, 10, 60, 140)),
    ("suit", (60, 330, 130, 430)),
    ("shuttle model", (380, 120, 440, 240)),
];

fn portrait() -> I420Frame {
    let image = portrait_rgb();
    rgb_image_to_i420(&image).expect("portrait converts")
}

fn params(effects: EffectParams) -> FrameParams {
    FrameParams {
        geometry: GeometryParams::default(),
        effects,
        faces: vec![portrait_face()],
        ..Default::default()
    }
}

fn effect(whiteness: f32, smoothness: f32, thinness: f32, eyes: f32) -> EffectParams {
    EffectParams::new(whiteness, smoothness, thinness, eyes).expect("valid strengths")
}

/// The portrait through the pipeline at its own size (so coordinates stay).
fn run(pipeline: &mut FramePipeline, frame: &I420Frame, effects: EffectParams) -> I420Frame {
    pipeline
        .process(frame, &params(effects))
        .expect("GPU processing")
}

fn mean_luma(frame: &I420Frame, (x0, y0, x1, y1): Rect) -> f64 {
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += frame.sample(Plane::Y, x, y) as f64;
        }
    }
    sum / ((x1 - x0) * (y1 - y0)) as f64
}

fn mean_abs_difference(a: &I420Frame, b: &I420Frame, (x0, y0, x1, y1): Rect) -> f64 {
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += (a.sample(Plane::Y, x, y) as f64 - b.sample(Plane::Y, x, y) as f64).abs();
        }
    }
    sum / ((x1 - x0) * (y1 - y0)) as f64
}

/// Luma at a fractional position, bilinear.
fn luma_at(frame: &I420Frame, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor().max(0.0) as u32, y.floor().max(0.0) as u32);
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: u32, yy: u32| {
        frame.sample(
            Plane::Y,
            xx.min(frame.width() - 1),
            yy.min(frame.height() - 1),
        ) as f32
    };
    let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
    let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
    top * (1.0 - ty) + bottom * ty
}

/// The horizontal shift `s` (content moved right by `s`) that best explains
/// `after` from `before` inside the rectangle.
fn horizontal_shift(before: &I420Frame, after: &I420Frame, rect: Rect) -> f32 {
    let (x0, y0, x1, y1) = rect;
    let mut best = (f32::INFINITY, 0.0);
    for step in -40..=40 {
        let s = step as f32 * 0.25;
        let mut ssd = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                let d =
                    after.sample(Plane::Y, x, y) as f32 - luma_at(before, x as f32 - s, y as f32);
                ssd += d * d;
            }
        }
        if ssd < best.0 {
            best = (ssd, s);
        }
    }
    best.1
}

/// Optical flow of a textured patch: the displacement `d` (content moved
/// by `d`, pixels) that best explains `after` from `before` inside `rect`,
/// by Lucas–Kanade (Gauss–Newton on the patch's summed squared
/// difference, bilinear samples, central-difference gradients of
/// `before`), or `None` when the patch has too little texture in some
/// direction to tell (the smaller eigenvalue of its structure tensor,
/// per pixel, under 4 levels²).
fn patch_flow(before: &I420Frame, after: &I420Frame, rect: Rect) -> Option<[f32; 2]> {
    let (x0, y0, x1, y1) = rect;
    let pixels = ((x1 - x0) * (y1 - y0)) as f32;
    let mut d = [0.0f32; 2];
    for iteration in 0..20 {
        let (mut gxx, mut gxy, mut gyy, mut bx, mut by) = (0.0f32, 0.0, 0.0, 0.0, 0.0);
        for y in y0..y1 {
            for x in x0..x1 {
                let (sx, sy) = (x as f32 - d[0], y as f32 - d[1]);
                let gx = (luma_at(before, sx + 1.0, sy) - luma_at(before, sx - 1.0, sy)) / 2.0;
                let gy = (luma_at(before, sx, sy + 1.0) - luma_at(before, sx, sy - 1.0)) / 2.0;
                let r = after.sample(Plane::Y, x, y) as f32 - luma_at(before, sx, sy);
                gxx += gx * gx;
                gxy += gx * gy;
                gyy += gy * gy;
                bx += gx * r;
                by += gy * r;
            }
        }
        let det = gxx * gyy - gxy * gxy;
        let half_trace = (gxx + gyy) / 2.0;
        let smallest = half_trace - (half_trace * half_trace - det).max(0.0).sqrt();
        if iteration == 0 && smallest / pixels < 4.0 {
            return None;
        }
        // after ≈ before(x − d − δ) ≈ before(x − d) − g·δ, so the step
        // δ = −G⁻¹ Σ g r.
        let step = [-(gyy * bx - gxy * by) / det, -(gxx * by - gxy * bx) / det];
        d = [d[0] + step[0], d[1] + step[1]];
        if step[0].hypot(step[1]) < 1e-3 {
            break;
        }
    }
    Some(d)
}

/// The magnification `m` about `centre` that best explains `after` from
/// `before` within `radius`.
fn magnification(before: &I420Frame, after: &I420Frame, centre: [f32; 2], radius: f32) -> f32 {
    let mut best = (f32::INFINITY, 1.0);
    for step in 0..=60 {
        let m = 1.0 + step as f32 * 0.01;
        let mut ssd = 0.0;
        let r = radius as i32;
        for dy in -r..=r {
            for dx in -r..=r {
                if (dx * dx + dy * dy) as f32 > radius * radius {
                    continue;
                }
                let (x, y) = (centre[0] + dx as f32, centre[1] + dy as f32);
                let a = luma_at(after, x, y);
                let b = luma_at(before, centre[0] + dx as f32 / m, centre[1] + dy as f32 / m);
                ssd += (a - b) * (a - b);
            }
        }
        if ssd < best.0 {
            best = (ssd, m);
        }
    }
    best.1
}

/// Gradient energy: squared forward differences.
fn gradient_energy(frame: &I420Frame, (x0, y0, x1, y1): Rect) -> f64 {
    let mut energy = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let c = frame.sample(Plane::Y, x, y) as f64;
            let dx = frame.sample(Plane::Y, x + 1, y) as f64 - c;
            let dy = frame.sample(Plane::Y, x, y + 1) as f64 - c;
            energy += dx * dx + dy * dy;
        }
    }
    energy
}

/// A pipeline at the portrait's own size, the portrait, and the portrait
/// through the pipeline with no effect.
fn setup() -> Option<(FramePipeline, I420Frame, I420Frame)> {
    let gpu = gpu()?;
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("even size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let plain = run(&mut pipeline, &frame, EffectParams::default());
    Some((pipeline, frame, plain))
}

fn assert_background_untouched(plain: &I420Frame, after: &I420Frame, what: &str) {
    for (name, rect) in AWAY_FROM_FACE {
        let change = mean_abs_difference(plain, after, rect);
        assert!(
            change <= 2.0,
            "{what}: {name} changed by {change:.2} levels"
        );
    }
}

#[test]
fn all_effects_at_zero_give_the_geometry_only_picture() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let no_faces = pipeline
        .process(&frame, &FrameParams::default())
        .expect("GPU processing");
    assert_eq!(plain, no_faces);
    // And geometry alone is the input itself here (identity size).
    assert_eq!(plain.to_packed_bytes(), frame.to_packed_bytes());
}

#[test]
fn effects_without_a_face_change_nothing() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let params = FrameParams {
        effects: effect(1.0, 1.0, 1.0, 1.0),
        ..Default::default()
    };
    let out = pipeline.process(&frame, &params).expect("GPU processing");
    assert_eq!(out, plain);
}

/// The plain geometry on the CPU, every effect in the shaders.
const PLAIN_ON_CPU: Placement = Placement {
    plain_on_cpu: true,
    ..Placement::SHADERS
};

/// The plain geometry and the skin effects on the CPU, the warps in the
/// shader.
const SKIN_ON_CPU: Placement = Placement {
    plain_on_cpu: true,
    skin_on_cpu: true,
    ..Placement::SHADERS
};

/// For every effect at once, each placement (forced, whatever the adapter:
/// a real GPU runs the CPU's paths too) and the route it gives: all in the
/// shaders; the plain geometry on the CPU and the effects in the shaders
/// over the faces' region; the skin effects on the CPU too, the warps in
/// the shader's tiles laid over its frame; everything on the CPU.
const PLACEMENTS: [(Placement, Route); 4] = [
    (Placement::SHADERS, Route::Shader),
    (PLAIN_ON_CPU, Route::CpuPlainGpuRegion),
    (SKIN_ON_CPU, Route::CpuPlainGpuTiles { skin_on_cpu: true }),
    (
        Placement::CPU_ASSISTS,
        Route::Cpu {
            warps: true,
            skin: true,
        },
    ),
];

/// The routes of a skin-tone step alone (whitening, ruddiness): the
/// shader's, over the CPU's plain frame or not, and the CPU's skin route.
const TONE_ROUTES: [(Placement, Route); 3] = [
    (Placement::SHADERS, Route::Shader),
    (PLAIN_ON_CPU, Route::CpuPlainGpuTiles { skin_on_cpu: false }),
    (
        Placement::CPU_ASSISTS,
        Route::Cpu {
            warps: false,
            skin: true,
        },
    ),
];

/// The routes of the skin effects with smoothing: the shaders; the shaders
/// over the CPU's plain frame; the CPU's skin route (the default on a
/// software adapter).
const SKIN_ROUTES: [(Placement, Route); 3] = [
    (Placement::SHADERS, Route::Shader),
    (PLAIN_ON_CPU, Route::CpuPlainGpuRegion),
    (
        Placement::CPU_ASSISTS,
        Route::Cpu {
            warps: false,
            skin: true,
        },
    ),
];

/// Processes `frame` with `params` on each of `routes` (checking the
/// pipeline took it) and asserts every sample within two levels of the CPU
/// reference.
fn assert_routes_match_reference(
    pipeline: &mut FramePipeline,
    frame: &I420Frame,
    params: &FrameParams,
    routes: &[(Placement, Route)],
    what: &str,
) {
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let cpu_out = reference::process(frame, size, params).expect("reference");
    for &(placement, route) in routes {
        pipeline.set_placement(placement);
        let gpu_out = pipeline.process(frame, params).expect("GPU");
        assert_eq!(pipeline.last_route(), Some(route), "{what}");
        let (worst, plane, x, y) = max_difference(&gpu_out, &cpu_out);
        eprintln!("{what} {route:?}: worst difference {worst}");
        assert!(
            worst <= 2,
            "{what}: differs from reference by {worst} at {plane:?} ({x}, {y}) ({route:?})"
        );
    }
}

/// The portrait through the pipeline and the reference with `effects`,
/// zoomed 1.4×, mirrored and cropped to 288×384, the pipeline with
/// `placement`; checks that the frame took `route`.
fn cropped_and_mirrored(
    effects: EffectParams,
    placement: Placement,
    route: Route,
) -> Option<(I420Frame, I420Frame)> {
    let gpu = gpu()?;
    let frame = portrait();
    let size = OutputSize::new(288, 384).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    pipeline.set_placement(placement);
    let params = FrameParams {
        geometry: GeometryParams::new(1.4, true).expect("geometry"),
        effects,
        faces: vec![portrait_face()],
        ..Default::default()
    };
    let gpu_out = pipeline.process(&frame, &params).expect("GPU");
    assert_eq!(pipeline.last_route(), Some(route), "{placement:?}");
    let cpu_out = reference::process(&frame, size, &params).expect("reference");
    Some((gpu_out, cpu_out))
}

#[test]
fn warps_match_the_reference_within_two_levels() {
    // In the shader; in its tiles over the CPU's plain frame; on the CPU.
    for (placement, route) in [
        (Placement::SHADERS, Route::Shader),
        (SKIN_ON_CPU, Route::CpuPlainGpuTiles { skin_on_cpu: false }),
        (
            Placement::CPU_ASSISTS,
            Route::Cpu {
                warps: true,
                skin: false,
            },
        ),
    ] {
        let Some((out, cpu_out)) =
            cropped_and_mirrored(effect(0.0, 0.0, 1.0, 1.0), placement, route)
        else {
            return;
        };
        let (worst, plane, x, y) = max_difference(&out, &cpu_out);
        assert!(
            worst <= 2,
            "differs from reference by {worst} at {plane:?} ({x}, {y}) ({route:?})"
        );
    }
}

#[test]
fn whitening_brightens_cheeks_and_nothing_away_from_the_face() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let white = run(&mut pipeline, &frame, effect(1.0, 0.0, 0.0, 0.0));
    for cheek in CHEEKS {
        let gain = mean_luma(&white, cheek) - mean_luma(&plain, cheek);
        eprintln!("whitening: cheek {cheek:?} +{gain:.1} levels");
        assert!(
            gain >= 8.0,
            "cheek {cheek:?} brightened by {gain:.1} levels"
        );
    }
    assert_background_untouched(&plain, &white, "whitening");
    // Eyes (pupils) keep their darkness.
    let pupil = (202, 99, 207, 104);
    let change = mean_abs_difference(&plain, &white, pupil);
    assert!(change <= 3.0, "pupil changed by {change:.1}");
}

/// At the portrait's own size (a face 81 px wide, the smallest window):
/// the eyes' edges stay and nothing away from the face moves. How much
/// texture goes and stays is measured at a 720p face size, below.
#[test]
fn smoothing_keeps_the_eyes_sharp_and_the_background() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let smooth = run(&mut pipeline, &frame, effect(0.0, 1.0, 0.0, 0.0));
    assert_ne!(smooth, plain, "smoothing did nothing");
    let face = portrait_face();
    for [x, y] in [face.left_eye, face.right_eye] {
        let eye = (x as u32 - 12, y as u32 - 7, x as u32 + 12, y as u32 + 7);
        let kept = gradient_energy(&smooth, eye) / gradient_energy(&plain, eye);
        eprintln!(
            "smoothing: eye {eye:?} keeps {:.0} % of its gradient energy",
            kept * 100.0
        );
        assert!(kept >= 0.6, "eye {eye:?} keeps only {kept:.2} of its edges");
    }
    assert_background_untouched(&plain, &smooth, "smoothing");
}

// The smoothing's frequency bands are sized for faces at 720p (blotches
// of 4–16 px, pores and grain of 1–2 px, on a face some 200 px wide). The
// portrait's face is 81 px wide, where those bands would shrink to 1.6–6.5
// px and well under a pixel: too close to tell apart. So the band tests run
// on the portrait at a 720p face size: its top 512×288 (16:9, from row
// `CROP_TOP`, face and shoulders) upscaled 2.5× (Catmull-Rom) to a
// 1280×720 frame, where the face is 203 px wide, and measure the bands in
// that frame's pixels. Upscaling spreads the portrait's pixel-level grain
// over about 2.5 px; the frame's 1–2 px band holds what Catmull-Rom keeps
// of it, and stands in for a 720p camera's grain (it is weaker, so the
// share kept is what the test compares, not the energy). The bands are box
// differences (see `band_energy`), the box widths the sizes the issue names.

/// The first portrait row of the 720p frame.
const CROP_TOP: u32 = 20;
/// Output pixels per portrait pixel in the 720p frame.
const UPSCALE: f32 = 2.5;

/// The portrait at a 720p face size (see above).
fn portrait_720p() -> I420Frame {
    let image = portrait_rgb();
    let top = image::imageops::crop_imm(&image, 0, CROP_TOP, 512, 288).to_image();
    let big = image::imageops::resize(&top, 1280, 720, image::imageops::FilterType::CatmullRom);
    rgb_image_to_i420(&big).expect("720p portrait converts")
}

/// Where the portrait's pixels land in a test frame: less `from`, times
/// `scale`, plus `to`.
#[derive(Debug, Clone, Copy)]
struct PortraitAt {
    from: [f32; 2],
    scale: f32,
    to: [f32; 2],
}

impl PortraitAt {
    /// A portrait point in the frame.
    fn point(self, [x, y]: [f32; 2]) -> [f32; 2] {
        [
            (x - self.from[0]) * self.scale + self.to[0],
            (y - self.from[1]) * self.scale + self.to[1],
        ]
    }

    /// A portrait rectangle in the frame.
    fn rect(self, (x0, y0, x1, y1): Rect) -> Rect {
        let [x0, y0] = self.point([x0 as f32, y0 as f32]);
        let [x1, y1] = self.point([x1 as f32, y1 as f32]);
        (x0 as u32, y0 as u32, x1 as u32, y1 as u32)
    }

    /// The portrait's face in the frame.
    fn face(self) -> FaceLandmarks {
        let face = portrait_face();
        let [x, y] = self.point([face.bbox[0], face.bbox[1]]);
        FaceLandmarks {
            bbox: [x, y, face.bbox[2] * self.scale, face.bbox[3] * self.scale],
            left_eye: self.point(face.left_eye),
            right_eye: self.point(face.right_eye),
            contour: Vec::new(),
        }
    }
}

/// The portrait in the 720p frame.
const AT_720P: PortraitAt = PortraitAt {
    from: [0.0, CROP_TOP as f32],
    scale: UPSCALE,
    to: [0.0, 0.0],
};

fn params_720p(effects: EffectParams) -> FrameParams {
    FrameParams {
        effects,
        faces: vec![AT_720P.face()],
        ..params(effects)
    }
}

/// A pipeline at 1280×720, the 720p portrait, and it through the pipeline
/// with no effect.
fn setup_720p() -> Option<(FramePipeline, I420Frame, I420Frame)> {
    let gpu = gpu()?;
    let frame = portrait_720p();
    let size = OutputSize::new(frame.width(), frame.height()).expect("even size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let plain = pipeline
        .process(&frame, &params_720p(EffectParams::default()))
        .expect("GPU processing");
    Some((pipeline, frame, plain))
}

/// Mean luma over the `size`×`size` box centred on (x, y) (odd `size`;
/// the box stays inside the frame where these tests look).
fn box_luma(frame: &I420Frame, x: u32, y: u32, size: u32) -> f64 {
    let r = size / 2;
    let mut sum = 0.0;
    for v in y - r..=y + r {
        for u in x - r..=x + r {
            sum += frame.sample(Plane::Y, u, v) as f64;
        }
    }
    sum / (size * size) as f64
}

/// Energy of `rect`'s luma between two scales: the sum over its pixels of
/// the squared difference of box means `fine` and `coarse` pixels wide (a
/// box of width w averages away what is smaller than w; `fine` 1 is the
/// pixel itself). The band between box widths 1 and 3 is the 1–2 px
/// texture; between 5 and 17, the 4–16 px blotches and uneven tone.
fn band_energy(frame: &I420Frame, (x0, y0, x1, y1): Rect, fine: u32, coarse: u32) -> f64 {
    let mut energy = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = box_luma(frame, x, y, fine) - box_luma(frame, x, y, coarse);
            energy += d * d;
        }
    }
    energy
}

/// The 1–2 px band (see [`band_energy`]).
const FINE_BAND: (u32, u32) = (1, 3);
/// The 4–16 px band.
const MID_BAND: (u32, u32) = (5, 17);

#[test]
fn smoothing_takes_blotches_keeps_fine_texture_and_the_eyes_at_a_720p_face_size() {
    let Some((mut pipeline, frame, plain)) = setup_720p() else {
        return;
    };
    let smooth = pipeline
        .process(&frame, &params_720p(effect(0.0, 1.0, 0.0, 0.0)))
        .expect("GPU processing");
    for cheek in CHEEKS.map(|cheek| AT_720P.rect(cheek)) {
        let kept = |(fine, coarse)| {
            band_energy(&smooth, cheek, fine, coarse) / band_energy(&plain, cheek, fine, coarse)
        };
        let (fine, mid) = (kept(FINE_BAND), kept(MID_BAND));
        eprintln!(
            "smoothing at 720p: cheek {cheek:?} keeps {:.0} % of its 1–2 px energy, {:.0} % of \
             its 4–16 px energy",
            fine * 100.0,
            mid * 100.0
        );
        assert!(
            mid <= 0.4,
            "cheek {cheek:?} keeps {mid:.2} of its 4–16 px energy"
        );
        assert!(
            fine >= 0.3,
            "cheek {cheek:?} keeps only {fine:.2} of its 1–2 px energy"
        );
    }
    let face = AT_720P.face();
    for [x, y] in [face.left_eye, face.right_eye] {
        let (x, y) = (x as u32, y as u32);
        let eye = (x - 30, y - 17, x + 30, y + 17);
        let kept = gradient_energy(&smooth, eye) / gradient_energy(&plain, eye);
        eprintln!(
            "smoothing at 720p: eye {eye:?} keeps {:.0} % of its gradient energy",
            kept * 100.0
        );
        assert!(kept >= 0.6, "eye {eye:?} keeps only {kept:.2} of its edges");
    }
}

#[test]
fn smoothing_at_a_720p_face_size_matches_the_reference_on_every_route() {
    let Some((mut pipeline, frame, _)) = setup_720p() else {
        return;
    };
    for effects in [effect(0.0, 1.0, 0.0, 0.0), effect(1.0, 0.5, 0.0, 0.0)] {
        let what = format!("720p smoothing {effects:?}");
        let params = params_720p(effects);
        assert_routes_match_reference(&mut pipeline, &frame, &params, &SKIN_ROUTES, &what);
    }
}

#[test]
fn smoothing_at_zero_changes_no_byte_on_any_route() {
    let Some((mut pipeline, frame, plain)) = setup_720p() else {
        return;
    };
    let process = |pipeline: &mut FramePipeline, effects| {
        pipeline
            .process(&frame, &params_720p(effects))
            .expect("GPU processing")
    };
    for (placement, _) in PLACEMENTS {
        pipeline.set_placement(placement);
        // Switched on and off again between frames.
        let smooth = process(&mut pipeline, effect(0.0, 1.0, 0.0, 0.0));
        assert_ne!(smooth, plain, "{placement:?}: smoothing did nothing");
        let off = process(&mut pipeline, effect(0.0, 0.0, 0.0, 0.0));
        assert_eq!(off, plain, "{placement:?}");
        let others = effect(1.0, 0.0, 1.0, 1.0);
        let without = process(&mut pipeline, others);
        let with = process(&mut pipeline, effect(1.0, 1.0, 1.0, 1.0));
        assert_ne!(with, without, "{placement:?}");
        assert_eq!(process(&mut pipeline, others), without, "{placement:?}");
    }
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let reference_off = reference::process(&frame, size, &params_720p(effect(0.0, 0.0, 0.0, 0.0)))
        .expect("reference");
    assert_eq!(reference_off.to_packed_bytes(), frame.to_packed_bytes());
}

// Two faces at different scales: the portrait at a 720p face size (its
// face 203 px wide, a skin ellipse of 243 px) with a crop of the portrait
// around its face at its own size (81 px, ellipse 97 px) pasted on the
// right, over the shuttle model and the wall: a close face and a far one.
// Each is smoothed with its own window (2 and 1 low-res pixels), not the
// close face's for both.

/// The portrait rectangle pasted at its own size in the two-face frame.
const FAR_CROP: Rect = (150, 60, 300, 210);
/// Where its top-left corner goes in the two-face frame.
const FAR_AT: [u32; 2] = [1100, 540];

/// The portrait at a 720p face size with its face at its own size pasted
/// on the right (see above).
fn two_faces_720p() -> I420Frame {
    let image = portrait_rgb();
    let top = image::imageops::crop_imm(&image, 0, CROP_TOP, 512, 288).to_image();
    let mut frame =
        image::imageops::resize(&top, 1280, 720, image::imageops::FilterType::CatmullRom);
    let (x0, y0, x1, y1) = FAR_CROP;
    let far = image::imageops::crop_imm(&image, x0, y0, x1 - x0, y1 - y0).to_image();
    image::imageops::replace(&mut frame, &far, i64::from(FAR_AT[0]), i64::from(FAR_AT[1]));
    rgb_image_to_i420(&frame).expect("two-face frame converts")
}

/// The portrait's pasted crop in the two-face frame.
const AT_FAR: PortraitAt = PortraitAt {
    from: [FAR_CROP.0 as f32, FAR_CROP.1 as f32],
    scale: 1.0,
    to: [FAR_AT[0] as f32, FAR_AT[1] as f32],
};

/// Whether two frames' luma is the same over `rect`.
fn same_luma(a: &I420Frame, b: &I420Frame, (x0, y0, x1, y1): Rect) -> bool {
    (y0..y1).all(|y| (x0..x1).all(|x| a.sample(Plane::Y, x, y) == b.sample(Plane::Y, x, y)))
}

#[test]
fn smoothing_gives_a_close_face_and_a_far_one_each_its_own_window() {
    let Some(gpu) = gpu() else { return };
    let frame = two_faces_720p();
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let smoothing = effect(0.0, 1.0, 0.0, 0.0);
    let with_faces = |faces: Vec<FaceLandmarks>| FrameParams {
        effects: smoothing,
        faces,
        ..Default::default()
    };
    let both = with_faces(vec![AT_720P.face(), AT_FAR.face()]);
    let far_alone = with_faces(vec![AT_FAR.face()]);
    let plan = EffectPlan::new(&smoothing, &both.faces);
    let radii: Vec<u32> = plan.faces.iter().map(smoothing::face_radius).collect();
    assert_eq!(radii, [2, 1], "the close face's window and the far one's");
    // The far face's skin ellipse's bounds, one pixel in from the frame.
    let bounds = EffectPlan::new(&smoothing, &far_alone.faces).mask_bounds();
    let far_skin: Rect = (
        bounds[0].floor().max(1.0) as u32,
        bounds[1].floor().max(1.0) as u32,
        (bounds[2].ceil() as u32).min(frame.width() - 1),
        (bounds[3].ceil() as u32).min(frame.height() - 1),
    );

    // The reference smooths the far face as it smooths it alone: with its
    // own window.
    let reference_both = reference::process(&frame, size, &both).expect("reference");
    let reference_far = reference::process(&frame, size, &far_alone).expect("reference");
    assert!(
        same_luma(&reference_both, &reference_far, far_skin),
        "the far face is smoothed otherwise beside the close one"
    );
    // What one window for the frame (the close face's, as before) did to
    // it: the smoothing with every low-res pixel at radius 2. (The frame
    // is the reference's picture before smoothing here: no geometry, no
    // tone; with the plan's own field `smooth` gives `process`'s frame.)
    let field = plan.face_field(size.width(), size.height()).expect("field");
    let mut own = frame.clone();
    reference::smooth(&mut own, &field, 1.0);
    assert_eq!(
        own, reference_both,
        "reference::smooth is process's smoothing"
    );
    let mut one_window = field.clone();
    for point in &mut one_window.points {
        point[3] = radii[0] as f32;
    }
    let mut close_window = frame.clone();
    reference::smooth(&mut close_window, &one_window, 1.0);
    // The far face's cheeks' blotches and uneven tone, at its scale: the
    // 720p band (box widths 5 and 17) times its size there, 0.4.
    let far_band = (3, 7);
    let mut kept = [0.0; 2];
    for cheek in CHEEKS.map(|cheek| AT_FAR.rect(cheek)) {
        let before = band_energy(&frame, cheek, far_band.0, far_band.1);
        for (k, out) in [&reference_both, &close_window].into_iter().enumerate() {
            kept[k] += band_energy(out, cheek, far_band.0, far_band.1) / before / 2.0;
        }
    }
    let moved = mean_abs_difference(&reference_both, &close_window, far_skin);
    eprintln!(
        "far face: its own window keeps {:.0} % of its cheeks' 2–7 px energy, the close \
         face's {:.0} %; the two differ by {moved:.2} levels on its skin's bounds",
        kept[0] * 100.0,
        kept[1] * 100.0
    );
    assert!(
        moved >= 0.5,
        "the window made little difference: {moved:.2} levels"
    );
    assert!(
        kept[0] < kept[1],
        "its own window takes less of its blotches than the close face's"
    );
    // The close face is smoothed as before (one window, its own).
    let reference_close =
        reference::process(&frame, size, &with_faces(vec![AT_720P.face()])).expect("reference");
    let close_skin = CHEEKS.map(|cheek| AT_720P.rect(cheek));
    for cheek in close_skin {
        assert!(
            same_luma(&reference_both, &reference_close, cheek),
            "{cheek:?}"
        );
    }

    // Every route: within two levels of the reference, and the far face
    // as when alone.
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    assert_routes_match_reference(&mut pipeline, &frame, &both, &SKIN_ROUTES, "two faces");
    for (placement, route) in SKIN_ROUTES {
        pipeline.set_placement(placement);
        let out_both = pipeline.process(&frame, &both).expect("GPU");
        assert_eq!(pipeline.last_route(), Some(route));
        let out_far = pipeline.process(&frame, &far_alone).expect("GPU");
        assert!(
            same_luma(&out_both, &out_far, far_skin),
            "{route:?}: the far face is smoothed otherwise beside the close one"
        );
    }
}

#[test]
fn face_thinness_pulls_the_jaw_inward() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let thin = run(&mut pipeline, &frame, effect(0.0, 0.0, 1.0, 0.0));
    let left = horizontal_shift(&plain, &thin, (172, 128, 200, 152));
    let right = horizontal_shift(&plain, &thin, (250, 128, 278, 152));
    let inward = (left - right) / 2.0;
    eprintln!("thinning: jaw inward {inward:.2} px of a {FACE_WIDTH} px face (left {left}, right {right})");
    assert!(left > 0.0 && right < 0.0, "left {left}, right {right}");
    assert!(
        inward >= 0.015 * FACE_WIDTH,
        "jaw moved inward by {inward:.2} px, under 1.5 % of {FACE_WIDTH} px"
    );
    assert_background_untouched(&plain, &thin, "thinning");
}

/// Textured patches on the collar and the neck below the portrait's jaw
/// (chin at y ≈ 178), measured by eye.
const BELOW_THE_JAW: [(&str, Rect); 10] = [
    ("neck's left corner", (184, 178, 200, 194)),
    ("neck's right corner", (246, 180, 262, 196)),
    ("collar ring, left", (150, 152, 166, 168)),
    ("collar fabric, left", (150, 186, 166, 202)),
    ("collar fabric, lower left", (156, 206, 172, 222)),
    ("neck and shirt, left", (196, 184, 212, 200)),
    ("neck and shirt, middle", (216, 186, 232, 202)),
    ("neck and shirt, right", (236, 186, 252, 202)),
    ("collar ring, lower right", (270, 200, 286, 216)),
    ("collar fabric, right", (262, 215, 278, 231)),
];

#[test]
fn face_thinness_leaves_the_neck_and_collar_where_they_are() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let thin = run(&mut pipeline, &frame, effect(0.0, 0.0, 1.0, 0.0));
    // The flow measure sees the jaw move (the left jaw's edge, right of
    // the collar ring).
    let jaw = patch_flow(&plain, &thin, (176, 136, 192, 152)).expect("the jaw's edge has texture");
    eprintln!("thinning: left jaw flow {jaw:?}");
    assert!(jaw[0] > 0.5, "left jaw flow {jaw:?}");
    let mut measured = 0;
    for (name, rect) in BELOW_THE_JAW {
        let Some(flow) = patch_flow(&plain, &thin, rect) else {
            eprintln!("thinning: {name} {rect:?} has too little texture");
            continue;
        };
        let moved = flow[0].hypot(flow[1]);
        eprintln!("thinning: {name} {rect:?} flow {flow:?} ({moved:.3} px)");
        assert!(moved <= 0.5, "{name} {rect:?} moved {moved:.2} px");
        measured += 1;
    }
    assert!(measured >= 8, "only {measured} patches had texture");
    // The warp map itself: the plan's exact warp and the face field the
    // passes interpolate leave every point a few pixels below the chin
    // exactly where it is.
    let size = OutputSize::new(frame.width(), frame.height()).expect("even size");
    let geometry = GeometryPlan::new(
        frame.width(),
        frame.height(),
        size,
        GeometryParams::default(),
    )
    .expect("plan");
    let plan = params(effect(0.0, 0.0, 1.0, 0.0)).effect_plan(&geometry);
    let field = plan
        .face_field(frame.width(), frame.height())
        .expect("a face field");
    let mut worst = 0.0f32;
    for y in 186..frame.height() {
        for x in 0..frame.width() {
            let p = [x as f32 + 0.5, y as f32 + 0.5];
            for q in [plan.warp(p), field.warp(p)] {
                worst = worst.max((q[0] - p[0]).hypot(q[1] - p[1]));
            }
        }
    }
    for (_, (x0, y0, x1, y1)) in BELOW_THE_JAW {
        for y in y0..y1 {
            for x in x0..x1 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                for q in [plan.warp(p), field.warp(p)] {
                    worst = worst.max((q[0] - p[0]).hypot(q[1] - p[1]));
                }
            }
        }
    }
    eprintln!("thinning: the warp moves the neck and collar at most {worst:.3} px");
    assert!(
        worst <= 0.5,
        "the warp moves the neck or collar {worst:.2} px"
    );
}

#[test]
fn eye_bigness_magnifies_the_eyes() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let big = run(&mut pipeline, &frame, effect(0.0, 0.0, 0.0, 1.0));
    let face = portrait_face();
    for eye in [face.left_eye, face.right_eye] {
        let m = magnification(&plain, &big, eye, 8.0);
        eprintln!("eye bigness: eye at {eye:?} magnified {m:.2}x");
        assert!(m >= 1.15, "eye at {eye:?} magnified {m:.2}×");
    }
    assert_background_untouched(&plain, &big, "eye bigness");
}

/// Chroma statistics of `rect`: the hue angle (degrees) of its mean
/// chroma offset `atan2(Cr − 128, Cb − 128)`, its mean chroma magnitude
/// `|(Cb − 128, Cr − 128)|` in levels, and that magnitude relative to the
/// block's mean video-range luma `Y − 16` (how saturated it looks: the
/// same chroma over a brighter luma reads greyer).
fn chroma_stats(frame: &I420Frame, (x0, y0, x1, y1): Rect) -> (f64, f64, f64) {
    let (mut cb_sum, mut cr_sum, mut magnitude, mut relative, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for by in y0 / 2..y1 / 2 {
        for bx in x0 / 2..x1 / 2 {
            let cb = frame.sample(Plane::U, bx, by) as f64 - 128.0;
            let cr = frame.sample(Plane::V, bx, by) as f64 - 128.0;
            let luma = (0..4)
                .map(|k| frame.sample(Plane::Y, bx * 2 + k % 2, by * 2 + k / 2) as f64)
                .sum::<f64>()
                / 4.0;
            let chroma = cb.hypot(cr);
            cb_sum += cb;
            cr_sum += cr;
            magnitude += chroma;
            relative += chroma / (luma - 16.0).max(1.0);
            n += 1.0;
        }
    }
    (
        cr_sum.atan2(cb_sum).to_degrees(),
        magnitude / n,
        relative / n,
    )
}

#[test]
fn whitening_keeps_the_cheeks_hue_and_most_of_their_saturation() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let white = run(&mut pipeline, &frame, effect(1.0, 0.0, 0.0, 0.0));
    for cheek in CHEEKS {
        let luma = mean_luma(&white, cheek) - mean_luma(&plain, cheek);
        let (hue_before, chroma_before, relative_before) = chroma_stats(&plain, cheek);
        let (hue_after, chroma_after, relative_after) = chroma_stats(&white, cheek);
        let hue = hue_after - hue_before;
        let chroma_kept = chroma_after / chroma_before;
        let relative_kept = relative_after / relative_before;
        eprintln!(
            "whitening: cheek {cheek:?} luma {luma:+.1}, hue {hue_before:.1}° → {hue_after:.1}° \
             ({hue:+.2}°), chroma {chroma_before:.1} → {chroma_after:.1} levels \
             ({:.0} % kept), chroma / luma {relative_before:.3} → {relative_after:.3} \
             ({:.0} % kept)",
            100.0 * chroma_kept,
            100.0 * relative_kept
        );
        assert!(
            luma >= 8.0,
            "cheek {cheek:?} brightened by {luma:.1} levels"
        );
        assert!(hue.abs() <= 3.0, "cheek {cheek:?} hue turned {hue:.2}°");
        assert!(
            chroma_kept >= 0.8,
            "cheek {cheek:?} kept {:.0} % of its chroma",
            100.0 * chroma_kept
        );
        // The curve that drew chroma 8 % toward grey kept 82 % and 83 %
        // here (the grey cast); scaling chroma with luma keeps 97 %.
        assert!(
            relative_kept >= 0.9,
            "cheek {cheek:?} kept {:.0} % of its saturation (chroma / luma)",
            100.0 * relative_kept
        );
        // And it does not overshoot into an orange cast.
        assert!(
            chroma_kept <= 1.25,
            "cheek {cheek:?} chroma grew to {:.0} %",
            100.0 * chroma_kept
        );
    }
    assert_background_untouched(&plain, &white, "whitening");
    for (name, rect) in AWAY_FROM_FACE {
        for plane in Plane::ALL {
            let change = (mean_of(&white, plane, rect) - mean_of(&plain, plane, rect)).abs();
            eprintln!("whitening: {name} {plane:?} mean change {change:.3}");
            assert!(change <= 2.0, "{name} {plane:?} changed by {change:.2}");
        }
    }
}

#[test]
fn gpu_whitening_alone_matches_the_reference_within_two_levels() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    for whiteness in [1.0, 0.5] {
        let params = params(effect(whiteness, 0.0, 0.0, 0.0));
        let what = format!("whitening {whiteness}");
        assert_routes_match_reference(&mut pipeline, &frame, &params, &TONE_ROUTES, &what);
    }
}

#[test]
fn effects_match_the_reference_through_crop_and_mirror() {
    for (placement, route) in PLACEMENTS {
        let Some((gpu_out, cpu_out)) =
            cropped_and_mirrored(effect(1.0, 1.0, 1.0, 1.0), placement, route)
        else {
            return;
        };
        assert_mostly_within_two_levels(&gpu_out, &cpu_out, route);
    }
}

/// The tolerance of [`effects_match_the_reference_through_crop_and_mirror`].
fn assert_mostly_within_two_levels(
    gpu_out: &I420Frame,
    cpu_out: &I420Frame,
    case: impl std::fmt::Debug,
) {
    // The texture unit's bilinear filter rounds a little differently from the
    // reference's exact one (±1 on a fraction of pixels with geometry alone);
    // where the skin mask's colour term is steep, whitening and smoothing
    // amplify that on a handful of pixels at the skin's edge. So: ±2 on
    // 99.9 % of samples, never more than 8. Without resampling the two agree
    // within ±2 everywhere (the next test).
    let (mut within, mut total) = (0usize, 0usize);
    for plane in Plane::ALL {
        let (w, h) = gpu_out.plane_size(plane);
        for y in 0..h {
            for x in 0..w {
                total += 1;
                within += (gpu_out
                    .sample(plane, x, y)
                    .abs_diff(cpu_out.sample(plane, x, y))
                    <= 2) as usize;
            }
        }
    }
    let (worst, plane, x, y) = max_difference(gpu_out, cpu_out);
    assert!(
        worst <= 8,
        "differs by {worst} at {plane:?} ({x}, {y}) ({case:?})"
    );
    assert!(
        within as f64 >= 0.999 * total as f64,
        "only {within} of {total} samples within ±2 ({case:?})"
    );
}

#[test]
fn gpu_whitening_and_smoothing_match_the_reference_within_two_levels_without_resampling() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let params = params(effect(1.0, 1.0, 0.0, 0.0));
    let what = "whitening and smoothing";
    assert_routes_match_reference(&mut pipeline, &frame, &params, &SKIN_ROUTES, what);
}

#[test]
fn effects_laid_over_the_cpu_plain_frame_match_the_all_gpu_frame() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let size = OutputSize::new(288, 384).expect("size");
    let params = FrameParams {
        geometry: GeometryParams::new(1.4, true).expect("geometry"),
        effects: effect(1.0, 1.0, 1.0, 1.0),
        faces: vec![portrait_face()],
        ..Default::default()
    };
    let plan =
        GeometryPlan::new(frame.width(), frame.height(), size, params.geometry).expect("plan");
    assert_eq!(
        (plan.taps_x, plan.taps_y),
        (1, 1),
        "a case the CPU path takes"
    );
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    pipeline.set_placement(Placement::SHADERS);
    let all_gpu = pipeline.process(&frame, &params).expect("GPU");
    assert_eq!(pipeline.last_route(), Some(Route::Shader));
    // The warps in the GPU's tiles, laid over the CPU's frame: the same
    // samples as the GPU's own.
    pipeline.set_placement(SKIN_ON_CPU);
    let laid_over = pipeline.process(&frame, &params).expect("CPU + GPU");
    assert_eq!(
        pipeline.last_route(),
        Some(Route::CpuPlainGpuTiles { skin_on_cpu: true })
    );
    let (worst, plane, x, y) = max_difference(&laid_over, &all_gpu);
    assert!(
        worst <= 2,
        "the composed frame differs by {worst} at {plane:?} ({x}, {y})"
    );
    // The warps on the CPU: within a level of the GPU's before the skin
    // effects, which amplify that where the skin mask is steep, as they do
    // the GPU's own rounding (against the reference, the same tolerance).
    pipeline.set_placement(Placement::CPU_ASSISTS);
    let all_cpu = pipeline.process(&frame, &params).expect("CPU");
    assert_eq!(
        pipeline.last_route(),
        Some(Route::Cpu {
            warps: true,
            skin: true
        })
    );
    assert_mostly_within_two_levels(&all_cpu, &all_gpu, "all on the CPU against all on the GPU");
    // And the effects are there: the face changed, as on the GPU alone.
    let plain = pipeline
        .process(
            &frame,
            &FrameParams {
                effects: EffectParams::default(),
                ..params.clone()
            },
        )
        .expect("plain");
    assert_eq!(pipeline.last_route(), Some(Route::CpuPlain));
    assert!(mean_abs_difference(&laid_over, &plain, (100, 100, 200, 250)) > 1.0);
}

/// Mean of `plane` over the output rectangle `rect` (chroma planes at half
/// its coordinates).
fn mean_of(frame: &I420Frame, plane: Plane, (x0, y0, x1, y1): Rect) -> f64 {
    let (x0, y0, x1, y1) = match plane {
        Plane::Y => (x0, y0, x1, y1),
        _ => (x0 / 2, y0 / 2, x1 / 2, y1 / 2),
    };
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += frame.sample(plane, x, y) as f64;
        }
    }
    sum / ((x1 - x0) * (y1 - y0)) as f64
}

/// The effects of `effects` with ruddiness at `ruddiness`.
fn rosy(effects: EffectParams, ruddiness: f32) -> EffectParams {
    effects.with_ruddiness(ruddiness).expect("valid ruddiness")
}

#[test]
fn ruddiness_reddens_the_cheeks_keeps_their_luma_and_leaves_the_rest() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let red = run(&mut pipeline, &frame, rosy(EffectParams::default(), 1.0));
    for cheek in CHEEKS {
        let cr = mean_of(&red, Plane::V, cheek) - mean_of(&plain, Plane::V, cheek);
        let cb = mean_of(&red, Plane::U, cheek) - mean_of(&plain, Plane::U, cheek);
        let luma = mean_of(&red, Plane::Y, cheek) - mean_of(&plain, Plane::Y, cheek);
        eprintln!("ruddiness: cheek {cheek:?} Cr {cr:+.2}, Cb {cb:+.2}, luma {luma:+.2} levels");
        assert!(cr >= 4.0, "cheek {cheek:?} Cr rose by {cr:.2} levels");
        assert!(luma.abs() <= 3.0, "cheek {cheek:?} luma moved {luma:.2}");
    }
    // Luma is kept everywhere (the effect moves chroma only; ±1 for the
    // RGB stage's rounding).
    let worst_luma = (0..frame.height())
        .flat_map(|y| (0..frame.width()).map(move |x| (x, y)))
        .map(|(x, y)| {
            red.sample(Plane::Y, x, y)
                .abs_diff(plain.sample(Plane::Y, x, y))
        })
        .max()
        .unwrap_or(0);
    eprintln!("ruddiness: largest luma change anywhere {worst_luma}");
    assert!(worst_luma <= 1, "luma moved by {worst_luma}");
    for (name, rect) in AWAY_FROM_FACE {
        for plane in Plane::ALL {
            let change = (mean_of(&red, plane, rect) - mean_of(&plain, plane, rect)).abs();
            eprintln!("ruddiness: {name} {plane:?} mean change {change:.3}");
            assert!(change <= 2.0, "{name} {plane:?} changed by {change:.2}");
        }
    }
    assert_background_untouched(&plain, &red, "ruddiness");
}

#[test]
fn ruddiness_at_zero_changes_no_byte_on_any_route() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let all_four = effect(1.0, 1.0, 1.0, 1.0);
    assert_eq!(rosy(all_four, 0.0), all_four);
    for (placement, _) in PLACEMENTS {
        pipeline.set_placement(placement);
        let before = run(&mut pipeline, &frame, all_four);
        // Switched on and off again between frames, as `set_effects` does.
        let red = run(&mut pipeline, &frame, rosy(all_four, 1.0));
        assert_ne!(red, before, "{placement:?}: ruddiness did nothing");
        let after = run(&mut pipeline, &frame, rosy(all_four, 0.0));
        assert_eq!(after, before, "{placement:?}");
        let off = run(&mut pipeline, &frame, rosy(EffectParams::default(), 0.0));
        assert_eq!(off, plain, "{placement:?}");
    }
    let reference_off = reference::process(
        &frame,
        OutputSize::new(frame.width(), frame.height()).expect("size"),
        &params(rosy(EffectParams::default(), 0.0)),
    )
    .expect("reference");
    assert_eq!(reference_off.to_packed_bytes(), frame.to_packed_bytes());
}

#[test]
fn gpu_ruddiness_matches_the_reference_within_two_levels() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    // Ruddiness alone routes as whitening does; with whitening and
    // smoothing, as they do.
    for (effects, routes) in [
        (rosy(EffectParams::default(), 1.0), TONE_ROUTES),
        (rosy(effect(1.0, 1.0, 0.0, 0.0), 1.0), SKIN_ROUTES),
        (rosy(EffectParams::default(), 0.4), TONE_ROUTES),
    ] {
        let what = format!("ruddiness {effects:?}");
        assert_routes_match_reference(&mut pipeline, &frame, &params(effects), &routes, &what);
    }
}

#[test]
fn ruddiness_with_every_effect_matches_the_reference_through_crop_and_mirror() {
    for (placement, route) in PLACEMENTS {
        let Some((gpu_out, cpu_out)) =
            cropped_and_mirrored(rosy(effect(1.0, 1.0, 1.0, 1.0), 1.0), placement, route)
        else {
            return;
        };
        let (worst, ..) = max_difference(&gpu_out, &cpu_out);
        eprintln!("ruddiness, all effects, crop and mirror {route:?}: worst difference {worst}");
        assert_mostly_within_two_levels(&gpu_out, &cpu_out, route);
    }
}

/// Shape effects fade in when a face appears and out when it is lost:
/// landmarks given per frame (the portrait's face from frame 10 to 29, at
/// 30 fps) through [`FaceFade`], measured as the warp's displacement at a
/// jaw point (the plan's exact warp) and as the jaw's shift in the CPU
/// reference's picture.
#[test]
fn face_thinness_fades_in_and_out_instead_of_snapping() {
    const FIRST: u64 = 10;
    const LOST: u64 = 30;
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("even size");
    let mut track = LandmarkTrack::default();
    for index in FIRST..LOST {
        track.insert(index, vec![portrait_face()]);
    }
    let plan = GeometryPlan::new(
        frame.width(),
        frame.height(),
        size,
        GeometryParams::default(),
    )
    .expect("plan");
    // The contour point nearest the left jaw.
    let jaw = portrait_face()
        .contour_or_synthesised()
        .into_iter()
        .min_by(|a, b| {
            let d = |p: &[f32; 2]| (p[0] - 186.0).hypot(p[1] - 140.0);
            d(a).total_cmp(&d(b))
        })
        .expect("a contour");
    let mut fade = FaceFade::default();
    let plain = reference::process(&frame, size, &FrameParams::default()).expect("reference");
    let mut moved = Vec::new();
    for index in 0..LOST + 12 {
        let faces = track.faces(index).to_vec();
        let time = Duration::from_nanos(index * 1_000_000_000 / 30);
        let params = FrameParams {
            effects: effect(0.0, 0.0, 1.0, 0.0),
            face_weights: fade.update(&faces, time),
            faces,
            ..Default::default()
        };
        let q = params.effect_plan(&plan).warp(jaw);
        let displacement = (q[0] - jaw[0]).hypot(q[1] - jaw[1]);
        // The picture, around the fade-in and the fade-out.
        let shift = if (FIRST - 1..=FIRST + 10).contains(&index)
            || (LOST - 1..=LOST + 9).contains(&index)
        {
            let out = reference::process(&frame, size, &params).expect("reference");
            if index == FIRST - 1 {
                assert_eq!(out, plain, "no face yet, nothing moves");
            }
            // With the effects at 0 the fade changes no byte.
            let zero = FrameParams {
                effects: EffectParams::default(),
                ..params.clone()
            };
            if index == FIRST + 4 || index == LOST + 4 {
                let untouched = reference::process(&frame, size, &zero).expect("reference");
                assert_eq!(untouched, plain, "frame {index} at strength 0");
            }
            Some(horizontal_shift(&plain, &out, (172, 128, 200, 152)))
        } else {
            None
        };
        eprintln!("frame {index}: jaw displacement {displacement:.3} px, picture shift {shift:?}");
        moved.push((displacement, shift));
    }
    let full = moved[(FIRST + 15) as usize].0;
    assert!(full > 1.0, "full thinning moves the jaw {full} px");
    // Before the face, nothing; on its first frame, nothing yet.
    assert!(moved[..=FIRST as usize].iter().all(|m| m.0 == 0.0));
    // Then it grows frame by frame, over about 9 frames (0.3 s), to full.
    let rise: Vec<f32> = moved[FIRST as usize..=(FIRST + 10) as usize]
        .iter()
        .map(|m| m.0)
        .collect();
    for pair in rise.windows(2) {
        assert!(pair[1] > pair[0] || pair[1] == full, "{rise:?}");
        assert!(pair[1] - pair[0] <= 0.2 * full, "a jump: {rise:?}");
    }
    let reached = rise.iter().position(|&d| (d - full).abs() < 1e-3 * full);
    assert!(
        reached.is_some_and(|frames| (8..=10).contains(&frames)),
        "full after {reached:?} frames: {rise:?}"
    );
    // Lost: the last landmarks fade out over about 9 frames, then nothing.
    let fall: Vec<f32> = moved[(LOST - 1) as usize..].iter().map(|m| m.0).collect();
    for pair in fall.windows(2) {
        assert!(pair[1] < pair[0] || pair[1] == 0.0, "{fall:?}");
        assert!(pair[0] - pair[1] <= 0.2 * full, "a drop: {fall:?}");
    }
    let gone = fall.iter().position(|&d| d == 0.0);
    assert!(
        gone.is_some_and(|frames| (8..=10).contains(&frames)),
        "gone after {gone:?} frames: {fall:?}"
    );
    // The picture follows: the jaw's shift grows with the weight.
    let shifts: Vec<f32> = moved[FIRST as usize..=(FIRST + 10) as usize]
        .iter()
        .filter_map(|m| m.1)
        .collect();
    assert_eq!(shifts[0], 0.0, "{shifts:?}");
    assert!(shifts[3] > 0.0 && shifts[3] < shifts[10], "{shifts:?}");
    for pair in shifts.windows(2) {
        assert!(pair[1] >= pair[0], "{shifts:?}");
    }
}

/// Around the eyes (with the brows' lower edge), in the portrait's pixels.
const EYES: [Rect; 2] = [(194, 92, 215, 110), (236, 93, 257, 111)];

/// The effects of `effects` with sharpness at `sharpness`.
fn sharp(effects: EffectParams, sharpness: f32) -> EffectParams {
    effects.with_sharpness(sharpness).expect("valid sharpness")
}

/// The routes of sharpness alone (or the colour filter): the shaders'
/// finishing pass, or the CPU's after its plain frame.
const FINISH_ROUTES: [(Placement, Route); 3] = [
    (Placement::SHADERS, Route::Shader),
    (PLAIN_ON_CPU, Route::CpuPlain),
    (Placement::CPU_ASSISTS, Route::CpuPlain),
];

#[test]
fn sharpness_sharpens_the_eyes_and_leaves_the_cheeks_and_background() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    for (placement, _) in FINISH_ROUTES {
        pipeline.set_placement(placement);
        let sharpened = run(&mut pipeline, &frame, sharp(EffectParams::default(), 1.0));
        for eye in EYES {
            let gain = gradient_energy(&sharpened, eye) / gradient_energy(&plain, eye) - 1.0;
            eprintln!(
                "sharpness 1 {placement:?}: eye {eye:?} gradient energy {:+.1} %",
                gain * 100.0
            );
            assert!(
                gain >= 0.30,
                "eye {eye:?} gradient energy rose {:.1} %",
                gain * 100.0
            );
        }
        for cheek in CHEEKS {
            let gain = high_frequency_energy(&sharpened, cheek)
                / high_frequency_energy(&plain, cheek)
                - 1.0;
            eprintln!(
                "sharpness 1 {placement:?}: cheek {cheek:?} high-frequency energy {:+.1} %",
                gain * 100.0
            );
            assert!(
                gain <= 0.10,
                "cheek {cheek:?} high frequencies rose {:.1} %",
                gain * 100.0
            );
        }
        assert_background_untouched(&plain, &sharpened, "sharpness");
    }
}

#[test]
fn sharpness_at_zero_changes_no_byte_on_any_route() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let all_four = rosy(effect(1.0, 1.0, 1.0, 1.0), 1.0);
    assert_eq!(sharp(all_four, 0.0), all_four);
    for (placement, _) in PLACEMENTS {
        pipeline.set_placement(placement);
        let before = run(&mut pipeline, &frame, all_four);
        // Switched on and off again between frames, as `set_effects` does.
        let sharpened = run(&mut pipeline, &frame, sharp(all_four, 1.0));
        assert_ne!(sharpened, before, "{placement:?}: sharpness did nothing");
        let after = run(&mut pipeline, &frame, sharp(all_four, 0.0));
        assert_eq!(after, before, "{placement:?}");
        let off = run(&mut pipeline, &frame, sharp(EffectParams::default(), 0.0));
        assert_eq!(off, plain, "{placement:?}");
    }
}

#[test]
fn gpu_sharpness_matches_the_reference_within_two_levels() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    assert_routes_match_reference(
        &mut pipeline,
        &frame,
        &params(sharp(EffectParams::default(), 1.0)),
        &FINISH_ROUTES,
        "sharpness 1",
    );
    assert_routes_match_reference(
        &mut pipeline,
        &frame,
        &params(sharp(EffectParams::default(), 0.35)),
        &FINISH_ROUTES,
        "sharpness 0.35",
    );
    // With the skin effects; with the warps too, whose resampling differs
    // from the reference's by a level here and there, which the unsharp
    // mask amplifies on a few pixels (so: mostly within two levels).
    let skin = sharp(rosy(effect(1.0, 1.0, 0.0, 0.0), 1.0), 1.0);
    assert_routes_match_reference(
        &mut pipeline,
        &frame,
        &params(skin),
        &SKIN_ROUTES,
        "sharpness with the skin effects",
    );
    let every = sharp(rosy(effect(1.0, 1.0, 1.0, 1.0), 1.0), 1.0);
    assert_every_effect_mostly_matches(&mut pipeline, &frame, &params(every));
}

/// `params` (every effect) on each of [`PLACEMENTS`] against the reference,
/// with the tolerance of resampled warps ([`assert_mostly_within_two_levels`]).
fn assert_every_effect_mostly_matches(
    pipeline: &mut FramePipeline,
    frame: &I420Frame,
    params: &FrameParams,
) {
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let cpu_out = reference::process(frame, size, params).expect("reference");
    for (placement, route) in PLACEMENTS {
        pipeline.set_placement(placement);
        let gpu_out = pipeline.process(frame, params).expect("GPU");
        assert_eq!(pipeline.last_route(), Some(route));
        let (worst, ..) = max_difference(&gpu_out, &cpu_out);
        eprintln!("every effect {route:?}: worst difference {worst}");
        assert_mostly_within_two_levels(&gpu_out, &cpu_out, route);
    }
}

/// A look-up table of `assets/luts/` (`scripts/make_luts.py` writes them).
fn look(name: &str) -> Arc<Lut> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/luts/{name}.png"));
    Arc::new(Lut::open(&path).unwrap_or_else(|e| panic!("{e}; run scripts/make_luts.py")))
}

/// The portrait's parameters with `effects` and the colour filter `lut`
/// at `strength`.
fn filtered(effects: EffectParams, lut: &Arc<Lut>, strength: f32) -> FrameParams {
    FrameParams {
        filter: Some(Arc::clone(lut)),
        ..params(
            effects
                .with_filter_strength(strength)
                .expect("valid strength"),
        )
    }
}

#[test]
fn identity_filter_gives_the_unfiltered_frame_within_one_level() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let identity = look("identity");
    for (placement, route) in FINISH_ROUTES {
        pipeline.set_placement(placement);
        let out = pipeline
            .process(&frame, &filtered(EffectParams::default(), &identity, 1.0))
            .expect("GPU");
        assert_eq!(pipeline.last_route(), Some(route));
        let (worst, plane, x, y) = max_difference(&out, &plain);
        eprintln!("identity filter {route:?}: worst difference {worst}");
        assert!(
            worst <= 1,
            "identity filter moved {plane:?} ({x}, {y}) by {worst} ({route:?})"
        );
    }
}

#[test]
fn sepia_filter_matches_the_reference_and_strength_zero_changes_no_byte() {
    let Some((mut pipeline, frame, plain)) = setup() else {
        return;
    };
    let sepia = look("sepia");
    let size = OutputSize::new(frame.width(), frame.height()).expect("size");
    let toned = reference::process(
        &frame,
        size,
        &filtered(EffectParams::default(), &sepia, 1.0),
    )
    .expect("reference");
    // Sepia: the flag's red and blue turn brown, chroma near one hue.
    let flag = (5, 10, 60, 140);
    let (u, v) = (
        mean_of(&toned, Plane::U, flag),
        mean_of(&toned, Plane::V, flag),
    );
    eprintln!("sepia: flag mean Cb {u:.1}, Cr {v:.1}");
    assert!(
        u < 128.0 && v > 128.0,
        "flag not brownish: Cb {u:.1}, Cr {v:.1}"
    );
    for (effects, routes, what) in [
        (EffectParams::default(), &FINISH_ROUTES[..], "sepia"),
        (
            sharp(rosy(effect(1.0, 1.0, 0.0, 0.0), 1.0), 1.0),
            &SKIN_ROUTES[..],
            "sepia with the skin effects and sharpness",
        ),
    ] {
        assert_routes_match_reference(
            &mut pipeline,
            &frame,
            &filtered(effects, &sepia, 1.0),
            routes,
            what,
        );
    }
    // Every other effect (the warps' few differing pixels are amplified
    // by sharpness and then by sepia's contrast past the tolerance: the
    // pair is checked without warps above).
    let every = rosy(effect(1.0, 1.0, 1.0, 1.0), 1.0);
    assert_every_effect_mostly_matches(&mut pipeline, &frame, &filtered(every, &sepia, 1.0));
    let half = filtered(EffectParams::default(), &sepia, 0.5);
    assert_routes_match_reference(&mut pipeline, &frame, &half, &FINISH_ROUTES, "sepia at 0.5");
    for (placement, _) in PLACEMENTS {
        pipeline.set_placement(placement);
        let off = pipeline
            .process(&frame, &filtered(EffectParams::default(), &sepia, 0.0))
            .expect("GPU");
        assert_eq!(off, plain, "{placement:?}: filter strength 0 changed bytes");
    }
}
