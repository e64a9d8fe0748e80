//! The player's H.264 decoder: round trips through our x264 encoder
//! (B-frames, reordered presentation times), interop with FFmpeg's own
//! encoder and decoder, corrupt input and configuration changes.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use liveroom::avc::{annexb_to_avcc, avcc_nal_units, AvcDecoderConfig};
use liveroom::decoder::{DecodeError, VideoDecoder};
use liveroom::encoder::{BitrateRange, EncodedFrame, Encoder, EncoderConfig};
use liveroom::flv::{parse_video_body, FlvReader, TagKind, VideoBody};
use liveroom::frame::{I420Frame, Plane};
use liveroom::geometry::Mode;
use liveroom::source::FrameRate;

use common::luma_psnr;

/// A picture with texture and motion: a drifting pattern and a moving box.
fn moving_frame(width: u32, height: u32, index: u32, fps: u32) -> I420Frame {
    let mut frame = I420Frame::black(width, height).unwrap();
    let (bx, by) = (index * 7 % width.max(1), index * 5 % height.max(1));
    for y in 0..height {
        let row = frame.row_mut(Plane::Y, y);
        for (x, value) in row.iter_mut().enumerate() {
            let x = x as u32;
            let pattern = ((x + index * 3) / 8 + (y + index * 2) / 8) % 2 * 60;
            let in_box = x >= bx && x < bx + width / 5 && y >= by && y < by + height / 6;
            *value = if in_box {
                220
            } else {
                (40 + pattern + (x + y) * 60 / (width + height)) as u8
            };
        }
    }
    for plane in [Plane::U, Plane::V] {
        let (w, h) = frame.plane_size(plane);
        for y in 0..h {
            let row = frame.row_mut(plane, y);
            for (x, value) in row.iter_mut().enumerate() {
                *value = match plane {
                    Plane::U => 90 + (x as u32 * 60 / w) as u8,
                    _ => 160 - (y * 50 / h) as u8,
                };
            }
        }
    }
    frame.timestamp = Duration::from_millis(u64::from(index) * 1000 / u64::from(fps));
    frame
}

struct Encoded {
    config: AvcDecoderConfig,
    /// Access units in decode order, as AVCC.
    units: Vec<(EncodedFrame, Vec<u8>)>,
    /// The source pictures, in display order.
    sources: Vec<I420Frame>,
}

/// Encodes `count` moving frames with our x264 wrapper (FHD preset:
/// `veryfast`, High profile, B-frames), forcing IDRs at `key_frames`.
fn encode(width: u32, height: u32, count: u32, key_frames: &[u32]) -> Encoded {
    encode_mode(Mode::Fhd, width, height, count, key_frames)
}

/// Like [`encode`] with the given pusher mode's settings.
fn encode_mode(mode: Mode, width: u32, height: u32, count: u32, key_frames: &[u32]) -> Encoded {
    let config = EncoderConfig::for_mode(
        mode,
        width,
        height,
        FrameRate::from_fps(30.0).unwrap(),
        BitrateRange::for_mode(mode),
    );
    let mut encoder = Encoder::new(&config).unwrap();
    let mut frames = Vec::new();
    let mut sources = Vec::new();
    for index in 0..count {
        let source = moving_frame(width, height, index, 30);
        frames.extend(
            encoder
                .encode(&source, key_frames.contains(&index))
                .unwrap(),
        );
        sources.push(source);
    }
    frames.extend(encoder.flush().unwrap());
    let ps = encoder.parameter_sets();
    let config = AvcDecoderConfig::from_parameter_sets(&ps.sps, &ps.pps).unwrap();
    let units = frames
        .into_iter()
        .map(|frame| {
            let mut avcc = Vec::new();
            annexb_to_avcc(&frame.data, &mut avcc).unwrap();
            (frame, avcc)
        })
        .collect();
    Encoded {
        config,
        units,
        sources,
    }
}

fn ms(frame: &I420Frame) -> u64 {
    frame.timestamp.as_millis() as u64
}

