//! The beauty effects drawn straight into a window: a winit + wgpu app
//! opens a window, makes a surface and its own device for it, shares the
//! device with liveroom (`GpuContext::from_wgpu`), and every frame has the
//! pipeline draw the effects from the photo's texture into the surface's
//! texture, then presents it. No frame goes through the CPU.
//!
//! The strengths (whiteness, smoothness, thinness, eye bigness) swell and
//! fade every three seconds so that the effects are seen working;
//! `--still` holds them at their top values. Faces come from the built-in
//! landmarker, once (models placed by `scripts/setup.sh`); without its
//! models the effects that need no face still run.
//!
//! ```text
//! cargo run --release --example present_effects -- [PHOTO] [--frames N] [--fps RATE] [--still]
//! ```
//! (default photo `assets/photos/astronaut.png`). `q`, Escape or closing
//! the window quits; `--frames N` quits after N frames shown, `--fps RATE`
//! shows at most RATE frames a second. The frame rate is printed at the
//! end.

use std::error::Error;
use std::f32::consts::TAU;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liveroom::color::rgb_image_to_i420;
use liveroom::effects::EffectParams;
use liveroom::face::{BuiltinLandmarker, FaceLandmarker, LandmarkerConfig, ModelPaths};
use liveroom::frame_formats::{ChannelOrder, RgbaFrame};
use liveroom::geometry::OutputSize;
use liveroom::landmarks::FaceLandmarks;
use liveroom::pipeline::texture_transfer::texture_with_pixels;
use liveroom::pipeline::{TextureFrame, TextureTarget};
use liveroom::{FrameParams, FramePipeline, GpuContext};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

/// Whiteness, smoothness, thinness and eye bigness at their top (the
/// values `--still` shows; tests/windows.rs renders the same).
const STRENGTHS: [f32; 4] = [0.7, 0.8, 0.6, 0.6];

/// One swell and fade of the strengths.
const PERIOD: Duration = Duration::from_secs(3);

/// The window's title.
const TITLE: &str = "liveroom present_effects";

type BoxError = Box<dyn Error>;

/// What the command line asks for.
struct Args {
    photo: String,
    frames: Option<u64>,
    fps: Option<f64>,
    still: bool,
}

impl Args {
    fn parse() -> Result<Self, BoxError> {
        let mut args = Args {
            photo: "assets/photos/astronaut.png".into(),
            frames: None,
            fps: None,
            still: false,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let mut value = |name: &str| words.next().ok_or(format!("{name} needs a value"));
            match word.as_str() {
                "--frames" => args.frames = Some(value("--frames")?.parse()?),
                "--fps" => {
                    let fps: f64 = value("--fps")?.parse()?;
                    if !(fps.is_finite() && fps > 0.0) {
                        return Err(format!("--fps {fps}: must be above 0").into());
                    }
                    args.fps = Some(fps);
                }
                "--still" => args.still = true,
                flag if flag.starts_with("--") => return Err(format!("unknown {flag}").into()),
                photo => args.photo = photo.into(),
            }
        }
        Ok(args)
    }
}

/// The window and everything drawn into it.
struct Shown {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    /// The app's device and queue, shared with the pipeline.
    gpu: GpuContext,
    pipeline: FramePipeline,
    /// The photo, the pipeline's input every frame.
    photo: wgpu::Texture,
    /// When the first frame was drawn, and how many since.
    started: Option<Instant>,
    frames: u64,
    /// When the next frame is due (`--fps`).
    due: Instant,
}

/// The app: the photo and its faces, and the window once open.
struct App {
    args: Args,
    picture: image::RgbImage,
    faces: Vec<FaceLandmarks>,
    shown: Option<Shown>,
    /// What ended the app, if not the user.
    failure: Option<BoxError>,
}

