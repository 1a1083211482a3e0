//! `/api/v1/tasks`: submit, query and cancel tasks (shaped after GB/T 43047's task dispatch,
//! query and cancel).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Json, Path, Query, authorize};
use crate::auth::Role;
use crate::dispatch::{self, NewTask, Submission, Task, TaskKind, TaskState};
use crate::state::{Shared, now_ms};
use crate::task_rules::{DEFAULT_PRIORITY, MAX_PRIORITY};

/// A task to submit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    /// What to do.
    pub kind: TaskKind,
    /// Where: a node id or a node name (`dock-A`); optional for `charge` and `park` (the
    /// nearest charger or parking place).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub destination: Option<serde_json::Value>,
    /// The AGV to use (default: the idle AGV with the fastest route).
    #[serde(default)]
    pub agv_id: Option<u32>,
    /// The submitter's own reference for the task, 1 to 128 characters: submitting again with
    /// it answers the task it created (200) instead of adding another, or 409
    /// `reference_conflict` if the kind, destination or AGV differ.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub reference: Option<String>,
    /// Priority, 0 to 100 (default 50): queued tasks are assigned higher priority first.
    #[serde(default)]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 100)]
    pub priority: Option<serde_json::Value>,
    /// When it should be done, UTC ms: among equal priorities the earlier deadline goes first;
    /// a task not over by then is shown `late`.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

/// The longest reference, in characters.
const MAX_REFERENCE: usize = 128;

/// Submits a task (operator). 201 with the task; 200 with the task a resubmission of the same
/// `reference` created.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = TaskRequest,
    responses((status = 201, body = Task, description = "queued"),
        (status = 200, body = Task, description = "the task created earlier with this reference"),
        (status = 400, body = super::ApiErrorBody,
            description = "invalid request or refused destination (`unknown_destination`, \
            `not_a_charger`, `not_a_parking_place`, `not_a_load_place`, \
            `destination_lift_door`, `destination_forbidden`, `destination_no_stop`, \
            `destination_unreachable`, `invalid_priority`, `invalid_reference`, `invalid_task`)"),
        (status = 403, description = "needs the operator role", body = super::ApiErrorBody),
        (status = 404, body = super::ApiErrorBody),
        (status = 409, body = super::ApiErrorBody,
            description = "`reference_conflict`: the reference is taken by a different task"),
        (status = 503, body = super::ApiErrorBody,
            description = "`not_stored`: the database refused the task (or this instance lost its \
            lease): it was not accepted; `standby`: this instance is a standby")))]
