//! The display thread: one winit event loop per process (winit allows no
//! second), on a thread of its own, holding every open window. Handles
//! talk to it through an event-loop proxy; it answers on each window's
//! event channel.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, WindowEvent as WinitEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Fullscreen, Window, WindowId};

use super::presenter::{Gpu, Presenter};
use super::{FrameSlot, WindowError, WindowEvent, WindowKey, WindowOptions};

/// What handles ask of the display thread.
pub(super) enum Request {
    /// Open a window; the answer says whether it opened.
    Open {
        key: u64,
        options: WindowOptions,
        slot: Arc<FrameSlot>,
        events: Sender<WindowEvent>,
        reply: Sender<Result<(), WindowError>>,
    },
    /// A new frame waits in the window's slot.
    Frame(u64),
    /// Full screen on or off.
    Fullscreen(u64, bool),
    /// Close the window.
    Close(u64),
}

/// The proxy to the display thread, started on first use.
pub(super) fn proxy() -> Result<EventLoopProxy<Request>, WindowError> {
    // winit allows one event loop per process: a failed start is final.
    static PROXY: OnceLock<Result<Mutex<EventLoopProxy<Request>>, String>> = OnceLock::new();
    let started = PROXY.get_or_init(|| {
        start().map(Mutex::new).map_err(|error| match error {
            WindowError::NoDisplay(reason) => reason,
            other => other.to_string(),
        })
    });
    match started {
        Ok(proxy) => proxy
            .lock()
            .map(|proxy| proxy.clone())
            .map_err(|_| WindowError::Closed),
        Err(message) => Err(WindowError::NoDisplay(message.clone())),
    }
}

fn start() -> Result<EventLoopProxy<Request>, WindowError> {
    let (answer, answered) = mpsc::channel();
    std::thread::Builder::new()
        .name("liveroom-display".into())
        .spawn(move || {
            let mut builder = EventLoop::<Request>::with_user_event();
            #[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
            {
                use winit::platform::x11::EventLoopBuilderExtX11;
                builder.with_any_thread(true);
            }
            let event_loop = match builder.build() {
                Ok(event_loop) => event_loop,
                Err(error) => {
                    let _ = answer.send(Err(WindowError::NoDisplay(error.to_string())));
                    return;
                }
            };
            let _ = answer.send(Ok(event_loop.create_proxy()));
            let mut display = Display::default();
            if let Err(error) = event_loop.run_app(&mut display) {
                log::error!("the display's event loop ended: {error}");
            }
        })
        .map_err(WindowError::Thread)?;
    answered
        .recv()
        .map_err(|_| WindowError::NoDisplay("the display thread ended".into()))?
}

/// An open window.
struct Open {
    key: u64,
    presenter: Presenter,
    slot: Arc<FrameSlot>,
    events: Sender<WindowEvent>,
}

/// The event loop's state.
#[derive(Default)]
struct Display {
    gpu: Option<Gpu>,
    windows: HashMap<WindowId, Open>,
}

impl Display {
    fn by_key(&mut self, key: u64) -> Option<&mut Open> {
        self.windows.values_mut().find(|open| open.key == key)
    }

    fn open(
        &mut self,
        event_loop: &ActiveEventLoop,
        options: &WindowOptions,
    ) -> Result<Presenter, WindowError> {
        let (width, height) = options.size();
        let attributes = Window::default_attributes()
            .with_title(options.title.clone())
            .with_inner_size(PhysicalSize::new(width, height));
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .map_err(WindowError::Create)?,
        );
        let gpu = match self.gpu.take() {
            Some(gpu) => gpu,
            None => {
                let instance = wgpu::Instance::new(
                    wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
                );
                let surface = instance
                    .create_surface(Arc::clone(&window))
                    .map_err(WindowError::Surface)?;
                let gpu = Gpu::for_surface(instance, &surface)?;
                let presenter = Presenter::new(&gpu, window, surface, options.object_fit);
                self.gpu = Some(gpu);
                return presenter;
            }
        };
        let surface = gpu.instance.create_surface(Arc::clone(&window));
        let presenter = surface
            .map_err(WindowError::Surface)
            .and_then(|surface| Presenter::new(&gpu, window, surface, options.object_fit));
        self.gpu = Some(gpu);
        presenter
    }

    fn close(&mut self, id: WindowId) {
        if let Some(open) = self.windows.remove(&id) {
            open.slot.close();
            let _ = open.events.send(WindowEvent::Closed);
        }
    }
}

