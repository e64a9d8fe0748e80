//! [`VideoFile`]: the H.264 pictures of an MP4 (or M4V/MOV) file as a
//! frame source. Symphonia's ISO-MP4 demuxer (already the reader of audio
//! files) gives the video track's access units and its `avcC` record; the
//! crate's own OpenH264 [`VideoDecoder`] decodes them, B-frames included,
//! and releases the pictures in display order. The file's frame rate (the
//! first sample's duration in the track's time base) and length are kept.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::video::well_known::extra_data::VIDEO_EXTRA_DATA_ID_AVC_DECODER_CONFIG;
use symphonia::core::codecs::video::well_known::CODEC_ID_H264;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;

use super::{FrameRate, FrameSource, SourceError, SourceInfo};
use crate::avc::AvcDecoderConfig;
use crate::decoder::VideoDecoder;
use crate::frame::I420Frame;

/// Consecutive access units that fail to decode after which the file
/// counts as broken.
const MAX_BAD_ACCESS_UNITS: u32 = 32;

/// The video track of an MP4 file, decoded frame by frame.
pub struct VideoFile {
    path: PathBuf,
    reader: Box<dyn FormatReader>,
    track_id: u32,
    time_base: TimeBase,
    decoder: VideoDecoder,
    /// An access unit read but not yet decoded (the first one).
    pending: Option<Packet>,
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
            .field("track_id", &self.track_id)
            .field("info", &self.info)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl VideoFile {
    /// Opens `path` and readies the decoder for its first H.264 track.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let fail = |reason: String| SourceError::Video {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(extension);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| fail(format!("not a readable MP4 file ({e})")))?;
        let track = reader
            .tracks()
            .iter()
            .find(|track| {
                track
                    .codec_params
                    .as_ref()
                    .and_then(|params| params.video())
                    .is_some_and(|video| video.codec == CODEC_ID_H264)
            })
            .ok_or_else(|| fail("no H.264 video track".into()))?;
        let avcc = track
            .codec_params
            .as_ref()
            .and_then(|params| params.video())
            .and_then(|video| {
                video
                    .extra_data
                    .iter()
                    .find(|extra| extra.id == VIDEO_EXTRA_DATA_ID_AVC_DECODER_CONFIG)
            })
            .ok_or_else(|| fail("the H.264 track has no avcC record".into()))?;
        let config = AvcDecoderConfig::parse(&avcc.data)
            .map_err(|e| fail(format!("bad avcC record: {e}")))?;
        let time_base = track
            .time_base
            .ok_or_else(|| fail("the video track states no time base".into()))?;
        let track_id = track.id;
        let mut reader = reader;
        // The first access unit tells the rate (MP4 states no frame count
        // for video); it is kept for decoding.
        let first = loop {
            match reader.next_packet() {
                Ok(Some(packet)) if packet.track_id == track_id => break packet,
                Ok(Some(_)) => {}
                Ok(None) => return Err(fail("the video track has no frames".into())),
                Err(error) => return Err(fail(error.to_string())),
            }
        };
        let frame_rate =
            track_frame_rate(first.dur.get(), time_base).map_err(|e| fail(e.to_string()))?;
        let mut decoder = VideoDecoder::new().map_err(|e| fail(e.to_string()))?;
        let stream_info = decoder
            .configure(&config)
            .map_err(|e| fail(format!("cannot decode this H.264 stream: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            track_id,
            time_base,
            decoder,
            pending: Some(first),
            ready: VecDeque::new(),
            info: SourceInfo {
                width: stream_info.width,
                height: stream_info.height,
                frame_rate,
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
            let next = match self.pending.take() {
                Some(packet) => Ok(Some(packet)),
                None => self.reader.next_packet(),
            };
            let packet = match next {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(SymphoniaError::ResetRequired) => {
                    self.finish()?;
                    break;
                }
                Err(SymphoniaError::IoError(error))
                    if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    self.finish()?;
                    break;
                }
                Err(error) => return Err(self.fail(error.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let pts_ms = timestamp_ms(packet.pts.get(), self.time_base);
            match self.decoder.decode(&packet.data, pts_ms) {
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

    /// The end of the file: the pictures still inside the decoder.
    fn finish(&mut self) -> Result<(), SourceError> {
        self.ended = true;
        let frames = self.decoder.flush().map_err(|e| self.fail(e.to_string()))?;
        self.ready.extend(frames);
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

/// A presentation time in the track's units as milliseconds (0 for the
/// negative times an edit list can leave before the start).
fn timestamp_ms(ticks: i64, time_base: TimeBase) -> u64 {
    let ms = i128::from(ticks.max(0)) * i128::from(time_base.numer.get()) * 1000
        / i128::from(time_base.denom.get());
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The frame rate of a track whose samples last `duration` ticks each.
fn track_frame_rate(duration: u64, time_base: TimeBase) -> Result<FrameRate, SourceError> {
    let seconds =
        duration as f64 * f64::from(time_base.numer.get()) / f64::from(time_base.denom.get());
    if seconds > 0.0 {
        FrameRate::from_fps(1.0 / seconds)
    } else {
        Err(SourceError::InvalidFrameRate(0.0))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZero;

    use super::*;

    fn base(numer: u32, denom: u32) -> TimeBase {
        TimeBase {
            numer: NonZero::new(numer).expect("non-zero"),
            denom: NonZero::new(denom).expect("non-zero"),
        }
    }

    #[test]
    fn track_times_become_milliseconds() {
        assert_eq!(timestamp_ms(15_360, base(1, 15_360)), 1000);
        assert_eq!(timestamp_ms(512, base(1, 15_360)), 33);
        assert_eq!(timestamp_ms(-1024, base(1, 15_360)), 0);
    }

    #[test]
    fn the_frame_rate_is_one_over_a_sample_duration() {
        let ntsc = track_frame_rate(1001, base(1, 30_000)).unwrap();
        assert_eq!((ntsc.num, ntsc.den), (2997, 100));
        let thirty = track_frame_rate(512, base(1, 15_360)).unwrap();
        assert_eq!((thirty.num, thirty.den), (30, 1));
        assert!(track_frame_rate(0, base(1, 1)).is_err());
        assert!(track_frame_rate(1, base(1, 1000)).is_err());
    }

    #[test]
    fn a_file_that_is_not_mp4_is_refused_clearly() {
        let dir = std::env::temp_dir().join(format!("liveroom-video-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("garbage.mp4");
        std::fs::write(&path, b"not an mp4 at all, just words").unwrap();
        let error = VideoFile::open(&path).unwrap_err().to_string();
        assert!(error.contains("garbage.mp4"), "{error}");
        assert!(error.contains("not a readable MP4 file"), "{error}");
        let missing = VideoFile::open(&dir.join("missing.mp4")).unwrap_err();
        assert!(matches!(missing, SourceError::Io { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
