//! The invariant monitor: every tick it checks that no two simulated AGVs' footprints overlap
//! (on the same map); each AGV reports when it finds itself outside the space it was given
//! (the released part of its path, or its granted circle). Candidates come from a 2 m grid of
//! positions (sorted by cell, so a check allocates nothing once its buffers have grown), those
//! nearer than their circumscribed circles allow are tested exactly with `geo`'s polygon
//! intersection, and a check finds nothing new when no AGV moved since the last one (it counts
//! the same violations again), so it scales to thousands of AGVs.
//!
//! Every check that finds a violation counts one **sample**; the first sample of each distinct
//! violation (kind and pair of AGVs) is kept with both AGVs' poses and the space each held as
//! the simulator saw it (the RCS's view is added by the fleet run), so a report can say who
//! drove into whom and with which space.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use geo::Intersects;
use maps::space::oriented_rect;
use serde::Serialize;

use crate::agv::FOOTPRINT;

/// Where an AGV is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Position {
    /// Map.
    pub map: u16,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading, rad.
    pub theta: f64,
}

/// The space an AGV holds as the simulator sees it: what the RCS released to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Its task (0: none).
    pub task_id: u32,
    /// The released nodes still ahead of it, the one it drives to first (empty: it stands).
    pub released_ahead: Vec<u32>,
    /// The safe-space grant it manoeuvres in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<u32>,
}

/// One violation: the first sample of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// `overlap` (two footprints), `cabin` (two AGVs in one lift's cabin, at its doors on
    /// different floors) or `outside` (an AGV outside the space it was given).
    pub kind: &'static str,
    /// The AGVs (the same twice for `outside`).
    pub agvs: (u32, u32),
    /// Map.
    pub map: u16,
    /// Their distance, m.
    pub distance: f64,
    /// Seconds since the monitor started.
    pub at_s: f64,
    /// Where each was.
    pub poses: [Position; 2],
    /// What each held, as the simulator saw it.
    pub held: [Held; 2],
    /// What each held as the RCS said (`GET /api/v1/space`), when it could be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcs_held: Option<[Vec<String>; 2]>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.agvs;
        let pose = |p: &Position| format!("({:.2}, {:.2}, {:.2} rad)", p.x, p.y, p.theta);
        let held = |h: &Held| {
            let mut s = format!("task {} released ahead {:?}", h.task_id, h.released_ahead);
            if let Some(g) = h.grant {
                s.push_str(&format!(", grant {g}"));
            }
            s
        };
        write!(
            f,
            "{} at {:.1} s on map {}: ",
            self.kind, self.at_s, self.map
        )?;
        write!(
            f,
            "AGV {a} at {} holding [{}]",
            pose(&self.poses[0]),
            held(&self.held[0])
        )?;
        if a != b {
            write!(
                f,
                "; AGV {b} at {} holding [{}]; {:.2} m apart",
                pose(&self.poses[1]),
                held(&self.held[1]),
                self.distance
            )?;
        }
        if let Some([ra, rb]) = &self.rcs_held {
            write!(f, "; the RCS held for {a}: {}", ra.join(", "))?;
            if a != b {
                write!(f, "; for {b}: {}", rb.join(", "))?;
            }
        }
        Ok(())
    }
}

/// Shared positions and the violations found.
#[derive(Debug)]
pub struct Monitor {
    positions: Mutex<HashMap<u32, (Position, Held)>>,
    /// The nodes released ahead of an AGV when it lost its link: the RCS keeps them for it
    /// while it is away and after it is back, until it is released a path again (the AGV's own
    /// view, `Held`, is empty from the loss on).
    kept: Mutex<HashMap<u32, Vec<u32>>>,
    /// Lift doors: (lift, map, x, y). The doors of a lift are one cabin on every floor.
    cabins: Vec<Cabin>,
    first: Mutex<Vec<Violation>>,
    samples: AtomicU64,
    started: std::time::Instant,
    /// Bumped (under the positions' lock) whenever an AGV's position changes.
    moves: AtomicU64,
    /// The last check's buffers and what it found.
    scratch: Mutex<Scratch>,
}

/// A lift door's part of its cabin.
#[derive(Debug)]
struct Cabin {
    lift: u16,
    map: u16,
    x: f64,
    y: f64,
    /// The cabin's shape at this door.
    shape: geo::Polygon<f64>,
    /// Its farthest corner from (x, y), m.
    reach: f64,
}

