//! The in-memory fleet state: what every AGV last reported. Owned by the server, updated by the
//! connection drivers; a plain `RwLock` because writes are short (one report moved in) and
//! readers (API, dispatch, the telemetry writer) take copies.

use std::sync::RwLock;

use protocol::message::{AccessMode, Footprint, RegisterRequest, SecureProfile, StatusReport};

use crate::db::{AgvRecord, TelemetryRow};

/// Who an AGV says it is (from its registration).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// `AgvType` raw value.
    pub agv_type: u8,
}

/// The protocol an AGV speaks to the RCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// The guide's binary protocol (docs/protocol.md).
    #[default]
    Guide,
    /// VDA 5050 over MQTT, through the gateway (docs/vda5050.md), in this version.
    Vda5050(vda5050::Version),
}

impl Protocol {
    /// Its name in the API and the event stream: `guide`, `vda5050/2.0`, `vda5050/2.1`,
    /// `vda5050/3.0`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Guide => "guide",
            Protocol::Vda5050(vda5050::Version::V2_0) => "vda5050/2.0",
            Protocol::Vda5050(vda5050::Version::V2_1) => "vda5050/2.1",
            Protocol::Vda5050(vda5050::Version::V3_0) => "vda5050/3.0",
        }
    }
}

/// What the server knows of one AGV.
#[derive(Debug, Clone, PartialEq)]
pub struct AgvView {
    /// Whether a session is up.
    pub online: bool,
    /// The session that owns this AGV id now (0: none).
    pub session_id: u32,
    /// Its session's mode.
    pub mode: AccessMode,
    /// Its session's profile.
    pub profile: SecureProfile,
    /// The protocol its session speaks.
    pub protocol: Protocol,
    /// Whether it registered in the current session.
    pub registered: bool,
    /// Whether a key is enrolled for it.
    pub enrolled: bool,
    /// Registration data.
    pub identity: Option<Identity>,
    /// Its footprint (from registration, or restored): front, rear, left, right, m.
    pub footprint: Option<[f64; 4]>,
    /// Where its footprint was last placed in the space table: map and pose.
    pub footprint_at: Option<(u16, [f64; 3])>,
    /// An operator cleared its space after its last stored snapshot: after a restart that
    /// snapshot blocks nothing.
    pub space_cleared: bool,
    /// Its last status report in the current session.
    pub status: Option<StatusReport>,
    /// Its last known snapshot (from the current session or restored after a restart).
    pub last: Option<TelemetryRow>,
    /// When it was last heard, UTC ms.
    pub last_seen_ms: u64,
    /// How many of the commands issued to its session ([`crate::connections::Connections::issued`])
    /// its last status report describes it after: each of them was answered before the report
    /// came. A report covering fewer may show it standing before a command set it moving.
    pub covers: u64,
    /// The snapshot changed since the telemetry writer last took it.
    dirty: bool,
}

impl AgvView {
    fn new() -> Self {
        Self {
            online: false,
            session_id: 0,
            mode: AccessMode::Normal,
            profile: SecureProfile::Guide,
            protocol: Protocol::Guide,
            registered: false,
            enrolled: false,
            identity: None,
            footprint: None,
            footprint_at: None,
            space_cleared: false,
            status: None,
            last: None,
            last_seen_ms: 0,
            covers: 0,
            dirty: false,
        }
    }
}

/// What changed with a status report, worth telling the event stream (not every report is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// `AgvState` raw value before (None: first report of the session).
    pub from: Option<u8>,
    /// `AgvState` raw value now.
    pub to: u8,
    /// Map now.
    pub map_id: u16,
    /// `NavigationMode` raw value now.
    pub navigation_mode: u8,
}

/// A registered footprint as `[front, rear, left, right]`.
pub fn dims(f: &Footprint) -> [f64; 4] {
    [
        f64::from(f.front),
        f64::from(f.rear),
        f64::from(f.left),
        f64::from(f.right),
    ]
}

