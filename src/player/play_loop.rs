//! [`PlayLoop`]: the player thread. It takes the application's commands,
//! reads the [`Input`], holds video in the jitter buffer and sound in the
//! sound track, decodes and displays what is due, reconnects, reports
//! `netStatus`, and totals up the [`PlaySummary`] at the end.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use super::http_flv::{HttpFlvClient, HttpFlvUrl};
use super::input::Input;
use super::{
    sound, verify, AudioSink, Command, Displayed, EncodedVideo, FrameSink, JitterBuffer,
    PlaySummary, PlayerConfig, PlayerError, PlayerEvent, ReferenceClip, Speaker, Spread,
    StampCounts, StampTally, ViewRenderer,
};
use crate::avc::{parse_sps, AvcDecoderConfig};
use crate::color::i420_to_rgb_image;
use crate::decoder::{DecodeError, VideoDecoder};
use crate::events::{NetStatus, PlayCode, PlayEvent};
use crate::flv::{self, AudioBody, FlvError, FlvReader, VideoBody};
use crate::frame::I420Frame;
use crate::rtmp::play::{PlayClient, PlayError, PlayMessage};
use crate::rtmp::RtmpUrl;

/// Where a live stream is played from.
enum Url {
    Rtmp(RtmpUrl),
    Http(HttpFlvUrl),
}

/// The player thread.
pub(super) struct PlayLoop {
    config: PlayerConfig,
    renderer: Option<ViewRenderer>,
    sink: Option<FrameSink>,
    /// The frame on display, for snapshots.
    shown: Option<I420Frame>,
    commands: Receiver<Command>,
    events: Sender<PlayerEvent>,
    decoder: Option<VideoDecoder>,
    buffer: JitterBuffer,
    summary: PlaySummary,
    tally: Option<StampTally>,
    reference: Option<ReferenceClip>,
    psnr: Vec<f64>,
    first_key_seen: bool,
    playing_reported: bool,
    paused: bool,
    draining: bool,
    /// A live connection (paced by the jitter buffer), not a file.
    realtime: bool,
    /// 2104 was reported and arrival has not settled since.
    unstable_reported: bool,
    meter: Meter,
    sound: sound::SoundTrack,
    /// A video message has arrived (else the sound keeps its own clock).
    video_seen: bool,
    /// Presentation time of the first frame displayed, ms.
    first_video_pts: Option<u64>,
    /// (stamp, presentation ms) of displayed frames, for the A/V offset.
    stamp_times: Vec<(u32, u64)>,
    /// Frame interval from the metadata, ms.
    frame_ms: Option<f64>,
    /// An unsupported audio codec was reported (once).
    audio_codec_reported: bool,
    /// While no media has arrived since the player started or since a
    /// connection that had delivered media was lost: when that began and
    /// how many connections have failed since (the give-up policy's
    /// attempts; a connection that ends without bringing media counts).
    outage: Option<Outage>,
    /// Why the video cannot be shown (an unsupported codec or H.264
    /// profile), once it was refused; said once, not per tag.
    video_refused: Option<String>,
    /// Audio messages received.
    audio_messages: u64,
    /// Why the sound could not be decoded, when it could not (for the
    /// warning about an empty `--audio-output` file).
    audio_problem: Option<String>,
    /// Decode time of the last key frame received, ms.
    last_key_ms: Option<u32>,
    /// Seconds between the last two key frames received (`videoGOP`).
    video_gop: f64,
}

/// A stretch of time without media: see [`PlayLoop::outage`].
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    failed: u32,
}

#[derive(Default)]
struct Meter {
    since: Option<Instant>,
    bytes: u64,
    audio_bytes: u64,
    frames: u64,
    last_arrival: Option<(Instant, u64)>,
    jitter_ms: f64,
}

