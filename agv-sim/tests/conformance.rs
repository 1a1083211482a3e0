//! The conformance suite against our own server: every check passes, none is skipped.

use agv_sim::api::Api;
use agv_sim::conformance::{Target, run, table};
use rcs_server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_tests(dir.path());
    let token = config.api_token.clone().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (server, serve) = rcs_server::start(config, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let serving = tokio::spawn(serve);
    let target = Target {
        server: server.agv_addr,
        api: Some(Api::new(&format!("http://{}", server.http_addr), &token)),
        first_id: 60_000,
    };
    let outcomes = run(&target).await;
    let text = table(&outcomes);
    println!("{text}");
    assert!(outcomes.len() >= 18, "{text}");
    assert!(outcomes.iter().all(|o| o.result == "pass"), "{text}");
    let _ = tx.send(());
    serving.await.unwrap();
}
