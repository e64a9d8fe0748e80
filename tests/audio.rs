//! Tier 4: sound. The pusher's AAC read by FFmpeg; a BGM tone from FFmpeg
//! pushed with no microphone comes out of FFmpeg's decode at its pitch and
//! level; a 60 s push keeps sound and picture together (from the stream's
//! timestamps, from FFmpeg's decode and from our player's); audio-only
//! pushes, `_pureAudio` on the embedded server, the player's WAV output and
//! `muted`; and the audio errors.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ffmpeg, liveroom, push_ok, run_pusher, scratch_dir, summary_of};
use liveroom::audio::{
    beep_onsets, decode_file, dominant_frequency, peak_level, rms_dbfs, to_mono, DecodedAudio,
};
use liveroom::player::{LivePlayer, PlayerConfig, PlayerEvent};
use liveroom::rtmp::{RtmpServer, ServerConfig};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// One stream of a media file, as ffprobe describes it.
#[derive(Debug, Default)]
struct StreamInfo {
    codec_type: String,
    codec_name: String,
    sample_rate: u32,
    channels: u32,
    start_time: f64,
}

fn streams(path: &Path) -> Vec<StreamInfo> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name,sample_rate,channels,start_time")
        .args(["-of", "compact=p=0:nk=0"])
        .arg(path)
        .output()
        .expect("ffprobe must be installed (scripts/setup.sh installs it)");
    assert!(output.status.success(), "ffprobe {}", path.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: std::collections::HashMap<&str, &str> = line
                .split('|')
                .filter_map(|field| field.split_once('='))
                .collect();
            let get = |key: &str| fields.get(key).copied().unwrap_or_default().to_string();
            StreamInfo {
                codec_type: get("codec_type"),
                codec_name: get("codec_name"),
                sample_rate: get("sample_rate").parse().unwrap_or(0),
                channels: get("channels").parse().unwrap_or(0),
                start_time: get("start_time").parse().unwrap_or(0.0),
            }
        })
        .collect()
}