/// The snapshot row a status report gives.
pub fn snapshot(agv_id: u32, at_ms: u64, s: &StatusReport) -> TelemetryRow {
    TelemetryRow {
        agv_id,
        at_ms,
        map_id: s.map_id,
        x: s.pose.x,
        y: s.pose.y,
        theta: s.pose.theta,
        state: s.state.to_raw(),
        battery_pct: s.battery_pct,
        navigation_mode: s.navigation_mode.to_raw(),
        charging: s.charging,
        task_id: s.task_id,
    }
}

/// The fleet.
#[derive(Debug, Default)]
pub struct Fleet {
    agvs: RwLock<crate::state::ByAgv<AgvView>>,
}

impl Fleet {
    /// A fleet restored from the database: every known AGV in service offline at its last
    /// snapshot (decommissioned ones are left out).
    pub fn restore(records: Vec<AgvRecord>, last: Vec<TelemetryRow>) -> Self {
        let fleet = Self::default();
        let mut out_of_service = std::collections::BTreeSet::new();
        let mut cleared = std::collections::BTreeMap::new();
        for r in records {
            if r.decommissioned_at.is_some() {
                out_of_service.insert(r.agv_id);
                continue;
            }
            if let Some(at) = r.space_cleared_at {
                cleared.insert(r.agv_id, at);
            }
            fleet.update(r.agv_id, |v| {
                v.enrolled = r.enrolled;
                v.footprint = r.footprint;
                if !r.vendor.is_empty() || !r.serial.is_empty() {
                    v.identity = Some(Identity {
                        vendor: r.vendor,
                        model: r.model,
                        serial: r.serial,
                        firmware: r.firmware,
                        agv_type: r.agv_type,
                    });
                }
            });
        }
        for row in last {
            if out_of_service.contains(&row.agv_id) {
                continue;
            }
            let space_cleared = cleared.get(&row.agv_id).is_some_and(|at| *at >= row.at_ms);
            fleet.update(row.agv_id, |v| {
                v.last = Some(row);
                v.last_seen_ms = row.at_ms;
                v.space_cleared = space_cleared;
            });
        }
        fleet
    }

    /// Removes `agv_id` (decommissioned) unless a session is up for it; returns whether it
    /// was removed.
    pub fn remove_if_offline(&self, agv_id: u32) -> bool {
        let mut agvs = self.agvs.write().expect("not poisoned");
        if agvs.get(&agv_id).is_some_and(|v| v.online) {
            return false;
        }
        agvs.remove(&agv_id).is_some()
    }

    /// A copy of one AGV's view.
    pub fn get(&self, agv_id: u32) -> Option<AgvView> {
        self.agvs
            .read()
            .expect("not poisoned")
            .get(&agv_id)
            .cloned()
    }

    /// The footprint dimensions of `agv_id`, if known.
    pub fn get_footprint(&self, agv_id: u32) -> Option<[f64; 4]> {
        self.agvs
            .read()
            .expect("not poisoned")
            .get(&agv_id)
            .and_then(|v| v.footprint)
    }

    /// Every AGV id with its view, sorted by id.
    pub fn snapshot(&self) -> Vec<(u32, AgvView)> {
        let mut all: Vec<_> = self
            .agvs
            .read()
            .expect("not poisoned")
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }

    /// Calls `f` with every AGV id and view (in no order) under the read lock: for readers that
    /// need a few fields of every AGV without copying whole views.
    pub fn for_each(&self, mut f: impl FnMut(u32, &AgvView)) {
        for (id, v) in self.agvs.read().expect("not poisoned").iter() {
            f(*id, v);
        }
    }

    /// How many AGVs are online.
    pub fn online(&self) -> usize {
        self.agvs
            .read()
            .expect("not poisoned")
            .values()
            .filter(|v| v.online)
            .count()
    }

