//! Fastest routes across maps: A* over the site's directed graph in time (edge length over the
//! lower of the edge's and the vehicle's speed; lift rides and links at their fixed time), with
//! a heuristic that stays admissible across maps (docs/maps.md). Routes come back as legs:
//! drives on one map, navigation switches where the path crosses between QR and SLAM zones,
//! lift rides and links.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::file::{MapNode, Movement, Navigation};
use crate::site::{EdgeKind, Site, move_bit, nav_bit};

/// What the planner needs to know of the AGV.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    /// Top speed, m/s.
    pub max_speed: f64,
    /// Footprint width (left + right), m: narrower corridors are avoided.
    pub width: f64,
    /// Navigation modes it has (empty: any).
    pub navigation: Vec<Navigation>,
    /// Whether it may drive backwards or sideways where an edge requires it.
    pub movements: Vec<Movement>,
}

impl Default for Vehicle {
    fn default() -> Self {
        Self {
            max_speed: 1.5,
            width: 0.8,
            navigation: Vec::new(),
            movements: vec![Movement::Forward],
        }
    }
}

/// One piece of a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Leg {
    /// Drive on one map through `nodes` along `edges` (directed edge ids; `edges.len() + 1 ==
    /// nodes.len()`).
    Drive {
        /// The map.
        map: u16,
        /// Node ids, start to end.
        nodes: Vec<u32>,
        /// Directed edge ids.
        edges: Vec<u32>,
    },
    /// Switch navigation mode at `node` (the first node of the new zone) before driving on.
    NavSwitch {
        /// The map.
        map: u16,
        /// Where.
        node: u32,
        /// From.
        from: Navigation,
        /// To.
        to: Navigation,
    },
    /// Enter the lift at `enter`, ride, switch map, exit at `exit`.
    Lift {
        /// Lift id.
        lift: u16,
        /// Door node on the start map.
        enter: MapNode,
        /// Door node on the target map.
        exit: MapNode,
        /// Ride time including doors, s.
        time_s: f64,
    },
    /// Pass from one map to another (between buildings), then switch map.
    Link {
        /// From.
        from: MapNode,
        /// To.
        to: MapNode,
        /// Time, s.
        time_s: f64,
    },
}

/// A route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Expected time, s.
    pub time_s: f64,
    /// Distance driven, m.
    pub length_m: f64,
    /// Its legs.
    pub legs: Vec<Leg>,
}

impl Route {
    /// Every node id along the route, in order (lift and link ends included once each).
    pub fn nodes(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let mut push = |n: u32| {
            if out.last() != Some(&n) {
                out.push(n);
            }
        };
        for leg in &self.legs {
            match leg {
                Leg::Drive { nodes, .. } => nodes.iter().for_each(|n| push(*n)),
                Leg::Lift { enter, exit, .. } => {
                    push(enter.node);
                    push(exit.node);
                }
                Leg::Link { from, to, .. } => {
                    push(from.node);
                    push(to.node);
                }
                Leg::NavSwitch { .. } => {}
            }
        }
        out
    }
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A node id is not in the site.
    #[error("unknown node {0}")]
    UnknownNode(u32),
    /// No path for this vehicle.
    #[error("no route from {from} to {to}")]
    Unreachable {
        /// Start.
        from: u32,
        /// Goal.
        to: u32,
    },
}

/// A planner over one site, with reusable search buffers (one per thread).
#[derive(Debug)]
pub struct Planner<'s> {
    site: &'s Site,
    g: Vec<f64>,
    parent: Vec<u32>,
    stamp: Vec<u32>,
    closed: Vec<u32>,
    generation: u32,
    /// (f, preference for larger g among equal f, node).
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Edges excluded in the next searches (by dense index), e.g. blocked by traffic.
    excluded: Vec<bool>,
    heuristic: bool,
    /// At most this many nodes expanded by one search (none: no limit).
    limit: Option<usize>,
}

const NONE: u32 = u32::MAX;

