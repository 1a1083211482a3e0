//! The plain C structs of the ABI: the session's configuration, the messages an AGV sends, and
//! the events it receives.
//!
//! Enumerated fields are integers holding the `RCS_*` constants of [`crate::enums`]: a value
//! the protocol does not define is refused with `RCS_STATUS_INVALID_ARGUMENT`, never trusted.
//! Lists are a pointer and a length (the pointer may be NULL when the length is 0). Strings are
//! NUL-terminated UTF-8 (NULL is the empty string).
//!
//! In an event, every pointer points into memory the session owns: it stays valid until the
//! next `rcs_agv_poll_event` or `rcs_agv_free` on that session.

use core::ffi::c_char;
use core::ptr;

use crate::enums::*;

mod event;
pub use event::*;

/// Outcome of every function of the ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcsStatus {
    /// Done.
    Ok = 0,
    /// Nothing to take: no frame to transmit, no event, no timer (not an error).
    Empty = 1,
    /// A pointer argument was NULL.
    NullPointer = 2,
    /// An argument is out of range: an enumerated value the protocol does not define, a list
    /// too long, a string not UTF-8 or too long, a value the message's rules refuse (a battery
    /// level over 100 %, a region with a zero radius...). `rcs_agv_last_error` says which.
    InvalidArgument = 3,
    /// The caller's buffer is too small for the next frame: `*written` holds the size it needs
    /// and the frame stays queued.
    BufferTooSmall = 4,
    /// The session is not established (not yet registered, or closed).
    NotEstablished = 5,
    /// Too many requests await an answer; try again after some are answered.
    Busy = 6,
    /// A key given for secure mode is not a valid SM2 key.
    InvalidKey = 7,
    /// The session was used in a state that does not allow the call (`rcs_agv_connect` twice).
    State = 8,
    /// An internal error (a bug) was caught at the boundary; the session is unusable from now
    /// on (every call but `rcs_agv_free` returns this).
    Internal = 9,
}

/// A point on a map, m.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsPoint {
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
}

/// A pose on a map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsPose {
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading, rad (counter-clockwise from the x axis).
    pub theta: f64,
}

/// The AGV's outline around its reference point, m (registration).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsFootprint {
    /// Ahead of the reference point.
    pub front: f32,
    /// Behind it.
    pub rear: f32,
    /// To its left.
    pub left: f32,
    /// To its right.
    pub right: f32,
    /// Height.
    pub height: f32,
}

/// Speed and acceleration limits (registration).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsSpeedLimits {
    /// Forward, m/s.
    pub forward: f32,
    /// Reverse, m/s.
    pub reverse: f32,
    /// Lateral, m/s.
    pub lateral: f32,
    /// Angular, rad/s.
    pub angular: f32,
    /// Acceleration, m/s².
    pub acceleration: f32,
    /// Deceleration, m/s².
    pub deceleration: f32,
}

/// A map the AGV holds (registration).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsMapInfo {
    /// Map id.
    pub map_id: u16,
    /// Its version.
    pub version: u32,
}

/// An actuator the AGV has (registration).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsActuatorInfo {
    /// Actuator id.
    pub actuator_id: u8,
    /// Its type.
    pub kind: RcsActuatorType,
    /// Lowest position.
    pub min: f32,
    /// Highest position.
    pub max: f32,
}

/// A session's configuration: who the AGV is, how it asks for access, its timers, and what it
/// registers. Fill it with `rcs_agv_config_init` first, then set what differs.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsAgvConfig {
    /// The AGV's id.
    pub agv_id: u32,
    /// Access mode asked for: `RCS_ACCESS_MODE_NORMAL` (`rcs_agv_new`) or
    /// `RCS_ACCESS_MODE_SECURE` (`rcs_agv_new_secure`, which sets it).
    pub mode: RcsAccessMode,
    /// Secure profile asked for (secure mode).
    pub profile: RcsSecureProfile,
    /// Heartbeat period, ms (replaced by the RCS's configuration push).
    pub heartbeat_period_ms: u32,
    /// Nothing heard for this long loses the link, ms (replaced by the configuration push).
    pub link_timeout_ms: u32,
    /// Time allowed from connect to registration, ms.
    pub handshake_timeout_ms: u32,
    /// Time to wait for an answer before resending a request, ms.
    pub command_timeout_ms: u32,
    /// Resends of a request before it is reported unanswered.
    pub max_retransmits: u8,
    /// Largest frame sent or received, bytes.
    pub max_frame_len: u32,
    /// Registration: the AGV type.
    pub agv_type: RcsAgvType,
    /// Registration: vendor.
    pub vendor: *const c_char,
    /// Registration: model.
    pub model: *const c_char,
    /// Registration: serial number.
    pub serial: *const c_char,
    /// Registration: firmware version.
    pub firmware: *const c_char,
    /// Registration: footprint.
    pub footprint: RcsFootprint,
    /// Registration: speed limits.
    pub speeds: RcsSpeedLimits,
    /// Registration: load capacity, kg.
    pub load_capacity_kg: f32,
    /// Registration: battery capacity, Wh.
    pub battery_capacity_wh: f32,
    /// Registration: battery nominal voltage, V.
    pub battery_nominal_voltage: f32,
    /// Registration: navigation modes supported (`RCS_NAVIGATION_MODE_*`).
    pub navigation_modes: *const RcsNavigationMode,
    /// Their number.
    pub navigation_modes_len: usize,
    /// Registration: maps held.
    pub maps: *const RcsMapInfo,
    /// Their number.
    pub maps_len: usize,
    /// Registration: actuators.
    pub actuators: *const RcsActuatorInfo,
    /// Their number.
    pub actuators_len: usize,
}

