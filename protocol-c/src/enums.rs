//! The wire enumerations as C integer types with named constants. Generated from the
//! `protocol` crate's tables by `tests/enums.rs` (`RCS_UPDATE_GENERATED=1 cargo test -p
//! protocol-c --test enums`): do not edit.

/// `AccessMode` (docs/protocol.md): a `u8` holding one of the `RCS_ACCESS_MODE_*` values.
pub type RcsAccessMode = u8;
/// Plaintext frames with a CRC.
pub const RCS_ACCESS_MODE_NORMAL: RcsAccessMode = 0;
/// SM2 key exchange, then SM4-encrypted and authenticated frames.
pub const RCS_ACCESS_MODE_SECURE: RcsAccessMode = 1;

/// `SecureProfile` (docs/protocol.md): a `u8` holding one of the `RCS_SECURE_PROFILE_*` values.
pub type RcsSecureProfile = u8;
/// Every frame SM4-encrypted and SM2-signed (the guide's profile).
pub const RCS_SECURE_PROFILE_GUIDE: RcsSecureProfile = 0;
/// Every frame SM4-encrypted with a session MAC; SM2 signatures on the handshake and on safety-critical commands only.
pub const RCS_SECURE_PROFILE_FAST: RcsSecureProfile = 1;
/// Every frame SM4-GCM-encrypted and authenticated (RFC 8998's SM4-GCM, the tag in the MAC's place); SM2 signatures on the handshake and on safety-critical commands only, as in `Fast`.
pub const RCS_SECURE_PROFILE_GCM: RcsSecureProfile = 2;

/// `AgvType` (docs/protocol.md): a `u8` holding one of the `RCS_AGV_TYPE_*` values.
pub type RcsAgvType = u8;
/// Latent (jacking) AGV that lifts racks from below.
pub const RCS_AGV_TYPE_JACKING: RcsAgvType = 0;
/// Forklift AGV.
pub const RCS_AGV_TYPE_FORKLIFT: RcsAgvType = 1;
/// Tugger that tows carts.
pub const RCS_AGV_TYPE_TUGGER: RcsAgvType = 2;
/// Roller or conveyor top.
pub const RCS_AGV_TYPE_CONVEYOR: RcsAgvType = 3;
/// Mobile manipulator (AGV with an arm).
pub const RCS_AGV_TYPE_MOBILE_MANIPULATOR: RcsAgvType = 4;
/// Unit-load carrier with a fixed deck.
pub const RCS_AGV_TYPE_UNIT_LOAD: RcsAgvType = 5;
/// Any other kind.
pub const RCS_AGV_TYPE_OTHER: RcsAgvType = 255;

/// `AgvState` (docs/protocol.md): a `u8` holding one of the `RCS_AGV_STATE_*` values.
pub type RcsAgvState = u8;
/// Booting, localising or loading maps; takes no tasks yet.
pub const RCS_AGV_STATE_INITIALIZING: RcsAgvState = 0;
/// Ready, no task.
pub const RCS_AGV_STATE_IDLE: RcsAgvState = 1;
/// Executing a task (moving or performing actions).
pub const RCS_AGV_STATE_WORKING: RcsAgvState = 2;
/// Task paused by the RCS or an operator.
pub const RCS_AGV_STATE_PAUSED: RcsAgvState = 3;
/// Holding at the end of its released path, waiting for more to be released.
pub const RCS_AGV_STATE_WAITING_FOR_RELEASE: RcsAgvState = 4;
/// Moving autonomously inside a granted safe space.
pub const RCS_AGV_STATE_IN_SAFE_SPACE: RcsAgvState = 5;
/// Switching map (riding a lift, relocalising on the target map).
pub const RCS_AGV_STATE_SWITCHING_MAP: RcsAgvState = 6;
/// Switching navigation mode (SLAM <-> QR code).
pub const RCS_AGV_STATE_SWITCHING_NAVIGATION: RcsAgvState = 7;
/// Docked and charging.
pub const RCS_AGV_STATE_CHARGING: RcsAgvState = 8;
/// Under manual control; the RCS sends it no motion.
pub const RCS_AGV_STATE_MANUAL: RcsAgvState = 9;
/// Emergency stop active.
pub const RCS_AGV_STATE_EMERGENCY_STOP: RcsAgvState = 10;
/// Faulted; needs recovery.
pub const RCS_AGV_STATE_FAULT: RcsAgvState = 11;
/// Stopped because it lost the link to the RCS (liveness timeout on the AGV side).
pub const RCS_AGV_STATE_LINK_LOST: RcsAgvState = 12;
/// Stopped by the RCS's SafetyStop; moves again only after SafetyStop(Clear) and a new release.
pub const RCS_AGV_STATE_SAFETY_STOP: RcsAgvState = 13;