fn dist(ax: f64, ay: f64, bx: f64, by: f64) -> f64 {
    (ax - bx).hypot(ay - by)
}

impl<'s> Planner<'s> {
    /// A planner for `site`.
    pub fn new(site: &'s Site) -> Self {
        let n = site.nodes.len();
        Self {
            site,
            g: vec![f64::INFINITY; n],
            parent: vec![NONE; n],
            stamp: vec![0; n],
            closed: vec![0; n],
            generation: 0,
            heap: BinaryHeap::new(),
            excluded: vec![false; site.edges.len()],
            heuristic: true,
            limit: None,
        }
    }

    /// Turns the A* heuristic off (plain Dijkstra) or on: the baseline in benchmarks.
    pub fn set_heuristic(&mut self, on: bool) {
        self.heuristic = on;
    }

    /// Limits the next searches to `limit` expanded nodes (none: no limit): a search that
    /// reaches it answers `Unreachable`. For searches whose long answers are of no use (a way
    /// around a blocked spot), so that a goal cut off does not cost a search of the whole site.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// Excludes (or re-admits) a directed edge from the next searches.
    pub fn exclude_edge(&mut self, edge_id: u32, excluded: bool) {
        if let Some(&i) = self.site.edge_index.get(&edge_id) {
            self.excluded[i as usize] = excluded;
        }
    }

    /// The vehicle's navigation and movement masks.
    fn masks(v: &Vehicle) -> (u8, u8) {
        let nav = if v.navigation.is_empty() {
            0x0F
        } else {
            v.navigation.iter().fold(0, |m, n| m | nav_bit(*n))
        };
        let mut movement = v.movements.iter().fold(0, |m, x| m | move_bit(*x));
        if movement & move_bit(Movement::Omnidirectional) != 0 {
            movement = 0x0F;
        }
        (nav, movement)
    }

