//! Scale-out on paper, tested: `deploy/nginx-hls-cache.conf` run as it is
//! (only its two ports changed) as a caching edge in front of `liveroom
//! serve`. FFmpeg plays HLS through the edge, and a segment fetched twice
//! through it is a cache hit the second time, byte for byte the origin's.
//!
//! Needs nginx (scripts/setup.sh installs it); skipped without it unless
//! `REQUIRE_NGINX=1` (CI), where it fails.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{declare_skip, free_port, scratch_dir, Serve, Watched};

/// The example as committed.
const EXAMPLE: &str = include_str!("../deploy/nginx-hls-cache.conf");

/// nginx running the example; stopped gracefully (SIGTERM, so its workers
/// go too) on drop.
struct Edge {
    child: Child,
    port: u16,
}

impl Edge {
    fn start(origin: std::net::SocketAddr, dir: &Path) -> Option<Self> {
        if Command::new("nginx").arg("-v").output().is_err() {
            if std::env::var("REQUIRE_NGINX").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_NGINX=1 but nginx is missing: run scripts/setup.sh");
            }
            declare_skip("nginx is not installed (scripts/setup.sh installs it); REQUIRE_NGINX=1 makes this a failure");
            return None;
        }
        let port = free_port();
        assert!(
            EXAMPLE.contains("server 127.0.0.1:8080;")
                && EXAMPLE.contains("listen 127.0.0.1:8081;")
        );
        let config = EXAMPLE
            .replace("server 127.0.0.1:8080;", &format!("server {origin};"))
            .replace(
                "listen 127.0.0.1:8081;",
                &format!("listen 127.0.0.1:{port};"),
            );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).expect("config written");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: see {}",
                dir.join("error.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child, port })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url`: status, `X-Cache-Status` and body (4xx/5xx are answers too).
fn get(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut answer = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let cache = answer
        .headers()
        .get("x-cache-status")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let body = answer
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .expect("body read");
    (answer.status().as_u16(), cache, body)
}

#[test]
fn a_caching_nginx_edge_serves_hls_from_its_cache() {
    let dir = scratch_dir("scale-out");
    let serve = Serve::start(&[]);
    let mut pusher = Watched::spawn(
        "pusher",
        "push",
        &[
            "--url",
            &serve.rtmp_url("edge"),
            "--frames",
            "900",
            "--mode",
            "sd",
            "--events",
            "json",
        ],
        &dir,
    );
    pusher.wait_for(1002, Duration::from_secs(30));
    let Some(edge) = Edge::start(serve.http, &dir) else {
        return;
    };

    // The playlist through the edge, once the origin has a segment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let (status, _, body) = get(&edge.url("/live/edge.m3u8"));
        if status == 200 {
            break String::from_utf8(body).expect("playlist text");
        }
        assert!(
            Instant::now() < deadline,
            "no playlist through the edge: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let segment = playlist
        .lines()
        .find(|line| line.ends_with(".m4s") || line.contains(".m4s?"))
        .unwrap_or_else(|| panic!("no segment in {playlist}"));
    let segment_path = if segment.starts_with('/') {
        segment.to_string()
    } else {
        format!("/live/{segment}")
    };

    let (first_status, first_cache, first) = get(&edge.url(&segment_path));
    let (second_status, second_cache, second) = get(&edge.url(&segment_path));
    let (_, _, origin) = get(&serve.http_url(&segment_path));
    assert_eq!((first_status, second_status), (200, 200), "{segment_path}");
    assert_eq!(
        second_cache.as_deref(),
        Some("HIT"),
        "the second fetch of {segment_path} comes from the cache (first: {first_cache:?})"
    );
    assert!(!first.is_empty());
    assert_eq!(first, second, "the cache gives the segment as fetched");
    assert_eq!(first, origin, "the edge gives the origin's bytes");

    // A real player through the edge.
    let output: Output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(edge.url("/live/edge.m3u8"))
        .args(["-map", "0:v:0", "-frames:v", "60", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "ffmpeg through the edge: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let frames = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .count();
    assert_eq!(frames, 60, "frames decoded through the edge");
    drop(pusher);
}
