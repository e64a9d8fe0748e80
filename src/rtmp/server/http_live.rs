//! Live HTTP viewers: one task per `GET /APP/STREAM.flv` (HTTP-FLV) or
//! `GET /APP/STREAM.mp4` (live fragmented MP4, the watch page's
//! low-latency path) drains the viewer's [`PlayerQueue`] (the same bounded
//! queue, with the same back-pressure, as an RTMP player's: a slow viewer
//! loses whole GOPs and never blocks the publisher) and writes what it
//! takes in the viewer's [`LiveFormat`] ([`super::http_flv`],
//! [`super::http_fmp4`]).
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
use super::player_queue::{Delivery, PlayerQueue, Waker, QUEUE_MESSAGES};
use super::registry::Protocol;
use super::Shared;

/// Chunks that may wait for hyper before the viewer task waits too.
const CHUNKS_IN_FLIGHT: usize = 8;

/// How a live viewer's deliveries become the bytes of its response.
pub(super) trait LiveFormat: Send + 'static {
    /// What the log calls this kind of viewer (`HTTP-FLV`).
    const NAME: &'static str;
    /// How `/api/streams` counts this kind of viewer.
    const PROTOCOL: Protocol;

    /// Appends the bytes for `batch` to `out`; returns the media messages
    /// written and whether the publisher left.
    fn write_batch(&mut self, batch: VecDeque<Delivery>, out: &mut Vec<u8>) -> (u64, bool);
}

/// A live response body: chunks from the viewer's task.
struct LiveBody {
    chunks: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for LiveBody {
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
    peer: SocketAddr,
    what: &'static str,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shared.registry.remove_player(self.id, &self.name);
        debug!("{} viewer {} of {} left", self.what, self.peer, self.name);
    }
}

/// Registers viewer `id` of `name` and starts its task (on the current
/// tokio runtime), writing in `format`; returns the response body. `kill`
/// drops the viewer's connection if it stops reading.
pub(super) fn start<F: LiveFormat>(
    shared: Arc<Shared>,
    id: u64,
    name: String,
    audio_only: bool,
    peer: SocketAddr,
    kill: Arc<Notify>,
    format: F,
) -> Body {
    let notify = Arc::new(Notify::new());
    let queue = Arc::new(PlayerQueue::new(
        format!("{} viewer {peer} of {name}", F::NAME),
        Waker::Task(Arc::clone(&notify)),
        shared.config.queue_bytes(),
        QUEUE_MESSAGES,
        audio_only,
    ));
    shared.registry.add_player(id, &name, &queue, F::PROTOCOL);
    let viewer = Viewer {
        shared,
        id,
        name,
        queue,
        notify,
        peer,
        what: F::NAME,
    };
    let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(run(viewer, format, sender, kill));
    LiveBody { chunks }.boxed()
}

async fn run<F: LiveFormat>(
    viewer: Viewer,
    mut format: F,
    sender: mpsc::Sender<Bytes>,
    kill: Arc<Notify>,
) {
    let idle = viewer.shared.config.idle_timeout;
    let mut last_data = Instant::now();
    let what = viewer.what;
    loop {
        tokio::select! {
            () = viewer.notify.notified() => {}
            () = sender.closed() => return,
            () = tokio::time::sleep(idle) => {}
        }
        let (batch, overflowed) = viewer.queue.take();
        if overflowed {
            warn!(
                "{what} viewer {} of {} fell too far behind; dropping it",
                viewer.peer, viewer.name
            );
            kill.notify_one();
            return;
        }
        if batch.is_empty() {
            if last_data.elapsed() >= idle {
                debug!(
                    "{what} viewer {} of {}: nothing for {idle:?}; ending",
                    viewer.peer, viewer.name
                );
                return;
            }
            continue;
        }
        last_data = Instant::now();
        let mut out = Vec::new();
        let (relayed, ended) = format.write_batch(batch, &mut out);
        if relayed > 0 {
            viewer.shared.relayed.fetch_add(relayed, Ordering::Relaxed);
        }
        if !out.is_empty() {
            match tokio::time::timeout(idle, sender.send(Bytes::from(out))).await {
                Ok(Ok(())) => {}
                // The client is gone.
                Ok(Err(_)) => return,
                Err(_) => {
                    warn!(
                        "{what} viewer {} of {} read nothing for {idle:?}; dropping it",
                        viewer.peer, viewer.name
                    );
                    kill.notify_one();
                    return;
                }
            }
        }
        if ended {
            debug!(
                "{what} viewer {}: {} is no longer published",
                viewer.peer, viewer.name
            );
            return;
        }
    }
}
