//! `liveroom play --speaker` for real, on a machine without a sound card:
//! a temporary `~/.asoundrc` points ALSA's `default` device (through a
//! `plug` fixing the format at 16-bit stereo, 48 kHz) at its `file` plugin,
//! which writes into a FIFO that the test reads at a sound card's steady
//! pace. What the player sent to the device must be the stream's 440 Hz
//! tone, as long and as loud as the sound the player decoded (its
//! `--audio-output` WAV of the same run), without gaps; muted, silence;
//! and with no usable device the command fails before playing, with one
//! line and status 2.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{ffmpeg, liveroom, publish_flv, scratch_dir, summary_of, wait_with_timeout, Serve};

/// The device's format, fixed by the `plug` in front of the file.
const RATE: u32 = 48_000;
/// Bytes a second the stand-in sound card takes (16-bit stereo).
const BYTES_PER_SECOND: f64 = RATE as f64 * 4.0;
/// Seconds of tone in the test stream.
const SECONDS: f64 = 3.0;
/// FFmpeg's `sine` source: amplitude 1/8 (−21.1 dBFS RMS), made stereo
/// by FFmpeg's up-mix at −3 dB a channel.
const TONE_DBFS: f64 = -24.08;

/// A home folder whose `.asoundrc` sends ALSA's default device into a
/// FIFO, and the thread that plays sound card on the other end.
struct AlsaCapture {
    home: PathBuf,
    fifo: PathBuf,
}

impl AlsaCapture {
    fn new(dir: &Path) -> Self {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let fifo = dir.join("speaker.fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", fifo.display());
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
    file "{}"
}}
"#,
            fifo.display()
        );
        std::fs::write(home.join(".asoundrc"), config).expect("asoundrc");
        Self { home, fifo }
    }

    /// `liveroom play ARGS… --speaker` with this ALSA configuration, and
    /// the sound card reading what it plays.
    fn play(&self, args: &[&str]) -> (std::process::Child, Card) {
        let card = Card::start(&self.fifo);
        let child = liveroom("play")
            .env("HOME", &self.home)
            .args(args)
            .args(["--speaker", "--events", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("player runs");
        (child, card)
    }
}

/// The stand-in sound card: reads the FIFO at 48 kHz stereo 16-bit in
/// real time, a few milliseconds at a time, as a card's DMA takes a
/// buffer (the FIFO's 64 KiB are its buffer); once late it does not
/// catch up, as a card would not. Each time ALSA closes the device
/// (cpal opens it to ask about it, then to play), it waits for the next
/// open.
struct Card {
    fifo: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Taken>>,
}

impl Card {
    fn start(fifo: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (fifo, stop) = (fifo.to_path_buf(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut taken = Taken::default();
                while !stop.load(Ordering::SeqCst) {
                    // Blocks until ALSA (or `Card::stop`) opens the other end.
                    let Ok(mut file) = File::open(&fifo) else {
                        break;
                    };
                    take_paced(&mut file, &mut taken);
                }
                taken
            })
        };
        Self {
            fifo: fifo.to_path_buf(),
            stop,
            thread: Some(thread),
        }
    }

    /// Everything the card took, as mono, and when it took the first
    /// loud sample.
    fn stop(mut self) -> (Vec<f32>, Option<Instant>) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the reader if it waits for an open; none waiting: ENXIO.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo);
        let taken = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("the card's thread");
        let stereo: Vec<f32> = taken
            .bytes
            .chunks_exact(2)
            .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0)
            .collect();
        (liveroom::audio::to_mono(&stereo, 2), taken.first_loud)
    }
}

/// What the card took: the bytes, and when the first loud sample came.
#[derive(Default)]
struct Taken {
    bytes: Vec<u8>,
    first_loud: Option<Instant>,
}

