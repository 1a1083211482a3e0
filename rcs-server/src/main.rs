//! `rcs-server`: the AGV cloud control platform server. Thin: parses the command line, sets up
//! logging, calls the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use rcs_server::Config;

/// jemalloc on Linux (feature `jemalloc`, on by default): it returns the memory a busy server
/// frees to the system, where glibc's per-thread arenas kept it and the RSS grew by a fifth in
/// a 30-minute soak with a flat heap (docs/performance.md, soak). Built with background threads
/// on (`background_thread:true`): they purge freed pages on time, which otherwise stayed
/// resident in the arenas of threads that went quiet (36 MB of a 101 MB RSS under 1,000 AGVs).
/// Also built in (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`: exporting jemalloc's
/// `malloc_conf` symbol here would need `unsafe`): `narenas:1,tcache:false`, one arena and no
/// thread caches, so the memory freed by one thread is reused by the next allocation of any, in
/// the fullest slabs: in 30-minute soaks of 1,000 AGVs the RSS grew 2.6-3.2 % after the warm-up
/// (3.0 % built in) against 8.7-8.9 % with jemalloc's defaults (8 arenas on 2 cores, with thread
/// caches), at the same CPU within the runs' spread. `_RJEM_MALLOC_CONF` still overrides each
/// option at run time. Built without cache-oblivious alignment (`disable_cache_oblivious`, which
/// jemalloc 5.3 only has at build time): it pads each large allocation with a page, and a guide
/// AGV's 16 KiB verifier table took 20 KiB of RSS.
#[cfg(all(target_os = "linux", feature = "jemalloc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The rcs server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// Log format on standard output: `text` (colours only on a terminal, and not with
    /// NO_COLOR set) or `json` (one object a line, for log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "RCS_LOG_FORMAT", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line (timestamp, level, target, fields).
    Json,
}

