//! The ISO/IEC 14496-15 `AVCDecoderConfigurationRecord` (the FLV/RTMP AVC
//! sequence header): [`AvcDecoderConfig`], built from parameter sets or an
//! Annex-B stream, serialised, and parsed back with every length checked.

use super::sps::is_high_profile;
use super::{
    annexb_nal_units, check_nal_type, nal_type, parse_sps, strip_start_code, AvcError, NAL_PPS,
    NAL_SPS,
};

/// Largest parameter set a configuration record can hold (16-bit length).
const MAX_PARAMETER_SET_LEN: usize = u16::MAX as usize;
/// Largest number of SPS a configuration record can list (5-bit count).
const MAX_SPS_COUNT: usize = 31;
/// Largest number of PPS a configuration record can list (8-bit count).
const MAX_PPS_COUNT: usize = 255;

/// The contents of an ISO/IEC 14496-15 `AVCDecoderConfigurationRecord`: the
/// FLV/RTMP AVC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `profile_idc` (66 baseline, 77 main, 100 high, ...).
    pub profile: u8,
    /// The constraint flags byte (`profile_compatibility`).
    pub compatibility: u8,
    /// `level_idc` (31 = level 3.1, ...).
    pub level: u8,
    /// Size in bytes of the AVCC length prefixes (1, 2 or 4; 4 by default).
    pub length_size: u8,
    /// Sequence parameter sets (NAL units without start code).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets (NAL units without start code).
    pub pps: Vec<Vec<u8>>,
}

impl AvcDecoderConfig {
    /// Builds a configuration from one SPS and one PPS NAL unit (a leading
    /// Annex-B start code is accepted and stripped); profile, compatibility
    /// and level are read from SPS bytes 1..4. The length size is 4.
    pub fn from_parameter_sets(sps: &[u8], pps: &[u8]) -> Result<Self, AvcError> {
        let sps = strip_start_code(sps);
        let pps = strip_start_code(pps);
        check_nal_type(sps, NAL_SPS)?;
        check_nal_type(pps, NAL_PPS)?;
        let [_, profile, compatibility, level, ..] = *sps else {
            return Err(AvcError::Truncated {
                what: "SPS header",
                needed: 4,
                available: sps.len(),
            });
        };
        Ok(Self {
            profile,
            compatibility,
            level,
            length_size: 4,
            sps: vec![sps.to_vec()],
            pps: vec![pps.to_vec()],
        })
    }

    /// Builds a configuration from the first SPS and first PPS found in an
    /// Annex-B stream (e.g. x264's stream headers or a key frame).
    pub fn from_annexb(data: &[u8]) -> Result<Self, AvcError> {
        let mut sps = None;
        let mut pps = None;
        for nal in annexb_nal_units(data) {
            match nal_type(nal) {
                Some(NAL_SPS) if sps.is_none() => sps = Some(nal),
                Some(NAL_PPS) if pps.is_none() => pps = Some(nal),
                _ => {}
            }
        }
        let sps = sps.ok_or(AvcError::MissingParameterSet("SPS"))?;
        let pps = pps.ok_or(AvcError::MissingParameterSet("PPS"))?;
        Self::from_parameter_sets(sps, pps)
    }

