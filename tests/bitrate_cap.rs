//! The bitrate cap (issue 18, item 13), as it really holds: `--max-bitrate`
//! (or the preset's top) is x264's ABR target and VBV rate with a one-second
//! VBV buffer, which bounds the average but lets a one-second window of the
//! video tags (tag header, body and previous-tag size) reach about 1.3× the
//! cap where a key frame lands. These tests measure every window and hold
//! the encoder to that documented bound ([`PEAK_BOUND`] × cap, average at
//! most [`AVERAGE_BOUND`] × cap). A strict per-second cap was tried: it cost
//! key frames their quality (the first picture of a detailed 720×1280 clip
//! fell to 27.7 dB luma PSNR, under the decoder test's 30 dB), so it was
//! not kept. The audio's own fixed bitrate (128 kbps at `high`) comes on
//! top and is not part of the cap.
//!
//! A detailed moving clip (FFmpeg's testsrc2, upscaled and cropped to the
//! FHD preset) stresses the encoder; our own `testsrc` too. Needs `ffmpeg`.

mod common;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use common::{detailed_clip, push_ok, scratch_dir};
use liveroom::flv::{FlvReader, TagKind};

/// FLV framing around each tag body: 11-byte header, 4-byte previous size.
const TAG_FRAMING_BYTES: u64 = 15;

/// A detailed moving 720p clip, 240 frames at 30 fps, made once.
/// The largest one-second window of video the README states, as a multiple
/// of the cap (measured: 1.18× at FHD on the detailed clip, 1.33× under
/// `--max-bitrate 1000` with `testsrc`).
const PEAK_BOUND: f64 = 1.4;

/// The largest average over the stream, as a multiple of the cap (measured
/// 1.03× at FHD).
const AVERAGE_BOUND: f64 = 1.1;

/// The video tags of an FLV file: (timestamp ms, bytes with framing).
fn video_tags(path: &Path) -> Vec<(u32, u64)> {
    let file = File::open(path).expect("the FLV file exists");
    let mut reader = FlvReader::new(BufReader::new(file)).expect("an FLV header");
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().expect("readable tags") {
        if tag.kind == TagKind::Video {
            tags.push((tag.timestamp_ms, tag.body.len() as u64 + TAG_FRAMING_BYTES));
        }
    }
    tags
}

/// The largest one-second window: for every tag, the bits of the tags whose
/// timestamps lie in `[its timestamp, its timestamp + 1000 ms)`, in kbps;
/// and the average over the stream.
fn window_peak_and_average(tags: &[(u32, u64)]) -> (f64, f64) {
    let mut peak = 0u64;
    let mut end = 0;
    let mut sum = 0u64;
    for start in 0..tags.len() {
        while end < tags.len() && tags[end].0 < tags[start].0 + 1000 {
            sum += tags[end].1;
            end += 1;
        }
        peak = peak.max(sum);
        sum -= tags[start].1;
    }
    let total: u64 = tags.iter().map(|t| t.1).sum();
    let span = tags.last().map_or(0, |t| t.0) - tags.first().map_or(0, |t| t.0);
    let seconds = (f64::from(span) / 1000.0).max(1e-3);
    (
        peak as f64 * 8.0 / 1000.0,
        total as f64 * 8.0 / 1000.0 / seconds,
    )
}

/// Pushes `input` at FHD (with `--max-bitrate` when given) to an FLV file
/// and checks every one-second window of its video against `cap`.
fn check_cap(name: &str, input: &str, max_bitrate: Option<u32>, cap: u32) {
    let output = scratch_dir(name).join("capped.flv");
    let output_text = output.to_str().expect("utf-8 path").to_owned();
    let kbps = max_bitrate.map(|k| k.to_string());
    let mut args = vec![
        "--input",
        input,
        "--frames",
        "240",
        "--mode",
        "fhd",
        "--output",
        &output_text,
    ];
    if let Some(kbps) = &kbps {
        args.extend(["--max-bitrate", kbps]);
    }
    push_ok(&args, Duration::from_secs(300));
    let tags = video_tags(&output);
    assert!(tags.len() >= 240, "{} video tags", tags.len());
    let (peak, average) = window_peak_and_average(&tags);
    eprintln!("{name}: cap {cap} kbps, average {average:.0} kbps, peak window {peak:.0} kbps");
    assert!(
        peak <= PEAK_BOUND * f64::from(cap),
        "a one-second window of video carries {peak:.0} kbps, over {PEAK_BOUND} × the {cap} kbps cap"
    );
    assert!(
        average <= AVERAGE_BOUND * f64::from(cap),
        "average {average:.0} kbps is over {AVERAGE_BOUND} × the {cap} kbps cap"
    );
    // Not met by starving the stream either.
    assert!(
        average >= 0.6 * f64::from(cap),
        "average {average:.0} kbps is far below the {cap} kbps cap"
    );
}

#[test]
fn fhd_default_cap_holds_in_every_second() {
    check_cap(
        "bitrate-cap-fhd",
        detailed_clip().to_str().expect("utf-8 path"),
        None,
        1800,
    );
}

#[test]
fn max_bitrate_1000_holds_in_every_second() {
    check_cap(
        "bitrate-cap-1000",
        detailed_clip().to_str().expect("utf-8 path"),
        Some(1000),
        1000,
    );
}

#[test]
fn max_bitrate_1000_holds_with_testsrc() {
    check_cap("bitrate-cap-testsrc", "testsrc", Some(1000), 1000);
}

#[test]
fn windows_are_measured_over_one_second() {
    // 30 tags of 1000 bytes each 100 ms apart: ten per window.
    let tags: Vec<(u32, u64)> = (0..30).map(|i| (i * 100, 1000)).collect();
    let (peak, average) = window_peak_and_average(&tags);
    assert_eq!(peak, 80.0);
    assert!((average - 30.0 * 8.0 / 2.9).abs() < 1e-9);
}
