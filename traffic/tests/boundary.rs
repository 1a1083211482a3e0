//! The core's contract at its boundary: space is committed before the motion that relies on
//! it, never released under a moving AGV, and tasks are checked against the site.

use traffic::{Action, Command, Core, Mode, Outcome, Report, Settings, Spec, TaskKind, TaskState};

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
        task: 0,
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
    // storage is told to forget what may have reached it
    let told = std::iter::from_fn(|| core.poll_action())
        .any(|a| matches!(a, Action::Released { agv: 1, .. }));
    assert!(told, "storage keeps reservations of a motion never sent");
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

fn reservations(core: &Core<'_>, agv: u32) -> usize {
    core.space()
        .holds(agv)
        .iter()
        .filter(|h| matches!(h.0, maps::Hold::Reservation { .. }))
        .count()
}

/// The ids of the motions among the actions taken.
fn motions(core: &mut Core<'_>) -> Vec<u64> {
    motion_commands(core)
        .into_iter()
        .map(|(id, ..)| id)
        .collect()
}

/// A command sent makes the AGV's last report stale: a report that showed it standing before
/// the motion does not let its path go after a cancel (the server's CI failure of issue 12, at
/// the core's boundary: the driver's `settled` is only as fresh as the last report).
#[test]
fn a_report_from_before_a_motion_does_not_let_the_path_go() {
    let site = site();
    let (mut core, _, task) = started(&site);
    let sent = motions(&mut core);
    assert!(!sent.is_empty());
    assert!(
        !core.agv(1).unwrap().settled,
        "still settled after a motion"
    );
    for id in sent {
        core.answered(160, id, Outcome::Ok);
    }
    // no report since: the AGV may be driving
    core.cancel(200, task);
    core.tick(300);
    core.tick(800);
    assert!(
        reservations(&core, 1) > 0,
        "released on a report from before the motion"
    );
}

/// A held AGV (a safety stop) gets no motion and no task; withdrawn, its task goes back to the
/// queue for it and its reservations are given up (and said so); let go, it goes on.
#[test]
fn a_held_agv_gets_nothing_and_a_withdrawn_one_gives_up_its_path() {
    let site = site();
    let (mut core, start, task) = started(&site);
    for id in motions(&mut core) {
        core.answered(160, id, Outcome::Ok);
    }
    core.report(200, 1, &report_at(&site, start, Mode::Stopped, false));
    core.hold(200, 1, true);
    core.tick(300);
    core.tick(800);
    assert!(motions(&mut core).is_empty(), "a motion to a held AGV");
    assert!(reservations(&core, 1) > 0);
    assert_eq!(core.withdraw(900, 1), Some(task));
    assert_eq!(reservations(&core, 1), 0);
    let mut released = false;
    while let Some(a) = core.poll_action() {
        released |= matches!(a, Action::Released { agv: 1, .. });
    }
    assert!(released, "the release is not told to storage");
    assert_eq!(core.task(task).unwrap().state, traffic::TaskState::Queued);
    assert_eq!(core.task(task).unwrap().spec.agv, Some(1));
    // still held: not assigned again
    core.report(1000, 1, &report_at(&site, start, Mode::Idle, false));
    core.tick(1100);
    assert_eq!(core.task(task).unwrap().state, traffic::TaskState::Queued);
    core.hold(1200, 1, false);
    core.tick(1300);
    core.tick(1400);
    assert_eq!(core.task(task).unwrap().state, traffic::TaskState::Running);
    assert!(!motions(&mut core).is_empty(), "no motion once let go");
}

/// The motions among the actions taken (every action is taken): (id, nodes, new path).
fn motion_commands(core: &mut Core<'_>) -> Vec<(u64, Vec<u32>, bool)> {
    std::iter::from_fn(|| core.poll_action())
        .filter_map(|a| match a {
            Action::Motion {
                id,
                command: Command::Motion {
                    nodes, new_path, ..
                },
                ..
            } => Some((id, nodes, new_path)),
            _ => None,
        })
        .collect()
}

