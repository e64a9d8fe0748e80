//! Tier 4: the `pusher` example as users and outside tools run it.
//!
//! * Its output matches FFmpeg's own crop/hflip/scale of the same clip.
//! * Bad values give one clear line on stderr and a non-zero exit, never a panic.
//!
//! Needs `ffmpeg` (installed by `scripts/setup.sh`) and the example binary,
//! which `cargo test` builds alongside the tests.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{ffmpeg, high_frequency_energy, liveroom, luma_psnr, scratch_dir};
use liveroom::frame::{I420Frame, Plane};
use liveroom::source::{FrameSource, Y4mReader};

fn read_all(path: &Path) -> Vec<I420Frame> {
    let mut reader = Y4mReader::open(path).expect("readable y4m");
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().expect("valid frame") {
        frames.push(frame);
    }
    frames
}

/// Runs the pusher; a run that has not ended after two minutes is killed
/// and fails the test (a hang must not stall CI).
fn run_pusher(args: &[&str]) -> Output {
    common::run_pusher(args, Duration::from_secs(120))
}

#[test]
fn fhd_vertical_mirror_matches_ffmpeg_crop_hflip_scale() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("ffmpeg-match");
    let clip = dir.join("clip.y4m");
    // A detailed moving 1280×720 clip that is not ours: FFmpeg's testsrc2.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=30",
        "-frames:v",
        "30",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().expect("utf-8 path"),
    ]);
    let ours = dir.join("ours.y4m");
    let output = run_pusher(&[
        "--input",
        clip.to_str().expect("utf-8 path"),
        "--frames",
        "30",
        "--mode",
        "fhd",
        "--aspect",
        "9:16",
        "--mirror",
        "--output",
        ours.to_str().expect("utf-8 path"),
    ]);
    assert!(
        output.status.success(),
        "pusher failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference = dir.join("ffmpeg.y4m");
    let unmirrored = dir.join("ffmpeg-unmirrored.y4m");
    for (filter, path) in [
        (
            "crop=405:720:437:0,hflip,scale=720:1280:flags=bilinear",
            &reference,
        ),
        (
            "crop=405:720:437:0,scale=720:1280:flags=bilinear",
            &unmirrored,
        ),
    ] {
        ffmpeg(&[
            "-i",
            clip.to_str().expect("utf-8 path"),
            "-vf",
            filter,
            "-pix_fmt",
            "yuv420p",
            path.to_str().expect("utf-8 path"),
        ]);
    }
    let (ours, reference, unmirrored) =
        (read_all(&ours), read_all(&reference), read_all(&unmirrored));
    assert_eq!(ours.len(), 30, "frames written");
    assert_eq!(reference.len(), 30, "frames from ffmpeg");
    assert_eq!((ours[0].width(), ours[0].height()), (720, 1280));
    let mut worst = f64::INFINITY;
    for (index, ((a, b), c)) in ours.iter().zip(&reference).zip(&unmirrored).enumerate() {
        let psnr = luma_psnr(a, b);
        let wrong_way = luma_psnr(a, c);
        worst = worst.min(psnr);
        // The issue asks for 30 dB; we match FFmpeg's bilinear to rounding (~75 dB).
        assert!(psnr >= 40.0, "frame {index}: {psnr:.2} dB against FFmpeg");
        assert!(
            wrong_way < psnr - 10.0,
            "frame {index}: the unmirrored picture matches too well ({wrong_way:.2} dB vs {psnr:.2} dB)"
        );
    }
    eprintln!("worst luma PSNR against FFmpeg: {worst:.2} dB");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn testsrc_stamps_survive_the_pipeline() {
    if common::gpu().is_none() {
        return;
    }
    let output = run_pusher(&["--frames", "5", "--mode", "sd", "--mirror", "--zoom", "1.5"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pusher failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(line).expect("JSON summary");
    assert_eq!(summary["tag"], "summary", "{summary}");
    assert_eq!(summary["stampsVerified"], 5, "{summary}");
    assert_eq!(
        (summary["width"].as_u64(), summary["height"].as_u64()),
        (Some(360), Some(640))
    );
    assert_eq!(summary["framesEncoded"], 5, "{summary}");
}

#[test]
fn effects_run_from_the_command_line_with_landmarks() {
    if common::gpu().is_none() {
        return;
    }
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    assert!(
        photo.exists(),
        "{} missing: run scripts/setup.sh",
        photo.display()
    );
    let dir = scratch_dir("effects-cli");
    let faces = dir.join("faces.jsonl");
    let line = "{\"frame\":0,\"faces\":[{\"box\":[183,85,81,93],\"left_eye\":[204,101],\"right_eye\":[246,102.5]}]}";
    std::fs::write(
        &faces,
        format!("{line}\n{}\n", line.replace("\"frame\":0", "\"frame\":1")),
    )
    .expect("write");
    let (plain, beautified) = (dir.join("plain.y4m"), dir.join("beautified.y4m"));
    let rosy = dir.join("rosy.y4m");
    let (sharp, sepia) = (dir.join("sharp.y4m"), dir.join("sepia.y4m"));
    let sepia_lut = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/luts/sepia.png");
    let sepia_lut = sepia_lut.to_str().expect("utf-8");
    for (out, effects) in [
        (&rosy, vec!["--ruddiness", "1"]),
        (&sharp, vec!["--sharpness", "1"]),
        (
            &sepia,
            vec!["--filter", sepia_lut, "--filter-strength", "1"],
        ),
        (&plain, vec![]),
        (
            &beautified,
            vec![
                "--skin-whiteness",
                "0.8",
                "--skin-smoothness",
                "0.8",
                "--face-thinness",
                "0.5",
                "--eye-bigness",
                "0.5",
            ],
        ),
    ] {
        let mut args = vec![
            "--input",
            photo.to_str().expect("utf-8"),
            "--frames",
            "2",
            "--mode",
            "sd",
            "--aspect",
            "3:4",
            "--landmarks",
            faces.to_str().expect("utf-8"),
            "--output",
            out.to_str().expect("utf-8"),
        ];
        args.extend(effects);
        let output = run_pusher(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (plain, beautified, rosy) = (read_all(&plain), read_all(&beautified), read_all(&rosy));
    assert_eq!((plain.len(), beautified.len(), rosy.len()), (2, 2, 2));
    let (sharp, sepia) = (read_all(&sharp), read_all(&sepia));
    assert_eq!((sharp.len(), sepia.len()), (2, 2));
    // Sharpness: luma changes near the face, the top corners (wall) stay;
    // chroma is untouched.
    assert_ne!(sharp[0].plane(Plane::Y), plain[0].plane(Plane::Y));
    assert_eq!(sharp[0].plane(Plane::U), plain[0].plane(Plane::U));
    for (x, y) in [(5, 5), (350, 5)] {
        assert_eq!(
            sharp[0].sample(Plane::Y, x, y),
            plain[0].sample(Plane::Y, x, y)
        );
    }
    // Sepia: chroma on the brownish side of grey (Cb at most, Cr at least
    // grey) but for a few samples of colours out of RGB's range.
    let samples = sepia[0].plane(Plane::U).len();
    let bluish = sepia[0]
        .plane(Plane::U)
        .iter()
        .filter(|&&u| u > 130)
        .count();
    let greenish = sepia[0]
        .plane(Plane::V)
        .iter()
        .filter(|&&v| v < 126)
        .count();
    eprintln!("sepia: {bluish} bluish, {greenish} greenish of {samples} chroma samples");
    assert!(
        bluish + greenish < samples / 200,
        "sepia left colours: {bluish}, {greenish}"
    );
    // Ruddiness alone: the same luma (±1 where a shader rounds it), redder
    // chroma somewhere (the face).
    let luma_moved = plain[0]
        .plane(Plane::Y)
        .iter()
        .zip(rosy[0].plane(Plane::Y))
        .map(|(a, b)| a.abs_diff(*b))
        .max();
    assert!(luma_moved <= Some(1), "luma moved by {luma_moved:?}");
    let redder = plain[0]
        .plane(Plane::V)
        .iter()
        .zip(rosy[0].plane(Plane::V))
        .filter(|(a, b)| b > a)
        .count();
    assert!(redder > 100, "{redder} chroma samples redder");
    // The face changed; the top corners (wall) did not.
    assert!(luma_psnr(&plain[0], &beautified[0]) < 40.0);
    for (x, y) in [(5, 5), (350, 5)] {
        assert_eq!(
            plain[1].sample(Plane::Y, x, y),
            beautified[1].sample(Plane::Y, x, y)
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn the_built_in_landmarker_finds_the_face_and_dumps_what_it_used() {
    if common::gpu().is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let photo = root.join("assets/photos/astronaut.png");
    let dir = scratch_dir("dump-landmarks");
    let dump = dir.join("used.jsonl");
    let output = liveroom("push")
        .env("LIVEROOM_MODELS", root.join("assets/models"))
        .args([
            "--input",
            photo.to_str().expect("utf-8"),
            "--frames",
            "3",
            "--mirror",
            "--eye-bigness",
            "0.6",
            "--dump-landmarks",
            dump.to_str().expect("utf-8"),
            "--output",
            dir.join("out.y4m").to_str().expect("utf-8"),
        ])
        .output()
        .expect("pusher runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let track = liveroom::landmarks::LandmarkTrack::open(&dump).expect("a valid dump");
    assert_eq!(track.len(), 3);
    for frame in 0..3 {
        let faces = track.faces(frame);
        assert_eq!(faces.len(), 1, "frame {frame}: {faces:?}");
        // Input pixels, not mirrored output ones: the left eye is at x ≈ 204.
        assert!((faces[0].left_eye[0] - 204.5).abs() < 4.2, "{:?}", faces[0]);
    }
    // Without models, a face effect fails with one line saying what to do.
    let output = liveroom("push")
        .env("LIVEROOM_MODELS", dir.join("no-models"))
        .args(["--frames", "1", "--skin-whiteness", "0.5"])
        .output()
        .expect("pusher runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("scripts/setup.sh"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn bad_values_give_one_clear_line_and_a_non_zero_exit() {
    let dir = scratch_dir("bad-values");
    let lying = dir.join("lying.y4m");
    std::fs::write(&lying, b"YUV4MPEG2 W1280 H720 F30:1 C444\nFRAME\n").expect("write");
    // A header that claims a picture larger than any frame we take.
    let huge = dir.join("huge.y4m");
    std::fs::write(&huge, b"YUV4MPEG2 W100000 H100000 F30:1 C420jpeg\nFRAME\n").expect("write");
    let truncated = dir.join("truncated.y4m");
    std::fs::write(&truncated, b"YUV4MPEG2 W64 H64 F30:1 C420jpeg\nFRAME\nabc").expect("write");
    let not_png = dir.join("photo.png");
    std::fs::write(&not_png, b"this is not a picture").expect("write");
    let missing_dir_output = dir.join("no/such/dir/out.y4m");
    // A picture, but not a look-up table's size.
    let small_png = dir.join("small.png");
    image::RgbImage::new(64, 32).save(&small_png).expect("save");
    let bad_landmarks = dir.join("faces.jsonl");
    std::fs::write(
        &bad_landmarks,
        "{\"frame\":0,\"faces\":[]}\n{\"frame\":1,\"faces\":[{\"box\":[1,2]}]}\n",
    )
    .expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--mode", "uhd"], "mode"),
        (vec!["--aspect", "1:1"], "aspect"),
        (vec!["--orientation", "diagonal"], "orientation"),
        (vec!["--zoom", "0"], "zoom"),
        (vec!["--zoom", "NaN"], "zoom"),
        (vec!["--zoom", "many"], "zoom"),
        (vec!["--zoom"], "value is required"),
        (vec!["--fps", "0"], "fps"),
        (vec!["--max-faces", "0"], "max-faces"),
        (vec!["--max-faces", "9"], "max-faces"),
        (vec!["--frames", "-3"], "frames"),
        (vec!["--frames", "0"], "frames"),
        (vec!["--output", "out.mp4"], "y4m"),
        (vec!["--volume", "11"], "unknown flag"),
        (vec!["--skin-whiteness", "1.5"], "--skin-whiteness"),
        (vec!["--skin-smoothness", "NaN"], "--skin-smoothness"),
        (vec!["--face-thinness", "-0.1"], "--face-thinness"),
        (vec!["--eye-bigness", "lots"], "--eye-bigness"),
        (vec!["--ruddiness", "1.5"], "--ruddiness"),
        (vec!["--ruddiness", "NaN"], "--ruddiness"),
        (vec!["--background-blur", "1.5"], "--background-blur"),
        (
            vec!["--background-image", "/no/such/picture.png"],
            "--background-image",
        ),
        (vec!["--sharpness", "1.5"], "--sharpness"),
        (vec!["--sharpness", "NaN"], "--sharpness"),
        (vec!["--filter-strength", "-1"], "--filter-strength"),
        (
            vec!["--filter-strength", "0.5"],
            "--filter-strength needs --filter",
        ),
        (
            vec!["--filter", "/no/such/look.png"],
            "cannot read look-up table",
        ),
        (
            vec!["--filter", not_png.to_str().expect("utf-8")],
            "cannot read look-up table",
        ),
        (
            vec!["--filter", small_png.to_str().expect("utf-8")],
            "expected a 512x512",
        ),
        (vec!["--beauty", "10"], "--beauty"),
        (vec!["--whiteness", "4.5"], "--whiteness"),
        (vec!["--beauty", "3", "--eye-bigness", "0.5"], "either"),
        (
            vec!["--landmarks", "/no/such/faces.jsonl"],
            "cannot read landmarks",
        ),
        (
            vec!["--landmarks", bad_landmarks.to_str().expect("utf-8")],
            ":2:",
        ),
        (
            vec!["--min-bitrate", "1500", "--max-bitrate", "900"],
            "above",
        ),
        (vec!["--max-bitrate", "0"], "bitrate"),
        (vec!["--url", "http://example.com/live/x"], "rtmp://"),
        (vec!["--url", "rtmp://example.com/live"], "malformed"),
        (vec!["--url", "rtmp://host:99999/live/x"], "port"),
        (vec!["--key", ""], "key"),
        (vec!["--expire", "0"], "--expire"),
        (vec!["--reconnect-attempts", "1000"], "--reconnect-attempts"),
        (vec!["--audio-quality", "cd"], "audio-quality"),
        (vec!["--bgm-volume", "2"], "bgm-volume"),
        (
            vec!["--input", huge.to_str().expect("utf-8")],
            "picture side",
        ),
        (vec!["--input", "/no/such/clip.y4m"], "cannot read"),
        (vec!["--input", "clip.avi"], "unknown input"),
        (vec!["--input", lying.to_str().expect("utf-8")], "4:2:0"),
        (
            vec!["--input", not_png.to_str().expect("utf-8")],
            "cannot decode",
        ),
        (
            vec![
                "--input",
                "testsrc",
                "--output",
                missing_dir_output.to_str().expect("utf-8"),
            ],
            "cannot write",
        ),
    ];
    for (args, expected) in cases {
        let output = run_pusher(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        // Found before anything runs: status 2, as the README's table says.
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains(expected),
            "{args:?}: {stderr:?} does not mention {expected:?}"
        );
    }
    // A truncated frame is found while running: the error names the frame.
    if common::gpu().is_some() {
        let output = run_pusher(&["--input", truncated.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("frame 0 is truncated"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn face_thinness_fades_in_when_the_landmarks_start() {
    if common::gpu().is_none() {
        return;
    }
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    let dir = scratch_dir("fade-cli");
    let faces = dir.join("faces.jsonl");
    // The face from frame 3 on (a still at 30 fps: 0.3 s is 9 frames).
    let lines: String = (3..16)
        .map(|frame| {
            format!(
                "{{\"frame\":{frame},\"faces\":[{{\"box\":[183,85,81,93],\"left_eye\":[204,101],\"right_eye\":[246,102.5]}}]}}\n"
            )
        })
        .collect();
    std::fs::write(&faces, lines).expect("write");
    let (plain, thinner) = (dir.join("plain.y4m"), dir.join("thinner.y4m"));
    for (out, thinness) in [(&plain, "0"), (&thinner, "1")] {
        let output = run_pusher(&[
            "--input",
            photo.to_str().expect("utf-8"),
            "--frames",
            "16",
            "--landmarks",
            faces.to_str().expect("utf-8"),
            "--face-thinness",
            thinness,
            "--output",
            out.to_str().expect("utf-8"),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (plain, thinner) = (read_all(&plain), read_all(&thinner));
    assert_eq!((plain.len(), thinner.len()), (16, 16));
    let moved: Vec<u64> = plain
        .iter()
        .zip(&thinner)
        .map(|(a, b)| {
            a.plane(Plane::Y)
                .iter()
                .zip(b.plane(Plane::Y))
                .map(|(p, q)| u64::from(p.abs_diff(*q)))
                .sum()
        })
        .collect();
    eprintln!("luma moved per frame: {moved:?}");
    // Nothing before the face nor on its first frame; then more each frame
    // until full after 9 frames, and the same from then on.
    assert!(moved[..=3].iter().all(|&m| m == 0), "{moved:?}");
    for pair in moved[3..=12].windows(2) {
        assert!(pair[1] > pair[0], "{moved:?}");
    }
    assert!(
        thinner[12].to_packed_bytes() == thinner[15].to_packed_bytes(),
        "{moved:?}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn background_blur_and_image_flags_change_the_backdrop_not_the_face() {
    if common::gpu().is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let photo = root.join("assets/photos/astronaut.png");
    let model = root.join("assets/models/selfie_segmentation.onnx");
    for path in [&photo, &model] {
        assert!(
            path.exists(),
            "{} missing: run scripts/setup.sh",
            path.display()
        );
    }
    let dir = scratch_dir("background-cli");
    let picture = dir.join("picture.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([20, 200, 40]))
        .save(&picture)
        .expect("write picture");
    let (plain, blurred, replaced) = (
        dir.join("plain.y4m"),
        dir.join("blurred.y4m"),
        dir.join("replaced.y4m"),
    );
    for (out, extra) in [
        (&plain, vec![]),
        (&blurred, vec!["--background-blur", "1"]),
        (
            &replaced,
            vec!["--background-image", picture.to_str().expect("utf-8")],
        ),
    ] {
        let mut args = vec![
            "--input",
            photo.to_str().expect("utf-8"),
            "--frames",
            "2",
            "--mode",
            "sd",
            "--aspect",
            "3:4",
            "--output",
            out.to_str().expect("utf-8"),
        ];
        args.extend(extra);
        let output = run_pusher(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (plain, blurred, replaced) = (read_all(&plain), read_all(&blurred), read_all(&replaced));
    let (w, h) = (plain[0].width(), plain[0].height());
    // The portrait's middle 3:4 fills the output: the shuttle model on
    // the right, the face near the top middle.
    let backdrop = (w * 85 / 100, h * 6 / 100, w * 97 / 100, h * 37 / 100);
    let face = (w * 33 / 100, h * 17 / 100, w * 49 / 100, h * 30 / 100);
    let before = high_frequency_energy(&plain[1], backdrop);
    let after = high_frequency_energy(&blurred[1], backdrop);
    eprintln!(
        "push --background-blur 1: backdrop keeps {:.1} % of its high-frequency energy",
        100.0 * after / before
    );
    assert!(after < 0.3 * before, "{after} of {before}");
    let mean_green = |frame: &I420Frame, (x0, y0, x1, y1): (u32, u32, u32, u32)| {
        let mut sum = 0.0;
        for y in y0 / 2..y1 / 2 {
            for x in x0 / 2..x1 / 2 {
                // Green has low U and V.
                sum += f64::from(frame.sample(Plane::U, x, y))
                    + f64::from(frame.sample(Plane::V, x, y));
            }
        }
        sum / f64::from((x1 / 2 - x0 / 2) * (y1 / 2 - y0 / 2))
    };
    let (plain_uv, replaced_uv) = (
        mean_green(&plain[1], backdrop),
        mean_green(&replaced[1], backdrop),
    );
    eprintln!("push --background-image: backdrop U+V {plain_uv:.0} → {replaced_uv:.0}");
    assert!(replaced_uv < plain_uv - 40.0, "{plain_uv} → {replaced_uv}");
    for (what, frames) in [("blurred", &blurred), ("replaced", &replaced)] {
        let (x0, y0, x1, y1) = face;
        let mut most = 0u8;
        for y in y0..y1 {
            for x in x0..x1 {
                most = most.max(plain[1].sample(Plane::Y, x, y).abs_diff(frames[1].sample(
                    Plane::Y,
                    x,
                    y,
                )));
            }
        }
        eprintln!("{what}: the face changes by {most} levels at most");
        assert!(most <= 2, "{what}: the face changed by {most}");
    }
}