/// The keys of secure mode (`rcs_agv_new_secure`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsSecureKeys {
    /// The AGV's SM2 private key: 32 bytes, big-endian (the key the RCS has enrolled the public
    /// half of).
    pub agv_private_key: *const u8,
    /// The RCS's SM2 public key: 65 bytes, SEC1 uncompressed (`04 || x || y`).
    pub rcs_public_key: *const u8,
    /// The distinguishing identifier of both keys (GB/T 32918); NULL: the default
    /// `1234567812345678`.
    pub id: *const c_char,
}

/// Velocity in the AGV frame.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsVelocity {
    /// Forward, m/s.
    pub vx: f32,
    /// Leftward, m/s.
    pub vy: f32,
    /// Angular, rad/s.
    pub omega: f32,
}

/// A load on board.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsLoad {
    /// Load id (barcode, RFID); NULL or "" when unknown.
    pub load_id: *const c_char,
    /// Weight, kg (0: unknown).
    pub weight_kg: f32,
}

/// One actuator's state.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsActuatorStatus {
    /// Actuator id.
    pub actuator_id: u8,
    /// Type.
    pub kind: RcsActuatorType,
    /// State.
    pub state: RcsActuatorState,
    /// Position (height m, angle rad...).
    pub position: f32,
}

/// An active alarm.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsAlarm {
    /// Alarm code.
    pub code: u16,
    /// Level.
    pub level: RcsAlarmLevel,
    /// What it refers to (actuator, node or edge id; 0: the AGV).
    pub reference: u32,
}

/// The periodic status report (`rcs_agv_send_status`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsStatusReport {
    /// Map.
    pub map_id: u16,
    /// Pose on it.
    pub pose: RcsPose,
    /// Localisation quality 0..=100 (0: lost).
    pub localisation_quality: u8,
    /// Navigation mode in use.
    pub navigation_mode: RcsNavigationMode,
    /// Velocity.
    pub velocity: RcsVelocity,
    /// AGV state.
    pub state: RcsAgvState,
    /// Battery level 0..=100, %.
    pub battery_pct: f32,
    /// Battery voltage, V.
    pub battery_voltage: f32,
    /// Charging now.
    pub charging: bool,
    /// Emergency stop pressed or triggered.
    pub e_stop: bool,
    /// Loads on board.
    pub loads: *const RcsLoad,
    /// Their number.
    pub loads_len: usize,
    /// Actuator states.
    pub actuators: *const RcsActuatorStatus,
    /// Their number.
    pub actuators_len: usize,
    /// Current task (0: none).
    pub task_id: u32,
    /// Current segment of the task.
    pub segment: u16,
    /// Last node reached.
    pub last_node_id: u32,
    /// Its sequence number in the task.
    pub last_node_sequence: u16,
    /// Edge being driven (0: standing on a node).
    pub edge_id: u32,
    /// Distance driven since the last node, m.
    pub distance_since_last_node: f32,
    /// Safe-space grant in use (0: none).
    pub grant_id: u32,
    /// Active alarms.
    pub alarms: *const RcsAlarm,
    /// Their number.
    pub alarms_len: usize,
}

/// The state of one action (task progress).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsActionStatus {
    /// Action id.
    pub action_id: u32,
    /// Its state.
    pub state: RcsActuatorState,
}

