//! Where processed or played frames can be kept: a Y4M file, a PNG of the
//! last frame, and the faces used for every frame as JSON lines.
//!
//! Each sink creates its file when it is made, so that an unwritable path
//! fails before a push or a play starts, and reports the path in its error.
//! The pusher's frame tap and the player's frame sink feed them:
//!
//! ```no_run
//! use std::path::Path;
//! use liveroom::sinks::{SnapshotSink, Y4mSink};
//! use liveroom::source::FrameRate;
//!
//! # fn main() -> Result<(), liveroom::sinks::SinkError> {
//! let mut clip = Y4mSink::create(Path::new("out.y4m"), FrameRate { num: 30, den: 1 })?;
//! let mut last = SnapshotSink::new(Path::new("last.png"))?;
//! # let frame = liveroom::I420Frame::black(64, 64).unwrap();
//! clip.write(&frame)?;
//! last.keep(&frame);
//! clip.finish()?;
//! last.save()?;
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::color::i420_to_rgb_image;
use crate::frame::I420Frame;
use crate::landmarks::{self, FaceLandmarks};
use crate::source::{FrameRate, Y4mWriter};

/// A sink could not write its file.
#[derive(Debug, Error)]
pub enum SinkError {
    /// Creating or writing the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Encoding the PNG failed.
    #[error("cannot write {}: {source}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// A snapshot was asked for but no frame came.
    #[error("{}: no frame to save", path.display())]
    NoFrame {
        /// The file that was not written.
        path: PathBuf,
    },
    /// The path does not end in the extension the sink writes.
    #[error("{}: expected a .{expected} file", path.display())]
    Extension {
        /// The path given.
        path: PathBuf,
        /// The extension wanted.
        expected: &'static str,
    },
}

