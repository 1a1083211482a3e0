//! `/api/v1/agvs`: the fleet, commands to one AGV, key enrollment.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use protocol::message::{
    AccessMode, ChargeControl, ChargeOp, MapSwitch, Message, NavSwitch, Param, ParamQuery,
    ParamSet, ParamValue, SecureProfile, TaskControl, TaskOp,
};
use protocol::types::{AgvType, NavigationMode, ParamType, Pose, ResultCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, Json, Path, authorize, enum_name, enum_names, enum_value};
use crate::auth::Role;
use crate::config::SecurePolicy;
use crate::connections::CommandError;
use crate::fleet::AgvView;
use crate::metrics::kind;
use crate::state::{Shared, now_ms};

/// A pose in a map's frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoseDto {
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading, rad.
    pub theta: f64,
}

impl From<PoseDto> for Pose {
    fn from(p: PoseDto) -> Self {
        Pose {
            x: p.x,
            y: p.y,
            theta: p.theta,
        }
    }
}

/// The current session of an AGV.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionDto {
    /// Session id.
    pub session_id: u32,
    /// `normal` or `secure`.
    pub mode: String,
    /// The secure profile: `guide`, `fast` or `gcm` in secure mode, `none` in normal mode (a
    /// normal-mode session has no secure profile).
    pub profile: String,
    /// Whether it registered in this session.
    pub registered: bool,
    /// The protocol it speaks: `guide` (the binary protocol) or `vda5050/2.0`, `vda5050/2.1`,
    /// `vda5050/3.0` (through the MQTT gateway; its mode is `normal`, its profile `none`).
    pub protocol: String,
}

/// How the API names a session's secure profile: `guide`, `fast` or `gcm` in secure mode,
/// `none` in normal mode, whose AccessResponse carries a profile field that means nothing.
pub fn session_profile(mode: AccessMode, profile: SecureProfile) -> &'static str {
    match (mode, profile) {
        (AccessMode::Normal, _) => "none",
        (AccessMode::Secure, SecureProfile::Guide) => "guide",
        (AccessMode::Secure, SecureProfile::Fast) => "fast",
        (AccessMode::Secure, SecureProfile::Gcm) => "gcm",
    }
}

/// What registration said.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityDto {
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// AGV type (`jacking`, `forklift`, ...).
    pub agv_type: String,
}

/// One AGV as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgvDto {
    /// AGV id.
    pub id: u32,
    /// Whether a session is up.
    pub online: bool,
    /// The session, when online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionDto>,
    /// Whether a key is enrolled (secure mode possible).
    pub enrolled: bool,
    /// Its secure-mode policy override (`required`, `allowed`, `off`), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_policy: Option<String>,
    /// Registration data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDto>,
    /// When it was last heard (or last reported before a restart), UTC ms.
    pub last_seen_ms: u64,
    /// Last known map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_id: Option<u16>,
    /// Last known pose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<PoseDto>,
    /// Last known state (`idle`, `running`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Last known battery charge, %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f32>,
    /// Whether it was charging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging: Option<bool>,
    /// Last known navigation mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub navigation_mode: Option<String>,
    /// Its task (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<u32>,
    /// Emergency stop engaged (live sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_stop: Option<bool>,
    /// Localisation quality 0-100 (live sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub localisation_quality: Option<u8>,
    /// Active alarm codes (live sessions only).
    pub alarms: Vec<u16>,
    /// Why its task does not move (its running task, or one queued for it), if it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<crate::waits::WaitEntry>,
}

impl AgvDto {
    fn new(
        id: u32,
        v: &AgvView,
        policy: Option<SecurePolicy>,
        wait: Option<crate::waits::WaitEntry>,
    ) -> Self {
        let last = v.last.as_ref();
        Self {
            id,
            online: v.online,
            session: v.online.then(|| SessionDto {
                session_id: v.session_id,
                mode: format!("{:?}", v.mode).to_lowercase(),
                profile: session_profile(v.mode, v.profile).to_owned(),
                registered: v.registered,
                protocol: v.protocol.name().to_owned(),
            }),
            enrolled: v.enrolled,
            secure_policy: policy.map(|p| p.as_str().to_owned()),
            identity: v.identity.as_ref().map(|i| IdentityDto {
                vendor: i.vendor.clone(),
                model: i.model.clone(),
                serial: i.serial.clone(),
                firmware: i.firmware.clone(),
                agv_type: enum_name(AgvType::TABLE, i.agv_type.into()),
            }),
            last_seen_ms: v.last_seen_ms,
            map_id: last.map(|l| l.map_id),
            pose: last.map(|l| PoseDto {
                x: l.x,
                y: l.y,
                theta: l.theta,
            }),
            state: last.map(|l| super::agv_state_name(l.state)),
            battery_pct: last.map(|l| l.battery_pct),
            charging: last.map(|l| l.charging),
            navigation_mode: last.map(|l| super::navigation_mode_name(l.navigation_mode)),
            task_id: last.map(|l| l.task_id),
            e_stop: v.status.as_ref().map(|s| s.e_stop),
            localisation_quality: v.status.as_ref().map(|s| s.localisation_quality),
            alarms: v
                .status
                .as_ref()
                .map(|s| s.alarms.iter().map(|a| a.code).collect())
                .unwrap_or_default(),
            wait,
        }
    }
}

