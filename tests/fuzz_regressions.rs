//! Replays the fuzzing seeds and every input that once broke a fuzz target
//! (`fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`) through the
//! same code the fuzz targets run (`fuzz/harness.rs`), on stable Rust and
//! without cargo-fuzz: each input must be handled without a panic; errors
//! are fine.
//!
//! The `rtmp_server` target needs a live server and libFuzzer's process; its
//! seeds and regressions are replayed by `bash scripts/fuzz.sh run`.
//!
//! The seeds are made by the ignored test `write_seeds`, from the writers
//! and clients the crate itself has:
//!
//! ```text
//! cargo test --test fuzz_regressions -- --ignored write_seeds
//! ```

#[path = "../fuzz/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use liveroom::avc::AvcDecoderConfig;
use liveroom::flv::{self, FlvHeader, FlvTag, FlvWriter, StreamMetadata, TagKind};
use liveroom::landmarks::{self, FaceLandmarks};
use liveroom::rtmp::play::{PlayClient, PlayConfig};
use liveroom::rtmp::{Publisher, PublisherConfig, RtmpServer, RtmpUrl, ServerConfig};
use liveroom::source::{FrameRate, Y4mWriter};
use liveroom::I420Frame;

/// The fuzz project directory.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when it is missing.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every seed and regression of `target` through `exercise`, and fails
/// naming each input that panicked.
fn replay(target: &str, exercise: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seeds");
    let mut panicked = Vec::new();
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(path).expect("a readable input");
        if panic::catch_unwind(AssertUnwindSafe(|| exercise(&data))).is_err() {
            panicked.push(path.display().to_string());
        }
    }
    assert!(panicked.is_empty(), "{target} panicked on {panicked:#?}");
}

#[test]
fn flv_reader_handles_its_seeds_and_regressions() {
    replay("flv_reader", harness::flv_reader);
}

#[test]
fn y4m_reader_handles_its_seeds_and_regressions() {
    replay("y4m_reader", harness::y4m_reader);
}

#[test]
fn landmarks_reader_handles_its_seeds_and_regressions() {
    replay("landmarks_reader", harness::landmarks_reader);
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// A High-profile 720x1280 SPS from x264, and a PPS.
const SPS: [u8; 26] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0xb4, 0x0a, 0x1b, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];
const PPS: [u8; 6] = [0x68, 0xeb, 0xec, 0xb2, 0x2c, 0x8b];
/// An AAC-LC, 44.1 kHz, stereo AudioSpecificConfig.
const ASC: [u8; 2] = [0x12, 0x10];

