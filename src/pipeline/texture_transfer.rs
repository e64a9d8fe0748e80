//! Moving pixels between CPU memory and textures, for apps, tests and
//! benchmarks that feed [`super::TextureFrame`]s or look at what
//! [`super::TextureTarget`]s received: a texture made with given pixels,
//! and a texture's pixels read back (both wait for nothing else).

use crate::gpu::{checked, texture_2d, GpuContext, GpuError};

/// A 2D texture of `format` and `size`, with `usage` (plus `COPY_DST`),
/// holding `bytes`: rows of `width × texel size` bytes, `stride` apart.
pub fn texture_with_pixels(
    gpu: &GpuContext,
    format: wgpu::TextureFormat,
    (width, height): (u32, u32),
    usage: wgpu::TextureUsages,
    bytes: &[u8],
    stride: usize,
) -> Result<wgpu::Texture, GpuError> {
    let texture = blank_texture(
        gpu,
        format,
        (width, height),
        usage | wgpu::TextureUsages::COPY_DST,
    )?;
    let texel = u64::from(format.block_copy_size(None).unwrap_or(1));
    let needed = (stride as u64) * u64::from(height.saturating_sub(1)) + texel * u64::from(width);
    if (bytes.len() as u64) < needed || (stride as u64) < texel * u64::from(width) {
        return Err(GpuError::Operation(format!(
            "{} bytes with stride {stride} cannot fill a {width}x{height} {format:?} texture",
            bytes.len()
        )));
    }
    checked(gpu.device(), || {
        gpu.queue().write_texture(
            texture.as_image_copy(),
            bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(stride as u32),
                rows_per_image: None,
            },
            texture.size(),
        )
    })?;
    Ok(texture)
}

/// An uninitialised 2D texture of `format`, `size` and `usage`, one mip
/// level, one sample.
pub fn blank_texture(
    gpu: &GpuContext,
    format: wgpu::TextureFormat,
    (width, height): (u32, u32),
    usage: wgpu::TextureUsages,
) -> Result<wgpu::Texture, GpuError> {
    checked(gpu.device(), || {
        texture_2d(
            gpu.device(),
            "liveroom frame texture",
            (width, height),
            format,
            usage,
        )
    })
}

/// A texture's pixels (mip level 0), rows tightly packed; it needs
/// `COPY_SRC`. Waits for the GPU.
pub fn read_texture(gpu: &GpuContext, texture: &wgpu::Texture) -> Result<Vec<u8>, GpuError> {
    let device = gpu.device();
    let texel = texture.format().block_copy_size(None).ok_or_else(|| {
        GpuError::Operation(format!("{:?} cannot be read back", texture.format()))
    })?;
    let (width, height) = (texture.width(), texture.height());
    let row = width * texel;
    let stride = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let buffer = checked(device, || {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("texture readback"),
            size: u64::from(stride) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(stride),
                    rows_per_image: None,
                },
            },
            texture.size(),
        );
        gpu.queue().submit([encoder.finish()]);
        buffer
    })?;
    let (sender, mapped) = std::sync::mpsc::channel();
    buffer.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = sender.send(result);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Operation(format!("waiting for the GPU: {e}")))?;
    mapped
        .recv()
        .map_err(|_| GpuError::Operation("texture readback was never mapped".into()))?
        .map_err(|e| GpuError::Operation(format!("mapping the texture readback: {e}")))?;
    let view = buffer
        .get_mapped_range(..)
        .map_err(|e| GpuError::Operation(format!("reading the texture readback: {e}")))?;
    let mut pixels = Vec::with_capacity((row * height) as usize);
    for y in 0..height as usize {
        let start = y * stride as usize;
        pixels.extend_from_slice(&view[start..start + row as usize]);
    }
    drop(view);
    buffer.unmap();
    Ok(pixels)
}
