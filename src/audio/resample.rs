//! Sample-rate conversion, done by `rubato`'s asynchronous sinc resampler
//! behind the crate's streaming interface: interleaved blocks of any length
//! in, every output frame they complete out, and a [`Resampler::finish`]
//! that delivers the tail, so that output frame *n* is input time
//! *n · from / to* and the output is as long as the input at the new rate.
//!
//! `rubato` replaced a hand-written windowed-sinc interpolator (32 taps,
//! Blackman window, 256 linearly interpolated phases). Measured on the same
//! 2-core machine (10 s of stereo in 1024-frame pushes, best of 5), with
//! 128 sinc taps, a Blackman² window and 256 linearly interpolated phases
//! (the settings below), `rubato` was faster at every rate pair tried
//! (44.1→48 kHz 27 ms against 33 ms, 48→44.1 kHz 26 against 32 ms,
//! 48→16 kHz 13 against 27 ms) and cleaner: SINAD of a sine 107–149 dB
//! against 78–137 dB, flat (±0.001 dB) up to 18 kHz at 48 kHz, and a 12 kHz
//! tone downsampled to 16 kHz aliased to −159.5 dBFS against −98.9 dBFS.
//! Its anti-alias cutoff sits lower: a 7 kHz tone at 16 kHz (0.875 of
//! Nyquist) loses 1.95 dB where the old filter lost 0.09 dB.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Indexing, Resampler as _, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};
use thiserror::Error;

/// Sinc taps of the interpolation filter.
const SINC_LEN: usize = 128;
/// Phases the sinc is tabulated at between two input frames.
const OVERSAMPLING: usize = 256;
/// Input frames handed to `rubato` per call (fewer when upsampling by more
/// than 8, so that one call's output stays near 8192 frames).
const CHUNK_FRAMES: usize = 1024;
/// Largest conversion ratio, either way: 8 kHz to 384 kHz or back is 48;
/// anything beyond it is a broken header rather than audio.
const MAX_RATIO: f64 = 64.0;

/// Why a sample-rate conversion could not be set up or run.
#[derive(Debug, Error)]
pub enum ResampleError {
    /// Rates that are zero or further apart than a factor of 64.
    #[error("cannot resample {from} Hz to {to} Hz (each rate must be above 0 and within a factor of 64 of the other)")]
    UnsupportedRates {
        /// The input rate.
        from: u32,
        /// The output rate.
        to: u32,
    },
    /// `rubato` refused the resampler's parameters.
    #[error("cannot set up the resampler for {from} Hz to {to} Hz")]
    Setup {
        /// The input rate.
        from: u32,
        /// The output rate.
        to: u32,
        /// `rubato`'s reason.
        #[source]
        source: rubato::ResamplerConstructionError,
    },
    /// `rubato` failed while converting a block.
    #[error("resampling failed")]
    Process(#[from] rubato::ResampleError),
    /// The interleaved buffers did not fit `rubato`'s adapters.
    #[error(
        "resampler buffer of {len} samples does not hold {frames} frames of {channels} channels"
    )]
    Buffer {
        /// Samples in the buffer.
        len: usize,
        /// Channels per frame.
        channels: usize,
        /// Frames asked for.
        frames: usize,
    },
}

