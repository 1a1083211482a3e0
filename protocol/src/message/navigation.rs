//! Navigation switch (SLAM <-> QR code) and map switch (floors, buildings, lifts).

use crate::codec::wire_struct;
use crate::types::{NavigationMode, Pose, ResultCode};

wire_struct! {
    /// RCS → AGV: switch the navigation mode, e.g. when the path enters a QR-code zone.
    pub struct NavSwitch {
        /// Mode to switch to.
        pub target: NavigationMode,
        /// Map the AGV is on.
        pub map_id: u16,
        /// Pose to initialise the new mode with, when known.
        pub initial_pose: Option<Pose>,
    }
}

wire_struct! {
    /// AGV → RCS: the outcome of a navigation switch.
    pub struct NavSwitchResult {
        /// Sequence number of the switch command.
        pub request_seq: u32,
        /// Outcome.
        pub result: ResultCode,
        /// The mode now in use.
        pub mode: NavigationMode,
        /// Localisation quality after the switch, 0..=100.
        pub localisation_quality: u8,
    }
}

wire_struct! {
    /// RCS → AGV: switch to another map (another floor after a lift ride, another building).
    pub struct MapSwitch {
        /// Map to switch to.
        pub target_map_id: u16,
        /// Its version (the AGV refuses with `MapMismatch` if it has another).
        pub target_map_version: u32,
        /// Pose on the target map to localise at.
        pub initial_pose: Pose,
        /// Lift used (0: none, e.g. a building link on the same level).
        pub lift_id: u16,
        /// Floor of the target map (may be negative).
        pub floor: i32,
        /// Navigation mode to use on the target map.
        pub navigation: NavigationMode,
    }
}

wire_struct! {
    /// AGV → RCS: the outcome of a map switch.
    pub struct MapSwitchResult {
        /// Sequence number of the switch command.
        pub request_seq: u32,
        /// Outcome.
        pub result: ResultCode,
        /// Map now in use.
        pub map_id: u16,
        /// Localisation quality after the switch, 0..=100.
        pub localisation_quality: u8,
        /// Pose after localisation.
        pub pose: Pose,
    }
}
