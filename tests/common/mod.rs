//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use liveroom::frame::{I420Frame, Plane};
use liveroom::landmarks::FaceLandmarks;
use liveroom::GpuContext;

/// The GPU context for GPU tests. Without an adapter the test is skipped,
/// unless `REQUIRE_GPU=1` (CI), where a missing driver fails the test.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::from_env() {
        Ok(gpu) => {
            eprintln!("GPU tests run on: {}", gpu.adapter_summary());
            Some(gpu)
        }
        Err(error) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 but no GPU context: {error}")
        }
        Err(error) => {
            declare_skip(&format!(
                "no GPU adapter ({error}); REQUIRE_GPU=1 makes this a failure"
            ));
            None
        }
    }
}

/// Says on stderr which test skips and why, as wgpu's suite declares its
/// skips (`cargo test -- --nocapture` shows them; CI requires every tier,
/// so there they fail instead).
pub fn declare_skip(why: &str) {
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    eprintln!("SKIPPED {test}: {why}");
}

/// A deterministic picture with texture, edges and colour, for comparisons.
pub fn textured_frame(width: u32, height: u32, seed: u32) -> I420Frame {
    let mut frame = I420Frame::black(width, height).expect("valid test size");
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 41) as i32 - 20
    };
    for plane in Plane::ALL {
        let (w, h) = frame.plane_size(plane);
        for y in 0..h {
            for x in 0..w {
                let base = match plane {
                    Plane::Y => {
                        60 + (x * 140 / w.max(1)) as i32
                            + if (x / 3 + y / 5) % 2 == 0 { 25 } else { -25 }
                    }
                    Plane::U => 80 + (y * 90 / h.max(1)) as i32,
                    Plane::V => 170 - (x * 70 / w.max(1)) as i32,
                };
                frame.row_mut(plane, y)[x as usize] = (base + noise()).clamp(0, 255) as u8;
            }
        }
    }
    frame
}

/// The astronaut portrait that `scripts/setup.sh` places in `assets/photos/`.
pub fn portrait_rgb() -> image::RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/photos/astronaut.png");
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", path.display()))
        .to_rgb8()
}

/// The portrait's face, in its pixels.
pub fn portrait_face() -> FaceLandmarks {
    FaceLandmarks {
        bbox: [183.0, 85.0, 81.0, 93.0],
        left_eye: [204.0, 101.0],
        right_eye: [246.0, 102.5],
        contour: Vec::new(),
    }
}

/// Largest absolute difference between two frames, plane by plane, and where.
pub fn max_difference(a: &I420Frame, b: &I420Frame) -> (u8, Plane, u32, u32) {
    assert_eq!(
        (a.width(), a.height()),
        (b.width(), b.height()),
        "sizes differ"
    );
    let mut worst = (0u8, Plane::Y, 0, 0);
    for plane in Plane::ALL {
        let (w, h) = a.plane_size(plane);
        for y in 0..h {
            for x in 0..w {
                let d = a.sample(plane, x, y).abs_diff(b.sample(plane, x, y));
                if d > worst.0 {
                    worst = (d, plane, x, y);
                }
            }
        }
    }
    worst
}

