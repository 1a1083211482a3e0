-- rcs.lua: Wireshark dissector for the rcs AGV <-> RCS protocol (docs/protocol.md).
--
-- GENERATED from docs/protocol.md's tables by protocol/tests/wireshark.rs (the table
-- SPEC below) and protocol/tests/support/rcs_engine.lua (the rest): do not edit. After a
-- change to either, regenerate with
--   UPDATE_DISSECTOR=1 cargo test -p protocol --test wireshark
-- Installing it: docs/operations.md, "Wireshark".

local SPEC = {
    port = 7700,
    magic = { 0xa5, 0x5a },
    header_len = 32,
    trailer = 4,
    header = {
        { name = "magic", abbr = "magic", off = 0, size = 2 },
        { name = "version", abbr = "version", off = 2, size = 1 },
        { name = "flags", abbr = "flags", off = 3, size = 1 },
        { name = "message type", abbr = "message_type", off = 4, size = 2 },
        { name = "sequence number", abbr = "sequence_number", off = 6, size = 4 },
        { name = "AGV id", abbr = "agv_id", off = 10, size = 4 },
        { name = "timestamp", abbr = "timestamp", off = 14, size = 8 },
        { name = "body length", abbr = "body_length", off = 22, size = 4 },
        { name = "reserved", abbr = "reserved", off = 26, size = 4 },
        { name = "header CRC", abbr = "header_crc", off = 30, size = 2 },
    },
    flags = {
        { mask = 0x01, name = "ENCRYPTED" },
        { mask = 0x02, name = "SIGNED" },
        { mask = 0x04, name = "MAC" },
        { mask = 0x08, name = "ACK_REQUESTED" },
        { mask = 0x10, name = "RESPONSE" },
        { mask = 0xe0, name = "reserved" },
    },
    tags = {
        { flag = "MAC", len = 16 },
        { flag = "SIGNED", len = 64 },
    },
    enums = {
        ActuatorState = { [0] = "Idle", [1] = "Running", [2] = "Finished", [3] = "Failed",
            [4] = "Fault", [5] = "Paused" },
        AgvState = { [0] = "Initializing", [1] = "Idle", [2] = "Working", [3] = "Paused",
            [4] = "WaitingForRelease", [5] = "InSafeSpace", [6] = "SwitchingMap",
            [7] = "SwitchingNavigation", [8] = "Charging", [9] = "Manual", [10] = "EmergencyStop",
            [11] = "Fault", [12] = "LinkLost", [13] = "SafetyStop" },
        ParamType = { [1] = "MaxLinearSpeed", [2] = "MaxReverseSpeed", [3] = "MaxAngularSpeed",
            [4] = "LinearAcceleration", [5] = "LinearDeceleration", [6] = "AngularAcceleration",
            [7] = "ObstacleSlowDistance", [8] = "ObstacleStopDistance", [9] = "PositionTolerance",
            [10] = "HeadingTolerance", [11] = "StatusPeriod", [12] = "HeartbeatPeriod",
            [13] = "BatteryLowThreshold", [14] = "MotionWarning", [15] = "FirmwareVersion",
            [16] = "DisplayName" },
        TargetAttribute = { [0] = "PassThrough", [1] = "Stop", [2] = "ActionPoint",
            [3] = "ChargePoint", [4] = "LiftDoor", [5] = "Destination", [6] = "StopWithHeading" },
        MovementType = { [0] = "Forward", [1] = "Backward", [2] = "Lateral", [3] = "RotateInPlace",
            [4] = "Omnidirectional" },
        LiftAdjustment = { [0] = "None", [1] = "Raise", [2] = "Lower", [3] = "HoldHeading",
            [4] = "Rotate", [5] = "FollowChassis" },
        TaskType = { [0] = "Move", [1] = "Pick", [2] = "Drop", [3] = "Transport", [4] = "Charge",
            [5] = "Park", [6] = "CrossMap" },
        TrajectoryType = { [0] = "Line", [1] = "Arc", [2] = "Bezier" },
        SpaceLimit = { [0] = "Hold", [1] = "RotateOnly", [2] = "TranslateOnly", [3] = "Free" },
        SpecialArea = { [0] = "Normal", [1] = "Forbidden", [2] = "Slow", [3] = "OneWay",
            [4] = "NoStop", [5] = "QrZone", [6] = "SlamZone", [7] = "LiftShaft",
            [8] = "ChargingArea", [9] = "NoRotate", [10] = "Pedestrian" },
        AgvType = { [0] = "Jacking", [1] = "Forklift", [2] = "Tugger", [3] = "Conveyor",
            [4] = "MobileManipulator", [5] = "UnitLoad", [255] = "Other" },
        ActuatorType = { [0] = "Lift", [1] = "RotaryTable", [2] = "Fork", [3] = "Roller",
            [4] = "Clamp", [5] = "TowHook", [6] = "Arm", [7] = "Signal" },
        ActuatorParam = { [0] = "Height", [1] = "Angle", [2] = "Speed", [3] = "Direction",
            [4] = "Duration", [5] = "LoadWeight", [6] = "Reach", [7] = "Tilt" },
        NavigationMode = { [0] = "Slam", [1] = "QrCode", [2] = "Magnetic", [3] = "Reflector" },
        ResultCode = { [0] = "Ok", [1] = "InProgress", [2] = "Busy", [3] = "InvalidParameter",
            [4] = "Unsupported", [5] = "Rejected", [6] = "NotRegistered",
            [7] = "AuthenticationFailed", [8] = "UnknownObject", [9] = "StateConflict",
            [10] = "Timeout", [11] = "MapMismatch", [12] = "SpaceOccupied", [13] = "HardwareFault",
            [14] = "EmergencyStop", [15] = "LowBattery", [16] = "LocalisationLost",
            [17] = "SecureModeRequired", [18] = "InternalError" },
        ErrorCode = { [1] = "MalformedFrame", [2] = "ChecksumMismatch", [3] = "FrameTooLarge",
            [4] = "UnsupportedVersion", [5] = "UnknownMessageType", [6] = "InvalidField",
            [7] = "UnexpectedMessage", [8] = "BadSignature", [9] = "DecryptionFailed",
            [10] = "Replay", [11] = "TimestampSkew", [12] = "SecureModeRequired",
            [13] = "RateLimited", [14] = "AgvIdMismatch", [15] = "InternalError" },
        CloseReason = { [0] = "Shutdown", [1] = "AccessDenied", [2] = "ProtocolViolation",
            [3] = "LivenessTimeout", [4] = "Replaced", [5] = "Operator", [6] = "Rekey",
            [7] = "NotActive" },
        AlarmLevel = { [0] = "Info", [1] = "Warning", [2] = "Error", [3] = "Fatal" },
        AccessMode = { [0] = "Normal", [1] = "Secure" },
        SecureProfile = { [0] = "Guide", [1] = "Fast", [2] = "Gcm" },
        TaskOp = { [0] = "Cancel", [1] = "Pause", [2] = "Resume" },
        StopOp = { [0] = "Stop", [1] = "Clear" },
        StopReason = { [0] = "Overlap", [1] = "Operator" },
        TaskState = { [0] = "Accepted", [1] = "Running", [2] = "Paused", [3] = "WaitingForRelease",
            [4] = "Completed", [5] = "Cancelled", [6] = "Failed" },
        ChargeOp = { [0] = "Start", [1] = "Stop" },
        SpaceReason = { [0] = "ObstacleAvoidance", [1] = "DockingAdjustment",
            [2] = "LocalisationRecovery", [3] = "Manual", [255] = "Other" },
        DenyReason = { [0] = "Occupied", [1] = "Reserved", [2] = "Granted", [3] = "ForbiddenArea",
            [4] = "WrongMap", [5] = "TooLarge", [6] = "InvalidRegion", [7] = "NotAllowed" },
        RevokeReason = { [0] = "Operator", [1] = "Expired", [2] = "Safety" },
    },
    defs = {
        Action = { struct = { { "action_id", "u32" }, { "actuator_id", "u8" },
            { "actuator", { e = "ActuatorType", w = "u8" } },
            { "adjustment", { e = "LiftAdjustment", w = "u8" } }, { "blocking", "bool" },
            { "params", { list = { def = "ActionParam" } } } } },
        ActionParam = { struct = { { "param", { e = "ActuatorParam", w = "u8" } },
            { "value", "f32" } } },
        ActionStatus = { struct = { { "action_id", "u32" },
            { "state", { e = "ActuatorState", w = "u8" } } } },
        ActuatorInfo = { struct = { { "actuator_id", "u8" },
            { "kind", { e = "ActuatorType", w = "u8" } }, { "min", "f32" }, { "max", "f32" } } },
        ActuatorStatus = { struct = { { "actuator_id", "u8" },
            { "kind", { e = "ActuatorType", w = "u8" } },
            { "state", { e = "ActuatorState", w = "u8" } }, { "position", "f32" } } },
        Alarm = { struct = { { "code", "u16" }, { "level", { e = "AlarmLevel", w = "u8" } },
            { "reference", "u32" } } },
        AlarmParams = { struct = { { "battery_low_pct", "f32" }, { "battery_critical_pct", "f32" },
            { "min_localisation_quality", "u8" }, { "max_path_deviation", "f32" } } },
        BatteryInfo = { struct = { { "capacity_wh", "f32" }, { "nominal_voltage", "f32" } } },
        ErrorCounter = { struct = { { "code", "u16" }, { "count", "u32" } } },
        Extension = { struct = { { "key", "u16" }, { "value", "bytes" } } },
        Footprint = { struct = { { "front", "f32" }, { "rear", "f32" }, { "left", "f32" },
            { "right", "f32" }, { "height", "f32" } } },
        KeyExchangeInit = { struct = { { "id", "bytes" }, { "key_id", { arr = 32 } },
            { "ephemeral", { arr = 65 } } } },
        KeyExchangeReply = { struct = { { "id", "bytes" }, { "ephemeral", { arr = 65 } },
            { "confirm", { arr = 32 } } } },
        LoadInfo = { struct = { { "load_id", "string" }, { "weight_kg", "f32" } } },
        MapInfo = { struct = { { "map_id", "u16" }, { "version", "u32" } } },
        Param = { struct = { { "param", { e = "ParamType", w = "u16" } },
            { "value", { def = "ParamValue" } } } },
        ParamResult = { struct = { { "param", { e = "ParamType", w = "u16" } },
            { "result", { e = "ResultCode", w = "u16" } } } },
        ParamValue = { union = {
            [0] = { name = "u32", ty = "u32" },
            [1] = { name = "f32", ty = "f32" },
            [2] = { name = "bool", ty = "bool" },
            [3] = { name = "string", ty = "string" },
        } },
        PathEdge = { struct = { { "edge_id", "u32" }, { "sequence", "u16" },
            { "trajectory", { e = "TrajectoryType", w = "u8" } },
            { "control_points", { list = { def = "Point" } } },
            { "movement", { e = "MovementType", w = "u8" } }, { "max_speed", "f32" } } },
        PathNode = { struct = { { "node_id", "u32" }, { "sequence", "u16" },
            { "pose", { def = "Pose" } }, { "attribute", { e = "TargetAttribute", w = "u8" } },
            { "actions", { list = { def = "Action" } } } } },
        Point = { struct = { { "x", "f64" }, { "y", "f64" } } },
        Pose = { struct = { { "x", "f64" }, { "y", "f64" }, { "theta", "f64" } } },
        RcsAddress = { alias = "string" },
        Region = { union = {
            [0] = { name = "rectangle", fields = { { "center", { def = "Pose" } }, { "length", "f32" },
                { "width", "f32" } } },
            [1] = { name = "polygon", fields = { { "points", { list = { def = "Point" } } } } },
            [2] = { name = "circle", fields = { { "center", { def = "Point" } }, { "radius", "f32" } } },
            [3] = { name = "corridor", fields = { { "points", { list = { def = "Point" } } },
                { "half_width", "f32" } } },
        } },
        SpeedLimits = { struct = { { "forward", "f32" }, { "reverse", "f32" }, { "lateral", "f32" },
            { "angular", "f32" }, { "acceleration", "f32" }, { "deceleration", "f32" } } },
        Velocity = { struct = { { "vx", "f32" }, { "vy", "f32" }, { "omega", "f32" } } },
    },
    messages = {
        [0x0101] = { name = "AccessRequest", abbr = "access_request", dir = "AGV → RCS",
            fields = { { "mode", { e = "AccessMode", w = "u8" } },
                { "profile", { e = "SecureProfile", w = "u8" } }, { "min_version", "u8" },
                { "max_version", "u8" }, { "key_exchange", { opt = { def = "KeyExchangeInit" } } } } },
        [0x0102] = { name = "AccessResponse", abbr = "access_response", dir = "RCS → AGV",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "mode", { e = "AccessMode", w = "u8" } },
                { "profile", { e = "SecureProfile", w = "u8" } }, { "version", "u8" },
                { "session_id", "u32" }, { "server_time_ms", "u64" },
                { "key_exchange", { opt = { def = "KeyExchangeReply" } } } } },
        [0x0103] = { name = "AccessConfirm", abbr = "access_confirm", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "confirm", { arr = 32 } } } },
        [0x0104] = { name = "Close", abbr = "close", dir = "both",
            fields = { { "reason", { e = "CloseReason", w = "u8" } }, { "detail", "string" } } },
        [0x0201] = { name = "RegisterRequest", abbr = "register_request", dir = "AGV → RCS",
            fields = { { "agv_type", { e = "AgvType", w = "u8" } }, { "vendor", "string" },
                { "model", "string" }, { "serial", "string" }, { "firmware", "string" },
                { "footprint", { def = "Footprint" } }, { "speeds", { def = "SpeedLimits" } },
                { "load_capacity_kg", "f32" },
                { "navigation_modes", { list = { e = "NavigationMode", w = "u8" } } },
                { "maps", { list = { def = "MapInfo" } } },
                { "actuators", { list = { def = "ActuatorInfo" } } },
                { "battery", { def = "BatteryInfo" } },
                { "extensions", { list = { def = "Extension" } } } } },
        [0x0202] = { name = "RegisterResponse", abbr = "register_response", dir = "RCS → AGV",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "config_version", "u32" }, { "server_time_ms", "u64" } } },
        [0x0301] = { name = "ConfigPush", abbr = "config_push", dir = "RCS → AGV",
            fields = { { "config_version", "u32" }, { "status_period_ms", "u32" },
                { "heartbeat_period_ms", "u32" }, { "link_timeout_ms", "u32" },
                { "operation_report_period_s", "u32" }, { "alarms", { def = "AlarmParams" } },
                { "max_linear_speed", "f32" }, { "max_angular_speed", "f32" },
                { "extensions", { list = { def = "Extension" } } } } },
        [0x0401] = { name = "Heartbeat", abbr = "heartbeat", dir = "AGV → RCS",
            fields = {} },
        [0x0402] = { name = "HeartbeatAck", abbr = "heartbeat_ack", dir = "RCS → AGV",
            fields = { { "request_seq", "u32" }, { "server_time_ms", "u64" } } },
        [0x0501] = { name = "ParamQuery", abbr = "param_query", dir = "RCS → AGV",
            fields = { { "params", { list = { e = "ParamType", w = "u16" } } } } },
        [0x0502] = { name = "ParamQueryResponse", abbr = "param_query_response", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "values", { list = { def = "Param" } } } } },
        [0x0503] = { name = "ParamSet", abbr = "param_set", dir = "RCS → AGV",
            fields = { { "values", { list = { def = "Param" } } } } },
        [0x0504] = { name = "ParamSetResponse", abbr = "param_set_response", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "results", { list = { def = "ParamResult" } } } } },
        [0x0601] = { name = "MotionCommand", abbr = "motion_command", dir = "RCS → AGV",
            fields = { { "task_id", "u32" }, { "task_type", { e = "TaskType", w = "u8" } },
                { "segment", "u16" }, { "map_id", "u16" },
                { "nodes", { list = { def = "PathNode" } } },
                { "edges", { list = { def = "PathEdge" } } }, { "released_nodes", "u16" },
                { "max_speed", "f32" }, { "extensions", { list = { def = "Extension" } } } } },
        [0x0602] = { name = "TaskControl", abbr = "task_control", dir = "RCS → AGV",
            fields = { { "task_id", "u32" }, { "op", { e = "TaskOp", w = "u8" } } } },
        [0x0603] = { name = "TaskProgress", abbr = "task_progress", dir = "AGV → RCS",
            fields = { { "task_id", "u32" }, { "segment", "u16" },
                { "state", { e = "TaskState", w = "u8" } }, { "last_node_id", "u32" },
                { "last_node_sequence", "u16" }, { "distance_since_last_node", "f32" },
                { "actions", { list = { def = "ActionStatus" } } },
                { "result", { e = "ResultCode", w = "u16" } } } },
        [0x0604] = { name = "SafetyStop", abbr = "safety_stop", dir = "RCS → AGV",
            fields = { { "op", { e = "StopOp", w = "u8" } },
                { "reason", { e = "StopReason", w = "u8" } }, { "episode", "u32" },
                { "other_agv_id", "u32" } } },
        [0x0701] = { name = "ChargeControl", abbr = "charge_control", dir = "RCS → AGV",
            fields = { { "op", { e = "ChargeOp", w = "u8" } }, { "charger_node_id", "u32" },
                { "target_pct", "f32" } } },
        [0x0702] = { name = "ChargeResult", abbr = "charge_result", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "battery_pct", "f32" }, { "charging", "bool" } } },
        [0x0801] = { name = "NavSwitch", abbr = "nav_switch", dir = "RCS → AGV",
            fields = { { "target", { e = "NavigationMode", w = "u8" } }, { "map_id", "u16" },
                { "initial_pose", { opt = { def = "Pose" } } } } },
        [0x0802] = { name = "NavSwitchResult", abbr = "nav_switch_result", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "mode", { e = "NavigationMode", w = "u8" } }, { "localisation_quality", "u8" } } },
        [0x0901] = { name = "MapSwitch", abbr = "map_switch", dir = "RCS → AGV",
            fields = { { "target_map_id", "u16" }, { "target_map_version", "u32" },
                { "initial_pose", { def = "Pose" } }, { "lift_id", "u16" }, { "floor", "i32" },
                { "navigation", { e = "NavigationMode", w = "u8" } } } },
        [0x0902] = { name = "MapSwitchResult", abbr = "map_switch_result", dir = "AGV → RCS",
            fields = { { "request_seq", "u32" }, { "result", { e = "ResultCode", w = "u16" } },
                { "map_id", "u16" }, { "localisation_quality", "u8" },
                { "pose", { def = "Pose" } } } },
        [0x0a01] = { name = "SpaceRequest", abbr = "space_request", dir = "AGV → RCS",
            fields = { { "map_id", "u16" }, { "region", { def = "Region" } },
                { "limit", { e = "SpaceLimit", w = "u8" } }, { "duration_ms", "u32" },
                { "reason", { e = "SpaceReason", w = "u8" } } } },
        [0x0a02] = { name = "SpaceGrant", abbr = "space_grant", dir = "RCS → AGV",
            fields = { { "request_seq", "u32" }, { "grant_id", "u32" }, { "map_id", "u16" },
                { "region", { def = "Region" } }, { "limit", { e = "SpaceLimit", w = "u8" } },
                { "expires_at_ms", "u64" } } },
        [0x0a03] = { name = "SpaceDeny", abbr = "space_deny", dir = "RCS → AGV",
            fields = { { "request_seq", "u32" }, { "reason", { e = "DenyReason", w = "u8" } },
                { "retry_after_ms", "u32" } } },
        [0x0a04] = { name = "SpaceRelease", abbr = "space_release", dir = "AGV → RCS",
            fields = { { "grant_id", "u32" } } },
        [0x0a05] = { name = "SpaceRevoke", abbr = "space_revoke", dir = "RCS → AGV",
            fields = { { "grant_id", "u32" }, { "reason", { e = "RevokeReason", w = "u8" } } } },
        [0x0b01] = { name = "StatusReport", abbr = "status_report", dir = "AGV → RCS",
            fields = { { "map_id", "u16" }, { "pose", { def = "Pose" } },
                { "localisation_quality", "u8" },
                { "navigation_mode", { e = "NavigationMode", w = "u8" } },
                { "velocity", { def = "Velocity" } }, { "state", { e = "AgvState", w = "u8" } },
                { "battery_pct", "f32" }, { "battery_voltage", "f32" }, { "charging", "bool" },
                { "e_stop", "bool" }, { "loads", { list = { def = "LoadInfo" } } },
                { "actuators", { list = { def = "ActuatorStatus" } } }, { "task_id", "u32" },
                { "segment", "u16" }, { "last_node_id", "u32" }, { "last_node_sequence", "u16" },
                { "edge_id", "u32" }, { "distance_since_last_node", "f32" }, { "grant_id", "u32" },
                { "alarms", { list = { def = "Alarm" } } },
                { "extensions", { list = { def = "Extension" } } } } },
        [0x0b02] = { name = "OperationReport", abbr = "operation_report", dir = "AGV → RCS",
            fields = { { "odometer_m", "f64" }, { "run_time_s", "u64" }, { "moving_time_s", "u64" },
                { "charge_cycles", "u32" }, { "battery_health_pct", "f32" },
                { "tasks_completed", "u32" },
                { "error_counters", { list = { def = "ErrorCounter" } } },
                { "extensions", { list = { def = "Extension" } } } } },
        [0x0f01] = { name = "Ack", abbr = "ack", dir = "both",
            fields = { { "request_seq", "u32" }, { "request_type", "u16" },
                { "result", { e = "ResultCode", w = "u16" } }, { "detail", "string" } } },
        [0x0f02] = { name = "Error", abbr = "error", dir = "both",
            fields = { { "request_seq", "u32" }, { "code", { e = "ErrorCode", w = "u16" } },
                { "detail", "string" } } },
    },
    extensions = {
        [0x0001] = { name = "RcsAddresses", abbr = "rcs_addresses", ty = { list = { def = "RcsAddress" } } },
    },
}

