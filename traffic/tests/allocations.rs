//! What a status report costs the core in allocations: the report of an AGV driving its released
//! path that only moves it (no new node, mode or state) allocates nothing; the fleet reports at
//! 10 Hz, and the target is no allocation per frame.

use traffic::{Core, Mode, Report, Settings, Spec, TaskKind};

#[test]
fn a_report_that_only_moves_an_agv_allocates_nothing() {
    let site = maps::Site::compile(
        &maps::generate::rack_warehouse(4, 3, false),
        std::path::Path::new("."),
    )
    .expect("site");
    let of = |kind| {
        site.nodes()
            .iter()
            .find(|n| n.kind == kind)
            .expect("kind")
            .id
    };
    let (start, station) = (
        of(maps::file::NodeKind::Parking),
        of(maps::file::NodeKind::Station),
    );
    let n = site.node(start).expect("node");
    let mut core = Core::new(&site, Settings::default(), 0);
    core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    let mut report = Report {
        map: n.map,
        pose: [n.x, n.y, 0.0],
        moving: false,
        mode: Mode::Idle,
        last_node: start,
        battery_pct: 90.0,
        settled: true,
        task: 0,
    };
    core.report(0, 1, &report);
    core.submit(0, Spec::new(TaskKind::Move, station))
        .expect("a task");
    core.tick(100);
    core.tick(150);
    while core.poll_action().is_some() {}
    // under way: the first report that says so wakes its task (that may allocate)
    report.moving = true;
    report.mode = Mode::Driving;
    report.pose[0] += 0.02;
    core.report(200, 1, &report);
    core.tick(250);
    while core.poll_action().is_some() {}
    // 12 reports 1.5 cm apart (the core moves a footprint on 1 cm): inside the footprint's
    // indexed box (0.25 m of slack; leaving it re-indexes the same shape, which may allocate in
    // the R-tree)
    let info = allocation_counter::measure(|| {
        for k in 0..12u32 {
            report.pose[0] += 0.015;
            report.pose[2] = 0.001 * f64::from(k);
            core.report(300 + 10 * u64::from(k), 1, &report);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    // and the reports were taken: the footprint moved
    let (_, fp) = core.space().footprint(1).expect("a footprint");
    let r = maps::space::extent(fp).expect("extent");
    assert!(
        ((r[0] + r[2]) / 2.0 - (n.x + 0.2)).abs() < 1e-6,
        "{r:?} {}",
        n.x
    );
}

/// A fleet with nothing to do costs the core no allocation per tick: the idle policies look at
/// their share of the idle AGVs without collecting it (two allocations a tick before), and the
/// half-second deadlock pass finds nothing to keep (the target: no allocation per frame or
/// tick). With idle parking off and on: AGVs idle past `park_after_ms` on waypoints are listed
/// every round to be looked at, and stay; the list is kept between ticks (one allocation a tick
/// before, which the server showed under callgrind: 174 in 199 ticks of 10 idle AGVs).
#[test]
fn ticks_of_an_idle_fleet_allocate_nothing() {
    for park_after_ms in [None, Settings::default().park_after_ms] {
        idle_fleet_ticks(Settings {
            park_after_ms,
            ..Settings::default()
        });
    }
}

fn idle_fleet_ticks(settings: Settings) {
    let site = maps::Site::compile(
        &maps::generate::rack_warehouse(4, 3, false),
        std::path::Path::new("."),
    )
    .expect("site");
    let park_after = settings.park_after_ms;
    let mut core = Core::new(&site, settings, 0);
    // 20 AGVs idle on plain waypoints (where they stay)
    let waypoints: Vec<_> = site
        .nodes()
        .iter()
        .filter(|n| n.kind == maps::file::NodeKind::Waypoint)
        .step_by(3)
        .take(20)
        .collect();
    assert_eq!(waypoints.len(), 20);
    for (i, n) in waypoints.iter().enumerate() {
        let id = i as u32 + 1;
        core.online(0, id, [0.5, 0.5, 0.4, 0.4], 1.5);
        core.report(
            0,
            id,
            &Report {
                map: n.map,
                pose: [n.x, n.y, 0.0],
                moving: false,
                mode: Mode::Idle,
                last_node: n.id,
                battery_pct: 90.0,
                settled: true,
                task: 0,
            },
        );
    }
    let mut now = 0;
    // past the parking threshold: every idle AGV is listed each round from then on
    let warm = park_after.map_or(10_000, |ms| ms + 10_000);
    while now < warm {
        now += 100;
        core.tick(now);
    }
    while core.poll_action().is_some() {}
    assert_eq!(
        core.tasks().count(),
        0,
        "an idle AGV on a waypoint was sent off"
    );
    let info = allocation_counter::measure(|| {
        for _ in 0..20 {
            now += 100;
            core.tick(now);
        }
    });
    assert_eq!(info.count_total, 0, "park after {park_after:?}: {info:?}");
}
