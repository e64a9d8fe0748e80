//! # liveroom
//!
//! A live-video engine: a GPU frame pipeline (wgpu, WGSL shaders) for beauty
//! effects and picture geometry, H.264 and AAC encoding, RTMP push (to any
//! server or the embedded one) and play, with verification of what arrived.
//!
//! The modules follow the data flow:
//!
//! * [`frame`] — I420 frames, the CPU-side picture format;
//! * [`source`] — where frames come from: Y4M files, still images, the
//!   stamped `testsrc`; and the Y4M writer;
//! * [`landmarks`] — faces as data (box, eyes, jaw contour), per frame or
//!   from a JSON-lines file;
//! * [`face`] — the built-in landmarker (BlazeFace + FaceMesh on the CPU,
//!   tracked and smoothed), and a worker thread to run any landmarker on;
//! * [`color`] — the one colour matrix (BT.601, video range) used everywhere;
//! * [`geometry`] — presets, output sizes, and the crop/zoom/mirror/scale plan;
//! * [`effects`] — effect strengths and the per-frame effect plan (warps,
//!   skin mask, whitening curve);
//! * [`gpu`] — the wgpu device, from the environment or the application;
//! * [`pipeline`] — the GPU passes (geometry with warps and whitening,
//!   smoothing), and their CPU reference;
//! * [`audio`] — the microphone sources, the BGM mixer, AAC encoding and
//!   decoding, WAV files;
//! * [`encoder`], [`avc`], [`flv`] — x264, H.264 parameter sets and the FLV
//!   container; [`fmp4`] the fragmented MP4 boxes HLS serves;
//! * [`rtmp`] — publishing, playing, and the embedded server;
//! * [`pusher`] and [`player`] — the two components, with their events
//!   ([`events`], and the [`events::EventPrinter`] that shows them);
//!   [`decoder`] is the player's H.264 decoder;
//! * [`sinks`] — Y4M, snapshot and landmark files fed by either component;
//! * [`urls`] — the push and play URLs of a stream, signed with the
//!   anti-leech key;
//! * [`verify`] — the main job's check: a push played back from the
//!   embedded server and compared frame by frame, with its verdict and
//!   summaries.
//!
//! The `liveroom` command (`src/bin/liveroom`, the default `cli` feature)
//! is built on these; a library user can leave the feature out and compile
//! none of its argument parsing.
//!
//! ```no_run
//! use liveroom::{FrameParams, FramePipeline, GpuContext};
//! use liveroom::geometry::{Aspect, GeometryParams, Mode, Orientation, OutputSize};
//! use liveroom::source::open_source;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpu = GpuContext::from_env()?;
//! let size = OutputSize::for_preset(Mode::Fhd, Orientation::Vertical, Aspect::NineBySixteen);
//! let mut pipeline = FramePipeline::new(&gpu, size)?;
//! let mut source = open_source("testsrc", 30.0)?;
//! let params = FrameParams { geometry: GeometryParams::new(1.0, true)?, ..Default::default() };
//! while let Some(frame) = source.next_frame()? {
//!     let processed = pipeline.process(&frame, &params)?;
//!     assert_eq!(processed.width(), 720);
//!     # break;
//! }
//! # Ok(())
//! # }
//! ```

pub mod audio;
pub mod avc;
pub mod color;
pub mod decoder;
pub mod effects;
pub mod encoder;
pub mod events;
pub mod face;
pub mod flv;
pub mod fmp4;
pub mod frame;
pub mod frame_formats;
pub mod geometry;
pub mod gpu;
pub mod landmarks;
pub mod pipeline;
pub mod player;
pub mod pusher;
pub mod rtmp;
pub mod sinks;
pub mod source;
pub mod urls;
pub mod verify;
pub mod window;

pub use frame::I420Frame;
pub use frame_formats::{InputFrame, Nv12Frame, RgbaFrame};
pub use gpu::{GpuContext, GpuError};
pub use pipeline::{FrameParams, FramePipeline, PipelineError};

/// The error an application callback (the pusher's [`pusher::FrameTap`],
/// the player's [`player::FrameSink`] and [`player::AudioSink`]) returns to
/// end the push or the playback. Any error converts into it with `?` or
/// `.into()`, a `String` or `&str` message included; the pusher's or
/// player's error keeps it as its source.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the unit tests.

    use std::path::PathBuf;

    /// A folder of its own for one test (`name`) of this process, created.
    pub(crate) fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("liveroom-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }
}