/// Packet times (seconds) of one kind of stream, from ffprobe.
fn packet_times(path: &Path, selector: &str, field: &str) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", selector])
        .args(["-show_entries", &format!("packet={field}")])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(output.status.success(), "ffprobe {}", path.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// FFmpeg's own decode of a file's sound, as samples.
fn ffmpeg_sound(input: &Path, dir: &Path) -> DecodedAudio {
    let wav = dir.join(format!(
        "{}-ffmpeg.wav",
        input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sound")
    ));
    ffmpeg(&[
        "-i",
        path_str(input),
        "-vn",
        "-c:a",
        "pcm_s16le",
        path_str(&wav),
    ]);
    decode_file(&wav).expect("FFmpeg's WAV reads back")
}

fn events_of(stdout: &str, tag: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|line| line.contains(&format!(r#""tag":"{tag}""#)))
        .map(|line| serde_json::from_str(line).expect("event line is JSON"))
        .collect()
}

#[test]
fn ffmpeg_reads_our_aac_in_both_qualities() {
    let dir = scratch_dir("audio-aac");
    for (quality, rate, channels) in [("high", 48_000, 2), ("low", 16_000, 1)] {
        let flv = dir.join(format!("tone-{quality}.flv"));
        push_ok(
            &[
                "--frames",
                "90",
                "--mode",
                "sd",
                "--audio",
                "tone",
                "--audio-quality",
                quality,
                "--output",
                path_str(&flv),
            ],
            Duration::from_secs(120),
        );
        let info = streams(&flv);
        let audio = info
            .iter()
            .find(|s| s.codec_type == "audio")
            .unwrap_or_else(|| panic!("{quality}: no audio stream in {info:?}"));
        assert_eq!(audio.codec_name, "aac", "{quality}");
        assert_eq!(
            (audio.sample_rate, audio.channels),
            (rate, channels),
            "{quality}"
        );
        assert!(info
            .iter()
            .any(|s| s.codec_type == "video" && s.codec_name == "h264"));

        let sound = ffmpeg_sound(&flv, &dir);
        assert_eq!(sound.sample_rate, rate);
        let mono = to_mono(&sound.samples, sound.channels);
        let seconds = mono.len() as f64 / f64::from(rate);
        assert!(
            (seconds - 3.0).abs() < 0.1,
            "{quality}: {seconds} s of sound"
        );
        // Three beeps at 1 kHz, a second apart.
        let onsets = beep_onsets(&mono, rate, 0.3);
        assert_eq!(onsets.len(), 3, "{quality}: beeps at {onsets:?}");
        for pair in onsets.windows(2) {
            assert!(
                (pair[1] - pair[0] - 1.0).abs() < 0.002,
                "{quality}: {onsets:?}"
            );
        }
        let start = (onsets[1] * f64::from(rate)) as usize + 200;
        let beep = &mono[start..start + rate as usize / 20];
        let pitch = dominant_frequency(beep, rate).expect("a pitch");
        assert!((pitch - 1000.0).abs() < 2.0, "{quality}: {pitch} Hz");
    }
}

#[test]
fn bgm_tone_without_microphone_keeps_pitch_and_level() {
    let dir = scratch_dir("audio-bgm");
    // FFmpeg's sine source: 440 Hz at amplitude 1/8, 44.1 kHz mono, 3 s.
    let music = dir.join("sine440.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=3",
        path_str(&music),
    ]);
    let flv = dir.join("bgm.flv");
    let stdout = push_ok(
        &[
            "--frames",
            "120",
            "--mode",
            "sd",
            "--audio",
            "none",
            "--bgm",
            path_str(&music),
            "--bgm-volume",
            "0.5",
            "--output",
            path_str(&flv),
            "--events",
            "json",
        ],
        Duration::from_secs(120),
    );
    let start = events_of(&stdout, "bgmStart");
    assert_eq!(start.len(), 1, "{stdout}");
    assert_eq!(start[0]["durationMs"], 3000);
    let progress = events_of(&stdout, "bgmProgress");
    assert!((2..=3).contains(&progress.len()), "{progress:?}");
    assert_eq!(events_of(&stdout, "bgmComplete").len(), 1, "{stdout}");

    let sound = ffmpeg_sound(&flv, &dir);
    let rate = sound.sample_rate;
    let mono = to_mono(&sound.samples, sound.channels);
    let second = rate as usize;
    let middle = &mono[second / 2..second * 5 / 2];
    let pitch = dominant_frequency(middle, rate).expect("a pitch");
    assert!((pitch - 440.0).abs() < 1.0, "{pitch} Hz");
    // 1/8 at half volume: 20·log10(1/16) − 3 dB for a sine's RMS.
    let expected = 20.0 * (1.0f64 / 16.0).log10() - 3.0103;
    let level = rms_dbfs(middle);
    assert!(
        (level - expected).abs() < 0.5,
        "{level:.2} dBFS, expected {expected:.2}"
    );
    // After the music's end (3 s) and with no microphone: silence.
    let after = &mono[second * 13 / 4..(second * 15 / 4).min(mono.len())];
    assert!(
        peak_level(after) < 0.005,
        "peak {} after the music",
        peak_level(after)
    );
}

#[test]
fn sound_and_picture_stay_together_over_60_seconds() {
    let dir = scratch_dir("audio-sync");
    let flv = dir.join("sync.flv");
    push_ok(
        &[
            "--frames",
            "1800",
            "--mode",
            "sd",
            "--audio",
            "tone",
            "--output",
            path_str(&flv),
        ],
        Duration::from_secs(600),
    );
    // The stream's timestamps: each track keeps to its own sample or frame
    // clock, and the tracks start together.
    let audio_times = packet_times(&flv, "a:0", "pts_time");
    let video_times = {
        let mut times = packet_times(&flv, "v:0", "pts_time");
        times.sort_by(f64::total_cmp);
        times
    };
    assert_eq!(video_times.len(), 1800);
    let frame = 1024.0 / 48_000.0;
    let audio_drift = audio_times
        .iter()
        .enumerate()
        .map(|(n, t)| (t - audio_times[0] - n as f64 * frame).abs())
        .fold(0.0, f64::max);
    let video_drift = video_times
        .iter()
        .enumerate()
        .map(|(i, t)| (t - video_times[0] - i as f64 / 30.0).abs())
        .fold(0.0, f64::max);
    let start = audio_times[0] - video_times[0];
    assert!(
        audio_drift < 0.002,
        "audio timestamps drift {audio_drift} s"
    );
    assert!(
        video_drift < 0.002,
        "video timestamps drift {video_drift} s"
    );
    assert!(start.abs() <= 0.040, "audio starts {start} s from video");
    // ...and end together.
    let audio_end = audio_times[audio_times.len() - 1] + frame;
    let video_end = video_times[video_times.len() - 1] + 1.0 / 30.0;
    assert!(
        (audio_end - video_end).abs() <= 0.040,
        "ends {audio_end} vs {video_end}"
    );

    // FFmpeg's decode: beep k starts at second k of the picture's clock
    // (frame 30·k, which carries stamp 30·k).
    let info = streams(&flv);
    let video_start = info
        .iter()
        .find(|s| s.codec_type == "video")
        .map(|s| s.start_time)
        .expect("video stream");
    let audio_start = info
        .iter()
        .find(|s| s.codec_type == "audio")
        .map(|s| s.start_time)
        .expect("audio stream");
    let sound = ffmpeg_sound(&flv, &dir);
    let mono = to_mono(&sound.samples, sound.channels);
    let onsets = beep_onsets(&mono, sound.sample_rate, 0.3);
    assert_eq!(onsets.len(), 60, "{} beeps", onsets.len());
    let offsets: Vec<f64> = onsets
        .iter()
        .enumerate()
        .map(|(k, onset)| audio_start + onset - (video_start + k as f64))
        .collect();
    for (k, offset) in offsets.iter().enumerate() {
        assert!(
            offset.abs() <= 0.040,
            "beep {k} is {offset} s from its frame"
        );
    }
    let drift = offsets[59] - offsets[0];
    assert!(drift.abs() <= 0.040, "drift {drift} s over a minute");

    // Our player, from decoded content: beeps against frame stamps.
    let output = liveroom("play")
        .args(["--url", path_str(&flv), "--stamps"])
        .output()
        .expect("player runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let summary = summary_of(&stdout);
    let audio = &summary["audio"];
    assert_eq!(audio["beeps"], 60, "{audio}");
    let offset = &audio["avOffsetMs"];
    for key in ["min", "max", "median"] {
        let value = offset[key].as_f64().expect("offset");
        assert!(value.abs() <= 40.0, "{key} offset {value} ms: {audio}");
    }
    let drift = audio["avDriftMs"].as_f64().expect("drift");
    assert!(drift.abs() <= 40.0, "drift {drift} ms");
    let start = audio["startOffsetMs"].as_f64().expect("start offset");
    assert!(start.abs() <= 40.0, "start offset {start} ms");
    assert!(
        audio["timestampDriftMs"].as_f64().expect("drift") <= 2.0,
        "{audio}"
    );
}

#[test]
fn audio_only_push_has_no_video_and_pure_audio_drops_it() {
    let dir = scratch_dir("audio-only");
    let flv = dir.join("voice.flv");
    push_ok(
        &[
            "--audio-only",
            "--duration",
            "2",
            "--audio",
            "tone",
            "--output",
            path_str(&flv),
        ],
        Duration::from_secs(60),
    );
    let info = streams(&flv);
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].codec_name, "aac");
    let sound = ffmpeg_sound(&flv, &dir);
    let seconds = sound.samples.len() as f64 / f64::from(sound.channels) / 48_000.0;
    assert!((seconds - 2.0).abs() < 0.05, "{seconds} s");

    // `<stream>_pureAudio` on the embedded server: the same stream's sound,
    // no pictures. The player waits for the publisher.
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let wav = dir.join("pure.wav");
    let mut player = LivePlayer::start(
        PlayerConfig {
            play_url: server.url("live", "room_pureAudio"),
            audio_output: Some(wav.clone()),
            timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        },
        None,
        None,
    )
    .expect("player starts");
    let url = server.url("live", "room");
    push_ok(
        &[
            "--url", &url, "--frames", "60", "--mode", "sd", "--audio", "tone",
        ],
        Duration::from_secs(60),
    );
    let events = player.events().expect("events");
    let summary = player.wait().expect("playback ends with the stream");
    assert_eq!(
        summary.frames_received, 0,
        "pictures reached a _pureAudio player"
    );
    // netStatus reports the sound held and its bitrate.
    let statuses: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            PlayerEvent::NetStatus(status) => Some(status),
            _ => None,
        })
        .collect();
    assert!(
        statuses
            .iter()
            .any(|s| s.audio_cache.is_some_and(|c| c >= 0.5) && s.audio_bitrate > 50.0),
        "{statuses:?}"
    );
    let audio = summary.audio.expect("sound arrived");
    assert!(audio.packets_decoded >= 80, "{audio:?}");
    assert_eq!(audio.decode_errors, 0);
    let written = decode_file(&wav).expect("the WAV reads back");
    let mono = to_mono(&written.samples, written.channels);
    assert_eq!(beep_onsets(&mono, written.sample_rate, 0.3).len(), 2);
}