    /// The fastest route from node `from` to node `to` for `vehicle`.
    pub fn route(&mut self, from: u32, to: u32, vehicle: &Vehicle) -> Result<Route, RouteError> {
        let site = self.site;
        let start = *site
            .node_index
            .get(&from)
            .ok_or(RouteError::UnknownNode(from))?;
        let goal = *site
            .node_index
            .get(&to)
            .ok_or(RouteError::UnknownNode(to))?;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.closed.fill(0);
            self.generation = 1;
        }
        let generation = self.generation;
        let hot = &site.hot_nodes;
        let goal_node = hot[goal as usize];
        let (gx, gy, gmap) = (goal_node.x, goal_node.y, goal_node.map);
        // Heuristic bounds (docs/maps.md): off the goal map, the time to its nearest exit plus
        // the cheapest transition plus the time from the goal map's nearest entry to the goal;
        // on it, the lower of the straight line and that detour.
        let min_transition = site.min_transition;
        let speed = |m: u32| site.maps[m as usize].max_speed.min(vehicle.max_speed);
        let goal_entry = goal_node.exit_dist / speed(gmap);
        let heuristic = self.heuristic;
        let h = |i: u32| -> f64 {
            if !heuristic {
                return 0.0;
            }
            let n = hot[i as usize];
            let away = n.exit_dist / speed(n.map) + min_transition + goal_entry;
            if n.map == gmap {
                (dist(n.x, n.y, gx, gy) / speed(gmap)).min(away)
            } else if away.is_finite() {
                away
            } else {
                0.0
            }
        };
        let (nav_mask, move_mask) = Self::masks(vehicle);
        self.heap.clear();
        self.g[start as usize] = 0.0;
        self.parent[start as usize] = NONE;
        self.stamp[start as usize] = generation;
        self.heap
            .push(Reverse((h(start).to_bits(), u64::MAX, start)));
        let mut found = false;
        let mut expanded = 0usize;
        while let Some(Reverse((_, _, u))) = self.heap.pop() {
            if self.closed[u as usize] == generation {
                continue;
            }
            self.closed[u as usize] = generation;
            expanded += 1;
            if self.limit.is_some_and(|l| expanded > l) {
                break;
            }
            if u == goal {
                found = true;
                break;
            }
            let gu = self.g[u as usize];
            let (a, b) = (
                site.out_start[u as usize] as usize,
                site.out_start[u as usize + 1] as usize,
            );
            for k in a..b {
                let e = site.out[k] as usize;
                let edge = site.hot_edges[e];
                if edge.blocked
                    || self.excluded[e]
                    || edge.width < vehicle.width
                    || edge.nav & nav_mask == 0
                    || edge.movement & move_mask == 0
                {
                    continue;
                }
                let cost = if edge.speed > 0.0 {
                    edge.amount / edge.speed.min(vehicle.max_speed)
                } else {
                    edge.amount
                };
                let v = edge.to as usize;
                let gv = gu + cost;
                if self.stamp[v] != generation || gv < self.g[v] {
                    self.stamp[v] = generation;
                    self.g[v] = gv;
                    self.parent[v] = e as u32;
                    if self.closed[v] != generation {
                        self.heap.push(Reverse((
                            (gv + h(v as u32)).to_bits(),
                            u64::MAX - gv.to_bits(),
                            v as u32,
                        )));
                    }
                }
            }
        }
        if !found {
            return Err(RouteError::Unreachable { from, to });
        }
        // walk back
        let mut path_edges = Vec::new();
        let mut at = goal;
        while at != start {
            let e = self.parent[at as usize];
            path_edges.push(e);
            at = site.edges[e as usize].from;
        }
        path_edges.reverse();
        Ok(self.legs(start, &path_edges))
    }

    fn legs(&self, start: u32, path: &[u32]) -> Route {
        let site = self.site;
        let mut legs = Vec::new();
        let mut length = 0.0;
        let node = |i: u32| &site.nodes[i as usize];
        let map_node = |i: u32| MapNode {
            map: node(i).map,
            node: node(i).id,
        };
        let mut drive_nodes = vec![node(start).id];
        let mut drive_edges = Vec::new();
        let flush = |legs: &mut Vec<Leg>, nodes: &mut Vec<u32>, edges: &mut Vec<u32>, at: u32| {
            if !edges.is_empty() {
                legs.push(Leg::Drive {
                    map: node(at).map,
                    nodes: std::mem::take(nodes),
                    edges: std::mem::take(edges),
                });
            }
            nodes.clear();
        };
        let mut last = start;
        for &e in path {
            let edge = &site.edges[e as usize];
            match edge.kind {
                EdgeKind::Drive => {
                    let (a, b) = (node(edge.from), node(edge.to));
                    if drive_nodes.is_empty() {
                        drive_nodes.push(a.id);
                    }
                    drive_nodes.push(b.id);
                    drive_edges.push(edge.id);
                    if a.navigation != b.navigation {
                        flush(&mut legs, &mut drive_nodes, &mut drive_edges, edge.to);
                        legs.push(Leg::NavSwitch {
                            map: b.map,
                            node: b.id,
                            from: a.navigation,
                            to: b.navigation,
                        });
                        drive_nodes.push(b.id);
                    }
                    length += edge.length;
                }
                EdgeKind::Lift { lift } => {
                    flush(&mut legs, &mut drive_nodes, &mut drive_edges, edge.from);
                    legs.push(Leg::Lift {
                        lift: site.lifts[lift as usize].id,
                        enter: map_node(edge.from),
                        exit: map_node(edge.to),
                        time_s: edge.time_s,
                    });
                    drive_nodes.push(node(edge.to).id);
                }
                EdgeKind::Link => {
                    flush(&mut legs, &mut drive_nodes, &mut drive_edges, edge.from);
                    legs.push(Leg::Link {
                        from: map_node(edge.from),
                        to: map_node(edge.to),
                        time_s: edge.time_s,
                    });
                    drive_nodes.push(node(edge.to).id);
                }
            }
            last = edge.to;
        }
        flush(&mut legs, &mut drive_nodes, &mut drive_edges, last);
        Route {
            time_s: self.g[last as usize],
            length_m: length,
            legs,
        }
    }
}