impl ApplicationHandler<Request> for Display {
    fn resumed(&mut self, _event_loop: &ActiveEventLoop) {}

    fn user_event(&mut self, event_loop: &ActiveEventLoop, request: Request) {
        match request {
            Request::Open {
                key,
                options,
                slot,
                events,
                reply,
            } => match self.open(event_loop, &options) {
                Ok(presenter) => {
                    let id = presenter.window.id();
                    presenter.window.request_redraw();
                    self.windows.insert(
                        id,
                        Open {
                            key,
                            presenter,
                            slot,
                            events,
                        },
                    );
                    let _ = reply.send(Ok(()));
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                }
            },
            Request::Frame(key) => {
                let Some(gpu) = self.gpu.take() else { return };
                if let Some(open) = self.by_key(key) {
                    if let Some(frame) = open.slot.take() {
                        open.presenter.upload(&gpu, &frame);
                        open.presenter.window.request_redraw();
                    }
                }
                self.gpu = Some(gpu);
            }
            Request::Fullscreen(key, on) => {
                if let Some(open) = self.by_key(key) {
                    set_fullscreen(open, on);
                }
            }
            Request::Close(key) => {
                let id = self.by_key(key).map(|open| open.presenter.window.id());
                if let Some(id) = id {
                    self.close(id);
                }
            }
        }
    }

    fn window_event(&mut self, _event_loop: &ActiveEventLoop, id: WindowId, event: WinitEvent) {
        let Some(gpu) = self.gpu.take() else { return };
        match event {
            WinitEvent::CloseRequested => self.close(id),
            WinitEvent::Resized(size) => {
                if let Some(open) = self.windows.get_mut(&id) {
                    open.presenter.resize(&gpu, size.width, size.height);
                    open.presenter.window.request_redraw();
                    let _ = open.events.send(WindowEvent::Resized {
                        width: size.width,
                        height: size.height,
                    });
                }
            }
            WinitEvent::RedrawRequested => {
                if let Some(open) = self.windows.get_mut(&id) {
                    open.presenter.draw(&gpu);
                }
            }
            WinitEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                if let Some(open) = self.windows.get_mut(&id) {
                    let key = match event.logical_key.as_ref() {
                        Key::Character(text) => match text.to_lowercase().as_str() {
                            "f" => Some(WindowKey::FullScreen),
                            "m" => Some(WindowKey::Mute),
                            "q" => Some(WindowKey::Quit),
                            _ => None,
                        },
                        Key::Named(NamedKey::Space) => Some(WindowKey::Pause),
                        Key::Named(NamedKey::Escape) => Some(WindowKey::Escape),
                        _ => None,
                    };
                    match key {
                        Some(WindowKey::FullScreen) if !event.repeat => {
                            let on = open.presenter.window.fullscreen().is_none();
                            set_fullscreen(open, on);
                        }
                        Some(WindowKey::Escape) if open.presenter.window.fullscreen().is_some() => {
                            set_fullscreen(open, false);
                        }
                        _ => {}
                    }
                    if let Some(key) = key.filter(|_| !event.repeat) {
                        let _ = open.events.send(WindowEvent::Key(key));
                    }
                }
            }
            _ => {}
        }
        self.gpu = Some(gpu);
    }
}

/// Switches full screen (borderless, on the window's monitor) and says so
/// on the window's events.
fn set_fullscreen(open: &mut Open, on: bool) {
    let window = &open.presenter.window;
    if window.fullscreen().is_some() == on {
        return;
    }
    window.set_fullscreen(on.then_some(Fullscreen::Borderless(None)));
    let _ = open.events.send(WindowEvent::FullscreenChange(on));
}
