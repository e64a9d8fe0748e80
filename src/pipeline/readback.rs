//! The frames in flight ([`InFlight`]) and the way back from the GPU:
//! waiting for a frame's readback buffer to map, copying it out as a frame
//! or laying the blocks the GPU computed over the CPU's plain frame.

use super::cpu_skin::SkinWork;
use super::finish::FinishWork;
use super::uniforms::{BlockRegion, OutputLayout};
use super::PipelineError;
use crate::effects::FaceField;
use crate::frame::{I420Frame, Plane};
use crate::gpu::{GpuContext, GpuError};

/// A submitted frame: on the GPU, or already done on the CPU.
pub(super) enum InFlight {
    Gpu(GpuFrame),
    Ready(I420Frame),
}

/// A frame on the GPU: its readback slot, submission, the mapping's
/// outcome to wait for, and the input's timestamp.
pub(super) struct GpuFrame {
    pub(super) slot: usize,
    pub(super) submission: wgpu::SubmissionIndex,
    pub(super) mapped: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    pub(super) timestamp: std::time::Duration,
    /// The CPU's plain frame and the blocks the GPU computed, to be laid
    /// over it; `None` when the GPU computed the whole frame.
    pub(super) base: Option<(I420Frame, Vec<BlockRegion>)>,
    /// The skin effects, when the CPU does them after the GPU's part.
    pub(super) skin: Option<(SkinWork, FaceField)>,
    /// Sharpness and the colour filter, when the CPU does them last (with
    /// the frame's face field, if it has one).
    pub(super) finish: Option<Box<(FinishWork, Option<FaceField>)>>,
}

/// Copies the blocks of `region` from the packed GPU output `packed` into
/// `frame` (laid out as `layout`).
fn lay_over(frame: &mut I420Frame, packed: &[u8], layout: &OutputLayout, region: BlockRegion) {
    // A block is 8×2 luma pixels and 4×1 samples of each chroma plane.
    let luma_columns =
        region.x0 as usize * 8..(region.x1 as usize * 8).min(layout.luma_stride as usize);
    let chroma_columns =
        region.x0 as usize * 4..(region.x1 as usize * 4).min(layout.chroma_stride as usize);
    let planes = [
        (Plane::Y, 0, layout.luma_stride, 2, &luma_columns),
        (
            Plane::U,
            layout.u_offset,
            layout.chroma_stride,
            1,
            &chroma_columns,
        ),
        (
            Plane::V,
            layout.v_offset,
            layout.chroma_stride,
            1,
            &chroma_columns,
        ),
    ];
    for (plane, offset, stride, rows_per_block, columns) in planes {
        for y in region.y0 * rows_per_block..region.y1 * rows_per_block {
            let start = offset as usize + y as usize * stride as usize;
            let source = &packed[start + columns.start..start + columns.end];
            let stride = frame.stride(plane);
            let row = &mut frame.plane_mut(plane)[y as usize * stride..];
            row[columns.clone()].copy_from_slice(source);
        }
    }
}

/// Waits for a frame in flight and turns its readback buffer into a frame.
pub(super) fn read_back(
    gpu: &GpuContext,
    readback: &wgpu::Buffer,
    layout: &OutputLayout,
    flight: GpuFrame,
) -> Result<I420Frame, PipelineError> {
    gpu.device()
        .poll(wgpu::PollType::Wait {
            submission_index: Some(flight.submission),
            timeout: None,
        })
        .map_err(|e| GpuError::Operation(format!("waiting for the GPU: {e}")))?;
    flight
        .mapped
        .recv()
        .map_err(|_| GpuError::Operation("readback was never mapped".into()))?
        .map_err(|e| GpuError::Operation(format!("mapping the readback buffer: {e}")))?;
    let view = readback
        .get_mapped_range(..)
        .map_err(|e| GpuError::Operation(format!("reading the readback buffer: {e}")))?;
    let (u, v) = (layout.u_offset as usize, layout.v_offset as usize);
    if let Some((mut base, regions)) = flight.base {
        for region in regions {
            lay_over(&mut base, &view, layout, region);
        }
        drop(view);
        readback.unmap();
        return Ok(base);
    }
    let planes = [
        view[..u].to_vec(),
        view[u..v].to_vec(),
        view[v..layout.len as usize].to_vec(),
    ];
    drop(view);
    readback.unmap();
    let luma = layout.luma_stride as usize;
    let chroma = layout.chroma_stride as usize;
    Ok(I420Frame::from_planes(
        layout.width,
        layout.height,
        planes,
        [luma, chroma, chroma],
        flight.timestamp,
    )?)
}
