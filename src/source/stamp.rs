//! The frame stamp: a frame index written into the picture as a block code
//! that survives scaling, mirroring and H.264 at low bitrate, so the player
//! side can find lost, repeated or late frames by looking at pixels alone.
//!
//! The code is a grid of [`COLUMNS`] × [`ROWS`] square cells, black (Y = 16)
//! for 0 and white (Y = 235) for 1, row by row, most significant bit first:
//! 24 bits of frame index, then a CRC-8 of those three bytes. It sits at the
//! centre of the picture (the part every centre crop keeps) inside a grey
//! quiet zone one cell wide. Cells are `height / 24` pixels, so after a
//! geometry that keeps the source's full height the cell is
//! `output_height / 24`; with zoom, multiply by the zoom factor.

use crate::frame::{I420Frame, Plane};
use crate::geometry::GeometryPlan;

/// Cells per row of the code.
pub const COLUMNS: u32 = 8;
/// Rows of cells.
pub const ROWS: u32 = 4;
/// Bits of frame index carried (indices wrap modulo 2^24).
pub const INDEX_BITS: u32 = 24;

const BLACK: u8 = 16;
const WHITE: u8 = 235;
const QUIET: u8 = 128;

/// Cell side, in pixels, that [`draw`] uses for a picture of this height
/// (and that [`read`] expects when the picture was not rescaled).
pub fn cell_size_for_height(height: u32) -> f32 {
    (height / 24).max(2) as f32
}

/// Cell side in the output of a geometry plan whose input carried a stamp:
/// the input's cell scaled by the plan's vertical scale.
pub fn cell_size_after(plan: &GeometryPlan) -> f32 {
    cell_size_for_height(plan.input_height) / plan.scale_y
}

/// CRC-8 (polynomial 0x07, initial value 0, final XOR 0x5A) of the index
/// bytes. The final XOR keeps an all-black or all-white picture from reading
/// as a valid stamp.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc ^ 0x5A
}

/// The 32 bits drawn for an index, first cell first.
fn code_bits(index: u32) -> u32 {
    let index = index & ((1 << INDEX_BITS) - 1);
    let bytes = [(index >> 16) as u8, (index >> 8) as u8, index as u8];
    (index << 8) | crc8(&bytes) as u32
}

/// Draws the stamp for `index` at the centre of `frame` (luma only; the
/// chroma under the stamp is set neutral so the cells stay grey-scale).
pub fn draw(frame: &mut I420Frame, index: u32) {
    let cell = cell_size_for_height(frame.height()) as u32;
    let bits = code_bits(index);
    let (grid_w, grid_h) = ((COLUMNS + 2) * cell, (ROWS + 2) * cell);
    let x0 = (frame.width().saturating_sub(grid_w) / 2) & !1;
    let y0 = (frame.height().saturating_sub(grid_h) / 2) & !1;
    for gy in 0..grid_h.min(frame.height() - y0) {
        let row = gy / cell;
        let line = frame.row_mut(Plane::Y, y0 + gy);
        for gx in 0..grid_w.min(line.len() as u32 - x0) {
            let column = gx / cell;
            let inside = (1..=ROWS).contains(&row) && (1..=COLUMNS).contains(&column);
            line[(x0 + gx) as usize] = if inside {
                let bit = (row - 1) * COLUMNS + (column - 1);
                if bits >> (31 - bit) & 1 == 1 {
                    WHITE
                } else {
                    BLACK
                }
            } else {
                QUIET
            };
        }
    }
    for plane in [Plane::U, Plane::V] {
        let (cw, ch) = frame.plane_size(plane);
        for cy in (y0 / 2)..((y0 + grid_h) / 2).min(ch) {
            let line = frame.row_mut(plane, cy);
            let end = ((x0 + grid_w) / 2).min(cw) as usize;
            line[(x0 / 2) as usize..end].fill(128);
        }
    }
}

/// Reads the stamp from the centre of `frame`, given the cell size in this
/// frame's pixels (see [`cell_size_for_height`]). Mirrored pictures read too.
/// `None` when a cell is ambiguous or the checksum fails in both directions.
pub fn read(frame: &I420Frame, cell: f32) -> Option<u32> {
    let (width, height) = (frame.width() as f32, frame.height() as f32);
    let left = width / 2.0 - COLUMNS as f32 * cell / 2.0;
    let top = height / 2.0 - ROWS as f32 * cell / 2.0;
    if left < 0.0 || top < 0.0 || cell < 2.0 {
        return None;
    }
    let mut cells = [false; (COLUMNS * ROWS) as usize];
    for row in 0..ROWS {
        for column in 0..COLUMNS {
            let mean = cell_mean(
                frame,
                left + (column as f32 + 0.25) * cell,
                top + (row as f32 + 0.25) * cell,
                cell * 0.5,
            );
            // Demand a clear decision; a grey cell means this is no stamp.
            if (80.0..170.0).contains(&mean) {
                return None;
            }
            cells[(row * COLUMNS + column) as usize] = mean >= 170.0;
        }
    }
    let decode = |mirrored: bool| {
        let mut bits = 0u32;
        for row in 0..ROWS {
            for column in 0..COLUMNS {
                let c = if mirrored {
                    COLUMNS - 1 - column
                } else {
                    column
                };
                bits = (bits << 1) | cells[(row * COLUMNS + c) as usize] as u32;
            }
        }
        let index = bits >> 8;
        (code_bits(index) == bits).then_some(index)
    };
    decode(false).or_else(|| decode(true))
}

