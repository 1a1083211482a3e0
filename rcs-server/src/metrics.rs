//! Prometheus metrics (`GET /metrics`, text exposition format), with `prometheus-client`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label set: one `kind` label.
pub type Kind = Vec<(&'static str, String)>;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open AGV TCP connections.
    pub connections: Gauge,
    /// AGVs with a session.
    pub online: Gauge,
    /// Sessions granted, by mode and profile.
    pub sessions: Family<Kind, Counter>,
    /// Sessions closed, by cause.
    pub closes: Family<Kind, Counter>,
    /// Status reports taken.
    pub status_reports: Counter,
    /// API commands by outcome.
    pub commands: Family<Kind, Counter>,
    /// Access claims refused (AGV id already connected).
    pub refused_claims: Counter,
    /// AGV frames dropped for the per-session frame rate limit (`--max-frames-per-sec`).
    pub rate_limited_frames: Counter,
    /// AGV connections closed at once because their address had too many connections that
    /// had not completed access (`--max-pending-per-peer`).
    pub refused_connections: Counter,
    /// API event streams refused because `--max-event-streams` were open.
    pub refused_streams: Counter,
    /// Event log rows dropped because the writer was that far behind (set when the metrics
    /// are read).
    pub event_log_dropped: Gauge,
    /// Telemetry history rows written.
    pub telemetry_rows: Counter,
    /// Telemetry batches written.
    pub telemetry_batches: Counter,
    /// Telemetry history rows pruned (older than `--telemetry-retention-h`).
    pub telemetry_pruned: Counter,
    /// One pass of the write-behind writer (telemetry, event log, pruning), s.
    pub telemetry_batch_seconds: Histogram,
    /// Database errors on the write-behind path.
    pub db_errors: Counter,
    /// AGV protocol errors reported by the peer or seen by the server, by kind.
    pub protocol_errors: Family<Kind, Counter>,
    /// Space requests by outcome.
    pub grants: Family<Kind, Counter>,
    /// Footprints found overlapping space held by another AGV (safety episodes opened or
    /// grown).
    pub safety_overlaps: Counter,
    /// Safety stops sent.
    pub safety_stops: Counter,
    /// From the status report that showed an overlap to the stopped AGV's acknowledgement, s.
    pub safety_stop_seconds: Histogram,
    /// Task callbacks delivered to the business system.
    pub callbacks_sent: Counter,
    /// Task callbacks given up on.
    pub callbacks_dropped: Counter,
    /// Tasks waiting now, by reason (`crate::waits`).
    pub waiting: Family<Kind, Gauge>,
    /// Waits that ended, by reason, s.
    pub wait_seconds: Family<Kind, Histogram, fn() -> Histogram>,
    /// Alarms raised for tasks blocked by an offline AGV.
    pub wait_alarms: Counter,
    /// The fencing epoch this instance acts under (0: the one instance, SQLite).
    pub cluster_epoch: Gauge,
    /// Terms this process has held as the active instance of a cluster (takeovers).
    pub cluster_terms: Gauge,
    /// Tasks of the server that panicked, by task (`connection`: contained; any other: the
    /// server stopped).
    pub panics: Family<Kind, Counter>,
    /// 1 while this instance is the active one of a cluster (or the single instance), 0 as a
    /// standby.
    pub cluster_active: Gauge,
    /// Open tasks (not the server's own park and charge tasks) by state, set when read.
    pub tasks: Family<Kind, Gauge>,
    /// Tasks (not the server's own) that ended, by state.
    pub tasks_ended: Family<Kind, Counter>,
    /// Completed tasks (not the server's own), from submission to completion, s.
    pub task_seconds: Histogram,
    /// AGVs known by state (`offline`, or the state they last reported), set when read.
    pub agvs: Family<Kind, Gauge>,
    /// HTTP requests answered, by method and status.
    pub http_requests: Family<Kind, Counter>,
    /// HTTP requests, from their arrival to the answer's head (a stream's start), s.
    pub http_request_seconds: Histogram,
    /// Commands to AGVs that were answered, from the command going into the AGV's session to
    /// its answer being read: the AGV's time and the network's, without the API's, s.
    pub command_answer_seconds: Histogram,
    /// Commands' audit rows, written (committed) before the command is sent: the database's
    /// share of a command, its wait for the connection included, s.
    pub command_audit_seconds: Histogram,
    /// How late the AGVs' runtime runs a timer ([`crate::lag`], every 97 ms): the backlog of
    /// its queues, s.
    pub runtime_lag_seconds: Histogram,
    /// How late the HTTP API's runtime ([`crate::runtime::Http`]) runs a timer, likewise, s.
    pub api_runtime_lag_seconds: Histogram,
}

/// The buckets of `rcs_wait_seconds`.
fn wait_histogram() -> Histogram {
    Histogram::new([
        0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ])
}

