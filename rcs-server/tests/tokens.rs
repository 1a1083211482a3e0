//! API tokens: created through the CLI or the API they work at once; listed without secrets;
//! revoked through the API (at once) or the CLI (within seconds, also on a running server).

use std::time::Duration;

use rcs_server::Config;
use rcs_server::auth::{digest, generate, token_id};
use rcs_server::state::now_ms;
use reqwest::Method;
use serde_json::json;

mod support;
use support::{ADMIN, Running, get, request};

#[tokio::test]
async fn tokens_work_at_once_are_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let db = &s.server.state.db;

    // created the way the CLI does it (straight into the database, the server not told)
    let cli = generate();
    db.insert_api_token(&digest(&cli), "cli", "viewer", now_ms() as i64)
        .await
        .unwrap();
    let (status, me) = get(&s, "/api/v1/whoami", Some(&cli)).await;
    assert_eq!(status, 200, "a CLI token works at once: {me}");
    assert_eq!(me, json!({ "name": "cli", "role": "viewer" }));

    // created through the API: 201, with its id
    let (status, made) = request(
        &s,
        Method::POST,
        "/api/v1/tokens",
        Some(ADMIN),
        Some(json!({ "name": "wall", "role": "operator" })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let api = made["token"].as_str().unwrap().to_owned();
    let api_id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(api_id, token_id(&digest(&api)));
    assert_eq!(get(&s, "/api/v1/whoami", Some(&api)).await.0, 200);

    // listed, oldest first, without secrets; admin only
    let (status, list) = get(&s, "/api/v1/tokens", Some(ADMIN)).await;
    assert_eq!(status, 200);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["role"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("cli", "viewer"), ("wall", "operator")]);
    let text = list.to_string();
    for secret in [&cli, &api, &digest(&cli), &digest(&api)] {
        assert!(
            !text.contains(secret.as_str()),
            "a secret in the list: {text}"
        );
    }
    assert_eq!(get(&s, "/api/v1/tokens", Some(&api)).await.0, 403);

    // revoked through the API: refused at once; again: 404
    let path = format!("/api/v1/tokens/{api_id}");
    assert_eq!(
        request(&s, Method::DELETE, &path, Some(&api), None).await.0,
        403
    );
    let (status, _) = request(&s, Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(status, 204);
    assert_eq!(get(&s, "/api/v1/whoami", Some(&api)).await.0, 401);
    let (status, body) = request(&s, Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_token"))
    );
    let (status, body) = request(&s, Method::DELETE, "/api/v1/tokens/zz", Some(ADMIN), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_token"))
    );

    // revoked the way the CLI does it: refused within seconds
    let cli_id = token_id(&digest(&cli)).to_owned();
    assert!(db.revoke_api_token(&cli_id).await.unwrap().is_some());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while get(&s, "/api/v1/whoami", Some(&cli)).await.0 != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a token revoked by the CLI still works after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the admin token stays; the audit log has both
    assert_eq!(get(&s, "/api/v1/whoami", Some(ADMIN)).await.0, 200);
    let (_, audit) = get(&s, "/api/v1/audit", Some(ADMIN)).await;
    let kinds = audit.to_string();
    assert!(
        kinds.contains("token.created") && kinds.contains("token.revoked"),
        "{kinds}"
    );
    s.stop().await;
}

/// `rcs-server token create|list|revoke` against a data directory.
#[test]
fn the_cli_creates_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcs-server"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, token, err) = run(&["token", "create", "--name", "line 3", "--role", "viewer"]);
    assert!(ok, "{err}");
    let token = token.trim();
    let id = token_id(&digest(token)).to_owned();
    let (ok, list, err) = run(&["token", "list"]);
    assert!(ok, "{err}");
    assert!(
        list.contains(&id) && list.contains("line 3") && list.contains("viewer"),
        "{list}"
    );
    assert!(!list.contains(token), "the secret listed: {list}");
    let (ok, out, err) = run(&["token", "revoke", &id]);
    assert!(ok && out.contains("revoked"), "{out} {err}");
    let (ok, list, _) = run(&["token", "list"]);
    assert!(ok && !list.contains(&id), "{list}");
    let (ok, _, err) = run(&["token", "revoke", &id]);
    assert!(!ok && err.contains("no stored token"), "{err}");
}
