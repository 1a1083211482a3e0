//! States: written in every version, valid against its schema, read back the same; the official
//! examples read; values a version lacks are refused both ways.

mod support;

use support::assert_valid;
use vda5050::state::{
    ActionState, ActionStatus, Battery, EStop, EdgeState, ErrorLevel, Load, NodeState,
    OperatingMode, Position, Safety, VehicleError, Velocity,
};
use vda5050::{Header, MessageError, State, Version};

/// A vehicle halfway along an order: past node n1, on edge e1 towards n2, picking nothing,
/// one instant action (a pause) finished, one warning.
fn state(version: Version) -> State {
    State {
        header: Header::new(version, 77, 1_764_745_203_120, "Acme", "SN-1"),
        order_id: "task-41".into(),
        order_update_id: 2,
        last_node_id: "n1".into(),
        last_node_sequence_id: 2,
        node_states: vec![NodeState {
            node_id: "n2".into(),
            sequence_id: 4,
            released: true,
        }],
        edge_states: vec![EdgeState {
            edge_id: "e1".into(),
            sequence_id: 3,
            released: true,
        }],
        position: Some(Position {
            x: 2.25,
            y: -2.0,
            theta: 0.5,
            map_id: "floor-1".into(),
            localized: true,
            localization_score: Some(0.93),
            deviation_range: Some(0.02),
        }),
        velocity: Some(Velocity {
            vx: Some(0.8),
            vy: Some(0.0),
            omega: None,
        }),
        driving: true,
        paused: Some(false),
        new_base_request: Some(false),
        distance_since_last_node: Some(0.75),
        action_states: vec![ActionState {
            action_id: "pick-1".into(),
            action_type: Some("pick".into()),
            status: ActionStatus::Waiting,
            result: None,
        }],
        instant_action_states: vec![ActionState {
            action_id: "pause-3".into(),
            action_type: Some("startPause".into()),
            status: ActionStatus::Finished,
            result: Some("paused for 4 s".into()),
        }],
        loads: vec![Load {
            load_id: Some("L-17".into()),
            load_type: Some("EPAL".into()),
            weight: Some(350.0),
        }],
        battery: Battery {
            charge_pct: 81.5,
            voltage: Some(48.1),
            charging: false,
            reach_m: Some(12_000.0),
        },
        operating_mode: OperatingMode::Automatic,
        errors: vec![VehicleError {
            error_type: "lowLocalizationScore".into(),
            level: ErrorLevel::Warning,
            description: Some("reflectors hidden".into()),
            hint: (version != Version::V2_0).then(|| "clean the scanner".to_owned()),
            references: vec![("nodeId".into(), "n1".into())],
        }],
        safety: Safety {
            e_stop: EStop::None,
            field_violation: false,
        },
    }
}

#[test]
fn states_validate_in_every_version_and_read_back() {
    for version in Version::ALL {
        let s = state(version);
        let json = s.to_json().unwrap();
        assert_valid(version, "state", &json);
        let read = State::from_json(&json).unwrap();
        let mut expected = s.clone();
        if version != Version::V3_0 {
            // 2.x has one list of action states: the instant actions' are in it
            let instant = std::mem::take(&mut expected.instant_action_states);
            expected.action_states.extend(instant);
        }
        assert_eq!(read, expected, "{version}");
        let text = String::from_utf8(json).unwrap();
        let v3 = version == Version::V3_0;
        for (field, in_v3) in [
            ("mobileRobotPosition", true),
            ("agvPosition", false),
            ("powerSupply", true),
            ("batteryState", false),
            ("activeEmergencyStop", true),
            ("\"eStop\"", false),
            ("instantActionStates", true),
        ] {
            assert_eq!(text.contains(field), in_v3 == v3, "{field} in {version}");
        }
    }
}

#[test]
fn the_official_examples_read() {
    for (file, version) in [
        ("state_example.json", Version::V2_1),
        ("state_example_v3.json", Version::V3_0),
    ] {
        let json = std::fs::read(support::shared().join(file)).unwrap();
        let s = State::from_json(&json).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(s.header.version().unwrap(), version);
        assert!(s.position.is_some(), "{file}");
        assert!(s.battery.charge_pct > 0.0, "{file}");
        assert_valid(version, "state", &s.to_json().unwrap());
    }
}

