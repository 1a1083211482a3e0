//! Failover end to end (docs/protocol.md 4.4): simulated AGVs given several RCS addresses.
//! The first address is a closed port: they end up on the second. The only address is a
//! standby (a bare listener answering with `protocol::session::not_active_frame`): they are
//! redirected to the real server at once. The server they are on stops: they go on to the next
//! address of the list it pushed. Every time no AGV stays away and nothing is reported wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use agv_sim::{Report, RunOptions};
use bytes::BytesMut;
use protocol::address::RcsAddress;
use protocol::frame::FrameDecoder;
use rcs_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod server;

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/demo")
}

fn options(servers: Vec<String>, api: String, token: String, seconds: u64) -> RunOptions {
    RunOptions {
        servers,
        api: vec![api],
        token,
        site: site(),
        agvs: 6,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min: 0.0,
        obstacles_per_min: 0.0,
        seed: 3,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(5),
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

fn assert_all_back(r: &Report) {
    assert_eq!(r.agvs_connected as usize, r.agvs, "{}", r.table());
    assert!(r.never_came_back.is_empty(), "{}", r.table());
    assert!(r.never_connected.is_empty(), "{}", r.table());
    assert!(r.errors.is_empty(), "{}", r.table());
    assert!(r.violations.is_empty(), "{}", r.table());
    assert!(r.clean(), "{}", r.table());
}

/// A port nothing listens on.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr.to_string()
}

/// A standby RCS instance: reads each AGV's first frame (its access request) and answers it
/// with `Close` (`NotActive`) naming `active`. Counts the AGVs it refused.
async fn standby(active: RcsAddress) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused = Arc::new(AtomicU64::new(0));
    let count = refused.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let active = active.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                let mut decoder = FrameDecoder::default();
                let first = loop {
                    if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if let Ok(Some(frame)) = decoder.decode(&mut buf) {
                        break frame;
                    }
                };
                let now = agv_sim::agv::now_ms();
                let close =
                    protocol::session::not_active_frame(first.header.agv_id, now, Some(&active))
                        .unwrap();
                let _ = stream.write_all(&close).await;
                let _ = stream.shutdown().await;
                count.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    (addr, refused)
}

fn config(dir: &Path) -> Config {
    let mut config = Config::for_tests(dir);
    config.site = Some(site());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_first_address_sends_the_agvs_to_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let serving = server::Serving::start(config(dir.path())).await;
    let servers = vec![closed_port().await, serving.server.agv_addr.to_string()];
    let report = agv_sim::run(options(servers, serving.api(), serving.token.clone(), 3))
        .await
        .unwrap();
    serving.stop().await;
    println!("{}", report.table());
    assert_all_back(&report);
    assert_eq!(report.disconnects, 0, "{}", report.table());
    assert_eq!(report.redirects, 0, "{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_redirects_the_agvs_to_the_active_server() {
    let dir = tempfile::tempdir().unwrap();
    let serving = server::Serving::start(config(dir.path())).await;
    let active: RcsAddress = serving.server.agv_addr.to_string().parse().unwrap();
    let (standby, refused) = standby(active).await;
    let report = agv_sim::run(options(
        vec![standby],
        serving.api(),
        serving.token.clone(),
        3,
    ))
    .await
    .unwrap();
    serving.stop().await;
    println!("{}", report.table());
    assert_all_back(&report);
    assert_eq!(report.redirects, 6, "{}", report.table());
    assert_eq!(refused.load(Ordering::Relaxed), 6);
    assert_eq!(report.disconnects, 0, "{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_their_server_stops_the_agvs_go_on_along_the_pushed_list() {
    // two independent servers; the first pushes the list [first, second]
    let dir_b = tempfile::tempdir().unwrap();
    let b = server::Serving::start(config(dir_b.path())).await;
    let dir_a = tempfile::tempdir().unwrap();
    let mut config_a = config(dir_a.path());
    let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_addr = a_listener.local_addr().unwrap();
    drop(a_listener);
    config_a.agv_listen = a_addr;
    config_a.rcs_addresses = vec![
        a_addr.to_string().parse().unwrap(),
        b.server.agv_addr.to_string().parse().unwrap(),
    ];
    let a = server::Serving::start(config_a).await;
    // the AGVs know only the first server: the second comes with its configuration
    let run = tokio::spawn(agv_sim::run(options(
        vec![a.server.agv_addr.to_string()],
        b.api(),
        b.token.clone(),
        8,
    )));
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.stop().await;
    let report = run.await.unwrap().unwrap();
    b.stop().await;
    println!("{}", report.table());
    assert_all_back(&report);
    assert_eq!(report.disconnects, 6, "{}", report.table());
    assert_eq!(report.reconnects, 6, "{}", report.table());
    let longest = report.offline.values().map(|o| o.max_s).fold(0.0, f64::max);
    assert!(longest > 0.0 && longest < 3.0, "{}", report.table());
}
