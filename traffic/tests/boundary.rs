//! The core's contract at its boundary: space is committed before the motion that relies on
//! it, never released under a moving AGV, and tasks are checked against the site.

use traffic::{Action, Command, Core, Mode, Outcome, Report, Settings, Spec, TaskKind};

fn site() -> maps::Site {
    maps::Site::compile(
        &maps::generate::rack_warehouse(4, 3, false),
        std::path::Path::new("."),
    )
    .expect("site")
}

fn report_at(site: &maps::Site, node: u32, mode: Mode, moving: bool) -> Report {
    let n = site.node(node).expect("node");
    Report {
        map: n.map,
        pose: [n.x, n.y, 0.0],
        moving,
        mode,
        last_node: node,
        battery_pct: 90.0,
        settled: true,
    }
}

fn node_of(site: &maps::Site, kind: maps::file::NodeKind) -> u32 {
    site.nodes()
        .iter()
        .find(|n| n.kind == kind)
        .expect("kind")
        .id
}

/// A core with AGV 1 idle on a parking place and a move task to a station for it, assigned and
/// released (two ticks): the core, the parking place, the task.
fn started(site: &maps::Site) -> (Core<'_>, u32, u32) {
    let mut core = Core::new(site, Settings::default(), 0);
    let start = node_of(site, maps::file::NodeKind::Parking);
    let station = node_of(site, maps::file::NodeKind::Station);
    core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    core.report(0, 1, &report_at(site, start, Mode::Idle, false));
    let task = core.submit(0, Spec::new(TaskKind::Move, station)).unwrap();
    // assigned in one tick, released in the next
    core.tick(100);
    core.tick(150);
    (core, start, task)
}

/// Every motion carries the reservations it relies on, already in the space table, and a
/// motion that could not be committed gives them back.
#[test]
fn a_motion_carries_what_it_relies_on_and_is_undone_when_not_stored() {
    let site = site();
    let (mut core, start, task) = started(&site);
    let mut motion = None;
    while let Some(a) = core.poll_action() {
        if let Action::Motion {
            id,
            reserve,
            command,
            ..
        } = a
        {
            // every resource it relies on is held already
            let held: Vec<u64> = core
                .space()
                .holds(1)
                .iter()
                .filter_map(|h| match h.0 {
                    maps::Hold::Reservation { resource } => Some(resource),
                    _ => None,
                })
                .collect();
            for (_, resources) in &reserve {
                for r in resources {
                    assert!(held.contains(r), "{r} not held");
                }
            }
            let Command::Motion {
                nodes, new_path, ..
            } = command
            else {
                panic!("a motion")
            };
            assert!(new_path);
            assert_eq!(nodes[0], start);
            motion = Some(id);
        }
    }
    let id = motion.expect("a motion was sent");
    core.answered(200, id, Outcome::NotStored);
    let held = core
        .space()
        .holds(1)
        .iter()
        .filter(|h| matches!(h.0, maps::Hold::Reservation { .. }))
        .count();
    assert_eq!(held, 0, "nothing is held for a motion that was never sent");
    // it is tried again
    core.tick(300);
    assert!(
        std::iter::from_fn(|| core.poll_action())
            .any(|a| matches!(a, Action::Motion { task: t, .. } if t == task))
    );
}

/// A cancelled AGV keeps its path until it is seen standing on a settled report.
#[test]
fn a_cancelled_agv_keeps_its_path_until_seen_standing() {
    let site = site();
    let (mut core, start, task) = started(&site);
    let ids: Vec<u64> = std::iter::from_fn(|| core.poll_action())
        .filter_map(|a| match a {
            Action::Motion { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    for id in ids {
        core.answered(150, id, Outcome::Ok);
    }
    let holds = |core: &Core<'_>| {
        core.space()
            .holds(1)
            .iter()
            .filter(|h| matches!(h.0, maps::Hold::Reservation { .. }))
            .count()
    };
    assert!(holds(&core) > 0);
    core.cancel(200, task);
    // still driving
    core.report(250, 1, &report_at(&site, start, Mode::Driving, true));
    core.tick(300);
    assert!(holds(&core) > 0, "released under a moving AGV");
    // standing, but on a report from before its answers: not yet
    let mut r = report_at(&site, start, Mode::Idle, false);
    r.settled = false;
    core.report(350, 1, &r);
    core.tick(400);
    assert!(holds(&core) > 0, "released on an unsettled report");
    core.report(450, 1, &report_at(&site, start, Mode::Idle, false));
    core.tick(500);
    assert_eq!(holds(&core), 0, "released once seen standing");
}

/// A charge task only to a charger, no task to a lift door, none to an unknown node.
#[test]
fn tasks_are_checked_against_the_site() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let station = node_of(&site, maps::file::NodeKind::Station);
    assert!(matches!(
        core.submit(0, Spec::new(TaskKind::Charge, station)),
        Err(traffic::Refusal::WrongKind { .. })
    ));
    assert!(matches!(
        core.submit(0, Spec::new(TaskKind::Move, 999_999)),
        Err(traffic::Refusal::UnknownNode(_))
    ));
    let mut spec = Spec::new(TaskKind::Move, station);
    spec.priority = 101;
    assert!(matches!(
        core.submit(0, spec),
        Err(traffic::Refusal::Priority(101))
    ));
    let warehouse =
        maps::Site::compile(&maps::generate::warehouse_3f(), std::path::Path::new(".")).unwrap();
    let door = warehouse.lifts()[0].doors[0].1;
    let mut core = Core::new(&warehouse, Settings::default(), 0);
    assert!(matches!(
        core.submit(0, Spec::new(TaskKind::Move, door)),
        Err(traffic::Refusal::LiftDoor(_))
    ));
}
