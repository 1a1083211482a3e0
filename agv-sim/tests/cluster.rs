//! Two rcs-server instances of one site as separate OS processes on one throwaway PostgreSQL
//! database (docs/architecture.md, "Several instances"), under a simulated fleet given both AGV
//! addresses and both API URLs, with tasks flowing:
//!
//! - the active instance is killed (SIGKILL): the standby takes over, every AGV comes back,
//!   every task the API accepted is known to the new active instance and finished, nothing
//!   overlaps;
//! - the active instance is paused (SIGSTOP) past its lease, the standby takes over and the
//!   AGVs come back there, then the paused one resumes (SIGCONT): a zombie leader. It steps
//!   down, sends the AGVs it still has connections to no command, grant or session, and no
//!   decision row it wrote after the takeover is in the database.
//!
//! Each instance is this test binary run again ([`child_instance`], [`server::process`]), so
//! no other binary needs building; it dies with its [`Instance`].
//! Without PostgreSQL at 127.0.0.1:5432 the tests say "skipped" and pass.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Report, RunOptions};
use bytes::BytesMut;
use protocol::frame::FrameDecoder;
use serde_json::Value;
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod server;
use server::free_port;
use server::process::Instance;

const TOKEN: &str = "cluster-test-token";
const AGVS: usize = 10;
/// Long enough that an instance starved of CPU on a 2-core CI machine (two debug-build
/// servers, the fleet and PostgreSQL) rarely misses a renewal; the tests still tolerate b
/// retaking its own lease after a missed one.
const LEASE_MS: u64 = 2_000;

/// The two tests share the machine's cores: one at a time, so leases are not lost to a starved
/// scheduler.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// In a child process: an instance ([`server::process`]). Elsewhere: nothing.
#[test]
fn child_instance() {
    server::process::child_main();
}

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/demo")
}

/// Starts instance `name` on the database at `url` (tagged with the name, PostgreSQL's
/// `application_name`), listening on `agv` and `http`, advertising `advertise` to AGVs and
/// pushing them `addresses`.
fn start(
    name: &'static str,
    url: &str,
    (agv, http): (SocketAddr, SocketAddr),
    advertise: SocketAddr,
    addresses: &[SocketAddr],
) -> Instance {
    let list = addresses
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Instance::start(name, http, TOKEN, |dir| {
        [
            "--database-url",
            &format!("{url}?application_name=rcs-{name}"),
            "--data-dir",
            dir.to_str().unwrap(),
            "--site",
            &site().display().to_string(),
            "--api-token",
            TOKEN,
            "--lease-ms",
            &LEASE_MS.to_string(),
            "--instance-id",
            name,
            "--agv-listen",
            &agv.to_string(),
            "--http-listen",
            &http.to_string(),
            "--advertise-agv",
            &advertise.to_string(),
            "--rcs-addresses",
            &list,
        ]
        .map(str::to_owned)
        .to_vec()
    })
}

/// A TCP relay in front of an instance's AGV port that behaves like a network partition when
/// an AGV gives its connection up: the instance's side of it stays open (the instance does not
/// learn of it), and once [`Relay::watch`] is called every frame the instance sends on any
/// connection is recorded by message type.
struct Relay {
    addr: SocketAddr,
    watching: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let watching = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (w, s) = (watching.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((agv, _)) = listener.accept().await {
                let Ok(rcs) = TcpStream::connect(target).await else {
                    continue;
                };
                tokio::spawn(relay(agv, rcs, w.clone(), s.clone()));
            }
        });
        Self {
            addr,
            watching,
            seen,
        }
    }

    /// Records every frame the instance sends from now on.
    fn watch(&self) {
        self.watching.store(true, Ordering::SeqCst);
    }

    /// The message types of the frames recorded.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// One relayed connection: AGV → instance until the AGV side ends (the instance's side is not