/// Finds a stamp when the geometry it went through is unknown (a player
/// looking at a stream): tries `hint` first (the cell size that worked on
/// the previous frame), then cell sizes from 2 px up to an eighth of the
/// picture's height, 3 % apart. Returns the index and the cell size.
pub fn find(frame: &I420Frame, hint: Option<f32>) -> Option<(u32, f32)> {
    if let Some(cell) = hint {
        if let Some(index) = read(frame, cell) {
            return Some((index, cell));
        }
    }
    let largest = frame.height() as f32 / 8.0;
    let mut cell = 2.0f32;
    while cell <= largest {
        if let Some(index) = read(frame, cell) {
            return Some((index, cell));
        }
        cell *= 1.03;
    }
    None
}

/// Mean luma of the square starting at (x, y) with side `side`.
fn cell_mean(frame: &I420Frame, x: f32, y: f32, side: f32) -> f32 {
    let (x0, y0) = (x.round() as u32, y.round() as u32);
    let n = side.round().max(1.0) as u32;
    let mut sum = 0u32;
    for yy in y0..(y0 + n).min(frame.height()) {
        let row = frame.row(Plane::Y, yy);
        for xx in x0..(x0 + n).min(frame.width()) {
            sum += row[xx as usize] as u32;
        }
    }
    sum as f32 / (n * n) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_draws() {
        for index in [0, 1, 254, 77_777, (1 << 24) - 1] {
            let mut frame = I420Frame::black(1280, 720).unwrap();
            draw(&mut frame, index);
            assert_eq!(read(&frame, cell_size_for_height(720)), Some(index));
        }
    }

    #[test]
    fn reads_a_mirrored_stamp() {
        let mut frame = I420Frame::black(640, 360).unwrap();
        draw(&mut frame, 4242);
        let mut mirrored = frame.clone();
        for y in 0..360 {
            let row: Vec<u8> = frame.row(Plane::Y, y).iter().rev().copied().collect();
            mirrored.row_mut(Plane::Y, y).copy_from_slice(&row);
        }
        assert_eq!(read(&mirrored, cell_size_for_height(360)), Some(4242));
    }

    #[test]
    fn finds_a_stamp_whose_cell_size_is_unknown() {
        let mut frame = I420Frame::black(1280, 720).unwrap();
        draw(&mut frame, 31_337);
        let (index, cell) = find(&frame, None).expect("found");
        assert_eq!(index, 31_337);
        assert!(
            (cell - cell_size_for_height(720)).abs() / cell < 0.15,
            "{cell}"
        );
        assert_eq!(find(&frame, Some(cell)).map(|(i, _)| i), Some(31_337));
        assert_eq!(find(&I420Frame::black(640, 360).unwrap(), None), None);
    }

    #[test]
    fn plain_pictures_have_no_stamp() {
        let mut frame = I420Frame::black(640, 360).unwrap();
        assert_eq!(read(&frame, cell_size_for_height(360)), None);
        frame.plane_mut(Plane::Y).fill(WHITE);
        assert_eq!(read(&frame, cell_size_for_height(360)), None);
    }

    #[test]
    fn checksum_catches_a_flipped_cell() {
        let mut frame = I420Frame::black(640, 360).unwrap();
        draw(&mut frame, 1000);
        let cell = cell_size_for_height(360);
        // Invert the cell of the last index bit (row 2, column 7 of the code),
        // placed as `draw` places it: 15 px cells after a one-cell quiet zone.
        let x = (((640 - 150) / 2) & !1) + 15 + 7 * 15;
        let y = (((360 - 90) / 2) & !1) + 15 + 2 * 15;
        for yy in y..y + 15 {
            for xx in x..x + 15 {
                let row = frame.row_mut(Plane::Y, yy);
                row[xx as usize] = 251 - row[xx as usize];
            }
        }
        assert_ne!(read(&frame, cell), Some(1000));
    }
}
