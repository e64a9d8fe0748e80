//! The H.264 track of an MP4 (M4V, MOV) file through symphonia's ISO-MP4
//! demuxer, already the reader of audio files: access units with their
//! presentation times, and the `avcC` record.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::video::well_known::extra_data::VIDEO_EXTRA_DATA_ID_AVC_DECODER_CONFIG;
use symphonia::core::codecs::video::well_known::CODEC_ID_H264;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;

use super::{AccessUnit, OpenedTrack, VideoTrack};
use crate::avc::AvcDecoderConfig;
use crate::source::FrameRate;

/// The first H.264 track of an MP4 file.
pub struct Mp4Track {
    reader: Box<dyn FormatReader>,
    track_id: u32,
    time_base: TimeBase,
    /// An access unit read but not yet handed out (the first one).
    pending: Option<Packet>,
}

impl Mp4Track {
    /// Opens `path`: its first H.264 track, its `avcC` record and its frame
    /// rate (the first sample's duration: MP4 states no frame count for
    /// video).
    pub fn open(path: &Path) -> Result<OpenedTrack, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(extension);
        }
        let mut reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| format!("not a readable MP4 file ({e})"))?;
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
            .ok_or("no H.264 video track")?;
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
            .ok_or("the H.264 track has no avcC record")?;
        let config =
            AvcDecoderConfig::parse(&avcc.data).map_err(|e| format!("bad avcC record: {e}"))?;
        let time_base = track
            .time_base
            .ok_or("the video track states no time base")?;
        let track_id = track.id;
        let first = loop {
            match reader.next_packet() {
                Ok(Some(packet)) if packet.track_id == track_id => break packet,
                Ok(Some(_)) => {}
                Ok(None) => return Err("the video track has no frames".into()),
                Err(error) => return Err(error.to_string()),
            }
        };
        let frame_rate = sample_frame_rate(first.dur.get(), time_base)?;
        let track = Self {
            reader,
            track_id,
            time_base,
            pending: Some(first),
        };
        Ok(OpenedTrack {
            track: Box::new(track),
            config,
            frame_rate,
        })
    }
}

impl VideoTrack for Mp4Track {
    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, String> {
        loop {
            let next = match self.pending.take() {
                Some(packet) => Ok(Some(packet)),
                None => self.reader.next_packet(),
            };
            let packet = match next {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(SymphoniaError::ResetRequired) => return Ok(None),
                Err(SymphoniaError::IoError(error))
                    if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(None)
                }
                Err(error) => return Err(error.to_string()),
            };
            if packet.track_id == self.track_id {
                return Ok(Some(AccessUnit {
                    pts_ms: timestamp_ms(packet.pts.get(), self.time_base),
                    avcc: packet.data.into_vec(),
                }));
            }
        }
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
fn sample_frame_rate(duration: u64, time_base: TimeBase) -> Result<FrameRate, String> {
    let seconds =
        duration as f64 * f64::from(time_base.numer.get()) / f64::from(time_base.denom.get());
    if seconds > 0.0 {
        FrameRate::from_fps(1.0 / seconds).map_err(|e| e.to_string())
    } else {
        Err("the first frame has no duration".into())
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
        let ntsc = sample_frame_rate(1001, base(1, 30_000)).unwrap();
        assert_eq!((ntsc.num, ntsc.den), (2997, 100));
        let thirty = sample_frame_rate(512, base(1, 15_360)).unwrap();
        assert_eq!((thirty.num, thirty.den), (30, 1));
        assert!(sample_frame_rate(0, base(1, 1)).is_err());
        assert!(sample_frame_rate(1, base(1, 1000)).is_err());
    }
}
