//! The telemetry writer's database work at 10,000 AGVs, on SQLite (a file, WAL, as the server
//! runs it) and on PostgreSQL (127.0.0.1:5432, a schema of its own; skipped, and said so, when
//! none answers), each beside its baseline in the same run:
//!
//! - **batch**: one batch of 10,000 AGVs (what the writer writes every second whatever the
//!   report rate: 10 Hz reports come to one snapshot an AGV a batch): the last snapshots
//!   replaced and a history row each (every AGV moving: the worst case), the last snapshots
//!   only (every AGV standing), against the baseline: a history row each in one transaction
//!   (the writer before `telemetry_latest`).
//! - **prune**: the statement a batch prunes with in steady state (one batch interval of
//!   history, 10,000 rows) against the baseline's, once a minute (60 intervals, 600,000 rows):
//!   the time the one SQLite connection is held.
//! - **restore**: a restart's read of the last snapshots from `telemetry_latest` against the
//!   baseline's, grouping the history by AGV, with `RCS_BENCH_HISTORY_S` seconds of history
//!   stored (default 600: 6,000,000 rows).
//!
//! `cargo bench -p rcs-server --bench telemetry`; figures in docs/performance.md "Telemetry".

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rcs_server::db::{Db, TelemetryRow};

const AGVS: u32 = 10_000;

fn batch(at_ms: u64) -> Vec<TelemetryRow> {
    (1..=AGVS)
        .map(|agv_id| TelemetryRow {
            agv_id,
            at_ms,
            map_id: 1 + (agv_id % 3) as u16,
            x: f64::from(agv_id % 100) + at_ms as f64 / 1e6,
            y: f64::from(agv_id / 100),
            theta: 0.5,
            state: 2,
            battery_pct: 80.0,
            navigation_mode: 1,
            charging: false,
            task_id: agv_id,
        })
        .collect()
}

/// The history, `seconds` batches of every AGV from 1 s on, written the way the server does.
async fn fill(db: &Db, from_s: u64, seconds: u64) {
    for s in from_s..from_s + seconds {
        db.write_telemetry(&[], &batch(s * 1_000))
            .await
            .expect("fill");
    }
}

struct Target {
    name: &'static str,
    url: String,
    schema: Option<String>,
}

fn targets(dir: &std::path::Path) -> Vec<Target> {
    let mut t = vec![Target {
        name: "sqlite",
        url: format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display()),
        schema: None,
    }];
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok()
    {
        t.push(Target {
            name: "postgres",
            url: "postgres://postgres@127.0.0.1:5432/test".into(),
            schema: Some(format!("bench_telemetry_{}", std::process::id())),
        });
    } else {
        eprintln!("telemetry bench: PostgreSQL skipped (nothing answers at 127.0.0.1:5432)");
    }
    t
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let history_s: u64 = std::env::var("RCS_BENCH_HISTORY_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    for target in targets(dir.path()) {
        let (db, raw) = rt.block_on(async {
            let db = Db::open_in(&target.url, target.schema.as_deref())
                .await
                .expect("open");
            db.migrate().await.expect("migrate");
            let raw = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&target.url)
                .await
                .expect("open");
            (db, raw)
        });
        let table = match &target.schema {
            Some(schema) => format!("{schema}.telemetry"),
            None => "telemetry".into(),
        };
        // the restore before `telemetry_latest`
        let grouped = format!(
            "SELECT t.agv_id, t.at_ms, t.map_id, t.x, t.y, t.theta, t.state, t.battery_pct, \
             t.navigation_mode, t.charging, t.task_id FROM {table} t JOIN \
             (SELECT agv_id, MAX(at_ms) AS m FROM {table} GROUP BY agv_id) l \
             ON t.agv_id = l.agv_id AND t.at_ms = l.m ORDER BY t.agv_id"
        );
        let started = Instant::now();
        rt.block_on(fill(&db, 1, history_s));
        eprintln!(
            "telemetry bench ({}): {} s of history for {AGVS} AGVs stored in {:.1} s",
            target.name,
            history_s,
            started.elapsed().as_secs_f64()
        );
        let mut clock = (history_s + 1) * 1_000;
        let mut g = c.benchmark_group(format!("telemetry/{}/batch of {AGVS} AGVs", target.name));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(10));
        for (name, latest, history) in [
            ("moving: last snapshots + history (ours)", true, true),
            ("standing: last snapshots only (ours)", true, false),
            ("history only (baseline)", false, true),
        ] {
            g.bench_function(name, |b| {
                b.iter_custom(|n| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..n {
                        clock += 1_000;
                        let rows = batch(clock);
                        let none: &[TelemetryRow] = &[];
                        let t = Instant::now();
                        rt.block_on(db.write_telemetry(
                            if latest { &rows } else { none },
                            if history { &rows } else { none },
                        ))
                        .expect("batch");
                        spent += t.elapsed();
                    }
                    spent
                })
            });
        }
        g.finish();
        // prune: the oldest second (ours, every batch) against the oldest minute (baseline,
        // every minute); the rows deleted are stored again, untimed, for the next sample
        let mut g = c.benchmark_group(format!("telemetry/{}/prune", target.name));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(10));
        for (name, seconds) in [
            ("one batch interval, 10,000 rows (ours)", 1u64),
            ("one minute, 600,000 rows (baseline)", 60),
        ] {
            g.bench_function(name, |b| {
                b.iter_custom(|n| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..n {
                        let t = Instant::now();
                        let gone = rt
                            .block_on(db.prune_telemetry(
                                ((1 + seconds) * 1_000) as i64,
                                (seconds * 1_000) as i64,
                            ))
                            .expect("prune");
                        spent += t.elapsed();
                        assert_eq!(gone, seconds * u64::from(AGVS));
                        rt.block_on(fill(&db, 1, seconds));
                    }
                    spent
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!(
            "telemetry/{}/restore with {history_s} s of history",
            target.name
        ));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(20));
        g.bench_function("last snapshots table (ours)", |b| {
            b.iter(|| {
                let rows = rt.block_on(db.latest_telemetry()).expect("restore");
                assert_eq!(rows.len(), AGVS as usize);
            })
        });
        g.bench_function("history grouped by AGV (baseline)", |b| {
            b.iter(|| {
                let rows = rt
                    .block_on(sqlx::query(&grouped).fetch_all(&raw))
                    .expect("restore");
                assert_eq!(rows.len(), AGVS as usize);
            })
        });
        g.finish();
        rt.block_on(db.close());
        if let Some(schema) = &target.schema {
            rt.block_on(sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&raw))
                .expect("drop schema");
        }
        rt.block_on(raw.close());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
