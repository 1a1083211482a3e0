//! See `fuzz_targets::sessions::rcs_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::sessions::rcs_session(data);
});
