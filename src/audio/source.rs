//! Where the pusher's sound comes from: nothing, a test tone, or a file
//! (WAV, MP3, AAC/M4A, FLAC, Ogg Vorbis, the AAC of an FLV, decoded with
//! symphonia) standing in for a microphone. Every source delivers the stream's format; files
//! are converted (channels mixed or duplicated, the rate resampled).

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::flv_sound::FlvAdtsStream;
use super::resample::{ResampleError, Resampler};
use super::{AudioError, AudioFormat};

/// Frequency of the test tone's beeps, Hz.
pub const TONE_BEEP_FREQUENCY: f64 = 1000.0;

/// Length of each beep at the start of every second.
pub const TONE_BEEP_LENGTH: Duration = Duration::from_millis(100);

/// Consecutive undecodable packets after which a file counts as broken.
const MAX_BAD_PACKETS: u32 = 32;

/// A supply of samples in one format.
pub trait AudioSource: Send {
    /// The format of the samples it gives.
    fn format(&self) -> AudioFormat;

    /// Fills `out` (interleaved, whole frames) and returns the frames
    /// written: fewer than fit only at the end of the source.
    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError>;

    /// The total length, when known.
    fn duration(&self) -> Option<Duration> {
        None
    }

    /// What it is, for messages.
    fn describe(&self) -> String;
}

/// Silence without end: the "no microphone" source.
#[derive(Debug, Clone)]
pub struct SilenceSource {
    format: AudioFormat,
}

impl SilenceSource {
    /// Silence in `format`.
    pub fn new(format: AudioFormat) -> Self {
        Self { format }
    }
}

impl AudioSource for SilenceSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        out.fill(0.0);
        Ok(out.len() / usize::from(self.format.channels))
    }

    fn describe(&self) -> String {
        "silence".into()
    }
}

/// A generated sine tone: continuous, or the sync pattern (a 1 kHz beep
/// for the first 100 ms of every second of stream time, as A/V sync test
/// signals do, so that the player can line decoded sound up with the
/// video's frame stamps).
#[derive(Debug, Clone)]
pub struct ToneSource {
    format: AudioFormat,
    frequency: f64,
    amplitude: f32,
    /// Beep only at the start of each second.
    beeping: bool,
    position: u64,
}

impl ToneSource {
    /// The sync pattern: 1 kHz beeps at −6 dBFS peak, 100 ms long, one per
    /// second, starting at stream time 0.
    pub fn sync_beeps(format: AudioFormat) -> Self {
        Self {
            format,
            frequency: TONE_BEEP_FREQUENCY,
            amplitude: 0.5,
            beeping: true,
            position: 0,
        }
    }

    /// A steady sine at `frequency` Hz with peak `amplitude` (0..1).
    pub fn continuous(format: AudioFormat, frequency: f64, amplitude: f32) -> Self {
        Self {
            format,
            frequency,
            amplitude: amplitude.clamp(0.0, 1.0),
            beeping: false,
            position: 0,
        }
    }
}

impl AudioSource for ToneSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        let rate = u64::from(self.format.sample_rate);
        let beep = (TONE_BEEP_LENGTH.as_secs_f64() * rate as f64) as u64;
        let channels = usize::from(self.format.channels);
        let frames = out.len() / channels;
        for frame in out.chunks_exact_mut(channels) {
            let within_second = self.position % rate;
            let on = !self.beeping || within_second < beep;
            let value = if on {
                // Phase from the start of the second keeps every beep alike.
                let t = if self.beeping {
                    within_second as f64 / rate as f64
                } else {
                    self.position as f64 / rate as f64
                };
                self.amplitude * (2.0 * std::f64::consts::PI * self.frequency * t).sin() as f32
            } else {
                0.0
            };
            frame.fill(value);
            self.position += 1;
        }
        Ok(frames)
    }

    fn describe(&self) -> String {
        if self.beeping {
            format!("test tone ({} Hz beep each second)", self.frequency)
        } else {
            format!("{} Hz tone", self.frequency)
        }
    }
}

