//! A frame's rows shared between two threads: the CPU's effects
//! (`cpu_skin`, `cpu_warp`) each work on one output row at a time, so the
//! frame's planes are split at a row and each half goes to a thread.

use crate::frame::{I420Frame, Plane};

/// Rows of an output frame's planes for writing: the luma rows from
/// `first` (even) and their chroma rows.
pub(super) struct Rows<'a> {
    first: u32,
    pub(super) luma: &'a mut [u8],
    pub(super) u: &'a mut [u8],
    pub(super) v: &'a mut [u8],
    luma_stride: usize,
    chroma_stride: usize,
}

impl Rows<'_> {
    /// Index of luma pixel (x, y) (y from `first` on).
    pub(super) fn luma_at(&self, x: u32, y: u32) -> usize {
        (y - self.first) as usize * self.luma_stride + x as usize
    }

    /// Index of the chroma sample of luma pixel (x, y).
    pub(super) fn chroma_at(&self, x: u32, y: u32) -> usize {
        ((y - self.first) / 2) as usize * self.chroma_stride + (x / 2) as usize
    }

    /// The luma rows `y` (even) and `y + 1` (`None` past `height`) and
    /// their chroma rows, each `width` pixels long (chroma: half, rounded
    /// up), for work that goes along a row of 2×2 blocks.
    pub(super) fn block_row(&mut self, y: u32, width: u32, height: u32) -> BlockRow<'_> {
        let width = width as usize;
        let chroma_width = width.div_ceil(2);
        let start = (y - self.first) as usize * self.luma_stride;
        let split = self.luma_stride.min(self.luma.len() - start);
        let (top, rest) = self.luma[start..].split_at_mut(split);
        let bottom = (y + 1 < height).then(|| &mut rest[..width]);
        let chroma = ((y - self.first) / 2) as usize * self.chroma_stride;
        BlockRow {
            top: &mut top[..width],
            bottom,
            u: &mut self.u[chroma..chroma + chroma_width],
            v: &mut self.v[chroma..chroma + chroma_width],
        }
    }
}

impl Rows<'_> {
    /// Luma row `y` to write and its chroma rows to read, each `width`
    /// pixels long (chroma: half, rounded up).
    pub(super) fn luma_row(&mut self, y: u32, width: u32) -> (&mut [u8], &[u8], &[u8]) {
        let width = width as usize;
        let start = (y - self.first) as usize * self.luma_stride;
        let chroma = ((y - self.first) / 2) as usize * self.chroma_stride;
        let chroma_width = width.div_ceil(2);
        (
            &mut self.luma[start..start + width],
            &self.u[chroma..chroma + chroma_width],
            &self.v[chroma..chroma + chroma_width],
        )
    }
}

/// One row of 2×2 blocks (see [`Rows::block_row`]).
pub(super) struct BlockRow<'a> {
    /// The upper luma row.
    pub(super) top: &'a mut [u8],
    /// The lower luma row, if the frame has it.
    pub(super) bottom: Option<&'a mut [u8]>,
    /// The blocks' U samples.
    pub(super) u: &'a mut [u8],
    /// The blocks' V samples.
    pub(super) v: &'a mut [u8],
}

/// Runs `work` over the output rows `range` (even ends) in two halves, one
/// on this thread and one on another (both here if no thread can be
/// started), each with its rows of the planes.
pub(super) fn in_two_halves(
    out: &mut I420Frame,
    range: std::ops::Range<u32>,
    work: impl Fn(Rows<'_>, std::ops::Range<u32>) + Sync,
) {
    if range.is_empty() {
        return;
    }
    let middle = (range.start + (range.end - range.start) / 2) & !1;
    let (luma_stride, chroma_stride) = (out.stride(Plane::Y), out.stride(Plane::U));
    let (luma, u, v) = out.planes_mut();
    let (luma_top, luma_bottom) = luma.split_at_mut(middle as usize * luma_stride);
    let chroma_split = (middle / 2) as usize * chroma_stride;
    let (u_top, u_bottom) = u.split_at_mut(chroma_split);
    let (v_top, v_bottom) = v.split_at_mut(chroma_split);
    let rows = |first, luma, u, v| Rows {
        first,
        luma,
        u,
        v,
        luma_stride,
        chroma_stride,
    };
    let top = rows(0, luma_top, u_top, v_top);
    let bottom = rows(middle, luma_bottom, u_bottom, v_bottom);
    // The bottom half goes to the other thread through a slot, so that it
    // is still here to do if that thread cannot start.
    let bottom = std::sync::Mutex::new(Some((bottom, middle..range.end)));
    let take = || bottom.lock().ok().and_then(|mut slot| slot.take());
    let work = &work;
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("liveroom-rows".into())
            .spawn_scoped(scope, || {
                if let Some((rows, range)) = take() {
                    work(rows, range);
                }
            });
        work(top, range.start..middle);
        if spawned.is_err() {
            if let Some((rows, range)) = take() {
                work(rows, range);
            }
        }
    });
}
