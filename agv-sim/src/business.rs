//! The simulated business system of a fleet run: it asks for tasks at the rate given (`--tasks`
//! per minute), sends each where the RCS takes a task of its kind (the server's task rules,
//! docs/operations.md "Tasks"), never to a node that already has an open task of its own or an
//! AGV standing on it, and follows every task it submitted to its end. Every task asked for is
//! accounted for: submitted (then completed, failed, cancelled or still open at the end), or not
//! submitted, with the reason (the server's error code, the API unreachable, no free
//! destination).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use maps::file::{AreaKind, NodeKind};
use maps::{Node, Planner, Site, Vehicle};
pub use traffic::sim::Naming;

use crate::api::{Api, ApiError, TaskView};
use crate::monitor::{Monitor, Position};
use crate::report::TaskFigures;

/// Which nodes the simulated business system sends tasks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Destinations {
    /// The site's places only: stations (`move`, `pick`, `drop`), parking places (`move`,
    /// `park`) and chargers (`move`, `charge`) that the RCS takes tasks to; every node as with
    /// `any` when the site has none.
    Stations,
    /// Every node a task of its kind may go to by the RCS's rules: waypoints and stations
    /// (`move`, `pick`, `drop`), parking places (`move`, `park`), chargers (`move`, `charge`);
    /// never a lift door, a node in a forbidden, no-stop or lift-shaft area, or one no edge
    /// leads to. A busy site where AGVs cross each other's paths everywhere.
    #[default]
    Any,
}

/// A kind of task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Drive there.
    Move,
    /// Drive there and lift the load.
    Pick,
    /// Drive there and set the load down.
    Drop,
    /// Drive to a parking place.
    Park,
    /// Drive to a charger and charge.
    Charge,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [Kind::Move, Kind::Pick, Kind::Drop, Kind::Park, Kind::Charge];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Move => "move",
            Kind::Pick => "pick",
            Kind::Drop => "drop",
            Kind::Park => "park",
            Kind::Charge => "charge",
        }
    }

    /// Whether a task of this kind may go to a node of kind `node` (rcs-server's
    /// `task_rules::allowed_kinds`): `charge` only to chargers, `park` only to parking places,
    /// `pick` and `drop` to stations and waypoints, `move` to any node but a lift door.
    pub fn goes_to(self, node: NodeKind) -> bool {
        match self {
            Kind::Charge => node == NodeKind::Charger,
            Kind::Park => node == NodeKind::Parking,
            Kind::Pick | Kind::Drop => matches!(node, NodeKind::Station | NodeKind::Waypoint),
            Kind::Move => node != NodeKind::LiftDoor,
        }
    }

    /// How often it is asked for relative to the others (among the kinds with a free
    /// destination): mostly loads picked and dropped, some plain moves, now and then parking
    /// or charging.
    pub fn weight(self) -> u64 {
        match self {
            Kind::Pick | Kind::Drop => 4,
            Kind::Move => 2,
            Kind::Park | Kind::Charge => 1,
        }
    }
}

/// The RCS's task rules for a task that names no AGV (rcs-server's `task_rules`, the same
/// checks): the node is of a kind the task may go to, not a lift door, not inside a forbidden,
/// no-stop or lift-shaft area, and an edge, lift ride or link that is not blocked leads into it
/// from another node.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    way_in: HashSet<u32>,
    doors: HashSet<u32>,
}

impl Rules {
    /// The rules' index for `site`.
    pub fn new(site: &Site) -> Self {
        Self {
            way_in: site
                .edges()
                .iter()
                .filter(|e| !e.blocked)
                .map(|e| site.ends(e))
                .filter(|(from, to)| from != to)
                .map(|(_, to)| to)
                .collect(),
            doors: site
                .lifts()
                .iter()
                .flat_map(|l| l.doors.iter().map(|d| d.1))
                .collect(),
        }
    }

    /// Whether the RCS takes a task of `kind` to `node` (of `site`, the site this index was
    /// built for).
    pub fn accepts(&self, site: &Site, kind: Kind, node: &Node) -> bool {
        kind.goes_to(node.kind)
            && !self.doors.contains(&node.id)
            && self.way_in.contains(&node.id)
            && !site.areas_at(node.map, node.x, node.y).any(|a| {
                matches!(
                    a.kind,
                    AreaKind::Forbidden | AreaKind::NoStop | AreaKind::LiftShaft
                )
            })
    }
}

