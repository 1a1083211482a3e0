//! The event stream resumes after the last event a subscriber saw (`Last-Event-ID`): from
//! memory, and from the stored log after a restart; the audit log pages with a cursor.

use rcs_server::Config;
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::sse::{Sse, Stream};
use support::{ADMIN, Running, client, request};

/// Creates a token named `name`: a `token.created` event.
async fn token(s: &Running, name: &str) {
    let (status, _) = request(
        s,
        Method::POST,
        "/api/v1/tokens",
        Some(ADMIN),
        Some(json!({ "name": name, "role": "viewer" })),
    )
    .await;
    assert_eq!(status, 201);
}

fn names(events: &[Sse]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.0 == "token.created")
        .map(|e| e.2["detail"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_subscriber_resumes_after_the_last_event_it_saw_across_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (_, stream) = Stream::open(&s, "", None).await;
    let mut stream = stream.unwrap();
    for n in ["a1", "a2"] {
        token(&s, n).await;
    }
    let seen = stream.next(2).await;
    assert_eq!(names(&seen), ["a1", "a2"]);
    let last = seen[1].1.expect("events have ids");
    assert_eq!(seen[1].2["seq"], last);
    drop(stream);

    // missed while away: sent first, in order, once; then the stream goes on
    for n in ["b1", "b2", "b3"] {
        token(&s, n).await;
    }
    let (_, stream) = Stream::open(&s, "", Some(&last.to_string())).await;
    let mut stream = stream.unwrap();
    let missed = stream.next(3).await;
    assert_eq!(names(&missed), ["b1", "b2", "b3"]);
    token(&s, "b4").await;
    let next = stream.next(1).await;
    assert_eq!(names(&next), ["b4"]);
    let b2 = missed[1].1.unwrap();
    drop(stream);

    // the query parameter does the same
    let (_, stream) = Stream::open(&s, &format!("?last_event_id={b2}"), None).await;
    assert_eq!(names(&stream.unwrap().next(2).await), ["b3", "b4"]);

    // a bad id is refused
    let (status, _) = Stream::open(&s, "", Some("yesterday")).await;
    assert_eq!(status, 400);

    // after a restart (nothing in memory) the missed ones come from the stored log
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    token(&s, "c1").await;
    let (_, stream) = Stream::open(&s, "", Some(&b2.to_string())).await;
    let mut stream = stream.unwrap();
    let mut got = Vec::new();
    while !names(&got).contains(&"c1".to_owned()) {
        got.extend(stream.next(1).await);
    }
    assert_eq!(names(&got), ["b3", "b4", "c1"], "{got:?}");
    let ids: Vec<u64> = got.iter().filter_map(|e| e.1).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order: {ids:?}");
    assert!(ids[0] > b2);
    s.stop().await;
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    for i in 0..7 {
        token(&s, &format!("t{i}")).await;
    }
    let page = |query: String| {
        let url = s.url(&format!("/api/v1/audit?{query}"));
        async move {
            let resp = client().get(url).bearer_auth(ADMIN).send().await.unwrap();
            let status = resp.status().as_u16();
            let link = resp
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_owned());
            let body: Value = resp.json().await.unwrap();
            (status, link, body)
        }
    };
    let tokens = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "token.created")
            .map(|e| e["detail"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // newest first, three at a time, following the Link header
    let (status, link, first) = page("limit=3".into()).await;
    assert_eq!(status, 200);
    assert_eq!(tokens(&first), ["t6", "t5", "t4"]);
    let link = link.expect("a full page links the next");
    let next = link
        .strip_prefix("</api/v1/audit?")
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap()
        .to_owned();
    let (_, _, second) = page(next).await;
    assert_eq!(tokens(&second), ["t3", "t2", "t1"]);
    // following the log: oldest first after a seq
    let t1 = second[2]["seq"].as_i64().unwrap();
    let (_, _, after) = page(format!("after={t1}&limit=100")).await;
    assert_eq!(tokens(&after), ["t2", "t3", "t4", "t5", "t6"]);
    let (_, link, _) = page(format!("after={t1}&limit=100")).await;
    assert_eq!(link, None, "a page that is not full links nothing");
    let (status, _, body) = page("before=1&after=2".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_query"))
    );
    s.stop().await;
}
