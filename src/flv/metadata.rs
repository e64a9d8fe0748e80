//! `onMetaData`: the stream description an FLV file or RTMP stream sends
//! first as script data, as [`StreamMetadata`], with the builders of its
//! script body (FLV form and RTMP `@setDataFrame` form) and its parser.

use super::amf0::{decode_amf0, encode_amf0, AmfValue};
use super::{FlvError, AUDIO_FORMAT_AAC, VIDEO_CODEC_AVC};

/// Audio fields of [`StreamMetadata`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioMetadata {
    /// Sample rate in Hz (`audiosamplerate`).
    pub sample_rate: u32,
    /// Channel count (`stereo` is written as `channels >= 2`).
    pub channels: u8,
    /// Bit rate in kbit/s (`audiodatarate`).
    pub bitrate_kbps: f64,
}

/// The stream description carried by `onMetaData`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamMetadata {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub frame_rate: f64,
    /// Video bit rate in kbit/s (`videodatarate`).
    pub video_bitrate_kbps: f64,
    /// Audio description, when the stream has audio (codec id 10 = AAC).
    pub audio: Option<AudioMetadata>,
    /// Encoder name.
    pub encoder: String,
    /// Duration in seconds, for files (absent for live streams).
    pub duration_s: Option<f64>,
}

/// `f64` to `u32`, saturating; NaN becomes 0.
fn to_u32(v: f64) -> u32 {
    v as u32
}

impl StreamMetadata {
    /// The `onMetaData` properties, in the usual order; video codec id 7
    /// (AVC) when there is a picture size, audio codec id 10 (AAC) when
    /// there is audio.
    pub fn to_properties(&self) -> Vec<(String, AmfValue)> {
        let mut p: Vec<(String, AmfValue)> = Vec::new();
        let mut num = |k: &str, v: f64| p.push((k.to_string(), AmfValue::Number(v)));
        if let Some(d) = self.duration_s {
            num("duration", d);
        }
        // An audio-only stream (no picture size) has no video fields.
        if self.width > 0 && self.height > 0 {
            num("width", f64::from(self.width));
            num("height", f64::from(self.height));
            num("videodatarate", self.video_bitrate_kbps);
            num("framerate", self.frame_rate);
            num("videocodecid", f64::from(VIDEO_CODEC_AVC));
        }
        if let Some(a) = &self.audio {
            num("audiodatarate", a.bitrate_kbps);
            num("audiosamplerate", f64::from(a.sample_rate));
            num("audiosamplesize", 16.0);
            num("audiochannels", f64::from(a.channels));
            p.push(("stereo".to_string(), AmfValue::Boolean(a.channels >= 2)));
            p.push((
                "audiocodecid".to_string(),
                AmfValue::Number(f64::from(AUDIO_FORMAT_AAC)),
            ));
        }
        p.push((
            "encoder".to_string(),
            AmfValue::String(self.encoder.clone()),
        ));
        p
    }

    /// Extracts the known fields from `onMetaData` properties; missing or
    /// mistyped ones take their defaults. Audio is present when any audio
    /// field is.
    pub fn from_properties(props: &[(String, AmfValue)]) -> Self {
        let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let num = |k: &str| get(k).and_then(AmfValue::as_f64);
        let has_audio = ["audiocodecid", "audiosamplerate", "audiodatarate", "stereo"]
            .iter()
            .any(|k| get(k).is_some());
        let audio = has_audio.then(|| AudioMetadata {
            sample_rate: num("audiosamplerate").map_or(0, to_u32),
            channels: match num("audiochannels") {
                Some(c) => c.clamp(0.0, 255.0) as u8,
                None => match get("stereo").and_then(AmfValue::as_bool) {
                    Some(false) => 1,
                    _ => 2,
                },
            },
            bitrate_kbps: num("audiodatarate").unwrap_or(0.0),
        });
        Self {
            width: num("width").map_or(0, to_u32),
            height: num("height").map_or(0, to_u32),
            frame_rate: num("framerate").unwrap_or(0.0),
            video_bitrate_kbps: num("videodatarate").unwrap_or(0.0),
            audio,
            encoder: get("encoder")
                .and_then(AmfValue::as_str)
                .unwrap_or_default()
                .to_string(),
            duration_s: num("duration"),
        }
    }
}