/// Converts interleaved samples from one rate to another, a block at a
/// time; output frame *n* is input time *n · from / to*.
#[derive(Debug)]
pub struct Resampler {
    channels: usize,
    /// `None` when both rates are equal: samples pass through.
    inner: Option<Async<f32>>,
    /// Output frames per input frame.
    ratio: f64,
    /// Input frames not yet handed to `rubato`, interleaved.
    pending: Vec<f32>,
    /// Where `rubato` writes one call's output, interleaved.
    scratch: Vec<f32>,
    /// Output frames of filter delay still to drop from the front.
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz for `channels` channels (0 is
    /// taken as 1).
    pub fn new(from: u32, to: u32, channels: u16) -> Result<Self, ResampleError> {
        let channels = usize::from(channels.max(1));
        let ratio = f64::from(to) / f64::from(from);
        if from == 0 || to == 0 || !(1.0 / MAX_RATIO..=MAX_RATIO).contains(&ratio) {
            return Err(ResampleError::UnsupportedRates { from, to });
        }
        let mut this = Self {
            channels,
            inner: None,
            ratio,
            pending: Vec::new(),
            scratch: Vec::new(),
            delay_left: 0,
            frames_in: 0,
            frames_out: 0,
        };
        if from == to {
            return Ok(this);
        }
        let parameters = SincInterpolationParameters::new(SINC_LEN, WindowFunction::Blackman2)
            .oversampling_factor(OVERSAMPLING)
            .interpolation(SincInterpolationType::Linear);
        // Keep one call's output near 8192 frames when upsampling a lot.
        let chunk = ((8.0 * CHUNK_FRAMES as f64 / ratio) as usize).clamp(1, CHUNK_FRAMES);
        let inner =
            Async::<f32>::new_sinc(ratio, 1.0, &parameters, chunk, channels, FixedAsync::Input)
                .map_err(|source| ResampleError::Setup { from, to, source })?;
        this.scratch = vec![0.0; inner.output_frames_max() * channels];
        this.delay_left = inner.output_delay();
        this.inner = Some(inner);
        Ok(this)
    }

    /// Takes input samples and appends every output frame they complete.
    /// A trailing partial frame (fewer samples than channels) is kept for
    /// the next block.
    pub fn push(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), ResampleError> {
        if self.inner.is_none() {
            output.extend_from_slice(input);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        let channels = self.channels;
        let mut used = 0;
        while let Some(inner) = self.inner.as_mut() {
            let need = inner.input_frames_next();
            let have = self.pending.len() / channels - used;
            if have < need {
                break;
            }
            let rest = self.pending.get(used * channels..).unwrap_or(&[]);
            let produced = process(inner, rest, have, &mut self.scratch, channels, None)?;
            used += need;
            self.frames_in += need as u64;
            self.emit(produced, output);
        }
        self.pending.drain(..used * channels);
        Ok(())
    }

    /// Ends the stream: the last input frames come out, followed by the
    /// filter's tail, up to the input's length at the new rate.
    pub fn finish(&mut self, output: &mut Vec<f32>) -> Result<(), ResampleError> {
        let channels = self.channels;
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        let left = self.pending.len() / channels;
        self.frames_in += left as u64;
        let total = (self.frames_in as f64 * self.ratio).round() as u64;
        let before = self.frames_out;
        let mut tail = Vec::new();
        // The partial chunk, then silence until the delay has come out; a
        // call yields at least chunk / 64 frames, so this ends quickly.
        let mut block = std::mem::take(&mut self.pending);
        let mut valid = left;
        for _ in 0..1024 {
            if self.frames_out >= total {
                break;
            }
            let need = inner.input_frames_next();
            block.resize(need.max(valid) * channels, 0.0);
            let frames = block.len() / channels;
            let produced = process(
                inner,
                &block,
                frames,
                &mut self.scratch,
                channels,
                Some(valid),
            )?;
            valid = 0;
            let drop = self.delay_left.min(produced);
            self.delay_left -= drop;
            tail.extend_from_slice(
                self.scratch
                    .get(drop * channels..produced * channels)
                    .unwrap_or(&[]),
            );
            self.frames_out += (produced - drop) as u64;
        }
        let wanted = usize::try_from(total.saturating_sub(before)).unwrap_or(usize::MAX);
        tail.truncate(wanted.saturating_mul(channels));
        output.extend_from_slice(&tail);
        Ok(())
    }

    /// Appends `produced` frames of `scratch` past the remaining delay.
    fn emit(&mut self, produced: usize, output: &mut Vec<f32>) {
        let drop = self.delay_left.min(produced);
        self.delay_left -= drop;
        let channels = self.channels;
        output.extend_from_slice(
            self.scratch
                .get(drop * channels..produced * channels)
                .unwrap_or(&[]),
        );
        self.frames_out += (produced - drop) as u64;
    }
}

/// One `rubato` call over the first frames of `input` (`partial` of them
/// valid, the rest read as silence, when given); returns the frames written
/// to `scratch`.
fn process(
    inner: &mut Async<f32>,
    input: &[f32],
    frames: usize,
    scratch: &mut [f32],
    channels: usize,
    partial: Option<usize>,
) -> Result<usize, ResampleError> {
    let adapter_in =
        InterleavedSlice::new(input, channels, frames).map_err(|_| ResampleError::Buffer {
            len: input.len(),
            channels,
            frames,
        })?;
    let out_frames = scratch.len() / channels;
    let out_len = scratch.len();
    let mut adapter_out =
        InterleavedSlice::new_mut(scratch, channels, out_frames).map_err(|_| {
            ResampleError::Buffer {
                len: out_len,
                channels,
                frames: out_frames,
            }
        })?;
    let indexing = partial.map(|valid| Indexing::new().partial_len(valid));
    let (_, produced) =
        inner.process_into_buffer(&adapter_in, &mut adapter_out, indexing.as_ref())?;
    Ok(produced.min(out_frames))
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

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
            let mut resampler = Resampler::new(from, to, 1).unwrap();
            let mut output = Vec::new();
            for block in input.chunks(777) {
                resampler.push(block, &mut output).unwrap();
            }
            resampler.finish(&mut output).unwrap();
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
        let mut resampler = Resampler::new(48_000, 16_000, 1).unwrap();
        let mut output = Vec::new();
        resampler.push(&input, &mut output).unwrap();
        let middle = &output[output.len() / 4..output.len() * 3 / 4];
        assert!(rms_dbfs(middle) < -40.0, "{}", rms_dbfs(middle));
    }

    #[test]
    fn stereo_channels_stay_apart() {
        let mut resampler = Resampler::new(32_000, 48_000, 2).unwrap();
        let input: Vec<f32> = (0..32_000).flat_map(|_| [0.25f32, -0.5]).collect();
        let mut output = Vec::new();
        resampler.push(&input, &mut output).unwrap();
        // A whole frame from the middle: the frame count may be odd.
        let start = output.len() / 4 * 2;
        let middle = &output[start..start + 2];
        assert!((middle[0] - 0.25).abs() < 1e-3 && (middle[1] + 0.5).abs() < 1e-3);
    }

    #[test]
    fn output_lines_up_with_the_input() {
        // An impulse at input frame 1000 peaks at output frame 1000 · to / from.
        let mut input = vec![0.0f32; 48_000];
        input[1000] = 1.0;
        let mut resampler = Resampler::new(48_000, 44_100, 1).unwrap();
        let mut output = Vec::new();
        for block in input.chunks(500) {
            resampler.push(block, &mut output).unwrap();
        }
        resampler.finish(&mut output).unwrap();
        assert_eq!(output.len(), 44_100);
        let peak = (0..output.len())
            .max_by(|&a, &b| output[a].abs().total_cmp(&output[b].abs()))
            .unwrap();
        assert!((918..=919).contains(&peak), "peak at {peak}");
    }

    #[test]
    fn short_streams_partial_frames_and_equal_rates() {
        // Fewer frames than one chunk still come out, at the new length.
        let mut resampler = Resampler::new(16_000, 48_000, 2).unwrap();
        let mut output = Vec::new();
        resampler.push(&[0.5; 2 * 100 + 1], &mut output).unwrap();
        resampler.finish(&mut output).unwrap();
        assert_eq!(output.len(), 2 * 300);
        // Nothing in, nothing out.
        let mut resampler = Resampler::new(44_100, 48_000, 1).unwrap();
        let mut output = Vec::new();
        resampler.finish(&mut output).unwrap();
        assert!(output.is_empty());
        // Equal rates pass samples through untouched.
        let mut resampler = Resampler::new(48_000, 48_000, 2).unwrap();
        let mut output = Vec::new();
        resampler.push(&[0.1, 0.2, 0.3], &mut output).unwrap();
        resampler.finish(&mut output).unwrap();
        assert_eq!(output, [0.1, 0.2, 0.3]);
    }

    #[test]
    fn implausible_rates_are_refused() {
        for (from, to) in [
            (0, 48_000),
            (48_000, 0),
            (1, 48_000),
            (4_000_000_000, 48_000),
        ] {
            let error = Resampler::new(from, to, 2).unwrap_err();
            assert!(
                matches!(error, ResampleError::UnsupportedRates { .. }),
                "{from}->{to}: {error}"
            );
        }
        assert!(Resampler::new(8_000, 384_000, 2).is_ok());
        assert!(Resampler::new(384_000, 8_000, 2).is_ok());
    }
}
