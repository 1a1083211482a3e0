//! Safe-space grants and footprints on the server side of `maps::SpaceTable` (docs/traffic.md):
//! AGVs' footprints follow their status reports (and stay while they are offline), space
//! requests are granted only into space nobody else holds, each grant is committed to the
//! database before it is sent, and grants end on release, expiry or an operator's revoke.

use std::time::{Duration, Instant};

use maps::space::{Conflict, GrantInfo, Shape, region_shape};
use protocol::message::{
    DenyReason, Message, RevokeReason, SpaceDeny, SpaceGrant, SpaceRelease, SpaceRequest,
    SpaceRevoke, StatusReport,
};
use protocol::types::ResultCode;
use serde_json::json;

use crate::db::GrantRow;
use crate::state::{Shared, now_ms};

/// How long a denied AGV should wait before asking again when the space is held by another
/// AGV (it may move on).
pub const RETRY_AFTER_MS: u32 = 2_000;

/// A footprint moves when the pose changes by more than this (m, or rad).
const MOVE_EPSILON: f64 = 0.02;

/// The JSON form of a shape stored with a grant: polygon outlines.
pub fn shape_json(shape: &Shape) -> serde_json::Value {
    json!(
        shape
            .0
            .iter()
            .map(|p| p
                .exterior()
                .coords()
                .map(|c| [c.x, c.y])
                .collect::<Vec<_>>())
            .collect::<Vec<_>>()
    )
}

/// The shape of stored JSON outlines.
pub fn shape_from_json(text: &str) -> Option<Shape> {
    let rings: Vec<Vec<[f64; 2]>> = serde_json::from_str(text).ok()?;
    Some(Shape::new(
        rings.iter().map(|r| maps::space::polygon(r)).collect(),
    ))
}

/// Moves an AGV's footprint to its reported pose (if it registered a footprint and moved, or
/// registered anew), from the session `session_id` that owns it. A footprint that overlaps space held by other AGVs opens a safety episode:
/// the stops are on their way before this returns (`received`: when the report was taken, if
/// the caller read the clock for it; else the overlap's finding, in this call: the binary
/// status path reads no `Instant` per report for the rare overlap). A
/// report from an AGV that does not know where it is (localisation quality 0) moves nothing.
pub fn on_status(
    shared: &Shared,
    agv_id: u32,
    session_id: u32,
    status: &StatusReport,
    received: Option<Instant>,
) {
    if status.localisation_quality == 0 {
        return;
    }
    let pose = [status.pose.x, status.pose.y, status.pose.theta];
    // one look at the fleet: the footprint it registered, and whether it moved
    let moved = shared.fleet.update_known(agv_id, |v| {
        if v.session_id != session_id {
            return None; // a session that no longer owns the AGV id
        }
        let fp = v.footprint?;
        let moved = v.footprint_at.is_none_or(|(map, p)| {
            map != status.map_id
                || (p[0] - pose[0]).abs() > MOVE_EPSILON
                || (p[1] - pose[1]).abs() > MOVE_EPSILON
                || (p[2] - pose[2]).abs() > MOVE_EPSILON
        });
        if moved {
            v.footprint_at = Some((status.map_id, pose));
        }
        moved.then_some(fp)
    });
    let Some(Some(fp)) = moved else {
        return;
    };
    let overlaps = shared
        .space()
        .set_footprint_rect(agv_id, status.map_id, pose, fp);
    if !overlaps.is_empty() {
        let received = received.unwrap_or_else(Instant::now);
        crate::safety::on_footprint(shared, agv_id, status.map_id, &overlaps, received);
    }
}

fn deny_reason(c: Conflict) -> (DenyReason, u32) {
    match c {
        Conflict::Occupied { .. } => (DenyReason::Occupied, RETRY_AFTER_MS),
        Conflict::Reserved { .. } => (DenyReason::Reserved, RETRY_AFTER_MS),
        Conflict::Granted { .. } => (DenyReason::Granted, RETRY_AFTER_MS),
        Conflict::Forbidden { .. } => (DenyReason::ForbiddenArea, 0),
        Conflict::WrongMap => (DenyReason::WrongMap, 0),
        Conflict::TooLarge => (DenyReason::TooLarge, 0),
    }
}