/// Luma PSNR in dB between two frames of the same size.
pub fn luma_psnr(a: &I420Frame, b: &I420Frame) -> f64 {
    let mut sum = 0.0f64;
    for y in 0..a.height() {
        for (p, q) in a.row(Plane::Y, y).iter().zip(b.row(Plane::Y, y)) {
            let d = *p as f64 - *q as f64;
            sum += d * d;
        }
    }
    let mse = sum / (a.width() * a.height()) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The `liveroom` command (built by cargo for the integration tests) with
/// its subcommand: `push`, `play`, `serve`, `effects` or `url`.
pub fn liveroom(subcommand: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liveroom"));
    command.arg(subcommand);
    command
}

/// A `liveroom` subcommand whose stdout lines are collected as they
/// arrive, each with the moment it arrived; stderr goes to a file. Tests
/// wait on its events ([`Watched::wait_for`]) instead of sleeping.
pub struct Watched {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<JoinHandle<()>>,
    stderr: PathBuf,
}

impl Watched {
    pub fn spawn(name: &str, subcommand: &str, args: &[&str], dir: &Path) -> Self {
        Self::spawn_with_env(name, subcommand, args, &[], dir)
    }

    /// [`Watched::spawn`] with extra environment variables (e.g. the
    /// `DISPLAY` of a test's own X server).
    pub fn spawn_with_env(
        name: &str,
        subcommand: &str,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Self {
        let stderr = dir.join(format!("{name}.stderr"));
        let mut child = liveroom(subcommand)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("liveroom runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines").push((Instant::now(), line));
            }
        });
        Self {
            name: name.to_string(),
            child,
            lines,
            reader: Some(reader),
            stderr,
        }
    }

    /// Whether the program has ended.
    pub fn has_ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The stdout lines so far that contain `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|(_, line)| line.contains(text))
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// When each event line with `code` arrived.
    pub fn times_of(&self, code: i32) -> Vec<Instant> {
        let needle = format!(r#""code":{code},"#);
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|(_, line)| line.contains(&needle))
            .map(|(at, _)| *at)
            .collect()
    }

    /// Polls until an event line with `code` has arrived (with `--events
    /// json`), failing the test after `limit` or when the program ends
    /// first.
    pub fn wait_for(&mut self, code: i32, limit: Duration) {
        self.wait_until(&format!("event {code}"), limit, |me| {
            !me.times_of(code).is_empty()
        });
    }

    /// Polls until `count` stdout lines contain `text` (e.g. four
    /// `"tag":"netStatus"` lines: four seconds of playing), failing the
    /// test after `limit` or when the program ends first.
    pub fn wait_for_lines(&mut self, text: &str, count: usize, limit: Duration) {
        self.wait_until(&format!("{count} lines with {text}"), limit, |me| {
            me.lines_with(text).len() >= count
        });
    }

    fn wait_until(&mut self, what: &str, limit: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                panic!("{} ended ({status}) before {what}:\n{stderr}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the end (killing it after `limit`); returns its status,
    /// stdout and stderr.
    pub fn finish(&mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("{} did not end within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stdout = self
            .lines
            .lock()
            .expect("lines")
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(
            !stderr.contains("panicked"),
            "{} panicked:\n{stderr}",
            self.name
        );
        (status, stdout, stderr)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `liveroom serve` process with RTMP and HTTP on free loopback ports
/// (and `extra` flags, e.g. `--key`); killed on drop.
pub struct Serve {
    child: Child,
    /// Where RTMP listens.
    pub rtmp: SocketAddr,
    /// Where HTTP listens.
    pub http: SocketAddr,
}

impl Serve {
    /// Starts it and reads the two `… listening on ADDR` lines.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = liveroom("serve")
            .args(["--port", "0", "--http-port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("liveroom serve runs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut address = |prefix: &str| -> SocketAddr {
            let line = lines.next().expect("a line").expect("text");
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
                .parse()
                .expect("an address")
        };
        let rtmp = address("rtmp listening on ");
        let http = address("http listening on ");
        Self { child, rtmp, http }
    }

    /// `rtmp://…/live/STREAM`.
    pub fn rtmp_url(&self, stream: &str) -> String {
        format!("rtmp://{}/live/{stream}", self.rtmp)
    }

    /// `http://…/live/STREAM.flv`.
    pub fn flv_url(&self, stream: &str) -> String {
        format!("http://{}/live/{stream}.flv", self.http)
    }

    /// `http://…PATH`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// One request with `Connection: close`, written by hand so that any
    /// method and path (bad ones included) reach the server as given.
    pub fn fetch(&self, method: &str, path: &str) -> Answer {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(self.http).expect("connects");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            socket,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .expect("request sent");
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).expect("answer read");
        let split = answer
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&answer)));
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: answer[split + 4..].to_vec(),
        }
    }

    /// What `liveroom url --json` gives for `stream` on this server, signed
    /// with `key`: `{"push": …, "play": [{"kind": …, "url": …}, …]}`.
    pub fn signed_urls(&self, stream: &str, key: &str) -> serde_json::Value {
        let output = run_liveroom(
            "url",
            &[
                "--stream",
                stream,
                "--port",
                &self.rtmp.port().to_string(),
                "--http-port",
                &self.http.port().to_string(),
                "--key",
                key,
                "--json",
            ],
            Duration::from_secs(10),
        );
        assert!(output.status.success());
        serde_json::from_slice(&output.stdout).expect("JSON")
    }
}

