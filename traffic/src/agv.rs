//! AGVs as the core sees them: what they last reported.

use serde::Serialize;

/// What an AGV says it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No task.
    Idle,
    /// Driving released path.
    Driving,
    /// Standing at the end of what was released to it.
    WaitingForRelease,
    /// Charging.
    Charging,
    /// Switching map or navigation, riding a lift.
    Switching,
    /// Stopped by a fault, an emergency stop or a safety stop.
    Stopped,
    /// Under manual control, or manoeuvring in a safe space: the core gives it no new path.
    Manual,
}

/// A status report, as the core needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Map it is on.
    pub map: u16,
    /// Pose: x, y (m), heading (rad).
    pub pose: [f64; 3],
    /// Whether it moves (any velocity).
    pub moving: bool,
    /// What it does.
    pub mode: Mode,
    /// The last node it passed or stands on (0: none).
    pub last_node: u32,
    /// Battery, %.
    pub battery_pct: f32,
    /// The report came after the answer to every command sent to the AGV: it describes the AGV
    /// after them. Only such a report shows an AGV standing (one sent before a motion reached
    /// it shows it standing while it already drives).
    pub settled: bool,
    /// The task the AGV reports as its own (0: none): after it finished one it reports that
    /// task's id, standing idle, until it is given another or the task is cancelled
    /// (docs/protocol.md, StatusReport).
    pub task: u32,
}

/// One AGV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agv {
    /// Id.
    pub id: u32,
    /// A session is up.
    pub online: bool,
    /// Footprint: front, rear, left, right, m.
    pub dims: [f64; 4],
    /// Top speed, m/s.
    pub max_speed: f64,
    /// Map.
    pub map: u16,
    /// Pose.
    pub pose: [f64; 3],
    /// Moving.
    pub moving: bool,
    /// Mode.
    pub mode: Mode,
    /// Last node.
    pub last_node: u32,
    /// Battery, %.
    pub battery_pct: f32,
    /// Its last report was settled (see [`Report::settled`]).
    pub settled: bool,
    /// Has reported since it came online.
    pub reported: bool,
    /// Its active task (running).
    pub task: Option<u32>,
    /// Since when it has had nothing to do, ms.
    pub idle_since_ms: u64,
    /// Since when it is offline, ms.
    pub offline_since_ms: Option<u64>,
    /// Held still by the driver (a safety stop): no motion, no task.
    pub held: bool,
    /// The node nearest to its pose, for the pose it was computed at.
    #[serde(skip)]
    pub(crate) near: NearCache,
    /// The last nodes it was sent away from to clear another AGV's way, with when (ms): it is
    /// not sent back onto them for a while (each clearing off one waiter's way could send it
    /// into the next one's and back).
    #[serde(skip)]
    pub(crate) cleared_from: [(u32, u64); CLEARED_KEPT],
    /// The last nodes it backed off from (with a task, to let another pass), with when (ms):
    /// a later back-off prefers other nodes for a while (see `Core::back_off_avoiding`).
    #[serde(skip)]
    pub(crate) backed_from: [(u32, u64); CLEARED_KEPT],
    /// Its cell in [`crate::nearby::Nearby`] (none before its first report).
    #[serde(skip)]
    pub(crate) cell: Option<crate::nearby::CellKey>,
}

/// How many of the nodes an AGV was cleared from are remembered.
pub(crate) const CLEARED_KEPT: usize = 4;

/// The node nearest to an AGV's pose, remembered with the map and position it was found for:
/// idle AGVs stand still, and the policies and deadlock passes ask for it every half second.
#[derive(Debug, Clone, Default)]
pub(crate) struct NearCache(std::cell::Cell<Option<NearKnown>>);

/// Map, x and y bits of a pose, and the node nearest to it.
type NearKnown = (u16, [u64; 2], Option<u32>);

impl NearCache {
    /// The cached answer for `map` and `(x, y)`, or `find`'s (then remembered).
    pub(crate) fn get(
        &self,
        map: u16,
        x: f64,
        y: f64,
        find: impl FnOnce() -> Option<u32>,
    ) -> Option<u32> {
        let key = (map, [x.to_bits(), y.to_bits()]);
        if let Some((m, xy, node)) = self.0.get()
            && (m, xy) == key
        {
            return node;
        }
        let node = find();
        self.0.set(Some((key.0, key.1, node)));
        node
    }
}

impl PartialEq for NearCache {
    fn eq(&self, _: &Self) -> bool {
        // a cache: not part of what an AGV is
        true
    }
}

impl Agv {
    pub(crate) fn new(id: u32, dims: [f64; 4], max_speed: f64) -> Self {
        Self {
            id,
            online: false,
            dims,
            max_speed,
            map: 0,
            pose: [0.0; 3],
            moving: false,
            mode: Mode::Idle,
            last_node: 0,
            battery_pct: 100.0,
            settled: false,
            reported: false,
            task: None,
            idle_since_ms: 0,
            offline_since_ms: None,
            held: false,
            near: NearCache::default(),
            cleared_from: [(0, 0); CLEARED_KEPT],
            backed_from: [(0, 0); CLEARED_KEPT],
            cell: None,
        }
    }

    /// The radius of the circle around its footprint, m.
    pub fn radius(&self) -> f64 {
        let [f, r, l, rt] = self.dims;
        f.max(r).hypot(l.max(rt))
    }

    /// Online, seen standing on a settled report, in a mode that does not move it.
    pub fn standing(&self) -> bool {
        self.online
            && self.reported
            && self.settled
            && !self.moving
            && !matches!(self.mode, Mode::Driving | Mode::Manual | Mode::Switching)
    }

    /// Standing at the end of what was released to it, idle, or charging: its reservations
    /// may be given up and its path replanned.
    pub fn at_rest(&self) -> bool {
        self.standing()
            && matches!(
                self.mode,
                Mode::Idle | Mode::WaitingForRelease | Mode::Charging
            )
    }
}
