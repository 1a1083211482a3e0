//! The memory each further AGV adds: the slope of the server's RSS between consecutive fleet
//! sizes of a mode in one run. Unlike the rows' KiB per AGV (the RSS over the idle server's,
//! over the AGVs), no idle figure enters it, so it carries neither what the server's fixed parts
//! grow by under load nor the freed pages an idle server has not yet given back
//! (docs/performance.md, "The guide profile under 40 KiB per AGV").

use std::fmt::Write;

use super::Row;

/// The slope between two sizes of one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Slope {
    /// Mode.
    pub mode: String,
    /// Server cores.
    pub server_cores: usize,
    /// The smaller fleet.
    pub from_agvs: usize,
    /// The larger fleet.
    pub to_agvs: usize,
    /// KiB of RSS per AGV added between them.
    pub kib_per_agv: f64,
}

/// The slopes between consecutive sizes of each mode (and core count), in the rows' order;
/// rows whose fleet did not all come online are skipped. The rows must come from one run: the
/// site, generated for the run's largest fleet, sets much of the RSS.
pub fn slopes(rows: &[Row]) -> Vec<Slope> {
    let mut out = Vec::new();
    for (i, b) in rows.iter().enumerate() {
        if b.online < b.agvs || b.rss_kib == 0 {
            continue;
        }
        let previous = rows[..i].iter().rev().find(|a| {
            a.mode == b.mode
                && a.server_cores == b.server_cores
                && a.agvs < b.agvs
                && a.online >= a.agvs
                && a.rss_kib > 0
        });
        if let Some(a) = previous {
            out.push(Slope {
                mode: b.mode.clone(),
                server_cores: b.server_cores,
                from_agvs: a.agvs,
                to_agvs: b.agvs,
                kib_per_agv: (b.rss_kib as f64 - a.rss_kib as f64) / (b.agvs - a.agvs) as f64,
            });
        }
    }
    out
}

/// The slopes as lines of text, after the table.
pub fn text(rows: &[Row]) -> String {
    let mut s = String::new();
    for sl in slopes(rows) {
        let _ = writeln!(
            s,
            "{} on {} core(s): {} -> {} AGVs, {:.1} KiB of RSS per further AGV",
            sl.mode, sl.server_cores, sl.from_agvs, sl.to_agvs, sl.kib_per_agv
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: &str, agvs: usize, online: usize, rss_kib: u64) -> Row {
        Row {
            mode: mode.into(),
            server_cores: 1,
            agvs,
            online,
            rss_kib,
            ..Row::default()
        }
    }

    #[test]
    fn slopes_join_consecutive_sizes_of_a_mode_and_skip_fleets_not_online() {
        let rows = [
            row("normal", 1000, 1000, 82_944),
            row("guide", 300, 300, 127_860),
            row("normal", 5000, 5000, 127_044),
            row("guide", 600, 600, 138_312),
            row("guide", 1000, 1000, 151_160),
            row("fast", 10000, 7027, 200_000),
        ];
        let s = slopes(&rows);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].mode.as_str(), s[0].from_agvs, s[0].to_agvs),
            ("normal", 1000, 5000)
        );
        assert!((s[0].kib_per_agv - 11.025).abs() < 1e-9);
        assert_eq!((s[1].from_agvs, s[1].to_agvs), (300, 600));
        assert!((s[1].kib_per_agv - 34.84).abs() < 1e-9);
        assert_eq!((s[2].from_agvs, s[2].to_agvs), (600, 1000));
        assert!((s[2].kib_per_agv - 32.12).abs() < 1e-9);
        assert!(text(&rows).contains("guide on 1 core(s): 600 -> 1000 AGVs, 32.1 KiB"));
        // a fleet that did not come online gives no slope, and is not a start for the next
        assert!(slopes(&[row("fast", 1000, 900, 1), row("fast", 3000, 3000, 2)]).is_empty());
    }
}