/// Writes the seeds of every target into `fuzz/seeds/`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand when the formats change"]
fn write_seeds() {
    let mut seeds: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    seeds.extend(flv_seeds().into_iter().map(|(n, d)| ("flv_reader", n, d)));
    seeds.extend(y4m_seeds().into_iter().map(|(n, d)| ("y4m_reader", n, d)));
    seeds.extend(
        landmarks_seeds()
            .into_iter()
            .map(|(n, d)| ("landmarks_reader", n, d)),
    );
    seeds.extend(rtmp_seeds().into_iter().map(|(n, d)| ("rtmp_server", n, d)));
    for (target, name, data) in seeds {
        assert!(data.len() < 64 << 10, "seed {target}/{name} is too large");
        let dir = fuzz_dir().join("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    }
}

fn avc_config() -> AvcDecoderConfig {
    AvcDecoderConfig::from_parameter_sets(&SPS, &PPS).unwrap()
}

fn flv_file(tags: &[FlvTag]) -> Vec<u8> {
    let header = FlvHeader {
        has_audio: true,
        has_video: true,
    };
    let mut writer = FlvWriter::new(Vec::new(), header).unwrap();
    for tag in tags {
        writer.write_tag(tag).unwrap();
    }
    writer.finish().unwrap()
}

fn flv_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let meta = StreamMetadata {
        width: 720,
        height: 1280,
        frame_rate: 30.0,
        video_bitrate_kbps: 1800.0,
        audio: Some(flv::AudioMetadata {
            sample_rate: 44100,
            channels: 2,
            bitrate_kbps: 128.0,
        }),
        encoder: "liveroom".into(),
        duration_s: Some(0.2),
    };
    let sequence_header = flv::video_sequence_header_body(&avc_config()).unwrap();
    let mut tags = vec![
        FlvTag::new(TagKind::Script, 0, flv::metadata_body(&meta)),
        FlvTag::new(TagKind::Video, 0, sequence_header.clone()),
        FlvTag::new(TagKind::Audio, 0, flv::aac_sequence_header_body(&ASC)),
    ];
    for i in 0..4u8 {
        let nal = if i == 0 { 0x65 } else { 0x41 };
        let avcc = [0, 0, 0, 4, nal, 0x88, i, 0x21];
        let time = u32::from(i) * 33;
        tags.push(FlvTag::new(
            TagKind::Video,
            time,
            flv::video_nalu_body(i == 0, 66, &avcc),
        ));
        tags.push(FlvTag::new(
            TagKind::Audio,
            time,
            flv::aac_raw_body(&[0x21, 0x10, i]),
        ));
    }
    tags.push(FlvTag::new(
        TagKind::Video,
        200,
        flv::video_end_of_sequence_body(),
    ));
    let stream = flv_file(&tags);

    // A key frame carrying its parameter sets in band, with 2-byte lengths.
    let mut config = avc_config();
    config.length_size = 2;
    let mut in_band = Vec::new();
    for nal in [&SPS[..], &PPS, &[0x65, 0x88, 0x80, 0x40]] {
        in_band.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        in_band.extend_from_slice(nal);
    }
    let in_band = flv_file(&[
        FlvTag::new(
            TagKind::Video,
            0,
            flv::video_sequence_header_body(&config).unwrap(),
        ),
        FlvTag::new(TagKind::Video, 0, flv::video_nalu_body(true, 0, &in_band)),
    ]);

    // An unknown tag type (skipped), then the RTMP form of the metadata.
    let mut unknown = flv_file(&[]);
    unknown.extend_from_slice(&[15, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 14]);
    let script = flv::set_data_frame_body(&meta);
    let mut tail = flv_file(&[FlvTag::new(TagKind::Script, 0, script.clone())]);
    unknown.extend_from_slice(&tail.split_off(13));

    vec![
        ("stream.flv", stream),
        ("in_band_parameter_sets.flv", in_band),
        ("unknown_tag.flv", unknown),
        ("bare_sequence_header.bin", sequence_header),
        ("bare_set_data_frame.bin", script),
    ]
}

fn y4m_stream(width: u32, height: u32, rate: FrameRate, frames: u8) -> Vec<u8> {
    let mut writer = Y4mWriter::new(Vec::new(), width, height, rate).unwrap();
    for i in 0..frames {
        let mut frame = I420Frame::black(width, height).unwrap();
        for (j, byte) in frame
            .plane_mut(liveroom::frame::Plane::Y)
            .iter_mut()
            .enumerate()
        {
            *byte = i.wrapping_mul(40).wrapping_add(j as u8);
        }
        writer.write_frame(&frame).unwrap();
    }
    writer.finish().unwrap()
}

fn y4m_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut plain = b"YUV4MPEG2 W5 H3 F30000:1001 It A0:0\n".to_vec();
    for _ in 0..2 {
        plain.extend_from_slice(b"FRAME Ixyz\n");
        plain.extend_from_slice(&[0x80; 5 * 3 + 2 * 3 * 2]);
    }
    vec![
        (
            "two_frames.y4m",
            y4m_stream(8, 6, FrameRate { num: 30, den: 1 }, 2),
        ),
        (
            "odd_size.y4m",
            y4m_stream(7, 5, FrameRate { num: 25, den: 1 }, 1),
        ),
        ("parameters.y4m", plain),
        (
            "mpeg2_chroma.y4m",
            b"YUV4MPEG2 W2 H2 C420mpeg2 XYSCSS=420MPEG2\nFRAME\n\x10\x20\x30\x40\x80\x80".to_vec(),
        ),
    ]
}