/// Every AGV the server knows (connected now, or registered or enrolled before).
#[utoipa::path(get, path = "/api/v1/agvs", tag = "agvs",
    responses((status = 200, body = Vec<AgvDto>), (status = 401, body = super::ApiErrorBody)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<AgvDto>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let mut waits = crate::waits::by_agv(&shared);
    Ok(Json(
        shared
            .fleet
            .snapshot()
            .iter()
            .map(|(id, v)| AgvDto::new(*id, v, shared.keys.policy_of(*id), waits.remove(id)))
            .collect(),
    ))
}

/// One AGV.
#[utoipa::path(get, path = "/api/v1/agvs/{id}", tag = "agvs",
    params(("id" = u32, Path, description = "AGV id")),
    responses((status = 200, body = AgvDto), (status = 404, body = super::ApiErrorBody)))]
pub(super) async fn one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<AgvDto>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let id = super::agv_id(id)?;
    let v = shared.fleet.get(id).ok_or_else(|| unknown_agv(id))?;
    let wait = crate::waits::by_agv(&shared).remove(&id);
    Ok(Json(AgvDto::new(id, &v, shared.keys.policy_of(id), wait)))
}

fn unknown_agv(id: u32) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_agv",
        format!("no AGV {id} is known"),
    )
}

/// A parameter and its value (`2` is an integer parameter, `2.0` a number).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ParamDto {
    /// Parameter name (`max_linear_speed`, ...).
    pub param: String,
    /// Value: integer, number, boolean or text.
    #[schema(value_type = Object)]
    pub value: Value,
}

/// A command for one AGV. Every command waits for the AGV's answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandRequest {
    /// Pause its task (or whatever it is doing).
    Pause {
        /// Task id (0 or absent: whatever it is doing).
        #[serde(default)]
        task_id: u32,
    },
    /// Resume.
    Resume {
        /// Task id (0 or absent: whatever it is doing).
        #[serde(default)]
        task_id: u32,
    },
    /// Cancel its task.
    Cancel {
        /// Task id (0 or absent: whatever it is doing).
        #[serde(default)]
        task_id: u32,
    },
    /// Start charging at a charger node.
    Charge {
        /// The charger's node id.
        charger_node_id: u32,
        /// Charge up to this, % (default 100).
        #[serde(default = "full")]
        target_pct: f32,
    },
    /// Stop charging.
    StopCharging,
    /// Switch navigation mode (`qr_code`, `slam`, ...).
    NavSwitch {
        /// Target mode.
        target: String,
        /// The map it applies on.
        map_id: u16,
        /// Initial pose, if the AGV needs one.
        #[serde(default)]
        initial_pose: Option<PoseDto>,
    },
    /// Switch map (after a lift ride, or to another building).
    MapSwitch {
        /// Target map.
        target_map_id: u16,
        /// Its version (0: any).
        #[serde(default)]
        target_map_version: u32,
        /// Pose on the target map.
        initial_pose: PoseDto,
        /// The lift it rode (0: none).
        #[serde(default)]
        lift_id: u16,
        /// Floor.
        #[serde(default)]
        floor: i32,
        /// Navigation mode on the target map.
        navigation: String,
    },
    /// Set parameters.
    ParamSet {
        /// The values.
        values: Vec<ParamDto>,
    },
    /// Query parameters.
    ParamQuery {
        /// Their names.
        params: Vec<String>,
    },
}

fn full() -> f32 {
    100.0
}

fn nav_mode(name: &str) -> Result<NavigationMode, ApiError> {
    enum_value(NavigationMode::TABLE, name)
        .and_then(|v| NavigationMode::from_raw(v as u8))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_command",
                format!(
                    "unknown navigation mode {name:?}; one of: {}",
                    enum_names(NavigationMode::TABLE)
                ),
            )
        })
}