impl App {
    /// Opens the window with a surface, and the device and pipeline.
    fn open(&self, event_loop: &ActiveEventLoop) -> Result<Shown, BoxError> {
        let (width, height) = self.picture.dimensions();
        let attributes = Window::default_attributes()
            .with_title(TITLE)
            .with_inner_size(PhysicalSize::new(width, height))
            // The pipeline's output has even sides: keep the photo's.
            .with_resizable(false);
        let window = Arc::new(event_loop.create_window(attributes)?);

        // The app's own instance, surface, adapter and device.
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let surface = instance.create_surface(Arc::clone(&window))?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            compatible_surface: Some(&surface),
            ..Default::default()
        }))?;
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("present_effects"),
                required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
                ..Default::default()
            }))?;
        let caps = surface.get_capabilities(&adapter);
        // A format the pipeline draws into; plain before sRGB (both show
        // the same picture, see liveroom::pipeline::texture_frames).
        use wgpu::TextureFormat as F;
        let format = [
            F::Bgra8Unorm,
            F::Rgba8Unorm,
            F::Bgra8UnormSrgb,
            F::Rgba8UnormSrgb,
        ]
        .into_iter()
        .find(|format| caps.formats.contains(format))
        .ok_or_else(|| format!("the surface offers none of RGBA8/BGRA8: {:?}", caps.formats))?;
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            // The pipeline renders into the surface's texture.
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: Default::default(),
            width: size.width.max(1),
            height: size.height.max(1),
            desired_maximum_frame_latency: 2,
            present_mode: wgpu::PresentMode::Fifo,
            alpha_mode: caps
                .alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto),
            view_formats: vec![],
        };
        surface.configure(&device, &config);
        // Shared, not copied: liveroom renders on the app's device and queue.
        let gpu = GpuContext::from_wgpu(device, queue, adapter.get_info());

        let pixels = RgbaFrame::from_rgb_image(&self.picture, ChannelOrder::Rgba, Duration::ZERO)?;
        let photo = texture_with_pixels(
            &gpu,
            F::Rgba8Unorm,
            (width, height),
            wgpu::TextureUsages::TEXTURE_BINDING,
            pixels.data(),
            pixels.stride(),
        )?;
        let output = OutputSize::new(config.width & !1, config.height & !1)?;
        let pipeline = FramePipeline::new(&gpu, output)?;
        println!(
            "{}x{} window, surface {format:?}, on {}",
            config.width,
            config.height,
            gpu.adapter_summary()
        );
        Ok(Shown {
            window,
            surface,
            config,
            gpu,
            pipeline,
            photo,
            started: None,
            frames: 0,
            due: Instant::now(),
        })
    }

    /// The strengths `elapsed` into the show.
    fn effects(&self, elapsed: Duration) -> Result<EffectParams, BoxError> {
        let level = match self.args.still {
            true => 1.0,
            false => 0.5 - 0.5 * (TAU * elapsed.as_secs_f32() / PERIOD.as_secs_f32()).cos(),
        };
        let [white, smooth, thin, eyes] = STRENGTHS.map(|top| (top * level).clamp(0.0, 1.0));
        Ok(EffectParams::new(white, smooth, thin, eyes)?)
    }

    /// Draws one frame into the surface and presents it; `true` when the
    /// frames asked for are all shown.
    fn draw(&mut self) -> Result<bool, BoxError> {
        let elapsed = match self.shown.as_ref().and_then(|shown| shown.started) {
            Some(started) => started.elapsed(),
            None => Duration::ZERO,
        };
        let params = FrameParams {
            effects: self.effects(elapsed)?,
            faces: self.faces.clone(),
            ..Default::default()
        };
        let Some(shown) = self.shown.as_mut() else {
            return Ok(false);
        };
        if !is_even(shown.config.width, shown.config.height) {
            // Nothing the pipeline can fill exactly; wait for another size.
            return Ok(false);
        }
        let drawing = Instant::now();
        let texture = match shown.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture)
            | wgpu::CurrentSurfaceTexture::Suboptimal(texture) => texture,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                shown.surface.configure(shown.gpu.device(), &shown.config);
                return Ok(false);
            }
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                return Ok(false)
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                return Err("the surface's texture failed wgpu's validation".into())
            }
        };
        let frame = TextureFrame::Rgb {
            texture: &shown.photo,
            timestamp: elapsed,
        };
        // The effects, drawn into the texture the window shows next.
        shown
            .pipeline
            .render_texture(&frame, &params, &TextureTarget::Rgb(&texture.texture))?;
        shown.window.pre_present_notify();
        shown.gpu.queue().present(texture);

        let now = Instant::now();
        shown.started.get_or_insert(drawing);
        shown.frames += 1;
        shown.due = match self.args.fps {
            // Late frames are not made up for.
            Some(fps) => (shown.due + Duration::from_secs_f64(1.0 / fps)).max(now),
            None => now,
        };
        Ok(self.args.frames.is_some_and(|n| shown.frames >= n))
    }

    /// Follows the window's new size (the surface, and the pipeline's
    /// output where the sides are even).
    fn resize(&mut self, size: PhysicalSize<u32>) -> Result<(), BoxError> {
        let Some(shown) = self.shown.as_mut() else {
            return Ok(());
        };
        if size.width == 0 || size.height == 0 {
            return Ok(());
        }
        shown.config.width = size.width;
        shown.config.height = size.height;
        shown.surface.configure(shown.gpu.device(), &shown.config);
        if is_even(size.width, size.height) {
            shown
                .pipeline
                .set_output_size(OutputSize::new(size.width, size.height)?)?;
        }
        Ok(())
    }

    /// Ends the app with `error`.
    fn fail(&mut self, event_loop: &ActiveEventLoop, error: BoxError) {
        self.failure = Some(error);
        event_loop.exit();
    }
}