/// The buckets of `rcs_http_request_seconds` and `rcs_command_answer_seconds`: 20 ms among
/// them, the command round trip's p99 goal at 10,000 AGVs (docs/performance.md).
fn round_trip_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The buckets of the runtimes' lag.
fn lag_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rcs");
        let m = Self {
            connections: Gauge::default(),
            online: Gauge::default(),
            sessions: Family::default(),
            closes: Family::default(),
            status_reports: Counter::default(),
            commands: Family::default(),
            refused_claims: Counter::default(),
            rate_limited_frames: Counter::default(),
            refused_connections: Counter::default(),
            refused_streams: Counter::default(),
            event_log_dropped: Gauge::default(),
            telemetry_rows: Counter::default(),
            telemetry_batches: Counter::default(),
            telemetry_pruned: Counter::default(),
            telemetry_batch_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            db_errors: Counter::default(),
            protocol_errors: Family::default(),
            grants: Family::default(),
            safety_overlaps: Counter::default(),
            safety_stops: Counter::default(),
            safety_stop_seconds: Histogram::new([
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
            ]),
            callbacks_sent: Counter::default(),
            callbacks_dropped: Counter::default(),
            waiting: Family::default(),
            wait_seconds: Family::new_with_constructor(wait_histogram),
            wait_alarms: Counter::default(),
            cluster_epoch: Gauge::default(),
            cluster_terms: Gauge::default(),
            cluster_active: Gauge::default(),
            panics: Family::default(),
            tasks: Family::default(),
            tasks_ended: Family::default(),
            task_seconds: Histogram::new([
                5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
            ]),
            agvs: Family::default(),
            http_requests: Family::default(),
            http_request_seconds: round_trip_histogram(),
            command_answer_seconds: round_trip_histogram(),
            runtime_lag_seconds: lag_histogram(),
            api_runtime_lag_seconds: lag_histogram(),
            command_audit_seconds: Histogram::new([
                0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0,
                2.0,
            ]),
            registry: Registry::default(),
        };
        registry.register(
            "agv_connections",
            "Open AGV TCP connections",
            m.connections.clone(),
        );
        registry.register("agvs_online", "AGVs with a session", m.online.clone());
        registry.register("sessions", "Sessions granted", m.sessions.clone());
        registry.register("session_closes", "Sessions closed", m.closes.clone());
        registry.register(
            "status_reports",
            "Status reports taken",
            m.status_reports.clone(),
        );
        registry.register("commands", "API commands by outcome", m.commands.clone());
        registry.register(
            "panics",
            "Tasks of the server that panicked (a bug: please report it)",
            m.panics.clone(),
        );
        registry.register(
            "refused_claims",
            "Access refused: AGV id already connected",
            m.refused_claims.clone(),
        );
        registry.register(
            "rate_limited_frames",
            "AGV frames dropped for the frame rate limit",
            m.rate_limited_frames.clone(),
        );
        registry.register(
            "refused_connections",
            "AGV connections closed: too many pending from their address",
            m.refused_connections.clone(),
        );
        registry.register(
            "refused_streams",
            "API event streams refused: --max-event-streams open",
            m.refused_streams.clone(),
        );
        registry.register(
            "event_log_dropped",
            "Event log rows dropped: the writer was behind by the log queue",
            m.event_log_dropped.clone(),
        );
        registry.register(
            "telemetry_rows",
            "Telemetry history rows written",
            m.telemetry_rows.clone(),
        );
        registry.register(
            "telemetry_batches",
            "Telemetry batches written",
            m.telemetry_batches.clone(),
        );
        registry.register(
            "telemetry_pruned",
            "Telemetry history rows pruned for their age",
            m.telemetry_pruned.clone(),
        );
        registry.register(
            "telemetry_batch_seconds",
            "One pass of the write-behind writer: telemetry, event log, pruning",
            m.telemetry_batch_seconds.clone(),
        );
        registry.register(
            "db_errors",
            "Write-behind database errors",
            m.db_errors.clone(),
        );
        registry.register(
            "protocol_errors",
            "AGV protocol errors",
            m.protocol_errors.clone(),
        );
        registry.register(
            "space_requests",
            "Space requests by outcome",
            m.grants.clone(),
        );
        registry.register(
            "safety_overlaps",
            "Footprints overlapping space held by another AGV",
            m.safety_overlaps.clone(),
        );
        registry.register("safety_stops", "Safety stops sent", m.safety_stops.clone());
        registry.register(
            "safety_stop_seconds",
            "From the report that showed an overlap to the stop's acknowledgement",
            m.safety_stop_seconds.clone(),
        );
        registry.register(
            "callbacks_sent",
            "Task callbacks delivered",
            m.callbacks_sent.clone(),
        );
        registry.register(
            "callbacks_dropped",
            "Task callbacks given up on",
            m.callbacks_dropped.clone(),
        );
        registry.register(
            "waiting_agvs",
            "Tasks waiting now (their AGV does not move), by reason",
            m.waiting.clone(),
        );
        registry.register(
            "wait_seconds",
            "Waits that ended, by reason",
            m.wait_seconds.clone(),
        );
        registry.register(
            "wait_alarms",
            "Alarms for tasks blocked by an offline AGV",
            m.wait_alarms.clone(),
        );
        registry.register(
            "cluster_epoch",
            "Fencing epoch this instance acts under (0: single instance); standbys answer 503",
            m.cluster_epoch.clone(),
        );
        registry.register(
            "cluster_terms",
            "Terms this process has held as the active instance (takeovers)",
            m.cluster_terms.clone(),
        );
        registry.register(
            "cluster_active",
            "1 while this instance is active (or the single instance), 0 as a standby",
            m.cluster_active.clone(),
        );
        registry.register(
            "tasks",
            "Open tasks by state (not the server's own park and charge tasks)",
            m.tasks.clone(),
        );
        registry.register(
            "tasks_ended",
            "Tasks that ended, by state (not the server's own)",
            m.tasks_ended.clone(),
        );
        registry.register(
            "task_seconds",
            "Completed tasks from submission to completion, s",
            m.task_seconds.clone(),
        );
        registry.register(
            "agvs",
            "AGVs known by state (offline, or as last reported)",
            m.agvs.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "HTTP requests from arrival to the answer's head, s",
            m.http_request_seconds.clone(),
        );
        registry.register(
            "command_answer_seconds",
            "Commands to AGVs answered, from going into the AGV's session to the answer read, s",
            m.command_answer_seconds.clone(),
        );
        registry.register(
            "command_audit_seconds",
            "Commands' audit rows, committed before the command is sent (the wait for the database included), s",
            m.command_audit_seconds.clone(),
        );
        registry.register(
            "runtime_lag_seconds",
            "How late the AGVs' runtime ran a timer (sampled every 97 ms): its backlog, s",
            m.runtime_lag_seconds.clone(),
        );
        registry.register(
            "api_runtime_lag_seconds",
            "How late the HTTP API's runtime ran a timer (sampled every 97 ms): its backlog, s",
            m.api_runtime_lag_seconds.clone(),
        );
        // there from the start, at zero, for dashboards and alerts
        for state in ["completed", "failed", "cancelled"] {
            let _ = m.tasks_ended.get_or_create(&kind("state", state));
        }
        for task in [
            "connection",
            "agv_listener",
            "dispatcher",
            "safety",
            "writer",
            "grant_expiry",
            "token_refresh",
            "callbacks",
        ] {
            let _ = m.panics.get_or_create(&kind("task", task));
        }
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// A one-label set.
pub fn kind(key: &'static str, value: impl Into<String>) -> Kind {
    vec![(key, lower(&value.into()))]
}

