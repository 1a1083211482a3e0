//! A simulated AGV's parameters through the server's API: what `param_set` writes is what
//! `param_query` then reads (it answered 1.0 whatever was set), and a bad write is refused
//! whole.

use std::sync::Arc;
use std::time::Duration;

use agv_sim::agv::{Profile, Spec};
use agv_sim::monitor::Monitor;
use agv_sim::report::Stats;
use rcs_server::Config;
use serde_json::{Value, json};

mod server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_set_through_the_protocol_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let serving = server::Serving::start(Config::for_tests(dir.path())).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let spec = Spec {
        id: 7,
        map_id: 1,
        x: 3.5,
        y: 1.25,
        node: 0,
        keys: None,
        profile: Profile::Fast,
        time_scale: 1.0,
        obstacles_per_min: 0.0,
        seed: 1,
        relocate: None,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
    };
    let agv = tokio::spawn(agv_sim::agv::run(
        vec![serving.server.agv_addr.to_string()],
        spec,
        Arc::new(Monitor::default()),
        Arc::new(Stats::default()),
        stop,
    ));
    let state = serving.server.state.clone();
    for _ in 0..200 {
        if state.fleet.get(7).is_some_and(|v| v.status.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let command = |body: Value| {
        let req = http
            .post(format!("{}/api/v1/agvs/7/commands", serving.api()))
            .bearer_auth(&serving.token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = command(json!({ "command": "param_set",
        "values": [{ "param": "max_linear_speed", "value": 1.2 }] }))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        command(json!({ "command": "param_query", "params": ["max_linear_speed"] })).await;
    assert_eq!(status, 200, "{body}");
    let value = body.to_string();
    assert!(value.contains("1.2"), "{body}");
    // a write of the wrong type is refused whole: the speed stays
    let (status, body) = command(json!({ "command": "param_set", "values": [
        { "param": "max_linear_speed", "value": 0.4 },
        { "param": "status_period", "value": "fast" }] }))
    .await;
    assert!(status >= 400, "{status} {body}");
    let (_, body) =
        command(json!({ "command": "param_query", "params": ["max_linear_speed"] })).await;
    assert!(body.to_string().contains("1.2"), "{body}");
    stop_tx.send(true).unwrap();
    let _ = agv.await;
    serving.stop().await;
}
