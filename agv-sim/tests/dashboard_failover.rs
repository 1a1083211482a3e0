//! The dashboard follows a failover (docs/operations.md, "Several instances"), in headless
//! Chromium: two rcs-server instances on one PostgreSQL (127.0.0.1:5432; SKIPPED without it).
//! Signed in on the active one, the page names it and its epoch; opened on the standby, it goes
//! to the active one by itself, signed in; when the active one stops, the page goes over to
//! the instance that took over, still signed in, and names it.

use std::net::SocketAddr;
use std::time::Duration;

use fantoccini::Client;
use rcs_server::Config;

mod browser;
mod server;
use browser::{poll, sign_in, visible};
use server::free_port;

struct Instance {
    http: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn start(url: &str, id: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path());
        config.database_url = Some(url.into());
        config.http_listen = free_port();
        config.agv_listen = free_port();
        config.instance_id = Some(id.into());
        config.lease_ms = 1_000;
        let http = config.http_listen;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rcs_server::run(config, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            http,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    async fn role(&self) -> Option<String> {
        let v: serde_json::Value = reqwest::get(format!("{}/api/v1/cluster", self.base()))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["role"].as_str().map(str::to_owned)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("stops")
            .unwrap();
    }
}

async fn until_role(i: &Instance, role: &str) {
    poll(Duration::from_secs(20), || async {
        (i.role().await.as_deref() == Some(role)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{} not {role}", i.http));
}

/// The page's address (`host:port`) and what its header says about the instance, once the
/// header names `wanted`.
async fn page_on(c: &Client, wanted: &str) -> (String, String) {
    let found = poll(Duration::from_secs(30), || async {
        let url = c.current_url().await.ok()?;
        let text = browser::js(
            c,
            "const e = document.getElementById('instance'); return e && !e.hidden ? e.textContent : '';",
        )
        .await
        .as_str()?
        .to_owned();
        let host = format!("{}:{}", url.host_str()?, url.port()?);
        text.contains(wanted).then_some((host, text))
    })
    .await;
    if let Some(found) = found {
        return found;
    }
    let shown = browser::js(
        c,
        "const e = document.getElementById('instance'); \
         return fetch('/api/v1/cluster').then(r => r.text()).then(t => \
           [location.href, e ? e.hidden : null, e ? e.textContent : null, t]);",
    )
    .await;
    panic!("the page never named `{wanted}`: {shown}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_a_failover() {
    let Some((chromium, chromedriver)) = browser::browser() else {
        if std::env::var_os("RCS_SKIP_BROWSER").is_some() {
            println!("SKIPPED: dashboard failover browser test (RCS_SKIP_BROWSER is set)");
            return;
        }
        panic!(
            "headless Chromium is missing: apt-get install chromium chromium-driver (scripts/test \
             installs them), or set RCS_SKIP_BROWSER=1 to skip this test knowingly."
        );
    };
    let Some((db, db_url)) =
        server::postgres::throwaway("the dashboard failover test", "dashfail").await
    else {
        return;
    };
    db.close().await;

    let a = Instance::start(&db_url, "inst-a");
    until_role(&a, "active").await;
    let b = Instance::start(&db_url, "inst-b");
    until_role(&b, "standby").await;
    let token = "test-admin-token";
    let (_driver, c) = browser::open(&chromium, &chromedriver).await;

    // Signed in on the active one: the header names it.
    sign_in(&c, &a.base(), token).await;
    let (host, text) = page_on(&c, "inst-a · active").await;
    assert_eq!(host, a.http.to_string());
    assert!(text.contains("epoch 1"), "{text}");

    // Opened on the standby, the page goes to the active one, signed in, the token out of the
    // address bar.
    c.goto(&format!("{}/#token={token}", b.base()))
        .await
        .unwrap();
    let (host, _) = page_on(&c, "inst-a · active").await;
    assert_eq!(host, a.http.to_string());
    assert!(!visible(&c, "#login").await, "still signed in");
    let url = c.current_url().await.unwrap();
    assert!(url.fragment().is_none_or(|f| !f.contains("token")), "{url}");

    // The active one stops: the page goes over to b once it took over, still signed in.
    a.stop().await;
    until_role(&b, "active").await;
    let (host, text) = page_on(&c, "inst-b · active").await;
    assert_eq!(host, b.http.to_string());
    assert!(text.contains("epoch 2"), "{text}");
    assert!(
        !visible(&c, "#login").await,
        "still signed in after the failover"
    );

    c.close().await.unwrap();
    b.stop().await;
    server::postgres::drop(&db_url).await;
}
