//! What operators set: command-line flags, each also read from an `RCS_*` environment variable
//! or, for flags left at their default, from a TOML file given with `--config` (command line and
//! environment win over the file, the file wins over the defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use protocol::address::{AddressError, RcsAddress};
use serde::Deserialize;

/// When AGVs must use the secure mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurePolicy {
    /// Normal-mode access is refused.
    Required,
    /// Both modes are accepted.
    Allowed,
    /// Secure mode is not offered: secure access requests are refused (`Unsupported`).
    Off,
}

impl SecurePolicy {
    /// The session policy this gives, with `allow_fast`.
    pub fn session_policy(self, allow_fast: bool) -> protocol::session::RcsPolicy {
        protocol::session::RcsPolicy {
            secure_required: self == SecurePolicy::Required,
            secure_offered: self != SecurePolicy::Off,
            allow_fast,
        }
    }

    /// The name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurePolicy::Required => "required",
            SecurePolicy::Allowed => "allowed",
            SecurePolicy::Off => "off",
        }
    }

    /// Parses a configured name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "required" => Some(SecurePolicy::Required),
            "allowed" => Some(SecurePolicy::Allowed),
            "off" => Some(SecurePolicy::Off),
            _ => None,
        }
    }
}

/// Server configuration. Its `Debug` hides the secrets: the admin token and the callback secret
/// show as `***`, passwords in the database and callback URLs are masked.
#[derive(Clone, clap::Args)]
pub struct Config {
    /// TOML configuration file (keys as the long flags: `agv-listen = "0.0.0.0:7700"`).
    #[arg(long, env = "RCS_CONFIG")]
    pub config: Option<PathBuf>,
    /// AGV protocol listener (an address, or a host name and port: `localhost:7700`).
    #[arg(long, env = "RCS_AGV_LISTEN", default_value = "0.0.0.0:7700", value_parser = listen_address)]
    pub agv_listen: SocketAddr,
    /// HTTP API listener (also /healthz and /metrics; an address, or a host name and port).
    #[arg(long, env = "RCS_HTTP_LISTEN", default_value = "127.0.0.1:8080", value_parser = listen_address)]
    pub http_listen: SocketAddr,
    /// Data directory (SQLite database, server key pair, generated API token).
    #[arg(long, env = "RCS_DATA_DIR", default_value = "rcs-data")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://...` or `postgres://...`); default: SQLite in the data dir.
    #[arg(long, env = "RCS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL: the schema this site's tables live in (created if needed), so several
    /// sites share one database, each with its own lease and data; default: `public`.
    #[arg(long, env = "RCS_DB_SCHEMA")]
    pub db_schema: Option<String>,
    /// Site directory (maps); default: the built-in demo site.
    #[arg(long, env = "RCS_SITE")]
    pub site: Option<PathBuf>,
    /// Secure-mode policy (per-AGV overrides: `PUT /api/v1/agvs/{id}/policy`).
    #[arg(long, env = "RCS_SECURE", value_enum, default_value = "allowed")]
    pub secure: SecurePolicy,
    /// Grant the fast or the gcm secure profile (signatures only on safety-critical commands)
    /// when an AGV asks for it; otherwise the guide profile.
    #[arg(long, env = "RCS_ALLOW_FAST", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_fast: bool,
    /// Most AGV connections at once.
    #[arg(long, env = "RCS_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Frames an AGV connection may send per second on average, with a burst of twice that;
    /// a frame beyond is dropped and answered `Error(RateLimited)`, which counts toward the
    /// bad-frame limit (5 within 10 s close the connection). 0: no limit.
    #[arg(long, env = "RCS_MAX_FRAMES_PER_SEC", default_value_t = 50)]
    pub max_frames_per_sec: u32,
    /// Connections from one IP address that have not completed access, at most; a connection
    /// beyond is closed at once (no frame). AGVs behind one NAT address share it: raise it for
    /// them (or for a simulated fleet on one host). 0: no limit.
    #[arg(long, env = "RCS_MAX_PENDING_PER_PEER", default_value_t = 32)]
    pub max_pending_per_peer: usize,
    /// Milliseconds a connection has to complete access (its access request answered, in
    /// secure mode confirmed) after connecting; then `Close(LivenessTimeout)`.
    #[arg(long, env = "RCS_ACCESS_TIMEOUT_MS", default_value_t = 3_000)]
    pub access_timeout_ms: u64,
    /// Milliseconds an AGV has to complete access and registration after connecting.
    #[arg(long, env = "RCS_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Milliseconds of silence after which an AGV (or the server, for the AGV) counts the link
    /// lost; pushed to AGVs with the configuration.
    #[arg(long, env = "RCS_LINK_TIMEOUT_MS", default_value_t = 5_000)]
    pub link_timeout_ms: u64,
    /// RCS instances AGVs may connect to, in order of preference (`host:port`, comma-separated
    /// or repeated; docs/protocol.md 4.4): the first 16 are sent in every configuration push, so
    /// AGVs fail over along them. Empty (the default): nothing is sent and AGVs keep the address
    /// they have.
    #[arg(long, env = "RCS_ADDRESSES", value_delimiter = ',', value_parser = parse_rcs_address)]
    pub rcs_addresses: Vec<RcsAddress>,
    /// Milliseconds an API command waits for the AGV's answer.
    #[arg(long, env = "RCS_COMMAND_TIMEOUT_MS", default_value_t = 10_000)]
    pub command_timeout_ms: u64,
    /// Largest HTTP request body the API reads, bytes; a larger one is refused with 413
    /// `body_too_large` (docs/security.md). At least 1,024.
    #[arg(long, env = "RCS_MAX_BODY_BYTES", default_value_t = 65_536)]
    pub max_body_bytes: usize,
    /// Server-sent event streams (`/api/v1/events` and `/api/v1/live`) open at once, at most;
    /// one more is refused with 503 `too_many_streams`. 0: no limit.
    #[arg(long, env = "RCS_MAX_EVENT_STREAMS", default_value_t = 256)]
    pub max_event_streams: usize,
    /// Milliseconds between telemetry batches written to the database.
    #[arg(long, env = "RCS_TELEMETRY_FLUSH_MS", default_value_t = 1_000)]
    pub telemetry_flush_ms: u64,
    /// Hours of telemetry history kept (each AGV's last snapshot is kept regardless).
    #[arg(long, env = "RCS_TELEMETRY_RETENTION_H", default_value_t = 24)]
    pub telemetry_retention_h: u64,
    /// Milliseconds a task may be blocked by an offline AGV's space before an alarm is raised
    /// (one per task and offline AGV).
    #[arg(long, env = "RCS_OFFLINE_ALARM_AFTER_MS", default_value_t = 30_000)]
    pub offline_alarm_after_ms: u64,
    /// Milliseconds an idle AGV may stand on a station, charger or lift door (or in the way)
    /// before it leaves for a parking place or an out-of-the-way node; 0: idle AGVs stay.
    #[arg(long, env = "RCS_PARK_AFTER_MS", default_value_t = 5_000)]
    pub park_after_ms: u64,
    /// Below this charge (%) an idle AGV goes to charge.
    #[arg(long, env = "RCS_CHARGE_BELOW_PCT", default_value_t = 20.0)]
    pub charge_below_pct: f32,
    /// Below this charge (%) an idle AGV charges when a charger is free instead of parking
    /// (opportunity charging); 0: off.
    #[arg(long, env = "RCS_OPPORTUNITY_BELOW_PCT", default_value_t = 60.0)]
    pub opportunity_below_pct: f32,
    /// Congestion control: when more than this share of the running tasks wait for another
    /// AGV, tasks that name no AGV are not given one until the share falls (a jam is not fed
    /// more AGVs); 0: off.
    #[arg(long, env = "RCS_CONGESTION_GATE", default_value_t = 0.5)]
    pub congestion_gate: f64,
    /// Dense maps: where the online AGVs stand on at least this share of the nodes they may
    /// stand on, every AGV at rest there is moved together, a node at a time, to untie knots
    /// (priority inheritance with backtracking, docs/traffic.md); 0: never.
    #[arg(long, env = "RCS_DENSE_SHARE", default_value_t = 0.15)]
    pub dense_share: f64,
    /// Several instances on one PostgreSQL: this instance's unique id in the lease (default:
    /// host name, process id and a random part).
    #[arg(long, env = "RCS_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Where AGVs reach this instance (`host:port`) as other instances name it (default: the
    /// AGV listen address).
    #[arg(long, env = "RCS_ADVERTISE_AGV")]
    pub advertise_agv: Option<String>,
    /// Where operators reach this instance's HTTP API (`host:port`) as standbys name it
    /// (default: the HTTP listen address).
    #[arg(long, env = "RCS_ADVERTISE_HTTP")]
    pub advertise_http: Option<String>,
    /// Several instances on one PostgreSQL: the leadership lease, ms. A standby takes over at
    /// most this long after the active instance stopped renewing it.
    #[arg(long, env = "RCS_LEASE_MS", default_value_t = 5_000)]
    pub lease_ms: u64,
    /// Business-system URL that task progress is POSTed to (JSON, retried).
    #[arg(long, env = "RCS_CALLBACK_URL")]
    pub callback_url: Option<String>,
    /// The secret callbacks are signed with (HMAC-SHA256; at least 16 characters); otherwise
    /// one is generated into `<data-dir>/callback-secret`, mode 0600.
    #[arg(long, env = "RCS_CALLBACK_SECRET", hide_env_values = true)]
    pub callback_secret: Option<String>,
    /// Admin API token (otherwise one is generated into `<data-dir>/api-token`, mode 0600).
    #[arg(long = "api-token", env = "RCS_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// The MQTT broker of the VDA 5050 gateway (`mqtt://host:port` or `host:port`): VDA 5050
    /// vehicles on it join the fleet (docs/vda5050.md). Off unless set.
    #[arg(long, env = "RCS_MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// Runs an embedded MQTT broker on this address (for example `0.0.0.0:1883`) for a one-box
    /// site; the VDA 5050 gateway uses it unless `--mqtt-url` names another broker. Up to about
    /// 100 vehicles; a larger fleet or several instances take an external broker.
    #[arg(long, env = "RCS_MQTT_LISTEN")]
    pub mqtt_listen: Option<SocketAddr>,
    /// The VDA 5050 interface name: the first level of the gateway's topics.
    #[arg(long, env = "RCS_VDA5050_INTERFACE", default_value = "uagv")]
    pub vda5050_interface: String,
    /// The first AGV id given to a VDA 5050 vehicle that has none yet (the next free one at or
    /// above it; an operator can set another through the API).
    #[arg(long, env = "RCS_VDA5050_FIRST_ID", default_value_t = 50_000)]
    pub vda5050_first_id: u32,
    /// A VDA 5050 vehicle that sends nothing for this long is offline (a vehicle publishes its
    /// state at least every 30 s; the broker's last will tells of a broken connection at once).
    #[arg(long, env = "RCS_VDA5050_TIMEOUT_MS", default_value_t = 60_000)]
    pub vda5050_timeout_ms: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("config", &self.config)
            .field("agv_listen", &self.agv_listen)
            .field("http_listen", &self.http_listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::redact_url),
            )
            .field("db_schema", &self.db_schema)
            .field("site", &self.site)
            .field("secure", &self.secure)
            .field("allow_fast", &self.allow_fast)
            .field("max_connections", &self.max_connections)
            .field("max_frames_per_sec", &self.max_frames_per_sec)
            .field("max_pending_per_peer", &self.max_pending_per_peer)
            .field("access_timeout_ms", &self.access_timeout_ms)
            .field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .field("link_timeout_ms", &self.link_timeout_ms)
            .field("rcs_addresses", &self.rcs_addresses)
            .field("command_timeout_ms", &self.command_timeout_ms)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_event_streams", &self.max_event_streams)
            .field("telemetry_flush_ms", &self.telemetry_flush_ms)
            .field("telemetry_retention_h", &self.telemetry_retention_h)
            .field("offline_alarm_after_ms", &self.offline_alarm_after_ms)
            .field("park_after_ms", &self.park_after_ms)
            .field("charge_below_pct", &self.charge_below_pct)
            .field("opportunity_below_pct", &self.opportunity_below_pct)
            .field("congestion_gate", &self.congestion_gate)
            .field("dense_share", &self.dense_share)
            .field("instance_id", &self.instance_id)
            .field("advertise_agv", &self.advertise_agv)
            .field("advertise_http", &self.advertise_http)
            .field("lease_ms", &self.lease_ms)
            .field(
                "callback_url",
                &self.callback_url.as_deref().map(crate::redact_url),
            )
            .field(
                "callback_secret",
                &self.callback_secret.as_ref().map(|_| "***"),
            )
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("mqtt_url", &self.mqtt_url.as_deref().map(crate::redact_url))
            .field("mqtt_listen", &self.mqtt_listen)
            .field("vda5050_interface", &self.vda5050_interface)
            .field("vda5050_first_id", &self.vda5050_first_id)
            .field("vda5050_timeout_ms", &self.vda5050_timeout_ms)
            .finish()
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
    /// A value (from the command line, the environment or the file) is outside what the
    /// server can work with.
    #[error("--{flag}: {reason}")]
    Invalid {
        /// The flag (its long name).
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// A value in the file is not valid for its key.
    #[error("{path}: {key}: {reason}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// Parses one `--rcs-addresses` entry (`host:port`, surrounding blanks ignored).
fn parse_rcs_address(text: &str) -> Result<RcsAddress, String> {
    text.trim().parse().map_err(|e: AddressError| e.to_string())
}

/// A listen address: `IP:port`, or `host:port` resolved now (the first address the host name
/// resolves to: `localhost:8080` is 127.0.0.1:8080 where `localhost` resolves to it first).
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(format!(
            "`{text}`: a port is needed (for example `{text}:8080`)"
        ));
    }
    text.to_socket_addrs()
        .map_err(|e| format!("`{text}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{text}`: the host name resolves to no address"))
}

