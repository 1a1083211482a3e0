//! agv-sim keeps tasks flowing (issue 13): its destinations are exactly the nodes the server's
//! task rules accept; a busy fleet on the three-floor warehouse gets the tasks the rate asks
//! for, each one accounted for (submitted and then completed, failed, cancelled or open; or not
//! submitted with the reason counted), none refused for its destination; what the server
//! refuses and what cannot reach the API is counted, never dropped; a submission whose answer
//! was lost is sent again under its reference and the server keeps one task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use agv_sim::api::Api;
use agv_sim::business::{Business, Destinations, Kind, Places, Rules, requested};
use agv_sim::monitor::Monitor;
use agv_sim::{Naming, Report, RunOptions};
use maps::file::{
    AreaFile, AreaKind, Bounds, EdgeFile, MapFile, MapRef, Movement, Navigation, NodeFile,
    NodeKind, SiteFile, SiteFiles, Trajectory,
};
use rcs_server::Config;
use rcs_server::dispatch::TaskKind;
use rcs_server::task_rules::TaskRules;

mod server;

fn site_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../maps/sites")
        .join(name)
}

fn server_kind(kind: Kind) -> TaskKind {
    serde_json::from_value(serde_json::json!(kind.name())).expect("the server knows the kind")
}

/// One map with a node of every kind, a lift door, nodes in forbidden, no-stop and lift-shaft
/// areas, a node no edge leads to, and one reached only across the forbidden area.
fn every_case() -> SiteFiles {
    let node = |id, x: f64, kind| NodeFile {
        id,
        x,
        y: 0.0,
        theta: None,
        kind,
        qr: None,
        name: None,
    };
    let edge = |id, from, to, both| EdgeFile {
        id,
        from,
        to,
        bidirectional: both,
        max_speed: None,
        length: None,
        trajectory: Trajectory::Line,
        movement: vec![Movement::Forward],
        navigation: vec![],
        width: None,
    };
    let square = |id, kind, x: f64| AreaFile {
        id,
        kind,
        polygon: vec![
            [x - 0.5, -0.5],
            [x + 0.5, -0.5],
            [x + 0.5, 0.5],
            [x - 0.5, 0.5],
        ],
        speed: None,
        direction: None,
    };
    let kinds = [
        NodeKind::Waypoint,
        NodeKind::Station,
        NodeKind::Parking,
        NodeKind::Charger,
        NodeKind::LiftDoor,
        NodeKind::Waypoint, // 6: forbidden
        NodeKind::Station,  // 7: no stop
        NodeKind::Parking,  // 8: lift shaft
        NodeKind::Waypoint, // 9: only leads out
        NodeKind::Station,  // 10: entered from 6 only
    ];
    let map = MapFile {
        bounds: Bounds {
            min: [-1.0, -5.0],
            max: [40.0, 5.0],
        },
        max_speed: 1.5,
        nodes: (1..=10)
            .map(|i| node(i, 3.0 * f64::from(i), kinds[i as usize - 1]))
            .collect(),
        edges: (1..=7)
            .map(|i| edge(i, i, i + 1, true))
            .chain([edge(8, 9, 8, false), edge(9, 6, 10, false)])
            .collect(),
        areas: vec![
            square(1, AreaKind::Forbidden, 18.0),
            square(2, AreaKind::NoStop, 21.0),
            square(3, AreaKind::LiftShaft, 24.0),
        ],
    };
    SiteFiles {
        site: Some(SiteFile {
            name: "every-case".into(),
            maps: vec![MapRef {
                id: 1,
                name: "Every case".into(),
                file: PathBuf::from("every.toml"),
                building: String::new(),
                floor: 0,
                navigation: Navigation::Slam,
                version: 1,
            }],
            lifts: vec![],
            links: vec![],
            vehicles: Default::default(),
        }),
        maps: vec![(PathBuf::from("every.toml"), map)],
    }
}