/// `NavigationMode` (docs/protocol.md): a `u8` holding one of the `RCS_NAVIGATION_MODE_*` values.
pub type RcsNavigationMode = u8;
/// Laser or vision SLAM.
pub const RCS_NAVIGATION_MODE_SLAM: RcsNavigationMode = 0;
/// QR codes on the floor.
pub const RCS_NAVIGATION_MODE_QR_CODE: RcsNavigationMode = 1;
/// Magnetic tape or inductive wire.
pub const RCS_NAVIGATION_MODE_MAGNETIC: RcsNavigationMode = 2;
/// Reflector triangulation.
pub const RCS_NAVIGATION_MODE_REFLECTOR: RcsNavigationMode = 3;

/// `ActuatorType` (docs/protocol.md): a `u8` holding one of the `RCS_ACTUATOR_TYPE_*` values.
pub type RcsActuatorType = u8;
/// Jacking lift.
pub const RCS_ACTUATOR_TYPE_LIFT: RcsActuatorType = 0;
/// Rotating top plate.
pub const RCS_ACTUATOR_TYPE_ROTARY_TABLE: RcsActuatorType = 1;
/// Fork.
pub const RCS_ACTUATOR_TYPE_FORK: RcsActuatorType = 2;
/// Roller conveyor.
pub const RCS_ACTUATOR_TYPE_ROLLER: RcsActuatorType = 3;
/// Clamp or gripper.
pub const RCS_ACTUATOR_TYPE_CLAMP: RcsActuatorType = 4;
/// Tow hook.
pub const RCS_ACTUATOR_TYPE_TOW_HOOK: RcsActuatorType = 5;
/// Robot arm.
pub const RCS_ACTUATOR_TYPE_ARM: RcsActuatorType = 6;
/// Signal light or sounder.
pub const RCS_ACTUATOR_TYPE_SIGNAL: RcsActuatorType = 7;

/// `ActuatorState` (docs/protocol.md): a `u8` holding one of the `RCS_ACTUATOR_STATE_*` values.
pub type RcsActuatorState = u8;
/// Idle, ready for a command.
pub const RCS_ACTUATOR_STATE_IDLE: RcsActuatorState = 0;
/// Executing a command.
pub const RCS_ACTUATOR_STATE_RUNNING: RcsActuatorState = 1;
/// The last command finished successfully.
pub const RCS_ACTUATOR_STATE_FINISHED: RcsActuatorState = 2;
/// The last command failed; the actuator can take a new one.
pub const RCS_ACTUATOR_STATE_FAILED: RcsActuatorState = 3;
/// Faulted; needs recovery before it takes commands.
pub const RCS_ACTUATOR_STATE_FAULT: RcsActuatorState = 4;
/// Paused with the task.
pub const RCS_ACTUATOR_STATE_PAUSED: RcsActuatorState = 5;

/// `ActuatorParam` (docs/protocol.md): a `u8` holding one of the `RCS_ACTUATOR_PARAM_*` values.
pub type RcsActuatorParam = u8;
/// Target height, m.
pub const RCS_ACTUATOR_PARAM_HEIGHT: RcsActuatorParam = 0;
/// Target angle, rad.
pub const RCS_ACTUATOR_PARAM_ANGLE: RcsActuatorParam = 1;
/// Speed, m/s or rad/s as the actuator moves.
pub const RCS_ACTUATOR_PARAM_SPEED: RcsActuatorParam = 2;
/// Direction: 0 = forward / counter-clockwise, 1 = backward / clockwise.
pub const RCS_ACTUATOR_PARAM_DIRECTION: RcsActuatorParam = 3;
/// Duration, s.
pub const RCS_ACTUATOR_PARAM_DURATION: RcsActuatorParam = 4;
/// Load weight expected, kg.
pub const RCS_ACTUATOR_PARAM_LOAD_WEIGHT: RcsActuatorParam = 5;
/// Fork reach or extension, m.
pub const RCS_ACTUATOR_PARAM_REACH: RcsActuatorParam = 6;
/// Tilt, rad.
pub const RCS_ACTUATOR_PARAM_TILT: RcsActuatorParam = 7;

