//! H.264 decoding for the player, with OpenH264.
//!
//! [`VideoDecoder`] takes what an FLV/RTMP stream carries: the AVC sequence
//! header (an [`AvcDecoderConfig`], given to [`VideoDecoder::configure`]) and
//! then one access unit per video tag in AVCC form (length-prefixed NAL
//! units, given to [`VideoDecoder::decode`] with its presentation time). It
//! returns [`I420Frame`]s in display order, each stamped with its
//! presentation time.
//!
//! # Timestamps and reordering
//!
//! With B-frames (x264's High profile presets use them) pictures are coded
//! out of display order. OpenH264 holds decoded pictures back and releases
//! them in display order, at most one per access unit fed: with x264's
//! B-pyramid a picture comes out two access units after its own (one for
//! the first), without B-frames one access unit later (Main/High) or at
//! once (Baseline); [`VideoDecoder::flush`] releases the rest. OpenH264
//! does not carry our timestamps through, so the decoder keeps the
//! presentation times of the pictures still inside OpenH264 in a min-queue
//! and gives each picture that comes out the smallest one: since pictures
//! leave in display order, the *n*-th picture out is the one with the
//! *n*-th smallest presentation time. Output timestamps therefore increase
//! and are exactly the input ones. Two details keep the queue honest:
//!
//! * a time is queued only when its access unit really added a picture
//!   (OpenH264's count of held-back pictures is read around every call), so
//!   an access unit that OpenH264 swallows without an error does not shift
//!   the times of all later pictures;
//! * the queue is ordered first by *epoch*, a counter bumped at every IDR
//!   picture: nothing decoded after an IDR is displayed before the pictures
//!   decoded before it, so a publisher that restarts its clock at a key
//!   frame does not scramble the order.
//!
//! # Errors
//!
//! Malformed input never panics. A malformed access unit, or one OpenH264
//! rejects, gives a [`DecodeError`]; the decoder then drops the state that
//! error may have spoiled (the OpenH264 instance and the pictures inside it)
//! and ignores access units until the next key frame (IDR), where it starts
//! afresh from the stored sequence header. The player reports the error and
//! goes on feeding; pictures resume at the next key frame. The stored
//! SPS/PPS are also handed to OpenH264 again with every key frame that does
//! not carry its own, so corrupt parameter sets in between cannot spoil it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use thiserror::Error;

use crate::avc::{
    annexb_nal_units, avcc_to_annexb, nal_type, parse_sps, AvcDecoderConfig, AvcError, NAL_IDR,
    NAL_SLICE, NAL_SPS,
};
use crate::frame::{chroma_size, FrameError, I420Frame};

/// Largest number of presentation times kept for pictures still inside
/// OpenH264. Its reorder buffer holds 16 pictures, so more than this means
/// pictures were dropped without an error; the oldest times are discarded.
const MAX_PENDING_PICTURES: usize = 20;

/// Why the decoder could not be configured or could not decode.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// An access unit arrived before any sequence header.
    #[error("no AVC sequence header received yet: the decoder is not configured")]
    NotConfigured,
    /// The sequence header is malformed (bad length size, missing or
    /// unreadable SPS/PPS).
    #[error("invalid AVC sequence header: {0}")]
    InvalidConfig(#[source] AvcError),
    /// The stream uses a feature OpenH264 cannot decode.
    #[error("unsupported H.264 stream: {0}")]
    Unsupported(String),
    /// The access unit is not well-formed AVCC (a length prefix runs past the
    /// end, for instance).
    #[error("malformed access unit: {0}")]
    Bitstream(#[from] AvcError),
    /// A NAL unit has its forbidden zero bit set: the data is corrupt.
    #[error("corrupt access unit: NAL unit {index} has the forbidden bit set")]
    ForbiddenBit {
        /// Position of the NAL unit in the access unit.
        index: usize,
    },
    /// OpenH264 reported an error (corrupt or unsupported slice data,
    /// missing references, ...).
    #[error("OpenH264 failed while {context}: {} (decoding state {state:#x})", describe_state(*state))]
    Codec {
        /// What the decoder was doing.
        context: &'static str,
        /// OpenH264's `DECODING_STATE` flags (or other native status).
        state: i64,
    },
    /// OpenH264 returned a picture whose planes do not match its size.
    #[error("OpenH264 returned an inconsistent picture: {0}")]
    Picture(String),
}

impl DecodeError {
    fn codec(context: &'static str, error: &openh264::Error) -> Self {
        Self::Codec {
            context,
            state: error.native_code(),
        }
    }
}

/// Names the flags of an OpenH264 `DECODING_STATE` (`codec_app_def.h`).
fn describe_state(state: i64) -> String {
    const FLAGS: [(i64, &str); 11] = [
        (0x01, "frame pending"),
        (0x02, "reference lost"),
        (0x04, "bitstream error"),
        (0x08, "dependency layer lost"),
        (0x10, "no parameter sets"),
        (0x20, "data error concealed"),
        (0x40, "reference list broken"),
        (0x1000, "invalid argument"),
        (0x2000, "not initialised"),
        (0x4000, "out of memory"),
        (0x8000, "output buffer too small"),
    ];
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(bit, _)| state & bit != 0)
        .map(|&(_, name)| name)
        .collect();
    if names.is_empty() {
        "unknown error".to_owned()
    } else {
        names.join(", ")
    }
}

