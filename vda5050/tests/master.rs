//! The master-control state machine: vehicles come online and go, their states answer the
//! orders and instant actions sent, invalid messages are refused and reported once an episode.

mod support;

use support::assert_valid;
use vda5050::action::{self, Action};
use vda5050::master::SendError;
use vda5050::state::{ActionState, ActionStatus, ErrorLevel, VehicleError};
use vda5050::{
    Connection, ConnectionState, Header, Master, MasterEvent, Node, NodePosition, Order, Sent,
    State, VehicleKey, Version,
};

const T: u64 = 1_764_745_203_120;

fn key() -> VehicleKey {
    VehicleKey {
        manufacturer: "Acme".into(),
        serial_number: "SN-1".into(),
    }
}

fn topic(version: Version, kind: &str) -> String {
    format!("uagv/{}/Acme/SN-1/{kind}", version.major().as_str())
}

fn header(version: Version) -> Header {
    Header::new(version, 3, T, "Acme", "SN-1")
}

fn connection(version: Version, state: ConnectionState) -> Vec<u8> {
    Connection {
        header: header(version),
        connection_state: state,
    }
    .to_json()
    .unwrap()
}

fn state(version: Version, order_id: &str, update: u32) -> State {
    support::bare_state(header(version), order_id, update, "", 0)
}

fn order(order_id: &str, update: u32) -> Order {
    Order {
        // replaced by the master's
        header: header(Version::V2_0),
        order_id: order_id.into(),
        order_update_id: update,
        description: None,
        zone_set_id: None,
        nodes: vec![Node {
            node_id: "1".into(),
            sequence_id: 0,
            released: true,
            description: None,
            position: Some(NodePosition {
                x: 1.0,
                y: 2.0,
                theta: None,
                allowed_deviation_xy: None,
                allowed_deviation_theta: None,
                map_id: "floor-1".into(),
            }),
            actions: vec![],
        }],
        edges: vec![],
    }
}

fn events(m: &mut Master) -> Vec<MasterEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn online(version: Version) -> Master {
    let mut m = Master::new("uagv");
    m.handle_message(
        T,
        &topic(version, "connection"),
        &connection(version, ConnectionState::Online),
    );
    assert_eq!(
        events(&mut m),
        [MasterEvent::Online {
            vehicle: key(),
            version
        }]
    );
    m
}

#[test]
fn it_subscribes_to_what_vehicles_publish_in_both_majors() {
    let subs = Master::new("uagv").subscriptions();
    assert_eq!(subs.len(), 6);
    for s in [
        "uagv/v2/+/+/state",
        "uagv/v3/+/+/connection",
        "uagv/v2/+/+/factsheet",
    ] {
        assert!(subs.iter().any(|t| t == s), "{s}");
    }
}

#[test]
fn vehicles_come_online_report_and_go_offline() {
    for version in Version::ALL {
        let mut m = online(version);
        assert!(m.is_online(&key()));
        assert_eq!(m.version(&key()), Some(version));
        assert_eq!(m.last_seen_ms(&key()), Some(T));
        let s = state(version, "", 0);
        m.handle_message(T + 1, &topic(version, "state"), &s.to_json().unwrap());
        assert!(matches!(&events(&mut m)[..], [MasterEvent::State { state, .. }] if **state == s));
        m.handle_message(
            T + 2,
            &topic(version, "connection"),
            &connection(version, ConnectionState::ConnectionBroken),
        );
        assert_eq!(
            events(&mut m),
            [MasterEvent::Offline {
                vehicle: key(),
                broken: true
            }]
        );
        assert!(!m.is_online(&key()));
        m.handle_message(
            T + 3,
            &topic(version, "connection"),
            &connection(version, ConnectionState::Offline),
        );
        assert_eq!(
            events(&mut m),
            [MasterEvent::Offline {
                vehicle: key(),
                broken: false
            }]
        );
    }
}

