//! [`Speaker`]: the player's sound on the system's default output device,
//! through cpal (ALSA on Linux). Decoded blocks go into a queue that the
//! device's callback empties, silence filling in whenever the queue runs
//! dry. The device starts taking sound once [`LEAD`] is queued (and again
//! after the queue ran dry), so blocks released a video frame apart play
//! without gaps; the player hands blocks over that much ahead of its play
//! clock, so the device plays them on the picture's clock (later only by
//! its own buffer). When the queue holds more than
//! [`MAX_QUEUED`] (a file decoded faster than it plays), handing over waits
//! for the device, which paces the player to the sound.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{ErrorKind, FromSample, SampleFormat, SizedSample, StreamConfig};
use thiserror::Error;

use crate::audio::{AudioFormat, ResampleError, Resampler};

/// Most sound queued for the device before handing over waits.
pub const MAX_QUEUED: Duration = Duration::from_secs(1);

/// Sound queued before the device starts taking it: the output's jitter
/// margin against blocks released a video frame (33 ms) apart.
pub const LEAD: Duration = Duration::from_millis(100);

/// The longest wait for a new device stream to settle (see
/// [`Speaker::prepare`]).
const MAX_SETTLE: Duration = Duration::from_secs(1);

/// How often a settling device's pace is looked at.
const SETTLE_WINDOW: Duration = Duration::from_millis(50);

/// How long the device may take no sound at all before it counts as
/// stalled.
const STALL: Duration = Duration::from_secs(5);

/// The longest device latency waited for after the queue is played out.
const MAX_TAIL: Duration = Duration::from_millis(500);

/// Why the sound could not be played on the output device.
#[derive(Debug, Error)]
pub enum SpeakerError {
    /// The audio host knows no output device.
    #[error("no sound output device")]
    NoDevice,
    /// The default output device cannot be opened or queried.
    #[error("cannot open the sound output device {device:?}: {source}")]
    Unavailable {
        /// The device's name.
        device: String,
        /// cpal's error.
        #[source]
        source: cpal::Error,
    },
    /// The device refused a stream for the sound's format.
    #[error("the sound output device {device:?} cannot play {sample_rate} Hz, {channels} channels: {source}")]
    Format {
        /// The device's name.
        device: String,
        /// The sound's sample rate.
        sample_rate: u32,
        /// The sound's channels.
        channels: u16,
        /// cpal's error.
        #[source]
        source: cpal::Error,
    },
    /// The device takes only a sample format we do not write.
    #[error("the sound output device {device:?} takes {format} samples, which are not supported")]
    SampleFormat {
        /// The device's name.
        device: String,
        /// What it takes.
        format: SampleFormat,
    },
    /// Converting the sound to the device's rate failed.
    #[error("converting the sound to the device's rate: {0}")]
    Resample(#[from] ResampleError),
    /// The device failed while playing.
    #[error("the sound output device {device:?} failed: {source}")]
    Device {
        /// The device's name.
        device: String,
        /// cpal's error.
        #[source]
        source: cpal::Error,
    },
    /// The device took no sound for a while though some was queued.
    #[error("the sound output device {device:?} took no sound for {} s", seconds.as_secs())]
    Stalled {
        /// The device's name.
        device: String,
        /// How long it took none.
        seconds: Duration,
    },
}

/// What the device callback and the player share.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled whenever the callback took samples.
    taken: Condvar,
}

