//! The way out: FLV tag bodies for encoded frames, the FLV file, and the
//! RTMP connection, reconnecting by its policy ([`ReconnectPolicy`]).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{PushError, PusherEvent};
use crate::avc::{self, AvcDecoderConfig};
use crate::encoder::{EncodedFrame, ParameterSets};
use crate::events::{PushCode, PushEvent};
use crate::flv::{self, FlvHeader, FlvTag, FlvWriter, TagKind};
use crate::rtmp::{
    PublishError, Publisher, PublisherConfig, PublisherStats, ReconnectPolicy, RtmpUrl,
};

/// Encoded frames as FLV/RTMP video message bodies.
pub(super) struct AvcPackager {
    sequence_header: Bytes,
    avcc: Vec<u8>,
}

impl AvcPackager {
    pub(super) fn new(sets: &ParameterSets) -> Result<Self, PushError> {
        let config = AvcDecoderConfig::from_parameter_sets(&sets.sps, &sets.pps)
            .map_err(PushError::ParameterSets)?;
        let body = flv::video_sequence_header_body(&config).map_err(PushError::SequenceHeader)?;
        Ok(Self {
            sequence_header: Bytes::from(body),
            avcc: Vec::new(),
        })
    }

    /// The AVC sequence header message body.
    pub(super) fn sequence_header(&self) -> Bytes {
        self.sequence_header.clone()
    }

    /// A frame's message body (AVCC NAL units behind the 5-byte video header).
    pub(super) fn frame_body(&mut self, frame: &EncodedFrame) -> Result<Bytes, PushError> {
        self.avcc.clear();
        avc::annexb_to_avcc_without_parameter_sets(&frame.data, &mut self.avcc)
            .map_err(PushError::Packaging)?;
        Ok(Bytes::from(flv::video_nalu_body(
            frame.key_frame,
            frame.composition_offset_ms(),
            &self.avcc,
        )))
    }
}

/// An FLV file being written.
pub(super) struct FlvFile {
    path: PathBuf,
    writer: FlvWriter<BufWriter<File>>,
}

impl FlvFile {
    pub(super) fn create(path: &Path, header: FlvHeader) -> Result<Self, PushError> {
        let file = File::create(path).map_err(|e| PushError::output(path, e))?;
        let writer = FlvWriter::new(BufWriter::new(file), header)
            .map_err(|e| PushError::flv_output(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
        })
    }

    pub(super) fn write(
        &mut self,
        kind: TagKind,
        timestamp_ms: u32,
        body: &Bytes,
    ) -> Result<(), PushError> {
        let tag = FlvTag {
            kind,
            timestamp_ms,
            body: body.clone(),
        };
        self.writer
            .write_tag(&tag)
            .map_err(|e| PushError::flv_output(&self.path, e))
    }

    pub(super) fn finish(self) -> Result<(), PushError> {
        let path = self.path;
        self.writer
            .finish()
            .map(|_| ())
            .map_err(|e| PushError::flv_output(&path, e))
    }
}

type ConnectResult = (Result<Publisher, PublishError>, Vec<PushEvent>);

enum LinkState {
    Live(Publisher),
    /// Waiting for `next_try`, or for the attempt running on `pending`;
    /// the link went down at `since`.
    Reconnecting {
        since: Instant,
        attempt: u32,
        next_try: Instant,
        pending: Option<JoinHandle<ConnectResult>>,
    },
}

/// The RTMP connection, reconnecting per the policy.
pub(super) struct Uplink {
    url: RtmpUrl,
    config: PublisherConfig,
    policy: ReconnectPolicy,
    state: LinkState,
    /// Headers must be (re)sent and the stream must restart at a key frame.
    restart: bool,
    /// Video frames not sent because the connection was down, or because
    /// the stream was waiting for a key frame after a reconnect.
    dropped_offline: u64,
    /// Audio packets not sent because the connection was down.
    audio_dropped_offline: u64,
    reconnects: u32,
    /// Counters of the connections that ended, kept across reconnects.
    finished: PublisherStats,
}

