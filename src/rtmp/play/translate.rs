//! What the server's session events mean for a player: the `onStatus`
//! codes rml_rtmp leaves to us (stream end and reset notices) and
//! rml_rtmp's metadata in the crate's own form.

use rml_rtmp::sessions::StreamMetadata as RmlMetadata;

use crate::flv::{AudioMetadata, StreamMetadata};

/// What an `onStatus` code that rml_rtmp leaves to us means for a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamNotice {
    /// The publisher left.
    End,
    /// The stream starts over, or a publisher arrived.
    Reset,
}

pub(super) fn stream_notice(code: &str) -> Option<StreamNotice> {
    match code {
        "NetStream.Play.Complete" | "NetStream.Play.Stop" | "NetStream.Play.UnpublishNotify" => {
            Some(StreamNotice::End)
        }
        "NetStream.Play.Reset" | "NetStream.Play.PublishNotify" => Some(StreamNotice::Reset),
        _ => None,
    }
}

/// rml_rtmp's metadata in the crate's own form.
pub(super) fn convert_metadata(metadata: &RmlMetadata) -> StreamMetadata {
    // nginx-rtmp rebuilds metadata with zero audio fields for a stream
    // without audio: zeros describe nothing.
    let nonzero = |value: Option<u32>| value.is_some_and(|value| value != 0);
    let has_audio = nonzero(metadata.audio_codec_id)
        || nonzero(metadata.audio_sample_rate)
        || nonzero(metadata.audio_channels);
    let channels = metadata
        .audio_channels
        .map(|channels| channels.min(u32::from(u8::MAX)) as u8)
        .or(metadata
            .audio_is_stereo
            .map(|stereo| if stereo { 2 } else { 1 }))
        .unwrap_or(0);
    StreamMetadata {
        width: metadata.video_width.unwrap_or(0),
        height: metadata.video_height.unwrap_or(0),
        // rml keeps the frame rate as f32: round away its float noise.
        frame_rate: metadata
            .video_frame_rate
            .map(|rate| (f64::from(rate) * 1000.0).round() / 1000.0)
            .unwrap_or(0.0),
        video_bitrate_kbps: metadata.video_bitrate_kbps.map(f64::from).unwrap_or(0.0),
        audio: has_audio.then(|| AudioMetadata {
            sample_rate: metadata.audio_sample_rate.unwrap_or(0),
            channels,
            bitrate_kbps: metadata.audio_bitrate_kbps.map(f64::from).unwrap_or(0.0),
        }),
        encoder: metadata.encoder.clone().unwrap_or_default(),
        duration_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_classified() {
        for code in [
            "NetStream.Play.Complete",
            "NetStream.Play.Stop",
            "NetStream.Play.UnpublishNotify",
        ] {
            assert_eq!(stream_notice(code), Some(StreamNotice::End), "{code}");
        }
        for code in ["NetStream.Play.Reset", "NetStream.Play.PublishNotify"] {
            assert_eq!(stream_notice(code), Some(StreamNotice::Reset), "{code}");
        }
        assert_eq!(stream_notice("NetStream.Data.Start"), None);
    }

    #[test]
    fn metadata_converts_to_the_crate_form() {
        let mut metadata = RmlMetadata::new();
        metadata.video_width = Some(320);
        metadata.video_height = Some(240);
        metadata.video_frame_rate = Some(29.97);
        metadata.video_bitrate_kbps = Some(800);
        metadata.encoder = Some("Lavf".into());
        let converted = convert_metadata(&metadata);
        assert_eq!((converted.width, converted.height), (320, 240));
        assert_eq!(converted.frame_rate, 29.97);
        assert_eq!(converted.video_bitrate_kbps, 800.0);
        assert_eq!(converted.encoder, "Lavf");
        assert_eq!(converted.audio, None);
        metadata.audio_codec_id = Some(0);
        metadata.audio_sample_rate = Some(0);
        assert_eq!(convert_metadata(&metadata).audio, None);

        metadata.audio_sample_rate = Some(44_100);
        metadata.audio_is_stereo = Some(true);
        metadata.audio_bitrate_kbps = Some(128);
        let audio = convert_metadata(&metadata).audio.expect("audio described");
        assert_eq!(
            (audio.sample_rate, audio.channels, audio.bitrate_kbps),
            (44_100, 2, 128.0)
        );
        metadata.audio_channels = Some(1);
        assert_eq!(
            convert_metadata(&metadata).audio.map(|a| a.channels),
            Some(1)
        );
    }
}
