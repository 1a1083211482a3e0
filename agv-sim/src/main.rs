//! `agv-sim`: runs a simulated fleet against an RCS (`agv-sim run`), or the conformance suite
//! (`agv-sim conformance`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agv_sim::agv::{Mode, Profile};
use clap::{Parser, Subcommand};

/// A simulated AGV fleet for rcs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a fleet: AGVs over TCP, tasks through the API, an invariant monitor, a report.
    Run(RunArgs),
    /// Runs the conformance suite (docs/protocol.md) against an RCS.
    Conformance(ConformanceArgs),
    /// Runs the traffic core alone against simulated AGVs in virtual time (no server, no TCP):
    /// deterministic for a seed; reports throughput, task times, waits, invariant violations
    /// and the core's CPU time.
    Virtual(VirtualArgs),
    /// Measures the server's cost per AGV against fleet size for each access mode: server CPU
    /// per status frame, memory per connected AGV, command round trip through the API; writes
    /// `capacity.csv` and draws `capacity.png` (docs/performance.md, "Capacity").
    Capacity(CapacityArgs),
}

#[derive(clap::Args)]
struct CapacityArgs {
    /// The server binary (default: `rcs-server` beside this executable: build both with
    /// `cargo build --release -p rcs-server -p agv-sim`).
    #[arg(long)]
    rcs_server: Option<PathBuf>,
    /// Modes, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "normal,fast,gcm,guide"
    )]
    modes: Vec<agv_sim::capacity::Mode>,
    /// Fleet sizes for normal mode and the fast and gcm profiles.
    #[arg(long, value_delimiter = ',', default_value = "1000,3000,5000,10000")]
    sizes: Vec<usize>,
    /// Fleet sizes for the guide profile.
    #[arg(long, value_delimiter = ',', default_value = "100,300,1000,3000")]
    guide_sizes: Vec<usize>,
    /// The measured window.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    window: Duration,
    /// Time after the last AGV came online before the window.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// CPUs the server is pinned to (`taskset -c`, e.g. `0` or `0,1`); default: on a machine
    /// with two or more CPUs, `0`; `all`: not pinned.
    #[arg(long)]
    server_cpus: Option<String>,
    /// CPUs the fleet is pinned to; default: every CPU but the server's first, when the
    /// server is pinned to one; `all`: not pinned.
    #[arg(long)]
    fleet_cpus: Option<String>,
    /// Operator commands per second during the window.
    #[arg(long, default_value_t = 20.0)]
    commands_per_sec: f64,
    /// Probe AGVs: a simulator process of their own beside the fleet, with ids after the
    /// fleet's; every other command goes to one of them (a round trip without the simulated
    /// fleet's own queue, as with a real AGV). 0: every command to a fleet AGV.
    #[arg(long, default_value_t = 10)]
    command_probes: usize,
    /// Output directory (site, logs of each run, capacity.csv, capacity.png).
    #[arg(long, default_value = "target/capacity")]
    out: PathBuf,
    /// The AGV listener's port (the API listens on the next).
    #[arg(long, default_value_t = 7900)]
    port: u16,
    /// PostgreSQL URL (default: SQLite in each run's data directory); each run gets its own
    /// schema, dropped first with `psql`.
    #[arg(long)]
    database_url: Option<String>,
    /// One more argument for every server started, e.g. `--server-arg=--telemetry-flush-ms=5000`
    /// (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// How the fleet reaches the server: `loopback` (127.0.0.1, where the fleet's CPU runs the
    /// server's side of TCP), or `veth` (Linux, root: the server in a network namespace of its
    /// own, `rcs-capacity`, over a veth pair, each side's receive path steered to its own CPUs,
    /// as a network card would; with `--database-url`, reach PostgreSQL by its Unix socket,
    /// e.g. `postgres:///test?host=/var/run/postgresql&user=postgres`).
    #[arg(long, value_enum, default_value = "loopback")]
    network: agv_sim::capacity::Network,
    /// Only draw: the rows of these CSVs (of earlier runs) into `--out`/capacity.png.
    #[arg(long, value_delimiter = ',')]
    plot_only: Vec<PathBuf>,
    /// Only print the µs to open one status frame of this profile in a tight loop (what a
    /// capacity run starts on the server's CPUs).
    #[arg(long, value_enum, hide = true)]
    crypto_bound: Option<Profile>,
    /// With `--crypto-bound`: the frames come from this many AGVs in turn, each with its own
    /// keys (as a fleet of that size sends them).
    #[arg(long, default_value_t = 1, hide = true)]
    crypto_keys: u32,
}