/// An audio file, decoded as it is read and converted to the stream's
/// format.
pub struct FileSource {
    path: PathBuf,
    format: AudioFormat,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    source_channels: usize,
    resampler: Resampler,
    duration: Option<Duration>,
    /// Converted samples not yet read.
    ready: VecDeque<f32>,
    scratch: Vec<f32>,
    converted: Vec<f32>,
    ended: bool,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Opens `path` and prepares to deliver it in `format`.
    pub fn open(path: &Path, format: AudioFormat) -> Result<Self, AudioError> {
        let (reader, decoder, track_id) = open_decoder(path)?;
        let fail = |reason: String| AudioError::File {
            path: path.to_path_buf(),
            reason,
        };
        let track = reader
            .tracks()
            .iter()
            .find(|track| track.id == track_id)
            .ok_or_else(|| fail("the audio track vanished".into()))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|params| params.audio())
            .ok_or_else(|| fail("no audio parameters".into()))?;
        let source_rate = params
            .sample_rate
            .ok_or_else(|| fail("the sample rate is not stated".into()))?;
        let source_channels = params.channels.as_ref().map_or(0, |c| c.count());
        if source_channels == 0 || source_rate == 0 {
            return Err(fail(format!(
                "unusable stream: {source_rate} Hz, {source_channels} channels"
            )));
        }
        let duration = track
            .num_frames
            .map(|frames| Duration::from_secs_f64(frames as f64 / f64::from(source_rate)));
        Ok(Self {
            path: path.to_path_buf(),
            format,
            reader,
            decoder,
            track_id,
            source_channels,
            resampler: Resampler::new(source_rate, format.sample_rate, format.channels).map_err(
                |source| AudioError::Resample {
                    path: path.to_path_buf(),
                    source,
                },
            )?,
            duration,
            ready: VecDeque::new(),
            scratch: Vec::new(),
            converted: Vec::new(),
            ended: false,
        })
    }

    /// Decodes the next packet into `ready`; false at the end.
    fn decode_more(&mut self) -> Result<bool, AudioError> {
        let mut bad_packets = 0;
        loop {
            if self.ended {
                return Ok(false);
            }
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(SymphoniaError::ResetRequired) => {
                    return self.end();
                }
                Err(SymphoniaError::IoError(error))
                    if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.end();
                }
                Err(error) => return Err(self.fail(error.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buffer) => {
                    buffer.copy_to_vec_interleaved::<f32>(&mut self.scratch);
                    let frames = self.scratch.len() / self.source_channels;
                    self.converted.clear();
                    remix(
                        &self.scratch[..frames * self.source_channels],
                        self.source_channels,
                        usize::from(self.format.channels),
                        &mut self.converted,
                    );
                    let mut out = Vec::with_capacity(self.converted.len() * 2);
                    if let Err(source) = self.resampler.push(&self.converted, &mut out) {
                        return Err(self.resample_failed(source));
                    }
                    self.ready.extend(out);
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => {
                    bad_packets += 1;
                    if bad_packets >= MAX_BAD_PACKETS {
                        return Err(self.fail("too many undecodable packets".into()));
                    }
                }
                Err(error) => return Err(self.fail(error.to_string())),
            }
        }
    }

    fn end(&mut self) -> Result<bool, AudioError> {
        self.ended = true;
        let mut tail = Vec::new();
        if let Err(source) = self.resampler.finish(&mut tail) {
            return Err(self.resample_failed(source));
        }
        self.ready.extend(tail);
        Ok(!self.ready.is_empty())
    }

    fn resample_failed(&self, source: ResampleError) -> AudioError {
        AudioError::Resample {
            path: self.path.clone(),
            source,
        }
    }

    fn fail(&self, reason: String) -> AudioError {
        AudioError::File {
            path: self.path.clone(),
            reason,
        }
    }
}

impl AudioSource for FileSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        let channels = usize::from(self.format.channels);
        let wanted = out.len() / channels * channels;
        while self.ready.len() < wanted {
            if !self.decode_more()? {
                break;
            }
        }
        let available = self.ready.len().min(wanted) / channels * channels;
        for (slot, sample) in out.iter_mut().zip(self.ready.drain(..available)) {
            *slot = sample;
        }
        Ok(available / channels)
    }

    fn duration(&self) -> Option<Duration> {
        self.duration
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Converts interleaved frames between channel counts: mono is copied to
/// every channel, more channels are averaged down to mono, and beyond
/// stereo the first two are kept.
fn remix(input: &[f32], from: usize, to: usize, out: &mut Vec<f32>) {
    if from == to {
        out.extend_from_slice(input);
        return;
    }
    for frame in input.chunks_exact(from) {
        match (from, to) {
            (1, _) => out.extend(std::iter::repeat_n(frame[0], to)),
            (_, 1) => out.push(frame.iter().sum::<f32>() / from as f32),
            _ => out.extend_from_slice(&frame[..to.min(from)]),
        }
    }
}

/// A file's demuxer, its audio decoder and the audio track's id.
type OpenedFile = (Box<dyn FormatReader>, Box<dyn AudioDecoder>, u32);

fn open_decoder(path: &Path) -> Result<OpenedFile, AudioError> {
    let fail = |reason: String| AudioError::File {
        path: path.to_path_buf(),
        reason,
    };
    let extension = path.extension().and_then(|e| e.to_str());
    let mut hint = Hint::new();
    let stream = if extension.is_some_and(|e| e.eq_ignore_ascii_case("flv")) {
        // FLV's AAC frames, given ADTS headers for symphonia's ADTS reader.
        hint.with_extension("aac");
        MediaSourceStream::new(
            Box::new(FlvAdtsStream::open(path).map_err(fail)?),
            Default::default(),
        )
    } else {
        if let Some(extension) = extension {
            hint.with_extension(extension);
        }
        let file = File::open(path).map_err(|e| fail(e.to_string()))?;
        MediaSourceStream::new(Box::new(file), Default::default())
    };
    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| fail(format!("not a readable audio file ({e})")))?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| fail("no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| fail("no audio parameters".into()))?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| fail(format!("unsupported codec ({e})")))?;
    let track_id = track.id;
    Ok((reader, decoder, track_id))
}

/// Whether `path` is a file whose sound this module can decode (a video
/// file with an audio track, say): what a pusher takes as its microphone
/// when the input file brings its own sound.
pub fn has_decodable_sound(path: &Path) -> bool {
    open_decoder(path).is_ok()
}

/// A whole file decoded at its own rate and channel count.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Channels, interleaved in `samples`.
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<f32>,
}