#[derive(Default)]
struct Queue {
    /// Interleaved samples in the device's format, waiting for the device.
    samples: VecDeque<f32>,
    /// Samples the device has taken in all, silence included.
    taken: u64,
    /// Samples to hold before the device takes any (see [`LEAD`]).
    lead: usize,
    /// The lead was reached and the queue has not run dry since.
    primed: bool,
    /// The end: what is queued plays even below the lead.
    draining: bool,
    /// The first fatal error the device reported.
    error: Option<cpal::Error>,
    /// From a callback to its samples' playback, as the device last said.
    latency: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The open stream for one format of sound.
struct Output {
    /// Kept alive while playing; dropping it stops the device.
    _stream: cpal::Stream,
    /// The sound's format this stream was built for.
    input: AudioFormat,
    /// The device's channels and rate.
    channels: u16,
    rate: u32,
    resampler: Resampler,
    mapped: Vec<f32>,
    resampled: Vec<f32>,
}

/// Sound out on the default output device. [`Speaker::open_default`]
/// checks the device; [`Speaker::play`] queues blocks of sound (the
/// stream is built for the first block's format, and again when it
/// changes); [`Speaker::finish`] waits until the queue is played out.
pub struct Speaker {
    device: cpal::Device,
    name: String,
    shared: Arc<Shared>,
    output: Option<Output>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.name)
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// The host's default output device, checked by asking it for its
    /// default configuration (which opens it): a machine without a sound
    /// device fails here, before anything plays.
    pub fn open_default() -> Result<Self, SpeakerError> {
        #[cfg(target_os = "linux")]
        let _quiet = super::alsa_quiet::Quiet::new();
        let host = cpal::default_host();
        let device = host.default_output_device().ok_or(SpeakerError::NoDevice)?;
        let name = device.to_string();
        device
            .default_output_config()
            .map_err(|source| SpeakerError::Unavailable {
                device: name.clone(),
                source,
            })?;
        Ok(Self {
            device,
            name,
            shared: Arc::new(Shared::default()),
            output: None,
        })
    }

    /// The device's name, as the audio host gives it.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// Starts the device's stream for sound of `format` ahead of the first
    /// block (nothing to do when it runs for that format already), and
    /// waits, up to a second, until the device has filled its own buffer
    /// with silence and takes sound at its pace: the fill would otherwise
    /// swallow the first sound and split it with a gap.
    pub fn prepare(&mut self, format: AudioFormat) -> Result<(), SpeakerError> {
        self.check()?;
        if self.output.as_ref().is_none_or(|out| out.input != format) {
            // A new format: the old stream (and what it still held) goes.
            self.output = None;
            let out = self.build(format)?;
            let mut queue = self.shared.lock();
            queue.samples.clear();
            queue.primed = false;
            queue.lead =
                (LEAD.as_secs_f64() * f64::from(out.rate)) as usize * usize::from(out.channels);
            drop(queue);
            let per_second = f64::from(out.rate) * f64::from(out.channels);
            self.output = Some(out);
            self.settle(per_second)?;
        }
        Ok(())
    }

    /// Waits (up to [`MAX_SETTLE`]) until a newly started device takes
    /// sound at its own pace: at first it fills its buffer (and whatever
    /// lies behind it) at once, with silence while nothing is queued, and
    /// sound queued meanwhile would be swallowed by that fill, run dry and
    /// break up. `per_second`: the device's samples a second.
    fn settle(&self, per_second: f64) -> Result<(), SpeakerError> {
        let window = SETTLE_WINDOW.as_secs_f64();
        let started = std::time::Instant::now();
        let mut before = self.shared.lock().taken;
        while started.elapsed() < MAX_SETTLE {
            std::thread::sleep(SETTLE_WINDOW);
            self.check()?;
            let taken = self.shared.lock().taken;
            let pace = (taken - before) as f64 / (per_second * window);
            if taken > 0 && pace <= 1.5 {
                break;
            }
            before = taken;
        }
        Ok(())
    }

    /// Queues interleaved `samples` of `format` for the device (starting
    /// its stream first when needed); waits while more than [`MAX_QUEUED`]
    /// is queued.
    pub fn play(&mut self, samples: &[f32], format: AudioFormat) -> Result<(), SpeakerError> {
        self.prepare(format)?;
        let Some(out) = self.output.as_mut() else {
            return Ok(());
        };
        map_channels(samples, format.channels, out.channels, &mut out.mapped);
        out.resampled.clear();
        out.resampler.push(&out.mapped, &mut out.resampled)?;
        let limit =
            (MAX_QUEUED.as_secs_f64() * f64::from(out.rate) * f64::from(out.channels)) as usize;
        let block = std::mem::take(&mut out.resampled);
        let result = self.enqueue(&block, limit);
        if let Some(out) = self.output.as_mut() {
            out.resampled = block;
        }
        result
    }

