//! The API's contract: the OpenAPI document is complete (every route, unique operation ids,
//! the common errors) and valid (openapi-spec-validator), and schemathesis, run against a live
//! server, finds no server error, no answer outside the document and no crash. The two Python
//! tools come from PyPI: `scripts/test` installs them; without them the checks that need them
//! say that they skipped.

use std::process::Command;

use rcs_server::Config;
use serde_json::Value;

mod support;
use support::{ADMIN, Running, get};

/// Every route of the router, as (method, path) in the document's spelling.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/v1/cluster"),
    ("get", "/api/v1/agvs"),
    ("post", "/api/v1/agvs/enroll"),
    ("get", "/api/v1/agvs/{id}"),
    ("delete", "/api/v1/agvs/{id}"),
    ("post", "/api/v1/agvs/{id}/commands"),
    ("put", "/api/v1/agvs/{id}/policy"),
    ("delete", "/api/v1/agvs/{id}/space"),
    ("get", "/api/v1/grants"),
    ("get", "/api/v1/safety"),
    ("delete", "/api/v1/grants/{id}"),
    ("get", "/api/v1/tasks"),
    ("post", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{id}"),
    ("delete", "/api/v1/tasks/{id}"),
    ("get", "/api/v1/waits"),
    ("get", "/api/v1/maps"),
    ("get", "/api/v1/maps/{id}"),
    ("get", "/api/v1/site/files"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/live"),
    ("get", "/api/v1/space"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/server-key"),
    ("get", "/api/v1/vda5050/vehicles"),
    ("put", "/api/v1/vda5050/vehicles"),
];

/// Whether `python3 -c "import <module>"` works.
fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_openapi_document_is_complete_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (status, doc) = get(&s, "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let mut ids = std::collections::BTreeSet::new();
    let mut documented = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented += 1;
            let id = op["operationId"].as_str().expect("an operation id");
            assert!(ids.insert(id.to_owned()), "operation id {id} twice");
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/api/v1/") && path != "/api/v1/cluster" {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
            if op["requestBody"].is_object() {
                for code in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(code), "{method} {path}: no {code}");
                }
            }
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let body = &r["content"]["application/json"]["schema"]["$ref"];
                    assert!(
                        path == "/healthz" || body == "#/components/schemas/ApiErrorBody",
                        "{method} {path} {code}: not the error body"
                    );
                }
            }
        }
    }
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not in the document"
        );
    }
    assert_eq!(
        documented,
        ROUTES.len(),
        "a route in the document not listed here"
    );

    if python_has("openapi_spec_validator") {
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, doc.to_string()).unwrap();
        let out = Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!(
            "SKIPPED: openapi-spec-validator is not installed (scripts/test installs it): the \
             document was not validated"
        );
    }
    s.stop().await;
}

/// schemathesis against a live server: its response checks (no 5xx, status codes, content
/// types, headers and bodies as documented, deleted resources gone, authentication enforced)
/// on every operation, with generated and mutated requests. Its checks that a schema-valid
/// request is accepted (and an invalid one refused) are left out: the server refuses what the
/// document cannot say is wrong (a key that is not SM2, an empty token name, a float for an
/// id), with the documented 400 or 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_outside_the_contract() {
    if !Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("SKIPPED: schemathesis is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let schema = s.url("/api/openapi.json");
    let auth = format!("Authorization: Bearer {ADMIN}");
    let run = |extra: &[&str]| {
        let mut c = Command::new("schemathesis");
        c.args(["run", &schema, "-H", &auth, "--checks", "all"])
            .args([
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection",
            ])
            .args(["--seed", "1", "--no-color"])
            .args(extra)
            .current_dir(dir.path());
        c
    };
    // the event streams never end: each request is cut after 2 s, and few are made
    let plain = run(&[
        "--max-examples",
        "20",
        "--exclude-path",
        "/api/v1/events",
        "--exclude-path",
        "/api/v1/live",
    ]);
    let streams = run(&[
        "--max-examples",
        "3",
        "--request-timeout",
        "2",
        "--include-path",
        "/api/v1/events",
        "--include-path",
        "/api/v1/live",
    ]);
    for mut c in [plain, streams] {
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // and the server is still there
    let (status, _): (u16, Value) = get(&s, "/healthz", None).await;
    assert_eq!(status, 200);
    s.stop().await;
}

/// The Grafana dashboard in the repository (docs/grafana/rcs-fleet.json) asks only for metrics
/// the server exposes.
#[tokio::test]
async fn the_grafana_dashboard_names_only_metrics_that_exist() {
    let dashboard: Value =
        serde_json::from_str(include_str!("../../docs/grafana/rcs-fleet.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    // a request counted, a session opened and closed, before the metrics are read
    assert_eq!(get(&s, "/api/v1/agvs", Some(ADMIN)).await.0, 200);
    let agv = support::BackgroundAgv::spawn_at(
        &s.server,
        support::normal_agv(1),
        support::ack_all(),
        3.5,
    );
    let state = s.server.state.clone();
    support::eventually("registered", || {
        state.fleet.get(1).is_some_and(|v| v.status.is_some())
    })
    .await;
    agv.stop().await;
    support::eventually("closed", || state.fleet.get(1).is_some_and(|v| !v.online)).await;
    let text = support::text(&s, "/metrics").await;
    s.stop().await;
    let mut exposed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            exposed.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    exposed.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    let mut asked = 0;
    let mut missing = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("rcs_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                asked += 1;
                if !exposed.contains(&name) {
                    missing.push(format!("{} ({})", name, panel["title"]));
                }
                rest = &rest[at + name.len()..];
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the dashboard asks for what the server does not expose: {missing:?}"
    );
    assert!(asked >= 18, "{asked} metrics asked for");
}
