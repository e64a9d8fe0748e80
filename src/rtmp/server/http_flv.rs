//! HTTP-FLV viewers: one task per `GET /APP/STREAM.flv` drains the
//! viewer's [`PlayerQueue`] (the same bounded queue, with the same
//! back-pressure, as an RTMP player's: a slow viewer loses whole GOPs and
//! never blocks the publisher) and writes it as FLV with the crate's own
//! [`FlvWriter`]: the file header (audio/video flags per the stream), then
//! the metadata, the sequence headers and the kept GOP, then live tags.
//!
//! The response ends when the publisher leaves, when nothing arrives for
//! the idle timeout (a viewer that comes before the publisher waits that
//! long), or when the client stops reading for the idle timeout (then the
//! connection is dropped).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use log::{debug, warn};
use tokio::sync::{mpsc, Notify};

use super::http::Body;
use super::outbound::metadata_body;
use super::player_queue::{Delivery, PlayerQueue, Waker, QUEUE_MESSAGES};
use super::registry::Protocol;
use super::{Shared, Track};
use crate::flv::{FlvHeader, FlvWriter, TagKind};

/// FLV chunks that may wait for hyper before the viewer task waits too.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A live FLV response body: chunks from the viewer's task.
struct FlvBody {
    chunks: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for FlvBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A viewer's place in the registry, left when its task ends or is
/// dropped.
struct Viewer {
    shared: Arc<Shared>,
    id: u64,
    name: String,
    queue: Arc<PlayerQueue>,
    notify: Arc<Notify>,
    audio_only: bool,
    peer: SocketAddr,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shared.registry.remove_player(self.id, &self.name);
        debug!("HTTP viewer {} of {} left", self.peer, self.name);
    }
}

/// Registers viewer `id` of `name` and starts its task (on the current
/// tokio runtime); returns the response body. `kill` drops the viewer's
/// connection if it stops reading.
pub(super) fn start(
    shared: Arc<Shared>,
    id: u64,
    name: String,
    audio_only: bool,
    peer: SocketAddr,
    kill: Arc<Notify>,
) -> Body {
    let notify = Arc::new(Notify::new());
    let queue = Arc::new(PlayerQueue::new(
        format!("HTTP-FLV viewer {peer} of {name}"),
        Waker::Task(Arc::clone(&notify)),
        shared.config.queue_bytes(),
        QUEUE_MESSAGES,
        audio_only,
    ));
    shared.registry.add_player(id, &name, &queue, Protocol::Flv);
    let viewer = Viewer {
        shared,
        id,
        name,
        queue,
        notify,
        audio_only,
        peer,
    };
    let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(run(viewer, sender, kill));
    FlvBody { chunks }.boxed()
}

async fn run(viewer: Viewer, sender: mpsc::Sender<Bytes>, kill: Arc<Notify>) {
    let idle = viewer.shared.config.idle_timeout;
    let mut writer: Option<FlvWriter<Vec<u8>>> = None;
    let mut last_data = Instant::now();
    loop {
        tokio::select! {
            () = viewer.notify.notified() => {}
            () = sender.closed() => return,
            () = tokio::time::sleep(idle) => {}
        }
        let (batch, overflowed) = viewer.queue.take();
        if overflowed {
            warn!(
                "HTTP-FLV viewer {} of {} fell too far behind; dropping it",
                viewer.peer, viewer.name
            );
            kill.notify_one();
            return;
        }
        if batch.is_empty() {
            if last_data.elapsed() >= idle {
                debug!(
                    "HTTP-FLV viewer {} of {}: nothing for {idle:?}; ending",
                    viewer.peer, viewer.name
                );
                return;
            }
            continue;
        }
        last_data = Instant::now();
        let writer = match &mut writer {
            Some(writer) => writer,
            None => {
                let header = header_for(&batch, viewer.audio_only);
                match FlvWriter::new(Vec::new(), header) {
                    Ok(new) => writer.insert(new),
                    // Writing to memory cannot fail.
                    Err(_) => return,
                }
            }
        };
        let (relayed, ended) = write_batch(writer, batch);
        if relayed > 0 {
            viewer.shared.relayed.fetch_add(relayed, Ordering::Relaxed);
        }
        let chunk = Bytes::from(std::mem::take(writer.get_mut()));
        if !chunk.is_empty() {
            match tokio::time::timeout(idle, sender.send(chunk)).await {
                Ok(Ok(())) => {}
                // The client is gone.
                Ok(Err(_)) => return,
                Err(_) => {
                    warn!(
                        "HTTP-FLV viewer {} of {} read nothing for {idle:?}; dropping it",
                        viewer.peer, viewer.name
                    );
                    kill.notify_one();
                    return;
                }
            }
        }
        if ended {
            debug!(
                "HTTP-FLV viewer {}: {} is no longer published",
                viewer.peer, viewer.name
            );
            return;
        }
    }
}

