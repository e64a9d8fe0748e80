//! HTTP-FLV (`GET /APP/STREAM.flv`): a live viewer's deliveries written
//! as FLV with the crate's own [`FlvWriter`]: the file header (audio/video
//! flags per the stream), then the metadata, the sequence headers and the
//! kept GOP, then live tags. The viewer task is [`super::http_live`]'s.

use std::collections::VecDeque;

use log::debug;

use super::http_live::LiveFormat;
use super::outbound::metadata_body;
use super::player_queue::Delivery;
use super::registry::Protocol;
use super::Track;
use crate::flv::{FlvHeader, FlvWriter, TagKind};

/// A viewer's FLV: the writer, made with the first batch (whose metadata
/// and media decide the header's flags).
pub(super) struct FlvFormat {
    audio_only: bool,
    writer: Option<FlvWriter<Vec<u8>>>,
}

impl FlvFormat {
    /// FLV for a viewer of the whole stream, or of its sound alone.
    pub(super) fn new(audio_only: bool) -> Self {
        Self {
            audio_only,
            writer: None,
        }
    }
}

impl LiveFormat for FlvFormat {
    const NAME: &'static str = "HTTP-FLV";
    const PROTOCOL: Protocol = Protocol::Flv;

    fn write_batch(&mut self, batch: VecDeque<Delivery>, out: &mut Vec<u8>) -> (u64, bool) {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let header = header_for(&batch, self.audio_only);
                match FlvWriter::new(Vec::new(), header) {
                    Ok(new) => self.writer.insert(new),
                    // Writing to memory cannot fail.
                    Err(_) => return (0, true),
                }
            }
        };
        let written = write_batch(writer, batch);
        out.append(writer.get_mut());
        written
    }
}

/// The FLV header's flags for a stream whose first deliveries are
/// `batch`: what the metadata announces and what the media holds; both
/// when nothing says.
fn header_for(batch: &VecDeque<Delivery>, audio_only: bool) -> FlvHeader {
    let (mut video, mut audio) = (false, false);
    for delivery in batch {
        match delivery {
            Delivery::Metadata(metadata) => {
                video |= metadata.video_codec_id.is_some_and(|id| id != 0)
                    || metadata.video_width.is_some_and(|width| width != 0);
                audio |= metadata.audio_codec_id.is_some_and(|id| id != 0)
                    || metadata.audio_sample_rate.is_some_and(|rate| rate != 0);
            }
            Delivery::Media(media) => match media.track {
                Track::Video => video = true,
                Track::Audio => audio = true,
            },
            Delivery::Begin | Delivery::End => {}
        }
    }
    if audio_only {
        return FlvHeader {
            has_audio: true,
            has_video: false,
        };
    }
    if !video && !audio {
        (video, audio) = (true, true);
    }
    FlvHeader {
        has_audio: audio,
        has_video: video,
    }
}

/// Writes a batch as FLV tags; returns the media messages written and
/// whether the publisher left.
fn write_batch(writer: &mut FlvWriter<Vec<u8>>, batch: VecDeque<Delivery>) -> (u64, bool) {
    let mut relayed = 0;
    for delivery in batch {
        let written = match delivery {
            Delivery::Metadata(metadata) => {
                writer.write(TagKind::Script, 0, &metadata_body(&metadata))
            }
            Delivery::Media(media) => {
                relayed += 1;
                let kind = match media.track {
                    Track::Video => TagKind::Video,
                    Track::Audio => TagKind::Audio,
                };
                writer.write(kind, media.timestamp, &media.data)
            }
            Delivery::Begin => continue,
            Delivery::End => return (relayed, true),
        };
        if let Err(error) = written {
            // Only a body over 16 MiB, which RTMP could not carry either.
            debug!("HTTP-FLV: a tag is left out: {error}");
        }
    }
    (relayed, false)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audio, audio_header, key, video_header};
    use super::*;
    use crate::flv::{parse_stream_metadata, FlvReader};
    use rml_rtmp::sessions::StreamMetadata;
    use std::sync::Arc;

    #[test]
    fn a_batch_becomes_flv_tags_a_reader_reads_back() {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(360);
        metadata.video_height = Some(640);
        metadata.audio_sample_rate = Some(48_000);
        metadata.audio_channels = Some(2);
        let batch: VecDeque<Delivery> = [
            Delivery::Metadata(Arc::new(metadata)),
            Delivery::Media(video_header()),
            Delivery::Media(audio_header()),
            Delivery::Media(key(40, 100)),
            Delivery::Media(audio(50)),
            Delivery::End,
            Delivery::Media(audio(60)),
        ]
        .into();
        let header = header_for(&batch, false);
        assert!(header.has_audio && header.has_video);
        assert!(!header_for(&batch, true).has_video);
        let mut writer = FlvWriter::new(Vec::new(), header).expect("header");
        assert_eq!(write_batch(&mut writer, batch), (4, true));
        let bytes = writer.into_inner();
        let tags: Vec<_> = FlvReader::new(&bytes[..])
            .expect("reader")
            .map(|tag| tag.expect("tag"))
            .collect();
        assert_eq!(tags.len(), 5, "the tag after the end is left out");
        assert_eq!(tags[0].kind, TagKind::Script);
        let parsed = parse_stream_metadata(&tags[0].body).expect("metadata");
        assert_eq!((parsed.width, parsed.height), (360, 640));
        assert_eq!(parsed.audio.map(|a| a.sample_rate), Some(48_000));
        assert_eq!(
            tags.iter().map(|t| t.timestamp_ms).collect::<Vec<_>>(),
            vec![0, 0, 0, 40, 50]
        );
    }
}
