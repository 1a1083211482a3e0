//! A fleet run: spawn the AGVs (one tokio task each, no thread per AGV), play the business
//! system (submit tasks at a rate, follow them to completion), watch the invariant, report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crypto::sign::{CachedVerifier, SigningKey, VerifyingKey};
use maps::file::NodeKind;
use sm2::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use tokio::sync::watch;

use crate::agv::{self, Mode, Profile, Spec};
use crate::api::Api;
pub use crate::business::Destinations;
use crate::business::{Business, Naming};
use crate::monitor::Monitor;
use crate::report::{Report, Stats};

/// How often a run off a terminal prints a progress line.
pub const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The RCS addresses (`host:port`), in order of preference: every AGV starts with the first
    /// and fails over along the list (replaced by the list a configuration push carries).
    pub servers: Vec<String>,
    /// The HTTP API base URLs (one, or every instance of a cluster): the business system uses
    /// the one that answers and fails over along the list ([`Api::with_bases`]).
    pub api: Vec<String>,
    /// An API token (admin for secure mode: it enrolls the keys; operator otherwise).
    pub token: String,
    /// The site directory (the server's).
    pub site: PathBuf,
    /// How many AGVs.
    pub agvs: usize,
    /// Access mode.
    pub mode: Mode,
    /// Secure profile.
    pub profile: Profile,
    /// How long to run (then submitted tasks are drained).
    pub duration: Duration,
    /// Simulated time per real second.
    pub time_scale: f64,
    /// Tasks per minute (real time) submitted through the API.
    pub tasks_per_min: f64,
    /// Obstacles per minute of driving, per AGV.
    pub obstacles_per_min: f64,
    /// Seed.
    pub seed: u64,
    /// First AGV id.
    pub first_id: u32,
    /// Start places after the first `start_after` that the seed gives: a second fleet beside
    /// one of `start_after` AGVs started with the same seed and site (and ids after its ids)
    /// puts no AGV on a place of the first's (`agv-sim capacity`'s probe AGVs). 0: from the
    /// first.
    pub start_after: usize,
    /// How long to wait for submitted tasks after `duration`.
    pub drain: Duration,
    /// Show progress: a bar on a terminal; off a terminal (a log file, CI) a plain line on
    /// standard error every [`PROGRESS_LINE_EVERY`].
    pub progress: bool,
    /// Where tasks go.
    pub destinations: Destinations,
    /// Which AGV a named task (one in three) names: one on the destination's floor when there
    /// is one ([`Naming::SameMap`], as a business system names a vehicle nearby), or any
    /// ([`Naming::Random`]: many cross-floor rides, a test of the lifts).
    pub naming: Naming,
    /// Chance that an AGV whose link was lost comes back at another free node (moved by hand
    /// while offline), per reconnection.
    pub relocate: f64,
    /// Stop the run at the first invariant violation.
    pub fail_fast: bool,
    /// Reconnection churn: drop-outs per AGV and hour. Each AGV drops its TCP connection (no
    /// close frame, as a broken link) at seeded random times (exponential gaps) and reconnects
    /// with the usual backoff, keeping its pose. 0: off.
    pub churn_per_hour: f64,
    /// Status reports at most this often (ms), even when the RCS configures a shorter period
    /// (a lighter load for long runs on a small machine). 0: as configured.
    pub min_status_period_ms: u64,
    /// VDA 5050 vehicles besides the `agvs` guide AGVs.
    pub vda5050: Option<VdaFleet>,
}

/// VDA 5050 vehicles in a run, beside (or instead of) the guide AGVs: each speaks MQTT to the
/// broker the RCS's gateway uses.
#[derive(Debug, Clone)]
pub struct VdaFleet {
    /// How many (their AGV ids follow the guide AGVs'; each is given its id through the API
    /// before it connects).
    pub vehicles: usize,
    /// The broker's host and port.
    pub broker: (String, u16),
    /// The interface name (`uagv`).
    pub interface: String,
    /// The versions spoken, given in turn.
    pub versions: Vec<vda5050::version::Version>,
}

/// Whether node `n` lies in a forbidden area (no AGV may stand or go there).
fn forbidden(site: &maps::Site, n: &maps::Node) -> bool {
    site.areas_at(n.map, n.x, n.y)
        .any(|a| a.kind == maps::file::AreaKind::Forbidden)
}

