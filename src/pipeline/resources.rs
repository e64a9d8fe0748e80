//! The GPU resources that follow the frames' sizes: the input textures
//! and their bind group (re-created for a new input size), the output
//! buffers (storage, readbacks, face field, tile list; re-created for a new
//! output size), and the upload of a frame into the input textures.

use super::gpu_blocks::effect_tile_capacity;
use super::uniforms::{GeometryUniforms, OutputLayout};
use super::{FramePipeline, MAX_IN_FLIGHT};
use crate::effects::FaceField;
use crate::frame::{chroma_size, I420Frame, Plane};
use crate::geometry::OutputSize;
use crate::gpu::{checked, GpuContext, GpuError};

/// GPU textures that depend on the input size: Y as R8, U and V
/// interleaved as RG8.
pub(super) struct InputTextures {
    size: (u32, u32),
    pub(super) luma: wgpu::Texture,
    pub(super) chroma: wgpu::Texture,
    /// Binding 0 takes a dynamic offset: the uniforms slot of a dispatch.
    pub(super) bind_group: wgpu::BindGroup,
}

/// GPU buffers that depend on the output size.
pub(super) struct OutputBuffers {
    pub(super) layout: OutputLayout,
    pub(super) storage: wgpu::Buffer,
    /// One readback buffer per frame that may be in flight.
    pub(super) readbacks: [wgpu::Buffer; MAX_IN_FLIGHT],
    /// The face field ([`FaceField`]): four floats per grid point, row by
    /// row, in a storage buffer.
    pub(super) face_field: wgpu::Buffer,
    /// The first blocks of a tiled dispatch's tiles (two `u32` each).
    pub(super) tiles: wgpu::Buffer,
}

impl FramePipeline {
    pub(super) fn output_buffers(
        gpu: &GpuContext,
        size: OutputSize,
    ) -> Result<OutputBuffers, GpuError> {
        let layout = OutputLayout::new(size);
        let device = gpu.device();
        let (columns, rows) = FaceField::grid(size.width(), size.height());
        checked(device, || {
            let face_field = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("face field"),
                size: u64::from(columns) * u64::from(rows) * 16,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            OutputBuffers {
                layout,
                storage: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("packed I420 output"),
                    size: layout.len as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readbacks: std::array::from_fn(|_| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("I420 readback"),
                        size: layout.len as u64,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                }),
                face_field,
                tiles: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("effect tiles"),
                    size: effect_tile_capacity(&layout) as u64 * 8,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            }
        })
    }

    /// Makes sure the input textures fit a frame of this size.
    pub(super) fn prepare_input(&mut self, width: u32, height: u32) -> Result<(), GpuError> {
        if self
            .input
            .as_ref()
            .is_some_and(|i| i.size == (width, height))
        {
            return Ok(());
        }
        let device = self.gpu.device();
        let input = checked(device, || {
            let texture = |label, (w, h), format| {
                device.create_texture(&wgpu::TextureDescriptor {
                    label: Some(label),
                    size: wgpu::Extent3d {
                        width: w,
                        height: h,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            };
            let luma = texture("Y", (width, height), wgpu::TextureFormat::R8Unorm);
            let chroma = texture(
                "UV",
                chroma_size(width, height),
                wgpu::TextureFormat::Rg8Unorm,
            );
            let luma_view = luma.create_view(&Default::default());
            let chroma_view = chroma.create_view(&Default::default());
            let bind_group = |uniforms: &wgpu::Buffer| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("geometry bind group"),
                    layout: &self.bind_group_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: uniforms,
                                offset: 0,
                                size: wgpu::BufferSize::new(
                                    std::mem::size_of::<GeometryUniforms>() as u64,
                                ),
                            }),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::TextureView(&luma_view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: wgpu::BindingResource::TextureView(&chroma_view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: wgpu::BindingResource::Sampler(&self.sampler),
                        },
                        wgpu::BindGroupEntry {
                            binding: 4,
                            resource: self.output.storage.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 5,
                            resource: self.effect_uniforms.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 9,
                            resource: self.output.face_field.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 10,
                            resource: self.output.tiles.as_entire_binding(),
                        },
                    ],
                })
            };
            InputTextures {
                size: (width, height),
                luma,
                chroma,
                bind_group: bind_group(&self.uniforms),
            }
        })?;
        self.input = Some(input);
        Ok(())
    }
}

/// Copies the frame's planes into the input textures, interleaving U and V
/// on the way (`scratch` keeps the interleaved bytes between frames).
pub(super) fn upload(
    queue: &wgpu::Queue,
    input: &InputTextures,
    frame: &I420Frame,
    scratch: &mut Vec<u8>,
) {
    let (cw, ch) = frame.plane_size(Plane::U);
    scratch.clear();
    scratch.reserve(2 * (cw * ch) as usize);
    for y in 0..ch {
        let (u, v) = (frame.row(Plane::U, y), frame.row(Plane::V, y));
        scratch.extend(u.iter().zip(v).flat_map(|(&u, &v)| [u, v]));
    }
    let write = |texture, bytes: &[u8], bytes_per_row: usize, (width, height)| {
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(bytes_per_row as u32),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
    };
    write(
        &input.luma,
        frame.plane(Plane::Y),
        frame.stride(Plane::Y),
        frame.plane_size(Plane::Y),
    );
    write(&input.chroma, scratch, 2 * cw as usize, (cw, ch));
}
