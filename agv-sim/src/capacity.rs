//! The capacity run (`agv-sim capacity`): the server's cost per AGV against fleet size, for each
//! access mode, in one command (docs/performance.md, "Capacity").
//!
//! For every mode and fleet size it starts a fresh `rcs-server` (its own data directory, a
//! generated grid site large enough for the largest fleet), connects a fleet of `agv-sim run`
//! (status at the RCS's 10 Hz, no tasks, no obstacles) and, once every AGV is online and a
//! warm-up has passed, measures over a window:
//!
//! - the server's CPU time (user + system, `/proc/PID/stat`) over the status reports it counted
//!   (`rcs_status_reports_total`): **CPU per status frame**, everything the server did in the
//!   window included (heartbeats, the traffic core's ticks, telemetry, the database);
//! - its resident memory (`VmRSS`) with the fleet connected against the same server before the
//!   fleet came: **memory per connected AGV**;
//! - the round trip of operator commands through the HTTP API to an AGV and back
//!   (`POST /api/v1/agvs/{id}/commands`, a `param_query`, sent at a fixed rate to AGVs picked
//!   at random): **command round trip p50/p99/max**. With probe AGVs (`--command-probes`,
//!   default 10), every other command goes instead to one of a few AGVs run by a process of
//!   their own: the round trip with an AGV that answers at once, as a real AGV with a CPU of
//!   its own does, where the fleet's AGVs answer after the simulator's queue on its busy CPU
//!   (**probe command p50/p99**);
//! - errors the server counted in the window (protocol errors, rate-limited frames, sessions
//!   closed, database errors).
//!
//! The server and the fleet can be pinned to CPUs (`taskset`): the server's core count is what
//! the per-core figures are per. A size the server cannot carry (its cores at least 90 % busy,
//! or not every AGV online in time) ends that mode's series. For the secure modes the bound
//! their cryptography sets is measured on the server's CPUs in the same run ([`bound`]) twice:
//! on an idle machine with one AGV's frames, before the mode's first size, and under the run's
//! conditions, after each window (the fleet's frames, a key per AGV, opened while the fleet
//! keeps running beside them and the server is paused). Rows go to `capacity.csv`; [`plot`]
//! draws them.

pub mod bound;
pub mod network;
pub mod plot;
mod process;
mod row;
pub mod slope;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use self::network::Link;
pub use self::network::Network;
use self::process::{CpuTimes, Process, command, cpu_count, cpu_list, cpu_seconds, rss_kib};
pub use self::row::{CSV_HEADER, Row, markdown, read_csv};
use crate::api::Api;

/// The status rate the RCS configures (docs/protocol.md: 100 ms).
const STATUS_HZ: f64 = 10.0;
/// The API token the runs use.
const TOKEN: &str = "capacity-run-token";

/// An access mode measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Normal mode: plain frames with their checksums.
    Normal,
    /// Secure mode, the fast profile (SM4 and a session MAC).
    Fast,
    /// Secure mode, the gcm profile (SM4-GCM).
    Gcm,
    /// Secure mode, the guide's profile (SM4 and an SM2 signature on every frame).
    Guide,
}

impl Mode {
    /// Its name in the CSV and on the plots.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Fast => "fast",
            Mode::Gcm => "gcm",
            Mode::Guide => "guide",
        }
    }

    fn fleet_args(self) -> &'static [&'static str] {
        match self {
            Mode::Normal => &["--mode", "normal"],
            Mode::Fast => &["--mode", "secure", "--profile", "fast"],
            Mode::Gcm => &["--mode", "secure", "--profile", "gcm"],
            Mode::Guide => &["--mode", "secure", "--profile", "guide"],
        }
    }
}

