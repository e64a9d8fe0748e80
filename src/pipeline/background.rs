//! The background pass (`shaders/background.wgsl`): blur or replace the
//! background of an I420 frame behind the person mask on the GPU, the
//! maths of [`crate::effects::apply_background`] at a few cells' cost
//! (see `crate::effects::background`).
//!
//! [`BackgroundPass::process`] takes a CPU frame and gives one back (upload,
//! four dispatches, readback); the replacement picture is uploaded once
//! ([`BackgroundPass::set_picture`]).

use crate::effects::{Background, BlurLevel};
use crate::face::PersonMask;
use crate::frame::{I420Frame, Plane};
use crate::gpu::{
    buffer_entry, buffer_layout_entry, checked, compute_pipelines, one_group_pipeline_layout,
    uniform_buffer, wgsl_module, GpuContext, GpuError,
};

/// The WGSL of the background pass.
pub const BACKGROUND_SHADER: &str = include_str!("../../shaders/background.wgsl");

const ENTRY_POINTS: [&str; 4] = ["bg_down", "bg_blur_x", "bg_blur_y", "bg_apply"];

/// The `Background` uniform block of the shader.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    frame: [u32; 4],
    offsets: [u32; 4],
    level: [u32; 4],
    grid: [u32; 4],
    fields: [u32; 4],
    weights: [[f32; 4]; 4],
}

/// A frame packed into 32-bit words: rows padded to whole words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packing {
    width: u32,
    height: u32,
    luma_words: u32,
    chroma_words: u32,
    u_offset: u32,
    v_offset: u32,
    words: u32,
}

impl Packing {
    fn new(width: u32, height: u32) -> Self {
        let (cw, ch) = crate::frame::chroma_size(width, height);
        let luma_words = width.div_ceil(4);
        let chroma_words = cw.div_ceil(4);
        let u_offset = luma_words * height;
        let v_offset = u_offset + chroma_words * ch;
        Self {
            width,
            height,
            luma_words,
            chroma_words,
            u_offset,
            v_offset,
            words: v_offset + chroma_words * ch,
        }
    }

    fn pack(&self, frame: &I420Frame) -> Vec<u8> {
        let mut bytes = vec![0u8; self.words as usize * 4];
        for (plane, (offset, words)) in Plane::ALL.into_iter().zip([
            (0, self.luma_words),
            (self.u_offset, self.chroma_words),
            (self.v_offset, self.chroma_words),
        ]) {
            let (w, h) = frame.plane_size(plane);
            for y in 0..h {
                let at = ((offset + y * words) * 4) as usize;
                bytes[at..at + w as usize].copy_from_slice(&frame.row(plane, y)[..w as usize]);
            }
        }
        bytes
    }

    fn unpack(&self, bytes: &[u8], into: &mut I420Frame) {
        for (plane, (offset, words)) in Plane::ALL.into_iter().zip([
            (0, self.luma_words),
            (self.u_offset, self.chroma_words),
            (self.v_offset, self.chroma_words),
        ]) {
            let (w, h) = into.plane_size(plane);
            for y in 0..h {
                let at = ((offset + y * words) * 4) as usize;
                into.row_mut(plane, y)[..w as usize].copy_from_slice(&bytes[at..at + w as usize]);
            }
        }
    }
}

