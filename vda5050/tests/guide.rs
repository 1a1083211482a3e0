//! The mapping between the guide's messages and VDA 5050's: motion commands become orders that
//! validate in every version, task controls instant actions, states status reports.

mod support;

use protocol::message::{
    Action as GuideAction, MapSwitch, MotionCommand, PathEdge, PathNode, TaskControl, TaskOp,
};
use protocol::types::{
    ActuatorType, AgvState, AlarmLevel, LiftAdjustment, MovementType, NavigationMode, Pose,
    TargetAttribute, TaskType, TrajectoryType,
};
use support::assert_valid;
use vda5050::guide::{self, MapNames, TranslateError};
use vda5050::state::{
    ActionState, ActionStatus, Battery, EStop, EdgeState, ErrorLevel, NodeState, OperatingMode,
    Position, Safety, VehicleError,
};
use vda5050::{Header, InstantActions, Order, State, Version};

struct Site;

impl MapNames for Site {
    fn name(&self, map_id: u16) -> Option<&str> {
        match map_id {
            1 => Some("hall1-floor0"),
            2 => Some("hall1-floor1"),
            _ => None,
        }
    }
    fn id(&self, name: &str) -> Option<u16> {
        [1, 2].into_iter().find(|&m| self.name(m) == Some(name))
    }
}

fn header(version: Version) -> Header {
    Header::new(version, 5, 1_764_745_203_120, "Acme", "SN-1")
}

/// A pick at node 1003 (an action point), then on to 1004; released up to 1003.
fn command(task_type: TaskType, last: TargetAttribute) -> MotionCommand {
    let node = |node_id, sequence, x, attribute, actions| PathNode {
        node_id,
        sequence,
        pose: Pose {
            x,
            y: 4.0,
            theta: 1.5,
        },
        attribute,
        actions,
    };
    let edge = |edge_id, sequence, max_speed| PathEdge {
        edge_id,
        sequence,
        trajectory: TrajectoryType::Line,
        control_points: vec![],
        movement: MovementType::Forward,
        max_speed,
    };
    let pick = GuideAction {
        action_id: 9,
        actuator_id: 0,
        actuator: ActuatorType::Lift,
        adjustment: LiftAdjustment::Raise,
        blocking: true,
        params: vec![],
    };
    MotionCommand {
        task_id: 41,
        task_type,
        segment: 2,
        map_id: 1,
        nodes: vec![
            node(1001, 4, 1.0, TargetAttribute::PassThrough, vec![]),
            node(1002, 6, 2.0, TargetAttribute::PassThrough, vec![]),
            node(1003, 8, 3.0, TargetAttribute::ActionPoint, vec![pick]),
            node(1004, 10, 4.0, last, vec![]),
        ],
        edges: vec![edge(7, 5, 1.5), edge(8, 7, 0.0), edge(9, 9, 0.5)],
        released_nodes: 3,
        max_speed: 1.0,
        extensions: vec![],
    }
}

#[test]
fn a_motion_command_becomes_an_order_of_every_version() {
    for version in Version::ALL {
        let cmd = command(TaskType::Pick, TargetAttribute::Destination);
        let order = guide::order_of(&cmd, header(version), &Site).unwrap();
        let json = order.to_json().unwrap();
        assert_valid(version, "order", &json);
        let order = Order::from_json(&json).unwrap();
        assert_eq!((order.order_id.as_str(), order.order_update_id), ("41", 2));
        let ids: Vec<&str> = order.nodes.iter().map(|n| n.node_id.as_str()).collect();
        assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
        let released: Vec<bool> = order.nodes.iter().map(|n| n.released).collect();
        assert_eq!(released, [true, true, true, false]);
        let released: Vec<bool> = order.edges.iter().map(|e| e.released).collect();
        assert_eq!(released, [true, true, false]);
        // the task's limit and the edge's, whichever is lower
        let speeds: Vec<Option<f64>> = order.edges.iter().map(|e| e.max_speed).collect();
        assert_eq!(speeds, [Some(1.0), Some(1.0), Some(0.5)]);
        let p = order.nodes[2].position.as_ref().unwrap();
        assert_eq!((p.map_id.as_str(), p.theta), ("hall1-floor0", Some(1.5)));
        assert_eq!(order.nodes[0].position.as_ref().unwrap().theta, None);
        let pick = &order.nodes[2].actions[0];
        assert_eq!(
            (pick.action_type.as_str(), pick.action_id.as_str()),
            ("pick", "9")
        );
        assert!(order.nodes[3].actions.is_empty());
    }
}

