//! The player's audio: AAC units wait in a queue (the audio cache) until
//! the play clock reaches them, are decoded with symphonia and handed to
//! the application (silence while muted), to the WAV file and to the
//! [`Speaker`]; and the
//! test tone's beeps are found in what was decoded, so that the summary can
//! say how far sound and picture are apart.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use super::speaker::{self, Speaker};
use super::verify::Spread;
use super::PlayerError;
use crate::audio::{AacDecoder, AudioError, AudioFormat, BeepFinder, WavWriter, AAC_FRAME_LEN};
use crate::CallbackError;

/// Called with every decoded block: interleaved samples (silence while
/// muted), their format, and the presentation time of the first, in ms.
/// An error ends the playback with [`PlayerError::Sink`], which keeps it
/// as its source.
pub type AudioSink = Box<dyn FnMut(&[f32], AudioFormat, u64) -> Result<(), CallbackError> + Send>;

/// A beep starts when the level rises past this...
const BEEP_LOUD: f32 = 0.1;
/// ...after this long (seconds) below this.
const BEEP_QUIET: f32 = 0.02;
const BEEP_MIN_GAP: f64 = 0.3;

/// What the player measured of the sound.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioSummary {
    /// Sample rate of the stream.
    pub sample_rate: u32,
    /// Channels of the stream.
    pub channels: u16,
    /// AAC units received.
    pub packets_received: u64,
    /// AAC units decoded.
    pub packets_decoded: u64,
    /// AAC units the decoder refused (2102).
    pub decode_errors: u64,
    /// Seconds of sound decoded.
    pub seconds_decoded: f64,
    /// From the stream's timestamps: the first audio unit's time minus the
    /// first video frame's presentation time, ms (the first unit is the
    /// encoder's one-frame pre-roll, 21 ms at 48 kHz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_offset_ms: Option<f64>,
    /// From the stream's timestamps: the largest distance between an
    /// audio unit's time and where the samples before it put it, ms.
    pub timestamp_drift_ms: f64,
    /// Beeps of the test tone found in the decoded sound.
    pub beeps: u64,
    /// From decoded content: for each beep, its presentation time minus
    /// that of the video frame stamped for the same instant, ms (needs
    /// stamp verification and the test tone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub av_offset_ms: Option<Spread>,
    /// The last beep's offset minus the first's, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub av_drift_ms: Option<f64>,
}

/// What releasing the due sound ran into.
#[derive(Debug, Default)]
pub(super) struct SoundOutcome {
    /// Units the decoder refused (2102 each).
    pub(super) decode_errors: Vec<String>,
    /// The WAV file or the sink failed: playback ends.
    pub(super) output_error: Option<PlayerError>,
}

/// Why one unit did not make it out.
enum Failure {
    Decode(String),
    Output(PlayerError),
}

/// The audio side of a playback.
pub(super) struct SoundTrack {
    decoder: Option<AacDecoder>,
    config: Vec<u8>,
    /// AAC units waiting for the play clock: (time ms, unit).
    queue: VecDeque<(u64, Bytes)>,
    /// The audio's own clock, for streams without video.
    clock: Option<(Instant, u64)>,
    min_cache: Duration,
    muted: bool,
    wav_path: Option<PathBuf>,
    wav: Option<WavWriter>,
    sink: Option<AudioSink>,
    speaker: Option<Speaker>,
    /// The speaker failed outside a release (starting its stream): the
    /// next release ends playback with it.
    speaker_error: Option<PlayerError>,
    beeps: BeepFinder,
    summary: AudioSummary,
    first_ts: Option<u64>,
    samples_decoded: u64,
    silence: Vec<f32>,
}

