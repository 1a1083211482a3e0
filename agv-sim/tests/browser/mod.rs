//! Headless Chromium over WebDriver for the dashboard's test and load script: Debian's
//! `chromium` and `chromium-driver` (or `CHROMIUM` / `CHROMEDRIVER`), a session, sign-in.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a wait may take before the caller fails.
pub const WAIT: Duration = Duration::from_secs(40);

/// The browser and its driver, from `CHROMIUM` / `CHROMEDRIVER` or Debian's paths.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let driver = std::env::var_os("CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    (chromium.exists() && driver.exists()).then_some((chromium, driver))
}

/// Kills chromedriver (and with it the browser) however the test ends.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it gives `Some`; `None` after `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Starts chromedriver on a free port and opens a headless browser session (1400x900).
pub async fn open(chromium: &std::path::Path, chromedriver: &std::path::Path) -> (Driver, Client) {
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = poll(WAIT, || {
        let (caps, connector, webdriver) = (caps.clone(), connector.clone(), webdriver.clone());
        async move {
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&webdriver)
                .await
                .ok()
        }
    })
    .await
    .expect("chromedriver accepts a session");
    (driver, client)
}

/// Runs a script in the page and returns its value.
pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Whether the element `css` is there and shown.
pub async fn visible(c: &Client, css: &str) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// Opens the dashboard at `base` and signs in with `token`.
pub async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(base).await.unwrap();
    let input = c.wait().for_element(Locator::Id("token")).await.unwrap();
    input.send_keys(token).await.unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    poll(WAIT, || async {
        (!visible(c, "#login").await).then_some(())
    })
    .await
    .expect("the login prompt closes");
}

/// Clicks the element `css` (found fresh, so a re-rendered element is not stale).
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Picks `value` in the `<select>` `css`.
pub async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
}

/// A number the dashboard's canvas publishes in its `data-` attributes (`map`, `agvs`,
/// `frames`), if it has one yet.
pub async fn canvas(c: &Client, key: &str) -> Option<u64> {
    js(
        c,
        &format!("return Number(document.getElementById('map').dataset.{key} || 0);"),
    )
    .await
    .as_u64()
}
