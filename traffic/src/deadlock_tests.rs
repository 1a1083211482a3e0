//! Tests of the deadlock rules (`deadlock.rs`).

use super::*;
use crate::agv::{Mode, Report};
use crate::core::Settings;
use crate::task::{Task, TaskState};

fn site() -> maps::Site {
    maps::Site::compile(
        &maps::generate::rack_warehouse(4, 3, false),
        std::path::Path::new("."),
    )
    .expect("site")
}

fn stand(core: &mut Core<'_>, now: u64, agv: u32, node: u32) {
    let n = core.site.node(node).expect("node");
    let report = Report {
        map: n.map,
        pose: [n.x, n.y, 0.0],
        moving: false,
        mode: Mode::Idle,
        last_node: node,
        battery_pct: 90.0,
        settled: true,
        task: 0,
    };
    core.report(now, agv, &report);
}

/// A node whose neighbours are at least `n` waypoints (no stations, no lift doors).
fn crossing(core: &Core<'_>, n: usize) -> (u32, Vec<u32>) {
    core.site
        .nodes()
        .iter()
        .filter(|x| x.kind == maps::file::NodeKind::Waypoint)
        .find_map(|x| {
            let around: Vec<u32> = core.neighbours.get(&x.id)?.iter().map(|e| e.1).collect();
            let plain = around.iter().all(|m| {
                core.site
                    .node(*m)
                    .is_some_and(|y| y.kind == maps::file::NodeKind::Waypoint)
            });
            (around.len() >= n && plain).then_some((x.id, around))
        })
        .expect("a crossing of waypoints")
}

/// Where the park task queued for `agv` goes; the task is ended.
fn sent_to(core: &mut Core<'_>, now: u64, agv: u32) -> u32 {
    assert!(core.queued_for(agv), "no task queued for it");
    let (task, dest) = core
        .tasks
        .values()
        .find(|t| t.spec.agv == Some(agv) && t.state == TaskState::Queued)
        .map(|t| (t.id, t.spec.destination))
        .expect("a park task for it");
    core.end(now, task, TaskState::Cancelled, None);
    dest
}

/// An idle AGV in the way of several waiting AGVs is sent off all of their ways: off
/// one only, it would stand in the next one's and be sent back (seen in dense runs: an
/// idle AGV sent between two nodes for ten minutes while 120 AGVs waited behind it).
#[test]
fn an_idle_agv_is_sent_off_every_waiting_agvs_way() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let (c, around) = crossing(&core, 4);
    core.online(0, 9, [0.5, 0.5, 0.4, 0.4], 1.5);
    stand(&mut core, 0, 9, c);
    let mut waiter = |id: u32, from: u32, to: u32| {
        let mut t = Task::new(id, Spec::new(TaskKind::Move, to), false, 0);
        t.set_plan(
            vec![Step::Drive {
                map: core.site.node(c).expect("node").map,
                nodes: vec![from, c, to],
                edges: vec![0, 0],
            }],
            0,
        );
        core.tasks.insert(id, t);
    };
    waiter(1001, around[0], around[1]);
    waiter(1002, around[2], around[3]);
    // Off the first waiter's way only, the nearest is on the second's.
    let first = core.remaining_nodes(1001);
    assert!(core.clear_avoiding(100, 9, &first));
    let one = sent_to(&mut core, 100, 9);
    assert!(around[2..4].contains(&one), "{one} {around:?}");
    core.agvs.get_mut(&9).expect("agv").cleared_from = Default::default();
    core.clear_the_way(200, 9, &[1001, 1002]);
    let both = sent_to(&mut core, 200, 9);
    assert!(
        ![c, around[0], around[1], around[2], around[3]].contains(&both),
        "{both} {around:?}"
    );
}

