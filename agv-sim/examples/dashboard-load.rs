//! The dashboard under load: for each fleet size, a real rcs-server on a generated one-floor
//! grid (70 × 70 nodes, every AGV on the shown map), a simulated fleet reporting at 10 Hz and
//! doing tasks, and the dashboard in headless Chromium; after the page has every AGV, it reads the
//! page's own counters (`window.rcsDashboard.perf()`) over a window: canvas draw time, frames
//! drawn per second, live-update handling time, live stream bytes per second. Figures go to
//! docs/performance.md; a screenshot per size to `target/tmp/dashboard-load-N.png`.
//!
//! `cargo run --release -p agv-sim --example dashboard-load -- --agvs 100,1000 --seconds 20`

use std::time::Duration;

use agv_sim::RunOptions;
use agv_sim::agv::{Mode, Profile};
use clap::Parser;
use rcs_server::Config;
use serde_json::Value;

#[path = "../tests/browser/mod.rs"]
mod browser;
#[path = "../tests/server/mod.rs"]
mod server;

#[derive(Parser)]
struct Args {
    /// Fleet sizes, measured one after the other in this run.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    agvs: Vec<usize>,
    /// Seconds measured per fleet size.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Grid side (nodes per row and column).
    #[arg(long, default_value_t = 70)]
    grid: u32,
}

async fn measure(args: &Args, agvs: usize) -> anyhow::Result<Value> {
    let (chromium, chromedriver) = browser::browser()
        .ok_or_else(|| anyhow::anyhow!("needs /usr/bin/chromium and /usr/bin/chromedriver"))?;
    let dir = tempfile::tempdir()?;
    let site = dir.path().join("site");
    maps::generate::grid_site("dashboard-load", 1, args.grid, args.grid).write(&site)?;
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site.clone());
    let serving = server::Serving::start(config).await;
    let (base, token) = (serving.api(), serving.token.clone());
    let fleet = tokio::spawn(agv_sim::run(RunOptions {
        servers: vec![serving.server.agv_addr.to_string()],
        api: vec![base.clone()],
        token: token.clone(),
        site,
        agvs,
        mode: Mode::Normal,
        profile: Profile::Fast,
        duration: Duration::from_secs(3600),
        time_scale: 1.0,
        tasks_per_min: agvs as f64,
        obstacles_per_min: 0.0,
        seed: 3,
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

    let (_driver, c) = browser::open(&chromium, &chromedriver).await;
    browser::sign_in(&c, &base, &token).await;
    browser::poll(Duration::from_secs(120), || async {
        (browser::canvas(&c, "agvs").await? as usize >= agvs).then_some(())
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("the page never showed {agvs} AGVs"))?;
    // Let tasks get going, then measure a clean window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    browser::js(&c, "return window.rcsDashboard.perf();").await;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let perf = browser::js(&c, "return window.rcsDashboard.perf();").await;
    let moving = browser::js(
        &c,
        "return document.querySelectorAll('#fleet-list .st-working').length;",
    )
    .await;
    let png = c.screenshot().await?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("dashboard-load-{agvs}.png")), png)?;
    c.close().await?;
    fleet.abort();
    serving.stop().await;
    let mut perf = perf;
    perf["working_in_list"] = moving;
    Ok(perf)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "| AGVs | drawn | working | fps | draw p50 / p95 / max ms | update p50 / p95 ms | updates/s | stream KB/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &args.agvs {
        let p = measure(&args, n).await?;
        let f = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {n} | {} | {} | {:.1} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} | {:.1} | {:.0} |",
            p["drawn"],
            p["working_in_list"],
            f("fps"),
            f("draw_ms_p50"),
            f("draw_ms_p95"),
            f("draw_ms_max"),
            f("update_ms_p50"),
            f("update_ms_p95"),
            f("updates_per_s"),
            f("bytes_per_s") / 1000.0,
        );
    }
    Ok(())
}
