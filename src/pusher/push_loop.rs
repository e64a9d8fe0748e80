//! [`PushLoop`]: the push thread. It reads the source (or renders the
//! waiting image while paused), finds the faces, runs the GPU pipeline and
//! hands each frame and the sound up to its end to the output stage; it
//! applies the application's commands, paces the stream and totals up the
//! [`PushSummary`]. Audio-only pushes have a loop of their own here too.

use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::audio_feed::{AudioFeed, BgmCommand};
use super::background_stage::BackgroundStage;
use super::faces::{FaceFeed, FrameBudget};
use super::output::{OutputStage, OutputThread};
use super::{
    pace_of, Command, FrameTap, Preview, PushError, PushSummary, PusherConfig, PusherEvent,
};
use crate::effects::{cover, EffectParams, FaceFade, FaceWeights};
use crate::events::{PushCode, PushEvent};
use crate::face::{PersonMask, SegmentError};
use crate::frame::I420Frame;
use crate::geometry::{GeometryParams, GeometryPlan};
use crate::gpu::GpuContext;
use crate::landmarks::FaceLandmarks;
use crate::pipeline::{FrameParams, FramePipeline};
use crate::source::FrameSource;
use crate::window::{WindowEvent, WindowKey};

/// Frame rate of the waiting image while paused.
const WAITING_FPS: f64 = 5.0;

/// How far behind its schedule a paced push may fall before event 1110.
const BEHIND_WARNING: Duration = Duration::from_millis(500);

/// The shortest time between two 1110 warnings while a push stays behind.
const BEHIND_REPEAT: Duration = Duration::from_secs(5);

/// Watches a paced push's lag behind the wall clock.
#[derive(Debug, Default)]
pub(super) struct BehindWatch {
    /// When the last 1110 went out.
    warned_at: Option<Instant>,
}

impl BehindWatch {
    /// The warning to raise for a frame `lag` late at `now`, if one is due:
    /// the first time the lag passes [`BEHIND_WARNING`], then at most every
    /// [`BEHIND_REPEAT`] while it stays past it.
    fn check(&mut self, lag: Duration, now: Instant) -> Option<String> {
        if lag < BEHIND_WARNING {
            return None;
        }
        if self
            .warned_at
            .is_some_and(|at| now.duration_since(at) < BEHIND_REPEAT)
        {
            return None;
        }
        self.warned_at = Some(now);
        Some(format!(
            "cannot keep up with real time: frames go out {} ms late",
            lag.as_millis()
        ))
    }
}

/// How much sound an audio-only push renders at a time.
const AUDIO_ONLY_TICK: Duration = Duration::from_millis(20);

/// The stream's clock: source time plus an offset that keeps it going
/// forward across pauses and source switches.
struct Timeline {
    frame_interval: Duration,
    offset: Duration,
    /// The next source frame starts a new stretch (after resume or switch).
    rebase: bool,
    last: Duration,
}

impl Timeline {
    /// Stream time of a source frame.
    fn place(&mut self, source_time: Duration) -> Duration {
        if self.rebase {
            self.offset = (self.last + self.frame_interval).saturating_sub(source_time);
            self.rebase = false;
        }
        self.last = source_time + self.offset;
        self.last
    }

    /// Stream time of the next waiting-image frame.
    fn next_waiting(&mut self) -> Duration {
        self.last += Duration::from_secs_f64(1.0 / WAITING_FPS);
        self.last
    }
}

/// A frame on the GPU and what handing it on needs.
struct InFlightFrame {
    stream_time: Duration,
    interval: Duration,
    faces: Vec<FaceLandmarks>,
    /// The input frame's person mask, the geometry to the output, and the
    /// blur strength, when the background effects are on.
    background: Option<(PersonMask, GeometryPlan, f32)>,
}

