//! Frame sources: where pictures come from before they enter the pipeline.
//!
//! Every source implements [`FrameSource`]: a Y4M file ([`Y4mReader`]), an
//! MP4 or FLV file's H.264 video ([`VideoFile`]), a still image ([`StillImage`])
//! and the synthetic [`TestSource`], whose frames
//! carry their own index as a block code (see [`stamp`]). [`open_source`]
//! picks one from the pusher's `--input` value.

pub mod stamp;
mod still;
mod testsrc;
mod video_file;
mod y4m;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::frame::{FrameError, I420Frame};
use crate::geometry::{GeometryParams, OutputSize};

pub use still::StillImage;
pub use testsrc::TestSource;
pub use video_file::VideoFile;
pub use y4m::{Y4mReader, Y4mWriter};

/// Why a source could not be opened or read.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Y4M stream header is missing or not one we accept.
    #[error("{path}: unsupported Y4M header: {reason}")]
    Y4mHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A Y4M frame ended early or its `FRAME` marker is missing.
    #[error("{path}: frame {index} is truncated or malformed: {reason}")]
    Y4mFrame {
        /// The file.
        path: PathBuf,
        /// Zero-based index of the bad frame.
        index: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The image could not be decoded.
    #[error("cannot decode image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Decoder message.
        reason: String,
    },
    /// A video file that cannot be demuxed or decoded.
    #[error("cannot read video {path}: {reason}")]
    Video {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The `--input` value names no known source.
    #[error(
        "unknown input {0:?}: expected testsrc, FILE.y4m, FILE.mp4, FILE.flv, FILE.png or FILE.jpg"
    )]
    UnknownInput(String),
    /// A frame rate that is zero, negative or not a number.
    #[error("invalid frame rate {0}: expected a number from 1 to 240")]
    InvalidFrameRate(f64),
    /// The picture size is not usable.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A frame rate as a rational number of frames per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames…
    pub num: u32,
    /// …per this many seconds.
    pub den: u32,
}

impl FrameRate {
    /// A whole number of frames per second, 1 to 240.
    pub fn from_fps(fps: f64) -> Result<Self, SourceError> {
        if !fps.is_finite() || !(1.0..=240.0).contains(&fps) {
            return Err(SourceError::InvalidFrameRate(fps));
        }
        // Keep three decimals: 29.97 → 29970/1000.
        let num = (fps * 1000.0).round() as u32;
        let g = gcd(num, 1000);
        Ok(Self {
            num: num / g,
            den: 1000 / g,
        })
    }

    /// Frames per second as a float.
    pub fn fps(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Timestamp of the frame with the given index.
    pub fn timestamp(self, index: u64) -> std::time::Duration {
        let nanos = index as u128 * self.den as u128 * 1_000_000_000 / self.num as u128;
        std::time::Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Size and rate of the frames a source gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Nominal frame rate.
    pub frame_rate: FrameRate,
}

/// Something that produces I420 frames, one after another.
pub trait FrameSource: Send {
    /// Size and rate of the frames.
    fn info(&self) -> SourceInfo;

    /// The next frame, `Ok(None)` at the end of a finite source. Timestamps
    /// start at zero and follow the frame rate.
    fn next_frame(&mut self) -> Result<Option<I420Frame>, SourceError>;

    /// Whether the source ends by itself (a clip) rather than going on for
    /// as long as it is read (a camera, `testsrc`, a still image). A
    /// pusher takes all of a finite source unless told otherwise.
    fn is_finite(&self) -> bool {
        false
    }

    /// Called once before pushing with the output size and the geometry
    /// (zoom, mirror). A source whose pictures are larger than the output
    /// needs may apply the geometry itself, once (a still image does):
    /// true means its frames are from now on output-sized, with the
    /// geometry applied, to be processed with [`GeometryParams::default`].
    /// The default changes nothing.
    fn prepare_for_output(&mut self, output: OutputSize, params: GeometryParams) -> bool {
        let _ = (output, params);
        false
    }
}

/// Opens the source an `--input` value names: `testsrc` (1280×720), a
/// `.y4m` file, Y4M on standard input (`-` or `/dev/stdin`: any FFmpeg
/// source through `-f yuv4mpegpipe -`), an `.mp4`/`.m4v`/`.mov`/`.flv` file
/// with H.264 video, or a `.png`/`.jpg`/`.jpeg` still image. `fps` sets the rate
/// of the synthetic and still sources; Y4M and MP4 keep their own.
pub fn open_source(input: &str, fps: f64) -> Result<Box<dyn FrameSource>, SourceError> {
    let rate = FrameRate::from_fps(fps)?;
    if input == "testsrc" {
        return Ok(Box::new(TestSource::new(1280, 720, rate)?));
    }
    if input == "-" || input == "/dev/stdin" {
        let stdin = std::io::BufReader::new(std::io::stdin());
        return Ok(Box::new(Y4mReader::from_reader(stdin, Path::new("stdin"))?));
    }
    let path = Path::new(input);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("y4m") => Ok(Box::new(Y4mReader::open(path)?)),
        Some("mp4" | "m4v" | "mov" | "flv") => Ok(Box::new(VideoFile::open(path)?)),
        Some("png" | "jpg" | "jpeg") => Ok(Box::new(StillImage::open(path, rate)?)),
        _ => Err(SourceError::UnknownInput(input.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_are_rational_and_validated() {
        let ntsc = FrameRate::from_fps(29.97).unwrap();
        assert_eq!((ntsc.num, ntsc.den), (2997, 100));
        assert_eq!(
            FrameRate::from_fps(30.0).unwrap().timestamp(30),
            std::time::Duration::from_secs(1)
        );
        for bad in [0.0, -1.0, f64::NAN, 1000.0] {
            assert!(FrameRate::from_fps(bad).is_err());
        }
    }

    #[test]
    fn unknown_inputs_are_refused() {
        assert!(matches!(
            open_source("clip.mkv", 30.0),
            Err(SourceError::UnknownInput(_))
        ));
        assert!(matches!(
            open_source("/nonexistent/clip.y4m", 30.0),
            Err(SourceError::Io { .. })
        ));
    }
}
