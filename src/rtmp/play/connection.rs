//! The playing connection's socket and session: what the set-up on the
//! caller's thread reads and writes ([`Connection::send_results`],
//! [`Connection::feed`], [`Connection::wait_for`]), then the connection
//! thread's loop ([`Connection::run`]): turning session events into
//! [`PlayMessage`]s, the stream end and reset rules, the drop policy and
//! the polite close.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rml_rtmp::sessions::{
    ClientSession, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};

use super::translate::{convert_metadata, stream_notice, StreamNotice};
use super::watcher::ChunkWatcher;
use super::{PlayError, PlayMessage, Shared};
use crate::rtmp::client::{protocol_error, refusal, session_input};
use crate::rtmp::MediaKind;

/// How often the connection thread wakes, when nothing arrives, to notice
/// a close request or an idle stream.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the session raised, plus what the [`ChunkWatcher`] saw.
#[derive(Debug)]
pub(super) enum Incoming {
    /// An rml_rtmp event.
    Event(ClientSessionEvent),
    /// A `StreamEOF` user control event.
    StreamEof,
}

/// The connection: used by the set-up on the caller's thread, then moved
/// to the connection thread.
pub(super) struct Connection {
    pub(super) socket: TcpStream,
    pub(super) session: ClientSession,
    pub(super) sender: Sender<PlayMessage>,
    pub(super) shared: Arc<Shared>,
    pub(super) max_queued: usize,
    pub(super) idle_timeout: Duration,
    /// Dropping video until the next key frame.
    pub(super) dropping_video: bool,
    /// Media or metadata went to the caller (so a reset means something).
    pub(super) delivered_any: bool,
    /// The last notice was a stream end.
    pub(super) ended: bool,
    pub(super) last_media: Instant,
    pub(super) watcher: ChunkWatcher,
}

impl Connection {
    /// Writes the session's outbound packets; returns the events among
    /// `results`, in order.
    pub(super) fn send_results(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> Result<Vec<ClientSessionEvent>, PlayError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.socket.write_all(&packet.bytes)?
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    /// Feeds bytes, answers what needs answering; returns the events.
    ///
    /// A message rml_rtmp finds out of place for its state (a second
    /// `NetStream.Play.Start` after a new publisher, media before the play
    /// answer on some servers) is skipped: rml has consumed it and the
    /// messages after it are still buffered, so feeding nothing continues.
    /// The events of the same call before it are lost, which only happens
    /// at such a transition.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Incoming>, PlayError> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        self.shared
            .bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let watched = self.watcher.watch(bytes)?;
        let mut input = bytes;
        let mut events = Vec::new();
        loop {
            match session_input(&mut self.session, input)? {
                Ok(results) => {
                    events.extend(self.send_results(results)?);
                    let mut incoming: Vec<_> = events.into_iter().map(Incoming::Event).collect();
                    // The end-of-stream notice follows the stream's last media.
                    if watched.stream_eofs > 0 {
                        incoming.push(Incoming::StreamEof);
                    }
                    return Ok(incoming);
                }
                Err(ClientSessionError::SessionInInvalidState { current_state }) => {
                    log::debug!("skipped a message unexpected in state {current_state:?}");
                    input = &[];
                }
                Err(ClientSessionError::CreateStreamFailed) => {
                    return Err(PlayError::Rejected(
                        "the server refused to create a stream".into(),
                    ))
                }
                Err(error) => return Err(protocol_error(error)),
            }
        }
    }