#[test]
fn a_charging_task_ends_with_start_charging_and_unknown_maps_are_refused() {
    let cmd = command(TaskType::Charge, TargetAttribute::ChargePoint);
    let order = guide::order_of(&cmd, header(Version::V3_0), &Site).unwrap();
    assert_valid(Version::V3_0, "order", &order.to_json().unwrap());
    let last = &order.nodes[3].actions;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].action_type, "startCharging");
    let mut elsewhere = cmd;
    elsewhere.map_id = 9;
    assert_eq!(
        guide::order_of(&elsewhere, header(Version::V2_0), &Site),
        Err(TranslateError::UnknownMap("9".into()))
    );
}

#[test]
fn task_controls_become_instant_actions() {
    for version in Version::ALL {
        for (op, kind) in [
            (TaskOp::Pause, "startPause"),
            (TaskOp::Resume, "stopPause"),
            (TaskOp::Cancel, "cancelOrder"),
        ] {
            let control = TaskControl { task_id: 41, op };
            let message = guide::instant_of(&control, header(version), "rcs-17");
            let json = message.to_json().unwrap();
            assert_valid(version, "instantActions", &json);
            let read = InstantActions::from_json(&json).unwrap();
            assert_eq!(read.actions[0].action_type, kind);
            assert_eq!(read.actions[0].action_id, "rcs-17");
        }
    }
}

#[test]
fn a_map_switch_becomes_init_position_in_every_version_and_back() {
    let switch = MapSwitch {
        target_map_id: 2,
        target_map_version: 7,
        initial_pose: Pose {
            x: 12.5,
            y: -3.25,
            theta: 1.5,
        },
        lift_id: 3,
        floor: 1,
        navigation: NavigationMode::Slam,
    };
    for version in Version::ALL {
        let action = guide::init_position_of(&switch, 2001, &Site, "rcs-9").unwrap();
        let message = InstantActions {
            header: header(version),
            actions: vec![action],
        };
        let json = message.to_json().unwrap();
        assert_valid(version, "instantActions", &json);
        let read = InstantActions::from_json(&json).unwrap();
        assert_eq!(read.actions[0].action_type, "initPosition");
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.contains("\"hall1-floor1\"") && text.contains("\"2001\""),
            "{text}"
        );
        let at = guide::init_position(&read.actions[0], &Site)
            .unwrap()
            .unwrap();
        assert_eq!(
            at,
            guide::InitPosition {
                map_id: 2,
                pose: switch.initial_pose.clone(),
                last_node_id: 2001,
            }
        );
    }
    // no exit node: lastNodeId empty, read as none
    let action = guide::init_position_of(&switch, 0, &Site, "rcs-10").unwrap();
    assert_eq!(
        guide::init_position(&action, &Site)
            .unwrap()
            .unwrap()
            .last_node_id,
        0
    );
    // a map the site does not have
    let mut elsewhere = switch.clone();
    elsewhere.target_map_id = 9;
    assert_eq!(
        guide::init_position_of(&elsewhere, 0, &Site, "rcs-11"),
        Err(TranslateError::UnknownMap("9".into()))
    );
}

#[test]
fn an_init_position_that_does_not_say_where_is_refused() {
    let good = guide::init_position_of(
        &MapSwitch {
            target_map_id: 1,
            target_map_version: 1,
            initial_pose: Pose {
                x: 1.0,
                y: 2.0,
                theta: 0.0,
            },
            lift_id: 0,
            floor: 0,
            navigation: NavigationMode::Slam,
        },
        5,
        &Site,
        "a",
    )
    .unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut a = good.clone();
        a.parameters.retain(|p| p.key != key);
        if !value.is_null() {
            a.parameters.push(vda5050::action::ActionParameter {
                key: key.into(),
                value,
            });
        }
        guide::init_position(&a, &Site).unwrap()
    };
    use serde_json::json;
    for (key, value) in [
        ("x", json!(null)),
        ("x", json!("1.0")),
        ("theta", json!(null)),
        ("mapId", json!(null)),
        ("mapId", json!(1)),
        ("lastNodeId", json!(5)),
    ] {
        assert!(
            matches!(
                with(key, value.clone()),
                Err(TranslateError::Parameter { .. })
            ),
            "{key} = {value}"
        );
    }
    assert_eq!(
        with("mapId", json!("hall9")),
        Err(TranslateError::UnknownMap("hall9".into()))
    );
    assert!(matches!(
        with("lastNodeId", json!("node-5")),
        Err(TranslateError::ForeignId { .. })
    ));
    // another action is not one
    let pause = vda5050::action::Action::instant("startPause", "p");
    assert!(guide::init_position(&pause, &Site).is_none());
}