impl SoundTrack {
    pub(super) fn new(
        min_cache: Duration,
        muted: bool,
        wav_path: Option<PathBuf>,
        sink: Option<AudioSink>,
        speaker: Option<Speaker>,
    ) -> Self {
        Self {
            decoder: None,
            config: Vec::new(),
            queue: VecDeque::new(),
            clock: None,
            min_cache,
            muted,
            wav_path,
            wav: None,
            sink,
            speaker,
            speaker_error: None,
            beeps: BeepFinder::new(BEEP_LOUD, BEEP_QUIET, BEEP_MIN_GAP),
            summary: AudioSummary::default(),
            first_ts: None,
            samples_decoded: 0,
            silence: Vec::new(),
        }
    }

    /// `muted`: silence goes out instead of the sound.
    pub(super) fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// An AAC sequence header: (re)starts the decoder. Returns the reason
    /// when the configuration cannot be decoded (2102).
    pub(super) fn configure(&mut self, config: &[u8]) -> Result<(), String> {
        if self.decoder.is_some() && self.config == config {
            return Ok(());
        }
        let decoder = AacDecoder::new(config).map_err(|e| e.to_string())?;
        let format = decoder.format();
        if let Some(wav) = &self.wav {
            if wav.format() != format {
                return Err(format!(
                    "the audio format changed mid-stream ({} Hz, {} channels); the WAV file keeps the first",
                    format.sample_rate, format.channels
                ));
            }
        }
        if let Some(speaker) = &mut self.speaker {
            if let Err(error) = speaker.prepare(format) {
                self.speaker_error = Some(PlayerError::Speaker(error));
            }
        }
        self.summary.sample_rate = format.sample_rate;
        self.summary.channels = format.channels;
        self.decoder = Some(decoder);
        self.config = config.to_vec();
        Ok(())
    }

    /// Queues a unit until the clock reaches its time.
    pub(super) fn push(&mut self, timestamp_ms: u64, unit: Bytes) {
        self.summary.packets_received += 1;
        // Time going backwards is a new stream: start over.
        if self
            .queue
            .back()
            .is_some_and(|(last, _)| timestamp_ms + 1000 < *last)
        {
            self.restart();
        }
        self.queue.push_back((timestamp_ms, unit));
    }

    /// Drops what is queued (a reconnect, a resume at the live edge).
    pub(super) fn restart(&mut self) {
        self.queue.clear();
        self.clock = None;
    }

    /// Stream time held, ms of sound.
    pub(super) fn cached(&self) -> Duration {
        let unit = self.unit_duration();
        match (self.queue.front(), self.queue.back()) {
            (Some((first, _)), Some((last, _))) => {
                Duration::from_millis(last.saturating_sub(*first)) + unit
            }
            _ => Duration::ZERO,
        }
    }

    fn unit_duration(&self) -> Duration {
        match self.summary.sample_rate {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(AAC_FRAME_LEN as f64 / f64::from(rate)),
        }
    }

    /// Decodes the units that are due: up to `position` (the video's play
    /// clock, stream ms) when there is video, by the audio's own clock
    /// once `min_cache` is held when there is none, everything when
    /// `flush` (a file, or the stream's end). With a speaker, sound goes
    /// [`speaker::LEAD`] ahead of the picture's clock: the speaker holds
    /// that much queued before it plays, so each block is heard when its
    /// picture shows (less the device's own latency), not a lead later.
    pub(super) fn release(
        &mut self,
        now: Instant,
        position: Option<u64>,
        has_video: bool,
        flush: bool,
    ) -> SoundOutcome {
        let mut outcome = SoundOutcome::default();
        if let Some(error) = self.speaker_error.take() {
            outcome.output_error = Some(error);
            return outcome;
        }
        let limit = if flush {
            u64::MAX
        } else if let Some(position) = position {
            let ahead = if self.speaker.is_some() {
                speaker::LEAD.as_millis() as u64
            } else {
                0
            };
            position + ahead
        } else if has_video {
            return outcome;
        } else {
            match self.clock {
                Some((start, base)) => base + now.duration_since(start).as_millis() as u64,
                None => {
                    if self.cached() < self.min_cache {
                        return outcome;
                    }
                    let Some((first, _)) = self.queue.front() else {
                        return outcome;
                    };
                    self.clock = Some((now, *first));
                    *first
                }
            }
        };
        while self.queue.front().is_some_and(|(ts, _)| *ts <= limit) {
            let Some((timestamp, unit)) = self.queue.pop_front() else {
                break;
            };
            match self.decode(timestamp, &unit) {
                Ok(()) => {}
                Err(Failure::Decode(reason)) => outcome.decode_errors.push(reason),
                Err(Failure::Output(error)) => {
                    outcome.output_error = Some(error);
                    break;
                }
            }
        }
        if self.queue.is_empty() && !flush && !has_video {
            // Played out: the audio's own clock waits for the cache again.
            self.clock = None;
        }
        outcome
    }