/// What [`Monitor::check`] keeps between checks.
#[derive(Debug, Default)]
struct Scratch {
    /// `moves` when the last check took its snapshot (`None`: no check yet).
    checked: Option<u64>,
    /// How many violations that check found.
    found: usize,
    /// The snapshot: AGV and where it was.
    agvs: Vec<(u32, Position)>,
    /// (map, cell x, cell y) and the index in `agvs`, sorted.
    cells: Vec<((u16, i64, i64), usize)>,
    /// For each cabin, the AGVs (indices in `agvs`) whose footprint is in it.
    inside: Vec<Vec<usize>>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            positions: Mutex::default(),
            kept: Mutex::default(),
            cabins: Vec::new(),
            first: Mutex::default(),
            samples: AtomicU64::new(0),
            started: std::time::Instant::now(),
            moves: AtomicU64::new(0),
            scratch: Mutex::default(),
        }
    }
}

const CELL: f64 = 2.0;

/// The radius of the circle around an AGV's centre that holds its footprint, m.
fn footprint_reach() -> f64 {
    f64::from(FOOTPRINT.front.max(FOOTPRINT.rear))
        .hypot(f64::from(FOOTPRINT.left.max(FOOTPRINT.right)))
}

/// The cell of a coordinate.
fn cell(v: f64) -> i64 {
    (v / CELL).floor() as i64
}

/// The indices in `agvs` of the AGVs on `map` in the cells within `r` of (x, y) (each once;
/// `cells` sorted).
fn near<'a>(
    cells: &'a [((u16, i64, i64), usize)],
    map: u16,
    x: f64,
    y: f64,
    r: f64,
) -> impl Iterator<Item = usize> + 'a {
    let (y0, y1) = (cell(y - r), cell(y + r));
    (cell(x - r)..=cell(x + r)).flat_map(move |cx| {
        let from = cells.partition_point(|(k, _)| *k < (map, cx, y0));
        let to = cells.partition_point(|(k, _)| *k <= (map, cx, y1));
        cells[from..to.max(from)].iter().map(|(_, i)| *i)
    })
}

fn footprint(p: &Position) -> geo::Polygon<f64> {
    oriented_rect(
        p.x,
        p.y,
        p.theta,
        f64::from(FOOTPRINT.front),
        f64::from(FOOTPRINT.rear),
        f64::from(FOOTPRINT.left),
        f64::from(FOOTPRINT.right),
    )
}

impl Monitor {
    /// A monitor that also checks that no two AGVs are in one lift's cabin (at its doors on
    /// different floors) at once: `site`'s lifts.
    pub fn for_site(site: &maps::Site) -> Self {
        let cabins = site
            .lifts()
            .iter()
            .flat_map(|l| {
                l.doors.iter().filter_map(move |(map, node, _)| {
                    let n = site.node(*node)?;
                    let shape = maps::space::disc(n.x, n.y, maps::space::CABIN_RADIUS);
                    let reach = shape
                        .exterior()
                        .coords()
                        .map(|c| (c.x - n.x).hypot(c.y - n.y))
                        .fold(0.0, f64::max);
                    Some(Cabin {
                        lift: l.id,
                        map: *map,
                        x: n.x,
                        y: n.y,
                        shape,
                        reach,
                    })
                })
            })
            .collect();
        Self {
            cabins,
            ..Self::default()
        }
    }

