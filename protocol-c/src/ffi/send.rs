//! The exported functions that send: the AGV's messages (reports, safe-space requests and
//! releases) and its answers to the RCS's commands.

use protocol::message::*;
use protocol::types::*;

use super::{guard, write_optional};
use crate::agv::RcsAgv;
use crate::convert::{self, reference, slice};
use crate::enums::*;
use crate::error::{Error, wire};
use crate::types::*;

/// Sends a message built by `build` (which reads C memory) and stores its sequence number.
///
/// # Safety
/// `agv` must be NULL or a live session; `seq` must be NULL or writable.
unsafe fn send(
    agv: *mut RcsAgv,
    now_ms: u64,
    ack_requested: bool,
    seq: *mut u32,
    build: impl FnOnce() -> Result<Message, Error>,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        let n = agv.send(now_ms, build()?, ack_requested)?;
        // SAFETY: the caller guarantees NULL or a writable `u32`.
        unsafe { write_optional(seq, n) };
        Ok(RcsStatus::Ok)
    })
}

/// Sends a status report (every `status_period_ms` of the configuration, and at once on a
/// change of state). `*seq` (if not NULL) receives its sequence number. A report sent when the
/// AGV has heard nothing from the RCS for three quarters of a heartbeat period asks for an
/// answer, which the session takes itself: an AGV streaming reports sends no heartbeat
/// (docs/protocol.md 4.1). A report is never resent.
///
/// # Safety
/// `agv` must be NULL or a live session; `report` must point to an `RcsStatusReport` whose
/// lists and strings are valid for the call; `seq` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_send_status(
    agv: *mut RcsAgv,
    now_ms: u64,
    report: *const RcsStatusReport,
    seq: *mut u32,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`, `seq` and `report` with its pointers.
    unsafe {
        send(agv, now_ms, false, seq, || {
            convert::status(reference(report, "report")?)
        })
    }
}

/// Sends task progress (on every node reached, action state change and task state change).
///
/// # Safety
/// `agv` must be NULL or a live session; `progress` must point to an `RcsTaskProgress` whose
/// list is valid for the call; `seq` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_send_task_progress(
    agv: *mut RcsAgv,
    now_ms: u64,
    progress: *const RcsTaskProgress,
    seq: *mut u32,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`, `seq` and `progress` with its pointers.
    unsafe {
        send(agv, now_ms, false, seq, || {
            convert::task_progress(reference(progress, "progress")?)
        })
    }
}

/// Sends operation data (every `operation_report_period_s` of the configuration).
///
/// # Safety
/// `agv` must be NULL or a live session; `report` must point to an `RcsOperationReport` whose
/// list is valid for the call; `seq` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_send_operation_report(
    agv: *mut RcsAgv,
    now_ms: u64,
    report: *const RcsOperationReport,
    seq: *mut u32,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`, `seq` and `report` with its pointers.
    unsafe {
        send(agv, now_ms, false, seq, || {
            convert::operation_report(reference(report, "report")?)
        })
    }
}

/// Asks for a safe space. The answer is a `RESPONSE` event whose `seq` is `*seq`, with a
/// `SpaceGrant` or a `SpaceDeny` (resent until answered; `UNANSWERED` after the last resend).
///
/// # Safety
/// `agv` must be NULL or a live session; `request` must point to an `RcsSpaceRequest` whose
/// points are valid for the call; `seq` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_request_space(
    agv: *mut RcsAgv,
    now_ms: u64,
    request: *const RcsSpaceRequest,
    seq: *mut u32,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`, `seq` and `request` with its pointers.
    unsafe {
        send(agv, now_ms, true, seq, || {
            convert::space_request(reference(request, "request")?)
        })
    }
}

