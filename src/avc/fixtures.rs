//! Test data shared by the AVC tests: real SPS/PPS written by x264, and a
//! hex decoder for them.

/// Real SPS/PPS written by x264 (via ffmpeg, testsrc, yuv420p).
pub(super) const X264_HIGH_720X1280_SPS: &str =
    "6764001facd940b40a1b0110000003001000000303c0f1831960";
pub(super) const X264_HIGH_1920X1080_SPS: &str =
    "67640028acd940780227e5c044000003000400000300f03c60c658";
pub(super) const X264_BASELINE_1280X720_SPS: &str =
    "6742c01fd9005005bb0110000003001000000303c0f1832480";
pub(super) const X264_HIGH_854X480_SPS: &str =
    "6764001facd940d83de6f0110000030001000003003c0f183196";
pub(super) const X264_PPS: &str = "68ef8fcb";

pub(super) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
