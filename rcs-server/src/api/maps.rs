//! `/api/v1/maps`: the site's maps with their nodes, edges, areas and lift doors (for the
//! dashboard and business systems); `/api/v1/site/files`: the site's files as the server loaded
//! them (for simulators: `agv-sim run` loads the site from there by default).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::{ApiError, Json, Path, authorize};
use crate::auth::Role;
use crate::state::Shared;

/// A map in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapSummary {
    /// Map id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Building.
    pub building: String,
    /// Floor.
    pub floor: i32,
    /// Default navigation (`slam`, `qr_code`, ...).
    pub navigation: String,
    /// Version.
    pub version: u32,
    /// Extent: `[min_x, min_y, max_x, max_y]`, m.
    pub bounds: [f64; 4],
    /// Node count.
    pub nodes: usize,
}

/// A node.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeDto {
    /// Id.
    pub id: u32,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// `waypoint`, `station`, `charger`, `lift_door`, `parking`.
    pub kind: String,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Navigation mode here.
    pub navigation: String,
}

/// An edge (one per direction).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EdgeDto {
    /// Directed id.
    pub id: u32,
    /// Start node.
    pub from: u32,
    /// End node.
    pub to: u32,
    /// Shape as a polyline.
    pub polyline: Vec<[f64; 2]>,
    /// Speed limit, m/s.
    pub max_speed: f64,
    /// Never routed (crosses a forbidden area).
    pub blocked: bool,
}

/// A special area.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaDto {
    /// Id.
    pub id: u32,
    /// Kind (`forbidden`, `slow`, `qr_zone`, ...).
    pub kind: String,
    /// Outline.
    pub polygon: Vec<[f64; 2]>,
}

/// A lift door on this map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiftDoorDto {
    /// Lift id.
    pub lift: u16,
    /// Lift name.
    pub name: String,
    /// Door node.
    pub node: u32,
    /// Floor.
    pub floor: i32,
}

/// A whole map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapDto {
    /// Summary.
    #[serde(flatten)]
    pub summary: MapSummary,
    /// Nodes.
    pub node_list: Vec<NodeDto>,
    /// Edges.
    pub edges: Vec<EdgeDto>,
    /// Areas.
    pub areas: Vec<AreaDto>,
    /// Lift doors.
    pub lifts: Vec<LiftDoorDto>,
}

fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn summary(site: &maps::Site, m: &maps::Map) -> MapSummary {
    MapSummary {
        id: m.id,
        name: m.name.clone(),
        building: m.building.clone(),
        floor: m.floor,
        navigation: name_of(&m.navigation),
        version: m.version,
        bounds: [
            m.bounds.min[0],
            m.bounds.min[1],
            m.bounds.max[0],
            m.bounds.max[1],
        ],
        nodes: site.nodes().iter().filter(|n| n.map == m.id).count(),
    }
}

/// The site's maps.
#[utoipa::path(get, path = "/api/v1/maps", tag = "maps",
    responses((status = 200, body = Vec<MapSummary>)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<MapSummary>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let site = &shared.site;
    Ok(Json(site.maps().iter().map(|m| summary(site, m)).collect()))
}

/// One map with its nodes, edges, areas and lift doors.
#[utoipa::path(get, path = "/api/v1/maps/{id}", tag = "maps",
    params(("id" = u16, Path, description = "map id")),
    responses((status = 200, body = MapDto), (status = 404, body = super::ApiErrorBody)))]
pub(super) async fn one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u16>,
) -> Result<Json<MapDto>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let site = &shared.site;
    let m = site.map(id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_map", format!("no map {id}"))
    })?;
    let node_list = site
        .nodes()
        .iter()
        .filter(|n| n.map == id)
        .map(|n| NodeDto {
            id: n.id,
            x: n.x,
            y: n.y,
            kind: name_of(&n.kind),
            name: n.name.clone(),
            navigation: name_of(&n.navigation),
        })
        .collect();
    let edges = site
        .edges()
        .iter()
        .filter(|e| e.kind == maps::EdgeKind::Drive)
        .filter_map(|e| {
            let (a, b) = site.ends(e);
            (site.node(a)?.map == id).then(|| EdgeDto {
                id: e.id,
                from: a,
                to: b,
                polyline: e.polyline.clone(),
                max_speed: e.max_speed,
                blocked: e.blocked,
            })
        })
        .collect();
    let areas = m
        .areas
        .iter()
        .map(|a| AreaDto {
            id: a.id,
            kind: name_of(&a.kind),
            polygon: a.polygon.exterior().coords().map(|c| [c.x, c.y]).collect(),
        })
        .collect();
    let lifts = site
        .lifts()
        .iter()
        .flat_map(|l| {
            l.doors
                .iter()
                .filter(|d| d.0 == id)
                .map(|d| LiftDoorDto {
                    lift: l.id,
                    name: l.name.clone(),
                    node: d.1,
                    floor: d.2,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(Json(MapDto {
        summary: summary(site, m),
        node_list,
        edges,
        areas,
        lifts,
    }))
}

/// The site's files (`site.toml` and every map file) as this server loaded them at start, as
/// JSON (`maps::file::SiteFiles`: `{"site": {...}, "maps": [["floor1.toml", {...}], ...]}`): what a
/// simulator needs to drive the site the server runs.
#[utoipa::path(get, path = "/api/v1/site/files", tag = "maps",
    responses((status = 200, description = "the site's files", body = Object)))]
pub(super) async fn site_files(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let files = crate::loaded_site_files(&shared.config).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "site_unavailable",
            e.to_string(),
        )
    })?;
    Ok(axum::response::IntoResponse::into_response(Json(&*files)))
}