impl SinkError {
    fn write(path: &Path, source: std::io::Error) -> Self {
        SinkError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether `path` ends in `.extension` (any case).
pub fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

fn require_extension(path: &Path, expected: &'static str) -> Result<(), SinkError> {
    if has_extension(path, expected) {
        Ok(())
    } else {
        Err(SinkError::Extension {
            path: path.to_path_buf(),
            expected,
        })
    }
}

/// Frames into a Y4M file. The header is written with the first frame,
/// whose size the stream then keeps.
pub struct Y4mSink {
    path: PathBuf,
    rate: FrameRate,
    file: Option<File>,
    writer: Option<Y4mWriter>,
}

impl Y4mSink {
    /// Creates (or truncates) `path`, which must end in `.y4m`.
    pub fn create(path: &Path, rate: FrameRate) -> Result<Self, SinkError> {
        require_extension(path, "y4m")?;
        let file = File::create(path).map_err(|e| SinkError::write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            rate,
            file: Some(file),
            writer: None,
        })
    }

    /// Appends a frame (the first one sets the picture size).
    pub fn write(&mut self, frame: &I420Frame) -> Result<(), SinkError> {
        if self.writer.is_none() {
            if let Some(file) = self.file.take() {
                let writer = Y4mWriter::new(
                    BufWriter::new(file),
                    frame.width(),
                    frame.height(),
                    self.rate,
                )
                .map_err(|e| SinkError::write(&self.path, e))?;
                self.writer = Some(writer);
            }
        }
        match self.writer.as_mut() {
            Some(writer) => writer
                .write_frame(frame)
                .map_err(|e| SinkError::write(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Flushes the file; write errors that buffering held back show here.
    pub fn finish(self) -> Result<(), SinkError> {
        match self.writer {
            Some(writer) => writer
                .finish()
                .map(drop)
                .map_err(|e| SinkError::write(&self.path, e)),
            None => Ok(()),
        }
    }
}

/// Keeps the last frame, to save it as a PNG at the end.
pub struct SnapshotSink {
    path: PathBuf,
    last: Option<I420Frame>,
}

impl SnapshotSink {
    /// A snapshot to be saved to `path`, which must end in `.png`.
    pub fn new(path: &Path) -> Result<Self, SinkError> {
        require_extension(path, "png")?;
        Ok(Self {
            path: path.to_path_buf(),
            last: None,
        })
    }

    /// Remembers `frame` as the last one.
    pub fn keep(&mut self, frame: &I420Frame) {
        self.last = Some(frame.clone());
    }

    /// Writes the last frame kept as a PNG.
    pub fn save(self) -> Result<(), SinkError> {
        let frame = self.last.ok_or_else(|| SinkError::NoFrame {
            path: self.path.clone(),
        })?;
        i420_to_rgb_image(&frame)
            .save(&self.path)
            .map_err(|source| SinkError::Image {
                path: self.path,
                source,
            })
    }
}

/// The faces used for every frame, as JSON lines in the format
/// [`crate::landmarks::LandmarkTrack`] reads.
pub struct LandmarkDump {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl LandmarkDump {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }

    /// Writes frame `index`'s faces.
    pub fn write(&mut self, index: u64, faces: &[FaceLandmarks]) -> Result<(), SinkError> {
        landmarks::write_line(&mut self.writer, index, faces)
            .map_err(|e| SinkError::write(&self.path, e))
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), SinkError> {
        self.writer
            .flush()
            .map_err(|e| SinkError::write(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Plane;

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("sinks").join(name)
    }

    fn grey(width: u32, height: u32, level: u8) -> I420Frame {
        let mut frame = I420Frame::black(width, height).expect("frame");
        frame.plane_mut(Plane::Y).fill(level);
        frame
    }

    #[test]
    fn the_y4m_sink_writes_a_header_sized_by_the_first_frame() {
        let path = scratch("clip.y4m");
        let mut sink = Y4mSink::create(&path, FrameRate { num: 25, den: 1 }).expect("create");
        sink.write(&grey(16, 8, 10)).expect("frame 0");
        sink.write(&grey(16, 8, 20)).expect("frame 1");
        assert!(
            sink.write(&grey(8, 8, 20)).is_err(),
            "a frame of another size"
        );
        sink.finish().expect("finish");
        let bytes = std::fs::read(&path).expect("read");
        let header_end = bytes.iter().position(|&b| b == b'\n').expect("header");
        let header = std::str::from_utf8(&bytes[..header_end]).expect("text");
        assert!(header.starts_with("YUV4MPEG2 W16 H8 F25:1"), "{header}");
        let frame_bytes = 6 + 16 * 8 * 3 / 2;
        assert_eq!(bytes.len(), header_end + 1 + 2 * frame_bytes);
    }

    #[test]
    fn sinks_refuse_the_wrong_extension_and_unwritable_paths() {
        let rate = FrameRate { num: 30, den: 1 };
        let error = Y4mSink::create(Path::new("out.mp4"), rate)
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("expected a .y4m file"),
            "{error}"
        );
        let error = SnapshotSink::new(Path::new("out.jpg"))
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("expected a .png file"),
            "{error}"
        );
        let missing = Path::new("/no/such/dir/out.y4m");
        let error = Y4mSink::create(missing, rate).err().expect("refused");
        assert!(
            error
                .to_string()
                .starts_with("cannot write /no/such/dir/out.y4m"),
            "{error}"
        );
        let error = LandmarkDump::create(Path::new("/no/such/dir/faces.jsonl"))
            .err()
            .expect("refused");
        assert!(matches!(error, SinkError::Write { .. }));
    }

    #[test]
    fn the_snapshot_keeps_the_last_frame_and_needs_one() {
        let path = scratch("last.png");
        let empty = SnapshotSink::new(&path).expect("sink");
        assert!(matches!(empty.save(), Err(SinkError::NoFrame { .. })));
        let mut sink = SnapshotSink::new(&path).expect("sink");
        sink.keep(&grey(8, 8, 16));
        sink.keep(&grey(8, 8, 235));
        sink.save().expect("save");
        let image = image::open(&path).expect("png").to_rgb8();
        assert_eq!(image.dimensions(), (8, 8));
        assert!(
            image.get_pixel(0, 0)[0] > 200,
            "the last frame (white) was saved"
        );
    }

    #[test]
    fn the_landmark_dump_writes_one_line_per_frame() {
        let path = scratch("faces.jsonl");
        let mut dump = LandmarkDump::create(&path).expect("create");
        dump.write(0, &[]).expect("frame 0");
        dump.write(1, &[]).expect("frame 1");
        dump.finish().expect("finish");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.lines().all(|line| line.contains("\"frame\"")),
            "{text}"
        );
    }
}
