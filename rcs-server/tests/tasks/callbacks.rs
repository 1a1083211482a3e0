//! Task progress posted to the business system: the callbacks, their signature and secret.

use super::*;

#[tokio::test]
async fn task_progress_is_posted_to_the_business_system() {
    use axum::routing::post;
    const SECRET: &str = "a-shared-secret-of-32-characters";
    // (headers, body) of every try; the first try of each delivery is answered 500
    type Tries = Vec<(axum::http::HeaderMap, axum::body::Bytes)>;
    let received: Arc<std::sync::Mutex<Tries>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/rcs/callback",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let mut tries = sink.lock().unwrap();
                    let first = !tries
                        .iter()
                        .any(|(h, _)| h["x-rcs-delivery"] == headers["x-rcs-delivery"]);
                    tries.push((headers, body));
                    if first {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.callback_url = Some(format!("http://{addr}/rcs/callback"));
    config.callback_secret = Some(SECRET.into());
    let s = Running::start(config).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    let t = submit(&s, json!({ "kind": "move", "destination": 3 })).await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "completed").await;
    let body_of = |b: &axum::body::Bytes| serde_json::from_slice::<Value>(b).unwrap();
    eventually("completion posted", || {
        let tries = received.lock().unwrap();
        tries
            .iter()
            .filter(|(_, b)| body_of(b)["event"] == "task.completed")
            .count()
            == 2
    })
    .await;
    let tries = received.lock().unwrap().clone();
    // every try is signed: HMAC-SHA256 of "{timestamp}.{body}" with the shared secret
    for (h, body) in &tries {
        let at: u64 = h["x-rcs-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(
            h["x-rcs-signature"].to_str().unwrap(),
            rcs_server::callbacks::sign(SECRET.as_bytes(), at, body),
        );
        assert_eq!(h["content-type"], "application/json");
    }
    // a retry carries the same delivery id, another event another one
    let deliveries: Vec<(String, String)> = tries
        .iter()
        .map(|(h, b)| {
            (
                h["x-rcs-delivery"].to_str().unwrap().to_owned(),
                body_of(b)["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (d, event) in &deliveries {
        assert_eq!(
            deliveries.iter().filter(|(e, _)| e == d).count(),
            2,
            "{deliveries:?}"
        );
        assert!(deliveries.iter().all(|(e, ev)| e != d || ev == event));
    }
    let events: Vec<String> = tries
        .iter()
        .map(|(_, b)| body_of(b))
        .filter(|v| v["task_id"] == id)
        .map(|v| v["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events.first().map(String::as_str),
        Some("task.submitted"),
        "{events:?}"
    );
    assert!(events.contains(&"task.assigned".to_owned()));
    assert_eq!(events.last().map(String::as_str), Some("task.completed"));
    a.stop().await;
    s.stop().await;
}

/// The signature is HMAC-SHA256 over "{timestamp}.{body}": pinned by a vector computed with
/// Python's `hmac` (the verification example in docs/operations.md).
#[test]
fn the_callback_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
    assert_eq!(
        rcs_server::callbacks::sign(
            b"a-shared-secret-of-32-characters",
            1_700_000_000_000,
            br#"{"event":"task.completed"}"#
        ),
        "v1=d11e86e9207514437fddebdd2b8f3133305b03a914104a0049994a18d1c2c1c7"
    );
}

/// Without a configured secret one is generated into the data dir (0600) and kept; a short
/// configured one is refused at start.
#[cfg(unix)]
#[tokio::test]
async fn the_callback_secret_is_generated_once_into_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = rcs_server::callbacks::secret(None, dir.path()).unwrap();
    let path = dir.path().join(rcs_server::callbacks::SECRET_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(secret.len() >= 32);
    assert_eq!(
        *rcs_server::callbacks::secret(None, dir.path()).unwrap(),
        *secret,
        "a new secret on the second start"
    );
    assert!(rcs_server::callbacks::secret(Some("short"), dir.path()).is_err());
}
