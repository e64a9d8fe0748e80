//! Sample-rate conversion: a streaming windowed-sinc interpolator, band
//! limited to the lower of the two Nyquist frequencies so that
//! downsampling does not alias. The kernel is tabulated at 256 fractional
//! phases and interpolated between them, so a sample costs one
//! multiply-add per tap.

use std::f64::consts::PI;

/// Zero crossings of the sinc on each side at unit cutoff.
const HALF_TAPS: usize = 16;

/// Fractional positions the kernel is tabulated at.
const PHASES: usize = 256;

/// Converts interleaved samples from one rate to another, a block at a
/// time; output frame *n* is input time *n · from / to*.
#[derive(Debug, Clone)]
pub struct Resampler {
    channels: usize,
    /// Input frames per output frame.
    step: f64,
    half_taps: usize,
    /// `PHASES + 1` rows of `2 · half_taps` weights: row φ holds the taps
    /// for an output at fraction φ / PHASES past an input frame.
    table: Vec<f32>,
    /// Input frames kept for the filter's reach, interleaved.
    history: Vec<f32>,
    /// Position of the next output frame, in frames of `history`.
    position: f64,
    passthrough: bool,
    frames_in: u64,
    frames_out: u64,
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz for `channels` channels.
    pub fn new(from: u32, to: u32, channels: u16) -> Self {
        let channels = usize::from(channels.max(1));
        let step = f64::from(from.max(1)) / f64::from(to.max(1));
        let cutoff = (1.0 / step).min(1.0);
        let half_taps = (HALF_TAPS as f64 / cutoff).ceil() as usize;
        let width = 2 * half_taps;
        let mut table = Vec::with_capacity((PHASES + 1) * width);
        for phase in 0..=PHASES {
            let fraction = phase as f64 / PHASES as f64;
            for tap in 0..width {
                // Tap j reads input frame centre − half_taps + 1 + j.
                let distance = fraction + half_taps as f64 - 1.0 - tap as f64;
                table.push(kernel(distance, cutoff, half_taps) as f32);
            }
        }
        Self {
            channels,
            step,
            half_taps,
            table,
            // Leading silence so that output frame 0 lines up with input 0.
            history: vec![0.0; half_taps * channels],
            position: half_taps as f64,
            passthrough: from == to,
            frames_in: 0,
            frames_out: 0,
        }
    }

    /// Takes input samples and appends every output frame they complete.
    pub fn push(&mut self, input: &[f32], output: &mut Vec<f32>) {
        if self.passthrough {
            output.extend_from_slice(input);
            return;
        }
        self.frames_in += (input.len() / self.channels) as u64;
        self.history.extend_from_slice(input);
        self.render(output);
    }

    /// Ends the stream: pads with silence so the last input frames come
    /// out, and no more than the input's length at the new rate.
    pub fn finish(&mut self, output: &mut Vec<f32>) {
        if self.passthrough {
            return;
        }
        let total = (self.frames_in as f64 / self.step).round() as u64;
        let wanted = total.saturating_sub(self.frames_out) as usize * self.channels;
        let pad = vec![0.0; (self.half_taps + 1) * self.channels];
        self.history.extend_from_slice(&pad);
        let mut rendered = Vec::new();
        self.render(&mut rendered);
        output.extend_from_slice(&rendered[..wanted.min(rendered.len())]);
    }

