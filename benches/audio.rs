//! The sound path, per second of audio: AAC-LC encoding (48 kHz stereo at
//! 128 kbps) and decoding, resampling a 44.1 kHz file to 48 kHz, and the
//! mixer (tone microphone plus music, through the limiter). A live push
//! spends this much CPU per second of stream on sound.
//!
//! `cargo bench --bench audio`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liveroom::audio::{
    AacDecoder, AacEncoder, AudioFormat, AudioMixer, AudioSource, BgmState, Resampler, ToneSource,
    WavWriter,
};

fn one_second(format: AudioFormat) -> Vec<f32> {
    let mut tone = ToneSource::continuous(format, 440.0, 0.5);
    let mut samples = vec![0.0; format.samples(format.sample_rate as usize)];
    tone.read(&mut samples).expect("tone");
    samples
}

fn audio(c: &mut Criterion) {
    let format = AudioFormat::new(48_000, 2).expect("format");
    let second = one_second(format);
    let mut group = c.benchmark_group("audio");
    group.throughput(Throughput::Elements(1));

    let mut encoder = AacEncoder::new(format, 128).expect("encoder");
    group.bench_function("aac_encode_1s_48k_stereo", |b| {
        b.iter(|| encoder.encode(&second).expect("encode"))
    });

    let mut source_encoder = AacEncoder::new(format, 128).expect("encoder");
    let packets = source_encoder.encode(&second).expect("encode");
    let mut decoder = AacDecoder::new(source_encoder.audio_specific_config()).expect("decoder");
    group.bench_function("aac_decode_1s_48k_stereo", |b| {
        b.iter(|| {
            for packet in &packets {
                decoder.decode(&packet.data).expect("decode");
            }
        })
    });

    let cd = AudioFormat::new(44_100, 2).expect("format");
    let cd_second = one_second(cd);
    let mut resampler = Resampler::new(44_100, 48_000, 2).expect("resampler");
    let mut out = Vec::with_capacity(second.len() + 1024);
    group.bench_function("resample_1s_44k1_to_48k_stereo", |b| {
        b.iter(|| {
            out.clear();
            resampler.push(&cd_second, &mut out).expect("resample");
        })
    });

    let dir = std::env::temp_dir().join(format!("liveroom-bench-audio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let music = dir.join("music.wav");
    let mut writer = WavWriter::create(&music, cd).expect("wav");
    for _ in 0..10 {
        writer.write(&cd_second).expect("wav");
    }
    writer.finish().expect("wav");
    let mut mixer = AudioMixer::new(Box::new(ToneSource::sync_beeps(format)));
    mixer.play_bgm(&music).expect("music");
    let mut mixed = Vec::with_capacity(second.len());
    group.bench_function("mix_1s_tone_and_44k1_music", |b| {
        b.iter(|| {
            if mixer.bgm_state() == BgmState::Idle {
                mixer.play_bgm(&music).expect("music");
            }
            mixed.clear();
            mixer.render(48_000, false, &mut mixed).expect("mix");
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, audio);
criterion_main!(benches);
