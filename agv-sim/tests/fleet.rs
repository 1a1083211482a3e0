//! End to end: a real rcs-server (temporary SQLite) and a simulated fleet over TCP, tasks
//! through the HTTP API, accelerated time, both modes on both sample sites (12 AGVs on the
//! 40-node demo hall — 50 do not fit — and 50 on the three-floor warehouse, where tasks cross
//! floors by lift: named tasks name any AGV, on any floor). Every task must complete, with zero protocol errors and zero invariant
//! violations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Naming, Report, RunOptions};
use rcs_server::Config;

mod server;

fn site(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../maps/sites")
        .join(name)
}

async fn fleet(
    site_name: &str,
    agvs: usize,
    mode: Mode,
    tasks_per_min: f64,
    seconds: u64,
    churn_per_hour: f64,
    naming: Naming,
) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site(site_name));
    let serving = server::Serving::start(config).await;
    let report = agv_sim::run(RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![serving.api()],
        token: serving.token.clone(),
        site: site(site_name),
        agvs,
        mode,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min,
        obstacles_per_min: 2.0,
        seed: 7,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(40),
        progress: false,
        destinations: Default::default(),
        naming,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour,
        min_status_period_ms: 0,
        vda5050: None,
    })
    .await
    .unwrap();
    serving.stop().await;
    println!("{}", report.table());
    report
}