/// Gives a granted space back (the AGV is out of it). Answered with an Ack (`RESPONSE` event).
///
/// # Safety
/// `agv` must be NULL or a live session; `seq` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_release_space(
    agv: *mut RcsAgv,
    now_ms: u64,
    grant_id: u32,
    seq: *mut u32,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv` and `seq`.
    unsafe {
        send(agv, now_ms, true, seq, || {
            Ok(SpaceRelease { grant_id }.into())
        })
    }
}

/// Answers a command of the RCS with `message`.
///
/// # Safety
/// `agv` must be NULL or a live session.
unsafe fn respond(
    agv: *mut RcsAgv,
    now_ms: u64,
    build: impl FnOnce() -> Result<Message, Error>,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        agv.respond(now_ms, build()?)?;
        Ok(RcsStatus::Ok)
    })
}

/// Answers command `request_seq` of type `request_type` with an Ack and `result`
/// (`RCS_RESULT_CODE_*`): MotionCommand, TaskControl, SafetyStop, SpaceRevoke, and any command
/// the AGV refuses (`RCS_RESULT_CODE_UNSUPPORTED` for a type it does not handle).
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_ack(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    request_type: RcsMessageType,
    result: RcsResultCode,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`.
    unsafe {
        respond(agv, now_ms, || {
            Ok(Ack {
                request_seq,
                request_type: MessageType(request_type),
                result: wire!(ResultCode, result, "result")?,
                detail: String::new(),
            }
            .into())
        })
    }
}

/// Answers a NavSwitch: the mode now in use and the localisation quality (0..=100).
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_answer_nav_switch(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    result: RcsResultCode,
    mode: RcsNavigationMode,
    localisation_quality: u8,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`.
    unsafe {
        respond(agv, now_ms, || {
            Ok(NavSwitchResult {
                request_seq,
                result: wire!(ResultCode, result, "result")?,
                mode: wire!(NavigationMode, mode, "mode")?,
                localisation_quality,
            }
            .into())
        })
    }
}

/// Answers a MapSwitch: the map now in use, the localisation quality and the pose on it.
///
/// # Safety
/// `agv` must be NULL or a live session; `pose` must point to an `RcsPose`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_answer_map_switch(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    result: RcsResultCode,
    map_id: u16,
    localisation_quality: u8,
    pose: *const RcsPose,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv` and `pose`.
    unsafe {
        respond(agv, now_ms, || {
            let p = reference(pose, "pose")?;
            Ok(MapSwitchResult {
                request_seq,
                result: wire!(ResultCode, result, "result")?,
                map_id,
                localisation_quality,
                pose: Pose {
                    x: p.x,
                    y: p.y,
                    theta: p.theta,
                },
            }
            .into())
        })
    }
}

/// Answers a ChargeControl: the battery level and whether the AGV is charging.
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_answer_charge(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    result: RcsResultCode,
    battery_pct: f32,
    charging: bool,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv`.
    unsafe {
        respond(agv, now_ms, || {
            Ok(ChargeResult {
                request_seq,
                result: wire!(ResultCode, result, "result")?,
                battery_pct,
                charging,
            }
            .into())
        })
    }
}

/// Answers a ParamQuery with the values asked for.
///
/// # Safety
/// `agv` must be NULL or a live session; `values` must hold `len` `RcsParam`s whose strings are
/// valid for the call (NULL when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_answer_param_query(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    result: RcsResultCode,
    values: *const RcsParam,
    len: usize,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv` and `values` with its strings.
    unsafe {
        respond(agv, now_ms, || {
            Ok(ParamQueryResponse {
                request_seq,
                result: wire!(ResultCode, result, "result")?,
                values: convert::params(slice(values, len, "values")?)?,
            }
            .into())
        })
    }
}

/// Answers a ParamSet with the outcome of each write.
///
/// # Safety
/// `agv` must be NULL or a live session; `results` must hold `len` `RcsParamResult`s (NULL
/// when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_answer_param_set(
    agv: *mut RcsAgv,
    now_ms: u64,
    request_seq: u32,
    result: RcsResultCode,
    results: *const RcsParamResult,
    len: usize,
) -> RcsStatus {
    // SAFETY: the caller guarantees `agv` and `results`.
    unsafe {
        respond(agv, now_ms, || {
            let results = slice(results, len, "results")?
                .iter()
                .map(|r| {
                    Ok(ParamResult {
                        param: wire!(ParamType, r.param, "results.param")?,
                        result: wire!(ResultCode, r.result, "results.result")?,
                    })
                })
                .collect::<Result<_, Error>>()?;
            Ok(ParamSetResponse {
                request_seq,
                result: wire!(ResultCode, result, "result")?,
                results,
            }
            .into())
        })
    }
}
