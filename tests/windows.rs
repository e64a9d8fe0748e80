//! The desktop windows under a real X server: each test starts its own
//! Xvfb (a free display number, 1280x720) with the Openbox window manager
//! (which carries out full-screen requests, as a desktop's would), runs
//! `liveroom play --window` or `liveroom push --preview` on it, takes
//! screenshots with FFmpeg's x11grab and presses keys with xdotool.
//!
//! The stream is a still photo, so every frame shown is the same picture:
//! the screenshot's picture area is compared with the frame the program
//! saved (`--snapshot`), PSNR ≥ 30 dB, and the letterbox bars must be
//! black.
//!
//! `examples/present_effects.rs` (the effects drawn into the window's
//! surface texture) is built by the test (`cargo build --example`), run,
//! and its screenshot compared with the CPU-frame path's picture.
//!
//! Without `Xvfb`, `openbox`, `xdotool`, `xwininfo` (scripts/setup.sh
//! installs them) the tests are skipped, unless `REQUIRE_DISPLAY=1` (CI),
//! where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{declare_skip, ffmpeg, scratch_dir, summary_of, wait_with_timeout, Serve, Watched};
use image::RgbImage;
use liveroom::color::{i420_to_rgb_image, rgb_image_to_i420};
use liveroom::effects::EffectParams;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame_formats::{ChannelOrder, InputFrame, RgbaFrame};
use liveroom::geometry::OutputSize;
use liveroom::pusher::{FaceInput, LivePusher, PusherConfig};
use liveroom::rtmp::{RtmpServer, ServerConfig};
use liveroom::source::{FrameRate, TestSource};
use liveroom::window::WindowOptions;
use liveroom::{FrameParams, FramePipeline};

/// The screen of every test's X server.
const SCREEN: (u32, u32) = (1280, 720);

/// The tools the tests drive the desktop with.
const TOOLS: &[&str] = &["Xvfb", "openbox", "xdotool", "xwininfo", "ffmpeg"];

/// An Xvfb server with a window manager, both killed on drop.
struct Desktop {
    xvfb: Child,
    manager: Child,
    /// `:N`.
    display: String,
    /// The test process itself holds a connection (its display thread
    /// lives as long as the process): the server is left to end with it.
    keep_server: bool,
}

