//! See `fuzz_targets::frames::message_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::frames::message_roundtrip(data));