#[test]
fn orders_go_out_in_the_vehicles_version_and_its_state_answers_them() {
    for version in Version::ALL {
        let mut m = online(version);
        assert!(matches!(
            m.send_order(
                T,
                &VehicleKey {
                    manufacturer: "Other".into(),
                    serial_number: "9".into()
                },
                order("41", 0)
            ),
            Err(SendError::UnknownVehicle(_))
        ));
        m.send_order(T, &key(), order("41", 0)).unwrap();
        m.send_order(T + 5, &key(), order("41", 1)).unwrap();
        let first = m.poll_publish().unwrap();
        let second = m.poll_publish().unwrap();
        assert!(m.poll_publish().is_none());
        assert_eq!(first.topic, topic(version, "order"));
        assert_valid(version, "order", &first.payload);
        let (a, b) = (
            Order::from_json(&first.payload).unwrap(),
            Order::from_json(&second.payload).unwrap(),
        );
        assert_eq!((a.header.header_id, b.header.header_id), (0, 1));
        assert_eq!(a.header.version, version.as_str());
        assert_eq!(m.poll_timeout(), Some(T + m.answer_timeout_ms));
        // a state at update 0 answers the first only; at 1, the second
        m.handle_message(
            T + 10,
            &topic(version, "state"),
            &state(version, "41", 0).to_json().unwrap(),
        );
        let got = events(&mut m);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[1],
            MasterEvent::Accepted {
                vehicle: key(),
                sent: Sent::Order {
                    order_id: "41".into(),
                    order_update_id: 0
                }
            }
        );
        m.handle_message(
            T + 20,
            &topic(version, "state"),
            &state(version, "41", 1).to_json().unwrap(),
        );
        assert!(matches!(
            &events(&mut m)[1],
            MasterEvent::Accepted {
                sent: Sent::Order {
                    order_update_id: 1,
                    ..
                },
                ..
            }
        ));
        assert_eq!(m.poll_timeout(), None);
    }
}

#[test]
fn refused_and_unanswered_orders_are_reported() {
    let version = Version::V2_1;
    let mut m = online(version);
    m.send_order(T, &key(), order("41", 0)).unwrap();
    m.send_order(T, &key(), order("42", 0)).unwrap();
    let mut s = state(version, "", 0);
    s.errors.push(VehicleError {
        error_type: "orderUpdateError".into(),
        level: ErrorLevel::Warning,
        description: Some("node 1 not reachable".into()),
        hint: None,
        references: vec![
            ("orderId".into(), "41".into()),
            ("orderUpdateId".into(), "0".into()),
        ],
    });
    // an error of another kind, or naming another order, refuses nothing
    s.errors.push(VehicleError {
        error_type: "lowBattery".into(),
        level: ErrorLevel::Warning,
        description: None,
        hint: None,
        references: vec![("orderId".into(), "42".into())],
    });
    m.handle_message(T + 1, &topic(version, "state"), &s.to_json().unwrap());
    let got = events(&mut m);
    assert_eq!(
        got[1..],
        [MasterEvent::Refused {
            vehicle: key(),
            sent: Sent::Order {
                order_id: "41".into(),
                order_update_id: 0
            },
            reason: "orderUpdateError".into()
        }]
    );
    m.handle_timeout(T + m.answer_timeout_ms - 1);
    assert!(events(&mut m).is_empty());
    m.handle_timeout(T + m.answer_timeout_ms);
    assert_eq!(
        events(&mut m),
        [MasterEvent::Unanswered {
            vehicle: key(),
            sent: Sent::Order {
                order_id: "42".into(),
                order_update_id: 0
            }
        }]
    );
}

#[test]
fn instant_actions_are_answered_from_the_action_states() {
    for version in Version::ALL {
        let mut m = online(version);
        m.send_instant(
            T,
            &key(),
            vec![
                Action::instant(action::START_PAUSE, "p-1"),
                Action::instant(action::CANCEL_ORDER, "c-1"),
            ],
        )
        .unwrap();
        let published = m.poll_publish().unwrap();
        assert_eq!(published.topic, topic(version, "instantActions"));
        assert_valid(version, "instantActions", &published.payload);
        let mut s = state(version, "", 0);
        let done = ActionState {
            action_id: "p-1".into(),
            action_type: Some("startPause".into()),
            status: ActionStatus::Finished,
            result: None,
        };
        let failed = ActionState {
            action_id: "c-1".into(),
            action_type: Some("cancelOrder".into()),
            status: ActionStatus::Failed,
            result: Some("noOrderToCancel".into()),
        };
        if version == Version::V3_0 {
            s.instant_action_states = vec![done, failed];
        } else {
            s.action_states = vec![done, failed];
        }
        m.handle_message(T + 1, &topic(version, "state"), &s.to_json().unwrap());
        let got = events(&mut m);
        assert_eq!(
            got[1..],
            [
                MasterEvent::Accepted {
                    vehicle: key(),
                    sent: Sent::Instant {
                        action_id: "p-1".into()
                    }
                },
                MasterEvent::Refused {
                    vehicle: key(),
                    sent: Sent::Instant {
                        action_id: "c-1".into()
                    },
                    reason: "noOrderToCancel".into()
                },
            ],
            "{version}"
        );
    }
}