impl Uplink {
    /// Connects, retrying per the policy; fails with -1307 when the
    /// attempts run out (or at once when the server refuses the stream).
    pub(super) fn connect(
        url: RtmpUrl,
        config: PublisherConfig,
        policy: ReconnectPolicy,
        emit: &mut dyn FnMut(PusherEvent),
    ) -> Result<Self, PushError> {
        let mut attempt = 0;
        let since = Instant::now();
        loop {
            let mut events = Vec::new();
            let result = Publisher::connect(&url, &config, &mut |event| events.push(event));
            events.into_iter().for_each(|e| emit(PusherEvent::Push(e)));
            match result {
                Ok(publisher) => {
                    return Ok(Self {
                        url,
                        config,
                        policy,
                        state: LinkState::Live(publisher),
                        restart: true,
                        dropped_offline: 0,
                        audio_dropped_offline: 0,
                        reconnects: 0,
                        finished: PublisherStats::default(),
                    })
                }
                Err(error) => {
                    attempt += 1;
                    retry_or_give_up(&url, &policy, error, attempt, since.elapsed(), emit)?;
                    std::thread::sleep(policy.backoff(attempt));
                }
            }
        }
    }

    /// Whether frames can be sent now.
    pub(super) fn is_live(&self) -> bool {
        matches!(self.state, LinkState::Live(_))
    }

    /// Takes the "start over" flag: true once after each (re)connection,
    /// when the caller must send metadata and the sequence header and force
    /// a key frame.
    pub(super) fn take_restart(&mut self) -> bool {
        std::mem::take(&mut self.restart) && self.is_live()
    }

    /// Sends a message body; drops video (counted) while the link is down.
    pub(super) fn send_video(&mut self, body: Bytes, timestamp_ms: u32) {
        match &self.state {
            LinkState::Live(publisher) => {
                // A failure shows up in `poll`.
                let _ = publisher.send_video(body, timestamp_ms);
            }
            LinkState::Reconnecting { .. } => self.dropped_offline += 1,
        }
    }

    /// Sends an audio message body; drops it (counted) while the link is
    /// down.
    pub(super) fn send_audio(&mut self, body: Bytes, timestamp_ms: u32) {
        match &self.state {
            LinkState::Live(publisher) => {
                let _ = publisher.send_audio(body, timestamp_ms);
            }
            LinkState::Reconnecting { .. } => self.audio_dropped_offline += 1,
        }
    }

    /// Audio packets dropped while the link was down.
    pub(super) fn audio_dropped_offline(&self) -> u64 {
        self.audio_dropped_offline
    }

    /// Sends metadata if live.
    pub(super) fn send_metadata(&mut self, metadata: rml_rtmp::sessions::StreamMetadata) {
        if let LinkState::Live(publisher) = &self.state {
            let _ = publisher.send_metadata(metadata);
        }
    }

    /// Counts a frame skipped while waiting for a key frame.
    pub(super) fn count_skipped(&mut self) {
        self.dropped_offline += 1;
    }

    /// Notices a dropped connection, runs reconnect attempts in the
    /// background, and fails with -1307 when they run out.
    pub(super) fn poll(&mut self, emit: &mut dyn FnMut(PusherEvent)) -> Result<(), PushError> {
        let now = Instant::now();
        let state = std::mem::replace(
            &mut self.state,
            LinkState::Reconnecting {
                since: now,
                attempt: 0,
                next_try: now,
                pending: None,
            },
        );
        self.state = match state {
            LinkState::Live(publisher) => match publisher.check() {
                Ok(()) => LinkState::Live(publisher),
                Err(error) => {
                    self.add_finished(publisher.stats());
                    emit(PusherEvent::Push(PushEvent::new(
                        error.push_code(),
                        error.to_string(),
                    )));
                    emit(PusherEvent::Push(PushEvent::new(
                        PushCode::Reconnecting,
                        format!("connection lost; reconnecting to {}", self.url),
                    )));
                    drop(publisher);
                    LinkState::Reconnecting {
                        since: now,
                        attempt: 1,
                        next_try: now + self.policy.backoff(1).min(Duration::from_millis(300)),
                        pending: None,
                    }
                }
            },
            LinkState::Reconnecting {
                since,
                attempt,
                pending: Some(handle),
                ..
            } if handle.is_finished() => {
                let (result, events) = handle.join().unwrap_or_else(|_| {
                    (
                        Err(PublishError::Stopped("the connect thread panicked")),
                        Vec::new(),
                    )
                });
                events.into_iter().for_each(|e| emit(PusherEvent::Push(e)));
                match result {
                    Ok(publisher) => {
                        self.reconnects += 1;
                        self.restart = true;
                        LinkState::Live(publisher)
                    }
                    Err(error) => {
                        let outage = now.duration_since(since);
                        retry_or_give_up(
                            &self.url,
                            &self.policy,
                            error,
                            attempt + 1,
                            outage,
                            emit,
                        )?;
                        LinkState::Reconnecting {
                            since,
                            attempt: attempt + 1,
                            next_try: now + self.policy.backoff(attempt + 1),
                            pending: None,
                        }
                    }
                }
            }
            LinkState::Reconnecting {
                since,
                attempt,
                next_try,
                pending: None,
            } if now >= next_try => {
                let url = self.url.clone();
                let config = self.config.clone();
                let handle = std::thread::Builder::new()
                    .name("rtmp-reconnect".into())
                    .spawn(move || {
                        let mut events = Vec::new();
                        let result = Publisher::connect(&url, &config, &mut |e| events.push(e));
                        (result, events)
                    })
                    .map_err(|e| PushError::thread("rtmp-reconnect", e))?;
                LinkState::Reconnecting {
                    since,
                    attempt,
                    next_try,
                    pending: Some(handle),
                }
            }
            other => other,
        };
        Ok(())
    }

