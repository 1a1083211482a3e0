//! C input to protocol messages: every pointer checked for NULL, every list and string for its
//! length, every enumerated value against its table. Nothing here trusts a value from C.

use core::ffi::c_char;

use protocol::message::*;
use protocol::session::SessionConfig;
use protocol::types::*;

use crate::error::{Error, wire};
use crate::types::*;

/// Longest list accepted from C (the wire's own list limit is lower for most lists).
pub(crate) const MAX_LIST: usize = 65_535;
/// Longest string accepted from C, bytes.
pub(crate) const MAX_STRING: usize = 65_535;

/// A slice from a C pointer and length; NULL is allowed for an empty list.
///
/// # Safety
/// When `len > 0` and `ptr` is not NULL, `ptr` must point to `len` initialised `T`s that stay
/// valid and unchanged for `'a`.
pub unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    what: &'static str,
) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::Null(what));
    }
    if len > MAX_LIST {
        return Err(Error::Invalid(format!(
            "{what}: {len} items, at most {MAX_LIST}"
        )));
    }
    if !ptr.is_aligned() {
        return Err(Error::Invalid(format!("{what}: misaligned pointer")));
    }
    // SAFETY: not NULL, aligned, `len` bounded (so `len * size_of::<T>()` cannot overflow
    // `isize` for the structs of this ABI); the caller guarantees `len` valid `T`s.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A reference from a C pointer that must not be NULL.
///
/// # Safety
/// When not NULL, `ptr` must point to an initialised `T` valid for `'a`.
pub unsafe fn reference<'a, T>(ptr: *const T, what: &'static str) -> Result<&'a T, Error> {
    if !ptr.is_aligned() {
        return Err(Error::Invalid(format!("{what}: misaligned pointer")));
    }
    // SAFETY: aligned; the caller guarantees a NULL or a valid `T`; `as_ref` checks NULL.
    unsafe { ptr.as_ref() }.ok_or(Error::Null(what))
}

/// A string from a NUL-terminated C string (NULL: empty), read up to `MAX_STRING` bytes.
///
/// # Safety
/// When not NULL, `ptr` must point to a NUL-terminated string, or to at least `MAX_STRING + 1`
/// readable bytes.
pub unsafe fn string(ptr: *const c_char, what: &'static str) -> Result<String, Error> {
    if ptr.is_null() {
        return Ok(String::new());
    }
    let mut len = 0;
    // SAFETY: the caller guarantees every byte up to the NUL is readable; the loop stops at the
    // NUL or after MAX_STRING bytes, whichever comes first.
    while unsafe { ptr.add(len).read() } != 0 {
        len += 1;
        if len > MAX_STRING {
            return Err(Error::Invalid(format!(
                "{what}: longer than {MAX_STRING} bytes"
            )));
        }
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Invalid(format!("{what}: not UTF-8")))
}

/// A duration or limit of the configuration: 0 keeps the default.
fn or_default(value: u32, default: u64) -> u64 {
    if value == 0 {
        default
    } else {
        u64::from(value)
    }
}

/// The session configuration of `c`.
pub fn session_config(c: &RcsAgvConfig) -> SessionConfig {
    let d = SessionConfig::default();
    SessionConfig {
        heartbeat_period_ms: or_default(c.heartbeat_period_ms, d.heartbeat_period_ms),
        link_timeout_ms: or_default(c.link_timeout_ms, d.link_timeout_ms),
        handshake_timeout_ms: or_default(c.handshake_timeout_ms, d.handshake_timeout_ms),
        command_timeout_ms: or_default(c.command_timeout_ms, d.command_timeout_ms),
        max_retransmits: c.max_retransmits,
        max_frame_len: or_default(c.max_frame_len, d.max_frame_len as u64) as usize,
        ..d
    }
}

fn pose(p: &RcsPose) -> Pose {
    Pose {
        x: p.x,
        y: p.y,
        theta: p.theta,
    }
}

fn point(p: &RcsPoint) -> Point {
    Point { x: p.x, y: p.y }
}