/// Start places: distinct nodes at least 2.5 m from each other, outside forbidden areas, spread
/// over the site's maps.
fn start_nodes(
    site: &maps::Site,
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<(u16, f64, f64, u32)>> {
    let mut nodes: Vec<&maps::Node> = site
        .nodes()
        .iter()
        .filter(|n| n.kind == NodeKind::Waypoint && !forbidden(site, n))
        .collect();
    // deterministic shuffle
    let mut x = seed | 1;
    for i in (1..nodes.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        nodes.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut chosen: Vec<(u16, f64, f64, u32)> = Vec::new();
    for node in nodes {
        if chosen.len() == n {
            break;
        }
        if chosen
            .iter()
            .all(|c| c.0 != node.map || (c.1 - node.x).hypot(c.2 - node.y) >= 2.5)
        {
            chosen.push((node.map, node.x, node.y, node.id));
        }
    }
    anyhow::ensure!(
        chosen.len() == n,
        "the site has room for {} AGVs, not {n}",
        chosen.len()
    );
    Ok(chosen)
}

/// The token is checked before the run, not found wanting at its end: refused (401), or of a
/// role too low for what the run does (tasks need `operator`, secure mode `admin` to enroll
/// keys). An API that does not answer yet is no reason to stop: the run reports what it could
/// not do.
async fn check_token(api: &Api, opts: &RunOptions) -> anyhow::Result<()> {
    let needs = if opts.mode == Mode::Secure {
        "admin"
    } else if opts.tasks_per_min > 0.0 {
        "operator"
    } else {
        "viewer"
    };
    let rank = |r: &str| ["viewer", "operator", "admin"].iter().position(|x| *x == r);
    match api.whoami().await {
        Ok((name, role)) => anyhow::ensure!(
            rank(&role) >= rank(needs),
            "the API token ({name}) has the {role} role; this run needs {needs}"
        ),
        Err(crate::api::ApiError::Status { status: 401, .. }) => {
            anyhow::bail!("the API refused the token (401): check --token / RCS_API_TOKEN")
        }
        Err(e) => tracing::warn!(error = %e, "the API did not answer; going on"),
    }
    Ok(())
}

/// Runs the fleet and returns the report.
pub async fn run(opts: RunOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let site = Arc::new(maps::Site::load(&opts.site)?);
    let api = Api::with_bases(&opts.api, &opts.token);
    check_token(&api, &opts).await?;
    let vda_count = opts.vda5050.as_ref().map_or(0, |v| v.vehicles);
    let total = opts.agvs + vda_count;
    let mut starts = start_nodes(&site, opts.start_after + total, opts.seed)?;
    starts.drain(..opts.start_after);
    anyhow::ensure!(!opts.servers.is_empty(), "no RCS address");
    let rcs = match opts.mode {
        Mode::Secure => {
            let pem = api.server_key().await?;
            let public = sm2::PublicKey::from_public_key_pem(pem.trim())
                .map_err(|e| anyhow::anyhow!("server key: {e}"))?;
            Some(Arc::new(CachedVerifier::new(VerifyingKey::new(
                crypto::DEFAULT_ID,
                public,
            )?)))
        }
        Mode::Normal | Mode::Vda5050 => None,
    };
    let shared_site = site.clone();
    let stats = Arc::new(Stats::default());
    let monitor = Arc::new(Monitor::for_site(&site));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut handles = Vec::new();
    let relocate = (opts.relocate > 0.0).then(|| agv::Relocate {
        probability: opts.relocate,
        places: Arc::new(
            site.nodes()
                .iter()
                .filter(|n| n.kind == NodeKind::Waypoint && !forbidden(&site, n))
                .map(|n| (n.map, n.x, n.y, n.id))
                .collect(),
        ),
        nodes: Arc::new(
            site.nodes()
                .iter()
                .map(|n| (n.id, (n.map, n.x, n.y)))
                .collect(),
        ),
    });
    for (i, (map_id, x, y, node)) in starts.into_iter().enumerate() {
        let id = opts.first_id + i as u32;
        if i >= opts.agvs
            && let Some(vda) = &opts.vda5050
        {
            let k = i - opts.agvs;
            let version = vda.versions[k % vda.versions.len().max(1)];
            let serial = agv::vda::serial_number(id);
            api.set_vda5050_vehicle(agv::vda::MANUFACTURER, &serial, id)
                .await?;
            let spec = Spec {
                id,
                map_id,
                x,
                y,
                node,
                keys: None,
                profile: opts.profile,
                time_scale: opts.time_scale,
                obstacles_per_min: 0.0,
                seed: opts.seed,
                relocate: None,
                churn_per_hour: 0.0,
                min_status_period_ms: opts.min_status_period_ms,
            };
            let vda_spec = agv::vda::VdaSpec {
                host: vda.broker.0.clone(),
                port: vda.broker.1,
                interface: vda.interface.clone(),
                version,
            };
            handles.push(tokio::spawn(agv::vda::run(
                spec,
                vda_spec,
                shared_site.clone(),
                monitor.clone(),
                stats.clone(),
                stop_rx.clone(),
            )));
            continue;
        }
        let keys = match &rcs {
            Some(rcs) => {
                let key = SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng())?;
                let pem = key
                    .verifying_key()
                    .public_key()
                    .to_public_key_pem(sm2::pkcs8::LineEnding::LF)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                api.enroll(id, &pem).await?;
                Some((Arc::new(key), rcs.clone()))
            }
            None => None,
        };
        let spec = Spec {
            id,
            map_id,
            x,
            y,
            node,
            keys,
            profile: opts.profile,
            time_scale: opts.time_scale,
            obstacles_per_min: opts.obstacles_per_min,
            seed: opts.seed,
            relocate: relocate.clone(),
            churn_per_hour: opts.churn_per_hour,
            min_status_period_ms: opts.min_status_period_ms,
        };
        handles.push(tokio::spawn(agv::run(
            opts.servers.clone(),
            spec,
            monitor.clone(),
            stats.clone(),
            stop_rx.clone(),
        )));
    }
    // the invariant monitor
    let mon = monitor.clone();
    let mut mon_stop = stop_rx.clone();
    let watcher = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => { mon.check(); }
                _ = mon_stop.changed() => return,
            }
        }
    });
    // wait for the fleet to register
    let deadline = Instant::now() + Duration::from_secs(30);
    while (stats.connected.load(Ordering::Relaxed) as usize) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bar = if opts.progress {
        indicatif::ProgressBar::new(opts.duration.as_secs().max(1))
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // the business system: tasks where the RCS takes them, at the rate asked, followed to
    // their end
    let ids: Vec<u32> = (0..total).map(|i| opts.first_id + i as u32).collect();
    let mut business = Business::new(
        &site,
        opts.destinations,
        opts.naming,
        opts.tasks_per_min,
        opts.duration,
        ids,
        opts.seed,
    );
    let run_start = Instant::now();
    // off a terminal the bar is not drawn: a line now and then instead
    let lines = opts.progress && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut next_line = run_start + PROGRESS_LINE_EVERY;
    let mut next_poll = Instant::now();
    let mut drain_until: Option<Instant> = None;
    let mut annotated = 0u64;
    loop {
        business.submit_due(&api, &monitor).await;
        let now = Instant::now();
        if drain_until.is_none()
            && !business.submitting()
            && now.duration_since(run_start) >= opts.duration
        {
            drain_until = Some(now + opts.drain);
        }
        if now >= next_poll {
            next_poll = now + Duration::from_millis(500);
            business.follow(&api).await;
        }
        bar.set_position(
            now.duration_since(run_start)
                .as_secs()
                .min(opts.duration.as_secs()),
        );
        // one status text for the bar and, off a terminal, the line
        let status = format!(
            "{} AGVs connected, tasks {} open / {} done, {} violations",
            stats.connected.load(Ordering::Relaxed),
            business.open(),
            business.completed(),
            monitor.samples()
        );
        if lines && now >= next_line {
            next_line = now + PROGRESS_LINE_EVERY;
            let draining = if drain_until.is_some() {
                " (draining)"
            } else {
                ""
            };
            eprintln!(
                "progress: {} s of {} s{draining}: {status}",
                now.duration_since(run_start).as_secs(),
                opts.duration.as_secs(),
            );
        }
        bar.set_message(status);
        if monitor.samples() > annotated {
            annotated = monitor.samples();
            annotate(&api, &monitor).await;
            if opts.fail_fast {
                break;
            }
        }
        if let Some(until) = drain_until
            && (business.open() == 0 || now >= until)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bar.finish_and_clear();
    if std::env::var_os("SIM_DEBUG").is_some() {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/tasks", api.base()))
            .bearer_auth(&opts.token)
            .send()
            .await?
            .text()
            .await?;
        eprintln!("TASKS {r}");
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/agvs", api.base()))
            .bearer_auth(&opts.token)
            .send()
            .await?
            .text()
            .await?;
        eprintln!("AGVS {r}");
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/audit?limit=3000", api.base()))
            .bearer_auth(&opts.token)
            .send()
            .await?
            .text()
            .await?;
        eprintln!("AUDIT {r}");
    }
    if opts.churn_per_hour > 0.0 {
        // churn ends with the run: the links broken last get the reconnection backoff (at
        // most 2 s) to come back before the count (an AGV still away then never came back)
        stats.churn_over.store(true, Ordering::Relaxed);
        let until = Instant::now() + Duration::from_secs(5);
        while (stats.connected.load(Ordering::Relaxed) as usize) < total && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let connected_at_end = stats.connected.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    let _ = watcher.await;
    monitor.check();
    let offline = stats.offline_by_agv();
    let select = |f: fn(&crate::report::Offline) -> bool| {
        offline
            .iter()
            .filter(|(_, o)| f(o))
            .map(|(id, _)| *id)
            .collect::<Vec<u32>>()
    };
    let acknowledged = crate::report::Acknowledged {
        tasks: business.accepted().to_vec(),
        grants: stats.grants_received(),
    };
    Ok(Report {
        acknowledged,
        redirects: stats.redirects.load(Ordering::Relaxed),
        api_failovers: api.failovers(),
        never_came_back: select(|o| o.offline_at_end),
        never_connected: select(|o| o.never_connected),
        offline,
        agvs: total,
        agvs_connected: connected_at_end,
        disconnects: stats.disconnects.load(Ordering::Relaxed),
        reconnects: stats.reconnects.load(Ordering::Relaxed),
        relocated: stats.relocated.load(Ordering::Relaxed),
        churn_drops: stats.churn_drops.load(Ordering::Relaxed),
        refused_held: stats.refused_held.load(Ordering::Relaxed),
        frames_sent: stats.frames_sent.load(Ordering::Relaxed),
        messages_received: stats.frames_received.load(Ordering::Relaxed),
        commands_received: stats.commands.load(Ordering::Relaxed),
        map_switches: stats.map_switches.load(Ordering::Relaxed),
        vda5050_map_switches: stats.vda5050_map_switches.load(Ordering::Relaxed),
        errors: stats.errors(),
        tasks: business.figures(),
        grants_requested: stats.grants_requested.load(Ordering::Relaxed),
        grants_granted: stats.grants_granted.load(Ordering::Relaxed),
        grants_denied: stats.grants_denied.load(Ordering::Relaxed),
        request_latency_ms: stats.latency_ms(),
        violation_samples: monitor.samples(),
        violations: monitor.violations(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Adds what the RCS holds for the AGVs of new violations (`GET /api/v1/space`).
async fn annotate(api: &Api, monitor: &Monitor) {
    let Ok(space) = api.space().await else {
        return;
    };
    monitor.annotate(|agv| {
        space
            .iter()
            .filter(|(a, ..)| *a == agv)
            .map(|(_, map, kind, id)| match id {
                Some(id) if *id >= 1 << 40 => format!("{kind} edge {} (map {map})", id - (1 << 40)),
                Some(id) => format!("{kind} {id} (map {map})"),
                None => format!("{kind} (map {map})"),
            })
            .collect()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fleet started after the first N places of a seed takes none of them: the places of N
    /// AGVs are the first N of any larger fleet's with that seed (`--start-after`).
    #[test]
    fn start_places_of_a_smaller_fleet_are_a_larger_ones_first() {
        let dir = tempfile::tempdir().unwrap();
        maps::generate::grid_site("t", 2, 12, 12)
            .write(dir.path())
            .unwrap();
        let site = maps::Site::load(dir.path()).unwrap();
        let first = start_nodes(&site, 20, 7).unwrap();
        let both = start_nodes(&site, 30, 7).unwrap();
        assert_eq!(&both[..20], &first[..]);
        let after = &both[20..];
        assert_eq!(after.len(), 10);
        for a in after {
            for f in &first {
                assert!(
                    a.0 != f.0 || (a.1 - f.1).hypot(a.2 - f.2) >= 2.5,
                    "{a:?} {f:?}"
                );
            }
        }
        // another seed gives other places
        assert_ne!(start_nodes(&site, 20, 8).unwrap(), first);
    }
}
