//! What every link to an AGV does with the fleet, whatever protocol it speaks: a binary-protocol
//! connection ([`crate::net`]) and a VDA 5050 vehicle behind the MQTT gateway
//! ([`crate::vda5050_gateway`]) both come online, register, report status and go offline through
//! here, so the dispatcher, the traffic core, the space table and the safety checks see one
//! fleet under one set of rules.

use protocol::message::{AccessMode, RegisterRequest, SecureProfile, StatusReport};
use serde_json::json;

use crate::fleet::Protocol;
use crate::metrics::kind;
use crate::state::{Shared, now_ms};

/// How an AGV reached the RCS, for its session's row, its metrics and its events.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// Access mode (a VDA 5050 vehicle: normal; the broker authenticates it, not the RCS).
    pub mode: AccessMode,
    /// Secure profile (meaningful in secure mode only).
    pub profile: SecureProfile,
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// Where it is: a socket address, or `mqtt:<manufacturer>/<serial>`.
    pub peer: String,
}

/// `agv_id` came online in session `session_id` (its id is claimed in
/// [`crate::connections::Connections`] already): the fleet, metrics, the event stream and the
/// session log are told. A session it replaces (a secure takeover) ends for the traffic core now.
pub async fn came_online(shared: &Shared, agv_id: u32, session_id: u32, link: &LinkInfo) {
    let now = now_ms();
    let (was_online, replaced) = shared.fleet.update(agv_id, |v| {
        let was = (v.online, v.session_id);
        v.online = true;
        v.session_id = session_id;
        v.mode = link.mode;
        v.profile = link.profile;
        v.protocol = link.protocol;
        v.registered = false;
        v.status = None;
        v.covers = 0;
        v.last_seen_ms = now;
        was
    });
    if !was_online {
        shared.metrics.online.inc();
    }
    if was_online && replaced != session_id {
        // Taken over (secure mode): the session replaced ends for the traffic core now (its
        // own end will not say so: the id is no longer its own).
        crate::dispatch::on_offline(shared, agv_id, replaced).await;
    }
    let profile_name = crate::api::agvs::session_profile(link.mode, link.profile);
    let (mode, profile) = (format!("{:?}", link.mode), format!("{:?}", link.profile));
    let label = match link.protocol {
        Protocol::Vda5050(version) => format!("vda5050/{}", version.major_minor()),
        Protocol::Guide if mode == "Normal" => "normal".to_owned(),
        Protocol::Guide => format!("secure/{profile}"),
    };
    shared
        .metrics
        .sessions
        .get_or_create(&kind("mode", label))
        .inc();
    shared.events.publish(
        "agv.online",
        Some(agv_id),
        "agv",
        json!({ "mode": mode.to_lowercase(), "profile": profile_name,
                "protocol": link.protocol.name(),
                "replaced": was_online, "session_id": session_id }),
    );
    let (mode, profile) = match link.protocol {
        Protocol::Guide => (mode, profile),
        Protocol::Vda5050(version) => ("Vda5050".to_owned(), version.major_minor().to_owned()),
    };
    if let Err(e) = shared
        .db
        .open_session(session_id, agv_id, &mode, &profile, &link.peer, now as i64)
        .await
    {
        tracing::error!(error = %e, "session log failed");
    }
}

/// Why a registration was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The footprint is over the site's limits: it never becomes held space.
    #[error(
        "footprint {dims:?} (front, rear, left, right) is over the site's limits ({max_length} m long, {max_width} m wide)"
    )]
    Footprint {
        /// The footprint.
        dims: [f64; 4],
        /// The site's limits.
        max_length: f64,
        /// The site's limits.
        max_width: f64,
    },
    /// It could not be stored.
    #[error("registration not stored: {0}")]
    Storage(#[from] sqlx::Error),
}

