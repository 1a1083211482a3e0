//! Mixed fleets end to end (issue "VDA 5050 vehicles in the same fleet"): guide AGVs on the
//! binary protocol and VDA 5050 vehicles of two versions (2.0 and 3.0) over MQTT, on one site,
//! with tasks to every free node so their paths cross; and on the three-floor warehouse, where
//! VDA 5050 vehicles ride lifts (`initPosition` on the target floor, the drive after it a new
//! order). The monitor must see no overlap and every task must complete. The broker is the one
//! at 127.0.0.1:1883 (Mosquitto runs on every machine of this project), otherwise the server's
//! embedded broker.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Destinations, Report, RunOptions, VdaFleet};
use rcs_server::Config;
use vda5050::version::Version;

mod server;

fn site(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../maps/sites")
        .join(name)
}

/// A server for `site` with the gateway on: Mosquitto when it is there, otherwise the server's
/// embedded broker on a free port; the gateway on an interface of the run's own (nothing
/// retained by another run reaches this one). Returns the broker's port and the interface.
fn config(dir: &Path, site: &Path) -> (Config, u16, String) {
    let mut config = Config::for_tests(dir);
    config.site = Some(site.to_owned());
    let port = server::mqtt_broker(&mut config);
    // (the tests of this file run at once: each its own, named for its site)
    let site_name = site.file_name().unwrap().to_string_lossy();
    let interface = format!(
        "rcs-test-{site_name}-{}-{}",
        std::process::id(),
        rcs_server::state::now_ms()
    );
    config.vda5050_interface = interface.clone();
    (config, port, interface)
}

/// `guide` guide AGVs and `vehicles` VDA 5050 vehicles (2.0 and 3.0 in turn) on `site`.
#[allow(clippy::too_many_arguments)]
fn options(
    serving: &server::Serving,
    site: PathBuf,
    guide: usize,
    vehicles: usize,
    seconds: u64,
    port: u16,
    interface: String,
) -> RunOptions {
    RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![serving.api()],
        token: serving.token.clone(),
        site,
        agvs: guide,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min: 120.0,
        obstacles_per_min: 0.0,
        seed: 5,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(90),
        progress: false,
        destinations: Destinations::Any,
        naming: agv_sim::Naming::Random,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: Some(VdaFleet {
            vehicles,
            broker: ("127.0.0.1".to_owned(), port),
            interface,
            versions: vec![Version::V2_0, Version::V3_0],
        }),
    }
}

fn assert_safe_and_done(report: &Report) {
    println!("{}", report.table());
    assert_eq!(report.violation_samples, 0, "{}", report.table());
    assert!(report.tasks.submitted >= 10, "{}", report.table());
    assert_eq!(
        report.tasks.completed,
        report.tasks.submitted,
        "{}",
        report.table()
    );
    assert!(report.errors.is_empty(), "{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_agvs_and_vda5050_vehicles_of_two_versions_share_the_space_and_finish_every_task() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let (config, port, interface) = config(dir.path(), &site("demo"));
    let serving = server::Serving::start(config).await;
    let options = options(&serving, site("demo"), 4, 4, 20, port, interface);
    let run = tokio::spawn(agv_sim::run(options));
    // while the fleet runs: the API lists the vehicles with the ids the fleet gave them, and
    // the fleet shows each session's protocol
    tokio::time::sleep(Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    let vehicles: serde_json::Value = http
        .get(format!("{}/api/v1/vda5050/vehicles", serving.api()))
        .bearer_auth(&serving.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agvs: serde_json::Value = http
        .get(format!("{}/api/v1/agvs", serving.api()))
        .bearer_auth(&serving.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report = run.await.unwrap().unwrap();
    serving.stop().await;
    let ids: Vec<u64> = vehicles
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["agv_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![5, 6, 7, 8], "{vehicles}");
    let protocols: Vec<String> = agvs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["session"]["protocol"].as_str().map(str::to_owned))
        .collect();
    for p in ["guide", "vda5050/2.0", "vda5050/3.0"] {
        assert!(protocols.iter().any(|x| x == p), "{p} in {protocols:?}");
    }
    assert_safe_and_done(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vda5050_vehicles_ride_lifts_beside_guide_agvs_on_three_floors() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let site = site("warehouse-3f");
    let (config, port, interface) = config(dir.path(), &site);
    let serving = server::Serving::start(config).await;
    let options = options(&serving, site, 6, 6, 20, port, interface);
    let report = agv_sim::run(options).await.unwrap();
    serving.stop().await;
    assert_safe_and_done(&report);
    assert!(
        report.vda5050_map_switches > 0,
        "VDA 5050 vehicles crossed floors by lift: {}",
        report.table()
    );
    assert!(
        report.map_switches > report.vda5050_map_switches,
        "and guide AGVs too: {}",
        report.table()
    );
}
