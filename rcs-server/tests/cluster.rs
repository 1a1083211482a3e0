//! Several instances on one PostgreSQL (127.0.0.1:5432, a throwaway database per test; each test
//! says SKIPPED when none answers): the lease and its fencing epoch, the database's own refusal
//! of overlapping space, and two servers handing the active role over.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rcs_server::Config;
use rcs_server::lease::{Identity, Lease};
use serde_json::Value;

fn me(id: &str) -> Identity {
    Identity {
        id: id.into(),
        agv_address: format!("{id}:7700"),
        http_address: format!("{id}:8080"),
    }
}

#[tokio::test]
async fn a_newer_epoch_fences_the_old_holder_and_overlapping_space_is_refused() {
    let Some((db, url)) = support::postgres::throwaway("the fencing test", "fence").await else {
        return;
    };
    let a = Lease::new(db.clone(), "site", me("a"), 60_000);
    let b = Lease::new(db.clone(), "site", me("b"), 60_000);
    assert_eq!(a.try_acquire().await.unwrap(), Some(1));
    assert_eq!(b.try_acquire().await.unwrap(), None, "the lease is held");
    assert_eq!(a.try_acquire().await.unwrap(), None, "not twice either");
    let holder = b.holder().await.unwrap().unwrap();
    assert_eq!((holder.who.id.as_str(), holder.epoch), ("a", 1));
    assert!(holder.expires_in_ms > 50_000);
    assert!(a.renew(1).await.unwrap());
    assert!(!b.renew(1).await.unwrap(), "b does not hold it");

    let fence_a = a.fence(1);
    let db_a = db.fenced(fence_a.clone());
    db_a.insert_reservations(1, 1, 10, &[100, 101], &[Some([0.0, 0.0, 1.0, 1.0]), None])
        .await
        .unwrap();
    // The same AGV may hold overlapping pieces; another may not, nor the same piece.
    db_a.insert_reservations(1, 1, 10, &[102], &[Some([0.5, 0.5, 1.5, 1.5])])
        .await
        .unwrap();
    assert!(
        db_a.insert_reservations(2, 1, 11, &[200], &[Some([0.5, 0.5, 1.5, 1.5])])
            .await
            .is_err(),
        "overlapping another AGV's space on the same map"
    );
    assert!(
        db_a.insert_reservations(2, 1, 11, &[100], &[Some([9.0, 9.0, 10.0, 10.0])])
            .await
            .is_err(),
        "a piece another AGV holds"
    );
    // Touching (within the 1 cm tolerance) and other maps are fine.
    db_a.insert_reservations(2, 1, 11, &[201], &[Some([1.495, 0.0, 2.5, 1.0])])
        .await
        .unwrap();
    db_a.insert_reservations(3, 2, 12, &[100], &[Some([0.0, 0.0, 1.0, 1.0])])
        .await
        .unwrap();
    let held = db.reservations().await.unwrap();
    assert_eq!(held.len(), 5, "{held:?}");
    assert!(!held.iter().any(|r| r.2 == 200));

    // b takes over once the lease lapsed: a's writes are refused from then on.
    db.execute_raw("UPDATE leases SET expires_at = 0")
        .await
        .unwrap();
    assert_eq!(b.try_acquire().await.unwrap(), Some(2));
    assert!(!a.renew(1).await.unwrap(), "a's renewal is refused");
    let err = db_a
        .insert_reservations(1, 1, 10, &[300], &[Some([50.0, 50.0, 51.0, 51.0])])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fenced"), "{err}");
    assert!(fence_a.is_lost());
    assert!(db_a.release_reservations(1, &[]).await.is_err());
    assert_eq!(
        db.reservations().await.unwrap().len(),
        5,
        "nothing written or deleted under the old epoch"
    );
    let db_b = db.fenced(b.fence(2));
    db_b.insert_reservations(4, 1, 13, &[300], &[Some([50.0, 50.0, 51.0, 51.0])])
        .await
        .unwrap();
    db_b.release_reservations(1, &[]).await.unwrap();
    // Given up on a clean shutdown: the next taker does not wait.
    b.release(2).await.unwrap();
    assert_eq!(a.try_acquire().await.unwrap(), Some(3));
    db.close().await;
    support::postgres::drop(&url).await;
}

