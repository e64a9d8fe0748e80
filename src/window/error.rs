//! Why a window could not be opened or drawn.

use thiserror::Error;

/// A window failure.
#[derive(Debug, Error)]
pub enum WindowError {
    /// No desktop to open windows on (no `DISPLAY`, no X server), or the
    /// event loop could not start.
    #[error("no display to open a window on ({0}); on a server run Xvfb and set DISPLAY")]
    NoDisplay(String),
    /// The window system refused the window.
    #[error("the window could not be created: {0}")]
    Create(#[source] winit::error::OsError),
    /// wgpu could not make a surface for the window.
    #[error("no GPU surface for the window: {0}")]
    Surface(#[source] wgpu::CreateSurfaceError),
    /// No adapter can present to the window.
    #[error("no GPU adapter can present to the window: {0}")]
    Adapter(#[source] wgpu::RequestAdapterError),
    /// The adapter refused a device.
    #[error("the GPU adapter refused a device for the window: {0}")]
    Device(#[source] wgpu::RequestDeviceError),
    /// The surface and the adapter share no format.
    #[error("the window's surface supports no format the adapter can render")]
    NoFormat,
    /// The window was closed, or its thread has ended.
    #[error("the window is closed")]
    Closed,
    /// The display thread could not be started.
    #[error("the display thread could not start: {0}")]
    Thread(#[source] std::io::Error),
}
