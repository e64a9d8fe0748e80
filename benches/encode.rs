//! The encoder side of the pusher: x264 (`veryfast`, the FHD preset's
//! 1800 kbps VBV cap, 2 s key frames) on 720×1280 frames, and the FLV
//! packaging of its output (Annex-B → AVCC, tag written to memory).
//! Frames come from the stamped `testsrc`, which moves every frame, so the
//! encoder works as it does on a live picture.
//!
//! `cargo bench --bench encode`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::avc;
use liveroom::encoder::{BitrateRange, Encoder, EncoderConfig};
use liveroom::flv::{self, FlvHeader, FlvWriter, TagKind};
use liveroom::geometry::Mode;
use liveroom::source::{FrameRate, FrameSource, TestSource};

fn encode_720x1280(c: &mut Criterion) {
    let rate = FrameRate { num: 30, den: 1 };
    let mut source = TestSource::new(720, 1280, rate).expect("test source");
    let frames: Vec<_> = (0..60)
        .map(|_| source.next_frame().expect("frame").expect("endless source"))
        .collect();
    let config = EncoderConfig::for_mode(
        Mode::Fhd,
        720,
        1280,
        rate,
        BitrateRange::for_mode(Mode::Fhd),
    );
    let mut encoder = Encoder::new(&config).expect("encoder");
    let mut index = 0u64;
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("x264_veryfast_720x1280", |b| {
        b.iter(|| {
            let mut frame = frames[(index % 60) as usize].clone();
            frame.timestamp = rate.timestamp(index);
            index += 1;
            encoder.encode(&frame, false).expect("encode")
        })
    });

    // Packaging one typical access unit into an FLV tag.
    let mut packets = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let mut frame = frame.clone();
        frame.timestamp = rate.timestamp(index + i as u64);
        packets.extend(encoder.encode(&frame, false).expect("encode"));
    }
    packets.extend(encoder.flush().expect("flush"));
    let sample = packets
        .get(packets.len() / 2)
        .expect("encoded frames")
        .clone();
    let mut writer =
        FlvWriter::new(Vec::with_capacity(1 << 20), FlvHeader::default()).expect("flv writer");
    let mut avcc = Vec::new();
    group.bench_function("flv_tag_from_access_unit", |b| {
        b.iter(|| {
            avcc.clear();
            avc::annexb_to_avcc_without_parameter_sets(&sample.data, &mut avcc).expect("avcc");
            let body =
                flv::video_nalu_body(sample.key_frame, sample.composition_offset_ms(), &avcc);
            writer
                .write(TagKind::Video, sample.dts_ms as u32, &body)
                .expect("tag");
            if writer.bytes_written() > 64 << 20 {
                writer = FlvWriter::new(Vec::with_capacity(1 << 20), FlvHeader::default())
                    .expect("flv writer");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, encode_720x1280);
criterion_main!(benches);