/// The registration of `c`.
///
/// # Safety
/// The pointers of `c` must be valid as [`slice()`] and [`string`] require.
pub unsafe fn registration(c: &RcsAgvConfig) -> Result<RegisterRequest, Error> {
    // SAFETY: the caller guarantees the pointers of `c`.
    let modes = unsafe {
        slice(
            c.navigation_modes,
            c.navigation_modes_len,
            "navigation_modes",
        )?
    };
    // SAFETY: as above.
    let maps = unsafe { slice(c.maps, c.maps_len, "maps")? };
    // SAFETY: as above.
    let actuators = unsafe { slice(c.actuators, c.actuators_len, "actuators")? };
    // SAFETY: as above.
    let vendor = unsafe { string(c.vendor, "vendor")? };
    // SAFETY: as above.
    let model = unsafe { string(c.model, "model")? };
    // SAFETY: as above.
    let serial = unsafe { string(c.serial, "serial")? };
    // SAFETY: as above.
    let firmware = unsafe { string(c.firmware, "firmware")? };
    let f = &c.footprint;
    let s = &c.speeds;
    Ok(RegisterRequest {
        agv_type: wire!(AgvType, c.agv_type, "agv_type")?,
        vendor,
        model,
        serial,
        firmware,
        footprint: Footprint {
            front: f.front,
            rear: f.rear,
            left: f.left,
            right: f.right,
            height: f.height,
        },
        speeds: SpeedLimits {
            forward: s.forward,
            reverse: s.reverse,
            lateral: s.lateral,
            angular: s.angular,
            acceleration: s.acceleration,
            deceleration: s.deceleration,
        },
        load_capacity_kg: c.load_capacity_kg,
        navigation_modes: modes
            .iter()
            .map(|m| wire!(NavigationMode, *m, "navigation_modes"))
            .collect::<Result<_, _>>()?,
        maps: maps
            .iter()
            .map(|m| MapInfo {
                map_id: m.map_id,
                version: m.version,
            })
            .collect(),
        actuators: actuators
            .iter()
            .map(|a| {
                Ok(ActuatorInfo {
                    actuator_id: a.actuator_id,
                    kind: wire!(ActuatorType, a.kind, "actuators.kind")?,
                    min: a.min,
                    max: a.max,
                })
            })
            .collect::<Result<_, Error>>()?,
        battery: BatteryInfo {
            capacity_wh: c.battery_capacity_wh,
            nominal_voltage: c.battery_nominal_voltage,
        },
        extensions: Vec::new(),
    })
}

/// A status report.
///
/// # Safety
/// The pointers of `r` must be valid as [`slice()`] and [`string`] require.
pub unsafe fn status(r: &RcsStatusReport) -> Result<Message, Error> {
    // SAFETY: the caller guarantees the pointers of `r`.
    let loads = unsafe { slice(r.loads, r.loads_len, "loads")? };
    // SAFETY: as above.
    let actuators = unsafe { slice(r.actuators, r.actuators_len, "actuators")? };
    // SAFETY: as above.
    let alarms = unsafe { slice(r.alarms, r.alarms_len, "alarms")? };
    Ok(StatusReport {
        map_id: r.map_id,
        pose: pose(&r.pose),
        localisation_quality: r.localisation_quality,
        navigation_mode: wire!(NavigationMode, r.navigation_mode, "navigation_mode")?,
        velocity: Velocity {
            vx: r.velocity.vx,
            vy: r.velocity.vy,
            omega: r.velocity.omega,
        },
        state: wire!(AgvState, r.state, "state")?,
        battery_pct: r.battery_pct,
        battery_voltage: r.battery_voltage,
        charging: r.charging,
        e_stop: r.e_stop,
        loads: loads
            .iter()
            .map(|l| {
                Ok(LoadInfo {
                    // SAFETY: the caller guarantees the strings of `r`.
                    load_id: unsafe { string(l.load_id, "loads.load_id")? },
                    weight_kg: l.weight_kg,
                })
            })
            .collect::<Result<_, Error>>()?,
        actuators: actuators
            .iter()
            .map(|a| {
                Ok(ActuatorStatus {
                    actuator_id: a.actuator_id,
                    kind: wire!(ActuatorType, a.kind, "actuators.kind")?,
                    state: wire!(ActuatorState, a.state, "actuators.state")?,
                    position: a.position,
                })
            })
            .collect::<Result<_, Error>>()?,
        task_id: r.task_id,
        segment: r.segment,
        last_node_id: r.last_node_id,
        last_node_sequence: r.last_node_sequence,
        edge_id: r.edge_id,
        distance_since_last_node: r.distance_since_last_node,
        grant_id: r.grant_id,
        alarms: alarms
            .iter()
            .map(|a| {
                Ok(Alarm {
                    code: a.code,
                    level: wire!(AlarmLevel, a.level, "alarms.level")?,
                    reference: a.reference,
                })
            })
            .collect::<Result<_, Error>>()?,
        extensions: Vec::new(),
    }
    .into())
}

