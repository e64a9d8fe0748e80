//! Annex-B byte streams (NAL units after `00 00 01` / `00 00 00 01` start
//! codes, as x264 writes them): splitting them into NAL units, spotting key
//! frames, and converting them to AVCC.

use super::{nal_type, AvcError, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS};

/// Position of the first `00 00 01` at or after `from`: returns the index of
/// its first zero byte.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let tail = data.get(from..)?;
    tail.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| p + from)
}

/// Iterator over the NAL units of an Annex-B byte stream; see
/// [`annexb_nal_units`].
#[derive(Debug, Clone)]
pub struct AnnexBNalUnits<'a> {
    data: &'a [u8],
    /// Index just after the current start code, or `None` when done.
    pos: Option<usize>,
}

impl<'a> Iterator for AnnexBNalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let start = self.pos?;
            let (end, next) = match find_start_code(self.data, start) {
                Some(sc) => (sc, Some(sc + 3)),
                None => (self.data.len(), None),
            };
            self.pos = next;
            let mut nal = self.data.get(start..end).unwrap_or(&[]);
            // Trailing zeros belong to the next 4-byte start code or are
            // trailing_zero_8bits; a NAL unit never ends in a zero byte.
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// Splits an Annex-B byte stream into NAL units (without start codes).
///
/// Both 3- and 4-byte start codes are recognised; zero bytes before a start
/// code are stripped from the preceding unit, bytes before the first start
/// code are ignored, and empty units are skipped.
pub fn annexb_nal_units(data: &[u8]) -> AnnexBNalUnits<'_> {
    AnnexBNalUnits {
        data,
        pos: find_start_code(data, 0).map(|p| p + 3),
    }
}

/// Whether an Annex-B access unit contains an IDR slice (is a key frame).
pub fn annexb_is_keyframe(data: &[u8]) -> bool {
    annexb_nal_units(data).any(|nal| nal_type(nal) == Some(NAL_IDR))
}

/// Converts an Annex-B stream to AVCC (4-byte big-endian length prefixes),
/// appending to `out`.
pub fn annexb_to_avcc(data: &[u8], out: &mut Vec<u8>) -> Result<(), AvcError> {
    annexb_to_avcc_filtered(data, out, |_| true)
}

/// Like [`annexb_to_avcc`] but drops SPS, PPS and access unit delimiters,
/// which do not belong in FLV video tags (the parameter sets travel in the
/// sequence header).
pub fn annexb_to_avcc_without_parameter_sets(
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), AvcError> {
    annexb_to_avcc_filtered(data, out, |t| !matches!(t, NAL_SPS | NAL_PPS | NAL_AUD))
}

/// Converts Annex-B to AVCC keeping only the NAL units whose type `keep`
/// accepts.
pub fn annexb_to_avcc_filtered(
    data: &[u8],
    out: &mut Vec<u8>,
    mut keep: impl FnMut(u8) -> bool,
) -> Result<(), AvcError> {
    for nal in annexb_nal_units(data) {
        if !keep(nal_type(nal).unwrap_or(0)) {
            continue;
        }
        let len = u32::try_from(nal.len()).map_err(|_| AvcError::NalTooLarge(nal.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_annexb_three_and_four_byte_start_codes() {
        let data = [
            0xAA, 0xBB, // leading garbage
            0, 0, 0, 1, 0x67, 1, 2, // 4-byte start code
            0, 0, 1, 0x68, 3, // 3-byte start code
            0, 0, 0, 0, 1, 0x65, 4, 0, 5, 0, 0, // trailing zeros stripped
        ];
        let units: Vec<&[u8]> = annexb_nal_units(&data).collect();
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 0, 5][..]]
        );
        assert_eq!(
            units.iter().map(|u| nal_type(u)).collect::<Vec<_>>(),
            [Some(NAL_SPS), Some(NAL_PPS), Some(NAL_IDR)]
        );
        assert!(annexb_is_keyframe(&data));
        assert_eq!(nal_type(&[]), None);
    }

    #[test]
    fn split_annexb_edge_cases() {
        assert_eq!(annexb_nal_units(&[]).count(), 0);
        assert_eq!(annexb_nal_units(&[1, 2, 3, 0, 0]).count(), 0);
        assert_eq!(annexb_nal_units(&[0, 0, 1]).count(), 0);
        assert_eq!(annexb_nal_units(&[0, 0, 1, 0, 0, 1, 0, 0, 0, 1]).count(), 0);
        let units: Vec<&[u8]> = annexb_nal_units(&[0, 0, 1, 9, 0, 0, 1, 0x41]).collect();
        assert_eq!(units, vec![&[9][..], &[0x41][..]]);
    }
}