/// What a capacity run measures and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server binary (a release build).
    pub rcs_server: PathBuf,
    /// The agv-sim binary that runs the fleets (normally this one).
    pub agv_sim: PathBuf,
    /// Modes, in order.
    pub modes: Vec<Mode>,
    /// Fleet sizes for normal mode and the fast profile, ascending.
    pub sizes: Vec<usize>,
    /// Fleet sizes for the guide profile (its signatures cost far more per frame).
    pub guide_sizes: Vec<usize>,
    /// The measured window.
    pub window: Duration,
    /// Time after the last AGV came online before the window.
    pub warmup: Duration,
    /// CPUs the server is pinned to (`taskset -c`), e.g. `0` or `0,1`; none: not pinned.
    pub server_cpus: Option<String>,
    /// CPUs the fleet is pinned to.
    pub fleet_cpus: Option<String>,
    /// Operator commands per second in the window.
    pub commands_per_sec: f64,
    /// AGVs beside the fleet, in a simulator process of their own, that every other command
    /// goes to (0: every command to a fleet AGV).
    pub command_probes: usize,
    /// Output directory (site, logs, `capacity.csv`).
    pub out: PathBuf,
    /// The AGV listener's port; the API listens on the next one.
    pub port: u16,
    /// A PostgreSQL URL (default: SQLite in each run's data directory); each run gets its own
    /// schema, dropped before it starts (with `psql`).
    pub database_url: Option<String>,
    /// More arguments for every server started (e.g. `--telemetry-flush-ms=3600000`).
    pub server_args: Vec<String>,
    /// How the fleet reaches the server.
    pub network: Network,
}

/// Why a capacity run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// A file or process could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was tried.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The server did not answer `/healthz` in time.
    #[error("the server did not come up in {0:?} (see {1})")]
    ServerDown(Duration, PathBuf),
    /// The server exited during a run.
    #[error("the server exited during the run (see {0})")]
    ServerExited(PathBuf),
    /// The fleet exited before every AGV was online.
    #[error("the fleet exited before every AGV was online (see {0})")]
    FleetExited(PathBuf),
    /// A line of a CSV is not a row.
    #[error("{path}:{line}: not a capacity row")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
    },
    /// Drawing failed.
    #[error("plot: {0}")]
    Plot(String),
}

