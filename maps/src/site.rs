//! The compiled site: files validated and turned into dense, indexed structures (a directed
//! graph with lift and link transitions, a spatial index of nodes per map, area polygons).

use crate::hash::IdMap;
use std::path::{Path, PathBuf};

use geo::{Contains, Coord, Intersects, LineString, Point, Polygon};
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::SiteError;
use crate::file::{AreaKind, Bounds, Movement, Navigation, NodeKind, SiteFiles, Trajectory};

mod compile;

/// The bit that marks the reverse direction of a bidirectional edge in a directed edge id.
pub const REVERSE: u32 = 0x8000_0000;

/// A compiled site.
#[derive(Debug)]
pub struct Site {
    /// Name.
    pub name: String,
    pub(crate) maps: Vec<Map>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) node_index: IdMap<u32, u32>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) edge_index: IdMap<u32, u32>,
    /// Outgoing edges of node `i`: `out[out_start[i]..out_start[i + 1]]`.
    pub(crate) out_start: Vec<u32>,
    pub(crate) out: Vec<u32>,
    pub(crate) lifts: Vec<Lift>,
    /// Compact copies of what the planner reads per step (cache-friendly).
    pub(crate) hot_edges: Vec<HotEdge>,
    pub(crate) hot_nodes: Vec<HotNode>,
    /// The cheapest transition between maps, s (infinite without any).
    pub(crate) min_transition: f64,
    pub(crate) vehicles: crate::file::VehicleLimits,
}

/// What the planner reads of an edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HotEdge {
    pub to: u32,
    /// Length (drive) or fixed time (transition).
    pub amount: f64,
    /// Speed limit (drive) or 0 (transition: `amount` is a time).
    pub speed: f64,
    pub width: f64,
    /// Navigation modes allowed on the edge and at its end node (bits of `nav_bit`).
    pub nav: u8,
    /// Movements allowed (bits of `move_bit`).
    pub movement: u8,
    pub blocked: bool,
}

/// What the planner reads of a node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HotNode {
    pub x: f64,
    pub y: f64,
    pub map: u32,
    /// Distance to the nearest exit of its map (infinite without exits), m.
    pub exit_dist: f64,
}

/// The bit of a navigation mode in masks.
pub(crate) fn nav_bit(n: Navigation) -> u8 {
    match n {
        Navigation::Slam => 1,
        Navigation::QrCode => 2,
        Navigation::Magnetic => 4,
        Navigation::Reflector => 8,
    }
}

/// The bit of a movement in masks.
pub(crate) fn move_bit(m: Movement) -> u8 {
    match m {
        Movement::Forward => 1,
        Movement::Backward => 2,
        Movement::Lateral => 4,
        Movement::Omnidirectional => 8,
    }
}

/// One map (floor, building part).
#[derive(Debug)]
pub struct Map {
    /// Map id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Building.
    pub building: String,
    /// Floor.
    pub floor: i32,
    /// Default navigation.
    pub navigation: Navigation,
    /// Version.
    pub version: u32,
    /// Extent.
    pub bounds: Bounds,
    /// Special areas.
    pub areas: Vec<Area>,
    /// Its file.
    pub file: PathBuf,
    nodes: RTree<GeomWithData<[f64; 2], u32>>,
    /// Nodes (dense indices) with a transition to another map.
    pub(crate) exits: Vec<u32>,
    /// Fastest speed on the map, m/s (for the planner's heuristic).
    pub(crate) max_speed: f64,
}

/// A node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node id.
    pub id: u32,
    /// Its map.
    pub map: u16,
    pub(crate) map_index: u32,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading to stop with, rad.
    pub theta: Option<f64>,
    /// Kind.
    pub kind: NodeKind,
    /// QR code.
    pub qr: Option<u32>,
    /// Name.
    pub name: Option<String>,
    /// The navigation mode here (from the zones it lies in, else the map's).
    pub navigation: Navigation,
}

/// What a directed edge is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EdgeKind {
    /// Driving on a map.
    Drive,
    /// Riding a lift (door to door, doors and boarding included).
    Lift {
        /// The lift's index.
        lift: u32,
    },
    /// A passage between buildings.
    Link,
}

/// A directed edge (or a lift ride or link: a transition between maps).
#[derive(Debug, Clone)]
pub struct Edge {
    /// Directed id (`REVERSE` set for the reverse of a bidirectional edge; transitions have
    /// ids from `0xFFFF_0000` down).
    pub id: u32,
    /// Kind.
    pub kind: EdgeKind,
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// Length, m (0 for transitions).
    pub length: f64,
    /// Speed limit, m/s (after slow areas).
    pub max_speed: f64,
    /// Fixed time, s (transitions).
    pub time_s: f64,
    /// Shape, from the start node to the end node.
    pub trajectory: Trajectory,
    /// The trajectory sampled as a polyline (start and end included).
    pub polyline: Vec<[f64; 2]>,
    /// Allowed movements.
    pub movement: Vec<Movement>,
    /// Allowed navigation modes (empty: any).
    pub navigation: Vec<Navigation>,
    /// Corridor width.
    pub width: Option<f64>,
    /// Crosses a forbidden area: never routed.
    pub blocked: bool,
}

/// A special area.
#[derive(Debug, Clone)]
pub struct Area {
    /// Id.
    pub id: u32,
    /// Kind.
    pub kind: AreaKind,
    /// Outline.
    pub polygon: Polygon<f64>,
    /// Speed limit.
    pub speed: Option<f64>,
    /// One-way direction.
    pub direction: Option<f64>,
}

