//! `/api/v1/grants`: active safe-space grants and operator revokes; clearing the space an
//! offline AGV still blocks; `/api/v1/safety`: open safety episodes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::message::RevokeReason;
use serde::Serialize;
use serde_json::json;

use super::{ApiError, Json, Path, authorize};
use crate::auth::Role;
use crate::state::Shared;

/// An active grant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantDto {
    /// Grant id.
    pub id: u32,
    /// The AGV.
    pub agv_id: u32,
    /// The map.
    pub map_id: u16,
    /// Granted at, UTC ms.
    pub granted_at_ms: u64,
    /// Expires at, UTC ms.
    pub expires_at_ms: u64,
    /// The region as polygon outlines `[[[x, y], ...], ...]`.
    #[schema(value_type = Object)]
    pub region: serde_json::Value,
}

/// Open safety episodes: AGVs found where the RCS did not put them, and the AGVs stopped for
/// them (docs/traffic.md, "When an overlap appears anyway").
#[utoipa::path(get, path = "/api/v1/safety", tag = "grants",
    responses((status = 200, body = Vec<crate::safety::Episode>)))]
pub(super) async fn safety(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::safety::Episode>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    Ok(Json(shared.safety.open()))
}

/// Active safe-space grants.
#[utoipa::path(get, path = "/api/v1/grants", tag = "grants",
    responses((status = 200, body = Vec<GrantDto>)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<GrantDto>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let grants = shared.space().grants();
    Ok(Json(
        grants
            .iter()
            .map(|g| GrantDto {
                id: g.id,
                agv_id: g.agv,
                map_id: g.map,
                granted_at_ms: g.granted_at_ms,
                expires_at_ms: g.expires_at_ms,
                region: crate::grants::shape_json(&g.shape),
            })
            .collect(),
    ))
}

/// Revokes a grant: the AGV is told and the space is freed when it acknowledges (200); if it
/// does not answer in time the space stays held until the grant expires (202).
#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "grants",
    params(("id" = u32, Path, description = "grant id")),
    responses((status = 200, description = "revoked and acknowledged"),
        (status = 202, description = "revoke sent; the space is held until the AGV acknowledges or the grant expires"),
        (status = 403, description = "needs the operator role", body = super::ApiErrorBody),
        (status = 404, description = "`unknown_grant`", body = super::ApiErrorBody)))]
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Operator)?;
    let grant = shared.space().grant_info(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_grant",
            format!("no active grant {id}"),
        )
    })?;
    shared
        .events
        .audit(
            &shared.db,
            "grant.revoke",
            Some(grant.agv),
            &who.name,
            json!({ "grant_id": id }),
        )
        .await?;
    if crate::grants::revoke(&shared, &grant, RevokeReason::Operator, &who.name).await {
        Ok((
            StatusCode::OK,
            axum::Json(json!({ "status": "revoked", "grant_id": id })),
        )
            .into_response())
    } else {
        Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "revoke_sent",
                "grant_id": id,
                "message": "the AGV did not acknowledge: the space stays held until it does or the grant expires",
                "expires_at_ms": grant.expires_at_ms,
            })),
        )
            .into_response())
    }
}

/// Clears the space an offline AGV still blocks (its last footprint and reservations), after
/// an operator has checked the floor. Refused (409) while the AGV is online.
#[utoipa::path(delete, path = "/api/v1/agvs/{id}/space", tag = "agvs",
    params(("id" = u32, Path, description = "AGV id")),
    responses((status = 200, description = "cleared"),
        (status = 400, description = "`invalid_agv_id` (0)", body = super::ApiErrorBody),
        (status = 403, description = "needs the operator role", body = super::ApiErrorBody),
        (status = 404, body = super::ApiErrorBody),
        (status = 409, body = super::ApiErrorBody)))]
pub(super) async fn clear_space(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Operator)?;
    let id = super::agv_id(id)?;
    let view = shared.fleet.get(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agv",
            format!("no AGV {id} is known"),
        )
    })?;
    if view.online {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agv_online",
            "the AGV is online: its footprint follows its reports",
        ));
    }
    shared
        .events
        .audit(
            &shared.db,
            "agv.space_cleared",
            Some(id),
            &who.name,
            json!({}),
        )
        .await?;
    // Stored first: after a restart the AGV's last stored pose blocks nothing.
    shared
        .db
        .mark_space_cleared(id, crate::state::now_ms() as i64)
        .await?;
    let (footprint, reservations) = {
        let mut space = shared.space();
        (
            space.clear_footprint(id),
            space.release_reservations(id, |_| true),
        )
    };
    shared.fleet.update(id, |v| v.footprint_at = None);
    if reservations > 0
        && let Err(e) = shared.db.release_reservations(id, &[]).await
    {
        tracing::warn!(error = %e, "reservation release not stored");
    }
    crate::dispatch::space_changed(&shared, id);
    Ok(axum::Json(json!({ "footprint": footprint, "reservations": reservations })).into_response())
}