impl PlayLoop {
    pub(super) fn new(
        config: PlayerConfig,
        renderer: Option<ViewRenderer>,
        sink: Option<FrameSink>,
        audio: Option<AudioSink>,
        speaker: Option<Speaker>,
        commands: Receiver<Command>,
        events: Sender<PlayerEvent>,
    ) -> Self {
        let (min, max) = config.cache_bounds();
        let tally = config.verify_stamps.then(StampTally::default);
        let sound = sound::SoundTrack::new(
            min,
            config.muted,
            config.audio_output.clone(),
            audio,
            speaker,
        );
        Self {
            renderer,
            sink,
            shown: None,
            commands,
            events,
            decoder: None,
            buffer: JitterBuffer::new(min, max),
            summary: PlaySummary::default(),
            tally,
            reference: None,
            psnr: Vec::new(),
            first_key_seen: false,
            playing_reported: false,
            paused: false,
            draining: false,
            realtime: true,
            unstable_reported: false,
            meter: Meter::default(),
            sound,
            video_seen: false,
            first_video_pts: None,
            stamp_times: Vec::new(),
            frame_ms: None,
            audio_codec_reported: false,
            outage: None,
            video_refused: None,
            audio_messages: 0,
            audio_problem: None,
            last_key_ms: None,
            video_gop: 0.0,
            config,
        }
    }

    fn emit(&self, code: PlayCode, message: impl Into<String>) {
        let _ = self
            .events
            .send(PlayerEvent::Play(PlayEvent::new(code, message)));
    }