fn param_type(name: &str) -> Result<ParamType, ApiError> {
    enum_value(ParamType::TABLE, name)
        .and_then(|v| ParamType::from_raw(v as u16))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_command",
                format!(
                    "unknown parameter {name:?}; one of: {}",
                    enum_names(ParamType::TABLE)
                ),
            )
        })
}

fn param_value(v: &Value) -> Result<ParamValue, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_command",
            format!(
                "parameter value {v} is not a u32, a finite f32, a boolean or a text of at most 255 bytes"
            ),
        )
    };
    Ok(match v {
        Value::Bool(b) => ParamValue::Bool(*b),
        Value::String(s) if s.len() <= 255 => ParamValue::Text(s.clone()),
        // beyond f32's range it would be infinite, which no frame may carry
        Value::Number(n) if n.is_f64() => ParamValue::F32(
            n.as_f64()
                .map(|x| x as f32)
                .filter(|x| x.is_finite())
                .ok_or_else(bad)?,
        ),
        Value::Number(n) => ParamValue::U32(
            n.as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    })
}

fn param_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::U32(x) => json!(x),
        ParamValue::F32(x) => json!(x),
        ParamValue::Bool(x) => json!(x),
        ParamValue::Text(x) => json!(x),
    }
}

impl CommandRequest {
    /// The wire message.
    fn to_message(&self) -> Result<Message, ApiError> {
        Ok(match self {
            CommandRequest::Pause { task_id } => TaskControl {
                task_id: *task_id,
                op: TaskOp::Pause,
            }
            .into(),
            CommandRequest::Resume { task_id } => TaskControl {
                task_id: *task_id,
                op: TaskOp::Resume,
            }
            .into(),
            CommandRequest::Cancel { task_id } => TaskControl {
                task_id: *task_id,
                op: TaskOp::Cancel,
            }
            .into(),
            CommandRequest::Charge {
                charger_node_id,
                target_pct,
            } => {
                if !(0.0..=100.0).contains(target_pct) {
                    return Err(ApiError::bad_request(
                        "invalid_command",
                        "target_pct must be within 0..=100",
                    ));
                }
                ChargeControl {
                    op: ChargeOp::Start,
                    charger_node_id: *charger_node_id,
                    target_pct: *target_pct,
                }
                .into()
            }
            CommandRequest::StopCharging => ChargeControl {
                op: ChargeOp::Stop,
                charger_node_id: 0,
                target_pct: 0.0,
            }
            .into(),
            CommandRequest::NavSwitch {
                target,
                map_id,
                initial_pose,
            } => NavSwitch {
                target: nav_mode(target)?,
                map_id: *map_id,
                initial_pose: initial_pose.map(Into::into),
            }
            .into(),
            CommandRequest::MapSwitch {
                target_map_id,
                target_map_version,
                initial_pose,
                lift_id,
                floor,
                navigation,
            } => MapSwitch {
                target_map_id: *target_map_id,
                target_map_version: *target_map_version,
                initial_pose: (*initial_pose).into(),
                lift_id: *lift_id,
                floor: *floor,
                navigation: nav_mode(navigation)?,
            }
            .into(),
            CommandRequest::ParamSet { values } => {
                if values.is_empty() {
                    return Err(ApiError::bad_request("invalid_command", "no values"));
                }
                ParamSet {
                    values: values
                        .iter()
                        .map(|p| {
                            Ok(Param {
                                param: param_type(&p.param)?,
                                value: param_value(&p.value)?,
                            })
                        })
                        .collect::<Result<_, ApiError>>()?,
                }
                .into()
            }
            CommandRequest::ParamQuery { params } => {
                if params.is_empty() {
                    return Err(ApiError::bad_request("invalid_command", "no params"));
                }
                ParamQuery {
                    params: params
                        .iter()
                        .map(|p| param_type(p))
                        .collect::<Result<_, _>>()?,
                }
                .into()
            }
        })
    }
}

/// The AGV's answer to a command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandResponse {
    /// `acknowledged`.
    pub status: String,
    /// The AGV's result code (`ok`).
    pub result: String,
    /// The answering message type (`ack`, `charge_result`, `param_query_response`, ...).
    pub answer_type: String,
    /// The answer's fields.
    #[schema(value_type = Object)]
    pub answer: Value,
}