/// Reads `file` to its end at [`BYTES_PER_SECOND`], whole frames only.
fn take_paced(file: &mut File, heard: &mut Taken) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut start: Option<Instant> = None;
    let mut taken = 0usize;
    let lag_limit = (BYTES_PER_SECOND * 0.02) as usize;
    loop {
        let due = match start {
            None => 960,
            Some(start) => {
                let due = (start.elapsed().as_secs_f64() * BYTES_PER_SECOND) as usize;
                if due > taken + lag_limit {
                    // Late (the machine is busy): go on from now.
                    let behind = due - taken - lag_limit;
                    taken += behind;
                    due - behind
                } else {
                    due
                }
            }
        };
        let want = due.saturating_sub(taken) / 4 * 4;
        if want == 0 {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let want = want.min(buffer.len());
        match file.read(&mut buffer[..want]) {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                start.get_or_insert_with(Instant::now);
                let chunk = &buffer[..read];
                if heard.first_loud.is_none()
                    && chunk
                        .chunks_exact(2)
                        .any(|pair| i16::from_le_bytes([pair[0], pair[1]]).unsigned_abs() > 1600)
                {
                    heard.first_loud = Some(Instant::now());
                }
                heard.bytes.extend_from_slice(chunk);
                taken += read;
            }
        }
    }
}

/// The lines of a child's stdout, each with when it came, read on a
/// thread until the child closes it.
fn timed_lines(stdout: std::process::ChildStdout) -> JoinHandle<Vec<(Instant, String)>> {
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|line| (Instant::now(), line))
            .collect()
    })
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

/// The tone in a block of sound: how long it lasts (from the first to the
/// last sample above 0.05), its pitch and level in the middle, and the
/// 10 ms stretches inside it that are silent (gaps).
#[derive(Debug)]
struct Tone {
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
    let (child, card) = capture.play(&[
        "--url",
        flv.to_str().expect("utf-8"),
        "--audio-output",
        wav.to_str().expect("utf-8"),
    ]);
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(30));
    let took = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stderr}");
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(summary["framesDisplayed"], 90, "{summary}");
    // A file decodes faster than it plays: the speaker paces the end.
    assert!(took >= SECONDS - 0.2, "done after {took:.2} s");
    let heard = tone_in(&card.stop().0, RATE);
    let decoded = decoded_tone(&wav);
    eprintln!("file: heard {heard:?}, decoded {decoded:?}, {took:.2} s");
    assert_same_tone(&heard, &decoded);

    // Muted: the device gets the same length of silence.
    let (child, card) = capture.play(&["--url", flv.to_str().expect("utf-8"), "--muted"]);
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(30));
    assert!(
        !killed && output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (silence, _) = card.stop();
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
    let (mut player, card) = capture.play(&[
        "--url",
        &url,
        "--mode",
        "rtc",
        "--timeout",
        "30",
        "--audio-output",
        wav.to_str().expect("utf-8"),
    ]);
    let lines = timed_lines(player.stdout.take().expect("stdout"));
    std::thread::sleep(Duration::from_millis(800));
    let published = Instant::now();
    let publisher = publish_flv(&flv, &url);
    let (output, killed) = wait_with_timeout(player, Duration::from_secs(40));
    let _ = wait_with_timeout(publisher, Duration::from_secs(10));
    let lines = lines.join().expect("stdout reader");
    let stdout: String = lines.iter().map(|(_, line)| format!("{line}\n")).collect();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!killed && output.status.success(), "{stdout}\n{stderr}");
    let summary = summary_of(&stdout);
    assert!(summary["framesDisplayed"].as_u64() >= Some(85), "{summary}");
    let (mono, first_loud) = card.stop();
    let heard = tone_in(&mono, RATE);
    let decoded = decoded_tone(&wav);
    // The first picture (2004) and the tone, whose first AAC unit is 21 ms
    // ahead of it in the stream, reach the card that far apart plus the
    // output's delay: the card's 64 KiB FIFO buffer (341 ms at 192 000
    // bytes/s) and ALSA's own buffer (377 ms in all here). The speaker's
    // lead (100 ms) is not in it: the sound goes to the speaker that much
    // ahead of the picture's clock (477–482 ms here before it did).
    let begins = lines
        .iter()
        .find(|(_, line)| line.contains(r#""code":2004"#))
        .map(|(at, _)| *at)
        .expect("playback begins (2004)");
    let first_loud = first_loud.expect("the card took the tone");
    let delay = match first_loud.checked_duration_since(begins) {
        Some(after) => after.as_secs_f64(),
        None => -begins.duration_since(first_loud).as_secs_f64(),
    };
    eprintln!(
        "live: heard {heard:?}, decoded {decoded:?}, the tone reached the card {:.0} ms after the first picture (published {:.2} s before)",
        delay * 1000.0,
        begins.duration_since(published).as_secs_f64()
    );
    assert_same_tone(&heard, &decoded);
    assert!((0.3..=0.45).contains(&delay), "{delay} s");
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
