//! The events a session hands to C (`rcs_agv_poll_event`): one struct whose `kind` names the
//! members filled, and the plain structs of the messages the RCS sends.

use core::ffi::c_char;
use core::ptr;

use super::{RcsParam, RcsPoint, RcsPose, RcsRegion};
use crate::enums::*;

/// What an event is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcsEventKind {
    /// Access granted: `connected`.
    Connected = 0,
    /// Registration accepted: the session is established (send reports from now on).
    Registered = 1,
    /// A configuration push was applied and acknowledged: `config` (send status reports every
    /// `config.status_period_ms`).
    Configured = 2,
    /// The configuration carries the RCS addresses to fail over along, in order: `addresses`.
    RcsAddresses = 3,
    /// A standby RCS sent the AGV away: `addresses` holds the active instance (length 1) or
    /// nothing (try the next address). `Closed` follows.
    Redirected = 4,
    /// A command from the RCS, to answer: `seq`, `message_type` and the member named after the
    /// message (`motion`, `task_control`, `safety_stop`, `charge_control`, `nav_switch`,
    /// `map_switch`, `space_revoke`, `param_query`, `param_set`); other types carry only
    /// `message_type`.
    Command = 5,
    /// An answer to a request of this AGV: `seq` is the sequence number the send call gave,
    /// `message_type` the answer's type, with `ack`, `space_grant` or `space_deny`.
    Response = 6,
    /// A request got no answer after every resend: `seq`, `message_type`.
    Unanswered = 7,
    /// The RCS found a protocol error in a frame of ours: `error_code`, `seq` (the frame).
    PeerError = 8,
    /// **Stop the AGV**: nothing heard from the RCS within the link timeout. `Closed` follows.
    LinkLost = 9,
    /// The session ended: `closed`. Send what is left to transmit, then close the connection.
    Closed = 10,
}

/// Why a session ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcsCloseCause {
    /// This AGV closed it (`closed.reason`).
    Local = 0,
    /// The RCS sent Close (`closed.reason`).
    Peer = 1,
    /// Access or registration was refused (`closed.result`).
    Refused = 2,
    /// Access and registration did not complete in time.
    HandshakeTimeout = 3,
    /// Nothing heard from the RCS within the link timeout.
    LinkTimeout = 4,
    /// The RCS kept sending bad frames, or authentication failed.
    ProtocolViolation = 5,
    /// Secure mode was asked for and the answer was not a valid signed secure one.
    Downgrade = 6,
}

/// `RcsEventKind::Connected`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsConnected {
    /// Mode granted.
    pub mode: RcsAccessMode,
    /// Profile granted.
    pub profile: RcsSecureProfile,
    /// Session id.
    pub session_id: u32,
    /// The RCS clock when it answered, UTC ms: secure frames are refused when the clocks differ
    /// by more than the skew bound, so correct the AGV's clock with it.
    pub server_time_ms: u64,
}

/// `RcsEventKind::Configured`: the RCS's configuration.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsConfig {
    /// Configuration version.
    pub config_version: u32,
    /// Send a status report this often, ms.
    pub status_period_ms: u32,
    /// Heartbeat period, ms (the session applies it).
    pub heartbeat_period_ms: u32,
    /// Link timeout, ms (the session applies it).
    pub link_timeout_ms: u32,
    /// Send an operation report this often, s.
    pub operation_report_period_s: u32,
    /// Battery level to raise a low-battery alarm at, %.
    pub battery_low_pct: f32,
    /// Battery level to raise a critical alarm at, %.
    pub battery_critical_pct: f32,
    /// Localisation quality below which to raise an alarm.
    pub min_localisation_quality: u8,
    /// Path deviation to raise an alarm at, m.
    pub max_path_deviation: f32,
    /// Site-wide linear speed limit, m/s.
    pub max_linear_speed: f32,
    /// Site-wide angular speed limit, rad/s.
    pub max_angular_speed: f32,
}

/// `RcsEventKind::Closed`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RcsClosed {
    /// Why.
    pub cause: RcsCloseCause,
    /// `Local`, `Peer`: the close reason.
    pub reason: RcsCloseReason,
    /// `Refused`: the result the RCS answered with.
    pub result: RcsResultCode,
}

/// A parameter of an action.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsActionParam {
    /// Which parameter.
    pub param: RcsActuatorParam,
    /// Its value.
    pub value: f32,
}

/// An actuator action at a node.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsAction {
    /// Action id, unique within the task.
    pub action_id: u32,
    /// Which actuator.
    pub actuator_id: u8,
    /// Its type.
    pub actuator: RcsActuatorType,
    /// The lifting operation.
    pub adjustment: RcsLiftAdjustment,
    /// Whether motion waits for the action to finish.
    pub blocking: bool,
    /// Parameters.
    pub params: *const RcsActionParam,
    /// Their number.
    pub params_len: usize,
}

