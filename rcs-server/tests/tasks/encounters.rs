//! AGVs meeting: crossings, single lanes, deadlocks resolved only with the AGVs at rest, lift
//! exits.

use super::*;

#[tokio::test]
async fn two_agvs_crossing_never_come_close_and_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    let b = driving(&s, 2, 0.0, 12.0).await;
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-C", "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-A", "agv_id": 2 }),
    )
    .await;
    wait_task(&s, ta["id"].as_u64().unwrap(), "completed").await;
    wait_task(&s, tb["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    let closest = watch.await.unwrap();
    assert!(closest >= 1.3, "{closest}");
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_single_lane_is_never_entered_head_on() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    lane_site(&site);
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site);
    let s = Running::start(config).await;
    let a = driving(&s, 1, 0.0, 6.0).await; // node 10
    let b = driving(&s, 2, 15.0, 0.0).await; // node 22
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": 20, "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": 12, "agv_id": 2 }),
    )
    .await;
    wait_task(&s, ta["id"].as_u64().unwrap(), "completed").await;
    wait_task(&s, tb["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    assert_eq!(a.position().unwrap().2, 20);
    assert_eq!(b.position().unwrap().2, 12);
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn four_agvs_swapping_through_a_crossing_resolve_the_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 5, 5).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 5, c, r);
    // west, east, south, north of the centre, each bound for the opposite side
    let starts = [(0, 2, 4, 2), (4, 2, 0, 2), (2, 0, 2, 4), (2, 4, 2, 0)];
    let mut agvs = Vec::new();
    for (i, (c, r, _, _)) in starts.iter().enumerate() {
        let id = i as u32 + 1;
        agvs.push(driving(&s, id, f64::from(*c) * 2.0, f64::from(*r) * 2.0).await);
    }
    let (stop, watch) = monitor(
        agvs.iter().map(|a| a.driver.clone().unwrap()).collect(),
        1.3,
    );
    let mut ids = Vec::new();
    for (i, (_, _, c, r)) in starts.iter().enumerate() {
        let (status, t) = call(
            &s,
            reqwest::Method::POST,
            "/api/v1/tasks",
            Some(json!({ "kind": "move", "destination": node(*c, *r), "agv_id": i + 1 })),
        )
        .await;
        assert_eq!(status, 201, "{t}");
        ids.push(t["id"].as_u64().unwrap());
    }
    for id in &ids {
        wait_task(&s, *id, "completed").await;
    }
    stop.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    for (i, (_, _, c, r)) in starts.iter().enumerate() {
        assert_eq!(
            agvs[i].position().unwrap().2,
            node(*c, *r),
            "AGV {} arrived",
            i + 1
        );
    }
    let (_, log) = call(&s, reqwest::Method::GET, "/api/v1/audit?limit=2000", None).await;
    let _ = log;
    for a in agvs {
        a.stop().await;
    }
    s.stop().await;
}

/// Two AGVs head on along one row: the deadlock is resolved by replanning one of them, both
/// arrive, they never come close, and neither ever drives on space not reserved for it.
#[tokio::test]
async fn a_head_on_deadlock_is_resolved_only_with_the_agvs_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let a = driving(&s, 1, 0.0, 2.0).await;
    let b = driving(&s, 2, 16.0, 2.0).await;
    for agv in [&a, &b] {
        agv.driver.as_ref().unwrap().lock().unwrap().speed = 1.5;
    }
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let (stop_held, watch_held) = reservation_monitor(
        s.server.state.clone(),
        vec![
            (1, a.driver.clone().unwrap()),
            (2, b.driver.clone().unwrap()),
        ],
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": node(0, 1), "agv_id": 2 }),
    )
    .await;
    for t in [&ta, &tb] {
        wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    }
    stop.store(true, Ordering::Relaxed);
    stop_held.store(true, Ordering::Relaxed);
    let closest = watch.await.unwrap();
    let checks = watch_held.await.unwrap();
    assert!(
        checks > 100,
        "the reservation monitor ran ({checks} checks)"
    );
    println!("closest approach {closest:.2} m");
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// An AGV whose path is blocked by an idle AGV is replanned around it, but only once it stands
/// at the end of what it was released: while it still drives its released pieces, the space
/// under it stays reserved for it (the reservation monitor fails otherwise).
#[tokio::test]
async fn an_agv_is_replanned_around_a_parked_one_only_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let mover = driving(&s, 1, 0.0, 2.0).await;
    let parked = driving(&s, 2, 10.0, 2.0).await;
    mover.driver.as_ref().unwrap().lock().unwrap().speed = 1.2;
    let (stop, watch) = monitor(
        vec![
            mover.driver.clone().unwrap(),
            parked.driver.clone().unwrap(),
        ],
        1.3,
    );
    let (stop_held, watch_held) = reservation_monitor(
        s.server.state.clone(),
        vec![(1, mover.driver.clone().unwrap())],
    );
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    stop_held.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    assert!(watch_held.await.unwrap() > 100);
    mover.stop().await;
    parked.stop().await;
    s.stop().await;
}

/// An AGV that came out of a lift on floor 3 and an AGV waiting in front of that lift to ride
/// it wait on each other: the deadlock is resolved (one of them goes another way) and both
/// tasks complete.
#[tokio::test]
async fn an_agv_leaving_a_lift_and_one_waiting_for_it_do_not_block_each_other() {
    lift_exit_deadlock(14.0).await;
}

/// The same with the waiting AGV standing off its node (stopped on an edge, moved by hand):
/// it counts as at rest too. (Before: only AGVs on a node did, and this cycle was never
/// broken.)
#[tokio::test]
async fn a_deadlock_with_an_agv_standing_off_its_node_is_resolved() {
    lift_exit_deadlock(13.6).await;
}

async fn lift_exit_deadlock(b_x: f64) {
    let dir = tempfile::tempdir().unwrap();
    let s = lift_server(&dir, 3).await;
    let node = |f: u32, c: u32, r: u32| maps::generate::grid_node(f, 9, c, r);
    // A in the east cabin on floor 3, B just in front of it
    let mut da = Driver::at(16.0, 2.0);
    da.map_id = 3;
    let a = BackgroundAgv::spawn_driving(&s.server, normal_agv(1), da);
    let mut db = Driver::at(b_x, 2.0);
    db.map_id = 3;
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), db);
    let state = s.server.state.clone();
    eventually("both report", || {
        [1, 2].iter().all(|id| {
            state
                .fleet
                .get(*id)
                .is_some_and(|v| v.registered && v.status.is_some())
        })
    })
    .await;
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": node(3, 1, 1), "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": node(2, 5, 1), "agv_id": 2 }),
    )
    .await;
    for t in [&ta, &tb] {
        wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    }
    a.stop().await;
    b.stop().await;
    s.stop().await;
}
