//! Background effects turned on and off while a `LivePusher` runs: a push
//! of the astronaut portrait (placed by `scripts/setup.sh`, segmentation
//! models from `assets/models/`) to an FLV file starts with no background
//! effect; `set_effects` turns the blur to 1 after a few frames and back to
//! 0 later, then `set_background_image` puts a picture behind the person.
//! The pushed frames (from the frame tap, and FFmpeg's decode of the file)
//! are measured against a plain push of the same picture. Then, with the
//! models missing, turning the blur on raises warning 1120 and the push
//! goes on unchanged.
//!
//! One test function: the last part points `LIVEROOM_MODELS` elsewhere,
//! which the process shares.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use common::{ffmpeg_decode, high_frequency_energy, scratch_dir};
use liveroom::effects::EffectParams;
use liveroom::frame::{I420Frame, Plane};
use liveroom::geometry::{Aspect, Mode};
use liveroom::pusher::{FaceInput, FrameTap, LivePusher, PusherConfig, PusherEvent};
use liveroom::source::{FrameRate, FrameSource, StillImage, Y4mReader};

/// A rectangle `(x0, y0, x1, y1)`, exclusive ends.
type Rect = (u32, u32, u32, u32);

/// Frames pushed in each run.
const FRAMES: u64 = 30;
/// The tap's frame after which the blur goes to 1, then back to 0, then
/// the picture is set.
const BLUR_ON: u64 = 4;
const BLUR_OFF: u64 = 12;
const PICTURE_ON: u64 = 20;
/// Frames a command takes to show: it is applied after the tap's frame and
/// the one already on the GPU, and the landmarker holds two more ahead
/// (an unpaced push).
const SETTLE: u64 = 4;

fn portrait() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    assert!(path.exists(), "{}: run scripts/setup.sh", path.display());
    path
}

fn config(flv: &Path) -> PusherConfig {
    PusherConfig {
        mode: Mode::Sd,
        aspect: Aspect::ThreeByFour,
        max_frames: Some(FRAMES),
        flv_output: Some(flv.to_path_buf()),
        zero_latency: Some(true),
        ..PusherConfig::default()
    }
}

/// The portrait's middle 3:4 fills the output: the shuttle model on the
/// right (backdrop), the face near the top middle.
fn regions(frame: &I420Frame) -> (Rect, Rect) {
    let (w, h) = (frame.width(), frame.height());
    (
        (w * 85 / 100, h * 6 / 100, w * 97 / 100, h * 37 / 100),
        (w * 33 / 100, h * 17 / 100, w * 49 / 100, h * 30 / 100),
    )
}

/// The largest luma change inside `rect`.
fn max_luma_change(a: &I420Frame, b: &I420Frame, (x0, y0, x1, y1): Rect) -> u8 {
    let mut most = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            most = most.max(a.sample(Plane::Y, x, y).abs_diff(b.sample(Plane::Y, x, y)));
        }
    }
    most
}

/// Mean U + V inside `rect` (low for green).
fn mean_chroma(frame: &I420Frame, (x0, y0, x1, y1): Rect) -> f64 {
    let mut sum = 0.0;
    for y in y0 / 2..y1 / 2 {
        for x in x0 / 2..x1 / 2 {
            sum +=
                f64::from(frame.sample(Plane::U, x, y)) + f64::from(frame.sample(Plane::V, x, y));
        }
    }
    sum / f64::from((x1 / 2 - x0 / 2) * (y1 / 2 - y0 / 2))
}

