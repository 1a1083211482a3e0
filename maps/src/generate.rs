//! Site generators: the committed sample sites (`maps/sites/demo`, `maps/sites/warehouse-3f`,
//! kept equal to these functions by a test; `UPDATE_SITES=1` rewrites them) and large grid sites
//! for tests and benchmarks.

use std::path::PathBuf;

use crate::file::{
    AreaFile, AreaKind, Bounds, EdgeFile, LiftDoor, LiftFile, MapFile, MapRef, Movement,
    Navigation, NodeFile, NodeKind, SiteFile, SiteFiles, Trajectory,
};

/// The node id of column `c`, row `r` on floor `f` of a generated grid.
pub fn grid_node(f: u32, cols: u32, c: u32, r: u32) -> u32 {
    f * 100_000 + r * cols + c + 1
}

/// A `cols` × `rows` grid of waypoints `spacing` metres apart with bidirectional edges between
/// neighbours, on floor `f` (node ids from [`grid_node`], edge ids from `f * 1_000_000 + 1`).
pub fn grid_map(f: u32, cols: u32, rows: u32, spacing: f64) -> MapFile {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut next_edge = f * 1_000_000 + 1;
    for r in 0..rows {
        for c in 0..cols {
            nodes.push(NodeFile {
                id: grid_node(f, cols, c, r),
                x: f64::from(c) * spacing,
                y: f64::from(r) * spacing,
                theta: None,
                kind: NodeKind::Waypoint,
                qr: None,
                name: None,
            });
            let mut edge = |to: u32| {
                edges.push(EdgeFile {
                    id: next_edge,
                    from: grid_node(f, cols, c, r),
                    to,
                    bidirectional: true,
                    max_speed: None,
                    length: None,
                    trajectory: Trajectory::Line,
                    movement: vec![Movement::Forward],
                    navigation: vec![],
                    width: None,
                });
                next_edge += 1;
            };
            if c + 1 < cols {
                edge(grid_node(f, cols, c + 1, r));
            }
            if r + 1 < rows {
                edge(grid_node(f, cols, c, r + 1));
            }
        }
    }
    MapFile {
        bounds: Bounds {
            min: [-1.0, -1.0],
            max: [
                f64::from(cols - 1) * spacing + 1.0,
                f64::from(rows - 1) * spacing + 1.0,
            ],
        },
        max_speed: 1.5,
        nodes,
        edges,
        areas: vec![],
    }
}