    /// Records where `agv` is.
    pub fn set(&self, agv: u32, p: Position) {
        use std::collections::hash_map::Entry;
        let mut positions = self.positions.lock().expect("not poisoned");
        match positions.entry(agv) {
            Entry::Occupied(e) if e.get().0 == p => return,
            Entry::Occupied(mut e) => e.get_mut().0 = p,
            Entry::Vacant(e) => {
                e.insert((p, Held::default()));
            }
        }
        // (under the lock: a check's snapshot and the count it notes agree)
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    /// Records what `agv` holds (when it changes: a command, a grant, a lost link).
    pub fn held(&self, agv: u32, held: Held) {
        if !held.released_ahead.is_empty() {
            // released a path again: what it had before is the RCS's to give up or send again
            self.kept.lock().expect("not poisoned").remove(&agv);
        }
        if let Some(e) = self.positions.lock().expect("not poisoned").get_mut(&agv) {
            e.1 = held;
        }
    }

    /// `agv` lost its link with `released_ahead` still ahead of it: the RCS keeps that space
    /// for it (see [`Self::released_ahead`]).
    pub fn link_lost(&self, agv: u32, released_ahead: Vec<u32>) {
        if !released_ahead.is_empty() {
            self.kept
                .lock()
                .expect("not poisoned")
                .insert(agv, released_ahead);
        }
    }

    fn record(&self, v: Violation) {
        self.samples.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().expect("not poisoned");
        if !first.iter().any(|f| f.kind == v.kind && f.agvs == v.agvs) {
            first.push(v);
        }
    }

    /// Checks every pair of nearby AGVs once, and every lift's cabin; returns how many
    /// violations it found (each one sample). When no AGV moved since the last check it finds
    /// what that one found without looking again.
    pub fn check(&self) -> usize {
        let mut scratch = self.scratch.lock().expect("not poisoned");
        let Scratch {
            checked,
            found: last_found,
            agvs,
            cells,
            inside,
        } = &mut *scratch;
        {
            let positions = self.positions.lock().expect("not poisoned");
            let moves = self.moves.load(Ordering::Relaxed);
            if *checked == Some(moves) {
                // nobody moved: the same violations, sampled again
                self.samples
                    .fetch_add(*last_found as u64, Ordering::Relaxed);
                return *last_found;
            }
            *checked = Some(moves);
            agvs.clear();
            agvs.extend(positions.iter().map(|(k, (p, _))| (*k, *p)));
        }
        cells.clear();
        cells.extend(
            agvs.iter()
                .enumerate()
                .map(|(i, (_, p))| ((p.map, cell(p.x), cell(p.y)), i)),
        );
        cells.sort_unstable();
        let at_s = self.started.elapsed().as_secs_f64();
        let mut found = 0;
        // two footprints meet only if their circles do
        let reach = footprint_reach();
        let apart = 2.0 * reach + 1e-9;
        for (i, (a, pa)) in agvs.iter().enumerate() {
            let mut own = None;
            for j in near(cells, pa.map, pa.x, pa.y, apart) {
                if j <= i {
                    continue;
                }
                let (b, pb) = &agvs[j];
                if (pa.x - pb.x).hypot(pa.y - pb.y) > apart {
                    continue;
                }
                let fa = own.get_or_insert_with(|| footprint(pa));
                if fa.intersects(&footprint(pb)) {
                    found += 1;
                    self.record_pair("overlap", (*a, *pa), (*b, *pb), at_s);
                }
            }
        }
        // one cabin per lift, whichever floor its doors are on
        inside.resize_with(self.cabins.len(), Vec::new);
        for (c, inside) in self.cabins.iter().zip(inside.iter_mut()) {
            inside.clear();
            let r = c.reach + reach + 1e-9;
            inside.extend(near(cells, c.map, c.x, c.y, r).filter(|&i| {
                let p = &agvs[i].1;
                (p.x - c.x).hypot(p.y - c.y) <= r && footprint(p).intersects(&c.shape)
            }));
        }
        for (k, c) in self.cabins.iter().enumerate() {
            for (l, other) in self.cabins.iter().enumerate().skip(k + 1) {
                if other.lift != c.lift || other.map == c.map {
                    continue;
                }
                for &i in &inside[k] {
                    for &j in &inside[l] {
                        if agvs[i].0 != agvs[j].0 {
                            found += 1;
                            self.record_pair("cabin", agvs[i], agvs[j], at_s);
                        }
                    }
                }
            }
        }
        *last_found = found;
        found
    }

    /// Records a violation between two AGVs (in id order), with what each held.
    fn record_pair(&self, kind: &'static str, a: (u32, Position), b: (u32, Position), at_s: f64) {
        let ((a, pa), (b, pb)) = if a.0 < b.0 { (a, b) } else { (b, a) };
        let held = {
            let positions = self.positions.lock().expect("not poisoned");
            let held = |agv| {
                positions
                    .get(&agv)
                    .map(|(_, h)| h.clone())
                    .unwrap_or_default()
            };
            [held(a), held(b)]
        };
        self.record(Violation {
            kind,
            agvs: (a, b),
            map: pa.map,
            distance: if kind == "overlap" {
                (pa.x - pb.x).hypot(pa.y - pb.y)
            } else {
                0.0
            },
            at_s,
            poses: [pa, pb],
            held,
            rcs_held: None,
        });
    }

    /// Records that `agv` is outside the space it was given.
    pub fn outside(&self, agv: u32, p: Position, held: Held) {
        self.record(Violation {
            kind: "outside",
            agvs: (agv, agv),
            map: p.map,
            distance: 0.0,
            at_s: self.started.elapsed().as_secs_f64(),
            poses: [p, p],
            held: [held.clone(), held],
            rcs_held: None,
        });
    }

    /// Whether an AGV stands within `radius` of `(x, y)` on `map`.
    pub fn occupied(&self, map: u16, x: f64, y: f64, radius: f64) -> bool {
        self.positions
            .lock()
            .expect("not poisoned")
            .values()
            .any(|(p, _)| p.map == map && (p.x - x).hypot(p.y - y) < radius)
    }

    /// Every node released to an AGV and still ahead of it (an AGV drives there), and those
    /// an AGV had ahead when it lost its link and has not been released a path since (the RCS
    /// keeps them for it: it drives there once it is back).
    pub fn released_ahead(&self) -> Vec<u32> {
        let mut nodes: Vec<u32> = self
            .positions
            .lock()
            .expect("not poisoned")
            .values()
            .flat_map(|(_, h)| h.released_ahead.iter().copied())
            .collect();
        nodes.extend(self.kept.lock().expect("not poisoned").values().flatten());
        nodes
    }

    /// Where `agv` was last seen, if it was.
    pub fn position(&self, agv: u32) -> Option<Position> {
        self.positions
            .lock()
            .expect("not poisoned")
            .get(&agv)
            .map(|(p, _)| *p)
    }

    /// Where every AGV was last seen.
    pub fn positions(&self) -> Vec<Position> {
        self.positions
            .lock()
            .expect("not poisoned")
            .values()
            .map(|(p, _)| *p)
            .collect()
    }

    /// How many samples found a violation so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// The first sample of every distinct violation found so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.first.lock().expect("not poisoned").clone()
    }