/// A destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Node id.
    pub node: u32,
    /// Its map.
    pub map: u16,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
}

/// Where a run sends tasks of each kind.
#[derive(Debug, Clone, Default)]
pub struct Places {
    by_kind: BTreeMap<Kind, Vec<Place>>,
}

impl Places {
    /// The destinations on `site` for `destinations`.
    pub fn new(site: &Site, destinations: Destinations) -> Self {
        let rules = Rules::new(site);
        let collect = |places_only: bool| {
            let mut by_kind = BTreeMap::new();
            for kind in Kind::ALL {
                let v: Vec<Place> = site
                    .nodes()
                    .iter()
                    .filter(|n| !places_only || n.kind != NodeKind::Waypoint)
                    .filter(|n| rules.accepts(site, kind, n))
                    .map(|n| Place {
                        node: n.id,
                        map: n.map,
                        x: n.x,
                        y: n.y,
                    })
                    .collect();
                if !v.is_empty() {
                    by_kind.insert(kind, v);
                }
            }
            Self { by_kind }
        };
        let places = collect(destinations == Destinations::Stations);
        if places.by_kind.is_empty() {
            collect(false)
        } else {
            places
        }
    }

    /// The destinations of tasks of `kind`.
    pub fn of(&self, kind: Kind) -> &[Place] {
        self.by_kind.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// A kind (by [`Kind::weight`], among the kinds with a free destination) and a free
    /// destination for it (uniformly among the free ones), from the random number `r`; none
    /// when no destination is free.
    pub fn choose(&self, free: impl Fn(&Place) -> bool, r: u64) -> Option<(Kind, Place)> {
        let free: Vec<(Kind, Vec<Place>)> = self
            .by_kind
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    v.iter().copied().filter(|p| free(p)).collect::<Vec<_>>(),
                )
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let total: u64 = free.iter().map(|(k, _)| k.weight()).sum();
        if total == 0 {
            return None;
        }
        let mut pick = r % total;
        let (kind, places) = free.iter().find(|(k, _)| {
            if pick < k.weight() {
                true
            } else {
                pick -= k.weight();
                false
            }
        })?;
        Some((*kind, places[((r >> 24) % places.len() as u64) as usize]))
    }
}

/// Where AGVs stand, hashed in 1 m cells: whether one stands near a node.
struct Occupied(HashMap<(u16, i64, i64), Vec<(f64, f64)>>);

impl Occupied {
    fn new(positions: &[Position]) -> Self {
        let mut cells: HashMap<(u16, i64, i64), Vec<(f64, f64)>> = HashMap::new();
        for p in positions {
            cells
                .entry((p.map, p.x.floor() as i64, p.y.floor() as i64))
                .or_default()
                .push((p.x, p.y));
        }
        Self(cells)
    }

    /// Whether an AGV stands within 0.5 m of `p`.
    fn near(&self, p: &Place) -> bool {
        let (cx, cy) = (p.x.floor() as i64, p.y.floor() as i64);
        (cx - 1..=cx + 1).any(|x| {
            (cy - 1..=cy + 1).any(|y| {
                self.0
                    .get(&(p.map, x, y))
                    .is_some_and(|v| v.iter().any(|(ax, ay)| (ax - p.x).hypot(ay - p.y) < 0.5))
            })
        })
    }
}

/// How many tasks `per_min` asks for in `duration` (one at the start, then one every
/// `60 / per_min` s while the duration lasts).
pub fn requested(per_min: f64, duration: Duration) -> u64 {
    if per_min <= 0.0 {
        return 0;
    }
    (duration.as_secs_f64() * per_min / 60.0 - 1e-9)
        .ceil()
        .max(0.0) as u64
}