impl CapacityError {
    fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        CapacityError::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// Runs every mode and size; prints each row as it is measured and appends it to
/// `out/capacity.csv` (a new file each run).
pub async fn run(opts: &Options) -> Result<Vec<Row>, CapacityError> {
    fs::create_dir_all(&opts.out).map_err(|e| CapacityError::io(opts.out.display(), e))?;
    let largest = opts
        .sizes
        .iter()
        .chain(&opts.guide_sizes)
        .copied()
        .max()
        .unwrap_or(1);
    let site = opts.out.join("site");
    write_site(&site, largest + opts.command_probes)?;
    // this program's own work (the commands, the metrics) stays off the server's CPUs
    if let Some(cpus) = &opts.fleet_cpus {
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let link = Link::open(opts.network, &opts.server_cpus, &opts.fleet_cpus)?;
    let csv_path = opts.out.join("capacity.csv");
    let mut csv = format!("{CSV_HEADER}\n");
    fs::write(&csv_path, &csv).map_err(|e| CapacityError::io(csv_path.display(), e))?;
    let mut rows = Vec::new();
    for &mode in &opts.modes {
        let sizes = if mode == Mode::Guide {
            &opts.guide_sizes
        } else {
            &opts.sizes
        };
        let open_us = crypto_bound(opts, mode, 1)?;
        for &agvs in sizes {
            let row = measure(opts, &link, &site, mode, agvs, open_us).await?;
            println!(
                "{:<6} {:>6} AGVs on {} core(s): {:>7.0} status/s of {:>7.0}, server {:.2} cores, {:>6.2} µs/frame ({:>6.0} AGVs/core at 10 Hz), {:>6.2} KiB/AGV, command p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} errors), {} server errors: {}",
                row.mode,
                row.agvs,
                row.server_cores,
                row.status_per_sec,
                row.expected_per_sec,
                row.server_load,
                row.cpu_us_per_frame,
                row.agvs_per_core,
                row.rss_per_agv_kib,
                row.command_p50_ms,
                row.command_p99_ms,
                row.command_max_ms,
                row.command_errors,
                row.server_errors,
                row.verdict
            );
            if row.server_cpus_load > 0.0 {
                println!(
                    "       over {}: the server's CPUs {:.2} busy, {:.2} µs a frame with everything on them; the fleet's {:.2}",
                    row.network,
                    row.server_cpus_load,
                    row.cpu_all_us_per_frame,
                    row.fleet_cpus_load
                );
            }
            if row.agv_answer_p99_ms > 0.0 {
                println!(
                    "       the AGVs' answers to the commands (the server's rcs_command_answer_seconds): p99 at most {:.1} ms",
                    row.agv_answer_p99_ms
                );
            }
            if row.command_audit_p99_ms > 0.0 || row.telemetry_batch_ms > 0.0 {
                println!(
                    "       the commands' audit rows (rcs_command_audit_seconds): p99 at most {:.1} ms; the telemetry writer's pass: {:.1} ms on average",
                    row.command_audit_p99_ms, row.telemetry_batch_ms
                );
            }
            if row.open_us > 0.0 && row.cpu_us_per_frame > 0.0 {
                println!(
                    "       of the crypto bound: {:.2} of one AGV's frames ({:.2} µs each), {:.2} of the fleet's ({:.2} µs each)",
                    row.open_us / row.cpu_us_per_frame,
                    row.open_us,
                    row.open_fleet_us / row.cpu_us_per_frame,
                    row.open_fleet_us
                );
            }
            csv.push_str(&row.csv());
            csv.push('\n');
            fs::write(&csv_path, &csv).map_err(|e| CapacityError::io(csv_path.display(), e))?;
            let broke = row.verdict == "saturated" || row.verdict == "not-online";
            rows.push(row);
            if broke {
                break;
            }
        }
    }
    Ok(rows)
}

/// The crypto bound of a secure mode ([`bound`]) for the frames of `agvs` AGVs, measured by
/// this program started again on the server's CPUs (`agv-sim capacity --crypto-bound PROFILE
/// --crypto-keys AGVS`); 0 for normal mode.
fn crypto_bound(opts: &Options, mode: Mode, agvs: usize) -> Result<f64, CapacityError> {
    let profile = match mode {
        Mode::Normal => return Ok(0.0),
        Mode::Fast => "fast",
        Mode::Gcm => "gcm",
        Mode::Guide => "guide",
    };
    let out = command(&opts.server_cpus, &opts.agv_sim)
        .args(["capacity", "--crypto-bound", profile, "--crypto-keys"])
        .arg(agvs.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| CapacityError::io("measuring the crypto bound", e))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .map_err(|_| CapacityError::Io {
            what: "measuring the crypto bound".into(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stdout).into_owned()),
        })
}

/// A generated 3-floor grid with five nodes per AGV of the largest fleet.
fn write_site(dir: &Path, agvs: usize) -> Result<(), CapacityError> {
    // agv-sim places AGVs at random at least 2.5 m apart: five nodes each leave room
    let side = ((5.0 * agvs as f64 / 3.0).sqrt().ceil() as u32).max(8);
    let files = maps::generate::grid_site("capacity", 3, side, side);
    files.write(dir).map_err(|e| CapacityError::Io {
        what: format!("writing the site to {}", dir.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The sum of every series of a metric in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The error counters summed into [`Row::server_errors`].
const ERROR_METRICS: [&str; 6] = [
    "rcs_protocol_errors_total",
    "rcs_rate_limited_frames_total",
    "rcs_session_closes_total",
    "rcs_db_errors_total",
    "rcs_refused_connections_total",
    "rcs_panics_total",
];

async fn metrics(http: &reqwest::Client, base: &str) -> Option<String> {
    let r = http.get(format!("{base}/metrics")).send().await.ok()?;
    r.text().await.ok()
}

/// The `q` quantile of histogram `name` over the window (its buckets' counts in `after` less
/// those in `before`), as the upper bound of the bucket it falls in, ms; 0 when the window
/// observed nothing or it fell in `+Inf`.
fn bucket_quantile_ms(before: &str, after: &str, name: &str, q: f64) -> f64 {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (le, count) = rest.split_once("\"} ")?;
                Some((le.parse().ok()?, count.trim().parse().ok()?))
            })
            .collect()
    };
    let (b0, b1) = (buckets(before), buckets(after));
    let count =
        |le: f64, b: &[(f64, f64)]| b.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, c)| *c);
    let window: Vec<(f64, f64)> = b1.iter().map(|&(le, c)| (le, c - count(le, &b0))).collect();
    let total = metric(after, &format!("{name}_count")) - metric(before, &format!("{name}_count"));
    if total <= 0.0 {
        return 0.0;
    }
    window
        .iter()
        .find(|(_, c)| *c >= q * total)
        .filter(|(le, _)| le.is_finite())
        .map_or(0.0, |(le, _)| le * 1000.0)
}

