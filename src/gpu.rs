//! The GPU context: adapter, device and queue, chosen from the environment
//! or handed over by an application that already renders with wgpu.
//!
//! Environment: `WGPU_BACKEND` (e.g. `vulkan`, `gl`) limits the backends
//! tried; `WGPU_ADAPTER_NAME` picks the first adapter whose name contains the
//! given text (case-insensitive); `WGPU_POWER_PREF` (`low`/`high`) is passed
//! on. The software fallback is never forced: on a machine without a GPU the
//! Vulkan driver itself may be a software one (Mesa's lavapipe).

use std::sync::{Arc, Once};

use thiserror::Error;

/// Why no GPU context could be made.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter matched the environment, or none exists at all.
    #[error(
        "no GPU adapter found{detail}; install a Vulkan driver (on Debian: \
         `apt-get install mesa-vulkan-drivers libvulkan1`, which brings the lavapipe \
         software driver) or check WGPU_BACKEND / WGPU_ADAPTER_NAME"
    )]
    NoAdapter {
        /// What was asked for, if anything.
        detail: String,
    },
    /// The adapter refused to create a device.
    #[error("the GPU adapter {adapter} could not create a device: {reason}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        reason: String,
    },
    /// A GPU operation failed (validation, out of memory, device lost).
    #[error("GPU operation failed: {0}")]
    Operation(String),
}

/// A device and queue with the adapter they came from.
///
/// Cheap to clone; all clones share the device.
#[derive(Clone, Debug)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: Arc<wgpu::AdapterInfo>,
}

static LOG_ADAPTER: Once = Once::new();

impl GpuContext {
    /// Picks an adapter as the environment says (see the module docs) and
    /// creates a device with default limits. Logs the adapter once per process.
    pub fn from_env() -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(pick_adapter(&instance))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("liveroom"),
            required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        // wgpu's default handler panics; our passes check errors through
        // error scopes, so anything else is only worth a log line.
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            log::error!("uncaptured GPU error: {error}");
        }));
        Ok(Self::from_wgpu(device, queue, info))
    }

    /// Wraps a device and queue the application already has, so liveroom
    /// shares them instead of opening its own.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        LOG_ADAPTER.call_once(|| {
            log::info!("GPU adapter: {}", describe(&info));
        });
        Self {
            device,
            queue,
            info: Arc::new(info),
        }
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// What the adapter says about itself.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// One line naming the adapter, its backend and type, e.g.
    /// `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn adapter_summary(&self) -> String {
        describe(&self.info)
    }

    /// Whether the adapter is a software rasteriser (lavapipe, llvmpipe, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

async fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter, GpuError> {
    let wanted_backends = std::env::var("WGPU_BACKEND").ok();
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
        let wanted = name.to_lowercase();
        let adapters = instance.enumerate_adapters(backends).await;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
            .ok_or_else(|| GpuError::NoAdapter {
                detail: format!(
                    " named like WGPU_ADAPTER_NAME={name:?} (adapters present: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            force_fallback_adapter: false,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter {
            detail: match wanted_backends {
                Some(b) => format!(" for WGPU_BACKEND={b:?} ({e})"),
                None => format!(" ({e})"),
            },
        })
}

/// Runs `work` inside validation and out-of-memory error scopes and turns
/// any error it raised into [`GpuError::Operation`].
pub(crate) fn checked<T>(device: &wgpu::Device, work: impl FnOnce() -> T) -> Result<T, GpuError> {
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let value = work();
    let memory_error = pollster::block_on(memory.pop());
    let validation_error = pollster::block_on(validation.pop());
    match memory_error.or(validation_error) {
        Some(error) => Err(GpuError::Operation(error.to_string())),
        None => Ok(value),
    }
}

/// A compute-stage buffer binding of the given type, for bind group layouts.
pub(crate) fn buffer_layout_entry(
    binding: u32,
    ty: wgpu::BufferBindingType,
) -> wgpu::BindGroupLayoutEntry {
    stage_buffer_entry(binding, wgpu::ShaderStages::COMPUTE, ty)
}

/// A compute-stage filterable 2D float texture binding.
pub(crate) fn texture_layout_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    stage_texture_entry(binding, wgpu::ShaderStages::COMPUTE, true)
}

/// A compute-stage filtering sampler binding.
pub(crate) fn sampler_layout_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
        count: None,
    }
}

/// A buffer binding of the given type seen by the given shader stages.
pub(crate) fn stage_buffer_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BufferBindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A 2D float texture binding seen by the given shader stages.
pub(crate) fn stage_texture_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    filterable: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

/// Compiles WGSL `source` into a shader module labelled `label`.
pub(crate) fn wgsl_module(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// A single-mip, single-sample 2D texture of `format`, `width` by `height`.
pub(crate) fn texture_2d(
    device: &wgpu::Device,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// Begins a render pass that clears `view` to black and stores what it
/// draws there.
pub(crate) fn clear_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    view: &wgpu::TextureView,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

/// A bind group over `layout` that binds the `i`-th of `resources` at
/// binding `i`.
pub(crate) fn bind_group_in_order<'a>(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: impl IntoIterator<Item = wgpu::BindingResource<'a>>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'a>> = (0..)
        .zip(resources)
        .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// A pipeline layout of the one bind group `bind_group_layout`.
pub(crate) fn one_group_pipeline_layout(
    device: &wgpu::Device,
    label: &str,
    bind_group_layout: &wgpu::BindGroupLayout,
) -> wgpu::PipelineLayout {
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(bind_group_layout)],
        immediate_size: 0,
    })
}

/// A bind-group entry binding the whole of `buffer` at `binding`.
pub(crate) fn buffer_entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

/// The compute pipeline of `module`'s `entry` point over `layout`,
/// labelled with it, the `constants` overriding the shader's.
pub(crate) fn compute_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

/// One compute pipeline per entry point of `module`, all over `layout`
/// (see [`compute_pipeline`]), without overrides.
pub(crate) fn compute_pipelines<const N: usize>(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry_points: [&str; N],
) -> [wgpu::ComputePipeline; N] {
    entry_points.map(|entry| compute_pipeline(device, layout, module, entry, &[]))
}

/// A uniform buffer of `size` bytes that the queue writes.
pub(crate) fn uniform_buffer(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A render pipeline drawing one full-screen triangle (no vertex buffers,
/// no blending) with `module`'s `vertex` and `fragment` entry points into
/// a `format` target, the `constants` overriding the shader's.
pub(crate) fn full_screen_pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    (vertex, fragment): (&str, &str),
    constants: &[(&str, f64)],
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let options = wgpu::PipelineCompilationOptions {
        constants,
        ..Default::default()
    };
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some(vertex),
            compilation_options: options.clone(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some(fragment),
            compilation_options: options,
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// All of a texture's mip level 0, for copies and writes.
pub(crate) fn whole_texture(texture: &wgpu::Texture) -> wgpu::TexelCopyTextureInfo<'_> {
    wgpu::TexelCopyTextureInfo {
        texture,
        mip_level: 0,
        origin: wgpu::Origin3d::ZERO,
        aspect: wgpu::TextureAspect::All,
    }
}
