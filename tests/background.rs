//! Background blur and replace on the astronaut portrait that
//! `scripts/setup.sh` places at `assets/photos/astronaut.png`, behind the
//! mask the segmenter finds on it (models from `assets/models/`), measured
//! with plain image statistics: the CPU reference
//! (`liveroom::effects::apply_background`) and the GPU pass
//! (`liveroom::pipeline::BackgroundPass`).

mod common;

use std::path::Path;

use common::{gpu, high_frequency_energy, max_difference};
use liveroom::color::rgb_image_to_i420;
use liveroom::effects::{apply_background, cover, Background};
use liveroom::face::{PersonMask, PersonSegmenter, SegmentationPaths};
use liveroom::frame::{I420Frame, Plane};
use liveroom::pipeline::BackgroundPass;

/// A rectangle `(x0, y0, x1, y1)`, exclusive ends.
type Rect = (u32, u32, u32, u32);

/// Backdrop well away from the person (the mask's feathered edge).
const BACKGROUND: [(&str, Rect); 3] = [
    ("wall", (300, 10, 350, 60)),
    ("flag", (5, 10, 55, 140)),
    ("shuttle model", (385, 30, 440, 200)),
];
/// The face, brows to chin, cheek to cheek (its outline, next to the
/// backdrop, is the mask's feathered edge).
const FACE: Rect = (192, 80, 252, 158);

fn portrait() -> I420Frame {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    let image = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", path.display()))
        .to_rgb8();
    rgb_image_to_i420(&image).expect("portrait converts")
}

/// The steadied mask of the portrait.
fn portrait_mask(frame: &I420Frame) -> PersonMask {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    let paths = SegmentationPaths::in_dir(&dir);
    assert!(
        paths.square.exists(),
        "{} missing: run scripts/setup.sh",
        paths.square.display()
    );
    let mut segmenter = PersonSegmenter::new(&paths).expect("segmentation models load");
    segmenter.mask(frame).expect("inference")
}

/// The largest change of any sample of any plane inside `rect` (luma
/// pixels).
fn max_change(a: &I420Frame, b: &I420Frame, (x0, y0, x1, y1): Rect) -> u8 {
    let mut most = (0, Plane::Y, 0, 0);
    for plane in Plane::ALL {
        let s = if plane == Plane::Y { 1 } else { 2 };
        for y in y0 / s..y1 / s {
            for x in x0 / s..x1 / s {
                let d = a.sample(plane, x, y).abs_diff(b.sample(plane, x, y));
                if d > most.0 {
                    most = (d, plane, x, y);
                }
            }
        }
    }
    if most.0 > 2 {
        eprintln!(
            "  largest change {} at {:?} {},{}",
            most.0, most.1, most.2, most.3
        );
    }
    most.0
}

fn blurred(frame: &I420Frame, mask: &PersonMask, blur: f32) -> I420Frame {
    apply_background(frame, mask, &Background { blur, image: None }).expect("reference")
}

