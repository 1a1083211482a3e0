//! Which tasks make sense where (docs/operations.md, "Tasks"): the rules a task must meet to be
//! accepted, and the order in which queued tasks are assigned. Pure functions of the site, the
//! task and (for a task naming an AGV) where that AGV stands, so that the API, the dispatcher and
//! a traffic core can share them.
//!
//! A destination is refused when it is
//!
//! - not a node of the site;
//! - a lift door (a node of kind `lift_door`, or a door of one of the site's lifts), or inside
//!   (or on the outline of) a `forbidden`, `no_stop` or `lift_shaft` area: an AGV must never be
//!   sent to wait there;
//! - of the wrong kind for the task (see [`allowed_kinds`]);
//! - unreachable: for a task naming an AGV whose position is known, the planner finds no route
//!   from the node it stands at for its vehicle; otherwise, no edge, lift ride or link that some
//!   vehicle may use leads into it. An AGV may be placed on any node, so a destination with such
//!   a way in is reachable from somewhere, and one without is reachable from nowhere else: the
//!   check is exact for "reachable from any start" and costs one look-up (the index of nodes
//!   with a way in is built once per site).

use std::cmp::Reverse;
use std::collections::HashSet;

use maps::file::{AreaKind, NodeKind};
use maps::{Planner, RouteError, Site, Vehicle};

use crate::dispatch::TaskKind;

/// The default priority of a task.
pub const DEFAULT_PRIORITY: u8 = 50;
/// The highest priority a task may have (the lowest is 0).
pub const MAX_PRIORITY: u8 = 100;

/// Why a task is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRefusal {
    /// No such node.
    #[error("there is no node {0}")]
    UnknownDestination(u32),
    /// A `charge` task to a node that is not a charger.
    #[error("node {node} is a {}, not a charger: a charge task goes to a charger", kind_name(*kind))]
    NotACharger {
        /// The destination.
        node: u32,
        /// What it is.
        kind: NodeKind,
    },
    /// A `park` task to a node that is not a parking place.
    #[error(
        "node {node} is a {}, not a parking place: a park task goes to a parking place",
        kind_name(*kind)
    )]
    NotAParkingPlace {
        /// The destination.
        node: u32,
        /// What it is.
        kind: NodeKind,
    },
    /// A `pick` or `drop` task to a node where loads are not handled (a charger or a parking
    /// place).
    #[error(
        "node {node} is a {}: loads are picked and dropped at stations and waypoints",
        kind_name(*kind)
    )]
    NotALoadPlace {
        /// The destination.
        node: u32,
        /// What it is.
        kind: NodeKind,
    },
    /// The destination is a lift door.
    #[error("node {node} is a lift door: an AGV must not be sent to wait in front of a lift")]
    LiftDoor {
        /// The destination.
        node: u32,
    },
    /// The destination lies in a forbidden area.
    #[error("node {node} lies in forbidden area {area}")]
    ForbiddenArea {
        /// The destination.
        node: u32,
        /// The area's id (on the node's map).
        area: u32,
    },
    /// The destination lies in an area where AGVs may not stop (`no_stop`, `lift_shaft`).
    #[error("node {node} lies in area {area} where AGVs may not stop")]
    NoStopArea {
        /// The destination.
        node: u32,
        /// The area's id (on the node's map).
        area: u32,
    },
    /// No way into the destination for any vehicle.
    #[error("node {node} cannot be reached: no edge any AGV may use leads to it")]
    NoWayIn {
        /// The destination.
        node: u32,
    },
    /// No route from where the named AGV stands.
    #[error("AGV {agv} at node {from} has no route to node {node}")]
    Unreachable {
        /// The destination.
        node: u32,
        /// The AGV.
        agv: u32,
        /// Where it stands.
        from: u32,
    },
}