/// Logging to standard output in `format`, filtered by `RUST_LOG` (default `info`, and only
/// warnings of the embedded MQTT broker, which logs every connection at `info`).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,rumqttd=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// AGV management.
    Agv {
        #[command(subcommand)]
        command: AgvCommand,
    },
    /// API token management.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Applies the database migrations and exits.
    Migrate,
    /// Checks the database's consistency (with no server writing to it) and exits, 1 when a
    /// problem was found: the engine's own check, then the rows against each other
    /// (docs/operations.md, "Checking the database").
    Check {
        /// A JSON file of what clients were told was accepted (`{"tasks": [ids], "grants":
        /// [{"agv": id, "grant": id}]}`, or a file holding that as `acknowledged`, as agv-sim's
        /// `--report-json` does): each must be stored.
        #[arg(long)]
        acknowledged: Option<PathBuf>,
        /// The tasks acknowledged had time to end: each must have ended, and no grant received
        /// may be open long after it expired while its AGV was connected.
        #[arg(long, requires = "acknowledged")]
        settled: bool,
        /// Prints the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Creates an API token and prints it (it is stored only as a digest).
    Create {
        /// A name for it (recorded in the audit log).
        #[arg(long)]
        name: String,
        /// Its role.
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
    /// Lists the stored API tokens: id, role, created, name; no secrets.
    List,
    /// Revokes a stored API token by its id (from `token list`): a running server refuses it
    /// within seconds.
    Revoke {
        /// The token's id (16 hex digits).
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generates an SM2 key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM).
    Gen {
        /// Output path without extension.
        #[arg(long, default_value = "agv")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AgvCommand {
    /// Enrolls an AGV's public key for secure mode.
    Enroll {
        /// AGV id.
        #[arg(long)]
        id: u32,
        /// Its public key, SPKI PEM.
        #[arg(long)]
        public_key: PathBuf,
        /// Its distinguishing identifier.
        #[arg(long, default_value = "1234567812345678")]
        distid: String,
    },
    /// Decommissions an offline AGV through the running server's API (it holds the fleet's
    /// space): the AGV leaves the fleet, the space it blocked is cleared for good, its history
    /// is kept. Check the floor first. Refused while it is online, has tasks or holds grants.
    Decommission {
        /// AGV id.
        #[arg(long)]
        id: u32,
        /// The server's HTTP API (default: `--http-listen`, on the loopback address when it
        /// listens on all).
        #[arg(long)]
        api: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let runtime = match rcs_server::runtime::build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `rcs-server agv decommission`: `DELETE /api/v1/agvs/{id}` on the running server, with the
/// admin token (`RCS_API_TOKEN`, else the data dir's `api-token` file).
async fn decommission(config: &Config, id: u32, api: Option<String>) -> anyhow::Result<()> {
    let base = api.unwrap_or_else(|| {
        let mut at = config.http_listen;
        if at.ip().is_unspecified() {
            at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{at}")
    });
    let token = match &config.api_token {
        Some(t) => t.clone(),
        None => {
            let path = config.data_dir.join("api-token");
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "no RCS_API_TOKEN, and the admin token file {}",
                        path.display()
                    )
                })?
                .trim()
                .to_owned()
        }
    };
    let url = format!("{}/api/v1/agvs/{id}", base.trim_end_matches('/'));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .delete(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("no answer from the server at {base}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "AGV {id} not decommissioned: {status} {}: {}",
            body["error"].as_str().unwrap_or("?"),
            body["message"].as_str().unwrap_or("")
        );
    }
    println!(
        "decommissioned AGV {id} (footprint cleared: {}, reservations released: {})",
        body["footprint_cleared"], body["reservations_released"]
    );
    Ok(())
}

/// An error and its causes on one line, each cause once (an error's message often repeats its
/// cause's).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

async fn run() -> anyhow::Result<()> {
    // A panic is a bug: logged as one line through the log (not interleaved with it), with
    // where it happened; rcs_server::supervise decides what the server does next.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            %location,
            thread = thread.name().unwrap_or("unnamed"),
            "panic: {}",
            rcs_server::supervise::message(info.payload())
        );
    }));
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches)?;
    init_logging(cli.log_format);
    cli.config.apply_file(&matches)?;
    match cli.command {
        None => {
            let shutdown = async {
                let ctrl_c = tokio::signal::ctrl_c();
                #[cfg(unix)]
                {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("signal handler");
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = ctrl_c.await;
            };
            rcs_server::run(cli.config, shutdown).await?;
        }
        Some(Command::Keys {
            command: KeysCommand::Gen { out },
        }) => {
            let key =
                crypto::sign::SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng())?;
            let private = out.with_extension("key");
            let public = out.with_extension("pub");
            crypto::keys::write_private_pem(&private, key.secret())?;
            crypto::keys::write_public_pem(&public, key.verifying_key().public_key())?;
            println!(
                "wrote {} (0600) and {}",
                private.display(),
                public.display()
            );
        }
        Some(Command::Agv {
            command:
                AgvCommand::Enroll {
                    id,
                    public_key,
                    distid,
                },
        }) => {
            std::fs::create_dir_all(&cli.config.data_dir)?;
            let db = rcs_server::open_db(&cli.config).await?;
            db.migrate().await?;
            let public = crypto::keys::read_public_pem(&public_key)?;
            let vk = crypto::sign::VerifyingKey::new(distid.as_bytes(), public)?;
            let pem = std::fs::read_to_string(&public_key)
                .with_context(|| format!("reading {}", public_key.display()))?;
            let key_id: String = vk.key_id().iter().map(|b| format!("{b:02x}")).collect();
            db.enroll(
                id,
                &pem,
                &key_id,
                &distid,
                rcs_server::state::now_ms() as i64,
            )
            .await?;
            println!("enrolled AGV {id}, key id {key_id}");
        }
        Some(Command::Agv {
            command: AgvCommand::Decommission { id, api },
        }) => decommission(&cli.config, id, api).await?,
        Some(Command::Token {
            command: TokenCommand::Create { name, role },
        }) => {
            std::fs::create_dir_all(&cli.config.data_dir)?;
            let db = rcs_server::open_db(&cli.config).await?;
            db.migrate().await?;
            let token = rcs_server::auth::generate();
            db.insert_api_token(
                &rcs_server::auth::digest(&token),
                &name,
                &role,
                rcs_server::state::now_ms() as i64,
            )
            .await?;
            println!("{token}");
        }
        Some(Command::Token {
            command: TokenCommand::List,
        }) => {
            std::fs::create_dir_all(&cli.config.data_dir)?;
            let db = rcs_server::open_db(&cli.config).await?;
            db.migrate().await?;
            for (id, name, role, created) in db.api_token_list().await? {
                let when = httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(u64::try_from(created).unwrap_or(0)),
                );
                println!("{id}  {role:<8}  {when}  {name}");
            }
        }
        Some(Command::Token {
            command: TokenCommand::Revoke { id },
        }) => {
            std::fs::create_dir_all(&cli.config.data_dir)?;
            let db = rcs_server::open_db(&cli.config).await?;
            db.migrate().await?;
            match db.revoke_api_token(&id.to_ascii_lowercase()).await? {
                Some((name, role)) => println!("revoked {id} ({role}, {name})"),
                None => {
                    anyhow::bail!("no stored token has the id {id} (see `rcs-server token list`)")
                }
            }
        }
        Some(Command::Check {
            acknowledged,
            settled,
            json,
        }) => {
            let db = rcs_server::open_db(&cli.config).await?;
            let mut findings = db.check().await?;
            if let Some(path) = acknowledged {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let mut value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                if let Some(inner) = value.get_mut("acknowledged") {
                    value = inner.take();
                }
                let ack: rcs_server::db::Acknowledged = serde_json::from_value(value)
                    .with_context(|| format!("{}: no tasks and grants", path.display()))?;
                db.check_acknowledged(&ack, settled, &mut findings).await?;
            }
            db.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&findings)?);
            } else {
                print!("{}", findings.text());
            }
            if !findings.ok() {
                std::process::exit(1);
            }
        }
        Some(Command::Migrate) => {
            std::fs::create_dir_all(&cli.config.data_dir)?;
            let db = rcs_server::open_db(&cli.config).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
    }
    Ok(())
}
