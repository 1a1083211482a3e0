//! One measured fleet size of one mode ([`Row`]): its line in `capacity.csv` (and the lines of
//! older versions), and its row in the Markdown table docs/performance.md shows.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::CapacityError;

/// One measured fleet size of one mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The mode.
    pub mode: String,
    /// CPUs the server could use.
    pub server_cores: usize,
    /// AGVs asked for.
    pub agvs: usize,
    /// AGVs online when the window started.
    pub online: usize,
    /// Status reports the server counted per second in the window.
    pub status_per_sec: f64,
    /// What the fleet should send: `agvs` × 10 Hz.
    pub expected_per_sec: f64,
    /// Server CPU seconds per second of window (1.0: one core busy).
    pub server_load: f64,
    /// Fleet CPU seconds per second of window.
    pub fleet_load: f64,
    /// Server CPU per status report, µs.
    pub cpu_us_per_frame: f64,
    /// AGVs at 10 Hz one server core would carry at that cost.
    pub agvs_per_core: f64,
    /// Server RSS before the fleet connected, KiB.
    pub rss_idle_kib: u64,
    /// Server RSS at the end of the window, KiB.
    pub rss_kib: u64,
    /// (RSS − idle RSS) / online AGVs, KiB.
    pub rss_per_agv_kib: f64,
    /// Commands answered in the window.
    pub commands: usize,
    /// Command round trip p50, ms.
    pub command_p50_ms: f64,
    /// p99, ms.
    pub command_p99_ms: f64,
    /// Longest, ms.
    pub command_max_ms: f64,
    /// Commands that failed (no answer in time, an error status).
    pub command_errors: usize,
    /// Errors the server counted in the window.
    pub server_errors: u64,
    /// Secure modes: µs to open one status frame of the profile in a tight loop on the
    /// server's CPUs, measured in the same run ([`bound`](super::bound)); 0 in normal mode.
    /// Its ratio to `cpu_us_per_frame` is the share of the crypto bound the server reaches.
    /// The frames of one AGV: one key, its verifier's table hot in the caches.
    pub open_us: f64,
    /// The same bound under the run's conditions: the frames of `agvs` AGVs in turn, each with
    /// its own keys (their verifiers' tables competing for the caches, as in the server),
    /// opened on the server's CPUs right after the window while the fleet keeps running beside
    /// them (the server paused meanwhile), so the fleet's own cryptography on the other CPUs
    /// weighs on it as it weighed on the server; 0 in normal mode and in rows of CSVs written
    /// before it was measured.
    pub open_fleet_us: f64,
    /// `ok`; `fleet-bound` (the fleet could not send its full rate while the server had CPU
    /// to spare: the per-frame figures stand); `saturated` (the server's cores were busy, at
    /// least 90 %: this size is its limit); `not-online` (not every AGV came online in time).
    pub verdict: String,
    /// How the fleet reached the server ([`Network`](super::Network)); `loopback` in rows of
    /// CSVs written before it was recorded.
    pub network: String,
    /// Busy seconds per second of window of the CPUs the server was pinned to, whatever they
    /// were busy with: the server, and the kernel's work for its frames in interrupts (over
    /// veth its receive path); 0 when the server was not pinned or in older rows.
    pub server_cpus_load: f64,
    /// The same for the fleet's CPUs.
    pub fleet_cpus_load: f64,
    /// The server's CPUs' busy time per status report, µs: everything the server's machine
    /// did for a frame on them.
    pub cpu_all_us_per_frame: f64,
    /// The AGVs' share of the command round trip: the p99 of the server's
    /// `rcs_command_answer_seconds` in the window (from a command going into the AGV's session
    /// to its answer read), as the upper bound of its histogram bucket, ms; 0 when no command
    /// was answered or in older rows.
    pub agv_answer_p99_ms: f64,
    /// The database's share of a command: the p99 of the server's `rcs_command_audit_seconds`
    /// in the window (its audit row, committed before the command is sent), as the upper bound
    /// of its histogram bucket, ms; 0 when no command was sent or in older rows.
    pub command_audit_p99_ms: f64,
    /// The server's write-behind writer: its mean pass in the window
    /// (`rcs_telemetry_batch_seconds`), ms; 0 when it made none or in older rows.
    pub telemetry_batch_ms: f64,
    /// Commands answered by the probe AGVs (a simulator process of their own beside the
    /// fleet); 0 without probes or in older rows. `commands` counts the fleet's.
    pub probe_commands: usize,
    /// The probe AGVs' command round trip p50, ms: the server's round trip with AGVs that
    /// answer at once (0 without probes or in older rows).
    pub probe_command_p50_ms: f64,
    /// Their p99, ms.
    pub probe_command_p99_ms: f64,
    /// The server's runtime lag: the p99 of `rcs_runtime_lag_seconds` in the window (how late
    /// its runtime ran a timer: the backlog everything on it waits behind), as the upper bound
    /// of its histogram bucket, ms; 0 in older rows.
    pub runtime_lag_p99_ms: f64,
    /// The HTTP API's runtime lag, likewise (`rcs_api_runtime_lag_seconds`: the backlog an
    /// operator's request waits behind), ms; 0 in older rows.
    pub api_runtime_lag_p99_ms: f64,
}

