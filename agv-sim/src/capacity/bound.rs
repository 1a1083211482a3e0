//! The bound a secure profile's cryptography sets: the server-side open (checks, verification,
//! decryption, decoding) of status frames as the fleet sends them, in a tight loop, with no
//! I/O. The capacity run measures it on the server's CPU in the same run as the server
//! (`agv-sim capacity --crypto-bound PROFILE [--crypto-keys N]`, started pinned like the
//! server) and reports the server's frames per second against it twice: against the frames of
//! one AGV on an idle machine (one key: its verifier's table hot in the caches), and against
//! the frames of as many AGVs as the fleet has (one key each, in turn, as the server receives
//! them) opened while the fleet keeps running on the other CPUs (the run's conditions).

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use crypto::DEFAULT_ID;
use crypto::channel::ChannelKeys;
use crypto::kex::SharedKey;
use crypto::session::SessionCrypto;
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::frame::{Flags, FrameDecoder, Header};
use protocol::message::{ActuatorStatus, Message, SecureProfile, StatusReport, Velocity};
use protocol::secure::SecureChannel;
use protocol::types::{ActuatorState, ActuatorType, Pose};

/// A status report as the simulated fleet sends it (one actuator, no loads or alarms).
fn status(i: u32) -> Message {
    StatusReport {
        localisation_quality: 95,
        velocity: Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        },
        battery_pct: 80.0,
        battery_voltage: 48.0,
        actuators: vec![ActuatorStatus {
            actuator_id: 0,
            kind: ActuatorType::Lift,
            state: ActuatorState::Idle,
            position: 0.0,
        }],
        last_node_id: 7,
        ..StatusReport::standing(
            1,
            Pose {
                x: 12.5 + f64::from(i % 7),
                y: 3.25,
                theta: 0.5,
            },
        )
    }
    .into()
}

/// Microseconds to open one status frame of `profile` (the least of three rounds of `frames`
/// frames, each a frame the receiver has not seen: sequence numbers rising, as on the wire),
/// the frames coming from `keys` AGVs in turn, each with its own signing key and session keys
/// (the receiver keeps a channel and a verifier per AGV, as the server does; each verifier's
/// table is built before the timed rounds, as the server builds it on an AGV's first frame).
/// With one key the verifier's table stays in the caches; with a fleet's keys the tables
/// (18.6 KiB each) compete for them as they do in the server.
pub fn open_micros(profile: SecureProfile, frames: u32, keys: u32) -> f64 {
    let keys = keys.max(1);
    let mut rng = crypto::system_rng();
    let rcs = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).expect("a key"));
    let rcs_verifier = Arc::new(CachedVerifier::new(rcs.verifying_key().clone()));
    let mut tx = Vec::with_capacity(keys as usize);
    let mut rx = Vec::with_capacity(keys as usize);
    for k in 0..keys {
        let agv = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).expect("a key"));
        let mut secret = [7; 16];
        secret[..4].copy_from_slice(&k.to_le_bytes());
        let shared = SharedKey(secret);
        tx.push(SecureChannel::new(
            SessionCrypto::new(
                ChannelKeys::derive(&shared, &[b"capacity"], true),
                agv.clone(),
                rcs_verifier.clone(),
            ),
            profile,
            k + 1,
            0,
        ));
        rx.push(SecureChannel::new(
            SessionCrypto::new(
                ChannelKeys::derive(&shared, &[b"capacity"], false),
                rcs.clone(),
                Arc::new(CachedVerifier::new(agv.verifying_key().clone())),
            ),
            profile,
            k + 1,
            0,
        ));
    }
    // A first frame from every AGV (untimed: it builds the verifier's table), then three
    // rounds of `frames`, the AGVs taking turns.
    let total = keys + 3 * frames;
    let mut wire = BytesMut::new();
    let mut ends = Vec::with_capacity(total as usize);
    for i in 0..total {
        let k = i % keys;
        let seq = i / keys + 1;
        let h = Header::new(status(seq).message_type(), Flags::NONE, seq, k + 1, 0);
        tx[k as usize]
            .seal(h, &status(seq), &mut wire)
            .expect("sealed");
        ends.push(wire.len());
    }
    let mut decoder = FrameDecoder::default();
    let mut slot = status(0);
    let mut start = 0;
    let mut open = |range: core::ops::Range<u32>| {
        for i in range {
            let end = ends[i as usize];
            let (_, frame) = decoder.decode_slice(&wire[start..end]);
            let frame = frame.expect("a whole frame").expect("a valid frame");
            rx[(i % keys) as usize]
                .open(&frame, 0, &mut slot)
                .expect("opened");
            start = end;
        }
    };
    open(0..keys);
    let mut best = f64::MAX;
    for round in 0..3 {
        let first = keys + round * frames;
        let t = Instant::now();
        open(first..first + frames);
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(frames));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_both_profiles_open() {
        assert!(open_micros(SecureProfile::Fast, 20, 1) > 0.0);
        assert!(open_micros(SecureProfile::Guide, 3, 1) > 0.0);
        // AGVs taking turns, more frames than AGVs and fewer
        assert!(open_micros(SecureProfile::Fast, 20, 7) > 0.0);
        assert!(open_micros(SecureProfile::Guide, 3, 5) > 0.0);
    }
}
