//! AGV registration: identity, dimensions, capabilities.

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::wire_struct;
use crate::types::{ActuatorType, AgvType, Extension, NavigationMode, ResultCode};

wire_struct! {
    /// The AGV's footprint: the rectangle enclosing body and load, relative to its control
    /// point (rotation centre), metres. `front` and `rear` are along the heading, `left` and
    /// `right` across it; all are non-negative distances from the control point.
    pub struct Footprint {
        /// Distance to the front edge, m.
        pub front: f32,
        /// Distance to the rear edge, m.
        pub rear: f32,
        /// Distance to the left edge, m.
        pub left: f32,
        /// Distance to the right edge, m.
        pub right: f32,
        /// Height, m.
        pub height: f32,
    }
}

wire_struct! {
    /// Kinematic limits.
    pub struct SpeedLimits {
        /// Maximum forward speed, m/s.
        pub forward: f32,
        /// Maximum reverse speed, m/s.
        pub reverse: f32,
        /// Maximum lateral speed, m/s (0 for non-holonomic AGVs).
        pub lateral: f32,
        /// Maximum angular speed, rad/s.
        pub angular: f32,
        /// Maximum linear acceleration, m/s².
        pub acceleration: f32,
        /// Maximum linear deceleration, m/s².
        pub deceleration: f32,
    }
}

wire_struct! {
    /// A map the AGV has on board.
    pub struct MapInfo {
        /// Map id (site model).
        pub map_id: u16,
        /// Map version.
        pub version: u32,
    }
}

wire_struct! {
    /// One actuator of the AGV.
    pub struct ActuatorInfo {
        /// Actuator id, unique on this AGV.
        pub actuator_id: u8,
        /// What it is.
        pub kind: ActuatorType,
        /// Lowest position (m or rad as the actuator moves).
        pub min: f32,
        /// Highest position.
        pub max: f32,
    }
}

wire_struct! {
    /// Battery characteristics.
    pub struct BatteryInfo {
        /// Capacity, Wh.
        pub capacity_wh: f32,
        /// Nominal voltage, V.
        pub nominal_voltage: f32,
    }
}

wire_struct! {
    /// AGV → RCS: registers the AGV. Sent after access; the RCS answers with
    /// [`RegisterResponse`] and then pushes the configuration.
    pub struct RegisterRequest {
        /// AGV type.
        pub agv_type: AgvType,
        /// Manufacturer.
        pub vendor: String,
        /// Model.
        pub model: String,
        /// Serial number.
        pub serial: String,
        /// Firmware version.
        pub firmware: String,
        /// Footprint.
        pub footprint: Footprint,
        /// Kinematic limits.
        pub speeds: SpeedLimits,
        /// Maximum load, kg.
        pub load_capacity_kg: f32,
        /// Navigation modes supported.
        pub navigation_modes: Vec<NavigationMode>,
        /// Maps on board.
        pub maps: Vec<MapInfo>,
        /// Actuators.
        pub actuators: Vec<ActuatorInfo>,
        /// Battery.
        pub battery: BatteryInfo,
        /// Vendor extensions.
        pub extensions: Vec<Extension>,
    }
}

wire_struct! {
    /// RCS → AGV: answers a registration.
    pub struct RegisterResponse {
        /// Sequence number of the registration request.
        pub request_seq: u32,
        /// `Ok`, or why registration is refused.
        pub result: ResultCode,
        /// Version of the configuration that will follow.
        pub config_version: u32,
        /// The RCS clock, UTC ms.
        pub server_time_ms: u64,
    }
}
