//! A harness for instruction counts (callgrind), which the shared machine's timing noise does
//! not move: `N` SM2 signatures (`SigningKey::sign`) or `N` verifications with
//! the key's tables (`CachedVerifier::verify`, as the server checks every guide-profile frame)
//! of distinct 40-byte messages under one key.
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/sm2_cost
//! OP N` (OP: `sign` or `verify`) with N = 1 and N = 1001: the difference of the totals over
//! 1,000 is the instructions per operation (one-off costs, such as a table built on first use,
//! cancel out). `callgrind_annotate --inclusive=yes` on the N = 1001 output splits it by
//! function.

use std::hint::black_box;

use crypto::sign::{CachedVerifier, SigningKey};

/// The measured part: callgrind counts only inside it (`--toggle-collect='*measured*'`).
#[inline(never)]
fn measured(f: impl FnOnce()) {
    f()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "sign".into());
    let n: u32 = args.next().map_or(1, |n| n.parse().expect("N: a count"));
    let secret = sm2::SecretKey::from_slice(&[0x5a; 32]).expect("a valid key");
    let key = SigningKey::new(b"1234567812345678", secret).expect("a valid key");
    let message = |i: u32| {
        let mut msg = [0u8; 40];
        msg[..4].copy_from_slice(&i.to_le_bytes());
        msg
    };
    match op.as_str() {
        "sign" => measured(|| {
            for i in 0..n {
                black_box(key.sign(black_box(&message(i))));
            }
        }),
        "verify" => {
            let verifier = CachedVerifier::new(key.verifying_key().clone());
            let signed: Vec<_> = (0..n)
                .map(|i| (message(i), key.sign(&message(i))))
                .collect();
            measured(|| {
                for (msg, sig) in &signed {
                    verifier
                        .verify(black_box(msg), sig)
                        .expect("a good signature");
                }
            });
        }
        other => panic!("OP: sign or verify, not {other}"),
    }
}