/// The FLV header's flags for a stream whose first deliveries are
/// `batch`: what the metadata announces and what the media holds; both
/// when nothing says.
fn header_for(batch: &VecDeque<Delivery>, audio_only: bool) -> FlvHeader {
    let (mut video, mut audio) = (false, false);
    for delivery in batch {
        match delivery {
            Delivery::Metadata(metadata) => {
                video |= metadata.video_codec_id.is_some_and(|id| id != 0)
                    || metadata.video_width.is_some_and(|width| width != 0);
                audio |= metadata.audio_codec_id.is_some_and(|id| id != 0)
                    || metadata.audio_sample_rate.is_some_and(|rate| rate != 0);
            }
            Delivery::Media(media) => match media.track {
                Track::Video => video = true,
                Track::Audio => audio = true,
            },
            Delivery::Begin | Delivery::End => {}
        }
    }
    if audio_only {
        return FlvHeader {
            has_audio: true,
            has_video: false,
        };
    }
    if !video && !audio {
        (video, audio) = (true, true);
    }
    FlvHeader {
        has_audio: audio,
        has_video: video,
    }
}

/// Writes a batch as FLV tags; returns the media messages written and
/// whether the publisher left.
fn write_batch(writer: &mut FlvWriter<Vec<u8>>, batch: VecDeque<Delivery>) -> (u64, bool) {
    let mut relayed = 0;
    for delivery in batch {
        let written = match delivery {
            Delivery::Metadata(metadata) => {
                writer.write(TagKind::Script, 0, &metadata_body(&metadata))
            }
            Delivery::Media(media) => {
                relayed += 1;
                let kind = match media.track {
                    Track::Video => TagKind::Video,
                    Track::Audio => TagKind::Audio,
                };
                writer.write(kind, media.timestamp, &media.data)
            }
            Delivery::Begin => continue,
            Delivery::End => return (relayed, true),
        };
        if let Err(error) = written {
            // Only a body over 16 MiB, which RTMP could not carry either.
            debug!("HTTP-FLV: a tag is left out: {error}");
        }
    }
    (relayed, false)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audio, audio_header, key, video_header};
    use super::*;
    use crate::flv::{parse_stream_metadata, FlvReader};
    use rml_rtmp::sessions::StreamMetadata;

    #[test]
    fn a_batch_becomes_flv_tags_a_reader_reads_back() {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(360);
        metadata.video_height = Some(640);
        metadata.audio_sample_rate = Some(48_000);
        metadata.audio_channels = Some(2);
        let batch: VecDeque<Delivery> = [
            Delivery::Metadata(Arc::new(metadata)),
            Delivery::Media(video_header()),
            Delivery::Media(audio_header()),
            Delivery::Media(key(40, 100)),
            Delivery::Media(audio(50)),
            Delivery::End,
            Delivery::Media(audio(60)),
        ]
        .into();
        let header = header_for(&batch, false);
        assert!(header.has_audio && header.has_video);
        assert!(!header_for(&batch, true).has_video);
        let mut writer = FlvWriter::new(Vec::new(), header).expect("header");
        assert_eq!(write_batch(&mut writer, batch), (4, true));
        let bytes = writer.into_inner();
        let tags: Vec<_> = FlvReader::new(&bytes[..])
            .expect("reader")
            .map(|tag| tag.expect("tag"))
            .collect();
        assert_eq!(tags.len(), 5, "the tag after the end is left out");
        assert_eq!(tags[0].kind, TagKind::Script);
        let parsed = parse_stream_metadata(&tags[0].body).expect("metadata");
        assert_eq!((parsed.width, parsed.height), (360, 640));
        assert_eq!(parsed.audio.map(|a| a.sample_rate), Some(48_000));
        assert_eq!(
            tags.iter().map(|t| t.timestamp_ms).collect::<Vec<_>>(),
            vec![0, 0, 0, 40, 50]
        );
    }
}
