//! One realistic sample frame per message type: the golden vectors in `tests/vectors/`, the hex
//! examples in docs/protocol.md and the benchmark inputs are all built from these.

#![allow(dead_code)]
// The samples use the rounded values of the VDA 5050 examples (1.5708), on purpose.
#![allow(clippy::approx_constant)]

use protocol::frame::{Flags, Header};
use protocol::message::*;
use protocol::types::*;

/// AGV id used by every sample.
pub const AGV: u32 = 1001;
/// Timestamp used by every sample: 2025-11-24T16:00:00Z.
pub const T0: u64 = 1_764_000_000_000;

/// A named sample: vector file name, header (type and body length are set on encode), message.
pub struct Sample {
    /// File stem in `tests/vectors/` and the name of the example block in docs/protocol.md.
    pub name: &'static str,
    /// Header.
    pub header: Header,
    /// Message.
    pub message: Message,
    /// The authentication tag after the body (empty for a frame without one): the 64-byte
    /// placeholder signature of the signed handshake frames (docs/protocol.md 10.1).
    pub tag: Vec<u8>,
}

fn header(ty: MessageType, flags: Flags, seq: u32, dt_ms: u64) -> Header {
    Header::new(ty, flags, seq, AGV, T0 + dt_ms)
}

fn pose(x: f64, y: f64, theta: f64) -> Pose {
    Pose { x, y, theta }
}

/// The status report carrying what VDA 5050's `state_example.json` carries (see
/// docs/performance.md for the field mapping).
pub fn status_report() -> StatusReport {
    StatusReport {
        map_id: 1,
        pose: pose(18.921, 4.013, 0.0021),
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
        loads: vec![LoadInfo {
            load_id: "LD-88231".into(),
            weight_kg: 412.5,
        }],
        actuators: vec![ActuatorStatus {
            actuator_id: 1,
            kind: ActuatorType::Fork,
            state: ActuatorState::Idle,
            position: 0.12,
        }],
        task_id: 123,
        segment: 0,
        last_node_id: 1001,
        last_node_sequence: 0,
        edge_id: 10011002,
        distance_since_last_node: 6.42,
        grant_id: 0,
        alarms: vec![Alarm {
            code: 0x0301,
            level: AlarmLevel::Warning,
            reference: 1,
        }],
        extensions: vec![],
    }
}

fn action(action_id: u32, adjustment: LiftAdjustment, height: f32) -> Action {
    Action {
        action_id,
        actuator_id: 1,
        actuator: ActuatorType::Fork,
        adjustment,
        blocking: true,
        params: vec![ActionParam {
            param: ActuatorParam::Height,
            value: height,
        }],
    }
}

/// The motion command carrying what VDA 5050's `order_example.json` carries: four nodes, the
/// third with a drop, the fourth a charger, three edges (one an arc), three released.
pub fn motion_command() -> MotionCommand {
    let node = |node_id, sequence, p: Pose, attribute, actions| PathNode {
        node_id,
        sequence,
        pose: p,
        attribute,
        actions,
    };
    let edge = |edge_id, sequence, trajectory, control_points, max_speed| PathEdge {
        edge_id,
        sequence,
        trajectory,
        control_points,
        movement: MovementType::Forward,
        max_speed,
    };
    MotionCommand {
        task_id: 123,
        task_type: TaskType::Drop,
        segment: 0,
        map_id: 1,
        nodes: vec![
            node(
                1001,
                0,
                pose(12.5, 4.0, 0.0),
                TargetAttribute::PassThrough,
                vec![],
            ),
            node(
                1002,
                2,
                pose(24.75, 4.0, 0.0),
                TargetAttribute::PassThrough,
                vec![],
            ),
            node(
                1003,
                4,
                pose(30.0, 9.25, 1.5708),
                TargetAttribute::ActionPoint,
                vec![action(1, LiftAdjustment::Lower, 0.0)],
            ),
            node(
                1004,
                6,
                pose(30.0, 15.5, 1.5708),
                TargetAttribute::ChargePoint,
                vec![],
            ),
        ],
        edges: vec![
            edge(10011002, 1, TrajectoryType::Line, vec![], 1.5),
            edge(
                10021003,
                3,
                TrajectoryType::Arc,
                vec![Point { x: 28.46, y: 5.54 }],
                0.8,
            ),
            edge(10031004, 5, TrajectoryType::Line, vec![], 1.0),
        ],
        released_nodes: 3,
        max_speed: 1.5,
        extensions: vec![],
    }
}