/// `AlarmLevel` (docs/protocol.md): a `u8` holding one of the `RCS_ALARM_LEVEL_*` values.
pub type RcsAlarmLevel = u8;
/// Information only.
pub const RCS_ALARM_LEVEL_INFO: RcsAlarmLevel = 0;
/// Degraded operation; the AGV keeps working.
pub const RCS_ALARM_LEVEL_WARNING: RcsAlarmLevel = 1;
/// The AGV stopped its task and needs attention.
pub const RCS_ALARM_LEVEL_ERROR: RcsAlarmLevel = 2;
/// Safety-relevant fault; the AGV is stopped.
pub const RCS_ALARM_LEVEL_FATAL: RcsAlarmLevel = 3;

/// `TargetAttribute` (docs/protocol.md): a `u8` holding one of the `RCS_TARGET_ATTRIBUTE_*` values.
pub type RcsTargetAttribute = u8;
/// Drive through without stopping.
pub const RCS_TARGET_ATTRIBUTE_PASS_THROUGH: RcsTargetAttribute = 0;
/// Stop at the node (end of a piece, or a hold point).
pub const RCS_TARGET_ATTRIBUTE_STOP: RcsTargetAttribute = 1;
/// Stop and run the node's actions.
pub const RCS_TARGET_ATTRIBUTE_ACTION_POINT: RcsTargetAttribute = 2;
/// Stop and dock at a charger.
pub const RCS_TARGET_ATTRIBUTE_CHARGE_POINT: RcsTargetAttribute = 3;
/// Stop at a lift door and wait for the map-switch command.
pub const RCS_TARGET_ATTRIBUTE_LIFT_DOOR: RcsTargetAttribute = 4;
/// Final node of the task.
pub const RCS_TARGET_ATTRIBUTE_DESTINATION: RcsTargetAttribute = 5;
/// Stop at the node with the precise heading given by the node pose.
pub const RCS_TARGET_ATTRIBUTE_STOP_WITH_HEADING: RcsTargetAttribute = 6;

/// `MovementType` (docs/protocol.md): a `u8` holding one of the `RCS_MOVEMENT_TYPE_*` values.
pub type RcsMovementType = u8;
/// Forward along the trajectory.
pub const RCS_MOVEMENT_TYPE_FORWARD: RcsMovementType = 0;
/// Backward along the trajectory.
pub const RCS_MOVEMENT_TYPE_BACKWARD: RcsMovementType = 1;
/// Sideways with the body heading held fixed (omnidirectional AGVs).
pub const RCS_MOVEMENT_TYPE_LATERAL: RcsMovementType = 2;
/// Rotate in place (start and end node coincide).
pub const RCS_MOVEMENT_TYPE_ROTATE_IN_PLACE: RcsMovementType = 3;
/// Free holonomic motion with the heading interpolated between the node headings.
pub const RCS_MOVEMENT_TYPE_OMNIDIRECTIONAL: RcsMovementType = 4;

/// `LiftAdjustment` (docs/protocol.md): a `u8` holding one of the `RCS_LIFT_ADJUSTMENT_*` values.
pub type RcsLiftAdjustment = u8;
/// No lifting operation.
pub const RCS_LIFT_ADJUSTMENT_NONE: RcsLiftAdjustment = 0;
/// Raise to the height parameter (or fully).
pub const RCS_LIFT_ADJUSTMENT_RAISE: RcsLiftAdjustment = 1;
/// Lower to the height parameter (or fully).
pub const RCS_LIFT_ADJUSTMENT_LOWER: RcsLiftAdjustment = 2;
/// Rotate the top plate while the chassis rotates, keeping the load's heading.
pub const RCS_LIFT_ADJUSTMENT_HOLD_HEADING: RcsLiftAdjustment = 3;
/// Rotate the top plate by the angle parameter.
pub const RCS_LIFT_ADJUSTMENT_ROTATE: RcsLiftAdjustment = 4;
/// Rotate the top plate together with the chassis.
pub const RCS_LIFT_ADJUSTMENT_FOLLOW_CHASSIS: RcsLiftAdjustment = 5;

