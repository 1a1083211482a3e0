//! A harness for instruction counts (callgrind), which the shared machine's timing noise does
//! not move: `N` SM2 signatures (`crypto::sign::SigningKey::sign`, RFC 6979 nonces) of distinct
//! 40-byte messages under one key, as the server signs its answers in the guide profile.
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/sign_cost N`
//! with N = 1 and N = 1001: the difference of the totals over 1,000 is the instructions per
//! signature (one-off costs, such as a table built on the first signature, cancel out).
//! `callgrind_annotate --inclusive=yes` on the N = 1001 output splits it by function.

use std::hint::black_box;

use crypto::sign::SigningKey;

/// The measured part: callgrind counts only inside it (`--toggle-collect='*measured*'`).
#[inline(never)]
fn measured(f: impl FnOnce()) {
    f()
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map_or(1, |n| n.parse().expect("N: a count"));
    let secret = sm2::SecretKey::from_slice(&[0x5a; 32]).expect("a valid key");
    let key = SigningKey::new(b"1234567812345678", secret).expect("a valid key");
    let mut msg = [0u8; 40];
    measured(|| {
        for i in 0..n {
            msg[..4].copy_from_slice(&i.to_le_bytes());
            black_box(key.sign(black_box(&msg)));
        }
    });
}
