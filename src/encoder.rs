//! H.264 encoding with the system's libx264, behind a small safe wrapper.
//!
//! [`EncoderConfig`] holds what a live push needs: size, frame rate, a
//! bitrate capped by the VBV (so a stream never bursts above what the link
//! was promised), a key frame every two seconds, and the x264 speed preset
//! and tuning. [`BitrateRange`] gives each pusher mode its range from the
//! plugin's presets, narrowed by `--min-bitrate`/`--max-bitrate`.
//!
//! [`Encoder`] takes [`I420Frame`]s and returns [`EncodedFrame`]s: Annex-B
//! access units with decode and presentation times in milliseconds. The
//! parameter sets (SPS/PPS) are kept apart, for the FLV sequence header; they
//! are not repeated in the stream.

use std::ffi::CString;
use std::ptr::{self, NonNull};
use std::time::Duration;

use thiserror::Error;
use x264_sys as x264;

use crate::frame::{I420Frame, Plane};
use crate::geometry::Mode;
use crate::source::FrameRate;

/// Lowest bitrate the encoder accepts, in kbps.
pub const MIN_BITRATE_KBPS: u32 = 50;
/// Highest bitrate the encoder accepts, in kbps.
pub const MAX_BITRATE_KBPS: u32 = 100_000;

/// Why the encoder could not be set up or could not encode.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EncoderError {
    /// A bitrate outside what the encoder accepts.
    #[error("invalid bitrate {0} kbps: expected {MIN_BITRATE_KBPS} to {MAX_BITRATE_KBPS}")]
    InvalidBitrate(u32),
    /// `--min-bitrate` above `--max-bitrate`.
    #[error("min bitrate {min} kbps is above max bitrate {max} kbps")]
    BitrateRange {
        /// Asked minimum.
        min: u32,
        /// Asked maximum.
        max: u32,
    },
    /// A picture size the encoder cannot take (odd, zero or too large).
    #[error("unsupported resolution {width}x{height}: H.264 needs even sides from 16 to 8192")]
    UnsupportedResolution {
        /// Asked width.
        width: u32,
        /// Asked height.
        height: u32,
    },
    /// A frame whose size differs from the configured one.
    #[error("frame is {got_width}x{got_height}, the encoder was opened for {width}x{height}")]
    FrameSize {
        /// Configured width.
        width: u32,
        /// Configured height.
        height: u32,
        /// The frame's width.
        got_width: u32,
        /// The frame's height.
        got_height: u32,
    },
    /// libx264 refused the parameters or failed.
    #[error("x264: {0}")]
    X264(String),
}

/// How fast x264 works, trading compression for speed (x264's presets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speed {
    /// `ultrafast`.
    Ultrafast,
    /// `superfast`.
    Superfast,
    /// `veryfast`, the live-streaming default.
    #[default]
    Veryfast,
    /// `faster`.
    Faster,
    /// `fast`.
    Fast,
    /// `medium`.
    Medium,
}

impl Speed {
    fn x264_name(self) -> &'static str {
        match self {
            Speed::Ultrafast => "ultrafast",
            Speed::Superfast => "superfast",
            Speed::Veryfast => "veryfast",
            Speed::Faster => "faster",
            Speed::Fast => "fast",
            Speed::Medium => "medium",
        }
    }
}

/// The bitrate range a push may use, in kbps (`minBitrate`/`maxBitrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitrateRange {
    /// Lowest bitrate (RTC adapts down to it).
    pub min_kbps: u32,
    /// Highest bitrate: the VBV cap.
    pub max_kbps: u32,
}

impl BitrateRange {
    /// The plugin's range for a mode: SD 500–900, HD 800–1500,
    /// FHD 1000–1800, RTC 200–1000 kbps.
    pub fn for_mode(mode: Mode) -> Self {
        let (min_kbps, max_kbps) = match mode {
            Mode::Sd => (500, 900),
            Mode::Hd => (800, 1500),
            Mode::Fhd => (1000, 1800),
            Mode::Rtc => (200, 1000),
        };
        Self { min_kbps, max_kbps }
    }