    /// Serialises the record: version 1, profile, compatibility, level,
    /// `0xFC | (length_size - 1)`, `0xE0 | numSps`, each SPS with a 16-bit
    /// length, numPps, each PPS. For High profiles whose first SPS parses,
    /// the chroma format / bit depth extension is appended (with no SPS
    /// extensions), as ISO/IEC 14496-15 asks.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AvcError> {
        if !(1..=4).contains(&self.length_size) {
            return Err(AvcError::InvalidConfigLengthSize(self.length_size));
        }
        if self.sps.is_empty() {
            return Err(AvcError::MissingParameterSet("SPS"));
        }
        if self.pps.is_empty() {
            return Err(AvcError::MissingParameterSet("PPS"));
        }
        if self.sps.len() > MAX_SPS_COUNT {
            return Err(AvcError::TooManyParameterSets {
                kind: "SPS",
                count: self.sps.len(),
                max: MAX_SPS_COUNT,
            });
        }
        if self.pps.len() > MAX_PPS_COUNT {
            return Err(AvcError::TooManyParameterSets {
                kind: "PPS",
                count: self.pps.len(),
                max: MAX_PPS_COUNT,
            });
        }
        let mut out = vec![
            1,
            self.profile,
            self.compatibility,
            self.level,
            0xFC | (self.length_size - 1),
            // Both counts were checked above, so the casts are exact.
            0xE0 | self.sps.len() as u8,
        ];
        put_parameter_sets(&mut out, &self.sps)?;
        out.push(self.pps.len() as u8);
        put_parameter_sets(&mut out, &self.pps)?;
        if is_high_profile(self.profile) {
            if let Some(info) = self.sps.first().and_then(|s| parse_sps(s).ok()) {
                out.push(0xFC | (info.chroma_format_idc & 0x03));
                out.push(0xF8 | (info.bit_depth_luma.saturating_sub(8) & 0x07));
                out.push(0xF8 | (info.bit_depth_chroma.saturating_sub(8) & 0x07));
                out.push(0); // numOfSequenceParameterSetExt
            }
        }
        Ok(out)
    }

    /// Parses a record, checking every length against the data. Bytes after
    /// the PPS list (the High-profile extension) are ignored.
    pub fn parse(data: &[u8]) -> Result<Self, AvcError> {
        let mut r = ByteCursor::new(data);
        let version = r.u8("configuration header")?;
        if version != 1 {
            return Err(AvcError::UnsupportedConfigVersion(version));
        }
        let profile = r.u8("configuration header")?;
        let compatibility = r.u8("configuration header")?;
        let level = r.u8("configuration header")?;
        let length_size = (r.u8("configuration header")? & 0x03) + 1;
        let num_sps = usize::from(r.u8("configuration header")? & 0x1F);
        let sps = read_parameter_sets(&mut r, num_sps, "SPS")?;
        let num_pps = usize::from(r.u8("PPS count")?);
        let pps = read_parameter_sets(&mut r, num_pps, "PPS")?;
        if sps.is_empty() {
            return Err(AvcError::MissingParameterSet("SPS"));
        }
        if pps.is_empty() {
            return Err(AvcError::MissingParameterSet("PPS"));
        }
        Ok(Self {
            profile,
            compatibility,
            level,
            length_size,
            sps,
            pps,
        })
    }

    /// The parameter sets as an Annex-B stream (4-byte start codes), SPS
    /// first: what a decoder wants before the first key frame.
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for ps in self.sps.iter().chain(self.pps.iter()) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(ps);
        }
        out
    }
}

fn put_parameter_sets(out: &mut Vec<u8>, sets: &[Vec<u8>]) -> Result<(), AvcError> {
    for ps in sets {
        if ps.len() > MAX_PARAMETER_SET_LEN {
            return Err(AvcError::ParameterSetTooLarge(ps.len()));
        }
        out.extend_from_slice(&(ps.len() as u16).to_be_bytes());
        out.extend_from_slice(ps);
    }
    Ok(())
}

fn read_parameter_sets(
    r: &mut ByteCursor<'_>,
    count: usize,
    what: &'static str,
) -> Result<Vec<Vec<u8>>, AvcError> {
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(r.u16(what)?);
        sets.push(r.bytes(len, what)?.to_vec());
    }
    Ok(sets)
}

/// A bounds-checked reader over a byte slice.
struct ByteCursor<'a> {
    rest: &'a [u8],
}

