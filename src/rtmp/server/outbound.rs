//! Messages the server writes itself rather than through `rml_rtmp`'s
//! session, for what the session cannot say or says badly: the `StreamEOF`
//! user control event and `NetStream.Play.UnpublishNotify` when a
//! publisher leaves and `StreamBegin` when one starts (as nginx-rtmp tells
//! its players), and `onMetaData` at
//! timestamp 0 with its keys in a fixed order (the session would stamp it
//! with the connection's clock and order the keys by hash).
//!
//! Each message goes out whole on a chunk stream of its own
//! ([`OWN_CSID`]), every chunk header of type 0 (continuations of type 3),
//! so that it never disturbs the header compression of the session's chunk
//! streams (2 to 6).

use rml_rtmp::sessions::StreamMetadata;

use crate::flv::{encode_amf0, AmfValue};

/// The chunk stream of the messages written here; `rml_rtmp` uses 2 to 6.
pub(super) const OWN_CSID: u8 = 8;
/// Message type of user control messages.
const USER_CONTROL: u8 = 4;
/// Message type of AMF0 data messages.
const AMF0_DATA: u8 = 18;
/// Message type of AMF0 commands.
const AMF0_COMMAND: u8 = 20;
/// User control event `StreamBegin`.
const STREAM_BEGIN: u16 = 0;
/// User control event `StreamEOF`.
const STREAM_EOF: u16 = 1;

/// Appends one message at timestamp 0, split into chunks of `chunk_size`
/// (the size announced to the peer).
fn append_message(
    out: &mut Vec<u8>,
    type_id: u8,
    message_stream_id: u32,
    payload: &[u8],
    chunk_size: u32,
) {
    let chunk_size = usize::try_from(chunk_size.max(1)).unwrap_or(usize::MAX);
    // A message longer than RTMP's 24-bit length cannot be said: the
    // payloads made here are far shorter.
    let length = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .min(0xff_ffff);
    out.push(OWN_CSID);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&message_stream_id.to_le_bytes());
    for (index, piece) in payload.chunks(chunk_size).enumerate() {
        if index > 0 {
            out.push(0xc0 | OWN_CSID);
        }
        out.extend_from_slice(piece);
    }
}

/// Appends the `StreamEOF` user control event for `stream_id`.
pub(super) fn stream_eof(out: &mut Vec<u8>, stream_id: u32, chunk_size: u32) {
    user_control(out, STREAM_EOF, stream_id, chunk_size);
}

/// Appends the `StreamBegin` user control event for `stream_id`.
pub(super) fn stream_begin(out: &mut Vec<u8>, stream_id: u32, chunk_size: u32) {
    user_control(out, STREAM_BEGIN, stream_id, chunk_size);
}

fn user_control(out: &mut Vec<u8>, event: u16, stream_id: u32, chunk_size: u32) {
    let mut payload = event.to_be_bytes().to_vec();
    payload.extend_from_slice(&stream_id.to_be_bytes());
    append_message(out, USER_CONTROL, 0, &payload, chunk_size);
}

/// Appends an `onStatus` command with level `status` and `code` on
/// `stream_id`.
pub(super) fn on_status(
    out: &mut Vec<u8>,
    stream_id: u32,
    code: &str,
    description: &str,
    chunk_size: u32,
) {
    let mut payload = Vec::new();
    encode_amf0(&AmfValue::String("onStatus".into()), &mut payload);
    encode_amf0(&AmfValue::Number(0.0), &mut payload);
    encode_amf0(&AmfValue::Null, &mut payload);
    encode_amf0(
        &AmfValue::Object(vec![
            ("level".into(), AmfValue::String("status".into())),
            ("code".into(), AmfValue::String(code.into())),
            ("description".into(), AmfValue::String(description.into())),
        ]),
        &mut payload,
    );
    append_message(out, AMF0_COMMAND, stream_id, &payload, chunk_size);
}

/// Appends an `onMetaData` data message at timestamp 0 on `stream_id`.
pub(super) fn metadata(
    out: &mut Vec<u8>,
    stream_id: u32,
    metadata: &StreamMetadata,
    chunk_size: u32,
) {
    append_message(
        out,
        AMF0_DATA,
        stream_id,
        &metadata_body(metadata),
        chunk_size,
    );
}