pub(super) async fn submit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<TaskRequest>,
) -> Result<Response, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Operator)?;
    let priority = match &request.priority {
        None => DEFAULT_PRIORITY,
        Some(v) => v
            .as_u64()
            .filter(|p| *p <= u64::from(MAX_PRIORITY))
            .and_then(|p| u8::try_from(p).ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_priority",
                    format!("priority must be an integer from 0 to {MAX_PRIORITY}, not {v}"),
                )
            })?,
    };
    if let Some(r) = &request.reference
        && !(1..=MAX_REFERENCE).contains(&r.chars().count())
    {
        return Err(ApiError::bad_request(
            "invalid_reference",
            format!("a reference has 1 to {MAX_REFERENCE} characters"),
        ));
    }
    let given = match &request.destination {
        Some(v) => {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(
                dispatch::resolve_destination(&shared.site, &text)
                    .map_err(|e| ApiError::bad_request("unknown_destination", e.to_string()))?,
            )
        }
        None => None,
    };
    if let Some(r) = &request.reference
        && let Some(existing) = by_reference(&shared, r).await?
    {
        return resubmitted(existing, &request, given);
    }
    if let Some(agv) = request.agv_id
        && shared.fleet.get(agv).is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agv",
            format!("no AGV {agv} is known"),
        ));
    }
    let destination = match given {
        Some(d) => d,
        None => {
            let kind = match request.kind {
                TaskKind::Charge => maps::file::NodeKind::Charger,
                TaskKind::Park => maps::file::NodeKind::Parking,
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_task",
                        "this kind of task needs a destination",
                    ));
                }
            };
            dispatch::nearest_of_kind(&shared, request.agv_id, kind).ok_or_else(|| {
                ApiError::bad_request("unknown_destination", "the site has no such place")
            })?
        }
    };
    dispatch::check_task(&shared, request.kind, destination, request.agv_id)
        .map_err(|refusal| ApiError::bad_request(refusal.code(), refusal.to_string()))?;
    let new = NewTask {
        kind: request.kind,
        destination,
        destination_given: given.is_some(),
        agv: request.agv_id,
        reference: request.reference.clone(),
        priority,
        deadline_ms: request.deadline_ms,
    };
    let task = match dispatch::submit(&shared, new, &who.name).await {
        Ok(Submission::Added(task)) => task,
        // the same reference submitted at the same moment
        Ok(Submission::ReferenceTaken(existing)) => return resubmitted(existing, &request, given),
        Ok(Submission::NotStored(reason)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_stored",
                format!(
                    "the task could not be stored and was not accepted ({reason}); submit it again"
                ),
            ));
        }
        Err(refusal) => return Err(ApiError::bad_request("invalid_task", refusal.to_string())),
    };
    shared
        .events
        .audit(
            &shared.db,
            "task.submitted",
            request.agv_id,
            &who.name,
            json!({
                "task_id": task.id, "kind": request.kind, "destination": destination,
                "reference": task.reference, "priority": task.priority,
                "deadline_ms": task.deadline_ms,
            }),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(task)).into_response())
}

/// The task submitted with `reference`: from the table, or as stored (a task that ended and is
/// no longer in memory).
async fn by_reference(shared: &Shared, reference: &str) -> Result<Option<Task>, ApiError> {
    if let Some(task) = dispatch::by_reference(shared, reference) {
        return Ok(Some(task));
    }
    let Some(row) = shared.db.task_by_reference(reference).await? else {
        return Ok(None);
    };
    // (a task is in storage before it is in the table's references: read the table again)
    Ok(dispatch::by_reference(shared, reference).or_else(|| Task::stored(row, now_ms())))
}

/// The answer to a submission whose reference `existing` already has: 200 with it if the
/// request is the same, else 409 `reference_conflict`.
fn resubmitted(
    existing: Task,
    request: &TaskRequest,
    destination: Option<u32>,
) -> Result<Response, ApiError> {
    if existing.same_request(request.kind, destination, request.agv_id) {
        return Ok((StatusCode::OK, axum::Json(existing)).into_response());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "reference_conflict",
        format!(
            "reference `{}` is task {}, submitted with another kind, destination or AGV",
            existing.reference.as_deref().unwrap_or_default(),
            existing.id
        ),
    )
    .with_detail(json!({ "task_id": existing.id })))
}

/// Task list filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ListQuery {
    /// Only tasks in these states (comma-separated: `queued,running`).
    state: Option<String>,
    /// Only tasks of this AGV.
    agv_id: Option<u32>,
    /// At most this many, newest first (default: all, by id).
    limit: Option<usize>,
}