/// `TaskType` (docs/protocol.md): a `u8` holding one of the `RCS_TASK_TYPE_*` values.
pub type RcsTaskType = u8;
/// Move to a node.
pub const RCS_TASK_TYPE_MOVE: RcsTaskType = 0;
/// Move and pick up a load.
pub const RCS_TASK_TYPE_PICK: RcsTaskType = 1;
/// Move and drop a load.
pub const RCS_TASK_TYPE_DROP: RcsTaskType = 2;
/// Pick at one station and drop at another.
pub const RCS_TASK_TYPE_TRANSPORT: RcsTaskType = 3;
/// Move to a charger and charge.
pub const RCS_TASK_TYPE_CHARGE: RcsTaskType = 4;
/// Move to a parking node.
pub const RCS_TASK_TYPE_PARK: RcsTaskType = 5;
/// Move across maps (floors, buildings) with map switches.
pub const RCS_TASK_TYPE_CROSS_MAP: RcsTaskType = 6;

/// `TrajectoryType` (docs/protocol.md): a `u8` holding one of the `RCS_TRAJECTORY_TYPE_*` values.
pub type RcsTrajectoryType = u8;
/// Straight line; no control points.
pub const RCS_TRAJECTORY_TYPE_LINE: RcsTrajectoryType = 0;
/// Circular arc; one control point, a point on the arc between start and end.
pub const RCS_TRAJECTORY_TYPE_ARC: RcsTrajectoryType = 1;
/// Bézier curve; one (quadratic) or two (cubic) control points.
pub const RCS_TRAJECTORY_TYPE_BEZIER: RcsTrajectoryType = 2;

/// `SpaceLimit` (docs/protocol.md): a `u8` holding one of the `RCS_SPACE_LIMIT_*` values.
pub type RcsSpaceLimit = u8;
/// Stand still inside the space (hold it, e.g. while a person works nearby).
pub const RCS_SPACE_LIMIT_HOLD: RcsSpaceLimit = 0;
/// Rotate in place only.
pub const RCS_SPACE_LIMIT_ROTATE_ONLY: RcsSpaceLimit = 1;
/// Translate without rotating.
pub const RCS_SPACE_LIMIT_TRANSLATE_ONLY: RcsSpaceLimit = 2;
/// Translate and rotate freely (obstacle avoidance, docking adjustment).
pub const RCS_SPACE_LIMIT_FREE: RcsSpaceLimit = 3;

/// `ParamType` (docs/protocol.md): a `u16` holding one of the `RCS_PARAM_TYPE_*` values.
pub type RcsParamType = u16;
/// Maximum forward linear speed, m/s (`f32`).
pub const RCS_PARAM_TYPE_MAX_LINEAR_SPEED: RcsParamType = 1;
/// Maximum reverse linear speed, m/s (`f32`).
pub const RCS_PARAM_TYPE_MAX_REVERSE_SPEED: RcsParamType = 2;
/// Maximum angular speed, rad/s (`f32`).
pub const RCS_PARAM_TYPE_MAX_ANGULAR_SPEED: RcsParamType = 3;
/// Linear acceleration, m/s² (`f32`).
pub const RCS_PARAM_TYPE_LINEAR_ACCELERATION: RcsParamType = 4;
/// Linear deceleration, m/s² (`f32`).
pub const RCS_PARAM_TYPE_LINEAR_DECELERATION: RcsParamType = 5;
/// Angular acceleration, rad/s² (`f32`).
pub const RCS_PARAM_TYPE_ANGULAR_ACCELERATION: RcsParamType = 6;
/// Obstacle distance at which the AGV slows, m (`f32`).
pub const RCS_PARAM_TYPE_OBSTACLE_SLOW_DISTANCE: RcsParamType = 7;
/// Obstacle distance at which the AGV stops, m (`f32`).
pub const RCS_PARAM_TYPE_OBSTACLE_STOP_DISTANCE: RcsParamType = 8;
/// Tolerated position deviation at a stop node, m (`f32`).
pub const RCS_PARAM_TYPE_POSITION_TOLERANCE: RcsParamType = 9;
/// Tolerated heading deviation at a stop node, rad (`f32`).
pub const RCS_PARAM_TYPE_HEADING_TOLERANCE: RcsParamType = 10;
/// Status report period, ms (`u32`).
pub const RCS_PARAM_TYPE_STATUS_PERIOD: RcsParamType = 11;
/// Heartbeat period, ms (`u32`).
pub const RCS_PARAM_TYPE_HEARTBEAT_PERIOD: RcsParamType = 12;
/// Battery level below which the AGV reports a low-battery alarm, % (`f32`).
pub const RCS_PARAM_TYPE_BATTERY_LOW_THRESHOLD: RcsParamType = 13;
/// Audible and visual warning during motion on or off (`bool`).
pub const RCS_PARAM_TYPE_MOTION_WARNING: RcsParamType = 14;
/// Firmware version (`text`, read only).
pub const RCS_PARAM_TYPE_FIRMWARE_VERSION: RcsParamType = 15;
/// Name of the AGV shown to operators (`text`).
pub const RCS_PARAM_TYPE_DISPLAY_NAME: RcsParamType = 16;