/// An `onMetaData` body (an FLV script tag's, an RTMP data message's) from
/// the publisher's metadata: the fields it gave, always in this order.
pub(super) fn metadata_body(metadata: &StreamMetadata) -> Vec<u8> {
    let mut properties = Vec::new();
    let mut number = |key: &str, value: Option<f64>| {
        if let Some(value) = value {
            properties.push((key.to_string(), AmfValue::Number(value)));
        }
    };
    number("width", metadata.video_width.map(f64::from));
    number("height", metadata.video_height.map(f64::from));
    number("videocodecid", metadata.video_codec_id.map(f64::from));
    number("framerate", metadata.video_frame_rate.map(f64::from));
    number("videodatarate", metadata.video_bitrate_kbps.map(f64::from));
    number("audiocodecid", metadata.audio_codec_id.map(f64::from));
    number("audiodatarate", metadata.audio_bitrate_kbps.map(f64::from));
    number("audiosamplerate", metadata.audio_sample_rate.map(f64::from));
    number("audiochannels", metadata.audio_channels.map(f64::from));
    if let Some(stereo) = metadata.audio_is_stereo {
        properties.push(("stereo".to_string(), AmfValue::Boolean(stereo)));
    }
    if let Some(encoder) = &metadata.encoder {
        properties.push(("encoder".to_string(), AmfValue::String(encoder.clone())));
    }
    let mut body = Vec::new();
    encode_amf0(&AmfValue::String("onMetaData".into()), &mut body);
    encode_amf0(&AmfValue::EcmaArray(properties), &mut body);
    body
}

/// Appends `|RtmpSampleAccess` (the player may read the pictures and
/// sound) at timestamp 0, as nginx-rtmp sends it after `NetStream.Play.Start`.
pub(super) fn sample_access(out: &mut Vec<u8>, stream_id: u32, chunk_size: u32) {
    let mut payload = Vec::new();
    encode_amf0(&AmfValue::String("|RtmpSampleAccess".into()), &mut payload);
    encode_amf0(&AmfValue::Boolean(true), &mut payload);
    encode_amf0(&AmfValue::Boolean(true), &mut payload);
    append_message(out, AMF0_DATA, stream_id, &payload, chunk_size);
}

/// Whether a packet `rml_rtmp` made is a data message on its data chunk
/// stream (3). Its answer to `play` ends with two: `|RtmpSampleAccess` and
/// `onStatus NetStream.Data.Start`, stamped with the connection's clock.
/// FFmpeg takes a data message stamped later than 0 for a subtitle stream
/// and the unknown `onStatus` one for a data stream; nginx-rtmp sends
/// neither so. They are left out ([`sample_access`] replaces the first).
/// That is safe: they are the last messages on that chunk stream, which the
/// session uses for nothing else once [`metadata`] writes the metadata.
pub(super) fn is_session_data(packet: &[u8]) -> bool {
    packet.first().is_some_and(|first| first & 0x3f == 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::{ChunkReader, InboundLimits};

    #[test]
    fn own_messages_read_back_whole() {
        let mut out = Vec::new();
        stream_eof(&mut out, 1, 128);
        stream_begin(&mut out, 1, 128);
        on_status(&mut out, 1, "NetStream.Play.UnpublishNotify", "gone", 128);
        let mut meta = StreamMetadata::new();
        meta.video_width = Some(1280);
        meta.encoder = Some("x".repeat(300));
        metadata(&mut out, 1, &meta, 128);
        let mut reader = ChunkReader::new(InboundLimits::default());
        let mut seen = Vec::new();
        reader
            .read(&out, |message| {
                seen.push((message.type_id, message.head().to_vec()))
            })
            .expect("chunks");
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].0, USER_CONTROL);
        assert!(seen[0].1.starts_with(&[0, 1, 0, 0, 0, 1]));
        assert!(seen[1].1.starts_with(&[0, 0, 0, 0, 0, 1]));
        assert_eq!(seen[2].0, AMF0_COMMAND);
        assert_eq!(seen[3].0, AMF0_DATA);
        let body = metadata_body(&meta);
        assert!(body.len() > 300);
        let parsed = crate::flv::parse_stream_metadata(&body).expect("metadata");
        assert_eq!(parsed.width, 1280);
    }

    #[test]
    fn only_data_chunk_stream_packets_are_recognised() {
        let mut start = vec![0x03];
        start.extend_from_slice(b"....onStatus....NetStream.Data.Start");
        assert!(is_session_data(&start));
        assert!(is_session_data(&[0x43, 0, 0, 0]));
        let mut command = vec![0x06];
        command.extend_from_slice(b"NetStream.Data.Start");
        assert!(!is_session_data(&command));
        assert!(!is_session_data(&[]));
        let mut out = Vec::new();
        sample_access(&mut out, 1, 128);
        assert_eq!(out[0], OWN_CSID);
    }
}