fn state(version: Version) -> State {
    State {
        header: header(version),
        order_id: "41".into(),
        order_update_id: 2,
        last_node_id: "1002".into(),
        last_node_sequence_id: 6,
        node_states: vec![
            NodeState {
                node_id: "1003".into(),
                sequence_id: 8,
                released: true,
            },
            NodeState {
                node_id: "1004".into(),
                sequence_id: 10,
                released: false,
            },
        ],
        edge_states: vec![
            EdgeState {
                edge_id: "8".into(),
                sequence_id: 7,
                released: true,
            },
            EdgeState {
                edge_id: "9".into(),
                sequence_id: 9,
                released: false,
            },
        ],
        position: Some(Position {
            x: 2.5,
            y: 4.0,
            theta: 0.0,
            map_id: "hall1-floor1".into(),
            localized: true,
            localization_score: Some(0.874),
            deviation_range: None,
        }),
        velocity: None,
        driving: true,
        paused: Some(false),
        new_base_request: None,
        distance_since_last_node: Some(0.5),
        action_states: vec![ActionState {
            action_id: "9".into(),
            action_type: Some("pick".into()),
            status: ActionStatus::Waiting,
            result: None,
        }],
        instant_action_states: vec![],
        loads: vec![],
        battery: Battery {
            charge_pct: 64.0,
            voltage: Some(47.5),
            charging: false,
            reach_m: None,
        },
        operating_mode: OperatingMode::Automatic,
        errors: vec![VehicleError {
            error_type: "orderUpdateError".into(),
            level: ErrorLevel::Warning,
            description: None,
            hint: None,
            references: vec![("nodeId".into(), "1003".into())],
        }],
        safety: Safety {
            e_stop: EStop::None,
            field_violation: false,
        },
    }
}

#[test]
fn a_state_becomes_a_status_report() {
    for version in Version::ALL {
        let s = State::from_json(&state(version).to_json().unwrap()).unwrap();
        let r = guide::status_of(&s, &Site).unwrap();
        assert_eq!((r.map_id, r.pose.x, r.localisation_quality), (2, 2.5, 87));
        assert_eq!((r.task_id, r.segment), (41, 2));
        assert_eq!(
            (r.last_node_id, r.last_node_sequence, r.edge_id),
            (1002, 6, 8)
        );
        assert_eq!(r.state, AgvState::Working);
        assert_eq!((r.battery_pct, r.charging, r.e_stop), (64.0, false, false));
        assert_eq!(r.alarms.len(), 1);
        assert_eq!(r.alarms[0].code, guide::VDA5050_ERROR_ALARM);
        assert_eq!(
            (r.alarms[0].level, r.alarms[0].reference),
            (AlarmLevel::Warning, 1003)
        );
        // the guide's own checks hold
        assert!((0.0..=100.0).contains(&r.battery_pct) && r.localisation_quality <= 100);
    }
}

