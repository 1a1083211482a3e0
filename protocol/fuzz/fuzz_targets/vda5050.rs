//! See `fuzz_targets::vda5050::vda5050`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::vda5050::vda5050(data);
});