impl<'a> ByteCursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], AvcError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(AvcError::Truncated {
            what,
            needed: n,
            available: self.rest.len(),
        })?;
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, AvcError> {
        let b = self.bytes(1, what)?;
        Ok(b.first().copied().unwrap_or(0))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, AvcError> {
        match *self.bytes(2, what)? {
            [a, b] => Ok(u16::from_be_bytes([a, b])),
            _ => Err(AvcError::Truncated {
                what,
                needed: 2,
                available: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::fixtures::{hex, X264_BASELINE_1280X720_SPS, X264_HIGH_720X1280_SPS, X264_PPS};

    #[test]
    fn config_record_round_trip() {
        let sps = hex(X264_HIGH_720X1280_SPS);
        let pps = hex(X264_PPS);
        let mut with_sc = vec![0, 0, 0, 1];
        with_sc.extend_from_slice(&sps);
        let cfg = AvcDecoderConfig::from_parameter_sets(&with_sc, &pps).unwrap();
        assert_eq!((cfg.profile, cfg.compatibility, cfg.level), (100, 0, 31));
        assert_eq!(cfg.length_size, 4);
        assert_eq!(cfg.sps, vec![sps.clone()]);
        let bytes = cfg.to_bytes().unwrap();
        assert_eq!(&bytes[..6], &[1, 100, 0, 31, 0xFF, 0xE1]);
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[6], bytes[7]])),
            sps.len()
        );
        // High profile: chroma 4:2:0, 8-bit, no SPS extensions.
        assert_eq!(&bytes[bytes.len() - 4..], &[0xFD, 0xF8, 0xF8, 0]);
        assert_eq!(AvcDecoderConfig::parse(&bytes).unwrap(), cfg);

        let mut annexb = cfg.to_annexb();
        annexb.extend_from_slice(&[0, 0, 1, 0x65, 1]);
        assert_eq!(AvcDecoderConfig::from_annexb(&annexb).unwrap(), cfg);

        let base = AvcDecoderConfig::from_parameter_sets(
            &hex(X264_BASELINE_1280X720_SPS),
            &[0x68, 0xCE, 0x3C, 0x80],
        )
        .unwrap();
        let bytes = base.to_bytes().unwrap();
        // Plain form: ends with the PPS.
        assert_eq!(&bytes[bytes.len() - 4..], &[0x68, 0xCE, 0x3C, 0x80]);
        assert_eq!(AvcDecoderConfig::parse(&bytes).unwrap(), base);
    }

    #[test]
    fn config_record_errors() {
        let sps = hex(X264_HIGH_720X1280_SPS);
        let pps = hex(X264_PPS);
        assert!(matches!(
            AvcDecoderConfig::from_parameter_sets(&[0x67, 100], &pps),
            Err(AvcError::Truncated { .. })
        ));
        assert!(matches!(
            AvcDecoderConfig::from_parameter_sets(&pps, &sps),
            Err(AvcError::WrongNalType {
                expected: 7,
                found: 8
            })
        ));
        assert!(matches!(
            AvcDecoderConfig::from_annexb(&[0, 0, 1, 0x65, 1]),
            Err(AvcError::MissingParameterSet("SPS"))
        ));
        let bytes = AvcDecoderConfig::from_parameter_sets(&sps, &pps)
            .unwrap()
            .to_bytes()
            .unwrap();
        let plain_len = bytes.len() - 4;
        for cut in 0..plain_len {
            assert!(AvcDecoderConfig::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(
            AvcDecoderConfig::parse(&v2),
            Err(AvcError::UnsupportedConfigVersion(2))
        );
        let mut lying = bytes.clone();
        lying[6] = 0xFF;
        assert!(matches!(
            AvcDecoderConfig::parse(&lying),
            Err(AvcError::Truncated { .. })
        ));
        let mut cfg = AvcDecoderConfig::parse(&bytes).unwrap();
        cfg.length_size = 0;
        assert!(cfg.to_bytes().is_err());
        cfg.length_size = 4;
        cfg.pps.clear();
        assert_eq!(cfg.to_bytes(), Err(AvcError::MissingParameterSet("PPS")));
        cfg.pps = vec![vec![0x68; 70_000]];
        assert_eq!(cfg.to_bytes(), Err(AvcError::ParameterSetTooLarge(70_000)));
    }
}
