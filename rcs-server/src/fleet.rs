//! The in-memory fleet state: what every AGV last reported. Owned by the server, updated by the
//! connection drivers; a plain `RwLock` because writes are short (one report copied in) and
//! readers (API, dispatch) take snapshots.

use std::collections::HashMap;
use std::sync::RwLock;

use protocol::message::{AccessMode, SecureProfile, StatusReport};

/// What the server knows of one AGV.
#[derive(Debug, Clone, PartialEq)]
pub struct AgvView {
    /// Whether a session is up.
    pub online: bool,
    /// Its session's mode.
    pub mode: AccessMode,
    /// Its session's profile.
    pub profile: SecureProfile,
    /// Whether it registered in the current session.
    pub registered: bool,
    /// Its last status report.
    pub status: Option<StatusReport>,
    /// When it was last heard, UTC ms.
    pub last_seen_ms: u64,
}

/// The fleet.
#[derive(Debug, Default)]
pub struct Fleet {
    agvs: RwLock<HashMap<u32, AgvView>>,
}

impl Fleet {
    /// A copy of one AGV's view.
    pub fn get(&self, agv_id: u32) -> Option<AgvView> {
        self.agvs
            .read()
            .expect("not poisoned")
            .get(&agv_id)
            .cloned()
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

    /// Applies `f` to the view of `agv_id`, creating it offline first if needed.
    pub fn update(&self, agv_id: u32, f: impl FnOnce(&mut AgvView)) {
        let mut agvs = self.agvs.write().expect("not poisoned");
        let view = agvs.entry(agv_id).or_insert_with(|| AgvView {
            online: false,
            mode: AccessMode::Normal,
            profile: SecureProfile::Guide,
            registered: false,
            status: None,
            last_seen_ms: 0,
        });
        f(view);
    }
}