fn landmarks_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let face = FaceLandmarks {
        bbox: [100.0, 50.0, 80.0, 100.0],
        left_eye: [120.0, 90.0],
        right_eye: [160.0, 90.0],
        contour: Vec::new(),
    };
    let with_contour = FaceLandmarks {
        contour: vec![[100.0, 90.0], [140.0, 150.0], [180.0, 90.0]],
        ..face.clone()
    };
    let mut track = Vec::new();
    landmarks::write_line(&mut track, 0, std::slice::from_ref(&face)).unwrap();
    track.push(b'\n');
    landmarks::write_line(&mut track, 1, &[face.clone(), with_contour.clone()]).unwrap();
    landmarks::write_line(&mut track, 3, &[]).unwrap();
    let mut one = Vec::new();
    landmarks::write_line(&mut one, 2, &[with_contour]).unwrap();
    vec![
        ("track.jsonl", track),
        ("contour.jsonl", one),
        (
            "hand_written.jsonl",
            b"{\"frame\":5,\"faces\":[{\"box\":[1e1,2,30.5,40],\"left_eye\":[10,10],\"right_eye\":[20,-1e-3]}]}\r\n"
                .to_vec(),
        ),
    ]
}

/// The RTMP handshake's C0, C1 and C2: what a client sends before the
/// chunk stream.
const HANDSHAKE_BYTES: usize = 1 + 2 * 1536;

/// The bytes a client sends to the embedded server while `client` runs
/// against `rtmp://<proxy>/live/seed`, recorded by a proxy.
fn record_client(client: impl FnOnce(&RtmpUrl)) -> Vec<u8> {
    let server = RtmpServer::start(ServerConfig::default()).unwrap();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let server_addr = server.local_addr();
    let recorder = thread::spawn(move || {
        let (mut from_client, _) = proxy.accept().unwrap();
        let mut to_server = TcpStream::connect(server_addr).unwrap();
        let mut answers = to_server.try_clone().unwrap();
        let mut to_client = from_client.try_clone().unwrap();
        let answering = thread::spawn(move || {
            let _ = std::io::copy(&mut answers, &mut to_client);
            let _ = to_client.shutdown(Shutdown::Write);
        });
        let mut recorded = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match from_client.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    recorded.extend_from_slice(&buffer[..n]);
                    if to_server.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_server.shutdown(Shutdown::Write);
        answering.join().unwrap();
        recorded
    });
    let url = RtmpUrl::parse(&format!("rtmp://{proxy_addr}/live/seed")).unwrap();
    client(&url);
    let recorded = recorder.join().unwrap();
    server.stop();
    recorded
}

fn rtmp_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let publish = record_client(|url| {
        let publisher = Publisher::connect(url, &PublisherConfig::default(), &mut |_| {}).unwrap();
        let mut metadata = rml_rtmp::sessions::StreamMetadata::new();
        metadata.video_width = Some(720);
        metadata.video_height = Some(1280);
        metadata.video_codec_id = Some(7);
        metadata.audio_codec_id = Some(10);
        publisher.send_metadata(metadata).unwrap();
        let header = flv::video_sequence_header_body(&avc_config()).unwrap();
        publisher.send_video(Bytes::from(header), 0).unwrap();
        let audio_header = flv::aac_sequence_header_body(&ASC);
        publisher.send_audio(Bytes::from(audio_header), 0).unwrap();
        for i in 0..3u8 {
            let avcc = [0, 0, 0, 3, if i == 0 { 0x65 } else { 0x41 }, 0x88, i];
            let video = flv::video_nalu_body(i == 0, 0, &avcc);
            publisher
                .send_video(Bytes::from(video), u32::from(i) * 33)
                .unwrap();
            let audio = flv::aac_raw_body(&[0x21, i]);
            publisher
                .send_audio(Bytes::from(audio), u32::from(i) * 23)
                .unwrap();
        }
        publisher.close(Duration::from_secs(1)).unwrap();
    });
    let play = record_client(|url| {
        let client = PlayClient::connect(url, &PlayConfig::default(), &mut |_| {}).unwrap();
        client.close();
    });
    // The target's first byte picks the mode: 1 is "after a handshake", 0
    // is "as is" (the recording with its own handshake in front).
    let mut seeds = Vec::new();
    for (name, raw_name, recorded) in [
        ("publish.bin", "publish_raw.bin", publish),
        ("play.bin", "play_raw.bin", play),
    ] {
        assert!(recorded.len() > HANDSHAKE_BYTES, "{name}: nothing recorded");
        let mut after_handshake = vec![1];
        after_handshake.extend_from_slice(&recorded[HANDSHAKE_BYTES..]);
        seeds.push((name, after_handshake));
        let mut raw = vec![0];
        raw.extend_from_slice(&recorded);
        seeds.push((raw_name, raw));
    }
    seeds
}