/// A failure reason as counted: the part before the first `:` (the details after it name
/// AGVs, answers and ids), digits replaced by `#`.
pub fn reason_key(error: &str) -> String {
    let head = error.split(':').next().unwrap_or_default().trim();
    let mut key = String::with_capacity(head.len());
    for c in head.chars() {
        if c.is_ascii_digit() {
            if !key.ends_with('#') {
                key.push('#');
            }
        } else {
            key.push(c);
        }
    }
    if key.is_empty() {
        "no reason given".into()
    } else {
        key
    }
}

/// A task being submitted: what it asks for, kept until the API takes or refuses it, so a
/// submission tried again (the API unreachable, a failover) is the same request under the same
/// reference and the server answers the task the first attempt created, if it did.
struct Pending {
    kind: Kind,
    place: Place,
    named: Option<u32>,
    reference: String,
    /// An attempt may have reached the server (the connection was lost after sending): the
    /// task may exist, so it is tried until an answer comes, never given up on.
    maybe_sent: bool,
}

/// A submitted task still open.
struct Open {
    node: u32,
    /// The AGV on it or asked for.
    agv: Option<u32>,
    queued: bool,
    /// Why it waits, as the server last said (compact JSON).
    wait: Option<String>,
}

/// The business system of a run: submits tasks as their time comes, follows them.
pub struct Business<'s> {
    site: &'s Site,
    /// Which AGV a named task names.
    naming: Naming,
    places: Places,
    planner: Planner<'s>,
    agvs: Vec<u32>,
    per_min: f64,
    start: Instant,
    duration: Duration,
    /// Tasks the rate asks for in the whole duration.
    total: u64,
    /// Tasks resolved so far (submitted or not): the index of the next one.
    next: u64,
    retry_at: Option<Instant>,
    pending: Option<Pending>,
    /// This run's part of each task's reference (unique per run).
    run_tag: String,
    rng: u64,
    open: HashMap<u64, Open>,
    /// Ids of the tasks the API accepted, in order.
    accepted: Vec<u64>,
    figures: TaskFigures,
    seconds: Vec<f64>,
}

/// Every this many tasks names an AGV (the rest are the dispatcher's to assign).
const NAMED_EVERY: u64 = 3;