#[derive(clap::Args)]
struct VirtualArgs {
    /// How many AGVs.
    #[arg(long, default_value_t = 100)]
    agvs: usize,
    /// Simulated time with new tasks (e.g. 15m, 1h).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    duration: Duration,
    /// Simulated time after that for open tasks to finish.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    drain: Duration,
    /// Tasks per simulated hour for the whole fleet (default: 30 per AGV).
    #[arg(long)]
    tasks_per_hour: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A site directory (default: a generated rack warehouse with about `--nodes-per-agv`
    /// nodes for each AGV).
    #[arg(long)]
    site: Option<PathBuf>,
    /// Nodes per AGV of the generated warehouse (4: a quarter of the nodes taken).
    #[arg(long, default_value_t = 4.0)]
    nodes_per_agv: f64,
    /// One-way aisles in the generated warehouse (default: two-way).
    #[arg(long)]
    one_way: bool,
    /// Check footprints and coverage every this many steps (1: every 100 ms).
    #[arg(long, default_value_t = 1)]
    check_every: u64,
    /// Pauses per AGV and hour.
    #[arg(long, default_value_t = 2.0)]
    pauses: f64,
    /// Drop-outs per AGV and hour.
    #[arg(long, default_value_t = 0.5)]
    dropouts: f64,
    /// Nodes released ahead of an AGV (a very large number: each whole route at once, the
    /// naive baseline).
    #[arg(long, default_value_t = 3)]
    lookahead: usize,
    /// Print every step of this AGV and the actions for it (debugging).
    #[arg(long)]
    trace_agv: Option<u32>,
    /// Congestion control: no new assignments while more than this share of the running
    /// tasks wait for another AGV (0: off).
    #[arg(long, default_value_t = 0.5)]
    congestion_gate: f64,
    /// Maps where the AGVs stand on at least this share of the nodes move their AGVs at rest
    /// together, a node at a time (PIBT), to untie knots (0: never).
    #[arg(long, default_value_t = 0.15)]
    dense_share: f64,
    /// Print every AGV and why its task waits at the end (debugging).
    #[arg(long)]
    dump_at_end: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Where tasks go: `stations`, or `any` node a move, pick or drop may go to (as `run`
    /// sends them).
    #[arg(long, value_enum, default_value_t = VirtualDestinations::Stations)]
    destinations: VirtualDestinations,
    /// Every this many tasks, one names an AGV (0: none; `run` names one in 3).
    #[arg(long, default_value_t = 0)]
    named_every: u64,
    /// Which AGV a named task names: `random` (any, on any floor), or `same-map` (one on the
    /// destination's map when there is one, as `run` does by default).
    #[arg(long, value_enum, default_value_t = NamingArg::Random)]
    naming: NamingArg,
    /// A lift ride, door to door, in ms.
    #[arg(long, default_value_t = 8_000)]
    lift_ride_ms: u64,
}

/// Which AGV a named task names (`run`, `virtual`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum NamingArg {
    /// Any AGV not named by an open task, on any floor.
    Random,
    /// One on the destination's map when there is one.
    SameMap,
}

impl From<NamingArg> for agv_sim::Naming {
    fn from(n: NamingArg) -> Self {
        match n {
            NamingArg::Random => Self::Random,
            NamingArg::SameMap => Self::SameMap,
        }
    }
}

/// Where `virtual` sends tasks.
#[derive(Clone, Copy, clap::ValueEnum)]
enum VirtualDestinations {
    /// Stations only.
    Stations,
    /// Any node a move, pick or drop may go to.
    Any,
}

#[derive(clap::Args)]
struct ConformanceArgs {
    /// The RCS's AGV protocol address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    server: SocketAddr,
    /// The RCS's HTTP API (checks that need it are skipped without it).
    #[arg(long)]
    api: Option<String>,
    /// Admin API token.
    #[arg(long, env = "RCS_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// AGV ids the suite may use start here (it uses 24). Use a range no AGV of the site has:
    /// the suite's AGVs are decommissioned at the end (with `--api`).
    #[arg(long, default_value_t = 60_000)]
    first_id: u32,
    /// Leave the suite's AGVs in the fleet instead of decommissioning them at the end.
    #[arg(long)]
    keep_agvs: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The MQTT broker of the RCS's VDA 5050 master control (`mqtt://host:port`): runs the
    /// master-side VDA 5050 checks (they need `--api` too), one simulated vehicle per
    /// `--vda-version`.
    #[arg(long)]
    mqtt_url: Option<String>,
    /// The VDA 5050 versions checked, a vehicle each (2.0, 2.1, 3.0; comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "2.0,2.1,3.0", value_parser = parse_vda_version)]
    vda_version: Vec<vda5050::version::Version>,
    /// The RCS's VDA 5050 interface name (its `--vda5050-interface`).
    #[arg(long, default_value = "uagv")]
    vda5050_interface: String,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The RCS's AGV protocol address (`host:port`); several (repeated or comma-separated) are
    /// the AGVs' first address list, in order of preference: they fail over along it
    /// (docs/protocol.md 4.4) until a configuration push brings another.
    #[arg(long, default_value = "127.0.0.1:7700", value_delimiter = ',', value_parser = parse_server)]
    server: Vec<String>,
    /// The RCS's HTTP API; several (repeated or comma-separated) are the instances of a
    /// cluster: tasks go to the one that answers, and on to the next (or to the active instance
    /// a standby names) when it cannot be reached or is a standby.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    api: Vec<String>,
    /// API token (admin in secure mode: the fleet enrolls its keys).
    #[arg(long, env = "RCS_API_TOKEN", hide_env_values = true)]
    token: String,
    /// The site directory the server runs on (default: the server's own site, loaded through
    /// its API, `GET /api/v1/site/files`).
    #[arg(long)]
    site: Option<PathBuf>,
    /// How many AGVs.
    #[arg(long, default_value_t = 10)]
    agvs: usize,
    /// Access mode.
    #[arg(long, value_enum, default_value = "normal")]
    mode: Mode,
    /// Secure profile.
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
    /// How long to submit tasks (e.g. 60s, 5m); submitted tasks are then followed to the end.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Simulated seconds per real second (speeds, actions, battery).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Tasks per minute asked for through the API (mostly pick and drop, some move, a few park
    /// and charge); the report says how many were submitted and why any were not.
    #[arg(long, default_value_t = 0.0)]
    tasks: f64,
    /// Obstacles per minute of driving, per AGV (each asks for a safe space).
    #[arg(long, default_value_t = 0.5)]
    obstacles: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First AGV id.
    #[arg(long, default_value_t = 1)]
    first_id: u32,
    /// Start places after the first N that `--seed` gives on this site: a fleet run beside
    /// another of N AGVs with the same seed and site (and ids after its ids) puts no AGV on
    /// one of its places.
    #[arg(long, default_value_t = 0)]
    start_after: usize,
    /// How long to wait for open tasks after `--duration`.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    drain: Duration,
    /// Where tasks go: `any` node a task of its kind may go to by the RCS's rules, or only
    /// the site's `stations`, parking places and chargers; never a node with an open task of
    /// the run or an AGV on it.
    #[arg(long, value_enum, default_value = "any")]
    destinations: agv_sim::Destinations,
    /// Which AGV a named task (one in three) names: `same-map` (one on the destination's
    /// floor when there is one, as a business system names a vehicle nearby) or `random` (any,
    /// on any floor: many lift rides, more than a site's lifts may carry).
    #[arg(long, value_enum, default_value_t = NamingArg::SameMap)]
    naming: NamingArg,
    /// Chance that an AGV whose link was lost comes back at another free node, as if moved by
    /// hand while offline (per reconnection, 0..=1).
    #[arg(long, default_value_t = 0.0)]
    relocate: f64,
    /// Stop at the first invariant violation (its AGVs, poses and held space are printed).
    #[arg(long)]
    fail_fast: bool,
    /// Reconnection churn: drop-outs per AGV and hour. Each AGV drops its connection (no close
    /// frame, as a broken link) at seeded random times and reconnects with backoff (0.2 s
    /// doubling to 2 s), keeping its pose. 0: off.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Send status at most this often (ms) even when the RCS configures a shorter period: a
    /// lighter load for long runs on a small machine. 0: as the RCS configures.
    #[arg(long, default_value_t = 0)]
    min_status_period_ms: u64,
    /// The MQTT broker of the RCS's VDA 5050 gateway (`mqtt://host:port` or `host:port`), for
    /// `--mode vda5050` and `--vda5050-agvs`.
    #[arg(long, env = "RCS_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    mqtt_url: String,
    /// The VDA 5050 versions the simulated vehicles speak, given in turn (2.0, 2.1, 3.0;
    /// repeated or comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "2.0", value_parser = parse_vda_version)]
    vda_version: Vec<vda5050::version::Version>,
    /// VDA 5050 vehicles besides the `--agvs` guide AGVs (a mixed fleet; `--mode vda5050`
    /// makes all `--agvs` VDA 5050 vehicles instead).
    #[arg(long, default_value_t = 0)]
    vda5050_agvs: usize,
    /// The VDA 5050 interface name (the gateway's `--vda5050-interface`).
    #[arg(long, default_value = "uagv")]
    vda5050_interface: String,
    /// Also write the report as JSON here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// What the exit code judges: `clean` (exit 1 on any error, violation, task refused,
    /// failed, cancelled or open, or AGV not connected at the end) or `recovered` (for runs
    /// through RCS crashes: exit 1 when an AGV is not back, an invariant was violated, or a
    /// task the API accepted is open, lost or failed without a reason; the problems printed).
    #[arg(long, value_enum, default_value = "clean")]
    expect: Expect,
}

/// What a fleet run's exit code judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Expect {
    /// Everything went right.
    Clean,
    /// The fleet recovered from RCS crashes ([`agv_sim::Report::recovery_problems`]).
    Recovered,
}

