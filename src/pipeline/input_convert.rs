//! The pipeline's input from frames other than CPU I420: the compute pass
//! that converts an RGB texture (a caller's, or a CPU RGBA/BGRA frame
//! uploaded into one of ours) into the input textures, through a staging
//! buffer (`shaders/rgb_to_yuv420.wgsl`), and the exact copies of NV12
//! planes, from a caller's textures or from the CPU.

use crate::frame_formats::{ChannelOrder, Nv12Frame, RgbaFrame};
use crate::gpu::{
    bind_group_in_order, buffer_layout_entry, checked, one_group_pipeline_layout,
    stage_texture_entry, texture_2d, uniform_buffer, wgsl_module, whole_texture, GpuError,
};

/// The WGSL source of the RGB → 4:2:0 conversion.
pub const CONVERT_SHADER: &str = include_str!("../../shaders/rgb_to_yuv420.wgsl");

/// Staging rows are this many bytes aligned (what buffer → texture copies need).
const ROW_ALIGN: u32 = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;

/// The uniform block of `shaders/rgb_to_yuv420.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvertUniforms {
    size: [u32; 4],
    flags: [u32; 4],
}

/// Where the converted 4:2:0 frame goes: the pipeline's input textures.
pub(super) struct InputPlanes<'a> {
    /// Y, `R8Unorm`.
    pub(super) luma: &'a wgpu::Texture,
    /// U, V pairs, `Rg8Unorm`.
    pub(super) chroma: &'a wgpu::Texture,
}

/// The conversion pass and its buffers, made when a frame first needs
/// them; the staging buffer and the upload texture follow the input size.
pub(super) struct InputConverter {
    pipeline: wgpu::ComputePipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    /// Staging for the converted planes, with the input size it fits.
    staging: Option<((u32, u32), wgpu::Buffer)>,
    /// The texture CPU RGBA/BGRA frames are uploaded into.
    upload: Option<wgpu::Texture>,
}

/// Bytes per staging row for a frame `width` wide (luma and chroma rows
/// are both `width` bytes).
fn staging_stride(width: u32) -> u32 {
    width.next_multiple_of(ROW_ALIGN)
}