/// `ResultCode` (docs/protocol.md): a `u16` holding one of the `RCS_RESULT_CODE_*` values.
pub type RcsResultCode = u16;
/// Done, or accepted and will be done (progress follows as events).
pub const RCS_RESULT_CODE_OK: RcsResultCode = 0;
/// Accepted and in progress; a final result follows.
pub const RCS_RESULT_CODE_IN_PROGRESS: RcsResultCode = 1;
/// Busy with something that excludes this command; retry later.
pub const RCS_RESULT_CODE_BUSY: RcsResultCode = 2;
/// A field is out of range or inconsistent.
pub const RCS_RESULT_CODE_INVALID_PARAMETER: RcsResultCode = 3;
/// The command or a value is not supported by this AGV or RCS.
pub const RCS_RESULT_CODE_UNSUPPORTED: RcsResultCode = 4;
/// Refused by policy (not allowed for this AGV, mode or operator).
pub const RCS_RESULT_CODE_REJECTED: RcsResultCode = 5;
/// The AGV is not registered (or not accessed) yet.
pub const RCS_RESULT_CODE_NOT_REGISTERED: RcsResultCode = 6;
/// Authentication failed (unknown key, bad signature, confirmation mismatch).
pub const RCS_RESULT_CODE_AUTHENTICATION_FAILED: RcsResultCode = 7;
/// The task, grant or object named does not exist.
pub const RCS_RESULT_CODE_UNKNOWN_OBJECT: RcsResultCode = 8;
/// The current state does not allow it (e.g. pause or resume with no task).
pub const RCS_RESULT_CODE_STATE_CONFLICT: RcsResultCode = 9;
/// It did not finish in time.
pub const RCS_RESULT_CODE_TIMEOUT: RcsResultCode = 10;
/// The map or its version is not on board or does not match.
pub const RCS_RESULT_CODE_MAP_MISMATCH: RcsResultCode = 11;
/// The space asked for is not free.
pub const RCS_RESULT_CODE_SPACE_OCCUPIED: RcsResultCode = 12;
/// Hardware fault prevented it.
pub const RCS_RESULT_CODE_HARDWARE_FAULT: RcsResultCode = 13;
/// Emergency stop active.
pub const RCS_RESULT_CODE_EMERGENCY_STOP: RcsResultCode = 14;
/// Battery too low for it.
pub const RCS_RESULT_CODE_LOW_BATTERY: RcsResultCode = 15;
/// Localisation lost or too poor.
pub const RCS_RESULT_CODE_LOCALISATION_LOST: RcsResultCode = 16;
/// The secure mode is required (or the requested profile is not allowed).
pub const RCS_RESULT_CODE_SECURE_MODE_REQUIRED: RcsResultCode = 17;
/// Internal error of the peer.
pub const RCS_RESULT_CODE_INTERNAL_ERROR: RcsResultCode = 18;

