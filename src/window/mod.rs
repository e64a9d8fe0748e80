//! Desktop windows that show frames: the pusher's preview (the plugin's
//! `startPreview`/`stopPreview`) and the player window (`requestFullScreen`,
//! with keys for `pause`/`resume` and `mute`).
//!
//! A window is a winit window with a wgpu surface, so it runs on a real GPU
//! and on a software Vulkan driver (lavapipe) alike; on a server, under
//! Xvfb. All windows live on one display thread (`display`), which owns
//! the event loop; [`VideoWindow`] is the handle other threads hold. Frames
//! are I420: [`VideoWindow::show`] hands one over, the presenter
//! (`presenter`) uploads its planes, converts them to RGB on the GPU and
//! draws them with the window's `objectFit` (`fit`), recomputed as the
//! window is resized. `f` toggles full screen in the window itself; every
//! key ([`WindowKey`]), full-screen change, resize and the window's
//! closing arrive on [`VideoWindow::events`].

mod display;
mod error;
mod fit;
mod presenter;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use winit::event_loop::EventLoopProxy;

pub use error::WindowError;
pub use fit::{place, Placement};

use crate::frame::I420Frame;
use crate::geometry::Orientation;
use crate::player::ObjectFit;
use display::Request;

/// How a window opens.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOptions {
    /// The title bar's text.
    pub title: String,
    /// Width in pixels (before the orientation).
    pub width: u32,
    /// Height in pixels (before the orientation).
    pub height: u32,
    /// How the picture fills the window: `contain` letterboxes it in
    /// black, `fillCrop` fills the window and crops the overflow.
    pub object_fit: ObjectFit,
    /// `Some(vertical)` opens the window taller than wide, `horizontal`
    /// wider than tall (the sides swapped if needed); `None` keeps them.
    pub orientation: Option<Orientation>,
}

impl Default for WindowOptions {
    fn default() -> Self {
        Self {
            title: "liveroom".into(),
            width: 640,
            height: 360,
            object_fit: ObjectFit::Contain,
            orientation: None,
        }
    }
}

impl WindowOptions {
    /// The size the window opens at, after the orientation.
    pub fn size(&self) -> (u32, u32) {
        let (width, height) = (self.width.max(1), self.height.max(1));
        let (long, short) = (width.max(height), width.min(height));
        match self.orientation {
            Some(Orientation::Vertical) => (short, long),
            Some(Orientation::Horizontal) => (long, short),
            None => (width, height),
        }
    }
}

/// A key the window reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKey {
    /// `f`: full screen toggled (the window does it itself).
    FullScreen,
    /// Space: pause or resume.
    Pause,
    /// `m`: mute or unmute.
    Mute,
    /// `q`: quit.
    Quit,
    /// Escape (leaves full screen when on).
    Escape,
}

/// What happens to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEvent {
    /// A key was pressed.
    Key(WindowKey),
    /// Full screen went on (`true`) or off: the plugin's `fullscreenChange`.
    FullscreenChange(bool),
    /// The window's drawing area has a new size.
    Resized {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The window was closed (by its user or by [`VideoWindow::close`]).
    Closed,
}

/// The newest frame waiting for the display thread, and whether the
/// window is still open.
#[derive(Debug, Default)]
struct FrameSlot {
    frame: Mutex<Option<I420Frame>>,
    closed: AtomicBool,
}

impl FrameSlot {
    /// Puts `frame` in; true when the slot was empty (the display thread
    /// must be told).
    fn put(&self, frame: &I420Frame) -> bool {
        match self.frame.lock() {
            Ok(mut slot) => slot.replace(frame.clone()).is_none(),
            Err(_) => false,
        }
    }

    fn take(&self) -> Option<I420Frame> {
        self.frame.lock().ok().and_then(|mut slot| slot.take())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// How long opening a window may take (the first one also picks the GPU).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// An open window showing frames. Dropping it closes the window.
pub struct VideoWindow {
    key: u64,
    proxy: EventLoopProxy<Request>,
    slot: Arc<FrameSlot>,
    events: Option<Receiver<WindowEvent>>,
}

impl std::fmt::Debug for VideoWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoWindow")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl VideoWindow {
    /// Opens a window (black until the first frame). Fails with
    /// [`WindowError::NoDisplay`] where there is no desktop.
    pub fn open(options: WindowOptions) -> Result<Self, WindowError> {
        static KEYS: AtomicU64 = AtomicU64::new(1);
        let key = KEYS.fetch_add(1, Ordering::Relaxed);
        let proxy = display::proxy()?;
        let slot = Arc::new(FrameSlot::default());
        let (events, received) = mpsc::channel();
        let (reply, answer) = mpsc::channel();
        proxy
            .send_event(Request::Open {
                key,
                options,
                slot: Arc::clone(&slot),
                events,
                reply,
            })
            .map_err(|_| WindowError::Closed)?;
        answer
            .recv_timeout(OPEN_TIMEOUT)
            .map_err(|_| WindowError::Closed)??;
        Ok(Self {
            key,
            proxy,
            slot,
            events: Some(received),
        })
    }

    /// Shows `frame` (a copy is kept until the display thread draws it;
    /// frames handed over faster than it draws replace each other).
    /// [`WindowError::Closed`] once the window is closed.
    pub fn show(&self, frame: &I420Frame) -> Result<(), WindowError> {
        if self.slot.is_closed() {
            return Err(WindowError::Closed);
        }
        if self.slot.put(frame) {
            self.proxy
                .send_event(Request::Frame(self.key))
                .map_err(|_| WindowError::Closed)?;
        }
        Ok(())
    }

    /// Whether the window is still open.
    pub fn is_open(&self) -> bool {
        !self.slot.is_closed()
    }

    /// Full screen on or off (the plugin's `requestFullScreen`).
    pub fn set_fullscreen(&self, on: bool) -> Result<(), WindowError> {
        self.proxy
            .send_event(Request::Fullscreen(self.key, on))
            .map_err(|_| WindowError::Closed)
    }

    /// The window's events (once; later calls get `None`).
    pub fn events(&mut self) -> Option<Receiver<WindowEvent>> {
        self.events.take()
    }

    /// Closes the window.
    pub fn close(self) {
        drop(self);
    }
}

impl Drop for VideoWindow {
    fn drop(&mut self) {
        self.slot.close();
        let _ = self.proxy.send_event(Request::Close(self.key));
    }
}
