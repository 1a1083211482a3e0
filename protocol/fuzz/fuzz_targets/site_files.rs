//! See `fuzz_targets::site::site_files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::site::site_files(data);
});