-- The dissector proper: it walks SPEC (above, generated from docs/protocol.md) over each frame.
-- (This part is protocol/tests/support/rcs_engine.lua, copied verbatim by the generator.)

local rcs = Proto("rcs", "rcs AGV <-> RCS protocol")

-- Bit operations: Lua 5.2's bit32, Wireshark's bit, or the operators of Lua 5.3 and later.
local band, bxor, rshift, lshift
if bit32 then
    band, bxor, rshift, lshift = bit32.band, bit32.bxor, bit32.rshift, bit32.lshift
elseif bit then
    band, bxor, rshift, lshift = bit.band, bit.bxor, bit.rshift, bit.lshift
else
    band = load("return function(a, b) return a & b end")()
    bxor = load("return function(a, b) return a ~ b end")()
    rshift = load("return function(a, n) return (a & 0xFFFFFFFF) >> n end")()
    lshift = load("return function(a, n) return (a << n) & 0xFFFFFFFF end")()
end
local function u32(x) return x % 4294967296 end

-- CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, not reflected) and CRC-32C (reflected 0x82F63B78).
local function crc16(bytes)
    local crc = 0xFFFF
    for i = 0, bytes:len() - 1 do
        crc = bxor(crc, lshift(bytes:get_index(i), 8))
        for _ = 1, 8 do
            if band(crc, 0x8000) ~= 0 then
                crc = bxor(band(lshift(crc, 1), 0xFFFF), 0x1021)
            else
                crc = band(lshift(crc, 1), 0xFFFF)
            end
        end
    end
    return u32(crc)
