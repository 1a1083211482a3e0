//! See `fuzz_targets::secure::secure_handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::secure::secure_handshake(data);
});
