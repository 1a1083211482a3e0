//! The committed sample sites, validation errors, spatial queries and routes.

use std::path::{Path, PathBuf};

use maps::file::{Navigation, NodeKind, SiteFiles};
use maps::generate;
use maps::{Leg, Planner, RouteError, Site, SiteError, Vehicle};

fn sites_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sites")
}

#[test]
fn the_committed_sites_are_the_generators_output() {
    for (name, files) in [
        ("demo", generate::demo()),
        ("warehouse-3f", generate::warehouse_3f()),
    ] {
        let dir = sites_dir().join(name);
        if std::env::var_os("UPDATE_SITES").is_some() {
            files.write(&dir).unwrap();
        }
        let read = SiteFiles::read(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            read, files,
            "{name} differs from maps::generate (UPDATE_SITES=1 rewrites it)"
        );
    }
}

#[test]
fn the_embedded_demo_is_the_committed_one() {
    assert_eq!(generate::embedded_demo(), generate::demo());
}

#[test]
fn the_demo_site_loads_and_answers_queries() {
    let site = Site::load(&sites_dir().join("demo")).unwrap();
    assert_eq!(site.node_count(), 40);
    let chargers: Vec<_> = site
        .nodes()
        .iter()
        .filter(|n| n.kind == NodeKind::Charger)
        .collect();
    assert_eq!(chargers.len(), 2);
    let (n, d) = site.nearest_node(1, 3.2, 0.1).unwrap();
    assert_eq!(n.id, generate::grid_node(0, 8, 1, 0));
    assert!(d < 0.3);
    let kinds: Vec<_> = site.areas_at(1, 10.5, 4.5).map(|a| a.kind).collect();
    assert!(kinds.contains(&maps::file::AreaKind::Forbidden));
    // nodes in the QR zone navigate by QR code
    assert_eq!(
        site.node(generate::grid_node(0, 8, 7, 2))
            .unwrap()
            .navigation,
        Navigation::QrCode
    );
    assert_eq!(
        site.node(generate::grid_node(0, 8, 2, 2))
            .unwrap()
            .navigation,
        Navigation::Slam
    );
    // the slow crossing limits the speed of the edges through it
    let slow = site
        .edges()
        .iter()
        .filter(|e| e.kind == maps::EdgeKind::Drive && e.max_speed == 0.5)
        .count();
    assert!(slow > 0);
}

