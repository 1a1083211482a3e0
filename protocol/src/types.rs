//! Wire enumerations (the guide's Appendix A, result and error codes) and shared field types.
//!
//! Each enumeration's variant docs are its table in docs/protocol.md (a test keeps them equal).
//! A decoder rejects a value its table does not define with
//! [`DecodeError::UnknownEnumValue`](crate::error::DecodeError::UnknownEnumValue).

use alloc::vec::Vec;

use crate::codec::{wire_enum, wire_struct};

wire_enum! {
    /// A.1 Actuator states: the state of one actuator in a status report.
    pub enum ActuatorState: u8 {
        /// Idle, ready for a command.
        Idle = 0,
        /// Executing a command.
        Running = 1,
        /// The last command finished successfully.
        Finished = 2,
        /// The last command failed; the actuator can take a new one.
        Failed = 3,
        /// Faulted; needs recovery before it takes commands.
        Fault = 4,
        /// Paused with the task.
        Paused = 5,
    }
}

wire_enum! {
    /// A.2 AGV states reported in the status report (see the state-transition diagram).
    pub enum AgvState: u8 {
        /// Booting, localising or loading maps; takes no tasks yet.
        Initializing = 0,
        /// Ready, no task.
        Idle = 1,
        /// Executing a task (moving or performing actions).
        Working = 2,
        /// Task paused by the RCS or an operator.
        Paused = 3,
        /// Holding at the end of its released path, waiting for more to be released.
        WaitingForRelease = 4,
        /// Moving autonomously inside a granted safe space.
        InSafeSpace = 5,
        /// Switching map (riding a lift, relocalising on the target map).
        SwitchingMap = 6,
        /// Switching navigation mode (SLAM <-> QR code).
        SwitchingNavigation = 7,
        /// Docked and charging.
        Charging = 8,
        /// Under manual control; the RCS sends it no motion.
        Manual = 9,
        /// Emergency stop active.
        EmergencyStop = 10,
        /// Faulted; needs recovery.
        Fault = 11,
        /// Stopped because it lost the link to the RCS (liveness timeout on the AGV side).
        LinkLost = 12,
        /// Stopped by the RCS's SafetyStop; moves again only after SafetyStop(Clear) and a new release.
        SafetyStop = 13,
    }
}

wire_enum! {
    /// A.3 Motion-parameter types: the basic parameters read and written by the
    /// basic-parameter query and set messages.
    pub enum ParamType: u16 {
        /// Maximum forward linear speed, m/s (`f32`).
        MaxLinearSpeed = 1,
        /// Maximum reverse linear speed, m/s (`f32`).
        MaxReverseSpeed = 2,
        /// Maximum angular speed, rad/s (`f32`).
        MaxAngularSpeed = 3,
        /// Linear acceleration, m/s² (`f32`).
        LinearAcceleration = 4,
        /// Linear deceleration, m/s² (`f32`).
        LinearDeceleration = 5,
        /// Angular acceleration, rad/s² (`f32`).
        AngularAcceleration = 6,
        /// Obstacle distance at which the AGV slows, m (`f32`).
        ObstacleSlowDistance = 7,
        /// Obstacle distance at which the AGV stops, m (`f32`).
        ObstacleStopDistance = 8,
        /// Tolerated position deviation at a stop node, m (`f32`).
        PositionTolerance = 9,
        /// Tolerated heading deviation at a stop node, rad (`f32`).
        HeadingTolerance = 10,
        /// Status report period, ms (`u32`).
        StatusPeriod = 11,
        /// Heartbeat period, ms (`u32`).
        HeartbeatPeriod = 12,
        /// Battery level below which the AGV reports a low-battery alarm, % (`f32`).
        BatteryLowThreshold = 13,
        /// Audible and visual warning during motion on or off (`bool`).
        MotionWarning = 14,
        /// Firmware version (`text`, read only).
        FirmwareVersion = 15,
        /// Name of the AGV shown to operators (`text`).
        DisplayName = 16,
    }
}