/// The CSV header, the fields of [`Row`] in order.
pub const CSV_HEADER: &str = "mode,server_cores,agvs,online,status_per_sec,expected_per_sec,server_load,fleet_load,cpu_us_per_frame,agvs_per_core,rss_idle_kib,rss_kib,rss_per_agv_kib,commands,command_p50_ms,command_p99_ms,command_max_ms,command_errors,server_errors,open_us,open_fleet_us,verdict,network,server_cpus_load,fleet_cpus_load,cpu_all_us_per_frame,agv_answer_p99_ms,command_audit_p99_ms,telemetry_batch_ms,probe_commands,probe_command_p50_ms,probe_command_p99_ms,runtime_lag_p99_ms,api_runtime_lag_p99_ms";

impl Row {
    /// The row as a CSV line (no newline).
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{:.0},{:.0},{:.3},{:.3},{:.2},{:.0},{},{},{:.2},{},{:.2},{:.2},{:.2},{},{},{:.2},{:.2},{},{},{:.3},{:.3},{:.2},{:.1},{:.1},{:.2},{},{:.2},{:.2},{:.1},{:.1}",
            self.mode,
            self.server_cores,
            self.agvs,
            self.online,
            self.status_per_sec,
            self.expected_per_sec,
            self.server_load,
            self.fleet_load,
            self.cpu_us_per_frame,
            self.agvs_per_core,
            self.rss_idle_kib,
            self.rss_kib,
            self.rss_per_agv_kib,
            self.commands,
            self.command_p50_ms,
            self.command_p99_ms,
            self.command_max_ms,
            self.command_errors,
            self.server_errors,
            self.open_us,
            self.open_fleet_us,
            self.verdict,
            self.network,
            self.server_cpus_load,
            self.fleet_cpus_load,
            self.cpu_all_us_per_frame,
            self.agv_answer_p99_ms,
            self.command_audit_p99_ms,
            self.telemetry_batch_ms,
            self.probe_commands,
            self.probe_command_p50_ms,
            self.probe_command_p99_ms,
            self.runtime_lag_p99_ms,
            self.api_runtime_lag_p99_ms,
        )
    }

    /// Parses a line written by [`Row::csv`] (or by the versions before the API's lag, before
    /// the runtime's lag, before the probes, before `command_audit_p99_ms`,
    /// before `agv_answer_p99_ms`, before `network` and before `open_fleet_us`).
    pub fn parse(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.trim().split(',').collect();
        let (fleet_bound, cpus) = match f.len() {
            26 | 27 | 29 | 32 | 33 | 34 => (true, true),
            22 => (true, false),
            21 => (false, false),
            _ => return None,
        };
        let n = |i: usize| f[i].parse::<f64>().ok();
        let u = |i: usize| f[i].parse::<u64>().ok();
        Some(Row {
            mode: f[0].to_owned(),
            server_cores: u(1)? as usize,
            agvs: u(2)? as usize,
            online: u(3)? as usize,
            status_per_sec: n(4)?,
            expected_per_sec: n(5)?,
            server_load: n(6)?,
            fleet_load: n(7)?,
            cpu_us_per_frame: n(8)?,
            agvs_per_core: n(9)?,
            rss_idle_kib: u(10)?,
            rss_kib: u(11)?,
            rss_per_agv_kib: n(12)?,
            commands: u(13)? as usize,
            command_p50_ms: n(14)?,
            command_p99_ms: n(15)?,
            command_max_ms: n(16)?,
            command_errors: u(17)? as usize,
            server_errors: u(18)?,
            open_us: n(19)?,
            open_fleet_us: if fleet_bound { n(20)? } else { 0.0 },
            verdict: f[if fleet_bound { 21 } else { 20 }].to_owned(),
            network: if cpus { f[22] } else { "loopback" }.to_owned(),
            server_cpus_load: if cpus { n(23)? } else { 0.0 },
            fleet_cpus_load: if cpus { n(24)? } else { 0.0 },
            cpu_all_us_per_frame: if cpus { n(25)? } else { 0.0 },
            agv_answer_p99_ms: if f.len() > 26 { n(26)? } else { 0.0 },
            command_audit_p99_ms: if f.len() > 27 { n(27)? } else { 0.0 },
            telemetry_batch_ms: if f.len() > 28 { n(28)? } else { 0.0 },
            probe_commands: if f.len() > 29 { u(29)? as usize } else { 0 },
            probe_command_p50_ms: if f.len() > 30 { n(30)? } else { 0.0 },
            probe_command_p99_ms: if f.len() > 31 { n(31)? } else { 0.0 },
            runtime_lag_p99_ms: if f.len() > 32 { n(32)? } else { 0.0 },
            api_runtime_lag_p99_ms: if f.len() > 33 { n(33)? } else { 0.0 },
        })
    }
}