/// A session that takes over another (the AGV came back before its old connection was seen
/// ending) is a new session: the AGV forgot what it was released, so its task goes back to the
/// queue and its space stays until it is seen standing; a motion made for the old session and
/// never handed changes nothing when it comes back unsent (it would give up pieces the new path
/// holds again), and the next release is a new path from where the AGV stands. (The soak's AGVs
/// 453 and 803 met after a continuation made before a link loss reached the new session.)
#[test]
fn a_new_session_voids_what_the_earlier_one_was_sent() {
    let site = site();
    let (mut core, _, task) = started(&site);
    let sent = motion_commands(&mut core);
    let (first, nodes, new_path) = sent.first().cloned().expect("a motion");
    assert!(new_path);
    core.answered(160, first, Outcome::Ok);
    // it drives past its third node: the next piece is released
    core.report(200, 1, &report_at(&site, nodes[2], Mode::Driving, true));
    core.tick(300);
    let (stale, more, new_path) = motion_commands(&mut core)
        .into_iter()
        .next()
        .expect("a continuation");
    assert!(!new_path);
    let before = reservations(&core, 1);
    assert!(more.len() > 1 && before > 0);
    // its link broke and it is back at once, in a new session (no offline in between)
    core.online(350, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    let t = core.task(task).unwrap();
    assert_eq!(
        t.state,
        TaskState::Queued,
        "still running in the old session"
    );
    assert_eq!(t.spec.agv, Some(1));
    assert_eq!(
        reservations(&core, 1),
        before,
        "space given up before it was seen"
    );
    core.tick(400);
    assert!(motions(&mut core).is_empty(), "driven before it was seen");
    // seen standing where its link broke: its space goes, its task is planned again
    let mut r = report_at(&site, nodes[2], Mode::Idle, false);
    r.pose[0] += 0.3;
    core.report(450, 1, &r);
    core.tick(500);
    core.tick(600);
    assert_eq!(core.task(task).unwrap().state, TaskState::Running);
    let again = motion_commands(&mut core);
    let (_, path, new_path) = again.first().cloned().expect("a new release");
    assert!(new_path, "a continuation of the forgotten path");
    assert_eq!(path[0], nodes[2], "not from where it stands");
    let held = reservations(&core, 1);
    assert!(held > 0);
    // the old session's motion comes back unsent: the new path keeps its space
    core.answered(650, stale, Outcome::NotStored);
    assert_eq!(
        reservations(&core, 1),
        held,
        "the new path's space given up"
    );
}

/// An AGV on a flat battery that a queued task names charges first (the task is not given to
/// it below the charge threshold, and before, the AGV was not sent to charge while a task named
/// it: the two waited for each other for ever, the soak's task 4318 for AGV 648); the task says
/// why it waits, and goes once the AGV is charged above the threshold for work.
#[test]
fn an_agv_a_task_waits_for_charges_first_when_its_battery_is_flat() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let start = node_of(&site, maps::file::NodeKind::Station);
    let dest = site
        .nodes()
        .iter()
        .filter(|n| n.kind == maps::file::NodeKind::Station)
        .nth(1)
        .expect("two stations")
        .id;
    core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    let mut r = report_at(&site, start, Mode::Idle, false);
    r.battery_pct = 12.0;
    core.report(0, 1, &r);
    let mut spec = Spec::new(TaskKind::Move, dest);
    spec.agv = Some(1);
    let task = core.submit(0, spec).unwrap();
    let mut charge = None;
    let mut now = 0;
    while now < 5_000 && charge.is_none() {
        now += 100;
        core.tick(now);
        charge = core
            .tasks()
            .find(|t| t.internal && t.spec.kind == TaskKind::Charge)
            .map(|t| t.id);
    }
    let charge = charge.expect("no charge task for an AGV on a flat battery that a task names");
    let wait = core.task(task).unwrap().wait.as_ref().map(|w| w.reason);
    assert_eq!(wait, Some(traffic::WaitReason::Charging));
    // only one charge task, however long it waits to go
    for _ in 0..20 {
        now += 100;
        core.tick(now);
    }
    let charges = core
        .tasks()
        .filter(|t| t.internal && t.spec.kind == TaskKind::Charge)
        .count();
    assert_eq!(charges, 1);
    assert_eq!(core.task(charge).unwrap().state, TaskState::Running);
    assert_eq!(core.task(task).unwrap().state, TaskState::Queued);
    // it drives to the charger (each piece released, at once) and charges
    let charger = core.task(charge).unwrap().spec.destination;
    let mut at = start;
    for _ in 0..200 {
        for (id, nodes, _) in motion_commands(&mut core) {
            core.answered(now, id, Outcome::Ok);
            at = *nodes.last().expect("nodes");
        }
        let mode = if at == charger {
            Mode::Idle
        } else {
            Mode::WaitingForRelease
        };
        let mut r = report_at(&site, at, mode, false);
        r.battery_pct = 13.0;
        core.report(now, 1, &r);
        now += 100;
        core.tick(now);
        if core.task(charge).unwrap().state == TaskState::Completed {
            break;
        }
    }
    assert_eq!(core.task(charge).unwrap().state, TaskState::Completed);
    let mut r = report_at(&site, charger, Mode::Charging, false);
    r.battery_pct = 30.0;
    core.report(now, 1, &r);
    now += 100;
    core.tick(now);
    assert_eq!(
        core.task(task).unwrap().state,
        TaskState::Queued,
        "taken while under 40 %"
    );
    let wait = core.task(task).unwrap().wait.as_ref().map(|w| w.reason);
    assert_eq!(wait, Some(traffic::WaitReason::Charging));
    r.battery_pct = 45.0;
    core.report(now, 1, &r);
    now += 100;
    core.tick(now);
    assert_eq!(core.task(task).unwrap().state, TaskState::Running);
}