wire_enum! {
    /// A.4 Target attributes: what the AGV does at a node of a motion command.
    pub enum TargetAttribute: u8 {
        /// Drive through without stopping.
        PassThrough = 0,
        /// Stop at the node (end of a piece, or a hold point).
        Stop = 1,
        /// Stop and run the node's actions.
        ActionPoint = 2,
        /// Stop and dock at a charger.
        ChargePoint = 3,
        /// Stop at a lift door and wait for the map-switch command.
        LiftDoor = 4,
        /// Final node of the task.
        Destination = 5,
        /// Stop at the node with the precise heading given by the node pose.
        StopWithHeading = 6,
    }
}

wire_enum! {
    /// A.5 Movement types: how the AGV moves along an edge.
    pub enum MovementType: u8 {
        /// Forward along the trajectory.
        Forward = 0,
        /// Backward along the trajectory.
        Backward = 1,
        /// Sideways with the body heading held fixed (omnidirectional AGVs).
        Lateral = 2,
        /// Rotate in place (start and end node coincide).
        RotateInPlace = 3,
        /// Free holonomic motion with the heading interpolated between the node headings.
        Omnidirectional = 4,
    }
}

wire_enum! {
    /// A.6 Lifting-mechanism adjustment types: the operation of a lifting actuator action.
    pub enum LiftAdjustment: u8 {
        /// No lifting operation.
        None = 0,
        /// Raise to the height parameter (or fully).
        Raise = 1,
        /// Lower to the height parameter (or fully).
        Lower = 2,
        /// Rotate the top plate while the chassis rotates, keeping the load's heading.
        HoldHeading = 3,
        /// Rotate the top plate by the angle parameter.
        Rotate = 4,
        /// Rotate the top plate together with the chassis.
        FollowChassis = 5,
    }
}

wire_enum! {
    /// A.7 Large-task types: what a task as a whole does.
    pub enum TaskType: u8 {
        /// Move to a node.
        Move = 0,
        /// Move and pick up a load.
        Pick = 1,
        /// Move and drop a load.
        Drop = 2,
        /// Pick at one station and drop at another.
        Transport = 3,
        /// Move to a charger and charge.
        Charge = 4,
        /// Move to a parking node.
        Park = 5,
        /// Move across maps (floors, buildings) with map switches.
        CrossMap = 6,
    }
}

wire_enum! {
    /// A.8 Trajectory types: the geometry of an edge between its start and end node.
    pub enum TrajectoryType: u8 {
        /// Straight line; no control points.
        Line = 0,
        /// Circular arc; one control point, a point on the arc between start and end.
        Arc = 1,
        /// Bézier curve; one (quadratic) or two (cubic) control points.
        Bezier = 2,
    }
}

wire_enum! {
    /// A.9 Space-limitation types: what the AGV may do inside a safe space.
    pub enum SpaceLimit: u8 {
        /// Stand still inside the space (hold it, e.g. while a person works nearby).
        Hold = 0,
        /// Rotate in place only.
        RotateOnly = 1,
        /// Translate without rotating.
        TranslateOnly = 2,
        /// Translate and rotate freely (obstacle avoidance, docking adjustment).
        Free = 3,
    }
}

wire_enum! {
    /// A.10 Special-area values: how an area of a map constrains AGVs.
    pub enum SpecialArea: u8 {
        /// No constraint.
        Normal = 0,
        /// No AGV may enter.
        Forbidden = 1,
        /// Speed limited.
        Slow = 2,
        /// Travel in the area's direction only.
        OneWay = 3,
        /// No stopping inside (crossings, fire doors).
        NoStop = 4,
        /// Navigation by QR codes on the floor.
        QrZone = 5,
        /// Navigation by SLAM (laser or vision).
        SlamZone = 6,
        /// Lift shaft or car.
        LiftShaft = 7,
        /// Charging area.
        ChargingArea = 8,
        /// No rotation in place.
        NoRotate = 9,
        /// Shared with people; reduced speed and warning on.
        Pedestrian = 10,
    }
}

