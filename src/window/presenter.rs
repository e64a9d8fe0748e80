//! Draws I420 frames into a window's wgpu surface: the three planes are
//! uploaded as textures and converted to RGB in a render pass
//! (`shaders/window.wgsl`), placed by [`super::fit::place`] on every draw.

use std::sync::Arc;

use winit::window::Window;

use super::fit::place;
use super::WindowError;
use crate::color::ColorMatrix;
use crate::frame::{I420Frame, Plane};
use crate::gpu::{
    bind_group_in_order, clear_pass, full_screen_pipeline, one_group_pipeline_layout,
    stage_buffer_entry, stage_texture_entry, texture_2d, uniform_buffer, wgsl_module,
    whole_texture,
};
use crate::pipeline::WINDOW_SHADER;
use crate::player::ObjectFit;

/// The GPU objects every window shares: instance, adapter, device, queue.
pub(super) struct Gpu {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

impl Gpu {
    /// An adapter that can present to `surface` (as `WGPU_BACKEND`,
    /// `WGPU_POWER_PREF` say) and a device on it.
    pub fn for_surface(
        instance: wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, WindowError> {
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            force_fallback_adapter: false,
            compatible_surface: Some(surface),
            ..Default::default()
        }))
        .map_err(WindowError::Adapter)?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("liveroom window"),
            ..Default::default()
        }))
        .map_err(WindowError::Device)?;
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            log::error!("window GPU error: {error}");
        }));
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
        })
    }
}

/// The three plane textures of the frame on display.
struct Planes {
    size: (u32, u32),
    textures: [wgpu::Texture; 3],
    bind_group: wgpu::BindGroup,
}

/// One window's surface and drawing state.
pub(super) struct Presenter {
    pub window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    sampler: wgpu::Sampler,
    planes: Option<Planes>,
    fit: ObjectFit,
    srgb: bool,
}

impl Presenter {
    /// Sets up drawing into `surface` (made for `window`).
    pub fn new(
        gpu: &Gpu,
        window: Arc<Window>,
        surface: wgpu::Surface<'static>,
        fit: ObjectFit,
    ) -> Result<Self, WindowError> {
        let caps = surface.get_capabilities(&gpu.adapter);
        // A plain (not sRGB) format shows the video's codes as they are.
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or(WindowError::NoFormat)?;
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
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
        surface.configure(&gpu.device, &config);
        let device = &gpu.device;
        let module = wgsl_module(device, "window.wgsl", WINDOW_SHADER);
        let texture_entry =
            |binding| stage_texture_entry(binding, wgpu::ShaderStages::FRAGMENT, true);
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("window planes"),
            entries: &[
                stage_buffer_entry(
                    0,
                    wgpu::ShaderStages::VERTEX_FRAGMENT,
                    wgpu::BufferBindingType::Uniform,
                ),
                texture_entry(1),
                texture_entry(2),
                texture_entry(3),
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = one_group_pipeline_layout(device, "window", &layout);
        let colors: Vec<(String, f64)> = ColorMatrix::bt601_video_range()
            .shader_constants()
            .into_iter()
            .filter(|(name, _)| name.starts_with("YUV_"))
            .collect();
        let constants: Vec<(&str, f64)> = colors
            .iter()
            .map(|(name, value)| (name.as_str(), *value))
            .collect();
        let pipeline = full_screen_pipeline(
            device,
            "window",
            &pipeline_layout,
            &module,
            ("vs_main", "fs_main"),
            &constants,
            format,
        );
        let uniforms = uniform_buffer(device, "window placement", 32);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("window bilinear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            window,
            surface,
            config,
            pipeline,
            layout,
            uniforms,
            sampler,
            planes: None,
            fit,
            srgb: format.is_srgb(),
        })
    }

    /// Follows the window's new size.
    pub fn resize(&mut self, gpu: &Gpu, width: u32, height: u32) {
        if width == 0 || height == 0 {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&gpu.device, &self.config);
    }

    /// Uploads a frame to show (drawn on the next [`Presenter::draw`]).
    pub fn upload(&mut self, gpu: &Gpu, frame: &I420Frame) {
        let size = (frame.width(), frame.height());
        if self.planes.as_ref().map(|p| p.size) != Some(size) {
            self.planes = Some(self.make_planes(gpu, frame));
        }
        let Some(planes) = &self.planes else { return };
        for (plane, texture) in Plane::ALL.into_iter().zip(&planes.textures) {
            let (width, height) = frame.plane_size(plane);
            gpu.queue.write_texture(
                whole_texture(texture),
                frame.plane(plane),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(frame.stride(plane) as u32),
                    rows_per_image: Some(height),
                },
                wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
            );
        }
    }

    fn make_planes(&self, gpu: &Gpu, frame: &I420Frame) -> Planes {
        let textures = Plane::ALL.map(|plane| {
            let (width, height) = frame.plane_size(plane);
            texture_2d(
                &gpu.device,
                plane.name(),
                (width, height),
                wgpu::TextureFormat::R8Unorm,
                wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            )
        });
        let views = textures
            .each_ref()
            .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()));
        let bind_group = bind_group_in_order(
            &gpu.device,
            "window planes",
            &self.layout,
            [
                self.uniforms.as_entire_binding(),
                wgpu::BindingResource::TextureView(&views[0]),
                wgpu::BindingResource::TextureView(&views[1]),
                wgpu::BindingResource::TextureView(&views[2]),
                wgpu::BindingResource::Sampler(&self.sampler),
            ],
        );
        Planes {
            size: (frame.width(), frame.height()),
            textures,
            bind_group,
        }
    }

    /// Draws the frame on display (black before the first) into the
    /// window and presents it.
    pub fn draw(&mut self, gpu: &Gpu) {
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture)
            | wgpu::CurrentSurfaceTexture::Suboptimal(texture) => texture,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                // Reconfigured at the window's size; drawn on the next frame.
                let size = self.window.inner_size();
                self.resize(gpu, size.width, size.height);
                self.window.request_redraw();
                return;
            }
            _ => return,
        };
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("window draw"),
            });
        let target = (self.config.width, self.config.height);
        if let Some(planes) = &self.planes {
            let placed = place(self.fit, planes.size, target);
            let words: [f32; 8] = [
                placed.uv_offset[0],
                placed.uv_offset[1],
                placed.uv_scale[0],
                placed.uv_scale[1],
                if self.srgb { 1.0 } else { 0.0 },
                0.0,
                0.0,
                0.0,
            ];
            gpu.queue
                .write_buffer(&self.uniforms, 0, bytemuck::cast_slice(&words));
        }
        {
            let mut pass = clear_pass(&mut encoder, "window draw", &view);
            if let Some(planes) = &self.planes {
                let [x, y, width, height] = place(self.fit, planes.size, target).viewport;
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &planes.bind_group, &[]);
                pass.set_viewport(x, y, width, height, 0.0, 1.0);
                pass.draw(0..3, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        self.window.pre_present_notify();
        gpu.queue.present(texture);
    }
}