/// The play URL of `kind` (`httpFlv`, `hls`, …) in [`Serve::signed_urls`]'s
/// answer.
pub fn play_url(urls: &serde_json::Value, kind: &str) -> String {
    urls["play"]
        .as_array()
        .expect("play URLs")
        .iter()
        .find(|play| play["kind"] == kind)
        .and_then(|play| play["url"].as_str())
        .unwrap_or_else(|| panic!("no {kind} URL in {urls}"))
        .to_string()
}

/// An HTTP answer: status, headers (lower-case names) and body.
pub struct Answer {
    pub status: u16,
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// Starts `liveroom push` of `frames` testsrc frames (30 fps, SD, with the
/// tone) to `url`, and waits until it publishes.
pub fn push_testsrc(url: &str, frames: u32, dir: &Path) -> Watched {
    let frames = frames.to_string();
    let mut pusher = Watched::spawn(
        "pusher",
        "push",
        &[
            "--url", url, "--frames", &frames, "--mode", "sd", "--events", "json",
        ],
        dir,
    );
    pusher.wait_for(1002, Duration::from_secs(30));
    pusher
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("liveroom-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub fn ffmpeg(args: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// FFmpeg's own decode of a media file's pictures into an I420 Y4M file:
/// every decoded frame once (`passthrough`: a Y4M is constant-rate, and
/// FFmpeg would otherwise repeat the first frame of a stream whose audio
/// starts a little earlier, as the AAC pre-roll does).
/// A detailed moving 720p clip that is not ours (FFmpeg's testsrc2), 240
/// frames at 30 fps, made once per test binary.
pub fn detailed_clip() -> &'static Path {
    static CLIP: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CLIP.get_or_init(|| {
        let path = scratch_dir("detailed-clip").join("testsrc2-720p.y4m");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-frames:v",
            "240",
            "-pix_fmt",
            "yuv420p",
            path.to_str().expect("utf-8 path"),
        ]);
        path
    })
}

pub fn ffmpeg_decode(input: &Path, output: &Path) {
    ffmpeg(&[
        "-i",
        input.to_str().expect("utf-8 path"),
        "-an",
        "-fps_mode",
        "passthrough",
        "-pix_fmt",
        "yuv420p",
        output.to_str().expect("utf-8 path"),
    ]);
}

/// FFmpeg publishing the FLV file `flv` to the RTMP `url` at its own pace
/// (`-re`, streams copied); its errors are piped.
pub fn publish_flv(flv: &Path, url: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(flv)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg publishes")
}

/// Waits for a child process up to `limit`, killing it if it runs longer.
/// Returns its output and whether it had to be killed.
pub fn wait_with_timeout(mut child: Child, limit: Duration) -> (Output, bool) {
    let deadline = Instant::now() + limit;
    let mut killed = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                killed = true;
                break;
            }
        }
    }
    (child.wait_with_output().expect("child output"), killed)
}

/// A free TCP port on loopback (free when asked; nothing holds it after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// nginx with the RTMP module, on loopback, in a scratch directory; killed
/// on drop. `None` (test skipped) when nginx or the module is missing,
/// unless `REQUIRE_NGINX=1` (CI), where that fails the test.
pub struct Nginx {
    child: Child,
    /// Its RTMP port.
    pub port: u16,
    /// Its scratch directory (config, logs).
    pub dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with one live application, `live`.
    pub fn start(name: &str) -> Option<Self> {
        Self::start_with(name, "")
    }

