//! The conformance suite against our own server: every check passes (the master-side VDA 5050
//! checks too, for 2.0 and 3.0), none is skipped, and it leaves no AGV of its own behind.

use agv_sim::api::Api;
use agv_sim::conformance::{MqttTarget, Target, run, table};
use rcs_server::Config;
use vda5050::version::Version;

mod server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // pushed to the suite's AGVs (which do not fail over): the check of the list sees one
    config.rcs_addresses = ["127.0.0.1:7700", "[::1]:7700", "rcs-2.site.example:7700"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    // master-side VDA 5050 checks: Mosquitto when it is there, otherwise the server's embedded
    // broker; an interface of the run's own
    let port = server::mqtt_broker(&mut config);
    config.vda5050_interface = format!(
        "rcs-conf-{}-{}",
        std::process::id(),
        rcs_server::state::now_ms()
    );
    let interface = config.vda5050_interface.clone();
    let serving = server::Serving::start(config).await;
    let target = Target {
        server: serving.server.agv_addr,
        api: Some(Api::new(&serving.api(), &serving.token)),
        first_id: 60_000,
        keep_agvs: false,
        mqtt: Some(MqttTarget {
            host: "127.0.0.1".into(),
            port,
            interface,
            versions: vec![Version::V2_0, Version::V3_0],
        }),
    };
    let outcomes = run(&target).await;
    let text = table(&outcomes);
    println!("{text}");
    assert!(outcomes.len() >= 20, "{text}");
    let vda = outcomes.iter().filter(|o| o.section == "VDA 5050").count();
    assert_eq!(vda, 14, "7 VDA 5050 checks per version: {text}");
    assert!(outcomes.iter().all(|o| o.result == "pass"), "{text}");
    // nothing of the suite's is left: no AGV, no footprint, no reservation
    let left: Vec<u32> = serving
        .server
        .state
        .fleet
        .snapshot()
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| (60_000..60_000 + agv_sim::conformance::IDS_USED).contains(id))
        .collect();
    assert!(left.is_empty(), "left in the fleet: {left:?}");
    assert_eq!(
        serving.server.state.space().all().count(),
        0,
        "space left held"
    );
    serving.stop().await;
}
