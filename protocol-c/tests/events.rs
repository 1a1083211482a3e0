//! Every message the RCS can send, generated at random (protocol's `arbitrary` feature, valid
//! messages of every type), turned into a C event: nothing panics, and every list and string
//! reached through the event's pointers holds exactly the message's values.

use std::ffi::CStr;

use protocol::message::*;
use protocol::session::AgvEvent;
use rcs_protocol::event::EventStore;
use rcs_protocol::types::*;

/// Deterministic bytes for `arbitrary`.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// # Safety
/// `ptr` points to `len` valid `T`s (or `len` is 0).
unsafe fn list<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// # Safety
/// `ptr` is a NUL-terminated string.
unsafe fn text(ptr: *const core::ffi::c_char) -> String {
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
}

fn region_points(r: &Region) -> Vec<(f64, f64)> {
    match r {
        Region::Polygon { points } | Region::Corridor { points, .. } => {
            points.iter().map(|p| (p.x, p.y)).collect()
        }
        _ => Vec::new(),
    }
}

/// Checks the event against the message it came from.
///
/// # Safety
/// `e` is the event `store` just made.
unsafe fn check(e: &RcsAgvEvent, message: &Message) {
    assert_eq!(e.message_type, message.message_type().0);
    // SAFETY: the event's pointers are valid until the next conversion.
    unsafe {
        let command = e.kind == RcsEventKind::Command;
        match message {
            Message::MotionCommand(c) if command => {
                let m = e.motion;
                assert_eq!(
                    (m.task_id, m.segment, m.map_id),
                    (c.task_id, c.segment, c.map_id)
                );
                let nodes = list(m.nodes, m.nodes_len);
                assert_eq!(nodes.len(), c.nodes.len());
                for (n, want) in nodes.iter().zip(&c.nodes) {
                    assert_eq!((n.node_id, n.sequence), (want.node_id, want.sequence));
                    assert_eq!(n.pose.x.to_bits(), want.pose.x.to_bits());
                    let actions = list(n.actions, n.actions_len);
                    assert_eq!(actions.len(), want.actions.len());
                    for (a, want) in actions.iter().zip(&want.actions) {
                        assert_eq!(a.action_id, want.action_id);
                        assert_eq!(a.adjustment, want.adjustment.to_raw());
                        let params = list(a.params, a.params_len);
                        let got: Vec<(u8, u32)> = params
                            .iter()
                            .map(|p| (p.param, p.value.to_bits()))
                            .collect();
                        let expected: Vec<(u8, u32)> = want
                            .params
                            .iter()
                            .map(|p| (p.param.to_raw(), p.value.to_bits()))
                            .collect();
                        assert_eq!(got, expected);
                    }
                }
                let edges = list(m.edges, m.edges_len);
                assert_eq!(edges.len(), c.edges.len());
                for (edge, want) in edges.iter().zip(&c.edges) {
                    assert_eq!(edge.edge_id, want.edge_id);
                    let points = list(edge.control_points, edge.control_points_len);
                    let got: Vec<u64> = points.iter().map(|p| p.y.to_bits()).collect();
                    let expected: Vec<u64> =
                        want.control_points.iter().map(|p| p.y.to_bits()).collect();
                    assert_eq!(got, expected);
                }
            }
            Message::ParamQuery(q) if command => {
                let got = list(e.param_query.params, e.param_query.params_len);
                let expected: Vec<u16> = q.params.iter().map(|p| p.to_raw()).collect();
                assert_eq!(got, &expected[..]);
            }
            Message::ParamSet(s) if command => {
                let got = list(e.param_set.values, e.param_set.values_len);
                assert_eq!(got.len(), s.values.len());
                for (p, want) in got.iter().zip(&s.values) {
                    assert_eq!(p.param, want.param.to_raw());
                    match &want.value {
                        ParamValue::U32(v) => assert_eq!(p.u32_value, *v),
                        ParamValue::F32(v) => assert_eq!(p.f32_value.to_bits(), v.to_bits()),
                        ParamValue::Bool(v) => assert_eq!(p.bool_value, *v),
                        ParamValue::Text(v) => assert_eq!(text(p.text), v.replace('\0', "")),
                    }
                }
            }
            Message::Ack(a) if !command => {
                assert_eq!(e.ack.result, a.result.to_raw());
                assert_eq!(text(e.ack.detail), a.detail.replace('\0', ""));
            }
            Message::SpaceGrant(g) if !command => {
                let r = e.space_grant.region;
                let points = list(r.points, r.points_len);
                let got: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
                assert_eq!(got, region_points(&g.region));
                assert_eq!(e.space_grant.grant_id, g.grant_id);
            }
            Message::SafetyStop(s) if command => assert_eq!(e.safety_stop.episode, s.episode),
            Message::MapSwitch(m) if command => {
                assert_eq!(e.map_switch.target_map_id, m.target_map_id)
            }
            Message::NavSwitch(n) if command => {
                assert_eq!(e.nav_switch.has_initial_pose, n.initial_pose.is_some())
            }
            _ => {}
        }
    }
}

#[test]
fn every_message_becomes_an_event_whose_pointers_hold_its_values() {
    let mut store = EventStore::default();
    let mut converted = 0;
    for seed in 0..300u64 {
        let data = bytes(seed, 4096);
        let mut u = arbitrary::Unstructured::new(&data);
        for (ty, ..) in MessageType::ALL {
            let Some(Ok(message)) = Message::arbitrary_of_type(*ty, &mut u) else {
                continue;
            };
            for event in [
                AgvEvent::Command {
                    seq: 5,
                    message: message.clone(),
                },
                AgvEvent::Response {
                    request_seq: 6,
                    message: message.clone(),
                },
            ] {
                let (e, back) = store.convert(event);
                assert!(matches!(
                    e.kind,
                    RcsEventKind::Command | RcsEventKind::Response
                ));
                assert_eq!(back.as_ref(), Some(&message));
                // SAFETY: `e` was just made by `store`.
                unsafe { check(&e, &message) };
                converted += 1;
            }
        }
    }
    assert!(converted > 1000, "{converted}");
}