#[test]
fn what_a_state_says_about_the_vehicle() {
    let base = state(Version::V2_1);
    let status = |change: fn(&mut State)| {
        let mut s = base.clone();
        change(&mut s);
        guide::status_of(&s, &Site)
    };
    assert_eq!(
        status(|s| s.safety.e_stop = EStop::Remote).unwrap().state,
        AgvState::EmergencyStop
    );
    assert_eq!(
        status(|s| s.paused = Some(true)).unwrap().state,
        AgvState::Paused
    );
    assert_eq!(
        status(|s| s.operating_mode = OperatingMode::Manual)
            .unwrap()
            .state,
        AgvState::Manual
    );
    let stopped = status(|s| s.driving = false).unwrap();
    assert_eq!((stopped.state, stopped.edge_id), (AgvState::Working, 0));
    let waiting = status(|s| {
        s.driving = false;
        s.node_states.retain(|n| !n.released);
    })
    .unwrap();
    assert_eq!(waiting.state, AgvState::WaitingForRelease);
    let idle = status(|s| {
        s.driving = false;
        s.node_states.clear();
        s.edge_states.clear();
    })
    .unwrap();
    assert_eq!(idle.state, AgvState::Idle);
    // at its last node with the pick running: not done there
    let picking = status(|s| {
        s.driving = false;
        s.node_states.clear();
        s.edge_states.clear();
        s.action_states[0].status = ActionStatus::Running;
    })
    .unwrap();
    assert_eq!(picking.state, AgvState::Working);
    let picked = status(|s| {
        s.driving = false;
        s.node_states.clear();
        s.edge_states.clear();
        s.action_states[0].status = ActionStatus::Finished;
    })
    .unwrap();
    assert_eq!(picked.state, AgvState::Idle);
    // a later path of task 41 is an order of its own, and still task 41
    assert_eq!(guide::path_order_id(41, 3), "41.3");
    let later = status(|s| s.order_id = guide::path_order_id(41, 3)).unwrap();
    assert_eq!(later.task_id, 41);
    let lost = status(|s| s.position.as_mut().unwrap().localized = false).unwrap();
    assert_eq!(lost.localisation_quality, 0);
    let nowhere = status(|s| s.position = None).unwrap();
    assert_eq!(nowhere.localisation_quality, 0);
    // not ours: another map, another master's order or node names
    assert_eq!(
        status(|s| s.position.as_mut().unwrap().map_id = "hall9".into()),
        Err(TranslateError::UnknownMap("hall9".into()))
    );
    for change in [
        (|s: &mut State| s.order_id = "order-from-elsewhere".into()) as fn(&mut State),
        |s| s.last_node_id = "N-1".into(),
        |s| s.order_id = "41.".into(),
        |s| s.order_id = "41.x".into(),
        |s| s.order_id = ".3".into(),
        |s| s.order_id = "41.3.1".into(),
        |s| s.last_node_id = "+17".into(),
        |s| s.order_update_id = 70_000,
    ] {
        assert!(matches!(
            status(change),
            Err(TranslateError::ForeignId { .. })
        ));
    }
}

#[test]
fn an_order_becomes_the_motion_command_it_came_from() {
    for version in Version::ALL {
        let cmd = command(TaskType::Pick, TargetAttribute::Destination);
        let json = guide::order_of(&cmd, header(version), &Site)
            .unwrap()
            .to_json()
            .unwrap();
        let back = guide::motion_of(&Order::from_json(&json).unwrap(), &Site).unwrap();
        assert_eq!(
            (back.task_id, back.segment, back.map_id, back.released_nodes),
            (41, 2, 1, 3)
        );
        assert_eq!(back.task_type, TaskType::Pick);
        let nodes: Vec<(u32, u16, TargetAttribute)> = back
            .nodes
            .iter()
            .map(|n| (n.node_id, n.sequence, n.attribute))
            .collect();
        assert_eq!(
            nodes,
            [
                (1001, 4, TargetAttribute::PassThrough),
                (1002, 6, TargetAttribute::PassThrough),
                (1003, 8, TargetAttribute::ActionPoint),
                (1004, 10, TargetAttribute::Destination),
            ]
        );
        let pick = &back.nodes[2].actions[0];
        assert_eq!(
            (pick.action_id, pick.adjustment, pick.blocking),
            (9, LiftAdjustment::Raise, true)
        );
        let edges: Vec<(u32, u16, f32)> = back
            .edges
            .iter()
            .map(|e| (e.edge_id, e.sequence, e.max_speed))
            .collect();
        assert_eq!(edges, [(7, 5, 1.0), (8, 7, 1.0), (9, 9, 0.5)]);
        // what the guide's own checks ask of a motion command
        let mut wire = bytes::BytesMut::new();
        let h = protocol::frame::Header::new(
            protocol::message::MessageType::MOTION_COMMAND,
            protocol::frame::Flags::NONE,
            1,
            1,
            0,
        );
        protocol::frame::encode_message(&mut wire, h, &back.clone().into(), 65536).unwrap();
    }
    let charge = command(TaskType::Charge, TargetAttribute::ChargePoint);
    let order = guide::order_of(&charge, header(Version::V2_1), &Site).unwrap();
    let back = guide::motion_of(&order, &Site).unwrap();
    assert_eq!(back.task_type, TaskType::Charge);
    assert_eq!(back.nodes[3].attribute, TargetAttribute::ChargePoint);
}

