//! `liveroom play --speaker` for real, on a machine without a sound card:
//! a temporary `~/.asoundrc` points ALSA's `default` device at its `file`
//! plugin, whose output FFmpeg takes at the sound's own pace (`-re`, as a
//! sound card would) and writes as raw 16-bit stereo at 48 kHz. What the
//! player sent to the device must be the stream's 440 Hz tone, as long and
//! as loud as the sound the player decoded (its `--audio-output` WAV of
//! the same run), without gaps; muted, silence; and with no usable device
//! the command fails before playing, with one line and status 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ffmpeg, liveroom, scratch_dir, summary_of, wait_with_timeout, Serve};

/// The device's format, fixed by the `plug` in front of the file.
const RATE: u32 = 48_000;
/// Seconds of tone in the test stream.
const SECONDS: f64 = 3.0;
/// FFmpeg's `sine` source: amplitude 1/8 (−21.1 dBFS RMS), made stereo
/// by FFmpeg's up-mix at −3 dB a channel.
const TONE_DBFS: f64 = -24.08;

/// A home folder whose `.asoundrc` sends ALSA's default device to a raw
/// file, paced by FFmpeg.
struct AlsaCapture {
    home: PathBuf,
    raw: PathBuf,
}

impl AlsaCapture {
    fn new(dir: &Path) -> Self {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let raw = dir.join("speaker.raw");
        let config = format!(
            r#"pcm.!default {{
    type plug
    slave {{
        pcm "capture"
        format S16_LE
        rate {RATE}
        channels 2
    }}
}}
pcm.capture {{
    type file
    slave.pcm "null"
    format "raw"
    file "|ffmpeg -nostdin -hide_banner -loglevel error -re -f s16le -ar {RATE} -ac 2 -i pipe:0 -y -f s16le {}"
}}
"#,
            raw.display()
        );
        std::fs::write(home.join(".asoundrc"), config).expect("asoundrc");
        Self { home, raw }
    }

    /// `liveroom play ARGS… --speaker` with this ALSA configuration.
    fn play(&self, args: &[&str]) -> Command {
        let _ = std::fs::remove_file(&self.raw);
        let mut command = liveroom("play");
        command
            .env("HOME", &self.home)
            .args(args)
            .args(["--speaker", "--events", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// What reached the device, as mono.
    fn heard(&self) -> Vec<f32> {
        let bytes = std::fs::read(&self.raw).expect("the device's capture");
        let stereo: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0)
            .collect();
        liveroom::audio::to_mono(&stereo, 2)
    }
}

/// The test stream: 320×240 pictures at 30 fps and a 440 Hz stereo AAC
/// tone at 48 kHz, `SECONDS` long, in FLV.
fn tone_flv(dir: &Path) -> PathBuf {
    let flv = dir.join("tone.flv");
    let seconds = SECONDS.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &seconds,
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-b:a",
        "128k",
        flv.to_str().expect("utf-8"),
    ]);
    flv
}

/// The tone in a block of sound: where it starts and how long it lasts
/// (from the first to the last sample above a tenth of full scale's
/// half), its pitch and level in the middle, and the 10 ms stretches
/// inside it that are silent (gaps).
#[derive(Debug)]
struct Tone {
    start: f64,
    seconds: f64,
    frequency: f64,
    dbfs: f64,
    gaps: usize,
}

fn tone_in(mono: &[f32], rate: u32) -> Tone {
    let loud = |sample: &f32| sample.abs() > 0.05;
    let first = mono.iter().position(loud).expect("a tone was heard");
    let last = mono.iter().rposition(loud).expect("a tone was heard");
    let tone = &mono[first..=last];
    let middle = &tone[tone.len() / 4..tone.len() * 3 / 4];
    let window = rate as usize / 100;
    let gaps = tone
        .chunks_exact(window)
        .filter(|chunk| liveroom::audio::peak_level(chunk) < 0.02)
        .count();
    Tone {
        start: first as f64 / f64::from(rate),
        seconds: tone.len() as f64 / f64::from(rate),
        frequency: liveroom::audio::dominant_frequency(middle, rate).expect("a pitch"),
        dbfs: liveroom::audio::rms_dbfs(middle),
        gaps,
    }
}

/// The tone the player decoded: its `--audio-output` WAV.
fn decoded_tone(wav: &Path) -> Tone {
    let sound = liveroom::audio::decode_file(wav).expect("the WAV reads");
    assert_eq!(sound.sample_rate, RATE);
    tone_in(
        &liveroom::audio::to_mono(&sound.samples, sound.channels),
        sound.sample_rate,
    )
}

