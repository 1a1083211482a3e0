//! See `fuzz_targets::signatures::sm2_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::signatures::sm2_verify(data);
});
