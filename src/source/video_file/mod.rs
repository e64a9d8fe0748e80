//! [`VideoFile`]: the H.264 pictures of a video file as a frame source. A
//! container reader (a [`VideoTrack`]) hands over access units with their
//! presentation times: MP4/M4V/MOV through symphonia's ISO-MP4 demuxer
//! (`mp4_track.rs`), FLV through the crate's own FLV reader
//! (`flv_track.rs`). The crate's OpenH264 [`VideoDecoder`] decodes them,
//! B-frames included, and releases the pictures in display order. The
//! file's frame rate and length are kept.

mod flv_track;
mod mp4_track;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::{FrameRate, FrameSource, SourceError, SourceInfo};
use crate::avc::AvcDecoderConfig;
use crate::decoder::VideoDecoder;
use crate::frame::I420Frame;

/// Consecutive access units that fail to decode after which the file
/// counts as broken.
const MAX_BAD_ACCESS_UNITS: u32 = 32;

/// One coded picture in AVCC form and when it is shown.
struct AccessUnit {
    /// Presentation time in milliseconds.
    pts_ms: u64,
    /// Length-prefixed NAL units.
    avcc: Vec<u8>,
}

/// A container's H.264 track, access unit by access unit in decode order.
trait VideoTrack: Send {
    /// The next access unit, `None` at the end of the track.
    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, String>;
}

/// A track just opened, with what its header said.
struct OpenedTrack {
    track: Box<dyn VideoTrack>,
    config: AvcDecoderConfig,
    frame_rate: FrameRate,
}

/// The video of an MP4 or FLV file, decoded frame by frame.
pub struct VideoFile {
    path: PathBuf,
    track: Box<dyn VideoTrack>,
    decoder: VideoDecoder,
    ready: VecDeque<I420Frame>,
    info: SourceInfo,
    /// Frames handed out so far (their timestamps follow the frame rate).
    delivered: u64,
    bad_access_units: u32,
    ended: bool,
}

impl std::fmt::Debug for VideoFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFile")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl VideoFile {
    /// Whether `path` names a container this source reads (by extension:
    /// `.mp4`, `.m4v`, `.mov`, `.flv`).
    pub fn handles(path: &Path) -> bool {
        container_of(path).is_some()
    }

    /// Opens `path` and readies the decoder for its H.264 video.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let fail = |reason: String| SourceError::Video {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            // The usual "cannot read" error for a missing file.
            std::fs::File::open(path).map_err(|source| SourceError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let opened = match container_of(path) {
            Some(Container::Flv) => flv_track::FlvTrack::open(path),
            Some(Container::Mp4) | None => mp4_track::Mp4Track::open(path),
        }
        .map_err(fail)?;
        let mut decoder = VideoDecoder::new().map_err(|e| fail(e.to_string()))?;
        let stream = decoder
            .configure(&opened.config)
            .map_err(|e| fail(format!("cannot decode this H.264 stream: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            track: opened.track,
            decoder,
            ready: VecDeque::new(),
            info: SourceInfo {
                width: stream.width,
                height: stream.height,
                frame_rate: opened.frame_rate,
            },
            delivered: 0,
            bad_access_units: 0,
            ended: false,
        })
    }

    fn fail(&self, reason: String) -> SourceError {
        SourceError::Video {
            path: self.path.clone(),
            reason,
        }
    }

    /// Reads and decodes until a picture is ready or the file ends.
    fn decode_more(&mut self) -> Result<(), SourceError> {
        while self.ready.is_empty() && !self.ended {
            let Some(unit) = self.track.next_access_unit().map_err(|e| self.fail(e))? else {
                self.ended = true;
                let frames = self.decoder.flush().map_err(|e| self.fail(e.to_string()))?;
                self.ready.extend(frames);
                break;
            };
            match self.decoder.decode(&unit.avcc, unit.pts_ms) {
                Ok(frames) => {
                    self.bad_access_units = 0;
                    self.ready.extend(frames);
                }
                Err(error) => {
                    self.bad_access_units += 1;
                    log::warn!("{}: {error}", self.path.display());
                    if self.bad_access_units >= MAX_BAD_ACCESS_UNITS {
                        return Err(self.fail(format!(
                            "{MAX_BAD_ACCESS_UNITS} access units in a row failed to decode ({error})"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl FrameSource for VideoFile {
    fn info(&self) -> SourceInfo {
        self.info
    }

    fn next_frame(&mut self) -> Result<Option<I420Frame>, SourceError> {
        self.decode_more()?;
        let Some(mut frame) = self.ready.pop_front() else {
            return Ok(None);
        };
        if (frame.width(), frame.height()) != (self.info.width, self.info.height) {
            return Err(self.fail(format!(
                "the picture size changed from {}x{} to {}x{} mid-file",
                self.info.width,
                self.info.height,
                frame.width(),
                frame.height()
            )));
        }
        frame.timestamp = self.info.frame_rate.timestamp(self.delivered);
        self.delivered += 1;
        Ok(Some(frame))
    }

    fn is_finite(&self) -> bool {
        true
    }
}

/// The containers [`VideoFile`] reads.
enum Container {
    Mp4,
    Flv,
}

fn container_of(path: &Path) -> Option<Container> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "mp4" | "m4v" | "mov" => Some(Container::Mp4),
        "flv" => Some(Container::Flv),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_video_are_refused_clearly() {
        let dir = std::env::temp_dir().join(format!("liveroom-video-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, says) in [
            ("garbage.mp4", "not a readable MP4 file"),
            ("garbage.flv", "not a readable FLV file"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, b"not a video at all, just words").unwrap();
            let error = VideoFile::open(&path).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
            assert!(error.contains(says), "{error}");
        }
        let missing = VideoFile::open(&dir.join("missing.mp4")).unwrap_err();
        assert!(matches!(missing, SourceError::Io { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(VideoFile::handles(Path::new("a.FLV")));
        assert!(VideoFile::handles(Path::new("a.mov")));
        assert!(!VideoFile::handles(Path::new("a.mkv")));
    }
}
