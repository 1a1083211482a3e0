//! Helpers shared by the ABI tests: a session made and freed through the exported functions,
//! an in-memory RCS session (`protocol::session::RcsSession`) to talk to, and the exchange every
//! mode runs.
#![allow(dead_code)]

use std::ffi::CStr;
use std::ptr;

use protocol::message::*;
use protocol::session::{RcsCrypto, RcsEvent, RcsSession};
use protocol::types::*;
use rcs_protocol::enums::*;
use rcs_protocol::ffi::*;
use rcs_protocol::types::*;
use rcs_protocol::{RcsAgv, RcsStatus};

pub const T0: u64 = 1_764_000_000_000;
pub const AGV: u32 = 7;

/// A session made and freed through the ABI.
pub struct Agv(pub *mut RcsAgv);

impl Drop for Agv {
    fn drop(&mut self) {
        // SAFETY: made by `rcs_agv_new*`, freed once.
        unsafe { rcs_agv_free(self.0) }
    }
}

pub fn config(modes: &[RcsNavigationMode]) -> RcsAgvConfig {
    let mut c = std::mem::MaybeUninit::<RcsAgvConfig>::uninit();
    // SAFETY: a writable `RcsAgvConfig`.
    let status = unsafe { rcs_agv_config_init(c.as_mut_ptr()) };
    assert_eq!(status, RcsStatus::Ok);
    // SAFETY: initialised by `rcs_agv_config_init`.
    let mut c = unsafe { c.assume_init() };
    c.agv_id = AGV;
    c.vendor = c"Acme".as_ptr();
    c.model = c"J1".as_ptr();
    c.footprint = RcsFootprint {
        front: 0.5,
        rear: 0.5,
        left: 0.4,
        right: 0.4,
        height: 0.3,
    };
    c.speeds.forward = 1.5;
    c.navigation_modes = modes.as_ptr();
    c.navigation_modes_len = modes.len();
    c
}

pub fn normal_agv() -> Agv {
    let modes = [RCS_NAVIGATION_MODE_SLAM];
    let c = config(&modes);
    let mut out = ptr::null_mut();
    // SAFETY: valid config and out pointer.
    assert_eq!(unsafe { rcs_agv_new(&c, T0, &mut out) }, RcsStatus::Ok);
    Agv(out)
}

pub fn config_push() -> ConfigPush {
    ConfigPush {
        config_version: 1,
        status_period_ms: 100,
        heartbeat_period_ms: 1000,
        link_timeout_ms: 3000,
        operation_report_period_s: 60,
        alarms: AlarmParams {
            battery_low_pct: 20.0,
            battery_critical_pct: 10.0,
            min_localisation_quality: 50,
            max_path_deviation: 0.2,
        },
        max_linear_speed: 1.5,
        max_angular_speed: 1.0,
        extensions: vec![],
    }
}

/// Moves every frame between the two ends until both are quiet; returns the RCS's events.
pub fn pump<K: RcsCrypto>(agv: &Agv, rcs: &mut RcsSession<K>, now: u64) -> Vec<RcsEvent> {
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let mut moved = false;
        loop {
            let mut n = 0;
            // SAFETY: a live session, a buffer of `buf.len()` bytes, a writable length.
            let s = unsafe { rcs_agv_poll_transmit(agv.0, buf.as_mut_ptr(), buf.len(), &mut n) };
            if s == RcsStatus::Empty {
                break;
            }
            assert_eq!(s, RcsStatus::Ok);
            rcs.handle_input(now, &buf[..n]);
            moved = true;
        }
        while let Some(e) = rcs.poll_event() {
            if let RcsEvent::RegistrationRequested(_) = &e {
                rcs.accept_registration(now, ResultCode::Ok).unwrap();
            }
            events.push(e);
        }
        while let Some(frame) = rcs.poll_transmit() {
            // SAFETY: a live session and `frame.len()` readable bytes.
            let s = unsafe { rcs_agv_handle_input(agv.0, now, frame.as_ptr(), frame.len()) };
            assert_eq!(s, RcsStatus::Ok);
            moved = true;
        }
        if !moved {
            return events;
        }
    }
}

