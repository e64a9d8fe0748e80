//! 16-bit PCM WAV files, written as audio arrives (the player's audio
//! output). Reading goes through [`super::decode_file`].

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{AudioError, AudioFormat};

/// Size of the RIFF/WAVE header written before the samples.
const HEADER_LEN: u32 = 44;

/// Writes interleaved samples to a WAV file; the sizes in the header are
/// filled in by [`WavWriter::finish`].
#[derive(Debug)]
pub struct WavWriter {
    path: PathBuf,
    file: BufWriter<File>,
    format: AudioFormat,
    data_bytes: u64,
}

impl WavWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path, format: AudioFormat) -> Result<Self, AudioError> {
        let file = File::create(path).map_err(|e| write_error(path, e))?;
        let mut writer = Self {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            format,
            data_bytes: 0,
        };
        writer.write_header(0)?;
        Ok(writer)
    }

    /// The format of the file.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Appends interleaved samples (clamped to −1..1).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let mut bytes = Vec::with_capacity(samples.len() * 2);
        for &sample in samples {
            let value = (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        self.file
            .write_all(&bytes)
            .map_err(|e| write_error(&self.path, e))?;
        self.data_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Seconds written so far.
    pub fn seconds(&self) -> f64 {
        let frame_bytes = 2 * u64::from(self.format.channels);
        (self.data_bytes / frame_bytes) as f64 / f64::from(self.format.sample_rate)
    }

    /// Writes the final sizes and closes the file.
    pub fn finish(mut self) -> Result<(), AudioError> {
        let data = u32::try_from(self.data_bytes).map_err(|_| AudioError::Write {
            path: self.path.clone(),
            reason: "longer than a WAV file can hold (4 GiB)".into(),
        })?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| write_error(&self.path, e))?;
        self.write_header(data)?;
        self.file.flush().map_err(|e| write_error(&self.path, e))
    }

    fn write_header(&mut self, data_bytes: u32) -> Result<(), AudioError> {
        let channels = self.format.channels;
        let rate = self.format.sample_rate;
        let block_align = channels * 2;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(HEADER_LEN - 8 + data_bytes).to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes()); // PCM
        header.extend_from_slice(&channels.to_le_bytes());
        header.extend_from_slice(&rate.to_le_bytes());
        header.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        header.extend_from_slice(&block_align.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        header.extend_from_slice(b"data");
        header.extend_from_slice(&data_bytes.to_le_bytes());
        self.file
            .write_all(&header)
            .map_err(|e| write_error(&self.path, e))
    }
}

fn write_error(path: &Path, error: std::io::Error) -> AudioError {
    AudioError::Write {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode_file;

    #[test]
    fn round_trips_through_symphonia() {
        let dir = std::env::temp_dir().join(format!("liveroom-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stereo.wav");
        let format = AudioFormat::new(44_100, 2).unwrap();
        let mut writer = WavWriter::create(&path, format).unwrap();
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 / 1000.0) - 0.5).collect();
        writer.write(&samples).unwrap();
        assert!((writer.seconds() - 500.0 / 44_100.0).abs() < 1e-9);
        writer.finish().unwrap();
        let decoded = decode_file(&path).unwrap();
        assert_eq!((decoded.sample_rate, decoded.channels), (44_100, 2));
        assert_eq!(decoded.samples.len(), 1000);
        for (a, b) in samples.iter().zip(&decoded.samples) {
            assert!((a - b).abs() < 1.0 / 16_000.0);
        }
        assert!(WavWriter::create(&dir.join("no/such/dir.wav"), format).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