impl From<FrameError> for DecodeError {
    fn from(error: FrameError) -> Self {
        Self::Picture(error.to_string())
    }
}

/// What a sequence header says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// Picture width in pixels (cropping applied).
    pub width: u32,
    /// Picture height in pixels (cropping applied).
    pub height: u32,
    /// `profile_idc` (66 baseline, 77 main, 100 high).
    pub profile: u8,
    /// `level_idc` (31 = level 3.1, ...).
    pub level: u8,
}

/// Presentation times of the pictures inside OpenH264, smallest
/// `(epoch, pts)` first.
#[derive(Debug, Default)]
struct PtsQueue {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    epoch: u64,
}

impl PtsQueue {
    /// Records the time of an access unit that will give a picture; an IDR
    /// starts a new epoch.
    fn push(&mut self, pts_ms: u64, idr: bool) {
        if idr && !self.heap.is_empty() {
            self.epoch += 1;
        }
        self.heap.push(Reverse((self.epoch, pts_ms)));
        while self.heap.len() > MAX_PENDING_PICTURES {
            if let Some(Reverse((_, stale))) = self.heap.pop() {
                log::warn!("decoder: dropping stale presentation time {stale} ms");
            }
        }
    }

    /// The time of the next picture in display order.
    fn pop(&mut self) -> Option<u64> {
        self.heap.pop().map(|Reverse((_, pts))| pts)
    }

    /// Forgets every time (the pictures they belonged to are gone).
    fn clear(&mut self) {
        self.heap.clear();
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// An H.264 decoder for FLV/RTMP video: AVCC access units in, display-order
/// [`I420Frame`]s out, stamped with their presentation times.
pub struct VideoDecoder {
    /// The OpenH264 instance; `None` before configuration and after an error
    /// (until the next key frame).
    inner: Option<Decoder>,
    config: Option<AvcDecoderConfig>,
    info: Option<StreamInfo>,
    length_size: usize,
    /// Reused Annex-B conversion buffer.
    annexb: Vec<u8>,
    pending: PtsQueue,
    /// Pictures drained from a previous configuration, returned by the next
    /// call.
    ready: Vec<I420Frame>,
    awaiting_key_frame: bool,
    last_pts_ms: Option<u64>,
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("info", &self.info)
            .field("length_size", &self.length_size)
            .field("pending", &self.pending.len())
            .field("awaiting_key_frame", &self.awaiting_key_frame)
            .finish_non_exhaustive()
    }
}

/// Opens an OpenH264 decoder that releases pictures only in display order
/// (no forced flush after each access unit).
fn open_openh264() -> Result<Decoder, DecodeError> {
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| DecodeError::codec("opening the decoder", &e))
}

/// OpenH264's `DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER`
/// (`codec_app_def.h`): the number of decoded pictures held back for
/// display-order output.
const OPTION_PICTURES_HELD: std::os::raw::c_int = 18;