/// Whether both sides are even, as the pipeline's output needs.
fn is_even(width: u32, height: u32) -> bool {
    width.is_multiple_of(2) && height.is_multiple_of(2)
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.shown.is_some() {
            return;
        }
        match self.open(event_loop) {
            Ok(shown) => {
                shown.window.request_redraw();
                self.shown = Some(shown);
            }
            Err(error) => self.fail(event_loop, error),
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                let quit = match event.logical_key.as_ref() {
                    Key::Character(text) => text.eq_ignore_ascii_case("q"),
                    Key::Named(NamedKey::Escape) => true,
                    _ => false,
                };
                if quit {
                    event_loop.exit();
                }
            }
            WindowEvent::Resized(size) => {
                if let Err(error) = self.resize(size) {
                    self.fail(event_loop, error);
                }
            }
            WindowEvent::RedrawRequested => match self.draw() {
                Ok(true) => event_loop.exit(),
                Ok(false) => {}
                Err(error) => self.fail(event_loop, error),
            },
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        // The next frame now, or at its time under `--fps`.
        if let Some(shown) = &self.shown {
            if Instant::now() >= shown.due {
                shown.window.request_redraw();
            } else {
                event_loop.set_control_flow(ControlFlow::WaitUntil(shown.due));
            }
        }
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse()?;
    // The pipeline takes even sides (4:2:0 inside).
    let picture = image::open(&args.photo)?.to_rgb8();
    let (width, height) = (picture.width() & !1, picture.height() & !1);
    let picture = image::imageops::crop_imm(&picture, 0, 0, width, height).to_image();
    let faces = match BuiltinLandmarker::new(&ModelPaths::from_env(), LandmarkerConfig::default()) {
        Ok(mut landmarker) => landmarker.landmarks(&rgb_image_to_i420(&picture)?)?,
        Err(error) => {
            eprintln!("no landmarker ({error}): no face effects");
            Vec::new()
        }
    };
    println!("{} face(s) found in {}", faces.len(), args.photo);

    let mut app = App {
        args,
        picture,
        faces,
        shown: None,
        failure: None,
    };
    EventLoop::new()?.run_app(&mut app)?;
    if let Some(error) = app.failure {
        return Err(error);
    }
    match app
        .shown
        .as_ref()
        .and_then(|s| s.started.map(|t| (s.frames, t)))
    {
        Some((frames, started)) => {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{frames} frames presented in {seconds:.2} s: {:.1} frames/s",
                frames as f64 / seconds
            );
        }
        None => println!("no frame presented"),
    }
    Ok(())
}