/// A tap that keeps every frame and, at the frames in `stops`, tells the
/// test and waits for its go-ahead (so commands land at known frames).
fn tap(
    stops: &'static [u64],
) -> (
    FrameTap,
    Receiver<Vec<I420Frame>>,
    Receiver<u64>,
    Sender<()>,
) {
    let (frames_out, frames_in) = mpsc::channel();
    let (reached_out, reached_in) = mpsc::channel();
    let (go_out, go_in) = mpsc::channel::<()>();
    let mut kept = Vec::new();
    let tap: FrameTap = Box::new(move |index, frame, _faces| {
        kept.push(frame.clone());
        if stops.contains(&index) {
            reached_out.send(index).map_err(|e| e.to_string())?;
            go_in
                .recv_timeout(Duration::from_secs(60))
                .map_err(|e| format!("no go-ahead: {e}"))?;
        }
        if index + 1 == FRAMES {
            frames_out
                .send(std::mem::take(&mut kept))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    (tap, frames_in, reached_in, go_out)
}

fn still() -> Box<dyn FrameSource> {
    Box::new(StillImage::open(&portrait(), FrameRate { num: 30, den: 1 }).expect("portrait opens"))
}

fn decoded(flv: &Path) -> Vec<I420Frame> {
    let y4m = flv.with_extension("y4m");
    ffmpeg_decode(flv, &y4m);
    let mut reader = Y4mReader::open(&y4m).expect("readable y4m");
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().expect("valid frame") {
        frames.push(frame);
    }
    frames
}

/// The warnings the push raised.
fn warnings(events: Receiver<PusherEvent>) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            PusherEvent::Push(push) if push.code.is_warning() => {
                Some(format!("{} {}", push.code.code(), push.message))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn background_effects_turn_on_and_off_mid_push() {
    let Some(gpu) = common::gpu() else { return };
    let dir = scratch_dir("background-mid-push");

    // The plain push.
    let plain_flv = dir.join("plain.flv");
    let (plain_tap, plain_frames, _, _) = tap(&[]);
    let mut pusher = LivePusher::start(
        config(&plain_flv),
        gpu.clone(),
        still(),
        FaceInput::Builtin,
        Some(plain_tap),
    )
    .expect("plain push starts");
    let plain_events = pusher.events().expect("events");
    pusher.wait().expect("plain push ends");
    let plain = plain_frames.recv().expect("plain frames");
    assert_eq!(plain.len() as u64, FRAMES);
    assert!(warnings(plain_events).is_empty());

    // The push whose effects change.
    let flv = dir.join("changed.flv");
    let green = dir.join("green.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([20, 200, 40]))
        .save(&green)
        .expect("write picture");
    let (changed_tap, changed_frames, reached, go) = tap(&[BLUR_ON, BLUR_OFF, PICTURE_ON]);
    let mut pusher = LivePusher::start(
        config(&flv),
        gpu.clone(),
        still(),
        FaceInput::Builtin,
        Some(changed_tap),
    )
    .expect("push starts");
    let events = pusher.events().expect("events");
    let blur = |x| {
        EffectParams::default()
            .with_background_blur(x)
            .expect("blur")
    };
    for (stop, what) in [
        (BLUR_ON, "blur 1"),
        (BLUR_OFF, "blur 0"),
        (PICTURE_ON, "picture"),
    ] {
        assert_eq!(reached.recv().expect("tap reached"), stop);
        match what {
            "blur 1" => pusher.set_effects(blur(1.0)).expect("set_effects"),
            "blur 0" => pusher.set_effects(blur(0.0)).expect("set_effects"),
            _ => pusher
                .set_background_image(Some(&green))
                .expect("set_background_image"),
        }
        go.send(()).expect("go");
    }
    pusher.wait().expect("push ends");
    let changed = changed_frames.recv().expect("frames");
    assert_eq!(changed.len() as u64, FRAMES);
    assert!(warnings(events).is_empty());

    let (backdrop, face) = regions(&plain[0]);
    let sharp = high_frequency_energy(&plain[0], backdrop);
    for index in 0..FRAMES as usize {
        let i = index as u64;
        let frame = &changed[index];
        let same = frame.to_packed_bytes() == plain[index].to_packed_bytes();
        let kept = high_frequency_energy(frame, backdrop) / sharp;
        eprintln!("frame {index}: backdrop keeps {:.1} % of its high-frequency energy, same as plain: {same}", 100.0 * kept);
        if i <= BLUR_ON + 1 || (BLUR_OFF + SETTLE..PICTURE_ON + 2).contains(&i) {
            assert!(same, "frame {index} differs from the plain push");
        }
        if (BLUR_ON + SETTLE..=BLUR_OFF + 1).contains(&i) {
            assert!(kept <= 0.3, "frame {index}: backdrop keeps {kept}");
            let change = max_luma_change(frame, &plain[index], face);
            assert!(change <= 2, "frame {index}: the face changed by {change}");
        }
        if i >= PICTURE_ON + SETTLE {
            let (before, after) = (
                mean_chroma(&plain[index], backdrop),
                mean_chroma(frame, backdrop),
            );
            assert!(
                after < before - 40.0,
                "frame {index}: U+V {before} → {after}"
            );
            let change = max_luma_change(frame, &plain[index], face);
            assert!(change <= 2, "frame {index}: the face changed by {change}");
        }
    }

    // The file, as FFmpeg decodes it.
    let (plain_file, changed_file) = (decoded(&plain_flv), decoded(&flv));
    assert_eq!(changed_file.len() as u64, FRAMES);
    let blurred = (BLUR_ON + SETTLE + 2) as usize;
    let kept = high_frequency_energy(&changed_file[blurred], backdrop)
        / high_frequency_energy(&plain_file[blurred], backdrop);
    eprintln!(
        "decoded frame {blurred}: backdrop keeps {:.1} % of its high-frequency energy",
        100.0 * kept
    );
    assert!(kept <= 0.3, "decoded: backdrop keeps {kept}");
    let restored = (PICTURE_ON + 1) as usize;
    let back = high_frequency_energy(&changed_file[restored], backdrop)
        / high_frequency_energy(&plain_file[restored], backdrop);
    eprintln!(
        "decoded frame {restored}: backdrop back at {:.1} % of its high-frequency energy",
        100.0 * back
    );
    assert!(back >= 0.7, "decoded: the backdrop stayed blurred ({back})");

    // Models missing: blur on mid-push is warning 1120, and the push goes
    // on with the frames unchanged.
    std::env::set_var("LIVEROOM_MODELS", dir.join("no-models"));
    let missing_flv = dir.join("missing.flv");
    let (missing_tap, missing_frames, reached, go) = tap(&[BLUR_ON]);
    let mut pusher = LivePusher::start(
        config(&missing_flv),
        gpu,
        still(),
        FaceInput::None,
        Some(missing_tap),
    )
    .expect("push starts without models");
    let events = pusher.events().expect("events");
    assert_eq!(reached.recv().expect("tap reached"), BLUR_ON);
    pusher.set_effects(blur(1.0)).expect("set_effects");
    go.send(()).expect("go");
    pusher.wait().expect("the push goes on");
    std::env::remove_var("LIVEROOM_MODELS");
    let missing = missing_frames.recv().expect("frames");
    for (index, frame) in missing.iter().enumerate() {
        assert_eq!(
            frame.to_packed_bytes(),
            plain[index].to_packed_bytes(),
            "frame {index}"
        );
    }
    let warned = warnings(events);
    eprintln!("warnings: {warned:?}");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("1120 ") && warned[0].contains("segmentation model"),
        "{warned:?}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