/// Tasks: every one by id, or the newest `limit` matching the filters.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(ListQuery),
    responses((status = 200, body = Vec<Task>), (status = 400, body = super::ApiErrorBody)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Task>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let mut states = Vec::new();
    for name in q.state.as_deref().unwrap_or("").split(',') {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let state: TaskState = serde_json::from_value(json!(name)).map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown task state `{name}` (queued, running, completed, failed, cancelled)"
                ),
            )
        })?;
        states.push(state);
    }
    let wanted = |t: &Task| {
        (states.is_empty() || states.contains(&t.state))
            && (q.agv_id.is_none() || t.agv == q.agv_id || t.requested_agv == q.agv_id)
    };
    let mut all: BTreeMap<u32, Task> = dispatch::tasks(&shared)
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    // The ended tasks of the last day beyond those in memory, from storage: all ended, all
    // older (lower ids) than those in memory, so read only when they can be in the answer
    // (a dashboard polling the newest 200 does not read thousands of rows each time).
    let stored = shared.tasks.stored_below().filter(|(below, _)| {
        let ended_asked = states.is_empty() || states.iter().any(|s| s.is_final());
        // (with no ended task in memory the stored ones are not all older: read them)
        let newer = |below: u32| all.range(below..).filter(|(_, t)| wanted(t)).count();
        ended_asked
            && match (q.limit, below) {
                (Some(limit), Some(below)) => newer(*below) < limit,
                _ => true,
            }
    });
    if let Some((below, kept)) = stored {
        let day_ago = now_ms().saturating_sub(crate::tasks::KEEP_ENDED_MS);
        let more = crate::tasks::KEEP_ENDED_MAX.saturating_sub(kept);
        let rows = shared
            .db
            .finished_tasks(i64::try_from(day_ago).unwrap_or(0), below, more)
            .await?;
        let now = now_ms();
        for t in rows.into_iter().filter_map(|r| Task::stored(r, now)) {
            all.entry(t.id).or_insert(t);
        }
    }
    let mut tasks: Vec<Task> = all.into_values().filter(|t| wanted(t)).collect();
    tasks.sort_by_key(|t| t.id);
    if let Some(limit) = q.limit {
        tasks.reverse();
        tasks.truncate(limit);
    }
    Ok(Json(tasks))
}

/// Task `id`: from the table, or as stored (a task that ended and is no longer in memory: one
/// beyond the newest [`crate::tasks::KEEP_ENDED_IN_MEMORY`], or from before the last restart).
async fn find(shared: &Shared, id: u32) -> Result<Task, ApiError> {
    if let Some(task) = dispatch::task(shared, id) {
        return Ok(task);
    }
    // Only an ended task is taken from the database: open ones are all in the table.
    let Some(row) = shared
        .db
        .task(id)
        .await?
        .filter(|r| !matches!(r.state.as_str(), "queued" | "running"))
    else {
        return Err(unknown(id));
    };
    // (it may have ended since the table was read)
    dispatch::task(shared, id)
        .or_else(|| Task::stored(row, now_ms()))
        .ok_or_else(|| unknown(id))
}

fn unknown(id: u32) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_task",
        format!("no task {id}"),
    )
}

/// One task with its steps.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = u32, Path, description = "task id")),
    responses((status = 200, body = Task), (status = 404, body = super::ApiErrorBody)))]
pub(super) async fn one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<Task>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    find(&shared, id).await.map(Json)
}

/// Cancels a task (a running one on its AGV first).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = u32, Path, description = "task id")),
    responses((status = 200, body = Task),
        (status = 403, description = "needs the operator role", body = super::ApiErrorBody),
        (status = 404, body = super::ApiErrorBody),
        (status = 409, body = super::ApiErrorBody),
        (status = 503, body = super::ApiErrorBody,
            description = "`not_stored`: the cancellation could not be stored; send it again")))]
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<Task>, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Operator)?;
    let task = find(&shared, id).await?;
    if !matches!(task.state, TaskState::Queued | TaskState::Running) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_finished",
            format!("task {id} is already {:?}", task.state).to_lowercase(),
        ));
    }
    shared
        .events
        .audit(
            &shared.db,
            "task.cancel",
            task.agv,
            &who.name,
            json!({ "task_id": id }),
        )
        .await?;
    dispatch::cancel(&shared, id).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_stored",
            format!("the cancellation could not be stored ({e}); send it again"),
        )
    })?;
    dispatch::task(&shared, id)
        .map(Json)
        .ok_or_else(|| unknown(id))
}

/// Every task that waits now (running, or queued for an offline AGV), longest first, with why
/// (docs/traffic.md, "Explained waits").
#[utoipa::path(get, path = "/api/v1/waits", tag = "tasks",
    responses((status = 200, body = Vec<crate::waits::WaitEntry>),
        (status = 401, body = super::ApiErrorBody)))]
pub(super) async fn waits(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::waits::WaitEntry>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    Ok(Json(crate::waits::list(&shared, crate::state::now_ms())))
}