#[test]
fn x264_b_frames_round_trip_with_presentation_times() {
    let (width, height) = (720, 1280);
    let stream = encode(width, height, 30, &[16]);
    assert!(
        stream
            .units
            .windows(2)
            .any(|w| w[1].0.pts_ms < w[0].0.pts_ms),
        "the FHD preset should reorder pictures (B-frames)"
    );

    let mut decoder = VideoDecoder::new().unwrap();
    let info = decoder.configure(&stream.config).unwrap();
    assert_eq!((info.width, info.height), (width, height));

    let mut out = Vec::new();
    let mut lags = Vec::new();
    let started = Instant::now();
    for (fed, (frame, avcc)) in stream.units.iter().enumerate() {
        let pictures = decoder.decode(avcc, frame.pts_ms).unwrap();
        for _ in &pictures {
            // Access units fed beyond this picture's own position.
            lags.push(fed.saturating_sub(lags.len()));
        }
        out.extend(pictures);
    }
    let before_flush = out.len();
    out.extend(decoder.flush().unwrap());
    let elapsed = started.elapsed();
    eprintln!(
        "openh264: {} of {} pictures before flush, lag in access units per picture {:?}, \
         {:.2} ms per {width}x{height} picture",
        before_flush,
        stream.units.len(),
        lags,
        elapsed.as_secs_f64() * 1000.0 / out.len().max(1) as f64
    );

    assert_eq!(out.len(), 30);
    let mut expected: Vec<u64> = stream.units.iter().map(|(f, _)| f.pts_ms).collect();
    expected.sort_unstable();
    let got: Vec<u64> = out.iter().map(ms).collect();
    assert_eq!(got, expected);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    for (index, (decoded, source)) in out.iter().zip(&stream.sources).enumerate() {
        assert_eq!((decoded.width(), decoded.height()), (width, height));
        let psnr = luma_psnr(decoded, source);
        assert!(psnr >= 30.0, "frame {index}: luma PSNR {psnr:.1} dB");
    }
}

#[test]
fn long_stream_with_many_key_frames() {
    // Ten GOPs: OpenH264's picture buffers must not run out over time.
    let key_frames: Vec<u32> = (0..300).step_by(30).collect();
    let stream = encode(320, 240, 300, &key_frames);
    let mut decoder = VideoDecoder::new().unwrap();
    decoder.configure(&stream.config).unwrap();
    assert_clean_pass(&mut decoder, &stream, "long stream");
}

#[test]
fn zero_latency_stream_comes_out_with_at_most_one_frame_of_delay() {
    // RTC mode: no B-frames, so no reordering.
    let stream = encode_mode(Mode::Rtc, 640, 360, 20, &[]);
    let mut decoder = VideoDecoder::new().unwrap();
    decoder.configure(&stream.config).unwrap();
    let mut out = Vec::new();
    for (fed, (frame, avcc)) in stream.units.iter().enumerate() {
        out.extend(decoder.decode(avcc, frame.pts_ms).unwrap());
        // OpenH264 holds one picture back in non-Baseline streams (it cannot
        // know that no B-frame will follow), never more.
        assert!(
            out.len() >= fed,
            "{} pictures after {} access units",
            out.len(),
            fed + 1
        );
    }
    out.extend(decoder.flush().unwrap());
    assert_eq!(out.len(), 20);
    let got: Vec<u64> = out.iter().map(ms).collect();
    let sent: Vec<u64> = stream.units.iter().map(|(f, _)| f.pts_ms).collect();
    assert_eq!(got, sent);
}

fn require_ffmpeg() {
    let found = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "ffmpeg is not installed: run scripts/setup.sh (it installs ffmpeg)"
    );
}

