//! `DELETE /api/v1/agvs/{id}`: an AGV's life in the fleet ends (decommissioned). Refused while
//! it is connected, has work or holds a grant; then its space is cleared for good, its key
//! set aside (until it is enrolled or registers again) and it leaves the fleet, while its history (sessions, telemetry, tasks, events,
//! audit) is kept. Registering again (or an enrollment) brings it back into service.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::{ApiError, Json, Path, authorize};
use crate::auth::Role;
use crate::state::{Shared, now_ms};

/// What decommissioning an AGV did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Decommissioned {
    /// The AGV.
    pub agv_id: u32,
    /// Always `decommissioned`.
    pub status: &'static str,
    /// Whether it still blocked space with its last footprint (now cleared).
    pub footprint_cleared: bool,
    /// Reservations it still held (now given up).
    pub reservations_released: usize,
}

fn busy(e: &traffic::Busy) -> ApiError {
    match e {
        traffic::Busy::Online => ApiError::new(
            StatusCode::CONFLICT,
            "agv_online",
            "the AGV is connected: it can be decommissioned only offline",
        ),
        traffic::Busy::Tasks(ids) => ApiError::new(
            StatusCode::CONFLICT,
            "agv_has_tasks",
            format!("tasks {ids:?} run on the AGV or name it: cancel them first"),
        )
        .with_detail(json!({ "tasks": ids })),
        traffic::Busy::Grants(ids) => ApiError::new(
            StatusCode::CONFLICT,
            "agv_has_grants",
            format!(
                "the AGV holds safe-space grants {ids:?}: revoke them or let them expire first"
            ),
        )
        .with_detail(json!({ "grants": ids })),
    }
}

/// Decommissions an offline AGV (admin): it leaves the fleet, the space it blocked is cleared
/// for good (also after a restart), its enrolled key no longer admits it and a task can no longer name
/// it; its history stays. Check the floor first: the RCS then plans through where it stood.
#[utoipa::path(delete, path = "/api/v1/agvs/{id}", tag = "agvs",
    params(("id" = u32, Path, description = "AGV id")),
    responses((status = 200, body = Decommissioned),
        (status = 400, description = "`invalid_agv_id` (0)", body = super::ApiErrorBody),
        (status = 401, body = super::ApiErrorBody),
        (status = 403, description = "needs the admin role", body = super::ApiErrorBody),
        (status = 404, description = "`unknown_agv`", body = super::ApiErrorBody),
        (status = 409, description = "`agv_online`, `agv_has_tasks` (detail: `tasks`) or \
            `agv_has_grants` (detail: `grants`)", body = super::ApiErrorBody)))]
pub(super) async fn decommission(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<Decommissioned>, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    let id = super::agv_id(id)?;
    let connected = |shared: &Shared| {
        shared.fleet.get(id).is_some_and(|v| v.online) || shared.connections.session(id).is_some()
    };
    if shared.fleet.get(id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agv",
            format!("no AGV {id} is known (or it was decommissioned already)"),
        ));
    }
    if connected(&shared) {
        return Err(busy(&traffic::Busy::Online));
    }
    if let Some(e) = shared.traffic.lock().busy(id) {
        return Err(busy(&e));
    }
    shared
        .events
        .audit(
            &shared.db,
            "agv.decommissioned",
            Some(id),
            &who.name,
            json!({}),
        )
        .await?;
    // Forgotten by the core first (its reservations given up there are deleted from storage
    // by the dispatcher, as every release), then marked in storage: a crash in between brings
    // the AGV back with its space blocked, never a stored AGV without its space.
    let (footprint_cleared, reservations_released) = {
        let mut core = shared.traffic.lock();
        // (looked at again under the lock: it may have connected or been given work meanwhile)
        if connected(&shared) {
            return Err(busy(&traffic::Busy::Online));
        }
        let footprint = core.space().footprint(id).is_some();
        let reservations = core.space().reservations(id).count();
        core.forget(id).map_err(|e| busy(&e))?;
        (footprint, reservations)
    };
    shared.traffic.poke();
    if !shared.fleet.remove_if_offline(id) && shared.fleet.get(id).is_some() {
        // it connected after the core forgot it: it stays in service, its space follows its
        // reports from now on
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agv_online",
            "the AGV connected while it was being decommissioned: it stays in service",
        ));
    }
    shared.db.decommission(id, now_ms() as i64).await?;
    if shared.fleet.get(id).is_some() {
        // it registered again meanwhile (registration marks it in service, maybe before the
        // line above): in service, as its registration says
        shared.db.recommission(id).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agv_online",
            "the AGV connected while it was being decommissioned: it stays in service",
        ));
    }
    shared.keys.remove(id);
    tracing::info!(agv_id = id, by = %who.name, "AGV decommissioned");
    Ok(Json(Decommissioned {
        agv_id: id,
        status: "decommissioned",
        footprint_cleared,
        reservations_released,
    }))
}