/// How many decoded pictures OpenH264 holds back, or `None` if it will not
/// say.
fn pictures_held(decoder: &mut Decoder) -> Option<usize> {
    let mut count: std::os::raw::c_int = 0;
    // SAFETY: reading an option changes no decoder state; for this option
    // OpenH264 writes one `int` through the pointer, which points at a live
    // local of that type.
    let status = unsafe {
        decoder
            .raw_api()
            .get_option(OPTION_PICTURES_HELD, (&raw mut count).cast())
    };
    if status == 0 {
        usize::try_from(count).ok()
    } else {
        None
    }
}

/// Checks a sequence header and reads the stream's size from its first SPS.
fn check_config(config: &AvcDecoderConfig) -> Result<StreamInfo, DecodeError> {
    if !(1..=4).contains(&config.length_size) {
        return Err(DecodeError::InvalidConfig(AvcError::InvalidLengthSize(
            usize::from(config.length_size),
        )));
    }
    if config.pps.is_empty() {
        return Err(DecodeError::InvalidConfig(AvcError::MissingParameterSet(
            "PPS",
        )));
    }
    let sps =
        config
            .sps
            .first()
            .ok_or(DecodeError::InvalidConfig(AvcError::MissingParameterSet(
                "SPS",
            )))?;
    let sps = parse_sps(sps).map_err(DecodeError::InvalidConfig)?;
    if sps.chroma_format_idc > 1 {
        return Err(DecodeError::Unsupported(format!(
            "chroma format {} (only 4:2:0 and monochrome are decoded)",
            sps.chroma_format_idc
        )));
    }
    if sps.bit_depth_luma != 8 || sps.bit_depth_chroma != 8 {
        return Err(DecodeError::Unsupported(format!(
            "{}-bit luma / {}-bit chroma (only 8-bit is decoded)",
            sps.bit_depth_luma, sps.bit_depth_chroma
        )));
    }
    if !sps.frame_mbs_only {
        return Err(DecodeError::Unsupported(
            "interlaced coding (only progressive frames are decoded)".into(),
        ));
    }
    Ok(StreamInfo {
        width: sps.width,
        height: sps.height,
        profile: sps.profile,
        level: sps.level,
    })
}

/// Copies `height` rows of `width` bytes out of a strided plane.
fn copy_plane(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    name: &str,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(width.saturating_mul(height));
    for row in 0..height {
        let line = row
            .checked_mul(stride)
            .and_then(|start| src.get(start..start.checked_add(width)?))
            .ok_or_else(|| {
                DecodeError::Picture(format!(
                    "{name} plane of {} bytes is too short for row {row} at stride {stride}",
                    src.len()
                ))
            })?;
        out.extend_from_slice(line);
    }
    Ok(out)
}

/// Copies an OpenH264 picture into a tightly packed frame (timestamp 0).
fn to_frame(yuv: &DecodedYUV<'_>) -> Result<I420Frame, DecodeError> {
    let (width, height) = yuv.dimensions();
    let (stride_y, stride_u, stride_v) = yuv.strides();
    let too_large = || DecodeError::Picture(format!("size {width}x{height}"));
    let w = u32::try_from(width).map_err(|_| too_large())?;
    let h = u32::try_from(height).map_err(|_| too_large())?;
    let (cw, ch) = chroma_size(w, h);
    let (cw, ch) = (cw as usize, ch as usize);
    let planes = [
        copy_plane(yuv.y(), width, height, stride_y, "Y")?,
        copy_plane(yuv.u(), cw, ch, stride_u, "U")?,
        copy_plane(yuv.v(), cw, ch, stride_v, "V")?,
    ];
    Ok(I420Frame::from_planes(
        w,
        h,
        planes,
        [width, cw, cw],
        Duration::ZERO,
    )?)
}