/// The result code and JSON fields of an answer.
fn answer(message: &Message) -> (ResultCode, Value) {
    let rc = |r: ResultCode| enum_name(ResultCode::TABLE, r.to_raw().into());
    match message {
        Message::Ack(a) => (
            a.result,
            json!({ "result": rc(a.result), "detail": a.detail }),
        ),
        Message::ChargeResult(c) => (
            c.result,
            json!({ "result": rc(c.result), "battery_pct": c.battery_pct, "charging": c.charging }),
        ),
        Message::NavSwitchResult(n) => (
            n.result,
            json!({ "result": rc(n.result),
                    "mode": enum_name(NavigationMode::TABLE, n.mode.to_raw().into()),
                    "localisation_quality": n.localisation_quality }),
        ),
        Message::MapSwitchResult(m) => (
            m.result,
            json!({ "result": rc(m.result), "map_id": m.map_id,
                    "localisation_quality": m.localisation_quality,
                    "pose": { "x": m.pose.x, "y": m.pose.y, "theta": m.pose.theta } }),
        ),
        Message::ParamQueryResponse(p) => (
            p.result,
            json!({ "result": rc(p.result), "values": p.values.iter().map(|v| json!({
                "param": enum_name(ParamType::TABLE, v.param.to_raw().into()),
                "value": param_json(&v.value),
            })).collect::<Vec<_>>() }),
        ),
        Message::ParamSetResponse(p) => (
            p.result,
            json!({ "result": rc(p.result), "results": p.results.iter().map(|r| json!({
                "param": enum_name(ParamType::TABLE, r.param.to_raw().into()),
                "result": rc(r.result),
            })).collect::<Vec<_>>() }),
        ),
        other => (
            ResultCode::Ok,
            json!({ "message_type": other.message_type().0 }),
        ),
    }
}

fn message_name(message: &Message) -> String {
    super::snake(message.message_type().name().unwrap_or("Message"))
}

/// Sends a command to an AGV and waits for its answer (`command_timeout_ms`, default 10 s).
/// The command is written to the audit log before it is sent.
#[utoipa::path(post, path = "/api/v1/agvs/{id}/commands", tag = "agvs",
    params(("id" = u32, Path, description = "AGV id")),
    request_body = CommandRequest,
    responses(
        (status = 200, description = "the AGV acknowledged", body = CommandResponse),
        (status = 400, description = "invalid command", body = super::ApiErrorBody),
        (status = 403, description = "viewer token", body = super::ApiErrorBody),
        (status = 404, description = "unknown AGV", body = super::ApiErrorBody),
        (status = 409, description = "AGV offline, not registered, busy, or it refused (`agv_refused`, with its answer)", body = super::ApiErrorBody),
        (status = 504, description = "no answer in time", body = super::ApiErrorBody),
    ))]
pub(super) async fn command(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
    Json(request): Json<CommandRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Operator)?;
    let id = super::agv_id(id)?;
    let message = request.to_message()?;
    if shared.fleet.get(id).is_none() {
        return Err(unknown_agv(id));
    }
    let name = message_name(&message);
    let audit = std::time::Instant::now();
    shared
        .events
        .audit(
            &shared.db,
            "command.sent",
            Some(id),
            &who.name,
            json!({ "command": name, "body": format!("{message:?}") }),
        )
        .await?;
    shared
        .metrics
        .command_audit_seconds
        .observe(audit.elapsed().as_secs_f64());
    let wait = Duration::from_millis(shared.config.command_timeout_ms);
    let outcome = shared.connections.command(id, message, wait).await;
    let (label, result) = match outcome {
        Ok(answer_message) => {
            let (code, fields) = answer(&answer_message);
            let result = enum_name(ResultCode::TABLE, code.to_raw().into());
            let response = CommandResponse {
                status: "acknowledged".into(),
                result: result.clone(),
                answer_type: message_name(&answer_message),
                answer: fields.clone(),
            };
            if code == ResultCode::Ok {
                ("ok".to_owned(), Ok(Json(response)))
            } else {
                (
                    format!("refused:{result}"),
                    Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "agv_refused",
                        format!("AGV {id} refused the command: {result}"),
                    )
                    .with_detail(fields)),
                )
            }
        }
        Err(e) => {
            let (status, code) = match e {
                CommandError::Offline | CommandError::OtherSession => {
                    (StatusCode::CONFLICT, "agv_offline")
                }
                CommandError::NotRegistered => (StatusCode::CONFLICT, "agv_not_registered"),
                CommandError::Busy => (StatusCode::CONFLICT, "agv_busy"),
                CommandError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
                CommandError::Disconnected => (StatusCode::GATEWAY_TIMEOUT, "agv_disconnected"),
                CommandError::Refused(_) => (StatusCode::CONFLICT, "agv_error"),
            };
            (
                code.to_owned(),
                Err(ApiError::new(status, code, format!("AGV {id}: {e}"))),
            )
        }
    };
    shared
        .metrics
        .commands
        .get_or_create(&kind("outcome", label.clone()))
        .inc();
    shared.events.publish(
        "command.result",
        Some(id),
        &who.name,
        json!({ "command": name, "outcome": label }),
    );
    result
}