impl TaskRefusal {
    /// The stable machine-readable code of this refusal (the API's `error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownDestination(_) => "unknown_destination",
            Self::NotACharger { .. } => "not_a_charger",
            Self::NotAParkingPlace { .. } => "not_a_parking_place",
            Self::NotALoadPlace { .. } => "not_a_load_place",
            Self::LiftDoor { .. } => "destination_lift_door",
            Self::ForbiddenArea { .. } => "destination_forbidden",
            Self::NoStopArea { .. } => "destination_no_stop",
            Self::NoWayIn { .. } | Self::Unreachable { .. } => "destination_unreachable",
        }
    }
}

/// How the API and messages name a node kind.
pub fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Waypoint => "waypoint",
        NodeKind::Station => "station",
        NodeKind::Charger => "charger",
        NodeKind::LiftDoor => "lift door",
        NodeKind::Parking => "parking place",
    }
}

/// The node kinds a task of `kind` may go to: `charge` only to chargers, `park` only to
/// parking places, `pick` and `drop` to stations and waypoints (floor places), `move` to any
/// node but a lift door.
pub fn allowed_kinds(kind: TaskKind) -> &'static [NodeKind] {
    match kind {
        TaskKind::Charge => &[NodeKind::Charger],
        TaskKind::Park => &[NodeKind::Parking],
        TaskKind::Pick | TaskKind::Drop => &[NodeKind::Station, NodeKind::Waypoint],
        TaskKind::Move => &[
            NodeKind::Waypoint,
            NodeKind::Station,
            NodeKind::Parking,
            NodeKind::Charger,
        ],
    }
}

/// Where a task's named AGV stands and what it is: the reachability rule routes from there.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    /// The AGV.
    pub agv: u32,
    /// The node it stands at (or nearest to) on the map it reports.
    pub node: u32,
    /// Its vehicle (width, movements) for the planner.
    pub vehicle: &'a Vehicle,
}

/// The site facts the rules need, computed once per site (O(edges)).
#[derive(Debug, Clone, Default)]
pub struct TaskRules {
    /// Nodes with a way in: an edge, lift ride or link not blocked by a forbidden area that ends
    /// there and starts elsewhere.
    way_in: HashSet<u32>,
    /// The doors of the site's lifts.
    doors: HashSet<u32>,
}

impl TaskRules {
    /// The rules' index for `site`.
    pub fn new(site: &Site) -> Self {
        let way_in = site
            .edges()
            .iter()
            .filter(|e| !e.blocked)
            .map(|e| site.ends(e))
            .filter(|(from, to)| from != to)
            .map(|(_, to)| to)
            .collect();
        let doors = site
            .lifts()
            .iter()
            .flat_map(|l| l.doors.iter().map(|d| d.1))
            .collect();
        Self { way_in, doors }
    }

    /// Checks a task of `kind` to `destination` on `site` (the site this index was built
    /// for); `start` is where its named AGV stands, if the task names one and its position is
    /// known. The first rule broken is returned.
    pub fn check(
        &self,
        site: &Site,
        kind: TaskKind,
        destination: u32,
        start: Option<Start<'_>>,
    ) -> Result<(), TaskRefusal> {
        let node = site
            .node(destination)
            .ok_or(TaskRefusal::UnknownDestination(destination))?;
        if node.kind == NodeKind::LiftDoor || self.doors.contains(&destination) {
            return Err(TaskRefusal::LiftDoor { node: destination });
        }
        // On an area's outline counts as in it.
        for area in site.areas_touching(node.map, node.x, node.y) {
            match area.kind {
                AreaKind::Forbidden => {
                    return Err(TaskRefusal::ForbiddenArea {
                        node: destination,
                        area: area.id,
                    });
                }
                AreaKind::NoStop | AreaKind::LiftShaft => {
                    return Err(TaskRefusal::NoStopArea {
                        node: destination,
                        area: area.id,
                    });
                }
                _ => {}
            }
        }
        if !allowed_kinds(kind).contains(&node.kind) {
            let (node, found) = (destination, node.kind);
            return Err(match kind {
                TaskKind::Charge => TaskRefusal::NotACharger { node, kind: found },
                TaskKind::Park => TaskRefusal::NotAParkingPlace { node, kind: found },
                TaskKind::Pick | TaskKind::Drop => TaskRefusal::NotALoadPlace { node, kind: found },
                // a move goes anywhere but to a lift door
                TaskKind::Move => TaskRefusal::LiftDoor { node },
            });
        }
        match start {
            Some(s) => match Planner::new(site).route(s.node, destination, s.vehicle) {
                Ok(_) => Ok(()),
                Err(RouteError::UnknownNode(n)) if n == destination => {
                    Err(TaskRefusal::UnknownDestination(n))
                }
                // Not a node of this site: where it stands is not known after all.
                Err(RouteError::UnknownNode(_)) => self.has_way_in(destination),
                Err(RouteError::Unreachable { .. }) => Err(TaskRefusal::Unreachable {
                    node: destination,
                    agv: s.agv,
                    from: s.node,
                }),
            },
            None => self.has_way_in(destination),
        }
    }

