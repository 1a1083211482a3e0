//! Fleet helpers for task and safety tests: API calls, driving AGVs, waiting for task states,
//! generated grid sites, and monitors that fail a test when AGVs come too close or drive on
//! space not reserved for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rcs_server::Config;
use serde_json::Value;

use super::{ADMIN, BackgroundAgv, Driver, Running, eventually, normal_agv};

pub async fn call(
    s: &Running,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(method, s.url(path))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Submits a task; asserts it was accepted and returns it.
pub async fn submit(s: &Running, body: Value) -> Value {
    let (status, task) = call(s, reqwest::Method::POST, "/api/v1/tasks", Some(body)).await;
    assert_eq!(status, 201, "{task}");
    task
}

pub async fn driving(s: &Running, id: u32, x: f64, y: f64) -> BackgroundAgv {
    let agv = BackgroundAgv::spawn_driving(&s.server, normal_agv(id), Driver::at(x, y));
    let state = s.server.state.clone();
    eventually("reports", || {
        state
            .fleet
            .get(id)
            .is_some_and(|v| v.registered && v.status.is_some())
    })
    .await;
    agv
}

/// Waits for task `id` to reach `state` (panics with the fleet's and the audit log's state
/// after 60 s: some tests drive 8 m at 0.3 m/s, about 29 s, and a loaded machine is slower).
pub async fn wait_task(s: &Running, id: u64, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = call(
            s,
            reqwest::Method::GET,
            &format!("/api/v1/tasks/{id}"),
            None,
        )
        .await;
        if t["state"] == state {
            return t;
        }
        if tokio::time::Instant::now() >= deadline {
            let (_, all) = call(s, reqwest::Method::GET, "/api/v1/tasks", None).await;
            let (_, agvs) = call(s, reqwest::Method::GET, "/api/v1/agvs", None).await;
            let (_, log) = call(s, reqwest::Method::GET, "/api/v1/audit?limit=300", None).await;
            let kinds: Vec<String> = log
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| format!("{} {}", e["kind"], e["detail"]))
                        .collect()
                })
                .unwrap_or_default();
            panic!("task {id} not {state}: {t}\nall tasks: {all}\nAGVs: {agvs}\nlog: {kinds:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server on a generated one-floor grid of `cols` × `rows` nodes 2 m apart (`dir` holds the
/// site and the data).
pub async fn grid_server(dir: &tempfile::TempDir, cols: u32, rows: u32) -> Running {
    site_server(dir, maps::generate::grid_site("grid", 1, cols, rows)).await
}

/// A server on the generated site `grid3`: `floors` floors of a 9 × 3 grid, with lifts at both
/// ends (`dir` holds the site and the data).
pub async fn lift_server(dir: &tempfile::TempDir, floors: u32) -> Running {
    site_server(dir, maps::generate::grid_site("grid3", floors, 9, 3)).await
}

/// A server on `site`, written to `dir` beside the data.
async fn site_server(dir: &tempfile::TempDir, site: maps::file::SiteFiles) -> Running {
    let path = dir.path().join("site");
    site.write(&path).unwrap();
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(path);
    Running::start(config).await
}

/// Watches the AGVs' positions every 10 ms; fails if two come closer than `min` metres.
pub fn monitor(
    agvs: Vec<Arc<std::sync::Mutex<Driver>>>,
    min: f64,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut closest = f64::INFINITY;
        while !flag.load(Ordering::Relaxed) {
            let pos: Vec<(u16, f64, f64)> = agvs
                .iter()
                .map(|d| {
                    let d = d.lock().unwrap();
                    (d.map_id, d.x, d.y)
                })
                .collect();
            for i in 0..pos.len() {
                for j in i + 1..pos.len() {
                    if pos[i].0 == pos[j].0 {
                        let d = (pos[i].1 - pos[j].1).hypot(pos[i].2 - pos[j].2);
                        closest = closest.min(d);
                        assert!(d >= min, "AGVs {i} and {j} came within {d:.2} m");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        closest
    });
    (stop, task)
}

/// Watches, every 10 ms, that each AGV that is driving stands on space the server reserved for
/// it: its centre and the four corners of its footprint (1.0 × 0.8 m, the test registration)
/// each lie on a piece of its released path. The server must never take a moving AGV's
/// reservations. Returns how many checks it made.
pub fn reservation_monitor(
    state: Arc<rcs_server::state::Shared>,
    agvs: Vec<(u32, Arc<std::sync::Mutex<Driver>>)>,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<usize>) {
    use geo::Intersects as _;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut checks = 0;
        while !flag.load(Ordering::Relaxed) {
            for (id, driver) in &agvs {
                let (moving, map, x, y, theta) = {
                    let d = driver.lock().unwrap();
                    (
                        d.next < d.released && !d.safety_stopped,
                        d.map_id,
                        d.x,
                        d.y,
                        d.theta,
                    )
                };
                if !moving {
                    continue;
                }
                let (s, c) = theta.sin_cos();
                let points: Vec<geo::Point<f64>> = [
                    (0.0, 0.0),
                    (0.5, 0.4),
                    (0.5, -0.4),
                    (-0.5, 0.4),
                    (-0.5, -0.4),
                ]
                .iter()
                .map(|(a, b)| geo::Point::new(x + a * c - b * s, y + a * s + b * c))
                .collect();
                let (uncovered, holds) = {
                    let space = state.space();
                    let holds = space.holds(*id);
                    let uncovered = points
                        .iter()
                        .filter(|p| {
                            !holds.iter().any(|(hold, m, shape)| {
                                matches!(hold, maps::Hold::Reservation { .. })
                                    && *m == map
                                    && shape.intersects(*p)
                            })
                        })
                        .count();
                    (uncovered, holds.iter().map(|h| h.0).collect::<Vec<_>>())
                };
                // (the lock is released before a failure, or the server would see it poisoned)
                assert!(
                    uncovered == 0,
                    "AGV {id} drives at ({x:.2}, {y:.2}) on space not reserved for it: {holds:?}"
                );
                checks += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        checks
    });
    (stop, task)
}
