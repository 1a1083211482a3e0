//! Site files validated and compiled into a [`Site`]: every problem found is reported (ids,
//! references, geometry, lifts and links), then the dense graph, the spatial indexes and the
//! area polygons are built.

use std::collections::HashSet;
use std::path::Path;

use geo::{Contains, Intersects, Point, Polygon};
use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::*;
use crate::file::{AreaKind, Navigation, NodeKind, SiteFile, SiteFiles, Trajectory};
use crate::hash::IdMap;
use crate::{Problem, SiteError};

impl Site {
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
}
