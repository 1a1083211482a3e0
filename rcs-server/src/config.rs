//! What operators set: command-line flags, each also read from an `RCS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// When AGVs must use the secure mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurePolicy {
    /// Normal-mode access is refused.
    Required,
    /// Both modes are accepted.
    Allowed,
}

/// Server configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// AGV protocol listener.
    #[arg(long, env = "RCS_AGV_LISTEN", default_value = "0.0.0.0:7700")]
    pub agv_listen: SocketAddr,
    /// Data directory (SQLite database, server key pair).
    #[arg(long, env = "RCS_DATA_DIR", default_value = "rcs-data")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://...` or `postgres://...`); default: SQLite in the data dir.
    #[arg(long, env = "RCS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Secure-mode policy.
    #[arg(long, env = "RCS_SECURE", value_enum, default_value = "allowed")]
    pub secure: SecurePolicy,
    /// Grant the fast secure profile when an AGV asks for it.
    #[arg(long, env = "RCS_ALLOW_FAST", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_fast: bool,
    /// Most AGV connections at once.
    #[arg(long, env = "RCS_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
}

impl Config {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("rcs.sqlite").display()
            )
        })
    }

    /// A configuration for tests: listeners on 127.0.0.1:0, data in `dir`.
    pub fn for_tests(dir: &std::path::Path) -> Self {
        Self {
            agv_listen: "127.0.0.1:0".parse().expect("literal"),
            data_dir: dir.to_path_buf(),
            database_url: None,
            secure: SecurePolicy::Allowed,
            allow_fast: true,
            max_connections: 1000,
        }
    }
}
