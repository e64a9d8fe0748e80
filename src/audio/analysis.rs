//! Measurements on decoded audio: level, pitch, and the onsets of the
//! test tone's beeps (which the player matches against video stamps).

/// Averages interleaved channels into one.
pub fn to_mono(samples: &[f32], channels: u16) -> Vec<f32> {
    let channels = usize::from(channels.max(1));
    samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Root-mean-square level in dB relative to full scale (a full-scale sine
/// is −3 dBFS); `-inf` for silence.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let power = samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * power.log10()
}

/// The largest absolute sample.
pub fn peak_level(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |peak, &s| peak.max(s.abs()))
}

/// The frequency of a steady tone, from its rising zero crossings
/// (interpolated between samples) over the whole buffer. Meant for pure
/// tones; `None` when there are fewer than two crossings.
pub fn dominant_frequency(mono: &[f32], sample_rate: u32) -> Option<f64> {
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0usize;
    for (i, pair) in mono.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + (-a) / (b - a);
            if first.is_none() {
                first = Some(at);
            } else {
                count += 1;
            }
            last = at;
        }
    }
    let first = first?;
    if count == 0 {
        return None;
    }
    Some(count as f64 * f64::from(sample_rate) / (last - first))
}

/// Start times (seconds from the buffer's first sample) of beeps: bursts
/// that rise above half the buffer's peak after at least `min_gap` seconds
/// below a tenth of it. Precise to a sample or two for a beep with a sharp
/// edge.
pub fn beep_onsets(mono: &[f32], sample_rate: u32, min_gap: f64) -> Vec<f64> {
    let peak = peak_level(mono);
    if peak <= 1e-4 {
        return Vec::new();
    }
    let mut finder = BeepFinder::new(peak * 0.5, peak * 0.1, min_gap);
    finder.feed(mono, sample_rate, 0.0);
    finder.onsets
}

/// Finds the onsets of beeps in sound that arrives block by block: a beep
/// starts where the level rises past `loud` after at least `min_gap`
/// seconds below `quiet` (or at the first loud sample).
#[derive(Debug, Clone)]
pub struct BeepFinder {
    loud: f32,
    quiet: f32,
    min_gap: f64,
    /// The previous block's last samples, for walking back over an edge.
    tail: Vec<f32>,
    quiet_run: usize,
    longest_quiet: usize,
    seen_loud: bool,
    /// Onset times, seconds, on the clock the blocks were fed with.
    pub onsets: Vec<f64>,
}

impl BeepFinder {
    /// A finder with absolute thresholds (0..1) and the quiet gap, seconds.
    pub fn new(loud: f32, quiet: f32, min_gap: f64) -> Self {
        Self {
            loud,
            quiet,
            min_gap,
            tail: Vec::new(),
            quiet_run: 0,
            longest_quiet: 0,
            seen_loud: false,
            onsets: Vec::new(),
        }
    }

    /// Takes the next block of mono samples, whose first sample is at
    /// `start` seconds.
    pub fn feed(&mut self, mono: &[f32], rate: u32, start: f64) {
        let gap = (self.min_gap * f64::from(rate)) as usize;
        let tail_len = self.tail.len();
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(mono);
        for i in tail_len..joined.len() {
            let level = joined[i].abs();
            if level < self.quiet {
                self.quiet_run += 1;
                self.longest_quiet = self.longest_quiet.max(self.quiet_run);
                continue;
            }
            self.quiet_run = 0;
            if level < self.loud {
                continue;
            }
            if !self.seen_loud || self.longest_quiet >= gap {
                // Walk back to where the burst left the quiet floor; the
                // burst's first sample may sit near zero at a sine's start.
                let mut first = i;
                while first > 0 && joined[first - 1].abs() >= self.quiet * 0.5 {
                    first -= 1;
                }
                let offset = first.saturating_sub(1) as f64 - tail_len as f64;
                self.onsets.push(start + offset / f64::from(rate));
            }
            self.seen_loud = true;
            self.longest_quiet = 0;
        }
        let keep = joined.len().saturating_sub(64);
        self.tail = joined.split_off(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pitch_level_and_beeps() {
        let rate = 48_000;
        let mut mono = vec![0.0f32; rate as usize * 3];
        for second in 0..3 {
            let start = second * rate as usize + 4800;
            for i in 0..9600 {
                let t = i as f64 / f64::from(rate);
                mono[start + i] = 0.25 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin() as f32;
            }
        }
        let onsets = beep_onsets(&mono, rate, 0.3);
        assert_eq!(onsets.len(), 3);
        for (second, onset) in onsets.iter().enumerate() {
            assert!((onset - (second as f64 + 0.1)).abs() < 0.0005, "{onset}");
        }
        let beep = &mono[4800..4800 + 9600];
        let frequency = dominant_frequency(beep, rate).unwrap();
        assert!((frequency - 1000.0).abs() < 0.5, "{frequency}");
        assert!((rms_dbfs(beep) - (20.0 * 0.25f64.log10() - 3.0103)).abs() < 0.05);
        assert_eq!(to_mono(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
    }
}