/// shut down), instance → AGV (recording frames while `watching`) until the instance closes.
async fn relay(
    agv: TcpStream,
    rcs: TcpStream,
    watching: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let (mut agv_read, mut agv_write) = agv.into_split();
    // tokio::io::split: dropping the write half does not shut the connection down
    let (mut rcs_read, mut rcs_write) = tokio::io::split(rcs);
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match agv_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if rcs_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        rcs_write // kept open: the instance sees no end of the connection
    });
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut decoder = FrameDecoder::default();
    let mut agv_gone = false;
    loop {
        let before = buf.len();
        match rcs_read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !agv_gone && agv_write.write_all(&buf[before..]).await.is_err() {
            agv_gone = true;
        }
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            if watching.load(Ordering::SeqCst) {
                let t = frame.header.message_type;
                seen.lock().unwrap().push(
                    t.name()
                        .map_or_else(|| format!("{:#06x}", t.0), str::to_owned),
                );
            }
        }
    }
    up.abort();
}

fn options(servers: Vec<String>, api: Vec<String>, seconds: u64) -> RunOptions {
    RunOptions {
        servers,
        api,
        token: TOKEN.into(),
        site: site(),
        agvs: AGVS,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min: 90.0,
        obstacles_per_min: 1.0,
        seed: 5,
        first_id: 1,
        start_after: 0,
        // (ends as soon as every task has ended: a run that passes does not wait it out)
        drain: Duration::from_secs(60),
        progress: false,
        destinations: Default::default(),
        naming: agv_sim::Naming::SameMap,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: None,
    }
}

