//! Media fragments: one `moof` (a `traf` per track) and one `mdat` with
//! every track's samples, track after track.

use bytes::Bytes;
use mp4_atom::{Atom, Encode, Header, Mdat, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry};

use super::Fmp4Error;

/// `sample_flags` of a sync sample: depends on no other sample.
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: depends on others, is not sync.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One sample (an access unit or an audio frame) of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The sample's bytes as the `mdat` carries them (AVCC NAL units, a
    /// raw AAC frame).
    pub data: Bytes,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Presentation minus decode time, in the track's timescale.
    pub composition_offset: i32,
    /// A sync sample (video key frame; every audio frame).
    pub sync: bool,
}

/// One track's samples in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct TrackRun<'a> {
    /// The track (as in the init segment).
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale (`tfdt`).
    pub base_decode_time: u64,
    /// The samples, in decode order.
    pub samples: &'a [Sample],
}

fn traf(run: &TrackRun<'_>, data_offset: i32) -> Result<Traf, Fmp4Error> {
    // A track whose samples are all sync and shown in decode order (audio)
    // says so once in `tfhd`; video writes flags and offsets per sample.
    let plain = run
        .samples
        .iter()
        .all(|sample| sample.sync && sample.composition_offset == 0);
    let entries = run
        .samples
        .iter()
        .map(|sample| {
            let size = u32::try_from(sample.data.len())
                .map_err(|_| Fmp4Error::TooLarge("a sample over 4 GiB"))?;
            Ok(TrunEntry {
                duration: Some(sample.duration),
                size: Some(size),
                flags: (!plain).then_some(if sample.sync {
                    SYNC_SAMPLE
                } else {
                    NON_SYNC_SAMPLE
                }),
                cts: (!plain).then_some(sample.composition_offset),
            })
        })
        .collect::<Result<Vec<_>, Fmp4Error>>()?;
    Ok(Traf {
        tfhd: Tfhd {
            track_id: run.track_id,
            default_sample_flags: plain.then_some(SYNC_SAMPLE),
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.base_decode_time,
        }),
        trun: vec![Trun {
            data_offset: Some(data_offset),
            entries,
        }],
        ..Default::default()
    })
}

