//! Fragmented MP4 (ISO/IEC 14496-12, the CMAF shape HLS plays): an init
//! segment (`ftyp` + `moov` with `mvex`) and media fragments (`moof` +
//! `mdat`) for one H.264 video track and one AAC audio track, either or
//! both, built from what FLV carries.
//!
//! The boxes are encoded by the `mp4-atom` crate; this module only decides
//! what goes into them:
//!
//! * [`VideoTrack::from_flv_config`] takes the AVC sequence header's
//!   `AVCDecoderConfigurationRecord` (an `avc1` sample entry with its
//!   `avcC`, the picture size read from the SPS), [`AudioTrack::from_flv_config`]
//!   the AAC sequence header's `AudioSpecificConfig` (an `mp4a` sample entry
//!   with its `esds`).
//! * [`init_segment`] writes `ftyp` and `moov` for the tracks given: video
//!   is track [`VIDEO_TRACK_ID`] on a 90 kHz clock, audio track
//!   [`AUDIO_TRACK_ID`] on its sample rate; leave the video out for an
//!   audio-only rendition.
//! * [`fragment`] writes one `moof` (one `traf` per track, each with its
//!   `tfdt` base decode time and a `trun` of durations, sizes, sync flags
//!   and, for video, signed composition offsets) and one `mdat` holding the
//!   samples as they are: AVCC access units (length-prefixed NAL units, no
//!   Annex-B conversion) and raw AAC frames.
//!
//! Nothing here panics on what a publisher sends: bad configuration
//! records are [`Fmp4Error`]s.

mod fragment;
mod init;
mod track;

use thiserror::Error;

pub use fragment::{fragment, Sample, TrackRun};
pub use init::init_segment;
pub use track::{AudioTrack, VideoTrack, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};

/// Why an init segment or fragment cannot be made.
#[derive(Debug, Error)]
pub enum Fmp4Error {
    /// The AVC sequence header is not a usable configuration record.
    #[error("unusable AVC configuration: {0}")]
    AvcConfig(#[from] crate::avc::AvcError),
    /// The AAC `AudioSpecificConfig` cannot be read.
    #[error("unusable AAC AudioSpecificConfig: {0}")]
    AudioConfig(String),
    /// Neither a video nor an audio track was given.
    #[error("an init segment needs at least one track")]
    NoTracks,
    /// A fragment's samples do not fit the 32-bit fields of a `trun`.
    #[error("fragment too large: {0}")]
    TooLarge(&'static str),
    /// The box encoder refused a value.
    #[error("cannot encode MP4 boxes: {0}")]
    Encode(#[from] mp4_atom::Error),
}