impl Desktop {
    /// Starts one on a free display number; `None` (test skipped) when a
    /// tool is missing, unless `REQUIRE_DISPLAY=1`.
    fn start() -> Option<Self> {
        let missing: Vec<&str> = TOOLS
            .iter()
            .copied()
            .filter(|tool| !on_path(tool))
            .collect();
        if !missing.is_empty() {
            let why = format!(
                "{} not installed (scripts/setup.sh installs them)",
                missing.join(", ")
            );
            if std::env::var("REQUIRE_DISPLAY").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_DISPLAY=1 but {why}");
            }
            declare_skip(&format!("{why}; REQUIRE_DISPLAY=1 makes this a failure"));
            return None;
        }
        // Xvfb picks a free display number itself and writes it on the
        // descriptor `-displayfd` names once it listens: tests running side
        // by side cannot pick the same one.
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &format!("{}x{}x24", SCREEN.0, SCREEN.1),
                "-nolisten",
                "tcp",
                // Ends by itself once its last client is gone (see
                // `Desktop::keep_for_this_process`).
                "-terminate",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let stdout = xvfb.stdout.take().expect("Xvfb's stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = sender.send(line);
        });
        let number = match receiver.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.trim().parse::<u32>().is_ok() => line.trim().to_string(),
            other => {
                let _ = xvfb.kill();
                let _ = xvfb.wait();
                panic!("Xvfb gave no display number within 10 s: {other:?}");
            }
        };
        let display = format!(":{number}");
        let manager = Command::new("openbox")
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openbox starts");
        // Openbox takes the screen before the first window maps.
        std::thread::sleep(Duration::from_millis(800));
        Some(Self {
            xvfb,
            manager,
            display,
            keep_server: false,
        })
    }

    /// Runs `program args…` on this display; its stdout, failing the test
    /// when it fails.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The id of the window whose title contains `title`, waiting up to
    /// `limit` for it to be mapped.
    fn window(&self, title: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let found = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--name", title])
                .env("DISPLAY", &self.display)
                .output()
                .expect("xdotool runs");
            let text = String::from_utf8_lossy(&found.stdout);
            if let Some(id) = text.lines().next().filter(|l| !l.is_empty()) {
                return id.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no window titled {title:?} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether a window with this id still exists.
    fn exists(&self, id: &str) -> bool {
        Command::new("xwininfo")
            .args(["-id", id])
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// The window's drawing area on the screen: x, y, width, height.
    fn geometry(&self, id: &str) -> (u32, u32, u32, u32) {
        let info = self.run("xwininfo", &["-id", id]);
        let field = |name: &str| -> u32 {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(name))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in xwininfo's answer:\n{info}"))
        };
        (
            field("Absolute upper-left X:"),
            field("Absolute upper-left Y:"),
            field("Width:"),
            field("Height:"),
        )
    }

    /// Waits until the window's geometry satisfies `done`.
    fn wait_geometry(
        &self,
        id: &str,
        limit: Duration,
        done: impl Fn((u32, u32, u32, u32)) -> bool,
    ) -> (u32, u32, u32, u32) {
        let deadline = Instant::now() + limit;
        loop {
            let geometry = self.geometry(id);
            if done(geometry) {
                return geometry;
            }
            assert!(
                Instant::now() < deadline,
                "window geometry still {geometry:?} after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Activates the window and presses `key` in it.
    fn press(&self, id: &str, key: &str) {
        self.run("xdotool", &["windowactivate", "--sync", id]);
        self.run("xdotool", &["key", "--clearmodifiers", key]);
    }

    /// Screenshots of the window until one satisfies `done` (a loaded
    /// machine may draw late), failing the test after `limit` with `what`.
    fn screenshot_until(
        &self,
        id: &str,
        path: &Path,
        limit: Duration,
        what: &str,
        done: impl Fn(&RgbImage) -> bool,
    ) -> RgbImage {
        let deadline = Instant::now() + limit;
        loop {
            let shot = self.screenshot(id, path);
            if done(&shot) {
                return shot;
            }
            assert!(Instant::now() < deadline, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Screenshots of the window until some row shows the picture
    /// (brighter than 16), failing the test after 20 s with `what`.
    fn screenshot_showing(&self, id: &str, path: &Path, what: &str) -> RgbImage {
        self.screenshot_until(id, path, Duration::from_secs(20), what, |shot| {
            brightest(shot, 0..shot.height()) > 16
        })
    }

    /// The id of the window titled `title` (waiting up to 20 s), checked
    /// to open at `size` (`why` says where that size comes from).
    fn window_of_size(&self, title: &str, size: (u32, u32), why: &str) -> String {
        let window = self.window(title, Duration::from_secs(20));
        let (_, _, width, height) = self.geometry(&window);
        assert_eq!((width, height), size, "{why}");
        window
    }

    /// A screenshot of the window's drawing area.
    fn screenshot(&self, id: &str, path: &Path) -> RgbImage {
        let (x, y, width, height) = self.geometry(id);
        ffmpeg(&[
            "-f",
            "x11grab",
            "-draw_mouse",
            "0",
            "-video_size",
            &format!("{width}x{height}"),
            "-i",
            &format!("{}+{x},{y}", self.display),
            "-frames:v",
            "1",
            path.to_str().expect("utf-8 path"),
        ]);
        image::open(path).expect("screenshot PNG").to_rgb8()
    }
}

impl Desktop {
    /// For a test that opens windows in its own process: the library's
    /// display thread keeps its X connection until the process exits, and
    /// an X server killed under it would end the process with an I/O
    /// error. The server (started with `-terminate`) then ends when that
    /// connection, its last client after the window manager, closes.
    fn keep_for_this_process(&mut self) {
        self.keep_server = true;
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.manager.kill();
        let _ = self.manager.wait();
        if !self.keep_server {
            let _ = self.xvfb.kill();
            let _ = self.xvfb.wait();
        }
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// RGB PSNR of `shot`'s rectangle at (`left`, `top`) against `reference`
/// (its size), in dB.
fn psnr(shot: &RgbImage, left: u32, top: u32, reference: &RgbImage) -> f64 {
    let mut squared = 0.0f64;
    for (x, y, pixel) in reference.enumerate_pixels() {
        let seen = shot.get_pixel(left + x, top + y);
        for c in 0..3 {
            let d = f64::from(seen[c]) - f64::from(pixel[c]);
            squared += d * d;
        }
    }
    let mse = squared / f64::from(reference.width() * reference.height() * 3);
    if mse == 0.0 {
        100.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// The brightest channel value in columns `columns` of `shot`.
fn brightest_columns(shot: &RgbImage, columns: std::ops::Range<u32>) -> u8 {
    columns
        .flat_map(|x| (0..shot.height()).map(move |y| (x, y)))
        .map(|(x, y)| shot.get_pixel(x, y).0.into_iter().max().unwrap_or(0))
        .max()
        .unwrap_or(0)
}

/// A 16-bit PCM WAV file's samples (all channels interleaved) and its
/// channel count and rate.
fn wav_samples(path: &Path) -> (Vec<i16>, u16, u32) {
    let bytes = std::fs::read(path).expect("WAV written");
    let at = |offset: usize| bytes.get(offset..offset + 4).expect("WAV header");
    assert_eq!(at(0), b"RIFF");
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let rate = u32::from_le_bytes(at(24).try_into().expect("4 bytes"));
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk")
        + 8;
    let samples = bytes[data..]
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    (samples, channels, rate)
}

/// The brightest channel value in rows `rows` of `shot`.
fn brightest(shot: &RgbImage, rows: std::ops::Range<u32>) -> u8 {
    rows.flat_map(|y| (0..shot.width()).map(move |x| (x, y)))
        .map(|(x, y)| shot.get_pixel(x, y).0.into_iter().max().unwrap_or(0))
        .max()
        .unwrap_or(0)
}

/// The still photo every test pushes.
fn photo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/photos/astronaut.png")
        .to_string_lossy()
        .into_owned()
}

/// An example's binary, built now by `cargo build --example NAME` (the
/// same profile and target directory as this test; CI's `cargo test
/// --all-targets` builds examples only as test harnesses), once per test
/// process. Without `cargo` the test is skipped, unless
/// `REQUIRE_DISPLAY=1`, where it fails; a failed build fails the test.
fn example_binary(name: &'static str) -> Option<PathBuf> {
    static BUILT: std::sync::Mutex<Vec<(&str, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(built, _)| *built == name) {
        return Some(path.clone());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let exe = std::env::current_exe().expect("the test's own path");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .is_some_and(|profile| profile.ends_with("release"));
    let dir = scratch_dir(&format!("build-{name}"));
    let (messages, errors) = (dir.join("messages.json"), dir.join("stderr.txt"));
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--example", name, "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(std::fs::File::create(&messages).expect("messages file"))
        .stderr(std::fs::File::create(&errors).expect("stderr file"));
    if release {
        command.arg("--release");
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let why = format!("cannot run cargo ({error}) to build the example {name}");
            if std::env::var("REQUIRE_DISPLAY").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_DISPLAY=1 but {why}");
            }
            declare_skip(&format!("{why}; REQUIRE_DISPLAY=1 makes this a failure"));
            return None;
        }
    };
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(1800));
    let stderr = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(
        !killed && output.status.success(),
        "cargo build --example {name} failed ({}):\n{stderr}",
        output.status
    );
    // The executable, from cargo's message about the example.
    let text = std::fs::read_to_string(&messages).expect("cargo's messages");
    let path = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for the example {name}"));
    built.push((name, path.clone()));
    Some(path)
}

/// Pushes the photo as a 640x360 stream (SD, horizontal) for `frames`
/// frames to `url`, paced, with a preview window when `preview`.
fn push_photo(url: &str, frames: u32, extra: &[&str], desktop: &Desktop, dir: &Path) -> Watched {
    let frames = frames.to_string();
    let input = photo();
    let mut args = vec![
        "--input",
        input.as_str(),
        "--url",
        url,
        "--frames",
        &frames,
        "--mode",
        "sd",
        "--events",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut pusher = Watched::spawn_with_env(
        "pusher",
        "push",
        &args,
        &[("DISPLAY", desktop.display.as_str())],
        dir,
    );
    pusher.wait_for(1002, Duration::from_secs(60));
    pusher
}

/// `liveroom play --window` at 640x480 of `url` with `extra` options on
/// the desktop, started (event 2004 seen).
fn play_in_window(url: &str, extra: &[&str], desktop: &Desktop, dir: &Path) -> Watched {
    let mut args = vec!["--url", url, "--window", "--window-size", "640x480"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--events", "json"]);
    let mut player = Watched::spawn_with_env(
        "player",
        "play",
        &args,
        &[("DISPLAY", desktop.display.as_str())],
        dir,
    );
    player.wait_for(2004, Duration::from_secs(60));
    player
}

/// `liveroom play --window`: a 16:9 stream in a 4:3 window is letterboxed
/// (black bars above and below, the picture between them matching the
/// frame shown), `f` makes the window cover the screen (and prints
/// `fullscreenChange`), where the picture fills the 16:9 screen, and `q`
/// quits with status 0.
#[test]
fn player_window_letterboxes_goes_full_screen_and_quits() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = scratch_dir("player-window");
    let serve = Serve::start(&[]);
    let url = serve.rtmp_url("window");
    let _pusher = push_photo(&url, 3000, &["--orientation", "horizontal"], &desktop, &dir);
    let snapshot = dir.join("shown.png");
    let mut player = play_in_window(
        &url,
        &[
            "--object-fit",
            "contain",
            "--snapshot",
            snapshot.to_str().expect("utf-8 path"),
        ],
        &desktop,
        &dir,
    );
    let window = desktop.window_of_size(
        "liveroom play",
        (640, 480),
        "the window opens at --window-size",
    );
    // Every frame is the same photo: the first one drawn will do.
    let windowed = desktop.screenshot_until(
        &window,
        &dir.join("windowed.png"),
        Duration::from_secs(20),
        "the picture shows",
        |shot| brightest(shot, 60..420) > 16,
    );

    desktop.press(&window, "f");
    let full = desktop.wait_geometry(&window, Duration::from_secs(10), |(_, _, w, h)| {
        (w, h) == SCREEN
    });
    assert_eq!((full.0, full.1), (0, 0), "full screen starts at the corner");
    // Drawn at the new size: the bottom rows (black bars before) show
    // the picture.
    let fullscreen = desktop.screenshot_until(
        &window,
        &dir.join("fullscreen.png"),
        Duration::from_secs(20),
        "the picture fills the screen",
        |shot| brightest(shot, SCREEN.1 - 40..SCREEN.1) > 16,
    );
    let changes = player.lines_with(r#""tag":"fullscreenChange""#);
    assert_eq!(
        changes,
        vec![r#"{"tag":"fullscreenChange","fullscreen":true}"#.to_string()],
        "one fullscreenChange event, to full screen"
    );

    // Four seconds of playing (one netStatus a second) before quitting,
    // so the count below does not hang on how fast this machine got the
    // window to full screen.
    player.wait_for_lines(r#""tag":"netStatus""#, 4, Duration::from_secs(20));
    desktop.press(&window, "q");
    let (status, stdout, stderr) = player.finish(Duration::from_secs(30));
    assert!(
        status.success(),
        "q quits with status 0: {status}\n{stderr}"
    );
    let summary = summary_of(&stdout);
    let displayed = summary["framesDisplayed"].as_u64().unwrap_or(0);
    assert!(
        displayed > 30,
        "{displayed} frames shown in 4 s or more of playing"
    );

    // The frame shown (the still, decoded) against the screenshots.
    let shown = image::open(&snapshot).expect("snapshot").to_rgb8();
    assert_eq!(shown.dimensions(), (640, 360));
    let windowed_psnr = psnr(&windowed, 0, 60, &shown);
    let bars = brightest(&windowed, 0..60).max(brightest(&windowed, 420..480));
    let picture_edge = brightest(&windowed, 60..62);
    let full_small =
        image::imageops::resize(&fullscreen, 640, 360, image::imageops::FilterType::Triangle);
    let full_psnr = psnr(&full_small, 0, 0, &shown);
    eprintln!(
        "player window: picture area PSNR {windowed_psnr:.1} dB, bars at most {bars}, \
         full screen {}x{} PSNR {full_psnr:.1} dB (scaled back to 640x360), \
         {displayed} frames shown",
        full.2, full.3
    );
    assert!(windowed_psnr >= 30.0, "window PSNR {windowed_psnr:.1} dB");
    assert!(bars <= 2, "letterbox bars are black (brightest {bars})");
    assert!(picture_edge > 16, "the picture starts right below the bar");
    assert!(full_psnr >= 30.0, "full-screen PSNR {full_psnr:.1} dB");
}

/// `liveroom push --preview`: the preview window shows the processed
/// picture (PSNR against the last processed frame the pusher saved), and
/// closing it (the window manager's close, Alt+F4) leaves the push running
/// to its last frame.
#[test]
fn push_preview_shows_the_processed_picture_and_closing_it_keeps_the_push() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = scratch_dir("push-preview");
    let serve = Serve::start(&[]);
    let url = serve.rtmp_url("preview");
    let snapshot = dir.join("processed.png");
    let frames = 300;
    let mut pusher = push_photo(
        &url,
        frames,
        &[
            "--preview",
            "--snapshot",
            snapshot.to_str().expect("utf-8 path"),
        ],
        &desktop,
        &dir,
    );
    let window = desktop.window_of_size(
        "liveroom push preview",
        (360, 640),
        "the preview has the output's size",
    );
    let shot = desktop.screenshot_showing(
        &window,
        &dir.join("preview.png"),
        "the preview shows the picture",
    );

    desktop.press(&window, "alt+F4");
    let deadline = Instant::now() + Duration::from_secs(10);
    while desktop.exists(&window) {
        assert!(Instant::now() < deadline, "the preview did not close");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !pusher.has_ended(),
        "the push goes on after the preview closed"
    );
    let (status, stdout, stderr) = pusher.finish(Duration::from_secs(60));
    assert!(status.success(), "push failed: {status}\n{stderr}");
    let summary = summary_of(&stdout);
    assert_eq!(
        summary["framesSent"].as_u64(),
        Some(u64::from(frames)),
        "every frame pushed"
    );

    let processed = image::open(&snapshot).expect("snapshot").to_rgb8();
    assert_eq!(processed.dimensions(), (360, 640));
    let preview_psnr = psnr(&shot, 0, 0, &processed);
    eprintln!("preview window: PSNR {preview_psnr:.1} dB against the processed frame");
    assert!(preview_psnr >= 30.0, "preview PSNR {preview_psnr:.1} dB");
}

/// The player window's other keys and resizing, on testsrc (a picture that
/// changes every frame): a window resized to 800x300 keeps `contain`
/// (pillarbox bars left and right, black); space pauses (two screenshots a
/// second apart are identical) and resumes (the picture moves again); `m`
/// mutes (the test tone's beep, every second, is gone from the sound
/// written after it).
#[test]
fn player_window_resizes_pauses_resumes_and_mutes() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = scratch_dir("player-window-keys");
    let serve = Serve::start(&[]);
    let url = serve.rtmp_url("keys");
    let frames = "3000";
    let _pusher = {
        let mut pusher = Watched::spawn(
            "pusher",
            "push",
            &[
                "--url",
                &url,
                "--frames",
                frames,
                "--mode",
                "sd",
                "--orientation",
                "horizontal",
                "--events",
                "json",
            ],
            &dir,
        );
        pusher.wait_for(1002, Duration::from_secs(60));
        pusher
    };
    let sound = dir.join("sound.wav");
    let mut player = play_in_window(
        &url,
        &["--audio-output", sound.to_str().expect("utf-8 path")],
        &desktop,
        &dir,
    );
    let window = desktop.window("liveroom play", Duration::from_secs(20));

    desktop.run("xdotool", &["windowsize", "--sync", &window, "800", "300"]);
    desktop.wait_geometry(&window, Duration::from_secs(10), |(_, _, w, h)| {
        (w, h) == (800, 300)
    });
    // 640x360 in 800x300: 533x300 at x = 133, black bars left and right.
    // Before the redraw at the new size the old picture still covers the
    // left part, so this waits for the redraw.
    let pillarbox = |shot: &RgbImage| {
        brightest_columns(shot, 0..133).max(brightest_columns(shot, 666..800)) <= 2
            && brightest_columns(shot, 133..666) > 100
    };
    let resized = desktop.screenshot_until(
        &window,
        &dir.join("resized.png"),
        Duration::from_secs(20),
        "black pillarbox bars around the picture at 800x300",
        pillarbox,
    );
    let bars = brightest_columns(&resized, 0..133).max(brightest_columns(&resized, 666..800));
    let picture = brightest_columns(&resized, 133..666);
    eprintln!("resized to 800x300: bars at most {bars}, picture up to {picture}");
    assert!(bars <= 2, "pillarbox bars are black (brightest {bars})");
    assert!(picture > 100, "the picture is between the bars");

    // Paused, the picture stands still: two screenshots a second apart
    // are the same (testsrc changes every frame, so a playing window never
    // gives two); a frame already on its way may land first.
    desktop.press(&window, "space");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = desktop.screenshot(&window, &dir.join("paused.png"));
    let still_paused = loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = desktop.screenshot(&window, &dir.join("paused.png"));
        if now == before {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the picture still moves 10 s after pausing"
        );
        before = now;
    };
    // Resuming plays from the live edge: the next key frame (every 2 s)
    // and the cache (1 s) come first.
    desktop.press(&window, "space");
    let deadline = Instant::now() + Duration::from_secs(15);
    while desktop.screenshot(&window, &dir.join("resumed.png")) == still_paused {
        assert!(
            Instant::now() < deadline,
            "the picture still stands 15 s after resuming"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        player.times_of(2004).len(),
        2,
        "playback began again (2004) after resuming"
    );

    desktop.press(&window, "m");
    std::thread::sleep(Duration::from_secs(3));
    desktop.press(&window, "q");
    let (status, _, stderr) = player.finish(Duration::from_secs(30));
    assert!(
        status.success(),
        "q quits with status 0: {status}\n{stderr}"
    );
    let (samples, channels, rate) = wav_samples(&sound);
    let tail = (rate as usize * usize::from(channels) * 3) / 2;
    let seconds = samples.len() as f64 / f64::from(rate) / f64::from(channels);
    assert!(
        samples.len() > 2 * tail,
        "more than 3 s of sound written ({seconds:.1} s)"
    );
    let loud = |part: &[i16]| part.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    let (before, after) = samples.split_at(samples.len() - tail);
    let (before, after) = (loud(before), loud(after));
    eprintln!("sound: {seconds:.1} s, peak {before} before muting, {after} in the last 1.5 s");
    assert!(before > 1000, "the beeps are heard before muting");
    assert_eq!(after, 0, "silence after m");
}

/// `LivePusher::start_preview`/`stop_preview` in this process: the
/// preview opens during a push, closes on `stop_preview`, opens again (a
/// second window on the same display thread), and closes with the push's
/// end, every frame sent.
#[test]
fn pusher_api_opens_closes_and_reopens_the_preview() {
    let Some(mut desktop) = Desktop::start() else {
        return;
    };
    let Some(gpu) = common::gpu() else {
        return;
    };
    desktop.keep_for_this_process();
    // The library's windows go to this test's display. The other tests of
    // this binary open windows only in the processes they start, each
    // given its own DISPLAY.
    std::env::set_var("DISPLAY", &desktop.display);
    let dir = scratch_dir("preview-api");
    let server = RtmpServer::start(ServerConfig::default()).expect("server starts");
    let frames = 240;
    let config = PusherConfig {
        push_url: Some(server.url("live", "preview-api")),
        max_frames: Some(frames),
        ..Default::default()
    };
    let (width, height) = (config.output_size().width(), config.output_size().height());
    let rate = FrameRate::from_fps(30.0).expect("rate");
    let source = TestSource::new(640, 360, rate).expect("testsrc");
    let pusher = LivePusher::start(config, gpu, Box::new(source), FaceInput::None, None)
        .expect("push starts");
    let options = |title: &str| WindowOptions {
        title: title.into(),
        width,
        height,
        ..WindowOptions::default()
    };
    let gone = |id: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while desktop.exists(id) {
            assert!(Instant::now() < deadline, "window {id} still open");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    pusher
        .start_preview(options("api preview one"))
        .expect("preview opens");
    let first = desktop.window("api preview one", Duration::from_secs(20));
    desktop.screenshot_showing(
        &first,
        &dir.join("first.png"),
        "the first preview shows the picture",
    );
    pusher.stop_preview().expect("preview stops");
    gone(&first);

    pusher
        .start_preview(options("api preview two"))
        .expect("preview opens again");
    let second = desktop.window("api preview two", Duration::from_secs(20));
    desktop.screenshot_showing(
        &second,
        &dir.join("second.png"),
        "the second preview shows the picture",
    );
    let summary = pusher.wait().expect("push ends well");
    assert_eq!(summary.frames_sent, frames, "every frame sent");
    gone(&second);
}

/// `examples/present_effects.rs`: the effects drawn by the pipeline
/// straight into the window's surface texture. With `--still` every frame
/// is the same picture; the screenshot of the window is compared with the
/// photo processed through the CPU-frame path (an RGBA frame in, I420 read
/// back, RGB by `src/color.rs`) at the window's size, with the same
/// strengths and the landmarker's faces: PSNR >= 30 dB. `--frames 60`
/// ends it with status 0 and its frame rate printed (`--fps 12` spreads
/// the 60 frames over 5 s so that the screenshot lands while it runs).
#[test]
fn present_effects_example_shows_the_processed_photo() {
    let Some(example) = example_binary("present_effects") else {
        return;
    };
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let Some(gpu) = common::gpu() else {
        return;
    };
    let dir = scratch_dir("present-effects");
    let child = Command::new(&example)
        .args([photo().as_str(), "--frames", "60", "--fps", "12", "--still"])
        .env("DISPLAY", &desktop.display)
        // Where users run it: the landmarker's models are under assets/.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs: {e}", example.display()));
    let window = desktop.window("liveroom present_effects", Duration::from_secs(60));
    let (_, _, width, height) = desktop.geometry(&window);
    let shot = desktop.screenshot_showing(
        &window,
        &dir.join("presented.png"),
        "the window shows the picture",
    );
    let (output, killed) = wait_with_timeout(child, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("present_effects said:\n{stdout}{stderr}");
    assert!(!killed, "present_effects did not end within 120 s");
    assert!(output.status.success(), "exit status {}", output.status);
    assert!(
        stdout.contains("60 frames presented") && stdout.contains("frames/s"),
        "the frame rate of 60 frames printed"
    );

    // The same picture through the CPU-frame path, at the window's size:
    // the photo (512x512, even sides as the example crops them), the
    // example's top strengths and the landmarker's faces.
    let picture = image::open(photo()).expect("the photo").to_rgb8();
    let faces = match BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::default()) {
        Ok(mut landmarker) => landmarker
            .landmarks(&rgb_image_to_i420(&picture).expect("I420"))
            .expect("landmarks"),
        Err(_) => Vec::new(),
    };
    assert!(
        stdout.contains(&format!("{} face(s) found", faces.len())),
        "the example found the faces this test uses"
    );
    let params = FrameParams {
        effects: EffectParams::new(0.7, 0.8, 0.6, 0.6).expect("strengths"),
        faces,
        ..Default::default()
    };
    let size = OutputSize::new(width, height).expect("even window sides");
    let mut pipeline = FramePipeline::new(&gpu, size).expect("pipeline");
    let frame = RgbaFrame::from_rgb_image(&picture, ChannelOrder::Rgba, Duration::ZERO)
        .expect("RGBA frame");
    let processed = pipeline
        .process_frame(&InputFrame::Rgba(frame), &params)
        .expect("processed");
    let reference = i420_to_rgb_image(&processed);
    reference
        .save(dir.join("reference.png"))
        .expect("reference PNG");
    let presented_psnr = psnr(&shot, 0, 0, &reference);
    // The effects change the picture: the photo itself is far off (at
    // least 10 dB further than the processed one).
    let untouched = image::imageops::resize(
        &picture,
        width,
        height,
        image::imageops::FilterType::Triangle,
    );
    let photo_psnr = psnr(&shot, 0, 0, &untouched);
    eprintln!(
        "present_effects window {width}x{height}: PSNR {presented_psnr:.1} dB against the \
         processed photo, {photo_psnr:.1} dB against the photo itself"
    );
    assert!(presented_psnr >= 30.0, "window PSNR {presented_psnr:.1} dB");
    assert!(
        presented_psnr >= photo_psnr + 10.0,
        "the window shows the effects, not the plain photo ({photo_psnr:.1} dB from it)"
    );
}

/// `examples/present_effects.rs` without `--still` or `--frames`: the
/// strengths swell and fade, so the picture changes between screenshots;
/// `q`, Escape and the window manager's close (Alt+F4) each end it with
/// status 0 and its frame rate printed.
#[test]
fn present_effects_example_animates_and_quits_on_q_escape_and_close() {
    let Some(example) = example_binary("present_effects") else {
        return;
    };
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = scratch_dir("present-effects-keys");
    for (run, key) in ["q", "Escape", "alt+F4"].into_iter().enumerate() {
        let child = Command::new(&example)
            .arg(photo())
            .env("DISPLAY", &desktop.display)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs: {e}", example.display()));
        let window = desktop.window("liveroom present_effects", Duration::from_secs(60));
        let (_, _, _, height) = desktop.geometry(&window);
        let shot = dir.join("animated.png");
        let first = desktop.screenshot_showing(&window, &shot, "the window shows the picture");
        if run == 0 {
            desktop.screenshot_until(
                &window,
                &shot,
                Duration::from_secs(10),
                "the picture changes as the strengths swell and fade",
                |shot| *shot != first && brightest(shot, 0..height) > 16,
            );
        }
        desktop.press(&window, key);
        let (output, killed) = wait_with_timeout(child, Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&output.stdout);
        eprintln!("{key}: {}", stdout.lines().last().unwrap_or(""));
        assert!(!killed, "{key} did not end present_effects within 30 s");
        assert!(
            output.status.success(),
            "{key}: exit status {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("frames/s"), "{key}: the frame rate printed");
    }
}