/// Decodes a whole audio file as it is (for checks and tests).
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let (mut reader, mut decoder, track_id) = open_decoder(path)?;
    let fail = |reason: String| AudioError::File {
        path: path.to_path_buf(),
        reason,
    };
    let mut samples = Vec::new();
    let mut scratch = Vec::new();
    let mut spec = None;
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(error))
                if error.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                break
            }
            Err(error) => return Err(fail(error.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                spec.get_or_insert((buffer.spec().rate(), buffer.spec().channels().count()));
                buffer.copy_to_vec_interleaved::<f32>(&mut scratch);
                samples.extend_from_slice(&scratch);
            }
            Err(SymphoniaError::DecodeError(_)) => {}
            Err(error) => return Err(fail(error.to_string())),
        }
    }
    let (sample_rate, channels) = spec.ok_or_else(|| fail("no audio decoded".into()))?;
    Ok(DecodedAudio {
        sample_rate,
        channels: u16::try_from(channels).map_err(|_| fail("too many channels".into()))?,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{beep_onsets, dominant_frequency, to_mono, WavWriter};

    #[test]
    fn sync_tone_beeps_on_each_second() {
        let format = AudioFormat::new(16_000, 1).unwrap();
        let mut tone = ToneSource::sync_beeps(format);
        let mut samples = vec![0.0; 16_000 * 3];
        assert_eq!(tone.read(&mut samples).unwrap(), 16_000 * 3);
        let onsets = beep_onsets(&samples, 16_000, 0.3);
        assert_eq!(onsets.len(), 3, "{onsets:?}");
        for (second, onset) in onsets.iter().enumerate() {
            assert!((onset - second as f64).abs() < 0.0002, "{onset}");
        }
        let beep = &samples[16_000..17_600];
        assert!((dominant_frequency(beep, 16_000).unwrap() - 1000.0).abs() < 1.0);
    }

    #[test]
    fn file_source_converts_rate_and_channels() {
        let dir = std::env::temp_dir().join(format!("liveroom-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mono-22k.wav");
        let source_format = AudioFormat::new(22_050, 1).unwrap();
        let mut writer = WavWriter::create(&path, source_format).unwrap();
        let mut tone = ToneSource::continuous(source_format, 440.0, 0.5);
        let mut samples = vec![0.0; 22_050];
        tone.read(&mut samples).unwrap();
        writer.write(&samples).unwrap();
        writer.finish().unwrap();

        let target = AudioFormat::new(48_000, 2).unwrap();
        let mut file = FileSource::open(&path, target).unwrap();
        let length = file.duration().unwrap().as_secs_f64();
        assert!((length - 1.0).abs() < 0.001, "{length}");
        let mut out = vec![0.0; 48_000 * 2 * 2];
        let frames = file.read(&mut out).unwrap();
        assert!((frames as i64 - 48_000).abs() <= 2, "{frames}");
        assert_eq!(file.read(&mut out).unwrap(), 0);
        let mono = to_mono(&out[..frames * 2], 2);
        let frequency = dominant_frequency(&mono[4800..43_200], 48_000).unwrap();
        assert!((frequency - 440.0).abs() < 0.5, "{frequency}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_files_are_clear_errors() {
        let missing = Path::new("/nonexistent/bgm.mp3");
        let format = AudioFormat::new(48_000, 2).unwrap();
        assert!(matches!(
            FileSource::open(missing, format),
            Err(AudioError::File { .. })
        ));
        let dir = std::env::temp_dir().join(format!("liveroom-audio-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.wav");
        std::fs::write(&junk, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
        let error = FileSource::open(&junk, format).unwrap_err();
        assert!(error.to_string().contains("junk.wav"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