    /// Counters over all connections so far.
    pub(super) fn stats(&self) -> PublisherStats {
        let mut total = self.finished;
        if let LinkState::Live(publisher) = &self.state {
            let live = publisher.stats();
            total.bytes_sent += live.bytes_sent;
            total.frames_dropped += live.frames_dropped;
            total.frames_sent += live.frames_sent;
            total.backlog_bytes = live.backlog_bytes;
            total.jitter_ms = live.jitter_ms;
        }
        total
    }

    /// Frames dropped while offline or waiting for a key frame.
    pub(super) fn dropped_offline(&self) -> u64 {
        self.dropped_offline
    }

    /// Successful reconnections.
    pub(super) fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// Sends what is queued and closes.
    pub(super) fn close(mut self) -> Result<PublisherStats, PushError> {
        let state = std::mem::replace(
            &mut self.state,
            LinkState::Reconnecting {
                since: Instant::now(),
                attempt: 0,
                next_try: Instant::now(),
                pending: None,
            },
        );
        match state {
            LinkState::Live(publisher) => {
                let stats = publisher.stats();
                let closed = publisher.close(Duration::from_secs(5));
                let stats = closed.unwrap_or(stats);
                self.add_finished(stats);
                Ok(self.finished)
            }
            LinkState::Reconnecting { .. } => Ok(self.finished),
        }
    }

    fn add_finished(&mut self, stats: PublisherStats) {
        self.finished.bytes_sent += stats.bytes_sent;
        self.finished.frames_dropped += stats.frames_dropped;
        self.finished.frames_sent += stats.frames_sent;
    }
}

/// After a failed connection, an `outage` after the link went down:
/// reports it, then either announces attempt number `attempt` (1102) or
/// ends the push — at once for a refusal (3004 and the `error` callback),
/// with -1307 when the policy allows no more attempts.
fn retry_or_give_up(
    url: &RtmpUrl,
    policy: &ReconnectPolicy,
    error: PublishError,
    attempt: u32,
    outage: Duration,
    emit: &mut dyn FnMut(PusherEvent),
) -> Result<(), PushError> {
    emit(PusherEvent::Push(PushEvent::new(
        error.push_code(),
        error.to_string(),
    )));
    if !error.is_retryable() {
        emit(PusherEvent::Error(error.to_string()));
        return Err(PushError::Rejected(error));
    }
    if let Some(message) = policy.give_up(url, attempt, outage) {
        emit(PusherEvent::Push(PushEvent::new(
            PushCode::Disconnected,
            message.clone(),
        )));
        return Err(PushError::Disconnected(message));
    }
    emit(PusherEvent::Push(PushEvent::new(
        PushCode::Reconnecting,
        format!("reconnecting (attempt {attempt} of {})", policy.attempts),
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_client_error_and_is_reported() {
        let url = RtmpUrl::parse("rtmp://127.0.0.1/live/x").expect("url");
        let mut events = Vec::new();
        let refusal = || PublishError::Rejected("bad signature".into());
        let error = retry_or_give_up(
            &url,
            &ReconnectPolicy::default(),
            refusal(),
            1,
            Duration::ZERO,
            &mut |event| events.push(event),
        )
        .expect_err("a refusal is not retried");
        assert_eq!(error.code(), Some(PushCode::ServerClosed));
        assert_eq!(error.to_string(), refusal().to_string());
        let source = std::error::Error::source(&error).expect("a source");
        assert!(matches!(
            source.downcast_ref::<PublishError>(),
            Some(PublishError::Rejected(_))
        ));
        assert!(events.contains(&PusherEvent::Error(refusal().to_string())));
    }
}
