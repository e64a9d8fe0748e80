//! The watch page in a real browser: headless Chromium from Debian, driven
//! through ChromeDriver's WebDriver API, opens `/live/STREAM.html` of a
//! `liveroom serve` while `liveroom push` pushes testsrc to it, and the
//! page's own `#state` JSON must show the stream playing: `currentTime`
//! advancing by at least 3 s, at least 60 frames decoded, and the picture
//! the stream's (the testsrc frame stamp read back in the page, the frame
//! not black).
//!
//! Without `chromium` and `chromedriver` (scripts/setup.sh installs them)
//! the test is skipped, unless `REQUIRE_BROWSER=1` (CI), where it fails.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{declare_skip, free_port, scratch_dir, Serve, Watched};
use serde_json::{json, Value};

/// Where Debian puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium's flags: the three, muted autoplay, and the
/// ones that keep it from calling Google on a closed network.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,900",
];

/// ChromeDriver on a free port, killed on drop.
struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    /// Starts ChromeDriver; `None` (test skipped) when it or Chromium is
    /// missing, unless `REQUIRE_BROWSER=1`.
    fn start() -> Option<Self> {
        let found = Path::new(CHROMIUM).exists()
            && Command::new("chromedriver")
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success());
        if !found {
            let why = "chromium or chromedriver is not installed (scripts/setup.sh installs them)";
            if std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_BROWSER=1 but {why}");
            }
            declare_skip(&format!("{why}; REQUIRE_BROWSER=1 makes this a failure"));
            return None;
        }
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{}/status", driver.base))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(driver)
    }

    /// A new headless Chromium session.
    fn session(&self, profile: &Path) -> Session<'_> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let answer = post(
            &format!("{}/session", self.base),
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            }}}),
        );
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Session { driver: self, id }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; closed on drop.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.driver.base, self.id)
    }

    fn open(&self, page: &str) {
        post(&self.url("/url"), json!({ "url": page }));
    }

    /// Runs `script` in the page and returns its value.
    fn run(&self, script: &str) -> Value {
        post(
            &self.url("/execute/sync"),
            json!({ "script": script, "args": [] }),
        )["value"]
            .take()
    }

    /// The page's `#state`, parsed.
    fn state(&self) -> Value {
        let text = self.run("return document.getElementById('state').textContent");
        let text = text.as_str().unwrap_or("{}");
        serde_json::from_str(text).unwrap_or_else(|e| panic!("#state is not JSON ({e}): {text}"))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.url("")).call();
    }
}

