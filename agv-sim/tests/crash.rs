//! Crash safety, sized for CI (docs/operations.md "Crash safety"; `scripts/fleet-restarts` is
//! the long run): a fleet of 20 AGVs with tasks and safe-space requests on the three-floor
//! warehouse while the server, an OS process, is killed (SIGKILL) at seeded random moments three
//! times and started again on the same data. Then:
//!
//! - every AGV came back after each restart and is connected at the end;
//! - every task the API accepted ended (completed, or failed with a reason) and none was lost;
//! - every grant an AGV received is stored for it, and ended or still held;
//! - nothing overlapped: the fleet's monitor saw no violation, the server no intrusion;
//! - after a graceful stop the database is consistent ([`rcs_server::db::Db::check`]: the
//!   engine's own check, sessions closed, no row referring to a missing one).
//!
//! Once on SQLite, once on PostgreSQL (a throwaway database; the test says SKIPPED without one
//! at 127.0.0.1:5432). The server is this test binary run again ([`server::process`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Destinations, Report, RunOptions};
use rcs_server::db::{Acknowledged, Db};

mod server;
use server::free_port;
use server::process::Instance;

const TOKEN: &str = "crash-test-token";
const AGVS: usize = 20;
const KILLS: usize = 3;
/// The mean time between kills: each comes uniformly within half of it to one and a half.
const EVERY: Duration = Duration::from_secs(4);
const SEED: u64 = 7;

/// The two tests share the machine's cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// In a child process: the server ([`server::process`]). Elsewhere: nothing.
#[test]
fn child_instance() {
    server::process::child_main();
}

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f")
}

/// The kill moments: `KILLS` pauses, each uniform in [EVERY / 2, 3 EVERY / 2), from `seed`.
fn pauses(seed: u64) -> Vec<Duration> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..KILLS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            EVERY.mul_f64(0.5 + (x % 1_000_000) as f64 / 1_000_000.0)
        })
        .collect()
}

/// Where the server listens and what it stores in.
struct Setup {
    agv: SocketAddr,
    http: SocketAddr,
    /// The database options (`--data-dir`, `--database-url`, ...).
    db_args: Vec<String>,
    /// The database's URL (for the check).
    url: String,
    /// PostgreSQL: the role of a running instance is `active`, else `single`.
    postgres: bool,
}

impl Setup {
    fn start(&self) -> Instance {
        let (agv, http) = (self.agv, self.http);
        let db_args = self.db_args.clone();
        Instance::start("rcs", http, TOKEN, |_| {
            let mut args: Vec<String> = [
                "--site",
                &site().display().to_string(),
                "--api-token",
                TOKEN,
                "--agv-listen",
                &agv.to_string(),
                "--http-listen",
                &http.to_string(),
            ]
            .map(str::to_owned)
            .to_vec();
            args.extend(db_args);
            args
        })
    }

    async fn wait_serving(&self, s: &Instance) {
        let role = if self.postgres { "active" } else { "single" };
        s.wait_role(role, Duration::from_secs(30)).await;
    }
}

fn options(setup: &Setup, seconds: u64) -> RunOptions {
    RunOptions {
        servers: vec![setup.agv.to_string()],
        api: vec![format!("http://{}", setup.http)],
        token: TOKEN.into(),
        site: site(),
        agvs: AGVS,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min: 60.0,
        obstacles_per_min: 2.0,
        seed: SEED,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(40),
        progress: false,
        destinations: Destinations::Any,
        naming: agv_sim::Naming::Random,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: None,
    }
}

/// The fleet runs while the server is killed `KILLS` times and started again; then the checks.
async fn crash_run(setup: Setup) {
    let mut server = setup.start();
    setup.wait_serving(&server).await;
    let seconds = pauses(SEED).iter().sum::<Duration>().as_secs() + 4;
    let run = tokio::spawn(agv_sim::run(options(&setup, seconds)));
    server
        .wait_online(AGVS as u64, Duration::from_secs(30))
        .await;
    let mut logs = String::new();
    for (k, pause) in pauses(SEED).into_iter().enumerate() {
        tokio::time::sleep(pause).await;
        server.kill9();
        let killed = Instant::now();
        logs.push_str(&server.log());
        server = setup.start();
        setup.wait_serving(&server).await;
        let serving = killed.elapsed();
        server
            .wait_online(AGVS as u64, Duration::from_secs(30))
            .await;
        eprintln!(
            "kill {}: serving again {serving:?} after it, every AGV back {:?} after it",
            k + 1,
            killed.elapsed()
        );
    }
    let report: Report = run.await.unwrap().unwrap();
    let stopped = server.stop(Duration::from_secs(20));
    logs.push_str(&server.log());
    println!("{}", report.table());
    assert!(stopped, "a graceful stop\n{}", server.log_tail());

    let problems = report.recovery_problems();
    assert!(problems.is_empty(), "{problems:#?}\n{}", report.table());
    assert!(
        report.reconnects >= (AGVS * KILLS) as u64,
        "every AGV came back after every kill: {}",
        report.table()
    );
    assert!(
        !report.acknowledged.grants.is_empty(),
        "grants were given: {}",
        report.table()
    );
    assert!(
        !logs.contains("footprint overlaps") && !logs.contains("panicked"),
        "no intrusion, no panic:\n{logs}"
    );

    let db = Db::open_in(&setup.url, None).await.unwrap();
    let mut findings = db.check().await.unwrap();
    let ack: Acknowledged =
        serde_json::from_value(serde_json::to_value(&report.acknowledged).unwrap()).unwrap();
    db.check_acknowledged(&ack, true, &mut findings)
        .await
        .unwrap();
    db.close().await;
    println!("{}", findings.text());
    assert!(findings.ok(), "{}", findings.text());
    let figure = |name: &str| findings.figures.get(name).copied().unwrap_or(0);
    assert_eq!(
        figure("acknowledged tasks"),
        report.tasks.submitted as i64,
        "{}",
        findings.text()
    );
    assert_eq!(figure("safety episodes in the audit log"), 0);
    assert!(
        figure("sessions closed by a start after a crash") >= AGVS as i64,
        "each start closed the sessions its crashed predecessor left open: {}",
        findings.text()
    );
    if setup.postgres {
        assert!(
            figure("postgresql indexes checked (bt_index_check)") > 0,
            "{}",
            findings.text()
        );
    } else {
        assert_eq!(figure("sqlite integrity_check ok"), 1);
        assert_eq!(figure("sqlite telemetry file integrity_check ok"), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_survives_three_kills_of_its_server_on_sqlite() {
    let _one = ONE_AT_A_TIME.lock().await;
    let data = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("rcs.sqlite").display()
    );
    crash_run(Setup {
        agv: free_port(),
        http: free_port(),
        db_args: vec!["--data-dir".into(), data.path().display().to_string()],
        url,
        postgres: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_survives_three_kills_of_its_server_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((db, url)) = server::postgres::throwaway("the PostgreSQL crash test", "crash").await
    else {
        return;
    };
    // the engine's own check of tables and indexes
    db.execute_raw("CREATE EXTENSION IF NOT EXISTS amcheck")
        .await
        .unwrap();
    db.close().await;
    let data = tempfile::tempdir().unwrap();
    crash_run(Setup {
        agv: free_port(),
        http: free_port(),
        db_args: [
            "--data-dir",
            &data.path().display().to_string(),
            "--database-url",
            &url,
            "--lease-ms",
            "1000",
        ]
        .map(str::to_owned)
        .to_vec(),
        url: url.clone(),
        postgres: true,
    })
    .await;
    server::postgres::drop(&url).await;
}
