//! The person mask the segmenter gives each frame, and how it is steadied:
//! smoothed over time (a per-pixel running mean that follows real motion
//! at once and damps flicker) and feathered at its edge (a small blur and
//! a soft threshold), so the edge neither flickers nor cuts a hard line
//! through hair and shoulders.

/// How much of each new result a pixel takes when it barely changes: the
/// running mean's rate at rest.
const REST_RATE: f32 = 0.35;
/// A pixel whose new result differs from its mean by this much or more
/// takes the new result whole (a person moving, not flicker).
const MOTION_CHANGE: f32 = 0.5;
/// Changes below this are treated as flicker (the rate stays at rest).
const FLICKER_CHANGE: f32 = 0.1;
/// The soft threshold: probabilities up to `EDGE_LOW` are background (0),
/// from `EDGE_HIGH` person (1), smoothstep in between.
const EDGE_LOW: f32 = 0.2;
/// See [`EDGE_LOW`].
const EDGE_HIGH: f32 = 0.8;

/// A low-resolution mask over a whole frame: 1 where the frame shows a
/// person, 0 for background, soft at the edge. Mask pixel `(i, j)` covers
/// the frame's `i / width .. (i + 1) / width` across and likewise down
/// (the model sees the frame stretched to its input size).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMask {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl PersonMask {
    /// A mask from row-major values in 0..=1; `None` when `values` does not
    /// hold `width × height` of them or a size is 0.
    pub fn new(width: usize, height: usize, values: Vec<f32>) -> Option<Self> {
        (width > 0 && height > 0 && values.len() == width * height).then_some(Self {
            width,
            height,
            values,
        })
    }

    /// Mask pixels across.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Mask pixels down.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The values, row by row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The mask at a point of the frame given as fractions of its width and
    /// height (0..1), bilinear between mask pixel centres, clamped at the
    /// border.
    pub fn at(&self, u: f32, v: f32) -> f32 {
        let finite = |t: f32| if t.is_nan() { 0.0 } else { t };
        let x = (finite(u) * self.width as f32 - 0.5).clamp(0.0, (self.width - 1) as f32);
        let y = (finite(v) * self.height as f32 - 0.5).clamp(0.0, (self.height - 1) as f32);
        // Both are non-negative: the casts floor.
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (tx, ty) = (x - x0 as f32, y - y0 as f32);
        let value = |x: usize, y: usize| self.values[y * self.width + x];
        let top = value(x0, y0) + (value(x1, y0) - value(x0, y0)) * tx;
        let bottom = value(x0, y1) + (value(x1, y1) - value(x0, y1)) * tx;
        top + (bottom - top) * ty
    }
}

/// Steadies the segmenter's raw masks from frame to frame (see the module
/// notes). Restart it ([`MaskSmoother::reset`]) on a cut.
#[derive(Debug, Clone, Default)]
pub struct MaskSmoother {
    mean: Option<PersonMask>,
}

impl MaskSmoother {
    /// Forgets earlier frames.
    pub fn reset(&mut self) {
        self.mean = None;
    }

    /// Takes this frame's raw probabilities and returns the steadied,
    /// feathered mask.
    pub fn update(&mut self, raw: &PersonMask) -> PersonMask {
        let mean = match self.mean.take() {
            Some(mut mean) if mean.width == raw.width && mean.height == raw.height => {
                for (m, &r) in mean.values.iter_mut().zip(&raw.values) {
                    *m += (r - *m) * rate(r - *m);
                }
                mean
            }
            _ => raw.clone(),
        };
        let feathered = feather(&mean);
        self.mean = Some(mean);
        feathered
    }
}

/// The running mean's rate for a pixel whose new result differs from its
/// mean by `change`: [`REST_RATE`] for flicker, rising smoothly to 1 for
/// motion.
fn rate(change: f32) -> f32 {
    let motion = smoothstep(FLICKER_CHANGE, MOTION_CHANGE, change.abs());
    REST_RATE + (1.0 - REST_RATE) * motion
}

/// Hermite step from 0 at `low` to 1 at `high`.
fn smoothstep(low: f32, high: f32, x: f32) -> f32 {
    let t = ((x - low) / (high - low)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A 1-2-1 blur each way (clamped at the border), then the soft
/// threshold [`EDGE_LOW`]..[`EDGE_HIGH`].
fn feather(mask: &PersonMask) -> PersonMask {
    let (w, h) = (mask.width, mask.height);
    let blur_line = |get: &dyn Fn(usize) -> f32, n: usize, i: usize| {
        let before = get(i.saturating_sub(1));
        let after = get((i + 1).min(n - 1));
        (before + 2.0 * get(i) + after) / 4.0
    };
    let mut across = vec![0.0; w * h];
    for y in 0..h {
        let row = &mask.values[y * w..(y + 1) * w];
        for x in 0..w {
            across[y * w + x] = blur_line(&|i| row[i], w, x);
        }
    }
    let mut values = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let blurred = blur_line(&|i| across[i * w + x], h, y);
            values[y * w + x] = smoothstep(EDGE_LOW, EDGE_HIGH, blurred);
        }
    }
    PersonMask {
        width: w,
        height: h,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(values: Vec<f32>) -> PersonMask {
        PersonMask::new(values.len(), 1, values).unwrap()
    }

    #[test]
    fn a_mask_needs_its_size_in_values() {
        assert!(PersonMask::new(2, 2, vec![0.0; 3]).is_none());
        assert!(PersonMask::new(0, 1, Vec::new()).is_none());
        assert!(PersonMask::new(2, 1, vec![0.0, 1.0]).is_some());
    }

    #[test]
    fn sampling_is_bilinear_between_pixel_centres() {
        let m = mask(vec![0.0, 1.0]);
        assert_eq!(m.at(0.25, 0.5), 0.0);
        assert_eq!(m.at(0.75, 0.5), 1.0);
        assert!((m.at(0.5, 0.5) - 0.5).abs() < 1e-6);
        assert_eq!(m.at(-1.0, 0.5), 0.0);
        assert_eq!(m.at(f32::NAN, 0.5), 0.0);
    }

    #[test]
    fn flicker_is_damped_and_motion_followed() {
        let mut smoother = MaskSmoother::default();
        smoother.update(&mask(vec![0.0; 8]));
        // A small flicker moves the mean by the rest rate only.
        smoother.update(&mask(vec![0.05; 8]));
        let mean = smoother.mean.as_ref().unwrap().values[0];
        assert!((mean - 0.05 * REST_RATE).abs() < 1e-6, "{mean}");
        // A person stepping in is taken whole.
        let out = smoother.update(&mask(vec![1.0; 8]));
        assert!(out.values.iter().all(|&v| v == 1.0), "{out:?}");
    }

    #[test]
    fn feathering_keeps_solid_areas_and_softens_the_edge() {
        let mut smoother = MaskSmoother::default();
        let out = smoother.update(&mask(vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]));
        assert_eq!(out.values[0], 0.0);
        assert_eq!(out.values[5], 1.0);
        assert!(out.values[2] > 0.0 && out.values[2] < 0.5, "{out:?}");
        assert!(out.values[3] > 0.5 && out.values[3] < 1.0, "{out:?}");
    }
}
