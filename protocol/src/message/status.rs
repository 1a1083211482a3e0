//! Status report and operation-data report.

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::wire_struct;
use crate::types::{
    ActuatorState, ActuatorType, AgvState, AlarmLevel, Extension, NavigationMode, Pose,
};

wire_struct! {
    /// Velocity in the AGV frame.
    pub struct Velocity {
        /// Forward, m/s.
        pub vx: f32,
        /// Leftward, m/s.
        pub vy: f32,
        /// Angular, rad/s (counter-clockwise positive).
        pub omega: f32,
    }
}

wire_struct! {
    /// A load on board.
    pub struct LoadInfo {
        /// Load id (barcode, RFID), may be empty.
        pub load_id: String,
        /// Weight, kg (0: unknown).
        pub weight_kg: f32,
    }
}

wire_struct! {
    /// One actuator's state.
    pub struct ActuatorStatus {
        /// Actuator id.
        pub actuator_id: u8,
        /// Type.
        pub kind: ActuatorType,
        /// State.
        pub state: ActuatorState,
        /// Position (height m, angle rad...).
        pub position: f32,
    }
}

wire_struct! {
    /// An active alarm.
    pub struct Alarm {
        /// Vendor or specification alarm code.
        pub code: u16,
        /// Level.
        pub level: AlarmLevel,
        /// What it refers to (actuator, node or edge id; 0: the AGV).
        pub reference: u32,
    }
}

wire_struct! {
    check = StatusReport::check, generated = StatusReport::make_valid;
    /// AGV → RCS: the periodic state report (every `status_period_ms`, and at once on a state
    /// change). The battery level is within 0..=100 % and the localisation quality within
    /// 0..=100.
    pub struct StatusReport {
        /// Current map.
        pub map_id: u16,
        /// Pose on that map.
        pub pose: Pose,
        /// Localisation quality, 0..=100 (0: lost).
        pub localisation_quality: u8,
        /// Navigation mode in use.
        pub navigation_mode: NavigationMode,
        /// Velocity.
        pub velocity: Velocity,
        /// AGV state.
        pub state: AgvState,
        /// Battery level, %.
        pub battery_pct: f32,
        /// Battery voltage, V.
        pub battery_voltage: f32,
        /// Charging now.
        pub charging: bool,
        /// Emergency stop pressed or triggered.
        pub e_stop: bool,
        /// Loads on board.
        pub loads: Vec<LoadInfo>,
        /// Actuator states.
        pub actuators: Vec<ActuatorStatus>,
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
        pub alarms: Vec<Alarm>,
        /// Vendor extensions.
        pub extensions: Vec<Extension>,
    }
}

impl StatusReport {
    /// An AGV standing still at `pose` on map `map_id`: localised (quality 100) by SLAM, idle,
    /// battery full (voltage 0: not reported), no task, loads, actuators, alarms or grant.
    /// The base a report is built on, the fields that differ set over it
    /// (`StatusReport { battery_pct: 80.0, ..StatusReport::standing(1, pose) }`).
    pub fn standing(map_id: u16, pose: Pose) -> Self {
        Self {
            map_id,
            pose,
            localisation_quality: 100,
            navigation_mode: NavigationMode::Slam,
            velocity: Velocity {
                vx: 0.0,
                vy: 0.0,
                omega: 0.0,
            },
            state: AgvState::Idle,
            battery_pct: 100.0,
            battery_voltage: 0.0,
            charging: false,
            e_stop: false,
            loads: Vec::new(),
            actuators: Vec::new(),
            task_id: 0,
            segment: 0,
            last_node_id: 0,
            last_node_sequence: 0,
            edge_id: 0,
            distance_since_last_node: 0.0,
            grant_id: 0,
            alarms: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn check(&self) -> Result<(), &'static str> {
        if !(0.0..=100.0).contains(&self.battery_pct) {
            return Err("battery level outside 0..=100 %");
        }
        if self.localisation_quality > 100 {
            return Err("localisation quality over 100");
        }
        Ok(())
    }

    #[cfg(feature = "arbitrary")]
    fn make_valid(&mut self) {
        self.battery_pct = self.battery_pct.abs() % 100.0;
        self.localisation_quality %= 101;
    }
}

wire_struct! {
    /// How often an error occurred.
    pub struct ErrorCounter {
        /// Alarm code.
        pub code: u16,
        /// Occurrences since commissioning.
        pub count: u32,
    }
}

wire_struct! {
    /// AGV → RCS: operation data, every `operation_report_period_s`.
    pub struct OperationReport {
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
        pub error_counters: Vec<ErrorCounter>,
        /// Vendor extensions.
        pub extensions: Vec<Extension>,
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::codec::{Reader, Wire};
    use crate::error::{DecodeError, EncodeError};

    fn report(battery_pct: f32, localisation_quality: u8) -> StatusReport {
        StatusReport {
            localisation_quality,
            battery_pct,
            battery_voltage: 48.0,
            ..StatusReport::standing(
                1,
                Pose {
                    x: 1.0,
                    y: 2.0,
                    theta: 0.0,
                },
            )
        }
    }

    #[test]
    fn a_standing_agv_is_a_valid_report() {
        let standing = StatusReport::standing(
            3,
            Pose {
                x: 1.5,
                y: -2.0,
                theta: 0.25,
            },
        );
        let mut w = BytesMut::new();
        standing.encode(&mut w).unwrap();
        assert_eq!(
            StatusReport::decode(&mut Reader::new(&w)).unwrap(),
            standing
        );
        assert_eq!((standing.map_id, standing.state), (3, AgvState::Idle));
    }

    #[test]
    fn battery_and_localisation_outside_their_ranges_are_refused() {
        let mut good = BytesMut::new();
        report(100.0, 100).encode(&mut good).unwrap();
        assert_eq!(
            StatusReport::decode(&mut Reader::new(&good)).unwrap(),
            report(100.0, 100)
        );
        for (battery, quality) in [(-5.0, 90), (100.5, 90), (50.0, 101)] {
            assert!(matches!(
                report(battery, quality).encode(&mut BytesMut::new()),
                Err(EncodeError::InvalidValue { .. })
            ));
            // The same bytes as a valid report with the field patched.
            let mut w = BytesMut::new();
            report(50.0, 90).encode(&mut w).unwrap();
            let mut raw = w.to_vec();
            // map_id 2, pose 24, localisation_quality at 26
            raw[26] = quality;
            // navigation 1, velocity 12, state 1: battery at 27 + 14
            raw[41..45].copy_from_slice(&battery.to_le_bytes());
            assert!(
                matches!(
                    StatusReport::decode(&mut Reader::new(&raw)),
                    Err(DecodeError::InvalidValue { .. })
                ),
                "{battery} {quality}"
            );
        }
    }
}
