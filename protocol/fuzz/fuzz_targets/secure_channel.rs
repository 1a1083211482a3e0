//! See `fuzz_targets::channel::secure_channel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::channel::secure_channel(data);
});
