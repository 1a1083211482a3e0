//! The compiled site: files validated and turned into dense, indexed structures (a directed
//! graph with lift and link transitions, a spatial index of nodes per map, area polygons).

use std::collections::HashSet;

use crate::hash::IdMap;
use std::path::{Path, PathBuf};

use geo::{Contains, Coord, Intersects, LineString, Point, Polygon};
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::file::{
    AreaKind, Bounds, Movement, Navigation, NodeKind, SiteFile, SiteFiles, Trajectory,
};
use crate::{Problem, SiteError};

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

    /// Compiles site files (`dir` names them in errors); every problem found is reported.
    pub fn compile(files: &SiteFiles, dir: &Path) -> Result<Self, SiteError> {
        let mut problems = Vec::new();
        let site_file = dir.join("site.toml");
        let mut problem = |file: &Path, id: String, reason: String| {
            problems.push(Problem {
                file: file.to_path_buf(),
                id,
                reason,
            })
        };
        let Some(site) = &files.site else {
            return Err(SiteError::Invalid(vec![Problem {
                file: site_file,
                id: String::new(),
                reason: "no site.toml".into(),
            }]));
        };
        let SiteFile {
            name,
            maps: refs,
            vehicles,
            ..
        } = site;
        if !(vehicles.max_length.is_finite()
            && vehicles.max_length > 0.0
            && vehicles.max_width.is_finite()
            && vehicles.max_width > 0.0)
        {
            problem(
                &site_file,
                "vehicles".into(),
                "max_length and max_width must be above 0".into(),
            );
        }
        let mut maps: Vec<Map> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_index: IdMap<u32, u32> = IdMap::default();
        let mut edges: Vec<Edge> = Vec::new();
        let mut edge_index: IdMap<u32, u32> = IdMap::default();
        let mut map_ids = HashSet::new();

        for (mi, r) in refs.iter().enumerate() {
            if !map_ids.insert(r.id) {
                problem(
                    &site_file,
                    format!("map {}", r.id),
                    "duplicate map id".into(),
                );
            }
            let Some((_, mf)) = files.maps.iter().find(|(p, _)| *p == r.file) else {
                problem(
                    &site_file,
                    format!("map {}", r.id),
                    format!("map file {} not loaded", r.file.display()),
                );
                continue;
            };
            let file = dir.join(&r.file);
            let b = mf.bounds;
            if !(finite(&b.min) && finite(&b.max) && b.min[0] < b.max[0] && b.min[1] < b.max[1]) {
                problem(&file, "bounds".into(), "min must be below max".into());
            }
            if !(mf.max_speed.is_finite() && mf.max_speed > 0.0) {
                problem(&file, "max_speed".into(), "must be positive".into());
            }
            // areas
            let mut areas = Vec::new();
            let mut area_ids = HashSet::new();
            for a in &mf.areas {
                let id = format!("area {}", a.id);
                if !area_ids.insert(a.id) {
                    problem(&file, id.clone(), "duplicate area id".into());
                }
                if a.polygon.len() < 3 || !a.polygon.iter().all(|p| finite(p)) {
                    problem(&file, id.clone(), "a polygon needs 3 finite points".into());
                    continue;
                }
                let speed_needed = matches!(a.kind, AreaKind::Slow | AreaKind::Pedestrian);
                match a.speed {
                    Some(s) if !(s.is_finite() && s > 0.0) => {
                        problem(&file, id.clone(), "speed must be positive".into())
                    }
                    None if speed_needed => {
                        problem(&file, id.clone(), "a slow area needs a speed".into())
                    }
                    _ => {}
                }
                if a.kind == AreaKind::OneWay && a.direction.is_none_or(|d| !d.is_finite()) {
                    problem(&file, id.clone(), "a one-way area needs a direction".into());
                }
                areas.push(Area {
                    id: a.id,
                    kind: a.kind,
                    polygon: Polygon::new(line_string(&a.polygon), vec![]),
                    speed: a.speed,
                    direction: a.direction,
                });
            }
            // nodes
            let mut tree_items = Vec::new();
            for n in &mf.nodes {
                let id = format!("node {}", n.id);
                if node_index.contains_key(&n.id) {
                    problem(&file, id, "duplicate node id".into());
                    continue;
                }
                if !finite(&[n.x, n.y]) || n.theta.is_some_and(|t| !t.is_finite()) {
                    problem(&file, id, "coordinates must be finite".into());
                    continue;
                }
                if n.x < b.min[0] || n.x > b.max[0] || n.y < b.min[1] || n.y > b.max[1] {
                    problem(
                        &file,
                        id.clone(),
                        format!("({}, {}) lies outside the map's bounds", n.x, n.y),
                    );
                }
                let p = Point::new(n.x, n.y);
                let zone = areas.iter().find_map(|a| match a.kind {
                    AreaKind::QrZone if a.polygon.contains(&p) => Some(Navigation::QrCode),
                    AreaKind::SlamZone if a.polygon.contains(&p) => Some(Navigation::Slam),
                    _ => None,
                });
                let index = nodes.len() as u32;
                node_index.insert(n.id, index);
                tree_items.push(GeomWithData::new([n.x, n.y], index));
                nodes.push(Node {
                    id: n.id,
                    map: r.id,
                    map_index: mi as u32,
                    x: n.x,
                    y: n.y,
                    theta: n.theta,
                    kind: n.kind,
                    qr: n.qr,
                    name: n.name.clone(),
                    navigation: zone.unwrap_or(r.navigation),
                });
            }
            // edges
            let mut map_speed: f64 = 0.0;
            for e in &mf.edges {
                let id = format!("edge {}", e.id);
                if e.id & REVERSE != 0 {
                    problem(&file, id, "edge ids must be below 2^31".into());
                    continue;
                }
                if edge_index.contains_key(&e.id) {
                    problem(&file, id, "duplicate edge id".into());
                    continue;
                }
                let (Some(&a), Some(&z)) = (node_index.get(&e.from), node_index.get(&e.to)) else {
                    problem(&file, id, "dangling edge: unknown node".into());
                    continue;
                };
                if nodes[a as usize].map != r.id || nodes[z as usize].map != r.id {
                    problem(&file, id, "both nodes must be on this map".into());
                    continue;
                }
                if a == z {
                    problem(&file, id, "an edge needs two different nodes".into());
                    continue;
                }
                let pa = [nodes[a as usize].x, nodes[a as usize].y];
                let pz = [nodes[z as usize].x, nodes[z as usize].y];
                match &e.trajectory {
                    Trajectory::Arc { center } => {
                        let (ra, rz) = (dist(*center, pa), dist(*center, pz));
                        if !finite(center) || ra < 1e-6 || (ra - rz).abs() > 0.01 * ra.max(1.0) {
                            problem(
                                &file,
                                id.clone(),
                                "an arc's centre must be equidistant from both nodes".into(),
                            );
                        }
                    }
                    Trajectory::Bezier { controls } => {
                        if !controls.iter().all(|c| finite(c)) {
                            problem(&file, id.clone(), "control points must be finite".into());
                        }
                    }
                    Trajectory::Line => {}
                }
                let polyline = sample(&e.trajectory, pa, pz);
                let length = e.length.unwrap_or_else(|| polyline_len(&polyline));
                let speed = e.max_speed.unwrap_or(mf.max_speed);
                if !(length.is_finite() && length > 0.0) {
                    problem(&file, id.clone(), "length must be positive".into());
                }
                if !(speed.is_finite() && speed > 0.0) {
                    problem(&file, id.clone(), "max_speed must be positive".into());
                }
                if e.width.is_some_and(|w| !(w.is_finite() && w > 0.0)) {
                    problem(&file, id.clone(), "width must be positive".into());
                }
                let line = line_string(&polyline);
                let mut blocked = false;
                let mut limit = speed;
                for area in &areas {
                    if !area.polygon.intersects(&line) {
                        continue;
                    }
                    match area.kind {
                        AreaKind::Forbidden => blocked = true,
                        AreaKind::Slow | AreaKind::Pedestrian => {
                            limit = limit.min(area.speed.unwrap_or(limit))
                        }
                        AreaKind::OneWay => {
                            let inside = area.polygon.contains(&line);
                            let heading = (pz[1] - pa[1]).atan2(pz[0] - pa[0]);
                            let along = area.direction.is_some_and(|d| (heading - d).cos() > 0.0);
                            if inside && (e.bidirectional || !along) {
                                problem(
                                    &file,
                                    id.clone(),
                                    format!(
                                        "inside one-way area {}: must be directed along it",
                                        area.id
                                    ),
                                );
                            }
                        }
                        _ => {}
                    }
                }
                map_speed = map_speed.max(limit);
                let forward = Edge {
                    id: e.id,
                    kind: EdgeKind::Drive,
                    from: a,
                    to: z,
                    length,
                    max_speed: limit,
                    time_s: 0.0,
                    trajectory: e.trajectory.clone(),
                    polyline,
                    movement: e.movement.clone(),
                    navigation: e.navigation.clone(),
                    width: e.width,
                    blocked,
                };
                edge_index.insert(e.id, edges.len() as u32);
                if e.bidirectional {
                    let mut back = forward.clone();
                    back.id = e.id | REVERSE;
                    back.from = z;
                    back.to = a;
                    back.polyline.reverse();
                    back.trajectory = match &e.trajectory {
                        Trajectory::Bezier { controls } => Trajectory::Bezier {
                            controls: [controls[1], controls[0]],
                        },
                        t => t.clone(),
                    };
                    edges.push(forward);
                    edge_index.insert(back.id, edges.len() as u32);
                    edges.push(back);
                } else {
                    edges.push(forward);
                }
            }
            maps.push(Map {
                id: r.id,
                name: r.name.clone(),
                building: r.building.clone(),
                floor: r.floor,
                navigation: r.navigation,
                version: r.version,
                bounds: b,
                areas,
                file: r.file.clone(),
                nodes: RTree::bulk_load(tree_items),
                exits: Vec::new(),
                max_speed: if map_speed > 0.0 { map_speed } else { 1.0 },
            });
        }

        // lifts and links: transitions between maps
        let map_of = |id: u16| maps.iter().position(|m| m.id == id);
        let mut lifts = Vec::new();
        let mut lift_ids = HashSet::new();
        let mut next_transition = 0xFFFF_0000u32;
        let mut transitions: Vec<Edge> = Vec::new();
        let transition = |from: u32, to: u32, time: f64, kind: EdgeKind, id: u32| Edge {
            id,
            kind,
            from,
            to,
            length: 0.0,
            max_speed: 1.0,
            time_s: time,
            trajectory: Trajectory::Line,
            polyline: Vec::new(),
            movement: Vec::new(),
            navigation: Vec::new(),
            width: None,
            blocked: false,
        };
        for l in &site.lifts {
            let id = format!("lift {}", l.id);
            if !lift_ids.insert(l.id) {
                problem(&site_file, id.clone(), "duplicate lift id".into());
            }
            if l.doors.len() < 2 {
                problem(
                    &site_file,
                    id.clone(),
                    "a lift needs doors on two maps".into(),
                );
            }
            if l.capacity == 0 {
                problem(&site_file, id.clone(), "capacity must be at least 1".into());
            }
            if !(l.travel_s_per_floor.is_finite()
                && l.travel_s_per_floor >= 0.0
                && l.door_s.is_finite()
                && l.door_s >= 0.0)
            {
                problem(&site_file, id.clone(), "times must be non-negative".into());
            }
            let mut doors = Vec::new();
            for d in &l.doors {
                if map_of(d.map).is_none() {
                    problem(
                        &site_file,
                        id.clone(),
                        format!("door on unknown map {}", d.map),
                    );
                    continue;
                }
                match node_index.get(&d.node) {
                    Some(&n) if nodes[n as usize].map == d.map => {
                        if nodes[n as usize].kind != NodeKind::LiftDoor {
                            problem(
                                &site_file,
                                id.clone(),
                                format!("door node {} must be of kind lift_door", d.node),
                            );
                        }
                        doors.push((d.map, n, d.floor));
                    }
                    _ => problem(
                        &site_file,
                        id.clone(),
                        format!("door node {} is not on map {}", d.node, d.map),
                    ),
                }
            }
            let lift_index = lifts.len() as u32;
            let mut overflowed = false;
            for &(ma, a, fa) in &doors {
                for &(mb, b, fb) in &doors {
                    if ma == mb {
                        continue;
                    }
                    // i64: floors at the ends of i32 do not overflow
                    let floors = (i64::from(fa) - i64::from(fb)).unsigned_abs() as f64;
                    let time = 2.0 * l.door_s + l.travel_s_per_floor * floors;
                    if !time.is_finite() && !overflowed {
                        overflowed = true;
                        problem(
                            &site_file,
                            id.clone(),
                            "a ride's time is too large (door_s, travel_s_per_floor, floors)"
                                .into(),
                        );
                    }
                    transitions.push(transition(
                        a,
                        b,
                        time,
                        EdgeKind::Lift { lift: lift_index },
                        next_transition,
                    ));
                    next_transition -= 1;
                }
            }
            lifts.push(Lift {
                id: l.id,
                name: l.name.clone(),
                capacity: l.capacity,
                doors: doors
                    .iter()
                    .map(|&(m, n, f)| (m, nodes[n as usize].id, f))
                    .collect(),
            });
        }
        for (i, k) in site.links.iter().enumerate() {
            let id = format!("link {i}");
            let ends = [k.from, k.to].map(|e| {
                node_index
                    .get(&e.node)
                    .copied()
                    .filter(|n| nodes[*n as usize].map == e.map)
            });
            let [Some(a), Some(b)] = ends else {
                problem(&site_file, id, "a link end is not a node of its map".into());
                continue;
            };
            if !(k.time_s.is_finite() && k.time_s >= 0.0) {
                problem(&site_file, id.clone(), "time_s must be non-negative".into());
            }
            transitions.push(transition(a, b, k.time_s, EdgeKind::Link, next_transition));
            next_transition -= 1;
            if k.bidirectional {
                transitions.push(transition(b, a, k.time_s, EdgeKind::Link, next_transition));
                next_transition -= 1;
            }
        }
        for t in transitions {
            let m = nodes[t.from as usize].map_index as usize;
            if !maps[m].exits.contains(&t.from) {
                maps[m].exits.push(t.from);
            }
            edge_index.insert(t.id, edges.len() as u32);
            edges.push(t);
        }
        if !problems.is_empty() {
            return Err(SiteError::Invalid(problems));
        }
        // adjacency (CSR)
        let mut degree = vec![0u32; nodes.len() + 1];
        for e in &edges {
            degree[e.from as usize + 1] += 1;
        }
        for i in 1..degree.len() {
            degree[i] += degree[i - 1];
        }
        let out_start = degree.clone();
        let mut fill = degree;
        let mut out = vec![0u32; edges.len()];
        for (i, e) in edges.iter().enumerate() {
            let slot = &mut fill[e.from as usize];
            out[*slot as usize] = i as u32;
            *slot += 1;
        }
        let hot_nodes: Vec<HotNode> = nodes
            .iter()
            .map(|n| {
                let m = &maps[n.map_index as usize];
                let exit_dist = m
                    .exits
                    .iter()
                    .map(|&e| dist([n.x, n.y], [nodes[e as usize].x, nodes[e as usize].y]))
                    .fold(f64::INFINITY, f64::min);
                HotNode {
                    x: n.x,
                    y: n.y,
                    map: n.map_index,
                    exit_dist,
                }
            })
            .collect();
        let hot_edges = edges
            .iter()
            .map(|e| {
                let drive = e.kind == EdgeKind::Drive;
                let on_edge = if e.navigation.is_empty() {
                    0x0F
                } else {
                    e.navigation.iter().fold(0, |m, n| m | nav_bit(*n))
                };
                let at_end = nav_bit(nodes[e.to as usize].navigation);
                HotEdge {
                    to: e.to,
                    amount: if drive { e.length } else { e.time_s },
                    speed: if drive { e.max_speed } else { 0.0 },
                    width: e.width.unwrap_or(f64::INFINITY),
                    nav: if drive { on_edge & at_end } else { 0x0F },
                    movement: if drive {
                        e.movement.iter().fold(0, |m, x| m | move_bit(*x))
                    } else {
                        0x0F
                    },
                    blocked: e.blocked,
                }
            })
            .collect();
        let min_transition = edges
            .iter()
            .filter(|e| e.kind != EdgeKind::Drive)
            .map(|e| e.time_s)
            .fold(f64::INFINITY, f64::min);
        Ok(Self {
            name: name.clone(),
            maps,
            nodes,
            node_index,
            edges,
            edge_index,
            out_start,
            out,
            lifts,
            hot_edges,
            hot_nodes,
            min_transition,
            vehicles: *vehicles,
        })
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
