//! The `liveroom` command as a person and a script meet it: the help of
//! every subcommand, exit statuses, the summary in words on a terminal and
//! in JSON for programs, `url`, `serve` and `effects`. (The push and play
//! flags' bad values are in `pusher_cli.rs` and `bad_input.rs`.)

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{liveroom, run_liveroom, scratch_dir};
use liveroom::rtmp::sign::check_signature;
use liveroom::rtmp::RtmpUrl;

const SUBCOMMANDS: [&str; 5] = ["push", "play", "serve", "effects", "url"];

fn stdout_of(subcommand: &str, args: &[&str]) -> String {
    let output = run_liveroom(subcommand, args, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "liveroom {subcommand} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_describes_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .arg("--help")
        .output()
        .expect("liveroom runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for subcommand in SUBCOMMANDS {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(subcommand)),
            "{subcommand} missing from:\n{help}"
        );
    }
    for subcommand in SUBCOMMANDS {
        let help = stdout_of(subcommand, &["--help"]);
        let flags: Vec<&str> = help
            .lines()
            .map(str::trim_start)
            .filter(|line| line.starts_with("--"))
            .collect();
        assert!(flags.len() >= 3, "{subcommand} --help lists flags:\n{help}");
        for line in flags {
            // `--flag <VALUE>  What it does`: a description after the name.
            let words = line
                .split_whitespace()
                .filter(|w| !w.starts_with('<'))
                .count();
            assert!(words >= 3, "{subcommand}: {line:?} has no description");
        }
    }
    let push = stdout_of("push", &["--help"]);
    for heading in [
        "Destination:",
        "Source:",
        "Picture:",
        "Beauty:",
        "Encoding:",
        "Sound:",
    ] {
        assert!(push.contains(heading), "push --help lacks {heading}");
    }
}

#[test]
fn bad_command_lines_are_one_line_and_status_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["teleport"], "unrecognized subcommand"),
        (&["push", "--input", "/no/such/clip.y4m"], "cannot read"),
        (&["push", "--input", "clip.avi"], "unknown input"),
        (&["url"], "--stream"),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .args(args)
            .output()
            .expect("liveroom runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // No subcommand: the help, and status 2 as clap gives it.
    let output = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .output()
        .expect("liveroom runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: liveroom"));
}

#[test]
fn url_prints_signed_push_and_play_urls_the_server_accepts() {
    let json = stdout_of(
        "url",
        &[
            "--host",
            "live.example.com",
            "--stream",
            "room1",
            "--key",
            "K3Y",
            "--json",
        ],
    );
    let urls: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON object");
    let push = urls["push"].as_str().expect("push URL");
    let plays = urls["play"].as_array().expect("play URLs");
    assert_eq!(plays.len(), 2, "{urls}");
    assert_eq!(plays[1]["kind"], "rtmpPureAudio");
    for url in std::iter::once(push).chain(plays.iter().filter_map(|p| p["url"].as_str())) {
        let parsed = RtmpUrl::parse(url).expect("an RTMP URL");
        assert_eq!(parsed.host, "live.example.com");
        let now = SystemTime::now();
        assert_eq!(
            check_signature("K3Y", "room1", parsed.query.as_deref(), now),
            Ok(()),
            "{url}"
        );
    }
    let words = stdout_of("url", &["--stream", "room1"]);
    assert_eq!(
        words,
        "push  rtmp://127.0.0.1:1935/live/room1\n\
         play  rtmp://127.0.0.1:1935/live/room1  (RTMP)\n\
         play  rtmp://127.0.0.1:1935/live/room1_pureAudio  (RTMP, sound only)\n"
    );
}