wire_enum! {
    /// A.11 AGV types.
    pub enum AgvType: u8 {
        /// Latent (jacking) AGV that lifts racks from below.
        Jacking = 0,
        /// Forklift AGV.
        Forklift = 1,
        /// Tugger that tows carts.
        Tugger = 2,
        /// Roller or conveyor top.
        Conveyor = 3,
        /// Mobile manipulator (AGV with an arm).
        MobileManipulator = 4,
        /// Unit-load carrier with a fixed deck.
        UnitLoad = 5,
        /// Any other kind.
        Other = 255,
    }
}

wire_enum! {
    /// A.12 Actuator types.
    pub enum ActuatorType: u8 {
        /// Jacking lift.
        Lift = 0,
        /// Rotating top plate.
        RotaryTable = 1,
        /// Fork.
        Fork = 2,
        /// Roller conveyor.
        Roller = 3,
        /// Clamp or gripper.
        Clamp = 4,
        /// Tow hook.
        TowHook = 5,
        /// Robot arm.
        Arm = 6,
        /// Signal light or sounder.
        Signal = 7,
    }
}

wire_enum! {
    /// A.13 Actuator control parameters: the parameters of an actuator action.
    pub enum ActuatorParam: u8 {
        /// Target height, m.
        Height = 0,
        /// Target angle, rad.
        Angle = 1,
        /// Speed, m/s or rad/s as the actuator moves.
        Speed = 2,
        /// Direction: 0 = forward / counter-clockwise, 1 = backward / clockwise.
        Direction = 3,
        /// Duration, s.
        Duration = 4,
        /// Load weight expected, kg.
        LoadWeight = 5,
        /// Fork reach or extension, m.
        Reach = 6,
        /// Tilt, rad.
        Tilt = 7,
    }
}

wire_enum! {
    /// Navigation modes.
    pub enum NavigationMode: u8 {
        /// Laser or vision SLAM.
        Slam = 0,
        /// QR codes on the floor.
        QrCode = 1,
        /// Magnetic tape or inductive wire.
        Magnetic = 2,
        /// Reflector triangulation.
        Reflector = 3,
    }
}

wire_enum! {
    /// Result codes: the outcome of every command, carried by [`Ack`](crate::message::Ack) and
    /// by each response.
    pub enum ResultCode: u16 {
        /// Done, or accepted and will be done (progress follows as events).
        Ok = 0,
        /// Accepted and in progress; a final result follows.
        InProgress = 1,
        /// Busy with something that excludes this command; retry later.
        Busy = 2,
        /// A field is out of range or inconsistent.
        InvalidParameter = 3,
        /// The command or a value is not supported by this AGV or RCS.
        Unsupported = 4,
        /// Refused by policy (not allowed for this AGV, mode or operator).
        Rejected = 5,
        /// The AGV is not registered (or not accessed) yet.
        NotRegistered = 6,
        /// Authentication failed (unknown key, bad signature, confirmation mismatch).
        AuthenticationFailed = 7,
        /// The task, grant or object named does not exist.
        UnknownObject = 8,
        /// The current state does not allow it (e.g. pause or resume with no task).
        StateConflict = 9,
        /// It did not finish in time.
        Timeout = 10,
        /// The map or its version is not on board or does not match.
        MapMismatch = 11,
        /// The space asked for is not free.
        SpaceOccupied = 12,
        /// Hardware fault prevented it.
        HardwareFault = 13,
        /// Emergency stop active.
        EmergencyStop = 14,
        /// Battery too low for it.
        LowBattery = 15,
        /// Localisation lost or too poor.
        LocalisationLost = 16,
        /// The secure mode is required (or the requested profile is not allowed).
        SecureModeRequired = 17,
        /// Internal error of the peer.
        InternalError = 18,
    }
}

