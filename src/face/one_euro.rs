//! The One-Euro filter (Casiez, Roussel, Vogel, 2012): a low-pass filter
//! whose cut-off rises with speed, so a still face does not jitter and a
//! moving one is followed without lag.

use std::f32::consts::TAU;

/// One filtered value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroFilter {
    /// Cut-off at rest, Hz: lower is steadier.
    pub min_cutoff: f32,
    /// How fast the cut-off rises with speed: higher follows motion faster.
    pub beta: f32,
    /// Cut-off of the speed estimate, Hz.
    pub derivative_cutoff: f32,
    last: Option<(f32, f32, f32)>,
}

impl OneEuroFilter {
    /// A filter with the given rest cut-off and speed coefficient.
    pub fn new(min_cutoff: f32, beta: f32) -> Self {
        Self {
            min_cutoff,
            beta,
            derivative_cutoff: 1.0,
            last: None,
        }
    }

    fn alpha(cutoff: f32, dt: f32) -> f32 {
        let tau = 1.0 / (TAU * cutoff);
        1.0 / (1.0 + tau / dt)
    }

    /// Filters `value` observed at time `t` (seconds). A first value, or one
    /// not later than the last, passes through unchanged.
    pub fn filter(&mut self, value: f32, t: f32) -> f32 {
        let Some((last_t, last_value, last_speed)) = self.last else {
            self.last = Some((t, value, 0.0));
            return value;
        };
        let dt = t - last_t;
        if dt <= 0.0 || !dt.is_finite() {
            return last_value;
        }
        let speed = (value - last_value) / dt;
        let a = Self::alpha(self.derivative_cutoff, dt);
        let smoothed_speed = last_speed + a * (speed - last_speed);
        let cutoff = self.min_cutoff + self.beta * smoothed_speed.abs();
        let filtered = last_value + Self::alpha(cutoff, dt) * (value - last_value);
        self.last = Some((t, filtered, smoothed_speed));
        filtered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steadies_noise_and_follows_motion() {
        let mut still = OneEuroFilter::new(1.0, 0.05);
        let mut spread = (f32::MAX, f32::MIN);
        for i in 0..120 {
            let noise = if i % 2 == 0 { 1.0 } else { -1.0 };
            let v = still.filter(100.0 + noise, i as f32 / 30.0);
            if i > 30 {
                spread = (spread.0.min(v), spread.1.max(v));
            }
        }
        assert!(spread.1 - spread.0 < 0.5, "jitter {spread:?}");
        let mut moving = OneEuroFilter::new(1.0, 0.05);
        let mut v = 0.0;
        for i in 0..60 {
            v = moving.filter(i as f32 * 10.0, i as f32 / 30.0);
        }
        assert!(590.0 - v < 20.0, "lags by {}", 590.0 - v);
    }
}