#[test]
fn muted_pusher_and_muted_player_send_and_play_silence() {
    let dir = scratch_dir("audio-muted");
    let flv = dir.join("muted.flv");
    push_ok(
        &[
            "--frames",
            "60",
            "--mode",
            "sd",
            "--audio",
            "tone",
            "--muted",
            "--output",
            path_str(&flv),
        ],
        Duration::from_secs(60),
    );
    let sound = ffmpeg_sound(&flv, &dir);
    assert!(!sound.samples.is_empty());
    assert!(
        peak_level(&sound.samples) < 0.001,
        "a muted push carries sound"
    );

    // A tone stream played with --muted writes silence; without, the beeps.
    let loud = dir.join("loud.flv");
    push_ok(
        &[
            "--frames",
            "60",
            "--mode",
            "sd",
            "--audio",
            "tone",
            "--output",
            path_str(&loud),
        ],
        Duration::from_secs(60),
    );
    for (muted, expect_beeps) in [(true, 0), (false, 2)] {
        let wav = dir.join(format!("played-{muted}.wav"));
        let mut args = vec!["--url", path_str(&loud), "--audio-output", path_str(&wav)];
        if muted {
            args.push("--muted");
        }
        let output = liveroom("play").args(&args).output().expect("player runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let written = decode_file(&wav).expect("the WAV reads back");
        assert_eq!((written.sample_rate, written.channels), (48_000, 2));
        let mono = to_mono(&written.samples, written.channels);
        assert!((mono.len() as f64 / 48_000.0 - 2.0).abs() < 0.1);
        assert_eq!(
            beep_onsets(&mono, 48_000, 0.3).len(),
            expect_beeps,
            "muted {muted}"
        );
    }
}

/// Runs the pusher expecting failure; returns (exit code, stdout, stderr).
fn push_fails(args: &[&str]) -> (i32, String, String) {
    let output = run_pusher(args, Duration::from_secs(60));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn audio_errors_are_clear_and_end_the_push() {
    let dir = scratch_dir("audio-errors");
    let flv = dir.join("never.flv");
    let out = path_str(&flv);
    // A rate AAC cannot carry: -1306.
    let (code, stdout, stderr) = push_fails(&[
        "--frames",
        "10",
        "--audio-rate",
        "44000",
        "--output",
        out,
        "--events",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains(r#""code":-1306"#), "{stdout}");
    assert!(stderr.contains("44000"), "{stderr}");
    // A microphone file that is not audio: -1302.
    let junk = dir.join("junk.wav");
    std::fs::write(&junk, b"RIFF\x24\x00\x00\x00WAVEnot really audio at all").unwrap();
    let (code, stdout, stderr) = push_fails(&[
        "--frames",
        "10",
        "--audio",
        path_str(&junk),
        "--output",
        out,
        "--events",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains(r#""code":-1302"#), "{stdout}");
    assert!(stderr.contains("junk.wav"), "{stderr}");
    // Bad values are refused before anything starts.
    for args in [
        vec!["--bgm-volume", "1.5"],
        vec!["--bgm-volume", "NaN"],
        vec!["--audio-quality", "ultra"],
        vec!["--audio", "/no/such/file.mp3"],
        vec!["--audio", "off", "--bgm", path_str(&junk)],
        vec!["--audio", "off", "--audio-only"],
        vec!["--duration", "0"],
    ] {
        let (code, _, stderr) = push_fails(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // Music that is not music: the push does not start.
    let (code, _, stderr) =
        push_fails(&["--frames", "10", "--bgm", path_str(&junk), "--output", out]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("background music"), "{stderr}");
}