wire_enum! {
    /// Error codes carried by the [`Error`](crate::message::ErrorReport) message: protocol
    /// violations the receiver detected in a frame it received.
    pub enum ErrorCode: u16 {
        /// The frame could not be parsed (truncated body, bad length, trailing bytes).
        MalformedFrame = 1,
        /// Frame or header checksum mismatch.
        ChecksumMismatch = 2,
        /// The frame exceeds the receiver's size limit.
        FrameTooLarge = 3,
        /// The protocol version is not supported.
        UnsupportedVersion = 4,
        /// The message type is unknown to the receiver.
        UnknownMessageType = 5,
        /// An enumeration value is undefined, a float is not finite, or a string is not UTF-8.
        InvalidField = 6,
        /// The message is not allowed in the current session state (e.g. status before access).
        UnexpectedMessage = 7,
        /// The signature or MAC does not verify.
        BadSignature = 8,
        /// Decryption failed.
        DecryptionFailed = 9,
        /// The sequence number was already seen or is outside the replay window.
        Replay = 10,
        /// The timestamp is outside the allowed clock skew.
        TimestampSkew = 11,
        /// The frame needs the secure mode but arrived in plaintext (downgrade attempt).
        SecureModeRequired = 12,
        /// Too many frames; the sender must slow down.
        RateLimited = 13,
        /// The header names another AGV than the session's.
        AgvIdMismatch = 14,
        /// Internal error of the receiver.
        InternalError = 15,
    }
}

wire_enum! {
    /// Why a connection is closed ([`Close`](crate::message::Close)).
    pub enum CloseReason: u8 {
        /// Orderly shutdown of the sender (reboot, server shutdown).
        Shutdown = 0,
        /// Access refused or revoked.
        AccessDenied = 1,
        /// The peer kept sending invalid frames.
        ProtocolViolation = 2,
        /// No frame from the peer within its liveness timeout.
        LivenessTimeout = 3,
        /// Another connection authenticated as the same AGV.
        Replaced = 4,
        /// An operator closed the session.
        Operator = 5,
        /// Session key lifetime reached; reconnect for a fresh key exchange.
        Rekey = 6,
        /// The sender is a standby RCS instance, not the active one: `detail` is the active instance's address (`host:port`), or empty when it knows none; the AGV connects there at once (section 4.4).
        NotActive = 7,
    }
}

wire_enum! {
    /// Alarm levels.
    pub enum AlarmLevel: u8 {
        /// Information only.
        Info = 0,
        /// Degraded operation; the AGV keeps working.
        Warning = 1,
        /// The AGV stopped its task and needs attention.
        Error = 2,
        /// Safety-relevant fault; the AGV is stopped.
        Fatal = 3,
    }
}

wire_struct! {
    /// A point in a map frame, metres.
    pub struct Point {
        /// X, m.
        pub x: f64,
        /// Y, m.
        pub y: f64,
    }
}

wire_struct! {
    /// A pose in a map frame: position in metres, heading in radians, counter-clockwise from the
    /// map's x axis (right-handed, GB/T 16977).
    pub struct Pose {
        /// X, m.
        pub x: f64,
        /// Y, m.
        pub y: f64,
        /// Heading, rad.
        pub theta: f64,
    }
}

wire_struct! {
    /// A vendor or future extension: an opaque value under a numeric key. Keys `0x0000..=0x7FFF`
    /// are reserved for this specification; `0x8000..=0xFFFF` are for vendors. Receivers ignore
    /// keys they do not know.
    pub struct Extension {
        /// Extension key.
        pub key: u16,
        /// Opaque value (at most 65,535 bytes).
        pub value: Vec<u8>,
    }
}

impl Extension {
    /// `RcsAddresses` (ConfigPush only): the RCS instances the AGV may connect to, in order of
    /// preference, as `list<string>` of `host:port` (docs/protocol.md 9.1;
    /// [`ConfigPush::rcs_addresses`](crate::message::ConfigPush::rcs_addresses)).
    pub const RCS_ADDRESSES: u16 = 0x0001;
}