/// `moof` + `mdat` of one fragment: `sequence_number` counts fragments
/// from 1; each run's samples follow the previous run's in the `mdat`.
pub fn fragment(sequence_number: u32, runs: &[TrackRun<'_>]) -> Result<Vec<u8>, Fmp4Error> {
    let run_bytes: Vec<usize> = runs
        .iter()
        .map(|run| run.samples.iter().map(|sample| sample.data.len()).sum())
        .collect();
    let payload: usize = run_bytes.iter().sum();
    // The data offsets count from the start of the `moof`, whose size does
    // not depend on their values: encode once to measure, then for real.
    let build = |moof_size: usize| -> Result<Moof, Fmp4Error> {
        let mut offset = moof_size + 8;
        let mut trafs = Vec::with_capacity(runs.len());
        for (run, bytes) in runs.iter().zip(&run_bytes) {
            let data_offset =
                i32::try_from(offset).map_err(|_| Fmp4Error::TooLarge("a fragment over 2 GiB"))?;
            trafs.push(traf(run, data_offset)?);
            offset += bytes;
        }
        Ok(Moof {
            mfhd: Mfhd { sequence_number },
            traf: trafs,
        })
    };
    let mut measured = Vec::new();
    build(0)?.encode(&mut measured)?;
    let moof_size = measured.len();
    let mut out = Vec::with_capacity(moof_size + 16 + payload);
    build(moof_size)?.encode(&mut out)?;
    Header {
        kind: Mdat::KIND,
        size: Some(payload),
    }
    .encode(&mut out)?;
    for run in runs {
        for sample in run.samples {
            out.extend_from_slice(&sample.data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use mp4_atom::{Decode, Mdat, Moof};

    use super::*;

    fn sample(data: &[u8], duration: u32, composition_offset: i32, sync: bool) -> Sample {
        Sample {
            data: Bytes::copy_from_slice(data),
            duration,
            composition_offset,
            sync,
        }
    }

    #[test]
    fn fragments_decode_with_offsets_pointing_at_each_sample() {
        let video = [
            sample(&[0, 0, 0, 2, 0x65, 0x88], 3000, 6000, true),
            sample(&[0, 0, 0, 1, 0x41], 3000, -3000, false),
            sample(&[0, 0, 0, 1, 0x41, 9], 3003, 0, false),
        ];
        let audio = [
            sample(&[0x21, 1, 2], 1024, 0, true),
            sample(&[0x21, 3], 1024, 0, true),
        ];
        let bytes = fragment(
            7,
            &[
                TrackRun {
                    track_id: 1,
                    base_decode_time: 90_000 * 3,
                    samples: &video,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: 1 << 33,
                    samples: &audio,
                },
            ],
        )
        .expect("fragment");
        let mut cursor = std::io::Cursor::new(bytes.as_slice());
        let moof = Moof::decode(&mut cursor).expect("moof");
        let moof_size = cursor.position() as usize;
        let mdat = Mdat::decode(&mut cursor).expect("mdat");
        assert_eq!(cursor.position() as usize, bytes.len());
        assert_eq!(moof.mfhd.sequence_number, 7);
        assert_eq!(moof.traf.len(), 2);

        let vtraf = &moof.traf[0];
        assert_eq!(vtraf.tfhd.track_id, 1);
        assert!(vtraf.tfhd.default_base_is_moof);
        assert_eq!(
            vtraf.tfdt.as_ref().map(|t| t.base_media_decode_time),
            Some(270_000)
        );
        let trun = &vtraf.trun[0];
        let durations: Vec<_> = trun.entries.iter().map(|e| e.duration).collect();
        assert_eq!(durations, vec![Some(3000), Some(3000), Some(3003)]);
        let sizes: Vec<_> = trun.entries.iter().map(|e| e.size).collect();
        assert_eq!(sizes, vec![Some(6), Some(5), Some(6)]);
        let offsets: Vec<_> = trun.entries.iter().map(|e| e.cts).collect();
        assert_eq!(offsets, vec![Some(6000), Some(-3000), Some(0)]);
        let flags: Vec<_> = trun.entries.iter().map(|e| e.flags).collect();
        assert_eq!(
            flags,
            vec![
                Some(SYNC_SAMPLE),
                Some(NON_SYNC_SAMPLE),
                Some(NON_SYNC_SAMPLE)
            ]
        );
        // The first video sample starts right after the mdat header.
        let start = trun.data_offset.expect("data offset") as usize;
        assert_eq!(start, moof_size + 8);
        assert_eq!(&bytes[start..start + 6], &[0, 0, 0, 2, 0x65, 0x88]);

        let atraf = &moof.traf[1];
        assert_eq!(atraf.tfhd.default_sample_flags, Some(SYNC_SAMPLE));
        assert_eq!(
            atraf.tfdt.as_ref().map(|t| t.base_media_decode_time),
            Some(1 << 33)
        );
        let trun = &atraf.trun[0];
        assert!(trun
            .entries
            .iter()
            .all(|e| e.flags.is_none() && e.cts.is_none()));
        let start = trun.data_offset.expect("data offset") as usize;
        assert_eq!(start, moof_size + 8 + 17);
        assert_eq!(&bytes[start..], &[0x21, 1, 2, 0x21, 3]);
        assert_eq!(mdat.data.len(), 17 + 5);
    }

    #[test]
    fn an_audio_only_fragment_has_one_traf() {
        let audio = [sample(&[1, 2, 3, 4], 1024, 0, true)];
        let bytes = fragment(
            1,
            &[TrackRun {
                track_id: 2,
                base_decode_time: 0,
                samples: &audio,
            }],
        )
        .expect("fragment");
        let moof = Moof::decode(&mut std::io::Cursor::new(bytes.as_slice())).expect("moof");
        assert_eq!(moof.traf.len(), 1);
        assert_eq!(moof.traf[0].tfhd.track_id, 2);
        assert!(bytes.ends_with(&[1, 2, 3, 4]));
        // No samples at all still makes a well-formed fragment.
        let empty = fragment(
            2,
            &[TrackRun {
                track_id: 2,
                base_decode_time: 1024,
                samples: &[],
            }],
        )
        .expect("fragment");
        let mut cursor = std::io::Cursor::new(empty.as_slice());
        Moof::decode(&mut cursor).expect("moof");
        assert!(Mdat::decode(&mut cursor).expect("mdat").data.is_empty());
    }
}