/// An idle AGV cleared off a node is not sent back onto it for a while.
#[test]
fn an_idle_agv_is_not_sent_back_where_it_was_cleared_from() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let (c, _) = crossing(&core, 3);
    core.online(0, 9, [0.5, 0.5, 0.4, 0.4], 1.5);
    stand(&mut core, 0, 9, c);
    assert!(core.clear_avoiding(100, 9, &BTreeSet::new()));
    let d = sent_to(&mut core, 100, 9);
    stand(&mut core, 5_000, 9, d);
    // Every neighbour of `d` but `c` in the way: `c` is the nearest free node.
    let mut avoid: BTreeSet<u32> = core.neighbours[&d].iter().map(|e| e.1).collect();
    avoid.remove(&c);
    assert!(core.clear_avoiding(6_000, 9, &avoid));
    let again = sent_to(&mut core, 6_000, 9);
    assert_ne!(again, c, "sent back where it was cleared from");
    // Long after, it may go there again.
    core.agvs.get_mut(&9).expect("agv").cleared_from[1] = (0, 0);
    core.agvs.get_mut(&9).expect("agv").cleared_from[0] = (c, 100);
    let later = 100 + core.settings.cleared_memory_ms + 1;
    assert!(core.clear_avoiding(later, 9, &avoid));
    assert_eq!(sent_to(&mut core, later, 9), c);
}

/// The gate holds new work back while most running tasks wait, but not below its floor of
/// the fleet at work and not while nothing completes (a knot not yet untied must not keep
/// the rest of the site standing).
#[test]
fn the_congestion_gate_opens_below_its_floor_and_when_nothing_completes() {
    let site = site();
    let gated = |floor: f64, now: u64, last_completed: u64| {
        let settings = Settings {
            congestion_floor: floor,
            ..Settings::default()
        };
        let mut core = Core::new(&site, settings, 0);
        let nodes: Vec<u32> = core.site.nodes().iter().map(|n| n.id).step_by(3).collect();
        for agv in 1..=10 {
            core.online(0, agv, [0.5, 0.5, 0.4, 0.4], 1.5);
            stand(&mut core, 0, agv, nodes[agv as usize]);
        }
        // four tasks running, each waiting for the next AGV
        for agv in 1..=4u32 {
            let id = 100 + agv;
            let mut t = Task::new(id, Spec::new(TaskKind::Move, nodes[20]), false, 0);
            t.state = TaskState::Running;
            t.agv = Some(agv);
            t.wait = Some(crate::wait::Wait {
                reason: WaitReason::ForAgv {
                    agv: agv + 1,
                    node: nodes[agv as usize + 1],
                },
                since_ms: 0,
            });
            core.tasks.insert(id, t);
            core.running.insert(id);
        }
        core.last_completed_ms = last_completed;
        core.find_knots(now);
        core.congested
    };
    assert!(gated(0.1, 10_000, 1_000), "4 of 4 waiting: the gate closes");
    assert!(
        !gated(0.5, 10_000, 1_000),
        "4 of 10 at work, under the floor of 5"
    );
    assert!(!gated(0.1, 40_000, 1_000), "nothing completed for 39 s");
    assert!(gated(0.1, 40_000, 20_000), "completed 20 s ago");
}