/// A lift.
#[derive(Debug, Clone)]
pub struct Lift {
    /// Id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Capacity.
    pub capacity: u32,
    /// Doors: (map, node id, floor).
    pub doors: Vec<(u16, u32, i32)>,
}

/// Samples per curved trajectory.
const CURVE_SAMPLES: usize = 16;

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// The polyline of a trajectory from `a` to `b`.
pub fn sample(trajectory: &Trajectory, a: [f64; 2], b: [f64; 2]) -> Vec<[f64; 2]> {
    match trajectory {
        Trajectory::Line => vec![a, b],
        Trajectory::Arc { center } => {
            let r = dist(*center, a);
            let t0 = (a[1] - center[1]).atan2(a[0] - center[0]);
            let t1 = (b[1] - center[1]).atan2(b[0] - center[0]);
            let mut sweep = t1 - t0;
            while sweep > std::f64::consts::PI {
                sweep -= std::f64::consts::TAU;
            }
            while sweep < -std::f64::consts::PI {
                sweep += std::f64::consts::TAU;
            }
            let mut pts: Vec<[f64; 2]> = (0..=CURVE_SAMPLES)
                .map(|i| {
                    let t = t0 + sweep * i as f64 / CURVE_SAMPLES as f64;
                    [center[0] + r * t.cos(), center[1] + r * t.sin()]
                })
                .collect();
            pts[0] = a;
            pts[CURVE_SAMPLES] = b;
            pts
        }
        Trajectory::Bezier { controls } => (0..=CURVE_SAMPLES)
            .map(|i| {
                let t = i as f64 / CURVE_SAMPLES as f64;
                let u = 1.0 - t;
                let [c1, c2] = controls;
                let f = |k: usize| {
                    u * u * u * a[k]
                        + 3.0 * u * u * t * c1[k]
                        + 3.0 * u * t * t * c2[k]
                        + t * t * t * b[k]
                };
                [f(0), f(1)]
            })
            .collect(),
    }
}

fn polyline_len(p: &[[f64; 2]]) -> f64 {
    p.windows(2).map(|w| dist(w[0], w[1])).sum()
}

fn line_string(p: &[[f64; 2]]) -> LineString<f64> {
    LineString::from(
        p.iter()
            .map(|c| Coord { x: c[0], y: c[1] })
            .collect::<Vec<_>>(),
    )
}

impl Site {
    /// Reads and compiles a site directory.
    pub fn load(dir: &Path) -> Result<Self, SiteError> {
        Self::compile(&SiteFiles::read(dir)?, dir)
    }

    /// The largest vehicle the site takes.
    pub fn vehicles(&self) -> &crate::file::VehicleLimits {
        &self.vehicles
    }

    /// Whether `(x, y)` is a plausible pose on map `map`: the map is the site's, the point
    /// finite and inside its bounds.
    pub fn on_map(&self, map: u16, x: f64, y: f64) -> bool {
        self.map(map).is_some_and(|m| {
            x.is_finite()
                && y.is_finite()
                && (m.bounds.min[0]..=m.bounds.max[0]).contains(&x)
                && (m.bounds.min[1]..=m.bounds.max[1]).contains(&y)
        })
    }

    /// Its maps.
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// A map by id.
    pub fn map(&self, id: u16) -> Option<&Map> {
        self.maps.iter().find(|m| m.id == id)
    }

    /// Every node.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node by id.
    pub fn node(&self, id: u32) -> Option<&Node> {
        self.node_index.get(&id).map(|&i| &self.nodes[i as usize])
    }

    /// Every directed edge and transition.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// A directed edge by id.
    pub fn edge(&self, id: u32) -> Option<&Edge> {
        self.edge_index.get(&id).map(|&i| &self.edges[i as usize])
    }

    /// The node ids an edge joins.
    pub fn ends(&self, edge: &Edge) -> (u32, u32) {
        (
            self.nodes[edge.from as usize].id,
            self.nodes[edge.to as usize].id,
        )
    }

    /// Lifts.
    pub fn lifts(&self) -> &[Lift] {
        &self.lifts
    }

    /// The node nearest to `(x, y)` on `map`, with its distance.
    pub fn nearest_node(&self, map: u16, x: f64, y: f64) -> Option<(&Node, f64)> {
        let m = self.map(map)?;
        let hit = m.nodes.nearest_neighbor(&[x, y])?;
        let n = &self.nodes[hit.data as usize];
        Some((n, dist([n.x, n.y], [x, y])))
    }

    /// The areas of `map` containing `(x, y)`.
    pub fn areas_at(&self, map: u16, x: f64, y: f64) -> impl Iterator<Item = &Area> {
        let p = Point::new(x, y);
        self.map(map)
            .into_iter()
            .flat_map(|m| m.areas.iter())
            .filter(move |a| a.polygon.contains(&p))
    }

    /// The areas of `map` that contain `(x, y)` or have it on their outline: where a place on
    /// the edge of an area must count as in it (a destination on a forbidden area's edge puts
    /// half an AGV inside).
    pub fn areas_touching(&self, map: u16, x: f64, y: f64) -> impl Iterator<Item = &Area> {
        let p = Point::new(x, y);
        self.map(map)
            .into_iter()
            .flat_map(|m| m.areas.iter())
            .filter(move |a| a.polygon.intersects(&p))
    }

    /// How many nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