    fn decode(&mut self, timestamp_ms: u64, unit: &[u8]) -> Result<(), Failure> {
        let Some(decoder) = self.decoder.as_mut() else {
            self.summary.decode_errors += 1;
            return Err(Failure::Decode("audio before its sequence header".into()));
        };
        let format = decoder.format();
        let samples = match decoder.decode(unit) {
            Ok(samples) => samples,
            Err(error) => {
                self.summary.decode_errors += 1;
                return Err(Failure::Decode(error.to_string()));
            }
        };
        self.summary.packets_decoded += 1;
        let frames = samples.len() / usize::from(format.channels.max(1));
        // Timestamps against the sample count.
        let first = *self.first_ts.get_or_insert(timestamp_ms);
        let expected =
            first as f64 + self.samples_decoded as f64 * 1000.0 / f64::from(format.sample_rate);
        let drift = (timestamp_ms as f64 - expected).abs();
        self.summary.timestamp_drift_ms = self.summary.timestamp_drift_ms.max(drift);
        self.samples_decoded += frames as u64;
        self.summary.seconds_decoded = self.samples_decoded as f64 / f64::from(format.sample_rate);
        let mono = crate::audio::to_mono(samples, format.channels);
        self.beeps
            .feed(&mono, format.sample_rate, timestamp_ms as f64 / 1000.0);
        let out: &[f32] = if self.muted {
            self.silence.clear();
            self.silence.resize(samples.len(), 0.0);
            &self.silence
        } else {
            samples
        };
        if let Some(path) = &self.wav_path {
            if self.wav.is_none() {
                let wav = WavWriter::create(path, format)
                    .map_err(|e| Failure::Output(output_error(path, e)))?;
                self.wav = Some(wav);
            }
            if let Some(wav) = &mut self.wav {
                wav.write(out)
                    .map_err(|e| Failure::Output(output_error(path, e)))?;
            }
        }
        if let Some(sink) = &mut self.sink {
            sink(out, format, timestamp_ms).map_err(|e| Failure::Output(PlayerError::Sink(e)))?;
        }
        if let Some(speaker) = &mut self.speaker {
            speaker
                .play(out, format)
                .map_err(|e| Failure::Output(PlayerError::Speaker(e)))?;
        }
        Ok(())
    }

    /// Whether sound was written to the WAV file (or one was asked for at
    /// all): `false` when `--audio-output` was given and nothing came.
    pub(super) fn wav_has_sound(&self) -> bool {
        self.wav_path.is_none() || self.wav.is_some()
    }

