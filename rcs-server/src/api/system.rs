//! Health, metrics, the OpenAPI document, the event stream, the audit log and tokens.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::OpenApi as _;

use super::{ApiDoc, ApiError, Json, Query, authorize};
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

/// Prometheus metrics, text format (no token needed; bind the HTTP listener accordingly).
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    // the waits as they are now
    crate::waits::observe(&shared, &shared.traffic.lock(), crate::state::now_ms());
    shared
        .metrics
        .event_log_dropped
        .set(i64::try_from(shared.events.dropped()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// The OpenAPI document.
pub(super) async fn openapi() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}

/// Event stream filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct EventsQuery {
    /// Only events of this AGV.
    agv_id: Option<u32>,
    /// The token, for clients that cannot set headers (browsers' `EventSource`).
    access_token: Option<String>,
}

/// Server-sent events: one `FleetEvent` (JSON) per SSE event, the SSE event name being its
/// kind; a `lagged` event tells a subscriber that fell behind how many it missed.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "text/event-stream of FleetEvent", body = crate::events::FleetEvent, content_type = "text/event-stream")))]
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, q.access_token.as_deref(), Role::Viewer)?;
    let place = super::StreamPlace::take(&shared)?;
    let filter = q.agv_id;
    let stop = shared.stop_signal();
    let stream =
        BroadcastStream::new(shared.events.subscribe()).filter_map(move |item| match item {
            Ok(e) => {
                if filter.is_some_and(|id| e.agv_id != Some(id)) {
                    return None;
                }
                let event = Event::default()
                    .event(e.kind)
                    .id(e.seq.to_string())
                    .json_data(&*e)
                    .ok()?;
                Some(Ok::<_, Infallible>(event))
            }
            Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(Event::default()
                .event("lagged")
                .data(json!({ "missed": n }).to_string()))),
        });
    Ok(super::sse_until_stop(stream, stop, place))
}

/// Audit log query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct AuditQuery {
    /// How many entries, newest first: 1 to 10,000 (default 100); others are refused (400
    /// `invalid_query`).
    limit: Option<i64>,
}

/// The most audit entries one request gets.
const MAX_AUDIT: i64 = 10_000;

/// One audit/event log entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When, UTC ms.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The event log: who commanded what, when; AGV sessions and state changes.
#[utoipa::path(get, path = "/api/v1/audit", tag = "events", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = super::ApiErrorBody)))]
pub(super) async fn audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to {MAX_AUDIT}, not {limit}"),
        ));
    }
    let rows = shared.db.events(limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditEntry {
                at_ms: r.at_ms,
                actor: r.actor,
                kind: r.kind,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    ))
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