/// Task progress (`rcs_agv_send_task_progress`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsTaskProgress {
    /// Task id.
    pub task_id: u32,
    /// Segment being executed.
    pub segment: u16,
    /// Task state.
    pub state: RcsTaskState,
    /// Last node reached.
    pub last_node_id: u32,
    /// Its sequence number.
    pub last_node_sequence: u16,
    /// Distance driven since it, m.
    pub distance_since_last_node: f32,
    /// Actions of the task that have started or finished.
    pub actions: *const RcsActionStatus,
    /// Their number.
    pub actions_len: usize,
    /// Outcome (for `RCS_TASK_STATE_FAILED`: why).
    pub result: RcsResultCode,
}

/// How often an error occurred (operation report).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsErrorCounter {
    /// Alarm code.
    pub code: u16,
    /// Occurrences since commissioning.
    pub count: u32,
}

/// Operation data (`rcs_agv_send_operation_report`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsOperationReport {
    /// Odometer, m.
    pub odometer_m: f64,
    /// Powered-on time, s.
    pub run_time_s: u64,
    /// Time spent moving, s.
    pub moving_time_s: u64,
    /// Full charge cycles.
    pub charge_cycles: u32,
    /// Battery state of health, %.
    pub battery_health_pct: f32,
    /// Tasks completed.
    pub tasks_completed: u32,
    /// Error counters.
    pub error_counters: *const RcsErrorCounter,
    /// Their number.
    pub error_counters_len: usize,
}

/// The shape of a region: an `RCS_REGION_*` value.
pub type RcsRegionKind = u8;
/// A rectangle: `center` (with its heading), `length` along the heading, `width` across.
pub const RCS_REGION_RECTANGLE: RcsRegionKind = 0;
/// A polygon of 3..=64 `points`.
pub const RCS_REGION_POLYGON: RcsRegionKind = 1;
/// A circle: `center` (x, y) and `radius`.
pub const RCS_REGION_CIRCLE: RcsRegionKind = 2;
/// A corridor along 2..=64 `points`, `half_width` to each side.
pub const RCS_REGION_CORRIDOR: RcsRegionKind = 3;

/// A region of space on a map: the fields its `kind` names are used, the others ignored.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsRegion {
    /// `RCS_REGION_*`.
    pub kind: RcsRegionKind,
    /// Rectangle: its centre and heading; circle: its centre (`theta` ignored).
    pub center: RcsPose,
    /// Rectangle: length, m.
    pub length: f32,
    /// Rectangle: width, m.
    pub width: f32,
    /// Circle: radius, m.
    pub radius: f32,
    /// Corridor: half width, m.
    pub half_width: f32,
    /// Polygon and corridor: the points.
    pub points: *const RcsPoint,
    /// Their number.
    pub points_len: usize,
}

impl Default for RcsRegion {
    fn default() -> Self {
        Self {
            kind: RCS_REGION_CIRCLE,
            center: RcsPose::default(),
            length: 0.0,
            width: 0.0,
            radius: 0.0,
            half_width: 0.0,
            points: ptr::null(),
            points_len: 0,
        }
    }
}

/// A safe-space request (`rcs_agv_request_space`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsSpaceRequest {
    /// Map.
    pub map_id: u16,
    /// The space asked for.
    pub region: RcsRegion,
    /// What the AGV will do in it.
    pub limit: RcsSpaceLimit,
    /// For how long, ms.
    pub duration_ms: u32,
    /// Why.
    pub reason: RcsSpaceReason,
}

/// A parameter's value: the field its `kind` names is used.
pub type RcsParamValueKind = u8;
/// `u32_value`.
pub const RCS_PARAM_VALUE_U32: RcsParamValueKind = 0;
/// `f32_value`.
pub const RCS_PARAM_VALUE_F32: RcsParamValueKind = 1;
/// `bool_value`.
pub const RCS_PARAM_VALUE_BOOL: RcsParamValueKind = 2;
/// `text`.
pub const RCS_PARAM_VALUE_TEXT: RcsParamValueKind = 3;

/// A parameter and its value (ParamSet from the RCS, answers to ParamQuery).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsParam {
    /// Which parameter.
    pub param: RcsParamType,
    /// `RCS_PARAM_VALUE_*`.
    pub kind: RcsParamValueKind,
    /// The value when `kind` is `RCS_PARAM_VALUE_U32`.
    pub u32_value: u32,
    /// The value when `kind` is `RCS_PARAM_VALUE_F32`.
    pub f32_value: f32,
    /// The value when `kind` is `RCS_PARAM_VALUE_BOOL`.
    pub bool_value: bool,
    /// The value when `kind` is `RCS_PARAM_VALUE_TEXT`.
    pub text: *const c_char,
}

/// The outcome of writing one parameter (answer to ParamSet).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RcsParamResult {
    /// Which parameter.
    pub param: RcsParamType,
    /// Its result.
    pub result: RcsResultCode,
}