#[test]
fn a_route_into_the_qr_zone_switches_navigation() {
    let site = Site::load(&sites_dir().join("demo")).unwrap();
    let mut planner = Planner::new(&site);
    let from = generate::grid_node(0, 8, 0, 0);
    let to = generate::grid_node(0, 8, 7, 2);
    let route = planner.route(from, to, &Vehicle::default()).unwrap();
    let switches: Vec<_> = route
        .legs
        .iter()
        .filter_map(|l| match l {
            Leg::NavSwitch { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(switches, vec![(Navigation::Slam, Navigation::QrCode)]);
    assert_eq!(route.nodes().first(), Some(&from));
    assert_eq!(route.nodes().last(), Some(&to));
    // 7 columns and 2 rows of 3 m: 27 m at best
    assert!((route.length_m - 27.0).abs() < 1e-9, "{}", route.length_m);
    // a SLAM-only AGV cannot go there
    let slam_only = Vehicle {
        navigation: vec![Navigation::Slam],
        ..Vehicle::default()
    };
    assert_eq!(
        planner.route(from, to, &slam_only),
        Err(RouteError::Unreachable { from, to })
    );
    assert_eq!(
        planner.route(from, 999, &slam_only),
        Err(RouteError::UnknownNode(999))
    );
}

#[test]
fn cross_floor_routes_ride_a_lift_and_respect_areas() {
    let site = Site::load(&sites_dir().join("warehouse-3f")).unwrap();
    assert_eq!(site.node_count(), 600);
    let mut planner = Planner::new(&site);
    let from = generate::grid_node(1, 20, 8, 2);
    let to = generate::grid_node(3, 20, 12, 7);
    let route = planner.route(from, to, &Vehicle::default()).unwrap();
    let lifts: Vec<_> = route
        .legs
        .iter()
        .filter_map(|l| match l {
            Leg::Lift { enter, exit, .. } => Some((enter.map, exit.map)),
            _ => None,
        })
        .collect();
    assert_eq!(
        lifts,
        vec![(1, 3)],
        "one ride, floor 1 to 3: {:?}",
        route.legs
    );
    // drives are on the map they claim, and every step is an edge of the site
    for leg in &route.legs {
        if let Leg::Drive { map, nodes, edges } = leg {
            for (i, e) in edges.iter().enumerate() {
                let edge = site.edge(*e).unwrap();
                assert_eq!(site.ends(edge), (nodes[i], nodes[i + 1]));
                assert!(!edge.blocked);
                assert_eq!(site.node(nodes[i]).unwrap().map, *map);
            }
        }
    }
    // the one-way aisle on floor 3 is never driven westward
    let west = planner
        .route(
            generate::grid_node(3, 20, 15, 5),
            generate::grid_node(3, 20, 4, 5),
            &Vehicle::default(),
        )
        .unwrap();
    for leg in &west.legs {
        if let Leg::Drive { edges, .. } = leg {
            for e in edges {
                let edge = site.edge(*e).unwrap();
                let (a, b) = site.ends(edge);
                let (na, nb) = (site.node(a).unwrap(), site.node(b).unwrap());
                let in_aisle = na.y == 10.0 && nb.y == 10.0 && na.x >= 8.0 && nb.x >= 8.0;
                assert!(
                    !(in_aisle && nb.x < na.x),
                    "drove west in the aisle: {a}->{b}"
                );
            }
        }
    }
    // a wide AGV avoids a narrow corridor: none here, so the route exists
    let wide = Vehicle {
        width: 1.6,
        ..Vehicle::default()
    };
    assert!(planner.route(from, to, &wide).is_ok());
}

#[test]
fn invalid_sites_list_every_problem_with_file_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = generate::grid_site("broken", 2, 3, 3);
    {
        let (_, m) = &mut files.maps[0];
        m.edges[0].to = 424_242; // dangling
        let dup = m.nodes[1].clone();
        m.nodes.push(dup); // duplicate id
        m.nodes[2].x = 1_000.0; // outside the bounds
    }
    {
        let site = files.site.as_mut().unwrap();
        site.lifts[0].doors[1].map = 9; // lift to an unknown map
    }
    files.write(dir.path()).unwrap();
    let err = Site::load(dir.path()).unwrap_err();
    let SiteError::Invalid(problems) = &err else {
        panic!("{err}");
    };
    let text = err.to_string();
    for (file, id, reason) in [
        ("floor1.toml", "edge 1000001", "dangling"),
        ("floor1.toml", "node 100002", "duplicate node id"),
        ("floor1.toml", "node 100003", "outside"),
        ("site.toml", "lift 1", "unknown map 9"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.file.ends_with(file) && p.id == id && p.reason.contains(reason)),
            "missing {file} {id} {reason} in\n{text}"
        );
    }
    // a bidirectional edge inside a one-way area
    let mut files = generate::warehouse_3f();
    for (_, m) in files.maps.iter_mut().skip(2) {
        for e in m.edges.iter_mut() {
            e.bidirectional = true;
        }
    }
    let err = Site::compile(&files, dir.path()).unwrap_err().to_string();
    assert!(err.contains("one-way"), "{err}");
    // parse errors name the file
    std::fs::write(dir.path().join("floor2.toml"), "bounds = 7").unwrap();
    let err = Site::load(dir.path()).unwrap_err();
    assert!(matches!(err, SiteError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("floor2.toml"));
}

/// Hostile values in site files (docs/security.md, "Site files"): each is a problem naming its
/// file and item, found with every other one, and none panics the loader.
#[test]
fn hostile_site_values_are_problems_never_panics() {
    use maps::file::{LinkFile, MapNode};
    type Mutation = fn(&mut SiteFiles);
    let cases: [(&str, Mutation, &str, &str, &str); 13] = [
        (
            "a node at NaN",
            |f| f.maps[0].1.nodes[0].x = f64::NAN,
            "floor1.toml",
            "node 100001",
            "coordinates must be finite",
        ),
        (
            "infinite bounds",
            |f| f.maps[0].1.bounds.max = [f64::INFINITY, 10.0],
            "floor1.toml",
            "bounds",
            "min must be below max",
        ),
        (
            "a vehicle limit of 0",
            |f| f.site.as_mut().unwrap().vehicles.max_length = 0.0,
            "site.toml",
            "vehicles",
            "above 0",
        ),
        (
            "an edge id with the reverse bit",
            |f| f.maps[0].1.edges[0].id = 0x8000_0000,
            "floor1.toml",
            "edge 2147483648",
            "below 2^31",
        ),
        (
            "an edge from a node to itself",
            |f| {
                let e = &mut f.maps[0].1.edges[0];
                e.to = e.from;
            },
            "floor1.toml",
            "edge 1000001",
            "two different nodes",
        ),
        (
            "a negative edge speed",
            |f| f.maps[0].1.edges[0].max_speed = Some(-1.0),
            "floor1.toml",
            "edge 1000001",
            "max_speed must be positive",
        ),
        (
            "an area of two points",
            |f| {
                f.maps[0].1.areas.push(maps::file::AreaFile {
                    id: 77,
                    kind: maps::file::AreaKind::Forbidden,
                    polygon: vec![[0.0, 0.0], [1.0, 1.0]],
                    speed: None,
                    direction: None,
                })
            },
            "floor1.toml",
            "area 77",
            "3 finite points",
        ),
        (
            "two maps with one id",
            |f| f.site.as_mut().unwrap().maps[1].id = 1,
            "site.toml",
            "map 1",
            "duplicate map id",
        ),
        (
            "a lift of capacity 0",
            |f| f.site.as_mut().unwrap().lifts[0].capacity = 0,
            "site.toml",
            "lift 1",
            "capacity must be at least 1",
        ),
        (
            "a negative door time",
            |f| f.site.as_mut().unwrap().lifts[0].door_s = -1.0,
            "site.toml",
            "lift 1",
            "non-negative",
        ),
        (
            "a ride too long to compute",
            |f| {
                let lift = &mut f.site.as_mut().unwrap().lifts[0];
                lift.travel_s_per_floor = 1e300;
                lift.doors[0].floor = i32::MIN;
                lift.doors[1].floor = i32::MAX;
            },
            "site.toml",
            "lift 1",
            "too large",
        ),
        (
            "a door node that is no lift door",
            |f| f.site.as_mut().unwrap().lifts[0].doors[0].node = generate::grid_node(1, 3, 1, 1),
            "site.toml",
            "lift 1",
            "must be of kind lift_door",
        ),
        (
            "a link to a node that is not there",
            |f| {
                f.site.as_mut().unwrap().links.push(LinkFile {
                    from: MapNode {
                        map: 1,
                        node: 100001,
                    },
                    to: MapNode { map: 2, node: 999 },
                    time_s: 1.0,
                    bidirectional: false,
                })
            },
            "site.toml",
            "link 0",
            "not a node of its map",
        ),
    ];
    let dir = Path::new("/sites/hostile");
    for (what, mutate, file, id, reason) in cases {
        let mut files = generate::grid_site("hostile", 2, 3, 3);
        mutate(&mut files);
        let err = Site::compile(&files, dir).expect_err(what);
        let SiteError::Invalid(problems) = &err else {
            panic!("{what}: {err}");
        };
        assert!(
            problems
                .iter()
                .any(|p| p.file.ends_with(file) && p.id == id && p.reason.contains(reason)),
            "{what}: no {file} {id} {reason} in\n{err}"
        );
    }
    // floors at the ends of i32 with sane times: loaded, and a ride between them is routed
    let mut files = generate::grid_site("far floors", 2, 3, 3);
    for lift in &mut files.site.as_mut().unwrap().lifts {
        lift.doors[0].floor = i32::MIN;
        lift.doors[1].floor = i32::MAX;
    }
    let site = Site::compile(&files, dir).unwrap();
    let route = Planner::new(&site)
        .route(
            generate::grid_node(1, 3, 0, 0),
            generate::grid_node(2, 3, 2, 2),
            &Vehicle::default(),
        )
        .unwrap();
    assert!(route.time_s.is_finite(), "{}", route.time_s);
}

/// Site files that cannot be read: an error naming the file (docs/security.md, "Site files").
#[test]
fn unreadable_site_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // no directory at all
    let err = Site::load(&dir.path().join("nowhere")).unwrap_err();
    assert!(matches!(err, SiteError::Io { .. }), "{err}");
    assert!(err.to_string().contains("site.toml"), "{err}");
    // a map file site.toml names is missing
    generate::grid_site("gone", 2, 3, 3)
        .write(dir.path())
        .unwrap();
    std::fs::remove_file(dir.path().join("floor2.toml")).unwrap();
    let err = Site::load(dir.path()).unwrap_err();
    assert!(matches!(err, SiteError::Io { .. }), "{err}");
    assert!(err.to_string().contains("floor2.toml"), "{err}");
    // an unknown key is an error, not ignored
    generate::grid_site("typo", 2, 3, 3)
        .write(dir.path())
        .unwrap();
    let site = std::fs::read_to_string(dir.path().join("site.toml")).unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        format!("speed_limit = 9\n{site}"),
    )
    .unwrap();
    let err = Site::load(dir.path()).unwrap_err();
    assert!(matches!(err, SiteError::Parse { .. }), "{err}");
    assert!(
        err.to_string().contains("site.toml") && err.to_string().contains("speed_limit"),
        "{err}"
    );
    // a file that is not text
    std::fs::write(dir.path().join("floor1.toml"), [0xFFu8, 0xFE, 0x00, 0x80]).unwrap();
    std::fs::write(dir.path().join("site.toml"), site).unwrap();
    let err = Site::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("floor1.toml"), "{err}");
}