/// The fraction of the background's high-frequency energy a blur removes,
/// its least over the backdrop's rectangles.
fn least_loss(frame: &I420Frame, after: &I420Frame) -> f64 {
    BACKGROUND
        .iter()
        .map(|(name, rect)| {
            let loss =
                1.0 - high_frequency_energy(after, *rect) / high_frequency_energy(frame, *rect);
            eprintln!(
                "  {name}: {:.1} % of the high-frequency energy gone",
                100.0 * loss
            );
            loss
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn blur_at_one_smooths_the_backdrop_and_keeps_the_face() {
    let frame = portrait();
    let mask = portrait_mask(&frame);
    let after = blurred(&frame, &mask, 1.0);
    let loss = least_loss(&frame, &after);
    let face = max_change(&frame, &after, FACE);
    eprintln!(
        "blur 1: backdrop loses at least {:.1} %, the face changes by {face} levels at most",
        100.0 * loss
    );
    assert!(loss >= 0.7, "backdrop lost only {:.1} %", 100.0 * loss);
    assert!(face <= 2, "the face changed by {face} levels");
}

#[test]
fn blur_strength_scales_the_blur() {
    let frame = portrait();
    let mask = portrait_mask(&frame);
    let mut last = 0.0;
    for blur in [0.1, 0.3, 0.6, 1.0] {
        eprintln!("blur {blur}:");
        let loss = least_loss(&frame, &blurred(&frame, &mask, blur));
        assert!(
            loss > last,
            "blur {blur} removes {loss}, not more than {last}"
        );
        last = loss;
    }
}

#[test]
fn blur_zero_changes_no_byte() {
    let frame = portrait();
    let mask = portrait_mask(&frame);
    let after = blurred(&frame, &mask, 0.0);
    assert_eq!(after.to_packed_bytes(), frame.to_packed_bytes());
    let Some(gpu) = gpu() else { return };
    let mut pass = BackgroundPass::new(&gpu).expect("pass compiles");
    let after = pass.process(&frame, &mask, 0.0).expect("GPU pass");
    assert_eq!(after.to_packed_bytes(), frame.to_packed_bytes());
}

/// A picture unlike the portrait: a colour gradient with stripes, wider
/// than the frame (so cover crops its sides).
fn replacement() -> image::RgbImage {
    image::RgbImage::from_fn(900, 500, |x, y| {
        let stripe = if (x / 30) % 2 == 0 { 40 } else { 0 };
        image::Rgb([(x / 4) as u8, (y / 2) as u8, 150 + stripe])
    })
}

#[test]
fn replace_shows_the_picture_behind_the_person() {
    let frame = portrait();
    let mask = portrait_mask(&frame);
    let picture = cover(&replacement(), frame.width(), frame.height()).expect("cover");
    let after = apply_background(
        &frame,
        &mask,
        &Background {
            blur: 0.0,
            image: Some(&picture),
        },
    )
    .expect("reference");
    for (name, rect) in BACKGROUND {
        let change = max_change(&picture, &after, rect);
        eprintln!("replace: {name} differs from the picture by {change} levels at most");
        assert!(change <= 2, "{name}: {change}");
    }
    let face = max_change(&frame, &after, FACE);
    assert!(face <= 2, "the face changed by {face} levels");
}

#[test]
fn the_gpu_pass_matches_the_reference_within_two_levels() {
    let Some(gpu) = gpu() else { return };
    let frame = portrait();
    let mask = portrait_mask(&frame);
    let picture = cover(&replacement(), frame.width(), frame.height()).expect("cover");
    let mut pass = BackgroundPass::new(&gpu).expect("pass compiles");
    for (blur, image) in [
        (0.3, None),
        (1.0, None),
        (0.0, Some(&picture)),
        (0.5, Some(&picture)),
    ] {
        pass.set_picture(image);
        let on_gpu = pass.process(&frame, &mask, blur).expect("GPU pass");
        let reference =
            apply_background(&frame, &mask, &Background { blur, image }).expect("reference");
        let (most, plane, x, y) = max_difference(&on_gpu, &reference);
        eprintln!(
            "blur {blur}, picture {}: GPU vs reference at most {most} levels ({plane:?} at {x},{y})",
            image.is_some()
        );
        assert!(most <= 2, "{most} levels at {plane:?} {x},{y}");
    }
}

#[test]
fn reference_time_on_a_720_by_1280_frame() {
    let portrait =
        image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png"))
            .expect("portrait")
            .to_rgb8();
    let big = image::imageops::resize(&portrait, 720, 1280, image::imageops::FilterType::Triangle);
    let frame = rgb_image_to_i420(&big).expect("frame");
    let mask = portrait_mask(&frame);
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let _ = blurred(&frame, &mask, 1.0);
    }
    eprintln!(
        "CPU reference, blur 1 on 720x1280: {:.1} ms a frame",
        started.elapsed().as_secs_f64() * 200.0
    );
}