/// A node of a path.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsPathNode {
    /// Node id.
    pub node_id: u32,
    /// Position in the task's sequence (even).
    pub sequence: u16,
    /// Target pose.
    pub pose: RcsPose,
    /// What the AGV does here.
    pub attribute: RcsTargetAttribute,
    /// Actions to run here, in order.
    pub actions: *const RcsAction,
    /// Their number.
    pub actions_len: usize,
}

/// An edge of a path, from the node before it to the node after it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsPathEdge {
    /// Edge id.
    pub edge_id: u32,
    /// Position in the task's sequence (odd).
    pub sequence: u16,
    /// Geometry.
    pub trajectory: RcsTrajectoryType,
    /// Control points (none for a line, one for an arc, one or two for a Bézier curve).
    pub control_points: *const RcsPoint,
    /// Their number.
    pub control_points_len: usize,
    /// How the AGV moves along it.
    pub movement: RcsMovementType,
    /// Speed limit, m/s (0: none).
    pub max_speed: f32,
}

/// A MotionCommand: a path for a task. The first `released_nodes` nodes may be driven; the rest
/// is preview. A later command of the same task with a higher `segment` replaces the path from
/// its first node on (docs/protocol.md 6.6). Answer with `rcs_agv_ack`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsMotionCommand {
    /// Task id.
    pub task_id: u32,
    /// What the task does.
    pub task_type: RcsTaskType,
    /// Update counter within the task.
    pub segment: u16,
    /// Map of the path.
    pub map_id: u16,
    /// Nodes (at least one).
    pub nodes: *const RcsPathNode,
    /// Their number.
    pub nodes_len: usize,
    /// Edges: `edges[i]` joins `nodes[i]` and `nodes[i + 1]`.
    pub edges: *const RcsPathEdge,
    /// Their number (`nodes_len - 1`).
    pub edges_len: usize,
    /// How many nodes are released.
    pub released_nodes: u16,
    /// Task-wide speed limit, m/s (0: none).
    pub max_speed: f32,
}

/// TaskControl: cancel, pause or resume. Answer with `rcs_agv_ack`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsTaskControl {
    /// Task id (0: whatever the AGV is doing).
    pub task_id: u32,
    /// `RCS_TASK_OP_*`.
    pub op: RcsTaskOp,
}

/// SafetyStop: brake at once (the released path is void), or the stop is lifted. Answer with
/// `rcs_agv_ack`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsSafetyStop {
    /// `RCS_STOP_OP_*`.
    pub op: RcsStopOp,
    /// Why.
    pub reason: RcsStopReason,
    /// The safety episode.
    pub episode: u32,
    /// The other AGV involved (0: none).
    pub other_agv_id: u32,
}

/// ChargeControl. Answer with `rcs_agv_answer_charge`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsChargeControl {
    /// `RCS_CHARGE_OP_*`.
    pub op: RcsChargeOp,
    /// The charger's node.
    pub charger_node_id: u32,
    /// Charge up to, %.
    pub target_pct: f32,
}

/// NavSwitch. Answer with `rcs_agv_answer_nav_switch`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsNavSwitch {
    /// Mode to switch to.
    pub target: RcsNavigationMode,
    /// Map.
    pub map_id: u16,
    /// Whether `initial_pose` is given.
    pub has_initial_pose: bool,
    /// Pose to localise at.
    pub initial_pose: RcsPose,
}

/// MapSwitch. Answer with `rcs_agv_answer_map_switch`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsMapSwitch {
    /// Map to switch to.
    pub target_map_id: u16,
    /// Its version.
    pub target_map_version: u32,
    /// Pose on it.
    pub initial_pose: RcsPose,
    /// The lift ridden (0: none).
    pub lift_id: u16,
    /// The floor.
    pub floor: i32,
    /// Navigation mode on the new map.
    pub navigation: RcsNavigationMode,
}

/// SpaceRevoke: a granted space is taken back. Answer with `rcs_agv_ack`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsSpaceRevoke {
    /// The grant.
    pub grant_id: u32,
    /// Why.
    pub reason: RcsRevokeReason,
}

/// ParamQuery: the parameters asked for. Answer with `rcs_agv_answer_param_query`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsParamQuery {
    /// `RCS_PARAM_TYPE_*` values.
    pub params: *const RcsParamType,
    /// Their number.
    pub params_len: usize,
}

/// ParamSet: the values to write. Answer with `rcs_agv_answer_param_set`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsParamSet {
    /// The values.
    pub values: *const RcsParam,
    /// Their number.
    pub values_len: usize,
}

