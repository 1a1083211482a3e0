//! Master control and a vehicle, both sans I/O, joined in memory: orders and their updates,
//! instant actions and the answers, in every version.

mod support;

use support::assert_valid;
use vda5050::action::{self, Action};
use vda5050::{
    ConnectionState, Header, Master, MasterEvent, Node, NodePosition, Order, Sent, State,
    VehicleEnd, VehicleEvent, VehicleKey, Version,
};

const T: u64 = 1_764_745_203_120;

fn key() -> VehicleKey {
    VehicleKey {
        manufacturer: "Acme".into(),
        serial_number: "SN-1".into(),
    }
}

/// Nodes `from..=to` (sequence ids 2i), released up to `base`.
fn order(id: &str, update: u32, from: u32, to: u32, base: u32) -> Order {
    let node = |i: u32| Node {
        node_id: format!("{i}"),
        sequence_id: 2 * i,
        released: i <= base,
        description: None,
        position: Some(NodePosition {
            x: f64::from(i),
            y: 0.0,
            theta: None,
            allowed_deviation_xy: None,
            allowed_deviation_theta: None,
            map_id: "floor-1".into(),
        }),
        actions: vec![],
    };
    let edge = |i: u32| vda5050::Edge {
        edge_id: format!("{i}{}", i + 1),
        sequence_id: 2 * i + 1,
        released: i < base,
        description: None,
        start_node_id: format!("{i}"),
        end_node_id: format!("{}", i + 1),
        max_speed: None,
        max_rotation_speed: None,
        length: None,
        orientation: None,
        direction: None,
        actions: vec![],
    };
    Order {
        header: Header::new(Version::V2_0, 0, T, "x", "y"),
        order_id: id.into(),
        order_update_id: update,
        description: None,
        zone_set_id: None,
        nodes: (from..=to).map(node).collect(),
        edges: (from..to).map(edge).collect(),
    }
}

fn state(order: &Order) -> State {
    support::bare_state(
        Header::new(Version::V2_0, 0, T, "x", "y"),
        &order.order_id,
        order.order_update_id,
        &order.nodes[0].node_id,
        order.nodes[0].sequence_id,
    )
}

/// Moves everything either end published to the other.
fn pump(master: &mut Master, vehicle: &mut VehicleEnd, now: u64) {
    while let Some(p) = vehicle.poll_publish() {
        master.handle_message(now, &p.topic, &p.payload);
    }
    while let Some(p) = master.poll_publish() {
        vehicle.handle_message(&p.topic, &p.payload);
    }
}