impl<'s> Business<'s> {
    /// A business system on `site` sending tasks to `destinations` at `per_min` for
    /// `duration` from now, naming some of them for one of `agvs`.
    pub fn new(
        site: &'s Site,
        destinations: Destinations,
        naming: Naming,
        per_min: f64,
        duration: Duration,
        agvs: Vec<u32>,
        seed: u64,
    ) -> Self {
        Self {
            site,
            naming,
            places: Places::new(site, destinations),
            planner: Planner::new(site),
            agvs,
            per_min,
            start: Instant::now(),
            duration,
            total: requested(per_min, duration),
            next: 0,
            retry_at: None,
            pending: None,
            run_tag: {
                let mut random = [0u8; 8];
                let _ = getrandom::fill(&mut random);
                format!("agv-sim-{seed}-{:016x}", u64::from_le_bytes(random))
            },
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            open: HashMap::new(),
            accepted: Vec::new(),
            figures: TaskFigures {
                per_minute: per_min,
                ..TaskFigures::default()
            },
            seconds: Vec::new(),
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn due_at(&self, k: u64) -> Instant {
        self.start + Duration::from_secs_f64(k as f64 * 60.0 / self.per_min)
    }

    /// Whether tasks are still to be submitted (the duration has not passed, or a task whose
    /// time came is still being tried).
    pub fn submitting(&self) -> bool {
        self.next < self.total
    }

    /// Tasks submitted and not over yet.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Ids of the tasks the API accepted so far, in the order accepted.
    pub fn accepted(&self) -> &[u64] {
        &self.accepted
    }

    /// Tasks completed so far.
    pub fn completed(&self) -> u64 {
        self.figures.completed
    }

    /// Submits every task whose time has come. A task that finds the API unreachable is tried
    /// again every 200 ms until the next one is due (or the duration ends), then counted as not
    /// submitted (`api_unreachable`). One that finds only standbys, or no instance of a cluster
    /// reachable (between two active instances), is tried until the duration ends (`standby`,
    /// `api_unreachable`), the tasks due meanwhile behind it; one whose submission may have
    /// reached the server, until an answer comes.
    pub async fn submit_due(&mut self, api: &Api, monitor: &Monitor) {
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.retry_at = None;
        while self.next < self.total && self.due_at(self.next) <= Instant::now() {
            let outcome = self.submit_one(api, monitor).await;
            if let Some(pending) = &self.pending {
                self.figures.api_unreachable_attempts += 1;
                let end = self.start + self.duration;
                let failing_over =
                    api.is_cluster() || matches!(&outcome, Err(reason) if reason == "standby");
                let give_up = if failing_over {
                    end
                } else {
                    self.due_at(self.next + 1).min(end)
                };
                if pending.maybe_sent || Instant::now() < give_up {
                    self.retry_at = Some(Instant::now() + Duration::from_millis(200));
                    return;
                }
                self.pending = None;
            }
            self.next += 1;
            if let Err(reason) = outcome {
                *self.figures.not_submitted.entry(reason).or_default() += 1;
            }
        }
    }

    /// One task: a kind and a free destination, sometimes a free AGV named for it, submitted
    /// under a reference of its own (or the pending one, tried again). The reason it was not
    /// submitted, if it was not; it stays pending when the API was unavailable.
    async fn submit_one(&mut self, api: &Api, monitor: &Monitor) -> Result<(), String> {
        let pending = match self.pending.take() {
            Some(p) => p,
            None => {
                let occupied = Occupied::new(&monitor.positions());
                let busy: HashSet<u32> = self.open.values().map(|o| o.node).collect();
                let r = self.random();
                let (kind, place) = self
                    .places
                    .choose(|p| !busy.contains(&p.node) && !occupied.near(p), r)
                    .ok_or_else(|| "no_destination".to_owned())?;
                let named = if self.next % NAMED_EVERY == NAMED_EVERY - 1 {
                    self.free_agv_for(place.node, monitor)
                } else {
                    None
                };
                Pending {
                    kind,
                    place,
                    named,
                    reference: format!("{}-{}", self.run_tag, self.next),
                    maybe_sent: false,
                }
            }
        };
        let (kind, place, named) = (pending.kind, pending.place, pending.named);
        let id = match api
            .submit(kind.name(), place.node, named, Some(&pending.reference))
            .await
        {
            Ok(id) => id,
            Err(e) if e.unavailable() => {
                let maybe_sent = pending.maybe_sent || e.maybe_sent();
                self.pending = Some(Pending {
                    maybe_sent,
                    ..pending
                });
                return Err(e.code());
            }
            Err(e) => return Err(e.code()),
        };
        if pending.maybe_sent {
            self.figures.resubmitted += 1;
        }
        self.accepted.push(id);
        self.open.insert(
            id,
            Open {
                node: place.node,
                agv: named,
                queued: true,
                wait: None,
            },
        );
        self.figures.submitted += 1;
        *self
            .figures
            .submitted_by_kind
            .entry(kind.name().to_owned())
            .or_default() += 1;
        if named.is_some() {
            self.figures.named += 1;
        }
        Ok(())
    }

    /// An AGV of the run with no open task of ours and a route to `node` from where it stands
    /// (the RCS refuses a task naming an AGV that cannot get there), with [`Naming::SameMap`]
    /// on `node`'s map when one is (as a business system names a vehicle nearby: a vehicle
    /// named at random across floors makes lift rides the site's lifts cannot carry,
    /// docs/performance.md), trying a few from a random one on; none when there is none.
    fn free_agv_for(&mut self, node: u32, monitor: &Monitor) -> Option<u32> {
        let taken: HashSet<u32> = self.open.values().filter_map(|o| o.agv).collect();
        let map = self.site.node(node).map(|n| n.map);
        let untaken = || self.agvs.iter().copied().filter(|a| !taken.contains(a));
        let mut free: Vec<u32> = match self.naming {
            Naming::SameMap => untaken()
                .filter(|a| monitor.position(*a).map(|p| p.map) == map)
                .collect(),
            Naming::Random => Vec::new(),
        };
        if free.is_empty() {
            free = untaken().collect();
        }
        if free.is_empty() {
            return None;
        }
        let first = (self.random() % free.len() as u64) as usize;
        let vehicle = Vehicle {
            width: f64::from(crate::agv::FOOTPRINT.left + crate::agv::FOOTPRINT.right),
            ..Vehicle::default()
        };
        (0..free.len().min(8))
            .map(|i| free[(first + i) % free.len()])
            .find(|agv| {
                monitor.position(*agv).is_some_and(|p| {
                    self.site
                        .nearest_node(p.map, p.x, p.y)
                        .is_some_and(|(from, _)| {
                            self.planner.route(from.id, node, &vehicle).is_ok()
                        })
                })
            })
    }

    /// Follows the open tasks: asks for the ones still queued or running, then for each of
    /// ours no longer among them, how it ended.
    pub async fn follow(&mut self, api: &Api) {
        if self.open.is_empty() {
            return;
        }
        let Ok(still) = api.open_tasks().await else {
            return;
        };
        let still: HashMap<u64, TaskView> = still.into_iter().map(|t| (t.id, t)).collect();
        let mut ended = Vec::new();
        for (id, open) in &mut self.open {
            match still.get(id) {
                Some(t) => {
                    open.agv = t.agv.or(t.requested_agv);
                    open.queued = t.state == "queued";
                    open.wait = t.wait.as_ref().map(ToString::to_string);
                }
                None => ended.push(*id),
            }
        }
        for id in ended {
            match api.task(id).await {
                Ok(t) if t.finished() => self.ended(&t),
                Ok(_) => {}
                // tasks are stored: one the server does not know was lost
                Err(ApiError::Status { status: 404, .. }) => {
                    self.open.remove(&id);
                    self.figures.failed += 1;
                    *self
                        .figures
                        .failed_reasons
                        .entry("unknown to the server".into())
                        .or_default() += 1;
                }
                Err(_) => {}
            }
        }
    }

    fn ended(&mut self, t: &TaskView) {
        self.open.remove(&t.id);
        let f = &mut self.figures;
        match t.state.as_str() {
            "completed" => {
                f.completed += 1;
                self.seconds
                    .push(t.updated_at_ms.saturating_sub(t.created_at_ms) as f64 / 1000.0);
            }
            "cancelled" => f.cancelled += 1,
            _ => {
                f.failed += 1;
                *f.failed_reasons
                    .entry(reason_key(t.error.as_deref().unwrap_or_default()))
                    .or_default() += 1;
            }
        }
    }

    /// The figures at the end of the run: tasks whose time came but that were never tried
    /// (the run stopped first) count as not submitted (`run_stopped`).
    pub fn figures(mut self) -> TaskFigures {
        let now = Instant::now();
        let due = (self.next..self.total)
            .take_while(|k| self.due_at(*k) <= now)
            .count() as u64;
        if due > 0 {
            // the first of them may be a submission whose outcome stayed unknown
            let unknown = u64::from(self.pending.as_ref().is_some_and(|p| p.maybe_sent));
            for (reason, n) in [("outcome_unknown", unknown), ("run_stopped", due - unknown)] {
                if n > 0 {
                    *self.figures.not_submitted.entry(reason.into()).or_default() += n;
                }
            }
        }
        self.figures.requested = self.next + due;
        self.figures.open = self.open.len() as u64;
        self.figures.open_queued = self.open.values().filter(|o| o.queued).count() as u64;
        let mut open: Vec<(&u64, &Open)> = self.open.iter().collect();
        open.sort_unstable_by_key(|(id, _)| **id);
        self.figures.open_tasks = open
            .into_iter()
            .take(10)
            .map(|(id, o)| {
                format!(
                    "task {id} to node {} ({}, AGV {}): {}",
                    o.node,
                    if o.queued { "queued" } else { "running" },
                    o.agv.map_or("-".into(), |a| a.to_string()),
                    o.wait.as_deref().unwrap_or("no wait")
                )
            })
            .collect();
        self.seconds.sort_by(f64::total_cmp);
        let v = &self.seconds;
        if !v.is_empty() {
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            self.figures.seconds_to_complete = Some((at(0.5), at(0.9), v[v.len() - 1]));
        }
        self.figures
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn site(files: &maps::file::SiteFiles) -> Site {
        Site::compile(files, Path::new(".")).expect("a valid site")
    }

    #[test]
    fn the_rate_asks_for_one_task_at_the_start_then_one_per_interval() {
        assert_eq!(requested(60.0, Duration::from_secs(900)), 900);
        assert_eq!(requested(90.0, Duration::from_secs(8)), 12);
        assert_eq!(requested(60.0, Duration::from_millis(60_500)), 61);
        assert_eq!(requested(0.0, Duration::from_secs(60)), 0);
    }

    #[test]
    fn failure_reasons_are_counted_without_their_details() {
        assert_eq!(
            reason_key("motion command refused or unanswered: Timeout(12)"),
            "motion command refused or unanswered"
        );
        assert_eq!(
            reason_key("the path passes too close to forbidden area 12 for this AGV"),
            "the path passes too close to forbidden area # for this AGV"
        );
        assert_eq!(reason_key(""), "no reason given");
    }

    #[test]
    fn any_takes_every_node_by_the_rules_and_stations_only_the_places() {
        let s = site(&maps::generate::warehouse_3f());
        let any = Places::new(&s, Destinations::Any);
        let stations = Places::new(&s, Destinations::Stations);
        // no parking places on this site, 2 chargers and 3 stations a floor
        assert!(any.of(Kind::Park).is_empty());
        assert_eq!(any.of(Kind::Charge).len(), 6);
        assert_eq!(stations.of(Kind::Pick).len(), 9);
        assert_eq!(stations.of(Kind::Move).len(), 15);
        assert!(
            any.of(Kind::Pick).len() > 500,
            "{}",
            any.of(Kind::Pick).len()
        );
        // never a lift door, nor a node of the forbidden block on floor 2
        let door = maps::generate::grid_node(1, 20, 0, 5);
        let forbidden = maps::generate::grid_node(2, 20, 8, 4);
        for kind in Kind::ALL {
            assert!(
                any.of(kind)
                    .iter()
                    .all(|p| p.node != door && p.node != forbidden)
            );
        }
        assert!(
            any.of(Kind::Move)
                .iter()
                .any(|p| p.node == maps::generate::grid_node(3, 20, 8, 4))
        );
    }

    #[test]
    fn kinds_go_by_weight_among_those_with_a_free_destination() {
        let s = site(&maps::generate::demo());
        let places = Places::new(&s, Destinations::Any);
        // splitmix64: well-mixed random numbers
        let random = |i: u64| {
            let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut seen: BTreeMap<Kind, u64> = BTreeMap::new();
        for i in 0..12_000u64 {
            let (kind, place) = places.choose(|_| true, random(i)).unwrap();
            assert!(places.of(kind).contains(&place));
            *seen.entry(kind).or_default() += 1;
        }
        // weights move 2, pick 4, drop 4, park 1, charge 1 (of 12)
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(seen[&Kind::Pick] > 3 * seen[&Kind::Park], "{seen:?}");
        assert!(seen[&Kind::Charge] > 0 && seen[&Kind::Move] > seen[&Kind::Charge]);
        // only chargers free: only moves and charges, to chargers
        let chargers: Vec<u32> = places.of(Kind::Charge).iter().map(|p| p.node).collect();
        for i in 0..100u64 {
            let (kind, place) = places
                .choose(|p| chargers.contains(&p.node), random(i))
                .unwrap();
            assert!(matches!(kind, Kind::Move | Kind::Charge), "{kind:?}");
            assert!(chargers.contains(&place.node));
        }
        assert_eq!(places.choose(|_| false, 1), None);
    }

    #[test]
    fn a_node_with_an_agv_near_it_is_occupied() {
        let at = |x, y| Position {
            map: 1,
            x,
            y,
            theta: 0.0,
        };
        let occupied = Occupied::new(&[at(3.02, 4.98), at(10.0, 10.0)]);
        let place = |map, x, y| Place { node: 1, map, x, y };
        assert!(occupied.near(&place(1, 3.0, 5.0)));
        assert!(occupied.near(&place(1, 10.4, 10.0)));
        assert!(!occupied.near(&place(2, 3.0, 5.0)));
        assert!(!occupied.near(&place(1, 4.0, 5.0)));
    }
}