#[test]
fn orders_a_guide_vehicle_cannot_run_are_refused() {
    let cmd = command(TaskType::Pick, TargetAttribute::Destination);
    let good = guide::order_of(&cmd, header(Version::V2_0), &Site).unwrap();
    let refused = |change: fn(&mut Order)| {
        let mut o = good.clone();
        change(&mut o);
        guide::motion_of(&o, &Site)
    };
    assert!(matches!(
        refused(|o| o.nodes[3].position.as_mut().unwrap().map_id = "hall1-floor1".into()),
        Err(TranslateError::Unsupported(_))
    ));
    assert!(matches!(
        refused(|o| o.nodes[1].position = None),
        Err(TranslateError::Unsupported(_))
    ));
    assert!(matches!(
        refused(|o| o.nodes[2].actions[0].action_type = "weighLoad".into()),
        Err(TranslateError::Unsupported(_))
    ));
    assert!(matches!(
        refused(|o| o.nodes[0].node_id = "N-1".into()),
        Err(TranslateError::ForeignId { .. })
    ));
    assert!(matches!(
        refused(|o| {
            for n in &mut o.nodes {
                n.position.as_mut().unwrap().map_id = "hall7".into();
            }
        }),
        Err(TranslateError::UnknownMap(_))
    ));
    for (kind, op) in [
        ("startPause", Some(TaskOp::Pause)),
        ("stopPause", Some(TaskOp::Resume)),
        ("cancelOrder", Some(TaskOp::Cancel)),
        ("factsheetRequest", None),
    ] {
        let action = vda5050::Action::instant(kind, "a");
        assert_eq!(guide::control_of(&action).map(|c| c.op), op, "{kind}");
    }
}

#[test]
fn a_status_report_becomes_a_state_of_every_version_and_back() {
    for version in Version::ALL {
        let cmd = command(TaskType::Pick, TargetAttribute::Destination);
        let order = guide::order_of(&cmd, header(version), &Site).unwrap();
        let mut report = guide::status_of(&state(version), &Site).unwrap();
        report.map_id = 1;
        report.last_node_id = 1003;
        report.last_node_sequence = 8;
        report.velocity.vx = 0.6;
        let s = guide::state_of(&report, header(version), &Site, Some(&order)).unwrap();
        let json = s.to_json().unwrap();
        assert_valid(version, "state", &json);
        let s = State::from_json(&json).unwrap();
        let ids: Vec<&str> = s.node_states.iter().map(|n| n.node_id.as_str()).collect();
        assert_eq!(ids, ["1004"]);
        let ids: Vec<&str> = s.edge_states.iter().map(|e| e.edge_id.as_str()).collect();
        assert_eq!(ids, ["9"]);
        assert_eq!(s.action_states[0].status, ActionStatus::Finished);
        let back = guide::status_of(&s, &Site).unwrap();
        assert_eq!(
            (
                back.task_id,
                back.segment,
                back.last_node_id,
                back.last_node_sequence
            ),
            (41, 2, 1003, 8)
        );
        assert_eq!(
            (back.map_id, back.pose.x, back.localisation_quality),
            (1, report.pose.x, report.localisation_quality)
        );
        assert_eq!((back.edge_id, back.state), (9, AgvState::Working));
    }
}

/// A factsheet stands for the registration a guide AGV sends: its size becomes the footprint
/// the vehicle holds (centred), its class the AGV type, its limits the speeds.
#[test]
fn a_factsheet_becomes_a_registration() {
    use protocol::types::AgvType;
    let sheet = vda5050::factsheet::Factsheet {
        header: header(Version::V3_0),
        series_name: "Carrier-7".into(),
        kinematics: Some("DIFF".into()),
        class: "FORKLIFT".into(),
        max_load_kg: 1200.0,
        localization_types: vec!["NATURAL".into()],
        navigation_types: vec!["AUTONOMOUS".into()],
        length: 2.4,
        width: 1.2,
        height_max: 2.0,
        speed_max: 1.8,
        acceleration_max: 0.5,
        deceleration_max: 0.9,
        actions: vec!["pick".into()],
    };
    let r = guide::register_of(&sheet, "SN-1");
    assert_eq!(r.agv_type, AgvType::Forklift);
    assert_eq!(
        (r.vendor.as_str(), r.model.as_str(), r.serial.as_str()),
        ("Acme", "Carrier-7", "SN-1")
    );
    let f = r.footprint;
    assert_eq!(
        (f.front, f.rear, f.left, f.right, f.height),
        (1.2, 1.2, 0.6, 0.6, 2.0)
    );
    assert_eq!(
        (
            r.speeds.forward,
            r.speeds.acceleration,
            r.speeds.deceleration
        ),
        (1.8, 0.5, 0.9)
    );
    assert_eq!(r.load_capacity_kg, 1200.0);
}
