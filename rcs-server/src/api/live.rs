//! What the dashboard (and any live display) needs beyond the REST resources: the live fleet
//! stream (`/api/v1/live`: compact AGV snapshots, only what changed, at a fixed rate), the held
//! space of a map (`/api/v1/space`: reservations, grants, footprints as polygons) and who a
//! token is (`/api/v1/whoami`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use maps::Hold;
use protocol::message::AccessMode;
use serde::{Deserialize, Serialize};

use super::{ApiError, Json, Query, authorize};
use crate::auth::Role;
use crate::fleet::AgvView;
use crate::state::Shared;

/// Who the caller's token belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The caller's token name and role (any valid token): what a UI shows and which actions it
/// offers.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "system",
    responses((status = 200, body = WhoAmI), (status = 401, body = super::ApiErrorBody)))]
pub(super) async fn whoami(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<WhoAmI>, ApiError> {
    let p = authorize(&shared, &headers, None, Role::Viewer)?;
    Ok(Json(WhoAmI {
        name: p.name,
        role: p.role,
    }))
}

/// Most alarm codes a live snapshot carries (the count says if there were more).
const LIVE_ALARMS: usize = 4;

/// What a live snapshot is compared by: quantised so that sensor noise below a centimetre or a
/// milliradian does not resend an AGV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    online: bool,
    map: Option<u16>,
    x_cm: i64,
    y_cm: i64,
    theta_mrad: i32,
    state: Option<u8>,
    battery: Option<u8>,
    charging: bool,
    nav: Option<u8>,
    secure: bool,
    task: u32,
    e_stop: bool,
    alarm_count: usize,
    alarms: [u16; LIVE_ALARMS],
    footprint_cm: Option<[i32; 4]>,
}

impl Key {
    fn of(v: &AgvView) -> Self {
        let last = v.last.as_ref();
        let mut alarms = [0; LIVE_ALARMS];
        let mut alarm_count = 0;
        if let Some(s) = &v.status {
            alarm_count = s.alarms.len();
            for (slot, a) in alarms.iter_mut().zip(&s.alarms) {
                *slot = a.code;
            }
        }
        Self {
            online: v.online,
            map: last.map(|l| l.map_id),
            x_cm: last.map_or(0, |l| (l.x * 100.0).round() as i64),
            y_cm: last.map_or(0, |l| (l.y * 100.0).round() as i64),
            theta_mrad: last.map_or(0, |l| (l.theta * 1000.0).round() as i32),
            state: last.map(|l| l.state),
            battery: last.map(|l| l.battery_pct.clamp(0.0, 100.0).round() as u8),
            charging: last.is_some_and(|l| l.charging),
            nav: last.map(|l| l.navigation_mode),
            secure: v.online && v.mode == AccessMode::Secure,
            task: last.map_or(0, |l| l.task_id),
            e_stop: v.status.as_ref().is_some_and(|s| s.e_stop),
            alarm_count,
            alarms,
            footprint_cm: v.footprint.map(|f| f.map(|d| (d * 100.0).round() as i32)),
        }
    }
}

/// One AGV in the live stream.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveAgv {
    /// AGV id.
    pub id: u32,
    /// Whether a session is up.
    pub online: bool,
    /// Last known map (absent: never reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<u16>,
    /// x, m (to the centimetre).
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading, rad (to the milliradian).
    pub theta: f64,
    /// State (`idle`, `working`, `paused`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Battery, %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<u8>,
    /// Charging.
    pub charging: bool,
    /// Navigation mode (`slam`, `qr_code`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nav: Option<String>,
    /// Its session is in secure mode.
    pub secure: bool,
    /// Its task (0: none).
    pub task: u32,
    /// Emergency stop engaged.
    pub e_stop: bool,
    /// How many alarms are active.
    pub alarm_count: usize,
    /// The first few active alarm codes.
    pub alarms: Vec<u16>,
    /// Footprint `[front, rear, left, right]`, m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footprint: Option<[f64; 4]>,
}

impl LiveAgv {
    fn new(id: u32, k: &Key) -> Self {
        Self {
            id,
            online: k.online,
            map: k.map,
            x: k.x_cm as f64 / 100.0,
            y: k.y_cm as f64 / 100.0,
            theta: f64::from(k.theta_mrad) / 1000.0,
            state: k.state.map(super::agv_state_name),
            battery: k.battery,
            charging: k.charging,
            nav: k.nav.map(super::navigation_mode_name),
            secure: k.secure,
            task: k.task,
            e_stop: k.e_stop,
            alarm_count: k.alarm_count,
            alarms: k.alarms[..k.alarm_count.min(LIVE_ALARMS)].to_vec(),
            footprint: k.footprint_cm.map(|f| f.map(|d| f64::from(d) / 100.0)),
        }
    }
}

/// Live stream parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct LiveQuery {
    /// Milliseconds between updates (default 250, from 100 to 5,000).
    interval_ms: Option<u64>,
    /// The token, for clients that cannot set headers (browsers' `EventSource`).
    access_token: Option<String>,
}

/// What one subscriber was last sent, and the AGVs that changed since.
#[derive(Default)]
struct Sent {
    keys: HashMap<u32, Key>,
    changed: Vec<LiveAgv>,
    /// AGVs sent before that left the fleet since (decommissioned), not yet told.
    gone: Vec<u32>,
}