#[test]
fn invalid_messages_are_refused_and_reported_once_an_episode() {
    let version = Version::V2_0;
    let mut m = online(version);
    let state_topic = topic(version, "state");
    let good = state(version, "", 0).to_json().unwrap();
    for _ in 0..3 {
        m.handle_message(T, &state_topic, b"{not json");
    }
    let got = events(&mut m);
    assert!(
        matches!(&got[..], [MasterEvent::Invalid { vehicle: Some(k), .. }] if *k == key()),
        "{got:?}"
    );
    assert_eq!(m.invalid_count(), 3);
    m.handle_message(T, &state_topic, &good);
    assert!(matches!(&events(&mut m)[..], [MasterEvent::State { .. }]));
    // a new episode
    m.handle_message(T, &state_topic, &good[..good.len() / 2]);
    assert!(matches!(&events(&mut m)[..], [MasterEvent::Invalid { .. }]));
    m.handle_message(T, &state_topic, &good);
    let _ = events(&mut m);
    // the header must match the topic: another serial number, another major version
    let other_serial = String::from_utf8(good.clone())
        .unwrap()
        .replace("SN-1", "SN-2");
    m.handle_message(T, &state_topic, other_serial.as_bytes());
    assert!(matches!(&events(&mut m)[..], [MasterEvent::Invalid { .. }]));
    m.handle_message(T, &state_topic, &good);
    let _ = events(&mut m);
    m.handle_message(T, &topic(Version::V3_0, "state"), &good);
    assert!(matches!(&events(&mut m)[..], [MasterEvent::Invalid { .. }]));
    // a vehicle publishing on master control's topic; a malformed topic; another installation
    m.handle_message(T, &topic(version, "order"), &good);
    m.handle_message(T, "uagv/v2/Acme", &good);
    m.handle_message(T, "other/v2/Acme/SN-1/state", b"garbage");
    m.handle_message(T, "uagv/v2/Acme/SN-1/visualization", b"garbage");
    let got = events(&mut m);
    assert_eq!(got.len(), 1, "{got:?}"); // the order topic is in the episode already; the bad topic has no vehicle
    // nothing panics on cut or garbled messages of any topic
    for kind in [
        "state",
        "connection",
        "factsheet",
        "order",
        "instantActions",
        "zoneSet",
    ] {
        for cut in 0..good.len() {
            m.handle_message(T, &topic(Version::V3_0, kind), &good[..cut]);
        }
        m.handle_message(T, &topic(version, kind), &[0xff, 0x00, 0x7b]);
    }
}

#[test]
fn no_more_vehicles_are_tracked_than_allowed() {
    let mut m = Master::new("uagv");
    m.max_vehicles = 2;
    for i in 0..4 {
        let serial = format!("SN-{i}");
        let c = Connection {
            header: Header::new(Version::V2_1, 0, T, "Acme", &serial),
            connection_state: ConnectionState::Online,
        };
        m.handle_message(
            T,
            &format!("uagv/v2/Acme/{serial}/connection"),
            &c.to_json().unwrap(),
        );
    }
    let got = events(&mut m);
    let online = got
        .iter()
        .filter(|e| matches!(e, MasterEvent::Online { .. }))
        .count();
    let refused = got
        .iter()
        .filter(|e| matches!(e, MasterEvent::Invalid { .. }))
        .count();
    assert_eq!((online, refused), (2, 2), "{got:?}");
    assert_eq!(m.invalid_count(), 2);
}