    fn render(&mut self, output: &mut Vec<f32>) {
        let channels = self.channels;
        let frames = self.history.len() / channels;
        let reach = self.half_taps as f64;
        let width = 2 * self.half_taps;
        let mut weights = vec![0.0f32; width];
        while self.position + reach < frames as f64 {
            let centre = self.position.floor();
            let phase = (self.position - centre) * PHASES as f64;
            let row = (phase.floor() as usize).min(PHASES - 1);
            let blend = (phase - row as f64) as f32;
            let (low, high) = (
                &self.table[row * width..(row + 1) * width],
                &self.table[(row + 1) * width..(row + 2) * width],
            );
            let mut total = 0.0f32;
            for ((weight, a), b) in weights.iter_mut().zip(low).zip(high) {
                *weight = a + (b - a) * blend;
                total += *weight;
            }
            // The first tap is frame centre − half_taps + 1 ≥ 1: the
            // history starts with half_taps frames of silence.
            let first = (centre as usize + 1).saturating_sub(self.half_taps);
            let taps = &self.history[first * channels..(first + width) * channels];
            let norm = if total.abs() > 1e-6 { 1.0 / total } else { 0.0 };
            if channels == 1 {
                let sum: f32 = taps.iter().zip(&weights).map(|(x, w)| x * w).sum();
                output.push(sum * norm);
            } else {
                for c in 0..channels {
                    let sum: f32 = taps
                        .iter()
                        .skip(c)
                        .step_by(channels)
                        .zip(&weights)
                        .map(|(x, w)| x * w)
                        .sum();
                    output.push(sum * norm);
                }
            }
            self.position += self.step;
            self.frames_out += 1;
        }
        // Drop input the filter no longer reaches.
        let keep_from = (self.position.floor() as usize).saturating_sub(self.half_taps);
        if keep_from > 0 {
            self.history.drain(..keep_from * channels);
            self.position -= keep_from as f64;
        }
    }
}

/// Blackman-windowed sinc at `distance` input frames, for a cutoff relative
/// to the input's Nyquist frequency and a window reaching `half_taps`.
fn kernel(distance: f64, cutoff: f64, half_taps: usize) -> f64 {
    let reach = half_taps as f64;
    if distance.abs() >= reach {
        return 0.0;
    }
    let x = cutoff * distance;
    let sinc = if x.abs() < 1e-9 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    let w = 0.5 + 0.5 * distance / reach; // 0..1 across the window
    let window = 0.42 - 0.5 * (2.0 * PI * w).cos() + 0.08 * (4.0 * PI * w).cos();
    sinc * window
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{dominant_frequency, rms_dbfs};

    fn tone(rate: u32, frequency: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * f64::from(rate)) as usize)
            .map(|i| (0.5 * (2.0 * PI * frequency * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    #[test]
    fn converts_rates_keeping_pitch_level_and_length() {
        for (from, to) in [(44_100, 48_000), (48_000, 16_000), (22_050, 48_000)] {
            let input = tone(from, 440.0, 1.0);
            let mut resampler = Resampler::new(from, to, 1);
            let mut output = Vec::new();
            for block in input.chunks(777) {
                resampler.push(block, &mut output);
            }
            resampler.finish(&mut output);
            let expected = (input.len() as f64 * f64::from(to) / f64::from(from)).round();
            assert!(
                (output.len() as f64 - expected).abs() <= 2.0,
                "{from}->{to}: {} frames, expected {expected}",
                output.len()
            );
            let middle = &output[output.len() / 4..output.len() * 3 / 4];
            let frequency = dominant_frequency(middle, to).unwrap();
            assert!(
                (frequency - 440.0).abs() < 0.5,
                "{from}->{to}: {frequency} Hz"
            );
            let level = rms_dbfs(middle);
            assert!(
                (level - rms_dbfs(&input)).abs() < 0.1,
                "{from}->{to}: {level}"
            );
        }
    }

    #[test]
    fn downsampling_removes_what_the_new_rate_cannot_carry() {
        // 12 kHz cannot exist at 16 kHz: it must not fold back to 4 kHz.
        let input = tone(48_000, 12_000.0, 0.5);
        let mut resampler = Resampler::new(48_000, 16_000, 1);
        let mut output = Vec::new();
        resampler.push(&input, &mut output);
        let middle = &output[output.len() / 4..output.len() * 3 / 4];
        assert!(rms_dbfs(middle) < -40.0, "{}", rms_dbfs(middle));
    }

    #[test]
    fn stereo_channels_stay_apart() {
        let mut resampler = Resampler::new(32_000, 48_000, 2);
        let input: Vec<f32> = (0..32_000).flat_map(|_| [0.25f32, -0.5]).collect();
        let mut output = Vec::new();
        resampler.push(&input, &mut output);
        let middle = &output[output.len() / 2..output.len() / 2 + 2];
        assert!((middle[0] - 0.25).abs() < 1e-3 && (middle[1] + 0.5).abs() < 1e-3);
    }
}