/// A copy of the session's events (their pointers are read at once).
pub fn events(agv: &Agv) -> Vec<RcsAgvEvent> {
    let mut out = Vec::new();
    loop {
        let mut e = std::mem::MaybeUninit::<RcsAgvEvent>::uninit();
        // SAFETY: a live session and a writable event.
        match unsafe { rcs_agv_poll_event(agv.0, e.as_mut_ptr()) } {
            // SAFETY: written by `rcs_agv_poll_event`.
            RcsStatus::Ok => out.push(unsafe { e.assume_init() }),
            RcsStatus::Empty => return out,
            other => panic!("{other:?}"),
        }
    }
}

pub fn kinds(events: &[RcsAgvEvent]) -> Vec<RcsEventKind> {
    events.iter().map(|e| e.kind).collect()
}

pub fn established<K: RcsCrypto>(agv: &Agv, rcs: &mut RcsSession<K>) {
    // SAFETY: a live session.
    assert_eq!(unsafe { rcs_agv_connect(agv.0, T0) }, RcsStatus::Ok);
    pump(agv, rcs, T0);
    let e = events(agv);
    assert_eq!(
        kinds(&e),
        [
            RcsEventKind::Connected,
            RcsEventKind::Registered,
            RcsEventKind::Configured
        ]
    );
    assert_eq!(e[2].config.status_period_ms, 100);
    // SAFETY: a live session.
    assert!(unsafe { rcs_agv_is_established(agv.0) });
}

pub fn status_report(battery_pct: f32) -> RcsStatusReport {
    RcsStatusReport {
        map_id: 1,
        pose: RcsPose {
            x: 3.5,
            y: 1.25,
            theta: 0.0,
        },
        localisation_quality: 95,
        navigation_mode: RCS_NAVIGATION_MODE_SLAM,
        velocity: RcsVelocity::default(),
        state: RCS_AGV_STATE_IDLE,
        battery_pct,
        battery_voltage: 48.0,
        charging: false,
        e_stop: false,
        loads: ptr::null(),
        loads_len: 0,
        actuators: ptr::null(),
        actuators_len: 0,
        task_id: 0,
        segment: 0,
        last_node_id: 4,
        last_node_sequence: 0,
        edge_id: 0,
        distance_since_last_node: 0.0,
        grant_id: 0,
        alarms: ptr::null(),
        alarms_len: 0,
    }
}

pub fn motion_command() -> MotionCommand {
    let node = |id: u32, x: f64, actions: Vec<protocol::message::Action>| PathNode {
        node_id: id,
        sequence: 0,
        pose: Pose {
            x,
            y: 0.0,
            theta: 0.0,
        },
        attribute: TargetAttribute::PassThrough,
        actions,
    };
    let lift = protocol::message::Action {
        action_id: 9,
        actuator_id: 0,
        actuator: ActuatorType::Lift,
        adjustment: LiftAdjustment::Raise,
        blocking: true,
        params: vec![ActionParam {
            param: ActuatorParam::Height,
            value: 0.05,
        }],
    };
    MotionCommand {
        task_id: 42,
        task_type: TaskType::Pick,
        segment: 0,
        map_id: 1,
        nodes: vec![
            node(1, 0.0, vec![]),
            node(2, 3.0, vec![]),
            node(3, 6.0, vec![lift]),
        ],
        edges: (0..2)
            .map(|i| PathEdge {
                edge_id: 100 + i,
                sequence: 1,
                trajectory: if i == 0 {
                    TrajectoryType::Line
                } else {
                    TrajectoryType::Arc
                },
                control_points: if i == 0 {
                    vec![]
                } else {
                    vec![Point { x: 4.5, y: 0.5 }]
                },
                movement: MovementType::Forward,
                max_speed: 1.0,
            })
            .collect(),
        released_nodes: 2,
        max_speed: 1.5,
        extensions: vec![],
    }
}