#[test]
fn the_default_destinations_are_exactly_what_the_server_accepts() {
    let sites = [
        ("demo", maps::Site::load(&site_dir("demo")).unwrap()),
        (
            "warehouse-3f",
            maps::Site::load(&site_dir("warehouse-3f")).unwrap(),
        ),
        (
            "every case",
            maps::Site::compile(&every_case(), Path::new(".")).unwrap(),
        ),
    ];
    for (name, site) in &sites {
        let ours = Rules::new(site);
        let server = TaskRules::new(site);
        let places = Places::new(site, Destinations::Any);
        let mut refused = 0;
        for kind in Kind::ALL {
            for node in site.nodes() {
                let accepted = server.check(site, server_kind(kind), node.id, None).is_ok();
                assert_eq!(
                    ours.accepts(site, kind, node),
                    accepted,
                    "{name}: a {} task to node {} ({:?})",
                    kind.name(),
                    node.id,
                    node.kind
                );
                assert_eq!(
                    places.of(kind).iter().any(|p| p.node == node.id),
                    accepted,
                    "{name}: {} to {}",
                    kind.name(),
                    node.id
                );
                refused += usize::from(!accepted);
            }
        }
        assert!(refused > 0, "{name}: some tasks are refused somewhere");
    }
    // the hand-made site: only 1..4 take tasks, each its own kinds
    let site = &sites[2].1;
    let places = Places::new(site, Destinations::Any);
    let nodes = |kind| -> Vec<u32> { places.of(kind).iter().map(|p| p.node).collect() };
    assert_eq!(nodes(Kind::Move), [1, 2, 3, 4]);
    assert_eq!(nodes(Kind::Pick), [1, 2]);
    assert_eq!(nodes(Kind::Park), [3]);
    assert_eq!(nodes(Kind::Charge), [4]);
    // only the places: the waypoint goes
    let places = Places::new(site, Destinations::Stations);
    assert_eq!(
        places
            .of(Kind::Move)
            .iter()
            .map(|p| p.node)
            .collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

/// Submits every task `business` asks for, then returns its figures.
async fn submit_all(mut business: Business<'_>, api: &Api) -> agv_sim::report::TaskFigures {
    let monitor = Monitor::default();
    while business.submitting() {
        business.submit_due(api, &monitor).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    business.figures()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_an_unreachable_api_are_counted_never_dropped() {
    // the server runs the demo hall, the business system believes it is the warehouse: every
    // destination is unknown to the server
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site_dir("demo"));
    let serving = server::Serving::start(config).await;
    let warehouse = maps::Site::load(&site_dir("warehouse-3f")).unwrap();
    let api = Api::new(&serving.api(), &serving.token);
    let rate = 600.0;
    let duration = Duration::from_secs(2);
    let business = || {
        Business::new(
            &warehouse,
            Destinations::Any,
            Naming::SameMap,
            rate,
            duration,
            vec![],
            3,
        )
    };
    let f = submit_all(business(), &api).await;
    serving.stop().await;
    assert_eq!(f.requested, requested(rate, duration));
    assert_eq!(f.requested, 20);
    assert_eq!(f.submitted, 0);
    assert_eq!(
        f.not_submitted,
        BTreeMap::from([("unknown_destination".to_owned(), 20)])
    );
    assert_eq!(f.refused(), 20);
    assert!(f.accounted(), "{f:?}");

    // nothing listens: each task is tried until the next is due, then counted
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = Api::new(&format!("http://127.0.0.1:{port}"), "t");
    let f = submit_all(business(), &api).await;
    assert_eq!(f.requested, 20);
    assert_eq!(
        f.not_submitted,
        BTreeMap::from([("api_unreachable".to_owned(), 20)])
    );
    assert!(f.api_unreachable_attempts >= 20);
    assert_eq!(f.refused(), 0);
    assert!(f.accounted(), "{f:?}");
}

/// An HTTP front for `target` that loses the answers to the first `lose` connections: it
/// relays the request, waits for the first byte of the answer, then closes the client's
/// connection (the request was acted on, the client cannot know). Later connections are relayed
/// both ways. Counts the answers it lost.
async fn lossy_front(target: SocketAddr, lose: usize) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lost = Arc::new(AtomicUsize::new(0));
    let count = lost.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut client, _)) = listener.accept().await {
            n += 1;
            let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
            if n > lose {
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                continue;
            }
            let count = count.clone();
            tokio::spawn(async move {
                let (mut from_client, _to_client) = client.split();
                let (mut from_server, mut to_server) = server.split();
                let mut first = [0u8; 1];
                tokio::select! {
                    _ = tokio::io::copy(&mut from_client, &mut to_server) => {}
                    read = from_server.read(&mut first) => {
                        if read.is_ok_and(|n| n > 0) {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                let _ = to_server.shutdown().await;
            });
        }
    });
    (url, lost)
}

/// The tasks the server at `api` knows, with their references.
async fn tasks_on(api: &str, token: &str) -> Vec<serde_json::Value> {
    reqwest::Client::new()
        .get(format!("{api}/api/v1/tasks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_whose_answer_was_lost_is_sent_again_and_makes_one_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site_dir("demo"));
    let serving = server::Serving::start(config).await;
    let demo = maps::Site::load(&site_dir("demo")).unwrap();
    let (rate, duration) = (120.0, Duration::from_secs(1));
    let business = |seed| {
        Business::new(
            &demo,
            Destinations::Any,
            Naming::SameMap,
            rate,
            duration,
            vec![],
            seed,
        )
    };

    // one URL: the first task's answer is lost twice, then it comes (the task the first
    // attempt created)
    let (front, lost) = lossy_front(serving.server.http_addr, 2).await;
    let api = Api::new(&front, &serving.token);
    let f = submit_all(business(3), &api).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2);
    assert_eq!(
        (f.requested, f.submitted, f.resubmitted),
        (2, 2, 1),
        "{f:?}"
    );
    assert!(f.accounted(), "{f:?}");
    let tasks = tasks_on(&serving.api(), &serving.token).await;
    assert_eq!(tasks.len(), 2, "one task each: {tasks:?}");
    assert_ne!(tasks[0]["reference"], tasks[1]["reference"]);

    // two URLs: the answer lost on the first, the request goes on to the second at once
    let (front, lost) = lossy_front(serving.server.http_addr, usize::MAX).await;
    let api = Api::with_bases(&[front, serving.api()], &serving.token);
    let f = submit_all(business(4), &api).await;
    assert_eq!(lost.load(Ordering::SeqCst), 1);
    assert_eq!((f.submitted, f.resubmitted), (2, 0), "{f:?}");
    assert_eq!(api.failovers(), 1);
    assert_eq!(api.base(), serving.api());
    assert_eq!(tasks_on(&serving.api(), &serving.token).await.len(), 4);
    serving.stop().await;
}

async fn busy_fleet(agvs: usize, tasks_per_min: f64, seconds: u64) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(site_dir("warehouse-3f"));
    let serving = server::Serving::start(config).await;
    let report = agv_sim::run(RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![serving.api()],
        token: serving.token.clone(),
        site: site_dir("warehouse-3f"),
        agvs,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(seconds),
        time_scale: 4.0,
        tasks_per_min,
        obstacles_per_min: 1.0,
        seed: 5,
        first_id: 1,
        start_after: 0,
        drain: Duration::from_secs(30),
        progress: false,
        destinations: Destinations::default(),
        naming: Naming::SameMap,
        relocate: 0.0,
        fail_fast: false,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
        vda5050: None,
    })
    .await
    .unwrap();
    serving.stop().await;
    println!("{}", report.table());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_fleet_gets_the_tasks_the_rate_asks_for_each_accounted_for() {
    // 100 a minute at 4 × time for 20 AGVs: each asked for a task every 48 simulated seconds,
    // about what they can carry with the lift rides
    let (rate, seconds) = (100.0, 25);
    let r = busy_fleet(20, rate, seconds).await;
    let t = &r.tasks;
    assert_eq!(
        t.requested,
        requested(rate, Duration::from_secs(seconds)),
        "{}",
        r.table()
    );
    assert!(t.accounted(), "{}", r.table());
    // no task refused, least of all for its destination
    assert_eq!(t.refused(), 0, "{}", r.table());
    assert!(
        !t.not_submitted
            .keys()
            .any(|k| k.starts_with("destination_") || k.starts_with("not_a_")),
        "{}",
        r.table()
    );
    // the tasks flow: nearly all submitted, most completed, kinds mixed
    assert!(t.submitted * 10 >= t.requested * 9, "{}", r.table());
    assert!(t.completed * 10 >= t.submitted * 8, "{}", r.table());
    for kind in ["move", "pick", "drop"] {
        assert!(t.submitted_by_kind.contains_key(kind), "{}", r.table());
    }
    assert!(t.named > 0, "{}", r.table());
    assert!(r.errors.is_empty(), "{}", r.table());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}
