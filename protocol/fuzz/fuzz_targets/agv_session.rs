//! See `fuzz_targets::sessions::agv_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::sessions::agv_session(data);
});