/// Rebuilt from storage: reservations restored into the space table stay until their AGV is
/// seen standing; restored tasks keep their ids, and new ids follow them.
#[test]
fn a_core_rebuilt_from_storage_keeps_what_was_held() {
    let site = site();
    let (mut old, start, task) = started(&site);
    let _ = motions(&mut old);
    let mut space = maps::SpaceTable::new(&site, 1);
    for (hold, map, shape) in old.space().holds(1) {
        if let maps::Hold::Reservation { resource } = hold {
            space.restore_reservation(1, map, resource, shape.clone());
        }
    }
    let held = reservations(&old, 1);
    assert!(held > 0);
    let mut core = Core::new(&site, Settings::default(), 0);
    core.restore_space(space);
    core.known(1, [0.5, 0.5, 0.4, 0.4], 1.5);
    let mut spec = Spec::new(TaskKind::Move, old.task(task).unwrap().spec.destination);
    spec.agv = Some(1);
    core.restore_task(41, spec, false, 5, true);
    core.tick(100);
    assert_eq!(
        reservations(&core, 1),
        held,
        "given up while its AGV is offline"
    );
    core.online(200, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    core.tick(300);
    assert_eq!(reservations(&core, 1), held, "given up before it reported");
    core.report(400, 1, &report_at(&site, start, Mode::Idle, false));
    core.tick(500);
    assert_eq!(core.task(41).unwrap().agv, Some(1));
    let next = core
        .submit(600, Spec::new(TaskKind::Move, start))
        .expect("submitted");
    assert_eq!(next, 42);
}

/// An idle AGV on a station leaves for a parking place once idle `park_after_ms`; one idle on a
/// plain waypoint stays (ready for the next task there; the deadlock rules move it if it is in
/// someone's way).
#[test]
fn idle_agvs_leave_stations_and_stay_on_waypoints() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let station = node_of(&site, maps::file::NodeKind::Station);
    let waypoint = site
        .nodes()
        .iter()
        .find(|n| {
            n.kind == maps::file::NodeKind::Waypoint
                && (n.x - site.node(station).unwrap().x).hypot(n.y - site.node(station).unwrap().y)
                    > 5.0
        })
        .expect("a waypoint")
        .id;
    for (agv, node) in [(1, station), (2, waypoint)] {
        core.online(0, agv, [0.5, 0.5, 0.4, 0.4], 1.5);
        core.report(0, agv, &report_at(&site, node, Mode::Idle, false));
    }
    let parks = |core: &Core<'_>, agv: u32| {
        core.tasks()
            .filter(|t| t.internal && t.spec.kind == TaskKind::Park && t.spec.agv == Some(agv))
            .count()
    };
    core.tick(1_000);
    assert_eq!(parks(&core, 1), 0, "parked before park_after_ms");
    core.tick(6_000);
    assert_eq!(parks(&core, 1), 1, "still idle on the station");
    let to = core
        .tasks()
        .find(|t| t.spec.agv == Some(1))
        .unwrap()
        .spec
        .destination;
    assert_eq!(site.node(to).unwrap().kind, maps::file::NodeKind::Parking);
    assert_eq!(parks(&core, 2), 0, "sent off a waypoint");
}