    /// The mode's range with the user's bounds applied. A lone bound that
    /// crosses the preset's other bound pulls it along (`--mode fhd
    /// --max-bitrate 600` gives 600–600); two bounds that cross each other
    /// are an error.
    pub fn resolve(mode: Mode, min: Option<u32>, max: Option<u32>) -> Result<Self, EncoderError> {
        for value in min.iter().chain(max.iter()) {
            if !(MIN_BITRATE_KBPS..=MAX_BITRATE_KBPS).contains(value) {
                return Err(EncoderError::InvalidBitrate(*value));
            }
        }
        let preset = Self::for_mode(mode);
        let range = match (min, max) {
            (Some(min), Some(max)) if min > max => {
                return Err(EncoderError::BitrateRange { min, max })
            }
            (Some(min), Some(max)) => Self {
                min_kbps: min,
                max_kbps: max,
            },
            (Some(min), None) => Self {
                min_kbps: min,
                max_kbps: preset.max_kbps.max(min),
            },
            (None, Some(max)) => Self {
                min_kbps: preset.min_kbps.min(max),
                max_kbps: max,
            },
            (None, None) => preset,
        };
        Ok(range)
    }
}

/// Everything the encoder is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Picture width (even).
    pub width: u32,
    /// Picture height (even).
    pub height: u32,
    /// Nominal frame rate (rate control and the key-frame interval use it).
    pub frame_rate: FrameRate,
    /// Target bitrate in kbps.
    pub bitrate_kbps: u32,
    /// VBV cap in kbps: the stream never exceeds it over a one-second window.
    pub max_bitrate_kbps: u32,
    /// Longest distance between key frames.
    pub keyframe_interval: Duration,
    /// x264 speed preset.
    pub speed: Speed,
    /// `tune=zerolatency`: no B-frames, no lookahead, sliced threads; a
    /// frame comes out as soon as it goes in.
    pub zero_latency: bool,
    /// Encoder threads; 0 lets x264 choose.
    pub threads: u32,
}

impl EncoderConfig {
    /// The configuration a pusher mode uses: the range's top as target and
    /// cap, key frames every 2 s, `veryfast`, and `zerolatency` in RTC mode.
    pub fn for_mode(
        mode: Mode,
        width: u32,
        height: u32,
        frame_rate: FrameRate,
        bitrate: BitrateRange,
    ) -> Self {
        Self {
            width,
            height,
            frame_rate,
            bitrate_kbps: bitrate.max_kbps,
            max_bitrate_kbps: bitrate.max_kbps,
            keyframe_interval: Duration::from_secs(2),
            speed: Speed::Veryfast,
            zero_latency: mode == Mode::Rtc,
            threads: 0,
        }
    }

    fn validate(&self) -> Result<(), EncoderError> {
        let side_ok = |s: u32| (16..=8192).contains(&s) && s.is_multiple_of(2);
        if !side_ok(self.width) || !side_ok(self.height) {
            return Err(EncoderError::UnsupportedResolution {
                width: self.width,
                height: self.height,
            });
        }
        for kbps in [self.bitrate_kbps, self.max_bitrate_kbps] {
            if !(MIN_BITRATE_KBPS..=MAX_BITRATE_KBPS).contains(&kbps) {
                return Err(EncoderError::InvalidBitrate(kbps));
            }
        }
        Ok(())
    }

    /// Frames between key frames (at least 1).
    pub fn keyframe_interval_frames(&self) -> u32 {
        let frames = self.keyframe_interval.as_secs_f64() * self.frame_rate.fps();
        (frames.round() as u32).max(1)
    }
}