/// The push thread: source, faces, GPU; the output stage encodes and sends.
/// `LivePusher::start` builds it, hence the `pub(super)` fields.
pub(super) struct PushLoop {
    pub(super) config: PusherConfig,
    pub(super) pipeline: FramePipeline,
    pub(super) feed: FaceFeed,
    pub(super) source: Box<dyn FrameSource>,
    pub(super) tap: Option<FrameTap>,
    pub(super) waiting: I420Frame,
    pub(super) audio: Option<AudioFeed>,
    pub(super) commands: Receiver<Command>,
    pub(super) events: Sender<PusherEvent>,
    pub(super) behind: BehindWatch,
    /// Background blur / replace, made when the push starts with it or
    /// it is first turned on.
    pub(super) background: Option<BackgroundStage>,
    /// The GPU, for a background stage made mid-push.
    pub(super) gpu: GpuContext,
    /// The preview window (`startPreview`), shown every processed frame.
    pub(super) preview: Option<Preview>,
}

impl PushLoop {
    fn emit(&self, code: PushCode, message: impl Into<String>) {
        let _ = self
            .events
            .send(PusherEvent::Push(PushEvent::new(code, message)));
    }

    pub(super) fn run(mut self) -> Result<PushSummary, PushError> {
        let result = self.push(Instant::now());
        if let Err(error) = &result {
            match error.code() {
                // The uplink reported these where they happened.
                Some(PushCode::Disconnected | PushCode::ServerClosed) => {}
                Some(code) => self.emit(code, error.to_string()),
                None => {}
            }
        }
        result
    }