#[test]
fn parsing_file_contents_gives_what_reading_the_directory_gives() {
    let dir = sites_dir().join("warehouse-3f");
    let site = std::fs::read_to_string(dir.join("site.toml")).unwrap();
    let mut asked = Vec::new();
    let parsed = SiteFiles::parse(&dir, &site, |file| {
        asked.push(file.to_path_buf());
        Ok(std::fs::read_to_string(dir.join(file)).unwrap())
    })
    .unwrap();
    assert_eq!(parsed, SiteFiles::read(&dir).unwrap());
    assert_eq!(asked.len(), 3, "{asked:?}");

    // errors name the file, as when reading
    let bad = SiteFiles::parse(
        &dir,
        "name = \"x\"\n[[maps]]\nid = 1\nname = \"a\"\nfile = \"a.toml\"\n",
        |_| Ok("bounds = 3".into()),
    );
    assert!(
        matches!(&bad, Err(SiteError::Parse { file, .. }) if file == &dir.join("a.toml")),
        "{bad:?}"
    );
    let missing = SiteFiles::parse(
        &dir,
        "name = \"x\"\n[[maps]]\nid = 1\nname = \"a\"\nfile = \"a.toml\"\n",
        |f| {
            Err(SiteError::Io {
                file: dir.join(f),
                reason: "gone".into(),
            })
        },
    );
    assert!(matches!(missing, Err(SiteError::Io { .. })), "{missing:?}");
}