end
local CRC32C = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if band(c, 1) ~= 0 then c = bxor(rshift(c, 1), 0x82F63B78) else c = rshift(c, 1) end
    end
    CRC32C[i] = u32(c)
end
local function crc32c(bytes)
    local crc = 0xFFFFFFFF
    for i = 0, bytes:len() - 1 do
        crc = bxor(rshift(crc, 8), CRC32C[u32(band(bxor(crc, bytes:get_index(i)), 0xFF))])
    end
    return u32(bxor(crc, 0xFFFFFFFF))
end

local ENUMS, DEFS, MESSAGES, EXTENSIONS = SPEC.enums, SPEC.defs, SPEC.messages, SPEC.extensions

-- Expert infos: what section 5 calls malformed or invalid, and bad CRCs.
local EX = {
    truncated = ProtoExpert.new("rcs.truncated", "Body ends inside a field (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
    trailing = ProtoExpert.new("rcs.trailing", "Bytes left over after the last field (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
    invalid = ProtoExpert.new("rcs.invalid", "Value not allowed by the specification (InvalidField)",
        expert.group.MALFORMED, expert.severity.WARN),
    unknown = ProtoExpert.new("rcs.unknown_type", "Message type not in this specification",
        expert.group.UNDECODED, expert.severity.NOTE),
    crc = ProtoExpert.new("rcs.bad_crc", "Checksum mismatch (ChecksumMismatch)",
        expert.group.CHECKSUM, expert.severity.ERROR),
    garbage = ProtoExpert.new("rcs.garbage", "Bytes that do not start a frame (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
}
rcs.experts = { EX.truncated, EX.trailing, EX.invalid, EX.unknown, EX.crc, EX.garbage }

-- Fields: one per path (rcs.<message>.<field>.<subfield>...), declared before dissection.
local PF, ORDER = {}, {}
local function decl(abbr, make)
    if not PF[abbr] then
        PF[abbr] = make()
        ORDER[#ORDER + 1] = PF[abbr]
    end
    return PF[abbr]
end

local function resolve(ty)
    while type(ty) == "table" and ty.def and DEFS[ty.def].alias do ty = DEFS[ty.def].alias end
    return ty
end
local function composite(ty)
    ty = resolve(ty)
    return type(ty) == "table" and ty.def ~= nil
end

local UINT = { u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32,
    u64 = ProtoField.uint64 }
local SIZE = { u8 = 1, u16 = 2, u32 = 4, u64 = 8, i32 = 4, f32 = 4, f64 = 8, bool = 1 }
local PRESENT = { [0] = "absent", [1] = "present" }

local declare, declare_contents
function declare(ty, abbr, label)
    ty = resolve(ty)
    if type(ty) == "string" then
        decl(abbr, function()
            if UINT[ty] then return UINT[ty](abbr, label, base.DEC) end
            if ty == "i32" then return ProtoField.int32(abbr, label, base.DEC) end
            if ty == "f32" then return ProtoField.float(abbr, label) end
            if ty == "f64" then return ProtoField.double(abbr, label) end
            if ty == "bool" then return ProtoField.bool(abbr, label) end
            if ty == "string" then return ProtoField.string(abbr, label) end
            return ProtoField.bytes(abbr, label)
        end)
    elseif ty.e then
        decl(abbr, function() return UINT[ty.w](abbr, label, base.DEC, ENUMS[ty.e]) end)
    elseif ty.arr then
        decl(abbr, function() return ProtoField.bytes(abbr, label) end)
    elseif ty.list then
        decl(abbr, function() return ProtoField.uint16(abbr, label, base.DEC) end)
        if composite(ty.list) then
            decl(abbr .. ".item", function() return ProtoField.none(abbr .. ".item", "item") end)
            declare_contents(ty.list, abbr)
        else
            declare(ty.list, abbr .. ".item", "item")
        end
    elseif ty.opt then
        decl(abbr, function() return ProtoField.uint8(abbr, label, base.DEC, PRESENT) end)
        if composite(ty.opt) then
            declare_contents(ty.opt, abbr)
        else
            declare(ty.opt, abbr .. ".value", "value")
        end
    else
        decl(abbr, function() return ProtoField.none(abbr, label) end)
        declare_contents(ty, abbr)
    end
end

function declare_contents(ty, abbr)
    local name = resolve(ty).def
    local d = DEFS[name]
    if d.struct then
        for _, f in ipairs(d.struct) do declare(f[2], abbr .. "." .. f[1], f[1]) end
        if name == "Extension" then
            for _, x in pairs(EXTENSIONS) do declare(x.ty, abbr .. "." .. x.abbr, x.name) end
        end
    else
        local names = {}
        for tag, v in pairs(d.union) do names[tag] = v.name end
        decl(abbr .. ".tag", function() return ProtoField.uint8(abbr .. ".tag", "tag", base.DEC, names) end)
        for _, v in pairs(d.union) do
            local at = abbr .. "." .. v.name
            if v.ty then
                declare(v.ty, at, v.name)
            else
                decl(at, function() return ProtoField.none(at, v.name) end)
                for _, f in ipairs(v.fields) do declare(f[2], at .. "." .. f[1], f[1]) end
            end
        end
    end
end

-- The frame's own fields.
local H = {}
local MESSAGE_NAMES = {}
for code, m in pairs(MESSAGES) do MESSAGE_NAMES[code] = m.name end
for _, h in ipairs(SPEC.header) do
    local abbr = "rcs." .. h.abbr
    H[h.name] = h
    decl(abbr, function()
        if h.name == "magic" or h.name == "reserved" then return ProtoField.bytes(abbr, h.name) end
        if h.name == "flags" then return ProtoField.uint8(abbr, h.name, base.HEX) end
        if h.name == "message type" then return ProtoField.uint16(abbr, h.name, base.HEX, MESSAGE_NAMES) end
        if h.name == "header CRC" then return ProtoField.uint16(abbr, h.name, base.HEX) end
        return UINT[({ "u8", "u16", nil, "u32", nil, nil, nil, "u64" })[h.size]](abbr, h.name, base.DEC)
    end)
end
for _, f in ipairs(SPEC.flags) do
    local abbr = "rcs.flags." .. f.name:lower()
    decl(abbr, function()
        if f.name == "reserved" then return ProtoField.uint8(abbr, f.name, base.HEX, nil, f.mask) end
        return ProtoField.bool(abbr, f.name, 8, nil, f.mask)
    end)
end
decl("rcs.encrypted_body", function() return ProtoField.bytes("rcs.encrypted_body", "encrypted body") end)
decl("rcs.body", function() return ProtoField.bytes("rcs.body", "body") end)
decl("rcs.auth_tag", function() return ProtoField.bytes("rcs.auth_tag", "auth tag") end)
decl("rcs.frame_crc", function() return ProtoField.uint32("rcs.frame_crc", "frame CRC", base.HEX) end)
decl("rcs.garbage", function() return ProtoField.bytes("rcs.garbage", "not a frame") end)
for code, m in pairs(MESSAGES) do
    decl("rcs." .. m.abbr, function() return ProtoField.none("rcs." .. m.abbr, m.name) end)
    for _, f in ipairs(m.fields) do declare(f[2], "rcs." .. m.abbr .. "." .. f[1], f[1]) end
end
rcs.fields = ORDER

-- Dissection: a cursor { tvb, off, stop, pinfo } walks the body.
local function need(c, n)
    if c.off + n > c.stop then error({ truncated = true }) end
end
local function invalid(c, item, why)
    item:add_proto_expert_info(EX.invalid, why)
end

local dissect, contents
function dissect(ty, c, tree, abbr)
    ty = resolve(ty)
    local start = c.off
    if type(ty) == "string" then
        if ty == "string" then
            need(c, 1)
            local n = c.tvb(c.off, 1):uint()
            need(c, 1 + n)
            local s = n > 0 and c.tvb(c.off + 1, n):string(ENC_UTF_8) or ""
            c.off = c.off + 1 + n
            return tree:add(PF[abbr], c.tvb(start, 1 + n), s)
        elseif ty == "bytes" then
            need(c, 2)
            local n = c.tvb(c.off, 2):le_uint()
            need(c, 2 + n)
            c.off = c.off + 2 + n
            local item = tree:add(PF[abbr], c.tvb(start + 2, n))
            item:append_text(" (" .. n .. " bytes)")
            return item
        end
        need(c, SIZE[ty])
        local item = tree:add_le(PF[abbr], c.tvb(c.off, SIZE[ty]))
        if ty == "bool" and c.tvb(c.off, 1):uint() > 1 then invalid(c, item, "a bool is 00 or 01") end
        c.off = c.off + SIZE[ty]
        return item
    elseif ty.e then
        local n = SIZE[ty.w]
        need(c, n)
        local item = tree:add_le(PF[abbr], c.tvb(c.off, n))
        local v = c.tvb(c.off, n):le_uint()
        if ENUMS[ty.e][v] == nil then invalid(c, item, v .. " is not in " .. ty.e .. "'s table") end
        c.off = c.off + n
        return item
    elseif ty.arr then
        need(c, ty.arr)
        c.off = c.off + ty.arr
        return tree:add(PF[abbr], c.tvb(start, ty.arr))
    elseif ty.list then
        need(c, 2)
        local n = c.tvb(c.off, 2):le_uint()
        local item = tree:add_le(PF[abbr], c.tvb(c.off, 2))
        c.off = c.off + 2
        for i = 1, n do
            if composite(ty.list) then
                local at = c.off
                local e = item:add(PF[abbr .. ".item"], c.tvb(c.off, 0))
                e:append_text(" " .. i)
                contents(ty.list, c, e, abbr)
                e:set_len(c.off - at)
            else
                dissect(ty.list, c, item, abbr .. ".item")
            end
        end
        item:set_len(c.off - start)
        return item
    elseif ty.opt then
        need(c, 1)
        local flag = c.tvb(c.off, 1):uint()
        local item = tree:add_le(PF[abbr], c.tvb(c.off, 1))
        c.off = c.off + 1
        if flag == 1 then
            if composite(ty.opt) then contents(ty.opt, c, item, abbr) else dissect(ty.opt, c, item, abbr .. ".value") end
        elseif flag ~= 0 then
            invalid(c, item, "an option is 00 or 01")
            error({ stop = true })
        end
        item:set_len(c.off - start)
        return item
    end
    local item = tree:add(PF[abbr], c.tvb(c.off, 0))
    contents(ty, c, item, abbr)
    item:set_len(c.off - start)
    return item
end

function contents(ty, c, tree, abbr)
    local name = resolve(ty).def
    local d = DEFS[name]
    if d.struct then
        local items, starts = {}, {}
        for _, f in ipairs(d.struct) do
            starts[f[1]] = c.off
            items[f[1]] = dissect(f[2], c, tree, abbr .. "." .. f[1])
        end
        if name == "Extension" then
            local key = c.tvb(starts.key, 2):le_uint()
            local x = EXTENSIONS[key]
            if x then
                items.key:append_text(" (" .. x.name .. ")")
                local n = c.tvb(starts.value, 2):le_uint()
                local sub = { tvb = c.tvb, off = starts.value + 2, stop = starts.value + 2 + n, pinfo = c.pinfo }
                dissect(x.ty, sub, items.value, abbr .. "." .. x.abbr)
                if sub.off ~= sub.stop then items.value:add_proto_expert_info(EX.trailing) end
            end
        end
        return
    end
    need(c, 1)
    local tag = c.tvb(c.off, 1):uint()
    local item = tree:add_le(PF[abbr .. ".tag"], c.tvb(c.off, 1))
    c.off = c.off + 1
    local v = d.union[tag]
    if not v then
        invalid(c, item, tag .. " is not a tag of " .. name)
        error({ stop = true })
    end
    local at = abbr .. "." .. v.name
    if v.ty then
        dissect(v.ty, c, tree, at)
    else
        local start = c.off
        local vi = tree:add(PF[at], c.tvb(c.off, 0))
        for _, f in ipairs(v.fields) do dissect(f[2], c, vi, at .. "." .. f[1]) end
        vi:set_len(c.off - start)
    end
end

local function has(flags, name)
    for _, f in ipairs(SPEC.flags) do
        if f.name == name then return band(flags, f.mask) ~= 0 end
    end
    return false
end

local function tag_len(flags)
    for _, t in ipairs(SPEC.tags) do
        if has(flags, t.flag) then return t.len, t.flag end
    end
    return 0, nil
end

local function field_at(tvb, off, name)
    local h = H[name]
    return tvb(off + h.off, h.size)
end

-- The whole length of the frame at `off` (its header is there).
local function frame_len(tvb, off)
    local flags = field_at(tvb, off, "flags"):uint()
    local body = field_at(tvb, off, "body length"):le_uint()
    return SPEC.header_len + body + tag_len(flags) + SPEC.trailer
end

local MAX_FRAME = 16 * 1024 * 1024

-- One whole frame at `off`, `len` bytes; returns a summary for the Info column.
local function dissect_frame(tvb, off, len, pinfo, tree)
    local ftvb = tvb(off, len):tvb()
    local top = tree:add(rcs, ftvb())
    for _, h in ipairs(SPEC.header) do
        local item = top:add_le(PF["rcs." .. h.abbr], ftvb(h.off, h.size))
        if h.name == "flags" then
            for _, f in ipairs(SPEC.flags) do item:add(PF["rcs.flags." .. f.name:lower()], ftvb(h.off, 1)) end
        elseif h.name == "timestamp" then
            local ms = ftvb(h.off, h.size):le_uint64():tonumber()
            item:append_text(os.date("! (%Y-%m-%d %H:%M:%S", math.floor(ms / 1000)) ..
                string.format(".%03d UTC)", ms % 1000))
        elseif h.name == "header CRC" then
            local want = crc16(ftvb(0, h.off):bytes())
            if want == ftvb(h.off, h.size):le_uint() then
                item:append_text(" [correct]")
            else
                item:add_proto_expert_info(EX.crc, string.format("header CRC should be 0x%04x", want))
            end
        end
    end
    local flags = field_at(ftvb, 0, "flags"):uint()
    local code = field_at(ftvb, 0, "message type"):le_uint()
    local seq = field_at(ftvb, 0, "sequence number"):le_uint()
    local body_len = field_at(ftvb, 0, "body length"):le_uint()
    local tlen, tflag = tag_len(flags)
    local hl = SPEC.header_len
    local m = MESSAGES[code]
    local name = m and m.name or string.format("0x%04x", code)
    top:append_text(", " .. name .. ", seq " .. seq)
    if has(flags, "ENCRYPTED") then
        local item = top:add(PF["rcs.encrypted_body"], ftvb(hl, body_len))
        item:append_text(" (" .. name .. ", SM4-CTR ciphertext: not decoded)")
        name = name .. " [encrypted]"
    elseif not m then
        top:add(PF["rcs.body"], ftvb(hl, body_len)):add_proto_expert_info(EX.unknown)
    else
        local mtree = top:add(PF["rcs." .. m.abbr], ftvb(hl, body_len))
        local c = { tvb = ftvb, off = hl, stop = hl + body_len, pinfo = pinfo }
        local ok, err = pcall(function()
            for _, f in ipairs(m.fields) do dissect(f[2], c, mtree, "rcs." .. m.abbr .. "." .. f[1]) end
        end)
        if not ok then
            if type(err) ~= "table" then error(err) end
            if err.truncated then mtree:add_proto_expert_info(EX.truncated) end
        elseif c.off < c.stop then
            mtree:add_proto_expert_info(EX.trailing, (c.stop - c.off) .. " bytes left over")
        end
    end
    if tlen > 0 then
        local item = top:add(PF["rcs.auth_tag"], ftvb(hl + body_len, tlen))
        item:append_text(tflag == "SIGNED" and " (SM2 signature r || s)" or (" (" .. tflag .. ")"))
    end
    local crc_at = hl + body_len + tlen
    local item = top:add_le(PF["rcs.frame_crc"], ftvb(crc_at, SPEC.trailer))
    local want = crc32c(ftvb(hl, body_len + tlen):bytes())
    if want == ftvb(crc_at, SPEC.trailer):le_uint() then
        item:append_text(" [correct]")
    else
        item:add_proto_expert_info(EX.crc, string.format("frame CRC should be 0x%08x", want))
    end
    return name
end

local MAGIC = SPEC.magic

-- A TCP stream's bytes: several frames per segment, a frame over several segments.
function rcs.dissector(tvb, pinfo, tree)
    local n = tvb:len()
    local off = 0
    local names = {}
    while off < n do
        local avail = n - off
        local m = math.min(avail, #MAGIC)
        for i = 1, m do
            if tvb(off + i - 1, 1):uint() ~= MAGIC[i] then
                if off == 0 then return 0 end
                local g = tree:add(rcs, tvb(off, avail))
                g:add(PF["rcs.garbage"], tvb(off, avail)):add_proto_expert_info(EX.garbage)
                off = n
                break
            end
        end
        if off >= n then break end
        if avail < SPEC.header_len then
            pinfo.desegment_offset = off
            pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
            break
        end
        local len = frame_len(tvb, off)
        if len > MAX_FRAME then
            local g = tree:add(rcs, tvb(off, avail))
            g:add(PF["rcs.garbage"], tvb(off, avail)):add_proto_expert_info(EX.garbage, "frame larger than 16 MiB")
            off = n
            break
        end
        if avail < len then
            pinfo.desegment_offset = off
            pinfo.desegment_len = len - avail
            break
        end
        names[#names + 1] = dissect_frame(tvb, off, len, pinfo, tree)
        off = off + len
    end
    -- called again for the same packet after a reassembled frame: append to what it showed
    local again = tostring(pinfo.cols.protocol) == "RCS"
    pinfo.cols.protocol = "RCS"
    if #names > 0 then
        local text = table.concat(names, ", ")
        if again then pinfo.cols.info:append(", " .. text) else pinfo.cols.info = text end
    end
    return n
end

-- Registered on the RCS's default AGV port; any other port through Decode As (TCP port, RCS).
DissectorTable.get("tcp.port"):add(SPEC.port, rcs)