/// The idle-AGV policies are spread over the ticks: with a tick every 100 ms each tick looks at
/// a share of the idle AGVs (not all at once), and every idle AGV is looked at within half a
/// second (all those idle long enough on stations are sent to park by then).
#[test]
fn idle_agvs_are_looked_at_round_robin_within_half_a_second() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let stations: Vec<u32> = site
        .nodes()
        .iter()
        .filter(|n| n.kind == maps::file::NodeKind::Station)
        .map(|n| n.id)
        .take(10)
        .collect();
    assert_eq!(stations.len(), 10);
    for (i, node) in stations.iter().enumerate() {
        let agv = i as u32 + 1;
        core.online(0, agv, [0.5, 0.5, 0.4, 0.4], 1.5);
        core.report(0, agv, &report_at(&site, *node, Mode::Idle, false));
    }
    let parked = |core: &Core<'_>| {
        core.tasks()
            .filter(|t| t.internal && t.spec.kind == TaskKind::Park)
            .count()
    };
    // idle since 0: none parks before `park_after_ms` (5 s)
    for now in (100..=5_000).step_by(100) {
        core.tick(now);
    }
    assert_eq!(parked(&core), 0);
    // eligible from 5,000 (a deadlock tick): the next ticks look at shares of them, each
    // within half a second
    core.tick(5_100);
    let first = parked(&core);
    assert!(
        0 < first && first < 10,
        "not a share of the idle AGVs: {first}"
    );
    for now in [5_200, 5_300, 5_400, 5_500, 5_600] {
        core.tick(now);
    }
    assert_eq!(
        parked(&core),
        10,
        "an idle AGV not looked at within half a second"
    );
}

/// A core rebuilt after a restart with task 41 (a move to a station) stored as running for AGV
/// 1, which comes back online and reports `report`: the core's actions over two ticks.
fn restarted_with_running_task(site: &maps::Site, report: Report) -> (Core<'_>, Vec<Action>) {
    let station = node_of(site, maps::file::NodeKind::Station);
    let mut core = Core::new(site, Settings::default(), 0);
    core.known(1, [0.5, 0.5, 0.4, 0.4], 1.5);
    let mut spec = Spec::new(TaskKind::Drop, station);
    spec.agv = Some(1);
    core.restore_task(41, spec, false, 5, true);
    core.online(100, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    core.report(200, 1, &report);
    core.tick(300);
    core.tick(400);
    let actions = std::iter::from_fn(|| core.poll_action()).collect();
    (core, actions)
}

fn motions_of(actions: &[Action], task: u32) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Motion { task: t, .. } if *t == task))
        .count()
}