/// The script tag body `"onMetaData"` + ECMA array of `meta`.
pub fn metadata_body(meta: &StreamMetadata) -> Vec<u8> {
    let mut out = Vec::new();
    encode_amf0(&AmfValue::String("onMetaData".to_string()), &mut out);
    encode_amf0(&AmfValue::EcmaArray(meta.to_properties()), &mut out);
    out
}

/// The RTMP data message form: `"@setDataFrame"`, `"onMetaData"`, ECMA array.
pub fn set_data_frame_body(meta: &StreamMetadata) -> Vec<u8> {
    let mut out = Vec::new();
    encode_amf0(&AmfValue::String("@setDataFrame".to_string()), &mut out);
    out.extend_from_slice(&metadata_body(meta));
    out
}

/// Parses an `onMetaData` script body (optionally preceded by
/// `"@setDataFrame"`, the RTMP form) into its properties, in order. Another
/// script name gives [`FlvError::NotMetadata`].
pub fn parse_metadata_body(body: &[u8]) -> Result<Vec<(String, AmfValue)>, FlvError> {
    let values = decode_amf0(body)?;
    let mut it = values.into_iter();
    let mut name = it.next();
    if matches!(&name, Some(AmfValue::String(s)) if s == "@setDataFrame") {
        name = it.next();
    }
    match name {
        Some(AmfValue::String(s)) if s == "onMetaData" => {}
        Some(AmfValue::String(s)) => return Err(FlvError::NotMetadata(s)),
        _ => {
            return Err(FlvError::InvalidAmf {
                offset: 0,
                reason: "script data does not start with a name string",
            })
        }
    }
    match it.next() {
        Some(AmfValue::EcmaArray(p) | AmfValue::Object(p)) => Ok(p),
        _ => Err(FlvError::InvalidAmf {
            offset: 0,
            reason: "onMetaData is not followed by an ECMA array or object",
        }),
    }
}

/// [`parse_metadata_body`] followed by [`StreamMetadata::from_properties`].
pub fn parse_stream_metadata(body: &[u8]) -> Result<StreamMetadata, FlvError> {
    parse_metadata_body(body).map(|p| StreamMetadata::from_properties(&p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::tests::sample_meta;

    #[test]
    fn amf_metadata_round_trip_and_set_data_frame() {
        let meta = sample_meta();
        let body = metadata_body(&meta);
        assert_eq!(&body[..13], b"\x02\x00\x0AonMetaData");
        assert_eq!(body[13], 0x08);
        assert_eq!(&body[body.len() - 3..], &[0, 0, 9]);
        assert_eq!(parse_stream_metadata(&body).unwrap(), meta);

        let rtmp = set_data_frame_body(&meta);
        assert_eq!(parse_stream_metadata(&rtmp).unwrap(), meta);
        let props = parse_metadata_body(&rtmp).unwrap();
        let codec = props.iter().find(|(k, _)| k == "videocodecid").unwrap();
        assert_eq!(codec.1, AmfValue::Number(7.0));

        let file_meta = StreamMetadata {
            audio: None,
            duration_s: Some(12.5),
            ..meta
        };
        assert_eq!(
            parse_stream_metadata(&metadata_body(&file_meta)).unwrap(),
            file_meta
        );

        let mut cue = Vec::new();
        encode_amf0(&AmfValue::String("onCuePoint".into()), &mut cue);
        encode_amf0(&AmfValue::Object(vec![]), &mut cue);
        assert!(matches!(
            parse_metadata_body(&cue),
            Err(FlvError::NotMetadata(name)) if name == "onCuePoint"
        ));
    }
}