/// An Ack answering a request of this AGV.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsAck {
    /// The type of the request it answers.
    pub request_type: RcsMessageType,
    /// Its result.
    pub result: RcsResultCode,
    /// Detail text ("" when none).
    pub detail: *const c_char,
}

/// SpaceGrant: the space may be used until `expires_at_ms`; release it with
/// `rcs_agv_release_space`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsSpaceGrant {
    /// Grant id (report it in `grant_id` while in the space).
    pub grant_id: u32,
    /// Map.
    pub map_id: u16,
    /// The space granted.
    pub region: RcsRegion,
    /// What may be done in it.
    pub limit: RcsSpaceLimit,
    /// Until when, UTC ms.
    pub expires_at_ms: u64,
}

/// SpaceDeny.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsSpaceDeny {
    /// Why.
    pub reason: RcsDenyReason,
    /// Ask again after this long, ms (0: do not).
    pub retry_after_ms: u32,
}

/// An event for the AGV application (`rcs_agv_poll_event`): `kind` says which members are
/// filled; the others are zero. Pointers stay valid until the next `rcs_agv_poll_event` or
/// `rcs_agv_free` on the session.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsAgvEvent {
    /// What happened.
    pub kind: RcsEventKind,
    /// `Command`: its sequence number (answer with it); `Response`: the sequence number of the
    /// request answered, as the send call returned it; `Unanswered`: the request's;
    /// `PeerError`: the frame's.
    pub seq: u32,
    /// `Command`, `Response`, `Unanswered`: the message type.
    pub message_type: RcsMessageType,
    /// `Connected`.
    pub connected: RcsConnected,
    /// `Configured`.
    pub config: RcsConfig,
    /// `RcsAddresses`, `Redirected`: NUL-terminated `host:port` strings.
    pub addresses: *const *const c_char,
    /// Their number.
    pub addresses_len: usize,
    /// `Closed`.
    pub closed: RcsClosed,
    /// `PeerError`: what was wrong.
    pub error_code: RcsErrorCode,
    /// `Command` MotionCommand.
    pub motion: RcsMotionCommand,
    /// `Command` TaskControl.
    pub task_control: RcsTaskControl,
    /// `Command` SafetyStop.
    pub safety_stop: RcsSafetyStop,
    /// `Command` ChargeControl.
    pub charge_control: RcsChargeControl,
    /// `Command` NavSwitch.
    pub nav_switch: RcsNavSwitch,
    /// `Command` MapSwitch.
    pub map_switch: RcsMapSwitch,
    /// `Command` SpaceRevoke.
    pub space_revoke: RcsSpaceRevoke,
    /// `Command` ParamQuery.
    pub param_query: RcsParamQuery,
    /// `Command` ParamSet.
    pub param_set: RcsParamSet,
    /// `Response` Ack.
    pub ack: RcsAck,
    /// `Response` SpaceGrant.
    pub space_grant: RcsSpaceGrant,
    /// `Response` SpaceDeny.
    pub space_deny: RcsSpaceDeny,
}

impl RcsAgvEvent {
    /// An event of `kind` with every other member zero.
    pub(crate) fn empty(kind: RcsEventKind) -> Self {
        Self {
            kind,
            seq: 0,
            message_type: 0,
            connected: RcsConnected::default(),
            config: RcsConfig::default(),
            addresses: ptr::null(),
            addresses_len: 0,
            closed: RcsClosed {
                cause: RcsCloseCause::Local,
                reason: 0,
                result: 0,
            },
            error_code: 0,
            motion: RcsMotionCommand {
                task_id: 0,
                task_type: 0,
                segment: 0,
                map_id: 0,
                nodes: ptr::null(),
                nodes_len: 0,
                edges: ptr::null(),
                edges_len: 0,
                released_nodes: 0,
                max_speed: 0.0,
            },
            task_control: RcsTaskControl::default(),
            safety_stop: RcsSafetyStop::default(),
            charge_control: RcsChargeControl::default(),
            nav_switch: RcsNavSwitch::default(),
            map_switch: RcsMapSwitch::default(),
            space_revoke: RcsSpaceRevoke::default(),
            param_query: RcsParamQuery {
                params: ptr::null(),
                params_len: 0,
            },
            param_set: RcsParamSet {
                values: ptr::null(),
                values_len: 0,
            },
            ack: RcsAck {
                request_type: 0,
                result: 0,
                detail: ptr::null(),
            },
            space_grant: RcsSpaceGrant {
                grant_id: 0,
                map_id: 0,
                region: RcsRegion::default(),
                limit: 0,
                expires_at_ms: 0,
            },
            space_deny: RcsSpaceDeny::default(),
        }
    }
}
