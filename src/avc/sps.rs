//! Sequence parameter sets: [`parse_sps`] reads the profile, level, chroma
//! format, bit depths and the cropped picture size out of one (an MSB-first
//! Exp-Golomb bit reader over the unescaped payload).

use super::{check_nal_type, strip_start_code, AvcError, NAL_SPS};

/// The profile_idc values whose SPS carries chroma format and bit depths.
pub(super) fn is_high_profile(profile: u8) -> bool {
    matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// What [`parse_sps`] reads from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// Picture width in pixels, cropping applied.
    pub width: u32,
    /// Picture height in pixels (frame height), cropping applied.
    pub height: u32,
    /// `profile_idc`.
    pub profile: u8,
    /// `level_idc`.
    pub level: u8,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u8,
    /// Luma bit depth (8 unless a High 10/4:2:2/4:4:4 profile says more).
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Whether every picture is a frame (no interlaced field coding).
    pub frame_mbs_only: bool,
}

/// Removes emulation prevention bytes: every `03` that follows `00 00` is
/// dropped, giving the raw byte sequence payload.
pub fn remove_emulation_prevention(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0usize;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// MSB-first bit reader with Exp-Golomb codes.
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

const SPS_TRUNCATED: AvcError = AvcError::InvalidSps("truncated");

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    fn bit(&mut self) -> Result<u32, AvcError> {
        let byte = self.data.get(self.bit / 8).ok_or(SPS_TRUNCATED)?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(u32::from(v))
    }

    fn flag(&mut self) -> Result<bool, AvcError> {
        Ok(self.bit()? == 1)
    }

    /// Reads `n <= 32` bits.
    fn bits(&mut self, n: u32) -> Result<u32, AvcError> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        u32::try_from(v).map_err(|_| AvcError::InvalidSps("field wider than 32 bits"))
    }

    /// Unsigned Exp-Golomb `ue(v)`.
    fn ue(&mut self) -> Result<u32, AvcError> {
        let mut zeros = 0u32;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(AvcError::InvalidSps("Exp-Golomb code longer than 32 bits"));
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        let v = (1u64 << zeros) - 1 + suffix;
        u32::try_from(v).map_err(|_| AvcError::InvalidSps("Exp-Golomb value overflows"))
    }

    /// Signed Exp-Golomb `se(v)`.
    fn se(&mut self) -> Result<i64, AvcError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Skips one `scaling_list()` of `size` entries.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), AvcError> {
    let mut last = 8i64;
    let mut next = 8i64;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(AvcError::InvalidSps("delta_scale out of range"));
            }
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses a sequence parameter set NAL unit (with its header byte, without
/// start code; a leading start code is tolerated) far enough to know the
/// picture size: profile, chroma format (High profiles, scaling lists
/// skipped), picture order count fields, size in macroblocks,
/// `frame_mbs_only` and the frame cropping rectangle.
pub fn parse_sps(sps: &[u8]) -> Result<SpsInfo, AvcError> {
    let sps = strip_start_code(sps);
    check_nal_type(sps, NAL_SPS)?;
    let rbsp = remove_emulation_prevention(sps.get(1..).unwrap_or(&[]));
    let mut r = BitReader::new(&rbsp);

    let profile = r.bits(8)? as u8;
    let _constraints = r.bits(8)?;
    let level = r.bits(8)? as u8;
    let _sps_id = r.ue()?;

    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8u32;
    let mut bit_depth_chroma = 8u32;
    if is_high_profile(profile) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(AvcError::InvalidSps("chroma_format_idc above 3"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.flag()?;
        }
        bit_depth_luma = r.ue()?.saturating_add(8);
        bit_depth_chroma = r.ue()?.saturating_add(8);
        if bit_depth_luma > 14 || bit_depth_chroma > 14 {
            return Err(AvcError::InvalidSps("bit depth above 14"));
        }
        let _transform_bypass = r.flag()?;
        if r.flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.flag()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    let _log2_max_frame_num_minus4 = r.ue()?;
    match r.ue()? {
        0 => {
            let _log2_max_poc_lsb_minus4 = r.ue()?;
        }
        1 => {
            let _delta_pic_order_always_zero = r.flag()?;
            let _offset_for_non_ref_pic = r.se()?;
            let _offset_for_top_to_bottom_field = r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(AvcError::InvalidSps("pic order count cycle above 255"));
            }
            for _ in 0..cycle {
                let _offset_for_ref_frame = r.se()?;
            }
        }
        2 => {}
        _ => return Err(AvcError::InvalidSps("pic_order_cnt_type above 2")),
    }
    let _max_num_ref_frames = r.ue()?;
    let _gaps_allowed = r.flag()?;
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.flag()?;
    if !frame_mbs_only {
        let _mb_adaptive_frame_field = r.flag()?;
    }
    let _direct_8x8_inference = r.flag()?;
    let (crop_left, crop_right, crop_top, crop_bottom) = if r.flag()? {
        (
            u64::from(r.ue()?),
            u64::from(r.ue()?),
            u64::from(r.ue()?),
            u64::from(r.ue()?),
        )
    } else {
        (0, 0, 0, 0)
    };

    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_unit_x, crop_unit_y) = match chroma_array_type {
        0 => (1, field_factor),
        1 => (2, 2 * field_factor),
        2 => (2, field_factor),
        _ => (1, field_factor),
    };
    // All values are below 2^33, so none of these products overflow u64.
    let full_width = width_mbs * 16;
    let full_height = height_map_units * 16 * field_factor;
    let crop_x = (crop_left + crop_right) * crop_unit_x;
    let crop_y = (crop_top + crop_bottom) * crop_unit_y;
    let width = full_width
        .checked_sub(crop_x)
        .filter(|&w| w > 0)
        .ok_or(AvcError::InvalidSps(
            "horizontal cropping exceeds the width",
        ))?;
    let height = full_height
        .checked_sub(crop_y)
        .filter(|&h| h > 0)
        .ok_or(AvcError::InvalidSps("vertical cropping exceeds the height"))?;
    let width =
        u32::try_from(width).map_err(|_| AvcError::InvalidSps("width does not fit 32 bits"))?;
    let height =
        u32::try_from(height).map_err(|_| AvcError::InvalidSps("height does not fit 32 bits"))?;

    Ok(SpsInfo {
        width,
        height,
        profile,
        level,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
        frame_mbs_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::fixtures::{
        hex, X264_BASELINE_1280X720_SPS, X264_HIGH_1920X1080_SPS, X264_HIGH_720X1280_SPS,
        X264_HIGH_854X480_SPS,
    };

    /// MSB-first bit writer for hand-built SPS.
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn bit(&mut self, b: bool) {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if b {
                *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
        fn u(&mut self, n: u32, v: u64) {
            for i in (0..n).rev() {
                self.bit((v >> i) & 1 == 1);
            }
        }
        fn ue(&mut self, v: u64) {
            let x = v + 1;
            let len = 64 - x.leading_zeros();
            self.u(len - 1, 0);
            self.u(len, x);
        }
        fn se(&mut self, v: i64) {
            let k = if v > 0 { 2 * v - 1 } else { -2 * v };
            self.ue(k as u64);
        }
        /// rbsp_trailing_bits, then the NAL with emulation prevention.
        fn into_nal(mut self) -> Vec<u8> {
            self.bit(true);
            while !self.bits.is_multiple_of(8) {
                self.bit(false);
            }
            let mut nal = vec![0x67];
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    nal.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                nal.push(b);
            }
            nal
        }
    }

    struct SpsSpec {
        profile: u8,
        width_mbs: u64,
        height_map_units: u64,
        frame_mbs_only: bool,
        crop: Option<(u64, u64, u64, u64)>,
        scaling_lists: bool,
        poc_type: u64,
    }

    fn build_sps(s: &SpsSpec) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(8, s.profile.into());
        w.u(8, 0);
        w.u(8, 31);
        w.ue(0); // sps id
        if is_high_profile(s.profile) {
            w.ue(1); // 4:2:0
            w.ue(0);
            w.ue(0);
            w.bit(false);
            w.bit(s.scaling_lists);
            if s.scaling_lists {
                for i in 0..8 {
                    let present = i % 2 == 0;
                    w.bit(present);
                    if present {
                        // A few deltas, then next = 0: the rest repeats.
                        w.se(3);
                        w.se(-5);
                        w.se(-6);
                    }
                }
            }
        }
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(s.poc_type);
        match s.poc_type {
            0 => w.ue(2),
            1 => {
                w.bit(false);
                w.se(-(1 << 24));
                w.se(0);
                w.ue(2);
                w.se(1 << 25);
                w.se(-3);
            }
            _ => {}
        }
        w.ue(4); // max_num_ref_frames
        w.bit(false);
        w.ue(s.width_mbs - 1);
        w.ue(s.height_map_units - 1);
        w.bit(s.frame_mbs_only);
        if !s.frame_mbs_only {
            w.bit(false);
        }
        w.bit(true); // direct_8x8_inference
        match s.crop {
            Some((l, r, t, b)) => {
                w.bit(true);
                w.ue(l);
                w.ue(r);
                w.ue(t);
                w.ue(b);
            }
            None => w.bit(false),
        }
        w.bit(false); // no VUI
        w.into_nal()
    }

    fn spec() -> SpsSpec {
        SpsSpec {
            profile: 66,
            width_mbs: 80,
            height_map_units: 45,
            frame_mbs_only: true,
            crop: None,
            scaling_lists: false,
            poc_type: 2,
        }
    }

    #[test]
    fn parse_real_x264_sps() {
        let cases = [
            (X264_HIGH_720X1280_SPS, 720, 1280, 100),
            (X264_HIGH_1920X1080_SPS, 1920, 1080, 100),
            (X264_BASELINE_1280X720_SPS, 1280, 720, 66),
            (X264_HIGH_854X480_SPS, 854, 480, 100),
        ];
        for (sps, w, h, profile) in cases {
            let info = parse_sps(&hex(sps)).unwrap();
            assert_eq!(
                (info.width, info.height, info.profile),
                (w, h, profile),
                "{sps}"
            );
            assert_eq!(info.chroma_format_idc, 1);
            assert_eq!((info.bit_depth_luma, info.bit_depth_chroma), (8, 8));
            assert!(info.frame_mbs_only);
        }
    }

    #[test]
    fn parse_hand_built_sps() {
        let base = parse_sps(&build_sps(&spec())).unwrap();
        assert_eq!(
            (base.width, base.height, base.profile, base.level),
            (1280, 720, 66, 31)
        );

        let base_crop0 = SpsSpec {
            crop: Some((0, 0, 0, 0)),
            ..spec()
        };
        let info = parse_sps(&build_sps(&base_crop0)).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));

        let high = SpsSpec {
            profile: 100,
            width_mbs: 45,
            height_map_units: 80,
            scaling_lists: true,
            poc_type: 0,
            ..spec()
        };
        let info = parse_sps(&build_sps(&high)).unwrap();
        assert_eq!((info.width, info.height, info.profile), (720, 1280, 100));

        let fhd = SpsSpec {
            profile: 100,
            width_mbs: 120,
            height_map_units: 68,
            crop: Some((0, 0, 0, 4)),
            ..spec()
        };
        let info = parse_sps(&build_sps(&fhd)).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));

        // Interlaced: map units are field macroblock pairs, crop unit doubles.
        let interlaced = SpsSpec {
            profile: 77,
            width_mbs: 120,
            height_map_units: 34,
            frame_mbs_only: false,
            crop: Some((0, 0, 0, 2)),
            ..spec()
        };
        let info = parse_sps(&build_sps(&interlaced)).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert!(!info.frame_mbs_only);
    }

    #[test]
    fn sps_emulation_prevention_is_removed() {
        assert_eq!(
            remove_emulation_prevention(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            [0, 0, 1, 0, 0, 0, 0]
        );
        let poc1 = SpsSpec {
            poc_type: 1,
            crop: Some((0, 0, 0, 0)),
            ..spec()
        };
        let nal = build_sps(&poc1);
        let raw = remove_emulation_prevention(&nal);
        assert!(
            raw.len() < nal.len(),
            "the test SPS should need emulation prevention"
        );
        let info = parse_sps(&nal).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));
    }

    #[test]
    fn truncated_or_bad_sps_errors() {
        for sps in [
            X264_HIGH_720X1280_SPS,
            X264_BASELINE_1280X720_SPS,
            X264_HIGH_854X480_SPS,
        ] {
            let sps = hex(sps);
            // Cropping ends well before the VUI; every cut before it fails.
            for cut in 0..8 {
                assert!(parse_sps(&sps[..cut]).is_err(), "cut {cut}");
            }
        }
        let hand = build_sps(&SpsSpec {
            crop: Some((0, 0, 0, 4)),
            ..spec()
        });
        // The hand-built SPS has no VUI: every strict prefix lacks a field.
        for cut in 0..hand.len() - 1 {
            assert!(parse_sps(&hand[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            parse_sps(&[0x68, 1, 2, 3]),
            Err(AvcError::WrongNalType {
                expected: 7,
                found: 8
            })
        );
        let over_crop = build_sps(&SpsSpec {
            crop: Some((0, 0, 0, 400)),
            ..spec()
        });
        assert!(matches!(
            parse_sps(&over_crop),
            Err(AvcError::InvalidSps(_))
        ));
        // A run of zero bits longer than any Exp-Golomb code.
        assert!(parse_sps(&[0x67, 66, 0, 31, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        // Bit flips never panic.
        let sps = hex(X264_HIGH_1920X1080_SPS);
        for i in 1..sps.len() {
            for bit in 0..8 {
                let mut s = sps.clone();
                s[i] ^= 1 << bit;
                let _ = parse_sps(&s);
            }
        }
    }
}