    /// Applies `f` to the view of `agv_id`, creating it offline first if needed.
    pub fn update<R>(&self, agv_id: u32, f: impl FnOnce(&mut AgvView) -> R) -> R {
        let mut agvs = self.agvs.write().expect("not poisoned");
        f(agvs.entry(agv_id).or_insert_with(AgvView::new))
    }

    /// Applies `f` to the view of `agv_id` if the fleet knows the AGV (`None` if not: nothing
    /// is added, unlike [`Self::update`]).
    pub fn update_known<R>(&self, agv_id: u32, f: impl FnOnce(&mut AgvView) -> R) -> Option<R> {
        self.agvs
            .write()
            .expect("not poisoned")
            .get_mut(&agv_id)
            .map(f)
    }

    /// Forgets `agv_id` if nothing is known of it beyond a session that ended: offline, never
    /// registered (no identity, footprint or snapshot), no key enrolled. Such entries come from
    /// connections that claimed an id and left; keeping them would grow the fleet with every id
    /// a client tries. Returns whether it was forgotten.
    pub fn forget_if_unknown(&self, agv_id: u32) -> bool {
        let mut agvs = self.agvs.write().expect("not poisoned");
        let unknown = agvs.get(&agv_id).is_some_and(|v| {
            !v.online
                && !v.enrolled
                && v.identity.is_none()
                && v.footprint.is_none()
                && v.last.is_none()
        });
        if unknown {
            agvs.remove(&agv_id);
        }
        unknown
    }

    /// How many AGVs the fleet knows.
    pub fn len(&self) -> usize {
        self.agvs.read().expect("not poisoned").len()
    }

    /// Whether the fleet knows no AGV.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a registration. Its footprint is placed anew with its next report (it may
    /// differ from the one held).
    pub fn register(&self, agv_id: u32, req: &RegisterRequest) {
        self.update(agv_id, |v| {
            v.registered = true;
            v.footprint = Some(dims(&req.footprint));
            v.footprint_at = None;
            v.identity = Some(Identity {
                vendor: req.vendor.clone(),
                model: req.model.clone(),
                serial: req.serial.clone(),
                firmware: req.firmware.clone(),
                agv_type: req.agv_type.to_raw(),
            });
        });
    }

    /// Takes a status report of the session `session_id` (ignored if another session owns the
    /// AGV id now) that [`AgvView::covers`] the first `covers` commands; returns what changed if
    /// its state, map or navigation mode did. The report is swapped in: `status` comes back
    /// holding the report it replaced (unchanged when ignored, or the first), for the session to
    /// decode the next report into ([`protocol::session::RcsSession::recycle`]).
    pub fn report(
        &self,
        agv_id: u32,
        session_id: u32,
        now_ms: u64,
        covers: u64,
        status: &mut StatusReport,
    ) -> Option<StateChange> {
        self.update(agv_id, |v| {
            if v.session_id != session_id {
                return None;
            }
            let before = v
                .status
                .as_ref()
                .map(|s| (s.state, s.map_id, s.navigation_mode));
            let now = (status.state, status.map_id, status.navigation_mode);
            v.last = Some(snapshot(agv_id, now_ms, status));
            v.dirty = true;
            v.last_seen_ms = now_ms;
            v.covers = covers;
            match &mut v.status {
                Some(kept) => core::mem::swap(kept, status),
                None => v.status = Some(status.clone()),
            }
            (before != Some(now)).then_some(StateChange {
                from: before.map(|b| b.0.to_raw()),
                to: now.0.to_raw(),
                map_id: now.1,
                navigation_mode: now.2.to_raw(),
            })
        })
    }

    /// The snapshots that changed since the last call (for the telemetry writer).
    pub fn take_dirty(&self, out: &mut Vec<TelemetryRow>) {
        let mut agvs = self.agvs.write().expect("not poisoned");
        for v in agvs.values_mut() {
            if v.dirty {
                v.dirty = false;
                if let Some(row) = v.last {
                    out.push(row);
                }
            }
        }
    }
}
