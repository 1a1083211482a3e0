//! The invariant monitor: every tick it checks that no two simulated AGVs' footprints overlap
//! (on the same map); each AGV reports when it finds itself outside the space it was given
//! (the released part of its path, or its granted circle). Candidates come from a 2 m grid hash of positions, the exact test is
//! `geo`'s polygon intersection, so it scales to thousands of AGVs.

use std::collections::HashMap;
use std::sync::Mutex;

use geo::Intersects;
use maps::space::oriented_rect;

use crate::agv::FOOTPRINT;

/// Where an AGV is.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// One violation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// `overlap` (two footprints) or `outside` (an AGV outside the space it was given).
    pub kind: &'static str,
    /// The AGVs (the same twice for `outside`).
    pub agvs: (u32, u32),
    /// Map.
    pub map: u16,
    /// Their distance, m.
    pub distance: f64,
}

/// Shared positions and the violations found.
#[derive(Debug, Default)]
pub struct Monitor {
    positions: Mutex<HashMap<u32, Position>>,
    violations: Mutex<Vec<Violation>>,
}

const CELL: f64 = 2.0;

impl Monitor {
    /// Records where `agv` is.
    pub fn set(&self, agv: u32, p: Position) {
        self.positions.lock().expect("not poisoned").insert(agv, p);
    }

    /// Checks every pair of nearby AGVs once; returns how many overlaps it found.
    pub fn check(&self) -> usize {
        let positions: Vec<(u32, Position)> = self
            .positions
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let mut grid: HashMap<(u16, i64, i64), Vec<usize>> = HashMap::new();
        for (i, (_, p)) in positions.iter().enumerate() {
            let key = (
                p.map,
                (p.x / CELL).floor() as i64,
                (p.y / CELL).floor() as i64,
            );
            grid.entry(key).or_default().push(i);
        }
        let shape = |p: &Position| {
            oriented_rect(
                p.x,
                p.y,
                p.theta,
                f64::from(FOOTPRINT.front),
                f64::from(FOOTPRINT.rear),
                f64::from(FOOTPRINT.left),
                f64::from(FOOTPRINT.right),
            )
        };
        let mut found = Vec::new();
        for (i, (a, pa)) in positions.iter().enumerate() {
            let (cx, cy) = ((pa.x / CELL).floor() as i64, (pa.y / CELL).floor() as i64);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for &j in grid.get(&(pa.map, cx + dx, cy + dy)).into_iter().flatten() {
                        if j <= i {
                            continue;
                        }
                        let (b, pb) = &positions[j];
                        if shape(pa).intersects(&shape(pb)) {
                            found.push(Violation {
                                kind: "overlap",
                                agvs: (*a.min(b), *a.max(b)),
                                map: pa.map,
                                distance: (pa.x - pb.x).hypot(pa.y - pb.y),
                            });
                        }
                    }
                }
            }
        }
        let n = found.len();
        if n > 0 {
            self.violations.lock().expect("not poisoned").extend(found);
        }
        n
    }

    /// Records that `agv` is outside the space it was given.
    pub fn outside(&self, agv: u32, map: u16, x: f64, y: f64) {
        let _ = (x, y);
        self.violations
            .lock()
            .expect("not poisoned")
            .push(Violation {
                kind: "outside",
                agvs: (agv, agv),
                map,
                distance: 0.0,
            });
    }

    /// Whether an AGV stands within `radius` of `(x, y)` on `map`.
    pub fn occupied(&self, map: u16, x: f64, y: f64, radius: f64) -> bool {
        self.positions
            .lock()
            .expect("not poisoned")
            .values()
            .any(|p| p.map == map && (p.x - x).hypot(p.y - y) < radius)
    }

    /// Every violation found so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.lock().expect("not poisoned").clone()
    }
}
