//! [`PushError`]: why a push could not start or ended early, with the
//! other modules' errors kept as sources and the plugin's event code of
//! each; and the tests that check each failure keeps its cause.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::audio::AudioError;
use crate::avc::AvcError;
use crate::effects::BackgroundError;
use crate::encoder::EncoderError;
use crate::events::PushCode;
use crate::face::{FaceError, SegmentError};
use crate::flv::FlvError;
use crate::frame::FrameError;
use crate::geometry::GeometryError;
use crate::pipeline::PipelineError;
use crate::rtmp::{PublishError, UrlError};
use crate::source::SourceError;
use crate::CallbackError;

/// Why a push could not start or ended early. Where another module's
/// error is the cause, the variant keeps it as its
/// [`source`](std::error::Error::source).
#[derive(Debug, Error)]
pub enum PushError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// `minBitrate`/`maxBitrate` are out of range or inverted.
    #[error("{0}")]
    Bitrate(#[source] EncoderError),
    /// `zoom` (or another geometry setting) is out of range.
    #[error("{0}")]
    Geometry(#[from] GeometryError),
    /// `pushUrl` is not a usable RTMP URL.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// `waitingImage` could not be read or decoded.
    #[error("waiting image {path}: {source}")]
    WaitingImage {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// A picture (the waiting image, or black) could not be made a frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The preview window could not be opened.
    #[error("preview: {0}")]
    Preview(#[source] crate::window::WindowError),
    /// A thread of the push could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The frame source failed (-1301).
    #[error("frame source failed: {0}")]
    Source(#[from] SourceError),
    /// The landmarker could not start or failed.
    #[error("{0}")]
    Faces(#[from] FaceError),
    /// The person segmenter could not start or failed.
    #[error("{0}")]
    Segmenter(#[from] SegmentError),
    /// The background picture could not be read or decoded.
    #[error("background image {path}: {source}")]
    BackgroundImage {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// The background could not be blurred or replaced.
    #[error("background: {0}")]
    Background(#[from] BackgroundError),
    /// The GPU pipeline failed.
    #[error("GPU pipeline: {0}")]
    Pipeline(#[from] PipelineError),
    /// A frame submitted to the GPU pipeline did not come back.
    #[error("GPU pipeline: a submitted frame went missing")]
    FrameMissing,
    /// The video encoder failed (-1303).
    #[error("video encoder: {0}")]
    Encoder(#[from] EncoderError),
    /// x264's parameter sets could not be made an AVC configuration
    /// (-1303).
    #[error("video encoder: bad parameter sets: {0}")]
    ParameterSets(#[source] AvcError),
    /// The AVC sequence header could not be built (-1303).
    #[error("video encoder: bad parameter sets: {0}")]
    SequenceHeader(#[source] FlvError),
    /// An encoded frame could not be repackaged from Annex B to AVCC
    /// (-1303).
    #[error("video encoder: {0}")]
    Packaging(#[source] AvcError),
    /// The microphone (an audio file) could not be read (-1302).
    #[error("microphone: {0}")]
    Microphone(#[source] AudioError),
    /// The AAC encoder failed (-1304).
    #[error("audio encoder: {0}")]
    AudioEncoder(#[source] AudioError),
    /// A sample rate AAC cannot carry (-1306).
    #[error("{0}")]
    UnsupportedSampleRate(#[source] AudioError),
    /// Background music could not be played.
    #[error("background music: {0}")]
    Bgm(#[source] AudioError),
    /// Background music was asked for on a stream without an audio track.
    #[error("background music: the stream has no audio track (audio is off)")]
    NoAudioTrack,
    /// A file could not be created.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The FLV file could not be written.
    #[error("cannot write {path}: {source}")]
    FlvOutput {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: FlvError,
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
    /// The application's [`FrameTap`](super::FrameTap) failed; its error is the source.
    #[error("frame tap: {0}")]
    FrameTap(#[source] CallbackError),
    /// The server refused the stream (3004, not retried).
    #[error("{0}")]
    Rejected(#[source] PublishError),
    /// The reconnect attempts ran out (-1307).
    #[error("{0}")]
    Disconnected(String),
    /// The push thread is gone.
    #[error("the push thread stopped unexpectedly")]
    Stopped,
}

impl PushError {
    /// The plugin's event code for this error, where it has one.
    pub fn code(&self) -> Option<PushCode> {
        match self {
            PushError::Source(_) => Some(PushCode::SourceFailed),
            PushError::Encoder(_)
            | PushError::ParameterSets(_)
            | PushError::SequenceHeader(_)
            | PushError::Packaging(_) => Some(PushCode::VideoEncodeFailed),
            PushError::Microphone(_) => Some(PushCode::MicrophoneFailed),
            PushError::AudioEncoder(_) => Some(PushCode::AudioEncodeFailed),
            PushError::UnsupportedSampleRate(_) => Some(PushCode::UnsupportedSampleRate),
            PushError::Rejected(_) => Some(PushCode::ServerClosed),
            PushError::Disconnected(_) => Some(PushCode::Disconnected),
            _ => None,
        }
    }

    pub(super) fn output(path: &Path, source: std::io::Error) -> Self {
        PushError::Output {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn flv_output(path: &Path, source: FlvError) -> Self {
        PushError::FlvOutput {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn thread(name: &'static str, source: std::io::Error) -> Self {
        PushError::Thread { name, source }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::super::audio_feed::AudioFeed;
    use super::super::faces::{FaceFeed, FrameBudget};
    use super::super::uplink::FlvFile;
    use super::super::{AudioInput, FaceInput, FrameTap, PusherConfig};
    use super::*;
    use crate::flv::FlvHeader;
    use crate::frame::I420Frame;
    use crate::source::open_source;

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir(&format!("push-errors-{name}"))
    }

    /// The push error is `Send + Sync + 'static`, so it can be boxed or
    /// sent across threads like any other error.
    #[test]
    fn errors_can_be_boxed_and_sent() {
        fn boxable<E: std::error::Error + Send + Sync + 'static>() {}
        boxable::<PushError>();
    }

    #[test]
    fn a_missing_y4m_file_keeps_the_source_error() {
        let missing = scratch("missing").join("no-such-clip.y4m");
        let Err(cause) = open_source(missing.to_str().expect("utf-8"), 30.0) else {
            panic!("a missing file opened");
        };
        let error = PushError::from(cause);
        assert_eq!(error.code(), Some(PushCode::SourceFailed));
        assert!(error
            .to_string()
            .starts_with("frame source failed: cannot read"));
        let source = error.source().expect("a source");
        assert!(
            matches!(
                source.downcast_ref::<SourceError>(),
                Some(SourceError::Io { .. })
            ),
            "{source:?}"
        );
        // The chain goes on down to the operating system's error.
        let io = source.source().expect("the io error");
        assert_eq!(
            io.downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_truncated_frame_read_while_pushing_keeps_the_source_error() {
        let path = scratch("truncated").join("truncated.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W64 H64 F30:1 C420jpeg\nFRAME\nabc").expect("write");
        let mut source = open_source(path.to_str().expect("utf-8"), 30.0).expect("header");
        let mut budget = FrameBudget {
            read: 0,
            limit: None,
        };
        let mut feed = FaceFeed::new(FaceInput::None, false, 1, 1, None).expect("no faces");
        let Err(error) = feed.next(source.as_mut(), &mut budget) else {
            panic!("a truncated frame was read");
        };
        assert!(
            error.to_string().contains("frame 0 is truncated"),
            "{error}"
        );
        assert!(
            matches!(
                error.source().and_then(|s| s.downcast_ref::<SourceError>()),
                Some(SourceError::Y4mFrame { index: 0, .. })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn an_flv_file_that_cannot_be_created_keeps_the_io_error() {
        let path = scratch("output").join("no/such/dir/out.flv");
        let header = FlvHeader {
            has_audio: false,
            has_video: true,
        };
        let Err(error) = FlvFile::create(&path, header) else {
            panic!("a file in a missing folder was created");
        };
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot write {}", path.display())),
            "{error}"
        );
        assert!(matches!(&error, PushError::Output { path: p, .. } if *p == path));
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_microphone_file_that_cannot_be_read_keeps_the_audio_error() {
        let config = PusherConfig {
            audio: AudioInput::File(scratch("microphone").join("no-such-sound.wav")),
            ..Default::default()
        };
        let Err(error) = AudioFeed::open(&config) else {
            panic!("a missing microphone file opened");
        };
        assert_eq!(error.code(), Some(PushCode::MicrophoneFailed));
        assert!(error.to_string().starts_with("microphone: "), "{error}");
        assert!(error
            .source()
            .is_some_and(|s| s.downcast_ref::<AudioError>().is_some()));
    }

    #[test]
    fn settings_refused_by_other_modules_keep_their_errors() {
        let bitrate = PusherConfig {
            min_bitrate_kbps: Some(900),
            max_bitrate_kbps: Some(300),
            ..Default::default()
        };
        let error = bitrate.validate().expect_err("inverted bitrates");
        assert!(matches!(
            error,
            PushError::Bitrate(EncoderError::BitrateRange { .. })
        ));
        assert_eq!(error.code(), None);
        let url = PusherConfig {
            push_url: Some("http://example.com/live/x".into()),
            ..Default::default()
        };
        let error = url.validate().expect_err("not rtmp");
        assert!(error.to_string().contains("rtmp://"), "{error}");
        assert!(error
            .source()
            .is_some_and(|s| s.downcast_ref::<UrlError>().is_some()));
        let rate = PusherConfig {
            audio: AudioInput::Tone,
            audio_sample_rate: Some(12_345),
            ..Default::default()
        };
        let error = rate.audio_format().expect_err("not an AAC rate");
        assert_eq!(error.code(), Some(PushCode::UnsupportedSampleRate));
        assert!(matches!(
            error,
            PushError::UnsupportedSampleRate(AudioError::UnsupportedSampleRate(12_345))
        ));
    }

    #[test]
    fn a_failing_frame_tap_is_the_source() {
        // A tap that fails with an io::Error, and one with a plain message.
        let mut tap: FrameTap = Box::new(|_, _, _| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "disk full",
            ))?
        });
        let frame = I420Frame::black(16, 16).expect("frame");
        let error = PushError::FrameTap(tap(0, &frame, &[]).expect_err("fails"));
        assert_eq!(error.to_string(), "frame tap: disk full");
        let io = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);

        let mut tap: FrameTap =
            Box::new(|index, _, _| Err(format!("frame {index} refused").into()));
        let error = PushError::FrameTap(tap(7, &frame, &[]).expect_err("fails"));
        assert_eq!(error.to_string(), "frame tap: frame 7 refused");
        assert_eq!(
            error.source().map(ToString::to_string).as_deref(),
            Some("frame 7 refused")
        );
    }
}
