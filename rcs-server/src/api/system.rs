//! Health, metrics, the OpenAPI document and the server's key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::state::Shared;

/// Liveness and a summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `stopping` during shutdown.
    pub status: String,
    /// AGVs online.
    pub agvs_online: usize,
    /// Server version.
    pub version: String,
    /// `single` (one instance, SQLite) or `active` (the active instance of a cluster; standbys
    /// answer `standby`).
    pub role: String,
    /// The fencing epoch this instance acts under, in a cluster.
    pub epoch: Option<u64>,
}

/// Health (no token needed).
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(super) async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let stopping = shared.stopping();
    let body = Health {
        status: if stopping { "stopping" } else { "ok" }.into(),
        agvs_online: shared.fleet.online(),
        version: env!("CARGO_PKG_VERSION").into(),
        role: if shared.term.is_some() {
            "active"
        } else {
            "single"
        }
        .into(),
        epoch: shared.term.as_ref().map(|t| t.fence.epoch()),
    };
    let status = if stopping {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

/// This instance's role in a cluster, its epoch and the lease's holder (no token needed).
#[utoipa::path(get, path = "/api/v1/cluster", tag = "system", security(()),
    responses((status = 200, body = crate::cluster::ClusterStatus)))]
pub(super) async fn cluster(State(shared): State<Arc<Shared>>) -> Response {
    let status = match &shared.term {
        Some(t) => t.status().await,
        None => crate::cluster::ClusterStatus {
            role: "single".into(),
            me: None,
            epoch: None,
            holder: None,
            terms: 0,
            members: Vec::new(),
        },
    };
    axum::Json(status).into_response()
}

/// Metrics (no token needed; bind the HTTP listener accordingly): OpenMetrics text when the
/// `Accept` header asks for `application/openmetrics-text`, else Prometheus text 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "the metrics", content(
        (String = "text/plain; version=0.0.4; charset=utf-8"),
        (String = "application/openmetrics-text; version=1.0.0; charset=utf-8")))))]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // the waits as they are now
    crate::waits::observe(&shared, &shared.traffic.lock(), crate::state::now_ms());
    shared
        .metrics
        .event_log_dropped
        .set(i64::try_from(shared.events.dropped()).unwrap_or(i64::MAX));
    observe_fleet(&shared);
    crate::metrics::respond(&headers, shared.metrics.render())
}

/// The gauges of open tasks by state and AGVs by state, as they are now.
fn observe_fleet(shared: &Shared) {
    use crate::metrics::kind;
    let m = &shared.metrics;
    let (mut queued, mut running) = (0i64, 0i64);
    for t in shared.traffic.lock().tasks().filter(|t| !t.internal) {
        match t.state {
            traffic::TaskState::Queued => queued += 1,
            traffic::TaskState::Running => running += 1,
            _ => {}
        }
    }
    m.tasks.get_or_create(&kind("state", "queued")).set(queued);
    m.tasks
        .get_or_create(&kind("state", "running"))
        .set(running);
    let mut by_state: std::collections::HashMap<u8, i64> = std::collections::HashMap::new();
    let mut offline = 0i64;
    shared.fleet.for_each(|_, v| match (&v.status, v.online) {
        (Some(s), true) => *by_state.entry(s.state.to_raw()).or_default() += 1,
        _ => offline += 1,
    });
    m.agvs.get_or_create(&kind("state", "offline")).set(offline);
    for (raw, _, _) in protocol::types::AgvState::TABLE {
        let n = u8::try_from(*raw)
            .ok()
            .and_then(|r| by_state.get(&r).copied())
            .unwrap_or(0);
        m.agvs
            .get_or_create(&kind("state", super::agv_state_name(*raw as u8)))
            .set(n);
    }
}

/// The OpenAPI document.
pub(super) async fn openapi() -> Response {
    axum::Json(super::contract::document()).into_response()
}

/// The server's SM2 public key (SPKI PEM): what AGVs verify the server with in secure mode.
#[utoipa::path(get, path = "/api/v1/server-key", tag = "system",
    responses((status = 200, description = "SPKI PEM", content_type = "application/x-pem-file")))]
pub(super) async fn server_key(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    use sm2::pkcs8::EncodePublicKey as _;
    let pem = shared
        .server_key
        .verifying_key()
        .public_key()
        .to_public_key_pem(sm2::pkcs8::LineEnding::LF)
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}
