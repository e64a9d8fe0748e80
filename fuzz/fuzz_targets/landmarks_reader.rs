//! Fuzzes the JSON-lines landmarks reader (see
//! `liveroom_fuzz::landmarks_reader`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveroom_fuzz::landmarks_reader(data));
