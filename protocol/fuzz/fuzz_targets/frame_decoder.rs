//! See `fuzz_targets::frames::frame_decoder`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::frames::frame_decoder(data));