/// Prints what each instance says of itself and of the tasks not ended, and its log's end.
async fn explain_open(instances: &[&Instance]) {
    for i in instances {
        let cluster = i.cluster().await;
        let open: Vec<Value> = match i.get("/api/v1/tasks").await {
            Some((_, Value::Array(tasks))) => tasks
                .into_iter()
                .filter(|t| {
                    !matches!(
                        t["state"].as_str(),
                        Some("completed" | "failed" | "cancelled")
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        eprintln!(
            "--- {}: cluster {cluster:?}\nopen tasks {}\n{}",
            i.name,
            serde_json::to_string(&open).unwrap_or_default(),
            i.log_tail()
        );
    }
}

/// Every AGV back and connected, nothing overlapping, no task open, none lost, none refused.
fn assert_fleet_whole(r: &Report) {
    let t = r.table();
    assert_eq!(r.agvs_connected as usize, AGVS, "{t}");
    assert!(r.never_came_back.is_empty(), "{t}");
    assert!(r.never_connected.is_empty(), "{t}");
    assert!(r.violations.is_empty() && r.violation_samples == 0, "{t}");
    assert!(r.tasks.accounted(), "{t}");
    assert!(r.tasks.submitted > 0, "{t}");
    assert_eq!(r.tasks.open, 0, "{t}");
    assert_eq!(r.tasks.refused(), 0, "{t}");
    assert!(
        !r.tasks.failed_reasons.contains_key("unknown to the server"),
        "a task the API accepted was lost: {t}"
    );
    assert!(r.api_failovers >= 1, "the business system followed: {t}");
}

/// Every task of the run as the active instance knows it: each submitted one (the run's
/// references) is there once and finished, a failed one with its reason.
async fn assert_tasks_known(active: &Instance, r: &Report) {
    let (code, tasks) = active.get("/api/v1/tasks").await.unwrap();
    assert_eq!(code, 200, "{tasks}");
    let ours: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("agv-sim-"))
        })
        .collect();
    assert_eq!(ours.len() as u64, r.tasks.submitted, "{tasks}");
    for t in &ours {
        match t["state"].as_str() {
            Some("completed") => {}
            Some("failed") => assert!(
                t["error"].as_str().is_some_and(|e| !e.is_empty()),
                "a failed task says why: {t}"
            ),
            _ => panic!("a task not finished: {t}"),
        }
    }
    assert_eq!(
        ours.iter().filter(|t| t["state"] == "completed").count() as u64,
        r.tasks.completed,
        "{}",
        r.table()
    );
}

/// Addresses of two instances: (AGV, HTTP) each.
fn addresses() -> [(SocketAddr, SocketAddr); 2] {
    [(free_port(), free_port()), (free_port(), free_port())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_from_a_killed_active_instance_and_nothing_is_lost() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((db, url)) = server::postgres::throwaway("the kill -9 test", "kill").await else {
        return;
    };
    db.close().await;
    let [pa, pb] = addresses();
    let agv = [pa.0, pb.0];
    let mut a = start("a", &url, pa, pa.0, &agv);
    a.wait_role("active", Duration::from_secs(30)).await;
    let b = start("b", &url, pb, pb.0, &agv);
    b.wait_role("standby", Duration::from_secs(30)).await;

    let run = tokio::spawn(agv_sim::run(options(
        agv.iter().map(SocketAddr::to_string).collect(),
        vec![a.api(), b.api()],
        10,
    )));
    a.wait_online(AGVS as u64, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = Instant::now();
    a.kill9();
    let status = b.wait_role("active", Duration::from_secs(15)).await;
    assert_eq!(status["epoch"], 2, "{status}");
    let took_over = killed.elapsed();
    b.wait_online(AGVS as u64, Duration::from_secs(30)).await;
    eprintln!(
        "b active {took_over:?} after the kill, every AGV back {:?} after it",
        killed.elapsed()
    );
    let report = run.await.unwrap().unwrap();
    println!("{}", report.table());
    assert_fleet_whole(&report);
    assert_tasks_known(&b, &report).await;
    drop(b);
    server::postgres::drop(&url).await;
}

/// The lines of `instance`'s log about its lease, headed by its name.
fn lease_lines(instance: &Instance) -> String {
    let log = instance.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lease") || l.contains("stepping") || l.contains("active"))
        .collect();
    format!(
        "--- {} log, lease lines ---\n{}",
        instance.name,
        lines.join("\n")
    )
}

/// Records every committed write to the decision tables (who wrote it: the connection's
/// `application_name`; under which lease epoch; when, by the database's clock) and every
/// change of the lease's epoch.
const AUDIT: &str = "\
CREATE TABLE decision_audit (at BIGINT, app TEXT, epoch BIGINT, tbl TEXT);
CREATE TABLE epoch_audit (at BIGINT, epoch BIGINT, holder TEXT);
CREATE FUNCTION audit_decision() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO decision_audit VALUES ((extract(epoch from clock_timestamp()) * 1000)::bigint,
    current_setting('application_name'), (SELECT max(epoch) FROM leases), TG_TABLE_NAME);
  RETURN NULL; END $$;
CREATE FUNCTION audit_epoch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  IF TG_OP = 'INSERT' OR OLD.epoch <> NEW.epoch THEN
    INSERT INTO epoch_audit VALUES ((extract(epoch from clock_timestamp()) * 1000)::bigint,
      NEW.epoch, NEW.holder);
  END IF;
  RETURN NULL; END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON tasks
  FOR EACH ROW EXECUTE FUNCTION audit_decision();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON task_steps
  FOR EACH ROW EXECUTE FUNCTION audit_decision();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON reservations
  FOR EACH ROW EXECUTE FUNCTION audit_decision();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON grants
  FOR EACH ROW EXECUTE FUNCTION audit_decision();
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON leases
  FOR EACH ROW EXECUTE FUNCTION audit_epoch();";

/// Frames an instance must not send once another has taken over: commands, grants, sessions.
const DECISIONS: [&str; 11] = [
    "AccessResponse",
    "RegisterResponse",
    "ConfigPush",
    "ParamSet",
    "MotionCommand",
    "TaskControl",
    "ChargeControl",
    "NavSwitch",
    "MapSwitch",
    "SpaceGrant",
    "SpaceRevoke",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_active_instance_resumes_as_a_zombie_and_steps_down_without_acting() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((db, url)) = server::postgres::throwaway("the zombie test", "zombie").await else {
        return;
    };
    db.execute_raw(AUDIT).await.unwrap();
    db.close().await;
    let [pa, pb] = addresses();
    // the AGVs reach a through the relay (advertised and pushed), b directly
    let relay = Relay::start(pa.0).await;
    let agv = [relay.addr, pb.0];
    let a = start("a", &url, pa, relay.addr, &agv);
    let status = a.wait_role("active", Duration::from_secs(30)).await;
    let epoch = status["epoch"].as_i64().unwrap();
    let b = start("b", &url, pb, pb.0, &agv);
    b.wait_role("standby", Duration::from_secs(30)).await;

    let run = tokio::spawn(agv_sim::run(options(
        agv.iter().map(SocketAddr::to_string).collect(),
        vec![a.api(), b.api()],
        14,
    )));
    a.wait_online(AGVS as u64, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let paused = Instant::now();
    a.signal("STOP");
    let status = b.wait_role("active", Duration::from_secs(15)).await;
    assert_eq!(status["epoch"].as_i64(), Some(epoch + 1), "{status}");
    let took_over = paused.elapsed();
    b.wait_online(AGVS as u64, Duration::from_secs(30)).await;
    eprintln!(
        "b active {took_over:?} after the pause, every AGV back {:?} after it",
        paused.elapsed()
    );
    // the zombie wakes up with its AGV connections seemingly open
    relay.watch();
    let resumed = Instant::now();
    a.signal("CONT");
    let status = a.wait_role("standby", Duration::from_secs(5)).await;
    eprintln!("a standby {:?} after it resumed", resumed.elapsed());
    assert_eq!(status["holder"]["id"], "b", "{status}");
    let report = run.await.unwrap().unwrap();
    println!("{}", report.table());
    if report.tasks.open > 0 {
        explain_open(&[&a, &b]).await;
    }
    assert_fleet_whole(&report);
    assert_tasks_known(&b, &report).await;
    let (a_now, b_now) = (a.cluster().await.unwrap(), b.cluster().await.unwrap());
    assert_eq!(b_now["role"], "active", "b is active: {b_now}");
    assert_eq!(b_now["holder"]["id"], "b", "{b_now}");
    assert_eq!(
        (a_now["role"].as_str(), a_now["terms"].as_u64()),
        (Some("standby"), Some(1)),
        "a never took the lease again: {a_now}"
    );

    // a sent nothing that decides: no command, grant or session
    let seen = relay.seen();
    eprintln!("frames a sent after it resumed: {seen:?}");
    assert!(
        seen.iter().all(|t| !DECISIONS.contains(&t.as_str())),
        "the zombie acted: {seen:?}\n{}",
        a.log_tail()
    );
    // and wrote no decision after b took over: every row it wrote was under its own epoch,
    // before the takeover
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // every term after the takeover was b's: b may have missed a renewal on a starved
    // machine and taken its own lease again (a new epoch, its AGVs reconnecting), which
    // is allowed; a never held the lease again
    let terms: Vec<(i64, String)> =
        sqlx::query_as("SELECT epoch, holder FROM epoch_audit WHERE epoch > $1 ORDER BY at")
            .bind(epoch)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(terms.first().map(|t| t.0), Some(epoch + 1), "{terms:?}");
    assert!(
        terms.iter().all(|(_, holder)| holder == "b"),
        "only b held the lease after the takeover: {terms:?}\n{}\n{}",
        lease_lines(&b),
        lease_lines(&a)
    );
    if terms.len() > 1 {
        eprintln!(
            "b took its lease again {} time(s) (a renewal missed on a starved machine):\n{}",
            terms.len() - 1,
            lease_lines(&b)
        );
    }
    let takeover: i64 = sqlx::query("SELECT at FROM epoch_audit WHERE epoch = $1")
        .bind(epoch + 1)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(sql)
                .bind(takeover)
                .bind(epoch)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    };
    let before =
        count("SELECT count(*) FROM decision_audit WHERE app = 'rcs-a' AND at < $1 AND epoch = $2")
            .await;
    let stray = count(
        "SELECT count(*) FROM decision_audit WHERE app = 'rcs-a' AND (at >= $1 OR epoch <> $2)",
    )
    .await;
    let by_b = count(
        "SELECT count(*) FROM decision_audit WHERE app = 'rcs-b' AND at >= $1 AND epoch > $2",
    )
    .await;
    eprintln!("decision rows: a {before} before the takeover, {stray} after; b {by_b}");
    assert!(
        before > 0 && by_b > 0,
        "both wrote decisions: {before}, {by_b}"
    );
    assert_eq!(stray, 0, "the zombie wrote decisions after the takeover");
    pool.close().await;
    drop((a, b));
    server::postgres::drop(&url).await;
}