/// What every test runs: reports, a motion command and its ack, a safe space.
pub fn exchange<K: RcsCrypto>(agv: &Agv, rcs: &mut RcsSession<K>) {
    let now = T0 + 10;
    // a status report, with an actuator and a load
    let actuators = [RcsActuatorStatus {
        actuator_id: 0,
        kind: RCS_ACTUATOR_TYPE_LIFT,
        state: RCS_ACTUATOR_STATE_IDLE,
        position: 0.0,
    }];
    let loads = [RcsLoad {
        load_id: c"rack-7".as_ptr(),
        weight_kg: 120.0,
    }];
    let mut report = status_report(88.0);
    report.actuators = actuators.as_ptr();
    report.actuators_len = 1;
    report.loads = loads.as_ptr();
    report.loads_len = 1;
    let mut seq = 0;
    // SAFETY: a live session, a valid report, a writable seq.
    let status = unsafe { rcs_agv_send_status(agv.0, now, &report, &mut seq) };
    assert_eq!(status, RcsStatus::Ok);
    assert!(seq > 0);
    let got = pump(agv, rcs, now);
    let reported = got.iter().find_map(|e| match e {
        RcsEvent::Message {
            message: Message::StatusReport(r),
            ..
        } => Some(r.clone()),
        _ => None,
    });
    let reported = reported.expect("the RCS got the report");
    assert_eq!((reported.pose.x, reported.last_node_id), (3.5, 4));
    assert_eq!(reported.loads[0].load_id, "rack-7");
    assert_eq!(reported.actuators[0].kind, ActuatorType::Lift);

    // a motion command, read through the event's pointers, then acknowledged
    let command_seq = rcs.send_command(now, motion_command().into()).unwrap();
    pump(agv, rcs, now);
    let e = events(agv);
    assert_eq!(kinds(&e), [RcsEventKind::Command]);
    let e = e[0];
    assert_eq!(e.message_type, RCS_MESSAGE_TYPE_MOTION_COMMAND);
    let m = e.motion;
    assert_eq!(
        (m.task_id, m.task_type, m.released_nodes),
        (42, RCS_TASK_TYPE_PICK, 2)
    );
    // SAFETY: the event's pointers are valid until the next poll.
    let nodes = unsafe { std::slice::from_raw_parts(m.nodes, m.nodes_len) };
    // SAFETY: as above.
    let edges = unsafe { std::slice::from_raw_parts(m.edges, m.edges_len) };
    assert_eq!(
        nodes
            .iter()
            .map(|n| (n.node_id, n.pose.x))
            .collect::<Vec<_>>(),
        [(1, 0.0), (2, 3.0), (3, 6.0)]
    );
    assert_eq!(nodes[2].actions_len, 1);
    // SAFETY: as above.
    let action = unsafe { &*nodes[2].actions };
    assert_eq!(
        (action.action_id, action.adjustment, action.blocking),
        (9, RCS_LIFT_ADJUSTMENT_RAISE, true)
    );
    // SAFETY: as above.
    let param = unsafe { &*action.params };
    assert_eq!(
        (param.param, param.value),
        (RCS_ACTUATOR_PARAM_HEIGHT, 0.05)
    );
    assert_eq!(edges[1].control_points_len, 1);
    // SAFETY: as above.
    let point = unsafe { *edges[1].control_points };
    assert_eq!(point, RcsPoint { x: 4.5, y: 0.5 });
    // SAFETY: a live session.
    let s = unsafe { rcs_agv_ack(agv.0, now, e.seq, e.message_type, RCS_RESULT_CODE_OK) };
    assert_eq!(s, RcsStatus::Ok);
    let got = pump(agv, rcs, now);
    assert!(got.iter().any(|e| matches!(e,
        RcsEvent::Response { request_seq, message: Message::Ack(a) }
            if *request_seq == command_seq && a.result == ResultCode::Ok)));

    // a safe space: asked, granted, released
    let request = RcsSpaceRequest {
        map_id: 1,
        region: RcsRegion {
            kind: RCS_REGION_CIRCLE,
            center: RcsPose {
                x: 3.5,
                y: 1.25,
                theta: 0.0,
            },
            radius: 1.0,
            ..RcsRegion::default()
        },
        limit: RCS_SPACE_LIMIT_FREE,
        duration_ms: 5000,
        reason: RCS_SPACE_REASON_OBSTACLE_AVOIDANCE,
    };
    let mut space_seq = 0;
    // SAFETY: a live session, a valid request, a writable seq.
    let s = unsafe { rcs_agv_request_space(agv.0, now, &request, &mut space_seq) };
    assert_eq!(s, RcsStatus::Ok);
    let got = pump(agv, rcs, now);
    let (seq, region) = got
        .iter()
        .find_map(|e| match e {
            RcsEvent::Message {
                seq,
                message: Message::SpaceRequest(r),
                ..
            } => Some((*seq, r.region.clone())),
            _ => None,
        })
        .expect("the RCS got the request");
    assert_eq!(
        region,
        Region::Circle {
            center: Point { x: 3.5, y: 1.25 },
            radius: 1.0
        }
    );
    let grant = SpaceGrant {
        request_seq: seq,
        grant_id: 77,
        map_id: 1,
        region: Region::Polygon {
            points: vec![
                Point { x: 0.0, y: 0.0 },
                Point { x: 1.0, y: 0.0 },
                Point { x: 1.0, y: 1.0 },
            ],
        },
        limit: SpaceLimit::Free,
        expires_at_ms: now + 5000,
    };
    rcs.respond(now, grant.into()).unwrap();
    pump(agv, rcs, now);
    let e = events(agv);
    assert_eq!(kinds(&e), [RcsEventKind::Response]);
    assert_eq!(
        (e[0].seq, e[0].message_type),
        (space_seq, RCS_MESSAGE_TYPE_SPACE_GRANT)
    );
    let g = e[0].space_grant;
    assert_eq!(
        (g.grant_id, g.region.kind, g.region.points_len),
        (77, RCS_REGION_POLYGON, 3)
    );
    // SAFETY: the event's pointers are valid until the next poll.
    let points = unsafe { std::slice::from_raw_parts(g.region.points, 3) };
    assert_eq!(points[2], RcsPoint { x: 1.0, y: 1.0 });
    let mut release_seq = 0;
    // SAFETY: a live session and a writable seq.
    let s = unsafe { rcs_agv_release_space(agv.0, now, 77, &mut release_seq) };
    assert_eq!(s, RcsStatus::Ok);
    let got = pump(agv, rcs, now);
    let (seq, grant_id) = got
        .iter()
        .find_map(|e| match e {
            RcsEvent::Message {
                seq,
                message: Message::SpaceRelease(r),
                ..
            } => Some((*seq, r.grant_id)),
            _ => None,
        })
        .expect("the RCS got the release");
    assert_eq!(grant_id, 77);
    rcs.ack(now, seq, MessageType::SPACE_RELEASE, ResultCode::Ok)
        .unwrap();
    pump(agv, rcs, now);
    let e = events(agv);
    assert_eq!(kinds(&e), [RcsEventKind::Response]);
    assert_eq!(
        (e[0].seq, e[0].ack.result),
        (release_seq, RCS_RESULT_CODE_OK)
    );
    // SAFETY: a NUL-terminated string owned by the session.
    assert_eq!(unsafe { CStr::from_ptr(e[0].ack.detail) }, c"");
}