/// [`listen_address`] for the file.
fn file_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| listen_address(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// The file's view: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    #[serde(default, deserialize_with = "file_listen")]
    agv_listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "file_listen")]
    http_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    db_schema: Option<String>,
    site: Option<PathBuf>,
    secure: Option<SecurePolicy>,
    allow_fast: Option<bool>,
    max_connections: Option<usize>,
    max_frames_per_sec: Option<u32>,
    max_pending_per_peer: Option<usize>,
    access_timeout_ms: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    link_timeout_ms: Option<u64>,
    rcs_addresses: Option<Vec<String>>,
    command_timeout_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    max_event_streams: Option<usize>,
    telemetry_flush_ms: Option<u64>,
    telemetry_retention_h: Option<u64>,
    offline_alarm_after_ms: Option<u64>,
    park_after_ms: Option<u64>,
    charge_below_pct: Option<f32>,
    opportunity_below_pct: Option<f32>,
    congestion_gate: Option<f64>,
    dense_share: Option<f64>,
    instance_id: Option<String>,
    advertise_agv: Option<String>,
    advertise_http: Option<String>,
    lease_ms: Option<u64>,
    callback_url: Option<String>,
    mqtt_url: Option<String>,
    mqtt_listen: Option<SocketAddr>,
    vda5050_interface: Option<String>,
    vda5050_first_id: Option<u32>,
    vda5050_timeout_ms: Option<u64>,
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

    /// Opens the database in force (in `--db-schema`, if given).
    pub async fn open_db(&self) -> Result<crate::db::Db, sqlx::Error> {
        crate::db::Db::open_in(&self.database_url(), self.db_schema.as_deref()).await
    }

    /// Fills every value that `matches` shows was left at its default from the TOML file named
    /// by `--config`, if any. Relative paths in the file are relative to the file.
    pub fn apply_file(&mut self, matches: &clap::ArgMatches) -> Result<(), ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let defaulted = |id: &str| {
            !matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        macro_rules! take {
            ($field:ident) => {
                if let Some(v) = file.$field
                    && defaulted(stringify!($field))
                {
                    self.$field = v.into();
                }
            };
        }
        take!(agv_listen);
        take!(http_listen);
        take!(secure);
        take!(allow_fast);
        take!(max_connections);
        take!(max_frames_per_sec);
        take!(max_pending_per_peer);
        take!(access_timeout_ms);
        take!(handshake_timeout_ms);
        take!(link_timeout_ms);
        take!(command_timeout_ms);
        take!(max_body_bytes);
        take!(max_event_streams);
        take!(telemetry_flush_ms);
        take!(telemetry_retention_h);
        take!(offline_alarm_after_ms);
        take!(park_after_ms);
        take!(charge_below_pct);
        take!(opportunity_below_pct);
        take!(congestion_gate);
        take!(dense_share);
        take!(lease_ms);
        take!(instance_id);
        take!(advertise_agv);
        take!(advertise_http);
        take!(database_url);
        take!(db_schema);
        if let Some(v) = file.callback_url
            && defaulted("callback_url")
        {
            self.callback_url = Some(v);
        }
        if let Some(v) = file.mqtt_url
            && defaulted("mqtt_url")
        {
            self.mqtt_url = Some(v);
        }
        take!(mqtt_listen);
        take!(vda5050_interface);
        take!(vda5050_first_id);
        take!(vda5050_timeout_ms);
        if let Some(list) = file.rcs_addresses
            && defaulted("rcs_addresses")
        {
            self.rcs_addresses = list
                .iter()
                .map(|a| parse_rcs_address(a))
                .collect::<Result<_, _>>()
                .map_err(|reason| ConfigError::Value {
                    path: path.clone(),
                    key: "rcs-addresses",
                    reason,
                })?;
        }
        if let Some(v) = file.data_dir
            && defaulted("data_dir")
        {
            self.data_dir = base.join(v);
        }
        if let Some(v) = file.site
            && defaulted("site")
        {
            self.site = Some(base.join(v));
        }
        Ok(())
    }

    /// Checks that every value is one the server can work with (a limit of 0 where 0 would
    /// serve nothing, a timeout of 0, a percentage outside 0 to 100...): the first one that is
    /// not, as [`ConfigError::Invalid`] naming its flag. The server refuses to start with it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn at_least(
            flag: &'static str,
            value: u64,
            min: u64,
            why: &str,
        ) -> Result<(), ConfigError> {
            if value < min {
                return Err(ConfigError::Invalid {
                    flag,
                    reason: format!("{value} is below {min}: {why}"),
                });
            }
            Ok(())
        }
        fn within(flag: &'static str, value: f64, max: f64) -> Result<(), ConfigError> {
            if !(value.is_finite() && (0.0..=max).contains(&value)) {
                return Err(ConfigError::Invalid {
                    flag,
                    reason: format!("{value} is not within 0 to {max}"),
                });
            }
            Ok(())
        }
        at_least(
            "max-connections",
            self.max_connections as u64,
            1,
            "no AGV could connect",
        )?;
        at_least(
            "access-timeout-ms",
            self.access_timeout_ms,
            1,
            "every connection would be closed at once",
        )?;
        at_least(
            "handshake-timeout-ms",
            self.handshake_timeout_ms,
            1,
            "every connection would be closed at once",
        )?;
        at_least(
            "link-timeout-ms",
            self.link_timeout_ms,
            100,
            "AGVs would lose the link between two heartbeats",
        )?;
        if self.link_timeout_ms > u64::from(u32::MAX) {
            return Err(ConfigError::Invalid {
                flag: "link-timeout-ms",
                reason: format!("{} does not fit the protocol's u32", self.link_timeout_ms),
            });
        }
        at_least(
            "command-timeout-ms",
            self.command_timeout_ms,
            1,
            "every command would time out",
        )?;
        at_least(
            "max-body-bytes",
            self.max_body_bytes as u64,
            1024,
            "the API's own requests would not fit",
        )?;
        within("charge-below-pct", self.charge_below_pct.into(), 100.0)?;
        within(
            "opportunity-below-pct",
            self.opportunity_below_pct.into(),
            100.0,
        )?;
        within("congestion-gate", self.congestion_gate, 1.0)?;
        within("dense-share", self.dense_share, 1.0)?;
        if let Some(url) = &self.mqtt_url {
            mqtt_address(url).map_err(|reason| ConfigError::Invalid {
                flag: "mqtt-url",
                reason,
            })?;
        }
        if !valid_level(&self.vda5050_interface) {
            return Err(ConfigError::Invalid {
                flag: "vda5050-interface",
                reason: format!(
                    "{:?} cannot be a topic level (empty, or with `/`, `+`, `#`)",
                    self.vda5050_interface
                ),
            });
        }
        at_least(
            "vda5050-first-id",
            self.vda5050_first_id.into(),
            1,
            "AGV id 0 is no AGV",
        )?;
        at_least(
            "vda5050-timeout-ms",
            self.vda5050_timeout_ms,
            1_000,
            "vehicles would go offline between their states",
        )?;
        Ok(())
    }

    /// A configuration for tests: listeners on 127.0.0.1:0, data in `dir`.
    pub fn for_tests(dir: &Path) -> Self {
        Self {
            config: None,
            agv_listen: "127.0.0.1:0".parse().expect("literal"),
            http_listen: "127.0.0.1:0".parse().expect("literal"),
            data_dir: dir.to_path_buf(),
            database_url: None,
            db_schema: None,
            site: None,
            secure: SecurePolicy::Allowed,
            allow_fast: true,
            max_connections: 1000,
            max_frames_per_sec: 50,
            // tests run whole fleets from 127.0.0.1
            max_pending_per_peer: 0,
            access_timeout_ms: 3_000,
            handshake_timeout_ms: 10_000,
            link_timeout_ms: 5_000,
            rcs_addresses: Vec::new(),
            command_timeout_ms: 10_000,
            max_body_bytes: 65_536,
            max_event_streams: 256,
            telemetry_flush_ms: 200,
            telemetry_retention_h: 24,
            offline_alarm_after_ms: 30_000,
            park_after_ms: 5_000,
            charge_below_pct: 20.0,
            opportunity_below_pct: 60.0,
            congestion_gate: 0.5,
            dense_share: 0.15,
            instance_id: None,
            advertise_agv: None,
            advertise_http: None,
            lease_ms: 5_000,
            callback_url: None,
            callback_secret: None,
            api_token: Some("test-admin-token".into()),
            mqtt_url: None,
            mqtt_listen: None,
            vda5050_interface: "uagv".into(),
            vda5050_first_id: 50_000,
            vda5050_timeout_ms: 60_000,
        }
    }
}

