//! Checking what arrived: frame stamps counted for lost, repeated and
//! out-of-order frames, PSNR against a reference clip, and latency.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::frame::{I420Frame, Plane};
use crate::source::{stamp, FrameSource, SourceError, Y4mReader};

/// Counts of stamped frames as they arrive.
#[derive(Debug, Default)]
pub struct StampTally {
    seen: HashSet<u32>,
    highest: Option<u32>,
    cell_hint: Option<f32>,
    /// Frames whose stamp was read.
    pub stamped: u64,
    /// Frames with no readable stamp.
    pub unreadable: u64,
    /// Indices skipped over and not (yet) seen.
    pub lost: u64,
    /// Frames whose index was already seen.
    pub repeated: u64,
    /// Frames that arrived after a later one.
    pub out_of_order: u64,
}

impl StampTally {
    /// Reads the stamp of a displayed frame and counts it; returns the index.
    pub fn record(&mut self, frame: &I420Frame) -> Option<u32> {
        let Some((index, cell)) = stamp::find(frame, self.cell_hint) else {
            self.unreadable += 1;
            return None;
        };
        self.cell_hint = Some(cell);
        self.count(index);
        Some(index)
    }

    /// Counts an index.
    pub fn count(&mut self, index: u32) {
        self.stamped += 1;
        if !self.seen.insert(index) {
            self.repeated += 1;
            return;
        }
        match self.highest {
            None => {
                // Frames before the first one seen count as lost too: a
                // player that joins late sees that here.
                self.lost += u64::from(index);
                self.highest = Some(index);
            }
            Some(highest) if index > highest => {
                self.lost += u64::from(index - highest - 1);
                self.highest = Some(index);
            }
            Some(_) => {
                // Filled a gap counted as lost.
                self.lost = self.lost.saturating_sub(1);
                self.out_of_order += 1;
            }
        }
    }

    /// Distinct indices seen.
    pub fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    /// The highest index seen.
    pub fn highest(&self) -> Option<u32> {
        self.highest
    }
}

/// A reference clip read forward, for PSNR by frame index.
pub struct ReferenceClip {
    reader: Y4mReader,
    next_index: u64,
    current: Option<(u64, I420Frame)>,
}

impl ReferenceClip {
    /// Opens a Y4M reference.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Ok(Self {
            reader: Y4mReader::open(path)?,
            next_index: 0,
            current: None,
        })
    }

    /// Frame `index` of the reference, reading forward; `None` past its end
    /// or for an index before the current one (a late frame).
    pub fn frame(&mut self, index: u64) -> Result<Option<&I420Frame>, SourceError> {
        if self.current.as_ref().is_some_and(|(i, _)| *i > index) {
            return Ok(None);
        }
        while self.current.as_ref().is_none_or(|(i, _)| *i < index) {
            match self.reader.next_frame()? {
                Some(frame) => {
                    self.current = Some((self.next_index, frame));
                    self.next_index += 1;
                }
                None => return Ok(None),
            }
        }
        Ok(self.current.as_ref().map(|(_, frame)| frame))
    }
}

/// Luma PSNR in dB (infinite when identical; `None` when sizes differ).
pub fn luma_psnr(a: &I420Frame, b: &I420Frame) -> Option<f64> {
    if (a.width(), a.height()) != (b.width(), b.height()) {
        return None;
    }
    let mut sum = 0u64;
    for y in 0..a.height() {
        for (p, q) in a.row(Plane::Y, y).iter().zip(b.row(Plane::Y, y)) {
            let d = i64::from(*p) - i64::from(*q);
            sum += (d * d) as u64;
        }
    }
    let mse = sum as f64 / (f64::from(a.width()) * f64::from(a.height()));
    Some(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    })
}

/// Summary statistics of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (`None` when empty). Infinite values (e.g.
    /// identical frames' PSNR) are kept; they sort last.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Some(Self {
            count: sorted.len() as u64,
            min: sorted[0],
            median: at(0.5),
            p95: at(0.95),
            max: sorted[sorted.len() - 1],
        })
    }

    /// The spread of durations, in milliseconds.
    pub fn of_durations(values: &[Duration]) -> Option<Self> {
        let millis: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        Self::of(&millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_losses_repeats_and_late_frames() {
        let mut tally = StampTally::default();
        for index in [0, 1, 2, 5, 5, 3, 6] {
            tally.count(index);
        }
        assert_eq!(tally.stamped, 7);
        assert_eq!(tally.distinct(), 6);
        assert_eq!(tally.repeated, 1);
        assert_eq!(tally.out_of_order, 1);
        assert_eq!(tally.lost, 1, "4 never came");
        assert_eq!(tally.highest(), Some(6));
    }

    #[test]
    fn reads_stamps_from_pictures() {
        let mut tally = StampTally::default();
        for index in [7, 8] {
            let mut frame = I420Frame::black(640, 360).unwrap();
            stamp::draw(&mut frame, index);
            assert_eq!(tally.record(&frame), Some(index));
        }
        assert_eq!(tally.record(&I420Frame::black(640, 360).unwrap()), None);
        assert_eq!((tally.lost, tally.unreadable), (7, 1), "joined at 7");
    }

    #[test]
    fn spreads_and_psnr() {
        let spread = Spread::of(&[3.0, 1.0, 2.0, f64::INFINITY]).unwrap();
        assert_eq!((spread.min, spread.median, spread.count), (1.0, 3.0, 4));
        assert!(spread.max.is_infinite());
        assert!(Spread::of(&[]).is_none());
        let a = I420Frame::black(4, 4).unwrap();
        let mut b = a.clone();
        assert_eq!(luma_psnr(&a, &b), Some(f64::INFINITY));
        b.plane_mut(Plane::Y)[0] += 16;
        let psnr = luma_psnr(&a, &b).unwrap();
        assert!((psnr - 10.0 * (255.0f64 * 255.0 * 16.0 / 256.0).log10()).abs() < 1e-9);
        assert_eq!(luma_psnr(&a, &I420Frame::black(8, 4).unwrap()), None);
    }
}
