//! The rcs server: accepts AGV connections (normal and secure mode), drives each through
//! `protocol::session::RcsSession`, keeps the fleet state and persists what must survive.
//!
//! Modules: [`config`] (what operators set), [`db`] (persistence, migrations), [`keys`] (the
//! server key pair and enrolled AGV keys), [`fleet`] (in-memory fleet state), [`net`] (the AGV
//! listener and connection driver). [`run`] starts everything and returns when `shutdown`
//! resolves.

pub mod config;
pub mod db;
pub mod fleet;
pub mod keys;
pub mod net;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket could not be bound or used.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A key file or key failed.
    #[error("keys: {0}")]
    Keys(String),
}

/// A running server's handles: where it listens and its state (for tests and the API).
#[derive(Clone)]
pub struct Server {
    /// The AGV protocol listener's address.
    pub agv_addr: SocketAddr,
    /// Shared state.
    pub state: Arc<net::Shared>,
}

/// Binds the listeners, opens the database and returns the server and the future that serves
/// until `shutdown` resolves (then it tells every AGV and returns).
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Server, impl Future<Output = ()>), ServerError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = db::Db::open(&config.database_url()).await?;
    db.migrate().await?;
    let server_key = keys::load_or_create_server_key(&config.data_dir)?;
    let store = keys::EnrolledKeys::load(&db).await?;
    let listener = TcpListener::bind(config.agv_listen).await?;
    let agv_addr = listener.local_addr()?;
    tracing::info!(%agv_addr, "AGV protocol listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = Arc::new(net::Shared::new(config, db, server_key, store, stop_rx));
    let serve = net::serve(listener, state.clone());
    let done = async move {
        tokio::select! {
            () = serve => {}
            () = shutdown => {
                tracing::info!("shutting down: closing AGV sessions");
                let _ = stop_tx.send(true);
            }
        }
    };
    Ok((Server { agv_addr, state }, done))
}

/// Runs the server until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (_, serve) = start(config, shutdown).await?;
    serve.await;
    Ok(())
}