    /// Starts nginx with one live application, `live`, with `directives`
    /// added to it (e.g. recording).
    pub fn start_with(name: &str, directives: &str) -> Option<Self> {
        let module = [
            "/usr/lib/nginx/modules/ngx_rtmp_module.so",
            "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists());
        let nginx_found = Command::new("nginx").arg("-v").output().is_ok();
        let (Some(module), true) = (module, nginx_found) else {
            if std::env::var("REQUIRE_NGINX").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_NGINX=1 but nginx with the RTMP module is missing: run scripts/setup.sh");
            }
            declare_skip("nginx or libnginx-mod-rtmp is not installed (scripts/setup.sh installs them); REQUIRE_NGINX=1 makes this a failure");
            return None;
        };
        let dir = scratch_dir(&format!("nginx-{name}"));
        let port = free_port();
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/error.log info;\nload_module {module};\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
             application live {{ live on; {directives} }} }} }}\n",
            dir = dir.display(),
            directives = if directives.is_empty() {
                "record off;"
            } else {
                directives
            },
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).expect("nginx config");
        let child = Self::spawn(&dir, port);
        Some(Self { child, port, dir })
    }

    /// Kills nginx at once (no graceful shutdown), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again with the same configuration and port.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(&self.dir, self.port);
    }

    /// Runs nginx on the configuration in `dir`; returns once it listens.
    fn spawn(dir: &Path, port: u16) -> Child {
        let config_path = dir.join("nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .spawn()
            .expect("nginx starts");
        // Ready when the port accepts connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// `rtmp://127.0.0.1:PORT/live/<stream>`.
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What ffprobe counts in a media file's first video stream.
#[derive(Debug, Default)]
pub struct Probe {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    /// Sum of the video packet sizes, bytes.
    pub video_bytes: u64,
    /// First and last video packet times, seconds.
    pub first_time: f64,
    pub last_time: f64,
}

/// Probes a file (or URL) with ffprobe: decodes every frame to count them.
pub fn ffprobe(path: &Path) -> Probe {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-show_entries", "packet=size,dts_time"])
        .args(["-of", "compact=p=0:nk=0"])
        .arg(path)
        .output()
        .expect("ffprobe must be installed (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut probe = Probe::default();
    let mut times = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: std::collections::HashMap<&str, &str> = line
            .split('|')
            .filter_map(|field| field.split_once('='))
            .collect();
        if let Some(codec) = fields.get("codec_name") {
            probe.codec = codec.to_string();
            probe.width = fields
                .get("width")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            probe.height = fields
                .get("height")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            probe.frames = fields
                .get("nb_read_frames")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        } else if let Some(size) = fields.get("size") {
            probe.video_bytes += size.parse::<u64>().unwrap_or(0);
            if let Some(time) = fields.get("dts_time").and_then(|v| v.parse::<f64>().ok()) {
                times.push(time);
            }
        }
    }
    probe.first_time = times.iter().copied().fold(f64::INFINITY, f64::min);
    probe.last_time = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    probe
}

/// The last `{"tag":"summary",…}` line of an example's output, parsed.
pub fn summary_of(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.contains(r#""tag":"summary""#))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    serde_json::from_str(line).expect("summary is JSON")
}

/// Runs the pusher; a run that has not ended within `limit` is killed and
/// fails the test (a hang must not stall CI).
pub fn run_pusher(args: &[&str], limit: Duration) -> Output {
    run_liveroom("push", args, limit)
}

/// Runs `liveroom SUBCOMMAND ARGS…`, capturing its output; one that has
/// not ended within `limit` is killed and fails the test.
pub fn run_liveroom(subcommand: &str, args: &[&str], limit: Duration) -> Output {
    let child = liveroom(subcommand)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("liveroom {subcommand} runs: {e}"));
    let (output, killed) = wait_with_timeout(child, limit);
    assert!(
        !killed,
        "liveroom {subcommand} {args:?} did not end within {limit:?}"
    );
    output
}

/// Runs the pusher to completion within `limit`, asserting it succeeded;
/// returns its stdout.
pub fn push_ok(args: &[&str], limit: Duration) -> String {
    let output = run_pusher(args, limit);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "pusher {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// High-frequency luma energy of the rectangle `(x0, y0, x1, y1)` (ends
/// exclusive, one pixel in from the frame's edges): the squared difference
/// of each pixel from its 3×3 mean, summed.
pub fn high_frequency_energy(frame: &I420Frame, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> f64 {
    let mut energy = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let mut mean = 0.0;
            for dy in 0..3 {
                for dx in 0..3 {
                    mean += f64::from(frame.sample(Plane::Y, x + dx - 1, y + dy - 1));
                }
            }
            let d = f64::from(frame.sample(Plane::Y, x, y)) - mean / 9.0;
            energy += d * d;
        }
    }
    energy
}