/// Reads a `--vda-version` (`2.0`, `2.1`, `3.0`, or with a patch level).
fn parse_vda_version(s: &str) -> Result<vda5050::version::Version, String> {
    vda5050::version::Version::parse(s.trim()).map_err(|e| e.to_string())
}

/// The broker's host and port from `--mqtt-url` (`mqtt://host:port`, `host:port`).
fn rcs_address_of_mqtt(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    anyhow::ensure!(!rest.contains("://"), "{url}: only mqtt:// is supported");
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse()?),
        None => (rest.to_owned(), 1883),
    })
}

/// Checks one `--server` address (`host:port`, as the protocol's RCS addresses).
fn parse_server(s: &str) -> Result<String, String> {
    protocol::address::RcsAddress::parse(s.trim())
        .map(|a| a.as_str().to_owned())
        .map_err(|e| e.to_string())
}

async fn run_capacity(c: CapacityArgs) -> anyhow::Result<()> {
    use agv_sim::capacity;
    if let Some(profile) = c.crypto_bound {
        let profile = match profile {
            Profile::Fast => protocol::message::SecureProfile::Fast,
            Profile::Gcm => protocol::message::SecureProfile::Gcm,
            Profile::Guide => protocol::message::SecureProfile::Guide,
        };
        let frames = if profile == protocol::message::SecureProfile::Guide {
            2_000
        } else {
            100_000
        };
        let frames = frames.max(2 * c.crypto_keys);
        println!(
            "{:.3}",
            capacity::bound::open_micros(profile, frames, c.crypto_keys)
        );
        return Ok(());
    }
    std::fs::create_dir_all(&c.out)?;
    let png = c.out.join("capacity.png");
    if !c.plot_only.is_empty() {
        let mut rows = Vec::new();
        // (slopes within each file: the runs of one file share a site, which sets the idle RSS)
        let mut slopes = String::new();
        for csv in &c.plot_only {
            let run = capacity::read_csv(csv)?;
            slopes.push_str(&capacity::slope::text(&run));
            rows.extend(run);
        }
        capacity::plot::draw(&rows, &png)?;
        print!("{}", capacity::markdown(&rows));
        print!("{slopes}");
        println!("drew {}", png.display());
        return Ok(());
    }
    let me = std::env::current_exe()?;
    let rcs_server = match c.rcs_server {
        Some(p) => p,
        None => me.with_file_name("rcs-server"),
    };
    anyhow::ensure!(
        rcs_server.exists(),
        "no server binary at {} (cargo build --release -p rcs-server, or --rcs-server PATH)",
        rcs_server.display()
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all = |s: &Option<String>| s.as_deref() == Some("all");
    let server_cpus = match c.server_cpus {
        ref s if all(s) => None,
        Some(s) => Some(s),
        None if cpus >= 2 => Some("0".to_owned()),
        None => None,
    };
    let fleet_cpus = match c.fleet_cpus {
        ref s if all(s) => None,
        Some(s) => Some(s),
        None if server_cpus.as_deref() == Some("0") => Some(format!("1-{}", cpus - 1)),
        None => None,
    };
    let opts = capacity::Options {
        rcs_server,
        agv_sim: me,
        modes: c.modes,
        sizes: c.sizes,
        guide_sizes: c.guide_sizes,
        window: c.window,
        warmup: c.warmup,
        server_cpus,
        fleet_cpus,
        commands_per_sec: c.commands_per_sec,
        command_probes: c.command_probes,
        out: c.out.clone(),
        port: c.port,
        database_url: c.database_url,
        server_args: c.server_arg,
        network: c.network,
    };
    // Ctrl-C or SIGTERM drops the run: its server and fleet are killed and a veth run's
    // namespace removed; the rows measured so far stay in capacity.csv
    let rows = tokio::select! {
        rows = capacity::run(&opts) => rows?,
        () = stopped() => anyhow::bail!(
            "stopped; the rows measured so far are in {}",
            c.out.join("capacity.csv").display()
        ),
    };
    print!("{}", capacity::markdown(&rows));
    print!("{}", capacity::slope::text(&rows));
    match capacity::plot::draw(&rows, &png) {
        Ok(()) => println!(
            "wrote {} and {}",
            c.out.join("capacity.csv").display(),
            png.display()
        ),
        Err(e) => println!(
            "wrote {}; no plot: {e}",
            c.out.join("capacity.csv").display()
        ),
    }
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (never, where neither can be listened for).
async fn stopped() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if r.is_err() {
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let v: f64 = num.parse().map_err(|_| format!("not a duration: {s}"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit in {s} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // colours only on a terminal (a log file or pipe gets plain text)
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let a = match Cli::parse().command {
        Command::Run(a) => a,
        Command::Virtual(v) => return run_virtual(v),
        Command::Capacity(c) => return run_capacity(c).await,
        Command::Conformance(c) => {
            let api = match (c.api, c.token) {
                (Some(url), Some(token)) => Some(agv_sim::api::Api::new(&url, &token)),
                _ => None,
            };
            let target = agv_sim::conformance::Target {
                server: c.server,
                api,
                first_id: c.first_id,
                keep_agvs: c.keep_agvs,
                mqtt: match &c.mqtt_url {
                    Some(url) => {
                        let (host, port) = rcs_address_of_mqtt(url)?;
                        Some(agv_sim::conformance::MqttTarget {
                            host,
                            port,
                            interface: c.vda5050_interface.clone(),
                            versions: c.vda_version.clone(),
                        })
                    }
                    None => None,
                },
            };
            let outcomes = agv_sim::conformance::run(&target).await;
            if c.json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                print!("{}", agv_sim::conformance::table(&outcomes));
            }
            if outcomes.iter().any(|o| o.result == "fail") {
                std::process::exit(1);
            }
            return Ok(());
        }
    };
    // The site the server runs unless one was named, in a scratch directory the run reads.
    let scratch = match &a.site {
        Some(_) => None,
        None => Some(server_site(&a.api, &a.token).await?),
    };
    let site = a
        .site
        .clone()
        .or_else(|| scratch.as_ref().map(|s| s.0.clone()))
        .unwrap_or_default();
    let (guide_agvs, vda_agvs) = if a.mode == Mode::Vda5050 {
        (0, a.agvs)
    } else {
        (a.agvs, a.vda5050_agvs)
    };
    let vda5050 = if vda_agvs > 0 {
        let broker = rcs_address_of_mqtt(&a.mqtt_url)?;
        Some(agv_sim::VdaFleet {
            vehicles: vda_agvs,
            broker,
            interface: a.vda5050_interface.clone(),
            versions: a.vda_version.clone(),
        })
    } else {
        None
    };
    let report = agv_sim::run(agv_sim::RunOptions {
        servers: a.server,
        api: a.api,
        token: a.token,
        site,
        agvs: guide_agvs,
        mode: a.mode,
        profile: a.profile,
        duration: a.duration,
        time_scale: a.time_scale,
        tasks_per_min: a.tasks,
        obstacles_per_min: a.obstacles,
        seed: a.seed,
        first_id: a.first_id,
        start_after: a.start_after,
        drain: a.drain,
        progress: true,
        destinations: a.destinations,
        naming: a.naming.into(),
        relocate: a.relocate,
        fail_fast: a.fail_fast,
        churn_per_hour: a.churn,
        min_status_period_ms: a.min_status_period_ms,
        vda5050,
    })
    .await?;
    // (before any exit below, which would skip its removal)
    drop(scratch);
    print!("{}", report.table());
    if let Some(path) = a.report_json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    match a.expect {
        Expect::Clean if !report.clean() => std::process::exit(1),
        Expect::Recovered => {
            let problems = report.recovery_problems();
            for p in &problems {
                println!("recovery problem: {p}");
            }
            if !problems.is_empty() {
                std::process::exit(1);
            }
            println!("recovered: every AGV back, no violation, every accepted task ended");
        }
        Expect::Clean => {}
    }
    Ok(())
}

fn run_virtual(v: VirtualArgs) -> anyhow::Result<()> {
    let files = match &v.site {
        Some(dir) => maps::file::SiteFiles::read(dir)?,
        None => {
            // blocks of about 12 nodes, about twice as wide as deep
            let blocks = (v.agvs as f64 * v.nodes_per_agv / 12.0).max(4.0);
            let by = (blocks / 2.0).sqrt().ceil().max(2.0) as u32;
            let bx = (blocks / f64::from(by)).ceil().max(2.0) as u32;
            maps::generate::rack_warehouse(bx, by, v.one_way)
        }
    };
    let site = maps::Site::compile(
        &files,
        v.site.as_deref().unwrap_or(std::path::Path::new(".")),
    )?;
    let cfg = traffic::sim::Config {
        agvs: v.agvs,
        duration_ms: v.duration.as_millis() as u64,
        drain_ms: v.drain.as_millis() as u64,
        seed: v.seed,
        tasks_per_hour: v.tasks_per_hour.unwrap_or(30.0 * v.agvs as f64),
        pauses_per_hour: v.pauses,
        dropouts_per_hour: v.dropouts,
        check_every: v.check_every,
        trace_agv: v.trace_agv,
        dump_at_end: v.dump_at_end,
        destinations: match v.destinations {
            VirtualDestinations::Stations => traffic::sim::Destinations::Stations,
            VirtualDestinations::Any => traffic::sim::Destinations::Any,
        },
        named_every: v.named_every,
        naming: v.naming.into(),
        lift_ride_ms: v.lift_ride_ms,
        settings: traffic::Settings {
            lookahead: v.lookahead,
            congestion_gate: (v.congestion_gate > 0.0).then_some(v.congestion_gate),
            dense_share: (v.dense_share > 0.0).then_some(v.dense_share),
            ..traffic::Settings::default()
        },
        ..traffic::sim::Config::default()
    };
    let total = (cfg.duration_ms + cfg.drain_ms) / 60_000;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} simulated min {msg}")
            .expect("template"),
    );
    let report = traffic::sim::run(&site, &cfg, |_, r| {
        bar.inc(1);
        bar.set_message(format!("{} tasks completed", r.completed));
    });
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = v.report_json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The site the server runs (`GET /api/v1/site/files`), written to a scratch directory.
async fn server_site(api: &[String], token: &str) -> anyhow::Result<Scratch> {
    let client = agv_sim::api::Api::with_bases(api, token);
    let files = client.site_files().await.map_err(|e| {
        let why = match e.code().as_str() {
            // (servers before 2026-12-01 do not serve their site's files)
            "not_found" => "this server does not serve its site's files".to_owned(),
            code => format!("{e} ({code})"),
        };
        anyhow::anyhow!(
            "loading the server's site (GET /api/v1/site/files): {why}; give --site DIR to use \
             a site directory instead"
        )
    })?;
    let dir = Scratch(std::env::temp_dir().join(format!("agv-sim-site-{}", std::process::id())));
    files.write(&dir.0)?;
    eprintln!(
        "site: the server's ({} map{}), from its API",
        files.maps.len(),
        if files.maps.len() == 1 { "" } else { "s" }
    );
    Ok(dir)
}