/// A label value in lower case, `CamelCase` words split by `_` (`peer:ChecksumMismatch` →
/// `peer:checksum_mismatch`): label values are matched in queries, where case trips people up.
fn lower(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let mut prev_lower = false;
    for c in value.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// The answer to `GET /metrics` with the OpenMetrics text `open_metrics`: as it is when the
/// request's `Accept` asks for `application/openmetrics-text`, else in Prometheus' text format
/// 0.0.4 ([`prometheus_text`]).
pub fn respond(headers: &axum::http::HeaderMap, open_metrics: String) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    let wanted = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wanted {
        let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        ([(header::CONTENT_TYPE, kind)], open_metrics).into_response()
    } else {
        let kind = "text/plain; version=0.0.4; charset=utf-8";
        (
            [(header::CONTENT_TYPE, kind)],
            prometheus_text(&open_metrics),
        )
            .into_response()
    }
}

/// The metrics in Prometheus' text format 0.0.4, made from the OpenMetrics text
/// `open_metrics`: no `# EOF` and `# UNIT` lines, and a counter's `# HELP` and `# TYPE` name
/// its samples (`…_total`), as the older format has it.
pub fn prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let mut counters = std::collections::HashSet::new();
    for line in open_metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name.to_owned());
        }
    }
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) && !name.ends_with("_total") {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_lower_case_words() {
        assert_eq!(lower("peer:ChecksumMismatch"), "peer:checksum_mismatch");
        assert_eq!(lower("Normal/Guide"), "normal/guide");
        assert_eq!(lower("agv_listener"), "agv_listener");
        assert_eq!(lower("LinkTimeout"), "link_timeout");
    }

    #[test]
    fn prometheus_text_names_counters_by_their_samples() {
        let open = "# HELP rcs_x X.\n# TYPE rcs_x counter\nrcs_x_total 3\n# UNIT rcs_y seconds\n\
                    # TYPE rcs_y gauge\nrcs_y 1\n# EOF\n";
        assert_eq!(
            prometheus_text(open),
            "# HELP rcs_x_total X.\n# TYPE rcs_x_total counter\nrcs_x_total 3\n\
             # TYPE rcs_y gauge\nrcs_y 1\n"
        );
    }
}