impl VideoDecoder {
    /// A decoder waiting for its sequence header ([`VideoDecoder::configure`]).
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self {
            inner: None,
            config: None,
            info: None,
            length_size: 4,
            annexb: Vec::new(),
            pending: PtsQueue::default(),
            ready: Vec::new(),
            awaiting_key_frame: true,
            last_pts_ms: None,
        })
    }

    /// The stream described by the current sequence header, if any.
    pub fn stream_info(&self) -> Option<StreamInfo> {
        self.info
    }

    /// Whether access units are being skipped until the next key frame (at
    /// the start, and after an error).
    pub fn awaiting_key_frame(&self) -> bool {
        self.awaiting_key_frame
    }

    /// Applies an AVC sequence header: remembers the NAL length size and
    /// hands SPS/PPS to a fresh OpenH264 instance. A header equal to the
    /// current one (servers repeat it) changes nothing; a different one
    /// (new resolution, reconnect) drains the pictures of the old stream
    /// (returned by the next [`decode`](Self::decode) or
    /// [`flush`](Self::flush)) and restarts at the next key frame.
    pub fn configure(&mut self, config: &AvcDecoderConfig) -> Result<StreamInfo, DecodeError> {
        let info = check_config(config)?;
        if self.inner.is_some() && self.config.as_ref() == Some(config) {
            return Ok(info);
        }
        let drained = self.drain_inner();
        self.inner = None;
        self.pending.clear();
        self.config = Some(config.clone());
        self.info = Some(info);
        self.length_size = usize::from(config.length_size);
        self.awaiting_key_frame = true;
        match drained {
            Ok(frames) => self.ready.extend(frames),
            // The new stream does not depend on the old pictures.
            Err(error) => log::warn!("decoder: lost the last pictures of the old stream: {error}"),
        }
        self.start()?;
        Ok(info)
    }

    /// Decodes one access unit in AVCC form (NAL units with big-endian
    /// length prefixes, as in FLV video tags) presented at `pts_ms`, and
    /// returns the pictures now ready for display: usually none or one, in
    /// display order. Until the first key frame after configuration or after
    /// an error, non-key access units are skipped (`Ok` with no pictures).
    pub fn decode(&mut self, avcc: &[u8], pts_ms: u64) -> Result<Vec<I420Frame>, DecodeError> {
        if self.config.is_none() {
            return Err(DecodeError::NotConfigured);
        }
        let picture = self.decode_access_unit(avcc, pts_ms)?;
        let mut out = std::mem::take(&mut self.ready);
        out.extend(picture);
        Ok(out)
    }

    /// Feeds one access unit to OpenH264; the picture it released, if any.
    fn decode_access_unit(
        &mut self,
        avcc: &[u8],
        pts_ms: u64,
    ) -> Result<Option<I420Frame>, DecodeError> {
        // The stored parameter sets go first in the buffer: they are fed
        // again with every key frame that does not carry its own, so that
        // whatever came before (corrupt data included) cannot leave the key
        // frame without them. OpenH264 ignores a repeated, identical SPS.
        self.annexb.clear();
        if let Some(config) = self.config.as_ref() {
            for ps in config.sps.iter().chain(config.pps.iter()) {
                self.annexb.extend_from_slice(&[0, 0, 0, 1]);
                self.annexb.extend_from_slice(ps);
            }
        }
        let parameter_sets_len = self.annexb.len();
        if let Err(error) = avcc_to_annexb(avcc, self.length_size, &mut self.annexb) {
            self.fail();
            return Err(error.into());
        }
        let access_unit = self.annexb.get(parameter_sets_len..).unwrap_or_default();
        let mut has_slice = false;
        let mut idr = false;
        let mut has_sps = false;
        for (index, nal) in annexb_nal_units(access_unit).enumerate() {
            if nal.first().is_some_and(|b| b & 0x80 != 0) {
                self.fail();
                return Err(DecodeError::ForbiddenBit { index });
            }
            match nal_type(nal) {
                Some(NAL_IDR) => {
                    idr = true;
                    has_slice = true;
                }
                Some(t) if (NAL_SLICE..NAL_IDR).contains(&t) => has_slice = true,
                Some(NAL_SPS) => has_sps = true,
                _ => {}
            }
        }
        if self.awaiting_key_frame {
            if !idr {
                return Ok(None);
            }
            if self.inner.is_none() {
                self.start()?;
            }
            self.awaiting_key_frame = false;
        }
        let feed_from = if idr && !has_sps {
            0
        } else {
            parameter_sets_len
        };
        let data = self.annexb.get(feed_from..).unwrap_or_default();
        if data.is_empty() {
            // OpenH264 would take an empty buffer for the end of the stream.
            return Ok(None);
        }
        let Some(inner) = self.inner.as_mut() else {
            return Err(DecodeError::NotConfigured);
        };

        let held_before = pictures_held(inner);
        let picture = match inner.decode(data) {
            Ok(Some(yuv)) => Some(to_frame(&yuv)),
            Ok(None) => None,
            Err(error) => {
                let error = DecodeError::codec("decoding an access unit", &error);
                self.fail();
                return Err(error);
            }
        };
        let held_after = pictures_held(inner);
        // Pictures this access unit added: those now held back plus the one
        // released, minus those held before. OpenH264 may swallow an access
        // unit without an error (unsupported NAL types, some damage); its
        // time must then not be queued, or every later picture would take
        // its predecessor's time.
        let released = usize::from(picture.is_some());
        let produced = match (held_before, held_after) {
            (Some(before), Some(after)) => (after + released).saturating_sub(before),
            _ => usize::from(has_slice),
        };
        if produced > 0 {
            self.pending.push(pts_ms, idr);
        } else if has_slice {
            log::debug!("decoder: the access unit at {pts_ms} ms gave no picture");
        }
        match picture {
            Some(frame) => {
                let pts = Self::next_pts(&mut self.pending, &mut self.last_pts_ms);
                let mut frame = frame?;
                frame.timestamp = Duration::from_millis(pts);
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Returns the pictures still inside the decoder, in display order, at
    /// the end of a stream (or before a seek). Decoding may go on afterwards
    /// from the next key frame: OpenH264 does not reliably take more
    /// pictures after a flush (its picture buffers run out a few frames
    /// later), so the next key frame starts a fresh instance.
    pub fn flush(&mut self) -> Result<Vec<I420Frame>, DecodeError> {
        let drained = self.drain_inner();
        self.fail();
        let frames = drained?;
        let mut out = std::mem::take(&mut self.ready);
        out.extend(frames);
        Ok(out)
    }

    /// Opens OpenH264 and feeds it the stored parameter sets.
    fn start(&mut self) -> Result<(), DecodeError> {
        let Some(config) = self.config.as_ref() else {
            return Err(DecodeError::NotConfigured);
        };
        let mut inner = open_openh264()?;
        inner
            .decode(&config.to_annexb())
            .map_err(|e| DecodeError::codec("reading the parameter sets", &e))?;
        self.pending.clear();
        self.inner = Some(inner);
        Ok(())
    }

    /// Pulls every picture out of OpenH264 and stamps it. The queued times
    /// left over belonged to access units that gave no picture.
    fn drain_inner(&mut self) -> Result<Vec<I420Frame>, DecodeError> {
        let mut frames = Vec::new();
        if let Some(inner) = self.inner.as_mut() {
            let pictures = inner
                .flush_remaining()
                .map_err(|e| DecodeError::codec("flushing", &e))?;
            for yuv in &pictures {
                let pts = Self::next_pts(&mut self.pending, &mut self.last_pts_ms);
                let mut frame = to_frame(yuv)?;
                frame.timestamp = Duration::from_millis(pts);
                frames.push(frame);
            }
        }
        self.pending.clear();
        Ok(frames)
    }

    /// The presentation time of the next picture out.
    fn next_pts(pending: &mut PtsQueue, last: &mut Option<u64>) -> u64 {
        let pts = pending.pop().unwrap_or_else(|| {
            log::warn!("decoder: a picture came out with no presentation time queued");
            last.unwrap_or(0)
        });
        *last = Some(pts);
        pts
    }

    /// After an error: drop OpenH264 (its references and buffered pictures
    /// may be spoilt) and wait for the next key frame.
    fn fail(&mut self) {
        self.inner = None;
        self.pending.clear();
        self.awaiting_key_frame = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_queue_orders_by_epoch_then_time() {
        let mut q = PtsQueue::default();
        // I P B b (decode order) with display times 0 99 66 33.
        for (pts, idr) in [(0, true), (99, false), (66, false), (33, false)] {
            q.push(pts, idr);
        }
        assert_eq!(q.pop(), Some(0));
        // A new IDR whose clock restarted: still after the old pictures.
        q.push(5, true);
        assert_eq!(
            [q.pop(), q.pop(), q.pop(), q.pop(), q.pop()],
            [Some(33), Some(66), Some(99), Some(5), None]
        );
    }

    #[test]
    fn pts_queue_is_bounded() {
        let mut q = PtsQueue::default();
        for pts in 0..100 {
            q.push(pts, false);
        }
        assert_eq!(q.len(), MAX_PENDING_PICTURES);
        assert_eq!(q.pop(), Some(100 - MAX_PENDING_PICTURES as u64));
    }

    #[test]
    fn codec_errors_name_their_flags() {
        let error = DecodeError::Codec {
            context: "decoding an access unit",
            state: 0x4004,
        };
        assert_eq!(
            error.to_string(),
            "OpenH264 failed while decoding an access unit: bitstream error, out of memory \
             (decoding state 0x4004)"
        );
        assert_eq!(describe_state(0x100), "unknown error");
    }

    #[test]
    fn copy_plane_checks_bounds() {
        let src: Vec<u8> = (0..20).collect();
        assert_eq!(
            copy_plane(&src, 3, 2, 10, "Y").unwrap(),
            vec![0, 1, 2, 10, 11, 12]
        );
        assert!(matches!(
            copy_plane(&src, 3, 3, 10, "Y"),
            Err(DecodeError::Picture(_))
        ));
        assert!(matches!(
            copy_plane(&src, 3, 2, usize::MAX, "Y"),
            Err(DecodeError::Picture(_))
        ));
    }

    #[test]
    fn decode_before_configure_is_an_error() {
        let mut decoder = VideoDecoder::new().unwrap();
        assert!(matches!(
            decoder.decode(&[0, 0, 0, 1, 0x65], 0),
            Err(DecodeError::NotConfigured)
        ));
        assert!(decoder.flush().unwrap().is_empty());
    }

    /// A Baseline 320x240 configuration (20x15 macroblocks).
    fn baseline_320x240() -> AvcDecoderConfig {
        AvcDecoderConfig {
            profile: 66,
            compatibility: 0xC0,
            level: 30,
            length_size: 4,
            sps: vec![vec![0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x05, 0x07, 0xE4]],
            pps: vec![vec![0x68, 0xCE, 0x3C, 0x80]],
        }
    }

    #[test]
    fn bad_configurations_are_rejected() {
        let mut decoder = VideoDecoder::new().unwrap();
        let good = baseline_320x240();
        let info = decoder.configure(&good).unwrap();
        assert_eq!((info.width, info.height), (320, 240));

        let mut bad = good.clone();
        bad.length_size = 0;
        assert!(matches!(
            decoder.configure(&bad),
            Err(DecodeError::InvalidConfig(_))
        ));
        let mut bad = good.clone();
        bad.sps.clear();
        assert!(matches!(
            decoder.configure(&bad),
            Err(DecodeError::InvalidConfig(_))
        ));
        let mut bad = good.clone();
        bad.sps = vec![vec![0x67, 0x42]];
        assert!(matches!(
            decoder.configure(&bad),
            Err(DecodeError::InvalidConfig(_))
        ));
        // The good configuration is still in force.
        assert_eq!(decoder.stream_info(), Some(info));
    }

    #[test]
    fn malformed_access_units_are_errors() {
        let mut decoder = VideoDecoder::new().unwrap();
        decoder.configure(&baseline_320x240()).unwrap();
        assert!(matches!(
            decoder.decode(&[0, 0, 0, 9, 0x65, 1], 0),
            Err(DecodeError::Bitstream(_))
        ));
        assert!(matches!(
            decoder.decode(&[0, 0, 0, 2, 0xE5, 1], 0),
            Err(DecodeError::ForbiddenBit { index: 0 })
        ));
        assert!(decoder.awaiting_key_frame());
        // A non-key access unit while waiting for a key frame is skipped.
        assert!(decoder
            .decode(&[0, 0, 0, 2, 0x41, 0x9A], 0)
            .unwrap()
            .is_empty());
        assert!(decoder.decode(&[], 0).unwrap().is_empty());
    }
}