/// What an RCS answers an AGV's first frame with, if it is `Close(NotActive)`: the active
/// instance it names ("" for none).
async fn redirect_of(agv_port: SocketAddr) -> Option<String> {
    use protocol::frame::{Flags, FrameDecoder, Header, encode_message};
    use protocol::message::{Heartbeat, Message, MessageType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(agv_port).await.ok()?;
    let mut out = bytes::BytesMut::new();
    let header = Header::new(MessageType::HEARTBEAT, Flags::NONE, 1, 42, 0);
    encode_message(&mut out, header, &Message::Heartbeat(Heartbeat {}), 65_536).ok()?;
    stream.write_all(&out).await.ok()?;
    let mut buf = bytes::BytesMut::new();
    let mut decoder = FrameDecoder::default();
    loop {
        if tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut buf))
            .await
            .ok()?
            .ok()?
            == 0
        {
            return None;
        }
        if let Some(frame) = decoder.decode(&mut buf).ok()? {
            let Message::Close(close) = frame.message().ok()? else {
                return None;
            };
            if close.reason != protocol::types::CloseReason::NotActive {
                return None;
            }
            assert_eq!(frame.header.agv_id, 42, "addressed to the AGV");
            return Some(close.detail.clone());
        }
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Instance {
    http: SocketAddr,
    agv: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn start(url: &str, id: &str) -> Self {
        Self::start_with(url, id, |_| {})
    }

    /// As [`Instance::start`], the configuration changed by `adjust` first.
    fn start_with(url: &str, id: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path());
        config.database_url = Some(url.into());
        config.http_listen = free_port();
        config.agv_listen = free_port();
        config.instance_id = Some(id.into());
        config.lease_ms = 1_000;
        adjust(&mut config);
        let (http, agv) = (config.http_listen, config.agv_listen);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rcs_server::run(config, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            http,
            agv,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let r = reqwest::get(format!("http://{}{path}", self.http))
            .await
            .ok()?;
        Some((r.status().as_u16(), r.json().await.ok()?))
    }

    async fn role(&self) -> Option<String> {
        let (_, v) = self.get("/api/v1/cluster").await?;
        v["role"].as_str().map(str::to_owned)
    }

    async fn wait_role(&self, role: &str, within: Duration) -> Value {
        let until = tokio::time::Instant::now() + within;
        loop {
            if self.role().await.as_deref() == Some(role)
                && let Some((_, v)) = self.get("/api/v1/cluster").await
            {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} not {role} within {within:?} (is {:?})",
                self.http,
                self.role().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("stops")
            .unwrap();
    }
}

#[tokio::test]
async fn a_standby_takes_over_and_an_instance_that_lost_the_lease_steps_down() {
    let Some((db, url)) = support::postgres::throwaway("the two-instance test", "pair").await
    else {
        return;
    };
    let a = Instance::start(&url, "inst-a");
    let status = a.wait_role("active", Duration::from_secs(20)).await;
    assert_eq!(status["epoch"], 1);
    let b = Instance::start(&url, "inst-b");
    let status = b.wait_role("standby", Duration::from_secs(20)).await;
    assert_eq!(status["holder"]["id"], "inst-a");
    assert_eq!(status["holder"]["http_address"], a.http.to_string());
    // The standby sends AGVs to the active instance and refuses mutations, naming it.
    assert_eq!(redirect_of(b.agv).await, Some(a.agv.to_string()));
    assert_eq!(redirect_of(a.agv).await, None, "the active one serves AGVs");
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/tasks", b.http))
        .bearer_auth("test-admin-token")
        .json(&serde_json::json!({"kind": "move", "destination": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "standby");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&a.http.to_string()),
        "{body}"
    );
    // Garbage on the standby's AGV port gets a closed connection, and the port keeps working.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(b.agv).await.unwrap();
        s.write_all(&[0xff; 4096]).await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "the standby closes a connection that sent garbage"
        );
        assert!(rest.is_empty(), "nothing is answered to garbage: {rest:?}");
    }
    assert_eq!(redirect_of(b.agv).await, Some(a.agv.to_string()));
    let metrics = |i: &Instance| {
        let url = format!("http://{}/metrics", i.http);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    assert!(metrics(&b).await.contains("rcs_cluster_active 0"));
    let on_a = metrics(&a).await;
    assert!(
        on_a.contains("rcs_cluster_active 1") && on_a.contains("rcs_cluster_epoch 1"),
        "{on_a}"
    );
    let (code, health) = b.get("/healthz").await.unwrap();
    assert_eq!((code, health["role"].as_str()), (200, Some("standby")));
    let (_, health) = a.get("/healthz").await.unwrap();
    assert_eq!(
        (health["role"].as_str(), health["epoch"].as_u64()),
        (Some("active"), Some(1))
    );

    // The active one stops cleanly: it gives the lease up and b takes over at once.
    let stopped = tokio::time::Instant::now();
    a.stop().await;
    let status = b.wait_role("active", Duration::from_secs(10)).await;
    assert_eq!(status["epoch"], 2);
    eprintln!("takeover {:?} after the stop", stopped.elapsed());
    assert_eq!(redirect_of(b.agv).await, None, "b serves AGVs now");

    // Another instance takes the lease from under b (as if b had been paused past it): b
    // finds out at its next renewal and steps down, closing its AGV listener.
    db.execute_raw(
        "UPDATE leases SET holder = 'elsewhere', epoch = epoch + 1, \
         expires_at = (extract(epoch from clock_timestamp()) * 1000)::bigint + 600000",
    )
    .await
    .unwrap();
    let status = b.wait_role("standby", Duration::from_secs(10)).await;
    assert_eq!(status["holder"]["id"], "elsewhere");
    assert_eq!(status["terms"], 1);
    // Its AGV port answers as a standby's: to the holder's address.
    assert_eq!(redirect_of(b.agv).await, Some(b.agv.to_string()));
    b.stop().await;
    db.close().await;
    support::postgres::drop(&url).await;
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and
/// restored: the database unreachable for a while.
struct Proxy {
    addr: SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (u, g) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !u.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let born = g.load(Ordering::SeqCst);
                let g = g.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    else {
                        return;
                    };
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The database unreachable for longer than the lease: the active instance stops acting (its
/// AGV port closes) before the lease lapses, and once the database is back an instance is
/// active again under a newer epoch.
#[tokio::test]
async fn the_database_unreachable_stops_the_active_instance_and_service_recovers() {
    let Some((db, url)) = support::postgres::throwaway("the database-outage test", "outage").await
    else {
        return;
    };
    let proxy = Proxy::start().await;
    let via_proxy = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let a = Instance::start(&via_proxy, "inst-a");
    a.wait_role("active", Duration::from_secs(20)).await;
    assert!(tokio::net::TcpStream::connect(a.agv).await.is_ok());
    proxy.cut();
    let cut_at = tokio::time::Instant::now();
    // It steps down (by its own deadline: the lease time less a fifth after its last renewal):
    // its AGV port stops serving AGVs (closed, then a standby's, which cannot name anyone while
    // the database is away).
    loop {
        if redirect_of(a.agv).await.is_some_and(|r| r.is_empty())
            || tokio::net::TcpStream::connect(a.agv).await.is_err()
        {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "still serving AGVs {:?} after the database went away",
            cut_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = cut_at.elapsed();
    eprintln!("stopped acting {stopped:?} after the database went away");
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    let status = a.wait_role("active", Duration::from_secs(20)).await;
    assert_eq!(status["epoch"], 2, "{status}");
    assert_eq!(redirect_of(a.agv).await, None, "serving AGVs again");
    a.stop().await;
    db.close().await;
    support::postgres::drop(&url).await;
}

fn warehouse() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f")
}

async fn submit(to: &Instance, destination: u32) -> Value {
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/tasks", to.http))
        .bearer_auth("test-admin-token")
        .json(&serde_json::json!({"kind": "move", "destination": destination}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn task_ids(on: &Instance) -> Vec<u64> {
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/v1/tasks", on.http))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    let list = v
        .as_array()
        .or_else(|| v["tasks"].as_array())
        .unwrap()
        .clone();
    list.iter().map(|t| t["id"].as_u64().unwrap()).collect()
}

/// Two sites on one database, each in a schema of its own (`--db-schema`): each has its own
/// lease, epoch and data, a failover of one leaves the other alone, and an instance of one site
/// pointed at the other's schema refuses to start.
#[tokio::test]
async fn two_sites_share_one_database_each_with_its_own_lease_and_data() {
    let Some((db, url)) = support::postgres::throwaway("the two-site test", "sites").await else {
        return;
    };
    let demo = |c: &mut Config| c.db_schema = Some("site_demo".into());
    let wh = |c: &mut Config| {
        c.db_schema = Some("site_wh".into());
        c.site = Some(warehouse());
    };
    let demo_a = Instance::start_with(&url, "demo-a", demo);
    let wh_a = Instance::start_with(&url, "wh-a", wh);
    assert_eq!(
        demo_a.wait_role("active", Duration::from_secs(20)).await["epoch"],
        1
    );
    assert_eq!(
        wh_a.wait_role("active", Duration::from_secs(20)).await["epoch"],
        1,
        "its own lease"
    );
    let demo_b = Instance::start_with(&url, "demo-b", demo);
    let status = demo_b.wait_role("standby", Duration::from_secs(20)).await;
    assert_eq!(
        status["holder"]["id"], "demo-a",
        "the standby of its own site"
    );

    // Each site's tasks are its own.
    let on_demo = submit(&demo_a, 8).await["id"].as_u64().unwrap();
    let on_wh = submit(&wh_a, 100186).await["id"].as_u64().unwrap();
    assert!(task_ids(&demo_a).await.contains(&on_demo));
    assert!(task_ids(&wh_a).await.contains(&on_wh));
    db.execute_raw("SELECT 1 FROM site_demo.tasks; SELECT 1 FROM site_wh.leases")
        .await
        .expect("each site's tables in its schema");
    // The standby serves reads from the database's view, marked as such; mutations are refused.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !task_ids(&demo_b).await.contains(&on_demo) {
        assert!(
            tokio::time::Instant::now() < until,
            "the standby shows the task"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/v1/tasks/{on_demo}", demo_b.http))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-rcs-role"], "standby");
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        (t["id"].as_u64(), t["destination"].as_u64()),
        (Some(on_demo), Some(8))
    );
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/v1/maps", demo_b.http))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "reads need a token on a standby too"
    );
    let r = reqwest::Client::new()
        .delete(format!("http://{}/api/v1/tasks/{on_demo}", demo_b.http))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let demo_tasks = task_ids(&demo_a).await;
    let wh_tasks = task_ids(&wh_a).await;
    assert_eq!(
        (demo_tasks.len(), wh_tasks.len()),
        (1, 1),
        "{demo_tasks:?} {wh_tasks:?}"
    );

    // An instance of the warehouse pointed at the demo's schema refuses to start.
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Config::for_tests(dir.path());
    wrong.database_url = Some(url.clone());
    wrong.db_schema = Some("site_demo".into());
    wrong.site = Some(warehouse());
    wrong.http_listen = free_port();
    wrong.agv_listen = free_port();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        rcs_server::run(wrong, std::future::pending()),
    )
    .await
    .expect("refuses at once")
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`demo`") && err.contains("`warehouse-3f`") && err.contains("--db-schema"),
        "{err}"
    );

    // The demo site fails over; the warehouse is not touched.
    demo_a.stop().await;
    assert_eq!(
        demo_b.wait_role("active", Duration::from_secs(10)).await["epoch"],
        2
    );
    assert!(
        task_ids(&demo_b).await.contains(&on_demo),
        "restored from its schema"
    );
    let status = wh_a.wait_role("active", Duration::from_secs(1)).await;
    assert_eq!(
        (status["epoch"].as_u64(), status["terms"].as_u64()),
        (Some(1), Some(1))
    );
    demo_b.stop().await;
    wh_a.stop().await;
    db.close().await;
    support::postgres::drop(&url).await;
}