/// One encoded picture (access unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B NAL units (start codes included), without SPS/PPS.
    pub data: Vec<u8>,
    /// Decode time in ms (never negative; see [`Encoder::timestamp_shift`]).
    pub dts_ms: u64,
    /// Presentation time in ms, ≥ `dts_ms`.
    pub pts_ms: u64,
    /// An IDR picture: decoding can start here.
    pub key_frame: bool,
}

impl EncodedFrame {
    /// Presentation minus decode time: the FLV composition time.
    pub fn composition_offset_ms(&self) -> i32 {
        self.pts_ms.saturating_sub(self.dts_ms).min(i32::MAX as u64) as i32
    }
}

/// The stream's parameter sets, without start codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    /// Sequence parameter set.
    pub sps: Vec<u8>,
    /// Picture parameter set.
    pub pps: Vec<u8>,
}

/// An open x264 encoder.
pub struct Encoder {
    handle: NonNull<x264::x264_t>,
    config: EncoderConfig,
    parameter_sets: ParameterSets,
    shift_ms: u64,
    frames_in: u64,
    last_pts_ms: Option<i64>,
}

// SAFETY: an x264 handle may be used from any thread as long as one thread at
// a time does; `Encoder`'s methods take `&mut self`.
unsafe impl Send for Encoder {}

impl Encoder {
    /// Opens an encoder.
    pub fn new(config: &EncoderConfig) -> Result<Self, EncoderError> {
        config.validate()?;
        let mut param = build_param(config)?;
        // SAFETY: `param` is a fully initialised parameter block.
        let handle = unsafe { x264::x264_encoder_open(&mut param) };
        let handle = NonNull::new(handle).ok_or_else(|| {
            EncoderError::X264(format!(
                "cannot open an encoder for {}x{} at {} kbps",
                config.width, config.height, config.bitrate_kbps
            ))
        })?;
        let mut encoder = Self {
            handle,
            config: config.clone(),
            parameter_sets: ParameterSets {
                sps: Vec::new(),
                pps: Vec::new(),
            },
            shift_ms: 0,
            frames_in: 0,
            last_pts_ms: None,
        };
        encoder.parameter_sets = encoder.read_headers()?;
        encoder.shift_ms = encoder.reorder_delay_frames() * 1000 * config.frame_rate.den as u64
            / config.frame_rate.num.max(1) as u64;
        Ok(encoder)
    }

    /// The configuration it was opened with (bitrates as last set).
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// SPS and PPS, for the AVC sequence header.
    pub fn parameter_sets(&self) -> &ParameterSets {
        &self.parameter_sets
    }

    /// How far all output timestamps are moved later so that decode times
    /// are never negative when B-frames reorder pictures (0 without
    /// B-frames). Audio in the same stream must be moved by as much.
    pub fn timestamp_shift(&self) -> Duration {
        Duration::from_millis(self.shift_ms)
    }

