//! The browser dashboard end to end, in headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `scripts/test` installs them): a real rcs-server on the
//! three-floor warehouse, a simulated fleet of 8 AGVs doing tasks, and the page served by the
//! server. The test signs in with an operator token, sees the AGVs appear and move, switches
//! floors, pauses and resumes an AGV from its detail panel (checked through the API), picks an AGV
//! and a node on the canvas, submits a task to that node, and checks that a viewer token gets no
//! action buttons; the reserved path of a running task shows as an overlay; a waiting task is in
//! the waits list with its reason, and leaves the page when its AGV is decommissioned; the legend names every area kind, node kind and lane rule of
//! the floor with one-way lanes, no two labels overlap and no map label lies on an AGV; every
//! string shows in Simplified Chinese at the language switch. Screenshots go to
//! `target/tmp/dashboard-*.png`.
//!
//! Without Chromium the test fails and says what to install; `RCS_SKIP_BROWSER=1` skips it
//! (saying so) on machines that cannot have a browser.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agv_sim::RunOptions;
use agv_sim::agv::{Mode, Profile};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use rcs_server::Config;
use serde_json::{Value, json};

mod browser;
mod server;
use browser::{click, js, select, sign_in, visible};

const AGVS: usize = 8;

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f")
}

/// Where screenshots go: cargo's scratch directory for integration tests (`target/tmp`).
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Polls `check` until it gives `Some`, or fails the test with `what`.
async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    browser::poll(browser::WAIT, check)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// The HTTP API, as the test checks it.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `DELETE path`: the status and the answer's text.
    async fn delete(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn token(&self, name: &str, role: &str) -> String {
        let v: Value = self
            .http
            .post(format!("{}/api/v1/tokens", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "name": name, "role": role }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    async fn agv_state(&self, id: u64) -> String {
        self.get(&format!("/api/v1/agvs/{id}")).await["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = target_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("dashboard-{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// A real click (pointer down and up) at canvas coordinates.
async fn click_canvas(c: &Client, x: f64, y: f64) {
    let origin = js(
        c,
        "const r = document.getElementById('map').getBoundingClientRect(); return [r.left, r.top];",
    )
    .await;
    let (left, top) = (origin[0].as_f64().unwrap(), origin[1].as_f64().unwrap());
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo {
            duration: None,
            x: (left + x).round(),
            y: (top + y).round(),
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(mouse).await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser::browser() else {
        if std::env::var_os("RCS_SKIP_BROWSER").is_some() {
            println!("SKIPPED: dashboard browser test (RCS_SKIP_BROWSER is set)");
            return;
        }
        panic!(
            "headless Chromium is missing: this test needs /usr/bin/chromium and \
             /usr/bin/chromedriver (Debian: apt-get install chromium chromium-driver; scripts/test \
             installs them), or CHROMIUM and CHROMEDRIVER pointing at them. Set \
             RCS_SKIP_BROWSER=1 to skip it knowingly."
        );
    };

    // The server and a fleet that keeps working for longer than the test.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site());
    let serving = server::Serving::start(config).await;
    let admin = serving.token.clone();
    let base = serving.api();
    let fleet = tokio::spawn(agv_sim::run(RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![base.clone()],
        token: admin.clone(),
        site: site(),
        agvs: AGVS,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(600),
        time_scale: 2.0,
        tasks_per_min: 40.0,
        obstacles_per_min: 0.0,
        seed: 11,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(1),
        progress: false,
        destinations: Default::default(),
        naming: agv_sim::Naming::SameMap,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: None,
    }));
    let api = Api {
        base: base.clone(),
        token: admin,
        http: reqwest::Client::new(),
    };
    let operator = api.token("night-shift", "operator").await;
    let viewer = api.token("wall-screen", "viewer").await;

    // The browser.
    let (_driver, c) = browser::open(&chromium, &chromedriver).await;

    // Sign in as an operator.
    sign_in(&c, &base, &operator).await;
    assert!(text(&c, "#who").await.contains("operator"));
    assert!(visible(&c, "#actions").await || !visible(&c, "#details").await);

    // Every AGV appears in the fleet list and some on the canvas.
    until("every AGV in the fleet list", || async {
        let rows = c.find_all(Locator::Css("#fleet-list tr")).await.ok()?.len();
        (rows == AGVS).then_some(())
    })
    .await;
    let first_map = browser::canvas(&c, "map").await;
    until("AGVs drawn on the first map", || async {
        let drawn = browser::canvas(&c, "agvs").await?;
        (drawn > 0).then_some(())
    })
    .await;
    screenshot(&c, "fleet").await;

    // They move: some AGV's live pose changes.
    let poses = "return Array.from({length: 8}, (_, i) => window.rcsDashboard.agv(i + 1))\
                 .map(a => a ? [a.x, a.y, a.map] : null);";
    let before = js(&c, poses).await;
    until("an AGV to move on the map", || async {
        (js(&c, poses).await != before).then_some(())
    })
    .await;
    let frames = browser::canvas(&c, "frames").await;
    assert!(frames.unwrap_or(0) > 1, "the canvas redraws");

    // Switch floors: pick another map in the selector; the canvas shows it and its AGVs.
    let maps = api.get("/api/v1/maps").await;
    let agvs = api.get("/api/v1/agvs").await;
    let other = maps
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .filter(|id| Some(*id) != first_map)
        .max_by_key(|id| {
            agvs.as_array()
                .unwrap()
                .iter()
                .filter(|a| a["map_id"].as_u64() == Some(*id))
                .count()
        })
        .unwrap();
    select(&c, "#map-select", &other.to_string()).await;
    until("the canvas to show the other floor", || async {
        let shown = browser::canvas(&c, "map").await;
        (shown == Some(other)).then_some(())
    })
    .await;
    until("AGVs drawn on the other floor", || async {
        let drawn = browser::canvas(&c, "agvs").await?;
        (drawn > 0).then_some(())
    })
    .await;
    screenshot(&c, "floor").await;

    // The legend names everything the shown map has: on the floor with one-way lanes, every
    // area kind, node kind and lane rule of it; its one-way lanes get arrows. No two labels
    // overlap, and no lift or node name lies on an AGV.
    let mut one_way_floor = None;
    for m in maps.as_array().unwrap() {
        let id = m["id"].as_u64().unwrap();
        let detail = api.get(&format!("/api/v1/maps/{id}")).await;
        let edges = detail["edges"].as_array().unwrap();
        let pairs: Vec<(u64, u64)> = edges
            .iter()
            .map(|e| (e["from"].as_u64().unwrap(), e["to"].as_u64().unwrap()))
            .collect();
        if pairs.iter().any(|(a, b)| !pairs.contains(&(*b, *a))) {
            one_way_floor = Some((id, detail));
        }
    }
    let (floor, detail) = one_way_floor.expect("warehouse-3f has one-way lanes");
    select(&c, "#map-select", &floor.to_string()).await;
    until("the floor with one-way lanes", || async {
        (browser::canvas(&c, "map").await == Some(floor)).then_some(())
    })
    .await;
    let legend: Vec<String> = serde_json::from_value(
        js(
            &c,
            "return [...document.querySelectorAll('#legend [data-legend]')]\
             .map(e => e.dataset.legend);",
        )
        .await,
    )
    .unwrap();
    let mut expected = vec![
        "state:idle".to_owned(),
        "state:offline".to_owned(),
        "overlay:grant".to_owned(),
        "overlay:reserved".to_owned(),
        "lane:two_way".to_owned(),
        "lane:one_way".to_owned(),
        "node:lift_door".to_owned(),
    ];
    for a in detail["areas"].as_array().unwrap() {
        expected.push(format!("area:{}", a["kind"].as_str().unwrap()));
    }
    for e in &expected {
        assert!(legend.contains(e), "legend lacks {e}: {legend:?}");
    }
    screenshot(&c, "legend").await;
    let no_overlaps = async || {
        let drawn = js(&c, "return window.rcsDashboard.labels();").await;
        let boxes = js(&c, "return window.rcsDashboard.agvBoxes();").await;
        let rect = |r: &Value| ["x", "y", "w", "h"].map(|k| r[k].as_f64().unwrap());
        let overlap = |a: [f64; 4], b: [f64; 4]| {
            a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
        };
        let labels = drawn["labels"].as_array().unwrap().clone();
        assert!(
            labels.iter().any(|l| l["kind"] == "lift"),
            "the lifts are named: {labels:?}"
        );
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                assert!(!overlap(rect(a), rect(b)), "labels overlap: {a} and {b}");
            }
        }
        // The AGVs move between the two calls: boxes within a few pixels of a label are let be.
        for l in labels.iter().filter(|l| l["kind"] != "agv") {
            let mut r = rect(l);
            r = [r[0] + 3.0, r[1] + 3.0, r[2] - 6.0, r[3] - 6.0];
            for b in boxes.as_array().unwrap() {
                assert!(!overlap(r, rect(b)), "a map label on an AGV: {l} and {b}");
            }
        }
    };
    no_overlaps().await;

    // Every string in Simplified Chinese, at the switch in the header; back to English after.
    select(&c, "#lang", "zh").await;
    until("the page in Chinese", || async {
        (text(&c, "button[data-tab='fleet']").await == "车队").then_some(())
    })
    .await;
    assert_eq!(
        js(&c, "return document.documentElement.lang;").await,
        "zh-CN"
    );
    assert!(text(&c, "#who").await.contains("操作员"));
    assert!(text(&c, "#counts").await.contains("在线"));
    assert_eq!(text(&c, "#legend [data-legend='state:idle']").await, "空闲");
    assert_eq!(
        text(&c, "#legend [data-legend='lane:one_way']").await,
        "单向车道"
    );
    for tab in ["tasks", "waits", "alarms", "events", "fleet"] {
        click(&c, &format!("button[data-tab='{tab}']")).await;
    }
    let first_agv = agvs.as_array().unwrap()[0]["id"].as_u64().unwrap();
    click(&c, &format!("#fleet-list tr[data-agv='{first_agv}']")).await;
    until("the detail panel in Chinese", || async {
        let state = text(&c, "#details dt").await;
        (state == "状态").then_some(())
    })
    .await;
    let row = text(&c, &format!("#fleet-list tr[data-agv='{first_agv}']")).await;
    assert!(
        row.chars()
            .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
        "the state in Chinese: {row}"
    );
    no_overlaps().await;
    screenshot(&c, "zh").await;
    let untranslated = js(&c, "return window.rcsDashboard.untranslated();").await;
    assert_eq!(untranslated, json!([]), "strings without a translation");
    click(&c, "#details-close").await;
    select(&c, "#lang", "en").await;
    until("the page in English again", || async {
        (text(&c, "button[data-tab='fleet']").await == "Fleet").then_some(())
    })
    .await;
    select(&c, "#map-select", &other.to_string()).await;

    // Pause an AGV through its detail panel; the API sees it paused. Resume it the same way.
    let target = agvs
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["map_id"].as_u64() == Some(other))
        .map(|a| a["id"].as_u64().unwrap())
        .unwrap();
    click(&c, &format!("#fleet-list tr[data-agv='{target}']")).await;
    until("the detail panel", || async {
        (text(&c, "#details-title").await == format!("AGV {target}")).then_some(())
    })
    .await;
    // A pause stops a task (an idle AGV answers StateConflict, docs/protocol.md): the target
    // is first sent to the node of its floor farthest from it and paused while it drives there.
    let far = {
        let site = maps::Site::load(&site()).unwrap();
        let view = api.get(&format!("/api/v1/agvs/{target}")).await;
        let (x, y) = (
            view["pose"]["x"].as_f64().unwrap(),
            view["pose"]["y"].as_f64().unwrap(),
        );
        site.nodes()
            .iter()
            .filter(|n| u64::from(n.map) == other && n.kind == maps::file::NodeKind::Waypoint)
            .max_by(|a, b| {
                let d = |n: &maps::site::Node| (n.x - x).hypot(n.y - y);
                d(a).total_cmp(&d(b))
            })
            .unwrap()
            .id
    };
    let drive = api
        .post(
            "/api/v1/tasks",
            json!({ "kind": "move", "destination": far, "agv_id": target }),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    until("the target to drive that task (API)", || async {
        let view = api.get(&format!("/api/v1/agvs/{target}")).await;
        (view["task_id"].as_u64() == Some(drive)).then_some(())
    })
    .await;
    click(&c, "#actions button[data-action='pause']").await;
    until("the AGV to be paused (API)", || async {
        (api.agv_state(target).await == "paused").then_some(())
    })
    .await;
    until("the pause to show in the detail panel", || async {
        text(&c, "#details dd[data-field='state']")
            .await
            .starts_with("paused")
            .then_some(())
    })
    .await;
    screenshot(&c, "paused").await;
    // a normal-mode session shows no secure profile; times are on a 24-hour clock
    let session = text(&c, "#details dd[data-field='session']").await;
    assert!(
        session.starts_with("normal · #") && !session.contains("guide"),
        "{session}"
    );
    let seen = text(&c, "#details dd[data-field='last seen']").await;
    let digits: Vec<&str> = seen.split(':').collect();
    assert!(
        digits.len() == 3
            && digits
                .iter()
                .all(|d| d.len() == 2 && d.chars().all(|c| c.is_ascii_digit())),
        "not HH:MM:SS: {seen}"
    );

    // The paused AGV stands still: picking it on the canvas selects it.
    click(&c, "#details-close").await;
    let at = js(
        &c,
        &format!("return window.rcsDashboard.agvScreen({target});"),
    )
    .await;
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    click_canvas(&c, x, y).await;
    until("the canvas pick to select the AGV", || async {
        (visible(&c, "#details").await
            && text(&c, "#details-title").await == format!("AGV {target}"))
        .then_some(())
    })
    .await;
    click(&c, "#actions button[data-action='resume']").await;
    until("the AGV to be resumed (API)", || async {
        (api.agv_state(target).await != "paused").then_some(())
    })
    .await;

    // Submit a task by clicking a free node of this floor.
    let map = api.get(&format!("/api/v1/maps/{other}")).await;
    let agvs = api.get("/api/v1/agvs").await;
    let node = map["node_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "station")
        .max_by(|a, b| {
            let clearance = |n: &Value| {
                agvs.as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a["pose"].as_object())
                    .map(|p| {
                        (p["x"].as_f64().unwrap() - n["x"].as_f64().unwrap())
                            .hypot(p["y"].as_f64().unwrap() - n["y"].as_f64().unwrap())
                    })
                    .fold(f64::MAX, f64::min)
            };
            clearance(a).total_cmp(&clearance(b))
        })
        .expect("the floor has stations");
    let node_id = node["id"].as_u64().unwrap();
    let at = js(
        &c,
        &format!("return window.rcsDashboard.nodeScreen({node_id});"),
    )
    .await;
    click_canvas(&c, at[0].as_f64().unwrap(), at[1].as_f64().unwrap()).await;
    until("the node popup", || async {
        text(&c, "#popup h3")
            .await
            .starts_with(&format!("Node {node_id}"))
            .then_some(())
    })
    .await;
    c.find(Locator::Id("task-agv"))
        .await
        .unwrap()
        .select_by_value("")
        .await
        .unwrap();
    click(&c, "#task-submit").await;
    until("the task in the API", || async {
        let tasks = api.get("/api/v1/tasks").await;
        tasks
            .as_array()?
            .iter()
            .any(|t| t["destination"].as_u64() == Some(node_id) && t["created_by"] == "night-shift")
            .then_some(())
    })
    .await;
    until("the task in the task list", || async {
        c.find(Locator::Css("#task-list tr"))
            .await
            .is_ok()
            .then_some(())
    })
    .await;
    screenshot(&c, "task").await;

    // The reserved path of a running task shows as an overlay on its AGV's floor.
    until(
        "reserved-path overlays on a running task's floor",
        || async {
            let tasks = api.get("/api/v1/tasks?state=running").await;
            let agv = tasks.as_array()?.iter().find_map(|t| t["agv"].as_u64())?;
            let floor = api.get(&format!("/api/v1/agvs/{agv}")).await["map_id"].as_u64()?;
            c.find(Locator::Id("map-select"))
                .await
                .ok()?
                .select_by_value(&floor.to_string())
                .await
                .ok()?;
            tokio::time::sleep(Duration::from_millis(600)).await;
            let n = js(&c, "return window.rcsDashboard.overlays();")
                .await
                .as_u64()?;
            (n > 0).then_some(())
        },
    )
    .await;
    screenshot(&c, "overlays").await;

    // An explained wait: a task for an AGV that is known (enrolled) but offline waits for it;
    // the waits list shows it, with its reason.
    let pem = api
        .http
        .get(format!("{base}/api/v1/server-key"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    api.post(
        "/api/v1/agvs/enroll",
        json!({ "agv_id": 99, "public_key_pem": pem }),
    )
    .await;
    let waiting = api
        .post(
            "/api/v1/tasks",
            json!({ "kind": "move", "destination": node_id, "agv_id": 99 }),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    click(&c, "button[data-tab='waits']").await;
    let row = until("the wait in the waits list", || async {
        let row = text(&c, "#wait-list tr[data-agv='99']").await;
        (!row.is_empty()).then_some(row)
    })
    .await;
    assert!(
        row.contains(&waiting.to_string()) && row.contains("its AGV is offline"),
        "{row}"
    );
    assert!(text(&c, "#wait-count").await.starts_with('('));
    screenshot(&c, "waits").await;
    click(&c, "button[data-tab='fleet']").await;

    // A decommissioned AGV leaves the page at once (the live stream's `gone` event).
    until("the enrolled AGV in the fleet list", || async {
        c.find(Locator::Css("#fleet-list tr[data-agv='99']"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    api.delete(&format!("/api/v1/tasks/{waiting}")).await;
    let last = std::sync::Mutex::new((0, String::new()));
    let gone = browser::poll(browser::WAIT, || async {
        let answer = api.delete("/api/v1/agvs/99").await;
        // (409 agv_has_tasks until the cancel has gone through)
        let done = answer.0 != 409;
        *last.lock().unwrap() = answer;
        done.then_some(())
    })
    .await;
    let last = last.into_inner().unwrap();
    assert!(
        gone.is_some() && last.0 == 200,
        "AGV 99 not decommissioned: {last:?}"
    );
    until("AGV 99 gone from the fleet list and the map", || async {
        let row = c
            .find(Locator::Css("#fleet-list tr[data-agv='99']"))
            .await
            .is_ok();
        let live = js(&c, "return window.rcsDashboard.agv(99);").await;
        (!row && live.is_null()).then_some(())
    })
    .await;

    // A viewer sees the fleet but gets no action buttons and no task form.
    click(&c, "#logout").await;
    sign_in(&c, &base, &viewer).await;
    assert!(text(&c, "#who").await.contains("viewer"));
    until("the fleet list for the viewer", || async {
        c.find(Locator::Css(&format!(
            "#fleet-list tr[data-agv='{target}']"
        )))
        .await
        .ok()
    })
    .await
    .click()
    .await
    .unwrap();
    until("the detail panel for the viewer", || async {
        visible(&c, "#details").await.then_some(())
    })
    .await;
    assert!(
        !visible(&c, "#actions").await,
        "a viewer gets no action buttons"
    );

    c.close().await.unwrap();
    fleet.abort();
    serving.stop().await;
}