/// The registration of the samples' AGV.
pub fn register_request() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Forklift,
        vendor: "Acme".into(),
        model: "FL-12".into(),
        serial: "AMR-0042".into(),
        firmware: "3.4.1".into(),
        footprint: Footprint {
            front: 1.2,
            rear: 0.4,
            left: 0.45,
            right: 0.45,
            height: 2.1,
        },
        speeds: SpeedLimits {
            forward: 2.0,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 1200.0,
        navigation_modes: vec![NavigationMode::Slam, NavigationMode::QrCode],
        maps: vec![MapInfo {
            map_id: 1,
            version: 3,
        }],
        actuators: vec![ActuatorInfo {
            actuator_id: 1,
            kind: ActuatorType::Fork,
            min: 0.0,
            max: 1.6,
        }],
        battery: BatteryInfo {
            capacity_wh: 2400.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![Extension {
            key: 0x8001,
            value: vec![0x01, 0x02],
        }],
    }
}

fn point(x: f64, y: f64) -> Point {
    Point { x, y }
}

/// The configuration push of the samples.
pub fn config_push() -> ConfigPush {
    ConfigPush {
        config_version: 5,
        status_period_ms: 100,
        heartbeat_period_ms: 1000,
        link_timeout_ms: 3000,
        operation_report_period_s: 60,
        alarms: AlarmParams {
            battery_low_pct: 20.0,
            battery_critical_pct: 10.0,
            min_localisation_quality: 60,
            max_path_deviation: 0.1,
        },
        max_linear_speed: 2.0,
        max_angular_speed: 1.0,
        extensions: vec![],
    }
}

/// The same push with three RCS addresses: an IPv4 address, an IPv6 address, a host name.
pub fn config_push_addresses() -> ConfigPush {
    let mut push = config_push();
    let addresses: Vec<protocol::address::RcsAddress> = [
        "10.0.1.11:7700",
        "[fd00::11]:7700",
        "rcs-2.site.example:7700",
    ]
    .iter()
    .map(|a| a.parse().expect("an address"))
    .collect();
    push.set_rcs_addresses(&addresses).expect("three addresses");
    push
}

