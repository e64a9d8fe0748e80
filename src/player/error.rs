//! [`PlayerError`]: why playing could not start or ended early, with the
//! other modules' errors kept as sources; and the tests that check each
//! failure keeps its cause.

use std::path::PathBuf;

use thiserror::Error;

use crate::audio::AudioError;
use crate::flv::FlvError;
use crate::geometry::GeometryError;
use crate::pipeline::PipelineError;
use crate::rtmp::play::PlayError;
use crate::rtmp::UrlError;
use crate::source::SourceError;
use crate::CallbackError;

use super::SpeakerError;

/// Why playing could not start or ended early. Where another module's
/// error is the cause, the variant keeps it as its
/// [`source`](std::error::Error::source).
#[derive(Debug, Error)]
pub enum PlayerError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// `playUrl` is neither an FLV file nor a usable RTMP URL.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// The view's size is not one the GPU pipeline can draw.
    #[error("view: {0}")]
    View(#[source] GeometryError),
    /// A thread of the player could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file could not be opened.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file's header could not be read.
    #[error("cannot read {path}: {source}")]
    Flv {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: FlvError,
    },
    /// The reference clip (`--reference`) could not be read.
    #[error("reference clip: {0}")]
    Reference(#[source] SourceError),
    /// The server refused the stream (3004, not retried).
    #[error("{0}")]
    Rejected(#[source] PlayError),
    /// The reconnect attempts ran out (-2301).
    #[error("{0}")]
    Disconnected(String),
    /// Drawing a frame into the view failed.
    #[error("sink: drawing into the view: {0}")]
    Render(#[source] PipelineError),
    /// The application's [`FrameSink`](super::FrameSink) or
    /// [`AudioSink`](super::AudioSink) failed; its error
    /// is the source.
    #[error("sink: {0}")]
    Sink(#[source] CallbackError),
    /// The sound could not be played on the output device (`speaker`):
    /// there is none, it refused the sound's format, or it failed.
    #[error("speaker: {0}")]
    Speaker(#[source] SpeakerError),
    /// An output file (the WAV) could not be created.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The WAV file could not be written.
    #[error("cannot write {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: AudioError,
    },
    /// A snapshot could not be saved.
    #[error("cannot write {path}: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// The stream's video can never be shown (a codec other than H.264,
    /// or an H.264 profile the decoder refuses, such as 4:4:4 10-bit) and
    /// no frame was shown: the player ends rather than wait in vain.
    #[error("nothing can be shown: {0}")]
    UnsupportedVideo(String),
    /// The player thread is gone.
    #[error("the player thread stopped unexpectedly")]
    Stopped,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use std::time::Instant;

    use super::*;
    use crate::audio::AudioFormat;
    use crate::frame::I420Frame;
    use crate::player::{AudioSink, Displayed, FrameSink, LivePlayer, PlayerConfig};

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir(&format!("player-errors-{name}"))
    }

    fn not_flv(name: &str) -> PathBuf {
        let path = scratch(name).join("not.flv");
        std::fs::write(&path, b"this is not an FLV stream at all").expect("write");
        path
    }

    /// The player error is `Send + Sync + 'static`, so it can be boxed or
    /// sent across threads like any other error.
    #[test]
    fn errors_can_be_boxed_and_sent() {
        fn boxable<E: std::error::Error + Send + Sync + 'static>() {}
        boxable::<PlayerError>();
    }

    #[test]
    fn a_missing_reference_keeps_the_source_error() {
        let config = PlayerConfig {
            play_url: "rtmp://127.0.0.1/live/x".into(),
            reference: Some(scratch("reference").join("no-such-reference.y4m")),
            ..Default::default()
        };
        let error = config.validate().expect_err("a missing reference");
        assert!(error.to_string().starts_with("reference clip: cannot read"));
        assert!(matches!(
            error.source().and_then(|s| s.downcast_ref::<SourceError>()),
            Some(SourceError::Io { .. })
        ));
    }

    #[test]
    fn a_missing_flv_file_is_an_input_error_with_an_io_source() {
        let path = scratch("missing").join("no-such-stream.flv");
        let config = PlayerConfig {
            play_url: path.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let error = config.validate().expect_err("a missing file");
        assert!(error.to_string().starts_with("cannot read"), "{error}");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_file_that_is_not_flv_keeps_the_flv_error() {
        let config = PlayerConfig {
            play_url: not_flv("not-flv").to_string_lossy().into_owned(),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, None).expect("the settings are fine");
        let error = player.wait().expect_err("not an FLV file");
        assert!(error.to_string().starts_with("cannot read"), "{error}");
        assert!(
            matches!(
                error.source().and_then(|s| s.downcast_ref::<FlvError>()),
                Some(FlvError::NotFlv { .. })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_wav_file_that_cannot_be_created_keeps_the_io_error() {
        let wav = scratch("wav").join("no/such/dir/sound.wav");
        let config = PlayerConfig {
            play_url: not_flv("wav-input").to_string_lossy().into_owned(),
            audio_output: Some(wav.clone()),
            ..Default::default()
        };
        let player = LivePlayer::start(config, None, None).expect("the settings are fine");
        let error = player.wait().expect_err("the WAV cannot be created");
        assert!(matches!(&error, PlayerError::Output { path, .. } if *path == wav));
        assert!(error.to_string().starts_with("cannot write"), "{error}");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_speaker_error_keeps_the_audio_hosts_error() {
        let error = PlayerError::Speaker(SpeakerError::Unavailable {
            device: "default".into(),
            source: cpal::Error::new(cpal::ErrorKind::DeviceNotAvailable),
        });
        assert!(
            error
                .to_string()
                .starts_with("speaker: cannot open the sound output device \"default\": "),
            "{error}"
        );
        let speaker = error
            .source()
            .and_then(|s| s.downcast_ref::<SpeakerError>())
            .expect("the speaker error");
        let host = speaker
            .source()
            .and_then(|s| s.downcast_ref::<cpal::Error>())
            .expect("cpal's error");
        assert_eq!(host.kind(), cpal::ErrorKind::DeviceNotAvailable);
    }

    #[test]
    fn failing_sinks_are_the_source() {
        let frame = I420Frame::black(16, 16).expect("frame");
        let shown = Displayed {
            index: 3,
            at: Instant::now(),
            stamp: None,
        };
        let mut sink: FrameSink = Box::new(|_, shown| {
            if shown.index > 2 {
                Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the preview went away",
                ))?;
            }
            Ok(())
        });
        let error = PlayerError::Sink(sink(&frame, shown).expect_err("fails"));
        assert_eq!(error.to_string(), "sink: the preview went away");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe);

        let format = AudioFormat::new(48_000, 2).expect("format");
        let mut audio: AudioSink = Box::new(|_, _, ms| Err(format!("no room at {ms} ms").into()));
        let error = PlayerError::Sink(audio(&[0.0; 4], format, 40).expect_err("fails"));
        assert_eq!(error.to_string(), "sink: no room at 40 ms");
        assert_eq!(
            error.source().map(ToString::to_string).as_deref(),
            Some("no room at 40 ms")
        );
    }
}