/// `ErrorCode` (docs/protocol.md): a `u16` holding one of the `RCS_ERROR_CODE_*` values.
pub type RcsErrorCode = u16;
/// The frame could not be parsed (truncated body, bad length, trailing bytes).
pub const RCS_ERROR_CODE_MALFORMED_FRAME: RcsErrorCode = 1;
/// Frame or header checksum mismatch.
pub const RCS_ERROR_CODE_CHECKSUM_MISMATCH: RcsErrorCode = 2;
/// The frame exceeds the receiver's size limit.
pub const RCS_ERROR_CODE_FRAME_TOO_LARGE: RcsErrorCode = 3;
/// The protocol version is not supported.
pub const RCS_ERROR_CODE_UNSUPPORTED_VERSION: RcsErrorCode = 4;
/// The message type is unknown to the receiver.
pub const RCS_ERROR_CODE_UNKNOWN_MESSAGE_TYPE: RcsErrorCode = 5;
/// An enumeration value is undefined, a float is not finite, or a string is not UTF-8.
pub const RCS_ERROR_CODE_INVALID_FIELD: RcsErrorCode = 6;
/// The message is not allowed in the current session state (e.g. status before access).
pub const RCS_ERROR_CODE_UNEXPECTED_MESSAGE: RcsErrorCode = 7;
/// The signature or MAC does not verify.
pub const RCS_ERROR_CODE_BAD_SIGNATURE: RcsErrorCode = 8;
/// Decryption failed.
pub const RCS_ERROR_CODE_DECRYPTION_FAILED: RcsErrorCode = 9;
/// The sequence number was already seen or is outside the replay window.
pub const RCS_ERROR_CODE_REPLAY: RcsErrorCode = 10;
/// The timestamp is outside the allowed clock skew.
pub const RCS_ERROR_CODE_TIMESTAMP_SKEW: RcsErrorCode = 11;
/// The frame needs the secure mode but arrived in plaintext (downgrade attempt).
pub const RCS_ERROR_CODE_SECURE_MODE_REQUIRED: RcsErrorCode = 12;
/// Too many frames; the sender must slow down.
pub const RCS_ERROR_CODE_RATE_LIMITED: RcsErrorCode = 13;
/// The header names another AGV than the session's.
pub const RCS_ERROR_CODE_AGV_ID_MISMATCH: RcsErrorCode = 14;
/// Internal error of the receiver.
pub const RCS_ERROR_CODE_INTERNAL_ERROR: RcsErrorCode = 15;

/// `CloseReason` (docs/protocol.md): a `u8` holding one of the `RCS_CLOSE_REASON_*` values.
pub type RcsCloseReason = u8;
/// Orderly shutdown of the sender (reboot, server shutdown).
pub const RCS_CLOSE_REASON_SHUTDOWN: RcsCloseReason = 0;
/// Access refused or revoked.
pub const RCS_CLOSE_REASON_ACCESS_DENIED: RcsCloseReason = 1;
/// The peer kept sending invalid frames.
pub const RCS_CLOSE_REASON_PROTOCOL_VIOLATION: RcsCloseReason = 2;
/// No frame from the peer within its liveness timeout.
pub const RCS_CLOSE_REASON_LIVENESS_TIMEOUT: RcsCloseReason = 3;
/// Another connection authenticated as the same AGV.
pub const RCS_CLOSE_REASON_REPLACED: RcsCloseReason = 4;
/// An operator closed the session.
pub const RCS_CLOSE_REASON_OPERATOR: RcsCloseReason = 5;
/// Session key lifetime reached; reconnect for a fresh key exchange.
pub const RCS_CLOSE_REASON_REKEY: RcsCloseReason = 6;
/// The sender is a standby RCS instance, not the active one: `detail` is the active instance's address (`host:port`), or empty when it knows none; the AGV connects there at once (section 4.4).
pub const RCS_CLOSE_REASON_NOT_ACTIVE: RcsCloseReason = 7;

/// `TaskOp` (docs/protocol.md): a `u8` holding one of the `RCS_TASK_OP_*` values.
pub type RcsTaskOp = u8;
/// Stop at the next safe point and drop the task.
pub const RCS_TASK_OP_CANCEL: RcsTaskOp = 0;
/// Stop at the next safe point and keep the task.
pub const RCS_TASK_OP_PAUSE: RcsTaskOp = 1;
/// Continue a paused task.
pub const RCS_TASK_OP_RESUME: RcsTaskOp = 2;

/// `TaskState` (docs/protocol.md): a `u8` holding one of the `RCS_TASK_STATE_*` values.
pub type RcsTaskState = u8;
/// Accepted, not started.
pub const RCS_TASK_STATE_ACCEPTED: RcsTaskState = 0;
/// Driving or running actions.
pub const RCS_TASK_STATE_RUNNING: RcsTaskState = 1;
/// Paused.
pub const RCS_TASK_STATE_PAUSED: RcsTaskState = 2;
/// At the end of the released path, waiting for the next piece.
pub const RCS_TASK_STATE_WAITING_FOR_RELEASE: RcsTaskState = 3;
/// Finished successfully.
pub const RCS_TASK_STATE_COMPLETED: RcsTaskState = 4;
/// Cancelled.
pub const RCS_TASK_STATE_CANCELLED: RcsTaskState = 5;
/// Failed (see the result code).
pub const RCS_TASK_STATE_FAILED: RcsTaskState = 6;

/// `StopOp` (docs/protocol.md): a `u8` holding one of the `RCS_STOP_OP_*` values.
pub type RcsStopOp = u8;
/// Brake to a standstill at once (not at the next safe point) and stay stopped: no motion, no manoeuvre, no moving action until `Clear`; the released path is void.
pub const RCS_STOP_OP_STOP: RcsStopOp = 0;
/// The stop is lifted: the AGV keeps its task and moves again only on a new release.
pub const RCS_STOP_OP_CLEAR: RcsStopOp = 1;