/// Reads the rows of a `capacity.csv`.
pub fn read_csv(path: &Path) -> Result<Vec<Row>, CapacityError> {
    let text = fs::read_to_string(path).map_err(|e| CapacityError::io(path.display(), e))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        rows.push(Row::parse(line).ok_or_else(|| CapacityError::Csv {
            path: path.to_owned(),
            line: i + 1,
        })?);
    }
    Ok(rows)
}

/// The rows as a Markdown table (docs/performance.md).
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| mode | network | server cores | AGVs | status/s (of) | server cores busy | fleet cores busy | µs per status frame | the server's CPUs: busy, µs per frame with the kernel's share | AGVs per core at 10 Hz | of the crypto bound: one AGV's frames / the fleet's | KiB per AGV | command p50 / p99 / max ms | probe command p50 / p99 ms | runtime lag p99 ms: AGVs' / API's | errors | verdict |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} ({:.0}) | {:.2} | {:.2} | {:.2} | {} | {:.0} | {} | {:.1} | {:.1} / {:.1} / {:.1} | {} | {:.0} / {:.0} | {} + {} | {} |",
            r.mode,
            r.network,
            r.server_cores,
            r.agvs,
            r.status_per_sec,
            r.expected_per_sec,
            r.server_load,
            r.fleet_load,
            r.cpu_us_per_frame,
            if r.server_cpus_load > 0.0 {
                format!("{:.2}, {:.2}", r.server_cpus_load, r.cpu_all_us_per_frame)
            } else {
                "—".to_owned()
            },
            r.agvs_per_core,
            if r.open_us > 0.0 && r.cpu_us_per_frame > 0.0 {
                let fleet = if r.open_fleet_us > 0.0 {
                    format!(
                        " / {:.2} ({:.1} µs)",
                        r.open_fleet_us / r.cpu_us_per_frame,
                        r.open_fleet_us
                    )
                } else {
                    String::new()
                };
                format!(
                    "{:.2} ({:.1} µs){fleet}",
                    r.open_us / r.cpu_us_per_frame,
                    r.open_us
                )
            } else {
                "—".to_owned()
            },
            r.rss_per_agv_kib,
            r.command_p50_ms,
            r.command_p99_ms,
            r.command_max_ms,
            if r.probe_commands > 0 {
                format!(
                    "{:.1} / {:.1}",
                    r.probe_command_p50_ms, r.probe_command_p99_ms
                )
            } else {
                "—".to_owned()
            },
            r.runtime_lag_p99_ms,
            r.api_runtime_lag_p99_ms,
            r.server_errors,
            r.command_errors,
            r.verdict
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_survives_its_csv_line() {
        let row = Row {
            mode: "fast".into(),
            server_cores: 1,
            agvs: 3000,
            online: 3000,
            status_per_sec: 29_950.0,
            expected_per_sec: 30_000.0,
            server_load: 0.412,
            fleet_load: 0.8,
            cpu_us_per_frame: 13.75,
            agvs_per_core: 7273.0,
            rss_idle_kib: 40_000,
            rss_kib: 100_000,
            rss_per_agv_kib: 20.0,
            commands: 400,
            command_p50_ms: 1.25,
            command_p99_ms: 6.5,
            command_max_ms: 12.0,
            command_errors: 0,
            server_errors: 2,
            open_us: 3.25,
            open_fleet_us: 4.5,
            verdict: "ok".into(),
            network: "veth".into(),
            server_cpus_load: 0.5,
            fleet_cpus_load: 0.75,
            cpu_all_us_per_frame: 16.25,
            agv_answer_p99_ms: 25.0,
            command_audit_p99_ms: 4.0,
            telemetry_batch_ms: 131.25,
            probe_commands: 300,
            probe_command_p50_ms: 0.75,
            probe_command_p99_ms: 3.5,
            runtime_lag_p99_ms: 5.0,
            api_runtime_lag_p99_ms: 2.0,
        };
        assert_eq!(CSV_HEADER.split(',').count(), 34);
        assert_eq!(Row::parse(&row.csv()), Some(row.clone()));
        // a line of the version before the fleet's bound
        let old = "fast,1,3000,3000,29950,30000,0.412,0.300,13.75,7273,50000,100000,20.00,400,1.25,6.50,12.00,0,2,3.25,ok";
        let parsed = Row::parse(old).expect("an older line");
        assert_eq!((parsed.open_us, parsed.open_fleet_us), (3.25, 0.0));
        assert_eq!(parsed.verdict, "ok");
        assert_eq!(parsed.network, "loopback");
        // a line of the version before the network and the CPUs' own time
        let before = "fast,1,3000,3000,29950,30000,0.412,0.300,13.75,7273,50000,100000,20.00,400,1.25,6.50,12.00,0,2,3.25,4.50,saturated";
        let parsed = Row::parse(before).expect("a line before the network");
        assert_eq!(
            (parsed.open_fleet_us, parsed.verdict.as_str()),
            (4.5, "saturated")
        );
        assert_eq!(
            (parsed.network.as_str(), parsed.cpu_all_us_per_frame),
            ("loopback", 0.0)
        );
        let line = row.csv();
        let field = |n: usize| {
            // the line without its last n fields
            line.rsplitn(n + 1, ',').nth(n).expect("fields")
        };
        // a line of the version before the API's lag
        let api_zero = Row {
            api_runtime_lag_p99_ms: 0.0,
            ..row.clone()
        };
        assert_eq!(Row::parse(field(1)), Some(api_zero.clone()));
        // a line of the version before the runtime's lag
        assert_eq!(
            Row::parse(field(2)),
            Some(Row {
                runtime_lag_p99_ms: 0.0,
                ..api_zero
            })
        );
        // a line of the version before the probes
        let probes_zero = Row {
            probe_commands: 0,
            probe_command_p50_ms: 0.0,
            probe_command_p99_ms: 0.0,
            runtime_lag_p99_ms: 0.0,
            api_runtime_lag_p99_ms: 0.0,
            ..row.clone()
        };
        assert_eq!(Row::parse(field(5)), Some(probes_zero.clone()));
        // a line of the version before the audit's share and the writer's pass
        assert_eq!(
            Row::parse(field(7)),
            Some(Row {
                command_audit_p99_ms: 0.0,
                telemetry_batch_ms: 0.0,
                ..probes_zero
            })
        );
        // 28, 30 and 31 fields were never written
        for n in [3, 4, 6] {
            assert_eq!(Row::parse(field(n)), None, "{n}");
        }
        assert_eq!(Row::parse("fast,1,2"), None);
    }
}