    pub(super) fn run(mut self) -> Result<PlaySummary, PlayerError> {
        let started = Instant::now();
        if let Some(path) = &self.config.reference {
            let clip = ReferenceClip::open(path).map_err(PlayerError::Reference)?;
            self.reference = Some(clip);
        }
        if let Some(path) = &self.config.audio_output {
            // Fail now, not when the first sound arrives.
            File::create(path).map_err(|source| PlayerError::Output {
                path: path.clone(),
                source,
            })?;
            // A valid (empty) WAV file from the start, even if playing
            // fails before any sound comes.
            sound::write_empty_wav(path)?;
        }
        let mut input = self.open_input()?;
        let deadline = self.config.timeout.map(|t| started + t);
        let realtime = matches!(input, Input::Rtmp(_) | Input::Http(_));
        self.realtime = realtime;
        self.emit(PlayCode::Loading, "loading");
        'play: loop {
            while let Ok(command) = self.commands.try_recv() {
                match command {
                    Command::Stop => break 'play,
                    Command::Pause => self.paused = true,
                    Command::Resume => {
                        if std::mem::take(&mut self.paused) {
                            // Back to the live edge.
                            self.buffer.restart();
                            self.sound.restart();
                            self.playing_reported = false;
                        }
                    }
                    Command::Mute(muted) => {
                        self.config.muted = muted;
                        self.sound.set_muted(muted);
                    }
                    Command::Snapshot(path, reply) => {
                        let result = match &self.shown {
                            Some(frame) => i420_to_rgb_image(frame).save(&path).map_err(|source| {
                                PlayerError::Snapshot {
                                    path: path.clone(),
                                    source,
                                }
                            }),
                            None => Err(PlayerError::Config("no frame has been shown yet".into())),
                        };
                        let _ = reply.send(result);
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if self
                .config
                .max_frames
                .is_some_and(|limit| self.summary.frames_displayed >= limit)
            {
                break;
            }
            let now = Instant::now();
            let wait = self
                .buffer
                .next_due()
                .map(|due| due.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(10))
                .min(Duration::from_millis(10));
            let wait = if realtime { wait } else { Duration::ZERO };
            let next = match input.next(wait) {
                // A live stream that ends before any media came (an
                // HTTP-FLV response closed while the name is not
                // published) is a failed attempt, not the end.
                Ok(Some(PlayMessage::StreamEnd)) if realtime && self.outage.is_some() => {
                    Err(PlayError::Closed("before any media arrived"))
                }
                other => other,
            };
            match next {
                Ok(Some(message)) => self.take(message)?,
                Ok(None) => {}
                Err(error) => {
                    self.emit(error.play_code(), error.to_string());
                    if !error.is_retryable() {
                        let _ = self.events.send(PlayerEvent::Error(error.to_string()));
                        return Err(PlayerError::Rejected(error));
                    }
                    input = self.reconnect()?;
                    continue;
                }
            }
            if let Some(outage) = self.outage {
                // Waiting for media counts against the time budget too.
                if outage.since.elapsed() >= self.config.reconnect.give_up_after {
                    return Err(self.give_up(outage.failed + 1, outage.since.elapsed()));
                }
            }
            let now = if realtime {
                Instant::now()
            } else {
                // A file plays as fast as it decodes.
                Instant::now() + Duration::from_secs(3600 * 24)
            };
            let (due, report) = self.buffer.release(now, self.draining || !realtime);
            if report.started && !self.playing_reported {
                self.playing_reported = true;
                self.emit(PlayCode::PlaybackBegins, "playback begins");
            }
            if report.skipped > 0 {
                self.summary.frames_skipped += report.skipped;
                self.emit(
                    PlayCode::Discontinuity,
                    format!("skipped {} frames to catch up", report.skipped),
                );
            }
            if report.stalled {
                self.emit(PlayCode::Stutter, "the cache ran dry");
                self.emit(PlayCode::Loading, "loading");
            }
            for frame in due {
                self.decode(&frame)?;
            }
            self.play_sound(now)?;
            if self.draining && self.buffer.is_empty() {
                self.play_sound(now)?;
                break;
            }
            self.report();
        }
        self.flush_decoder()?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        if let Some(tally) = &self.tally {
            self.summary.stamps = Some(StampCounts {
                stamped: tally.stamped,
                distinct: tally.distinct(),
                unreadable: tally.unreadable,
                lost: tally.lost,
                repeated: tally.repeated,
                out_of_order: tally.out_of_order,
                highest: tally.highest(),
            });
        }
        self.summary.psnr = Spread::of(&self.psnr);
        self.play_sound(Instant::now())?;
        self.warn_of_silence();
        let frame_ms = self.frame_ms.or_else(|| frame_interval(&self.stamp_times));
        let sound = std::mem::replace(
            &mut self.sound,
            sound::SoundTrack::new(Duration::ZERO, false, None, None, None),
        );
        self.summary.audio = sound.finish(self.first_video_pts, &self.stamp_times, frame_ms)?;
        if let Input::Rtmp(client) = input {
            client.close();
        }
        Ok(self.summary)
    }

    fn open_input(&mut self) -> Result<Input, PlayerError> {
        if self.config.is_file() {
            let path = PathBuf::from(&self.config.play_url);
            let file = File::open(&path).map_err(|source| PlayerError::Input {
                path: path.clone(),
                source,
            })?;
            let reader =
                FlvReader::new(BufReader::new(file)).map_err(|source| PlayerError::Flv {
                    path: path.clone(),
                    source,
                })?;
            self.emit(PlayCode::Connected, format!("reading {}", path.display()));
            self.emit(PlayCode::StreamBegins, "stream begins");
            return Ok(Input::File {
                reader,
                ended: false,
            });
        }
        self.connect()
    }

    /// Connects, retrying per the policy. Attempts and time count from the
    /// start of the current [`Outage`] (one begins now if none is under
    /// way), so connections that bring no media use the policy up too.
    fn connect(&mut self) -> Result<Input, PlayerError> {
        let url = if self.config.is_http() {
            Url::Http(HttpFlvUrl::parse(&self.config.play_url).map_err(PlayerError::Config)?)
        } else {
            Url::Rtmp(RtmpUrl::parse(&self.config.play_url)?)
        };
        let outage = *self.outage.get_or_insert(Outage {
            since: Instant::now(),
            failed: 0,
        });
        let since = outage.since;
        let mut attempt = outage.failed;
        loop {
            let events = self.events.clone();
            let mut on_event = |event| {
                let _ = events.send(PlayerEvent::Play(event));
            };
            let result = match &url {
                Url::Rtmp(url) => PlayClient::connect(url, &self.config.connection, &mut on_event)
                    .map(Input::Rtmp),
                Url::Http(url) => {
                    HttpFlvClient::connect(url, &self.config.connection, &mut on_event)
                        .map(Input::Http)
                }
            };
            match result {
                Ok(input) => {
                    self.outage = Some(Outage {
                        since,
                        failed: attempt,
                    });
                    return Ok(input);
                }
                Err(error) => {
                    self.emit(error.play_code(), error.to_string());
                    if !error.is_retryable() {
                        let _ = self.events.send(PlayerEvent::Error(error.to_string()));
                        return Err(PlayerError::Rejected(error));
                    }
                    attempt += 1;
                    self.wait_to_retry(attempt, since)?;
                }
            }
        }
    }

    /// Before attempt number `attempt` of an outage that began at `since`:
    /// gives up (-2301) when the policy allows no more, else reports 2103
    /// and waits the backoff.
    fn wait_to_retry(&mut self, attempt: u32, since: Instant) -> Result<(), PlayerError> {
        let policy = &self.config.reconnect;
        if !policy.allows(attempt, since.elapsed()) {
            return Err(self.give_up(attempt, since.elapsed()));
        }
        let backoff = policy.backoff(attempt);
        self.emit(
            PlayCode::Reconnecting,
            format!("reconnecting (attempt {attempt} of {})", policy.attempts),
        );
        std::thread::sleep(backoff);
        Ok(())
    }

    /// Reports -2301 and returns the error that ends the player: attempt
    /// number `attempt` would be next, `outage` after media stopped (or
    /// never came).
    fn give_up(&mut self, attempt: u32, outage: Duration) -> PlayerError {
        let attempts = match attempt.saturating_sub(1) {
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        let message = format!(
            "disconnected from {}: gave up after {attempts} in {:.1} s without media",
            self.config.play_url,
            outage.as_secs_f64()
        );
        self.emit(PlayCode::Disconnected, message.clone());
        PlayerError::Disconnected(message)
    }

    fn reconnect(&mut self) -> Result<Input, PlayerError> {
        self.buffer.restart();
        self.sound.restart();
        self.playing_reported = false;
        self.last_key_ms = None;
        if let Some(mut outage) = self.outage {
            // This connection brought no media: a failed attempt.
            outage.failed += 1;
            self.outage = Some(outage);
            self.wait_to_retry(outage.failed, outage.since)?;
        } else {
            self.emit(PlayCode::Reconnecting, "connection lost; reconnecting");
        }
        let input = self.connect()?;
        self.summary.reconnects += 1;
        Ok(input)
    }

    /// Takes one message from the stream.
    fn take(&mut self, message: PlayMessage) -> Result<(), PlayerError> {
        match message {
            PlayMessage::Metadata(metadata) => {
                if metadata.width > 0 && metadata.height > 0 {
                    self.summary.width = metadata.width;
                    self.summary.height = metadata.height;
                }
                if metadata.frame_rate.is_finite() && metadata.frame_rate > 0.0 {
                    self.frame_ms = Some(1000.0 / metadata.frame_rate);
                }
            }
            PlayMessage::Video { timestamp_ms, body } => {
                self.outage = None;
                self.video_seen = true;
                self.note_arrival(timestamp_ms, body.len());
                match flv::parse_video_body(&body) {
                    Ok(VideoBody::SequenceHeader(record)) => self.configure(record)?,
                    Ok(VideoBody::Nalu { .. }) if self.video_refused.is_some() => {
                        // Said once already; nothing here can be shown.
                        self.summary.frames_received += 1;
                        self.summary.frames_skipped += 1;
                    }
                    Ok(VideoBody::Nalu {
                        key_frame,
                        composition_time_ms,
                        data,
                    }) => {
                        self.summary.frames_received += 1;
                        if key_frame {
                            self.note_key_frame(timestamp_ms);
                        }
                        if key_frame && !self.first_key_seen {
                            self.first_key_seen = true;
                            self.emit(PlayCode::FirstKeyFrame, "first key frame received");
                        }
                        let dts = u64::from(timestamp_ms);
                        let pts = (dts as i64 + i64::from(composition_time_ms)).max(0) as u64;
                        let frame = EncodedVideo {
                            dts_ms: dts,
                            pts_ms: pts,
                            key_frame,
                            data: body.slice_ref(data),
                        };
                        if !self.realtime {
                            // A file is decoded as fast as it reads.
                            self.decode(&frame)?;
                        } else if !self.buffer.push(frame) {
                            self.summary.frames_skipped += 1;
                        }
                    }
                    Ok(VideoBody::EndOfSequence) => {}
                    Err(FlvError::UnsupportedCodec(codec)) => {
                        self.summary.frames_received += 1;
                        self.summary.frames_skipped += 1;
                        self.refuse_video(unsupported_codec(&body, codec))?;
                    }
                    Err(error) => {
                        self.summary.decode_errors += 1;
                        self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                    }
                }
            }
            PlayMessage::Audio { timestamp_ms, body } => {
                self.outage = None;
                self.take_audio(timestamp_ms, body);
            }
            PlayMessage::StreamEnd => {
                self.emit(PlayCode::StreamEnded, "the stream ended");
                self.draining = true;
            }
            PlayMessage::StreamReset => {
                // A new publisher: what it sends is judged afresh.
                self.video_refused = None;
                self.last_key_ms = None;
            }
        }
        Ok(())
    }

    /// The video cannot be shown, for `reason`: said once (2101), then its
    /// tags are skipped quietly. When no frame was shown yet, nothing ever
    /// will be from this stream: the player ends with
    /// [`PlayerError::UnsupportedVideo`].
    fn refuse_video(&mut self, reason: String) -> Result<(), PlayerError> {
        if self.video_refused.as_deref() == Some(reason.as_str()) {
            return Ok(());
        }
        self.summary.decode_errors += 1;
        self.emit(
            PlayCode::VideoDecodeFailed,
            format!("the video cannot be shown: {reason}"),
        );
        self.video_refused = Some(reason.clone());
        if self.summary.frames_displayed == 0 {
            let _ = self.events.send(PlayerEvent::Error(reason.clone()));
            return Err(PlayerError::UnsupportedVideo(reason));
        }
        Ok(())
    }

    /// A key frame arrived at `timestamp_ms`: the GOP is the time since
    /// the previous one.
    fn note_key_frame(&mut self, timestamp_ms: u32) {
        if let Some(previous) = self.last_key_ms.replace(timestamp_ms) {
            if timestamp_ms > previous {
                self.video_gop = f64::from(timestamp_ms - previous) / 1000.0;
            }
        }
    }

    /// When `--audio-output` was asked for and no sound came: says why
    /// (2102, on stderr from `liveroom play`). The file is still written,
    /// a valid WAV file with no samples.
    fn warn_of_silence(&mut self) {
        let Some(path) = &self.config.audio_output else {
            return;
        };
        if self.sound.wav_has_sound() {
            return;
        }
        let reason = match &self.audio_problem {
            Some(problem) => problem.clone(),
            None if self.audio_messages == 0 => "the stream carried no audio".to_string(),
            None => "no AAC sound was decoded".to_string(),
        };
        self.emit(
            PlayCode::AudioDecodeFailed,
            format!(
                "no sound in {}: {reason}; it holds a WAV header and no samples",
                path.display()
            ),
        );
    }

    /// An audio message: the AAC configuration, or a unit for the queue.
    fn take_audio(&mut self, timestamp_ms: u32, body: bytes::Bytes) {
        self.meter.bytes += body.len() as u64;
        self.meter.audio_bytes += body.len() as u64;
        self.audio_messages += 1;
        match flv::parse_audio_body(&body) {
            Ok(AudioBody::AacSequenceHeader(config)) => {
                if let Err(reason) = self.sound.configure(config) {
                    self.audio_problem = Some(reason.clone());
                    self.emit(PlayCode::AudioDecodeFailed, reason);
                }
            }
            Ok(AudioBody::AacRaw(unit)) => {
                let unit = body.slice_ref(unit);
                self.sound.push(u64::from(timestamp_ms), unit);
            }
            Ok(AudioBody::Other { format, .. }) => {
                if !self.audio_codec_reported {
                    self.audio_codec_reported = true;
                    let reason = format!("audio format {format} is not AAC; the sound is ignored");
                    self.audio_problem = Some(reason.clone());
                    self.emit(PlayCode::AudioDecodeFailed, reason);
                }
            }
            Err(error) => {
                self.audio_problem = Some(error.to_string());
                self.emit(PlayCode::AudioDecodeFailed, error.to_string());
            }
        }
    }

    /// Decodes the sound that is due: with the picture's clock, by its own
    /// clock on an audio-only stream, all of it from a file or at the end.
    fn play_sound(&mut self, now: Instant) -> Result<(), PlayerError> {
        if self.paused {
            self.sound.restart();
            return Ok(());
        }
        let flush = !self.realtime || self.draining;
        let position = self.buffer.position(now);
        let outcome = self.sound.release(now, position, self.video_seen, flush);
        for failure in outcome.decode_errors {
            self.emit(PlayCode::AudioDecodeFailed, failure);
        }
        match outcome.output_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn configure(&mut self, record: &[u8]) -> Result<(), PlayerError> {
        let config = match AvcDecoderConfig::parse(record) {
            Ok(config) => config,
            Err(error) => {
                self.summary.decode_errors += 1;
                self.emit(
                    PlayCode::VideoDecodeFailed,
                    format!("bad AVC configuration: {error}"),
                );
                return Ok(());
            }
        };
        let size = config
            .sps
            .first()
            .and_then(|sps| parse_sps(sps).ok())
            .map(|info| (info.width, info.height));
        let first = self.decoder.is_none();
        if first {
            match VideoDecoder::new() {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(error) => {
                    self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                    return Ok(());
                }
            }
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(());
        };
        match decoder.configure(&config) {
            Ok(_) => self.video_refused = None,
            Err(error @ DecodeError::Unsupported(_)) => {
                return self.refuse_video(error.to_string());
            }
            Err(error) => {
                self.summary.decode_errors += 1;
                self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                return Ok(());
            }
        }
        if first {
            self.emit(PlayCode::DecoderStarted, "decoder started");
        }
        if let Some((width, height)) = size {
            if (width, height) != (self.summary.width, self.summary.height) {
                if self.summary.width != 0 {
                    self.emit(
                        PlayCode::ResolutionChanged,
                        format!("resolution {width}x{height}"),
                    );
                }
                self.summary.width = width;
                self.summary.height = height;
            }
        }
        Ok(())
    }

    fn decode(&mut self, frame: &EncodedVideo) -> Result<(), PlayerError> {
        let Some(decoder) = self.decoder.as_mut() else {
            // No sequence header yet: nothing can be decoded.
            self.summary.frames_skipped += 1;
            return Ok(());
        };
        match decoder.decode(&frame.data, frame.pts_ms) {
            Ok(pictures) => {
                for picture in pictures {
                    self.display(picture)?;
                }
            }
            Err(error) => {
                self.summary.decode_errors += 1;
                self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                // Recover at the next key frame.
                self.buffer.restart();
            }
        }
        Ok(())
    }

    fn flush_decoder(&mut self) -> Result<(), PlayerError> {
        let pictures = match self.decoder.as_mut().map(VideoDecoder::flush) {
            Some(Ok(pictures)) => pictures,
            Some(Err(error)) => {
                self.emit(PlayCode::VideoDecodeFailed, error.to_string());
                Vec::new()
            }
            None => Vec::new(),
        };
        for picture in pictures {
            self.display(picture)?;
        }
        Ok(())
    }

    fn display(&mut self, picture: I420Frame) -> Result<(), PlayerError> {
        // A decode call can give several pictures (B-frames reordered):
        // `--frames N` stops at N exactly.
        let enough = self
            .config
            .max_frames
            .is_some_and(|limit| self.summary.frames_displayed >= limit);
        if self.paused || enough {
            return Ok(());
        }
        let stamp = match &mut self.tally {
            Some(tally) => tally.record(&picture),
            None => None,
        };
        let pts = picture.timestamp.as_millis() as u64;
        self.first_video_pts.get_or_insert(pts);
        if let Some(stamp) = stamp {
            self.stamp_times.push((stamp, pts));
        }
        let index = self.summary.frames_displayed;
        if let Some(reference) = &mut self.reference {
            let wanted = stamp.map_or(index, u64::from);
            if let Ok(Some(original)) = reference.frame(wanted) {
                if let Some(psnr) = verify::luma_psnr(original, &picture) {
                    self.psnr.push(psnr.min(100.0));
                }
            }
        }
        let shown = match &mut self.renderer {
            Some(renderer) => match renderer.render(&picture) {
                Ok(view) => view,
                Err(error) => return Err(PlayerError::Render(error)),
            },
            None => picture,
        };
        if let Some(sink) = &mut self.sink {
            sink(
                &shown,
                Displayed {
                    index,
                    at: Instant::now(),
                    stamp,
                },
            )
            .map_err(PlayerError::Sink)?;
        }
        self.shown = Some(shown);
        self.summary.frames_displayed += 1;
        self.meter.frames += 1;
        Ok(())
    }

    fn note_arrival(&mut self, timestamp_ms: u32, bytes: usize) {
        let now = Instant::now();
        self.meter.bytes += bytes as u64;
        if let Some((last_at, last_ts)) = self.meter.last_arrival {
            // RFC 3550: how much arrival spacing differs from stream spacing.
            let arrival = now.duration_since(last_at).as_secs_f64() * 1000.0;
            let stream = u64::from(timestamp_ms).saturating_sub(last_ts) as f64;
            let difference = (arrival - stream).abs();
            self.meter.jitter_ms += (difference - self.meter.jitter_ms) / 16.0;
        }
        self.meter.last_arrival = Some((now, u64::from(timestamp_ms)));
    }

    fn report(&mut self) {
        let now = Instant::now();
        let since = *self.meter.since.get_or_insert(now);
        let elapsed = now.duration_since(since);
        if elapsed < self.config.net_status_interval {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let kbps = self.meter.bytes as f64 * 8.0 / 1000.0 / seconds;
        let audio_kbps = self.meter.audio_bytes as f64 * 8.0 / 1000.0 / seconds;
        let status = NetStatus {
            video_bitrate: kbps - audio_kbps,
            audio_bitrate: audio_kbps,
            video_fps: self.meter.frames as f64 / seconds,
            video_gop: self.video_gop,
            net_speed: kbps,
            net_jitter: self.meter.jitter_ms,
            video_width: self.summary.width,
            video_height: self.summary.height,
            video_cache: Some(self.buffer.cached().as_secs_f64()),
            audio_cache: Some(self.sound.cached().as_secs_f64()),
        };
        let _ = self.events.send(PlayerEvent::NetStatus(status));
        if self.playing_reported {
            self.emit(
                PlayCode::Progress,
                format!("{} frames shown", self.summary.frames_displayed),
            );
        }
        // Arrival spacing that wanders by more than a quarter of the cache
        // will soon stall playback: say so once, until it settles again.
        let (min_cache, _) = self.config.cache_bounds();
        let unstable = self.meter.jitter_ms > (min_cache.as_secs_f64() * 1000.0 / 4.0).max(20.0);
        if unstable && !self.unstable_reported {
            self.emit(
                PlayCode::DataUnstable,
                format!("arrival jitter {:.0} ms", self.meter.jitter_ms),
            );
        }
        self.unstable_reported = unstable;
        self.meter.since = Some(now);
        self.meter.bytes = 0;
        self.meter.audio_bytes = 0;
        self.meter.frames = 0;
    }
}

/// The frame interval (ms) from displayed stamps and their presentation
/// times, when the metadata did not give the frame rate.
fn frame_interval(stamps: &[(u32, u64)]) -> Option<f64> {
    let (first, last) = (stamps.first()?, stamps.last()?);
    let frames = f64::from(last.0) - f64::from(first.0);
    (frames > 0.0).then(|| (last.1 as f64 - first.1 as f64) / frames)
}

/// Why a video tag with an unsupported codec cannot be shown.
fn unsupported_codec(body: &[u8], codec: u8) -> String {
    match body {
        // Enhanced RTMP: a FourCC follows the first byte.
        [first, fourcc @ ..] if first & 0x80 != 0 && fourcc.len() >= 4 => format!(
            "enhanced-RTMP video {:?} is not supported; only H.264 (codec id 7) can be shown",
            String::from_utf8_lossy(&fourcc[..4])
        ),
        _ => format!(
            "video codec id {codec} ({}) is not supported; only H.264 (codec id 7) can be shown",
            video_codec_name(codec)
        ),
    }
}

/// The FLV video codec ids' names (E.4.3.1, and 12 as the CDNs use it).
fn video_codec_name(codec: u8) -> &'static str {
    match codec {
        1 => "JPEG",
        2 => "Sorenson H.263",
        3 => "screen video",
        4 => "VP6",
        5 => "VP6 with alpha",
        6 => "screen video 2",
        7 => "H.264",
        12 => "HEVC, the CDNs' extension",
        13 => "AV1, the CDNs' extension",
        _ => "unknown",
    }
}
