//! Tasks end to end: AGVs that drive (they follow released path nodes over TCP) get tasks
//! through the API; paths are released piece by piece only onto reserved space, navigation
//! switches happen at zone borders, two AGVs never come close, a single lane is never entered
//! head-on, and cancel stops a running task.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use maps::file::{
    Bounds, EdgeFile, MapFile, MapRef, Movement, Navigation, NodeFile, NodeKind, SiteFile,
    SiteFiles, Trajectory,
};
use protocol::message::*;
use rcs_server::Config;
use serde_json::{Value, json};

#[path = "../support/mod.rs"]
mod support;
use support::fleet::{
    call, driving, grid_server, lift_server, monitor, reservation_monitor, submit, wait_task,
};
use support::{BackgroundAgv, Driver, Running, eventually, normal_agv};

mod callbacks;
mod encounters;
mod runs;

/// Two bays joined by a single lane of four nodes:
/// ```text
///  10          20
///   \         /
///   11 - 1 - 2 - 3 - 4 - 21
///   /                     \
///  12                      22
/// ```
fn lane_site(dir: &std::path::Path) {
    let node = |id, x: f64, y: f64| NodeFile {
        id,
        x,
        y,
        theta: None,
        kind: NodeKind::Waypoint,
        qr: None,
        name: None,
    };
    let edge = |id, from, to| EdgeFile {
        id,
        from,
        to,
        bidirectional: true,
        max_speed: None,
        length: None,
        trajectory: Trajectory::Line,
        movement: vec![Movement::Forward],
        navigation: vec![],
        width: None,
    };
    let nodes = vec![
        node(10, 0.0, 6.0),
        node(11, 0.0, 3.0),
        node(12, 0.0, 0.0),
        node(1, 3.0, 3.0),
        node(2, 6.0, 3.0),
        node(3, 9.0, 3.0),
        node(4, 12.0, 3.0),
        node(20, 15.0, 6.0),
        node(21, 15.0, 3.0),
        node(22, 15.0, 0.0),
    ];
    let edges = vec![
        edge(1, 10, 11),
        edge(2, 11, 12),
        edge(3, 11, 1),
        edge(4, 1, 2),
        edge(5, 2, 3),
        edge(6, 3, 4),
        edge(7, 4, 21),
        edge(8, 20, 21),
        edge(9, 21, 22),
    ];
    let files = SiteFiles {
        site: Some(SiteFile {
            name: "lane".into(),
            maps: vec![MapRef {
                id: 1,
                name: "Lane".into(),
                file: "lane.toml".into(),
                building: String::new(),
                floor: 0,
                navigation: Navigation::Slam,
                version: 1,
            }],
            lifts: vec![],
            links: vec![],
            vehicles: Default::default(),
        }),
        maps: vec![(
            "lane.toml".into(),
            MapFile {
                bounds: Bounds {
                    min: [-1.0, -1.0],
                    max: [16.0, 7.0],
                },
                max_speed: 1.5,
                nodes,
                edges,
                areas: vec![],
            },
        )],
    };
    files.write(dir).unwrap();
}
