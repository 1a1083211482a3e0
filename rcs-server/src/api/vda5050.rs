//! `/api/v1/vda5050/vehicles`: which AGV id each VDA 5050 vehicle (manufacturer and serial
//! number) has in the fleet (docs/vda5050.md). The gateway gives a new vehicle the first free
//! id at or above `--vda5050-first-id`; an operator can set another while the vehicle is offline.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, Json, authorize};
use crate::auth::Role;
use crate::db::Vda5050Vehicle;
use crate::fleet::Protocol;
use crate::state::{Shared, now_ms};

/// A VDA 5050 vehicle and its AGV id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VehicleDto {
    /// Manufacturer (the topic's third level).
    pub manufacturer: String,
    /// Serial number (the topic's fourth level).
    pub serial_number: String,
    /// Its AGV id in the fleet.
    pub agv_id: u32,
    /// The VDA 5050 version it last spoke (`2.0`, `2.1`, `3.0`; empty: it has not connected
    /// since its id was set).
    pub version: String,
    /// Whether it is online now.
    pub online: bool,
}

/// What `PUT /api/v1/vda5050/vehicles` takes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetVehicle {
    /// Manufacturer.
    pub manufacturer: String,
    /// Serial number.
    pub serial_number: String,
    /// The AGV id to give it.
    pub agv_id: u32,
}

fn dto(shared: &Shared, v: Vda5050Vehicle) -> VehicleDto {
    let online = shared
        .fleet
        .get(v.agv_id)
        .is_some_and(|a| a.online && matches!(a.protocol, Protocol::Vda5050(_)));
    VehicleDto {
        manufacturer: v.manufacturer,
        serial_number: v.serial_number,
        agv_id: v.agv_id,
        version: v.version,
        online,
    }
}

/// Every VDA 5050 vehicle the gateway knows, by AGV id (viewer).
#[utoipa::path(get, path = "/api/v1/vda5050/vehicles", tag = "vda5050",
    responses((status = 200, body = [VehicleDto])))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<VehicleDto>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let rows = shared.db.vda5050_vehicles().await?;
    Ok(Json(rows.into_iter().map(|v| dto(&shared, v)).collect()))
}

/// Gives a VDA 5050 vehicle an AGV id (admin), before it first connects or while it is offline:
/// 409 `agv_id_taken` when another vehicle or a guide AGV has the id, 409 `vehicle_online` while
/// the vehicle is online (its id is held by its session).
#[utoipa::path(put, path = "/api/v1/vda5050/vehicles", tag = "vda5050",
    request_body = SetVehicle,
    responses((status = 200, body = VehicleDto), (status = 400, body = super::ApiErrorBody),
        (status = 403, body = super::ApiErrorBody), (status = 409, body = super::ApiErrorBody)))]
pub(super) async fn set(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<SetVehicle>,
) -> Result<Json<VehicleDto>, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    let agv_id = super::agv_id(request.agv_id)?;
    for (what, level) in [
        ("manufacturer", &request.manufacturer),
        ("serial_number", &request.serial_number),
    ] {
        if level.is_empty() || level.len() > 256 || level.contains(['/', '+', '#', '\0']) {
            return Err(ApiError::bad_request(
                "invalid_vehicle",
                format!(
                    "{what} {level:?} cannot be a topic level (empty, longer than 256 bytes, or with `/`, `+`, `#`)"
                ),
            ));
        }
    }
    let rows = shared.db.vda5050_vehicles().await?;
    let same = |v: &Vda5050Vehicle| {
        v.manufacturer == request.manufacturer && v.serial_number == request.serial_number
    };
    let current = rows.iter().find(|v| same(v));
    if let Some(other) = rows.iter().find(|v| v.agv_id == agv_id && !same(v)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agv_id_taken",
            format!(
                "AGV id {agv_id} is VDA 5050 vehicle {}/{}'s",
                other.manufacturer, other.serial_number
            ),
        ));
    }
    let known = shared.fleet.get(agv_id);
    if current.is_none_or(|c| c.agv_id != agv_id)
        && known
            .as_ref()
            .is_some_and(|k| k.online || k.identity.is_some())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agv_id_taken",
            format!("AGV id {agv_id} is an AGV of the fleet already"),
        ));
    }
    if let Some(c) = current
        && shared
            .fleet
            .get(c.agv_id)
            .is_some_and(|a| a.online && matches!(a.protocol, Protocol::Vda5050(_)))
        && c.agv_id != agv_id
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "vehicle_online",
            format!(
                "the vehicle is online as AGV {}: set its id while it is offline",
                c.agv_id
            ),
        ));
    }
    let row = Vda5050Vehicle {
        manufacturer: request.manufacturer,
        serial_number: request.serial_number,
        agv_id,
        version: current.map(|c| c.version.clone()).unwrap_or_default(),
        updated_at: now_ms() as i64,
    };
    shared
        .events
        .audit(
            &shared.db,
            "vda5050.vehicle",
            Some(agv_id),
            &who.name,
            json!({ "manufacturer": row.manufacturer, "serial_number": row.serial_number,
                    "previous_agv_id": current.map(|c| c.agv_id) }),
        )
        .await?;
    shared.db.set_vda5050_vehicle(&row).await?;
    Ok(Json(dto(&shared, row)))
}
