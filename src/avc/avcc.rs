//! AVCC data (NAL units behind big-endian length prefixes, as FLV and RTMP
//! carry them): splitting it into NAL units and converting it back to
//! Annex-B.

use super::AvcError;

/// Splits AVCC data (NAL units with `length_size`-byte big-endian length
/// prefixes) into NAL units. Zero-length units are skipped; a length running
/// past the end of the data is an error.
pub fn avcc_nal_units(data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, AvcError> {
    if !(1..=4).contains(&length_size) {
        return Err(AvcError::InvalidLengthSize(length_size));
    }
    let mut units = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (prefix, after) = rest
            .split_at_checked(length_size)
            .ok_or(AvcError::Truncated {
                what: "AVCC length prefix",
                needed: length_size,
                available: rest.len(),
            })?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let (nal, after) = after.split_at_checked(len).ok_or(AvcError::Truncated {
            what: "AVCC NAL unit",
            needed: len,
            available: after.len(),
        })?;
        if !nal.is_empty() {
            units.push(nal);
        }
        rest = after;
    }
    Ok(units)
}

/// Converts AVCC data to Annex-B (4-byte start codes), appending to `out`.
/// On error nothing is appended.
pub fn avcc_to_annexb(data: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<(), AvcError> {
    let units = avcc_nal_units(data, length_size)?;
    for nal in units {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::{
        annexb_nal_units, annexb_to_avcc, annexb_to_avcc_without_parameter_sets, nal_type, NAL_IDR,
        NAL_SEI,
    };

    #[test]
    fn annexb_avcc_round_trip() {
        let annexb = [
            0, 0, 0, 1, 0x09, 0xF0, // AUD
            0, 0, 0, 1, 0x67, 1, 2, 3, // SPS
            0, 0, 0, 1, 0x68, 4, // PPS
            0, 0, 1, 0x06, 5, 5, // SEI
            0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 3, 1, // IDR with emulation prevention
        ];
        let mut avcc = Vec::new();
        annexb_to_avcc(&annexb, &mut avcc).unwrap();
        assert_eq!(&avcc[..6], &[0, 0, 0, 2, 0x09, 0xF0]);
        let units = avcc_nal_units(&avcc, 4).unwrap();
        assert_eq!(units.len(), 5);
        let mut back = Vec::new();
        avcc_to_annexb(&avcc, 4, &mut back).unwrap();
        let again: Vec<&[u8]> = annexb_nal_units(&back).collect();
        let orig: Vec<&[u8]> = annexb_nal_units(&annexb).collect();
        assert_eq!(again, orig);

        let mut slim = Vec::new();
        annexb_to_avcc_without_parameter_sets(&annexb, &mut slim).unwrap();
        let types: Vec<_> = avcc_nal_units(&slim, 4)
            .unwrap()
            .iter()
            .map(|n| nal_type(n).unwrap())
            .collect();
        assert_eq!(types, [NAL_SEI, NAL_IDR]);
    }

    #[test]
    fn avcc_short_length_sizes() {
        let data = [0, 2, 0x41, 1, 0, 0, 0, 1, 0x41];
        assert_eq!(
            avcc_nal_units(&data, 2).unwrap(),
            vec![&[0x41, 1][..], &[0x41][..]]
        );
        assert_eq!(avcc_nal_units(&[1, 0x41], 1).unwrap(), vec![&[0x41][..]]);
        assert_eq!(avcc_nal_units(&[], 4).unwrap().len(), 0);
    }

    #[test]
    fn avcc_truncated_or_lying_lengths_error() {
        let mut avcc = Vec::new();
        annexb_to_avcc(&[0, 0, 1, 0x65, 1, 2, 3, 0, 0, 1, 0x41, 9], &mut avcc).unwrap();
        for cut in 1..avcc.len() {
            let is_boundary = cut == 8;
            let r = avcc_nal_units(&avcc[..cut], 4);
            assert_eq!(r.is_ok(), is_boundary, "cut {cut}");
            let mut out = Vec::new();
            let r = avcc_to_annexb(&avcc[..cut], 4, &mut out);
            assert_eq!(r.is_ok(), is_boundary);
            if !is_boundary {
                assert!(out.is_empty());
            }
        }
        assert!(matches!(
            avcc_nal_units(&[0xFF, 0xFF, 0xFF, 0xFF, 1], 4),
            Err(AvcError::Truncated { .. })
        ));
        assert_eq!(avcc_nal_units(&[1], 0), Err(AvcError::InvalidLengthSize(0)));
        assert_eq!(avcc_nal_units(&[1], 5), Err(AvcError::InvalidLengthSize(5)));
    }
}