    /// Waits until everything queued has been played (and the device's
    /// own latency, up to half a second), then closes the stream. A device
    /// that stopped taking sound ends the wait with an error.
    pub fn finish(mut self) -> Result<(), SpeakerError> {
        let Some(mut out) = self.output.take() else {
            return Ok(());
        };
        let mut tail = Vec::new();
        out.resampler.finish(&mut tail)?;
        self.enqueue(&tail, usize::MAX)?;
        let latency = {
            let mut queue = self.shared.lock();
            queue.draining = true;
            while !queue.samples.is_empty() {
                queue = self.wait(queue)?;
            }
            queue.latency
        };
        std::thread::sleep(latency.min(MAX_TAIL));
        self.check()?;
        drop(out);
        Ok(())
    }

    /// Appends `block` once the queue has room for it under `limit`
    /// samples (an empty queue always has).
    fn enqueue(&self, block: &[f32], limit: usize) -> Result<(), SpeakerError> {
        let mut queue = self.shared.lock();
        while !queue.samples.is_empty() && queue.samples.len() + block.len() > limit {
            queue = self.wait(queue)?;
        }
        queue.samples.extend(block);
        Ok(())
    }

    /// Waits for the device to take samples: the error it reported, or
    /// [`SpeakerError::Stalled`] when it took none for [`STALL`].
    fn wait<'a>(
        &'a self,
        queue: MutexGuard<'a, Queue>,
    ) -> Result<MutexGuard<'a, Queue>, SpeakerError> {
        let before = queue.taken;
        let (mut queue, _) = self
            .shared
            .taken
            .wait_timeout_while(queue, STALL, |queue| {
                queue.taken == before && queue.error.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        if let Some(source) = queue.error.take() {
            return Err(SpeakerError::Device {
                device: self.name.clone(),
                source,
            });
        }
        if queue.taken == before {
            return Err(SpeakerError::Stalled {
                device: self.name.clone(),
                seconds: STALL,
            });
        }
        Ok(queue)
    }

    /// The error the device reported since the last look, if any.
    fn check(&self) -> Result<(), SpeakerError> {
        match self.shared.lock().error.take() {
            Some(source) => Err(SpeakerError::Device {
                device: self.name.clone(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// A stream for `format`: the sound's own rate and channels where the
    /// device takes them, else the device's default configuration, with
    /// the channels mapped and the rate converted on the way.
    fn build(&self, format: AudioFormat) -> Result<Output, SpeakerError> {
        #[cfg(target_os = "linux")]
        let _quiet = super::alsa_quiet::Quiet::new();
        let refused = |source| SpeakerError::Format {
            device: self.name.clone(),
            sample_rate: format.sample_rate,
            channels: format.channels,
            source,
        };
        let (config, sample_format) = match self.matching_config(format) {
            Some(found) => found,
            None => {
                let default = self.device.default_output_config().map_err(refused)?;
                (default.config(), default.sample_format())
            }
        };
        let shared = Arc::clone(&self.shared);
        let stream = match sample_format {
            SampleFormat::F32 => stream::<f32>(&self.device, &config, shared),
            SampleFormat::F64 => stream::<f64>(&self.device, &config, shared),
            SampleFormat::I16 => stream::<i16>(&self.device, &config, shared),
            SampleFormat::I32 => stream::<i32>(&self.device, &config, shared),
            SampleFormat::U16 => stream::<u16>(&self.device, &config, shared),
            SampleFormat::U8 => stream::<u8>(&self.device, &config, shared),
            other => {
                return Err(SpeakerError::SampleFormat {
                    device: self.name.clone(),
                    format: other,
                })
            }
        }
        .and_then(|stream| stream.play().map(|()| stream))
        .map_err(refused)?;
        let resampler = Resampler::new(format.sample_rate, config.sample_rate, config.channels)?;
        Ok(Output {
            _stream: stream,
            input: format,
            channels: config.channels,
            rate: config.sample_rate,
            resampler,
            mapped: Vec::new(),
            resampled: Vec::new(),
        })
    }

    /// A configuration with the sound's rate and channels, float samples
    /// preferred, when the device lists one.
    fn matching_config(&self, format: AudioFormat) -> Option<(StreamConfig, SampleFormat)> {
        let ranges: Vec<_> = self.device.supported_output_configs().ok()?.collect();
        let fits = |range: &cpal::SupportedStreamConfigRange| {
            range.channels() == format.channels
                && (range.min_sample_rate()..=range.max_sample_rate()).contains(&format.sample_rate)
        };
        [SampleFormat::F32, SampleFormat::I16, SampleFormat::I32]
            .into_iter()
            .find_map(|wanted| {
                ranges
                    .iter()
                    .find(|range| fits(range) && range.sample_format() == wanted)
                    .map(|range| (range.with_sample_rate(format.sample_rate).config(), wanted))
            })
    }
}

/// Builds the device's stream of samples `T`, fed from the shared queue.
fn stream<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    shared: Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let errors = Arc::clone(&shared);
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let mut queue = shared.lock();
            if !queue.primed
                && !queue.samples.is_empty()
                && (queue.draining || queue.samples.len() >= queue.lead)
            {
                queue.primed = true;
            }
            let silence = T::from_sample(0.0f32);
            for slot in data.iter_mut() {
                *slot = match queue.primed {
                    true => queue.samples.pop_front().map_or(silence, T::from_sample),
                    false => silence,
                };
            }
            if queue.samples.is_empty() {
                // Ran dry: wait for the lead again.
                queue.primed = false;
            }
            queue.taken += data.len() as u64;
            let stamp = info.timestamp();
            queue.latency = stamp.playback.duration_since(stamp.callback);
            drop(queue);
            shared.taken.notify_all();
        },
        move |error: cpal::Error| match error.kind() {
            // Glitches, not failures: playing goes on.
            ErrorKind::Xrun | ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {
                log::warn!("sound output: {error}");
            }
            _ => {
                let mut queue = errors.lock();
                queue.error.get_or_insert(error);
                drop(queue);
                errors.taken.notify_all();
            }
        },
        None,
    )
}

/// Interleaved `input` of `from` channels as `to` channels in `output`:
/// mono to every channel, everything averaged into mono, otherwise channel
/// by channel (channels the sound lacks stay silent).
fn map_channels(input: &[f32], from: u16, to: u16, output: &mut Vec<f32>) {
    let (from, to) = (usize::from(from.max(1)), usize::from(to.max(1)));
    output.clear();
    if from == to {
        output.extend_from_slice(input);
        return;
    }
    for frame in input.chunks_exact(from) {
        if from == 1 {
            output.extend(std::iter::repeat_n(frame[0], to));
        } else if to == 1 {
            output.push(frame.iter().sum::<f32>() / from as f32);
        } else {
            output.extend((0..to).map(|channel| frame.get(channel).copied().unwrap_or(0.0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::map_channels;

    #[test]
    fn channels_are_spread_averaged_or_kept() {
        let mut out = Vec::new();
        map_channels(&[0.5, -0.25], 1, 2, &mut out);
        assert_eq!(out, [0.5, 0.5, -0.25, -0.25]);
        map_channels(&[0.5, 0.25, -1.0, 0.0], 2, 1, &mut out);
        assert_eq!(out, [0.375, -0.5]);
        map_channels(&[0.5, 0.25], 2, 3, &mut out);
        assert_eq!(out, [0.5, 0.25, 0.0]);
        map_channels(&[0.5, 0.25, 0.125, 1.0], 2, 2, &mut out);
        assert_eq!(out, [0.5, 0.25, 0.125, 1.0]);
    }
}