/// The speaker played what the player decoded: the 440 Hz tone, as long
/// (±20 ms) and as loud (±0.2 dB) as in the WAV, at FFmpeg's level, with
/// no gap.
fn assert_same_tone(heard: &Tone, decoded: &Tone) {
    assert!((heard.frequency - 440.0).abs() <= 1.0, "{heard:?}");
    assert!(
        (heard.seconds - decoded.seconds).abs() <= 0.02,
        "{heard:?} vs {decoded:?}"
    );
    assert!((heard.seconds - SECONDS).abs() <= 0.1, "{heard:?}");
    assert!(
        (heard.dbfs - decoded.dbfs).abs() <= 0.2,
        "{heard:?} vs {decoded:?}"
    );
    assert!((heard.dbfs - TONE_DBFS).abs() <= 0.5, "{heard:?}");
    assert_eq!(
        heard.gaps, 0,
        "silent 10 ms stretches inside the tone: {heard:?}"
    );
}

#[test]
fn an_flv_file_plays_its_tone_on_the_speaker_and_silence_when_muted() {
    let dir = scratch_dir("speaker-file");
    let flv = tone_flv(&dir);
    let capture = AlsaCapture::new(&dir);
    let wav = dir.join("decoded.wav");
    let started = Instant::now();
    let child = capture
        .play(&[
            "--url",
            flv.to_str().expect("utf-8"),
            "--audio-output",
            wav.to_str().expect("utf-8"),
        ])
        .spawn()
        .expect("player runs");
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(30));
    let took = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stderr}");
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(summary["framesDisplayed"], 90, "{summary}");
    // A file decodes faster than it plays: the speaker paces the end.
    assert!(took >= SECONDS - 0.2, "done after {took:.2} s");
    let heard = tone_in(&capture.heard(), RATE);
    let decoded = decoded_tone(&wav);
    eprintln!("file: heard {heard:?}, decoded {decoded:?}, {took:.2} s");
    assert_same_tone(&heard, &decoded);

    // Muted: the device gets the same length of silence.
    let child = capture
        .play(&["--url", flv.to_str().expect("utf-8"), "--muted"])
        .spawn()
        .expect("player runs");
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(30));
    assert!(
        !killed && output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let silence = capture.heard();
    let seconds = silence.len() as f64 / f64::from(RATE);
    let peak = liveroom::audio::peak_level(&silence);
    eprintln!("muted: {seconds:.2} s to the device, peak {peak}");
    assert!(seconds >= SECONDS - 0.1, "{seconds} s");
    assert!(peak < 1e-3, "muted but the device got {peak}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_live_stream_plays_on_the_speaker_on_the_pictures_clock() {
    let dir = scratch_dir("speaker-live");
    let flv = tone_flv(&dir);
    let capture = AlsaCapture::new(&dir);
    let server = Serve::start(&[]);
    let url = server.rtmp_url("tone");
    let wav = dir.join("decoded.wav");
    let player = capture
        .play(&[
            "--url",
            &url,
            "--mode",
            "rtc",
            "--timeout",
            "30",
            "--audio-output",
            wav.to_str().expect("utf-8"),
        ])
        .spawn()
        .expect("player runs");
    std::thread::sleep(Duration::from_millis(800));
    let published = Instant::now();
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&flv)
        .args(["-c", "copy", "-f", "flv", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg publishes");
    let (output, killed) = wait_with_timeout(player, Duration::from_secs(40));
    let took = published.elapsed().as_secs_f64();
    let _ = wait_with_timeout(publisher, Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stdout}\n{stderr}");
    let summary = summary_of(&stdout);
    assert!(summary["framesDisplayed"].as_u64() >= Some(85), "{summary}");
    let heard = tone_in(&capture.heard(), RATE);
    let decoded = decoded_tone(&wav);
    eprintln!(
        "live: heard {heard:?}, decoded {decoded:?}, player ended {took:.2} s after the publish"
    );
    assert_same_tone(&heard, &decoded);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn without_a_sound_device_the_player_fails_before_playing() {
    let dir = scratch_dir("speaker-none");
    let flv = tone_flv(&dir);
    // ALSA's default device on a sound card that does not exist.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join(".asoundrc"),
        "pcm.!default { type hw card 99 device 0 }\n",
    )
    .expect("asoundrc");
    let output = liveroom("play")
        .env("HOME", &home)
        .args(["--url", flv.to_str().expect("utf-8"), "--speaker"])
        .output()
        .expect("player runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("no device: {stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("liveroom play: speaker: cannot open the sound output device"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing played");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