#[test]
fn decodes_ffmpeg_flv_like_ffmpeg() {
    require_ffmpeg();
    let dir = common::scratch_dir("decoder-interop");
    let flv = dir.join("x.flv");
    let yuv = dir.join("x.yuv");
    let (width, height) = (320u32, 240u32);
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "50",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "3",
        "-f",
        "flv",
        flv.to_str().unwrap(),
    ]);
    common::ffmpeg(&[
        "-i",
        flv.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        yuv.to_str().unwrap(),
    ]);

    let mut reader = FlvReader::new(std::fs::File::open(&flv).unwrap()).unwrap();
    let mut decoder = VideoDecoder::new().unwrap();
    let mut out = Vec::new();
    let mut input_pts = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        if tag.kind != TagKind::Video {
            continue;
        }
        match parse_video_body(&tag.body).unwrap() {
            VideoBody::SequenceHeader(record) => {
                let info = decoder
                    .configure(&AvcDecoderConfig::parse(record).unwrap())
                    .unwrap();
                assert_eq!((info.width, info.height), (width, height));
            }
            VideoBody::Nalu {
                composition_time_ms,
                data,
                ..
            } => {
                let pts = (i64::from(tag.timestamp_ms) + i64::from(composition_time_ms)) as u64;
                input_pts.push(pts);
                out.extend(decoder.decode(data, pts).unwrap());
            }
            VideoBody::EndOfSequence => out.extend(decoder.flush().unwrap()),
        }
    }
    out.extend(decoder.flush().unwrap());

    let raw = std::fs::read(&yuv).unwrap();
    let frame_len = (width * height * 3 / 2) as usize;
    let reference: Vec<I420Frame> = raw
        .chunks_exact(frame_len)
        .map(|bytes| I420Frame::from_packed_bytes(width, height, bytes, Duration::ZERO).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(reference.len(), 50);
    assert_eq!(out.len(), reference.len());
    input_pts.sort_unstable();
    let got: Vec<u64> = out.iter().map(ms).collect();
    assert_eq!(got, input_pts);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    for (index, (ours, theirs)) in out.iter().zip(&reference).enumerate() {
        let psnr = luma_psnr(ours, theirs);
        assert!(psnr >= 50.0, "frame {index}: luma PSNR {psnr:.1} dB");
    }
}

/// Feeds clean `units` and flushes; every call must succeed.
fn feed(decoder: &mut VideoDecoder, units: &[(EncodedFrame, Vec<u8>)]) -> Vec<I420Frame> {
    let mut out = Vec::new();
    for (frame, avcc) in units {
        out.extend(decoder.decode(avcc, frame.pts_ms).unwrap());
    }
    out.extend(decoder.flush().unwrap());
    out
}

/// Checks that a clean pass over `stream` gives every picture, in order,
/// with its presentation time.
fn assert_clean_pass(decoder: &mut VideoDecoder, stream: &Encoded, what: &str) {
    let out = feed(decoder, &stream.units);
    assert_eq!(out.len(), stream.sources.len(), "{what}");
    let mut expected: Vec<u64> = stream.units.iter().map(|(f, _)| f.pts_ms).collect();
    expected.sort_unstable();
    assert_eq!(out.iter().map(ms).collect::<Vec<_>>(), expected, "{what}");
    for (decoded, source) in out.iter().zip(&stream.sources) {
        assert!(luma_psnr(decoded, source) >= 30.0, "{what}");
    }
}

/// Reproducible noise (xorshift).
struct Noise(u32);

impl Noise {
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 17;
                self.0 ^= self.0 << 5;
                self.0 as u8
            })
            .collect()
    }
}

/// One AVCC NAL unit of type `nal_type` (nal_ref_idc 3) with a noise body.
fn noise_nal(noise: &mut Noise, nal_type: u8, len: usize) -> Vec<u8> {
    let mut body = noise.bytes(len);
    body[0] = 0x60 | nal_type;
    let mut unit = (body.len() as u32).to_be_bytes().to_vec();
    unit.extend_from_slice(&body);
    unit
}