/// A task that waits in a chain (for an AGV that waits for nothing the rules can untie) is
/// not held for ever: after `long_wait_ms` of waiting it looks for a way around.
#[test]
fn a_task_waiting_a_minute_in_a_chain_looks_for_a_way_around() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let parking: Vec<u32> = core
        .site
        .nodes()
        .iter()
        .filter(|n| n.kind == maps::file::NodeKind::Parking)
        .map(|n| n.id)
        .collect();
    let (start, dest) = (parking[0], *parking.last().expect("parking"));
    core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
    stand(&mut core, 0, 1, start);
    let Some(Step::Drive { nodes, .. }) = core.plan(1, dest).and_then(|s| s.first().cloned())
    else {
        panic!("no drive");
    };
    // AGV 2 on the way, two plain waypoints ahead, with a task of its own that is settling
    // (a command unanswered): the end of a chain, no cycle, nobody idle.
    let block = *nodes[2..]
        .iter()
        .find(|n| core.is_stop_point(**n))
        .expect("a crossing ahead");
    core.online(0, 2, [0.5, 0.5, 0.4, 0.4], 1.5);
    stand(&mut core, 0, 2, block);
    let mut other = Task::new(900, Spec::new(TaskKind::Move, block), false, 0);
    other.state = TaskState::Running;
    other.agv = Some(2);
    other.busy = Some(9_999);
    core.tasks.insert(900, other);
    core.running.insert(900);
    core.agvs.get_mut(&2).expect("agv").task = Some(900);
    let mut spec = Spec::new(TaskKind::Move, dest);
    spec.agv = Some(1);
    let task = core.submit(0, spec).expect("submitted");
    let mut now = 0;
    let mut tick_until = |core: &mut Core<'_>, until: u64| {
        while now < until {
            now += 100;
            stand(core, now, 1, start);
            core.tick(now);
            while core.poll_action().is_some() {}
        }
    };
    tick_until(&mut core, 2_000);
    let reason = core
        .task(task)
        .and_then(|t| t.wait.as_ref())
        .map(|w| w.reason);
    assert!(
        matches!(reason, Some(WaitReason::ForAgv { agv: 2, .. })),
        "{reason:?}"
    );
    tick_until(&mut core, 59_000);
    assert_eq!(core.task(task).expect("task").replans, 0, "replanned early");
    tick_until(&mut core, 62_000);
    assert_eq!(core.stats.long_replans, 1);
    let t = core.task(task).expect("task");
    let Some(Step::Drive { nodes, .. }) = t.steps.get(t.step) else {
        panic!("no drive");
    };
    assert!(!nodes.contains(&block), "the new way passes {block}");
}

/// Where the back-off just planned for `task` leads (the end of its first drive).
fn backed_off_to(core: &Core<'_>, task: u32) -> u32 {
    match core.tasks[&task].steps.first() {
        Some(Step::Drive { nodes, .. }) => *nodes.last().expect("nodes"),
        other => panic!("no back-off drive: {other:?}"),
    }
}

/// A task of `agv` (standing at `from`) to `to`, running.
fn running(core: &mut Core<'_>, id: u32, agv: u32, from: u32, to: u32) {
    let mut t = Task::new(id, Spec::new(TaskKind::Move, to), false, 0);
    let map = core.site.node(from).expect("node").map;
    t.set_plan(
        vec![Step::Drive {
            map,
            nodes: vec![from, to],
            edges: vec![0],
        }],
        0,
    );
    t.agv = Some(agv);
    core.tasks.insert(id, t);
    core.agvs.get_mut(&agv).expect("agv").task = Some(id);
}