fn assert_clean(r: &Report) {
    assert!(r.tasks.submitted > 0, "{}", r.table());
    assert_eq!(r.tasks.completed, r.tasks.submitted, "{}", r.table());
    assert!(r.errors.is_empty(), "{}", r.table());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.agvs_connected as usize, r.agvs);
    assert!(r.clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_site_normal_mode() {
    let r = fleet("demo", 12, Mode::Normal, 90.0, 8, 0.0, Naming::SameMap).await;
    assert_clean(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_site_secure_mode() {
    let r = fleet("demo", 12, Mode::Secure, 90.0, 8, 0.0, Naming::SameMap).await;
    assert_clean(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warehouse_50_agvs_secure_mode_cross_floor() {
    let r = fleet(
        "warehouse-3f",
        50,
        Mode::Secure,
        120.0,
        10,
        0.0,
        Naming::Random,
    )
    .await;
    assert_clean(&r);
    assert!(
        r.map_switches > 0,
        "some tasks crossed floors: {}",
        r.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warehouse_50_agvs_normal_mode_cross_floor() {
    let r = fleet(
        "warehouse-3f",
        50,
        Mode::Normal,
        120.0,
        10,
        0.0,
        Naming::Random,
    )
    .await;
    assert_clean(&r);
    assert!(
        r.map_switches > 0,
        "some tasks crossed floors: {}",
        r.table()
    );
}

/// Reconnection churn (`--churn`): every AGV breaks its connection about every 4 s of real time
/// and comes back with its pose (churn ends with the run; those that broke their links last
/// get the backoff to come back before the count); nothing collides, no task fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_site_reconnection_churn() {
    let r = fleet("demo", 12, Mode::Normal, 60.0, 8, 900.0, Naming::SameMap).await;
    assert!(r.churn_drops > 0, "{}", r.table());
    assert!(r.never_came_back.is_empty(), "{}", r.table());
    assert_eq!(r.agvs_connected as usize, r.agvs, "{}", r.table());
    assert!(r.reconnects >= r.churn_drops, "{}", r.table());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.tasks.failed, 0, "{}", r.table());
}

/// Off a terminal (here: standard error is a pipe) `agv-sim run` prints a plain progress line
/// every 10 s instead of the bar nobody sees, so a log or CI shows how the run goes. Without
/// `--site` it drives the site the server runs, loaded through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_a_terminal_progress_comes_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site("demo"));
    let serving = server::Serving::start(config).await;
    let args = [
        "run".to_owned(),
        "--server".to_owned(),
        serving.server.agv_addr.to_string(),
        "--api".to_owned(),
        serving.api(),
        "--token".to_owned(),
        serving.token.clone(),
        // no --site: the server's own, through its API
        "--agvs".to_owned(),
        "3".to_owned(),
        "--duration".to_owned(),
        "12s".to_owned(),
        "--drain".to_owned(),
        "0s".to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_agv-sim"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    serving.stop().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(
        stderr.contains("site: the server's (1 map), from its API"),
        "{stderr}"
    );
    assert_eq!(lines.len(), 1, "{stderr}");
    // (10 s after the start, or a little later on a loaded machine)
    assert!(
        lines[0].starts_with("progress: 1")
            && lines[0]
                .ends_with(" s of 12 s: 3 AGVs connected, tasks 0 open / 0 done, 0 violations"),
        "{stderr}"
    );
}

/// A token the API refuses, or one of too low a role, stops the run before it starts (it was
/// found only at the end, when no task had been submitted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_checked_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site("demo"));
    let serving = server::Serving::start(config).await;
    let viewer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens", serving.api()))
        .bearer_auth(&serving.token)
        .json(&serde_json::json!({ "name": "wall", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = |token: String| {
        agv_sim::run(RunOptions {
            servers: vec![serving.server.agv_addr.to_string()],
            api: vec![serving.api()],
            token,
            site: site("demo"),
            agvs: 2,
            mode: Mode::Normal,
            profile: Profile::Fast,
            duration: Duration::from_secs(30),
            time_scale: 4.0,
            tasks_per_min: 10.0,
            obstacles_per_min: 0.0,
            seed: 7,
            first_id: 1,
            start_after: 0,
            drain: Duration::from_secs(0),
            progress: false,
            destinations: Default::default(),
            naming: Naming::Random,
            relocate: 0.0,
            fail_fast: false,
            churn_per_hour: 0.0,
            min_status_period_ms: 0,
            vda5050: None,
        })
    };
    let started = std::time::Instant::now();
    let Err(refused) = run("rcs_wrong".into()).await else {
        panic!("a refused token ran");
    };
    assert!(refused.to_string().contains("401"), "{refused}");
    let Err(low) = run(viewer["token"].as_str().unwrap().to_owned()).await else {
        panic!("a viewer's token ran tasks");
    };
    assert!(low.to_string().contains("needs operator"), "{low}");
    assert!(started.elapsed() < Duration::from_secs(10), "found late");
    serving.stop().await;
}

/// The server serves the files of the site it runs; written out and read back they are the
/// same files and the same site, and a map path that would leave the directory is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_site_comes_through_its_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site("warehouse-3f"));
    let serving = server::Serving::start(config).await;
    let api = agv_sim::api::Api::new(&serving.api(), &serving.token);
    let served = api.site_files().await.unwrap();
    let on_disk = maps::file::SiteFiles::read(&site("warehouse-3f")).unwrap();
    assert_eq!(served, on_disk);
    assert_eq!(served.maps.len(), 3);
    let out = tempfile::tempdir().unwrap();
    served.write(out.path()).unwrap();
    assert_eq!(maps::file::SiteFiles::read(out.path()).unwrap(), on_disk);
    let loaded = maps::Site::load(out.path()).unwrap();
    let original = maps::Site::load(&site("warehouse-3f")).unwrap();
    assert_eq!(loaded.node_count(), original.node_count());
    assert_eq!(loaded.maps().len(), 3);
    // Without a token: 401, as the rest of the API.
    let anonymous = agv_sim::api::Api::new(&serving.api(), "");
    assert_eq!(
        anonymous.site_files().await.unwrap_err().code(),
        "unauthorized"
    );
    serving.stop().await;

    for hostile in ["../escape.toml", "/tmp/abs.toml", ""] {
        let mut files = on_disk.clone();
        files.maps[0].0 = std::path::PathBuf::from(hostile);
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("site");
        assert!(files.write(&target).is_err(), "{hostile:?} written");
        assert!(!target.exists(), "nothing written for {hostile:?}");
        assert!(!out.path().join("escape.toml").exists());
    }
}
