//! The H.264 video of an FLV file (what `--output x.flv`, FFmpeg and OBS
//! recordings write) through the crate's own FLV reader: access units with
//! their presentation times (decode time plus composition offset) and the
//! AVC sequence header.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::{AccessUnit, OpenedTrack, VideoTrack};
use crate::avc::AvcDecoderConfig;
use crate::flv::{
    parse_stream_metadata, parse_video_body, FlvError, FlvReader, TagKind, VideoBody,
};
use crate::source::FrameRate;

/// Video tags read ahead, at most, to find the frame rate when
/// `onMetaData` does not state it.
const RATE_PROBE_TAGS: usize = 8;

/// The video of an FLV file.
pub struct FlvTrack {
    reader: FlvReader<BufReader<File>>,
    config: AvcDecoderConfig,
    /// Access units read ahead while opening.
    pending: VecDeque<AccessUnit>,
}

impl FlvTrack {
    /// Opens `path`: its AVC sequence header and frame rate (`onMetaData`'s
    /// `framerate`, else the spacing of the first video tags).
    pub fn open(path: &Path) -> Result<OpenedTrack, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let mut reader = FlvReader::new(BufReader::new(file))
            .map_err(|e| format!("not a readable FLV file ({e})"))?;
        let mut pending = VecDeque::new();
        let mut stated_rate = None;
        let mut config = None;
        let mut times = Vec::new();
        while config.is_none() || (stated_rate.is_none() && pending.len() < RATE_PROBE_TAGS) {
            let Some((kind, timestamp_ms, body)) = next_tag(&mut reader)? else {
                break;
            };
            match kind {
                TagKind::Script => {
                    if let Ok(meta) = parse_stream_metadata(&body) {
                        stated_rate = FrameRate::from_fps(meta.frame_rate).ok();
                    }
                }
                TagKind::Video => match parse_video_body(&body).map_err(|e| e.to_string())? {
                    VideoBody::SequenceHeader(record) if config.is_none() => {
                        let parsed = AvcDecoderConfig::parse(record)
                            .map_err(|e| format!("bad AVC sequence header: {e}"))?;
                        config = Some(parsed);
                    }
                    VideoBody::Nalu {
                        composition_time_ms,
                        data,
                        ..
                    } if config.is_some() => {
                        times.push(timestamp_ms);
                        pending.push_back(AccessUnit {
                            pts_ms: presentation_ms(timestamp_ms, composition_time_ms),
                            avcc: data.to_vec(),
                        });
                    }
                    _ => {}
                },
                TagKind::Audio => {}
            }
        }
        let config = config.ok_or("no H.264 video (no AVC sequence header)")?;
        let frame_rate = match stated_rate {
            Some(rate) => rate,
            None => spacing_frame_rate(&times)?,
        };
        let track = Self {
            reader,
            config: config.clone(),
            pending,
        };
        Ok(OpenedTrack {
            track: Box::new(track),
            config,
            frame_rate,
        })
    }
}

impl VideoTrack for FlvTrack {
    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, String> {
        if let Some(unit) = self.pending.pop_front() {
            return Ok(Some(unit));
        }
        loop {
            let Some((kind, timestamp_ms, body)) = next_tag(&mut self.reader)? else {
                return Ok(None);
            };
            if kind != TagKind::Video {
                continue;
            }
            match parse_video_body(&body).map_err(|e| e.to_string())? {
                VideoBody::Nalu {
                    composition_time_ms,
                    data,
                    ..
                } => {
                    return Ok(Some(AccessUnit {
                        pts_ms: presentation_ms(timestamp_ms, composition_time_ms),
                        avcc: data.to_vec(),
                    }))
                }
                VideoBody::SequenceHeader(record) => {
                    let header = AvcDecoderConfig::parse(record)
                        .map_err(|e| format!("bad AVC sequence header: {e}"))?;
                    if header != self.config {
                        return Err("the AVC sequence header changes mid-file".into());
                    }
                }
                VideoBody::EndOfSequence => return Ok(None),
            }
        }
    }
}

/// Decode time plus composition offset, in milliseconds (never negative).
fn presentation_ms(decode_ms: u32, composition_ms: i32) -> u64 {
    (i64::from(decode_ms) + i64::from(composition_ms)).max(0) as u64
}

/// The next tag's kind, decode time and body; `None` at the end. Tags of
/// unknown types are skipped.
fn next_tag(
    reader: &mut FlvReader<BufReader<File>>,
) -> Result<Option<(TagKind, u32, Vec<u8>)>, String> {
    loop {
        match reader.next_tag() {
            Ok(Some(tag)) => return Ok(Some((tag.kind, tag.timestamp_ms, tag.body.to_vec()))),
            Ok(None) => return Ok(None),
            Err(FlvError::UnknownTagType { .. }) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The frame rate from the decode times of the first video tags (FLV
/// keeps whole milliseconds): their mean spacing, taken as the nearest
/// whole or NTSC (×1000/1001) rate when within 1 % of one.
fn spacing_frame_rate(times: &[u32]) -> Result<FrameRate, String> {
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return Err(TOO_FEW.into());
    };
    if times.len() < 2 || last <= first {
        return Err(TOO_FEW.into());
    }
    let fps = 1000.0 * (times.len() - 1) as f64 / f64::from(last - first);
    let whole = fps.round();
    let ntsc = (fps * 1.001).round() / 1.001;
    let snapped = [whole, ntsc]
        .into_iter()
        .filter(|rate| *rate > 0.0 && ((fps - rate) / rate).abs() <= 0.01)
        .min_by(|a, b| (fps - a).abs().total_cmp(&(fps - b).abs()))
        .unwrap_or(fps);
    FrameRate::from_fps(snapped).map_err(|e| e.to_string())
}

const TOO_FEW: &str =
    "cannot tell the frame rate: onMetaData states none and there are too few frames";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presentation_times_add_the_composition_offset() {
        assert_eq!(presentation_ms(1000, 66), 1066);
        assert_eq!(presentation_ms(10, -20), 0);
    }

    #[test]
    fn the_rate_is_the_mean_spacing_of_decode_times_snapped() {
        let rate = spacing_frame_rate(&[0, 33, 67, 100, 133]).unwrap();
        assert_eq!((rate.num, rate.den), (30, 1));
        let rate = spacing_frame_rate(&[0, 40, 80]).unwrap();
        assert_eq!((rate.num, rate.den), (25, 1));
        let ntsc = spacing_frame_rate(&[0, 33, 67, 100, 133, 167, 200, 234]).unwrap();
        assert_eq!((ntsc.num, ntsc.den), (2997, 100));
        let odd = spacing_frame_rate(&[0, 80, 160]).unwrap();
        assert_eq!((odd.num, odd.den), (25, 2));
        assert!(spacing_frame_rate(&[5]).is_err());
        assert!(spacing_frame_rate(&[5, 5]).is_err());
    }
}
