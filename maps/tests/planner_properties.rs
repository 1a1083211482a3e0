//! Properties of the planner on the sample warehouse and on generated sites: every route is a
//! chain of usable edges from start to goal, its time is the sum of its steps, and it is as fast
//! as a plain Dijkstra search over the same graph finds (so the A* heuristic is admissible
//! across floors).

use std::collections::{BinaryHeap, HashMap};
use std::path::Path;

use maps::{EdgeKind, Leg, Planner, Site, Vehicle};
use proptest::prelude::*;

fn dijkstra(site: &Site, from: u32, to: u32, v: &Vehicle) -> Option<f64> {
    let mut out: HashMap<u32, Vec<&maps::Edge>> = HashMap::new();
    for e in site.edges() {
        if !e.blocked {
            out.entry(site.ends(e).0).or_default().push(e);
        }
    }
    let mut best: HashMap<u32, f64> = HashMap::new();
    let mut heap = BinaryHeap::new();
    heap.push(std::cmp::Reverse((0u64, from)));
    best.insert(from, 0.0);
    while let Some(std::cmp::Reverse((bits, u))) = heap.pop() {
        let d = f64::from_bits(bits);
        if u == to {
            return Some(d);
        }
        if d > best[&u] {
            continue;
        }
        for e in out.get(&u).into_iter().flatten() {
            let cost = match e.kind {
                EdgeKind::Drive => {
                    if e.width.is_some_and(|w| w < v.width) {
                        continue;
                    }
                    e.length / e.max_speed.min(v.max_speed)
                }
                _ => e.time_s,
            };
            let (_, w) = site.ends(e);
            let nd = d + cost;
            if best.get(&w).is_none_or(|b| nd < *b) {
                best.insert(w, nd);
                heap.push(std::cmp::Reverse((nd.to_bits(), w)));
            }
        }
    }
    None
}

fn warehouse() -> &'static Site {
    static SITE: std::sync::OnceLock<Site> = std::sync::OnceLock::new();
    SITE.get_or_init(|| {
        Site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sites/warehouse-3f")).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn routes_are_valid_and_optimal(a in 0usize..600, b in 0usize..600, speed in 0.3f64..2.5) {
        let site = warehouse();
        let (from, to) = (site.nodes()[a].id, site.nodes()[b].id);
        let v = Vehicle { max_speed: speed, ..Vehicle::default() };
        let mut planner = Planner::new(site);
        let expected = dijkstra(site, from, to, &v);
        match planner.route(from, to, &v) {
            // A route to where the vehicle stands has nothing to drive.
            Ok(route) if from == to => {
                prop_assert!(route.legs.is_empty() && route.time_s == 0.0, "{:?}", route);
                prop_assert_eq!(expected, Some(0.0));
            }
            Ok(route) => {
                let nodes = route.nodes();
                prop_assert_eq!(nodes.first(), Some(&from));
                prop_assert_eq!(nodes.last(), Some(&to));
                let mut time = 0.0;
                let mut at = from;
                for leg in &route.legs {
                    match leg {
                        Leg::Drive { map, nodes, edges } => {
                            prop_assert_eq!(nodes[0], at);
                            for (i, e) in edges.iter().enumerate() {
                                let edge = site.edge(*e).unwrap();
                                prop_assert!(!edge.blocked);
                                prop_assert_eq!(site.ends(edge), (nodes[i], nodes[i + 1]));
                                prop_assert_eq!(site.node(nodes[i + 1]).unwrap().map, *map);
                                time += edge.length / edge.max_speed.min(speed);
                            }
                            at = *nodes.last().unwrap();
                        }
                        Leg::Lift { enter, exit, time_s, .. } => {
                            prop_assert_eq!(enter.node, at);
                            prop_assert_ne!(enter.map, exit.map);
                            time += time_s;
                            at = exit.node;
                        }
                        Leg::Link { from, to, time_s } => {
                            prop_assert_eq!(from.node, at);
                            time += time_s;
                            at = to.node;
                        }
                        Leg::NavSwitch { node, from, to, .. } => {
                            prop_assert_eq!(*node, at);
                            prop_assert_ne!(from, to);
                        }
                    }
                }
                prop_assert_eq!(at, to);
                prop_assert!((time - route.time_s).abs() < 1e-6, "{} vs {}", time, route.time_s);
                let best = expected.expect("Dijkstra finds a route too");
                prop_assert!((route.time_s - best).abs() < 1e-6, "A* {} vs Dijkstra {}", route.time_s, best);
            }
            Err(e) => prop_assert!(expected.is_none(), "{}", e),
        }
    }

    #[test]
    fn generated_grids_route_between_any_floors(floors in 1u32..4, cols in 2u32..9, rows in 2u32..9, a in any::<u32>(), b in any::<u32>()) {
        let files = maps::generate::grid_site("g", floors, cols, rows);
        let site = Site::compile(&files, Path::new("g")).unwrap();
        let n = site.node_count();
        let (from, to) = (site.nodes()[a as usize % n].id, site.nodes()[b as usize % n].id);
        let v = Vehicle::default();
        let route = Planner::new(&site).route(from, to, &v).unwrap();
        let best = dijkstra(&site, from, to, &v).unwrap();
        prop_assert!((route.time_s - best).abs() < 1e-6);
    }
}
