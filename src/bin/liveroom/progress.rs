//! The live progress line on stderr while a push or a play runs: state,
//! frames, frame rate, bitrate and cache, redrawn in place by indicatif.
//! Shown only on a terminal and not with `--events json`; warnings are
//! printed above it so that it never tears.

use std::io::IsTerminal;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use liveroom::events::{NetStatus, Printed};

/// What the line shows.
#[derive(Default)]
struct Figures {
    state: String,
    frames: u64,
    total: Option<u64>,
    status: Option<NetStatus>,
}

/// The progress line (or nothing, when it is not shown).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    figures: Arc<Mutex<Figures>>,
}

impl Progress {
    /// A line for `total` frames (if known), shown only when `wanted` and
    /// stderr is a terminal.
    pub fn new(wanted: bool, total: Option<u64>) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let figures = Figures {
            state: "starting".into(),
            total,
            ..Figures::default()
        };
        Self {
            bar,
            figures: Arc::new(Mutex::new(figures)),
        }
    }

    fn figures(&self) -> MutexGuard<'_, Figures> {
        self.figures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the component is doing: `connecting`, `publishing`, …
    pub fn state(&self, state: &str) {
        self.figures().state = state.to_string();
        self.redraw();
    }

    /// Frames done so far.
    pub fn frames(&self, frames: u64) {
        self.figures().frames = frames;
        self.redraw();
    }

    /// The latest statistics.
    pub fn net_status(&self, status: &NetStatus) {
        self.figures().status = Some(status.clone());
        self.redraw();
    }

    /// A line for stderr, above the progress line when there is one.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// An event's lines: the JSON line on stdout, the warning in words on
    /// stderr above the progress line.
    pub fn print(&self, printed: Printed) {
        if let Some(line) = printed.stdout {
            println!("{line}");
        }
        if let Some(line) = printed.stderr {
            self.println(&line);
        }
    }

    /// Shows a component's events as they come, on a thread of its own,
    /// until the component closes its event stream.
    pub fn follow<E: Send + 'static>(
        &self,
        events: Option<Receiver<E>>,
        show: impl Fn(&Progress, &E) + Send + 'static,
    ) -> JoinHandle<()> {
        let progress = self.clone();
        std::thread::spawn(move || {
            for event in events.into_iter().flatten() {
                show(&progress, &event);
            }
        })
    }

    /// Takes the line away, leaving the terminal for the summary.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn redraw(&self) {
        let Some(bar) = &self.bar else {
            return;
        };
        bar.set_message(describe(&self.figures()));
    }
}

fn describe(figures: &Figures) -> String {
    let mut parts = vec![figures.state.clone()];
    parts.push(match figures.total {
        Some(total) => format!("{}/{total} frames", figures.frames),
        None => format!("{} frames", figures.frames),
    });
    if let Some(status) = &figures.status {
        parts.push(format!("{:.1} fps", status.video_fps));
        parts.push(format!(
            "{:.0} kbps",
            status.video_bitrate + status.audio_bitrate
        ));
        if let Some(cache) = status.video_cache {
            parts.push(format!("cache {cache:.1} s"));
        }
    }
    parts.join(" · ")
}

/// The run's summary on stdout: for programs (with `--events json`, or
/// when stdout is not a terminal) the JSON line, last; for people on a
/// terminal, in words.
pub fn print_summary(json: bool, line: &serde_json::Value, words: &str) {
    if json || !std::io::stdout().is_terminal() {
        println!("{line}");
    } else {
        println!("{words}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_state_frames_rate_bitrate_and_cache() {
        let figures = Figures {
            state: "playing".into(),
            frames: 120,
            total: Some(300),
            status: Some(NetStatus {
                video_fps: 29.94,
                video_bitrate: 1400.0,
                audio_bitrate: 128.0,
                video_cache: Some(1.25),
                ..NetStatus::default()
            }),
        };
        assert_eq!(
            describe(&figures),
            "playing · 120/300 frames · 29.9 fps · 1528 kbps · cache 1.2 s"
        );
    }
}