/// Every sample, in the order of docs/protocol.md.
pub fn all() -> Vec<Sample> {
    let none = Flags::NONE;
    let ack = Flags::ACK_REQUESTED;
    let resp = Flags::RESPONSE;
    let id = b"1234567812345678".to_vec();
    let mut ephemeral_a = [0x11u8; 65];
    ephemeral_a[0] = 0x04;
    let mut ephemeral_b = [0x22u8; 65];
    ephemeral_b[0] = 0x04;
    let s = |name, header, message: Message| Sample {
        name,
        header,
        message,
        tag: Vec::new(),
    };
    // The secure handshake frames are signed (docs/protocol.md 10.1): placeholder signatures.
    let signed = |name, header: Header, message: Message, fill: u8| Sample {
        name,
        header: Header {
            flags: header.flags | Flags::SIGNED,
            ..header
        },
        message,
        tag: vec![fill; 64],
    };
    vec![
        s(
            "access_request_normal",
            header(MessageType::ACCESS_REQUEST, ack, 1, 0),
            AccessRequest {
                mode: AccessMode::Normal,
                profile: SecureProfile::Guide,
                min_version: 1,
                max_version: 1,
                key_exchange: None,
            }
            .into(),
        ),
        signed(
            "access_request_secure",
            header(MessageType::ACCESS_REQUEST, ack, 1, 0),
            AccessRequest {
                mode: AccessMode::Secure,
                profile: SecureProfile::Fast,
                min_version: 1,
                max_version: 1,
                key_exchange: Some(KeyExchangeInit {
                    id: id.clone(),
                    key_id: [0xAB; 32],
                    ephemeral: ephemeral_a,
                }),
            }
            .into(),
            0x55,
        ),
        s(
            "access_response_normal",
            header(MessageType::ACCESS_RESPONSE, resp, 1, 5),
            AccessResponse {
                request_seq: 1,
                result: ResultCode::Ok,
                mode: AccessMode::Normal,
                profile: SecureProfile::Guide,
                version: 1,
                session_id: 77,
                server_time_ms: T0 + 4,
                key_exchange: None,
            }
            .into(),
        ),
        signed(
            "access_response_secure",
            header(MessageType::ACCESS_RESPONSE, resp, 1, 5),
            AccessResponse {
                request_seq: 1,
                result: ResultCode::Ok,
                mode: AccessMode::Secure,
                profile: SecureProfile::Fast,
                version: 1,
                session_id: 78,
                server_time_ms: T0 + 4,
                key_exchange: Some(KeyExchangeReply {
                    id: id.clone(),
                    ephemeral: ephemeral_b,
                    confirm: [0x33; 32],
                }),
            }
            .into(),
            0x66,
        ),
        signed(
            "access_confirm",
            header(MessageType::ACCESS_CONFIRM, resp, 2, 9),
            AccessConfirm {
                request_seq: 1,
                confirm: [0x44; 32],
            }
            .into(),
            0x77,
        ),
        s(
            "close",
            header(MessageType::CLOSE, none, 99, 60_000),
            Close {
                reason: CloseReason::Shutdown,
                detail: "reboot".into(),
            }
            .into(),
        ),
        s(
            "close_not_active",
            header(MessageType::CLOSE, none, 1, 2),
            Close::not_active(Some(&"10.0.1.12:7700".parse().expect("an address"))).into(),
        ),
        s(
            "register_request",
            header(MessageType::REGISTER_REQUEST, ack, 2, 10),
            register_request().into(),
        ),
        s(
            "register_response",
            header(MessageType::REGISTER_RESPONSE, resp, 2, 12),
            RegisterResponse {
                request_seq: 2,
                result: ResultCode::Ok,
                config_version: 5,
                server_time_ms: T0 + 11,
            }
            .into(),
        ),
        s(
            "config_push",
            header(MessageType::CONFIG_PUSH, ack, 3, 13),
            config_push().into(),
        ),
        s(
            "config_push_addresses",
            header(MessageType::CONFIG_PUSH, ack, 3, 13),
            config_push_addresses().into(),
        ),
        s(
            "heartbeat",
            header(MessageType::HEARTBEAT, ack, 4, 1000),
            Heartbeat {}.into(),
        ),
        s(
            "heartbeat_ack",
            header(MessageType::HEARTBEAT_ACK, resp, 4, 1001),
            HeartbeatAck {
                request_seq: 4,
                server_time_ms: T0 + 1001,
            }
            .into(),
        ),
        s(
            "param_query",
            header(MessageType::PARAM_QUERY, ack, 5, 2000),
            ParamQuery {
                params: vec![ParamType::MaxLinearSpeed, ParamType::FirmwareVersion],
            }
            .into(),
        ),
        s(
            "param_query_response",
            header(MessageType::PARAM_QUERY_RESPONSE, resp, 5, 2002),
            ParamQueryResponse {
                request_seq: 5,
                result: ResultCode::Ok,
                values: vec![
                    Param {
                        param: ParamType::MaxLinearSpeed,
                        value: ParamValue::F32(2.0),
                    },
                    Param {
                        param: ParamType::FirmwareVersion,
                        value: ParamValue::Text("3.4.1".into()),
                    },
                ],
            }
            .into(),
        ),
        s(
            "param_set",
            header(MessageType::PARAM_SET, ack, 6, 3000),
            ParamSet {
                values: vec![
                    Param {
                        param: ParamType::StatusPeriod,
                        value: ParamValue::U32(200),
                    },
                    Param {
                        param: ParamType::MotionWarning,
                        value: ParamValue::Bool(true),
                    },
                ],
            }
            .into(),
        ),
        s(
            "param_set_response",
            header(MessageType::PARAM_SET_RESPONSE, resp, 6, 3002),
            ParamSetResponse {
                request_seq: 6,
                result: ResultCode::Ok,
                results: vec![
                    ParamResult {
                        param: ParamType::StatusPeriod,
                        result: ResultCode::Ok,
                    },
                    ParamResult {
                        param: ParamType::MotionWarning,
                        result: ResultCode::Ok,
                    },
                ],
            }
            .into(),
        ),
        s(
            "motion_command",
            header(MessageType::MOTION_COMMAND, ack, 7, 4000),
            motion_command().into(),
        ),
        s(
            "task_control",
            header(MessageType::TASK_CONTROL, ack, 8, 5000),
            TaskControl {
                task_id: 123,
                op: TaskOp::Pause,
            }
            .into(),
        ),
        s(
            "safety_stop",
            header(MessageType::SAFETY_STOP, ack, 12, 9500),
            SafetyStop {
                op: StopOp::Stop,
                reason: StopReason::Overlap,
                episode: 7,
                other_agv_id: 1002,
            }
            .into(),
        ),
        s(
            "task_progress",
            header(MessageType::TASK_PROGRESS, none, 40, 9000),
            TaskProgress {
                task_id: 123,
                segment: 0,
                state: TaskState::Running,
                last_node_id: 1002,
                last_node_sequence: 2,
                distance_since_last_node: 0.35,
                actions: vec![ActionStatus {
                    action_id: 1,
                    state: ActuatorState::Idle,
                }],
                result: ResultCode::Ok,
            }
            .into(),
        ),
        s(
            "charge_control",
            header(MessageType::CHARGE_CONTROL, ack, 9, 6000),
            ChargeControl {
                op: ChargeOp::Start,
                charger_node_id: 1004,
                target_pct: 90.0,
            }
            .into(),
        ),
        s(
            "charge_result",
            header(MessageType::CHARGE_RESULT, resp, 41, 9500),
            ChargeResult {
                request_seq: 9,
                result: ResultCode::Ok,
                battery_pct: 31.5,
                charging: true,
            }
            .into(),
        ),
        s(
            "nav_switch",
            header(MessageType::NAV_SWITCH, ack, 10, 7000),
            NavSwitch {
                target: NavigationMode::QrCode,
                map_id: 1,
                initial_pose: Some(pose(40.0, 12.0, 3.1416)),
            }
            .into(),
        ),
        s(
            "nav_switch_result",
            header(MessageType::NAV_SWITCH_RESULT, resp, 42, 7300),
            NavSwitchResult {
                request_seq: 10,
                result: ResultCode::Ok,
                mode: NavigationMode::QrCode,
                localisation_quality: 100,
            }
            .into(),
        ),
        s(
            "map_switch",
            header(MessageType::MAP_SWITCH, ack, 11, 8000),
            MapSwitch {
                target_map_id: 2,
                target_map_version: 7,
                initial_pose: pose(5.0, 2.5, 1.5708),
                lift_id: 1,
                floor: 2,
                navigation: NavigationMode::Slam,
            }
            .into(),
        ),
        s(
            "map_switch_result",
            header(MessageType::MAP_SWITCH_RESULT, resp, 43, 8900),
            MapSwitchResult {
                request_seq: 11,
                result: ResultCode::Ok,
                map_id: 2,
                localisation_quality: 88,
                pose: pose(5.02, 2.49, 1.571),
            }
            .into(),
        ),
        s(
            "space_request",
            header(MessageType::SPACE_REQUEST, ack, 44, 10_000),
            SpaceRequest {
                map_id: 1,
                region: Region::Rectangle {
                    center: pose(20.0, 4.0, 0.0),
                    length: 3.0,
                    width: 2.0,
                },
                limit: SpaceLimit::Free,
                duration_ms: 30_000,
                reason: SpaceReason::ObstacleAvoidance,
            }
            .into(),
        ),
        s(
            "space_grant",
            header(MessageType::SPACE_GRANT, resp, 12, 10_002),
            SpaceGrant {
                request_seq: 44,
                grant_id: 501,
                map_id: 1,
                region: Region::Rectangle {
                    center: pose(20.0, 4.0, 0.0),
                    length: 3.0,
                    width: 2.0,
                },
                limit: SpaceLimit::Free,
                expires_at_ms: T0 + 40_002,
            }
            .into(),
        ),
        s(
            "space_request_polygon",
            header(MessageType::SPACE_REQUEST, ack, 45, 11_000),
            SpaceRequest {
                map_id: 1,
                region: Region::Polygon {
                    points: vec![
                        point(19.0, 3.0),
                        point(22.0, 3.0),
                        point(22.0, 5.5),
                        point(19.0, 5.0),
                    ],
                },
                limit: SpaceLimit::TranslateOnly,
                duration_ms: 10_000,
                reason: SpaceReason::DockingAdjustment,
            }
            .into(),
        ),
        s(
            "space_request_circle",
            header(MessageType::SPACE_REQUEST, ack, 46, 12_000),
            SpaceRequest {
                map_id: 1,
                region: Region::Circle {
                    center: point(20.0, 4.0),
                    radius: 1.5,
                },
                limit: SpaceLimit::RotateOnly,
                duration_ms: 5_000,
                reason: SpaceReason::LocalisationRecovery,
            }
            .into(),
        ),
        s(
            "space_request_corridor",
            header(MessageType::SPACE_REQUEST, ack, 47, 13_000),
            SpaceRequest {
                map_id: 1,
                region: Region::Corridor {
                    points: vec![point(18.0, 4.0), point(21.0, 5.0), point(24.0, 4.0)],
                    half_width: 0.8,
                },
                limit: SpaceLimit::Free,
                duration_ms: 20_000,
                reason: SpaceReason::ObstacleAvoidance,
            }
            .into(),
        ),
        s(
            "space_deny",
            header(MessageType::SPACE_DENY, resp, 13, 13_002),
            SpaceDeny {
                request_seq: 47,
                reason: DenyReason::Reserved,
                retry_after_ms: 2_000,
            }
            .into(),
        ),
        s(
            "space_release",
            header(MessageType::SPACE_RELEASE, ack, 48, 25_000),
            SpaceRelease { grant_id: 501 }.into(),
        ),
        s(
            "space_revoke",
            header(MessageType::SPACE_REVOKE, ack, 14, 26_000),
            SpaceRevoke {
                grant_id: 501,
                reason: RevokeReason::Operator,
            }
            .into(),
        ),
        s(
            "status_report",
            header(MessageType::STATUS_REPORT, none, 50, 30_000),
            status_report().into(),
        ),
        // the report of an AGV that has heard nothing for a heartbeat period asks for an
        // answer (docs/protocol.md 4.1)
        s(
            "status_report_asking",
            header(MessageType::STATUS_REPORT, ack, 60, 31_000),
            status_report().into(),
        ),
        s(
            "operation_report",
            header(MessageType::OPERATION_REPORT, none, 51, 60_000),
            OperationReport {
                odometer_m: 182_345.5,
                run_time_s: 3_600_000,
                moving_time_s: 2_100_000,
                charge_cycles: 412,
                battery_health_pct: 96.0,
                tasks_completed: 18_230,
                error_counters: vec![ErrorCounter {
                    code: 0x0301,
                    count: 12,
                }],
                extensions: vec![],
            }
            .into(),
        ),
        s(
            "ack",
            header(MessageType::ACK, resp, 52, 4003),
            Ack {
                request_seq: 7,
                request_type: MessageType::MOTION_COMMAND,
                result: ResultCode::Ok,
                detail: String::new(),
            }
            .into(),
        ),
        s(
            "status_ack",
            header(MessageType::ACK, resp, 53, 31_002),
            Ack {
                request_seq: 60,
                request_type: MessageType::STATUS_REPORT,
                result: ResultCode::Ok,
                detail: String::new(),
            }
            .into(),
        ),
        s(
            "error",
            header(MessageType::ERROR, none, 15, 30_010),
            ErrorReport {
                request_seq: 50,
                code: ErrorCode::InvalidField,
                detail: "offset 58".into(),
            }
            .into(),
        ),
    ]
}

