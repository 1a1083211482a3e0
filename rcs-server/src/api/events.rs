//! `/api/v1/events`: the fleet's events as server-sent events, resumable after the last one a
//! subscriber saw (`Last-Event-ID`); `/api/v1/audit`: the stored event log, in pages.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{ApiError, Json, Query, authorize};
use crate::auth::Role;
use crate::db::EventRow;
use crate::events::FleetEvent;
use crate::state::Shared;

/// The most stored events a resuming subscriber is sent (the newest of those it missed; the
/// older ones are counted in a `lagged` event first).
pub const MAX_REPLAY: i64 = 10_000;

/// Event stream filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct EventsQuery {
    /// Only events of this AGV.
    agv_id: Option<u32>,
    /// Resume after this event (its `seq`), as the `Last-Event-ID` header does; for clients
    /// that cannot set it on their first request.
    last_event_id: Option<u64>,
    /// The token, for clients that cannot set headers (browsers' `EventSource`).
    access_token: Option<String>,
}

/// An SSE event of a live event.
fn sse(e: &FleetEvent) -> Option<Event> {
    Event::default()
        .event(e.kind)
        .id(e.seq.to_string())
        .json_data(e)
        .ok()
}

/// A stored event: its AGV (its `detail` carries its `agv_id`) and its SSE event.
fn sse_stored(r: &EventRow) -> (Option<u32>, Event) {
    let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
    let agv_id = detail
        .get("agv_id")
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok());
    let mut e = json!({
        "seq": r.seq, "at_ms": r.at_ms, "kind": r.kind, "actor": r.actor, "detail": detail,
    });
    if let Some(id) = agv_id {
        e["agv_id"] = id.into();
    }
    let event = Event::default()
        .event(&r.kind)
        .id(r.seq.to_string())
        .data(e.to_string());
    (agv_id, event)
}

/// The `Last-Event-ID` header, or the query's `last_event_id`.
fn last_event_id(headers: &HeaderMap, q: &EventsQuery) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "Last-Event-ID is the seq of an event this stream sent (an integer)",
                )
            }),
        None => Ok(q.last_event_id),
    }
}

/// Server-sent events: one `FleetEvent` (JSON) per SSE event, the SSE event name being its
/// kind and its id its `seq`. A subscriber that reconnects with `Last-Event-ID` (or
/// `?last_event_id=`) first gets the events after that one that it missed: the latest 4,096
/// from memory, older ones from the stored event log (at most the newest 10,000 missed, after a
/// `lagged` event counting those skipped); events the log writer dropped under overload are not
/// replayed. A `lagged` event (`{"missed": N}`) also tells a subscriber that fell behind how
/// many it missed.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream of FleetEvent", body = crate::events::FleetEvent, content_type = "text/event-stream"),
        (status = 400, description = "`invalid_query`, `invalid_last_event_id`", body = super::ApiErrorBody),
        (status = 401, body = super::ApiErrorBody),
        (status = 503, description = "`too_many_streams`", body = super::ApiErrorBody)))]
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, q.access_token.as_deref(), Role::Viewer)?;
    let after = last_event_id(&headers, &q)?;
    let place = super::StreamPlace::take(&shared)?;
    let filter = q.agv_id;
    let stop = shared.stop_signal();
    let keep = move |agv: Option<u32>| filter.is_none_or(|id| agv == Some(id));
    let mut replay: Vec<Event> = Vec::new();
    let rx = match after {
        None => shared.events.subscribe(),
        Some(after) => {
            let resumed = shared.events.resume(after);
            if after.saturating_add(1) < resumed.first_kept {
                let (rows, total) = shared
                    .db
                    .events_between(
                        i64::try_from(after).unwrap_or(i64::MAX),
                        i64::try_from(resumed.first_kept).unwrap_or(i64::MAX),
                        MAX_REPLAY,
                    )
                    .await?;
                if total > rows.len() as i64 {
                    replay.push(
                        Event::default()
                            .event("lagged")
                            .data(json!({ "missed": total - rows.len() as i64 }).to_string()),
                    );
                }
                replay.extend(
                    rows.iter()
                        .map(sse_stored)
                        .filter(|(agv, _)| keep(*agv))
                        .map(|(_, event)| event),
                );
            }
            replay.extend(
                resumed
                    .recent
                    .iter()
                    .filter(|e| keep(e.agv_id))
                    .filter_map(|e| sse(e)),
            );
            resumed.rx
        }
    };
    let live = BroadcastStream::new(rx).filter_map(move |item| match item {
        Ok(e) => keep(e.agv_id).then(|| sse(&e)).flatten().map(Ok),
        Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(Event::default()
            .event("lagged")
            .data(json!({ "missed": n }).to_string()))),
    });
    let stream = tokio_stream::iter(replay.into_iter().map(Ok::<_, Infallible>)).chain(live);
    Ok(super::sse_until_stop(stream, stop, place))
}

/// Audit log query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct AuditQuery {
    /// How many entries: 1 to 10,000 (default 100); others are refused (400 `invalid_query`).
    limit: Option<i64>,
    /// The page before this entry (its `seq`), newest first: the cursor of the `Link` header.
    before: Option<i64>,
    /// The entries after this one (its `seq`), oldest first: for following the log.
    after: Option<i64>,
}

/// The most audit entries one request gets.
const MAX_AUDIT: i64 = 10_000;

/// One audit/event log entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its position in the log (the event's `seq`): the cursor for `before` and `after`.
    pub seq: i64,
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

/// The event log: who commanded what, when; AGV sessions and state changes. Newest first, in
/// pages: a full page's `Link: <…?before=SEQ&limit=N>; rel="next"` header names the next
/// (older) one. With `after`, oldest first from there (following the log as it grows).
#[utoipa::path(get, path = "/api/v1/audit", tag = "events", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>,
            headers(("link" = String, description = "`<…>; rel=\"next\"`: the next page, when this one is full"))),
        (status = 400, description = "`invalid_query`", body = super::ApiErrorBody),
        (status = 401, body = super::ApiErrorBody)))]
pub(super) async fn audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to {MAX_AUDIT}, not {limit}"),
        ));
    }
    if q.before.is_some() && q.after.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "before and after cannot be given together",
        ));
    }
    let rows = shared.db.events_page(limit, q.before, q.after).await?;
    let next = (rows.len() as i64 == limit).then(|| {
        let last = rows.last().map_or(0, |r| r.seq);
        match q.after {
            Some(_) => format!("</api/v1/audit?after={last}&limit={limit}>; rel=\"next\""),
            None => format!("</api/v1/audit?before={last}&limit={limit}>; rel=\"next\""),
        }
    });
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .map(|r| AuditEntry {
            seq: r.seq,
            at_ms: r.at_ms,
            actor: r.actor,
            kind: r.kind,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let mut response = Json(entries).into_response();
    if let Some(link) = next.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}