/// Decides a space request. Returns the answer to send (a grant already committed to the
/// database, or a deny).
pub async fn on_request(shared: &Shared, agv_id: u32, seq: u32, req: SpaceRequest) -> Message {
    let now = now_ms();
    let deny = |reason: DenyReason, retry_after_ms: u32, why: String| {
        shared
            .metrics
            .grants
            .get_or_create(&crate::metrics::kind(
                "outcome",
                format!("denied:{reason:?}"),
            ))
            .inc();
        shared.events.publish(
            "grant.denied",
            Some(agv_id),
            "server",
            json!({ "reason": format!("{reason:?}"), "why": why, "map_id": req.map_id }),
        );
        Message::from(SpaceDeny {
            request_seq: seq,
            reason,
            retry_after_ms,
        })
    };
    let shape = match region_shape(&req.region) {
        Ok(s) => s,
        Err(e) => return deny(DenyReason::InvalidRegion, 0, e.to_string()),
    };
    // The AGV's current map is the one it last reported; without a report, nothing is granted.
    let Some(current_map) = shared
        .fleet
        .get(agv_id)
        .and_then(|v| v.status.as_ref().map(|s| s.map_id))
    else {
        return deny(
            DenyReason::NotAllowed,
            RETRY_AFTER_MS,
            "no status report yet".into(),
        );
    };
    let decision = shared.space().grant(
        agv_id,
        current_map,
        req.map_id,
        shape,
        now,
        u64::from(req.duration_ms),
    );
    let grant = match decision {
        Ok(g) => g,
        Err(c) => {
            let (reason, retry) = deny_reason(c);
            return deny(reason, retry, c.to_string());
        }
    };
    // Committed before it is sent; if the database fails, the space goes back and the AGV holds.
    let row = GrantRow {
        grant_id: grant.id,
        agv_id,
        map_id: grant.map,
        region: shape_json(&grant.shape).to_string(),
        granted_at: grant.granted_at_ms as i64,
        expires_at: grant.expires_at_ms as i64,
    };
    if let Err(e) = shared.db.insert_grant(&row).await {
        tracing::error!(error = %e, "grant not stored: denied");
        shared.space().end_grant(grant.id);
        return deny(
            DenyReason::NotAllowed,
            RETRY_AFTER_MS,
            "storage failed".into(),
        );
    }
    shared
        .metrics
        .grants
        .get_or_create(&crate::metrics::kind("outcome", "granted"))
        .inc();
    shared.events.publish(
        "grant.granted",
        Some(agv_id),
        "server",
        json!({ "grant_id": grant.id, "map_id": grant.map, "expires_at_ms": grant.expires_at_ms,
                "region": shape_json(&grant.shape) }),
    );
    SpaceGrant {
        request_seq: seq,
        grant_id: grant.id,
        map_id: grant.map,
        region: req.region,
        limit: req.limit,
        expires_at_ms: grant.expires_at_ms,
    }
    .into()
}

/// Ends a grant in the table and the database and tells the event stream (once: a grant
/// already ended is left as it is).
pub async fn end(shared: &Shared, grant: &GrantInfo, cause: &str, actor: &str) {
    let ended = shared.space().end_grant(grant.id);
    if ended.is_none() {
        return;
    }
    crate::dispatch::space_changed(shared, grant.agv);
    if let Err(e) = shared.db.end_grant(grant.id, cause, now_ms() as i64).await {
        tracing::warn!(error = %e, grant_id = grant.id, "grant end not stored");
    }
    shared.events.publish(
        "grant.ended",
        Some(grant.agv),
        actor,
        json!({ "grant_id": grant.id, "cause": cause }),
    );
}

/// The AGV gives a grant back: the answer code.
pub async fn on_release(shared: &Shared, agv_id: u32, rel: &SpaceRelease) -> ResultCode {
    let info = shared.space().grant_info(rel.grant_id);
    match info {
        Some(g) if g.agv == agv_id => {
            end(shared, &g, "released", "agv").await;
            ResultCode::Ok
        }
        Some(_) => ResultCode::Rejected,
        None => ResultCode::UnknownObject,
    }
}

/// Revokes a grant: tells the AGV and frees the space once it acknowledges; if it does not
/// (offline, silent), the space stays held until the grant expires. Returns whether the AGV
/// acknowledged.
pub async fn revoke(shared: &Shared, grant: &GrantInfo, reason: RevokeReason, actor: &str) -> bool {
    let wait = Duration::from_millis(shared.config.command_timeout_ms);
    let answer = shared
        .connections
        .command(
            grant.agv,
            SpaceRevoke {
                grant_id: grant.id,
                reason,
            }
            .into(),
            wait,
        )
        .await;
    let acked = matches!(&answer, Ok(Message::Ack(a)) if a.result == ResultCode::Ok);
    if acked {
        let cause = match reason {
            RevokeReason::Operator => "revoked",
            RevokeReason::Expired => "expired",
            RevokeReason::Safety => "revoked (safety)",
        };
        end(shared, grant, cause, actor).await;
    }
    acked
}

/// Ends expired grants until the server stops. An expired grant's space stays held until the
/// AGV lets go of it: it acknowledges the `SpaceRevoke(Expired)` it is sent (again every few
/// seconds while it does not), or a report taken after the expiry names no grant or another
/// one. An AGV's clock may lag the server's, and an offline AGV cannot say: until then it may
/// still be manoeuvring there.
pub async fn run_expiry(shared: std::sync::Arc<Shared>) {
    let mut stop = shared.stop_signal();
    // grant id -> when to send its revoke again
    let mut revoking: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
        let now = now_ms();
        let expired = shared.space().expired(now);
        revoking.retain(|id, _| expired.iter().any(|(g, _)| g == id));
        for (id, agv) in expired {
            let info = shared.space().grant_info(id);
            let Some(g) = info else {
                continue;
            };
            // Told at once, and again every few seconds while it does not answer: an
            // acknowledged revoke ends the grant.
            if revoking.get(&id).is_none_or(|at| now >= *at) {
                revoking.insert(id, now + shared.config.command_timeout_ms + 2_000);
                let (shared, g) = (shared.clone(), g.clone());
                tokio::spawn(async move {
                    revoke(&shared, &g, RevokeReason::Expired, "server").await;
                });
            }
            // A report taken after the expiry that names no grant, or another one: it let go.
            let let_go = shared.fleet.get(agv).is_some_and(|v| {
                v.online
                    && v.last_seen_ms > g.expires_at_ms
                    && v.status.as_ref().is_some_and(|s| s.grant_id != id)
            });
            if let_go {
                end(&shared, &g, "expired", "server").await;
            }
        }
    }
}