    fn push(&mut self, started: Instant) -> Result<PushSummary, PushError> {
        let config = self.config.clone();
        let size = config.output_size();
        let info = self.source.info();
        let audio_format = self.audio.as_ref().map(AudioFeed::format);
        if config.enable_camera {
            self.emit(
                PushCode::SourceOpened,
                format!(
                    "source {}x{} at {:.2} fps",
                    info.width,
                    info.height,
                    info.frame_rate.fps()
                ),
            );
        }
        let mut output =
            OutputStage::open(&config, info.frame_rate, audio_format, self.events.clone())?
                .spawn()?;
        if !config.enable_camera {
            return self.push_sound_only(output, started, pace_of(&config));
        }
        let geometry = GeometryParams::new(config.zoom, config.mirror)?;
        let mut params = FrameParams {
            geometry: self.prepare_source(geometry),
            effects: config.effects,
            faces: Vec::new(),
            face_weights: FaceWeights::default(),
            filter: config.filter.clone(),
        };
        if let Some(lut) = &params.filter {
            self.pipeline.prepare_filter(lut);
        }
        // However faces arrive (landmarker, track, application), their
        // shape effects fade in and out by stream time.
        let mut fade = FaceFade::default();
        let mut timeline = Timeline {
            frame_interval: info.frame_rate.timestamp(1),
            offset: Duration::ZERO,
            rebase: false,
            last: Duration::ZERO,
        };
        let mut summary = PushSummary {
            width: size.width(),
            height: size.height(),
            ..Default::default()
        };
        let pace = pace_of(&config);
        let mut budget = FrameBudget {
            read: 0,
            limit: config.max_frames,
        };
        self.feed.prime(self.source.as_mut(), &mut budget)?;
        let mut paused = false;
        let waiting_interval = Duration::from_secs_f64(1.0 / WAITING_FPS);
        // When pacing, stream time 0 is due now.
        let pacing = pace.then(Instant::now);
        let mut in_flight: Option<InFlightFrame> = None;
        'push: loop {
            // Commands first; while paused, wait for one up to the waiting
            // image's frame interval.
            let waited = if paused {
                self.commands.recv_timeout(waiting_interval).ok()
            } else {
                None
            };
            if self.apply_commands(waited, &mut output, &mut params, &mut timeline, &mut paused)? {
                break 'push;
            }
            if paused {
                if let Some(previous) = in_flight.take() {
                    self.deliver(previous, &mut output, &mut summary, pacing)?;
                }
                let mut waiting = self.waiting.clone();
                waiting.timestamp = timeline.next_waiting();
                let plain = FrameParams {
                    geometry,
                    effects: EffectParams::default(),
                    ..FrameParams::default()
                };
                let mut out = self.pipeline.process(&waiting, &plain)?;
                out.timestamp = waiting.timestamp;
                output.send(out)?;
                self.send_audio(&mut output, waiting.timestamp + waiting_interval, true)?;
                summary.frames_processed += 1;
                continue;
            }
            self.feed.set_segmenting(self.wants_background(&params));
            let Some((frame, faces, mask)) = self.feed.next(self.source.as_mut(), &mut budget)?
            else {
                break;
            };
            let mask = self.usable_mask(mask, &params)?;
            // The GPU works on this frame while the previous one is handed
            // on and the next one is read.
            summary.frames_captured += 1;
            if summary.frames_captured == 1 {
                self.emit(PushCode::FirstFrame, "first frame captured");
            }
            let stream_time = timeline.place(frame.timestamp);
            if config.max_duration.is_some_and(|max| stream_time >= max) {
                break;
            }
            params.face_weights = fade.update(&faces, stream_time);
            params.faces = faces;
            self.pipeline.submit(&frame, &params)?;
            let background = match mask {
                Some(mask) => Some((
                    mask,
                    GeometryPlan::new(frame.width(), frame.height(), size, params.geometry)?,
                    params.effects.background_blur(),
                )),
                None => None,
            };
            let current = InFlightFrame {
                stream_time,
                interval: timeline.frame_interval,
                faces: params.faces.clone(),
                background,
            };
            if let Some(previous) = in_flight.replace(current) {
                self.deliver(previous, &mut output, &mut summary, pacing)?;
            }
        }
        if let Some(previous) = in_flight.take() {
            self.deliver(previous, &mut output, &mut summary, pacing)?;
        }
        let duration = timeline.last + timeline.frame_interval;
        self.finish(output, summary, started, duration)
    }

    /// Whether frames need a person mask: a background blur, or a picture
    /// behind the person.
    fn wants_background(&self, params: &FrameParams) -> bool {
        params.effects.background_blur() > 0.0
            || self
                .background
                .as_ref()
                .is_some_and(BackgroundStage::has_picture)
    }

    /// The frame's mask if the background effects use it, making the
    /// background stage the first time. A segmenter that could not load
    /// raises warning 1120 and the frame goes on unchanged; a failed
    /// inference ends the push.
    fn usable_mask(
        &mut self,
        mask: Option<Result<PersonMask, SegmentError>>,
        params: &FrameParams,
    ) -> Result<Option<PersonMask>, PushError> {
        let mask = match mask {
            None => return Ok(None),
            Some(Ok(mask)) => mask,
            Some(Err(error @ SegmentError::Inference(_))) => return Err(error.into()),
            Some(Err(error)) => {
                self.emit(
                    PushCode::EffectUnavailable,
                    format!("background effects are off: {error}"),
                );
                return Ok(None);
            }
        };
        if !self.wants_background(params) {
            return Ok(None);
        }
        if self.background.is_none() {
            self.background = Some(BackgroundStage::new(&self.gpu, None)?);
        }
        Ok(Some(mask))
    }

    /// Collects a processed frame from the GPU and hands it on: the frame
    /// tap, the encoder, the sound up to the frame's end; then waits for
    /// its time when pacing.
    fn deliver(
        &mut self,
        frame: InFlightFrame,
        output: &mut OutputThread,
        summary: &mut PushSummary,
        pacing: Option<Instant>,
    ) -> Result<(), PushError> {
        let mut out = self.pipeline.collect()?.ok_or(PushError::FrameMissing)?;
        if let (Some(stage), Some((mask, plan, blur))) = (&mut self.background, &frame.background) {
            out = stage.apply(out, mask, plan, *blur)?;
        }
        out.timestamp = frame.stream_time;
        if let Some(tap) = &mut self.tap {
            tap(summary.frames_processed, &out, &frame.faces).map_err(PushError::FrameTap)?;
        }
        self.show_preview(&out);
        output.send(out)?;
        self.send_audio(output, frame.stream_time + frame.interval, false)?;
        summary.frames_processed += 1;
        if let Some(clock_start) = pacing {
            // Stream time runs with the wall clock (pauses advance it too).
            let due = clock_start + frame.stream_time;
            let now = Instant::now();
            let lag = now.saturating_duration_since(due);
            output.report_behind(lag)?;
            if due > now {
                std::thread::sleep(due - now);
            } else if let Some(message) = self.behind.check(lag, now) {
                self.emit(PushCode::FallingBehind, message);
            }
        }
        Ok(())
    }

    /// The configured zoom and mirror.
    fn geometry(&self) -> Result<GeometryParams, PushError> {
        Ok(GeometryParams::new(self.config.zoom, self.config.mirror)?)
    }

    /// Lets the source apply the geometry once (a large still image) and
    /// returns the geometry its frames are to be processed with. Not with
    /// faces from a track, whose coordinates are the source's own pixels.
    fn prepare_source(&mut self, geometry: GeometryParams) -> GeometryParams {
        if self.feed.is_track() {
            return geometry;
        }
        let size = self.config.output_size();
        let before = self.source.info();
        if !self.source.prepare_for_output(size, geometry) {
            return geometry;
        }
        {
            let after = self.source.info();
            self.emit(
                PushCode::SourceOpened,
                format!(
                    "source {}x{} prepared once as {}x{} for the {}x{} output",
                    before.width,
                    before.height,
                    after.width,
                    after.height,
                    size.width(),
                    size.height()
                ),
            );
        }
        GeometryParams::default()
    }

    /// The end of every push: drains the output stage and totals up.
    fn finish(
        &mut self,
        output: OutputThread,
        mut summary: PushSummary,
        started: Instant,
        duration: Duration,
    ) -> Result<PushSummary, PushError> {
        let totals = output.finish()?;
        summary.frames_encoded = totals.frames_encoded;
        summary.frames_sent = totals.frames_sent;
        summary.frames_dropped = totals.frames_dropped;
        summary.video_bytes = totals.video_bytes;
        summary.bytes_sent = totals.bytes_sent;
        summary.reconnects = totals.reconnects;
        summary.audio_packets = totals.audio_packets;
        summary.audio_bytes = totals.audio_bytes;
        summary.audio_dropped = totals.audio_dropped;
        summary.peak_backlog_bytes = totals.peak_backlog_bytes as u64;
        summary.audio_seconds = self.audio.as_ref().map_or(0.0, AudioFeed::seconds);
        summary.seconds = started.elapsed().as_secs_f64();
        summary.fps = summary.frames_processed as f64 / summary.seconds.max(1e-9);
        let seconds = duration.as_secs_f64().max(1e-9);
        summary.video_kbps = summary.video_bytes as f64 * 8.0 / 1000.0 / seconds;
        Ok(summary)
    }

    /// Renders the sound up to stream time `until` and queues it for the
    /// AAC encoder; passes the BGM callbacks on.
    fn send_audio(
        &mut self,
        output: &mut OutputThread,
        until: Duration,
        background: bool,
    ) -> Result<(), PushError> {
        let Some(audio) = &mut self.audio else {
            return Ok(());
        };
        let samples = audio.render_until(until, background)?;
        for event in audio.take_events() {
            let _ = self.events.send(PusherEvent::Bgm(event));
        }
        if samples.is_empty() {
            return Ok(());
        }
        output.send_audio(samples)
    }

    /// `enableCamera` false: sound only, a block every 20 ms of stream
    /// time, until a file microphone ends, the duration is reached or
    /// `stop`.
    fn push_sound_only(
        &mut self,
        mut output: OutputThread,
        started: Instant,
        pace: bool,
    ) -> Result<PushSummary, PushError> {
        let summary = PushSummary::default();
        let clock_start = Instant::now();
        let mut stream_time = Duration::ZERO;
        let mut paused = false;
        // Video-only commands have nothing to act on; a timeline is kept
        // for their signature's sake.
        let mut timeline = Timeline {
            frame_interval: AUDIO_ONLY_TICK,
            offset: Duration::ZERO,
            rebase: false,
            last: Duration::ZERO,
        };
        let mut params = FrameParams::default();
        self.emit(PushCode::FirstFrame, "first audio captured (audio only)");
        'push: loop {
            if self.apply_commands(None, &mut output, &mut params, &mut timeline, &mut paused)? {
                break 'push;
            }
            let next = stream_time + AUDIO_ONLY_TICK;
            if self.config.max_duration.is_some_and(|max| next > max) {
                break;
            }
            self.send_audio(&mut output, next, paused)?;
            stream_time = next;
            if self.audio.as_ref().is_some_and(AudioFeed::microphone_ended) {
                break;
            }
            if pace {
                let due = clock_start + stream_time;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        self.finish(output, summary, started, stream_time)
    }

    /// Shows the processed frame in the preview window; a window that was
    /// closed (or quit with `q`) is let go, and the push goes on.
    fn show_preview(&mut self, frame: &I420Frame) {
        let Some(preview) = &mut self.preview else {
            return;
        };
        let quit = preview.events.as_ref().is_some_and(|events| {
            events
                .try_iter()
                .any(|e| matches!(e, WindowEvent::Closed | WindowEvent::Key(WindowKey::Quit)))
        });
        if quit || preview.window.show(frame).is_err() {
            self.preview = None;
            log::info!("the preview window was closed; the push goes on");
        }
    }

    /// `set_background_image`: the picture scaled to cover the output,
    /// handed to the background stage (made now if need be). A picture
    /// that cannot be scaled is warning 1120; a stage that cannot be made
    /// ends the push.
    fn set_background_picture(&mut self, picture: Option<RgbImage>) -> Result<(), PushError> {
        let size = self.config.output_size();
        let picture = match picture.map(|p| cover(&p, size.width(), size.height())) {
            Some(Ok(picture)) => Some(picture),
            Some(Err(error)) => {
                self.emit(
                    PushCode::EffectUnavailable,
                    format!("background image: {error}"),
                );
                return Ok(());
            }
            None => None,
        };
        match &mut self.background {
            Some(stage) => stage.set_picture(picture),
            None if picture.is_some() => {
                self.background = Some(BackgroundStage::new(&self.gpu, picture)?);
            }
            None => {}
        }
        Ok(())
    }

    /// Handles `first` (a command already received) and every command
    /// waiting; true to stop.
    fn apply_commands(
        &mut self,
        first: Option<Command>,
        output: &mut OutputThread,
        params: &mut FrameParams,
        timeline: &mut Timeline,
        paused: &mut bool,
    ) -> Result<bool, PushError> {
        let commands: Vec<Command> = first.into_iter().chain(self.commands.try_iter()).collect();
        for command in commands {
            if self.command(command, output, params, timeline, paused)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Handles a command; true to stop.
    fn command(
        &mut self,
        command: Command,
        output: &mut OutputThread,
        params: &mut FrameParams,
        timeline: &mut Timeline,
        paused: &mut bool,
    ) -> Result<bool, PushError> {
        match command {
            Command::Pause => {
                if !*paused {
                    *paused = true;
                    self.emit(PushCode::Background, "paused: pushing the waiting image");
                }
            }
            Command::Resume => {
                if std::mem::take(paused) {
                    timeline.rebase = true;
                }
            }
            Command::Snapshot(path, reply) => {
                let _ = reply.send(output.snapshot(&path));
            }
            Command::SwitchSource(source) => {
                let info = source.info();
                self.source = source;
                timeline.rebase = true;
                self.emit(
                    PushCode::SourceOpened,
                    format!("switched to a {}x{} source", info.width, info.height),
                );
                params.geometry = self.prepare_source(self.geometry()?);
            }
            Command::SetEffects(effects) => params.effects = effects,
            Command::SetFilter(filter) => {
                if let Some(lut) = &filter {
                    self.pipeline.prepare_filter(lut);
                }
                params.filter = filter;
            }
            Command::SetBackgroundImage(picture) => self.set_background_picture(picture)?,
            Command::Bgm(command) => match (&mut self.audio, command) {
                (Some(audio), command) => audio.bgm(command),
                (None, BgmCommand::Play(_, reply)) => {
                    let _ = reply.send(Err(PushError::NoAudioTrack));
                }
                (None, _) => {}
            },
            Command::Mute(muted) => {
                if let Some(audio) = &mut self.audio {
                    audio.set_muted(muted);
                }
            }
            Command::Preview(preview) => self.preview = preview,
            Command::Stop => return Ok(true),
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_behind_warns_once_then_every_five_seconds() {
        let mut watch = BehindWatch::default();
        let start = Instant::now();
        assert_eq!(watch.check(Duration::from_millis(400), start), None);
        let first = watch.check(Duration::from_millis(700), start);
        assert!(first.is_some_and(|m| m.contains("700 ms late")));
        let soon = start + Duration::from_secs(1);
        assert_eq!(watch.check(Duration::from_secs(1), soon), None);
        let later = start + Duration::from_secs(5);
        assert!(watch.check(Duration::from_secs(2), later).is_some());
    }
}