    /// Reads until `decide` settles on an event; returns the other events
    /// (before and after the deciding one) in order.
    pub(super) fn wait_for(
        &mut self,
        timeout: Duration,
        step: &'static str,
        mut decide: impl FnMut(&ClientSessionEvent) -> Option<Result<(), PlayError>>,
    ) -> Result<Vec<Incoming>, PlayError> {
        let deadline = Instant::now() + timeout;
        let mut buffer = vec![0u8; 16 * 1024];
        let mut others = Vec::new();
        while Instant::now() < deadline {
            let read = match self.socket.read(&mut buffer) {
                Ok(0) => return Err(PlayError::Closed(step)),
                Ok(read) => read,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            let mut outcome = None;
            for incoming in self.feed(chunk)? {
                if let (None, Incoming::Event(event)) = (&outcome, &incoming) {
                    outcome = decide(event);
                    if outcome.is_some() {
                        continue;
                    }
                }
                others.push(incoming);
            }
            match outcome {
                Some(Ok(())) => return Ok(others),
                Some(Err(error)) => return Err(error),
                None => {}
            }
        }
        Err(PlayError::Timeout(timeout, step))
    }

    /// Turns one session event into messages for the caller.
    pub(super) fn deliver(&mut self, incoming: Incoming) -> Result<(), PlayError> {
        let event = match incoming {
            Incoming::Event(event) => event,
            Incoming::StreamEof => return self.notice(StreamNotice::End),
        };
        if let Some(reason) = refusal(&event) {
            return Err(PlayError::Rejected(reason));
        }
        match event {
            ClientSessionEvent::StreamMetadataReceived { metadata } => {
                self.restart_if_ended()?;
                self.push(PlayMessage::Metadata(convert_metadata(&metadata)))?;
            }
            ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                self.last_media = Instant::now();
                self.shared.video_messages.fetch_add(1, Ordering::Relaxed);
                self.restart_if_ended()?;
                if self.admit_video(MediaKind::of_video(&data)) {
                    self.push(PlayMessage::Video {
                        timestamp_ms: timestamp.value,
                        body: data,
                    })?;
                } else {
                    self.shared.video_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                self.last_media = Instant::now();
                self.shared.audio_messages.fetch_add(1, Ordering::Relaxed);
                self.restart_if_ended()?;
                let over = self.shared.queued_bytes.load(Ordering::Relaxed) > self.max_queued;
                if over && MediaKind::of_audio(&data) != MediaKind::SequenceHeader {
                    self.shared.audio_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.push(PlayMessage::Audio {
                        timestamp_ms: timestamp.value,
                        body: data,
                    })?;
                }
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => match stream_notice(&code) {
                Some(notice) => self.notice(notice)?,
                None => log::debug!("ignored status {code}"),
            },
            other => log::trace!("ignored RTMP event {other:?}"),
        }
        Ok(())
    }

    /// A stream end (said once, however many ways the server says it) or
    /// reset (said only when something was delivered that it resets).
    fn notice(&mut self, notice: StreamNotice) -> Result<(), PlayError> {
        self.last_media = Instant::now();
        match notice {
            StreamNotice::End if !self.ended => {
                self.ended = true;
                self.push(PlayMessage::StreamEnd)
            }
            StreamNotice::End => Ok(()),
            StreamNotice::Reset => {
                self.ended = false;
                if self.delivered_any {
                    self.push(PlayMessage::StreamReset)?;
                }
                Ok(())
            }
        }
    }

    /// Media after a stream end, with no reset notice: a new publisher.
    fn restart_if_ended(&mut self) -> Result<(), PlayError> {
        if self.ended {
            self.ended = false;
            self.push(PlayMessage::StreamReset)?;
        }
        Ok(())
    }

    /// The drop policy: past the limit drop video until a key frame arrives
    /// with the queue back under half the limit.
    fn admit_video(&mut self, kind: MediaKind) -> bool {
        let queued = self.shared.queued_bytes.load(Ordering::Relaxed);
        match kind {
            MediaKind::KeyFrame | MediaKind::InterFrame => {
                if queued > self.max_queued && !self.dropping_video {
                    log::warn!("{queued} bytes wait for the player: dropping video");
                    self.dropping_video = true;
                }
                if self.dropping_video
                    && kind == MediaKind::KeyFrame
                    && queued <= self.max_queued / 2
                {
                    self.dropping_video = false;
                }
                !self.dropping_video
            }
            _ => true,
        }
    }

    fn push(&mut self, message: PlayMessage) -> Result<(), PlayError> {
        if !matches!(message, PlayMessage::StreamEnd | PlayMessage::StreamReset) {
            self.delivered_any = true;
        }
        let size = message.size();
        self.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.sender.send(message).map_err(|_| {
            self.shared.dequeued(size);
            PlayError::Closed("by the player")
        })
    }

    pub(super) fn run(mut self) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                self.finish();
                break;
            }
            if let Err(error) = self.turn(&mut buffer) {
                log::debug!("RTMP play connection ends: {error}");
                self.shared.fail(error);
                break;
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// One read (waiting at most [`POLL_INTERVAL`]) and its consequences.
    fn turn(&mut self, buffer: &mut [u8]) -> Result<(), PlayError> {
        match self.socket.read(buffer) {
            Ok(0) => return Err(PlayError::Closed("while playing")),
            Ok(read) => {
                let chunk = buffer.get(..read).unwrap_or_default();
                for incoming in self.feed(chunk)? {
                    self.deliver(incoming)?;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
        if !self.idle_timeout.is_zero() && self.last_media.elapsed() > self.idle_timeout {
            return Err(PlayError::Idle(self.idle_timeout));
        }
        Ok(())
    }

    /// Ends playback politely: `deleteStream`, half-close, then read until
    /// the server closes too (closing with unread input would reset the
    /// connection). Bounded to about a second.
    fn finish(&mut self) {
        let _ = self
            .socket
            .set_write_timeout(Some(Duration::from_millis(200)));
        if let Ok(results) = self.session.stop_playback() {
            let _ = self.send_results(results);
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut sink = [0u8; 16 * 1024];
        while Instant::now() < deadline {
            match self.socket.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
    }
}
