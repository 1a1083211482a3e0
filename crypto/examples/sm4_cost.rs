//! A harness for instruction counts (callgrind), which the shared machine's timing noise does
//! not move: SM4-CTR over a 1 KiB buffer `N` times through one implementation.
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/sm4_cost
//! BACKEND N` with N = 1 and N = 1001: the difference of the totals over 1,000 is the
//! instructions per KiB. BACKEND: `portable`, `aesni`, `aesni-avx`, `gfni` (valgrind does not run GFNI, and
//! hides it from CPUID: that one is refused there), `ctr` (RustCrypto `ctr::Ctr128BE<sm4::Sm4>`,
//! the baseline).

use std::hint::black_box;

use crypto::sm4ctr::{Backend, Sm4Ctr};

/// The measured part: callgrind counts only inside it (`--toggle-collect='*measured*'`).
#[inline(never)]
fn measured(f: impl FnOnce()) {
    f()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "aesni".into());
    let n: u32 = args.next().map_or(1, |n| n.parse().unwrap());
    let key = [9u8; 16];
    let iv = [7u8; 16];
    let mut data = vec![0u8; 1024];
    if backend == "ctr" {
        use ctr::cipher::{KeyIvInit, StreamCipher};
        measured(|| {
            for _ in 0..n {
                let mut c = ctr::Ctr128BE::<sm4::Sm4>::new(&key.into(), &iv.into());
                c.apply_keystream(black_box(&mut data));
            }
        });
    } else {
        let backend = match backend.as_str() {
            "portable" => Backend::Portable,
            "aesni" => Backend::AesNi,
            "aesni-avx" => Backend::AesNiAvx,
            "gfni" => Backend::Gfni,
            other => panic!("unknown backend {other}"),
        };
        let cipher = Sm4Ctr::with_backend(&key, backend).expect("this CPU runs that backend");
        measured(|| {
            for _ in 0..n {
                cipher.apply_keystream(&iv, black_box(&mut data));
            }
        });
    }
    println!("{}", data[0]);
}