/// Task progress.
///
/// # Safety
/// The pointers of `p` must be valid as [`slice()`] requires.
pub unsafe fn task_progress(p: &RcsTaskProgress) -> Result<Message, Error> {
    // SAFETY: the caller guarantees the pointers of `p`.
    let actions = unsafe { slice(p.actions, p.actions_len, "actions")? };
    Ok(TaskProgress {
        task_id: p.task_id,
        segment: p.segment,
        state: wire!(TaskState, p.state, "state")?,
        last_node_id: p.last_node_id,
        last_node_sequence: p.last_node_sequence,
        distance_since_last_node: p.distance_since_last_node,
        actions: actions
            .iter()
            .map(|a| {
                Ok(ActionStatus {
                    action_id: a.action_id,
                    state: wire!(ActuatorState, a.state, "actions.state")?,
                })
            })
            .collect::<Result<_, Error>>()?,
        result: wire!(ResultCode, p.result, "result")?,
    }
    .into())
}

/// An operation report.
///
/// # Safety
/// The pointers of `r` must be valid as [`slice()`] requires.
pub unsafe fn operation_report(r: &RcsOperationReport) -> Result<Message, Error> {
    // SAFETY: the caller guarantees the pointers of `r`.
    let counters = unsafe { slice(r.error_counters, r.error_counters_len, "error_counters")? };
    Ok(OperationReport {
        odometer_m: r.odometer_m,
        run_time_s: r.run_time_s,
        moving_time_s: r.moving_time_s,
        charge_cycles: r.charge_cycles,
        battery_health_pct: r.battery_health_pct,
        tasks_completed: r.tasks_completed,
        error_counters: counters
            .iter()
            .map(|c| ErrorCounter {
                code: c.code,
                count: c.count,
            })
            .collect(),
        extensions: Vec::new(),
    }
    .into())
}

/// A region.
///
/// # Safety
/// The pointers of `r` must be valid as [`slice()`] requires.
pub unsafe fn region(r: &RcsRegion) -> Result<Region, Error> {
    let points = || -> Result<Vec<Point>, Error> {
        // SAFETY: the caller guarantees the pointers of `r`.
        Ok(unsafe { slice(r.points, r.points_len, "region.points")? }
            .iter()
            .map(point)
            .collect())
    };
    Ok(match r.kind {
        RCS_REGION_RECTANGLE => Region::Rectangle {
            center: pose(&r.center),
            length: r.length,
            width: r.width,
        },
        RCS_REGION_POLYGON => Region::Polygon { points: points()? },
        RCS_REGION_CIRCLE => Region::Circle {
            center: Point {
                x: r.center.x,
                y: r.center.y,
            },
            radius: r.radius,
        },
        RCS_REGION_CORRIDOR => Region::Corridor {
            points: points()?,
            half_width: r.half_width,
        },
        other => {
            return Err(Error::Invalid(format!(
                "region.kind: {other} is not an RCS_REGION_* value"
            )));
        }
    })
}

/// A safe-space request.
///
/// # Safety
/// The pointers of `r` must be valid as [`slice()`] requires.
pub unsafe fn space_request(r: &RcsSpaceRequest) -> Result<Message, Error> {
    Ok(SpaceRequest {
        map_id: r.map_id,
        // SAFETY: the caller guarantees the pointers of `r`.
        region: unsafe { region(&r.region)? },
        limit: wire!(SpaceLimit, r.limit, "limit")?,
        duration_ms: r.duration_ms,
        reason: wire!(SpaceReason, r.reason, "reason")?,
    }
    .into())
}

/// Parameter values.
///
/// # Safety
/// The `text` pointers must be valid as [`string`] requires.
pub unsafe fn params(values: &[RcsParam]) -> Result<Vec<Param>, Error> {
    values
        .iter()
        .map(|p| {
            Ok(Param {
                param: wire!(ParamType, p.param, "param")?,
                value: match p.kind {
                    RCS_PARAM_VALUE_U32 => ParamValue::U32(p.u32_value),
                    RCS_PARAM_VALUE_F32 => ParamValue::F32(p.f32_value),
                    RCS_PARAM_VALUE_BOOL => ParamValue::Bool(p.bool_value),
                    // SAFETY: the caller guarantees `text`.
                    RCS_PARAM_VALUE_TEXT => ParamValue::Text(unsafe { string(p.text, "text")? }),
                    other => {
                        return Err(Error::Invalid(format!(
                            "kind: {other} is not an RCS_PARAM_VALUE_* value"
                        )));
                    }
                },
            })
        })
        .collect()
}