/// A version, a change to a value it lacks, and the same as text: the JSON of that version with
/// a value of it replaced by the lacking one.
type Lacking = (Version, fn(&mut State), &'static str, &'static str);

#[test]
fn values_a_version_lacks_are_refused_both_ways() {
    let cases: Vec<Lacking> = vec![
        (
            Version::V2_1,
            |s| s.action_states[0].status = ActionStatus::Paused,
            "\"actionStatus\":\"WAITING\"",
            "\"actionStatus\":\"PAUSED\"",
        ),
        (
            Version::V2_0,
            |s| s.action_states[0].status = ActionStatus::Retriable,
            "\"actionStatus\":\"WAITING\"",
            "\"actionStatus\":\"RETRIABLE\"",
        ),
        (
            Version::V2_1,
            |s| s.operating_mode = OperatingMode::Startup,
            "\"AUTOMATIC\"",
            "\"STARTUP\"",
        ),
        (
            Version::V2_0,
            |s| s.operating_mode = OperatingMode::Intervened,
            "\"AUTOMATIC\"",
            "\"INTERVENED\"",
        ),
        (
            Version::V2_1,
            |s| s.errors[0].level = ErrorLevel::Urgent,
            "\"WARNING\"",
            "\"URGENT\"",
        ),
        (
            Version::V3_0,
            |s| s.safety.e_stop = EStop::AutoAck,
            "\"activeEmergencyStop\":\"NONE\"",
            "\"activeEmergencyStop\":\"AUTOACK\"",
        ),
    ];
    for (version, change, from, to) in cases {
        let mut s = state(version);
        change(&mut s);
        assert!(
            matches!(s.to_json(), Err(MessageError::NotInVersion { .. })),
            "{version}: {s:?}"
        );
        let good = String::from_utf8(state(version).to_json().unwrap()).unwrap();
        assert!(good.contains(from), "{from} in {good}");
        let bad = good.replacen(from, to, 1);
        assert!(
            matches!(
                State::from_json(bad.as_bytes()),
                Err(MessageError::NotInVersion { .. })
            ),
            "{version}: {bad}"
        );
    }
    // the same value spelled as the other version spells it
    let v3 = String::from_utf8(state(Version::V3_0).to_json().unwrap()).unwrap();
    let mut teach = state(Version::V3_0);
    teach.operating_mode = OperatingMode::TeachIn;
    let teach = String::from_utf8(teach.to_json().unwrap()).unwrap();
    assert!(teach.contains("TEACH_IN"));
    assert!(State::from_json(teach.replace("TEACH_IN", "TEACHIN").as_bytes()).is_err());
    // 3.0 requires its instant action states and its power supply
    for field in ["instantActionStates", "powerSupply"] {
        let mut value: serde_json::Value = serde_json::from_str(&v3).unwrap();
        value.as_object_mut().unwrap().remove(field);
        assert!(
            State::from_json(value.to_string().as_bytes()).is_err(),
            "{field}"
        );
    }
}

#[test]
fn impossible_values_are_refused() {
    let changes: Vec<fn(&mut State)> = vec![
        |s| s.battery.charge_pct = 101.0,
        |s| s.battery.charge_pct = -1.0,
        |s| s.position.as_mut().unwrap().x = f64::NAN,
        |s| s.position.as_mut().unwrap().map_id.clear(),
        |s| s.velocity.as_mut().unwrap().vx = Some(f64::INFINITY),
        |s| s.distance_since_last_node = Some(f64::NAN),
        |s| s.node_states[0].node_id.clear(),
        |s| s.instant_action_states[0].action_id.clear(),
    ];
    for version in Version::ALL {
        for change in &changes {
            let mut s = state(version);
            change(&mut s);
            assert!(
                matches!(s.to_json(), Err(MessageError::Invalid { .. })),
                "{version}: {s:?}"
            );
        }
        let good = String::from_utf8(state(version).to_json().unwrap()).unwrap();
        let charge = if version == Version::V3_0 {
            "\"stateOfCharge\":81.5"
        } else {
            "\"batteryCharge\":81.5"
        };
        assert!(good.contains(charge));
        let bad = good.replace(charge, &charge.replace("81.5", "181.5"));
        assert!(State::from_json(bad.as_bytes()).is_err());
        for cut in (0..good.len()).step_by(7) {
            assert!(State::from_json(&good.as_bytes()[..cut]).is_err());
        }
    }
}