    fn has_way_in(&self, destination: u32) -> Result<(), TaskRefusal> {
        if self.way_in.contains(&destination) {
            Ok(())
        } else {
            Err(TaskRefusal::NoWayIn { node: destination })
        }
    }
}

/// Checks a task against the rules without a prebuilt index (it is built for this one check:
/// O(edges); hold a [`TaskRules`] for repeated checks).
pub fn validate(
    site: &Site,
    kind: TaskKind,
    destination: u32,
    start: Option<Start<'_>>,
) -> Result<(), TaskRefusal> {
    TaskRules::new(site).check(site, kind, destination, start)
}

/// The order in which queued tasks are assigned: higher priority first, then the earlier
/// deadline (none last), then submission order (task id). Sort by this key, ascending.
pub fn queue_key(priority: u8, deadline_ms: Option<u64>, id: u32) -> (Reverse<u8>, u64, u32) {
    (Reverse(priority), deadline_ms.unwrap_or(u64::MAX), id)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use maps::file::{
        AreaFile, Bounds, EdgeFile, MapFile, MapRef, Movement, Navigation, NodeFile, SiteFile,
        SiteFiles, Trajectory,
    };
    use maps::generate::grid_node;

    use super::*;

    fn compile(files: &SiteFiles) -> Site {
        Site::compile(files, Path::new(".")).expect("a valid site")
    }

    fn demo() -> Site {
        compile(&maps::generate::demo())
    }

    fn named(site: &Site, name: &str) -> u32 {
        site.nodes()
            .iter()
            .find(|n| n.name.as_deref() == Some(name))
            .map(|n| n.id)
            .expect("a named node")
    }

    /// One map:
    /// ```text
    ///  1 - 2 - 3 <- 4        10 - 11
    ///          |
    ///          12 (narrow: 0.5 m)
    ///          3 - [forbidden] - 20 -> 21 (no stop)
    /// ```
    fn small() -> Site {
        let node = |id, x: f64, y: f64| NodeFile {
            id,
            x,
            y,
            theta: None,
            kind: NodeKind::Waypoint,
            qr: None,
            name: None,
        };
        let edge = |id, from, to, both: bool, width: Option<f64>| EdgeFile {
            id,
            from,
            to,
            bidirectional: both,
            max_speed: None,
            length: None,
            trajectory: Trajectory::Line,
            movement: vec![Movement::Forward],
            navigation: vec![],
            width,
        };
        let square = |id, kind, x: f64, y: f64| AreaFile {
            id,
            kind,
            polygon: vec![[x, y], [x + 1.0, y], [x + 1.0, y + 1.0], [x, y + 1.0]],
            speed: None,
            direction: None,
        };
        let map = MapFile {
            bounds: Bounds {
                min: [-1.0, -10.0],
                max: [40.0, 10.0],
            },
            max_speed: 1.5,
            nodes: vec![
                node(1, 0.0, 0.0),
                node(2, 3.0, 0.0),
                node(3, 6.0, 0.0),
                node(4, 9.0, 0.0),
                node(10, 30.0, 0.0),
                node(11, 33.0, 0.0),
                node(12, 6.0, -3.0),
                node(20, 6.0, 6.0),
                node(21, 9.0, 6.0),
            ],
            edges: vec![
                edge(1, 1, 2, true, None),
                edge(2, 2, 3, true, None),
                edge(3, 4, 3, false, None),
                edge(4, 10, 11, true, None),
                edge(5, 3, 12, true, Some(0.5)),
                edge(6, 3, 20, false, None),
                edge(7, 20, 21, false, None),
            ],
            areas: vec![
                square(1, AreaKind::Forbidden, 5.5, 2.5),
                square(2, AreaKind::NoStop, 8.5, 5.5),
            ],
        };
        let files = SiteFiles {
            site: Some(SiteFile {
                name: "small".into(),
                maps: vec![MapRef {
                    id: 1,
                    name: "Small".into(),
                    file: PathBuf::from("small.toml"),
                    building: String::new(),
                    floor: 0,
                    navigation: Navigation::Slam,
                    version: 1,
                }],
                lifts: vec![],
                links: vec![],
                vehicles: Default::default(),
            }),
            maps: vec![(PathBuf::from("small.toml"), map)],
        };
        compile(&files)
    }

    #[test]
    fn each_task_kind_goes_to_its_kind_of_place() {
        let site = demo();
        let rules = TaskRules::new(&site);
        let check = |kind, node| rules.check(&site, kind, node, None);
        let (charger, park, dock) = (
            named(&site, "charger-1"),
            named(&site, "park-1"),
            named(&site, "dock-A"),
        );
        let waypoint = grid_node(0, 8, 3, 2);
        assert_eq!(site.node(waypoint).unwrap().kind, NodeKind::Waypoint);
        assert_eq!(check(TaskKind::Charge, charger), Ok(()));
        assert_eq!(check(TaskKind::Park, park), Ok(()));
        for kind in [TaskKind::Pick, TaskKind::Drop, TaskKind::Move] {
            assert_eq!(check(kind, dock), Ok(()), "{kind:?} to a station");
            assert_eq!(check(kind, waypoint), Ok(()), "{kind:?} to a waypoint");
        }
        assert_eq!(check(TaskKind::Move, charger), Ok(()));
        assert_eq!(check(TaskKind::Move, park), Ok(()));

        let refused = check(TaskKind::Charge, waypoint).unwrap_err();
        assert_eq!(
            refused,
            TaskRefusal::NotACharger {
                node: waypoint,
                kind: NodeKind::Waypoint
            }
        );
        assert_eq!(refused.code(), "not_a_charger");
        assert!(refused.to_string().contains("waypoint"), "{refused}");
        assert_eq!(
            check(TaskKind::Charge, park).unwrap_err().code(),
            "not_a_charger"
        );
        let refused = check(TaskKind::Park, dock).unwrap_err();
        assert_eq!(
            refused,
            TaskRefusal::NotAParkingPlace {
                node: dock,
                kind: NodeKind::Station
            }
        );
        assert_eq!(refused.code(), "not_a_parking_place");
        for (kind, node, found) in [
            (TaskKind::Pick, charger, NodeKind::Charger),
            (TaskKind::Drop, park, NodeKind::Parking),
        ] {
            let refused = check(kind, node).unwrap_err();
            assert_eq!(refused, TaskRefusal::NotALoadPlace { node, kind: found });
            assert_eq!(refused.code(), "not_a_load_place");
        }
        assert_eq!(
            check(TaskKind::Move, 999_999),
            Err(TaskRefusal::UnknownDestination(999_999))
        );
    }

    #[test]
    fn lift_doors_and_forbidden_areas_are_refused() {
        let site = compile(&maps::generate::warehouse_3f());
        let rules = TaskRules::new(&site);
        let door = grid_node(1, 20, 0, 5);
        assert!(
            site.lifts()
                .iter()
                .any(|l| l.doors.iter().any(|d| d.1 == door))
        );
        for kind in [TaskKind::Move, TaskKind::Pick, TaskKind::Charge] {
            let refused = rules.check(&site, kind, door, None).unwrap_err();
            assert_eq!(refused, TaskRefusal::LiftDoor { node: door });
            assert_eq!(refused.code(), "destination_lift_door");
        }
        // floor 2's storage block: x 15..21, y 7..11
        let inside = grid_node(2, 20, 8, 4);
        let n = site.node(inside).unwrap();
        assert_eq!((n.x, n.y), (16.0, 8.0));
        let refused = rules
            .check(&site, TaskKind::Move, inside, None)
            .unwrap_err();
        assert_eq!(
            refused,
            TaskRefusal::ForbiddenArea {
                node: inside,
                area: 2
            }
        );
        assert_eq!(refused.code(), "destination_forbidden");
        // the same place on floor 3 is fine
        assert_eq!(
            rules.check(&site, TaskKind::Move, grid_node(3, 20, 8, 4), None),
            Ok(())
        );
    }

    #[test]
    fn a_destination_needs_a_way_in_and_a_route_from_the_named_agv() {
        let site = small();
        let rules = TaskRules::new(&site);
        let wide = Vehicle::default(); // 0.8 m
        let narrow = Vehicle {
            width: 0.4,
            ..Vehicle::default()
        };
        let from = |node, vehicle| {
            Some(Start {
                agv: 7,
                node,
                vehicle,
            })
        };
        // 4 only leads out; 20 is entered only across the forbidden area
        for node in [4, 20] {
            let refused = rules.check(&site, TaskKind::Move, node, None).unwrap_err();
            assert_eq!(refused, TaskRefusal::NoWayIn { node });
            assert_eq!(refused.code(), "destination_unreachable");
        }
        // the island is reachable from somewhere, not from node 1
        assert_eq!(rules.check(&site, TaskKind::Move, 11, None), Ok(()));
        let refused = rules
            .check(&site, TaskKind::Move, 11, from(1, &wide))
            .unwrap_err();
        assert_eq!(
            refused,
            TaskRefusal::Unreachable {
                node: 11,
                agv: 7,
                from: 1
            }
        );
        assert_eq!(refused.code(), "destination_unreachable");
        assert_eq!(
            rules.check(&site, TaskKind::Move, 3, from(1, &wide)),
            Ok(())
        );
        assert_eq!(
            rules.check(&site, TaskKind::Move, 1, from(1, &wide)),
            Ok(())
        );
        // the narrow corridor takes the narrow AGV only
        assert_eq!(rules.check(&site, TaskKind::Move, 12, None), Ok(()));
        assert_eq!(
            rules.check(&site, TaskKind::Move, 12, from(1, &narrow)),
            Ok(())
        );
        assert!(matches!(
            rules.check(&site, TaskKind::Move, 12, from(1, &wide)),
            Err(TaskRefusal::Unreachable { node: 12, .. })
        ));
        // no stopping in a no-stop area, whatever the way in
        let refused = rules.check(&site, TaskKind::Move, 21, None).unwrap_err();
        assert_eq!(refused, TaskRefusal::NoStopArea { node: 21, area: 2 });
        assert_eq!(refused.code(), "destination_no_stop");
        // the one-off function agrees
        assert_eq!(
            validate(&site, TaskKind::Move, 4, None),
            Err(TaskRefusal::NoWayIn { node: 4 })
        );
    }

    #[test]
    fn queued_tasks_go_by_priority_then_deadline_then_submission() {
        // (id, priority, deadline)
        let mut queue = [
            (1, 10, None),
            (2, 50, None),
            (3, 90, None),
            (4, 50, Some(2_000)),
            (5, 50, Some(1_000)),
            (6, 50, None),
            (7, 90, Some(5_000)),
        ];
        queue.sort_by_key(|&(id, p, d)| queue_key(p, d, id));
        let order: Vec<u32> = queue.iter().map(|t| t.0).collect();
        assert_eq!(order, [7, 3, 5, 4, 2, 6, 1]);
    }
}