fn events(m: &mut Master) -> Vec<MasterEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn an_order_its_updates_and_instant_actions_go_both_ways() {
    for version in Version::ALL {
        let mut master = Master::new("uagv");
        let mut vehicle = VehicleEnd::new("uagv", key(), version);
        let will = vehicle
            .connection(T, ConnectionState::ConnectionBroken)
            .unwrap();
        assert_valid(version, "connection", &will.payload);
        let online = vehicle.connection(T, ConnectionState::Online).unwrap();
        master.handle_message(T, &online.topic, &online.payload);
        assert!(matches!(
            &events(&mut master)[..],
            [MasterEvent::Online { .. }]
        ));

        master
            .send_order(T, &key(), order("41", 0, 0, 4, 2))
            .unwrap();
        pump(&mut master, &mut vehicle, T);
        let Some(VehicleEvent::Order(taken)) = vehicle.poll_event() else {
            panic!("no order")
        };
        assert_eq!(taken.nodes.len(), 5);
        vehicle.publish_state(T + 1, state(&taken)).unwrap();
        pump(&mut master, &mut vehicle, T + 1);
        assert!(matches!(
            &events(&mut master)[1],
            MasterEvent::Accepted {
                sent: Sent::Order {
                    order_update_id: 0,
                    ..
                },
                ..
            }
        ));

        // the update stitches at node 2 (the last of the base) and releases up to 4
        master
            .send_order(T + 2, &key(), order("41", 1, 2, 5, 4))
            .unwrap();
        // a duplicate of the first is ignored
        master
            .send_order(T + 2, &key(), order("41", 0, 0, 4, 2))
            .unwrap();
        pump(&mut master, &mut vehicle, T + 2);
        let Some(VehicleEvent::Order(whole)) = vehicle.poll_event() else {
            panic!("no update")
        };
        assert!(vehicle.poll_event().is_none(), "the duplicate was taken");
        let ids: Vec<&str> = whole.nodes.iter().map(|n| n.node_id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(whole.edges.len(), 5);
        assert_eq!(whole.nodes.iter().filter(|n| n.released).count(), 5);
        whole.check().unwrap();
        vehicle.publish_state(T + 3, state(&whole)).unwrap();
        pump(&mut master, &mut vehicle, T + 3);
        let got = events(&mut master);
        assert!(
            got.iter().any(|e| matches!(
                e,
                MasterEvent::Accepted {
                    sent: Sent::Order {
                        order_update_id: 1,
                        ..
                    },
                    ..
                }
            )),
            "{got:?}"
        );

        // an update that does not start at the base's last node is refused in the next state
        master
            .send_order(T + 4, &key(), order("41", 2, 3, 6, 6))
            .unwrap();
        pump(&mut master, &mut vehicle, T + 4);
        assert!(vehicle.poll_event().is_none());
        assert_eq!(vehicle.errors().len(), 1);
        vehicle.publish_state(T + 5, state(&whole)).unwrap();
        pump(&mut master, &mut vehicle, T + 5);
        let got = events(&mut master);
        assert!(got.iter().any(|e| matches!(e, MasterEvent::Refused { sent: Sent::Order { order_update_id: 2, .. }, reason, .. } if reason == "orderUpdateError")), "{got:?}");

        // instant actions reach the vehicle in order
        master
            .send_instant(
                T + 6,
                &key(),
                vec![
                    Action::instant(action::START_PAUSE, "p"),
                    Action::instant(action::STOP_PAUSE, "r"),
                ],
            )
            .unwrap();
        pump(&mut master, &mut vehicle, T + 6);
        let kinds: Vec<String> = std::iter::from_fn(|| vehicle.poll_event())
            .map(|e| match e {
                VehicleEvent::Instant(a) => a.action_type,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["startPause", "stopPause"]);
        // and a new order replaces the old
        master
            .send_order(T + 7, &key(), order("42", 0, 5, 6, 6))
            .unwrap();
        pump(&mut master, &mut vehicle, T + 7);
        assert!(matches!(vehicle.poll_event(), Some(VehicleEvent::Order(o)) if o.order_id == "42"));
        assert!(vehicle.errors().is_empty());
    }
}

#[test]
fn a_vehicle_ignores_what_is_not_its_own_and_reports_what_is_invalid() {
    let mut vehicle = VehicleEnd::new("uagv", key(), Version::V2_1);
    assert_eq!(
        vehicle.subscriptions().unwrap(),
        [
            "uagv/v2/Acme/SN-1/order",
            "uagv/v2/Acme/SN-1/instantActions"
        ]
    );
    vehicle.handle_message("uagv/v2/Acme/SN-2/order", b"garbage");
    vehicle.handle_message("uagv/v2/Acme/SN-1/state", b"garbage");
    assert!(vehicle.poll_event().is_none());
    vehicle.handle_message("uagv/v2/Acme/SN-1/order", b"garbage");
    vehicle.handle_message("uagv/v2/Acme/SN-1/order", b"more garbage");
    assert!(matches!(
        vehicle.poll_event(),
        Some(VehicleEvent::Invalid { .. })
    ));
    assert!(vehicle.poll_event().is_none(), "one report an episode");
    // an order in another version than the vehicle's is refused
    let mut o = order("1", 0, 0, 1, 1);
    o.header = Header::new(Version::V3_0, 0, T, "Acme", "SN-1");
    vehicle.handle_message("uagv/v2/Acme/SN-1/order", &o.to_json().unwrap());
    assert!(vehicle.poll_event().is_none(), "still the same episode");
    o.header = Header::new(Version::V2_1, 0, T, "Acme", "SN-1");
    vehicle.handle_message("uagv/v2/Acme/SN-1/order", &o.to_json().unwrap());
    assert!(matches!(vehicle.poll_event(), Some(VehicleEvent::Order(_))));
}
