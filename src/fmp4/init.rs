//! The init segment: `ftyp` and a `moov` whose tracks have no samples of
//! their own (empty sample tables) and an `mvex` announcing fragments.

use mp4_atom::{
    esds, Audio, Avc1, Avcc, AvccExt, Codec, Dinf, Dref, Encode, Esds, Ftyp, Hdlr, Mdhd, Mdia,
    Minf, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsc, Stsd, Stsz, Stts, Tkhd, Trak, Trex, Url,
    Visual, Vmhd,
};

use super::track::{AudioTrack, VideoTrack, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};
use super::Fmp4Error;

/// The movie's own clock (nothing is timed on it: durations are 0).
const MOVIE_TIMESCALE: u32 = 1000;

/// `ftyp` + `moov` for the tracks given (at least one). An audio-only
/// rendition passes no video.
pub fn init_segment(
    video: Option<&VideoTrack>,
    audio: Option<&AudioTrack>,
) -> Result<Vec<u8>, Fmp4Error> {
    if video.is_none() && audio.is_none() {
        return Err(Fmp4Error::NoTracks);
    }
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let mut trak = Vec::new();
    let mut trex = Vec::new();
    if let Some(video) = video {
        trak.push(video_trak(video)?);
        trex.push(track_extends(VIDEO_TRACK_ID));
    }
    if let Some(audio) = audio {
        trak.push(audio_trak(audio));
        trex.push(track_extends(AUDIO_TRACK_ID));
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: MOVIE_TIMESCALE,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: AUDIO_TRACK_ID + 1,
            ..Default::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(out)
}

fn track_extends(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        ..Default::default()
    }
}

/// A track with an empty sample table around `codec`.
fn trak(tkhd: Tkhd, timescale: u32, handler: &[u8; 4], name: &str, minf: Minf) -> Trak {
    Trak {
        tkhd,
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: handler.into(),
                name: name.into(),
            },
            minf,
        },
        ..Default::default()
    }
}

/// A sample table holding just the sample description.
fn sample_table(codec: Codec) -> Stbl {
    Stbl {
        stsd: Stsd {
            codecs: vec![codec],
        },
        stts: Stts::default(),
        stsc: Stsc::default(),
        stsz: Stsz::default(),
        stco: Some(Stco::default()),
        ..Default::default()
    }
}

/// Data is in this file (a self-contained `url `).
fn data_information() -> Dinf {
    Dinf {
        dref: Dref {
            urls: vec![Url {
                location: String::new(),
            }],
        },
    }
}

fn video_trak(video: &VideoTrack) -> Result<Trak, Fmp4Error> {
    let config = &video.config;
    let avcc = Avcc {
        configuration_version: 1,
        avc_profile_indication: config.profile,
        profile_compatibility: config.compatibility,
        avc_level_indication: config.level,
        length_size: config.length_size,
        sequence_parameter_sets: config.sps.clone(),
        picture_parameter_sets: config.pps.clone(),
        ext: video.high_profile.map(
            |(chroma_format, bit_depth_luma, bit_depth_chroma)| AvccExt {
                chroma_format,
                bit_depth_luma,
                bit_depth_chroma,
                sequence_parameter_sets_ext: Vec::new(),
            },
        ),
    };
    let codec = Codec::Avc1(Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width: video.width,
            height: video.height,
            horizresolution: 72.into(),
            vertresolution: 72.into(),
            frame_count: 1,
            compressor: "".into(),
            depth: 24,
        },
        avcc,
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
    });
    let tkhd = Tkhd {
        track_id: VIDEO_TRACK_ID,
        enabled: true,
        in_movie: true,
        width: video.width.into(),
        height: video.height.into(),
        ..Default::default()
    };
    let minf = Minf {
        vmhd: Some(Vmhd::default()),
        dinf: data_information(),
        stbl: sample_table(codec),
        ..Default::default()
    };
    Ok(trak(tkhd, VIDEO_TIMESCALE, b"vide", "VideoHandler", minf))
}