    /// Encodes one frame; `force_key_frame` makes it an IDR picture. Returns
    /// the next access unit when one is ready (with B-frames or threads the
    /// output lags the input by a few frames; [`Encoder::flush`] drains it).
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_key_frame: bool,
    ) -> Result<Option<EncodedFrame>, EncoderError> {
        if frame.width() != self.config.width || frame.height() != self.config.height {
            return Err(EncoderError::FrameSize {
                width: self.config.width,
                height: self.config.height,
                got_width: frame.width(),
                got_height: frame.height(),
            });
        }
        // Timestamps must increase; a source that repeats one gets the next
        // millisecond.
        let mut pts = frame.timestamp.as_millis().min(i64::MAX as u128 / 2) as i64;
        if let Some(last) = self.last_pts_ms {
            pts = pts.max(last + 1);
        }
        self.last_pts_ms = Some(pts);

        // SAFETY: a zeroed x264_picture_t is valid input to x264_picture_init,
        // which sets every field.
        let mut picture: x264::x264_picture_t = unsafe { std::mem::zeroed() };
        // SAFETY: `picture` is a live, writable picture struct.
        unsafe { x264::x264_picture_init(&mut picture) };
        picture.i_pts = pts;
        picture.i_type = if force_key_frame {
            x264::X264_TYPE_IDR as i32
        } else {
            x264::X264_TYPE_AUTO as i32
        };
        picture.img.i_csp = x264::X264_CSP_I420 as i32;
        picture.img.i_plane = 3;
        for (index, plane) in Plane::ALL.into_iter().enumerate() {
            picture.img.i_stride[index] = frame.stride(plane) as i32;
            // x264 only reads the input planes.
            picture.img.plane[index] = frame.plane(plane).as_ptr().cast_mut();
        }
        self.frames_in += 1;
        self.encode_picture(Some(&mut picture))
    }

    /// Drains the frames still inside the encoder, at the end of a stream.
    pub fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        let mut frames = Vec::new();
        // With frame threads a flush call may return nothing while frames
        // are still in flight; keep asking (as x264's own CLI does), within
        // a generous bound.
        let mut calls = 0;
        // SAFETY: the handle is open.
        while unsafe { x264::x264_encoder_delayed_frames(self.handle.as_ptr()) } > 0 {
            calls += 1;
            if calls > 100_000 {
                return Err(EncoderError::X264("the encoder never drained".into()));
            }
            if let Some(frame) = self.encode_picture(None)? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    /// Changes the target bitrate and VBV cap while encoding (RTC's adaptive
    /// bitrate). Takes effect from the next frame.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncoderError> {
        if !(MIN_BITRATE_KBPS..=MAX_BITRATE_KBPS).contains(&kbps) {
            return Err(EncoderError::InvalidBitrate(kbps));
        }
        // SAFETY: a zeroed param block is filled by x264_encoder_parameters.
        let mut param: x264::x264_param_t = unsafe { std::mem::zeroed() };
        // SAFETY: the handle is open; `param` is a live, writable block.
        unsafe { x264::x264_encoder_parameters(self.handle.as_ptr(), &mut param) };
        param.rc.i_bitrate = kbps as i32;
        param.rc.i_vbv_max_bitrate = kbps as i32;
        param.rc.i_vbv_buffer_size = kbps as i32;
        // SAFETY: `param` came from this encoder, with three fields changed.
        let status = unsafe { x264::x264_encoder_reconfig(self.handle.as_ptr(), &mut param) };
        if status < 0 {
            return Err(EncoderError::X264(format!(
                "cannot change the bitrate to {kbps} kbps"
            )));
        }
        self.config.bitrate_kbps = kbps;
        self.config.max_bitrate_kbps = kbps;
        Ok(())
    }

    /// Frames handed in so far.
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    fn reorder_delay_frames(&self) -> u64 {
        // SAFETY: a zeroed param block is filled by x264_encoder_parameters.
        let mut param: x264::x264_param_t = unsafe { std::mem::zeroed() };
        // SAFETY: the handle is open; `param` is a live, writable block.
        unsafe { x264::x264_encoder_parameters(self.handle.as_ptr(), &mut param) };
        match (param.i_bframe, param.i_bframe_pyramid) {
            (0, _) => 0,
            (_, 0) => 1,
            _ => 2,
        }
    }

    fn read_headers(&mut self) -> Result<ParameterSets, EncoderError> {
        let mut nals: *mut x264::x264_nal_t = ptr::null_mut();
        let mut count = 0;
        // SAFETY: the handle is open; x264 fills `nals` with `count` entries
        // that stay valid until the next call on this encoder.
        let bytes =
            unsafe { x264::x264_encoder_headers(self.handle.as_ptr(), &mut nals, &mut count) };
        if bytes < 0 || nals.is_null() {
            return Err(EncoderError::X264("cannot produce SPS/PPS".into()));
        }
        // SAFETY: x264 returned `count` NAL entries at `nals` (checked not
        // null above), valid until the next call on this encoder.
        let nals = unsafe { std::slice::from_raw_parts(nals, count.max(0) as usize) };
        let (mut sps, mut pps) = (None, None);
        for nal in nals {
            // SAFETY: each entry comes from x264 with its payload pointer
            // and length.
            let payload = unsafe { nal_payload(nal) };
            let unit = strip_start_code(payload);
            match nal.i_type {
                7 => sps = Some(unit.to_vec()),
                8 => pps = Some(unit.to_vec()),
                _ => {}
            }
        }
        match (sps, pps) {
            (Some(sps), Some(pps)) => Ok(ParameterSets { sps, pps }),
            _ => Err(EncoderError::X264("headers lack an SPS or a PPS".into())),
        }
    }

    fn encode_picture(
        &mut self,
        picture: Option<&mut x264::x264_picture_t>,
    ) -> Result<Option<EncodedFrame>, EncoderError> {
        let mut nals: *mut x264::x264_nal_t = ptr::null_mut();
        let mut count = 0;
        // SAFETY: a zeroed output picture is what x264 expects to fill.
        let mut output: x264::x264_picture_t = unsafe { std::mem::zeroed() };
        let input = picture.map_or(ptr::null_mut(), |p| p as *mut _);
        // SAFETY: the handle is open; the input picture's planes borrow a
        // frame that outlives this call; x264 copies them.
        let bytes = unsafe {
            x264::x264_encoder_encode(
                self.handle.as_ptr(),
                &mut nals,
                &mut count,
                input,
                &mut output,
            )
        };
        if bytes < 0 {
            return Err(EncoderError::X264(format!(
                "encoding frame {} failed",
                self.frames_in
            )));
        }
        if bytes == 0 || nals.is_null() {
            return Ok(None);
        }
        // SAFETY: x264 returned `count` NAL entries at `nals` (checked not
        // null above), valid until the next call on this encoder.
        let nals = unsafe { std::slice::from_raw_parts(nals, count.max(0) as usize) };
        let mut data = Vec::with_capacity(bytes as usize);
        for nal in nals {
            // Parameter sets go in the sequence header only.
            if matches!(nal.i_type, 7 | 8) {
                continue;
            }
            // SAFETY: each entry comes from x264 with its payload pointer
            // and length.
            data.extend_from_slice(unsafe { nal_payload(nal) });
        }
        let shift = self.shift_ms as i64;
        Ok(Some(EncodedFrame {
            data,
            dts_ms: (output.i_dts + shift).max(0) as u64,
            pts_ms: (output.i_pts + shift).max(0) as u64,
            key_frame: output.b_keyframe != 0,
        }))
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the handle is open and closed exactly once.
        unsafe { x264::x264_encoder_close(self.handle.as_ptr()) };
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .field("frames_in", &self.frames_in)
            .finish_non_exhaustive()
    }
}