impl Sent {
    /// The AGVs whose snapshot differs from what this subscriber has (all of them at first);
    /// notes in `gone` those it has that the fleet no longer knows.
    fn delta(&mut self, shared: &Shared) -> Option<String> {
        self.changed.clear();
        let (keys, changed) = (&mut self.keys, &mut self.changed);
        // AGVs in the fleet now (each once in `keys` after the walk)
        let mut present = 0usize;
        shared.fleet.for_each(|id, v| {
            present += 1;
            let key = Key::of(v);
            if keys.get(&id) != Some(&key) {
                keys.insert(id, key);
                changed.push(LiveAgv::new(id, &key));
            }
        });
        if keys.len() > present {
            // (rare: an AGV left the fleet) which ones
            let mut present = std::collections::HashSet::new();
            shared.fleet.for_each(|id, _| {
                present.insert(id);
            });
            let gone = &mut self.gone;
            keys.retain(|id, _| {
                let keep = present.contains(id);
                if !keep {
                    gone.push(*id);
                }
                keep
            });
            gone.sort_unstable();
        }
        if changed.is_empty() {
            return None;
        }
        changed.sort_by_key(|a| a.id);
        serde_json::to_string(&*changed).ok()
    }
}

/// The live fleet as server-sent events: an `agvs` event (a JSON array of `LiveAgv`) every
/// `interval_ms` with the AGVs that changed since the last one this subscriber got (the first
/// has every AGV), and a `gone` event (a JSON array of ids) for AGVs it was sent that left the
/// fleet (decommissioned). Nothing queues for a slow subscriber: each update is computed against what it
/// was last sent, when it is ready for more.
#[utoipa::path(get, path = "/api/v1/live", tag = "events", params(LiveQuery),
    responses((status = 200, description = "text/event-stream of `agvs` events (and `gone`: a JSON array of AGV ids that left the fleet)", body = Vec<LiveAgv>, content_type = "text/event-stream")))]
pub(super) async fn live(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, q.access_token.as_deref(), Role::Viewer)?;
    let place = super::StreamPlace::take(&shared)?;
    let period = Duration::from_millis(q.interval_ms.unwrap_or(250).clamp(100, 5_000));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shared.stop_signal();
    let stream = futures_util::stream::unfold(
        (shared, interval, Sent::default()),
        |(shared, mut interval, mut sent)| async move {
            loop {
                if !sent.gone.is_empty() {
                    let json = serde_json::to_string(&sent.gone).unwrap_or_default();
                    sent.gone.clear();
                    let event = Event::default().event("gone").data(json);
                    return Some((Ok::<_, Infallible>(event), (shared, interval, sent)));
                }
                interval.tick().await;
                if let Some(json) = sent.delta(&shared) {
                    let event = Event::default().event("agvs").data(json);
                    return Some((Ok::<_, Infallible>(event), (shared, interval, sent)));
                }
            }
        },
    );
    Ok(super::sse_until_stop(stream, stop, place))
}

/// Held space query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct SpaceQuery {
    /// Only this map.
    map_id: Option<u16>,
    /// Only this kind: `footprint`, `reservation` or `grant`.
    kind: Option<String>,
}

/// One piece of held space.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldSpace {
    /// The AGV holding it.
    pub agv_id: u32,
    /// Map.
    pub map_id: u16,
    /// `footprint`, `reservation` or `grant`.
    pub kind: String,
    /// The grant id, or the reserved resource (a node id, or 2^40 + a directed edge id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Outlines (exterior rings, m, to the millimetre).
    pub polygons: Vec<Vec<[f64; 2]>>,
}

/// Space held on the site: every AGV's footprint, released-path reservations and safe-space
/// grants, as polygons (for overlays; the grant list has the grants' timings).
#[utoipa::path(get, path = "/api/v1/space", tag = "grants", params(SpaceQuery),
    responses((status = 200, body = Vec<HeldSpace>), (status = 400, body = super::ApiErrorBody)))]
pub(super) async fn space(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<SpaceQuery>,
) -> Result<Json<Vec<HeldSpace>>, ApiError> {
    authorize(&shared, &headers, None, Role::Viewer)?;
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k @ ("footprint" | "reservation" | "grant")) => Some(k),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown kind `{other}` (footprint, reservation, grant)"),
            ));
        }
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let mut out = Vec::new();
    {
        let table = shared.space();
        for (agv, map, hold, shape) in table.all() {
            if q.map_id.is_some_and(|m| m != map) {
                continue;
            }
            let (name, id) = match hold {
                Hold::Footprint => ("footprint", None),
                Hold::Reservation { resource } => ("reservation", Some(resource)),
                Hold::Grant { id } => ("grant", Some(u64::from(id))),
            };
            if kind.is_some_and(|k| k != name) {
                continue;
            }
            out.push(HeldSpace {
                agv_id: agv,
                map_id: map,
                kind: name.to_owned(),
                id,
                polygons: shape
                    .0
                    .iter()
                    .map(|p| {
                        p.exterior()
                            .coords()
                            .map(|c| [round(c.x), round(c.y)])
                            .collect()
                    })
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| (a.agv_id, &a.kind, a.id).cmp(&(b.agv_id, &b.kind, b.id)));
    Ok(Json(out))
}