    /// Closes the WAV file, waits for the speaker to play out what it
    /// holds, and totals up. When a WAV file was asked for and
    /// no sound was decoded, it is still a valid WAV file: the header of a
    /// 44.1 kHz stereo 16-bit file with no samples.
    /// `video_start_ms` is the first
    /// video presentation time, `stamps` the (stamp, presentation ms) of
    /// displayed frames and `frame_ms` their interval.
    pub(super) fn finish(
        mut self,
        video_start_ms: Option<u64>,
        stamps: &[(u32, u64)],
        frame_ms: Option<f64>,
    ) -> Result<Option<AudioSummary>, PlayerError> {
        if let Some(path) = &self.wav_path {
            match self.wav.take() {
                Some(wav) => wav.finish().map_err(|e| output_error(path, e))?,
                None => write_empty_wav(path)?,
            }
        }
        if let Some(speaker) = self.speaker.take() {
            speaker.finish().map_err(PlayerError::Speaker)?;
        }
        if self.summary.packets_received == 0 {
            return Ok(None);
        }
        let mut summary = self.summary;
        summary.start_offset_ms = match (self.first_ts, video_start_ms) {
            (Some(audio), Some(video)) => Some(audio as f64 - video as f64),
            _ => None,
        };
        summary.beeps = self.beeps.onsets.len() as u64;
        if let (Some(frame_ms), false) = (frame_ms, stamps.is_empty()) {
            // Presentation time of media time 0: stamp n shows at
            // zero + n · frame interval.
            let mut zeros: Vec<f64> = stamps
                .iter()
                .map(|&(stamp, pts)| pts as f64 - f64::from(stamp) * frame_ms)
                .collect();
            zeros.sort_by(f64::total_cmp);
            let zero = zeros[zeros.len() / 2];
            let last_video = stamps.iter().map(|&(_, pts)| pts).max().unwrap_or(0) as f64;
            let offsets: Vec<f64> = self
                .beeps
                .onsets
                .iter()
                .map(|onset| onset * 1000.0)
                .filter(|&onset| onset <= last_video + frame_ms)
                .map(|onset| {
                    let second = ((onset - zero) / 1000.0).round();
                    onset - (zero + second * 1000.0)
                })
                .collect();
            summary.av_offset_ms = Spread::of(&offsets);
            if let (Some(first), Some(last)) = (offsets.first(), offsets.last()) {
                summary.av_drift_ms = Some(last - first);
            }
        }
        Ok(Some(summary))
    }
}

/// The format of the WAV file written when no sound came.
const EMPTY_WAV_RATE: u32 = 44_100;
/// See [`EMPTY_WAV_RATE`].
const EMPTY_WAV_CHANNELS: u16 = 2;

/// Writes `path` as a valid WAV file with no samples (44.1 kHz stereo
/// 16-bit): what `--audio-output` holds until sound comes, and after a
/// stream that brought none.
pub(super) fn write_empty_wav(path: &Path) -> Result<(), PlayerError> {
    let format =
        AudioFormat::new(EMPTY_WAV_RATE, EMPTY_WAV_CHANNELS).map_err(|e| output_error(path, e))?;
    WavWriter::create(path, format)
        .and_then(WavWriter::finish)
        .map_err(|e| output_error(path, e))
}

fn output_error(path: &Path, source: AudioError) -> PlayerError {
    PlayerError::Wav {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beeps_are_found_across_block_edges() {
        let rate = 48_000;
        let mut finder = BeepFinder::new(BEEP_LOUD, BEEP_QUIET, BEEP_MIN_GAP);
        let mut signal = vec![0.0f32; rate as usize * 3];
        for second in 0..3usize {
            // Each beep starts 10 samples before a block edge.
            let start = second * rate as usize + 1024 * 5 - 10;
            for i in 0..4800 {
                let t = i as f64 / f64::from(rate);
                signal[start + i] = 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin() as f32;
            }
        }
        for (index, block) in signal.chunks(1024).enumerate() {
            finder.feed(block, rate, index as f64 * 1024.0 / f64::from(rate));
        }
        assert_eq!(finder.onsets.len(), 3, "{:?}", finder.onsets);
        for (second, onset) in finder.onsets.iter().enumerate() {
            let expected = (second as f64 * f64::from(rate) + 5110.0) / f64::from(rate);
            assert!((onset - expected).abs() < 0.0001, "{onset} vs {expected}");
        }
    }
}