    /// Adds what the RCS said each AGV held to the violations that have none yet: `lookup`
    /// gives an AGV's held space as short descriptions.
    pub fn annotate(&self, mut lookup: impl FnMut(u32) -> Vec<String>) {
        for v in self.first.lock().expect("not poisoned").iter_mut() {
            if v.rcs_held.is_none() {
                v.rcs_held = Some([lookup(v.agvs.0), lookup(v.agvs.1)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(map: u16, x: f64, y: f64) -> Position {
        Position {
            map,
            x,
            y,
            theta: 0.0,
        }
    }

    /// What an AGV had released ahead when its link broke counts as ahead of it until it is
    /// released a path again: a person putting another AGV down while links are down (a
    /// restart) keeps off it, though the AGV's own view is empty from the loss on.
    #[test]
    fn the_path_of_an_agv_that_lost_its_link_stays_ahead_of_it_until_a_new_release() {
        let m = Monitor::default();
        m.set(1, at(1, 0.0, 0.0));
        let ahead = |nodes: Vec<u32>| Held {
            task_id: 7,
            released_ahead: nodes,
            grant: None,
        };
        m.held(1, ahead(vec![5, 6]));
        assert_eq!(m.released_ahead(), vec![5, 6]);
        // the link breaks: the AGV stops and forgets its path; it reconnects (empty again)
        m.link_lost(1, vec![5, 6]);
        m.held(1, Held::default());
        m.link_lost(1, vec![]);
        m.held(1, Held::default());
        assert_eq!(m.released_ahead(), vec![5, 6]);
        // released a path again: that is what is ahead now
        m.held(1, ahead(vec![6, 8]));
        assert_eq!(m.released_ahead(), vec![6, 8]);
    }

    #[test]
    fn overlaps_are_counted_per_sample_and_kept_once_per_pair() {
        let m = Monitor::default();
        m.set(1, at(1, 0.0, 0.0));
        m.set(2, at(1, 0.9, 0.0));
        m.set(3, at(2, 0.9, 0.0));
        m.held(
            2,
            Held {
                task_id: 7,
                released_ahead: vec![5, 6],
                grant: None,
            },
        );
        assert_eq!(m.check(), 1);
        assert_eq!(m.check(), 1);
        assert_eq!(m.samples(), 2);
        let v = m.violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].agvs, (1, 2));
        assert_eq!(v[0].held[1].released_ahead, vec![5, 6]);
        let text = v[0].to_string();
        assert!(
            text.contains("AGV 1 at (0.00, 0.00") && text.contains("AGV 2"),
            "{text}"
        );
        m.set(2, at(1, 1.1, 0.0));
        assert_eq!(m.check(), 0, "1.1 m apart along their length: clear");
    }

    /// Every violation there is, found the slow way: every pair of AGVs and every pair of a
    /// lift's doors against every AGV.
    fn every_violation(m: &Monitor, agvs: &[(u32, Position)]) -> Vec<(&'static str, u32, u32)> {
        let mut found = Vec::new();
        for (i, (a, pa)) in agvs.iter().enumerate() {
            for (b, pb) in &agvs[i + 1..] {
                if pa.map == pb.map && footprint(pa).intersects(&footprint(pb)) {
                    found.push(("overlap", *a.min(b), *a.max(b)));
                }
            }
        }
        for (k, c) in m.cabins.iter().enumerate() {
            for other in &m.cabins[k + 1..] {
                if other.lift != c.lift || other.map == c.map {
                    continue;
                }
                let cabin = |c: &Cabin| maps::space::disc(c.x, c.y, maps::space::CABIN_RADIUS);
                for (a, pa) in agvs {
                    for (b, pb) in agvs {
                        if a != b
                            && pa.map == c.map
                            && pb.map == other.map
                            && footprint(pa).intersects(&cabin(c))
                            && footprint(pb).intersects(&cabin(other))
                        {
                            found.push(("cabin", *a.min(b), *a.max(b)));
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }

    fn position() -> impl proptest::strategy::Strategy<Value = Position> {
        use proptest::prelude::*;
        // two floors, 6 m square around the lift doors at (0, 2): crowded, across cells
        (1u16..=2, -2.0..4.0f64, -1.0..5.0f64, -3.2..3.2f64)
            .prop_map(|(map, x, y, theta)| Position { map, x, y, theta })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// The check (a grid of cells, circles before polygons, nothing done again when no AGV
        /// moved) finds what the slow way finds, check after check, as AGVs move or stand.
        #[test]
        fn the_check_finds_every_violation_the_slow_way_finds(
            start in proptest::collection::vec(position(), 1..24),
            moves in proptest::collection::vec(
                proptest::option::of((0usize..24, position())), 1..12),
        ) {
            let site = maps::Site::compile(
                &maps::generate::grid_site("m", 2, 5, 3),
                std::path::Path::new("<test>"),
            )
            .unwrap();
            let m = Monitor::for_site(&site);
            let mut agvs: Vec<(u32, Position)> =
                start.into_iter().enumerate().map(|(i, p)| (i as u32 + 1, p)).collect();
            for (agv, p) in &agvs {
                m.set(*agv, *p);
            }
            let mut samples = 0;
            for step in moves {
                if let Some((i, p)) = step {
                    let i = i % agvs.len();
                    agvs[i].1 = p;
                    m.set(agvs[i].0, p);
                }
                let expected = every_violation(&m, &agvs);
                proptest::prop_assert_eq!(m.check(), expected.len());
                samples += expected.len() as u64;
                proptest::prop_assert_eq!(m.samples(), samples);
                let mut kept: Vec<_> =
                    m.violations().iter().map(|v| (v.kind, v.agvs.0, v.agvs.1)).collect();
                kept.sort_unstable();
                for v in &expected {
                    proptest::prop_assert!(kept.binary_search(v).is_ok(), "{:?} not kept", v);
                }
            }
        }
    }

    #[test]
    fn two_agvs_at_one_lift_on_different_floors_are_in_one_cabin() {
        let site = maps::Site::compile(
            &maps::generate::grid_site("m", 2, 5, 3),
            std::path::Path::new("<test>"),
        )
        .unwrap();
        let m = Monitor::for_site(&site);
        // the west doors are at (0, 2) on both floors
        m.set(1, at(1, 0.0, 2.0));
        m.set(2, at(2, 4.0, 2.0));
        assert_eq!(m.check(), 0);
        m.set(2, at(2, 0.3, 2.0));
        assert_eq!(m.check(), 1);
        assert_eq!(m.violations()[0].kind, "cabin");
    }
}