/// The AGV finished its task (a drop) while the RCS was down, before the completion was
/// stored: back, it reports that task, idle on its destination. The task is completed and
/// stored, and not driven again (a second drop). Reporting no task, or standing elsewhere, or
/// still working, it is driven as before.
#[test]
fn a_task_finished_while_the_rcs_was_down_is_completed_not_driven_again() {
    let site = site();
    let station = node_of(&site, maps::file::NodeKind::Station);
    let parking = node_of(&site, maps::file::NodeKind::Parking);

    let mut done = report_at(&site, station, Mode::Idle, false);
    done.task = 41;
    let (core, actions) = restarted_with_running_task(&site, done);
    assert_eq!(core.task(41).unwrap().state, TaskState::Completed);
    assert_eq!(motions_of(&actions, 41), 0, "driven again: {actions:?}");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::StoreTask { task: 41 })),
        "the completion is stored"
    );
    assert_eq!(core.stats().finished_while_away, 1);

    // No task reported (firmware that reports 0 once a task is done): driven as before.
    let unknown = report_at(&site, station, Mode::Idle, false);
    let (core, actions) = restarted_with_running_task(&site, unknown);
    assert_eq!(core.task(41).unwrap().state, TaskState::Running);
    assert_eq!(motions_of(&actions, 41), 1);

    // Its task, but not on the destination (its link was lost on the way): driven on.
    let mut on_the_way = report_at(&site, parking, Mode::Idle, false);
    on_the_way.task = 41;
    let (core, actions) = restarted_with_running_task(&site, on_the_way);
    assert_eq!(core.task(41).unwrap().state, TaskState::Running);
    assert_eq!(motions_of(&actions, 41), 1);

    // On the destination, still working on it (its drop not finished): not taken as done.
    let mut working = report_at(&site, station, Mode::WaitingForRelease, false);
    working.task = 41;
    let (core, _) = restarted_with_running_task(&site, working);
    assert_ne!(core.task(41).unwrap().state, TaskState::Completed);

    // Another AGV's report of that task id, or a report before it settled, proves nothing.
    let mut unsettled = report_at(&site, station, Mode::Idle, false);
    unsettled.task = 41;
    unsettled.settled = false;
    let (core, _) = restarted_with_running_task(&site, unsettled);
    assert_ne!(core.task(41).unwrap().state, TaskState::Completed);
}

/// A decommissioned AGV is forgotten only when offline, with no task and no grant; then what
/// it held leaves the space table and a task waiting for it looks again.
#[test]
fn an_agv_is_forgotten_only_offline_and_without_work() {
    let site = site();
    let (mut core, start, task) = started(&site);
    for id in motions(&mut core) {
        core.answered(160, id, Outcome::Ok);
    }
    assert_eq!(core.forget(1), Err(traffic::Busy::Online));
    core.offline(200, 1);
    // its task went back to the queue for it
    assert_eq!(core.forget(1), Err(traffic::Busy::Tasks(vec![task])));
    core.cancel(300, task);
    assert!(reservations(&core, 1) > 0, "an offline AGV keeps its path");
    let n = site.node(start).unwrap();
    let grant = core
        .space_mut()
        .grant(
            1,
            n.map,
            n.map,
            maps::Shape::new(vec![maps::space::disc(n.x, n.y, 0.5)]),
            300,
            10_000,
        )
        .expect("granted")
        .id;
    assert_eq!(core.forget(1), Err(traffic::Busy::Grants(vec![grant])));
    core.space_mut().end_grant(grant);
    while core.poll_action().is_some() {}
    assert_eq!(core.forget(1), Ok(true));
    assert!(core.agv(1).is_none());
    assert_eq!(reservations(&core, 1), 0);
    assert!(core.space().footprint(1).is_none(), "its footprint stays");
    assert!(core.space().holds(1).is_empty());
    let told = std::iter::from_fn(|| core.poll_action())
        .any(|a| matches!(a, Action::Released { agv: 1, .. }));
    assert!(told, "storage is not told that its reservations went");
    assert_eq!(core.forget(1), Ok(false), "forgotten twice");
    // a task may no longer name it
    let station = node_of(&site, maps::file::NodeKind::Station);
    let mut spec = Spec::new(TaskKind::Move, station);
    spec.agv = Some(1);
    assert!(matches!(
        core.submit(400, spec),
        Err(traffic::Refusal::UnknownAgv(1))
    ));
}
