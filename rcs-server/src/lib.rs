//! The rcs server: accepts AGV connections (normal and secure mode), drives each through
//! `protocol::session::RcsSession`, keeps the fleet state, persists what must survive, and serves
//! the HTTP API.
//!
//! Modules: [`config`] (what operators set), [`db`] (persistence, migrations), [`keys`] (the
//! server key pair and enrolled AGV keys), [`auth`] (API tokens and roles), [`fleet`] (in-memory
//! fleet state), [`connections`] (which connection serves which AGV; API commands to sessions),
//! [`state`] (the state they all share), [`net`] (the AGV listener and connection driver),
//! [`admission`] (connections that have not completed access, per peer address),
//! [`grants`] (footprints and safe-space grants), [`dispatch`] (tasks and traffic control),
//! [`task_rules`] (which tasks are accepted, and the order queued ones are assigned in),
//! [`safety`] (stopping AGVs that are where the RCS did not put them), [`waits`] (why a task
//! does not move), [`supervise`] (what a panicking task does), [`events`] (the event
//! stream and audit log), [`writer`] (write-behind telemetry), [`metrics`], [`api`] (the HTTP
//! API). [`run`] starts everything and returns when `shutdown` resolves.

pub mod admission;
pub mod agv_link;
pub mod api;
pub mod auth;
pub mod callbacks;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod db;
pub mod dispatch;
pub mod events;
pub mod fleet;
pub mod grants;
pub mod keys;
pub mod lag;
pub mod lease;
pub mod metrics;
pub mod mqtt_broker;
pub mod net;
pub mod runtime;
pub mod safety;
pub mod standby;
pub mod state;
pub mod supervise;
pub mod task_rules;
pub mod tasks;
pub mod vda5050_gateway;
pub mod waits;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::AdminTokenSource;
pub use config::Config;

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket could not be bound or used.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// A listener could not be opened on its address.
    #[error("{what} cannot listen on {addr}: {source}")]
    Listen {
        /// Which listener (`AGV protocol`, `HTTP API`).
        what: &'static str,
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory cannot be created or used.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory asked for.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The embedded MQTT broker cannot run.
    #[error(transparent)]
    Broker(#[from] mqtt_broker::BrokerError),
    /// The database cannot be opened.
    #[error("database {url}: {source}")]
    DbOpen {
        /// Its URL, without a password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A key file or key failed.
    #[error("keys: {0}")]
    Keys(String),
    /// The site could not be loaded.
    #[error("site: {0}")]
    Site(#[from] maps::SiteError),
    /// The database cannot serve this instance (it holds another site).
    #[error("database: {0}")]
    Database(#[from] db::DbError),
    /// A configured value the server cannot work with.
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// The admin API token cannot be used (an empty `api-token` file, a blank
    /// `RCS_API_TOKEN`).
    #[error("API token: {0}")]
    Token(String),
    /// The callback secret cannot be used (shorter than 16 characters).
    #[error("callback secret: {0}")]
    CallbackSecret(String),
    /// A task the server cannot run without panicked (a bug): the server stopped
    /// ([`supervise`]).
    #[error("the server's {0} task failed (see the log): stopped")]
    Failed(&'static str),
}

/// Creates the data directory (and its parents) if missing, readable by its owner only (0700);
/// errors name it. An existing directory is left as it is.
pub fn create_data_dir(path: &std::path::Path) -> Result<(), ServerError> {
    let err = |source| ServerError::DataDir {
        path: path.to_owned(),
        source,
    };
    if path.exists() && !path.is_dir() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )));
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(err)
}

/// Opens the configured database; errors name it (its URL without a password).
pub async fn open_db(config: &Config) -> Result<db::Db, ServerError> {
    config
        .open_db()
        .await
        .map_err(|source| ServerError::DbOpen {
            url: redact_url(&config.database_url()),
            source,
        })
}

/// `url` without the password of its user information (`postgres://rcs:***@host/db`).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &authority[..colon],
                &url[scheme_end + at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Loads the configured site, or the embedded demo site.
pub fn load_site(config: &Config) -> Result<maps::Site, ServerError> {
    Ok(compile_site(config, &site_files(config)?)?)
}

/// The configured site's files, or the embedded demo site's.
fn site_files(config: &Config) -> Result<maps::file::SiteFiles, ServerError> {
    Ok(match &config.site {
        Some(dir) => maps::file::SiteFiles::read(dir)?,
        None => maps::generate::embedded_demo(),
    })
}

fn compile_site(
    config: &Config,
    files: &maps::file::SiteFiles,
) -> Result<maps::Site, maps::SiteError> {
    match &config.site {
        Some(dir) => maps::Site::compile(files, dir),
        None => maps::Site::compile(files, std::path::Path::new("<built-in demo>")),
    }
}

/// A running server's handles: where it listens and its state (for tests and the API).
#[derive(Clone)]
pub struct Server {
    /// The AGV protocol listener's address.
    pub agv_addr: SocketAddr,
    /// The HTTP listener's address.
    pub http_addr: SocketAddr,
    /// Where the admin API token is.
    pub admin_token: AdminTokenSource,
    /// Shared state.
    pub state: Arc<state::Shared>,
}

/// How long shutdown waits for the session log's last writes.
const SESSION_ROWS_DRAIN: Duration = Duration::from_secs(5);

/// How long shutdown waits for open HTTP requests.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// Binds the listeners, opens the database and returns the server and the future that serves
/// until `shutdown` resolves (then it tells every AGV, writes the last telemetry batch and
/// returns).
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Server, impl Future<Output = ()>), ServerError> {
    start_term(config, shutdown, None).await
}

/// As [`start`], as the active instance of a cluster during `term` (its decisions written under
/// the term's fence; [`cluster`]).
pub async fn start_term(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    term: Option<cluster::Term>,
) -> Result<(Server, impl Future<Output = ()>), ServerError> {
    config.validate()?;
    // The listeners first: an address in use is found before anything is written.
    let listen = |what, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Listen { what, addr, source })
    };
    let agv_listener = listen("AGV protocol", config.agv_listen).await?;
    let http_listener = listen("HTTP API", config.http_listen).await?;
    if let Some(addr) = config.mqtt_listen {
        mqtt_broker::start(addr)?;
    }
    // Then the site: a site that does not load is reported before anything is written.
    site_of(&config)?;
    create_data_dir(&config.data_dir)?;
    let db = open_db(&config).await?;
    db.migrate().await?;
    let left = db
        .close_sessions_left_open(db::SESSION_LEFT_OPEN, state::now_ms() as i64)
        .await?;
    if left > 0 {
        tracing::warn!(
            sessions = left,
            "closed the sessions the last run left open (it did not stop cleanly)"
        );
    }
    let db = match &term {
        Some(t) => db.fenced(t.fence.clone()),
        None => db,
    };
    let agv_addr = agv_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let Restored {
        state,
        admin_token,
        log,
    } = restore(config, db, term, stop_rx.clone(), false).await?;
    state.metrics.cluster_active.set(1);
    if let Some(t) = &state.term {
        state.metrics.cluster_epoch.set(t.fence.epoch() as i64);
        state.metrics.cluster_terms.set(t.number as i64);
    }
    tracing::info!(%agv_addr, "AGV protocol listening");
    match &admin_token {
        AdminTokenSource::Configured => {
            tracing::info!("HTTP API on http://{http_addr} (admin token: RCS_API_TOKEN)")
        }
        AdminTokenSource::File(p) => tracing::info!(
            "HTTP API on http://{http_addr} (admin token: `cat {}`)",
            p.display()
        ),
    }
    // The writer stops last, after the sessions' final events.
    let (writer_stop, writer_rx) = watch::channel(false);
    let writer = supervise::critical(&state, "writer", writer::run(state.clone(), log, writer_rx));
    let agvs = supervise::critical(
        &state,
        "agv_listener",
        net::serve(agv_listener, state.clone()),
    );
    supervise::critical(&state, "grant_expiry", grants::run_expiry(state.clone()));
    supervise::critical(&state, "token_refresh", auth::run_refresh(state.clone()));
    supervise::critical(&state, "dispatcher", dispatch::run(state.clone()));
    supervise::critical(&state, "safety", safety::run(state.clone()));
    let lag = state.metrics.runtime_lag_seconds.clone();
    tokio::spawn(lag::run(state.clone(), lag));
    if state.config.mqtt_broker().is_some() {
        supervise::critical(
            &state,
            "vda5050_gateway",
            vda5050_gateway::run(state.clone()),
        );
    }
    if let Some(url) = state.config.callback_url.clone() {
        let secret = callbacks::secret(
            state.config.callback_secret.as_deref(),
            &state.config.data_dir,
        )?;
        supervise::critical(
            &state,
            "callbacks",
            callbacks::run(state.clone(), url, secret),
        );
    }
    // The HTTP API runs on a runtime of its own (`runtime::Http`): its requests are not
    // read after every AGV socket ready before them.
    let http_runtime = runtime::Http::build()?;
    let http_listener = http_runtime.adopt(http_listener)?;
    let mut http_stop = stop_rx.clone();
    let http =
        axum::serve(http_listener, api::router(state.clone())).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        });
    let http = http_runtime.spawn(async move {
        if let Err(e) = http.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    let lag = state.metrics.api_runtime_lag_seconds.clone();
    http_runtime.spawn(lag::run(state.clone(), lag));
    let shared = state.clone();
    let done = async move {
        tokio::select! {
            () = shutdown => tracing::info!("shutting down: closing AGV sessions"),
            () = shared.failed() => tracing::error!("a critical task failed: closing AGV sessions and stopping"),
        }
        let _ = stop_tx.send(true);
        let _ = agvs.await;
        // Connection tasks see the signal, send Close and end; give them a moment.
        for _ in 0..50 {
            if shared.metrics.connections.get() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tokio::time::timeout(HTTP_DRAIN, http).await;
        let _ = writer_stop.send(true);
        let _ = writer.await;
        // The ends of the sessions just closed are written in the background: wait for them
        // (a database out of reach leaves them to the next start, which closes them).
        shared.session_rows.close();
        if tokio::time::timeout(SESSION_ROWS_DRAIN, shared.session_rows.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = shared.session_rows.len(),
                "session ends not written before the stop: the next start closes them"
            );
        }
        shared.db.close().await;
        // Last: a database connection the API opened is driven by the API's runtime.
        drop(http_runtime);
        tracing::info!("stopped");
    };
    Ok((
        Server {
            agv_addr,
            http_addr,
            admin_token,
            state,
        },
        done,
    ))
}

/// A server's state rebuilt from the database, before it serves.
struct Restored {
    state: Arc<state::Shared>,
    admin_token: AdminTokenSource,
    log: tokio::sync::mpsc::Receiver<db::EventRow>,
}

/// Rebuilds the state from the database, as after a restart: AGVs offline at their last pose
/// with their space blocked, reservations and grants held, unfinished tasks queued again (a
/// running one for its AGV), tasks that ended within the last day answered as they ended. With
/// `as_stored`, every task is only answered as stored and the core gets none (a standby's
/// read-only view).
async fn restore(
    config: Config,
    db: db::Db,
    term: Option<cluster::Term>,
    stop: watch::Receiver<bool>,
    as_stored: bool,
) -> Result<Restored, ServerError> {
    let core_site = site_of(&config)?;
    let site = core_site.clone();
    let server_key = keys::load_or_create_server_key(&config.data_dir)?;
    let keys = keys::EnrolledKeys::load(&db, config.allow_fast).await?;
    let (tokens, admin_token) =
        auth::Tokens::load(&db, &config.data_dir, config.api_token.as_deref()).await?;
    let fleet = fleet::Fleet::restore(db.agvs().await?, db.latest_telemetry().await?);
    let space = restore_space(&site, &db, &fleet).await?;
    let db_max_task = db.max_task_id().await?;
    let first_session = db.max_session_id().await?.wrapping_add(1);
    let traffic = dispatch::Traffic::new(core_site, dispatch::settings(&config), db_max_task);
    let tasks = tasks::Tasks::default();
    let open_tasks = db.open_tasks().await?;
    let day_ago = state::now_ms().saturating_sub(tasks::KEEP_ENDED_MS) as i64;
    let ended_tasks = db
        .finished_tasks(day_ago, None, tasks::KEEP_ENDED_IN_MEMORY)
        .await?;
    {
        let mut core = traffic.lock();
        core.restore_space(space);
        for (id, view) in fleet.snapshot() {
            core.known(
                id,
                view.footprint.unwrap_or([0.5, 0.5, 0.4, 0.4]),
                maps::Vehicle::default().max_speed,
            );
        }
        if as_stored {
            tasks.restore_as_stored(open_tasks);
            tasks.restore_as_stored(ended_tasks);
        } else {
            tasks.restore(&mut core, open_tasks);
            tasks.restore(&mut core, ended_tasks);
        }
    }
    let (events, log) = events::Events::new();
    let state = Arc::new(state::Shared::new(state::Parts {
        config,
        db,
        server_key,
        keys,
        fleet,
        events,
        tokens,
        site,
        traffic,
        tasks,
        term,
        stop,
        first_session,
    }));
    Ok(Restored {
        state,
        admin_token,
        log,
    })
}

/// A standby's read-only view of the site as the database holds it (every task as stored, AGVs
/// at their last stored pose, held space): served for reads until this instance is active.
pub(crate) async fn snapshot(
    config: Config,
    db: db::Db,
) -> Result<Arc<state::Shared>, ServerError> {
    let (_stop, stop) = watch::channel(false);
    Ok(restore(config, db, None, stop, true).await?.state)
}

/// A site loaded: compiled, and the files it was compiled from.
type LoadedSite = (&'static Arc<maps::Site>, Arc<maps::file::SiteFiles>);

/// The site, loaded once per site directory and kept for as long as the process runs (the
/// traffic core borrows it; a term or a standby's snapshot is rebuilt many times, the site
/// is not), with the files it was compiled from (served at `GET /api/v1/site/files`).
fn loaded_site(config: &Config) -> Result<LoadedSite, ServerError> {
    type Loaded = Vec<(Option<std::path::PathBuf>, LoadedSite)>;
    static SITES: std::sync::Mutex<Loaded> = std::sync::Mutex::new(Vec::new());
    let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = sites.iter().find(|(p, _)| *p == config.site) {
        return Ok(s.clone());
    }
    let files = site_files(config)?;
    let site = compile_site(config, &files)?;
    tracing::info!(site = %site.name, maps = site.maps().len(), nodes = site.node_count(), "site loaded");
    let site: &'static Arc<maps::Site> = Box::leak(Box::new(Arc::new(site)));
    let loaded = (site, Arc::new(files));
    sites.push((config.site.clone(), loaded.clone()));
    Ok(loaded)
}

fn site_of(config: &Config) -> Result<&'static Arc<maps::Site>, ServerError> {
    Ok(loaded_site(config)?.0)
}

/// The files of the site this server runs (loaded at start: never read again from disk, so
/// what is served is what runs).
pub(crate) fn loaded_site_files(
    config: &Config,
) -> Result<Arc<maps::file::SiteFiles>, ServerError> {
    Ok(loaded_site(config)?.1)
}

/// The space table after a restart: every known AGV's footprint at its last pose (they are
/// offline: their space stays blocked until they return or an operator clears it) and the
/// grants still open.
async fn restore_space(
    site: &maps::Site,
    db: &db::Db,
    fleet: &fleet::Fleet,
) -> Result<maps::SpaceTable, ServerError> {
    let (open, max_id) = db.open_grants().await?;
    let mut space = maps::SpaceTable::new(site, max_id.wrapping_add(1));
    // Reservations committed before their motion frames were sent, and open grants: the AGVs
    // may be on that space. Held again without checks (they were checked when made; a last
    // stored pose may be older than them), until the AGVs are seen standing.
    for (agv, map, resource) in db.reservations().await? {
        let view = fleet.get(agv);
        let fp = view.as_ref().and_then(|v| v.footprint);
        let from = view.as_ref().and_then(|v| v.last).map(|l| (l.x, l.y));
        match dispatch::resource_shape(site, resource, fp, from) {
            Some(shape) => space.restore_reservation(agv, map, resource, shape),
            None => tracing::error!(agv_id = agv, resource, "stored reservation not on the site"),
        }
    }
    for g in open {
        match grants::shape_from_json(&g.region) {
            Some(shape) => space.restore_grant(maps::GrantInfo {
                id: g.grant_id,
                agv: g.agv_id,
                map: g.map_id,
                shape,
                granted_at_ms: g.granted_at as u64,
                expires_at_ms: g.expires_at as u64,
            }),
            None => tracing::error!(grant_id = g.grant_id, "stored grant region unreadable"),
        }
    }
    // Every known AGV's footprint at its last stored pose: offline, its space stays blocked
    // until it reports again or an operator clears it (cleared after that pose: not restored).
    for (agv_id, view) in fleet.snapshot() {
        if view.space_cleared {
            continue;
        }
        if let (Some(fp), Some(last)) = (view.footprint, view.last) {
            let pose = [last.x, last.y, last.theta];
            let overlaps = space.set_footprint_rect(agv_id, last.map_id, pose, fp);
            if !overlaps.is_empty() {
                tracing::warn!(
                    agv_id,
                    ?overlaps,
                    "stored pose overlaps space restored for other AGVs (checked again when it reports)"
                );
            }
            fleet.update(agv_id, |v| {
                v.footprint_at = Some((last.map_id, [last.x, last.y, last.theta]))
            });
        }
    }
    Ok(space)
}

/// Runs the server until `shutdown` resolves: on PostgreSQL as a member of a cluster
/// ([`cluster::run`]: active while it holds the site's lease, standby otherwise), on SQLite as
/// the one instance.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    if config.database_url().starts_with("postgres") {
        return cluster::run(config, shutdown).await;
    }
    let (server, serve) = start(config, shutdown).await?;
    serve.await;
    match server.state.failure() {
        Some(task) => Err(ServerError::Failed(task)),
        None => Ok(()),
    }
}
