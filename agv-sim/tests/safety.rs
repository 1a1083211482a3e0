//! The safety scenario of issue "no AGV is ever driven into another", sized for CI: 60 AGVs on
//! the three-floor warehouse, tasks to every free node (one in three named for an AGV, so many
//! cross floors by lift), safe-space requests around obstacles; once straight through, once
//! with the server restarted twice while the fleet runs and AGVs coming back at moved poses.
//! The monitor must see no overlap (footprints, lift cabins) and every task must complete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Destinations, Report, RunOptions};
use rcs_server::Config;

mod server;

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f")
}

fn options(serving: &server::Serving, seconds: u64, relocate: f64) -> RunOptions {
    RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![serving.api()],
        token: serving.token.clone(),
        site: site(),
        agvs: 60,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min: 240.0,
        obstacles_per_min: 2.0,
        seed: 11,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(150),
        progress: false,
        destinations: Destinations::Any,
        naming: agv_sim::Naming::Random,
        relocate,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: None,
    }
}

fn assert_safe_and_done(r: &Report) {
    println!("{}", r.table());
    assert_eq!(r.violation_samples, 0, "{}", r.table());
    assert!(r.tasks.submitted >= 20, "{}", r.table());
    assert_eq!(r.tasks.completed, r.tasks.submitted, "{}", r.table());
    assert!(
        r.map_switches > 0,
        "tasks crossed floors by lift: {}",
        r.table()
    );
    assert!(r.errors.is_empty(), "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_agvs_with_lift_rides_never_overlap_and_finish_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site());
    let serving = server::Serving::start(config).await;
    let report = agv_sim::run(options(&serving, 15, 0.0)).await.unwrap();
    serving.stop().await;
    assert_safe_and_done(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_agvs_through_two_restarts_coming_back_at_moved_poses() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site());
    let serving = server::Serving::start(config.clone()).await;
    // the restarted server listens where the first one did
    config.agv_listen = serving.server.agv_addr;
    config.http_listen = serving.server.http_addr;
    let run = tokio::spawn(agv_sim::run(options(&serving, 24, 0.5)));
    let mut serving = Some(serving);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        serving.take().unwrap().stop().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        serving = Some(server::Serving::start(config.clone()).await);
    }
    let report = run.await.unwrap().unwrap();
    serving.take().unwrap().stop().await;
    assert!(report.reconnects >= 60, "{}", report.table());
    assert!(report.relocated > 0, "{}", report.table());
    assert_safe_and_done(&report);
}