/// An AGV that backed off from a node prefers another for a while, one hop further at most
/// (seen on the demo site with 30 AGVs: one AGV backed off between two nodes every 8 s for
/// ten minutes while the fleet stood); with no other node that near, it still backs off
/// there (forbidding it left tasks waiting 40 minutes at 10,000 AGVs).
#[test]
fn an_agv_prefers_not_to_back_off_back_where_it_came_from() {
    let site = site();
    let mut core = Core::new(&site, Settings::default(), 0);
    let (c, around) = crossing(&core, 3);
    let far = core
        .site
        .nodes()
        .iter()
        .filter(|x| {
            x.kind == maps::file::NodeKind::Waypoint && x.id != c && !around.contains(&x.id)
        })
        .map(|x| x.id)
        .next_back()
        .expect("a far node");
    core.online(0, 9, [0.5, 0.5, 0.4, 0.4], 1.5);
    stand(&mut core, 0, 9, c);
    running(&mut core, 1001, 9, c, far);
    assert!(core.back_off_avoiding(100, 1001, 9, 0, &BTreeSet::new()));
    let first = backed_off_to(&core, 1001);
    assert!(around.contains(&first), "{first} {around:?}");
    // There now, every neighbour of `first` but `c` in the way: `c` is the nearest node off
    // the way, and where it came from; one hop further there is another.
    stand(&mut core, 5_000, 9, first);
    running(&mut core, 1001, 9, first, far);
    let mut avoid: BTreeSet<u32> = core.neighbours[&first].iter().map(|e| e.1).collect();
    avoid.remove(&c);
    let near = avoid.clone();
    assert!(core.back_off_avoiding(6_000, 1001, 9, 0, &avoid));
    let second = backed_off_to(&core, 1001);
    assert_ne!(second, c, "backed off back where it came from");
    assert!(!near.contains(&second) && second != first, "{second}");
    // With every node two hops out in the way too, `c` it is.
    stand(&mut core, 7_000, 9, first);
    running(&mut core, 1001, 9, first, far);
    for n in &near {
        avoid.extend(core.neighbours[n].iter().map(|e| e.1));
    }
    for e in core.neighbours[&c].clone() {
        avoid.insert(e.1);
    }
    avoid.remove(&c);
    avoid.remove(&first);
    assert!(core.back_off_avoiding(8_000, 1001, 9, 0, &avoid));
    assert_eq!(backed_off_to(&core, 1001), c);
    // Long after, `c` is as good as any other node.
    stand(&mut core, 100_000, 9, first);
    running(&mut core, 1001, 9, first, far);
    let later = 8_000 + core.settings.cleared_memory_ms + 1;
    let mut avoid: BTreeSet<u32> = core.neighbours[&first].iter().map(|e| e.1).collect();
    avoid.remove(&c);
    core.agvs.get_mut(&9).expect("agv").backed_from = [(c, 100), (0, 0), (0, 0), (0, 0)];
    assert!(core.back_off_avoiding(later, 1001, 9, 0, &avoid));
    assert_eq!(backed_off_to(&core, 1001), c);
}

/// On a dense map a cycle with an AGV on an internal parking task in it ends that task where
/// the AGV stands (it need not get anywhere); elsewhere the cycle is untied as before.
#[test]
fn a_parking_task_in_a_cycle_on_a_dense_map_is_dropped() {
    let site = site();
    for dense in [true, false] {
        let mut core = Core::new(&site, Settings::default(), 0);
        let (c, around) = crossing(&core, 3);
        let map = core.site.node(c).expect("node").map;
        for (agv, node) in [(1, c), (2, around[0])] {
            core.online(0, agv, [0.5, 0.5, 0.4, 0.4], 1.5);
            stand(&mut core, 0, agv, node);
        }
        // 1 parks onto 2's node, 2 onto 1's: each waits for the other
        for (id, agv, from, to) in [(1001, 1, c, around[0]), (1002, 2, around[0], c)] {
            let mut spec = Spec::new(TaskKind::Park, to);
            spec.agv = Some(agv);
            let mut t = Task::new(id, spec, true, 0);
            t.agv = Some(agv);
            t.state = TaskState::Running;
            t.set_plan(
                vec![Step::Drive {
                    map,
                    nodes: vec![from, to],
                    edges: vec![0],
                }],
                0,
            );
            core.tasks.insert(id, t);
            core.running.insert(id);
            core.agvs.get_mut(&agv).expect("agv").task = Some(id);
        }
        if dense {
            core.dense.insert(map);
        }
        core.untie_cycle(1_000, &[(1, 1001, 2), (2, 1002, 1)]);
        let ended: Vec<u32> = [1001, 1002]
            .into_iter()
            .filter(|id| core.tasks[id].state == TaskState::Cancelled)
            .collect();
        if dense {
            assert_eq!(ended.len(), 1, "one parking task dropped");
            let agv = if ended[0] == 1001 { 1 } else { 2 };
            assert_eq!(
                core.agvs[&agv].task, None,
                "its AGV is idle where it stands"
            );
        } else {
            assert!(ended.is_empty(), "a sparse map's cycle dropped a task");
        }
    }
}