/// Whether `level` can be a topic level: not empty, without `/`, `+`, `#` or NUL.
fn valid_level(level: &str) -> bool {
    !level.is_empty() && !level.contains(['/', '+', '#', '\0'])
}

impl Config {
    /// The broker the VDA 5050 gateway connects to: `--mqtt-url`, else the embedded broker of
    /// `--mqtt-listen`; `None` when the gateway is off.
    pub fn mqtt_broker(&self) -> Option<Result<(String, u16), String>> {
        match (&self.mqtt_url, self.mqtt_listen) {
            (Some(url), _) => Some(mqtt_address(url)),
            (None, Some(listen)) => {
                let a = crate::mqtt_broker::local_address(listen);
                Some(Ok((a.ip().to_string(), a.port())))
            }
            (None, None) => None,
        }
    }
}

/// The broker's host and port from `--mqtt-url`: `mqtt://host:port`, `tcp://host:port` or
/// `host:port` (port 1883 when left out).
pub fn mqtt_address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    if rest.contains("://") {
        return Err(format!(
            "{url:?}: only mqtt:// (plain TCP) is supported; TLS to the broker is not offered yet"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: port {p:?} is not a port number"))?,
        ),
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?']) {
        return Err(format!("{url:?}: no broker host"));
    }
    Ok((host.to_owned(), port))
}
