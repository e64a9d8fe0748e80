//! What the file-format fuzz targets do with one input. This is the fuzz
//! crate's library (`liveroom_fuzz`), which the targets in
//! `fuzz/fuzz_targets/` call; the main crate's `tests/fuzz_regressions.rs`
//! includes the same file as a module and replays the seeds and the kept
//! crashes through it on stable Rust.
//!
//! Every function takes arbitrary bytes, runs them through one of
//! liveroom's untrusted-input paths and returns. Errors are the expected
//! outcome for most inputs; a panic (or an allocation the input does not
//! pay for) is a bug in liveroom.

use std::io::Cursor;
use std::path::Path;

use liveroom::audio::AudioSpecificConfig;
use liveroom::avc::{self, AvcDecoderConfig};
use liveroom::flv::{self, AudioBody, FlvReader, TagKind, VideoBody};
use liveroom::landmarks::LandmarkTrack;
use liveroom::source::{FrameSource, Y4mReader};

/// The AVCC length size assumed before a sequence header says otherwise.
const DEFAULT_LENGTH_SIZE: usize = 4;

/// Reads `data` as an FLV stream, tag by tag until the end or the first
/// error the reader cannot go on after, and parses every tag body. Input
/// that is not FLV at all is parsed as a bare body of each tag kind, so
/// that the body parsers are reached without the file framing.
pub fn flv_reader(data: &[u8]) {
    let reader = match FlvReader::new(Cursor::new(data)) {
        Ok(reader) => reader,
        Err(_) => {
            let mut length_size = DEFAULT_LENGTH_SIZE;
            for kind in [TagKind::Video, TagKind::Audio, TagKind::Script] {
                flv_body(kind, data, &mut length_size);
            }
            return;
        }
    };
    let mut length_size = DEFAULT_LENGTH_SIZE;
    // The iterator stops after the first error other than an unknown tag
    // type, and every tag consumes input, so this ends.
    for tag in reader.flatten() {
        flv_body(tag.kind, &tag.body, &mut length_size);
    }
}

/// Parses one tag body of `kind`; an AVC sequence header updates the NAL
/// length size used for the video frames after it.
fn flv_body(kind: TagKind, body: &[u8], length_size: &mut usize) {
    match kind {
        TagKind::Video => match flv::parse_video_body(body) {
            Ok(VideoBody::SequenceHeader(record)) => {
                if let Some(size) = avc_config(record) {
                    *length_size = size;
                }
            }
            Ok(VideoBody::Nalu { data, .. }) => avc_access_unit(data, *length_size),
            Ok(VideoBody::EndOfSequence) | Err(_) => {}
        },
        TagKind::Audio => {
            if let Ok(AudioBody::AacSequenceHeader(asc)) = flv::parse_audio_body(body) {
                let _ = AudioSpecificConfig::parse(asc);
            }
        }
        TagKind::Script => {
            let _ = flv::parse_stream_metadata(body);
        }
    }
}

/// Parses an `AVCDecoderConfigurationRecord` and its parameter sets;
/// returns its NAL length size. A record that parses must survive being
/// written and read back unchanged.
fn avc_config(record: &[u8]) -> Option<usize> {
    let config = AvcDecoderConfig::parse(record).ok()?;
    for sps in &config.sps {
        let _ = avc::parse_sps(sps);
    }
    let _ = config.to_annexb();
    let bytes = config
        .to_bytes()
        .expect("a parsed AVC configuration serialises");
    let again = AvcDecoderConfig::parse(&bytes).expect("a serialised AVC configuration parses");
    assert_eq!(again, config, "AVC configuration round trip");
    Some(usize::from(config.length_size))
}

/// Splits an AVCC access unit into NAL units and parses any SPS among them.
fn avc_access_unit(data: &[u8], length_size: usize) {
    let Ok(units) = avc::avcc_nal_units(data, length_size) else {
        return;
    };
    for nal in units {
        if avc::nal_type(nal) == Some(avc::NAL_SPS) {
            let _ = avc::parse_sps(nal);
        }
    }
}

/// Reads `data` as a Y4M stream: the header, then frames until the end or
/// the first error.
pub fn y4m_reader(data: &[u8]) {
    let Ok(mut reader) = Y4mReader::from_reader(Cursor::new(data), Path::new("fuzz.y4m")) else {
        return;
    };
    while let Ok(Some(_frame)) = reader.next_frame() {}
}

/// Reads `data` as a JSON-lines landmarks file and uses the faces of the
/// first frames as the effects do.
pub fn landmarks_reader(data: &[u8]) {
    let Ok(track) = LandmarkTrack::read(data, Path::new("fuzz.jsonl")) else {
        return;
    };
    for frame in 0..8 {
        for face in track.faces(frame) {
            assert_eq!(face.validate(), Ok(()), "a face the reader accepted");
            let _ = face.contour_or_synthesised();
            let _ = face.axes();
            let _ = face.mapped(|[x, y]| [1920.0 - x, y]);
        }
    }
}