/// A NAL unit's bytes as x264 wrote them (with start code).
///
/// # Safety
/// `nal` must come from the x264 call just made on the encoder.
unsafe fn nal_payload(nal: &x264::x264_nal_t) -> &[u8] {
    if nal.p_payload.is_null() || nal.i_payload <= 0 {
        return &[];
    }
    // SAFETY: x264 points `p_payload` at `i_payload` bytes (checked not
    // null and positive above) that live until its next call.
    unsafe { std::slice::from_raw_parts(nal.p_payload, nal.i_payload as usize) }
}

fn strip_start_code(unit: &[u8]) -> &[u8] {
    unit.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| unit.strip_prefix(&[0, 0, 1]))
        .unwrap_or(unit)
}

fn build_param(config: &EncoderConfig) -> Result<x264::x264_param_t, EncoderError> {
    // SAFETY: a zeroed block is what x264_param_default_preset fills.
    let mut param: x264::x264_param_t = unsafe { std::mem::zeroed() };
    let preset =
        CString::new(config.speed.x264_name()).map_err(|e| EncoderError::X264(e.to_string()))?;
    let tune = CString::new("zerolatency").map_err(|e| EncoderError::X264(e.to_string()))?;
    let tune_ptr = if config.zero_latency {
        tune.as_ptr()
    } else {
        ptr::null()
    };
    // SAFETY: both strings are NUL-terminated and outlive the call.
    if unsafe { x264::x264_param_default_preset(&mut param, preset.as_ptr(), tune_ptr) } < 0 {
        return Err(EncoderError::X264(format!(
            "unknown preset {}",
            config.speed.x264_name()
        )));
    }
    param.i_width = config.width as i32;
    param.i_height = config.height as i32;
    param.i_csp = x264::X264_CSP_I420 as i32;
    param.i_threads = config.threads as i32;
    param.i_log_level = x264::X264_LOG_ERROR as i32;
    param.i_fps_num = config.frame_rate.num;
    param.i_fps_den = config.frame_rate.den;
    param.i_timebase_num = 1;
    param.i_timebase_den = 1000;
    param.b_vfr_input = 0;
    let keyint = config.keyframe_interval_frames() as i32;
    param.i_keyint_max = keyint;
    param.i_keyint_min = (keyint / 4).max(1);
    param.b_repeat_headers = 0;
    param.b_annexb = 1;
    param.b_aud = 0;
    // The pipeline's colours: BT.601 (SMPTE 170M), video range.
    param.vui.b_fullrange = 0;
    param.vui.i_colorprim = 6;
    param.vui.i_transfer = 6;
    param.vui.i_colmatrix = 6;
    param.rc.i_rc_method = x264::X264_RC_ABR as i32;
    param.rc.i_bitrate = config.bitrate_kbps as i32;
    param.rc.i_vbv_max_bitrate = config.max_bitrate_kbps as i32;
    // One second of buffer: the cap holds over any one-second window.
    param.rc.i_vbv_buffer_size = config.max_bitrate_kbps as i32;
    param.rc.f_vbv_buffer_init = 0.9;
    let profile = CString::new("high").map_err(|e| EncoderError::X264(e.to_string()))?;
    // SAFETY: as above.
    if unsafe { x264::x264_param_apply_profile(&mut param, profile.as_ptr()) } < 0 {
        return Err(EncoderError::X264("cannot apply the High profile".into()));
    }
    Ok(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(fps: f64) -> FrameRate {
        FrameRate::from_fps(fps).unwrap()
    }

    fn moving_frame(width: u32, height: u32, index: u64, fps: f64) -> I420Frame {
        let mut frame = I420Frame::black(width, height).unwrap();
        for y in 0..height {
            let row = frame.row_mut(Plane::Y, y);
            for (x, value) in row.iter_mut().enumerate() {
                *value = ((x as u64 * 3 + y as u64 * 2 + index * 4) % 220 + 16) as u8;
            }
        }
        frame.timestamp = rate(fps).timestamp(index);
        frame
    }

    #[test]
    fn preset_ranges_and_user_bounds() {
        assert_eq!(
            BitrateRange::for_mode(Mode::Fhd),
            BitrateRange {
                min_kbps: 1000,
                max_kbps: 1800
            }
        );
        let capped = BitrateRange::resolve(Mode::Fhd, None, Some(600)).unwrap();
        assert_eq!((capped.min_kbps, capped.max_kbps), (600, 600));
        let raised = BitrateRange::resolve(Mode::Sd, Some(1200), None).unwrap();
        assert_eq!((raised.min_kbps, raised.max_kbps), (1200, 1200));
        assert_eq!(
            BitrateRange::resolve(Mode::Rtc, Some(900), Some(300)),
            Err(EncoderError::BitrateRange { min: 900, max: 300 })
        );
        assert_eq!(
            BitrateRange::resolve(Mode::Rtc, Some(0), None),
            Err(EncoderError::InvalidBitrate(0))
        );
    }

    #[test]
    fn bad_sizes_are_refused() {
        for (width, height) in [(0, 720), (721, 1280), (720, 8194)] {
            let config = EncoderConfig::for_mode(
                Mode::Fhd,
                width,
                height,
                rate(30.0),
                BitrateRange::for_mode(Mode::Fhd),
            );
            assert!(matches!(
                Encoder::new(&config),
                Err(EncoderError::UnsupportedResolution { .. })
            ));
        }
    }

    #[test]
    fn encodes_key_frames_every_two_seconds_with_parameter_sets_apart() {
        let config = EncoderConfig::for_mode(
            Mode::Sd,
            160,
            96,
            rate(10.0),
            BitrateRange::for_mode(Mode::Sd),
        );
        let mut encoder = Encoder::new(&config).unwrap();
        let sets = encoder.parameter_sets().clone();
        assert_eq!(sets.sps[0] & 0x1f, 7);
        assert_eq!(sets.pps[0] & 0x1f, 8);
        assert_eq!(sets.sps[1], 100, "High profile");

        let mut frames = Vec::new();
        for index in 0..50 {
            let frame = moving_frame(160, 96, index, 10.0);
            frames.extend(encoder.encode(&frame, false).unwrap());
        }
        frames.extend(encoder.flush().unwrap());
        assert_eq!(frames.len(), 50);
        assert!(frames[0].key_frame);
        let keys: Vec<u64> = frames
            .iter()
            .filter(|f| f.key_frame)
            .map(|f| f.pts_ms - encoder.timestamp_shift().as_millis() as u64)
            .collect();
        assert!(keys.windows(2).all(|w| w[1] - w[0] <= 2000), "{keys:?}");
        assert!(keys.len() >= 3, "{keys:?}");
        let mut last_dts = 0;
        for frame in &frames {
            assert!(frame.dts_ms >= last_dts && frame.pts_ms >= frame.dts_ms);
            last_dts = frame.dts_ms;
            assert!(!frame.data.is_empty());
            // No SPS/PPS inside the access units.
            assert!(!frame
                .data
                .windows(4)
                .any(|w| w == [0, 0, 1, 0x67] || w == [0, 0, 1, 0x68]));
        }
    }

    #[test]
    fn a_short_stream_drains_completely_with_frame_threads() {
        let config = EncoderConfig::for_mode(
            Mode::Fhd,
            720,
            1280,
            rate(30.0),
            BitrateRange::for_mode(Mode::Fhd),
        );
        for count in [1, 4] {
            let mut encoder = Encoder::new(&config).unwrap();
            let mut frames = Vec::new();
            for index in 0..count {
                frames.extend(
                    encoder
                        .encode(&moving_frame(720, 1280, index, 30.0), false)
                        .unwrap(),
                );
            }
            frames.extend(encoder.flush().unwrap());
            assert_eq!(frames.len() as u64, count);
        }
    }

    #[test]
    fn zero_latency_gives_a_frame_per_frame_and_forced_key_frames() {
        let mut config = EncoderConfig::for_mode(
            Mode::Rtc,
            160,
            96,
            rate(30.0),
            BitrateRange::for_mode(Mode::Rtc),
        );
        config.threads = 1;
        let mut encoder = Encoder::new(&config).unwrap();
        assert_eq!(encoder.timestamp_shift(), Duration::ZERO);
        for index in 0..10 {
            let frame = moving_frame(160, 96, index, 30.0);
            let out = encoder
                .encode(&frame, index == 7)
                .unwrap()
                .expect("no delay");
            assert_eq!(out.pts_ms, frame.timestamp.as_millis() as u64);
            assert_eq!(out.key_frame, index == 0 || index == 7);
        }
        encoder.set_bitrate(300).unwrap();
        assert_eq!(encoder.config().max_bitrate_kbps, 300);
        assert!(encoder.set_bitrate(1).is_err());
        let wrong = I420Frame::black(64, 64).unwrap();
        assert!(matches!(
            encoder.encode(&wrong, false),
            Err(EncoderError::FrameSize { .. })
        ));
    }
}