fn node_mut(map: &mut MapFile, id: u32) -> &mut NodeFile {
    map.nodes
        .iter_mut()
        .find(|n| n.id == id)
        .expect("generated node")
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

/// `maps/sites/demo`: one floor, 8 × 5 nodes 3 m apart, two chargers, four stations, two
/// parking places, a pillar (forbidden), a slow crossing and a QR-code zone.
pub fn demo() -> SiteFiles {
    let (cols, rows, s) = (8, 5, 3.0);
    let mut m = grid_map(0, cols, rows, s);
    let n = |c, r| grid_node(0, cols, c, r);
    for (c, r, kind, name) in [
        (0, 0, NodeKind::Charger, "charger-1"),
        (0, 4, NodeKind::Charger, "charger-2"),
        (7, 0, NodeKind::Station, "dock-A"),
        (7, 2, NodeKind::Station, "dock-B"),
        (7, 4, NodeKind::Station, "dock-C"),
        (3, 4, NodeKind::Station, "line-1"),
        (1, 0, NodeKind::Parking, "park-1"),
        (1, 4, NodeKind::Parking, "park-2"),
    ] {
        let node = node_mut(&mut m, n(c, r));
        node.kind = kind;
        node.name = Some(name.into());
        if kind == NodeKind::Station {
            node.theta = Some(0.0);
        }
    }
    // QR codes under the docks' column
    for r in 0..rows {
        for c in 6..cols {
            node_mut(&mut m, n(c, r)).qr = Some(5000 + n(c, r));
        }
    }
    m.areas = vec![
        AreaFile {
            id: 1,
            kind: AreaKind::Forbidden,
            polygon: rect(10.0, 4.0, 11.0, 5.0),
            speed: None,
            direction: None,
        },
        AreaFile {
            id: 2,
            kind: AreaKind::Slow,
            polygon: rect(8.0, -1.0, 10.0, 13.0),
            speed: Some(0.5),
            direction: None,
        },
        AreaFile {
            id: 3,
            kind: AreaKind::QrZone,
            polygon: rect(17.0, -1.0, 22.0, 13.0),
            speed: None,
            direction: None,
        },
        AreaFile {
            id: 4,
            kind: AreaKind::ChargingArea,
            polygon: rect(-1.0, -1.0, 1.0, 13.0),
            speed: None,
            direction: None,
        },
    ];
    one_hall("demo", m)
}

/// A site of one map, `hall.toml` ("Hall", building A, floor 1, SLAM).
fn one_hall(name: &str, map: MapFile) -> SiteFiles {
    SiteFiles {
        site: Some(SiteFile {
            name: name.into(),
            maps: vec![MapRef {
                id: 1,
                name: "Hall".into(),
                file: PathBuf::from("hall.toml"),
                building: "A".into(),
                floor: 1,
                navigation: Navigation::Slam,
                version: 1,
            }],
            lifts: vec![],
            links: vec![],
            vehicles: Default::default(),
        }),
        maps: vec![(PathBuf::from("hall.toml"), map)],
    }
}

/// A grid site of `floors` floors of `cols` × `rows` nodes 2 m apart, with two lifts serving
/// every floor at the middle of the west and east sides (map ids 1..=floors; no lifts, and so
/// no lift doors, for one floor).
pub fn grid_site(name: &str, floors: u32, cols: u32, rows: u32) -> SiteFiles {
    let mut maps = Vec::new();
    let mut refs = Vec::new();
    let lift_cells = [(0, rows / 2), (cols - 1, rows / 2)];
    for f in 1..=floors {
        let mut m = grid_map(f, cols, rows, 2.0);
        for (c, r) in lift_cells.iter().filter(|_| floors > 1) {
            node_mut(&mut m, grid_node(f, cols, *c, *r)).kind = NodeKind::LiftDoor;
        }
        let file = PathBuf::from(format!("floor{f}.toml"));
        refs.push(MapRef {
            id: f as u16,
            name: format!("Floor {f}"),
            file: file.clone(),
            building: "W".into(),
            floor: f as i32,
            navigation: Navigation::Slam,
            version: 1,
        });
        maps.push((file, m));
    }
    let lifts = lift_cells
        .iter()
        .filter(|_| floors > 1)
        .enumerate()
        .map(|(i, &(c, r))| LiftFile {
            id: i as u16 + 1,
            name: format!("Lift {}", i + 1),
            travel_s_per_floor: 4.0,
            door_s: 4.0,
            capacity: 1,
            doors: (1..=floors)
                .map(|f| LiftDoor {
                    map: f as u16,
                    node: grid_node(f, cols, c, r),
                    floor: f as i32,
                })
                .collect(),
        })
        .collect();
    SiteFiles {
        site: Some(SiteFile {
            name: name.into(),
            maps: refs,
            lifts,
            links: vec![],
            vehicles: Default::default(),
        }),
        maps,
    }
}

/// `maps/sites/warehouse-3f`: three floors of 20 × 10 nodes (600), two lifts, a QR-code zone
/// on floor 1, a SLAM zone marked on floor 2, a forbidden block on floor 2, a one-way aisle on
/// floor 3, chargers and stations on every floor.
pub fn warehouse_3f() -> SiteFiles {
    let (cols, rows) = (20, 10);
    let mut files = grid_site("warehouse-3f", 3, cols, rows);
    for (i, (_, m)) in files.maps.iter_mut().enumerate() {
        let f = i as u32 + 1;
        for (c, r, kind, name) in [
            (1, 0, NodeKind::Charger, format!("charger-{f}1")),
            (18, 0, NodeKind::Charger, format!("charger-{f}2")),
            (5, 9, NodeKind::Station, format!("station-{f}A")),
            (10, 9, NodeKind::Station, format!("station-{f}B")),
            (15, 9, NodeKind::Station, format!("station-{f}C")),
        ] {
            let node = node_mut(m, grid_node(f, cols, c, r));
            node.kind = kind;
            node.name = Some(name);
        }
        match f {
            1 => {
                // QR codes in the left third
                m.areas.push(AreaFile {
                    id: 1,
                    kind: AreaKind::QrZone,
                    polygon: rect(-1.0, -1.0, 11.0, 19.0),
                    speed: None,
                    direction: None,
                });
                for r in 0..rows {
                    for c in 0..6 {
                        node_mut(m, grid_node(f, cols, c, r)).qr = Some(grid_node(f, cols, c, r));
                    }
                }
            }
            2 => {
                m.areas.push(AreaFile {
                    id: 1,
                    kind: AreaKind::SlamZone,
                    polygon: rect(-1.0, -1.0, 39.0, 19.0),
                    speed: None,
                    direction: None,
                });
                // a storage block: edges through it are never routed
                m.areas.push(AreaFile {
                    id: 2,
                    kind: AreaKind::Forbidden,
                    polygon: rect(15.0, 7.0, 21.0, 11.0),
                    speed: None,
                    direction: None,
                });
            }
            _ => {
                // a one-way aisle along row 5, eastbound
                m.areas.push(AreaFile {
                    id: 1,
                    kind: AreaKind::OneWay,
                    polygon: rect(7.0, 9.5, 31.0, 10.5),
                    speed: None,
                    direction: Some(0.0),
                });
                for e in m.edges.iter_mut() {
                    let (a, b) = (e.from - f * 100_000 - 1, e.to - f * 100_000 - 1);
                    let (ac, ar, bc) = (a % cols, a / cols, b % cols);
                    if ar == 5 && b / cols == 5 && ac >= 4 && bc <= 15 {
                        e.bidirectional = false;
                    }
                }
            }
        }
    }
    files
}

/// The demo site as committed (`maps/sites/demo`), embedded: what a server started without
/// `--site` runs on.
pub fn embedded_demo() -> SiteFiles {
    let site: SiteFile =
        toml::from_str(include_str!("../sites/demo/site.toml")).expect("committed demo site");
    let hall: MapFile =
        toml::from_str(include_str!("../sites/demo/hall.toml")).expect("committed demo map");
    SiteFiles {
        site: Some(site),
        maps: vec![(PathBuf::from("hall.toml"), hall)],
    }
}

/// A one-floor warehouse of `blocks_x` × `blocks_y` blocks, for fleet simulations. Each block
/// is 5 × 3 cells 2 m apart: a full aisle below and above, and in the middle row two rack cells
/// (no nodes) with a station facing the first from each aisle, two parking bays (dead ends: one
/// off the aisle below, one off the aisle above), and a cross aisle on the block's west side.
/// Every tenth node of the south aisle is a charger. About 13 nodes per block, two of them
/// parking bays: with 4 nodes per AGV a fleet has about 0.6 bays per AGV.
///
/// With `one_way`, the aisles are one-way as in most AGV warehouses: aisles below a rack run
/// east, aisles above it west, cross aisles alternate north and south; the links between two
/// neighbouring aisles, the bays and the border columns stay two-way.
pub fn rack_warehouse(blocks_x: u32, blocks_y: u32, one_way: bool) -> SiteFiles {
    let (cols, rows, s) = (5 * blocks_x + 1, 3 * blocks_y + 1, 2.0);
    let inner = |c: u32, r: u32| r % 3 == 1 && c % 5 != 0 && c < cols - 1 && r < rows - 1;
    let rack = |c: u32, r: u32| inner(c, r) && (c % 5 == 2 || c % 5 == 4);
    // parking bays: c % 5 == 1 opens to the aisle below, c % 5 == 3 to the aisle above
    let bay = |c: u32, r: u32| inner(c, r) && (c % 5 == 1 || c % 5 == 3);
    let id = |c: u32, r: u32| r * cols + c + 1;
    let opens_to = |c: u32, r: u32| if c % 5 == 1 { r - 1 } else { r + 1 };
    let linked = |c: u32, r: u32, c2: u32, r2: u32| -> bool {
        if c2 >= cols || r2 >= rows || rack(c, r) || rack(c2, r2) {
            return false;
        }
        match (bay(c, r), bay(c2, r2)) {
            (false, false) => true,
            (true, false) => c == c2 && opens_to(c, r) == r2,
            (false, true) => c == c2 && opens_to(c2, r2) == r,
            (true, true) => false,
        }
    };
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut next_edge = 1;
    for r in 0..rows {
        for c in 0..cols {
            if rack(c, r) {
                continue;
            }
            let kind = if bay(c, r) {
                NodeKind::Parking
            } else if r == 0 && c % 10 == 5 {
                NodeKind::Charger
            } else if r % 3 != 1 && c % 5 == 2 && r > 0 && r < rows - 1 {
                NodeKind::Station
            } else {
                NodeKind::Waypoint
            };
            nodes.push(NodeFile {
                id: id(c, r),
                x: f64::from(c) * s,
                y: f64::from(r) * s,
                theta: None,
                kind,
                qr: None,
                name: None,
            });
            for (c2, r2) in [(c + 1, r), (c, r + 1)] {
                if linked(c, r, c2, r2) {
                    // which way it runs when one way: forwards, backwards, or both
                    let dir = if !one_way || bay(c, r) || bay(c2, r2) {
                        0
                    } else if r2 == r {
                        if r % 3 == 0 { 1 } else { -1 }
                    } else if c % 5 == 0 && c != 0 && c != cols - 1 && (r % 3 == 1 || r2 % 3 == 1) {
                        if (c / 5) % 2 == 0 { 1 } else { -1 }
                    } else {
                        0
                    };
                    let (from, to) = if dir < 0 {
                        (id(c2, r2), id(c, r))
                    } else {
                        (id(c, r), id(c2, r2))
                    };
                    edges.push(EdgeFile {
                        id: next_edge,
                        from,
                        to,
                        bidirectional: dir == 0,
                        max_speed: None,
                        length: None,
                        trajectory: Trajectory::Line,
                        movement: vec![Movement::Forward],
                        navigation: vec![],
                        width: None,
                    });
                    next_edge += 1;
                }
            }
        }
    }
    let map = MapFile {
        bounds: Bounds {
            min: [-1.0, -1.0],
            max: [f64::from(cols - 1) * s + 1.0, f64::from(rows - 1) * s + 1.0],
        },
        max_speed: 1.5,
        nodes,
        edges,
        areas: vec![],
    };
    one_hall(&format!("racks-{blocks_x}x{blocks_y}"), map)
}