#[test]
fn serve_says_where_it_listens_and_accepts_connections() {
    let mut child = liveroom("serve")
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("liveroom serve runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a line");
    let address = first
        .trim()
        .strip_prefix("rtmp listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_string();
    let connected = TcpStream::connect_timeout(
        &address.parse().expect("an address"),
        Duration::from_secs(5),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(connected.is_ok(), "{address}: {connected:?}");
}

/// `script` (util-linux, in every Debian) gives the command a terminal, as
/// a person running it has.
fn on_a_terminal(command_line: &str) -> String {
    let output = Command::new("script")
        .args(["-qec", command_line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    assert!(output.status.success(), "{command_line}:\n{text}");
    text
}

#[test]
fn a_terminal_gets_the_summary_in_words_and_json_stays_for_programs() {
    if common::gpu().is_none() {
        return;
    }
    let binary = env!("CARGO_BIN_EXE_liveroom");
    let words = on_a_terminal(&format!("{binary} push --frames 30"));
    assert!(
        words.contains("30/30 frames arrived, none lost; PSNR median"),
        "{words}"
    );
    assert!(words.contains("sound within"), "{words}");
    assert!(!words.contains(r#""tag":"summary""#), "{words}");

    let json = on_a_terminal(&format!("{binary} push --frames 30 --events json"));
    let last = json
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(last).expect("JSON summary last");
    assert_eq!(summary["tag"], "summary");
    assert_eq!(summary["framesReceived"], 30);
    assert!(json.contains(r#""tag":"pushEvent""#), "{json}");
}

#[test]
fn effects_find_the_face_themselves_and_write_a_contact_sheet() {
    if common::gpu().is_none() {
        return;
    }
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    assert!(photo.exists(), "{}: run scripts/setup.sh", photo.display());
    let dir = scratch_dir("cli-effects");
    let sheet = dir.join("sheet.png");
    let (plain, thinner) = (dir.join("plain.png"), dir.join("thinner.png"));
    let photo_arg = photo.to_str().expect("utf-8");
    let printed = stdout_of(
        "effects",
        &[
            "--input",
            photo_arg,
            "--contact-sheet",
            sheet.to_str().expect("utf-8"),
        ],
    );
    assert!(printed.contains("original, whiteness"), "{printed}");
    assert!(printed.contains(", background blur, all"), "{printed}");
    let columns = printed.trim().split(", ").count() as u32;
    assert!(columns >= 8, "{printed}");
    // 320 px columns: the whole picture above a close-up of the face.
    let sheet = image::open(&sheet).expect("a PNG").to_rgb8();
    assert_eq!(sheet.dimensions(), (320 * columns, 320 + 320));
    for (out, thinness) in [(&plain, "0"), (&thinner, "1")] {
        let out = out.to_str().expect("utf-8");
        let args = [
            "--input",
            photo_arg,
            "--face-thinness",
            thinness,
            "--output",
            out,
        ];
        stdout_of("effects", &args);
    }
    // The built-in landmarker found the face: thinning moved the jaw, and
    // only around the face (against the picture through the same I420
    // round trip without effects).
    let original = image::open(&plain).expect("a PNG").to_rgb8();
    let thinner = image::open(&thinner).expect("a PNG").to_rgb8();
    let changed = |x0: u32, y0: u32, x1: u32, y1: u32| {
        let mut count = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                let (a, b) = (original.get_pixel(x, y), thinner.get_pixel(x, y));
                if a.0.iter().zip(b.0).any(|(p, q)| p.abs_diff(q) > 24) {
                    count += 1;
                }
            }
        }
        count
    };
    assert!(changed(170, 80, 280, 200) > 200, "the face changed");
    assert_eq!(changed(0, 400, 120, 512), 0, "the corner did not");
    // --background-blur 1: the backdrop (the shuttle model on the right)
    // loses its fine detail, the face stays.
    let blurred = dir.join("blurred.png");
    stdout_of(
        "effects",
        &[
            "--input",
            photo_arg,
            "--background-blur",
            "1",
            "--output",
            blurred.to_str().expect("utf-8"),
        ],
    );
    let blurred = image::open(&blurred).expect("a PNG").to_rgb8();
    let energy = |picture: &image::RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)| {
        let luma = |x: u32, y: u32| {
            let p = picture.get_pixel(x, y).0;
            0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
        };
        let mut sum = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                let mut mean = 0.0;
                for dy in 0..3 {
                    for dx in 0..3 {
                        mean += luma(x + dx - 1, y + dy - 1);
                    }
                }
                let d = luma(x, y) - mean / 9.0;
                sum += d * d;
            }
        }
        sum
    };
    let shuttle = (385, 30, 440, 200);
    let kept = energy(&blurred, shuttle) / energy(&original, shuttle);
    eprintln!(
        "effects --background-blur 1: the backdrop keeps {:.1} % of its high-frequency energy",
        100.0 * kept
    );
    assert!(kept <= 0.3, "the backdrop kept {kept}");
    let mut face_change = 0u8;
    for y in 80..158 {
        for x in 192..252 {
            let (a, b) = (original.get_pixel(x, y), blurred.get_pixel(x, y));
            for (p, q) in a.0.iter().zip(b.0) {
                face_change = face_change.max(p.abs_diff(q));
            }
        }
    }
    eprintln!("effects --background-blur 1: the face changes by {face_change} at most");
    assert!(face_change <= 3, "the face changed by {face_change}");
    // --background-image: a green picture behind the person.
    let green = dir.join("green.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([20, 200, 40]))
        .save(&green)
        .expect("write picture");
    let replaced = dir.join("replaced.png");
    stdout_of(
        "effects",
        &[
            "--input",
            photo_arg,
            "--background-image",
            green.to_str().expect("utf-8"),
            "--output",
            replaced.to_str().expect("utf-8"),
        ],
    );
    let replaced = image::open(&replaced).expect("a PNG").to_rgb8();
    let (x0, y0, x1, y1) = shuttle;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = replaced.get_pixel(x, y).0;
            assert!(
                p[1] > 150 && p[0] < 80 && p[2] < 100,
                "{x},{y} is {p:?}, not the green picture"
            );
        }
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_y4m_clip_is_pushed_whole_and_an_endless_source_stops_at_300() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("cli-whole-clip");
    let clip = dir.join("clip.y4m");
    let clip_arg = clip.to_str().expect("utf-8");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x90:rate=30",
        "-frames:v",
        "310",
        "-pix_fmt",
        "yuv420p",
        clip_arg,
    ]);
    let flv = dir.join("out.flv");
    let flv_arg = flv.to_str().expect("utf-8");
    let common_args = ["--audio", "off", "--output", flv_arg];
    let clip_run = stdout_of("push", &[&["--input", clip_arg][..], &common_args].concat());
    let summary = common::summary_of(&clip_run);
    assert_eq!(summary["framesCaptured"], 310, "{summary}");
    let asked = stdout_of(
        "push",
        &[&["--input", clip_arg, "--frames", "20"][..], &common_args].concat(),
    );
    assert_eq!(common::summary_of(&asked)["framesCaptured"], 20);
    let endless = stdout_of("push", &common_args);
    assert_eq!(common::summary_of(&endless)["framesCaptured"], 300);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn y4m_on_stdin_feeds_the_pusher_from_any_ffmpeg_source() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch_dir("cli-stdin");
    let flv = dir.join("out.flv");
    let binary = env!("CARGO_BIN_EXE_liveroom");
    // FFmpeg's own test pattern through a pipe, as a camera would come.
    let pipeline = format!(
        "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=320x180:rate=25 \
         -frames:v 40 -pix_fmt yuv420p -f yuv4mpegpipe - | {binary} push --input - \
         --audio off --output {}",
        flv.display()
    );
    let output = Command::new("bash")
        .args(["-o", "pipefail", "-c", &pipeline])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{pipeline}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        common::summary_of(&stdout)["framesCaptured"],
        40,
        "{stdout}"
    );
    let probe = common::ffprobe(&flv);
    assert_eq!(probe.frames, 40, "{}x{}", probe.width, probe.height);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