/// `agv_id` registers in session `session_id`: checked against the site, persisted, then
/// taken by the fleet and offered to the dispatcher.
pub async fn register(
    shared: &Shared,
    agv_id: u32,
    session_id: u32,
    req: &RegisterRequest,
) -> Result<(), RegisterError> {
    let now = now_ms();
    // A footprint the site cannot take never becomes held space.
    let dims = crate::fleet::dims(&req.footprint);
    let limits = shared.site.vehicles();
    if !limits.admits(dims) {
        tracing::warn!(agv_id, ?dims, "registration refused: implausible footprint");
        shared.events.publish(
            "agv.refused",
            Some(agv_id),
            "server",
            json!({ "reason": "implausible footprint", "footprint": dims,
                    "max_length": limits.max_length, "max_width": limits.max_width }),
        );
        return Err(RegisterError::Footprint {
            dims,
            max_length: limits.max_length,
            max_width: limits.max_width,
        });
    }
    // Persisted before it is acknowledged.
    if let Err(e) = shared.db.register(agv_id, req, now as i64).await {
        tracing::error!(error = %e, "registration not stored");
        return Err(e.into());
    }
    shared.fleet.register(agv_id, req);
    shared.events.publish(
        "agv.registered",
        Some(agv_id),
        "agv",
        json!({ "vendor": req.vendor, "model": req.model, "serial": req.serial }),
    );
    // Still stopped for a safety episode: told again in this session.
    crate::safety::on_registered(shared, agv_id);
    crate::dispatch::online(shared, agv_id, session_id);
    Ok(())
}

/// The first half of taking a status report: counted, and refused (with the reason) when its
/// pose is not on a map of the site: nothing of it is used. A report without localisation
/// keeps the AGV's last known place.
pub fn admit_status(shared: &Shared, agv_id: u32, status: &mut StatusReport) -> Result<(), String> {
    shared.faults.on_status(agv_id);
    shared.metrics.status_reports.inc();
    if status.localisation_quality > 0
        && !shared
            .site
            .on_map(status.map_id, status.pose.x, status.pose.y)
    {
        let detail = format!(
            "pose ({:.2}, {:.2}) is not on map {} of the site",
            status.pose.x, status.pose.y, status.map_id
        );
        tracing::warn!(agv_id, "status refused: {detail}");
        return Err(detail);
    }
    if status.localisation_quality == 0 {
        // It does not know where it is: its last known place stands.
        if let Some(last) = shared.fleet.get(agv_id).and_then(|v| v.status) {
            status.map_id = last.map_id;
            status.pose = last.pose;
        }
    }
    Ok(())
}

/// The second half: the report goes to the grants and safety checks, the dispatcher and the
/// fleet, at `now` (UTC ms: the caller's reading of the clock, not read again per report).
/// `covers`: how many commands of the session were answered before it
/// ([`crate::fleet::AgvView::covers`]). On return `status` holds the report the fleet held
/// before (swapped, no allocation per report).
pub fn take_status(
    shared: &Shared,
    agv_id: u32,
    session_id: u32,
    now: u64,
    covers: u64,
    status: &mut StatusReport,
    received: Option<std::time::Instant>,
) {
    crate::grants::on_status(shared, agv_id, session_id, status, received);
    if let Some(issued) = shared.connections.issued_to(agv_id, session_id) {
        crate::dispatch::report(shared, agv_id, now, status, covers >= issued);
    }
    if let Some(change) = shared.fleet.report(agv_id, session_id, now, covers, status) {
        shared.events.publish(
            "agv.state",
            Some(agv_id),
            "agv",
            json!({
                "from": change.from.map(crate::api::agv_state_name),
                "to": crate::api::agv_state_name(change.to),
                "map_id": change.map_id,
                "navigation_mode": crate::api::navigation_mode_name(change.navigation_mode),
            }),
        );
    }
}

/// `agv_id` lost its session `session_id`: offline. The space it physically occupies stays
/// blocked (traffic control keeps its last pose reserved) until it returns or an operator
/// clears it.
pub async fn went_offline(shared: &Shared, agv_id: u32, session_id: u32) {
    shared.fleet.update(agv_id, |v| {
        v.online = false;
        v.session_id = 0;
        v.registered = false;
    });
    shared.metrics.online.dec();
    shared.events.publish(
        "agv.offline",
        Some(agv_id),
        "server",
        json!({ "session_id": session_id }),
    );
    crate::dispatch::on_offline(shared, agv_id, session_id).await;
    // An id that only ever had this session (it never registered) is not kept, unless an
    // operator set its policy.
    if shared.keys.policy_of(agv_id).is_none() {
        shared.fleet.forget_if_unknown(agv_id);
    }
}

/// Marks the session's row ended (in the background: the database may be slow; shutdown
/// waits for it before the database closes).
pub fn close_session_row(shared: &Shared, session_id: u32, how: &'static str) {
    let db = shared.db.clone();
    let delay = shared.faults.session_end_delay();
    shared.session_rows.spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let _ = db.close_session(session_id, how, now_ms() as i64).await;
    });
}