/// `StopReason` (docs/protocol.md): a `u8` holding one of the `RCS_STOP_REASON_*` values.
pub type RcsStopReason = u8;
/// An AGV is where the RCS did not put it: its footprint overlaps space held by another AGV (this AGV, or one in or next to this AGV's released space).
pub const RCS_STOP_REASON_OVERLAP: RcsStopReason = 0;
/// An operator stopped it.
pub const RCS_STOP_REASON_OPERATOR: RcsStopReason = 1;

/// `ChargeOp` (docs/protocol.md): a `u8` holding one of the `RCS_CHARGE_OP_*` values.
pub type RcsChargeOp = u8;
/// Dock and start charging.
pub const RCS_CHARGE_OP_START: RcsChargeOp = 0;
/// Stop charging and undock.
pub const RCS_CHARGE_OP_STOP: RcsChargeOp = 1;

/// `SpaceReason` (docs/protocol.md): a `u8` holding one of the `RCS_SPACE_REASON_*` values.
pub type RcsSpaceReason = u8;
/// Avoid an obstacle blocking its path.
pub const RCS_SPACE_REASON_OBSTACLE_AVOIDANCE: RcsSpaceReason = 0;
/// Adjust its position at a station (docking, fine positioning).
pub const RCS_SPACE_REASON_DOCKING_ADJUSTMENT: RcsSpaceReason = 1;
/// Move a little to recover localisation.
pub const RCS_SPACE_REASON_LOCALISATION_RECOVERY: RcsSpaceReason = 2;
/// Manual manoeuvre by an on-site operator.
pub const RCS_SPACE_REASON_MANUAL: RcsSpaceReason = 3;
/// Any other reason.
pub const RCS_SPACE_REASON_OTHER: RcsSpaceReason = 255;

/// `DenyReason` (docs/protocol.md): a `u8` holding one of the `RCS_DENY_REASON_*` values.
pub type RcsDenyReason = u8;
/// Another AGV's footprint is in the region.
pub const RCS_DENY_REASON_OCCUPIED: RcsDenyReason = 0;
/// The region overlaps another AGV's reserved path.
pub const RCS_DENY_REASON_RESERVED: RcsDenyReason = 1;
/// The region overlaps another grant.
pub const RCS_DENY_REASON_GRANTED: RcsDenyReason = 2;
/// The region touches a forbidden area.
pub const RCS_DENY_REASON_FORBIDDEN_AREA: RcsDenyReason = 3;
/// The map is not the AGV's current map.
pub const RCS_DENY_REASON_WRONG_MAP: RcsDenyReason = 4;
/// The region or duration exceeds the site's limits (the RCS: an area over 25 m², a duration of 0 or over 120 s), or the region is not wholly inside the map's bounds.
pub const RCS_DENY_REASON_TOO_LARGE: RcsDenyReason = 5;
/// The region is malformed (self-intersecting, degenerate).
pub const RCS_DENY_REASON_INVALID_REGION: RcsDenyReason = 6;
/// Policy does not allow this AGV to move autonomously now.
pub const RCS_DENY_REASON_NOT_ALLOWED: RcsDenyReason = 7;

/// `RevokeReason` (docs/protocol.md): a `u8` holding one of the `RCS_REVOKE_REASON_*` values.
pub type RcsRevokeReason = u8;
/// An operator revoked it.
pub const RCS_REVOKE_REASON_OPERATOR: RcsRevokeReason = 0;
/// It expired.
pub const RCS_REVOKE_REASON_EXPIRED: RcsRevokeReason = 1;
/// Safety: the space is needed (e.g. an emergency route).
pub const RCS_REVOKE_REASON_SAFETY: RcsRevokeReason = 2;