/// An AGV key to enroll for secure mode.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// AGV id.
    pub agv_id: u32,
    /// Its SM2 public key, SPKI PEM.
    pub public_key_pem: String,
    /// Its distinguishing identifier (default `1234567812345678`).
    #[serde(default)]
    pub distid: Option<String>,
}

/// The enrolled key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrollResponse {
    /// AGV id.
    pub agv_id: u32,
    /// The key id AGVs send in their access request (SM3 of the key's SEC1 encoding), hex.
    pub key_id: String,
}

/// Enrolls (or replaces) an AGV's public key; effective for its next access.
#[utoipa::path(post, path = "/api/v1/agvs/enroll", tag = "agvs", request_body = EnrollRequest,
    responses((status = 200, body = EnrollResponse), (status = 400, body = super::ApiErrorBody),
        (status = 403, body = super::ApiErrorBody)))]
pub(super) async fn enroll(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    use sm2::pkcs8::DecodePublicKey as _;
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    super::agv_id(request.agv_id)?;
    let distid = request
        .distid
        .unwrap_or_else(|| String::from_utf8_lossy(crypto::DEFAULT_ID).into_owned());
    let public = sm2::PublicKey::from_public_key_pem(request.public_key_pem.trim())
        .map_err(|e| ApiError::bad_request("invalid_key", format!("not an SM2 SPKI PEM: {e}")))?;
    let vk = crypto::sign::VerifyingKey::new(distid.as_bytes(), public)
        .map_err(|e| ApiError::bad_request("invalid_key", e.to_string()))?;
    let key_id = hex::encode(vk.key_id());
    shared
        .events
        .audit(
            &shared.db,
            "agv.enrolled",
            Some(request.agv_id),
            &who.name,
            json!({ "key_id": key_id }),
        )
        .await?;
    shared
        .db
        .enroll(
            request.agv_id,
            request.public_key_pem.trim(),
            &key_id,
            &distid,
            now_ms() as i64,
        )
        .await?;
    shared
        .keys
        .insert(request.agv_id, distid.as_bytes(), public)
        .map_err(|e| ApiError::bad_request("invalid_key", e.to_string()))?;
    shared.fleet.update(request.agv_id, |v| v.enrolled = true);
    Ok(Json(EnrollResponse {
        agv_id: request.agv_id,
        key_id,
    }))
}

/// A per-AGV secure-mode policy.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// `required`, `allowed`, `off`, or `null` to follow the server's policy (required: `{}`
    /// is refused, 400 `invalid_policy`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub secure: Option<Option<String>>,
}

/// A field that may be `null` but must be there: `Some(None)` for `null`, `None` (the
/// default) when absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as Deserialize>::deserialize(d).map(Some)
}

/// Sets an AGV's secure-mode policy, overriding the server's (admin); effective for its next
/// access.
#[utoipa::path(put, path = "/api/v1/agvs/{id}/policy", tag = "agvs",
    params(("id" = u32, Path, description = "AGV id")), request_body = PolicyRequest,
    responses((status = 200, body = AgvDto), (status = 400, body = super::ApiErrorBody),
        (status = 403, body = super::ApiErrorBody)))]
pub(super) async fn set_policy(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
    Json(request): Json<PolicyRequest>,
) -> Result<Json<AgvDto>, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    let id = super::agv_id(id)?;
    let Some(secure) = request.secure else {
        return Err(ApiError::bad_request(
            "invalid_policy",
            "`secure` is required: one of required, allowed, off, null",
        ));
    };
    let policy = match secure.as_deref() {
        None => None,
        Some(name) => Some(SecurePolicy::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_policy",
                format!("unknown policy {name:?}; one of: required, allowed, off, null"),
            )
        })?),
    };
    shared
        .events
        .audit(
            &shared.db,
            "agv.policy",
            Some(id),
            &who.name,
            json!({ "secure": policy.map(SecurePolicy::as_str) }),
        )
        .await?;
    shared
        .db
        .set_secure_policy(id, policy.map(SecurePolicy::as_str))
        .await?;
    shared.keys.set_policy(id, policy);
    let view = shared.fleet.update(id, |v| v.clone());
    let wait = crate::waits::by_agv(&shared).remove(&id);
    Ok(Json(AgvDto::new(id, &view, policy, wait)))
}
