//! Video files as the pusher's input: an MP4 made by FFmpeg (H.264 High
//! with B-frames, AAC sound), and the same stream remuxed into FLV, decoded
//! by the crate's own OpenH264 decoder (through symphonia's MP4 demuxer and
//! our FLV reader) frame for frame as FFmpeg decodes them, their sound as
//! well; pushed whole, every stamped frame arrives and the file's sound
//! goes with it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ffmpeg, ffmpeg_decode, liveroom, luma_psnr, push_ok, scratch_dir, summary_of};
use liveroom::source::{
    FrameRate, FrameSource, SourceError, TestSource, VideoFile, Y4mReader, Y4mWriter,
};

const FRAMES: u32 = 90;

/// `FRAMES` of liveroom's stamped testsrc (640×360, 30 fps) encoded by
/// FFmpeg as H.264 High with up to 3 B-frames and a 440 Hz AAC tone, in
/// MP4.
fn stamped_mp4(dir: &Path) -> PathBuf {
    let y4m = dir.join("stamped.y4m");
    let rate = FrameRate { num: 30, den: 1 };
    let mut source = TestSource::new(640, 360, rate).expect("testsrc");
    let mut writer = Y4mWriter::create(&y4m, 640, 360, rate).expect("y4m");
    for _ in 0..FRAMES {
        let frame = source.next_frame().expect("frame").expect("endless");
        writer.write_frame(&frame).expect("write");
    }
    writer.finish().expect("finish");
    let mp4 = dir.join("clip.mp4");
    ffmpeg(&[
        "-i",
        y4m.to_str().expect("utf-8"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-profile:v",
        "high",
        "-bf",
        "3",
        "-g",
        "45",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        mp4.to_str().expect("utf-8"),
    ]);
    mp4
}

/// The dominant frequency of a file's sound as FFmpeg decodes it, to the
/// nearest 10 Hz.
fn dominant_tone(file: &Path, dir: &Path) -> u32 {
    let wav = dir.join("tone.wav");
    ffmpeg(&[
        "-i",
        file.to_str().expect("utf-8"),
        "-vn",
        wav.to_str().expect("utf-8"),
    ]);
    let sound = liveroom::audio::decode_file(&wav).expect("decodes");
    let mono = liveroom::audio::to_mono(&sound.samples, sound.channels);
    let middle = &mono[mono.len() / 4..mono.len() * 3 / 4];
    let frequency = liveroom::audio::dominant_frequency(middle, sound.sample_rate).expect("a tone");
    ((frequency / 10.0).round() * 10.0) as u32
}

/// How many B-frames FFmpeg's probe counts in the file's video.
fn b_frames(path: &Path) -> usize {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=pict_type", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.trim() == "B")
        .count()
}

/// Decodes `file` with our [`VideoFile`] and FFmpeg: the same frames, in
/// the same (display) order, each carrying its own stamp. Returns the
/// worst luma PSNR.
fn decodes_as_ffmpeg_does(file: &Path, dir: &Path) -> f64 {
    let reference = dir.join("ffmpeg.y4m");
    ffmpeg_decode(file, &reference);
    let mut ours = VideoFile::open(file).expect("opens");
    let info = ours.info();
    assert_eq!((info.width, info.height), (640, 360));
    assert_eq!((info.frame_rate.num, info.frame_rate.den), (30, 1));
    assert!(ours.is_finite());
    let mut theirs = Y4mReader::open(&reference).expect("FFmpeg's decode");
    let mut count = 0u32;
    let mut worst = f64::INFINITY;
    let mut cell = None;
    while let Some(frame) = ours.next_frame().expect("decodes") {
        let expected = theirs
            .next_frame()
            .expect("reads")
            .unwrap_or_else(|| panic!("we decoded more than FFmpeg's {count} frames"));
        assert_eq!(
            frame.timestamp,
            info.frame_rate.timestamp(u64::from(count)),
            "frame {count}'s time follows the file's rate"
        );
        worst = worst.min(luma_psnr(&frame, &expected));
        // Stamps read back in display order: B-frames reordered right.
        let found = liveroom::source::stamp::find(&frame, cell);
        assert_eq!(
            found.map(|(index, _)| index),
            Some(count),
            "frame {count} carries its own stamp"
        );
        cell = found.map(|(_, size)| size);
        count += 1;
    }
    assert_eq!(count, FRAMES, "every frame of {}", file.display());
    assert!(
        theirs.next_frame().expect("reads").is_none(),
        "FFmpeg has no more"
    );
    worst
}

#[test]
fn an_ffmpeg_mp4_with_b_frames_decodes_frame_for_frame_as_ffmpeg_does() {
    let dir = scratch_dir("video-input-decode");
    let mp4 = stamped_mp4(&dir);
    assert!(b_frames(&mp4) >= 20, "the clip must have B-frames");
    let worst = decodes_as_ffmpeg_does(&mp4, &dir);
    assert!(
        worst >= 40.0,
        "worst luma PSNR against FFmpeg {worst:.1} dB"
    );
    eprintln!("MP4: {FRAMES} frames, worst luma PSNR against FFmpeg's decode {worst:.1} dB");
    // The same stream remuxed by FFmpeg into FLV (composition offsets in
    // the video tags): the same frames.
    let flv = dir.join("clip.flv");
    ffmpeg(&[
        "-i",
        mp4.to_str().expect("utf-8"),
        "-c",
        "copy",
        flv.to_str().expect("utf-8"),
    ]);
    let worst = decodes_as_ffmpeg_does(&flv, &dir);
    assert!(
        worst >= 40.0,
        "worst luma PSNR against FFmpeg {worst:.1} dB"
    );
    eprintln!("FLV: {FRAMES} frames, worst luma PSNR against FFmpeg's decode {worst:.1} dB");
    // Both files' sound decodes through our readers: 3 s of the tone.
    for file in [&mp4, &flv] {
        assert!(liveroom::audio::has_decodable_sound(file));
        let format = liveroom::audio::AudioFormat::new(48_000, 2).expect("format");
        let mut sound = liveroom::audio::FileSource::open(file, format).expect("opens");
        let mut samples = vec![0.0f32; 48_000 * 2];
        let mut frames = 0;
        loop {
            let read = liveroom::audio::AudioSource::read(&mut sound, &mut samples).expect("reads");
            if read == 0 {
                break;
            }
            frames += read;
        }
        let seconds = frames as f64 / 48_000.0;
        assert!(
            (seconds - 3.0).abs() < 0.1,
            "{}: {seconds} s",
            file.display()
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn broken_and_video_less_files_get_clear_errors() {
    let dir = scratch_dir("video-input-bad");
    let mp4 = stamped_mp4(&dir);
    // Sound only: no video track to push.
    let sound_only = dir.join("sound.mp4");
    ffmpeg(&[
        "-i",
        mp4.to_str().expect("utf-8"),
        "-vn",
        "-c:a",
        "copy",
        sound_only.to_str().expect("utf-8"),
    ]);
    let error = VideoFile::open(&sound_only).expect_err("no video");
    assert!(
        error.to_string().contains("no H.264 video track"),
        "{error}"
    );
    // Cut in the middle of the media data: the frames before the cut, then
    // the end (or a clear error), never a panic.
    let bytes = std::fs::read(&mp4).expect("read");
    let cut = dir.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    match VideoFile::open(&cut) {
        Ok(mut source) => loop {
            match source.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    assert!(matches!(error, SourceError::Video { .. }), "{error}");
                    break;
                }
            }
        },
        Err(error) => assert!(error.to_string().contains("cut.mp4"), "{error}"),
    }
    // The command: one line, the usage exit status.
    let output = liveroom("push")
        .args([
            "--input",
            sound_only.to_str().expect("utf-8"),
            "--audio",
            "off",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no H.264 video track"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Pushes `input` whole into the FLV file `output` with no `--audio` (the
/// file's own sound is the microphone) and plays it back: every stamp
/// arrives, none lost, and the sound is the clip's 440 Hz tone. Returns
/// the push summary.
fn push_and_play_back(input: &Path, output: &Path, dir: &Path) -> serde_json::Value {
    let stdout = push_ok(
        &[
            "--input",
            input.to_str().expect("utf-8"),
            "--output",
            output.to_str().expect("utf-8"),
        ],
        Duration::from_secs(120),
    );
    let pushed = summary_of(&stdout);
    assert_eq!(pushed["framesCaptured"], FRAMES, "{pushed}");
    let played = liveroom("play")
        .args(["--url", output.to_str().expect("utf-8"), "--stamps"])
        .output()
        .expect("player runs");
    let stdout = String::from_utf8_lossy(&played.stdout);
    assert!(played.status.success(), "{stdout}");
    let played = summary_of(&stdout);
    assert_eq!(played["stamps"]["distinct"], FRAMES, "{played}");
    assert_eq!(played["stamps"]["lost"], 0, "{played}");
    // The sound is the file's 440 Hz tone, not the default beeps.
    assert_eq!(dominant_tone(output, dir), 440);
    pushed
}

#[test]
fn an_mp4_is_pushed_whole_with_its_own_sound_and_every_frame_arrives() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("video-input-push");
    let mp4 = stamped_mp4(&dir);
    let flv = dir.join("out.flv");
    let pushed = push_and_play_back(&mp4, &flv, &dir);
    assert!(
        pushed["audioPackets"].as_u64().unwrap_or(0) > 100,
        "{pushed}"
    );
    // Our own recording as the next input: an FLV file in (its sound the
    // microphone again), every stamp out.
    push_and_play_back(&flv, &dir.join("again.flv"), &dir);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