/// The mean of histogram `name`'s observations between two scrapes, ms; 0 without any.
fn mean_ms(before: &str, after: &str, name: &str) -> f64 {
    let delta = |what: &str| {
        metric(after, &format!("{name}_{what}")) - metric(before, &format!("{name}_{what}"))
    };
    let count = delta("count");
    if count <= 0.0 {
        return 0.0;
    }
    delta("sum") / count * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    opts: &Options,
    link: &Link,
    site: &Path,
    mode: Mode,
    agvs: usize,
    open_us: f64,
) -> Result<Row, CapacityError> {
    let dir = opts.out.join(format!("{}-{agvs}", mode.name()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| CapacityError::io(dir.display(), e))?;
    let ip = link.server_ip;
    let agv_addr = format!("{ip}:{}", opts.port);
    let base = format!("http://{ip}:{}", opts.port + 1);
    let mut cmd = command(&opts.server_cpus, &opts.rcs_server);
    cmd.arg("--site")
        .arg(site)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--agv-listen", &agv_addr])
        .args(["--http-listen", &format!("{ip}:{}", opts.port + 1)])
        .args(["--api-token", TOKEN])
        .args(["--max-pending-per-peer", "0"])
        .args(["--max-connections", &(agvs + 1000).to_string()]);
    if let Some(url) = &opts.database_url {
        let schema = format!("capacity_{}_{agvs}", mode.name());
        let _ = Command::new("psql")
            .arg(url)
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        cmd.args(["--database-url", url, "--db-schema", &schema]);
    }
    cmd.args(&opts.server_args);
    let mut server = Process::spawn(link.server_command(cmd), dir.join("server.log"))?;
    let http = reqwest::Client::new();
    let up = Duration::from_secs(60);
    let started = Instant::now();
    loop {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if server.exited() {
            return Err(CapacityError::ServerExited(server.log.clone()));
        }
        if started.elapsed() > up {
            return Err(CapacityError::ServerDown(up, server.log.clone()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // what start-up allocated and freed goes back to the system over the allocator's decay
    // time (jemalloc: 10 s): the idle figure is the least seen over 12 s
    let mut rss_idle = u64::MAX;
    for _ in 0..24 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_idle = rss_idle.min(rss_kib(server.pid()).unwrap_or(u64::MAX));
    }
    let rss_idle = if rss_idle == u64::MAX { 0 } else { rss_idle };

    // A standing fleet streaming status, with no tasks or obstacles, on the fleet's CPUs.
    let fleet_run = |agvs: usize| {
        let mut cmd = command(&opts.fleet_cpus, &opts.agv_sim);
        cmd.arg("run")
            .args(["--server", &agv_addr, "--api", &base, "--token", TOKEN])
            .arg("--site")
            .arg(site)
            .args(["--agvs", &agvs.to_string()])
            .args(mode.fleet_args())
            .args(["--tasks", "0", "--obstacles", "0", "--duration", "24h"])
            .args(["--drain", "0s"]);
        cmd
    };
    let mut fleet = Process::spawn(fleet_run(agvs), dir.join("fleet.log"))?;
    // The probe AGVs: ids and start places after the fleet's (same seed, same site).
    let probes = opts.command_probes;
    let mut probe = if probes > 0 {
        let mut probe_cmd = fleet_run(probes);
        probe_cmd
            .args(["--first-id", &(agvs + 1).to_string()])
            .args(["--start-after", &agvs.to_string()]);
        Some(Process::spawn(probe_cmd, dir.join("probe.log"))?)
    } else {
        None
    };

    // every AGV online (secure fleets enroll their keys first, one API call each)
    let per_agv_ms = if mode == Mode::Normal { 2 } else { 50 };
    let deadline =
        Instant::now() + Duration::from_secs(60) + Duration::from_millis(per_agv_ms * agvs as u64);
    let mut online = 0usize;
    while Instant::now() < deadline {
        if server.exited() {
            return Err(CapacityError::ServerExited(server.log.clone()));
        }
        if fleet.exited() {
            return Err(CapacityError::FleetExited(fleet.log.clone()));
        }
        if let Some(p) = probe.as_mut()
            && p.exited()
        {
            return Err(CapacityError::FleetExited(p.log.clone()));
        }
        if let Some(text) = metrics(&http, &base).await {
            online = (metric(&text, "rcs_agvs_online") as usize).saturating_sub(probes);
            if online >= agvs {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let server_cores = cpu_count(&opts.server_cpus);
    let expected = agvs as f64 * STATUS_HZ;
    if online < agvs {
        return Ok(Row {
            mode: mode.name().into(),
            server_cores,
            agvs,
            online,
            expected_per_sec: expected,
            rss_idle_kib: rss_idle,
            rss_kib: rss_kib(server.pid()).unwrap_or(0),
            open_us,
            verdict: "not-online".into(),
            network: opts.network.name().into(),
            ..Row::default()
        });
    }
    tokio::time::sleep(opts.warmup).await;

    // the window
    let before = metrics(&http, &base).await.unwrap_or_default();
    // the CPUs' own busy time, when the server and the fleet have their own
    let all_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = |cpus: &Option<String>| match cpus {
        Some(_) => cpu_list(cpus, all_cpus),
        None => Vec::new(),
    };
    let (server_cpus, fleet_cpus) = (pinned(&opts.server_cpus), pinned(&opts.fleet_cpus));
    let server_cpus0 = CpuTimes::read(&server_cpus);
    let fleet_cpus0 = CpuTimes::read(&fleet_cpus);
    let cpu0 = cpu_seconds(server.pid()).unwrap_or(0.0);
    let fleet0 = cpu_seconds(fleet.pid()).unwrap_or(0.0);
    let t0 = Instant::now();
    let api = Api::new(&base, TOKEN);
    let mut sent = tokio::task::JoinSet::new();
    let every = Duration::from_secs_f64(1.0 / opts.commands_per_sec.max(0.01));
    let mut next = t0;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ agvs as u64;
    let body = serde_json::json!({"command": "param_query", "params": ["max_linear_speed"]});
    while t0.elapsed() < opts.window {
        next += every;
        tokio::time::sleep_until(next.into()).await;
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // every other command to a probe AGV, when there are probes
        let to_probe = probes > 0 && seed >> 63 == 1;
        let agv = if to_probe {
            (agvs + 1) as u32 + ((seed >> 33) % probes as u64) as u32
        } else {
            1 + ((seed >> 33) % agvs as u64) as u32
        };
        let api = api.clone();
        let body = body.clone();
        sent.spawn(async move {
            let t = Instant::now();
            let status = api.command(agv, &body).await;
            (
                t.elapsed().as_secs_f64() * 1000.0,
                matches!(status, Ok(200)),
                to_probe,
            )
        });
    }
    let window = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(server.pid()).unwrap_or(cpu0);
    let fleet1 = cpu_seconds(fleet.pid()).unwrap_or(fleet0);
    let server_cpus1 = CpuTimes::read(&server_cpus);
    let fleet_cpus1 = CpuTimes::read(&fleet_cpus);
    let after = metrics(&http, &base).await.unwrap_or_default();
    let rss = rss_kib(server.pid()).unwrap_or(0);
    // the server's own figures (request times, telemetry, ...) for a closer look
    let _ = fs::write(dir.join("metrics-before.txt"), &before);
    let _ = fs::write(dir.join("metrics-after.txt"), &after);
    let (mut latencies, mut probe_latencies) = (Vec::new(), Vec::new());
    let mut command_errors = 0;
    while let Some(done) = sent.join_next().await {
        match done {
            Ok((ms, true, false)) => latencies.push(ms),
            Ok((ms, true, true)) => probe_latencies.push(ms),
            _ => command_errors += 1,
        }
    }
    if server.exited() {
        return Err(CapacityError::ServerExited(server.log.clone()));
    }
    // The bound under the run's conditions: the server paused, its CPUs open the fleet's
    // frames while the fleet keeps sending beside them (for the few seconds this takes, its
    // AGVs' writes go to the socket buffers).
    let open_fleet_us = if mode == Mode::Normal {
        0.0
    } else {
        let pid = server.pid().to_string();
        let _ = Command::new("kill").args(["-STOP", &pid]).status();
        let bound = crypto_bound(opts, mode, agvs);
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        bound?
    };
    drop(probe);
    drop(fleet);
    drop(server);
    latencies.sort_by(f64::total_cmp);
    probe_latencies.sort_by(f64::total_cmp);

    let frames =
        metric(&after, "rcs_status_reports_total") - metric(&before, "rcs_status_reports_total");
    let errors: f64 = ERROR_METRICS
        .iter()
        .map(|m| metric(&after, m) - metric(&before, m))
        .sum();
    let server_load = (cpu1 - cpu0) / window;
    let cpu_us = if frames > 0.0 {
        (cpu1 - cpu0) / frames * 1e6
    } else {
        0.0
    };
    let status_per_sec = frames / window;
    let server_cpus_busy = server_cpus1.0 - server_cpus0.0;
    let server_cpus_load = server_cpus_busy / window;
    // the server's cores are busy with it or with the kernel's work for its frames
    let busy = server_load.max(server_cpus_load) >= 0.9 * server_cores as f64;
    let verdict = if busy {
        // it may still count every report, but what waits behind them (commands) does not
        // keep up
        "saturated"
    } else if status_per_sec >= 0.95 * expected {
        "ok"
    } else {
        "fleet-bound"
    };
    Ok(Row {
        mode: mode.name().into(),
        server_cores,
        agvs,
        online,
        status_per_sec,
        expected_per_sec: expected,
        server_load,
        fleet_load: (fleet1 - fleet0) / window,
        cpu_us_per_frame: cpu_us,
        agvs_per_core: if cpu_us > 0.0 {
            1e6 / cpu_us / STATUS_HZ
        } else {
            0.0
        },
        rss_idle_kib: rss_idle,
        rss_kib: rss,
        rss_per_agv_kib: rss.saturating_sub(rss_idle) as f64 / online.max(1) as f64,
        commands: latencies.len(),
        command_p50_ms: percentile(&latencies, 0.5),
        command_p99_ms: percentile(&latencies, 0.99),
        command_max_ms: latencies.last().copied().unwrap_or(0.0),
        command_errors,
        server_errors: errors.max(0.0) as u64,
        open_us,
        open_fleet_us,
        verdict: verdict.into(),
        network: opts.network.name().into(),
        server_cpus_load,
        fleet_cpus_load: (fleet_cpus1.0 - fleet_cpus0.0) / window,
        cpu_all_us_per_frame: if frames > 0.0 {
            server_cpus_busy / frames * 1e6
        } else {
            0.0
        },
        agv_answer_p99_ms: bucket_quantile_ms(&before, &after, "rcs_command_answer_seconds", 0.99),
        command_audit_p99_ms: bucket_quantile_ms(
            &before,
            &after,
            "rcs_command_audit_seconds",
            0.99,
        ),
        telemetry_batch_ms: mean_ms(&before, &after, "rcs_telemetry_batch_seconds"),
        probe_commands: probe_latencies.len(),
        probe_command_p50_ms: percentile(&probe_latencies, 0.5),
        probe_command_p99_ms: percentile(&probe_latencies, 0.99),
        runtime_lag_p99_ms: bucket_quantile_ms(&before, &after, "rcs_runtime_lag_seconds", 0.99),
        api_runtime_lag_p99_ms: bucket_quantile_ms(
            &before,
            &after,
            "rcs_api_runtime_lag_seconds",
            0.99,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histograms_quantile_in_the_window_is_its_buckets_upper_bound() {
        let at = |a: u32, b: u32, c: u32| {
            format!(
                "rcs_x_seconds_bucket{{le=\"0.001\"}} {a}\nrcs_x_seconds_bucket{{le=\"0.025\"}} {b}\nrcs_x_seconds_bucket{{le=\"+Inf\"}} {c}\nrcs_x_seconds_count {c}\n"
            )
        };
        // in the window: 90 under 1 ms, 9 more under 25 ms, 1 above (in +Inf: no bound to give)
        let (before, after) = (at(10, 10, 10), at(100, 109, 110));
        for (q, want) in [(0.5, 1.0), (0.99, 25.0), (1.0, 0.0)] {
            assert_eq!(
                bucket_quantile_ms(&before, &after, "rcs_x_seconds", q),
                want,
                "q {q}"
            );
        }
        // nothing in the window, and a histogram the server does not have
        assert_eq!(
            bucket_quantile_ms(&after, &after, "rcs_x_seconds", 0.99),
            0.0
        );
        assert_eq!(bucket_quantile_ms("", &after, "rcs_y_seconds", 0.99), 0.0);
    }

    #[test]
    fn a_histograms_mean_in_the_window_is_its_sums_growth_over_its_counts() {
        let at = |sum: f64, count: u32| {
            format!("rcs_x_seconds_sum {sum}\nrcs_x_seconds_count {count}\n")
        };
        // three passes in the window, 0.75 s in all
        assert_eq!(mean_ms(&at(1.5, 10), &at(2.25, 13), "rcs_x_seconds"), 250.0);
        assert_eq!(mean_ms(&at(1.5, 10), &at(1.5, 10), "rcs_x_seconds"), 0.0);
        assert_eq!(mean_ms("", "", "rcs_x_seconds"), 0.0);
    }

    #[test]
    fn metrics_sum_their_series_and_only_theirs() {
        let text = "# HELP rcs_session_closes_total x\nrcs_session_closes_total{reason=\"a\"} 2\nrcs_session_closes_total{reason=\"b\"} 3\nrcs_sessions_total 9\nrcs_agvs_online 7\n";
        assert_eq!(metric(text, "rcs_session_closes_total"), 5.0);
        assert_eq!(metric(text, "rcs_agvs_online"), 7.0);
        assert_eq!(metric(text, "rcs_sessions"), 0.0);
    }

    #[test]
    fn cpu_lists_count_their_cpus() {
        assert_eq!(cpu_count(&Some("0".into())), 1);
        assert_eq!(cpu_count(&Some("0,1".into())), 2);
        assert_eq!(cpu_count(&Some("0-3,6".into())), 5);
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(rss_kib(pid).is_some_and(|k| k > 0));
        assert!(cpu_seconds(pid).is_some());
    }
}