/// Buffers for one frame size and mask size.
struct Sized {
    packing: Packing,
    mask_size: (usize, usize),
    frame: wgpu::Buffer,
    picture: wgpu::Buffer,
    mask: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// The compiled background pass and its buffers.
pub struct BackgroundPass {
    gpu: GpuContext,
    layout: wgpu::BindGroupLayout,
    passes: [wgpu::ComputePipeline; 4],
    uniforms: wgpu::Buffer,
    sized: Option<Sized>,
    /// The replacement picture, packed, waiting for its upload.
    picture: Option<(u32, u32, Vec<u8>)>,
    picture_uploaded: bool,
}

impl BackgroundPass {
    /// Compiles the pass.
    pub fn new(gpu: &GpuContext) -> Result<Self, GpuError> {
        let device = gpu.device();
        checked(device, || {
            let module = wgsl_module(device, "background.wgsl", BACKGROUND_SHADER);
            let storage = |read_only| wgpu::BufferBindingType::Storage { read_only };
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("background bindings"),
                entries: &[
                    buffer_layout_entry(0, wgpu::BufferBindingType::Uniform),
                    buffer_layout_entry(1, storage(false)),
                    buffer_layout_entry(2, storage(true)),
                    buffer_layout_entry(3, storage(true)),
                    buffer_layout_entry(4, storage(false)),
                ],
            });
            let pipeline_layout = one_group_pipeline_layout(device, "background layout", &layout);
            let passes = compute_pipelines(device, &pipeline_layout, &module, ENTRY_POINTS);
            let uniforms = uniform_buffer(
                device,
                "background uniforms",
                std::mem::size_of::<Uniforms>() as u64,
            );
            Self {
                gpu: gpu.clone(),
                layout,
                passes,
                uniforms,
                sized: None,
                picture: None,
                picture_uploaded: false,
            }
        })
    }

    /// Sets the replacement picture (frames must then have its size), or
    /// `None` to blur the frames' own background; uploaded once, with the
    /// next frame.
    pub fn set_picture(&mut self, picture: Option<&I420Frame>) {
        self.picture = picture.map(|p| {
            let packing = Packing::new(p.width(), p.height());
            (p.width(), p.height(), packing.pack(p))
        });
        self.picture_uploaded = false;
    }

    fn buffers(&mut self, packing: Packing, mask_size: (usize, usize)) -> Result<(), GpuError> {
        if self
            .sized
            .as_ref()
            .is_some_and(|s| s.packing == packing && s.mask_size == mask_size)
        {
            return Ok(());
        }
        let device = self.gpu.device();
        // The most cells any level needs: luma cells of 2 pixels.
        let grid = |cell: u32| {
            let (cw, ch) = crate::frame::chroma_size(packing.width, packing.height);
            let chroma = (cw.div_ceil(cell / 2), ch.div_ceil(cell / 2));
            (
                packing.width.div_ceil(cell) * packing.height.div_ceil(cell),
                chroma.0 * chroma.1,
            )
        };
        let (luma_cells, chroma_cells) = grid(2);
        let field = u64::from(luma_cells + 2 * chroma_cells);
        let sized = checked(device, || {
            let buffer = |label, size: u64, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: size.max(16),
                    usage,
                    mapped_at_creation: false,
                })
            };
            use wgpu::BufferUsages as U;
            let bytes = u64::from(packing.words) * 4;
            let frame = buffer(
                "background frame",
                bytes,
                U::STORAGE | U::COPY_DST | U::COPY_SRC,
            );
            let picture = buffer("background picture", bytes, U::STORAGE | U::COPY_DST);
            let mask = buffer(
                "person mask",
                (mask_size.0 * mask_size.1 * 4) as u64,
                U::STORAGE | U::COPY_DST,
            );
            let cells = buffer("background cells", 2 * field * 8, U::STORAGE);
            let readback = buffer("background readback", bytes, U::MAP_READ | U::COPY_DST);
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("background bind group"),
                layout: &self.layout,
                entries: &[
                    buffer_entry(0, &self.uniforms),
                    buffer_entry(1, &frame),
                    buffer_entry(2, &picture),
                    buffer_entry(3, &mask),
                    buffer_entry(4, &cells),
                ],
            });
            Sized {
                packing,
                mask_size,
                frame,
                picture,
                mask,
                readback,
                bind_group,
            }
        })?;
        self.sized = Some(sized);
        self.picture_uploaded = false;
        Ok(())
    }

    /// The frame with its background blurred or replaced behind `mask`
    /// (`background.image` is ignored: the picture is
    /// [`BackgroundPass::set_picture`]'s); the frame itself when
    /// nothing is to be done.
    pub fn process(
        &mut self,
        frame: &I420Frame,
        mask: &PersonMask,
        blur: f32,
    ) -> Result<I420Frame, GpuError> {
        let replace = self.picture.is_some();
        if !(Background { blur, image: None }).is_active() && !replace {
            return Ok(frame.clone());
        }
        if let Some((w, h, _)) = &self.picture {
            if (*w, *h) != (frame.width(), frame.height()) {
                return Err(GpuError::Operation(format!(
                    "background picture is {w}x{h}, the frame {}x{}",
                    frame.width(),
                    frame.height()
                )));
            }
        }
        let packing = Packing::new(frame.width(), frame.height());
        self.buffers(packing, (mask.width(), mask.height()))?;
        let Some(sized) = self.sized.as_ref() else {
            return Err(GpuError::Operation("background buffers missing".into()));
        };
        let queue = self.gpu.queue();
        if !self.picture_uploaded {
            if let Some((_, _, bytes)) = &self.picture {
                queue.write_buffer(&sized.picture, 0, bytes);
            }
            self.picture_uploaded = true;
        }
        let level = BlurLevel::new(blur, frame.width(), frame.height());
        let mut weights = [[0.0f32; 4]; 4];
        for (i, w) in level.weights().into_iter().enumerate() {
            weights[i / 4][i % 4] = w;
        }
        let (cw, ch) = crate::frame::chroma_size(frame.width(), frame.height());
        let chroma_cell = level.cell / 2;
        let grid = [
            frame.width().div_ceil(level.cell),
            frame.height().div_ceil(level.cell),
            cw.div_ceil(chroma_cell),
            ch.div_ceil(chroma_cell),
        ];
        let luma_cells = grid[0] * grid[1];
        let chroma_cells = grid[2] * grid[3];
        let uniforms = Uniforms {
            frame: [
                frame.width(),
                frame.height(),
                packing.luma_words,
                packing.chroma_words,
            ],
            offsets: [
                packing.u_offset,
                packing.v_offset,
                mask.width() as u32,
                mask.height() as u32,
            ],
            level: [
                level.cell,
                level.taps,
                u32::from(replace),
                u32::from(blur > 0.0),
            ],
            grid,
            fields: [
                luma_cells,
                luma_cells + chroma_cells,
                luma_cells + 2 * chroma_cells,
                0,
            ],
            weights,
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        queue.write_buffer(&sized.frame, 0, &packing.pack(frame));
        queue.write_buffer(&sized.mask, 0, bytemuck::cast_slice(mask.values()));
        let device = self.gpu.device();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("background"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("background"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &sized.bind_group, &[]);
            let groups = |w: u32, h: u32| (w.div_ceil(8), h.div_ceil(8));
            if blur > 0.0 {
                let cells = groups(grid[0], grid[1]);
                for pipeline in &self.passes[..3] {
                    pass.set_pipeline(pipeline);
                    pass.dispatch_workgroups(cells.0, cells.1, 3);
                }
            }
            let words = groups(packing.luma_words, frame.height());
            pass.set_pipeline(&self.passes[3]);
            pass.dispatch_workgroups(words.0, words.1, 3);
        }
        let bytes = u64::from(packing.words) * 4;
        encoder.copy_buffer_to_buffer(&sized.frame, 0, &sized.readback, 0, bytes);
        let submission = queue.submit([encoder.finish()]);
        let (sender, mapped) = std::sync::mpsc::channel();
        sized
            .readback
            .map_async(wgpu::MapMode::Read, .., move |result| {
                let _ = sender.send(result);
            });
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| GpuError::Operation(format!("waiting for the GPU: {e}")))?;
        mapped
            .recv()
            .map_err(|_| GpuError::Operation("readback was never mapped".into()))?
            .map_err(|e| GpuError::Operation(format!("mapping the readback buffer: {e}")))?;
        let mut out = frame.clone();
        {
            let view = sized
                .readback
                .get_mapped_range(..)
                .map_err(|e| GpuError::Operation(format!("reading the readback: {e}")))?;
            packing.unpack(&view, &mut out);
        }
        sized.readback.unmap();
        Ok(out)
    }
}