fn audio_trak(audio: &AudioTrack) -> Trak {
    let codec = Codec::Mp4a(Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: audio.channels,
            sample_size: 16,
            // The field holds 16 bits; the esds has the real rate.
            sample_rate: u16::try_from(audio.sample_rate).unwrap_or(0).into(),
        },
        esds: Esds {
            es_desc: esds::EsDescriptor {
                es_id: AUDIO_TRACK_ID as u16,
                dec_config: esds::DecoderConfig {
                    // MPEG-4 audio, audio stream.
                    object_type_indication: 0x40,
                    stream_type: 5,
                    dec_specific: Some(esds::DecoderSpecific {
                        profile: audio.object_type,
                        freq_index: audio.frequency_index,
                        chan_conf: audio.channels.min(15) as u8,
                        raw: audio.config.clone(),
                    }),
                    ..Default::default()
                },
                sl_config: esds::SLConfig {},
            },
        },
        btrt: None,
        taic: None,
    });
    let tkhd = Tkhd {
        track_id: AUDIO_TRACK_ID,
        enabled: true,
        in_movie: true,
        volume: 1.into(),
        ..Default::default()
    };
    let minf = Minf {
        smhd: Some(Smhd::default()),
        dinf: data_information(),
        stbl: sample_table(codec),
        ..Default::default()
    };
    trak(tkhd, audio.sample_rate, b"soun", "SoundHandler", minf)
}

#[cfg(test)]
mod tests {
    use mp4_atom::{Decode, Ftyp, Moov};

    use super::super::track::tests::record;
    use super::*;

    fn decode(bytes: &[u8]) -> (Ftyp, Moov) {
        let mut cursor = std::io::Cursor::new(bytes);
        let ftyp = Ftyp::decode(&mut cursor).expect("ftyp");
        let moov = Moov::decode(&mut cursor).expect("moov");
        assert_eq!(
            cursor.position() as usize,
            bytes.len(),
            "nothing after moov"
        );
        (ftyp, moov)
    }

    #[test]
    fn the_init_segment_decodes_with_both_tracks() {
        let video = VideoTrack::from_flv_config(&record()).expect("video");
        let audio = AudioTrack::from_flv_config(&[0x12, 0x10]).expect("audio");
        let bytes = init_segment(Some(&video), Some(&audio)).expect("init");
        let (ftyp, moov) = decode(&bytes);
        assert_eq!(ftyp.major_brand, b"iso6".into());
        assert_eq!(moov.trak.len(), 2);
        let trex: Vec<u32> = moov
            .mvex
            .as_ref()
            .expect("mvex")
            .trex
            .iter()
            .map(|trex| trex.track_id)
            .collect();
        assert_eq!(trex, vec![VIDEO_TRACK_ID, AUDIO_TRACK_ID]);

        let vtrak = &moov.trak[0];
        assert_eq!(vtrak.tkhd.track_id, VIDEO_TRACK_ID);
        assert_eq!(vtrak.mdia.mdhd.timescale, VIDEO_TIMESCALE);
        assert_eq!(vtrak.mdia.hdlr.handler, b"vide".into());
        let Some(Codec::Avc1(avc1)) = vtrak.mdia.minf.stbl.stsd.codecs.first() else {
            panic!("no avc1: {:?}", vtrak.mdia.minf.stbl.stsd);
        };
        assert_eq!((avc1.visual.width, avc1.visual.height), (720, 1280));
        assert_eq!(avc1.avcc.sequence_parameter_sets, video.config.sps);
        assert_eq!(avc1.avcc.picture_parameter_sets, video.config.pps);
        assert_eq!(avc1.avcc.length_size, 4);
        assert_eq!(avc1.avcc.avc_profile_indication, 100);

        let atrak = &moov.trak[1];
        assert_eq!(atrak.tkhd.track_id, AUDIO_TRACK_ID);
        assert_eq!(atrak.mdia.mdhd.timescale, 44100);
        assert_eq!(atrak.mdia.hdlr.handler, b"soun".into());
        let Some(Codec::Mp4a(mp4a)) = atrak.mdia.minf.stbl.stsd.codecs.first() else {
            panic!("no mp4a");
        };
        assert_eq!(mp4a.audio.channel_count, 2);
        let specific = mp4a.esds.es_desc.dec_config.dec_specific.as_ref();
        assert_eq!(specific.map(|s| s.raw.as_slice()), Some(&[0x12, 0x10][..]));
        assert_eq!(mp4a.esds.es_desc.dec_config.object_type_indication, 0x40);
    }

    #[test]
    fn the_audio_only_init_segment_has_no_video_track() {
        let audio = AudioTrack::from_flv_config(&[0x11, 0x90]).expect("audio");
        let (_, moov) = decode(&init_segment(None, Some(&audio)).expect("init"));
        assert_eq!(moov.trak.len(), 1);
        assert_eq!(moov.trak[0].mdia.hdlr.handler, b"soun".into());
        assert_eq!(moov.trak[0].mdia.mdhd.timescale, 48000);
        assert!(matches!(init_segment(None, None), Err(Fmp4Error::NoTracks)));
    }
}
