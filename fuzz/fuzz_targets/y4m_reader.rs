//! Fuzzes the Y4M reader: stream header, then frames (see
//! `liveroom_fuzz::y4m_reader`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveroom_fuzz::y4m_reader(data));
