//! Fuzzes the FLV reader and the FLV/AVC/AAC tag body parsers (see
//! `liveroom_fuzz::flv_reader`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveroom_fuzz::flv_reader(data));
