//! Crypto benchmarks: SM2 sign, verify (stock and cached), key exchange per party, SM4-CTR per
//! 64 B and 1 KiB, HMAC-SM3, and the per-frame work of both secure profiles on one status
//! frame. `crypto/benches/run.sh` runs these beside `openssl speed` for the baseline.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crypto::channel::ChannelKeys;
use crypto::kex::{Initiator, Responder, SharedKey};
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::sm4ctr::{Backend, Sm4Ctr};
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
        // What the channel runs: `Sm4Ctr::new`'s choice for this CPU (AES-NI where it has it).
        g.bench_function(format!("{len} B"), |b| {
            b.iter(|| keys.send.apply_keystream(7, black_box(&mut data)))
        });
        // Every implementation this CPU runs side by side, the same key and IV.
        let iv = [7u8; 16];
        for cipher in Backend::ALL
            .into_iter()
            .filter_map(|b| Sm4Ctr::with_backend(&[9; 16], b))
        {
            g.bench_function(format!("{len} B, Sm4Ctr {:?}", cipher.backend()), |b| {
                b.iter(|| cipher.apply_keystream(&iv, black_box(&mut data)))
            });
        }
        // Before: RustCrypto `ctr::Ctr128BE<sm4::Sm4>` (one block at a time), as the channel
        // used it: the expanded key cloned into a counter-mode core per frame.
        g.bench_function(format!("{len} B, RustCrypto sm4 0.6 + ctr (before)"), |b| {
            use ctr::cipher::{InnerIvInit, KeyInit, StreamCipher};
            let cipher = sm4::Sm4::new(&[9u8; 16].into());
            let iv = [7u8; 16];
            b.iter(|| {
                let core = ctr::CtrCore::<sm4::Sm4, ctr::flavors::Ctr128BE>::inner_iv_init(
                    cipher.clone(),
                    &iv.into(),
                );
                let mut c = ctr::cipher::StreamCipherCoreWrapper::from_core(core);
                c.apply_keystream(black_box(&mut data))
            })
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
    // One status frame (the protocol's golden sample: 110-byte body) through the real
    // `protocol::secure::SecureChannel` seal and open, both profiles.
    use std::sync::Arc;

    use bytes::BytesMut;
    use crypto::session::SessionCrypto;
    use protocol::frame::{Flags, FrameDecoder, Header};
    use protocol::message::{Message, SecureProfile};
    use protocol::secure::SecureChannel;

    let mut rng = system_rng();
    let agv = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
    let rcs = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
    let k = SharedKey([9; 16]);
    let status: Message = status_sample();
    let mut g = c.benchmark_group("status frame");
    for profile in [
        SecureProfile::Guide,
        SecureProfile::Fast,
        SecureProfile::Gcm,
    ] {
        let mut tx = SecureChannel::new(
            SessionCrypto::new(
                ChannelKeys::derive(&k, &[b"t"], true),
                agv.clone(),
                Arc::new(CachedVerifier::new(rcs.verifying_key().clone())),
            ),
            profile,
            1,
            0,
        );
        let rx_crypto = SessionCrypto::new(
            ChannelKeys::derive(&k, &[b"t"], false),
            rcs.clone(),
            Arc::new(CachedVerifier::new(agv.verifying_key().clone())),
        );
        let mut out = BytesMut::with_capacity(512);
        let mut seq = 0u32;
        g.bench_function(format!("{profile:?} profile: seal"), |b| {
            b.iter(|| {
                out.clear();
                seq += 1;
                let h = Header::new(status.message_type(), Flags::NONE, seq, 1, 0);
                tx.seal(h, black_box(&status), &mut out).unwrap();
            })
        });
        let mut wire = BytesMut::new();
        let h = Header::new(status.message_type(), Flags::NONE, 1, 1, 0);
        tx.seal(h, &status, &mut wire).unwrap();
        let mut dec = FrameDecoder::default();
        g.bench_function(format!("{profile:?} profile: open"), |b| {
            // A fresh receiver per iteration (built untimed), so every open is a first open.
            b.iter_batched(
                || {
                    (
                        SecureChannel::new(rx_crypto.clone(), profile, 1, 0),
                        status.clone(),
                    )
                },
                |(mut rx, mut slot)| {
                    let (_, f) = dec.decode_slice(&wire);
                    rx.open(&f.unwrap().unwrap(), 0, &mut slot).unwrap();
                    slot
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn status_sample() -> protocol::message::Message {
    use protocol::message::{StatusReport, Velocity};
    use protocol::types::{AgvState, NavigationMode, Pose};
    StatusReport {
        map_id: 1,
        pose: Pose {
            x: 18.921,
            y: 4.013,
            theta: 0.0021,
        },
        localisation_quality: 93,
        navigation_mode: NavigationMode::Slam,
        velocity: Velocity {
            vx: 1.18,
            vy: 0.0,
            omega: 0.004,
        },
        state: AgvState::Working,
        battery_pct: 76.4,
        battery_voltage: 48.2,
        charging: false,
        e_stop: false,
        loads: vec![],
        actuators: vec![],
        task_id: 123,
        segment: 0,
        last_node_id: 1001,
        last_node_sequence: 0,
        edge_id: 10011002,
        distance_since_last_node: 6.42,
        grant_id: 0,
        alarms: vec![],
        extensions: vec![],
    }
    .into()
}

criterion_group!(benches, sm2, symmetric, frame);
criterion_main!(benches);