fn post(url: &str, body: Value) -> Value {
    let mut answer = ureq::post(url)
        .send_json(&body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    answer
        .body_mut()
        .read_json()
        .unwrap_or_else(|e| panic!("POST {url}: answer is not JSON: {e}"))
}

fn number(state: &Value, key: &str) -> f64 {
    state[key].as_f64().unwrap_or(0.0)
}

/// Opens `page` in a new session and watches the page's own state until
/// it has played 3 s and 60 frames; asserts what it saw and returns the
/// last state. `source` is the way the page should play (`fmp4`, `hls`),
/// `viewers` the `/api/streams` field that counts it.
fn watch(
    driver: &Driver,
    serve: &Serve,
    page: &str,
    source: &str,
    viewers: &str,
    profile: &Path,
) -> Value {
    let session = driver.session(profile);
    session.open(page);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_playing: Option<Value> = None;
    let mut stamps = Vec::new();
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let state = session.state();
        if number(&state, "currentTime") > 0.0 && first_playing.is_none() {
            first_playing = Some(state.clone());
        }
        if let Some(stamp) = state["stamp"].as_u64() {
            stamps.push(stamp);
        }
        let done = first_playing.as_ref().is_some_and(|first| {
            number(&state, "currentTime") - number(first, "currentTime") >= 3.0
                && number(&state, "totalVideoFrames") >= 60.0
                && stamps.len() >= 4
        });
        last = state;
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let first = first_playing.unwrap_or_else(|| panic!("{page} never played: {last}"));
    let advanced = number(&last, "currentTime") - number(&first, "currentTime");
    eprintln!("{page}: first playing {first}\nlast {last}\nstamps read {stamps:?}");
    assert_eq!(last["source"], source, "{last}");
    assert!(
        advanced >= 3.0,
        "currentTime advanced {advanced:.2} s: {last}"
    );
    assert!(number(&last, "totalVideoFrames") >= 60.0, "{last}");
    let mut answer = ureq::get(&serve.http_url("/api/streams"))
        .call()
        .expect("/api/streams answers");
    let streams: Value = answer.body_mut().read_json().expect("/api/streams is JSON");
    let video = &streams["streams"][0]["video"];
    assert_eq!(
        (last["videoWidth"].as_u64(), last["videoHeight"].as_u64()),
        (video["width"].as_u64(), video["height"].as_u64()),
        "the page's picture has the stream's size: {last} {streams}"
    );
    assert!(
        number(&last, "meanLuma") > 30.0,
        "the picture is black: {last}"
    );
    // The picture is the stream's: the testsrc stamps read back in the
    // page are valid frame indices that move forward.
    assert!(stamps.len() >= 4, "too few stamps read: {stamps:?}");
    assert!(
        stamps.windows(2).all(|pair| pair[0] <= pair[1]) && stamps.last() > stamps.first(),
        "stamps do not advance: {stamps:?}"
    );
    assert!(stamps.iter().all(|&stamp| stamp < FRAMES), "{stamps:?}");
    // The figures the page shows come from the server too.
    assert!(
        last["viewers"][viewers].as_u64().unwrap_or(0) >= 1,
        "the server counts the page's viewer as {viewers}: {last}"
    );
    // How far behind live the page plays, for BENCHMARKS.md: sampled for
    // LIVEROOM_WATCH_S more seconds (0 unless set), printed, not asserted
    // (speed is measured in benchmarks, not in timed tests).
    let watch = std::env::var("LIVEROOM_WATCH_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut behind = Vec::new();
    let mut behind_edge = Vec::new();
    let until = Instant::now() + Duration::from_secs(watch);
    loop {
        behind.extend(last["behindLiveS"].as_f64());
        behind_edge.extend(last["behindPlaylistEndS"].as_f64());
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        last = session.state();
    }
    for (what, mut samples) in [("live", behind), ("the playlist's end", behind_edge)] {
        samples.sort_by(f64::total_cmp);
        if let (Some(median), Some(worst)) = (samples.get(samples.len() / 2), samples.last()) {
            eprintln!(
                "{source}: behind {what}: median {median:.2} s, worst {worst:.2} s over {} \
                 samples (HLS segment target {} s)",
                samples.len(),
                last["targetDurationS"]
            );
        }
    }
    last
}

/// Frames pushed: 60 s of testsrc at 30 fps, enough for both ways.
const FRAMES: u64 = 1800;

#[test]
fn the_watch_page_plays_the_stream_in_headless_chromium() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let dir = scratch_dir("browser");
    let serve = Serve::start(&[]);
    // testsrc paced as a camera; the test stops the push when done.
    let frames = FRAMES.to_string();
    let mut pusher = Watched::spawn(
        "pusher",
        "push",
        &[
            "--url",
            &serve.rtmp_url("browser"),
            "--frames",
            &frames,
            "--mode",
            "sd",
            "--events",
            "json",
        ],
        &dir,
    );
    pusher.wait_for(1002, Duration::from_secs(30));
    let page = serve.http_url("/live/browser.html");
    // Low latency first (live fMP4 through Media Source Extensions), then
    // the browser's own HLS player.
    watch(
        &driver,
        &serve,
        &page,
        "fmp4",
        "mp4",
        &dir.join("profile-fmp4"),
    );
    let hls = watch(
        &driver,
        &serve,
        &format!("{page}?hls"),
        "hls",
        "hls",
        &dir.join("profile-hls"),
    );
    assert_eq!(hls["targetDurationS"], 2, "{hls}");
    drop(pusher);
}