/// A normal-mode `RcsSession` past access and registration of the sample AGV, as a server holds
/// one per connected AGV (the session tests and the cost harnesses start from it).
pub fn established_session() -> protocol::session::RcsSession<protocol::session::testing::AcceptAll>
{
    use protocol::session::{RcsEvent, RcsPolicy, RcsSession, SessionConfig};
    let policy = RcsPolicy {
        secure_required: false,
        secure_offered: true,
        allow_fast: true,
    };
    let mut s = RcsSession::new(
        SessionConfig::default(),
        policy,
        protocol::session::testing::AcceptAll,
        config_push(),
        1,
        T0,
    );
    for name in ["access_request_normal", "register_request"] {
        let sample = all()
            .into_iter()
            .find(|s| s.name == name)
            .expect("a sample");
        let mut w = bytes::BytesMut::new();
        protocol::frame::encode_message(&mut w, sample.header, &sample.message, 65536)
            .expect("encodes");
        s.handle_input(T0, &w);
        while let Some(event) = s.poll_event() {
            if let RcsEvent::RegistrationRequested(_) = event {
                s.accept_registration(T0, ResultCode::Ok)
                    .expect("registering");
            }
        }
    }
    while s.poll_transmit().is_some() {}
    assert!(s.is_established());
    s
}
