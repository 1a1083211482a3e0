//! Crypto benchmarks: SM2 sign, verify (stock and cached), key exchange per party, SM4-CTR per
//! 64 B and 1 KiB, HMAC-SM3, and the per-frame work of both secure profiles on one status
//! frame. `crypto/benches/run.sh` runs these beside `openssl speed` for the baseline.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crypto::channel::ChannelKeys;
use crypto::kex::{Initiator, Responder, SharedKey};
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::{DEFAULT_ID, system_rng};

fn sm2(c: &mut Criterion) {
    let mut rng = system_rng();
    let key = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
    let vk = key.verifying_key().clone();
    let cached = CachedVerifier::new(vk.clone());
    let msg = [0x5au8; 178]; // a status frame's header + body
    let sig = key.sign(&msg);

    let mut g = c.benchmark_group("sm2");
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&msg))));
    g.bench_function("verify (stock, constant time)", |b| {
        b.iter(|| vk.verify(black_box(&msg), &sig).unwrap())
    });
    g.bench_function("verify (cached tables, variable time)", |b| {
        b.iter(|| cached.verify(black_box(&msg), &sig).unwrap())
    });
    g.bench_function("cached verifier: build tables for a key", |b| {
        b.iter(|| CachedVerifier::new(black_box(vk.clone())))
    });

    let agv = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
    let rcs = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
    g.bench_function("key exchange: initiator (start + finish)", |b| {
        // the responder's part is precomputed outside the timed loop for each iteration
        b.iter_batched(
            || {
                let (init, ra) = Initiator::start(&mut system_rng());
                let (_, rb, sb) =
                    Responder::respond(&rcs, agv.verifying_key(), &ra, &mut system_rng()).unwrap();
                (init, rb, sb)
            },
            |(init, rb, sb)| init.finish(&agv, rcs.verifying_key(), &rb, &sb).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("key exchange: responder (respond + confirm)", |b| {
        b.iter_batched(
            || Initiator::start(&mut system_rng()).1,
            |ra| Responder::respond(&rcs, agv.verifying_key(), &ra, &mut system_rng()).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn symmetric(c: &mut Criterion) {
    let keys = ChannelKeys::derive(&SharedKey([9; 16]), &[b"t"], true);
    let mut g = c.benchmark_group("sm4-ctr");
    for len in [64usize, 1024] {
        let mut data = vec![0u8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{len} B"), |b| {
            b.iter(|| keys.send.apply_keystream(7, black_box(&mut data)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("hmac-sm3");
    let data = vec![0u8; 178];
    g.throughput(Throughput::Bytes(178));
    g.bench_function("178 B (status frame header + body)", |b| {
        b.iter(|| keys.send.mac(&[black_box(&data)]))
    });
    g.finish();
}

fn frame(c: &mut Criterion) {
    // One status frame: 32-byte header, 110-byte body (see protocol's size test).
    let mut rng = system_rng();
    let agv = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
    let cached = CachedVerifier::new(agv.verifying_key().clone());
    let a = ChannelKeys::derive(&SharedKey([9; 16]), &[b"t"], true);
    let r = ChannelKeys::derive(&SharedKey([9; 16]), &[b"t"], false);
    let header = [0x11u8; 32];
    let plain = [0x22u8; 110];

    let mut g = c.benchmark_group("status frame");
    g.bench_function("guide profile: seal (SM4 + SM2 sign)", |b| {
        b.iter(|| {
            let mut body = plain;
            a.send.apply_keystream(5, &mut body);
            black_box(agv.sign_parts(&[&header, &body]))
        })
    });
    let mut sealed = plain;
    a.send.apply_keystream(5, &mut sealed);
    let sig = agv.sign_parts(&[&header, &sealed]);
    g.bench_function("guide profile: open (cached SM2 verify + SM4)", |b| {
        b.iter(|| {
            cached.verify_parts(&[&header, &sealed], &sig).unwrap();
            let mut body = sealed;
            r.recv.apply_keystream(5, &mut body);
            black_box(body)
        })
    });
    g.bench_function("fast profile: seal (SM4 + HMAC-SM3)", |b| {
        b.iter(|| {
            let mut body = plain;
            a.send.apply_keystream(5, &mut body);
            black_box(a.send.mac(&[&header, &body]))
        })
    });
    let tag = a.send.mac(&[&header, &sealed]);
    g.bench_function("fast profile: open (HMAC-SM3 + SM4)", |b| {
        b.iter(|| {
            r.recv.verify_mac(&[&header, &sealed], &tag).unwrap();
            let mut body = sealed;
            r.recv.apply_keystream(5, &mut body);
            black_box(body)
        })
    });
    g.finish();
}

criterion_group!(benches, sm2, symmetric, frame);
criterion_main!(benches);