#[test]
fn garbage_and_truncated_access_units_then_recovery() {
    let stream = encode(320, 240, 8, &[]);
    let key = &stream.units[0].1;
    let mut noise = Noise(0x2545_F491);

    // Malformed framing, before any key frame: errors, never a panic.
    let mut decoder = VideoDecoder::new().unwrap();
    decoder.configure(&stream.config).unwrap();
    let mut framing: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0, 0, 0],
        vec![0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3],
        vec![0, 0, 0, 2, 0xE5, 0x88],
        key[..key.len() / 2].to_vec(),
    ];
    for _ in 0..10 {
        framing.push(noise.bytes(300));
    }
    for bytes in &framing {
        let result = decoder.decode(bytes, 0);
        assert!(
            matches!(
                result,
                Err(DecodeError::Bitstream(_) | DecodeError::ForbiddenBit { .. })
            ),
            "{:?}: {result:?}",
            &bytes[..bytes.len().min(8)]
        );
    }
    assert!(decoder.decode(&[], 0).unwrap().is_empty());
    assert_clean_pass(&mut decoder, &stream, "after malformed framing");

    // Well-framed noise of every NAL type, and a key frame truncated inside
    // its slice data, in the middle of a running stream: errors or no
    // pictures, never a panic, and the next key frame decodes.
    let mut truncated_key = Vec::new();
    for nal in avcc_nal_units(key, 4).unwrap() {
        let nal = &nal[..nal.len().div_ceil(2)];
        truncated_key.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        truncated_key.extend_from_slice(nal);
    }
    let mut corrupt: Vec<(String, Vec<u8>)> = (0..32u8)
        .map(|t| (format!("noise NAL type {t}"), noise_nal(&mut noise, t, 200)))
        .collect();
    corrupt.push(("truncated key frame".into(), truncated_key));
    let mut truncated_p = stream.units[3].1.clone();
    truncated_p.truncate(truncated_p.len() * 2 / 3);
    let cut = truncated_p.len() as u32 - 4;
    truncated_p[..4].copy_from_slice(&cut.to_be_bytes());
    corrupt.push(("truncated P-frame".into(), truncated_p));

    let mut clean_pts: Vec<u64> = stream.units.iter().map(|(f, _)| f.pts_ms).collect();
    clean_pts.sort_unstable();
    // A time between two real pictures: if OpenH264 swallowed the corrupt
    // unit but its time were queued, later pictures would take wrong times.
    let corrupt_pts = clean_pts[3] + 1;
    let mut errors = 0;
    for (what, bytes) in &corrupt {
        let mut out = Vec::new();
        for (frame, avcc) in &stream.units[..3] {
            out.extend(decoder.decode(avcc, frame.pts_ms).unwrap());
        }
        let mut failed = false;
        let results = std::iter::once(decoder.decode(bytes, corrupt_pts)).chain(
            stream.units[3..]
                .iter()
                .map(|(frame, avcc)| decoder.decode(avcc, frame.pts_ms)),
        );
        for result in results.collect::<Vec<_>>() {
            match result {
                Ok(pictures) => out.extend(pictures),
                Err(_) => failed = true,
            }
        }
        match decoder.flush() {
            Ok(pictures) => out.extend(pictures),
            Err(_) => failed = true,
        }
        errors += usize::from(failed);
        let got: Vec<u64> = out
            .iter()
            .map(ms)
            .filter(|&pts| pts != corrupt_pts)
            .collect();
        if failed {
            // Pictures up to the error (some held inside OpenH264 are lost).
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{what}: {got:?}");
            assert!(got.iter().all(|p| clean_pts.contains(p)), "{what}: {got:?}");
        } else {
            assert_eq!(got, clean_pts, "{what}");
        }
        assert_clean_pass(&mut decoder, &stream, what);
    }
    eprintln!(
        "{errors} of {} corrupt access units in running streams gave errors",
        corrupt.len()
    );
    assert!(errors > 0);
}

#[test]
fn configuration_change_mid_stream() {
    let small = encode(320, 240, 10, &[]);
    let large = encode(640, 360, 10, &[]);
    let mut decoder = VideoDecoder::new().unwrap();

    let info = decoder.configure(&small.config).unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    let mut out = Vec::new();
    // Feed part of the small stream, then switch without flushing.
    for (frame, avcc) in &small.units {
        out.extend(decoder.decode(avcc, frame.pts_ms).unwrap());
    }
    // A repeated identical header changes nothing.
    decoder.configure(&small.config).unwrap();
    let info = decoder.configure(&large.config).unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    // The large stream continues the clock after the small one.
    let offset = 1000;
    for (frame, avcc) in &large.units {
        out.extend(decoder.decode(avcc, frame.pts_ms + offset).unwrap());
    }
    out.extend(decoder.flush().unwrap());

    assert_eq!(out.len(), 20);
    let (first, second) = out.split_at(10);
    for (decoded, source) in first.iter().zip(&small.sources) {
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
        assert!(luma_psnr(decoded, source) >= 30.0);
    }
    for (decoded, source) in second.iter().zip(&large.sources) {
        assert_eq!((decoded.width(), decoded.height()), (640, 360));
        assert!(luma_psnr(decoded, source) >= 30.0);
    }
    let got: Vec<u64> = out.iter().map(ms).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
}