impl InputConverter {
    /// Compiles the pass with the colour matrix's constants.
    pub(super) fn new(
        device: &wgpu::Device,
        color_constants: &[(String, f64)],
    ) -> Result<Self, GpuError> {
        checked(device, || {
            let module = wgsl_module(device, "rgb_to_yuv420.wgsl", CONVERT_SHADER);
            let bind_group_layout =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("rgb to yuv420 bindings"),
                    entries: &[
                        buffer_layout_entry(0, wgpu::BufferBindingType::Uniform),
                        stage_texture_entry(1, wgpu::ShaderStages::COMPUTE, false),
                        buffer_layout_entry(
                            2,
                            wgpu::BufferBindingType::Storage { read_only: false },
                        ),
                    ],
                });
            let layout =
                one_group_pipeline_layout(device, "rgb to yuv420 layout", &bind_group_layout);
            let constants: Vec<(&str, f64)> = color_constants
                .iter()
                .filter(|(name, _)| {
                    name.starts_with("RGB_TO_YUV") || name.starts_with("YUV_OFFSET")
                })
                .map(|(name, value)| (name.as_str(), *value))
                .collect();
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("rgb_to_yuv420"),
                layout: Some(&layout),
                module: &module,
                entry_point: Some("rgb_to_yuv420"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    ..Default::default()
                },
                cache: None,
            });
            let uniforms = uniform_buffer(
                device,
                "rgb to yuv420 uniforms",
                std::mem::size_of::<ConvertUniforms>() as u64,
            );
            Self {
                pipeline,
                bind_group_layout,
                uniforms,
                staging: None,
                upload: None,
            }
        })
    }

    /// Writes a CPU RGBA/BGRA frame into the upload texture (made or
    /// re-made to fit it) and returns that texture, for
    /// [`InputConverter::encode`].
    pub(super) fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frame: &RgbaFrame,
    ) -> Result<&wgpu::Texture, GpuError> {
        let format = match frame.order() {
            ChannelOrder::Rgba => wgpu::TextureFormat::Rgba8Unorm,
            ChannelOrder::Bgra => wgpu::TextureFormat::Bgra8Unorm,
        };
        let size = (frame.width(), frame.height());
        let fits = self
            .upload
            .as_ref()
            .is_some_and(|t| (t.width(), t.height()) == size && t.format() == format);
        if !fits {
            let texture = checked(device, || {
                texture_2d(
                    device,
                    "RGB upload",
                    size,
                    format,
                    wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                )
            })?;
            self.upload = Some(texture);
        }
        let texture = self
            .upload
            .as_ref()
            .ok_or_else(|| GpuError::Operation("no RGB upload texture".into()))?;
        write_plane(queue, texture, frame.data(), frame.stride(), size);
        Ok(texture)
    }

    /// Encodes the conversion of `source` (an RGB texture of the input's
    /// size, checked by the caller) into `planes`.
    pub(super) fn encode(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::Texture,
        srgb: bool,
        planes: &InputPlanes<'_>,
    ) {
        let (width, height) = (source.width(), source.height());
        let stride = staging_stride(width);
        let rows = height + height / 2;
        if self
            .staging
            .as_ref()
            .is_none_or(|(size, _)| *size != (width, height))
        {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("yuv420 staging"),
                size: u64::from(stride) * u64::from(rows),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            self.staging = Some(((width, height), buffer));
        }
        let Some((_, staging)) = &self.staging else {
            return;
        };
        let uniforms = ConvertUniforms {
            size: [width, height, stride / 4, stride / 4 * height],
            flags: [u32::from(srgb), 0, 0, 0],
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let view = source.create_view(&Default::default());
        let bind_group = bind_group_in_order(
            device,
            "rgb to yuv420 bind group",
            &self.bind_group_layout,
            [
                self.uniforms.as_entire_binding(),
                wgpu::BindingResource::TextureView(&view),
                staging.as_entire_binding(),
            ],
        );
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("rgb to yuv420"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            // One invocation per 4×2 pixels, 8×8 invocations per workgroup.
            pass.dispatch_workgroups(width.div_ceil(4).div_ceil(8), (height / 2).div_ceil(8), 1);
        }
        let copy = |encoder: &mut wgpu::CommandEncoder, offset, texture, size| {
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: staging,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset,
                        bytes_per_row: Some(stride),
                        rows_per_image: None,
                    },
                },
                whole_texture(texture),
                extent(size),
            );
        };
        copy(encoder, 0, planes.luma, (width, height));
        let chroma_offset = u64::from(stride) * u64::from(height);
        copy(
            encoder,
            chroma_offset,
            planes.chroma,
            (width / 2, height / 2),
        );
    }
}

/// Encodes exact copies of a caller's NV12 textures into `planes`.
pub(super) fn copy_nv12(
    encoder: &mut wgpu::CommandEncoder,
    luma: &wgpu::Texture,
    chroma: &wgpu::Texture,
    planes: &InputPlanes<'_>,
) {
    for (from, to) in [(luma, planes.luma), (chroma, planes.chroma)] {
        encoder.copy_texture_to_texture(
            whole_texture(from),
            whole_texture(to),
            extent((from.width(), from.height())),
        );
    }
}

/// Writes a CPU NV12 frame's planes into `planes`, as they are.
pub(super) fn upload_nv12(queue: &wgpu::Queue, frame: &Nv12Frame, planes: &InputPlanes<'_>) {
    let (width, height) = (frame.width(), frame.height());
    write_plane(
        queue,
        planes.luma,
        frame.luma(),
        frame.luma_stride(),
        (width, height),
    );
    write_plane(
        queue,
        planes.chroma,
        frame.chroma(),
        frame.chroma_stride(),
        (width / 2, height / 2),
    );
}

fn extent((width, height): (u32, u32)) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width,
        height,
        depth_or_array_layers: 1,
    }
}

/// Writes rows `stride` bytes apart into the top-left `size` of `texture`.
fn write_plane(
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
    bytes: &[u8],
    stride: usize,
    size: (u32, u32),
) {
    queue.write_texture(
        whole_texture(texture),
        bytes,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(stride as u32),
            rows_per_image: None,
        },
        extent(size),
    );
}