/// `MessageType` (docs/protocol.md): a `u16` holding one of the `RCS_MESSAGE_TYPE_*` values.
pub type RcsMessageType = u16;
/// AGV asks for access (normal or secure mode).
pub const RCS_MESSAGE_TYPE_ACCESS_REQUEST: RcsMessageType = 257;
/// RCS answers an access request.
pub const RCS_MESSAGE_TYPE_ACCESS_RESPONSE: RcsMessageType = 258;
/// AGV confirms the key exchange (secure mode).
pub const RCS_MESSAGE_TYPE_ACCESS_CONFIRM: RcsMessageType = 259;
/// Either side closes the session.
pub const RCS_MESSAGE_TYPE_CLOSE: RcsMessageType = 260;
/// AGV registers its identity and capabilities.
pub const RCS_MESSAGE_TYPE_REGISTER_REQUEST: RcsMessageType = 513;
/// RCS answers a registration.
pub const RCS_MESSAGE_TYPE_REGISTER_RESPONSE: RcsMessageType = 514;
/// RCS pushes the global configuration (acknowledged with an Ack).
pub const RCS_MESSAGE_TYPE_CONFIG_PUSH: RcsMessageType = 769;
/// AGV keeps the link alive.
pub const RCS_MESSAGE_TYPE_HEARTBEAT: RcsMessageType = 1025;
/// RCS answers a heartbeat.
pub const RCS_MESSAGE_TYPE_HEARTBEAT_ACK: RcsMessageType = 1026;
/// RCS reads basic parameters.
pub const RCS_MESSAGE_TYPE_PARAM_QUERY: RcsMessageType = 1281;
/// AGV answers a parameter query.
pub const RCS_MESSAGE_TYPE_PARAM_QUERY_RESPONSE: RcsMessageType = 1282;
/// RCS writes basic parameters.
pub const RCS_MESSAGE_TYPE_PARAM_SET: RcsMessageType = 1283;
/// AGV answers a parameter write.
pub const RCS_MESSAGE_TYPE_PARAM_SET_RESPONSE: RcsMessageType = 1284;
/// RCS sends (or extends) a path with actions (acknowledged with an Ack).
pub const RCS_MESSAGE_TYPE_MOTION_COMMAND: RcsMessageType = 1537;
/// RCS cancels, pauses or resumes a task (acknowledged with an Ack).
pub const RCS_MESSAGE_TYPE_TASK_CONTROL: RcsMessageType = 1538;
/// AGV reports task progress.
pub const RCS_MESSAGE_TYPE_TASK_PROGRESS: RcsMessageType = 1539;
/// RCS stops an AGV at once for safety, or lifts that stop (acknowledged with an Ack).
pub const RCS_MESSAGE_TYPE_SAFETY_STOP: RcsMessageType = 1540;
/// RCS starts or stops charging.
pub const RCS_MESSAGE_TYPE_CHARGE_CONTROL: RcsMessageType = 1793;
/// AGV reports the charging outcome.
pub const RCS_MESSAGE_TYPE_CHARGE_RESULT: RcsMessageType = 1794;
/// RCS switches the navigation mode.
pub const RCS_MESSAGE_TYPE_NAV_SWITCH: RcsMessageType = 2049;
/// AGV reports the navigation switch outcome.
pub const RCS_MESSAGE_TYPE_NAV_SWITCH_RESULT: RcsMessageType = 2050;
/// RCS switches the map (floor, building).
pub const RCS_MESSAGE_TYPE_MAP_SWITCH: RcsMessageType = 2305;
/// AGV reports the map switch outcome.
pub const RCS_MESSAGE_TYPE_MAP_SWITCH_RESULT: RcsMessageType = 2306;
/// AGV asks for a safe space to move autonomously.
pub const RCS_MESSAGE_TYPE_SPACE_REQUEST: RcsMessageType = 2561;
/// RCS grants a safe space.
pub const RCS_MESSAGE_TYPE_SPACE_GRANT: RcsMessageType = 2562;
/// RCS denies a safe space.
pub const RCS_MESSAGE_TYPE_SPACE_DENY: RcsMessageType = 2563;
/// AGV gives a granted space back.
pub const RCS_MESSAGE_TYPE_SPACE_RELEASE: RcsMessageType = 2564;
/// RCS takes a granted space back.
pub const RCS_MESSAGE_TYPE_SPACE_REVOKE: RcsMessageType = 2565;
/// AGV reports its state periodically.
pub const RCS_MESSAGE_TYPE_STATUS_REPORT: RcsMessageType = 2817;
/// AGV reports operation data (odometer, run time, counters).
pub const RCS_MESSAGE_TYPE_OPERATION_REPORT: RcsMessageType = 2818;
/// Acknowledges a command with a result code.
pub const RCS_MESSAGE_TYPE_ACK: RcsMessageType = 3841;
/// Reports a protocol error in a received frame.
pub const RCS_MESSAGE_TYPE_ERROR: RcsMessageType = 3842;
