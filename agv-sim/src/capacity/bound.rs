//! The bound a secure profile's cryptography sets: the server-side open (checks, verification,
//! decryption, decoding) of status frames as the fleet sends them, in a tight loop, with no
//! I/O. The capacity run measures it on the server's CPU in the same run as the server
//! (`agv-sim capacity --crypto-bound PROFILE`, started pinned like the server) and reports the
//! server's frames per second against it.

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
use protocol::types::{ActuatorState, ActuatorType, AgvState, NavigationMode, Pose};

/// A status report as the simulated fleet sends it (one actuator, no loads or alarms).
fn status(i: u32) -> Message {
    StatusReport {
        map_id: 1,
        pose: Pose {
            x: 12.5 + f64::from(i % 7),
            y: 3.25,
            theta: 0.5,
        },
        localisation_quality: 95,
        navigation_mode: NavigationMode::Slam,
        velocity: Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        },
        state: AgvState::Idle,
        battery_pct: 80.0,
        battery_voltage: 48.0,
        charging: false,
        e_stop: false,
        loads: vec![],
        actuators: vec![ActuatorStatus {
            actuator_id: 0,
            kind: ActuatorType::Lift,
            state: ActuatorState::Idle,
            position: 0.0,
        }],
        task_id: 0,
        segment: 0,
        last_node_id: 7,
        last_node_sequence: 0,
        edge_id: 0,
        distance_since_last_node: 0.0,
        grant_id: 0,
        alarms: vec![],
        extensions: vec![],
    }
    .into()
}

/// Microseconds to open one status frame of `profile` (the least of three rounds of `frames`
/// frames, each a frame the receiver has not seen: sequence numbers rising, as on the wire).
pub fn open_micros(profile: SecureProfile, frames: u32) -> f64 {
    let mut rng = crypto::system_rng();
    let agv = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).expect("a key"));
    let rcs = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).expect("a key"));
    let shared = SharedKey([7; 16]);
    let mut tx = SecureChannel::new(
        SessionCrypto::new(
            ChannelKeys::derive(&shared, &[b"capacity"], true),
            agv.clone(),
            Arc::new(CachedVerifier::new(rcs.verifying_key().clone())),
        ),
        profile,
        1,
        0,
    );
    let mut wire = BytesMut::new();
    let mut ends = Vec::new();
    for seq in 1..=3 * frames {
        let h = Header::new(status(seq).message_type(), Flags::NONE, seq, 1, 0);
        tx.seal(h, &status(seq), &mut wire).expect("sealed");
        ends.push(wire.len());
    }
    let mut rx = SecureChannel::new(
        SessionCrypto::new(
            ChannelKeys::derive(&shared, &[b"capacity"], false),
            rcs,
            Arc::new(CachedVerifier::new(agv.verifying_key().clone())),
        ),
        profile,
        1,
        0,
    );
    let mut decoder = FrameDecoder::default();
    let mut slot = status(0);
    let mut best = f64::MAX;
    let mut start = 0;
    for round in 0..3 {
        let t = Instant::now();
        for &end in &ends[(round * frames) as usize..((round + 1) * frames) as usize] {
            let (_, frame) = decoder.decode_slice(&wire[start..end]);
            let frame = frame.expect("a whole frame").expect("a valid frame");
            rx.open(&frame, 0, &mut slot).expect("opened");
            start = end;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(frames));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_both_profiles_open() {
        assert!(open_micros(SecureProfile::Fast, 20) > 0.0);
        assert!(open_micros(SecureProfile::Guide, 3) > 0.0);
    }
}
